/**
 * The store backends the contract suites loop over, as Kysely's tests loop over DIALECTS:
 *
 *   for (const backend of STORE_BACKENDS) describe(`${backend}: …`, () => { const h = useStore(backend); … })
 *
 * STORE_BACKENDS=sqlite,postgres (the default) selects them. SQLite gets a fresh temp file
 * per test; PostgreSQL a fresh schema per test on one private server per describe block
 * (one per file when the file has one block per backend), dropped when the test passes and
 * kept (until the server stops) when it fails.
 */
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { join } from 'node:path';
import { openStore } from '../../src/store/open-store.js';
import { migrate } from '../../src/store/migrate.js';
import type { Store } from '../../src/store/store.js';
import { removeDir, tempDir } from './env.js';
import { startPgServer, type PgServer } from './pg-server.js';

export type StoreBackend = 'sqlite' | 'postgres';

function parseBackends(raw: string | undefined): StoreBackend[] {
  const list = (raw ?? 'sqlite,postgres')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const b of list) {
    if (b !== 'sqlite' && b !== 'postgres')
      throw new Error(`STORE_BACKENDS: unknown backend "${b}"; use sqlite, postgres or both, comma-separated`);
  }
  if (list.length === 0) throw new Error('STORE_BACKENDS is empty; use sqlite, postgres or both');
  return list as StoreBackend[];
}

export const STORE_BACKENDS: readonly StoreBackend[] = parseBackends(process.env['STORE_BACKENDS']);

export interface StoreHarness {
  readonly backend: StoreBackend;
  /** this test's store, migrated */
  readonly store: Store;
  /** where this test's store lives (a SQLite file or a postgres:// URL with its schema) */
  readonly location: string;
  /** another Store on a location (default: this test's), as a second service process would open it; closed after the test */
  open(location?: string): Store;
  /** a second, empty and unmigrated store (its own file or schema); closed and removed after the test */
  fresh(hint?: string): Promise<{ store: Store; location: string }>;
  /** the PostgreSQL server (postgres backend only) */
  readonly server: PgServer | null;
}

/**
 * Call once per backend, in the describe block that holds that backend's tests (nested
 * blocks share it): one PostgreSQL server for the block, a fresh migrated store per test.
 */
export function useStore(backend: StoreBackend): StoreHarness {
  let server: PgServer | null = null;
  let testName = '';
  let failed = false;
  let current: { store: Store; location: string } | null = null;
  let opened: Store[] = [];
  let cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    if (backend === 'postgres') server = await startPgServer('pgstore');
  });
  afterAll(async () => {
    await server?.stop();
    server = null;
  });

  const newLocation = async (hint: string): Promise<string> => {
    if (backend === 'sqlite') {
      const dir = tempDir('sqlite-store');
      cleanups.push(async () => removeDir(dir));
      return join(dir, 'dwsbox.sqlite');
    }
    const schema = await server!.createSchema(hint);
    // Kept when the test fails, for a look with psql while the server still runs.
    cleanups.push(async () => {
      if (!failed) await server!.dropSchema(schema);
    });
    return server!.urlForSchema(schema);
  };

  const open = (location: string): Store => {
    const s = openStore(location);
    opened.push(s);
    return s;
  };

  beforeEach(async (ctx) => {
    testName = ctx.task.name;
    failed = false;
    ctx.onTestFailed(() => {
      failed = true;
    });
    const location = await newLocation(testName);
    const store = open(location);
    await migrate(store.adapter, { now: 1 });
    current = { store, location };
  });

  afterEach(async () => {
    for (const s of opened) await s.close();
    for (const c of cleanups) await c();
    opened = [];
    cleanups = [];
    current = null;
  });

  const need = (): { store: Store; location: string } => {
    if (!current) throw new Error('the store exists only inside a test');
    return current;
  };

  return {
    backend,
    get store() {
      return need().store;
    },
    get location() {
      return need().location;
    },
    get server() {
      return server;
    },
    open(location?: string) {
      return open(location ?? need().location);
    },
    async fresh(hint?: string) {
      const location = await newLocation(hint ?? `${testName} (fresh)`);
      return { store: open(location), location };
    },
  };
}
