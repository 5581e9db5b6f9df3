/** Snapshot policies (docs/snapshot-policies.md): a cluster's settings, its strategies, and the slots they fired. */
import type { Kysely } from 'kysely';
import type { PolicyFireRecord, PolicySettingsRecord, SnapshotPolicyRecord } from '../../domain/snapshot-policy.js';
import { AppError } from '../../errors/app-error.js';
import { policyFireRows, policyRows, policySettingsRows, toNumberOrNull } from '../rows.js';
import type { Database } from '../schema.js';
import { rethrowStoreError } from '../store-errors.js';

export async function getPolicySettings(db: Kysely<Database>, clusterId: string): Promise<PolicySettingsRecord | undefined> {
  const row = await db.selectFrom('snapshot_policy_settings').selectAll().where('cluster_id', '=', clusterId).executeTakeFirst();
  return row && policySettingsRows.toRecord(row);
}
/** Every cluster's policy settings (for retention). */
export async function listPolicySettings(db: Kysely<Database>): Promise<PolicySettingsRecord[]> {
  return (await db.selectFrom('snapshot_policy_settings').selectAll().orderBy('cluster_id').execute()).map((row) =>
    policySettingsRows.toRecord(row),
  );
}
/** Insert or replace a cluster's policy settings (its creation time stays the first one's). */
export async function savePolicySettings(db: Kysely<Database>, settings: PolicySettingsRecord): Promise<void> {
  const { createdAt, ...replaced } = settings;
  await db
    .insertInto('snapshot_policy_settings')
    .values(policySettingsRows.toNewRow({ ...replaced, createdAt }))
    .onConflict((oc) => oc.column('cluster_id').doUpdateSet(policySettingsRows.toRow(replaced)))
    .execute();
}

/** A cluster's live (not deleted) strategies, oldest first. */
export async function listPolicies(db: Kysely<Database>, clusterId: string): Promise<SnapshotPolicyRecord[]> {
  const rows = await db
    .selectFrom('snapshot_policies')
    .selectAll()
    .where('cluster_id', '=', clusterId)
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((row) => policyRows.toRecord(row));
}
/** A strategy by id, deleted or not. */
export async function getPolicy(db: Kysely<Database>, id: string): Promise<SnapshotPolicyRecord | undefined> {
  const row = await db.selectFrom('snapshot_policies').selectAll().where('id', '=', id).executeTakeFirst();
  return row && policyRows.toRecord(row);
}
/** Throws SNAPSHOT_POLICY_NAME_EXISTS when the cluster already has a live strategy of that name (any case). */
export async function insertPolicy(db: Kysely<Database>, policy: SnapshotPolicyRecord): Promise<void> {
  await db
    .insertInto('snapshot_policies')
    .values(policyRows.toNewRow(policy))
    .execute()
    .catch((e) => rethrowStoreError(e, () => new AppError('SNAPSHOT_POLICY_NAME_EXISTS', { args: [policy.name] })));
}
export async function updatePolicy(db: Kysely<Database>, id: string, patch: Partial<SnapshotPolicyRecord>): Promise<void> {
  await db
    .updateTable('snapshot_policies')
    .set(policyRows.toRow(patch))
    .where('id', '=', id)
    .execute()
    .catch((e) => rethrowStoreError(e, () => new AppError('SNAPSHOT_POLICY_NAME_EXISTS', { args: [patch.name ?? id] })));
}
/** Live strategies due at `now` (cursor at or before it) whose cluster exists and has automated backup on. */
export async function listDuePolicies(db: Kysely<Database>, now: number): Promise<SnapshotPolicyRecord[]> {
  const rows = await db
    .selectFrom('snapshot_policies')
    .innerJoin('snapshot_policy_settings', 'snapshot_policy_settings.cluster_id', 'snapshot_policies.cluster_id')
    .innerJoin('clusters', 'clusters.id', 'snapshot_policies.cluster_id')
    .selectAll('snapshot_policies')
    .where('snapshot_policies.deleted_at', 'is', null)
    .where('snapshot_policies.next_fire_at', 'is not', null)
    .where('snapshot_policies.next_fire_at', '<=', now)
    .where('snapshot_policy_settings.auto_backup', '=', 1)
    .where('clusters.deleted_at', 'is', null)
    .orderBy('snapshot_policies.next_fire_at')
    .execute();
  return rows.map((row) => policyRows.toRecord(row));
}

/**
 * Record a fired slot. Returns false, writing nothing, when that slot of that strategy was
 * already fired (by this or another process): the primary key (policy_id, fire_time) is
 * what makes a fire time produce at most one snapshot.
 */
export async function insertPolicyFire(db: Kysely<Database>, fire: PolicyFireRecord): Promise<boolean> {
  const result = await db
    .insertInto('policy_fires')
    .values(policyFireRows.toNewRow(fire))
    .onConflict((oc) => oc.columns(['policy_id', 'fire_time']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}
export async function setPolicyFireSnapshot(db: Kysely<Database>, policyId: string, fireTime: number, snapshotId: string): Promise<void> {
  await db
    .updateTable('policy_fires')
    .set({ snapshot_id: snapshotId })
    .where('policy_id', '=', policyId)
    .where('fire_time', '=', fireTime)
    .execute();
}
/** Fired slots, oldest first (of one strategy, or all). */
export async function listPolicyFires(db: Kysely<Database>, policyId?: string): Promise<PolicyFireRecord[]> {
  let query = db.selectFrom('policy_fires').selectAll().orderBy('fire_time').orderBy('policy_id');
  if (policyId) query = query.where('policy_id', '=', policyId);
  return (await query.execute()).map((row) => policyFireRows.toRecord(row));
}
/** When a strategy last made a snapshot (its latest CREATED fire's `created_at`), or null: the scheduler's minimum interval. */
export async function lastPolicySnapshotAt(db: Kysely<Database>, policyId: string): Promise<number | null> {
  const row = await db
    .selectFrom('policy_fires')
    .select((eb) => eb.fn.max('created_at').as('at'))
    .where('policy_id', '=', policyId)
    .where('outcome', '=', 'CREATED')
    .executeTakeFirst();
  return toNumberOrNull(row?.at);
}
