/** Temporary instances (D4): a restored copy on a unix socket only, for table restores and restore checks. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_TYPES } from '../../domain/node-types.js';
import type { LocalEngine } from '../local-engine.js';
import type { OsUser } from '../os-user.js';
import { mkdirOwned, PgInstance } from '../pg-instance.js';
import { keepOnlyRecoverySettings } from '../pg-restore.js';
import { mkdirSafe, removeTree, serviceOwner, writeFileSafe } from '../safe-fs.js';

const MAX_NODE_CONNECTIONS = Math.max(...NODE_TYPES.map((t) => t.settings.max_connections));

// ------------------------------------------------------------------ temporary instances (D4)
/** A temporary instance (table restore, restore checks): its own directory, a unix socket only; run by its project's user (a project id) or the given one. */
export function tempInstance(e: LocalEngine, id: string, owner: string | OsUser): PgInstance {
  const dir = join(e.settings.dataDir, 'tmp', id);
  return new PgInstance(
    {
      os: typeof owner === 'string' ? e.projectUser(owner) : owner,
      dataDir: join(dir, 'data'),
      sockDir: join(e.socketRoot(), `t${id.slice(0, 13)}`),
      host: '',
      port: 30999,
      logFile: join(dir, 'postgres.log'),
    },
    e.bins,
    e.log,
  );
}

/**
 * Prepare a restored copy for its first start as a temporary instance: no TCP listener, no
 * archiving, no replication, small memory (D4: a temporary instance never archives).
 * A Patroni member's configuration, restored with its data, names the cluster's synchronous
 * standby and the member's own access files by absolute path: the copy has no standby (a
 * commit in it, such as a table restore's renames, would wait for one forever) and reads its
 * own files. `extra` overrides these (a snapshot copy's instance archives into the copy's stanza).
 */
export function prepareTempInstance(e: LocalEngine, inst: PgInstance, extra: Record<string, string> = {}): void {
  e.prepareTempDir(inst);
  // Recovery refuses settings lower than the source's (max_connections, max_wal_senders,
  // max_replication_slots…): these match the largest node type and the cluster settings.
  inst.writeConfig({
    synchronous_standby_names: '',
    hba_file: join(inst.dataDir, 'pg_hba.conf'),
    ident_file: join(inst.dataDir, 'pg_ident.conf'),
    shared_buffers: '32MB',
    max_connections: MAX_NODE_CONNECTIONS,
    work_mem: '4MB',
    maintenance_work_mem: '64MB',
    archive_mode: 'off',
    archive_command: '',
    wal_level: 'replica',
    max_wal_senders: 40,
    max_replication_slots: 40,
    hot_standby: 'on',
    log_destination: 'stderr',
    logging_collector: 'off',
    log_line_prefix: '%m [%p] ',
    timezone: 'UTC',
    log_timezone: 'UTC',
    ...(e.settings.unsafeNoFsync ? { fsync: 'off', synchronous_commit: 'off' } : {}),
    ...extra,
  });
  // D32: none of the snapshot's ALTER SYSTEM settings, which PostgreSQL would read after these.
  keepOnlyRecoverySettings(inst.dataDir, inst.spec.os);
}

/**
 * A temporary instance's directory (root's, D32) with its log (root's) and, beside the
 * data directory, `work/`: the PostgreSQL user's, where its dumps and lists are written.
 */
export function prepareTempDir(e: LocalEngine, inst: PgInstance): string {
  const dir = join(inst.dataDir, '..');
  mkdirSafe(dir, serviceOwner(), 0o711);
  if (!existsSync(inst.spec.logFile)) writeFileSafe(inst.spec.logFile, '', serviceOwner(), 0o640);
  const work = join(dir, 'work');
  mkdirOwned(work, inst.spec.os, 0o750);
  return work;
}

/** Stop a temporary instance (immediate: its data is thrown away) and remove its files. */
export async function removeTempInstance(e: LocalEngine, id: string, owner: string | OsUser): Promise<void> {
  const inst = e.tempInstance(id, owner);
  await inst.stop({ mode: 'immediate' });
  await removeTree(join(e.settings.dataDir, 'tmp', id));
  await removeTree(inst.spec.sockDir);
}
