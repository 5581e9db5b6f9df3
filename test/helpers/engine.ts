/**
 * The engine test services run their clusters on (issue 15): `DWSBOX_TEST_ENGINE` = `patroni`
 * (the default, as the service's: each node a Patroni member under the run's host agent,
 * `testAgentDir`) or `local`. Tests that assert a fact the engines show differently ask
 * `testEngine()` and assert it each engine's way; the facts themselves (no row lost, one primary,
 * every standby streaming, nothing left behind) hold on both. A file about the local engine
 * itself passes `LOCAL_ENGINE` and says why.
 */
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentClient, agentUnreachable } from '../../src/dataplane/agent/client.js';
import { agentPaths } from '../../src/dataplane/agent/agent.js';
import type { UnitView } from '../../src/dataplane/agent/supervisor.js';
import { ensureTestRoot, testAgentDir, testRoot } from './env.js';

export type TestEngine = 'local' | 'patroni';

/**
 * The engine of this run's test services: `DWSBOX_TEST_ENGINE`; when unset, `patroni` in the
 * suite (the service's default) and `local` in the benchmarks under bench/ (their figures
 * compare with the raw tools run as the local engine runs them, and no host agent outlives them).
 */
export function testEngine(): TestEngine {
  const e = process.env['DWSBOX_TEST_ENGINE'] ?? (process.env['VITEST'] ? 'patroni' : 'local');
  if (e !== 'local' && e !== 'patroni') throw new Error(`DWSBOX_TEST_ENGINE=${e}: expected local or patroni`);
  return e;
}

/** A standby's replication slot on the test engine: the local engine's `dwsbox_node<i>`; on Patroni its member's name, `node<i>`. */
export function standbySlot(ordinal: number): string {
  return testEngine() === 'patroni' ? `node${ordinal}` : `dwsbox_node${ordinal}`;
}

/** The flags of a test about the local engine itself (its layout, its own supervision, installations from before D32). */
export const LOCAL_ENGINE = Object.freeze({ engine: 'local' as const });

/** The service flags of `testEngine()`: the engine, and on patroni the run's agent (never the host's own). */
export function testEngineFlags(): Record<string, unknown> {
  if (testEngine() !== 'patroni') return LOCAL_ENGINE;
  ensureTestRoot();
  return { engine: 'patroni', agentDir: testAgentDir() };
}

/**
 * The host agent's units of the clusters under a service's data directory (a unit's name carries
 * its cluster's id: Patroni members, the router), stopped, their etcd scopes removed and their
 * address blocks released; for clean-up after a test whose service stopped with clusters still
 * running (they outlive `serve` by design, D23). Nothing to do without an agent.
 */
export async function stopAgentUnitsUnder(dataDir: string, agentDir = testAgentDir()): Promise<void> {
  const clustersDir = join(dataDir, 'clusters');
  const ids = existsSync(clustersDir) ? readdirSync(clustersDir).filter((d) => /^[0-9a-f-]{36}$/.test(d)) : [];
  if (!ids.length || !existsSync(agentPaths(agentDir).socket)) return;
  const agent = new AgentClient(agentDir);
  try {
    const units = await agent.units();
    await Promise.all(units.filter((u) => ids.some((id) => u.name.includes(id))).map((u) => agent.stopUnit(u.name)));
    for (const id of ids) {
      const scope = haScope(clustersDir, id);
      if (scope) await agent.removeEtcdScope(scope).catch(() => null);
    }
    for (const h of await agent.subnets()) if (ids.includes(h.owner)) await agent.releaseSubnet(h.subnet);
  } finally {
    await agent.close();
  }
}

/** The Patroni scope of a cluster's record (`ha.json`), if it has one. */
function haScope(clustersDir: string, id: string): string | null {
  try {
    return (JSON.parse(readFileSync(join(clustersDir, id, 'ha.json'), 'utf8')) as { scope?: string }).scope ?? null;
  } catch {
    return null;
  }
}

/**
 * What a service starts that outlives it by design on the test engine, for `watchToolChildren`:
 * on Patroni the host agent, which serve starts detached when none answers (D23); nothing on
 * the local engine.
 */
export function longLivedChildren(): { longLived?: RegExp } {
  return testEngine() === 'patroni' ? { longLived: / agent --agent-dir / } : {};
}

/** A cluster's units in the run's host agent (its Patroni members and its router: each unit's name carries the cluster's id). */
export async function clusterUnits(clusterId: string, agentDir = testAgentDir()): Promise<UnitView[]> {
  const agent = new TestAgentClient(agentDir);
  try {
    return (await agent.units()).filter((u) => u.name.includes(clusterId));
  } finally {
    await agent.close();
  }
}

/**
 * The run's host agent, if a test or a benchmark started one: its units first (Patroni, routers,
 * etcd), then the agent, waited for (at most 30 s). A benchmark on the Patroni engine calls it
 * at its end, as the suite's global teardown does.
 */
export async function stopTestAgent(agentDir = testAgentDir()): Promise<void> {
  if (!existsSync(agentPaths(agentDir).socket)) return;
  const agent = new AgentClient(agentDir);
  try {
    const pid = (await agent.info()).pid;
    await agent.shutdown(true);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && existsSync(`/proc/${pid}`)) await new Promise((r) => setTimeout(r, 50));
  } catch (e) {
    console.warn(`the run's host agent did not answer at teardown: ${(e as Error).message}`);
  } finally {
    await agent.close();
  }
}

/**
 * The run's agent as a test reads it. Test files run side by side and share the agent, and two
 * of them kill it on purpose (`killTestAgent`): a call that finds no agent waits (up to 60 s)
 * for the one a service starts again, instead of failing the file that only looked. It never
 * starts one itself, so a test that asserts `serve` starts it again still can fail.
 */
export class TestAgentClient extends AgentClient {
  override async callOnce<T>(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        return await super.callOnce<T>(method, path, body);
      } catch (e) {
        if (!agentUnreachable(e) || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/**
 * SIGKILL to the run's agent, `pid` (its own answer), written down first in the run's
 * `agent-kills` (`agentsKilledByTests`): a file that checks that nothing died with a crash of its
 * own service leaves these out. Another file may have killed that one a moment before (two do,
 * on purpose): the outcome is the same, a dead agent that a service starts again, so a process
 * already gone is not an error.
 */
export function killTestAgent(pid: number): void {
  appendFileSync(join(testRoot(), 'agent-kills'), `${pid}\n`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** The agents test files of this run killed on purpose (`killTestAgent`). */
export function agentsKilledByTests(): Set<number> {
  const f = join(testRoot(), 'agent-kills');
  return new Set(existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map(Number) : []);
}
