/**
 * Is a snapshot restorable? Restore its backup set into a temporary instance with the
 * engine's own restore (D4), start it, run a query, and remove it.
 */
import type { Service } from '../../src/main.js';
import type { LocalEngine } from '../../src/dataplane/local-engine.js';
import { restoreSet, waitPromoted } from '../../src/dataplane/pg-restore.js';
import { randomBytes } from 'node:crypto';

export async function queryRestoredSnapshot<R extends Record<string, unknown>>(
  svc: Service,
  snapshotId: string,
  sql: string,
  database = 'postgres',
): Promise<R[]> {
  const snap = await svc.store.getSnapshotById(snapshotId);
  if (!snap?.backupLabel) throw new Error(`snapshot ${snapshotId} has no backup set`);
  return queryRestoredSet<R>(svc.dataPlane, { stanza: snap.stanza, label: snap.backupLabel, sourceBytes: snap.sourceBytes }, sql, database);
}

/** The same for a backup set named by its stanza and label, with any engine on the data directory (a child service's, say). */
export async function queryRestoredSet<R extends Record<string, unknown>>(
  engine: LocalEngine,
  set: { stanza: string; label: string; sourceBytes: number | null },
  sql: string,
  database = 'postgres',
): Promise<R[]> {
  if (!set.label) throw new Error(`no backup set label given for stanza ${set.stanza}`);
  const id = `check-${randomBytes(4).toString('hex')}`;
  const os = engine.backrest.stanzaUser(engine.stanzaConfigFile(set.stanza));
  const inst = engine.tempInstance(id, os);
  try {
    engine.prepareHost();
    await restoreSet(engine.backrest, {
      source: { stanza: set.stanza, configFile: engine.stanzaConfigFile(set.stanza) },
      label: set.label,
      dataDir: inst.dataDir,
      os,
      totalBytes: set.sourceBytes,
      lockFile: `${engine.settings.dataDir}/locks/${id}.lock`,
    });
    engine.prepareTempInstance(inst);
    await inst.start({ timeoutMs: 120_000 });
    await waitPromoted(inst, { timeoutMs: 120_000 });
    // dwsbox's own sessions resolve names only in pg_catalog (D32); the checks name the tenant's tables as a tenant would.
    const c = await inst.connect(database, 120_000);
    try {
      await c.query('set search_path = "$user", public');
      return (await c.query<R>(sql)).rows;
    } finally {
      await c.end().catch(() => {});
    }
  } finally {
    await engine.removeTempInstance(id, os);
  }
}
