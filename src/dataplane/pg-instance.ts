/* Over 400 lines: one PostgreSQL server and everything dwsbox does to it (files, start, stop, the checked socket, SQL), after CloudNativePG's Instance. */
/**
 * One PostgreSQL server (after CloudNativePG's `Instance`): its data directory, socket
 * directory, address and port; initdb, start, stop, status, SQL over the unix socket.
 */
import { accessRules } from './access-rules.js';
import { existsSync, lstatSync, readdirSync, readlinkSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Binaries } from './binaries.js';
import { serviceUser, type OsUser } from './os-user.js';
import { baseEnv, isProcessAlive, processStartTime, runTool, signalProcess, spawnDetached } from './pg-exec.js';
import { allPids } from './process-info.js';
import { mkdirsSafe, ownedBy, readFileSafe, removeTree, writeFileSafe } from './safe-fs.js';

export type ShutdownMode = 'smart' | 'fast' | 'immediate';

export interface PgInstanceSpec {
  /** the OS user the server runs as and owns its files (its project's, D32) */
  os: OsUser;
  dataDir: string;
  sockDir: string;
  host: string;
  port: number;
  logFile: string;
}

export interface RunningInfo {
  pid: number;
  startTime: number;
}

/**
 * A directory owned by a project's OS user, mode 0700 by default (D32: made through a
 * descriptor, never through a planted link). Missing parents are made root-owned and
 * traversable (0711): only the last component is the PostgreSQL user's to write in.
 */
export function mkdirOwned(path: string, os: OsUser, mode = 0o700): void {
  mkdirsSafe(resolve(path), ownedBy(os), mode);
}

/** Write a whole file owned by a project's OS user (a new file renamed into place; a planted link is replaced, never followed). */
export function writeOwned(path: string, content: string, os: OsUser, mode = 0o600): void {
  writeFileSafe(path, content, ownedBy(os), mode);
}

/**
 * A value as postgresql.conf quotes it. A backslash escapes inside the quotes there, and a line
 * ends the setting, so a value with either (or another control character) is refused, never
 * written: no value may end its quotes early or start a setting of its own.
 */
export const quoteConf = (v: string | number | boolean): string => {
  if (typeof v === 'number') return String(v);
  const s = String(v);
  if (/[\\\x00-\x1f\x7f]/.test(s))
    throw new Error(`a configuration value may hold no backslash or control character: ${JSON.stringify(s.slice(0, 80))}`);
  return `'${s.replace(/'/g, "''")}'`;
};

/** Quote an SQL identifier. */
export const ident = (s: string): string => '"' + s.replace(/"/g, '""') + '"';
/** Quote an SQL string literal (standard_conforming_strings is on in PostgreSQL 15). */
export const literal = (s: string): string => "'" + s.replace(/'/g, "''") + "'";

/** What every data directory is initialised with (the initdb pool's key hashes it: a change rebuilds the pool). */
export const INITDB_ARGS: readonly string[] = [
  '-U',
  'postgres',
  '-E',
  'UTF8',
  '--locale=C.UTF-8',
  '--auth-local=peer',
  '--auth-host=scram-sha-256',
  '--no-instructions',
];

const SQL_RETRY = new Set(['57P03', 'ECONNREFUSED', 'ENOENT', '08006']);
/** postmaster.pid problems already logged (status() runs often; each is said once). */
const warnedPidFiles = new Set<string>();

export class PgInstance {
  constructor(
    readonly spec: PgInstanceSpec,
    private readonly bins: Binaries,
    private readonly log: Logger,
  ) {}

  get dataDir(): string {
    return this.spec.dataDir;
  }

  private bin(name: string): string {
    return join(this.bins.binDir, name);
  }

  /** Has initdb (or a copy) produced a complete data directory here? */
  isInitialized(): boolean {
    return existsSync(join(this.dataDir, 'PG_VERSION')) && existsSync(join(this.dataDir, 'global', 'pg_control'));
  }

  /**
   * initdb, idempotently: a complete data directory is kept; a partial one (a crash during
   * initdb) is removed first.
   */
  async initdb(o: { signal?: AbortSignal; lockFile?: string; timeoutMs?: number; noSync?: boolean }): Promise<void> {
    if (this.isInitialized()) return;
    await removeTree(this.dataDir);
    mkdirOwned(this.dataDir, this.spec.os);
    await runTool({
      cmd: this.bin('initdb'),
      args: ['-D', this.dataDir, ...INITDB_ARGS, ...(o.noSync ? ['--no-sync'] : [])],
      runAs: this.spec.os,
      env: baseEnv(),
      logger: this.log,
      label: 'initdb',
      timeoutMs: o.timeoutMs ?? 120_000,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.lockFile ? { lockFile: o.lockFile } : {}),
    });
    this.writeAccessRules();
  }

  /**
   * pg_hba.conf and pg_ident.conf (design D7, D32; access-rules.ts): the service reaches
   * `postgres` over the unix socket by peer authentication through the `dwsbox` map, which
   * maps only root (the service's own user when it is not root) and the server's own OS user;
   * everything over TCP needs a password (scram-sha-256), replication included.
   */
  writeAccessRules(): void {
    const rules = accessRules({ peerUsers: [serviceUser().name, this.spec.os.name] });
    writeOwned(join(this.dataDir, 'pg_ident.conf'), rules.ident.join('\n') + '\n', this.spec.os);
    writeOwned(join(this.dataDir, 'pg_hba.conf'), ['# written by dwsbox (design D7)', ...rules.hba, ''].join('\n'), this.spec.os);
  }

  /**
   * Write dwsbox.conf (the cluster-wide settings) and dwsbox-node.conf (this node's address,
   * port and socket), both included at the end of postgresql.conf. Physical copies
   * (pg_basebackup, pgBackRest restore) bring the source's files along, so every copy gets
   * its node file rewritten before its first start.
   */
  writeConfig(settings: Record<string, string | number | boolean>): void {
    const conf = join(this.dataDir, 'postgresql.conf');
    const text = readFileSafe(conf) ?? '';
    if (!text.includes("include_if_exists = 'dwsbox.conf'")) {
      writeOwned(conf, text + "\n# dwsbox\ninclude_if_exists = 'dwsbox.conf'\ninclude_if_exists = 'dwsbox-node.conf'\n", this.spec.os);
    }
    writeOwned(
      join(this.dataDir, 'dwsbox.conf'),
      '# written by dwsbox; changes are overwritten\n' +
        Object.entries(settings)
          .map(([k, v]) => `${k} = ${quoteConf(v)}`)
          .join('\n') +
        '\n',
      this.spec.os,
    );
    this.writeNodeConfig();
  }

  writeNodeConfig(): void {
    mkdirOwned(this.spec.sockDir, this.spec.os);
    writeOwned(
      join(this.dataDir, 'dwsbox-node.conf'),
      [
        '# this node; written by dwsbox',
        `listen_addresses = ${quoteConf(this.spec.host)}`,
        `port = ${this.spec.port}`,
        `unix_socket_directories = ${quoteConf(this.spec.sockDir)}`,
        '',
      ].join('\n'),
      this.spec.os,
    );
  }

  /**
   * The postmaster's PID from postmaster.pid, when that process is alive and is this node's
   * postmaster: the PostgreSQL binary, run by the PostgreSQL OS user, on this data directory
   * (D32: postmaster.pid is writable by that user, so a PID it names is checked, never
   * obeyed blindly). When the file disagrees (names another process, or is a link or a
   * FIFO), that is logged and the node's postmaster, if one runs, is taken from /proc.
   */
  status(): RunningInfo | null {
    const file = this.pidFile();
    if (file.kind !== 'pid') {
      if (!('problem' in file)) return null;
      // The file lies: the node's postmaster is found in /proc instead, so a stop still stops it and nothing else.
      const real = this.postmasterByProc();
      const key = `${this.dataDir}\0${file.problem}`;
      if (!warnedPidFiles.has(key)) {
        warnedPidFiles.add(key);
        this.log.warn('postmaster.pid is not to be trusted; not obeyed', {
          dataDir: this.dataDir,
          problem: file.problem,
          postmasterFromProc: real?.pid ?? null,
        });
      }
      return real;
    }
    const startTime = processStartTime(file.pid);
    return startTime === null ? null : { pid: file.pid, startTime };
  }

  /**
   * What postmaster.pid says (D32: the PostgreSQL user can rewrite it, so a PID it names is
   * checked, never obeyed blindly): `pid`, this node's live postmaster; `missing`; `stale`,
   * a PID no process has; `foreign`, a live process that is not this node's postmaster
   * (another program, another user, another data directory); `unsafe`, a link, a FIFO or
   * anything but a regular file.
   */
  private pidFile(): { kind: 'pid'; pid: number } | { kind: 'missing' | 'stale' } | { kind: 'foreign' | 'unsafe'; problem: string } {
    const path = join(this.dataDir, 'postmaster.pid');
    let text: string | null;
    try {
      text = readFileSafe(path, 64 * 1024);
    } catch {
      return { kind: 'unsafe', problem: `${path} is a symbolic link, a FIFO or another file that is not a regular one` };
    }
    if (text === null) return { kind: 'missing' };
    const pid = Number(text.split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) return { kind: 'stale' };
    const foreign = this.foreignReason(pid);
    if (foreign) return { kind: 'foreign', problem: `${path} names PID ${pid}, which is not this node's postmaster: ${foreign}` };
    return { kind: 'pid', pid };
  }

  /** This node's postmaster as /proc shows it (its binary, its user, its `-D`), whatever postmaster.pid says. */
  postmasterByProc(): RunningInfo | null {
    for (const pid of allPids()) {
      if (this.foreignReason(pid) !== null || !isProcessAlive(pid)) continue;
      const startTime = processStartTime(pid);
      if (startTime !== null) return { pid, startTime };
    }
    return null;
  }

  /** Why `pid` is not this node's postmaster, or null when it is. */
  foreignReason(pid: number): string | null {
    return foreignPostmaster(pid, this.bin('postgres'), this.dataDir, this.spec.os.uid);
  }

  /**
   * Start the postmaster detached (it outlives the service, D1) and wait until it accepts
   * connections. Already running: returns it. `expectRecovery`: a restored copy, which may
   * take longer.
   */
  async start(o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<RunningInfo> {
    const running = this.status();
    if (running) {
      await this.waitReady(o.timeoutMs ?? 60_000, running.pid, o.signal);
      return running;
    }
    // A stale postmaster.pid (after a crash or a reboot) is harmless: postgres checks the PID itself.
    // One that names a live process of someone else's, or is not a regular file, stops the start
    // here, saying so: a postgres started over it would refuse to start, or hang opening a FIFO.
    const file = this.pidFile();
    if (file.kind === 'unsafe')
      throw new AppError('UNSAFE_PATH', {
        args: [
          join(this.dataDir, 'postmaster.pid'),
          'it is a symbolic link, a FIFO or another file that is not a regular one, and no postmaster of this node runs: the node is not started over it',
        ],
      });
    if (file.kind === 'foreign') {
      throw new AppError('ENGINE_NODE_FAILED', {
        args: [
          this.spec.host || `temporary instance ${this.dataDir}`,
          `${file.problem}. It is not obeyed: dwsbox neither signals that process nor starts a second postmaster over the file. No postmaster of this node runs; remove the file and start the node again`,
        ],
      });
    }
    const pid = spawnDetached({
      cmd: this.bin('postgres'),
      args: ['-D', this.dataDir],
      env: baseEnv(),
      logFile: this.spec.logFile,
      runAs: this.spec.os,
      signal: o.signal,
    });
    const startTime = processStartTime(pid);
    await this.waitReady(o.timeoutMs ?? 60_000, pid, o.signal);
    return { pid, startTime: startTime ?? 0 };
  }

  /** Wait until the server answers `select 1`; fail early, with its log, when it dies. */
  async waitReady(timeoutMs: number, pid: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastErr = '';
    for (;;) {
      if (signal?.aborted) throw signal.reason as Error;
      try {
        await this.rawQuery('select 1', [], 'postgres', 2000);
        return;
      } catch (e) {
        lastErr = (e as Error).message;
        const code = (e as { code?: string }).code ?? '';
        if (!SQL_RETRY.has(code) && !/starting up|not yet accepting|No such file|ECONNREFUSED|shutting down/.test(lastErr)) {
          // A real error (authentication, config): report it, no point waiting.
          if (!/recovery/.test(lastErr))
            throw new AppError('ENGINE_NODE_FAILED', { args: [this.spec.host, `server does not accept connections: ${lastErr}`] });
        }
      }
      if (!isProcessAlive(pid) && !this.status()) {
        throw new AppError('ENGINE_NODE_FAILED', { args: [this.spec.host, `PostgreSQL exited during start-up: ${this.logTail()}`] });
      }
      if (Date.now() > deadline) {
        throw new AppError('STEP_TIMEOUT', {
          args: [
            `start ${this.spec.host}:${this.spec.port}`,
            Math.round(timeoutMs / 1000),
            `PostgreSQL to accept connections (last error: ${lastErr}; log: ${this.logTail(3)})`,
          ],
        });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  logTail(lines = 8): string {
    try {
      return readFileSync(this.spec.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .slice(-lines)
        .join(' | ');
    } catch {
      return '(no log)';
    }
  }

  /**
   * Stop the postmaster and wait for it to exit. `fast` rolls back open transactions and
   * checkpoints (no data loss); after `timeoutMs` it escalates to `immediate`, which skips
   * the checkpoint (crash recovery at the next start, still no loss of committed data).
   */
  async stop(o: { mode?: ShutdownMode; timeoutMs?: number } = {}): Promise<void> {
    // No trustworthy postmaster.pid (removed while the server runs): /proc still knows the postmaster.
    const running = this.status() ?? this.postmasterByProc();
    if (!running) return;
    const mode = o.mode ?? 'fast';
    const sig: NodeJS.Signals = mode === 'smart' ? 'SIGTERM' : mode === 'fast' ? 'SIGINT' : 'SIGQUIT';
    signalProcess(running.pid, sig);
    if (await waitExit(running.pid, o.timeoutMs ?? 30_000)) return;
    if (mode !== 'immediate') {
      this.log.warn('postmaster did not stop in time; escalating to immediate shutdown', { pid: running.pid, host: this.spec.host });
      signalProcess(running.pid, 'SIGQUIT');
      if (await waitExit(running.pid, 10_000)) return;
    }
    signalProcess(running.pid, 'SIGKILL');
    await waitExit(running.pid, 5000);
  }

  /**
   * Run one statement over the unix socket as `postgres`. When it fails because the server is
   * not running (killed, crashed), the error says so, with the end of its log, instead of a
   * bare "connect ECONNREFUSED <socket>".
   */
  async query<R extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    params: unknown[] = [],
    database = 'postgres',
    timeoutMs = 30_000,
  ): Promise<R[]> {
    try {
      return await this.rawQuery<R>(text, params, database, timeoutMs);
    } catch (e) {
      throw this.explainFailure(e);
    }
  }

  private async rawQuery<R extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    params: unknown[],
    database: string,
    timeoutMs: number,
  ): Promise<R[]> {
    const c = await this.connect(database, timeoutMs);
    try {
      return (await c.query<R>(text, params)).rows;
    } finally {
      await c.end().catch(() => {});
    }
  }

  /** A connection lost or refused while no postmaster runs: ENGINE_NODE_FAILED naming the node; anything else as it was. */
  private explainFailure(e: unknown): unknown {
    const code = (e as { code?: unknown } | null)?.code;
    const msg = e instanceof Error ? e.message : String(e);
    const lost =
      (typeof code === 'string' && ['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', '57P01', '57P02', '57P03'].includes(code)) ||
      /Connection terminated|server closed the connection|terminating connection/.test(msg);
    if (e instanceof AppError || !lost || this.status()) return e;
    const name = this.spec.host ? `${this.spec.host}:${this.spec.port}` : `temporary instance ${this.dataDir}`;
    return new AppError('ENGINE_NODE_FAILED', {
      args: [name, `PostgreSQL is not running (${msg}); the end of its log: ${this.logTail(3)}`],
      cause: e,
      details: { code: code ?? null },
    });
  }

  /** A verified session as `postgres` over the unix socket (`connectSuperuser`). */
  async connect(database = 'postgres', timeoutMs = 30_000): Promise<pg.Client> {
    return connectSuperuser(this.spec, database, timeoutMs);
  }

  /** An unconnected client as `postgres` over the unix socket; use `connect` to get one that is verified. */
  client(database = 'postgres', timeoutMs = 30_000): pg.Client {
    return superuserClient(this.spec, database, timeoutMs);
  }

  /** Remove the data directory (the server must be stopped). */
  async removeData(): Promise<void> {
    await removeTree(this.dataDir);
  }

  dataDirSize(): number {
    return dirSize(this.dataDir);
  }
}

/**
 * Why `pid` is not the postmaster of `dataDir` (its executable, its user, its `-D`), or null
 * when it is. Read from /proc, which the process cannot rewrite.
 */
export function foreignPostmaster(pid: number, postgresBin: string, dataDir: string, uid: number): string | null {
  try {
    const exe = readlinkSync(`/proc/${pid}/exe`);
    if (exe !== realpathSync(postgresBin)) return `PID ${pid} runs ${exe}, not ${postgresBin}`;
    const owner = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    if (Number(owner) !== uid) return `PID ${pid} runs as uid ${owner}, not ${uid}`;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const d = argv.indexOf('-D');
    if (d < 0 || resolve(argv[d + 1] ?? '') !== resolve(dataDir))
      return `PID ${pid} is not started on ${dataDir} (${argv.join(' ').trim()})`;
    return null;
  } catch (e) {
    return `PID ${pid} cannot be inspected (${(e as Error).message})`;
  }
}

async function waitExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !isProcessAlive(pid);
}

/** Bytes under a directory (what `du -sb` counts for files, without following links). */
export function dirSize(path: string): number {
  let total = 0;
  const walk = (p: string): void => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = readdirSync(p);
      } catch {
        return;
      }
      for (const n of names) walk(join(p, n));
    } else if (st.isFile()) total += st.size;
  };
  walk(path);
  return total;
}

/**
 * `requirepeer` for a unix socket (D32): the directory and `.s.PGSQL.<port>` in it exist, are
 * not links, and belong to `os` (a socket file belongs to the process that bound it). A
 * missing socket passes (the connect then fails with ENOENT, as libpq's would); anything else
 * is UNSAFE_PATH.
 */
export function assertPeerSocket(sockDir: string, port: number, os: OsUser): void {
  const check = (p: string, want: 'dir' | 'socket'): boolean => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) return false;
    const kind = want === 'dir' ? st.isDirectory() : st.isSocket();
    if (!kind || st.uid !== os.uid) {
      throw new AppError('UNSAFE_PATH', {
        args: [
          p,
          `it should be a ${want === 'dir' ? 'directory' : 'socket'} of ${os.name} (uid ${os.uid}), and is ${st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : st.isSocket() ? 'a socket' : 'another kind of file'} of uid ${st.uid}`,
        ],
      });
    }
    return true;
  };
  if (check(sockDir, 'dir')) check(join(sockDir, `.s.PGSQL.${port}`), 'socket');
}

/** Where a server's superuser sessions go: its unix socket's directory and port, and the OS user that must own them. */
export type SocketOf = Pick<PgInstanceSpec, 'os' | 'sockDir' | 'port'>;

/**
 * A connected session as `postgres` over a server's unix socket, checked like libpq's
 * `requirepeer` (D32) before it is opened: the socket directory and the socket are the
 * server's OS user's (only that user, or root, can have bound it), neither a link. So a
 * socket another user put in its place is never talked to as superuser.
 */
export async function connectSuperuser(s: SocketOf, database = 'postgres', timeoutMs = 30_000): Promise<pg.Client> {
  assertPeerSocket(s.sockDir, s.port, s.os);
  const c = superuserClient(s, database, timeoutMs);
  await c.connect();
  return c;
}

/**
 * D32: what dwsbox's superuser sessions start with, its own (`superuserClient`) and the tools'
 * it runs as that superuser (pg_dump, through PGOPTIONS): they resolve no name through a
 * schema a tenant can create in, and take none of a tenant's database or role settings that
 * would change who they are or how they read a literal (ALTER DATABASE … SET role /
 * standard_conforming_strings), nor load a library a stored setting names
 * (session_preload_libraries, local_preload_libraries: a restored copy from before D32 may
 * hold such a setting until its clean-up removes it, and the clean-up's own sessions open
 * each database first). They write when the read-only protection has made the cluster
 * read-only (local/read-only.ts). Their statements are never kept by pg_stat_statements (its
 * text of an ALTER ROLE … PASSWORD would hand a verifier to the administrator, a member of
 * pg_monitor), and they read numbers, dates and intervals in one format whatever a tenant
 * stored on a database (extra_float_digits, DateStyle, IntervalStyle, bytea_output; not the
 * time zone, which ModifyClusterTimezone's checks read as the server has it).
 * Options from the connection's start outrank every stored setting (PostgreSQL's PGC_S_CLIENT).
 */
export const SUPERUSER_SESSION_OPTIONS =
  '-c search_path=pg_catalog -c role=none -c standard_conforming_strings=on -c default_transaction_read_only=off -c session_preload_libraries= -c local_preload_libraries=' +
  ' -c pg_stat_statements.track=none -c extra_float_digits=1 -c DateStyle=ISO -c IntervalStyle=postgres -c bytea_output=hex';

/**
 * dwsbox's own superuser sessions also keep their statements out of pg_stat_activity (the
 * administrator reads every session's text there, as a member of pg_read_all_stats). Not the
 * tools': their COPY progress in pg_stat_progress_copy needs track_activities.
 */
const OWN_SESSION_OPTIONS = `${SUPERUSER_SESSION_OPTIONS} -c track_activities=off`;

/** `timeoutMs` 0: no statement_timeout of the session's own (a read of pg_settings that must show the server's value). */
function superuserClient(s: SocketOf, database: string, timeoutMs: number): pg.Client {
  const c = new pg.Client({
    host: s.sockDir,
    port: s.port,
    user: 'postgres',
    database,
    connectionTimeoutMillis: Math.min(timeoutMs || 10_000, 10_000),
    statement_timeout: timeoutMs,
    application_name: 'dwsbox',
    options: OWN_SESSION_OPTIONS,
  });
  c.on('error', () => {});
  return c;
}
