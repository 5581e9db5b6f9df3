/**
 * Node-type changes (issue 16, D28): ShowClusterFlavor, ListTargetFlavors and
 * ExecuteFlavorChange. A node type is a set of PostgreSQL settings with a memory and disk budget
 * (domain/node-types.ts); a change is a SETTING_CONFIGURATION task that applies the new type's
 * settings and restarts every member (services/configuration-service.ts `changeFlavor`).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppDeps } from '../app.js';
import { ClusterParams, errorResponses, ProjectParams } from '../schemas/primitives.js';
import { clusterFlavor, targetNodeType } from '../../domain/flavors.js';
import { MAX_NODES_API, MIN_NODES } from '../../services/cluster-service.js';

const tags = ['clusters'];

const Flavor = Type.Object({
  id: Type.String(),
  spec_name: Type.String(),
  current_node: Type.Integer(),
  min_node: Type.Integer(),
  max_node: Type.Integer(),
  datastore_version: Type.String(),
  attribute: Type.Array(Type.Object({ code: Type.String(), value: Type.String() })),
  volume_node: Type.Object({
    volume_type: Type.String(),
    volume_num: Type.Integer(),
    capacity: Type.Integer(),
    volume_size: Type.Integer(),
  }),
});

const TargetFlavors = Type.Object({
  count: Type.Integer(),
  flavors: Type.Array(
    Type.Object({ id: Type.String(), name: Type.String(), vcpus: Type.String(), ram: Type.String(), is_current_flavor: Type.Boolean() }),
  ),
});

export const flavorRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const clusters = deps.clusters;

    app.get(
      '/v2/:project_id/clusters/:cluster_id/flavor',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "Show a cluster's node type (ShowClusterFlavor)",
          description:
            "The node type the cluster runs, its member count and the limits of a resize; `attribute` the type's vCPU and memory figures and its PostgreSQL settings; `volume_node` its disk budget per member. `classify` is absent (no product classes). `namespace` is accepted and means nothing.",
          params: ClusterParams,
          querystring: Type.Object({ namespace: Type.Optional(Type.String({ maxLength: 32 })) }),
          response: { 200: Type.Object({ flavor: Flavor }), ...errorResponses },
        },
      },
      async (req) => {
        const c = await clusters.get(req.params.project_id, req.params.cluster_id);
        const t = targetNodeType(c.nodeType);
        return { flavor: clusterFlavor(t, c.numberOfNode, { min: MIN_NODES, max: MAX_NODES_API }) };
      },
    );

    app.get(
      '/v1/:project_id/flavors/:flavor_id/target-flavors',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'List the node types a cluster can move to (ListTargetFlavors)',
          description:
            "Every node type, the current one (`flavor_id`) marked. With `cluster_id`, only those this host has the memory for, for that cluster's members, now (ExecuteFlavorChange checks again).",
          params: Type.Object({ project_id: ProjectParams.properties.project_id, flavor_id: Type.String({ maxLength: 64 }) }),
          querystring: Type.Object({ cluster_id: Type.Optional(Type.String({ maxLength: 64 })) }),
          response: { 200: TargetFlavors, ...errorResponses },
        },
      },
      async (req) => {
        return clusters.configurations.targetFlavors(req.params.project_id, req.params.flavor_id, req.query.cluster_id);
      },
    );

    app.post(
      '/v1/:project_id/clusters/:cluster_id/flavor',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: "Change a cluster's node type (ExecuteFlavorChange)",
          description:
            "A SETTING_CONFIGURATION task applies the new type's settings (shared_buffers, max_connections, work_mem, maintenance_work_mem, effective_cache_size) and restarts every member, standbys first (the primary first when max_connections goes down); the cluster's node type changes with them. Refused first: the same type, a host without the memory, a disk budget the data would already pass the read-only threshold of. `force_backup` is accepted and has no effect (deprecated in DWS too). Answers `{}` and the dwsbox field `job_id` (none when the types' settings are equal).",
          params: ClusterParams,
          body: Type.Object({
            target_flavor_id: Type.String({ minLength: 1, maxLength: 64 }),
            force_backup: Type.Optional(Type.Boolean()),
          }),
          response: { 200: Type.Object({ job_id: Type.Optional(Type.String()) }), ...errorResponses },
        },
      },
      async (req) => {
        const task = await clusters.configurations.changeFlavor(req.params.project_id, req.params.cluster_id, req.body.target_flavor_id);
        return task ? { job_id: task.id } : {};
      },
    );
  };
