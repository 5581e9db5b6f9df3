import { describe, expect, it } from 'vitest';
import { normalizeValue, primaryFirst, refusalOf, valueRange, type PgSettingRow } from './parameters.js';

const row = (p: Partial<PgSettingRow>): PgSettingRow => ({
  name: 'statement_timeout',
  setting: '0',
  unit: 'ms',
  vartype: 'integer',
  context: 'user',
  minVal: '0',
  maxVal: '2147483647',
  enumvals: null,
  bootVal: '0',
  shortDesc: '',
  pendingRestart: false,
  ...p,
});

describe('offered parameters (issue 16, D32)', () => {
  it('refuses what runs code or moves files, what dwsbox sets, and unknown names, each with its reason', () => {
    for (const n of [
      'archive_command',
      'restore_command',
      'shared_preload_libraries',
      'session_preload_libraries',
      'dynamic_library_path',
      'ssl_key_file',
    ])
      expect(refusalOf(n)).toMatch(/OS user/);
    expect(refusalOf('shared_buffers')).toMatch(/node type/);
    for (const n of ['wal_level', 'synchronous_standby_names', 'fsync', 'archive_mode', 'max_wal_senders'])
      expect(refusalOf(n)).toMatch(/replication/);
    expect(refusalOf('search_path')).toMatch(/not among/);
    expect(refusalOf('statement_timeout')).toBeNull();
  });

  it('checks a value against its pg_settings row and writes it as pg_settings shows it', () => {
    expect(normalizeValue(row({}), ' 12345 ')).toBe('12345');
    expect(() => normalizeValue(row({}), '5s')).toThrow(/not an integer/);
    expect(() => normalizeValue(row({}), '-1')).toThrow(/out of range/);
    const locks = row({ name: 'max_locks_per_transaction', unit: null, minVal: '10', maxVal: '2147483647', context: 'postmaster' });
    expect(normalizeValue(locks, '1024')).toBe('1024');
    expect(() => normalizeValue(locks, '1025')).toThrow(/out of range: 10 to 1024/);
    expect(valueRange(locks)).toBe('10-1024');
    const cost = row({ name: 'random_page_cost', vartype: 'real', unit: null, minVal: '0', maxVal: '1.79769e+308' });
    expect(normalizeValue(cost, '1.10')).toBe('1.1');
    expect(() => normalizeValue(cost, 'NaN')).toThrow(/not a number/);
    const jit = row({ name: 'jit', vartype: 'bool', unit: null, minVal: null, maxVal: null });
    expect(normalizeValue(jit, 'TRUE')).toBe('on');
    expect(() => normalizeValue(jit, 'maybe')).toThrow(/boolean/);
    const ls = row({ name: 'log_statement', vartype: 'enum', unit: null, enumvals: ['none', 'ddl', 'mod', 'all'] });
    expect(normalizeValue(ls, 'DDL')).toBe('ddl');
    expect(() => normalizeValue(ls, 'everything')).toThrow(/not one of none, ddl, mod, all/);
    expect(() => normalizeValue(row({ vartype: 'string' }), 'x')).toThrow(/text parameters/);
  });

  it('restarts the primary first only when a hot-standby parameter goes down', () => {
    const c = (name: string, oldValue: string, newValue: string) => ({ name, oldValue, newValue, restart: true });
    expect(primaryFirst([c('max_locks_per_transaction', '64', '128')])).toBe(false);
    expect(primaryFirst([c('max_locks_per_transaction', '128', '64')])).toBe(true);
    expect(primaryFirst([c('autovacuum_max_workers', '5', '3')])).toBe(false);
  });
});
