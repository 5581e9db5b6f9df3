/* Long by design (~600 lines): the local engine's façade, one short method per intention of DataPlane, each delegating to a module of local/, where the work is. */
/**
 * The local engine: a cluster's nodes are PostgreSQL 15 servers on this host, on the
 * cluster's own loopback addresses (D6), node 1 the primary and the rest hot standbys fed by
 * streaming replication through a slot each (D5), archiving into the cluster's own
 * pgBackRest stanza from birth (D3). Its methods are intentions (init the primary, build a
 * standby, …) and each is idempotent: run again after a crash, it finishes or finds the work
 * done.
 */
import type { SessionRow, TableStatRow } from '../domain/activity.js';
import * as activity from './local/activity.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterRecord, NodeRecord, SchemaInfo } from '../domain/records.js';
import type { MemberReading } from '../domain/metrics.js';
import { findNodeType } from '../domain/node-types.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Binaries } from './binaries.js';
import type { OsUser, UidRange } from './os-user.js';
import { ProjectUsers, type UidRecord } from './project-users.js';
import { guardProcessStarts, killAllTools, type HeldLock } from './pg-exec.js';
import { PgInstance, type RunningInfo, type ShutdownMode } from './pg-instance.js';
import { PgBackRest, type BackupSetInfo, type StanzaTarget } from './pgbackrest.js';
import type {
  BackupSetRef,
  ClusterRef,
  ClusterSecrets,
  DataPlane,
  HostCapacity,
  MemberProcess,
  OnProgress,
  RunOptions,
  SnapshotCopyWork,
  StanzaCluster,
  StopMode,
} from './data-plane.js';
import * as backups from './local/backups.js';
import * as catalog from './local/catalog.js';
import * as probe from './local/probe.js';
import { removeDump } from './logical-dump.js';
import * as restore from './local/restore.js';
import * as layout from './local/layout.js';
import * as roles from './local/roles.js';
import * as dbUsers from './local/db-users.js';
import * as dbAuthority from './local/db-authority.js';
import * as omUser from './local/om-user.js';
import * as dbSync from './local/db-sync.js';
import type { OmRoleRow } from '../domain/om-user.js';
import { memberDataBytes, setReadOnly as setMemberReadOnly } from './local/read-only.js';
import { endReadingSessions, memberReading as readMember } from './local/member-reading.js';
import * as parameters from './local/parameters.js';
import type { PgSettingRow } from '../domain/parameters.js';
import type { DbRoleChange, DbRoleCreate, DbRoleRow } from '../domain/db-users.js';
import type { AclRow, AuthorityPlan, ObjectScope, ResolvedObject, SchemaSpaceRow } from '../domain/db-authority.js';
import { ADMIN_EXTENSIONS } from './local/roles.js';
export { ADMIN_ATTRIBUTES, ADMIN_EXTENSIONS, ADMIN_ROLES, FORBIDDEN_ROLES } from './local/roles.js';
import * as replication from './local/replication.js';
import * as stanza from './local/stanza.js';
import * as temp_instances from './local/temp-instances.js';
import { InitdbPool } from './local/initdb-pool.js';
import * as memberCopies from './local/member-copies.js';
import { archiveEveryCommit, enableNewArchiving } from './local/first-archive.js';
import type { RepositoryCredentials, RepositoryRef, RepositoryRegistry, RepositorySpec } from './backup-repository.js';
import type { FineGrainedDetail, OutsideForeignKey } from '../domain/records.js';
import type { TableRef } from '../domain/table-names.js';
import type {
  DatabaseInfo,
  DumpedTable,
  ExportSource,
  Exported,
  ExportedFk,
  ExportedTable,
  ForeignKeyToAdd,
  Imported,
  LogicalDumpRef,
  LogicalDumpState,
  RelationFacts,
  RelationInfo,
  TableCount,
  TablePair,
  TableRestoreWork,
  TenantCluster,
} from './logical-plane.js';
import * as logicalCatalog from './local/logical-catalog.js';
import * as logicalDumps from './local/logical-dumps.js';
import * as scratch from './local/scratch-database.js';
import * as tableExport from './local/table-export.js';
import * as tableImport from './local/table-import.js';
import * as tempCopy from './local/temp-copy.js';
import * as snapshotCopy from './local/snapshot-copy.js';
import { removeTableRestoreWork } from './local/restore-work.js';
import { TLS_ADDRESS } from './repo-server.js';

export type { ClusterSecrets, HostCapacity, OnProgress, ProgressSampleIn } from './data-plane.js';

export interface EngineSettings {
  dataDir: string;
  repoPath: string;
  unsafeNoFsync: boolean;
  /** where project users' uids come from (D32); DEFAULT_UID_RANGE when absent */
  uidRange?: UidRange;
  /** stopped, initialised data directories kept ready per node type (local/initdb-pool.ts); 0 or absent: none */
  initdbPool?: number;
  /** the pool's directory; `<dataDir>/pool` when absent (several services of one host may share one) */
  initdbPoolDir?: string;
}

export const REPLICATION_ROLE = 'dwsbox_repl';
/** What a replication slot may hold back (D32); a standby further behind is rebuilt. */
export const MAX_SLOT_WAL_KEEP = '4GB';

export const slotNameFor = (ordinal: number): string => `dwsbox_node${ordinal}`;
export const appNameFor = (ordinal: number): string => `node${ordinal}`;

export class LocalEngine implements DataPlane {
  readonly engineName: 'local' | 'patroni' = 'local';
  readonly memberOverheadBytes: number = 0;
  readonly backrest: PgBackRest;
  /** the project users of this data directory (D32) */
  readonly users: ProjectUsers;
  /** new primaries' data directories, made ahead of time (issue 14) */
  readonly pool: InitdbPool;

  constructor(
    readonly settings: EngineSettings,
    readonly bins: Binaries,
    readonly log: Logger,
    /** the store's record of project users' uids (D32); `ensureProject` needs it */
    private readonly uids: UidRecord | null = null,
  ) {
    this.backrest = new PgBackRest(
      bins,
      {
        repoPath: settings.repoPath,
        logPath: join(settings.dataDir, 'log', 'pgbackrest'),
        lockPath: join(settings.dataDir, 'run', 'pgbackrest-lock'),
        spoolPath: join(settings.dataDir, 'run', 'pgbackrest-spool'),
        configDir: join(settings.dataDir, 'stanzas'),
      },
      log,
    );
    this.users = new ProjectUsers(settings.dataDir, log, settings.uidRange);
    this.pool = new InitdbPool(
      {
        dataDir: settings.dataDir,
        size: settings.initdbPool ?? 0,
        ...(settings.initdbPoolDir ? { dir: settings.initdbPoolDir } : {}),
        copies: 2,
        noSync: settings.unsafeNoFsync,
        controlSettings: (nodeType) =>
          memberCopies.pick(
            this.clusterSettings({ id: '', projectId: '', stanza: '', port: 0, nodeType }, { ordinal: 1, dataDir: '' }, false),
          ),
      },
      bins,
      log.scope({ component: 'initdb-pool' }),
    );
  }

  /** The repository new clusters' stanzas go to (the service's settings; local until called). */
  configureRepository(registry: RepositoryRegistry | null, spec: RepositorySpec, creds: RepositoryCredentials | null): void {
    this.backrest.configure(registry, spec, creds);
  }

  /** The repository new stanzas go to, as clusters and snapshots record it. */
  repositoryRef(): RepositoryRef {
    return this.backrest.configuredRepository();
  }

  /**
   * The error a snapshot of this cluster meets when its stanza sits in another repository than
   * the configured one and holds backup sets there (REPOSITORY_MOVE_REFUSED), else null. Reads
   * only the stanza's config file unless the repositories differ.
   */
  repositoryMoveRefusal(cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza'>, signal?: AbortSignal): Promise<AppError | null> {
    return stanza.repositoryMoveRefusal(this, cluster, signal);
  }

  /**
   * Keep a cluster's stanza in the configured repository. A stanza recorded in another one
   * (the setting changed since the cluster was made) moves there only when it holds no
   * backup set: then its old stanza is deleted and a new one created in the configured
   * repository (archive_command reads the stanza's config file, so archiving follows). With
   * backup sets it is refused (REPOSITORY_MOVE_REFUSED): moving snapshots between
   * repositories is not something dwsbox does. Returns the repository the stanza is in.
   */
  ensureStanzaRepository(
    cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>,
    primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>,
    o: { signal?: AbortSignal; lockFile?: string } = {},
  ): Promise<RepositoryRef> {
    return stanza.ensureStanzaRepository(this, cluster, primary, o);
  }

  // ------------------------------------------------------------------ layout
  clusterDir(clusterId: string): string {
    return layout.clusterDir(this, clusterId);
  }

  nodeDir(clusterId: string, ordinal: number): string {
    return layout.nodeDir(this, clusterId, ordinal);
  }

  /** The lock file every step on this cluster holds (D1). */
  lockFile(clusterId: string): string {
    return layout.lockFile(this, clusterId);
  }

  nodePaths(clusterId: string, ordinal: number): { dataDir: string; sockDir: string; logFile: string } {
    return layout.nodePaths(this, clusterId, ordinal);
  }

  /**
   * Unix socket paths are limited to 107 bytes (`<dir>/.s.PGSQL.<port>`), so sockets live in
   * a short directory: `<dataDir>/s`, or, when the data directory's path is long, under
   * /run/dwsbox as root (D32: never in /tmp, where anyone can plant a name first), under /tmp
   * only for a service that is not root.
   */
  socketRoot(): string {
    return layout.socketRoot(this);
  }

  static hostFor(subnetIndex: number, ordinal: number): string {
    return `127.0.${subnetIndex}.${ordinal}`;
  }
  stanzaTarget(
    cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>,
    primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>,
  ): StanzaTarget {
    return stanza.stanzaTarget(this, cluster, primary);
  }

  /**
   * A stanza's pgBackRest config lives outside its cluster's directory: snapshots (and the
   * restores and expiries that read them) outlive the cluster (D16).
   */
  stanzaConfigFile(stanza: string): string {
    return layout.stanzaConfigFile(this, stanza);
  }

  instance(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, node: Pick<NodeRecord, 'ordinal' | 'host' | 'port' | 'dataDir'>): PgInstance {
    const p = this.nodePaths(cluster.id, node.ordinal);
    const users = this.users;
    // The project's user is looked up when the instance needs it (a status check of a node that never ran does not).
    return new PgInstance(
      {
        get os() {
          return users.userOf(cluster.projectId);
        },
        dataDir: node.dataDir,
        sockDir: p.sockDir,
        host: node.host,
        port: node.port,
        logFile: p.logFile,
      },
      this.bins,
      this.log,
    );
  }

  // ------------------------------------------------------------------ project users (D32)
  /** The OS user every process and file of a project's clusters belongs to (project-users.ts). */
  projectUser(projectId: string): OsUser {
    return this.users.userOf(projectId);
  }

  /** Make the project's OS user when it is missing (idempotent; project-users.ts). */
  ensureProjectUser(projectId: string, uids: UidRecord, o: { signal?: AbortSignal } = {}): Promise<OsUser> {
    return this.users.ensure(projectId, uids, o);
  }

  /**
   * Data directory, lock and log directories exist and `postgres` can reach them (D20). D32:
   * every directory on the way to one the PostgreSQL user writes is root's (0711: traversable,
   * not listable); the locks are root's alone (tools get them as descriptors); the stanza
   * configs are root's, readable by the PostgreSQL user's group. Directories an older version
   * made as postgres are taken back through descriptors (a planted link is refused).
   */
  prepareHost(): void {
    return layout.prepareHost(this);
  }

  /** The cluster's directory (root's, D32) and its lock file. */
  prepareClusterDir(cluster: Pick<ClusterRecord, 'id' | 'projectId'>): void {
    return layout.prepareClusterDir(this, cluster);
  }

  /**
   * A node's directory: root's (D32), holding the node's log (root's; the postmaster writes
   * it through an inherited descriptor), its markers and its replication passfile; the data
   * directory inside is the PostgreSQL user's.
   */
  prepareNodeDir(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, ordinal: number): void {
    return layout.prepareNodeDir(this, cluster, ordinal);
  }

  /** Take a lock file (a cluster's, or a stanza's) for the length of a step (D1, acquireLock). */
  lockForStep(lockFile: string, o: { signal?: AbortSignal; timeoutMs?: number; label: string }): Promise<HeldLock> {
    return layout.lockForStep(this, lockFile, o);
  }

  // ------------------------------------------------------------------ capacity and addresses
  hostCapacity(): HostCapacity {
    return probe.hostCapacity(this);
  }

  /** Is something listening on the wildcard address on this port (it would block every 127.0.c.i:port)? */
  wildcardListener(port: number): boolean {
    return probe.wildcardListener(this, port);
  }

  /** Can we listen on host:port right now? */
  isAddressFree(host: string, port: number): Promise<boolean> {
    return probe.isAddressFree(this, host, port);
  }

  // ------------------------------------------------------------------ settings
  clusterSettings(
    cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port' | 'nodeType'> & {
      spec?: Pick<ClusterRecord['spec'], 'parameters'>;
    },
    primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>,
    archive: boolean,
  ): Record<string, string | number | boolean> {
    const nt = findNodeType(cluster.nodeType);
    if (!nt) throw new AppError('INVALID_NODE_TYPE', { args: [cluster.nodeType, 'unknown node type'] });
    const s: Record<string, string | number | boolean> = {
      ...nt.settings,
      wal_level: 'replica',
      max_wal_senders: 40,
      max_replication_slots: 40,
      hot_standby: 'on',
      wal_log_hints: 'on',
      hot_standby_feedback: 'on',
      wal_sender_timeout: '30s',
      wal_receiver_status_interval: '1s',
      // D32: a slot of a standby that is gone keeps at most this much WAL, so a tenant's lost standby cannot fill the shared disk.
      max_slot_wal_keep_size: MAX_SLOT_WAL_KEEP,
      archive_mode: archive ? 'on' : 'off',
      archive_command: archive ? this.backrest.archiveCommand(this.stanzaTarget(cluster, primary)) : '',
      log_destination: 'stderr',
      logging_collector: 'off',
      log_line_prefix: '%m [%p] ',
      log_timezone: 'UTC',
      timezone: 'UTC',
      password_encryption: 'scram-sha-256',
      unix_socket_permissions: '0700',
      dynamic_shared_memory_type: 'posix',
      // D32: the administrator is no superuser; these untrusted extensions it may still create (pgextwlist).
      shared_preload_libraries: 'pg_stat_statements',
      // D32: no logical replication apply workers. Only a superuser makes a subscription on PostgreSQL 15, so a tenant
      // has none; one a restored copy's snapshot holds from before D32 would apply as its superuser owner, running
      // the tenant's triggers as that superuser, from the publisher it names.
      max_logical_replication_workers: '0',
      session_preload_libraries: 'pgextwlist',
      'extwlist.extensions': ADMIN_EXTENSIONS.join(','),
    };
    // Not full_page_writes: without it no base backup can be taken from a standby (a standby cluster's members copy its
    // standby leader, issue 19), and a crash of the machine is what the other two give up on anyway.
    if (this.settings.unsafeNoFsync) Object.assign(s, { fsync: 'off', synchronous_commit: 'off' });
    // The parameters set through UpdateConfiguration (issue 16): only offered names reach the spec (domain/parameters.ts), never
    // one set above but the time zone, which dwsbox starts in UTC and ModifyClusterTimezone changes.
    for (const [k, v] of Object.entries(cluster.spec?.parameters ?? {})) if (!(k in s) || k === 'timezone') s[k] = v;
    return s;
  }

  writeStanzaConfig(
    cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>,
    primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>,
  ): StanzaTarget {
    return stanza.writeStanzaConfig(this, cluster, primary);
  }

  // ------------------------------------------------------------------ node lifecycle
  /**
   * The primary's data directory, from the initdb pool or initdb, and its configuration; while
   * it has never run, a copy of it for each of `replicas` (local/member-copies.ts). Idempotent.
   */
  async initPrimary(cluster: ClusterRecord, node: NodeRecord, o: { signal?: AbortSignal; replicas?: NodeRecord[] }): Promise<void> {
    await memberCopies.initPrimary(this, cluster, node, o);
  }

  async startNode(
    cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
    node: NodeRecord,
    o: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<RunningInfo> {
    const inst = this.instance(cluster, node);
    if (!inst.isInitialized()) throw new AppError('ENGINE_NODE_FAILED', { args: [node.host, `no data directory at ${node.dataDir}`] });
    this.prepareNodeDir(cluster, node.ordinal);
    inst.writeNodeConfig();
    return inst.start(o);
  }

  async stopNode(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, node: NodeRecord, mode: ShutdownMode = 'fast'): Promise<void> {
    await this.instance(cluster, node).stop({ mode });
  }

  nodeStatus(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, node: NodeRecord): RunningInfo | null {
    return this.instance(cluster, node).status();
  }

  /** The replication role with the cluster's own password (D7; D32: sent as a SCRAM verifier); idempotent. */
  ensureReplicationRole(cluster: ClusterRecord, primary: NodeRecord, secrets: ClusterSecrets): Promise<void> {
    return roles.ensureReplicationRole(this, cluster, primary, secrets);
  }

  /**
   * The administrator (D7, D32): a managed service's admin without host access, after RDS's
   * `rds_superuser` and Cloud SQL's `cloudsqlsuperuser`, fitted to PostgreSQL 15. Not a
   * superuser and `NOCREATEROLE` (on 15 a CREATEROLE role can grant itself
   * pg_execute_server_program); reads and writes every table, monitors, ends other sessions,
   * checkpoints, switches WAL, creates databases and, in `postgres`, objects in `public`
   * (and trusted extensions there). Idempotent: an older superuser admin is demoted.
   */
  ensureAdmin(cluster: ClusterRecord, primary: NodeRecord, user: string, password: string): Promise<void> {
    return roles.ensureAdmin(this, cluster, primary, user, password);
  }

  /** The administrator's attributes, roles and privileges of D32 (not its password); idempotent. */
  grantAdmin(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord, user: string): Promise<void> {
    return roles.grantAdmin(this, cluster, primary, user);
  }

  /**
   * D32's clean-up of a restored copy (a snapshot may come from before D32, when the
   * administrator was a superuser and could leave anything behind): every role but the
   * bootstrap superuser loses SUPERUSER, CREATEROLE, BYPASSRLS and (but dwsbox's replication
   * role) REPLICATION; the server-program and server-file roles are revoked from everyone;
   * event triggers and functions in untrusted languages that belong to no extension are
   * dropped in every database; `ALTER SYSTEM RESET ALL` (takes effect at the next restart).
   * Returns what it changed. Idempotent.
   */
  cleanRestoredCluster(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord): Promise<string[]> {
    return roles.cleanRestoredCluster(this, cluster, primary);
  }

  setAdminPassword(cluster: ClusterRecord, primary: NodeRecord, user: string, password: string): Promise<void> {
    return roles.setAdminPassword(this, cluster, primary, user, password);
  }

  pgSettings(cluster: ClusterRef, member: NodeRecord, names: readonly string[]): Promise<PgSettingRow[]> {
    return parameters.pgSettings(this, cluster, member, names);
  }
  applyParameters(
    cluster: ClusterRecord,
    primary: NodeRecord,
    members: readonly NodeRecord[],
    params: Record<string, string>,
    o: { signal?: AbortSignal } = {},
  ): Promise<void> {
    o.signal?.throwIfAborted();
    return parameters.applyParameters(this, cluster, primary, members, params);
  }
  restartMember(cluster: ClusterRef, member: NodeRecord, o: { signal?: AbortSignal } = {}): Promise<MemberProcess> {
    return parameters.restartMember(this, cluster, member, o);
  }

  dbRoles(cluster: ClusterRef, primary: NodeRecord, admin: string, names?: readonly string[]): Promise<DbRoleRow[]> {
    return dbUsers.dbRoles(this, cluster, primary, admin, names);
  }
  createDbRole(cluster: ClusterRef, primary: NodeRecord, role: DbRoleCreate): Promise<void> {
    return dbUsers.createDbRole(this, cluster, primary, role);
  }
  alterDbRole(cluster: ClusterRef, primary: NodeRecord, name: string, change: DbRoleChange): Promise<void> {
    return dbUsers.alterDbRole(this, cluster, primary, name, change);
  }
  dropDbRole(cluster: ClusterRef, primary: NodeRecord, name: string, cascade: boolean): Promise<void> {
    return dbUsers.dropDbRole(this, cluster, primary, name, cascade);
  }

  roleOids(cluster: ClusterRef, primary: NodeRecord): Promise<{ name: string; oid: number }[]> {
    return dbSync.roleOids(this, cluster, primary);
  }
  createSyncedRole(cluster: ClusterRef, primary: NodeRecord, name: string, comment: string): Promise<number> {
    return dbSync.createSyncedRole(this, cluster, primary, name, comment);
  }
  commentSyncedRole(cluster: ClusterRef, primary: NodeRecord, name: string, oid: number, comment: string): Promise<boolean> {
    return dbSync.commentSyncedRole(this, cluster, primary, name, oid, comment);
  }
  dropSyncedRole(cluster: ClusterRef, primary: NodeRecord, name: string, oid: number, admin: string): Promise<boolean> {
    return dbSync.dropSyncedRole(this, cluster, primary, name, oid, admin);
  }
  endRoleSessions(cluster: ClusterRef, member: NodeRecord, oid: number): Promise<number> {
    return dbSync.endRoleSessions(this, cluster, member, oid);
  }

  omRole(cluster: ClusterRef, primary: NodeRecord): Promise<OmRoleRow | null> {
    return omUser.omRole(this, cluster, primary);
  }
  enableOmRole(cluster: ClusterRef, primary: NodeRecord, admin: string, validUntil: string): Promise<void> {
    return omUser.enableOmRole(this, cluster, primary, admin, validUntil);
  }
  endOmSessions(cluster: ClusterRef, member: NodeRecord): Promise<void> {
    return omUser.endOmSessions(this, cluster, member);
  }
  memberSessions(cluster: ClusterRef, member: NodeRecord): Promise<SessionRow[]> {
    return activity.memberSessions(this, cluster, member);
  }
  tableStatistics(cluster: ClusterRef, primary: NodeRecord): Promise<TableStatRow[]> {
    return activity.tableStatistics(this, cluster, primary);
  }
  endExpiredOmSessions(cluster: ClusterRef, member: NodeRecord): Promise<number> {
    return omUser.endExpiredOmSessions(this, cluster, member);
  }
  dropOmRole(cluster: ClusterRef, primary: NodeRecord, admin: string): Promise<void> {
    return omUser.dropOmRole(this, cluster, primary, admin);
  }
  setOmPassword(cluster: ClusterRef, primary: NodeRecord, password: string): Promise<OmRoleRow> {
    return omUser.setOmPassword(this, cluster, primary, password);
  }

  memberReading(cluster: ClusterRef, member: NodeRecord, atMs: number): Promise<MemberReading | null> {
    return readMember(this, cluster, member, atMs);
  }
  memberDiskBytes(cluster: ClusterRef, member: NodeRecord): Promise<number> {
    return memberDataBytes(this, cluster, member);
  }
  setReadOnly(cluster: ClusterRef, member: NodeRecord, on: boolean): Promise<boolean> {
    return setMemberReadOnly(this, cluster, member, on);
  }

  resolveDbObjects(cluster: ClusterRef, primary: NodeRecord, scope: ObjectScope, names?: readonly string[]): Promise<ResolvedObject[]> {
    return dbAuthority.resolveDbObjects(this, cluster, primary, scope, names);
  }
  applyAuthority(cluster: ClusterRef, primary: NodeRecord, plan: AuthorityPlan, expected: readonly ResolvedObject[]): Promise<string[]> {
    return dbAuthority.applyAuthority(this, cluster, primary, plan, expected);
  }
  objectAcls(cluster: ClusterRef, primary: NodeRecord, scope: ObjectScope, names: readonly string[]): Promise<AclRow[]> {
    return dbAuthority.objectAcls(this, cluster, primary, scope, names);
  }
  roleAcls(cluster: ClusterRef, primary: NodeRecord, role: string): Promise<AclRow[]> {
    return dbAuthority.roleAcls(this, cluster, primary, role);
  }
  schemaSpaces(cluster: ClusterRef, primary: NodeRecord, database: string): Promise<SchemaSpaceRow[]> {
    return dbAuthority.schemaSpaces(this, cluster, primary, database);
  }

  /** Create the stanza and prove archiving works: a WAL switch reaches the stanza's archive (local/first-archive.ts). */
  enableArchiving(cluster: ClusterRecord, primary: NodeRecord, o: { signal?: AbortSignal }): Promise<void> {
    return enableNewArchiving(this, cluster, primary, o);
  }

  /** A commit, then a switched segment archived (local/first-archive.ts). */
  archiveNow(cluster: ClusterRecord, primary: NodeRecord, o: { signal?: AbortSignal } = {}): Promise<string> {
    return archiveEveryCommit(this, cluster, primary, o.signal);
  }

  /**
   * Build a hot standby with `pg_basebackup -X stream -c fast -R -C -S <slot>` (D5), measuring
   * progress from the primary's pg_stat_progress_basebackup. Idempotent: a finished copy is
   * kept; a partial one (crash mid-copy) and its slot are removed and the copy starts over.
   */
  buildStandby(
    cluster: ClusterRecord,
    primary: NodeRecord,
    node: NodeRecord,
    secrets: ClusterSecrets,
    o: { signal?: AbortSignal; onProgress?: OnProgress },
  ): Promise<{ bytes: number }> {
    // A copy of the stopped primary (a new cluster's, local/member-copies.ts) needs only its slot and settings.
    if (memberCopies.hasPendingCopy(this, cluster, node)) return memberCopies.finishCopy(this, cluster, primary, node, secrets, o);
    return replication.buildStandby(this, cluster, primary, node, secrets, o);
  }

  /** The replication role's passfile of a node (the PostgreSQL user's, 0600, in the node's root-owned directory). */
  writeReplicationPassfile(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, ordinal: number, secrets: ClusterSecrets): string {
    return replication.writeReplicationPassfile(this, cluster, ordinal, secrets);
  }

  dropSlotIfInactive(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord, slot: string): Promise<void> {
    return replication.dropSlotIfInactive(this, cluster, primary, slot);
  }

  /** The replication slots on the primary (D5: one per standby; `doctor` and scale-in read them). */
  replicationSlots(
    cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
    primary: NodeRecord,
  ): Promise<{ name: string; active: boolean; ordinal: number | null }[]> {
    return replication.replicationSlots(this, cluster, primary);
  }

  /** Bytes of the primary's databases: about what a base backup copies (its WAL comes on top). */
  databaseBytes(cluster: ClusterRef, primary: NodeRecord): Promise<number> {
    return catalog.databaseBytes(this, cluster, primary);
  }

  /**
   * Take a standby out for good (scale-in; undo of a scale-out): stop it (`mode`, through
   * postmaster.pid and through the PID the store recorded, so a postmaster whose pid file is
   * gone is found too), drop its slot on the primary, remove its files and socket directory.
   * Idempotent. Removes what it can; then throws, naming what is left and how to remove it,
   * when the slot could not be dropped (the primary is down) or the process would not die.
   */
  removeStandby(
    cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
    primary: NodeRecord | null,
    node: NodeRecord,
    mode: ShutdownMode,
  ): Promise<void> {
    return replication.removeStandby(this, cluster, primary, node, mode);
  }

  /** The primary's current WAL position. */
  currentLsn(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord): Promise<string> {
    return replication.currentLsn(this, cluster, primary);
  }

  /** Whether the member's PostgreSQL is in recovery. */
  inRecovery(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, member: NodeRecord): Promise<boolean> {
    return replication.inRecovery(this, cluster, member);
  }

  /** A standby's replication state as the primary sees it, with its lag behind `targetLsn` in bytes. */
  replicationState(
    cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
    primary: NodeRecord,
    ordinal: number,
    targetLsn: string,
  ): Promise<{ state: string | null; replayLsn: string | null; lagBytes: number | null }> {
    return replication.replicationState(this, cluster, primary, ordinal, targetLsn);
  }

  /**
   * Wait until a standby has caught up in D5's sense: `streaming`, and `replay_lsn` at or past
   * the primary's LSN read when the wait began. Reports the falling lag.
   */
  waitCaughtUp(
    cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
    primary: NodeRecord,
    ordinal: number,
    o: { signal?: AbortSignal; timeoutMs?: number; onProgress?: OnProgress; targetLsn?: string; standby?: NodeRecord },
  ): Promise<void> {
    return replication.waitCaughtUp(this, cluster, primary, ordinal, o);
  }

  /** Throws ENGINE_NODE_FAILED, with the end of its log, when the node's postmaster is not running. */
  assertRunning(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, node: NodeRecord, when: string): void {
    return replication.assertRunning(this, cluster, node, when);
  }

  /** Log in as the administrator over TCP at the primary's endpoint (what a user does). */
  checkAdminLogin(primary: NodeRecord, user: string, password: string): Promise<void> {
    return roles.checkAdminLogin(this, primary, user, password);
  }

  /** Archiving state (D3): failures since the last success. */
  archiverState(
    cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
    primary: NodeRecord,
  ): Promise<{ failing: boolean; lastFailed: string | null; lastArchived: string | null }> {
    return replication.archiverState(this, cluster, primary);
  }

  /**
   * Remove a stanza and everything in the repository under it: `stop`, then
   * `stanza-delete` (D16: pgBackRest never expires a stanza's last full, so this is the only way).
   */
  removeStanza(
    cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>,
    primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>,
    o: { signal?: AbortSignal; lockFile?: string } = {},
  ): Promise<void> {
    return stanza.removeStanza(this, cluster, primary, o);
  }

  // ------------------------------------------------------------------ snapshot copies (CopySnapshot)
  restoreCopySource(work: SnapshotCopyWork, set: BackupSetRef, o: RunOptions = {}): Promise<void> {
    return snapshotCopy.restoreCopySource(this, work, set, o);
  }
  startCopySource(work: SnapshotCopyWork, o: RunOptions = {}): Promise<void> {
    return snapshotCopy.startCopySource(this, work, o);
  }
  backupCopy(work: SnapshotCopyWork, o: RunOptions & { annotation: Record<string, string> }): Promise<BackupSetInfo> {
    return snapshotCopy.backupCopy(this, work, o);
  }
  removeCopySource(work: SnapshotCopyWork): Promise<void> {
    return snapshotCopy.removeCopySource(this, work);
  }
  removeLoneStanza(stanzaName: string, o: RunOptions = {}): Promise<void> {
    return snapshotCopy.removeLoneStanza(this, stanzaName, o);
  }

  // ------------------------------------------------------------------ temporary instances (D4)
  /** A temporary instance (table restore, restore checks): its own directory, a unix socket only; run by its project's user (a project id) or the given one. */
  tempInstance(id: string, owner: string | OsUser): PgInstance {
    return temp_instances.tempInstance(this, id, owner);
  }

  /**
   * Prepare a restored copy for its first start as a temporary instance: no TCP listener, no
   * archiving, no replication, small memory (D4: a temporary instance never archives).
   */
  prepareTempInstance(inst: PgInstance, extra: Record<string, string> = {}): void {
    return temp_instances.prepareTempInstance(this, inst, extra);
  }

  /**
   * A temporary instance's directory (root's, D32) with its log (root's) and, beside the
   * data directory, `work/`: the PostgreSQL user's, where its dumps and lists are written.
   */
  prepareTempDir(inst: PgInstance): string {
    return temp_instances.prepareTempDir(this, inst);
  }

  /** Stop a temporary instance (immediate: its data is thrown away) and remove its files. */
  removeTempInstance(id: string, owner: string | OsUser): Promise<void> {
    return temp_instances.removeTempInstance(this, id, owner);
  }

  /** Remove a node's files (the server must be stopped). */
  removeNodeFiles(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, ordinal: number): Promise<void> {
    return layout.removeNodeFiles(this, cluster, ordinal);
  }

  /** Remove everything of a cluster on this host but its repository. */
  removeClusterFiles(clusterId: string): Promise<void> {
    return layout.removeClusterFiles(this, clusterId);
  }

  /** Clusters that have files here (for doctor and the leak checks). */
  clusterDirs(): string[] {
    return layout.clusterDirs(this);
  }

  // ------------------------------------------------------------------ the DataPlane's intentions (data-plane.ts)
  guardWork(signal: AbortSignal, check: () => void): void {
    guardProcessStarts(signal, check);
  }
  stopAllWork(): void {
    killAllTools();
  }
  superviseHost(): Promise<string[]> {
    this.pool.start();
    return this.backrest.superviseServers();
  }
  stopBackgroundWork(): Promise<void> {
    endReadingSessions(this);
    return this.pool.stop();
  }
  stopHostServices(): Promise<number> {
    return this.backrest.servers.stopAll();
  }
  hostEndpoints(): { host: string; port: number; what: string }[] {
    return this.backrest.servers.ports().map((port) => ({ host: TLS_ADDRESS, port, what: "an S3 repository's TLS server" }));
  }
  capacity(): HostCapacity {
    return this.hostCapacity();
  }
  memberHost(subnetIndex: number, ordinal: number): string {
    return LocalEngine.hostFor(subnetIndex, ordinal);
  }
  replicaSlotName(ordinal: number): string {
    return slotNameFor(ordinal);
  }
  memberDataDir(clusterId: string, ordinal: number): string {
    return this.nodePaths(clusterId, ordinal).dataDir;
  }
  async ensureProject(projectId: string, o: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.uids) throw new Error('this data plane was made without a record of project uids');
    await this.ensureProjectUser(projectId, this.uids, o);
  }
  prepareCluster(cluster: ClusterRef): void {
    this.prepareClusterDir(cluster);
  }
  removeMemberFiles(cluster: ClusterRef, ordinal: number): Promise<void> {
    return this.removeNodeFiles(cluster, ordinal);
  }
  startMember(cluster: ClusterRef, member: NodeRecord, o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<MemberProcess> {
    return this.startNode(cluster, member, o);
  }
  stopMember(cluster: ClusterRef, member: NodeRecord, mode: StopMode = 'fast'): Promise<void> {
    return this.stopNode(cluster, member, mode);
  }
  memberStatus(cluster: ClusterRef, member: NodeRecord): MemberProcess | null {
    return this.nodeStatus(cluster, member);
  }
  buildReplica(
    cluster: ClusterRecord,
    primary: NodeRecord,
    member: NodeRecord,
    secrets: ClusterSecrets,
    o: RunOptions = {},
  ): Promise<{ bytes: number }> {
    return this.buildStandby(cluster, primary, member, secrets, {
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    });
  }
  removeReplica(cluster: ClusterRef, primary: NodeRecord | null, member: NodeRecord, mode: StopMode): Promise<void> {
    return this.removeStandby(cluster, primary, member, mode);
  }
  dropReplicaSlot(cluster: ClusterRef, primary: NodeRecord, ordinal: number): Promise<void> {
    return this.dropSlotIfInactive(cluster, primary, slotNameFor(ordinal));
  }
  replicationLag(cluster: ClusterRef, primary: NodeRecord): Promise<{ node: number; bytes: number }[]> {
    return catalog.replicationLag(this, cluster, primary);
  }
  schemaInfo(cluster: ClusterRef, primary: NodeRecord): Promise<SchemaInfo> {
    return catalog.schemaInfo(this, cluster, primary);
  }
  async checkArchiving(cluster: StanzaCluster, primary: NodeRecord, o: RunOptions = {}): Promise<void> {
    await this.backrest.check(this.stanzaTarget(cluster, primary), {
      lockFile: o.lockFile ?? this.lockFile(cluster.id),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }
  async stanzaExists(stanzaName: string): Promise<boolean> {
    return existsSync(this.stanzaConfigFile(stanzaName)) && (await this.backrest.stanzaExists(stanzaName));
  }
  backupSets(stanzaName: string, o: { signal?: AbortSignal } = {}): Promise<BackupSetInfo[]> {
    return backups.backupSets(this, stanzaName, o);
  }
  removePartialBackups(cluster: StanzaCluster, primary: NodeRecord, signal?: AbortSignal): Promise<string[]> {
    return backups.removePartialBackups(this, cluster, primary, signal);
  }
  backup(
    cluster: StanzaCluster,
    primary: NodeRecord,
    o: RunOptions & { type: 'full' | 'diff'; annotation: Record<string, string>; offline?: boolean },
  ): Promise<BackupSetInfo> {
    return backups.backup(this, cluster, primary, o);
  }
  missingWal(stanzaName: string, from: string, to: string, o: { signal?: AbortSignal } = {}): Promise<string[]> {
    return this.backrest.missingWal(stanzaName, from, to, o);
  }
  verifyBackup(stanzaName: string, label: string, o: RunOptions = {}): Promise<BackupSetInfo> {
    return backups.verifyBackup(this, stanzaName, label, o);
  }
  expireBackup(stanzaName: string, label: string, o: RunOptions = {}): Promise<{ expired: boolean; reason: string | null }> {
    return backups.expireBackup(this, stanzaName, label, o);
  }
  async stopForRestoreInPlace(cluster: ClusterRecord, primary: NodeRecord, nodes: readonly NodeRecord[]): Promise<void> {
    // The standbys first: the primary's clean stop then waits for none of them.
    for (const n of nodes.filter((x) => x.ordinal !== primary.ordinal)) await this.stopMember(cluster, n, 'fast');
    await this.stopMember(cluster, primary, 'fast');
    restore.forgetEarlierRestores(this, cluster, nodes);
  }
  restorePrimary(cluster: ClusterRef, primary: NodeRecord, set: BackupSetRef, o: RunOptions = {}): Promise<void> {
    return restore.restorePrimary(this, cluster, primary, set, o);
  }
  memberHasData(cluster: ClusterRef, member: NodeRecord): boolean {
    return replication.memberHasData(this, cluster, member);
  }
  removeDump(stanzaName: string, snapshotId: string): Promise<void> {
    return removeDump(this.settings.dataDir, stanzaName, snapshotId);
  }
  restoredPrimaryRunning(cluster: ClusterRef, primary: NodeRecord): boolean {
    return this.instance(cluster, primary).status() !== null;
  }
  recoverPrimary(
    cluster: ClusterRecord,
    primary: NodeRecord,
    adminPassword: string,
    o: RunOptions & { replicas?: NodeRecord[] } = {},
  ): Promise<{ process: MemberProcess; timeline: number; lsn: string | null; cleaned: number }> {
    return restore.recoverPrimary(this, cluster, primary, adminPassword, o);
  }
  finishRestoredReplica(
    cluster: ClusterRecord,
    primary: NodeRecord,
    member: NodeRecord,
    secrets: ClusterSecrets,
    o: RunOptions & { sourceStanza: string },
  ): Promise<{ bytes: number } | null> {
    return restore.finishRestoredCopy(this, cluster, primary, member, secrets, o);
  }
  enableRestoredArchiving(
    cluster: ClusterRecord,
    primary: NodeRecord,
    secrets: ClusterSecrets,
    o: RunOptions = {},
  ): Promise<MemberProcess | null> {
    return restore.enableRestoredArchiving(this, cluster, primary, secrets, o);
  }

  // ------------------------------------------------------------------ the LogicalDataPlane's intentions (logical-plane.ts)
  databaseInfo(cluster: ClusterRef, primary: NodeRecord, database: string): Promise<DatabaseInfo | null> {
    return logicalCatalog.databaseInfo(this, cluster, primary, database);
  }
  schemasPresent(cluster: ClusterRef, primary: NodeRecord, database: string, schemas: string[]): Promise<string[]> {
    return logicalCatalog.schemasPresent(this, cluster, primary, database, schemas);
  }
  relationFacts(
    cluster: ClusterRef,
    primary: NodeRecord,
    database: string,
    objects: { schemas: string[] } | { tables: TableRef[] },
  ): Promise<RelationFacts[]> {
    return logicalCatalog.relationFacts(this, cluster, primary, database, objects);
  }
  relations(cluster: ClusterRef, primary: NodeRecord, database: string, refs: TableRef[]): Promise<RelationInfo[]> {
    return logicalCatalog.relations(this, cluster, primary, database, refs);
  }
  outsideForeignKeys(cluster: ClusterRef, primary: NodeRecord, database: string, tableOids: number[]): Promise<OutsideForeignKey[]> {
    return logicalCatalog.outsideForeignKeys(this, cluster, primary, database, tableOids);
  }
  rolesPresent(cluster: ClusterRef, primary: NodeRecord, roleNames: string[]): Promise<string[]> {
    return logicalCatalog.rolesPresent(this, cluster, primary, roleNames);
  }
  relationBytes(cluster: ClusterRef, primary: NodeRecord, database: string, oids: number[]): Promise<number> {
    return logicalCatalog.relationBytes(this, cluster, primary, database, oids);
  }
  transactionCounter(cluster: ClusterRef, primary: NodeRecord, database: string): Promise<string> {
    return logicalCatalog.transactionCounter(this, cluster, primary, database);
  }
  createdInOneTransactionSince(
    cluster: ClusterRef,
    primary: NodeRecord,
    database: string,
    oids: number[],
    counter: string,
  ): Promise<boolean> {
    return logicalCatalog.createdInOneTransactionSince(this, cluster, primary, database, oids, counter);
  }
  createSchema(cluster: TenantCluster, primary: NodeRecord, database: string, schema: string): Promise<void> {
    return logicalCatalog.createSchema(this, cluster, primary, database, schema);
  }
  logicalDump(ref: LogicalDumpRef): Promise<LogicalDumpState> {
    return logicalDumps.logicalDump(this, ref);
  }
  logicalDumpReadable(location: string): Promise<boolean> {
    return logicalDumps.logicalDumpReadable(this, location);
  }
  dumpObjects(
    cluster: ClusterRef,
    primary: NodeRecord,
    ref: LogicalDumpRef,
    what: { detail: FineGrainedDetail; tables: DumpedTable[] },
    o: RunOptions = {},
  ): Promise<LogicalDumpState> {
    return logicalDumps.dumpObjects(this, cluster, primary, ref, what, o);
  }
  verifyLogicalDump(
    ref: LogicalDumpRef,
    expected: { level: FineGrainedDetail['level']; tables: DumpedTable[] },
    o: RunOptions = {},
  ): Promise<{ tocEntries: number }> {
    return logicalDumps.verifyLogicalDump(this, ref, expected, o);
  }
  restoreTemporaryCopy(work: TableRestoreWork, set: BackupSetRef, database: string, o: RunOptions = {}): Promise<void> {
    return tempCopy.restoreTemporaryCopy(this, work, set, database, o);
  }
  startTemporaryCopy(work: TableRestoreWork, o: RunOptions = {}): Promise<void> {
    return tempCopy.startTemporaryCopy(this, work, o);
  }
  createScratchDatabase(cluster: TenantCluster, primary: NodeRecord, work: TableRestoreWork, like: string): Promise<string> {
    return scratch.createScratchDatabase(this, cluster, primary, work, like);
  }
  loadScratchDatabase(
    cluster: TenantCluster,
    primary: NodeRecord,
    work: TableRestoreWork,
    dump: { location: string; outsideForeignKeys: number[]; sourceBytes: number | null },
    o: RunOptions = {},
  ): Promise<{ loadedBytes: number; tocEntries: number }> {
    return scratch.loadScratchDatabase(this, cluster, primary, work, dump, o);
  }
  dropScratchDatabase(cluster: ClusterRef, primary: NodeRecord, work: TableRestoreWork): Promise<void> {
    return scratch.dropScratchDatabase(this, cluster, primary, work);
  }
  prepareExport(
    cluster: ClusterRef,
    primary: NodeRecord,
    work: TableRestoreWork,
    from: { source: ExportSource; database: string; tables: TablePair[] },
  ): Promise<Exported> {
    return tableExport.prepareExport(this, cluster, primary, work, from);
  }
  exportTables(
    cluster: ClusterRef,
    primary: NodeRecord,
    work: TableRestoreWork,
    from: { source: ExportSource; database: string; tables: ExportedTable[] },
    o: RunOptions = {},
  ): Promise<{ dumpBytes: number }> {
    return tableExport.exportTables(this, cluster, primary, work, from, o);
  }
  planTableImport(
    work: TableRestoreWork,
    fks: ExportedFk[],
    keepForeignKeysTo: TableRef[],
    o: RunOptions = {},
  ): Promise<{ droppedForeignKeys: string[] }> {
    return tableImport.planTableImport(this, work, fks, keepForeignKeysTo, o);
  }
  importTables(
    cluster: TenantCluster,
    primary: NodeRecord,
    work: TableRestoreWork,
    into: { database: string; tables: ExportedTable[] },
    o: RunOptions = {},
  ): Promise<void> {
    return tableImport.importTables(this, cluster, primary, work, into, o);
  }
  addForeignKeys(
    cluster: TenantCluster,
    primary: NodeRecord,
    work: TableRestoreWork,
    database: string,
    fks: ForeignKeyToAdd[],
  ): Promise<{ added: string[]; dropped: string[] }> {
    return tableImport.addForeignKeys(this, cluster, primary, work, database, fks);
  }
  countTables(
    cluster: TenantCluster,
    primary: NodeRecord,
    work: TableRestoreWork,
    database: string,
    tables: TableRef[],
    o: RunOptions = {},
  ): Promise<TableCount[]> {
    return tableImport.countTables(this, cluster, primary, work, database, tables, o);
  }
  dropImportedTables(cluster: ClusterRef, primary: NodeRecord, database: string, imported: Imported[], schemas: string[]): Promise<void> {
    return tableImport.dropImportedTables(this, cluster, primary, database, imported, schemas);
  }
  removeTableRestoreWork(work: TableRestoreWork): Promise<void> {
    return removeTableRestoreWork(this, work);
  }
}
