import { statSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../../test/helpers/env.js';
import { openSqlite } from './adapters.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach(removeDir));

describe('SQLite checkpoints in a worker', () => {
  it('commits never checkpoint; the worker copies the WAL into the database file, and close waits for its last checkpoint', async () => {
    const dir = tempDir('ckpt');
    dirs.push(dir);
    const file = join(dir, 'store.sqlite');
    const adapter = openSqlite(file);
    await sql`create table blobs (b blob)`.execute(adapter.db);
    const before = statSync(file).size;
    // 8 MB in commits of 64 KiB: far past the 1,000 pages at which a commit would checkpoint by itself.
    for (let i = 0; i < 128; i++)
      await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < 16) insert into blobs select zeroblob(4096) from n`.execute(
        adapter.db,
      );
    const mode = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(adapter.db);
    expect(mode.rows[0]!.wal_autocheckpoint).toBe(0);
    const deadline = Date.now() + 15_000;
    while (statSync(file).size < before + 8_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(statSync(file).size).toBeGreaterThan(before + 8_000_000);
    await adapter.close();
  });
});
