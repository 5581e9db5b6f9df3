import { isPostgresUrl } from '../config/config.js';
import { openPostgres, openSqlite } from './adapters.js';
import { Store } from './store.js';

/** Open the store a setting names: a postgres:// URL, or a SQLite file. */
export function openStore(location: string): Store {
  return new Store(isPostgresUrl(location) ? openPostgres(location) : openSqlite(location));
}
