/** Snapshots: cluster-level ones (pgBackRest sets, D2) and logical ones (dumps, D15). */
import { sql, type Kysely } from 'kysely';
import type { SnapshotRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import { snapshotRows, toNumber } from '../rows.js';
import type { Database } from '../schema.js';
import { rethrowStoreError } from '../store-errors.js';

const nameTaken = (name: string) => () => new AppError('SNAPSHOT_NAME_EXISTS', { args: [name] });

export async function insertSnapshot(db: Kysely<Database>, snapshot: SnapshotRecord): Promise<void> {
  await db
    .insertInto('snapshots')
    .values(snapshotRows.toNewRow(snapshot))
    .execute()
    .catch((e) => rethrowStoreError(e, nameTaken(snapshot.name)));
}
/** A visible (not deleted) snapshot of this project. */
export async function getSnapshot(db: Kysely<Database>, projectId: string, id: string): Promise<SnapshotRecord | undefined> {
  const row = await db
    .selectFrom('snapshots')
    .selectAll()
    .where('id', '=', id)
    .where('project_id', '=', projectId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return row && snapshotRows.toRecord(row);
}
/** Any snapshot row by id, deleted or not. */
export async function getSnapshotById(db: Kysely<Database>, id: string): Promise<SnapshotRecord | undefined> {
  const row = await db.selectFrom('snapshots').selectAll().where('id', '=', id).executeTakeFirst();
  return row && snapshotRows.toRecord(row);
}
export async function findSnapshotByName(db: Kysely<Database>, projectId: string, name: string): Promise<SnapshotRecord | undefined> {
  const row = await db
    .selectFrom('snapshots')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('name', '=', name)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return row && snapshotRows.toRecord(row);
}
/** Visible snapshots, newest first, of a project or one of its clusters. */
export async function listSnapshots(db: Kysely<Database>, projectId: string, clusterId?: string): Promise<SnapshotRecord[]> {
  let query = db
    .selectFrom('snapshots')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('deleted_at', 'is', null)
    .orderBy('created_at', 'desc')
    .orderBy('id');
  if (clusterId) query = query.where('cluster_id', '=', clusterId);
  return (await query.execute()).map((row) => snapshotRows.toRecord(row));
}
/** Every snapshot row of a stanza whose backup set has not been expired (visible or not), oldest first. */
export async function listStanzaSnapshots(db: Kysely<Database>, stanza: string): Promise<SnapshotRecord[]> {
  const rows = await db
    .selectFrom('snapshots')
    .selectAll()
    .where('stanza', '=', stanza)
    .where('expired_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((row) => snapshotRows.toRecord(row));
}
/** Deleted snapshots whose backup sets have not been expired yet. */
export async function listHiddenUnexpiredSnapshots(db: Kysely<Database>): Promise<SnapshotRecord[]> {
  const rows = await db.selectFrom('snapshots').selectAll().where('deleted_at', 'is not', null).where('expired_at', 'is', null).execute();
  return rows.map((row) => snapshotRows.toRecord(row));
}
/**
 * What a project's snapshots take, for its quotas (docs/security.md, fair shares): `count`,
 * its visible snapshots of every level and status; `bytes`, the sizes recorded for every
 * snapshot whose backup set or dump is still kept (visible, or deleted but not expired yet).
 * `exceptId` leaves one snapshot out (the one being taken, when its step checks again).
 */
export async function snapshotUsage(db: Kysely<Database>, projectId: string, exceptId?: string): Promise<{ count: number; bytes: number }> {
  let query = db.selectFrom('snapshots').where('project_id', '=', projectId).where('expired_at', 'is', null);
  if (exceptId !== undefined) query = query.where('id', '<>', exceptId);
  const row = await query
    .select((eb) => [
      eb.fn.sum<number | string | null>(eb.case().when('deleted_at', 'is', null).then(1).else(0).end()).as('count'),
      eb.fn.sum<number | string | null>(eb.fn.coalesce('size_bytes', sql<number>`0`)).as('bytes'),
    ])
    .executeTakeFirst();
  return { count: toNumber(row?.count ?? 0), bytes: toNumber(row?.bytes ?? 0) };
}
/**
 * What one cluster's snapshots take (ListSnapshotStatistics), counted as `snapshotUsage` counts
 * them for the quota: `bytes`, the sizes recorded for its snapshots whose backup set or dump
 * is still kept (visible, or deleted but not expired yet); `manual` and `auto`, its visible
 * snapshots of each type, every level and status.
 */
export async function clusterSnapshotUsage(
  db: Kysely<Database>,
  projectId: string,
  clusterId: string,
): Promise<{ bytes: number; manual: number; auto: number }> {
  const visibleOf = (type: 'MANUAL' | 'AUTO') => sql<number>`case when deleted_at is null and type = ${type} then 1 else 0 end`;
  const row = await db
    .selectFrom('snapshots')
    .where('project_id', '=', projectId)
    .where('cluster_id', '=', clusterId)
    .where('expired_at', 'is', null)
    .select((eb) => [
      eb.fn.sum<number | string | null>(eb.fn.coalesce('size_bytes', sql<number>`0`)).as('bytes'),
      eb.fn.sum<number | string | null>(visibleOf('MANUAL')).as('manual'),
      eb.fn.sum<number | string | null>(visibleOf('AUTO')).as('auto'),
    ])
    .executeTakeFirst();
  return { bytes: toNumber(row?.bytes ?? 0), manual: toNumber(row?.manual ?? 0), auto: toNumber(row?.auto ?? 0) };
}
/**
 * When the oldest snapshot a restore to a point in time can start from finished: a visible,
 * AVAILABLE cluster-level snapshot (a pgBackRest set, not a dump) of `stanza`, the one the
 * cluster archives into; null when it has none.
 */
export async function earliestPointInTimeBase(db: Kysely<Database>, clusterId: string, stanza: string): Promise<number | null> {
  const row = await db
    .selectFrom('snapshots')
    .where('cluster_id', '=', clusterId)
    .where('stanza', '=', stanza)
    .where('status', '=', 'AVAILABLE')
    .where('deleted_at', 'is', null)
    .where('fine_grained_detail', 'is', null)
    .where('backup_label', 'is not', null)
    .select((eb) => eb.fn.min<number | string | null>('finished_at').as('at'))
    .executeTakeFirst();
  return row?.at === null || row?.at === undefined ? null : toNumber(row.at);
}
export async function updateSnapshot(db: Kysely<Database>, id: string, patch: Partial<SnapshotRecord>): Promise<void> {
  await db
    .updateTable('snapshots')
    .set(snapshotRows.toRow(patch))
    .where('id', '=', id)
    .execute()
    .catch((e) => rethrowStoreError(e, nameTaken(patch.name ?? '')));
}
