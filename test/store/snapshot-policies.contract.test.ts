/**
 * Snapshot-policy store methods on both backends: strategies (case-insensitive unique live
 * names), due strategies, and the policy_fires primary key that makes a fire time produce at
 * most one snapshot, also between two store connections (two service processes) racing.
 */
import { describe, expect, it } from 'vitest';
import { STORE_BACKENDS, useStore } from '../helpers/store-backends.js';
import { makeCluster } from '../helpers/records.js';
import type { SnapshotPolicyRecord } from '../../src/domain/snapshot-policy.js';

const policy = (clusterId: string, o: Partial<SnapshotPolicyRecord> = {}): SnapshotPolicyRecord => ({
  id: crypto.randomUUID(), projectId: 'proj-a', clusterId, name: 'nightly', schedule: '0 0 2 * * ?', backupType: 'increment', backupLevel: 'cluster',
  timeZoneOffset: 0, backupDatabase: null, backupSchemaList: null, backupTableList: null, nextFireAt: 1000, createdAt: 1, updatedAt: 1, deletedAt: null, ...o,
});

for (const backend of STORE_BACKENDS) describe(`${backend}: snapshot policies`, () => {
  const h = useStore(backend);

  it('keeps live strategy names unique per cluster in any case, frees a deleted one, and lists due strategies', async () => {
    const s = h.store;
    const c = makeCluster();
    await s.insertCluster(c);
    await s.savePolicySettings({ clusterId: c.id, projectId: 'proj-a', keepDay: 3, deviceName: 'OBS', serverIps: ['10.0.0.1'], serverPort: null, backupParam: null, autoBackup: true, createdAt: 1, updatedAt: 1 });
    await s.savePolicySettings({ clusterId: c.id, projectId: 'proj-a', keepDay: 4, deviceName: 'OBS', serverIps: [], serverPort: '1', backupParam: 'x', autoBackup: true, createdAt: 5, updatedAt: 5 });
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
    expect(await s.insertPolicyFire({ policyId: 'p1', fireTime: 3000, outcome: 'CREATED', snapshotId: null, detail: null, createdAt: 1 })).toBe(true);
    expect(await s.insertPolicyFire({ policyId: 'p1', fireTime: 3000, outcome: 'REFUSED', snapshotId: null, detail: 'x', createdAt: 2 })).toBe(false);
    await s.setPolicyFireSnapshot('p1', 3000, 'snap-1');
    expect(await s.listPolicyFires('p1')).toEqual([{ policyId: 'p1', fireTime: 3000, outcome: 'CREATED', snapshotId: 'snap-1', detail: null, createdAt: 1 }]);

    // Two store connections (as two processes), each in its own transaction, for the same slots:
    // at once where several processes may share the store, one after the other on SQLite (one serve).
    const other = h.open();
    const fire = (st: typeof s, t: number) => st.transaction((tx) => tx.insertPolicyFire({ policyId: 'p2', fireTime: t, outcome: 'CREATED', snapshotId: null, detail: null, createdAt: t }));
    const jobs = [s, other].flatMap((st) => [6000, 9000].map((t) => () => fire(st, t)));
    const results: boolean[] = [];
    if (s.capabilities.multiProcess) results.push(...(await Promise.all(jobs.map((j) => j()))));
    else for (const j of jobs) results.push(await j());
    expect(results.filter(Boolean).length).toBe(2);
    expect((await s.listPolicyFires('p2')).map((f) => f.fireTime)).toEqual([6000, 9000]);
  });
});
