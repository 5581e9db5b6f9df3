/**
 * Snapshot use cases (dws-api.md §4, D2, D16): create (a snapshot.create task), list, show,
 * delete (hidden at once; its backup set expired by the stanza's repository task once nothing
 * depends on it). A new snapshot must fit the project's quotas and the free space where it
 * goes (fair shares, tasks/snapshot-room.ts), or it is refused before anything is written.
 */
import type { Clock } from '../domain/clock.js';
import type { Config } from '../config/config.js';
import { isClusterRestorePoint } from '../domain/restore-points.js';
import { newId } from '../domain/ids.js';
import type { ClusterRecord, SnapshotRecord, TaskRecord } from '../domain/records.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import { ReadCache, ReadPoint } from '../store/read-cache.js';
import type { TaskQueue } from '../tasks/queue.js';
import { validateName } from './cluster-service.js';
import { runningTaskStatus } from '../domain/cluster.js';
import { isTaskActive } from '../domain/task.js';
import type { FineGrainedDetail } from '../domain/records.js';
import type { PolicySettingsRecord } from '../domain/snapshot-policy.js';
import type { DataPlane } from '../dataplane/data-plane.js';
import { checkObjectsExist, fineGrainedOf, type SnapshotRequest } from './snapshot-request.js';
import { BYTES_PER_MB, chainFigures, estimateBackupBytes, predictBackupType } from '../domain/snapshot-space.js';
import { checkFreeSpace, checkSnapshotQuota, type SnapshotLimits, type SnapshotNeed } from '../tasks/snapshot-room.js';
import { copyNeed, copyStanzaOf } from '../tasks/definitions/snapshot-copy.js';

export type { SnapshotRequest } from './snapshot-request.js';

/** A validated snapshot request, ready to be inserted (with its task) in a store transaction. */
export interface PreparedSnapshot {
  request: SnapshotRequest;
  fineGrained: FineGrainedDetail | null;
  /** what it is estimated to write (fair shares); null when it could not be estimated (no engine, unknown cluster) */
  need: SnapshotNeed | null;
}

/** CopySnapshot's body (LinkCopyReq): the copy's name and description. */
export interface CopySnapshotInput {
  name: string;
  description: string;
}

export interface CreateSnapshotInput {
  name: string;
  clusterId: string;
  description: string;
}

export const SNAPSHOT_SORT_KEYS = ['name', 'started', 'finished', 'size', 'status', 'created'] as const;
export type SnapshotSortKey = (typeof SNAPSHOT_SORT_KEYS)[number];

export interface SnapshotServiceDeps {
  store: Store;
  queue: TaskQueue;
  clock: Clock;
  log: Logger;
  /** reads the cluster's catalog to refuse missing schemas and tables up front (schema and table level) */
  dataPlane?: DataPlane;
  /** fair shares (tasks/snapshot-room.ts): the quotas and margin, and D2's full-backup period for the estimate; absent: no checks */
  limits?: SnapshotLimits & Pick<Config, 'snapshotFullEvery'>;
}

/** What a snapshot's answer shows of its task, its cluster and its cluster's snapshot policy. */
export interface SnapshotContext {
  progress: string;
  clusterStatus: string | null;
  clusterTaskStatus: string | null;
  /**
   * The days retention keeps it: an AUTO snapshot of a live cluster with policy settings, the
   * settings' `keep_day` now (the scheduler's retention applies the current value to every
   * AUTO snapshot of the cluster); null when no retention ever deletes it (MANUAL).
   */
  keepDay: number | null;
  /** a cluster-level snapshot of its cluster's own stanza, which the cluster can be restored to in place (issue 20) */
  supportInplaceRestore: boolean;
}

function contextOf(
  s: SnapshotRecord,
  task: TaskRecord | undefined,
  cluster: ClusterRecord | undefined,
  clusterTask: TaskRecord | undefined,
  settings: PolicySettingsRecord | undefined,
): SnapshotContext {
  const progress = s.status === 'AVAILABLE' ? '100%' : `${Math.floor(task?.progress ?? 0)}%`;
  if (!cluster) return { progress, clusterStatus: null, clusterTaskStatus: null, keepDay: null, supportInplaceRestore: false };
  return {
    progress,
    clusterStatus: cluster.status,
    clusterTaskStatus: clusterTask ? runningTaskStatus(clusterTask.kind) : (cluster.stickyTaskStatus ?? ''),
    keepDay: s.type === 'AUTO' && settings ? settings.keepDay : null,
    supportInplaceRestore: isClusterRestorePoint(cluster, s),
  };
}

/** A snapshot as ListSnapshots shows it, with what its answer reads of its cluster and task. */
export interface SnapshotRow {
  snapshot: SnapshotRecord;
  context: SnapshotContext;
}

/**
 * ListSnapshotStatistics: what a cluster's snapshots take in the repository, measured (the
 * sizes pgBackRest reported for its backup sets, the dump directories' sizes), and the room the
 * project's repository quota leaves them.
 */
export interface SnapshotStatistics {
  /** the recorded sizes of the cluster's kept snapshots (visible, or deleted and still needed; tables/snapshots.ts) */
  usedBytes: number;
  /**
   * what the cluster's snapshots may take under the project's repository quota (setting
   * projectRepoQuotaMb): the quota less what the project's other kept snapshots take, at
   * least 0; null when this service checks no quota
   */
  allowanceBytes: number | null;
  /** the cluster's visible snapshots of each type */
  manual: number;
  auto: number;
}

/** A node type and node count a snapshot was taken of, or can be restored to (ListSnapshotFlavorInfo). */
export interface SnapshotFlavor {
  nodeType: string;
  numberOfNode: number;
}

/** A page of ListSnapshots, and how many snapshots the whole list has. */
export interface SnapshotPage {
  items: SnapshotRow[];
  count: number;
}

export class SnapshotService {
  /** ListSnapshots' rows, while the store is unchanged (read-cache.ts). */
  private readonly lists: ReadCache<SnapshotRow[]>;
  /** Its pages, the same way: the same object while nothing changed, serialized once (kept-answers.ts). */
  private readonly pages: ReadCache<SnapshotPage>;

  constructor(private readonly deps: SnapshotServiceDeps) {
    this.lists = new ReadCache(deps.store, deps.clock, 100);
    this.pages = new ReadCache(deps.store, deps.clock, 200);
  }

  /** CreateSnapshot (the public API): a MANUAL cluster-level snapshot. */
  async create(projectId: string, i: CreateSnapshotInput): Promise<SnapshotRecord> {
    return this.createSnapshot(projectId, {
      clusterId: i.clusterId,
      name: i.name,
      description: i.description,
      type: 'MANUAL',
      level: 'cluster',
    });
  }

  /**
   * CopySnapshot: a MANUAL snapshot that copies a cluster-level one into a stanza of its own
   * (`copy-<id>`, in the configured repository), made by a snapshot.copy task
   * (tasks/definitions/snapshot-copy.ts); it keeps the source's cluster, spec and schema
   * information, so it restores like the source, and on its own once the source is gone.
   * Refused (400 SNAPSHOT_NOT_COPYABLE) for a snapshot that is not AVAILABLE, has no backup
   * set or repository here, or is schema- or table-level (a pg_dump of some objects: copying
   * its directory would be no backup of anything more). Fair shares as for CreateSnapshot.
   */
  async copy(projectId: string, sourceId: string, i: CopySnapshotInput): Promise<{ snapshot: SnapshotRecord; task: TaskRecord }> {
    validateName(i.name, 'backup_name');
    checkDescription(i.description);
    const source = await this.get(projectId, sourceId);
    await this.checkCopyable(source);
    const need = copyNeed(source);
    if (this.deps.dataPlane && this.deps.limits)
      checkFreeSpace(this.deps.dataPlane, this.deps.limits, need, this.deps.log.scope({ projectId, snapshotId: sourceId }));
    const repository = this.deps.dataPlane?.repositoryRef();
    const out = await this.deps.store.transaction(async (tx) => {
      const s = await tx.getSnapshot(projectId, sourceId);
      if (!s) throw new AppError('SNAPSHOT_NOT_FOUND', { args: [sourceId] });
      const clash = (await tx.listSnapshots(projectId)).find((x) => x.name.toLowerCase() === i.name.toLowerCase());
      if (clash) throw new AppError('SNAPSHOT_NAME_EXISTS', { args: [i.name] });
      if (this.deps.limits) await checkSnapshotQuota(tx, this.deps.limits, projectId, need);
      const now = this.deps.clock.now();
      const id = newId();
      const copy: SnapshotRecord = {
        ...s,
        id,
        name: i.name,
        description: i.description,
        status: 'CREATING',
        type: 'MANUAL',
        stanza: copyStanzaOf(id),
        backupLabel: null,
        backupKey: null,
        priorBackupKey: null,
        backupType: null,
        sizeBytes: null,
        totalBackupSize: null,
        // Its stanza goes to the repository configured now (its backup_device), whatever the source's is.
        sourceSpec: { ...s.sourceSpec, copyOf: s.id, ...(repository ? { clusterSpec: { ...s.sourceSpec.clusterSpec, repository } } : {}) },
        taskId: null,
        startedAt: now,
        finishedAt: null,
        createdAt: now,
        updatedAt: now,
        deletedAt: null,
        expiredAt: null,
      };
      delete copy.sourceSpec.policyFire;
      await tx.insertSnapshot(copy);
      const task = await this.deps.queue.enqueue(tx, {
        kind: 'snapshot.copy',
        projectId,
        cluster: null,
        snapshotId: s.id,
        lockKey: `stanza:${copy.stanza}`,
        params: { sourceSnapshotId: s.id, copySnapshotId: id, stanza: copy.stanza },
      });
      await tx.updateSnapshot(id, { taskId: task.id });
      return { snapshot: { ...copy, taskId: task.id }, task };
    });
    this.deps.queue.notify();
    this.deps.log.info('snapshot copy accepted', {
      projectId,
      sourceSnapshotId: sourceId,
      snapshotId: out.snapshot.id,
      taskId: out.task.id,
    });
    return out;
  }

  /** A snapshot CopySnapshot can copy: cluster-level, AVAILABLE, its set in a stanza here. */
  private async checkCopyable(s: SnapshotRecord): Promise<void> {
    const refuse = (why: string): never => {
      throw new AppError('SNAPSHOT_NOT_COPYABLE', { args: [s.id, why] });
    };
    if (s.fineGrained)
      refuse(
        `it is a ${s.fineGrained.level}-level snapshot (a pg_dump of some objects of database ${s.fineGrained.database}), not a backup set; only cluster-level snapshots are copied: take another ${s.fineGrained.level}-level snapshot instead`,
      );
    if (s.status !== 'AVAILABLE' || !s.backupLabel) refuse(`its status is ${s.status}; only an AVAILABLE snapshot can be copied`);
    if (this.deps.dataPlane && !(await this.deps.dataPlane.stanzaExists(s.stanza)))
      refuse(`the repository of stanza ${s.stanza} is missing`);
  }

  /**
   * Create a snapshot of any level and queue its snapshot.create task (SNAPSHOTTING):
   * `cluster` is a pgBackRest set (D2); `schema` and `table` are a `pg_dump -Fd` of exactly
   * those objects of `database`. Throws 400 for bad fields or missing objects, 404 for an
   * unknown cluster, 409 for a duplicate name or a busy cluster. For callers that must insert
   * the snapshot in a transaction of their own (a policy's fire record), `prepareSnapshot`
   * then `insertSnapshot(tx, …)` do the same in two halves.
   */
  async createSnapshot(projectId: string, r: SnapshotRequest): Promise<SnapshotRecord> {
    const prepared = await this.prepareSnapshot(projectId, r);
    const snap = await this.deps.store.transaction((tx) => this.insertSnapshot(tx, projectId, prepared));
    this.deps.queue.notify();
    this.deps.log.info('snapshot accepted', {
      projectId,
      clusterId: r.clusterId,
      snapshotId: snap.id,
      type: r.type,
      level: r.level,
      ...(r.policyId ? { policyId: r.policyId } : {}),
    });
    return snap;
  }

  /**
   * Validate a request outside any store transaction: fields, and for schema and table level,
   * that the database, schemas and tables exist on the cluster's running primary; then that
   * the place the backup or dump goes has room for it (INSUFFICIENT_SNAPSHOT_SPACE).
   */
  async prepareSnapshot(projectId: string, r: SnapshotRequest): Promise<PreparedSnapshot> {
    validateName(r.name, 'snapshot name');
    const description = r.description ?? '';
    checkDescription(description);
    if (r.type !== 'MANUAL' && r.type !== 'AUTO') throw new AppError('VALIDATION', { args: ['snapshot type must be MANUAL or AUTO'] });
    const fineGrained = fineGrainedOf(r);
    let need: SnapshotNeed | null = null;
    if (fineGrained) {
      const c = await this.deps.store.getCluster(projectId, r.clusterId);
      if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [r.clusterId] });
      if (!this.deps.dataPlane)
        throw new AppError('NOT_SUPPORTED', { args: ['A schema- or table-level snapshot', 'this service was built without an engine'] });
      const { sourceBytes } = await checkObjectsExist(this.deps.dataPlane, c, await this.deps.store.listNodes(c.id), fineGrained);
      need = { kind: 'dump', needBytes: estimateBackupBytes('dump', { databaseBytes: sourceBytes }) };
    } else if (this.deps.dataPlane) {
      // A backup set goes to the cluster's repository: refused now, rather than by the task,
      // when the settings moved new clusters elsewhere and this one has sets where it is.
      const c = await this.deps.store.getCluster(projectId, r.clusterId);
      const refused = c ? await this.deps.dataPlane.repositoryMoveRefusal(c) : null;
      if (refused) throw refused;
      if (c && this.deps.limits)
        need = await this.backupNeed(c, r.forceFull === true, this.deps.limits.snapshotFullEvery, this.deps.dataPlane);
    }
    if (need && this.deps.dataPlane && this.deps.limits)
      checkFreeSpace(this.deps.dataPlane, this.deps.limits, need, this.deps.log.scope({ projectId, clusterId: r.clusterId }));
    return { request: { ...r, description }, fineGrained, need };
  }

  /**
   * What a cluster-level backup is estimated to write: D2's choice made from the records of
   * the sets still in the stanza's repository, and the primary's database size when it runs
   * (else the last full's recorded size).
   */
  private async backupNeed(c: ClusterRecord, forceFull: boolean, fullEvery: number, dataPlane: DataPlane): Promise<SnapshotNeed> {
    const kept = await this.deps.store.listStanzaSnapshots(c.stanza);
    const kind = predictBackupType(kept, fullEvery, forceFull);
    const primary = (await this.deps.store.listNodes(c.id)).find((n) => n.role === 'primary' && n.membership === 'active');
    let databaseBytes: number | null = null;
    try {
      if (primary && !c.stopped && dataPlane.memberStatus(c, primary)) databaseBytes = await dataPlane.databaseBytes(c, primary);
    } catch {
      // Not measurable now (the primary is down or unreachable): the recorded figures stand in; the backup step measures again.
    }
    return { kind, needBytes: estimateBackupBytes(kind, { databaseBytes, ...chainFigures(kept) }) };
  }

  /** Insert a prepared snapshot and its task in the caller's transaction (call `queue.notify()` after it commits). */
  async insertSnapshot(tx: Store, projectId: string, p: PreparedSnapshot): Promise<SnapshotRecord> {
    const r = p.request;
    const now = this.deps.clock.now();
    const c = await tx.getCluster(projectId, r.clusterId);
    if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [r.clusterId] });
    const clash = (await tx.listSnapshots(projectId)).find((s) => s.name.toLowerCase() === r.name.toLowerCase());
    if (clash) throw new AppError('SNAPSHOT_NAME_EXISTS', { args: [r.name] });
    // Fair shares: the quotas, counted in the transaction that inserts the snapshot.
    if (this.deps.limits) await checkSnapshotQuota(tx, this.deps.limits, projectId, p.need ?? { kind: 'full', needBytes: 0 });
    const fresh = newSnapshotRecord(projectId, c, { name: r.name, clusterId: c.id, description: r.description ?? '' }, now);
    const s: SnapshotRecord = {
      ...fresh,
      type: r.type,
      fineGrained: p.fineGrained,
      ...(r.policyFire ? { sourceSpec: { ...fresh.sourceSpec, policyFire: r.policyFire } } : {}),
    };
    await tx.insertSnapshot(s);
    const params = {
      clusterId: c.id,
      snapshotId: s.id,
      ...(p.fineGrained ? { level: p.fineGrained.level } : {}),
      ...(r.forceFull && !p.fineGrained ? { forceFull: true } : {}),
    };
    const task = await this.deps.queue.enqueue(tx, { kind: 'snapshot.create', projectId, cluster: c, snapshotId: s.id, params });
    await tx.updateSnapshot(s.id, { taskId: task.id });
    return { ...s, taskId: task.id };
  }

  /** What a snapshot's wire form shows of its task and its cluster. */
  async context(s: SnapshotRecord): Promise<SnapshotContext> {
    const task = s.status !== 'AVAILABLE' && s.taskId ? await this.deps.store.getTask(s.taskId) : undefined;
    const c = await this.deps.store.getCluster(s.projectId, s.clusterId);
    const settings = c && s.type === 'AUTO' ? await this.deps.store.getPolicySettings(c.id) : undefined;
    return contextOf(s, task, c, c && (await this.deps.store.activeTask(`cluster:${c.id}`)), settings);
  }

  /**
   * ListSnapshots: the project's snapshots, newest first, each with its context; a page of them
   * when asked (`limit`, `offset`: a dwsbox extension; `count` is all of them). Read with a
   * query per table, not per snapshot, and kept while the store is unchanged.
   */
  async listWithContext(
    projectId: string,
    page: { limit?: number | undefined; offset?: number | undefined } = {},
    at: ReadPoint = new ReadPoint(this.deps.store),
  ): Promise<SnapshotPage> {
    const offset = page.offset ?? 0;
    return this.pages.get(
      `${projectId}\n${offset}\n${page.limit ?? ''}`,
      async () => {
        const all = await this.lists.get(projectId, async () => ({ value: await this.readWithContext(projectId) }), at);
        return { value: { items: all.slice(offset, page.limit === undefined ? undefined : offset + page.limit), count: all.length } };
      },
      at,
    );
  }

  private async readWithContext(projectId: string): Promise<SnapshotRow[]> {
    const store = this.deps.store;
    const snapshots = await store.listSnapshots(projectId);
    const clusters = new Map((await store.listClusters(projectId)).map((c) => [c.id, c]));
    const active = new Map((await store.listActiveTasks()).filter((t) => t.projectId === projectId).map((t) => [t.lockKey, t]));
    // The policy settings of the clusters with AUTO snapshots (their retention), once per cluster.
    const settings = new Map<string, PolicySettingsRecord | undefined>();
    for (const id of new Set(snapshots.filter((s) => s.type === 'AUTO' && clusters.has(s.clusterId)).map((s) => s.clusterId)))
      settings.set(id, await store.getPolicySettings(id));
    const out = [];
    for (const s of snapshots) {
      // Only a snapshot still being made shows its task's progress.
      const task = s.status !== 'AVAILABLE' && s.taskId ? await store.getTask(s.taskId) : undefined;
      const c = clusters.get(s.clusterId);
      out.push({ snapshot: s, context: contextOf(s, task, c, c && active.get(`cluster:${c.id}`), settings.get(s.clusterId)) });
    }
    return out;
  }

  /** ListSnapshotStatistics. 404 for an unknown cluster (or another project's). */
  async statistics(projectId: string, clusterId: string): Promise<SnapshotStatistics> {
    if (!(await this.deps.store.getCluster(projectId, clusterId))) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
    const [cluster, project] = await Promise.all([
      this.deps.store.clusterSnapshotUsage(projectId, clusterId),
      this.deps.store.snapshotUsage(projectId),
    ]);
    const quota = this.deps.limits ? this.deps.limits.projectRepoQuotaMb * BYTES_PER_MB : null;
    return {
      usedBytes: cluster.bytes,
      allowanceBytes: quota === null ? null : Math.max(0, quota - (project.bytes - cluster.bytes)),
      manual: cluster.manual,
      auto: cluster.auto,
    };
  }

  /**
   * ListSnapshotFlavorInfo: the node type and count the snapshot was taken of; with `restore`,
   * also those it can be restored to. A restore into a new cluster takes exactly the
   * snapshot's (restore-service.ts), so it adds none; a table restore (`fineGrainedRestore`)
   * goes into the snapshot's own cluster, so that cluster's node type and count now, when the
   * snapshot is AVAILABLE and the cluster is there and differs. 404 for an unknown snapshot.
   */
  async flavors(projectId: string, snapshotId: string, o: { restore: boolean; fineGrainedRestore: boolean }): Promise<SnapshotFlavor[]> {
    const s = await this.get(projectId, snapshotId);
    const out: SnapshotFlavor[] = [{ nodeType: s.sourceSpec.nodeType, numberOfNode: s.sourceSpec.numberOfNode }];
    if (!o.restore || !o.fineGrainedRestore || s.status !== 'AVAILABLE') return out;
    const c = await this.deps.store.getCluster(projectId, s.clusterId);
    if (c && (c.nodeType !== out[0]!.nodeType || c.numberOfNode !== out[0]!.numberOfNode))
      out.push({ nodeType: c.nodeType, numberOfNode: c.numberOfNode });
    return out;
  }

  async get(projectId: string, id: string): Promise<SnapshotRecord> {
    const s = await this.deps.store.getSnapshot(projectId, id);
    if (!s) throw new AppError('SNAPSHOT_NOT_FOUND', { args: [id] });
    return s;
  }

  list(projectId: string): Promise<SnapshotRecord[]> {
    return this.deps.store.listSnapshots(projectId);
  }

  async listForCluster(
    projectId: string,
    clusterId: string,
    o: { limit?: number | undefined; offset?: number | undefined; sortKey?: string | undefined; sortDir?: string | undefined },
  ): Promise<{ page: SnapshotRecord[]; count: number }> {
    if (!(await this.deps.store.getCluster(projectId, clusterId))) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
    const key = (o.sortKey ?? 'created') as SnapshotSortKey;
    if (!SNAPSHOT_SORT_KEYS.includes(key))
      throw new AppError('VALIDATION', { args: [`sort_key must be one of ${SNAPSHOT_SORT_KEYS.join(', ')}`] });
    const dir = (o.sortDir ?? 'desc').toLowerCase();
    if (dir !== 'asc' && dir !== 'desc') throw new AppError('VALIDATION', { args: ['sort_dir must be asc or desc'] });
    const all = await this.deps.store.listSnapshots(projectId, clusterId);
    const val = (s: SnapshotRecord): string | number => {
      switch (key) {
        case 'name':
          return s.name;
        case 'started':
          return s.startedAt ?? 0;
        case 'finished':
          return s.finishedAt ?? 0;
        case 'size':
          return s.sizeBytes ?? 0;
        case 'status':
          return s.status;
        case 'created':
          return s.createdAt;
      }
    };
    all.sort((a, b) => {
      const x = val(a);
      const y = val(b);
      const c = x < y ? -1 : x > y ? 1 : a.id.localeCompare(b.id);
      return dir === 'asc' ? c : -c;
    });
    const offset = o.offset ?? 0;
    return { page: all.slice(offset, o.limit === undefined ? undefined : offset + o.limit), count: all.length };
  }

  /**
   * Hide the snapshot at once (the next GET is 404), then let the stanza's repository task
   * expire its backup set once no visible snapshot depends on it (D2). A snapshot that a
   * running task creates or reads cannot be deleted (409, D16).
   */
  /** Hides the snapshot at once; its backup set goes with the stanza's repository task, which it returns (the job of DeleteSnapshot). */
  async delete(projectId: string, id: string): Promise<TaskRecord> {
    const task = await this.deps.store.transaction(async (tx) => {
      const s = await tx.getSnapshot(projectId, id);
      if (!s) throw new AppError('SNAPSHOT_NOT_FOUND', { args: [id] });
      const readers = await tx.activeTasksOfSnapshot(id);
      // A copy being made is its task's (which carries the source's id): it too waits for the task.
      const own = s.taskId && s.status === 'CREATING' ? await tx.getTask(s.taskId) : undefined;
      if (own && isTaskActive(own.status) && !readers.some((t) => t.id === own.id)) readers.push(own);
      if (readers.length) {
        throw new AppError('CLUSTER_STATE_CONFLICT', {
          args: [
            s.clusterName,
            `snapshot ${s.name} is in use by a running task (${readers.map((t) => t.kind).join(', ')}, ${readers[0]!.id}); delete it when that task has finished`,
          ],
        });
      }
      const now = this.deps.clock.now();
      await tx.updateSnapshot(id, { deletedAt: now, updatedAt: now });
      return this.enqueueExpire(tx, projectId, s.stanza);
    });
    this.deps.queue.notify();
    this.deps.log.info('snapshot deleted', { projectId, snapshotId: id, taskId: task.id });
    return task;
  }

  /** The stanza's repository task: the one already waiting or running (it loops until nothing is left), or a new one. */
  private async enqueueExpire(tx: Store, projectId: string, stanza: string): Promise<TaskRecord> {
    const lockKey = `stanza:${stanza}`;
    return (
      (await tx.activeTask(lockKey)) ??
      (await this.deps.queue.enqueue(tx, { kind: 'snapshot.expire', projectId, cluster: null, lockKey, params: { stanza } }))
    );
  }

  /**
   * Stanzas with hidden snapshots whose sets are not expired yet get a repository task.
   * Run at start-up and now and then, so no deletion is ever forgotten.
   */
  async sweepExpirable(): Promise<number> {
    let n = 0;
    const hidden = new Map<string, string>();
    const rows = await this.deps.store.listHiddenUnexpiredSnapshots();
    for (const r of rows) hidden.set(r.stanza, r.projectId);
    for (const [stanza, projectId] of hidden) {
      await this.deps.store.transaction(async (tx) => {
        if (await tx.activeTask(`stanza:${stanza}`)) return;
        await this.enqueueExpire(tx, projectId, stanza);
        n++;
      });
    }
    if (n) this.deps.queue.notify();
    return n;
  }
}

/** A snapshot's description: at most 256 characters, none of ! < > ' = & ". */
function checkDescription(description: string): void {
  if (description.length > 256) throw new AppError('VALIDATION', { args: ['description must be at most 256 characters'] });
  if (/[!<>'=&"]/.test(description)) throw new AppError('VALIDATION', { args: ['description must not contain ! < > \' = & "'] });
}

export function newSnapshotRecord(projectId: string, c: ClusterRecord, i: CreateSnapshotInput, now: number): SnapshotRecord {
  return {
    id: newId(),
    projectId,
    clusterId: c.id,
    clusterName: c.name,
    name: i.name,
    description: i.description,
    status: 'CREATING',
    type: 'MANUAL',
    stanza: c.stanza,
    backupLabel: null,
    backupKey: null,
    priorBackupKey: null,
    backupType: null,
    sizeBytes: null,
    totalBackupSize: null,
    sourceBytes: null,
    sourceSpec: {
      nodeType: c.nodeType,
      numberOfNode: c.numberOfNode,
      userName: c.userName,
      port: c.port,
      clusterSpec: c.spec,
      adminPasswordEnc: c.adminPasswordEnc,
      pgVersion: '15',
    },
    schemaInfo: null,
    taskId: null,
    startedAt: now,
    finishedAt: null,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
    expiredAt: null,
  };
}
