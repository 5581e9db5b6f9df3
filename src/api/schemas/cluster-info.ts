/**
 * Wire schemas and mappers of the cluster and project information routes (issue 16, D28):
 * ListClusterTags, ListTags, ListQuotas, ListAvailabilityZones, ListClusterNodes,
 * ListClusterEndpoints. Field names and types are the DWS v2 SDK's models; a field dwsbox has
 * nothing true for is left out (docs/api.md says which), never made up.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { ClusterView, ProjectQuotas } from '../../services/cluster-service.js';
import type { NodeRecord } from '../../domain/records.js';
import { BYTES_PER_MB } from '../../domain/snapshot-space.js';
import { AVAILABILITY_ZONES, clusterInfoOut } from './cluster.js';
import { PageQuery, Tag } from './primitives.js';
import { NODE_TYPES } from '../../domain/node-types.js';
import { clusterTime } from '../../domain/time.js';

// ---- ListClusterTags, ListTags

export const ListClusterTagsResponse = Type.Object({ tags: Type.Array(Tag) });

export const ListTagsResponse = Type.Object({
  tags: Type.Array(Type.Object({ key: Type.String(), values: Type.Array(Type.String()) })),
});

/** The cluster's tags as recorded (BatchCreateResourceTag / BatchDeleteResourceTag, or the create's). */
export function clusterTagsOut(v: ClusterView): Static<typeof ListClusterTagsResponse> {
  return { tags: v.cluster.spec.tags.map((t) => ({ key: t.key, value: t.value })) };
}

// ---- ListTagsForResource

/** The system tag that names a resource's enterprise project, as the cloud's tag service writes it. */
export const ENTERPRISE_PROJECT_TAG = '_sys_enterprise_project_id';

export const ListTagsForResourceQuery = PageQuery;
export const ListTagsForResourceResponse = Type.Object({
  sys_tags: Type.Array(Tag, {
    description: "the cluster's system tags: its enterprise project (_sys_enterprise_project_id), as recorded at create",
  }),
  count: Type.Integer({ description: 'every system tag, not only the page' }),
});

export function sysTagsOut(v: ClusterView, q: Static<typeof PageQuery>): Static<typeof ListTagsForResourceResponse> {
  const tags = [{ key: ENTERPRISE_PROJECT_TAG, value: v.cluster.spec.enterpriseProjectId }];
  const offset = q.offset ?? 0;
  return { sys_tags: tags.slice(offset, offset + (q.limit ?? 100)), count: tags.length };
}

/** Every key the project's clusters use, with its distinct values; keys and values in code-point order. */
export function projectTagsOut(views: readonly ClusterView[]): Static<typeof ListTagsResponse> {
  const byKey = new Map<string, Set<string>>();
  for (const v of views)
    for (const t of v.cluster.spec.tags) {
      let values = byKey.get(t.key);
      if (!values) byKey.set(t.key, (values = new Set()));
      values.add(t.value);
    }
  const sorted = (xs: Iterable<string>): string[] => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { tags: sorted(byKey.keys()).map((key) => ({ key, values: sorted(byKey.get(key)!) })) };
}

// ---- ListQuotas

const QuotaResource = Type.Object({
  type: Type.String({ description: 'instances (nodes), snapshots, snapshot_storage (MB of kept snapshots)' }),
  used: Type.Integer(),
  quota: Type.Integer(),
  unit: Type.Optional(Type.String()),
});
export const ListQuotasResponse = Type.Object({ quotas: Type.Object({ resources: Type.Array(QuotaResource) }) });

export function quotasOut(q: ProjectQuotas): Static<typeof ListQuotasResponse> {
  return {
    quotas: {
      resources: [
        { type: 'instances', used: q.nodes.used, quota: q.nodes.quota },
        { type: 'snapshots', used: q.snapshots.used, quota: q.snapshots.quota },
        {
          type: 'snapshot_storage',
          // whole MB, rounded up: a partly used megabyte counts as used
          used: Math.ceil(q.snapshotBytes.used / BYTES_PER_MB),
          quota: Math.floor(q.snapshotBytes.quota / BYTES_PER_MB),
          unit: 'MB',
        },
      ],
    },
  };
}

// ---- ListAvailabilityZones

export const ListAvailabilityZonesResponse = Type.Object({
  availability_zones: Type.Array(Type.Object({ code: Type.String(), status: Type.String() })),
  count: Type.Integer(),
});

/** The zones a create accepts (checkAz of routes/clusters.ts reads the same list). */
export function availabilityZonesOut(): Static<typeof ListAvailabilityZonesResponse> {
  const availability_zones = AVAILABILITY_ZONES.map((code) => ({ code, status: 'available' }));
  return { availability_zones, count: availability_zones.length };
}

// ---- ListClusterNodes

/** ListClusterNodes' `filter_by=status` values, as the SDK documents them. */
export const NODE_STATUSES = ['CREATING', 'FREE', 'ACTIVE', 'FAILED', 'UNKNOWN', 'CREATE_FAILED', 'DELETING', 'DELETE_FAILED'] as const;
/** Its `filter_by=instCreateType` values: INST in a cluster, NODE idle (dwsbox has no idle nodes). */
export const INST_CREATE_TYPES = ['INST', 'NODE'] as const;

export const ListClusterNodesQuery = Type.Object({
  node_ids: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 256 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  filter_by: Type.Optional(Type.Union([Type.Literal('instCreateType'), Type.Literal('status')])),
  filter: Type.Optional(Type.String({ maxLength: 64 })),
  order_by: Type.Optional(Type.Literal('name')),
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
  /** deprecated in the SDK; accepted and ignored */
  deleted: Type.Optional(Type.String({ maxLength: 64 })),
});
export type ListClusterNodesQuery = Static<typeof ListClusterNodesQuery>;

const ClusterNodeInfo = Type.Object({
  id: Type.String(),
  name: Type.String({ description: 'node<ordinal>: the member name of the data directory and of Patroni' }),
  status: Type.String({ description: 'ACTIVE, FAILED (down or stopped), UNKNOWN (not checked yet), CREATING, DELETING' }),
  spec: Type.String({ description: "the cluster's node type" }),
  inst_create_type: Type.String({ description: 'INST: every dwsbox node belongs to its cluster' }),
  az_code: Type.Optional(Type.String({ description: "the cluster's zone, when it has one zone" })),
  role: Type.String({ description: 'dwsbox extension: primary | standby' }),
  health: Type.String({ description: 'dwsbox extension: up | down | stopped | unknown, as the health monitor and tasks recorded it' }),
  connect_info: Type.String({ description: 'dwsbox extension: host:port of this node' }),
});
export const ListClusterNodesResponse = Type.Object({
  node_list: Type.Array(ClusterNodeInfo),
  count: Type.Integer({ description: 'every node the filters cover, not only the page' }),
  failed_count: Type.Integer({ description: 'of those, the nodes whose status is FAILED' }),
});
type NodeOut = Static<typeof ClusterNodeInfo>;

/** A node's SDK status: where it is in its cluster's membership, then its recorded health. */
export function nodeStatus(n: NodeRecord): string {
  if (n.membership === 'building') return 'CREATING';
  if (n.membership === 'removing') return 'DELETING';
  return n.health === 'up' ? 'ACTIVE' : n.health === 'unknown' ? 'UNKNOWN' : 'FAILED';
}

function nodeOut(v: ClusterView, n: NodeRecord): NodeOut {
  const zones = v.cluster.spec.availabilityZone.split(',').filter((z) => z !== '');
  return {
    id: n.id,
    name: `node${n.ordinal}`,
    status: nodeStatus(n),
    spec: v.cluster.nodeType,
    inst_create_type: 'INST',
    ...(zones.length === 1 ? { az_code: zones[0]! } : {}),
    role: n.role,
    health: n.health,
    connect_info: `${n.host}:${n.port}`,
  };
}

/**
 * The cluster's nodes (every membership: those being added or removed too), filtered, ordered
 * and paged as ListClusterNodes asks. The caller has checked `filter` against `filter_by`.
 */
export function clusterNodesOut(v: ClusterView, q: ListClusterNodesQuery): Static<typeof ListClusterNodesResponse> {
  const ids = q.node_ids ? new Set(q.node_ids.flatMap((x) => x.split(',')).map((x) => x.trim())) : null;
  const filter = q.filter && q.filter !== 'ALL' ? q.filter : null;
  let nodes = v.nodes.map((n) => nodeOut(v, n)).filter((n) => !ids || ids.has(n.id));
  if (filter && q.filter_by === 'status') nodes = nodes.filter((n) => n.status === filter);
  if (filter && q.filter_by === 'instCreateType') nodes = nodes.filter((n) => n.inst_create_type === filter);
  // By name is by ordinal (node2 before node10); the store lists them by ordinal already.
  if (q.order === 'desc') nodes.reverse();
  const offset = q.offset ?? 0;
  return {
    node_list: nodes.slice(offset, offset + (q.limit ?? 100)),
    count: nodes.length,
    failed_count: nodes.filter((n) => n.status === 'FAILED').length,
  };
}

// ---- ListClusterEndpoints

export const ListClusterEndpointsResponse = Type.Object({
  private_endpoints: Type.Optional(
    Type.Object(
      { ip: Type.String(), port: Type.Integer() },
      { description: "the read-write address: the cluster's router (Patroni engine), else its primary node" },
    ),
  ),
  public_ip_infos: Type.Array(Type.Object({}), { description: 'always empty: there are no public IPs' }),
  endpoints: Type.Array(Type.Object({ connect_info: Type.String(), jdbc_url: Type.String() }), {
    description: "dwsbox extension: the cluster detail's endpoints (the router's read-write then read-only address, else each node)",
  }),
});

export function clusterEndpointsOut(v: ClusterView): Static<typeof ListClusterEndpointsResponse> {
  const c = v.cluster;
  const primary = v.nodes.find((n) => n.role === 'primary' && n.membership !== 'removing');
  const ip = c.spec.endpoints?.readWrite ?? primary?.host;
  return {
    ...(ip === undefined ? {} : { private_endpoints: { ip, port: c.port } }),
    public_ip_infos: [],
    endpoints: clusterInfoOut(v).endpoints,
  };
}

export const ListStatisticsResponse = Type.Object({
  statistics: Type.Array(Type.Object({ name: Type.String(), value: Type.Number(), unit: Type.String() })),
});

const StatusStatistics = Type.Object({ active: Type.Integer(), total: Type.Integer() });
export const ShowResourceStatisticsResponse = Type.Object({ cluster_statistics: StatusStatistics, node_statistics: StatusStatistics });

// ---- ShowInstance

const Link = Type.Object({ rel: Type.String(), href: Type.String() });
export const ShowInstanceResponse = Type.Object({
  id: Type.String({ description: "the node id (ListClusterNodes, the detail's nodes[].id)" }),
  name: Type.String({ description: 'node<ordinal>' }),
  cluster_id: Type.String(),
  type: Type.String({ description: 'dws: every member is a data node holding the whole database' }),
  role: Type.String({ description: 'primary | standby' }),
  status: Type.String({
    description: 'ACTIVE (up), FAILED (down), SHUTDOWN (stopped), BUILD (being added), DELETING (being removed), UNKNOWN (not checked yet)',
  }),
  created: Type.String(),
  updated: Type.String(),
  azcode: Type.String({ description: "the cluster's zone(s), as given at create" }),
  vpc: Type.String(),
  subnet_id: Type.String(),
  secure_group: Type.String(),
  traffic_ip: Type.String({ description: 'the address the member serves on' }),
  db_user: Type.String({ description: "the cluster's administrator" }),
  configuration_status: Type.String({
    description: "In-Sync, Applying (a SETTING_CONFIGURATION task runs), Pending-Reboot (a changed value waits for the cluster's restart)",
  }),
  params_group_id: Type.String({ description: "the cluster's parameter configuration id (ListClusterConfigurations): the cluster id" }),
  flavor: Type.Object({ id: Type.String({ description: "the cluster's node type id" }), links: Type.Array(Link) }),
  volume: Type.Object({
    type: Type.String(),
    size: Type.Number({ description: "GB: the node type's disk" }),
    used: Type.Optional(
      Type.Number({
        description: 'GB its data takes now (databases and WAL), measured on the running member; absent when it does not run',
      }),
    ),
  }),
  datastore: Type.Object({ type: Type.String(), version: Type.String() }),
  configuration: Type.Object({ id: Type.String(), name: Type.String(), links: Type.Array(Link) }),
  replicas: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), links: Type.Array(Link) }), {
    description: "the cluster's other members",
  }),
  links: Type.Array(Link),
});

function instanceStatus(n: NodeRecord): string {
  if (n.membership === 'building') return 'BUILD';
  if (n.membership === 'removing') return 'DELETING';
  return { up: 'ACTIVE', down: 'FAILED', stopped: 'SHUTDOWN', unknown: 'UNKNOWN' }[n.health];
}

const GB = 1024 ** 3;

export function instanceOut(v: ClusterView, n: NodeRecord, usedBytes: number | null): Static<typeof ShowInstanceResponse> {
  const c = v.cluster;
  const nt = NODE_TYPES.find((t) => t.specName === c.nodeType);
  return {
    id: n.id,
    name: `node${n.ordinal}`,
    cluster_id: c.id,
    type: 'dws',
    role: n.role,
    status: instanceStatus(n),
    created: clusterTime(n.createdAt),
    updated: clusterTime(n.updatedAt),
    azcode: c.spec.availabilityZone,
    vpc: c.spec.vpcId,
    subnet_id: c.spec.subnetId,
    secure_group: c.spec.securityGroupId,
    traffic_ip: n.host,
    db_user: c.userName,
    configuration_status: c.pendingRestart ? 'Pending-Reboot' : v.taskStatus === 'SETTING_CONFIGURATION' ? 'Applying' : 'In-Sync',
    params_group_id: c.id,
    flavor: { id: nt?.id ?? c.nodeType, links: [] },
    volume: {
      type: 'LOCAL_DISK',
      size: nt?.diskGb ?? 0,
      ...(usedBytes === null ? {} : { used: Math.round((usedBytes / GB) * 1000) / 1000 }),
    },
    datastore: { type: 'dws', version: c.spec.version },
    configuration: { id: c.id, name: c.name, links: [] },
    replicas: v.nodes
      .filter((m) => m.id !== n.id && m.membership === 'active')
      .map((m) => ({ id: m.id, name: `node${m.ordinal}`, links: [] })),
    links: [],
  };
}
