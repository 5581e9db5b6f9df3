/**
 * The Store contract, part 1: migrations, projects, credentials, users, tokens, clusters and
 * nodes. The same suite runs against every backend in STORE_BACKENDS.
 */
import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { AppError } from '../../src/errors/app-error.js';
import { codeVersion, currentVersion, migrate, StoreTooNewError } from '../../src/store/migrate.js';
import { MIGRATIONS } from '../../src/store/generated/migrations.js';
import { makeCluster, makeNode, T0 } from '../helpers/records.js';
import { STORE_BACKENDS, useStore } from '../helpers/store-backends.js';

/** The AppError a promise rejects with (fails the test when it resolves or rejects with anything else). */
async function appErrorOf(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppError) return e;
    throw new Error(`expected an AppError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected an AppError, but the call succeeded');
}

for (const backend of STORE_BACKENDS)
  describe(`${backend}: store`, () => {
    const h = useStore(backend);

    describe('migrations', () => {
      it('applies every migration to an empty store', async () => {
        const { store } = await h.fresh();
        const a = store.adapter;
        expect(await currentVersion(a)).toBe(0);
        const r = await migrate(a, { now: T0 });
        expect(r).toEqual(MIGRATIONS[backend].map((m) => ({ version: m.version, name: m.name, status: 'applied' })));
        expect(await currentVersion(a)).toBe(codeVersion(a));
        expect(codeVersion(a)).toBeGreaterThanOrEqual(1);
        // the schema is there: the store answers
        expect(await store.listProjects()).toEqual([]);
        const rows = await a.db.selectFrom('dwsbox_migrations').selectAll().execute();
        expect(rows.map((x) => [Number(x.version), x.name, Number(x.applied_at)])).toEqual(
          MIGRATIONS[backend].map((m) => [m.version, m.name, T0]),
        );
      });

      it('is idempotent', async () => {
        const a = (await h.fresh()).store.adapter;
        await migrate(a);
        const again = await migrate(a);
        expect(again.every((x) => x.status === 'already-applied')).toBe(true);
        expect(again).toHaveLength(MIGRATIONS[backend].length);
        const n = await a.db
          .selectFrom('dwsbox_migrations')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow();
        expect(Number(n.n)).toBe(MIGRATIONS[backend].length);
      });

      it('a dry run reports pending migrations and changes nothing', async () => {
        const { store } = await h.fresh();
        const r = await migrate(store.adapter, { dryRun: true });
        expect(r.map((x) => x.status)).toEqual(MIGRATIONS[backend].map(() => 'pending'));
        expect(await currentVersion(store.adapter)).toBe(0);
        await expect(store.listProjects()).rejects.toThrow();
        // on a current store, nothing is pending
        expect((await migrate(h.store.adapter, { dryRun: true })).every((x) => x.status === 'already-applied')).toBe(true);
      });

      it('refuses a store whose schema is newer than the code, saying what to do', async () => {
        const a = h.store.adapter; // already migrated to the code's version
        const newer = codeVersion(a) + 1;
        await a.db
          .insertInto('dwsbox_migrations')
          .values({ version: newer, name: `${String(newer).padStart(6, '0')}_from_the_future`, applied_at: T0 })
          .execute();
        const e = await migrate(a).then(
          () => null,
          (x: unknown) => x,
        );
        expect(e).toBeInstanceOf(StoreTooNewError);
        const msg = (e as Error).message;
        expect(msg).toContain(`version ${newer}`);
        expect(msg).toContain(`(${codeVersion(a)})`);
        expect(msg).toMatch(/upgrade dwsbox/);
        expect(msg).toMatch(/restore the metadata store/);
        // and it touched nothing
        expect(await currentVersion(a)).toBe(newer);
      });

      // Only stores several processes share can have concurrent migrators.
      if (backend === 'postgres')
        it('concurrent migrators apply each migration once (multi-process stores)', async () => {
          const { store, location } = await h.fresh();
          const other = h.open(location);
          const [x, y] = await Promise.all([migrate(store.adapter), migrate(other.adapter)]);
          const applied = [...x, ...y]
            .filter((r) => r.status === 'applied')
            .map((r) => r.version)
            .sort((a, b) => a - b);
          expect(applied).toEqual(MIGRATIONS[backend].map((m) => m.version));
          expect(await currentVersion(other.adapter)).toBe(codeVersion(other.adapter));
        });
    });

    describe('projects, credentials, users, tokens', () => {
      it('projects: ensureProject is idempotent; get and list', async () => {
        const s = h.store;
        await s.ensureProject({ id: 'p1', name: 'first', createdAt: T0 });
        await s.ensureProject({ id: 'p1', name: 'renamed?', createdAt: T0 + 5 });
        await s.ensureProject({ id: 'p2', name: 'second', createdAt: T0 + 1 });
        expect(await s.getProject('p1')).toEqual({ id: 'p1', name: 'first', createdAt: T0 });
        expect(await s.getProject('nope')).toBeUndefined();
        expect((await s.listProjects()).map((p) => p.id)).toEqual(['p1', 'p2']);
      });

      it('projects: two processes ensuring the same project at the same moment both succeed (services starting together)', async () => {
        const other = h.open();
        for (let i = 0; i < 5; i++) {
          const id = `race${i}`;
          await Promise.all([
            h.store.ensureProject({ id, name: id, createdAt: T0 }),
            other.ensureProject({ id, name: id, createdAt: T0 }),
            h.store.ensureProject({ id, name: id, createdAt: T0 }),
          ]);
          expect(await other.getProject(id)).toEqual({ id, name: id, createdAt: T0 });
        }
      });

      it('credentials: insert, get, list by project, refuse a duplicate key, delete', async () => {
        const s = h.store;
        await s.ensureProject({ id: 'p1', name: 'p1', createdAt: T0 });
        await s.ensureProject({ id: 'p2', name: 'p2', createdAt: T0 });
        const c1 = {
          accessKey: 'AKONE00001',
          projectId: 'p1',
          role: 'admin' as const,
          secretEnc: 'v1:a:b:c',
          description: 'bootstrap',
          createdAt: T0,
        };
        const c2 = {
          accessKey: 'AKTWO00002',
          projectId: 'p2',
          role: 'readonly' as const,
          secretEnc: 'v1:d:e:f',
          description: null,
          createdAt: T0 + 1,
        };
        await s.insertCredential(c1);
        await s.insertCredential(c2);
        expect(await s.getCredential('AKONE00001')).toEqual(c1);
        expect(await s.getCredential('AKTWO00002')).toEqual(c2);
        expect(await s.getCredential('AKNONE0000')).toBeUndefined();
        expect((await s.listCredentials()).map((c) => c.accessKey)).toEqual(['AKONE00001', 'AKTWO00002']);
        expect(await s.listCredentials('p2')).toEqual([c2]);
        const dup = await appErrorOf(s.insertCredential({ ...c1, projectId: 'p2' }));
        expect(dup.code).toBe('VALIDATION');
        expect(dup.message).toContain('AKONE00001');
        expect((await s.getCredential('AKONE00001'))!.projectId).toBe('p1');
        expect(await s.deleteCredential('AKONE00001')).toBe(true);
        expect(await s.deleteCredential('AKONE00001')).toBe(false);
        expect(await s.getCredential('AKONE00001')).toBeUndefined();
      });

      it('users: insert, get by name, list by project, refuse a duplicate name, delete with their tokens', async () => {
        const s = h.store;
        await s.ensureProject({ id: 'p1', name: 'p1', createdAt: T0 });
        const u = { id: 'u1', projectId: 'p1', name: 'alice', role: 'admin' as const, passwordHash: 'scrypt:salt:hash', createdAt: T0 };
        await s.insertUser(u);
        await s.insertUser({ ...u, id: 'u2', name: 'bob', role: 'readonly', createdAt: T0 + 1 });
        expect(await s.getUserByName('alice')).toEqual(u);
        expect(await s.getUserByName('carol')).toBeUndefined();
        expect((await s.listUsers('p1')).map((x) => x.name)).toEqual(['alice', 'bob']);
        expect(await s.listUsers('p2')).toEqual([]);
        const dup = await appErrorOf(s.insertUser({ ...u, id: 'u3' }));
        expect(dup.code).toBe('VALIDATION');
        expect(dup.message).toContain('alice');

        await s.insertToken({ tokenHash: 'h-alice', userId: 'u1', projectId: 'p1', role: 'admin', expiresAt: T0 + 1000, createdAt: T0 });
        await s.insertToken({ tokenHash: 'h-bob', userId: 'u2', projectId: 'p1', role: 'readonly', expiresAt: T0 + 1000, createdAt: T0 });
        expect(await s.deleteUser('alice')).toBe(true);
        expect(await s.deleteUser('alice')).toBe(false);
        expect(await s.getUserByName('alice')).toBeUndefined();
        expect(await s.getToken('h-alice')).toBeUndefined();
        expect(await s.getToken('h-bob')).toBeDefined();
      });

      it('tokens: round trip, and deleteExpiredTokens removes only the expired ones', async () => {
        const s = h.store;
        const t = {
          tokenHash: 'a'.repeat(64),
          userId: 'u1',
          projectId: 'p1',
          role: 'readonly' as const,
          expiresAt: T0 + 86_400_000,
          createdAt: T0,
        };
        await s.insertToken(t);
        await s.insertToken({ ...t, tokenHash: 'b'.repeat(64), expiresAt: T0 - 1 });
        await s.insertToken({ ...t, tokenHash: 'c'.repeat(64), expiresAt: T0 });
        expect(await s.getToken('a'.repeat(64))).toEqual(t);
        await s.deleteExpiredTokens(T0);
        expect(await s.getToken('a'.repeat(64))).toEqual(t);
        expect(await s.getToken('b'.repeat(64))).toBeUndefined();
        // expiring exactly now is not yet deleted (the auth check treats it as expired anyway)
        expect(await s.getToken('c'.repeat(64))).toBeDefined();
      });
    });

    describe('clusters and nodes', () => {
      it('a cluster round-trips every field', async () => {
        const c = makeCluster({
          subnetIndex: 7,
          stickyTaskStatus: 'RESIZE_FAILURE',
          stopped: true,
          failedReasons: [{ error_code: 'DWS.9920', error_msg: 'initdb failed' }],
          healthNote: 'archiver failing',
          status: 'UNAVAILABLE',
          subStatus: 'DEGRADED',
        });
        await h.store.insertCluster(c);
        expect(await h.store.getCluster('proj-a', c.id)).toEqual(c);
        expect(await h.store.getClusterById(c.id)).toEqual(c);
        expect(await h.store.findClusterByName('proj-a', c.name)).toEqual(c);
      });

      it('a cluster of another project is invisible through getCluster and findClusterByName', async () => {
        const c = makeCluster();
        await h.store.insertCluster(c);
        expect(await h.store.getCluster('proj-b', c.id)).toBeUndefined();
        expect(await h.store.findClusterByName('proj-b', c.name)).toBeUndefined();
        expect(await h.store.listClusters('proj-b')).toEqual([]);
      });

      it('updateCluster patches only the given fields', async () => {
        const c = makeCluster();
        await h.store.insertCluster(c);
        await h.store.updateCluster(c.id, {
          status: 'CREATION FAILED',
          failedReasons: [{ error_code: 'X', error_msg: 'y' }],
          updatedAt: T0 + 5,
        });
        expect(await h.store.getCluster('proj-a', c.id)).toEqual({
          ...c,
          status: 'CREATION FAILED',
          failedReasons: [{ error_code: 'X', error_msg: 'y' }],
          updatedAt: T0 + 5,
        });
        await h.store.updateCluster(c.id, { failedReasons: null });
        expect((await h.store.getCluster('proj-a', c.id))!.failedReasons).toBeNull();
      });

      it('names are unique per project among live clusters (409 CLUSTER_NAME_EXISTS)', async () => {
        const s = h.store;
        const a = makeCluster({ name: 'warehouse' });
        await s.insertCluster(a);
        const e = await appErrorOf(s.insertCluster(makeCluster({ name: 'warehouse' })));
        expect(e.code).toBe('CLUSTER_NAME_EXISTS');
        expect(e.httpStatus).toBe(409);
        expect(e.wireCode).toBe('DWS.5050');
        expect(e.message).toContain('warehouse');
        expect((await s.listClusters('proj-a')).map((c) => c.id)).toEqual([a.id]);
        // another project may use the name
        await s.insertCluster(makeCluster({ name: 'warehouse', projectId: 'proj-b' }));
        // once deleted, the name is free again, and the deleted cluster is gone from the live views
        await s.updateCluster(a.id, { deletedAt: T0 + 10 });
        expect(await s.getCluster('proj-a', a.id)).toBeUndefined();
        expect(await s.findClusterByName('proj-a', 'warehouse')).toBeUndefined();
        expect((await s.getClusterById(a.id))!.deletedAt).toBe(T0 + 10);
        const b = makeCluster({ name: 'warehouse' });
        await s.insertCluster(b);
        expect((await s.findClusterByName('proj-a', 'warehouse'))!.id).toBe(b.id);
      });

      it('renaming onto a live name is refused too', async () => {
        const s = h.store;
        await s.insertCluster(makeCluster({ name: 'first' }));
        const b = makeCluster({ name: 'second' });
        await s.insertCluster(b);
        expect((await appErrorOf(s.updateCluster(b.id, { name: 'first' }))).code).toBe('CLUSTER_NAME_EXISTS');
        expect((await s.getCluster('proj-a', b.id))!.name).toBe('second');
      });

      it('a subnet index belongs to one live cluster at a time (D6)', async () => {
        const s = h.store;
        const a = makeCluster({ subnetIndex: 3 });
        await s.insertCluster(a);
        await s.insertCluster(makeCluster({ subnetIndex: null }));
        await s.insertCluster(makeCluster({ subnetIndex: null }));
        const e = await appErrorOf(s.insertCluster(makeCluster({ subnetIndex: 3, projectId: 'proj-b' })));
        expect(e.httpStatus).toBe(409);
        expect(await s.usedSubnetIndexes()).toEqual(new Set([3]));
        await s.updateCluster(a.id, { deletedAt: T0 + 1 });
        expect(await s.usedSubnetIndexes()).toEqual(new Set());
        await s.insertCluster(makeCluster({ subnetIndex: 3 }));
        expect(await s.usedSubnetIndexes()).toEqual(new Set([3]));
      });

      it('lists live clusters by creation time, optionally by project', async () => {
        const s = h.store;
        const c2 = makeCluster({ createdAt: T0 + 2, projectId: 'proj-b' });
        const c1 = makeCluster({ createdAt: T0 + 1 });
        const c3 = makeCluster({ createdAt: T0 + 3 });
        for (const c of [c2, c1, c3]) await s.insertCluster(c);
        await s.updateCluster(c3.id, { deletedAt: T0 + 4 });
        expect((await s.listClusters()).map((c) => c.id)).toEqual([c1.id, c2.id]);
        expect((await s.listClusters('proj-a')).map((c) => c.id)).toEqual([c1.id]);
      });

      it('nodes: insert, list in order, update, delete, count over live clusters', async () => {
        const s = h.store;
        const a = makeCluster({ subnetIndex: 1 });
        const b = makeCluster({ subnetIndex: 2, projectId: 'proj-b' });
        await s.insertCluster(a);
        await s.insertCluster(b);
        const na = [3, 1, 2].map((i) => makeNode(a, i));
        for (const n of na) await s.insertNode(n);
        for (const i of [1, 2, 3, 4]) await s.insertNode(makeNode(b, i));
        expect((await s.listNodes(a.id)).map((n) => n.ordinal)).toEqual([1, 2, 3]);
        expect(await s.listNodes(a.id)).toEqual([na[1], na[2], na[0]]);
        expect(await s.countNodes()).toBe(7);
        expect(await s.countNodes('proj-a')).toBe(3);
        expect(await s.countNodes('proj-c')).toBe(0);
        // A node's cluster, within its project only (ShowInstance).
        expect(await s.clusterOfNode('proj-a', na[0]!.id)).toBe(a.id);
        expect(await s.clusterOfNode('proj-b', na[0]!.id)).toBeNull();
        expect(await s.clusterOfNode('proj-a', 'no-such-node')).toBeNull();

        const n2 = na[2]!;
        await s.updateNode(n2.id, { pid: 4242, pidStart: 123456789, health: 'up', updatedAt: T0 + 9 });
        expect((await s.listNodes(a.id))[1]).toEqual({ ...n2, pid: 4242, pidStart: 123456789, health: 'up', updatedAt: T0 + 9 });
        await s.deleteNode(n2.id);
        expect((await s.listNodes(a.id)).map((n) => n.ordinal)).toEqual([1, 3]);

        await s.updateCluster(b.id, { deletedAt: T0 + 1 });
        expect(await s.countNodes()).toBe(2);
        expect(await s.clusterOfNode('proj-b', (await s.listNodes(b.id))[0]!.id)).toBeNull();
        expect((await s.listAllNodes()).map((n) => n.clusterId)).toEqual([a.id, a.id]);
      });

      it('two nodes of a cluster cannot share an ordinal', async () => {
        const a = makeCluster();
        await h.store.insertCluster(a);
        await h.store.insertNode(makeNode(a, 1));
        await expect(h.store.insertNode(makeNode(a, 1))).rejects.toThrow();
        expect(await h.store.listNodes(a.id)).toHaveLength(1);
      });

      it('a transaction commits all or nothing', async () => {
        const s = h.store;
        const a = makeCluster({ name: 'in-tx' });
        await expect(
          s.transaction(async (tx) => {
            await tx.insertCluster(a);
            await tx.insertNode(makeNode(a, 1));
            expect(await tx.getCluster('proj-a', a.id)).toEqual(a); // visible inside
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        expect(await s.getClusterById(a.id)).toBeUndefined();
        expect(await s.listNodes(a.id)).toEqual([]);

        await s.transaction(async (tx) => {
          await tx.insertCluster(a);
          await tx.insertNode(makeNode(a, 1));
        });
        expect(await s.listNodes(a.id)).toHaveLength(1);
      });

      it('a conflict inside a transaction surfaces as the AppError, and rolls back', async () => {
        const s = h.store;
        await s.insertCluster(makeCluster({ name: 'taken' }));
        const fresh = makeCluster({ name: 'fresh' });
        const e = await appErrorOf(
          s.transaction(async (tx) => {
            await tx.insertCluster(fresh);
            await tx.insertCluster(makeCluster({ name: 'taken' }));
          }),
        );
        expect(e.code).toBe('CLUSTER_NAME_EXISTS');
        expect(await s.getClusterById(fresh.id)).toBeUndefined();
      });

      it('ping answers', async () => {
        await expect(h.store.ping()).resolves.toBeUndefined();
        expect(Number((await sql<{ one: number }>`select 1 as one`.execute(h.store.adapter.db)).rows[0]!.one)).toBe(1);
      });
    });
  });
