/**
 * The snapshot chain of a stanza (design D2, D16): which backup type the next snapshot takes,
 * which snapshots a cluster delete keeps, and which backup sets can be expired because no
 * visible snapshot depends on them.
 */
import type { ClusterRecord, SnapshotRecord } from '../../domain/records.js';
import { backupKeyTime } from '../../domain/time.js';
import type { BackupSetInfo, DataPlane } from '../../dataplane/data-plane.js';
import type { Store } from '../../store/store.js';
import type { StepContext } from '../definition.js';
import type { Logger } from '../../log/logger.js';

/**
 * D2: the first snapshot is full; later ones are differential on the latest full; a new full
 * every `fullEvery` snapshots, or when the last diff is more than half the full's size.
 */
export function nextBackupType(sets: BackupSetInfo[], fullEvery: number): 'full' | 'diff' {
  const good = sets.filter((s) => !s.error);
  const lastFullIndex = good.map((s) => s.type).lastIndexOf('full');
  if (lastFullIndex === -1) return 'full';
  const full = good[lastFullIndex]!;
  const since = good.slice(lastFullIndex + 1);
  if (since.length + 1 >= fullEvery) return 'full';
  const lastDiff = since.at(-1);
  if (lastDiff && lastDiff.copiedBytes > full.databaseSize / 2) return 'full';
  return 'diff';
}

/** pgBackRest label → DWS backup_key (`yyyyMMdd_HHmmss`, UTC: every pgBackRest call runs with TZ=UTC). */
export function backupKeyOf(label: string): string {
  const own = label.split('_').at(-1)!;
  const m = /^(\d{8})-(\d{6})[FDI]$/.exec(own);
  if (!m) return backupKeyTime(Date.now());
  return `${m[1]}_${m[2]}`;
}

/** What a snapshot's record says of its backup set (its keys, type and sizes), from the set's figures. */
export function setFields(
  set: Pick<BackupSetInfo, 'label' | 'type' | 'prior' | 'repoOwnBytes' | 'repoSetBytes' | 'databaseSize'>,
): Pick<SnapshotRecord, 'backupLabel' | 'backupKey' | 'priorBackupKey' | 'backupType' | 'sizeBytes' | 'totalBackupSize' | 'sourceBytes'> {
  return {
    backupLabel: set.label,
    backupKey: backupKeyOf(set.label),
    priorBackupKey: set.type === 'full' ? 'FULL' : backupKeyOf(set.prior ?? ''),
    backupType: set.type === 'incr' ? 'diff' : set.type,
    sizeBytes: set.repoOwnBytes,
    totalBackupSize: set.repoSetBytes,
    sourceBytes: set.databaseSize,
  };
}

/**
 * Sets of hidden snapshots that no visible snapshot needs (a visible diff needs its full).
 * Sets that belong to no snapshot row are never touched.
 */
export function expirableSets(sets: BackupSetInfo[], snapshots: SnapshotRecord[]): string[] {
  const byLabel = new Map(sets.map((s) => [s.label, s]));
  const needed = new Set<string>();
  for (const snap of snapshots) {
    if (snap.deletedAt !== null || !snap.backupLabel) continue;
    needed.add(snap.backupLabel);
    for (const r of byLabel.get(snap.backupLabel)?.reference ?? []) needed.add(r);
  }
  const hidden = new Set(snapshots.filter((s) => s.deletedAt !== null && s.backupLabel).map((s) => s.backupLabel!));
  // Differentials first: expiring a full also expires what depends on it.
  return sets
    .filter((s) => hidden.has(s.label) && !needed.has(s.label))
    .sort((a, b) => (a.type === 'full' ? 1 : 0) - (b.type === 'full' ? 1 : 0))
    .map((s) => s.label);
}

export interface ExpireDeps {
  store: Store;
  dataPlane: DataPlane;
  log: Logger;
  lockFile: string;
  signal?: AbortSignal;
  now: () => number;
  /** fenced writes when run inside a task */
  write: <T>(fn: (tx: Store) => Promise<T>) => Promise<T>;
}

/**
 * Expire every backup set of a stanza that no visible snapshot needs, and mark those
 * snapshot rows expired. pgBackRest refuses to expire a stanza's only full backup: such a
 * set stays (and is retried by a later expiry) until a newer full exists or the stanza is
 * deleted. Returns the labels expired.
 */
export async function expireUnneeded(deps: ExpireDeps, stanza: string): Promise<string[]> {
  // Schema- and table-level snapshots are dumps outside the pgBackRest chain: a hidden one's dump goes first.
  await expireLogicalSnapshots(deps, stanza);
  if (await removeDeletedCopyStanza(deps, stanza)) return [];
  if (!(await deps.dataPlane.stanzaExists(stanza))) {
    // The stanza is gone (cluster deleted with no snapshot kept): nothing to keep.
    const rows = await deps.store.listStanzaSnapshots(stanza);
    await deps.write(async (tx) => {
      for (const r of rows) if (r.deletedAt !== null) await tx.updateSnapshot(r.id, { expiredAt: deps.now(), updatedAt: deps.now() });
    });
    return [];
  }
  const expired: string[] = [];
  for (let round = 0; round < 5; round++) {
    const sets = await deps.dataPlane.backupSets(stanza, deps.signal ? { signal: deps.signal } : {});
    const rows = await deps.store.listStanzaSnapshots(stanza);
    const labels = expirableSets(sets, rows).filter((l) => !expired.includes(l));
    if (labels.length === 0) break;
    for (const label of labels) {
      const r = await deps.dataPlane.expireBackup(stanza, label, { lockFile: deps.lockFile, signal: deps.signal });
      if (!r.expired) {
        deps.log.info('pgBackRest keeps this backup set for now', { stanza, label, reason: r.reason });
        continue;
      }
      expired.push(label);
    }
    const still = new Set((await deps.dataPlane.backupSets(stanza, deps.signal ? { signal: deps.signal } : {})).map((s) => s.label));
    await deps.write(async (tx) => {
      for (const r of rows) {
        if (r.deletedAt !== null && r.backupLabel && !still.has(r.backupLabel))
          await tx.updateSnapshot(r.id, { expiredAt: deps.now(), updatedAt: deps.now() });
        if (r.deletedAt !== null && !r.backupLabel) await tx.updateSnapshot(r.id, { expiredAt: deps.now(), updatedAt: deps.now() });
      }
    });
  }
  return expired;
}

/**
 * A copy's stanza (CopySnapshot) holds its copy alone and no cluster archives into it: once
 * the copy is deleted, the whole stanza goes (pgBackRest would keep its only full forever),
 * and the copy's row is marked expired. Returns whether the stanza was such a one.
 */
async function removeDeletedCopyStanza(deps: ExpireDeps, stanza: string): Promise<boolean> {
  const rows = await deps.store.listStanzaSnapshots(stanza);
  if (!rows.length || !rows.every((r) => r.sourceSpec.copyOf && r.deletedAt !== null)) return false;
  await deps.dataPlane.removeLoneStanza(stanza, { lockFile: deps.lockFile, ...(deps.signal ? { signal: deps.signal } : {}) });
  await deps.write(async (tx) => {
    for (const r of rows) await tx.updateSnapshot(r.id, { expiredAt: deps.now(), updatedAt: deps.now() });
  });
  deps.log.info("a deleted copy's stanza removed", { stanza, snapshotIds: rows.map((r) => r.id) });
  return true;
}

/**
 * Cluster delete (D16): keep the newest `keep` manual AVAILABLE snapshots; hide the rest
 * and expire the sets they no longer need. Copies are none of these: they stay. Returns how
 * many were kept.
 */
export async function keepNewestSnapshots(ctx: StepContext<unknown>, cluster: ClusterRecord, keep: number): Promise<number> {
  // A copy (CopySnapshot) is in a stanza of its own and outlives its cluster whatever is kept.
  const visible = (await ctx.store.listSnapshots(cluster.projectId, cluster.id)).filter((s) => !s.sourceSpec.copyOf);
  const candidates = visible.filter((s) => s.type === 'MANUAL' && s.status === 'AVAILABLE');
  const keepIds = new Set(candidates.slice(0, Math.max(0, keep)).map((s) => s.id));
  const now = ctx.clock.now();
  await ctx.write(async (tx) => {
    for (const s of visible) if (!keepIds.has(s.id)) await tx.updateSnapshot(s.id, { deletedAt: now, updatedAt: now });
  });
  if (keepIds.size > 0) {
    await expireUnneeded(
      {
        store: ctx.store,
        dataPlane: ctx.dataPlane,
        log: ctx.log,
        lockFile: ctx.lockFile,
        signal: ctx.signal,
        now: () => ctx.clock.now(),
        write: ctx.write,
      },
      cluster.stanza,
    );
  }
  return keepIds.size;
}

/**
 * Hidden schema- and table-level snapshots of a stanza: remove each one's dump directory,
 * then mark it expired. No other snapshot needs a dump, so nothing else is checked.
 */
export async function expireLogicalSnapshots(deps: ExpireDeps, stanza: string): Promise<number> {
  const rows = (await deps.store.listStanzaSnapshots(stanza)).filter((r) => r.deletedAt !== null && r.fineGrained);
  for (const r of rows) {
    await deps.dataPlane.removeDump(stanza, r.id);
    await deps.write((tx) => tx.updateSnapshot(r.id, { expiredAt: deps.now(), updatedAt: deps.now() }));
    deps.log.info('logical snapshot dump removed', { stanza, snapshotId: r.id });
  }
  return rows.length;
}
