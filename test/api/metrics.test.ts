/**
 * /metrics on the API listener (issue 12): it answers only authenticated callers. An operator
 * credential sees every series; any other credential (admin, read-only, a user's token) sees
 * only the series labelled with its own project_id, and none of the host-wide ones (process,
 * HTTP, store, task totals, repository). Prometheus scrapes with a bearer token or Basic
 * ACCESS_KEY:SECRET_KEY. Two projects' clusters are records in the store (no PostgreSQL runs:
 * node_up reads the store).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { ADMIN, expectError, PROJECT_ID, startApiService, type ApiHarness, type Creds } from '../helpers/api.js';
import { makeCluster, makeNode } from '../helpers/records.js';
import { METRIC_FIELDS, type MetricSample } from '../../src/domain/metrics.js';

let h: ApiHarness;
let operator: Creds;
let readonly: Creds;
let other: Creds;
const OTHER_PROJECT = 'b'.repeat(32);
let mine: string;
let theirs: string;

beforeAll(async () => {
  h = await startApiService();
  const o = await h.auth.createCredential(PROJECT_ID, 'operator');
  operator = { ak: o.accessKey, sk: o.secretKey };
  const r = await h.auth.createCredential(PROJECT_ID, 'readonly');
  readonly = { ak: r.accessKey, sk: r.secretKey };
  const x = await h.auth.createCredential(OTHER_PROJECT, 'admin');
  other = { ak: x.accessKey, sk: x.secretKey };
  for (const [project, name] of [
    [PROJECT_ID, 'mine-cluster'],
    [OTHER_PROJECT, 'their-secret-name'],
  ] as const) {
    const c = makeCluster({ projectId: project, name });
    await h.svc.store.insertCluster(c);
    for (const i of [1, 2, 3]) await h.svc.store.insertNode(makeNode(c, i, { health: 'up' }));
    // the metrics history's newest sample of each member (D29): written as the collector writes them
    const at = Math.floor(Date.now() / 1000);
    await h.svc.store.insertMetricSamples(
      [1, 2, 3].map((ordinal) => {
        const x = { clusterId: c.id, projectId: project, ordinal, at, samples: 1, primary: ordinal === 1 } as MetricSample;
        for (const f of METRIC_FIELDS) x[f] = null;
        x.tps = 12.5 * ordinal;
        if (ordinal !== 1) x.lagBytes = 4096;
        return x;
      }),
    );
    if (project === PROJECT_ID) mine = c.id;
    else theirs = c.id;
  }
  await h.auth.createUser(PROJECT_ID, 'prom', 'Prom-Password-1', 'readonly');
  // some HTTP traffic, so that the host-wide request counters have series
  expect((await h.call('GET', '/v1.0/{project_id}/clusters'.replace('{project_id}', PROJECT_ID))).statusCode).toBe(200);
});
afterAll(async () => {
  await h?.stop();
});

const scrape = (o: { creds?: Creds | null; headers?: Record<string, string> } = {}): Promise<LightMyRequestResponse> =>
  h.call('GET', '/metrics', { creds: o.creds ?? null, ...(o.headers ? { headers: o.headers } : {}) });
const samples = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

function expectProjectView(text: string, projectId: string, clusterId: string, hidden: string[]): void {
  const lines = samples(text);
  expect(lines.length).toBeGreaterThanOrEqual(3);
  for (const l of lines) expect(l).toContain(`project_id="${projectId}"`);
  expect(lines.filter((l) => l.startsWith('dwsbox_node_up{') && l.includes(`cluster_id="${clusterId}"`))).toHaveLength(3);
  for (const word of [
    ...hidden,
    'process_',
    'nodejs_',
    'dwsbox_http_requests_total',
    'dwsbox_store_query',
    'dwsbox_repository_size_bytes',
    'dwsbox_tasks{',
    'dwsbox_tasks_finished_total',
  ])
    expect(text).not.toContain(word);
}

describe('GET /metrics', () => {
  it('without credentials, or with wrong ones: 401 in the DWS format, no metrics', async () => {
    const res = expectError(await scrape(), 401, 'APIGW.0301', /no credentials/);
    expect(res.error_msg).not.toContain('dwsbox_');
    expectError(await scrape({ headers: { authorization: 'Bearer nope' } }), 401, 'APIGW.0301');
    expectError(
      await scrape({ headers: { authorization: `Basic ${Buffer.from(`${ADMIN.ak}:wrong-secret`).toString('base64')}` } }),
      401,
      'APIGW.0301',
      /wrong secret key/,
    );
  });

  it("an operator credential sees every series: every project's and the host's", async () => {
    const res = await scrape({ creds: operator });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body;
    expect(text).toContain(`cluster_id="${mine}"`);
    expect(text).toContain(`cluster_id="${theirs}"`);
    expect(text).toMatch(/dwsbox_http_requests_total\{/);
    expect(text).toMatch(/process_resident_memory_bytes \d/);
    expect(text).toMatch(
      new RegExp(
        `dwsbox_node_up\\{cluster_id="${theirs}",cluster_name="their-secret-name",node="1",role="primary",project_id="${OTHER_PROJECT}"\\} 1`,
      ),
    );
  });

  it("a project's credential (admin, read-only, the other project's) sees its own series only", async () => {
    for (const creds of [ADMIN, readonly]) {
      const res = await scrape({ creds });
      expect(res.statusCode).toBe(200);
      expectProjectView(res.body, PROJECT_ID, mine, [theirs, 'their-secret-name', OTHER_PROJECT]);
    }
    const res = await scrape({ creds: other });
    expectProjectView(res.body, OTHER_PROJECT, theirs, [mine, 'mine-cluster', PROJECT_ID]);
  });

  it("each member's newest metrics sample as series labelled cluster and member, a project seeing only its own (D29)", async () => {
    const all = (await scrape({ creds: operator })).body;
    expect(all).toContain(
      `dwsbox_member_transactions_per_second{cluster_id="${theirs}",cluster_name="their-secret-name",member="node2",role="standby",project_id="${OTHER_PROJECT}"} 25`,
    );
    const own = (await scrape({ creds: ADMIN })).body;
    expect(own).toContain(
      `dwsbox_member_transactions_per_second{cluster_id="${mine}",cluster_name="mine-cluster",member="node1",role="primary",project_id="${PROJECT_ID}"} 12.5`,
    );
    expect(own).toContain(
      `dwsbox_member_replication_lag_bytes{cluster_id="${mine}",cluster_name="mine-cluster",member="node3",role="standby"`,
    );
    // a figure not measured has no series (the primary's lag, every CPU figure here): never a zero
    expect(own).not.toMatch(/dwsbox_member_replication_lag_bytes\{[^}]*member="node1"/);
    expect(own).not.toContain('dwsbox_member_cpu_percent{');
    expect(own).not.toContain(theirs);
  });

  it("Prometheus' ways: Authorization: Bearer <token>, X-Auth-Token, Basic ACCESS_KEY:SECRET_KEY", async () => {
    const t = await h.call('POST', '/v3/auth/tokens', {
      creds: null,
      body: { auth: { identity: { methods: ['password'], password: { user: { name: 'prom', password: 'Prom-Password-1' } } } } },
    });
    const token = t.headers['x-subject-token'] as string;
    for (const headers of [
      { authorization: `Bearer ${token}` },
      { 'x-auth-token': token },
      { authorization: `Basic ${Buffer.from(`${ADMIN.ak}:${ADMIN.sk}`).toString('base64')}` },
    ]) {
      const res = await scrape({ headers });
      expect(res.statusCode, JSON.stringify(Object.keys(headers))).toBe(200);
      expectProjectView(res.body, PROJECT_ID, mine, [theirs, OTHER_PROJECT]);
    }
    const op = await scrape({ headers: { authorization: `Basic ${Buffer.from(`${operator.ak}:${operator.sk}`).toString('base64')}` } });
    expect(op.body).toContain(`cluster_id="${theirs}"`);
  });

  it('an operator credential reads its own project but changes nothing, and no other project', async () => {
    expect((await h.call('GET', `/v1.0/${PROJECT_ID}/clusters`, { creds: operator })).statusCode).toBe(200);
    expectError(
      await h.call('POST', `/v1/${PROJECT_ID}/clusters/${mine}/description`, { creds: operator, body: { description_info: 'x' } }),
      403,
      'APIGW.0302',
      /operator/,
    );
    expectError(await h.call('GET', `/v1.0/${OTHER_PROJECT}/clusters`, { creds: operator }), 403, 'APIGW.0302');
  });

  it('answers carry X-Frame-Options, nosniff and a Content-Security-Policy like every API answer', async () => {
    const res = await scrape({ creds: operator });
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
  });
});
