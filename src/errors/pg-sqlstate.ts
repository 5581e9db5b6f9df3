/**
 * SQLSTATE classification for the PostgreSQL store and for SQL the engine runs on nodes.
 * @see https://www.postgresql.org/docs/15/errcodes-appendix.html
 */
/** Retry the transaction with back-off: serialization failure, deadlock. */
export const RETRY_TRANSACTION = new Set(['40001', '40P01']);
/** Retry the connection: the server is starting up / shutting down / connection failures. */
export const RETRY_CONNECTION = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '53300']);
export const NOT_EXISTS = new Set(['42P01', '3D000', '3F000', '42704']);
export const ALREADY_EXISTS = new Set(['23505', '42P07', '42710', '42P04', '42P06']);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE', 'ETIMEDOUT']);

export function sqlState(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isRetryableDbError(e: unknown): boolean {
  const c = sqlState(e);
  return c !== undefined && (RETRY_TRANSACTION.has(c) || RETRY_CONNECTION.has(c) || NETWORK.has(c));
}
export function isNotExists(e: unknown): boolean {
  const c = sqlState(e);
  return c !== undefined && NOT_EXISTS.has(c);
}
export function isAlreadyExists(e: unknown): boolean {
  const c = sqlState(e);
  return c !== undefined && ALREADY_EXISTS.has(c);
}
