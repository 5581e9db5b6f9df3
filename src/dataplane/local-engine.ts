/**
 * The local engine: a cluster's nodes are PostgreSQL 15 servers on this host, on the
 * cluster's own loopback addresses (D6), node 1 the primary and the rest hot standbys fed by
 * streaming replication through a slot each (D5), archiving into the cluster's own
 * pgBackRest stanza from birth (D3). Its methods are intentions (init the primary, build a
 * standby, …) and each is idempotent: run again after a crash, it finishes or finds the work
 * done.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statfsSync, statSync, chmodSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ClusterRecord, NodeRecord } from '../domain/records.js';
import { findNodeType, NODE_TYPES } from '../domain/node-types.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Binaries } from './binaries.js';
import { osIdentity, type OsUser, type UidRange } from './os-user.js';
import { ProjectUsers, type UidRecord } from './project-users.js';
import { acquireLock, baseEnv, isProcessAlive, signalProcess, startTool, whilePolling, type HeldLock } from './pg-exec.js';
import { ident, literal, mkdirOwned, PgInstance, writeOwned, type RunningInfo, type ShutdownMode } from './pg-instance.js';
import { mkdirSafe, ownedBy, readFileSafe, removeTree, serviceOwner, writeFileSafe } from './safe-fs.js';
import { scramVerifier } from './scram.js';
import { PgBackRest, type StanzaTarget } from './pgbackrest.js';
import type { RepositoryCredentials, RepositoryRef, RepositoryRegistry, RepositorySpec } from './backup-repository.js';

export interface ProgressSampleIn {
  source: string;
  bytesDone?: number | null;
  bytesTotal?: number | null;
  percent?: number | null;
  data?: Record<string, unknown>;
}
export type OnProgress = (s: ProgressSampleIn) => void;

export interface EngineSettings {
  dataDir: string;
  repoPath: string;
  unsafeNoFsync: boolean;
  /** where project users' uids come from (D32); DEFAULT_UID_RANGE when absent */
  uidRange?: UidRange;
}

export const REPLICATION_ROLE = 'dwsbox_repl';
/** What a replication slot may hold back (D32); a standby further behind is rebuilt. */
export const MAX_SLOT_WAL_KEEP = '4GB';

/** D32: what a cluster's administrator is, and the built-in roles it holds and never holds. */
export const ADMIN_ATTRIBUTES = 'login createdb nocreaterole nosuperuser noreplication nobypassrls inherit';
export const ADMIN_ROLES = ['pg_read_all_data', 'pg_write_all_data', 'pg_monitor', 'pg_signal_backend', 'pg_checkpoint'];
export const FORBIDDEN_ROLES = ['pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files'];
/** Untrusted extensions (PostgreSQL 15) an administrator may create all the same, through pgextwlist (D32): monitoring and inspection, nothing that reaches files, programs or other servers. */
export const ADMIN_EXTENSIONS = ['pg_stat_statements', 'pg_buffercache', 'pgstattuple', 'pg_prewarm', 'amcheck'];
/** The same lists as SQL (constants, so no name from outside reaches the statements). */
const ADMIN_ROLE_LIST = ADMIN_ROLES.join(', ');
const FORBIDDEN_ROLE_LIST = FORBIDDEN_ROLES.join(', ');
const MAX_NODE_CONNECTIONS = Math.max(...NODE_TYPES.map((t) => t.settings.max_connections));
export const slotNameFor = (ordinal: number): string => `dwsbox_node${ordinal}`;
export const appNameFor = (ordinal: number): string => `node${ordinal}`;

export interface HostCapacity {
  memAvailableBytes: number;
  dataDiskFreeBytes: number;
  repoDiskFreeBytes: number;
}

/** Passwords the engine needs, decrypted by the caller. */
export interface ClusterSecrets { replPassword: string }

export class LocalEngine {
  readonly backrest: PgBackRest;
  /** the project users of this data directory (D32) */
  readonly users: ProjectUsers;

  constructor(
    readonly settings: EngineSettings,
    readonly bins: Binaries,
    private readonly log: Logger,
  ) {
    this.backrest = new PgBackRest(bins, {
      repoPath: settings.repoPath,
      logPath: join(settings.dataDir, 'log', 'pgbackrest'),
      lockPath: join(settings.dataDir, 'run', 'pgbackrest-lock'),
      spoolPath: join(settings.dataDir, 'run', 'pgbackrest-spool'),
      configDir: join(settings.dataDir, 'stanzas'),
    }, log);
    this.users = new ProjectUsers(settings.dataDir, log, settings.uidRange);
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
  async repositoryMoveRefusal(cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza'>, signal?: AbortSignal): Promise<AppError | null> {
    const want = this.repositoryRef();
    const configFile = this.stanzaConfigFile(cluster.stanza);
    const have = this.backrest.stanzaRepository(configFile);
    if (!have || have.id === want.id || !(await this.backrest.stanzaExists(cluster.stanza))) return null;
    const sets = (await this.backrest.info({ stanza: cluster.stanza, configFile }, signal ? { signal } : {})).sets;
    if (!sets.length) return null;
    return new AppError('REPOSITORY_MOVE_REFUSED', { args: [cluster.id, `${have.kind} repository ${have.id}`, `${want.kind} repository ${want.id}`, String(sets.length)] });
  }

  /**
   * Keep a cluster's stanza in the configured repository. A stanza recorded in another one
   * (the setting changed since the cluster was made) moves there only when it holds no
   * backup set: then its old stanza is deleted and a new one created in the configured
   * repository (archive_command reads the stanza's config file, so archiving follows). With
   * backup sets it is refused (REPOSITORY_MOVE_REFUSED): moving snapshots between
   * repositories is not something dwsbox does. Returns the repository the stanza is in.
   */
  async ensureStanzaRepository(cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>, primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>, o: { signal?: AbortSignal; lockFile?: string } = {}): Promise<RepositoryRef> {
    const want = this.repositoryRef();
    const t = this.stanzaTarget(cluster, primary);
    const have = this.backrest.stanzaRepository(t.configFile);
    if (!have || have.id === want.id) return want;
    const lockFile = o.lockFile ?? this.lockFile(cluster.id);
    const signal = o.signal ? { signal: o.signal } : {};
    const refused = await this.repositoryMoveRefusal(cluster, o.signal);
    if (refused) throw refused;
    this.log.info('moving a stanza with no backup sets to the configured repository', { clusterId: cluster.id, stanza: cluster.stanza, from: have.id, to: want.id });
    await this.removeStanza(cluster, primary, { lockFile, ...signal });
    const spec = this.backrest.configuredSpec();
    this.prepareClusterDir(cluster);
    this.backrest.writeConfig(t, {}, spec);
    await this.backrest.stanzaCreate(t, { lockFile, ...signal });
    return want;
  }

  // ------------------------------------------------------------------ layout
  clusterDir(clusterId: string): string {
    return join(this.settings.dataDir, 'clusters', clusterId);
  }
  nodeDir(clusterId: string, ordinal: number): string {
    return join(this.clusterDir(clusterId), `node${ordinal}`);
  }
  /** The lock file every step on this cluster holds (D1). */
  lockFile(clusterId: string): string {
    return join(this.settings.dataDir, 'locks', `${clusterId}.lock`);
  }
  nodePaths(clusterId: string, ordinal: number): { dataDir: string; sockDir: string; logFile: string } {
    const d = this.nodeDir(clusterId, ordinal);
    return { dataDir: join(d, 'data'), sockDir: join(this.socketRoot(), `${clusterId.slice(0, 13)}${ordinal}`), logFile: join(d, 'postgres.log') };
  }

  /**
   * Unix socket paths are limited to 107 bytes (`<dir>/.s.PGSQL.<port>`), so sockets live in
   * a short directory: `<dataDir>/s`, or, when the data directory's path is long, under
   * /run/dwsbox as root (D32: never in /tmp, where anyone can plant a name first), under /tmp
   * only for a service that is not root.
   */
  socketRoot(): string {
    const inData = join(this.settings.dataDir, 's');
    if (inData.length <= 60) return inData;
    const tag = `s-${createHash('sha1').update(this.settings.dataDir).digest('hex').slice(0, 12)}`;
    return process.getuid?.() === 0 ? join('/run/dwsbox', tag) : join('/tmp', `dwsbox-${tag}`);
  }
  static hostFor(subnetIndex: number, ordinal: number): string {
    return `127.0.${subnetIndex}.${ordinal}`;
  }
  stanzaTarget(cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>, primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>): StanzaTarget {
    const users = this.users;
    return {
      get os() { return users.userOf(cluster.projectId); },
      stanza: cluster.stanza, configFile: this.stanzaConfigFile(cluster.stanza), pgPath: primary.dataDir, pgPort: cluster.port,
      pgSocket: this.nodePaths(cluster.id, primary.ordinal).sockDir,
    };
  }
  /**
   * A stanza's pgBackRest config lives outside its cluster's directory: snapshots (and the
   * restores and expiries that read them) outlive the cluster (D16).
   */
  stanzaConfigFile(stanza: string): string {
    return join(this.settings.dataDir, 'stanzas', `${stanza}.conf`);
  }
  instance(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, node: Pick<NodeRecord, 'ordinal' | 'host' | 'port' | 'dataDir'>): PgInstance {
    const p = this.nodePaths(cluster.id, node.ordinal);
    const users = this.users;
    // The project's user is looked up when the instance needs it (a status check of a node that never ran does not).
    return new PgInstance({ get os() { return users.userOf(cluster.projectId); }, dataDir: node.dataDir, sockDir: p.sockDir, host: node.host, port: node.port, logFile: p.logFile }, this.bins, this.log);
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
    const id = osIdentity();
    mkdirSync(this.settings.dataDir, { recursive: true, mode: 0o711 });
    chmodSync(this.settings.dataDir, 0o711);
    const root = serviceOwner();
    for (const d of ['clusters', 'log', 'run', 'tmp']) mkdirSafe(join(this.settings.dataDir, d), root, 0o711);
    mkdirSafe(join(this.settings.dataDir, 'locks'), root, 0o700);
    mkdirSafe(join(this.settings.dataDir, 'stanzas'), root, 0o711);
    if (this.socketRoot().startsWith('/run/')) mkdirSafe('/run/dwsbox', root, 0o711);
    mkdirSafe(this.socketRoot(), root, 0o711);
    this.backrest.ensureRepoDirs();
    if (id.runAsPostgres) this.assertReachableByPostgres(this.settings.dataDir);
  }

  private assertReachableByPostgres(dir: string): void {
    // Every directory on the path must be traversable by postgres (postgres-ops §1: /root is 0700).
    let p = dir;
    for (;;) {
      const st = modeOf(p);
      if (st !== null && (st & 0o001) === 0) {
        throw new Error(`the postgres OS user cannot reach the data directory ${dir}: ${p} is not traversable (mode ${st.toString(8)}). Fix: chmod o+x ${p}, or choose --data-dir outside it (default /var/lib/dwsbox)`);
      }
      const parent = join(p, '..');
      if (parent === p) break;
      p = parent;
    }
  }

  /** The cluster's directory (root's, D32) and its lock file. */
  prepareClusterDir(cluster: Pick<ClusterRecord, 'id' | 'projectId'>): void {
    mkdirSafe(this.clusterDir(cluster.id), serviceOwner(), 0o711);
    ensureLockFile(this.lockFile(cluster.id));
  }

  /**
   * A node's directory: root's (D32), holding the node's log (root's; the postmaster writes
   * it through an inherited descriptor), its markers and its replication passfile; the data
   * directory inside is the PostgreSQL user's.
   */
  prepareNodeDir(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, ordinal: number): void {
    this.prepareClusterDir(cluster);
    mkdirSafe(this.nodeDir(cluster.id, ordinal), serviceOwner(), 0o711);
    const log = this.nodePaths(cluster.id, ordinal).logFile;
    if (!existsSync(log)) writeFileSafe(log, '', serviceOwner(), 0o640);
  }

  /** Take a lock file (a cluster's, or a stanza's) for the length of a step (D1, acquireLock). */
  lockForStep(lockFile: string, o: { signal?: AbortSignal; timeoutMs?: number; label: string }): Promise<HeldLock> {
    ensureLockFile(lockFile);
    return acquireLock(lockFile, { timeoutMs: o.timeoutMs ?? 120_000, label: o.label, ...(o.signal ? { signal: o.signal } : {}) });
  }

  // ------------------------------------------------------------------ capacity and addresses
  hostCapacity(): HostCapacity {
    const mem = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
    const free = (p: string): number => {
      try {
        const s = statfsSync(p);
        return s.bavail * s.bsize;
      } catch {
        return 0;
      }
    };
    mkdirSync(this.settings.repoPath, { recursive: true });
    return { memAvailableBytes: mem ? Number(mem[1]) * 1024 : 0, dataDiskFreeBytes: free(this.settings.dataDir), repoDiskFreeBytes: free(this.settings.repoPath) };
  }

  /** Is something listening on the wildcard address on this port (it would block every 127.0.c.i:port)? */
  wildcardListener(port: number): boolean {
    for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text = '';
      try {
        text = readFileSync(f, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[3] !== '0A') continue; // LISTEN
        const [addr, p] = (cols[1] ?? '').split(':');
        if (parseInt(p ?? '', 16) === port && /^0+$/.test(addr ?? '')) return true;
      }
    }
    return false;
  }

  /** Can we listen on host:port right now? */
  async isAddressFree(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
    });
  }

  // ------------------------------------------------------------------ settings
  clusterSettings(cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port' | 'nodeType'>, primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>, archive: boolean): Record<string, string | number | boolean> {
    const nt = findNodeType(cluster.nodeType);
    if (!nt) throw new AppError('INVALID_NODE_TYPE', { args: [cluster.nodeType, 'unknown node type'] });
    const s: Record<string, string | number | boolean> = {
      ...nt.settings,
      wal_level: 'replica', max_wal_senders: 40, max_replication_slots: 40, hot_standby: 'on', wal_log_hints: 'on',
      hot_standby_feedback: 'on', wal_sender_timeout: '30s', wal_receiver_status_interval: '1s',
      // D32: a slot of a standby that is gone keeps at most this much WAL, so a tenant's lost standby cannot fill the shared disk.
      max_slot_wal_keep_size: MAX_SLOT_WAL_KEEP,
      archive_mode: archive ? 'on' : 'off',
      archive_command: archive ? this.backrest.archiveCommand(this.stanzaTarget(cluster, primary)) : '',
      log_destination: 'stderr', logging_collector: 'off', log_line_prefix: '%m [%p] ', log_timezone: 'UTC', timezone: 'UTC',
      password_encryption: 'scram-sha-256', unix_socket_permissions: '0700', dynamic_shared_memory_type: 'posix',
      // D32: the administrator is no superuser; these untrusted extensions it may still create (pgextwlist).
      shared_preload_libraries: 'pg_stat_statements', session_preload_libraries: 'pgextwlist', 'extwlist.extensions': ADMIN_EXTENSIONS.join(','),
    };
    if (this.settings.unsafeNoFsync) Object.assign(s, { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' });
    return s;
  }

  writeStanzaConfig(cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>, primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>): StanzaTarget {
    this.prepareClusterDir(cluster);
    const t = this.stanzaTarget(cluster, primary);
    this.backrest.writeConfig(t);
    return t;
  }

  // ------------------------------------------------------------------ node lifecycle
  /** initdb the primary and write its configuration (idempotent). */
  async initPrimary(cluster: ClusterRecord, node: NodeRecord, o: { signal?: AbortSignal }): Promise<void> {
    this.prepareNodeDir(cluster, node.ordinal);
    const inst = this.instance(cluster, node);
    await inst.initdb({ lockFile: this.lockFile(cluster.id), noSync: this.settings.unsafeNoFsync, ...(o.signal ? { signal: o.signal } : {}) });
    this.writeStanzaConfig(cluster, node);
    inst.writeConfig(this.clusterSettings(cluster, node, true));
  }

  async startNode(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, node: NodeRecord, o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<RunningInfo> {
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
  async ensureReplicationRole(cluster: ClusterRecord, primary: NodeRecord, secrets: ClusterSecrets): Promise<void> {
    const inst = this.instance(cluster, primary);
    const exists = await inst.query<{ n: number }>('select count(*)::int as n from pg_roles where rolname = $1', [REPLICATION_ROLE]);
    const verb = exists[0]?.n ? 'alter' : 'create';
    await inst.query(`${verb} role ${ident(REPLICATION_ROLE)} with nosuperuser replication login password ${literal(scramVerifier(secrets.replPassword))}`);
  }

  /**
   * The administrator (D7, D32): a managed service's admin without host access, after RDS's
   * `rds_superuser` and Cloud SQL's `cloudsqlsuperuser`, fitted to PostgreSQL 15. Not a
   * superuser and `NOCREATEROLE` (on 15 a CREATEROLE role can grant itself
   * pg_execute_server_program); reads and writes every table, monitors, ends other sessions,
   * checkpoints, switches WAL, creates databases and, in `postgres`, objects in `public`
   * (and trusted extensions there). Idempotent: an older superuser admin is demoted.
   */
  async ensureAdmin(cluster: ClusterRecord, primary: NodeRecord, user: string, password: string): Promise<void> {
    const inst = this.instance(cluster, primary);
    const exists = await inst.query<{ n: number }>('select count(*)::int as n from pg_roles where rolname = $1', [user]);
    const verb = exists[0]?.n ? 'alter' : 'create';
    await inst.query(`${verb} role ${ident(user)} with ${ADMIN_ATTRIBUTES} password ${literal(scramVerifier(password))}`);
    await this.grantAdmin(cluster, primary, user);
  }

  /** The administrator's attributes, roles and privileges of D32 (not its password); idempotent. */
  async grantAdmin(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord, user: string): Promise<void> {
    const inst = this.instance(cluster, primary);
    await inst.query(`alter role ${ident(user)} with ${ADMIN_ATTRIBUTES}`);
    await inst.query(`grant ${ADMIN_ROLE_LIST} to ${ident(user)}`);
    await inst.query(`revoke ${FORBIDDEN_ROLE_LIST} from ${ident(user)}`);
    await inst.query(`grant create on database postgres to ${ident(user)}`);
    await inst.query(`grant create on schema public to ${ident(user)}`);
    await inst.query(`grant execute on function pg_catalog.pg_switch_wal() to ${ident(user)}`);
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
  async cleanRestoredCluster(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord): Promise<string[]> {
    const inst = this.instance(cluster, primary);
    const done: string[] = [];
    const roles = await inst.query<{ name: string; repl: boolean }>(
      `select rolname as name, rolreplication as repl from pg_roles
        where oid <> 10 and rolname !~ '^pg_' and (rolsuper or rolcreaterole or rolbypassrls or (rolreplication and rolname <> $1))`, [REPLICATION_ROLE]);
    for (const r of roles) {
      if (r.name === REPLICATION_ROLE) await inst.query(`alter role ${ident(r.name)} nosuperuser nocreaterole nobypassrls`);
      else await inst.query(`alter role ${ident(r.name)} nosuperuser nocreaterole nobypassrls noreplication`);
      done.push(`role ${r.name} demoted`);
    }
    const members = await inst.query<{ role: string; member: string }>(
      `select r.rolname as role, m.rolname as member from pg_auth_members a join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member
        where r.rolname = any($1) and m.oid <> 10`, [FORBIDDEN_ROLES]);
    for (const m of members) {
      await inst.query(`revoke ${ident(m.role)} from ${ident(m.member)} cascade`);
      done.push(`${m.role} revoked from ${m.member}`);
    }
    const dbs = await inst.query<{ d: string }>(`select datname as d from pg_database where datallowconn order by 1`);
    for (const { d } of dbs) {
      for (const t of await inst.query<{ n: string }>(`select evtname as n from pg_event_trigger`, [], d)) {
        await inst.query(`drop event trigger ${ident(t.n)}`, [], d);
        done.push(`event trigger ${t.n} dropped in ${d}`);
      }
      const fns = await inst.query<{ f: string }>(
        `select p.oid::regprocedure::text as f from pg_proc p join pg_language l on l.oid = p.prolang
          where not l.lanpltrusted and l.lanname <> 'internal' and p.pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
            and not exists (select 1 from pg_depend e where e.classid = 'pg_proc'::regclass and e.objid = p.oid and e.deptype = 'e')`, [], d);
      // `proc` is PostgreSQL's own regprocedure output: a signature with every name quoted as needed.
      for (const { f: proc } of fns) {
        await inst.query(`drop function ${proc} cascade`, [], d);
        done.push(`function ${proc} (untrusted language) dropped in ${d}`);
      }
    }
    await inst.query('alter system reset all');
    if (done.length) this.log.warn('restored copy cleaned of what a tenant superuser could have left (D32)', { clusterId: cluster.id, changes: done });
    return done;
  }

  async setAdminPassword(cluster: ClusterRecord, primary: NodeRecord, user: string, password: string): Promise<void> {
    await this.instance(cluster, primary).query(`alter role ${ident(user)} with password ${literal(scramVerifier(password))}`);
  }

  /** Create the stanza and prove archiving works (`pgbackrest check`). */
  async enableArchiving(cluster: ClusterRecord, primary: NodeRecord, o: { signal?: AbortSignal }): Promise<void> {
    const t = this.writeStanzaConfig(cluster, primary);
    const lock = this.lockFile(cluster.id);
    await this.backrest.stanzaCreate(t, { lockFile: lock, ...(o.signal ? { signal: o.signal } : {}) });
    await this.backrest.check(t, { lockFile: lock, ...(o.signal ? { signal: o.signal } : {}) });
  }

  /**
   * Build a hot standby with `pg_basebackup -X stream -c fast -R -C -S <slot>` (D5), measuring
   * progress from the primary's pg_stat_progress_basebackup. Idempotent: a finished copy is
   * kept; a partial one (crash mid-copy) and its slot are removed and the copy starts over.
   */
  async buildStandby(cluster: ClusterRecord, primary: NodeRecord, node: NodeRecord, secrets: ClusterSecrets, o: { signal?: AbortSignal; onProgress?: OnProgress }): Promise<{ bytes: number }> {
    const nodeDir = this.nodeDir(cluster.id, node.ordinal);
    const doneMarker = join(nodeDir, 'copy.done');
    const inst = this.instance(cluster, node);
    if (existsSync(doneMarker) && inst.isInitialized()) {
      return { bytes: Number(readFileSafe(doneMarker) ?? 0) || 0 };
    }
    if (inst.status()) await inst.stop({ mode: 'immediate' });
    await removeTree(node.dataDir);
    this.prepareNodeDir(cluster, node.ordinal);
    // pg_basebackup fills an empty directory the PostgreSQL user owns (its parent is root's).
    mkdirOwned(node.dataDir, inst.spec.os, 0o700);
    const slot = slotNameFor(node.ordinal);
    const p = this.instance(cluster, primary);
    await this.dropSlotIfInactive(cluster, primary, slot);
    // D32: the password reaches pg_basebackup and the standby's walreceiver through a passfile
    // (`-R` writes `passfile=` into primary_conninfo), never as a setting anyone can read.
    const passfile = this.writeReplicationPassfile(cluster, node.ordinal, secrets);
    const conninfo = `host=${primary.host} port=${primary.port} user=${REPLICATION_ROLE} application_name=${appNameFor(node.ordinal)} passfile=${passfile}`;
    const tool = startTool({
      cmd: join(this.bins.binDir, 'pg_basebackup'),
      args: ['-d', conninfo, '-D', node.dataDir, '-X', 'stream', '-c', 'fast', '-R', '-C', '-S', slot, '-P', '--no-password'],
      env: baseEnv(), runAs: inst.spec.os, lockFile: this.lockFile(cluster.id), logger: this.log,
      label: 'pg_basebackup', timeoutMs: 6 * 60 * 60_000, idleTimeoutMs: 5 * 60_000, waitingFor: 'data from the primary',
      ...(o.signal ? { signal: o.signal } : {}),
    });
    let last = -1;
    let total = 0;
    const tick = (): void => {
      void p.query<{ streamed: string; total: string; phase: string }>(
        `select backup_streamed::text as streamed, backup_total::text as total, phase from pg_stat_progress_basebackup where pid in (select pid from pg_stat_replication where application_name = $1)`,
        [appNameFor(node.ordinal)], 'postgres', 2000,
      ).then((rows) => {
        const r = rows[0];
        if (!r) return;
        const done = Number(r.streamed);
        total = Number(r.total) || total;
        if (done !== last) {
          last = done;
          tool.touch();
          o.onProgress?.({ source: 'pg_stat_progress_basebackup', bytesDone: done, bytesTotal: total || null, percent: total ? (100 * done) / total : null, data: { phase: r.phase } });
        }
      }).catch(() => {});
    };
    await whilePolling(tool.done, 500, tick);
    const bytes = inst.dataDirSize();
    o.onProgress?.({ source: 'pg_basebackup', bytesDone: total || bytes, bytesTotal: total || bytes, percent: 100, data: { phase: 'done' } });
    // The copy carries the primary's node file; this node gets its own address before it starts.
    inst.writeNodeConfig();
    writeFileSafe(doneMarker, String(total || bytes), serviceOwner(), 0o644);
    return { bytes: total || bytes };
  }

  /** The replication role's passfile of a node (the PostgreSQL user's, 0600, in the node's root-owned directory). */
  writeReplicationPassfile(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, ordinal: number, secrets: ClusterSecrets): string {
    const file = join(this.nodeDir(cluster.id, ordinal), 'replication.pgpass');
    const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
    writeFileSafe(file, `*:*:*:${esc(REPLICATION_ROLE)}:${esc(secrets.replPassword)}\n`, ownedBy(this.projectUser(cluster.projectId)), 0o600);
    return file;
  }

  async dropSlotIfInactive(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord, slot: string): Promise<void> {
    const inst = this.instance(cluster, primary);
    const rows = await inst.query<{ active: boolean; pid: number | null }>('select active, active_pid as pid from pg_replication_slots where slot_name = $1', [slot]);
    const r = rows[0];
    if (!r) return;
    if (r.active && r.pid) await inst.query('select pg_terminate_backend($1)', [r.pid]);
    for (let i = 0; i < 50; i++) {
      try {
        await inst.query('select pg_drop_replication_slot($1) where exists (select 1 from pg_replication_slots where slot_name = $1)', [slot]);
        return;
      } catch (e) {
        if (!/is active/.test((e as Error).message)) throw e;
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  }

  /** The replication slots on the primary (D5: one per standby; `doctor` and scale-in read them). */
  async replicationSlots(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord): Promise<{ name: string; active: boolean }[]> {
    return this.instance(cluster, primary).query<{ name: string; active: boolean }>('select slot_name as name, active from pg_replication_slots order by 1');
  }

  /** Bytes of the primary's databases: about what a base backup copies (its WAL comes on top). */
  async databaseBytes(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord): Promise<number> {
    const r = await this.instance(cluster, primary).query<{ n: string }>('select coalesce(sum(pg_database_size(datname)), 0)::text as n from pg_database');
    return Number(r[0]?.n ?? 0);
  }

  /**
   * Take a standby out for good (scale-in; undo of a scale-out): stop it (`mode`, through
   * postmaster.pid and through the PID the store recorded, so a postmaster whose pid file is
   * gone is found too), drop its slot on the primary, remove its files and socket directory.
   * Idempotent. Removes what it can; then throws, naming what is left and how to remove it,
   * when the slot could not be dropped (the primary is down) or the process would not die.
   */
  async removeStandby(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord | null, node: NodeRecord, mode: ShutdownMode): Promise<void> {
    if (node.role !== 'standby' || node.ordinal === 1) throw new AppError('ENGINE_NODE_FAILED', { args: [node.host, 'is not a standby; a primary is never removed'] });
    const left: string[] = [];
    await this.stopNode(cluster, node, mode);
    if (node.pid !== null && isProcessAlive(node.pid, node.pidStart)) {
      signalProcess(node.pid, mode === 'immediate' ? 'SIGQUIT' : 'SIGINT');
      for (let i = 0; i < 500 && isProcessAlive(node.pid, node.pidStart); i++) await new Promise((r) => setTimeout(r, 20));
      if (isProcessAlive(node.pid, node.pidStart)) signalProcess(node.pid, 'SIGKILL');
      for (let i = 0; i < 250 && isProcessAlive(node.pid, node.pidStart); i++) await new Promise((r) => setTimeout(r, 20));
      if (isProcessAlive(node.pid, node.pidStart)) left.push(`its postmaster (PID ${node.pid}) does not exit: kill -9 ${node.pid}`);
    }
    // A copy stopped by an abort (pg_basebackup and its wrappers) may still be exiting; its
    // files and its slot are removed once nothing works under the node's directory.
    const nodeDir = this.nodeDir(cluster.id, node.ordinal);
    const busy = await waitNoProcessUnder(`${nodeDir}/`, 15_000);
    if (busy.length) left.push(`processes still work under ${nodeDir}: ${busy.map((p) => `PID ${p}`).join(', ')} (kill them)`);
    const slot = slotNameFor(node.ordinal);
    if (!primary || !this.nodeStatus(cluster, primary)) {
      left.push(`replication slot ${slot} may remain on the primary, which is not running: start the cluster, then run select pg_drop_replication_slot('${slot}') on the primary`);
    } else {
      try {
        await this.dropSlotIfInactive(cluster, primary, slot);
      } catch (e) {
        left.push(`replication slot ${slot} could not be dropped (${(e as Error).message}): run select pg_drop_replication_slot('${slot}') on the primary`);
      }
    }
    if (left.length === 0 || (!this.nodeStatus(cluster, node) && busy.length === 0)) {
      await this.removeNodeFiles(cluster, node.ordinal);
      await removeTree(this.nodePaths(cluster.id, node.ordinal).sockDir);
    } else {
      left.push(`its files under ${this.nodeDir(cluster.id, node.ordinal)} were kept because it still runs`);
    }
    if (left.length) throw new AppError('ENGINE_NODE_FAILED', { args: [node.host, `not completely removed: ${left.join('; ')}`] });
  }

  /** The primary's current WAL position. */
  async currentLsn(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord): Promise<string> {
    const r = await this.instance(cluster, primary).query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    return r[0]!.lsn;
  }

  /** A standby's replication state as the primary sees it, with its lag behind `targetLsn` in bytes. */
  async replicationState(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord, ordinal: number, targetLsn: string): Promise<{ state: string | null; replayLsn: string | null; lagBytes: number | null }> {
    const r = await this.instance(cluster, primary).query<{ state: string; replay: string | null; lag: string | null }>(
      `select state, replay_lsn::text as replay, pg_wal_lsn_diff($2::pg_lsn, replay_lsn)::text as lag from pg_stat_replication where application_name = $1 order by backend_start desc limit 1`,
      [appNameFor(ordinal), targetLsn],
    );
    const row = r[0];
    if (!row) return { state: null, replayLsn: null, lagBytes: null };
    return { state: row.state, replayLsn: row.replay, lagBytes: row.lag === null ? null : Math.max(0, Number(row.lag)) };
  }

  /**
   * Wait until a standby has caught up in D5's sense: `streaming`, and `replay_lsn` at or past
   * the primary's LSN read when the wait began. Reports the falling lag.
   */
  async waitCaughtUp(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord, ordinal: number, o: { signal?: AbortSignal; timeoutMs?: number; onProgress?: OnProgress; targetLsn?: string; standby?: NodeRecord }): Promise<void> {
    const target = o.targetLsn ?? (await this.currentLsn(cluster, primary));
    const deadline = Date.now() + (o.timeoutMs ?? 10 * 60_000);
    let first: number | null = null;
    let lastLag: number | null = -1;
    for (;;) {
      if (o.signal?.aborted) throw o.signal.reason as Error;
      // A standby that stopped running never catches up: say so now rather than at the deadline.
      if (o.standby) this.assertRunning(cluster, o.standby, 'while catching up with the primary');
      const st = await this.replicationState(cluster, primary, ordinal, target);
      if (st.lagBytes !== null && first === null) first = Math.max(st.lagBytes, 1);
      if (st.lagBytes !== lastLag) {
        lastLag = st.lagBytes;
        const done = first !== null && st.lagBytes !== null ? first - st.lagBytes : null;
        o.onProgress?.({ source: 'pg_stat_replication', bytesDone: done, bytesTotal: first, percent: first && done !== null ? (100 * done) / first : null, data: { state: st.state, lagBytes: st.lagBytes, targetLsn: target, replayLsn: st.replayLsn } });
      }
      if (st.state === 'streaming' && st.lagBytes === 0) return;
      if (Date.now() > deadline) {
        throw new AppError('STEP_TIMEOUT', { args: [`catch up node ${ordinal}`, Math.round((o.timeoutMs ?? 600_000) / 1000), `node ${ordinal} to stream and replay up to ${target} (state ${st.state ?? 'not connected'}, lag ${st.lagBytes ?? '?'} bytes)`] });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Throws ENGINE_NODE_FAILED, with the end of its log, when the node's postmaster is not running. */
  assertRunning(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, node: NodeRecord, when: string): void {
    const inst = this.instance(cluster, node);
    if (!inst.status()) throw new AppError('ENGINE_NODE_FAILED', { args: [`${node.host}:${node.port}`, `PostgreSQL stopped running ${when}; the end of its log: ${inst.logTail(3)}`] });
  }

  /** Log in as the administrator over TCP at the primary's endpoint (what a user does). */
  async checkAdminLogin(primary: NodeRecord, user: string, password: string): Promise<void> {
    const { default: pg } = await import('pg');
    const c = new pg.Client({ host: primary.host, port: primary.port, user, password, database: 'postgres', connectionTimeoutMillis: 10_000 });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.query('select 1');
    } catch (e) {
      throw new AppError('VERIFY_FAILED', { args: [`the administrator cannot log in at ${primary.host}:${primary.port}: ${(e as Error).message}`] });
    } finally {
      await c.end().catch(() => {});
    }
  }

  /** Archiving state (D3): failures since the last success. */
  async archiverState(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord): Promise<{ failing: boolean; lastFailed: string | null; lastArchived: string | null }> {
    const r = await this.instance(cluster, primary).query<{ failed: string | null; archived: string | null; failing: boolean }>(
      `select last_failed_wal as failed, last_archived_wal as archived,
              coalesce(last_failed_time > coalesce(last_archived_time, 'epoch'::timestamptz), false) as failing from pg_stat_archiver`,
    );
    const row = r[0];
    return { failing: !!row?.failing, lastFailed: row?.failed ?? null, lastArchived: row?.archived ?? null };
  }

  /**
   * Remove a stanza and everything in the repository under it: `stop`, then
   * `stanza-delete` (D16: pgBackRest never expires a stanza's last full, so this is the only way).
   */
  async removeStanza(cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>, primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>, o: { signal?: AbortSignal; lockFile?: string } = {}): Promise<void> {
    if (!(await this.backrest.stanzaExists(cluster.stanza)) && !(await this.backrest.archiveExists(cluster.stanza))) {
      await this.backrest.removeStanzaFiles(cluster.stanza);
      return;
    }
    const t = this.writeStanzaConfig(cluster, primary);
    const lockFile = o.lockFile ?? this.lockFile(cluster.id);
    const opts = { lockFile, ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 300_000 };
    await this.backrest.run(t, 'stop', opts);
    await this.backrest.run(t, 'stanza-delete', { ...opts, extra: ['--force'] });
    await this.backrest.removeStanzaFiles(cluster.stanza);
  }

  // ------------------------------------------------------------------ temporary instances (D4)
  /** A temporary instance (table restore, restore checks): its own directory, a unix socket only; run by its project's user (a project id) or the given one. */
  tempInstance(id: string, owner: string | OsUser): PgInstance {
    const dir = join(this.settings.dataDir, 'tmp', id);
    return new PgInstance({ os: typeof owner === 'string' ? this.projectUser(owner) : owner, dataDir: join(dir, 'data'), sockDir: join(this.socketRoot(), `t${id.slice(0, 13)}`), host: '', port: 30999, logFile: join(dir, 'postgres.log') }, this.bins, this.log);
  }

  /**
   * Prepare a restored copy for its first start as a temporary instance: no TCP listener, no
   * archiving, no replication, small memory (D4: a temporary instance never archives).
   */
  prepareTempInstance(inst: PgInstance): void {
    this.prepareTempDir(inst);
    // Recovery refuses settings lower than the source's (max_connections, max_wal_senders,
    // max_replication_slots…): these match the largest node type and the cluster settings.
    inst.writeConfig({
      shared_buffers: '32MB', max_connections: MAX_NODE_CONNECTIONS, work_mem: '4MB', maintenance_work_mem: '64MB', archive_mode: 'off', archive_command: '',
      wal_level: 'replica', max_wal_senders: 40, max_replication_slots: 40, hot_standby: 'on', log_destination: 'stderr', logging_collector: 'off',
      log_line_prefix: '%m [%p] ', timezone: 'UTC', log_timezone: 'UTC', ...(this.settings.unsafeNoFsync ? { fsync: 'off', synchronous_commit: 'off' } : {}),
    });
  }

  /**
   * A temporary instance's directory (root's, D32) with its log (root's) and, beside the
   * data directory, `work/`: the PostgreSQL user's, where its dumps and lists are written.
   */
  prepareTempDir(inst: PgInstance): string {
    const dir = join(inst.dataDir, '..');
    mkdirSafe(dir, serviceOwner(), 0o711);
    if (!existsSync(inst.spec.logFile)) writeFileSafe(inst.spec.logFile, '', serviceOwner(), 0o640);
    const work = join(dir, 'work');
    mkdirOwned(work, inst.spec.os, 0o750);
    return work;
  }

  /** Stop a temporary instance (immediate: its data is thrown away) and remove its files. */
  async removeTempInstance(id: string, owner: string | OsUser): Promise<void> {
    const inst = this.tempInstance(id, owner);
    await inst.stop({ mode: 'immediate' });
    await removeTree(join(this.settings.dataDir, 'tmp', id));
    await removeTree(inst.spec.sockDir);
  }

  /** Remove a node's files (the server must be stopped). */
  async removeNodeFiles(cluster: Pick<ClusterRecord, 'id' | 'projectId'>, ordinal: number): Promise<void> {
    // A child process: a data directory takes seconds to remove, and the event loop renews leases.
    await removeTree(this.nodeDir(cluster.id, ordinal));
  }

  /** Remove everything of a cluster on this host but its repository. */
  async removeClusterFiles(clusterId: string): Promise<void> {
    await removeTree(this.clusterDir(clusterId));
    for (const d of readdirSafe(this.socketRoot())) if (d.startsWith(clusterId.slice(0, 13))) await removeTree(join(this.socketRoot(), d));
    rmSync(this.lockFile(clusterId), { force: true });
  }

  /** Clusters that have files here (for doctor and the leak checks). */
  clusterDirs(): string[] {
    try {
      return readdirSync(join(this.settings.dataDir, 'clusters'));
    } catch {
      return [];
    }
  }
}

/** PIDs of live processes whose command line mentions `path`. */
function processesMentioning(path: string): number[] {
  const out: number[] = [];
  for (const name of readdirSafe('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(path)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Wait until no live process mentions `path`; returns the ones left after `timeoutMs`. */
async function waitNoProcessUnder(path: string, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = processesMentioning(path);
    if (pids.length === 0 || Date.now() > deadline) return pids;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readdirSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

/** Lock files are root's (0644, in root's 0700 directory); tools get them as descriptors (D32). */
function ensureLockFile(path: string): void {
  if (existsSync(path)) return;
  writeFileSafe(path, '', serviceOwner(), 0o644);
}

/** Permission bits of a path, or null when it cannot be read. */
function modeOf(p: string): number | null {
  try {
    return statSync(p).mode & 0o777;
  } catch {
    return null;
  }
}
