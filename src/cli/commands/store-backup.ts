/**
 * `npx dwsbox store backup FILE` / `store restore FILE`: the SQLite metadata store. A backup
 * is consistent while the service runs (SQLite's online backup); a restore needs the service
 * stopped. A PostgreSQL store is backed up with its own tools (docs/operations.md).
 */
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { isPostgresUrl, type Config } from '../../config/config.js';
import { openStore } from '../../store/open-store.js';
import { privateFile, privateSqliteFiles } from '../../store/private-files.js';
import { codeVersion } from '../../store/migrate.js';
import { acquireLock } from '../../dataplane/pg-exec.js';

export class StoreCommandError extends Error {
  override name = 'StoreCommandError';
}

export async function backupStore(config: Config, file: string): Promise<{ file: string }> {
  if (isPostgresUrl(config.store)) {
    throw new StoreCommandError(
      'the store is PostgreSQL: back it up with pg_dump (see docs/operations.md), e.g. pg_dump -Fc -f dwsbox-store.dump "<store URL>"',
    );
  }
  const store = openStore(config.store);
  try {
    if (!store.adapter.backupTo) throw new StoreCommandError('this store cannot be backed up by dwsbox');
    // The copy holds what the store holds (sealed secrets, password hashes): 0600 like the store.
    privateFile(file, true);
    await store.adapter.backupTo(file);
    privateSqliteFiles(file);
  } finally {
    await store.close();
  }
  return { file };
}

export async function restoreStore(config: Config, file: string): Promise<{ restored: string; into: string }> {
  if (isPostgresUrl(config.store))
    throw new StoreCommandError('the store is PostgreSQL: restore it with pg_restore (see docs/operations.md)');
  if (!existsSync(file)) throw new StoreCommandError(`no file ${file}`);
  // The same lock `serve` holds (D1): the service must be stopped.
  let lock: { release(): Promise<void> };
  try {
    lock = await acquireLock(join(config.dataDir, 'locks', 'serve.lock'), { timeoutMs: 1500, label: 'store restore' });
  } catch {
    throw new StoreCommandError(`dwsbox serve is running on ${config.dataDir}; stop it before restoring the store`);
  }
  try {
    const probe = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    let version = 0;
    try {
      version = Number((probe.prepare('select max(version) as v from dwsbox_migrations').get() as { v: number | null }).v ?? 0);
    } catch {
      throw new StoreCommandError(`${file} is not a dwsbox store backup (no dwsbox_migrations table)`);
    } finally {
      probe.close();
    }
    const store = openStore(config.store);
    const mine = codeVersion(store.adapter);
    await store.close();
    if (version > mine) throw new StoreCommandError(`${file} has schema version ${version}, newer than this dwsbox supports (${mine})`);
    for (const suffix of ['-wal', '-shm']) rmSync(config.store + suffix, { force: true });
    copyFileSync(file, config.store);
    privateSqliteFiles(config.store);
    return { restored: file, into: config.store };
  } finally {
    await lock.release();
  }
}
