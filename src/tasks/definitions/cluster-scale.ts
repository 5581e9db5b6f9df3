/**
 * cluster.scale_out (GROWING, actionType Expand) and cluster.scale_in (CLUSTER_SHRINKING,
 * actionType Shrink).
 *
 * Scale-out adds hot standbys (D5): the node rows exist from the moment the request is
 * accepted, with membership `building`, so nodes/endpoints/number_of_node do not change until
 * PUBLISH_NODES makes them `active` in one transaction, after every new node has caught up
 * with the primary's LSN fixed when CATCH_UP began. The primary is never restarted: the
 * cluster keeps serving reads and writes throughout. Any failure rolls back
 * (REMOVE_ADDED_NODES): the new nodes leave the topology, are stopped by PID, their slots
 * dropped, their files and rows removed; the task ends ROLLBACK_SUCCESS (or ROLLBACK_FAIL,
 * naming what is left and how to remove it) and the cluster shows RESIZE_FAILURE (D8).
 *
 * Scale-in removes the highest-numbered standbys, never the primary and never below 3
 * nodes: each leaves nodes/endpoints first (`removing`), then is stopped, its slot dropped,
 * its files and row removed; UPDATE_TOPOLOGY sets number_of_node. A failure returns the nodes
 * not yet past the point of no return (slot dropped) to service, finishes removing the
 * others, and shows CLUSTER_SHRINK_FAILED.
 */
import { findNodeType } from '../../domain/node-types.js';
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import { growProblemError, growProblems, MIN_CLUSTER_NODES, type GrowFigures } from '../../domain/scale.js';
import { AppError, coerceError } from '../../errors/app-error.js';
import type { NoState, StepContext, StepSpec, TaskDefinition } from '../definition.js';
import { beginCopies, nodeByOrdinal, primaryOf, replSecrets, startAndRecord, withLeader } from './member-steps.js';

export interface ScaleOutParams {
  clusterId: string;
  /** nodes added (resize_info.target_node_num = origin + count) */
  count: number;
  /** node numbers of the new nodes, ascending */
  ordinals: number[];
  /** ids of the new node rows (inserted with the task) */
  nodeIds: string[];
  /** number_of_node when the request was accepted */
  originNodeNum: number;
}

export interface ScaleInParams {
  clusterId: string;
  count: number;
  /** node numbers removed, highest first */
  ordinals: number[];
  originNodeNum: number;
}

/**
 * Where a scale-out step resumes from: CHECK_GROW has judged capacity once (a resumed check
 * does not judge it again: the new nodes may already hold their memory); COPY_DATA has thrown
 * away what an earlier task left under the node's directory; CATCH_UP waits for the LSN it read
 * when it first began.
 */
interface ScaleOutCheckpoint {
  checked?: true;
  copying?: true;
  targetLsn?: string;
}

type OutCtx = StepContext<ScaleOutParams, NoState, ScaleOutCheckpoint>;
type InCtx = StepContext<ScaleInParams, NoState, never>;

/** A catch-up that makes no progress for this long fails (a node that never connects, say). */
const CATCH_UP_STALL_MS = 120_000;

async function primaryIsUp(ctx: StepContext<unknown>, primary: NodeRecord): Promise<boolean> {
  const cluster = await ctx.cluster();
  if (!ctx.dataPlane.memberStatus(cluster, primary)) return false;
  try {
    await ctx.dataPlane.currentLsn(cluster, primary);
    return true;
  } catch {
    return false;
  }
}

const addedNodes = (ctx: OutCtx, nodes: NodeRecord[]): NodeRecord[] => nodes.filter((n) => ctx.params.nodeIds.includes(n.id));

/**
 * Nodes that are neither members nor this task's own are what an earlier scale-out or
 * scale-in could not finish removing (its undo failed; it said so). This task holds the
 * cluster, so nothing else owns them: running the operation again removes them.
 */
async function removeStaleNodes(ctx: StepContext<unknown>, own: readonly string[]): Promise<number[]> {
  const cluster = await ctx.cluster();
  const nodes = await ctx.nodes();
  const primary = nodes.find((n) => n.role === 'primary') ?? null;
  const stale = nodes.filter((n) => n.membership !== 'active' && n.role === 'standby' && !own.includes(n.id));
  for (const n of stale) {
    await ctx.dataPlane.removeReplica(cluster, primary, n, 'immediate');
    await ctx.write((tx) => tx.deleteNode(n.id));
    ctx.log.info('removed a node left over by an earlier operation', { node: n.ordinal, membership: n.membership });
  }
  return stale.map((n) => n.ordinal);
}

// ------------------------------------------------------------------ scale-out steps

/**
 * Re-check, now that the task runs, what the service checked when it accepted the request:
 * the primary is up, the new nodes' addresses are free, and the host and the project can
 * hold them (D6, D18). On a resumed step the capacity figures are not re-judged (the nodes
 * may already be running and holding their memory); addresses and the primary are.
 */
async function checkGrow(ctx: OutCtx): Promise<void> {
  const cluster = await ctx.cluster();
  const nodes = await ctx.nodes();
  const added = addedNodes(ctx, nodes);
  if (added.length !== ctx.params.count) {
    throw new AppError('ENGINE_NODE_FAILED', {
      args: [`nodes ${ctx.params.ordinals.join(', ')}`, `${added.length} of ${ctx.params.count} node records exist`],
    });
  }
  const primary = primaryOf(nodes);
  ctx.dataPlane.prepareCluster(cluster);
  const cleaned = await removeStaleNodes(ctx, ctx.params.nodeIds);
  const resumed = ctx.checkpoint?.checked === true;
  const busy: string[] = [];
  for (const n of added) {
    if (ctx.dataPlane.memberStatus(cluster, n)) continue; // ours, already running (a resumed task)
    if (!(await ctx.dataPlane.isAddressFree(n.host, n.port))) busy.push(`${n.host}:${n.port}`);
  }
  const up = await primaryIsUp(ctx, primary);
  const cap = ctx.dataPlane.capacity();
  const [projectNodes, hostNodes] = await Promise.all([ctx.store.countNodes(cluster.projectId), ctx.store.countNodes()]);
  const f: GrowFigures = {
    status: cluster.status,
    stopped: cluster.stopped,
    busyWith: null,
    primaryUp: up,
    existingOrdinals: nodes.filter((n) => !added.includes(n)).map((n) => n.ordinal),
    activeNodes: nodes.filter((n) => n.membership === 'active').length,
    count: added.length,
    // the new rows are already counted by the store
    projectNodes: projectNodes - added.length,
    projectQuota: ctx.config.projectNodeQuota,
    hostNodes: hostNodes - added.length,
    hostNodeLimit: ctx.config.maxNodes,
    memAvailableBytes: cap.memAvailableBytes,
    memPerNodeBytes: (findNodeType(cluster.nodeType)?.memoryBytes ?? 0) + ctx.dataPlane.memberOverheadBytes,
    diskFreeBytes: cap.dataDiskFreeBytes,
    copyBytes: up ? await ctx.dataPlane.databaseBytes(cluster, primary) : 0,
    port: cluster.port,
    wildcardListener: ctx.dataPlane.wildcardListener(cluster.port),
    busyAddresses: busy,
    downStandbys: [],
  };
  const capacity = new Set(['NODE_QUOTA', 'HOST_NODE_LIMIT', 'HOST_MEMORY', 'HOST_DISK']);
  const blocking = growProblems(f).filter((p) => p.required && !(resumed && capacity.has(p.reason)));
  if (blocking[0]) throw growProblemError(blocking[0], cluster.name);
  await ctx.setCheckpoint({ checked: true });
  ctx.progress({
    source: 'grow-check',
    percent: 100,
    // The host's free memory and disk are the operator's to see, not a tenant's (docs/security.md).
    info: { nodes: ctx.params.ordinals, copyBytes: f.copyBytes, removedLeftovers: cleaned },
  });
}

/**
 * The node's copy of the running primary, slot dwsbox_node<n> (D5; local/replication.ts
 * buildStandby: a file copy under pg_backup_start/pg_backup_stop, else pg_basebackup), with
 * the bytes copied and the rate. The first run in this task
 * throws away whatever an earlier task may have left under the node's directory; a resumed
 * run keeps a finished copy (buildStandby is idempotent).
 *
 * An engine whose failover manager copies new members by itself (Patroni, `beginReplica`)
 * copies every new node at once: the first node's step clears every new node's directory and
 * begins the others' copies, and each node's step waits for its own (a scale-out by 3 took
 * three copies one after the other, 8.5 s against 2.2 s raw).
 */
async function copyData(ctx: OutCtx): Promise<void> {
  const cluster = await ctx.cluster();
  const nodes = await ctx.nodes();
  const added = addedNodes(ctx, nodes);
  const node = nodeByOrdinal(added, ctx.n);
  const primary = primaryOf(nodes);
  const together = ctx.dataPlane.beginReplica !== undefined;
  const first = ctx.params.ordinals[0] === ctx.n;
  if (ctx.checkpoint === null && (!together || first)) {
    for (const n of together ? added : [node]) {
      if (ctx.dataPlane.memberStatus(cluster, n)) await ctx.dataPlane.stopMember(cluster, n, 'immediate');
      await ctx.dataPlane.removeMemberFiles(cluster, n.ordinal);
    }
    await ctx.setCheckpoint({ copying: true });
    await beginCopies(
      ctx,
      cluster,
      primary,
      added.filter((x) => x.id !== node.id),
    );
  }
  await ctx.dataPlane.buildReplica(cluster, primary, node, replSecrets(ctx, cluster.replPasswordEnc), {
    signal: ctx.signal,
    onProgress: (s) => ctx.progress({ ...s, info: { node: node.ordinal } }),
  });
}

async function startNode(ctx: OutCtx): Promise<void> {
  const node = nodeByOrdinal(addedNodes(ctx, await ctx.nodes()), ctx.n);
  await startAndRecord(ctx, node);
  ctx.progress({ source: 'pg_ctl', percent: 100, info: { node: node.ordinal } });
}

/**
 * D5's "caught up", for every new node at once: `streaming`, and `replay_lsn` at or past the
 * primary's pg_current_wal_lsn() read when this step first began. The target is kept in the
 * step's checkpoint, so a resumed step waits for the same LSN. Progress is the total of bytes
 * the new nodes still have to replay up to it, falling to 0.
 */
async function catchUp(ctx: OutCtx): Promise<void> {
  const cluster = await ctx.cluster();
  const added = addedNodes(ctx, await ctx.nodes());
  // A failover under the step (D23): the new nodes follow the member that leads now, and the
  // target is read again from it (the old primary's position may be past the new timeline's fork).
  await withLeader(
    ctx,
    async (primary, after) => {
      let target = after ? undefined : ctx.checkpoint?.targetLsn;
      if (!target) {
        target = await ctx.dataPlane.currentLsn(cluster, primary);
        await ctx.setCheckpoint({ targetLsn: target });
      }
      await waitAddedCaughtUp(ctx, cluster, primary, added, target);
    },
    { again: 'lost' },
  );
}

async function waitAddedCaughtUp(
  ctx: OutCtx,
  cluster: ClusterRecord,
  primary: NodeRecord,
  added: NodeRecord[],
  target: string,
): Promise<void> {
  let total = 0;
  let lastSig = '';
  let lastChange = ctx.clock.now();
  const began = lastChange;
  for (;;) {
    if (ctx.signal.aborted) throw ctx.signal.reason as Error;
    // A new node that stopped running never catches up: fail now (the scale-out rolls back), not at the stall limit.
    for (const n of added) ctx.dataPlane.assertRunning(cluster, n, 'while catching up with the primary');
    const states = await Promise.all(
      added.map(async (n) => ({ node: n.ordinal, ...(await ctx.dataPlane.replicationState(cluster, primary, n.ordinal, target)) })),
    );
    // A node that has not connected yet counts with the largest lag seen of any node.
    const maxKnown = Math.max(0, ...states.map((s) => s.lagBytes ?? 0));
    const left = states.reduce((a, s) => a + (s.lagBytes ?? maxKnown), 0);
    total = Math.max(total, left);
    const caughtUp = states.every((s) => s.state === 'streaming' && s.lagBytes === 0);
    const sig = JSON.stringify(states.map((s) => [s.state, s.lagBytes]));
    if (sig !== lastSig) {
      lastSig = sig;
      lastChange = ctx.clock.now();
      ctx.progress({
        source: 'pg_stat_replication',
        bytesDone: total - left,
        bytesTotal: total,
        percent: total > 0 ? (100 * (total - left)) / total : caughtUp ? 100 : 0,
        data: { targetLsn: target, lagBytes: left, nodes: states },
        info: { targetLsn: target, lagBytes: left, streaming: states.filter((s) => s.state === 'streaming').map((s) => s.node) },
      });
    }
    if (caughtUp) return;
    if (ctx.clock.now() - lastChange > CATCH_UP_STALL_MS) {
      const detail = states.map((s) => `node ${s.node}: ${s.state ?? 'not connected'}, ${s.lagBytes ?? '?'} bytes behind`).join('; ');
      throw new AppError('STEP_TIMEOUT', {
        args: ['CATCH_UP', Math.round(CATCH_UP_STALL_MS / 1000), `the new nodes to stream and replay up to ${target} (${detail})`],
      });
    }
    // New nodes usually stream within a second of their start: poll closely then, gently after.
    await ctx.clock.sleep(ctx.clock.now() - began < 3000 ? 20 : 100, ctx.signal);
  }
}

/** One transaction: the new nodes become members and number_of_node grows (idempotent). */
async function publishNodes(ctx: OutCtx): Promise<void> {
  const now = ctx.clock.now();
  await ctx.write(async (tx) => {
    for (const n of await tx.listNodes(ctx.params.clusterId)) {
      if (ctx.params.nodeIds.includes(n.id) && n.membership === 'building')
        await tx.updateNode(n.id, { membership: 'active', updatedAt: now });
    }
    await tx.updateCluster(ctx.params.clusterId, { numberOfNode: ctx.params.originNodeNum + ctx.params.count, updatedAt: now });
  });
  ctx.progress({ source: 'store', percent: 100, info: { nodes: ctx.params.ordinals } });
}

/**
 * Undo of a scale-out: the new nodes leave the topology (and number_of_node goes back) in one
 * transaction, then each is stopped by PID (immediate: its data is thrown away), its slot
 * dropped on the primary, its files and row removed. Idempotent; what cannot be removed is
 * named, with how to remove it, in the error (the task then ends ROLLBACK_FAIL).
 */
async function removeAddedNodes(ctx: OutCtx): Promise<void> {
  const cluster = await ctx.cluster();
  const nodes = await ctx.nodes();
  const primary = nodes.find((n) => n.role === 'primary') ?? null;
  const added = addedNodes(ctx, nodes).sort((a, b) => b.ordinal - a.ordinal);
  const now = ctx.clock.now();
  await ctx.write(async (tx) => {
    for (const n of added) if (n.membership !== 'removing') await tx.updateNode(n.id, { membership: 'removing', updatedAt: now });
    await tx.updateCluster(cluster.id, { numberOfNode: ctx.params.originNodeNum, updatedAt: now });
  });
  const left: string[] = [];
  let i = 0;
  for (const n of added) {
    try {
      await ctx.dataPlane.removeReplica(cluster, primary, n, 'immediate');
      await ctx.write((tx) => tx.deleteNode(n.id));
    } catch (e) {
      left.push(coerceError(e).message);
    }
    ctx.progress({ source: 'rollback', percent: (100 * ++i) / Math.max(1, added.length), info: { node: n.ordinal } });
  }
  // Rows already gone (a resumed undo): make sure their files and slots are too.
  const primaryUp = primary !== null && ctx.dataPlane.memberStatus(cluster, primary) !== null;
  for (const o of ctx.params.ordinals.filter((o) => !added.some((n) => n.ordinal === o))) {
    await ctx.dataPlane.removeMemberFiles(cluster, o);
    if (primaryUp) await ctx.dataPlane.dropReplicaSlot(cluster, primary, o);
  }
  if (left.length) {
    throw new AppError('ENGINE_NODE_FAILED', {
      args: [
        `added nodes ${ctx.params.ordinals.join(', ')}`,
        `${left.join(' | ')}. The cluster's original nodes are untouched; once this is cleaned up, the scale-out can be run again`,
      ],
    });
  }
}

export const clusterScaleOut: TaskDefinition<ScaleOutParams, NoState, ScaleOutCheckpoint> = {
  kind: 'cluster.scale_out',
  maxAttempts: 3,
  plan(p) {
    const steps: StepSpec[] = [{ id: 'CHECK_GROW', item: 'PRE_CHECK', weight: 0.2 }];
    for (const n of p.ordinals) {
      steps.push(
        { id: `COPY_DATA_${n}`, item: 'ADD_NODES', weight: 3, runsTools: true },
        { id: `START_NODE_${n}`, item: 'ADD_NODES', weight: 0.5 },
      );
    }
    steps.push({ id: 'CATCH_UP', item: 'SYNC_DATA', weight: 1 }, { id: 'PUBLISH_NODES', item: 'UPDATE_TOPOLOGY', weight: 0.2 });
    return steps;
  },
  steps: {
    CHECK_GROW: checkGrow,
    COPY_DATA: copyData,
    START_NODE: startNode,
    CATCH_UP: catchUp,
    PUBLISH_NODES: publishNodes,
    REMOVE_ADDED_NODES: removeAddedNodes,
  },
  // Its nodes were published by PUBLISH_NODES; the runner applies the D8 state (RESIZE_FAILURE on failure).
  failure: { mode: 'rollback', steps: () => [{ id: 'REMOVE_ADDED_NODES', item: 'ROLLBACK' }] },
};

// ------------------------------------------------------------------ scale-in steps

async function checkShrink(ctx: InCtx): Promise<void> {
  const cluster = await ctx.cluster();
  const mine = (await ctx.nodes()).filter((n) => ctx.params.ordinals.includes(n.ordinal)).map((n) => n.id);
  const cleaned = await removeStaleNodes(ctx, mine);
  const nodes = await ctx.nodes();
  const primary = primaryOf(nodes);
  if (!(await primaryIsUp(ctx, primary))) {
    throw new AppError('CLUSTER_STATE_CONFLICT', {
      args: [cluster.name, "its primary node is not running; the removed standbys' slots are dropped on it. Restart the cluster first"],
    });
  }
  const members = nodes.filter((n) => n.membership !== 'building');
  for (const o of ctx.params.ordinals) {
    const n = members.find((x) => x.ordinal === o);
    if (!n) continue; // already removed (a resumed task)
    if (n.role !== 'standby') throw new AppError('VERIFY_FAILED', { args: [`node ${o} is the primary; a scale-in removes standbys only`] });
  }
  const remaining = members.filter((n) => !ctx.params.ordinals.includes(n.ordinal)).length;
  if (remaining < MIN_CLUSTER_NODES)
    throw new AppError('VERIFY_FAILED', { args: [`the cluster would keep ${remaining} nodes; it needs at least ${MIN_CLUSTER_NODES}`] });
  ctx.progress({ source: 'shrink-check', percent: 100, info: { nodes: ctx.params.ordinals, remaining, removedLeftovers: cleaned } });
}

/** The node leaves nodes/endpoints (`removing`), then is stopped, its slot dropped, its files and row removed. */
async function removeNode(ctx: InCtx): Promise<void> {
  const cluster = await ctx.cluster();
  const nodes = await ctx.nodes();
  const node = nodes.find((n) => n.ordinal === ctx.n);
  if (!node) return; // removed before a crash
  const primary = primaryOf(nodes);
  if (node.membership !== 'removing')
    await ctx.write((tx) => tx.updateNode(node.id, { membership: 'removing', updatedAt: ctx.clock.now() }));
  ctx.progress({ source: 'pg_ctl', percent: 30, info: { node: node.ordinal, phase: 'stop' } });
  await ctx.dataPlane.removeReplica(cluster, primary, node, 'fast');
  await ctx.write((tx) => tx.deleteNode(node.id));
  ctx.progress({ source: 'store', percent: 100, info: { node: node.ordinal, phase: 'removed', slot: node.slotName } });
}

async function publishShrink(ctx: InCtx): Promise<void> {
  const now = ctx.clock.now();
  const want = ctx.params.originNodeNum - ctx.params.count;
  await ctx.write(async (tx) => {
    const active = (await tx.listNodes(ctx.params.clusterId)).filter((n) => n.membership === 'active').length;
    if (active !== want) throw new AppError('VERIFY_FAILED', { args: [`the cluster has ${active} member nodes, expected ${want}`] });
    await tx.updateCluster(ctx.params.clusterId, { numberOfNode: want, updatedAt: now });
  });
  ctx.progress({ source: 'store', percent: 100, info: { numberOfNode: want } });
}

/**
 * Undo of a failed scale-in, as far as it goes: a node whose slot still exists (it was at
 * most stopped) is started again and rejoins; a node past that point is removed for good.
 * number_of_node then counts the members there are.
 */
async function restoreNodes(ctx: InCtx): Promise<void> {
  const cluster = await ctx.cluster();
  const nodes = await ctx.nodes();
  const primary = primaryOf(nodes);
  const primaryUp = ctx.dataPlane.memberStatus(cluster, primary) !== null;
  const slots = primaryUp ? new Set((await ctx.dataPlane.replicationSlots(cluster, primary)).map((s) => s.ordinal)) : null;
  const left: string[] = [];
  for (const o of ctx.params.ordinals) {
    const node = nodes.find((n) => n.ordinal === o);
    try {
      if (!node) {
        await ctx.dataPlane.removeMemberFiles(cluster, o);
        if (primaryUp) await ctx.dataPlane.dropReplicaSlot(cluster, primary, o);
        continue;
      }
      // With the primary down nothing can have dropped the slot (removeStandby drops it there).
      const slotKept = slots === null || slots.has(o);
      if (slotKept && ctx.dataPlane.memberHasData(cluster, node)) {
        await startAndRecord(ctx, node);
        await ctx.write((tx) => tx.updateNode(node.id, { membership: 'active', updatedAt: ctx.clock.now() }));
      } else {
        await ctx.dataPlane.removeReplica(cluster, primaryUp ? primary : null, node, 'fast');
        await ctx.write((tx) => tx.deleteNode(node.id));
      }
    } catch (e) {
      left.push(`node ${o}: ${coerceError(e).message}`);
    }
  }
  await ctx.write(async (tx) => {
    const active = (await tx.listNodes(cluster.id)).filter((n) => n.membership === 'active').length;
    await tx.updateCluster(cluster.id, { numberOfNode: active, updatedAt: ctx.clock.now() });
  });
  if (left.length) throw new AppError('ENGINE_NODE_FAILED', { args: [`nodes ${ctx.params.ordinals.join(', ')}`, left.join(' | ')] });
}

export const clusterScaleIn: TaskDefinition<ScaleInParams, NoState, never> = {
  kind: 'cluster.scale_in',
  maxAttempts: 3,
  plan(p) {
    return [
      { id: 'CHECK_SHRINK', item: 'SCALE_IN', weight: 0.2 },
      ...p.ordinals.map((n) => ({ id: `REMOVE_NODE_${n}`, item: 'SCALE_IN' })),
      { id: 'UPDATE_TOPOLOGY', item: 'SCALE_IN', weight: 0.2 },
    ];
  },
  steps: {
    CHECK_SHRINK: checkShrink,
    REMOVE_NODE: removeNode,
    UPDATE_TOPOLOGY: publishShrink,
    RESTORE_NODES: restoreNodes,
  },
  // The runner applies the D8 state (CLUSTER_SHRINK_FAILED on failure).
  failure: { mode: 'cleanup', steps: () => [{ id: 'RESTORE_NODES', item: 'ROLLBACK' }] },
};
