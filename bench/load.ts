/**
 * Load: many API clients at once against one service, while real work runs (issue 6).
 *
 *   npx tsx bench/load.ts [--seconds 120] [--warmup 30] [--clients 50] [--mb 20]
 *
 * The service runs as a child process (`dwsbox serve`, the way a user runs it; SQLite store,
 * info-level logs, a real fsync as in every benchmark, D20), so its resident memory is its own:
 * VmRSS of /proc/<pid>/status. Set-up, not measured: a 3-node dwsx.small cluster with about
 * --mb MB of table data. Then, for --seconds:
 * - --clients closed-loop clients (each sends its next request when the last one has been
 *   answered, no pause), signed with AK/SK through the CLI's DwsClient, in turn:
 *   GET /v1/{project_id}/clusters/{id}/actions/SNAPSHOTTING, …/actions/GROWING (the
 *   task-details endpoint) and GET /v1.0/{project_id}/clusters;
 * - one workload driver, in a loop on that cluster: a snapshot (until AVAILABLE), a scale-out
 *   by one node (until number_of_node grew), a scale-in back (until it shrank).
 * No error is allowed: any answer other than 2xx fails the run, except a 404 DWS.9902 from the
 * task-details endpoint for an action the cluster never had (no such task accepted before the
 * request was sent); so does any network error, and a snapshot or scale task that fails.
 * Resident memory is read after --warmup seconds and at the end (and every second, for the
 * maximum); the run fails when the end is more than 20 % above the warm-up level.
 * Prints a summary (requests, errors, rate, p50/p95/p99/max latency, RSS warm-up/end/max,
 * snapshots, scale-outs and scale-ins done); exits 1 when the run failed.
 *
 * `runLoad` is also what test/e2e/load.test.ts runs (15 s, 5 s warm-up).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { DwsClient } from '../src/cli/client.js';
import { busyTicks, CLOCK_TICKS, cpuTicks } from './cpu.js';
import { startChildService, type ChildService } from '../test/helpers/child-service.js';
import { freePort } from '../test/helpers/env.js';
import { ADMIN_PASSWORD, ACCESS_KEY, PROJECT_ID, SECRET_KEY, createAvailableCluster, getCluster } from '../test/helpers/service.js';

export interface LoadOptions {
  /** how long the clients run (default 120) */
  seconds?: number;
  /** RSS reference point, seconds after the start of the load (default 30) */
  warmupSeconds?: number;
  /** concurrent clients (default 50) */
  clients?: number;
  /** MB of table data in the cluster (default 20) */
  dataMb?: number;
  /** TEST ONLY: nodes with fsync=off (the CI version); never in the benchmark (D20) */
  unsafeNoFsync?: boolean;
  /** the end's resident memory at most this times the warm-up's (default 1.2) */
  rssLimit?: number;
  /** progress lines (default: none) */
  log?: (line: string) => void;
}

export interface LoadResult {
  seconds: number;
  clients: number;
  /** requests answered to the polling clients */
  requests: number;
  /** requests of the workload driver (snapshot, resize, shrink and their polling) */
  workloadRequests: number;
  errors: number;
  errorSamples: string[];
  /** expected 404s: task details of an action the cluster did not have yet */
  expected404: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  byRoute: Record<string, { requests: number; p99: number }>;
  rssMb: { warmup: number; end: number; max: number; ratio: number; limit: number };
  rssOk: boolean;
  /** each second of the run: requests answered, their slowest, and the service's RSS */
  timeline: { second: number; requests: number; maxMs: number; rssMb: number }[];
  /** mean seconds of each workload operation (as the driver saw it, polling every 250 ms) */
  workloadSeconds: { snapshot: number | null; scaleOut: number | null; scaleIn: number | null };
  /** the service's own view, from its /metrics at the end (prom-client's Node.js metrics, over the whole run) */
  service: { eventLoopLagMaxMs: number | null; eventLoopLagP99Ms: number | null; gcSeconds: number | null };
  /**
   * cores used over the run, from /proc: the service's own process, this process (the 50
   * pollers and the driver: the load generator), and the whole machine (the tasks' tools too)
   */
  cpu: { service: number; generator: number; machine: number };
  snapshots: number;
  scaleOuts: number;
  scaleIns: number;
  ok: boolean;
}

/** A few figures from the service's Prometheus text. */
async function serviceFigures(endpoint: string): Promise<LoadResult['service']> {
  try {
    const text = await (await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const one = (name: string): number | null => {
      const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(text);
      return m ? Number(m[1]) : null;
    };
    const gc = [...text.matchAll(/^nodejs_gc_duration_seconds_sum\{[^}]*\} ([0-9.eE+-]+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    const ms = (v: number | null): number | null => (v === null ? null : round(v * 1000));
    return {
      eventLoopLagMaxMs: ms(one('nodejs_eventloop_lag_max_seconds')),
      eventLoopLagP99Ms: ms(one('nodejs_eventloop_lag_p99_seconds')),
      gcSeconds: round(gc, 2),
    };
  } catch {
    return { eventLoopLagMaxMs: null, eventLoopLagP99Ms: null, gcSeconds: null };
  }
}

type ActionKey = 'SNAPSHOTTING' | 'GROWING';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** VmRSS of a process, in MB (10^6 bytes). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return (Number(m[1]) * 1024) / 1e6;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

class Latencies {
  private buf = new Float64Array(1 << 16);
  n = 0;
  add(ms: number): void {
    if (this.n === this.buf.length) {
      const b = new Float64Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.n++] = ms;
  }
  sorted(): Float64Array {
    return this.buf.slice(0, this.n).sort();
  }
}

async function loadData(connectInfo: string, mb: number): Promise<void> {
  const [host, port] = connectInfo.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
  await c.connect();
  try {
    // About 250 bytes a row.
    const rows = Math.ceil((mb * 1e6) / 250);
    await c.query(
      `create table load_data as select g as id, md5(g::text) || repeat('x', 200) as payload from generate_series(1, ${rows}) g`,
    );
    await c.query('alter table load_data add primary key (id)');
  } finally {
    await c.end();
  }
}

export async function runLoad(o: LoadOptions = {}): Promise<LoadResult> {
  const seconds = o.seconds ?? 120;
  const warmupSeconds = o.warmupSeconds ?? 30;
  const clients = o.clients ?? 50;
  const log = o.log ?? (() => {});
  if (warmupSeconds >= seconds) throw new Error('the warm-up must be shorter than the run');

  // The service's own figures come from the operator's local metrics listener (every series,
  // no credentials; on the API's address /metrics needs an operator credential: docs/security.md).
  const metricsPort = await freePort();
  const svc: ChildService = await startChildService({
    settings: {
      // Production-like timings and log level; crash and tenant faults off (it uses none).
      logLevel: 'info',
      enableCrashFaults: false,
      enableTenantFaults: false,
      unsafeNoFsync: o.unsafeNoFsync ?? false,
      pollMs: 250,
      monitorIntervalMs: 2000,
      leaseMs: 15_000,
      metricsHost: '127.0.0.1',
      metricsPort,
    },
    // DWSBOX_BENCH_CPU_PROF=<dir>: the service writes a CPU profile there when it stops (node --cpu-prof).
    ...(process.env['DWSBOX_BENCH_CPU_PROF'] ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${process.env['DWSBOX_BENCH_CPU_PROF']}`] } : {}),
  });
  let stop = false;
  const errorSamples: string[] = [];
  let errors = 0;
  const fail = (what: string): void => {
    errors++;
    if (errorSamples.length < 20) errorSamples.push(what);
  };
  try {
    log(`service pid ${svc.pid} on ${svc.endpoint}; creating a 3-node cluster with ${o.dataMb ?? 20} MB`);
    const cluster = await createAvailableCluster(svc.client, { name: 'load' });
    await loadData(cluster.detail.endpoints[0]!.connect_info, o.dataMb ?? 20);
    const id = cluster.id;

    // When the first task of each action was accepted: a 404 for it after that is an error.
    const acceptedAt: Record<ActionKey, number> = { SNAPSHOTTING: Infinity, GROWING: Infinity };
    let expected404 = 0;
    const lat = new Latencies();
    const routeLat = new Map<string, Latencies>();
    let requests = 0;
    let workloadRequests = 0;

    const routes: { name: string; path: string; action?: ActionKey }[] = [
      { name: 'GET actions/SNAPSHOTTING', path: `/v1/{project_id}/clusters/${id}/actions/SNAPSHOTTING`, action: 'SNAPSHOTTING' },
      { name: 'GET actions/GROWING', path: `/v1/{project_id}/clusters/${id}/actions/GROWING`, action: 'GROWING' },
      { name: 'GET clusters', path: '/v1.0/{project_id}/clusters' },
    ];
    const client = (): DwsClient =>
      new DwsClient({ endpoint: svc.endpoint, projectId: PROJECT_ID, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, timeoutMs: 30_000 });

    const poller = async (k: number): Promise<void> => {
      const c = client();
      for (let i = k; !stop; i++) {
        const r = routes[i % routes.length]!;
        const sentAt = performance.now();
        try {
          const res = await c.request<{ error_code?: string }>('GET', r.path);
          const ms = performance.now() - sentAt;
          requests++;
          lat.add(ms);
          const sec = timeline[Math.floor((sentAt + ms - t0) / 1000)];
          if (sec) {
            sec.requests++;
            sec.maxMs = Math.max(sec.maxMs, ms);
          }
          let rl = routeLat.get(r.name);
          if (!rl) routeLat.set(r.name, (rl = new Latencies()));
          rl.add(ms);
          if (res.status >= 200 && res.status < 300) continue;
          if (res.status === 404 && r.action && res.body?.error_code === 'DWS.9902' && sentAt < acceptedAt[r.action]) {
            expected404++;
            continue;
          }
          fail(`${r.name}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        } catch (e) {
          if (!stop) fail(`${r.name}: network error ${(e as Error).message}`);
        }
      }
    };

    // The workload driver's own requests: errors count; latency is the pollers'.
    const wl = client();
    const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      workloadRequests++;
      const res = await wl.request<T>(method, path, body);
      if (res.status < 200 || res.status >= 300)
        throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      return res.body;
    };
    interface Detail {
      status: string;
      task_status: string;
      number_of_node: number;
      action_progress: Record<string, string>;
    }
    const idle = async (until: (d: Detail) => boolean): Promise<Detail | null> => {
      for (;;) {
        if (stop) return null;
        const d = (await call<{ cluster: Detail }>('GET', `/v1.0/{project_id}/clusters/${id}`)).cluster;
        if (Object.keys(d.action_progress).length === 0 && d.task_status !== 'GROWING' && d.task_status !== 'CLUSTER_SHRINKING' && until(d))
          return d;
        await sleep(250);
      }
    };
    let snapshots = 0;
    let scaleOuts = 0;
    let scaleIns = 0;
    const took: Record<'snapshot' | 'scaleOut' | 'scaleIn', number[]> = { snapshot: [], scaleOut: [], scaleIn: [] };
    const workload = async (): Promise<void> => {
      try {
        for (let n = 1; !stop; n++) {
          let began = performance.now();
          const snap = await call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
            snapshot: { name: `load-${n}`, cluster_id: id },
          });
          acceptedAt.SNAPSHOTTING = Math.min(acceptedAt.SNAPSHOTTING, performance.now());
          for (;;) {
            if (stop) return;
            const s = (await call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${snap.snapshot.id}`)).snapshot;
            if (s.status === 'AVAILABLE') break;
            if (s.status !== 'CREATING') throw new Error(`snapshot load-${n} ended ${s.status}`);
            await sleep(250);
          }
          snapshots++;
          took.snapshot.push(performance.now() - began);
          if (!(await idle(() => true))) return;
          const before = (await getCluster(wl, id)).number_of_node;
          began = performance.now();
          await call('POST', `/v1.0/{project_id}/clusters/${id}/resize`, { scale_out: { count: 1 } });
          acceptedAt.GROWING = Math.min(acceptedAt.GROWING, performance.now());
          const grown = await idle((d) => d.number_of_node !== before || d.task_status === 'RESIZE_FAILURE');
          if (!grown) return;
          if (grown.number_of_node !== before + 1)
            throw new Error(`scale-out ended with ${grown.number_of_node} nodes, task_status ${grown.task_status}`);
          scaleOuts++;
          took.scaleOut.push(performance.now() - began);
          began = performance.now();
          await call('POST', `/v1.0/{project_id}/clusters/${id}/cluster-shrink`, { shrink_number: 1 });
          const shrunk = await idle((d) => d.number_of_node !== before + 1 || d.task_status === 'CLUSTER_SHRINK_FAILED');
          if (!shrunk) return;
          if (shrunk.number_of_node !== before)
            throw new Error(`scale-in ended with ${shrunk.number_of_node} nodes, task_status ${shrunk.task_status}`);
          scaleIns++;
          took.scaleIn.push(performance.now() - began);
          log(
            `workload: ${snapshots} snapshots, ${scaleOuts} scale-outs, ${scaleIns} scale-ins; ${requests} requests, ${errors} errors, RSS ${rssMb(svc.pid).toFixed(1)} MB`,
          );
        }
      } catch (e) {
        if (!stop) fail(`workload: ${(e as Error).message}`);
      }
    };

    log(`load: ${clients} clients for ${seconds} s (RSS warm-up reading at ${warmupSeconds} s)`);
    const t0 = performance.now();
    const cpu0 = { service: cpuTicks(svc.pid) ?? 0, generator: cpuTicks(process.pid) ?? 0, machine: busyTicks() };
    const timeline: LoadResult['timeline'] = Array.from({ length: seconds + 1 }, (_, second) => ({
      second,
      requests: 0,
      maxMs: 0,
      rssMb: 0,
    }));
    const workloadDone = workload();
    const pollers = Array.from({ length: clients }, (_, k) => poller(k));
    let rssMax = rssMb(svc.pid);
    const rssTimer = setInterval(() => {
      try {
        const now = rssMb(svc.pid);
        rssMax = Math.max(rssMax, now);
        const sec = timeline[Math.floor((performance.now() - t0) / 1000)];
        if (sec) sec.rssMb = round(now);
      } catch {
        /* gone: reported below */
      }
    }, 1000);
    let rssWarm = 0;
    let rssEnd = 0;
    try {
      await sleep(warmupSeconds * 1000);
      rssWarm = rssMb(svc.pid);
      log(`warm-up done: RSS ${rssWarm.toFixed(1)} MB, ${requests} requests so far`);
      await sleep((seconds - warmupSeconds) * 1000);
      rssEnd = rssMb(svc.pid);
      rssMax = Math.max(rssMax, rssEnd);
    } finally {
      stop = true;
      clearInterval(rssTimer);
    }
    const elapsed = (performance.now() - t0) / 1000;
    const cores = (ticks: number): number => round(ticks / CLOCK_TICKS / elapsed, 2);
    const cpu = {
      service: cores((cpuTicks(svc.pid) ?? 0) - cpu0.service),
      generator: cores((cpuTicks(process.pid) ?? 0) - cpu0.generator),
      machine: cores(busyTicks() - cpu0.machine),
    };
    await Promise.all(pollers);
    const service = await serviceFigures(`http://127.0.0.1:${metricsPort}`);
    // The driver stops between two requests; a task it started may still run (the service is stopped below).
    await workloadDone;

    const sorted = lat.sorted();
    const byRoute: LoadResult['byRoute'] = {};
    for (const [name, l] of routeLat) byRoute[name] = { requests: l.n, p99: round(percentile(l.sorted(), 99)) };
    const ratio = rssEnd / rssWarm;
    const rssLimit = o.rssLimit ?? 1.2;
    const rssOk = ratio <= rssLimit;
    const result: LoadResult = {
      seconds,
      clients,
      requests,
      workloadRequests,
      errors,
      errorSamples,
      expected404,
      requestsPerSecond: round(requests / elapsed),
      latencyMs: {
        p50: round(percentile(sorted, 50)),
        p95: round(percentile(sorted, 95)),
        p99: round(percentile(sorted, 99)),
        max: round(sorted[sorted.length - 1] ?? 0),
      },
      byRoute,
      rssMb: { warmup: round(rssWarm), end: round(rssEnd), max: round(rssMax), ratio: round(ratio, 3), limit: rssLimit },
      rssOk,
      snapshots,
      scaleOuts,
      scaleIns,
      service,
      cpu,
      timeline: timeline.filter((x) => x.second < seconds).map((x) => ({ ...x, maxMs: round(x.maxMs) })),
      workloadSeconds: { snapshot: meanSeconds(took.snapshot), scaleOut: meanSeconds(took.scaleOut), scaleIn: meanSeconds(took.scaleIn) },
      ok: errors === 0 && rssOk && requests > 0,
    };
    return result;
  } finally {
    stop = true;
    // A profiled service writes its profile when it exits by itself (SIGTERM), not when killed.
    if (process.env['DWSBOX_BENCH_CPU_PROF'] && svc.kill('SIGTERM')) await svc.waitExit(60_000).catch(() => undefined);
    await svc.cleanup();
  }
}

function meanSeconds(ms: number[]): number | null {
  return ms.length ? round(ms.reduce((a, b) => a + b, 0) / ms.length / 1000) : null;
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function summary(r: LoadResult): string {
  return [
    `requests:   ${r.requests} from ${r.clients} clients in ${r.seconds} s (${r.requestsPerSecond}/s), plus ${r.workloadRequests} of the workload driver`,
    `errors:     ${r.errors}${r.errorSamples.length ? ` (${r.errorSamples.slice(0, 5).join(' | ')})` : ''}; expected 404s (no such task yet): ${r.expected404}`,
    `latency:    p50 ${r.latencyMs.p50} ms, p95 ${r.latencyMs.p95} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms`,
    ...Object.entries(r.byRoute).map(([k, v]) => `            ${k}: ${v.requests} requests, p99 ${v.p99} ms`),
    `RSS:        warm-up ${r.rssMb.warmup} MB, end ${r.rssMb.end} MB (x${r.rssMb.ratio}; limit x${r.rssMb.limit}: ${r.rssOk ? 'ok' : 'EXCEEDED'}), max ${r.rssMb.max} MB`,
    `service:    event-loop delay max ${r.service.eventLoopLagMaxMs ?? '?'} ms (p99 ${r.service.eventLoopLagP99Ms ?? '?'} ms), GC ${r.service.gcSeconds ?? '?'} s in all`,
    `CPU:        service ${r.cpu.service} cores, load generator ${r.cpu.generator} (this process), whole machine ${r.cpu.machine} of ${availableParallelism()}`,
    `workload:   ${r.snapshots} snapshots, ${r.scaleOuts} scale-outs, ${r.scaleIns} scale-ins (mean ${r.workloadSeconds.snapshot ?? '-'} s, ${r.workloadSeconds.scaleOut ?? '-'} s, ${r.workloadSeconds.scaleIn ?? '-'} s)`,
    `slowest seconds: ${[...r.timeline]
      .sort((a, b) => b.maxMs - a.maxMs)
      .slice(0, 3)
      .map((x) => `${x.second}s (max ${x.maxMs} ms, ${x.requests} requests)`)
      .join(', ')}`,
    `result:     ${r.ok ? 'PASS' : 'FAIL'}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '120' },
      warmup: { type: 'string', default: '30' },
      clients: { type: 'string', default: '50' },
      mb: { type: 'string', default: '20' },
    },
  });
  const r = await runLoad({
    seconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    clients: Number(values.clients),
    dataMb: Number(values.mb),
    log: (l) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${l}\n`),
  });
  process.stdout.write(summary(r) + '\n' + JSON.stringify(r) + '\n');
  process.exitCode = r.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  });
}
