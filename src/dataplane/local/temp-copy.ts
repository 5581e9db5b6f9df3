/**
 * A table restore through a temporary copy (D4, D15): the snapshot's backup set, only the
 * restore's database, restored into the work's temporary instance (a unix socket only, no
 * archiving), started and promoted; the tables are then renamed and exported there
 * (table-export.ts).
 */
import { AppError } from '../../errors/app-error.js';
import type { BackupSetRef, RunOptions } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import type { TableRestoreWork } from '../logical-plane.js';
import { restoreSet, waitPromoted } from '../pg-restore.js';
import { temporaryCopy } from './restore-work.js';

/** pgBackRest always restores these, and refuses them in --db-include. */
const SYSTEM_DATABASES = new Set(['postgres', 'template0', 'template1']);

/** `pgbackrest restore --db-include=<database>` of the set into the temporary copy (a copy that runs already is kept). */
export async function restoreTemporaryCopy(
  e: LocalEngine,
  work: TableRestoreWork,
  set: BackupSetRef,
  database: string,
  o: RunOptions = {},
): Promise<void> {
  const inst = temporaryCopy(e, work);
  if (inst.status()) return;
  await restoreSet(e.backrest, {
    source: { stanza: set.stanza, configFile: e.stanzaConfigFile(set.stanza) },
    label: set.label,
    dataDir: inst.dataDir,
    os: inst.spec.os,
    // --db-include leaves the other databases' files out, so the snapshot's total is not this restore's.
    totalBytes: null,
    ...(SYSTEM_DATABASES.has(database) ? {} : { dbInclude: database }),
    lockFile: o.lockFile ?? e.lockFile(work.clusterId),
    signal: o.signal,
    idleTimeoutMs: o.idleTimeoutMs,
    onProgress: (s) => o.onProgress?.(s),
  });
  e.prepareTempInstance(inst);
}

/** Start the temporary copy and wait until it is promoted. */
export async function startTemporaryCopy(e: LocalEngine, work: TableRestoreWork, o: RunOptions = {}): Promise<void> {
  const inst = temporaryCopy(e, work);
  if (!inst.isInitialized())
    throw new AppError('ENGINE_NODE_FAILED', { args: ['temporary instance', `no restored data directory at ${inst.dataDir}`] });
  o.onProgress?.({ source: 'dwsbox', percent: 5, data: { phase: 'start' } });
  const signal = o.signal ? { signal: o.signal } : {};
  await inst.start({ timeoutMs: 30 * 60_000, ...signal });
  await waitPromoted(inst, { ...signal, timeoutMs: 30 * 60_000, ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
}
