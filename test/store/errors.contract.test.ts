/**
 * The Store contract, part 3: driver errors, provoked for real on each backend, come out of
 * the adapter as one classification (StoreError with a kind, the driver's error as `cause`);
 * the store turns the transient ones into STORE_UNAVAILABLE, and the HTTP edge answers them
 * with 503 DWS.9504 (src/api/error-handler.ts) without knowing any SQLSTATE or SQLITE_* code.
 */
import { describe, expect, it } from 'vitest';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { toAppError } from '../../src/api/error-handler.js';
import { AppError } from '../../src/errors/app-error.js';
import { StoreError } from '../../src/errors/store-error.js';
import { sqliteStoreErrorKind } from '../../src/store/adapters.js';
import { openStore } from '../../src/store/open-store.js';
import { makeCluster, makeNode, T0 } from '../helpers/records.js';
import { removeDir, tempDir } from '../helpers/env.js';
import { STORE_BACKENDS, useStore } from '../helpers/store-backends.js';

/** What a promise rejects with (fails the test when it resolves). */
async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection, but the call succeeded');
    },
    (e: unknown) => e,
  );
}

async function storeErrorOf(p: Promise<unknown>): Promise<StoreError> {
  const e = await rejectionOf(p);
  if (!(e instanceof StoreError)) throw new Error(`expected a StoreError, got ${String(e)}`);
  return e;
}

/** The store's own refusal: STORE_UNAVAILABLE with the classified error as its cause. */
async function unavailableOf(p: Promise<unknown>): Promise<StoreError> {
  const e = await rejectionOf(p);
  if (!(e instanceof AppError)) throw new Error(`expected an AppError, got ${String(e)}`);
  expect(e.code).toBe('STORE_UNAVAILABLE');
  expect(e.retryable).toBe(true);
  expect(e.cause).toBeInstanceOf(StoreError);
  return e.cause as StoreError;
}

/** How the HTTP edge answers an error: status and DWS code. */
function answer(e: unknown): [number, string] {
  const a = toAppError(e, 'req-1');
  return [a.httpStatus, a.wireCode];
}

/** The driver's own error class: the cause a StoreError keeps. */
function expectDriverCause(backend: string, e: StoreError): void {
  if (backend === 'sqlite') expect(e.cause).toBeInstanceOf(BetterSqlite3.SqliteError);
  else expect(e.cause).toBeInstanceOf(Error);
  expect(e.message).toBe((e.cause as Error).message);
}

for (const backend of STORE_BACKENDS)
  describe(`${backend}: driver errors`, () => {
    const h = useStore(backend);

    it('a duplicate key is a unique violation, not transient; the store answers it with the refusal it names', async () => {
      await h.store.ensureProject({ id: 'p1', name: 'p1', createdAt: T0 });
      const raw = await storeErrorOf(
        h.store.adapter.db.insertInto('projects').values({ id: 'p1', name: 'again', created_at: T0 }).execute(),
      );
      expect(raw.kind).toBe('unique-violation');
      expect(raw.transient).toBe(false);
      expectDriverCause(backend, raw);

      // a unique index the store names no refusal for: the classified error itself
      const cluster = makeCluster();
      await h.store.insertCluster(cluster);
      await h.store.insertNode(makeNode(cluster, 1));
      const node = await storeErrorOf(h.store.insertNode(makeNode(cluster, 1)));
      expect(node.kind).toBe('unique-violation');
      // …which reaches the HTTP edge as a bug, never as "try again"
      expect(answer(node)).toEqual([500, 'DWS.0005']);

      // one it names: a taken cluster name
      const taken = await rejectionOf(h.store.insertCluster(makeCluster({ name: cluster.name })));
      expect(taken).toBeInstanceOf(AppError);
      expect((taken as AppError).code).toBe('CLUSTER_NAME_EXISTS');
      expect(await h.store.listNodes(cluster.id)).toHaveLength(1);
    });

    it('a broken foreign key is a constraint violation', async () => {
      const orphan = await storeErrorOf(h.store.insertNode(makeNode(makeCluster(), 1)));
      expect(orphan.kind).toBe('constraint-violation');
      expect(orphan.transient).toBe(false);
      expectDriverCause(backend, orphan);
    });

    it('a query on a table that is not there is "other": a 500 at the HTTP edge', async () => {
      const e = await storeErrorOf(sql`select * from no_such_table`.execute(h.store.adapter.db));
      expect(e.kind).toBe('other');
      expect(e.transient).toBe(false);
      expect(answer(e)).toEqual([500, 'DWS.0005']);
    });

    if (backend === 'sqlite')
      describe('SQLite: a busy database', () => {
        it('a write while another connection holds the write lock fails as busy: a 503 at the HTTP edge, and nothing is written', async () => {
          const holder = new BetterSqlite3(h.location);
          const impatient = openStore(h.location, { sqliteBusyTimeoutMs: 0 });
          try {
            holder.exec('BEGIN IMMEDIATE');
            const e = await storeErrorOf(impatient.ensureProject({ id: 'p-busy', name: 'p', createdAt: T0 }));
            expect(e.kind).toBe('busy');
            expect(e.transient).toBe(true);
            expectDriverCause(backend, e);
            expect(answer(e)).toEqual([503, 'DWS.9504']);
            // inside a transaction, the store itself says STORE_UNAVAILABLE
            const inTx = await unavailableOf(impatient.transaction((tx) => tx.ensureProject({ id: 'p-busy', name: 'p', createdAt: T0 })));
            expect(inTx.kind).toBe('busy');
            holder.exec('ROLLBACK');
            expect(await impatient.getProject('p-busy')).toBeUndefined();
            // the lock gone, the same write goes through
            await impatient.ensureProject({ id: 'p-busy', name: 'p', createdAt: T0 });
            expect(await h.store.getProject('p-busy')).toEqual({ id: 'p-busy', name: 'p', createdAt: T0 });
          } finally {
            if (holder.inTransaction) holder.exec('ROLLBACK');
            holder.close();
            await impatient.close();
          }
        });

        it('a transaction whose snapshot another connection changed before its first write fails as busy (no waiting helps), as STORE_UNAVAILABLE, and rolls back', async () => {
          const other = h.open();
          const cluster = makeCluster();
          const unavailable = await unavailableOf(
            h.store.transaction(async (tx) => {
              await tx.getProject('p-other'); // the transaction's read snapshot starts here
              await other.ensureProject({ id: 'p-other', name: 'other', createdAt: T0 });
              await tx.insertCluster(cluster);
            }),
          );
          expect(unavailable.kind).toBe('busy');
          expect((unavailable.cause as { code?: string }).code).toBe('SQLITE_BUSY_SNAPSHOT');
          expect(await h.store.getClusterById(cluster.id)).toBeUndefined();
          expect(await h.store.getProject('p-other')).toBeDefined();
        });

        it('a database file that cannot be opened (the path is a directory) is "unavailable" (transient)', () => {
          const dir = tempDir('sqlite-cantopen');
          try {
            let driverError: unknown;
            try {
              new BetterSqlite3(dir).close();
            } catch (e) {
              driverError = e;
            }
            expect(driverError).toBeInstanceOf(BetterSqlite3.SqliteError);
            expect(sqliteStoreErrorKind(driverError)).toBe('unavailable');
            expect(new StoreError(sqliteStoreErrorKind(driverError), driverError).transient).toBe(true);
          } finally {
            removeDir(dir);
          }
        });
      });

    if (backend === 'postgres')
      describe('PostgreSQL: lost races and lost connections', () => {
        it('a serialization failure (a repeatable-read transaction updating a row changed since its snapshot) is transient: a 503 at the HTTP edge', async () => {
          await h.store.ensureProject({ id: 'p-race', name: 'before', createdAt: T0 });
          const other = h.open();
          const e = await storeErrorOf(
            h.store.adapter.db
              .transaction()
              .setIsolationLevel('repeatable read')
              .execute(async (trx) => {
                await trx.selectFrom('projects').selectAll().where('id', '=', 'p-race').execute(); // the snapshot
                await other.adapter.db.updateTable('projects').set({ name: 'theirs' }).where('id', '=', 'p-race').execute();
                await trx.updateTable('projects').set({ name: 'mine' }).where('id', '=', 'p-race').execute();
              }),
          );
          expect(e.kind).toBe('serialization-failure');
          expect(e.transient).toBe(true);
          expect((e.cause as { code?: string }).code).toBe('40001');
          expect(answer(e)).toEqual([503, 'DWS.9504']);
          expect((await h.store.getProject('p-race'))!.name).toBe('theirs');
        });

        it('a deadlock between two store transactions: one fails as STORE_UNAVAILABLE (a lost race) and changes nothing, the other commits', async () => {
          const a = makeCluster({ name: 'first' });
          const b = makeCluster({ name: 'second' });
          await h.store.insertCluster(a);
          await h.store.insertCluster(b);
          const other = h.open();
          let firstLocked!: () => void;
          let secondLocked!: () => void;
          const firstHolds = new Promise<void>((resolve) => (firstLocked = resolve));
          const secondHolds = new Promise<void>((resolve) => (secondLocked = resolve));
          const outcomes = await Promise.allSettled([
            h.store.transaction(async (tx) => {
              await tx.updateCluster(a.id, { healthNote: 'one' });
              firstLocked();
              await secondHolds;
              await tx.updateCluster(b.id, { healthNote: 'one' });
            }),
            other.transaction(async (tx) => {
              await tx.updateCluster(b.id, { healthNote: 'two' });
              secondLocked();
              await firstHolds;
              await tx.updateCluster(a.id, { healthNote: 'two' });
            }),
          ]);
          const failed = outcomes.filter((o) => o.status === 'rejected');
          expect(failed).toHaveLength(1);
          const lost = await unavailableOf(Promise.reject((failed[0] as PromiseRejectedResult).reason));
          expect(lost.kind).toBe('serialization-failure');
          expect((lost.cause as { code?: string }).code).toBe('40P01');
          const winner = outcomes[0]!.status === 'fulfilled' ? 'one' : 'two';
          expect((await h.store.getClusterById(a.id))!.healthNote).toBe(winner);
          expect((await h.store.getClusterById(b.id))!.healthNote).toBe(winner);
        });

        it('a session terminated under a transaction is a lost connection: STORE_UNAVAILABLE from the store, which works again on its next call', async () => {
          const killer = h.open();
          const lost = await unavailableOf(
            h.store.transaction(async (tx) => {
              await tx.getProject('p-lost');
              // the only session of this test's server idle inside a transaction is this one
              await sql`select pg_terminate_backend(pid, 10000) from pg_stat_activity
                  where pid <> pg_backend_pid() and state = 'idle in transaction'`.execute(killer.adapter.db);
              await tx.ensureProject({ id: 'p-lost', name: 'lost', createdAt: T0 });
            }),
          );
          expect(lost.kind).toBe('connection-lost');
          expect(answer(lost)).toEqual([503, 'DWS.9504']);
          expect(await h.store.getProject('p-lost')).toBeUndefined();
          await h.store.ensureProject({ id: 'p-lost', name: 'found', createdAt: T0 });
          expect((await h.store.getProject('p-lost'))!.name).toBe('found');
        });

        it('a server that is not there (no socket where the URL points) is a lost connection', async () => {
          const empty = tempDir('pg-nowhere');
          try {
            const nowhere = h.open(`postgres://postgres@localhost/postgres?host=${encodeURIComponent(empty)}&port=5432`);
            const e = await storeErrorOf(nowhere.getProject('p'));
            expect(e.kind).toBe('connection-lost');
            expect(answer(e)).toEqual([503, 'DWS.9504']);
          } finally {
            removeDir(empty);
          }
        });
      });
  });
