/**
 * What the Store needs of a backend (adapters.ts makes the SQLite and PostgreSQL ones). What
 * differs between them is expressed as capability flags, never `if (backend === 'sqlite')`.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

export interface StoreCapabilities {
  /** `FOR UPDATE SKIP LOCKED` when picking a task to claim (PostgreSQL). */
  readonly supportsSkipLocked: boolean;
  /** `SELECT … FOR UPDATE` row locks inside a transaction (PostgreSQL); SQLite has one writer. */
  readonly supportsRowLocks: boolean;
  /** Several service processes may share this store. */
  readonly multiProcess: boolean;
}

export interface StoreAdapter {
  readonly name: 'sqlite' | 'postgres';
  readonly capabilities: StoreCapabilities;
  /** Every error of its driver comes out of it as a StoreError (src/errors/store-error.ts). */
  readonly db: Kysely<Database>;
  /** Run a multi-statement SQL script inside the current migration transaction. */
  executeScript(trx: Transaction<Database>, script: string): Promise<void>;
  /** Serialize migrators across processes (advisory lock on PostgreSQL; no-op on SQLite, whose writer lock serializes). */
  lockForMigration(trx: Transaction<Database>): Promise<void>;
  /**
   * Hold `key` until the transaction ends, across every process of the store: an advisory
   * transaction lock on PostgreSQL; a no-op on SQLite, where one process writes and its
   * transactions run one at a time.
   */
  lockUntilCommit(trx: Transaction<Database>, key: string): Promise<void>;
  /**
   * A value that changes whenever anything committed to the store may have changed, from this
   * process or another: what is read after it is at least as new as it says, and an equal
   * value later means nothing was committed in between. SQLite: without a query; PostgreSQL:
   * one round trip.
   */
  readVersion(): string | Promise<string>;
  /** Consistent copy of the store to a file (SQLite only). */
  backupTo?(file: string): Promise<void>;
  close(): Promise<void>;
}
