/** The roles of a cluster (D7, D32): the replication role, the administrator, and the clean-up of a restored copy. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { ClusterSecrets } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import { REPLICATION_ROLE } from '../local-engine.js';
import { ident, literal, type PgInstance } from '../pg-instance.js';
import { scramVerifier } from '../scram.js';

/** D32: what a cluster's administrator is, and the built-in roles it holds and never holds. */
export const ADMIN_ATTRIBUTES = 'login createdb nocreaterole nosuperuser noreplication nobypassrls inherit';
export const ADMIN_ROLES = ['pg_read_all_data', 'pg_write_all_data', 'pg_monitor', 'pg_signal_backend', 'pg_checkpoint'];
export const FORBIDDEN_ROLES = ['pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files'];
/** Untrusted extensions (PostgreSQL 15) an administrator may create all the same, through pgextwlist (D32): monitoring and inspection, nothing that reaches files, programs or other servers. */
export const ADMIN_EXTENSIONS = ['pg_stat_statements', 'pg_buffercache', 'pgstattuple', 'pg_prewarm', 'amcheck'];
/** The same lists as SQL (constants, so no name from outside reaches the statements). */
const ADMIN_ROLE_LIST = ADMIN_ROLES.join(', ');
const FORBIDDEN_ROLE_LIST = FORBIDDEN_ROLES.join(', ');
/** The replication role with the cluster's own password (D7; D32: sent as a SCRAM verifier); idempotent. */
export async function ensureReplicationRole(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  secrets: ClusterSecrets,
): Promise<void> {
  const inst = e.instance(cluster, primary);
  const exists = await inst.query<{ n: number }>('select count(*)::int as n from pg_roles where rolname = $1', [REPLICATION_ROLE]);
  const verb = exists[0]?.n ? 'alter' : 'create';
  await inst.query(
    `${verb} role ${ident(REPLICATION_ROLE)} with nosuperuser replication login password ${literal(scramVerifier(secrets.replPassword))}`,
  );
}

/**
 * The administrator (D7, D32): a managed service's admin without host access, after RDS's
 * `rds_superuser` and Cloud SQL's `cloudsqlsuperuser`, fitted to PostgreSQL 15. Not a
 * superuser and `NOCREATEROLE` (on 15 a CREATEROLE role can grant itself
 * pg_execute_server_program); reads and writes every table, monitors, ends other sessions,
 * checkpoints, switches WAL, creates databases and, in `postgres`, objects in `public`
 * (and trusted extensions there). Idempotent: an older superuser admin is demoted.
 */
export async function ensureAdmin(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  user: string,
  password: string,
): Promise<void> {
  const inst = e.instance(cluster, primary);
  const exists = await inst.query<{ n: number }>('select count(*)::int as n from pg_roles where rolname = $1', [user]);
  const verb = exists[0]?.n ? 'alter' : 'create';
  await inst.query(`${verb} role ${ident(user)} with ${ADMIN_ATTRIBUTES} password ${literal(scramVerifier(password))}`);
  await e.grantAdmin(cluster, primary, user);
}

/** The administrator's attributes, roles and privileges of D32 (not its password); idempotent. */
export async function grantAdmin(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
  primary: NodeRecord,
  user: string,
): Promise<void> {
  const inst = e.instance(cluster, primary);
  await inst.query(`alter role ${ident(user)} with ${ADMIN_ATTRIBUTES}`);
  await inst.query(`grant ${ADMIN_ROLE_LIST} to ${ident(user)}`);
  await inst.query(`revoke ${FORBIDDEN_ROLE_LIST} from ${ident(user)}`);
  await inst.query(`grant create on database postgres to ${ident(user)}`);
  await inst.query(`grant create on schema public to ${ident(user)}`);
  await inst.query(`grant execute on function pg_catalog.pg_switch_wal() to ${ident(user)}`);
}

/**
 * D32's clean-up of a restored copy (a snapshot may come from before D32, when the
 * administrator was a superuser and could leave anything behind): every role but the
 * bootstrap superuser loses SUPERUSER, CREATEROLE, BYPASSRLS and (but dwsbox's replication
 * role) REPLICATION; the server-program and server-file roles are revoked from everyone, and
 * every privilege on a parameter (`GRANT SET | ALTER SYSTEM ON PARAMETER`, only a superuser
 * grants one); the per-database and per-role settings no non-superuser could have stored are
 * reset (`settingsToReset`); in every database — those that allow no connections too, opened
 * for the clean-up and closed again, template0 included — event triggers are dropped first,
 * then subscriptions (never started: max_logical_replication_workers is 0), then functions in untrusted languages (`internal` and `c` among them) that belong to no
 * extension and are not PostgreSQL's own (oid 16384 and above, whatever their schema; `c`,
 * `internal` and the …u languages made untrusted again first, should a superuser have marked
 * one trusted; functions and procedures, not aggregates, which every tenant makes with
 * `internal` as their language: the functions they call are what is checked),
 * then the privileges on PostgreSQL's own objects initdb did not give (`systemPrivilegeDrift`);
 * `ALTER SYSTEM RESET ALL` (takes effect at the next restart). Returns what it changed.
 * Idempotent, and safe to run again after a crash in the middle (a database opened for it
 * carries a marker setting until it is closed again).
 */
export async function cleanRestoredCluster(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
  primary: NodeRecord,
): Promise<string[]> {
  const inst = e.instance(cluster, primary);
  const done: string[] = [];
  const roles = await inst.query<{ name: string; repl: boolean }>(
    `select rolname as name, rolreplication as repl from pg_roles
      where oid <> 10 and rolname !~ '^pg_' and (rolsuper or rolcreaterole or rolbypassrls or (rolreplication and rolname <> $1))`,
    [REPLICATION_ROLE],
  );
  for (const r of roles) {
    if (r.name === REPLICATION_ROLE) await inst.query(`alter role ${ident(r.name)} nosuperuser nocreaterole nobypassrls`);
    else await inst.query(`alter role ${ident(r.name)} nosuperuser nocreaterole nobypassrls noreplication`);
    done.push(`role ${r.name} demoted`);
  }
  const members = await inst.query<{ role: string; member: string }>(
    `select r.rolname as role, m.rolname as member from pg_auth_members a join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member
      where r.rolname = any($1) and m.oid <> 10`,
    [FORBIDDEN_ROLES],
  );
  for (const m of members) {
    await inst.query(`revoke ${ident(m.role)} from ${ident(m.member)} cascade`);
    done.push(`${m.role} revoked from ${m.member}`);
  }
  // PostgreSQL 15's parameter privileges: an administrator with ALTER SYSTEM on archive_command runs programs.
  const paramAcl = await inst.query<{ p: string; g: string | null }>(
    `select distinct a.parname as p, r.rolname as g from pg_parameter_acl a, aclexplode(a.paracl) x
       left join pg_roles r on r.oid = x.grantee where x.grantee <> 10 order by 1, 2`,
  );
  for (const { p, g } of paramAcl) {
    const grantee = g === null ? 'public' : ident(g);
    await inst.query(`revoke all on parameter ${ident(p)} from ${grantee} cascade`);
    done.push(`privileges on parameter ${p} revoked from ${g ?? 'public'}`);
  }
  // Databases that allow no connections: those closed now, and those a crashed run opened (its marker).
  const closed = new Set(
    (
      await inst.query<{ d: string }>(
        `select datname as d from pg_database d where not datallowconn
            or exists (select 1 from pg_db_role_setting s where s.setdatabase = d.oid and s.setrole = 0 and $1 = any(s.setconfig))`,
        [`${OPENED_MARKER}=on`],
      )
    ).map((r) => r.d),
  );
  for (const s of await settingsToReset(e, inst)) {
    const target =
      s.role === null
        ? `database ${ident(s.database!)}`
        : `role ${s.role === '' ? 'all' : ident(s.role)}${s.database === null ? '' : ` in database ${ident(s.database)}`}`;
    await inst.query(`alter ${target} reset ${ident(s.name)}`);
    const of =
      s.role === null
        ? `database ${s.database}`
        : `${s.role === '' ? 'all roles' : `role ${s.role}`}${s.database === null ? '' : ` in database ${s.database}`}`;
    done.push(`setting ${s.name} of ${of} reset`);
  }
  const dbs = await inst.query<{ d: string }>(`select datname as d from pg_database order by 1`);
  for (const { d } of dbs) {
    const open = closed.has(d);
    if (open) {
      // Marked first, so a run that crashes before it closes the database again closes it the next time.
      await inst.query(`alter database ${ident(d)} set ${OPENED_MARKER} = on`);
      await inst.query(`alter database ${ident(d)} allow_connections true`);
    }
    // Event triggers first: they would fire on the DDL that follows, in this superuser's session
    // (DROP EVENT TRIGGER fires none, nor do the statements on roles, databases and settings above).
    for (const t of await inst.query<{ n: string }>(`select evtname as n from pg_event_trigger`, [], d)) {
      await inst.query(`drop event trigger ${ident(t.n)}`, [], d);
      done.push(`event trigger ${t.n} dropped in ${d}`);
    }
    // Subscriptions (only a superuser made one): never started (max_logical_replication_workers
    // is 0), dropped without a word to their publisher (no slot of theirs is dropped there).
    for (const { n } of await inst.query<{ n: string }>(
      `select subname as n from pg_subscription where subdbid = (select oid from pg_database where datname = current_database()) order by 1`,
      [],
      d,
    )) {
      await inst.query(`alter subscription ${ident(n)} disable`, [], d);
      await inst.query(`alter subscription ${ident(n)} set (slot_name = none)`, [], d);
      await inst.query(`drop subscription ${ident(n)}`, [], d);
      done.push(`subscription ${n} dropped in ${d}`);
    }
    // A language a superuser marked trusted lets anyone with USAGE (PUBLIC, by default) create
    // functions in it: `c` and `internal` never are, nor is a language named as untrusted (…u:
    // plpython3u, plperlu, pltclu). PostgreSQL has no statement that makes a language untrusted
    // again: the catalog row is updated (a superuser's DML on pg_language, no DDL: nothing fires).
    for (const { n } of await inst.query<{ n: string }>(
      `select lanname as n from pg_language where lanpltrusted and (lanname in ('c', 'internal') or lanname ~ 'u$') order by 1`,
      [],
      d,
    )) {
      await inst.query(`update pg_catalog.pg_language set lanpltrusted = false where lanname = $1`, [n], d);
      done.push(`language ${n} made untrusted in ${d}`);
    }
    const fns = await inst.query<{ f: string }>(
      `select p.oid::regprocedure::text as f from pg_proc p join pg_language l on l.oid = p.prolang
        where not l.lanpltrusted and p.oid >= 16384 and p.prokind in ('f', 'p')
          and not exists (select 1 from pg_depend e where e.classid = 'pg_proc'::regclass and e.objid = p.oid and e.deptype = 'e')`,
      [],
      d,
    );
    // `proc` is PostgreSQL's own regprocedure output: a signature with every name quoted as needed.
    for (const { f: proc } of fns) {
      await inst.query(`drop routine ${proc} cascade`, [], d);
      done.push(`function ${proc} (untrusted language) dropped in ${d}`);
    }
    for (const r of await systemPrivilegeDrift(inst, d)) {
      await inst.query(r.sql, [], d);
      done.push(`${r.what} in ${d}`);
    }
    if (open) {
      await inst.query(`alter database ${ident(d)} allow_connections false`);
      await inst.query(`alter database ${ident(d)} reset ${OPENED_MARKER}`);
    }
  }
  await inst.query('alter system reset all');
  if (done.length)
    e.log.warn('restored copy cleaned of what a tenant superuser could have left (D32)', { clusterId: cluster.id, changes: done });
  return done;
}

/**
 * Privileges on PostgreSQL's own objects in `pg_catalog` (its functions, tables, views,
 * sequences and their columns; the pg_catalog and pg_toast schemas) that initdb did not give
 * (pg_init_privs, or the object's default when it has none there): only a superuser grants
 * them (EXECUTE on pg_read_file, SELECT on pg_authid, CREATE on pg_catalog, whose objects
 * every session's search path reaches first). Each as the REVOKE that removes it. EXECUTE on
 * pg_switch_wal is D32's own grant to the administrator (made again after the clean-up).
 * information_schema is left as it is: initdb records none of its privileges, and a grant on
 * its views and functions gives nothing the catalogs do not.
 */
async function systemPrivilegeDrift(inst: PgInstance, database: string): Promise<{ sql: string; what: string }[]> {
  const rows = await inst.query<{ kind: string; obj: string; col: string | null; priv: string; grantee: string | null }>(
    `with objs as (
       select 'function' as kind, p.oid::regprocedure::text as obj, null::text as col, p.oid, 'pg_proc'::regclass as cls, 0 as sub,
              p.proacl as acl, p.proowner as owner, 'f'::"char" as k
         from pg_proc p where p.pronamespace = 'pg_catalog'::regnamespace and p.oid < 16384
          and p.oid <> 'pg_catalog.pg_switch_wal()'::regprocedure
       union all
       select case when c.relkind = 'S' then 'sequence' else 'table' end, c.oid::regclass::text, null, c.oid, 'pg_class'::regclass, 0,
              c.relacl, c.relowner, case when c.relkind = 'S' then 's' else 'r' end::"char"
         from pg_class c where c.relnamespace = 'pg_catalog'::regnamespace and c.oid < 16384 and c.relkind in ('r', 'v', 'm', 'S', 'f', 'p')
       union all
       select 'column', c.oid::regclass::text, quote_ident(a.attname), c.oid, 'pg_class'::regclass, a.attnum, a.attacl, c.relowner, 'c'::"char"
         from pg_attribute a join pg_class c on c.oid = a.attrelid
        where c.relnamespace = 'pg_catalog'::regnamespace and c.oid < 16384 and a.attnum > 0 and a.attacl is not null
       union all
       select 'schema', quote_ident(n.nspname), null, n.oid, 'pg_namespace'::regclass, 0, n.nspacl, n.nspowner, 'n'::"char"
         from pg_namespace n where n.nspname in ('pg_catalog', 'pg_toast')
     )
     select o.kind, o.obj, o.col, x.privilege_type as priv, r.rolname as grantee
       from objs o cross join lateral aclexplode(coalesce(o.acl, acldefault(o.k, o.owner))) x
       left join pg_roles r on r.oid = x.grantee
      where x.grantee <> o.owner and (x.grantee = 0 or r.oid is not null)
        and not exists (
          select 1 from aclexplode(coalesce(
                   (select i.initprivs from pg_init_privs i
                     where i.objoid = o.oid and i.classoid = o.cls and i.objsubid = o.sub and i.privtype = 'i'),
                   case when o.k = 'c' then null else acldefault(o.k, o.owner) end)) y
           where y.grantee = x.grantee and y.privilege_type = x.privilege_type)
      order by 1, 2, 3, 4, 5`,
    [],
    database,
  );
  const out: { sql: string; what: string }[] = [];
  for (const r of rows) {
    // aclexplode's names (SELECT, EXECUTE, …) and PostgreSQL's own quoted names (regprocedure, regclass, quote_ident).
    if (!/^[A-Z]+$/.test(r.priv)) continue;
    const from = r.grantee === null ? 'public' : ident(r.grantee);
    const on =
      r.kind === 'function'
        ? `on function ${r.obj}`
        : r.kind === 'sequence'
          ? `on sequence ${r.obj}`
          : r.kind === 'schema'
            ? `on schema ${r.obj}`
            : `on table ${r.obj}`;
    const priv = r.kind === 'column' ? `${r.priv} (${r.col})` : r.priv;
    out.push({
      sql: `revoke ${priv} ${on} from ${from} cascade`,
      what: `${priv} ${on} revoked from ${r.grantee ?? 'public'}`,
    });
  }
  return out;
}

/** The setting that marks a database the clean-up opened (a custom placeholder: only a superuser stores one). */
const OPENED_MARKER = 'dwsbox.opened_for_cleanup';

/** One entry of pg_db_role_setting: `role` '' is every role (ALTER ROLE ALL), null none; `database` null none. */
interface StoredSetting {
  database: string | null;
  role: string | null;
  name: string;
}

/**
 * The per-database and per-role settings (pg_db_role_setting: ALTER DATABASE … SET, ALTER
 * ROLE … [IN DATABASE …] SET) that no non-superuser could have stored, and that apply to every
 * later session, dwsbox's superuser's too. Kept: those PostgreSQL knows with the context
 * `user`. Everything else goes: `superuser` and above (session_preload_libraries,
 * session_replication_role, log_*, …), and names this server does not know. A custom
 * placeholder (a name with a dot) is no exception: PostgreSQL 15 lets no non-superuser store
 * one that no module loaded in its session defines (validate_option_array_item), and once a
 * module defines it, the stored value applies with a superuser's context (extwlist.extensions
 * would widen pgextwlist's list). So a module's variables are judged as defined: when the
 * prefix names a library of this PostgreSQL's `lib` directory, this session loads it (by
 * absolute path: no dynamic_library_path of the copy's) before it reads pg_settings — a
 * `user` variable of a trusted extension's module (pg_trgm.similarity_threshold) stays.
 * Read in a session of its own, which loads libraries only from the host's packages.
 */
async function settingsToReset(e: LocalEngine, inst: PgInstance): Promise<StoredSetting[]> {
  const c = await inst.connect('postgres');
  try {
    const rows = (
      await c.query<{ database: string | null; role: string | null; item: string }>(
        `select d.datname as database, case when s.setrole = 0 then null else r.rolname end as role, x.item
           from pg_db_role_setting s cross join unnest(s.setconfig) as x(item)
           left join pg_database d on d.oid = s.setdatabase left join pg_roles r on r.oid = s.setrole
          where (s.setdatabase = 0 or d.oid is not null) and (s.setrole = 0 or r.oid is not null)
          order by 1, 2, 3`,
      )
    ).rows;
    const stored = rows.map((r) => ({
      database: r.database,
      // setrole 0 with a database: ALTER DATABASE; setrole 0 without one: ALTER ROLE ALL.
      role: r.role === null && r.database === null ? '' : r.role,
      name: r.item.slice(0, Math.max(0, r.item.indexOf('='))) || r.item,
    }));
    const libDir = join(e.bins.binDir, '..', 'lib');
    const prefixes = new Set(stored.map((s) => /^([a-z0-9_]+)\./i.exec(s.name)?.[1]?.toLowerCase()).filter((p): p is string => !!p));
    for (const p of prefixes) {
      const lib = join(libDir, `${p}.so`);
      if (!/^[a-z0-9_]+$/.test(p) || !existsSync(lib)) continue;
      await c.query(`load ${literal(lib)}`).catch(() => {});
    }
    const user = new Set(
      (await c.query<{ n: string }>(`select lower(name) as n from pg_settings where context = 'user'`)).rows.map((r) => r.n),
    );
    return stored.filter((s) => s.name !== OPENED_MARKER && !user.has(s.name.toLowerCase()));
  } finally {
    await c.end().catch(() => {});
  }
}

export async function setAdminPassword(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  user: string,
  password: string,
): Promise<void> {
  await e.instance(cluster, primary).query(`alter role ${ident(user)} with password ${literal(scramVerifier(password))}`);
}

/** Log in as the administrator over TCP at the primary's endpoint (what a user does). */
export async function checkAdminLogin(e: LocalEngine, primary: NodeRecord, user: string, password: string): Promise<void> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({
    host: primary.host,
    port: primary.port,
    user,
    password,
    database: 'postgres',
    connectionTimeoutMillis: 10_000,
  });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('select 1');
  } catch (e) {
    throw new AppError('VERIFY_FAILED', {
      args: [`the administrator cannot log in at ${primary.host}:${primary.port}: ${(e as Error).message}`],
    });
  } finally {
    await c.end().catch(() => {});
  }
}
