/**
 * The steps of a schema- or table-level (logical) snapshot: snapshot.create with a `level`
 * param (SNAPSHOTTING, actionType "Backup", the same task-details endpoint and failure
 * handling as a cluster-level one). A dump of exactly the schemas or tables asked for, from
 * the cluster's primary (the data plane's `dumpObjects`), outside the D2 chain. Progress
 * (D14): source bytes of the tables dumped, and the bytes the dump has written.
 *
 * MUST NOT: leave a partial dump behind (the data plane removes a failed one at once, and the
 * undo step removes both).
 *
 * Fair shares (tasks/snapshot-room.ts): before the dump starts, the project's quotas and the
 * data directory's free space are checked again for the tables' size.
 */
import type { FineGrainedDetail, SchemaInfo } from '../../domain/records.js';
import { estimateBackupBytes } from '../../domain/snapshot-space.js';
import { tableRefsOf } from '../../domain/table-names.js';
import { backupKeyTime } from '../../domain/time.js';
import { AppError } from '../../errors/app-error.js';
import type { DumpedTable, LogicalDumpRef, RelationFacts } from '../../dataplane/logical-plane.js';
import type { OutsideForeignKey } from '../../domain/records.js';
import type { StepContext, StepSpec } from '../definition.js';
import { checkFreeSpace, checkSnapshotQuota } from '../snapshot-room.js';
import { livePrimary } from './member-steps.js';
import type { SnapshotCreateState } from './snapshot-create.js';

export interface LogicalSnapshotParams {
  clusterId: string;
  snapshotId: string;
  level?: 'schema' | 'table' | undefined;
}

/** What the object check hands on: the tables to dump, and the foreign keys that point outside them. */
export interface LogicalSnapshotState {
  tables: DumpedTable[];
  /** their source OIDs (left out when the dump is loaded into a scratch database) */
  outsideForeignKeys: number[];
  outsideForeignKeyDefs: OutsideForeignKey[];
}

export type { DumpedTable };

/** These steps run in snapshot.create (its state is the physical snapshot's and these fields). */
type Ctx = StepContext<LogicalSnapshotParams, SnapshotCreateState & LogicalSnapshotState>;

export const LOGICAL_PLAN: StepSpec[] = [
  { id: 'CHECK_OBJECTS', item: 'CREATE_SNAPSHOT', weight: 0.1 },
  { id: 'DUMP_OBJECTS', item: 'CREATE_SNAPSHOT', weight: 1, runsTools: true },
  { id: 'VERIFY_DUMP', item: 'CREATE_SNAPSHOT', weight: 0.05, runsTools: true },
  { id: 'RECORD_DUMP', item: 'CREATE_SNAPSHOT', weight: 0.05 },
];

export const isLogical = (p: { level?: string | undefined }): boolean => p.level === 'schema' || p.level === 'table';

async function detailOf(ctx: Ctx): Promise<{ ref: LogicalDumpRef; detail: FineGrainedDetail }> {
  const s = await ctx.store.getSnapshotById(ctx.params.snapshotId);
  if (!s) throw new AppError('SNAPSHOT_NOT_FOUND', { args: [ctx.params.snapshotId] });
  if (!s.fineGrained) throw new AppError('VERIFY_FAILED', { args: [`snapshot ${s.id} has no schema or table list`] });
  return { ref: { projectId: s.projectId, stanza: s.stanza, snapshotId: s.id }, detail: s.fineGrained };
}

const runningPrimary = (ctx: Ctx) => livePrimary(ctx, 'take the snapshot again');

function tablesOf(ctx: Ctx): DumpedTable[] {
  const t = ctx.state.tables;
  if (!t) throw new AppError('VERIFY_FAILED', { args: ['the object check left no list of tables'] });
  return t;
}

const dumpedTable = (r: RelationFacts): DumpedTable => ({
  schema: r.ref.schema,
  name: r.ref.name,
  oid: r.oid,
  rows: r.rows,
  bytes: r.bytes,
  ...(r.kind === 'p' ? { partitioned: true } : {}),
});

export const logicalSteps = {
  /**
   * The database, schemas and tables still exist (they were checked at request time, but
   * time has passed); the tables to dump, with their sizes, and the foreign keys that point
   * outside the dump are recorded.
   */
  CHECK_OBJECTS: async (ctx: Ctx): Promise<void> => {
    const { detail } = await detailOf(ctx);
    const { cluster, primary } = await runningPrimary(ctx);
    const dp = ctx.dataPlane;
    const db = await dp.databaseInfo(cluster, primary, detail.database);
    if (!db?.allowConnections)
      throw new AppError('DATABASE_NOT_FOUND', { message: `Database ${detail.database} does not exist in the cluster any more.` });
    let tables: DumpedTable[];
    if (detail.level === 'schema') {
      const have = new Set(await dp.schemasPresent(cluster, primary, detail.database, detail.schemas));
      const missing = detail.schemas.filter((s) => !have.has(s));
      if (missing.length)
        throw new AppError('SCHEMA_NOT_FOUND', { message: `Schema does not exist in database ${detail.database}: ${missing.join(', ')}` });
      tables = (await dp.relationFacts(cluster, primary, detail.database, { schemas: detail.schemas })).map(dumpedTable);
    } else {
      const refs = tableRefsOf(detail);
      const facts = await dp.relationFacts(cluster, primary, detail.database, { tables: refs });
      const key = (t: { schema: string; name: string }): string => `${t.schema}\u0000${t.name}`;
      const byKey = new Map(facts.filter((r) => r.kind === 'r').map((r) => [key(r.ref), r]));
      const missing = refs.filter((r) => !byKey.has(key(r)));
      if (missing.length)
        throw new AppError('TABLE_NOT_FOUND', {
          args: [`${missing.map((r) => `${r.schema}.${r.name}`).join(', ')} (not a table in database ${detail.database})`],
        });
      tables = refs.map((r) => dumpedTable(byKey.get(key(r))!));
    }
    const fks = await dp.outsideForeignKeys(
      cluster,
      primary,
      detail.database,
      tables.map((t) => t.oid),
    );
    await ctx.setState({ tables, outsideForeignKeys: fks.map((r) => r.oid), outsideForeignKeyDefs: fks });
    ctx.progress({
      source: 'pg_catalog',
      percent: 100,
      info: { database: detail.database, tables: tables.length, sourceBytes: tables.reduce((a, t) => a + t.bytes, 0) },
    });
  },

  /** The dump of exactly the schemas or tables asked for (a complete one, from an earlier run, is kept). */
  DUMP_OBJECTS: async (ctx: Ctx): Promise<void> => {
    const { ref, detail } = await detailOf(ctx);
    const tables = tablesOf(ctx);
    const total = tables.reduce((a, t) => a + Math.max(t.bytes, 1), 0);
    let dump = await ctx.dataPlane.logicalDump(ref);
    if (!dump.complete) {
      // A resumed step (after a crash or a retry) starts over: a dump cannot be continued.
      await ctx.dataPlane.removeDump(ref.stanza, ref.snapshotId);
      const need = {
        kind: 'dump' as const,
        needBytes: estimateBackupBytes('dump', { databaseBytes: tables.reduce((a, t) => a + t.bytes, 0) }),
      };
      await checkSnapshotQuota(ctx.store, ctx.config, ctx.task.projectId, need, ctx.params.snapshotId);
      checkFreeSpace(ctx.dataPlane, ctx.config, need, ctx.log);
      const { cluster, primary } = await runningPrimary(ctx);
      dump = await ctx.dataPlane.dumpObjects(
        cluster,
        primary,
        ref,
        { detail, tables },
        {
          signal: ctx.signal,
          lockFile: ctx.lockFile,
          idleTimeoutMs: ctx.config.stepIdleTimeoutMs,
          onProgress: (s) => {
            const d = s.data ?? {};
            const written = Number(d['dumpBytes'] ?? 0);
            ctx.progress({
              source: s.source,
              bytesDone: s.bytesDone ?? null,
              bytesTotal: s.bytesTotal ?? null,
              percent: s.percent ?? null,
              consumedBytes: written,
              compressedBytes: Number(d['compressedBytes'] ?? 0),
              data: { tablesDone: d['tablesDone'] },
              info: { tablesDone: d['tablesDone'], tablesTotal: tables.length, dumpBytes: written, key: backupKeyTime(ctx.clock.now()) },
            });
          },
        },
      );
    }
    ctx.progress({
      source: 'pg_dump',
      bytesDone: total,
      bytesTotal: total,
      percent: 100,
      consumedBytes: dump.bytes,
      compressedBytes: total,
      data: { dumpBytes: dump.bytes },
      info: { tablesDone: tables.length, tablesTotal: tables.length, dumpBytes: dump.bytes },
    });
  },

  /** The dump holds exactly the tables (and, at schema level, the schemas) asked for. */
  VERIFY_DUMP: async (ctx: Ctx): Promise<void> => {
    const { ref, detail } = await detailOf(ctx);
    const tables = tablesOf(ctx);
    const r = await ctx.dataPlane.verifyLogicalDump(ref, { level: detail.level, tables }, { signal: ctx.signal, lockFile: ctx.lockFile });
    ctx.progress({ source: 'pg_restore -l', percent: 100, info: { tocEntries: r.tocEntries, tables: tables.length } });
  },

  /** Size (the dump's real bytes), key, and each dumped table (D16), recorded on the snapshot. */
  RECORD_DUMP: async (ctx: Ctx): Promise<void> => {
    const { ref, detail } = await detailOf(ctx);
    const tables = tablesOf(ctx);
    const dump = await ctx.dataPlane.logicalDump(ref);
    if (!dump.complete) throw new AppError('VERIFY_FAILED', { args: [`the dump ${dump.location} disappeared`] });
    const sourceBytes = tables.reduce((a, t) => a + t.bytes, 0);
    const schemaInfo: SchemaInfo = {
      databases: [
        {
          name: detail.database,
          sizeBytes: sourceBytes,
          tables: tables.map((t) => ({ schema: t.schema, name: t.name, rows: t.rows, bytes: t.bytes })),
        },
      ],
    };
    const s = await ctx.store.getSnapshotById(ctx.params.snapshotId);
    const key = backupKeyTime(s?.startedAt ?? ctx.clock.now());
    const outsideForeignKeys = ctx.state.outsideForeignKeys ?? [];
    const outsideForeignKeyDefs = ctx.state.outsideForeignKeyDefs ?? [];
    await ctx.write((tx) =>
      tx.updateSnapshot(ctx.params.snapshotId, {
        backupKey: key,
        priorBackupKey: 'FULL',
        sizeBytes: dump.bytes,
        totalBackupSize: dump.bytes,
        sourceBytes,
        schemaInfo,
        fineGrained: { ...detail, dumpDir: dump.location, outsideForeignKeys, outsideForeignKeyDefs },
        updatedAt: ctx.clock.now(),
      }),
    );
    ctx.progress({ source: 'dwsbox', percent: 100, info: { key, priorKey: 'FULL', dumpBytes: dump.bytes } });
  },

  /** Undo: remove the dump, complete or partial (the snapshot is UNAVAILABLE). */
  DISCARD_DUMP: async (ctx: Ctx): Promise<void> => {
    const s = await ctx.store.getSnapshotById(ctx.params.snapshotId);
    if (s) await ctx.dataPlane.removeDump(s.stanza, s.id);
    ctx.progress({ source: 'dwsbox', percent: 100 });
  },
};
