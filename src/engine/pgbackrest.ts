/**
 * pgBackRest 2.45: one stanza per cluster, repository under the data directory by default
 * (design D2, D3). Every call runs as postgres with TZ=UTC (labels use local time) and, when
 * it belongs to a cluster's step, under the cluster's lock file.
 */
import { existsSync, readdirSync } from 'node:fs';
import { AppError } from '../errors/app-error.js';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { Binaries } from './binaries.js';
import { mkdirOwned, writeOwned } from './pg-instance.js';
import { baseEnv, runTool, startTool, type ToolHandle, type ToolResult } from './pg-exec.js';

export interface StanzaTarget {
  stanza: string;
  /** the config file of this stanza */
  configFile: string;
  pgPath: string;
  pgPort: number;
  pgSocket: string;
}

export interface RepoSettings {
  repoPath: string;
  logPath: string;
  lockPath: string;
  spoolPath: string;
}

/** One pgBackRest backup set as `info --output=json` describes it. */
export interface BackupSetInfo {
  label: string;
  type: 'full' | 'diff' | 'incr';
  prior: string | null;
  reference: string[];
  annotation: Record<string, string>;
  /** bytes of the database at backup time */
  databaseSize: number;
  /** bytes this backup itself added to the repository */
  repoOwnBytes: number;
  /** bytes in the repository needed to restore this set (with the sets it references) */
  repoSetBytes: number;
  /** bytes of database files this backup copied (all for a full, the changed ones for a diff) */
  copiedBytes: number;
  startTime: number;
  stopTime: number;
  lsnStart: string;
  lsnStop: string;
  walStart: string;
  walStop: string;
  error: boolean;
}

export interface RunOptions {
  extra?: string[];
  lockFile?: string | undefined;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
  onLine?: (l: string, s: 'stdout' | 'stderr') => void;
  idleTimeoutMs?: number;
  waitingFor?: string;
}

/**
 * pgBackRest takes its own stanza lock; a second backup or an expire of the same stanza at
 * the same moment fails with "unable to acquire lock" (error 050), which is worth a retry.
 */
function classify(e: unknown): unknown {
  if (e instanceof AppError && e.code === 'ENGINE_COMMAND_FAILED' && /unable to acquire lock|\[050\]/.test(e.message)) {
    return new AppError('ENGINE_COMMAND_FAILED', { message: e.message, retryable: true, details: e.details ?? {} });
  }
  if (e instanceof AppError && e.code === 'ENGINE_COMMAND_FAILED' && /No space left on device|\[ENOSPC\]|errno 28/i.test(e.message)) {
    return new AppError('DISK_FULL', { args: [e.message], details: e.details ?? {} });
  }
  return e;
}

/** `224KB` → bytes (pgBackRest formats sizes in powers of 1024). */
export function parseSize(n: string, unit: string): number {
  const mult: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
  return Math.round(Number(n) * (mult[unit] ?? 1));
}

/** A `backup file …` or `restore file …` detail line: the file's size and the running percent. */
export function parseFileLine(line: string): { bytes: number; percent: number } | null {
  const m = /(?:backup|restore) file .* \((\d+(?:\.\d+)?)(B|KB|MB|GB|TB), (\d+(?:\.\d+)?)%\)/.exec(line);
  if (!m) return null;
  return { bytes: parseSize(m[1]!, m[2]!), percent: Number(m[3]) };
}

export class PgBackRest {
  constructor(
    private readonly bins: Binaries,
    readonly repo: RepoSettings,
    private readonly log: Logger,
  ) {}

  ensureRepoDirs(): void {
    for (const d of [this.repo.repoPath, this.repo.logPath, this.repo.lockPath, this.repo.spoolPath]) mkdirOwned(d, 0o750);
  }

  /** Write a stanza's config file (idempotent). */
  writeConfig(t: StanzaTarget, extraGlobal: Record<string, string> = {}): void {
    const global: Record<string, string> = {
      'repo1-path': this.repo.repoPath,
      // dwsbox alone decides retention (D2); this value also silences pgBackRest's warning.
      'repo1-retention-full': '9999999',
      'expire-auto': 'n',
      'log-path': this.repo.logPath,
      'lock-path': this.repo.lockPath,
      'spool-path': this.repo.spoolPath,
      'start-fast': 'y',
      'compress-type': 'zst',
      'compress-level': '3',
      'process-max': '2',
      'log-level-file': 'off',
      'log-level-console': 'warn',
      'log-level-stderr': 'error',
      'archive-timeout': '60',
      ...extraGlobal,
    };
    const lines = ['# written by dwsbox', '[global]', ...Object.entries(global).map(([k, v]) => `${k}=${v}`), '', `[${t.stanza}]`,
      `pg1-path=${t.pgPath}`, `pg1-port=${t.pgPort}`, `pg1-socket-path=${t.pgSocket}`, 'pg1-user=postgres', ''];
    writeOwned(t.configFile, lines.join('\n'), 0o640);
  }

  /** `archive_command` for a stanza's primary. */
  archiveCommand(t: StanzaTarget): string {
    return `${this.bins.pgbackrest} --config=${t.configFile} --stanza=${t.stanza} archive-push %p`;
  }

  /** `restore_command` reading WAL from a stanza (read-only, D4). */
  restoreCommand(t: Pick<StanzaTarget, 'configFile' | 'stanza'>): string {
    return `${this.bins.pgbackrest} --config=${t.configFile} --stanza=${t.stanza} archive-get %f "%p"`;
  }

  private args(t: Pick<StanzaTarget, 'configFile' | 'stanza'>, command: string, extra: string[] = []): string[] {
    return [`--config=${t.configFile}`, `--stanza=${t.stanza}`, ...extra, command];
  }

  run(t: Pick<StanzaTarget, 'configFile' | 'stanza'>, command: string, o: RunOptions = {}): Promise<ToolResult> {
    return this.start(t, command, o).done;
  }

  /** Start a command; its `done` rejects with the classified error (DISK_FULL, a retryable lock conflict, …), like `run`. */
  start(t: Pick<StanzaTarget, 'configFile' | 'stanza'>, command: string, o: RunOptions = {}): ToolHandle {
    const h = this.startRaw(t, command, o);
    const done = h.done.catch((e: unknown) => {
      throw classify(e);
    });
    return { get pid() { return h.pid; }, touch: h.touch, done };
  }

  private startRaw(t: Pick<StanzaTarget, 'configFile' | 'stanza'>, command: string, o: RunOptions): ToolHandle {
    return startTool({
      cmd: this.bins.pgbackrest, args: this.args(t, command, o.extra ?? []), asPostgres: true, env: baseEnv(), logger: this.log,
      label: `pgbackrest ${command}`, timeoutMs: o.timeoutMs ?? 10 * 60_000,
      ...(o.lockFile ? { lockFile: o.lockFile } : {}), ...(o.signal ? { signal: o.signal } : {}), ...(o.onLine ? { onLine: o.onLine } : {}),
      ...(o.idleTimeoutMs ? { idleTimeoutMs: o.idleTimeoutMs } : {}), ...(o.waitingFor ? { waitingFor: o.waitingFor } : {}),
    });
  }

  /** `stanza-create` is itself idempotent for an existing, matching stanza. */
  async stanzaCreate(t: StanzaTarget, o: { lockFile?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.run(t, 'stanza-create', { ...o, timeoutMs: 120_000 });
  }

  /** `check`: the archive works (a WAL switch reaches the repository). */
  async check(t: StanzaTarget, o: { lockFile?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.run(t, 'check', { ...o, timeoutMs: 180_000 });
  }

  /** The stanza's backup sets, oldest first. */
  async info(t: Pick<StanzaTarget, 'configFile' | 'stanza'>, o: { signal?: AbortSignal } = {}): Promise<{ sets: BackupSetInfo[]; status: { code: number; message: string }; lockHeld: boolean }> {
    const r = await this.run(t, 'info', { extra: ['--output=json'], signal: o.signal, timeoutMs: 60_000 });
    const parsed = JSON.parse(r.stdout) as Array<{ name: string; backup?: RawBackup[]; status?: { code: number; message: string; lock?: { backup?: { held?: boolean } } } }>;
    const st = parsed.find((s) => s.name === t.stanza);
    const sets = (st?.backup ?? []).map(toSetInfo);
    return { sets, status: { code: st?.status?.code ?? -1, message: st?.status?.message ?? 'missing' }, lockHeld: !!st?.status?.lock?.backup?.held };
  }

  /** Repository directory of a stanza's backups. */
  backupDir(stanza: string): string {
    return join(this.repo.repoPath, 'backup', stanza);
  }
  archiveDir(stanza: string): string {
    return join(this.repo.repoPath, 'archive', stanza);
  }
  /** Is a WAL segment in the stanza's archive (`archive/<stanza>/<db-id>/<first 16>/<segment>-<sha1>[.zst]`)? */
  isArchived(stanza: string, segment: string): boolean {
    const base = this.archiveDir(stanza);
    if (!existsSync(base)) return false;
    for (const dbv of readdirSync(base)) {
      const dir = join(base, dbv, segment.slice(0, 16));
      if (existsSync(dir) && readdirSync(dir).some((f) => f.startsWith(segment))) return true;
    }
    return false;
  }

  stanzaExists(stanza: string): boolean {
    return existsSync(join(this.backupDir(stanza), 'backup.info'));
  }
}

interface RawBackup {
  label: string;
  type: 'full' | 'diff' | 'incr';
  prior: string | null;
  reference: string[] | null;
  annotation?: Record<string, string>;
  error?: boolean;
  info: { size: number; delta: number; repository: { size: number; delta: number } };
  lsn: { start: string; stop: string };
  archive: { start: string; stop: string };
  timestamp: { start: number; stop: number };
}

function toSetInfo(b: RawBackup): BackupSetInfo {
  return {
    label: b.label, type: b.type, prior: b.prior, reference: b.reference ?? [], annotation: b.annotation ?? {},
    databaseSize: b.info.size, repoOwnBytes: b.info.repository.delta, repoSetBytes: b.info.repository.size, copiedBytes: b.info.delta,
    startTime: b.timestamp.start * 1000, stopTime: b.timestamp.stop * 1000, lsnStart: b.lsn.start, lsnStop: b.lsn.stop,
    walStart: b.archive.start, walStop: b.archive.stop, error: b.error ?? false,
  };
}
