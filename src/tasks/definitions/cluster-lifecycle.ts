/**
 * cluster.restart (REBOOTING), cluster.stop (STOPPING), cluster.start (STARTING) and
 * cluster.delete (DELETING). Standbys stop before the primary; the primary starts first.
 */
import { AppError } from '../../errors/app-error.js';
import type { TaskKind } from '../../domain/task.js';
import type { NoState, StepContext, StepSpec, TaskDefinition } from '../definition.js';
import { expireUnneeded, keepNewestSnapshots } from './snapshot-chain.js';
import { followLeader, nodeByOrdinal, primaryOf, startAndRecord, stopAndRecord } from './member-steps.js';

export interface NodesParams {
  clusterId: string;
  ordinals: number[];
}

export interface DeleteParams {
  clusterId: string;
  keepLastManualSnapshot: number;
}

async function checkReplication(ctx: StepContext<NodesParams>): Promise<void> {
  await followLeader(ctx);
  const cluster = await ctx.cluster();
  await ctx.dataPlane.waitHealthy?.(cluster, { signal: ctx.signal });
  const nodes = (await ctx.nodes()).filter((n) => n.membership === 'active');
  const primary = primaryOf(nodes);
  const lsn = await ctx.dataPlane.currentLsn(cluster, primary);
  const standbys = nodes.filter((n) => n.role === 'standby');
  let i = 0;
  for (const n of standbys) {
    await ctx.dataPlane.waitCaughtUp(cluster, primary, n.ordinal, { signal: ctx.signal, targetLsn: lsn, timeoutMs: 120_000, standby: n });
    ctx.progress({ source: 'pg_stat_replication', percent: (100 * ++i) / standbys.length, info: { node: n.ordinal } });
  }
}

const stopNode = async (ctx: StepContext<NodesParams>): Promise<void> => stopAndRecord(ctx, nodeByOrdinal(await ctx.nodes(), ctx.n));
const startNode = async (ctx: StepContext<NodesParams>): Promise<void> => startAndRecord(ctx, nodeByOrdinal(await ctx.nodes(), ctx.n));

const desc = (xs: number[]): number[] => [...xs].sort((a, b) => b - a);
const asc = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

/** Restart, stop and start: their outcome is the cluster's D8 state alone, applied by the runner. */
function transitionDefinition(kind: TaskKind, plan: (p: NodesParams) => StepSpec[]): TaskDefinition<NodesParams, NoState, never> {
  return {
    kind,
    maxAttempts: 3,
    plan,
    steps: { STOP_NODE: stopNode, START_NODE: startNode, CHECK_REPLICATION: checkReplication },
  };
}

export const clusterRestart = transitionDefinition('cluster.restart', (p) => [
  ...desc(p.ordinals).map((n) => ({ id: `STOP_NODE_${n}`, item: 'RESTART_CLUSTER' })),
  ...asc(p.ordinals).map((n) => ({ id: `START_NODE_${n}`, item: 'RESTART_CLUSTER' })),
  { id: 'CHECK_REPLICATION', item: 'RESTART_CLUSTER' },
]);

export const clusterStop = transitionDefinition('cluster.stop', (p) =>
  desc(p.ordinals).map((n) => ({ id: `STOP_NODE_${n}`, item: 'STOP_CLUSTER' })),
);

export const clusterStart = transitionDefinition('cluster.start', (p) => [
  ...asc(p.ordinals).map((n) => ({ id: `START_NODE_${n}`, item: 'START_CLUSTER' })),
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
    STOP_NODES: async (ctx) => {
      const nodes = await ctx.nodes();
      let i = 0;
      for (const n of [...nodes].sort((a, b) => b.ordinal - a.ordinal)) {
        await stopAndRecord(ctx, n);
        ctx.progress({ source: 'pg_ctl', percent: (100 * ++i) / nodes.length, info: { node: n.ordinal } });
      }
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
  /** The node records go and the address block is freed; the runner marks the cluster deleted (D8: gone). */
  async extrasOnSuccess(o) {
    for (const n of await o.tx.listNodes(o.params.clusterId)) await o.tx.deleteNode(n.id);
    await o.tx.updateCluster(o.params.clusterId, { subnetIndex: null, updatedAt: o.now });
  },
};
