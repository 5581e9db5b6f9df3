/**
 * Disaster recovery (issue 19, D31), tasks on the standby cluster of a pairing:
 * - dr.start (DR_STARTING): the standby cluster becomes a standby cluster of the production one
 *   (its data replaced by a copy of production's, then streamed), or, from a pause, its replay resumed;
 * - dr.pause (DR_PAUSING): its replay paused (streaming goes on, so no WAL is lost and a resume catches up);
 * - dr.delete (DR_DELETING): the pairing ended: a started standby promoted into an independent
 *   cluster with its data, the production side's slot dropped;
 * - dr.switchover (DR_SWITCHOVER): the roles swapped with no acknowledged write lost: production
 *   demoted into a standby cluster (it takes no writes from then on), the standby caught up to
 *   production's last position, promoted, and the old production following it.
 * The pairing's own status (the DWS value) is written by each kind's outcome; the clusters'
 * records stay as they were (their members are the health monitor's to follow).
 */
import { drSides, type DrStatus } from '../../domain/disaster-recovery.js';
import { compareLsn, lsnBytes } from '../../domain/lsn.js';
import { pollUntil, PollTimeout } from '../../domain/poll.js';
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
  Required<
    Pick<
      DataPlane,
      | 'followCluster'
      | 'standbyState'
      | 'setReplayPaused'
      | 'promoteStandbyCluster'
      | 'dropFollowerSlot'
      | 'demoteToStandby'
      | 'keepFollowerSlot'
    >
  >;

function drPlane(dp: DataPlane): DrDataPlane {
  if (
    !dp.followCluster ||
    !dp.standbyState ||
    !dp.setReplayPaused ||
    !dp.promoteStandbyCluster ||
    !dp.dropFollowerSlot ||
    !dp.demoteToStandby ||
    !dp.keepFollowerSlot
  )
    throw new AppError('NOT_SUPPORTED', {
      args: ['Disaster recovery', `the ${dp.engineName} engine has no standby clusters (the patroni engine has)`],
    });
  return dp as DrDataPlane;
}

/** The production cluster of the pairing and its primary's record. */
async function production(ctx: Ctx): Promise<{ source: ClusterRecord; primary: NodeRecord }> {
  const source = await ctx.store.getClusterById(ctx.params.primaryClusterId);
  if (!source || source.deletedAt) throw new AppError('CLUSTER_NOT_FOUND', { args: [ctx.params.primaryClusterId] });
  return { source, primary: await primaryRecord(ctx, source.id) };
}

/** The primary's record of a cluster (a standby cluster's: its standby leader, as the health monitor records it). */
async function primaryRecord(ctx: Ctx, clusterId: string): Promise<NodeRecord> {
  return primaryOf((await ctx.store.listNodes(clusterId)).filter((n) => n.membership === 'active'));
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
    if (!error && ok === 'running') await adoptLeadingAdmin(o);
  };

/**
 * The side that follows holds the leading side's roles now (its data is a copy): an
 * administrator of the same name has the leading side's password there, so its record takes
 * that password (kept encrypted as it is), and a promotion later keeps it (`ensureOwnAdmin`).
 * An administrator of another name is not in the copy: the promotion makes it.
 */
async function adoptLeadingAdmin(o: OutcomeContext<DrParams, NoState>): Promise<void> {
  const d = await o.tx.getDisasterRecovery(o.task.projectId, o.params.drId);
  if (!d) return;
  const { leading, following } = drSides(d);
  const [lead, follow] = await Promise.all([o.tx.getClusterById(leading), o.tx.getClusterById(following)]);
  if (lead && follow && lead.userName === follow.userName && lead.adminPasswordEnc !== follow.adminPasswordEnc)
    await o.tx.updateCluster(follow.id, { adminPasswordEnc: lead.adminPasswordEnc, updatedAt: o.now });
}

/** A promoted side's own administrator, as its record names it, made or kept on its data (the copy has the other side's roles). */
async function ensureOwnAdmin(ctx: Ctx, cluster: ClusterRecord, primary: NodeRecord): Promise<void> {
  await ctx.dataPlane.ensureAdmin(cluster, primary, cluster.userName, ctx.secrets.decrypt(cluster.adminPasswordEnc));
}

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
      await ensureOwnAdmin(ctx, standby, primary);
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

/** `pollUntil` for a step (aborted with the task); past `timeoutMs` an engine failure saying what was waited for. */
async function until<T>(ctx: Ctx, check: () => Promise<T | null | false>, timeoutMs: number, what: string): Promise<T> {
  return pollUntil(check, { timeoutMs, what, signal: ctx.signal }).catch((e: unknown) => {
    throw e instanceof PollTimeout ? new AppError('ENGINE_NODE_FAILED', { args: ['the pairing', e.message] }) : e;
  });
}

export const drSwitchover: TaskDefinition<DrParams, NoState, never> = {
  kind: 'dr.switchover',
  maxAttempts: 1,
  plan: () => [
    { id: 'DEMOTE_PRODUCTION', item: 'DR_SWITCHOVER' },
    { id: 'STANDBY_CATCH_UP', item: 'DR_SWITCHOVER' },
    { id: 'PROMOTE_STANDBY', item: 'DR_SWITCHOVER', weight: 2 },
    { id: 'FOLLOW_NEW_PRIMARY', item: 'DR_SWITCHOVER' },
  ],
  steps: {
    DEMOTE_PRODUCTION: async (ctx) => {
      const dp = drPlane(ctx.dataPlane);
      const { source } = await production(ctx);
      const standby = await ctx.cluster();
      await dp.demoteToStandby(source, standby, await primaryRecord(ctx, standby.id), { slot: ctx.params.slot, signal: ctx.signal });
      ctx.progress({ source: 'Patroni', percent: 100, info: { demoted: source.id } });
    },
    STANDBY_CATCH_UP: async (ctx) => {
      const dp = drPlane(ctx.dataPlane);
      const { source } = await production(ctx);
      const standby = await ctx.cluster();
      // Production's last position: where its leader, restarted in recovery, stands (its shutdown checkpoint; every
      // member received all of it before the clean stop). Its members race for the leader key after the stop, so a
      // moment may pass with none leading.
      const end = await until(
        ctx,
        async () => (await dp.standbyState(source))?.replayedLsn ?? null,
        60_000,
        "the production cluster's leader to say where its WAL ends",
      );
      let seen: string | null = null;
      await until(
        ctx,
        async () => {
          seen = (await dp.standbyState(standby))?.replayedLsn ?? null;
          const behind = seen ? Number(lsnBytes(end) - lsnBytes(seen)) : null;
          ctx.progress({
            source: 'the standby leader (pg_last_wal_replay_lsn)',
            percent: behind !== null && behind <= 0 ? 100 : 50,
            info: { productionLsn: end, replayedLsn: seen, behindBytes: behind },
          });
          return seen !== null && compareLsn(seen, end) >= 0;
        },
        300_000,
        `the standby to replay production's last position ${end}`,
      );
    },
    PROMOTE_STANDBY: async (ctx) => {
      const dp = drPlane(ctx.dataPlane);
      const standby = await ctx.cluster();
      const primary = await primaryRecord(ctx, standby.id);
      await dp.promoteStandbyCluster(standby, primary, { signal: ctx.signal });
      await ensureOwnAdmin(ctx, standby, primary);
      ctx.progress({ source: 'Patroni', percent: 100, info: { promoted: standby.id } });
    },
    FOLLOW_NEW_PRIMARY: async (ctx) => {
      const dp = drPlane(ctx.dataPlane);
      const { source } = await production(ctx);
      const standby = await ctx.cluster();
      await dp.keepFollowerSlot(standby, await primaryRecord(ctx, standby.id), ctx.params.slot, ctx.signal);
      await until(
        ctx,
        async () => (await dp.standbyState(source))?.receiver === 'streaming',
        120_000,
        'the old production cluster to stream from the new one',
      );
      ctx.progress({ source: 'the old production leader (pg_stat_wal_receiver)', percent: 100, info: { following: standby.id } });
    },
    // The undo: production demoted while the standby was not promoted gets its writes back, and the standby follows it again.
    REPROMOTE_PRODUCTION: async (ctx) => {
      const dp = drPlane(ctx.dataPlane);
      const { source, primary } = await production(ctx);
      const standby = await ctx.cluster();
      if (!(await dp.standbyState(source)) || !(await dp.standbyState(standby))) return;
      await dp.promoteStandbyCluster(source, primary, { signal: ctx.signal });
      await dp.keepFollowerSlot(source, primary, ctx.params.slot, ctx.signal);
      ctx.progress({ source: 'Patroni', percent: 100, info: { repromoted: source.id } });
    },
  },
  failure: {
    mode: 'cleanup',
    steps: () => [{ id: 'REPROMOTE_PRODUCTION', item: 'ROLLBACK' }],
  },
  extrasOnSuccess: async (o) => {
    const d = await o.tx.getDisasterRecovery(o.task.projectId, o.params.drId);
    await o.tx.updateDisasterRecovery(o.params.drId, {
      status: 'running',
      error: null,
      rolesSwapped: !d?.rolesSwapped,
      lastSwitchAt: o.now,
      lastSwitchMs: o.now - (o.task.startedAt ?? o.now),
      updatedAt: o.now,
    });
  },
  extrasOnFailure: async (o, e) => {
    await o.tx.updateDisasterRecovery(o.params.drId, {
      status: 'abnormal',
      error: `the switchover failed at ${e.step ?? 'its start'}: ${e.message}. Its undo gave production its writes back when the standby had not been promoted; see the pairing's detail for which side leads now`,
      updatedAt: o.now,
    });
  },
};

/**
 * dr.failover (DR_FAILOVER, SwitchFailoverDisaster): production lost, the standby promoted at
 * once with what it received. The old production follows nothing then: the pairing is
 * `abnormal` until RestoreDisaster rebuilds it as the new production's standby (or the pairing
 * is deleted); its error says so.
 */
export const drFailover: TaskDefinition<DrParams, NoState, never> = {
  kind: 'dr.failover',
  maxAttempts: 2,
  plan: () => [
    { id: 'CHECK_PRODUCTION_LOST', item: 'DR_FAILOVER', weight: 0.2 },
    { id: 'PROMOTE_STANDBY', item: 'DR_FAILOVER', weight: 2 },
  ],
  steps: {
    CHECK_PRODUCTION_LOST: async (ctx) => {
      const source = await ctx.store.getClusterById(ctx.params.primaryClusterId);
      const roles = source && !source.deletedAt ? await ctx.dataPlane.memberRoles?.(source).catch(() => null) : null;
      const leading = roles?.find((r) => r.role === 'primary' && r.running);
      if (leading)
        throw new AppError('DR_STATE_CONFLICT', {
          args: [
            ctx.params.drId,
            'fail over',
            `the production cluster's primary (node ${leading.ordinal}) runs again; switch over instead`,
          ],
        });
      ctx.progress({ source: 'Patroni', percent: 100, info: { productionAnswers: roles !== null && roles !== undefined } });
    },
    PROMOTE_STANDBY: drDelete.steps['PROMOTE_STANDBY']!,
  },
  extrasOnSuccess: async (o) => {
    const d = await o.tx.getDisasterRecovery(o.task.projectId, o.params.drId);
    await o.tx.updateDisasterRecovery(o.params.drId, {
      status: 'abnormal',
      error:
        'failed over: the standby side leads now with what it had received; the old production cluster follows nothing (start it, then RestoreDisaster rebuilds it as the new standby, discarding what it wrote after the failover; or delete the pairing)',
      rolesSwapped: !d?.rolesSwapped,
      lastSwitchAt: o.now,
      lastSwitchMs: o.now - (o.task.startedAt ?? o.now),
      updatedAt: o.now,
    });
  },
  extrasOnFailure: (o, e) => outcome('running', 'abnormal')(o, e),
};

/**
 * dr.recover (DR_RECOVERING, RestoreDisaster): the side that follows (after a failover, the old
 * production) rebuilt as a standby cluster of the side that leads: its data replaced by a copy
 * (what it wrote after the failover is discarded, as the API says), then streamed. The pairing
 * runs again, and a switchover can switch back.
 */
export const drRecover: TaskDefinition<DrParams, NoState, never> = {
  kind: 'dr.recover',
  maxAttempts: 2,
  plan: () => [
    { id: 'FOLLOW_PRODUCTION', item: 'DR_RECOVER', weight: 5, runsTools: true },
    { id: 'CHECK_STREAMING', item: 'DR_RECOVER', weight: 0.5 },
  ],
  steps: { FOLLOW_PRODUCTION: drStart.steps['FOLLOW_PRODUCTION']!, CHECK_STREAMING: drStart.steps['CHECK_STREAMING']! },
  extrasOnSuccess: (o) => outcome('running', 'abnormal')(o),
  extrasOnFailure: (o, e) => outcome('running', 'abnormal')(o, e),
};
