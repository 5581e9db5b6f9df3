import { describe, expect, it } from 'vitest';
import { TaskSlots } from './slots.js';

describe('TaskSlots', () => {
  it('takes up to its capacity; a released slot can be taken again and calls onFree', () => {
    const s = new TaskSlots(2);
    let freed = 0;
    s.onFree = () => freed++;
    expect([s.tryTake('a'), s.tryTake('b'), s.tryTake('c')]).toEqual([true, true, false]);
    s.release('a');
    expect(freed).toBe(1);
    s.release('a'); // idempotent
    expect(freed).toBe(1);
    expect(s.tryTake('c')).toBe(true);
    expect(s.used).toBe(2);
  });

  it('a task that lends its slot out lets another be claimed, and gets a slot back before any new claim', async () => {
    const s = new TaskSlots(1);
    expect(s.tryTake('delayed')).toBe(true);
    s.release('delayed'); // lent out while it waits on a delay
    expect(s.tryTake('other')).toBe(true); // another project's task runs meanwhile
    let back = false;
    const reclaimed = s.reclaim('delayed').then(() => {
      back = true;
    });
    await Promise.resolve();
    expect(back).toBe(false);
    expect(s.waitingCount).toBe(1);
    // While it waits, the claim loop gets nothing.
    s.release('other');
    expect(s.tryTake('new')).toBe(false);
    await reclaimed;
    expect(back).toBe(true);
    expect(s.holds('delayed')).toBe(true);
    expect(s.used).toBe(1);
  });

  it('reclaim is immediate with a free slot, and a no-op for a holder', async () => {
    const s = new TaskSlots(2);
    await s.reclaim('a');
    expect(s.holds('a')).toBe(true);
    await s.reclaim('a');
    expect(s.used).toBe(1);
  });

  it('the claim loop reserves a slot while it claims and hands it to the task it got', () => {
    const s = new TaskSlots(1);
    expect(s.tryTake('(claiming)')).toBe(true);
    s.swap('(claiming)', 't1');
    expect([s.holds('(claiming)'), s.holds('t1'), s.used]).toEqual([false, true, 1]);
    expect(() => s.swap('(claiming)', 't2')).toThrow(/holds no slot/);
  });

  it('close lets every waiting task go on and takes nothing new', async () => {
    const s = new TaskSlots(1);
    s.tryTake('x');
    const w = s.reclaim('y');
    s.close();
    await w;
    expect(s.holds('y')).toBe(true);
    s.release('x');
    s.release('y');
    expect(s.tryTake('z')).toBe(false);
  });
});
