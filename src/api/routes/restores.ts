/** Restore routes (dws-api.md §4.6, §4.7): into a new cluster, and table-level restores. */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '../../errors/app-error.js';
import type { RestoreClusterInput, TableRestoreInput } from '../../services/restore-service.js';
import type { AppDeps } from '../app.js';
import { AVAILABILITY_ZONES } from '../schemas/cluster.js';
import { ClusterParams, errorResponses, JobId, SnapshotParams } from '../schemas/primitives.js';
import {
  CheckTableRestoreResponse,
  InPlaceRestoreBody,
  InPlaceRestoreResponse,
  RestoreClusterBody,
  RestoreClusterResponse,
  TableRestoreBody,
} from '../schemas/restore.js';

function checkAz(az: string | null | undefined): string | null {
  if (!az) return null;
  for (const part of az.split(',')) {
    if (!AVAILABILITY_ZONES.includes(part))
      throw new AppError('INVALID_AVAILABILITY_ZONE', { args: [part.slice(0, 64), `available zones: ${AVAILABILITY_ZONES.join(', ')}`] });
  }
  return az;
}

/** RestoreCluster's body as the service takes it (the restore point's snapshot, when named, must be `snapshotId`). */
function restoreInput(b: RestoreClusterBody['restore'], snapshotId: string | null): RestoreClusterInput {
  const p = b.restore_point;
  if (p?.back_ref && snapshotId !== null && p.back_ref !== snapshotId)
    throw new AppError('VALIDATION', {
      args: [`restore_point.back_ref ${p.back_ref.slice(0, 64)} is not the snapshot of the path, ${snapshotId}`],
    });
  return {
    name: b.name,
    subnetId: b.subnet_id,
    securityGroupId: b.security_group_id,
    vpcId: b.vpc_id,
    availabilityZone: checkAz(b.availability_zone),
    port: b.port,
    enterpriseProjectId: b.enterprise_project_id,
    ipv6Enable: b.ipv6_enable,
    numberOfCn: b.number_of_cn,
    publicIp: b.public_ip ? { public_bind_type: b.public_ip.public_bind_type ?? 'not_use', eip_id: b.public_ip.eip_id ?? '' } : null,
    restoreTime: p?.restore_time ?? null,
    restoreClusterId: p?.cluster_id ?? null,
  };
}

const tableInput = (b: TableRestoreBody): TableRestoreInput => ({
  caseSensitive: b.case_sensitive,
  database: b.database,
  restoreTables: b.restore_table_list.map((t) => ({ schema: t.schema_name, name: t.table_name })),
  targetTables: b.target_table_list.map((t) => ({ schema: t.schema_name, name: t.table_name })),
});

export const restoreRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const r = deps.restores;
    const tags = ['snapshots'];

    app.post(
      '/v1.0/:project_id/snapshots/:snapshot_id/actions',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Restore a snapshot into a new cluster (RestoreCluster)',
          description:
            "Fields left out take the source cluster's values, as the snapshot recorded them; the node type and count are the snapshot's. The new cluster shows CREATING with task_status RESTORING until it is AVAILABLE.",
          params: SnapshotParams,
          body: RestoreClusterBody,
          response: { 200: RestoreClusterResponse, ...errorResponses },
        },
      },
      async (req) => {
        const { cluster, task } = await r.restoreCluster(
          req.params.project_id,
          req.params.snapshot_id,
          restoreInput(req.body.restore, req.params.snapshot_id),
        );
        return { cluster: { id: cluster.id }, job_id: task.id };
      },
    );

    app.post(
      '/v1.0/:project_id/clusters/:cluster_id/point-in-time-restore',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Restore a cluster to a point in time into a new cluster (dwsbox)',
          description:
            "RestoreCluster's body with `restore_point.restore_time` (required here), a time in the cluster's `restore_window`: the newest cluster-level snapshot that finished by then is restored and the archived WAL replayed up to the time. The new cluster shows CREATING with task_status RESTORING until it is AVAILABLE.",
          params: ClusterParams,
          body: RestoreClusterBody,
          response: { 200: RestoreClusterResponse, ...errorResponses },
        },
      },
      async (req) => {
        const i = restoreInput(req.body.restore, null);
        if (i.restoreTime === null || i.restoreTime === undefined)
          throw new AppError('VALIDATION', {
            args: ['restore.restore_point.restore_time is required to restore a cluster to a point in time'],
          });
        if (i.restoreClusterId && i.restoreClusterId !== req.params.cluster_id)
          throw new AppError('VALIDATION', {
            args: [`restore_point.cluster_id ${i.restoreClusterId.slice(0, 64)} is not the cluster of the path`],
          });
        const { cluster, task } = await r.restoreClusterToTime(req.params.project_id, req.params.cluster_id, {
          ...i,
          restoreTime: i.restoreTime,
        });
        return { cluster: { id: cluster.id }, job_id: task.id };
      },
    );

    app.post(
      '/v1.0/:project_id/clusters/:cluster_id/in-place-restore',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Restore a snapshot or a point in time into the cluster it came from (dwsbox)',
          description:
            "Replaces the cluster's data with a cluster-level snapshot of its own (`snapshot_id`), or with its data as it was at `restore_time` (within `restore_window`; without `snapshot_id`, from the newest snapshot finished by then). The cluster is UNAVAILABLE with task_status RESTORING while the task runs: it stops the members, takes a safety snapshot of the stopped cluster, restores the primary over its own data (`pgbackrest restore --delta`), rebuilds the standbys from it; the endpoints keep their addresses. A failure restores the safety snapshot (the task ends ROLLBACK_SUCCESS, the cluster as it was).",
          params: ClusterParams,
          body: InPlaceRestoreBody,
          response: { 200: InPlaceRestoreResponse, ...errorResponses },
        },
      },
      async (req) => {
        const b = req.body.restore;
        const { task, snapshotId, safetySnapshotId } = await r.restoreInPlace(req.params.project_id, req.params.cluster_id, {
          snapshotId: b.snapshot_id ?? null,
          restoreTime: b.restore_time ?? null,
        });
        return { job_id: task.id, snapshot_id: snapshotId, safety_snapshot_id: safetySnapshotId };
      },
    );

    app.post(
      '/v1/:project_id/snapshots/:snapshot_id/table-restore-check',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'Check the table names of a table restore (CheckTableRestore)',
          description:
            'Lists the source tables the snapshot does not have and the target tables that already exist in the cluster; changes nothing.',
          params: SnapshotParams,
          body: TableRestoreBody,
          response: { 200: CheckTableRestoreResponse, ...errorResponses },
        },
      },
      async (req) => {
        const c = await r.checkTables(req.params.project_id, req.params.snapshot_id, tableInput(req.body));
        return {
          check_table_name_result: {
            database: c.database,
            restore_table_list: c.missingSources.length ? c.missingSources : null,
            target_table_list: c.existingTargets.length ? c.existingTargets : null,
          },
        };
      },
    );

    app.post(
      '/v1/:project_id/snapshots/:snapshot_id/table-restore',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Restore tables from a snapshot into its cluster (RestoreTable)',
          description:
            'Each source table comes back under its target name with its columns, defaults, keys, constraints, indexes, owned sequences and foreign keys to existing tables (D15). Poll the job with GET /v1.0/{project_id}/job/{job_id}.',
          params: SnapshotParams,
          body: TableRestoreBody,
          response: { 200: JobId, ...errorResponses },
        },
      },
      async (req) => {
        const task = await r.restoreTables(req.params.project_id, req.params.snapshot_id, tableInput(req.body));
        return { job_id: task.id };
      },
    );
  };
