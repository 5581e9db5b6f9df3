/**
 * Database users (issue 16, D28, D32): the SDK's CreateDatabaseUser, UpdateDatabaseUserInfo,
 * ListDatabaseUsers, ShowDatabaseUser and DeleteDatabaseUser as real PostgreSQL roles, kept
 * inside the cluster administrator's own power. Pure code: which names and attributes are
 * refused and why, a request turned into the role it asks for, a role read from `pg_roles`
 * turned into what the API shows. The data plane runs the SQL (local/db-users.ts).
 */
import { AppError } from '../errors/app-error.js';
import { passwordProblem, USER_NAME_RE } from './cluster.js';
import { validateDescription } from './text-fields.js';

/** A role as `pg_roles` (and `pg_shdescription`) say on the primary, with its memberships. */
export interface DbRoleRow {
  name: string;
  login: boolean;
  createrole: boolean;
  createdb: boolean;
  superuser: boolean;
  inherit: boolean;
  replication: boolean;
  bypassrls: boolean;
  connLimit: number;
  /** `rolvaliduntil` in epoch ms; null when none or infinite */
  validUntilMs: number | null;
  comment: string | null;
  /** the roles it is a direct member of */
  memberOf: string[];
  /** the cluster's administrator is a member of it (directly or through others) */
  adminIsMember: boolean;
  /** it is (directly, through others, or as a superuser) a member of a role the administrator never holds (D32's FORBIDDEN_ROLES) or of one with an attribute it lacks (SUPERUSER, CREATEROLE, REPLICATION, BYPASSRLS) */
  holdsForbidden: boolean;
}

/** What a create or an update sets on a role; absent fields are left as they are (create: PostgreSQL's defaults). */
export interface DbRoleChange {
  login?: boolean;
  createdb?: boolean;
  inherit?: boolean;
  connLimit?: number;
  /** an ISO 8601 instant, or 'infinity' (no expiry) */
  validUntil?: string;
  /** a clear password (sent as a SCRAM verifier), or null: no password (PASSWORD NULL) */
  password?: string | null;
}

export interface DbRoleCreate extends DbRoleChange {
  name: string;
  /** roles it becomes a member of (GRANT … TO it) */
  memberOf: string[];
  /** COMMENT ON ROLE; null: none */
  comment: string | null;
}

/** The SDK's `type`: a USER logs in by default, a ROLE does not (GaussDB's CREATE USER and CREATE ROLE). */
export type DbUserType = 'USER' | 'ROLE';

/** Built-in and dwsbox's own roles: never a database user of the API (not listed, never created, changed or dropped). */
export function isSystemRole(name: string): boolean {
  return name.startsWith('pg_') || name.startsWith('dwsbox_') || name === 'postgres';
}

/**
 * A role no database user may be, change or drop: a built-in or dwsbox name, or one holding
 * more than the administrator (SUPERUSER, CREATEROLE, REPLICATION, BYPASSRLS, or a membership,
 * direct or through others, that reaches such a role or a server-file or server-program role).
 * Such a role was made by dwsbox or its engine (the bootstrap superuser, the replication role
 * under whatever name the engine gives it: Patroni's `replicator`), never by the API: changing
 * its password or login would hand the tenant its power or cut the replicas off.
 */
export function isBeyondAdmin(r: DbRoleRow): boolean {
  return isSystemRole(r.name) || r.superuser || r.createrole || r.replication || r.bypassrls || r.holdsForbidden;
}

/** A change or a drop of `r`: refused when it is beyond the administrator (isBeyondAdmin). */
export function checkChangeable(r: DbRoleRow): void {
  if (isBeyondAdmin(r))
    throw refused(
      r.name,
      'it is a role of dwsbox or of its engine, or holds more than the cluster administrator; it cannot be changed or dropped',
    );
}

const refused = (name: string, why: string): AppError =>
  new AppError('DB_USER_REFUSED', { args: [JSON.stringify(name.slice(0, 80)), why] });

/**
 * A database user's name: the administrator's rule (1 to 63 characters, a lower-case letter or
 * `_` first, then lower-case letters, digits and `_`; always quoted in SQL all the same), not a
 * built-in or dwsbox role, and (`changing`: create, update, delete) not the administrator.
 */
export function checkDbUserName(name: string, admin: string, changing: boolean): void {
  if (!USER_NAME_RE.test(name))
    throw new AppError('INVALID_NAME', {
      args: [
        'database user name',
        `${JSON.stringify(name.slice(0, 80))} must be 1 to 63 characters: a lower-case letter or _ first, then lower-case letters, digits or _`,
      ],
    });
  if (isSystemRole(name))
    throw refused(name, "the name is reserved: built-in roles (pg_…, postgres) and dwsbox's own roles (dwsbox_…) are not database users");
  if (changing && name === admin)
    throw refused(
      name,
      "it is the cluster's administrator: its password changes through ResetPassword, its rights are fixed (docs/security.md)",
    );
}

/** An attribute the administrator lacks (D32): refused with what the administrator is. */
function aboveAdmin(name: string, field: string, attribute: string): AppError {
  return refused(
    name,
    `${field}: ${attribute} is beyond the cluster administrator's own power (LOGIN CREATEDB NOCREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS), which a database user never exceeds`,
  );
}

/** A GaussDB-only field with no PostgreSQL meaning: 400 DWS.9901. */
function noMeaning(field: string, why: string): AppError {
  return new AppError('NOT_SUPPORTED', { args: [field, why] });
}

/** `conn_limit`: -1 (no limit) or 0 and up, as PostgreSQL's CONNECTION LIMIT. */
function checkConnLimit(n: number): void {
  if (!Number.isInteger(n) || n < -1 || n > 2_147_483_647)
    throw new AppError('VALIDATION', { args: [`conn_limit must be an integer from -1 (no limit) to 2147483647, got ${n}`] });
}

const INSTANT_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * `valid_until` (VALID UNTIL): an ISO 8601 date or date-time (no offset: UTC), or `infinity`
 * (no expiry). Returns the instant as PostgreSQL is given it.
 */
export function parseValidUntil(s: string): string {
  if (s === 'infinity') return 'infinity';
  const m = INSTANT_RE.exec(s);
  if (m) {
    const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '0', zone] = m as unknown as string[];
    const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
    const dayOk = Number(mo) >= 1 && Number(mo) <= 12 && day.getUTCDate() === Number(d);
    const z = !zone || zone === 'Z' ? 'Z' : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
    const t = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${sec}.${frac!.padEnd(3, '0').slice(0, 3)}${z}`);
    if (dayOk && Number(h) < 24 && Number(mi) < 60 && Number(sec) < 60 && Number.isFinite(t)) return new Date(t).toISOString();
  }
  throw new AppError('VALIDATION', {
    args: [
      `valid_until must be an ISO 8601 date or date-time (e.g. 2030-01-31T12:00:00Z; no offset is UTC) or infinity, got ${JSON.stringify(s.slice(0, 40))}`,
    ],
  });
}

function checkPassword(name: string, password: string): void {
  const pw = passwordProblem(password, name);
  if (pw) throw new AppError(pw.code, { args: [pw.why] });
}

/** CreateDatabaseUser's body (the SDK's UserAuthorityReq). */
export interface CreateDbUserInput {
  name: string;
  type: DbUserType;
  login?: boolean;
  password?: string;
  system_admin?: boolean;
  logical_cluster?: string;
  password_disable?: boolean;
  create_role?: boolean;
  create_db?: boolean;
  inherit?: boolean;
  conn_limit?: number;
  grant_members?: string[];
  grant_list?: unknown[];
  desc?: string;
}

/** The role a CreateDatabaseUser asks for, or the refusal (checks that need no SQL). */
export function dbRoleToCreate(i: CreateDbUserInput, admin: string): DbRoleCreate {
  checkDbUserName(i.name, admin, true);
  if (i.system_admin) throw aboveAdmin(i.name, 'system_admin', 'SUPERUSER');
  if (i.create_role) throw aboveAdmin(i.name, 'create_role', 'CREATEROLE');
  if (i.logical_cluster) throw noMeaning('logical_cluster', 'there are no logical clusters: a PostgreSQL cluster is one');
  if (i.grant_list?.length)
    throw noMeaning(
      'grant_list',
      "object privileges are UpdateDatabaseAuthority's: create the user, then grant them with it (docs/api.md#database-privileges-and-objects)",
    );
  if (i.conn_limit !== undefined) checkConnLimit(i.conn_limit);
  if (i.desc !== undefined) validateDescription('desc', i.desc);
  const login = i.login ?? i.type === 'USER';
  let password: string | null | undefined;
  if (i.password_disable) {
    if (i.password !== undefined) throw new AppError('VALIDATION', { args: ['password and password_disable: true exclude each other'] });
    password = null;
  } else if (i.password !== undefined) {
    checkPassword(i.name, i.password);
    password = i.password;
  } else if (login) {
    throw new AppError('VALIDATION', {
      args: ['a user that logs in needs a password (or password_disable: true: no password, no password login)'],
    });
  }
  const memberOf = [...new Set(i.grant_members ?? [])];
  for (const r of memberOf) if (r === i.name) throw refused(i.name, 'grant_members: a role cannot be a member of itself');
  return {
    name: i.name,
    login,
    ...(i.create_db !== undefined ? { createdb: i.create_db } : {}),
    ...(i.inherit !== undefined ? { inherit: i.inherit } : {}),
    ...(i.conn_limit !== undefined ? { connLimit: i.conn_limit } : {}),
    ...(password !== undefined ? { password } : {}),
    memberOf,
    comment: i.desc ? i.desc : null,
  };
}

/** UpdateDatabaseUserInfo's body (the SDK's DatabaseUserInfoReq) and dwsbox's `password`. */
export interface UpdateDbUserInput {
  login?: boolean;
  createrole?: boolean;
  createdb?: boolean;
  systemadmin?: boolean;
  auditadmin?: boolean;
  inherit?: boolean;
  useft?: boolean;
  conn_limit?: number;
  replication?: boolean;
  valid_begin?: string;
  valid_until?: string;
  lock?: boolean;
  /** dwsbox extension: a new password (the SDK's body has none) */
  password?: string;
}

/** What an UpdateDatabaseUserInfo changes, or the refusal (checks that need no SQL). */
export function dbRoleChange(name: string, i: UpdateDbUserInput, admin: string): DbRoleChange {
  checkDbUserName(name, admin, true);
  if (i.systemadmin) throw aboveAdmin(name, 'systemadmin', 'SUPERUSER');
  if (i.createrole) throw aboveAdmin(name, 'createrole', 'CREATEROLE');
  if (i.replication) throw aboveAdmin(name, 'replication', 'REPLICATION');
  if (i.auditadmin) throw noMeaning('auditadmin', "GaussDB's audit administrator has no PostgreSQL meaning (PostgreSQL has no audit role)");
  if (i.useft)
    throw noMeaning(
      'useft',
      "GaussDB's foreign-table attribute has no PostgreSQL meaning (foreign tables are a privilege on a server there)",
    );
  if (i.valid_begin)
    throw noMeaning('valid_begin', 'PostgreSQL has no VALID BEGIN: a role is valid from its creation; valid_until is real');
  if (i.lock)
    throw noMeaning(
      'lock: true',
      'PostgreSQL has no account lock apart from NOLOGIN; send login: false to stop the user logging in (lock: false is accepted: no user is ever locked)',
    );
  if (i.conn_limit !== undefined) checkConnLimit(i.conn_limit);
  const change: DbRoleChange = {};
  if (i.login !== undefined) change.login = i.login;
  if (i.createdb !== undefined) change.createdb = i.createdb;
  if (i.inherit !== undefined) change.inherit = i.inherit;
  if (i.conn_limit !== undefined) change.connLimit = i.conn_limit;
  if (i.valid_until) change.validUntil = parseValidUntil(i.valid_until);
  if (i.password !== undefined) {
    checkPassword(name, i.password);
    change.password = i.password;
  }
  return change;
}

/**
 * The memberships a role may be given (D32: only the administrator's own power): a role the
 * administrator is a member of (itself, its built-in roles), or another database user that
 * holds nothing above it (no SUPERUSER, CREATEROLE, REPLICATION, BYPASSRLS; not a member of a
 * role the administrator never holds). `found` are the roles read for `wanted`.
 */
export function checkMemberships(name: string, wanted: readonly string[], found: readonly DbRoleRow[]): void {
  const byName = new Map(found.map((r) => [r.name, r]));
  for (const w of wanted) {
    const r = byName.get(w);
    if (!r) throw refused(name, `grant_members: role ${JSON.stringify(w.slice(0, 80))} does not exist`);
    if (r.adminIsMember && !r.holdsForbidden) continue;
    if (isBeyondAdmin(r))
      throw refused(
        name,
        `grant_members: ${r.name} is a membership the cluster administrator does not hold, which a database user never exceeds`,
      );
  }
}

/** The SDK's DatabaseUser (ListDatabaseUsers' rows). */
/** COMMON: a role made by the administrator (CreateDatabaseUser) or the cluster; IAM: one SyncIamUsers made (domain/db-sync.ts). */
export type DbUserKind = 'COMMON' | 'IAM';

export interface DbUserListItem {
  name: string;
  login: boolean;
  user_type: DbUserKind;
}

/** The SDK's ShowDatabaseUserResponse, the fields with a source in PostgreSQL, and dwsbox's `member_of`. */
export interface DbUserDetail {
  name: string;
  login: boolean;
  createrole: boolean;
  createdb: boolean;
  systemadmin: boolean;
  inherit: boolean;
  conn_limit: number;
  replication: boolean;
  valid_until?: number;
  desc?: string;
  user_type: DbUserKind;
  member_of: string[];
}

export function dbUserListItem(r: DbRoleRow, kind: DbUserKind = 'COMMON'): DbUserListItem {
  return { name: r.name, login: r.login, user_type: kind };
}

export function dbUserDetail(r: DbRoleRow, kind: DbUserKind = 'COMMON'): DbUserDetail {
  return {
    name: r.name,
    login: r.login,
    createrole: r.createrole,
    createdb: r.createdb,
    systemadmin: r.superuser,
    inherit: r.inherit,
    conn_limit: r.connLimit,
    replication: r.replication,
    ...(r.validUntilMs !== null ? { valid_until: r.validUntilMs } : {}),
    ...(r.comment ? { desc: r.comment } : {}),
    user_type: kind,
    member_of: [...r.memberOf].sort(),
  };
}
