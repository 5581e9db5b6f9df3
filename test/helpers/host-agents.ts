/**
 * Hosts of several-hosts tests (issue 18, D27) on the namespace test bed: `dwsbox hosts …` run on
 * a test service's data directory as an operator runs it, and a host's agent started in its
 * namespace (and a private mount namespace) serving the control plane over mutual TLS.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cliEntry, REPO_ROOT } from './cli-entry.js';
import type { TestBed, TestBedHost } from './testbed.js';

const run = promisify(execFile);

/** The port agents listen on in the tests (the default of `hosts add`). */
export const AGENT_PORT = 8701;

/** `dwsbox hosts …` on the data directory: its exit code, its JSON output (null on failure), its standard error. */
export async function hostsCli(
  dataDir: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number; out: unknown; stderr: string }> {
  try {
    const r = await run('node', [...cliEntry(), 'hosts', ...args, '--data-dir', dataDir], {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dataDir },
      timeout: timeoutMs,
    });
    return { code: 0, out: JSON.parse(r.stdout) as unknown, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: null, stderr: x.stderr };
  }
}

/** The bundle directory `hosts add` writes for a host in these tests. */
export const bundleDir = (dataDir: string, name: string): string => join(dataDir, 'bundles', name);

/** The host's agent, in its namespace and a private mount namespace, serving the control plane on its address: its directory and process. */
export function startHostAgent(
  bed: TestBed,
  host: TestBedHost,
  dataDir: string,
  bundle: string,
  port = AGENT_PORT,
): { dir: string; process: ChildProcess } {
  const dir = join(dataDir, 'agents', `${host.name}-${port}`);
  // traversable: the agent's etcd member (the service user) reaches its data directory inside
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  // its output to a file (a pipe nobody reads would stop it once full)
  const log = openSync(join(dir, 'agent.out'), 'a');
  const args = [...cliEntry(), 'agent', '--agent-dir', dir, '--listen', `${host.address}:${port}`, '--bundle', bundle];
  const child = bed.spawnIn(host, process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', log, log] });
  closeSync(log);
  return { dir, process: child };
}

/** `fn`'s first truthy answer, polled every 200 ms; throws with the last error at the deadline. */
export async function until<T>(fn: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
