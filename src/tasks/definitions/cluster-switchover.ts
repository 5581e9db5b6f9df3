/**
 * cluster.switchover (ACTIVE_STANDY_SWITCHOVER, issue 15): a planned switchover of a highly
 * available cluster to one member, by default its preferred one (node 1) after a failover put
 * another in its place: the failover manager's own switchover (Patroni's, the candidate made
 * the synchronous standby first, D25), then the roles recorded and every standby streaming
 * again. A failure leaves ACTIVE_STANDY_SWITCHOVER_FAILURE until the next accepted operation;
 * the cluster keeps whichever primary Patroni has (the roles are recorded either way).
 */
import { AppError } from '../../errors/app-error.js';
import type { NoState, OutcomeContext, StepContext, TaskDefinition } from '../definition.js';
import { followLeader, primaryOf, waitStandbysCaughtUp } from './member-steps.js';

export interface SwitchoverParams {
  clusterId: string;
  /** the member that is to lead */
  candidate: number;
}

type Ctx = StepContext<SwitchoverParams, NoState, never>;

export const clusterSwitchover: TaskDefinition<SwitchoverParams, NoState, never> = {
  kind: 'cluster.switchover',
  maxAttempts: 2,
  plan: () => [
    { id: 'SWITCHOVER', item: 'SWITCHOVER' },
    { id: 'CHECK_REPLICATION', item: 'SWITCHOVER', weight: 0.5 },
  ],
  steps: {
    SWITCHOVER: async (ctx: Ctx) => {
      const dp = ctx.dataPlane;
      if (!dp.switchover)
        throw new AppError('NOT_SUPPORTED', { args: ['A switchover', `the ${dp.engineName} engine has no failover manager`] });
      const cluster = await ctx.cluster();
      ctx.progress({ source: 'Patroni', percent: 0, info: { candidate: ctx.params.candidate } });
      const r = await dp.switchover(cluster, ctx.params.candidate, { signal: ctx.signal });
      ctx.progress({ source: 'Patroni', percent: 100, info: { from: r.from, to: r.to } });
    },
    CHECK_REPLICATION: async (ctx: Ctx) => {
      await followLeader(ctx);
      const primary = primaryOf((await ctx.nodes()).filter((n) => n.membership === 'active'));
      if (primary.ordinal !== ctx.params.candidate)
        throw new AppError('ENGINE_NODE_FAILED', {
          args: [`node ${ctx.params.candidate}`, `node ${primary.ordinal} leads after the switchover, not it`],
        });
      await waitStandbysCaughtUp(ctx);
    },
  },
  extrasOnSuccess: (o) => balance(o),
};

/** sub_status after a switchover or a repair: NORMAL when the preferred member (the lowest ordinal) leads, else UNBALANCED. */
export async function balance(o: OutcomeContext<{ clusterId: string }>): Promise<void> {
  const nodes = (await o.tx.listNodes(o.params.clusterId)).filter((n) => n.membership === 'active');
  const preferred = Math.min(...nodes.map((n) => n.ordinal));
  const primary = nodes.find((n) => n.role === 'primary');
  await o.tx.updateCluster(o.params.clusterId, { subStatus: primary?.ordinal === preferred ? 'NORMAL' : 'UNBALANCED', updatedAt: o.now });
}
