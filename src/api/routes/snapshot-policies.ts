/** Snapshot-policy routes (docs/snapshot-policies.md): UpdateSnapshotPolicy, ListSnapshotPolicy, DeleteSnapshotPolicy. */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppDeps } from '../app.js';
import { ClusterParams, Empty, errorResponses } from '../schemas/primitives.js';
import { ListSnapshotPolicyResponse, policyOut, policyPutIn, UpdateSnapshotPolicyBody } from '../schemas/snapshot-policy.js';

const PolicyParams = Type.Object({
  project_id: Type.String({ maxLength: 64 }),
  cluster_id: Type.String({ maxLength: 64 }),
  id: Type.String({ maxLength: 64 }),
});

export const snapshotPolicyRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const s = deps.policies;
    const tags = ['snapshot policies'];

    app.put(
      '/v2/:project_id/clusters/:cluster_id/snapshot-policies',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Add or update snapshot-policy strategies and settings (UpdateSnapshotPolicy)',
          params: ClusterParams,
          body: UpdateSnapshotPolicyBody,
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.put(req.params.project_id, req.params.cluster_id, policyPutIn(req.body ?? {}));
        return {};
      },
    );

    app.get(
      '/v2/:project_id/clusters/:cluster_id/snapshot-policies',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "Show a cluster's snapshot policy (ListSnapshotPolicy)",
          params: ClusterParams,
          response: { 200: ListSnapshotPolicyResponse, ...errorResponses },
        },
      },
      async (req) => policyOut(await s.get(req.params.project_id, req.params.cluster_id)),
    );

    app.delete(
      '/v1.0/:project_id/clusters/:cluster_id/snapshot-policies/:id',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Delete a snapshot-policy strategy (DeleteSnapshotPolicy)',
          params: PolicyParams,
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.delete(req.params.project_id, req.params.cluster_id, req.params.id);
        return {};
      },
    );
  };
