import { describe, expect, it } from 'vitest';
import { acceptedState, clusterOutcome, type ClusterState } from './cluster.js';
import { TaskKind, type TaskKind as TaskKindT } from './task.js';

const idle: ClusterState = { status: 'AVAILABLE', stickyTaskStatus: null, stopped: false };
const ALL_KINDS = Object.values(TaskKind) as TaskKindT[];

/**
 * What the runner writes on a task's cluster when the task ends (D8, docs/states.md), written
 * out independently of src/domain/cluster.ts, from an idle AVAILABLE cluster that accepted the
 * task. `sub` is the sub_status a success sets (null: left as it is).
 */
const OUTCOMES: Record<
  TaskKindT,
  { success: 'unchanged' | 'gone' | { state: ClusterState; sub: 'NORMAL' | null }; failure: 'unchanged' | ClusterState }
> = {
  'cluster.create': { success: { state: idle, sub: 'NORMAL' }, failure: { ...idle, status: 'CREATION FAILED' } },
  'cluster.restore': { success: { state: idle, sub: 'NORMAL' }, failure: { ...idle, status: 'CREATION FAILED' } },
  'cluster.restore_in_place': { success: { state: idle, sub: 'NORMAL' }, failure: { ...idle, stickyTaskStatus: 'RESTORING_FAILED' } },
  'snapshot.create': { success: 'unchanged', failure: 'unchanged' },
  'snapshot.table_restore': { success: 'unchanged', failure: 'unchanged' },
  'snapshot.expire': { success: 'unchanged', failure: 'unchanged' },
  'snapshot.copy': { success: 'unchanged', failure: 'unchanged' },
  'dr.start': { success: { state: idle, sub: null }, failure: idle },
  'dr.pause': { success: 'unchanged', failure: 'unchanged' },
  'dr.delete': { success: { state: idle, sub: null }, failure: idle },
  'dr.switchover': { success: { state: idle, sub: null }, failure: idle },
  'dr.failover': { success: { state: idle, sub: null }, failure: idle },
  'dr.recover': { success: { state: idle, sub: null }, failure: idle },
  'cluster.scale_out': { success: { state: idle, sub: 'NORMAL' }, failure: { ...idle, stickyTaskStatus: 'RESIZE_FAILURE' } },
  'cluster.scale_in': { success: { state: idle, sub: 'NORMAL' }, failure: { ...idle, stickyTaskStatus: 'CLUSTER_SHRINK_FAILED' } },
  'cluster.restart': { success: { state: idle, sub: 'NORMAL' }, failure: { ...idle, stickyTaskStatus: 'REBOOT_FAILURE' } },
  'cluster.stop': { success: { state: { status: 'UNAVAILABLE', stickyTaskStatus: null, stopped: true }, sub: null }, failure: idle },
  'cluster.start': { success: { state: idle, sub: 'NORMAL' }, failure: idle },
  'cluster.switchover': { success: { state: idle, sub: null }, failure: { ...idle, stickyTaskStatus: 'ACTIVE_STANDY_SWITCHOVER_FAILURE' } },
  'cluster.repair': { success: { state: idle, sub: null }, failure: idle },
  'cluster.configure': { success: { state: idle, sub: null }, failure: idle },
  'cluster.delete': { success: 'gone', failure: { ...idle, status: 'DELETE_FAILED' } },
};

describe("clusterOutcome: the one rule for a finished task's cluster (D8)", () => {
  for (const kind of ALL_KINDS) {
    const row = OUTCOMES[kind];
    it(`${kind}: success and failure`, () => {
      const running = acceptedState(kind, idle);
      const ok = clusterOutcome(kind, true, running);
      if (row.success === 'unchanged' || row.success === 'gone') expect(ok).toEqual({ kind: row.success });
      else expect(ok).toEqual({ kind: 'state', state: row.success.state, subStatus: row.success.sub });
      const failed = clusterOutcome(kind, false, running);
      if (row.failure === 'unchanged') expect(failed).toEqual({ kind: 'unchanged' });
      else expect(failed).toEqual({ kind: 'state', state: row.failure, subStatus: null });
    });
  }

  it('a failure never sets sub_status; a stopped cluster whose start failed stays stopped', () => {
    const stopped: ClusterState = { status: 'UNAVAILABLE', stickyTaskStatus: null, stopped: true };
    expect(clusterOutcome('cluster.start', false, stopped)).toEqual({ kind: 'state', state: stopped, subStatus: null });
    expect(clusterOutcome('cluster.restart', true, stopped)).toEqual({ kind: 'state', state: idle, subStatus: 'NORMAL' });
  });
});
