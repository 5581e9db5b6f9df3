/** Step helpers shared by the cluster task definitions. */
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { StepContext } from '../definition.js';
import { runningLeader, type OnProgress } from '../../dataplane/data-plane.js';

export function primaryOf(nodes: NodeRecord[]): NodeRecord {
  const p = nodes.find((n) => n.role === 'primary');
  if (!p) throw new AppError('ENGINE_NODE_FAILED', { args: ['primary', 'the cluster has no primary node record'] });
  return p;
}

export function nodeByOrdinal(nodes: NodeRecord[], n: number | null): NodeRecord {
  const node = nodes.find((x) => x.ordinal === n);
  if (!node) throw new AppError('ENGINE_NODE_FAILED', { args: [`node ${n}`, 'no such node in the cluster'] });
  return node;
}

/** Start a node and record its PID and start time (D1: before spawning, the store already has its directory and port). */
export async function startAndRecord(ctx: StepContext<unknown>, node: NodeRecord): Promise<void> {
  const cluster = await ctx.cluster();
  const info = await ctx.dataPlane.startMember(cluster, node, { signal: ctx.signal });
  await ctx.write((tx) => tx.updateNode(node.id, { pid: info.pid, pidStart: info.startTime, health: 'up', updatedAt: ctx.clock.now() }));
}

export async function stopAndRecord(ctx: StepContext<unknown>, node: NodeRecord, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
  const cluster = await ctx.cluster();
  await ctx.dataPlane.stopMember(cluster, node, mode);
  await ctx.write((tx) => tx.updateNode(node.id, { pid: null, pidStart: null, health: 'stopped', updatedAt: ctx.clock.now() }));
}

export function replSecrets(ctx: StepContext<unknown>, replPasswordEnc: string): { replPassword: string } {
  return { replPassword: ctx.secrets.decrypt(replPasswordEnc) };
}

/**
 * Build, start and catch up one standby (D5), reporting the copy's bytes and then the
 * falling lag. Used by create, restore and scale-out.
 */
export async function buildAndStartStandby(
  ctx: StepContext<unknown>,
  node: NodeRecord,
  opts: { catchUp: boolean } = { catchUp: true },
): Promise<void> {
  const cluster = await ctx.cluster();
  const nodes = await ctx.nodes();
  const primary = primaryOf(nodes);
  await ctx.dataPlane.buildReplica(cluster, primary, node, replSecrets(ctx, cluster.replPasswordEnc), {
    signal: ctx.signal,
    onProgress: (s) =>
      ctx.progress({
        ...s,
        percent: s.percent === null || s.percent === undefined ? null : s.percent * (opts.catchUp ? 0.9 : 1),
        info: { node: node.ordinal, phase: 'copy' },
      }),
  });
  await startAndRecord(ctx, node);
  if (!opts.catchUp) return;
  await catchUpWithLeader(ctx, node, {
    onProgress: (s) =>
      ctx.progress({
        source: s.source,
        data: s.data ?? {},
        percent: 90 + (s.percent ?? 0) / 10,
        info: { node: node.ordinal, phase: 'catch-up', lagBytes: s.data?.['lagBytes'] ?? null },
      }),
  });
}

/**
 * Wait until a started standby streams with no lag behind the primary. On a highly available
 * engine the failover manager may demote the primary for a moment (its leader key lost while
 * the host is loaded; CI saw "recovery is in progress" here) or hand it over: the catch-up is
 * then measured again against whichever member leads (`withLeader`).
 */
export async function catchUpWithLeader(
  ctx: StepContext<unknown>,
  node: NodeRecord,
  o: { timeoutMs?: number; onProgress?: OnProgress } = {},
): Promise<void> {
  const cluster = await ctx.cluster();
  await withLeader(
    ctx,
    (leader) =>
      ctx.dataPlane.waitCaughtUp(cluster, leader, node.ordinal, {
        signal: ctx.signal,
        standby: node,
        ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      }),
    { again: 'always', anyMembership: true },
  );
}

/**
 * Begin the copies of `members` on an engine whose failover manager copies new members by
 * itself (Patroni, `DataPlane.beginReplica`), so they run at once; each member's own step then
 * waits for its copy (`buildReplica`). One after the other: each names its member in the
 * cluster's record. Nothing to do on an engine that copies members itself.
 */
export async function beginCopies(
  ctx: StepContext<unknown>,
  cluster: ClusterRecord,
  primary: NodeRecord,
  members: NodeRecord[],
): Promise<void> {
  for (const n of members) await ctx.dataPlane.beginReplica?.(cluster, primary, n, { signal: ctx.signal });
}

/** The node the store records as the primary, among the active members (any node of a cluster being created: `anyMembership`). */
async function recordedPrimary(ctx: StepContext<unknown>, o: { anyMembership?: boolean } = {}): Promise<NodeRecord> {
  return primaryOf((await ctx.nodes()).filter((n) => o.anyMembership || n.membership === 'active'));
}

/**
 * Work against the primary that survives a failover under it (D23). On a highly available
 * engine, when `work` fails, it runs again (up to 3 runs in all) against the member that leads
 * once one does (`followLeader`, which records it): with `again: 'lost'`, only when the
 * primary's PostgreSQL went away under the work (another member leads now, or the failover
 * manager started the old one again: its postmaster is not the one the work began with, or it
 * is in recovery), so a failure of the work's own stands; with `'always'`, whatever failed
 * (work that a moment's demotion also breaks). On an engine without a failover manager the failure stands. `work`
 * gets the primary, and where it runs again after a failover, the members it moved between.
 */
export async function withLeader<T>(
  ctx: StepContext<unknown>,
  work: (primary: NodeRecord, after: { from: number; to: number } | null) => Promise<T>,
  o: { again: 'lost' | 'always'; anyMembership?: boolean },
): Promise<T> {
  const cluster = await ctx.cluster();
  const postmaster = (n: NodeRecord): string | null => {
    const p = ctx.dataPlane.memberStatus(cluster, n);
    return p ? `${n.ordinal}:${p.pid}:${p.startTime}` : null;
  };
  // Another member leads in the failover manager's eyes: the recorded primary may have lost the
  // lead before the work began (its postmaster already started again as a replica, so the same
  // one throughout the work).
  const anotherLeads = async (n: NodeRecord): Promise<boolean> =>
    ((await ctx.dataPlane.memberRoles?.(cluster).catch(() => null)) ?? []).some(
      (r) => r.role === 'primary' && r.running && r.ordinal !== n.ordinal,
    );
  // Or the member it addressed is in recovery now: demoted for a moment, or (run again after a
  // failover) a leader whose promotion had not finished when the work reached it.
  const demoted = async (n: NodeRecord): Promise<boolean> => (await ctx.dataPlane.inRecovery?.(cluster, n).catch(() => false)) ?? false;
  let primary = await recordedPrimary(ctx, o);
  let after: { from: number; to: number } | null = null;
  for (let run = 1; ; run++) {
    const began = postmaster(primary);
    try {
      return await work(primary, after);
    } catch (e) {
      if (!ctx.dataPlane.memberRoles || run >= 3 || ctx.signal.aborted) throw e;
      if (o.again === 'lost' && postmaster(primary) === began && !(await anotherLeads(primary)) && !(await demoted(primary))) throw e;
      const next = await leaderRunning(ctx, o);
      ctx.log.warn('the primary went away under the step; running it again against the member that leads', {
        from: primary.ordinal,
        to: next.ordinal,
        error: (e as Error).message,
      });
      after = { from: primary.ordinal, to: next.ordinal };
      primary = next;
    }
  }
}

/**
 * The member that leads, recorded as the primary, once its postmaster runs (a highly available
 * engine, D23). The failover manager's view lags its members by up to a loop: just after a
 * primary died it may still name it, so this waits (up to 120 s) until the member it names
 * leads with a running postmaster.
 */
async function leaderRunning(ctx: StepContext<unknown>, o: { anyMembership?: boolean } = {}): Promise<NodeRecord> {
  const cluster = await ctx.cluster();
  const deadline = Date.now() + 120_000;
  for (;;) {
    await followLeader(ctx, Math.max(1000, deadline - Date.now()), o.anyMembership ? { anyMembership: true } : {});
    const leader = await recordedPrimary(ctx, o);
    // Patroni names the leader once it holds the key, before its promotion ends: wait for it out of recovery too.
    if (ctx.dataPlane.memberStatus(cluster, leader) && !(await ctx.dataPlane.inRecovery?.(cluster, leader).catch(() => true)))
      return leader;
    if (Date.now() > deadline)
      throw new AppError('ENGINE_NODE_FAILED', {
        args: [leader.host, 'the failover manager names it the leader, but its PostgreSQL has not run out of recovery for 120 s'],
      });
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * On a highly available engine (D23) the failover manager decides who leads: wait (up to
 * `timeoutMs`) until one member leads and runs, and record the roles it reports in the store,
 * so the steps that follow talk to the real primary. Nothing to do on an engine without one.
 */
export async function followLeader(ctx: StepContext<unknown>, timeoutMs = 120_000, o: { anyMembership?: boolean } = {}): Promise<void> {
  const dp = ctx.dataPlane;
  if (!dp.memberRoles) return;
  const cluster = await ctx.cluster();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    ctx.signal.throwIfAborted();
    const roles = await dp.memberRoles(cluster).catch(() => null);
    // A cluster being created has no active member yet: its nodes all count (`anyMembership`).
    const nodes = (await ctx.nodes()).filter((n) => o.anyMembership || n.membership === 'active');
    const leader = runningLeader(roles, nodes);
    if (leader) {
      const changed = nodes.filter((n) => (n.ordinal === leader.ordinal) !== (n.role === 'primary'));
      if (changed.length)
        await ctx.write(async (tx) => {
          for (const n of changed)
            await tx.updateNode(n.id, { role: n.ordinal === leader.ordinal ? 'primary' : 'standby', updatedAt: ctx.clock.now() });
        });
      return;
    }
    if (Date.now() > deadline)
      throw new AppError('ENGINE_NODE_FAILED', {
        args: [
          'the cluster',
          `no member leads it after ${Math.round(timeoutMs / 1000)} s (the failover manager reports ${JSON.stringify(roles)})`,
        ],
      });
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * The cluster and its primary, which must be running (the step reads or writes it). On a highly
 * available engine that is the member that leads now: after a failover under the task (D23) the
 * steps go on against the new leader, once there is one (`followLeader`). `then` ends the
 * message of a primary that is not running ("…, then <then>").
 */
export async function livePrimary(ctx: StepContext<unknown>, then: string): Promise<{ cluster: ClusterRecord; primary: NodeRecord }> {
  const cluster = await ctx.cluster();
  const primary = ctx.dataPlane.memberRoles ? await leaderRunning(ctx) : await recordedPrimary(ctx);
  if (!ctx.dataPlane.memberStatus(cluster, primary))
    throw new AppError('ENGINE_NODE_FAILED', { args: [primary.host, `the primary is not running; restart the cluster, then ${then}`] });
  return { cluster, primary };
}

/** Every active standby caught up with the primary's position now (pg_stat_replication), with progress per standby. */
export async function waitStandbysCaughtUp(ctx: StepContext<unknown>): Promise<void> {
  const cluster = await ctx.cluster();
  const nodes = (await ctx.nodes()).filter((n) => n.membership === 'active');
  const primary = primaryOf(nodes);
  const lsn = await ctx.dataPlane.currentLsn(cluster, primary);
  const standbys = nodes.filter((n) => n.id !== primary.id);
  let i = 0;
  for (const n of standbys) {
    await ctx.dataPlane.waitCaughtUp(cluster, primary, n.ordinal, { signal: ctx.signal, targetLsn: lsn, timeoutMs: 120_000, standby: n });
    ctx.progress({ source: 'pg_stat_replication', percent: (100 * ++i) / standbys.length, info: { node: n.ordinal } });
  }
}
