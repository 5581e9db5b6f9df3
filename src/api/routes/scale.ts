/** Scale-out (ResizeCluster, CheckGrowCluster) and scale-in (ShrinkCluster, CheckClusterShrink, ListClusterScaleInNumbers) routes. */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '../../errors/app-error.js';
import type { ScaleOutInput } from '../../services/scale-service.js';
import type { AppDeps } from '../app.js';
import { ClusterParams, Empty, errorResponses, JobId } from '../schemas/primitives.js';
import {
  GrowCheckResponse,
  ResizeBody,
  ShrinkBody,
  ShrinkCheckQuery,
  ShrinkCheckResponse,
  ShrinkNumbersQuery,
  ShrinkNumbersResponse,
  growCheckOut,
} from '../schemas/scale.js';

function scaleOutInput(b: ResizeBody): ScaleOutInput {
  return {
    count: b.scale_out.count,
    subnetId: b.scale_out.subnet_id,
    createNodeOnly: b.create_node_only,
    waitingForKilling: b.waiting_for_killing,
    autoRedistribute: b.auto_redistribute,
    logicalClusterName: b.logical_cluster_name,
  };
}

export const scaleRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const s = deps.scale;
    const tags = ['scale'];

    app.post(
      '/v1.0/:project_id/clusters/:cluster_id/resize',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Scale out: add hot standby nodes (ResizeCluster)',
          description:
            'Adds scale_out.count nodes, each a hot standby built with pg_basebackup. task_status GROWING while it runs; number_of_node, nodes and endpoints change only when every new node has caught up. A failure rolls back and leaves task_status RESIZE_FAILURE until the next accepted operation.',
          params: ClusterParams,
          body: ResizeBody,
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.scaleOut(req.params.project_id, req.params.cluster_id, scaleOutInput(req.body));
        return {};
      },
    );

    app.post(
      '/v2/:project_id/clusters/:cluster_id/grow-check',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'Check whether a scale-out can run (CheckGrowCluster)',
          description:
            'Changes nothing. data lists the checks that did not pass (required: true blocks the scale-out; false is a warning); empty means the scale-out can run. desc and type follow x-language.',
          params: ClusterParams,
          body: ResizeBody,
          response: { 200: GrowCheckResponse, ...errorResponses },
        },
      },
      async (req) => growCheckOut(await s.growCheck(req.params.project_id, req.params.cluster_id, scaleOutInput(req.body)), req.lang),
    );

    app.post(
      '/v1.0/:project_id/clusters/:cluster_id/cluster-shrink',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Scale in: remove standby nodes (ShrinkCluster)',
          description:
            'Removes the shrink_number highest-numbered standbys (never the primary, never below 3 nodes), with their replication slots and data. Returns the job id (GET /v1.0/{project_id}/job/{job_id}). task_status CLUSTER_SHRINKING while it runs; CLUSTER_SHRINK_FAILED after a failure.',
          params: ClusterParams,
          body: ShrinkBody,
          response: { 200: JobId, ...errorResponses },
        },
      },
      async (req) => {
        const t = await s.scaleIn(req.params.project_id, req.params.cluster_id, {
          shrinkNumber: req.body.shrink_number,
          parallelJobs: req.body.parallel_jobs,
        });
        return { job_id: t.id };
      },
    );

    app.get(
      '/v1/:project_id/clusters/:cluster_id/shrink-check',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'Check whether a scale-in can run (CheckClusterShrink)',
          params: ClusterParams,
          querystring: ShrinkCheckQuery,
          response: { 200: ShrinkCheckResponse, ...errorResponses },
        },
      },
      async (req) => {
        const r = await s.shrinkCheck(req.params.project_id, req.params.cluster_id, req.query.shrink_count);
        return { is_passed: r.passed, reason: r.reason };
      },
    );

    app.get(
      '/v1.0/:project_id/clusters/:cluster_id/shrink-numbers',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'The node counts a scale-in accepts (ListClusterScaleInNumbers)',
          params: ClusterParams,
          querystring: ShrinkNumbersQuery,
          response: { 200: ShrinkNumbersResponse, ...errorResponses },
        },
      },
      async (req) => {
        if (req.query.logical_cluster_name)
          throw new AppError('NOT_SUPPORTED', { args: ['Logical clusters', 'leave logical_cluster_name out'] });
        return { shrink_sequence: await s.shrinkNumbers(req.params.project_id, req.params.cluster_id) };
      },
    );
  };
