/**
 * A snapshot's backup: `pgbackrest backup` with live figures measured from the tool while it
 * runs (design D14, postgres-ops §4):
 * - backupSize / compressRate: source bytes of the files pgBackRest reports finished
 *   (`backup file … (224KB, 13.83%)` detail lines), with its own running percent;
 * - producerRate: bytes its worker processes have read (/proc/<pid>/io rchar);
 * - consumerRate: bytes written into the new backup set's directory in the repository: its
 *   size on disk for a local repository; for an object store, which has no directory to
 *   measure, the bytes pgBackRest's processes have written (/proc/<pid>/io wchar of the tool
 *   and every process under it: what they sent to the store over TLS, HTTP framing included).
 * The final sample is pgBackRest's own figure for the finished set (`info`).
 */
import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import { removeTree } from './safe-fs.js';
import { join } from 'node:path';
import { AppError } from '../errors/app-error.js';
import type { ProgressSampleIn } from './local-engine.js';
import { connectSuperuser, dirSize } from './pg-instance.js';
import { childProcesses, processTree } from './process-info.js';
import { whilePolling } from './pg-exec.js';
import { parseFileLine, type BackupSetInfo, type PgBackRest, type StanzaTarget } from './pgbackrest.js';
import { findAnnotated } from './data-plane.js';

export interface BackupProgress extends ProgressSampleIn {
  consumedBytes: number | null;
  compressedBytes: number | null;
}

export interface BackupOptions {
  type: 'full' | 'diff';
  /** every WAL segment the set needs copied into it (`--archive-copy`): a set that restores with no archive (a snapshot copy) */
  archiveCopy?: boolean;
  /** of a stopped cluster (`--no-online`): no checkpoint asked for, the data directory taken as it is */
  offline?: boolean;
  annotation: Record<string, string>;
  lockFile: string;
  signal?: AbortSignal | undefined;
  onProgress?: (p: BackupProgress) => void;
  /** how long the backup may show no progress before it is stopped */
  idleTimeoutMs?: number | undefined;
}

function readChars(pid: number, field: 'rchar' | 'wchar' = 'rchar'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Labels of backup set directories under a stanza's backup directory (a local repository). */
export function setDirs(backrest: PgBackRest, stanza: string): string[] {
  return listDir(backrest.backupDir(stanza)).filter((n) => /^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$/.test(n));
}

/**
 * Remove backup set directories that pgBackRest's own catalog does not list: what a failed
 * or killed backup left behind. Sets listed by `info` are never touched.
 */
export async function removePartialSets(backrest: PgBackRest, t: StanzaTarget, signal?: AbortSignal): Promise<string[]> {
  // pgBackRest 2.45 has no command that removes a file from an object store: there a failed
  // backup's leftover stays until the stanza's next backup, which (run with --no-resume)
  // removes the partial backup it finds.
  if (backrest.isRemote(t.stanza)) return [];
  const listed = new Set((await backrest.info(t, signal ? { signal } : {})).sets.map((s) => s.label));
  const removed: string[] = [];
  for (const d of setDirs(backrest, t.stanza)) {
    if (listed.has(d)) continue;
    await removeTree(join(backrest.backupDir(t.stanza), d));
    removed.push(d);
  }
  return removed;
}

/**
 * A member promoted moments ago (a failover, D23) writes its first checkpoint on the new
 * timeline in the background; until it ends, pg_control still names the old timeline, and
 * pgBackRest, which reads pg_control before it starts the backup, refuses it ("WAL timeline 2
 * does not match pg_control timeline 1"). So the member that writes (whichever of the
 * stanza's members it is now) is asked for a checkpoint first when the two differ.
 */
async function checkpointNewTimeline(t: StanzaTarget, signal?: AbortSignal): Promise<void> {
  for (const m of [{ socket: t.pgSocket }, ...(t.otherMembers ?? [])]) {
    signal?.throwIfAborted();
    const c = await connectSuperuser({ os: t.os, sockDir: m.socket, port: t.pgPort }, 'postgres', 60_000).catch(() => null);
    if (!c) continue; // a member that is down is not the one that writes
    try {
      const [row] = (
        await c.query<{ recovery: boolean; stale: boolean | null }>(
          `SELECT pg_is_in_recovery() AS recovery,
                  CASE WHEN NOT pg_is_in_recovery() THEN
                    (SELECT timeline_id FROM pg_control_checkpoint())
                      <> ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
                  END AS stale`,
        )
      ).rows;
      if (row?.recovery) continue;
      if (row?.stale) await c.query('CHECKPOINT');
      return;
    } finally {
      await c.end().catch(() => {});
    }
  }
}

export async function runBackup(backrest: PgBackRest, t: StanzaTarget, o: BackupOptions): Promise<BackupSetInfo> {
  if (!o.offline) await checkpointNewTimeline(t, o.signal);
  const remote = backrest.isRemote(t.stanza);
  const before = new Set(remote ? [] : setDirs(backrest, t.stanza));
  let finishedBytes = 0;
  let percent = 0;
  let label: string | null = null;
  let lastEmit = 0;
  let consumed: number | null = null;
  let produced: number | null = null;
  const emit = (source: string, force = false): void => {
    const now = Date.now();
    if (!force && now - lastEmit < 200) return;
    lastEmit = now;
    const total = percent > 0 ? Math.round((finishedBytes * 100) / percent) : null;
    o.onProgress?.({
      source,
      bytesDone: finishedBytes,
      bytesTotal: total,
      percent: Math.min(99.99, percent),
      consumedBytes: consumed,
      compressedBytes: finishedBytes,
      data: { producedBytes: produced, repoBytes: consumed, label },
    });
  };
  const extra = [
    `--type=${o.type}`,
    '--log-level-console=detail',
    '--no-resume',
    ...(o.archiveCopy ? ['--archive-copy'] : []),
    // A stopped cluster (pg1 of the stanza's configuration): consistent as it is, its pg_wal goes into the set.
    ...(o.offline ? ['--no-online'] : []),
    ...Object.entries(o.annotation).map(([k, v]) => `--annotation=${k}=${v}`),
  ];
  const tool = backrest.start(t, 'backup', {
    extra,
    lockFile: o.lockFile,
    signal: o.signal,
    timeoutMs: 24 * 3600_000,
    idleTimeoutMs: o.idleTimeoutMs ?? 10 * 60_000,
    waitingFor: 'pgBackRest to copy the next file',
    onLine: (line) => {
      const f = parseFileLine(line);
      if (f) {
        finishedBytes += f.bytes;
        percent = f.percent;
        emit('pgbackrest backup (detail log)');
        return;
      }
      const m = /new backup label = (\S+)/.exec(line);
      if (m) label = m[1]!;
    },
  });
  // Signs of life for the idle timeout: bytes written into the set, bytes read by pgBackRest
  // (its workers and itself). Only a change counts: a pgBackRest that stalls is stopped.
  let lastSign = '';
  // wchar only grows while a process lives: the highest sum seen is kept, so the figure
  // never falls when a worker exits.
  const written = new Map<number, number>();
  const tick = (): void => {
    if (remote) {
      if (tool.pid !== undefined)
        for (const p of processTree(tool.pid)) written.set(p, Math.max(written.get(p) ?? 0, readChars(p, 'wchar')));
      if (written.size) consumed = [...written.values()].reduce((a, b) => a + b, 0);
    } else {
      const fresh = setDirs(backrest, t.stanza).find((d) => !before.has(d));
      if (fresh) {
        consumed = dirSize(join(backrest.backupDir(t.stanza), fresh));
        label ??= fresh;
      }
    }
    let main = 0;
    if (tool.pid !== undefined) {
      const kids = childProcesses(tool.pid);
      if (kids.length) produced = kids.reduce((a, p) => a + readChars(p), 0);
      main = readChars(tool.pid);
    }
    const sign = `${consumed}:${produced}:${main}`;
    if (sign !== lastSign) {
      lastSign = sign;
      tool.touch();
    }
    emit('pgbackrest backup (repository and /proc)', true);
  };
  try {
    await whilePolling(tool.done, 500, tick);
  } catch (e) {
    // Read before the partial files go: a repository that filled up is DISK_FULL, whatever
    // pgBackRest says (2.45 reports a short write on a full disk with a stale errno, e.g.
    // "unable to write '…': [2] No such file or directory").
    const full = remote ? null : fullFilesystem(backrest.backupDir(t.stanza));
    // Partial files of this backup go; every earlier set stays untouched.
    await removePartialSets(backrest, t).catch(() => []);
    if (full) {
      // The same words whether pgBackRest named the full disk itself (errno 28) or not.
      const toolSaid = (e as Error).message.replace(/^No space left on device: /, '');
      throw new AppError('DISK_FULL', {
        args: [`the backup repository's filesystem (${full.path}) filled up: ${full.freeMb} MB free of ${full.totalMb} MB; ${toolSaid}`],
        cause: e,
        details: { freeBytes: full.freeBytes },
      });
    }
    throw e;
  }
  const sets = (await backrest.info(t)).sets;
  const set = (label ? sets.find((s) => s.label === label) : undefined) ?? findAnnotated(sets, o.annotation);
  if (!set)
    throw new AppError('VERIFY_FAILED', {
      args: [`pgBackRest reported success but lists no backup set for ${JSON.stringify(o.annotation)}`],
    });
  o.onProgress?.({
    source: 'pgbackrest info',
    bytesDone: set.copiedBytes,
    bytesTotal: set.copiedBytes,
    percent: 100,
    consumedBytes: set.repoOwnBytes,
    compressedBytes: set.copiedBytes,
    data: { label: set.label, repoBytes: set.repoOwnBytes, databaseBytes: set.databaseSize },
  });
  return set;
}

/**
 * The filesystem holding `path`, when it is full for an unprivileged writer (less than 1 MiB
 * or 0.1% of it left), else null.
 */
export function fullFilesystem(path: string): { path: string; freeBytes: number; freeMb: string; totalMb: string } | null {
  try {
    const st = statfsSync(path);
    const free = st.bavail * st.bsize;
    const total = st.blocks * st.bsize;
    if (free >= Math.max(1024 * 1024, total / 1000)) return null;
    return { path, freeBytes: free, freeMb: (free / 1e6).toFixed(1), totalMb: (total / 1e6).toFixed(1) };
  } catch {
    return null;
  }
}
