import { describe, expect, it } from 'vitest';
import { AppError, coerceError } from './app-error.js';

describe('coerceError', () => {
  it('returns an Error as it is', () => {
    const e = new TypeError('boom');
    expect(coerceError(e)).toBe(e);
    const app = new AppError('VERIFY_FAILED', { args: ['x'] });
    expect(coerceError(app)).toBe(app);
  });

  it('wraps a string, keeping it as the cause', () => {
    const e = coerceError('plain text');
    expect(e).toBeInstanceOf(Error);
    expect(e.message).toBe('plain text');
    expect(e.cause).toBe('plain text');
  });

  it('wraps any other value with it shown in the message and kept as the cause', () => {
    const value = { code: 42, why: 'odd' };
    const e = coerceError(value);
    expect(e.message).toBe('non-error thrown: {"code":42,"why":"odd"}');
    expect(e.cause).toBe(value);
    expect(coerceError(undefined).cause).toBeUndefined();
    expect(coerceError(undefined).message).toBe('non-error thrown: undefined');
    expect(coerceError(7).cause).toBe(7);
  });

  it('keeps a value JSON cannot show (a cycle, a bigint) as the cause', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const e = coerceError(cyclic);
    expect(e.message).toBe('non-error thrown');
    expect(e.cause).toBe(cyclic);
    expect(coerceError(10n).cause).toBe(10n);
  });
});
