/**
 * The Patroni engine (issue 15, D23–D25): each node of a cluster is a Patroni 3.0.2 member
 * running PostgreSQL 15 as the project's OS user, each cluster its own Patroni scope on the
 * host's etcd, with an HAProxy router for its read-write and read-only endpoints; the host
 * agent runs all of them as units (src/dataplane/agent/), so they outlive the service and are
 * restarted within a second when they die. Patroni fails over by itself.
 *
 * It is the local engine with the members' lifecycle handed to Patroni: a member's data
 * directory, socket and SQL are where the local engine has them (so every intention that only
 * reads or changes SQL, and every pgBackRest intention, is the local engine's), while starting,
 * stopping, building and removing a member go through `HaCluster`. What a cluster needs beyond
 * its store records (its scope, its member list, Patroni's, the REST API's and etcd's secrets,
 * its PostgreSQL parameters) is kept in `<cluster dir>/ha.json` (root's, 0600), written when the
 * first member is made. A restored cluster's primary recovers as on the local engine and is then
 * handed to Patroni (`recoverPrimary`).
 */
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil, PollTimeout, type PollOptions } from '../domain/poll.js';
import type { ClusterRecord, NodeRecord } from '../domain/records.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import { AgentCallError, ensureAgent, type AgentClient } from './agent/client.js';
import type { Binaries } from './binaries.js';
import type {
  BackupSetRef,
  ClusterRef,
  ClusterSecrets,
  MemberProcess,
  MemberRef,
  MemberRole,
  RunOptions,
  StandbyState,
  StanzaCluster,
  StopMode,
} from './data-plane.js';
import { LocalEngine, type EngineSettings } from './local-engine.js';
import type { OsUser } from './os-user.js';
import {
  generateHaSecrets,
  HaCluster,
  hostDcs,
  memberHost,
  memberUnit,
  readOnlyHost,
  readWriteHost,
  restHost,
  routerUnit,
  type HaClusterSecrets,
} from './patroni/ha-cluster.js';
import { FleetEtcd } from './agent/fleet-etcd.js';
import {
  memberName,
  PATRONI_REST_PORT,
  MEMBER_PREFIX,
  patroniTimings,
  standbyClusterConfig,
  syncSettings,
  type PgParameters,
  type StandbyClusterSpec,
  type SyncMode,
} from './patroni/patroni-config.js';
import { assertMayStart } from './pg-exec.js';
import { dirSize, ident, literal } from './pg-instance.js';
import type { StanzaTarget } from './pgbackrest.js';
import { ensureServiceUser, type UidRecord } from './project-users.js';
import { expectOwnedDir, mkdirSafe, ownedBy, readFileSafe, removeTree, serviceOwner, writeFileSafe } from './safe-fs.js';
import { scramVerifier } from './scram.js';
import { proveArchiving } from './local/first-archive.js';
import { replicationLag } from './local/catalog.js';

export interface PatroniEngineSettings extends EngineSettings {
  /** the host agent's directory (one agent per host, D23) */
  agentDir: string;
  /** synchronous replication of new clusters (D25): sync by default */
  syncMode?: SyncMode;
}

/** What a cluster of this engine needs beyond its store records, kept in `<cluster dir>/ha.json`. */
interface HaRecord {
  scope: string;
  subnet: number;
  port: number;
  projectId: string;
  ordinals: number[];
  syncMode: SyncMode;
  parameters: PgParameters;
  secrets: HaClusterSecrets;
  /** where its Patroni state lives: the fleet's etcd (issue 18) when formed at its creation, else the host's (absent) */
  dcs?: 'fleet';
  /** Patroni's member names' prefix when not `node` (a standby cluster's since it first followed another, issue 19) */
  memberPrefix?: string;
  /** while it is a standby cluster of disaster recovery (issue 19, D31): the cluster it follows and how */
  standby?: { sourceClusterId: string; spec: StandbyClusterSpec };
}

/**
 * Settings the local engine writes that Patroni owns (it sets them itself, or from its own
 * cluster-wide defaults in patroni-config.ts); everything else of `clusterSettings` (the node
 * type's memory settings, the administrator's extensions, archiving) goes to Patroni.
 */
const PATRONI_OWNED = new Set([
  'wal_level',
  'hot_standby',
  'max_wal_senders',
  'max_replication_slots',
  'wal_log_hints',
  'wal_sender_timeout',
  'wal_receiver_status_interval',
  'max_slot_wal_keep_size',
  'listen_addresses',
  'port',
  'unix_socket_directories',
]);

/**
 * Patroni's cache of its cluster's dynamic configuration in a member's data directory
 * (patroni/config.py): a restored copy of a member must not take it along.
 */
const PATRONI_DYNAMIC_CACHE = 'patroni.dynamic.json';

/** What Patroni renames a member's own postgresql.conf to, writing its own beside it (postgresql/config.py). */
const PATRONI_BASE_CONF = 'postgresql.base.conf';

export class PatroniEngine extends LocalEngine {
  override readonly engineName = 'patroni' as const;
  /**
   * A member's Patroni (28 MiB of PSS idle, bench/capacity.ts) and a third of its cluster's
   * router (4.6 MiB), rounded up: what D18's budget adds to each member's node type.
   */
  override readonly memberOverheadBytes = 32 * 1024 * 1024;
  private agentClient: Promise<AgentClient> | null = null;
  /** the fleet's etcd of several hosts (issue 18), once `dwsbox hosts etcd` formed it */
  private readonly fleetEtcd: FleetEtcd;
  /** the dwsbox service user the routers run as (looked up once) */
  private serviceUser: Promise<OsUser> | null = null;

  constructor(
    override readonly settings: PatroniEngineSettings,
    bins: Binaries,
    log: Logger,
    uids: UidRecord | null = null,
  ) {
    super(settings, bins, log, uids);
    this.fleetEtcd = new FleetEtcd(settings.dataDir);
  }

  /**
   * The host's shared services, looked after every few health rounds (and at start): the
   * local engine's, and the host agent, started again when it no longer answers (it adopts
   * the units that kept running, D23).
   */
  override async superviseHost(): Promise<string[]> {
    const done = await super.superviseHost();
    const current = await this.agentClient?.catch(() => null);
    const answers = await current?.info().catch(() => null);
    if (current && answers) return [...done, `host agent ${current.dir}`];
    // Gone (or never asked for): a new client, which starts an agent when none answers. The old
    // client is not closed: a call still on it (a slow agent, not a dead one) may finish.
    this.agentClient = null;
    const agent = await this.agent();
    return [...done, `host agent ${agent.dir}`];
  }

  /**
   * `clusters stop-all`: the local engine's shared services, and the host agent with etcd when
   * no unit is left under it (after the clusters' members and routers stopped; another service
   * of this host may still have clusters under it, and then it stays). Returns what stopped.
   */
  override async stopHostServices(): Promise<number> {
    let n = await super.stopHostServices();
    const agent = await this.agent();
    const units = await agent.units();
    if (units.every((u) => u.kind === 'etcd')) {
      n += (await agent.shutdown(true)).stopped.length;
      this.agentClient = null;
      await agent.close();
    }
    return n;
  }

  /**
   * The host's agent, started when none answers (D23); a call that finds it gone (killed, say)
   * starts another, which adopts the units that kept running, and is made again (`revive`).
   */
  agent(): Promise<AgentClient> {
    this.agentClient ??= ensureAgent(this.settings.agentDir, { revive: true }).catch((e: unknown) => {
      this.agentClient = null;
      throw new AppError('ENGINE_NODE_FAILED', { args: ['the host agent', `it could not be reached or started: ${(e as Error).message}`] });
    });
    return this.agentClient;
  }

  // ------------------------------------------------------------------ layout
  /** Patroni names a member's slot after the member (`node<i>`, patroni-config.ts). */
  override replicaSlotName(ordinal: number): string {
    return memberName(ordinal);
  }

  /** The local engine's data directory and socket; the log is the member's unit log (Patroni's and PostgreSQL's output). */
  override nodePaths(clusterId: string, ordinal: number): { dataDir: string; sockDir: string; logFile: string } {
    const p = super.nodePaths(clusterId, ordinal);
    return { ...p, logFile: join(this.clusterDir(clusterId), 'log', `${memberName(ordinal)}.log`) };
  }

  /** The router's hosts of a cluster with address block `subnet` (D24): read-write, then read-only. */
  routerHosts(subnet: number): { readWrite: string; readOnly: string } {
    return { readWrite: readWriteHost(subnet), readOnly: readOnlyHost(subnet) };
  }

  /** pgBackRest knows every member (pg1 the given one, then the others), and finds the one that leads itself. */
  override stanzaTarget(
    cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>,
    primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>,
  ): StanzaTarget {
    const t = super.stanzaTarget(cluster, primary);
    const rec = this.readRecord(cluster.id);
    const others = (rec?.ordinals ?? []).filter((i) => i !== primary.ordinal);
    if (!others.length) return t;
    return Object.assign(t, {
      otherMembers: others.map((i) => {
        const p = this.nodePaths(cluster.id, i);
        return { path: p.dataDir, socket: p.sockDir };
      }),
    });
  }

  // ------------------------------------------------------------------ the cluster's record
  private recordFile(clusterId: string): string {
    return join(this.clusterDir(clusterId), 'ha.json');
  }

  private readRecord(clusterId: string): HaRecord | null {
    const text = readFileSafe(this.recordFile(clusterId));
    return text ? (JSON.parse(text) as HaRecord) : null;
  }

  private writeRecord(clusterId: string, rec: HaRecord): void {
    writeFileSafe(this.recordFile(clusterId), JSON.stringify(rec, null, 2), serviceOwner(), 0o600);
  }

  private record(clusterId: string): HaRecord {
    const rec = this.readRecord(clusterId);
    if (!rec)
      throw new AppError('ENGINE_NODE_FAILED', {
        args: [`cluster ${clusterId}`, `its highly available members were never set up here (no ${this.recordFile(clusterId)})`],
      });
    return rec;
  }

  private async cluster(clusterId: string, rec = this.record(clusterId)): Promise<HaCluster> {
    const agent = await this.agent();
    return new HaCluster(
      agent,
      {
        scope: rec.scope,
        subnet: rec.subnet,
        port: rec.port,
        ordinals: rec.ordinals,
        dir: this.clusterDir(clusterId),
        member: this.projectUser(rec.projectId),
        // The router runs as the dwsbox service user, never as root (D32).
        service: await (this.serviceUser ??= ensureServiceUser().catch((e: unknown) => {
          this.serviceUser = null;
          throw e;
        })),
        secrets: rec.secrets,
        syncMode: rec.syncMode,
        parameters: rec.parameters,
        socketDir: (i) => this.nodePaths(clusterId, i).sockDir,
        // Beside the members' sockets, in the short socket root (removed with the cluster's files).
        routerDir: join(this.socketRoot(), `${clusterId.slice(0, 13)}r`),
        ...(rec.memberPrefix ? { memberPrefix: rec.memberPrefix } : {}),
        ...(rec.standby ? { standbyCluster: rec.standby.spec } : {}),
      },
      rec.dcs === 'fleet' ? this.fleetEtcd : hostDcs(agent),
    );
  }

  /** The subnet of a member's address `127.0.c.i` (D24). */
  private static subnetOf(host: string): number {
    const m = /^127\.0\.(\d{1,3})\.\d{1,3}$/.exec(host);
    if (!m) throw new AppError('ENGINE_NODE_FAILED', { args: [host, 'not a member address of the address plan (127.0.c.i)'] });
    return Number(m[1]);
  }

  // ------------------------------------------------------------------ members
  /**
   * The cluster's record and its files (stanza config naming every member), nothing started:
   * Patroni makes the first member's data directory (initdb) when `startMember` starts it, and
   * each other member's (a base backup with a fast checkpoint) in `buildReplica`. Idempotent.
   */
  override async initPrimary(cluster: ClusterRecord, primary: NodeRecord, o: RunOptions & { replicas?: NodeRecord[] } = {}): Promise<void> {
    o.signal?.throwIfAborted();
    this.prepareClusterDir(cluster);
    // The address block host-wide (D24): REST ports are fixed (8008), so another service's cluster may not share it.
    const subnet = PatroniEngine.subnetOf(primary.host);
    await (await this.agent()).claimSubnet(cluster.id, subnet).catch((e: unknown) => {
      if (e instanceof AgentCallError && e.status === 409)
        throw new AppError('CAPACITY_EXCEEDED', {
          args: [
            `address block 127.0.${subnet}.0/24 was taken by a cluster of another service on this host meanwhile; create the cluster again`,
          ],
        });
      throw e;
    });
    if (!this.readRecord(cluster.id)) {
      const parameters: PgParameters = {};
      for (const [k, v] of Object.entries(this.clusterSettings(cluster, primary, true))) if (!PATRONI_OWNED.has(k)) parameters[k] = v;
      this.writeRecord(cluster.id, {
        scope: `dws-${cluster.id}`,
        subnet,
        port: cluster.port,
        projectId: cluster.projectId,
        ordinals: [primary.ordinal, ...(o.replicas ?? []).map((r) => r.ordinal)].sort((a, b) => a - b),
        syncMode: cluster.spec.syncMode ?? this.settings.syncMode ?? 'sync',
        parameters,
        secrets: generateHaSecrets(),
        // Once the fleet's etcd is formed (issue 18), new clusters keep their state there.
        ...(this.fleetEtcd.formed() ? { dcs: 'fleet' as const } : {}),
      });
    }
    this.writeStanzaConfig(cluster, primary);
  }

  /**
   * The member's Patroni runs (and the router): for a member that has data it starts its
   * PostgreSQL; a first member bootstraps the cluster. Waits until Patroni reports it running
   * and its postmaster answers. A member that runs is left alone (never restarted).
   * `leading`: wait until it leads, out of recovery too (a data directory Patroni takes over
   * starts as a replica, then is promoted).
   */
  override async startMember(
    cluster: ClusterRef,
    member: NodeRecord,
    o: { signal?: AbortSignal; timeoutMs?: number; leading?: boolean } = {},
  ): Promise<MemberProcess> {
    const ha = await this.cluster(cluster.id);
    await ha.ensure({ only: [member.ordinal], mayStart: () => assertMayStart(o.signal) });
    return this.waitMemberRunning(cluster, member, ha, o);
  }

  private async waitMemberRunning(
    cluster: ClusterRef,
    member: NodeRecord,
    ha: HaCluster,
    o: { signal?: AbortSignal; timeoutMs?: number; onWait?: () => Promise<void>; leading?: boolean },
  ): Promise<MemberProcess> {
    const name = ha.name(member.ordinal);
    const deadline = Date.now() + (o.timeoutMs ?? 300_000);
    let said = 'no answer from its Patroni yet';
    for (;;) {
      o.signal?.throwIfAborted();
      const st = await ha.rest.patroni(name).catch((e: unknown) => {
        said = (e as Error).message;
        return null;
      });
      if (st) said = `Patroni says ${st.state} (${st.role})`;
      const proc = this.memberStatus(cluster, member);
      if (st?.state === 'running' && proc) {
        // The postmaster answers SQL (a replica: once it accepts read-only sessions); `leading`: out of recovery too.
        const ok = await this.instance(cluster, member)
          .query<{ r: boolean }>('select pg_is_in_recovery() as r')
          .then((rows) => !o.leading || rows[0]?.r === false)
          .catch(() => false);
        if (ok) return proc;
        if (o.leading) said += ', still in recovery (not yet promoted)';
      }
      await o.onWait?.();
      if (Date.now() > deadline)
        throw new AppError('ENGINE_NODE_FAILED', {
          args: [
            member.host,
            `member ${name} did not start within ${Math.round((o.timeoutMs ?? 300_000) / 1000)} s: ${said}; the end of its log: ${this.instance(cluster, member).logTail(5)}`,
          ],
        });
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * Stop the member's Patroni (it stops its PostgreSQL, fast) and, when no member of the
   * cluster runs any more, the router. The data stays. A leader stopped while others run
   * hands over to one of them (Patroni's switchover on shutdown). `immediate` (a member whose
   * data is thrown away next: a deleted or cleaned-up cluster's): Patroni killed, then its
   * PostgreSQL stopped `immediate`, no checkpoint, no hand-over of the leader key or the synchronous standby,
   * which cost 2–4 s a member (measured: a delete's STOP_NODES 7.7–8.4 s one member after
   * another, 6.1 s all at once, then 1–2 s).
   */
  override async stopMember(cluster: ClusterRef, member: NodeRecord, mode: StopMode = 'fast'): Promise<void> {
    const rec = this.readRecord(cluster.id);
    if (!rec) return super.stopMember(cluster, member, mode); // never set up: only a stray postmaster could run
    const agent = await this.agent();
    await agent.stopUnit(memberUnit(rec.scope, member.ordinal), { immediate: mode === 'immediate' });
    // Patroni runs its postmaster detached (not in its process tree): with Patroni gone, it is stopped here.
    if (mode === 'immediate' && this.memberStatus(cluster, member)) await super.stopMember(cluster, member, 'immediate');
    const left = (await agent.units()).filter(
      (u) => rec.ordinals.some((i) => u.name === memberUnit(rec.scope, i)) && u.status !== 'stopping',
    );
    if (!left.length) await agent.stopUnit(routerUnit(rec.scope));
  }

  /**
   * A new member: the cluster's record and stanza config name it, its Patroni starts and
   * copies the leader (`pg_basebackup` with a fast checkpoint, Patroni's), and the router
   * routes to it once its checks pass (HaCluster.ensure sets its server slot through the
   * runtime API). Waits until Patroni reports it running and it answers SQL (streaming is
   * CATCH_UP's to wait for). Progress: `copyProgress`, then the copy's size on disk at 100 %.
   * Returns the bytes of the member's data directory.
   */
  override async buildReplica(
    cluster: ClusterRecord,
    primary: NodeRecord,
    member: NodeRecord,
    _secrets: ClusterSecrets,
    o: RunOptions = {},
  ): Promise<{ bytes: number }> {
    return this.waitCopied(cluster, primary, member, await this.startReplica(cluster, primary, member, o.signal), o);
  }

  /** The new member's Patroni starts and copies the leader; `buildReplica` waits for it (several copies then run at once). */
  async beginReplica(cluster: ClusterRecord, primary: NodeRecord, member: NodeRecord, o: { signal?: AbortSignal } = {}): Promise<void> {
    await this.startReplica(cluster, primary, member, o.signal);
  }

  /**
   * The cluster's record and stanza config name the member, and its Patroni runs (left alone if
   * it does). The agent starts it only while the work may still start processes (D1: a task
   * whose lease is gone starts nothing).
   */
  private async startReplica(cluster: ClusterRecord, primary: NodeRecord, member: NodeRecord, signal?: AbortSignal): Promise<HaCluster> {
    const rec = this.record(cluster.id);
    if (!rec.ordinals.includes(member.ordinal)) {
      rec.ordinals = [...rec.ordinals, member.ordinal].sort((a, b) => a - b);
      this.writeRecord(cluster.id, rec);
      this.writeStanzaConfig(cluster, primary);
    }
    const ha = await this.cluster(cluster.id, rec);
    await ha.ensure({ only: [member.ordinal], mayStart: () => assertMayStart(signal) });
    return ha;
  }

  /**
   * Progress of a copy Patroni runs (D14: read from PostgreSQL's views and the data directory,
   * never guessed), sampled at most every 500 ms while `buildReplica` waits: while the
   * leader's `pg_stat_progress_basebackup` shows a base backup, its bytes streamed against its
   * total (Patroni runs pg_basebackup without `--progress`, so PostgreSQL's total is unknown:
   * the leader's databases' size, read when the copy began, stands for it); before it (Patroni
   * starting, the leader's fast checkpoint) and after it (the copy's WAL replayed, PostgreSQL
   * starting) the data directory's size on disk. Its percentage never goes back and stays
   * under 100 until the member runs. While several members copy at once (`beginReplica`), the
   * leader's view cannot tell whose copy a base backup is (Patroni's pg_basebackup connects under
   * one application name): each member's progress is then its data directory's size.
   */
  private async copyProgress(
    cluster: ClusterRecord,
    primary: NodeRecord,
    member: NodeRecord,
    onProgress: NonNullable<RunOptions['onProgress']>,
  ): Promise<() => Promise<void>> {
    const dataDir = this.nodePaths(cluster.id, member.ordinal).dataDir;
    const estimate = await this.databaseBytes(cluster, primary).catch(() => null);
    let last = 0;
    let percent = 0;
    // The base backup's figures once seen: after it ends, the copy counts as done at its size.
    let copied: { done: number; total: number | null } | null = null;
    return async () => {
      if (Date.now() - last < 500) return;
      last = Date.now();
      const row = await this.instance(cluster, primary)
        .query<{ phase: string; total: string | null; streamed: string; copies: string }>(
          `select p.phase, p.backup_total::text as total, p.backup_streamed::text as streamed, count(*) over ()::text as copies
             from pg_stat_progress_basebackup p join pg_stat_activity a using (pid)
            where a.application_name = 'pg_basebackup' order by a.backend_start desc limit 1`,
        )
        .then((r) => (r[0] && r[0].copies === '1' ? r[0] : null))
        .catch(() => null);
      const onDisk = existsSync(dataDir) ? dirSize(dataDir) : 0;
      const source = row
        ? 'pg_stat_progress_basebackup'
        : copied
          ? 'pg_stat_progress_basebackup, ended'
          : 'the new member data directory (du)';
      let done: number;
      let total: number | null;
      let phase: string;
      if (row) {
        done = Number(row.streamed);
        total = row.total ? Number(row.total) : estimate;
        phase = row.phase;
        copied = { done: total ?? done, total };
      } else if (copied) {
        ({ done, total } = copied);
        phase = 'starting PostgreSQL';
      } else {
        // Not begun, or over between two samples: what is on disk (the copy's WAL included).
        done = onDisk;
        total = estimate === null ? null : Math.max(estimate, onDisk);
        phase = onDisk ? 'copying or starting PostgreSQL' : 'waiting for the copy';
      }
      if (total) percent = Math.max(percent, Math.min(99, (100 * done) / total));
      onProgress({
        source,
        bytesDone: done,
        bytesTotal: total,
        percent,
        data: { phase, onDiskBytes: onDisk },
      });
    };
  }

  /**
   * Before an in-place restore and its rollback: every member's Patroni stopped (the local
   * engine's order), then any postmaster that still runs outside a unit stopped as the local
   * engine stops one: a restored copy a failed RECOVER_PRIMARY started itself (Patroni gets it
   * only at the step's end), or one that outlived its killed Patroni. Left running, the
   * rollback's restore would take it for a finished restore of the safety snapshot, and hand
   * the set it was restoring to Patroni instead. Throws when one still runs.
   */
  override async stopForRestoreInPlace(cluster: ClusterRecord, primary: NodeRecord, nodes: readonly NodeRecord[]): Promise<void> {
    await super.stopForRestoreInPlace(cluster, primary, nodes);
    const order = [...nodes.filter((n) => n.ordinal !== primary.ordinal), primary];
    for (const n of order) if (this.memberStatus(cluster, n)) await super.stopMember(cluster, n, 'fast');
    const left = order.filter((n) => this.memberStatus(cluster, n));
    if (left.length)
      throw new AppError('ENGINE_NODE_FAILED', {
        args: ['the cluster', `the PostgreSQL of node(s) ${left.map((n) => n.ordinal).join(', ')} still runs after its stop`],
      });
  }

  /**
   * Scale-in, and a scale-out's undo: the member's Patroni stopped (on the way out it asks the
   * leader to pick another synchronous standby if it was the one, `while_not_sync_standby`,
   * and stops its PostgreSQL), then it leaves the cluster's record, the DCS and the router
   * (HaCluster.forgetMember), its slot is gone from the leader (`waitSlotDropped`), and its
   * files and socket directory are removed. Idempotent.
   */
  override async removeReplica(cluster: ClusterRef, primary: NodeRecord | null, member: NodeRecord, mode: StopMode): Promise<void> {
    const rec = this.readRecord(cluster.id);
    await this.stopMember(cluster, member, mode);
    // A postmaster that outlived its Patroni (killed past its stop timeout) is stopped as the local engine stops one.
    if (this.memberStatus(cluster, member)) await super.stopMember(cluster, member, mode);
    if (rec) {
      if (rec.ordinals.includes(member.ordinal)) {
        rec.ordinals = rec.ordinals.filter((i) => i !== member.ordinal);
        this.writeRecord(cluster.id, rec);
      }
      const ha = await this.cluster(cluster.id, rec);
      await ha.forgetMember(member.ordinal);
      await this.waitSlotDropped(cluster, ha, primary, member.ordinal);
      // pgBackRest's config names the members left (stanzaTarget reads the record).
      if (primary && 'stanza' in cluster && 'port' in cluster) this.writeStanzaConfig(cluster as StanzaCluster, primary);
    }
    await this.removeMemberFiles(cluster, member.ordinal);
    await removeTree(this.nodePaths(cluster.id, member.ordinal).sockDir);
  }

  /**
   * A departed member's slot gone from the leader. Patroni keeps a slot for every member key
   * and drops the others (`_drop_incorrect_slots`) in its next loop, so once the key is deleted
   * (forgetMember) the leader drops it within about `loop_wait`; dropping it here first would
   * only leave Patroni's cache of slots wrong. Past a few loops it is dropped here. With no
   * leader there is nothing to drop it on: a new leader only makes slots for the members there
   * are. The leader is the one Patroni names (the store's primary, when Patroni cannot say).
   */
  private async waitSlotDropped(cluster: ClusterRef, ha: HaCluster, primary: NodeRecord | null, ordinal: number): Promise<void> {
    const slot = ha.name(ordinal);
    const soft = Date.now() + 4 * patroniTimings().loopWait * 1000 + 2000;
    // Past the soft deadline the slot is dropped here once inactive (its walsender may outlive the member a moment).
    const hard = soft + 20_000;
    for (;;) {
      const leader = await this.leaderRef(cluster, ha, primary);
      if (!leader) return;
      const left = await this.hasSlot(cluster, leader, slot).catch(() => null);
      if (left === false) return;
      if (left && Date.now() > soft) {
        await this.instance(cluster, leader).query(
          'select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active',
          [slot],
        );
        if (Date.now() > hard) return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Whether the member holds replication slot `slot`. */
  private async hasSlot(cluster: ClusterRef, member: MemberRef, slot: string): Promise<boolean> {
    return (await this.instance(cluster, member).query('select 1 from pg_replication_slots where slot_name = $1', [slot])).length > 0;
  }

  /** Each member's lag behind the leader, the members named as this cluster names them (`dr<i>` for a standby cluster's, D31). */
  override replicationLag(cluster: ClusterRef, primary: NodeRecord): Promise<{ node: number; bytes: number }[]> {
    return replicationLag(this, cluster, primary, this.readRecord(cluster.id)?.memberPrefix ?? MEMBER_PREFIX);
  }

  /** A departed member's slot (a scale-out's undo after its row went): forgotten in the DCS first, so Patroni does not make it again. */
  override async dropReplicaSlot(cluster: ClusterRef, primary: NodeRecord, ordinal: number): Promise<void> {
    const rec = this.readRecord(cluster.id);
    if (!rec || rec.ordinals.includes(ordinal)) return this.dropSlotIfInactive(cluster, primary, memberName(ordinal, rec?.memberPrefix));
    const ha = await this.cluster(cluster.id, rec);
    await ha.forgetMember(ordinal);
    await this.waitSlotDropped(cluster, ha, primary, ordinal);
  }

  /** Every unit of the cluster stopped, its etcd scope and user gone, its files removed, its address block released. */
  override async removeClusterFiles(clusterId: string): Promise<void> {
    const rec = this.readRecord(clusterId);
    if (rec) await (await this.cluster(clusterId, rec)).remove();
    await super.removeClusterFiles(clusterId);
    const agent = await this.agent();
    for (const h of await agent.subnets()) if (h.owner === clusterId) await agent.releaseSubnet(h.subnet);
    rmSync(join(this.claimsDir(), clusterId), { force: true });
  }

  /**
   * The address block for the cluster `owner` in the agent's host-wide registry (D24: REST ports
   * are the same in every block), or false when another cluster holds it. A note of the claim is
   * made first in this data directory (`claims/<owner>`): a service that dies before its store
   * records the cluster leaves the note, and `sweepSubnetClaims` releases the block.
   */
  async claimSubnet(subnet: number, owner: string): Promise<boolean> {
    // Another agent's cluster (a second agent directory on this host) may hold the block's REST addresses.
    for (const i of [1, 2, 3]) if (!(await this.isAddressFree(restHost(subnet, i), PATRONI_REST_PORT))) return false;
    mkdirSafe(this.claimsDir(), serviceOwner(), 0o700);
    writeFileSafe(join(this.claimsDir(), owner), `${subnet}\n`, serviceOwner(), 0o600);
    return (await this.agent()).claimSubnet(owner, subnet).then(
      () => true,
      (e: unknown) => {
        if (e instanceof AgentCallError && e.status === 409) return false;
        throw e;
      },
    );
  }

  async releaseSubnet(subnet: number, owner: string): Promise<void> {
    const agent = await this.agent();
    if ((await agent.subnets()).some((h) => h.subnet === subnet && h.owner === owner)) await agent.releaseSubnet(subnet);
    rmSync(join(this.claimsDir(), owner), { force: true });
  }

  /**
   * The claims this data directory noted (`claimSubnet`) and settled since: a note of a cluster
   * the store knows (`known`) is dropped; one older than `graceMs` of a cluster it does not know
   * (its service died between the claim and the store's insert) has its block released, if the
   * agent still holds it for that cluster. Returns the blocks released. The health monitor calls
   * it every round; `graceMs` covers a create request in flight in another service process.
   */
  async sweepSubnetClaims(known: ReadonlySet<string>, graceMs = 10 * 60_000): Promise<number[]> {
    const dir = this.claimsDir();
    if (!existsSync(dir)) return [];
    const released: number[] = [];
    for (const owner of readdirSync(dir)) {
      const note = join(dir, owner);
      if (known.has(owner)) {
        rmSync(note, { force: true });
        continue;
      }
      if (Date.now() - statSync(note).mtimeMs < graceMs) continue;
      const subnet = Number(readFileSafe(note)?.trim());
      const agent = await this.agent();
      if ((await agent.subnets()).some((h) => h.subnet === subnet && h.owner === owner)) {
        await agent.releaseSubnet(subnet);
        released.push(subnet);
        this.log.warn('address block released: its cluster never reached the store (the service died while creating it)', {
          subnet,
          owner,
        });
      }
      rmSync(note, { force: true });
    }
    return released;
  }

  private claimsDir(): string {
    return join(this.settings.dataDir, 'claims');
  }

  // ------------------------------------------------------------------ health (D23)
  /** Each member's role and state as Patroni reports them now (any member that answers), or null. */
  async memberRoles(cluster: ClusterRef): Promise<MemberRole[] | null> {
    const rec = this.readRecord(cluster.id);
    if (!rec) return null;
    const ha = await this.cluster(cluster.id, rec);
    const h = await ha.health().catch(() => null);
    if (!h) return null;
    return h.members.flatMap((m) => {
      const ordinal = ha.ordinalOf(m.name);
      if (ordinal === null) return [];
      return [
        {
          ordinal,
          role: m.name === h.leader ? 'primary' : 'standby',
          running: /^(running|streaming)$/.test(m.state),
          lagBytes: m.lag,
          timeline: m.timeline,
          ...(m.name === h.leader && h.failsafe !== null ? { failsafe: h.failsafe, dcsLastSeen: h.dcsLastSeen } : {}),
        },
      ];
    });
  }

  /** Whether the cluster's leader runs on Patroni's failsafe mode (its DCS lost), asked of each member. */
  async dcsFailsafe(cluster: ClusterRef): Promise<{ active: boolean; leader: number | null; lastSeen: number | null } | null> {
    const rec = this.readRecord(cluster.id);
    if (!rec) return null;
    const ha = await this.cluster(cluster.id, rec);
    const f = await ha.failsafe();
    return f && { active: f.active, leader: ha.ordinalOf(f.leader), lastSeen: f.lastSeen };
  }

  /** A leader, every member streaming, one of them the synchronous standby Patroni named (unless asynchronous). */
  async waitHealthy(cluster: ClusterRef, o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    const ha = await this.cluster(cluster.id);
    await ha.waitHealthy({ timeoutMs: o.timeoutMs ?? 120_000, ...(o.signal ? { signal: o.signal } : {}) }).catch((e: unknown) => {
      if (o.signal?.aborted) throw e;
      throw new AppError('VERIFY_FAILED', { args: [(e as Error).message] });
    });
  }

  /**
   * One look at what Patroni 3.0.2 leaves broken (one read of Patroni's state for both): a
   * synchronous standby the leader lost (D25) is mended at once; replicas left stopped
   * (HaCluster.stoppedMembers, seen twice a loop apart) are returned for a repair task
   * (`rebuildMember`): a copy of the leader is work to show and to resume.
   */
  async mendCluster(cluster: ClusterRef, signal?: AbortSignal): Promise<{ mended: string[]; stuck: number[] }> {
    const none = { mended: [], stuck: [] };
    const rec = this.readRecord(cluster.id);
    if (!rec) return none;
    const ha = await this.cluster(cluster.id, rec);
    const seen = await ha.health().catch(() => null);
    if (!seen) return none;
    const o = { seen, ...(signal ? { signal } : {}) };
    const mended = (await ha.repairSync(o)) ? ['the lost synchronous standby was reset (Patroni picks one again)'] : [];
    const stuck = (await ha.stoppedMembers(o)).map((n) => ha.ordinalOf(n)).filter((i): i is number => i !== null);
    return { mended, stuck };
  }

  /**
   * A replica Patroni left stopped, rebuilt from the leader (HaCluster.reinitialize: Patroni
   * wipes its data directory and copies the leader's again; nothing is asked when it runs or is
   * being copied already), then waited for as `buildReplica` waits for a new member, with the
   * same progress. Returns the bytes of its data directory.
   */
  async rebuildMember(cluster: ClusterRecord, primary: NodeRecord, member: NodeRecord, o: RunOptions = {}): Promise<{ bytes: number }> {
    const ha = await this.cluster(cluster.id);
    await ha.ensure({ only: [member.ordinal] });
    // A member whose postmaster runs is never wiped (it came back meanwhile, or Patroni only cannot reach it).
    if (!this.memberStatus(cluster, member)) await ha.reinitialize(ha.name(member.ordinal));
    return this.waitCopied(cluster, primary, member, ha, o);
  }

  /** Wait for a member Patroni is copying from the leader to run, with the copy's progress; the bytes of its data directory. */
  private async waitCopied(
    cluster: ClusterRecord,
    primary: NodeRecord,
    member: NodeRecord,
    ha: HaCluster,
    o: RunOptions,
  ): Promise<{ bytes: number }> {
    const onWait = o.onProgress ? await this.copyProgress(cluster, primary, member, o.onProgress) : undefined;
    await this.waitMemberRunning(cluster, member, ha, {
      ...(o.signal ? { signal: o.signal } : {}),
      timeoutMs: 24 * 3600_000,
      ...(onWait ? { onWait } : {}),
    });
    const bytes = dirSize(this.nodePaths(cluster.id, member.ordinal).dataDir);
    o.onProgress?.({ source: 'copy', bytesDone: bytes, bytesTotal: bytes, percent: 100, data: { phase: 'done' } });
    return { bytes };
  }

  // ------------------------------------------------------------------ switchover (D25)
  async switchoverCandidates(cluster: ClusterRef): Promise<number[]> {
    const rec = this.readRecord(cluster.id);
    if (!rec) return [];
    const ha = await this.cluster(cluster.id, rec);
    const h = await ha.health().catch(() => null);
    return (h?.streaming ?? []).flatMap((n) => ha.ordinalOf(n) ?? []);
  }

  /** Patroni's planned switchover, the candidate made the synchronous standby first (HaCluster.switchover). */
  async switchover(cluster: ClusterRef, candidate: number, o: RunOptions = {}): Promise<{ from: number; to: number }> {
    const ha = await this.cluster(cluster.id);
    const r = await ha
      .switchover(ha.name(candidate), { ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 120_000 })
      .catch((e: unknown) => {
        throw new AppError('ENGINE_NODE_FAILED', { args: [`node ${candidate}`, `the switchover to it failed: ${(e as Error).message}`] });
      });
    // The old leader restarts as a replica (Patroni demotes it): done when every member streams again.
    await ha.waitHealthy({ ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 120_000 }).catch((e: unknown) => {
      throw new AppError('ENGINE_NODE_FAILED', {
        args: [`the cluster`, `after the switchover to node ${candidate}: ${(e as Error).message}`],
      });
    });
    return { from: ha.ordinalOf(r.from) ?? 0, to: ha.ordinalOf(r.to) ?? candidate };
  }

  /**
   * A running cluster's replication mode changed (D25): Patroni's dynamic configuration patched
   * and waited for (HaCluster.applySyncMode), then the cluster's record, which members written
   * later (a scale-out, a rebuild) take it from. Run again after a failure, it converges.
   */
  async setSyncMode(cluster: ClusterRef, mode: SyncMode, o: RunOptions = {}): Promise<void> {
    const rec = this.record(cluster.id);
    const ha = await this.cluster(cluster.id, { ...rec, syncMode: mode });
    await ha.applySyncMode({ ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 60_000 }).catch((e: unknown) => {
      throw new AppError('ENGINE_NODE_FAILED', {
        args: ['the cluster', `its replication did not become ${mode}: ${(e as Error).message}`],
      });
    });
    this.writeRecord(cluster.id, { ...rec, syncMode: mode });
  }

  // ------------------------------------------------------------------ disaster recovery (issue 19, D31)
  /** The member of a cluster that leads now (Patroni's word; with none, `fallback` when it runs), as a reference for SQL. */
  private async leaderRef(cluster: ClusterRef, ha: HaCluster, fallback: NodeRecord | null = null): Promise<MemberRef | null> {
    const name = (await ha.health().catch(() => null))?.leader;
    const i = name ? ha.ordinalOf(name) : null;
    if (i === null) return fallback && this.memberStatus(cluster, fallback) ? fallback : null;
    return this.memberRef(cluster, ha.spec, i);
  }

  /**
   * `standby` follows `source` as a Patroni standby cluster (D31). The source keeps a permanent
   * slot for it (Patroni's `slots`, made on its leader). The standby's members are stopped, its
   * Patroni state forgotten and its data directories emptied once (the record then names the
   * source, so a run resumed after a crash never empties them again); its record takes the
   * source's superuser and replication credentials (its catalog is the source's copy), member
   * names with another prefix than the source's (`memberName`: its standby leader streams from
   * the source's leader under its own name, which must not be a source member's), asynchronous
   * replication (D25) and the `standby_cluster` section. Patroni then bootstraps the standby
   * leader with a base backup from the source's read-write endpoint and streams, falling back to
   * the source stanza's archive-get; the other members copy the standby leader. Progress: the
   * standby leader's copy on disk against the source's databases.
   */
  async followCluster(
    standby: ClusterRecord,
    source: ClusterRecord,
    sourcePrimary: NodeRecord,
    o: RunOptions & { slot: string },
  ): Promise<void> {
    const srcRec = this.record(source.id);
    await this.keepFollowerSlot(source, sourcePrimary, o.slot, o.signal);
    let rec = this.record(standby.id);
    if (rec.standby?.sourceClusterId !== source.id) {
      const ha = await this.cluster(standby.id, rec);
      // A running cluster (RestoreDisaster rebuilds one) stops in maintenance mode, so no member
      // takes the lead meanwhile: a replica promoted as its leader's Patroni stopped archived a
      // timeline of its own into the cluster's stanza, which a cluster following this one later
      // took for the newest (seen: a switchback stuck catching up). Nothing answers: nothing runs.
      await this.maintenanceMode(ha).catch((e: unknown) =>
        this.log.debug('no maintenance mode before the rebuild as a standby (its Patroni does not answer)', {
          clusterId: standby.id,
          error: (e as Error).message,
        }),
      );
      await ha.stop();
      // Patroni runs its postmaster detached: one that outlived its Patroni is stopped here, its data thrown away next.
      for (const i of rec.ordinals) {
        const inst = this.instance(standby, this.memberRef(standby, rec, i));
        if (inst.status()) await inst.stop({ mode: 'immediate' });
      }
      await ha.forgetState(o.signal ? { signal: o.signal } : {});
      for (const i of rec.ordinals) {
        const dataDir = this.nodePaths(standby.id, i).dataDir;
        if (existsSync(dataDir)) await removeTree(dataDir);
      }
      rec = {
        ...rec,
        memberPrefix: (srcRec.memberPrefix ?? MEMBER_PREFIX) === MEMBER_PREFIX ? 'dr' : MEMBER_PREFIX,
        syncMode: 'async',
        secrets: { ...rec.secrets, superuser: srcRec.secrets.superuser, replication: srcRec.secrets.replication },
        standby: { sourceClusterId: source.id, spec: this.followSpec(source, srcRec, sourcePrimary, o.slot) },
      };
      this.writeRecord(standby.id, rec);
    }
    const ha = await this.cluster(standby.id, rec);
    await ha.ensure({ mayStart: () => assertMayStart(o.signal) });
    const total = await this.databaseBytes(source, sourcePrimary).catch(() => null);
    let percent = 0;
    let sampled = 0;
    await waitFor(
      async () => {
        const h = await ha.health().catch(() => null);
        const leader = h?.leader ? ha.ordinalOf(h.leader) : null;
        // The copies' size on disk at most every 500 ms (a walk of every data directory), as a replica's copy is sampled.
        if (o.onProgress && Date.now() - sampled >= 500) {
          sampled = Date.now();
          const sizes = rec.ordinals.map((i) => {
            const d = this.nodePaths(standby.id, i).dataDir;
            return existsSync(d) ? dirSize(d) : 0;
          });
          const done = Math.max(0, ...sizes);
          if (total) percent = Math.max(percent, Math.min(99, (100 * done) / total));
          o.onProgress({ source: 'the standby leader data directory (du)', bytesDone: done, bytesTotal: total, percent, data: { leader } });
        }
        if (!h || leader === null || h.streaming.length !== rec.ordinals.length - 1) return false;
        const st = await this.standbyState(standby);
        return st?.receiver === 'streaming';
      },
      {
        timeoutMs: 24 * 3600_000,
        what: 'the standby cluster streaming from the production cluster',
        ...(o.signal ? { signal: o.signal } : {}),
      },
    );
  }

  /** The permanent slot `slot` a source keeps for the standby cluster that follows it (Patroni's `slots`, made on its leader). Idempotent. */
  async keepFollowerSlot(source: ClusterRef, sourcePrimary: NodeRecord, slot: string, signal?: AbortSignal): Promise<void> {
    const src = await this.cluster(source.id);
    await src.rest.patchConfig({ slots: { [slot]: { type: 'physical' } } }).catch((e: unknown) => {
      throw new AppError('ENGINE_NODE_FAILED', {
        args: ['the production cluster', `Patroni refused its slot for the standby: ${(e as Error).message}`],
      });
    });
    await waitFor(
      async () => {
        const leader = await this.leaderRef(source, src, sourcePrimary);
        return leader !== null && (await this.hasSlot(source, leader, slot));
      },
      { timeoutMs: 60_000, what: `slot ${slot} on the production cluster's leader`, ...(signal ? { signal } : {}) },
    );
  }

  /**
   * A running cluster becomes a standby cluster of `source` without losing its data (a
   * switchover's first half, D31): `standby_cluster` and asynchronous replication set in its
   * dynamic configuration at once (Patroni restarts its leader as the standby leader: a clean
   * shutdown, whose WAL its followers receive whole; from then on it takes no writes), and its
   * own permanent slot `o.slot` (kept for the cluster that followed it) removed. Waits until
   * its leader runs in recovery. Idempotent.
   */
  async demoteToStandby(
    cluster: ClusterRecord,
    source: ClusterRecord,
    sourcePrimary: NodeRecord,
    o: { slot: string; signal?: AbortSignal },
  ): Promise<void> {
    let rec = this.record(cluster.id);
    const ha = await this.cluster(cluster.id, rec);
    if (rec.standby?.sourceClusterId !== source.id) {
      const spec = this.followSpec(source, this.record(source.id), sourcePrimary, o.slot);
      // Patroni 3.0.2 turns a running leader into a standby leader with an immediate shutdown
      // (ha.py `follow`: demote('immediate-nolock')): WAL it wrote but had not sent yet would never
      // reach the standby (seen: 32 kB short). So, with Patroni in maintenance mode, the leader's
      // PostgreSQL is stopped cleanly here first (its walsenders send everything up to the
      // shutdown checkpoint); then Patroni, out of maintenance mode, starts it as the standby leader.
      await this.maintenanceMode(ha);
      const leader = await this.leaderRef(cluster, ha);
      if (leader) {
        const inst = this.instance(cluster, leader);
        if (inst.status()) await inst.stop({ mode: 'fast' });
      }
      await ha.rest
        .patchConfig({ standby_cluster: standbyClusterConfig(spec), ...syncSettings('async'), slots: { [o.slot]: null }, pause: false })
        .catch((e: unknown) => {
          throw new AppError('ENGINE_NODE_FAILED', {
            args: ['the production cluster', `Patroni refused to demote it: ${(e as Error).message}`],
          });
        });
      rec = { ...rec, syncMode: 'async', standby: { sourceClusterId: source.id, spec } };
      this.writeRecord(cluster.id, rec);
    }
    await waitFor(
      async () => {
        const h = await ha.health();
        const leader = h.members.find((m) => m.name === h.leader);
        if (leader?.role !== 'standby_leader') return false;
        const ref = await this.leaderRef(cluster, ha);
        const rows = ref && (await this.instance(cluster, ref).query<{ r: boolean }>('select pg_is_in_recovery() as r'));
        return rows?.[0]?.r === true;
      },
      { timeoutMs: 120_000, what: 'the production cluster demoted to a standby cluster', ...(o.signal ? { signal: o.signal } : {}) },
    );
  }

  /**
   * How a standby cluster follows `source` (D31): through the permanent slot `slot`, with the
   * source stanza's archive-get as the fallback, connecting to every member's address with
   * `target_session_attrs=read-write` (so it follows a failover of the source), never to the
   * source's router: the router cuts the sessions of a member marked down, and a switchover's
   * demoted leader is marked down while its walsender still sends its last WAL (seen: the standby
   * 32 kB short of production's shutdown checkpoint).
   */
  private followSpec(source: ClusterRecord, srcRec: HaRecord, sourcePrimary: NodeRecord, slot: string): StandbyClusterSpec {
    return {
      host: srcRec.ordinals.map((i) => memberHost(srcRec.subnet, i)).join(','),
      port: srcRec.port,
      primarySlotName: slot,
      restoreCommand: this.backrest.restoreCommand(this.stanzaTarget(source, sourcePrimary)),
    };
  }

  /** Patroni's maintenance mode on, waited for until every running member's Patroni has read it (the next loop). */
  private async maintenanceMode(ha: HaCluster): Promise<void> {
    await ha.rest.patchConfig({ pause: true });
    await waitFor(
      async () => {
        const seen = await Promise.all(ha.spec.ordinals.map((i) => ha.rest.patroni(ha.name(i)).catch(() => null)));
        return seen.every((st) => st === null || st.state !== 'running' || st.pause === true);
      },
      { timeoutMs: 30_000, what: "the cluster's members in Patroni's maintenance mode" },
    );
  }

  /** Member `ordinal` of a cluster with address block `at.subnet` and port `at.port` (its record's or its HaCluster spec's), for SQL. */
  private memberRef(cluster: ClusterRef, at: { subnet: number; port: number }, ordinal: number): MemberRef {
    return { ordinal, host: memberHost(at.subnet, ordinal), port: at.port, dataDir: this.nodePaths(cluster.id, ordinal).dataDir };
  }

  /** The standby leader's view of its replication (D31): receiver, positions, the last replayed commit's time, a pause. */
  async standbyState(standby: ClusterRef): Promise<StandbyState | null> {
    const rec = this.readRecord(standby.id);
    if (!rec?.standby) return null;
    const ha = await this.cluster(standby.id, rec);
    const leader = await this.leaderRef(standby, ha);
    if (!leader) return null;
    const [row] = await this.instance(standby, leader).query<{
      receiver: string | null;
      received: string | null;
      replayed: string | null;
      at: number | null;
      paused: boolean;
    }>(
      `select (select status from pg_stat_wal_receiver limit 1) as receiver,
              pg_last_wal_receive_lsn()::text as received, pg_last_wal_replay_lsn()::text as replayed,
              (extract(epoch from pg_last_xact_replay_timestamp()) * 1000)::float8 as at,
              pg_get_wal_replay_pause_state() <> 'not paused' as paused`,
    );
    if (!row) return null;
    return {
      leader: leader.ordinal,
      receiver: row.receiver,
      receivedLsn: row.received,
      replayedLsn: row.replayed,
      replayedCommitAt: row.at === null ? null : Math.round(Number(row.at)),
      paused: row.paused,
    };
  }

  /**
   * WAL replay paused or resumed on every running member (D31): the standby leader's replicas
   * receive what it received, not what it replayed, so each is paused. Patroni 3.0.2 resumes a
   * paused replay in every loop of a member it manages (`handle_parameter_change`, for PostgreSQL
   * 14's pause on a parameter change) unless the cluster is in its maintenance mode: a pause puts
   * the standby cluster in maintenance mode first (no automatic failover inside it while paused;
   * the pause is the pairing's, kept by dwsbox and applied again after a restart), a resume takes
   * it out after. Returns the members whose replay changed.
   */
  async setReplayPaused(standby: ClusterRef, paused: boolean): Promise<number> {
    const rec = this.readRecord(standby.id);
    if (!rec?.standby) return 0;
    const ha = await this.cluster(standby.id, rec);
    // The members whose replay is not as asked (a member that does not answer is left: it is paused again when it runs).
    const states = await Promise.all(
      rec.ordinals.map(async (i) => {
        const inst = this.instance(standby, this.memberRef(standby, rec, i));
        const rows = await inst.query<{ state: string }>(`select pg_get_wal_replay_pause_state() as state`).catch(() => null);
        return { inst, state: rows?.[0]?.state ?? null };
      }),
    );
    const off = states.filter((m) => m.state !== null && (m.state !== 'not paused') !== paused);
    if (paused && !off.length) return 0;
    if (paused) await this.maintenanceMode(ha);
    for (const m of off) await m.inst.query(paused ? 'select pg_wal_replay_pause()' : 'select pg_wal_replay_resume()');
    const changed = off.length;
    if (!paused) await ha.rest.patchConfig({ pause: false });
    return changed;
  }

  /**
   * The standby cluster promoted (D31): replay resumed, `standby_cluster` removed from Patroni's
   * dynamic configuration (its standby leader is promoted and its members follow it on the new
   * timeline), its stanza upgraded to the copied database (another system identifier; its earlier
   * backups stay in the stanza's history) and a switched WAL segment archived there, then its own
   * replication mode again. Idempotent.
   */
  async promoteStandbyCluster(standby: ClusterRecord, primary: NodeRecord, o: RunOptions = {}): Promise<void> {
    const rec = this.record(standby.id);
    // Not a standby cluster (never one, or promoted whole already): nothing to do.
    if (!rec.standby) return;
    const ha = await this.cluster(standby.id, rec);
    await this.setReplayPaused(standby, false);
    await ha.rest.patchConfig({ standby_cluster: null, pause: false }).catch((e: unknown) => {
      throw new AppError('ENGINE_NODE_FAILED', {
        args: ['the standby cluster', `Patroni refused its promotion: ${(e as Error).message}`],
      });
    });
    await waitFor(
      async () => {
        const leader = await this.leaderRef(standby, ha);
        const rows = leader && (await this.instance(standby, leader).query<{ r: boolean }>('select pg_is_in_recovery() as r'));
        return rows?.[0]?.r === false;
      },
      { timeoutMs: 120_000, what: 'the standby leader promoted', ...(o.signal ? { signal: o.signal } : {}) },
    );
    const leader = await this.leaderRef(standby, ha);
    if (!leader) throw new AppError('ENGINE_NODE_FAILED', { args: ['the promoted cluster', 'no member leads it any more'] });
    // The member that leads, whichever the store calls primary (`proveArchiving` asks it for a WAL switch).
    const lead: NodeRecord = { ...primary, ...leader };
    const run = { lockFile: this.lockFile(standby.id), ...(o.signal ? { signal: o.signal } : {}) };
    await this.backrest.stanzaUpgrade(this.writeStanzaConfig(standby, lead), run);
    await proveArchiving(this, standby, lead, o.signal);
    const { standby: _gone, ...rest } = rec;
    const promoted: HaRecord = { ...rest, syncMode: standby.spec.syncMode ?? this.settings.syncMode ?? 'sync' };
    await (await this.cluster(standby.id, promoted)).applySyncMode({ timeoutMs: 120_000, ...(o.signal ? { signal: o.signal } : {}) });
    // Recorded last: a promotion cut short is done again whole (each part above is idempotent).
    this.writeRecord(standby.id, promoted);
  }

  /** The source's permanent slot for a standby cluster removed from Patroni's dynamic configuration; Patroni drops it on its leader. */
  async dropFollowerSlot(source: ClusterRef, slot: string): Promise<void> {
    const rec = this.readRecord(source.id);
    if (!rec) return;
    const ha = await this.cluster(source.id, rec);
    await ha.rest.patchConfig({ slots: { [slot]: null } });
    await waitFor(
      async () => {
        const leader = await this.leaderRef(source, ha);
        return leader !== null && !(await this.hasSlot(source, leader, slot));
      },
      { timeoutMs: 60_000, what: `slot ${slot} dropped on the production cluster's leader` },
    );
  }

  // ------------------------------------------------------------------ parameters (issue 16, D23)
  /**
   * The cluster's own parameters through Patroni's dynamic configuration (`PATCH /config`,
   * `postgresql.parameters`; D23: never a member's files): every member reloads within a loop,
   * and one that takes a restart shows `pending_restart`. Then the cluster's record, so a member
   * Patroni writes later starts with them too (the DCS holds them for a new member anyway).
   * Run again, it patches the same values.
   */
  override async applyParameters(
    cluster: ClusterRecord,
    _primary: NodeRecord,
    _members: readonly NodeRecord[],
    params: Record<string, string>,
    o: { signal?: AbortSignal } = {},
  ): Promise<void> {
    o.signal?.throwIfAborted();
    const rec = this.record(cluster.id);
    const ha = await this.cluster(cluster.id, rec);
    await ha.rest.patchConfig({ postgresql: { parameters: params } }).catch((e: unknown) => {
      throw new AppError('ENGINE_NODE_FAILED', { args: ['the cluster', `Patroni refused the parameters: ${(e as Error).message}`] });
    });
    this.writeRecord(cluster.id, { ...rec, parameters: { ...rec.parameters, ...params } });
  }

  /**
   * Patroni's restart of one member (`POST /restart`: it keeps its role, a leader restarts in
   * place), once the member's Patroni has loaded the new dynamic configuration (it reports
   * `pending_restart`; it loads it within a loop), waited for as a start is.
   */
  override async restartMember(cluster: ClusterRef, member: NodeRecord, o: { signal?: AbortSignal } = {}): Promise<MemberProcess> {
    const ha = await this.cluster(cluster.id);
    const name = ha.name(member.ordinal);
    const deadline = Date.now() + 60_000;
    for (;;) {
      o.signal?.throwIfAborted();
      if ((await ha.rest.patroni(name).catch(() => null))?.pending_restart) break;
      if (Date.now() > deadline)
        throw new AppError('ENGINE_NODE_FAILED', {
          args: [member.host, 'its Patroni never reported the new parameters pending a restart'],
        });
      await new Promise((r) => setTimeout(r, 200));
    }
    await ha.rest.restart(name, { timeoutS: 120 }).catch((e: unknown) => {
      throw new AppError('ENGINE_NODE_FAILED', { args: [member.host, `Patroni did not restart it: ${(e as Error).message}`] });
    });
    return this.waitMemberRunning(cluster, member, ha, { ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 120_000 });
  }

  // ------------------------------------------------------------------ restores (D4, D23)
  /**
   * A member's directory before Patroni takes it over: root's (0711) as on the local engine, with
   * the cluster's log directory and the member's log. A restore's root steps (the restored
   * copy's settings written, its recovery settings cleared, Patroni's files renamed) then run
   * under directories no tenant can change (D32: the project's user could otherwise swap the
   * data directory for a link to a root directory). `HaCluster.ensure` hands the directory to
   * the project's user (0700: Patroni removes and makes the data directory inside it) just
   * before the member's Patroni starts.
   */
  override prepareNodeDir(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, ordinal: number): void {
    this.prepareClusterDir(cluster);
    mkdirSafe(join(this.clusterDir(cluster.id), 'log'), serviceOwner(), 0o711);
    super.prepareNodeDir(cluster, ordinal);
  }

  /**
   * The restored primary recovered as the local engine does it (a plain postmaster: replayed to
   * the consistent point, promoted, cleaned (D32: `ALTER SYSTEM RESET ALL` among it, so
   * nothing pgBackRest wrote into `postgresql.auto.conf` survives, D23), its administrator
   * made), then handed to Patroni: the Patroni superuser's and replication role's passwords
   * set, the postmaster stopped, and member 1's Patroni started on the data directory. With no
   * cluster in the DCS, Patroni initialises the scope from it and leads. Standbys are Patroni's
   * copies (`buildReplica`). Run again after a crash, a member that Patroni already runs is
   * left alone.
   */
  override async recoverPrimary(
    cluster: ClusterRecord,
    primary: NodeRecord,
    adminPassword: string,
    o: RunOptions & { replicas?: NodeRecord[] } = {},
  ): Promise<{ process: MemberProcess; timeline: number; lsn: string | null; cleaned: number }> {
    const rec = this.readRecord(cluster.id);
    const running = rec && (await (await this.agent()).unit(memberUnit(rec.scope, primary.ordinal)))?.status === 'running';
    let cleaned = 0;
    if (!running) {
      // Root's again (a run that crashed after handing it to Patroni), and its data directory the
      // project user's own directory, not a link the user planted while it could (D32).
      this.prepareNodeDir(cluster, primary.ordinal);
      expectOwnedDir(primary.dataDir, ownedBy(this.projectUser(cluster.projectId)));
      // A copy of a Patroni member carries its cluster's dynamic configuration, which Patroni
      // loads over its own bootstrap settings when it takes the data directory over: the
      // source's archive_command among it, which would archive into the SOURCE stanza (D4).
      rmSync(join(primary.dataDir, PATRONI_DYNAMIC_CACHE), { force: true });
      // Its postgresql.conf is the one Patroni wrote for the SOURCE member: it names that member's
      // pg_hba.conf and pg_ident.conf by absolute path (hba_file, ident_file: the recovery ran on
      // the source's files, and failed once the source was deleted), and its address, port,
      // sockets and archive_command. The recovery runs on the member's own settings instead,
      // initdb's, which Patroni keeps as postgresql.base.conf; Patroni writes its file again when
      // it takes the data directory over.
      const base = join(primary.dataDir, PATRONI_BASE_CONF);
      if (existsSync(base)) renameSync(base, join(primary.dataDir, 'postgresql.conf'));
      const r = await super.recoverPrimary(cluster, primary, adminPassword, { ...o, replicas: [] });
      cleaned = r.cleaned;
      await this.initPrimary(cluster, primary, { ...(o.signal ? { signal: o.signal } : {}), replicas: o.replicas ?? [] });
      const secrets = this.record(cluster.id).secrets;
      const inst = this.instance(cluster, primary);
      // Patroni's own sessions (as its superuser, over TCP) and its replicas' (as its replication role) need these.
      await inst.query(`alter role postgres with password ${literal(scramVerifier(secrets.superuser.password))}`);
      await inst.query(
        `do $$ begin if not exists (select 1 from pg_roles where rolname = ${literal(secrets.replication.username)}) then create role ${ident(secrets.replication.username)}; end if; end $$`,
      );
      await inst.query(
        `alter role ${ident(secrets.replication.username)} with nosuperuser replication login password ${literal(scramVerifier(secrets.replication.password))}`,
      );
      o.onProgress?.({ source: 'dwsbox', percent: 95, data: { phase: 'handing over to Patroni' } });
      await super.stopMember(cluster, primary, 'fast');
    }
    // Patroni starts the data directory it takes over as a replica and promotes it once it holds the leader key.
    const process = await this.startMember(cluster, primary, {
      ...(o.signal ? { signal: o.signal } : {}),
      timeoutMs: 10 * 60_000,
      leading: true,
    });
    const [row] = await this.instance(cluster, primary).query<{ tl: string; lsn: string; recovery: boolean }>(
      `select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) as tl, pg_current_wal_lsn()::text as lsn`,
    );
    return { process, timeline: parseInt(row?.tl ?? '0', 16), lsn: row?.lsn ?? null, cleaned };
  }

  /**
   * In place (issue 20), the members stopped: the scope's state in etcd forgotten first, so the
   * restored primary's Patroni takes the scope over from its data directory (`recoverPrimary`),
   * as a new restored cluster's does. Until then the members could start again as they were
   * (a rollback before any byte was restored starts them with their state intact).
   */
  override async restorePrimary(cluster: ClusterRef, primary: NodeRecord, set: BackupSetRef, o: RunOptions = {}): Promise<void> {
    const rec = set.inPlace ? this.readRecord(cluster.id) : null;
    if (rec) await (await this.cluster(cluster.id, rec)).forgetState(o.signal ? { signal: o.signal } : {});
    return super.restorePrimary(cluster, primary, set, o);
  }

  /** Patroni builds every standby of a restored cluster from its leader (`buildReplica`). */
  override finishRestoredReplica(): Promise<null> {
    return Promise.resolve(null);
  }

  /**
   * The new stanza receives the restored cluster's WAL (D3, D4): the member runs with Patroni's
   * parameters, whose archive_command names the new stanza, so no restart; the replication
   * role (the local engine's name, kept for the records) gets the cluster's password, and a
   * switched segment must reach the stanza.
   */
  override async enableRestoredArchiving(
    cluster: ClusterRecord,
    primary: NodeRecord,
    secrets: ClusterSecrets,
    o: RunOptions = {},
  ): Promise<MemberProcess | null> {
    await this.ensureReplicationRole(cluster, primary, secrets);
    // The step's figures as on the local engine (D14): the switched segment that reached the new stanza.
    o.onProgress?.({ source: 'dwsbox', percent: 60, data: { phase: 'wal-switch', stanza: cluster.stanza } });
    const segment = await proveArchiving(this, cluster, primary, o.signal);
    o.onProgress?.({ source: 'pg_stat_archiver', percent: 100, data: { phase: 'archived', stanza: cluster.stanza, segment } });
    return null;
  }
}

/** `pollUntil` for a task's step: past the deadline, an engine failure that says what was waited for. */
async function waitFor(check: () => Promise<boolean>, o: PollOptions): Promise<void> {
  await pollUntil(check, o).catch((e: unknown) => {
    throw e instanceof PollTimeout ? new AppError('ENGINE_NODE_FAILED', { args: ['the cluster', e.message] }) : e;
  });
}
