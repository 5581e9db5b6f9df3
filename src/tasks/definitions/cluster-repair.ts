/**
 * cluster.repair (REPAIRING, issue 15): replicas the failover manager left stopped (Patroni
 * 3.0.2 only logs a broken data directory, e.g. a lost `pg_control`, patroni-ops trap 10) are
 * rebuilt from the leader, one at a time, then checked streaming. Started by the health monitor
 * when it sees such a member twice, a Patroni loop apart, on an available cluster with no
 * other task; never by a request. Each REBUILD_NODE_<n> asks Patroni to reinitialise the
 * member only while it is still stopped, so a step resumed after a crash waits for the copy
 * under way instead of wiping it again. A failure leaves the cluster as the monitor finds it
 * (DEGRADED while the member is down); the monitor tries again after a pause.
 */
import { AppError } from '../../errors/app-error.js';
import type { NoState, StepContext, StepSpec, TaskDefinition } from '../definition.js';
import { balance } from './cluster-switchover.js';
import { followLeader, nodeByOrdinal, primaryOf, waitStandbysCaughtUp } from './member-steps.js';

export interface RepairParams {
  clusterId: string;
  /** the members to rebuild, by ordinal */
  ordinals: number[];
}

type Ctx = StepContext<RepairParams, NoState, never>;

export const clusterRepair: TaskDefinition<RepairParams, NoState, never> = {
  kind: 'cluster.repair',
  maxAttempts: 2,
  plan: (p) => [
    ...p.ordinals.map((n): StepSpec => ({ id: `REBUILD_NODE_${n}`, item: 'REPAIR', weight: 3, runsTools: true })),
    { id: 'CHECK_REPLICATION', item: 'REPAIR', weight: 0.5 },
  ],
  steps: {
    REBUILD_NODE: async (ctx: Ctx) => {
      const dp = ctx.dataPlane;
      if (!dp.rebuildMember)
        throw new AppError('NOT_SUPPORTED', { args: ['A repair', `the ${dp.engineName} engine has no failover manager`] });
      await followLeader(ctx);
      const cluster = await ctx.cluster();
      const nodes = (await ctx.nodes()).filter((n) => n.membership === 'active');
      const primary = primaryOf(nodes);
      const node = nodeByOrdinal(nodes, ctx.n);
      if (node.id === primary.id) return; // it leads now (a failover since): nothing to rebuild
      await dp.rebuildMember(cluster, primary, node, {
        signal: ctx.signal,
        onProgress: (s) => ctx.progress({ ...s, info: { node: node.ordinal, phase: 'copy' } }),
      });
    },
    CHECK_REPLICATION: async (ctx: Ctx) => {
      await followLeader(ctx);
      await waitStandbysCaughtUp(ctx);
    },
  },
  extrasOnSuccess: (o) => balance(o),
};
