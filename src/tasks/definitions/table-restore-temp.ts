/**
 * A table restore from a cluster-level snapshot (D4, D15): its backup set (only the restore's
 * database) comes back in a temporary copy — a unix socket only, no archiving — which is
 * started and promoted; the shared steps (table-restore-steps.ts) rename, export and import
 * the tables from it; the copy is removed last, and by the undo.
 */
import { AppError } from '../../errors/app-error.js';
import type { StepSpec } from '../definition.js';
import { discardImported, exportTablesStep, importTablesStep, verifyRowsStep } from './table-restore-steps.js';
import { runOptions, snapshotOf, workOf, type Ctx } from './table-restore-context.js';

export const TEMP_COPY_PLAN: StepSpec[] = [
  { id: 'RESTORE_TEMP', item: 'PREPARE_TEMP', weight: 2, runsTools: true },
  { id: 'START_TEMP', item: 'PREPARE_TEMP', weight: 0.3 },
  { id: 'EXPORT_TABLES', item: 'RESTORE_TABLES', weight: 1, runsTools: true },
  { id: 'IMPORT_TABLES', item: 'RESTORE_TABLES', weight: 1, runsTools: true },
  { id: 'VERIFY_ROWS', item: 'RESTORE_TABLES', weight: 0.2 },
  { id: 'REMOVE_TEMP', item: 'CLEAN_UP', weight: 0.1 },
];

/** The undo of a restore through a temporary copy. */
export const TEMP_COPY_UNDO: StepSpec = { id: 'DISCARD_TABLE_RESTORE', item: 'CLEAN_UP' };

export const tempCopySteps = {
  /** `pgbackrest restore --db-include=<database>` of the snapshot's set into the temporary copy (D4). */
  RESTORE_TEMP: async (ctx: Ctx): Promise<void> => {
    const snap = await snapshotOf(ctx);
    if (!snap.backupLabel) throw new AppError('SNAPSHOT_NOT_RESTORABLE', { args: [snap.id, 'it has no backup set'] });
    const info = {
      key: snap.backupKey ?? 'N/A',
      priorKey: snap.priorBackupKey ?? 'N/A',
      snapshotId: snap.id,
      database: ctx.params.database,
    };
    const set = { stanza: snap.stanza, label: snap.backupLabel, sourceBytes: snap.sourceBytes };
    await ctx.dataPlane.restoreTemporaryCopy(
      workOf(ctx),
      set,
      ctx.params.database,
      runOptions(ctx, (s) => {
        const written = s.data?.['consumedBytes'];
        ctx.progress({ ...s, ...(typeof written === 'number' ? { consumedBytes: written } : {}), info });
      }),
    );
  },

  /** Start the temporary copy and wait until it is promoted. */
  START_TEMP: async (ctx: Ctx): Promise<void> => {
    await ctx.dataPlane.startTemporaryCopy(
      workOf(ctx),
      runOptions(ctx, (s) => {
        if (s.data?.['phase'] === 'start') ctx.progress({ source: s.source, percent: s.percent ?? null, info: { phase: 'start' } });
        else
          ctx.progress({
            ...s,
            percent: s.data?.['inRecovery'] ? 50 : 90,
            info: { phase: 'recovery', replayLsn: s.data?.['replayLsn'] ?? null },
          });
      }),
    );
    ctx.progress({ source: 'pg_is_in_recovery', percent: 100, info: { phase: 'promoted' } });
  },

  EXPORT_TABLES: exportTablesStep,
  IMPORT_TABLES: importTablesStep,
  VERIFY_ROWS: verifyRowsStep,

  REMOVE_TEMP: async (ctx: Ctx): Promise<void> => {
    await ctx.dataPlane.removeTableRestoreWork(workOf(ctx));
    ctx.progress({ source: 'dwsbox', percent: 100 });
  },

  /**
   * Undo: remove the temporary copy, and drop what this task imported — only tables whose OID
   * is the one this task recorded right after its own import, so a table that existed before
   * (or that someone else created since) is never touched — and the schemas it created, when
   * empty.
   */
  DISCARD_TABLE_RESTORE: discardImported,
};
