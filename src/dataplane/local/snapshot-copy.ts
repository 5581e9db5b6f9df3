/**
 * CopySnapshot (issue 16): an independent copy of a cluster-level snapshot. pgBackRest 2.45
 * has no command that copies a backup set between repositories, and a second repository on
 * the source's live stanza would tie the cluster's archiving to it (archive-push fails while
 * any repository is unreachable). So the source set is restored, whole, into the task's
 * temporary instance (`tmp/<task id>`, the project's user, a unix socket only; D4, D32), which
 * is started archiving into the copy's OWN stanza (`copy-<copy id>`, in the configured
 * repository, local or S3) and promoted; a full backup of it with its WAL inside the set
 * (`--archive-copy`) then makes the copy restorable on its own, after the source snapshot,
 * its stanza and its cluster are gone. The instance is removed last (and by the task's undo).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../../errors/app-error.js';
import type { BackupSetInfo, BackupSetRef, RunOptions, SnapshotCopyWork } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import type { OsUser } from '../os-user.js';
import { runBackup } from '../pg-backup.js';
import { writeOwned, type PgInstance } from '../pg-instance.js';
import { clearRecoverySettings, restoreSet, waitPromoted } from '../pg-restore.js';
import type { StanzaTarget } from '../pgbackrest.js';
import { readFileSafe } from '../safe-fs.js';
import { controlData } from './initdb-pool.js';

/** The copy's temporary instance: the task's own directory, run by the project's user. */
export const copySource = (e: LocalEngine, work: SnapshotCopyWork): PgInstance => e.tempInstance(work.taskId, work.projectId);

/** The copy's stanza, whose one member is the temporary instance (the only PostgreSQL it ever backs up). */
function copyTarget(e: LocalEngine, work: SnapshotCopyWork): StanzaTarget {
  const inst = copySource(e, work);
  return {
    os: inst.spec.os,
    stanza: work.stanza,
    configFile: e.stanzaConfigFile(work.stanza),
    pgPath: inst.dataDir,
    pgPort: inst.spec.port,
    pgSocket: inst.spec.sockDir,
  };
}

/** `pgbackrest restore` of the whole set into the temporary instance (a restored or running one is kept). */
export async function restoreCopySource(e: LocalEngine, work: SnapshotCopyWork, set: BackupSetRef, o: RunOptions = {}): Promise<void> {
  const inst = copySource(e, work);
  if (inst.status()) return;
  e.prepareTempDir(inst);
  await restoreSet(e.backrest, {
    source: { stanza: set.stanza, configFile: e.stanzaConfigFile(set.stanza) },
    label: set.label,
    dataDir: inst.dataDir,
    os: inst.spec.os,
    totalBytes: set.sourceBytes,
    lockFile: o.lockFile ?? e.lockFile(work.taskId),
    signal: o.signal,
    idleTimeoutMs: o.idleTimeoutMs,
    onProgress: (s) => o.onProgress?.(s),
  });
}

/**
 * Make the copy's stanza from the restored instance's pg_control (`stanza-create --no-online`
 * before its first start, so the history file its promotion writes goes into a stanza that
 * exists; online for one that runs already), then start it archiving there and wait until it
 * is promoted. Its recovery reads WAL from the source stanza, read-only.
 */
export async function startCopySource(e: LocalEngine, work: SnapshotCopyWork, o: RunOptions = {}): Promise<void> {
  const inst = copySource(e, work);
  if (!inst.isInitialized())
    throw new AppError('ENGINE_NODE_FAILED', { args: ['temporary instance', `no restored data directory at ${inst.dataDir}`] });
  const t = copyTarget(e, work);
  const running = inst.status() !== null;
  const signal = o.signal ? { signal: o.signal } : {};
  o.onProgress?.({ source: 'dwsbox', percent: 2, data: { phase: 'stanza-create', stanza: work.stanza } });
  e.backrest.ensureRepoDirs();
  e.backrest.writeConfig(t);
  await e.backrest.run(t, 'stanza-create', {
    ...(running ? {} : { extra: ['--no-online'] }),
    lockFile: o.lockFile ?? e.lockFile(work.taskId),
    timeoutMs: 120_000,
    ...signal,
  });
  if (!running) {
    // The one temporary instance that archives (D4's others never do): into the copy's stanza only.
    e.prepareTempInstance(inst, {
      ...(await sourceLimits(e, inst, o)),
      archive_mode: 'on',
      archive_command: e.backrest.archiveCommand(t),
      archive_timeout: '60s',
    });
    dropArchiveOverrides(inst.dataDir, inst.spec.os);
    o.onProgress?.({ source: 'dwsbox', percent: 5, data: { phase: 'start' } });
    await inst.start({ timeoutMs: 30 * 60_000, ...signal });
  }
  await waitPromoted(inst, { ...signal, timeoutMs: 30 * 60_000, ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
  // The recovery settings pgBackRest wrote name the SOURCE stanza: the copy's set must not carry them.
  clearRecoverySettings(inst.dataDir, inst.spec.os);
  await inst.query('select pg_reload_conf()');
}

/**
 * The settings a standby's recovery compares with its source's (max_connections and the
 * others PostgreSQL records in the WAL), exactly the source's as its pg_control recorded them
 * (read as the directory's owner, D32). A temporary instance's usual ones (the largest node
 * type's) would pass its own recovery, but the copy's WAL would then record them, and a
 * cluster restored from the copy with the snapshot's node type would refuse to recover
 * ("max_connections = 40 is a lower setting than on the primary server").
 */
async function sourceLimits(e: LocalEngine, inst: PgInstance, o: RunOptions): Promise<Record<string, string>> {
  const c = await controlData(e.bins, inst.dataDir, inst.spec.os, {
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.lockFile ? { lockFile: o.lockFile } : {}),
  });
  const pairs: [string, string][] = [
    ['max_connections', c.maxConnections],
    ['max_wal_senders', c.maxWalSenders],
    ['max_worker_processes', c.maxWorkerProcesses],
    ['max_prepared_transactions', c.maxPreparedXacts],
    ['max_locks_per_transaction', c.maxLocksPerXact],
  ];
  return Object.fromEntries(pairs.filter(([, v]) => /^\d+$/.test(v)));
}

/**
 * pgBackRest's restore wrote `archive_mode = 'off'` into postgresql.auto.conf, which PostgreSQL
 * reads after the instance's own settings: dropped (with any archive_command there), so the
 * copy archives into its own stanza.
 */
function dropArchiveOverrides(dataDir: string, os: OsUser): void {
  const f = join(dataDir, 'postgresql.auto.conf');
  if (!existsSync(f)) return;
  const lines = (readFileSafe(f) ?? '').split('\n');
  const kept = lines.filter((l) => !/^\s*archive_(mode|command)\s*=/.test(l));
  if (kept.length !== lines.length) writeOwned(f, kept.join('\n'), os, 0o600);
}

/** A full backup of the promoted instance into the copy's stanza, every WAL segment it needs inside the set (`--archive-copy`). */
export function backupCopy(
  e: LocalEngine,
  work: SnapshotCopyWork,
  o: RunOptions & { annotation: Record<string, string> },
): Promise<BackupSetInfo> {
  return runBackup(e.backrest, copyTarget(e, work), {
    type: 'full',
    archiveCopy: true,
    annotation: o.annotation,
    lockFile: o.lockFile ?? e.lockFile(work.taskId),
    signal: o.signal,
    idleTimeoutMs: o.idleTimeoutMs,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
}

/** Stop the temporary instance (immediate: it is thrown away) and remove its files. */
export function removeCopySource(e: LocalEngine, work: SnapshotCopyWork): Promise<void> {
  return e.removeTempInstance(work.taskId, work.projectId);
}

/**
 * Remove a stanza that no cluster archives into (a copy's): `stop`, `stanza-delete --force`
 * (pgBackRest never expires a stanza's last full, D16), and its files. Its config file, which
 * records its repository and OS user, is the one the copy wrote; with none, only the files go.
 */
export async function removeLoneStanza(e: LocalEngine, stanza: string, o: RunOptions = {}): Promise<void> {
  const t = { stanza, configFile: e.stanzaConfigFile(stanza) };
  if (existsSync(t.configFile) && ((await e.backrest.stanzaExists(stanza)) || (await e.backrest.archiveExists(stanza)))) {
    const opts = { ...(o.lockFile ? { lockFile: o.lockFile } : {}), ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 300_000 };
    await e.backrest.run(t, 'stop', opts);
    await e.backrest.run(t, 'stanza-delete', { ...opts, extra: ['--force'] });
  }
  await e.backrest.removeStanzaFiles(stanza);
}
