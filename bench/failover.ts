/**
 * Benchmark (issue 15): what failovers, switchovers and the synchronous modes cost a client of
 * an HA cluster, measured through the cluster's read-write endpoint, as a client sees them.
 *
 *   npx tsx bench/failover.ts [--runs 5] [--only <case,...>] [--modes sync,strict,async]
 *                             [--seconds 10] [--check-cost N] [--cost-seconds 30] [--pause-ms 10] [--keep-logs]
 *                             [--sync-mode sync|strict|async]
 *
 * Set-up: its own host agent on a temporary directory under /tmp (`ensureAgent`), the agent's
 * etcd, one 3-member `HaCluster` (members as a project OS user made here, the router as the
 * service user, the port from the free-port helper, the subnet from the agent), with the
 * engine's defaults (synchronous mode, ttl 10 / loop_wait 2 / retry_timeout 4,
 * primary_start_timeout 0, failsafe on; fsync on, D20; `--sync-mode` sets its synchronous
 * mode at create). A `Writer` (test/helpers/ha-writer.ts) commits numbered rows through the
 * read-write endpoint `127.1.c.1:port` the whole time the failover cases run, `--pause-ms`
 * between two commits.
 *
 * Cases (`--only` takes their names or numbers), each `--runs` times, the cluster healthy (a
 * leader, both replicas streaming, one synchronous) and the writer's table reachable again
 * before every run:
 *   1 postmaster   SIGKILL of the leader's postmaster: seconds until the first write acknowledged
 *                  by another member; seconds until the old member streams again.
 *   2 member       the whole leader lost, as a host crash: the agent frozen (SIGSTOP, else it
 *                  restarts Patroni at once), the leader's Patroni and postmaster SIGKILLed
 *                  together; seconds until the first write on another member; then the agent
 *                  resumed (SIGCONT), and seconds until the old member streams again.
 *   3 patroni      SIGKILL of the leader's Patroni alone (the agent restarts it): the longest
 *                  write gap, whether the leader changed, and every member's
 *                  pg_is_in_recovery() and synchronous_standby_names polled every ~50 ms on its
 *                  own address through the outage (at least ttl + 5 s, and until the primary
 *                  has a synchronous standby again, at most 120 s): polls with more than one
 *                  writable member, and polls where the primary named no synchronous standby.
 *   4 etcd         SIGKILL of the agent's etcd (the agent restarts it): the longest write gap
 *                  over ttl + 5 s, whether the leader changed, seconds until etcd answered.
 *   5 switchover   `POST /switchover` to the synchronous standby: the longest write gap and
 *                  the seconds until the call returned.
 *   6 modes        synchronous modes' write cost: for each of `--modes`, set with
 *                  `PATCH /config` on the same cluster, commits per second and p50/p99 commit
 *                  latency with 1 and with 8 concurrent writers for `--seconds` each (after a
 *                  2 s warm-up), `--runs` rounds, the modes' order rotated each round.
 *   7 check-cost   only with `--check-cost N`: N idle 3-member clusters; the CPU of all
 *                  HAProxy, all Patroni and all postgres processes over `--cost-seconds`, with
 *                  the routers' health checks on, then off (`disable health`), twice.
 * After every failover run, the acknowledged rows missing on the current primary (read through
 * the same endpoint) are counted.
 *
 * Prints a table and one JSON line with every run. Removes everything it made, also when it
 * fails or is interrupted: the clusters (`remove()`), the agent with its units
 * (`shutdown(true)`), any process of the project user left, the project user, the directory.
 * The agent's and the clusters' logs are copied to `<directory>-logs` first when the run fails
 * or with `--keep-logs`.
 * Run it under the shared lock: `flock -o /tmp/dwsbox-bench.lock npx tsx bench/failover.ts`.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ensureAgent, type AgentClient } from '../src/dataplane/agent/client.js';
import { ETCD_UNIT } from '../src/dataplane/agent/host-etcd.js';
import type { OsUser } from '../src/dataplane/os-user.js';
import {
  generateHaSecrets,
  HaCluster,
  memberHost,
  memberUnit,
  readWriteHost,
  routerUnit,
  type HaClusterSpec,
  type HaHealth,
} from '../src/dataplane/patroni/ha-cluster.js';
import { ROUTER_CHECKS, RouterBackend } from '../src/dataplane/patroni/haproxy-config.js';
import { httpCall } from '../src/dataplane/patroni/http.js';
import { FAST_TIMINGS, memberName, memberOrdinal, type SyncMode } from '../src/dataplane/patroni/patroni-config.js';
import { isProcessAlive, processTree } from '../src/dataplane/process-info.js';
import { ensureServiceUser, ProjectUsers, removeProjectUser, type UidRecord } from '../src/dataplane/project-users.js';
import { silentLogger } from '../src/log/logger.js';
import { Writer, query, type Endpoint } from '../test/helpers/ha-writer.js';
import { freePort, waitFor } from '../test/helpers/env.js';
import { busyTicks, CLOCK_TICKS, cpuTicks } from './cpu.js';
import { gitInfo } from './git-info.js';
import { killAll, ourProcesses } from './leftovers.js';

const CASES = ['postmaster', 'member', 'patroni', 'etcd', 'switchover', 'modes', 'check-cost'] as const;
type CaseName = (typeof CASES)[number];
const FAILOVER_CASES: readonly CaseName[] = ['postmaster', 'member', 'patroni', 'etcd', 'switchover'];
const ORDINALS = [1, 2, 3] as const;
/** Patroni's leader key lease (the engine's default): what a whole member lost costs at least. */
const TTL_MS = FAST_TIMINGS.ttl * 1000;
/** The agent restarts a unit at once only when it lived this long (supervisor.ts QUICK_DEATH_MS, 10 s) */
const UNIT_SETTLED_MS = 11_000;
/** Case 3: how long a run waits for the primary to have a synchronous standby again before it puts one back itself */
const SYNC_BACK_CAP_MS = 120_000;

interface Options {
  runs: number;
  only: CaseName[];
  modes: SyncMode[];
  seconds: number;
  checkCost: number;
  costSeconds: number;
  pauseMs: number;
  /** the synchronous mode of the failover cases' cluster (the engine's default: sync) */
  syncMode: SyncMode;
  /** keep the agent's and the clusters' logs (copied next to the run's directory) also when the run succeeds */
  keepLogs: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '–' : (ms / 1000).toFixed(2));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
const log = (l: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${l}\n`);
const ordinalOf = (member: string): number => memberOrdinal(member)!;

function postmasterPid(dataDir: string): number {
  const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres'))
    throw new Error(`no running postmaster in ${dataDir}`);
  return pid;
}

// ------------------------------------------------------------------ the bench's world

/** Everything the bench made, so that `cleanup` can remove it whatever failed. */
class World {
  agent: AgentClient | null = null;
  agentPid: number | null = null;
  /** the agent's pid while it is frozen (SIGSTOP): resumed by the clean-up whatever happens */
  frozen: number | null = null;
  service: OsUser | null = null;
  projectUser: OsUser | null = null;
  readonly clusters: { cluster: HaCluster; subnet: number }[] = [];
  writer: Writer | null = null;
  readonly closers = new Set<() => Promise<void>>();
  private cleaned: Promise<void> | null = null;

  constructor(
    readonly root: string,
    /** copy each cluster's logs next to the run's directory before it is removed */
    private readonly keepLogs: boolean,
  ) {}

  get agentDir(): string {
    return join(this.root, 'agent');
  }

  async start(): Promise<void> {
    this.agent = await ensureAgent(this.agentDir);
    this.agentPid = (await this.agent.info()).pid;
    await this.agent.ensureEtcd();
    this.service = await ensureServiceUser();
    const uids: UidRecord = { highest: async () => null, record: async () => {} };
    this.projectUser = await new ProjectUsers(this.root, silentLogger()).ensure('failover-bench', uids);
    log(`agent pid ${this.agentPid} on ${this.agentDir}; project user ${this.projectUser.name} (uid ${this.projectUser.uid})`);
  }

  /** A new 3-member cluster: its units ensured (not waited for). */
  async cluster(syncMode?: SyncMode): Promise<HaCluster> {
    const scope = `fb${randomBytes(5).toString('hex')}`;
    const port = await freePort();
    const subnet = await this.agent!.allocateSubnet(scope, { port, members: ORDINALS.length });
    const spec: HaClusterSpec = {
      scope,
      subnet,
      port,
      ordinals: [...ORDINALS],
      dir: join(this.root, scope),
      member: this.projectUser!,
      service: this.service!,
      secrets: generateHaSecrets(),
      ...(syncMode ? { syncMode } : {}),
    };
    const cluster = new HaCluster(this.agent!, spec);
    this.clusters.push({ cluster, subnet });
    await cluster.ensure();
    return cluster;
  }

  async removeCluster(cluster: HaCluster): Promise<void> {
    const i = this.clusters.findIndex((c) => c.cluster === cluster);
    if (i < 0) return;
    const [{ subnet }] = this.clusters.splice(i, 1) as [{ cluster: HaCluster; subnet: number }];
    // Its members' and router's logs go with its directory: copied first when asked to keep them.
    const logs = join(cluster.spec.dir, 'log');
    if (this.keepLogs && existsSync(logs)) cpSync(logs, join(`${this.root}-logs`, cluster.spec.scope, 'log'), { recursive: true });
    await cluster.remove();
    await this.agent!.releaseSubnet(subnet);
  }

  endpoint(cluster: HaCluster): Endpoint {
    return {
      host: readWriteHost(cluster.spec.subnet),
      port: cluster.spec.port,
      user: cluster.spec.secrets.superuser.username,
      password: cluster.spec.secrets.superuser.password,
    };
  }

  freeze(): void {
    process.kill(this.agentPid!, 'SIGSTOP');
    this.frozen = this.agentPid;
  }

  thaw(): void {
    if (this.frozen === null) return;
    process.kill(this.frozen, 'SIGCONT');
    this.frozen = null;
  }

  /** Remove everything, once; never throws (what could not be removed is printed). */
  cleanup(keepLogs: boolean): Promise<void> {
    this.cleaned ??= this.doCleanup(keepLogs);
    return this.cleaned;
  }

  private async doCleanup(keepLogs: boolean): Promise<void> {
    const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        log(`clean-up: ${what} failed: ${(e as Error).message}`);
      }
    };
    try {
      this.thaw();
    } catch {
      /* gone */
    }
    await attempt('stopping the writer', async () => this.writer?.stop());
    for (const close of this.closers) await attempt('closing a client', close);
    if (keepLogs) await attempt('keeping the logs', async () => keepLogsOf(this.root));
    if (this.agent) {
      for (const { cluster } of [...this.clusters].reverse())
        await attempt(`removing cluster ${cluster.spec.scope}`, () => this.removeCluster(cluster));
      await attempt('stopping the agent and its units', async () => {
        await this.agent!.shutdown(true);
        const deadline = Date.now() + 30_000;
        while (this.agentPid !== null && isProcessAlive(this.agentPid) && Date.now() < deadline) await sleep(50);
      });
      await attempt('closing the agent client', () => this.agent!.close());
    }
    // Whatever is left of ours: processes of the project user (postgres backends rename
    // themselves, so their command line does not name the directory) and any naming the directory.
    await killAll(ourProcesses(this.root, this.projectUser?.uid ?? null), log);
    if (this.projectUser)
      await attempt(`removing the project user ${this.projectUser.name}`, () => removeProjectUser(this.projectUser!.name));
    await attempt(`removing ${this.root}`, async () => rmSync(this.root, { recursive: true, force: true }));
    const still = ourProcesses(this.root, this.projectUser?.uid ?? null);
    if (still.length) log(`clean-up: processes still running: ${JSON.stringify(still)}`);
    else log('clean-up: nothing of this run is left');
  }
}

/** Copy the agent's and the clusters' logs next to the run's directory (on failure, for a post-mortem). */
function keepLogsOf(root: string): void {
  const dest = `${root}-logs`;
  for (const d of readdirSync(root)) {
    const logs = d === 'agent' ? [join(root, d, 'logs'), join(root, d, 'agent.log')] : [join(root, d, 'log')];
    for (const l of logs) if (existsSync(l)) cpSync(l, join(dest, d, l.split('/').pop()!), { recursive: true });
  }
  log(`logs kept in ${dest}`);
}

// ------------------------------------------------------------------ helpers on a cluster

/** Healthy (a leader, both replicas streaming, one synchronous), then a write acknowledged through the endpoint, then 1 s. */
async function ready(cluster: HaCluster, writer: Writer | null): Promise<HaHealth> {
  await cluster.waitHealthy({ timeoutMs: 300_000 });
  if (writer) {
    const t = Date.now();
    await waitFor(async () => (writer.acked.at(-1)?.sent ?? 0) > t, { timeoutMs: 120_000, intervalMs: 20, what: 'a write after healthy' });
  }
  await sleep(1000);
  return cluster.waitHealthy({ timeoutMs: 300_000 });
}

/** Acknowledged rows (up to now) the current primary lacks, read through the read-write endpoint. */
async function missingRows(endpoint: Endpoint, writer: Writer): Promise<number[]> {
  const upTo = writer.acked.length;
  const present = new Set((await query<{ n: number }>(endpoint, 'SELECT n FROM acked')).map((r) => r.n));
  return writer.acked
    .slice(0, upTo)
    .filter((a) => !present.has(a.n))
    .map((a) => a.n);
}

/** Wait until the unit's process has lived `ms` (the agent restarts a unit that died young only after a back-off). */
async function unitSettled(agent: AgentClient, unit: string, ms = UNIT_SETTLED_MS): Promise<{ pid: number; startedAt: number }> {
  const u = await agent.unit(unit);
  if (!u?.pid || !u.startedAt) throw new Error(`unit ${unit} is not running: ${JSON.stringify(u)}`);
  const age = Date.now() - Date.parse(u.startedAt);
  if (age < ms) await sleep(ms - age);
  return { pid: u.pid, startedAt: Date.parse(u.startedAt) };
}

/** The unit runs with another process than `oldPid`; when it started (ms since the epoch). */
async function unitRestarted(agent: AgentClient, unit: string, oldPid: number): Promise<number> {
  return waitFor(
    async () => {
      const u = await agent.unit(unit);
      return u?.pid && u.pid !== oldPid && u.status === 'running' && u.startedAt ? Date.parse(u.startedAt) : null;
    },
    { timeoutMs: 60_000, intervalMs: 20, what: `${unit} restarted by the agent` },
  );
}

/** When `member` streams from a leader other than itself (polled every 100 ms). */
async function streamingAgain(cluster: HaCluster, member: string): Promise<{ at: number; leader: string }> {
  return waitFor(
    async () => {
      const h = await cluster.health();
      return h.leader && h.leader !== member && h.streaming.includes(member) ? { at: Date.now(), leader: h.leader } : null;
    },
    { timeoutMs: 300_000, intervalMs: 100, what: `${member} streaming again` },
  );
}

/**
 * Asks every member on its own address, every ~50 ms, whether it is in recovery and what its
 * `synchronous_standby_names` is, on one connection per member (a refused or broken one is made
 * again at the next poll). A poll where more than one member answers `false` is two writable
 * primaries at once; one where the only writable member has an empty
 * `synchronous_standby_names` is a primary acknowledging commits that no standby has (D25).
 */
class WritablePoller {
  polls = 0;
  /** polls where more than one member was writable */
  multiWritable = 0;
  /** polls where no member answered writable */
  noneWritable = 0;
  /** polls where some member did not answer */
  unanswered = 0;
  /** polls where the one writable member had no synchronous standby named, and the first and last such (ms since the epoch) */
  asyncPolls = 0;
  asyncFirst: number | null = null;
  asyncLast: number | null = null;
  private readonly clients: (pg.Client | null)[];
  private stopped = false;
  private done: Promise<void> | undefined;

  constructor(
    private readonly cluster: HaCluster,
    private readonly intervalMs = 50,
  ) {
    this.clients = cluster.spec.ordinals.map(() => null);
  }

  start(): void {
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    await Promise.all(this.clients.map((c) => c?.end().catch(() => {})));
  }

  private async ask(k: number): Promise<{ recovery: boolean; ssn: string } | null> {
    const s = this.cluster.spec;
    try {
      if (!this.clients[k]) {
        const c = new pg.Client({
          host: memberHost(s.subnet, s.ordinals[k]!),
          port: s.port,
          user: s.secrets.superuser.username,
          password: s.secrets.superuser.password,
          database: 'postgres',
          connectionTimeoutMillis: 500,
          query_timeout: 1000,
        });
        c.on('error', () => {});
        this.clients[k] = c;
        await c.connect();
      }
      const q = "SELECT pg_is_in_recovery() AS recovery, current_setting('synchronous_standby_names') AS ssn";
      return (await this.clients[k]!.query<{ recovery: boolean; ssn: string }>(q)).rows[0]!;
    } catch {
      void this.clients[k]?.end().catch(() => {});
      this.clients[k] = null;
      return null;
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const t = Date.now();
      const r = await Promise.all(this.cluster.spec.ordinals.map((_, k) => this.ask(k)));
      this.polls++;
      const writable = r.filter((x) => x?.recovery === false);
      if (writable.length > 1) this.multiWritable++;
      if (writable.length === 0) this.noneWritable++;
      if (writable.length === 1 && writable[0]!.ssn === '') {
        this.asyncPolls++;
        this.asyncFirst ??= t;
        this.asyncLast = t;
      }
      if (r.includes(null)) this.unanswered++;
      await sleep(Math.max(0, this.intervalMs - (Date.now() - t)));
    }
  }
}

// ------------------------------------------------------------------ the failover cases

interface FailoverRun {
  run: number;
  error?: string;
  /** the leader before, and after the run */
  leader?: string;
  leaderAfter?: string;
  /** the case's main figure (ms): the first write on another member, or the longest write gap */
  ms?: number;
  /** acknowledged rows missing on the primary afterwards (of the rows acknowledged during the run) */
  missing?: number;
  [k: string]: unknown;
}

type CaseRun = (n: number) => Promise<FailoverRun>;

async function failoverCases(o: Options, world: World, results: Record<string, unknown>): Promise<void> {
  const agent = world.agent!;
  log('making the cluster');
  const made = Date.now();
  const cluster = await world.cluster(o.syncMode);
  const s = cluster.spec;
  const endpoint = world.endpoint(cluster);
  await cluster.waitHealthy({ timeoutMs: 300_000 });
  await waitFor(() => Writer.createTable(endpoint).then(() => true), { timeoutMs: 60_000, what: "the writer's table" });
  log(`cluster ${s.scope}: healthy in ${secs(Date.now() - made)} s; read-write endpoint ${endpoint.host}:${endpoint.port}`);
  const writer = new Writer(endpoint, { pauseMs: o.pauseMs });
  world.writer = writer;
  writer.start();
  const hostOf = (member: string): string => memberHost(s.subnet, ordinalOf(member));

  /** Rows acknowledged since `from` that the primary lacks (the check runs once the cluster is healthy). */
  const missingSince = async (from: number): Promise<number> => {
    const missing = new Set(await missingRows(endpoint, writer));
    return writer.acked.filter((a) => a.at >= from && missing.has(a.n)).length;
  };

  const cases: Record<string, CaseRun> = {
    // 1. The leader's postmaster killed.
    postmaster: async (run) => {
      const h = await ready(cluster, writer);
      const old = h.leader!;
      const pm = postmasterPid(cluster.dataDir(ordinalOf(old)));
      const t0 = Date.now();
      process.kill(pm, 'SIGKILL');
      const back = await waitFor(async () => writer.firstAfter(t0, hostOf(old)), {
        timeoutMs: 120_000,
        intervalMs: 10,
        what: 'a write on another member',
      });
      const rejoin = await streamingAgain(cluster, old);
      await ready(cluster, writer);
      return {
        run,
        leader: old,
        leaderAfter: rejoin.leader,
        ms: back.at - t0,
        rejoinMs: rejoin.at - t0,
        lateOnOld: writer.acked.filter((a) => a.sent > t0 && a.server === hostOf(old)).length,
      };
    },

    // 2. The whole leader lost, as a host crash.
    member: async (run) => {
      const h = await ready(cluster, writer);
      const old = h.leader!;
      const unit = memberUnit(s.scope, ordinalOf(old));
      const { pid: patroni } = await unitSettled(agent, unit, 0);
      const pm = postmasterPid(cluster.dataDir(ordinalOf(old)));
      world.freeze();
      const t0 = Date.now();
      const back = await (async () => {
        try {
          process.kill(patroni, 'SIGKILL');
          process.kill(pm, 'SIGKILL');
          return await waitFor(async () => writer.firstAfter(t0, hostOf(old)), {
            timeoutMs: 120_000,
            intervalMs: 10,
            what: 'a write on another member',
          });
        } finally {
          world.thaw();
        }
      })();
      const resumed = Date.now();
      const restarted = await unitRestarted(agent, unit, patroni);
      const rejoin = await streamingAgain(cluster, old);
      await ready(cluster, writer);
      return {
        run,
        leader: old,
        leaderAfter: rejoin.leader,
        ms: back.at - t0,
        resumedMs: resumed - t0,
        restartedMs: restarted - t0,
        rejoinMs: rejoin.at - t0,
        rejoinAfterResumeMs: rejoin.at - resumed,
      };
    },

    // 3. The leader's Patroni killed alone; the agent restarts it.
    patroni: async (run) => {
      const h = await ready(cluster, writer);
      const old = h.leader!;
      const unit = memberUnit(s.scope, ordinalOf(old));
      const { pid } = await unitSettled(agent, unit);
      const poller = new WritablePoller(cluster);
      const stopPoller = (): Promise<void> => poller.stop();
      world.closers.add(stopPoller);
      poller.start();
      await sleep(1000);
      const t0 = Date.now();
      let restarted = 0;
      let syncBack: number | null = null;
      let repaired = false;
      try {
        process.kill(pid, 'SIGKILL');
        restarted = await unitRestarted(agent, unit, pid);
        // Healthy again means a synchronous standby in pg_stat_replication: Patroni 3.0.2 restarted
        // on a running primary writes postgresql.conf without synchronous_standby_names (the
        // primary goes asynchronous) and names a standby again only when its pick changes.
        syncBack = await cluster
          .waitHealthy({ timeoutMs: SYNC_BACK_CAP_MS })
          .then(() => Date.now())
          .catch(() => null);
        // Through ttl + 5 s at least: a failover, if any, would come once the leader key expired.
        const until = t0 + TTL_MS + 5000;
        if (Date.now() < until) await sleep(until - Date.now());
        if (syncBack === null) {
          // Not back by itself: synchronous mode off and on again through the REST API makes
          // Patroni pick a standby from nothing (so that the next runs start healthy).
          repaired = true;
          await cluster.rest.patchConfig({ synchronous_mode: false });
          await waitFor(async () => (await cluster.health()).sync.length === 0, { timeoutMs: 60_000, what: 'synchronous mode off' });
          await cluster.rest.patchConfig({ synchronous_mode: true });
        }
        await cluster.waitHealthy({ timeoutMs: 300_000 });
      } finally {
        await poller.stop();
        world.closers.delete(stopPoller);
      }
      const tEnd = Date.now();
      const after = await ready(cluster, writer);
      const first = writer.firstAfter(t0);
      return {
        run,
        leader: old,
        leaderAfter: after.leader!,
        ms: writer.longestGap(t0, tEnd),
        windowMs: tEnd - t0,
        restartedMs: restarted - t0,
        firstWriteMs: first ? first.at - t0 : null,
        syncBackMs: syncBack === null ? null : syncBack - t0,
        repaired,
        polls: poller.polls,
        multiWritable: poller.multiWritable,
        noneWritable: poller.noneWritable,
        unanswered: poller.unanswered,
        asyncPolls: poller.asyncPolls,
        asyncFromMs: poller.asyncFirst === null ? null : poller.asyncFirst - t0,
        asyncToMs: poller.asyncLast === null ? null : poller.asyncLast - t0,
      };
    },

    // 4. etcd killed; the agent restarts it.
    etcd: async (run) => {
      const h = await ready(cluster, writer);
      const etcdUrl = await agent.ensureEtcd();
      const { pid } = await unitSettled(agent, ETCD_UNIT);
      const t0 = Date.now();
      process.kill(pid, 'SIGKILL');
      const restarted = await unitRestarted(agent, ETCD_UNIT, pid);
      const answered = await waitFor(
        async () => {
          const a = await httpCall({ method: 'GET', url: `${etcdUrl}/health`, timeoutMs: 500 });
          return a.status === 200 && (a.json as { health?: unknown } | undefined)?.health === 'true' ? Date.now() : null;
        },
        { timeoutMs: 60_000, intervalMs: 20, what: 'etcd answering again' },
      );
      const until = t0 + TTL_MS + 5000;
      if (Date.now() < until) await sleep(until - Date.now());
      const tEnd = Date.now();
      const after = await ready(cluster, writer);
      return {
        run,
        leader: h.leader!,
        leaderAfter: after.leader!,
        ms: writer.longestGap(t0, tEnd),
        windowMs: tEnd - t0,
        restartedMs: restarted - t0,
        etcdAnsweredMs: answered - t0,
      };
    },

    // 5. A planned switchover to the synchronous standby (3.0.2 takes no other candidate).
    switchover: async (run) => {
      const h = await ready(cluster, writer);
      const old = h.leader!;
      const candidate = h.members.find((m) => m.role === 'sync_standby')?.name;
      if (!candidate) throw new Error(`no sync_standby in ${JSON.stringify(h.members)}`);
      const t0 = Date.now();
      const answer = await cluster.rest.switchover(old, candidate);
      const returned = Date.now();
      const first = await waitFor(async () => writer.firstAfter(t0, hostOf(old)), {
        timeoutMs: 120_000,
        intervalMs: 10,
        what: 'a write on the new leader',
      });
      const tEnd = Math.max(returned, first.at) + 1000;
      if (Date.now() < tEnd) await sleep(tEnd - Date.now());
      const after = await ready(cluster, writer);
      return {
        run,
        leader: old,
        candidate,
        leaderAfter: after.leader!,
        ms: writer.longestGap(t0, tEnd),
        returnedMs: returned - t0,
        firstOnNewMs: first.at - t0,
        answer: answer.slice(0, 120),
      };
    },
  };

  for (const name of FAILOVER_CASES.filter((c) => o.only.includes(c))) {
    const runs: FailoverRun[] = [];
    results[name] = runs;
    for (let run = 1; run <= o.runs; run++) {
      const from = Date.now();
      try {
        const r = await cases[name]!(run);
        // Rows acknowledged during the run that the primary lacks (the case ends with the cluster healthy).
        r.missing = await missingSince(from);
        runs.push(r);
        log(`${name} ${run}/${o.runs}: ${describeRun(name, r)}`);
      } catch (e) {
        world.thaw();
        runs.push({ run, error: (e as Error).message });
        log(`${name} ${run}/${o.runs}: FAILED: ${(e as Error).message}`);
        await ready(cluster, writer);
      }
    }
  }

  await ready(cluster, writer);
  const missing = await missingRows(endpoint, writer);
  await writer.stop();
  world.writer = null;
  results['writer'] = { acked: writer.acked.length, errors: writer.errors, missing: missing.length, missingRows: missing.slice(0, 50) };
  log(`writer: ${writer.acked.length} rows acknowledged, ${writer.errors} failed attempts, ${missing.length} missing on the primary`);

  if (o.only.includes('modes')) results['modes'] = await modesCase(o, cluster, endpoint);
  await world.removeCluster(cluster);
}

function describeRun(name: string, r: FailoverRun): string {
  const m = `missing ${r.missing}`;
  switch (name) {
    case 'postmaster':
      return `${r.leader} -> ${r.leaderAfter}: first write on another member ${secs(r.ms)} s, old member streaming at ${secs(r.rejoinMs as number)} s; ${m}`;
    case 'member':
      return `${r.leader} -> ${r.leaderAfter}: first write on another member ${secs(r.ms)} s; agent resumed at ${secs(r.resumedMs as number)} s, Patroni restarted at ${secs(r.restartedMs as number)} s, old member streaming at ${secs(r.rejoinMs as number)} s; ${m}`;
    case 'patroni':
      return `${r.leader} -> ${r.leaderAfter}: longest write gap ${secs(r.ms)} s over ${secs(r.windowMs as number)} s; Patroni restarted at ${secs(r.restartedMs as number)} s; ${r.polls} polls, ${r.multiWritable} with two writable, ${r.noneWritable} with none, ${r.asyncPolls} with the primary asynchronous (${secs(r.asyncFromMs as number | null)}–${secs(r.asyncToMs as number | null)} s); synchronous standby back ${r.syncBackMs === null ? `not within ${SYNC_BACK_CAP_MS / 1000} s (put back by synchronous_mode off/on)` : `at ${secs(r.syncBackMs as number)} s`}; ${m}`;
    case 'etcd':
      return `${r.leader} -> ${r.leaderAfter}: longest write gap ${secs(r.ms)} s over ${secs(r.windowMs as number)} s; etcd restarted at ${secs(r.restartedMs as number)} s, answering at ${secs(r.etcdAnsweredMs as number)} s; ${m}`;
    case 'switchover':
      return `${r.leader} -> ${r.leaderAfter}: longest write gap ${secs(r.ms)} s; call returned at ${secs(r.returnedMs as number)} s, first write on the new leader ${secs(r.firstOnNewMs as number)} s; ${m}`;
    default:
      return JSON.stringify(r);
  }
}

// ------------------------------------------------------------------ 6. synchronous modes

interface ModeRun {
  round: number;
  mode: SyncMode;
  writers: number;
  commits: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** Set the mode through Patroni's dynamic configuration, then wait until the primary runs it and both replicas stream. */
async function setMode(cluster: HaCluster, endpoint: Endpoint, mode: SyncMode): Promise<void> {
  await cluster.rest.patchConfig({ synchronous_mode: mode !== 'async', synchronous_mode_strict: mode === 'strict' });
  await waitFor(
    async () => {
      const h = await cluster.health();
      const names = (await query<{ s: string }>(endpoint, "SELECT current_setting('synchronous_standby_names') AS s"))[0]?.s ?? '';
      const sync = mode === 'async' ? h.sync.length === 0 && names === '' : h.sync.length === 1 && names !== '';
      return h.leader && h.streaming.length === cluster.spec.ordinals.length - 1 && sync;
    },
    { timeoutMs: 120_000, intervalMs: 200, what: `synchronous mode ${mode} in effect` },
  );
}

/**
 * `writers` clients committing one-row transactions through the endpoint for `seconds` after a
 * 2 s warm-up. A client whose statement fails (its session cut) connects again after 50 ms; the
 * failures are counted.
 */
async function commitLoad(endpoint: Endpoint, writers: number, seconds: number): Promise<Omit<ModeRun, 'round' | 'mode'>> {
  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({ ...endpoint, database: 'postgres', connectionTimeoutMillis: 5000, query_timeout: 30_000 });
    c.on('error', () => {});
    await c.connect();
    return c;
  };
  const clients = await Promise.all(Array.from({ length: writers }, connect));
  const warm = performance.now() + 2000;
  const end = warm + seconds * 1000;
  const lat: number[] = [];
  let errors = 0;
  try {
    await Promise.all(
      clients.map(async (_, w) => {
        for (;;) {
          const t = performance.now();
          if (t >= end) return;
          try {
            await clients[w]!.query('INSERT INTO commit_bench (w) VALUES ($1)', [w]);
          } catch {
            errors++;
            void clients[w]!.end().catch(() => {});
            await sleep(50);
            clients[w] = await connect().catch(() => clients[w]!);
            continue;
          }
          if (t >= warm) lat.push(performance.now() - t);
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
  lat.sort((a, b) => a - b);
  return {
    writers,
    commits: lat.length,
    seconds,
    perSecond: lat.length / seconds,
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    errors,
  };
}

async function modesCase(o: Options, cluster: HaCluster, endpoint: Endpoint): Promise<ModeRun[]> {
  const out: ModeRun[] = [];
  const original = cluster.spec.syncMode ?? 'sync';
  await query(
    endpoint,
    'CREATE TABLE IF NOT EXISTS commit_bench (id bigserial PRIMARY KEY, w integer NOT NULL, at timestamptz NOT NULL DEFAULT now())',
  );
  try {
    for (let round = 1; round <= o.runs; round++) {
      // Rotate the order each round, so drift on the machine does not always hit the same mode.
      const order = o.modes.map((_, k) => o.modes[(k + round - 1) % o.modes.length]!);
      for (const mode of order) {
        await setMode(cluster, endpoint, mode);
        for (const writers of [1, 8]) {
          await query(endpoint, 'TRUNCATE commit_bench');
          await query(endpoint, 'CHECKPOINT');
          const r = { round, mode, ...(await commitLoad(endpoint, writers, o.seconds)) };
          out.push(r);
          log(
            `modes round ${round}: ${mode}, ${writers} writers: ${r.perSecond.toFixed(0)} commits/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms${r.errors ? `, ${r.errors} errors` : ''}`,
          );
        }
      }
    }
  } finally {
    await setMode(cluster, endpoint, original).catch((e: unknown) =>
      log(`could not set the mode back to ${original}: ${(e as Error).message}`),
    );
  }
  return out;
}

// ------------------------------------------------------------------ 7. the routers' check cost

interface CostWindow {
  checks: 'on' | 'off';
  seconds: number;
  /** CPU seconds per second (1 = one core busy), summed over all N clusters */
  haproxy: number;
  patroni: number;
  postgres: number;
  etcd: number;
  agent: number;
  /** the whole machine (every process), for context */
  machine: number;
}

/** Every process of the kinds measured, now: the routers, the Patroni members, every postgres process under their postmasters. */
async function costPids(
  world: World,
  clusters: HaCluster[],
): Promise<Record<'haproxy' | 'patroni' | 'postgres' | 'etcd' | 'agent', number[]>> {
  const units = new Map((await world.agent!.units()).map((u) => [u.name, u.pid]));
  const pick = (names: string[]): number[] => names.map((n) => units.get(n)).filter((p): p is number => typeof p === 'number');
  return {
    haproxy: pick(clusters.map((c) => routerUnit(c.spec.scope))),
    patroni: pick(clusters.flatMap((c) => c.spec.ordinals.map((i) => memberUnit(c.spec.scope, i)))),
    postgres: clusters.flatMap((c) => c.spec.ordinals.flatMap((i) => processTree(postmasterPid(c.dataDir(i))))),
    etcd: pick([ETCD_UNIT]),
    agent: world.agentPid ? [world.agentPid] : [],
  };
}

async function costWindow(world: World, clusters: HaCluster[], checks: 'on' | 'off', seconds: number): Promise<CostWindow> {
  const before = await costPids(world, clusters);
  const ticks0 = new Map<number, number>();
  for (const pids of Object.values(before)) for (const p of pids) ticks0.set(p, cpuTicks(p) ?? 0);
  const busy0 = busyTicks();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const after = await costPids(world, clusters);
  const busy1 = busyTicks();
  const elapsed = (performance.now() - t0) / 1000;
  // A process that started during the window counts with all its ticks; one that ended loses its last ones (rare when idle).
  const sum = (pids: number[]): number =>
    pids.reduce((a, p) => a + Math.max(0, (cpuTicks(p) ?? ticks0.get(p) ?? 0) - (ticks0.get(p) ?? 0)), 0) / CLOCK_TICKS / elapsed;
  const all = (k: keyof typeof before): number[] => [...new Set([...before[k], ...after[k]])];
  return {
    checks,
    seconds: elapsed,
    haproxy: sum(all('haproxy')),
    patroni: sum(all('patroni')),
    postgres: sum(all('postgres')),
    etcd: sum(all('etcd')),
    agent: sum(all('agent')),
    machine: (busy1 - busy0) / CLOCK_TICKS / elapsed,
  };
}

/** Turn every server's health check of every router on or off (`enable/disable health`, runtime API). */
async function setChecks(clusters: HaCluster[], on: boolean): Promise<void> {
  for (const c of clusters) {
    const rt = c.router();
    for (const b of [RouterBackend.READ_WRITE, RouterBackend.READ_ONLY])
      for (const i of c.spec.ordinals) {
        const a = (await rt.command(`${on ? 'enable' : 'disable'} health ${b}/${memberName(i)}`)).trim();
        if (a) throw new Error(`HAProxy refused to ${on ? 'enable' : 'disable'} ${b}/${memberName(i)}'s check: ${a}`);
      }
  }
}

async function checkCostCase(o: Options, world: World): Promise<Record<string, unknown>> {
  const n = o.checkCost;
  const clusters: HaCluster[] = [];
  const batch = 4;
  const built = Date.now();
  for (let k = 0; k < n; k += batch) {
    const these = await Promise.all(Array.from({ length: Math.min(batch, n - k) }, () => world.cluster()));
    await Promise.all(these.map((c) => c.waitHealthy({ timeoutMs: 600_000 })));
    clusters.push(...these);
    log(`check cost: ${clusters.length}/${n} clusters healthy (${secs(Date.now() - built)} s)`);
  }
  const buildSeconds = (Date.now() - built) / 1000;
  // Let the new clusters' start-up work (checkpoints, slot creation, first HA loops) pass.
  await sleep(20_000);
  for (const c of clusters) await c.waitHealthy({ timeoutMs: 120_000 });
  const windows: CostWindow[] = [];
  try {
    for (const checks of ['on', 'off', 'on', 'off'] as const) {
      await setChecks(clusters, checks === 'on');
      await sleep(3000);
      const w = await costWindow(world, clusters, checks, o.costSeconds);
      windows.push(w);
      log(
        `check cost, checks ${checks}: HAProxy ${pct(w.haproxy)}, Patroni ${pct(w.patroni)}, postgres ${pct(w.postgres)}, etcd ${pct(w.etcd)}, agent ${pct(w.agent)}, machine ${pct(w.machine)} (of one core, ${n} clusters)`,
      );
    }
  } finally {
    await setChecks(clusters, true).catch(() => {});
  }
  const removeStarted = Date.now();
  for (let k = 0; k < clusters.length; k += batch) await Promise.all(clusters.slice(k, k + batch).map((c) => world.removeCluster(c)));
  log(`check cost: ${n} clusters removed in ${secs(Date.now() - removeStarted)} s`);
  // Checks per second per cluster: 2 backends × 3 servers, each checked every `inter` (up) or `downinter` (down) ms.
  const perServer = 1000 / Math.max(ROUTER_CHECKS.inter, ROUTER_CHECKS.downinter);
  return { clusters: n, buildSeconds, checksPerSecondPerCluster: 2 * ORDINALS.length * perServer, windows };
}

const pct = (cores: number): string => `${(cores * 100).toFixed(2)} %`;

// ------------------------------------------------------------------ report

function summary(o: Options, results: Record<string, unknown>, meta: Record<string, unknown>): string {
  const lines: string[] = [
    `dwsbox failover bench, ${new Date().toISOString().slice(0, 10)}, commit ${String(meta['commit']).slice(0, 12)}${(meta['uncommitted'] as string[]).length ? ' + uncommitted changes' : ''}`,
    `load average (1/5/15 min) at the start: ${(meta['loadAverage'] as string[])[0]}, at the end: ${(meta['loadAverage'] as string[])[1]}`,
    `cluster synchronous mode ${o.syncMode}; Patroni ttl ${FAST_TIMINGS.ttl} / loop_wait ${FAST_TIMINGS.loopWait} / retry_timeout ${FAST_TIMINGS.retryTimeout}, primary_start_timeout ${FAST_TIMINGS.primaryStartTimeout}; router checks inter ${ROUTER_CHECKS.inter} fastinter ${ROUTER_CHECKS.fastinter} downinter ${ROUTER_CHECKS.downinter} rise ${ROUTER_CHECKS.rise} fall ${ROUTER_CHECKS.fall}; writer pause ${o.pauseMs} ms`,
    '',
  ];
  const row = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(22) : i < 5 ? c.padStart(9) : c)).join('  ');
  const stat = (rs: FailoverRun[], f: (r: FailoverRun) => number | null | undefined): [string, string] => {
    const xs = rs.map(f).filter((x): x is number => typeof x === 'number');
    return xs.length ? [`${secs(median(xs))} s`, `${secs(Math.max(...xs))} s`] : ['–', '–'];
  };
  if (FAILOVER_CASES.some((c) => results[c])) lines.push(row(['case', 'runs', 'median', 'worst', 'missing', 'other (median / worst)']));
  const labels: Record<string, string> = {
    postmaster: '1 postmaster killed',
    member: '2 whole member lost',
    patroni: '3 Patroni killed',
    etcd: '4 etcd killed',
    switchover: '5 switchover',
  };
  for (const name of FAILOVER_CASES) {
    const all = results[name] as FailoverRun[] | undefined;
    if (!all) continue;
    const rs = all.filter((r) => !r.error);
    const [med, worst] = stat(rs, (r) => r.ms);
    const missing = rs.reduce((a, r) => a + (r.missing ?? 0), 0);
    const changed = rs.filter((r) => r.leaderAfter !== r.leader).length;
    const other = ((): string => {
      const st = (f: (r: FailoverRun) => number | null | undefined): string => stat(rs, f).join(' / ');
      const total = (k: string): number => rs.reduce((a, r) => a + ((r[k] as number | undefined) ?? 0), 0);
      switch (name) {
        case 'postmaster':
          return `first write on another member; old member streaming again ${st((r) => r.rejoinMs as number)}`;
        case 'member':
          return `first write on another member (target ≤ ttl + 5 s = ${FAST_TIMINGS.ttl + 5} s); old member streaming ${st((r) => r.rejoinAfterResumeMs as number)} after the agent resumed`;
        case 'patroni':
          return `longest write gap; leader changed in ${changed}; polls ${total('polls')}, with two writable ${total('multiWritable')}, with none ${total('noneWritable')}, with the primary asynchronous ${total('asyncPolls')}; synchronous standby back ${st((r) => r.syncBackMs as number | null)} (not within ${SYNC_BACK_CAP_MS / 1000} s in ${rs.filter((r) => r.repaired).length}); Patroni restarted ${st((r) => r.restartedMs as number)}`;
        case 'etcd':
          return `longest write gap; leader changed in ${changed}; etcd answering ${st((r) => r.etcdAnsweredMs as number)}`;
        case 'switchover':
          return `longest write gap; call returned ${st((r) => r.returnedMs as number)}; first write on the new leader ${st((r) => r.firstOnNewMs as number)}`;
        default:
          return '';
      }
    })();
    const failed = all.length - rs.length;
    lines.push(row([labels[name]!, `${rs.length}${failed ? ` (+${failed} failed)` : ''}`, med, worst, String(missing), other]));
  }
  const writer = results['writer'] as { acked: number; errors: number; missing: number } | undefined;
  if (writer)
    lines.push(
      `writer: ${writer.acked} rows acknowledged, ${writer.errors} failed attempts, ${writer.missing} missing on the primary at the end`,
    );

  const modes = results['modes'] as ModeRun[] | undefined;
  if (modes?.length) {
    lines.push('', 'synchronous mode    writers  commits/s (median, min)  p50 ms  p99 ms  failed statements  (medians of the rounds)');
    for (const mode of o.modes)
      for (const writers of [1, 8]) {
        const rs = modes.filter((r) => r.mode === mode && r.writers === writers);
        if (!rs.length) continue;
        const perSecond = `${median(rs.map((r) => r.perSecond)).toFixed(0)}, ${Math.min(...rs.map((r) => r.perSecond)).toFixed(0)}`;
        const p50 = median(rs.map((r) => r.p50Ms)).toFixed(2);
        const p99 = median(rs.map((r) => r.p99Ms)).toFixed(2);
        const failed = String(rs.reduce((a, r) => a + r.errors, 0));
        lines.push(
          `${mode.padEnd(18)}  ${String(writers).padStart(7)}  ${perSecond.padStart(23)}  ${p50.padStart(6)}  ${p99.padStart(6)}  ${failed.padStart(17)}`,
        );
      }
  }

  const cost = results['checkCost'] as { clusters: number; checksPerSecondPerCluster: number; windows: CostWindow[] } | undefined;
  if (cost) {
    const n = cost.clusters;
    lines.push(
      '',
      `router check cost, ${n} idle 3-member clusters (${cost.checksPerSecondPerCluster} checks/s per cluster): % of one core, all ${n} / per cluster`,
    );
    lines.push('checks  HAProxy            Patroni            postgres           etcd      machine');
    const cell = (x: number): string => `${pct(x)} / ${pct(x / n)}`.padEnd(19);
    for (const w of cost.windows)
      lines.push(
        `${w.checks.padEnd(6)}  ${cell(w.haproxy)}${cell(w.patroni)}${cell(w.postgres)}${pct(w.etcd).padEnd(10)}${pct(w.machine)}`,
      );
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------ main

function options(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      only: { type: 'string' },
      modes: { type: 'string', default: 'sync,strict,async' },
      seconds: { type: 'string', default: '10' },
      'check-cost': { type: 'string', default: '0' },
      'cost-seconds': { type: 'string', default: '30' },
      'pause-ms': { type: 'string', default: '10' },
      'keep-logs': { type: 'boolean', default: false },
      'sync-mode': { type: 'string', default: 'sync' },
    },
  });
  const checkCost = Number(values['check-cost']);
  const only = (values.only ? values.only.split(',') : [...CASES]).map((x) => {
    const c = /^\d+$/.test(x.trim()) ? CASES[Number(x) - 1] : (x.trim() as CaseName);
    if (!c || !CASES.includes(c)) throw new Error(`--only: ${x} is not a case (${CASES.map((n, i) => `${i + 1} ${n}`).join(', ')})`);
    return c;
  });
  if (values.only && only.includes('check-cost') && !(checkCost > 0))
    throw new Error('--only check-cost needs --check-cost N (the number of clusters)');
  const modes = values.modes.split(',').map((m) => {
    if (!['sync', 'strict', 'async'].includes(m)) throw new Error(`--modes: ${m} is not sync, strict or async`);
    return m as SyncMode;
  });
  const o: Options = {
    runs: Number(values.runs),
    only: only.filter((c) => c !== 'check-cost' || checkCost > 0),
    modes,
    seconds: Number(values.seconds),
    checkCost,
    costSeconds: Number(values['cost-seconds']),
    pauseMs: Number(values['pause-ms']),
    keepLogs: values['keep-logs'],
    syncMode: values['sync-mode'] as SyncMode,
  };
  if (!['sync', 'strict', 'async'].includes(o.syncMode)) throw new Error(`--sync-mode: ${o.syncMode} is not sync, strict or async`);
  for (const k of ['runs', 'seconds', 'costSeconds'] as const) if (!(o[k] > 0)) throw new Error(`--${k} must be a positive number`);
  if (!(o.pauseMs >= 0) || !(o.checkCost >= 0)) throw new Error('--pause-ms and --check-cost must be 0 or more');
  return o;
}

async function main(): Promise<void> {
  const o = options();
  const meta = {
    ...gitInfo(['src', 'test/helpers', 'bench/failover.ts']),
    timings: FAST_TIMINGS,
    routerChecks: ROUTER_CHECKS,
    loadAverage: [] as string[],
  };
  const root = mkdtempSync('/tmp/dwsbox-bench-failover-');
  chmodSync(root, 0o711);
  const world = new World(root, o.keepLogs);
  let failed = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: cleaning up`);
    void world.cleanup(true).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results: Record<string, unknown> = {};
  const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  meta.loadAverage.push(load());
  try {
    await world.start();
    if (o.only.some((c) => FAILOVER_CASES.includes(c) || c === 'modes')) await failoverCases(o, world, results);
    if (o.only.includes('check-cost')) results['checkCost'] = await checkCostCase(o, world);
  } catch (e) {
    failed = true;
    log(`FAILED: ${(e as Error).stack ?? String(e)}`);
  } finally {
    meta.loadAverage.push(load());
    await world.cleanup(failed || o.keepLogs);
  }
  process.stdout.write(`${summary(o, results, meta)}\n`);
  process.stdout.write(`${JSON.stringify({ bench: 'failover', date: new Date().toISOString(), options: o, ...meta, results })}\n`);
  if (failed) process.exitCode = 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
