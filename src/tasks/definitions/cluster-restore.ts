/**
 * cluster.restore (RESTORING, actionType "Restore"): a snapshot into a NEW cluster (D4, D16).
 * pgBackRest restores the snapshot's set into node 1 from the SOURCE stanza (read-only); the
 * new cluster's own stanza is created from the copy's pg_control before its first start, so
 * the copy starts with the new cluster's settings and archive_command pointing at the NEW
 * stanza; it replays to the snapshot's consistent point (restore_command only reads the
 * source stanza) and is promoted, its history file going to the new stanza. A switched WAL
 * segment reaching the new stanza proves archiving (no restart, no `pgbackrest check`), then
 * every standby is made at once and caught up (D5): on the local engine from a file copy of
 * the restored data made before the primary's first start (local/restore.ts says why that
 * copy never replays past the primary's fork), else with pg_basebackup from the primary; and
 * the cluster is verified. Nothing here ever writes into the source stanza.
 * A failure cleans up the new cluster's processes, files and stanza (never the source's) and
 * ends CREATION FAILED with failed_reasons.
 */
import type { NodeRecord, SnapshotRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { NoState, StepContext, StepProgress, StepSpec, TaskDefinition } from '../definition.js';
import { activateNodes, checkNodeAddresses, cleanUpCluster, releaseFailedCluster, verifyCluster } from './cluster-create.js';
import { catchUpWithLeader, primaryOf, replSecrets, startAndRecord } from './member-steps.js';
import { settleAll } from '../../errors/settle.js';
import { lsnBytes } from '../../domain/lsn.js';
import { runningPrimary } from '../../dataplane/data-plane.js';

export interface ClusterRestoreParams {
  /** the new cluster */
  clusterId: string;
  snapshotId: string;
  /** the snapshot's cluster (fault matching, and the delete guard of D16); it may be gone */
  sourceClusterId: string;
  numberOfNode: number;
  /** a point in time (epoch ms) after the snapshot to restore to (issue 20); absent: the snapshot itself */
  restoreTime?: number;
}

type Ctx = StepContext<ClusterRestoreParams, NoState, never>;

/** One standby's share of BUILD_STANDBYS' progress. */
interface StandbyProgress {
  phase: string;
  percent: number;
  bytesDone: number;
  bytesTotal: number | null;
  lagBytes?: unknown;
  /** a standby from the restored copy: where the primary forked off the snapshot's timeline, and the segments before it fetched */
  fork?: unknown;
  walFetched?: unknown;
}

/**
 * RECOVER_PRIMARY's figures while the copy replays: the WAL position, the bytes replayed since
 * the first position seen and their rate, and the commit time of the last transaction
 * replayed. To a point in time the percent is that commit time's way from the snapshot's end
 * to the target (the target's WAL position is not known before recovery reaches it); to the
 * snapshot itself, 50 in recovery and 90 once promoted, as before.
 */
export function replayProgress(targetTime: number | undefined, from: number | null): (s: StepProgress) => StepProgress {
  let first: { lsn: bigint; at: number } | null = null;
  return (s) => {
    const lsn = typeof s.data?.['replayLsn'] === 'string' ? (s.data['replayLsn'] as string) : null;
    const replayTime = typeof s.data?.['replayTime'] === 'number' ? (s.data['replayTime'] as number) : null;
    const pos = lsn ? lsnBytes(lsn) : null;
    if (pos !== null && !first) first = { lsn: pos, at: Date.now() };
    const replayed = pos !== null && first ? Number(pos - first.lsn) : 0;
    const secs = first ? (Date.now() - first.at) / 1000 : 0;
    const inRecovery = s.data?.['inRecovery'] === true;
    const percent =
      !inRecovery || targetTime === undefined
        ? inRecovery
          ? 50
          : 90
        : replayTime === null || from === null || targetTime <= from
          ? 5
          : Math.max(5, Math.min(89, 5 + (84 * (replayTime - from)) / (targetTime - from)));
    return {
      ...s,
      percent,
      bytesDone: replayed,
      bytesTotal: null,
      info: {
        phase: 'recovery',
        replayLsn: lsn,
        replayedBytes: replayed,
        bytesPerSecond: secs > 0 ? Math.round(replayed / secs) : null,
        replayTime: replayTime === null ? null : new Date(replayTime).toISOString(),
        ...(targetTime === undefined ? {} : { targetTime: new Date(targetTime).toISOString() }),
      },
    };
  };
}

/** The snapshot this task reads (it cannot be deleted while the task runs, D16). */
export async function snapshotOf(ctx: {
  params: { snapshotId: string };
  store: StepContext['store'];
}): Promise<SnapshotRecord & { backupLabel: string }> {
  const s = await ctx.store.getSnapshotById(ctx.params.snapshotId);
  if (!s) throw new AppError('SNAPSHOT_NOT_FOUND', { args: [ctx.params.snapshotId] });
  if (!s.backupLabel) throw new AppError('SNAPSHOT_NOT_RESTORABLE', { args: [s.id, 'it has no backup set'] });
  return s as SnapshotRecord & { backupLabel: string };
}

type AnyCtx = StepContext<unknown>;

/**
 * A snapshot's set (to its consistent point, or to `restoreTime` past it) restored into the
 * cluster's primary: into an empty data directory from the SOURCE stanza (D4), or over the
 * member's own (`inPlace`, issue 20: pgBackRest's `--delta`).
 */
export async function restoreSnapshotInto(
  ctx: AnyCtx,
  snap: SnapshotRecord & { backupLabel: string },
  o: { restoreTime: number | undefined; inPlace: boolean },
): Promise<void> {
  const cluster = await ctx.cluster();
  const primary = primaryOf(await ctx.nodes());
  const info = {
    key: snap.backupKey ?? 'N/A',
    priorKey: snap.priorBackupKey ?? 'N/A',
    snapshotId: snap.id,
    ...(o.inPlace ? { delta: true } : {}),
    ...(o.restoreTime === undefined ? {} : { targetTime: new Date(o.restoreTime).toISOString() }),
  };
  await ctx.dataPlane.restorePrimary(
    cluster,
    primary,
    { stanza: snap.stanza, label: snap.backupLabel, sourceBytes: snap.sourceBytes, targetTime: o.restoreTime ?? null, inPlace: o.inPlace },
    {
      lockFile: ctx.lockFile,
      signal: ctx.signal,
      idleTimeoutMs: ctx.config.stepIdleTimeoutMs,
      onProgress: (s) => {
        const written = s.data?.['consumedBytes'];
        ctx.progress({ ...s, ...(typeof written === 'number' ? { consumedBytes: written } : {}), info });
      },
    },
  );
}

/**
 * The restored primary's first start: it replays to the snapshot's consistent point (or the
 * restore time), is promoted, cleaned (D32) and gets the cluster's administrator (see the
 * data plane's `recoverPrimary`); its process recorded.
 */
export async function recoverRestoredPrimary(
  ctx: AnyCtx,
  snap: SnapshotRecord,
  o: { restoreTime: number | undefined; replicas: NodeRecord[] },
): Promise<void> {
  const cluster = await ctx.cluster();
  const primary = primaryOf(await ctx.nodes());
  const replay = replayProgress(o.restoreTime, snap.finishedAt);
  const r = await ctx.dataPlane.recoverPrimary(cluster, primary, ctx.secrets.decrypt(cluster.adminPasswordEnc), {
    signal: ctx.signal,
    lockFile: ctx.lockFile,
    replicas: o.replicas,
    onProgress: (s) => ctx.progress(s.source === 'dwsbox' ? { ...s, info: { phase: s.data?.['phase'] ?? null } } : replay(s)),
  });
  await ctx.write((tx) =>
    tx.updateNode(primary.id, { pid: r.process.pid, pidStart: r.process.startTime, health: 'up', updatedAt: ctx.clock.now() }),
  );
  ctx.progress({
    source: 'pg_is_in_recovery',
    percent: 100,
    info: { phase: 'promoted', timeline: r.timeline, lsn: r.lsn, cleaned: r.cleaned },
  });
}

/** The replication role's password, and archiving into the cluster's stanza proven by a switched segment that reaches it (D3, D4). */
export async function enableArchivingAfterRestore(ctx: AnyCtx): Promise<void> {
  const cluster = await ctx.cluster();
  const primary = primaryOf(await ctx.nodes());
  const restarted = await ctx.dataPlane.enableRestoredArchiving(cluster, primary, replSecrets(ctx, cluster.replPasswordEnc), {
    lockFile: ctx.lockFile,
    signal: ctx.signal,
    onProgress: (s) => ctx.progress({ ...s, info: { ...(s.data ?? {}) } }),
  });
  if (restarted)
    await ctx.write((tx) =>
      tx.updateNode(primary.id, { pid: restarted.pid, pidStart: restarted.startTime, health: 'up', updatedAt: ctx.clock.now() }),
    );
}

export const clusterRestore: TaskDefinition<ClusterRestoreParams, NoState, never> = {
  kind: 'cluster.restore',
  maxAttempts: 3,
  plan(p) {
    const steps: StepSpec[] = [
      // To a point in time: the source's commits up to now archived first (its WAL switched).
      ...(p.restoreTime === undefined ? [] : [{ id: 'ARCHIVE_SOURCE_WAL', item: 'PREPARE_CLUSTER', weight: 0.2 }]),
      { id: 'ALLOCATE_NODES', item: 'PREPARE_CLUSTER', weight: 0.2 },
      { id: 'RESTORE_PRIMARY', item: 'RESTORE_DATA', weight: 2, runsTools: true },
      { id: 'RECOVER_PRIMARY', item: 'RESTORE_DATA', weight: 0.5, runsTools: true },
      { id: 'ENABLE_NEW_ARCHIVING', item: 'ENABLE_ARCHIVING', weight: 0.5, runsTools: true },
    ];
    // One step builds every standby at once (the runner runs steps one after another).
    if (p.numberOfNode > 1) steps.push({ id: 'BUILD_STANDBYS', item: 'BUILD_STANDBYS', weight: p.numberOfNode - 1, runsTools: true });
    steps.push({ id: 'CHECK_CONNECTIONS', item: 'VERIFY_CLUSTER', weight: 0.2 });
    return steps;
  },
  steps: {
    /**
     * The source's running primary archives every commit made so far (a commit and a WAL
     * switch, the segment awaited in its stanza), so the archive holds a commit past the
     * restore time, where recovery stops. The source's own archiving, as archive_timeout
     * would do it; nothing of this task is written into its stanza (D4).
     */
    ARCHIVE_SOURCE_WAL: async (ctx: Ctx) => {
      const snap = await snapshotOf(ctx);
      const source = await ctx.store.getCluster(snap.projectId, ctx.params.sourceClusterId);
      if (!source)
        throw new AppError('SNAPSHOT_NOT_RESTORABLE', {
          args: [
            snap.id,
            'its cluster was deleted, so its WAL after the snapshot is not known to be archived; restore the snapshot as it is',
          ],
        });
      const primary = runningPrimary(ctx.dataPlane, source, await ctx.store.listNodes(source.id));
      if (!primary)
        throw new AppError('CLUSTER_STATE_CONFLICT', {
          args: [source.name, 'its primary does not run, so its WAL cannot be archived up to the restore time; start it and restore again'],
        });
      const segment = await ctx.dataPlane.archiveNow(source, primary, { signal: ctx.signal });
      ctx.progress({
        source: 'pg_stat_archiver',
        percent: 100,
        info: { sourceClusterId: source.id, segment, targetTime: new Date(ctx.params.restoreTime!).toISOString() },
      });
    },

    /** Addresses free, memory and disk for the nodes (D6, D18), the node directories, and a readable source. */
    ALLOCATE_NODES: async (ctx: Ctx) => {
      const snap = await snapshotOf(ctx);
      if (!(await ctx.dataPlane.stanzaExists(snap.stanza))) {
        throw new AppError('SNAPSHOT_NOT_RESTORABLE', { args: [snap.id, `the repository of stanza ${snap.stanza} is missing`] });
      }
      await checkNodeAddresses(ctx);
      const cluster = await ctx.cluster();
      const nodes = await ctx.nodes();
      // Every node holds a copy of the snapshot's databases.
      const need = (snap.sourceBytes ?? 0) * nodes.length;
      const free = ctx.dataPlane.capacity().dataDiskFreeBytes;
      if (need > free) {
        // The host's own figures go to the log, never to a tenant (docs/security.md, capacity answers).
        ctx.log.warn('not enough disk on the host for the restore', { needBytes: need, dataDiskFreeBytes: free });
        throw new AppError('CAPACITY_EXCEEDED', {
          args: [
            `${nodes.length} copies of the snapshot's ${Math.round((snap.sourceBytes ?? 0) / 1e6)} MB need ${Math.round(need / 1e6)} MB of disk, more than this host has free for them now`,
          ],
        });
      }
      ctx.dataPlane.prepareCluster(cluster);
      ctx.progress({ source: 'dwsbox', percent: 100, info: { nodes: nodes.length, snapshotId: snap.id, key: snap.backupKey ?? 'N/A' } });
    },

    /** `pgbackrest restore --set … --type=immediate --target-action=promote --archive-mode=off` from the SOURCE stanza (D4). */
    RESTORE_PRIMARY: async (ctx: Ctx) =>
      restoreSnapshotInto(ctx, await snapshotOf(ctx), { restoreTime: ctx.params.restoreTime, inPlace: false }),

    /**
     * The new cluster's stanza from the copy's pg_control and, meanwhile, a file copy of the
     * restored data for each standby (BUILD_STANDBYS finishes them), then the copy's first start with the
     * new cluster's settings and its own address, archiving into the new stanza (D4: never the
     * source's); it replays the snapshot's WAL (read from the source stanza) to the consistent
     * point and is promoted on a new timeline; the recovery settings are dropped, it is cleaned
     * (D32) and gets the new cluster's administrator.
     */
    RECOVER_PRIMARY: async (ctx: Ctx) => {
      const primary = primaryOf(await ctx.nodes());
      // To a point in time, a copy of the restored set would replay every byte of WAL up to the
      // time again, each standby after the primary (measured: 11 s for 0.5 GB, 21 s for 1 GB, and
      // growing with the WAL; bench/README.md): the standbys copy the promoted primary instead.
      const replicas = ctx.params.restoreTime === undefined ? (await ctx.nodes()).filter((n) => n.ordinal !== primary.ordinal) : [];
      await recoverRestoredPrimary(ctx, await snapshotOf(ctx), { restoreTime: ctx.params.restoreTime, replicas });
    },

    /** The replication role's password, and archiving into the new stanza proven by a switched segment that reaches it (D3, D4). */
    ENABLE_NEW_ARCHIVING: (ctx: Ctx) => enableArchivingAfterRestore(ctx),

    /**
     * Every standby at once (D5): the restored copy RECOVER_PRIMARY made for it finished as a
     * standby (`from-copy`), or else `pg_basebackup` from the primary (`copy`); start, catch up.
     * A copy that does not catch up within two minutes is replaced by a pg_basebackup. Each
     * standby's figures are in `standbys` of the progress info; the step's bytes are the sums.
     * A failed build fails the step only once the others have ended (their tools never outlive
     * the step).
     */
    BUILD_STANDBYS: async (ctx: Ctx) => {
      const cluster = await ctx.cluster();
      const nodes = await ctx.nodes();
      const primary = primaryOf(nodes);
      const standbys = nodes.filter((n) => n.ordinal !== primary.ordinal).sort((a, b) => a.ordinal - b.ordinal);
      const secrets = replSecrets(ctx, cluster.replPasswordEnc);
      const each = new Map<number, StandbyProgress>(
        standbys.map((n) => [n.ordinal, { phase: 'waiting', percent: 0, bytesDone: 0, bytesTotal: null }]),
      );
      const report = (ordinal: number, source: string, p: Partial<StandbyProgress>): void => {
        Object.assign(each.get(ordinal)!, p);
        const all = [...each.values()];
        const totals = all.map((x) => x.bytesTotal);
        ctx.progress({
          source,
          data: { node: ordinal, phase: each.get(ordinal)!.phase },
          bytesDone: all.reduce((s, x) => s + x.bytesDone, 0),
          bytesTotal: totals.every((x) => x !== null) ? totals.reduce((s, x) => s! + x!, 0) : null,
          percent: all.reduce((s, x) => s + x.percent, 0) / all.length,
          info: {
            standbys: Object.fromEntries([...each].map(([n, x]) => [String(n), { ...x, percent: Math.round(x.percent * 100) / 100 }])),
          },
        });
      };
      const snap = await snapshotOf(ctx);
      const startAndCatchUp = async (node: NodeRecord, timeoutMs: number): Promise<void> => {
        report(node.ordinal, 'dwsbox', { phase: 'start', percent: 90 });
        await startAndRecord(ctx, node);
        await catchUpWithLeader(ctx, node, {
          timeoutMs,
          onProgress: (s) =>
            report(node.ordinal, s.source, {
              phase: 'catch-up',
              percent: 90 + (s.percent ?? 0) / 10,
              lagBytes: s.data?.['lagBytes'] ?? null,
            }),
        });
        report(node.ordinal, 'dwsbox', { phase: 'streaming', percent: 100 });
      };
      const buildOne = async (node: NodeRecord): Promise<void> => {
        // A copy of the restored primary made before its first start (RECOVER_PRIMARY) needs only its settings and the WAL before the fork.
        const copied = await ctx.dataPlane.finishRestoredReplica?.(cluster, primary, node, secrets, {
          signal: ctx.signal,
          lockFile: ctx.lockFile,
          sourceStanza: snap.stanza,
          onProgress: (s) =>
            report(node.ordinal, s.source, {
              phase: 'from-copy',
              ...(s.data?.['walFetched'] !== undefined ? { walFetched: s.data['walFetched'], fork: s.data['fork'] } : {}),
              ...(s.percent != null ? { percent: s.percent * 0.9 } : {}),
              ...(s.bytesDone != null ? { bytesDone: s.bytesDone, bytesTotal: s.bytesTotal ?? null } : {}),
            }),
        });
        if (copied) {
          try {
            return await startAndCatchUp(node, 120_000);
          } catch (e) {
            if (ctx.signal.aborted) throw e;
            // A copy that does not stream is replaced by a pg_basebackup rather than failing the restore.
            ctx.log.warn('a standby from the restored copy did not catch up; building it with pg_basebackup', {
              node: node.ordinal,
              error: (e as Error).message,
            });
            await ctx.dataPlane.stopMember(cluster, node, 'immediate');
            await ctx.dataPlane.removeMemberFiles(cluster, node.ordinal);
          }
        }
        report(node.ordinal, 'dwsbox', { phase: 'copy', percent: 0, bytesDone: 0 });
        await ctx.dataPlane.buildReplica(cluster, primary, node, secrets, {
          signal: ctx.signal,
          onProgress: (s) =>
            report(node.ordinal, s.source, {
              percent: (s.percent ?? 0) * 0.9,
              bytesDone: s.bytesDone ?? 0,
              bytesTotal: s.bytesTotal ?? null,
            }),
        });
        await startAndCatchUp(node, 10 * 60_000);
      };
      await settleAll(standbys.map(buildOne));
    },

    CHECK_CONNECTIONS: async (ctx: Ctx) =>
      verifyCluster(
        ctx,
        Array.from({ length: ctx.params.numberOfNode }, (_, i) => i + 1),
      ),

    /** Undo: the NEW cluster's processes, files and stanza; the source stanza is never touched. */
    CLEAN_UP_CLUSTER: (ctx) => cleanUpCluster(ctx),
  },
  // runsTools: it removes the new stanza with pgbackrest under the cluster lock itself.
  failure: { mode: 'cleanup', steps: () => [{ id: 'CLEAN_UP_CLUSTER', item: 'CLEAN_UP', runsTools: true }] },
  extrasOnSuccess: (o) => activateNodes(o),
  extrasOnFailure: (o, error) => releaseFailedCluster(o, error),
};
