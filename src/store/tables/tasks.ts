/** Tasks: their rows, the one-active-task rule (D8), leases (D1) and lists. Claiming is in task-claim.ts. */
import type { Kysely } from 'kysely';
import type { StepRecord, TaskRecord } from '../../domain/records.js';
import { ACTIVE_TASK_STATUSES, type TaskKind, type TaskStatus } from '../../domain/task.js';
import { AppError } from '../../errors/app-error.js';
import { taskRows } from '../rows.js';
import type { Database } from '../schema.js';
import { rethrowStoreError } from '../store-errors.js';
import { insertSteps } from './task-steps.js';

export const ACTIVE_STATUSES = ACTIVE_TASK_STATUSES as TaskStatus[];

/** The fields of a task its runner changes. */
export type TaskPatch = Partial<
  Pick<
    TaskRecord,
    | 'status'
    | 'phase'
    | 'state'
    | 'progress'
    | 'attempt'
    | 'runAt'
    | 'lockedBy'
    | 'leaseExpiresAt'
    | 'errorCode'
    | 'errorMsg'
    | 'failedStep'
    | 'startedAt'
    | 'finishedAt'
    | 'ranBy'
    | 'clusterName'
  >
>;

/**
 * Insert a task and its planned steps. Throws CLUSTER_BUSY (through the one-active-task
 * index) when another task holds the same lock key.
 */
export async function insertTask(db: Kysely<Database>, task: TaskRecord, steps: StepRecord[]): Promise<void> {
  await db
    .insertInto('tasks')
    .values(taskRows.toNewRow(task))
    .execute()
    .catch((e) =>
      rethrowStoreError(e, () => new AppError('CLUSTER_BUSY', { args: [task.clusterId ?? task.lockKey, 'another task', '?'] })),
    );
  await insertSteps(db, steps);
}
export async function getTask(db: Kysely<Database>, id: string): Promise<TaskRecord | undefined> {
  const row = await db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
  return row && taskRows.toRecord(row);
}
export async function updateTask(db: Kysely<Database>, id: string, patch: TaskPatch, now: number): Promise<void> {
  await db
    .updateTable('tasks')
    .set({ ...taskRows.toRow(patch), updated_at: now })
    .where('id', '=', id)
    .execute();
}
/** The active task holding a lock key, if any. */
export async function activeTask(db: Kysely<Database>, lockKey: string): Promise<TaskRecord | undefined> {
  const row = await db
    .selectFrom('tasks')
    .selectAll()
    .where('lock_key', '=', lockKey)
    .where('status', 'in', ACTIVE_STATUSES)
    .executeTakeFirst();
  return row && taskRows.toRecord(row);
}
export async function listActiveTasks(db: Kysely<Database>): Promise<TaskRecord[]> {
  return (await db.selectFrom('tasks').selectAll().where('status', 'in', ACTIVE_STATUSES).orderBy('created_at').execute()).map((row) =>
    taskRows.toRecord(row),
  );
}
/** Active tasks that read a snapshot (restores), for D16's delete guard. */
export async function activeTasksOfSnapshot(db: Kysely<Database>, snapshotId: string): Promise<TaskRecord[]> {
  const rows = await db
    .selectFrom('tasks')
    .selectAll()
    .where('snapshot_id', '=', snapshotId)
    .where('status', 'in', ACTIVE_STATUSES)
    .execute();
  return rows.map((row) => taskRows.toRecord(row));
}

export interface TaskListOptions {
  kinds?: readonly TaskKind[];
  statuses?: readonly TaskStatus[];
  limit?: number;
}

/** A cluster's tasks, newest first, optionally of some kinds and statuses. */
export async function listTasks(db: Kysely<Database>, clusterId: string, options: TaskListOptions = {}): Promise<TaskRecord[]> {
  let query = db.selectFrom('tasks').selectAll().where('cluster_id', '=', clusterId).orderBy('created_at', 'desc').orderBy('id', 'desc');
  if (options.kinds) query = query.where('kind', 'in', options.kinds as TaskKind[]);
  if (options.statuses) query = query.where('status', 'in', options.statuses as TaskStatus[]);
  if (options.limit) query = query.limit(options.limit);
  return (await query.execute()).map((row) => taskRows.toRecord(row));
}
/** Every task, newest first, optionally of some statuses. */
export async function listAllTasks(db: Kysely<Database>, options: Omit<TaskListOptions, 'kinds'> = {}): Promise<TaskRecord[]> {
  let query = db.selectFrom('tasks').selectAll().orderBy('created_at', 'desc');
  if (options.statuses) query = query.where('status', 'in', options.statuses as TaskStatus[]);
  if (options.limit) query = query.limit(options.limit);
  return (await query.execute()).map((row) => taskRows.toRecord(row));
}

/**
 * End the lease of a task whose owner is known to be dead, so another process takes it over
 * at once instead of waiting for the lease to run out. Conditional on the epoch: a lease
 * renewed or taken meanwhile is left alone.
 */
export async function expireLease(db: Kysely<Database>, taskId: string, epoch: number, now: number): Promise<boolean> {
  const result = await db
    .updateTable('tasks')
    .set({ lease_expires_at: 0, updated_at: now })
    .where('id', '=', taskId)
    .where('lease_epoch', '=', epoch)
    .where('status', 'in', ACTIVE_STATUSES)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
/** Extend the lease if it is still ours; false when another owner has taken the task. */
export async function renewLease(db: Kysely<Database>, taskId: string, epoch: number, until: number, now: number): Promise<boolean> {
  const result = await db
    .updateTable('tasks')
    .set({ lease_expires_at: until, updated_at: now })
    .where('id', '=', taskId)
    .where('lease_epoch', '=', epoch)
    .where('status', 'in', ACTIVE_STATUSES)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
/** The task's lease epoch, row-locked until the transaction ends when `lockRow` (the fence of D1); undefined without the task. */
export async function leaseEpoch(db: Kysely<Database>, taskId: string, lockRow: boolean): Promise<number | undefined> {
  let query = db.selectFrom('tasks').select('lease_epoch').where('id', '=', taskId);
  if (lockRow) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row && Number(row.lease_epoch);
}
