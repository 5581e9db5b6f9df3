/**
 * SyncIamUsers on the primary (issue 16, domain/db-sync.ts): the roles a sync makes, re-labels
 * and drops, run as dwsbox's superuser session like the other database-user calls
 * (db-users.ts), never giving a role more than a database user may have (NOSUPERUSER
 * NOCREATEROLE NOREPLICATION NOBYPASSRLS, no membership). A role is named by `ident`, its
 * comment by `literal`. A role the store knows by its OID is changed or dropped only while the
 * role of that name is still the one of that OID.
 */
import type { NodeRecord } from '../../domain/records.js';
import type { ClusterRef } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import { ident, literal } from '../pg-instance.js';

/** Every role of the primary, by name, with its OID. */
export async function roleOids(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord): Promise<{ name: string; oid: number }[]> {
  return e
    .instance(cluster, primary)
    .query<{ name: string; oid: number }>('select rolname::text as name, oid::int8::float8 as oid from pg_roles order by 1');
}

/**
 * A synced role: CREATE ROLE … LOGIN with no password (nobody logs in until the administrator
 * sets one with UpdateDatabaseUserInfo) and nothing above a database user, its comment, in one
 * transaction. Returns its OID. A role of the name made meanwhile: PostgreSQL's 42710, as it is.
 */
export async function createSyncedRole(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  name: string,
  comment: string,
): Promise<number> {
  const c = await e.instance(cluster, primary).connect();
  c.on('error', () => {});
  try {
    await c.query('begin');
    await c.query(
      `create role ${ident(name)} with login nosuperuser nocreaterole nocreatedb noreplication nobypassrls inherit password null`,
    );
    await c.query(`comment on role ${ident(name)} is ${literal(comment)}`);
    const { rows } = await c.query<{ oid: number }>('select oid::int8::float8 as oid from pg_roles where rolname = $1', [name]);
    await c.query('commit');
    return rows[0]!.oid;
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    await c.end().catch(() => {});
  }
}

/** The comment of the synced role `name` rewritten, while it is the role of `oid`; false (nothing done) when it is not. */
export async function commentSyncedRole(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  name: string,
  oid: number,
  comment: string,
): Promise<boolean> {
  const c = await e.instance(cluster, primary).connect();
  c.on('error', () => {});
  try {
    await c.query('begin');
    const same = (await c.query('select 1 from pg_roles where rolname = $1 and oid = $2::int8::oid', [name, oid])).rowCount;
    if (!same) {
      await c.query('rollback');
      return false;
    }
    await c.query(`comment on role ${ident(name)} is ${literal(comment)}`);
    await c.query('commit');
    return true;
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * The synced role `name` dropped, while it is the role of `oid` (false, nothing done, when it is
 * not): LOGIN taken away, its sessions ended, in every database that takes connections what it
 * owns handed to `admin` (REASSIGN OWNED: the tenant's data stays, the administrator's) and the
 * privileges granted to it revoked (DROP OWNED), then DROP ROLE.
 */
export async function dropSyncedRole(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  name: string,
  oid: number,
  admin: string,
): Promise<boolean> {
  const inst = e.instance(cluster, primary);
  const same = await inst.query('select 1 from pg_roles where rolname = $1 and oid = $2::int8::oid', [name, oid]);
  if (!same.length) return false;
  await inst.query(`alter role ${ident(name)} with nologin`);
  await inst.query('select pg_terminate_backend(pid) from pg_stat_activity where usesysid = $1::int8::oid', [oid]);
  const dbs = await inst.query<{ d: string }>('select datname as d from pg_database where datallowconn order by 1');
  for (const { d } of dbs) {
    await inst.query(`reassign owned by ${ident(name)} to ${ident(admin)}`, [], d);
    await inst.query(`drop owned by ${ident(name)}`, [], d);
  }
  await inst.query(`drop role ${ident(name)}`);
  return true;
}

/** Every session of the role of `oid` on a running member ended (a standby's: its sessions outlive the drop there); how many. */
export async function endRoleSessions(e: LocalEngine, cluster: ClusterRef, member: NodeRecord, oid: number): Promise<number> {
  const rows = await e
    .instance(cluster, member)
    .query<{ n: number }>('select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where usesysid = $1::int8::oid', [oid]);
  return rows[0]?.n ?? 0;
}
