/**
 * SQLSTATE classes of PostgreSQL: what an error of the PostgreSQL store means
 * (`pgStoreErrorKind`, used by its adapter), and predicates for SQL run on cluster nodes.
 * @see https://www.postgresql.org/docs/15/errcodes-appendix.html
 */
import type { StoreErrorKind } from './store-error.js';

/** unique_violation */
const UNIQUE_VIOLATION = '23505';
/** Class 23, integrity constraint violation (foreign key, check, not null, exclusion) */
const INTEGRITY_CONSTRAINT_CLASS = '23';
/** Run the transaction again: serialization_failure, deadlock_detected. */
const RETRY_TRANSACTION = new Set(['40001', '40P01']);
/** The server takes no session now: too_many_connections, cannot_connect_now. */
const BUSY = new Set(['53300', '57P03']);
/** The session is gone: admin_shutdown, crash_shutdown, Class 08 (connection exception). */
const CONNECTION_LOST = new Set(['57P01', '57P02', '08000', '08001', '08003', '08004', '08006']);
/** Errors of the socket under pg, before or without a server's answer. */
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE', 'ETIMEDOUT']);
/** undefined_table, invalid_catalog_name, invalid_schema_name, undefined_object */
const NOT_EXISTS = new Set(['42P01', '3D000', '3F000', '42704']);
/** duplicate_table, duplicate_object, duplicate_database, duplicate_schema */
const DUPLICATE_OBJECT = new Set(['42P07', '42710', '42P04', '42P06']);

/** The SQLSTATE (or a socket's errno name) of an error of pg, if it has one. */
export function sqlState(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** What an error of pg means for the store. */
export function pgStoreErrorKind(e: unknown): StoreErrorKind {
  const code = sqlState(e);
  if (code === undefined) return 'other';
  if (code === UNIQUE_VIOLATION) return 'unique-violation';
  if (code.startsWith(INTEGRITY_CONSTRAINT_CLASS)) return 'constraint-violation';
  if (DUPLICATE_OBJECT.has(code)) return 'already-exists';
  if (RETRY_TRANSACTION.has(code)) return 'serialization-failure';
  if (BUSY.has(code)) return 'busy';
  if (CONNECTION_LOST.has(code) || NETWORK.has(code)) return 'connection-lost';
  return 'other';
}

/** SQL on a cluster node: the object named does not exist. */
export function isNotExists(e: unknown): boolean {
  const code = sqlState(e);
  return code !== undefined && NOT_EXISTS.has(code);
}
/** SQL on a cluster node: the object (or a row with that key) already exists. */
export function isAlreadyExists(e: unknown): boolean {
  const code = sqlState(e);
  return code !== undefined && (code === UNIQUE_VIOLATION || DUPLICATE_OBJECT.has(code));
}
