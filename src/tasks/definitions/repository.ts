/**
 * A snapshot goes to its cluster's repository, which is the configured one (backup-repository.ts):
 * a cluster created under other repository settings moves there when it has no backup sets
 * yet, and is refused (REPOSITORY_MOVE_REFUSED) when it has some. The cluster and the
 * snapshot record where the backup lands, so the snapshot reports its `backup_device`.
 */
import type { StepContext } from '../definition.js';
import { primaryOf } from './member-steps.js';

export async function ensureSnapshotRepository(ctx: StepContext<{ clusterId: string; snapshotId: string }>): Promise<void> {
  const cluster = await ctx.cluster();
  const primary = primaryOf(await ctx.nodes());
  const ref = await ctx.dataPlane.ensureStanzaRepository(cluster, primary, { lockFile: ctx.lockFile, signal: ctx.signal });
  const same = (r: { id: string } | undefined): boolean => (r?.id ?? null) === ref.id;
  const snap = await ctx.store.getSnapshotById(ctx.params.snapshotId);
  if (same(cluster.spec.repository) && (!snap || same(snap.sourceSpec.clusterSpec.repository))) return;
  const now = ctx.clock.now();
  await ctx.write(async (tx) => {
    if (!same(cluster.spec.repository)) await tx.updateCluster(cluster.id, { spec: { ...cluster.spec, repository: ref }, updatedAt: now });
    if (snap && !same(snap.sourceSpec.clusterSpec.repository)) {
      await tx.updateSnapshot(snap.id, {
        sourceSpec: { ...snap.sourceSpec, clusterSpec: { ...snap.sourceSpec.clusterSpec, repository: ref } },
        updatedAt: now,
      });
    }
  });
}
