/**
 * The read cache (src/store/read-cache.ts) never serves an answer older than the last commit:
 * not after a write through the same store, nor after a commit by another connection (a
 * second process); an answer that says until when it holds is read again after. An unchanged
 * store is served from memory on both backends.
 */
import { describe, expect, it, vi } from 'vitest';
import { TaskService } from '../../src/services/task-service.js';
import { ReadCache, ReadPoint } from '../../src/store/read-cache.js';
import { makeCluster, makeStep, makeTask } from '../helpers/records.js';
import { STORE_BACKENDS, useStore } from '../helpers/store-backends.js';

const clock = (at: { now: number }) => ({ now: () => at.now });

for (const backend of STORE_BACKENDS) {
  describe(`${backend}: read cache`, () => {
    const h = useStore(backend);

    async function setUp() {
      const c = makeCluster({ name: 'first' });
      await h.store.insertCluster(c);
      const at = { now: 1_000 };
      const cache = new ReadCache<string | undefined>(h.store, clock(at));
      let reads = 0;
      const name = () =>
        cache.get(c.id, async () => {
          reads++;
          return { value: (await h.store.getCluster(c.projectId, c.id))?.name };
        });
      return { c, at, cache, name, reads: () => reads };
    }

    it('serves an unchanged store from memory, and reads again after a write through the same store', async () => {
      const t = await setUp();
      expect(await t.name()).toBe('first');
      expect(await t.name()).toBe('first');
      expect(t.reads()).toBe(1);
      await h.store.updateCluster(t.c.id, { name: 'second' });
      expect(await t.name()).toBe('second');
    });

    it('reads again after another connection commits', async () => {
      const t = await setUp();
      expect(await t.name()).toBe('first');
      const other = h.open();
      await other.updateCluster(t.c.id, { name: 'by-another-process' });
      expect(await t.name()).toBe('by-another-process');
      await other.transaction(async (tx) => tx.updateCluster(t.c.id, { name: 'in-a-transaction' }));
      expect(await t.name()).toBe('in-a-transaction');
      // A transaction still open is not seen; its commit is, at once.
      let commit!: () => void;
      const committed = new Promise<void>((r) => (commit = r));
      let opened!: () => void;
      const isOpen = new Promise<void>((r) => (opened = r));
      const open = other.transaction(async (tx) => {
        await tx.updateCluster(t.c.id, { name: 'after-commit' });
        opened();
        await committed;
      });
      await isOpen;
      expect(await t.name()).toBe('in-a-transaction');
      commit();
      await open;
      expect(await t.name()).toBe('after-commit');
    });

    it('reads again once an answer no longer holds', async () => {
      const at = { now: 5_000 };
      const cache = new ReadCache<number>(h.store, clock(at));
      let reads = 0;
      const read = () => cache.get('k', async () => ({ value: ++reads, until: 6_000 }));
      expect(await read()).toBe(1);
      at.now = 5_999;
      expect(await read()).toBe(1);
      at.now = 6_000;
      expect(await read()).toBe(2);
    });

    it('a read point reads the version once: all reads of one request see the store as it was then, the next request a later commit', async () => {
      const t = await setUp();
      const point = new ReadPoint(h.store);
      const name = () => t.cache.get(t.c.id, async () => ({ value: (await h.store.getCluster(t.c.projectId, t.c.id))?.name }), point);
      expect(await name()).toBe('first');
      await h.open().updateCluster(t.c.id, { name: 'later' });
      expect(await name()).toBe('first');
      expect(await t.name()).toBe('later');
    });

    it('task details: a step estimated from history follows the clock with no read; a step written is seen by the next poll', async () => {
      const c = makeCluster({ name: 'tasks' });
      await h.store.insertCluster(c);
      const base = { projectId: c.projectId, clusterId: c.id, clusterName: c.name, kind: 'snapshot.create' as const };
      const done = makeTask({ ...base, status: 'SUCCESS', lockKey: `a:${c.id}`, createdAt: 1_000 });
      await h.store.transaction((tx) =>
        tx.insertTask(done, [
          makeStep(done, 'CHECK_CLUSTER', 0, { itemKey: 'CREATE_SNAPSHOT', status: 'SUCCESS', beginAt: 1_000, endAt: 11_000 }),
        ]),
      );
      const running = makeTask({ ...base, status: 'RUNNING', lockKey: `b:${c.id}`, createdAt: 20_000 });
      await h.store.transaction((tx) =>
        tx.insertTask(running, [makeStep(running, 'CHECK_CLUSTER', 0, { itemKey: 'CREATE_SNAPSHOT', status: 'RUNNING', beginAt: 20_000 })]),
      );
      const at = { now: 22_000 };
      const tasks = new TaskService(h.store, { ...clock(at), sleep: async () => {} } as never);
      const poll = async () => (await tasks.actionDetails(c.projectId, c.id, 'SNAPSHOTTING', 'en')).items[0]!.sub_items[0]!;
      const reads = vi.spyOn(h.store, 'listSteps');
      expect(await poll()).toMatchObject({ status: 'RUNNING', estimated_time: 8 });
      at.now = 25_000;
      expect(await poll()).toMatchObject({ status: 'RUNNING', estimated_time: 5 });
      expect(reads).toHaveBeenCalledTimes(1);
      await h.store.updateStep(running.id, 'CHECK_CLUSTER', { status: 'SUCCESS', endAt: 25_000 });
      expect(await poll()).toMatchObject({ status: 'SUCCESS', estimated_time: 0 });
      expect(reads).toHaveBeenCalledTimes(2);
      reads.mockRestore();
    });

    it('keeps no failed read', async () => {
      const t = await setUp();
      let fail = true;
      const read = () =>
        t.cache.get('failing', async () => {
          if (fail) throw new Error('store down');
          return { value: 'ok' };
        });
      await expect(read()).rejects.toThrow('store down');
      fail = false;
      expect(await read()).toBe('ok');
    });
  });
}
