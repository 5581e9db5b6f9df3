/**
 * Before the run: the binaries exist (a missing one is a set-up bug: fail, saying how to
 * install it), and what earlier runs that died left behind is swept: their directories under
 * TEST_BASE and the project users (D32) marked with a data directory there. After the run: no
 * process started by a test is left, and no project user of this run (the leak checks).
 * Test beds (D27, test/helpers/testbed.ts) are swept and checked the same way: beds whose owner
 * died are removed at the start; at the end no bed of this run, nor one of a dead owner, is left
 * (beds of other runs going on at the same time are theirs).
 * The run's shared initdb pool is made here and removed with the run's directory; its fillers
 * belong to the services, which stop them. The run's host agent (`testAgentDir`), when a test
 * started it, is stopped here with every unit it runs.
 */
import { findBinaries } from '../../src/dataplane/binaries.js';
import { removeOrphanGroups } from '../../src/dataplane/project-users.js';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { mkdirsSafe, serviceOwner } from '../../src/dataplane/safe-fs.js';
import {
  killPostmastersUnder,
  processesUnder,
  projectUsersUnder,
  removeDir,
  removeProjectUsersUnder,
  TEST_BASE,
  testPoolDir,
} from './env.js';
import { stopTestAgent } from './engine.js';
import { sweepTestBeds, testBedLeftovers } from './testbed.js';

let root = '';

/** A run directory (`run-<pid>-<nonce>`) whose vitest process is gone. */
function deadRun(dir: string): boolean {
  const pid = /^run-(\d+)(?:-|$)/.exec(dir)?.[1];
  return pid !== undefined && !existsSync(`/proc/${pid}`);
}

async function sweepDeadRuns(): Promise<void> {
  const runs = existsSync(TEST_BASE) ? readdirSync(TEST_BASE).filter(deadRun) : [];
  for (const r of runs) {
    const dir = join(TEST_BASE, r);
    await killPostmastersUnder(dir);
    removeDir(dir);
  }
  // Users whose run is gone, whether or not its directory still was there.
  const users = projectUsersUnder(TEST_BASE).filter((u) => deadRun(u.dataDir.slice(TEST_BASE.length + 1).split('/')[0] ?? ''));
  for (const dir of new Set(users.map((u) => u.dataDir))) await removeProjectUsersUnder(dir);
  const groups = await removeOrphanGroups();
  if (runs.length || users.length || groups.length)
    console.warn(
      `swept what earlier test runs left: ${runs.length} directories, ${users.length} project users, ${groups.length} groups without their user`,
    );
}

/** What highly available clusters run (issue 15): installed by scripts/setup.sh like PostgreSQL. */
const HA_BINARIES = ['/usr/bin/patroni', '/usr/bin/etcd', '/usr/sbin/haproxy'];

export async function setup(): Promise<void> {
  findBinaries(null);
  const missing = HA_BINARIES.filter((b) => !existsSync(b));
  if (missing.length)
    throw new Error(`missing ${missing.join(', ')}: run \`bash scripts/setup.sh\` as root (it installs patroni, etcd-server and haproxy)`);
  await sweepDeadRuns();
  const beds = await sweepTestBeds();
  if (beds.length) console.warn(`swept what earlier test beds left: ${beds.join(', ')}`);
  root = join(TEST_BASE, `run-${process.pid}-${randomBytes(3).toString('hex')}`);
  // Test workers are started after this, and inherit it.
  process.env['DWSBOX_TEST_ROOT'] = root;
  // The run's one initdb pool (testPoolDir), shared by every service: root's, traversable, not listable (D32).
  mkdirsSafe(testPoolDir(), serviceOwner(), 0o711);
}

export async function teardown(): Promise<void> {
  // A setup that failed before choosing the run's directory left nothing to tear down (and an
  // empty root would match every process and project user of the host).
  if (!root) return;
  await stopTestAgent();
  // Beds first: removing one stops what runs inside it.
  const beds = testBedLeftovers(root);
  if (beds.length) await sweepTestBeds(root);
  const bedsLeft = `tests left ${beds.length} pieces of test beds behind (swept now):\n${beds.map((b) => `  ${b.kind} ${b.name}: ${b.why}`).join('\n')}`;
  const left = processesUnder(root);
  if (left.length) {
    await killPostmastersUnder(root);
    const procs = `tests left ${left.length} processes behind:\n${left.map((p) => `  ${p.pid} ${p.cmd}`).join('\n')}`;
    throw new Error(beds.length ? `${procs}\n${bedsLeft}` : procs);
  }
  const keep = !!process.env['DWSBOX_KEEP_TEST_DIRS'];
  const users = keep ? [] : await removeProjectUsersUnder(root);
  if (!keep) removeDir(root);
  const errors: string[] = [];
  if (users.length) errors.push(`tests left ${users.length} project OS users behind (removed now): ${users.join(', ')}`);
  if (beds.length) errors.push(bedsLeft);
  if (errors.length) throw new Error(errors.join('\n'));
}
