/**
 * The one outcome rule (D8, docs/states.md): when a task ends, the runner writes its cluster's
 * state from the table in `domain/cluster.ts`, in the fenced transaction that ends the task and
 * after the definition's extras (node membership, addresses, failed_reasons), so the table
 * always has the last word on status, task_status, stopped and sub_status.
 */
import { clusterOutcome } from '../domain/cluster.js';
import type { TaskRecord } from '../domain/records.js';
import type { Store } from '../store/store.js';

/** Apply the D8 success or failure state of `task` to its cluster (nothing when it has none, or it is gone). */
export async function applyClusterOutcome(
  tx: Store,
  task: Pick<TaskRecord, 'kind' | 'clusterId'>,
  succeeded: boolean,
  now: number,
): Promise<void> {
  if (!task.clusterId) return;
  const cluster = await tx.getClusterById(task.clusterId);
  if (!cluster) return;
  const outcome = clusterOutcome(task.kind, succeeded, {
    status: cluster.status,
    stickyTaskStatus: cluster.stickyTaskStatus,
    stopped: cluster.stopped,
  });
  switch (outcome.kind) {
    case 'unchanged':
      return;
    case 'gone':
      await tx.updateCluster(cluster.id, { deletedAt: now, updatedAt: now });
      return;
    case 'state': {
      const { status, stickyTaskStatus, stopped } = outcome.state;
      await tx.updateCluster(cluster.id, {
        status,
        stickyTaskStatus,
        stopped,
        ...(outcome.subStatus ? { subStatus: outcome.subStatus } : {}),
        updatedAt: now,
      });
    }
  }
}
