import { describe, expect, it } from 'vitest';
import type { Clock } from './clock.js';
import { pollUntil, PollTimeout } from './poll.js';

/** A clock whose sleeps pass at once and move its time on. */
function fakeClock(): Clock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: (ms, signal) => {
      signal?.throwIfAborted();
      slept.push(ms);
      t += ms;
      return Promise.resolve();
    },
  };
}

describe('pollUntil (the one polling loop)', () => {
  it('gives the first value a check gives; null, false and failures count as none', async () => {
    const clock = fakeClock();
    const answers: (() => Promise<number | null | false>)[] = [
      () => Promise.resolve(null),
      () => Promise.reject(new Error('not up yet')),
      () => Promise.resolve(false),
      () => Promise.resolve(0),
    ];
    let i = 0;
    await expect(pollUntil(() => answers[i++]!(), { timeoutMs: 10_000, what: 'x', clock })).resolves.toBe(0);
    expect(clock.slept).toEqual([200, 200, 200]);
  });

  it('past the deadline says what it waited for, how long, and the last failure', async () => {
    const clock = fakeClock();
    const e = await pollUntil(() => Promise.reject(new Error('connection refused')), {
      timeoutMs: 1000,
      what: 'node2 the leader',
      everyMs: 250,
      clock,
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PollTimeout);
    expect((e as Error).message).toBe('waited 1 s for node2 the leader (last check: connection refused)');
    expect(clock.slept.every((ms) => ms === 250)).toBe(true);
    const quiet = await pollUntil(() => Promise.resolve(false), { timeoutMs: 400, what: 'y', clock }).catch((x: unknown) => x);
    expect((quiet as Error).message).toBe('waited 0.4 s for y');
  });

  it('an abort ends it with the signal’s reason, not a timeout, and stops checking', async () => {
    const ac = new AbortController();
    let checks = 0;
    const e = await pollUntil(
      () => {
        checks++;
        if (checks === 2) ac.abort(new Error('task cancelled'));
        return Promise.resolve(null);
      },
      { timeoutMs: 60_000, what: 'z', signal: ac.signal, everyMs: 1 },
    ).catch((x: unknown) => x);
    expect((e as Error).message).toBe('task cancelled');
    expect(checks).toBe(2);
  });
});
