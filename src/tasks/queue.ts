/**
 * Enqueue a task: in one transaction, refuse when another task holds the same lock key
 * (409 DWS.0011 naming it), insert the task with its planned items and sub-items, and apply
 * the D8 "accepted" state to the cluster, so a poller never sees an idle cluster for an
 * accepted operation.
 */
import { acceptedState, canAccept } from '../domain/cluster.js';
import { drSides } from '../domain/disaster-recovery.js';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { ClusterRecord, TaskRecord } from '../domain/records.js';
import { ACTION_OF_KIND, type TaskKind } from '../domain/task.js';
import { AppError } from '../errors/app-error.js';
import type { Store } from '../store/store.js';
import type { TaskDefinition } from './definition.js';
import { newStepRecord } from './runner.js';

export interface EnqueueRequest {
  kind: TaskKind;
  projectId: string;
  /** the cluster the task belongs to (null: a repository task) */
  cluster: ClusterRecord | null;
  snapshotId?: string | null;
  lockKey?: string;
  params: Record<string, unknown>;
  /** when false, the cluster's status is not checked (create, restore: the row is new) */
  checkState?: boolean;
}

export class TaskQueue {
  constructor(
    private readonly registry: ReadonlyMap<string, TaskDefinition<never>>,
    private readonly clock: Clock,
    private readonly onEnqueued: () => void = () => {},
  ) {}

  /** Must run inside the caller's transaction (`tx`), with whatever else the request writes. */
  async enqueue(tx: Store, r: EnqueueRequest): Promise<TaskRecord> {
    const def = this.registry.get(r.kind) as TaskDefinition<Record<string, unknown>> | undefined;
    if (!def) throw new Error(`no task definition for ${r.kind}`);
    const lockKey = r.lockKey ?? (r.cluster ? `cluster:${r.cluster.id}` : `project:${r.projectId}`);
    const active = await tx.activeTask(lockKey);
    if (active) {
      throw new AppError('CLUSTER_BUSY', {
        args: [r.cluster?.name ?? lockKey, ACTION_OF_KIND[active.kind], active.id],
        details: { blockingTaskId: active.id },
      });
    }
    if (r.cluster) await refusedByPairing(tx, r.kind, r.cluster);
    if (r.cluster && r.checkState !== false) {
      const ok = canAccept(r.kind, { status: r.cluster.status, stickyTaskStatus: r.cluster.stickyTaskStatus, stopped: r.cluster.stopped });
      if (!ok.ok)
        throw new AppError('CLUSTER_STATE_CONFLICT', {
          args: [r.cluster.name, `${ACTION_OF_KIND[r.kind]} is not possible while ${ok.why}`],
        });
    }
    const now = this.clock.now();
    const task: TaskRecord = {
      id: newId(),
      projectId: r.projectId,
      clusterId: r.cluster?.id ?? null,
      clusterName: r.cluster?.name ?? '',
      snapshotId: r.snapshotId ?? null,
      kind: r.kind,
      lockKey,
      status: 'WAITING',
      phase: 'run',
      params: r.params,
      state: {},
      progress: 0,
      attempt: 0,
      maxAttempts: def.maxAttempts,
      runAt: now,
      lockedBy: null,
      leaseEpoch: 0,
      leaseExpiresAt: null,
      ranBy: [],
      errorCode: null,
      errorMsg: null,
      failedStep: null,
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      updatedAt: now,
    };
    const steps = def.plan(r.params).map((s, i) => newStepRecord(task.id, s, i, 'run'));
    await tx.insertTask(task, steps);
    if (r.cluster) {
      const next = acceptedState(r.kind, {
        status: r.cluster.status,
        stickyTaskStatus: r.cluster.stickyTaskStatus,
        stopped: r.cluster.stopped,
      });
      await tx.updateCluster(r.cluster.id, { status: next.status, stickyTaskStatus: next.stickyTaskStatus, updatedAt: now });
    }
    return task;
  }

  /** Tell the engine there is work (after the transaction committed). */
  notify(): void {
    this.onEnqueued();
  }
}

/** What a cluster may not do while it is a side of a disaster-recovery pairing (issue 19, D31). */
const STANDBY_REFUSES: readonly TaskKind[] = [
  'cluster.restore_in_place',
  'cluster.scale_out',
  'cluster.scale_in',
  'cluster.switchover',
  'cluster.configure',
  'snapshot.create',
  'snapshot.table_restore',
];
const PRODUCTION_REFUSES: readonly TaskKind[] = ['cluster.restore_in_place'];

/**
 * A pairing's sides (D31): the started standby's data is production's copy, so nothing that
 * writes it or changes its members runs there (restart, start, stop and repairs do); neither side
 * is deleted while paired, and production is not restored in place (the standby would follow a cluster that
 * is gone or diverged); and no operation of either side starts while one of the pairing runs.
 */
async function refusedByPairing(tx: Store, kind: TaskKind, cluster: ClusterRecord): Promise<void> {
  if (kind.startsWith('dr.')) return;
  const d = await tx.disasterRecoveryOfCluster(cluster.id);
  if (!d) return;
  const { following } = drSides(d);
  const standby = following === cluster.id;
  if (!standby) {
    const running = await tx.activeTask(`cluster:${following}`);
    if (running?.kind.startsWith('dr.'))
      throw new AppError('CLUSTER_BUSY', {
        args: [cluster.name, ACTION_OF_KIND[running.kind], running.id],
        details: { blockingTaskId: running.id },
      });
  }
  const refused =
    kind === 'cluster.delete' || (standby ? d.status !== 'unstart' && STANDBY_REFUSES.includes(kind) : PRODUCTION_REFUSES.includes(kind));
  if (refused)
    throw new AppError('CLUSTER_STATE_CONFLICT', {
      args: [
        cluster.name,
        `${ACTION_OF_KIND[kind]} is not possible while it is the ${standby ? 'standby' : 'production'} cluster of disaster recovery ${d.name}${standby ? ' (its data follows the production cluster)' : ''}; delete the disaster recovery first`,
      ],
    });
}
