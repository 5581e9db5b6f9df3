/**
 * The snapshot chain of a stanza (design D2, D16): which snapshots a cluster delete keeps,
 * and which backup sets can be expired because no visible snapshot depends on them.
 */
import type { ClusterRecord } from '../../domain/records.js';
import type { StepContext } from '../definition.js';

/**
 * Cluster delete (D16): keep the newest `keep` manual AVAILABLE snapshots; hide the rest.
 * Returns how many were kept. The backup sets of hidden snapshots are expired by the
 * stanza's repository task.
 */
export async function keepNewestSnapshots(ctx: StepContext<unknown>, cluster: ClusterRecord, keep: number): Promise<number> {
  const visible = await ctx.store.listSnapshots(cluster.projectId, cluster.id);
  const candidates = visible.filter((s) => s.type === 'MANUAL' && s.status === 'AVAILABLE');
  const keepIds = new Set(candidates.slice(0, Math.max(0, keep)).map((s) => s.id));
  const now = ctx.clock.now();
  await ctx.write(async (tx) => {
    for (const s of visible) if (!keepIds.has(s.id)) await tx.updateSnapshot(s.id, { deletedAt: now, updatedAt: now });
  });
  return keepIds.size;
}
