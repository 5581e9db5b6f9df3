/**
 * CPU time of processes and of the machine, from /proc, for the benchmarks that report where
 * a run's CPU went (bench/http.ts, bench/load.ts).
 */
import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
export const CLOCK_TICKS = 100;

/** CPU ticks (user + system) a process has used, or null when it is gone. */
export function cpuTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return null;
  }
}

export const ticksOf = (pids: number[]): number => pids.reduce((a, p) => a + (cpuTicks(p) ?? 0), 0);

/**
 * CPU ticks processes have run on the whole machine (every core: user, nice and system time,
 * from /proc/stat). Interrupt time is left out: the loopback traffic of the run itself is
 * counted there, and no process is charged for it.
 */
export function busyTicks(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0);
}
