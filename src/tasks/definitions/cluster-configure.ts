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
 *
 * The maintenance window (docs/api.md#the-maintenance-window): unless the request asks to
 * restart now, a change that takes a restart is `deferRestart`: no RESTART_NODE steps; the
 * values are applied (pending on every member) and the task's success records the restart on
 * the cluster, due at its window. The task then ends, and with it the cluster's one-task lock:
 * snapshots and other work go on while the restart waits. At the window the scheduler
 * (services/maintenance-restarts.ts) fires a `scheduled` task of this kind: CHECK_PENDING reads
 * what is still pending on every member (and ends the task at once, saying so, when nothing
 * is: a restart of the cluster meanwhile applied it), then RESTART_NODE_<n> in the same order.
 */
import { maintenanceDue, nextWindowStart } from '../../domain/maintenance-window.js';
import { nodeTypeSettings } from '../../domain/flavors.js';
import { findNodeType } from '../../domain/node-types.js';
import { OFFERED_PARAMETERS, primaryFirst, sameSetting, type ParameterChange, type PgSettingRow } from '../../domain/parameters.js';
import type { NodeRecord, PendingRestart } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { OutcomeContext, StepContext, StepSpec, TaskDefinition } from '../definition.js';
import { followLeader, nodeByOrdinal, primaryOf, waitStandbysCaughtUp } from './member-steps.js';

export interface ConfigureParams {
  clusterId: string;
  /** what changes, with the values before as the primary showed them (the audit records read them) */
  changes: ParameterChange[];
  /** every parameter the cluster's spec holds after the change */
  parameters: Record<string, string>;
  /** the members to restart, in order (empty: every change is reload-only, or the restart is deferred) */
  restartOrder: number[];
  /** the restart a change takes waits for the maintenance window: the task applies the values and records it */
  deferRestart?: boolean;
  /** the restart that waited, fired at the window: `changes` are the values it applies */
  scheduled?: boolean;
  /** a node-type change (ExecuteFlavorChange): the type the cluster moves to; `changes` are its settings */
  nodeType?: string;
}

export interface ConfigureState {
  /** a scheduled restart found nothing pending on any member: the rest of the task does nothing */
  notNeeded: boolean;
}

type Ctx = StepContext<ConfigureParams, ConfigureState, never>;

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

/**
 * What a restart of member `n` would apply: the task's restart changes and the values waiting
 * for the window (PendingRestart) that it does not show yet, and any offered parameter its
 * pg_settings flags pending. Both, since Patroni passes some parameters on the postmaster's
 * command line, where pg_settings never flags them pending.
 */
async function pendingOn(ctx: Ctx, n: NodeRecord): Promise<string[]> {
  const cluster = await ctx.cluster();
  const own = ctx.params.changes.filter((c) => c.restart);
  const waiting = (cluster.pendingRestart?.parameters ?? [])
    .filter((p) => !own.some((c) => c.name === p.name))
    .map((p): ParameterChange => ({ name: p.name, oldValue: p.running, newValue: p.value, restart: true }));
  const expected = [...own, ...waiting];
  const names = [...new Set([...expected.map((c) => c.name), ...Object.keys(OFFERED_PARAMETERS)])];
  const rows = await ctx.dataPlane.pgSettings(cluster, n, names);
  return [...new Set([...lacking(rows, expected).restart, ...rows.filter((r) => r.pendingRestart).map((r) => r.name)])];
}

/** The restart changes of a task as the cluster keeps them waiting, merged over what already waits. */
function mergePending(old: PendingRestart | null, changes: readonly ParameterChange[], taskId: string, now: number): PendingRestart {
  const values = new Map((old?.parameters ?? []).map((p) => [p.name, p]));
  for (const c of changes)
    if (c.restart) values.set(c.name, { name: c.name, value: c.newValue, running: values.get(c.name)?.running ?? c.oldValue });
  return { parameters: [...values.values()], since: old?.since ?? now, taskId };
}

/** A deferring task's restart recorded on the cluster, due at its window (or at once within it; never later than already due). */
async function recordPending(ctx: OutcomeContext<ConfigureParams, ConfigureState>): Promise<void> {
  if (!ctx.params.deferRestart || !ctx.params.changes.some((c) => c.restart)) return;
  const c = await ctx.tx.getClusterById(ctx.params.clusterId);
  if (!c) return;
  const due = maintenanceDue(c.maintainWindow, ctx.now);
  await ctx.tx.updateCluster(c.id, {
    pendingRestart: mergePending(c.pendingRestart, ctx.params.changes, ctx.task.id, ctx.now),
    restartDueAt: c.restartDueAt === null ? due : Math.min(c.restartDueAt, due),
  });
}

export const clusterConfigure: TaskDefinition<ConfigureParams, ConfigureState, never> = {
  kind: 'cluster.configure',
  maxAttempts: 3,
  plan: (p) => [
    p.scheduled ? { id: 'CHECK_PENDING', item: 'SET_CONFIGURATION', weight: 0.2 } : { id: 'APPLY_SETTINGS', item: 'SET_CONFIGURATION' },
    ...p.restartOrder.map((n): StepSpec => ({ id: `RESTART_NODE_${n}`, item: 'SET_CONFIGURATION', weight: 2 })),
    { id: 'VERIFY_SETTINGS', item: 'SET_CONFIGURATION', weight: 0.5 },
  ],
  steps: {
    CHECK_PENDING: async (ctx: Ctx) => {
      await followLeader(ctx);
      const pending: Record<string, string[]> = {};
      for (const n of await active(ctx)) {
        const names = await pendingOn(ctx, n);
        if (names.length) pending[`node${n.ordinal}`] = names;
      }
      const notNeeded = Object.keys(pending).length === 0;
      await ctx.setState({ notNeeded });
      if (notNeeded)
        ctx.log.info('the restart that waited for the maintenance window is no longer needed: no member has a parameter pending a restart');
      ctx.progress({ source: 'pg_settings', percent: 100, info: notNeeded ? { phase: 'restart not needed' } : { pending } });
    },
    APPLY_SETTINGS: async (ctx: Ctx) => {
      await followLeader(ctx);
      const before = await ctx.cluster();
      const nodeType = ctx.params.nodeType ? findNodeType(ctx.params.nodeType) : undefined;
      await ctx.write((tx) =>
        tx.updateCluster(before.id, {
          spec: { ...before.spec, parameters: ctx.params.parameters },
          ...(nodeType ? { nodeType: nodeType.specName } : {}),
          updatedAt: ctx.clock.now(),
        }),
      );
      const cluster = await ctx.cluster();
      const nodes = await active(ctx);
      const primary = primaryOf(nodes);
      // A node-type change hands the engine the type's settings too (Patroni keeps them in its dynamic configuration).
      const applied = nodeType ? { ...nodeTypeSettings(nodeType), ...ctx.params.parameters } : ctx.params.parameters;
      await ctx.dataPlane.applyParameters(cluster, primary, nodes, applied, { signal: ctx.signal });
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
      if (ctx.state.notNeeded) return;
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
      if (!(await pendingOn(ctx, node)).length) return;
      // A hot-standby parameter that went down restarts the primary first; a standby may start
      // with the lower value only once it has replayed the primary's record of it (else
      // PostgreSQL aborts its recovery: "insufficient parameter settings").
      if (primaryFirst(ctx.params.changes) && node.role !== 'primary') {
        const primary = primaryOf(await active(ctx));
        const lsn = await ctx.dataPlane.currentLsn(cluster, primary);
        await ctx.dataPlane.waitCaughtUp(cluster, primary, node.ordinal, {
          signal: ctx.signal,
          targetLsn: lsn,
          timeoutMs: 120_000,
          standby: node,
        });
      }
      ctx.progress({ source: 'restart', percent: 0, info: { node: node.ordinal } });
      const proc = await ctx.dataPlane.restartMember(cluster, node, { signal: ctx.signal });
      await ctx.write((tx) =>
        tx.updateNode(node.id, { pid: proc.pid, pidStart: proc.startTime, health: 'up', updatedAt: ctx.clock.now() }),
      );
      ctx.progress({ source: 'restart', percent: 100, info: { node: node.ordinal } });
    },
    VERIFY_SETTINGS: async (ctx: Ctx) => {
      if (ctx.state.notNeeded) return;
      await followLeader(ctx);
      await ctx.dataPlane.waitHealthy?.(await ctx.cluster(), { signal: ctx.signal });
      for (const n of await active(ctx)) {
        const l = lacking(await settingsOf(ctx, n), ctx.params.changes);
        // A deferred restart's values are pending until the window: only the reload-only ones must show.
        const wrong = ctx.params.deferRestart ? l.reload : [...l.reload, ...l.restart];
        if (wrong.length)
          throw new AppError('ENGINE_NODE_FAILED', { args: [n.host, `it does not show the new value of ${wrong.join(', ')}`] });
      }
      await waitStandbysCaughtUp(ctx);
    },
  },
  /**
   * A deferred restart is recorded on the cluster, due at its window; a task that restarted the
   * members (asked to run now, or the scheduled one) leaves nothing waiting.
   */
  async extrasOnSuccess(ctx) {
    if (ctx.params.deferRestart) return recordPending(ctx);
    if (ctx.params.restartOrder.length) await ctx.tx.updateCluster(ctx.params.clusterId, { pendingRestart: null, restartDueAt: null });
  },
  /**
   * A deferring task that failed may have applied its values (pending on the members): its
   * restart is recorded all the same (when it fires and nothing is pending, it ends at once). A
   * scheduled restart that failed waits for the next window, the values still pending.
   */
  async extrasOnFailure(ctx) {
    if (ctx.params.deferRestart) return recordPending(ctx);
    if (!ctx.params.scheduled) return;
    const c = await ctx.tx.getClusterById(ctx.params.clusterId);
    if (c?.pendingRestart) await ctx.tx.updateCluster(c.id, { restartDueAt: nextWindowStart(c.maintainWindow, ctx.now) });
  },
};
