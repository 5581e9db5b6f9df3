/** Cluster routes (dws-api.md §3) and the metadata routes real clients use (D19). */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { AppError } from '../../errors/app-error.js';
import { DATASTORE_VERSION } from '../../domain/node-types.js';
import type { ClusterSpec, Tag as TagT } from '../../domain/records.js';
import type { CreateClusterInput } from '../../services/cluster-service.js';
import type { AppDeps } from '../app.js';
import { KeptAnswers } from '../kept-answers.js';
import {
  AVAILABILITY_ZONES,
  ClusterDetailResponse,
  CreateClusterResponse,
  CreateClusterV1Body,
  CreateClusterV2Body,
  DeleteClusterV1Body,
  DeleteClusterV2Query,
  ListClustersResponse,
  ResetPasswordBody,
  RestartBody,
  SwitchoverBody,
  SyncModeBody,
  clusterDetailOut,
  clusterInfoOut,
} from '../schemas/cluster.js';
import { ClusterParams, Empty, errorResponses, JobId, PageQuery, ProjectParams, Tag } from '../schemas/primitives.js';
import { validateDescription, validateTags } from '../../domain/text-fields.js';

/** The request's tags (an array, or one tag as some clients send it), checked by the one free-text rule. */
function tagsOf(t: TagT[] | TagT | null | undefined, field: string): TagT[] {
  const tags = !t ? [] : Array.isArray(t) ? t : [t];
  validateTags(tags, field);
  return tags;
}

function describe(field: string, text: string): string {
  validateDescription(field, text);
  return text;
}

function checkAz(az: string): string {
  for (const part of az.split(',')) {
    if (!AVAILABILITY_ZONES.includes(part))
      throw new AppError('INVALID_AVAILABILITY_ZONE', { args: [part.slice(0, 64), `available zones: ${AVAILABILITY_ZONES.join(', ')}`] });
  }
  return az;
}

export function v1Input(b: CreateClusterV1Body['cluster']): CreateClusterInput {
  const spec: ClusterSpec = {
    availabilityZone: checkAz(b.availability_zone || AVAILABILITY_ZONES[0]!),
    vpcId: b.vpc_id,
    subnetId: b.subnet_id,
    securityGroupId: b.security_group_id ?? '',
    enterpriseProjectId: b.enterprise_project_id ?? '0',
    tags: tagsOf(b.tags, 'cluster.tags'),
    description: describe('cluster.cluster_description_info', b.cluster_description_info ?? ''),
    version: DATASTORE_VERSION,
    numberOfCn: b.number_of_cn ?? null,
    publicIp: b.public_ip ? { public_bind_type: b.public_ip.public_bind_type ?? 'not_use', eip_id: b.public_ip.eip_id ?? '' } : null,
    volume: null,
    ...(b.sync_mode ? { syncMode: b.sync_mode } : {}),
  };
  return {
    name: b.name,
    nodeType: b.node_type,
    numberOfNode: b.number_of_node,
    port: b.port ?? 8000,
    userName: b.user_name,
    password: b.user_pwd,
    spec,
  };
}

export function v2Input(b: CreateClusterV2Body['cluster']): CreateClusterInput {
  if (b.master_key_id || b.master_key_name || b.crypt_algorithm)
    throw new AppError('NOT_SUPPORTED', { args: ['KMS encryption', 'leave master_key_id, master_key_name and crypt_algorithm empty'] });
  if (b.ipv6_enable) throw new AppError('NOT_SUPPORTED', { args: ['IPv6', 'clusters listen on IPv4 loopback addresses'] });
  if (b.dss_pool_id) throw new AppError('NOT_SUPPORTED', { args: ['dedicated storage pools', 'leave dss_pool_id empty'] });
  if (b.availability_zones.length === 0)
    throw new AppError('INVALID_AVAILABILITY_ZONE', { args: ['(none)', 'availability_zones needs at least one zone'] });
  const spec: ClusterSpec = {
    availabilityZone: checkAz(b.availability_zones.join(',')),
    vpcId: b.vpc_id,
    subnetId: b.subnet_id,
    securityGroupId: b.security_group_id ?? '',
    enterpriseProjectId: b.enterprise_project_id ?? '0',
    tags: tagsOf(b.tags, 'cluster.tags'),
    description: '',
    version: b.datastore_version,
    numberOfCn: b.num_cn ?? null,
    publicIp: b.public_ip ? { public_bind_type: b.public_ip.public_bind_type ?? 'not_use', eip_id: b.public_ip.eip_id ?? '' } : null,
    volume: b.volume ? { volume: b.volume.volume ?? 'SSD', capacity: String(b.volume.capacity ?? '') } : null,
    ...(b.sync_mode ? { syncMode: b.sync_mode } : {}),
  };
  return {
    name: b.name,
    nodeType: b.flavor,
    numberOfNode: b.num_node,
    port: b.db_port,
    userName: b.db_name,
    password: b.db_password,
    spec,
  };
}

export const clusterRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const s = deps.clusters;
    const kept = new KeptAnswers();
    const tags = ['clusters'];

    app.post(
      '/v1.0/:project_id/clusters',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Create a cluster (CreateCluster)',
          params: ProjectParams,
          body: CreateClusterV1Body,
          response: { 200: CreateClusterResponse, ...errorResponses },
        },
      },
      async (req) => {
        const c = await s.create(req.params.project_id, v1Input(req.body.cluster));
        return { cluster: { id: c.id } };
      },
    );

    app.post(
      '/v2/:project_id/clusters',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Create a cluster (CreateClusterV2)',
          params: ProjectParams,
          body: CreateClusterV2Body,
          response: { 200: CreateClusterResponse, ...errorResponses },
        },
      },
      async (req) => {
        const c = await s.create(req.params.project_id, v2Input(req.body.cluster));
        return { cluster: { id: c.id } };
      },
    );

    for (const prefix of ['/v1.0', '/v2']) {
      app.get(
        `${prefix}/:project_id/clusters`,
        {
          config: { auth: 'read' },
          schema: {
            tags,
            summary: 'List clusters',
            description:
              'limit and offset are a dwsbox extension (the SDK sends neither): a page of the list, oldest first; count is all of them.',
            params: ProjectParams,
            querystring: Type.Composite([Type.Object({ enterprise_project_id: Type.Optional(Type.String()) }), PageQuery]),
            response: { 200: ListClustersResponse, ...errorResponses },
          },
        },
        async (req, reply) => {
          const { enterprise_project_id: eps, limit, offset } = req.query;
          const page = await s.list(req.params.project_id, { enterpriseProjectId: eps, limit, offset }, req.readPoint ?? undefined);
          return kept.send(reply, page, (p) => ({ clusters: p.views.map(clusterInfoOut), count: p.count }));
        },
      );
    }

    app.get(
      '/v1.0/:project_id/clusters/:cluster_id',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'Show a cluster (ListClusterDetails)',
          params: ClusterParams,
          response: { 200: ClusterDetailResponse, ...errorResponses },
        },
      },
      async (req, reply) => {
        const at = req.readPoint ?? undefined;
        const view = await s.getView(req.params.project_id, req.params.cluster_id, at);
        const window = await deps.restores.restoreWindow(view.cluster, view.nodes, at);
        // A window that reaches now is the answer's own; any other holds as long as the view.
        if (window.latest !== null) return { cluster: clusterDetailOut(view, window) };
        return kept.send(reply, view, (v) => ({ cluster: clusterDetailOut(v, window) }));
      },
    );

    app.delete(
      '/v1.0/:project_id/clusters/:cluster_id',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Delete a cluster (DeleteCluster, JSON body)',
          params: ClusterParams,
          body: DeleteClusterV1Body,
          response: { 202: Empty, ...errorResponses },
        },
      },
      async (req, reply) => {
        const body = req.body as Static<typeof DeleteClusterV1Body>;
        await s.delete(req.params.project_id, req.params.cluster_id, body?.keep_last_manual_snapshot ?? 0);
        return reply.code(202).send({});
      },
    );

    app.delete(
      '/v2/:project_id/clusters/:cluster_id',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Delete a cluster (DeleteDwsCluster)',
          description: 'job_id is the delete task (GET /v1.0/{project_id}/job/{job_id}).',
          params: ClusterParams,
          querystring: DeleteClusterV2Query,
          response: { 202: JobId, ...errorResponses },
        },
      },
      async (req, reply) => {
        const q = req.query as Static<typeof DeleteClusterV2Query>;
        if (q.release_eip_type && !['NO_RELEASE', 'RELEASE_BINDING'].includes(q.release_eip_type))
          throw new AppError('VALIDATION', { args: ['release_eip_type must be NO_RELEASE or RELEASE_BINDING'] });
        const task = await s.delete(req.params.project_id, req.params.cluster_id, Number(q.keep_last_manual_backup ?? 0));
        return reply.code(202).send({ job_id: task.id });
      },
    );

    app.post(
      '/v1.0/:project_id/clusters/:cluster_id/restart',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Restart a cluster',
          params: ClusterParams,
          body: RestartBody,
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.restart(req.params.project_id, req.params.cluster_id);
        return {};
      },
    );

    app.post(
      '/v1.0/:project_id/clusters/:cluster_id/switchover',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Switch the primary over to another node (SwitchOverCluster)',
          description:
            'A planned switchover of a highly available cluster (the Patroni engine): task_status ACTIVE_STANDY_SWITCHOVER while it runs, ACTIVE_STANDY_SWITCHOVER_FAILURE after a failure. By default to the preferred node (node 1), which puts an UNBALANCED cluster back to NORMAL; the dwsbox extension candidate_node_id names another node. Refused when no standby takes over on this engine, when the candidate is not a streaming replica, or when another task runs.',
          params: ClusterParams,
          body: SwitchoverBody,
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.switchover(req.params.project_id, req.params.cluster_id, req.body?.candidate_node_id ?? null);
        return {};
      },
    );

    app.put(
      '/dwsbox/v1/:project_id/clusters/:cluster_id/sync-mode',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: "Change a highly available cluster's replication (dwsbox extension)",
          description:
            "The replication a create chose with the dwsbox field sync_mode, changed on a running cluster of the Patroni engine (D25): sync (a commit waits for one synchronous standby while one streams), strict (commits wait even when none streams) or async. Answers once the leader shows it (one synchronous standby, or none); the cluster's detail shows sync_mode after. Refused on the local engine, on a cluster that is not available or is stopped, and while a task runs on it.",
          params: ClusterParams,
          body: SyncModeBody,
          response: { 200: Type.Object({ sync_mode: Type.String() }), ...errorResponses },
        },
      },
      async (req) => {
        await s.setSyncMode(req.params.project_id, req.params.cluster_id, req.body.sync_mode);
        return { sync_mode: req.body.sync_mode };
      },
    );

    for (const [verb, fn] of [
      ['start', s.start.bind(s)],
      ['stop', s.stop.bind(s)],
    ] as const) {
      app.post(
        `/v1/:project_id/clusters/:cluster_id/${verb}`,
        {
          config: { auth: 'mutate' },
          schema: {
            tags,
            summary: `${verb === 'start' ? 'Start' : 'Stop'} a cluster (${verb === 'start' ? 'StartCluster' : 'StopCluster'})`,
            description: 'job_id is the task (GET /v1.0/{project_id}/job/{job_id}).',
            params: ClusterParams,
            body: Type.Optional(Type.Unknown()),
            response: { 200: JobId, ...errorResponses },
          },
        },
        async (req) => ({ job_id: (await fn(req.params.project_id, req.params.cluster_id)).id }),
      );
    }

    app.post(
      '/v1.0/:project_id/clusters/:cluster_id/reset-password',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Reset the administrator password',
          params: ClusterParams,
          body: ResetPasswordBody,
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.resetPassword(req.params.project_id, req.params.cluster_id, req.body.new_password);
        return {};
      },
    );

    app.put(
      '/v1/:project_id/clusters/:cluster_id/cluster-name',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Rename a cluster (ModifyClusterName)',
          description:
            "The name has a create's rules and must be free in the project (409 DWS.5050). It changes at once, even while a task runs: nothing on the host carries it; snapshots keep the name they were taken under.",
          params: ClusterParams,
          body: Type.Object({ cluster_name: Type.String({ maxLength: 256 }) }),
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.rename(req.params.project_id, req.params.cluster_id, req.body.cluster_name);
        return {};
      },
    );

    app.put(
      '/v1.0/:project_id/clusters/:cluster_id/maintenance-window',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: "Set the cluster's maintenance window (UpdateMaintenanceWindow)",
          description:
            "A weekly window in UTC, as the real service takes it: day Mon…Sun, start_time and end_time HH:mm on the hour, the end 4 hours after the start (it may cross midnight). Stored at once, shown in the detail's maintain_window; a restart a parameter change needs waits for it (docs/api.md#the-maintenance-window).",
          params: ClusterParams,
          body: Type.Object({
            day: Type.String({ maxLength: 16 }),
            start_time: Type.String({ maxLength: 16 }),
            end_time: Type.String({ maxLength: 16 }),
          }),
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.setMaintenanceWindow(req.params.project_id, req.params.cluster_id, req.body);
        return {};
      },
    );

    app.post(
      '/v1.0/:project_id/clusters/:cluster_id/cancel-readonly',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Lift the read-only protection (CancelReadonlyCluster)',
          description:
            "A cluster made read-only because a member's data passed the data-disk threshold (sub_status READONLY) is writable again at once, so that data can be deleted; the protection arms again once the data is below the threshold. A cluster that is not read-only: 409 DWS.0011 (docs/api.md#read-only-protection).",
          params: ClusterParams,
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.cancelReadOnly(req.params.project_id, req.params.cluster_id);
        return {};
      },
    );

    const TagsBody = Type.Object({ tags: Type.Array(Tag, { maxItems: 20 }) });
    app.post(
      '/v1.0/:project_id/clusters/:cluster_id/tags/batch-create',
      {
        config: { auth: 'mutate' },
        schema: { tags, summary: 'Add tags', params: ClusterParams, body: TagsBody, response: { 200: Empty, ...errorResponses } },
      },
      async (req) => {
        validateTags(req.body.tags);
        await s.addTags(req.params.project_id, req.params.cluster_id, req.body.tags);
        return {};
      },
    );
    app.post(
      '/v1.0/:project_id/clusters/:cluster_id/tags/batch-delete',
      {
        config: { auth: 'mutate' },
        schema: { tags, summary: 'Remove tags', params: ClusterParams, body: TagsBody, response: { 200: Empty, ...errorResponses } },
      },
      async (req) => {
        await s.removeTags(req.params.project_id, req.params.cluster_id, req.body.tags);
        return {};
      },
    );
    app.post(
      '/v1/:project_id/clusters/:cluster_id/description',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Set the description',
          params: ClusterParams,
          body: Type.Object({ description_info: Type.String({ maxLength: 256 }) }),
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        const d = describe('description_info', req.body.description_info);
        await s.updateSpec(req.params.project_id, req.params.cluster_id, (sp) => ({ ...sp, description: d }));
        return {};
      },
    );
    app.put(
      '/v1/:project_id/clusters/:cluster_id/security-group',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Set the security group',
          params: ClusterParams,
          body: Type.Object({ security_groups: Type.Array(Type.String(), { minItems: 1, maxItems: 1 }) }),
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        const sg = req.body.security_groups[0]!;
        if (!/^[0-9a-fA-F-]{36}$/.test(sg)) throw new AppError('INVALID_UUID', { args: ['security_groups', sg.slice(0, 64)] });
        await s.updateSpec(req.params.project_id, req.params.cluster_id, (sp) => ({ ...sp, securityGroupId: sg }));
        return {};
      },
    );
    // The SDK operations with no local meaning answer from routes/unsupported.ts (D28).
  };
