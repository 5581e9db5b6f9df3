/**
 * cluster.restore_in_place (RESTORING, actionType "RestoreInPlace"; issue 20): a snapshot, or a
 * point in time, restored into the cluster it came from. The cluster is UNAVAILABLE while it
 * runs (D8). Its members are stopped cleanly, then the task takes its own safety snapshot: an
 * offline backup of the stopped primary (`--no-online`, consistent as it is, so nothing
 * written before the stop is missing from it), recorded as a snapshot of the cluster. The
 * primary's data directory is restored over itself (`pgbackrest restore --delta`: only files
 * that differ are written) from the cluster's own stanza, replays to the snapshot's consistent
 * point (or the time), is promoted on a new timeline and archives into the same stanza; the
 * standbys are copied from it; the endpoints keep their addresses (the members' are the
 * cluster's own). A failure rolls back: the safety snapshot is restored the same way, so the
 * cluster holds what it held when it was stopped.
 */
import type { NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import { settleAll } from '../../errors/settle.js';
import { findAnnotated } from '../../dataplane/data-plane.js';
import type { NoState, StepContext, TaskDefinition } from '../definition.js';
import { verifyCluster } from './cluster-create.js';
import { catchUpWithLeader, followLeader, primaryOf, replSecrets, startAndRecord } from './member-steps.js';
import {
  clusterRestore,
  enableArchivingAfterRestore,
  recoverRestoredPrimary,
  restoreSnapshotInto,
  snapshotOf,
  type ClusterRestoreParams,
} from './cluster-restore.js';
import { backupKeyOf, setFields } from './snapshot-chain.js';

export interface ClusterRestoreInPlaceParams extends ClusterRestoreParams {
  /** the safety snapshot this task takes first (its record made, CREATING, when the restore was accepted) */
  safetySnapshotId: string;
}

type Ctx = StepContext<ClusterRestoreInPlaceParams, NoState, never>;

/** The annotation of the safety snapshot's set (D2: a resumed step finds its own backup by it). */
const safetyAnnotation = (ctx: Ctx): Record<string, string> => ({ snapshot_id: ctx.params.safetySnapshotId });

const activeNodes = async (ctx: Ctx): Promise<NodeRecord[]> => (await ctx.nodes()).filter((n) => n.membership === 'active');

/**
 * While members run, the store's roles follow the member that leads now before a stop: the
 * leader is stopped last and backed up. A failover the health monitor had not recorded yet would
 * otherwise stop the real leader first, and a replica could take the lead and archive a timeline
 * of its own into the stanza (review of 2026-12-08, finding 3). When the failover manager runs no
 * member (all stopped; a restored copy runs on its own before Patroni has it), nothing leads.
 */
async function followRunningLeader(ctx: Ctx): Promise<void> {
  const roles = await ctx.dataPlane.memberRoles?.(await ctx.cluster()).catch(() => null);
  if (roles?.some((r) => r.running)) await followLeader(ctx);
}

/**
 * The standbys copied from the restored primary, at once (D5): each one's old data removed (it
 * is of the timeline the cluster left), then the engine's copy of the primary, a start and the
 * catch-up. A standby that runs already is one this step rebuilt before a crash: caught up only.
 */
async function rebuildStandbys(ctx: Ctx): Promise<void> {
  const cluster = await ctx.cluster();
  const nodes = await activeNodes(ctx);
  const primary = primaryOf(nodes);
  const standbys = nodes.filter((n) => n.ordinal !== primary.ordinal);
  const secrets = replSecrets(ctx, cluster.replPasswordEnc);
  const each = new Map<number, { phase: string; percent: number; bytesDone: number }>(
    standbys.map((n) => [n.ordinal, { phase: 'waiting', percent: 0, bytesDone: 0 }]),
  );
  const report = (ordinal: number, source: string, p: Partial<{ phase: string; percent: number; bytesDone: number }>): void => {
    Object.assign(each.get(ordinal)!, p);
    const all = [...each.values()];
    ctx.progress({
      source,
      bytesDone: all.reduce((s, x) => s + x.bytesDone, 0),
      percent: all.reduce((s, x) => s + x.percent, 0) / Math.max(1, all.length),
      info: { standbys: Object.fromEntries(each) },
    });
  };
  await settleAll(
    standbys.map(async (node) => {
      if (!ctx.dataPlane.memberStatus(cluster, node)) {
        report(node.ordinal, 'dwsbox', { phase: 'remove old data', percent: 0 });
        await ctx.dataPlane.stopMember(cluster, node, 'immediate');
        await ctx.dataPlane.removeMemberFiles(cluster, node.ordinal);
        await ctx.dataPlane.buildReplica(cluster, primary, node, secrets, {
          signal: ctx.signal,
          onProgress: (s) =>
            report(node.ordinal, s.source, { phase: 'copy', percent: (s.percent ?? 0) * 0.9, bytesDone: s.bytesDone ?? 0 }),
        });
        await startAndRecord(ctx, node);
      }
      await catchUpWithLeader(ctx, node, {
        onProgress: (s) => report(node.ordinal, s.source, { phase: 'catch-up', percent: 90 + (s.percent ?? 0) / 10 }),
      });
      report(node.ordinal, 'dwsbox', { phase: 'streaming', percent: 100 });
    }),
  );
}

/** The safety snapshot's record, once its set is taken (`restore` reads it back for the rollback). */
async function safetySnapshot(ctx: Ctx) {
  const s = await ctx.store.getSnapshotById(ctx.params.safetySnapshotId);
  if (!s?.backupLabel)
    throw new AppError('SNAPSHOT_NOT_RESTORABLE', {
      args: [ctx.params.safetySnapshotId, 'the safety snapshot of this restore was not taken'],
    });
  return s as typeof s & { backupLabel: string };
}

export const clusterRestoreInPlace: TaskDefinition<ClusterRestoreInPlaceParams, NoState, never> = {
  kind: 'cluster.restore_in_place',
  maxAttempts: 3,
  plan(p) {
    return [
      // To a point in time: the cluster's commits up to now archived first (its WAL switched), while it runs.
      ...(p.restoreTime === undefined ? [] : [{ id: 'ARCHIVE_SOURCE_WAL', item: 'PREPARE_CLUSTER', weight: 0.2 }]),
      { id: 'STOP_NODES', item: 'PREPARE_CLUSTER', weight: 0.3, runsTools: true },
      { id: 'SAFETY_SNAPSHOT', item: 'SAFETY_SNAPSHOT', weight: 1, runsTools: true },
      { id: 'RESTORE_PRIMARY', item: 'RESTORE_DATA', weight: 2, runsTools: true },
      { id: 'RECOVER_PRIMARY', item: 'RESTORE_DATA', weight: 0.5, runsTools: true },
      { id: 'ENABLE_ARCHIVING', item: 'ENABLE_ARCHIVING', weight: 0.3, runsTools: true },
      ...(p.numberOfNode > 1 ? [{ id: 'REBUILD_STANDBYS', item: 'BUILD_STANDBYS', weight: p.numberOfNode - 1, runsTools: true }] : []),
      { id: 'CHECK_CONNECTIONS', item: 'VERIFY_CLUSTER', weight: 0.2 },
    ];
  },
  steps: {
    ARCHIVE_SOURCE_WAL: clusterRestore.steps['ARCHIVE_SOURCE_WAL']!,

    /**
     * What the cluster holds is read for the safety snapshot's record (D16) while the primary
     * runs, then every member is stopped cleanly (`stopForRestoreInPlace`). A resumed step
     * whose members are stopped already reads nothing.
     */
    STOP_NODES: async (ctx: Ctx) => {
      const cluster = await ctx.cluster();
      await followRunningLeader(ctx);
      const nodes = await activeNodes(ctx);
      const primary = primaryOf(nodes);
      if (ctx.dataPlane.memberStatus(cluster, primary)) {
        const [schemaInfo, sourceBytes] = await Promise.all([
          ctx.dataPlane.schemaInfo(cluster, primary),
          ctx.dataPlane.databaseBytes(cluster, primary),
        ]);
        await ctx.write((tx) =>
          tx.updateSnapshot(ctx.params.safetySnapshotId, {
            schemaInfo,
            sourceBytes,
            startedAt: ctx.clock.now(),
            updatedAt: ctx.clock.now(),
          }),
        );
      }
      ctx.progress({ source: 'dwsbox', percent: 10, info: { phase: 'stop', nodes: nodes.map((n) => n.ordinal) } });
      await ctx.dataPlane.stopForRestoreInPlace(cluster, primary, nodes);
      await ctx.write(async (tx) => {
        for (const n of nodes) await tx.updateNode(n.id, { pid: null, pidStart: null, health: 'down', updatedAt: ctx.clock.now() });
      });
      ctx.progress({ source: 'dwsbox', percent: 100, info: { phase: 'stopped', nodes: nodes.map((n) => n.ordinal) } });
    },

    /**
     * The safety snapshot: a backup of the stopped primary (`--no-online`; a differential one
     * over the stanza's last full), recorded as a snapshot of the cluster named in the task's
     * progress. It shows CREATING (and cannot be deleted) until the task ends, then AVAILABLE:
     * the rollback restores it; the user may too, later.
     */
    SAFETY_SNAPSHOT: async (ctx: Ctx) => {
      const cluster = await ctx.cluster();
      const primary = primaryOf(await activeNodes(ctx));
      const annotation = safetyAnnotation(ctx);
      const info = { safetySnapshotId: ctx.params.safetySnapshotId, offline: true };
      let set = findAnnotated(await ctx.dataPlane.backupSets(cluster.stanza, { signal: ctx.signal }), annotation);
      if (!set) {
        await ctx.dataPlane.removePartialBackups(cluster, primary, ctx.signal);
        set = await ctx.dataPlane.backup(cluster, primary, {
          type: 'diff',
          offline: true,
          annotation,
          lockFile: ctx.lockFile,
          signal: ctx.signal,
          idleTimeoutMs: ctx.config.stepIdleTimeoutMs,
          onProgress: (p) => ctx.progress({ ...p, info }),
        });
      }
      const done = set;
      const now = ctx.clock.now();
      await ctx.write((tx) =>
        tx.updateSnapshot(ctx.params.safetySnapshotId, {
          ...setFields(done),
          finishedAt: now,
          updatedAt: now,
        }),
      );
      ctx.progress({
        source: 'pgbackrest info',
        percent: 100,
        bytesDone: done.repoOwnBytes,
        bytesTotal: done.repoOwnBytes,
        info: { ...info, key: backupKeyOf(done.label) },
      });
    },

    /** `pgbackrest restore --delta` of the snapshot's set over the primary's own data directory, from the cluster's own stanza. */
    RESTORE_PRIMARY: async (ctx: Ctx) =>
      restoreSnapshotInto(ctx, await snapshotOf(ctx), { restoreTime: ctx.params.restoreTime, inPlace: true }),

    /** Its first start: replay to the snapshot's consistent point (or the time), a new timeline, archiving into the same stanza. */
    RECOVER_PRIMARY: async (ctx: Ctx) =>
      recoverRestoredPrimary(ctx, await snapshotOf(ctx), { restoreTime: ctx.params.restoreTime, replicas: [] }),

    ENABLE_ARCHIVING: (ctx: Ctx) => enableArchivingAfterRestore(ctx),

    REBUILD_STANDBYS: (ctx: Ctx) => rebuildStandbys(ctx),

    CHECK_CONNECTIONS: async (ctx: Ctx) =>
      verifyCluster(
        ctx,
        (await activeNodes(ctx)).map((n) => n.ordinal),
      ),

    // ---------------------------------------------------------------- rollback
    /** Nothing was restored yet: the members started again as they were (the primary first). */
    START_NODES: async (ctx: Ctx) => {
      const cluster = await ctx.cluster();
      const nodes = await activeNodes(ctx);
      const primary = primaryOf(nodes);
      await startAndRecord(ctx, primary);
      await settleAll(nodes.filter((n) => n.ordinal !== primary.ordinal).map((n) => startAndRecord(ctx, n)));
      await verifyCluster(
        ctx,
        nodes.map((n) => n.ordinal),
      );
      ctx.progress({ source: 'dwsbox', percent: 100, info: { phase: 'started', cluster: cluster.id } });
    },

    /**
     * The safety snapshot restored the same way (members stopped, `--delta`, to its consistent
     * point, promoted, archiving proven), then the standbys rebuilt and the cluster verified:
     * it holds what it held when this task stopped it.
     */
    RESTORE_SAFETY_SNAPSHOT: async (ctx: Ctx) => {
      const cluster = await ctx.cluster();
      await followRunningLeader(ctx);
      const nodes = await activeNodes(ctx);
      const primary = primaryOf(nodes);
      const safety = await safetySnapshot(ctx);
      ctx.progress({ source: 'dwsbox', percent: 1, info: { phase: 'stop', safetySnapshotId: safety.id } });
      await ctx.dataPlane.stopForRestoreInPlace(cluster, primary, nodes);
      await restoreSnapshotInto(ctx, safety, { restoreTime: undefined, inPlace: true });
      await recoverRestoredPrimary(ctx, safety, { restoreTime: undefined, replicas: [] });
      await enableArchivingAfterRestore(ctx);
      await rebuildStandbys(ctx);
      await verifyCluster(
        ctx,
        nodes.map((n) => n.ordinal),
      );
    },
  },
  failure: {
    mode: 'rollback',
    // Before the first byte was restored the data is as it was: the members start again. After, the safety snapshot comes back.
    steps: (_task, run) => {
      const touched = run.some(
        (s) =>
          ['RESTORE_PRIMARY', 'RECOVER_PRIMARY', 'ENABLE_ARCHIVING', 'REBUILD_STANDBYS', 'CHECK_CONNECTIONS'].includes(s.stepId) &&
          s.status !== 'WAITING',
      );
      return [
        touched
          ? { id: 'RESTORE_SAFETY_SNAPSHOT', item: 'ROLLBACK', weight: 3, runsTools: true }
          : { id: 'START_NODES', item: 'ROLLBACK', weight: 1, runsTools: true },
      ];
    },
  },
  async extrasOnSuccess(o) {
    await o.tx.updateSnapshot(o.params.safetySnapshotId, { status: 'AVAILABLE', updatedAt: o.now });
  },
  // The safety snapshot's record: AVAILABLE once its set is taken; a set never taken (a failure before it) leaves no snapshot behind.
  async extrasOnFailure(o) {
    const s = await o.tx.getSnapshotById(o.params.safetySnapshotId);
    if (s?.backupLabel) await o.tx.updateSnapshot(s.id, { status: 'AVAILABLE', updatedAt: o.now });
    else if (s) await o.tx.updateSnapshot(s.id, { status: 'UNAVAILABLE', deletedAt: o.now, finishedAt: o.now, updatedAt: o.now });
  },
};
