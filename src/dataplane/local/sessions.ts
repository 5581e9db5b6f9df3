/** Sessions of dwsbox's superuser on one database of a server (over its unix socket, `search_path=pg_catalog`), for work that needs several statements in one session. */
import type pg from 'pg';
import type { PgInstance } from '../pg-instance.js';

/**
 * Run `fn` with a session on `database` as dwsbox's superuser, for catalog reads and DDL that
 * run no tenant code (renames, drops, relation lists). What reads or loads the tenant's tables
 * goes through the task's login instead (restore-login.ts).
 */
export async function withSession<T>(
  inst: PgInstance,
  database: string,
  fn: (c: pg.Client) => Promise<T>,
  timeoutMs = 10 * 60_000,
): Promise<T> {
  const c = await inst.connect(database, timeoutMs);
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}
