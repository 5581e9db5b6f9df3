/**
 * The host agent's supervisor (design D23): it starts the long-lived processes of its host
 * (etcd, Patroni members, routers), restarts one within about a second of its death, and adopts
 * the ones that were already running when the agent itself (re)started, so a restart of the
 * agent never restarts a healthy process.
 *
 * Each unit runs detached (its own session), under the uid and gid its spec names, with its
 * output appended to a log file the agent opens (root's, outside any tenant's directory, D32:
 * the process inherits the descriptor and never opens the path). What runs is written to
 * `units.json` in the agent's directory (atomically, on every change): the spec, the PID and the
 * PID's start time, so a new agent tells its units from a reused PID. A unit is stopped with its
 * stop signal, and its process tree is killed by PID only when it outlives its stop timeout.
 */
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnDetached } from '../pg-exec.js';
import { allPids, isProcessAlive, processStartTime, processTree, processUid, signalProcess } from '../process-info.js';

export type UnitKind = 'etcd' | 'patroni' | 'router';

export interface UnitSpec {
  /** unique on the host: letters, digits, `.`, `_`, `-` */
  name: string;
  kind: UnitKind;
  /** argv[0] is the absolute path of the binary */
  argv: string[];
  uid: number;
  gid: number;
  env: Record<string, string>;
  /** absolute path of the unit's log (appended to; opened by the agent) */
  log: string;
  stopSignal: 'SIGTERM' | 'SIGINT' | 'SIGUSR1';
  /** how long a stop waits before the unit's process tree is killed */
  stopTimeoutMs: number;
}

export type UnitStatus = 'running' | 'restarting' | 'stopping';

export interface UnitView {
  name: string;
  kind: UnitKind;
  status: UnitStatus;
  pid: number | null;
  /** when the current process started (ISO) */
  startedAt: string | null;
  /** restarts since the agent first started the unit (adoptions are not restarts) */
  restarts: number;
  /** how the last process ended, if one did */
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  adopted: boolean;
}

interface Unit {
  spec: UnitSpec;
  status: UnitStatus;
  pid: number | null;
  startTime: number | null;
  startedAt: string | null;
  restarts: number;
  lastExit: UnitView['lastExit'];
  adopted: boolean;
  /** consecutive deaths within `QUICK_DEATH_MS` of a start: the back-off grows with them */
  quickDeaths: number;
  timer: NodeJS.Timeout | null;
  /** set while `stop` runs: death is expected, no restart */
  stopping: Promise<void> | null;
}

/** A unit that dies within this long of its start counts as crash-looping. */
const QUICK_DEATH_MS = 10_000;
/** Restart delays: the first at once (D23: within about 1 s), then growing up to 5 s while it keeps dying. */
const BACKOFF_MS = [100, 500, 1000, 2000, 5000];
/** Adopted units are not this agent's children (no exit event): their PIDs are checked this often. */
const POLL_MS = 200;

/** A unit's log is trimmed past this size, keeping its last `LOG_KEEP_BYTES` in `<log>.1`; checked every `LOG_CHECK_MS`. */
export const LOG_MAX_BYTES = 16 * 1024 * 1024;
const LOG_KEEP_BYTES = 4 * 1024 * 1024;
const LOG_CHECK_MS = 60_000;

const STOP_ORDER: UnitKind[] = ['patroni', 'router', 'etcd'];

export interface SupervisorEvents {
  onStart?(u: UnitView): void;
  /** a unit died (not stopped); `logFile` is its log */
  onExit?(u: UnitView, logFile: string): void;
}

export class Supervisor {
  private readonly units = new Map<string, Unit>();
  private readonly stateFile: string;
  private poller: NodeJS.Timeout | null = null;
  private trimmer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly events: SupervisorEvents = {},
  ) {
    this.stateFile = join(dir, 'units.json');
  }

  /** Adopt what `units.json` says runs (PID and start time checked); start again what died meanwhile. */
  start(): { adopted: string[]; restarted: string[] } {
    const adopted: string[] = [];
    const restarted: string[] = [];
    for (const saved of this.readState()) {
      const u = this.newUnit(saved.spec);
      u.restarts = saved.restarts;
      this.units.set(u.spec.name, u);
      // A process the last agent started but did not live to record (it died between the spawn
      // and the save) is found by its command line: starting another would run two members
      // under one name.
      const found =
        saved.pid !== null && isProcessAlive(saved.pid, saved.startTime) && ours(saved.pid, saved.spec.uid)
          ? { pid: saved.pid, startTime: saved.startTime, startedAt: saved.startedAt }
          : unrecorded(saved.spec);
      if (found) {
        Object.assign(u, { ...found, adopted: true, status: 'running' });
        adopted.push(u.spec.name);
      } else {
        this.launch(u);
        restarted.push(u.spec.name);
      }
    }
    this.save();
    this.poller = setInterval(() => this.poll(), POLL_MS);
    this.poller.unref();
    this.trimmer = setInterval(() => this.trimLogs(), LOG_CHECK_MS);
    this.trimmer.unref();
    return { adopted, restarted };
  }

  /**
   * Keep each unit's log under `LOG_MAX_BYTES` (a Patroni member logs a line every loop, about
   * 4 MB a day): a log that grew past it keeps its last `LOG_KEEP_BYTES` in `<log>.1` and is
   * truncated in place. The unit keeps writing through its descriptor (O_APPEND: the next line
   * lands at the new end); a line written between the copy and the truncation may be lost.
   * Returns the logs it trimmed.
   */
  trimLogs(): string[] {
    const trimmed: string[] = [];
    for (const u of this.units.values()) {
      const log = u.spec.log;
      try {
        const size = statSync(log).size;
        if (size <= LOG_MAX_BYTES) continue;
        const keep = Math.min(size, LOG_KEEP_BYTES);
        const fd = openSync(log, 'r');
        try {
          const buf = Buffer.alloc(keep);
          readSync(fd, buf, 0, keep, size - keep);
          writeFileSync(`${log}.1`, buf, { mode: 0o640 });
        } finally {
          closeSync(fd);
        }
        truncateSync(log, 0);
        trimmed.push(log);
      } catch {
        /* no log yet, or it went away */
      }
    }
    return trimmed;
  }

  list(): UnitView[] {
    return [...this.units.values()].map(view);
  }

  get(name: string): UnitView | null {
    const u = this.units.get(name);
    return u ? view(u) : null;
  }

  /**
   * Make the unit run with this spec. A running unit with the same spec is left alone
   * (idempotent); with another spec it is stopped and started with the new one.
   */
  async ensure(spec: UnitSpec): Promise<UnitView> {
    const cur = this.units.get(spec.name);
    if (cur?.stopping) await cur.stopping;
    const now = this.units.get(spec.name);
    if (now && sameSpec(now.spec, spec)) return view(now);
    if (now) await this.stop(spec.name);
    const u = this.newUnit(spec);
    this.units.set(spec.name, u);
    this.launch(u);
    this.save();
    return view(u);
  }

  /**
   * Stop a unit (its stop signal, then its process tree killed after the stop timeout) and
   * forget it. `immediate`: its whole process tree killed at once (SIGKILL by PID), for a unit
   * whose data is thrown away next (a deleted cluster's members): no shutdown work at all.
   */
  async stop(name: string, o: { immediate?: boolean } = {}): Promise<boolean> {
    const u = this.units.get(name);
    if (!u) return false;
    if (!u.stopping) u.stopping = this.stopUnit(u, o.immediate === true);
    await u.stopping;
    if (this.units.get(name) === u) this.units.delete(name);
    this.save();
    return true;
  }

  /** Stop every unit: Patroni members first, then routers, then etcd (D23). */
  async stopAll(): Promise<string[]> {
    const stopped: string[] = [];
    for (const kind of STOP_ORDER) {
      const names = [...this.units.values()].filter((u) => u.spec.kind === kind).map((u) => u.spec.name);
      await Promise.all(names.map((n) => this.stop(n)));
      stopped.push(...names);
    }
    return stopped;
  }

  /** Let go of the units (they keep running) and stop watching: the agent is leaving. */
  close(): void {
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    if (this.trimmer) clearInterval(this.trimmer);
    for (const u of this.units.values()) if (u.timer) clearTimeout(u.timer);
  }

  private newUnit(spec: UnitSpec): Unit {
    return {
      spec,
      status: 'restarting',
      pid: null,
      startTime: null,
      startedAt: null,
      restarts: 0,
      lastExit: null,
      adopted: false,
      quickDeaths: 0,
      timer: null,
      stopping: null,
    };
  }

  private launch(u: Unit): void {
    if (this.closed || u.stopping) return;
    u.timer = null;
    // Recorded before it runs (without a PID): an agent that dies right after the spawn leaves
    // the next one the spec to find the process by (`unrecorded`).
    this.save();
    try {
      const pid = spawnDetached({
        cmd: u.spec.argv[0]!,
        args: u.spec.argv.slice(1),
        env: u.spec.env,
        logFile: u.spec.log,
        runAs: { name: u.spec.name, uid: u.spec.uid, gid: u.spec.gid, home: '/nonexistent' },
        onExit: (code, signal) => {
          if (u.pid === pid) this.died(u, code, signal, null);
        },
      });
      Object.assign(u, { pid, startTime: processStartTime(pid), startedAt: new Date().toISOString(), status: 'running', adopted: false });
      this.save();
      this.events.onStart?.(view(u));
    } catch (e) {
      this.died(u, null, null, (e as Error).message);
    }
  }

  /** A unit's process is gone: record it and start it again unless it is being stopped. */
  private died(u: Unit, code: number | null, signal: string | null, error: string | null): void {
    const livedMs = u.startedAt ? Date.now() - Date.parse(u.startedAt) : 0;
    u.lastExit = { code, signal: signal ?? (error ? `error: ${error}` : null), at: new Date().toISOString() };
    u.pid = null;
    u.startTime = null;
    if (u.stopping || this.closed || this.units.get(u.spec.name) !== u) return;
    u.quickDeaths = livedMs < QUICK_DEATH_MS ? u.quickDeaths + 1 : 0;
    u.status = 'restarting';
    u.restarts++;
    this.save();
    this.events.onExit?.(view(u), u.spec.log);
    const delay = BACKOFF_MS[Math.min(u.quickDeaths, BACKOFF_MS.length) - 1] ?? BACKOFF_MS[0]!;
    u.timer = setTimeout(() => this.launch(u), delay);
  }

  private poll(): void {
    for (const u of this.units.values()) {
      if (u.adopted && u.pid !== null && !u.stopping && !isProcessAlive(u.pid, u.startTime)) this.died(u, null, null, null);
    }
  }

  private async stopUnit(u: Unit, immediate = false): Promise<void> {
    if (u.timer) clearTimeout(u.timer);
    u.timer = null;
    u.status = 'stopping';
    const pid = u.pid;
    const startTime = u.startTime;
    if (pid === null || !isProcessAlive(pid, startTime)) return;
    // The tree is read before the signal: children of a unit that are still alive after the
    // timeout are killed by the PIDs seen here, never by a group. (A Patroni's postmaster is not
    // among them: Patroni runs it detached; the engine stops it.)
    const tree = processTree(pid).map((p) => ({ pid: p, startTime: processStartTime(p) }));
    if (immediate) for (const p of tree) signalProcess(p.pid, 'SIGKILL');
    else signalProcess(pid, u.spec.stopSignal);
    const deadline = immediate ? 0 : Date.now() + u.spec.stopTimeoutMs;
    while (Date.now() < deadline && tree.some((p) => isProcessAlive(p.pid, p.startTime))) await sleep(50);
    const left = tree.filter((p) => isProcessAlive(p.pid, p.startTime));
    for (const p of left) signalProcess(p.pid, 'SIGKILL');
    while (left.some((p) => isProcessAlive(p.pid, p.startTime))) await sleep(20);
    u.pid = null;
    u.startTime = null;
  }

  private readState(): { spec: UnitSpec; pid: number | null; startTime: number | null; startedAt: string | null; restarts: number }[] {
    try {
      const raw = JSON.parse(readFileSync(this.stateFile, 'utf8')) as { version: number; units: unknown[] };
      if (raw.version !== 1 || !Array.isArray(raw.units)) return [];
      return raw.units as ReturnType<Supervisor['readState']>;
    } catch {
      return [];
    }
  }

  private save(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // A unit being stopped stays listed until it is gone: an agent that dies meanwhile adopts it.
    const units = [...this.units.values()].map((u) => ({
      spec: u.spec,
      pid: u.pid,
      startTime: u.startTime,
      startedAt: u.startedAt,
      restarts: u.restarts,
    }));
    const tmp = `${this.stateFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ version: 1, units }, null, 1), { mode: 0o600 });
    renameSync(tmp, this.stateFile);
  }
}

function view(u: Unit): UnitView {
  return {
    name: u.spec.name,
    kind: u.spec.kind,
    status: u.status,
    pid: u.pid,
    startedAt: u.startedAt,
    restarts: u.restarts,
    lastExit: u.lastExit,
    adopted: u.adopted,
  };
}

/**
 * Is this live process the unit's: running as its uid, or still the root `setpriv` that is about
 * to become it (an agent that died within a moment of a start)? Starting such a unit again
 * would run two members under one name, which Patroni 3.0.2 does not guard against (D23).
 */
function ours(pid: number, uid: number): boolean {
  const now = processUid(pid);
  if (now === uid) return true;
  if (now !== 0) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]?.endsWith('setpriv') === true;
  } catch {
    return false;
  }
}

/**
 * A live process of the unit that no PID on record names: running as the unit's uid (or as the
 * root `setpriv` about to become it) with the unit's argv at the end of its command line (an
 * interpreted binary such as Patroni runs as `python3 <argv>`), and not a fork of such a
 * process (Patroni forks itself for a moment to start PostgreSQL).
 */
function unrecorded(spec: UnitSpec): { pid: number; startTime: number | null; startedAt: string | null } | null {
  const want = spec.argv.join('\0');
  const matches = new Map<number, number>();
  for (const pid of allPids()) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0$/, '');
      if (cmd !== want && !cmd.endsWith(`\0${want}`)) continue;
      if (!ours(pid, spec.uid) || !isProcessAlive(pid)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      matches.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  // The oldest, should there be more than one (never by this agent: it starts none meanwhile).
  const top = [...matches.keys()]
    .filter((pid) => !matches.has(matches.get(pid)!))
    .map((pid) => ({ pid, startTime: processStartTime(pid) }))
    .sort((a, b) => (a.startTime ?? 0) - (b.startTime ?? 0));
  return top[0] ? { ...top[0], startedAt: null } : null;
}

function sameSpec(a: UnitSpec, b: UnitSpec): boolean {
  return canonical(a) === canonical(b);
}

/** JSON with object keys sorted, so two equal specs compare equal whatever order their keys came in. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
