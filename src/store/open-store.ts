import { isPostgresUrl } from '../config/config.js';
import { openPostgres, openSqlite, type AdapterOptions } from './adapters.js';
import { privateSqliteFiles } from './private-files.js';
import { Store } from './store.js';

/**
 * Open the store a setting names: a postgres:// URL, or a SQLite file (created 0600 and its
 * `-wal`/`-shm` files tightened to 0600 before SQLite opens them; SQLite makes new ones with
 * the database file's mode: private-files.ts). Never after: closing any descriptor of those
 * files in this process would drop SQLite's POSIX locks on them, and the next process to open
 * the store would take the shared-memory index for its own and truncate it under this one
 * (a SIGBUS, seen in the crash tests).
 */
export function openStore(location: string, o: AdapterOptions = {}): Store {
  if (isPostgresUrl(location)) return new Store(openPostgres(location, o));
  privateSqliteFiles(location);
  return new Store(openSqlite(location, o));
}
