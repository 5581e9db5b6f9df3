/**
 * SyncIamUsers' store tables (issue 16, domain/db-sync.ts) on both backends: one RUNNING sync
 * per cluster, also across two store connections (two service processes); one left RUNNING
 * past the abandoned limit closed FAILED; a finished sync's record; records read newest first,
 * paged and counted; synced roles put, re-bound, forgotten only by their OID; both removed
 * with their cluster.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { STORE_BACKENDS, useStore } from '../helpers/store-backends.js';
import { T0 } from '../helpers/records.js';
import type { DbSyncRecord } from '../../src/domain/db-sync.js';
import { isStoreError } from '../../src/errors/store-error.js';

const sync = (o: Partial<DbSyncRecord> = {}): DbSyncRecord => ({
  id: randomUUID(),
  projectId: 'proj-a',
  clusterId: 'cluster-1',
  status: 'RUNNING',
  startTime: T0,
  endTime: null,
  addCount: 0,
  updateCount: 0,
  deleteCount: 0,
  failedCount: 0,
  failReason: null,
  ...o,
});

for (const backend of STORE_BACKENDS)
  describe(`${backend}: IAM user syncs`, () => {
    const h = useStore(backend);

    it('one RUNNING sync per cluster, across two connections; another cluster runs its own; a finished one frees the cluster', async () => {
      const a = h.store;
      const b = h.open();
      const first = sync();
      const results = await Promise.allSettled([a.insertDbSync(first), b.insertDbSync(sync({ id: randomUUID() }))]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(isStoreError(refused.reason) && refused.reason.kind).toBe('unique-violation');
      const running = await a.runningDbSync('cluster-1');
      expect(running?.status).toBe('RUNNING');
      await a.insertDbSync(sync({ clusterId: 'cluster-2' }));
      expect(
        await a.finishDbSync(running!.id, {
          status: 'SUCCESS',
          endTime: T0 + 1500,
          addCount: 2,
          updateCount: 1,
          deleteCount: 1,
          failedCount: 1,
          failReason: 'Bad.Name: …',
        }),
      ).toBe(true);
      // finished once: a second finish writes nothing
      expect(
        await a.finishDbSync(running!.id, {
          status: 'FAILED',
          endTime: T0 + 2000,
          addCount: 0,
          updateCount: 0,
          deleteCount: 0,
          failedCount: 0,
          failReason: 'x',
        }),
      ).toBe(false);
      const next = sync({ startTime: T0 + 2000 });
      await b.insertDbSync(next);
      const { count, records } = await a.listDbSyncs('cluster-1', 0, 10);
      expect(count).toBe(2);
      expect(records.map((r) => r.id)).toEqual([next.id, running!.id]);
      expect(records[1]).toEqual({
        ...running!,
        status: 'SUCCESS',
        endTime: T0 + 1500,
        addCount: 2,
        updateCount: 1,
        deleteCount: 1,
        failedCount: 1,
        failReason: 'Bad.Name: …',
      });
      expect((await a.listDbSyncs('cluster-1', 1, 1)).records.map((r) => r.id)).toEqual([running!.id]);
    });

    it('a sync left RUNNING since before the limit is closed FAILED with the reason; a newer one stays', async () => {
      const s = h.store;
      const old = sync({ startTime: T0 });
      await s.insertDbSync(old);
      expect(await s.closeAbandonedDbSyncs('cluster-1', T0, T0 + 10, 'cut off')).toBe(0);
      expect(await s.closeAbandonedDbSyncs('cluster-1', T0 + 1, T0 + 10, 'cut off')).toBe(1);
      expect((await s.listDbSyncs('cluster-1', 0, 10)).records).toEqual([
        { ...old, status: 'FAILED', endTime: T0 + 10, failReason: 'cut off' },
      ]);
      expect(await s.runningDbSync('cluster-1')).toBeUndefined();
    });

    it('synced roles: put, re-bound to another user, forgotten only by their OID; removed with the cluster, records too', async () => {
      const s = h.store;
      await s.putSyncedRole({ clusterId: 'cluster-1', roleName: 'alice', roleOid: 4_000_000_001, userId: 'u1', syncedAt: T0 });
      await s.putSyncedRole({ clusterId: 'cluster-1', roleName: 'bob', roleOid: 16385, userId: 'u2', syncedAt: T0 });
      await s.putSyncedRole({ clusterId: 'cluster-2', roleName: 'alice', roleOid: 16390, userId: 'u1', syncedAt: T0 });
      await s.putSyncedRole({ clusterId: 'cluster-1', roleName: 'alice', roleOid: 4_000_000_001, userId: 'u3', syncedAt: T0 + 5 });
      expect(await s.listSyncedRoles('cluster-1')).toEqual([
        { clusterId: 'cluster-1', roleName: 'alice', roleOid: 4_000_000_001, userId: 'u3', syncedAt: T0 + 5 },
        { clusterId: 'cluster-1', roleName: 'bob', roleOid: 16385, userId: 'u2', syncedAt: T0 },
      ]);
      await s.forgetSyncedRole('cluster-1', 'bob', 99999);
      expect(await s.listSyncedRoles('cluster-1')).toHaveLength(2);
      await s.forgetSyncedRole('cluster-1', 'bob', 16385);
      expect((await s.listSyncedRoles('cluster-1')).map((r) => r.roleName)).toEqual(['alice']);
      await s.insertDbSync(sync());
      await s.insertDbSync(sync({ clusterId: 'cluster-2' }));
      await s.transaction((tx) => tx.deleteDbSyncs('cluster-1'));
      expect(await s.listSyncedRoles('cluster-1')).toEqual([]);
      expect((await s.listDbSyncs('cluster-1', 0, 10)).count).toBe(0);
      expect(await s.listSyncedRoles('cluster-2')).toHaveLength(1);
      expect((await s.listDbSyncs('cluster-2', 0, 10)).count).toBe(1);
    });
  });
