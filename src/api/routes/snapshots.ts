/** Snapshot routes (dws-api.md §4); ListSnapshotStatistics and ListSnapshotFlavorInfo from the snapshots' records, CopySnapshot as a snapshot.copy task (issue 16). */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import type { AppDeps } from '../app.js';
import { KeptAnswers } from '../kept-answers.js';
import { ClusterParams, errorResponses, JobId, PageQuery, ProjectParams, SnapshotParams } from '../schemas/primitives.js';
import {
  ClusterSnapshotsQuery,
  CopySnapshotBody,
  CopySnapshotResponse,
  CreateSnapshotBody,
  ListClusterSnapshotsResponse,
  ListSnapshotsResponse,
  Snapshot,
  SnapshotFlavorsQuery,
  SnapshotFlavorsResponse,
  snapshotFlavorOut,
  snapshotOut,
  SnapshotStatisticsResponse,
  snapshotStatisticsOut,
} from '../schemas/snapshot.js';
import { AVAILABILITY_ZONES } from '../schemas/cluster.js';
import type { SnapshotRecord } from '../../domain/records.js';
import { validateDescription } from '../../domain/text-fields.js';
import { AppError } from '../../errors/app-error.js';

/** `az_code` as a restore's `availability_zone` is checked: each comma-separated code one a create accepts. */
function checkAzCode(az: string): void {
  for (const part of az.split(','))
    if (!AVAILABILITY_ZONES.includes(part))
      throw new AppError('INVALID_AVAILABILITY_ZONE', { args: [part.slice(0, 64), `available zones: ${AVAILABILITY_ZONES.join(', ')}`] });
}

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

    app.post(
      '/v1.0/:project_id/snapshots/:snapshot_id/linked-copy',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Copy a snapshot (CopySnapshot)',
          description:
            "An independent MANUAL copy of a cluster-level snapshot in a stanza of its own, in the service's configured repository (local or S3): the snapshot restored into a temporary instance and backed up in full with its WAL (--archive-copy). It restores on its own after the source, its stanza and its cluster are gone. snapshot_id is the copy's, CREATING until its task (job_id, GET /v1.0/{project_id}/job/{job_id}) ends. A schema- or table-level snapshot is refused (400 DWS.9911).",
          params: SnapshotParams,
          body: CopySnapshotBody,
          response: { 200: CopySnapshotResponse, ...errorResponses },
        },
      },
      async (req) => {
        const b = req.body;
        validateDescription('description', b.description ?? '');
        const { snapshot, task } = await s.copy(req.params.project_id, req.params.snapshot_id, {
          name: b.backup_name,
          description: b.description ?? '',
        });
        return { snapshot_id: snapshot.id, job_id: task.id };
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
      '/v1.0/:project_id/clusters/:cluster_id/snapshots/statistics',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "Statistics of a cluster's snapshots (ListSnapshotStatistics)",
          description:
            "storage.used: GB the cluster's kept snapshots take in the repository (the sizes pgBackRest measured for its backup sets, the dump directories' sizes; deleted ones a kept set still needs count). storage.free: GB they may take under the project's repository quota (projectRepoQuotaMb less what the project's other snapshots take). snapshots.manual, snapshots.auto: its visible snapshots. storage.paid is absent: nothing is paid for.",
          params: ClusterParams,
          response: { 200: SnapshotStatisticsResponse, ...errorResponses },
        },
      },
      async (req) => snapshotStatisticsOut(await s.statistics(req.params.project_id, req.params.cluster_id)),
    );

    app.get(
      '/v2/:project_id/snapshots/:snapshot_id/flavors',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'The node type and count of a snapshot (ListSnapshotFlavorInfo)',
          description:
            "type snapshot (default): the node type and node count the snapshot was taken of. type restore: also those it can be restored to: a restore makes a cluster of exactly the snapshot's, and a table restore (fine_grained_restore=true) goes into the snapshot's own cluster, so that cluster's when they differ. az_code is checked as a restore's availability_zone; every node type is offered in every zone.",
          params: SnapshotParams,
          querystring: SnapshotFlavorsQuery,
          response: { 200: SnapshotFlavorsResponse, ...errorResponses },
        },
      },
      async (req) => {
        if (req.query.az_code !== undefined) checkAzCode(req.query.az_code);
        const flavors = await s.flavors(req.params.project_id, req.params.snapshot_id, {
          restore: req.query.type === 'restore',
          fineGrainedRestore: req.query.fine_grained_restore === true,
        });
        return { flavors: flavors.map(snapshotFlavorOut), count: flavors.length };
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
