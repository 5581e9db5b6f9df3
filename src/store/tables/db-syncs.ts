/**
 * SyncIamUsers' records and the roles syncs made (issue 16, domain/db-sync.ts): a sync begun
 * (at most one RUNNING per cluster, by the partial unique index; one left RUNNING by a stopped
 * process is closed FAILED first), finished, read newest first; the synced roles of a cluster
 * put, forgotten, read; both removed with their cluster.
 */
import type { Kysely } from 'kysely';
import type { DbSyncRecord, SyncedRoleRecord } from '../../domain/db-sync.js';
import { dbSyncRows, syncedRoleRows, toNumber } from '../rows.js';
import type { Database } from '../schema.js';

/**
 * Close the cluster's syncs RUNNING since before `abandonedBefore` (their process stopped during
 * them) as FAILED at `now`, with `reason`. Returns how many.
 */
export async function closeAbandonedDbSyncs(
  db: Kysely<Database>,
  clusterId: string,
  abandonedBefore: number,
  now: number,
  reason: string,
): Promise<number> {
  const r = await db
    .updateTable('db_user_syncs')
    .set({ status: 'FAILED', end_time: now, fail_reason: reason })
    .where('cluster_id', '=', clusterId)
    .where('status', '=', 'RUNNING')
    .where('start_time', '<', abandonedBefore)
    .executeTakeFirst();
  return Number(r.numUpdatedRows ?? 0);
}

/** A new sync's record (RUNNING); a unique violation when one of the cluster runs. */
export async function insertDbSync(db: Kysely<Database>, rec: DbSyncRecord): Promise<void> {
  await db.insertInto('db_user_syncs').values(dbSyncRows.toNewRow(rec)).execute();
}

/** The cluster's RUNNING sync, if any. */
export async function runningDbSync(db: Kysely<Database>, clusterId: string): Promise<DbSyncRecord | undefined> {
  const row = await db
    .selectFrom('db_user_syncs')
    .selectAll()
    .where('cluster_id', '=', clusterId)
    .where('status', '=', 'RUNNING')
    .executeTakeFirst();
  return row ? dbSyncRows.toRecord(row) : undefined;
}

/** A sync's outcome written; false when it is no longer RUNNING (closed as abandoned meanwhile). */
export async function finishDbSync(
  db: Kysely<Database>,
  id: string,
  done: Pick<DbSyncRecord, 'status' | 'endTime' | 'addCount' | 'updateCount' | 'deleteCount' | 'failedCount' | 'failReason'>,
): Promise<boolean> {
  const r = await db
    .updateTable('db_user_syncs')
    .set(dbSyncRows.toRow(done))
    .where('id', '=', id)
    .where('status', '=', 'RUNNING')
    .executeTakeFirst();
  return Number(r.numUpdatedRows ?? 0) > 0;
}

/** A page of the cluster's syncs, newest first (ties by id, so pages never overlap), and how many there are. */
export async function listDbSyncs(
  db: Kysely<Database>,
  clusterId: string,
  offset: number,
  limit: number,
): Promise<{ count: number; records: DbSyncRecord[] }> {
  const rows = await db
    .selectFrom('db_user_syncs')
    .selectAll()
    .where('cluster_id', '=', clusterId)
    .orderBy('start_time', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .offset(offset)
    .execute();
  const n = await db
    .selectFrom('db_user_syncs')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('cluster_id', '=', clusterId)
    .executeTakeFirst();
  return { count: toNumber(n?.n ?? 0), records: rows.map((r) => dbSyncRows.toRecord(r)) };
}

export async function listSyncedRoles(db: Kysely<Database>, clusterId: string): Promise<SyncedRoleRecord[]> {
  const rows = await db.selectFrom('db_synced_roles').selectAll().where('cluster_id', '=', clusterId).orderBy('role_name').execute();
  return rows.map((r) => syncedRoleRows.toRecord(r));
}

/** A synced role recorded (or its record replaced: another OID or user). */
export async function putSyncedRole(db: Kysely<Database>, rec: SyncedRoleRecord): Promise<void> {
  const row = syncedRoleRows.toNewRow(rec);
  await db
    .insertInto('db_synced_roles')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['cluster_id', 'role_name']).doUpdateSet({ role_oid: row.role_oid, user_id: row.user_id, synced_at: row.synced_at }),
    )
    .execute();
}

/** A synced role's record removed, only while it is the one of this OID. */
export async function forgetSyncedRole(db: Kysely<Database>, clusterId: string, roleName: string, roleOid: number): Promise<void> {
  await db
    .deleteFrom('db_synced_roles')
    .where('cluster_id', '=', clusterId)
    .where('role_name', '=', roleName)
    .where('role_oid', '=', roleOid)
    .execute();
}

/** Every sync record and synced role of a cluster (it is deleted). */
export async function deleteDbSyncs(db: Kysely<Database>, clusterId: string): Promise<void> {
  await db.deleteFrom('db_user_syncs').where('cluster_id', '=', clusterId).execute();
  await db.deleteFrom('db_synced_roles').where('cluster_id', '=', clusterId).execute();
}
