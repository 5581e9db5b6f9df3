/**
 * Benchmark (issue 18, D27): what losing members of the fleet's etcd costs a client of a
 * cluster, measured through the cluster's read-write endpoint. The first part of `bench/hosts.ts`:
 * placement over hosts, scale-out to another host and restores across hosts come with the rest
 * of issue 18.
 *
 *   npx tsx bench/hosts.ts [--runs 3] [--hold-one 20] [--hold-two 40] [--pause-ms 10]
 *
 * Set-up: one service in this process (`startService`, the Patroni engine on the run's host
 * agent, fsync on), the namespace test bed of D27 with three hosts (`TestBed`), each host's
 * agent in its namespace serving the control plane over mutual TLS (`dwsbox hosts add`, the
 * bundle, `dwsbox agent --listen`), the fleet's etcd formed on them (`dwsbox hosts etcd`), one
 * 3-member cluster created through the API afterwards (its Patroni state in the fleet; ttl 10,
 * loop_wait 2, retry_timeout 4, failsafe on: the engine's defaults). A `Writer`
 * (test/helpers/ha-writer.ts) commits numbered rows through the read-write endpoint the whole
 * time, `--pause-ms` between two commits.
 *
 * Each run, the fleet healthy before it:
 *   one-lost   one etcd host isolated (its link down) for `--hold-one` s: the longest write gap,
 *              the writes acknowledged, whether the primary changed.
 *   two-lost   a second one isolated too, for `--hold-two` s (no majority: Patroni's failsafe
 *              mode): the longest write gap, the writes acknowledged, whether the primary
 *              changed, seconds until the service recorded `dcs_lost`.
 *   healed     both links up: seconds until every member answers healthy, and until `dcs_back`.
 * After the runs, the acknowledged rows missing on the primary are counted.
 *
 * Prints a table and one JSON line. Removes everything it made, also when it fails: the cluster
 * (through the API), the bed (its namespaces, agents and etcd members), the service.
 * Run it under the shared lock: `flock -o /tmp/dwsbox-bench.lock npx tsx bench/hosts.ts`.
 */
import { parseArgs } from 'node:util';
import { gitInfo } from './git-info.js';
import { testAgentDir } from '../test/helpers/env.js';
import { stopTestAgent } from '../test/helpers/engine.js';
import { query, Writer, type Endpoint } from '../test/helpers/ha-writer.js';
import { bundleDir, hostsCli, startHostAgent, until } from '../test/helpers/host-agents.js';
import {
  ADMIN_PASSWORD,
  createAvailableCluster,
  PROJECT_ID,
  projectClient,
  startService,
  type TestService,
} from '../test/helpers/service.js';
import { TestBed } from '../test/helpers/testbed.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'hold-one': { type: 'string', default: '20' },
    'hold-two': { type: 'string', default: '40' },
    'pause-ms': { type: 'string', default: '10' },
  },
});
const RUNS = Number(values.runs);
const HOLD_ONE = Number(values['hold-one']) * 1000;
const HOLD_TWO = Number(values['hold-two']) * 1000;
const out = (s = ''): void => void process.stdout.write(`${s}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Run {
  oneLost: { gapMs: number; acked: number; primaryChanged: boolean };
  twoLost: { gapMs: number; acked: number; primaryChanged: boolean; dcsLostAfterS: number | null };
  healed: { healthyAfterS: number; dcsBackAfterS: number | null };
}

async function main(): Promise<void> {
  const started = Date.now();
  let t: TestService | undefined;
  let bed: TestBed | undefined;
  let clusterId: string | undefined;
  const runs: Run[] = [];
  let missing: number[] = [];
  try {
    t = await startService({ flags: { engine: 'patroni', agentDir: testAgentDir(), unsafeNoFsync: false, logLevel: 'info' } });
    const svc = t;
    bed = await TestBed.create({ hosts: 3 });
    const b = bed;
    const operator = await projectClient(svc, PROJECT_ID, 'operator');
    for (const h of b.hosts) {
      const r = await hostsCli(svc.dataDir, ['add', h.name, '--address', h.address, '--bundle-out', bundleDir(svc.dataDir, h.name)]);
      if (r.code !== 0) throw new Error(`hosts add ${h.name}: ${r.stderr}`);
      startHostAgent(b, h, svc.dataDir, bundleDir(svc.dataDir, h.name));
    }
    const members = async (): Promise<{ health: string }[]> =>
      (await operator.call<{ members: { health: string }[] }>('GET', '/dwsbox/v1/etcd')).members;
    await until(
      async () => (await operator.call<{ hosts: { state: string }[] }>('GET', '/dwsbox/v1/hosts')).hosts.every((h) => h.state === 'up'),
      'every agent up',
      60_000,
    );
    const formed = await hostsCli(svc.dataDir, ['etcd', ...b.hosts.map((h) => h.name)], 180_000);
    if (formed.code !== 0) throw new Error(`hosts etcd: ${formed.stderr}`);
    const c = await createAvailableCluster(svc.client, { nodes: 3 });
    clusterId = c.id;
    const [host, port] = c.detail.endpoints[0]!.connect_info.split(':');
    const endpoint: Endpoint = { host: host!, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD };
    const server = async (): Promise<string> => (await query<{ s: string }>(endpoint, 'select host(inet_server_addr()) as s'))[0]!.s;
    const eventAt = async (name: string, after: number): Promise<number | null> => {
      const r = await svc.client.call<{ events: { name: string; occur_time: number }[] }>(
        'GET',
        `/v2/{project_id}/events?source_id=${c.id}&limit=100`,
      );
      return r.events.find((e) => e.name === name && e.occur_time >= after)?.occur_time ?? null;
    };
    await Writer.createTable(endpoint);
    const w = new Writer(endpoint, { pauseMs: Number(values['pause-ms']) });
    w.start();
    try {
      for (let run = 1; run <= RUNS; run++) {
        await until(async () => (await members()).every((m) => m.health === 'healthy'), 'the fleet healthy', 120_000);
        await sleep(3000);
        const [h1, h2] = b.hosts;
        const before = await server();
        const t1 = Date.now();
        b.isolate(h1!);
        await sleep(HOLD_ONE);
        const t2 = Date.now();
        const oneLost = {
          gapMs: w.longestGap(t1, t2),
          acked: w.acked.filter((a) => a.at > t1 && a.at <= t2).length,
          primaryChanged: (await server()) !== before,
        };
        b.isolate(h2!);
        await sleep(HOLD_TWO);
        const t3 = Date.now();
        const lostAt = await eventAt('dcs_lost', t2);
        const twoLost = {
          gapMs: w.longestGap(t2, t3),
          acked: w.acked.filter((a) => a.at > t2 && a.at <= t3).length,
          primaryChanged: (await server()) !== before,
          dcsLostAfterS: lostAt === null ? null : (lostAt - t2) / 1000,
        };
        b.heal(h1!);
        b.heal(h2!);
        await until(async () => (await members()).every((m) => m.health === 'healthy'), 'the fleet healthy again', 120_000);
        const healthyAfterS = (Date.now() - t3) / 1000;
        const backAt = await until(async () => eventAt('dcs_back', t3), 'dcs_back', 60_000).catch(() => null);
        const r: Run = { oneLost, twoLost, healed: { healthyAfterS, dcsBackAfterS: backAt === null ? null : (backAt - t3) / 1000 } };
        runs.push(r);
        out(
          `run ${run}: one lost gap ${(oneLost.gapMs / 1000).toFixed(2)} s (${oneLost.acked} writes${oneLost.primaryChanged ? ', primary changed' : ''}); ` +
            `two lost gap ${(twoLost.gapMs / 1000).toFixed(2)} s (${twoLost.acked} writes${twoLost.primaryChanged ? ', primary changed' : ''}, dcs_lost after ${twoLost.dcsLostAfterS ?? '—'} s); ` +
            `healed: healthy after ${healthyAfterS.toFixed(1)} s, dcs_back after ${r.healed.dcsBackAfterS ?? '—'} s`,
        );
      }
    } finally {
      for (const h of b.hosts) b.heal(h);
      await w.stop();
    }
    const present = new Set((await query<{ n: number }>(endpoint, 'select n from acked')).map((r) => r.n));
    missing = w.missing(present);
    out(`acknowledged writes: ${w.acked.length}, missing on the primary: ${missing.length}`);
    out(
      JSON.stringify({
        bench: 'hosts',
        at: new Date(started).toISOString(),
        git: gitInfo(['src', 'bench/hosts.ts']),
        holdOneS: HOLD_ONE / 1000,
        holdTwoS: HOLD_TWO / 1000,
        runs,
        acked: w.acked.length,
        missing: missing.length,
      }),
    );
    if (missing.length) process.exitCode = 1;
  } finally {
    if (t && clusterId) {
      const id = clusterId;
      await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${id}`, { keep_last_manual_snapshot: 0 }).catch((e: unknown) => {
        out(`clean-up: deleting cluster ${id}: ${(e as Error).message}`);
      });
      const svc = t;
      await until(
        async () => (await svc.client.request('GET', `/v1.0/{project_id}/clusters/${id}`)).status === 404,
        'the cluster deleted',
        120_000,
      ).catch((e: unknown) => out(`clean-up: ${(e as Error).message}`));
    }
    // the bed first: its agents' etcd members live under the service's directory
    await bed?.destroy();
    await t?.stop().catch((e: unknown) => {
      out(`stopping the service: ${(e as Error).message}`);
      process.exitCode = 1;
    });
    await stopTestAgent();
  }
}

await main();
