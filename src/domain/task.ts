/**
 * Tasks: statuses (the wire vocabulary itself), kinds, and the action names of the
 * task-details endpoint.
 */
export const TaskStatus = {
  Waiting: 'WAITING',
  Running: 'RUNNING',
  Success: 'SUCCESS',
  Failed: 'FAILED',
  RollbackRunning: 'ROLLBACK_RUNNING',
  RollbackSuccess: 'ROLLBACK_SUCCESS',
  RollbackFail: 'ROLLBACK_FAIL',
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

/** The statuses of a task that holds its lock key and may be claimed. */
export const ACTIVE_TASK_STATUSES: readonly TaskStatus[] = ['WAITING', 'RUNNING', 'ROLLBACK_RUNNING'];
/** The statuses of a task that ended in failure (the `…_FAILED` action names, D8). */
export const FAILED_TASK_STATUSES: readonly TaskStatus[] = ['FAILED', 'ROLLBACK_SUCCESS', 'ROLLBACK_FAIL'];

export const isTaskActive = (s: TaskStatus): boolean => ACTIVE_TASK_STATUSES.includes(s);
export const isTaskDone = (s: TaskStatus): boolean => !isTaskActive(s);
export const isTaskFailure = (s: TaskStatus): boolean => FAILED_TASK_STATUSES.includes(s);

/** Sub-item (step) status uses the same vocabulary. */
export type StepStatus = TaskStatus;

/** Task kinds: dotted resource.verb. */
export const TaskKind = {
  ClusterCreate: 'cluster.create',
  ClusterRestore: 'cluster.restore',
  ClusterRestoreInPlace: 'cluster.restore_in_place',
  ClusterDelete: 'cluster.delete',
  ClusterRestart: 'cluster.restart',
  ClusterStart: 'cluster.start',
  ClusterStop: 'cluster.stop',
  ClusterScaleOut: 'cluster.scale_out',
  ClusterScaleIn: 'cluster.scale_in',
  ClusterSwitchover: 'cluster.switchover',
  ClusterRepair: 'cluster.repair',
  ClusterConfigure: 'cluster.configure',
  SnapshotCreate: 'snapshot.create',
  TableRestore: 'snapshot.table_restore',
  SnapshotExpire: 'snapshot.expire',
  SnapshotCopy: 'snapshot.copy',
  DrStart: 'dr.start',
  DrPause: 'dr.pause',
  DrDelete: 'dr.delete',
  DrSwitchover: 'dr.switchover',
  DrFailover: 'dr.failover',
  DrRecover: 'dr.recover',
} as const;
export type TaskKind = (typeof TaskKind)[keyof typeof TaskKind];

/**
 * The D8 key of each kind: the `task_status` / `action_progress` key while it runs, and the
 * `action_name` faults use.
 */
export const ACTION_OF_KIND: Record<TaskKind, string> = {
  'cluster.create': 'CREATING',
  'cluster.restore': 'RESTORING',
  'cluster.restore_in_place': 'RESTORING',
  'cluster.delete': 'DELETING',
  'cluster.restart': 'REBOOTING',
  'cluster.start': 'STARTING',
  'cluster.stop': 'STOPPING',
  'cluster.scale_out': 'GROWING',
  'cluster.scale_in': 'CLUSTER_SHRINKING',
  'cluster.switchover': 'ACTIVE_STANDY_SWITCHOVER',
  'cluster.repair': 'REPAIRING',
  'cluster.configure': 'SETTING_CONFIGURATION',
  'snapshot.create': 'SNAPSHOTTING',
  'snapshot.table_restore': 'FINE_GRAINED_RESTORING',
  'snapshot.expire': 'SNAPSHOT_EXPIRING',
  'snapshot.copy': 'SNAPSHOT_COPYING',
  'dr.start': 'DR_STARTING',
  'dr.pause': 'DR_PAUSING',
  'dr.delete': 'DR_DELETING',
  'dr.switchover': 'DR_SWITCHOVER',
  'dr.failover': 'DR_FAILOVER',
  'dr.recover': 'DR_RECOVERING',
};

/** `progressInfo.actionType` of each kind. */
export const ACTION_TYPE_OF_KIND: Record<TaskKind, string> = {
  'cluster.create': 'Create',
  'cluster.restore': 'Restore',
  'cluster.restore_in_place': 'RestoreInPlace',
  'cluster.delete': 'Delete',
  'cluster.restart': 'Restart',
  'cluster.start': 'Start',
  'cluster.stop': 'Stop',
  'cluster.scale_out': 'Expand',
  'cluster.scale_in': 'Shrink',
  'cluster.switchover': 'Switchover',
  'cluster.repair': 'Repair',
  'cluster.configure': 'Configure',
  'snapshot.create': 'Backup',
  'snapshot.table_restore': 'TableRestore',
  'snapshot.expire': 'Expire',
  'snapshot.copy': 'Copy',
  'dr.start': 'DisasterRecoveryStart',
  'dr.pause': 'DisasterRecoveryPause',
  'dr.delete': 'DisasterRecoveryDelete',
  'dr.switchover': 'DisasterRecoverySwitchover',
  'dr.failover': 'DisasterRecoveryFailover',
  'dr.recover': 'DisasterRecoveryRecover',
};

/**
 * The eight action names of GET …/actions/{action_name}: in-progress name → kinds, failure name → kinds.
 * RESTORING is a restore into a new cluster's (its task runs on the new cluster) or into the
 * cluster itself (issue 20's in-place restore).
 */
export const ACTION_NAMES = {
  GROWING: { kinds: ['cluster.scale_out'], failure: false },
  RESIZE_FAILURE: { kinds: ['cluster.scale_out'], failure: true },
  RESTORING: { kinds: ['cluster.restore', 'cluster.restore_in_place'], failure: false },
  RESTORING_FAILED: { kinds: ['cluster.restore', 'cluster.restore_in_place'], failure: true },
  SNAPSHOTTING: { kinds: ['snapshot.create'], failure: false },
  SNAPSHOTTING_FAILED: { kinds: ['snapshot.create'], failure: true },
  FINE_GRAINED_RESTORING: { kinds: ['snapshot.table_restore'], failure: false },
  FINE_GRAINED_RESTORING_FAILED: { kinds: ['snapshot.table_restore'], failure: true },
} as const satisfies Record<string, { kinds: readonly TaskKind[]; failure: boolean }>;
export type ActionName = keyof typeof ACTION_NAMES;
export const isActionName = (s: string): s is ActionName => Object.prototype.hasOwnProperty.call(ACTION_NAMES, s);

/** Fault `action_name`s: the eight action names plus the D8 keys of the other kinds. */
export const FAULT_ACTION_NAMES: readonly string[] = [
  ...Object.keys(ACTION_NAMES),
  'CREATING',
  'DELETING',
  'REBOOTING',
  'STARTING',
  'STOPPING',
  'CLUSTER_SHRINKING',
  'ACTIVE_STANDY_SWITCHOVER',
  'REPAIRING',
  'SETTING_CONFIGURATION',
  'DR_STARTING',
  'DR_PAUSING',
  'DR_DELETING',
  'DR_SWITCHOVER',
  'DR_FAILOVER',
  'DR_RECOVERING',
];

/** Which kinds a fault `action_name` addresses. */
export function kindsOfFaultAction(name: string): TaskKind[] {
  if (isActionName(name)) return [...ACTION_NAMES[name].kinds];
  return (Object.keys(ACTION_OF_KIND) as TaskKind[]).filter((k) => ACTION_OF_KIND[k] === name);
}

/** D12: ListJobDetails status. */
export function jobStatusOf(s: TaskStatus): 'WAITING' | 'RUNNING' | 'SUCCESS' | 'FAIL' {
  switch (s) {
    case 'WAITING':
      return 'WAITING';
    case 'RUNNING':
    case 'ROLLBACK_RUNNING':
      return 'RUNNING';
    case 'SUCCESS':
      return 'SUCCESS';
    case 'FAILED':
    case 'ROLLBACK_SUCCESS':
    case 'ROLLBACK_FAIL':
      return 'FAIL';
  }
}
