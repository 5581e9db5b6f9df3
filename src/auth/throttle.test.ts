import { describe, expect, it } from 'vitest';
import { AuthThrottle, FailureCounter, longestBlock } from './throttle.js';

const HOUR = 3600_000;

describe('FailureCounter', () => {
  it('free failures start no block; each further one blocks for twice as long, up to the cap', async () => {
    const c = new FailureCounter('t', 3, HOUR, 60_000, 600_000, null);
    expect([await c.fail('k'), await c.fail('k'), await c.fail('k')]).toEqual([0, 0, 0]);
    expect(await c.blockedMs('k')).toBe(0);
    expect(await c.fail('k')).toBe(60_000);
    expect(await c.blockedMs('k')).toBeGreaterThan(50_000);
    expect(await c.fail('k')).toBe(120_000);
    expect(await c.fail('k')).toBe(240_000);
    expect(await c.fail('k')).toBe(480_000);
    expect(await c.fail('k')).toBe(600_000);
    expect(await c.fail('k')).toBe(600_000);
  });

  it('keys are counted apart; clear forgets the count and the block', async () => {
    const c = new FailureCounter('t', 1, HOUR, 60_000, 600_000, null);
    await c.fail('a');
    expect(await c.fail('a')).toBe(60_000);
    expect(await c.blockedMs('b')).toBe(0);
    expect(await c.fail('b')).toBe(0);
    await c.clear('a');
    expect(await c.blockedMs('a')).toBe(0);
    expect(await c.fail('a')).toBe(0);
  });

  it('mayHold: false for a key that never failed or was cleared (no lookup then), true while a failure or block may be recorded', async () => {
    const c = new FailureCounter('t', 1, HOUR, 60_000, 600_000, null);
    expect(c.mayHold('k')).toBe(false);
    await c.fail('k');
    expect(c.mayHold('k')).toBe(true);
    expect(await c.fail('k')).toBe(60_000);
    expect(await c.blockedMs('k')).toBeGreaterThan(50_000);
    await c.clear('k');
    expect(c.mayHold('k')).toBe(false);
    expect(await c.fail('k')).toBe(0); // the count went with it
  });

  it('a block ends by itself; the count is forgotten a window after its first failure', async () => {
    const c = new FailureCounter('t', 1, 1000, 100, 100, null);
    await c.fail('k');
    expect(await c.fail('k')).toBe(100);
    await new Promise((r) => setTimeout(r, 150));
    expect(await c.blockedMs('k')).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await c.fail('k')).toBe(0);
  });
});

describe('AuthThrottle', () => {
  it('builds its four counters from the settings; longestBlock is the longest over several keys', async () => {
    const t = new AuthThrottle({
      loginFailuresPerUser: 1,
      loginFailuresPerAddress: 5,
      signatureFailuresPerKey: 2,
      signatureFailuresPerAddress: 9,
      authFailureWindowMs: HOUR,
      authBlockFirstMs: 30_000,
      authBlockMaxMs: HOUR,
    });
    await t.loginUser.fail('alice');
    await t.loginUser.fail('alice');
    expect(await t.loginAddress.fail('127.0.0.9')).toBe(0);
    const ms = await longestBlock([
      [t.loginUser, 'alice'],
      [t.loginAddress, '127.0.0.9'],
    ]);
    expect(ms).toBeGreaterThan(25_000);
    expect(
      await longestBlock([
        [t.loginUser, 'bob'],
        [t.signatureKey, 'alice'],
      ]),
    ).toBe(0);
  });
});
