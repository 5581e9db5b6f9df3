/**
 * The test bed of D27: several "hosts" on this one machine, each a Linux network namespace.
 *
 * One bed per `TestBed.create`, with a run id of its own (6 hex characters) in every name it makes:
 * - `dws-<run>-br`, a namespace holding only the bridge `br0` (so no bridge and no sysctl change in
 *   the root namespace), with one port `p<i>` per host and `pr` towards the root namespace;
 * - `dws-<run>-h<i>`, one namespace per host: `lo` up and `eth0` (the peer of `p<i>`) with
 *   `198.18.K.(10+i)/24`, its connected route the only route (nothing outside the bed is reachable);
 * - `dws-<run>-r` in the root namespace, the peer of `pr`, with `198.18.K.1/24`: the control plane
 *   and the tests reach the hosts through it, and the hosts reach them at `198.18.K.1`.
 * Every interface name stays within Linux's 15 characters (IFNAMSIZ); names inside a bed's own
 * namespaces are private to it, so they are short and the same in every bed.
 *
 * K is the bed's subnet: parallel test files (vitest workers) and parallel runs each get their own,
 * chosen under a lock file from a registry (`TESTBED_REGISTRY/<run>.json`, one entry per bed) and
 * the root namespace's addresses. The entry is written before anything is made and removed after
 * everything is gone, so a namespace or link with no entry belongs to nobody. An entry names its
 * owner (the PID and start time of the process that made the bed, and its test run's directory):
 * a bed whose owner died is swept at the start of the next suite (`sweepTestBeds`), and the global
 * teardown's leak check (`testBedLeftovers`) fails on a bed of its own run or of a dead owner.
 *
 * Processes run in a host through `spawnIn`, each also in a private mount namespace, so nothing
 * passes between hosts through local paths; `destroy` stops them (and whatever they left in the
 * bed's namespaces) before it removes the namespaces, since a namespace with a process inside
 * outlives its name. Only addresses of 198.18.0.0/15 are ever made here.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processStartTime } from '../../src/dataplane/process-info.js';
import { withLock } from '../../src/dataplane/serial-lock.js';

/** The registry of beds: one `<run>.json` per bed, and the lock file the allocation holds. */
export const TESTBED_REGISTRY = '/run/dwsbox-testbed';
const LOCK = join(TESTBED_REGISTRY, 'lock');

/** The benchmarking range of D27; beds use 198.18.K.0/24, K in 0..255. */
const PREFIX = '198.18';
const RUN_NAME = /^dws-([0-9a-f]{6})-/;

export interface TestBedHost {
  /** `h1`…`hN`. */
  name: string;
  /** Its network namespace, `dws-<run>-h<i>`. */
  ns: string;
  /** `198.18.K.(10+i)`. */
  address: string;
}

/** What the registry holds of a bed (`<run>.json`). */
export interface TestBedEntry {
  run: string;
  /** The owner: the process that made the bed, and its start time (clock ticks since boot, /proc/<pid>/stat). */
  pid: number;
  pidStart: string;
  /** The owner's test run directory (DWSBOX_TEST_ROOT), when it ran under vitest's global setup. */
  owner: string | null;
  /** `198.18.K.0/24`. */
  subnet: string;
  namespaces: string[];
  /** The bed's links in the root namespace. */
  links: string[];
}

export interface TestBedLeftover {
  kind: 'registry entry' | 'namespace' | 'link' | 'address';
  name: string;
  /** Why it counts: its owner died, it is of the given run, or nobody claims it. */
  why: string;
}

// ---------------------------------------------------------------------------------------------
// Small tools

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `ip …` on something that may already be gone: false instead of an error. */
function tryIp(args: string[]): boolean {
  try {
    ip(args);
    return true;
  } catch {
    return false;
  }
}

/** A process's start time as the registry records it, or null when it is gone. */
function startTime(pid: number): string | null {
  const t = processStartTime(pid);
  return t === null ? null : String(t);
}

/** The entry's owner still runs: same PID, same start time (a reused PID is not the owner). */
function ownerAlive(e: TestBedEntry): boolean {
  return startTime(e.pid) === e.pidStart;
}

function readEntries(): TestBedEntry[] {
  if (!existsSync(TESTBED_REGISTRY)) return [];
  const entries: TestBedEntry[] = [];
  for (const f of readdirSync(TESTBED_REGISTRY)) {
    if (!f.endsWith('.json')) continue;
    try {
      entries.push(JSON.parse(readFileSync(join(TESTBED_REGISTRY, f), 'utf8')) as TestBedEntry);
    } catch {
      // Half written (its writer was killed): an entry with no owner, the sweep removes it.
      entries.push({ run: f.slice(0, -5), pid: 0, pidStart: '', owner: null, subnet: '', namespaces: [], links: [] });
    }
  }
  return entries;
}

function entryFile(run: string): string {
  return join(TESTBED_REGISTRY, `${run}.json`);
}

/** The network namespaces of this machine named `dws-*`. */
function bedNamespaces(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith('dws-'));
}

/** The root namespace's links (every one), with their IPv4 addresses. */
function rootLinks(): { name: string; addresses: string[] }[] {
  // Not `-4`: that leaves out the links without an IPv4 address (a bed's link killed half made).
  const links = JSON.parse(ip(['-j', 'addr', 'show'])) as { ifname: string; addr_info?: { family: string; local: string }[] }[];
  return links.map((l) => ({ name: l.ifname, addresses: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local) }));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL to those still there after `graceMs`: PIDs that are the bed's (see callers). */
async function killPids(pids: number[], graceMs = 3000): Promise<void> {
  const signal = (pid: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // Gone already.
    }
  };
  for (const p of pids) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some((p) => existsSync(`/proc/${p}`)) && Date.now() < deadline) await sleep(50);
  const left = pids.filter((p) => existsSync(`/proc/${p}`));
  for (const p of left) signal(p, 'SIGKILL');
  // Until reaped (a child of this process is, by its event loop), so that callers find it gone.
  const reaped = Date.now() + 2000;
  while (left.some((p) => existsSync(`/proc/${p}`)) && Date.now() < reaped) await sleep(50);
}

/** The processes inside a namespace (none when it is gone). */
function pidsIn(ns: string): number[] {
  try {
    return ip(['netns', 'pids', ns])
      .split('\n')
      .filter((l) => /^\d+$/.test(l.trim()))
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Remove what a registry entry names, and the entry: processes still in its namespaces (the bed's,
 * or their children), its root links, then the namespaces (deleting a namespace deletes its end of
 * each veth pair, and so the other end), then the entry. Nothing that is already gone is an error.
 */
async function removeBed(e: TestBedEntry): Promise<void> {
  await killPids(e.namespaces.flatMap(pidsIn));
  for (const l of e.links) tryIp(['link', 'del', l]);
  for (const ns of e.namespaces) tryIp(['netns', 'del', ns]);
  rmSync(entryFile(e.run), { force: true });
}

function lockedRegistry<T>(label: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(TESTBED_REGISTRY, { recursive: true, mode: 0o755 });
  return withLock(LOCK, label, fn);
}

// ---------------------------------------------------------------------------------------------
// The bed

export class TestBed {
  readonly hosts: TestBedHost[];
  /** `198.18.K.1`, the root namespace's address on the bed. */
  readonly rootAddress: string;
  /** `198.18.K.0/24`. */
  readonly subnet: string;
  private readonly procs = new Set<ChildProcess>();
  private destroyed: Promise<void> | null = null;

  private constructor(private readonly entry: TestBedEntry) {
    const k = entry.subnet.split('.')[2];
    this.subnet = entry.subnet;
    this.rootAddress = `${PREFIX}.${k}.1`;
    this.hosts = entry.namespaces
      .filter((ns) => /-h\d+$/.test(ns))
      .map((ns, i) => ({ name: `h${i + 1}`, ns, address: `${PREFIX}.${k}.${11 + i}` }));
  }

  get run(): string {
    return this.entry.run;
  }

  /** A bed of `hosts` hosts (1–200), wired and up. A bed half made when something fails is removed. */
  static async create(o: { hosts: number }): Promise<TestBed> {
    if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > 200) throw new Error(`a test bed has 1 to 200 hosts, not ${o.hosts}`);
    const entry = await lockedRegistry('test bed', async () => {
      const entries = readEntries();
      const names = new Set([...bedNamespaces(), ...rootLinks().map((l) => l.name)].map((n) => RUN_NAME.exec(n)?.[1]));
      let run: string;
      do run = randomBytes(3).toString('hex');
      while (names.has(run) || entries.some((e) => e.run === run));
      // Every entry holds its subnet until it is removed (a dead owner's too, until the sweep), and
      // an address of the range on a root link (anyone's) keeps its /24 out of use.
      const used = new Set(entries.map((e) => e.subnet.split('.')[2]));
      for (const l of rootLinks()) for (const a of l.addresses) if (a.startsWith(`${PREFIX}.`)) used.add(a.split('.')[2]);
      const k = Array.from({ length: 256 }, (_, i) => i).find((i) => !used.has(String(i)));
      if (k === undefined) throw new Error(`every test bed subnet of ${PREFIX}.0.0/16 is taken (see ${TESTBED_REGISTRY})`);
      const self = startTime(process.pid);
      const e: TestBedEntry = {
        run,
        pid: process.pid,
        pidStart: self ?? '',
        owner: process.env['DWSBOX_TEST_ROOT'] ?? null,
        subnet: `${PREFIX}.${k}.0/24`,
        namespaces: [`dws-${run}-br`, ...Array.from({ length: o.hosts }, (_, i) => `dws-${run}-h${i + 1}`)],
        links: [`dws-${run}-r`],
      };
      // Written before anything is made: a namespace of the bed never exists without its entry.
      // Whole or not at all (a rename), since the leak check reads entries without the lock.
      writeFileSync(`${entryFile(run)}.tmp`, JSON.stringify(e, null, 2) + '\n', { mode: 0o644 });
      renameSync(`${entryFile(run)}.tmp`, entryFile(run));
      return e;
    });
    const bed = new TestBed(entry);
    try {
      bed.wire();
    } catch (err) {
      await bed.destroy();
      throw err;
    }
    return bed;
  }

  /** Make the namespaces, the bridge, the veth pairs and the addresses (see the header). */
  private wire(): void {
    const [br, ...hostNs] = this.entry.namespaces as [string, ...string[]];
    const rootLink = this.entry.links[0]!;
    for (const ns of this.entry.namespaces) ip(['netns', 'add', ns]);
    ip(['-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', br, 'link', 'set', 'br0', 'up']);
    hostNs.forEach((ns, i) => {
      const port = `p${i + 1}`;
      ip(['-n', br, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['-n', br, 'link', 'set', port, 'master', 'br0']);
      ip(['-n', br, 'link', 'set', port, 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', ns, 'addr', 'add', `${this.hosts[i]!.address}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    });
    // The root side: made in the root namespace with its peer moved straight into the bridge's.
    ip(['link', 'add', rootLink, 'type', 'veth', 'peer', 'name', 'pr', 'netns', br]);
    ip(['-n', br, 'link', 'set', 'pr', 'master', 'br0']);
    ip(['-n', br, 'link', 'set', 'pr', 'up']);
    ip(['addr', 'add', `${this.rootAddress}/24`, 'dev', rootLink]);
    ip(['link', 'set', rootLink, 'up']);
  }

  private host(h: TestBedHost | string): TestBedHost {
    const name = typeof h === 'string' ? h : h.name;
    const found = this.hosts.find((x) => x.name === name);
    if (!found) throw new Error(`test bed ${this.run} has no host ${name}`);
    return found;
  }

  /** Run a command in the host's network namespace and return its stdout (throws on a non-zero exit). */
  exec(h: TestBedHost | string, cmd: string, args: string[] = [], o: { timeoutMs?: number; input?: string } = {}): string {
    return execFileSync('ip', ['netns', 'exec', this.host(h).ns, cmd, ...args], {
      encoding: 'utf8',
      timeout: o.timeoutMs ?? 30_000,
      input: o.input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** `exec` that leaves this process's event loop running (e.g. to reach a server of the test itself). */
  execAsync(h: TestBedHost | string, cmd: string, args: string[] = [], o: { timeoutMs?: number } = {}): Promise<string> {
    const ns = this.host(h).ns;
    return new Promise((resolve, reject) => {
      execFile('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: o.timeoutMs ?? 30_000 }, (err, stdout, stderr) => {
        if (err) reject(Object.assign(err, { stdout, stderr }));
        else resolve(stdout);
      });
    });
  }

  /**
   * Start a long-lived process in the host's network namespace and a private mount namespace of
   * its own (`ip netns exec` and `unshare` both exec, so the child's PID is the command's). The
   * bed keeps it and `destroy` stops it.
   */
  spawnIn(h: TestBedHost | string, cmd: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
    if (this.destroyed) throw new Error(`test bed ${this.run} is destroyed`);
    const child = spawn('ip', ['netns', 'exec', this.host(h).ns, 'unshare', '--mount', '--propagation', 'private', cmd, ...args], opts);
    this.procs.add(child);
    child.once('exit', () => this.procs.delete(child));
    // A failed spawn emits 'error' and no 'exit'.
    child.once('error', () => this.procs.delete(child));
    return child;
  }

  /** Cut the host off the bridge: its port goes down, and its `eth0` loses the carrier. */
  isolate(h: TestBedHost | string): void {
    ip(['-n', this.entry.namespaces[0]!, 'link', 'set', `p${this.hosts.indexOf(this.host(h)) + 1}`, 'down']);
  }

  /** Plug the host back in (undoes `isolate`). */
  heal(h: TestBedHost | string): void {
    ip(['-n', this.entry.namespaces[0]!, 'link', 'set', `p${this.hosts.indexOf(this.host(h)) + 1}`, 'up']);
  }

  /**
   * Stop the processes the bed started (SIGTERM, SIGKILL after 3 s) and whatever is still inside
   * its namespaces (their children), then remove the namespaces, the root link and the entry.
   * Idempotent; nothing already gone is an error.
   */
  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      const children = [...this.procs].filter((c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null);
      await killPids(children.map((c) => c.pid!));
      await removeBed(this.entry);
    })();
    return this.destroyed;
  }
}

// ---------------------------------------------------------------------------------------------
// Sweep and leak check

/**
 * What is left of beds: registry entries whose owner died (or, with `run`, whose owner's test run
 * directory is `run`), and the `dws-*` namespaces, the `dws*` root links and the root addresses of
 * 198.18.0.0/15 that no other entry claims. Read only: beds of live owners are never named.
 */
export function testBedLeftovers(run?: string): TestBedLeftover[] {
  const out: TestBedLeftover[] = [];
  const namespaces = bedNamespaces();
  const links = rootLinks();
  const claimed = new Set<string>();
  for (const e of readEntries()) {
    const why = !ownerAlive(e) ? `its owner (pid ${e.pid}) died` : run !== undefined && e.owner === run ? 'it is of this run' : null;
    claimed.add(e.run);
    if (!why) continue;
    out.push({ kind: 'registry entry', name: entryFile(e.run), why });
    for (const ns of e.namespaces.filter((n) => namespaces.includes(n))) out.push({ kind: 'namespace', name: ns, why });
    for (const l of e.links.filter((n) => links.some((x) => x.name === n))) out.push({ kind: 'link', name: l, why });
  }
  const unclaimed = (n: string): boolean => !claimed.has(RUN_NAME.exec(n)?.[1] ?? '');
  for (const ns of namespaces.filter(unclaimed)) out.push({ kind: 'namespace', name: ns, why: 'no registry entry claims it' });
  // Only the beds' own links (`dws-*`): an address of the range on a link of someone else's is not ours to judge.
  for (const l of links.filter((x) => x.name.startsWith('dws-') && unclaimed(x.name)))
    out.push({ kind: 'link', name: l.name, why: 'no registry entry claims it' });
  // A bed destroyed while this ran removes its entry after its namespaces and link: what was
  // unclaimed only because of that is gone now.
  const nowNs = bedNamespaces();
  const nowLinks = rootLinks();
  return out.filter((x) =>
    x.kind === 'namespace' ? nowNs.includes(x.name) : x.kind === 'link' ? nowLinks.some((l) => l.name === x.name) : true,
  );
}

/**
 * Remove beds whose owner died (with `run`, also those of that test run: its teardown), and the
 * `dws-*` namespaces and root links no registry entry claims (a run killed between making them and
 * removing its entry cannot leave any, but an entry removed by hand can). Under the registry's lock,
 * so no bed is half made meanwhile. Returns the names removed.
 */
export async function sweepTestBeds(run?: string): Promise<string[]> {
  return lockedRegistry('test bed sweep', async () => {
    const removed: string[] = [];
    const entries = readEntries();
    for (const e of entries) {
      if (ownerAlive(e) && (run === undefined || e.owner !== run)) continue;
      const present = new Set([...bedNamespaces(), ...rootLinks().map((l) => l.name)]);
      removed.push(...[...e.namespaces, ...e.links].filter((n) => present.has(n)), entryFile(e.run));
      await removeBed(e);
    }
    // An entry's writer killed before its rename (under the lock, which this sweep holds now).
    for (const f of readdirSync(TESTBED_REGISTRY).filter((x) => x.endsWith('.json.tmp')))
      rmSync(join(TESTBED_REGISTRY, f), { force: true });
    const claimed = new Set(readEntries().map((e) => e.run));
    const unclaimed = (n: string): boolean => !claimed.has(RUN_NAME.exec(n)?.[1] ?? '');
    for (const l of rootLinks().filter((x) => x.name.startsWith('dws-') && unclaimed(x.name))) {
      if (tryIp(['link', 'del', l.name])) removed.push(l.name);
    }
    for (const ns of bedNamespaces().filter(unclaimed)) {
      await killPids(pidsIn(ns));
      if (tryIp(['netns', 'del', ns])) removed.push(ns);
    }
    return removed;
  });
}
