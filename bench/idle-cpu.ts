/**
 * Benchmark: what idle clusters cost the host in CPU, by process kind (issue 15: "what the
 * checks cost in CPU for 20 clusters").
 *
 *   npx tsx bench/idle-cpu.ts [--clusters 3] [--seconds 30] [--monitor-ms 2000]
 *
 * One service (in this process) on the Patroni engine under a host agent of its own, N 3-node
 * clusters created one after another and left idle (no client, no task), then the CPU time
 * each kind of process used over `--seconds`, from /proc (user + system): the service (this
 * process), the agent, etcd, the Patroni members, the routers (HAProxy, whose health checks
 * ask every member's Patroni REST API 4 times a second), the postmasters and their backends.
 * Printed as a share of one core, in total and per cluster. `--monitor-ms` is the service's
 * health-monitor interval (its default 2000; the suite's services run at 500). Under
 * `node --cpu-prof --import tsx bench/idle-cpu.ts` it prints the window to give
 * bench/profile-summary.ts, for where the service's own share goes.
 * Removes everything it made, also when it fails.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CLOCK_TICKS, cpuTicks } from './cpu.js';
import { createAvailableCluster, startService, type TestService } from '../test/helpers/service.js';
import { tempDir, removeDir } from '../test/helpers/env.js';
import { AgentClient } from '../src/dataplane/agent/client.js';
import { agentPaths } from '../src/dataplane/agent/agent.js';

const { values } = parseArgs({
  options: {
    clusters: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '30' },
    'monitor-ms': { type: 'string', default: '2000' },
  },
});
const CLUSTERS = Math.max(1, Number(values.clusters));
const SECONDS = Math.max(5, Number(values.seconds));

/** Every process of the machine: PID → its kind, or null for what this bench did not start. */
function kinds(agentDir: string, dataDir: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    const pid = Number(d);
    if (pid === process.pid) out.set(pid, 'service (dwsbox serve)');
    else if (cmd.includes(agentDir) && cmd.includes(' agent ')) out.set(pid, 'host agent');
    else if (cmd.startsWith('/usr/bin/etcd') && cmd.includes(agentDir)) out.set(pid, 'etcd');
    else if (cmd.includes('/usr/bin/patroni') && cmd.includes(dataDir)) out.set(pid, 'Patroni');
    else if (cmd.startsWith('/usr/sbin/haproxy') && cmd.includes(dataDir)) out.set(pid, 'router (HAProxy)');
    else if (cmd.startsWith('postgres:') || (cmd.includes('/postgres') && cmd.includes(dataDir))) out.set(pid, 'PostgreSQL');
  }
  // A postmaster's children show only "postgres: ..." titles: keep those whose parent is one of ours.
  for (const [pid, kind] of [...out]) {
    if (kind !== 'PostgreSQL') continue;
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (!out.has(ppid) && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir)) out.delete(pid);
    } catch {
      out.delete(pid);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const agentDir = tempDir('idle-agent');
  let t: TestService | null = null;
  try {
    t = await startService({ flags: { engine: 'patroni', agentDir, monitorIntervalMs: Number(values['monitor-ms']), logLevel: 'info' } });
    const dataDir = t.dataDir;
    console.log(
      `dwsbox bench: CPU of ${CLUSTERS} idle 3-node clusters on the Patroni engine, ${SECONDS} s, monitor every ${values['monitor-ms']} ms`,
    );
    for (let i = 0; i < CLUSTERS; i++) await createAvailableCluster(t.client, { name: `idle-${i}` });
    // Settle: the last create's copies and checkpoints end.
    await new Promise((r) => setTimeout(r, 10_000));
    const before = kinds(agentDir, dataDir);
    const t0 = new Map([...before.keys()].map((p) => [p, cpuTicks(p)]));
    const wall0 = Date.now();
    const from = process.hrtime.bigint() / 1000n;
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const wall = (Date.now() - wall0) / 1000;
    // For bench/profile-summary.ts --from --to, when run under node --cpu-prof.
    console.log(`window (µs, CLOCK_MONOTONIC): --from ${from} --to ${process.hrtime.bigint() / 1000n}`);
    const after = kinds(agentDir, dataDir);
    const used = new Map<string, number>();
    for (const [pid, kind] of after) {
      const start = t0.get(pid);
      const now = cpuTicks(pid);
      if (now === null) continue;
      // A process born during the window counts whole (a backend of a check, a new connection).
      used.set(kind, (used.get(kind) ?? 0) + now - (start ?? 0));
    }
    let total = 0;
    console.log(`kind                      % of one core   per cluster`);
    for (const [kind, ticks] of [...used].sort((a, b) => b[1] - a[1])) {
      const pct = (100 * ticks) / CLOCK_TICKS / wall;
      total += pct;
      console.log(`${kind.padEnd(26)}${pct.toFixed(1).padStart(8)} %${(pct / CLUSTERS).toFixed(2).padStart(12)} %`);
    }
    console.log(`${'all'.padEnd(26)}${total.toFixed(1).padStart(8)} %${(total / CLUSTERS).toFixed(2).padStart(12)} %`);
  } finally {
    await t?.stop().catch((e: unknown) => console.error(`stopping the service: ${(e as Error).message}`));
    if (existsSync(agentPaths(agentDir).socket)) {
      const agent = new AgentClient(agentDir);
      const pid = (await agent.info().catch(() => null))?.pid;
      await agent.shutdown(true).catch(() => null);
      await agent.close();
      for (let i = 0; i < 300 && pid && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
    }
    removeDir(agentDir);
  }
}

await main();
