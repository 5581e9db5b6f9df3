/**
 * A snapshot into a new cluster's primary (D4, D16): `pgbackrest restore` from the SOURCE
 * stanza (read-only); the new cluster's own stanza created from the copy's pg_control before
 * its first start, so the copy starts with the new cluster's settings, its own address and
 * archive_command pointing at the NEW stanza (never the source's); it replays to the
 * consistent point reading WAL from the source stanza, is promoted (its new timeline's
 * history file goes to the new stanza), cleaned (D32), and archiving into the new stanza is
 * then proven by a switched segment reaching it. No restart, no `pgbackrest check` (issue 14).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { BackupSetRef, ClusterRef, ClusterSecrets, MemberProcess, RunOptions } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import type { OsUser } from '../os-user.js';
import { writeOwned, type PgInstance } from '../pg-instance.js';
import { readFileSafe } from '../safe-fs.js';
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
 * The new cluster's own stanza, from the restored copy's pg_control while the copy does not
 * run yet (`stanza-create --no-online`), so archiving is on from the copy's first start:
 * the archiver pushes the new timeline's history file at promotion into a stanza that exists.
 * Idempotent (pgBackRest accepts a stanza that matches); a copy that runs (a resumed task)
 * gets an online stanza-create.
 */
async function ensureNewStanza(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  o: RunOptions,
  running: boolean,
): Promise<void> {
  const t = e.writeStanzaConfig(cluster, primary);
  await e.backrest.run(t, 'stanza-create', {
    ...(running ? {} : { extra: ['--no-online'] }),
    lockFile: o.lockFile ?? e.lockFile(cluster.id),
    timeoutMs: 120_000,
    ...(o.signal ? { signal: o.signal } : {}),
  });
}

/**
 * pgBackRest's `--archive-mode=off` wrote `archive_mode = 'off'` into postgresql.auto.conf,
 * which would override the cluster's settings: drop it, so the copy archives into the NEW
 * stanza from its first start (its archive_command, D4: never the source's). During archive
 * recovery with archive_mode=on nothing is archived; the first files pushed are the ones the
 * promotion writes.
 */
function dropArchiveModeOff(dataDir: string, os: OsUser): void {
  const f = join(dataDir, 'postgresql.auto.conf');
  if (!existsSync(f)) return;
  const text = readFileSafe(f) ?? '';
  const kept = text.split('\n').filter((l) => !/^\s*archive_mode\s*=/.test(l));
  if (kept.length !== text.split('\n').length) writeOwned(f, kept.join('\n'), os, 0o600);
}

/**
 * Start the restored copy with the new cluster's settings, archiving into its own stanza
 * (made first, from the copy's pg_control), wait until it is promoted, drop the recovery
 * settings (a reload: restore_command reads the source stanza and must not reach a standby's
 * copy), clean it (D32) and make its administrator.
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
    o.onProgress?.({ source: 'dwsbox', percent: 2, data: { phase: 'stanza-create', stanza: cluster.stanza } });
    await ensureNewStanza(e, cluster, primary, o, false);
    inst.writeConfig(e.clusterSettings(cluster, primary, true));
    dropArchiveModeOff(primary.dataDir, inst.spec.os);
    inst.writeAccessRules();
  }
  o.onProgress?.({ source: 'dwsbox', percent: 5, data: { phase: 'start' } });
  const process = await e.startNode(cluster, primary, { ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 30 * 60_000 });
  await waitPromoted(inst, {
    ...(o.signal ? { signal: o.signal } : {}),
    timeoutMs: 30 * 60_000,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  clearRecoverySettings(primary.dataDir, inst.spec.os);
  await inst.query('select pg_reload_conf()');
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
 * Archiving into the new cluster's own stanza works (D3, D4), proven without a restart or a
 * `pgbackrest check`: the stanza exists (made before the first start; made now for a copy
 * started without it), the running settings archive into it (a restart only for a copy that
 * runs with other settings, a task begun by an older version), the replication role has the
 * new cluster's password, and a switched WAL segment reaches the new stanza
 * (`pg_stat_archiver`: archive_command, a synchronous `archive-push`, returned 0 for it).
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
  if (!existsSync(e.stanzaConfigFile(cluster.stanza)) || !(await e.backrest.stanzaExists(cluster.stanza))) {
    o.onProgress?.({ source: 'dwsbox', percent: 10, data: { phase: 'stanza-create', stanza: cluster.stanza } });
    await ensureNewStanza(e, cluster, primary, o, inst.status() !== null);
  }
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
  o.onProgress?.({ source: 'dwsbox', percent: 60, data: { phase: 'wal-switch', stanza: cluster.stanza } });
  const segment = await waitSegmentArchived(inst, o.signal);
  o.onProgress?.({ source: 'pg_stat_archiver', percent: 100, data: { phase: 'archived', stanza: cluster.stanza, segment } });
  return restarted;
}

/**
 * Switch to a new WAL segment (after a restore point, so there is something to switch, as
 * `pgbackrest check` does) and wait until the archiver has pushed it. Fails with the
 * archiver's last failure when it does not arrive within a minute.
 */
async function waitSegmentArchived(inst: PgInstance, signal: AbortSignal | undefined): Promise<string> {
  await inst.query(`select pg_create_restore_point('dwsbox archive check')`);
  const [sw] = await inst.query<{ seg: string }>('select pg_walfile_name(pg_switch_wal()) as seg');
  const seg = sw!.seg;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (signal?.aborted) throw signal.reason as Error;
    const [a] = await inst.query<{ last: string | null; failed: string | null; ftime: string | null }>(
      `select last_archived_wal as last, last_failed_wal as failed, last_failed_time::text as ftime from pg_stat_archiver`,
    );
    // Segment names of one timeline sort by position; a history or .partial name of the same timeline sorts before its segments.
    if (a?.last && a.last.length >= 24 && a.last.slice(0, 24) >= seg) return seg;
    if (Date.now() > deadline)
      throw new AppError('STEP_TIMEOUT', {
        args: [
          'archive check',
          60,
          `WAL segment ${seg} to reach the new stanza (last archived ${a?.last ?? 'none'}, last failed ${a?.failed ?? 'none'} at ${a?.ftime ?? '-'})`,
        ],
      });
    await new Promise((r) => setTimeout(r, 25));
  }
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
