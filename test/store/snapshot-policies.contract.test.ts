/**
 * Snapshot-policy store methods on both backends: strategies (case-insensitive unique live
 * names), due strategies, and the policy_fires primary key that makes a fire time produce at
 * most one snapshot, also between two store connections (two service processes) racing;
 * and the figures of the fair shares (docs/security.md): when a strategy last made a
 * snapshot, and what a project's snapshots take (and one cluster's share, its statistics).
 */
import { describe, expect, it } from 'vitest';
import { STORE_BACKENDS, useStore } from '../helpers/store-backends.js';
import { makeCluster } from '../helpers/records.js';
import type { SnapshotPolicyRecord } from '../../src/domain/snapshot-policy.js';
import type { SnapshotRecord } from '../../src/domain/records.js';
import { newSnapshotRecord } from '../../src/services/snapshot-service.js';

const policy = (clusterId: string, o: Partial<SnapshotPolicyRecord> = {}): SnapshotPolicyRecord => ({
  id: crypto.randomUUID(),
  projectId: 'proj-a',
  clusterId,
  name: 'nightly',
  schedule: '0 0 2 * * ?',
  backupType: 'increment',
  backupLevel: 'cluster',
  timeZoneOffset: 0,
  backupDatabase: null,
  backupSchemaList: null,
  backupTableList: null,
  nextFireAt: 1000,
  createdAt: 1,
  updatedAt: 1,
  deletedAt: null,
  ...o,
});

for (const backend of STORE_BACKENDS)
  describe(`${backend}: snapshot policies`, () => {
    const h = useStore(backend);

    it('keeps live strategy names unique per cluster in any case, frees a deleted one, and lists due strategies', async () => {
      const s = h.store;
      const c = makeCluster();
      await s.insertCluster(c);
      await s.savePolicySettings({
        clusterId: c.id,
        projectId: 'proj-a',
        keepDay: 3,
        deviceName: 'OBS',
        serverIps: ['10.0.0.1'],
        serverPort: null,
        backupParam: null,
        autoBackup: true,
        createdAt: 1,
        updatedAt: 1,
      });
      await s.savePolicySettings({
        clusterId: c.id,
        projectId: 'proj-a',
        keepDay: 4,
        deviceName: 'OBS',
        serverIps: [],
        serverPort: '1',
        backupParam: 'x',
        autoBackup: true,
        createdAt: 5,
        updatedAt: 5,
      });
      expect(await s.getPolicySettings(c.id)).toMatchObject({ keepDay: 4, serverIps: [], serverPort: '1', createdAt: 1, updatedAt: 5 });
      const a = policy(c.id);
      await s.insertPolicy(a);
      await expect(s.insertPolicy(policy(c.id, { name: 'NIGHTLY' }))).rejects.toMatchObject({ code: 'SNAPSHOT_POLICY_NAME_EXISTS' });
      await s.updatePolicy(a.id, { deletedAt: 2, nextFireAt: null });
      const b = policy(c.id, { name: 'Nightly', nextFireAt: 5000 });
      await s.insertPolicy(b);
      expect((await s.listPolicies(c.id)).map((p) => p.id)).toEqual([b.id]);
      expect((await s.listDuePolicies(4999)).map((p) => p.id)).toEqual([]);
      expect((await s.listDuePolicies(5000)).map((p) => p.id)).toEqual([b.id]);
      await s.savePolicySettings({ ...(await s.getPolicySettings(c.id))!, autoBackup: false });
      expect(await s.listDuePolicies(5000)).toEqual([]);
    });

    it('a fire time is recorded once, even when two connections race for it', async () => {
      const s = h.store;
      expect(
        await s.insertPolicyFire({ policyId: 'p1', fireTime: 3000, outcome: 'CREATED', snapshotId: null, detail: null, createdAt: 1 }),
      ).toBe(true);
      expect(
        await s.insertPolicyFire({ policyId: 'p1', fireTime: 3000, outcome: 'REFUSED', snapshotId: null, detail: 'x', createdAt: 2 }),
      ).toBe(false);
      await s.setPolicyFireSnapshot('p1', 3000, 'snap-1');
      expect(await s.listPolicyFires('p1')).toEqual([
        { policyId: 'p1', fireTime: 3000, outcome: 'CREATED', snapshotId: 'snap-1', detail: null, createdAt: 1 },
      ]);

      // Two store connections (as two processes), each in its own transaction, for the same slots:
      // at once where several processes may share the store, one after the other on SQLite (one serve).
      const other = h.open();
      const fire = (st: typeof s, t: number) =>
        st.transaction((tx) =>
          tx.insertPolicyFire({ policyId: 'p2', fireTime: t, outcome: 'CREATED', snapshotId: null, detail: null, createdAt: t }),
        );
      const jobs = [s, other].flatMap((st) => [6000, 9000].map((t) => () => fire(st, t)));
      const results: boolean[] = [];
      if (s.capabilities.multiProcess) results.push(...(await Promise.all(jobs.map((j) => j()))));
      else for (const j of jobs) results.push(await j());
      expect(results.filter(Boolean).length).toBe(2);
      expect((await s.listPolicyFires('p2')).map((f) => f.fireTime)).toEqual([6000, 9000]);
    });

    it("lastPolicySnapshotAt: when a strategy last made a snapshot (the scheduler's minimum interval); refused fires do not count", async () => {
      const s = h.store;
      expect(await s.lastPolicySnapshotAt('p3')).toBeNull();
      await s.insertPolicyFire({ policyId: 'p3', fireTime: 1000, outcome: 'CREATED', snapshotId: 'a', detail: null, createdAt: 1500 });
      await s.insertPolicyFire({ policyId: 'p3', fireTime: 2000, outcome: 'CREATED', snapshotId: 'b', detail: null, createdAt: 2600 });
      await s.insertPolicyFire({ policyId: 'p3', fireTime: 3000, outcome: 'REFUSED', snapshotId: null, detail: 'quota', createdAt: 3100 });
      await s.insertPolicyFire({ policyId: 'p4', fireTime: 4000, outcome: 'CREATED', snapshotId: 'c', detail: null, createdAt: 4100 });
      expect(await s.lastPolicySnapshotAt('p3')).toBe(2600);
    });

    it("snapshotUsage: the project's visible snapshots, and the recorded bytes of every snapshot still kept (fair shares)", async () => {
      const s = h.store;
      const c = makeCluster();
      await s.insertCluster(c);
      const mk = (
        name: string,
        o: { sizeBytes?: number | null; deletedAt?: number | null; expiredAt?: number | null; projectId?: string } = {},
      ) => ({
        ...newSnapshotRecord(o.projectId ?? 'proj-a', c, { name, clusterId: c.id, description: '' }, 1),
        sizeBytes: o.sizeBytes ?? null,
        deletedAt: o.deletedAt ?? null,
        expiredAt: o.expiredAt ?? null,
      });
      const visible = mk('visible', { sizeBytes: 100 });
      const creating = mk('creating');
      const hidden = mk('hidden-kept', { sizeBytes: 20, deletedAt: 5 });
      const expired = mk('expired', { sizeBytes: 4000, deletedAt: 5, expiredAt: 6 });
      const other = mk('other-project', { sizeBytes: 9000, projectId: 'proj-b' });
      for (const x of [visible, creating, hidden, expired, other]) await s.insertSnapshot(x);
      expect(await s.snapshotUsage('proj-a')).toEqual({ count: 2, bytes: 120 });
      expect(await s.snapshotUsage('proj-a', visible.id)).toEqual({ count: 1, bytes: 20 });
      expect(await s.snapshotUsage('proj-c')).toEqual({ count: 0, bytes: 0 });
      // One cluster's share (ListSnapshotStatistics): the same bytes, its visible snapshots by type.
      const auto = { ...mk('auto', { sizeBytes: 3 }), type: 'AUTO' as const };
      await s.insertSnapshot(auto);
      expect(await s.clusterSnapshotUsage('proj-a', c.id)).toEqual({ bytes: 123, manual: 2, auto: 1 });
      expect(await s.clusterSnapshotUsage('proj-a', 'no-such-cluster')).toEqual({ bytes: 0, manual: 0, auto: 0 });
    });

    it('earliestPointInTimeBase: the oldest visible AVAILABLE pgBackRest snapshot of the stanza, by when it finished (issue 20)', async () => {
      const s = h.store;
      const c = makeCluster();
      await s.insertCluster(c);
      const mk = (name: string, o: Partial<SnapshotRecord>): SnapshotRecord => ({
        ...newSnapshotRecord('proj-a', c, { name, clusterId: c.id, description: '' }, 1),
        status: 'AVAILABLE',
        backupLabel: `20261206-0000${name.length}F`,
        ...o,
      });
      expect(await s.earliestPointInTimeBase(c.id, c.stanza)).toBeNull();
      for (const x of [
        mk('kept', { finishedAt: 5000 }),
        mk('later', { finishedAt: 9000 }),
        mk('failed', { status: 'UNAVAILABLE', finishedAt: 1000 }),
        mk('deleted', { finishedAt: 1100, deletedAt: 1200 }),
        mk('other-stanza', { finishedAt: 1300, stanza: 'copy-x' }),
        mk('no-set', { finishedAt: 1400, backupLabel: null }),
        mk('a-dump', {
          finishedAt: 1500,
          fineGrained: { level: 'table', database: 'd', schemas: [], tables: ['public.t'], dumpDir: '/x', outsideForeignKeys: [] },
        }),
      ])
        await s.insertSnapshot(x);
      expect(await s.earliestPointInTimeBase(c.id, c.stanza)).toBe(5000);
      expect(await s.earliestPointInTimeBase('no-such-cluster', c.stanza)).toBeNull();
    });
  });
