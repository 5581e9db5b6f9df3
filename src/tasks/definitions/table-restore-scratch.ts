/**
 * A table restore from a schema- or table-level (logical) snapshot (D15), without a temporary
 * copy: the snapshot's dump is loaded into a scratch database on the cluster's own primary,
 * the shared steps (table-restore-steps.ts) rename, export and import the tables with the
 * scratch database as their source, and the scratch database is dropped — last, and by the
 * undo.
 */
import { scratchDatabaseName } from '../../domain/table-names.js';
import { AppError } from '../../errors/app-error.js';
import type { StepSpec } from '../definition.js';
import { discardImported, exportTablesStep, importTablesStep, verifyRowsStep } from './table-restore-steps.js';
import { runningPrimary, runOptions, snapshotOf, workOf, type Ctx } from './table-restore-context.js';

export const SCRATCH_DATABASE_PLAN: StepSpec[] = [
  { id: 'CREATE_SCRATCH_DB', item: 'PREPARE_SCRATCH', weight: 0.1 },
  { id: 'LOAD_SCRATCH_DB', item: 'PREPARE_SCRATCH', weight: 2, runsTools: true },
  { id: 'EXPORT_TABLES', item: 'RESTORE_TABLES', weight: 1, runsTools: true },
  { id: 'IMPORT_TABLES', item: 'RESTORE_TABLES', weight: 1, runsTools: true },
  { id: 'VERIFY_ROWS', item: 'RESTORE_TABLES', weight: 0.2 },
  { id: 'DROP_SCRATCH_DB', item: 'CLEAN_UP', weight: 0.1 },
];

/** The undo of a restore through a scratch database. */
export const SCRATCH_DATABASE_UNDO: StepSpec = { id: 'DISCARD_SCRATCH_RESTORE', item: 'CLEAN_UP' };

export const scratchDatabaseSteps = {
  /** A new, empty scratch database on the cluster's primary (a leftover of an interrupted run is dropped first), and the task's work directory. */
  CREATE_SCRATCH_DB: async (ctx: Ctx): Promise<void> => {
    const { cluster, primary } = await runningPrimary(ctx);
    const scratch = await ctx.dataPlane.createScratchDatabase(cluster, primary, workOf(ctx), ctx.params.database);
    ctx.progress({ source: 'dwsbox', percent: 100, info: { scratchDatabase: scratch } });
  },

  /**
   * The snapshot's dump loaded into the scratch database: everything but grants, the schemas
   * the new database already has, and foreign keys to tables outside the dump (their tables
   * are not there). Progress: the scratch database's size against the source bytes the
   * snapshot recorded.
   */
  LOAD_SCRATCH_DB: async (ctx: Ctx): Promise<void> => {
    const snap = await snapshotOf(ctx);
    const fg = snap.fineGrained;
    if (!fg?.dumpDir || !(await ctx.dataPlane.logicalDumpReadable(fg.dumpDir)))
      throw new AppError('SNAPSHOT_NOT_RESTORABLE', { args: [snap.id, `its dump ${fg?.dumpDir ?? ''} is missing`] });
    const { cluster, primary } = await runningPrimary(ctx);
    const work = workOf(ctx);
    // A resumed or retried load starts over in a new, empty scratch database: pg_restore cannot continue.
    if (ctx.checkpoint?.started) await ctx.dataPlane.createScratchDatabase(cluster, primary, work, ctx.params.database);
    await ctx.setCheckpoint({ started: true });
    const total = Math.max(snap.sourceBytes ?? 0, 1);
    const scratch = scratchDatabaseName(ctx.task.id);
    const loaded = await ctx.dataPlane.loadScratchDatabase(
      cluster,
      primary,
      work,
      { location: fg.dumpDir, outsideForeignKeys: fg.outsideForeignKeys, sourceBytes: snap.sourceBytes },
      runOptions(ctx, (s) => {
        const loadedBytes = Number(s.data?.['loadedBytes'] ?? 0);
        ctx.progress({
          source: s.source,
          bytesDone: s.bytesDone ?? null,
          bytesTotal: s.bytesTotal ?? null,
          percent: s.percent ?? null,
          consumedBytes: loadedBytes,
          info: { scratchDatabase: scratch, tocEntries: s.data?.['tocEntries'], loadedBytes },
        });
      }),
    );
    ctx.progress({
      source: 'pg_database_size',
      bytesDone: total,
      bytesTotal: total,
      percent: 100,
      consumedBytes: loaded.loadedBytes,
      info: { scratchDatabase: scratch, tocEntries: loaded.tocEntries, loadedBytes: loaded.loadedBytes },
    });
  },

  EXPORT_TABLES: exportTablesStep,
  IMPORT_TABLES: importTablesStep,
  VERIFY_ROWS: verifyRowsStep,

  DROP_SCRATCH_DB: async (ctx: Ctx): Promise<void> => {
    const { cluster, primary } = await runningPrimary(ctx);
    await ctx.dataPlane.dropScratchDatabase(cluster, primary, workOf(ctx));
    await ctx.dataPlane.removeTableRestoreWork(workOf(ctx));
    ctx.progress({ source: 'dwsbox', percent: 100 });
  },

  /** Undo of a restore through a scratch database: drop it, then what DISCARD_TABLE_RESTORE drops. */
  DISCARD_SCRATCH_RESTORE: async (ctx: Ctx): Promise<void> => {
    const { cluster, primary } = await runningPrimary(ctx);
    await ctx.dataPlane.dropScratchDatabase(cluster, primary, workOf(ctx));
    await discardImported(ctx);
  },
};
