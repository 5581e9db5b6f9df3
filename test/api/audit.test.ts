/**
 * The audit trail (issue 17, ListAuditLog) through the API, no PostgreSQL (clusters are store
 * records): every authenticated mutating call that names a cluster is recorded after its answer
 * — who (the access key), what (method, route), when, and the result, a refusal with its DWS
 * error — newest first; reads and unauthenticated calls are not; a project sees only its own
 * clusters' trails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_KEY, ADMIN, expectError, p, PROJECT_ID, startApiService, type ApiHarness, type Creds } from '../helpers/api.js';
import { makeCluster } from '../helpers/records.js';
import type { ClusterRecord } from '../../src/domain/records.js';
import { auditedCluster } from '../../src/domain/audit.js';

let h: ApiHarness;
let c: ClusterRecord;
let theirs: ClusterRecord;
let other: Creds;
const OTHER_PROJECT = 'e'.repeat(32);

interface Out {
  count: number;
  records: {
    operator: string;
    method: string;
    operation: string;
    status_code: number;
    result: string;
    failed_reason: string | null;
    begin_time: number;
    end_time: number;
    executor_time: number;
  }[];
}
const trail = async (clusterId = c.id, creds: Creds = ADMIN) => {
  const res = await h.sdkCall('GET', p(`/v1.0/{project_id}/clusters/${clusterId}/audit-log-records`), { creds });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Out>();
};
/** The record is written after the answer: wait for it. */
async function until(n: number): Promise<Out> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const t = await trail();
    if (t.count >= n || Date.now() > deadline) return t;
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  h = await startApiService();
  c = makeCluster({ projectId: PROJECT_ID, name: 'audited', stopped: true, status: 'UNAVAILABLE' });
  await h.svc.store.insertCluster(c);
  const x = await h.auth.createCredential(OTHER_PROJECT, 'admin');
  other = { ak: x.accessKey, sk: x.secretKey };
  theirs = makeCluster({ projectId: OTHER_PROJECT, name: 'not-yours', stopped: true, status: 'UNAVAILABLE' });
  await h.svc.store.insertCluster(theirs);
});
afterAll(async () => {
  await h?.stop();
});

describe('ListAuditLog', () => {
  it('records each mutating call with who, what, when and the result, newest first; reads are not recorded', async () => {
    const before = Date.now();
    const ok = await h.sdkCall('POST', p(`/v1.0/{project_id}/clusters/${c.id}/tags/batch-create`), {
      data: { tags: [{ key: 'team', value: 'a' }] },
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expectError(
      await h.sdkCall('PUT', p(`/v1/{project_id}/clusters/${c.id}/cluster-name`), { data: { cluster_name: '9 not a name' } }),
      400,
      'DWS.5057',
    );
    expect((await h.sdkCall('GET', p(`/v1.0/{project_id}/clusters/${c.id}/tags`))).statusCode).toBe(200);
    const t = await until(2);
    expect(t.count).toBe(2);
    const [refused, added] = t.records;
    expect(added).toMatchObject({
      operator: ACCESS_KEY,
      method: 'POST',
      operation: '/v1.0/:project_id/clusters/:cluster_id/tags/batch-create',
      status_code: 200,
      result: 'SUCCESS',
      failed_reason: null,
    });
    expect(refused).toMatchObject({
      method: 'PUT',
      operation: '/v1/:project_id/clusters/:cluster_id/cluster-name',
      status_code: 400,
      result: 'FAILED',
    });
    expect(refused!.failed_reason).toMatch(/^DWS\.5057: Invalid cluster name/);
    for (const r of t.records) {
      expect(r.begin_time).toBeGreaterThanOrEqual(before - 1);
      expect(r.end_time).toBeGreaterThanOrEqual(r.begin_time);
      expect(r.executor_time).toBe(r.end_time);
    }
  });

  it('a call naming the cluster in its body (a snapshot of it) is in its trail too', async () => {
    const n = (await trail()).count;
    const res = await h.sdkCall('POST', p('/v1.0/{project_id}/snapshots'), {
      data: { snapshot: { name: 'snap-of-stopped', cluster_id: c.id } },
    });
    expect(res.statusCode).toBeGreaterThanOrEqual(400); // the cluster is stopped
    const t = await until(n + 1);
    expect(t.records[0]).toMatchObject({
      method: 'POST',
      operation: '/v1.0/:project_id/snapshots',
      status_code: res.statusCode,
      result: 'FAILED',
    });
  });

  it("a call without valid credentials is not recorded; another project's cluster is 404 and its trail its own", async () => {
    const n = (await trail()).count;
    const res = await h.sdkCall('POST', p(`/v1.0/{project_id}/clusters/${c.id}/tags/batch-create`), {
      data: { tags: [{ key: 'x', value: 'y' }] },
      creds: { ak: ACCESS_KEY, sk: 'wrong-secret' },
    });
    expect(res.statusCode).toBe(401);
    await new Promise((r) => setTimeout(r, 200));
    expect((await trail()).count).toBe(n);
    expectError(await h.sdkCall('GET', p(`/v1.0/{project_id}/clusters/${theirs.id}/audit-log-records`)), 404, 'DWS.0047');
    const mine = await h.sdkCall('POST', `/v1.0/${OTHER_PROJECT}/clusters/${theirs.id}/tags/batch-create`, {
      data: { tags: [{ key: 'k', value: 'v' }] },
      creds: other,
    });
    expect(mine.statusCode, mine.body).toBe(200);
    const deadline = Date.now() + 10_000;
    let theirsTrail: Out = { count: 0, records: [] };
    while (theirsTrail.count < 1 && Date.now() < deadline) {
      const r = await h.sdkCall('GET', `/v1.0/${OTHER_PROJECT}/clusters/${theirs.id}/audit-log-records`, { creds: other });
      theirsTrail = r.json<Out>();
    }
    expect(theirsTrail.records.map((r) => r.operator)).toEqual([other.ak]);
    expect((await trail()).count).toBe(n);
  });
});

describe('auditedCluster', () => {
  it('finds the cluster in the body, else in the answer of a create or a restore', () => {
    expect(auditedCluster({ snapshot: { cluster_id: 'a' } }, null)).toBe('a');
    expect(auditedCluster({ cluster: { name: 'x' } }, '{"cluster":{"id":"b"}}')).toBe('b');
    // a subscription's cluster_id is a filter, not the call's object
    expect(auditedCluster({ cluster_id: 'c' }, '{"id":"s","cluster_id":"c"}')).toBeNull();
    expect(auditedCluster(undefined, '[1,2]')).toBeNull();
    expect(auditedCluster(undefined, '{not json')).toBeNull();
  });
});
