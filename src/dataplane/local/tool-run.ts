/** How an intention's tools run, from its `RunOptions`. */
import type { RunOptions } from '../data-plane.js';

/**
 * A tool's cancellation, idle limit and lock from an intention's options: each only when
 * given, the lock falling back to `defaultLock` (a cluster's, D1).
 */
export function toolRun(o: RunOptions, defaultLock?: string): { signal?: AbortSignal; idleTimeoutMs?: number; lockFile?: string } {
  const lockFile = o.lockFile ?? defaultLock;
  return {
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.idleTimeoutMs ? { idleTimeoutMs: o.idleTimeoutMs } : {}),
    ...(lockFile ? { lockFile } : {}),
  };
}
