/** Snapshot wire schemas (dws-api.md §4, §8) and their mapping; ListSnapshotStatistics and ListSnapshotFlavorInfo (issue 16). */
import { Type, type Static } from '@sinclair/typebox';
import { Nullable } from './primitives.js';
import type { SnapshotRecord } from '../../domain/records.js';
import { snapshotTime } from '../../domain/time.js';
import { DATASTORE_VERSION, findNodeType } from '../../domain/node-types.js';
import type { SnapshotFlavor, SnapshotStatistics } from '../../services/snapshot-service.js';
import { nodeTypesOut } from './cluster.js';

export const CreateSnapshotBody = Type.Object({
  snapshot: Type.Object({
    name: Type.String({ maxLength: 200 }),
    cluster_id: Type.String({ maxLength: 64 }),
    description: Type.Optional(Nullable(Type.String({ maxLength: 1000 }))),
  }),
});

/** CopySnapshot's body (the SDK's LinkCopyReq): the copy's name (a snapshot name's rules) and description. */
export const CopySnapshotBody = Type.Object({
  backup_name: Type.String({ maxLength: 200 }),
  description: Type.Optional(Nullable(Type.String({ maxLength: 1000 }))),
});

/** CopySnapshot's answer: the copy's id (the SDK's CopySnapshotResponse); job_id, its task, is a dwsbox extension. */
export const CopySnapshotResponse = Type.Object({ snapshot_id: Type.String(), job_id: Type.String() });

export const Snapshot = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  started: Nullable(Type.String()),
  finished: Nullable(Type.String()),
  size: Type.Number({ description: 'GB in the repository (decimal)' }),
  status: Type.String(),
  type: Type.String(),
  cluster_id: Type.String(),
  cluster_name: Type.String(),
  datastore: Type.Object({ type: Type.String(), version: Type.String() }),
  updated: Type.String(),
  bak_expected_start_time: Nullable(
    Type.String({ description: 'AUTO: the slot (UTC) its snapshot-policy strategy fired for; null for MANUAL' }),
  ),
  bak_keep_day: Type.Integer({
    description: "AUTO: its cluster's policy keep_day now (the retention that deletes it); -1 when no retention deletes it (MANUAL)",
  }),
  bak_period: Nullable(Type.String({ description: "AUTO: its strategy's backup_strategy expression when it fired; null for MANUAL" })),
  db_user: Type.String(),
  progress: Type.String(),
  backup_key: Nullable(Type.String()),
  prior_backup_key: Nullable(Type.String()),
  base_backup_key: Nullable(Type.String()),
  backup_device: Type.String(),
  total_backup_size: Type.Integer(),
  base_backup_name: Nullable(Type.String()),
  support_inplace_restore: Type.Boolean(),
  fine_grained_backup: Type.Boolean(),
  backup_level: Type.String({ description: 'cluster, schema or table' }),
  fine_grained_backup_detail: Nullable(
    Type.Object(
      {
        database: Type.String(),
        schema_list: Type.Array(Type.String()),
        table_list: Type.Array(Type.String(), { description: 'schema.table' }),
      },
      { description: 'what a schema- or table-level snapshot holds; null for a cluster-level one' },
    ),
  ),
  guest_agent_version: Type.String(),
  cluster_status: Nullable(Type.String()),
  cluster_task_status: Nullable(Type.String()),
  support_fine_grained_cross_version_restore: Type.Boolean(),
  support_fine_grained_asymmetric_restore: Type.Boolean(),
});

export const ListSnapshotsResponse = Type.Object({ snapshots: Type.Array(Snapshot), count: Type.Integer() });
export const ListClusterSnapshotsResponse = Type.Object({
  snapshots: Type.Array(Snapshot),
  project_id: Type.String(),
  cluster_id: Type.String(),
  count: Type.Integer(),
});
export const ClusterSnapshotsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  sort_key: Type.Optional(Type.String({ maxLength: 32 })),
  sort_dir: Type.Optional(Type.String({ maxLength: 8 })),
});

/** Repository size in GB as a decimal, never rounded to 0 (D2). */
export function gigabytes(bytes: number | null): number {
  if (!bytes) return 0;
  return Number((bytes / 1e9).toPrecision(3));
}

export interface SnapshotContext {
  clusterStatus: string | null;
  clusterTaskStatus: string | null;
  progress: string;
  /** the days retention keeps an AUTO snapshot (its cluster's policy keep_day now); null: no retention deletes it */
  keepDay: number | null;
  /** a cluster-level snapshot of its cluster's own stanza, which the cluster can be restored to in place (issue 20) */
  supportInplaceRestore: boolean;
}

export function snapshotOut(s: SnapshotRecord, ctx: SnapshotContext): Static<typeof Snapshot> {
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    started: s.startedAt ? snapshotTime(s.startedAt) : null,
    finished: s.finishedAt ? snapshotTime(s.finishedAt) : null,
    size: gigabytes(s.sizeBytes),
    status: s.status,
    type: s.type,
    cluster_id: s.clusterId,
    cluster_name: s.clusterName,
    datastore: { type: 'dws', version: DATASTORE_VERSION },
    updated: snapshotTime(s.updatedAt),
    // AUTO: the slot its strategy fired for, the days retention keeps it, the strategy's schedule (docs/snapshot-policies.md, "How fires run").
    bak_expected_start_time: s.sourceSpec.policyFire ? snapshotTime(s.sourceSpec.policyFire.fireTime) : null,
    bak_keep_day: ctx.keepDay ?? -1,
    bak_period: s.sourceSpec.policyFire?.schedule ?? null,
    db_user: s.sourceSpec.userName,
    progress: ctx.progress,
    backup_key: s.backupKey,
    prior_backup_key: s.priorBackupKey,
    base_backup_key: s.priorBackupKey === 'FULL' ? s.backupKey : s.priorBackupKey,
    // OBS is Huawei Cloud's S3-compatible store: a backup set in an S3 repository. LOCAL: the
    // local repository, and every logical (schema/table) dump, which is a local directory.
    backup_device: !s.fineGrained && s.sourceSpec.clusterSpec.repository?.kind === 's3' ? 'OBS' : 'LOCAL',
    total_backup_size: s.totalBackupSize ?? 0,
    base_backup_name: null,
    support_inplace_restore: ctx.supportInplaceRestore,
    fine_grained_backup: !!s.fineGrained,
    backup_level: s.fineGrained?.level ?? 'cluster',
    fine_grained_backup_detail: s.fineGrained
      ? { database: s.fineGrained.database, schema_list: s.fineGrained.schemas, table_list: s.fineGrained.tables }
      : null,
    guest_agent_version: 'dwsbox',
    cluster_status: ctx.clusterStatus,
    cluster_task_status: ctx.clusterTaskStatus,
    support_fine_grained_cross_version_restore: false,
    support_fine_grained_asymmetric_restore: true,
  };
}

// ---- ListSnapshotStatistics

export const SnapshotStatisticsResponse = Type.Object({
  statistics: Type.Array(
    Type.Object({
      name: Type.String({
        description:
          "storage.used (GB the cluster's kept snapshots take), storage.free (GB they may take under the project's repository quota); dwsbox adds snapshots.manual and snapshots.auto (visible snapshots). storage.paid is absent: nothing is paid for",
      }),
      value: Type.Number(),
      unit: Type.String(),
    }),
  ),
});

/**
 * The figures in the SDK's `{name, value, unit}` form. storage.free is absent when the
 * service checks no quota; storage.paid always is: dwsbox charges nothing (a snapshot beyond
 * the quota is refused, never paid for).
 */
export function snapshotStatisticsOut(s: SnapshotStatistics): Static<typeof SnapshotStatisticsResponse> {
  return {
    statistics: [
      ...(s.allowanceBytes === null ? [] : [{ name: 'storage.free', value: gigabytes(s.allowanceBytes), unit: 'GB' }]),
      { name: 'storage.used', value: gigabytes(s.usedBytes), unit: 'GB' },
      { name: 'snapshots.manual', value: s.manual, unit: 'count' },
      { name: 'snapshots.auto', value: s.auto, unit: 'count' },
    ],
  };
}

// ---- ListSnapshotFlavorInfo

export const SnapshotFlavorsQuery = Type.Object({
  type: Type.Optional(Type.Union([Type.Literal('snapshot'), Type.Literal('restore')], { default: 'snapshot' })),
  az_code: Type.Optional(Type.String({ maxLength: 200, description: 'comma-separated zone codes; each must be one a create accepts' })),
  fine_grained_restore: Type.Optional(Type.Boolean({ default: false })),
});

const ProductUnit = Type.Object({
  id: Type.Optional(Type.String({ description: 'the node type id (ListNodeTypes)' })),
  code: Type.String({ description: 'the node type (spec_name)' }),
  default_capacity: Type.Optional(Type.String({ description: "GB of disk per node (the node type's, as ListNodeTypes shows it)" })),
  status: Type.Optional(Type.String({ description: 'normal: the node type is offered (a create or restore accepts it)' })),
  attribute: Type.Optional(Type.Array(Type.Object({ code: Type.String(), value: Type.String() }))),
  duplicate: Type.Integer({ description: 'copies of the data: every node holds a whole copy (one primary, hot standbys)' }),
  default_node: Type.Integer(),
  min_node: Type.Integer(),
  max_node: Type.Integer(),
  product_version_list: Type.Array(Type.Object({ datastore_version: Type.String() })),
  volume_used: Type.Optional(Type.Object({ volume_type: Type.String(), capacity: Type.Integer() })),
});
export const SnapshotFlavorsResponse = Type.Object({ flavors: Type.Array(ProductUnit), count: Type.Integer() });

/**
 * One flavor as the SDK's ProductUnitResp: the node type's figures as ListNodeTypes shows them,
 * the node count (a restore makes exactly that many, so min, default and max are the same).
 * Absent: `classify`, `scenario`, `version`, `flavor_id`, `flavor_code`, `volume_num` and the
 * versions' `min_cn`, `max_cn`, `version_type` (no product classes, VM flavors, disks or
 * coordinators to name).
 */
export function snapshotFlavorOut(f: SnapshotFlavor): Static<typeof ProductUnit> {
  const t = findNodeType(f.nodeType);
  const detail = nodeTypesOut().node_types.find((x) => x.spec_name === t?.specName)?.detail ?? [];
  return {
    ...(t
      ? {
          id: t.id,
          default_capacity: String(t.diskGb),
          status: 'normal',
          attribute: detail.map((d) => ({ code: d.type, value: d.unit ? `${d.value} ${d.unit}` : d.value })),
        }
      : {}),
    code: t?.specName ?? f.nodeType,
    duplicate: f.numberOfNode,
    default_node: f.numberOfNode,
    min_node: f.numberOfNode,
    max_node: f.numberOfNode,
    product_version_list: [{ datastore_version: DATASTORE_VERSION }],
    ...(t ? { volume_used: { volume_type: 'LOCAL_DISK', capacity: t.diskGb } } : {}),
  };
}
