/* Over 400 lines: a fake of the whole DataPlane interface (one short method per intention) for the runner's and the steps' tests. */
/**
 * A fake data plane for step and runner tests (test/helpers/step-env.ts): it implements the
 * `DataPlane` interface of D22, starts no process and touches no cluster. Every asynchronous
 * intention it is asked for is recorded, in order, with its arguments and how it ended; a test
 * scripts what the next calls of an intention do: fail, hang until the step is aborted, or
 * report progress samples first (through the intention's `onProgress`, one per macrotask, as a
 * running tool would). It keeps a small world so that steps read back what they did: members
 * it started run (with a PID) until stopped, members it made hold data, stanzas it made exist,
 * backups it took are listed. The step lock of D1 is an in-process lock per lock file that
 * honours the runner's wait limit, so a held lock times a step out the way `flock` does.
 *
 * An intention the interface gains is added here too (the type check says so).
 */
import type { SessionRow, TableStatRow } from '../../src/domain/activity.js';
import type { MemberReading } from '../../src/domain/metrics.js';
import { join } from 'node:path';
import type {
  ArchiverState,
  BackupSetInfo,
  BackupSetRef,
  ClusterRef,
  ClusterSecrets,
  DataPlane,
  HeldLock,
  HostCapacity,
  MemberProcess,
  ProgressSampleIn,
  ReplicationState,
  RunOptions,
  SnapshotCopyWork,
  StanzaCluster,
  StopMode,
} from '../../src/dataplane/data-plane.js';
import type { RepositoryRef } from '../../src/dataplane/backup-repository.js';
import type { ClusterRecord, FineGrainedDetail, NodeRecord, OutsideForeignKey, SchemaInfo } from '../../src/domain/records.js';
import type { DbRoleCreate, DbRoleRow } from '../../src/domain/db-users.js';
import type { OmRoleRow } from '../../src/domain/om-user.js';
import type { AclRow, AuthorityPlan, ObjectScope, ResolvedObject, SchemaSpaceRow } from '../../src/domain/db-authority.js';
import type { PgSettingRow } from '../../src/domain/parameters.js';
import { scratchDatabaseName, type TableRef } from '../../src/domain/table-names.js';
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
} from '../../src/dataplane/logical-plane.js';
import { AppError } from '../../src/errors/app-error.js';

/** What one call of an intention does; a call with nothing scripted succeeds at once (as `{ ok: true }` says). */
export type IntentionScript =
  { ok: true } | { fail: Error } | { hang: true } | { progress: ProgressSampleIn[]; then?: 'return' | 'hang' | { fail: Error } };

export interface RecordedIntention {
  name: string;
  args: unknown[];
  /** `running` until it settles; `aborted` when its step's signal ended it */
  outcome: 'running' | 'done' | 'failed' | 'aborted';
  /** samples it reported */
  samples: ProgressSampleIn[];
}

const member = (cluster: ClusterRef, ordinal: number): string => `${cluster.id}/${ordinal}`;
const tableKey = (cluster: ClusterRef, database: string, t: TableRef): string => `${cluster.id}/${database}/${t.schema}.${t.name}`;

export class FakeDataPlane implements DataPlane {
  readonly engineName = 'local' as const;
  readonly memberOverheadBytes = 0;
  readonly intentions: RecordedIntention[] = [];
  private readonly scripts = new Map<string, IntentionScript[]>();
  private readonly locks = new Map<string, { release: () => void; released: Promise<void> }>();
  /** complete logical dumps, `<stanza>/<snapshot id>` */
  readonly dumps = new Set<string>();
  /** tables in clusters' databases, `<cluster id>/<database>/<schema>.<name>` → OID (imports add theirs) */
  readonly tables = new Map<string, number>();
  /** schemas that do not exist (every other one does), `<cluster id>/<database>/<schema>` */
  readonly missingSchemas = new Set<string>();
  private nextOid = 40000;
  /** members running now, with their process */
  readonly running = new Map<string, MemberProcess>();
  /** members holding a copy of their cluster's data */
  readonly withData = new Set<string>();
  /** stanzas and their backup sets, oldest first */
  readonly stanzas = new Map<string, BackupSetInfo[]>();
  /** snapshot copies' temporary instances (their task ids): restored, and running once started */
  readonly copySources = new Map<string, 'restored' | 'running'>();
  private nextPid = 40_000;

  constructor(readonly dataDir: string) {}

  /** What the next calls of `name` do, one script per call, in order. */
  script(name: string, ...calls: IntentionScript[]): this {
    this.scripts.set(name, [...(this.scripts.get(name) ?? []), ...calls]);
    return this;
  }

  /** Forget the intentions recorded and the scripts left (between tests sharing one fake). */
  reset(): void {
    this.intentions.length = 0;
    this.scripts.clear();
  }

  /** The names of the intentions asked for so far, in order. */
  names(): string[] {
    return this.intentions.map((i) => i.name);
  }

  /** How many step locks are held now. */
  get locksHeld(): number {
    return this.locks.size;
  }

  /**
   * Carry out an intention: record it, then do what its script says, then `effect` (the
   * change to the fake's world, when it succeeds). Long intentions report progress through
   * `o.onProgress` and stop when `o.signal` aborts (rejecting with its reason).
   */
  async perform<T>(
    name: string,
    args: unknown[],
    o: Pick<RunOptions, 'signal' | 'onProgress'> = {},
    effect: () => T = () => undefined as T,
  ): Promise<T> {
    const rec: RecordedIntention = { name, args, outcome: 'running', samples: [] };
    this.intentions.push(rec);
    const script = this.scripts.get(name)?.shift();
    try {
      await macrotask();
      throwIfAborted(o.signal);
      if (script && 'fail' in script) throw script.fail;
      if (script && 'hang' in script) await untilAborted(o.signal);
      if (script && 'progress' in script) {
        for (const s of script.progress) {
          throwIfAborted(o.signal);
          rec.samples.push(s);
          o.onProgress?.(s);
          await macrotask();
        }
        throwIfAborted(o.signal);
        if (script.then === 'hang') await untilAborted(o.signal);
        else if (script.then && typeof script.then === 'object') throw script.then.fail;
      }
      const result = effect();
      rec.outcome = 'done';
      return result;
    } catch (e) {
      rec.outcome = o.signal?.aborted ? 'aborted' : 'failed';
      throw e;
    }
  }

  // ------------------------------------------------------------------ host

  prepareHost(): void {}
  superviseHost(): Promise<string[]> {
    return this.perform('superviseHost', [], {}, () => []);
  }
  stopHostServices(): Promise<number> {
    return this.perform('stopHostServices', [], {}, () => 0);
  }
  capacity(): HostCapacity {
    return { memAvailableBytes: 64e9, dataDiskFreeBytes: 1e12, repoDiskFreeBytes: 1e12 };
  }
  memberHost(subnetIndex: number, ordinal: number): string {
    return `127.0.${subnetIndex}.${ordinal}`;
  }
  replicaSlotName(ordinal: number): string {
    return `dwsbox_node${ordinal}`;
  }
  memberDataDir(clusterId: string, ordinal: number): string {
    return join(this.dataDir, 'clusters', clusterId, `node${ordinal}`, 'data');
  }
  wildcardListener(): boolean {
    return false;
  }
  isAddressFree(host: string, port: number): Promise<boolean> {
    return this.perform('isAddressFree', [host, port], {}, () => true);
  }
  /** The runner's lease check before each process the fake "starts" (an intention it performs). */
  private readonly guards = new WeakMap<AbortSignal, () => void>();
  guardWork(signal: AbortSignal, check: () => void): void {
    this.guards.set(signal, check);
  }
  stopAllWork(): void {
    this.intentions.push({ name: 'stopAllWork', args: [], outcome: 'done', samples: [] });
  }
  lockFile(lockKey: string): string {
    return join(this.dataDir, 'locks', `${lockKey}.lock`);
  }

  /** The step lock (D1): waits for the holder up to `timeoutMs`, then fails as `flock` would (STEP_TIMEOUT). */
  async lockForStep(lockFile: string, o: { signal?: AbortSignal; timeoutMs?: number; label: string }): Promise<HeldLock> {
    const deadline = o.timeoutMs === undefined ? null : Date.now() + o.timeoutMs;
    for (let held = this.locks.get(lockFile); held; held = this.locks.get(lockFile)) {
      const left = deadline === null ? null : deadline - Date.now();
      if (left !== null && left <= 0) {
        throw new AppError('STEP_TIMEOUT', {
          args: [o.label, Math.max(0.1, (o.timeoutMs ?? 0) / 1000), `the lock ${lockFile} (another process is working on it)`],
        });
      }
      await Promise.race([held.released, ...(left === null ? [] : [delay(left)])]);
      throwIfAborted(o.signal);
    }
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    this.locks.set(lockFile, { release, released });
    let done = false;
    return {
      release: async () => {
        if (done) return;
        done = true;
        this.locks.delete(lockFile);
        release();
      },
    };
  }

  // ------------------------------------------------------------------ tenants (D32)

  ensureProject(projectId: string, o: { signal?: AbortSignal } = {}): Promise<void> {
    return this.perform('ensureProject', [projectId], o);
  }
  prepareCluster(): void {}
  removeClusterFiles(clusterId: string): Promise<void> {
    return this.perform('removeClusterFiles', [clusterId], {}, () => {
      for (const m of [...this.withData]) if (m.startsWith(`${clusterId}/`)) this.withData.delete(m);
    });
  }
  removeMemberFiles(cluster: ClusterRef, ordinal: number): Promise<void> {
    return this.perform('removeMemberFiles', [cluster.id, ordinal], {}, () => {
      this.withData.delete(member(cluster, ordinal));
    });
  }

  // ------------------------------------------------------------------ members

  initPrimary(cluster: ClusterRecord, primary: NodeRecord, o: RunOptions = {}): Promise<void> {
    return this.perform('initPrimary', [cluster.id, primary.ordinal], o, () => {
      this.withData.add(member(cluster, primary.ordinal));
    });
  }
  startMember(cluster: ClusterRef, m: NodeRecord, o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<MemberProcess> {
    return this.perform('startMember', [cluster.id, m.ordinal], o, () => {
      const key = member(cluster, m.ordinal);
      const proc = this.running.get(key) ?? { pid: this.nextPid++, startTime: 1 };
      this.running.set(key, proc);
      return proc;
    });
  }
  stopMember(cluster: ClusterRef, m: NodeRecord, mode: StopMode = 'fast'): Promise<void> {
    return this.perform('stopMember', [cluster.id, m.ordinal, mode], {}, () => {
      this.running.delete(member(cluster, m.ordinal));
    });
  }
  memberStatus(cluster: ClusterRef, m: NodeRecord): MemberProcess | null {
    return this.running.get(member(cluster, m.ordinal)) ?? null;
  }
  assertRunning(cluster: ClusterRef, m: NodeRecord, when: string): void {
    if (!this.running.has(member(cluster, m.ordinal)))
      throw new AppError('ENGINE_NODE_FAILED', { args: [`${m.host}:${m.port}`, `PostgreSQL stopped running ${when}`] });
  }
  memberHasData(cluster: ClusterRef, m: NodeRecord): boolean {
    return this.withData.has(member(cluster, m.ordinal));
  }
  buildReplica(
    cluster: ClusterRecord,
    primary: NodeRecord,
    m: NodeRecord,
    _secrets: ClusterSecrets,
    o: RunOptions = {},
  ): Promise<{ bytes: number }> {
    return this.perform('buildReplica', [cluster.id, primary.ordinal, m.ordinal], o, () => {
      this.withData.add(member(cluster, m.ordinal));
      return { bytes: 1_000_000 };
    });
  }
  removeReplica(cluster: ClusterRef, primary: NodeRecord | null, m: NodeRecord, mode: StopMode): Promise<void> {
    return this.perform('removeReplica', [cluster.id, primary?.ordinal ?? null, m.ordinal, mode], {}, () => {
      this.running.delete(member(cluster, m.ordinal));
      this.withData.delete(member(cluster, m.ordinal));
    });
  }
  dropReplicaSlot(cluster: ClusterRef, primary: NodeRecord, ordinal: number): Promise<void> {
    return this.perform('dropReplicaSlot', [cluster.id, primary.ordinal, ordinal]);
  }
  replicationSlots(cluster: ClusterRef, primary: NodeRecord): Promise<{ name: string; active: boolean; ordinal: number | null }[]> {
    return this.perform('replicationSlots', [cluster.id, primary.ordinal], {}, () =>
      [...this.withData]
        .filter((m) => m.startsWith(`${cluster.id}/`))
        .map((m) => Number(m.split('/')[1]))
        .filter((n) => n !== primary.ordinal)
        .map((n) => ({ name: this.replicaSlotName(n), active: this.running.has(member(cluster, n)), ordinal: n })),
    );
  }

  // ------------------------------------------------------------------ roles

  ensureReplicationRole(cluster: ClusterRecord, primary: NodeRecord): Promise<void> {
    return this.perform('ensureReplicationRole', [cluster.id, primary.ordinal]);
  }
  ensureAdmin(cluster: ClusterRecord, primary: NodeRecord, user: string): Promise<void> {
    return this.perform('ensureAdmin', [cluster.id, primary.ordinal, user]);
  }
  setAdminPassword(cluster: ClusterRecord, primary: NodeRecord, user: string): Promise<void> {
    return this.perform('setAdminPassword', [cluster.id, primary.ordinal, user]);
  }
  checkAdminLogin(primary: NodeRecord, user: string): Promise<void> {
    return this.perform('checkAdminLogin', [primary.ordinal, user]);
  }
  dbRoles(cluster: ClusterRef, primary: NodeRecord, admin: string): Promise<DbRoleRow[]> {
    return this.perform('dbRoles', [cluster.id, primary.ordinal, admin], {}, () => []);
  }
  createDbRole(cluster: ClusterRef, primary: NodeRecord, role: DbRoleCreate): Promise<void> {
    return this.perform('createDbRole', [cluster.id, primary.ordinal, role.name]);
  }
  alterDbRole(cluster: ClusterRef, primary: NodeRecord, name: string): Promise<void> {
    return this.perform('alterDbRole', [cluster.id, primary.ordinal, name]);
  }
  dropDbRole(cluster: ClusterRef, primary: NodeRecord, name: string, cascade: boolean): Promise<void> {
    return this.perform('dropDbRole', [cluster.id, primary.ordinal, name, cascade]);
  }
  roleOids(cluster: ClusterRef, primary: NodeRecord): Promise<{ name: string; oid: number }[]> {
    return this.perform('roleOids', [cluster.id, primary.ordinal], {}, () => []);
  }
  createSyncedRole(cluster: ClusterRef, primary: NodeRecord, name: string): Promise<number> {
    return this.perform('createSyncedRole', [cluster.id, primary.ordinal, name], {}, () => 0);
  }
  commentSyncedRole(cluster: ClusterRef, primary: NodeRecord, name: string, oid: number): Promise<boolean> {
    return this.perform('commentSyncedRole', [cluster.id, primary.ordinal, name, oid], {}, () => true);
  }
  dropSyncedRole(cluster: ClusterRef, primary: NodeRecord, name: string, oid: number, admin: string): Promise<boolean> {
    return this.perform('dropSyncedRole', [cluster.id, primary.ordinal, name, oid, admin], {}, () => true);
  }
  endRoleSessions(cluster: ClusterRef, member: NodeRecord, oid: number): Promise<number> {
    return this.perform('endRoleSessions', [cluster.id, member.ordinal, oid], {}, () => 0);
  }
  omRole(cluster: ClusterRef, primary: NodeRecord): Promise<OmRoleRow | null> {
    return this.perform('omRole', [cluster.id, primary.ordinal], {}, () => null);
  }
  enableOmRole(cluster: ClusterRef, primary: NodeRecord, admin: string): Promise<void> {
    return this.perform('enableOmRole', [cluster.id, primary.ordinal, admin]);
  }
  endOmSessions(cluster: ClusterRef, member: NodeRecord): Promise<void> {
    return this.perform('endOmSessions', [cluster.id, member.ordinal]);
  }
  memberSessions(cluster: ClusterRef, member: NodeRecord): Promise<SessionRow[]> {
    return this.perform('memberSessions', [cluster.id, member.ordinal], {}, () => []);
  }
  tableStatistics(cluster: ClusterRef, primary: NodeRecord): Promise<TableStatRow[]> {
    return this.perform('tableStatistics', [cluster.id, primary.ordinal], {}, () => []);
  }
  endExpiredOmSessions(cluster: ClusterRef, member: NodeRecord): Promise<number> {
    return this.perform('endExpiredOmSessions', [cluster.id, member.ordinal], {}, () => 0);
  }
  dropOmRole(cluster: ClusterRef, primary: NodeRecord, admin: string): Promise<void> {
    return this.perform('dropOmRole', [cluster.id, primary.ordinal, admin]);
  }
  setOmPassword(cluster: ClusterRef, primary: NodeRecord): Promise<OmRoleRow> {
    return this.perform('setOmPassword', [cluster.id, primary.ordinal], {}, () => ({ login: true, validUntilMs: null }));
  }
  /** what memberDiskBytes answers, by cluster id (tests set it) */
  diskBytes = new Map<string, number>();
  /** what memberReading answers, by `<cluster id>/<ordinal>` (tests set it; none: the member does not run) */
  readings = new Map<string, MemberReading>();
  memberReading(cluster: ClusterRef, member: NodeRecord, atMs: number): Promise<MemberReading | null> {
    const r = this.readings.get(`${cluster.id}/${member.ordinal}`);
    return Promise.resolve(r ? { ...r, atMs } : null);
  }
  memberDiskBytes(cluster: ClusterRef): Promise<number> {
    return Promise.resolve(this.diskBytes.get(cluster.id) ?? 0);
  }
  setReadOnly(cluster: ClusterRef, member: NodeRecord, on: boolean): Promise<boolean> {
    return this.perform('setReadOnly', [cluster.id, member.ordinal, on], {}, () => true);
  }
  resolveDbObjects(cluster: ClusterRef, primary: NodeRecord, scope: ObjectScope): Promise<ResolvedObject[]> {
    return this.perform('resolveDbObjects', [cluster.id, primary.ordinal, scope.type], {}, () => []);
  }
  applyAuthority(cluster: ClusterRef, primary: NodeRecord, plan: AuthorityPlan): Promise<string[]> {
    return this.perform('applyAuthority', [cluster.id, primary.ordinal, plan.type], {}, () => []);
  }
  objectAcls(cluster: ClusterRef, primary: NodeRecord, scope: ObjectScope): Promise<AclRow[]> {
    return this.perform('objectAcls', [cluster.id, primary.ordinal, scope.type], {}, () => []);
  }
  roleAcls(cluster: ClusterRef, primary: NodeRecord, role: string): Promise<AclRow[]> {
    return this.perform('roleAcls', [cluster.id, primary.ordinal, role], {}, () => []);
  }
  schemaSpaces(cluster: ClusterRef, primary: NodeRecord, database: string): Promise<SchemaSpaceRow[]> {
    return this.perform('schemaSpaces', [cluster.id, primary.ordinal, database], {}, () => []);
  }

  // ------------------------------------------------------------------ parameters (issue 16)
  pgSettings(cluster: ClusterRef, m: NodeRecord, names: readonly string[]): Promise<PgSettingRow[]> {
    return this.perform('pgSettings', [cluster.id, m.ordinal, names.length], {}, () => []);
  }
  applyParameters(
    cluster: ClusterRecord,
    primary: NodeRecord,
    members: readonly NodeRecord[],
    params: Record<string, string>,
  ): Promise<void> {
    return this.perform('applyParameters', [cluster.id, members.length, Object.keys(params).length]);
  }
  restartMember(cluster: ClusterRef, m: NodeRecord): Promise<MemberProcess> {
    return this.perform('restartMember', [cluster.id, m.ordinal], {}, () => {
      const proc = { pid: this.nextPid++, startTime: 1 };
      this.running.set(member(cluster, m.ordinal), proc);
      return proc;
    });
  }

  // ------------------------------------------------------------------ replication and health

  currentLsn(cluster: ClusterRef, primary: NodeRecord): Promise<string> {
    return this.perform('currentLsn', [cluster.id, primary.ordinal], {}, () => '0/3000000');
  }
  replicationState(cluster: ClusterRef, primary: NodeRecord, ordinal: number, targetLsn: string): Promise<ReplicationState> {
    return this.perform('replicationState', [cluster.id, primary.ordinal, ordinal, targetLsn], {}, () => ({
      state: 'streaming',
      replayLsn: targetLsn,
      lagBytes: 0,
    }));
  }
  waitCaughtUp(
    cluster: ClusterRef,
    primary: NodeRecord,
    ordinal: number,
    o: RunOptions & { timeoutMs?: number; targetLsn?: string; standby?: NodeRecord },
  ): Promise<void> {
    return this.perform('waitCaughtUp', [cluster.id, primary.ordinal, ordinal], o);
  }
  replicationLag(cluster: ClusterRef, primary: NodeRecord): Promise<{ node: number; bytes: number }[]> {
    return this.perform('replicationLag', [cluster.id, primary.ordinal], {}, () => []);
  }
  archiverState(cluster: ClusterRef, primary: NodeRecord): Promise<ArchiverState> {
    return this.perform('archiverState', [cluster.id, primary.ordinal], {}, () => ({
      failing: false,
      lastFailed: null,
      lastArchived: null,
    }));
  }
  databaseBytes(cluster: ClusterRef, primary: NodeRecord): Promise<number> {
    return this.perform('databaseBytes', [cluster.id, primary.ordinal], {}, () => 50_000_000);
  }
  schemaInfo(cluster: ClusterRef, primary: NodeRecord): Promise<SchemaInfo> {
    return this.perform('schemaInfo', [cluster.id, primary.ordinal], {}, () => ({
      databases: [{ name: 'postgres', sizeBytes: 50_000_000, tables: [] }],
    }));
  }

  // ------------------------------------------------------------------ archiving and backups (D2, D3)

  repositoryRef(): RepositoryRef {
    return { id: 'local', kind: 'local' };
  }
  repositoryMoveRefusal(cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza'>, signal?: AbortSignal): Promise<AppError | null> {
    return this.perform('repositoryMoveRefusal', [cluster.stanza], { signal }, () => null);
  }
  ensureStanzaRepository(cluster: StanzaCluster, primary: NodeRecord, o: RunOptions = {}): Promise<RepositoryRef> {
    return this.perform('ensureStanzaRepository', [cluster.stanza, primary.ordinal], o, () => this.repositoryRef());
  }
  enableArchiving(cluster: ClusterRecord, primary: NodeRecord, o: RunOptions = {}): Promise<void> {
    return this.perform('enableArchiving', [cluster.stanza, primary.ordinal], o, () => {
      if (!this.stanzas.has(cluster.stanza)) this.stanzas.set(cluster.stanza, []);
    });
  }
  archiveNow(cluster: ClusterRecord, primary: NodeRecord, o: RunOptions = {}): Promise<string> {
    return this.perform('archiveNow', [cluster.stanza, primary.ordinal], o, () => '000000010000000000000003');
  }
  checkArchiving(cluster: StanzaCluster, primary: NodeRecord, o: RunOptions = {}): Promise<void> {
    return this.perform('checkArchiving', [cluster.stanza, primary.ordinal], o);
  }
  stanzaExists(stanza: string): Promise<boolean> {
    return this.perform('stanzaExists', [stanza], {}, () => this.stanzas.has(stanza));
  }
  backupSets(stanza: string, o: { signal?: AbortSignal } = {}): Promise<BackupSetInfo[]> {
    return this.perform('backupSets', [stanza], o, () => [...(this.stanzas.get(stanza) ?? [])]);
  }
  removePartialBackups(cluster: StanzaCluster, primary: NodeRecord, signal?: AbortSignal): Promise<string[]> {
    return this.perform('removePartialBackups', [cluster.stanza, primary.ordinal], { signal }, () => []);
  }
  backup(
    cluster: StanzaCluster,
    primary: NodeRecord,
    o: RunOptions & { type: 'full' | 'diff'; annotation: Record<string, string> },
  ): Promise<BackupSetInfo> {
    return this.perform('backup', [cluster.stanza, primary.ordinal, o.type], o, () => {
      const sets = this.stanzas.get(cluster.stanza) ?? [];
      const prior = o.type === 'diff' ? (sets.filter((s) => s.type === 'full').at(-1)?.label ?? null) : null;
      const n = sets.length + 1;
      const set: BackupSetInfo = {
        label: `20250115-0800${String(n).padStart(2, '0')}F${prior ? `_20250115-0800${String(n).padStart(2, '0')}D` : ''}`,
        type: o.type,
        prior,
        reference: prior ? [prior] : [],
        annotation: o.annotation,
        databaseSize: 50_000_000,
        repoOwnBytes: 5_000_000,
        repoSetBytes: 5_000_000,
        copiedBytes: 50_000_000,
        startTime: 0,
        stopTime: 1,
        lsnStart: '0/2000028',
        lsnStop: '0/2000100',
        walStart: '000000010000000000000002',
        walStop: '000000010000000000000002',
        error: false,
      };
      this.stanzas.set(cluster.stanza, [...sets, set]);
      return set;
    });
  }
  verifyBackup(stanza: string, label: string, o: RunOptions = {}): Promise<BackupSetInfo> {
    return this.perform('verifyBackup', [stanza, label], o, () => {
      const set = this.stanzas.get(stanza)?.find((s) => s.label === label);
      if (!set) throw new AppError('VERIFY_FAILED', { args: [`backup set ${label} is not in the repository catalog`] });
      return set;
    });
  }
  expireBackup(stanza: string, label: string, o: RunOptions = {}): Promise<{ expired: boolean; reason: string | null }> {
    return this.perform('expireBackup', [stanza, label], o, () => {
      this.stanzas.set(
        stanza,
        (this.stanzas.get(stanza) ?? []).filter((s) => s.label !== label),
      );
      return { expired: true, reason: null };
    });
  }
  removeDump(stanza: string, snapshotId: string): Promise<void> {
    return this.perform('removeDump', [stanza, snapshotId], {}, () => {
      this.dumps.delete(`${stanza}/${snapshotId}`);
    });
  }
  removeStanza(cluster: StanzaCluster, primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>, o: RunOptions = {}): Promise<void> {
    return this.perform('removeStanza', [cluster.stanza, primary.ordinal], o, () => {
      this.stanzas.delete(cluster.stanza);
    });
  }

  // ------------------------------------------------------------------ snapshot copies (CopySnapshot)

  restoreCopySource(work: SnapshotCopyWork, set: BackupSetRef, o: RunOptions = {}): Promise<void> {
    return this.perform('restoreCopySource', [work.taskId, set.stanza, set.label], o, () => {
      if (!this.stanzas.get(set.stanza)?.some((s) => s.label === set.label))
        throw new AppError('ENGINE_COMMAND_FAILED', { args: ['pgbackrest restore', `no backup set ${set.label} in stanza ${set.stanza}`] });
      if (!this.copySources.has(work.taskId)) this.copySources.set(work.taskId, 'restored');
    });
  }
  startCopySource(work: SnapshotCopyWork, o: RunOptions = {}): Promise<void> {
    return this.perform('startCopySource', [work.taskId, work.stanza], o, () => {
      if (!this.copySources.has(work.taskId))
        throw new AppError('ENGINE_NODE_FAILED', { args: ['temporary instance', 'no restored data directory'] });
      if (!this.stanzas.has(work.stanza)) this.stanzas.set(work.stanza, []);
      this.copySources.set(work.taskId, 'running');
    });
  }
  backupCopy(work: SnapshotCopyWork, o: RunOptions & { annotation: Record<string, string> }): Promise<BackupSetInfo> {
    return this.perform('backupCopy', [work.taskId, work.stanza], o, () => {
      if (this.copySources.get(work.taskId) !== 'running')
        throw new AppError('ENGINE_NODE_FAILED', { args: ['temporary instance', 'not running'] });
      const set: BackupSetInfo = {
        label: '20250116-090000F',
        type: 'full',
        prior: null,
        reference: [],
        annotation: o.annotation,
        databaseSize: 50_000_000,
        repoOwnBytes: 6_000_000,
        repoSetBytes: 6_000_000,
        copiedBytes: 50_000_000,
        startTime: 0,
        stopTime: 1,
        lsnStart: '0/3000028',
        lsnStop: '0/3000100',
        walStart: '000000020000000000000003',
        walStop: '000000020000000000000003',
        error: false,
      };
      this.stanzas.set(work.stanza, [...(this.stanzas.get(work.stanza) ?? []), set]);
      return set;
    });
  }
  removeCopySource(work: SnapshotCopyWork): Promise<void> {
    return this.perform('removeCopySource', [work.taskId], {}, () => {
      this.copySources.delete(work.taskId);
    });
  }
  removeLoneStanza(stanza: string, o: RunOptions = {}): Promise<void> {
    return this.perform('removeLoneStanza', [stanza], o, () => {
      this.stanzas.delete(stanza);
    });
  }

  // ------------------------------------------------------------------ restores (D4)

  missingWal(): Promise<string[]> {
    return Promise.resolve([]);
  }
  stopForRestoreInPlace(cluster: ClusterRecord, primary: NodeRecord, nodes: readonly NodeRecord[]): Promise<void> {
    return this.perform('stopForRestoreInPlace', [cluster.id, primary.ordinal], {}, () => {
      for (const n of nodes) this.running.delete(member(cluster, n.ordinal));
    });
  }
  restorePrimary(cluster: ClusterRef, primary: NodeRecord, set: BackupSetRef, o: RunOptions = {}): Promise<void> {
    return this.perform('restorePrimary', [cluster.id, primary.ordinal, set.stanza, set.label], o, () => {
      this.withData.add(member(cluster, primary.ordinal));
    });
  }
  restoredPrimaryRunning(cluster: ClusterRef, primary: NodeRecord): boolean {
    return this.running.has(member(cluster, primary.ordinal));
  }
  recoverPrimary(
    cluster: ClusterRecord,
    primary: NodeRecord,
    _adminPassword: string,
    o: RunOptions = {},
  ): Promise<{ process: MemberProcess; timeline: number; lsn: string | null; cleaned: number }> {
    return this.perform('recoverPrimary', [cluster.id, primary.ordinal], o, () => {
      const proc = { pid: this.nextPid++, startTime: 1 };
      this.running.set(member(cluster, primary.ordinal), proc);
      return { process: proc, timeline: 2, lsn: '0/5000000', cleaned: 0 };
    });
  }
  enableRestoredArchiving(
    cluster: ClusterRecord,
    primary: NodeRecord,
    _secrets: ClusterSecrets,
    o: RunOptions = {},
  ): Promise<MemberProcess | null> {
    return this.perform('enableRestoredArchiving', [cluster.stanza, primary.ordinal], o, () => {
      if (!this.stanzas.has(cluster.stanza)) this.stanzas.set(cluster.stanza, []);
      return null;
    });
  }
  cleanRestoredCluster(cluster: ClusterRef, primary: NodeRecord): Promise<string[]> {
    return this.perform('cleanRestoredCluster', [cluster.id, primary.ordinal], {}, () => []);
  }

  // ------------------------------------------------------------------ the logical part (logical-plane.ts): every database and role asked for exists; schemas but `missingSchemas`; tables as `tables` says

  databaseInfo(cluster: ClusterRef, primary: NodeRecord, database: string): Promise<DatabaseInfo | null> {
    return this.perform('databaseInfo', [cluster.id, primary.ordinal, database], {}, () => ({
      name: database,
      allowConnections: true,
      isTemplate: false,
    }));
  }
  schemasPresent(cluster: ClusterRef, primary: NodeRecord, database: string, schemas: string[]): Promise<string[]> {
    return this.perform('schemasPresent', [cluster.id, database, schemas], {}, () =>
      schemas.filter((x) => !this.missingSchemas.has(`${cluster.id}/${database}/${x}`)),
    );
  }
  relationFacts(
    cluster: ClusterRef,
    primary: NodeRecord,
    database: string,
    objects: { schemas: string[] } | { tables: TableRef[] },
  ): Promise<RelationFacts[]> {
    return this.perform('relationFacts', [cluster.id, database, objects], {}, () =>
      ('tables' in objects ? objects.tables : []).map((ref, i) => ({ ref, oid: 16384 + i, kind: 'r', rows: 1000, bytes: 65536 })),
    );
  }
  relations(cluster: ClusterRef, primary: NodeRecord, database: string, refs: TableRef[]): Promise<RelationInfo[]> {
    return this.perform('relations', [cluster.id, database, refs], {}, () =>
      refs.flatMap((ref) => {
        const oid = this.tables.get(tableKey(cluster, database, ref));
        return oid === undefined ? [] : [{ ref, oid, kind: 'r' }];
      }),
    );
  }
  outsideForeignKeys(cluster: ClusterRef, primary: NodeRecord, database: string, tableOids: number[]): Promise<OutsideForeignKey[]> {
    return this.perform('outsideForeignKeys', [cluster.id, database, tableOids], {}, () => []);
  }
  rolesPresent(cluster: ClusterRef, primary: NodeRecord, roles: string[]): Promise<string[]> {
    return this.perform('rolesPresent', [cluster.id, roles], {}, () => [...roles]);
  }
  relationBytes(cluster: ClusterRef, primary: NodeRecord, database: string, oids: number[]): Promise<number> {
    return this.perform('relationBytes', [cluster.id, database, oids], {}, () => 65536 * oids.length);
  }
  transactionCounter(cluster: ClusterRef, primary: NodeRecord, database: string): Promise<string> {
    return this.perform('transactionCounter', [cluster.id, database], {}, () => '1000');
  }
  createdInOneTransactionSince(
    cluster: ClusterRef,
    primary: NodeRecord,
    database: string,
    oids: number[],
    counter: string,
  ): Promise<boolean> {
    return this.perform('createdInOneTransactionSince', [cluster.id, database, oids, counter], {}, () => false);
  }
  createSchema(cluster: TenantCluster, primary: NodeRecord, database: string, schema: string): Promise<void> {
    return this.perform('createSchema', [cluster.id, database, schema], {}, () => {
      this.missingSchemas.delete(`${cluster.id}/${database}/${schema}`);
    });
  }
  logicalDump(ref: LogicalDumpRef): Promise<LogicalDumpState> {
    return this.perform('logicalDump', [ref.stanza, ref.snapshotId], {}, () => this.dumpState(ref));
  }
  logicalDumpReadable(location: string): Promise<boolean> {
    return this.perform('logicalDumpReadable', [location], {}, () =>
      [...this.dumps].some((d) => join(this.dataDir, 'logical', d) === location),
    );
  }
  dumpObjects(
    cluster: ClusterRef,
    primary: NodeRecord,
    ref: LogicalDumpRef,
    what: { detail: FineGrainedDetail; tables: DumpedTable[] },
    o: RunOptions = {},
  ): Promise<LogicalDumpState> {
    return this.perform('dumpObjects', [ref.stanza, ref.snapshotId, what.tables.length], o, () => {
      this.dumps.add(`${ref.stanza}/${ref.snapshotId}`);
      return this.dumpState(ref);
    });
  }
  verifyLogicalDump(
    ref: LogicalDumpRef,
    expected: { level: FineGrainedDetail['level']; tables: DumpedTable[] },
    o: RunOptions = {},
  ): Promise<{ tocEntries: number }> {
    return this.perform('verifyLogicalDump', [ref.stanza, ref.snapshotId], o, () => {
      if (!this.dumps.has(`${ref.stanza}/${ref.snapshotId}`)) throw new AppError('VERIFY_FAILED', { args: ['the dump is missing'] });
      return { tocEntries: 2 * expected.tables.length };
    });
  }
  restoreTemporaryCopy(work: TableRestoreWork, set: BackupSetRef, database: string, o: RunOptions = {}): Promise<void> {
    return this.perform('restoreTemporaryCopy', [work.taskId, set.stanza, set.label, database], o);
  }
  startTemporaryCopy(work: TableRestoreWork, o: RunOptions = {}): Promise<void> {
    return this.perform('startTemporaryCopy', [work.taskId], o);
  }
  createScratchDatabase(cluster: TenantCluster, primary: NodeRecord, work: TableRestoreWork, like: string): Promise<string> {
    return this.perform('createScratchDatabase', [cluster.id, work.taskId, like], {}, () => scratchDatabaseName(work.taskId));
  }
  loadScratchDatabase(
    cluster: TenantCluster,
    primary: NodeRecord,
    work: TableRestoreWork,
    dump: { location: string; outsideForeignKeys: number[]; sourceBytes: number | null },
    o: RunOptions = {},
  ): Promise<{ loadedBytes: number; tocEntries: number }> {
    return this.perform('loadScratchDatabase', [cluster.id, work.taskId, dump.location], o, () => ({
      loadedBytes: dump.sourceBytes ?? 0,
      tocEntries: 0,
    }));
  }
  dropScratchDatabase(cluster: ClusterRef, primary: NodeRecord, work: TableRestoreWork): Promise<void> {
    return this.perform('dropScratchDatabase', [cluster.id, work.taskId]);
  }
  prepareExport(
    cluster: ClusterRef,
    primary: NodeRecord,
    work: TableRestoreWork,
    from: { source: ExportSource; database: string; tables: TablePair[] },
  ): Promise<Exported> {
    return this.perform('prepareExport', [work.taskId, from.source, from.database], {}, () => ({
      tables: from.tables.map((p, i) => ({ ...p, oid: 16384 + i, rows: 1000, bytes: 65536, indexes: 1, owner: 'dbadmin' })),
      fks: [],
    }));
  }
  exportTables(
    cluster: ClusterRef,
    primary: NodeRecord,
    work: TableRestoreWork,
    from: { source: ExportSource; database: string; tables: ExportedTable[] },
    o: RunOptions = {},
  ): Promise<{ dumpBytes: number }> {
    return this.perform('exportTables', [work.taskId, from.source, from.tables.length], o, () => ({ dumpBytes: 10_000 }));
  }
  planTableImport(
    work: TableRestoreWork,
    fks: ExportedFk[],
    keepForeignKeysTo: TableRef[],
    o: RunOptions = {},
  ): Promise<{ droppedForeignKeys: string[] }> {
    return this.perform('planTableImport', [work.taskId, fks.length, keepForeignKeysTo.length], o, () => ({ droppedForeignKeys: [] }));
  }
  importTables(
    cluster: TenantCluster,
    primary: NodeRecord,
    work: TableRestoreWork,
    into: { database: string; tables: ExportedTable[] },
    o: RunOptions = {},
  ): Promise<void> {
    return this.perform('importTables', [cluster.id, work.taskId, into.database, into.tables.length], o, () => {
      for (const t of into.tables) this.tables.set(tableKey(cluster, into.database, t.target), this.nextOid++);
    });
  }
  addForeignKeys(
    cluster: TenantCluster,
    primary: NodeRecord,
    work: TableRestoreWork,
    database: string,
    fks: ForeignKeyToAdd[],
  ): Promise<{ added: string[]; dropped: string[] }> {
    return this.perform('addForeignKeys', [cluster.id, database, fks.length], {}, () => ({ added: fks.map((f) => f.name), dropped: [] }));
  }
  countTables(
    cluster: TenantCluster,
    primary: NodeRecord,
    work: TableRestoreWork,
    database: string,
    tables: TableRef[],
    o: RunOptions = {},
  ): Promise<TableCount[]> {
    return this.perform('countTables', [cluster.id, database, tables.length], o, () =>
      tables.map((target) => ({ target, rows: 1000, indexes: 1 })),
    );
  }
  dropImportedTables(cluster: ClusterRef, primary: NodeRecord, database: string, imported: Imported[], schemas: string[]): Promise<void> {
    return this.perform(
      'dropImportedTables',
      [cluster.id, database, imported.map((x) => `${x.target.schema}.${x.target.name}`), schemas],
      {},
      () => {
        for (const x of imported)
          if (this.tables.get(tableKey(cluster, database, x.target)) === x.oid) this.tables.delete(tableKey(cluster, database, x.target));
        for (const x of schemas) this.missingSchemas.add(`${cluster.id}/${database}/${x}`);
      },
    );
  }
  removeTableRestoreWork(work: TableRestoreWork): Promise<void> {
    return this.perform('removeTableRestoreWork', [work.taskId]);
  }

  private dumpState(ref: LogicalDumpRef): LogicalDumpState {
    const complete = this.dumps.has(`${ref.stanza}/${ref.snapshotId}`);
    return { complete, bytes: complete ? 1_000_000 : 0, location: join(this.dataDir, 'logical', ref.stanza, ref.snapshotId) };
  }
}

function macrotask(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason as Error;
}

function untilAborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (!signal) return reject(new Error('an intention scripted to hang was given no signal to end it'));
    if (signal.aborted) return reject(signal.reason as Error);
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}
