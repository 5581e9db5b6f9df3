import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { retryDelayMs } from './retry.js';

const CAP_MS = 120_000;

describe('retryDelayMs: exponential back-off with jitter, capped', () => {
  it('without jitter (random 0) it is half the exponential base', () => {
    expect([0, 1, 2, 3, 4].map((a) => retryDelayMs(a, () => 0))).toEqual([500, 1000, 2000, 4000, 8000]);
  });

  it('with the most jitter it is the full base', () => {
    expect([0, 1, 2, 3].map((a) => retryDelayMs(a, () => 1))).toEqual([1000, 2000, 4000, 8000]);
  });

  it('the base stops growing at two minutes', () => {
    expect(retryDelayMs(7, () => 1)).toBe(CAP_MS); // 128 s would be past the cap
    expect(retryDelayMs(30, () => 1)).toBe(CAP_MS);
    expect(retryDelayMs(1000, () => 0)).toBe(CAP_MS / 2);
  });

  it('is within [base/2, base] for any attempt and any random value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 64 }), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (attempt, r) => {
        const base = Math.min(CAP_MS, 1000 * 2 ** attempt);
        const d = retryDelayMs(attempt, () => r);
        return Number.isInteger(d) && d >= base / 2 && d <= base;
      }),
    );
  });

  it('never shrinks as attempts grow, for the same jitter', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        (attempt, r) => retryDelayMs(attempt + 1, () => r) >= retryDelayMs(attempt, () => r),
      ),
    );
  });

  it('uses Math.random by default, so two workers do not retry in lockstep', () => {
    const seen = new Set(Array.from({ length: 50 }, () => retryDelayMs(10)));
    expect(seen.size).toBeGreaterThan(1);
    for (const d of seen) expect(d).toBeGreaterThanOrEqual(CAP_MS / 2);
  });
});
