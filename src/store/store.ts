/**
 * The metadata store: domain-shaped methods over Kysely, one implementation for both
 * backends. What differs between SQLite and PostgreSQL is expressed as capability flags
 * (never `if (backend === 'sqlite')`), and raw driver errors never leave this folder.
 */
import { Kysely, sql, type ExpressionBuilder, type Transaction, type Selectable } from 'kysely';
import type { Database, ClustersTable, NodesTable, SnapshotsTable, TasksTable, TaskStepsTable, FaultsTable } from './schema.js';
import type {
  ClusterRecord, CredentialRecord, FaultRecord, NodeRecord, ProgressSample, ProjectRecord, Role, SnapshotRecord,
  StepRecord, TaskRecord, TokenRecord, UserRecord,
} from '../domain/records.js';
import { AppError } from '../errors/app-error.js';
import { isAlreadyExists, isRetryableDbError } from '../errors/pg-sqlstate.js';
import type { TaskKind, TaskStatus } from '../domain/task.js';
import type { PolicyFireRecord, PolicySettingsRecord, SnapshotPolicyRecord } from '../domain/snapshot-policy.js';
import type { SnapshotPoliciesTable } from './schema.js';

export interface StoreCapabilities {
  /** `FOR UPDATE SKIP LOCKED` when picking a task to claim (PostgreSQL). */
  readonly supportsSkipLocked: boolean;
  /** `SELECT … FOR UPDATE` row locks inside a transaction (PostgreSQL); SQLite has one writer. */
  readonly supportsRowLocks: boolean;
  /** Several service processes may share this store. */
  readonly multiProcess: boolean;
}

export interface StoreAdapter {
  readonly name: 'sqlite' | 'postgres';
  readonly capabilities: StoreCapabilities;
  readonly db: Kysely<Database>;
  /** Run a multi-statement SQL script inside the current migration transaction. */
  executeScript(trx: Transaction<Database>, script: string): Promise<void>;
  /** Serialize migrators across processes (advisory lock on PostgreSQL; no-op on SQLite, whose writer lock serializes). */
  lockForMigration(trx: Transaction<Database>): Promise<void>;
  /**
   * Hold `key` until the transaction ends, across every process of the store: an advisory
   * transaction lock on PostgreSQL; a no-op on SQLite, where one process writes and its
   * transactions run one at a time.
   */
  lockUntilCommit(trx: Transaction<Database>, key: string): Promise<void>;
  /** Consistent copy of the store to a file (SQLite only). */
  backupTo?(file: string): Promise<void>;
  close(): Promise<void>;
}

type Exec = Kysely<Database> | Transaction<Database>;

const ACTIVE: TaskStatus[] = ['WAITING', 'RUNNING', 'ROLLBACK_RUNNING'];

const j = (v: unknown): string => JSON.stringify(v ?? null);
function pj<T>(s: string | null): T {
  return (s === null ? null : JSON.parse(s)) as T;
}
const num = (v: unknown): number => (typeof v === 'string' ? Number(v) : (v as number));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

function toCluster(r: Selectable<ClustersTable>): ClusterRecord {
  return {
    id: r.id, projectId: r.project_id, name: r.name, status: r.status as ClusterRecord['status'], subStatus: r.sub_status as ClusterRecord['subStatus'],
    stickyTaskStatus: r.sticky_task_status, stopped: num(r.stopped) === 1, nodeType: r.node_type, numberOfNode: num(r.number_of_node),
    port: num(r.port), subnetIndex: numOrNull(r.subnet_index), userName: r.user_name, adminPasswordEnc: r.admin_password_enc,
    replPasswordEnc: r.repl_password_enc, stanza: r.stanza, spec: pj(r.spec), failedReasons: pj(r.failed_reasons), healthNote: r.health_note,
    createdAt: num(r.created_at), updatedAt: num(r.updated_at), deletedAt: numOrNull(r.deleted_at),
  };
}
function fromCluster(c: Partial<ClusterRecord>): Partial<ClustersTable> {
  const o: Partial<ClustersTable> = {};
  if (c.id !== undefined) o.id = c.id;
  if (c.projectId !== undefined) o.project_id = c.projectId;
  if (c.name !== undefined) o.name = c.name;
  if (c.status !== undefined) o.status = c.status;
  if (c.subStatus !== undefined) o.sub_status = c.subStatus;
  if (c.stickyTaskStatus !== undefined) o.sticky_task_status = c.stickyTaskStatus;
  if (c.stopped !== undefined) o.stopped = c.stopped ? 1 : 0;
  if (c.nodeType !== undefined) o.node_type = c.nodeType;
  if (c.numberOfNode !== undefined) o.number_of_node = c.numberOfNode;
  if (c.port !== undefined) o.port = c.port;
  if (c.subnetIndex !== undefined) o.subnet_index = c.subnetIndex;
  if (c.userName !== undefined) o.user_name = c.userName;
  if (c.adminPasswordEnc !== undefined) o.admin_password_enc = c.adminPasswordEnc;
  if (c.replPasswordEnc !== undefined) o.repl_password_enc = c.replPasswordEnc;
  if (c.stanza !== undefined) o.stanza = c.stanza;
  if (c.spec !== undefined) o.spec = j(c.spec);
  if (c.failedReasons !== undefined) o.failed_reasons = c.failedReasons === null ? null : j(c.failedReasons);
  if (c.healthNote !== undefined) o.health_note = c.healthNote;
  if (c.createdAt !== undefined) o.created_at = c.createdAt;
  if (c.updatedAt !== undefined) o.updated_at = c.updatedAt;
  if (c.deletedAt !== undefined) o.deleted_at = c.deletedAt;
  return o;
}
function toNode(r: Selectable<NodesTable>): NodeRecord {
  return {
    id: r.id, clusterId: r.cluster_id, ordinal: num(r.ordinal), role: r.role as NodeRecord['role'], host: r.host, port: num(r.port),
    dataDir: r.data_dir, membership: r.membership as NodeRecord['membership'], pid: numOrNull(r.pid), pidStart: numOrNull(r.pid_start),
    health: r.health as NodeRecord['health'], slotName: r.slot_name, createdAt: num(r.created_at), updatedAt: num(r.updated_at),
  };
}
function fromNode(n: Partial<NodeRecord>): Partial<NodesTable> {
  const o: Partial<NodesTable> = {};
  if (n.id !== undefined) o.id = n.id;
  if (n.clusterId !== undefined) o.cluster_id = n.clusterId;
  if (n.ordinal !== undefined) o.ordinal = n.ordinal;
  if (n.role !== undefined) o.role = n.role;
  if (n.host !== undefined) o.host = n.host;
  if (n.port !== undefined) o.port = n.port;
  if (n.dataDir !== undefined) o.data_dir = n.dataDir;
  if (n.membership !== undefined) o.membership = n.membership;
  if (n.pid !== undefined) o.pid = n.pid;
  if (n.pidStart !== undefined) o.pid_start = n.pidStart;
  if (n.health !== undefined) o.health = n.health;
  if (n.slotName !== undefined) o.slot_name = n.slotName;
  if (n.createdAt !== undefined) o.created_at = n.createdAt;
  if (n.updatedAt !== undefined) o.updated_at = n.updatedAt;
  return o;
}
function toSnapshot(r: Selectable<SnapshotsTable>): SnapshotRecord {
  return {
    id: r.id, projectId: r.project_id, clusterId: r.cluster_id, clusterName: r.cluster_name, name: r.name, description: r.description,
    status: r.status as SnapshotRecord['status'], type: r.type as SnapshotRecord['type'], stanza: r.stanza, backupLabel: r.backup_label,
    backupKey: r.backup_key, priorBackupKey: r.prior_backup_key, backupType: r.backup_type as SnapshotRecord['backupType'],
    sizeBytes: numOrNull(r.size_bytes), totalBackupSize: numOrNull(r.total_backup_size), sourceBytes: numOrNull(r.source_bytes),
    sourceSpec: pj(r.source_spec), schemaInfo: pj(r.schema_info), taskId: r.task_id, startedAt: numOrNull(r.started_at),
    finishedAt: numOrNull(r.finished_at), createdAt: num(r.created_at), updatedAt: num(r.updated_at), deletedAt: numOrNull(r.deleted_at),
    expiredAt: numOrNull(r.expired_at),
    fineGrained: r.fine_grained_detail ? pj(r.fine_grained_detail) : null,
  };
}
function fromSnapshot(s: Partial<SnapshotRecord>): Partial<SnapshotsTable> {
  const o: Partial<SnapshotsTable> = {};
  const map: [keyof SnapshotRecord, keyof SnapshotsTable][] = [
    ['id', 'id'], ['projectId', 'project_id'], ['clusterId', 'cluster_id'], ['clusterName', 'cluster_name'], ['name', 'name'],
    ['description', 'description'], ['status', 'status'], ['type', 'type'], ['stanza', 'stanza'], ['backupLabel', 'backup_label'],
    ['backupKey', 'backup_key'], ['priorBackupKey', 'prior_backup_key'], ['backupType', 'backup_type'], ['sizeBytes', 'size_bytes'],
    ['totalBackupSize', 'total_backup_size'], ['sourceBytes', 'source_bytes'], ['taskId', 'task_id'], ['startedAt', 'started_at'],
    ['finishedAt', 'finished_at'], ['createdAt', 'created_at'], ['updatedAt', 'updated_at'], ['deletedAt', 'deleted_at'], ['expiredAt', 'expired_at'],
  ];
  for (const [a, b] of map) if (s[a] !== undefined) (o as Record<string, unknown>)[b] = s[a];
  if (s.sourceSpec !== undefined) o.source_spec = j(s.sourceSpec);
  if (s.schemaInfo !== undefined) o.schema_info = s.schemaInfo === null ? null : j(s.schemaInfo);
  if (s.fineGrained !== undefined) {
    o.fine_grained_detail = s.fineGrained === null ? null : j(s.fineGrained);
    o.backup_level = s.fineGrained?.level ?? 'cluster';
  }
  return o;
}
function toPolicy(r: Selectable<SnapshotPoliciesTable>): SnapshotPolicyRecord {
  return {
    id: r.id, projectId: r.project_id, clusterId: r.cluster_id, name: r.name, schedule: r.schedule,
    backupType: r.backup_type as SnapshotPolicyRecord['backupType'], backupLevel: r.backup_level as SnapshotPolicyRecord['backupLevel'],
    timeZoneOffset: num(r.time_zone_offset), backupDatabase: r.backup_database, backupSchemaList: r.backup_schema_list,
    backupTableList: r.backup_table_list, nextFireAt: numOrNull(r.next_fire_at), createdAt: num(r.created_at), updatedAt: num(r.updated_at),
    deletedAt: numOrNull(r.deleted_at),
  };
}
function fromPolicy(p: Partial<SnapshotPolicyRecord>): Partial<SnapshotPoliciesTable> {
  const o: Partial<SnapshotPoliciesTable> = {};
  const map: [keyof SnapshotPolicyRecord, keyof SnapshotPoliciesTable][] = [
    ['id', 'id'], ['projectId', 'project_id'], ['clusterId', 'cluster_id'], ['name', 'name'], ['schedule', 'schedule'], ['backupType', 'backup_type'],
    ['backupLevel', 'backup_level'], ['timeZoneOffset', 'time_zone_offset'], ['backupDatabase', 'backup_database'], ['backupSchemaList', 'backup_schema_list'],
    ['backupTableList', 'backup_table_list'], ['nextFireAt', 'next_fire_at'], ['createdAt', 'created_at'], ['updatedAt', 'updated_at'], ['deletedAt', 'deleted_at'],
  ];
  for (const [a, b] of map) if (p[a] !== undefined) (o as Record<string, unknown>)[b] = p[a];
  return o;
}
function toTask(r: Selectable<TasksTable>): TaskRecord {
  return {
    id: r.id, projectId: r.project_id, clusterId: r.cluster_id, clusterName: r.cluster_name, snapshotId: r.snapshot_id, kind: r.kind as TaskKind,
    lockKey: r.lock_key, status: r.status as TaskStatus, phase: r.phase as TaskRecord['phase'], params: pj(r.params), state: pj(r.state),
    progress: num(r.progress), attempt: num(r.attempt), maxAttempts: num(r.max_attempts), runAt: num(r.run_at), lockedBy: r.locked_by,
    leaseEpoch: num(r.lease_epoch), leaseExpiresAt: numOrNull(r.lease_expires_at), ranBy: pj(r.ran_by), errorCode: r.error_code,
    errorMsg: r.error_msg, failedStep: r.failed_step, createdAt: num(r.created_at), startedAt: numOrNull(r.started_at),
    finishedAt: numOrNull(r.finished_at), updatedAt: num(r.updated_at),
  };
}
export type TaskPatch = Partial<Pick<TaskRecord, 'status' | 'phase' | 'state' | 'progress' | 'attempt' | 'runAt' | 'lockedBy' | 'leaseExpiresAt' | 'errorCode' | 'errorMsg' | 'failedStep' | 'startedAt' | 'finishedAt' | 'ranBy' | 'clusterName'>>;
function fromTaskPatch(p: TaskPatch): Partial<TasksTable> {
  const o: Partial<TasksTable> = {};
  if (p.status !== undefined) o.status = p.status;
  if (p.phase !== undefined) o.phase = p.phase;
  if (p.state !== undefined) o.state = j(p.state);
  if (p.progress !== undefined) o.progress = p.progress;
  if (p.attempt !== undefined) o.attempt = p.attempt;
  if (p.runAt !== undefined) o.run_at = p.runAt;
  if (p.lockedBy !== undefined) o.locked_by = p.lockedBy;
  if (p.leaseExpiresAt !== undefined) o.lease_expires_at = p.leaseExpiresAt;
  if (p.errorCode !== undefined) o.error_code = p.errorCode;
  if (p.errorMsg !== undefined) o.error_msg = p.errorMsg;
  if (p.failedStep !== undefined) o.failed_step = p.failedStep;
  if (p.startedAt !== undefined) o.started_at = p.startedAt;
  if (p.finishedAt !== undefined) o.finished_at = p.finishedAt;
  if (p.ranBy !== undefined) o.ran_by = j(p.ranBy);
  if (p.clusterName !== undefined) o.cluster_name = p.clusterName;
  return o;
}
function toStep(r: Selectable<TaskStepsTable>): StepRecord {
  return {
    taskId: r.task_id, stepId: r.step_id, seq: num(r.seq), itemKey: r.item_key, phase: r.phase as StepRecord['phase'], status: r.status as TaskStatus,
    weight: num(r.weight), beginAt: numOrNull(r.begin_at), endAt: numOrNull(r.end_at), estimatedTime: num(r.estimated_time), progress: num(r.progress),
    progressInfo: pj(r.progress_info), checkpoint: pj(r.checkpoint), errorCode: r.error_code, errorMsg: r.error_msg, attempts: num(r.attempts),
  };
}
export type StepPatch = Partial<Omit<StepRecord, 'taskId' | 'stepId' | 'seq' | 'itemKey' | 'phase' | 'weight'>>;
function fromStepPatch(p: StepPatch): Partial<TaskStepsTable> {
  const o: Partial<TaskStepsTable> = {};
  if (p.status !== undefined) o.status = p.status;
  if (p.beginAt !== undefined) o.begin_at = p.beginAt;
  if (p.endAt !== undefined) o.end_at = p.endAt;
  if (p.estimatedTime !== undefined) o.estimated_time = p.estimatedTime;
  if (p.progress !== undefined) o.progress = p.progress;
  if (p.progressInfo !== undefined) o.progress_info = j(p.progressInfo);
  if (p.checkpoint !== undefined) o.checkpoint = j(p.checkpoint);
  if (p.errorCode !== undefined) o.error_code = p.errorCode;
  if (p.errorMsg !== undefined) o.error_msg = p.errorMsg;
  if (p.attempts !== undefined) o.attempts = p.attempts;
  return o;
}
function toFault(r: Selectable<FaultsTable>): FaultRecord {
  return {
    id: r.id, projectId: r.project_id, clusterId: r.cluster_id, actionName: r.action_name, step: r.step, mode: r.mode as FaultRecord['mode'],
    point: r.point as FaultRecord['point'], delayMs: numOrNull(r.delay_ms), timesLeft: numOrNull(r.times_left), createdAt: num(r.created_at),
  };
}

/** Wrap driver errors: unique violations become the given conflict, transient ones STORE_UNAVAILABLE. */
function mapDbError(e: unknown, onConflict?: () => AppError): never {
  if (e instanceof AppError) throw e;
  if (onConflict && (isAlreadyExists(e) || /UNIQUE constraint failed/.test(String((e as Error)?.message)))) throw onConflict();
  if (isRetryableDbError(e)) throw new AppError('STORE_UNAVAILABLE', { args: [(e as Error).message], cause: e });
  throw e;
}

export interface ClaimOptions {
  owner: string;
  now: number;
  leaseMs: number;
  kinds?: readonly string[];
  /** tasks this owner is running now: never claimed again by it, even if their lease ran out */
  excludeIds?: readonly string[];
  /**
   * Fair shares (docs/security.md): at most this many tasks of one project run at once, over
   * every process of the store. A task runs while its lease is live (and the `excludeIds` of
   * this owner run); a task whose project is at the limit is skipped, so other projects' tasks
   * are claimed meanwhile. Absent: no limit.
   */
  projectLimit?: number;
}

export class Store {
  constructor(
    readonly adapter: StoreAdapter,
    private readonly exec: Exec = adapter.db,
  ) {}

  get capabilities(): StoreCapabilities {
    return this.adapter.capabilities;
  }

  /** Run `fn` in one transaction; the store it receives writes inside it. */
  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.exec !== this.adapter.db) return fn(this);
    try {
      return await this.adapter.db.transaction().execute((trx) => fn(new Store(this.adapter, trx)));
    } catch (e) {
      return mapDbError(e);
    }
  }

  /** `select 1`: for readiness. */
  async ping(): Promise<void> {
    try {
      await sql`select 1`.execute(this.exec);
    } catch (e) {
      throw new AppError('STORE_UNAVAILABLE', { args: [(e as Error).message], cause: e });
    }
  }

  // ------------------------------------------------------------------ projects and credentials
  async ensureProject(p: ProjectRecord): Promise<void> {
    const existing = await this.exec.selectFrom('projects').select('id').where('id', '=', p.id).executeTakeFirst();
    // Two processes starting at once on one store may both get here: the second insert does nothing.
    if (!existing) await this.exec.insertInto('projects').values({ id: p.id, name: p.name, created_at: p.createdAt }).onConflict((oc) => oc.column('id').doNothing()).execute();
  }
  async getProject(id: string): Promise<ProjectRecord | undefined> {
    const r = await this.exec.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
    return r && { id: r.id, name: r.name, createdAt: num(r.created_at) };
  }
  async listProjects(): Promise<ProjectRecord[]> {
    const rows = await this.exec.selectFrom('projects').selectAll().orderBy('created_at').execute();
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: num(r.created_at) }));
  }
  async insertCredential(c: CredentialRecord): Promise<void> {
    await this.exec.insertInto('credentials').values({
      access_key: c.accessKey, project_id: c.projectId, role: c.role, secret_enc: c.secretEnc, description: c.description, created_at: c.createdAt,
    }).execute().catch((e) => mapDbError(e, () => new AppError('VALIDATION', { args: [`access key ${c.accessKey} already exists`] })));
  }
  async getCredential(accessKey: string): Promise<CredentialRecord | undefined> {
    const r = await this.exec.selectFrom('credentials').selectAll().where('access_key', '=', accessKey).executeTakeFirst();
    return r && { accessKey: r.access_key, projectId: r.project_id, role: r.role as Role, secretEnc: r.secret_enc, description: r.description, createdAt: num(r.created_at) };
  }
  async listCredentials(projectId?: string): Promise<CredentialRecord[]> {
    let q = this.exec.selectFrom('credentials').selectAll().orderBy('created_at');
    if (projectId) q = q.where('project_id', '=', projectId);
    return (await q.execute()).map((r) => ({ accessKey: r.access_key, projectId: r.project_id, role: r.role as Role, secretEnc: r.secret_enc, description: r.description, createdAt: num(r.created_at) }));
  }
  async deleteCredential(accessKey: string): Promise<boolean> {
    const r = await this.exec.deleteFrom('credentials').where('access_key', '=', accessKey).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  async insertUser(u: UserRecord): Promise<void> {
    await this.exec.insertInto('users').values({ id: u.id, project_id: u.projectId, name: u.name, role: u.role, password_hash: u.passwordHash, created_at: u.createdAt })
      .execute().catch((e) => mapDbError(e, () => new AppError('VALIDATION', { args: [`user ${u.name} already exists`] })));
  }
  async getUserByName(name: string): Promise<UserRecord | undefined> {
    const r = await this.exec.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return r && { id: r.id, projectId: r.project_id, name: r.name, role: r.role as Role, passwordHash: r.password_hash, createdAt: num(r.created_at) };
  }
  async listUsers(projectId?: string): Promise<UserRecord[]> {
    let q = this.exec.selectFrom('users').selectAll().orderBy('created_at');
    if (projectId) q = q.where('project_id', '=', projectId);
    return (await q.execute()).map((r) => ({ id: r.id, projectId: r.project_id, name: r.name, role: r.role as Role, passwordHash: r.password_hash, createdAt: num(r.created_at) }));
  }
  async deleteUser(name: string): Promise<boolean> {
    const u = await this.getUserByName(name);
    if (!u) return false;
    await this.exec.deleteFrom('tokens').where('user_id', '=', u.id).execute();
    await this.exec.deleteFrom('users').where('id', '=', u.id).execute();
    return true;
  }
  async insertToken(t: TokenRecord): Promise<void> {
    await this.exec.insertInto('tokens').values({ token_hash: t.tokenHash, user_id: t.userId, project_id: t.projectId, role: t.role, expires_at: t.expiresAt, created_at: t.createdAt }).execute();
  }
  async getToken(hash: string): Promise<TokenRecord | undefined> {
    const r = await this.exec.selectFrom('tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    return r && { tokenHash: r.token_hash, userId: r.user_id, projectId: r.project_id, role: r.role as Role, expiresAt: num(r.expires_at), createdAt: num(r.created_at) };
  }
  async deleteExpiredTokens(now: number): Promise<void> {
    await this.exec.deleteFrom('tokens').where('expires_at', '<', now).execute();
  }

  // ------------------------------------------------------------------ clusters and nodes
  async insertCluster(c: ClusterRecord): Promise<void> {
    await this.exec.insertInto('clusters').values(fromCluster(c) as ClustersTable).execute()
      .catch((e) => mapDbError(e, () => new AppError('CLUSTER_NAME_EXISTS', { args: [c.name] })));
  }
  /** A live cluster of this project (deleted ones are gone). */
  async getCluster(projectId: string, id: string): Promise<ClusterRecord | undefined> {
    const r = await this.exec.selectFrom('clusters').selectAll().where('id', '=', id).where('project_id', '=', projectId).where('deleted_at', 'is', null).executeTakeFirst();
    return r && toCluster(r);
  }
  /** Any cluster row by id, deleted or not (the engine's view). */
  async getClusterById(id: string): Promise<ClusterRecord | undefined> {
    const r = await this.exec.selectFrom('clusters').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toCluster(r);
  }
  async findClusterByName(projectId: string, name: string): Promise<ClusterRecord | undefined> {
    const r = await this.exec.selectFrom('clusters').selectAll().where('project_id', '=', projectId).where('name', '=', name).where('deleted_at', 'is', null).executeTakeFirst();
    return r && toCluster(r);
  }
  async listClusters(projectId?: string): Promise<ClusterRecord[]> {
    let q = this.exec.selectFrom('clusters').selectAll().where('deleted_at', 'is', null).orderBy('created_at').orderBy('id');
    if (projectId) q = q.where('project_id', '=', projectId);
    return (await q.execute()).map(toCluster);
  }
  async updateCluster(id: string, patch: Partial<ClusterRecord>): Promise<void> {
    await this.exec.updateTable('clusters').set(fromCluster(patch)).where('id', '=', id).execute()
      .catch((e) => mapDbError(e, () => new AppError('CLUSTER_NAME_EXISTS', { args: [patch.name ?? ''] })));
  }
  /** Subnet indexes (c of 127.0.c.i) held by live clusters. */
  async usedSubnetIndexes(): Promise<Set<number>> {
    const rows = await this.exec.selectFrom('clusters').select('subnet_index').where('deleted_at', 'is', null).where('subnet_index', 'is not', null).execute();
    return new Set(rows.map((r) => num(r.subnet_index)));
  }
  async insertNode(n: NodeRecord): Promise<void> {
    await this.exec.insertInto('nodes').values(fromNode(n) as NodesTable).execute();
  }
  async listNodes(clusterId: string): Promise<NodeRecord[]> {
    const rows = await this.exec.selectFrom('nodes').selectAll().where('cluster_id', '=', clusterId).orderBy('ordinal').execute();
    return rows.map(toNode);
  }
  /** Every node of every live cluster. */
  async listAllNodes(): Promise<NodeRecord[]> {
    const rows = await this.exec.selectFrom('nodes').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
      .selectAll('nodes').where('clusters.deleted_at', 'is', null).orderBy('nodes.cluster_id').orderBy('nodes.ordinal').execute();
    return rows.map(toNode);
  }
  async updateNode(id: string, patch: Partial<NodeRecord>): Promise<void> {
    await this.exec.updateTable('nodes').set(fromNode(patch)).where('id', '=', id).execute();
  }
  async deleteNode(id: string): Promise<void> {
    await this.exec.deleteFrom('nodes').where('id', '=', id).execute();
  }
  /** Nodes of live clusters, overall and for one project (capacity and quota, D18). */
  async countNodes(projectId?: string): Promise<number> {
    let q = this.exec.selectFrom('nodes').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
      .select((eb) => eb.fn.countAll().as('n')).where('clusters.deleted_at', 'is', null);
    if (projectId) q = q.where('clusters.project_id', '=', projectId);
    const r = await q.executeTakeFirst();
    return num(r?.n ?? 0);
  }

  // ------------------------------------------------------------------ project OS users (D32)
  /** The highest uid ever recorded for a project user (uids are never reused), or null. */
  async highestOsUid(): Promise<number | null> {
    const r = await this.exec.selectFrom('project_os_users').select((eb) => eb.fn.max('uid').as('m')).executeTakeFirst();
    return r?.m === null || r?.m === undefined ? null : num(r.m);
  }
  /** Record a project's OS user; idempotent for the same project, name and uid. */
  async recordOsUser(projectId: string, name: string, uid: number, now: number): Promise<void> {
    const have = await this.exec.selectFrom('project_os_users').selectAll().where('project_id', '=', projectId).executeTakeFirst();
    if (have && num(have.uid) === uid && have.name === name) return;
    if (have) {
      await this.exec.updateTable('project_os_users').set({ name, uid }).where('project_id', '=', projectId).execute();
      return;
    }
    await this.exec.insertInto('project_os_users').values({ project_id: projectId, name, uid, created_at: now }).onConflict((oc) => oc.column('project_id').doNothing()).execute();
  }
  async listOsUsers(): Promise<{ projectId: string; name: string; uid: number }[]> {
    const rows = await this.exec.selectFrom('project_os_users').selectAll().orderBy('uid').execute();
    return rows.map((r) => ({ projectId: r.project_id, name: r.name, uid: num(r.uid) }));
  }

  // ------------------------------------------------------------------ snapshots
  async insertSnapshot(s: SnapshotRecord): Promise<void> {
    await this.exec.insertInto('snapshots').values(fromSnapshot(s) as SnapshotsTable).execute()
      .catch((e) => mapDbError(e, () => new AppError('SNAPSHOT_NAME_EXISTS', { args: [s.name] })));
  }
  /** A visible (not deleted) snapshot of this project. */
  async getSnapshot(projectId: string, id: string): Promise<SnapshotRecord | undefined> {
    const r = await this.exec.selectFrom('snapshots').selectAll().where('id', '=', id).where('project_id', '=', projectId).where('deleted_at', 'is', null).executeTakeFirst();
    return r && toSnapshot(r);
  }
  async getSnapshotById(id: string): Promise<SnapshotRecord | undefined> {
    const r = await this.exec.selectFrom('snapshots').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toSnapshot(r);
  }
  async findSnapshotByName(projectId: string, name: string): Promise<SnapshotRecord | undefined> {
    const r = await this.exec.selectFrom('snapshots').selectAll().where('project_id', '=', projectId).where('name', '=', name).where('deleted_at', 'is', null).executeTakeFirst();
    return r && toSnapshot(r);
  }
  /** Visible snapshots, newest first. */
  async listSnapshots(projectId: string, clusterId?: string): Promise<SnapshotRecord[]> {
    let q = this.exec.selectFrom('snapshots').selectAll().where('project_id', '=', projectId).where('deleted_at', 'is', null).orderBy('created_at', 'desc').orderBy('id');
    if (clusterId) q = q.where('cluster_id', '=', clusterId);
    return (await q.execute()).map(toSnapshot);
  }
  /** Every snapshot row of a stanza whose backup set has not been expired (visible or not), oldest first. */
  async listStanzaSnapshots(stanza: string): Promise<SnapshotRecord[]> {
    const rows = await this.exec.selectFrom('snapshots').selectAll().where('stanza', '=', stanza).where('expired_at', 'is', null).orderBy('created_at').orderBy('id').execute();
    return rows.map(toSnapshot);
  }
  /** Deleted snapshots whose backup sets have not been expired yet. */
  async listHiddenUnexpiredSnapshots(): Promise<SnapshotRecord[]> {
    const rows = await this.exec.selectFrom('snapshots').selectAll().where('deleted_at', 'is not', null).where('expired_at', 'is', null).execute();
    return rows.map(toSnapshot);
  }
  /**
   * What a project's snapshots take, for its quotas (docs/security.md, fair shares): `count`,
   * its visible snapshots of every level and status; `bytes`, the sizes recorded for every
   * snapshot whose backup set or dump is still kept (visible, or deleted but not expired yet).
   * `exceptId` leaves one snapshot out (the one being taken, when its step checks again).
   */
  async snapshotUsage(projectId: string, exceptId?: string): Promise<{ count: number; bytes: number }> {
    let q = this.exec.selectFrom('snapshots').where('project_id', '=', projectId).where('expired_at', 'is', null);
    if (exceptId !== undefined) q = q.where('id', '<>', exceptId);
    const r = await q.select((eb) => [
      eb.fn.sum<number | string | null>(eb.case().when('deleted_at', 'is', null).then(1).else(0).end()).as('count'),
      eb.fn.sum<number | string | null>(eb.fn.coalesce('size_bytes', sql<number>`0`)).as('bytes'),
    ]).executeTakeFirst();
    return { count: num(r?.count ?? 0), bytes: num(r?.bytes ?? 0) };
  }
  async updateSnapshot(id: string, patch: Partial<SnapshotRecord>): Promise<void> {
    await this.exec.updateTable('snapshots').set(fromSnapshot(patch)).where('id', '=', id).execute()
      .catch((e) => mapDbError(e, () => new AppError('SNAPSHOT_NAME_EXISTS', { args: [patch.name ?? ''] })));
  }

  // ------------------------------------------------------------------ tasks
  /**
   * Insert a task and its planned steps. Throws CLUSTER_BUSY (through the one-active-task
   * index) when another task holds the same lock key.
   */
  async insertTask(t: TaskRecord, steps: StepRecord[]): Promise<void> {
    try {
      await this.exec.insertInto('tasks').values({
        id: t.id, project_id: t.projectId, cluster_id: t.clusterId, cluster_name: t.clusterName, snapshot_id: t.snapshotId, kind: t.kind,
        lock_key: t.lockKey, status: t.status, phase: t.phase, params: j(t.params), state: j(t.state), progress: t.progress, attempt: t.attempt,
        max_attempts: t.maxAttempts, run_at: t.runAt, locked_by: t.lockedBy, lease_epoch: t.leaseEpoch, lease_expires_at: t.leaseExpiresAt,
        ran_by: j(t.ranBy), error_code: t.errorCode, error_msg: t.errorMsg, failed_step: t.failedStep, created_at: t.createdAt,
        started_at: t.startedAt, finished_at: t.finishedAt, updated_at: t.updatedAt,
      }).execute();
    } catch (e) {
      mapDbError(e, () => new AppError('CLUSTER_BUSY', { args: [t.clusterId ?? t.lockKey, 'another task', '?'] }));
    }
    await this.insertSteps(steps);
  }
  async insertSteps(steps: StepRecord[]): Promise<void> {
    if (steps.length === 0) return;
    await this.exec.insertInto('task_steps').values(steps.map((s) => ({
      task_id: s.taskId, step_id: s.stepId, seq: s.seq, item_key: s.itemKey, phase: s.phase, status: s.status, weight: s.weight,
      begin_at: s.beginAt, end_at: s.endAt, estimated_time: s.estimatedTime, progress: s.progress, progress_info: j(s.progressInfo),
      checkpoint: s.checkpoint === null || s.checkpoint === undefined ? null : j(s.checkpoint), error_code: s.errorCode, error_msg: s.errorMsg, attempts: s.attempts,
    }))).execute();
  }
  async getTask(id: string): Promise<TaskRecord | undefined> {
    const r = await this.exec.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toTask(r);
  }
  /** The active task holding a lock key, if any. */
  async activeTask(lockKey: string): Promise<TaskRecord | undefined> {
    const r = await this.exec.selectFrom('tasks').selectAll().where('lock_key', '=', lockKey).where('status', 'in', ACTIVE).executeTakeFirst();
    return r && toTask(r);
  }
  async listActiveTasks(): Promise<TaskRecord[]> {
    return (await this.exec.selectFrom('tasks').selectAll().where('status', 'in', ACTIVE).orderBy('created_at').execute()).map(toTask);
  }
  /** Active tasks that read a snapshot (restores), for D16's delete guard. */
  async activeTasksOfSnapshot(snapshotId: string): Promise<TaskRecord[]> {
    return (await this.exec.selectFrom('tasks').selectAll().where('snapshot_id', '=', snapshotId).where('status', 'in', ACTIVE).execute()).map(toTask);
  }
  /** A cluster's tasks, newest first, optionally of some kinds and statuses. */
  async listTasks(clusterId: string, opts: { kinds?: readonly TaskKind[]; statuses?: readonly TaskStatus[]; limit?: number } = {}): Promise<TaskRecord[]> {
    let q = this.exec.selectFrom('tasks').selectAll().where('cluster_id', '=', clusterId).orderBy('created_at', 'desc').orderBy('id', 'desc');
    if (opts.kinds) q = q.where('kind', 'in', opts.kinds as TaskKind[]);
    if (opts.statuses) q = q.where('status', 'in', opts.statuses as TaskStatus[]);
    if (opts.limit) q = q.limit(opts.limit);
    return (await q.execute()).map(toTask);
  }
  async listAllTasks(opts: { statuses?: readonly TaskStatus[]; limit?: number } = {}): Promise<TaskRecord[]> {
    let q = this.exec.selectFrom('tasks').selectAll().orderBy('created_at', 'desc');
    if (opts.statuses) q = q.where('status', 'in', opts.statuses as TaskStatus[]);
    if (opts.limit) q = q.limit(opts.limit);
    return (await q.execute()).map(toTask);
  }

  /**
   * Claim the next runnable task: one that is active, due, and not leased by a live owner.
   * The conditional update is the fence: of several claimers only one sees its row change.
   * The claim bumps `lease_epoch`; every later write of the owner carries it.
   */
  async claimNextTask(o: ClaimOptions): Promise<TaskRecord | undefined> {
    for (let tries = 0; tries < 3; tries++) {
      // With row locks (PostgreSQL), in a transaction: the candidate's row lock and the
      // project's lock (below) last until the claim commits. SQLite runs one writer at a
      // time, and the claim's one UPDATE holds everything it checks.
      const r = this.capabilities.supportsRowLocks ? await this.transaction((tx) => tx.claimOnce(o)) : await this.claimOnce(o);
      if (r !== 'retry') return r;
    }
    return undefined;
  }

  /**
   * One claim attempt: the earliest due, claimable task whose project is below
   * `projectLimit`; 'retry' when another process got it (or filled its project) first. The
   * candidate never counts as running itself: it is claimable only without a live lease (a
   * task resumed after a crash, or a rollback taken over, waits for its project's share like
   * any other, never for its own).
   */
  private async claimOnce(o: ClaimOptions): Promise<TaskRecord | 'retry' | undefined> {
    const excluded = o.excludeIds ?? [];
    const limit = o.projectLimit;
    /** An ACTIVE task runs while its lease is live, or while this owner runs it (its lease may have just run out). */
    const runs = (eb: ExpressionBuilder<Database, 'tasks'>) => eb.or([
      eb.and([eb('locked_by', 'is not', null), eb('lease_expires_at', '>=', o.now)]),
      ...(excluded.length ? [eb('id', 'in', excluded as string[])] : []),
    ]);
    let full: string[] = [];
    if (limit !== undefined) {
      full = (await this.exec.selectFrom('tasks').select('project_id').where('status', 'in', ACTIVE).where(runs)
        .groupBy('project_id').having((eb) => eb.fn.countAll(), '>=', limit).execute()).map((r) => r.project_id);
    }
    let q = this.exec.selectFrom('tasks').select(['id', 'lease_epoch', 'project_id'])
      .where('status', 'in', ACTIVE).where('run_at', '<=', o.now)
      .where((eb) => eb.or([eb('locked_by', 'is', null), eb('lease_expires_at', '<', o.now)]))
      .orderBy('run_at').orderBy('created_at').limit(1);
    if (o.kinds) q = q.where('kind', 'in', o.kinds as string[]);
    if (excluded.length) q = q.where('id', 'not in', excluded as string[]);
    if (full.length) q = q.where('project_id', 'not in', full);
    if (this.capabilities.supportsSkipLocked) q = q.forUpdate().skipLocked();
    const cand = await q.executeTakeFirst();
    if (!cand) return undefined;
    // Another process may be claiming a task of the same project at this moment: one at a
    // time (on PostgreSQL, whose claims run side by side); the UPDATE then counts again.
    if (limit !== undefined && this.capabilities.supportsRowLocks) await this.adapter.lockUntilCommit(this.exec as Transaction<Database>, `claim:${cand.project_id}`);
    let u = this.exec.updateTable('tasks')
      .set({ locked_by: o.owner, lease_epoch: num(cand.lease_epoch) + 1, lease_expires_at: o.now + o.leaseMs, updated_at: o.now })
      .where('id', '=', cand.id).where('lease_epoch', '=', num(cand.lease_epoch));
    if (limit !== undefined) {
      u = u.where((eb) => eb(
        eb.selectFrom('tasks as r').select((x) => x.fn.countAll().as('n'))
          .where('r.project_id', '=', cand.project_id).where('r.status', 'in', ACTIVE)
          .where((x) => x.or([
            x.and([x('r.locked_by', 'is not', null), x('r.lease_expires_at', '>=', o.now)]),
            ...(excluded.length ? [x('r.id', 'in', excluded as string[])] : []),
          ])),
        '<', limit));
    }
    const r = await u.returningAll().executeTakeFirst();
    return r ? toTask(r) : 'retry';
  }

  /**
   * End the lease of a task whose owner is known to be dead, so another process takes it over
   * at once instead of waiting for the lease to run out. Conditional on the epoch: a lease
   * renewed or taken meanwhile is left alone.
   */
  async expireLease(taskId: string, epoch: number, now: number): Promise<boolean> {
    const r = await this.exec.updateTable('tasks').set({ lease_expires_at: 0, updated_at: now })
      .where('id', '=', taskId).where('lease_epoch', '=', epoch).where('status', 'in', ACTIVE).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Extend the lease if it is still ours; false when another owner has taken the task. */
  async renewLease(taskId: string, epoch: number, until: number, now: number): Promise<boolean> {
    const r = await this.exec.updateTable('tasks').set({ lease_expires_at: until, updated_at: now })
      .where('id', '=', taskId).where('lease_epoch', '=', epoch).where('status', 'in', ACTIVE).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Run `fn` in a transaction that first checks (and on PostgreSQL row-locks) that the task's
   * lease epoch is still `epoch`. Every store write of a running step goes through here, so a
   * process that lost its lease cannot overwrite its successor's work (D1).
   */
  async fenced<T>(taskId: string, epoch: number, fn: (tx: Store) => Promise<T>): Promise<T> {
    return this.transaction(async (tx) => {
      let q = tx.exec.selectFrom('tasks').select('lease_epoch').where('id', '=', taskId);
      if (this.capabilities.supportsRowLocks) q = q.forUpdate();
      const r = await q.executeTakeFirst();
      if (!r || num(r.lease_epoch) !== epoch) throw new AppError('LEASE_LOST', { args: [taskId, epoch] });
      return fn(tx);
    });
  }

  async updateTask(id: string, patch: TaskPatch, now: number): Promise<void> {
    await this.exec.updateTable('tasks').set({ ...fromTaskPatch(patch), updated_at: now }).where('id', '=', id).execute();
  }
  async listSteps(taskId: string): Promise<StepRecord[]> {
    return (await this.exec.selectFrom('task_steps').selectAll().where('task_id', '=', taskId).orderBy('seq').execute()).map(toStep);
  }
  async getStep(taskId: string, stepId: string): Promise<StepRecord | undefined> {
    const r = await this.exec.selectFrom('task_steps').selectAll().where('task_id', '=', taskId).where('step_id', '=', stepId).executeTakeFirst();
    return r && toStep(r);
  }
  async updateStep(taskId: string, stepId: string, patch: StepPatch): Promise<void> {
    await this.exec.updateTable('task_steps').set(fromStepPatch(patch)).where('task_id', '=', taskId).where('step_id', '=', stepId).execute();
  }
  async insertSample(s: ProgressSample): Promise<void> {
    await this.exec.insertInto('progress_samples').values({
      task_id: s.taskId, step_id: s.stepId, at: s.at, source: s.source, bytes_done: s.bytesDone, bytes_total: s.bytesTotal, percent: s.percent, data: j(s.data),
    }).execute();
  }
  async listSamples(taskId: string, stepId?: string): Promise<ProgressSample[]> {
    let q = this.exec.selectFrom('progress_samples').selectAll().where('task_id', '=', taskId).orderBy('id');
    if (stepId) q = q.where('step_id', '=', stepId);
    return (await q.execute()).map((r) => ({
      id: num(r.id), taskId: r.task_id, stepId: r.step_id, at: num(r.at), source: r.source, bytesDone: numOrNull(r.bytes_done),
      bytesTotal: numOrNull(r.bytes_total), percent: numOrNull(r.percent), data: pj(r.data),
    }));
  }
  /** Durations (ms) of the latest successful runs of a step of a kind, for estimates (D14). */
  async pastStepDurations(kind: TaskKind, stepId: string, limit = 15): Promise<number[]> {
    const rows = await this.exec.selectFrom('task_steps').innerJoin('tasks', 'tasks.id', 'task_steps.task_id')
      .select(['task_steps.begin_at', 'task_steps.end_at'])
      .where('tasks.kind', '=', kind).where('task_steps.step_id', '=', stepId).where('task_steps.status', '=', 'SUCCESS')
      .where('task_steps.begin_at', 'is not', null).where('task_steps.end_at', 'is not', null)
      .orderBy('task_steps.end_at', 'desc').limit(limit).execute();
    return rows.map((r) => num(r.end_at) - num(r.begin_at));
  }

  // ------------------------------------------------------------------ snapshot policies
  async getPolicySettings(clusterId: string): Promise<PolicySettingsRecord | undefined> {
    const r = await this.exec.selectFrom('snapshot_policy_settings').selectAll().where('cluster_id', '=', clusterId).executeTakeFirst();
    return r && {
      clusterId: r.cluster_id, projectId: r.project_id, keepDay: num(r.keep_day), deviceName: r.device_name, serverIps: pj<string[]>(r.server_ips) ?? [],
      serverPort: r.server_port, backupParam: r.backup_param, autoBackup: num(r.auto_backup) === 1, createdAt: num(r.created_at), updatedAt: num(r.updated_at),
    };
  }
  /** Every cluster's policy settings (for retention). */
  async listPolicySettings(): Promise<PolicySettingsRecord[]> {
    const rows = await this.exec.selectFrom('snapshot_policy_settings').select('cluster_id').execute();
    const out: PolicySettingsRecord[] = [];
    for (const r of rows) {
      const s = await this.getPolicySettings(r.cluster_id);
      if (s) out.push(s);
    }
    return out;
  }
  /** Insert or replace a cluster's policy settings. */
  async savePolicySettings(s: PolicySettingsRecord): Promise<void> {
    const row = {
      cluster_id: s.clusterId, project_id: s.projectId, keep_day: s.keepDay, device_name: s.deviceName, server_ips: j(s.serverIps), server_port: s.serverPort,
      backup_param: s.backupParam, auto_backup: s.autoBackup ? 1 : 0, created_at: s.createdAt, updated_at: s.updatedAt,
    };
    await this.exec.insertInto('snapshot_policy_settings').values(row)
      .onConflict((oc) => oc.column('cluster_id').doUpdateSet({ ...row, created_at: undefined as unknown as number }))
      .execute();
  }
  /** A cluster's live (not deleted) strategies, oldest first. */
  async listPolicies(clusterId: string): Promise<SnapshotPolicyRecord[]> {
    const rows = await this.exec.selectFrom('snapshot_policies').selectAll().where('cluster_id', '=', clusterId).where('deleted_at', 'is', null)
      .orderBy('created_at').orderBy('id').execute();
    return rows.map(toPolicy);
  }
  /** A strategy by id, deleted or not. */
  async getPolicy(id: string): Promise<SnapshotPolicyRecord | undefined> {
    const r = await this.exec.selectFrom('snapshot_policies').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toPolicy(r);
  }
  /** Throws SNAPSHOT_POLICY_NAME_EXISTS when the cluster already has a live strategy of that name (any case). */
  async insertPolicy(p: SnapshotPolicyRecord): Promise<void> {
    await this.exec.insertInto('snapshot_policies').values(fromPolicy(p) as SnapshotPoliciesTable).execute()
      .catch((e) => mapDbError(e, () => new AppError('SNAPSHOT_POLICY_NAME_EXISTS', { args: [p.name] })));
  }
  async updatePolicy(id: string, patch: Partial<SnapshotPolicyRecord>): Promise<void> {
    await this.exec.updateTable('snapshot_policies').set(fromPolicy(patch)).where('id', '=', id).execute()
      .catch((e) => mapDbError(e, () => new AppError('SNAPSHOT_POLICY_NAME_EXISTS', { args: [patch.name ?? id] })));
  }
  /**
   * Live strategies due at `now` (cursor at or before it) whose cluster exists and has
   * automated backup on.
   */
  async listDuePolicies(now: number): Promise<SnapshotPolicyRecord[]> {
    const rows = await this.exec.selectFrom('snapshot_policies')
      .innerJoin('snapshot_policy_settings', 'snapshot_policy_settings.cluster_id', 'snapshot_policies.cluster_id')
      .innerJoin('clusters', 'clusters.id', 'snapshot_policies.cluster_id')
      .selectAll('snapshot_policies')
      .where('snapshot_policies.deleted_at', 'is', null).where('snapshot_policies.next_fire_at', 'is not', null)
      .where('snapshot_policies.next_fire_at', '<=', now).where('snapshot_policy_settings.auto_backup', '=', 1).where('clusters.deleted_at', 'is', null)
      .orderBy('snapshot_policies.next_fire_at').execute();
    return rows.map(toPolicy);
  }
  /**
   * Record a fired slot. Returns false, writing nothing, when that slot of that strategy was
   * already fired (by this or another process): the primary key (policy_id, fire_time) is
   * what makes a fire time produce at most one snapshot.
   */
  async insertPolicyFire(f: PolicyFireRecord): Promise<boolean> {
    const r = await this.exec.insertInto('policy_fires').values({
      policy_id: f.policyId, fire_time: f.fireTime, outcome: f.outcome, snapshot_id: f.snapshotId, detail: f.detail, created_at: f.createdAt,
    }).onConflict((oc) => oc.columns(['policy_id', 'fire_time']).doNothing()).executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }
  async setPolicyFireSnapshot(policyId: string, fireTime: number, snapshotId: string): Promise<void> {
    await this.exec.updateTable('policy_fires').set({ snapshot_id: snapshotId }).where('policy_id', '=', policyId).where('fire_time', '=', fireTime).execute();
  }
  /** Fired slots, oldest first (of one strategy, or all). */
  async listPolicyFires(policyId?: string): Promise<PolicyFireRecord[]> {
    let q = this.exec.selectFrom('policy_fires').selectAll().orderBy('fire_time').orderBy('policy_id');
    if (policyId) q = q.where('policy_id', '=', policyId);
    return (await q.execute()).map((r) => ({
      policyId: r.policy_id, fireTime: num(r.fire_time), outcome: r.outcome as PolicyFireRecord['outcome'], snapshotId: r.snapshot_id, detail: r.detail, createdAt: num(r.created_at),
    }));
  }

  /** When a strategy last made a snapshot (its latest CREATED fire's `created_at`), or null: the scheduler's minimum interval. */
  async lastPolicySnapshotAt(policyId: string): Promise<number | null> {
    const r = await this.exec.selectFrom('policy_fires').select((eb) => eb.fn.max('created_at').as('at'))
      .where('policy_id', '=', policyId).where('outcome', '=', 'CREATED').executeTakeFirst();
    return numOrNull(r?.at);
  }

  // ------------------------------------------------------------------ faults
  async insertFault(f: FaultRecord): Promise<void> {
    await this.exec.insertInto('faults').values({
      id: f.id, project_id: f.projectId, cluster_id: f.clusterId, action_name: f.actionName, step: f.step, mode: f.mode, point: f.point,
      delay_ms: f.delayMs, times_left: f.timesLeft, created_at: f.createdAt,
    }).execute();
  }
  async listFaults(projectId?: string): Promise<FaultRecord[]> {
    let q = this.exec.selectFrom('faults').selectAll().orderBy('created_at');
    if (projectId) q = q.where('project_id', '=', projectId);
    return (await q.execute()).map(toFault);
  }
  async deleteFaults(projectId: string, id?: string): Promise<number> {
    let q = this.exec.deleteFrom('faults').where('project_id', '=', projectId);
    if (id) q = q.where('id', '=', id);
    return Number((await q.executeTakeFirst()).numDeletedRows);
  }
  /** Use up one firing of a fault; false when it was already used up by someone else. */
  async consumeFault(f: FaultRecord): Promise<boolean> {
    if (f.timesLeft === null) return true;
    if (f.timesLeft <= 1) {
      const r = await this.exec.deleteFrom('faults').where('id', '=', f.id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    }
    const r = await this.exec.updateTable('faults').set({ times_left: f.timesLeft - 1 }).where('id', '=', f.id).where('times_left', '=', f.timesLeft).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async close(): Promise<void> {
    await this.adapter.close();
  }
}
