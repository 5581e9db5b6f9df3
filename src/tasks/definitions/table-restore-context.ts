/**
 * What every step of a table restore (table-restore.ts) works with: its parameters, the state
 * its steps hand on, the checkpoint of its steps that start tools, and the few reads they all
 * make (the snapshot, the running primary, the work's name for the data plane).
 */
import type { ClusterRecord, NodeRecord, SnapshotRecord } from '../../domain/records.js';
import type { TableRef } from '../../domain/table-names.js';
import { AppError } from '../../errors/app-error.js';
import type { RunOptions } from '../../dataplane/data-plane.js';
import type { Exported, Imported, TablePair, TableRestoreWork } from '../../dataplane/logical-plane.js';
import type { StepContext } from '../definition.js';
import { livePrimary } from './member-steps.js';

export interface TableRestoreParams {
  /** the snapshot's cluster: the tables come back into it */
  clusterId: string;
  snapshotId: string;
  /** the same cluster (faults address restores by their source cluster) */
  sourceClusterId: string;
  database: string;
  /** source (in the snapshot) → target (in the cluster), names already folded */
  tables: TablePair[];
  /** a logical snapshot: through a scratch database on the cluster instead of a temporary copy (D15) */
  viaScratchDatabase?: boolean;
}

/** What the steps hand on: the export's measured tables, the import's tables, and the schemas the import created (for the undo). */
export interface TableRestoreState {
  exported: Exported;
  imported: Imported[];
  createdSchemas: string[];
}

/**
 * A step that starts a tool which cannot continue records that it started (`started`), so a
 * resumed or retried run starts over; the import also records the database's transaction
 * counter before its single transaction, to recognise its own tables after a crash.
 */
export interface TableRestoreCheckpoint {
  started?: boolean;
  xidBefore?: string;
}

export type Ctx = StepContext<TableRestoreParams, TableRestoreState, TableRestoreCheckpoint>;
export type { TableRef };

/** The task's own work on the host (its temporary copy, files, scratch database, login role). */
export const workOf = (ctx: Ctx): TableRestoreWork => ({
  taskId: ctx.task.id,
  projectId: ctx.task.projectId,
  clusterId: ctx.params.clusterId,
});

/** Options of a long intention of this step: its cancellation, the task's lock, the idle limit, and where its samples go. */
export const runOptions = (ctx: Ctx, onProgress?: RunOptions['onProgress']): RunOptions => ({
  signal: ctx.signal,
  lockFile: ctx.lockFile,
  idleTimeoutMs: ctx.config.stepIdleTimeoutMs,
  ...(onProgress ? { onProgress } : {}),
});

/** The snapshot this task reads (it cannot be deleted while the task runs, D16): a logical one, or one with a backup set. */
export async function snapshotOf(ctx: Ctx): Promise<SnapshotRecord> {
  const s = await ctx.store.getSnapshotById(ctx.params.snapshotId);
  if (!s) throw new AppError('SNAPSHOT_NOT_FOUND', { args: [ctx.params.snapshotId] });
  if (!s.fineGrained && !s.backupLabel) throw new AppError('SNAPSHOT_NOT_RESTORABLE', { args: [s.id, 'it has no backup set'] });
  return s;
}

/** The cluster and its primary, which must be running: the tables come back into it (`livePrimary`). */
export const runningPrimary = (ctx: Ctx): Promise<{ cluster: ClusterRecord; primary: NodeRecord }> =>
  livePrimary(ctx, 'restore the tables again');

/** What the export measured; the import and the verification compare against it. */
export function exportedOf(ctx: Ctx): Exported {
  const e = ctx.state.exported;
  if (!e) throw new AppError('ENGINE_COMMAND_FAILED', { args: ['table restore', 'the export step left no record of the tables'] });
  return e;
}
