/**
 * docs/errors.md and the error catalog cannot drift apart (after Fastify's
 * test/internals/errors.test.js): every catalog code is documented with its status and wire
 * code, and every code the document names exists in the catalog.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, type ErrorCode } from '../../src/errors/codes.js';

const doc = readFileSync(fileURLToPath(new URL('../../docs/errors.md', import.meta.url)), 'utf8');

interface Row {
  code: string;
  http: number;
  wire: string;
  retryable: string;
  meaning: string;
  todo: string;
}

/** Table rows whose first cell is a back-quoted code. */
function rows(): Row[] {
  const out: Row[] = [];
  for (const line of doc.split('\n')) {
    const m = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    const cells = m[2]!.split('|').map((c) => c.trim());
    out.push({
      code: m[1]!,
      http: Number(cells[0]),
      wire: (cells[1] ?? '').replace(/`/g, ''),
      retryable: cells[2] ?? '',
      meaning: cells[3] ?? '',
      todo: cells[4] ?? '',
    });
  }
  return out;
}

const catalog = Object.keys(ERROR_CODES) as ErrorCode[];

describe('docs/errors.md', () => {
  const table = rows();

  it('has a row for every catalog code', () => {
    const documented = new Set(table.map((r) => r.code));
    expect(catalog.filter((c) => !documented.has(c))).toEqual([]);
  });

  it('documents no code the catalog does not have, and none twice', () => {
    expect(table.map((r) => r.code).filter((c) => !(c in ERROR_CODES))).toEqual([]);
    expect(table.length).toBe(new Set(table.map((r) => r.code)).size);
    expect(table.length).toBe(catalog.length);
  });

  it("gives each code the catalog's HTTP status, wire code and retryability", () => {
    for (const r of table) {
      const spec = ERROR_CODES[r.code as ErrorCode];
      expect({ code: r.code, http: r.http, wire: r.wire, retryable: r.retryable }).toEqual({
        code: r.code,
        http: spec.httpStatus,
        wire: spec.wireCode,
        retryable: spec.retryable ? 'yes' : 'no',
      });
    }
  });

  it('says what each code means and what to do', () => {
    for (const r of table) {
      expect(r.meaning.length, r.code).toBeGreaterThan(20);
      expect(r.todo.length, r.code).toBeGreaterThan(5);
    }
  });

  it('mentions no wire code that the catalog does not use', () => {
    const wire = new Set(Object.values(ERROR_CODES).map((s) => s.wireCode));
    const mentioned = [...doc.matchAll(/\b(?:DWS|APIGW)\.\d{4,5}\b/g)].map((m) => m[0]);
    expect(mentioned.length).toBeGreaterThan(0);
    expect([...new Set(mentioned)].filter((c) => !wire.has(c))).toEqual([]);
  });

  it('mentions no internal code that the catalog does not have', () => {
    // any back-quoted SCREAMING_SNAKE word with an underscore, or one of the one-word codes
    const words = [...doc.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|VALIDATION|FORBIDDEN)`/g)].map((m) => m[1]!);
    expect(words.filter((w) => !(w in ERROR_CODES))).toEqual([]);
  });
});
