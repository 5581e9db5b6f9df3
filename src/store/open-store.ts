import { isPostgresUrl } from '../config/config.js';
import { openPostgres, openSqlite, type AdapterOptions } from './adapters.js';
import { privateSqliteFiles } from './private-files.js';
import { Store } from './store.js';

/**
 * Open the store a setting names: a postgres:// URL, or a SQLite file (created 0600, and its
 * `-wal`/`-shm` files tightened to 0600 before and after SQLite opens them: private-files.ts).
 */
export function openStore(location: string, o: AdapterOptions = {}): Store {
  if (isPostgresUrl(location)) return new Store(openPostgres(location, o));
  privateSqliteFiles(location);
  const adapter = openSqlite(location, o);
  privateSqliteFiles(location);
  return new Store(adapter);
}
