/**
 * Answers of the hottest reads (a task's details, a cluster's), kept while nothing in the store
 * has changed (issue 14). An entry is served only when the store's read version is the one
 * read before the entry was built, so it is never older than the last committed write: a poll
 * right after a step is checkpointed sees the step. An answer that depends on the clock as
 * well says until when it holds. On PostgreSQL, where another process may write, the version
 * is the database's snapshot, one round trip instead of the several of a read.
 */
import type { Clock } from '../domain/clock.js';
import type { Store } from './store.js';

/** What a read returns: its value, and the time (ms) from which it no longer holds, if any. */
export interface Timed<T> {
  value: T;
  until?: number;
}

interface Entry<T> {
  version: string;
  until: number;
  value: T;
}

/**
 * The store's read version, read once and shared by every read of one request (the
 * signature's access key and the route's answer): on PostgreSQL each version is a round trip.
 * Sound for a request that only reads: the version is read after the request arrived, so every
 * write committed before it was sent is in it. A request that writes must not answer from it.
 */
export class ReadPoint {
  private version: string | Promise<string> | null = null;

  constructor(private readonly store: Pick<Store, 'readVersion'>) {}

  read(): string | Promise<string> {
    return (this.version ??= this.store.readVersion());
  }
}

export class ReadCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly store: Store,
    private readonly clock: Pick<Clock, 'now'>,
    /** entries kept; the least recently built goes first */
    private readonly size = 2_000,
  ) {}

  /** `at`: the request's read point (one version for all its reads); by default a version of its own. */
  async get(key: string, read: () => Promise<Timed<T>>, at?: ReadPoint): Promise<T> {
    return (await this.getTimed(key, read, at)).value;
  }

  /** As `get`, with until when the value holds (for an answer built from several kept values). */
  async getTimed(key: string, read: () => Promise<Timed<T>>, at?: ReadPoint): Promise<{ value: T; until: number }> {
    const version = await (at ? at.read() : this.store.readVersion());
    const hit = this.entries.get(key);
    if (hit && hit.version === version && this.clock.now() < hit.until) return hit;
    const fresh = await read();
    const until = fresh.until ?? Infinity;
    this.entries.delete(key);
    if (this.clock.now() < until) {
      if (this.entries.size >= this.size) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, { version, until, value: fresh.value });
    }
    return { value: fresh.value, until };
  }
}
