/**
 * Database users (issue 16, D28, D32): real roles on the cluster's primary, run as dwsbox's
 * superuser session like the administrator's own (roles.ts). Every name is quoted with
 * `ident`, every text with `literal`, a password travels as its SCRAM verifier. What may be
 * asked is decided before (domain/db-users.ts); this runs it, in one transaction where it is
 * several statements, so a failure changes nothing.
 */
import type { DbRoleChange, DbRoleCreate, DbRoleRow } from '../../domain/db-users.js';
import { AppError } from '../../errors/app-error.js';
import { sqlState } from '../../errors/pg-sqlstate.js';
import type { ClusterRef } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import type { NodeRecord } from '../../domain/records.js';
import { ident, literal } from '../pg-instance.js';
import { scramVerifier } from '../scram.js';
import { FORBIDDEN_ROLES } from './roles.js';

/** The roles named (all when `names` is undefined), as pg_roles says, with what D32's checks need. */
export async function dbRoles(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  admin: string,
  names?: readonly string[],
): Promise<DbRoleRow[]> {
  // Named as DbRoleRow's fields, so the rows are the answer as they come.
  return e.instance(cluster, primary).query<DbRoleRow>(
    `select r.rolname::text as name, r.rolcanlogin as login, r.rolcreaterole as createrole, r.rolcreatedb as createdb,
            r.rolsuper as superuser, r.rolinherit as inherit, r.rolreplication as replication, r.rolbypassrls as bypassrls,
            r.rolconnlimit as "connLimit",
            case when isfinite(r.rolvaliduntil) then floor(extract(epoch from r.rolvaliduntil) * 1000)::float8 end as "validUntilMs",
            shobj_description(r.oid, 'pg_authid') as comment,
            coalesce((select array_agg(g.rolname::text order by g.rolname) from pg_auth_members m join pg_roles g on g.oid = m.roleid
                       where m.member = r.oid), '{}'::text[]) as "memberOf",
            coalesce(pg_has_role(a.oid, r.oid, 'MEMBER'), false) as "adminIsMember",
            -- beyond the administrator: a member (directly, through others, or as a superuser) of a
            -- server-file or server-program role or of any role with an attribute it lacks
            exists (select 1 from pg_roles f
                     where (f.rolname = any($2::text[]) or f.rolsuper or f.rolcreaterole or f.rolreplication or f.rolbypassrls)
                       and pg_has_role(r.oid, f.oid, 'MEMBER')) as "holdsForbidden"
       from pg_roles r left join pg_roles a on a.rolname = $1
      where $3::text[] is null or r.rolname = any($3::text[])
      order by r.rolname`,
    [admin, FORBIDDEN_ROLES, names ? [...names] : null],
  );
}

/** The options of CREATE/ALTER ROLE for a change (constants, numbers, a literal instant, a SCRAM verifier). */
function roleOptions(c: DbRoleChange): string[] {
  const o: string[] = [];
  if (c.login !== undefined) o.push(c.login ? 'login' : 'nologin');
  if (c.createdb !== undefined) o.push(c.createdb ? 'createdb' : 'nocreatedb');
  if (c.inherit !== undefined) o.push(c.inherit ? 'inherit' : 'noinherit');
  if (c.connLimit !== undefined) {
    if (!Number.isInteger(c.connLimit)) throw new Error(`connection limit ${c.connLimit} is not an integer`);
    o.push(`connection limit ${c.connLimit}`);
  }
  if (c.validUntil !== undefined) o.push(`valid until ${literal(c.validUntil)}`);
  if (c.password !== undefined) o.push(c.password === null ? 'password null' : `password ${literal(scramVerifier(c.password))}`);
  return o;
}

/** SQL errors of a role statement as the API's. */
function explain(e: unknown, cluster: ClusterRef, name: string): unknown {
  switch (sqlState(e)) {
    case '42710':
      return new AppError('DB_USER_EXISTS', { args: [name, cluster.id], cause: e });
    case '42704':
      return new AppError('DB_USER_NOT_FOUND', { args: [name, cluster.id], cause: e });
    case '2BP01': {
      const detail = (e as { detail?: string }).detail;
      return new AppError('DB_USER_IN_USE', {
        args: [
          name,
          `${(e as Error).message}${detail ? ` (${detail.split('\n').slice(0, 3).join('; ')})` : ''}; send cascade=true to drop them with it`,
        ],
        cause: e,
      });
    }
    case '25006':
      return new AppError('CLUSTER_STATE_CONFLICT', {
        args: [cluster.id, 'its primary has just changed (the node recorded as primary is read-only now); try again in a moment'],
        cause: e,
      });
    default: {
      // anything else PostgreSQL refuses about the role itself (e.g. a membership it forbids): its own words, nothing changed
      const state = sqlState(e);
      if (state && /^(0L|0P|22|42)/.test(state))
        return new AppError('DB_USER_REFUSED', {
          args: [JSON.stringify(name), `PostgreSQL refused it: ${(e as Error).message}`],
          cause: e,
        });
      return e;
    }
  }
}

/** CREATE ROLE with the attributes asked (never above the administrator's: NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS), its comment and memberships, in one transaction. */
export async function createDbRole(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord, role: DbRoleCreate): Promise<void> {
  const c = await e.instance(cluster, primary).connect();
  c.on('error', () => {});
  try {
    await c.query('begin');
    const opts = [...roleOptions(role), 'nosuperuser', 'nocreaterole', 'noreplication', 'nobypassrls'];
    await c.query(`create role ${ident(role.name)} with ${opts.join(' ')}`);
    if (role.comment !== null) await c.query(`comment on role ${ident(role.name)} is ${literal(role.comment)}`);
    for (const r of role.memberOf) await c.query(`grant ${ident(r)} to ${ident(role.name)}`);
    await c.query('commit');
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw explain(err, cluster, role.name);
  } finally {
    await c.end().catch(() => {});
  }
}

/** ALTER ROLE with what changes (one statement); nothing to change is nothing done. */
export async function alterDbRole(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  name: string,
  change: DbRoleChange,
): Promise<void> {
  const opts = roleOptions(change);
  if (!opts.length) return;
  await e
    .instance(cluster, primary)
    .query(`alter role ${ident(name)} with ${opts.join(' ')}`)
    .catch((err: unknown) => {
      throw explain(err, cluster, name);
    });
}

/**
 * DROP ROLE. `cascade`: first, in every database that takes connections, `DROP OWNED BY` (its
 * objects dropped, its privileges revoked), as GaussDB's DROP USER … CASCADE does; without
 * it, a role that owns or holds anything is refused (DB_USER_IN_USE) and nothing is dropped.
 */
export async function dropDbRole(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord, name: string, cascade: boolean): Promise<void> {
  const inst = e.instance(cluster, primary);
  try {
    const [exists] = await inst.query<{ n: number }>('select count(*)::int as n from pg_roles where rolname = $1', [name]);
    if (!exists?.n) throw new AppError('DB_USER_NOT_FOUND', { args: [name, cluster.id] });
    if (cascade) {
      const dbs = await inst.query<{ d: string }>('select datname as d from pg_database where datallowconn order by 1');
      for (const { d } of dbs) await inst.query(`drop owned by ${ident(name)}`, [], d);
    }
    await inst.query(`drop role ${ident(name)}`);
  } catch (err) {
    throw explain(err, cluster, name);
  }
}
