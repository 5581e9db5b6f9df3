/** The roles of a cluster (D7, D32): the replication role, the administrator, and the clean-up of a restored copy. */
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { ClusterSecrets } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import { REPLICATION_ROLE } from '../local-engine.js';
import { ident, literal } from '../pg-instance.js';
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
 * role) REPLICATION; the server-program and server-file roles are revoked from everyone;
 * event triggers and functions in untrusted languages that belong to no extension are
 * dropped in every database; `ALTER SYSTEM RESET ALL` (takes effect at the next restart).
 * Returns what it changed. Idempotent.
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
  const dbs = await inst.query<{ d: string }>(`select datname as d from pg_database where datallowconn order by 1`);
  for (const { d } of dbs) {
    for (const t of await inst.query<{ n: string }>(`select evtname as n from pg_event_trigger`, [], d)) {
      await inst.query(`drop event trigger ${ident(t.n)}`, [], d);
      done.push(`event trigger ${t.n} dropped in ${d}`);
    }
    const fns = await inst.query<{ f: string }>(
      `select p.oid::regprocedure::text as f from pg_proc p join pg_language l on l.oid = p.prolang
        where not l.lanpltrusted and l.lanname <> 'internal' and p.pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
          and not exists (select 1 from pg_depend e where e.classid = 'pg_proc'::regclass and e.objid = p.oid and e.deptype = 'e')`,
      [],
      d,
    );
    // `proc` is PostgreSQL's own regprocedure output: a signature with every name quoted as needed.
    for (const { f: proc } of fns) {
      await inst.query(`drop function ${proc} cascade`, [], d);
      done.push(`function ${proc} (untrusted language) dropped in ${d}`);
    }
  }
  await inst.query('alter system reset all');
  if (done.length)
    e.log.warn('restored copy cleaned of what a tenant superuser could have left (D32)', { clusterId: cluster.id, changes: done });
  return done;
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
