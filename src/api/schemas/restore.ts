/** Restore wire schemas (dws-api.md §4.6 RestoreCluster, §4.7 CheckTableRestore / RestoreTable). */
import { Type, type Static } from '@sinclair/typebox';
import { Nullable } from './primitives.js';

/**
 * dwsbox extension (issue 20), named after the SDK's `RestorePoint`: restore to a point in time
 * after the snapshot instead of the snapshot itself.
 */
const RestorePoint = Type.Object(
  {
    restore_time: Type.Integer({
      minimum: 0,
      description:
        'the point in time, in epoch milliseconds (UTC): the new cluster holds every transaction committed up to it, and none after',
    }),
    cluster_id: Type.Optional(Nullable(Type.String({ maxLength: 64, description: "the snapshot's cluster, when given" }))),
    back_ref: Type.Optional(
      Nullable(Type.String({ maxLength: 64, description: 'the snapshot to start from, when given: the one in the path' })),
    ),
  },
  { description: "dwsbox: restore to a point in time within the cluster's restore_window, replaying archived WAL after the snapshot" },
);

export const RestoreClusterBody = Type.Object({
  restore: Type.Object({
    name: Type.String({ maxLength: 200 }),
    subnet_id: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
    security_group_id: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
    vpc_id: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
    availability_zone: Type.Optional(Nullable(Type.String({ maxLength: 128 }))),
    port: Type.Optional(Nullable(Type.Integer())),
    public_ip: Type.Optional(
      Nullable(Type.Object({ public_bind_type: Type.Optional(Type.String()), eip_id: Type.Optional(Nullable(Type.String())) })),
    ),
    enterprise_project_id: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
    ipv6_enable: Type.Optional(Nullable(Type.Boolean())),
    number_of_cn: Type.Optional(Nullable(Type.Integer())),
    restore_point: Type.Optional(Nullable(RestorePoint)),
  }),
});
export type RestoreClusterBody = Static<typeof RestoreClusterBody>;

export const RestoreClusterResponse = Type.Object({ cluster: Type.Object({ id: Type.String() }), job_id: Type.String() });

/** dwsbox extension (issue 20): a snapshot, or a point in time, restored into the cluster it came from. */
export const InPlaceRestoreBody = Type.Object({
  restore: Type.Object({
    snapshot_id: Type.Optional(
      Nullable(
        Type.String({
          maxLength: 64,
          description: 'a cluster-level snapshot of this cluster; absent: the newest one finished by restore_time',
        }),
      ),
    ),
    restore_time: Type.Optional(
      Nullable(
        Type.Integer({
          minimum: 0,
          description:
            "a point in time (epoch milliseconds, UTC) within the cluster's restore_window, after the snapshot; absent: the snapshot itself",
        }),
      ),
    ),
  }),
});
export type InPlaceRestoreBody = Static<typeof InPlaceRestoreBody>;

export const InPlaceRestoreResponse = Type.Object({
  job_id: Type.String(),
  snapshot_id: Type.String({ description: 'the snapshot restored' }),
  safety_snapshot_id: Type.String({
    description: 'the safety snapshot the task takes of the stopped cluster first (its rollback restores it)',
  }),
});

const TableDetail = Type.Object({ schema_name: Type.String({ maxLength: 256 }), table_name: Type.String({ maxLength: 256 }) });

export const TableRestoreBody = Type.Object({
  case_sensitive: Type.Boolean(),
  database: Type.String({ maxLength: 256 }),
  restore_table_list: Type.Array(TableDetail, { maxItems: 1000 }),
  target_table_list: Type.Array(TableDetail, { maxItems: 1000 }),
});
export type TableRestoreBody = Static<typeof TableRestoreBody>;

export const CheckTableRestoreResponse = Type.Object({
  check_table_name_result: Type.Object({
    database: Type.String(),
    restore_table_list: Nullable(
      Type.Array(Type.String(), { description: 'source tables (schema.table) that the snapshot does not have; null when all exist' }),
    ),
    target_table_list: Nullable(
      Type.Array(Type.String(), { description: 'target tables (schema.table) that already exist in the cluster; null when none does' }),
    ),
  }),
});
