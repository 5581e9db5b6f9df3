/** Cluster wire schemas (dws-api.md §3, §7) and their mapping from the domain view. */
import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_TIMEZONE } from '../../domain/time-zones.js';
import { Nullable, Tag } from './primitives.js';
import type { ClusterView } from '../../services/cluster-service.js';
import type { RestoreWindow } from '../../services/restore-service.js';
import { clusterTime, jobTime } from '../../domain/time.js';
import { NODE_TYPES, DATASTORE_VERSION } from '../../domain/node-types.js';
import type { PendingRestart } from '../../domain/records.js';

const PublicIpIn = Type.Object({ public_bind_type: Type.Optional(Type.String()), eip_id: Type.Optional(Nullable(Type.String())) });
const TagsIn = Type.Union([Type.Array(Tag, { maxItems: 20 }), Tag]);

/** dwsbox extension (D25, the Patroni engine): the cluster's replication, `sync` (default), `strict` or `async`. */
const SyncMode = Type.Union([Type.Literal('sync'), Type.Literal('strict'), Type.Literal('async')]);
const SyncModeIn = Type.Optional(Nullable(SyncMode));

export const CreateClusterV1Body = Type.Object({
  cluster: Type.Object({
    name: Type.String(),
    node_type: Type.String(),
    number_of_node: Type.Integer(),
    subnet_id: Type.String(),
    vpc_id: Type.String(),
    security_group_id: Type.Optional(Nullable(Type.String())),
    availability_zone: Type.Optional(Nullable(Type.String())),
    port: Type.Optional(Type.Integer()),
    user_name: Type.String(),
    user_pwd: Type.String(),
    public_ip: Type.Optional(Nullable(PublicIpIn)),
    number_of_cn: Type.Optional(Nullable(Type.Integer())),
    enterprise_project_id: Type.Optional(Nullable(Type.String())),
    tags: Type.Optional(Nullable(TagsIn)),
    cluster_description_info: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
    sync_mode: SyncModeIn,
  }),
});
export type CreateClusterV1Body = Static<typeof CreateClusterV1Body>;

export const CreateClusterV2Body = Type.Object({
  cluster: Type.Object({
    name: Type.String(),
    flavor: Type.String(),
    num_node: Type.Integer(),
    num_cn: Type.Optional(Nullable(Type.Integer())),
    db_name: Type.String(),
    db_password: Type.String(),
    db_port: Type.Integer(),
    availability_zones: Type.Array(Type.String(), { maxItems: 3 }),
    vpc_id: Type.String(),
    subnet_id: Type.String(),
    security_group_id: Type.Optional(Nullable(Type.String())),
    datastore_version: Type.String(),
    volume: Type.Optional(
      Nullable(Type.Object({ volume: Type.Optional(Type.String()), capacity: Type.Optional(Type.Union([Type.Integer(), Type.String()])) })),
    ),
    public_ip: Type.Optional(Nullable(PublicIpIn)),
    tags: Type.Optional(Nullable(TagsIn)),
    enterprise_project_id: Type.Optional(Nullable(Type.String())),
    dss_pool_id: Type.Optional(Nullable(Type.String())),
    master_key_id: Type.Optional(Nullable(Type.String())),
    master_key_name: Type.Optional(Nullable(Type.String())),
    crypt_algorithm: Type.Optional(Nullable(Type.String())),
    ipv6_enable: Type.Optional(Nullable(Type.Boolean())),
    sync_mode: SyncModeIn,
  }),
});
export type CreateClusterV2Body = Static<typeof CreateClusterV2Body>;

export const CreateClusterResponse = Type.Object({ cluster: Type.Object({ id: Type.String() }) });

export const DeleteClusterV1Body = Type.Optional(Nullable(Type.Object({ keep_last_manual_snapshot: Type.Optional(Type.Integer()) })));
export const DeleteClusterV2Query = Type.Object({
  keep_last_manual_backup: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })),
  release_eip_type: Type.Optional(Type.String()),
});
export const RestartBody = Type.Optional(Nullable(Type.Object({ restart: Type.Optional(Nullable(Type.Object({}))) })));
/** SwitchOverCluster's body: none in DWS; `candidate_node_id` is a dwsbox extension (default: the preferred node, node 1). */
export const SwitchoverBody = Type.Optional(Nullable(Type.Object({ candidate_node_id: Type.Optional(Type.String({ maxLength: 64 })) })));
export const ResetPasswordBody = Type.Object({ new_password: Type.String() });
/** dwsbox extension: a running highly available cluster's replication changed (D25). */
export const SyncModeBody = Type.Object({ sync_mode: SyncMode }, { additionalProperties: false });

const Endpoint = Type.Object({ connect_info: Type.String(), jdbc_url: Type.String() });
const NodeOut = Type.Object({
  id: Type.String(),
  name: Type.String({ description: "the member's name in its cluster: node1, node2, … (its data directory, and its Patroni member name)" }),
  status: Type.String({ description: '"200" when the node is up, "503" when it is down, "100" while it is being built' }),
  role: Type.String({ description: 'primary | standby (dwsbox)' }),
  connect_info: Type.String({ description: 'host:port of this node (dwsbox)' }),
});
const ResizeInfo = Type.Object({
  resize_status: Type.String(),
  start_time: Type.String(),
  target_node_num: Type.Integer(),
  origin_node_num: Type.Integer(),
});

const clusterCommon = {
  id: Type.String(),
  name: Type.String(),
  status: Type.String(),
  version: Type.String(),
  updated: Type.String(),
  created: Type.String(),
  port: Type.Integer(),
  endpoints: Type.Array(Endpoint),
  nodes: Type.Array(NodeOut),
  tags: Type.Array(Tag),
  user_name: Type.String(),
  number_of_node: Type.Integer(),
  recent_event: Type.Integer(),
  availability_zone: Type.String(),
  enterprise_project_id: Type.String(),
  node_type: Type.String(),
  vpc_id: Type.String(),
  subnet_id: Type.String(),
  public_ip: Nullable(Type.Object({ public_bind_type: Type.String(), eip_id: Nullable(Type.String()) })),
  public_endpoints: Type.Array(Type.Object({ public_connect_info: Type.String(), jdbc_url: Type.String() })),
  action_progress: Type.Record(Type.String(), Type.String()),
  sub_status: Type.String(),
  task_status: Type.String(),
  security_group_id: Type.String(),
  failed_reasons: Type.Optional(Nullable(Type.Object({ error_code: Type.String(), error_msg: Type.String() }))),
  datastore_type: Type.String(),
  cluster_description_info: Type.String(),
  cluster_timezone: Type.String({
    description: "the members' time zone (PostgreSQL's timezone): UTC until ModifyClusterTimezone sets another",
  }),
  /** dwsbox extension: a highly available cluster's replication (D25); absent on the local engine */
  sync_mode: Type.Optional(Type.String()),
};

export const ClusterInfo = Type.Object(clusterCommon);
export const ClusterDetail = Type.Object({
  ...clusterCommon,
  node_type_id: Type.String(),
  private_ip: Type.Array(Type.String()),
  maintain_window: Type.Object(
    { day: Type.String(), start_time: Type.String(), end_time: Type.String() },
    { description: 'when dwsbox may restart the cluster on its own (UTC; UpdateMaintenanceWindow sets it; new clusters: Thu 22:00–02:00)' },
  ),
  /** dwsbox extension: the restart a parameter change needs, waiting for the maintenance window; absent when none waits */
  pending_restart: Type.Optional(
    Type.Object(
      {
        parameters: Type.Array(Type.Object({ name: Type.String(), value: Type.String() }), {
          description: 'what the restart applies: each parameter with the value set (the members run the one before until then)',
        }),
        status: Type.Union([Type.Literal('SCHEDULED'), Type.Literal('RUNNING')], {
          description: 'SCHEDULED: waits for start_time; RUNNING: fired, its SETTING_CONFIGURATION task restarts the members',
        }),
        start_time: Type.Optional(Type.String({ description: 'when it fires (SCHEDULED), as the detail writes times' })),
        since: Type.String({ description: 'when the first of the parameters was set' }),
      },
      { description: 'dwsbox extension: docs/api.md#the-maintenance-window' },
    ),
  ),
  resize_info: Nullable(ResizeInfo),
  parameter_group: Nullable(Type.Object({ id: Type.String(), name: Type.String(), status: Type.String() })),
  elb: Nullable(Type.Object({})),
  restore_window: Type.Object(
    {
      earliest_time: Nullable(Type.String({ description: 'when its oldest cluster-level snapshot finished (ISO 8601, UTC)' })),
      latest_time: Nullable(
        Type.String({
          description:
            'the time of this answer while its primary runs (its WAL is archived up to then when a restore asks); null otherwise',
        }),
      ),
      excluded: Type.Array(
        Type.Object({
          start_time: Type.String(),
          end_time: Type.String(),
          reason: Type.String(),
        }),
        {
          description:
            'spans within the window that cannot be restored to: each on a timeline the cluster left when an in-place restore branched its history off',
        },
      ),
    },
    { description: 'dwsbox extension: the times the cluster can be restored to (docs/api.md#point-in-time-restore)' },
  ),
});
export const ListClustersResponse = Type.Object({ clusters: Type.Array(ClusterInfo), count: Type.Integer() });
export const ClusterDetailResponse = Type.Object({ cluster: ClusterDetail });

export const NodeTypesResponse = Type.Object({
  node_types: Type.Array(
    Type.Object({
      spec_name: Type.String(),
      id: Type.String(),
      datastore_type: Type.String(),
      architecture: Type.String(),
      vcpus: Type.Integer(),
      ram: Type.Integer(),
      detail: Type.Array(Type.Object({ type: Type.String(), value: Type.String(), unit: Type.String() })),
      available_zones: Type.Array(Type.Object({ code: Type.String(), status: Type.String() })),
      availability_zones: Type.Array(Type.Object({ code: Type.String(), status: Type.String() })),
      datastores: Type.Array(
        Type.Object({
          version: Type.String(),
          attachments: Type.Object({ min_cn: Type.Integer(), max_cn: Type.Integer() }),
          role: Type.String(),
        }),
      ),
      volume: Nullable(Type.Object({ type: Type.String(), size: Type.Integer() })),
      elastic_volume_specs: Type.Array(
        Type.Object({ type: Type.String(), step: Type.String(), min_size: Type.Integer(), max_size: Type.Integer() }),
      ),
    }),
  ),
  count: Type.Integer(),
});

export const AVAILABILITY_ZONES = ['local-1a', 'local-1b', 'local-1c'];

const NODE_STATUS: Record<string, string> = { up: '200', down: '503', stopped: '503', unknown: '100' };

function toInfo(v: ClusterView) {
  const c = v.cluster;
  // Nodes being added (building) or taken out (removing) are not part of the cluster yet / any more.
  const nodes = v.nodes.filter((n) => n.membership === 'active');
  // A highly available cluster (D24): its router's read-write endpoint first, then the read-only one; else each node.
  const hosts = c.spec.endpoints ? [c.spec.endpoints.readWrite, c.spec.endpoints.readOnly] : nodes.map((n) => n.host);
  const endpoints = hosts.map((h) => ({ connect_info: `${h}:${c.port}`, jdbc_url: `jdbc:postgresql://${h}:${c.port}/postgres` }));
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    version: c.spec.version,
    updated: clusterTime(c.updatedAt),
    created: clusterTime(c.createdAt),
    port: c.port,
    endpoints,
    nodes: nodes.map((n) => ({
      id: n.id,
      name: `node${n.ordinal}`,
      status: n.membership === 'active' ? (NODE_STATUS[n.health] ?? '100') : '100',
      role: n.role,
      connect_info: `${n.host}:${n.port}`,
    })),
    tags: c.spec.tags,
    user_name: c.userName,
    number_of_node: c.numberOfNode,
    recent_event: v.recentEvents,
    availability_zone: c.spec.availabilityZone,
    enterprise_project_id: c.spec.enterpriseProjectId,
    node_type: c.nodeType,
    vpc_id: c.spec.vpcId,
    subnet_id: c.spec.subnetId,
    public_ip: c.spec.publicIp ?? { public_bind_type: 'not_use', eip_id: '' },
    public_endpoints: [],
    action_progress: v.actionProgress,
    sub_status: c.subStatus,
    task_status: v.taskStatus,
    security_group_id: c.spec.securityGroupId,
    failed_reasons: c.failedReasons?.[0] ?? null,
    datastore_type: 'dws',
    cluster_description_info: c.spec.description,
    cluster_timezone: c.spec.parameters?.['timezone'] ?? DEFAULT_TIMEZONE,
    ...(c.spec.syncMode ? { sync_mode: c.spec.syncMode } : {}),
  };
}

export function clusterInfoOut(v: ClusterView): Static<typeof ClusterInfo> {
  return toInfo(v);
}

function pendingRestartOut(p: PendingRestart, dueAt: number | null): NonNullable<Static<typeof ClusterDetail>['pending_restart']> {
  return {
    parameters: p.parameters.map((x) => ({ name: x.name, value: x.value })),
    status: dueAt === null ? 'RUNNING' : 'SCHEDULED',
    ...(dueAt === null ? {} : { start_time: clusterTime(dueAt) }),
    since: clusterTime(p.since),
  };
}

export function clusterDetailOut(v: ClusterView, window: RestoreWindow): Static<typeof ClusterDetail> {
  const c = v.cluster;
  const nt = NODE_TYPES.find((t) => t.specName === c.nodeType);
  return {
    ...toInfo(v),
    node_type_id: nt?.id ?? '',
    private_ip: v.nodes.filter((n) => n.membership === 'active').map((n) => n.host),
    maintain_window: { day: c.maintainWindow.day, start_time: c.maintainWindow.startTime, end_time: c.maintainWindow.endTime },
    ...(c.pendingRestart ? { pending_restart: pendingRestartOut(c.pendingRestart, c.restartDueAt) } : {}),
    resize_info: v.resize
      ? {
          resize_status: v.resize.status,
          start_time: jobTime(v.resize.startTime),
          target_node_num: v.resize.target,
          origin_node_num: v.resize.origin,
        }
      : null,
    parameter_group: null,
    elb: null,
    restore_window: {
      earliest_time: window.earliest === null ? null : new Date(window.earliest).toISOString(),
      latest_time: window.latest === null ? null : new Date(window.latest).toISOString(),
      excluded: window.left.map((l) => ({
        start_time: new Date(l.from).toISOString(),
        end_time: new Date(l.to).toISOString(),
        reason: `a timeline the cluster left in in-place restore ${l.taskId}`,
      })),
    },
  };
}

/** The host's CPU architecture as DWS names it (`x86`, `arm`): every node of a node type runs on this host. */
const HOST_ARCHITECTURE = process.arch === 'arm64' ? 'arm' : process.arch === 'x64' ? 'x86' : process.arch;

export function nodeTypesOut(): Static<typeof NodeTypesResponse> {
  const azs = AVAILABILITY_ZONES.map((code) => ({ code, status: 'normal' }));
  const node_types = NODE_TYPES.map((t) => ({
    spec_name: t.specName,
    id: t.id,
    datastore_type: 'dws',
    architecture: HOST_ARCHITECTURE,
    vcpus: t.vcpus,
    ram: t.ramGb,
    detail: [
      { type: 'vCPU', value: String(t.vcpus), unit: '' },
      { type: 'mem', value: String(t.ramGb), unit: 'GB' },
      { type: 'LOCAL_DISK', value: String(t.diskGb), unit: 'GB' },
      {
        type: 'postgresql',
        value: `shared_buffers=${t.settings.shared_buffers} max_connections=${t.settings.max_connections} work_mem=${t.settings.work_mem}`,
        unit: '',
      },
      { type: 'host_memory_budget', value: String(Math.round(t.memoryBytes / (1024 * 1024))), unit: 'MB' },
    ],
    available_zones: azs,
    availability_zones: azs,
    datastores: [{ version: DATASTORE_VERSION, attachments: { min_cn: 2, max_cn: 20 }, role: 'STABLE' }],
    volume: { type: 'LOCAL_DISK', size: t.diskGb },
    elastic_volume_specs: [],
  }));
  return { node_types, count: node_types.length };
}
