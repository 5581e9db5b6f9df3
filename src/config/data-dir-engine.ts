/**
 * The engine a data directory's clusters run on (issue 15). A cluster's files are laid out for
 * the engine that made it, so a data directory keeps one engine: the one recorded in
 * `<dataDir>/engine` at the service's first start on it, or, for a data directory from before
 * that record (the local engine was the default until 2026-12-06), the one its clusters tell: a
 * Patroni cluster's directory holds its `ha.json`. `loadConfig` takes it when `--engine` is not
 * given, so an upgraded service goes on running the clusters it has; `recordEngine` refuses an
 * engine that is not the data directory's.
 */
import { existsSync, linkSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export type EngineName = 'local' | 'patroni';

const ENGINES: readonly string[] = ['local', 'patroni'];
const CLUSTER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Where a data directory records its engine. */
export function engineFile(dataDir: string): string {
  return join(dataDir, 'engine');
}

/** The engine of a data directory's clusters: recorded, else told by its clusters; null for a data directory without either. */
export function recordedEngine(dataDir: string): EngineName | null {
  const file = engineFile(dataDir);
  const text = readIfThere(file)?.trim();
  if (text !== undefined) {
    if (!ENGINES.includes(text)) throw new Error(`${file} names the engine "${text}": expected local or patroni`);
    return text as EngineName;
  }
  const clustersDir = join(dataDir, 'clusters');
  const ids = existsSync(clustersDir) ? readdirSync(clustersDir).filter((d) => CLUSTER_ID.test(d)) : [];
  if (!ids.length) return null;
  return ids.every((id) => existsSync(join(clustersDir, id, 'ha.json'))) ? 'patroni' : 'local';
}

/**
 * Record `engine` as the data directory's at the service's start, or refuse it when the
 * directory's clusters run on another (naming the flag that runs them).
 */
export function recordEngine(dataDir: string, engine: EngineName): void {
  const recorded = recordedEngine(dataDir);
  if (recorded !== null && recorded !== engine)
    throw new Error(
      `the clusters of data directory ${dataDir} run on the ${recorded} engine (${engineFile(dataDir)}), not the ${engine} engine: ` +
        `start the service with --engine ${recorded}, or give it another --data-dir`,
    );
  if (readIfThere(engineFile(dataDir)) !== undefined) return;
  // Written whole under a name of this process, then linked into place: the link fails if another
  // service of this data directory (the PostgreSQL store) recorded one first, and a service
  // starting beside it never reads a file still being written.
  const tmp = `${engineFile(dataDir)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, `${engine}\n`, { mode: 0o644 });
  try {
    linkSync(tmp, engineFile(dataDir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // The other one's must agree.
    recordEngine(dataDir, engine);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
