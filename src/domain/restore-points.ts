/** Issue 20: which snapshots a cluster can be restored from in place and to a point in time. */
import type { ClusterRecord, SnapshotRecord } from './records.js';

/**
 * A finished pgBackRest set of the cluster's own stanza: the start of a point-in-time restore,
 * and what an in-place restore can restore into the cluster (`support_inplace_restore`).
 */
export const isClusterRestorePoint = (
  c: Pick<ClusterRecord, 'id' | 'stanza'>,
  s: SnapshotRecord,
): s is SnapshotRecord & { finishedAt: number; backupLabel: string } =>
  s.clusterId === c.id && s.status === 'AVAILABLE' && !s.fineGrained && !!s.backupLabel && s.finishedAt !== null && s.stanza === c.stanza;
