/**
 * Restores from a snapshot (design D4): `pgbackrest restore --set=<label> --type=immediate
 * --target-action=promote --archive-mode=off` into a new, empty data directory, with
 * figures measured from the tool (`restore file … (67.0MB, 26.60%)` detail lines, and the
 * bytes on disk). The copy's node settings are rewritten before its first start; during
 * recovery `restore_command` reads WAL from the source stanza (read-only) and nothing is
 * archived, so the source's repository is never written.
 */
import { existsSync } from 'node:fs';
import { readFileSafe, removeTree, serviceOwner, writeFileSafe } from './safe-fs.js';
import { join } from 'node:path';
import { AppError } from '../errors/app-error.js';
import type { OsUser } from './os-user.js';
import type { OnProgress } from './local-engine.js';
import { dirSize, mkdirOwned, writeOwned, type PgInstance } from './pg-instance.js';
import { whilePolling } from './pg-exec.js';
import { parseFileLine, type PgBackRest } from './pgbackrest.js';

export interface RestoreSetOptions {
  /** the source stanza and its config file */
  source: { stanza: string; configFile: string };
  label: string;
  dataDir: string;
  /** bytes the snapshot's database had (its total), for progress */
  totalBytes: number | null;
  /** the OS user that owns the copy (its project's, D32) */
  os: OsUser;
  /** restore only this database (a temporary instance, D4) */
  dbInclude?: string;
  lockFile: string;
  signal?: AbortSignal | undefined;
  onProgress?: OnProgress | undefined;
  idleTimeoutMs?: number | undefined;
  /** recover to this point in time (epoch ms) instead of the set's consistent point (issue 20) */
  targetTime?: number | null | undefined;
  /**
   * Restore over the data directory that is there (`--delta`: pgBackRest checks each file and
   * copies only those that differ), as an in-place restore does (issue 20); the directory is
   * never removed, before or after a failure. Without it the directory is made anew.
   */
  delta?: boolean | undefined;
}

/** In the member's directory beside its data directory: the restore finished (a resumed step keeps it). */
export const RESTORE_DONE_MARKER = 'dwsbox-restore.done';

/**
 * A time as recovery_target_time takes it: ISO 8601 with an explicit offset (PostgreSQL 15
 * refuses the value `…Z` in its configuration file: "invalid value for parameter").
 */
export function recoveryTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

/**
 * Restore a backup set into `dataDir` (idempotent: a finished restore is kept; a partial one
 * is removed and started over). Returns the bytes restored.
 */
export async function restoreSet(backrest: PgBackRest, o: RestoreSetOptions): Promise<{ bytes: number }> {
  const marker = join(o.dataDir, '..', RESTORE_DONE_MARKER);
  if (existsSync(marker) && existsSync(join(o.dataDir, 'PG_VERSION'))) {
    return { bytes: Number(readFileSafe(marker) ?? 0) || 0 };
  }
  if (!o.delta) await removeTree(o.dataDir);
  if (!existsSync(o.dataDir)) mkdirOwned(o.dataDir, o.os);
  let restored = 0;
  let percent = 0;
  let lastEmit = 0;
  const emit = (source: string, force = false): void => {
    const now = Date.now();
    if (!force && now - lastEmit < 200) return;
    lastEmit = now;
    const onDisk = dirSize(o.dataDir);
    const total = o.totalBytes ?? (percent > 0 ? Math.round((restored * 100) / percent) : null);
    o.onProgress?.({
      source,
      bytesDone: restored,
      bytesTotal: total,
      percent: Math.min(99.99, percent),
      data: { consumedBytes: onDisk, restoredBytes: restored, label: o.label },
    });
  };
  // An offline set (an in-place restore's safety snapshot, `--no-online`) starts at a shutdown
  // checkpoint with nothing to replay: `immediate` would never be reached ("recovery ended
  // before configured recovery target was reached"), so it recovers to the end of its own WAL.
  const offline =
    o.targetTime === null || o.targetTime === undefined
      ? (await backrest.info(o.source, o.signal ? { signal: o.signal } : {})).sets.find((x) => x.label === o.label)?.walStart === null
      : false;
  const extra = [
    `--set=${o.label}`,
    // Recovery to a time stops at the first commit past it (recovery_target_inclusive: one at
    // the time itself stays) and promotes; pgBackRest's set is the start, never a later one.
    // To the set's consistent point on the set's own timeline: PostgreSQL's default target
    // timeline is the newest in the archive, and a set from a timeline the cluster has since
    // left (an in-place restore branched off it) is not on that one's history.
    ...(o.targetTime !== null && o.targetTime !== undefined
      ? ['--type=time', `--target=${recoveryTime(o.targetTime)}`]
      : offline
        ? ['--type=default', '--target-timeline=current']
        : ['--type=immediate', '--recovery-option=recovery_target_timeline=current']),
    // (to the end of the WAL, recovery ends in a promotion by itself)
    ...(offline ? [] : ['--target-action=promote']),
    '--archive-mode=off',
    `--pg1-path=${o.dataDir}`,
    '--log-level-console=detail',
    ...(o.dbInclude ? [`--db-include=${o.dbInclude}`] : []),
    ...(o.delta ? ['--delta'] : []),
  ];
  const tool = backrest.start(o.source, 'restore', {
    extra,
    lockFile: o.lockFile,
    signal: o.signal,
    timeoutMs: 24 * 3600_000,
    idleTimeoutMs: o.idleTimeoutMs ?? 10 * 60_000,
    waitingFor: 'pgBackRest to restore the next file',
    onLine: (line) => {
      const f = parseFileLine(line);
      if (!f) return;
      restored += f.bytes;
      percent = f.percent;
      emit('pgbackrest restore (detail log)');
    },
  });
  // A sign of life for the idle timeout: the data directory growing (only a change counts).
  let lastSize = -1;
  const tick = (): void => {
    const size = dirSize(o.dataDir);
    if (size !== lastSize) {
      lastSize = size;
      tool.touch();
    }
    emit('pgbackrest restore (data directory)', true);
  };
  try {
    await whilePolling(tool.done, 500, tick);
  } catch (e) {
    if (!o.delta) await removeTree(o.dataDir);
    throw e;
  }
  const bytes = restored;
  o.onProgress?.({
    source: 'pgbackrest restore',
    bytesDone: bytes,
    bytesTotal: o.totalBytes ?? bytes,
    percent: 100,
    data: { consumedBytes: dirSize(o.dataDir), label: o.label },
  });
  writeFileSafe(marker, String(bytes), serviceOwner(), 0o644);
  return { bytes };
}

/**
 * D32: a restored copy's postgresql.auto.conf is the snapshot's — what ALTER SYSTEM set at its
 * time, a tenant superuser's before D32 among it (archive_command, shared_preload_libraries,
 * ssl_passphrase_command, …) — and PostgreSQL reads it after dwsbox's own settings. Before the
 * copy's first start only the recovery settings pgBackRest's restore wrote stay
 * (restore_command, recovery_target*; comments too), so nothing the snapshot's ALTER SYSTEM set
 * applies, not even once (the clean-up's `ALTER SYSTEM RESET ALL` comes after the first start).
 * archive_mode goes too: pgBackRest's `off` would override the copy's own setting.
 */
export function keepOnlyRecoverySettings(dataDir: string, os: OsUser): void {
  const f = join(dataDir, 'postgresql.auto.conf');
  if (!existsSync(f)) return;
  const lines = (readFileSafe(f) ?? '').split('\n');
  const kept = lines.filter((l) => /^\s*(#.*)?$/.test(l) || /^\s*(restore_command|recovery_target(_\w+)?)\s*=/.test(l));
  if (kept.length !== lines.length) writeOwned(f, kept.join('\n'), os, 0o600);
}

/**
 * Settings pgBackRest wrote into postgresql.auto.conf for recovery (restore_command,
 * archive_mode) are dropped once the copy is promoted, so the cluster's own settings rule.
 */
export function clearRecoverySettings(dataDir: string, os: OsUser): void {
  const f = join(dataDir, 'postgresql.auto.conf');
  if (!existsSync(f)) return;
  const kept = (readFileSafe(f) ?? '').split('\n').filter((l) => !/^\s*(restore_command|archive_mode|recovery_target\w*)\s*=/.test(l));
  writeOwned(f, kept.join('\n'), os, 0o600);
}

/** Wait until a restored copy has replayed to its consistent point and been promoted. */
export async function waitPromoted(
  inst: PgInstance,
  o: { timeoutMs?: number; signal?: AbortSignal; onProgress?: OnProgress } = {},
): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? 30 * 60_000);
  let last = '';
  for (;;) {
    if (o.signal?.aborted) throw o.signal.reason as Error;
    try {
      const r = await inst.query<{ rec: boolean; lsn: string | null; at: number | null }>(
        `select pg_is_in_recovery() as rec, coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn())::text as lsn,
                extract(epoch from pg_last_xact_replay_timestamp()) * 1000 as at`,
        [],
        'postgres',
        5000,
      );
      const row = r[0]!;
      if (row.lsn && row.lsn !== last) {
        last = row.lsn;
        // `replayTime`: the commit time of the last transaction replayed (null before the first).
        const replayTime = row.at === null ? null : Number(row.at);
        o.onProgress?.({ source: 'pg_last_wal_replay_lsn', data: { replayLsn: row.lsn, inRecovery: row.rec, replayTime } });
      }
      if (!row.rec) return;
    } catch (e) {
      // A copy that stopped (a recovery error, a kill) never gets promoted: fail now, with its log.
      if (!inst.status())
        throw new AppError('ENGINE_NODE_FAILED', {
          args: [inst.spec.host || `temporary instance ${inst.dataDir}`, `PostgreSQL exited during recovery: ${inst.logTail(5)}`],
        });
      if (!/starting up|not yet accepting|ECONNREFUSED|ENOENT|recovery/.test((e as Error).message)) throw e;
    }
    if (Date.now() > deadline)
      throw new AppError('STEP_TIMEOUT', {
        args: [
          'recovery',
          Math.round((o.timeoutMs ?? 1_800_000) / 1000),
          `the restored copy to reach its consistent point and be promoted (last replayed ${last || 'nothing'}; log: ${inst.logTail(3)})`,
        ],
      });
    await new Promise((r) => setTimeout(r, 100));
  }
}
