/**
 * cluster.restart (REBOOTING), cluster.stop (STOPPING), cluster.start (STARTING) and
 * cluster.delete (DELETING). Standbys stop before the primary; the primary starts first. The
 * primary is the member that led when the task was accepted (after a failover, not node 1): on a
 * highly available engine, a leader stopped while others run hands over to one of them, and the
 * member started first may take the lead, so the one with the newest data starts first.
 */
import { AppError } from '../../errors/app-error.js';
import type { TaskKind } from '../../domain/task.js';
import type { NoState, OutcomeContext, StepContext, StepSpec, TaskDefinition } from '../definition.js';
import { expireUnneeded, keepNewestSnapshots } from './snapshot-chain.js';
import { followLeader, nodeByOrdinal, startAndRecord, stopAndRecord, waitStandbysCaughtUp } from './member-steps.js';
import { settleAll } from '../../errors/settle.js';

export interface NodesParams {
  clusterId: string;
  ordinals: number[];
  /** the primary's ordinal when the task was accepted (absent in tasks accepted before it was kept: the lowest ordinal then) */
  primary?: number;
}

export interface DeleteParams {
  clusterId: string;
  keepLastManualSnapshot: number;
}

async function checkReplication(ctx: StepContext<NodesParams>): Promise<void> {
  await followLeader(ctx);
  await ctx.dataPlane.waitHealthy?.(await ctx.cluster(), { signal: ctx.signal });
  await waitStandbysCaughtUp(ctx);
}

const stopNode = async (ctx: StepContext<NodesParams>): Promise<void> => stopAndRecord(ctx, nodeByOrdinal(await ctx.nodes(), ctx.n));
const startNode = async (ctx: StepContext<NodesParams>): Promise<void> => startAndRecord(ctx, nodeByOrdinal(await ctx.nodes(), ctx.n));

/** The order members stop in: the standbys (highest ordinal first), then the primary. */
const stopOrder = (ordinals: number[], primary = Math.min(...ordinals)): number[] => [
  ...ordinals.filter((n) => n !== primary).sort((a, b) => b - a),
  ...(ordinals.includes(primary) ? [primary] : []),
];
/** The order members start in: the primary, then the standbys (lowest ordinal first). */
const startOrder = (ordinals: number[], primary?: number): number[] => stopOrder(ordinals, primary).reverse();

/**
 * A restart or start of every member starts each PostgreSQL afresh, with every parameter set:
 * a restart that waited for the maintenance window (cluster-configure.ts) has nothing left to
 * apply, so it waits no more and the detail no longer shows it.
 */
async function clearPendingRestart(o: OutcomeContext<NodesParams>): Promise<void> {
  const c = await o.tx.getClusterById(o.params.clusterId);
  if (!c?.pendingRestart) return;
  const active = (await o.tx.listNodes(c.id)).filter((n) => n.membership === 'active');
  if (active.every((n) => o.params.ordinals.includes(n.ordinal)))
    await o.tx.updateCluster(c.id, { pendingRestart: null, restartDueAt: null });
}

/** Restart, stop and start: their outcome is the cluster's D8 state (applied by the runner), and for restart and start a waiting restart done. */
function transitionDefinition(kind: TaskKind, plan: (p: NodesParams) => StepSpec[]): TaskDefinition<NodesParams, NoState, never> {
  return {
    kind,
    maxAttempts: 3,
    plan,
    steps: { STOP_NODE: stopNode, START_NODE: startNode, CHECK_REPLICATION: checkReplication },
    ...(kind === 'cluster.stop' ? {} : { extrasOnSuccess: clearPendingRestart }),
  };
}

export const clusterRestart = transitionDefinition('cluster.restart', (p) => [
  ...stopOrder(p.ordinals, p.primary).map((n) => ({ id: `STOP_NODE_${n}`, item: 'RESTART_CLUSTER' })),
  ...startOrder(p.ordinals, p.primary).map((n) => ({ id: `START_NODE_${n}`, item: 'RESTART_CLUSTER' })),
  { id: 'CHECK_REPLICATION', item: 'RESTART_CLUSTER' },
]);

export const clusterStop = transitionDefinition('cluster.stop', (p) =>
  stopOrder(p.ordinals, p.primary).map((n) => ({ id: `STOP_NODE_${n}`, item: 'STOP_CLUSTER' })),
);

export const clusterStart = transitionDefinition('cluster.start', (p) => [
  ...startOrder(p.ordinals, p.primary).map((n) => ({ id: `START_NODE_${n}`, item: 'START_CLUSTER' })),
  { id: 'CHECK_REPLICATION', item: 'START_CLUSTER' },
]);

export const clusterDelete: TaskDefinition<DeleteParams, NoState, never> = {
  kind: 'cluster.delete',
  maxAttempts: 3,
  plan: () => [
    { id: 'STOP_NODES', item: 'DELETE_CLUSTER' },
    { id: 'KEEP_SNAPSHOTS', item: 'DELETE_CLUSTER', runsTools: true },
    { id: 'REMOVE_DATA', item: 'DELETE_CLUSTER' },
  ],
  steps: {
    /**
     * Every member at once, immediately: their data is thrown away, so no shutdown checkpoint
     * and no hand-over (a Patroni member going away one at a time hands the synchronous standby
     * or the leader key on first, a loop of Patroni's each, D25). Kept snapshots need nothing
     * more of them: a backup holds the WAL it needs (`archive-check`).
     */
    STOP_NODES: async (ctx) => {
      const nodes = await ctx.nodes();
      let i = 0;
      await settleAll(
        nodes.map(async (n) => {
          await stopAndRecord(ctx, n, 'immediate');
          ctx.progress({ source: 'pg_ctl', percent: (100 * ++i) / nodes.length, info: { node: n.ordinal } });
        }),
      );
    },
    KEEP_SNAPSHOTS: async (ctx) => {
      const cluster = await ctx.cluster();
      const nodes = await ctx.nodes();
      const primary = nodes.find((n) => n.role === 'primary');
      const kept = await keepNewestSnapshots(ctx, cluster, ctx.params.keepLastManualSnapshot);
      if (kept === 0) {
        // pgBackRest never expires a stanza's last full: with nothing kept the stanza goes (D16).
        if (primary) await ctx.dataPlane.removeStanza(cluster, primary, { signal: ctx.signal, lockFile: ctx.lockFile });
        await expireUnneeded(
          {
            store: ctx.store,
            dataPlane: ctx.dataPlane,
            log: ctx.log,
            lockFile: ctx.lockFile,
            signal: ctx.signal,
            now: () => ctx.clock.now(),
            write: ctx.write,
          },
          cluster.stanza,
        );
      }
    },
    REMOVE_DATA: async (ctx) => {
      const cluster = await ctx.cluster();
      const nodes = await ctx.nodes();
      for (const n of nodes) {
        if (ctx.dataPlane.memberStatus(cluster, n))
          throw new AppError('ENGINE_NODE_FAILED', { args: [n.host, 'still running; cannot remove its data'] });
      }
      await ctx.dataPlane.removeClusterFiles(cluster.id);
    },
  },
  /** The node records go, its IAM user syncs' records too, and the address block is freed; the runner marks the cluster deleted (D8: gone). */
  async extrasOnSuccess(o) {
    for (const n of await o.tx.listNodes(o.params.clusterId)) await o.tx.deleteNode(n.id);
    // its IAM user syncs' records and synced roles go with it (SyncIamUsers)
    await o.tx.deleteDbSyncs(o.params.clusterId);
    await o.tx.updateCluster(o.params.clusterId, { subnetIndex: null, updatedAt: o.now });
  },
};
