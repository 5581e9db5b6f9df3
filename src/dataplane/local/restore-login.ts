/**
 * A table restore's own login role (D32): tenant data is loaded (`pg_restore --role=<admin>`)
 * and read (row counts, constraints) by a session that authenticated as a non-superuser. A
 * superuser's session under `SET ROLE` would not do: code the tenant planted (a CHECK
 * constraint, a row-security policy, a domain's check) runs inside it and can `RESET ROLE` or
 * `SET SESSION AUTHORIZATION DEFAULT` back to the superuser that authenticated.
 */
import { join } from 'node:path';
import pg from 'pg';
import type { NodeRecord } from '../../domain/records.js';
import { loginRoleName } from '../../domain/table-names.js';
import type { LocalEngine } from '../local-engine.js';
import type { TableRestoreWork, TenantCluster } from '../logical-plane.js';
import { ident, literal, writeOwned, type PgInstance } from '../pg-instance.js';
import { scramVerifier } from '../scram.js';
import { randomBytes } from 'node:crypto';
import { workDir } from './restore-work.js';

/** A login of the work's own for the cluster's primary (see `withAdminLogin`). */
export interface AdminLogin {
  user: string;
  password: string;
  host: string;
  port: number;
  admin: string;
}

/** A libpq conninfo value, quoted. */
export const conninfoValue = (v: string | number): string => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * Run `fn` with a login that has the administrator's rights and nothing more. The role is
 * made for the work — LOGIN, NOSUPERUSER, a member of the administrator, a random password
 * sent as a SCRAM verifier, valid for a day at most — reached over TCP at the primary's
 * address, and dropped after `fn` (what it came to own in `database` goes to the
 * administrator).
 */
export async function withAdminLogin<T>(
  e: LocalEngine,
  cluster: TenantCluster,
  primary: NodeRecord,
  work: TableRestoreWork,
  database: string,
  fn: (l: AdminLogin) => Promise<T>,
): Promise<T> {
  const live = e.instance(cluster, primary);
  const admin = cluster.userName;
  const user = loginRoleName(work.taskId);
  const password = randomBytes(24).toString('base64url');
  await dropLoginRole(e, live, user, admin, database);
  const until = new Date(Date.now() + 24 * 3600_000).toISOString();
  await live.query(
    `create role ${ident(user)} login nosuperuser nocreatedb nocreaterole noreplication nobypassrls inherit valid until ${literal(until)} password ${literal(scramVerifier(password))}`,
  );
  await live.query(`grant ${ident(admin)} to ${ident(user)}`);
  try {
    return await fn({ user, password, host: primary.host, port: primary.port, admin });
  } finally {
    await dropLoginRole(e, live, user, admin, database);
  }
}

/** Drop the work's login role (idempotent); one that cannot be dropped is at least made unable to log in. */
async function dropLoginRole(e: LocalEngine, live: PgInstance, user: string, admin: string, database: string): Promise<void> {
  if ((await live.query('select 1 from pg_roles where rolname = $1', [user])).length === 0) return;
  try {
    if ((await live.query('select 1 from pg_database where datname = $1', [database])).length) {
      await live.query(`reassign owned by ${ident(user)} to ${ident(admin)}`, [], database);
      await live.query(`drop owned by ${ident(user)}`, [], database);
    }
    await live.query(`drop role ${ident(user)}`);
  } catch (err) {
    await live.query(`alter role ${ident(user)} nologin`).catch(() => {});
    e.log.warn("the task's login role could not be dropped; it can no longer log in", { role: user, error: (err as Error).message });
  }
}

/**
 * D32: what the work's login starts its sessions with (its own, and pg_restore's through
 * PGOPTIONS), so no setting a tenant stored on the database (ALTER DATABASE … SET role,
 * default_transaction_read_only, search_path, standard_conforming_strings) changes them; the
 * superuser's `SUPERUSER_SESSION_OPTIONS` less the preload settings, which a non-superuser
 * may not name at connection.
 */
export const LOGIN_SESSION_OPTIONS =
  '-c search_path=pg_catalog -c role=none -c standard_conforming_strings=on -c default_transaction_read_only=off';

/**
 * A tool's connection as the work's login (the password in a passfile of the project's user,
 * 0600, in the work directory, removed with it), under an application name of the work (its
 * COPY is found by it in pg_stat_progress_copy).
 */
export function loginConninfo(e: LocalEngine, work: TableRestoreWork, l: AdminLogin, database: string, app: string): string {
  const passfile = join(workDir(e, work), 'login.pgpass');
  writeOwned(passfile, `*:*:*:${l.user}:${l.password}\n`, e.projectUser(work.projectId), 0o600);
  const v = conninfoValue;
  return `host=${v(l.host)} port=${v(l.port)} user=${v(l.user)} dbname=${v(database)} application_name=${v(app)} passfile=${v(passfile)}`;
}

/** A session on `database` with the administrator's rights (`withAdminLogin`). */
export async function withAdminSession<T>(
  e: LocalEngine,
  cluster: TenantCluster,
  primary: NodeRecord,
  work: TableRestoreWork,
  database: string,
  fn: (c: pg.Client) => Promise<T>,
): Promise<T> {
  return withAdminLogin(e, cluster, primary, work, database, async (l) => {
    const c = new pg.Client({
      host: l.host,
      port: l.port,
      user: l.user,
      password: l.password,
      database,
      application_name: 'dwsbox',
      connectionTimeoutMillis: 10_000,
      statement_timeout: 10 * 60_000,
      options: LOGIN_SESSION_OPTIONS,
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
