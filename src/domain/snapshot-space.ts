/**
 * Fair shares of the repository (docs/security.md): what a new snapshot is estimated to take,
 * and the refusals of the per-project snapshot quotas and of the free-space check. Pure code:
 * the callers (the snapshot service at request time, the backup and dump steps at their start)
 * bring the figures.
 */
import { AppError } from '../errors/app-error.js';
import type { SnapshotRecord } from './records.js';

/** A differential with no earlier differential to go by is estimated at this share of the database. */
export const DIFF_FRACTION = 0.1;
export const BYTES_PER_MB = 1e6;

const megabytes = (b: number): string => `${Math.ceil(b / BYTES_PER_MB)} MB`;

export type EstimatedKind = 'full' | 'diff' | 'dump';

/**
 * D2's choice (tasks/definitions/snapshot-chain.ts `nextBackupType`) made from the store's
 * records instead of pgBackRest's catalog, for an estimate at request time: full when there is
 * no full yet, when `forceFull`, every `fullEvery` snapshots, or when the last differential
 * passed half the full's database size.
 */
export function predictBackupType(clusterSnapshots: readonly SnapshotRecord[], fullEvery: number, forceFull: boolean): 'full' | 'diff' {
  if (forceFull) return 'full';
  const chain = clusterSnapshots
    .filter((s) => !s.fineGrained && s.status === 'AVAILABLE' && (s.backupType === 'full' || s.backupType === 'diff'))
    .sort((a, b) => a.createdAt - b.createdAt);
  const lastFull = chain.map((s) => s.backupType).lastIndexOf('full');
  if (lastFull === -1) return 'full';
  const since = chain.slice(lastFull + 1);
  if (since.length + 1 >= fullEvery) return 'full';
  const lastDiff = since.at(-1);
  if (lastDiff && (lastDiff.sizeBytes ?? 0) > (chain[lastFull]!.sourceBytes ?? 0) / 2) return 'full';
  return 'diff';
}

/**
 * Bytes a backup is estimated to write: a full, the database (pgBackRest compresses, so this
 * errs on the safe side); a differential, the last differential's size, at least
 * `DIFF_FRACTION` of the database; a dump, the size of the tables it dumps.
 */
export function estimateBackupBytes(
  kind: EstimatedKind,
  o: { databaseBytes: number | null; lastDiffBytes?: number | null; lastFullSourceBytes?: number | null },
): number {
  const db = o.databaseBytes ?? o.lastFullSourceBytes ?? 0;
  if (kind === 'diff') return Math.max(o.lastDiffBytes ?? 0, Math.ceil(db * DIFF_FRACTION));
  return db;
}

/** The last differential of a cluster's chain (its recorded size), for `estimateBackupBytes`. */
export function chainFigures(clusterSnapshots: readonly SnapshotRecord[]): {
  lastDiffBytes: number | null;
  lastFullSourceBytes: number | null;
} {
  const chain = clusterSnapshots.filter((s) => !s.fineGrained && s.status === 'AVAILABLE').sort((a, b) => a.createdAt - b.createdAt);
  const lastDiff = chain.filter((s) => s.backupType === 'diff').at(-1);
  const lastFull = chain.filter((s) => s.backupType === 'full').at(-1);
  return { lastDiffBytes: lastDiff?.sizeBytes ?? null, lastFullSourceBytes: lastFull?.sourceBytes ?? null };
}

/**
 * INSUFFICIENT_SNAPSHOT_SPACE when `freeBytes` is less than the estimate plus the margin,
 * else null. `where` names the place (the repository, the data directory). The message shows
 * the tenant its snapshot's need and the service's margin, never the host's free space (the
 * caller logs that for the operator).
 */
export function spaceRefusal(o: {
  kind: EstimatedKind;
  needBytes: number;
  freeBytes: number;
  marginBytes: number;
  where: string;
}): AppError | null {
  if (o.freeBytes >= o.needBytes + o.marginBytes) return null;
  const what = o.kind === 'full' ? 'a full backup' : o.kind === 'diff' ? 'a differential backup' : 'the dump';
  return new AppError('INSUFFICIENT_SNAPSHOT_SPACE', {
    args: [
      `${what} needs about ${megabytes(o.needBytes)}, more than ${o.where} has free now beyond the ${megabytes(o.marginBytes)} the service keeps free (setting snapshotSpaceMarginMb). Delete snapshots, or ask the operator to free space`,
    ],
  });
}

/** SNAPSHOT_QUOTA_EXCEEDED when one more snapshot passes the project's count or bytes quota, else null. */
export function quotaRefusal(o: {
  count: number;
  countQuota: number;
  usedBytes: number;
  needBytes: number;
  bytesQuota: number;
}): AppError | null {
  if (o.count >= o.countQuota) {
    return new AppError('SNAPSHOT_QUOTA_EXCEEDED', {
      args: [
        `the project has ${o.count} snapshots, its quota is ${o.countQuota} (setting projectSnapshotQuota); delete snapshots (or lower keep_day) first`,
      ],
    });
  }
  if (o.usedBytes + o.needBytes > o.bytesQuota) {
    return new AppError('SNAPSHOT_QUOTA_EXCEEDED', {
      args: [
        `the project's snapshots take ${megabytes(o.usedBytes)} of its ${megabytes(o.bytesQuota)} repository quota (setting projectRepoQuotaMb) and this one needs about ${megabytes(o.needBytes)} more; delete snapshots first`,
      ],
    });
  }
  return null;
}
