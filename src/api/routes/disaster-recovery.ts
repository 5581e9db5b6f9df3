/**
 * Disaster recovery between clusters (issue 19, D31): a pairing of a production cluster and a
 * standby cluster that follows it (services/disaster-recovery-service.ts). The SDK's paths and
 * bodies; what dwsbox adds is named in each description (the standby's replication in
 * `replication`, the create's `discard_standby_data`).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppDeps } from '../app.js';
import { Empty, errorResponses, Nullable, ProjectParams } from '../schemas/primitives.js';

const tags = ['disaster recovery'];
const DrParams = Type.Object({ project_id: Type.String({ maxLength: 64 }), disaster_recovery_id: Type.String({ maxLength: 64 }) });
const DrId = Type.Object({ disaster_recovery: Type.Object({ id: Type.String() }) });
const S = Nullable(Type.String());

const Replication = Nullable(
  Type.Object({
    state: Type.String(),
    receiver: S,
    paused: Type.Boolean(),
    received_lsn: S,
    replayed_lsn: S,
    production_lsn: S,
    lag_bytes: Nullable(Type.Integer()),
    lag_seconds: Nullable(Type.Number()),
    last_replayed_commit: S,
    standby_leader: Type.Integer(),
  }),
);
const Side = Type.Object({
  id: Type.String(),
  name: S,
  cluster_az: Type.String(),
  role: Type.String(),
  region: Type.String(),
  status: S,
  progress: S,
  last_success_time: S,
  obs_bucket_name: S,
  datastore_version: Type.String(),
  datastore_type: Type.String(),
  disk_capacity: S,
  disk_used: S,
});
const ListItem = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.String(),
  dr_type: Type.String(),
  primary_cluster_id: Type.String(),
  primary_cluster_name: S,
  standby_cluster_id: Type.String(),
  standby_cluster_name: S,
  primary_cluster_role: Type.String(),
  standby_cluster_role: Type.String(),
  primary_cluster_status: S,
  standby_cluster_status: S,
  primary_cluster_region: Type.String(),
  standby_cluster_region: Type.String(),
  primary_cluster_project_id: Type.String(),
  standby_cluster_project_id: Type.String(),
  last_disaster_time: S,
  start_time: S,
  create_time: Type.String(),
});
const Operation = Type.Object({ key: S, action_type: S, unrestore_keys: S, action_start_time: S, action_end_time: S });

export const disasterRecoveryRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const s = deps.disasterRecovery;
    if (!s) return;

    app.post(
      '/v2/:project_id/disaster-recoveries',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Pair a production cluster with a standby cluster (CreateDisasterRecovery)',
          description:
            "Records the pairing (status unstart); nothing runs until StartDisasterRecovery. Both clusters are the project's, distinct, of the same node type and node count, and in no other pairing; dr_type az (dwsbox runs in one region); dr_sync_period (30M, 1H, 2D) is the lag past which the pairing's alarm is raised, since replication is continuous. dwsbox extension: discard_standby_data true agrees that a standby with tables of its own has them replaced at start (refused otherwise). The Patroni engine only.",
          params: ProjectParams,
          body: Type.Object({
            disaster_recovery: Type.Object({
              name: Type.Unknown(),
              dr_type: Type.Unknown(),
              primary_cluster_id: Type.Unknown(),
              standby_cluster_id: Type.Unknown(),
              dr_sync_period: Type.Unknown(),
              discard_standby_data: Type.Optional(Type.Unknown()),
            }),
          }),
          response: { 200: DrId, ...errorResponses },
        },
      },
      async (req) => {
        const b = req.body.disaster_recovery;
        const d = await s.create(req.params.project_id, {
          name: b.name,
          drType: b.dr_type,
          primaryClusterId: b.primary_cluster_id,
          standbyClusterId: b.standby_cluster_id,
          syncPeriod: b.dr_sync_period,
          discardStandbyData: b.discard_standby_data,
        });
        return { disaster_recovery: { id: d.id } };
      },
    );

    app.get(
      '/v2/:project_id/disaster-recoveries',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'List the pairings (ListDisasterRecover)',
          params: ProjectParams,
          querystring: Type.Object({
            primary_cluster_id: Type.Optional(Type.String()),
            standby_cluster_id: Type.Optional(Type.String()),
            id: Type.Optional(Type.String()),
          }),
          response: { 200: Type.Object({ disaster_recovery: Type.Array(ListItem) }), ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const all = (await s.list(req.params.project_id)).filter(
          (d) =>
            (!q.id || d.id === q.id) &&
            (!q.primary_cluster_id || d.primaryClusterId === q.primary_cluster_id) &&
            (!q.standby_cluster_id || d.standbyClusterId === q.standby_cluster_id),
        );
        return { disaster_recovery: await Promise.all(all.map((d) => s.listItem(d))) } as never;
      },
    );

    app.get(
      '/v2/:project_id/disaster-recovery/check-name',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'Check a pairing name (CheckDisasterName)',
          description: 'An empty answer when no pairing of the project has the name and it is a valid one; else the error says why.',
          params: ProjectParams,
          querystring: Type.Object({
            dr_name: Type.String(),
            type: Type.Optional(Type.String()),
            standby_region: Type.Optional(Type.String()),
            standby_project_id: Type.Optional(Type.String()),
          }),
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.checkName(req.params.project_id, req.query.dr_name);
        return {};
      },
    );

    app.get(
      '/v2/:project_id/disaster-recovery-clusters',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'Clusters that may be a standby (ListAvailableDisasterClusters)',
          description:
            "The project's available clusters of the production cluster's node type and node count (or primary_spec_id and primary_cluster_dn_num), in no pairing.",
          params: ProjectParams,
          querystring: Type.Object({
            primary_cluster_id: Type.Optional(Type.String()),
            standby_az_code: Type.Optional(Type.String()),
            primary_spec_id: Type.Optional(Type.String()),
            primary_cluster_dn_num: Type.Optional(Type.String()),
            standby_region: Type.Optional(Type.String()),
            standby_project_id: Type.Optional(Type.String()),
            dr_type: Type.Optional(Type.String()),
            datastore_type: Type.Optional(Type.String()),
            datastore_version: Type.Optional(Type.String()),
          }),
          response: {
            200: Type.Object({ disaster_recovery_clusters: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })) }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const q = req.query;
        const cs = await s.availableClusters(req.params.project_id, {
          primaryClusterId: q.primary_cluster_id,
          specId: q.primary_spec_id,
          nodes: q.primary_cluster_dn_num,
        });
        return { disaster_recovery_clusters: cs.map((c) => ({ id: c.id, name: c.name })) };
      },
    );

    app.get(
      '/v2/:project_id/disaster-recovery/:disaster_recovery_id',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'A pairing and its sides (ShowDisasterDetail)',
          description:
            "Each side as it is now; the standby's last_success_time is when the last production commit it applied was made. dwsbox: error (what the last failed operation said) and replication (the standby leader's receiver, received and replayed positions, production's position, the lag in bytes and seconds, a pause), read from the running processes when asked.",
          params: DrParams,
          response: {
            200: Type.Object({
              disaster_recovery: Type.Object({
                id: Type.String(),
                name: Type.String(),
                dr_type: Type.String(),
                status: Type.String(),
                primary_cluster: Side,
                standby_cluster: Side,
                dr_sync_period: Type.String(),
                start_time: S,
                create_time: Type.String(),
                error: S,
                replication: Replication,
              }),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => ({ disaster_recovery: await s.detail(req.params.project_id, req.params.disaster_recovery_id) }) as never,
    );

    app.put(
      '/v2/:project_id/disaster-recovery/:disaster_recovery_id',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: "Change a pairing's sync period (UpdateDisasterInfo)",
          description: 'Only dr_sync_period changes (the lag past which the alarm is raised); any other field is refused.',
          params: DrParams,
          body: Type.Object({ disaster_recovery: Type.Record(Type.String(), Type.Unknown()) }),
          response: { 200: DrId, ...errorResponses },
        },
      },
      async (req) => {
        const d = await s.update(req.params.project_id, req.params.disaster_recovery_id, req.body.disaster_recovery);
        return { disaster_recovery: { id: d.id } };
      },
    );

    app.delete(
      '/v2/:project_id/disaster-recovery/:disaster_recovery_id',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'End a pairing (DeleteDisasterRecovery)',
          description:
            "A task on the standby (DR_DELETING): a started standby is promoted into an independent cluster with the data it replayed, production's slot for it dropped; the pairing is gone when it ends (status deleting until then). Refused while another operation of the pairing runs.",
          params: DrParams,
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.delete(req.params.project_id, req.params.disaster_recovery_id);
        return {};
      },
    );

    app.get(
      '/v1/:project_id/disaster-recovery/:disaster_recovery_id/show-progress',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'The replication of a pairing now (ShowDisasterProgress)',
          description:
            "latest_barrier_time: when the last production commit the standby applied was made; recovery_point_object: the RPO at this moment in seconds (0 when the standby replayed production's current position, else the time since that commit); standby_cluster: the pairing's last operation. recovery_time_object and last_recovery_spend: the last switchover's or failover's length in seconds, measured (null before any). dwsbox: replication, as in ShowDisasterDetail.",
          params: DrParams,
          response: {
            200: Type.Object({
              disaster_recovery_progress: Type.Object({
                primary_cluster: Operation,
                standby_cluster: Operation,
                latest_barrier_time: S,
                last_recovery_spend: Nullable(Type.Number()),
                recovery_point_object: Nullable(Type.Number()),
                recovery_time_object: Nullable(Type.Number()),
                replication: Replication,
              }),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => ({ disaster_recovery_progress: await s.progress(req.params.project_id, req.params.disaster_recovery_id) }) as never,
    );

    for (const [verb, summary, description] of [
      [
        'start',
        'Start or resume a pairing (StartDisasterRecovery)',
        "A task on the standby (DR_STARTING). From unstart (or start_failed): the standby becomes a Patroni standby cluster of production, its data replaced by a copy of production's (a base backup from production's read-write endpoint), then streamed continuously (production's repository the fallback); running when its standby leader streams and its members follow it. From stopped: replay resumes and catches up. Refused when the standby holds tables of its own and the create did not agree to discard them, and while either cluster runs another task (DWS.0011).",
      ],
      [
        'switchover',
        'Swap the roles of a pairing (SwitchoverDisasterRecovery)',
        "A planned switchover, a task on the standby (DR_SWITCHOVER; status switchovering, then running with the roles swapped): production demoted into a standby cluster (its leader restarted in recovery: from then on it takes no writes, and the standby receives all it wrote), the standby caught up to production's last position, promoted (its stanza takes the copied database, archiving proved), and the old production following it through a slot on the new one. No acknowledged write is lost. A failure before the promotion gives production its writes back (status abnormal with why). Refused unless the pairing runs, and while either side runs another task (DWS.0011).",
      ],
      [
        'failover',
        'Promote the standby with production lost (SwitchFailoverDisaster)',
        "An unplanned failover, a task on the standby (DR_FAILOVER; status failovering): the standby promoted at once with what it had received (what production committed after the standby's last replayed position is lost: the RPO ShowDisasterProgress showed). Refused while production's primary runs (switch over instead). Then the pairing is abnormal, the roles swapped: start the old production and RestoreDisaster rebuilds it as the new standby, or delete the pairing.",
      ],
      [
        'recovery',
        'Rebuild the old production as the standby (RestoreDisaster)',
        "A task on the following side (DR_RECOVERING; status recovering, then running): after a failover, the old production's data is replaced by a copy of the new production (what it wrote on its own is discarded) and it streams from it, so the pairing runs again and a switchover can switch back. Only for an abnormal pairing; the old production's members must run.",
      ],
      [
        'pause',
        'Pause a pairing (PauseDisasterRecovery)',
        "A task on the standby (DR_PAUSING): replay paused on every member of the standby (streaming goes on, so no WAL is lost and a resume catches up); stopped when done. While paused, the standby cluster runs in Patroni's maintenance mode (Patroni 3.0.2 resumes a paused replay otherwise).",
      ],
    ] as const) {
      app.post(
        `/v2/:project_id/disaster-recovery/:disaster_recovery_id/${verb}`,
        {
          config: { auth: 'mutate' },
          schema: { tags, summary, description, params: DrParams, response: { 200: DrId, ...errorResponses } },
        },
        async (req) => {
          const id = req.params.disaster_recovery_id;
          const p = req.params.project_id;
          const run = { start: s.start, pause: s.pause, switchover: s.switchover, failover: s.failover, recovery: s.recover }[verb];
          await run.call(s, p, id);
          return { disaster_recovery: { id } };
        },
      );
    }
  };
