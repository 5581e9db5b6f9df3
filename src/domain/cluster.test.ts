import { describe, expect, it } from 'vitest';
import {
  acceptedState,
  actionProgressKey,
  canAccept,
  CLUSTER_NAME_RE,
  failedState,
  passwordProblem,
  runningTaskStatus,
  succeededState,
  USER_NAME_RE,
  type ClusterState,
  type ClusterStatus,
} from './cluster.js';
import { TaskKind, type TaskKind as TaskKindT } from './task.js';

const ALL_KINDS = Object.values(TaskKind) as TaskKindT[];
const ALL_STATUSES: ClusterStatus[] = ['CREATING', 'AVAILABLE', 'UNAVAILABLE', 'CREATION FAILED', 'DELETING', 'DELETE_FAILED'];

const idle: ClusterState = { status: 'AVAILABLE', stickyTaskStatus: null, stopped: false };
/** An available cluster still carrying a failure value from an earlier operation. */
const stale: ClusterState = { status: 'AVAILABLE', stickyTaskStatus: 'REBOOT_FAILURE', stopped: false };

/**
 * The D8 table, written out independently of src/domain/cluster.ts: for each kind, the
 * status while it runs, its task_status / action_progress key, and what success and failure
 * leave behind (starting from an idle AVAILABLE cluster).
 */
const D8: Record<
  Exclude<TaskKindT, 'snapshot.expire' | 'snapshot.copy'>,
  {
    running: ClusterStatus;
    taskStatus: string;
    key: string;
    success: ClusterState | 'gone';
    failure: ClusterState;
  }
> = {
  'cluster.create': {
    running: 'CREATING',
    taskStatus: '',
    key: 'CREATING',
    success: idle,
    failure: { ...idle, status: 'CREATION FAILED' },
  },
  'cluster.restore': {
    running: 'CREATING',
    taskStatus: 'RESTORING',
    key: 'RESTORING',
    success: idle,
    failure: { ...idle, status: 'CREATION FAILED' },
  },
  'cluster.restore_in_place': {
    running: 'UNAVAILABLE',
    taskStatus: 'RESTORING',
    key: 'RESTORING',
    success: idle,
    failure: { ...idle, stickyTaskStatus: 'RESTORING_FAILED' },
  },
  'snapshot.create': { running: 'AVAILABLE', taskStatus: 'SNAPSHOTTING', key: 'SNAPSHOTTING', success: idle, failure: idle },
  'snapshot.table_restore': {
    running: 'AVAILABLE',
    taskStatus: 'FINE_GRAINED_RESTORING',
    key: 'FINE_GRAINED_RESTORING',
    success: idle,
    failure: idle,
  },
  'cluster.scale_out': {
    running: 'AVAILABLE',
    taskStatus: 'GROWING',
    key: 'GROWING',
    success: idle,
    failure: { ...idle, stickyTaskStatus: 'RESIZE_FAILURE' },
  },
  'cluster.scale_in': {
    running: 'AVAILABLE',
    taskStatus: 'CLUSTER_SHRINKING',
    key: 'CLUSTER_SHRINKING',
    success: idle,
    failure: { ...idle, stickyTaskStatus: 'CLUSTER_SHRINK_FAILED' },
  },
  'cluster.restart': {
    running: 'AVAILABLE',
    taskStatus: 'REBOOTING',
    key: 'REBOOTING',
    success: idle,
    failure: { ...idle, stickyTaskStatus: 'REBOOT_FAILURE' },
  },
  'cluster.stop': {
    running: 'AVAILABLE',
    taskStatus: 'STOPPING',
    key: 'STOPPING',
    success: { status: 'UNAVAILABLE', stickyTaskStatus: null, stopped: true },
    failure: idle,
  },
  'cluster.start': { running: 'AVAILABLE', taskStatus: 'STARTING', key: 'STARTING', success: idle, failure: idle },
  'cluster.switchover': {
    running: 'AVAILABLE',
    taskStatus: 'ACTIVE_STANDY_SWITCHOVER',
    key: 'ACTIVE_STANDY_SWITCHOVER',
    success: idle,
    failure: { ...idle, stickyTaskStatus: 'ACTIVE_STANDY_SWITCHOVER_FAILURE' },
  },
  'cluster.repair': { running: 'AVAILABLE', taskStatus: 'REPAIRING', key: 'REPAIRING', success: idle, failure: idle },
  'dr.start': { running: 'AVAILABLE', taskStatus: 'DR_STARTING', key: 'DR_STARTING', success: idle, failure: idle },
  'dr.pause': { running: 'AVAILABLE', taskStatus: 'DR_PAUSING', key: 'DR_PAUSING', success: idle, failure: idle },
  'dr.delete': { running: 'AVAILABLE', taskStatus: 'DR_DELETING', key: 'DR_DELETING', success: idle, failure: idle },
  'dr.switchover': { running: 'AVAILABLE', taskStatus: 'DR_SWITCHOVER', key: 'DR_SWITCHOVER', success: idle, failure: idle },
  'dr.failover': { running: 'AVAILABLE', taskStatus: 'DR_FAILOVER', key: 'DR_FAILOVER', success: idle, failure: idle },
  'dr.recover': { running: 'AVAILABLE', taskStatus: 'DR_RECOVERING', key: 'DR_RECOVERING', success: idle, failure: idle },
  'cluster.configure': {
    running: 'AVAILABLE',
    taskStatus: 'SETTING_CONFIGURATION',
    key: 'SETTING_CONFIGURATION',
    success: idle,
    failure: idle,
  },
  'cluster.delete': {
    running: 'DELETING',
    taskStatus: '',
    key: 'DELETING',
    success: 'gone',
    failure: { ...idle, status: 'DELETE_FAILED' },
  },
};

describe('D8 transitions', () => {
  it('the table above covers every task kind but the repository task', () => {
    expect(new Set([...Object.keys(D8), 'snapshot.expire', 'snapshot.copy'])).toEqual(new Set(ALL_KINDS));
  });

  for (const [kind, row] of Object.entries(D8) as [keyof typeof D8, (typeof D8)[keyof typeof D8]][]) {
    describe(kind, () => {
      it(`accepted: status ${row.running}, task_status "${row.taskStatus}", action_progress key ${row.key}`, () => {
        expect(acceptedState(kind, idle)).toEqual({ ...idle, status: row.running });
        expect(runningTaskStatus(kind)).toBe(row.taskStatus);
        expect(actionProgressKey(kind)).toBe(row.key);
      });

      it('accepting clears a stale failure value (it stays only until the next accepted operation)', () => {
        expect(acceptedState(kind, stale).stickyTaskStatus).toBeNull();
      });

      it('success', () => {
        const running = acceptedState(kind, idle);
        expect(succeededState(kind, running)).toEqual(row.success);
      });

      it('failure', () => {
        const running = acceptedState(kind, idle);
        expect(failedState(kind, running)).toEqual(row.failure);
      });

      it('the transition functions do not mutate their input', () => {
        const s: ClusterState = { ...stale };
        acceptedState(kind, s);
        succeededState(kind, s);
        failedState(kind, s);
        expect(s).toEqual(stale);
      });
    });
  }

  it('restart and start of a stopped cluster leave it running; stop leaves it stopped', () => {
    const stopped: ClusterState = { status: 'UNAVAILABLE', stickyTaskStatus: null, stopped: true };
    expect(succeededState('cluster.restart', acceptedState('cluster.restart', stopped))).toEqual({
      status: 'AVAILABLE',
      stickyTaskStatus: null,
      stopped: false,
    });
    expect(succeededState('cluster.start', acceptedState('cluster.start', stopped))).toEqual({
      status: 'AVAILABLE',
      stickyTaskStatus: null,
      stopped: false,
    });
    // a failed start changes nothing: the cluster is still stopped
    expect(failedState('cluster.start', stopped)).toEqual(stopped);
  });

  it.each(['snapshot.expire', 'snapshot.copy'] as const)('a task of no cluster (%s) never changes the cluster', (kind) => {
    expect(acceptedState(kind, stale)).toEqual(stale);
    expect(succeededState(kind, stale)).toEqual(stale);
    expect(failedState(kind, stale)).toEqual(stale);
    expect(runningTaskStatus(kind)).toBe('');
  });
});

describe('canAccept', () => {
  /** Which statuses each kind may start from (not stopped). */
  const ALLOWED: Record<TaskKindT, ClusterStatus[]> = {
    'cluster.create': ALL_STATUSES,
    'cluster.restore': ALL_STATUSES,
    'cluster.restore_in_place': ['AVAILABLE'],
    'cluster.delete': ['CREATING', 'AVAILABLE', 'UNAVAILABLE', 'CREATION FAILED', 'DELETE_FAILED'],
    'cluster.restart': ['AVAILABLE', 'UNAVAILABLE'],
    'cluster.start': ['AVAILABLE', 'UNAVAILABLE'],
    'cluster.stop': ['AVAILABLE', 'UNAVAILABLE'],
    'cluster.scale_out': ['AVAILABLE'],
    'cluster.scale_in': ['AVAILABLE'],
    'cluster.switchover': ['AVAILABLE'],
    'cluster.repair': ['AVAILABLE'],
    'cluster.configure': ['AVAILABLE'],
    'snapshot.create': ['AVAILABLE'],
    'snapshot.table_restore': ['AVAILABLE'],
    'snapshot.expire': ['AVAILABLE'],
    'snapshot.copy': ['AVAILABLE'],
    'dr.start': ['AVAILABLE'],
    'dr.pause': ['AVAILABLE'],
    'dr.delete': ['AVAILABLE', 'UNAVAILABLE'],
    'dr.switchover': ['AVAILABLE'],
    'dr.failover': ['AVAILABLE'],
    'dr.recover': ['AVAILABLE', 'UNAVAILABLE'],
  };

  for (const kind of ALL_KINDS) {
    for (const status of ALL_STATUSES) {
      const want = ALLOWED[kind].includes(status);
      it(`${kind} on ${status}: ${want ? 'accepted' : 'refused'}`, () => {
        const r = canAccept(kind, { status, stickyTaskStatus: null, stopped: false });
        expect(r.ok).toBe(want);
        if (!r.ok) expect(r.why).toMatch(/status|deleted/);
      });
    }
  }

  it('a stopped cluster accepts start, restart, stop and delete, and refuses data operations with "start it first"', () => {
    const stopped: ClusterState = { status: 'AVAILABLE', stickyTaskStatus: null, stopped: true };
    for (const k of ['cluster.start', 'cluster.restart', 'cluster.stop', 'cluster.delete'] as const)
      expect(canAccept(k, stopped).ok).toBe(true);
    for (const k of ['snapshot.create', 'snapshot.table_restore', 'cluster.scale_out', 'cluster.scale_in'] as const) {
      const r = canAccept(k, stopped);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.why).toMatch(/stopped; start it first/);
    }
  });

  it('a sticky failure value does not block the next operation', () => {
    for (const k of ['snapshot.create', 'cluster.scale_out', 'cluster.restart'] as const) {
      expect(canAccept(k, { status: 'AVAILABLE', stickyTaskStatus: 'RESIZE_FAILURE', stopped: false }).ok).toBe(true);
    }
  });
});

describe('passwordProblem (DWS password rules)', () => {
  it('accepts 12 to 32 characters with three character classes', () => {
    expect(passwordProblem('abcdefGHIJ12', 'dbadmin')).toBeNull(); // lower, upper, digit; exactly 12
    expect(passwordProblem('abcdefghij1!', 'dbadmin')).toBeNull(); // lower, digit, special
    expect(passwordProblem('Aa1!' + 'x'.repeat(28), 'dbadmin')).toBeNull(); // exactly 32
    expect(passwordProblem('Dwsbox-Test-Pass1', 'dbadmin')).toBeNull();
  });

  it('refuses passwords shorter than 12 or longer than 32 (DWS.5144)', () => {
    expect(passwordProblem('Abcdefgh12!', 'dbadmin')).toMatchObject({ code: 'INVALID_PASSWORD', why: expect.stringMatching(/12 to 32/) });
    expect(passwordProblem('Aa1!' + 'x'.repeat(29), 'dbadmin')).toMatchObject({
      code: 'INVALID_PASSWORD',
      why: expect.stringMatching(/12 to 32/),
    });
    expect(passwordProblem('', 'dbadmin')?.code).toBe('INVALID_PASSWORD');
  });

  it('refuses fewer than three character classes', () => {
    expect(passwordProblem('abcdefghijkl', 'dbadmin')).toMatchObject({ code: 'INVALID_PASSWORD', why: expect.stringMatching(/three/) });
    expect(passwordProblem('abcdefGHIJKL', 'dbadmin')).toMatchObject({ code: 'INVALID_PASSWORD', why: expect.stringMatching(/three/) });
    expect(passwordProblem('123456789!!!', 'dbadmin')).toMatchObject({ code: 'INVALID_PASSWORD', why: expect.stringMatching(/three/) });
  });

  it('refuses characters outside letters, digits and the listed specials', () => {
    expect(passwordProblem('Abcdefgh 123', 'dbadmin')).toMatchObject({ code: 'INVALID_PASSWORD', why: expect.stringMatching(/only/) });
    expect(passwordProblem('Abcdefgh123é', 'dbadmin')).toMatchObject({ code: 'INVALID_PASSWORD', why: expect.stringMatching(/only/) });
    expect(passwordProblem('Abcdefgh123$', 'dbadmin')).toMatchObject({ code: 'INVALID_PASSWORD', why: expect.stringMatching(/only/) });
  });

  it('refuses the user name and the user name reversed, in any case (DWS.5145)', () => {
    const user = 'db_admin_2024';
    expect(passwordProblem('DB_admin_2024', user)?.code).toBe('PASSWORD_CONTAINS_USER_NAME');
    expect(passwordProblem('4202_NIMDA_bd', user)?.code).toBe('PASSWORD_CONTAINS_USER_NAME');
    // containing the name is allowed: the rule is equality with the name or its reverse
    expect(passwordProblem('DB_admin_2024!', user)).toBeNull();
  });
});

describe('name patterns', () => {
  it('cluster names: 4 to 64, a letter first, then letters, digits, - and _', () => {
    for (const ok of ['abcd', 'A1-_', 'x'.repeat(64), 'dws-Cluster_01']) expect(CLUSTER_NAME_RE.test(ok)).toBe(true);
    for (const bad of ['abc', '1abc', '_abc', 'x'.repeat(65), 'ab cd', 'abc.d', 'abcé']) expect(CLUSTER_NAME_RE.test(bad)).toBe(false);
  });
  it('admin user names: a lower-case letter or _ first, then lower-case letters, digits, _; at most 63', () => {
    for (const ok of ['dbadmin', '_x', 'a', 'a'.repeat(63), 'user_01']) expect(USER_NAME_RE.test(ok)).toBe(true);
    for (const bad of ['', 'DbAdmin', '1user', 'a'.repeat(64), 'db-admin', 'db admin']) expect(USER_NAME_RE.test(bad)).toBe(false);
  });
});
