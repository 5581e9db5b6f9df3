/**
 * Benchmark (issue 15, D18): what an idle 3-node cluster costs on each engine, measured from
 * /proc, and how many of them this host holds.
 *
 *   npx tsx bench/capacity.ts [--clusters 3] [--engines local,ha] [--settle 20] [--cpu-seconds 30]
 *
 * For each engine in turn (the first one removed before the next starts), on a temporary
 * directory under /tmp, with a real fsync (D20):
 * - local: a dwsbox service as a child process (`dwsbox serve` through tsx, as bench/load.ts
 *   runs it, so the service's memory is its own and not this script's; SQLite store,
 *   production timings: health monitor every 2 s, task polling every 250 ms; the initdb pool
 *   of its default size), `--clusters` 3-node `dwsx.small` clusters created one after the
 *   other with `POST /v1.0/{project_id}/clusters`, each waited for until AVAILABLE;
 * - ha: a host agent of its own (`ensureAgent`, through tsx from the sources as the tests start
 *   it), its etcd, and `--clusters` 3-member `HaCluster`s (three Patroni 3.0.2 members as a
 *   project OS user made here, the router as the service user), each waited for until healthy
 *   (a leader, both replicas streaming, one synchronous), with the dwsx.small node type's
 *   PostgreSQL settings passed as the cluster's parameters so both engines size PostgreSQL alike.
 * Measured, per engine:
 * - the shared processes alone first (the service; the agent and etcd), after `--settle` s idle:
 *   memory, and CPU over `--cpu-seconds`;
 * - each cluster's data directories (`du`, allocated bytes), right after it is available;
 * - with every cluster up and `--settle` s idle (for local, also the initdb pool filled again
 *   and no tool of the service running): memory of each cluster and of the shared processes,
 *   their CPU over `--cpu-seconds`, memory again at the end of that window.
 * Memory is the sum over processes of `/proc/<pid>/smaps_rollup` (PSS: a page shared by n
 * processes counts 1/n in each, so sums do not count shared pages twice; RSS counts them in
 * every process; USS, the private pages, is in the JSON). A cluster's processes: every
 * postmaster with all its children (read from each member's postmaster.pid), and for HA each
 * member's Patroni process tree and the router's. Shared: the service's (or the agent's) process
 * tree without the clusters' processes (the agent's tree holds etcd). CPU: utime + stime ticks,
 * and the reaped children's (cutime + cstime), which hold the short-lived connections' backends.
 * Then, from MemTotal and from MemAvailable read before the engine started: how many 3-node
 * clusters fit (a) by D18's rule, 3 × the node type's `memoryBytes` a cluster, with each
 * cluster's budget reserved, and as cluster-create.ts CHECK_CAPACITY really applies it (each
 * create against the MemAvailable of that moment), (b) by the measured PSS per cluster plus the
 * shared cost; and the other limits (addresses, idle CPU, disk) for context.
 *
 * Prints a table and one JSON line. Removes everything it made, also on failure or SIGINT:
 * clusters deleted through the API / `HaCluster.remove()`, the service stopped, the agent
 * stopped with its units (`shutdown(true)`), the project users removed, the directory removed.
 * Run it under the shared lock: `flock -o /tmp/dwsbox-bench.lock npx tsx bench/capacity.ts`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/config.js';
import { ensureAgent, type AgentClient } from '../src/dataplane/agent/client.js';
import { ETCD_UNIT } from '../src/dataplane/agent/host-etcd.js';
import type { OsUser } from '../src/dataplane/os-user.js';
import { generateHaSecrets, HaCluster, memberUnit, routerUnit, type HaClusterSpec } from '../src/dataplane/patroni/ha-cluster.js';
import { isProcessAlive, processTree } from '../src/dataplane/process-info.js';
import { ensureServiceUser, ProjectUsers, removeProjectUser, type UidRecord } from '../src/dataplane/project-users.js';
import { findNodeType, type NodeType } from '../src/domain/node-types.js';
import { silentLogger } from '../src/log/logger.js';
import { startChildService, type ChildService } from '../test/helpers/child-service.js';
import { LOCAL_ENGINE } from '../test/helpers/engine.js';
import { freePort, waitFor } from '../test/helpers/env.js';
import { createCluster, waitIdle } from '../test/helpers/service.js';
import { busyTicks, CLOCK_TICKS } from './cpu.js';
import { gitInfo } from './git-info.js';
import { killAll, ourProcesses } from './leftovers.js';

const REPO_ROOT = new URL('..', import.meta.url).pathname;
const ENGINES = ['local', 'ha'] as const;
type EngineName = (typeof ENGINES)[number];
const NODE_TYPE = 'dwsx.small';
const NODES = 3;
const ORDINALS = [1, 2, 3] as const;
/** Cluster subnets `c` of the address plan run from 1 to 254 on one host (D6, D24) */
const MAX_SUBNETS = 254;
const MIB = 1024 * 1024;
/** The service's defaults (config.ts): the timings it runs with, the initdb pool's size, the node limits */
const DEFAULTS = loadConfig({ env: {}, flags: {} });

interface Options {
  clusters: number;
  engines: EngineName[];
  settle: number;
  cpuSeconds: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (l: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${l}\n`);
const mib = (b: number): string => (b / MIB).toFixed(1);
const gib = (b: number): string => `${(b / (1024 * MIB)).toFixed(2)} GiB`;
const pct = (cores: number): string => `${(cores * 100).toFixed(2)} %`;

// ------------------------------------------------------------------ /proc

/** MemTotal and MemAvailable of /proc/meminfo, bytes. */
function meminfo(): { memTotal: number; memAvailable: number } {
  const text = readFileSync('/proc/meminfo', 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { memTotal: kb('MemTotal'), memAvailable: kb('MemAvailable') };
}

/** A process's memory, bytes, from smaps_rollup; null when it is gone (or unreadable). */
interface ProcMem {
  rss: number;
  pss: number;
  uss: number;
  pssAnon: number;
  pssFile: number;
  pssShmem: number;
}

function procMem(pid: number): ProcMem | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return null;
  }
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  // A zombie (or a kernel thread) has an empty rollup: no memory of its own.
  return {
    rss: kb('Rss'),
    pss: kb('Pss'),
    uss: kb('Private_Clean') + kb('Private_Dirty'),
    pssAnon: kb('Pss_Anon'),
    pssFile: kb('Pss_File'),
    pssShmem: kb('Pss_Shmem'),
  };
}

/** What a process is, for the breakdown: postgres, patroni, router (haproxy), etcd, dwsbox (node) or its own comm. */
function kindOf(pid: number): string | null {
  let comm: string;
  try {
    comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
  if (comm === 'postgres') return 'postgres';
  if (comm === 'patroni' || comm.startsWith('python')) return 'patroni';
  if (comm === 'haproxy') return 'router';
  if (comm === 'etcd') return 'etcd';
  if (comm === 'node' || comm.startsWith('MainThread')) return 'dwsbox';
  return comm;
}

interface GroupMem extends ProcMem {
  processes: number;
  /** processes listed that were gone before their memory was read */
  vanished: number;
  byKind: Record<string, { processes: number; pss: number; rss: number }>;
}

function groupMem(pids: number[]): GroupMem {
  const out: GroupMem = { rss: 0, pss: 0, uss: 0, pssAnon: 0, pssFile: 0, pssShmem: 0, processes: 0, vanished: 0, byKind: {} };
  for (const pid of new Set(pids)) {
    const kind = kindOf(pid);
    const m = procMem(pid);
    if (!m || !kind) {
      out.vanished++;
      continue;
    }
    out.processes++;
    for (const k of ['rss', 'pss', 'uss', 'pssAnon', 'pssFile', 'pssShmem'] as const) out[k] += m[k];
    const b = (out.byKind[kind] ??= { processes: 0, pss: 0, rss: 0 });
    b.processes++;
    b.pss += m.pss;
    b.rss += m.rss;
  }
  return out;
}

interface GroupCpu {
  /** cores (1 = one core busy the whole window) */
  cores: number;
  byKind: Record<string, number>;
}

/**
 * A process's CPU ticks: its own (utime + stime) and those of its children it has reaped
 * (cutime + cstime). The reaped ticks matter at idle: a connection's backend that forks and
 * exits within a window (the local service's health checks) is never seen alive by a sampler,
 * and its time shows only in its postmaster's reaped ticks. Null when the process is gone.
 */
function procTicks(pid: number): { own: number; reaped: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
  } catch {
    return null;
  }
}

/**
 * CPU of each group over a window: for every process of the group at the start or at the end,
 * what its own and its reaped ticks grew by (a process that started during the window counts
 * with all its ticks; one that ended counts in its parent's reaped ticks, with what it used
 * before the window too: rare at idle), and the whole machine's.
 */
async function cpuWindow(
  groups: Record<string, () => number[]>,
  seconds: number,
): Promise<{ seconds: number; machineCores: number; groups: Record<string, GroupCpu> }> {
  const start = new Map<number, { own: number; reaped: number; kind: string }>();
  const before: Record<string, number[]> = {};
  for (const [g, pids] of Object.entries(groups)) {
    before[g] = pids();
    for (const p of before[g]) {
      const t = procTicks(p);
      const kind = kindOf(p);
      if (t && kind) start.set(p, { ...t, kind });
    }
  }
  const busy0 = busyTicks();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const out: Record<string, GroupCpu> = {};
  const ends = new Map<number, { own: number; reaped: number } | null>();
  for (const [g, pids] of Object.entries(groups)) {
    const all = [...new Set([...before[g]!, ...pids()])];
    const c: GroupCpu = { cores: 0, byKind: {} };
    for (const p of all) {
      if (!ends.has(p)) ends.set(p, procTicks(p));
      const now = ends.get(p);
      if (!now) continue;
      const s = start.get(p);
      const kind = s?.kind ?? kindOf(p) ?? 'gone';
      const d = Math.max(0, now.own - (s?.own ?? 0)) + Math.max(0, now.reaped - (s?.reaped ?? 0));
      c.cores += d;
      c.byKind[kind] = (c.byKind[kind] ?? 0) + d;
    }
    out[g] = c;
  }
  const busy1 = busyTicks();
  const elapsed = (performance.now() - t0) / 1000;
  for (const c of Object.values(out)) {
    c.cores /= CLOCK_TICKS * elapsed;
    for (const k of Object.keys(c.byKind)) c.byKind[k]! /= CLOCK_TICKS * elapsed;
  }
  return { seconds: elapsed, machineCores: (busy1 - busy0) / CLOCK_TICKS / elapsed, groups: out };
}

/** Allocated bytes under a directory (`du -s -B1`, as root: every member's files are readable). */
function du(dir: string): number {
  return Number(execFileSync('du', ['-s', '-B1', dir], { encoding: 'utf8' }).split('\t')[0]);
}

function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && isProcessAlive(pid) ? pid : null;
  } catch {
    return null;
  }
}

/**
 * What an idle Node.js process costs by itself, and with the tsx loader the service and the
 * agent run under here (from the sources): a reference for the shared figures, which a built
 * installation (`node bin/dwsbox.js`) would run without tsx. Each started, measured after 3 s,
 * and killed by its PID.
 */
async function nodeBaselines(): Promise<{ node: GroupMem; nodeWithTsx: GroupMem }> {
  const one = async (args: string[]): Promise<GroupMem> => {
    const child = spawn(process.execPath, [...args, '-e', 'setInterval(() => {}, 1000)'], { cwd: REPO_ROOT, stdio: 'ignore' });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      await sleep(3000);
      return groupMem(processTree(child.pid!));
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  };
  return { node: await one([]), nodeWithTsx: await one(['--import', 'tsx']) };
}

// ------------------------------------------------------------------ the engines

interface BenchCluster {
  id: string;
  createSeconds: number;
  dataDirs: string[];
}

/** One engine as the bench drives it: its shared processes, its clusters, their processes, and its removal. */
interface EngineHarness {
  readonly name: EngineName;
  /** what the shared processes are, for the report */
  readonly sharedLabel: string;
  start(): Promise<void>;
  /** wait until the shared processes have no background work left (the local service's initdb pool) */
  quiet(): Promise<void>;
  create(n: number): Promise<BenchCluster>;
  clusterPids(c: BenchCluster): number[];
  /** read again what the measurements need (the agent's units' PIDs); before each measurement */
  refresh(): Promise<void>;
  /** the shared processes: the service's or the agent's tree without any cluster's process */
  sharedPids(clusters: BenchCluster[]): number[];
  /** remove everything, once; never throws (what could not be removed is printed) */
  cleanup(): Promise<void>;
}

const treesOf = (pids: (number | null | undefined)[]): number[] => pids.flatMap((p) => (p ? processTree(p) : []));

class LocalHarness implements EngineHarness {
  readonly name = 'local' as const;
  readonly sharedLabel = 'the service (dwsbox serve)';
  private svc: ChildService | null = null;
  private readonly clusters: BenchCluster[] = [];
  private cleaned: Promise<void> | null = null;

  constructor(
    private readonly dir: string,
    private readonly count: number,
  ) {}

  async start(): Promise<void> {
    this.svc = await startChildService({
      dataDir: this.dir,
      settings: {
        // The defaults of what the test helper changes for tests: timings, fsync on (D20), faults off, info logs.
        logLevel: DEFAULTS.logLevel,
        enableCrashFaults: DEFAULTS.enableCrashFaults,
        enableTenantFaults: DEFAULTS.enableTenantFaults,
        unsafeNoFsync: false,
        pollMs: DEFAULTS.pollMs,
        monitorIntervalMs: DEFAULTS.monitorIntervalMs,
        leaseMs: DEFAULTS.leaseMs,
        shutdownTimeoutMs: DEFAULTS.shutdownTimeoutMs,
        // Its own pool (the default place), not the test run's shared one.
        initdbPoolDir: join(this.dir, 'pool'),
        // The host's node limit and the project's quota raised only as far as `--clusters` needs (all in one project).
        maxNodes: Math.max(DEFAULTS.maxNodes, NODES * this.count),
        projectNodeQuota: Math.max(DEFAULTS.projectNodeQuota, NODES * this.count),
        // This engine is the local one (the service's default is patroni, which `ha` measures).
        ...LOCAL_ENGINE,
      },
    });
    log(`local: service pid ${this.svc.pid} on ${this.svc.endpoint}, data directory ${this.dir}`);
  }

  /**
   * The initdb pool full (its default size of ready entries of the node type, none in the making) and no child of
   * the service but postmasters for 2 s: the pool's background initdb never runs in a window.
   */
  async quiet(): Promise<void> {
    const svc = this.svc!;
    const poolRoot = join(this.dir, 'pool');
    const poolFull = (): boolean =>
      readdirSync(poolRoot, { withFileTypes: true }).some((d) => {
        if (!d.isDirectory() || !d.name.startsWith(`${NODE_TYPE}-`)) return false;
        const entries = readdirSync(join(poolRoot, d.name));
        return entries.filter((n) => /^[0-9a-f]{16}$/.test(n)).length >= DEFAULTS.initdbPool && !entries.some((n) => n.endsWith('.part'));
      });
    const busyTools = (): number[] =>
      processTree(svc.pid)
        .slice(1)
        .filter((p) => {
          try {
            return !/(?:^|\/)postgres\0-D\0/.test(readFileSync(`/proc/${p}/cmdline`, 'utf8')) && kindOf(p) !== 'postgres';
          } catch {
            return false;
          }
        });
    let calmSince = 0;
    await waitFor(
      async () => {
        const calm = existsSync(poolRoot) && poolFull() && busyTools().length === 0;
        if (!calm) calmSince = 0;
        else calmSince ||= Date.now();
        return calm && Date.now() - calmSince >= 2000;
      },
      { timeoutMs: 300_000, intervalMs: 200, what: 'the initdb pool to fill and the service to be idle' },
    );
  }

  async create(n: number): Promise<BenchCluster> {
    const svc = this.svc!;
    const started = Date.now();
    const c = await createCluster(svc.client, { name: `capacity-${n}`, nodes: NODES, nodeType: NODE_TYPE });
    // Recorded before the wait, so that a failed create is still deleted by the clean-up.
    const rec: BenchCluster = { id: c.id, createSeconds: 0, dataDirs: [] };
    this.clusters.push(rec);
    const d = await waitIdle(svc.client, c.id, 300_000);
    if (d.status !== 'AVAILABLE') throw new Error(`cluster ${c.id} ended ${d.status}: ${JSON.stringify(d.failed_reasons)}`);
    rec.createSeconds = (Date.now() - started) / 1000;
    // The local engine's layout (local/layout.ts): <dataDir>/clusters/<id>/node<i>/data.
    const cdir = join(this.dir, 'clusters', c.id);
    rec.dataDirs = readdirSync(cdir)
      .filter((x) => /^node\d+$/.test(x))
      .map((x) => join(cdir, x, 'data'));
    if (rec.dataDirs.length !== NODES) throw new Error(`cluster ${c.id}: ${rec.dataDirs.length} node directories in ${cdir}, not ${NODES}`);
    return rec;
  }

  async refresh(): Promise<void> {
    // Everything is read from /proc and the data directories at each measurement.
  }

  clusterPids(c: BenchCluster): number[] {
    return treesOf(c.dataDirs.map(postmasterPid));
  }

  sharedPids(clusters: BenchCluster[]): number[] {
    const theirs = new Set(clusters.flatMap((c) => this.clusterPids(c)));
    return processTree(this.svc!.pid).filter((p) => !theirs.has(p));
  }

  cleanup(): Promise<void> {
    this.cleaned ??= this.doCleanup();
    return this.cleaned;
  }

  private async doCleanup(): Promise<void> {
    const svc = this.svc;
    if (!svc) return;
    for (const c of this.clusters) {
      try {
        if (svc.alive()) {
          await svc.client.call('DELETE', `/v1.0/{project_id}/clusters/${c.id}`, { keep_last_manual_snapshot: 0 });
          await waitFor(async () => (await svc.client.request('GET', `/v1.0/{project_id}/clusters/${c.id}`)).status === 404, {
            timeoutMs: 180_000,
            intervalMs: 200,
            what: `cluster ${c.id} to be deleted`,
          });
        }
      } catch (e) {
        log(`clean-up: deleting cluster ${c.id} failed: ${(e as Error).message}`);
      }
    }
    try {
      // SIGTERM first: the service stops its pool's filler and its tools itself.
      if (svc.kill('SIGTERM')) await svc.waitExit(60_000);
    } catch (e) {
      log(`clean-up: the service did not stop on SIGTERM: ${(e as Error).message}`);
    }
    try {
      // Kills the service if it still runs, stops every postmaster under its directory, removes it and its project users.
      await svc.cleanup();
    } catch (e) {
      log(`clean-up: ${(e as Error).message}`);
    }
    await killAll(ourProcesses(this.dir, null), log);
  }
}

class HaHarness implements EngineHarness {
  readonly name = 'ha' as const;
  readonly sharedLabel = 'the host agent and its etcd';
  private agent: AgentClient | null = null;
  private agentPid: number | null = null;
  private service: OsUser | null = null;
  private projectUser: OsUser | null = null;
  private readonly clusters: { rec: BenchCluster; cluster: HaCluster }[] = [];
  /** the agent's units' PIDs by unit name, as of the last `refresh` */
  private unitPids = new Map<string, number>();
  private cleaned: Promise<void> | null = null;

  constructor(
    private readonly dir: string,
    private readonly nodeType: NodeType,
  ) {}

  async start(): Promise<void> {
    this.agent = await ensureAgent(join(this.dir, 'agent'));
    this.agentPid = (await this.agent.info()).pid;
    await this.agent.ensureEtcd();
    this.service = await ensureServiceUser();
    const uids: UidRecord = { highest: async () => null, record: async () => {} };
    this.projectUser = await new ProjectUsers(this.dir, silentLogger()).ensure('capacity-bench', uids);
    log(
      `ha: agent pid ${this.agentPid} on ${join(this.dir, 'agent')}; project user ${this.projectUser.name} (uid ${this.projectUser.uid})`,
    );
  }

  async quiet(): Promise<void> {
    // The agent does no background work of its own beyond supervising.
  }

  async create(n: number): Promise<BenchCluster> {
    const agent = this.agent!;
    const scope = `cap${randomBytes(5).toString('hex')}`;
    const port = await freePort();
    const started = Date.now();
    const subnet = await agent.allocateSubnet(scope, { port, members: NODES });
    const spec: HaClusterSpec = {
      scope,
      subnet,
      port,
      ordinals: [...ORDINALS],
      dir: join(this.dir, scope),
      member: this.projectUser!,
      service: this.service!,
      secrets: generateHaSecrets(),
      // The node type's sizing, as the local engine writes it (clusterSettings): like for like.
      parameters: { ...this.nodeType.settings },
    };
    const cluster = new HaCluster(agent, spec);
    const rec: BenchCluster = { id: scope, createSeconds: 0, dataDirs: ORDINALS.map((i) => cluster.dataDir(i)) };
    this.clusters.push({ rec, cluster });
    await cluster.ensure();
    await cluster.waitHealthy({ timeoutMs: 300_000 });
    rec.createSeconds = (Date.now() - started) / 1000;
    log(`ha: cluster ${n} (${scope}, subnet ${subnet}) healthy in ${rec.createSeconds.toFixed(1)} s`);
    return rec;
  }

  /** The agent's units' PIDs. */
  async refresh(): Promise<void> {
    this.unitPids = new Map((await this.agent!.units()).flatMap((u) => (u.pid ? [[u.name, u.pid] as [string, number]] : [])));
  }

  clusterPids(c: BenchCluster): number[] {
    const units = [...ORDINALS.map((i) => memberUnit(c.id, i)), routerUnit(c.id)].map((u) => this.unitPids.get(u));
    return [...new Set([...treesOf(units), ...treesOf(c.dataDirs.map(postmasterPid))])];
  }

  sharedPids(clusters: BenchCluster[]): number[] {
    const theirs = new Set(clusters.flatMap((c) => this.clusterPids(c)));
    const etcd = this.unitPids.get(ETCD_UNIT);
    return [...new Set([...processTree(this.agentPid!), ...treesOf([etcd])])].filter((p) => !theirs.has(p));
  }

  cleanup(): Promise<void> {
    this.cleaned ??= this.doCleanup();
    return this.cleaned;
  }

  private async doCleanup(): Promise<void> {
    const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        log(`clean-up: ${what} failed: ${(e as Error).message}`);
      }
    };
    if (this.agent) {
      for (const { cluster } of [...this.clusters].reverse())
        await attempt(`removing cluster ${cluster.spec.scope}`, async () => {
          await cluster.remove();
          await this.agent!.releaseSubnet(cluster.spec.subnet);
        });
      await attempt('stopping the agent and its units', async () => {
        await this.agent!.shutdown(true);
        const deadline = Date.now() + 30_000;
        while (this.agentPid !== null && isProcessAlive(this.agentPid) && Date.now() < deadline) await sleep(50);
      });
      await attempt('closing the agent client', () => this.agent!.close());
    }
    await killAll(ourProcesses(this.dir, this.projectUser?.uid ?? null), log);
    if (this.projectUser)
      await attempt(`removing the project user ${this.projectUser.name}`, () => removeProjectUser(this.projectUser!.name));
  }
}

// ------------------------------------------------------------------ one engine's run

interface ClusterResult {
  id: string;
  createSeconds: number;
  /** allocated bytes of each member's data directory right after the create */
  dataDirBytes: number[];
  /** of which in pg_wal */
  walBytes: number[];
  mem: GroupMem;
  memEnd: GroupMem;
  cpu: GroupCpu;
}

interface EngineResult {
  engine: EngineName;
  shared: string;
  /** MemTotal/MemAvailable before the engine's processes started */
  memBefore: { memTotal: number; memAvailable: number };
  /** MemAvailable with every cluster up (after the CPU window) */
  memAvailableWithClusters: number;
  sharedAlone: { mem: GroupMem; cpu: GroupCpu; cpuSeconds: number; machineCores: number };
  sharedWithClusters: { mem: GroupMem; memEnd: GroupMem; cpu: GroupCpu };
  clusters: ClusterResult[];
  cpuSeconds: number;
  machineCores: number;
  /** bytes free (for an unprivileged user) on the file system of the clusters' data directories */
  diskFree: number;
  /** the shared processes' own files: the local engine's initdb pool (ready for the next creates), the agent's etcd data */
  sharedDisk: { what: string; bytes: number };
}

async function runEngine(h: EngineHarness, o: Options, dir: string): Promise<EngineResult> {
  const memBefore = meminfo();
  await h.start();
  await h.quiet();
  log(`${h.name}: shared processes up; ${o.settle} s idle, then ${o.cpuSeconds} s of CPU`);
  await sleep(o.settle * 1000);
  await h.refresh();
  const sharedAloneMem = groupMem(h.sharedPids([]));
  const alone = await cpuWindow({ shared: () => h.sharedPids([]) }, o.cpuSeconds);
  log(`${h.name}: shared alone PSS ${mib(sharedAloneMem.pss)} MiB, CPU ${pct(alone.groups['shared']!.cores)} of a core`);

  const clusters: BenchCluster[] = [];
  const dataDirBytes: number[][] = [];
  const walBytes: number[][] = [];
  for (let n = 1; n <= o.clusters; n++) {
    const c = await h.create(n);
    clusters.push(c);
    dataDirBytes.push(c.dataDirs.map(du));
    walBytes.push(c.dataDirs.map((d) => du(join(d, 'pg_wal'))));
    log(
      `${h.name}: cluster ${n}/${o.clusters} up in ${c.createSeconds.toFixed(1)} s; data directories ${dataDirBytes.at(-1)!.map(mib).join(' + ')} MiB`,
    );
  }
  await h.quiet();
  log(`${h.name}: ${o.clusters} clusters up; ${o.settle} s idle, then ${o.cpuSeconds} s of CPU`);
  await sleep(o.settle * 1000);
  await h.refresh();
  const mems = clusters.map((c) => groupMem(h.clusterPids(c)));
  const sharedMem = groupMem(h.sharedPids(clusters));
  const groups: Record<string, () => number[]> = { shared: () => h.sharedPids(clusters) };
  clusters.forEach((c, i) => (groups[`c${i}`] = () => h.clusterPids(c)));
  const w = await cpuWindow(groups, o.cpuSeconds);
  await h.refresh();
  const memsEnd = clusters.map((c) => groupMem(h.clusterPids(c)));
  const sharedMemEnd = groupMem(h.sharedPids(clusters));
  const memAvailableWithClusters = meminfo().memAvailable;
  return {
    engine: h.name,
    shared: h.sharedLabel,
    memBefore,
    memAvailableWithClusters,
    sharedAlone: { mem: sharedAloneMem, cpu: alone.groups['shared']!, cpuSeconds: alone.seconds, machineCores: alone.machineCores },
    sharedWithClusters: { mem: sharedMem, memEnd: sharedMemEnd, cpu: w.groups['shared']! },
    clusters: clusters.map((c, i) => ({
      id: c.id,
      createSeconds: c.createSeconds,
      dataDirBytes: dataDirBytes[i]!,
      walBytes: walBytes[i]!,
      mem: mems[i]!,
      memEnd: memsEnd[i]!,
      cpu: w.groups[`c${i}`]!,
    })),
    cpuSeconds: w.seconds,
    machineCores: w.machineCores,
    diskFree: ((s) => s.bavail * s.bsize)(statfsSync(dir)),
    sharedDisk:
      h.name === 'local' ? { what: 'pool', bytes: du(join(dir, 'pool')) } : { what: 'etcd', bytes: du(join(dir, 'agent', 'etcd')) },
  };
}

// ------------------------------------------------------------------ capacity

interface Capacity {
  engine: EngineName;
  basis: 'MemTotal' | 'MemAvailable';
  /** bytes the basis leaves for clusters: the basis less the shared processes' PSS */
  forClusters: number;
  /** (a) D18's rule: each cluster reserves 3 × the node type's memoryBytes */
  byRule: number;
  /**
   * D18's rule as CHECK_CAPACITY applies it: each create compares 3 × memoryBytes with the
   * MemAvailable of that moment, which the clusters already running lowered by what they use,
   * not by their budget; so creates go on while MemAvailable ≥ 3 × memoryBytes.
   */
  byRuleLive: number;
  /** (b) the measured PSS per cluster (the mean of the clusters) */
  byMeasured: number;
  binds: 'D18 rule' | 'measured memory' | 'both';
}

function capacities(r: EngineResult, nt: NodeType): Capacity[] {
  const perCluster = mean(r.clusters.map((c) => c.mem.pss));
  const budget = NODES * nt.memoryBytes;
  return (['MemTotal', 'MemAvailable'] as const).map((basis) => {
    const base = basis === 'MemTotal' ? r.memBefore.memTotal : r.memBefore.memAvailable;
    const forClusters = base - r.sharedWithClusters.mem.pss;
    const byRule = Math.max(0, Math.floor(forClusters / budget));
    const byRuleLive = forClusters >= budget ? 1 + Math.floor((forClusters - budget) / perCluster) : 0;
    const byMeasured = Math.max(0, Math.floor(forClusters / perCluster));
    return {
      engine: r.engine,
      basis,
      forClusters,
      byRule,
      byRuleLive,
      byMeasured,
      binds: byRule < byMeasured ? 'D18 rule' : byRule > byMeasured ? 'measured memory' : 'both',
    };
  });
}

/** Other limits on the number of clusters, for context: addresses, idle CPU, disk right after create. */
interface OtherLimits {
  /** cluster subnets of the address plan */
  addresses: number;
  /** the service's `maxNodes` default, in 3-node clusters (every engine: cluster-service.ts) */
  hostNodeLimit: number;
  /** the service's `projectNodeQuota` default, in 3-node clusters of one project */
  projectQuota: number;
  idleCpuPerCluster: number;
  idleCpu: number | null;
  disk: number;
}

function otherLimits(r: EngineResult): OtherLimits {
  // A cluster's idle CPU: its own processes, plus what the shared processes spent more per
  // cluster than with none (the local service's health monitor checks every node).
  const growth = Math.max(0, (r.sharedWithClusters.cpu.cores - r.sharedAlone.cpu.cores) / r.clusters.length);
  const idleCpuPerCluster = mean(r.clusters.map((c) => c.cpu.cores)) + growth;
  const cores = availableParallelism();
  const diskPer = mean(r.clusters.map((c) => sum(c.dataDirBytes)));
  return {
    addresses: MAX_SUBNETS,
    hostNodeLimit: Math.floor(DEFAULTS.maxNodes / NODES),
    projectQuota: Math.floor(DEFAULTS.projectNodeQuota / NODES),
    idleCpuPerCluster,
    // Clusters whose idle work alone would keep every core busy.
    idleCpu: idleCpuPerCluster > 0 ? Math.floor((cores - r.sharedAlone.cpu.cores) / idleCpuPerCluster) : null,
    disk: Math.floor(r.diskFree / diskPer),
  };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]): number => (xs.length ? sum(xs) / xs.length : NaN);

// ------------------------------------------------------------------ report

function kinds(m: { byKind: Record<string, { pss: number }> }): string {
  return Object.entries(m.byKind)
    .sort((a, b) => b[1].pss - a[1].pss)
    .map(([k, v]) => `${k} ${mib(v.pss)}`)
    .join(', ');
}

function cpuKinds(c: GroupCpu): string {
  return Object.entries(c.byKind)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${pct(v)}`)
    .join(', ');
}

function summary(results: EngineResult[], nt: NodeType, baselines: Awaited<ReturnType<typeof nodeBaselines>> | null): string {
  const lines: string[] = [];
  const row = (cells: string[], widths: number[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const w = [30, 9, 9, 6, 11, 12, 7];
  for (const r of results) {
    lines.push('');
    lines.push(
      `${r.engine}: ${r.clusters.length} idle 3-node ${NODE_TYPE} clusters; shared: ${r.shared}; CPU over ${r.cpuSeconds.toFixed(1)} s (machine ${pct(r.machineCores)} of a core meanwhile)`,
    );
    lines.push(row(['', 'PSS MiB', 'RSS MiB', 'procs', 'CPU/core', 'data MiB', 'create'], w));
    for (const [i, c] of r.clusters.entries())
      lines.push(
        row(
          [
            `cluster ${i + 1} (${c.id.slice(0, 12)})`,
            mib(c.mem.pss),
            mib(c.mem.rss),
            String(c.mem.processes),
            pct(c.cpu.cores),
            mib(sum(c.dataDirBytes)),
            `${c.createSeconds.toFixed(1)} s`,
          ],
          w,
        ),
      );
    const m = (f: (c: ClusterResult) => number): number => mean(r.clusters.map(f));
    lines.push(
      row(
        [
          'mean per cluster',
          mib(m((c) => c.mem.pss)),
          mib(m((c) => c.mem.rss)),
          m((c) => c.mem.processes).toFixed(1),
          pct(m((c) => c.cpu.cores)),
          mib(m((c) => sum(c.dataDirBytes))),
          '',
        ],
        w,
      ),
    );
    lines.push(
      row(
        [
          'shared, no cluster',
          mib(r.sharedAlone.mem.pss),
          mib(r.sharedAlone.mem.rss),
          String(r.sharedAlone.mem.processes),
          pct(r.sharedAlone.cpu.cores),
          '',
          '',
        ],
        w,
      ),
    );
    lines.push(
      row(
        [
          `shared, ${r.clusters.length} clusters`,
          mib(r.sharedWithClusters.mem.pss),
          mib(r.sharedWithClusters.mem.rss),
          String(r.sharedWithClusters.mem.processes),
          pct(r.sharedWithClusters.cpu.cores),
          `${mib(r.sharedDisk.bytes)} ${r.sharedDisk.what}`,
          '',
        ],
        w,
      ),
    );
    const c0 = r.clusters[0];
    if (c0) {
      lines.push(`  PSS by process kind, cluster 1 (MiB): ${kinds(c0.mem)}; shared: ${kinds(r.sharedWithClusters.mem)}`);
      lines.push(`  CPU by process kind, cluster 1: ${cpuKinds(c0.cpu)}; shared: ${cpuKinds(r.sharedWithClusters.cpu)}`);
      lines.push(
        `  PSS after the CPU window (MiB): clusters ${r.clusters.map((c) => mib(c.memEnd.pss)).join(', ')}; shared ${mib(r.sharedWithClusters.memEnd.pss)}`,
      );
      lines.push(
        `  per member data directory (MiB, of which pg_wal): ${r.clusters.map((c) => c.dataDirBytes.map((b, k) => `${mib(b)} (${mib(c.walBytes[k]!)})`).join(' / ')).join('; ')}`,
      );
      lines.push(`  USS per cluster (MiB): ${r.clusters.map((c) => mib(c.mem.uss)).join(', ')}`);
      lines.push(
        `  MemAvailable before ${mib(r.memBefore.memAvailable)} MiB, with the clusters ${mib(r.memAvailableWithClusters)} MiB (fell by ${mib(r.memBefore.memAvailable - r.memAvailableWithClusters)} MiB; other work on the machine moves it too)`,
      );
    }
  }
  if (baselines)
    lines.push(
      `  reference, an idle Node.js process alone: PSS ${mib(baselines.node.pss)} MiB (RSS ${mib(baselines.node.rss)}); with the tsx loader the service and the agent run under here: PSS ${mib(baselines.nodeWithTsx.pss)} MiB (RSS ${mib(baselines.nodeWithTsx.rss)})`,
    );
  lines.push('');
  lines.push(
    `How many 3-node ${NODE_TYPE} clusters this host holds (D18's rule: 3 × memoryBytes ${mib(nt.memoryBytes)} MiB = ${mib(NODES * nt.memoryBytes)} MiB a cluster)`,
  );
  const w2 = [7, 23, 13, 13, 11, 13, 16];
  lines.push(row(['engine', 'basis', 'for clusters', '(a) D18 rule', 'rule, live', '(b) measured', 'binds'], w2));
  for (const r of results)
    for (const c of capacities(r, nt))
      lines.push(
        row(
          [
            c.engine,
            `${c.basis} ${gib(c.basis === 'MemTotal' ? r.memBefore.memTotal : r.memBefore.memAvailable)}`,
            gib(c.forClusters),
            String(c.byRule),
            String(c.byRuleLive),
            String(c.byMeasured),
            c.binds,
          ],
          w2,
        ),
      );
  lines.push(
    `  for clusters: the basis (read before the engine started) less the shared processes' PSS with the clusters up; (a) the rule with each cluster's budget reserved; rule, live: as CHECK_CAPACITY applies it, each create against the MemAvailable of that moment, which running clusters lower by what they use, not by their budget; (b) the mean measured PSS a cluster`,
  );
  for (const r of results) {
    const l = otherLimits(r);
    lines.push(
      `${r.engine}, other limits: the service's maxNodes default (${DEFAULTS.maxNodes} nodes) ${l.hostNodeLimit} clusters, projectNodeQuota (${DEFAULTS.projectNodeQuota}) ${l.projectQuota} a project; addresses ${l.addresses} (subnets c = 1..254, D6/D24); idle CPU (${pct(l.idleCpuPerCluster)} a cluster, the shared processes' growth included) fills ${availableParallelism()} cores at ${l.idleCpu ?? 'n/a (no tick counted)'} clusters; disk free ${gib(r.diskFree)} holds ${l.disk} clusters as created`,
    );
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------ main

function options(): Options {
  const { values } = parseArgs({
    options: {
      clusters: { type: 'string', default: '3' },
      engines: { type: 'string', default: ENGINES.join(',') },
      settle: { type: 'string', default: '20' },
      'cpu-seconds': { type: 'string', default: '30' },
    },
  });
  const engines = values.engines.split(',').map((e) => e.trim());
  for (const e of engines)
    if (!(ENGINES as readonly string[]).includes(e)) throw new Error(`--engines: ${e} is not one of ${ENGINES.join(', ')}`);
  const o: Options = {
    clusters: Number(values.clusters),
    engines: engines as EngineName[],
    settle: Number(values.settle),
    cpuSeconds: Number(values['cpu-seconds']),
  };
  if (!Number.isInteger(o.clusters) || o.clusters < 1 || o.clusters > 50) throw new Error('--clusters must be a whole number from 1 to 50');
  if (!(o.settle >= 0)) throw new Error('--settle must be 0 or more seconds');
  if (!(o.cpuSeconds > 0)) throw new Error('--cpu-seconds must be a positive number');
  return o;
}

async function main(): Promise<void> {
  const o = options();
  const nt = findNodeType(NODE_TYPE)!;
  const meta = { ...gitInfo(['src', 'test/helpers', 'bench/capacity.ts']), cores: availableParallelism(), loadAverage: [] as string[] };
  const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const root = mkdtempSync('/tmp/dwsbox-bench-capacity-');
  chmodSync(root, 0o711);
  let current: EngineHarness | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: cleaning up`);
    void (current?.cleanup() ?? Promise.resolve()).finally(() => {
      rmSync(root, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results: EngineResult[] = [];
  let baselines: Awaited<ReturnType<typeof nodeBaselines>> | null = null;
  let failed = false;
  meta.loadAverage.push(load());
  try {
    baselines = await nodeBaselines();
    for (const engine of o.engines) {
      const dir = join(root, engine);
      // Traversable by the project's and the service's users (their processes live below it, D32).
      mkdirSync(dir, { mode: 0o711 });
      chmodSync(dir, 0o711);
      const h: EngineHarness = engine === 'local' ? new LocalHarness(dir, o.clusters) : new HaHarness(dir, nt);
      current = h;
      try {
        results.push(await runEngine(h, o, dir));
      } finally {
        await h.cleanup();
        current = null;
        const left = ourProcesses(dir, null);
        if (left.length) log(`clean-up: processes still running under ${dir}: ${JSON.stringify(left)}`);
        rmSync(dir, { recursive: true, force: true });
      }
      meta.loadAverage.push(load());
    }
  } catch (e) {
    failed = true;
    log(`FAILED: ${(e as Error).stack ?? String(e)}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  if (results.length) process.stdout.write(`${summary(results, nt, baselines)}\n`);
  process.stdout.write(
    `${JSON.stringify({
      bench: 'capacity',
      date: new Date().toISOString(),
      options: o,
      nodeType: { name: nt.specName, memoryBytes: nt.memoryBytes, settings: nt.settings },
      ...meta,
      baselines,
      results,
      capacity: results.flatMap((r) => capacities(r, nt)),
      otherLimits: Object.fromEntries(results.map((r) => [r.engine, otherLimits(r)])),
    })}\n`,
  );
  if (failed) process.exitCode = 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
