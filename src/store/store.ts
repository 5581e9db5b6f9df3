/**
 * The metadata store's one façade: the `Store` every caller uses, one implementation for both
 * backends. Each method hands its work to the module of its record kind (tables/*.ts: the
 * queries); rows are mapped in rows.ts; the adapters (adapters.ts) classify every driver
 * error as a StoreError, which store-errors.ts turns into the catalog's refusals. What differs
 * between SQLite and PostgreSQL is a capability flag (store-adapter.ts).
 */
import { sql, type Kysely } from 'kysely';
import type {
  ClusterRecord,
  CredentialRecord,
  FaultRecord,
  NodeRecord,
  ProgressSample,
  ProjectRecord,
  SnapshotRecord,
  StepRecord,
  TaskRecord,
  TokenRecord,
  UserRecord,
} from '../domain/records.js';
import type { DbSyncRecord, SyncedRoleRecord } from '../domain/db-sync.js';
import type { MetricSample } from '../domain/metrics.js';
import type { AlarmRecord } from '../domain/alarms.js';
import type { AuditRecord } from '../domain/audit.js';
import type { HostRecord } from '../domain/hosts.js';
import type { DisasterRecoveryRecord } from '../domain/disaster-recovery.js';
import type { PolicyFireRecord, PolicySettingsRecord, SnapshotPolicyRecord } from '../domain/snapshot-policy.js';
import type { TaskKind } from '../domain/task.js';
import { AppError } from '../errors/app-error.js';
import type { EventRecord, EventSubscriptionRecord, OsUserRecord } from './rows.js';
import type { Database } from './schema.js';
import type { StoreAdapter, StoreCapabilities } from './store-adapter.js';
import { rethrowStoreError } from './store-errors.js';
import * as accounts from './tables/accounts.js';
import * as alarms from './tables/alarms.js';
import * as audit from './tables/audit.js';
import * as clusters from './tables/clusters.js';
import * as dbSyncs from './tables/db-syncs.js';
import * as eventSubs from './tables/event-subs.js';
import * as events from './tables/events.js';
import * as faults from './tables/faults.js';
import * as hosts from './tables/hosts.js';
import * as disasterRecoveries from './tables/disaster-recoveries.js';
import * as metrics from './tables/metrics.js';
import * as osUsers from './tables/os-users.js';
import * as policies from './tables/snapshot-policies.js';
import * as snapshots from './tables/snapshots.js';
import { claimOnce, type ClaimOptions } from './tables/task-claim.js';
import * as steps from './tables/task-steps.js';
import * as tasks from './tables/tasks.js';

export type { StoreAdapter, StoreCapabilities } from './store-adapter.js';
export type { OsUserRecord } from './rows.js';
export type { EventRecord, EventSeverity, EventSubscriptionRecord } from './rows.js';
export type { EventSubDeliveryPatch, SequencedEvent } from './tables/event-subs.js';
export type { EventFilter, EventListOptions, EventTotal } from './tables/events.js';
export type { ClaimOptions } from './tables/task-claim.js';
export type { StepPatch } from './tables/task-steps.js';
export type { TaskListOptions, TaskPatch } from './tables/tasks.js';

/** How many times a claim is tried when other processes keep taking the candidate first. */
const CLAIM_ATTEMPTS = 3;

export class Store {
  constructor(
    readonly adapter: StoreAdapter,
    /** the adapter's database, or the transaction this store writes in */
    private readonly db: Kysely<Database> = adapter.db,
  ) {}

  get capabilities(): StoreCapabilities {
    return this.adapter.capabilities;
  }

  /**
   * Run `fn` in one transaction; the store it receives writes inside it (a store already in a
   * transaction runs `fn` in the same one). A transient failure (busy, lost, a lost race) comes
   * out as STORE_UNAVAILABLE.
   */
  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.db !== this.adapter.db) return fn(this);
    try {
      return await this.adapter.db.transaction().execute((trx) => fn(new Store(this.adapter, trx)));
    } catch (e) {
      return rethrowStoreError(e);
    }
  }

  /** See StoreAdapter.readVersion. */
  readVersion(): string | Promise<string> {
    return this.adapter.readVersion();
  }

  /** `select 1`: for readiness. */
  async ping(): Promise<void> {
    try {
      await sql`select 1`.execute(this.db);
    } catch (e) {
      throw new AppError('STORE_UNAVAILABLE', { args: [(e as Error).message], cause: e });
    }
  }

  async close(): Promise<void> {
    await this.adapter.close();
  }

  // ------------------------------------------------------------------ projects, credentials, users, tokens
  ensureProject(project: ProjectRecord): Promise<void> {
    return accounts.ensureProject(this.db, project);
  }
  getProject(id: string): Promise<ProjectRecord | undefined> {
    return accounts.getProject(this.db, id);
  }
  listProjects(): Promise<ProjectRecord[]> {
    return accounts.listProjects(this.db);
  }
  /** Throws VALIDATION when the access key exists. */
  insertCredential(credential: CredentialRecord): Promise<void> {
    return accounts.insertCredential(this.db, credential);
  }
  getCredential(accessKey: string): Promise<CredentialRecord | undefined> {
    return accounts.getCredential(this.db, accessKey);
  }
  listCredentials(projectId?: string): Promise<CredentialRecord[]> {
    return accounts.listCredentials(this.db, projectId);
  }
  deleteCredential(accessKey: string): Promise<boolean> {
    return accounts.deleteCredential(this.db, accessKey);
  }
  /** Throws VALIDATION when the name is taken. */
  insertUser(user: UserRecord): Promise<void> {
    return accounts.insertUser(this.db, user);
  }
  getUserByName(name: string): Promise<UserRecord | undefined> {
    return accounts.getUserByName(this.db, name);
  }
  listUsers(projectId?: string): Promise<UserRecord[]> {
    return accounts.listUsers(this.db, projectId);
  }
  /** Delete a user with its tokens; false when there is none of that name. */
  deleteUser(name: string): Promise<boolean> {
    return accounts.deleteUser(this.db, name);
  }
  insertToken(token: TokenRecord): Promise<void> {
    return accounts.insertToken(this.db, token);
  }
  getToken(hash: string): Promise<TokenRecord | undefined> {
    return accounts.getToken(this.db, hash);
  }
  deleteExpiredTokens(now: number): Promise<void> {
    return accounts.deleteExpiredTokens(this.db, now);
  }

  // ------------------------------------------------------------------ clusters and nodes
  /** Throws CLUSTER_NAME_EXISTS when a live cluster of the project has the name (or holds the subnet index). */
  insertCluster(cluster: ClusterRecord): Promise<void> {
    return clusters.insertCluster(this.db, cluster);
  }
  /** A live cluster of this project (deleted ones are gone). */
  getCluster(projectId: string, id: string): Promise<ClusterRecord | undefined> {
    return clusters.getCluster(this.db, projectId, id);
  }
  /** Any cluster row by id, deleted or not (the tasks' view). */
  getClusterById(id: string): Promise<ClusterRecord | undefined> {
    return clusters.getClusterById(this.db, id);
  }
  findClusterByName(projectId: string, name: string): Promise<ClusterRecord | undefined> {
    return clusters.findClusterByName(this.db, projectId, name);
  }
  listClusters(projectId?: string): Promise<ClusterRecord[]> {
    return clusters.listClusters(this.db, projectId);
  }
  /** Patch the given fields; renaming onto a live name throws CLUSTER_NAME_EXISTS. */
  updateCluster(id: string, patch: Partial<ClusterRecord>): Promise<void> {
    return clusters.updateCluster(this.db, id, patch);
  }
  /** Live clusters whose restart waiting for the maintenance window is due at `now`. */
  listDueRestarts(now: number): Promise<ClusterRecord[]> {
    return clusters.listDueRestarts(this.db, now);
  }
  /** Subnet indexes (c of 127.0.c.i) held by live clusters. */
  usedSubnetIndexes(): Promise<Set<number>> {
    return clusters.usedSubnetIndexes(this.db);
  }
  insertNode(node: NodeRecord): Promise<void> {
    return clusters.insertNode(this.db, node);
  }
  /** The live cluster of the project that has the node, if any (ShowInstance). */
  clusterOfNode(projectId: string, nodeId: string): Promise<string | null> {
    return clusters.clusterOfNode(this.db, projectId, nodeId);
  }
  listNodes(clusterId: string): Promise<NodeRecord[]> {
    return clusters.listNodes(this.db, clusterId);
  }
  /** Every node of every live cluster. */
  listAllNodes(): Promise<NodeRecord[]> {
    return clusters.listAllNodes(this.db);
  }
  updateNode(id: string, patch: Partial<NodeRecord>): Promise<void> {
    return clusters.updateNode(this.db, id, patch);
  }
  deleteNode(id: string): Promise<void> {
    return clusters.deleteNode(this.db, id);
  }
  /** Nodes of live clusters, overall and for one project (capacity and quota, D18). */
  countNodes(projectId?: string): Promise<number> {
    return clusters.countNodes(this.db, projectId);
  }

  // ------------------------------------------------------------------ project OS users (D32)
  /** The highest uid ever recorded for a project user (uids are never reused), or null. */
  highestOsUid(): Promise<number | null> {
    return osUsers.highestOsUid(this.db);
  }
  /** Record a project's OS user; idempotent for the same project, name and uid. */
  recordOsUser(projectId: string, name: string, uid: number, now: number): Promise<void> {
    return osUsers.recordOsUser(this.db, { projectId, name, uid }, now);
  }
  listOsUsers(): Promise<OsUserRecord[]> {
    return osUsers.listOsUsers(this.db);
  }

  // ------------------------------------------------------------------ snapshots
  /** Throws SNAPSHOT_NAME_EXISTS when a visible snapshot of the project has the name. */
  insertSnapshot(snapshot: SnapshotRecord): Promise<void> {
    return snapshots.insertSnapshot(this.db, snapshot);
  }
  /** A visible (not deleted) snapshot of this project. */
  getSnapshot(projectId: string, id: string): Promise<SnapshotRecord | undefined> {
    return snapshots.getSnapshot(this.db, projectId, id);
  }
  getSnapshotById(id: string): Promise<SnapshotRecord | undefined> {
    return snapshots.getSnapshotById(this.db, id);
  }
  findSnapshotByName(projectId: string, name: string): Promise<SnapshotRecord | undefined> {
    return snapshots.findSnapshotByName(this.db, projectId, name);
  }
  /** Visible snapshots, newest first. */
  listSnapshots(projectId: string, clusterId?: string): Promise<SnapshotRecord[]> {
    return snapshots.listSnapshots(this.db, projectId, clusterId);
  }
  /** Every snapshot row of a stanza whose backup set has not been expired (visible or not), oldest first. */
  listStanzaSnapshots(stanza: string): Promise<SnapshotRecord[]> {
    return snapshots.listStanzaSnapshots(this.db, stanza);
  }
  /** Deleted snapshots whose backup sets have not been expired yet. */
  listHiddenUnexpiredSnapshots(): Promise<SnapshotRecord[]> {
    return snapshots.listHiddenUnexpiredSnapshots(this.db);
  }
  /** What a project's snapshots take, for its quotas (tables/snapshots.ts says what counts). */
  snapshotUsage(projectId: string, exceptId?: string): Promise<{ count: number; bytes: number }> {
    return snapshots.snapshotUsage(this.db, projectId, exceptId);
  }
  /** What one cluster's snapshots take, and how many it has of each type (tables/snapshots.ts says what counts). */
  clusterSnapshotUsage(projectId: string, clusterId: string): Promise<{ bytes: number; manual: number; auto: number }> {
    return snapshots.clusterSnapshotUsage(this.db, projectId, clusterId);
  }
  /** When the oldest snapshot a point-in-time restore of the cluster can start from finished (tables/snapshots.ts says which count). */
  earliestPointInTimeBase(clusterId: string, stanza: string): Promise<number | null> {
    return snapshots.earliestPointInTimeBase(this.db, clusterId, stanza);
  }
  updateSnapshot(id: string, patch: Partial<SnapshotRecord>): Promise<void> {
    return snapshots.updateSnapshot(this.db, id, patch);
  }

  // ------------------------------------------------------------------ tasks
  /**
   * Insert a task and its planned steps. Throws CLUSTER_BUSY (through the one-active-task
   * index) when another task holds the same lock key.
   */
  insertTask(task: TaskRecord, planned: StepRecord[]): Promise<void> {
    return tasks.insertTask(this.db, task, planned);
  }
  insertSteps(planned: StepRecord[]): Promise<void> {
    return steps.insertSteps(this.db, planned);
  }
  getTask(id: string): Promise<TaskRecord | undefined> {
    return tasks.getTask(this.db, id);
  }
  /** The active task holding a lock key, if any. */
  activeTask(lockKey: string): Promise<TaskRecord | undefined> {
    return tasks.activeTask(this.db, lockKey);
  }
  listActiveTasks(): Promise<TaskRecord[]> {
    return tasks.listActiveTasks(this.db);
  }
  /** Active tasks that read a snapshot (restores), for D16's delete guard. */
  activeTasksOfSnapshot(snapshotId: string): Promise<TaskRecord[]> {
    return tasks.activeTasksOfSnapshot(this.db, snapshotId);
  }
  /** A cluster's tasks, newest first, optionally of some kinds and statuses. */
  listTasks(clusterId: string, options: tasks.TaskListOptions = {}): Promise<TaskRecord[]> {
    return tasks.listTasks(this.db, clusterId, options);
  }
  listAllTasks(options: Omit<tasks.TaskListOptions, 'kinds'> = {}): Promise<TaskRecord[]> {
    return tasks.listAllTasks(this.db, options);
  }
  updateTask(id: string, patch: tasks.TaskPatch, now: number): Promise<void> {
    return tasks.updateTask(this.db, id, patch, now);
  }

  /**
   * Claim the next runnable task: one that is active, due, and not leased by a live owner
   * (tables/task-claim.ts). The claim bumps `lease_epoch`; every later write of the owner
   * carries it.
   */
  async claimNextTask(options: ClaimOptions): Promise<TaskRecord | undefined> {
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      // With row locks (PostgreSQL), in a transaction: the candidate's row lock and the
      // project's lock last until the claim commits. SQLite runs one writer at a time, and
      // the claim's one UPDATE holds everything it checks.
      const claimed = this.capabilities.supportsRowLocks
        ? await this.transaction((tx) => claimOnce(tx.db, this.adapter, options))
        : await claimOnce(this.db, this.adapter, options);
      if (claimed !== 'retry') return claimed;
    }
    return undefined;
  }
  /** End the lease of a task whose owner is known to be dead (conditional on the epoch). */
  expireLease(taskId: string, epoch: number, now: number): Promise<boolean> {
    return tasks.expireLease(this.db, taskId, epoch, now);
  }
  /** Extend the lease if it is still ours; false when another owner has taken the task. */
  renewLease(taskId: string, epoch: number, until: number, now: number): Promise<boolean> {
    return tasks.renewLease(this.db, taskId, epoch, until, now);
  }
  /**
   * Run `fn` in a transaction that first checks (and on PostgreSQL row-locks) that the task's
   * lease epoch is still `epoch`. Every store write of a running step goes through here, so a
   * process that lost its lease cannot overwrite its successor's work (D1).
   */
  async fenced<T>(taskId: string, epoch: number, fn: (tx: Store) => Promise<T>): Promise<T> {
    return this.transaction(async (tx) => {
      const current = await tasks.leaseEpoch(tx.db, taskId, this.capabilities.supportsRowLocks);
      if (current !== epoch) throw new AppError('LEASE_LOST', { args: [taskId, epoch] });
      return fn(tx);
    });
  }

  // ------------------------------------------------------------------ steps and progress
  listSteps(taskId: string): Promise<StepRecord[]> {
    return steps.listSteps(this.db, taskId);
  }
  getStep(taskId: string, stepId: string): Promise<StepRecord | undefined> {
    return steps.getStep(this.db, taskId, stepId);
  }
  updateStep(taskId: string, stepId: string, patch: steps.StepPatch): Promise<void> {
    return steps.updateStep(this.db, taskId, stepId, patch);
  }
  insertSample(sample: ProgressSample): Promise<void> {
    return steps.insertSample(this.db, sample);
  }
  listSamples(taskId: string, stepId?: string): Promise<ProgressSample[]> {
    return steps.listSamples(this.db, taskId, stepId);
  }
  listByteSamples(clusterId: string, fromMs: number, toMs: number): ReturnType<typeof steps.listByteSamples> {
    return steps.listByteSamples(this.db, clusterId, fromMs, toMs);
  }
  /** Durations (ms) of the latest successful runs of a step of a kind, for estimates (D14). */
  pastStepDurations(kind: TaskKind, stepId: string, limit?: number): Promise<number[]> {
    return steps.pastStepDurations(this.db, kind, stepId, limit);
  }

  // ------------------------------------------------------------------ snapshot policies
  getPolicySettings(clusterId: string): Promise<PolicySettingsRecord | undefined> {
    return policies.getPolicySettings(this.db, clusterId);
  }
  /** Every cluster's policy settings (for retention). */
  listPolicySettings(): Promise<PolicySettingsRecord[]> {
    return policies.listPolicySettings(this.db);
  }
  /** Insert or replace a cluster's policy settings. */
  savePolicySettings(settings: PolicySettingsRecord): Promise<void> {
    return policies.savePolicySettings(this.db, settings);
  }
  /** A cluster's live (not deleted) strategies, oldest first. */
  listPolicies(clusterId: string): Promise<SnapshotPolicyRecord[]> {
    return policies.listPolicies(this.db, clusterId);
  }
  /** A strategy by id, deleted or not. */
  getPolicy(id: string): Promise<SnapshotPolicyRecord | undefined> {
    return policies.getPolicy(this.db, id);
  }
  /** Throws SNAPSHOT_POLICY_NAME_EXISTS when the cluster already has a live strategy of that name (any case). */
  insertPolicy(policy: SnapshotPolicyRecord): Promise<void> {
    return policies.insertPolicy(this.db, policy);
  }
  updatePolicy(id: string, patch: Partial<SnapshotPolicyRecord>): Promise<void> {
    return policies.updatePolicy(this.db, id, patch);
  }
  /** Live strategies due at `now` whose cluster exists and has automated backup on. */
  listDuePolicies(now: number): Promise<SnapshotPolicyRecord[]> {
    return policies.listDuePolicies(this.db, now);
  }
  /** Record a fired slot; false, writing nothing, when that slot of that strategy was already fired. */
  insertPolicyFire(fire: PolicyFireRecord): Promise<boolean> {
    return policies.insertPolicyFire(this.db, fire);
  }
  setPolicyFireSnapshot(policyId: string, fireTime: number, snapshotId: string): Promise<void> {
    return policies.setPolicyFireSnapshot(this.db, policyId, fireTime, snapshotId);
  }
  /** Fired slots, oldest first (of one strategy, or all). */
  listPolicyFires(policyId?: string): Promise<PolicyFireRecord[]> {
    return policies.listPolicyFires(this.db, policyId);
  }
  /** When a strategy last made a snapshot, or null: the scheduler's minimum interval. */
  lastPolicySnapshotAt(policyId: string): Promise<number | null> {
    return policies.lastPolicySnapshotAt(this.db, policyId);
  }

  // ------------------------------------------------------------------ events (D26)
  /** Record an event; false, writing nothing, when one of the same source key was recorded already (by any process). */
  recordEvent(event: EventRecord): Promise<boolean> {
    return events.recordEvent(this.db, event);
  }
  /** A page of a project's events (of one cluster, in a time range), newest first. */
  listEvents(options: events.EventListOptions): Promise<EventRecord[]> {
    return events.listEvents(this.db, options);
  }
  /** How many events a filter covers, and when the oldest occurred. */
  countEvents(filter: events.EventFilter): Promise<{ count: number; oldestAt: number | null }> {
    return events.countEvents(this.db, filter);
  }
  /** Every project's events by kind and severity (/metrics). */
  eventTotals(): Promise<events.EventTotal[]> {
    return events.eventTotals(this.db);
  }

  // ------------------------------------------------------------------ metrics history (D29)
  /** One collection's samples (a member's sample of the same second kept already is left as it is). */
  insertMetricSamples(samples: readonly MetricSample[]): Promise<void> {
    return metrics.insertSamples(this.db, samples);
  }
  /** A cluster's samples of one resolution in [fromS, toS), oldest first. */
  listMetricSamples(o: Parameters<typeof metrics.listSamples>[1]): Promise<MetricSample[]> {
    return metrics.listSamples(this.db, o);
  }
  /** The newest raw sample of each member of a cluster taken at or after `sinceS`. */
  latestMetricSamples(clusterId: string, sinceS: number): Promise<MetricSample[]> {
    return metrics.latestSamples(this.db, clusterId, sinceS);
  }
  /** Average the next raw 5-minute windows ending before `beforeS` (at most `windows`); how many. */
  rollUpMetrics(beforeS: number, windows: number): Promise<number> {
    return metrics.rollUp(this.db, beforeS, windows);
  }
  /** Remove samples of a resolution older than `beforeS`, at most `chunkS` seconds of them; how many rows. */
  pruneMetricSamples(resolution: number, beforeS: number, chunkS: number): Promise<number> {
    return metrics.pruneSamples(this.db, resolution, beforeS, chunkS);
  }
  /** Take or renew the named lease of a job one process does at a time; true when `owner` holds it. */
  takeServiceLease(name: string, owner: string, now: number, expiresAt: number): Promise<boolean> {
    return metrics.takeLease(this.db, name, owner, now, expiresAt);
  }
  releaseServiceLease(name: string, owner: string): Promise<void> {
    return metrics.releaseLease(this.db, name, owner);
  }

  // ------------------------------------------------------------------ alarms (issue 17)
  /** Raise an alarm; false when the member has one of that rule uncleared already. */
  raiseAlarm(a: AlarmRecord): Promise<boolean> {
    return alarms.raiseAlarm(this.db, a);
  }
  /** Clear an uncleared alarm at `at`; false when it was cleared already. */
  clearAlarm(id: string, at: number): Promise<boolean> {
    return alarms.clearAlarm(this.db, id, at);
  }
  activeAlarms(): Promise<AlarmRecord[]> {
    return alarms.activeAlarms(this.db);
  }
  /** A project's alarms raised in [from, to), newest first, a page, and their count. */
  listAlarms(o: Parameters<typeof alarms.listAlarms>[1]): Promise<{ alarms: AlarmRecord[]; count: number }> {
    return alarms.listAlarms(this.db, o);
  }

  // ------------------------------------------------------------------ the audit trail (issue 17, ListAuditLog)
  insertAuditRecord(a: AuditRecord): Promise<void> {
    return audit.insertAuditRecord(this.db, a);
  }
  /** A cluster's audit records, newest first, a page, and their count. */
  listAuditRecords(o: Parameters<typeof audit.listAuditRecords>[1]): Promise<{ records: AuditRecord[]; count: number }> {
    return audit.listAuditRecords(this.db, o);
  }
  /** Remove records received before `before`, at most `chunkMs` of them; how many. */
  pruneAuditRecords(before: number, chunkMs: number): Promise<number> {
    return audit.pruneAuditRecords(this.db, before, chunkMs);
  }

  // ------------------------------------------------------------------ IAM user syncs (SyncIamUsers, issue 16)
  /** Close a cluster's syncs RUNNING since before `abandonedBefore` as FAILED (their process stopped); how many. */
  closeAbandonedDbSyncs(clusterId: string, abandonedBefore: number, now: number, reason: string): Promise<number> {
    return dbSyncs.closeAbandonedDbSyncs(this.db, clusterId, abandonedBefore, now, reason);
  }
  /** A new sync's record, RUNNING; a unique violation when one of the cluster runs. */
  insertDbSync(rec: DbSyncRecord): Promise<void> {
    return dbSyncs.insertDbSync(this.db, rec);
  }
  runningDbSync(clusterId: string): Promise<DbSyncRecord | undefined> {
    return dbSyncs.runningDbSync(this.db, clusterId);
  }
  /** A sync's outcome; false when it is no longer RUNNING. */
  finishDbSync(id: string, done: Parameters<typeof dbSyncs.finishDbSync>[2]): Promise<boolean> {
    return dbSyncs.finishDbSync(this.db, id, done);
  }
  /** A page of a cluster's syncs, newest first, and their count. */
  listDbSyncs(clusterId: string, offset: number, limit: number): Promise<{ count: number; records: DbSyncRecord[] }> {
    return dbSyncs.listDbSyncs(this.db, clusterId, offset, limit);
  }
  listSyncedRoles(clusterId: string): Promise<SyncedRoleRecord[]> {
    return dbSyncs.listSyncedRoles(this.db, clusterId);
  }
  putSyncedRole(rec: SyncedRoleRecord): Promise<void> {
    return dbSyncs.putSyncedRole(this.db, rec);
  }
  forgetSyncedRole(clusterId: string, roleName: string, roleOid: number): Promise<void> {
    return dbSyncs.forgetSyncedRole(this.db, clusterId, roleName, roleOid);
  }
  /** Every sync record and synced role of a deleted cluster. */
  deleteDbSyncs(clusterId: string): Promise<void> {
    return dbSyncs.deleteDbSyncs(this.db, clusterId);
  }

  // ------------------------------------------------------------------ faults (D13)
  insertFault(fault: FaultRecord): Promise<void> {
    return faults.insertFault(this.db, fault);
  }
  listFaults(projectId?: string): Promise<FaultRecord[]> {
    return faults.listFaults(this.db, projectId);
  }
  deleteFaults(projectId: string, id?: string): Promise<number> {
    return faults.deleteFaults(this.db, projectId, id);
  }
  /** Use up one firing of a fault; false when it was already used up by someone else. */
  consumeFault(fault: FaultRecord): Promise<boolean> {
    return faults.consumeFault(this.db, fault);
  }

  // ------------------------------------------------------------------ event subscriptions (D26, issue 17)
  /** Throws EVENT_SUB_NAME_EXISTS when the project has a subscription of that name. */
  insertEventSub(rec: EventSubscriptionRecord): Promise<void> {
    return eventSubs.insertEventSub(this.db, rec);
  }
  getEventSub(
    projectId: string,
    id: string,
    kind: EventSubscriptionRecord['kind'] = 'event',
  ): Promise<EventSubscriptionRecord | undefined> {
    return eventSubs.getEventSub(this.db, projectId, id, kind);
  }
  listEventSubs(
    projectId: string,
    offset: number,
    limit: number,
    kind: EventSubscriptionRecord['kind'] = 'event',
  ): Promise<{ records: EventSubscriptionRecord[]; count: number }> {
    return eventSubs.listEventSubs(this.db, projectId, offset, limit, kind);
  }
  countEventSubs(projectId: string): Promise<number> {
    return eventSubs.countEventSubs(this.db, projectId);
  }
  /** A user's change; false when there is no such subscription. Throws EVENT_SUB_NAME_EXISTS for a taken name. */
  updateEventSub(projectId: string, id: string, patch: Partial<EventSubscriptionRecord>): Promise<boolean> {
    return eventSubs.updateEventSub(this.db, projectId, id, patch);
  }
  deleteEventSub(projectId: string, id: string): Promise<boolean> {
    return eventSubs.deleteEventSub(this.db, projectId, id);
  }
  /** The number of the last event recorded (0: none). */
  lastEventSeq(): Promise<number> {
    return eventSubs.lastEventSeq(this.db);
  }
  /** The first event after a subscription's cursor that it covers, numbered at most `upTo`. */
  nextSubEvent(sub: EventSubscriptionRecord, upTo: number): Promise<eventSubs.SequencedEvent | undefined> {
    return eventSubs.nextSubEvent(this.db, sub, upTo);
  }
  /** How many events after a subscription's cursor it covers (its pending deliveries). */
  countSubPending(sub: EventSubscriptionRecord): Promise<number> {
    return eventSubs.countSubPending(this.db, sub);
  }
  /** Ids of enabled subscriptions due for delivery whose lease `owner` may take. */
  dueEventSubs(owner: string, now: number, limit: number): Promise<string[]> {
    return eventSubs.dueEventSubs(this.db, owner, now, limit);
  }
  /** Take or renew a subscription's delivery lease; its record when `owner` holds it. */
  claimEventSub(id: string, owner: string, now: number, until: number): Promise<EventSubscriptionRecord | undefined> {
    return eventSubs.claimEventSub(this.db, id, owner, now, until);
  }
  /** Delivery state, fenced by `owner`'s lease; false when it holds it no more. */
  writeEventSubDelivery(id: string, owner: string, patch: eventSubs.EventSubDeliveryPatch): Promise<boolean> {
    return eventSubs.writeEventSubDelivery(this.db, id, owner, patch);
  }
  releaseEventSubLeases(owner: string): Promise<void> {
    return eventSubs.releaseEventSubLeases(this.db, owner);
  }

  // ------------------------------------------------------------------ hosts (issue 18, D27)
  insertHost(h: HostRecord): Promise<void> {
    return hosts.insertHost(this.db, h);
  }
  listHosts(): Promise<HostRecord[]> {
    return hosts.listHosts(this.db);
  }
  getHost(name: string): Promise<HostRecord | undefined> {
    return hosts.getHost(this.db, name);
  }
  recordHostCheck(name: string, c: Parameters<typeof hosts.recordHostCheck>[2]): Promise<void> {
    return hosts.recordHostCheck(this.db, name, c);
  }
  deleteHost(name: string): Promise<boolean> {
    return hosts.deleteHost(this.db, name);
  }

  // ------------------------------------------------------------------ disaster recovery (issue 19, D31)
  insertDisasterRecovery(d: DisasterRecoveryRecord): Promise<void> {
    return disasterRecoveries
      .insertDisasterRecovery(this.db, d)
      .catch((e: unknown) => rethrowStoreError(e, () => new AppError('DR_NAME_EXISTS', { args: [d.name] })));
  }
  listDisasterRecoveries(projectId: string | null): Promise<DisasterRecoveryRecord[]> {
    return disasterRecoveries.listDisasterRecoveries(this.db, projectId);
  }
  getDisasterRecovery(projectId: string, id: string): Promise<DisasterRecoveryRecord | undefined> {
    return disasterRecoveries.getDisasterRecovery(this.db, projectId, id);
  }
  disasterRecoveryOfCluster(clusterId: string): Promise<DisasterRecoveryRecord | undefined> {
    return disasterRecoveries.disasterRecoveryOfCluster(this.db, clusterId);
  }
  updateDisasterRecovery(id: string, p: Parameters<typeof disasterRecoveries.updateDisasterRecovery>[2]): Promise<void> {
    return disasterRecoveries.updateDisasterRecovery(this.db, id, p);
  }
}
