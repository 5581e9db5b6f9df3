/**
 * Restore use cases (dws-api.md §4.6, §4.7; design D4, D15, D16):
 * - restore a snapshot into a NEW cluster (a cluster.restore task on a new cluster row),
 *   with the spec the snapshot kept, so it works after the source cluster is gone;
 * - check and run a table-level ("fine-grained") restore into the snapshot's own cluster
 *   (a snapshot.table_restore task on that cluster).
 * Both tasks carry the snapshot id, so the snapshot cannot be deleted while they read it.
 */
import type { Clock } from '../domain/clock.js';
import type { ClusterRecord, ClusterSpec, NodeRecord, SnapshotRecord, TaskRecord } from '../domain/records.js';
import { AppError } from '../errors/app-error.js';
import { runningPrimary, type DataPlane } from '../dataplane/data-plane.js';
import type { Logger } from '../log/logger.js';
import type { Secrets } from '../auth/secrets.js';
import type { Store } from '../store/store.js';
import type { TaskQueue } from '../tasks/queue.js';
import type { ClusterRestoreParams } from '../tasks/definitions/cluster-restore.js';
import type { ClusterRestoreInPlaceParams } from '../tasks/definitions/cluster-restore-in-place.js';
import { newSnapshotRecord } from './snapshot-service.js';
import { checkFreeSpace, checkSnapshotQuota, type SnapshotLimits, type SnapshotNeed } from '../tasks/snapshot-room.js';
import { chainFigures, estimateBackupBytes } from '../domain/snapshot-space.js';
import type { TableRestoreParams } from '../tasks/definitions/table-restore.js';
import type { TableRef } from '../domain/table-names.js';
import { isClusterRestorePoint } from '../domain/restore-points.js';
import { ReadCache, type ReadPoint } from '../store/read-cache.js';
import type { ClusterService, CreateClusterInput } from './cluster-service.js';

export interface RestoreClusterInput {
  name: string;
  subnetId?: string | null | undefined;
  securityGroupId?: string | null | undefined;
  vpcId?: string | null | undefined;
  availabilityZone?: string | null | undefined;
  port?: number | null | undefined;
  publicIp?: { public_bind_type: string; eip_id: string } | null | undefined;
  enterpriseProjectId?: string | null | undefined;
  ipv6Enable?: boolean | null | undefined;
  numberOfCn?: number | null | undefined;
  /** a point in time (epoch ms) to restore to, after the snapshot (issue 20); absent: the snapshot itself */
  restoreTime?: number | null | undefined;
  /** the restore point's cluster, when the request names it: it must be the snapshot's */
  restoreClusterId?: string | null | undefined;
}

/**
 * The times a cluster can be restored to (issue 20): from when its oldest cluster-level
 * snapshot of its stanza finished, to now while its primary runs (a restore to a point in
 * time first has the primary archive the WAL it is writing); null without such a snapshot, or
 * (`latest`) while the primary does not run: the end of its archive is then not known to hold
 * every commit.
 */
export interface RestoreWindow {
  earliest: number | null;
  latest: number | null;
  /**
   * Times within it that cannot be restored to: each on a timeline the cluster left. An
   * in-place restore branched the cluster's history off at the point it restored to, so from
   * there until it ended the cluster's WAL runs on the timeline it left (a failed one: while it
   * ran); a restore follows the newest timeline, which holds nothing of that span.
   */
  left: TimelineLeft[];
}

export interface TimelineLeft {
  from: number;
  to: number;
  /** the in-place restore task that left it */
  taskId: string;
}

export interface TableRestoreInput {
  caseSensitive: boolean;
  database: string;
  restoreTables: TableRef[];
  targetTables: TableRef[];
}

export interface TableRestoreCheck {
  database: string;
  /** source tables the snapshot does not have */
  missingSources: string[];
  /** target tables that already exist in the cluster */
  existingTargets: string[];
}

export interface RestoreServiceDeps {
  /** the project's snapshot quotas and the repository's margin: an in-place restore's safety snapshot counts (issue 12's fair shares) */
  limits?: SnapshotLimits;
  store: Store;
  queue: TaskQueue;
  clusters: ClusterService;
  dataPlane: DataPlane;
  secrets: Secrets;
  clock: Clock;
  log: Logger;
}

/** At most this many tables per table restore. */
export const MAX_RESTORE_TABLES = 100;
const NAME_MAX_BYTES = 63;

const show = (t: TableRef): string => `${t.schema}.${t.name}`;

function checkIdentifier(field: string, v: string): void {
  if (v.length === 0 || Buffer.byteLength(v) > NAME_MAX_BYTES)
    throw new AppError('VALIDATION', { args: [`${field} must be 1 to ${NAME_MAX_BYTES} bytes long, got "${v.slice(0, 80)}"`] });
  if (v.includes('\u0000')) throw new AppError('VALIDATION', { args: [`${field} must not contain a NUL character`] });
}

export class RestoreService {
  /** the store's part of each cluster's restore window, kept while the store is unchanged (issue 14: ShowClusterDetail reads it on every request) */
  private readonly windows: ReadCache<{ earliest: number | null; left: TimelineLeft[] }>;

  constructor(private readonly deps: RestoreServiceDeps) {
    this.windows = new ReadCache(deps.store, deps.clock);
  }

  /**
   * A visible snapshot with a finished backup set whose repository is here. A schema- or
   * table-level (logical) snapshot serves table restores only (`purpose: 'tables'`): it holds
   * a pg_dump of some objects, not a cluster.
   */
  private async restorable(
    projectId: string,
    snapshotId: string,
    purpose: 'cluster' | 'tables' = 'cluster',
  ): Promise<SnapshotRecord & { backupLabel: string }> {
    const s = await this.deps.store.getSnapshot(projectId, snapshotId);
    if (!s) throw new AppError('SNAPSHOT_NOT_FOUND', { args: [snapshotId] });
    if (s.fineGrained) return (await this.restorableLogical(s, purpose)) as SnapshotRecord & { backupLabel: string };
    if (s.status !== 'AVAILABLE' || !s.backupLabel)
      throw new AppError('SNAPSHOT_NOT_RESTORABLE', {
        args: [s.id, `its status is ${s.status}; only an AVAILABLE snapshot can be restored`],
      });
    if (!(await this.deps.dataPlane.stanzaExists(s.stanza)))
      throw new AppError('SNAPSHOT_NOT_RESTORABLE', { args: [s.id, `the repository of stanza ${s.stanza} is missing`] });
    return s as SnapshotRecord & { backupLabel: string };
  }

  /** A logical snapshot: AVAILABLE, its dump complete, and asked for its tables only. */
  private async restorableLogical(s: SnapshotRecord, purpose: 'cluster' | 'tables'): Promise<SnapshotRecord> {
    const fg = s.fineGrained!;
    if (purpose === 'cluster') {
      throw new AppError('SNAPSHOT_NOT_RESTORABLE', {
        args: [
          s.id,
          `it is a ${fg.level}-level snapshot (a pg_dump of ${fg.level === 'schema' ? `schemas ${fg.schemas.join(', ')}` : `tables ${fg.tables.join(', ')}`} of database ${fg.database}), not a copy of a cluster; restore its tables with table-restore instead`,
        ],
      });
    }
    if (s.status !== 'AVAILABLE')
      throw new AppError('SNAPSHOT_NOT_RESTORABLE', {
        args: [s.id, `its status is ${s.status}; only an AVAILABLE snapshot can be restored`],
      });
    if (!fg.dumpDir || !(await this.deps.dataPlane.logicalDumpReadable(fg.dumpDir)))
      throw new AppError('SNAPSHOT_NOT_RESTORABLE', { args: [s.id, `its dump ${fg.dumpDir ?? ''} is missing`] });
    return s;
  }

  // ------------------------------------------------------------------ into a new cluster
  /**
   * RestoreCluster: a new cluster with the snapshot's node type and node count, the source's
   * administrator (the restored database holds that role, with its password) and, for every
   * field left out, the source's value as the snapshot recorded it (D16).
   */
  async restoreCluster(
    projectId: string,
    snapshotId: string,
    i: RestoreClusterInput,
  ): Promise<{ cluster: ClusterRecord; task: TaskRecord }> {
    const snap = await this.restorable(projectId, snapshotId);
    if (i.restoreClusterId && i.restoreClusterId !== snap.clusterId)
      throw new AppError('VALIDATION', {
        args: [`restore_point.cluster_id ${i.restoreClusterId.slice(0, 64)} is not the cluster of snapshot ${snap.id}`],
      });
    if (i.restoreTime !== null && i.restoreTime !== undefined) await this.checkRestoreTime(snap, i.restoreTime);
    if (i.ipv6Enable) throw new AppError('NOT_SUPPORTED', { args: ['IPv6', 'clusters listen on IPv4 loopback addresses'] });
    const src = snap.sourceSpec;
    const spec: ClusterSpec = {
      ...src.clusterSpec,
      availabilityZone: i.availabilityZone || src.clusterSpec.availabilityZone,
      vpcId: i.vpcId || src.clusterSpec.vpcId,
      subnetId: i.subnetId || src.clusterSpec.subnetId,
      securityGroupId: i.securityGroupId ?? src.clusterSpec.securityGroupId,
      enterpriseProjectId: i.enterpriseProjectId || src.clusterSpec.enterpriseProjectId || '0',
      numberOfCn: i.numberOfCn ?? src.clusterSpec.numberOfCn,
      publicIp: i.publicIp ?? null,
    };
    const input: CreateClusterInput = {
      name: i.name,
      nodeType: src.nodeType,
      numberOfNode: src.numberOfNode,
      port: i.port ?? src.port,
      userName: src.userName,
      password: this.deps.secrets.decrypt(src.adminPasswordEnc),
      spec,
    };
    this.deps.clusters.validateCreate(input);
    await this.deps.clusters.checkCapacity(projectId, input.nodeType, input.numberOfNode);
    const need = (snap.sourceBytes ?? 0) * input.numberOfNode;
    const free = this.deps.dataPlane.capacity().dataDiskFreeBytes;
    if (need > free) {
      // The host's free space decides but is not shown to the tenant (issue 12).
      this.deps.log.warn('host disk short for a restore', { projectId, snapshotId, needBytes: need, freeBytes: free });
      throw new AppError('CAPACITY_EXCEEDED', {
        args: [
          `${input.numberOfNode} copies of the snapshot's ${Math.round((snap.sourceBytes ?? 0) / 1e6)} MB need ${Math.round(need / 1e6)} MB of disk, more than this host has free now`,
        ],
      });
    }
    const r = await this.deps.clusters.insertNewCluster(projectId, input, async (tx, c) => {
      // The snapshot may have been deleted since it was read.
      const s = await tx.getSnapshot(projectId, snap.id);
      if (!s || s.status !== 'AVAILABLE') throw new AppError('SNAPSHOT_NOT_FOUND', { args: [snap.id] });
      const params: ClusterRestoreParams = {
        clusterId: c.id,
        snapshotId: snap.id,
        sourceClusterId: snap.clusterId,
        numberOfNode: c.numberOfNode,
        ...(i.restoreTime !== null && i.restoreTime !== undefined ? { restoreTime: i.restoreTime } : {}),
      };
      return this.deps.queue.enqueue(tx, {
        kind: 'cluster.restore',
        projectId,
        cluster: c,
        snapshotId: snap.id,
        params: { ...params },
        checkState: false,
      });
    });
    this.deps.log.info('restore accepted', {
      projectId,
      snapshotId: snap.id,
      sourceClusterId: snap.clusterId,
      clusterId: r.cluster.id,
      taskId: r.task.id,
      restoreTime: i.restoreTime ?? null,
    });
    return r;
  }

  // ------------------------------------------------------------------ points in time (issue 20)
  /**
   * The cluster's restorable window now (ShowClusterDetail's `restore_window`). `at`: the
   * request's read point, at which the store's part (the earliest base, the timelines left) is
   * served from what was read at the same store version.
   */
  async restoreWindow(c: ClusterRecord, nodes?: NodeRecord[], at?: ReadPoint): Promise<RestoreWindow> {
    const read = async () => {
      const earliest = await this.deps.store.earliestPointInTimeBase(c.id, c.stanza);
      const left = earliest === null ? [] : (await this.timelinesLeft(c)).filter((l) => l.to > earliest);
      return { value: { earliest, left } };
    };
    const { earliest, left } = at ? await this.windows.get(`${c.id}/${c.stanza}`, read, at) : (await read()).value;
    if (earliest === null) return { earliest: null, latest: null, left: [] };
    const runs = runningPrimary(this.deps.dataPlane, c, nodes ?? (await this.deps.store.listNodes(c.id))) !== undefined;
    return { earliest, latest: runs ? this.deps.clock.now() : null, left };
  }

  /** The spans of the cluster's history on timelines it left (`RestoreWindow.left`), oldest first. */
  private async timelinesLeft(c: ClusterRecord): Promise<TimelineLeft[]> {
    const tasks = await this.deps.store.listTasks(c.id, { kinds: ['cluster.restore_in_place'] });
    const out: TimelineLeft[] = [];
    for (const t of tasks) {
      if (t.finishedAt === null || t.status === 'RUNNING' || t.status === 'WAITING') continue;
      const p = t.params as unknown as ClusterRestoreInPlaceParams;
      let from = t.startedAt ?? t.createdAt;
      if (t.status === 'SUCCESS') from = p.restoreTime ?? (await this.deps.store.getSnapshotById(p.snapshotId))?.finishedAt ?? from;
      out.push({ from, to: t.finishedAt, taskId: t.id });
    }
    return out.sort((a, b) => a.from - b.from);
  }

  /**
   * A restore to `time` from snapshot `snap`: the time lies in its cluster's restorable window
   * and after the snapshot finished (its set is consistent by then); else refused, naming the window.
   */
  private async checkRestoreTime(snap: SnapshotRecord, time: number): Promise<void> {
    const c = await this.deps.store.getCluster(snap.projectId, snap.clusterId);
    const at = new Date(time).toISOString();
    const refuse = (window: string): never => {
      throw new AppError('RESTORE_TIME_OUTSIDE_WINDOW', { args: [at, c?.name ?? snap.clusterName, window] });
    };
    if (!c) return refuse('none: the cluster was deleted (restore one of its snapshots as it is instead)');
    // An in-place restore under way makes a new timeline in the stanza a replay to the time would follow.
    const own = await this.deps.store.activeTask(`cluster:${c.id}`);
    if (own?.kind === 'cluster.restore_in_place')
      return refuse(`none while the cluster is being restored in place (task ${own.id}): restore to a time when it has finished`);
    if (!isClusterRestorePoint(c, snap))
      return refuse(`none from snapshot ${snap.id}: it is not a cluster-level snapshot of the stanza the cluster archives into now`);
    const nodes = await this.deps.store.listNodes(c.id);
    const w = await this.restoreWindow(c, nodes);
    if (w.latest === null)
      return refuse(
        'none while its primary does not run (the end of its archive is not known to hold every commit): start the cluster, or restore a snapshot as it is',
      );
    const from = Math.max(w.earliest!, snap.finishedAt!);
    const iso = (ms: number): string => new Date(ms).toISOString();
    const except = w.left.length
      ? `, except ${w.left.map((l) => `${iso(l.from)} to ${iso(l.to)} (a timeline the cluster left in in-place restore ${l.taskId})`).join(', ')}`
      : '';
    const window = `${iso(from)} to now (${iso(w.latest)})${from > w.earliest! ? `, from snapshot ${snap.id}` : ''}${except}`;
    if (time < from || time > w.latest) refuse(window);
    if (w.left.some((l) => time > l.from && time < l.to)) refuse(window);
    // A snapshot taken on a timeline the cluster left leads only to times on it.
    const branch = w.left.find((l) => snap.finishedAt! > l.from && snap.finishedAt! < l.to && time >= l.to);
    if (branch)
      refuse(
        `from snapshot ${snap.id} only to ${iso(branch.to)}: it was taken on the timeline the cluster left in in-place restore ${branch.taskId} (restore a later snapshot, or the cluster form)`,
      );
    // Its WAL must reach the archive: while archiving fails, the commits since are only in the primary's pg_wal.
    const primary = runningPrimary(this.deps.dataPlane, c, nodes);
    const archiver = primary ? await this.deps.dataPlane.archiverState(c, primary).catch(() => null) : null;
    if (archiver?.failing)
      refuse(
        `none past its last archived segment ${archiver.lastArchived ?? '(none)'} while its WAL archiving is failing (last failed ${archiver.lastFailed ?? '?'}): restore a snapshot as it is, or wait until archiving works again`,
      );
    // A gap in the archive after the snapshot (segments removed from it): recovery would stop there, short of the time.
    const gap = await this.archiveGap(snap, archiver?.lastArchived ?? null);
    if (gap.length)
      refuse(
        `none from snapshot ${snap.id}: its archive lacks ${gap.length} WAL segment${gap.length > 1 ? 's' : ''} after it, from ${gap[0]} (restore the snapshot as it is, or from a snapshot taken after the gap)`,
      );
  }

  /**
   * The WAL segments the stanza's archive lacks between the snapshot's set and the last segment
   * the primary archived, when both are of one timeline (a set of an earlier timeline, or an
   * offline one, is not checked: the span would cross timelines).
   */
  private async archiveGap(snap: SnapshotRecord, lastArchived: string | null): Promise<string[]> {
    if (!lastArchived || !/^[0-9A-F]{24}$/.test(lastArchived) || !snap.backupLabel) return [];
    const set = (await this.deps.dataPlane.backupSets(snap.stanza)).find((x) => x.label === snap.backupLabel);
    const from = set?.walStop;
    if (!from || from.slice(0, 8) !== lastArchived.slice(0, 8) || from >= lastArchived) return [];
    return this.deps.dataPlane.missingWal(snap.stanza, from, lastArchived);
  }

  /**
   * A restore of a cluster to a point in time (a dwsbox operation, issue 20): from the newest
   * cluster-level snapshot that finished by then, replaying its archived WAL up to the time.
   */
  async restoreClusterToTime(projectId: string, clusterId: string, i: RestoreClusterInput & { restoreTime: number }) {
    const c = await this.deps.store.getCluster(projectId, clusterId);
    if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
    return this.restoreCluster(projectId, (await this.baseForTime(c, i.restoreTime)).id, i);
  }

  /** The newest cluster-level snapshot of the cluster that finished by `time` (the least WAL to replay); refused, naming the window, when none did. */
  private async baseForTime(c: ClusterRecord, time: number): Promise<SnapshotRecord> {
    const left = await this.timelinesLeft(c);
    // Not one taken on a timeline the cluster left before `time` (its history does not lead there).
    const onLeft = (s: SnapshotRecord): boolean => left.some((l) => s.finishedAt! > l.from && s.finishedAt! < l.to && time >= l.to);
    const bases = (await this.deps.store.listSnapshots(c.projectId, c.id)).filter(
      (s): s is SnapshotRecord & { finishedAt: number } => isClusterRestorePoint(c, s) && !onLeft(s),
    );
    const base = bases.filter((s) => s.finishedAt <= time).sort((a, b) => b.finishedAt - a.finishedAt)[0];
    if (base) return base;
    const w = await this.restoreWindow(c);
    throw new AppError('RESTORE_TIME_OUTSIDE_WINDOW', {
      args: [
        new Date(time).toISOString(),
        c.name,
        w.earliest === null
          ? 'none: it has no cluster-level snapshot yet (take one; WAL is archived from then on)'
          : `${new Date(w.earliest).toISOString()} to ${w.latest === null ? 'its last archived commit (its primary does not run)' : `now (${new Date(w.latest).toISOString()})`}`,
      ],
    });
  }

  // ------------------------------------------------------------------ in place (issue 20)
  /**
   * A snapshot of the cluster, or a point in time of its window, restored into the cluster
   * itself: a cluster.restore_in_place task (the cluster UNAVAILABLE while it runs) and the
   * record of the safety snapshot it takes first (CREATING until the task ends), in one
   * transaction. Refused for a snapshot of another cluster or stanza, a logical one, or a time
   * outside the window; the cluster must be AVAILABLE and running (its state is checked by the queue).
   */
  async restoreInPlace(
    projectId: string,
    clusterId: string,
    i: { snapshotId: string | null; restoreTime: number | null },
  ): Promise<{ task: TaskRecord; snapshotId: string; safetySnapshotId: string }> {
    const c = await this.deps.store.getCluster(projectId, clusterId);
    if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
    if (i.snapshotId === null && i.restoreTime === null)
      throw new AppError('VALIDATION', { args: ['restore.snapshot_id or restore.restore_time (or both) is required'] });
    const snap = i.snapshotId !== null ? await this.restorable(projectId, i.snapshotId) : await this.baseForTime(c, i.restoreTime!);
    if (!isClusterRestorePoint(c, snap))
      throw new AppError('SNAPSHOT_NOT_RESTORABLE', {
        args: [
          snap.id,
          `it is not a cluster-level snapshot of cluster ${c.name} in the stanza the cluster archives into now, so it cannot be restored into it in place; restore it into a new cluster instead`,
        ],
      });
    if (i.restoreTime !== null) await this.checkRestoreTime(snap, i.restoreTime);
    // The safety snapshot is a snapshot of the project: its quotas and the repository's room, as a snapshot request's.
    const primary = runningPrimary(this.deps.dataPlane, c, await this.deps.store.listNodes(c.id));
    const databaseBytes = primary ? await this.deps.dataPlane.databaseBytes(c, primary).catch(() => null) : null;
    const need: SnapshotNeed = {
      kind: 'diff',
      needBytes: estimateBackupBytes('diff', { databaseBytes, ...chainFigures(await this.deps.store.listStanzaSnapshots(c.stanza)) }),
    };
    if (this.deps.limits) checkFreeSpace(this.deps.dataPlane, this.deps.limits, need, this.deps.log.scope({ projectId, clusterId }));
    const now = this.deps.clock.now();
    const at = new Date(now).toISOString().replace(/[-:]/g, '').slice(0, 15);
    const r = await this.deps.store.transaction(async (tx) => {
      const fresh = await tx.getCluster(projectId, c.id);
      if (!fresh) throw new AppError('CLUSTER_NOT_FOUND', { args: [c.id] });
      // A restore into another cluster that replays this cluster's WAL to a time follows the newest
      // timeline of its stanza, which this restore is about to make: it must end first.
      const readers = (await tx.listActiveTasks()).filter(
        (t) => t.kind === 'cluster.restore' && t.params['sourceClusterId'] === c.id && t.params['restoreTime'] !== undefined,
      );
      if (readers.length)
        throw new AppError('CLUSTER_STATE_CONFLICT', {
          args: [
            c.name,
            `a restore to a point in time (task ${readers[0]!.id}) replays its archived WAL; restore it in place when that task has finished`,
          ],
        });
      const s = await tx.getSnapshot(projectId, snap.id);
      if (!s || s.status !== 'AVAILABLE') throw new AppError('SNAPSHOT_NOT_FOUND', { args: [snap.id] });
      if (this.deps.limits) await checkSnapshotQuota(tx, this.deps.limits, projectId, need);
      const safety: SnapshotRecord = newSnapshotRecord(
        projectId,
        fresh,
        {
          name: `safety-${fresh.name.slice(0, 40)}-${at}`,
          clusterId: fresh.id,
          description: `Taken by the in-place restore of snapshot ${s.name}${i.restoreTime === null ? '' : ` to ${new Date(i.restoreTime).toISOString()}`}, of the stopped cluster before its data was replaced`,
        },
        now,
      );
      await tx.insertSnapshot(safety);
      const params: ClusterRestoreInPlaceParams = {
        clusterId: fresh.id,
        snapshotId: s.id,
        sourceClusterId: fresh.id,
        numberOfNode: (await tx.listNodes(fresh.id)).filter((n) => n.membership === 'active').length,
        safetySnapshotId: safety.id,
        ...(i.restoreTime === null ? {} : { restoreTime: i.restoreTime }),
      };
      const task = await this.deps.queue.enqueue(tx, {
        kind: 'cluster.restore_in_place',
        projectId,
        cluster: fresh,
        snapshotId: s.id,
        params: { ...params },
      });
      await tx.updateSnapshot(safety.id, { taskId: task.id });
      return { task, safetySnapshotId: safety.id };
    });
    this.deps.queue.notify();
    this.deps.log.info('in-place restore accepted', {
      projectId,
      clusterId: c.id,
      snapshotId: snap.id,
      taskId: r.task.id,
      safetySnapshotId: r.safetySnapshotId,
      restoreTime: i.restoreTime,
    });
    return { ...r, snapshotId: snap.id };
  }

  // ------------------------------------------------------------------ table restore
  /** Validate, fold (case_sensitive false: lower case) and pair the lists; the snapshot's cluster must be alive (D16). */
  private async tableRequest(projectId: string, snapshotId: string, i: TableRestoreInput) {
    const snap = await this.restorable(projectId, snapshotId, 'tables');
    if (i.restoreTables.length === 0) throw new AppError('VALIDATION', { args: ['restore_table_list must name at least one table'] });
    if (i.restoreTables.length > MAX_RESTORE_TABLES)
      throw new AppError('VALIDATION', { args: [`at most ${MAX_RESTORE_TABLES} tables can be restored at once`] });
    if (i.restoreTables.length !== i.targetTables.length) {
      throw new AppError('VALIDATION', {
        args: [
          `restore_table_list has ${i.restoreTables.length} tables and target_table_list ${i.targetTables.length}; each source needs one target`,
        ],
      });
    }
    checkIdentifier('database', i.database);
    const fold = (s: string): string => (i.caseSensitive ? s : s.toLowerCase());
    const pairs = i.restoreTables.map((s, k) => {
      const t = i.targetTables[k]!;
      checkIdentifier(`restore_table_list[${k}].schema_name`, s.schema);
      checkIdentifier(`restore_table_list[${k}].table_name`, s.name);
      checkIdentifier(`target_table_list[${k}].schema_name`, t.schema);
      checkIdentifier(`target_table_list[${k}].table_name`, t.name);
      const target = { schema: fold(t.schema), name: fold(t.name) };
      if (/^pg_/.test(target.schema) || target.schema === 'information_schema') {
        throw new AppError('VALIDATION', { args: [`target_table_list[${k}].schema_name: ${target.schema} is a system schema`] });
      }
      return { source: { schema: fold(s.schema), name: fold(s.name) }, target };
    });
    const dup = (xs: TableRef[]): string | undefined => xs.map(show).find((x, k, all) => all.indexOf(x) !== k);
    const dupSource = dup(pairs.map((p) => p.source));
    if (dupSource) throw new AppError('VALIDATION', { args: [`restore_table_list names ${dupSource} twice`] });
    const dupTarget = dup(pairs.map((p) => p.target));
    if (dupTarget) throw new AppError('VALIDATION', { args: [`target_table_list names ${dupTarget} twice`] });
    const database = fold(i.database);
    if (!snap.schemaInfo) throw new AppError('SNAPSHOT_NOT_RESTORABLE', { args: [snap.id, 'it has no record of its tables'] });
    const db = snap.schemaInfo.databases.find((x) => x.name === database);
    if (!db) throw new AppError('DATABASE_NOT_FOUND', { args: [database] });
    const cluster = await this.deps.store.getCluster(projectId, snap.clusterId);
    if (!cluster) {
      throw new AppError('SNAPSHOT_NOT_RESTORABLE', {
        args: [
          snap.id,
          `its cluster ${snap.clusterName} was deleted: a table restore brings tables back into the snapshot's own cluster (D16); restore the snapshot into a new cluster instead`,
        ],
      });
    }
    const inSnapshot = new Set(db.tables.map((t) => `${t.schema}\u0000${t.name}`));
    const missingSources = pairs.filter((p) => !inSnapshot.has(`${p.source.schema}\u0000${p.source.name}`)).map((p) => show(p.source));
    return { snap, cluster, database, pairs, missingSources };
  }

  /** Which targets exist in the cluster's database now (any relation of that name blocks it). */
  private async existingTargets(cluster: ClusterRecord, database: string, targets: TableRef[]): Promise<string[]> {
    const nodes = await this.deps.store.listNodes(cluster.id);
    const primary = nodes.find((n: NodeRecord) => n.role === 'primary' && n.membership === 'active');
    if (!primary || cluster.stopped || !this.deps.dataPlane.memberStatus(cluster, primary)) {
      throw new AppError('CLUSTER_STATE_CONFLICT', {
        args: [cluster.name, 'its primary node is not running; start or restart the cluster first'],
      });
    }
    const db = await this.deps.dataPlane.databaseInfo(cluster, primary, database);
    if (!db?.allowConnections) {
      throw new AppError('DATABASE_NOT_FOUND', {
        message: `Database ${database} does not exist in cluster ${cluster.name} (it is in the snapshot): create it first, then restore the tables.`,
      });
    }
    const rows = await this.deps.dataPlane.relations(cluster, primary, database, targets);
    const found = new Set(rows.map((r) => `${r.ref.schema}\u0000${r.ref.name}`));
    return targets.filter((t) => found.has(`${t.schema}\u0000${t.name}`)).map(show);
  }

  /** CheckTableRestore: what would stop the restore, changing nothing. */
  async checkTables(projectId: string, snapshotId: string, i: TableRestoreInput): Promise<TableRestoreCheck> {
    const r = await this.tableRequest(projectId, snapshotId, i);
    const existing = await this.existingTargets(
      r.cluster,
      r.database,
      r.pairs.map((p) => p.target),
    );
    return { database: r.database, missingSources: r.missingSources, existingTargets: existing };
  }

  /** RestoreTable: a snapshot.table_restore task on the snapshot's cluster; its id is the job id. */
  async restoreTables(projectId: string, snapshotId: string, i: TableRestoreInput): Promise<TaskRecord> {
    const r = await this.tableRequest(projectId, snapshotId, i);
    if (r.missingSources.length)
      throw new AppError('TABLE_NOT_FOUND', {
        args: [`${r.missingSources.join(', ')} (not in database ${r.database} of snapshot ${r.snap.name})`],
      });
    const existing = await this.existingTargets(
      r.cluster,
      r.database,
      r.pairs.map((p) => p.target),
    );
    if (existing.length) throw new AppError('TARGET_TABLE_EXISTS', { args: [existing.join(', ')] });
    // The tables are loaded by a login of the tenant's side (D32), whose writes the read-only protection refuses.
    if (r.cluster.readOnly === 'ON')
      throw new AppError('CLUSTER_STATE_CONFLICT', {
        args: [r.cluster.name, 'it is read-only (its data passed the disk threshold); lift it with CancelReadonlyCluster first'],
      });
    const task = await this.deps.store.transaction(async (tx) => {
      const c = await tx.getCluster(projectId, r.cluster.id);
      if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [r.cluster.id] });
      if (!(await tx.getSnapshot(projectId, r.snap.id))) throw new AppError('SNAPSHOT_NOT_FOUND', { args: [r.snap.id] });
      const params: TableRestoreParams = {
        clusterId: c.id,
        snapshotId: r.snap.id,
        sourceClusterId: c.id,
        database: r.database,
        tables: r.pairs,
        // D15: from a logical snapshot, through a scratch database on the cluster (no temporary instance).
        ...(r.snap.fineGrained ? { viaScratchDatabase: true } : {}),
      };
      return this.deps.queue.enqueue(tx, {
        kind: 'snapshot.table_restore',
        projectId,
        cluster: c,
        snapshotId: r.snap.id,
        params: { ...params },
      });
    });
    this.deps.queue.notify();
    this.deps.log.info('table restore accepted', {
      projectId,
      snapshotId: r.snap.id,
      clusterId: r.cluster.id,
      taskId: task.id,
      tables: r.pairs.map((p) => `${show(p.source)} -> ${show(p.target)}`),
    });
    return task;
  }
}
