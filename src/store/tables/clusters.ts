/** Clusters and their nodes. */
import type { Kysely } from 'kysely';
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import { clusterRows, nodeRows, toNumber } from '../rows.js';
import type { Database } from '../schema.js';
import { rethrowStoreError } from '../store-errors.js';

/** Unique violations of a cluster row (a live name, a subnet index) are reported as a taken name. */
const nameTaken = (name: string) => () => new AppError('CLUSTER_NAME_EXISTS', { args: [name] });

export async function insertCluster(db: Kysely<Database>, cluster: ClusterRecord): Promise<void> {
  await db
    .insertInto('clusters')
    .values(clusterRows.toNewRow(cluster))
    .execute()
    .catch((e) => rethrowStoreError(e, nameTaken(cluster.name)));
}
/** A live cluster of this project (deleted ones are gone). */
export async function getCluster(db: Kysely<Database>, projectId: string, id: string): Promise<ClusterRecord | undefined> {
  const row = await db
    .selectFrom('clusters')
    .selectAll()
    .where('id', '=', id)
    .where('project_id', '=', projectId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return row && clusterRows.toRecord(row);
}
/** Any cluster row by id, deleted or not. */
export async function getClusterById(db: Kysely<Database>, id: string): Promise<ClusterRecord | undefined> {
  const row = await db.selectFrom('clusters').selectAll().where('id', '=', id).executeTakeFirst();
  return row && clusterRows.toRecord(row);
}
export async function findClusterByName(db: Kysely<Database>, projectId: string, name: string): Promise<ClusterRecord | undefined> {
  const row = await db
    .selectFrom('clusters')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('name', '=', name)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return row && clusterRows.toRecord(row);
}
/** Live clusters by creation time, of one project or all. */
export async function listClusters(db: Kysely<Database>, projectId?: string): Promise<ClusterRecord[]> {
  let query = db.selectFrom('clusters').selectAll().where('deleted_at', 'is', null).orderBy('created_at').orderBy('id');
  if (projectId) query = query.where('project_id', '=', projectId);
  return (await query.execute()).map((row) => clusterRows.toRecord(row));
}
export async function updateCluster(db: Kysely<Database>, id: string, patch: Partial<ClusterRecord>): Promise<void> {
  await db
    .updateTable('clusters')
    .set(clusterRows.toRow(patch))
    .where('id', '=', id)
    .execute()
    .catch((e) => rethrowStoreError(e, nameTaken(patch.name ?? '')));
}
/** Live clusters whose deferred restart is due at `now` (the maintenance scheduler's read). */
export async function listDueRestarts(db: Kysely<Database>, now: number): Promise<ClusterRecord[]> {
  const rows = await db
    .selectFrom('clusters')
    .selectAll()
    .where('restart_due_at', '<=', now)
    .where('deleted_at', 'is', null)
    .orderBy('restart_due_at')
    .execute();
  return rows.map((row) => clusterRows.toRecord(row));
}
/** Subnet indexes (c of 127.0.c.i) held by live clusters. */
export async function usedSubnetIndexes(db: Kysely<Database>): Promise<Set<number>> {
  const rows = await db
    .selectFrom('clusters')
    .select('subnet_index')
    .where('deleted_at', 'is', null)
    .where('subnet_index', 'is not', null)
    .execute();
  return new Set(rows.map((row) => toNumber(row.subnet_index)));
}

export async function insertNode(db: Kysely<Database>, node: NodeRecord): Promise<void> {
  await db.insertInto('nodes').values(nodeRows.toNewRow(node)).execute();
}
export async function listNodes(db: Kysely<Database>, clusterId: string): Promise<NodeRecord[]> {
  return (await db.selectFrom('nodes').selectAll().where('cluster_id', '=', clusterId).orderBy('ordinal').execute()).map((row) =>
    nodeRows.toRecord(row),
  );
}
/** The live cluster of the project that has the node `nodeId`, if any. */
export async function clusterOfNode(db: Kysely<Database>, projectId: string, nodeId: string): Promise<string | null> {
  const row = await db
    .selectFrom('nodes')
    .innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
    .select('clusters.id as id')
    .where('nodes.id', '=', nodeId)
    .where('clusters.project_id', '=', projectId)
    .where('clusters.deleted_at', 'is', null)
    .executeTakeFirst();
  return row?.id ?? null;
}
/** Every node of every live cluster. */
export async function listAllNodes(db: Kysely<Database>): Promise<NodeRecord[]> {
  const rows = await db
    .selectFrom('nodes')
    .innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
    .selectAll('nodes')
    .where('clusters.deleted_at', 'is', null)
    .orderBy('nodes.cluster_id')
    .orderBy('nodes.ordinal')
    .execute();
  return rows.map((row) => nodeRows.toRecord(row));
}
export async function updateNode(db: Kysely<Database>, id: string, patch: Partial<NodeRecord>): Promise<void> {
  await db.updateTable('nodes').set(nodeRows.toRow(patch)).where('id', '=', id).execute();
}
export async function deleteNode(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('nodes').where('id', '=', id).execute();
}
/** Nodes of live clusters, overall or of one project (capacity and quota, D18). */
export async function countNodes(db: Kysely<Database>, projectId?: string): Promise<number> {
  let query = db
    .selectFrom('nodes')
    .innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
    .select((eb) => eb.fn.countAll().as('count'))
    .where('clusters.deleted_at', 'is', null);
  if (projectId) query = query.where('clusters.project_id', '=', projectId);
  const row = await query.executeTakeFirst();
  return toNumber(row?.count ?? 0);
}
