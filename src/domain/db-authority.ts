/**
 * Database privileges (issue 16, D28, D32): the SDK's UpdateDatabaseAuthority,
 * ShowDatabaseAuthority, ListDatabaseUserAuthorities, ListDatabaseObjects and ListSchemas as
 * real PostgreSQL grants and catalog entries. Pure code: which object types and privileges
 * PostgreSQL 15 has, a request checked and turned into a plan, the rows read from the
 * catalogs turned into what the API shows. The data plane resolves the objects and runs the
 * GRANT and REVOKE statements (local/db-authority.ts); the service checks that every owner and
 * grantee stays within the administrator's own power (services/db-authority-service.ts).
 */
import { AppError } from '../errors/app-error.js';
import { isBeyondAdmin, type DbRoleRow } from './db-users.js';

/** The SDK's object types; NODEGROUP has no PostgreSQL meaning (no node groups). */
export const OBJECT_TYPES = ['DATABASE', 'SCHEMA', 'TABLE', 'VIEW', 'COLUMN', 'FUNCTION', 'SEQUENCE', 'NODEGROUP'] as const;
export type DbObjectType = (typeof OBJECT_TYPES)[number];
export type GrantableType = Exclude<DbObjectType, 'NODEGROUP'>;

/** PostgreSQL 15's privileges on each type (GRANT's own words); ALL is every one of them. */
export const PRIVILEGES: Record<GrantableType, readonly string[]> = {
  DATABASE: ['CREATE', 'CONNECT', 'TEMPORARY'],
  SCHEMA: ['CREATE', 'USAGE'],
  TABLE: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  VIEW: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  COLUMN: ['SELECT', 'INSERT', 'UPDATE', 'REFERENCES'],
  FUNCTION: ['EXECUTE'],
  SEQUENCE: ['USAGE', 'SELECT', 'UPDATE'],
};

/** The types whose objects live in a schema (`schema` is required), and COLUMN's table. */
export const IN_SCHEMA: readonly DbObjectType[] = ['TABLE', 'VIEW', 'COLUMN', 'FUNCTION', 'SEQUENCE'];

/** The pseudo-role every role belongs to; the only grantee that is not a role name. */
export const PUBLIC = 'PUBLIC';

/** An object name: what PostgreSQL can name (1 to 63 bytes), no control characters; FUNCTION may add its argument types. */
function checkObjectName(what: string, name: string, max = 63): void {
  if (!name || Buffer.byteLength(name) > max || /[\u0000-\u001f\u007f]/.test(name))
    throw new AppError('VALIDATION', {
      args: [`${what} ${JSON.stringify(name.slice(0, 80))} must be 1 to ${max} bytes with no control characters`],
    });
}

export function checkGrantableType(type: string): GrantableType {
  if (type === 'NODEGROUP')
    throw new AppError('NOT_SUPPORTED', {
      args: ['type NODEGROUP', 'PostgreSQL has no node groups: every member holds the whole cluster'],
    });
  if (!(OBJECT_TYPES as readonly string[]).includes(type))
    throw new AppError('VALIDATION', {
      args: [`type must be one of ${OBJECT_TYPES.join(', ')}, got ${JSON.stringify(type.slice(0, 40))}`],
    });
  return type as GrantableType;
}

/** Where objects of a type are looked for: the database, and the schema and table when the type lives there. */
export interface ObjectScope {
  type: GrantableType;
  database: string;
  schema?: string;
  table?: string;
}

/** A scope checked: `database` always, `schema` for the types in a schema, `table` for COLUMN. */
export function checkScope(type: string, database: string | undefined, schema?: string, table?: string): ObjectScope {
  const t = checkGrantableType(type);
  if (!database) throw new AppError('VALIDATION', { args: ['database is required'] });
  checkObjectName('database', database);
  if (IN_SCHEMA.includes(t)) {
    if (!schema) throw new AppError('VALIDATION', { args: [`schema is required for type ${t}`] });
    checkObjectName('schema', schema);
  }
  if (t === 'COLUMN') {
    if (!table) throw new AppError('VALIDATION', { args: ['table is required for type COLUMN'] });
    checkObjectName('table', table);
  }
  return {
    type: t,
    database,
    ...(IN_SCHEMA.includes(t) && schema ? { schema } : {}),
    ...(t === 'COLUMN' && table ? { table } : {}),
  };
}

/** A privilege to grant or revoke, and whether its grant option goes with it. */
export interface PrivilegeChange {
  privilege: string;
  /** grant: WITH GRANT OPTION; revoke: only the grant option (REVOKE GRANT OPTION FOR) */
  option: boolean;
}

/** UpdateDatabaseAuthority's body (the SDK's DatabasePermissionReq). */
export interface UpdateAuthorityInput {
  type: string;
  is_grant: boolean;
  grant_list?: { permission: string; grant_with?: boolean }[];
  revoke_list?: { permission: string; revoke_with?: boolean }[];
  role_list: string[];
  object_list?: string[];
  all_object?: boolean;
  cascade?: boolean;
  database?: string;
  schema?: string;
  table?: string;
}

/** What an UpdateDatabaseAuthority does, checked. */
export interface AuthorityPlan extends ObjectScope {
  grant: boolean;
  privileges: PrivilegeChange[];
  /** role names, or PUBLIC */
  roles: string[];
  /** the objects named; undefined: every object of the type in its scope (all_object) */
  objects?: string[];
  /** revoke: CASCADE (the grants made from the revoked grant option go too) */
  cascade: boolean;
}

/** A privilege's name as GRANT spells it (TEMP is TEMPORARY, ALL PRIVILEGES is ALL), or the refusal. */
function privilegeName(t: GrantableType, p: string): string {
  const up = p.trim().toUpperCase().replace(/\s+/g, ' ');
  const name = up === 'TEMP' ? 'TEMPORARY' : up === 'ALL PRIVILEGES' ? 'ALL' : up;
  if (name === 'ALL' || PRIVILEGES[t].includes(name)) return name;
  throw new AppError('VALIDATION', {
    args: [
      `permission ${JSON.stringify(p.slice(0, 40))} is not a PostgreSQL 15 privilege on ${t}: one of ${[...PRIVILEGES[t], 'ALL'].join(', ')}`,
    ],
  });
}

/** The plan of an UpdateDatabaseAuthority, or the refusal (checks that need no SQL). */
export function authorityPlan(i: UpdateAuthorityInput): AuthorityPlan {
  const scope = checkScope(i.type, i.database, i.schema, i.table);
  const list = i.is_grant
    ? (i.grant_list ?? []).map((g) => ({ permission: g.permission, option: g.grant_with ?? false }))
    : (i.revoke_list ?? []).map((r) => ({ permission: r.permission, option: r.revoke_with ?? false }));
  if (!list.length) throw new AppError('VALIDATION', { args: [`${i.is_grant ? 'grant_list' : 'revoke_list'} must name a privilege`] });
  const byName = new Map<string, PrivilegeChange>();
  for (const { permission, option } of list) {
    const privilege = privilegeName(scope.type, permission);
    // the same privilege named twice: with its grant option if either asks for it
    byName.set(privilege, { privilege, option: option || (byName.get(privilege)?.option ?? false) });
  }
  if (!i.role_list.length) throw new AppError('VALIDATION', { args: ['role_list must name a role (or PUBLIC)'] });
  const roles = [...new Set(i.role_list.map((r) => (r.toUpperCase() === PUBLIC ? PUBLIC : r)))];
  for (const r of roles) if (r !== PUBLIC) checkObjectName('role', r);
  if (i.all_object && i.object_list?.length)
    throw new AppError('VALIDATION', { args: ['object_list and all_object: true exclude each other'] });
  if (!i.all_object && !i.object_list?.length)
    throw new AppError('VALIDATION', { args: ['object_list must name an object (or all_object: true: every object of the type)'] });
  const objects = i.all_object ? undefined : [...new Set(i.object_list)];
  for (const o of objects ?? []) checkObjectName(scope.type === 'COLUMN' ? 'column' : 'object', o, scope.type === 'FUNCTION' ? 1024 : 63);
  if (i.cascade && i.is_grant) throw new AppError('VALIDATION', { args: ['cascade applies to a revoke (is_grant: false) only'] });
  return {
    ...scope,
    grant: i.is_grant,
    privileges: [...byName.values()],
    roles,
    ...(objects ? { objects } : {}),
    cascade: i.cascade ?? false,
  };
}

/** An object found for a plan: its name as listed, how SQL names it (quoted by the server), its owner. */
export interface ResolvedObject {
  name: string;
  /** the server's quote_ident / regprocedure text: schema-qualified where the type lives in one */
  target: string;
  /** the role it acts as: the owner, or the database's owner where the owner is pg_database_owner */
  owner: string;
}

/**
 * D32 for a privilege change: every object is owned by the administrator or a database user
 * (PostgreSQL performs a superuser's GRANT as the owner, so the owner is the grantor), and
 * every grantee is one of them or PUBLIC; never a built-in role, dwsbox's, or one holding more
 * than the administrator. `rows` are the roles read for the owners and grantees.
 */
export function checkAuthorityRoles(
  plan: AuthorityPlan,
  objects: readonly ResolvedObject[],
  rows: readonly DbRoleRow[],
  admin: string,
  clusterName: string,
): void {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const within = (r: DbRoleRow | undefined): boolean => !!r && (r.name === admin || !isBeyondAdmin(r));
  for (const o of objects)
    if (!within(byName.get(o.owner)))
      throw new AppError('DB_AUTHORITY_REFUSED', {
        args: [
          `${plan.type.toLowerCase()} ${JSON.stringify(o.name)} belongs to ${JSON.stringify(o.owner)}, a role of dwsbox or of the system, beyond the cluster administrator; grant on objects the administrator or a database user owns (in a database of your own, the administrator owns everything it creates)`,
        ],
      });
  for (const g of plan.roles) {
    if (g === PUBLIC) continue;
    const r = byName.get(g);
    if (!r) throw new AppError('DB_USER_NOT_FOUND', { args: [g, clusterName] });
    if (!within(r))
      throw new AppError('DB_AUTHORITY_REFUSED', {
        args: [
          `${JSON.stringify(g)} is a role of dwsbox or of the system, or holds more than the cluster administrator; grant to database users, the administrator or PUBLIC`,
        ],
      });
  }
}

/** One privilege a role holds on an object, as aclexplode says. */
export interface AclRow {
  type: GrantableType;
  database: string;
  schema: string | null;
  /** the object; for COLUMN the table */
  object: string;
  column: string | null;
  role: string;
  privilege: string;
  grantable: boolean;
}

/** The SDK's ObjectAuthority: who holds what on one object. */
export interface ObjectAuthority {
  name: string;
  role_authority: { role: string; right_list: string[] }[];
}

/** ShowDatabaseAuthority's answer from the ACL rows of the objects named, in their order; a grant option reads `… WITH GRANT OPTION`. */
export function objectAuthorities(names: readonly string[], rows: readonly AclRow[]): ObjectAuthority[] {
  return names.map((name) => {
    const byRole = new Map<string, string[]>();
    for (const r of rows)
      if ((r.column ?? r.object) === name) {
        const rights = byRole.get(r.role) ?? [];
        rights.push(r.grantable ? `${r.privilege} WITH GRANT OPTION` : r.privilege);
        byRole.set(r.role, rights);
      }
    return { name, role_authority: [...byRole].map(([role, right_list]) => ({ role, right_list })) };
  });
}

/** The SDK's GrantAuthority: the privileges a role holds on one object. */
export interface GrantAuthority {
  type: GrantableType;
  database: string;
  schema?: string;
  obj_name: string;
  column_name?: string[];
  privileges: { permission: string; grant_with: boolean }[];
}

/** ListDatabaseUserAuthorities' items from one role's ACL rows: one per object (a column's per table and column). */
export function grantAuthorities(rows: readonly AclRow[]): GrantAuthority[] {
  const byObject = new Map<string, GrantAuthority>();
  for (const r of rows) {
    const key = JSON.stringify([r.type, r.database, r.schema, r.object, r.column]);
    let a = byObject.get(key);
    if (!a) {
      a = {
        type: r.type,
        database: r.database,
        ...(r.schema !== null ? { schema: r.schema } : {}),
        obj_name: r.object,
        ...(r.column !== null ? { column_name: [r.column] } : {}),
        privileges: [],
      };
      byObject.set(key, a);
    }
    a.privileges.push({ permission: r.privilege, grant_with: r.grantable });
  }
  return [...byObject.values()];
}

/** A schema's space on the primary (ListSchemas): bytes of every relation in it, all forks. */
export interface SchemaSpaceRow {
  schema: string;
  bytes: number;
}
