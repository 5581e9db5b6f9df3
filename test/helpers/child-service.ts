/**
 * A dwsbox service run as a child process, the way a user runs it (`node bin/dwsbox.js serve …`
 * when the build is current, else the sources through tsx: `cliEntry`), so a test can kill it with SIGKILL, let a
 * crash fault kill it, or stop it with SIGTERM, and start it again on the same data directory
 * and port. Its stdout and stderr are appended to `<dataDir>/service.log` (JSON lines, one
 * `pid` field each, so a test can tell which process did what).
 *
 * The child runs under `setpriv --pdeathsig=KILL` (setpriv execs in place, so its PID is the
 * service's): if the test runner dies, the service dies with it, and its tools with the
 * service (D1). Postmasters are detached by design and outlive it; `cleanup` stops them.
 * Never through a shell.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { flagName } from '../../src/config/config.js';
import { DwsClient } from '../../src/cli/client.js';
import { freePort, killPostmastersUnder, processesUnder, removeDir, removeProjectUsersUnder, tempDir, testPoolDir } from './env.js';
import { ACCESS_KEY, PROJECT_ID, SECRET_KEY } from './service.js';
import { stopAgentUnitsUnder, TestAgentClient, testEngine, testEngineFlags } from './engine.js';
import { cliEntry, REPO_ROOT } from './cli-entry.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildService {
  client: DwsClient;
  endpoint: string;
  dataDir: string;
  port: number;
  logFile: string;
  /** PID of the current (latest) service process */
  readonly pid: number;
  /** every PID that served this data directory, oldest first */
  readonly pids: readonly number[];
  /** is the current process still running? */
  alive(): boolean;
  /** send a signal to the current process (false when it is gone) */
  kill(signal?: NodeJS.Signals): boolean;
  /** resolves when the current process has exited */
  waitExit(timeoutMs?: number): Promise<ExitInfo>;
  /** start again on the same data directory and port (the previous process must have exited) */
  restart(): Promise<void>;
  /**
   * The service log's JSON lines (every process of this data directory). Lines a process
   * wrote just before a SIGKILL may be missing: the logger writes asynchronously.
   */
  logLines(): LogLine[];
  /** PIDs of the processes that ran a task, from its durable `ran_by` in the SQLite store, in order */
  ranBy(taskId: string): number[];
  /** a read-only query on the SQLite store (for what the API no longer shows, e.g. a deleted cluster's tasks) */
  storeQuery<R>(sql: string, ...params: unknown[]): R[];
  /** kill the service if alive, stop every postmaster under the data directory by PID, remove it */
  cleanup(o?: { keepDir?: boolean }): Promise<void>;
}

export interface LogLine {
  pid: number;
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface ChildServiceOptions {
  /** reuse a data directory (default: a new temporary one) */
  dataDir?: string;
  /** API port (default: a free one) */
  port?: number;
  /** more settings, by setting key (camelCase), e.g. { taskConcurrency: 2 } */
  settings?: Record<string, string | number | boolean>;
  /** how long to wait for /readyz (default 60 s) */
  readyTimeoutMs?: number;
  /** more environment variables for the service (e.g. DWSBOX_STORE_URL) */
  env?: Record<string, string>;
  /** log file (default `<dataDir>/service.log`); several services on one data directory each need their own */
  logFile?: string;
  /**
   * A command the service runs under, one that execs it in place so the PID stays the
   * service's (e.g. `nsenter -t <pid> -m --`, to run it in a mount namespace of the test's).
   */
  wrap?: string[];
  /** more arguments for node itself, before the script (e.g. `--cpu-prof`) */
  nodeArgs?: string[];
  /**
   * The host agent (D23) the service's engine runs its clusters' processes under, if any:
   * `cleanup` then stops the agent's units of this data directory's clusters (their names
   * carry the cluster's id) and releases their address blocks, before it stops postmasters.
   */
  agentDir?: string;
}

/** The settings every child service gets (tests: faults on, crash faults too, fsync off, fast polling). */
const BASE_SETTINGS: Record<string, string | number | boolean> = {
  // The faults API is off by default (fair shares, docs/security.md); the tests inject faults.
  host: '127.0.0.1',
  enableTenantFaults: true,
  enableCrashFaults: true,
  unsafeNoFsync: true,
  pollMs: 50,
  monitorIntervalMs: 500,
  leaseMs: 4000,
  shutdownTimeoutMs: 1000,
  logLevel: 'debug',
};

function settingArgs(settings: Record<string, string | number | boolean>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(settings)) {
    if (v === false) continue;
    out.push(`--${flagName(k)}`);
    if (v !== true) out.push(String(v));
  }
  return out;
}

export async function startChildService(o: ChildServiceOptions = {}): Promise<ChildService> {
  const dataDir = o.dataDir ?? tempDir('child');
  mkdirSync(dataDir, { recursive: true, mode: 0o711 });
  const port = o.port ?? (await freePort());
  const logFile = o.logFile ?? join(dataDir, 'service.log');
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DwsClient({ endpoint, projectId: PROJECT_ID, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, timeoutMs: 30_000 });
  // One initdb pool for the whole run, shared by every service (global-setup.ts).
  // DWSBOX_TEST_ENGINE: the engine its clusters run on (local unless it says patroni, then under the run's agent).
  const args = settingArgs({ ...BASE_SETTINGS, initdbPoolDir: testPoolDir(), dataDir, port, ...testEngineFlags(), ...o.settings });
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: process.env['HOME'] ?? '/root',
    LANG: 'C.UTF-8',
    DWSBOX_PROJECT_ID: PROJECT_ID,
    DWSBOX_ACCESS_KEY: ACCESS_KEY,
    DWSBOX_SECRET_KEY: SECRET_KEY,
    ...o.env,
  };

  let child: ChildProcess;
  let exited: Promise<ExitInfo>;
  let exitInfo: ExitInfo | null = null;
  const pids: number[] = [];

  const spawnOne = (): void => {
    const fd = openSync(logFile, 'a');
    try {
      child = spawn(
        'setpriv',
        ['--pdeathsig=KILL', '--', ...(o.wrap ?? []), process.execPath, ...(o.nodeArgs ?? []), ...cliEntry(), 'serve', ...args],
        {
          cwd: REPO_ROOT,
          env,
          stdio: ['ignore', fd, fd],
        },
      );
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) throw new Error('could not start the dwsbox service');
    pids.push(child.pid);
    exitInfo = null;
    const c = child;
    exited = new Promise<ExitInfo>((res) => {
      c.once('exit', (code, signal) => {
        exitInfo = { code, signal };
        // For the post-mortem of a run: when and how each service process ended.
        try {
          appendFileSync(
            logFile,
            `${JSON.stringify({ time: new Date().toISOString(), pid: c.pid, msg: 'test: service process exited', code, signal })}\n`,
          );
        } catch {
          /* the directory is gone */
        }
        res(exitInfo);
      });
      c.once('error', () => {
        exitInfo ??= { code: -1, signal: null };
        res(exitInfo);
      });
    });
  };

  const waitReady = async (): Promise<void> => {
    const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
    let last = '';
    for (;;) {
      if (exitInfo) throw new Error(`the service exited before it was ready (${JSON.stringify(exitInfo)}); log tail:\n${tailOf(logFile)}`);
      try {
        const h = await fetch(`${endpoint}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (h.status === 200) {
          const r = await fetch(`${endpoint}/readyz`, { signal: AbortSignal.timeout(2000) });
          if (r.status === 200) return;
          last = `readyz ${r.status}: ${await r.text()}`;
        } else last = `healthz ${h.status}`;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline)
        throw new Error(`the service on ${endpoint} was not ready in time (${last}); log tail:\n${tailOf(logFile)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const alive = (): boolean => exitInfo === null;

  const svc: ChildService = {
    client,
    endpoint,
    dataDir,
    port,
    logFile,
    get pid() {
      return child.pid!;
    },
    get pids() {
      return pids;
    },
    alive,
    kill(signal = 'SIGKILL') {
      if (!alive()) return false;
      try {
        process.kill(child.pid!, signal);
        return true;
      } catch {
        return false;
      }
    },
    async waitExit(timeoutMs = 120_000) {
      let t: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, rej) => {
        t = setTimeout(
          () => rej(new Error(`the service (pid ${child.pid}) did not exit within ${timeoutMs} ms; log tail:\n${tailOf(logFile)}`)),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(t);
      }
    },
    async restart() {
      if (alive()) throw new Error(`restart: the service (pid ${child.pid}) is still running`);
      spawnOne();
      await waitReady();
    },
    logLines() {
      return parseLog(logFile);
    },
    ranBy(taskId) {
      const row = svc.storeQuery<{ ran_by: string }>('select ran_by from tasks where id = ?', taskId)[0];
      if (!row) throw new Error(`no task ${taskId} in the store`);
      // An owner is `<host>:<pid>:<nonce>:<start time>` (src/main.ts).
      return (JSON.parse(row.ran_by) as string[]).map((o) => Number(o.split(':')[1]));
    },
    storeQuery<R>(sql: string, ...params: unknown[]): R[] {
      const db = new Database(join(dataDir, 'dwsbox.sqlite'), { readonly: true, fileMustExist: true });
      try {
        return db.prepare(sql).all(...params) as R[];
      } finally {
        db.close();
      }
    },
    async cleanup(co = {}) {
      if (alive()) {
        svc.kill('SIGKILL');
        await exited;
      }
      if (o.agentDir) await stopAgentUnitsOf(o.agentDir, dataDir);
      // A service on the test engine's agent (DWSBOX_TEST_ENGINE=patroni): the clusters it left running stopped.
      if (testEngine() === 'patroni') await stopAgentUnitsUnder(dataDir);
      await killPostmastersUnder(dataDir);
      const left = processesUnder(dataDir);
      if (!co.keepDir && !process.env['DWSBOX_KEEP_TEST_DIRS']) {
        removeDir(dataDir);
        await removeProjectUsersUnder(dataDir);
      }
      if (left.length) throw new Error(`processes left behind under ${dataDir}: ${JSON.stringify(left)}`);
    },
  };

  spawnOne();
  try {
    await waitReady();
  } catch (e) {
    await svc.cleanup({ keepDir: true }).catch(() => {});
    throw e;
  }
  return svc;
}

/**
 * The host agent's units of the clusters under `dataDir` (a unit's name carries its cluster's
 * id), stopped, and their address blocks released; for clean-up after a test. Nothing to do
 * when the agent does not answer (the global teardown stops it with every unit).
 */
async function stopAgentUnitsOf(agentDir: string, dataDir: string): Promise<void> {
  const clustersDir = join(dataDir, 'clusters');
  const ids = existsSync(clustersDir) ? readdirSync(clustersDir).filter((d) => /^[0-9a-f-]{36}$/.test(d)) : [];
  if (!ids.length || !existsSync(join(agentDir, 'agent.sock'))) return;
  const agent = new TestAgentClient(agentDir);
  try {
    const units = await agent.units();
    await Promise.all(units.filter((u) => ids.some((id) => u.name.includes(id))).map((u) => agent.stopUnit(u.name)));
    for (const h of await agent.subnets()) if (ids.includes(h.owner)) await agent.releaseSubnet(h.subnet);
  } catch {
    /* no agent: nothing of it runs under this data directory */
  } finally {
    await agent.close();
  }
}

function tailOf(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .slice(-lines)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

export function parseLog(file: string): LogLine[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: LogLine[] = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      const v = JSON.parse(l) as LogLine;
      if (typeof v.pid === 'number' && typeof v.msg === 'string') out.push(v);
    } catch {
      /* a line cut short by SIGKILL */
    }
  }
  return out;
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** process group */
  pgrp: number;
  /** start time in clock ticks after boot (/proc/<pid>/stat field 22) */
  start: number;
  state: string;
  cmd: string;
}

/** One process from /proc, or null when it is gone (zombies count as gone). */
export function procInfo(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = rest[0] ?? '';
    if (state === 'Z' || state === 'X') return null;
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    return { pid, ppid: Number(rest[1]), pgrp: Number(rest[2]), start: Number(rest[19]), state, cmd };
  } catch {
    return null;
  }
}

/** Every live process on the host. */
export function allProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = procInfo(Number(name));
    if (p) out.push(p);
  }
  return out;
}

/** Is this exact process (PID and start time) still alive? */
export function stillAlive(p: Pick<ProcInfo, 'pid' | 'start'>): boolean {
  const now = procInfo(p.pid);
  return now !== null && now.start === p.start;
}

/**
 * Postmasters whose data directory is under `dir`, with that data directory. A backend the
 * postmaster has just forked shows the same command line until it sets its title; it is
 * told apart by its parent, the postmaster.
 */
export function postmastersUnder(dir: string): { pid: number; dataDir: string }[] {
  const found = new Map<number, { pid: number; dataDir: string; ppid: number }>();
  for (const p of processesUnder(dir)) {
    const m = /(?:^|\/)postgres -D (\S+)/.exec(p.cmd);
    const info = procInfo(p.pid);
    if (m?.[1] && info) found.set(p.pid, { pid: p.pid, dataDir: m[1], ppid: info.ppid });
  }
  return [...found.values()].filter((p) => !found.has(p.ppid)).map(({ pid, dataDir }) => ({ pid, dataDir }));
}

const isPostmaster = (cmd: string): boolean => /(?:^|\/)postgres -D /.test(cmd);

/**
 * Watches the service's child processes (the tools and lock holders it starts, D1) by
 * polling /proc, so a test can check after a crash that none of them outlived it.
 * Postmasters (its children too, until it dies) are left out: they must live. A child seen
 * between fork and exec still shows the service's command line, so what a child is comes
 * from its latest command line (see `survivors`).
 */
export function watchToolChildren(
  servicePid: number,
  intervalMs = 20,
  o: {
    /**
     * Children that outlive the service by design besides postmasters, by command line (e.g.
     * the host agent it starts detached, D23); never counted as survivors. Default: none.
     */
    longLived?: RegExp;
  } = {},
): { seen: () => ProcInfo[]; survivors: () => ProcInfo[]; postmasters: () => ProcInfo[]; stop: () => void } {
  const seen = new Map<string, ProcInfo>();
  const poll = (): void => {
    for (const p of allProcesses()) {
      if (p.ppid !== servicePid) continue;
      seen.set(`${p.pid}:${p.start}`, p);
    }
  };
  poll();
  const t = setInterval(poll, intervalMs);
  const tools = (): ProcInfo[] => [...seen.values()].filter((p) => !isPostmaster(p.cmd));
  const longLived = (cmd: string): boolean => isPostmaster(cmd) || (o.longLived?.test(cmd) ?? false);
  return {
    seen: tools,
    /** the children seen that are still alive (same PID and start time) and are not postmasters (nor `longLived`) */
    survivors: () =>
      [...seen.values()].flatMap((p) => {
        const now = procInfo(p.pid);
        return now && now.start === p.start && !longLived(now.cmd) ? [now] : [];
      }),
    /** the postmasters it started (as last seen), alive or not */
    postmasters: () => [...seen.values()].filter((p) => isPostmaster(p.cmd)),
    stop: () => clearInterval(t),
  };
}
