/**
 * Cluster states (design D8): one table, enforced by one pure function per transition.
 * docs/states.md shows the same table for users.
 */
import type { TaskKind } from './task.js';
import { ACTION_OF_KIND } from './task.js';

export const ClusterStatus = {
  Creating: 'CREATING',
  Available: 'AVAILABLE',
  Unavailable: 'UNAVAILABLE',
  CreationFailed: 'CREATION FAILED',
  Deleting: 'DELETING',
  DeleteFailed: 'DELETE_FAILED',
} as const;
export type ClusterStatus = (typeof ClusterStatus)[keyof typeof ClusterStatus];

/** UNBALANCED (as in DWS): a highly available cluster whose primary is not its preferred member (node 1) after a failover; a switchover puts it back. */
export const SubStatus = {
  Normal: 'NORMAL',
  Degraded: 'DEGRADED',
  Unbalanced: 'UNBALANCED',
  DegradedUnbalanced: 'DEGRADED | UNBALANCED',
  // the read-only protection of the data disk (domain/read-only.ts), joined to the others as DWS does
  ReadOnly: 'READONLY',
  DegradedReadOnly: 'DEGRADED | READONLY',
  UnbalancedReadOnly: 'UNBALANCED | READONLY',
  DegradedUnbalancedReadOnly: 'DEGRADED | UNBALANCED | READONLY',
} as const;
export type SubStatus = (typeof SubStatus)[keyof typeof SubStatus];

/** What the stored cluster row holds of its state. `task_status` while a task runs is derived from the task. */
export interface ClusterState {
  status: ClusterStatus;
  /** A failure value that stays until the next accepted operation (RESIZE_FAILURE, REBOOT_FAILURE, CLUSTER_SHRINK_FAILED), or null. */
  stickyTaskStatus: string | null;
  /** Whether the user stopped the cluster (then neither the monitor nor a restart of the service starts it). */
  stopped: boolean;
}

interface Transition {
  /** status while the task runs (null: unchanged) */
  running: ClusterStatus | null;
  /** `task_status` while it runs ('' for create, as D8 says) */
  runningTaskStatus: string;
  success: Partial<ClusterState> | 'gone';
  failure: Partial<ClusterState>;
  /** `sub_status` a success leaves (every member was just made, started or checked), else unchanged */
  successSubStatus?: SubStatus;
  /** the task's outcome leaves its cluster's record alone (snapshots and table restores: the cluster stays as it was) */
  leavesCluster?: true;
}

/** Kinds of no cluster (a stanza's repository task; a snapshot copy, which reads a backup set, never its cluster). */
const CLUSTERLESS: readonly TaskKind[] = ['snapshot.expire', 'snapshot.copy'];

const TRANSITIONS: Record<Exclude<TaskKind, 'snapshot.expire' | 'snapshot.copy'>, Transition> = {
  'cluster.create': {
    running: 'CREATING',
    runningTaskStatus: '',
    success: { status: 'AVAILABLE' },
    successSubStatus: 'NORMAL',
    failure: { status: 'CREATION FAILED' },
  },
  'cluster.restore': {
    running: 'CREATING',
    runningTaskStatus: 'RESTORING',
    success: { status: 'AVAILABLE' },
    successSubStatus: 'NORMAL',
    failure: { status: 'CREATION FAILED' },
  },
  // A snapshot or a point in time restored into the cluster itself (issue 20): UNAVAILABLE while it runs, as DWS
  // says; a failure is rolled back to the task's safety snapshot, so the cluster is as it was, with the failure value.
  'cluster.restore_in_place': {
    running: 'UNAVAILABLE',
    runningTaskStatus: 'RESTORING',
    success: { status: 'AVAILABLE' },
    successSubStatus: 'NORMAL',
    failure: { status: 'AVAILABLE', stickyTaskStatus: 'RESTORING_FAILED' },
  },
  'snapshot.create': { running: null, runningTaskStatus: 'SNAPSHOTTING', success: {}, failure: {}, leavesCluster: true },
  'snapshot.table_restore': { running: null, runningTaskStatus: 'FINE_GRAINED_RESTORING', success: {}, failure: {}, leavesCluster: true },
  'cluster.scale_out': {
    running: null,
    runningTaskStatus: 'GROWING',
    success: {},
    successSubStatus: 'NORMAL',
    failure: { stickyTaskStatus: 'RESIZE_FAILURE' },
  },
  'cluster.scale_in': {
    running: null,
    runningTaskStatus: 'CLUSTER_SHRINKING',
    success: {},
    successSubStatus: 'NORMAL',
    failure: { stickyTaskStatus: 'CLUSTER_SHRINK_FAILED' },
  },
  'cluster.restart': {
    running: null,
    runningTaskStatus: 'REBOOTING',
    success: { status: 'AVAILABLE', stopped: false },
    successSubStatus: 'NORMAL',
    failure: { stickyTaskStatus: 'REBOOT_FAILURE' },
  },
  'cluster.stop': { running: null, runningTaskStatus: 'STOPPING', success: { status: 'UNAVAILABLE', stopped: true }, failure: {} },
  'cluster.start': {
    running: null,
    runningTaskStatus: 'STARTING',
    success: { status: 'AVAILABLE', stopped: false },
    successSubStatus: 'NORMAL',
    failure: {},
  },
  // A planned switchover (issue 15): its extras set sub_status from where the primary ends (NORMAL on the preferred node, else UNBALANCED).
  'cluster.switchover': {
    running: null,
    runningTaskStatus: 'ACTIVE_STANDY_SWITCHOVER',
    success: { status: 'AVAILABLE' },
    failure: { stickyTaskStatus: 'ACTIVE_STANDY_SWITCHOVER_FAILURE' },
  },
  // A member the failover manager left stopped, rebuilt (issue 15): started by the health monitor, not by a request;
  // its extras set sub_status from where the primary is, as the switchover's do.
  'cluster.repair': { running: null, runningTaskStatus: 'REPAIRING', success: { status: 'AVAILABLE' }, failure: {} },
  // UpdateConfiguration (issue 16): the cluster stays AVAILABLE; a failure leaves no sticky value (the
  // configuration's status and its audit record say it failed, and why), whatever members took the new values keep them.
  'cluster.configure': { running: null, runningTaskStatus: 'SETTING_CONFIGURATION', success: {}, failure: {} },
  'cluster.delete': { running: 'DELETING', runningTaskStatus: '', success: 'gone', failure: { status: 'DELETE_FAILED' } },
  // Disaster recovery (issue 19, D31), on the pairing's following side: the pairing's status says how the operation
  // ended; a start, switch, rebuild or deletion that succeeded leaves that cluster running (AVAILABLE, as a repair
  // does), a pause leaves its record alone. The other side's record is the health monitor's to follow.
  'dr.start': { running: null, runningTaskStatus: 'DR_STARTING', success: { status: 'AVAILABLE' }, failure: {} },
  'dr.pause': { running: null, runningTaskStatus: 'DR_PAUSING', success: {}, failure: {}, leavesCluster: true },
  'dr.delete': { running: null, runningTaskStatus: 'DR_DELETING', success: { status: 'AVAILABLE' }, failure: {} },
  'dr.switchover': { running: null, runningTaskStatus: 'DR_SWITCHOVER', success: { status: 'AVAILABLE' }, failure: {} },
  'dr.failover': { running: null, runningTaskStatus: 'DR_FAILOVER', success: { status: 'AVAILABLE' }, failure: {} },
  'dr.recover': { running: null, runningTaskStatus: 'DR_RECOVERING', success: { status: 'AVAILABLE' }, failure: {} },
};

function transition(kind: TaskKind): Transition | undefined {
  return CLUSTERLESS.includes(kind) ? undefined : TRANSITIONS[kind as Exclude<TaskKind, 'snapshot.expire' | 'snapshot.copy'>];
}

/** The state the moment an operation is accepted: any sticky failure value is cleared. */
export function acceptedState(kind: TaskKind, s: ClusterState): ClusterState {
  const t = transition(kind);
  if (!t) return s;
  return { ...s, status: t.running ?? s.status, stickyTaskStatus: null };
}

/** `task_status` shown while a task of this kind is active. */
export function runningTaskStatus(kind: TaskKind): string {
  return transition(kind)?.runningTaskStatus ?? '';
}

/** `action_progress` key while a task of this kind is active. */
export function actionProgressKey(kind: TaskKind): string {
  return ACTION_OF_KIND[kind];
}

export function succeededState(kind: TaskKind, s: ClusterState): ClusterState | 'gone' {
  const t = transition(kind);
  if (!t) return s;
  return t.success === 'gone' ? 'gone' : { ...s, ...t.success };
}

export function failedState(kind: TaskKind, s: ClusterState): ClusterState {
  const t = transition(kind);
  if (!t) return s;
  return { ...s, ...t.failure };
}

/**
 * What a finished task writes on its cluster's record (D8), applied by the task runner in the
 * transaction that ends the task; a task definition adds only its extras (node membership,
 * addresses, failed_reasons), never these fields.
 * - `unchanged`: the record is left alone (snapshots, table restores, the repository task);
 * - `gone`: the cluster is deleted;
 * - `state`: the new status, sticky failure value and stopped flag, and the `sub_status` a
 *   success sets (null: unchanged).
 */
export type ClusterOutcome = { kind: 'unchanged' } | { kind: 'gone' } | { kind: 'state'; state: ClusterState; subStatus: SubStatus | null };

export function clusterOutcome(kind: TaskKind, succeeded: boolean, s: ClusterState): ClusterOutcome {
  const t = transition(kind);
  if (!t || t.leavesCluster) return { kind: 'unchanged' };
  if (!succeeded) return { kind: 'state', state: failedState(kind, s), subStatus: null };
  const next = succeededState(kind, s);
  return next === 'gone' ? { kind: 'gone' } : { kind: 'state', state: next, subStatus: t.successSubStatus ?? null };
}

/** Operations a cluster in this status accepts. */
export function canAccept(kind: TaskKind, s: ClusterState): { ok: true } | { ok: false; why: string } {
  switch (kind) {
    case 'cluster.delete':
      return s.status === 'DELETING' ? { ok: false, why: 'it is being deleted' } : { ok: true };
    case 'cluster.start':
      return s.status === 'AVAILABLE' || s.status === 'UNAVAILABLE' ? { ok: true } : { ok: false, why: `its status is ${s.status}` };
    case 'cluster.restart':
      return s.status === 'AVAILABLE' || s.status === 'UNAVAILABLE' ? { ok: true } : { ok: false, why: `its status is ${s.status}` };
    case 'cluster.stop':
      return s.status === 'AVAILABLE' || s.status === 'UNAVAILABLE' ? { ok: true } : { ok: false, why: `its status is ${s.status}` };
    case 'cluster.create':
    case 'cluster.restore':
      return { ok: true };
    // RestoreDisaster rebuilds the side that follows whatever its health (an old production back from a loss), and a
    // pairing ends whatever it is (the monitor may still show a just-rebuilt standby UNAVAILABLE).
    case 'dr.recover':
    case 'dr.delete':
      if (s.stopped) return { ok: false, why: 'it is stopped; start it first' };
      return s.status === 'AVAILABLE' || s.status === 'UNAVAILABLE' ? { ok: true } : { ok: false, why: `its status is ${s.status}` };
    default:
      if (s.stopped) return { ok: false, why: 'it is stopped; start it first' };
      return s.status === 'AVAILABLE' ? { ok: true } : { ok: false, why: `its status is ${s.status}` };
  }
}

/** Cluster names: 4–64 chars, a letter first, then letters, digits, `-` and `_`. */
export const CLUSTER_NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{3,63}$/;
/** Admin user: 1–63, a lower-case letter or `_` first, then lower-case letters, digits, `_`. */
export const USER_NAME_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const PASSWORD_SPECIAL = '~!?,.:;-_\'"(){}[]/<>@#%^&*+|\\=';

/** Password rules of the DWS API; returns why it is refused, or null. */
export function passwordProblem(
  pwd: string,
  user: string,
): { code: 'INVALID_PASSWORD' | 'PASSWORD_CONTAINS_USER_NAME'; why: string } | null {
  if (pwd.length < 12 || pwd.length > 32) return { code: 'INVALID_PASSWORD', why: 'it must be 12 to 32 characters long' };
  let classes = 0;
  if (/[a-z]/.test(pwd)) classes++;
  if (/[A-Z]/.test(pwd)) classes++;
  if (/[0-9]/.test(pwd)) classes++;
  if ([...pwd].some((c) => PASSWORD_SPECIAL.includes(c))) classes++;
  if ([...pwd].some((c) => !/[A-Za-z0-9]/.test(c) && !PASSWORD_SPECIAL.includes(c))) {
    return { code: 'INVALID_PASSWORD', why: `it may contain only letters, digits and ${PASSWORD_SPECIAL}` };
  }
  if (classes < 3)
    return {
      code: 'INVALID_PASSWORD',
      why: 'it must contain at least three of: lower-case letters, upper-case letters, digits, special characters',
    };
  const lower = pwd.toLowerCase();
  if (lower === user.toLowerCase() || lower === [...user].reverse().join('').toLowerCase())
    return { code: 'PASSWORD_CONTAINS_USER_NAME', why: '' };
  return null;
}
