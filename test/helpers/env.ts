/** Temp directories, free ports and waiting, for tests. */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { markedUsers, parseMarker } from '../../src/dataplane/os-user.js';
import { removeProjectUser } from '../../src/dataplane/project-users.js';

/**
 * Under /tmp, traversable by the postgres OS user (postgres-ops §1); one directory per test
 * run (set by the global setup), so runs side by side never touch each other's files.
 */
export const TEST_BASE = '/tmp/dwsbox-test';
export function testRoot(): string {
  return process.env['DWSBOX_TEST_ROOT'] ?? join(TEST_BASE, `run-${process.pid}`);
}

/**
 * The initdb pool every service of this test run shares (one pool per host, D21): made by the
 * global setup, removed by its teardown. A service makes its entries there instead of keeping
 * its own pool filled, which costs each service about 2 s of CPU per entry, mostly never used.
 */
export function testPoolDir(): string {
  return join(testRoot(), 'initdb-pool');
}

/**
 * The host agent every HA test of this run shares (D23: one per host; D24: its subnet registry is
 * what keeps parallel test files from colliding). The first file that needs it starts it
 * (`ensureAgent`); the global teardown stops it with its units, then checks for leftovers.
 */
export function testAgentDir(): string {
  return join(testRoot(), 'agent');
}

/**
 * This run's directory, made if missing and traversable (0711) by the users below it: postgres,
 * the project users and the service user, which runs the agent's etcd (a benchmark has no global
 * setup to make it).
 */
export function ensureTestRoot(): string {
  const root = testRoot();
  mkdirSync(root, { recursive: true, mode: 0o711 });
  chmodSync(TEST_BASE, 0o711);
  chmodSync(root, 0o711);
  return root;
}

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(ensureTestRoot(), `${prefix}-`));
  chmodSync(d, 0o711);
  return d;
}

export function removeDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
}

/** A port in 20000–29999 that is free on 127.0.0.1 now. */
export async function freePort(): Promise<number> {
  for (;;) {
    const p = 20000 + Math.floor(Math.random() * 10000);
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false>,
  o: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (o.timeoutMs ?? 120_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${o.what ?? 'a condition'}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 100));
  }
}

/** Processes whose command line mentions `dir` (postgres -D …, pgbackrest --config=…, flock …). */
/**
 * The leak checks and sweeps match processes and users by a directory (or a cluster id) in their
 * command line or comment: an empty or very short one would match every process and project user
 * of the host.
 */
function checkedDir(dir: string): string {
  if (dir.length < 8) throw new Error(`refusing to match processes or users under ${JSON.stringify(dir)}: not a test directory`);
  return dir;
}

export function processesUnder(dir: string): { pid: number; cmd: string }[] {
  checkedDir(dir);
  const out: { pid: number; cmd: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
      if (state === 'Z') continue;
    } catch {
      continue;
    }
    if (cmd.includes(dir)) out.push({ pid, cmd });
  }
  return out;
}

/** Stop (by PID) every postmaster whose data directory is under `dir`; for clean-up after a test. */
export async function killPostmastersUnder(dir: string): Promise<number> {
  checkedDir(dir);
  const pms = processesUnder(dir).filter((p) => /postgres -D /.test(p.cmd));
  for (const p of pms) {
    try {
      process.kill(p.pid, 'SIGQUIT');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && processesUnder(dir).some((p) => /postgres/.test(p.cmd))) await new Promise((r) => setTimeout(r, 50));
  const rest = processesUnder(dir);
  for (const p of rest) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  // A killed process takes a moment to go (the S3 repository's TLS server, say): wait for it.
  const until = Date.now() + 5000;
  while (rest.length && Date.now() < until && processesUnder(dir).length) await new Promise((r) => setTimeout(r, 20));
  return pms.length;
}

/** The dwsbox project users (D32, by their marker) whose data directory is `dir` or lies under it. */
export function projectUsersUnder(dir: string): { name: string; dataDir: string }[] {
  checkedDir(dir);
  return markedUsers().flatMap((u) => {
    const m = parseMarker(u.comment);
    return m && (m.dataDir === dir || m.dataDir.startsWith(`${dir}/`)) ? [{ name: u.name, dataDir: m.dataDir }] : [];
  });
}

/** Remove the project users of the data directories under `dir` (after their processes and files are gone). */
export async function removeProjectUsersUnder(dir: string): Promise<string[]> {
  checkedDir(dir);
  const users = projectUsersUnder(dir);
  for (const u of users) await removeProjectUser(u.name);
  return users.map((u) => u.name);
}
