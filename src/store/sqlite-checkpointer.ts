/**
 * SQLite's WAL checkpoints, off the event loop (issue 14). A checkpoint copies the WAL into the
 * database file and syncs both; SQLite runs one automatically inside the commit that fills the
 * WAL to 1,000 pages, and better-sqlite3 is synchronous, so that commit stopped every request of
 * the service for as long as the disk took to sync (the event loop stalled up to 225 ms under
 * bench/load.ts while backups wrote). Here the service's own connection checkpoints never; a
 * worker thread with a connection of its own runs `wal_checkpoint(PASSIVE)` (it waits for no
 * reader or writer) every second, and once more when it stops.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const CHECKPOINT_LOOP = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

/** What the store says beside its queries (the service passes its logger; the store imports no logger). */
export interface StoreLog {
  warn(msg: string, meta?: Record<string, unknown>): void;
  error(msg: string, meta?: Record<string, unknown>): void;
}

export interface Checkpointer {
  /** One last checkpoint, then the worker's connection closes. */
  stop(): Promise<void>;
}

/**
 * Start checkpointing `file` in a worker. `onLost` is called when the worker ends by itself
 * (the caller turns SQLite's own checkpoints back on, so the WAL never grows without bound).
 */
export function startCheckpointer(file: string, o: { intervalMs?: number; log?: StoreLog; onLost: () => void }): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(CHECKPOINT_LOOP, { eval: true, workerData: { file, driver, intervalMs: o.intervalMs ?? 1000 } });
  worker.unref();
  let stopping = false;
  worker.on('message', (m: { error?: string }) => {
    if (m.error) o.log?.warn('store checkpoint failed', { error: m.error });
  });
  worker.on('error', (e) => o.log?.error('store checkpointer failed', { error: e.message }));
  const exited = new Promise<void>((resolve) =>
    worker.once('exit', () => {
      if (!stopping) o.onLost();
      resolve();
    }),
  );
  return {
    async stop() {
      stopping = true;
      // Referenced again: the process waits for the last checkpoint (a top-level await would not settle otherwise).
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
