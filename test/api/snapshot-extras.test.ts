/**
 * ListSnapshotStatistics, ListSnapshotFlavorInfo and the `bak_*` fields of AUTO snapshots
 * (issue 16, D28), over clusters and snapshots written to the store (no PostgreSQL runs, no
 * task): the figures come from the records as the snapshot tasks leave them (their measured
 * sizes, the strategy fire an AUTO one records), a figure with no source is absent, a change
 * (a snapshot deleted or expired, keep_day changed) shows in the next read, and bad input is a
 * 4xx in the DWS format.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, expectError, p, startApiService, type ApiHarness, type Creds } from '../helpers/api.js';
import { PROJECT_ID } from '../helpers/service.js';
import { makeCluster } from '../helpers/records.js';
import type { ClusterRecord, SnapshotRecord } from '../../src/domain/records.js';
import { newSnapshotRecord } from '../../src/services/snapshot-service.js';
import { snapshotTime } from '../../src/domain/time.js';
import { findNodeType } from '../../src/domain/node-types.js';

const OTHER_PROJECT = 'f'.repeat(32);
const UNKNOWN = '00000000-0000-4000-8000-000000000000';
const MB = 1_000_000;
/** the project's repository quota in these tests (setting projectRepoQuotaMb) */
const QUOTA_MB = 100;

interface Statistic {
  name: string;
  value: number;
  unit: string;
}
interface Flavor {
  id?: string;
  code: string;
  default_node: number;
  min_node: number;
  max_node: number;
  duplicate: number;
  [k: string]: unknown;
}
interface SnapshotWire {
  id: string;
  type: string;
  bak_expected_start_time: string | null;
  bak_keep_day: number;
  bak_period: string | null;
}

let h: ApiHarness;
let other: Creds;
let cluster: ClusterRecord;
let sibling: ClusterRecord;
let theirs: ClusterRecord;
let n = 0;

async function get<T>(path: string, creds: Creds = ADMIN): Promise<T> {
  const res = await h.call('GET', p(path), { creds });
  expect(res.statusCode, `${path}: ${res.body}`).toBe(200);
  return res.json<T>();
}

/** A snapshot row as a finished snapshot task leaves it: AVAILABLE, with its measured size. */
async function snapshot(c: ClusterRecord, o: Partial<SnapshotRecord> = {}): Promise<SnapshotRecord> {
  const s: SnapshotRecord = {
    ...newSnapshotRecord(c.projectId, c, { name: `extras-${++n}`, clusterId: c.id, description: '' }, h.clock.now()),
    status: 'AVAILABLE',
    finishedAt: h.clock.now(),
    ...o,
  };
  await h.svc.store.insertSnapshot(s);
  return s;
}

const statistics = async (c: ClusterRecord): Promise<Record<string, Statistic>> =>
  Object.fromEntries(
    (await get<{ statistics: Statistic[] }>(`/v1.0/{project_id}/clusters/${c.id}/snapshots/statistics`)).statistics.map((s) => [s.name, s]),
  );

beforeAll(async () => {
  // Store-only clusters: keep the health monitor from touching them.
  h = await startApiService({ flags: { monitorIntervalMs: 600_000, projectRepoQuotaMb: QUOTA_MB } });
  const x = await h.auth.createCredential(OTHER_PROJECT, 'admin');
  other = { ak: x.accessKey, sk: x.secretKey };
  cluster = makeCluster({ projectId: PROJECT_ID, name: 'extras-one', subnetIndex: 211, nodeType: 'dws.m3.xlarge', numberOfNode: 3 });
  sibling = makeCluster({ projectId: PROJECT_ID, name: 'extras-two', subnetIndex: 212 });
  theirs = makeCluster({ projectId: OTHER_PROJECT, name: 'extras-theirs', subnetIndex: 213 });
  for (const c of [cluster, sibling, theirs]) await h.svc.store.insertCluster(c);
});
afterAll(async () => {
  await h?.stop();
});

describe('ListSnapshotStatistics', () => {
  it("storage.used is the cluster's kept snapshots' measured sizes, storage.free what the project's quota leaves them; storage.paid is absent", async () => {
    expect(await statistics(cluster)).toEqual({
      'storage.free': { name: 'storage.free', value: QUOTA_MB / 1000, unit: 'GB' },
      'storage.used': { name: 'storage.used', value: 0, unit: 'GB' },
      'snapshots.manual': { name: 'snapshots.manual', value: 0, unit: 'count' },
      'snapshots.auto': { name: 'snapshots.auto', value: 0, unit: 'count' },
    });
    await snapshot(cluster, { sizeBytes: 30 * MB });
    await snapshot(cluster, { sizeBytes: 20 * MB, type: 'AUTO' });
    // deleted, but its backup set is still kept (a differential needs it): it takes room
    await snapshot(cluster, { sizeBytes: 5 * MB, deletedAt: h.clock.now() });
    // deleted and expired: nothing of it is left
    await snapshot(cluster, { sizeBytes: 7 * MB, deletedAt: h.clock.now(), expiredAt: h.clock.now() });
    // still being taken: no size yet
    await snapshot(cluster, { status: 'CREATING', sizeBytes: null, finishedAt: null });
    // the project's other cluster takes 15 MB of the quota
    await snapshot(sibling, { sizeBytes: 15 * MB });

    const s = await statistics(cluster);
    expect(s['storage.used']).toEqual({ name: 'storage.used', value: 0.055, unit: 'GB' });
    expect(s['storage.free']).toEqual({ name: 'storage.free', value: (QUOTA_MB - 15) / 1000, unit: 'GB' });
    expect(s['snapshots.manual']!.value).toBe(2);
    expect(s['snapshots.auto']!.value).toBe(1);
    expect(s['storage.paid']).toBeUndefined();
    expect((await statistics(sibling))['storage.used']!.value).toBe(0.015);
  });

  it('through the SDK signer, as the SDK sends it', async () => {
    const res = await h.sdkCall('GET', p(`/v1.0/{project_id}/clusters/${sibling.id}/snapshots/statistics`));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ statistics: Statistic[] }>().statistics.map((x) => x.name)).toEqual([
      'storage.free',
      'storage.used',
      'snapshots.manual',
      'snapshots.auto',
    ]);
  });

  it("an unknown, malformed or other project's cluster is 404 DWS.0047; another project's credential 403", async () => {
    for (const id of [UNKNOWN, 'not-a-cluster', theirs.id])
      expectError(await h.call('GET', p(`/v1.0/{project_id}/clusters/${id}/snapshots/statistics`)), 404, 'DWS.0047');
    expectError(
      await h.call('GET', p(`/v1.0/{project_id}/clusters/${cluster.id}/snapshots/statistics`), { creds: other }),
      403,
      'APIGW.0302',
    );
  });
});

describe('ListSnapshotFlavorInfo', () => {
  it("the node type and count the snapshot was taken of, with the node type's figures as ListNodeTypes shows them", async () => {
    const s = await snapshot(cluster, { sizeBytes: MB });
    const t = findNodeType('dws.m3.xlarge')!;
    const r = await get<{ flavors: Flavor[]; count: number }>(`/v2/{project_id}/snapshots/${s.id}/flavors`);
    expect(r.count).toBe(1);
    expect(r.flavors[0]).toEqual({
      id: t.id,
      code: 'dws.m3.xlarge',
      default_capacity: String(t.diskGb),
      status: 'normal',
      attribute: expect.arrayContaining([
        { code: 'vCPU', value: String(t.vcpus) },
        { code: 'mem', value: `${t.ramGb} GB` },
      ]),
      duplicate: 3,
      default_node: 3,
      min_node: 3,
      max_node: 3,
      product_version_list: [{ datastore_version: expect.any(String) }],
      volume_used: { volume_type: 'LOCAL_DISK', capacity: t.diskGb },
    });
    // the SDK's fields with no source here are absent, never filled
    for (const k of ['classify', 'scenario', 'version', 'flavor_id', 'flavor_code', 'volume_num'])
      expect(r.flavors[0]).not.toHaveProperty(k);
    // a restore into a new cluster makes exactly the snapshot's node type and count: nothing more
    expect(await get(`/v2/{project_id}/snapshots/${s.id}/flavors?type=restore&az_code=local-1a,local-1b`)).toEqual(r);
  });

  it("type=restore with fine_grained_restore: the snapshot's own cluster as it is now, when it differs", async () => {
    const c = makeCluster({ projectId: PROJECT_ID, name: 'extras-grown', subnetIndex: 214, nodeType: 'dwsx.small', numberOfNode: 2 });
    await h.svc.store.insertCluster(c);
    const s = await snapshot(c, { sizeBytes: MB });
    await h.svc.store.updateCluster(c.id, { numberOfNode: 4 });
    const r = await get<{ flavors: Flavor[]; count: number }>(
      `/v2/{project_id}/snapshots/${s.id}/flavors?type=restore&fine_grained_restore=true`,
    );
    expect(r.count).toBe(2);
    expect(r.flavors.map((f) => [f.code, f.default_node])).toEqual([
      ['dwsx.small', 2],
      ['dwsx.small', 4],
    ]);
    // type=snapshot: only what it was taken of
    expect((await get<{ count: number }>(`/v2/{project_id}/snapshots/${s.id}/flavors?fine_grained_restore=true`)).count).toBe(1);
  });

  it('bad input is a 4xx in the DWS format', async () => {
    const s = await snapshot(sibling, { sizeBytes: MB });
    const path = `/v2/{project_id}/snapshots/${s.id}/flavors`;
    expectError(await h.call('GET', p(`${path}?type=all`)), 400, 'DWS.0001');
    expectError(await h.call('GET', p(`${path}?fine_grained_restore=maybe`)), 400, 'DWS.0001');
    expectError(await h.call('GET', p(`${path}?az_code=local-1a,mars-1`)), 400, 'DWS.5011', /mars-1/);
    expectError(await h.call('GET', p(`/v2/{project_id}/snapshots/${UNKNOWN}/flavors`)), 404, 'DWS.5149');
    const gone = await snapshot(sibling, { deletedAt: h.clock.now() });
    expectError(await h.call('GET', p(`/v2/{project_id}/snapshots/${gone.id}/flavors`)), 404, 'DWS.5149');
    const theirSnap = await snapshot(theirs, { sizeBytes: MB });
    expectError(await h.call('GET', p(`/v2/{project_id}/snapshots/${theirSnap.id}/flavors`)), 404, 'DWS.5149');
    expectError(await h.call('GET', p(path), { creds: other }), 403, 'APIGW.0302');
  });
});

describe('AUTO snapshots: bak_expected_start_time, bak_period, bak_keep_day', () => {
  it("an AUTO snapshot shows its strategy's slot and schedule as they were, and its cluster's keep_day as it is now; a MANUAL one null, -1, null", async () => {
    const c = makeCluster({ projectId: PROJECT_ID, name: 'extras-auto', subnetIndex: 215 });
    await h.svc.store.insertCluster(c);
    const slot = Date.UTC(2025, 0, 15, 2, 0, 0);
    const base = newSnapshotRecord(PROJECT_ID, c, { name: 'extras-auto-1', clusterId: c.id, description: '' }, h.clock.now());
    const auto = await snapshot(c, {
      type: 'AUTO',
      sizeBytes: MB,
      sourceSpec: { ...base.sourceSpec, policyFire: { policyId: UNKNOWN, fireTime: slot, schedule: '0 0 2 * * ?', timeZoneOffset: 8 } },
    });
    const manual = await snapshot(c, { sizeBytes: MB });
    const settings = {
      clusterId: c.id,
      projectId: PROJECT_ID,
      keepDay: 5,
      deviceName: 'OBS',
      serverIps: [],
      serverPort: null,
      backupParam: null,
      autoBackup: true,
      createdAt: h.clock.now(),
      updatedAt: h.clock.now(),
    };
    await h.svc.store.savePolicySettings(settings);

    const detail = async (id: string) => (await get<{ snapshot: SnapshotWire }>(`/v1.0/{project_id}/snapshots/${id}`)).snapshot;
    const inList = async (id: string) =>
      (await get<{ snapshots: SnapshotWire[] }>('/v1.0/{project_id}/snapshots')).snapshots.find((x) => x.id === id)!;
    const inClusterList = async (id: string) =>
      (await get<{ snapshots: SnapshotWire[] }>(`/v1.0/{project_id}/clusters/${c.id}/snapshots`)).snapshots.find((x) => x.id === id)!;
    const expected = { type: 'AUTO', bak_expected_start_time: snapshotTime(slot), bak_period: '0 0 2 * * ?', bak_keep_day: 5 };
    for (const read of [detail, inList, inClusterList]) {
      expect(await read(auto.id)).toMatchObject(expected);
      expect(await read(manual.id)).toMatchObject({ type: 'MANUAL', bak_expected_start_time: null, bak_period: null, bak_keep_day: -1 });
    }
    // keep_day changed: retention applies the new value to this snapshot too, and the next read says so
    await h.svc.store.savePolicySettings({ ...settings, keepDay: 9, updatedAt: h.clock.now() });
    for (const read of [detail, inList, inClusterList]) expect((await read(auto.id)).bak_keep_day).toBe(9);
  });
});
