/**
 * Database privileges (issue 16, D28, D32): objects found in the catalogs of the primary, their
 * ACLs read with aclexplode, and GRANT / REVOKE run in one transaction. Every name that reaches
 * SQL is either quoted by the server itself (quote_ident, regprocedure, read back from the
 * catalogs) or by `ident` (roles); privileges come from domain/db-authority.ts's fixed list.
 * Statements run in dwsbox's superuser session under SET LOCAL ROLE of each object's owner (the
 * grantor PostgreSQL records either way), so the server enforces that the grantor holds what
 * it grants; the service has checked that every owner and grantee is within the
 * administrator's own power before (services/db-authority-service.ts). Nothing here runs
 * tenant code: GRANT, REVOKE and catalog reads call no function a tenant wrote.
 */
import type pg from 'pg';
import type { AclRow, AuthorityPlan, ObjectScope, ResolvedObject, SchemaSpaceRow } from '../../domain/db-authority.js';
import type { NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import { sqlState } from '../../errors/pg-sqlstate.js';
import type { ClusterRef } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import { ident } from '../pg-instance.js';

/** A role's oid as the object's acting owner: the database's owner where the owner is pg_database_owner. */
const actingOwner = (oid: string): string =>
  `pg_get_userbyid(case when ${oid} = 'pg_database_owner'::regrole then (select datdba from pg_database where datname = current_database()) else ${oid} end)`;

const FUNCTION_NAME = `p.proname || '(' || oidvectortypes(p.proargtypes) || ')'`;
/** Schemas that hold the system, never part of "every schema" (they are still named on their own, and refused by owner). */
const SYSTEM_SCHEMA = `(n.nspname like 'pg\\_%' or n.nspname = 'information_schema')`;
const RELKINDS: Partial<Record<ObjectScope['type'], string[]>> = { TABLE: ['r', 'p', 'f'], VIEW: ['v', 'm'], SEQUENCE: ['S'] };

/** The SQL that finds a scope's objects, and its parameters (`names`: null for every object). */
function findQuery(scope: ObjectScope, names: string[] | null): [string, unknown[]] {
  switch (scope.type) {
    case 'DATABASE':
      return [
        `select datname::text as name, quote_ident(datname) as target, pg_get_userbyid(datdba) as owner
           from pg_database where not datistemplate and datallowconn and ($1::text[] is null or datname = any($1)) order by 1`,
        [names],
      ];
    case 'SCHEMA':
      return [
        `select n.nspname::text as name, quote_ident(n.nspname) as target, ${actingOwner('n.nspowner')} as owner
           from pg_namespace n
          where case when $1::text[] is null then not ${SYSTEM_SCHEMA} else n.nspname = any($1) end order by 1`,
        [names],
      ];
    case 'COLUMN':
      return [
        `select a.attname::text as name, quote_ident(a.attname) as target, ${actingOwner('c.relowner')} as owner
           from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = $2 and c.relname = $3 and c.relkind in ('r', 'p', 'f', 'v', 'm') and a.attnum > 0 and not a.attisdropped
            and ($1::text[] is null or a.attname = any($1)) order by a.attnum`,
        [names, scope.schema, scope.table],
      ];
    case 'FUNCTION':
      return [
        `select ${FUNCTION_NAME} as name, p.oid::regprocedure::text as target, ${actingOwner('p.proowner')} as owner, p.proname::text as short
           from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where n.nspname = $2 and ($1::text[] is null or p.proname = any($1) or ${FUNCTION_NAME} = any($1)) order by 1`,
        [names, scope.schema],
      ];
    default:
      return [
        `select c.relname::text as name, quote_ident(n.nspname) || '.' || quote_ident(c.relname) as target, ${actingOwner('c.relowner')} as owner
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = $2 and c.relkind = any($3::"char"[]) and ($1::text[] is null or c.relname = any($1)) order by 1`,
        [names, scope.schema, RELKINDS[scope.type]],
      ];
  }
}

/** SQL errors of these reads and statements as the API's. */
function explain(e: unknown, cluster: ClusterRef, scope: ObjectScope): unknown {
  switch (sqlState(e)) {
    case '3D000':
      return new AppError('DB_OBJECT_NOT_FOUND', { args: ['database', JSON.stringify(scope.database), `cluster ${cluster.id}`], cause: e });
    case '42704':
      return new AppError('DB_USER_NOT_FOUND', { args: [`(${(e as Error).message})`, cluster.id], cause: e });
    case '25006':
      return new AppError('CLUSTER_STATE_CONFLICT', {
        args: [cluster.id, 'its primary has just changed (the node recorded as primary is read-only now); try again in a moment'],
        cause: e,
      });
    default: {
      const state = sqlState(e);
      if (state && /^(0L|0P|2B|22|42)/.test(state))
        return new AppError('DB_AUTHORITY_REFUSED', { args: [`PostgreSQL refused it: ${(e as Error).message}`], cause: e });
      return e;
    }
  }
}

/** A session as dwsbox's superuser in the scope's database, for `fn`. */
async function inDatabase<T>(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  scope: ObjectScope,
  fn: (c: pg.Client) => Promise<T>,
): Promise<T> {
  let c: pg.Client;
  try {
    c = await e.instance(cluster, primary).connect(scope.database);
  } catch (err) {
    // 55000: a database that takes no connections (a template) is not one of the tenant's
    throw sqlState(err) === '55000'
      ? new AppError('DB_OBJECT_NOT_FOUND', { args: ['database', JSON.stringify(scope.database), `cluster ${cluster.id}`], cause: err })
      : explain(err, cluster, scope);
  }
  c.on('error', () => {});
  try {
    return await fn(c);
  } catch (err) {
    throw explain(err, cluster, scope);
  } finally {
    await c.end().catch(() => {});
  }
}

async function find(c: pg.Client, scope: ObjectScope, names?: readonly string[]): Promise<(ResolvedObject & { short?: string })[]> {
  const rows = (await c.query<ResolvedObject & { short?: string }>(...findQuery(scope, names ? [...names] : null))).rows;
  if (scope.type === 'COLUMN') {
    const t = await c.query(
      `select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p', 'f', 'v', 'm')`,
      [scope.schema, scope.table],
    );
    if (!t.rowCount)
      throw new AppError('DB_OBJECT_NOT_FOUND', {
        args: ['table', JSON.stringify(`${scope.schema}.${scope.table}`), `database ${JSON.stringify(scope.database)}`],
      });
  }
  return rows;
}

/**
 * The objects of a scope: those named (each exactly once; a FUNCTION by its signature, or by
 * its name when only one has it), or every one (`names` undefined; SCHEMA: every schema but
 * the system's). A name found nowhere: DB_OBJECT_NOT_FOUND.
 */
export async function resolveDbObjects(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  scope: ObjectScope,
  names?: readonly string[],
): Promise<ResolvedObject[]> {
  return inDatabase(e, cluster, primary, scope, (c) => resolveIn(c, scope, names));
}

async function resolveIn(c: pg.Client, scope: ObjectScope, names?: readonly string[]): Promise<ResolvedObject[]> {
  const rows = await find(c, scope, names);
  const strip = ({ name, target, owner }: ResolvedObject): ResolvedObject => ({ name, target, owner });
  if (!names) return rows.map(strip);
  const found = names.map((n) => {
    const exact = rows.find((r) => r.name === n);
    if (exact) return strip(exact);
    const byShort = rows.filter((r) => r.short === n);
    if (byShort.length > 1)
      throw new AppError('VALIDATION', {
        args: [
          `function ${JSON.stringify(n)} has ${byShort.length} forms (${byShort.map((r) => r.name).join(', ')}); name one with its argument types`,
        ],
      });
    if (!byShort[0])
      throw new AppError('DB_OBJECT_NOT_FOUND', {
        args: [
          scope.type.toLowerCase(),
          JSON.stringify(scope.schema ? `${scope.schema}.${n}` : n),
          `database ${JSON.stringify(scope.database)}`,
        ],
      });
    return strip(byShort[0]);
  });
  // a function named both by its signature and by its name is one object
  return found.filter((o, i) => found.findIndex((x) => x.target === o.target) === i);
}

/** GRANT's word for the objects of a type (a view is a TABLE to GRANT; ROUTINE covers functions, procedures and aggregates). */
const ON: Record<ObjectScope['type'], string> = {
  DATABASE: 'database',
  SCHEMA: 'schema',
  TABLE: 'table',
  VIEW: 'table',
  COLUMN: 'table',
  FUNCTION: 'routine',
  SEQUENCE: 'sequence',
};

/**
 * The statements of a plan on its resolved objects: one per grant-option choice, every object
 * and grantee in it (COLUMN: the columns in each privilege, on the plan's table `relation`).
 */
export function authorityStatements(plan: AuthorityPlan, objects: readonly ResolvedObject[], relation?: string): string[] {
  const grantees = plan.roles.map((r) => (r === 'PUBLIC' ? 'public' : ident(r))).join(', ');
  const out: string[] = [];
  for (const option of [false, true]) {
    const privs = plan.privileges.filter((p) => p.option === option).map((p) => p.privilege);
    if (!privs.length) continue;
    const [what, on] =
      plan.type === 'COLUMN'
        ? [privs.map((p) => `${p === 'ALL' ? 'all' : p.toLowerCase()} (${objects.map((o) => o.target).join(', ')})`).join(', '), relation!]
        : [privs.map((p) => p.toLowerCase()).join(', '), objects.map((o) => o.target).join(', ')];
    out.push(
      plan.grant
        ? `grant ${what} on ${ON[plan.type]} ${on} to ${grantees}${option ? ' with grant option' : ''}`
        : `revoke ${option ? 'grant option for ' : ''}${what} on ${ON[plan.type]} ${on} from ${grantees} ${plan.cascade ? 'cascade' : 'restrict'}`,
    );
  }
  return out;
}

/**
 * A plan's objects found again and its statements run, in one transaction in the plan's
 * database: a warning that a privilege was not granted or not revoked (PostgreSQL's 01007 and
 * 01006: the grantor lacked it) rolls everything back. Returns the statements run.
 */
export async function applyAuthority(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  plan: AuthorityPlan,
  expected: readonly ResolvedObject[],
): Promise<string[]> {
  return inDatabase(e, cluster, primary, plan, async (c) => {
    const warnings: string[] = [];
    c.on('notice', (n) => {
      if (n.code === '01007' || n.code === '01006') warnings.push(n.message ?? n.code);
    });
    await c.query('begin');
    try {
      // the objects as they are now, in this transaction: the same ones the service checked
      const objects = await resolveIn(c, plan, plan.objects);
      const same = (a: readonly ResolvedObject[], b: readonly ResolvedObject[]) => JSON.stringify(a) === JSON.stringify(b);
      if (!same(objects, expected))
        throw new AppError('CLUSTER_STATE_CONFLICT', {
          args: [cluster.id, 'the objects or their owners changed while the request was checked; send it again'],
        });
      if (!objects.length)
        throw new AppError('DB_OBJECT_NOT_FOUND', {
          args: [plan.type.toLowerCase(), '(any: all_object found none)', `database ${JSON.stringify(plan.database)}`],
        });
      const relation =
        plan.type === 'COLUMN'
          ? (await c.query<{ t: string }>(`select quote_ident($1) || '.' || quote_ident($2) as t`, [plan.schema, plan.table])).rows[0]!.t
          : undefined;
      // Each object's statements as its owner, the grantor PostgreSQL would record anyway: the
      // server itself then checks the grantor holds what it grants, so an object that was
      // swapped for another owner's after the checks is refused, never granted as the superuser.
      const byOwner = new Map<string, ResolvedObject[]>();
      for (const o of objects) byOwner.set(o.owner, [...(byOwner.get(o.owner) ?? []), o]);
      const statements: string[] = [];
      for (const [owner, own] of byOwner) {
        await c.query(`set local role ${ident(owner)}`);
        for (const s of authorityStatements(plan, own, relation)) {
          await c.query(s);
          statements.push(s);
        }
      }
      await c.query('reset role');
      if (warnings.length)
        throw new AppError('DB_AUTHORITY_REFUSED', { args: [`PostgreSQL did not apply all of it: ${warnings.join('; ')}`] });
      await c.query('commit');
      return statements;
    } catch (err) {
      await c.query('rollback').catch(() => {});
      throw err;
    }
  });
}

/** The ACL rows of a database's objects: of one type and scope (`objects`: their names), or every one a role holds directly (`role`). */
const ACL_SQL = `
with acl as (
  select 'DATABASE'::text as type, null::text as schema, d.datname::text as object, null::text as col,
         coalesce(d.datacl, acldefault('d', d.datdba)) as acl
    from pg_database d where $5 and not d.datistemplate and d.datallowconn
  union all
  select 'SCHEMA', null, n.nspname, null, coalesce(n.nspacl, acldefault('n', n.nspowner)) from pg_namespace n
  union all
  select case when c.relkind = 'S' then 'SEQUENCE' when c.relkind in ('v', 'm') then 'VIEW' else 'TABLE' end, n.nspname, c.relname, null,
         coalesce(c.relacl, acldefault((case when c.relkind = 'S' then 's' else 'r' end)::"char", c.relowner))
    from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p', 'f', 'v', 'm', 'S')
  union all
  select 'COLUMN', n.nspname, c.relname, a.attname, a.attacl
    from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
   where a.attacl is not null and a.attnum > 0 and not a.attisdropped
  union all
  select 'FUNCTION', n.nspname, ${FUNCTION_NAME}, null, coalesce(p.proacl, acldefault('f', p.proowner))
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
)
select a.type, current_database()::text as database, a.schema, a.object, a.col as "column",
       case when x.grantee = 0 then 'PUBLIC' else pg_get_userbyid(x.grantee)::text end as role,
       x.privilege_type as privilege, x.is_grantable as grantable
  from acl a, aclexplode(a.acl) x
 where ($1::text[] is null or a.type = any($1)) and ($2::text is null or a.schema = $2)
   and ($3::text[] is null or (coalesce(a.col, a.object) = any($3) and ($4::text is null or a.object = $4)))
   and ($6::text is null or x.grantee = (select oid from pg_roles where rolname = $6))
 order by a.type, a.schema nulls first, a.object, a.col nulls first, role, privilege`;

/** Who holds what on the objects named in a scope (ShowDatabaseAuthority). */
export async function objectAcls(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  scope: ObjectScope,
  names: readonly string[],
): Promise<AclRow[]> {
  return inDatabase(e, cluster, primary, scope, async (c) => {
    // TABLE and VIEW are both relations to GRANT: a name of either type matches
    const types = scope.type === 'VIEW' || scope.type === 'TABLE' ? ['TABLE', 'VIEW'] : [scope.type];
    const table = scope.type === 'COLUMN' ? scope.table : null;
    return (await c.query<AclRow>(ACL_SQL, [types, scope.schema ?? null, [...names], table, scope.type === 'DATABASE', null])).rows;
  });
}

/** Every privilege `role` holds directly, in every database that takes connections (ListDatabaseUserAuthorities). */
export async function roleAcls(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord, role: string): Promise<AclRow[]> {
  const inst = e.instance(cluster, primary);
  const dbs = await inst.query<{ d: string }>(
    'select datname::text as d from pg_database where datallowconn and not datistemplate order by 1',
  );
  const out: AclRow[] = [];
  for (const [i, { d }] of dbs.entries()) {
    const scope: ObjectScope = { type: 'DATABASE', database: d };
    out.push(
      ...(await inDatabase(
        e,
        cluster,
        primary,
        scope,
        async (c) => (await c.query<AclRow>(ACL_SQL, [null, null, null, null, i === 0, role])).rows,
      )),
    );
  }
  return out;
}

/** Every schema of a database and the bytes of every relation in it, all forks (ListSchemas). */
export async function schemaSpaces(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord, database: string): Promise<SchemaSpaceRow[]> {
  const scope: ObjectScope = { type: 'SCHEMA', database };
  return inDatabase(e, cluster, primary, scope, async (c) => {
    return (
      await c.query<SchemaSpaceRow>(
        `select n.nspname::text as schema,
                coalesce(sum(pg_relation_size(c.oid, 'main') + pg_relation_size(c.oid, 'fsm') + pg_relation_size(c.oid, 'vm')
                             + pg_relation_size(c.oid, 'init')), 0)::float8 as bytes
           from pg_namespace n left join pg_class c on c.relnamespace = n.oid and c.relpersistence <> 't'
                                                   and c.relkind in ('r', 'i', 't', 'm', 'S')
          where n.nspname !~ '^pg_(toast_)?temp_'
          group by n.nspname order by 1`,
      )
    ).rows;
  });
}
