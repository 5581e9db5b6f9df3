/**
 * HTTP: dwsbox's read routes against a bare Fastify 5 route that returns the same bytes (issue 14).
 *
 *   npx tsx bench/http.ts [--seconds 10] [--connections 50] [--runs 2] [--warmup 3]
 *                         [--store sqlite|postgres] [--only <route>[,<route>…]] [--timeout 10]
 *                         [--cpu-prof [--prof-dir <dir>]]
 *
 * Routes (`--only` takes one or several, comma-separated): actions-aksk, actions-token,
 * cluster, clusters, snapshots, job, node-types, healthz.
 *
 * What is measured. For each route, dwsbox's answer is captured once (status, Content-Type, body
 * bytes); a bare Fastify 5 server (bench/http-bare.ts: one route under the same URL pattern, no
 * logger, no hooks) then returns exactly those bytes. autocannon 9 (programmatic API) drives each
 * side with `--connections` keep-alive connections, closed loop, for `--seconds`: one warm-up of
 * `--warmup` s each (not counted), then `--runs` rounds of bare, dwsbox, bare, dwsbox, … so drift
 * on the machine hits both alike. Reported: the medians over the runs of requests per second
 * (2xx answers over the run's wall time) and of p50/p99 latency (every 2xx answer's time, from
 * autocannon's per-response event, not its 1 ms histogram), and ratio = dwsbox/bare req/s. Any
 * non-2xx answer, error or timeout is counted and printed; a run with any is marked.
 *
 * Why separate processes. dwsbox runs as `dwsbox serve` does (`node bin/dwsbox.js serve`: the
 * built code in dist/, which the bench builds first with `npm run build`, so what is measured is
 * the checkout's source as users run it; production settings, info-level logs on stdout; before
 * 2026-12-05 the bench ran the TypeScript through tsx, whose transform wraps every function
 * made at run time in a naming helper), in a child process, as does the bare
 * server; autocannon runs in this process. So the service and the load generator never share an
 * event loop, as with a real client, and the bare route gets the same treatment. The machine has
 * 2 cores: the load generator takes a share of them on both sides alike (the per-run CPU of the
 * server process is in the JSON line). The service's stdout (one JSON line per request, the
 * logger doing its full work) goes to a file in its data directory, truncated after each run
 * (its bytes per request are reported).
 *
 * The store. A fresh data directory under /tmp each time (nothing is cached across runs): the
 * store is migrated and seeded through the store layer (bench/http-seed.ts: 1,000 clusters,
 * 3,000 nodes, 20,000 snapshots, 50,000 tasks with their real step plans and some progress
 * samples in project A; a few of each in project B) BEFORE the service starts. The seeded
 * clusters are stopped clusters (status UNAVAILABLE, `stopped`, node health `stopped`, the
 * state `cluster.stop` leaves): the health monitor never starts a stopped cluster, neither at
 * start-up (`adopt` skips them) nor in its checks, and finds nothing to write for one. Its
 * periodic check still walks every cluster (about three queries each): the service runs with
 * `--monitor-interval-ms 600000` (the setting's maximum) and is started afresh for each route,
 * so that walk over 1,000 clusters never lands inside a measurement, which is about the
 * request path (and no route runs in a process another route has loaded). Every other setting
 * is the default, fsync included (D20), but the engine: local (the seeded clusters never run).
 *
 * Slow routes. A route is measured under `--connections` connections only when that load
 * lets a run count answers: when one warm request takes so long that, with a request on every
 * connection, each would take over half a run, dwsbox is measured with one connection (marked
 * "1 conn."); when even the first request takes longer than a run, that one request is its
 * figure (marked "1 request"). A server whose work is on its one thread answers about as many
 * requests per second either way; without this, a run would count few answers or none and
 * end with minutes of answers nobody waits for. The bare side always gets `--connections`. With bodies of megabytes the load generator, not the bare
 * server, is the limit (the bare server's CPU per run is in the JSON line).
 *
 * Credentials. AK/SK: signed with the project's signer (src/auth/signer.ts, the headers
 * src/cli/client.ts sends), once per run: a GET's X-Sdk-Date is valid for 15 minutes, and the
 * service checks the signature on every request. Token: issued by the running service through
 * POST /v3/auth/tokens for a user the seeding created. Routes 3–7 use AK/SK (what the SDKs
 * send); /healthz no credential. The bare route gets the same request headers.
 *
 * Paging. ListClusters and ListSnapshots are asked for a page of 50 from the middle of the list
 * (`?limit=50&offset=500` of 1,000 clusters, `?limit=50&offset=10000` of 20,000 snapshots:
 * `limit` and `offset` are a dwsbox extension, src/api/routes/clusters.ts and snapshots.ts). A
 * dwsbox from before they existed (before commit 0cfe870) ignores the query and answers the
 * whole list: the body size in the table says which.
 *
 * `--store postgres`: a PostgreSQL 15 server for the store (bench/store-pg.ts, durable
 * settings), and TWO dwsbox processes on it, both serving; autocannon's connections go to the
 * two in turn (one histogram for both, as behind a load balancer: the signature's Host is the
 * first process's, and both accept it). The bare side is two bare processes the same way.
 *
 * `--cpu-prof`: the service runs under `node --cpu-prof --cpu-prof-dir <dir>`; only one route
 * (`--only`, default ListClusterActions AK/SK) is measured, dwsbox alone, one warm-up and one
 * run of `--seconds`; the service is then stopped with SIGTERM so Node writes the profile. The
 * bench prints where the .cpuprofile went, with the run's time window for
 * bench/profile-summary.ts (`--from`/`--to`, CLOCK_MONOTONIC microseconds, the profile's clock).
 *
 * Targets (issue 14), printed next to each ratio and marked met or not; the exit code is 0 either
 * way (a measurement, not a test): SQLite — ListClusterActions with AK/SK at least 0.6× with a
 * p99 under 10 ms, /healthz at least 0.9×, every other route at least 0.4×; PostgreSQL with two
 * processes — at least 0.3×.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { request as httpRequest } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { AuthService } from '../src/auth/auth-service.js';
import { Secrets } from '../src/auth/secrets.js';
import { signRequest } from '../src/auth/signer.js';
import { systemClock } from '../src/domain/clock.js';
import { silentLogger } from '../src/log/logger.js';
import { migrate } from '../src/store/migrate.js';
import { openStore } from '../src/store/open-store.js';
import { freePort, processesUnder, removeDir, removeProjectUsersUnder, tempDir } from '../test/helpers/env.js';
import { ACCESS_KEY, PROJECT_ID, SECRET_KEY } from '../test/helpers/service.js';
import { BENCH_PASSWORD, BENCH_USER, seedStore, type SeedResult } from './http-seed.js';
import { childProcesses } from '../src/dataplane/process-info.js';
import { busyTicks, CLOCK_TICKS, cpuTicks, ticksOf } from './cpu.js';
import { startStorePg, type StorePg } from './store-pg.js';
import { gitInfo } from './git-info.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OTHER_PROJECT_ID = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';

type Auth = 'aksk' | 'token' | 'none';

interface RouteDef {
  /** --only accepts this */
  slug: string;
  name: string;
  auth: Auth;
  /** dwsbox's URL pattern (the bare route registers the same) */
  pattern: string;
  path(ctx: { projectId: string; clusterId: string; taskId: string }): string;
}

const ROUTES: RouteDef[] = [
  {
    slug: 'actions-aksk',
    name: 'ListClusterActions',
    auth: 'aksk',
    pattern: '/v1/:project_id/clusters/:cluster_id/actions/:action_name',
    path: (c) => `/v1/${c.projectId}/clusters/${c.clusterId}/actions/SNAPSHOTTING`,
  },
  {
    slug: 'actions-token',
    name: 'ListClusterActions',
    auth: 'token',
    pattern: '/v1/:project_id/clusters/:cluster_id/actions/:action_name',
    path: (c) => `/v1/${c.projectId}/clusters/${c.clusterId}/actions/SNAPSHOTTING`,
  },
  {
    slug: 'cluster',
    name: 'ListClusterDetails',
    auth: 'aksk',
    pattern: '/v1.0/:project_id/clusters/:cluster_id',
    path: (c) => `/v1.0/${c.projectId}/clusters/${c.clusterId}`,
  },
  {
    slug: 'clusters',
    name: 'ListClusters',
    auth: 'aksk',
    pattern: '/v1.0/:project_id/clusters',
    path: (c) => `/v1.0/${c.projectId}/clusters?limit=50&offset=500`,
  },
  {
    slug: 'snapshots',
    name: 'ListSnapshots',
    auth: 'aksk',
    pattern: '/v1.0/:project_id/snapshots',
    path: (c) => `/v1.0/${c.projectId}/snapshots?limit=50&offset=10000`,
  },
  {
    slug: 'job',
    name: 'ListJobDetails',
    auth: 'aksk',
    pattern: '/v1.0/:project_id/job/:job_id',
    path: (c) => `/v1.0/${c.projectId}/job/${c.taskId}`,
  },
  {
    slug: 'node-types',
    name: 'ListNodeTypes',
    auth: 'aksk',
    pattern: '/v2/:project_id/node-types',
    path: (c) => `/v2/${c.projectId}/node-types`,
  },
  { slug: 'healthz', name: '/healthz', auth: 'none', pattern: '/healthz', path: () => '/healthz' },
];

interface Target {
  minRatio: number;
  maxP99Ms: number | null;
  text: string;
}

function targetOf(r: RouteDef, store: 'sqlite' | 'postgres'): Target {
  if (store === 'postgres') return { minRatio: 0.3, maxP99Ms: null, text: '≥0.3× (PostgreSQL, 2 processes)' };
  if (r.slug === 'actions-aksk') return { minRatio: 0.6, maxP99Ms: 10, text: '≥0.6×, p99 <10 ms' };
  if (r.slug === 'healthz') return { minRatio: 0.9, maxP99Ms: null, text: '≥0.9×' };
  return { minRatio: 0.4, maxP99Ms: null, text: '≥0.4×' };
}

// ------------------------------------------------------------------ child processes

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Proc {
  pid: number;
  port: number;
  endpoint: string;
  alive(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs` */
  stop(graceMs?: number): Promise<ExitInfo>;
}

/**
 * Start a node script as a child under `setpriv --pdeathsig=KILL` (it dies with this process;
 * setpriv execs in place, so the PID is node's), never through a shell.
 */
function spawnNode(
  args: string[],
  o: { env: Record<string, string>; logFile: string | null },
): { child: ChildProcess; exited: Promise<ExitInfo> } {
  const fd = o.logFile ? openSync(o.logFile, 'a') : null;
  let child: ChildProcess;
  try {
    child = spawn('setpriv', ['--pdeathsig=KILL', '--', process.execPath, ...args], {
      cwd: REPO_ROOT,
      env: o.env,
      stdio: ['ignore', fd ?? 'pipe', fd ?? 'inherit'],
    });
  } finally {
    if (fd !== null) closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start node ${args.join(' ')}`);
  const exited = new Promise<ExitInfo>((res) => {
    child.once('exit', (code, signal) => res({ code, signal }));
    child.once('error', () => res({ code: -1, signal: null }));
  });
  return { child, exited };
}

function procOf(child: ChildProcess, exited: Promise<ExitInfo>, port: number): Proc {
  let exit: ExitInfo | null = null;
  void exited.then((e) => (exit = e));
  return {
    pid: child.pid!,
    port,
    endpoint: `http://127.0.0.1:${port}`,
    alive: () => exit === null,
    async stop(graceMs = 30_000) {
      if (exit) return exit;
      try {
        process.kill(child.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
      let t: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((r) => {
        t = setTimeout(() => {
          try {
            process.kill(child.pid!, 'SIGKILL');
          } catch {
            /* gone */
          }
          r();
        }, graceMs);
      });
      await Promise.race([exited, killed]);
      clearTimeout(t);
      return exited;
    },
  };
}

/** This process's directory under /tmp/dwsbox-test (test/helpers/env.ts), once nothing is left in it. */
function removeRunDir(root: string): void {
  if (process.env['DWSBOX_TEST_ROOT']) return;
  try {
    rmdirSync(dirname(root));
  } catch {
    /* not empty, or gone */
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface ServiceProc extends Proc {
  logFile: string;
}

/** `dwsbox serve` as a user runs it, with the bench's few settings (the rest are the defaults). */
async function startService(o: { dataDir: string; logFile: string; storeUrl: string | null; nodeFlags: string[] }): Promise<ServiceProc> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: process.env['HOME'] ?? '/root',
    LANG: 'C.UTF-8',
    DWSBOX_PROJECT_ID: PROJECT_ID,
    DWSBOX_ACCESS_KEY: ACCESS_KEY,
    DWSBOX_SECRET_KEY: SECRET_KEY,
    ...(o.storeUrl ? { DWSBOX_STORE_URL: o.storeUrl } : {}),
  };
  const args = [
    ...o.nodeFlags,
    'bin/dwsbox.js',
    'serve',
    '--data-dir',
    o.dataDir,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--log-level',
    'info',
    '--monitor-interval-ms',
    '600000',
    // The seeded clusters never run: the local engine starts nothing host-wide (the Patroni engine's
    // serve would start the host's agent, which outlives it).
    '--engine',
    'local',
  ];
  const { child, exited } = spawnNode(args, { env, logFile: o.logFile });
  const p = procOf(child, exited, port);
  const deadline = Date.now() + 180_000;
  let last = '';
  for (;;) {
    if (!p.alive()) throw new Error(`the service exited before it was ready; log tail:\n${tail(o.logFile)}`);
    try {
      const r = await httpGet(`${p.endpoint}/readyz`, {}, 2000);
      if (r.status === 200) break;
      last = `readyz ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) {
      await p.stop(1000);
      throw new Error(`the service on ${p.endpoint} was not ready in time (${last}); log tail:\n${tail(o.logFile)}`);
    }
    await sleep(100);
  }
  return { ...p, logFile: o.logFile };
}

/** The bare Fastify route (bench/http-bare.ts) for one captured answer. */
async function startBare(dir: string, route: RouteDef, answer: Answer, k: number): Promise<Proc> {
  const port = await freePort();
  const bodyFile = join(dir, `bare-${route.slug}.body`);
  writeFileSync(bodyFile, answer.body);
  const specFile = join(dir, `bare-${route.slug}-${k}.json`);
  writeFileSync(
    specFile,
    JSON.stringify({ port, method: 'GET', pattern: route.pattern, status: answer.status, contentType: answer.contentType, bodyFile }),
  );
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', LANG: 'C.UTF-8' };
  const { child, exited } = spawnNode(['--import', 'tsx', join(REPO_ROOT, 'bench', 'http-bare.ts'), specFile], { env, logFile: null });
  const p = procOf(child, exited, port);
  await new Promise<void>((res, rej) => {
    let out = '';
    const t = setTimeout(() => rej(new Error('the bare server did not start in 60 s')), 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('listening')) {
        clearTimeout(t);
        res();
      }
    });
    void exited.then((e) => {
      clearTimeout(t);
      rej(new Error(`the bare server exited: ${JSON.stringify(e)}`));
    });
  });
  return p;
}

// ------------------------------------------------------------------ HTTP and measuring

interface Answer {
  status: number;
  contentType: string;
  body: Buffer;
}

/** A GET with exactly these headers (fetch would not let a Host header through). */
function httpGet(url: string, headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET', headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function httpPostJson(
  url: string,
  body: unknown,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json;charset=UTF-8', 'content-length': String(Buffer.byteLength(payload)) },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until the processes are idle (under 10 % of a core over 0.5 s): a server may still be
 * answering requests the load generator gave up on. Returns the ms waited.
 */
async function waitQuiet(pids: number[], maxMs = 600_000): Promise<number> {
  const began = performance.now();
  for (;;) {
    const a = ticksOf(pids);
    await sleep(500);
    if (ticksOf(pids) - a <= 0.05 * CLOCK_TICKS || performance.now() - began > maxMs) return Math.round(performance.now() - began);
  }
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
  percentile(p: number): number {
    if (this.n === 0) return NaN;
    const s = this.buf.slice(0, this.n).sort();
    return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
  }
}

interface RunFigures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** cores the server process(es) used during the run */
  serverCpu: number;
  /** cores the load generator (this process) used */
  loadCpu: number;
  /** cores the store's PostgreSQL server (its postmaster and backends) used; 0 with SQLite */
  storeCpu: number;
  /** cores everything else on the machine used: other work disturbing the run (2 cores in all) */
  otherCpu: number;
  /** ms the server(s) took to go idle after the run */
  drainMs: number;
  /** dwsbox only: log bytes written per answered request */
  logBytesPerRequest?: number;
}

async function load(
  urls: string[],
  path: string,
  headers: Record<string, string>,
  o: { seconds: number; connections: number; timeoutS: number },
  pids: number[],
  storePids: () => number[],
): Promise<RunFigures> {
  const lat = new Latencies();
  const ticks0 = ticksOf(pids);
  const store0 = ticksOf(storePids());
  const own0 = cpuTicks(process.pid) ?? 0;
  const busy0 = busyTicks();
  const t0 = performance.now();
  const inst = autocannon({
    url: urls.length === 1 ? `${urls[0]}${path}` : urls.map((u) => `${u}${path}`),
    connections: o.connections,
    duration: o.seconds,
    headers,
    timeout: o.timeoutS,
  });
  inst.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) lat.add(ms);
  });
  const r = await inst;
  const wall = (performance.now() - t0) / 1000;
  const serverTicks = ticksOf(pids) - ticks0;
  const ownTicks = (cpuTicks(process.pid) ?? 0) - own0;
  const storeTicks = Math.max(0, ticksOf(storePids()) - store0);
  const otherTicks = busyTicks() - busy0 - serverTicks - ownTicks - storeTicks;
  const drainMs = await waitQuiet(pids);
  return {
    rps: sig(r['2xx'] / wall),
    p50: round(lat.percentile(50), 2),
    p99: round(lat.percentile(99), 2),
    requests: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors - r.timeouts,
    timeouts: r.timeouts,
    serverCpu: round(serverTicks / CLOCK_TICKS / wall, 2),
    loadCpu: round(ownTicks / CLOCK_TICKS / wall, 2),
    storeCpu: round(storeTicks / CLOCK_TICKS / wall, 2),
    otherCpu: round(Math.max(0, otherTicks) / CLOCK_TICKS / wall, 2),
    drainMs,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One decimal, or three significant digits below 10 (a route answering a request every few seconds). */
function sig(x: number): number {
  return x >= 10 ? round(x, 1) : Number(x.toPrecision(3));
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// ------------------------------------------------------------------ the bench

interface Options {
  seconds: number;
  connections: number;
  runs: number;
  warmup: number;
  timeoutS: number;
  store: 'sqlite' | 'postgres';
  only: string | null;
  cpuProf: boolean;
  profDir: string | null;
}

interface SideResult {
  runs: RunFigures[];
  rps: number;
  p50: number;
  p99: number;
}

interface RouteResult {
  route: string;
  name: string;
  auth: Auth;
  path: string;
  status: number;
  contentType: string;
  bodyBytes: number;
  bare: SideResult | null;
  dwsbox: SideResult;
  ratio: number | null;
  target: string;
  met: boolean | null;
  clean: boolean;
  mode: Mode['kind'];
  dwsboxConnections: number;
  dwsboxTimeoutS: number;
  /** the first (cold) request's time */
  firstRequestMs: number;
}

/**
 * How dwsbox is loaded on a route. `load`: `--connections` connections (the normal case).
 * When one warm request takes so long that, with a request on every connection, each would
 * take over half a run, a run would count few answers or none (they all come late, together)
 * and end with many the service still works through: `one-connection` runs it closed-loop with
 * one connection (a service whose work is on its one thread answers about as many per second
 * either way; its latencies then hold no queue). When even the first request takes longer
 * than a run, `single`: that request is the figure.
 */
interface Mode {
  kind: 'load' | 'one-connection' | 'single';
  connections: number;
  timeoutS: number;
}
const NO_RUN: RunFigures = {
  rps: 0,
  p50: NaN,
  p99: NaN,
  requests: 0,
  non2xx: 0,
  errors: 0,
  timeouts: 0,
  serverCpu: NaN,
  loadCpu: NaN,
  storeCpu: NaN,
  otherCpu: NaN,
  drainMs: 0,
};

function side(runs: RunFigures[]): SideResult {
  return {
    runs,
    rps: sig(median(runs.map((r) => r.rps))),
    p50: round(median(runs.map((r) => r.p50)), 2),
    p99: round(median(runs.map((r) => r.p99)), 2),
  };
}

export async function runHttpBench(
  o: Options,
  log: (l: string) => void,
): Promise<{ results: RouteResult[]; meta: Record<string, unknown> }> {
  const { commit, uncommitted: dirty } = gitInfo(['src', 'test/helpers', 'package.json']);
  const git = { commit, dirty };
  const root = tempDir('http-bench');
  const dataDir = join(root, 'data');
  mkdirSync(dataDir, { recursive: true, mode: 0o711 });
  const cleanups: (() => Promise<unknown>)[] = [];
  const services: ServiceProc[] = [];
  let pg: StorePg | null = null;
  // Interrupted (Ctrl-C): the children die with this process (pdeathsig), but the store's
  // PostgreSQL server is detached by design: stop it and remove the files first.
  const interrupted = (): void => {
    log('interrupted: cleaning up');
    void (async () => {
      for (const c of [...cleanups].reverse()) await c().catch(() => {});
      removeDir(root);
      removeRunDir(root);
      process.exit(130);
    })();
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    // ---- the store, seeded before any service opens it
    if (o.store === 'postgres') {
      pg = await startStorePg();
      const pgRef = pg;
      cleanups.push(() => pgRef.stop());
      log(`store: PostgreSQL (pid ${pg.pid})`);
    }
    const location = pg ? pg.url : join(dataDir, 'dwsbox.sqlite');
    const store = openStore(location);
    let seed: SeedResult;
    try {
      await migrate(store.adapter);
      const secrets = Secrets.load(null, join(dataDir, 'master.key'));
      const auth = new AuthService(store, secrets, systemClock, silentLogger());
      log('seeding the store: 1,000 clusters, 3,000 nodes, 20,000 snapshots, 50,000 tasks (project A) and a few in project B');
      seed = await seedStore(store, auth, secrets, {
        projectId: PROJECT_ID,
        otherProjectId: OTHER_PROJECT_ID,
        clusters: 1000,
        snapshotsPerCluster: 20,
        tasksPerCluster: 50,
        otherClusters: 5,
        dataDir,
        now: Date.now(),
      });
    } finally {
      await store.close();
    }
    log(`seeded in ${seed.seconds} s: ${JSON.stringify(seed.counts)}`);

    // ---- the service(s): started afresh for each route, so no route runs in a process another
    // route has loaded (its heap, its caches), and the health monitor's first periodic check
    // (10 minutes after a start) falls after the route's runs.
    const profDir = o.cpuProf ? (o.profDir ?? mkdtempSync('/tmp/dwsbox-http-prof-')) : null;
    if (profDir) mkdirSync(profDir, { recursive: true });
    const nodeFlags = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
    const count = o.store === 'postgres' ? 2 : 1;
    const startServices = async (): Promise<void> => {
      for (let k = 0; k < count; k++) {
        const svc = await startService({ dataDir, logFile: join(dataDir, `service-${k + 1}.log`), storeUrl: pg?.url ?? null, nodeFlags });
        services.push(svc);
        log(`dwsbox ${k + 1}: pid ${svc.pid} on ${svc.endpoint}`);
      }
    };
    /** SIGTERM, as a user stops `serve` (and Node then writes a CPU profile). */
    const stopServices = async (): Promise<void> => {
      for (const s of services.splice(0)) {
        const e = await s.stop(60_000);
        if (profDir && e.signal === 'SIGKILL') log(`warning: dwsbox ${s.pid} had to be killed: no profile`);
      }
    };
    cleanups.push(stopServices);

    let token = '';
    const issueToken = async (endpoint: string): Promise<string> => {
      const answer = await httpPostJson(`${endpoint}/v3/auth/tokens`, {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: BENCH_USER, password: BENCH_PASSWORD, domain: { name: 'dwsbox' } } },
          },
          scope: { project: { id: PROJECT_ID } },
        },
      });
      const t = answer.headers['x-subject-token'];
      if (answer.status !== 201 || typeof t !== 'string') throw new Error(`no token: ${answer.status} ${answer.text}`);
      return t;
    };

    const ctx = { projectId: PROJECT_ID, clusterId: seed.targetClusterId, taskId: seed.targetTaskId };
    // Every request names the first process's address as its Host (with two processes, as behind a load balancer).
    const headersFor = (r: RouteDef, path: string): Record<string, string> => {
      const host = `127.0.0.1:${services[0]!.port}`;
      if (r.auth === 'none') return { host };
      const base: Record<string, string> = { 'content-type': 'application/json;charset=UTF-8', 'x-project-id': PROJECT_ID };
      if (r.auth === 'token') return { ...base, host, 'x-auth-token': token };
      // What DwsClient sends: the headers above, signed with host, X-Sdk-Date now.
      return { ...base, host, ...signRequest({ method: 'GET', url: path, headers: base, body: undefined, host }, ACCESS_KEY, SECRET_KEY) };
    };

    let routes = ROUTES;
    if (o.only) {
      // One route or several, comma-separated: by slug, by name, or by name and auth ("ListClusterActions token").
      const wanted = o.only.split(',').map((w) => w.trim().toLowerCase());
      for (const want of wanted)
        if (!ROUTES.some((r) => r.slug === want || `${r.name} ${r.auth}`.toLowerCase() === want || r.name.toLowerCase() === want))
          throw new Error(`--only ${want}: no such route; one of ${ROUTES.map((r) => r.slug).join(', ')}`);
      routes = ROUTES.filter((r) =>
        wanted.some((w) => r.slug === w || `${r.name} ${r.auth}`.toLowerCase() === w || r.name.toLowerCase() === w),
      );
    }
    if (o.cpuProf) routes = routes.slice(0, 1);

    const logBytes = (): number => services.reduce((a, s) => a + statSync(s.logFile).size, 0);
    // The store's PostgreSQL server: its postmaster and the backends it forked (each service's pool).
    const storePids = (): number[] => (pg ? [pg.pid, ...childProcesses(pg.pid)] : []);
    const noStore = (): number[] => [];
    const results: RouteResult[] = [];
    const windows: { from: number; to: number }[] = [];
    for (const r of routes) {
      await startServices();
      const first = services[0]!;
      const servicePids = services.map((s) => s.pid);
      if (!token) token = await issueToken(first.endpoint);
      const path = r.path(ctx);
      // dwsbox's answer, timed: the first request is cold (nothing compiled yet for it).
      let began = performance.now();
      const answer = await httpGet(`${first.endpoint}${path}`, headersFor(r, path), 3600_000);
      const coldMs = performance.now() - began;
      if (answer.status < 200 || answer.status >= 300)
        throw new Error(`${r.name} (${r.auth}) ${path}: dwsbox answered ${answer.status}: ${answer.body.toString().slice(0, 300)}`);
      log(
        `${r.name} (${r.auth}): ${answer.status}, ${answer.contentType}, ${answer.body.length} bytes; first request ${round(coldMs / 1000, 2)} s`,
      );
      // How dwsbox can be loaded (see `Mode`): from the cold request, then a warm one.
      let mode: Mode = { kind: 'load', connections: o.connections, timeoutS: o.timeoutS };
      let single: RunFigures | null = null;
      if (coldMs > o.seconds * 1000) {
        mode = { kind: 'single', connections: 1, timeoutS: o.timeoutS };
        single = { ...NO_RUN, rps: sig(1000 / coldMs), p50: round(coldMs, 2), p99: round(coldMs, 2), requests: 1 };
      } else {
        for (const s of services.slice(1)) {
          const other = await httpGet(`${s.endpoint}${path}`, headersFor(r, path), 3600_000);
          if (!other.body.equals(answer.body) || other.status !== answer.status)
            log(
              `warning: ${r.name}: dwsbox ${s.pid} answered other bytes than ${first.pid} (${other.body.length} vs ${answer.body.length})`,
            );
        }
        began = performance.now();
        await httpGet(`${first.endpoint}${path}`, headersFor(r, path), 3600_000);
        const warmMs = performance.now() - began;
        // About how long a request takes when every connection has one in the service(s).
        const underLoadMs = (o.connections * warmMs) / count;
        if (underLoadMs > (o.seconds * 1000) / 2) mode = { kind: 'one-connection', connections: 1, timeoutS: o.timeoutS };
        // Requests queued behind the others must not time out (a timed-out request is sent again, and the queue grows).
        else mode.timeoutS = Math.max(o.timeoutS, Math.ceil((3 * underLoadMs) / 1000));
      }
      if (mode.kind !== 'load')
        log(
          `  dwsbox is too slow for ${o.connections} connections (their requests would take over half a run): ` +
            (mode.kind === 'single' ? 'its figure is that one request' : 'it is measured with one connection'),
        );
      const opts = { seconds: o.seconds, connections: o.connections, timeoutS: o.timeoutS };
      const dwsboxUrls = services.map((s) => s.endpoint);

      let bares: Proc[] = [];
      if (!o.cpuProf) {
        for (let k = 0; k < count; k++) bares.push(await startBare(root, r, answer, k));
      }
      const barePids = bares.map((b) => b.pid);
      const bareUrls = bares.map((b) => b.endpoint);
      const dwsboxRun = async (seconds: number): Promise<RunFigures> => {
        if (single) return single;
        const before = logBytes();
        const f = await load(
          dwsboxUrls,
          path,
          headersFor(r, path),
          { ...opts, seconds, connections: mode.connections, timeoutS: mode.timeoutS },
          servicePids,
          storePids,
        );
        const written = logBytes() - before;
        for (const s of services) truncateSync(s.logFile, 0);
        return { ...f, logBytesPerRequest: f.requests ? Math.round(written / f.requests) : 0 };
      };
      const say = (what: string, f: RunFigures): void =>
        log(
          `  ${what}: ${f.rps} req/s, p50 ${f.p50} ms, p99 ${f.p99} ms, CPU server ${f.serverCpu}${pg ? ` store ${f.storeCpu}` : ''} load ${f.loadCpu} other ${f.otherCpu}` +
            `${f.non2xx || f.errors || f.timeouts ? `, non-2xx ${f.non2xx}, errors ${f.errors}, timeouts ${f.timeouts}` : ''}` +
            `${f.drainMs > 1500 ? `, busy ${(f.drainMs / 1000).toFixed(1)} s after the run` : ''}`,
        );
      try {
        const bareRuns: RunFigures[] = [];
        const dwsboxRuns: RunFigures[] = [];
        if (o.warmup > 0) {
          if (bares.length)
            say('warm-up bare', await load(bareUrls, path, headersFor(r, path), { ...opts, seconds: o.warmup }, barePids, noStore));
          if (!single) say('warm-up dwsbox', await dwsboxRun(o.warmup));
        }
        const runs = o.cpuProf ? 1 : o.runs;
        for (let k = 1; k <= runs; k++) {
          if (bares.length) {
            const f = await load(bareUrls, path, headersFor(r, path), opts, barePids, noStore);
            say(`run ${k} bare`, f);
            bareRuns.push(f);
          }
          const from = process.hrtime.bigint() / 1000n;
          const f = await dwsboxRun(o.seconds);
          windows.push({ from: Number(from), to: Number(from) + Math.round(o.seconds * 1e6) });
          if (!single || k === 1) say(`run ${k} dwsbox${single ? ' (the one request)' : ''}`, f);
          if (!single || k === 1) dwsboxRuns.push(f);
        }
        const d = side(dwsboxRuns);
        const b = bareRuns.length ? side(bareRuns) : null;
        const target = targetOf(r, o.store);
        const ratio = b && b.rps > 0 ? Number((d.rps / b.rps).toPrecision(3)) : null;
        const clean = [...bareRuns, ...dwsboxRuns].every((x) => x.non2xx === 0 && x.errors === 0 && x.timeouts === 0);
        const met = ratio === null ? null : ratio >= target.minRatio && (target.maxP99Ms === null || d.p99 < target.maxP99Ms);
        results.push({
          route: r.slug,
          name: r.name,
          auth: r.auth,
          path: r.pattern,
          status: answer.status,
          contentType: answer.contentType,
          bodyBytes: answer.body.length,
          bare: b,
          dwsbox: d,
          ratio,
          target: target.text,
          met,
          clean,
          mode: mode.kind,
          dwsboxConnections: mode.connections,
          dwsboxTimeoutS: mode.timeoutS,
          firstRequestMs: round(coldMs, 1),
        });
      } finally {
        for (const b of bares) await b.stop(5000);
        bares = [];
        await stopServices();
      }
    }

    let profiles: string[] = [];
    if (profDir) {
      profiles = readdirSync(profDir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(profDir, f));
    }
    return {
      results,
      meta: {
        commit: git.commit,
        uncommitted: git.dirty,
        store: o.store,
        processes: count,
        seeded: seed.counts,
        seedSeconds: seed.seconds,
        targetClusterId: seed.targetClusterId,
        ...(profDir ? { profiles, window: windows[0] } : {}),
      },
    };
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    const cleaning = performance.now();
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => log(`clean-up: ${(e as Error).message}`));
    const left = processesUnder(root);
    if (!process.env['DWSBOX_KEEP_TEST_DIRS']) {
      removeDir(root);
      await removeProjectUsersUnder(root);
      removeRunDir(root);
    }
    if (left.length) log(`warning: processes left under ${root}: ${JSON.stringify(left)}`);
    log(`cleaned up in ${round((performance.now() - cleaning) / 1000)} s`);
  }
}

// ------------------------------------------------------------------ output

const num = (x: number | null | undefined, digits = 0): string =>
  x === null || x === undefined || Number.isNaN(x)
    ? '-'
    : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function kb(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

export function table(results: RouteResult[], meta: Record<string, unknown>, o: Options): string {
  const authName: Record<Auth, string> = { aksk: 'AK/SK', token: 'token', none: '-' };
  const head = [
    'route',
    'auth',
    'body',
    'bare req/s',
    'bare p50/p99 ms',
    'dwsbox req/s',
    'dwsbox p50/p99 ms',
    'ratio',
    'target (issue 14)',
    'met',
    'other CPU',
  ];
  const rows = results.map((r) => [
    r.name,
    authName[r.auth],
    kb(r.bodyBytes),
    r.bare ? (r.bare.rps < 10 ? String(r.bare.rps) : num(r.bare.rps)) : '-',
    r.bare ? `${num(r.bare.p50, 2)} / ${num(r.bare.p99, 2)}` : '-',
    (r.dwsbox.rps < 10 ? String(r.dwsbox.rps) : num(r.dwsbox.rps)) +
      (r.mode === 'load' ? '' : r.mode === 'single' ? ' (1 request)' : ' (1 conn.)'),
    `${num(r.dwsbox.p50, 2)} / ${num(r.dwsbox.p99, 2)}`,
    r.ratio === null ? '-' : r.ratio < 0.01 ? r.ratio.toPrecision(2) : r.ratio.toFixed(3),
    r.target,
    (r.met === null ? '-' : r.met ? 'met' : 'NOT met') + (r.clean ? '' : ' (errors: see JSON)'),
    num(Math.max(0, ...[...(r.bare?.runs ?? []), ...r.dwsbox.runs].map((x) => (Number.isNaN(x.otherCpu) ? 0 : x.otherCpu))), 2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => ((i >= 2 && i <= 7) || i === 10 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const seeded = meta['seeded'] as SeedResult['counts'];
  const dirty = (meta['uncommitted'] as string[]).length
    ? ` + uncommitted changes (${(meta['uncommitted'] as string[]).length} files)`
    : '';
  return [
    `dwsbox HTTP bench, ${new Date().toISOString().slice(0, 10)}, commit ${String(meta['commit']).slice(0, 12)}${dirty}`,
    `store ${o.store}${o.store === 'postgres' ? ' (2 dwsbox processes, 2 bare processes)' : ''}; ${o.connections} connections; ${o.seconds} s × ${o.runs} runs each side (medians), after a ${o.warmup} s warm-up`,
    `seeded: ${num(seeded.clusters)} clusters, ${num(seeded.nodes)} nodes, ${num(seeded.snapshots)} snapshots, ${num(seeded.tasks)} tasks, ${num(seeded.steps)} steps, ${num(seeded.samples)} samples`,
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    'other CPU: the most cores (of 2) the rest of the machine used during a run of the route, besides the server, the store and the load generator',
    ...(results.some((r) => r.mode === 'one-connection')
      ? [
          `(1 conn.): one request took so long that with ${o.connections} connections each would take over half a run; measured with one connection`,
        ]
      : []),
    ...(results.some((r) => r.mode === 'single')
      ? ['(1 request): its first request took longer than a whole run; that one request is the figure (req/s = 1 / its seconds)']
      : []),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      runs: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '3' },
      timeout: { type: 'string', default: '10' },
      store: { type: 'string', default: 'sqlite' },
      only: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'prof-dir': { type: 'string' },
    },
  });
  const store = values.store;
  if (store !== 'sqlite' && store !== 'postgres') throw new Error(`--store must be sqlite or postgres, got ${store}`);
  const o: Options = {
    seconds: Number(values.seconds),
    connections: Number(values.connections),
    runs: Number(values.runs),
    warmup: Number(values.warmup),
    timeoutS: Number(values.timeout),
    store,
    only: values.only ?? null,
    cpuProf: values['cpu-prof'],
    profDir: values['prof-dir'] ?? null,
  };
  // dwsbox runs its built code (bin/dwsbox.js): built from this checkout first.
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  for (const k of ['seconds', 'connections', 'runs', 'timeoutS'] as const)
    if (!Number.isFinite(o[k]) || o[k] <= 0) throw new Error(`--${k === 'timeoutS' ? 'timeout' : k} must be a positive number`);
  const log = (l: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${l}\n`);
  const { results, meta } = await runHttpBench(o, log);
  if (o.cpuProf) {
    const profiles = meta['profiles'] as string[];
    const w = meta['window'] as { from: number; to: number } | undefined;
    process.stdout.write(
      [
        `CPU profile of dwsbox (${results[0]?.name} ${results[0]?.auth}, ${o.seconds} s at ${o.connections} connections: ${num(results[0]?.dwsbox.rps)} req/s, p99 ${results[0]?.dwsbox.p99} ms), commit ${String(meta['commit']).slice(0, 12)}:`,
        // Node names each thread's profile CPU.<date>.<time>.<pid>.<thread>.<seq>: thread 0 is the main thread (the service);
        // any other is a worker thread (the service's own, if it starts any).
        ...profiles.map((p) => `  ${p}${/\.\d+\.0\.\d+\.cpuprofile$/.test(p) ? '  (main thread: the service)' : '  (a worker thread)'}`),
        ...(w ? [`the measured run (CLOCK_MONOTONIC µs): --from ${w.from} --to ${w.to}; its summary:`] : []),
        ...profiles
          .filter((p) => /\.\d+\.0\.\d+\.cpuprofile$/.test(p))
          .map((p) => `  npx tsx bench/profile-summary.ts ${p}${w ? ` --from ${w.from} --to ${w.to}` : ''}`),
        JSON.stringify({ bench: 'http', date: new Date().toISOString(), options: o, ...meta, results }),
      ].join('\n') + '\n',
    );
    return;
  }
  process.stdout.write(table(results, meta, o) + '\n');
  process.stdout.write(JSON.stringify({ bench: 'http', date: new Date().toISOString(), options: o, ...meta, results }) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  });
}
