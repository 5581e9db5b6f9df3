/**
 * The initdb pool (issue 14, D30): stopped, freshly initialised data directories kept ready
 * per node type on this host, so that a new cluster's primary is a rename instead of an
 * `initdb` (the slowest part of a create). A pool, not one template: every directory comes
 * from its own `initdb`, so no two clusters share a system identifier (PostgreSQL 15 cannot
 * change one).
 *
 * Layout, under the pool's directory (`<dataDir>/pool/` unless `initdbPoolDir` names another;
 * root's, 0711: traversable, not listable):
 *   `<node type>-<key>/`               root's, 0711; the key hashes what initdb bakes in (the
 *                                      PostgreSQL version, initdb's arguments, the node type,
 *                                      fsync): a change of any of them makes a new key, and the
 *                                      filler removes directories of keys no longer current
 *   `<node type>-<key>/<id>-<pid>.part/data` being made by process `pid`: `initdb` as the
 *                                      pool's OS user (the dwsbox service user, D32; no
 *                                      tenant's), parent 0711 so it can reach it
 *   `<node type>-<key>/<id>/`          ready: root's, 0700 (nobody else can enter), holding
 *                                      `data/` (the pool user's, 0700) and `manifest.json`
 *                                      (every path, its kind, size and mode, and pg_controldata's
 *                                      identifier and checkpoint)
 *   `claimed-<pid>-<id>/`              one being taken by process `pid` (root's, 0700)
 *   `filler.lock`                      held (flock) by the one filler at work
 *
 * Taking one (`take`): a ready entry is renamed to `claimed-<pid>-<id>` (atomic), checked (its files
 * against the manifest, every one owned by the pool user and none a link, pg_controldata:
 * `shut down`, the same identifier and checkpoint, the same version), given to the project's
 * user by `lchown` while only root can reach it (root never follows a tenant's path, D32),
 * then renamed to where the caller wants it. A failed check removes the entry and tries the
 * next one; an empty pool returns null (the caller runs initdb itself).
 *
 * The filler: started with the service (`start`), it tops up each wanted node type's pool
 * to `size` one `initdb` at a time (the default node type, those that have a pool directory
 * here, and any a create asked for), wakes after each take and looks again every second, and
 * is stopped with the service (`stop`: its initdb is killed, waited for, and unfinished
 * entries removed). `size` 0 disables it all. Its initdb runs like every tool (pg-exec:
 * `--pdeathsig=KILL`), so it dies with the service; a crash leaves at most a `.part` or
 * `claimed-` directory, which the next filler removes.
 *
 * One pool per host: several services (the processes of a test run, or of one host) may
 * share one directory. Takes are atomic across them (the rename out of the key directory
 * succeeds for one taker only); the fillers take turns under `filler.lock` (an flock held
 * through a descriptor, so a crashed holder releases it), each checking again under the lock
 * what is short, so the pool never grows past `size`; leftovers are removed only when their
 * process is gone, never another live process's work in flight.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lchownSync, lstatSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_NODE_TYPE, NODE_TYPES, findNodeType } from '../../domain/node-types.js';
import type { Logger } from '../../log/logger.js';
import type { Binaries } from '../binaries.js';
import { isRoot, type OsUser } from '../os-user.js';
import { acquireLock, baseEnv, runTool } from '../pg-exec.js';
import { isProcessAlive } from '../process-info.js';
import { INITDB_ARGS, PgInstance } from '../pg-instance.js';
import { ensureServiceUser } from '../project-users.js';
import { mkdirSafe, mkdirsSafe, readFileSafe, removeTree, serviceOwner, writeFileSafe } from '../safe-fs.js';

/** Bump when what a pooled directory holds changes (its key changes, old entries are rebuilt). */
const POOL_FORMAT = 1;

export interface PoolSettings {
  dataDir: string;
  /** the pool's directory; `<dataDir>/pool` when absent. Several services of one host may share one. */
  dir?: string;
  /** ready directories kept per node type; 0 disables the pool */
  size: number;
  /** copies of each ready directory made with it, for a new cluster's standbys (2: a 3-node cluster's) */
  copies: number;
  /** initdb --no-sync (TEST ONLY, unsafeNoFsync; D20) */
  noSync: boolean;
  /**
   * The settings pg_control records (max_connections, max_wal_senders, wal_level, …) that a
   * node type's members run with: baked in at the first (single-user) start, since a hot
   * standby refuses to start with a lower setting than its copy's pg_control holds.
   */
  controlSettings: (nodeType: string) => Record<string, string | number | boolean>;
}

/** The settings pg_control records, which a hot standby must match or exceed (PostgreSQL 15, CheckRequiredParameterValues). */
export const CONTROL_SETTINGS = [
  'max_connections',
  'max_worker_processes',
  'max_wal_senders',
  'max_prepared_transactions',
  'max_locks_per_transaction',
  'wal_level',
  'wal_log_hints',
  'track_commit_timestamp',
] as const;

/**
 * Record `settings` in a stopped data directory's pg_control: one single-user start (which
 * writes them at start-up, XLogReportParameters) and its shutdown checkpoint; about 50 ms.
 * Run as the directory's owner.
 */
export async function bakeControl(
  bins: Binaries,
  dataDir: string,
  os: OsUser,
  settings: Record<string, string | number | boolean>,
  o: { signal?: AbortSignal; lockFile?: string } = {},
): Promise<void> {
  const args = ['--single', '-D', dataDir];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${String(v)}`);
  args.push('postgres');
  await runTool({
    cmd: join(bins.binDir, 'postgres'),
    args,
    env: baseEnv(),
    runAs: os,
    stdin: '',
    label: 'postgres --single',
    timeoutMs: 120_000,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.lockFile ? { lockFile: o.lockFile } : {}),
  });
}

/** What pg_controldata says about a stopped data directory. */
export interface ControlData {
  systemIdentifier: string;
  state: string;
  checkpoint: string;
  redo: string;
  controlVersion: string;
  catalogVersion: string;
  maxConnections: string;
  maxWalSenders: string;
  maxWorkerProcesses: string;
  maxPreparedXacts: string;
  maxLocksPerXact: string;
}

interface ManifestEntry {
  path: string;
  kind: 'd' | 'f';
  size: number;
  mode: number;
}

interface Manifest {
  key: string;
  pgVersion: string;
  control: ControlData;
  files: ManifestEntry[];
  /** copies beside `data`: `copy1` … */
  copies: number;
}

/** A directory taken from the pool: renamed into place, owned by the project's user. */
export interface Taken {
  control: ControlData;
  /** how many of the requested copies came with it (the first ones) */
  copies: number;
}

/** Parse pg_controldata's output (C locale). */
export function parseControlData(text: string): ControlData {
  const field = (name: string): string => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}:`));
    return line ? line.slice(name.length + 1).trim() : '';
  };
  return {
    systemIdentifier: field('Database system identifier'),
    state: field('Database cluster state'),
    checkpoint: field('Latest checkpoint location'),
    redo: field("Latest checkpoint's REDO location"),
    controlVersion: field('pg_control version number'),
    catalogVersion: field('Catalog version number'),
    maxConnections: field('max_connections setting'),
    maxWalSenders: field('max_wal_senders setting'),
    maxWorkerProcesses: field('max_worker_processes setting'),
    maxPreparedXacts: field('max_prepared_xacts setting'),
    maxLocksPerXact: field('max_locks_per_xact setting'),
  };
}

/**
 * pg_controldata of `dataDir`, run as `os`: a tenant's directory is read as its owner (root never
 * reads a tenant's files by path, D32); null runs it as the service (a claimed pool entry,
 * which only root can reach).
 */
export async function controlData(
  bins: Binaries,
  dataDir: string,
  os: OsUser | null,
  o: { signal?: AbortSignal; lockFile?: string } = {},
): Promise<ControlData> {
  const r = await runTool({
    cmd: join(bins.binDir, 'pg_controldata'),
    args: ['-D', dataDir],
    env: baseEnv(),
    ...(os ? { runAs: os } : {}),
    label: 'pg_controldata',
    timeoutMs: 30_000,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.lockFile ? { lockFile: o.lockFile } : {}),
  });
  return parseControlData(r.stdout);
}

/**
 * Flush a copied data directory to disk as PostgreSQL's tools do for what they write
 * (`initdb --sync-only`: every file and directory of it, nothing else of the filesystem;
 * pg_basebackup does the same for its copies, D20). Run as the directory's owner.
 */
export async function syncDataDir(
  bins: Binaries,
  dataDir: string,
  os: OsUser,
  o: { signal?: AbortSignal; lockFile?: string } = {},
): Promise<void> {
  await runTool({
    cmd: join(bins.binDir, 'initdb'),
    args: ['--sync-only', '-D', dataDir],
    env: baseEnv(),
    runAs: os,
    label: 'initdb --sync-only',
    timeoutMs: 600_000,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.lockFile ? { lockFile: o.lockFile } : {}),
  });
}

export class InitdbPool {
  private filling: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private wake: (() => void) | null = null;
  private readonly wanted = new Set<string>([DEFAULT_NODE_TYPE]);
  /** the entry the filler is making now, by node type */
  private readonly inflight = new Map<string, Promise<void>>();
  private poolUser: OsUser | null = null;

  constructor(
    readonly settings: PoolSettings,
    private readonly bins: Binaries,
    private readonly log: Logger,
  ) {}

  get root(): string {
    return this.settings.dir ?? join(this.settings.dataDir, 'pool');
  }

  /** The pool directory of a node type: its name, then a hash of what initdb bakes in. */
  keyDir(nodeType: string): string {
    const nt = findNodeType(nodeType);
    const key = createHash('sha256')
      .update(
        JSON.stringify({
          format: POOL_FORMAT,
          pg: this.bins.pgVersion,
          binDir: this.bins.binDir,
          args: INITDB_ARGS,
          noSync: this.settings.noSync,
          nodeType,
          settings: nt?.settings ?? null,
          control: nt ? this.settings.controlSettings(nodeType) : null,
          copies: this.settings.copies,
        }),
      )
      .digest('hex')
      .slice(0, 16);
    return join(this.root, `${nodeType}-${key}`);
  }

  /** Ready entries of a node type, oldest first. */
  ready(nodeType: string): string[] {
    const dir = this.keyDir(nodeType);
    return readdirSafe(dir)
      .filter((n) => /^[0-9a-f]{16}$/.test(n))
      .map((n) => ({ n, t: lstatSync(join(dir, n), { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
      .sort((a, b) => a.t - b.t)
      .map((x) => join(dir, x.n));
  }

  /** Start the filler (idempotent); removes what a crash or an older key left first. */
  start(): void {
    if (this.settings.size <= 0 || this.filling) return;
    const abort = new AbortController();
    this.abort = abort;
    this.filling = this.fillLoop(abort.signal).catch((e: unknown) => {
      this.log.warn('initdb pool filler ended', { error: (e as Error).message });
    });
  }

  /** Stop the filler: its initdb is killed and waited for, unfinished entries removed. Idempotent. */
  async stop(): Promise<void> {
    const f = this.filling;
    if (!f) return;
    this.abort?.abort(new Error('the service is stopping'));
    this.wake?.();
    await f;
    this.filling = null;
    this.abort = null;
    await this.sweep(false);
  }

  /** Ask the filler to keep this node type's pool full too, and to look again now. */
  kick(nodeType: string): void {
    if (this.settings.size <= 0) return;
    this.wanted.add(nodeType);
    this.wake?.();
  }

  /**
   * Take a ready directory for `nodeType`, checked, owned by `os` and renamed to `dest`,
   * and as many of its copies as it has to `copyDests` (none of them may exist; their
   * parents are root's). Null when none passes its check (the caller runs initdb); then the
   * filler is asked to make more.
   */
  async take(nodeType: string, os: OsUser, dest: string, copyDests: string[], o: { signal?: AbortSignal } = {}): Promise<Taken | null> {
    if (this.settings.size <= 0) return null;
    try {
      // None ready but one being made: waiting for it costs less than making another beside it (the same work, already begun).
      if (!this.ready(nodeType).length) await this.waitForOneInMaking(nodeType, o.signal);
      for (const entry of this.ready(nodeType)) {
        const claimed = join(this.root, `claimed-${process.pid}-${randomBytes(8).toString('hex')}`);
        try {
          renameSync(entry, claimed);
        } catch {
          continue; // taken by another
        }
        let checked: { control: ControlData; trees: string[] };
        try {
          const { control, copies } = await this.check(nodeType, claimed, o);
          const trees = ['data', ...Array.from({ length: Math.min(copies, copyDests.length) }, (_, i) => `copy${i + 1}`)];
          if (isRoot()) for (const t of trees) chownTree(join(claimed, t), os);
          checked = { control, trees };
        } catch (e) {
          this.log.warn('a pooled data directory failed its check; removed', { entry, error: (e as Error).message });
          await removeTree(claimed);
          continue;
        }
        // A failed rename is the caller's failure (its step runs again), never a reason to spend the next entry.
        try {
          checked.trees.forEach((t, i) => renameSync(join(claimed, t), i === 0 ? dest : copyDests[i - 1]!));
        } finally {
          await removeTree(claimed);
        }
        return { control: checked.control, copies: checked.trees.length - 1 };
      }
      return null;
    } finally {
      this.kick(nodeType);
    }
  }

  /**
   * Wait (at most two minutes) while an entry of this node type is being made: by this
   * process's filler (its promise), or by another process's on a shared pool (a `.part` of a
   * live process in the key directory).
   */
  private async waitForOneInMaking(nodeType: string, signal?: AbortSignal): Promise<void> {
    const making = this.inflight.get(nodeType);
    if (making)
      return abortable(
        making.catch(() => {}),
        signal,
      );
    const dir = this.keyDir(nodeType);
    const deadline = Date.now() + 120_000;
    while (!this.ready(nodeType).length && Date.now() < deadline) {
      if (!readdirSafe(dir).some((n) => n.endsWith('.part') && processAlive(pidOf(n)))) return;
      await abortable(sleep(100), signal);
    }
  }

  /** Check a claimed entry (only root can reach it): its files against its manifest, its owner, pg_controldata. */
  private async check(nodeType: string, entry: string, o: { signal?: AbortSignal }): Promise<{ control: ControlData; copies: number }> {
    const text = readFileSafe(join(entry, 'manifest.json'));
    if (!text) throw new Error('no manifest');
    const m = JSON.parse(text) as Manifest;
    const key = this.keyDir(nodeType).split('/').pop();
    if (m.key !== key || m.pgVersion !== this.bins.pgVersion) throw new Error(`made for ${m.key} (${m.pgVersion})`);
    const owner = await this.owner();
    const want = new Map(m.files.map((f) => [f.path, f]));
    let control: ControlData | null = null;
    for (const tree of ['data', ...Array.from({ length: m.copies }, (_, i) => `copy${i + 1}`)]) {
      const dir = join(entry, tree);
      const files = walk(dir, owner.uid);
      if (files.length !== want.size) throw new Error(`${tree}: ${files.length} files, the manifest lists ${want.size}`);
      for (const f of files) {
        const w = want.get(f.path);
        if (!w || w.kind !== f.kind || w.mode !== f.mode || (f.kind === 'f' && w.size !== f.size))
          throw new Error(`${tree}/${f.path} differs`);
      }
      const c = await controlData(this.bins, dir, null, o);
      if (JSON.stringify(c) !== JSON.stringify(m.control) || c.state !== 'shut down')
        throw new Error(`${tree}: pg_controldata says ${c.state}, ${c.systemIdentifier} at ${c.checkpoint}`);
      if (readFileSafe(join(dir, 'PG_VERSION'))?.trim() !== this.bins.pgVersion.split('.')[0])
        throw new Error(`${tree}: PG_VERSION differs`);
      control = c;
    }
    return { control: control!, copies: m.copies };
  }

  /** The OS user pooled directories belong to until taken: the dwsbox service user (the service's own user when not root). */
  private async owner(): Promise<OsUser> {
    this.poolUser ??= await ensureServiceUser();
    return this.poolUser;
  }

  /** Make one ready entry for a node type. */
  async makeOne(nodeType: string, signal?: AbortSignal): Promise<void> {
    const owner = await this.owner();
    const root = serviceOwner();
    mkdirsSafe(this.root, root, 0o711);
    const dir = this.keyDir(nodeType);
    mkdirSafe(dir, root, 0o711);
    const id = randomBytes(8).toString('hex');
    const part = join(dir, `${id}-${process.pid}.part`);
    mkdirSafe(part, root, 0o711);
    try {
      const data = join(part, 'data');
      const inst = new PgInstance({ os: owner, dataDir: data, sockDir: '', host: '', port: 0, logFile: '' }, this.bins, this.log);
      const sig = signal ? { signal } : {};
      await inst.initdb({ noSync: this.settings.noSync, ...sig });
      await bakeControl(this.bins, data, owner, this.settings.controlSettings(nodeType), sig);
      const control = await controlData(this.bins, data, owner, sig);
      if (control.state !== 'shut down' || !control.systemIdentifier) throw new Error(`initdb left ${control.state}`);
      for (let i = 1; i <= this.settings.copies; i++) {
        const copy = join(part, `copy${i}`);
        mkdirSafe(copy, { uid: owner.uid, gid: owner.gid }, 0o700);
        await runTool({
          cmd: 'cp',
          args: ['-a', '--', `${data}/.`, copy],
          env: baseEnv(),
          runAs: owner,
          label: 'cp',
          timeoutMs: 600_000,
          ...sig,
        });
      }
      if (!this.settings.noSync) {
        await Promise.all(
          Array.from({ length: this.settings.copies }, (_, i) => syncDataDir(this.bins, join(part, `copy${i + 1}`), owner, sig)),
        );
      }
      const manifest: Manifest = {
        key: dir.split('/').pop()!,
        pgVersion: this.bins.pgVersion,
        control,
        files: walk(data, owner.uid),
        copies: this.settings.copies,
      };
      writeFileSafe(join(part, 'manifest.json'), JSON.stringify(manifest), root, 0o600);
      // Ready: only root can enter it from now on.
      chmodSync(part, 0o700);
      renameSync(part, join(dir, id));
    } catch (e) {
      await removeTree(part);
      throw e;
    }
  }

  /** A wanted node type whose pool is short of `size`, if any. */
  private short(): string | undefined {
    return [...this.wanted].find((nt) => this.ready(nt).length < this.settings.size);
  }

  /** Wait for a kick, a stop, or `ms` (another process's take on a shared pool wakes no one here). */
  private async idle(ms: number): Promise<void> {
    await new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
    this.wake = null;
  }

  /**
   * Run `fn` as the pool's one filler: first in this process (services in one process may share
   * the pool), then across processes (`filler.lock`, an flock through a descriptor: a crashed
   * holder's lock is released with it).
   */
  private async asTheFiller<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const prev = localFillers.get(this.root) ?? Promise.resolve();
    let done!: () => void;
    const turn = new Promise<void>((r) => (done = r));
    // The next filler waits for the one before this and for this one, even when this one gives up waiting.
    const mine = prev.then(() => turn);
    localFillers.set(this.root, mine);
    try {
      await abortable(prev, signal);
      mkdirsSafe(this.root, serviceOwner(), 0o711);
      const lock = await acquireLock(join(this.root, FILLER_LOCK), { signal, timeoutMs: 3_600_000, label: 'initdb pool filler' });
      try {
        return await fn();
      } finally {
        await lock.release();
      }
    } finally {
      done();
      void mine.then(() => {
        if (localFillers.get(this.root) === mine) localFillers.delete(this.root);
      });
    }
  }

  private async fillLoop(signal: AbortSignal): Promise<void> {
    try {
      await this.asTheFiller(signal, () => this.sweep(true));
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
    for (const n of readdirSafe(this.root)) {
      const nt = NODE_TYPES.find((t) => n.startsWith(`${t.specName}-`));
      if (nt) this.wanted.add(nt.specName);
    }
    let failures = 0;
    while (!signal.aborted) {
      if (!this.short()) {
        await this.idle(LOOK_AGAIN_MS);
        continue;
      }
      let nodeType: string | undefined;
      try {
        await this.asTheFiller(signal, async () => {
          // Again under the lock: another process's filler may have filled it meanwhile.
          nodeType = this.short();
          if (!nodeType) return;
          const making = this.makeOne(nodeType, signal);
          this.inflight.set(nodeType, making);
          try {
            await making;
          } finally {
            this.inflight.delete(nodeType);
          }
        });
        failures = 0;
      } catch (e) {
        if (signal.aborted) break;
        failures++;
        this.log.warn('initdb pool: could not make a data directory', { nodeType, error: (e as Error).message });
        // Back off (at most a minute) so a broken host does not spin; a stop ends the wait.
        await this.idle(Math.min(60_000, 1000 * 2 ** failures));
      }
    }
  }

  /**
   * Remove what is not a ready entry of a current key: `.part` and `claimed-` leftovers of
   * processes that are gone (never this process's or another live one's: their work is in
   * flight), and (`keys`, run by the filler under its lock) the directories of keys that are
   * no longer current (PostgreSQL or the settings changed).
   */
  private async sweep(keys: boolean): Promise<void> {
    if (!existsSync(this.root)) return;
    const current = new Set(NODE_TYPES.map((t) => this.keyDir(t.specName).split('/').pop()));
    for (const n of readdirSafe(this.root)) {
      if (n === FILLER_LOCK) continue;
      const p = join(this.root, n);
      if (n.startsWith('claimed-')) {
        if (!processAlive(pidOf(n))) await removeTree(p);
        continue;
      }
      if (keys && !current.has(n)) {
        await removeTree(p);
        continue;
      }
      for (const e of readdirSafe(p)) if (e.endsWith('.part') && !processAlive(pidOf(e))) await removeTree(join(p, e));
    }
  }
}

const FILLER_LOCK = 'filler.lock';
/** How often an idle filler looks at its pool again (another process may have taken from it). */
const LOOK_AGAIN_MS = 1000;
/** The filler's turn in this process, by pool directory (services of one process may share a pool). */
const localFillers = new Map<string, Promise<void>>();

/** The PID a `claimed-<pid>-<id>` or `<id>-<pid>.part` name carries; null for a name without one (made before names carried it). */
function pidOf(name: string): number | null {
  const m = /^claimed-(\d+)-[0-9a-f]+$/.exec(name) ?? /^[0-9a-f]+-(\d+)\.part$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Is this process, or another one still alive, the one with this PID? (null: no PID, so a leftover) */
function processAlive(pid: number | null): boolean {
  return pid !== null && (pid === process.pid || isProcessAlive(pid));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Every entry under `dir` (itself included, as `.`), refusing anything but directories and
 * regular files owned by `uid` (no link is followed: lstat).
 */
function walk(dir: string, uid: number): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  const visit = (abs: string, rel: string): void => {
    const st = lstatSync(abs);
    if (st.uid !== uid) throw new Error(`${rel} is owned by uid ${st.uid}, not ${uid}`);
    if (st.isDirectory()) {
      out.push({ path: rel, kind: 'd', size: 0, mode: st.mode & 0o7777 });
      for (const n of readdirSync(abs).sort()) visit(join(abs, n), rel === '.' ? n : `${rel}/${n}`);
    } else if (st.isFile()) {
      out.push({ path: rel, kind: 'f', size: st.size, mode: st.mode & 0o7777 });
    } else {
      throw new Error(`${rel} is neither a directory nor a regular file`);
    }
  };
  visit(dir, '.');
  return out;
}

/**
 * Give a tree to `os` with lchown (never following a link). Safe only where no one but root
 * can reach the tree meanwhile (a claimed pool entry, 0700 root's): nobody can swap a
 * directory for a link under the walk.
 */
function chownTree(dir: string, os: OsUser): void {
  const visit = (p: string): void => {
    const st = lstatSync(p);
    lchownSync(p, os.uid, os.gid);
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
  };
  visit(dir);
}

/** `p`, or the signal's reason as soon as it aborts. */
function abortable(p: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function readdirSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}
