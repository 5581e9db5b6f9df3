/* About 400 lines: the one module that starts processes (tools, postmasters, lock holders), on purpose in one place (test/fuzz/no-shell.test.ts). */
/**
 * The ONLY module that starts processes. Never through a shell: every argument is passed as
 * an argv element.
 *
 * Two kinds of process (design D1):
 * - short-lived tools (initdb, pg_basebackup, pgbackrest, pg_dump, …) run as
 *   `setpriv [--reuid=postgres …] --pdeathsig=KILL -- [flock --no-fork <lock>] tool …`, so they
 *   die with the service and, while they run, hold the cluster's lock file. The death signal
 *   reaches only that process, not what it forks (pg_basebackup's WAL streamer, pgBackRest's
 *   workers, initdb's bootstrap backend), and a forked child keeps the lock descriptor: so when
 *   it can (root), each tool runs in a PID namespace of its own
 *   (`setpriv --pdeathsig=KILL -- unshare --pid --fork --kill-child=KILL -- setpriv … tool`),
 *   and the whole tree dies with the service;
 * - postmasters are started detached, output to a log file, and outlive the service.
 *
 * Every tool child is tracked in `liveTools` until it exits; `killAllTools` ends them at
 * shutdown, and the tests' leak check reads the same registry.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, constants as fsConstants } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import { isRoot, type OsUser } from './os-user.js';
import { isProcessAlive, processStartTime, signalProcess } from './process-info.js';

export { isProcessAlive, processStartTime, signalProcess };

export interface ToolOptions {
  cmd: string;
  args: readonly string[];
  /** explicit environment (never the service's: HOME=/root would leak into pg_basebackup -R, postgres-ops §1) */
  env?: Record<string, string>;
  signal?: AbortSignal;
  /** hard limit for the whole run */
  timeoutMs?: number;
  /** fail when neither stdout nor stderr nor `touch()` shows life for this long */
  idleTimeoutMs?: number;
  /** what the tool waits for, for the idle-timeout message */
  waitingFor?: string;
  logger?: Logger;
  /** hold this lock file (flock) while the tool runs */
  lockFile?: string;
  /** run as this OS user (a project's, D32) when the service is root; ignored otherwise */
  runAs?: OsUser | undefined;
  stdin?: string | Buffer;
  /** called for each line (stderr lines also split on \r, for progress output) */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  cwd?: string;
  /** label in errors and logs; default the command's base name */
  label?: string;
  /** keep at most this many bytes of stdout in the result (default 64 MiB) */
  maxStdoutBytes?: number;
  /**
   * false: not in a PID namespace of its own (the death signal still applies). For the account
   * tools (useradd, groupadd, userdel, groupdel): they write their PID into /etc/passwd.lock and
   * the like, and as PID 1 of a namespace a killed one left a lock naming PID 1, which every
   * later account change on the host took for a live one.
   */
  pidNamespace?: boolean;
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface ToolHandle {
  pid: number | undefined;
  /** mark activity for the idle timeout (e.g. progress seen by polling the server) */
  touch(): void;
  done: Promise<ToolResult>;
}

const liveTools = new Set<ChildProcess>();

/** Tool processes this service started that are still running. */
export function liveToolPids(): number[] {
  return [...liveTools].map((c) => c.pid).filter((p): p is number => p !== undefined);
}

/** SIGKILL every tool still running (shutdown; they are idempotent steps and will be re-run). */
export function killAllTools(): void {
  for (const c of liveTools) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    // A project's user has no home (D32); libpq then finds no ~/.pgpass or ~/.postgresql of anyone's.
    HOME: isRoot() ? '/nonexistent' : (process.env['HOME'] ?? '/tmp'),
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
    ...extra,
  };
}

let isolation: boolean | undefined;
/** Can a tool get a PID namespace of its own (root with CAP_SYS_ADMIN; not in every container)? Probed once. */
function canIsolateTools(): boolean {
  isolation ??=
    process.getuid?.() === 0 &&
    spawnSync('unshare', ['--pid', '--fork', '--kill-child=KILL', '--', 'true'], { stdio: 'ignore', timeout: 10_000, env: baseEnv() })
      .status === 0;
  return isolation;
}

function wrapArgv(o: {
  cmd: string;
  args: readonly string[];
  lockFile?: string | undefined;
  runAs?: OsUser | undefined;
  deathSignal: boolean;
  pidNamespace?: boolean | undefined;
}): [string, string[]] {
  const argv: string[] = [];
  // The service dies → unshare dies (death signal) → the namespace's first process dies
  // (--kill-child) → the kernel kills every process left in the namespace, forks included.
  // The inner setpriv sets the death signal again: changing the uid clears it.
  if (o.deathSignal && o.pidNamespace !== false && canIsolateTools())
    argv.push('--pdeathsig=KILL', '--', 'unshare', '--pid', '--fork', '--kill-child=KILL', '--', 'setpriv');
  // D32: the project's uid and gid and no supplementary groups (no passwd lookup needed).
  if (o.runAs && isRoot()) argv.push(`--reuid=${o.runAs.uid}`, `--regid=${o.runAs.gid}`, '--clear-groups');
  if (o.deathSignal) argv.push('--pdeathsig=KILL');
  argv.push('--');
  // The lock reaches the tool only as its inherited descriptor 3 (D32): flock re-opens that
  // descriptor's file through /proc, never a path a tenant could have replaced.
  if (o.lockFile) argv.push('flock', '--no-fork', '/proc/self/fd/3');
  argv.push(o.cmd, ...o.args);
  return ['setpriv', argv];
}

function tail(s: string, lines = 12): string {
  return s
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-lines)
    .join('\n');
}

/**
 * Checks made before any process is started for work under a signal (D1). The task runner
 * registers one per step: it aborts the step's signal once the step's lease can no longer be
 * counted on (not renewed for its length). A service that was paused (SIGSTOP) past its lease
 * and resumes runs the I/O callbacks that waited (a tool's exit, say) before its timers, so
 * before it has heard from the store; this check is what stops it from starting the next tool
 * or postmaster of a task that another process has taken over by then.
 */
const startGuards = new WeakMap<AbortSignal, () => void>();

export function guardProcessStarts(signal: AbortSignal, check: () => void): void {
  startGuards.set(signal, check);
}

/**
 * Throws the signal's reason when the work it belongs to may no longer start processes: before a
 * tool or a postmaster here, and before a unit the host agent starts for the work (Patroni).
 */
export function assertMayStart(signal: AbortSignal | undefined): void {
  if (!signal) return;
  startGuards.get(signal)?.();
  if (signal.aborted)
    throw signal.reason instanceof Error
      ? signal.reason
      : new AppError('TASK_CANCELLED', { args: ['process start', String(signal.reason ?? 'aborted')] });
}

/**
 * The check again, once the process is made: the check and the fork are two moments, and a
 * service paused (SIGSTOP) between them forks at resume. Work that may no longer start
 * processes has its signal aborted now; `true`: the caller kills the child, a moment old,
 * before the program it wraps runs.
 */
function startedTooLate(signal: AbortSignal | undefined): boolean {
  if (!signal) return false;
  startGuards.get(signal)?.();
  return signal.aborted;
}

/** Start a tool; see ToolOptions. The returned `done` rejects with ENGINE_COMMAND_FAILED on a non-zero exit. */
export function startTool(o: ToolOptions): ToolHandle {
  const label = o.label ?? o.cmd.split('/').pop() ?? o.cmd;
  // A lock this process holds is passed down (fd 3); otherwise the tool takes it itself.
  const held = o.lockFile ? heldLocks.get(o.lockFile) : undefined;
  const heldFd = held?.fd;
  // Never started for work that has been aborted or whose lease is gone (a tool without a
  // signal of its own answers to the signal of the step holding its lock).
  assertMayStart(o.signal ?? held?.signal);
  const ownFd = o.lockFile && heldFd === undefined ? openLockFile(o.lockFile) : undefined;
  const [cmd, argv] = wrapArgv({
    cmd: o.cmd,
    args: o.args,
    lockFile: ownFd === undefined ? undefined : o.lockFile,
    runAs: o.runAs,
    deathSignal: true,
    pidNamespace: o.pidNamespace,
  });
  const started = Date.now();
  const lockFd = heldFd ?? ownFd;
  let child: ChildProcess;
  try {
    child = spawn(cmd, argv, {
      env: o.env ?? baseEnv(),
      stdio: lockFd === undefined ? ['pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', lockFd],
      cwd: o.cwd ?? '/',
    });
  } finally {
    if (ownFd !== undefined) closeSync(ownFd);
  }
  liveTools.add(child);
  if (startedTooLate(o.signal ?? held?.signal)) child.kill('SIGKILL');
  o.logger?.debug('tool started', { tool: label, toolPid: child.pid, args: o.args });
  let lastActivity = Date.now();
  const touch = (): void => {
    lastActivity = Date.now();
  };
  const maxOut = o.maxStdoutBytes ?? 64 * 1024 * 1024;
  let stdout = '';
  let stderr = '';
  const lineBuf = { stdout: '', stderr: '' };
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  const feed = (stream: 'stdout' | 'stderr', chunk: Buffer): void => {
    touch();
    const text = decoders[stream].write(chunk);
    if (stream === 'stdout') {
      if (stdout.length < maxOut) stdout += text;
    } else {
      stderr = (stderr + text).slice(-256 * 1024);
    }
    if (!o.onLine) return;
    lineBuf[stream] += text;
    const parts = lineBuf[stream].split(/\r\n|\n|\r/);
    lineBuf[stream] = parts.pop() ?? '';
    for (const line of parts) if (line !== '') o.onLine(line, stream);
  };
  child.stdout!.on('data', (c: Buffer) => feed('stdout', c));
  child.stderr!.on('data', (c: Buffer) => feed('stderr', c));
  child.stdin!.on('error', () => {});
  if (o.stdin !== undefined) child.stdin!.end(o.stdin);
  else child.stdin!.end();

  const done = new Promise<ToolResult>((resolve, reject) => {
    let failure: AppError | null = null;
    const kill = (why: AppError): void => {
      if (failure) return;
      failure = why;
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    };
    const onAbort = (): void => {
      const reason = o.signal?.reason;
      kill(reason instanceof AppError ? reason : new AppError('TASK_CANCELLED', { args: [label, String(reason ?? 'aborted')] }));
    };
    if (o.signal?.aborted) onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setInterval(() => {
      const now = Date.now();
      if (o.timeoutMs && now - started > o.timeoutMs) {
        kill(new AppError('STEP_TIMEOUT', { args: [label, Math.round(o.timeoutMs / 1000), o.waitingFor ?? `${label} to finish`] }));
      } else if (o.idleTimeoutMs && now - lastActivity > o.idleTimeoutMs) {
        kill(new AppError('STEP_TIMEOUT', { args: [label, Math.round(o.idleTimeoutMs / 1000), o.waitingFor ?? `output from ${label}`] }));
      }
    }, 250);
    child.on('error', (e) => {
      failure ??= new AppError('ENGINE_COMMAND_FAILED', { args: [label, `cannot start ${o.cmd}: ${e.message}`], cause: e });
    });
    child.on('close', (code, sig) => {
      liveTools.delete(child);
      clearInterval(timer);
      o.signal?.removeEventListener('abort', onAbort);
      for (const s of ['stdout', 'stderr'] as const) {
        const rest = decoders[s].end();
        if (s === 'stdout') stdout += rest;
        else stderr += rest;
        if (o.onLine && lineBuf[s] + rest !== '') o.onLine(lineBuf[s] + rest, s);
      }
      const durationMs = Date.now() - started;
      o.logger?.debug('tool exited', { tool: label, toolPid: child.pid, code, signal: sig, durationMs });
      if (failure) return reject(failure);
      if (code === 0) return resolve({ code: 0, stdout, stderr, durationMs });
      // What the tool said: its stderr, else its ERROR/WARN lines, else its last lines.
      const said =
        tail(stderr) ||
        tail(
          stdout
            .split('\n')
            .filter((l) => /ERROR|FATAL|WARN/.test(l))
            .join('\n'),
        ) ||
        tail(stdout, 3);
      const msg = sig ? `${label} was killed by ${sig}${said ? `; its last output: ${said}` : ''}` : said || `exit code ${code}`;
      reject(
        new AppError('ENGINE_COMMAND_FAILED', { args: [label, msg], details: { exitCode: code, signal: sig, stderr: tail(stderr, 40) } }),
      );
    });
  });
  return {
    // The tool's own PID: in a PID namespace, the wrapper's only child.
    get pid() {
      return child.pid !== undefined && canIsolateTools() ? (onlyChild(child.pid) ?? child.pid) : child.pid;
    },
    touch,
    done,
  };
}

function onlyChild(pid: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.length === 1 ? Number(kids[0]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Wait for a running tool (its `done`), polling it for progress: `tick` runs every
 * `intervalMs`, one at a time (the next one is scheduled when the last has settled, so slow
 * answers never pile up), and `whilePolling` returns only once no tick runs any more. A tick
 * that awaits something checks `live()` before it reports: an answer that arrives after the
 * tool ended is dropped, so no sample is ever stored after the step's final one. A tick that
 * throws is ignored (the next one tries again).
 */
export async function whilePolling<T>(
  done: Promise<T>,
  intervalMs: number,
  tick: (live: () => boolean) => Promise<void> | void,
): Promise<T> {
  let ended = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();
  const live = (): boolean => !ended;
  const schedule = (): void => {
    timer = setTimeout(() => {
      timer = null;
      if (ended) return;
      running = (async () => {
        try {
          await tick(live);
        } catch {
          /* a failed poll is retried at the next tick */
        }
      })().finally(() => {
        if (!ended) schedule();
      });
    }, intervalMs);
  };
  schedule();
  try {
    return await done;
  } finally {
    ended = true;
    if (timer) clearTimeout(timer);
    await running;
  }
}

/** Run a tool to completion. */
export async function runTool(o: ToolOptions): Promise<ToolResult> {
  return startTool(o).done;
}

/**
 * Start a long-lived server (a postmaster) detached from the service: its own session, its
 * output appended to `logFile`, no death signal, so it keeps running when the service stops
 * or crashes (D1). Returns its PID (setpriv execs in place, so it is the postmaster's).
 */
export function spawnDetached(o: {
  cmd: string;
  args: readonly string[];
  env: Record<string, string>;
  logFile: string;
  /** the OS user it runs as; null: as this process (the host agent, started by the service) */
  runAs: OsUser | null;
  signal?: AbortSignal | undefined;
  /** its working directory; default `/` */
  cwd?: string;
  /** told how the process ended, if it ends while this process lives (the host agent's supervisor) */
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}): number {
  assertMayStart(o.signal);
  const [cmd, argv] = wrapArgv({ cmd: o.cmd, args: o.args, runAs: o.runAs ?? undefined, deathSignal: false });
  // Root opens the log (never through a planted link) and the postmaster inherits the descriptor.
  const fd = openSync(o.logFile, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW, 0o640);
  try {
    const child = spawn(cmd, argv, { env: o.env, detached: true, stdio: ['ignore', fd, fd], cwd: o.cwd ?? '/' });
    if (child.pid === undefined) throw new AppError('ENGINE_COMMAND_FAILED', { args: [o.cmd, 'could not start the process'] });
    if (startedTooLate(o.signal)) {
      child.kill('SIGKILL');
      assertMayStart(o.signal);
    }
    // Reap it if it exits while we live; never keep the event loop alive for it.
    child.on('error', () => {});
    if (o.onExit) child.on('exit', o.onExit);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/**
 * Open a lock file for flock: created when missing, never through a link. Root-owned and
 * readable (0644), in a directory only root can reach: a tool gets it as descriptor 3.
 */
function openLockFile(lockFile: string): number {
  try {
    return openSync(lockFile, fsConstants.O_RDONLY | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP')
      throw new AppError('UNSAFE_PATH', { args: [lockFile, 'the lock file is a symbolic link'] });
    throw e;
  }
}

/** Lock files this process holds, each through one open file description (its fd), with the signal of the work holding it. */
const heldLocks = new Map<string, { fd: number; signal: AbortSignal | undefined }>();

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Take a lock file (design D1), held through an open file description of this process:
 * `setpriv --pdeathsig=KILL -- flock -w <secs> 3` locks the description passed as its fd 3
 * and exits; the lock stays with the description, which this process keeps open. Every tool
 * started while it is held inherits the description (as its fd 3), so the lock is released
 * only when this process AND every tool it started are gone: a crashed service can never
 * race the process that takes over, and a paused one (SIGSTOP) keeps the lock until it has
 * noticed its lost lease and stopped its tools. Throws STEP_TIMEOUT when the lock stays
 * taken for `timeoutMs`.
 */
export async function acquireLock(
  lockFile: string,
  opts: { signal?: AbortSignal; timeoutMs: number; label: string; waitingFor?: string },
): Promise<HeldLock> {
  if (heldLocks.has(lockFile))
    throw new AppError('ENGINE_COMMAND_FAILED', { args: ['lock', `${lockFile} is already held by this process`] });
  const fd = openLockFile(lockFile);
  const secs = Math.max(0.1, opts.timeoutMs / 1000).toFixed(1);
  try {
    const child = spawn('setpriv', ['--pdeathsig=KILL', '--', 'flock', '--exclusive', '--wait', secs, '3'], {
      env: baseEnv(),
      stdio: ['ignore', 'ignore', 'pipe', fd],
    });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      const onAbort = (): void => {
        child.kill('SIGKILL');
        reject(opts.signal?.reason as Error);
      };
      if (opts.signal?.aborted) onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (e) => reject(new AppError('ENGINE_COMMAND_FAILED', { args: ['flock', e.message] })));
      child.on('close', (c) => {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(c);
      });
    });
    if (code !== 0) {
      if (code === 1)
        throw new AppError('STEP_TIMEOUT', {
          args: [opts.label, Number(secs), opts.waitingFor ?? `the lock ${lockFile} (another process is working on it)`],
        });
      throw new AppError('ENGINE_COMMAND_FAILED', { args: ['flock', stderr.trim() || `exit code ${code}`] });
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  heldLocks.set(lockFile, { fd, signal: opts.signal });
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      heldLocks.delete(lockFile);
      closeSync(fd);
    },
  };
}
