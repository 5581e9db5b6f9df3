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
      const subStatus = outcome.subStatus === 'NORMAL' ? await balancedSubStatus(tx, cluster.id) : outcome.subStatus;
      await tx.updateCluster(cluster.id, {
        status,
        stickyTaskStatus,
        stopped,
        ...(subStatus ? { subStatus } : {}),
        updatedAt: now,
      });
    }
  }
}

/**
 * The NORMAL a successful task leaves, unless a member other than the preferred one (the lowest
 * ordinal) is the primary: then UNBALANCED, as the health monitor and the switchover say (issue
 * 15). On the Patroni engine a restart, start or scale may end with the primary a failover left
 * elsewhere (its roles follow Patroni's); NORMAL there contradicted the roles until the next
 * health round. On the local engine the primary is always the preferred member: NORMAL as before.
 */
async function balancedSubStatus(tx: Store, clusterId: string): Promise<'NORMAL' | 'UNBALANCED'> {
  const nodes = (await tx.listNodes(clusterId)).filter((n) => n.membership === 'active');
  const primary = nodes.find((n) => n.role === 'primary');
  if (!primary || !nodes.length) return 'NORMAL';
  return primary.ordinal === Math.min(...nodes.map((n) => n.ordinal)) ? 'NORMAL' : 'UNBALANCED';
}
