/**
 * The O&M account on the primary (issue 16, domain/om-user.ts): `dwsbox_om`, LOGIN with a real
 * VALID UNTIL, a member of the cluster's administrator (its rights, never more), no password
 * until the operator sets one (`setOmPassword`, a SCRAM verifier). Dropped with what it made
 * handed to the administrator, its sessions ended first.
 */
import type { OmRoleRow } from '../../domain/om-user.js';
import { OM_ROLE } from '../../domain/om-user.js';
import type { NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { ClusterRef } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import { ident, literal } from '../pg-instance.js';
import { scramVerifier } from '../scram.js';

export async function omRole(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord): Promise<OmRoleRow | null> {
  const [row] = await e.instance(cluster, primary).query<OmRoleRow>(
    `select rolcanlogin as login,
            case when isfinite(rolvaliduntil) then floor(extract(epoch from rolvaliduntil) * 1000)::float8 end as "validUntilMs"
       from pg_roles where rolname = $1`,
    [OM_ROLE],
  );
  return row ?? null;
}

/** The role made (or kept) with this expiry, LOGIN, a member of `admin` only; its password is left as it is (none when new). */
export async function enableOmRole(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  admin: string,
  validUntil: string,
): Promise<void> {
  const c = await e.instance(cluster, primary).connect();
  c.on('error', () => {});
  try {
    await c.query('begin');
    const exists = (await c.query('select 1 from pg_roles where rolname = $1', [OM_ROLE])).rowCount;
    if (!exists) await c.query(`create role ${ident(OM_ROLE)} with nosuperuser nocreaterole nocreatedb noreplication nobypassrls inherit`);
    await c.query(
      `alter role ${ident(OM_ROLE)} with login nosuperuser nocreaterole nocreatedb noreplication nobypassrls inherit valid until ${literal(validUntil)}`,
    );
    // a member of the administrator and of nothing else, whatever an older role of this name held (a restored copy's)
    const others = await c.query<{ r: string }>(
      'select g.rolname::text as r from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles o on o.oid = m.member where o.rolname = $1 and g.rolname <> $2',
      [OM_ROLE, admin],
    );
    for (const { r } of others.rows) await c.query(`revoke ${ident(r)} from ${ident(OM_ROLE)}`);
    await c.query(`grant ${ident(admin)} to ${ident(OM_ROLE)}`);
    await c.query('commit');
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    await c.end().catch(() => {});
  }
}

/** Every session of the role on a running member ended (a standby's too: it reads there). */
export async function endOmSessions(e: LocalEngine, cluster: ClusterRef, member: NodeRecord): Promise<void> {
  await e.instance(cluster, member).query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [OM_ROLE]);
}

/**
 * The sessions of the role on a running member ended once its VALID UNTIL has passed (or its
 * LOGIN was taken away): PostgreSQL only refuses new logins at the expiry, and the O&M access the
 * tenant gave ends then. Returns how many were ended.
 */
export async function endExpiredOmSessions(e: LocalEngine, cluster: ClusterRef, member: NodeRecord): Promise<number> {
  const rows = await e.instance(cluster, member).query<{ ended: boolean }>(
    `select pg_terminate_backend(a.pid) as ended from pg_stat_activity a join pg_roles r on r.rolname = a.usename
      where a.usename = $1 and (not r.rolcanlogin or r.rolvaliduntil is null or r.rolvaliduntil <= now())`,
    [OM_ROLE],
  );
  return rows.filter((r) => r.ended).length;
}

/** Its sessions ended (on the primary here; the service ends a standby's), what it owns handed to `admin` in every database, the role dropped; nothing when there is none. */
export async function dropOmRole(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord, admin: string): Promise<void> {
  const inst = e.instance(cluster, primary);
  if (!(await omRole(e, cluster, primary))) return;
  await inst.query(`alter role ${ident(OM_ROLE)} with nologin`);
  await endOmSessions(e, cluster, primary);
  const dbs = await inst.query<{ d: string }>('select datname as d from pg_database where datallowconn order by 1');
  for (const { d } of dbs) {
    await inst.query(`reassign owned by ${ident(OM_ROLE)} to ${ident(admin)}`, [], d);
    await inst.query(`drop owned by ${ident(OM_ROLE)}`, [], d);
  }
  await inst.query(`drop role ${ident(OM_ROLE)}`);
}

/** A password for the role while it is on (the operator's): refused when the tenant has not switched it on, or it expired. */
export async function setOmPassword(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord, password: string): Promise<OmRoleRow> {
  const row = await omRole(e, cluster, primary);
  if (!row || !row.login || row.validUntilMs === null || row.validUntilMs <= Date.now())
    throw new AppError('CLUSTER_STATE_CONFLICT', {
      args: [cluster.id, 'its O&M account is off (the tenant switches it on with ExecuteDatabaseOmUserAction addOmUser)'],
    });
  await e.instance(cluster, primary).query(`alter role ${ident(OM_ROLE)} with password ${literal(scramVerifier(password))}`);
  return row;
}
