/**
 * What /proc says of a process: alive, its start time (to tell a reused PID from the one
 * recorded, D1), and a signal to it. Starts nothing; the task worker reads it to tell a dead
 * lease owner on this host (and so is public to the data plane's users).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Is `pid` alive and, when `startTime` is given, the same process we recorded? */
export function isProcessAlive(pid: number, startTime?: number | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const st = processStartTime(pid);
  if (st === null) return false;
  if (startTime !== undefined && startTime !== null && st !== startTime) return false;
  const state = processState(pid);
  return state !== 'Z' && state !== 'X';
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks after boot. */
export function processStartTime(pid: number): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(rest[19]);
  } catch {
    return null;
  }
}

function processState(pid: number): string | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

export function signalProcess(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * The direct children of `pid`, from each of its threads' `/proc/<pid>/task/<tid>/children`:
 * a few small reads, where scanning every `/proc/<n>/stat` for a parent PID took 3–30 ms of the
 * event loop on a busy host (issue 14). Empty when the process is gone.
 */
export function childProcesses(pid: number): number[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const tid of tids) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
    } catch {
      /* the thread ended */
    }
  }
  return out;
}

/** Every process of the host, by PID, as /proc lists them now (empty when /proc cannot be read). */
export function allPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .map(Number);
  } catch {
    return [];
  }
}

/** `pid` and every process below it, parents before their children. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...childProcesses(out[i]!));
  return out;
}

/** The real uid of a process, or null when it is gone. */
export function processUid(pid: number): number | null {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
