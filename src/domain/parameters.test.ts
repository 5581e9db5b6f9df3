import { describe, expect, it } from 'vitest';
import { normalizeValue, primaryFirst, refusalOf, sameSetting, valueRange, type PgSettingRow } from './parameters.js';

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

  it("refuses what would break the standbys or dwsbox's own sessions: serializable by default, a timeout under 1 s, idle_session_timeout", () => {
    const iso = row({
      name: 'default_transaction_isolation',
      vartype: 'enum',
      unit: null,
      enumvals: ['serializable', 'repeatable read', 'read committed', 'read uncommitted'],
    });
    expect(() => normalizeValue(iso, 'SERIALIZABLE')).toThrow(/hot standby/);
    expect(normalizeValue(iso, 'Repeatable Read')).toBe('repeatable read');
    expect(() => normalizeValue(iso, 'snapshot')).toThrow(/not one of repeatable read, read committed, read uncommitted$/);
    for (const name of ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout']) {
      expect(() => normalizeValue(row({ name }), '999')).toThrow(/0 \(off\) or at least 1000 ms/);
      expect(normalizeValue(row({ name }), '0')).toBe('0');
      expect(normalizeValue(row({ name }), '1000')).toBe('1000');
    }
    expect(refusalOf('idle_session_timeout')).toMatch(/pgBackRest/);
  });

  it('a real shows with 6 significant digits: the same value, not the same text', () => {
    expect(sameSetting('1.12346', '1.1234567')).toBe(true);
    expect(sameSetting('1e-07', '1e-7')).toBe(true);
    expect(sameSetting('1.1', '1.2')).toBe(false);
    expect(sameSetting('on', 'on')).toBe(true);
    expect(sameSetting('', '0')).toBe(false);
    expect(sameSetting('12345678', '12345679')).toBe(false);
    expect(sameSetting('4', '4.00001')).toBe(false);
    expect(sameSetting('4', '4.0000001')).toBe(true);
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
