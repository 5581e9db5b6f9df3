/**
 * A PostgreSQL 15 server for a benchmark's metadata store (`--store postgres`): initdb into a
 * temporary directory, listening on 127.0.0.1 and on a unix socket in that directory, through
 * the engine's own PgInstance (as root it runs as the `postgres` OS user, and the service
 * reaches it by peer authentication over the socket, D7), as test/helpers/pg-server.ts does for
 * the tests, but with PostgreSQL's durable defaults: fsync, synchronous_commit and
 * full_page_writes stay on (D20: never off in a benchmark). `stop()` stops it by its PID and
 * removes its files.
 */
import { join } from 'node:path';
import { findBinaries } from '../src/dataplane/binaries.js';
import { osIdentity } from '../src/dataplane/os-user.js';
import { isProcessAlive } from '../src/dataplane/pg-exec.js';
import { PgInstance } from '../src/dataplane/pg-instance.js';
import { silentLogger } from '../src/log/logger.js';
import { freePort, removeDir, tempDir } from '../test/helpers/env.js';

export interface StorePg {
  /** what `--store` / DWSBOX_STORE_URL takes */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startStorePg(prefix = 'bench-pgstore'): Promise<StorePg> {
  const dir = tempDir(prefix);
  const port = await freePort();
  const inst = new PgInstance(
    {
      os: osIdentity().postgres,
      dataDir: join(dir, 'data'),
      sockDir: join(dir, 'sock'),
      host: '127.0.0.1',
      port,
      logFile: join(dir, 'postgres.log'),
    },
    findBinaries(null),
    silentLogger(),
  );
  let pid: number;
  try {
    await inst.initdb({ timeoutMs: 120_000 });
    // Room for two services' pools (10 connections each) and the seeding; everything else is PostgreSQL's default.
    inst.writeConfig({ max_connections: 100, log_min_messages: 'warning' });
    pid = (await inst.start({ timeoutMs: 60_000 })).pid;
  } catch (e) {
    await inst.stop({ mode: 'immediate', timeoutMs: 5000 }).catch(() => {});
    removeDir(dir);
    throw e;
  }
  let stopped = false;
  return {
    url: `postgres://postgres@localhost/postgres?host=${encodeURIComponent(inst.spec.sockDir)}&port=${port}`,
    pid,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Fast shutdown by PID (the sessions of the stopped services are gone already).
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        /* already gone */
      }
      const deadline = Date.now() + 30_000;
      while (isProcessAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      if (isProcessAlive(pid)) {
        process.kill(pid, 'SIGKILL');
        while (isProcessAlive(pid)) await new Promise((r) => setTimeout(r, 25));
      }
      removeDir(dir);
    },
  };
}
