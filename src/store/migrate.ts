/**
 * Migration runner: numbered SQL files per backend (compiled into generated/migrations.ts),
 * each applied in its own transaction; concurrent starts are serialized; a store newer than
 * this code is refused.
 */
import { sql } from 'kysely';
import { MIGRATIONS, type Migration } from './generated/migrations.js';
import type { StoreAdapter } from './store-adapter.js';
import { isStoreError } from '../errors/store-error.js';

export interface MigrationResult {
  version: number;
  name: string;
  status: 'applied' | 'already-applied' | 'pending';
}

export class StoreTooNewError extends Error {
  override name = 'StoreTooNewError';
}

async function ensureTable(adapter: StoreAdapter): Promise<void> {
  try {
    await sql`create table if not exists dwsbox_migrations (version integer primary key, name text not null, applied_at bigint not null)`.execute(
      adapter.db,
    );
  } catch (e) {
    // Two processes starting at once on a fresh PostgreSQL store race here: `create table if
    // not exists` is not atomic, and the loser gets 23505 (on pg_type) or 42P07. Either way
    // the table now exists, which is all this needs.
    if (!(isStoreError(e) && (e.kind === 'unique-violation' || e.kind === 'already-exists'))) throw e;
  }
}

export async function currentVersion(adapter: StoreAdapter): Promise<number> {
  await ensureTable(adapter);
  const r = await adapter.db
    .selectFrom('dwsbox_migrations')
    .select((eb) => eb.fn.max('version').as('v'))
    .executeTakeFirst();
  return Number(r?.v ?? 0);
}

export function codeVersion(adapter: StoreAdapter): number {
  return MIGRATIONS[adapter.name].at(-1)?.version ?? 0;
}

/**
 * Bring the store to the code's schema. `upTo` stops early (tests migrate from an older
 * schema); `dryRun` only reports what would run.
 */
export async function migrate(
  adapter: StoreAdapter,
  opts: { upTo?: number; dryRun?: boolean; now?: number } = {},
): Promise<MigrationResult[]> {
  const all: Migration[] = MIGRATIONS[adapter.name];
  const have = await currentVersion(adapter);
  const mine = codeVersion(adapter);
  if (have > mine) {
    throw new StoreTooNewError(
      `store schema version ${have} is newer than this dwsbox supports (${mine}); upgrade dwsbox, or restore the metadata store from a backup taken before the upgrade`,
    );
  }
  const results: MigrationResult[] = [];
  for (const m of all) {
    if (opts.upTo !== undefined && m.version > opts.upTo) break;
    if (m.version <= have) {
      results.push({ version: m.version, name: m.name, status: 'already-applied' });
      continue;
    }
    if (opts.dryRun) {
      results.push({ version: m.version, name: m.name, status: 'pending' });
      continue;
    }
    const applied = await adapter.db.transaction().execute(async (trx) => {
      await adapter.lockForMigration(trx);
      // Another process may have applied it while we waited for the lock.
      const again = await trx.selectFrom('dwsbox_migrations').select('version').where('version', '=', m.version).executeTakeFirst();
      if (again) return false;
      await adapter.executeScript(trx, m.sql);
      await trx
        .insertInto('dwsbox_migrations')
        .values({ version: m.version, name: m.name, applied_at: opts.now ?? Date.now() })
        .execute();
      return true;
    });
    results.push({ version: m.version, name: m.name, status: applied ? 'applied' : 'already-applied' });
  }
  return results;
}

export function migrationSql(adapter: StoreAdapter): Migration[] {
  return MIGRATIONS[adapter.name];
}
