/** Backups of a stanza (D2): taking one with measured progress, listing, verifying and expiring sets. */
import { AppError } from '../../errors/app-error.js';
import type { NodeRecord } from '../../domain/records.js';
import type { RunOptions, StanzaCluster } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import { removePartialSets, runBackup } from '../pg-backup.js';
import type { BackupSetInfo } from '../pgbackrest.js';

const targetOf = (e: LocalEngine, stanza: string) => ({ stanza, configFile: e.stanzaConfigFile(stanza) });

export async function backupSets(e: LocalEngine, stanza: string, o: { signal?: AbortSignal } = {}): Promise<BackupSetInfo[]> {
  return (await e.backrest.info(targetOf(e, stanza), o)).sets;
}

export function removePartialBackups(e: LocalEngine, cluster: StanzaCluster, primary: NodeRecord, signal?: AbortSignal): Promise<string[]> {
  return removePartialSets(e.backrest, e.stanzaTarget(cluster, primary), signal);
}

export function backup(
  e: LocalEngine,
  cluster: StanzaCluster,
  primary: NodeRecord,
  o: RunOptions & { type: 'full' | 'diff'; annotation: Record<string, string>; offline?: boolean },
): Promise<BackupSetInfo> {
  // Offline, pgBackRest reads the stanza's first member: the primary named there (after a failover it may be another).
  const t = o.offline ? e.writeStanzaConfig(cluster, primary) : e.stanzaTarget(cluster, primary);
  return runBackup(e.backrest, t, {
    type: o.type,
    ...(o.offline ? { offline: true } : {}),
    annotation: o.annotation,
    lockFile: o.lockFile ?? e.lockFile(cluster.id),
    signal: o.signal,
    idleTimeoutMs: o.idleTimeoutMs,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
}

/**
 * The set is listed in pgBackRest's catalog without error, and every WAL segment from its
 * start to its stop (what a restore of it replays to be consistent) is in the archive. This is
 * what the backup already proved as it ended (each file's checksum computed as it was written,
 * and no success without its WAL archived: pgBackRest's archive check), read back from the
 * repository: one `info` and a listing of the archive's directories. `pgbackrest verify` is
 * not run here (D30): pgBackRest 2.45 accepts `--set` for it but ignores it, reading back every
 * set of the stanza and its whole WAL archive (the same report, and time, with and without it),
 * a cost that grows with every snapshot kept.
 */
export async function verifyBackup(e: LocalEngine, stanza: string, label: string, o: RunOptions = {}): Promise<BackupSetInfo> {
  const signal = o.signal ? { signal: o.signal } : {};
  const set = (await backupSets(e, stanza, signal)).find((s) => s.label === label);
  if (!set) throw new AppError('VERIFY_FAILED', { args: [`backup set ${label} is not in the repository catalog`] });
  if (set.error) throw new AppError('VERIFY_FAILED', { args: [`pgBackRest marked backup set ${label} as having errors`] });
  const missing = await e.backrest.missingWal(stanza, set.walStart, set.walStop, signal);
  if (missing.length)
    throw new AppError('VERIFY_FAILED', {
      args: [
        `WAL segment${missing.length > 1 ? 's' : ''} ${missing.join(', ')} needed by backup ${label} ${missing.length > 1 ? 'are' : 'is'} not in the archive`,
      ],
    });
  return set;
}

/**
 * Expire one set (and the WAL only it needed). pgBackRest refuses to expire a stanza's only
 * full backup: then the set is kept, with pgBackRest's reason.
 */
export async function expireBackup(
  e: LocalEngine,
  stanza: string,
  label: string,
  o: RunOptions = {},
): Promise<{ expired: boolean; reason: string | null }> {
  try {
    await e.backrest.run(targetOf(e, stanza), 'expire', {
      extra: [`--set=${label}`],
      lockFile: o.lockFile,
      ...(o.signal ? { signal: o.signal } : {}),
      timeoutMs: 600_000,
    });
    return { expired: true, reason: null };
  } catch (err) {
    const message = (err as Error).message;
    if (/only|last|cannot be expired|retention/i.test(message)) return { expired: false, reason: message };
    throw err;
  }
}
