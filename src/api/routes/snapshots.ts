/** Snapshot routes (dws-api.md §4). */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import type { AppDeps } from '../app.js';
import { KeptAnswers } from '../kept-answers.js';
import { ClusterParams, errorResponses, JobId, PageQuery, ProjectParams, SnapshotParams } from '../schemas/primitives.js';
import {
  ClusterSnapshotsQuery,
  CreateSnapshotBody,
  ListClusterSnapshotsResponse,
  ListSnapshotsResponse,
  Snapshot,
  snapshotOut,
} from '../schemas/snapshot.js';
import type { SnapshotRecord } from '../../domain/records.js';
import { validateDescription } from '../../domain/text-fields.js';

export const snapshotRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const s = deps.snapshots;
    const tags = ['snapshots'];
    const kept = new KeptAnswers();
    const out = async (x: SnapshotRecord) => snapshotOut(x, await s.context(x));

    app.post(
      '/v1.0/:project_id/snapshots',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Create a snapshot (CreateSnapshot)',
          params: ProjectParams,
          body: CreateSnapshotBody,
          response: { 200: Type.Object({ snapshot: Type.Object({ id: Type.String() }) }), ...errorResponses },
        },
      },
      async (req) => {
        const b = req.body.snapshot;
        validateDescription('snapshot.description', b.description ?? '');
        const snap = await s.create(req.params.project_id, { name: b.name, clusterId: b.cluster_id, description: b.description ?? '' });
        return { snapshot: { id: snap.id } };
      },
    );

    app.get(
      '/v1.0/:project_id/snapshots',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'List snapshots (ListSnapshots)',
          description:
            'limit and offset are a dwsbox extension (the SDK sends neither): a page of the list, newest first; count is all of them.',
          params: ProjectParams,
          querystring: PageQuery,
          response: { 200: ListSnapshotsResponse, ...errorResponses },
        },
      },
      async (req, reply) => {
        const page = await s.listWithContext(req.params.project_id, req.query, req.readPoint ?? undefined);
        return kept.send(reply, page, (p) => ({ snapshots: p.items.map((x) => snapshotOut(x.snapshot, x.context)), count: p.count }));
      },
    );

    app.get(
      '/v1.0/:project_id/clusters/:cluster_id/snapshots',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "List a cluster's snapshots (ListClusterSnapshots)",
          params: ClusterParams,
          querystring: ClusterSnapshotsQuery,
          response: { 200: ListClusterSnapshotsResponse, ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query as Static<typeof ClusterSnapshotsQuery>;
        const r = await s.listForCluster(req.params.project_id, req.params.cluster_id, {
          limit: q.limit,
          offset: q.offset,
          sortKey: q.sort_key,
          sortDir: q.sort_dir,
        });
        return {
          snapshots: await Promise.all(r.page.map(out)),
          project_id: req.params.project_id,
          cluster_id: req.params.cluster_id,
          count: r.count,
        };
      },
    );

    app.get(
      '/v1.0/:project_id/snapshots/:snapshot_id',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'Show a snapshot (ListSnapshotDetails)',
          params: SnapshotParams,
          response: { 200: Type.Object({ snapshot: Snapshot }), ...errorResponses },
        },
      },
      async (req) => ({ snapshot: await out(await s.get(req.params.project_id, req.params.snapshot_id)) }),
    );

    app.delete(
      '/v1.0/:project_id/snapshots/:snapshot_id',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Delete a snapshot (DeleteSnapshot)',
          description:
            'The snapshot is gone from the lists at once; its backup set is removed by the repository task whose id is job_id (GET /v1.0/{project_id}/job/{job_id}). Snapshots deleted together share one task.',
          params: SnapshotParams,
          response: { 202: JobId, ...errorResponses },
        },
      },
      async (req, reply) => {
        const task = await s.delete(req.params.project_id, req.params.snapshot_id);
        return reply.code(202).send({ job_id: task.id });
      },
    );
  };
