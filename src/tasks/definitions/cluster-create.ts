/**
 * cluster.create (CREATING): a primary from a pooled, stopped, freshly initialised data
 * directory (initdb when the pool is empty) and, before its first start, a copy of it for each
 * standby (the local engine: local/member-copies.ts); the primary started with its
 * replication role and the standbys' slots (made before its first checkpoint, so each copy
 * streams from its own checkpoint); then at once its own stanza with working archiving (D3)
 * and the standbys started; each standby caught up (D5; one that could not use its copy is
 * built by pg_basebackup there), the administrator, and a check that all of it works.
 * A failure cleans up every process and file and ends CREATION FAILED with failed_reasons.
 */
import { findNodeType } from '../../domain/node-types.js';
import { pollUntil, PollTimeout } from '../../domain/poll.js';
import { AppError } from '../../errors/app-error.js';
import type { OutcomeContext, StepContext, StepSpec, TaskDefinition } from '../definition.js';
import { beginCopies, buildAndStartStandby, followLeader, nodeByOrdinal, primaryOf, replSecrets, startAndRecord } from './member-steps.js';
import { settleAll } from '../../errors/settle.js';

export interface ClusterCreateParams {
  clusterId: string;
  numberOfNode: number;
}

/** Task-wide state: the administrator was made while archiving was enabled (CREATE_ADMIN then has nothing left to do). */
export interface ClusterCreateState {
  adminReady: boolean;
}

type Ctx = StepContext<ClusterCreateParams, ClusterCreateState, never>;

/** The project's OS user (D32), free addresses, no wildcard listener on the port, and memory for the nodes (D6, D18). */
export async function checkNodeAddresses(ctx: StepContext<unknown>): Promise<void> {
  const cluster = await ctx.cluster();
  const nodes = await ctx.nodes();
  // D32: the project's own OS user, made at its first cluster; every process of the cluster runs as it.
  await ctx.dataPlane.ensureProject(cluster.projectId, { signal: ctx.signal });
  ctx.dataPlane.prepareCluster(cluster);
  if (ctx.dataPlane.wildcardListener(cluster.port)) {
    throw new AppError('CAPACITY_EXCEEDED', {
      args: [
        `port ${cluster.port} is held by a process listening on all addresses (0.0.0.0:${cluster.port}); stop it or choose another port`,
      ],
    });
  }
  for (const n of nodes) {
    if (ctx.dataPlane.memberStatus(cluster, n)) continue; // ours, already running (a resumed task)
    if (!(await ctx.dataPlane.isAddressFree(n.host, n.port))) {
      throw new AppError('CAPACITY_EXCEEDED', { args: [`address ${n.host}:${n.port} is in use by another process`] });
    }
  }
  const nt = findNodeType(cluster.nodeType);
  const cap = ctx.dataPlane.capacity();
  const need =
    ((nt?.memoryBytes ?? 0) + ctx.dataPlane.memberOverheadBytes) * nodes.filter((n) => !ctx.dataPlane.memberStatus(cluster, n)).length;
  if (need > cap.memAvailableBytes) {
    // The host's own figures go to the log, never to a tenant (docs/security.md, capacity answers).
    ctx.log.warn('not enough memory on the host for the nodes', { needBytes: need, memAvailableBytes: cap.memAvailableBytes });
    throw new AppError('CAPACITY_EXCEEDED', {
      args: [
        `the nodes need ${Math.round(need / 1e6)} MB of memory, more than this host has free for them now; try fewer nodes or a smaller node type later`,
      ],
    });
  }
}

/** How long `verifyCluster` waits for a standby that is not streaming yet, or for the primary's promotion to end. */
const VERIFY_STREAMING_MS = 30_000;

export async function verifyCluster(ctx: StepContext<unknown>, ordinals: number[]): Promise<void> {
  const cluster = await ctx.cluster();
  // A highly available cluster is whole when its failover manager says so: every member streaming, the synchronous standby named (D25).
  await ctx.dataPlane.waitHealthy?.(cluster, { signal: ctx.signal });
  // The primary is the member that leads now (a start may have handed the lead on), and its
  // promotion may still be ending when the failover manager names it: its WAL position is polled.
  await followLeader(ctx, 120_000, { anyMembership: true });
  const nodes = await ctx.nodes();
  const primary = primaryOf(nodes);
  await ctx.dataPlane.checkAdminLogin(primary, cluster.userName, ctx.secrets.decrypt(cluster.adminPasswordEnc));
  const lsn = await pollUntil(() => ctx.dataPlane.currentLsn(cluster, primary), {
    timeoutMs: VERIFY_STREAMING_MS,
    what: `node ${primary.ordinal}'s WAL position as the primary`,
    signal: ctx.signal,
  }).catch((e: unknown) => {
    throw e instanceof PollTimeout ? new AppError('VERIFY_FAILED', { args: [e.message] }) : e;
  });
  for (const n of ordinals.filter((o) => o !== primary.ordinal)) {
    // Right after a start a standby may still be (re)connecting: its newest walsender in `startup`
    // or `catchup` (CI saw `startup` just after Patroni had named it streaming). A moment is given.
    let state: string | null = null;
    await pollUntil(
      async () => {
        state = (await ctx.dataPlane.replicationState(cluster, primary, n, lsn)).state;
        return state === 'streaming';
      },
      { timeoutMs: VERIFY_STREAMING_MS, what: `standby node ${n} streaming`, signal: ctx.signal, everyMs: 250 },
    ).catch((e: unknown) => {
      if (!(e instanceof PollTimeout)) throw e;
      throw new AppError('VERIFY_FAILED', {
        args: [`standby node ${n} is not streaming from the primary (state: ${state ?? 'not connected'}; ${e.message})`],
      });
    });
  }
  const arch = await ctx.dataPlane.archiverState(cluster, primary);
  if (arch.failing) throw new AppError('VERIFY_FAILED', { args: [`WAL archiving is failing (last failed segment ${arch.lastFailed})`] });
  ctx.progress({ source: 'verify', percent: 100, info: { nodes: ordinals.length } });
}

/** Undo of create and restore: stop and remove every node, the files and the stanza. */
export async function cleanUpCluster(ctx: StepContext<unknown>): Promise<void> {
  const cluster = await ctx.cluster();
  const nodes = await ctx.nodes();
  for (const n of [...nodes].sort((a, b) => b.ordinal - a.ordinal)) await ctx.dataPlane.stopMember(cluster, n, 'immediate');
  const primary = nodes.find((n) => n.role === 'primary');
  if (primary && (await ctx.dataPlane.stanzaExists(cluster.stanza))) {
    await ctx.dataPlane.removeStanza(cluster, primary, { signal: ctx.signal });
  }
  await ctx.dataPlane.removeClusterFiles(cluster.id);
  await ctx.write(async (tx) => {
    for (const n of nodes) await tx.deleteNode(n.id);
  });
}

export const clusterCreate: TaskDefinition<ClusterCreateParams, ClusterCreateState, never> = {
  kind: 'cluster.create',
  maxAttempts: 3,
  plan(p) {
    const steps: StepSpec[] = [
      { id: 'CHECK_CAPACITY', item: 'CREATE_NODES', weight: 0.2 },
      { id: 'INIT_PRIMARY', item: 'CREATE_NODES', runsTools: true },
      { id: 'START_PRIMARY', item: 'CREATE_NODES', weight: 0.5 },
      { id: 'ENABLE_ARCHIVING', item: 'CREATE_NODES', runsTools: true },
    ];
    for (let n = 2; n <= p.numberOfNode; n++) steps.push({ id: `BUILD_STANDBY_${n}`, item: 'BUILD_STANDBYS', runsTools: true });
    steps.push({ id: 'CREATE_ADMIN', item: 'FINISH', weight: 0.2 }, { id: 'VERIFY_CLUSTER', item: 'FINISH', weight: 0.3 });
    return steps;
  },
  steps: {
    CHECK_CAPACITY: (ctx) => checkNodeAddresses(ctx),
    INIT_PRIMARY: async (ctx: Ctx) => {
      const cluster = await ctx.cluster();
      const nodes = await ctx.nodes();
      const primary = primaryOf(nodes);
      await ctx.dataPlane.initPrimary(cluster, primary, { signal: ctx.signal, replicas: nodes.filter((n) => n.id !== primary.id) });
    },
    START_PRIMARY: async (ctx: Ctx) => {
      const cluster = await ctx.cluster();
      const nodes = await ctx.nodes();
      const primary = primaryOf(nodes);
      await startAndRecord(ctx, primary);
      const secrets = replSecrets(ctx, cluster.replPasswordEnc);
      await ctx.dataPlane.ensureReplicationRole(cluster, primary, secrets);
      // Standbys copied from the stopped primary get their slots now, before its first checkpoint (buildReplica checks it).
      await settleAll(
        nodes
          .filter((n) => n.id !== primary.id && ctx.dataPlane.memberHasData(cluster, n))
          .map((n) => ctx.dataPlane.buildReplica(cluster, primary, n, secrets, { signal: ctx.signal })),
      );
    },
    ENABLE_ARCHIVING: async (ctx: Ctx) => {
      const cluster = await ctx.cluster();
      const nodes = await ctx.nodes();
      const primary = primaryOf(nodes);
      // The stanza and its first archived segment (D3) take longest; the standbys with data start
      // and the administrator is made meanwhile.
      await settleAll([
        ctx.dataPlane.enableArchiving(cluster, primary, { signal: ctx.signal }),
        ...nodes.filter((n) => n.id !== primary.id && ctx.dataPlane.memberHasData(cluster, n)).map((n) => startAndRecord(ctx, n)),
        ctx.dataPlane.ensureAdmin(cluster, primary, cluster.userName, ctx.secrets.decrypt(cluster.adminPasswordEnc)),
      ]);
      await ctx.setState({ adminReady: true });
    },
    BUILD_STANDBY: async (ctx: Ctx) => {
      const nodes = await ctx.nodes();
      // The first standby's step begins the later ones' copies where the engine makes them itself.
      if (ctx.n === 2) {
        const cluster = await ctx.cluster();
        const primary = primaryOf(nodes);
        const later = nodes.filter((x) => x.ordinal > 2 && x.id !== primary.id && !ctx.dataPlane.memberHasData(cluster, x));
        await beginCopies(ctx, cluster, primary, later);
      }
      await buildAndStartStandby(ctx, nodeByOrdinal(nodes, ctx.n));
    },
    CREATE_ADMIN: async (ctx: Ctx) => {
      if (ctx.state.adminReady) return;
      const cluster = await ctx.cluster();
      await ctx.dataPlane.ensureAdmin(
        cluster,
        primaryOf(await ctx.nodes()),
        cluster.userName,
        ctx.secrets.decrypt(cluster.adminPasswordEnc),
      );
    },
    VERIFY_CLUSTER: async (ctx: Ctx) =>
      verifyCluster(
        ctx,
        Array.from({ length: ctx.params.numberOfNode }, (_, i) => i + 1),
      ),
    CLEAN_UP_CLUSTER: (ctx) => cleanUpCluster(ctx),
  },
  // runsTools: it runs pgbackrest (stanza removal) under the cluster lock itself; a lock holder would deadlock it.
  failure: { mode: 'cleanup', steps: () => [{ id: 'CLEAN_UP_CLUSTER', item: 'CLEAN_UP', runsTools: true }] },
  extrasOnSuccess: (o) => activateNodes(o),
  extrasOnFailure: (o, error) => releaseFailedCluster(o, error),
};

/** Extras of a created (or restored) cluster: its nodes become members (the runner sets AVAILABLE, D8). */
export async function activateNodes(o: OutcomeContext<{ clusterId: string }>): Promise<void> {
  for (const n of await o.tx.listNodes(o.params.clusterId)) await o.tx.updateNode(n.id, { membership: 'active', updatedAt: o.now });
}

/** Extras of a cluster that failed to be created (or restored): its address block is freed and failed_reasons say why (the runner sets CREATION FAILED, D8). */
export async function releaseFailedCluster(
  o: OutcomeContext<{ clusterId: string }>,
  error: { code: string; message: string },
): Promise<void> {
  await o.tx.updateCluster(o.params.clusterId, {
    subnetIndex: null,
    failedReasons: [{ error_code: error.code, error_msg: error.message }],
    updatedAt: o.now,
  });
}
