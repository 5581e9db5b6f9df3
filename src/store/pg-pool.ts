/**
 * The PostgreSQL store's connection pool (pg's Pool), as Kysely's PostgresDialect takes it.
 * pg fails a query on a connection that is gone with a plain Error that has no SQLSTATE
 * ("Connection terminated unexpectedly", "… is not queryable"); the pool knows better: it
 * watches each client's `error` and `end` events, and such a query fails as a StoreError of
 * kind `connection-lost`, with pg's error as its cause.
 */
import pg from 'pg';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { pgStoreErrorKind } from '../errors/pg-sqlstate.js';
import { StoreError } from '../errors/store-error.js';

export interface PgPoolOptions {
  /** `postgres://…`; a `schema` parameter sets the search_path (tests use one schema each) */
  url: string;
  /** end a session left idle inside a transaction for this long (see AdapterOptions) */
  idleInTransactionTimeoutMs?: number | undefined;
}

/** The bigint type's OID: epoch milliseconds and byte counts, all well inside 2^53, read as numbers. */
const INT8_OID = 20;

/** Kysely's pool, and one more way in: a named statement, which each connection parses and plans once. */
export interface PgPool extends PostgresPool {
  named<R>(name: string, text: string): Promise<R[]>;
}

export function openPgPool(options: PgPoolOptions): PgPool {
  const url = new URL(options.url);
  const schema = url.searchParams.get('schema');
  url.searchParams.delete('schema');
  const pool = new pg.Pool({
    connectionString: url.toString(),
    max: 10,
    types: {
      getTypeParser: (oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (text: string) => Number(text) : pg.types.getTypeParser(oid, format as 'text'),
    },
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
    ...(options.idleInTransactionTimeoutMs ? { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs } : {}),
  });
  // A client that loses its server (restart, idle-in-transaction timeout) must not crash the
  // process: the pool handles idle ones; a checked-out one gets its own listener, and its
  // pending query fails on its own. The pool then drops the broken client on release.
  const gone = new WeakSet<pg.PoolClient>();
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => gone.add(client));
    client.on('end', () => gone.add(client));
  });

  const lostOrAsItIs = (client: pg.PoolClient, e: unknown): unknown =>
    gone.has(client) && pgStoreErrorKind(e) === 'other' ? new StoreError('connection-lost', e) : e;

  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    // Kysely's two forms: a text query (the only one the store runs), or a cursor, passed on.
    const query = (textOrCursor: string | pg.Submittable, parameters?: ReadonlyArray<unknown>): unknown => {
      if (typeof textOrCursor !== 'string') return client.query(textOrCursor);
      return client.query(textOrCursor, parameters ? [...parameters] : []).catch((e: unknown) => {
        throw lostOrAsItIs(client, e);
      });
    };
    return { query: query as PostgresPoolClient['query'], release: (destroy?: boolean) => client.release(destroy) };
  };

  return {
    async connect() {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = wrap(client);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    async named<R>(name: string, text: string): Promise<R[]> {
      const client = await pool.connect();
      try {
        return (await client.query<R & pg.QueryResultRow>({ name, text })).rows;
      } catch (e) {
        throw lostOrAsItIs(client, e);
      } finally {
        client.release();
      }
    },
    end: () => pool.end(),
  };
}
