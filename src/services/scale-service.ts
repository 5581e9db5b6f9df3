/**
 * Scale-out and scale-in use cases (dws-api.md §3.10, §3.11, §3.13; D5, D6, D8, D18): the
 * grow-check (what stands in the way, without changing anything), resize (the new node rows,
 * `building`, and the GROWING task in one transaction), and the scale-in check, numbers and
 * request (a CLUSTER_SHRINKING task removing the highest-numbered standbys).
 */
import type { Clock } from '../domain/clock.js';
import { ACTION_OF_KIND } from '../domain/task.js';
import { findNodeType } from '../domain/node-types.js';
import type { ClusterRecord, NodeRecord, TaskRecord } from '../domain/records.js';
import {
  growProblemError,
  growProblems,
  maxShrink,
  newOrdinals,
  shrinkOrdinals,
  shrinkProblem,
  type GrowFigures,
  type GrowProblem,
} from '../domain/scale.js';
import { AppError } from '../errors/app-error.js';
import type { Config } from '../config/config.js';
import type { DataPlane } from '../dataplane/data-plane.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { TaskQueue } from '../tasks/queue.js';
import type { ScaleInParams, ScaleOutParams } from '../tasks/definitions/cluster-scale.js';
import { validateUuidField, type ClusterService } from './cluster-service.js';

export interface ScaleOutInput {
  count: number;
  subnetId?: string | null | undefined;
  createNodeOnly?: boolean | null | undefined;
  waitingForKilling?: number | null | undefined;
  autoRedistribute?: boolean | null | undefined;
  logicalClusterName?: string | null | undefined;
}

export interface ScaleInInput {
  shrinkNumber: number;
  parallelJobs?: number | null | undefined;
}

export interface GrowCheck {
  problems: GrowProblem[];
  figures: GrowFigures;
}

export interface ScaleServiceDeps {
  store: Store;
  queue: TaskQueue;
  dataPlane: DataPlane;
  clusters: ClusterService;
  clock: Clock;
  config: Config;
  log: Logger;
}

export class ScaleService {
  constructor(private readonly deps: ScaleServiceDeps) {}

  /** The request fields that have no local meaning are refused, not ignored (D9). */
  validateScaleOut(i: ScaleOutInput): void {
    if (!Number.isInteger(i.count) || i.count < 1)
      throw new AppError('INVALID_NODE_COUNT', { args: [`scale_out.count must be an integer of at least 1, got ${i.count}`] });
    validateUuidField('scale_out.subnet_id', i.subnetId, false);
    if (i.createNodeOnly) {
      throw new AppError('NOT_SUPPORTED', {
        args: [
          'create_node_only (adding idle nodes)',
          'every node added is a hot standby of the cluster at once; leave create_node_only false',
        ],
      });
    }
    if (i.autoRedistribute === false) {
      throw new AppError('NOT_SUPPORTED', {
        args: [
          'auto_redistribute: false',
          'the new nodes are standbys holding a full copy, so there is no data to redistribute; leave auto_redistribute true',
        ],
      });
    }
    const w = i.waitingForKilling;
    if (w !== undefined && w !== null && w !== 0 && (!Number.isInteger(w) || w < 30 || w > 1200)) {
      throw new AppError('VALIDATION', { args: [`waiting_for_killing must be 0 or an integer from 30 to 1200, got ${w}`] });
    }
    if (i.logicalClusterName)
      throw new AppError('NOT_SUPPORTED', {
        args: ['Logical clusters', 'each cluster is one PostgreSQL primary with standbys; leave logical_cluster_name empty'],
      });
  }

  /** What the host, the project and the cluster say about adding `count` nodes now. */
  private async growFigures(c: ClusterRecord, nodes: NodeRecord[], count: number): Promise<GrowFigures> {
    const e = this.deps.dataPlane;
    const active = await this.deps.store.activeTask(`cluster:${c.id}`);
    const members = nodes.filter((n) => n.membership === 'active');
    const primary = members.find((n) => n.role === 'primary');
    let primaryUp = false;
    let copyBytes = 0;
    if (primary && e.memberStatus(c, primary)) {
      try {
        copyBytes = await e.databaseBytes(c, primary);
        primaryUp = true;
      } catch {
        primaryUp = false;
      }
    }
    const ordinals = newOrdinals(
      nodes.map((n) => n.ordinal),
      count,
    );
    const busyAddresses: string[] = [];
    // Probing a few addresses says enough; a request for 200 nodes need not bind 200 sockets.
    for (const o of (ordinals ?? []).slice(0, 16)) {
      const host = e.memberHost(c.subnetIndex ?? 0, o);
      if (!(await e.isAddressFree(host, c.port))) busyAddresses.push(`${host}:${c.port}`);
    }
    const cap = e.capacity();
    const [projectNodes, hostNodes] = await Promise.all([this.deps.store.countNodes(c.projectId), this.deps.store.countNodes()]);
    return {
      status: c.status,
      stopped: c.stopped,
      busyWith: active ? ACTION_OF_KIND[active.kind] : null,
      primaryUp,
      existingOrdinals: nodes.map((n) => n.ordinal),
      activeNodes: members.length,
      count,
      projectNodes,
      projectQuota: this.deps.config.projectNodeQuota,
      hostNodes,
      hostNodeLimit: this.deps.config.maxNodes,
      memAvailableBytes: cap.memAvailableBytes,
      memPerNodeBytes: (findNodeType(c.nodeType)?.memoryBytes ?? 0) + e.memberOverheadBytes,
      diskFreeBytes: cap.dataDiskFreeBytes,
      copyBytes,
      port: c.port,
      wildcardListener: e.wildcardListener(c.port),
      busyAddresses,
      downStandbys: active ? [] : members.filter((n) => n.role === 'standby' && !e.memberStatus(c, n)).map((n) => n.ordinal),
    };
  }

  /**
   * POST …/grow-check: every item that stands in the way of the scale-out (required) or is
   * worth knowing (not required); an empty list means it can run. Changes nothing.
   */
  async growCheck(projectId: string, clusterId: string, i: ScaleOutInput): Promise<GrowCheck> {
    this.validateScaleOut(i);
    const c = await this.deps.clusters.get(projectId, clusterId);
    const figures = await this.growFigures(c, await this.deps.store.listNodes(c.id), i.count);
    return { problems: growProblems(figures), figures };
  }

  /** POST …/resize: checked like grow-check, then the new rows and the task in one transaction. */
  async scaleOut(projectId: string, clusterId: string, i: ScaleOutInput): Promise<TaskRecord> {
    this.validateScaleOut(i);
    const c = await this.deps.clusters.get(projectId, clusterId);
    const figures = await this.growFigures(c, await this.deps.store.listNodes(c.id), i.count);
    const blocking = growProblems(figures).filter((p) => p.required);
    // A busy or stopped cluster gets the enqueue's own answer (409 naming the running task).
    const stateProblem = blocking.find(
      (p) => p.reason === 'CLUSTER_BUSY' || p.reason === 'CLUSTER_STATUS' || p.reason === 'CLUSTER_STOPPED',
    );
    if (!stateProblem) {
      // D18: the host and project capacity, as create checks it, then what only a scale-out needs.
      await this.deps.clusters.checkCapacity(projectId, c.nodeType, i.count);
      if (blocking[0]) throw growProblemError(blocking[0], c.name);
    }
    const task = await this.deps.store.transaction(async (tx) => {
      const cur = await tx.getCluster(projectId, clusterId);
      if (!cur) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
      const nodes = await tx.listNodes(cur.id);
      const ordinals = newOrdinals(
        nodes.map((n) => n.ordinal),
        i.count,
      );
      if (!ordinals)
        throw new AppError('CAPACITY_EXCEEDED', {
          args: [`a cluster has at most 254 nodes on this host (one loopback address each); ${nodes.length} + ${i.count} do not fit`],
        });
      const added = ordinals.map((o) => this.deps.clusters.newNode(cur, o, 'building'));
      const params: ScaleOutParams = {
        clusterId: cur.id,
        count: i.count,
        ordinals,
        nodeIds: added.map((n) => n.id),
        originNodeNum: cur.numberOfNode,
      };
      // The enqueue refuses a busy or stopped cluster: then nothing here is written.
      const t = await this.deps.queue.enqueue(tx, { kind: 'cluster.scale_out', projectId, cluster: cur, params: { ...params } });
      for (const n of added) await tx.insertNode(n);
      return t;
    });
    this.deps.queue.notify();
    this.deps.log.info('scale-out accepted', { clusterId, projectId, count: i.count, taskId: task.id });
    return task;
  }

  // ------------------------------------------------------------------ scale-in

  private async members(c: ClusterRecord): Promise<NodeRecord[]> {
    return (await this.deps.store.listNodes(c.id)).filter((n) => n.membership === 'active');
  }

  /** GET …/shrink-check: can `n` nodes be removed now, and if not, why. */
  async shrinkCheck(projectId: string, clusterId: string, n: number): Promise<{ passed: boolean; reason: string }> {
    const c = await this.deps.clusters.get(projectId, clusterId);
    const why = await this.shrinkBlocker(c, n);
    return { passed: why === null, reason: why ?? '' };
  }

  private async shrinkBlocker(c: ClusterRecord, n: number): Promise<string | null> {
    const active = await this.deps.store.activeTask(`cluster:${c.id}`);
    if (active) return `another operation is in progress on the cluster (${ACTION_OF_KIND[active.kind]}, task ${active.id})`;
    if (c.stopped) return 'the cluster is stopped; start it first';
    if (c.status !== 'AVAILABLE') return `the cluster status is ${c.status}; a scale-in needs an AVAILABLE cluster`;
    return shrinkProblem((await this.members(c)).length, n);
  }

  /** GET …/shrink-numbers: the counts a scale-in accepts now (1 … nodes − 3), as strings (the SDK's model). */
  async shrinkNumbers(projectId: string, clusterId: string): Promise<string[]> {
    const c = await this.deps.clusters.get(projectId, clusterId);
    return Array.from({ length: maxShrink((await this.members(c)).length) }, (_, k) => String(k + 1));
  }

  /** POST …/cluster-shrink: the highest-numbered standbys go; returns the task (its id is the job id). */
  async scaleIn(projectId: string, clusterId: string, i: ScaleInInput): Promise<TaskRecord> {
    const p = i.parallelJobs;
    if (p !== undefined && p !== null && (!Number.isInteger(p) || p < 1 || p > 200))
      throw new AppError('VALIDATION', { args: [`parallel_jobs must be an integer from 1 to 200, got ${p}`] });
    const c0 = await this.deps.clusters.get(projectId, clusterId);
    const refused = shrinkProblem((await this.members(c0)).length, i.shrinkNumber);
    if (refused) throw new AppError('INVALID_NODE_COUNT', { args: [refused] });
    const task = await this.deps.store.transaction(async (tx) => {
      const c = await tx.getCluster(projectId, clusterId);
      if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
      const members = (await tx.listNodes(c.id)).filter((n) => n.membership === 'active');
      const why = shrinkProblem(members.length, i.shrinkNumber);
      if (why) throw new AppError('INVALID_NODE_COUNT', { args: [why] });
      const params: ScaleInParams = {
        clusterId: c.id,
        count: i.shrinkNumber,
        ordinals: shrinkOrdinals(members, i.shrinkNumber),
        originNodeNum: c.numberOfNode,
      };
      return this.deps.queue.enqueue(tx, { kind: 'cluster.scale_in', projectId, cluster: c, params: { ...params } });
    });
    this.deps.queue.notify();
    this.deps.log.info('scale-in accepted', { clusterId, projectId, count: i.shrinkNumber, taskId: task.id });
    return task;
  }
}
