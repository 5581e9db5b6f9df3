/* Over 400 lines: one suite on one shared cluster (scale-out, scale-in, their failures and rollbacks); a cluster per file is the suite's time budget. */
/**
 * End to end: scale-out (GROWING) and scale-in (CLUSTER_SHRINKING) of a real cluster through
 * the API. A 3-node cluster grows by 3 while a client writes to it; every acknowledged write
 * ends up on every node; the task-details endpoint shows the steps progressing; then it
 * shrinks back to 3. A scale-out failing at each step in turn leaves the cluster exactly as
 * it was, with RESIZE_FAILURE until the next accepted operation.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { AuthService } from '../../src/auth/auth-service.js';
import { Secrets } from '../../src/auth/secrets.js';
import { DwsClient } from '../../src/cli/client.js';
import { systemClock } from '../../src/domain/clock.js';
import {
  ADMIN_PASSWORD,
  PROJECT_ID,
  createAvailableCluster,
  getCluster,
  startService,
  waitIdle,
  type ClusterDetail,
  type TestService,
} from '../helpers/service.js';
import { processesUnder, waitFor } from '../helpers/env.js';
import { standbySlot, testEngine } from '../helpers/engine.js';

let t: TestService;
let id: string;
let readonly: DwsClient;

interface SubItem {
  status: string;
  detail: string;
  sub_item_name: string;
  estimated_time: number;
  step: string;
  begin_time: string | null;
  end_time: string | null;
}
interface TaskBody {
  id: string;
  status: string;
  items: { item_name: string; sub_items: SubItem[] }[];
  failed_step: string | null;
  error_msg: string | null;
  progress: string;
}
interface Detail extends ClusterDetail {
  resize_info: { resize_status: string; start_time: string; target_node_num: number; origin_node_num: number } | null;
}

const info = (s: SubItem): Record<string, unknown> =>
  JSON.parse((JSON.parse(s.detail) as { progressInfo: string }).progressInfo) as Record<string, unknown>;
const subItems = (b: TaskBody): SubItem[] => b.items.flatMap((i) => i.sub_items);
const detail = async (): Promise<Detail> => (await getCluster(t.client, id)) as Detail;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function sql<R = Record<string, unknown>>(connectInfo: string, text: string, params: unknown[] = []): Promise<R[]> {
  const [host, port] = connectInfo.split(':');
  const c = new pg.Client({
    host,
    port: Number(port),
    user: 'dbadmin',
    password: ADMIN_PASSWORD,
    database: 'postgres',
    connectionTimeoutMillis: 5000,
  });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query(text, params)).rows as R[];
  } finally {
    await c.end().catch(() => {});
  }
}

const primaryOf = async (): Promise<string> => (await detail()).endpoints[0]!.connect_info;
const slotNames = async (): Promise<string[]> =>
  (await sql<{ slot_name: string }>(await primaryOf(), 'select slot_name from pg_replication_slots order by 1')).map((r) => r.slot_name);
const postmastersOf = (ordinal: number) => processesUnder(`${id}/node${ordinal}/`).filter((p) => /postgres -D/.test(p.cmd));
const nodeDir = (ordinal: number): string => join(t.dataDir, 'clusters', id, `node${ordinal}`);
const patroni = testEngine() === 'patroni';

/**
 * Each node's own address (host:port), in order: on the local engine the endpoints are the nodes'
 * (one each, 127.0.c.i); on Patroni the endpoints are the router's read-write and read-only ones,
 * and each node shows its member's address (127.0.c.i) in `nodes[]`.
 */
const nodeAddresses = (d: Pick<Detail, 'nodes' | 'endpoints'>): string[] =>
  patroni ? d.nodes.map((n) => n.connect_info) : d.endpoints.map((e) => e.connect_info);
/** The endpoints a cluster of `n` nodes shows: one per node on the local engine, the router's two on Patroni. */
const endpointCount = (n: number): number => (patroni ? 2 : n);

/** A client writing rows with a sequence number to the primary, recording the ones acknowledged. */
async function startWriter(connectInfo: string) {
  const [host, port] = connectInfo.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
  c.on('error', () => {});
  await c.connect();
  const acked: number[] = [];
  const errors: string[] = [];
  let reads = 0;
  let stopping = false;
  let seq = 0;
  const loop = (async () => {
    while (!stopping) {
      seq++;
      try {
        await c.query('insert into w(seq) values ($1)', [seq]);
        acked.push(seq);
        if (seq % 50 === 0) {
          await c.query('select count(*) from w');
          reads++;
        }
      } catch (e) {
        errors.push((e as Error).message);
      }
      await sleep(3);
    }
  })();
  return {
    acked,
    errors,
    get reads() {
      return reads;
    },
    async stop() {
      stopping = true;
      await loop;
      await c.end();
    },
  };
}

beforeAll(async () => {
  t = await startService();
  const c = await createAvailableCluster(t.client, { nodes: 3 });
  id = c.id;
  // Some data, so the copies take measurable time (a few MB; tests stay small).
  await sql(
    c.detail.endpoints[0]!.connect_info,
    'create table w(seq int primary key); create table filler as select g as id, md5(g::text) as v from generate_series(1, 60000) g',
  );
  const auth = new AuthService(t.svc.store, Secrets.load(t.config.masterKey, join(t.dataDir, 'master.key')), systemClock, t.svc.log);
  const ro = await auth.createCredential(PROJECT_ID, 'readonly');
  readonly = new DwsClient({ endpoint: t.endpoint, projectId: PROJECT_ID, accessKey: ro.accessKey, secretKey: ro.secretKey });
});

afterAll(async () => {
  await t?.stop({ keepDir: !!process.env['DWSBOX_KEEP_TEST_DIRS'] });
});

describe('scale-out pre-check and validation', () => {
  it('grow-check answers without changing anything: empty for a scale-out that fits; localized items for one that does not', async () => {
    const ok = await readonly.call<{ data: unknown[]; note: { bucket_split_info: Record<string, unknown> } }>(
      'POST',
      `/v2/{project_id}/clusters/${id}/grow-check`,
      { scale_out: { count: 3 } },
    );
    expect(ok.data).toEqual([]);
    expect(ok.note.bucket_split_info).toEqual({ current_dn_num: 3, after_scale_out_dn_num: 6, is_bucket_split: false });

    type Item = { pass: boolean; reason: string; required: boolean; desc: string; type: string };
    const en = await t.client.call<{ data: Item[] }>(
      'POST',
      `/v2/{project_id}/clusters/${id}/grow-check`,
      { scale_out: { count: 252 } },
      { 'x-language': 'en-us' },
    );
    const zh = await t.client.call<{ data: Item[] }>(
      'POST',
      `/v2/{project_id}/clusters/${id}/grow-check`,
      { scale_out: { count: 252 } },
      { 'x-language': 'zh_CN' },
    );
    const reasons = en.data.map((d) => d.reason);
    expect(reasons).toEqual(expect.arrayContaining(['ADDRESS_RANGE', 'NODE_QUOTA', 'HOST_NODE_LIMIT']));
    expect(zh.data.map((d) => d.reason)).toEqual(reasons);
    for (const d of en.data) expect(d).toMatchObject({ pass: false, required: true });
    const range = en.data.find((d) => d.reason === 'ADDRESS_RANGE')!;
    expect(range.type).toBe('limit');
    expect(range.desc).toBe('A cluster has at most 254 nodes on this host (one loopback address each): 3 + 252 would be 255.');
    const rangeZh = zh.data.find((d) => d.reason === 'ADDRESS_RANGE')!;
    expect(rangeZh.type).toBe('限制');
    expect(rangeZh.desc).toBe('本主机上的集群最多有 254 个节点（每个节点一个回环地址）：3 + 252 = 255。');
    const quota = zh.data.find((d) => d.reason === 'NODE_QUOTA')!;
    expect(quota.type).toBe('配额');
    expect(quota.desc).toMatch(/^项目已有 3 个节点，再增加 252 个将超过配额 \d+。$/);

    // Nothing was changed by any of it.
    const d = await detail();
    expect(d.number_of_node).toBe(3);
    expect(d.task_status).toBe('');
    expect((await t.client.request('GET', `/v1/{project_id}/clusters/${id}/actions/GROWING`)).status).toBe(404);
  });

  it('resize refuses what cannot run, with the documented codes, and builds nothing', async () => {
    const bad = async (body: unknown, status: number, code: string, msg: RegExp): Promise<void> => {
      const r = await t.client.request<{ error_code: string; error_msg: string }>('POST', `/v1.0/{project_id}/clusters/${id}/resize`, body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.error_code, JSON.stringify(r.body)).toBe(code);
      expect(r.body.error_msg).toMatch(msg);
    };
    await bad({ scale_out: { count: 252 } }, 400, 'DWS.5091', /quota/);
    await bad({ scale_out: { count: 0 } }, 400, 'DWS.5047', /scale_out\.count/);
    await bad({ scale_out: { count: 1, subnet_id: 'not-a-uuid' } }, 400, 'DWS.5064', /subnet_id/);
    await bad({ scale_out: { count: 1 }, create_node_only: true }, 400, 'DWS.9901', /not supported/);
    await bad({ scale_out: { count: 1 }, auto_redistribute: false }, 400, 'DWS.9901', /not supported/);
    await bad({ scale_out: { count: 1 }, waiting_for_killing: 5 }, 400, 'DWS.0001', /waiting_for_killing/);
    await bad({}, 400, 'DWS.0001', /scale_out/);
    const ro = await readonly.request<{ error_code: string }>('POST', `/v1.0/{project_id}/clusters/${id}/resize`, {
      scale_out: { count: 1 },
    });
    expect(ro.status).toBe(403);
    expect(ro.body.error_code).toBe('APIGW.0302');
    const d = await detail();
    expect(d.number_of_node).toBe(3);
    expect((await t.svc.store.listNodes(id)).length).toBe(3);
  });
});

describe('scale-out 3 → 6 under writes, then scale-in 6 → 3', () => {
  let acked: number[] = [];
  let taskId = '';

  it('grows while a client writes: GROWING with resize_info and live sub-items, nodes published only at the end', async () => {
    const primary = await primaryOf();
    const pmStart = (await sql<{ started: string }>(primary, 'select pg_postmaster_start_time()::text as started'))[0]!.started;
    const writer = await startWriter(primary);
    await waitFor(async () => writer.acked.length > 20, { what: 'the writer to start' });

    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/resize`, { scale_out: { count: 3 } });
    const first = await detail();
    expect(first.task_status).toBe('GROWING');
    expect(first.action_progress).toHaveProperty('GROWING');
    expect(first.resize_info).toMatchObject({ resize_status: 'GROWING', target_node_num: 6, origin_node_num: 3 });
    expect(first.resize_info!.start_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
    expect(first.number_of_node).toBe(3);
    expect(first.nodes).toHaveLength(3);
    const busy = await t.client.request<{ error_code: string }>('POST', `/v1.0/{project_id}/clusters/${id}/resize`, {
      scale_out: { count: 1 },
    });
    expect(busy.status).toBe(409);
    expect(busy.body.error_code).toBe('DWS.0011');

    // Poll the cluster and the task while it runs, as a console would.
    const seen: { d: Detail; a: TaskBody }[] = [];
    for (;;) {
      const d = await detail();
      const a = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${id}/actions/GROWING`);
      seen.push({ d, a });
      if (!['WAITING', 'RUNNING'].includes(a.status)) break;
      await sleep(100);
    }
    await writer.stop();
    acked = writer.acked;
    const final = seen[seen.length - 1]!.a;
    taskId = final.id;
    expect(final.status).toBe('SUCCESS');
    expect(writer.errors).toEqual([]);
    expect(writer.reads).toBeGreaterThan(0);

    // While it ran: GROWING, a percentage that never goes back, and a topology that changes
    // all at once (number_of_node, nodes and endpoints agree in every answer).
    const running = seen.filter((s) => Object.keys(s.d.action_progress).length > 0);
    expect(running.length).toBeGreaterThan(3);
    let last = -1;
    for (const { d } of running) {
      expect(d.task_status).toBe('GROWING');
      expect(d.status).toBe('AVAILABLE');
      expect(d.resize_info).toMatchObject({ resize_status: 'GROWING', target_node_num: 6, origin_node_num: 3 });
      expect([3, 6]).toContain(d.number_of_node);
      expect(d.nodes).toHaveLength(d.number_of_node);
      expect(d.endpoints).toHaveLength(endpointCount(d.number_of_node));
      expect(nodeAddresses(d)).toHaveLength(d.number_of_node);
      const pct = Number(/^(\d+)%$/.exec(d.action_progress['GROWING']!)![1]);
      expect(pct).toBeGreaterThanOrEqual(last);
      last = pct;
    }
    expect(running.some((s) => s.d.number_of_node === 3)).toBe(true);
    // Sub-items progressed: some answer had finished and waiting sub-items side by side.
    expect(seen.some((s) => subItems(s.a).some((x) => x.status === 'SUCCESS') && subItems(s.a).some((x) => x.status === 'WAITING'))).toBe(
      true,
    );
    expect(seen.some((s) => subItems(s.a).some((x) => x.status === 'RUNNING' && x.step.startsWith('COPY_DATA_')))).toBe(true);

    // The steps, in order, with their names and measured figures.
    expect(final.items.map((i) => i.item_name)).toEqual(['Pre-check', 'Add nodes', 'Synchronize data', 'Update the cluster topology']);
    const subs = subItems(final);
    expect(subs.map((s) => s.step)).toEqual([
      'CHECK_GROW',
      'COPY_DATA_4',
      'START_NODE_4',
      'COPY_DATA_5',
      'START_NODE_5',
      'COPY_DATA_6',
      'START_NODE_6',
      'CATCH_UP',
      'PUBLISH_NODES',
    ]);
    expect(subs.every((s) => s.status === 'SUCCESS' && s.estimated_time === 0 && s.end_time !== null)).toBe(true);
    expect(subs.find((s) => s.step === 'COPY_DATA_5')!.sub_item_name).toBe('Copy data to node 5');
    for (const n of [4, 5, 6]) {
      const pi = info(subs.find((s) => s.step === `COPY_DATA_${n}`)!);
      expect(pi['actionType']).toBe('Expand');
      expect(pi['backupSize'] as number).toBeGreaterThan(5e6);
      expect(pi['progress']).toBe('100.00%');
      const samples = await t.svc.store.listSamples(taskId, `COPY_DATA_${n}`);
      expect(samples.at(-1)!.source).toBe('copy');
      expect(samples.at(-1)!.bytesDone).toBe(pi['backupSize']);
    }
    const cu = info(subs.find((s) => s.step === 'CATCH_UP')!);
    expect(cu['progress']).toBe('100.00%');
    expect(cu['lagBytes']).toBe(0);
    const cuSamples = await t.svc.store.listSamples(taskId, 'CATCH_UP');
    expect(cuSamples.length).toBeGreaterThan(0);
    expect(cuSamples.at(-1)!.data['lagBytes']).toBe(0);
    const step = await t.svc.store.getStep(taskId, 'CATCH_UP');
    expect((step!.checkpoint as { targetLsn: string }).targetLsn).toBe(cuSamples.at(-1)!.data['targetLsn']);

    // After: 6 nodes, all streaming, idle, and the primary was never restarted.
    const after = await waitIdle(t.client, id);
    expect(after).toMatchObject({ status: 'AVAILABLE', sub_status: 'NORMAL', task_status: '', action_progress: {}, number_of_node: 6 });
    expect((after as Detail).resize_info).toBeNull();
    expect(after.nodes.map((n) => n.role)).toEqual(['primary', 'standby', 'standby', 'standby', 'standby', 'standby']);
    expect(nodeAddresses(after).map((e) => e.split(':')[0]!.split('.')[3])).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(after.endpoints).toHaveLength(endpointCount(6));
    const repl = await sql<{ application_name: string; state: string }>(
      after.endpoints[0]!.connect_info,
      'select application_name, state from pg_stat_replication order by 1',
    );
    expect(repl).toEqual(['node2', 'node3', 'node4', 'node5', 'node6'].map((a) => ({ application_name: a, state: 'streaming' })));
    const started = (
      await sql<{ started: string }>(after.endpoints[0]!.connect_info, 'select pg_postmaster_start_time()::text as started')
    )[0]!.started;
    expect(started).toBe(pmStart);
  });

  it('every acknowledged write is on every node, and the new nodes are read-only', async () => {
    expect(acked.length).toBeGreaterThan(100);
    const d = await detail();
    const want = new Set(acked);
    for (const e of nodeAddresses(d)) {
      // A standby replays what the primary acknowledged after the catch-up a moment later.
      const rows = await waitFor(
        async () => {
          const r = await sql<{ seq: number }>(e, 'select seq from w');
          const have = new Set(r.map((x) => x.seq));
          return acked.every((s) => have.has(s)) ? r : null;
        },
        { what: `every acknowledged write on ${e}`, timeoutMs: 60_000 },
      );
      expect(rows.filter((r) => want.has(r.seq))).toHaveLength(acked.length);
    }
    for (const e of nodeAddresses(d).slice(3)) await expect(sql(e, 'insert into w values (-1)')).rejects.toThrow(/read-only/);
  });

  it('scale-in: shrink-numbers and shrink-check say what is allowed; below 3 nodes is refused', async () => {
    expect(await readonly.call('GET', `/v1.0/{project_id}/clusters/${id}/shrink-numbers`)).toEqual({ shrink_sequence: ['1', '2', '3'] });
    expect(await readonly.call('GET', `/v1/{project_id}/clusters/${id}/shrink-check?shrink_count=3`)).toEqual({
      is_passed: true,
      reason: '',
    });
    const no = await readonly.call<{ is_passed: boolean; reason: string }>(
      'GET',
      `/v1/{project_id}/clusters/${id}/shrink-check?shrink_count=4`,
    );
    expect(no.is_passed).toBe(false);
    expect(no.reason).toMatch(/at least 3 nodes: this one has 6, so at most 3 nodes can be removed, not 4/);
    const r = await t.client.request<{ error_code: string; error_msg: string }>(
      'POST',
      `/v1.0/{project_id}/clusters/${id}/cluster-shrink`,
      { shrink_number: 4, force_backup: true, type: 'dws' },
    );
    expect(r.status).toBe(400);
    expect(r.body.error_code).toBe('DWS.5047');
    expect(r.body.error_msg).toMatch(/at least 3 nodes/);
    expect((await readonly.request('POST', `/v1.0/{project_id}/clusters/${id}/cluster-shrink`, { shrink_number: 1 })).status).toBe(403);
  });

  it('shrinks 6 → 3: job_id, CLUSTER_SHRINKING, then the highest standbys gone with their slots, processes and files', async () => {
    const before = await detail();
    const r = await t.client.call<{ job_id: string }>('POST', `/v1.0/{project_id}/clusters/${id}/cluster-shrink`, {
      shrink_number: 3,
      force_backup: true,
      type: 'dws',
    });
    expect(r.job_id).toMatch(/^[0-9a-f-]{36}$/);
    const during = await detail();
    expect(during.task_status).toBe('CLUSTER_SHRINKING');
    expect(during.action_progress).toHaveProperty('CLUSTER_SHRINKING');
    const statuses = new Set<string>();
    const job = await waitFor(
      async () => {
        const j = await t.client.call<{ status: string; progress: string }>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
        statuses.add(j.status);
        return j.status === 'SUCCESS' || j.status === 'FAIL' ? j : null;
      },
      { what: 'the scale-in job', timeoutMs: 120_000 },
    );
    expect(job).toMatchObject({ status: 'SUCCESS', progress: '100%' });
    expect([...statuses].every((s) => ['WAITING', 'RUNNING', 'SUCCESS'].includes(s))).toBe(true);
    const after = await waitIdle(t.client, id);
    expect(after).toMatchObject({ status: 'AVAILABLE', task_status: '', action_progress: {}, number_of_node: 3 });
    expect(after.nodes.map((n) => n.id)).toEqual(before.nodes.slice(0, 3).map((n) => n.id));
    expect(after.endpoints).toHaveLength(endpointCount(3));
    expect(nodeAddresses(after)).toHaveLength(3);
    expect(await slotNames()).toEqual([standbySlot(2), standbySlot(3)]);
    for (const n of [4, 5, 6]) {
      expect(postmastersOf(n)).toEqual([]);
      expect(existsSync(nodeDir(n))).toBe(false);
    }
    const task = await t.client.call<TaskBody>('GET', `/dwsbox/v1/{project_id}/clusters/${id}/tasks/${r.job_id}`);
    expect(subItems(task).map((s) => s.step)).toEqual([
      'CHECK_SHRINK',
      'REMOVE_NODE_6',
      'REMOVE_NODE_5',
      'REMOVE_NODE_4',
      'UPDATE_TOPOLOGY',
    ]);
    expect(task.items.map((i) => i.item_name)).toEqual(['Scale in']);
    // The remaining nodes still hold every write.
    const count = await sql<{ n: number }>(nodeAddresses(after)[2]!, 'select count(*)::int as n from w');
    expect(count[0]!.n).toBeGreaterThanOrEqual(acked.length);
  });

  it('a 3-node cluster cannot shrink: no allowed count, a failing check and a clear 400', async () => {
    expect(await t.client.call('GET', `/v1.0/{project_id}/clusters/${id}/shrink-numbers`)).toEqual({ shrink_sequence: [] });
    const c = await t.client.call<{ is_passed: boolean; reason: string }>(
      'GET',
      `/v1/{project_id}/clusters/${id}/shrink-check?shrink_count=1`,
    );
    expect(c.is_passed).toBe(false);
    const r = await t.client.request<{ error_code: string; error_msg: string }>(
      'POST',
      `/v1.0/{project_id}/clusters/${id}/cluster-shrink`,
      { shrink_number: 1 },
    );
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      error_code: 'DWS.5047',
      error_msg: 'Invalid number of nodes: a cluster keeps at least 3 nodes: this one has 3, so no node can be removed, not 1',
    });
  });
});

describe('a failed scale-out rolls back', () => {
  const cases: [string, 'before' | 'during' | 'after'][] = [
    ['CHECK_GROW', 'before'],
    ['COPY_DATA_4', 'during'],
    ['START_NODE_4', 'after'],
    ['CATCH_UP', 'after'],
    ['PUBLISH_NODES', 'after'],
  ];

  for (const [step, point] of cases) {
    it(`a failure at ${step} (${point}) leaves the cluster exactly as it was: ROLLBACK_SUCCESS, RESIZE_FAILURE`, async () => {
      const before = await detail();
      const nodesBefore = (await t.svc.store.listNodes(id)).map((n) => n.id).sort();
      await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
        cluster_id: id,
        action_name: 'GROWING',
        step,
        mode: 'fail',
        point,
        times: 1,
      });
      await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/resize`, { scale_out: { count: 1 } });
      const after = (await waitIdle(t.client, id)) as Detail;
      expect(after).toMatchObject({ status: 'AVAILABLE', task_status: 'RESIZE_FAILURE', action_progress: {}, number_of_node: 3 });
      expect(after.resize_info).toMatchObject({ resize_status: 'RESIZE_FAILURE', target_node_num: 4, origin_node_num: 3 });
      expect(after.nodes).toEqual(before.nodes);
      expect(after.endpoints).toEqual(before.endpoints);
      expect((await t.svc.store.listNodes(id)).map((n) => n.id).sort()).toEqual(nodesBefore);
      // The leader's Patroni drops the departed member's slot in its own loop (the rollback waits a few loops for it,
      // then drops it itself when inactive): seen once still there a moment after the task ended.
      await waitFor(async () => JSON.stringify(await slotNames()) === JSON.stringify([standbySlot(2), standbySlot(3)]), {
        what: "the added node's slot gone",
        timeoutMs: 20_000,
      });
      expect(postmastersOf(4)).toEqual([]);
      expect(existsSync(nodeDir(4))).toBe(false);
      expect(existsSync(t.svc.dataPlane.nodePaths(id, 4).sockDir)).toBe(false);

      const a = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${id}/actions/RESIZE_FAILURE`);
      expect(a.status).toBe('ROLLBACK_SUCCESS');
      expect(a.failed_step).toBe(step);
      expect(a.error_msg).toMatch(/Injected fault/);
      const failed = subItems(a).find((s) => s.step === step)!;
      expect(failed.status).toBe('FAILED');
      expect(info(failed)).toMatchObject({ failedStep: step, errorCode: 'DWS.9922' });
      expect(info(failed)['errorMsg']).toMatch(/Injected fault \(fail/);
      expect(a.items.at(-1)).toMatchObject({
        item_name: 'Roll back',
        sub_items: [expect.objectContaining({ step: 'REMOVE_ADDED_NODES', status: 'SUCCESS' })],
      });
      const job = await t.client.call<{ status: string; failed_code: string }>('GET', `/v1.0/{project_id}/job/${a.id}`);
      expect(job).toMatchObject({ status: 'FAIL', failed_code: 'DWS.9922' });
      // The original nodes kept serving.
      expect(
        await sql(after.endpoints[0]!.connect_info, 'insert into w values (-100 - $1::int) returning seq', [
          cases.findIndex((c) => c[0] === step),
        ]),
      ).toHaveLength(1);
    });
  }

  it('RESIZE_FAILURE stays until the next accepted operation: a restart clears it', async () => {
    const zh = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${id}/actions/RESIZE_FAILURE`, undefined, {
      'x-language': 'zh-cn',
    });
    expect(zh.items.at(-1)!.item_name).toBe('回滚');
    expect(zh.items.at(-1)!.sub_items[0]!.sub_item_name).toBe('移除新增节点');
    expect((await detail()).task_status).toBe('RESIZE_FAILURE');
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/restart`, { restart: {} });
    expect((await detail()).task_status).toBe('REBOOTING');
    const after = (await waitIdle(t.client, id)) as Detail;
    expect(after.task_status).toBe('');
    expect(after.resize_info).toBeNull();
    expect(after.status).toBe('AVAILABLE');
  });

  it('a rollback that cannot finish ends ROLLBACK_FAIL, saying so; running the scale-out again removes what was left; a failed scale-in keeps its nodes', async () => {
    const before = await detail();
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      cluster_id: id,
      action_name: 'GROWING',
      step: 'COPY_DATA_4',
      mode: 'fail',
      point: 'during',
      times: 1,
    });
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      cluster_id: id,
      action_name: 'GROWING',
      step: 'REMOVE_ADDED_NODES',
      mode: 'fail',
      times: 1,
    });
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/resize`, { scale_out: { count: 1 } });
    const failed = await waitIdle(t.client, id);
    expect(failed).toMatchObject({ status: 'AVAILABLE', task_status: 'RESIZE_FAILURE', number_of_node: 3 });
    expect(failed.nodes).toEqual(before.nodes);
    const a = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${id}/actions/RESIZE_FAILURE`);
    expect(a.status).toBe('ROLLBACK_FAIL');
    expect(a.failed_step).toBe('COPY_DATA_4');
    expect(a.error_msg).toMatch(/Undo incomplete \(REMOVE_ADDED_NODES: Injected fault/);
    expect(subItems(a).at(-1)).toMatchObject({ step: 'REMOVE_ADDED_NODES', status: 'ROLLBACK_FAIL' });
    // What was left: node 4's record (never listed) and its partial copy.
    expect((await t.svc.store.listNodes(id)).filter((n) => n.ordinal === 4).map((n) => n.membership)).toEqual(['building']);

    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/resize`, { scale_out: { count: 1 } });
    const grown = await waitIdle(t.client, id);
    expect(grown).toMatchObject({ status: 'AVAILABLE', task_status: '', number_of_node: 4 });
    expect(nodeAddresses(grown).map((e) => e.split(':')[0]!.split('.')[3])).toEqual(['1', '2', '3', '5']);
    expect((await t.svc.store.listNodes(id)).map((n) => n.ordinal)).toEqual([1, 2, 3, 5]);
    expect(existsSync(nodeDir(4))).toBe(false);
    expect(await slotNames()).toEqual([standbySlot(2), standbySlot(3), standbySlot(5)]);
    const g = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${id}/actions/GROWING`);
    expect(info(subItems(g)[0]!)['removedLeftovers']).toEqual([4]);

    // A scale-in that fails before removing anything: CLUSTER_SHRINK_FAILED, every node kept.
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      cluster_id: id,
      action_name: 'CLUSTER_SHRINKING',
      step: 'REMOVE_NODE_5',
      mode: 'fail',
      times: 1,
    });
    const f = await t.client.call<{ job_id: string }>('POST', `/v1.0/{project_id}/clusters/${id}/cluster-shrink`, { shrink_number: 1 });
    const fj = await waitFor(
      async () => {
        const j = await t.client.call<{ status: string; failed_code: string; failed_detail: string }>(
          'GET',
          `/v1.0/{project_id}/job/${f.job_id}`,
        );
        return j.status === 'FAIL' || j.status === 'SUCCESS' ? j : null;
      },
      { what: 'the failing scale-in' },
    );
    expect(fj).toMatchObject({ status: 'FAIL', failed_code: 'DWS.9922' });
    const kept = await waitIdle(t.client, id);
    expect(kept).toMatchObject({ status: 'AVAILABLE', task_status: 'CLUSTER_SHRINK_FAILED', number_of_node: 4 });
    expect(kept.endpoints).toEqual(grown.endpoints);
    expect(nodeAddresses(kept)).toEqual(nodeAddresses(grown));
    const ft = await t.client.call<TaskBody>('GET', `/dwsbox/v1/{project_id}/clusters/${id}/tasks/${f.job_id}`);
    expect(ft.status).toBe('FAILED');
    expect(subItems(ft).at(-1)).toMatchObject({ step: 'RESTORE_NODES', status: 'SUCCESS' });
    const repl = await sql<{ application_name: string; state: string }>(
      kept.endpoints[0]!.connect_info,
      "select application_name, state from pg_stat_replication where application_name = 'node5'",
    );
    expect(repl).toEqual([{ application_name: 'node5', state: 'streaming' }]);

    const r = await t.client.call<{ job_id: string }>('POST', `/v1.0/{project_id}/clusters/${id}/cluster-shrink`, { shrink_number: 1 });
    await waitFor(async () => (await t.client.call<{ status: string }>('GET', `/v1.0/{project_id}/job/${r.job_id}`)).status === 'SUCCESS', {
      what: 'the scale-in',
    });
    const back = await waitIdle(t.client, id);
    expect(back).toMatchObject({ number_of_node: 3, task_status: '' });
    expect(back.nodes.map((n) => n.id)).toEqual(before.nodes.map((n) => n.id));
    expect(await slotNames()).toEqual([standbySlot(2), standbySlot(3)]);
    expect(postmastersOf(5)).toEqual([]);
  });
});
