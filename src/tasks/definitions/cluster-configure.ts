/**
 * cluster.configure (SETTING_CONFIGURATION, issue 16): UpdateConfiguration's parameters made
 * real on every member. APPLY_SETTINGS records them in the cluster's spec (so a member made
 * later, by a scale-out or a rebuild, gets them) and hands them to the engine, which puts them
 * where it keeps configuration and reloads (DataPlane.applyParameters: the local engine's
 * `dwsbox.conf` of every member; Patroni's dynamic configuration), then waits until every
 * member shows each reload-only value and flags the others `pending_restart`. When a change
 * takes a restart, RESTART_NODE_<n> restarts each member that still needs it, standbys first
 * and the primary last (D23; the primary first when a hot-standby parameter goes down, since a
 * standby may not hold less than its primary). VERIFY_SETTINGS checks every member's
 * `pg_settings` and the replication. Every step is idempotent: run again after a crash, it
 * finds members that already show the values and leaves them alone. The cluster stays
 * AVAILABLE throughout; a failure leaves the values already applied (docs/api.md#parameters).
 */
import { sameSetting, type ParameterChange, type PgSettingRow } from '../../domain/parameters.js';
import type { NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { NoState, StepContext, StepSpec, TaskDefinition } from '../definition.js';
import { followLeader, nodeByOrdinal, primaryOf, waitStandbysCaughtUp } from './member-steps.js';

export interface ConfigureParams {
  clusterId: string;
  /** what changes, with the values before as the primary showed them (the audit records read them) */
  changes: ParameterChange[];
  /** every parameter the cluster's spec holds after the change */
  parameters: Record<string, string>;
  /** the members to restart, in order (empty: every change is reload-only) */
  restartOrder: number[];
}

type Ctx = StepContext<ConfigureParams, NoState, never>;

const APPLY_TIMEOUT_MS = 60_000;

/**
 * What a member still lacks of the changes: `reload` a reload-only value it does not show yet,
 * `restart` one that takes a restart (pending, or not shown yet: Patroni passes some of them on
 * the postmaster's command line, where pg_settings never flags them pending).
 */
function lacking(rows: readonly PgSettingRow[], changes: readonly ParameterChange[]): { reload: string[]; restart: string[] } {
  const reload: string[] = [];
  const restart: string[] = [];
  for (const c of changes) {
    const row = rows.find((r) => r.name === c.name);
    if (row && sameSetting(row.setting, c.newValue) && !row.pendingRestart) continue;
    (c.restart ? restart : reload).push(c.name);
  }
  return { reload, restart };
}

const active = async (ctx: Ctx): Promise<NodeRecord[]> => (await ctx.nodes()).filter((n) => n.membership === 'active');

async function settingsOf(ctx: Ctx, n: NodeRecord): Promise<PgSettingRow[]> {
  return ctx.dataPlane.pgSettings(
    await ctx.cluster(),
    n,
    ctx.params.changes.map((c) => c.name),
  );
}

export const clusterConfigure: TaskDefinition<ConfigureParams, NoState, never> = {
  kind: 'cluster.configure',
  maxAttempts: 3,
  plan: (p) => [
    { id: 'APPLY_SETTINGS', item: 'SET_CONFIGURATION' },
    ...p.restartOrder.map((n): StepSpec => ({ id: `RESTART_NODE_${n}`, item: 'SET_CONFIGURATION', weight: 2 })),
    { id: 'VERIFY_SETTINGS', item: 'SET_CONFIGURATION', weight: 0.5 },
  ],
  steps: {
    APPLY_SETTINGS: async (ctx: Ctx) => {
      await followLeader(ctx);
      const before = await ctx.cluster();
      await ctx.write((tx) =>
        tx.updateCluster(before.id, { spec: { ...before.spec, parameters: ctx.params.parameters }, updatedAt: ctx.clock.now() }),
      );
      const cluster = await ctx.cluster();
      const nodes = await active(ctx);
      const primary = primaryOf(nodes);
      await ctx.dataPlane.applyParameters(cluster, primary, nodes, ctx.params.parameters, { signal: ctx.signal });
      ctx.progress({ source: 'pg_settings', percent: 20, info: { phase: 'applied' } });
      // Every running member shows each value, or flags it pending a restart (Patroni applies its configuration within a loop).
      const deadline = ctx.clock.now() + APPLY_TIMEOUT_MS;
      for (const n of nodes) {
        for (;;) {
          ctx.signal.throwIfAborted();
          const missing = lacking(await settingsOf(ctx, n), ctx.params.changes).reload;
          if (!missing.length) break;
          if (ctx.clock.now() > deadline)
            throw new AppError('ENGINE_NODE_FAILED', {
              args: [n.host, `it did not take ${missing.join(', ')} within ${APPLY_TIMEOUT_MS / 1000} s`],
            });
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      ctx.progress({ source: 'pg_settings', percent: 100, info: { members: nodes.length } });
    },
    RESTART_NODE: async (ctx: Ctx) => {
      const cluster = await ctx.cluster();
      const node = nodeByOrdinal(await active(ctx), ctx.n);
      if (!ctx.dataPlane.memberStatus(cluster, node)) {
        // Stopped under a crash of this step (the local engine's restart is a stop and a start): started again.
        const proc = await ctx.dataPlane.startMember(cluster, node, { signal: ctx.signal });
        await ctx.write((tx) =>
          tx.updateNode(node.id, { pid: proc.pid, pidStart: proc.startTime, health: 'up', updatedAt: ctx.clock.now() }),
        );
      }
      // Restarted already (a resumed task), or a member that took the values otherwise: nothing to do.
      if (!lacking(await settingsOf(ctx, node), ctx.params.changes).restart.length) return;
      ctx.progress({ source: 'restart', percent: 0, info: { node: node.ordinal } });
      const proc = await ctx.dataPlane.restartMember(cluster, node, { signal: ctx.signal });
      await ctx.write((tx) =>
        tx.updateNode(node.id, { pid: proc.pid, pidStart: proc.startTime, health: 'up', updatedAt: ctx.clock.now() }),
      );
      ctx.progress({ source: 'restart', percent: 100, info: { node: node.ordinal } });
    },
    VERIFY_SETTINGS: async (ctx: Ctx) => {
      await followLeader(ctx);
      await ctx.dataPlane.waitHealthy?.(await ctx.cluster(), { signal: ctx.signal });
      for (const n of await active(ctx)) {
        const l = lacking(await settingsOf(ctx, n), ctx.params.changes);
        const wrong = [...l.reload, ...l.restart];
        if (wrong.length)
          throw new AppError('ENGINE_NODE_FAILED', { args: [n.host, `it does not show the new value of ${wrong.join(', ')}`] });
      }
      await waitStandbysCaughtUp(ctx);
    },
  },
};
