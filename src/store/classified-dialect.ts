/**
 * A Kysely dialect whose every driver error comes out classified: the adapter's dialect
 * (SQLite or PostgreSQL) wrapped so that whatever its driver throws — from a query, a begin,
 * a commit or a rollback, or while getting a connection — becomes a StoreError with the kind
 * the adapter's classifier gives it, the driver's error kept as `cause`.
 *
 * Kysely has no hook that can change an error (its `log` option only observes), so the wrap
 * sits at its documented extension point, the Dialect → Driver → DatabaseConnection trio.
 */
import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryCompiler, QueryResult, TransactionSettings } from 'kysely';
import { StoreError, type StoreErrorKind } from '../errors/store-error.js';

/** Tells what an error of one driver means for the store. */
export type DriverErrorClassifier = (e: unknown) => StoreErrorKind;

/** A driver's error as a StoreError (one that already is stays as it is). */
export function toStoreError(e: unknown, classify: DriverErrorClassifier): StoreError {
  return e instanceof StoreError ? e : new StoreError(classify(e), e);
}

/** One connection of the wrapped driver, its errors classified; the wrapped driver is handed `inner`. */
class ClassifiedConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly classify: DriverErrorClassifier,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return await this.inner.executeQuery<R>(query);
    } catch (e) {
      throw toStoreError(e, this.classify);
    }
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(query, chunkSize);
    } catch (e) {
      throw toStoreError(e, this.classify);
    }
  }
}

class ClassifiedDriver implements Driver {
  /** one wrapper per connection of the wrapped driver, so that Kysely sees the same object each time */
  private readonly wrappers = new WeakMap<DatabaseConnection, ClassifiedConnection>();

  constructor(
    private readonly inner: Driver,
    private readonly classify: DriverErrorClassifier,
  ) {}

  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (e) {
      throw toStoreError(e, this.classify);
    }
  }

  /** The wrapped driver's own connection object (its methods rely on their private fields). */
  private unwrap(connection: DatabaseConnection): DatabaseConnection {
    return connection instanceof ClassifiedConnection ? connection.inner : connection;
  }

  init(): Promise<void> {
    return this.run(() => this.inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.run(() => this.inner.acquireConnection());
    let wrapper = this.wrappers.get(connection);
    if (!wrapper) {
      wrapper = new ClassifiedConnection(connection, this.classify);
      this.wrappers.set(connection, wrapper);
    }
    return wrapper;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.run(() => this.inner.beginTransaction(this.unwrap(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.run(() => this.inner.commitTransaction(this.unwrap(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.run(() => this.inner.rollbackTransaction(this.unwrap(connection)));
  }

  savepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    const inner = this.inner;
    if (!inner.savepoint) throw new Error('The `savepoint` method is not supported by this driver');
    return this.run(() => inner.savepoint!(this.unwrap(connection), name, compileQuery));
  }

  rollbackToSavepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    const inner = this.inner;
    if (!inner.rollbackToSavepoint) throw new Error('The `rollbackToSavepoint` method is not supported by this driver');
    return this.run(() => inner.rollbackToSavepoint!(this.unwrap(connection), name, compileQuery));
  }

  releaseSavepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    const inner = this.inner;
    if (!inner.releaseSavepoint) throw new Error('The `releaseSavepoint` method is not supported by this driver');
    return this.run(() => inner.releaseSavepoint!(this.unwrap(connection), name, compileQuery));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.run(() => this.inner.releaseConnection(this.unwrap(connection)));
  }

  destroy(): Promise<void> {
    return this.run(() => this.inner.destroy());
  }
}

/** `dialect`, with every error of its driver classified by `classify`. */
export function classifiedDialect(dialect: Dialect, classify: DriverErrorClassifier): Dialect {
  const wrapped: Dialect = {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new ClassifiedDriver(dialect.createDriver(), classify),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db),
  };
  return wrapped;
}
