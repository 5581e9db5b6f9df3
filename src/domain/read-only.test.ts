import { describe, expect, it } from 'vitest';
import { diskPercent, nextReadOnly, withoutReadOnly, withReadOnly } from './read-only.js';

describe('the read-only protection', () => {
  it('turns on at the threshold, off on its own well below it, and arms again after a user lifted it once below', () => {
    expect(nextReadOnly(null, 89.9, 90)).toBeNull();
    expect(nextReadOnly(null, 90, 90)).toEqual({ state: 'ON', change: 'on' });
    expect(nextReadOnly('ON', 86, 90)).toBeNull();
    expect(nextReadOnly('ON', 84.9, 90)).toEqual({ state: null, change: 'off' });
    expect(nextReadOnly('LIFTED', 95, 90)).toBeNull();
    expect(nextReadOnly('LIFTED', 89, 90)).toEqual({ state: null, change: 'armed' });
  });
  it('threshold 0 turns the protection off, freeing a read-only cluster', () => {
    expect(nextReadOnly(null, 100, 0)).toBeNull();
    expect(nextReadOnly('ON', 100, 0)).toEqual({ state: null, change: 'off' });
    expect(nextReadOnly('LIFTED', 100, 0)).toEqual({ state: null, change: 'armed' });
  });
  it("measures against the node type's disk, and joins READONLY to the other sub-states as DWS does", () => {
    expect(diskPercent(2 * 1024 ** 3, 20)).toBeCloseTo(10);
    expect(withReadOnly('NORMAL', 'ON')).toBe('READONLY');
    expect(withReadOnly('DEGRADED | UNBALANCED', 'ON')).toBe('DEGRADED | UNBALANCED | READONLY');
    expect(withReadOnly('DEGRADED', 'LIFTED')).toBe('DEGRADED');
    expect(withReadOnly('READONLY', 'ON')).toBe('READONLY');
    expect(withoutReadOnly('READONLY')).toBe('NORMAL');
    expect(withoutReadOnly('UNBALANCED | READONLY')).toBe('UNBALANCED');
  });
});
