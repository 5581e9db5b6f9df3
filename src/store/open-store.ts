import { isPostgresUrl } from '../config/config.js';
import { openPostgres, openSqlite, type AdapterOptions } from './adapters.js';
import { Store } from './store.js';

/** Open the store a setting names: a postgres:// URL, or a SQLite file. */
export function openStore(location: string, o: AdapterOptions = {}): Store {
  return new Store(isPostgresUrl(location) ? openPostgres(location, o) : openSqlite(location, o));
}
