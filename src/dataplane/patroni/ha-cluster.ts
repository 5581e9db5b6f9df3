/**
 * One highly available cluster on this host (issue 15, D23–D25): its Patroni members and its
 * router, run as units of the host agent, on the host's etcd with the scope's own etcd user.
 * This is what the Patroni engine drives; it holds no state of its own: everything it needs
 * is in the spec (from the store) and in what the agent and Patroni report.
 *
 * Layout under the cluster's directory `dir` (root's, 0711, D32):
 *   conf/m<i>.yml      the member's Patroni configuration (root's, readable by the project's group: it holds secrets)
 *   conf/router.cfg    the router's HAProxy configuration (root's, readable by the service user's group)
 *   m<i>/              the member's own directory (the project user's, 0700): data/, sock/, pgpass
 *   router/            the router's stats socket (the service user's, 0700)
 *   log/               the units' logs (root's; the agent opens them, the processes inherit the descriptors)
 *
 * Addresses (D24): member i at `127.0.c.i` on the cluster's port, its REST API at
 * `127.2.c.i:8008`, the read-write endpoint `127.1.c.1` and the read-only one `127.1.c.2` on
 * the cluster's port; `c` is the subnet the agent allocated to the scope.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil } from '../../domain/poll.js';
import { serviceUser, type OsUser } from '../os-user.js';
import { mkdirSafe, ownedBy, removeTree, rootWithGroupOf, serviceOwner, writeFileSafe } from '../safe-fs.js';
import type { AgentClient } from '../agent/client.js';
import type { UnitSpec } from '../agent/supervisor.js';
import { EtcdClient, scopePrefix, scopeUser, type EtcdTarget } from './etcd.js';
import { HAPROXY_BIN, haproxyArgs, haproxyConfig, HaproxyRuntime, routerSocketPath, type RouterMember } from './haproxy-config.js';
import {
  memberName,
  memberOrdinal,
  PATRONI_BIN,
  PATRONI_REST_PORT,
  patroniConfigText,
  patroniTimings,
  syncSettings,
  type Credentials,
  type PatroniTimings,
  type PgParameters,
  type StandbyClusterSpec,
  type SyncMode,
} from './patroni-config.js';
import { PatroniRest, type PatroniStatus } from './patroni-rest.js';

export interface HaClusterSecrets {
  superuser: Credentials;
  replication: Credentials;
  /** Patroni's REST API: basic auth on every non-GET call (D23) */
  rest: Credentials;
  /** the scope's etcd user's password (D32) */
  etcd: string;
}

/** New secrets for a cluster: the superuser, the replication role, Patroni's REST API and the scope's etcd user, each random. */
export function generateHaSecrets(): HaClusterSecrets {
  const secret = (): string => randomBytes(18).toString('base64url');
  return {
    superuser: { username: 'postgres', password: secret() },
    replication: { username: 'replicator', password: secret() },
    rest: { username: 'dwsbox', password: secret() },
    etcd: secret(),
  };
}

export interface HaClusterSpec {
  /** the Patroni scope (also the etcd prefix `/service/<scope>/` and the units' names) */
  scope: string;
  /** `c` of the address plan, allocated by the agent */
  subnet: number;
  port: number;
  /** the members' ordinals */
  ordinals: readonly number[];
  /** the cluster's directory (root's, 0711) */
  dir: string;
  /** the project's OS user: every member runs as it (D32) */
  member: OsUser;
  /** the dwsbox service user: the router runs as it (D32) */
  service: OsUser;
  secrets: HaClusterSecrets;
  syncMode?: SyncMode;
  timings?: Partial<PatroniTimings>;
  /** cluster-wide PostgreSQL parameters over the defaults (archiving: archive_mode, pgBackRest's archive_command) */
  parameters?: PgParameters;
  /** recovery settings of replicas (pgBackRest's restore_command) */
  recoveryConf?: Record<string, string>;
  /** where member i's unix socket lives (`<dir>/<member>/sock` when absent); the Patroni engine keeps its short socket paths */
  socketDir?: (ordinal: number) => string;
  /** the router's directory for its stats socket (`<dir>/router` when absent; a unix socket path has at most 107 bytes) */
  routerDir?: string;
  /** Patroni's member names are `<memberPrefix><i>` (default `node`; a standby cluster's differ from its production's, issue 19) */
  memberPrefix?: string;
  /** a standby cluster (issue 19, D31): what its standby leader follows, from its first bootstrap */
  standbyCluster?: StandbyClusterSpec;
}

/**
 * Where a cluster's Patroni scope lives (D23): the host's etcd through its agent, or the fleet's
 * three members on three hosts (issue 18, `agent/fleet-etcd.ts`).
 */
export interface ScopeDcs {
  /** The scope's own etcd user holds this password (made when missing); how members reach etcd. */
  ensureScope(scope: string, password: string): Promise<{ target: EtcdTarget; username: string; caFile?: string }>;
  /** How dwsbox reaches etcd, without touching its users. */
  target(): Promise<EtcdTarget>;
  /** The scope's keys, user and role gone. */
  removeScope(scope: string): Promise<void>;
}

/** The host's own etcd, through its agent. */
export function hostDcs(agent: AgentClient): ScopeDcs {
  return {
    ensureScope: async (scope, password) => {
      const { endpoint, username } = await agent.ensureEtcdScope(scope, password);
      return { target: { urls: [endpoint] }, username };
    },
    target: async () => ({ urls: [await agent.ensureEtcd()] }),
    removeScope: (scope) => agent.removeEtcdScope(scope).then(() => undefined),
  };
}

export const memberHost = (subnet: number, ordinal: number): string => `127.0.${subnet}.${ordinal}`;
export const restHost = (subnet: number, ordinal: number): string => `127.2.${subnet}.${ordinal}`;
export const readWriteHost = (subnet: number): string => `127.1.${subnet}.1`;
export const readOnlyHost = (subnet: number): string => `127.1.${subnet}.2`;

export const memberUnit = (scope: string, ordinal: number): string => `patroni-${scope}-${memberName(ordinal)}`;
export const routerUnit = (scope: string): string => `router-${scope}`;

/** The healthy shape of a cluster: a running leader and every other member streaming from it, one of them synchronous (D25). */
export interface HaHealth {
  leader: string | null;
  streaming: string[];
  sync: string[];
  /** members Patroni lists, by name, with their role and state */
  members: { name: string; role: string; state: string; lag: number | null; timeline: number | null }[];
  /** the leader's own view: whether it runs on failsafe mode (its DCS lost), and when it last reached the DCS (epoch s) */
  failsafe: boolean | null;
  dcsLastSeen: number | null;
}

/** Roles of the member holding the leader key: a standby cluster's leader is its `standby_leader` (D31). */
const LEADS = /^(leader|standby_leader)$/;

/** Patroni states of a member whose PostgreSQL is not running and is not being started or copied. */
const BROKEN = /^(stopped|crashed|start failed)$/;

export class HaCluster {
  readonly rest: PatroniRest;
  private etcdClient: EtcdClient | null = null;
  /** members written with Patroni's `nosync` tag (during a switchover, D25) */
  private readonly noSync = new Set<number>();

  constructor(
    private readonly agent: AgentClient,
    readonly spec: HaClusterSpec,
    private readonly dcs: ScopeDcs = hostDcs(agent),
  ) {
    this.rest = new PatroniRest({
      members: Object.fromEntries(spec.ordinals.map((i) => [memberName(i, spec.memberPrefix), restUrl(spec.subnet, i)])),
      auth: spec.secrets.rest,
    });
  }

  /** Member i's name in Patroni (its `application_name`, its slot, its key in the DCS). */
  name(ordinal: number): string {
    return memberName(ordinal, this.spec.memberPrefix);
  }

  /** The ordinal of a member Patroni names `name`, or null for a name not of this cluster's members. */
  ordinalOf(name: string): number | null {
    return memberOrdinal(name, this.spec.memberPrefix);
  }

  memberDir(ordinal: number): string {
    return join(this.spec.dir, memberName(ordinal));
  }

  dataDir(ordinal: number): string {
    return join(this.memberDir(ordinal), 'data');
  }

  socketDir(ordinal: number): string {
    return this.spec.socketDir?.(ordinal) ?? join(this.memberDir(ordinal), 'sock');
  }

  logFile(unit: 'router' | number): string {
    return join(this.spec.dir, 'log', unit === 'router' ? 'router.log' : `${memberName(unit)}.log`);
  }

  router(): HaproxyRuntime {
    return new HaproxyRuntime(routerSocketPath(this.routerDir()));
  }

  private routerDir(): string {
    return this.spec.routerDir ?? join(this.spec.dir, 'router');
  }

  /**
   * Everything runs: the scope's etcd user, each member's Patroni, the router. Idempotent: a
   * unit that runs with the same spec is left alone, so calling it again never restarts a
   * healthy member. Patroni itself bootstraps the first member (initdb) and builds the others
   * (`pg_basebackup` with a fast checkpoint). With `only`, just those members' units are
   * ensured (the router and every member's configuration still are).
   */
  async ensure(o: { only?: readonly number[]; mayStart?: () => void } = {}): Promise<void> {
    const s = this.spec;
    const etcd = await this.dcs.ensureScope(s.scope, s.secrets.etcd);
    const root = serviceOwner();
    mkdirSafe(s.dir, root, 0o711);
    for (const d of ['conf', 'log']) mkdirSafe(join(s.dir, d), root, 0o711);
    for (const i of s.ordinals) {
      const conf = this.writeMemberConfig(i, etcd);
      // Only the members started here get their directories: another member's may be being
      // removed meanwhile (a restore rebuilds its standbys at once, each removing its own first).
      if (o.only && !o.only.includes(i)) continue;
      mkdirSafe(this.memberDir(i), ownedBy(s.member), 0o700);
      mkdirSafe(this.socketDir(i), ownedBy(s.member), 0o700);
      o.mayStart?.();
      await this.agent.ensureUnit(
        this.unitSpec(memberUnit(s.scope, i), 'patroni', [PATRONI_BIN, conf], s.member, this.logFile(i), this.memberDir(i), {
          // pgBackRest's archive-push and archive-get refuse to run for a data directory other than
          // pg1-path; the stanza's config names the first member's, so each member's Patroni passes
          // its own to PostgreSQL's archive and restore commands through the environment (which
          // pgBackRest reads over its config file). Harmless where nothing runs pgBackRest.
          PGBACKREST_PG1_PATH: this.dataDir(i),
          PGBACKREST_PG1_SOCKET_PATH: this.socketDir(i),
        }),
      );
    }
    this.writeRouterConfig();
    await this.agent.ensureUnit(this.routerUnitSpec());
    await this.syncRouter();
  }

  /** The members as the router sees them (D24). */
  private routerMembers(): RouterMember[] {
    const s = this.spec;
    return s.ordinals.map((i) => ({ ordinal: i, host: memberHost(s.subnet, i), port: s.port, restHost: restHost(s.subnet, i) }));
  }

  /** Write the router's configuration naming the spec's members (root's, readable by the service user's group); returns its path. */
  private writeRouterConfig(): string {
    const s = this.spec;
    const runDir = this.routerDir();
    mkdirSafe(runDir, ownedBy(s.service), 0o700);
    const cfg = join(s.dir, 'conf', 'router.cfg');
    writeFileSafe(
      cfg,
      haproxyConfig({
        cluster: s.scope,
        rwHost: readWriteHost(s.subnet),
        roHost: readOnlyHost(s.subnet),
        port: s.port,
        runDir,
        members: this.routerMembers(),
      }),
      rootWithGroupOf(s.service),
      0o640,
    );
    return cfg;
  }

  private routerUnitSpec(): UnitSpec {
    const s = this.spec;
    const cfg = join(s.dir, 'conf', 'router.cfg');
    return this.unitSpec(
      routerUnit(s.scope),
      'router',
      [HAPROXY_BIN, ...haproxyArgs(cfg)],
      s.service,
      this.logFile('router'),
      '/nonexistent',
    );
  }

  /**
   * The router routes to exactly the spec's members, without a reload (D24): its configuration
   * is rewritten (what it reads when it starts again, e.g. when the agent restarts it) and the
   * running router's server slots are set through its runtime API (`HaproxyRuntime.syncMembers`):
   * a new member's slot pointed at its addresses and enabled, a departed member's put into
   * maintenance. A router that does not run is left to read its configuration when it starts.
   * A member past the router's slots (`ROUTER_SLOTS`) can only come with a new configuration:
   * the router is restarted then, which cuts the endpoints' sessions. Idempotent. Throws when
   * the router runs but its runtime API does not answer.
   */
  async syncRouter(o: { timeoutMs?: number } = {}): Promise<{ enabled: number[]; disabled: number[]; restarted: boolean }> {
    this.writeRouterConfig();
    const unit = routerUnit(this.spec.scope);
    const deadline = Date.now() + (o.timeoutMs ?? 10_000);
    for (;;) {
      const u = await this.agent.unit(unit);
      if (!u || u.status !== 'running') return { enabled: [], disabled: [], restarted: false };
      try {
        const r = await this.router().syncMembers(this.routerMembers());
        if (!r.missing.length) return { enabled: r.enabled, disabled: r.disabled, restarted: false };
        await this.agent.stopUnit(unit);
        await this.agent.ensureUnit(this.routerUnitSpec());
        return { enabled: r.missing, disabled: r.disabled, restarted: true };
      } catch (e) {
        // A router just started has no stats socket for a moment; one that runs on without answering is an error.
        if (Date.now() > deadline)
          throw new Error(`the router of ${this.spec.scope} could not be updated: ${(e as Error).message}`, { cause: e });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /**
   * A member that left (its unit stopped, the spec without it) is forgotten: its key in the DCS
   * is deleted, so the leader drops its replication slot in its next loop instead of after the
   * key's TTL (a stopped member's Patroni writes its key once more on the way out, patroni-ops
   * trap 9, and Patroni keeps a slot for every member key), the router stops routing to it, and
   * its configuration and logs go. Idempotent. Refused for a member still in the spec.
   */
  async forgetMember(ordinal: number, o: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.spec.ordinals.includes(ordinal)) throw new Error(`member ${this.name(ordinal)} is still a member of ${this.spec.scope}`);
    const etcd = await this.scopeClient();
    await etcd.delete(`${scopePrefix(this.spec.scope)}members/${this.name(ordinal)}`, o);
    await this.syncRouter();
    const log = this.logFile(ordinal);
    for (const f of [join(this.spec.dir, 'conf', `${memberName(ordinal)}.yml`), log, `${log}.1`]) rmSync(f, { force: true });
  }

  /** A client of etcd as the scope's own user (kept: it remembers which member answered last). */
  private async scopeClient(): Promise<EtcdClient> {
    return (this.etcdClient ??= new EtcdClient(await this.dcs.target(), {
      username: scopeUser(this.spec.scope),
      password: this.spec.secrets.etcd,
    }));
  }

  /** Write member i's Patroni configuration (root's, readable by the project's group: it holds secrets); returns its path. */
  private writeMemberConfig(i: number, etcd: { target: EtcdTarget; username: string; caFile?: string }): string {
    const s = this.spec;
    const conf = join(s.dir, 'conf', `${memberName(i)}.yml`);
    writeFileSafe(
      conf,
      patroniConfigText({
        scope: s.scope,
        ordinal: i,
        host: memberHost(s.subnet, i),
        port: s.port,
        restHost: restHost(s.subnet, i),
        restAuth: s.secrets.rest,
        etcd: {
          hosts: etcd.target.urls.map((u) => u.replace(/^https?:\/\//, '')),
          username: etcd.username,
          password: s.secrets.etcd,
          ...(etcd.caFile ? { cacert: etcd.caFile } : {}),
        },
        dataDir: this.dataDir(i),
        pgpass: join(this.memberDir(i), 'pgpass'),
        socketDir: this.socketDir(i),
        superuser: s.secrets.superuser,
        replication: s.secrets.replication,
        peerUsers: [serviceUser().name, s.member.name],
        noSync: this.noSync.has(i),
        ...(s.syncMode ? { syncMode: s.syncMode } : {}),
        ...(s.timings ? { timings: s.timings } : {}),
        ...(s.parameters ? { parameters: s.parameters } : {}),
        ...(s.recoveryConf ? { recoveryConf: s.recoveryConf } : {}),
        ...(s.memberPrefix ? { memberPrefix: s.memberPrefix } : {}),
        ...(s.standbyCluster ? { standbyCluster: s.standbyCluster } : {}),
      }),
      rootWithGroupOf(s.member),
      0o640,
    );
    return conf;
  }

  /** What Patroni says of the cluster now (any member that answers). */
  async health(): Promise<HaHealth> {
    const cl = await this.rest.cluster();
    // A standby cluster's (D31) leads as `standby_leader`: it follows another cluster, its own members follow it.
    const leader = cl.members.find((m) => LEADS.test(m.role) && m.state === 'running')?.name ?? null;
    let status: PatroniStatus | null = null;
    if (leader) status = await this.rest.patroni(leader).catch(() => null);
    // Only the members' own walsenders: a replica being rebuilt streams its copy as `pg_basebackup`.
    const names = new Set(this.spec.ordinals.map((i) => this.name(i)));
    const rows = (status?.replication ?? []).filter((r) => names.has(r.application_name));
    return {
      leader,
      streaming: rows.filter((r) => r.state === 'streaming').map((r) => r.application_name),
      sync: rows.filter((r) => r.sync_state === 'sync').map((r) => r.application_name),
      members: cl.members.map((m) => ({
        name: m.name,
        role: m.role,
        state: m.state,
        lag: typeof m.lag === 'number' ? m.lag : null,
        timeline: m.timeline ?? null,
      })),
      failsafe: status ? status.failsafe_mode_is_active === true : null,
      dcsLastSeen: status?.dcs_last_seen ?? null,
    };
  }

  /**
   * The leading member's own view (`GET /patroni`, which needs no DCS), asked of each member
   * when the DCS names no leader: whether it runs on failsafe mode, and when it last reached the
   * DCS. Null when no leading member answers (nothing can be said).
   */
  async failsafe(): Promise<{ active: boolean; leader: string; lastSeen: number | null } | null> {
    const seen = await Promise.all(
      this.spec.ordinals.map((i) =>
        this.rest.patroni(this.name(i)).then(
          (s) => ({ name: this.name(i), s }),
          () => null,
        ),
      ),
    );
    const leading = seen.find((x) => x !== null && /^(master|primary)$/.test(x.s.role) && x.s.state === 'running');
    if (!leading) return null;
    return { active: leading.s.failsafe_mode_is_active === true, leader: leading.name, lastSeen: leading.s.dcs_last_seen ?? null };
  }

  /**
   * Wait until the cluster is healthy (a leader, every other member streaming, one
   * synchronous, none when the cluster is asynchronous); throws with the last state seen at the
   * deadline or on abort.
   */
  async waitHealthy(o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<HaHealth> {
    const deadline = Date.now() + (o.timeoutMs ?? 120_000);
    let last: HaHealth | string = 'no answer yet';
    let woken = 0;
    for (;;) {
      o.signal?.throwIfAborted();
      try {
        const h = await this.health();
        last = h;
        const others = this.spec.ordinals.length - 1;
        const mode = this.spec.syncMode ?? 'sync';
        const wantSync = mode !== 'async' && others > 0;
        // The member the DCS names synchronous must be the one the leader really waits for (repairSync).
        const named = h.members.filter((m) => m.role === 'sync_standby').map((m) => m.name);
        const syncOk = h.sync.length === 1 && named.length === 1 && h.sync[0] === named[0];
        // An asynchronous cluster's leader waits for no standby (after a change from sync, once Patroni applied it).
        if (h.leader && h.streaming.length === others && (wantSync ? syncOk : h.sync.length === 0)) return h;
        // Every member streams and only the synchronous standby is missing: the leader names one in
        // its HA loop, which is woken (at most twice a second) rather than waited for, up to
        // loop_wait (2 s). Patroni 3.0.2 then sleeps a fixed 2 s before it records its pick
        // (ha.py `process_sync_replication`), which no one can shorten.
        if (h.leader && h.streaming.length === others && wantSync && Date.now() - woken >= 500) {
          woken = Date.now();
          await this.rest.wake(h.leader, syncSettings(mode)).catch(() => null);
        }
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline)
        throw new Error(`cluster ${this.spec.scope} not healthy after ${(o.timeoutMs ?? 120_000) / 1000} s: ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * Apply the spec's replication mode (D25) to a running cluster made with another: Patroni's
   * dynamic settings patched (every member applies them within a loop), then waited for as
   * `waitHealthy` sees them: one synchronous standby for sync and strict, none for async.
   */
  async applySyncMode(o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<HaHealth> {
    await this.rest.patchConfig(syncSettings(this.spec.syncMode ?? 'sync'));
    return this.waitHealthy(o);
  }

  /**
   * Mend Patroni 3.0.2's lost synchronous standby (D25). When a leader's Patroni restarts while
   * its PostgreSQL runs (the agent restarts a dead one within a second, which keeps leadership),
   * it rewrites postgresql.conf without `synchronous_standby_names`, while the DCS's `sync` key
   * still names the old synchronous standby; since the standby it would pick is the one the key
   * names, it never sets the parameter again (ha.py `process_sync_replication` compares the key
   * with its pick, never with PostgreSQL's setting). Commits are then acknowledged without a
   * synchronous standby while a failover would still trust the key: an acknowledged write could
   * be lost. Measured here: the state lasted for as long as it was watched (40 s).
   *
   * Seen twice a loop apart (so a change in flight is not mistaken for it), the leader streams
   * to no member the key names as synchronous: the key is deleted (as the scope's own etcd user).
   * That is the truth (no member is known to hold every commit), and Patroni, now seeing its
   * pick differ from the key, sets `synchronous_standby_names` first and the key after, as it
   * should. Returns whether it mended. The engine's health monitor calls it on every round.
   */
  async repairSync(o: { signal?: AbortSignal; seen?: HaHealth } = {}): Promise<boolean> {
    // Strict mode too: there the restarted Patroni writes `*`, so commits wait for one standby,
    // but PostgreSQL picks which, and it need not be the one the key names (bench/failover.ts).
    if (this.spec.syncMode === 'async') return false;
    let seen = o.seen;
    const broken = async (): Promise<boolean> => {
      // The first look may be the caller's (one health read serves every mend of a round).
      const h = seen ?? (await this.health());
      seen = undefined;
      if (!h.leader) return false;
      const named = h.members.filter((m) => m.role === 'sync_standby').map((m) => m.name);
      return named.length > 0 && !named.some((n) => h.sync.includes(n));
    };
    if (!(await broken())) return false;
    const loopWait = patroniTimings(this.spec.timings).loopWait;
    await new Promise((r) => setTimeout(r, loopWait * 1000 + 500));
    o.signal?.throwIfAborted();
    if (!(await broken())) return false;
    const etcd = await this.scopeClient();
    return etcd.delete(`${scopePrefix(this.spec.scope)}sync`, o);
  }

  /**
   * Members Patroni leaves `stopped` (patroni-ops trap 10: a broken data directory, e.g. a lost
   * `pg_control`, is only logged, "consider doing reinitialize"): replicas seen stopped (or
   * crashed, or failing to start) twice, a Patroni loop apart, while a leader runs and they do
   * not stream: as the DCS says, or as the member's own REST API says (a Patroni started on a
   * broken data directory never writes its member key, and a stale one says `running`). Never
   * the leader. The caller checks that no postmaster of the member runs. The health monitor
   * asks every round and hands what it finds to a repair task (cluster.repair), which rebuilds
   * each with `reinitialize`.
   */
  async stoppedMembers(o: { signal?: AbortSignal; seen?: HaHealth } = {}): Promise<string[]> {
    let seen = o.seen;
    const stopped = async (): Promise<string[]> => {
      const h = seen ?? (await this.health());
      seen = undefined;
      if (!h.leader) return [];
      const out: string[] = [];
      for (const name of this.spec.ordinals.map((i) => this.name(i))) {
        if (name === h.leader || h.streaming.includes(name)) continue;
        const m = h.members.find((x) => x.name === name);
        if (m && !LEADS.test(m.role) && BROKEN.test(m.state)) {
          out.push(name);
          continue;
        }
        // The DCS may still say `running` (or nothing): a Patroni started on a broken data
        // directory returns before it writes its member key. Its own REST API says `unknown`
        // (no PostgreSQL answers) or what it left its PostgreSQL in.
        const st = await this.rest.patroni(name).catch(() => null);
        if (st && (BROKEN.test(st.state) || st.state === 'unknown')) out.push(name);
      }
      return out;
    };
    const first = await stopped();
    if (!first.length) return [];
    await new Promise((r) => setTimeout(r, patroniTimings(this.spec.timings).loopWait * 1000 + 500));
    o.signal?.throwIfAborted();
    return (await stopped()).filter((n) => first.includes(n));
  }

  /**
   * Rebuild a replica from the leader: Patroni's `POST /reinitialize` (it wipes the member's data
   * directory and copies the leader's again), unless the member runs or is being copied already
   * (a repeated call, e.g. a repair task resumed after a crash, never wipes a member that works).
   * Returns false when there was nothing to ask.
   */
  async reinitialize(member: string): Promise<boolean> {
    const st = await this.rest.patroni(member).catch(() => null);
    if (st && !BROKEN.test(st.state) && st.state !== 'unknown') return false;
    await this.rest.reinitialize(member);
    return true;
  }

  /**
   * A planned switchover to `candidate` (a member name), e.g. the switchback to the preferred
   * primary after a failover. Patroni 3.0.2 accepts only the synchronous standby as the
   * candidate (D25; HTTP 412 otherwise), and after a failover the old primary rejoins as an
   * asynchronous replica: so, unless it already is, the candidate is made the synchronous
   * standby first, by giving the other replicas Patroni's `nosync` tag for the while (their
   * configuration rewritten and reloaded), and the tags are taken off again whatever happens.
   * Refused (throws) when the candidate is not streaming. Returns the old and new leader.
   */
  async switchover(candidate: string, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ from: string; to: string }> {
    const timeoutMs = o.timeoutMs ?? 120_000;
    const h = await this.health();
    if (!h.leader) throw new Error(`cluster ${this.spec.scope} has no running leader to switch over from`);
    if (h.leader === candidate) return { from: candidate, to: candidate };
    if (!h.streaming.includes(candidate)) throw new Error(`${candidate} is not a streaming replica of ${h.leader}; no switchover to it`);
    const from = h.leader;
    const ordinal = this.ordinalOf(candidate);
    if (ordinal === null) throw new Error(`${candidate} is not a member of ${this.spec.scope}`);
    const others = this.spec.ordinals.filter((i) => i !== ordinal && this.name(i) !== from);
    const needSync = this.spec.syncMode !== 'async' && !h.members.some((m) => m.name === candidate && m.role === 'sync_standby');
    try {
      if (needSync) {
        await this.setNoSync(others);
        await pollUntil(
          async () => {
            const now = await this.health();
            return now.members.some((m) => m.name === candidate && m.role === 'sync_standby') && now.sync.includes(candidate);
          },
          { timeoutMs, what: `${candidate} the synchronous standby`, ...(o.signal ? { signal: o.signal } : {}) },
        );
      }
      await this.rest.switchover(from, candidate);
      await pollUntil(async () => (await this.health()).leader === candidate, {
        timeoutMs,
        what: `${candidate} the leader`,
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } finally {
      if (needSync) await this.setNoSync([]);
    }
    return { from, to: candidate };
  }

  /** Give exactly these members Patroni's `nosync` tag: their configuration rewritten, each member whose tag changed reloaded. */
  private async setNoSync(ordinals: readonly number[]): Promise<void> {
    const changed = this.spec.ordinals.filter((i) => this.noSync.has(i) !== ordinals.includes(i));
    if (!changed.length) return;
    this.noSync.clear();
    for (const i of ordinals) this.noSync.add(i);
    const etcd = await this.dcs.ensureScope(this.spec.scope, this.spec.secrets.etcd);
    for (const i of changed) {
      this.writeMemberConfig(i, etcd);
      await this.rest.reload(this.name(i));
    }
  }

  /**
   * Forget what Patroni keeps of the cluster in etcd (its leader, the leader's WAL position, its
   * history, its dynamic configuration, the members), its members stopped: the next member
   * started takes the scope over from its data directory, as a restored cluster's first does
   * (issue 20's in-place restore: the restored primary's WAL position is older than the one
   * recorded, and Patroni would not let it lead). As the scope's own etcd user; returns the keys deleted.
   */
  async forgetState(o: { signal?: AbortSignal } = {}): Promise<number> {
    const etcd = await this.scopeClient();
    return etcd.deletePrefix(scopePrefix(this.spec.scope), o);
  }

  /** Stop the members (each Patroni stops its PostgreSQL, D23), then the router. The data stays. */
  async stop(): Promise<void> {
    await Promise.all(this.spec.ordinals.map((i) => this.agent.stopUnit(memberUnit(this.spec.scope, i))));
    await this.agent.stopUnit(routerUnit(this.spec.scope));
  }

  /** Stop everything and remove the cluster: its etcd keys and user, its files. */
  async remove(): Promise<void> {
    await this.stop();
    await this.dcs.removeScope(this.spec.scope);
    if (existsSync(this.spec.dir)) await removeTree(this.spec.dir);
  }

  private unitSpec(
    name: string,
    kind: 'patroni' | 'router',
    argv: string[],
    user: OsUser,
    log: string,
    home: string,
    env: Record<string, string> = {},
  ): UnitSpec {
    return {
      name,
      kind,
      argv,
      uid: user.uid,
      gid: user.gid,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', HOME: home, ...env },
      log,
      // Patroni stops its PostgreSQL (fast) on SIGTERM and releases the leader key; HAProxy stops at once.
      stopSignal: 'SIGTERM',
      stopTimeoutMs: kind === 'patroni' ? 60_000 : 5000,
    };
  }
}

function restUrl(subnet: number, ordinal: number): string {
  return `http://${restHost(subnet, ordinal)}:${PATRONI_REST_PORT}`;
}
