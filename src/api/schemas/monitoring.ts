/** The monitoring APIs over the metrics history (issue 17, D29; services/monitoring-service.ts). */
import { Type } from '@sinclair/typebox';

const Time = Type.String({ maxLength: 40, description: 'epoch milliseconds, or an ISO 8601 time' });
const Absent = Type.Record(Type.String(), Type.String(), {
  description:
    'the figures this engine cannot measure (or did not in this collection), each with why; they are left out of the item, never zero',
});
const Page = {
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'a page number minus 1' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
};
const Loose = { additionalProperties: true } as const;

export const ListMonitorIndicatorsResponse = Type.Array(
  Type.Object({
    indicator_name: Type.String(),
    plugin_name: Type.String(),
    default_collect_rate: Type.String({ description: 'seconds between collections' }),
    support_datastore_version: Type.String(),
    unit: Type.String(),
    description: Type.String(),
  }),
);

export const ListMonitorIndicatorDataQuery = Type.Object({
  indicator_name: Type.String({ maxLength: 64, description: 'an indicator of ListMonitorIndicators' }),
  dim0: Type.String({ maxLength: 64, description: 'the cluster id' }),
  dim1: Type.Optional(Type.String({ maxLength: 16, description: 'one member, node<n> (none: every member)' })),
  from: Type.Optional(Time),
  to: Type.Optional(Time),
  period: Type.Optional(
    Type.String({
      pattern: '^[1-9][0-9]{0,6}$',
      description: 'seconds per point (at least the collection interval, or 300 past the raw samples)',
    }),
  ),
  function: Type.Optional(Type.Union([Type.Literal('avg'), Type.Literal('max'), Type.Literal('min')])),
});

export const ListMonitorIndicatorDataResponse = Type.Array(
  Type.Object({
    indicator_name: Type.String(),
    object_id: Type.String({ description: 'the cluster id' }),
    sub_object_id: Type.String({ description: 'the member, node<n>' }),
    unit: Type.String(),
    query_time: Type.Number(),
    period: Type.Number({ description: 'seconds per point' }),
    data_points: Type.Array(Type.Object({ timestamp: Type.Number(), result: Type.String() })),
  }),
);

export const HostQuery = Type.Object({
  cluster_id: Type.Optional(Type.String({ maxLength: 64 })),
  instance_id: Type.Optional(Type.String({ maxLength: 64 })),
  instance_name: Type.Optional(Type.String({ maxLength: 16 })),
  ...Page,
});

const figure = (description: string) => Type.Optional(Type.Number({ description }));
export const ListHostOverviewResponse = Type.Array(
  Type.Object(
    {
      instance_name: Type.String(),
      cluster_id: Type.String(),
      cluster_name: Type.String(),
      host_name: Type.String(),
      host_stat: Type.String(),
      work_ip: Type.String(),
      ordinal: Type.Integer(),
      role: Type.String(),
      mem_total: Type.Number({ description: "MB: the node type's memory budget" }),
      disk_total: Type.Number({ description: "GB: the node type's disk" }),
      sampled_at: Type.Optional(Type.String()),
      cpu_usage: figure('% of one core'),
      cpu_usage_usr: figure('% of one core'),
      cpu_usage_sys: figure('% of one core'),
      cpu_idle: figure('100 − cpu_usage'),
      mem_used: figure('bytes (proportional set size)'),
      mem_usage: figure('% of mem_total'),
      mem_free: figure('MB'),
      disk_used: figure('GB'),
      disk_available: figure('GB'),
      disk_usage_avg: figure('%'),
      disk_io_read: figure('bytes/s'),
      disk_io_write: figure('bytes/s'),
      disk_io: figure('bytes/s'),
      connections: figure('client sessions'),
      max_connections: figure('max_connections'),
      tps: figure('transactions/s'),
      replication_lag_bytes: figure('bytes'),
      replication_lag_seconds: figure('seconds'),
      wal_rate: figure('bytes/s'),
      absent: Absent,
    },
    Loose,
  ),
);

export const ListHostDiskResponse = Type.Array(
  Type.Object(
    {
      instance_id: Type.String(),
      instance_name: Type.String(),
      cluster_id: Type.String(),
      host_name: Type.String(),
      disk_name: Type.String(),
      disk_type: Type.String(),
      total: Type.Number({ description: 'GB' }),
      sampled_at: Type.Optional(Type.String()),
      used: figure('GB'),
      available: figure('GB'),
      used_percentage: figure('%'),
      read_rate: figure('KB/s'),
      write_rate: figure('KB/s'),
      absent: Absent,
    },
    Loose,
  ),
);

export const ListHostNetResponse = Type.Array(
  Type.Object(
    {
      host_id: Type.String(),
      host_name: Type.String(),
      instance_name: Type.String(),
      cluster_id: Type.String(),
      interface_name: Type.String({ description: "the member's address" }),
      up: Type.Boolean(),
      ctime: figure('epoch ms of the newest sample'),
      absent: Absent,
    },
    Loose,
  ),
);

export const ListMetricsQuery = Type.Object({
  ...Page,
  order_by: Type.Optional(Type.String({ maxLength: 32 })),
  sort_by: Type.Optional(Type.String({ maxLength: 8 })),
});
export const ListMetricsResponse = Type.Object({
  code: Type.Integer(),
  msg: Type.String(),
  count: Type.Integer(),
  data: Type.Array(
    Type.Object({
      metric_name: Type.String(),
      scope: Type.String(),
      fields: Type.Array(Type.Object({ column_name: Type.String(), column_type: Type.String() })),
      collect_rate: Type.Integer({ description: 'seconds' }),
      collect_range: Type.String(),
      create_time: Type.Number(),
    }),
  ),
});

export const ListMetricsDataParams = Type.Object({
  project_id: Type.String({ maxLength: 64 }),
  cluster_id: Type.String({ maxLength: 64 }),
  metric_name: Type.String({ maxLength: 64 }),
});
export const ListMetricsDataQuery = Type.Object({
  from: Type.Optional(Time),
  to: Type.Optional(Time),
  ...Page,
  order_by: Type.Optional(Type.Literal('ctime')),
  sort_by: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
});
export const ListMetricsDataResponse = Type.Object({
  code: Type.Integer(),
  msg: Type.String(),
  count: Type.Integer(),
  data: Type.Array(Type.Record(Type.String(), Type.Union([Type.Number(), Type.String(), Type.Null()]))),
});

export const TaskThroughputQuery = Type.Object({ from: Type.Optional(Time), to: Type.Optional(Time) });
export const TaskThroughputResponse = Type.Object({
  cluster_id: Type.String(),
  from: Type.Integer(),
  to: Type.Integer(),
  steps: Type.Array(
    Type.Object({
      task_id: Type.String(),
      kind: Type.String(),
      action_type: Type.String(),
      step: Type.String(),
      step_name: Type.String(),
      data_points: Type.Array(Type.Object({ timestamp: Type.Integer(), bytes_per_second: Type.Integer() })),
    }),
  ),
});
