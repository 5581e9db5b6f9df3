/**
 * Fair shares between projects (docs/security.md), the request-time refusals, in process with
 * clusters and snapshots as store rows (no PostgreSQL runs): the snapshot count and bytes
 * quotas (DWS.9961), the free-space check (DWS.9962), the node quota on create (DWS.5091;
 * restore and scale-out need a real cluster: the security test), and the faults API off by default (DWS.9963) with its delay cap. Every refused
 * request changes nothing in the store. The real-cluster attacks are in
 * test/security/fair-shares.test.ts.
 */
import { statfsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, p, startApiService, type ApiHarness } from '../helpers/api.js';
import { ADMIN_PASSWORD, PROJECT_ID, SUBNET, VPC } from '../helpers/service.js';
import { makeCluster, makeNode } from '../helpers/records.js';
import { dumpStore } from '../helpers/store-dump.js';
import type { ClusterRecord } from '../../src/domain/records.js';
import { newSnapshotRecord } from '../../src/services/snapshot-service.js';
import { BYTES_PER_MB } from '../../src/domain/snapshot-space.js';

/** A request that must be refused with this error, leaving the store exactly as it was. */
async function refused(
  h: ApiHarness,
  method: string,
  path: string,
  body: unknown,
  status: number,
  code: string,
  msg?: RegExp,
): Promise<string> {
  const before = await dumpStore(h.svc.store);
  const e = expectError(await h.call(method, p(path), { body }), status, code, msg);
  expect(await dumpStore(h.svc.store)).toBe(before);
  return e.error_msg;
}

async function storeCluster(h: ApiHarness, o: Partial<ClusterRecord> = {}): Promise<ClusterRecord> {
  const c = makeCluster({ projectId: PROJECT_ID, ...o });
  await h.svc.store.insertCluster(c);
  for (let i = 1; i <= c.numberOfNode; i++) await h.svc.store.insertNode(makeNode(c, i));
  return c;
}

const snapshotOf = (c: ClusterRecord) => ({ snapshot: { name: `snap-${Math.random().toString(36).slice(2, 8)}`, cluster_id: c.id } });

describe('snapshot quotas: count and repository bytes (DWS.9961)', () => {
  let h: ApiHarness;
  let c: ClusterRecord;
  beforeAll(async () => {
    // Store-only clusters: keep the health monitor from changing them mid-test (the store dumps compare).
    h = await startApiService({
      flags: { monitorIntervalMs: 600_000, projectSnapshotQuota: 3, projectRepoQuotaMb: 5, snapshotSpaceMarginMb: 0 },
    });
    c = await storeCluster(h);
  });
  afterAll(async () => {
    await h?.stop();
  });

  it("the recorded sizes of the project's kept snapshots (deleted ones not yet expired too) count against projectRepoQuotaMb", async () => {
    const big = {
      ...newSnapshotRecord(PROJECT_ID, c, { name: 'big-one', clusterId: c.id, description: '' }, 1),
      status: 'AVAILABLE' as const,
      backupType: 'full' as const,
      sizeBytes: 4 * BYTES_PER_MB,
      sourceBytes: 30 * BYTES_PER_MB,
      deletedAt: 2,
    };
    await h.svc.store.insertSnapshot(big);
    // 4 MB kept, and the next backup is a differential on that (still kept) full: a tenth of
    // the 30 MB database it recorded (no primary runs to measure). 4 + 3 > 5.
    const msg = await refused(h, 'POST', '/v1.0/{project_id}/snapshots', snapshotOf(c), 400, 'DWS.9961');
    expect(msg).toBe(
      "Snapshot quota exceeded: the project's snapshots take 4 MB of its 5 MB repository quota (setting projectRepoQuotaMb) and this one needs about 3 MB more; delete snapshots first",
    );
    // Once its set is expired, it no longer counts.
    await h.svc.store.updateSnapshot(big.id, { expiredAt: 3 });
  });

  it('a project with projectSnapshotQuota visible snapshots gets no more, whatever their size', async () => {
    for (const name of ['one', 'two', 'three']) {
      await h.svc.store.insertSnapshot({
        ...newSnapshotRecord(PROJECT_ID, c, { name, clusterId: c.id, description: '' }, 1),
        status: 'AVAILABLE',
        sizeBytes: 0,
      });
    }
    await refused(
      h,
      'POST',
      '/v1.0/{project_id}/snapshots',
      snapshotOf(c),
      400,
      'DWS.9961',
      /the project has 3 snapshots, its quota is 3 \(setting projectSnapshotQuota\)/,
    );
  });
});

describe('free space before a backup (DWS.9962)', () => {
  let h: ApiHarness;
  let c: ClusterRecord;
  let marginMb = 0;
  beforeAll(async () => {
    // A margin larger than the disk's free space: every backup is refused, without filling a disk.
    const s = statfsSync('/tmp');
    marginMb = Math.ceil((s.bavail * s.bsize) / BYTES_PER_MB) + 1024;
    h = await startApiService({ flags: { monitorIntervalMs: 600_000, snapshotSpaceMarginMb: marginMb } });
    c = await storeCluster(h);
  });
  afterAll(async () => {
    await h?.stop();
  });

  it("a snapshot whose repository has less free space than its estimate plus snapshotSpaceMarginMb is refused, naming its need and the margin (not the host's free space)", async () => {
    await refused(
      h,
      'POST',
      '/v1.0/{project_id}/snapshots',
      snapshotOf(c),
      400,
      'DWS.9962',
      new RegExp(
        `^Not enough free space for the snapshot: a full backup needs about 0 MB, more than the backup repository has free now beyond the ${marginMb} MB the service keeps free \\(setting snapshotSpaceMarginMb\\)\\. Delete snapshots`,
      ),
    );
  });
});

describe('node quota: one project leaves room for others (DWS.5091)', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiService({ flags: { monitorIntervalMs: 600_000 } });
    expect([h.config.projectNodeQuota, h.config.maxNodes]).toEqual([24, 64]);
    // 22 of the project's 24 nodes.
    for (let i = 0; i < 6; i++) await storeCluster(h, { numberOfNode: 3 });
    await storeCluster(h, { numberOfNode: 4 });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('a create that would pass the quota is refused', async () => {
    const body = {
      cluster: {
        name: 'one-too-many',
        node_type: 'dwsx.small',
        number_of_node: 3,
        subnet_id: SUBNET,
        vpc_id: VPC,
        user_name: 'dbadmin',
        user_pwd: ADMIN_PASSWORD,
        port: 8000,
      },
    };
    await refused(
      h,
      'POST',
      '/v1.0/{project_id}/clusters',
      body,
      400,
      'DWS.5091',
      /^Node quota exceeded: the project has 22 nodes; 3 more would pass its quota of 24$/,
    );
  });
});

describe('the faults API: off unless the operator enables it; delays capped', () => {
  const FAULT = { action_name: 'REBOOTING', step: '*', mode: 'fail' };

  it('by default (no setting given) adding a fault is TENANT_FAULTS_DISABLED; listing and clearing still work', async () => {
    const h = await startApiService({ flags: { enableTenantFaults: undefined } });
    try {
      expect(h.config.enableTenantFaults).toBe(false);
      await refused(h, 'POST', '/dwsbox/v1/{project_id}/faults', FAULT, 400, 'DWS.9963', /enableTenantFaults/);
      await refused(h, 'POST', '/dwsbox/v1/{project_id}/faults', { ...FAULT, mode: 'delay', delay_ms: 1000 }, 400, 'DWS.9963');
      expect((await h.call('GET', p('/dwsbox/v1/{project_id}/faults'))).json()).toEqual({ faults: [], count: 0 });
      expect((await h.call('DELETE', p('/dwsbox/v1/{project_id}/faults'))).json()).toEqual({ deleted: 0 });
    } finally {
      await h.stop();
    }
  });

  it('enabled: a delay_ms above faultMaxDelayMs is refused, naming the cap; one at the cap is accepted', async () => {
    const h = await startApiService({ flags: { faultMaxDelayMs: 2000 } });
    try {
      await refused(
        h,
        'POST',
        '/dwsbox/v1/{project_id}/faults',
        { ...FAULT, mode: 'delay', delay_ms: 2001 },
        400,
        'DWS.0001',
        /delay_ms must be given for a delay, from 0 to 2000 \(the service's setting faultMaxDelayMs\)/,
      );
      const ok = await h.call('POST', p('/dwsbox/v1/{project_id}/faults'), { body: { ...FAULT, mode: 'delay', delay_ms: 2000 } });
      expect(ok.statusCode, ok.body).toBe(200);
    } finally {
      await h.stop();
    }
  });
});
