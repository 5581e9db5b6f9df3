/**
 * The export of a table restore (D15), in its source (the temporary copy, or the scratch
 * database): the tables renamed to their targets with their dependents, measured, and dumped
 * with `pg_dump -Fc -t` into the work directory, progress per table.
 */
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { NodeRecord } from '../../domain/records.js';
import { derivedName, tableName, uniqueName, type TableRef } from '../../domain/table-names.js';
import { AppError } from '../../errors/app-error.js';
import type { ClusterRef, RunOptions } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import { tableProgress } from '../logical-progress.js';
import type { ExportSource, Exported, ExportedTable, TablePair, TableRestoreWork } from '../logical-plane.js';
import { baseEnv, startTool, whilePolling } from '../pg-exec.js';
import { ident, SUPERUSER_SESSION_OPTIONS, type PgInstance } from '../pg-instance.js';
import { relationsIn } from './logical-catalog.js';
import { conninfoValue } from './restore-login.js';
import { dumpFile, exportServer, toolAppName } from './restore-work.js';
import { withSession } from './sessions.js';
import { toolRun } from './tool-run.js';

/** In the source database, this schema marks "the renames are done" (created in their transaction). */
const MARKER_SCHEMA = 'dwsbox_table_restore_renamed';
const ALTER_OF_KIND: Record<string, string> = {
  r: 'table',
  p: 'table',
  S: 'sequence',
  i: 'index',
  I: 'index',
  v: 'view',
  m: 'materialized view',
  f: 'foreign table',
  c: 'type',
};
/** The COPY of a tool, found by its application name. */
export const COPY_PROGRESS = `select p.relid::int8::text as relid, p.tuples_processed::text as done, p.bytes_processed::text as bytes
  from pg_stat_progress_copy p join pg_stat_activity a on a.pid = p.pid where a.application_name = $1`;

const qualified = (t: TableRef): string => `${ident(t.schema)}.${ident(t.name)}`;

/** Rename the tables in the source (idempotent), then measure them. */
export async function prepareExport(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  work: TableRestoreWork,
  from: { source: ExportSource; database: string; tables: TablePair[] },
): Promise<Exported> {
  const schemas = [...new Set(from.tables.map((t) => t.target.schema))];
  const liveNames = await withSession(e.instance(cluster, primary), from.database, (c) => relationNames(c, schemas));
  const { inst, database } = exportServer(e, cluster, primary, work, from.source, from.database);
  return withSession(inst, database, async (c) => {
    await renameInSource(c, from.database, from.tables, liveNames);
    return measure(c, from.tables);
  });
}

/** Relation names per schema in the cluster's database (what renamed indexes and sequences must avoid). */
async function relationNames(c: pg.Client, schemas: string[]): Promise<Map<string, Set<string>>> {
  const r = await c.query<{ schema: string; name: string }>(
    'select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = any($1)',
    [schemas],
  );
  const m = new Map<string, Set<string>>();
  for (const x of r.rows) m.set(x.schema, (m.get(x.schema) ?? new Set()).add(x.name));
  return m;
}

/**
 * In the source database, in one transaction: every source table moves to a staging name,
 * whatever is in the way of a target name moves aside, each table moves to its target schema
 * (created if needed) and name, and its indexes, constraints and owned sequences are renamed
 * after it — avoiding every relation name the cluster's target schemas already use, so the
 * import cannot collide. Idempotent through the marker schema.
 */
async function renameInSource(c: pg.Client, database: string, pairs: TablePair[], liveNames: Map<string, Set<string>>): Promise<void> {
  if ((await c.query('select 1 from pg_namespace where nspname = $1', [MARKER_SCHEMA])).rowCount) return;
  await c.query('begin');
  try {
    const oids: number[] = [];
    for (const p of pairs) {
      const found = (await relationsIn(c, [p.source]))[0];
      if (!found || !['r', 'p'].includes(found.kind))
        throw new AppError('TABLE_NOT_FOUND', { args: [`${tableName(p.source)} is not a table in database ${database} of the snapshot`] });
      if (found.kind === 'p')
        throw new AppError('NOT_SUPPORTED', {
          args: ['Restoring a partitioned table', `${tableName(p.source)}: restore its partitions one by one`],
        });
      oids.push(found.oid);
    }
    for (const [i, p] of pairs.entries()) await c.query(`alter table ${qualified(p.source)} rename to ${ident(`dwsbox_tr_${i}`)}`);
    let aside = 0;
    for (const p of pairs) {
      await c.query(`create schema if not exists ${ident(p.target.schema)}`);
      for (const x of await relationsIn(c, [p.target])) {
        await c.query(`alter ${ALTER_OF_KIND[x.kind] ?? 'table'} ${qualified(x.ref)} rename to ${ident(`dwsbox_aside_${aside++}`)}`);
      }
      // A free-standing type of that name would block the table's row type.
      const ty = await c.query(
        'select 1 from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = $1 and t.typname = $2',
        [p.target.schema, p.target.name],
      );
      if (ty.rowCount) await c.query(`alter type ${qualified(p.target)} rename to ${ident(`dwsbox_aside_${aside++}`)}`);
    }
    for (const [i, p] of pairs.entries()) {
      const staged = ident(`dwsbox_tr_${i}`);
      if (p.source.schema !== p.target.schema)
        await c.query(`alter table ${ident(p.source.schema)}.${staged} set schema ${ident(p.target.schema)}`);
      await c.query(`alter table ${ident(p.target.schema)}.${staged} rename to ${ident(p.target.name)}`);
    }
    for (const [i, p] of pairs.entries()) await renameDependents(c, oids[i]!, p, liveNames.get(p.target.schema) ?? new Set());
    await c.query(`create schema ${ident(MARKER_SCHEMA)}`);
    await c.query('commit');
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  }
}

/** Indexes (with the constraints they back), other constraints and owned sequences of one table, renamed after it. */
async function renameDependents(c: pg.Client, oid: number, p: TablePair, live: Set<string>): Promise<void> {
  const schema = p.target.schema;
  const tbl = qualified(p.target);
  // Relation names in the schema (source and cluster) that a renamed index or sequence must avoid.
  const mine = await c.query<{ name: string }>(
    `select c.relname as name from pg_class c where c.oid in (select indexrelid from pg_index where indrelid = $1)
     union all select s.relname from pg_depend d join pg_class s on s.oid = d.objid
      where d.refobjid = $1 and d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and s.relkind = 'S' and d.deptype in ('a', 'i')`,
    [oid],
  );
  const ownNames = new Set(mine.rows.map((r) => r.name));
  const inSchema = await c.query<{ name: string }>(
    'select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1',
    [schema],
  );
  const taken = new Set<string>([...live, ...inSchema.rows.map((r) => r.name).filter((n) => !ownNames.has(n))]);
  taken.add(p.target.name);

  const cons = await c.query<{ name: string; type: string; index: string }>(
    `select conname as name, contype::text as type, conindid::int8::text as index from pg_constraint where conrelid = $1 order by conname`,
    [oid],
  );
  const renamedIndexes = new Set<string>();
  const constraintNames = new Set(cons.rows.map((r) => r.name));
  for (const con of cons.rows) {
    const want = derivedName(con.name, p.source.name, p.target.name);
    if (['p', 'u', 'x'].includes(con.type)) {
      // The constraint and its index share one name, unique among the schema's relations.
      const name = uniqueName(want, taken);
      if (name !== con.name) await c.query(`alter table ${tbl} rename constraint ${ident(con.name)} to ${ident(name)}`);
      renamedIndexes.add(con.index);
    } else if (want !== con.name && !constraintNames.has(want)) {
      await c.query(`alter table ${tbl} rename constraint ${ident(con.name)} to ${ident(want)}`);
      constraintNames.add(want);
    }
  }
  const idx = await c.query<{ oid: string; name: string }>(
    `select i.indexrelid::int8::text as oid, x.relname as name from pg_index i join pg_class x on x.oid = i.indexrelid where i.indrelid = $1 order by x.relname`,
    [oid],
  );
  for (const r of idx.rows) {
    if (renamedIndexes.has(r.oid)) continue;
    const name = uniqueName(derivedName(r.name, p.source.name, p.target.name), taken);
    if (name !== r.name) await c.query(`alter index ${ident(schema)}.${ident(r.name)} rename to ${ident(name)}`);
  }
  const seqs = await c.query<{ name: string; schema: string }>(
    `select s.relname as name, n.nspname as schema from pg_depend d join pg_class s on s.oid = d.objid join pg_namespace n on n.oid = s.relnamespace
      where d.refobjid = $1 and d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and s.relkind = 'S' and d.deptype in ('a', 'i') order by 1`,
    [oid],
  );
  for (const s of seqs.rows) {
    const name = uniqueName(derivedName(s.name, p.source.name, p.target.name), taken);
    if (name !== s.name) await c.query(`alter sequence ${ident(s.schema)}.${ident(s.name)} rename to ${ident(name)}`);
  }
}

/**
 * Facts about the renamed tables in the source database: rows (exact), size, indexes, owner,
 * and their foreign keys. This session is dwsbox's superuser, and a scratch database is its
 * owner's (the tenant's administrator) to connect to meanwhile: so each table is locked by
 * name first, and counted only when the name still means that table (D32: row counts read
 * tables, not whatever a name now points at; a view swapped in would run the tenant's
 * functions as superuser). A name that no longer means a table fails with VERIFY_FAILED.
 */
async function measure(c: pg.Client, pairs: TablePair[]): Promise<Exported> {
  const tables: ExportedTable[] = [];
  for (const p of pairs) {
    await c.query('begin');
    try {
      // Held until commit: no one can rename, drop or replace the table while it is measured.
      await c.query(`lock table ${qualified(p.target)} in access share mode`);
      const r = await c.query<{ oid: string; kind: string; bytes: string; indexes: number; owner: string }>(
        `select c.oid::int8::text as oid, c.relkind::text as kind, pg_total_relation_size(c.oid)::text as bytes,
                (select count(*)::int from pg_index where indrelid = c.oid) as indexes, pg_get_userbyid(c.relowner) as owner
           from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2`,
        [p.target.schema, p.target.name],
      );
      const row = r.rows[0];
      if (!row)
        throw new AppError('VERIFY_FAILED', {
          args: [`table ${tableName(p.target)} is missing from the restore's source after the renames`],
        });
      if (row.kind !== 'r') {
        throw new AppError('VERIFY_FAILED', {
          args: [
            `${tableName(p.target)} is no longer a table in the restore's source (relkind ${row.kind}): it was replaced while the restore ran; nothing was imported, restore the table again`,
          ],
        });
      }
      const n = await c.query<{ n: string }>(`select count(*)::text as n from ${qualified(p.target)}`);
      await c.query('commit');
      tables.push({
        source: p.source,
        target: p.target,
        oid: Number(row.oid),
        rows: Number(n.rows[0]?.n ?? 0),
        bytes: Number(row.bytes),
        indexes: row.indexes,
        owner: row.owner,
      });
    } catch (err) {
      await c.query('rollback').catch(() => {});
      throw err;
    }
  }
  const fk = await c.query<{ oid: string; table: string; name: string; schema: string; ref: string }>(
    `select con.oid::int8::text as oid, con.conrelid::regclass::text as table, con.conname as name, rn.nspname as schema, rc.relname as ref
       from pg_constraint con join pg_class rc on rc.oid = con.confrelid join pg_namespace rn on rn.oid = rc.relnamespace
      where con.contype = 'f' and con.conrelid = any($1::oid[])`,
    [tables.map((t) => t.oid)],
  );
  return {
    tables,
    fks: fk.rows.map((f) => ({ oid: Number(f.oid), table: f.table, name: f.name, ref: { schema: f.schema, name: f.ref } })),
  };
}

/** Over the unix socket as postgres, with the work's application name (its COPY is found by it in pg_stat_progress_copy). */
const socketConninfo = (inst: PgInstance, database: string, app: string): string =>
  `host=${conninfoValue(inst.spec.sockDir)} port=${conninfoValue(inst.spec.port)} user=postgres dbname=${conninfoValue(database)} application_name=${conninfoValue(app)}`;

/**
 * `pg_dump -Fc -t …` of the renamed tables into the work's dump (written as `.part`, renamed
 * once pg_dump exits 0; a finished dump is kept). Progress per table from pg_dump's own lines
 * and, while a table's COPY runs, its rows (polled one query at a time; an answer that comes
 * after pg_dump ended is dropped).
 */
export async function exportTables(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  work: TableRestoreWork,
  from: { source: ExportSource; database: string; tables: ExportedTable[] },
  o: RunOptions = {},
): Promise<{ dumpBytes: number }> {
  const dump = dumpFile(e, work);
  const tables = from.tables;
  if (!existsSync(dump)) {
    const { inst, database } = exportServer(e, cluster, primary, work, from.source, from.database);
    const app = toolAppName(work, 'dump');
    const part = `${dump}.part`;
    rmSync(part, { force: true });
    let current = 0;
    let rowsDone = 0;
    const emit = (source: string): void => {
      o.onProgress?.({
        source,
        ...tableProgress(tables, current, rowsDone),
        data: { rowsDone, table: tables[current] ? tableName(tables[current]!.target) : null, tableIndex: current },
      });
    };
    const tool = startTool({
      cmd: join(e.bins.binDir, 'pg_dump'),
      // Light compression: the file only lives in the work directory, and the CPU is the bottleneck.
      args: [
        '-d',
        socketConninfo(inst, database, app),
        '-Fc',
        '-Z',
        '1',
        '--strict-names',
        '--verbose',
        '-f',
        part,
        ...tables.flatMap((t) => ['-t', qualified(t.target)]),
      ],
      env: baseEnv({ PGOPTIONS: SUPERUSER_SESSION_OPTIONS }),
      runAs: e.projectUser(work.projectId),
      ...toolRun(o, e.lockFile(work.clusterId)),
      logger: e.log,
      label: 'pg_dump',
      timeoutMs: 24 * 3600_000,
      waitingFor: 'pg_dump to dump the next rows',
      onLine: (line) => {
        // `pg_dump: dumping contents of table "s.t"`: the tables before it are done.
        const m = /dumping contents of table "(.*)"$/.exec(line);
        if (!m) return;
        const i = tables.findIndex((t) => tableName(t.target) === m[1]);
        if (i >= 0 && i !== current) {
          current = i;
          rowsDone = 0;
          emit('pg_dump --verbose');
        }
      },
    });
    const byOid = new Map(tables.map((t, i) => [t.oid, i]));
    try {
      await whilePolling(tool.done, 300, async (running) => {
        const r = (await inst.query<{ relid: string; done: string }>(COPY_PROGRESS, [app], 'postgres', 2000))[0];
        if (!running() || !r) return;
        const i = byOid.get(Number(r.relid));
        if (i === undefined) return;
        tool.touch();
        current = i;
        rowsDone = Number(r.done);
        emit('pg_stat_progress_copy');
      });
    } catch (err) {
      rmSync(part, { force: true });
      throw err;
    }
    renameSync(part, dump);
  }
  return { dumpBytes: statSync(dump).size };
}
