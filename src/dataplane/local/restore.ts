/**
 * A snapshot into a new cluster's primary (D4, D16): `pgbackrest restore` from the SOURCE
 * stanza (read-only), the copy configured with archiving off and its own address before its
 * first start, replayed to the consistent point and promoted, cleaned (D32), and only then
 * given its own stanza and archive_mode on (a restart) with a passing `pgbackrest check`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { BackupSetRef, ClusterRef, ClusterSecrets, MemberProcess, RunOptions } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import type { OsUser } from '../os-user.js';
import { writeOwned } from '../pg-instance.js';
import { clearRecoverySettings, restoreSet, waitPromoted } from '../pg-restore.js';

/** Restore the set into the primary's data directory (a copy that already runs is finished). */
export async function restorePrimary(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  set: BackupSetRef,
  o: RunOptions = {},
): Promise<void> {
  const inst = e.instance(cluster, primary);
  if (inst.status()) return;
  e.prepareNodeDir(cluster, primary.ordinal);
  await restoreSet(e.backrest, {
    source: { stanza: set.stanza, configFile: e.stanzaConfigFile(set.stanza) },
    label: set.label,
    dataDir: primary.dataDir,
    os: inst.spec.os,
    totalBytes: set.sourceBytes,
    lockFile: o.lockFile ?? e.lockFile(cluster.id),
    signal: o.signal,
    idleTimeoutMs: o.idleTimeoutMs,
    onProgress: (s) => o.onProgress?.(s),
  });
}

/**
 * Start the restored copy with the new cluster's settings and archiving off (D4), wait until it
 * is promoted, clean it (D32) and make its administrator.
 */
export async function recoverPrimary(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  adminPassword: string,
  o: RunOptions = {},
): Promise<{ process: MemberProcess; timeline: number; lsn: string | null; cleaned: number }> {
  const inst = e.instance(cluster, primary);
  if (!inst.isInitialized())
    throw new AppError('ENGINE_NODE_FAILED', { args: [primary.host, `no restored data directory at ${primary.dataDir}`] });
  if (!inst.status()) {
    inst.writeConfig(e.clusterSettings(cluster, primary, false));
    inst.writeAccessRules();
  }
  o.onProgress?.({ source: 'dwsbox', percent: 5, data: { phase: 'start' } });
  const process = await e.startNode(cluster, primary, { ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 30 * 60_000 });
  await waitPromoted(inst, {
    ...(o.signal ? { signal: o.signal } : {}),
    timeoutMs: 30 * 60_000,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  const tl = await inst.query<{ tl: string; lsn: string }>(
    `select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) as tl, pg_current_wal_lsn()::text as lsn`,
  );
  // D32: nothing a superuser of the snapshot's time left behind survives into the new cluster.
  const cleaned = await e.cleanRestoredCluster(cluster, primary);
  // The restored database holds the source's administrator; make it the D32 administrator with the new cluster's password.
  await e.ensureAdmin(cluster, primary, cluster.userName, adminPassword);
  return { process, timeline: parseInt(tl[0]?.tl ?? '0', 16), lsn: tl[0]?.lsn ?? null, cleaned: cleaned.length };
}

/**
 * The new cluster's own stanza, archive_mode on pointing at it (a restart when the running
 * settings differ) and a passing `pgbackrest check` (D4). The stanza comes first (it reads the
 * running copy), so the archiver never meets a missing one.
 */
export async function enableRestoredArchiving(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  secrets: ClusterSecrets,
  o: RunOptions = {},
): Promise<MemberProcess | null> {
  const inst = e.instance(cluster, primary);
  const settings = e.clusterSettings(cluster, primary, true);
  const tool = { lockFile: o.lockFile ?? e.lockFile(cluster.id), ...(o.signal ? { signal: o.signal } : {}) };
  const t = e.writeStanzaConfig(cluster, primary);
  o.onProgress?.({ source: 'dwsbox', percent: 10, data: { phase: 'stanza-create', stanza: cluster.stanza } });
  await e.backrest.stanzaCreate(t, tool);
  clearRecoverySettings(primary.dataDir, inst.spec.os);
  inst.writeConfig(settings);
  markHistoryForArchiving(primary.dataDir, inst.spec.os);
  const rows = await inst.query<{ name: string; setting: string }>('select name, setting from pg_settings where name = any($1)', [
    ['archive_mode', 'archive_command', 'restore_command'],
  ]);
  const now = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  let restarted: MemberProcess | null = null;
  if (now['archive_mode'] !== 'on' || now['archive_command'] !== settings['archive_command'] || (now['restore_command'] ?? '') !== '') {
    o.onProgress?.({ source: 'dwsbox', percent: 40, data: { phase: 'restart' } });
    await e.stopNode(cluster, primary, 'fast');
    restarted = await e.startNode(cluster, primary, { ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 10 * 60_000 });
  }
  await e.ensureReplicationRole(cluster, primary, secrets);
  o.onProgress?.({ source: 'dwsbox', percent: 60, data: { phase: 'check', stanza: cluster.stanza } });
  await e.backrest.check(t, tool);
  o.onProgress?.({ source: 'pgbackrest check', percent: 100, data: { phase: 'checked', stanza: cluster.stanza } });
  return restarted;
}

/**
 * The promoted copy wrote its new timeline's history file while archiving was off, so no
 * `.ready` marker exists for it; mark it, so the archiver pushes it into the NEW stanza and
 * later restores of this cluster's own snapshots find their timeline's history there.
 */
function markHistoryForArchiving(dataDir: string, os: OsUser): void {
  const wal = join(dataDir, 'pg_wal');
  const status = join(wal, 'archive_status');
  if (!existsSync(status)) return;
  for (const f of readdirSync(wal)) {
    if (!/^[0-9A-F]{8}\.history$/.test(f)) continue;
    if (existsSync(join(status, `${f}.ready`)) || existsSync(join(status, `${f}.done`))) continue;
    writeOwned(join(status, `${f}.ready`), '', os, 0o600);
  }
}
