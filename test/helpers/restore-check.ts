/**
 * Is a snapshot restorable? Restore its backup set into a temporary instance with the
 * engine's own restore (D4), start it, run a query, and remove it.
 */
import type { Service } from '../../src/main.js';
import { restoreSet, waitPromoted } from '../../src/engine/pg-restore.js';
import { randomBytes } from 'node:crypto';

export async function queryRestoredSnapshot<R extends Record<string, unknown>>(svc: Service, snapshotId: string, sql: string, database = 'postgres'): Promise<R[]> {
  const snap = await svc.store.getSnapshotById(snapshotId);
  if (!snap?.backupLabel) throw new Error(`snapshot ${snapshotId} has no backup set`);
  const id = `check-${randomBytes(4).toString('hex')}`;
  const inst = svc.engine.tempInstance(id);
  try {
    svc.engine.prepareHost();
    await restoreSet(svc.engine.backrest, {
      source: { stanza: snap.stanza, configFile: svc.engine.stanzaConfigFile(snap.stanza) }, label: snap.backupLabel, dataDir: inst.dataDir,
      totalBytes: snap.sourceBytes, lockFile: `${svc.config.dataDir}/locks/${id}.lock`,
    });
    svc.engine.prepareTempInstance(inst);
    await inst.start({ timeoutMs: 120_000 });
    await waitPromoted(inst, { timeoutMs: 120_000 });
    return await inst.query<R>(sql, [], database);
  } finally {
    await svc.engine.removeTempInstance(id);
  }
}
