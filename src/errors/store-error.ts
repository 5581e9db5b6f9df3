/**
 * What went wrong in the metadata store's database, as one typed classification. The store's
 * adapters (src/store/adapters.ts) turn every error of their driver (better-sqlite3, pg) into
 * a StoreError with a kind, keeping the driver's error as `cause`; nothing above the adapters
 * reads SQLSTATEs, `SQLITE_*` codes or message texts.
 */

export type StoreErrorKind =
  /** a unique index or primary key refused the row */
  | 'unique-violation'
  /** another integrity rule refused the row (foreign key, check, not null) */
  | 'constraint-violation'
  /** DDL made something that is already there (a migration racing another) */
  | 'already-exists'
  /** the transaction lost to a concurrent one (serialization failure, deadlock): run it again */
  | 'serialization-failure'
  /** the database is locked by another writer, or takes no more sessions now */
  | 'busy'
  /** the connection failed, or the server went away or is shutting down */
  | 'connection-lost'
  /** the database cannot be opened or read (I/O error) */
  | 'unavailable'
  /** anything else: a bug in a query, a missing table, … */
  | 'other';

/** Kinds that say nothing about the request: the same request may succeed when tried again. */
const TRANSIENT: ReadonlySet<StoreErrorKind> = new Set(['serialization-failure', 'busy', 'connection-lost', 'unavailable']);

export class StoreError extends Error {
  override name = 'StoreError';

  constructor(
    readonly kind: StoreErrorKind,
    /** the driver's own error */
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }

  /** The database did not answer this time (busy, gone, or the transaction lost a race): trying again may succeed. */
  get transient(): boolean {
    return TRANSIENT.has(this.kind);
  }
}

export function isStoreError(e: unknown): e is StoreError {
  return e instanceof StoreError;
}
