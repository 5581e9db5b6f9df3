/**
 * snapshot.table_restore (FINE_GRAINED_RESTORING, actionType "TableRestore"), design D15:
 * chosen tables come back from a snapshot into the snapshot's (live) cluster, under the names
 * asked for. The snapshot is restored into a temporary instance (D4: unix socket only, no
 * archiving, only the one database); there each table and its indexes, constraints and owned
 * sequences are renamed to the target names, `pg_dump -Fc -t` dumps them, and
 * `pg_restore --single-transaction -L <filtered list>` loads them into the cluster's primary;
 * row and index counts are compared with the temporary instance before the task succeeds.
 *
 * From a schema- or table-level (logical) snapshot (`viaScratchDatabase`), the same result is
 * reached without a temporary instance: the snapshot's `pg_dump -Fd` is loaded into a scratch
 * database on the cluster's own primary, the renames, the export and the import run as above
 * with the scratch database as their source, and the scratch database is dropped.
 *
 * MUST NOT: overwrite or drop a table that existed before this task (an existing target is
 * refused, at request time and again right before the import), write into the source stanza,
 * or leave the temporary instance or the scratch database behind (the last step and the undo
 * both remove them).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { isCompleteDump } from '../../dataplane/logical-dump.js';
import { dirname, join } from 'node:path';
import pg from 'pg';
import type { SnapshotRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { OsUser } from '../../dataplane/os-user.js';
import { startTool, runTool, baseEnv, whilePolling } from '../../dataplane/pg-exec.js';
import { ident, literal, writeOwned, type PgInstance } from '../../dataplane/pg-instance.js';
import { restoreSet, waitPromoted } from '../../dataplane/pg-restore.js';
import { scramVerifier } from '../../dataplane/scram.js';
import type { StepContext, TaskDefinition } from '../definition.js';
import { primaryOf } from './common.js';

export interface TableRef { schema: string; name: string }
export interface TableRestoreParams {
  /** the snapshot's cluster: the tables come back into it */
  clusterId: string;
  snapshotId: string;
  /** the same cluster (faults address restores by their source cluster) */
  sourceClusterId: string;
  database: string;
  /** source (in the snapshot) → target (in the cluster), names already folded */
  tables: { source: TableRef; target: TableRef }[];
  /** a logical snapshot: through a scratch database on the cluster instead of a temporary instance (D15) */
  viaScratchDatabase?: boolean;
}

/** What the export measured in the temporary instance, after the renames. */
interface ExportedTable { source: TableRef; target: TableRef; oid: number; rows: number; bytes: number; indexes: number; owner: string }
interface ExportedFk { oid: number; table: string; name: string; ref: TableRef }
interface Exported { tables: ExportedTable[]; fks: ExportedFk[] }
interface Imported { target: TableRef; oid: number }

type Ctx = StepContext<TableRestoreParams>;

/** pgBackRest always restores these, and refuses them in --db-include. */
const SYSTEM_DATABASES = new Set(['postgres', 'template0', 'template1']);
/** In the temporary database, this schema marks "the renames are done" (created in their transaction). */
const MARKER_SCHEMA = 'dwsbox_table_restore_renamed';
/** pg_restore -l entries that make up a table with what D15 restores. */
const KEPT_DESCS = new Set(['TABLE', 'TABLE DATA', 'SEQUENCE', 'SEQUENCE SET', 'SEQUENCE OWNED BY', 'DEFAULT', 'CONSTRAINT', 'CHECK CONSTRAINT', 'INDEX', 'FK CONSTRAINT']);
/** Every TOC description a -t dump may hold, longest first, so `TABLE ATTACH` is never read as `TABLE`. */
const KNOWN_DESCS = [
  'MATERIALIZED VIEW DATA', 'SEQUENCE OWNED BY', 'CONSTRAINT TRIGGER', 'MATERIALIZED VIEW', 'CHECK CONSTRAINT', 'STATISTICS DATA', 'FK CONSTRAINT',
  'SEQUENCE SET', 'TABLE ATTACH', 'INDEX ATTACH', 'ROW SECURITY', 'DEFAULT ACL', 'TABLE DATA', 'STATISTICS', 'CONSTRAINT', 'SEQUENCE', 'DEFAULT',
  'COMMENT', 'TRIGGER', 'POLICY', 'INDEX', 'TABLE', 'RULE', 'VIEW', 'ACL',
];

export const tableName = (t: TableRef): string => `${t.schema}.${t.name}`;
const qualified = (t: TableRef): string => `${ident(t.schema)}.${ident(t.name)}`;
const sameRef = (a: TableRef, b: TableRef): boolean => a.schema === b.schema && a.name === b.name;

/** A libpq conninfo value, quoted. */
const cv = (v: string | number): string => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
/** Over the unix socket as postgres, with an application_name of this task (its COPY is found by it in pg_stat_progress_copy). */
const conninfo = (inst: PgInstance, db: string, app: string): string =>
  `host=${cv(inst.spec.sockDir)} port=${cv(inst.spec.port)} user=postgres dbname=${cv(db)} application_name=${cv(app)}`;
const appNameOf = (ctx: Ctx): string => `dwsbox-${ctx.task.id.slice(0, 8)}-${ctx.stepId === 'EXPORT_TABLES' ? 'dump' : 'restore'}`;
const COPY_PROGRESS = `select p.relid::int8::text as relid, p.tuples_processed::text as done, p.bytes_processed::text as bytes
  from pg_stat_progress_copy p join pg_stat_activity a on a.pid = p.pid where a.application_name = $1`;

const NAME_MAX = 63;
/** Cut an identifier to PostgreSQL's 63 bytes without splitting a character. */
function fitName(s: string, room = NAME_MAX): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > room) break;
    out += ch;
  }
  return out;
}

/** Name of a dependent object after its table is renamed `from` → `to` (e.g. orders_pkey → orders_old_pkey). */
export function derivedName(old: string, from: string, to: string): string {
  if (from === to) return old;
  if (old === from || old.startsWith(`${from}_`)) return fitName(to + old.slice(from.length));
  return fitName(`${to}_${old}`);
}

/** A name not in `taken` (adds `_1`, `_2`, … when needed); the result is added to `taken`. */
function uniqueName(want: string, taken: Set<string>): string {
  let name = fitName(want);
  for (let i = 1; taken.has(name); i++) name = fitName(want, NAME_MAX - String(i).length - 1) + `_${i}`;
  taken.add(name);
  return name;
}

function tempOf(ctx: Ctx): PgInstance {
  return ctx.dataPlane.tempInstance(ctx.task.id, ctx.task.projectId);
}
/** The task's work directory, `<dataDir>/tmp/<task id>/work`, the PostgreSQL user's (beside the temporary instance's data, when there is one; D32). */
const workDirOf = (ctx: Ctx): string => join(dirname(tempOf(ctx).dataDir), 'work');
const dumpFileOf = (ctx: Ctx): string => join(workDirOf(ctx), 'tables.dump');
const listFileOf = (ctx: Ctx): string => join(workDirOf(ctx), 'tables.list');

/** The scratch database of a task (a logical snapshot's restore): named after the task, so it is always ours. */
export const scratchDatabaseName = (taskId: string): string => `dwsbox_scratch_${taskId.replace(/[^0-9a-f]/gi, '').slice(0, 20).toLowerCase()}`;

/** Where the tables are renamed and exported from: the temporary instance, or the scratch database on the primary. */
async function exportSource(ctx: Ctx): Promise<{ inst: PgInstance; db: string }> {
  if (ctx.params.viaScratchDatabase) return { inst: await primaryInstance(ctx), db: scratchDatabaseName(ctx.task.id) };
  return { inst: tempOf(ctx), db: ctx.params.database };
}

/**
 * Create the (empty) scratch database with the target database's encoding and locale, so
 * the rows and their sort order come through the scratch copy as they will be in the target.
 */
async function createScratch(ctx: Ctx, live: PgInstance): Promise<void> {
  const db = (await live.query<{ enc: string; collate: string; ctype: string }>(
    'select pg_encoding_to_char(encoding) as enc, datcollate as collate, datctype as ctype from pg_database where datname = $1', [ctx.params.database]))[0];
  if (!db) throw new AppError('DATABASE_NOT_FOUND', { message: `Database ${ctx.params.database} does not exist in the cluster: create it first, then restore the tables.` });
  const scratch = scratchDatabaseName(ctx.task.id);
  await live.query(
    `create database ${ident(scratch)} owner ${ident(await adminOf(ctx))} template template0 encoding ${literal(db.enc)} lc_collate ${literal(db.collate)} lc_ctype ${literal(db.ctype)}`,
    [], 'postgres', 10 * 60_000);
  // D32: not open to PUBLIC (only its owner, the administrator, and dwsbox connect).
  await live.query(`revoke all on database ${ident(scratch)} from public`);
}

/** Drop the scratch database (its sessions are ended first). Idempotent. */
async function dropScratch(ctx: Ctx): Promise<void> {
  const live = await primaryInstance(ctx);
  await live.query(`drop database if exists ${ident(scratchDatabaseName(ctx.task.id))} with (force)`, [], 'postgres', 10 * 60_000);
}

async function snapshotOf(ctx: Ctx): Promise<SnapshotRecord & { backupLabel: string }> {
  const s = await ctx.store.getSnapshotById(ctx.params.snapshotId);
  if (!s) throw new AppError('SNAPSHOT_NOT_FOUND', { args: [ctx.params.snapshotId] });
  if (s.fineGrained) return s as SnapshotRecord & { backupLabel: string };
  if (!s.backupLabel) throw new AppError('SNAPSHOT_NOT_RESTORABLE', { args: [s.id, 'it has no backup set'] });
  return s as SnapshotRecord & { backupLabel: string };
}

/** The cluster's administrator: tenant data is loaded and read with its rights (D32). */
async function adminOf(ctx: Ctx): Promise<string> {
  return (await ctx.cluster()).userName;
}

/** The OS user of the task's project (D32): its tools run as it and it owns what they write. */
const osOf = (ctx: Ctx): OsUser => ctx.dataPlane.projectUser(ctx.task.projectId);

async function primaryInstance(ctx: Ctx): Promise<PgInstance> {
  const cluster = await ctx.cluster();
  const primary = primaryOf((await ctx.nodes()).filter((n) => n.membership === 'active'));
  if (!ctx.dataPlane.nodeStatus(cluster, primary)) throw new AppError('ENGINE_NODE_FAILED', { args: [primary.host, 'the primary is not running; restart the cluster, then restore the tables again'] });
  return ctx.dataPlane.instance(cluster, primary);
}

/**
 * A session on `db` as dwsbox's superuser, for catalog reads and DDL that run no tenant code
 * (renames, drops, relation lists). What reads or loads the tenant's tables goes through
 * `withAdminLogin` instead.
 */
async function withClient<T>(inst: PgInstance, db: string, fn: (c: pg.Client) => Promise<T>, timeoutMs = 10 * 60_000): Promise<T> {
  const c = await inst.connect(db, timeoutMs);
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/** A login of the task's own for the cluster's primary (see `withAdminLogin`). */
interface AdminLogin { user: string; password: string; host: string; port: number; admin: string }

/** The task's login role: named after the task, so a run interrupted before it dropped it finds it again. */
export const loginRoleName = (taskId: string): string => `dwsbox_load_${taskId.replace(/[^0-9a-f]/gi, '').slice(0, 20).toLowerCase()}`;

/**
 * Run `fn` with a login that has the administrator's rights and nothing more (D32). Tenant
 * data is loaded (`pg_restore --role=<admin>`) and read (row counts, constraints) by a
 * session that authenticated as a non-superuser: a superuser's session under `SET ROLE`
 * would not do, since code the tenant planted (a CHECK constraint, a row-security policy, a
 * domain's check) runs inside it and can `RESET ROLE` or `SET SESSION AUTHORIZATION DEFAULT`
 * back to the superuser that authenticated. The role is made for the task — LOGIN,
 * NOSUPERUSER, a member of the administrator, a random password sent as a SCRAM verifier,
 * valid for a day at most — reached over TCP at the primary's address, and dropped after
 * `fn` (what it came to own in `db` goes to the administrator).
 */
async function withAdminLogin<T>(ctx: Ctx, db: string, fn: (l: AdminLogin) => Promise<T>): Promise<T> {
  const cluster = await ctx.cluster();
  const primary = primaryOf((await ctx.nodes()).filter((n) => n.membership === 'active'));
  const live = await primaryInstance(ctx);
  const admin = cluster.userName;
  const user = loginRoleName(ctx.task.id);
  const password = randomBytes(24).toString('base64url');
  await dropLoginRole(ctx, live, user, admin, db);
  const until = new Date(ctx.clock.now() + 24 * 3600_000).toISOString();
  await live.query(`create role ${ident(user)} login nosuperuser nocreatedb nocreaterole noreplication nobypassrls inherit valid until ${literal(until)} password ${literal(scramVerifier(password))}`);
  await live.query(`grant ${ident(admin)} to ${ident(user)}`);
  try {
    return await fn({ user, password, host: primary.host, port: primary.port, admin });
  } finally {
    await dropLoginRole(ctx, live, user, admin, db);
  }
}

/** Drop the task's login role (idempotent); one that cannot be dropped is at least made unable to log in. */
async function dropLoginRole(ctx: Ctx, live: PgInstance, user: string, admin: string, db: string): Promise<void> {
  if ((await live.query('select 1 from pg_roles where rolname = $1', [user])).length === 0) return;
  try {
    if ((await live.query('select 1 from pg_database where datname = $1', [db])).length) {
      await live.query(`reassign owned by ${ident(user)} to ${ident(admin)}`, [], db);
      await live.query(`drop owned by ${ident(user)}`, [], db);
    }
    await live.query(`drop role ${ident(user)}`);
  } catch (e) {
    await live.query(`alter role ${ident(user)} nologin`).catch(() => {});
    ctx.log.warn('the task\'s login role could not be dropped; it can no longer log in', { role: user, error: (e as Error).message });
  }
}

/** A tool's connection as the task's login (the password in a passfile of the project's user, 0600, removed with the work directory). */
function loginConninfo(ctx: Ctx, l: AdminLogin, db: string): string {
  const passfile = join(workDirOf(ctx), 'login.pgpass');
  writeOwned(passfile, `*:*:*:${l.user}:${l.password}\n`, osOf(ctx), 0o600);
  return `host=${cv(l.host)} port=${cv(l.port)} user=${cv(l.user)} dbname=${cv(db)} application_name=${cv(appNameOf(ctx))} passfile=${cv(passfile)}`;
}

/** A session on `db` with the administrator's rights (`withAdminLogin`). */
async function withAdminClient<T>(ctx: Ctx, db: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  return withAdminLogin(ctx, db, async (l) => {
    const c = new pg.Client({
      host: l.host, port: l.port, user: l.user, password: l.password, database: db, application_name: 'dwsbox',
      connectionTimeoutMillis: 10_000, statement_timeout: 10 * 60_000, options: '-c search_path=pg_catalog',
    });
    c.on('error', () => {});
    await c.connect();
    try {
      await c.query(`set role ${ident(l.admin)}`);
      return await fn(c);
    } finally {
      await c.end().catch(() => {});
    }
  });
}

/** Relations (of any kind) that exist under these names in a database. */
async function existingRelations(c: pg.Client, refs: TableRef[]): Promise<{ ref: TableRef; oid: number; kind: string }[]> {
  if (refs.length === 0) return [];
  const r = await c.query<{ schema: string; name: string; oid: string; kind: string }>(
    `select n.nspname as schema, c.relname as name, c.oid::int8::text as oid, c.relkind::text as kind
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       join unnest($1::text[], $2::text[]) as w(s, t) on w.s = n.nspname and w.t = c.relname`,
    [refs.map((x) => x.schema), refs.map((x) => x.name)],
  );
  return r.rows.map((x) => ({ ref: { schema: x.schema, name: x.name }, oid: Number(x.oid), kind: x.kind }));
}

const ALTER_OF_KIND: Record<string, string> = { r: 'table', p: 'table', S: 'sequence', i: 'index', I: 'index', v: 'view', m: 'materialized view', f: 'foreign table', c: 'type' };

/**
 * In the temporary database, in one transaction: every source table moves to a staging name,
 * whatever is in the way of a target name moves aside, each table moves to its target schema
 * (created if needed) and name, and its indexes, constraints and owned sequences are renamed
 * after it — avoiding every relation name the cluster's target schemas already use, so the
 * import cannot collide. Idempotent through the marker schema.
 */
async function renameInTemp(ctx: Ctx, c: pg.Client, liveNames: Map<string, Set<string>>): Promise<void> {
  if ((await c.query('select 1 from pg_namespace where nspname = $1', [MARKER_SCHEMA])).rowCount) return;
  const pairs = ctx.params.tables;
  await c.query('begin');
  try {
    const oids: number[] = [];
    for (const p of pairs) {
      const found = (await existingRelations(c, [p.source]))[0];
      if (!found || !['r', 'p'].includes(found.kind)) throw new AppError('TABLE_NOT_FOUND', { args: [`${tableName(p.source)} is not a table in database ${ctx.params.database} of the snapshot`] });
      if (found.kind === 'p') throw new AppError('NOT_SUPPORTED', { args: ['Restoring a partitioned table', `${tableName(p.source)}: restore its partitions one by one`] });
      oids.push(found.oid);
    }
    for (const [i, p] of pairs.entries()) await c.query(`alter table ${qualified(p.source)} rename to ${ident(`dwsbox_tr_${i}`)}`);
    let aside = 0;
    for (const p of pairs) {
      await c.query(`create schema if not exists ${ident(p.target.schema)}`);
      for (const x of await existingRelations(c, [p.target])) {
        await c.query(`alter ${ALTER_OF_KIND[x.kind] ?? 'table'} ${qualified(x.ref)} rename to ${ident(`dwsbox_aside_${aside++}`)}`);
      }
      // A free-standing type of that name would block the table's row type.
      const ty = await c.query('select 1 from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = $1 and t.typname = $2', [p.target.schema, p.target.name]);
      if (ty.rowCount) await c.query(`alter type ${qualified(p.target)} rename to ${ident(`dwsbox_aside_${aside++}`)}`);
    }
    for (const [i, p] of pairs.entries()) {
      const staged = ident(`dwsbox_tr_${i}`);
      if (p.source.schema !== p.target.schema) await c.query(`alter table ${ident(p.source.schema)}.${staged} set schema ${ident(p.target.schema)}`);
      await c.query(`alter table ${ident(p.target.schema)}.${staged} rename to ${ident(p.target.name)}`);
    }
    for (const [i, p] of pairs.entries()) await renameDependents(c, oids[i]!, p, liveNames.get(p.target.schema) ?? new Set());
    await c.query(`create schema ${ident(MARKER_SCHEMA)}`);
    await c.query('commit');
  } catch (e) {
    await c.query('rollback').catch(() => {});
    throw e;
  }
}

/** Indexes (with the constraints they back), other constraints and owned sequences of one table, renamed after it. */
async function renameDependents(c: pg.Client, oid: number, p: { source: TableRef; target: TableRef }, live: Set<string>): Promise<void> {
  const schema = p.target.schema;
  const tbl = qualified(p.target);
  // Relation names in the schema (temp and cluster) that a renamed index or sequence must avoid.
  const mine = await c.query<{ name: string }>(
    `select c.relname as name from pg_class c where c.oid in (select indexrelid from pg_index where indrelid = $1)
     union all select s.relname from pg_depend d join pg_class s on s.oid = d.objid
      where d.refobjid = $1 and d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and s.relkind = 'S' and d.deptype in ('a', 'i')`, [oid]);
  const ownNames = new Set(mine.rows.map((r) => r.name));
  const inSchema = await c.query<{ name: string }>('select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1', [schema]);
  const taken = new Set<string>([...live, ...inSchema.rows.map((r) => r.name).filter((n) => !ownNames.has(n))]);
  taken.add(p.target.name);

  const cons = await c.query<{ name: string; type: string; index: string }>(
    `select conname as name, contype::text as type, conindid::int8::text as index from pg_constraint where conrelid = $1 order by conname`, [oid]);
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
    `select i.indexrelid::int8::text as oid, x.relname as name from pg_index i join pg_class x on x.oid = i.indexrelid where i.indrelid = $1 order by x.relname`, [oid]);
  for (const r of idx.rows) {
    if (renamedIndexes.has(r.oid)) continue;
    const name = uniqueName(derivedName(r.name, p.source.name, p.target.name), taken);
    if (name !== r.name) await c.query(`alter index ${ident(schema)}.${ident(r.name)} rename to ${ident(name)}`);
  }
  const seqs = await c.query<{ name: string; schema: string }>(
    `select s.relname as name, n.nspname as schema from pg_depend d join pg_class s on s.oid = d.objid join pg_namespace n on n.oid = s.relnamespace
      where d.refobjid = $1 and d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and s.relkind = 'S' and d.deptype in ('a', 'i') order by 1`, [oid]);
  for (const s of seqs.rows) {
    const name = uniqueName(derivedName(s.name, p.source.name, p.target.name), taken);
    if (name !== s.name) await c.query(`alter sequence ${ident(s.schema)}.${ident(s.name)} rename to ${ident(name)}`);
  }
}

/**
 * Facts about the renamed tables in the temporary database: rows (exact), size, indexes,
 * owner, and their foreign keys. This session is dwsbox's superuser, and the scratch database
 * is its owner's (the tenant's administrator) to connect to meanwhile: so each table is
 * locked by name first, and counted only when the name still means that table (D32: row
 * counts read tables, not whatever a name now points at; a view swapped in would run the
 * tenant's functions as superuser). A name that no longer means a table fails the step.
 */
async function measure(ctx: Ctx, c: pg.Client): Promise<Exported> {
  const tables: ExportedTable[] = [];
  for (const p of ctx.params.tables) {
    await c.query('begin');
    try {
      // Held until commit: no one can rename, drop or replace the table while it is measured.
      await c.query(`lock table ${qualified(p.target)} in access share mode`);
      const r = await c.query<{ oid: string; kind: string; bytes: string; indexes: number; owner: string }>(
        `select c.oid::int8::text as oid, c.relkind::text as kind, pg_total_relation_size(c.oid)::text as bytes,
                (select count(*)::int from pg_index where indrelid = c.oid) as indexes, pg_get_userbyid(c.relowner) as owner
           from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2`, [p.target.schema, p.target.name]);
      const row = r.rows[0];
      if (!row) throw new AppError('VERIFY_FAILED', { args: [`table ${tableName(p.target)} is missing from the restore's source after the renames`] });
      if (row.kind !== 'r') {
        throw new AppError('VERIFY_FAILED', { args: [`${tableName(p.target)} is no longer a table in the restore's source (relkind ${row.kind}): it was replaced while the restore ran; nothing was imported, restore the table again`] });
      }
      const n = await c.query<{ n: string }>(`select count(*)::text as n from ${qualified(p.target)}`);
      await c.query('commit');
      tables.push({ source: p.source, target: p.target, oid: Number(row.oid), rows: Number(n.rows[0]?.n ?? 0), bytes: Number(row.bytes), indexes: row.indexes, owner: row.owner });
    } catch (e) {
      await c.query('rollback').catch(() => {});
      throw e;
    }
  }
  const fk = await c.query<{ oid: string; table: string; name: string; schema: string; ref: string }>(
    `select con.oid::int8::text as oid, con.conrelid::regclass::text as table, con.conname as name, rn.nspname as schema, rc.relname as ref
       from pg_constraint con join pg_class rc on rc.oid = con.confrelid join pg_namespace rn on rn.oid = rc.relnamespace
      where con.contype = 'f' and con.conrelid = any($1::oid[])`, [tables.map((t) => t.oid)]);
  return { tables, fks: fk.rows.map((f) => ({ oid: Number(f.oid), table: f.table, name: f.name, ref: { schema: f.schema, name: f.ref } })) };
}

/** Relation names per schema in the cluster's database (what renamed indexes and sequences must avoid). */
async function liveRelationNames(c: pg.Client, schemas: string[]): Promise<Map<string, Set<string>>> {
  const r = await c.query<{ schema: string; name: string }>(
    'select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = any($1)', [schemas]);
  const m = new Map<string, Set<string>>();
  for (const x of r.rows) m.set(x.schema, (m.get(x.schema) ?? new Set()).add(x.name));
  return m;
}

/** One TOC line of `pg_restore -l`: `<dump id>; <catalog oid> <object oid> <desc> <schema> <name> <owner>`. */
export function parseTocLine(line: string): { objectOid: number; desc: string } | null {
  const m = /^\s*\d+;\s+(\d+)\s+(\d+)\s+(.*)$/.exec(line);
  if (!m) return null;
  const rest = m[3]!;
  const desc = KNOWN_DESCS.find((d) => rest.startsWith(`${d} `));
  return desc ? { objectOid: Number(m[2]), desc } : { objectOid: Number(m[2]), desc: rest.split(' ')[0] ?? '' };
}

/**
 * The filtered list (D15): the tables' definitions, data, sequences (and their values),
 * defaults, constraints and indexes; foreign keys only where the referenced table exists in
 * the cluster or is restored along. Nothing else (grants, comments, triggers, policies).
 */
export function filterToc(toc: string, fks: ExportedFk[], refExists: (t: TableRef) => boolean): { list: string; kept: number; droppedFks: string[] } {
  const fkByOid = new Map(fks.map((f) => [f.oid, f]));
  const out: string[] = [];
  const dropped: string[] = [];
  for (const line of toc.split('\n')) {
    const e = parseTocLine(line);
    if (!e || !KEPT_DESCS.has(e.desc)) continue;
    if (e.desc === 'FK CONSTRAINT') {
      const fk = fkByOid.get(e.objectOid);
      if (!fk || !refExists(fk.ref)) {
        dropped.push(fk ? `${fk.table}.${fk.name} → ${tableName(fk.ref)}` : `constraint ${e.objectOid}`);
        continue;
      }
    }
    out.push(line);
  }
  return { list: out.join('\n') + '\n', kept: out.length, droppedFks: dropped };
}

const exportedOf = (ctx: Ctx): Exported => {
  const e = ctx.state['exported'] as Exported | undefined;
  if (!e) throw new AppError('ENGINE_COMMAND_FAILED', { args: ['table restore', 'the export step left no record of the tables'] });
  return e;
};

/** Weighted progress over tables: finished ones count whole, the current one by its rows copied. */
function tableProgress(tables: ExportedTable[], current: number, rowsDone: number): { bytesDone: number; bytesTotal: number; percent: number } {
  const total = tables.reduce((a, t) => a + Math.max(t.bytes, 1), 0);
  let done = 0;
  for (const [i, t] of tables.entries()) {
    if (i < current) done += Math.max(t.bytes, 1);
    else if (i === current && t.rows > 0) done += Math.max(t.bytes, 1) * Math.min(1, rowsDone / t.rows);
  }
  return { bytesDone: Math.round(done), bytesTotal: total, percent: Math.min(99.99, (100 * done) / total) };
}

export const tableRestore: TaskDefinition<TableRestoreParams> = {
  kind: 'snapshot.table_restore',
  maxAttempts: 2,
  plan: (p) => p.viaScratchDatabase ? [
    { id: 'CREATE_SCRATCH_DB', item: 'PREPARE_SCRATCH', weight: 0.1 },
    { id: 'LOAD_SCRATCH_DB', item: 'PREPARE_SCRATCH', weight: 2, runsTools: true },
    { id: 'EXPORT_TABLES', item: 'RESTORE_TABLES', weight: 1, runsTools: true },
    { id: 'IMPORT_TABLES', item: 'RESTORE_TABLES', weight: 1, runsTools: true },
    { id: 'VERIFY_ROWS', item: 'RESTORE_TABLES', weight: 0.2 },
    { id: 'DROP_SCRATCH_DB', item: 'CLEAN_UP', weight: 0.1 },
  ] : [
    { id: 'RESTORE_TEMP', item: 'PREPARE_TEMP', weight: 2, runsTools: true },
    { id: 'START_TEMP', item: 'PREPARE_TEMP', weight: 0.3 },
    { id: 'EXPORT_TABLES', item: 'RESTORE_TABLES', weight: 1, runsTools: true },
    { id: 'IMPORT_TABLES', item: 'RESTORE_TABLES', weight: 1, runsTools: true },
    { id: 'VERIFY_ROWS', item: 'RESTORE_TABLES', weight: 0.2 },
    { id: 'REMOVE_TEMP', item: 'CLEAN_UP', weight: 0.1 },
  ],
  steps: {
    /** A new, empty scratch database on the cluster's primary (a leftover of an interrupted run is dropped first), and the task's work directory. */
    CREATE_SCRATCH_DB: async (ctx: Ctx) => {
      await dropScratch(ctx);
      const live = await primaryInstance(ctx);
      await createScratch(ctx, live);
      ctx.dataPlane.prepareTempDir(tempOf(ctx));
      ctx.progress({ source: 'dwsbox', percent: 100, info: { scratchDatabase: scratchDatabaseName(ctx.task.id) } });
    },

    /**
     * `pg_restore -j --exit-on-error -L <list>` of the snapshot's dump into the scratch database:
     * everything but grants, the schemas the new database already has, and foreign keys to
     * tables outside the dump (their tables are not there). Progress: the scratch database's
     * size against the source bytes the snapshot recorded.
     */
    LOAD_SCRATCH_DB: async (ctx: Ctx) => {
      const snap = await snapshotOf(ctx);
      const fg = snap.fineGrained;
      if (!fg?.dumpDir || !isCompleteDump(fg.dumpDir)) throw new AppError('SNAPSHOT_NOT_RESTORABLE', { args: [snap.id, `its dump ${fg?.dumpDir ?? ''} is missing`] });
      const dumpDir = fg.dumpDir;
      const live = await primaryInstance(ctx);
      const scratch = scratchDatabaseName(ctx.task.id);
      // A resumed or retried load starts over in a new, empty scratch database: pg_restore cannot continue.
      if ((ctx.checkpoint as { started?: boolean } | null)?.started) {
        await dropScratch(ctx);
        await createScratch(ctx, live);
      }
      const bin = (n: string): string => join(ctx.dataPlane.bins.binDir, n);
      const toc = await runTool({ cmd: bin('pg_restore'), args: ['-l', fg.dumpDir], env: baseEnv(), runAs: osOf(ctx), lockFile: ctx.lockFile, signal: ctx.signal, logger: ctx.log, label: 'pg_restore -l', timeoutMs: 10 * 60_000 });
      const haveSchemas = new Set((await live.query<{ n: string }>('select nspname as n from pg_namespace', [], scratch)).map((r) => r.n));
      const outside = new Set(fg.outsideForeignKeys);
      const kept: string[] = [];
      for (const line of toc.stdout.split('\n')) {
        const e = parseTocLine(line);
        if (!e) continue;
        const words = line.replace(/^\s*\d+;\s+\d+\s+\d+\s+/, '').slice(e.desc.length + 1).split(' ');
        if (e.desc === 'ACL' || e.desc === 'DEFAULT ACL') continue;
        if (e.desc === 'SCHEMA' && haveSchemas.has(words.slice(1, -1).join(' '))) continue;
        if (e.desc === 'FK CONSTRAINT' && outside.has(e.objectOid)) continue;
        kept.push(line);
      }
      const listFile = join(workDirOf(ctx), 'scratch.list');
      writeOwned(listFile, kept.join('\n') + '\n', osOf(ctx), 0o600);
      const total = Math.max(snap.sourceBytes ?? 0, 1);
      const base = Number((await live.query<{ n: string }>('select pg_database_size($1)::text as n', [scratch]))[0]?.n ?? 0);
      await ctx.setCheckpoint({ started: true });
      let loaded = 0;
      const emit = (source: string): void => {
        ctx.progress({ source, bytesDone: Math.min(loaded, total), bytesTotal: total, percent: Math.min(99.99, (100 * loaded) / total), consumedBytes: loaded, info: { scratchDatabase: scratch, tocEntries: kept.length, loadedBytes: loaded } });
      };
      await withAdminLogin(ctx, scratch, async (login) => {
        const tool = startTool({
          cmd: bin('pg_restore'),
          // D32: loaded by the task's non-superuser login as the administrator (`--role`), owning what it loads: nothing in the dump runs as superuser.
          args: ['-j', '2', '--exit-on-error', '--no-privileges', '--no-owner', `--role=${login.admin}`, '-L', listFile, '-d', loginConninfo(ctx, login, scratch), dumpDir],
          env: baseEnv(), runAs: osOf(ctx), lockFile: ctx.lockFile, signal: ctx.signal, logger: ctx.log, label: 'pg_restore',
          timeoutMs: 24 * 3600_000, idleTimeoutMs: ctx.config.stepIdleTimeoutMs, waitingFor: 'pg_restore to load the scratch database',
        });
        emit('pg_restore -l');
        const tick = (): void => {
          void live.query<{ n: string }>('select pg_database_size($1)::text as n', [scratch], 'postgres', 2000)
            .then((rows) => {
              const n = Number(rows[0]?.n ?? base) - base;
              if (n > loaded) tool.touch();
              loaded = Math.max(loaded, n);
              emit('pg_database_size');
            }).catch(() => {});
        };
        await whilePolling(tool.done, 300, tick);
      });
      loaded = Math.max(0, Number((await live.query<{ n: string }>('select pg_database_size($1)::text as n', [scratch]))[0]?.n ?? base) - base);
      ctx.progress({ source: 'pg_database_size', bytesDone: total, bytesTotal: total, percent: 100, consumedBytes: loaded, info: { scratchDatabase: scratch, tocEntries: kept.length, loadedBytes: loaded } });
    },

    DROP_SCRATCH_DB: async (ctx: Ctx) => {
      await dropScratch(ctx);
      await ctx.dataPlane.removeTempInstance(ctx.task.id, ctx.task.projectId);
      ctx.progress({ source: 'dwsbox', percent: 100 });
    },

    /** Undo of a restore through a scratch database: drop it, then what DISCARD_TABLE_RESTORE drops. */
    DISCARD_SCRATCH_RESTORE: async (ctx: Ctx) => {
      await dropScratch(ctx);
      await discardImported(ctx);
    },

    /** `pgbackrest restore --db-include=<database>` of the snapshot's set into a temporary instance (D4). */
    RESTORE_TEMP: async (ctx: Ctx) => {
      const snap = await snapshotOf(ctx);
      const inst = tempOf(ctx);
      if (inst.status()) return;
      const info = { key: snap.backupKey ?? 'N/A', priorKey: snap.priorBackupKey ?? 'N/A', snapshotId: snap.id, database: ctx.params.database };
      await restoreSet(ctx.dataPlane.backrest, {
        source: { stanza: snap.stanza, configFile: ctx.dataPlane.stanzaConfigFile(snap.stanza) }, label: snap.backupLabel, dataDir: inst.dataDir, os: inst.spec.os,
        // --db-include leaves the other databases' files out, so the snapshot's total is not this restore's.
        totalBytes: null, ...(SYSTEM_DATABASES.has(ctx.params.database) ? {} : { dbInclude: ctx.params.database }), lockFile: ctx.lockFile, signal: ctx.signal, idleTimeoutMs: ctx.config.stepIdleTimeoutMs,
        onProgress: (s) => {
          const written = s.data?.['consumedBytes'];
          ctx.progress({ ...s, ...(typeof written === 'number' ? { consumedBytes: written } : {}), info });
        },
      });
      ctx.dataPlane.prepareTempInstance(inst);
    },

    START_TEMP: async (ctx: Ctx) => {
      const inst = tempOf(ctx);
      if (!inst.isInitialized()) throw new AppError('ENGINE_NODE_FAILED', { args: ['temporary instance', `no restored data directory at ${inst.dataDir}`] });
      ctx.progress({ source: 'dwsbox', percent: 5, info: { phase: 'start' } });
      await inst.start({ timeoutMs: 30 * 60_000, signal: ctx.signal });
      await waitPromoted(inst, {
        signal: ctx.signal, timeoutMs: 30 * 60_000,
        onProgress: (s) => ctx.progress({ ...s, percent: s.data?.['inRecovery'] ? 50 : 90, info: { phase: 'recovery', replayLsn: s.data?.['replayLsn'] ?? null } }),
      });
      ctx.progress({ source: 'pg_is_in_recovery', percent: 100, info: { phase: 'promoted' } });
    },

    /** Rename inside the temporary instance, then `pg_dump -Fc -t …` of the renamed tables, progress per table. */
    EXPORT_TABLES: async (ctx: Ctx) => {
      const { inst, db } = await exportSource(ctx);
      const live = await primaryInstance(ctx);
      const liveNames = await withClient(live, ctx.params.database, (c) => liveRelationNames(c, [...new Set(ctx.params.tables.map((t) => t.target.schema))]));
      const exported = await withClient(inst, db, async (c) => {
        await renameInTemp(ctx, c, liveNames);
        return measure(ctx, c);
      });
      await ctx.setState({ exported });
      const dump = dumpFileOf(ctx);
      const tables = exported.tables;
      const info = (i: number) => ({ tablesDone: Math.min(i, tables.length), tablesTotal: tables.length, table: tables[Math.min(i, tables.length - 1)] ? tableName(tables[Math.min(i, tables.length - 1)]!.target) : '' });
      if (!existsSync(dump)) {
        const part = `${dump}.part`;
        rmSync(part, { force: true });
        let current = 0;
        let rowsDone = 0;
        const emit = (source: string): void => {
          const f = tableProgress(tables, current, rowsDone);
          ctx.progress({ source, ...f, data: { rowsDone, table: tables[current] ? tableName(tables[current]!.target) : null }, info: info(current) });
        };
        const tool = startTool({
          cmd: join(ctx.dataPlane.bins.binDir, 'pg_dump'),
          // Light compression: the file only lives in the temporary directory, and the CPU is the bottleneck.
          args: ['-d', conninfo(inst, db, appNameOf(ctx)), '-Fc', '-Z', '1', '--strict-names', '--verbose', '-f', part, ...tables.flatMap((t) => ['-t', qualified(t.target)])],
          env: baseEnv(), runAs: osOf(ctx), lockFile: ctx.lockFile, signal: ctx.signal, logger: ctx.log, label: 'pg_dump',
          timeoutMs: 24 * 3600_000, idleTimeoutMs: ctx.config.stepIdleTimeoutMs, waitingFor: 'pg_dump to dump the next rows',
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
        const tick = (): void => {
          void inst.query<{ relid: string; done: string }>(COPY_PROGRESS, [appNameOf(ctx)], 'postgres', 2000)
            .then((rows) => {
              const r = rows[0];
              if (!r) return;
              const i = byOid.get(Number(r.relid));
              if (i === undefined) return;
              tool.touch();
              current = i;
              rowsDone = Number(r.done);
              emit('pg_stat_progress_copy');
            }).catch(() => {});
        };
        try {
          await whilePolling(tool.done, 300, tick);
        } catch (e) {
          rmSync(part, { force: true });
          throw e;
        }
        renameSync(part, dump);
      }
      const total = tables.reduce((a, t) => a + Math.max(t.bytes, 1), 0);
      ctx.progress({ source: 'pg_dump', bytesDone: total, bytesTotal: total, percent: 100, data: { dumpBytes: statSync(dump).size }, info: { ...info(tables.length), dumpBytes: statSync(dump).size, rows: tables.reduce((a, t) => a + t.rows, 0) } });
    },

    /** `pg_restore -l`, the filtered list, then `pg_restore --single-transaction -L` into the cluster's primary. */
    IMPORT_TABLES: async (ctx: Ctx) => {
      if (ctx.state['imported']) {
        await ensureOutsideForeignKeys(ctx);
        return;
      }
      const exported = exportedOf(ctx);
      const tables = exported.tables;
      const dump = dumpFileOf(ctx);
      if (!existsSync(dump)) throw new AppError('ENGINE_COMMAND_FAILED', { args: ['table restore', `the dump ${dump} is missing; run the restore again`] });
      const db = ctx.params.database;
      const live = await primaryInstance(ctx);
      const admin = await adminOf(ctx);
      const targets = tables.map((t) => t.target);
      const cp = ctx.checkpoint as { started?: boolean; xidBefore?: string } | null;
      const prep = await withClient(live, db, async (c) => {
        const clash = await existingRelations(c, targets);
        // A crash after pg_restore committed but before the step's checkpoint: the targets are
        // this task's own import when all of them came from one transaction that began after the
        // step recorded the transaction counter (pg_restore runs as a single transaction).
        const own = clash.length === targets.length && !!cp?.started && !!cp.xidBefore && await createdInOneTransactionSince(c, clash.map((x) => x.oid), cp.xidBefore);
        if (clash.length && !own) {
          throw new AppError('TARGET_TABLE_EXISTS', {
            args: [clash.map((x) => tableName(x.ref)).join(', ') + (cp?.started ? ' (an interrupted earlier run of this task may have created it; it is left as it is)' : '')],
          });
        }
        const schemas = [...new Set(targets.map((t) => t.schema))];
        const have = new Set((await c.query<{ n: string }>('select nspname as n from pg_namespace where nspname = any($1)', [schemas])).rows.map((r) => r.n));
        const created = [...((ctx.state['createdSchemas'] as string[] | undefined) ?? [])];
        for (const s of schemas.filter((x) => !have.has(x))) {
          await c.query(`create schema ${ident(s)} authorization ${ident(admin)}`);
          created.push(s);
          await ctx.setState({ createdSchemas: created });
        }
        const refs = exported.fks.map((f) => f.ref);
        const existing = new Set((await existingRelations(c, refs)).filter((x) => x.kind === 'r' || x.kind === 'p').map((x) => tableName(x.ref)));
        const owners = [...new Set(tables.map((t) => t.owner))];
        const roles = new Set((await c.query<{ r: string }>('select rolname as r from pg_roles where rolname = any($1)', [owners])).rows.map((r) => r.r));
        return { existing, missingOwners: owners.filter((o) => !roles.has(o)), own };
      });
      const bin = (n: string): string => join(ctx.dataPlane.bins.binDir, n);
      const toc = await runTool({ cmd: bin('pg_restore'), args: ['-l', dump], env: baseEnv(), runAs: osOf(ctx), lockFile: ctx.lockFile, signal: ctx.signal, logger: ctx.log, label: 'pg_restore -l', timeoutMs: 10 * 60_000 });
      const isTarget = (r: TableRef): boolean => targets.some((t) => sameRef(t, r));
      const filtered = filterToc(toc.stdout, exported.fks, (r) => isTarget(r) || prep.existing.has(tableName(r)));
      const listFile = listFileOf(ctx);
      writeOwned(listFile, filtered.list, osOf(ctx), 0o600);
      const info = (i: number) => ({
        tablesDone: Math.min(i, tables.length), tablesTotal: tables.length, table: tables[Math.min(i, tables.length - 1)] ? tableName(tables[Math.min(i, tables.length - 1)]!.target) : '',
        droppedForeignKeys: filtered.droppedFks.join('; ') || 'none', ...(prep.missingOwners.length ? { ownersMissing: prep.missingOwners.join(', ') } : {}),
      });
      let current = 0;
      let rowsDone = 0;
      let copyBytes = 0;
      const emit = (source: string): void => {
        const f = tableProgress(tables, current, rowsDone);
        ctx.progress({ source, ...f, data: { rowsDone, copyBytes, table: tables[current] ? tableName(tables[current]!.target) : null }, info: info(current) });
      };
      if (prep.own) {
        ctx.log.info('the import of an interrupted run of this step had committed: kept', { tables: targets.map(tableName) });
      } else {
        const xid = (await live.query<{ x: string }>('select txid_current()::text as x', [], db))[0]!.x;
        await ctx.setCheckpoint({ started: true, xidBefore: xid });
        await withAdminLogin(ctx, db, importDump);
      }
      async function importDump(login: AdminLogin): Promise<void> {
        const tool = startTool({
          cmd: bin('pg_restore'),
          // D32: imported by the task's non-superuser login as the administrator (`--role`), who owns the restored tables.
          args: ['--single-transaction', '--verbose', '-L', listFile, '--no-owner', `--role=${admin}`, '-d', loginConninfo(ctx, login, db), dump],
          env: baseEnv(), runAs: osOf(ctx), lockFile: ctx.lockFile, signal: ctx.signal, logger: ctx.log, label: 'pg_restore',
          timeoutMs: 24 * 3600_000, idleTimeoutMs: ctx.config.stepIdleTimeoutMs, waitingFor: 'pg_restore to load the next rows',
          onLine: (line) => {
            // `pg_restore: processing data for table "s.t"`
            const m = /processing data for table "(.*)"$/.exec(line);
            if (!m) return;
            const i = tables.findIndex((t) => tableName(t.target) === m[1]);
            if (i >= 0) {
              current = i;
              rowsDone = 0;
              emit('pg_restore --verbose');
            }
          },
        });
        // The step's first sample, once pg_restore runs (a `during` fault then finds it mid-flight, D13).
        emit('pg_restore -l');
        const tick = (): void => {
          void live.query<{ done: string; bytes: string }>(COPY_PROGRESS, [appNameOf(ctx)], 'postgres', 2000)
            .then((rows) => {
              const r = rows[0];
              if (!r) return;
              tool.touch();
              rowsDone = Number(r.done);
              copyBytes = Number(r.bytes);
              emit('pg_stat_progress_copy');
            }).catch(() => {});
        };
        await whilePolling(tool.done, 300, tick);
      }
      const imported = await withClient(live, db, async (c) => {
        const found = await existingRelations(c, targets);
        return targets.map((t) => {
          const f = found.find((x) => sameRef(x.ref, t));
          if (!f) throw new AppError('VERIFY_FAILED', { args: [`pg_restore finished but table ${tableName(t)} is not in the cluster`] });
          return { target: t, oid: f.oid };
        });
      });
      await ctx.setState({ imported });
      const outside = await ensureOutsideForeignKeys(ctx);
      const sizes = await live.query<{ n: string }>('select coalesce(sum(pg_total_relation_size(o)), 0)::text as n from unnest($1::oid[]) o', [imported.map((x) => x.oid)], db);
      const total = tables.reduce((a, t) => a + Math.max(t.bytes, 1), 0);
      ctx.progress({
        source: 'pg_total_relation_size', bytesDone: total, bytesTotal: total, percent: 100, data: { restoredBytes: Number(sizes[0]?.n ?? 0) },
        info: {
          ...info(tables.length), restoredBytes: Number(sizes[0]?.n ?? 0), rows: tables.reduce((a, t) => a + t.rows, 0),
          ...(outside.dropped.length ? { droppedForeignKeys: [...filtered.droppedFks, ...outside.dropped].join('; ') } : {}),
          ...(ctx.params.viaScratchDatabase ? { addedForeignKeys: outside.added.join('; ') || 'none' } : {}),
        },
      });
    },

    /** Row and index counts in the cluster equal those of the temporary instance. */
    VERIFY_ROWS: async (ctx: Ctx) => {
      const exported = exportedOf(ctx);
      const live = await primaryInstance(ctx);
      const problems: string[] = [];
      let i = 0;
      await withAdminClient(ctx, ctx.params.database, async (c) => {
        for (const t of exported.tables) {
          const n = Number((await c.query<{ n: string }>(`select count(*)::text as n from ${qualified(t.target)}`)).rows[0]?.n ?? -1);
          const idx = (await c.query<{ n: number }>(`select count(*)::int as n from pg_index where indrelid = $1::regclass`, [qualified(t.target)])).rows[0]?.n ?? -1;
          if (n !== t.rows) problems.push(`${tableName(t.target)} has ${n} rows, the snapshot ${t.rows}`);
          if (idx !== t.indexes) problems.push(`${tableName(t.target)} has ${idx} indexes, the snapshot ${t.indexes}`);
          ctx.progress({ source: 'count(*)', percent: (100 * ++i) / exported.tables.length, info: { table: tableName(t.target), rows: n, expectedRows: t.rows } });
        }
      });
      if (problems.length) throw new AppError('VERIFY_FAILED', { args: [problems.join('; ')] });
    },

    REMOVE_TEMP: async (ctx: Ctx) => {
      await ctx.dataPlane.removeTempInstance(ctx.task.id, ctx.task.projectId);
      ctx.progress({ source: 'dwsbox', percent: 100 });
    },

    /**
     * Undo: remove the temporary instance, and drop what this task imported — only tables
     * whose OID is the one this task recorded right after its own import, so a table that
     * existed before (or that someone else created since) is never touched — and the
     * schemas it created, when empty.
     */
    DISCARD_TABLE_RESTORE: async (ctx: Ctx) => discardImported(ctx),
  },
  failure: { mode: 'cleanup', steps: (task) => [{ id: (task.params as { viaScratchDatabase?: boolean }).viaScratchDatabase ? 'DISCARD_SCRATCH_RESTORE' : 'DISCARD_TABLE_RESTORE', item: 'CLEAN_UP' }] },
};

/** Whether these relations were all created by one transaction that began after `xidBefore` (a `txid_current()`). */
async function createdInOneTransactionSince(c: pg.Client, oids: number[], xidBefore: string): Promise<boolean> {
  const r = await c.query<{ n: number; newer: boolean }>(
    `select count(distinct xmin::text)::int as n, bool_and(age(xmin) < age(($2::int8 % 4294967296)::text::xid)) as newer from pg_class where oid = any($1::oid[])`,
    [oids, xidBefore],
  );
  return r.rows[0]?.n === 1 && r.rows[0].newer === true;
}

/**
 * A foreign key's definition as `pg_get_constraintdef` rendered it in the source catalog
 * (identifiers quoted by PostgreSQL): refused unless it is one `FOREIGN KEY (…) REFERENCES …`
 * clause with no statement separator outside quotes, so the text can only ever add that key.
 */
export function checkedForeignKey(def: string): string {
  const bare = def.replace(/"(?:[^"]|"")*"/g, '""').replace(/'(?:[^']|'')*'/g, "''");
  if (!/^FOREIGN KEY \(.+\) REFERENCES \S/.test(bare) || /[;\\]|--|\/\*/.test(bare)) {
    throw new Error(`not a foreign key definition: ${def}`);
  }
  return def;
}

/**
 * A logical snapshot's foreign keys to tables outside its dump were not in the scratch
 * database, so the export could not carry them: add each one (its source definition, the
 * referenced table schema-qualified) to the restored table when that table exists in the
 * cluster, under a name derived like the table's other objects. One that does not hold (rows
 * with no match) or whose table is gone is reported, not added. Idempotent: an existing
 * constraint of that name is left alone.
 */
async function ensureOutsideForeignKeys(ctx: Ctx): Promise<{ added: string[]; dropped: string[] }> {
  const out = { added: [] as string[], dropped: [] as string[] };
  if (!ctx.params.viaScratchDatabase) return out;
  const snap = await ctx.store.getSnapshotById(ctx.params.snapshotId);
  const defs = snap?.fineGrained?.outsideForeignKeyDefs ?? [];
  const imported = (ctx.state['imported'] as Imported[] | undefined) ?? [];
  if (defs.length === 0 || imported.length === 0) return out;
  await withAdminClient(ctx, ctx.params.database, async (c) => {
    for (const p of ctx.params.tables) {
      const mine = imported.find((x) => sameRef(x.target, p.target));
      if (!mine) continue;
      const taken = new Set((await c.query<{ n: string }>('select conname as n from pg_constraint where conrelid = $1', [mine.oid])).rows.map((r) => r.n));
      for (const fk of defs.filter((d) => d.schema === p.source.schema && d.table === p.source.name)) {
        const name = derivedName(fk.name, p.source.name, p.target.name);
        if (taken.has(name)) continue;
        try {
          const fkDef = checkedForeignKey(fk.definition);
          await c.query('begin');
          await c.query(`alter table ${qualified(p.target)} add constraint ${ident(name)} ${fkDef}`);
          await c.query('commit');
          out.added.push(`${tableName(p.target)}.${name}`);
        } catch (e) {
          await c.query('rollback').catch(() => {});
          out.dropped.push(`${tableName(p.target)}.${name} (${fk.definition}): ${(e as Error).message}`);
        }
      }
    }
  });
  if (out.dropped.length) ctx.log.warn('foreign keys to tables outside the snapshot not restored', { dropped: out.dropped });
  return out;
}

/**
 * Remove the temporary instance (or the work directory), and drop what this task imported —
 * only tables whose OID is the one this task recorded right after its own import, so a table
 * that existed before (or that someone else created since) is never touched — and the schemas
 * it created, when empty.
 */
async function discardImported(ctx: Ctx): Promise<void> {
  await ctx.dataPlane.removeTempInstance(ctx.task.id, ctx.task.projectId);
  // Tables that passed verification stay: only the temporary instance failed to go.
  const verified = (await ctx.store.getStep(ctx.task.id, 'VERIFY_ROWS'))?.status === 'SUCCESS';
  const imported = verified ? [] : (ctx.state['imported'] as Imported[] | undefined) ?? [];
  const schemas = (ctx.state['createdSchemas'] as string[] | undefined) ?? [];
  if (imported.length === 0 && schemas.length === 0) return;
  const live = await primaryInstance(ctx);
  await withClient(live, ctx.params.database, async (c) => {
    for (const x of imported) {
      const now = (await existingRelations(c, [x.target]))[0];
      if (now && now.oid === x.oid) await c.query(`drop table ${qualified(x.target)}`);
    }
    for (const s of schemas) {
      // RESTRICT: a schema that holds anything now is kept.
      await c.query(`drop schema if exists ${ident(s)}`).catch(() => {});
    }
  });
}
