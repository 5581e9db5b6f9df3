/**
 * Fair shares of the repository (docs/security.md): is there room for one more snapshot of a
 * project? Checked when the snapshot is requested (services/snapshot-service.ts: the API
 * answers 400, a policy fire is recorded REFUSED) and again when its backup or dump step
 * starts (definitions/snapshot-create.ts, snapshot-logical.ts: the task fails), so a request
 * accepted earlier (or by a process with other settings) never fills the disk.
 *
 * Two checks, each refusing before anything is written:
 * - the project's quotas (settings projectSnapshotQuota, projectRepoQuotaMb): its visible
 *   snapshots, and the sizes the store recorded for its kept snapshots plus the new one's
 *   estimate;
 * - the free space (statfs) where the backup or dump goes, beyond the estimate plus the margin
 *   snapshotSpaceMarginMb: the local repository for a backup, the data directory for a
 *   schema- or table-level dump. An S3 repository has no free-space figure: that part is
 *   skipped (the byte quota still counts the recorded sizes).
 * The estimates come from domain/snapshot-space.ts, over measured and recorded figures only.
 */
import type { Config } from '../config/config.js';
import { BYTES_PER_MB, quotaRefusal, spaceRefusal, type EstimatedKind } from '../domain/snapshot-space.js';
import type { DataPlane } from '../dataplane/data-plane.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';

export type SnapshotLimits = Pick<Config, 'projectSnapshotQuota' | 'projectRepoQuotaMb' | 'snapshotSpaceMarginMb'>;

/** What a new snapshot is estimated to write. */
export interface SnapshotNeed {
  kind: EstimatedKind;
  needBytes: number;
}

/**
 * The free bytes where a snapshot of this kind is written, and how a message names the place;
 * null when there is no figure (an S3 repository).
 */
export function freeSpaceFor(dataPlane: DataPlane, kind: EstimatedKind): { freeBytes: number; where: string } | null {
  if (kind === 'dump')
    return {
      freeBytes: dataPlane.capacity().dataDiskFreeBytes,
      where: 'the data directory (where schema- and table-level dumps are kept)',
    };
  if (dataPlane.repositoryRef().kind !== 'local') return null;
  return { freeBytes: dataPlane.capacity().repoDiskFreeBytes, where: 'the backup repository' };
}

/**
 * Throws INSUFFICIENT_SNAPSHOT_SPACE when the place the snapshot goes lacks room for it plus
 * the margin. The host's free space is logged for the operator, never told the tenant.
 */
export function checkFreeSpace(dataPlane: DataPlane, limits: SnapshotLimits, need: SnapshotNeed, log?: Logger): void {
  const free = freeSpaceFor(dataPlane, need.kind);
  if (!free) return;
  const marginBytes = limits.snapshotSpaceMarginMb * BYTES_PER_MB;
  const refused = spaceRefusal({ kind: need.kind, needBytes: need.needBytes, freeBytes: free.freeBytes, marginBytes, where: free.where });
  if (!refused) return;
  log?.warn('snapshot space short', {
    kind: need.kind,
    needBytes: need.needBytes,
    freeBytes: free.freeBytes,
    marginBytes,
    where: free.where,
  });
  throw refused;
}

/**
 * Throws SNAPSHOT_QUOTA_EXCEEDED when one more snapshot of the project passes its count or
 * bytes quota. `exceptSnapshotId`: the snapshot being taken, already in the store (its step
 * checks again), left out of the figures.
 */
export async function checkSnapshotQuota(
  store: Store,
  limits: SnapshotLimits,
  projectId: string,
  need: SnapshotNeed,
  exceptSnapshotId?: string,
): Promise<void> {
  const used = await store.snapshotUsage(projectId, exceptSnapshotId);
  const refused = quotaRefusal({
    count: used.count,
    countQuota: limits.projectSnapshotQuota,
    usedBytes: used.bytes,
    needBytes: need.needBytes,
    bytesQuota: limits.projectRepoQuotaMb * BYTES_PER_MB,
  });
  if (refused) throw refused;
}
