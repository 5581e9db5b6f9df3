/**
 * snapshot.table_restore (FINE_GRAINED_RESTORING, actionType "TableRestore"), design D15:
 * chosen tables come back from a snapshot into the snapshot's (live) cluster, under the names
 * asked for. Two ways to a source of the tables, one kind:
 * - from a cluster-level snapshot, through a temporary copy of its backup set
 *   (table-restore-temp.ts);
 * - from a schema- or table-level (logical) snapshot (`viaScratchDatabase`), through a scratch
 *   database on the cluster's own primary (table-restore-scratch.ts).
 * Both then share the export, the import and the verification (table-restore-steps.ts): in
 * the source each table and its indexes, constraints and owned sequences are renamed to the
 * target names and dumped, the dump's filtered list is loaded into the cluster's primary in one
 * transaction, and row and index counts are compared with the source before the task succeeds.
 *
 * MUST NOT: overwrite or drop a table that existed before this task (an existing target is
 * refused, at request time and again right before the import), write into the source stanza,
 * or leave the temporary copy or the scratch database behind (the last step and the undo both
 * remove them).
 */
import type { TaskDefinition } from '../definition.js';
import type { TableRestoreCheckpoint, TableRestoreParams, TableRestoreState } from './table-restore-context.js';
import { SCRATCH_DATABASE_PLAN, SCRATCH_DATABASE_UNDO, scratchDatabaseSteps } from './table-restore-scratch.js';
import { TEMP_COPY_PLAN, TEMP_COPY_UNDO, tempCopySteps } from './table-restore-temp.js';

export type { TableRef, TableRestoreCheckpoint, TableRestoreParams, TableRestoreState } from './table-restore-context.js';
export { loginRoleName, scratchDatabaseName } from '../../domain/table-names.js';

export const tableRestore: TaskDefinition<TableRestoreParams, TableRestoreState, TableRestoreCheckpoint> = {
  kind: 'snapshot.table_restore',
  maxAttempts: 2,
  plan: (p) => (p.viaScratchDatabase ? SCRATCH_DATABASE_PLAN : TEMP_COPY_PLAN),
  // The shared steps are the same functions in both maps.
  steps: { ...tempCopySteps, ...scratchDatabaseSteps },
  failure: { mode: 'cleanup', steps: (task) => [task.params.viaScratchDatabase ? SCRATCH_DATABASE_UNDO : TEMP_COPY_UNDO] },
};
