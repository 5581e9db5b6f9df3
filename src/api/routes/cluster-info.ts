/**
 * Cluster and project information (issue 16, D28): ListClusterTags, ListTagsForResource, ListTags,
 * ListQuotas, ListAvailabilityZones, ListClusterNodes, ShowInstance, ListClusterEndpoints. Reads only, each through the
 * services' kept reads at the request's read point (read-cache.ts), so a write shows in the
 * next read; an unknown cluster is the detail's 404 DWS.0047.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '../../errors/app-error.js';
import { Type } from '@sinclair/typebox';
import type { AppDeps } from '../app.js';
import { ClusterParams, errorResponses, ProjectParams } from '../schemas/primitives.js';
import {
  availabilityZonesOut,
  clusterEndpointsOut,
  clusterNodesOut,
  clusterTagsOut,
  INST_CREATE_TYPES,
  instanceOut,
  ListTagsForResourceQuery,
  ListTagsForResourceResponse,
  ShowInstanceResponse,
  sysTagsOut,
  ListAvailabilityZonesResponse,
  ListClusterEndpointsResponse,
  ListClusterNodesQuery,
  ListClusterNodesResponse,
  ListClusterTagsResponse,
  ListQuotasResponse,
  ListStatisticsResponse,
  ShowResourceStatisticsResponse,
  ListTagsResponse,
  NODE_STATUSES,
  projectTagsOut,
  quotasOut,
} from '../schemas/cluster-info.js';

/** `filter` must be one of `filter_by`'s values (or ALL); a `filter` without `filter_by` says nothing. */
function checkNodeFilter(q: ListClusterNodesQuery): void {
  if (q.filter === undefined) return;
  if (q.filter_by === undefined) throw new AppError('VALIDATION', { args: ['filter needs filter_by (instCreateType or status)'] });
  const allowed: readonly string[] = ['ALL', ...(q.filter_by === 'status' ? NODE_STATUSES : INST_CREATE_TYPES)];
  if (!allowed.includes(q.filter))
    throw new AppError('VALIDATION', { args: [`filter for filter_by=${q.filter_by} must be one of ${allowed.join(', ')}`] });
}

export const clusterInfoRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const s = deps.clusters;

    app.get(
      '/v1.0/:project_id/clusters/:cluster_id/tags',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['clusters'],
          summary: "List a cluster's tags (ListClusterTags)",
          description: 'The tags recorded for the cluster: given at create, added by tags/batch-create, removed by tags/batch-delete.',
          params: ClusterParams,
          response: { 200: ListClusterTagsResponse, ...errorResponses },
        },
      },
      async (req) => clusterTagsOut(await s.getView(req.params.project_id, req.params.cluster_id, req.readPoint ?? undefined)),
    );

    app.get(
      '/v1/:project_id/clusters/:cluster_id/enterprise-projects',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['clusters'],
          summary: "List a cluster's system tags (ListTagsForResource)",
          description:
            "The cluster's enterprise project as its system tag `_sys_enterprise_project_id` (the create's enterprise_project_id, `0` the default one); offset and limit page them.",
          params: ClusterParams,
          querystring: ListTagsForResourceQuery,
          response: { 200: ListTagsForResourceResponse, ...errorResponses },
        },
      },
      async (req) => sysTagsOut(await s.getView(req.params.project_id, req.params.cluster_id, req.readPoint ?? undefined), req.query),
    );

    app.get(
      '/v2/:project_id/instances/:instance_id',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['clusters'],
          summary: 'Show a node (ShowInstance)',
          description:
            "An instance is a node of one of the project's clusters (ListClusterNodes' id): its role and state as recorded, its cluster's node type, network fields and configuration state, and `volume.used`, the GB its data takes, measured on the member when it runs. An unknown id is 404 DWS.9981.",
          params: Type.Object({ project_id: Type.String({ maxLength: 64 }), instance_id: Type.String({ maxLength: 64 }) }),
          response: { 200: ShowInstanceResponse, ...errorResponses },
        },
      },
      async (req) => {
        const { view, node, usedBytes } = await s.instance(req.params.project_id, req.params.instance_id, req.readPoint ?? undefined);
        return instanceOut(view, node, usedBytes);
      },
    );

    app.get(
      '/v1.0/:project_id/tags',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['project'],
          summary: "List the project's tags (ListTags)",
          description: "Every tag key used by the project's clusters, with its distinct values; keys and values sorted.",
          params: ProjectParams,
          response: { 200: ListTagsResponse, ...errorResponses },
        },
      },
      async (req) => projectTagsOut((await s.list(req.params.project_id, {}, req.readPoint ?? undefined)).views),
    );

    app.get(
      '/v1.0/:project_id/statistics',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['project'],
          summary: "The project's resource counts (ListStatistics)",
          description:
            "cluster.total and cluster.normal (its clusters, and those AVAILABLE), instance.total and instance.normal (their members, and those the health monitor last saw up), storage.total (every member's node-type disk, GB).",
          params: ProjectParams,
          response: { 200: ListStatisticsResponse, ...errorResponses },
        },
      },
      async (req) => {
        const st = await s.statistics(req.params.project_id);
        return {
          statistics: [
            { name: 'cluster.total', value: st.clusters.total, unit: 'count' },
            { name: 'cluster.normal', value: st.clusters.active, unit: 'count' },
            { name: 'instance.total', value: st.nodes.total, unit: 'count' },
            { name: 'instance.normal', value: st.nodes.active, unit: 'count' },
            { name: 'storage.total', value: st.storageGb, unit: 'GB' },
          ],
        };
      },
    );

    app.get(
      '/v1/:project_id/resource-statistics',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['project'],
          summary: "The project's clusters and nodes, active and in all (ShowResourceStatistics)",
          description:
            'Active clusters are AVAILABLE; active nodes are members the health monitor last saw up. `namespace` is accepted (dws).',
          params: ProjectParams,
          querystring: Type.Object({ namespace: Type.Optional(Type.String({ maxLength: 32 })) }),
          response: { 200: ShowResourceStatisticsResponse, ...errorResponses },
        },
      },
      async (req) => {
        const st = await s.statistics(req.params.project_id);
        return { cluster_statistics: st.clusters, node_statistics: st.nodes };
      },
    );

    app.get(
      '/v1.0/:project_id/quotas',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['project'],
          summary: "List the project's quotas (ListQuotas)",
          description:
            'The quotas a request is refused beyond (D18, docs/security.md) and what the project uses of each: instances (nodes of its clusters, setting projectNodeQuota), snapshots (setting projectSnapshotQuota), snapshot_storage (MB recorded for its kept snapshots, setting projectRepoQuotaMb).',
          params: ProjectParams,
          response: { 200: ListQuotasResponse, ...errorResponses },
        },
      },
      async (req) => quotasOut(await s.quotas(req.params.project_id, req.readPoint ?? undefined)),
    );

    app.get(
      '/v1.0/:project_id/availability-zones',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['project'],
          summary: 'List availability zones (ListAvailabilityZones)',
          description:
            'The zone codes a cluster create accepts (availability_zone, availability_zones). They are labels recorded with the cluster: every node runs on this host.',
          params: ProjectParams,
          response: { 200: ListAvailabilityZonesResponse, ...errorResponses },
        },
      },
      async () => availabilityZonesOut(),
    );

    app.get(
      '/v2/:project_id/clusters/:cluster_id/nodes',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['clusters'],
          summary: "List a cluster's nodes (ListClusterNodes)",
          description:
            "The cluster's members, those being added or removed too, by ordinal: status from the membership and the recorded health, with the dwsbox fields role, health and connect_info. node_ids, filter_by/filter, order (order_by name is by ordinal), offset and limit (default 100) as the SDK sends them; deleted is ignored. count is every node the filters cover.",
          params: ClusterParams,
          querystring: ListClusterNodesQuery,
          response: { 200: ListClusterNodesResponse, ...errorResponses },
        },
      },
      async (req) => {
        checkNodeFilter(req.query);
        return clusterNodesOut(await s.getView(req.params.project_id, req.params.cluster_id, req.readPoint ?? undefined), req.query);
      },
    );

    app.get(
      '/v1/:project_id/clusters/:cluster_id/endpoints',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['clusters'],
          summary: "List a cluster's endpoints (ListClusterEndpoints)",
          description:
            "private_endpoints: the read-write address (the cluster's router on the Patroni engine, else its primary node) and port. No public endpoint or public IP exists. endpoints (dwsbox extension): the detail's endpoints.",
          params: ClusterParams,
          response: { 200: ListClusterEndpointsResponse, ...errorResponses },
        },
      },
      async (req) => clusterEndpointsOut(await s.getView(req.params.project_id, req.params.cluster_id, req.readPoint ?? undefined)),
    );
  };
