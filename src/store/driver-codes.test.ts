/**
 * Driver error codes are known in one place per backend: the SQLite adapter
 * (src/store/adapters.ts) and the SQLSTATE table (src/errors/pg-sqlstate.ts, with the pool's
 * lost connections in src/store/pg-pool.ts). The rest of the store and the HTTP layer read
 * the classification (StoreError's kind), never a `SQLITE_*` code, a SQLSTATE or a driver's
 * message text.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const KNOWS_DRIVER_CODES = new Set(['src/store/adapters.ts', 'src/store/pg-pool.ts', 'src/errors/pg-sqlstate.ts']);

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

/** What reading a driver's error by hand looks like. */
const DRIVER_CODE_READS: [string, RegExp][] = [
  ['a SQLITE_* code', /SQLITE_[A-Z]/],
  ['a SQLSTATE literal', /['"`](?:[0-9A-Z]{2}[0-9][0-9A-Z]{2})['"`]/],
  ['a SQLSTATE predicate of pg-sqlstate.ts', /\b(?:isAlreadyExists|isNotExists|sqlState)\(/],
  ['a driver message matched', /UNIQUE constraint|duplicate key value|database is locked|could not serialize|deadlock detected/i],
];

describe('driver error codes stay in the adapters', () => {
  const files = [...sources('src/store'), ...sources('src/api')].filter((file) => !KNOWS_DRIVER_CODES.has(file));

  it('finds the files it checks', () => {
    expect(files).toContain('src/store/store.ts');
    expect(files).toContain('src/api/error-handler.ts');
  });

  it('no other file of the store or the HTTP layer reads a driver code or message', () => {
    const found: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const [what, pattern] of DRIVER_CODE_READS) if (pattern.test(text)) found.push(`${file}: ${what}`);
    }
    expect(found).toEqual([]);
  });
});
