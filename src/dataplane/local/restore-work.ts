/**
 * A table restore's place on this host (D15, D32): `<dataDir>/tmp/<task id>/`, root's, holding
 * the temporary copy's data directory and log, and `work/`, the project user's, where the
 * export's dump, the import's lists and the login's passfile are written. Always removed with
 * the task (the last step and the undo both remove it).
 */
import { dirname, join } from 'node:path';
import { scratchDatabaseName } from '../../domain/table-names.js';
import type { NodeRecord } from '../../domain/records.js';
import type { ClusterRef } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import type { ExportSource, TableRestoreWork } from '../logical-plane.js';
import type { PgInstance } from '../pg-instance.js';

/** The work's temporary copy of a snapshot (temp-copy.ts), run by its project's user. */
export const temporaryCopy = (e: LocalEngine, work: TableRestoreWork): PgInstance => e.tempInstance(work.taskId, work.projectId);

/** `<dataDir>/tmp/<task id>/work`: the project user's, beside the temporary copy's data (when there is one). */
export const workDir = (e: LocalEngine, work: TableRestoreWork): string => join(dirname(temporaryCopy(e, work).dataDir), 'work');
/** The export's dump of the renamed tables. */
export const dumpFile = (e: LocalEngine, work: TableRestoreWork): string => join(workDir(e, work), 'tables.dump');
/** The import's filtered list of the dump's entries. */
export const importListFile = (e: LocalEngine, work: TableRestoreWork): string => join(workDir(e, work), 'tables.list');
/** The scratch load's list of the snapshot's dump entries. */
export const scratchListFile = (e: LocalEngine, work: TableRestoreWork): string => join(workDir(e, work), 'scratch.list');

/** Make the work directory (and the root-owned directory around it); idempotent. */
export function prepareWorkDir(e: LocalEngine, work: TableRestoreWork): void {
  e.prepareTempDir(temporaryCopy(e, work));
}

/** The application name the work's tools connect with (their COPY is found by it in pg_stat_progress_copy). */
export const toolAppName = (work: TableRestoreWork, what: 'dump' | 'restore'): string => `dwsbox-${work.taskId.slice(0, 8)}-${what}`;

/** The server and database the tables are renamed and exported from. */
export function exportServer(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  work: TableRestoreWork,
  source: ExportSource,
  database: string,
): { inst: PgInstance; database: string } {
  return source === 'scratch-database'
    ? { inst: e.instance(cluster, primary), database: scratchDatabaseName(work.taskId) }
    : { inst: temporaryCopy(e, work), database };
}

/** Stop the temporary copy (if any) and remove the work's directories. */
export function removeTableRestoreWork(e: LocalEngine, work: TableRestoreWork): Promise<void> {
  return e.removeTempInstance(work.taskId, work.projectId);
}
