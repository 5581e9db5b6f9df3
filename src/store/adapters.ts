/**
 * The two backends behind the Store: SQLite (default, a file in the data directory) and
 * PostgreSQL (for several service processes on one store).
 */
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Transaction } from 'kysely';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database } from './schema.js';
import type { StoreAdapter } from './store.js';

export interface AdapterOptions {
  /** called with each query's duration (metrics) */
  onQuery?: (durationMs: number) => void;
  /**
   * PostgreSQL: end a session left idle inside a transaction for this long (its row locks go
   * with it). A service paused (SIGSTOP) in the middle of a fenced write would otherwise hold
   * its task's row lock, and no other process could take the task over (D1).
   */
  idleInTransactionTimeoutMs?: number;
}

function logOption(o: AdapterOptions) {
  const f = o.onQuery;
  return f ? { log: (e: { queryDurationMillis: number }) => f(e.queryDurationMillis) } : {};
}

export function openSqlite(file: string, o: AdapterOptions = {}): StoreAdapter {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const raw = new BetterSqlite3(file);
  // WAL lets the local admin commands (credentials, users, store backup) read and write
  // while the service runs; the busy timeout makes them wait for the writer instead of failing.
  raw.pragma('journal_mode = WAL');
  raw.pragma('busy_timeout = 10000');
  raw.pragma('foreign_keys = ON');
  raw.pragma('synchronous = NORMAL');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }), ...logOption(o) });
  return {
    name: 'sqlite',
    capabilities: { supportsSkipLocked: false, supportsRowLocks: false, multiProcess: false },
    db,
    async executeScript(_trx: Transaction<Database>, script: string) {
      // better-sqlite3 runs multi-statement scripts only through exec(); the Kysely transaction
      // holds the same (only) connection, so this runs inside it.
      raw.exec(script);
    },
    async lockForMigration() {},
    async lockUntilCommit() {},
    async backupTo(target: string) {
      await raw.backup(target);
    },
    async close() {
      await db.destroy();
    },
  };
}

/** Parse `postgres://…[?schema=name]`: `schema` sets the search_path (tests use one schema each). */
export function openPostgres(url: string, o: AdapterOptions = {}): StoreAdapter {
  const u = new URL(url);
  const schema = u.searchParams.get('schema');
  u.searchParams.delete('schema');
  const pool = new pg.Pool({
    connectionString: u.toString(),
    max: 10,
    // int8 (bigint) columns hold epoch milliseconds and byte counts: all well inside 2^53.
    types: { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) },
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
    ...(o.idleInTransactionTimeoutMs ? { idle_in_transaction_session_timeout: o.idleInTransactionTimeoutMs } : {}),
  });
  // A client that loses its server (restart, idle-in-transaction timeout) must not crash the
  // process: the pool handles idle ones; a checked-out one gets its own listener, and its
  // pending query fails on its own. The pool then drops the broken client on release.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), ...logOption(o) });
  return {
    name: 'postgres',
    capabilities: { supportsSkipLocked: true, supportsRowLocks: true, multiProcess: true },
    db,
    async executeScript(trx, script) {
      await sql.raw(script).execute(trx);
    },
    async lockForMigration(trx) {
      await sql`select pg_advisory_xact_lock(7480001)`.execute(trx);
    },
    async lockUntilCommit(trx, key) {
      // Advisory locks are per database: the schema (tests give each store its own) is part of the key.
      await sql`select pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || ${key}, 7480002))`.execute(trx);
    },
    async close() {
      await db.destroy();
    },
  };
}
