/**
 * A private PostgreSQL 15 server for store tests: initdb into a temp directory, listen on
 * 127.0.0.1 and a unix socket in that directory on a free port, through the same PgInstance
 * the engine uses (so, as root, it runs as the `postgres` OS user and the service user
 * reaches it by peer authentication over the socket, design D7). Nothing here relies on a
 * server that happens to be running. `stop()` stops it by its PID and removes its files.
 */
import { join } from 'node:path';
import pg from 'pg';
import { findBinaries } from '../../src/dataplane/binaries.js';
import { PgInstance } from '../../src/dataplane/pg-instance.js';
import { osIdentity } from '../../src/dataplane/os-user.js';
import { isProcessAlive } from '../../src/dataplane/pg-exec.js';
import { silentLogger } from '../../src/log/logger.js';
import { freePort, removeDir, tempDir } from './env.js';

export interface PgServer {
  /** `postgres://postgres@localhost/postgres?host=<socket dir>&port=N`: what openPostgres accepts */
  url: string;
  /** the same URL with `schema=<name>`, which sets the search_path of every connection */
  urlForSchema(schema: string): string;
  /** run SQL as the superuser (create and drop schemas) */
  query(text: string): Promise<void>;
  /** a fresh, empty schema; returns its name */
  createSchema(hint: string): Promise<string>;
  dropSchema(name: string): Promise<void>;
  pid: number;
  stop(): Promise<void>;
}

/** Schema names from test names: lower-case, safe, short, unique. */
export function schemaName(hint: string): string {
  let h = 0;
  for (const ch of hint) h = (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0;
  return `t_${h.toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

export async function startPgServer(prefix = 'pgstore'): Promise<PgServer> {
  const dir = tempDir(prefix);
  const port = await freePort();
  const bins = findBinaries(null);
  // The store's server is no tenant's: it runs as the `postgres` OS user (the service's own user when not root).
  const inst = new PgInstance(
    {
      os: osIdentity().postgres,
      dataDir: join(dir, 'data'),
      sockDir: join(dir, 'sock'),
      host: '127.0.0.1',
      port,
      logFile: join(dir, 'postgres.log'),
    },
    bins,
    silentLogger(),
  );
  let pid: number | null = null;
  try {
    await inst.initdb({ noSync: true, timeoutMs: 120_000 });
    // A throwaway server: speed over durability (these settings never reach a cluster node).
    inst.writeConfig({
      fsync: false,
      synchronous_commit: false,
      full_page_writes: false,
      max_connections: 100,
      shared_buffers: '32MB',
      log_min_messages: 'warning',
    });
    pid = (await inst.start({ timeoutMs: 60_000 })).pid;
  } catch (e) {
    await inst.stop({ mode: 'immediate', timeoutMs: 5000 }).catch(() => {});
    removeDir(dir);
    throw e;
  }
  const sockDir = inst.spec.sockDir;
  const url = `postgres://postgres@localhost/postgres?host=${encodeURIComponent(sockDir)}&port=${port}`;

  const query = async (text: string): Promise<void> => {
    const c = new pg.Client({ host: sockDir, port, user: 'postgres', database: 'postgres' });
    await c.connect();
    try {
      await c.query(text);
    } finally {
      await c.end();
    }
  };

  let stopped = false;
  return {
    url,
    pid,
    urlForSchema: (schema) => `${url}&schema=${encodeURIComponent(schema)}`,
    query,
    async createSchema(hint) {
      const name = schemaName(hint);
      await query(`create schema ${name}`);
      return name;
    },
    async dropSchema(name) {
      await query(`drop schema if exists ${name} cascade`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const p = pid!;
      // Fast shutdown by PID: open connections are rolled back; nothing here is worth a checkpoint wait.
      try {
        process.kill(p, 'SIGINT');
      } catch {
        /* already gone */
      }
      const deadline = Date.now() + 15_000;
      while (isProcessAlive(p) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      if (isProcessAlive(p)) {
        process.kill(p, 'SIGKILL');
        while (isProcessAlive(p)) await new Promise((r) => setTimeout(r, 25));
      }
      removeDir(dir);
    },
  };
}
