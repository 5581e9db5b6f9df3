/**
 * Scale-out and scale-in on the Patroni engine (issue 15), end to end through the API: a
 * 3-node cluster (the API's smallest) grows to 4 and shrinks back to 3. After the scale-out
 * the new member streams from the leader, the cluster still has exactly one synchronous
 * standby, the endpoints are the same router addresses, the router routes to the new member
 * (its server slot set through the runtime API, no reload) and the read-only endpoint reads
 * the rows on it, the leader holds its slot, and the copy's progress was read from PostgreSQL
 * and the data directory. The new member is then made the synchronous standby and removed:
 * Patroni picks another, writes go on, and nothing of it is left: unit, DCS key, slot, router
 * server, files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { TestAgentClient } from '../helpers/engine.js';
import { memberUnit, restHost } from '../../src/dataplane/patroni/ha-cluster.js';
import { HaproxyRuntime, RouterBackend, routerSocketPath, slotOrdinal } from '../../src/dataplane/patroni/haproxy-config.js';
import { PATRONI_REST_PORT } from '../../src/dataplane/patroni/patroni-config.js';
import { PatroniEngine } from '../../src/dataplane/patroni-engine.js';
import { ADMIN_PASSWORD, createAvailableCluster, getCluster, startService, waitIdle, type ClusterDetail } from '../helpers/service.js';
import type { TestService } from '../helpers/service.js';
import { testAgentDir, waitFor } from '../helpers/env.js';

let t: TestService;
let engine: PatroniEngine;
let agent: TestAgentClient;
let id = '';
let subnet = 0;
let rw = '';
let ro = '';
let endpoints: string[] = [];
const ROWS = 20_000;

interface SubItem {
  status: string;
  step: string;
  detail: string;
}
interface TaskBody {
  id: string;
  status: string;
  items: { sub_items: SubItem[] }[];
}

beforeAll(async () => {
  t = await startService({ flags: { engine: 'patroni', agentDir: testAgentDir() } });
  if (!(t.svc.dataPlane instanceof PatroniEngine)) throw new Error('the service did not run the Patroni engine');
  engine = t.svc.dataPlane;
  agent = new TestAgentClient(testAgentDir());
});
afterAll(async () => {
  if (id && !process.env['DWSBOX_KEEP_TEST_DIRS']) {
    await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${id}`).catch(() => {});
    await waitFor(
      async () =>
        (await t.client.call<{ clusters: { id: string }[] }>('GET', '/v1.0/{project_id}/clusters')).clusters.every((c) => c.id !== id),
      { timeoutMs: 120_000, what: 'the cluster deleted' },
    ).catch(() => {});
  }
  await agent?.close();
  await t?.stop();
});

function client(connectInfo: string): pg.Client {
  const [host, port] = connectInfo.split(':');
  const c = new pg.Client({
    host,
    port: Number(port),
    user: 'dbadmin',
    password: ADMIN_PASSWORD,
    database: 'postgres',
    connectionTimeoutMillis: 3000,
  });
  c.on('error', () => {});
  return c;
}

async function sql<R = Record<string, unknown>>(connectInfo: string, text: string): Promise<R[]> {
  const c = client(connectInfo);
  await c.connect();
  try {
    return (await c.query(text)).rows as R[];
  } finally {
    await c.end().catch(() => {});
  }
}

const memberAddr = (i: number): string => `127.0.${subnet}.${i}`;
const scope = (): string => `dws-${id}`;
const clusterDir = (): string => join(t.dataDir, 'clusters', id);
const router = (): HaproxyRuntime => new HaproxyRuntime(routerSocketPath(join(engine.socketRoot(), `${id.slice(0, 13)}r`)));

/** The leader's replication as PostgreSQL shows it: each member's state and sync_state. */
const replication = (): Promise<{ name: string; state: string; sync: string }[]> =>
  sql(rw, 'select application_name as name, state, sync_state as sync from pg_stat_replication order by 1');
const slots = async (): Promise<string[]> =>
  (await sql<{ s: string }>(rw, 'select slot_name as s from pg_replication_slots order by 1')).map((r) => r.s);

/** Members each router backend routes to (servers not in maintenance), with their addresses. */
async function routed(): Promise<Record<string, { ordinal: number | null; addr: string; checkAddr: string }[]>> {
  const out: Record<string, { ordinal: number | null; addr: string; checkAddr: string }[]> = {};
  for (const b of [RouterBackend.READ_WRITE, RouterBackend.READ_ONLY]) {
    out[b] = (await router().serversState(b))
      .filter((s) => !s.maintenance)
      .map((s) => ({ ordinal: slotOrdinal(s.server), addr: s.addr, checkAddr: s.checkAddr }))
      .sort((a, c) => (a.ordinal ?? 0) - (c.ordinal ?? 0));
  }
  return out;
}
const routedFor = (ordinals: number[]): { ordinal: number; addr: string; checkAddr: string }[] =>
  ordinals.map((i) => ({ ordinal: i, addr: memberAddr(i), checkAddr: restHost(subnet, i) }));

/** Patroni's member list (its DCS keys), from the leader's REST API. */
async function patroniMembers(): Promise<string[]> {
  const r = await fetch(`http://${restHost(subnet, 1)}:${PATRONI_REST_PORT}/cluster`);
  return ((await r.json()) as { members: { name: string }[] }).members.map((m) => m.name).sort();
}

async function runAction(path: string, body: unknown, action: string): Promise<TaskBody> {
  await t.client.call('POST', path, body);
  let last: TaskBody | null = null;
  await waitFor(
    async () => {
      const r = await t.client.request<TaskBody>('GET', `/v1/{project_id}/clusters/${id}/actions/${action}`);
      if (r.status === 200) last = r.body;
      return last && !['WAITING', 'RUNNING'].includes(last.status) ? last : null;
    },
    { timeoutMs: 120_000, what: `the ${action} task`, intervalMs: 200 },
  );
  return last!;
}

describe('scale-out and scale-in on the Patroni engine', () => {
  it('grows 3 → 4: the new member streams, one synchronous standby, same endpoints, the router routes to it', async () => {
    const c = await createAvailableCluster(t.client, { nodes: 3 });
    id = c.id;
    endpoints = c.detail.endpoints.map((e) => e.connect_info);
    [rw, ro] = endpoints as [string, string];
    subnet = Number(rw.split('.')[2]);
    await sql(rw, `create table t(x int primary key, v text); insert into t select g, md5(g::text) from generate_series(1, ${ROWS}) g`);

    const task = await runAction(`/v1.0/{project_id}/clusters/${id}/resize`, { scale_out: { count: 1 } }, 'GROWING');
    expect(task.status).toBe('SUCCESS');
    const subs = task.items.flatMap((i) => i.sub_items);
    expect(subs.map((s) => s.step)).toEqual(['CHECK_GROW', 'COPY_DATA_4', 'START_NODE_4', 'CATCH_UP', 'PUBLISH_NODES']);
    // The copy's progress: read from PostgreSQL and the data directory, ending at the copy's size.
    const info = JSON.parse((JSON.parse(subs[1]!.detail) as { progressInfo: string }).progressInfo) as Record<string, unknown>;
    expect(info['progress']).toBe('100.00%');
    const samples = await t.svc.store.listSamples(task.id, 'COPY_DATA_4');
    expect(samples.at(-1)).toMatchObject({ source: 'copy', bytesDone: info['backupSize'], percent: 100 });
    expect(info['backupSize'] as number).toBeGreaterThan(0);
    const percents = samples.map((s) => s.percent ?? 0);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));

    const d = await waitIdle(t.client, id);
    expect(d).toMatchObject({ status: 'AVAILABLE', sub_status: 'NORMAL', number_of_node: 4 });
    expect(d.nodes.map((n) => n.role)).toEqual(['primary', 'standby', 'standby', 'standby']);
    expect(d.nodes[3]!.connect_info.split(':')[0]).toBe(memberAddr(4));
    expect(d.endpoints.map((e) => e.connect_info)).toEqual(endpoints);
    expect((await agent.units()).map((u) => u.name)).toContain(memberUnit(scope(), 4));

    // Streaming from the leader, with exactly one synchronous standby (D25), and the leader holds its slot.
    const repl = await replication();
    expect(repl.map((r) => [r.name, r.state])).toEqual([2, 3, 4].map((i) => [`node${i}`, 'streaming']));
    expect(repl.filter((r) => r.sync === 'sync')).toHaveLength(1);
    expect(await slots()).toEqual(['node2', 'node3', 'node4']);

    // The router routes to every member (no reload: the same process), the new one in its slot.
    expect(await routed()).toEqual({
      [RouterBackend.READ_WRITE]: routedFor([1, 2, 3, 4]),
      [RouterBackend.READ_ONLY]: routedFor([1, 2, 3, 4]),
    });
    const up = await waitFor(
      async () => {
        const s = (await router().serversState(RouterBackend.READ_ONLY)).filter((x) => x.up).map((x) => slotOrdinal(x.server));
        return s.length === 3 ? s.sort() : null;
      },
      { timeoutMs: 30_000, what: 'the router marking the three replicas up' },
    );
    expect(up).toEqual([2, 3, 4]);

    // The read-only endpoint balances over the replicas (least connections): sessions held at once reach the new one, with every row.
    const onNew = await waitFor(
      async () => {
        const cs = [1, 2, 3].map(() => client(ro));
        try {
          await Promise.all(cs.map((x) => x.connect()));
          const rows = await Promise.all(
            cs.map(
              async (x) =>
                (await x.query<{ a: string; n: number }>('select host(inet_server_addr()) as a, count(*)::int as n from t')).rows[0]!,
            ),
          );
          return rows.find((r) => r.a === memberAddr(4)) ?? null;
        } finally {
          await Promise.all(cs.map((x) => x.end().catch(() => {})));
        }
      },
      { timeoutMs: 30_000, what: 'a session of the read-only endpoint on node4' },
    );
    expect(onNew.n).toBe(ROWS);
  });

  it('shrinks 4 → 3 while node4 is the synchronous standby: Patroni picks another, writes go on, nothing of node4 is left', async () => {
    // Make node4 the synchronous standby: the other replicas' walsenders are cut until the leader picks it (Patroni keeps its pick after).
    const cluster = (await t.svc.store.getClusterById(id))!;
    const leader = engine.instance(
      cluster,
      (await t.svc.store.listNodes(id)).find((n) => n.role === 'primary')!,
    );
    await waitFor(
      async () => {
        await leader.query("select pg_terminate_backend(pid) from pg_stat_replication where application_name in ('node2', 'node3')");
        return (await replication()).some((r) => r.name === 'node4' && r.sync === 'sync');
      },
      { timeoutMs: 60_000, what: 'node4 the synchronous standby', intervalMs: 100 },
    );
    await waitFor(async () => (await replication()).filter((r) => r.state === 'streaming').length === 3, {
      timeoutMs: 30_000,
      what: 'node2 and node3 streaming again',
    });

    // A client writes through the read-write endpoint all along.
    const w = client(rw);
    await w.connect();
    const acked: number[] = [];
    const errors: string[] = [];
    let stop = false;
    const writing = (async () => {
      for (let i = ROWS + 1; !stop; i++) {
        await w
          .query('insert into t values ($1, $2)', [i, 'during the scale-in'])
          .then(() => acked.push(i))
          .catch((e: unknown) => errors.push((e as Error).message));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const before: ClusterDetail = await getCluster(t.client, id);
    const r = await t.client.call<{ job_id: string }>('POST', `/v1.0/{project_id}/clusters/${id}/cluster-shrink`, {
      shrink_number: 1,
      force_backup: true,
      type: 'dws',
    });
    const job = await waitFor(
      async () => {
        const j = await t.client.call<{ status: string }>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
        return ['SUCCESS', 'FAIL'].includes(j.status) ? j : null;
      },
      { timeoutMs: 120_000, what: 'the scale-in job' },
    );
    stop = true;
    await writing;
    await w.end();
    expect(job.status).toBe('SUCCESS');
    expect(errors).toEqual([]);
    expect(acked.length).toBeGreaterThan(0);

    const d = await waitIdle(t.client, id);
    expect(d).toMatchObject({ status: 'AVAILABLE', number_of_node: 3 });
    expect(d.nodes.map((n) => n.id)).toEqual(before.nodes.slice(0, 3).map((n) => n.id));
    expect(d.endpoints.map((e) => e.connect_info)).toEqual(endpoints);
    await waitFor(async () => (await getCluster(t.client, id)).sub_status === 'NORMAL', {
      timeoutMs: 30_000,
      what: 'the cluster NORMAL with its three members',
    });
    expect((await sql<{ n: number }>(rw, 'select count(*)::int as n from t'))[0]!.n).toBe(ROWS + acked.length);

    // Another synchronous standby, exactly one; the slot went with the member (not a TTL later), and its DCS key.
    const repl = await replication();
    expect(repl.map((x) => [x.name, x.state])).toEqual([
      ['node2', 'streaming'],
      ['node3', 'streaming'],
    ]);
    expect(repl.filter((x) => x.sync === 'sync')).toHaveLength(1);
    expect(await slots()).toEqual(['node2', 'node3']);
    expect(await patroniMembers()).toEqual(['node1', 'node2', 'node3']);

    // The router routes to the three members left; node4's slot is in maintenance.
    expect(await routed()).toEqual({ [RouterBackend.READ_WRITE]: routedFor([1, 2, 3]), [RouterBackend.READ_ONLY]: routedFor([1, 2, 3]) });
    expect(readFileSync(join(clusterDir(), 'conf', 'router.cfg'), 'utf8')).not.toContain(memberAddr(4));

    // Nothing of node4 is left: unit, files, configuration, log, socket directory.
    expect((await agent.units()).map((u) => u.name)).not.toContain(memberUnit(scope(), 4));
    for (const f of [join(clusterDir(), 'node4'), join(clusterDir(), 'conf', 'node4.yml'), join(clusterDir(), 'log', 'node4.log')])
      expect(existsSync(f), f).toBe(false);
    expect(existsSync(engine.nodePaths(id, 4).sockDir)).toBe(false);
    expect((JSON.parse(readFileSync(join(clusterDir(), 'ha.json'), 'utf8')) as { ordinals: number[] }).ordinals).toEqual([1, 2, 3]);
  });
});
