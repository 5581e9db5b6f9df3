/**
 * The two backends behind the Store: SQLite (default, a file in the data directory) and
 * PostgreSQL (for several service processes on one store). Each classifies its driver's
 * errors (StoreError, src/errors/store-error.ts): `sqliteStoreErrorKind` here,
 * `pgStoreErrorKind` with the other SQLSTATEs in src/errors/pg-sqlstate.ts.
 */
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type SqliteDatabase, type Transaction } from 'kysely';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pgStoreErrorKind } from '../errors/pg-sqlstate.js';
import type { StoreErrorKind } from '../errors/store-error.js';
import { classifiedDialect, toStoreError } from './classified-dialect.js';
import { openPgPool } from './pg-pool.js';
import type { Database } from './schema.js';
import type { StoreAdapter } from './store-adapter.js';
import { startCheckpointer, type Checkpointer, type StoreLog } from './sqlite-checkpointer.js';

export interface AdapterOptions {
  /** called with each query's duration (metrics) */
  onQuery?: (durationMs: number) => void;
  /**
   * PostgreSQL: end a session left idle inside a transaction for this long (its row locks go
   * with it). A service paused (SIGSTOP) in the middle of a fenced write would otherwise hold
   * its task's row lock, and no other process could take the task over (D1).
   */
  idleInTransactionTimeoutMs?: number;
  /** SQLite: how long a write waits for another connection's write lock before it fails as busy (default 10 s). */
  sqliteBusyTimeoutMs?: number;
  /** where the store reports what goes wrong beside a query (SQLite's checkpointer) */
  log?: StoreLog;
}

/**
 * What an error of better-sqlite3 means for the store, from its extended result code
 * (https://www.sqlite.org/rescode.html): `SQLITE_CONSTRAINT_UNIQUE`, `SQLITE_BUSY_SNAPSHOT`, ….
 */
export function sqliteStoreErrorKind(e: unknown): StoreErrorKind {
  if (!(e instanceof BetterSqlite3.SqliteError)) return 'other';
  const code = e.code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'unique-violation';
  const primary = code.split('_').slice(0, 2).join('_');
  switch (primary) {
    case 'SQLITE_CONSTRAINT':
      return 'constraint-violation';
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return 'busy';
    case 'SQLITE_IOERR':
    case 'SQLITE_CANTOPEN':
      return 'unavailable';
    default:
      return 'other';
  }
}

function logOption(options: AdapterOptions) {
  const onQuery = options.onQuery;
  return onQuery ? { log: (event: { queryDurationMillis: number }) => onQuery(event.queryDurationMillis) } : {};
}

/** Statements kept prepared, by SQL text; the least recently used goes first. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * The database as Kysely's SQLite driver sees it, with each statement prepared once: the
 * driver prepares every query it runs, which was 14 % of the API's CPU time (issue 14). A
 * statement is reusable once it has run (better-sqlite3 runs it synchronously; Kysely holds
 * its single connection for the length of a stream), and SQLite prepares it again by itself
 * after a schema change.
 */
function withStatementCache(raw: BetterSqlite3.Database, onWrite: () => void): SqliteDatabase {
  type Prepared = ReturnType<SqliteDatabase['prepare']>;
  const cache = new Map<string, Prepared>();
  const prepareOnce = (text: string): Prepared => {
    const stmt = raw.prepare(text);
    if (stmt.reader) return stmt;
    // Every statement that may change the database counts as a write (readVersion below).
    return {
      reader: false,
      all: (params) => stmt.all(params),
      iterate: (params) => stmt.iterate(params),
      run: (params) => {
        try {
          return stmt.run(params);
        } finally {
          onWrite();
        }
      },
    };
  };
  return {
    prepare(text: string) {
      let stmt = cache.get(text);
      if (stmt) {
        cache.delete(text);
      } else {
        stmt = prepareOnce(text);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      }
      cache.set(text, stmt);
      return stmt;
    },
    close() {
      cache.clear();
      raw.close();
    },
  };
}

export function openSqlite(file: string, options: AdapterOptions = {}): StoreAdapter {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const raw = new BetterSqlite3(file);
  // WAL lets the local admin commands (credentials, users, store backup) read and write
  // while the service runs; the busy timeout makes them wait for the writer instead of failing.
  raw.pragma('journal_mode = WAL');
  raw.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.sqliteBusyTimeoutMs ?? 10_000))}`);
  raw.pragma('foreign_keys = ON');
  raw.pragma('synchronous = NORMAL');
  // Checkpoints run in a worker, never inside a commit of this connection (sqlite-checkpointer.ts).
  let checkpointer: Checkpointer | null = null;
  if (file !== ':memory:') {
    raw.pragma('wal_autocheckpoint = 0');
    checkpointer = startCheckpointer(file, {
      ...(options.log ? { log: options.log } : {}),
      onLost: () => {
        options.log?.warn('store checkpointer ended: SQLite checkpoints inside commits again');
        if (raw.open) raw.pragma('wal_autocheckpoint = 1000');
      },
    });
  }
  // The read version: this connection's own writes, and SQLite's count of commits by other
  // connections (the CLI's admin commands while the service runs).
  let writes = 0;
  const dataVersion = raw.prepare('PRAGMA data_version').pluck();
  const db = new Kysely<Database>({
    dialect: classifiedDialect(new SqliteDialect({ database: withStatementCache(raw, () => writes++) }), sqliteStoreErrorKind),
    ...logOption(options),
  });
  return {
    name: 'sqlite',
    capabilities: { supportsSkipLocked: false, supportsRowLocks: false, multiProcess: false },
    db,
    async executeScript(_trx: Transaction<Database>, script: string) {
      // better-sqlite3 runs multi-statement scripts only through exec(); the Kysely transaction
      // holds the same (only) connection, so this runs inside it.
      try {
        raw.exec(script);
      } catch (e) {
        throw toStoreError(e, sqliteStoreErrorKind);
      } finally {
        writes++;
      }
    },
    readVersion: () => `${writes}:${String(dataVersion.get())}`,
    async lockForMigration() {},
    async lockUntilCommit() {},
    async backupTo(target: string) {
      await raw.backup(target).catch((e: unknown) => {
        throw toStoreError(e, sqliteStoreErrorKind);
      });
    },
    async close() {
      await checkpointer?.stop();
      await db.destroy();
    },
  };
}

/** `postgres://…[?schema=name]`: `schema` sets the search_path (tests use one schema each). */
export function openPostgres(url: string, options: AdapterOptions = {}): StoreAdapter {
  const pool = openPgPool({ url, idleInTransactionTimeoutMs: options.idleInTransactionTimeoutMs });
  const db = new Kysely<Database>({ dialect: classifiedDialect(new PostgresDialect({ pool }), pgStoreErrorKind), ...logOption(options) });
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
    // The database's current snapshot: the same text means the same transactions committed
    // (any transaction that writes, of any process, changes it when it starts and when it ends).
    // Every request runs it: a named statement, parsed and planned once per connection.
    async readVersion() {
      try {
        const rows = await pool.named<{ v: string }>('dwsbox_read_version', 'select pg_current_snapshot()::text as v');
        return rows[0]!.v;
      } catch (e) {
        throw toStoreError(e, pgStoreErrorKind);
      }
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
