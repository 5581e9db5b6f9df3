/** Disaster-recovery pairings (issue 19, D31; store version 15). */
import type { Kysely } from 'kysely';
import type { DisasterRecoveryRecord } from '../../domain/disaster-recovery.js';
import { toNumber, toNumberOrNull } from '../rows.js';
import type { Database, DisasterRecoveriesTable } from '../schema.js';

const toRecord = (r: DisasterRecoveriesTable): DisasterRecoveryRecord => ({
  id: r.id,
  projectId: r.project_id,
  name: r.name,
  drType: r.dr_type as DisasterRecoveryRecord['drType'],
  primaryClusterId: r.primary_cluster_id,
  standbyClusterId: r.standby_cluster_id,
  syncPeriod: r.sync_period,
  status: r.status as DisasterRecoveryRecord['status'],
  slot: r.slot,
  discardStandbyData: toNumber(r.discard_standby_data) === 1,
  rolesSwapped: toNumber(r.roles_swapped) === 1,
  lastSwitchAt: toNumberOrNull(r.last_switch_at),
  lastSwitchMs: toNumberOrNull(r.last_switch_ms),
  error: r.error,
  createdAt: toNumber(r.created_at),
  startedAt: toNumberOrNull(r.started_at),
  updatedAt: toNumber(r.updated_at),
  deletedAt: toNumberOrNull(r.deleted_at),
});

export async function insertDisasterRecovery(db: Kysely<Database>, d: DisasterRecoveryRecord): Promise<void> {
  await db
    .insertInto('disaster_recoveries')
    .values({
      id: d.id,
      project_id: d.projectId,
      name: d.name,
      dr_type: d.drType,
      primary_cluster_id: d.primaryClusterId,
      standby_cluster_id: d.standbyClusterId,
      sync_period: d.syncPeriod,
      status: d.status,
      slot: d.slot,
      discard_standby_data: d.discardStandbyData ? 1 : 0,
      roles_swapped: d.rolesSwapped ? 1 : 0,
      last_switch_at: d.lastSwitchAt,
      last_switch_ms: d.lastSwitchMs,
      error: d.error,
      created_at: d.createdAt,
      started_at: d.startedAt,
      updated_at: d.updatedAt,
      deleted_at: d.deletedAt,
    })
    .execute();
}

/** The live pairings of a project (every project's with null), oldest first. */
export async function listDisasterRecoveries(db: Kysely<Database>, projectId: string | null): Promise<DisasterRecoveryRecord[]> {
  let q = db.selectFrom('disaster_recoveries').selectAll().where('deleted_at', 'is', null);
  if (projectId !== null) q = q.where('project_id', '=', projectId);
  return (await q.orderBy('created_at').orderBy('id').execute()).map(toRecord);
}

export async function getDisasterRecovery(
  db: Kysely<Database>,
  projectId: string,
  id: string,
): Promise<DisasterRecoveryRecord | undefined> {
  const r = await db
    .selectFrom('disaster_recoveries')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return r && toRecord(r);
}

/** The live pairing a cluster is a side of, if any. */
export async function disasterRecoveryOfCluster(db: Kysely<Database>, clusterId: string): Promise<DisasterRecoveryRecord | undefined> {
  const r = await db
    .selectFrom('disaster_recoveries')
    .selectAll()
    .where('deleted_at', 'is', null)
    .where((eb) => eb.or([eb('primary_cluster_id', '=', clusterId), eb('standby_cluster_id', '=', clusterId)]))
    .executeTakeFirst();
  return r && toRecord(r);
}

export async function updateDisasterRecovery(
  db: Kysely<Database>,
  id: string,
  p: Partial<
    Pick<
      DisasterRecoveryRecord,
      'status' | 'syncPeriod' | 'error' | 'startedAt' | 'deletedAt' | 'rolesSwapped' | 'lastSwitchAt' | 'lastSwitchMs'
    >
  > & { updatedAt: number },
): Promise<void> {
  await db
    .updateTable('disaster_recoveries')
    .set({
      ...(p.status !== undefined ? { status: p.status } : {}),
      ...(p.syncPeriod !== undefined ? { sync_period: p.syncPeriod } : {}),
      ...(p.error !== undefined ? { error: p.error } : {}),
      ...(p.startedAt !== undefined ? { started_at: p.startedAt } : {}),
      ...(p.deletedAt !== undefined ? { deleted_at: p.deletedAt } : {}),
      ...(p.rolesSwapped !== undefined ? { roles_swapped: p.rolesSwapped ? 1 : 0 } : {}),
      ...(p.lastSwitchAt !== undefined ? { last_switch_at: p.lastSwitchAt } : {}),
      ...(p.lastSwitchMs !== undefined ? { last_switch_ms: p.lastSwitchMs } : {}),
      updated_at: p.updatedAt,
    })
    .where('id', '=', id)
    .execute();
}
