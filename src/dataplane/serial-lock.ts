/**
 * Work that must run alone on a data directory: one call at a time in this process (a queue
 * per lock file) and one process at a time on the host (the lock file, `acquireLock`).
 */
import { acquireLock } from './pg-exec.js';

const queues = new Map<string, Promise<unknown>>();

export function withLock<T>(lockFile: string, label: string, fn: () => Promise<T>): Promise<T> {
  const run = async (): Promise<T> => {
    const lock = await acquireLock(lockFile, { timeoutMs: 120_000, label });
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  };
  const prev = queues.get(lockFile) ?? Promise.resolve();
  const r = prev.then(run, run);
  const tail = r.then(
    () => {},
    () => {},
  );
  queues.set(lockFile, tail);
  void tail.then(() => {
    if (queues.get(lockFile) === tail) queues.delete(lockFile);
  });
  return r;
}
