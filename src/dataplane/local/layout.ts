/**
 * Where a cluster's things live on this host, and the directories made for them (D32: every
 * directory on the way to one a project's user can write is root's; locks are root's alone).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ClusterRecord } from '../../domain/records.js';
import type { LocalEngine } from '../local-engine.js';
import { osIdentity } from '../os-user.js';
import { acquireLock, type HeldLock } from '../pg-exec.js';
import { mkdirSafe, removeTree, serviceOwner, writeFileSafe } from '../safe-fs.js';

// ------------------------------------------------------------------ layout
export function clusterDir(e: LocalEngine, clusterId: string): string {
  return join(e.settings.dataDir, 'clusters', clusterId);
}

export function nodeDir(e: LocalEngine, clusterId: string, ordinal: number): string {
  return join(e.clusterDir(clusterId), `node${ordinal}`);
}

/** The lock file every step on this cluster holds (D1). */
export function lockFile(e: LocalEngine, clusterId: string): string {
  return join(e.settings.dataDir, 'locks', `${clusterId}.lock`);
}

export function nodePaths(e: LocalEngine, clusterId: string, ordinal: number): { dataDir: string; sockDir: string; logFile: string } {
  const d = e.nodeDir(clusterId, ordinal);
  return {
    dataDir: join(d, 'data'),
    sockDir: join(e.socketRoot(), `${clusterId.slice(0, 13)}${ordinal}`),
    logFile: join(d, 'postgres.log'),
  };
}

/**
 * Unix socket paths are limited to 107 bytes (`<dir>/.s.PGSQL.<port>`), so sockets live in
 * a short directory: `<dataDir>/s`, or, when the data directory's path is long, under
 * /run/dwsbox as root (D32: never in /tmp, where anyone can plant a name first), under /tmp
 * only for a service that is not root.
 */
export function socketRoot(e: LocalEngine): string {
  const inData = join(e.settings.dataDir, 's');
  if (inData.length <= 60) return inData;
  const tag = `s-${createHash('sha1').update(e.settings.dataDir).digest('hex').slice(0, 12)}`;
  return process.getuid?.() === 0 ? join('/run/dwsbox', tag) : join('/tmp', `dwsbox-${tag}`);
}

/**
 * A stanza's pgBackRest config lives outside its cluster's directory: snapshots (and the
 * restores and expiries that read them) outlive the cluster (D16).
 */
export function stanzaConfigFile(e: LocalEngine, stanza: string): string {
  return join(e.settings.dataDir, 'stanzas', `${stanza}.conf`);
}

/**
 * Data directory, lock and log directories exist and `postgres` can reach them (D20). D32:
 * every directory on the way to one the PostgreSQL user writes is root's (0711: traversable,
 * not listable); the locks are root's alone (tools get them as descriptors); the stanza
 * configs are root's, readable by the PostgreSQL user's group. Directories an older version
 * made as postgres are taken back through descriptors (a planted link is refused).
 */
export function prepareHost(e: LocalEngine): void {
  const id = osIdentity();
  mkdirSync(e.settings.dataDir, { recursive: true, mode: 0o711 });
  chmodSync(e.settings.dataDir, 0o711);
  const root = serviceOwner();
  for (const d of ['clusters', 'log', 'run', 'tmp']) mkdirSafe(join(e.settings.dataDir, d), root, 0o711);
  mkdirSafe(join(e.settings.dataDir, 'locks'), root, 0o700);
  mkdirSafe(join(e.settings.dataDir, 'stanzas'), root, 0o711);
  if (e.socketRoot().startsWith('/run/')) mkdirSafe('/run/dwsbox', root, 0o711);
  mkdirSafe(e.socketRoot(), root, 0o711);
  e.backrest.ensureRepoDirs();
  if (id.runAsPostgres) assertReachableByPostgres(e.settings.dataDir);
}

/** The cluster's directory (root's, D32) and its lock file. */
export function prepareClusterDir(e: LocalEngine, cluster: Pick<ClusterRecord, 'id' | 'projectId'>): void {
  mkdirSafe(e.clusterDir(cluster.id), serviceOwner(), 0o711);
  ensureLockFile(e.lockFile(cluster.id));
}

/**
 * A node's directory: root's (D32), holding the node's log (root's; the postmaster writes
 * it through an inherited descriptor), its markers and its replication passfile; the data
 * directory inside is the PostgreSQL user's.
 */
export function prepareNodeDir(e: LocalEngine, cluster: Pick<ClusterRecord, 'id' | 'projectId'>, ordinal: number): void {
  e.prepareClusterDir(cluster);
  mkdirSafe(e.nodeDir(cluster.id, ordinal), serviceOwner(), 0o711);
  const log = e.nodePaths(cluster.id, ordinal).logFile;
  if (!existsSync(log)) writeFileSafe(log, '', serviceOwner(), 0o640);
}

/** Take a lock file (a cluster's, or a stanza's) for the length of a step (D1, acquireLock). */
export function lockForStep(
  e: LocalEngine,
  lockFile: string,
  o: { signal?: AbortSignal; timeoutMs?: number; label: string },
): Promise<HeldLock> {
  ensureLockFile(lockFile);
  return acquireLock(lockFile, { timeoutMs: o.timeoutMs ?? 120_000, label: o.label, ...(o.signal ? { signal: o.signal } : {}) });
}

/** Remove a node's files (the server must be stopped). */
export async function removeNodeFiles(e: LocalEngine, cluster: Pick<ClusterRecord, 'id' | 'projectId'>, ordinal: number): Promise<void> {
  // A child process: a data directory takes seconds to remove, and the event loop renews leases.
  await removeTree(e.nodeDir(cluster.id, ordinal));
}

/** Remove everything of a cluster on this host but its repository. */
export async function removeClusterFiles(e: LocalEngine, clusterId: string): Promise<void> {
  await removeTree(e.clusterDir(clusterId));
  for (const d of readdirSafe(e.socketRoot())) if (d.startsWith(clusterId.slice(0, 13))) await removeTree(join(e.socketRoot(), d));
  rmSync(e.lockFile(clusterId), { force: true });
}

/** Clusters that have files here (for doctor and the leak checks). */
export function clusterDirs(e: LocalEngine): string[] {
  try {
    return readdirSync(join(e.settings.dataDir, 'clusters'));
  } catch {
    return [];
  }
}

function assertReachableByPostgres(dir: string): void {
  // Every directory on the path must be traversable by postgres (postgres-ops §1: /root is 0700).
  let p = dir;
  for (;;) {
    const st = modeOf(p);
    if (st !== null && (st & 0o001) === 0) {
      throw new Error(
        `the postgres OS user cannot reach the data directory ${dir}: ${p} is not traversable (mode ${st.toString(8)}). Fix: chmod o+x ${p}, or choose --data-dir outside it (default /var/lib/dwsbox)`,
      );
    }
    const parent = join(p, '..');
    if (parent === p) break;
    p = parent;
  }
}

function readdirSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

/** Lock files are root's (0644, in root's 0700 directory); tools get them as descriptors (D32). */
function ensureLockFile(path: string): void {
  if (existsSync(path)) return;
  writeFileSafe(path, '', serviceOwner(), 0o644);
}

/** Permission bits of a path, or null when it cannot be read. */
function modeOf(p: string): number | null {
  try {
    return statSync(p).mode & 0o777;
  } catch {
    return null;
  }
}
