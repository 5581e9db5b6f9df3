/**
 * The data plane (D22): everything that touches a cluster's processes, files or SQL, behind
 * one interface of intentions. Tasks orchestrate these intentions and record checkpoints;
 * services validate and enqueue; neither runs SQL against a cluster nor starts a process
 * (test/fuzz/boundaries.test.ts checks it). Every intention is idempotent: run again after a
 * crash or a retry, it finds its finished work and redoes partial work. Long ones report
 * progress through `onProgress`, with figures measured from the running tools (D14).
 *
 * An engine implements it: `LocalEngine` (src/dataplane/local-engine.ts) runs every member
 * on this host; the Patroni engine of D23 and the multi-host one of D27 will be others. The
 * interface speaks of clusters, members (the store's node records), stanzas and backup sets,
 * never of an engine's local paths (a member's `dataDir` is the store's, opaque here).
 */
import type { SessionRow, TableStatRow } from '../domain/activity.js';
import type { ClusterRecord, ClusterSpec, FineGrainedDetail, NodeRecord, OutsideForeignKey, SchemaInfo } from '../domain/records.js';
import type { DbRoleChange, DbRoleCreate, DbRoleRow } from '../domain/db-users.js';
import type { OmRoleRow } from '../domain/om-user.js';
import type { MemberReading } from '../domain/metrics.js';
import type { EtcdMemberState, HostReport } from '../domain/hosts.js';
import type { AclRow, AuthorityPlan, ObjectScope, ResolvedObject, SchemaSpaceRow } from '../domain/db-authority.js';
import type { PgSettingRow } from '../domain/parameters.js';
import type { AppError } from '../errors/app-error.js';
import type { RepositoryRef } from './backup-repository.js';
import type { LogicalDataPlane } from './logical-plane.js';
import type { BackupSetInfo } from './pgbackrest.js';

/** One progress sample of a running intention, with its source (D14). */
export interface ProgressSampleIn {
  source: string;
  bytesDone?: number | null;
  bytesTotal?: number | null;
  percent?: number | null;
  data?: Record<string, unknown>;
}
export type OnProgress = (s: ProgressSampleIn) => void;

/** What every long intention takes: its cancellation and the lock its tools hold (D1). */
export interface RunOptions {
  signal?: AbortSignal | undefined;
  /** the step's lock (its tools inherit it, D1) */
  lockFile?: string | undefined;
  /** fail when no progress shows for this long */
  idleTimeoutMs?: number | undefined;
  onProgress?: OnProgress | undefined;
}

/** A running member's process identity, recorded in the store so a later start adopts it (D1). */
export interface MemberProcess {
  pid: number;
  startTime: number;
}

export type StopMode = 'smart' | 'fast' | 'immediate';

/** What this host can hold now: the operator's figures, never shown to a tenant. */
export interface HostCapacity {
  memAvailableBytes: number;
  dataDiskFreeBytes: number;
  repoDiskFreeBytes: number;
}

/**
 * The agents of the other hosts (issue 18, D27), as the control plane reaches them: a host's
 * agent bundle made from the dwsbox CA, and each agent asked over mutual TLS. Implemented by
 * `agent/host-agents.ts`.
 */
export interface HostAgents {
  /**
   * The agent's certificate for `address` (CN `host-<name>`) and its bundle written into `dir`, a
   * new or empty directory (ca.crt, agent.crt, agent.key 0600): the files and the certificate's
   * SHA-256 fingerprint. A `VALIDATION` error when `dir` is not empty.
   */
  writeBundle(
    name: string,
    address: string,
    dir: string,
  ): Promise<{ bundle: { ca: string; crt: string; key: string }; fingerprint: string }>;
  /** What the host's agent reports now, and how many units it runs; throws when it cannot be asked. */
  report(address: string, port: number, signal?: AbortSignal): Promise<HostReport & { units: number }>;
  /** The names of the units the host's agent runs; throws when it cannot be asked. */
  units(address: string, port: number): Promise<string[]>;
  /**
   * The fleet's etcd formed on these three hosts (issue 18): each agent runs a member, clients
   * and peers over TLS, authentication on; new clusters' Patroni scopes live there from then on.
   * Asked again with the same hosts it resumes; a `FLEET_ETCD_CONFLICT` for other hosts.
   */
  formEtcd(hosts: readonly { name: string; address: string; agentPort: number }[], signal?: AbortSignal): Promise<EtcdMemberState[]>;
  /** Each member of the fleet's etcd as its agent reports it now; empty when none was formed. */
  etcdMembers(): Promise<EtcdMemberState[]>;
}

/** Passwords the data plane needs, decrypted by the caller. */
export interface ClusterSecrets {
  replPassword: string;
}

/** A member of the cluster, as the cluster's `Pick`s need it. */
export type ClusterRef = Pick<ClusterRecord, 'id' | 'projectId'>;
export type StanzaCluster = Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>;
export type MemberRef = Pick<NodeRecord, 'ordinal' | 'host' | 'port' | 'dataDir'>;

/** A backup set of a stanza, to restore from. */
/** A snapshot copy's work (CopySnapshot): its task's temporary instance and the copy's own stanza. */
export interface SnapshotCopyWork {
  taskId: string;
  projectId: string;
  /** the copy's stanza (`copy-<copy snapshot id>`) */
  stanza: string;
}

export interface BackupSetRef {
  stanza: string;
  label: string;
  sourceBytes: number | null;
  /** restore to this point in time (epoch ms) after the set, replaying its archived WAL (issue 20); absent: to the set's consistent point */
  targetTime?: number | null;
  /** over the member's own data directory (an in-place restore, issue 20: `--delta`), not into an empty one */
  inPlace?: boolean;
}

/** The replication of one standby as its primary sees it. */
export interface ReplicationState {
  state: string | null;
  replayLsn: string | null;
  lagBytes: number | null;
}

export interface ArchiverState {
  failing: boolean;
  lastFailed: string | null;
  lastArchived: string | null;
}

/** A held lock: released when the work holding it ends (D1). */
export interface HeldLock {
  release(): Promise<void>;
}

export interface MemberRole {
  ordinal: number;
  role: 'primary' | 'standby';
  running: boolean;
  /** bytes behind the leader, as the failover manager reports it (null: unknown) */
  lagBytes: number | null;
  /** the member's timeline, as the failover manager reports it (null or absent: unknown); a new leader's names its promotion (events, D26) */
  timeline?: number | null;
  /** the leader only: whether it runs on failsafe mode, its DCS lost (issue 18), and when it last reached the DCS (epoch s) */
  failsafe?: boolean;
  dcsLastSeen?: number | null;
}

/** A standby cluster's replication as its standby leader reports it now (issue 19, D31). */
export interface StandbyState {
  /** the member that leads the standby cluster (its standby leader), by ordinal */
  leader: number;
  /** the WAL receiver's state (`streaming`, `catchup`, …), null when none runs (then WAL comes from the repository, if at all) */
  receiver: string | null;
  /** the last WAL position received and flushed, and the last replayed */
  receivedLsn: string | null;
  replayedLsn: string | null;
  /** when the last replayed transaction committed on the production cluster (epoch ms), null before any */
  replayedCommitAt: number | null;
  /** WAL replay paused on the standby leader (`pg_wal_replay_pause`) */
  paused: boolean;
}

export interface DataPlane extends LogicalDataPlane {
  /** The engine's name, as `--engine` takes it. */
  readonly engineName: 'local' | 'patroni';
  /**
   * A highly available engine's endpoints of a cluster with address block `subnetIndex`
   * (D24): its router's read-write and read-only hosts, on the cluster's port. An engine
   * without a router (the local one) has none: each member is an endpoint.
   */
  routerHosts?(subnetIndex: number): { readWrite: string; readOnly: string };
  /**
   * A highly available engine's members as its failover manager sees them now (D23): each
   * member's role and whether it runs; null when it cannot tell (no member answers). The
   * health monitor makes the store's roles follow it.
   */
  memberRoles?(cluster: ClusterRef): Promise<MemberRole[] | null>;
  /**
   * Whether a highly available cluster's failover manager runs without its DCS (D23, issue 18):
   * `active` when its leader keeps leading on failsafe mode, that leader's ordinal, and when it
   * last reached the DCS (epoch seconds, as the failover manager says); null when no member answers.
   * Asked of each member, for when `memberRoles` names no leader (its leader's role says it otherwise).
   */
  dcsFailsafe?(cluster: ClusterRef): Promise<{ active: boolean; leader: number | null; lastSeen: number | null } | null>;
  /** Wait until a highly available cluster is whole in its failover manager's eyes: a leader, every member streaming, the synchronous standby assigned (D25). */
  waitHealthy?(cluster: ClusterRef, o?: { signal?: AbortSignal; timeoutMs?: number }): Promise<void>;
  /**
   * What a highly available engine's failover manager leaves broken: `mended` what was mended at
   * once (D25's lost synchronous standby), `stuck` the replicas it left stopped (a broken data
   * directory), by ordinal, for a repair task.
   */
  mendCluster?(cluster: ClusterRef, signal?: AbortSignal): Promise<{ mended: string[]; stuck: number[] }>;
  /** Rebuild such a replica from the leader and wait until it runs (progress as `buildReplica`'s); the bytes of its data directory. */
  rebuildMember?(cluster: ClusterRecord, primary: NodeRecord, member: NodeRecord, o?: RunOptions): Promise<{ bytes: number }>;
  /** The members a planned switchover may go to now: the replicas streaming from the leader (a highly available engine). */
  switchoverCandidates?(cluster: ClusterRef): Promise<number[]>;
  /**
   * A planned switchover to member `candidate` (the failover manager's, D25: the candidate made
   * the synchronous standby first); returns the ordinals of the old and the new primary.
   */
  switchover?(cluster: ClusterRef, candidate: number, o?: RunOptions): Promise<{ from: number; to: number }>;
  /**
   * Disaster recovery (issue 19, D31), a highly available engine's: `standby` becomes a standby
   * cluster of `source`, its data replaced by a copy of the source's and then streamed from the
   * source's read-write endpoint through the permanent slot `slot` the source keeps (the
   * source's repository's WAL the fallback); its own members follow its standby leader. Waits
   * until the standby leader streams and every member follows it. Idempotent: a standby that
   * follows `source` already is left alone.
   */
  followCluster?(standby: ClusterRecord, source: ClusterRecord, sourcePrimary: NodeRecord, o: RunOptions & { slot: string }): Promise<void>;
  /** A standby cluster's replication now (null when the cluster is no standby cluster or no member leads it). */
  standbyState?(standby: ClusterRef): Promise<StandbyState | null>;
  /** WAL replay paused (or resumed) on every running member of a standby cluster; returns how many members changed. */
  setReplayPaused?(standby: ClusterRef, paused: boolean): Promise<number>;
  /**
   * A standby cluster promoted into an independent one: it stops following, its standby leader
   * is promoted, its own replication mode and archiving (its stanza takes the copied database)
   * come back. Idempotent.
   */
  promoteStandbyCluster?(standby: ClusterRecord, primary: NodeRecord, o?: RunOptions): Promise<void>;
  /**
   * A switchover's first half (D31): a running cluster becomes a standby cluster of `source`
   * with its data (its leader restarted as the standby leader, so it takes no writes from then
   * on; its followers receive all it wrote), its own permanent slot `slot` dropped. Idempotent.
   */
  demoteToStandby?(
    cluster: ClusterRecord,
    source: ClusterRecord,
    sourcePrimary: NodeRecord,
    o: { slot: string; signal?: AbortSignal },
  ): Promise<void>;
  /** The permanent slot `slot` a cluster keeps for the standby cluster that follows it, made on its leader. Idempotent. */
  keepFollowerSlot?(source: ClusterRef, sourcePrimary: NodeRecord, slot: string, signal?: AbortSignal): Promise<void>;
  /** The permanent slot a source kept for a standby cluster dropped (the pairing ended). Idempotent. */
  dropFollowerSlot?(source: ClusterRef, slot: string): Promise<void>;
  /** A highly available engine's change of a running cluster's replication (D25), done when the leader shows it. */
  setSyncMode?(cluster: ClusterRef, mode: NonNullable<ClusterSpec['syncMode']>, o?: RunOptions): Promise<void>;
  /**
   * An engine that allocates address blocks host-wide (across services and stores): take the
   * block for the cluster `owner`, or false when another one holds it. Released with the
   * cluster's files (or `releaseSubnet` when the cluster was never made).
   */
  claimSubnet?(subnetIndex: number, owner: string): Promise<boolean>;
  releaseSubnet?(subnetIndex: number, owner: string): Promise<void>;
  /** Release the blocks claimed for clusters the store never recorded (a service that died mid-create); returns them. */
  sweepSubnetClaims?(known: ReadonlySet<string>, graceMs?: number): Promise<number[]>;
  // ------------------------------------------------------------------ host
  /** Make the host ready (directories, modes); at start-up. */
  prepareHost(): void;
  /** Keep the host's shared services running (the S3 repositories' TLS servers; the Patroni engine's host agent); returns what it looked after. */
  superviseHost(): Promise<string[]>;
  /** Stop the host's shared services (clusters stop-all). */
  stopHostServices(): Promise<number>;
  /**
   * The TCP addresses and ports the host's shared services listen on outside the data plane's
   * address blocks (the S3 repositories' TLS servers on 127.0.0.1), with what each is: an event
   * subscription never sends there (issue 17).
   */
  hostEndpoints?(): { host: string; port: number; what: string }[];
  /** Stop the data plane's own background work (the local engine's initdb pool filler) and wait for its processes; at service stop. */
  stopBackgroundWork?(): Promise<void>;
  capacity(): HostCapacity;
  /** What a member costs in memory beyond its node type's budget (D18): its failover manager and a share of its router; 0 on the local engine. */
  readonly memberOverheadBytes: number;
  /** The address of member `ordinal` of the cluster with address block `subnetIndex` (D6). */
  memberHost(subnetIndex: number, ordinal: number): string;
  /** The replication slot a replica of this number streams through (recorded in its node record, D5). */
  replicaSlotName(ordinal: number): string;
  /** Where a new member's data will live (recorded in its node record before it is made, D1). */
  memberDataDir(clusterId: string, ordinal: number): string;
  /** Is something listening on every address on this port (it would block every member address)? */
  wildcardListener(port: number): boolean;
  isAddressFree(host: string, port: number): Promise<boolean>;
  /** The lock every step on this cluster (or other lock key) holds (D1). */
  lockFile(lockKey: string): string;
  lockForStep(lockFile: string, o: { signal?: AbortSignal; timeoutMs?: number; label: string }): Promise<HeldLock>;
  /**
   * Before the data plane starts any process for work under `signal`, it calls `check`, which
   * throws when the work may no longer run (its lease is gone, D1): a paused process that wakes
   * up never starts a tool for a task another process has taken over.
   */
  guardWork(signal: AbortSignal, check: () => void): void;
  /** End every tool still running for work (at shutdown; their steps are idempotent and run again). */
  stopAllWork(): void;

  // ------------------------------------------------------------------ tenants (D32)
  /** The project's OS user exists (made at its first cluster; idempotent). */
  ensureProject(projectId: string, o?: { signal?: AbortSignal }): Promise<void>;
  /** The cluster's own place on the host (its directory and lock). */
  prepareCluster(cluster: ClusterRef): void;
  /** Remove every file of a cluster (its members stopped). */
  removeClusterFiles(clusterId: string): Promise<void>;
  /** Remove one member's files (it is stopped). */
  removeMemberFiles(cluster: ClusterRef, ordinal: number): Promise<void>;

  // ------------------------------------------------------------------ members
  /**
   * Create the first member (the primary), configured for the cluster (idempotent). An engine
   * may also prepare `replicas`' data from it before its first start; `buildReplica` then
   * finishes them.
   */
  initPrimary(cluster: ClusterRecord, primary: NodeRecord, o?: RunOptions & { replicas?: NodeRecord[] }): Promise<void>;
  startMember(cluster: ClusterRef, member: NodeRecord, o?: { signal?: AbortSignal; timeoutMs?: number }): Promise<MemberProcess>;
  stopMember(cluster: ClusterRef, member: NodeRecord, mode?: StopMode): Promise<void>;
  /** The member's running process, or null. */
  memberStatus(cluster: ClusterRef, member: NodeRecord): MemberProcess | null;
  /** Throws ENGINE_NODE_FAILED, with the end of the member's log, when it is not running (`when` says during what). */
  assertRunning(cluster: ClusterRef, member: NodeRecord, when: string): void;
  /** Build a replica from the primary (D5), reporting the bytes copied. */
  buildReplica(
    cluster: ClusterRecord,
    primary: NodeRecord,
    member: NodeRecord,
    secrets: ClusterSecrets,
    o?: RunOptions,
  ): Promise<{ bytes: number }>;
  /**
   * Start making a replica that the engine's failover manager copies by itself (Patroni: the
   * member's Patroni starts and copies the leader), without waiting; `buildReplica` then waits
   * for it. Lets a create build its standbys at once.
   */
  beginReplica?(cluster: ClusterRecord, primary: NodeRecord, member: NodeRecord, o?: { signal?: AbortSignal }): Promise<void>;
  /** Stop a replica, drop its slot, remove its files; throws naming what is left. */
  removeReplica(cluster: ClusterRef, primary: NodeRecord | null, member: NodeRecord, mode: StopMode): Promise<void>;
  /** Drop a replica's slot on the primary when no one streams from it. */
  dropReplicaSlot(cluster: ClusterRef, primary: NodeRecord, ordinal: number): Promise<void>;
  /** The replication slots on the primary (D5), each with the replica it belongs to (null: none). */
  replicationSlots(cluster: ClusterRef, primary: NodeRecord): Promise<{ name: string; active: boolean; ordinal: number | null }[]>;
  /** Does the member hold a copy of the cluster's data (a finished replica copy)? */
  memberHasData(cluster: ClusterRef, member: NodeRecord): boolean;

  // ------------------------------------------------------------------ roles
  ensureReplicationRole(cluster: ClusterRecord, primary: NodeRecord, secrets: ClusterSecrets): Promise<void>;
  /** The administrator of D32, with this password (idempotent; a superuser admin is demoted). */
  ensureAdmin(cluster: ClusterRecord, primary: NodeRecord, user: string, password: string): Promise<void>;
  setAdminPassword(cluster: ClusterRecord, primary: NodeRecord, user: string, password: string): Promise<void>;
  /** The administrator can log in over TCP with this password (VERIFY_FAILED otherwise). */
  checkAdminLogin(primary: NodeRecord, user: string, password: string): Promise<void>;

  // ------------------------------------------------------------------ database users (issue 16, D32; local/db-users.ts)
  /** The roles named (every role when `names` is undefined) as the primary's pg_roles says, with what D32's checks need about `admin`. */
  dbRoles(cluster: ClusterRef, primary: NodeRecord, admin: string, names?: readonly string[]): Promise<DbRoleRow[]>;
  /** CREATE ROLE (NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS), its comment and memberships, in one transaction (DB_USER_EXISTS). */
  createDbRole(cluster: ClusterRef, primary: NodeRecord, role: DbRoleCreate): Promise<void>;
  /** ALTER ROLE with what changes (DB_USER_NOT_FOUND). */
  alterDbRole(cluster: ClusterRef, primary: NodeRecord, name: string, change: DbRoleChange): Promise<void>;
  /** DROP ROLE; `cascade`: DROP OWNED BY in every database first (DB_USER_NOT_FOUND, DB_USER_IN_USE). */
  dropDbRole(cluster: ClusterRef, primary: NodeRecord, name: string, cascade: boolean): Promise<void>;

  // ------------------------------------------------------------------ IAM user sync (issue 16; local/db-sync.ts, domain/db-sync.ts)
  /** Every role of the primary by name with its OID. */
  roleOids(cluster: ClusterRef, primary: NodeRecord): Promise<{ name: string; oid: number }[]>;
  /** A synced role made: LOGIN, no password, nothing above a database user, its comment; its OID. */
  createSyncedRole(cluster: ClusterRef, primary: NodeRecord, name: string, comment: string): Promise<number>;
  /** The synced role's comment rewritten while `name` is the role of `oid`; false (nothing done) otherwise. */
  commentSyncedRole(cluster: ClusterRef, primary: NodeRecord, name: string, oid: number, comment: string): Promise<boolean>;
  /** The synced role dropped while `name` is the role of `oid` (sessions ended, what it owns handed to `admin`); false otherwise. */
  dropSyncedRole(cluster: ClusterRef, primary: NodeRecord, name: string, oid: number, admin: string): Promise<boolean>;
  /** Every session of the role of `oid` on a running member ended (a standby's, after the drop); how many. */
  endRoleSessions(cluster: ClusterRef, member: NodeRecord, oid: number): Promise<number>;

  // ------------------------------------------------------------------ the O&M account (issue 16; local/om-user.ts)
  /** `dwsbox_om` as pg_roles says, or null. */
  omRole(cluster: ClusterRef, primary: NodeRecord): Promise<OmRoleRow | null>;
  /** `dwsbox_om` made or kept: LOGIN, VALID UNTIL `validUntil` (ISO), a member of `admin` only. */
  enableOmRole(cluster: ClusterRef, primary: NodeRecord, admin: string, validUntil: string): Promise<void>;
  /** Every session of `dwsbox_om` on a running member ended. */
  endOmSessions(cluster: ClusterRef, member: NodeRecord): Promise<void>;
  // ------------------------------------------------------------------ activity (issue 17; local/activity.ts)
  /** The tenant's client sessions on a running member, from pg_stat_activity (never dwsbox's own). */
  memberSessions(cluster: ClusterRef, member: NodeRecord): Promise<SessionRow[]>;
  /** Every user table of the primary with its owner, size and live and dead tuples. */
  tableStatistics(cluster: ClusterRef, primary: NodeRecord): Promise<TableStatRow[]>;
  /** The sessions of `dwsbox_om` on a running member ended once its VALID UNTIL passed; how many. */
  endExpiredOmSessions(cluster: ClusterRef, member: NodeRecord): Promise<number>;
  /** `dwsbox_om` gone: its sessions on the primary ended, what it owns handed to `admin`. */
  dropOmRole(cluster: ClusterRef, primary: NodeRecord, admin: string): Promise<void>;
  /** The operator's password for `dwsbox_om` while it is on (CLUSTER_STATE_CONFLICT otherwise). */
  setOmPassword(cluster: ClusterRef, primary: NodeRecord, password: string): Promise<OmRoleRow>;

  // ------------------------------------------------------------------ read-only protection (issue 16; local/read-only.ts)
  /** Bytes a running member's data takes (its databases and its WAL, as PostgreSQL measures them): the protection's measure. */
  memberDiskBytes(cluster: ClusterRef, member: NodeRecord): Promise<number>;
  /** default_transaction_read_only on or reset on a running member (ALTER SYSTEM, reload); true when it changed. */
  setReadOnly(cluster: ClusterRef, member: NodeRecord, on: boolean): Promise<boolean>;

  // ------------------------------------------------------------------ metrics history (issue 17, D29; local/member-reading.ts)
  /**
   * One reading of a running member for the metrics history: its PostgreSQL processes' CPU
   * ticks, memory and I/O from /proc, its filesystem's free space, its server's counters and
   * gauges; null when it does not run. `atMs` is the reading's monotonic time.
   */
  memberReading(cluster: ClusterRef, member: NodeRecord, atMs: number): Promise<MemberReading | null>;

  // ------------------------------------------------------------------ database privileges (issue 16, D32; local/db-authority.ts)
  /** The objects of a scope on the primary: those named, in order (DB_OBJECT_NOT_FOUND), or every one (`names` undefined). */
  resolveDbObjects(cluster: ClusterRef, primary: NodeRecord, scope: ObjectScope, names?: readonly string[]): Promise<ResolvedObject[]>;
  /** A plan's GRANT or REVOKE statements, in one transaction, if its objects are still `expected`; returns the statements run. */
  applyAuthority(cluster: ClusterRef, primary: NodeRecord, plan: AuthorityPlan, expected: readonly ResolvedObject[]): Promise<string[]>;
  /** Who holds what on the objects named in a scope, as aclexplode says. */
  objectAcls(cluster: ClusterRef, primary: NodeRecord, scope: ObjectScope, names: readonly string[]): Promise<AclRow[]>;
  /** Every privilege a role holds directly, in every database that takes connections. */
  roleAcls(cluster: ClusterRef, primary: NodeRecord, role: string): Promise<AclRow[]>;
  /** Every schema of a database with the bytes its relations take on the primary (DB_OBJECT_NOT_FOUND: no such database). */
  schemaSpaces(cluster: ClusterRef, primary: NodeRecord, database: string): Promise<SchemaSpaceRow[]>;

  // ------------------------------------------------------------------ parameters (issue 16; local/parameters.ts)
  /** The named settings of a running member, as its pg_settings says (a name PostgreSQL lacks is absent). */
  pgSettings(cluster: ClusterRef, member: NodeRecord, names: readonly string[]): Promise<PgSettingRow[]>;
  /**
   * The cluster's own parameters (`params`: every one set through UpdateConfiguration, as its
   * spec is to hold them) put where the engine keeps configuration, so every member and every
   * member made later has them, and the running members reloaded; one that takes a restart
   * then shows `pending_restart` (Patroni: its dynamic configuration, which Patroni applies on
   * every member within a loop). Idempotent.
   */
  applyParameters(
    cluster: ClusterRecord,
    primary: NodeRecord,
    members: readonly NodeRecord[],
    params: Record<string, string>,
    o?: { signal?: AbortSignal },
  ): Promise<void>;
  /**
   * Restart one running member's PostgreSQL once it holds the configuration `applyParameters`
   * wrote (Patroni: once the member reports `pending_restart`, then its REST restart; the member
   * keeps its role); its new process.
   */
  restartMember(cluster: ClusterRef, member: NodeRecord, o?: { signal?: AbortSignal }): Promise<MemberProcess>;

  // ------------------------------------------------------------------ replication and health
  currentLsn(cluster: ClusterRef, primary: NodeRecord): Promise<string>;
  /**
   * Whether a running member's PostgreSQL is in recovery (`pg_is_in_recovery()`): a leader the
   * failover manager names may still be finishing its promotion (D23).
   */
  inRecovery?(cluster: ClusterRef, member: NodeRecord): Promise<boolean>;
  replicationState(cluster: ClusterRef, primary: NodeRecord, ordinal: number, targetLsn: string): Promise<ReplicationState>;
  /** Wait until a replica has caught up to `targetLsn` (D5), reporting the falling lag. */
  waitCaughtUp(
    cluster: ClusterRef,
    primary: NodeRecord,
    ordinal: number,
    o: RunOptions & { timeoutMs?: number; targetLsn?: string; standby?: NodeRecord },
  ): Promise<void>;
  /** Bytes each streaming replica is behind its primary. */
  replicationLag(cluster: ClusterRef, primary: NodeRecord): Promise<{ node: number; bytes: number }[]>;
  archiverState(cluster: ClusterRef, primary: NodeRecord): Promise<ArchiverState>;
  databaseBytes(cluster: ClusterRef, primary: NodeRecord): Promise<number>;
  /** Databases, schemas and tables with row estimates and sizes (D16). */
  schemaInfo(cluster: ClusterRef, primary: NodeRecord): Promise<SchemaInfo>;

  // ------------------------------------------------------------------ archiving and backups (D2, D3)
  /** The repository new stanzas go to. */
  repositoryRef(): RepositoryRef;
  /** The error a snapshot meets when the stanza's backup sets sit in another repository than the configured one, else null. */
  repositoryMoveRefusal(cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza'>, signal?: AbortSignal): Promise<AppError | null>;
  /** Keep the stanza in the configured repository (a stanza with no backup sets moves; with sets, refused). */
  ensureStanzaRepository(cluster: StanzaCluster, primary: NodeRecord, o?: RunOptions): Promise<RepositoryRef>;
  /** The cluster's stanza exists and archiving works (`pgbackrest check`). */
  enableArchiving(cluster: ClusterRecord, primary: NodeRecord, o?: RunOptions): Promise<void>;
  /**
   * Have the running primary archive every commit made so far (issue 20): a commit, a WAL
   * switch, and a wait until the switched segment is in the stanza. Returns that segment.
   */
  archiveNow(cluster: ClusterRecord, primary: NodeRecord, o?: RunOptions): Promise<string>;
  /** Archiving works now (`pgbackrest check`: a WAL switch reaches the repository). */
  checkArchiving(cluster: StanzaCluster, primary: NodeRecord, o?: RunOptions): Promise<void>;
  stanzaExists(stanza: string): Promise<boolean>;
  /** The stanza's backup sets, oldest first. */
  backupSets(stanza: string, o?: { signal?: AbortSignal }): Promise<BackupSetInfo[]>;
  /** Remove the files of backups of this stanza that its catalog does not list (a failed backup's). */
  removePartialBackups(cluster: StanzaCluster, primary: NodeRecord, signal?: AbortSignal): Promise<string[]>;
  /** Take a backup of this type, annotated, reporting measured progress; returns the new set. */
  backup(
    cluster: StanzaCluster,
    primary: NodeRecord,
    o: RunOptions & {
      type: 'full' | 'diff';
      annotation: Record<string, string>;
      /** of the stopped primary's data directory (`--no-online`: consistent as it is, its WAL in the set) */
      offline?: boolean;
    },
  ): Promise<BackupSetInfo>;
  /** The WAL segments from `from` to `to` (of one timeline, both included) that the stanza's archive lacks. */
  missingWal(stanza: string, from: string, to: string, o?: { signal?: AbortSignal }): Promise<string[]>;
  /** A set is complete: listed in the catalog without error, and every WAL segment from its start to its stop archived. */
  verifyBackup(stanza: string, label: string, o?: RunOptions): Promise<BackupSetInfo>;
  /** Expire one backup set (and the WAL only it needed); a set pgBackRest must keep (a stanza's only full) is kept, with its reason. */
  expireBackup(stanza: string, label: string, o?: RunOptions): Promise<{ expired: boolean; reason: string | null }>;
  /** Remove a schema- or table-level snapshot's dump (complete or partial; idempotent). */
  removeDump(stanza: string, snapshotId: string): Promise<void>;
  /** Remove the stanza and everything in its repository (D16). */
  removeStanza(cluster: StanzaCluster, primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>, o?: RunOptions): Promise<void>;

  // ------------------------------------------------------------------ snapshot copies (CopySnapshot, issue 16)
  /**
   * Restore the source set (whole, from its stanza, read-only) into the copy's temporary
   * instance (`tmp/<task id>`, the project's user, a unix socket only). A finished restore is kept.
   */
  restoreCopySource(work: SnapshotCopyWork, set: BackupSetRef, o?: RunOptions): Promise<void>;
  /**
   * The copy's own stanza (in the configured repository) made from the restored instance, which
   * is then started archiving into it (never into the source's), replays to its consistent
   * point and is promoted. A running instance is kept (a resumed task).
   */
  startCopySource(work: SnapshotCopyWork, o?: RunOptions): Promise<void>;
  /** A full backup of the promoted instance into the copy's stanza, its WAL in the set (`--archive-copy`), annotated; returns the set. */
  backupCopy(work: SnapshotCopyWork, o: RunOptions & { annotation: Record<string, string> }): Promise<BackupSetInfo>;
  /** Stop and remove the copy's temporary instance (idempotent). */
  removeCopySource(work: SnapshotCopyWork): Promise<void>;
  /** Remove a stanza no cluster archives into (a copy's) and everything of it in its repository (idempotent). */
  removeLoneStanza(stanza: string, o?: RunOptions): Promise<void>;

  // ------------------------------------------------------------------ restores (D4)
  /**
   * Before an in-place restore (issue 20): every member stopped cleanly, its standbys first (a
   * clean stop archives the primary's last segment), and the marks of an earlier restore of
   * these members removed. (`restorePrimary` of an in-place set then has the failover manager
   * forget the cluster: its leader's WAL position among it, which the restored primary's is
   * older than, and must lead again.)
   */
  stopForRestoreInPlace(cluster: ClusterRecord, primary: NodeRecord, nodes: readonly NodeRecord[]): Promise<void>;
  /** Restore a backup set into the new cluster's primary (from the SOURCE stanza, read-only). */
  restorePrimary(cluster: ClusterRef, primary: NodeRecord, set: BackupSetRef, o?: RunOptions): Promise<void>;
  /** Is the restored primary running already (a resumed task)? */
  restoredPrimaryRunning(cluster: ClusterRef, primary: NodeRecord): boolean;
  /**
   * Make the new cluster's own stanza, start the restored primary with the new cluster's
   * settings archiving into it (never into the source's), replay to the consistent point,
   * promote; then clean it (D32) and make its administrator. An engine may also prepare
   * `replicas`' data from the restored copy before its first start (`finishRestoredReplica`
   * then finishes them). Returns its process and where it was promoted.
   */
  recoverPrimary(
    cluster: ClusterRecord,
    primary: NodeRecord,
    adminPassword: string,
    o?: RunOptions & { replicas?: NodeRecord[] },
  ): Promise<{ process: MemberProcess; timeline: number; lsn: string | null; cleaned: number }>;
  /**
   * Make a replica prepared by `recoverPrimary` a standby of the promoted primary, ready to
   * start (idempotent); null when it has no such data (then `buildReplica` builds it). An
   * engine without this builds every standby with `buildReplica`.
   */
  finishRestoredReplica?(
    cluster: ClusterRecord,
    primary: NodeRecord,
    member: NodeRecord,
    secrets: ClusterSecrets,
    o: RunOptions & { sourceStanza: string },
  ): Promise<{ bytes: number } | null>;
  /**
   * Archiving into the new cluster's own stanza proven (a switched segment reaches it; a
   * restart only when the running settings differ), the replication role's password (D4).
   * Returns the primary's new process when it restarted.
   */
  enableRestoredArchiving(
    cluster: ClusterRecord,
    primary: NodeRecord,
    secrets: ClusterSecrets,
    o?: RunOptions,
  ): Promise<MemberProcess | null>;
  /** D32's clean-up of a restored copy; returns what it changed. */
  cleanRestoredCluster(cluster: ClusterRef, primary: NodeRecord): Promise<string[]>;
}

export type { BackupSetInfo, FineGrainedDetail, OutsideForeignKey };

/** The cluster's recorded primary among its active `nodes` while its PostgreSQL runs; undefined for a stopped cluster or a primary down. */
export function runningPrimary(
  dp: Pick<DataPlane, 'memberStatus'>,
  c: ClusterRecord,
  nodes: readonly NodeRecord[],
): NodeRecord | undefined {
  if (c.stopped) return undefined;
  return nodes.find((n) => n.membership === 'active' && n.role === 'primary' && dp.memberStatus(c, n));
}

/** The member the failover manager says leads and runs, when it is one of `nodes` (else null): whose role the store's records follow. */
export function runningLeader(roles: readonly MemberRole[] | null, nodes: readonly Pick<NodeRecord, 'ordinal'>[]): MemberRole | null {
  const leader = roles?.find((r) => r.role === 'primary' && r.running);
  return leader && nodes.some((n) => n.ordinal === leader.ordinal) ? leader : null;
}

/** The backup set a snapshot's backup made, found by its annotations (D2: `--annotation snapshot_id=…`). */
export function findAnnotated(sets: BackupSetInfo[], annotation: Record<string, string>): BackupSetInfo | undefined {
  return sets.find((s) => Object.entries(annotation).every(([k, v]) => s.annotation[k] === v));
}
