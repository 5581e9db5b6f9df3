/**
 * What a benchmark leaves behind, found and ended by PID (bench/failover.ts, bench/capacity.ts):
 * processes whose command line names the run's directory, or that run as its project user
 * (postgres backends rename themselves, so their command line does not name the directory).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { isProcessAlive } from '../src/dataplane/process-info.js';

export interface Leftover {
  pid: number;
  cmd: string;
}

/** Processes whose command line names `root`, or that run as `uid`; zombies skipped. */
export function ourProcesses(root: string, uid: number | null): Leftover[] {
  const out: Leftover[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      const owner = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1];
      if (cmd.includes(root) || (uid !== null && Number(owner) === uid)) out.push({ pid: Number(name), cmd });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** SIGKILL each (saying so through `log`) and wait up to 10 s for them to be gone. */
export async function killAll(procs: Leftover[], log: (line: string) => void): Promise<void> {
  if (!procs.length) return;
  log(`clean-up: killing ${procs.length} processes left: ${procs.map((p) => `${p.pid} ${p.cmd.slice(0, 60)}`).join('; ')}`);
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const until = Date.now() + 10_000;
  while (Date.now() < until && procs.some((p) => isProcessAlive(p.pid))) await new Promise((r) => setTimeout(r, 50));
}
