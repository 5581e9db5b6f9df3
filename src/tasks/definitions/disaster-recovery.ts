/**
 * Disaster recovery (issue 19, D31), tasks on the standby cluster of a pairing:
 * - dr.start (DR_STARTING): the standby cluster becomes a standby cluster of the production one
 *   (its data replaced by a copy of production's, then streamed), or, from a pause, its replay resumed;
 * - dr.pause (DR_PAUSING): its replay paused (streaming goes on, so no WAL is lost and a resume catches up);
 * - dr.delete (DR_DELETING): the pairing ended: a started standby promoted into an independent
 *   cluster with its data, the production side's slot dropped.
 * The pairing's own status (the DWS value) is written by each kind's outcome; the clusters'
 * records stay as they were (their members are the health monitor's to follow).
 */
import type { DrStatus } from '../../domain/disaster-recovery.js';
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { DataPlane } from '../../dataplane/data-plane.js';
import type { NoState, OutcomeContext, StepContext, TaskDefinition } from '../definition.js';
import { primaryOf } from './member-steps.js';

export interface DrParams {
  /** the standby cluster (the task's) */
  clusterId: string;
  drId: string;
  primaryClusterId: string;
  slot: string;
  /** dr.start: resume a paused pairing instead of copying production; dr.delete: the standby follows production (promote it) */
  resume?: boolean;
  started?: boolean;
}

type Ctx = StepContext<DrParams, NoState, never>;
type DrDataPlane = DataPlane &
  Required<Pick<DataPlane, 'followCluster' | 'standbyState' | 'setReplayPaused' | 'promoteStandbyCluster' | 'dropFollowerSlot'>>;

function drPlane(dp: DataPlane): DrDataPlane {
  if (!dp.followCluster || !dp.standbyState || !dp.setReplayPaused || !dp.promoteStandbyCluster || !dp.dropFollowerSlot)
    throw new AppError('NOT_SUPPORTED', {
      args: ['Disaster recovery', `the ${dp.engineName} engine has no standby clusters (the patroni engine has)`],
    });
  return dp as DrDataPlane;
}

/** The production cluster of the pairing and its primary's record. */
async function production(ctx: Ctx): Promise<{ source: ClusterRecord; primary: NodeRecord }> {
  const source = await ctx.store.getClusterById(ctx.params.primaryClusterId);
  if (!source || source.deletedAt) throw new AppError('CLUSTER_NOT_FOUND', { args: [ctx.params.primaryClusterId] });
  return { source, primary: primaryOf((await ctx.store.listNodes(source.id)).filter((n) => n.membership === 'active')) };
}

/** The standby's replication as its standby leader reports it, in a step's progress figures. */
async function showStreaming(ctx: Ctx, dp: DrDataPlane, percent: number): Promise<void> {
  const st = await dp.standbyState(await ctx.cluster());
  if (!st)
    throw new AppError('ENGINE_NODE_FAILED', { args: ['the standby cluster', 'it follows no production cluster, or no member leads it'] });
  ctx.progress({ source: 'the standby leader (pg_stat_wal_receiver)', percent, info: { ...st } });
}

/** The pairing's status when the task ends: `ok` after a success (`deleted`: the pairing gone), `failed` with what went wrong. */
const outcome =
  (ok: DrStatus | 'deleted', failed: DrStatus) =>
  async (o: OutcomeContext<DrParams, NoState>, error?: { message: string }): Promise<void> => {
    // When it first streamed: kept through pauses and resumes.
    const first = !error && ok === 'running' && !(await o.tx.getDisasterRecovery(o.task.projectId, o.params.drId))?.startedAt;
    await o.tx.updateDisasterRecovery(o.params.drId, {
      ...(error ? { status: failed, error: error.message } : ok === 'deleted' ? { deletedAt: o.now } : { status: ok, error: null }),
      ...(first ? { startedAt: o.now } : {}),
      updatedAt: o.now,
    });
  };

export const drStart: TaskDefinition<DrParams, NoState, never> = {
  kind: 'dr.start',
  maxAttempts: 2,
  plan: (p) =>
    p.resume
      ? [{ id: 'RESUME_REPLAY', item: 'DR_START' }]
      : [
          { id: 'FOLLOW_PRODUCTION', item: 'DR_START', weight: 5, runsTools: true },
          { id: 'CHECK_STREAMING', item: 'DR_START', weight: 0.5 },
        ],
  steps: {
    FOLLOW_PRODUCTION: async (ctx) => {
      const dp = drPlane(ctx.dataPlane);
      const { source, primary } = await production(ctx);
      await dp.followCluster(await ctx.cluster(), source, primary, {
        slot: ctx.params.slot,
        signal: ctx.signal,
        onProgress: (p) => ctx.progress(p),
      });
    },
    CHECK_STREAMING: async (ctx) => showStreaming(ctx, drPlane(ctx.dataPlane), 100),
    RESUME_REPLAY: async (ctx) => {
      const dp = drPlane(ctx.dataPlane);
      const changed = await dp.setReplayPaused(await ctx.cluster(), false);
      ctx.progress({ source: 'dwsbox', percent: 50, info: { membersResumed: changed } });
      await showStreaming(ctx, dp, 100);
    },
  },
  extrasOnSuccess: (o) => outcome('running', 'start_failed')(o),
  extrasOnFailure: (o, e) => outcome('running', 'start_failed')(o, e),
};

export const drPause: TaskDefinition<DrParams, NoState, never> = {
  kind: 'dr.pause',
  maxAttempts: 2,
  plan: () => [{ id: 'PAUSE_REPLAY', item: 'DR_PAUSE' }],
  steps: {
    PAUSE_REPLAY: async (ctx) => {
      const dp = drPlane(ctx.dataPlane);
      const changed = await dp.setReplayPaused(await ctx.cluster(), true);
      const st = await dp.standbyState(await ctx.cluster());
      if (!st?.paused) throw new AppError('ENGINE_NODE_FAILED', { args: ['the standby leader', 'its replay did not pause'] });
      ctx.progress({ source: 'the standby leader (pg_get_wal_replay_pause_state)', percent: 100, info: { membersPaused: changed, ...st } });
    },
  },
  extrasOnSuccess: (o) => outcome('stopped', 'stop_failed')(o),
  extrasOnFailure: (o, e) => outcome('stopped', 'stop_failed')(o, e),
};

export const drDelete: TaskDefinition<DrParams, NoState, never> = {
  kind: 'dr.delete',
  maxAttempts: 2,
  plan: (p) => [...(p.started ? [{ id: 'PROMOTE_STANDBY', item: 'DR_DELETE', weight: 3 }] : []), { id: 'DROP_SLOT', item: 'DR_DELETE' }],
  steps: {
    PROMOTE_STANDBY: async (ctx) => {
      const dp = drPlane(ctx.dataPlane);
      const standby = await ctx.cluster();
      const primary = primaryOf((await ctx.nodes()).filter((n) => n.membership === 'active'));
      await dp.promoteStandbyCluster(standby, primary, { signal: ctx.signal });
      ctx.progress({ source: 'Patroni', percent: 100, info: { promoted: true } });
    },
    DROP_SLOT: async (ctx) => {
      const dp = drPlane(ctx.dataPlane);
      const source = await ctx.store.getClusterById(ctx.params.primaryClusterId);
      // A production cluster deleted meanwhile took its slot with it.
      if (source && !source.deletedAt) await dp.dropFollowerSlot(source, ctx.params.slot);
      ctx.progress({ source: 'Patroni', percent: 100, info: { slot: ctx.params.slot } });
    },
  },
  extrasOnSuccess: (o) => outcome('deleted', 'abnormal')(o),
  extrasOnFailure: (o, e) => outcome('deleted', 'abnormal')(o, e),
};
