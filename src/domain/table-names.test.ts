/** Names in table restores (D15): renamed dependents, unique names within 63 bytes, the task's own objects. */
import { describe, expect, it } from 'vitest';
import { derivedName, loginRoleName, scratchDatabaseName, uniqueName } from './table-names.js';

describe('derivedName', () => {
  it('renames objects named after the table, prefixes the others, keeps everything when the name stays', () => {
    expect(derivedName('orders_pkey', 'orders', 'orders_old')).toBe('orders_old_pkey');
    expect(derivedName('orders_id_seq', 'orders', 'orders_old')).toBe('orders_old_id_seq');
    expect(derivedName('idx_by_date', 'orders', 'orders_old')).toBe('orders_old_idx_by_date');
    expect(derivedName('orders_pkey', 'orders', 'orders')).toBe('orders_pkey');
    // 63 bytes at most, never splitting a character
    const long = derivedName('t_' + 'x'.repeat(60), 't', 'é'.repeat(40));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(long).toBe('é'.repeat(31));
  });
});

describe('uniqueName', () => {
  it('adds _1, _2, … to a taken name, within 63 bytes, and takes the result', () => {
    const taken = new Set(['t_pkey', 't_pkey_1']);
    expect(uniqueName('t_pkey', taken)).toBe('t_pkey_2');
    expect(taken.has('t_pkey_2')).toBe(true);
    expect(uniqueName('free', taken)).toBe('free');
    const long = 'x'.repeat(70);
    const first = uniqueName(long, taken);
    expect(first).toBe('x'.repeat(63));
    expect(uniqueName(long, taken)).toBe('x'.repeat(61) + '_1');
  });
});

describe("the task's own objects", () => {
  it("are named after the task's hex digits, so a rerun finds them, and fit an identifier", () => {
    const id = '0F1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
    expect(scratchDatabaseName(id)).toBe('dwsbox_scratch_0f1e2d3c4b5a69788796');
    expect(loginRoleName(id)).toBe('dwsbox_load_0f1e2d3c4b5a69788796');
    expect(scratchDatabaseName(id)).toBe(scratchDatabaseName(id.toLowerCase()));
    expect(scratchDatabaseName('x"; drop database y; --')).toBe('dwsbox_scratch_ddaabae');
  });
});
