/**
 * Benchmark: what the metrics collector (issue 17, D29) costs: "less than 2 % of one core for 20
 * clusters". Not against raw tools.
 *
 *   npx tsx bench/collector.ts [--clusters 20] [--nodes 3] [--rounds 20] [--every-ms 1000] [--store-calls 5]
 *
 * One service in this process (`startService`, the engine of test/helpers/engine.ts: local in
 * bench/, fsync on, info logs) with `metricsCollectIntervalMs` 600000 and `monitorIntervalMs`
 * 600000, so neither the background collector nor the health monitor runs during the rounds;
 * `--clusters` clusters of `--nodes` `dwsx.small` members created through the API, two at a
 * time (`maxNodes` and `projectNodeQuota` raised as far as they need; a create the service
 * refuses ends the creating, and the bench goes on with the clusters made). Then, after the
 * initdb pool has filled again and 10 s of rest, `--rounds` rounds, each of two windows of
 * `--every-ms`:
 * - an idle window: nothing asked of anyone;
 * - a collection window: `svc.collector.collect()` at its start (the same call the collector's
 *   timer makes), then the rest of the window, so the backends it opened have exited and been
 *   reaped by their postmasters.
 * Per collection: its wall time; the service's CPU time during the call (`process.cpuUsage`,
 * every thread of this process), raw and net of the service's idle rate times the call's wall
 * time; the CPU time of the clusters' PostgreSQL servers over the collection window (each
 * postmaster's utime + stime + cutime + cstime and each living child's, from /proc/<pid>/stat),
 * raw and net of the idle window's (scaled to the same length). Cost in % of one core at the
 * service's default interval: CPU seconds per collection / 15 s × 100.
 * Then where a collection's time goes: over every member (clusters in turn, a cluster's members
 * at once, as the collector reads them), `--store-calls` passes each, the service's and the
 * servers' CPU of the /proc files a reading opens, of `smaps_rollup` alone, of a connection that
 * runs `select 1`, and of the whole reading (`DataPlane.memberReading`, no store).
 * Then the store side, on the service's own store: a day of synthetic samples (86400/15 rows per
 * member, values near each member's last real sample) inserted through `insertMetricSamples`,
 * and `rollUpMetrics` (12 windows a call, as the collector asks, until caught up; then with
 * nothing to do) and `pruneMetricSamples` (nothing to do; one collection's worth of expired rows;
 * a whole 3600 s chunk) timed, `--store-calls` calls each.
 * Deletes the clusters through the API, stops the service (which stops whatever is left under
 * its directory and fails on any process left), also when it fails.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { CLOCK_TICKS } from './cpu.js';
import { gitInfo } from './git-info.js';
import { isPostgresUrl } from '../src/config/config.js';
import { childProcesses } from '../src/dataplane/process-info.js';
import { METRIC_FIELDS, type MetricSample } from '../src/domain/metrics.js';
import type { ClusterRecord, NodeRecord } from '../src/domain/records.js';
import { createAvailableCluster, PROJECT_ID, startService, type TestService } from '../test/helpers/service.js';
import { waitFor } from '../test/helpers/env.js';
import { stopTestAgent, testEngine } from '../test/helpers/engine.js';

const { values } = parseArgs({
  options: {
    clusters: { type: 'string', default: '20' },
    nodes: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '20' },
    'every-ms': { type: 'string', default: '1000' },
    'store-calls': { type: 'string', default: '5' },
  },
});
const CLUSTERS = Math.max(1, Number(values.clusters));
const NODES = Math.max(1, Number(values.nodes));
const ROUNDS = Math.max(1, Number(values.rounds));
const EVERY_MS = Math.max(200, Number(values['every-ms']));
const STORE_CALLS = Math.max(1, Number(values['store-calls']));
const NODE_TYPE = 'dwsx.small';
/** the service's default `metricsCollectIntervalMs`, in seconds: the interval the cost is reported at */
const DEFAULT_INTERVAL_S = 15;
const DAY_S = 86_400;
/** the collector's own arguments (services/metrics-collector.ts) */
const ROLLUP_WINDOWS_PER_TICK = 12;
const RAW_PRUNE_CHUNK_S = 3600;
const ROLLUP_PRUNE_CHUNK_S = 86_400;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const max = (xs: number[]): number => (xs.length ? Math.max(...xs) : NaN);
const ms = (x: number): string => `${x.toFixed(1)} ms`;
/** CPU milliseconds per collection → % of one core at one collection every DEFAULT_INTERVAL_S */
const pctAt15 = (cpuMs: number): number => (cpuMs / 1000 / DEFAULT_INTERVAL_S) * 100;
const pct = (x: number): string => `${x.toFixed(3)} %`;
const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

/** utime + stime + cutime + cstime of a process, in ticks (the reaped children's included); null when it is gone. */
function ticksWithReaped(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  } catch {
    return null;
  }
}

/**
 * CPU ticks of the clusters' PostgreSQL servers: each postmaster with the children it reaped,
 * and each living child with the ones it reaped. A backend that ends between two readings
 * moves from the living children into its postmaster's cutime, so differences count it once.
 */
function serverTicks(postmasters: readonly number[]): number {
  let sum = 0;
  for (const pm of postmasters) {
    sum += ticksWithReaped(pm) ?? 0;
    for (const c of childProcesses(pm)) sum += ticksWithReaped(c) ?? 0;
  }
  return sum;
}

const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;

interface Round {
  wallMs: number;
  serviceMs: number;
  serviceNetMs: number;
  serverMs: number;
  serverNetMs: number;
  idleServerMs: number;
  idleServiceMs: number;
  rows: number;
}

/** `fn` run `n` times; the wall and CPU ms of each call (the store is in this process). */
async function timeCalls<T>(n: number, fn: (i: number) => Promise<T>): Promise<{ wall: number[]; cpu: number[]; results: T[] }> {
  const wall: number[] = [];
  const cpu: number[] = [];
  const results: T[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    results.push(await fn(i));
    wall.push(performance.now() - w0);
    cpu.push(cpuMs(process.cpuUsage(c0)));
  }
  return { wall, cpu, results };
}

const describe = (name: string, r: { wall: number[]; cpu: number[] }, extra = ''): string =>
  `  ${name.padEnd(46)} median ${ms(median(r.wall)).padStart(10)} wall, ${ms(median(r.cpu)).padStart(10)} CPU; max ${ms(max(r.wall))} wall (${r.wall.length} calls)${extra}`;

async function main(): Promise<void> {
  const started = Date.now();
  const git = gitInfo(['src', 'bench/collector.ts']);
  let t: TestService | null = null;
  const made: string[] = [];
  try {
    t = await startService({
      flags: {
        unsafeNoFsync: false,
        logLevel: 'info',
        metricsCollectIntervalMs: 600_000,
        monitorIntervalMs: 600_000,
        // the service's defaults, not the test suite's faster ones (less idle polling in this process)
        pollMs: 250,
        leaseMs: 15_000,
        maxNodes: Math.max(64, CLUSTERS * NODES),
        projectNodeQuota: Math.max(24, CLUSTERS * NODES),
      },
    });
    const svc = t.svc;
    out(
      `dwsbox bench: metrics collector, ${CLUSTERS} clusters of ${NODES} ${NODE_TYPE} members on the ${testEngine()} engine, ` +
        `${ROUNDS} rounds of an idle and a collection window of ${EVERY_MS} ms; commit ${git.commit}` +
        (git.uncommitted.length ? ` (uncommitted: ${git.uncommitted.join(', ')})` : ''),
    );

    // ---------------------------------------------------------------- clusters
    const createStart = Date.now();
    let refused: string | null = null;
    for (let i = 0; i < CLUSTERS && !refused; i += 2) {
      const batch = Array.from({ length: Math.min(2, CLUSTERS - i) }, (_, k) => i + k);
      const results = await Promise.allSettled(
        batch.map((k) => createAvailableCluster(t!.client, { name: `coll-${k}`, nodes: NODES, nodeType: NODE_TYPE })),
      );
      for (const r of results) {
        if (r.status === 'fulfilled') made.push(r.value.id);
        else refused ??= (r.reason as Error).message;
      }
      out(`  ${made.length} clusters available after ${((Date.now() - createStart) / 1000).toFixed(0)} s`);
    }
    // a create refused or failed part-way leaves a cluster record; count what runs
    const all = (await svc.store.listClusters()).filter((c) => c.projectId === PROJECT_ID);
    for (const c of all) if (!made.includes(c.id)) made.push(c.id);
    if (refused) out(`a create failed, going on with what was made: ${refused.slice(0, 400)}`);
    out(`created ${made.length} clusters in ${((Date.now() - createStart) / 1000).toFixed(0)} s`);

    // the initdb pool refilled (its background initdb is not part of any window), then a rest
    const pool = (svc.dataPlane as { pool?: { ready(nodeType: string): unknown[] } }).pool;
    if (pool) {
      const w0 = Date.now();
      await waitFor(async () => Promise.resolve(pool.ready(NODE_TYPE).length >= svc.config.initdbPool || null), {
        timeoutMs: 300_000,
        intervalMs: 200,
        what: 'the initdb pool to fill',
      });
      out(`the initdb pool filled in ${((Date.now() - w0) / 1000).toFixed(1)} s`);
    }
    await sleep(10_000);

    const clusters: ClusterRecord[] = [];
    const members: { c: ClusterRecord; n: NodeRecord; pid: number }[] = [];
    for (const id of made) {
      const c = await svc.store.getCluster(PROJECT_ID, id);
      if (!c || c.stopped) continue;
      clusters.push(c);
      for (const n of await svc.store.listNodes(id)) {
        if (n.membership !== 'active') continue;
        const p = svc.dataPlane.memberStatus(c, n);
        if (p) members.push({ c, n, pid: p.pid });
      }
    }
    const postmasters = members.map((m) => m.pid);
    out(`${clusters.length} clusters, ${members.length} running members (postmasters) to read`);

    // ---------------------------------------------------------------- rounds
    const rounds: Round[] = [];
    const lastSample = new Map<string, MetricSample>();
    for (let r = 0; r < ROUNDS; r++) {
      // idle window: nothing asked
      const s0 = serverTicks(postmasters);
      const i0 = performance.now();
      const ic0 = process.cpuUsage();
      await sleep(EVERY_MS);
      const idleService = cpuMs(process.cpuUsage(ic0));
      const i1 = performance.now();
      const s1 = serverTicks(postmasters);
      const i2 = performance.now();
      // collection window: one collection, then the rest of the window
      const s2 = serverTicks(postmasters);
      const w0 = performance.now();
      const c0 = process.cpuUsage();
      const samples = await svc.collector.collect();
      const service = cpuMs(process.cpuUsage(c0));
      const w1 = performance.now();
      await sleep(Math.max(0, EVERY_MS - (w1 - w0)));
      const w2 = performance.now();
      const s3 = serverTicks(postmasters);
      const w3 = performance.now();
      for (const s of samples) lastSample.set(`${s.clusterId}/${s.ordinal}`, s);

      const idleServerMs = ((s1 - s0) * 1000) / CLOCK_TICKS;
      // the idle window's server time scaled to the collection window (each from scan to scan)
      const idleWindow = (i1 + i2) / 2 - i0;
      const collWindow = w3 - (i2 + w0) / 2;
      const serverMs = ((s3 - s2) * 1000) / CLOCK_TICKS;
      const round: Round = {
        wallMs: w1 - w0,
        serviceMs: service,
        serviceNetMs: service - (idleService / (i1 - i0)) * (w1 - w0),
        serverMs,
        serverNetMs: serverMs - idleServerMs * (collWindow / idleWindow),
        idleServerMs,
        idleServiceMs: idleService,
        rows: samples.length,
      };
      rounds.push(round);
      out(
        `round ${String(r + 1).padStart(2)}: collect ${ms(round.wallMs)} wall, service ${ms(round.serviceMs)} CPU (net ${ms(round.serviceNetMs)}), ` +
          `servers ${ms(round.serverMs)} (idle window ${ms(idleServerMs)}, net ${ms(round.serverNetMs)}), ${round.rows} rows` +
          (w2 - w0 > EVERY_MS + 50 ? ' (the collection outlasted its window)' : ''),
      );
    }

    let stored = 0;
    for (const c of clusters)
      stored += (await svc.store.listMetricSamples({ clusterId: c.id, resolution: 0, fromS: 0, toS: Math.ceil(Date.now() / 1000) + 1 }))
        .length;

    const col = <K extends keyof Round>(k: K): number[] => rounds.map((x) => x[k]);
    out();
    out(`per collection, ${ROUNDS} rounds (${members.length} members of ${clusters.length} clusters):`);
    const line = (name: string, xs: number[]): void =>
      out(`  ${name.padEnd(40)} median ${ms(median(xs)).padStart(10)}   max ${ms(max(xs)).padStart(10)}`);
    line('wall time of collect()', col('wallMs'));
    line('service CPU (process.cpuUsage), raw', col('serviceMs'));
    line('service CPU, net of its idle rate', col('serviceNetMs'));
    line('servers CPU (/proc), collection window', col('serverMs'));
    line('servers CPU, idle window before it', col('idleServerMs'));
    line('servers CPU, net', col('serverNetMs'));
    line('service CPU in the idle window', col('idleServiceMs'));
    out(`  rows written per collection: median ${median(col('rows'))} (min ${Math.min(...col('rows'))}); rows in the store: ${stored}`);
    const svcRaw = median(col('serviceMs'));
    const svcNet = median(col('serviceNetMs'));
    const srvRaw = median(col('serverMs'));
    const srvNet = median(col('serverNetMs'));
    out();
    out(`cost at one collection every ${DEFAULT_INTERVAL_S} s (the default), % of one core, from the medians:`);
    out(`  service  raw ${pct(pctAt15(svcRaw))}   net ${pct(pctAt15(svcNet))}`);
    out(`  servers  raw ${pct(pctAt15(srvRaw))}   net ${pct(pctAt15(srvNet))}`);
    out(
      `  sum      raw ${pct(pctAt15(svcRaw + srvRaw))}   net ${pct(pctAt15(svcNet + srvNet))}   (D29's target: < 2 % for 20 clusters; ` +
        `per cluster net ${pct(pctAt15(svcNet + srvNet) / Math.max(1, clusters.length))})`,
    );

    // ---------------------------------------------------------------- where the time goes
    // The parts of a collection, each over every member (clusters in turn, a cluster's members at
    // once, as the collector does), `--store-calls` passes each: the /proc files the reading opens
    // (stat, smaps_rollup and io of the postmaster and of each child), a connection that runs
    // `select 1`, and the whole reading (`DataPlane.memberReading`: /proc, a connection, the query).
    const engine = svc.dataPlane as unknown as {
      instance?: (
        c: ClusterRecord,
        n: NodeRecord,
      ) => { query(text: string, p: unknown[], db: string, timeoutMs: number): Promise<unknown[]> };
    };
    const idleServerRate = median(col('idleServerMs')) / EVERY_MS;
    const part = async (name: string, fn: (m: (typeof members)[number]) => Promise<unknown> | unknown): Promise<void> => {
      const svcMs: number[] = [];
      const srvMs: number[] = [];
      const wallMs: number[] = [];
      for (let p = 0; p < STORE_CALLS; p++) {
        const s0 = serverTicks(postmasters);
        const w0 = performance.now();
        const c0 = process.cpuUsage();
        for (const c of clusters) await Promise.all(members.filter((m) => m.c.id === c.id).map((m) => fn(m)));
        svcMs.push(cpuMs(process.cpuUsage(c0)));
        const w1 = performance.now();
        wallMs.push(w1 - w0);
        await sleep(Math.max(0, EVERY_MS - (w1 - w0)));
        const w2 = performance.now();
        srvMs.push(((serverTicks(postmasters) - s0) * 1000) / CLOCK_TICKS - idleServerRate * (w2 - w0));
      }
      out(
        `  ${name.padEnd(44)} wall ${ms(median(wallMs)).padStart(9)}  service CPU ${ms(median(svcMs)).padStart(9)}  servers CPU (net) ${ms(median(srvMs)).padStart(9)}` +
          `  per member: service ${ms(median(svcMs) / members.length)}, servers ${ms(median(srvMs) / members.length)}`,
      );
    };
    out();
    out(`where a collection's time goes, all ${members.length} members, median of ${STORE_CALLS} passes:`);
    const procFiles = (pid: number): void => {
      for (const f of ['stat', 'smaps_rollup', 'io']) {
        try {
          readFileSync(`/proc/${pid}/${f}`, 'utf8');
        } catch {
          /* gone */
        }
      }
    };
    await part('/proc files (stat, smaps_rollup, io) only', (m) => {
      procFiles(m.pid);
      for (const c of childProcesses(m.pid)) procFiles(c);
    });
    await part('smaps_rollup files only', (m) => {
      for (const pid of [m.pid, ...childProcesses(m.pid)]) {
        try {
          readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
        } catch {
          /* gone */
        }
      }
    });
    if (engine.instance) {
      const inst = engine.instance.bind(svc.dataPlane);
      await part('a connection running select 1', (m) => inst(m.c, m.n).query('select 1', [], 'postgres', 10_000));
    }
    await part('memberReading (the whole reading)', (m) => svc.dataPlane.memberReading(m.c, m.n, Date.now()));
    const children = members.map((m) => childProcesses(m.pid).length);
    out(`  processes per member read from /proc: median ${median(children) + 1} (the postmaster and its children)`);

    // ---------------------------------------------------------------- store side
    const store = svc.store;
    const perMember = DAY_S / DEFAULT_INTERVAL_S;
    // the synthetic day ends at a 5-minute boundary before the rounds' own samples
    const endS = Math.floor((Math.floor(started / 1000) - 600) / 300) * 300;
    const fromS = endS - DAY_S;
    const jitter = (v: number | null): number | null => (v === null ? null : v * (0.9 + 0.2 * Math.random()));
    const fill0 = performance.now();
    const fillCpu0 = process.cpuUsage();
    let batch: MetricSample[] = [];
    let inserted = 0;
    for (const m of members) {
      const tpl = lastSample.get(`${m.c.id}/${m.n.ordinal}`);
      for (let k = 0; k < perMember; k++) {
        const s = {
          clusterId: m.c.id,
          projectId: m.c.projectId,
          ordinal: m.n.ordinal,
          at: fromS + k * DEFAULT_INTERVAL_S,
          samples: 1,
          primary: tpl?.primary ?? m.n.ordinal === 1,
        } as MetricSample;
        for (const f of METRIC_FIELDS) s[f] = jitter(tpl?.[f] ?? 1);
        batch.push(s);
        if (batch.length === 500) {
          await store.insertMetricSamples(batch);
          inserted += batch.length;
          batch = [];
        }
      }
    }
    if (batch.length) await store.insertMetricSamples(batch);
    inserted += batch.length;
    const fillMs = performance.now() - fill0;
    out();
    out(
      `store side (${isPostgresUrl(svc.config.store) ? 'PostgreSQL' : 'SQLite'} store of the service): a day of samples, ${perMember} rows per member, ` +
        `${inserted} rows inserted in batches of 500 in ${(fillMs / 1000).toFixed(1)} s ` +
        `(${Math.round(inserted / (fillMs / 1000))} rows/s, ${(cpuMs(process.cpuUsage(fillCpu0)) / 1000).toFixed(1)} s CPU)`,
    );

    // rollups: the collector's 12 windows a call from the oldest window, until caught up to endS
    const catchUp = { wall: [] as number[], cpu: [] as number[] };
    let windows = 0;
    for (;;) {
      const r = await timeCalls(1, () => store.rollUpMetrics(endS, ROLLUP_WINDOWS_PER_TICK));
      const done = r.results[0]!;
      if (done === 0) break;
      windows += done;
      if (done === ROLLUP_WINDOWS_PER_TICK) {
        catchUp.wall.push(r.wall[0]!);
        catchUp.cpu.push(r.cpu[0]!);
      }
    }
    out(describe(`rollUpMetrics, ${ROLLUP_WINDOWS_PER_TICK} windows a call (catching up)`, catchUp, `; ${windows} windows in all`));
    out(
      `  ${'  the same per window'.padEnd(46)} median ${ms(median(catchUp.wall) / ROLLUP_WINDOWS_PER_TICK).padStart(10)} wall, ` +
        `${ms(median(catchUp.cpu) / ROLLUP_WINDOWS_PER_TICK).padStart(10)} CPU`,
    );
    const rollIdle = await timeCalls(STORE_CALLS, () => store.rollUpMetrics(endS, ROLLUP_WINDOWS_PER_TICK));
    out(describe('rollUpMetrics, nothing to do', rollIdle));

    // pruning raw samples: nothing expired; one collection's worth (15 s) expired; a whole chunk
    const pruneNone = await timeCalls(STORE_CALLS, () => store.pruneMetricSamples(0, fromS, RAW_PRUNE_CHUNK_S));
    out(describe('pruneMetricSamples raw, nothing expired', pruneNone));
    const pruneStep = await timeCalls(STORE_CALLS, (i) =>
      store.pruneMetricSamples(0, fromS + (i + 1) * DEFAULT_INTERVAL_S, RAW_PRUNE_CHUNK_S),
    );
    out(describe(`pruneMetricSamples raw, ${DEFAULT_INTERVAL_S} s expired`, pruneStep, `; rows removed ${pruneStep.results.join(', ')}`));
    const pruneChunk = await timeCalls(STORE_CALLS, () => store.pruneMetricSamples(0, endS, RAW_PRUNE_CHUNK_S));
    out(describe(`pruneMetricSamples raw, a ${RAW_PRUNE_CHUNK_S} s chunk`, pruneChunk, `; rows removed ${pruneChunk.results.join(', ')}`));
    const pruneRollups = await timeCalls(STORE_CALLS, () => store.pruneMetricSamples(300, fromS, ROLLUP_PRUNE_CHUNK_S));
    out(describe('pruneMetricSamples rollups, nothing expired', pruneRollups));
    const steadyMs = median(rollIdle.cpu) + median(pruneStep.cpu) + median(pruneRollups.cpu);
    out(
      `  a steady collection's upkeep (rollup with nothing to do + ${DEFAULT_INTERVAL_S} s of raw rows pruned + rollups nothing expired): ` +
        `${ms(steadyMs)} CPU, ${pct(pctAt15(steadyMs))} of one core at ${DEFAULT_INTERVAL_S} s`,
    );

    out();
    out(
      JSON.stringify({
        bench: 'collector',
        at: new Date(started).toISOString(),
        git,
        engine: testEngine(),
        clusters: clusters.length,
        members: members.length,
        everyMs: EVERY_MS,
        rounds,
        storedRows: stored,
        store: {
          inserted,
          fillMs,
          rollupCatchUp: catchUp,
          windows,
          rollupIdle: rollIdle,
          pruneNone,
          pruneStep,
          pruneChunk,
          pruneRollups,
        },
      }),
    );
  } finally {
    if (t) {
      const svc = t;
      const d0 = Date.now();
      await Promise.all(
        made.map(async (id) => {
          try {
            await svc.client.call('DELETE', `/v1.0/{project_id}/clusters/${id}`, { keep_last_manual_snapshot: 0 });
            await waitFor(async () => (await svc.client.request('GET', `/v1.0/{project_id}/clusters/${id}`)).status === 404 || null, {
              timeoutMs: 300_000,
              intervalMs: 500,
              what: `cluster ${id} to be deleted`,
            });
          } catch (e) {
            out(`clean-up: deleting cluster ${id} failed: ${(e as Error).message}`);
          }
        }),
      );
      out(`deleted ${made.length} clusters in ${((Date.now() - d0) / 1000).toFixed(0)} s`);
      await t.stop().catch((e: unknown) => {
        out(`stopping the service: ${(e as Error).message}`);
        process.exitCode = 1;
      });
    }
    // On the Patroni engine: the run's host agent, with its etcd.
    await stopTestAgent();
  }
}

await main();
