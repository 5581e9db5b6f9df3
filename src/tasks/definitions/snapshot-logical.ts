/**
 * The steps of a schema- or table-level (logical) snapshot: snapshot.create with a `level`
 * param (SNAPSHOTTING, actionType "Backup", the same task-details endpoint and failure
 * handling as a cluster-level one). A `pg_dump -Fd -j` of exactly the schemas or tables
 * asked for, from the cluster's primary, into `<dataDir>/logical/<stanza>/<snapshot id>`.
 * Progress (D14): source bytes of the tables dumped (finished tables whole, running ones by
 * their COPY's rows), and the bytes pg_dump has written into the dump directory.
 *
 * MUST NOT: leave a partial dump behind. pg_dump writes into `<dir>.part`, renamed only once
 * it exits 0; a failed run removes it at once, and the undo step removes both.
 *
 * Fair shares (tasks/snapshot-room.ts): before pg_dump starts, the project's quotas and the
 * data directory's free space are checked again for the tables' size.
 */
import { renameSync } from 'node:fs';
import { removeTree } from '../../dataplane/safe-fs.js';
import { join } from 'node:path';
import type { FineGrainedDetail, OutsideForeignKey, SchemaInfo } from '../../domain/records.js';
import { backupKeyTime } from '../../domain/time.js';
import { AppError, isAppError } from '../../errors/app-error.js';
import type { OsUser } from '../../dataplane/os-user.js';
import { baseEnv, runTool, startTool, whilePolling } from '../../dataplane/pg-exec.js';
import { dirSize, ident, type PgInstance } from '../../dataplane/pg-instance.js';
import { isCompleteDump, logicalDumpDir, partialDumpDir, prepareStanzaDumpDir, removeDump, tableRefsOf } from '../../dataplane/logical-dump.js';
import type { StepContext, StepSpec } from '../definition.js';
import { primaryOf } from './common.js';
import { parseTocLine } from './table-restore.js';
import { estimateBackupBytes } from '../../domain/snapshot-space.js';
import { checkFreeSpace, checkSnapshotQuota } from '../snapshot-room.js';

export interface LogicalSnapshotParams {
  clusterId: string;
  snapshotId: string;
  level?: 'schema' | 'table' | undefined;
}

/** A table the dump holds, as the primary's catalog showed it right before the dump. */
export interface DumpedTable {
  schema: string; name: string; oid: number; rows: number; bytes: number;
  /** a partitioned table (schema level): a definition in the dump, its rows are in its partitions */
  partitioned?: boolean;
}

type Ctx = StepContext<LogicalSnapshotParams>;

/** pg_dump jobs: the host has few cores, and each job is a backend on the primary. */
const DUMP_JOBS = 2;

export const LOGICAL_PLAN: StepSpec[] = [
  { id: 'CHECK_OBJECTS', item: 'CREATE_SNAPSHOT', weight: 0.1 },
  { id: 'DUMP_OBJECTS', item: 'CREATE_SNAPSHOT', weight: 1, runsTools: true },
  { id: 'VERIFY_DUMP', item: 'CREATE_SNAPSHOT', weight: 0.05, runsTools: true },
  { id: 'RECORD_DUMP', item: 'CREATE_SNAPSHOT', weight: 0.05 },
];

export const isLogical = (p: { level?: string | undefined }): boolean => p.level === 'schema' || p.level === 'table';

const qualified = (t: { schema: string; name: string }): string => `${ident(t.schema)}.${ident(t.name)}`;
/** A libpq conninfo value, quoted. */
const cv = (v: string | number): string => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

async function detailOf(ctx: Ctx): Promise<{ stanza: string; detail: FineGrainedDetail }> {
  const s = await ctx.store.getSnapshotById(ctx.params.snapshotId);
  if (!s) throw new AppError('SNAPSHOT_NOT_FOUND', { args: [ctx.params.snapshotId] });
  if (!s.fineGrained) throw new AppError('VERIFY_FAILED', { args: [`snapshot ${s.id} has no schema or table list`] });
  return { stanza: s.stanza, detail: s.fineGrained };
}

/** The OS user of the task's project (D32): its tools run as it and it owns what they write. */
const osOf = (ctx: Ctx): OsUser => ctx.dataPlane.projectUser(ctx.task.projectId);

async function primaryInstance(ctx: Ctx): Promise<PgInstance> {
  const cluster = await ctx.cluster();
  const primary = primaryOf((await ctx.nodes()).filter((n) => n.membership === 'active'));
  if (!ctx.dataPlane.nodeStatus(cluster, primary)) throw new AppError('ENGINE_NODE_FAILED', { args: [primary.host, 'the primary is not running; restart the cluster, then take the snapshot again'] });
  return ctx.dataPlane.instance(cluster, primary);
}

const tablesOf = (ctx: Ctx): DumpedTable[] => {
  const t = ctx.state['tables'] as DumpedTable[] | undefined;
  if (!t) throw new AppError('VERIFY_FAILED', { args: ['the object check left no list of tables'] });
  return t;
};

/** Weighted source bytes done: finished tables whole, running ones by rows copied. */
function bytesDone(tables: DumpedTable[], finished: Set<number>, running: Map<number, number>): { done: number; total: number } {
  let done = 0;
  let total = 0;
  for (const t of tables) {
    const w = Math.max(t.bytes, 1);
    total += w;
    if (finished.has(t.oid)) done += w;
    else if (running.has(t.oid) && t.rows > 0) done += w * Math.min(0.99, running.get(t.oid)! / t.rows);
  }
  return { done: Math.round(done), total };
}

export const logicalSteps = {
  /**
   * The database, schemas and tables still exist (they were checked at request time, but
   * time has passed); the tables to dump, with their sizes, and the foreign keys that point
   * outside the dump are recorded.
   */
  CHECK_OBJECTS: async (ctx: Ctx): Promise<void> => {
    const { detail } = await detailOf(ctx);
    const inst = await primaryInstance(ctx);
    const db = await inst.query<{ n: number }>('select count(*)::int as n from pg_database where datname = $1 and datallowconn', [detail.database]);
    if (!db[0]?.n) throw new AppError('DATABASE_NOT_FOUND', { message: `Database ${detail.database} does not exist in the cluster any more.` });
    let tables: DumpedTable[];
    const TABLE_FACTS = `c.oid::int8::text as oid, greatest(c.reltuples, 0)::bigint::text as rows, pg_table_size(c.oid)::text as bytes`;
    if (detail.level === 'schema') {
      const have = new Set((await inst.query<{ s: string }>('select nspname as s from pg_namespace where nspname = any($1::text[])', [detail.schemas], detail.database)).map((r) => r.s));
      const missing = detail.schemas.filter((s) => !have.has(s));
      if (missing.length) throw new AppError('SCHEMA_NOT_FOUND', { message: `Schema does not exist in database ${detail.database}: ${missing.join(', ')}` });
      const rows = await inst.query<{ schema: string; name: string; kind: string; oid: string; rows: string; bytes: string }>(
        `select n.nspname as schema, c.relname as name, c.relkind::text as kind, ${TABLE_FACTS} from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = any($1::text[]) and c.relkind in ('r', 'p') order by 1, 2`, [detail.schemas], detail.database);
      tables = rows.map((r) => ({ schema: r.schema, name: r.name, oid: Number(r.oid), rows: Number(r.rows), bytes: Number(r.bytes), ...(r.kind === 'p' ? { partitioned: true } : {}) }));
    } else {
      const refs = tableRefsOf(detail);
      const rows = await inst.query<{ schema: string; name: string; kind: string; oid: string; rows: string; bytes: string }>(
        `select n.nspname as schema, c.relname as name, c.relkind::text as kind, ${TABLE_FACTS} from pg_class c join pg_namespace n on n.oid = c.relnamespace
           join unnest($1::text[], $2::text[]) as w(s, t) on w.s = n.nspname and w.t = c.relname`,
        [refs.map((r) => r.schema), refs.map((r) => r.name)], detail.database);
      const byKey = new Map(rows.filter((r) => r.kind === 'r').map((r) => [`${r.schema}\u0000${r.name}`, r]));
      const missing = refs.filter((r) => !byKey.has(`${r.schema}\u0000${r.name}`));
      if (missing.length) throw new AppError('TABLE_NOT_FOUND', { args: [`${missing.map((r) => `${r.schema}.${r.name}`).join(', ')} (not a table in database ${detail.database})`] });
      tables = refs.map((r) => {
        const x = byKey.get(`${r.schema}\u0000${r.name}`)!;
        return { schema: x.schema, name: x.name, oid: Number(x.oid), rows: Number(x.rows), bytes: Number(x.bytes) };
      });
    }
    // Foreign keys to tables outside the dump, with their definitions written with an empty
    // search_path (so the referenced table is schema-qualified).
    const c = await inst.connect(detail.database);
    let fks: OutsideForeignKey[];
    try {
      await c.query(`set search_path = ''`);
      fks = (await c.query<{ oid: string; schema: string; table: string; name: string; definition: string }>(
        `select con.oid::int8::text as oid, n.nspname as schema, r.relname as table, con.conname as name, pg_get_constraintdef(con.oid) as definition
           from pg_catalog.pg_constraint con join pg_catalog.pg_class r on r.oid = con.conrelid join pg_catalog.pg_namespace n on n.oid = r.relnamespace
          where con.contype = 'f' and con.conrelid = any($1::oid[]) and not (con.confrelid = any($1::oid[])) order by 1`,
        [tables.map((t) => t.oid)])).rows.map((r) => ({ oid: Number(r.oid), schema: r.schema, table: r.table, name: r.name, definition: r.definition }));
    } finally {
      await c.end().catch(() => {});
    }
    await ctx.setState({ tables, outsideForeignKeys: fks.map((r) => r.oid), outsideForeignKeyDefs: fks });
    ctx.progress({ source: 'pg_catalog', percent: 100, info: { database: detail.database, tables: tables.length, sourceBytes: tables.reduce((a, t) => a + t.bytes, 0) } });
  },

  /** `pg_dump -Fd -j` of exactly the schemas (`-n`) or tables (`-t`) asked for, `--strict-names`. */
  DUMP_OBJECTS: async (ctx: Ctx): Promise<void> => {
    const { stanza, detail } = await detailOf(ctx);
    const tables = tablesOf(ctx);
    const dataDir = ctx.dataPlane.settings.dataDir;
    const dir = logicalDumpDir(dataDir, stanza, ctx.params.snapshotId);
    const part = partialDumpDir(dataDir, stanza, ctx.params.snapshotId);
    const total = tables.reduce((a, t) => a + Math.max(t.bytes, 1), 0);
    if (!isCompleteDump(dir)) {
      // A resumed step (after a crash or a retry) starts over: pg_dump cannot continue a dump.
      await removeDump(dataDir, stanza, ctx.params.snapshotId);
      const need = { kind: 'dump' as const, needBytes: estimateBackupBytes('dump', { databaseBytes: tables.reduce((a, t) => a + t.bytes, 0) }) };
      await checkSnapshotQuota(ctx.store, ctx.config, ctx.task.projectId, need, ctx.params.snapshotId);
      checkFreeSpace(ctx.dataPlane, ctx.config, need, ctx.log);
      prepareStanzaDumpDir(dataDir, stanza, osOf(ctx));
      const inst = await primaryInstance(ctx);
      const app = `dwsbox-${ctx.task.id.slice(0, 8)}-snapshot`;
      const conninfo = `host=${cv(inst.spec.sockDir)} port=${cv(inst.spec.port)} user=postgres dbname=${cv(detail.database)} application_name=${cv(app)}`;
      const objects = detail.level === 'schema' ? detail.schemas.flatMap((s) => ['-n', ident(s)]) : tableRefsOf(detail).flatMap((t) => ['-t', qualified(t)]);
      const finished = new Set<number>();
      const running = new Map<number, number>();
      const emit = (source: string): void => {
        const f = bytesDone(tables, finished, running);
        ctx.progress({
          source, bytesDone: f.done, bytesTotal: f.total, percent: Math.min(99.99, (100 * f.done) / f.total), consumedBytes: dirSize(part),
          compressedBytes: bytesDone(tables, finished, new Map()).done,
          data: { tablesDone: finished.size }, info: { tablesDone: finished.size, tablesTotal: tables.length, dumpBytes: dirSize(part), key: backupKeyTime(ctx.clock.now()) },
        });
      };
      const tool = startTool({
        cmd: join(ctx.dataPlane.bins.binDir, 'pg_dump'),
        args: [
          '-d', conninfo, '-Fd', '-j', String(Math.max(1, Math.min(DUMP_JOBS, tables.length))), '-Z', '1', '--strict-names', '--verbose',
          // Never wait for ever behind someone's exclusive lock: fail, and say so.
          `--lock-wait-timeout=${Math.max(1000, Math.floor(ctx.config.stepIdleTimeoutMs / 2))}`,
          '-f', part, ...objects,
        ],
        env: baseEnv(), runAs: osOf(ctx), lockFile: ctx.lockFile, signal: ctx.signal, logger: ctx.log, label: 'pg_dump',
        timeoutMs: 24 * 3600_000, idleTimeoutMs: ctx.config.stepIdleTimeoutMs, waitingFor: 'pg_dump to dump the next rows',
        onLine: (line) => {
          // -j: `pg_dump: finished item 3350 TABLE DATA orders` (the tag has no schema); one job: `dumping contents of table "s.t"`.
          const fin = /finished item \d+ TABLE DATA (.*)$/.exec(line);
          const start = /dumping contents of table "(.*)"$/.exec(line);
          if (fin) {
            const t = tables.find((x) => x.name === fin[1] && !finished.has(x.oid));
            if (t) finished.add(t.oid);
            if (t) running.delete(t.oid);
            emit('pg_dump --verbose');
          } else if (start) {
            const t = tables.find((x) => `${x.schema}.${x.name}` === start[1]);
            if (t && !running.has(t.oid)) running.set(t.oid, 0);
            emit('pg_dump --verbose');
          }
        },
      });
      emit('pg_dump');
      let ended = false;
      const tick = (): void => {
        void inst.query<{ relid: string; done: string }>(
          `select p.relid::int8::text as relid, p.tuples_processed::text as done from pg_stat_progress_copy p join pg_stat_activity a on a.pid = p.pid where a.application_name = $1`,
          [app], 'postgres', 2000,
        ).then((rows) => {
          // A poll answered after pg_dump ended must not follow the step's final (100 %) sample.
          if (ended) return;
          if (rows.length) tool.touch();
          for (const r of rows) if (!finished.has(Number(r.relid))) running.set(Number(r.relid), Number(r.done));
          emit('pg_stat_progress_copy');
        }).catch(() => {});
      };
      try {
        await whilePolling(tool.done, 300, tick);
      } catch (e) {
        await removeTree(part);
        throw toolError(e);
      } finally {
        ended = true;
      }
      if (!isCompleteDump(part)) {
        await removeTree(part);
        throw new AppError('VERIFY_FAILED', { args: [`pg_dump exited 0 but wrote no table of contents into ${part}`] });
      }
      renameSync(part, dir);
    }
    const size = dirSize(dir);
    ctx.progress({
      source: 'pg_dump', bytesDone: total, bytesTotal: total, percent: 100, consumedBytes: size, compressedBytes: total,
      data: { dumpBytes: size }, info: { tablesDone: tables.length, tablesTotal: tables.length, dumpBytes: size },
    });
  },

  /** `pg_restore -l`: the dump holds exactly the tables (and, at schema level, the schemas) asked for. */
  VERIFY_DUMP: async (ctx: Ctx): Promise<void> => {
    const { stanza, detail } = await detailOf(ctx);
    const tables = tablesOf(ctx);
    const dir = logicalDumpDir(ctx.dataPlane.settings.dataDir, stanza, ctx.params.snapshotId);
    const toc = await runTool({
      cmd: join(ctx.dataPlane.bins.binDir, 'pg_restore'), args: ['-l', dir], env: baseEnv(), runAs: osOf(ctx), lockFile: ctx.lockFile, signal: ctx.signal,
      logger: ctx.log, label: 'pg_restore -l', timeoutMs: 10 * 60_000,
    });
    const entries = toc.stdout.split('\n').map((l) => ({ line: l, e: parseTocLine(l) })).filter((x) => x.e);
    const tableOids = new Set(entries.filter((x) => x.e!.desc === 'TABLE').map((x) => x.e!.objectOid));
    const dataOids = new Set(entries.filter((x) => x.e!.desc === 'TABLE DATA').map((x) => x.e!.objectOid));
    const want = new Set(tables.map((t) => t.oid));
    const problems: string[] = [];
    for (const t of tables) {
      if (!tableOids.has(t.oid)) problems.push(`table ${t.schema}.${t.name} is not in the dump`);
      if (!t.partitioned && !dataOids.has(t.oid)) problems.push(`the rows of ${t.schema}.${t.name} are not in the dump`);
    }
    const extra = [...tableOids].filter((o) => !want.has(o));
    if (extra.length) problems.push(`the dump holds ${extra.length} table(s) that were not asked for`);
    if (detail.level === 'table' && entries.some((x) => x.e!.desc === 'SCHEMA')) problems.push('a table-level dump holds a schema');
    if (problems.length) throw new AppError('VERIFY_FAILED', { args: [problems.join('; ')] });
    ctx.progress({ source: 'pg_restore -l', percent: 100, info: { tocEntries: entries.length, tables: tables.length } });
  },

  /** Size (the dump's real bytes), key, and each dumped table (D16), recorded on the snapshot. */
  RECORD_DUMP: async (ctx: Ctx): Promise<void> => {
    const { stanza, detail } = await detailOf(ctx);
    const tables = tablesOf(ctx);
    const dir = logicalDumpDir(ctx.dataPlane.settings.dataDir, stanza, ctx.params.snapshotId);
    if (!isCompleteDump(dir)) throw new AppError('VERIFY_FAILED', { args: [`the dump ${dir} disappeared`] });
    const size = dirSize(dir);
    const sourceBytes = tables.reduce((a, t) => a + t.bytes, 0);
    const schemaInfo: SchemaInfo = { databases: [{ name: detail.database, sizeBytes: sourceBytes, tables: tables.map((t) => ({ schema: t.schema, name: t.name, rows: t.rows, bytes: t.bytes })) }] };
    const s = await ctx.store.getSnapshotById(ctx.params.snapshotId);
    const key = backupKeyTime(s?.startedAt ?? ctx.clock.now());
    const outsideForeignKeys = (ctx.state['outsideForeignKeys'] as number[] | undefined) ?? [];
    const outsideForeignKeyDefs = (ctx.state['outsideForeignKeyDefs'] as OutsideForeignKey[] | undefined) ?? [];
    await ctx.write((tx) => tx.updateSnapshot(ctx.params.snapshotId, {
      backupKey: key, priorBackupKey: 'FULL', sizeBytes: size, totalBackupSize: size, sourceBytes, schemaInfo,
      fineGrained: { ...detail, dumpDir: dir, outsideForeignKeys, outsideForeignKeyDefs }, updatedAt: ctx.clock.now(),
    }));
    ctx.progress({ source: 'dwsbox', percent: 100, info: { key, priorKey: 'FULL', dumpBytes: size } });
  },

  /** Undo: remove the dump, complete or partial (the snapshot is UNAVAILABLE). */
  DISCARD_DUMP: async (ctx: Ctx): Promise<void> => {
    const s = await ctx.store.getSnapshotById(ctx.params.snapshotId);
    if (s) await removeDump(ctx.dataPlane.settings.dataDir, s.stanza, s.id);
    ctx.progress({ source: 'dwsbox', percent: 100 });
  },
};

/** pg_dump's own words: its `error:` lines (with --verbose, the last lines are mostly progress). */
function toolError(e: unknown): unknown {
  if (!isAppError(e) || e.code !== 'ENGINE_COMMAND_FAILED') return e;
  const stderr = String((e.details as { stderr?: unknown } | undefined)?.stderr ?? '');
  const said = stderr.split('\n').filter((l) => /error:|detail:|FATAL|ERROR/.test(l)).slice(-6).join('\n');
  return said ? new AppError('ENGINE_COMMAND_FAILED', { args: ['pg_dump', said], ...(e.details ? { details: e.details } : {}), cause: e }) : e;
}
