import { systemClock, type Clock } from './clock.js';

/** `pollUntil` gave up: what it waited for, for how long, and the last check's error if it failed. */
export class PollTimeout extends Error {
  override readonly name = 'PollTimeout';
}

export interface PollOptions {
  timeoutMs: number;
  /** What is waited for, for the timeout's message ("node2 the leader"). */
  what: string;
  signal?: AbortSignal;
  /** Pause between checks (default 200 ms). */
  everyMs?: number;
  clock?: Clock;
}

/**
 * Call `check` until it gives a value: `null`, `false` and a thrown error give none. An abort
 * throws the signal's reason at once, even mid-pause; past `timeoutMs` a `PollTimeout` that says
 * what was waited for (and the last check's error, when the last check failed). The one polling
 * loop of the engine and the task steps.
 */
export async function pollUntil<T>(check: () => Promise<T | null | false>, o: PollOptions): Promise<T> {
  const clock = o.clock ?? systemClock;
  const deadline = clock.now() + o.timeoutMs;
  for (;;) {
    o.signal?.throwIfAborted();
    let failure: unknown = null;
    const v = await check().catch((e: unknown) => {
      failure = e;
      return null;
    });
    if (v !== null && v !== false) return v;
    o.signal?.throwIfAborted();
    if (clock.now() > deadline) {
      const last = failure === null ? '' : ` (last check: ${failure instanceof Error ? failure.message : String(failure)})`;
      throw new PollTimeout(`waited ${o.timeoutMs / 1000} s for ${o.what}${last}`);
    }
    await clock.sleep(o.everyMs ?? 200, o.signal);
  }
}
