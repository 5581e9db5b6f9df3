/**
 * Cluster use cases: validate against rules and state, allocate addresses, enqueue tasks,
 * and build the read model the API shows (status, task_status and action_progress derived
 * from the active task, D8).
 */
import { CLUSTER_NAME_RE, USER_NAME_RE, passwordProblem, runningTaskStatus, actionProgressKey } from '../domain/cluster.js';
import type { Clock } from '../domain/clock.js';
import { ReadCache, ReadPoint, type Timed } from '../store/read-cache.js';
import { newId, newPassword, isUuid } from '../domain/ids.js';
import { DEFAULT_MAINTENANCE_WINDOW, maintenanceDue, parseMaintenanceWindow } from '../domain/maintenance-window.js';
import { findNodeType, DATASTORE_VERSION } from '../domain/node-types.js';
import type { ClusterRecord, ClusterSpec, NodeRecord, TaskRecord, Tag } from '../domain/records.js';
import { ACTION_OF_KIND, isTaskActive } from '../domain/task.js';
import { drSides } from '../domain/disaster-recovery.js';
import { BYTES_PER_MB } from '../domain/snapshot-space.js';
import { AppError, coerceError } from '../errors/app-error.js';
import { withoutReadOnly } from '../domain/read-only.js';
import { readOnlyEvent, recordEvent } from './events.js';
import type { Config } from '../config/config.js';
import type { DataPlane } from '../dataplane/data-plane.js';
import type { Logger } from '../log/logger.js';
import type { Secrets } from '../auth/secrets.js';
import type { Store } from '../store/store.js';
import type { TaskQueue } from '../tasks/queue.js';
import { DbAuthorityService } from './db-authority-service.js';
import { DbUserService } from './db-user-service.js';
import { ConfigurationService } from './configuration-service.js';

export interface ClusterView {
  cluster: ClusterRecord;
  nodes: NodeRecord[];
  activeTask: TaskRecord | null;
  taskStatus: string;
  actionProgress: Record<string, string>;
  recentEvents: number;
  resize: { status: string; startTime: number; target: number; origin: number } | null;
}

export interface CreateClusterInput {
  name: string;
  nodeType: string;
  numberOfNode: number;
  port: number;
  userName: string;
  password: string;
  spec: ClusterSpec;
}

export const MIN_NODES = 3;
export const MAX_NODES_API = 256;
/** D6: node i listens on 127.0.c.i, i in 1..254. */
export const MAX_NODES_LOCAL = 254;
export const PORT_MIN = 8000;
export const PORT_MAX = 30000;

export interface ClusterServiceDeps {
  store: Store;
  queue: TaskQueue;
  dataPlane: DataPlane;
  secrets: Secrets;
  clock: Clock;
  config: Config;
  log: Logger;
}

/** A restart's, stop's or start's params: the members, and the one that leads now (it stops last and starts first). */
const membersOf = (_c: ClusterRecord, nodes: NodeRecord[]): { ordinals: number[]; primary?: number } => {
  const primary = nodes.find((n) => n.role === 'primary')?.ordinal;
  return { ordinals: nodes.map((n) => n.ordinal), ...(primary === undefined ? {} : { primary }) };
};

export function validateName(name: string, what = 'cluster name'): void {
  if (name.length < 4 || name.length > 64)
    throw new AppError('INVALID_STRING_LENGTH', { args: [what, `"${name.slice(0, 80)}" must be 4 to 64 characters long`] });
  if (!CLUSTER_NAME_RE.test(name))
    throw new AppError('INVALID_NAME', { args: [what, `"${name}" must start with a letter and contain only letters, digits, - and _`] });
}

export function validateUuidField(field: string, v: string | null | undefined, required: boolean): void {
  if (v === undefined || v === null || v === '') {
    if (required) throw new AppError('VALIDATION', { args: [`${field} is required`] });
    return;
  }
  if (!isUuid(v)) throw new AppError('INVALID_UUID', { args: [field, `"${v.slice(0, 80)}" is not a UUID`] });
}

export function validatePort(port: number, field = 'port'): void {
  if (!Number.isInteger(port) || port < PORT_MIN || port > PORT_MAX)
    throw new AppError('VALIDATION', { args: [`${field} must be an integer from ${PORT_MIN} to ${PORT_MAX}, got ${port}`] });
}

const viewKey = (projectId: string, clusterId: string): string => `${projectId}/${clusterId}`;

/** A page of ListClusters: its views, and how many clusters the whole list has. */
export interface ClusterPage {
  views: ClusterView[];
  count: number;
}

/**
 * ListQuotas (D18): each per-project quota a request is checked against, and what the project
 * uses of it, counted as that check counts it.
 */
export interface ProjectQuotas {
  /** nodes of the project's live clusters, every membership (checkCapacity: projectNodeQuota) */
  nodes: { used: number; quota: number };
  /** visible snapshots (snapshot-room.ts: projectSnapshotQuota) */
  snapshots: { used: number; quota: number };
  /** bytes recorded for the project's kept snapshots (snapshot-room.ts: projectRepoQuotaMb, in bytes here) */
  snapshotBytes: { used: number; quota: number };
}

/** A cluster view counts the events of the last day. */
const DAY_MS = 24 * 3600_000;

export class ClusterService {
  /** ListClusterDetails' views, while the store is unchanged (read-cache.ts). */
  private readonly views: ReadCache<ClusterView>;
  /** Each project's clusters as listed, the same way. */
  private readonly lists: ReadCache<ClusterRecord[]>;
  /**
   * Pages of ListClusters, the same way: the same object while nothing changed, so the route
   * serializes each page once (kept-answers.ts).
   */
  private readonly pages: ReadCache<ClusterPage>;
  /** Each project's quotas and usage (ListQuotas), the same way. */
  private readonly quotaReads: ReadCache<ProjectQuotas>;

  /** Database users (issue 16): real roles on the cluster's primary. */
  readonly dbUsers: DbUserService;
  /** Database privileges and objects (issue 16): real GRANT / REVOKE and catalog reads. */
  readonly dbAuthority: DbAuthorityService;
  /** Parameter configurations (issue 16): the cluster's real PostgreSQL settings. */
  readonly configurations: ConfigurationService;

  constructor(private readonly deps: ClusterServiceDeps) {
    this.dbUsers = new DbUserService(deps, this);
    this.dbAuthority = new DbAuthorityService(deps, this);
    this.configurations = new ConfigurationService(deps, this);
    this.views = new ReadCache(deps.store, deps.clock);
    this.lists = new ReadCache(deps.store, deps.clock, 100);
    this.pages = new ReadCache(deps.store, deps.clock, 200);
    this.quotaReads = new ReadCache(deps.store, deps.clock, 100);
  }

  // ------------------------------------------------------------------ reads
  async view(c: ClusterRecord): Promise<ClusterView> {
    return (await this.timedView(c)).value;
  }

  /** The view, and until when it holds: its count of the last day's events changes as they age. */
  private async timedView(c: ClusterRecord): Promise<Timed<ClusterView>> {
    const dayAgo = this.deps.clock.now() - DAY_MS;
    // recent_event: the cluster's events (D26) of the last day, as recorded (services/events.ts).
    const [nodes, tasks, recent] = await Promise.all([
      this.deps.store.listNodes(c.id),
      this.deps.store.listTasks(c.id, { limit: 50 }),
      this.deps.store.countEvents({ projectId: c.projectId, clusterId: c.id, since: dayAgo + 1 }),
    ]);
    const active = tasks.find((t) => isTaskActive(t.status) && t.kind !== 'snapshot.expire') ?? null;
    const taskStatus = active ? runningTaskStatus(active.kind) : (c.stickyTaskStatus ?? '');
    const actionProgress: Record<string, string> = active ? { [actionProgressKey(active.kind)]: `${Math.floor(active.progress)}%` } : {};
    let resize: ClusterView['resize'] = null;
    // The origin is the count when the request was accepted: number_of_node changes while
    // the task is still active (its topology step) and goes back on a rollback.
    const originOf = (t: TaskRecord): number => Number(t.params['originNodeNum'] ?? c.numberOfNode);
    if (active?.kind === 'cluster.scale_out') {
      resize = {
        status: 'GROWING',
        startTime: active.createdAt,
        target: originOf(active) + Number(active.params['count'] ?? 0),
        origin: originOf(active),
      };
    } else if (c.stickyTaskStatus === 'RESIZE_FAILURE') {
      const last = tasks.find((t) => t.kind === 'cluster.scale_out');
      if (last)
        resize = {
          status: 'RESIZE_FAILURE',
          startTime: last.createdAt,
          target: originOf(last) + Number(last.params['count'] ?? 0),
          origin: originOf(last),
        };
    }
    const value: ClusterView = { cluster: c, nodes, activeTask: active, taskStatus, actionProgress, recentEvents: recent.count, resize };
    // The count holds until its oldest event is a day old.
    return { value, until: recent.oldestAt === null ? Infinity : recent.oldestAt + DAY_MS };
  }

  async get(projectId: string, clusterId: string): Promise<ClusterRecord> {
    const c = await this.deps.store.getCluster(projectId, clusterId);
    if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
    return c;
  }

  /** `at`: the request's read point (read-cache.ts); only a request that writes nothing passes one. */
  async getView(projectId: string, clusterId: string, at?: ReadPoint): Promise<ClusterView> {
    return this.views.get(viewKey(projectId, clusterId), async () => this.timedView(await this.get(projectId, clusterId)), at);
  }

  /**
   * ShowInstance: the project's node `instanceId` (an instance is a cluster member), with its
   * cluster's view and the bytes its data takes now, measured on the running member (null when
   * it is not running: nothing to measure).
   */
  async instance(
    projectId: string,
    instanceId: string,
    at?: ReadPoint,
  ): Promise<{ view: ClusterView; node: NodeRecord; usedBytes: number | null }> {
    const clusterId = await this.deps.store.clusterOfNode(projectId, instanceId);
    const view = clusterId === null ? null : await this.getView(projectId, clusterId, at);
    const node = view?.nodes.find((n) => n.id === instanceId);
    if (!view || !node) throw new AppError('INSTANCE_NOT_FOUND', { args: [instanceId] });
    const running = node.membership === 'active' && node.health === 'up';
    const usedBytes = running ? await this.deps.dataPlane.memberDiskBytes(view.cluster, node).catch(() => null) : null;
    return { view, node, usedBytes };
  }

  /**
   * ListClusters: the project's clusters, oldest first, of one enterprise project when asked
   * (`all_granted_eps`: all); a page of them when asked (`count` is all of them). The list and
   * each view of the page are kept while the store is unchanged, all at one read version: a view
   * built from a listed row is as new as the list. The page itself is kept too, until the first
   * of its views no longer holds.
   */
  async list(
    projectId: string,
    o: { enterpriseProjectId?: string | undefined; limit?: number | undefined; offset?: number | undefined } = {},
    at: ReadPoint = new ReadPoint(this.deps.store),
  ): Promise<ClusterPage> {
    const eps = o.enterpriseProjectId;
    const offset = o.offset ?? 0;
    const key = `${projectId}\n${eps ?? ''}\n${offset}\n${o.limit ?? ''}`;
    return this.pages.get(
      key,
      async () => {
        const listed = await this.lists.get(projectId, async () => ({ value: await this.deps.store.listClusters(projectId) }), at);
        const all = !eps || eps === 'all_granted_eps' ? listed : listed.filter((c) => c.spec.enterpriseProjectId === eps);
        const page = all.slice(offset, o.limit === undefined ? undefined : offset + o.limit);
        const timed = await Promise.all(page.map((c) => this.views.getTimed(viewKey(projectId, c.id), () => this.timedView(c), at)));
        return { value: { views: timed.map((t) => t.value), count: all.length }, until: Math.min(...timed.map((t) => t.until)) };
      },
      at,
    );
  }

  /**
   * ListQuotas: the project's quotas (settings projectNodeQuota, projectSnapshotQuota,
   * projectRepoQuotaMb) and its use of each, read with the same store calls as the checks that
   * refuse a create, a scale-out or a snapshot beyond them.
   */
  async quotas(projectId: string, at?: ReadPoint): Promise<ProjectQuotas> {
    const c = this.deps.config;
    return this.quotaReads.get(
      projectId,
      async () => {
        const [nodes, snapshots] = await Promise.all([this.deps.store.countNodes(projectId), this.deps.store.snapshotUsage(projectId)]);
        return {
          value: {
            nodes: { used: nodes, quota: c.projectNodeQuota },
            snapshots: { used: snapshots.count, quota: c.projectSnapshotQuota },
            snapshotBytes: { used: snapshots.bytes, quota: c.projectRepoQuotaMb * BYTES_PER_MB },
          },
        };
      },
      at,
    );
  }

  /**
   * ListStatistics and ShowResourceStatistics (issue 16): the project's live clusters and their
   * members as the store and the health monitor record them — AVAILABLE clusters, members it
   * last saw up — and the disk budget of every member (its node type's), in GB.
   */
  async statistics(
    projectId: string,
  ): Promise<{ clusters: { total: number; active: number }; nodes: { total: number; active: number }; storageGb: number }> {
    const clusters = (await this.deps.store.listClusters(projectId)).filter((c) => !c.deletedAt);
    let nodes = 0;
    let up = 0;
    let storageGb = 0;
    for (const c of clusters) {
      const members = (await this.deps.store.listNodes(c.id)).filter((n) => n.membership === 'active');
      nodes += members.length;
      up += members.filter((n) => n.health === 'up').length;
      storageGb += members.length * (findNodeType(c.nodeType)?.diskGb ?? 0);
    }
    return {
      clusters: { total: clusters.length, active: clusters.filter((c) => c.status === 'AVAILABLE').length },
      nodes: { total: nodes, active: up },
      storageGb,
    };
  }

  // ------------------------------------------------------------------ create
  validateCreate(i: CreateClusterInput): void {
    validateName(i.name);
    if (i.spec.syncMode && !this.deps.dataPlane.setSyncMode) throw this.noSyncMode();
    if (!findNodeType(i.nodeType))
      throw new AppError('INVALID_NODE_TYPE', { args: [i.nodeType, 'see GET /v2/{project_id}/node-types for the node types'] });
    if (!Number.isInteger(i.numberOfNode) || i.numberOfNode < MIN_NODES || i.numberOfNode > MAX_NODES_API) {
      throw new AppError('INVALID_NODE_COUNT', {
        args: [`number_of_node must be from ${MIN_NODES} to ${MAX_NODES_API}, got ${i.numberOfNode}`],
      });
    }
    validatePort(i.port);
    if (!USER_NAME_RE.test(i.userName))
      throw new AppError('INVALID_USER_NAME', {
        args: [
          `"${i.userName.slice(0, 80)}" must be 1 to 63 characters: a lower-case letter or _ first, then lower-case letters, digits or _`,
        ],
      });
    if (['postgres', 'dwsbox_repl'].includes(i.userName) || i.userName.startsWith('pg_')) {
      throw new AppError('INVALID_USER_NAME', { args: [`"${i.userName}" is reserved`] });
    }
    const pw = passwordProblem(i.password, i.userName);
    if (pw) throw new AppError(pw.code, { args: [pw.why] });
    validateUuidField('vpc_id', i.spec.vpcId, true);
    validateUuidField('subnet_id', i.spec.subnetId, true);
    validateUuidField('security_group_id', i.spec.securityGroupId, false);
    // Tags and the description are checked where a request brings them (domain/text-fields.ts,
    // called by the routes); a restore copies the ones its snapshot recorded.
    if (i.spec.publicIp && i.spec.publicIp.public_bind_type !== 'not_use') {
      throw new AppError('NOT_SUPPORTED', {
        args: [
          'Elastic IP binding',
          `public_bind_type ${i.spec.publicIp.public_bind_type}; use "not_use": the cluster listens on loopback addresses of this host`,
        ],
      });
    }
    if (i.spec.version !== DATASTORE_VERSION)
      throw new AppError('VALIDATION', { args: [`datastore_version ${i.spec.version} is not available; use ${DATASTORE_VERSION}`] });
    if (i.spec.numberOfCn !== null && (i.spec.numberOfCn < 2 || i.spec.numberOfCn > Math.min(20, i.numberOfNode))) {
      throw new AppError('VALIDATION', { args: [`number_of_cn must be from 2 to ${Math.min(20, i.numberOfNode)}`] });
    }
  }

  /**
   * What this host and the project's quota allow (D18); checked before anything is built.
   * `nodeType` is the type of the new nodes.
   */
  async checkCapacity(projectId: string, nodeTypeName: string, newNodes: number): Promise<void> {
    const nt = findNodeType(nodeTypeName)!;
    const [projectNodes, allNodes] = await Promise.all([this.deps.store.countNodes(projectId), this.deps.store.countNodes()]);
    if (projectNodes + newNodes > this.deps.config.projectNodeQuota) {
      throw new AppError('NODE_QUOTA_EXCEEDED', {
        args: [`the project has ${projectNodes} nodes; ${newNodes} more would pass its quota of ${this.deps.config.projectNodeQuota}`],
      });
    }
    // The host's own figures (nodes of every project, free memory and disk) decide but are
    // never shown to a tenant (issue 12); they are logged for the operator.
    if (allNodes + newNodes > this.deps.config.maxNodes) {
      this.deps.log.warn('host node limit reached', { projectId, allNodes, newNodes, maxNodes: this.deps.config.maxNodes });
      throw new AppError('CAPACITY_EXCEEDED', {
        args: [`this host has no room for ${newNodes} more nodes now (the operator limits the nodes it runs); try fewer nodes or later`],
      });
    }
    const cap = this.deps.dataPlane.capacity();
    const mem = (nt.memoryBytes + this.deps.dataPlane.memberOverheadBytes) * newNodes;
    if (mem > cap.memAvailableBytes) {
      this.deps.log.warn('host memory short', { projectId, needBytes: mem, availableBytes: cap.memAvailableBytes });
      throw new AppError('CAPACITY_EXCEEDED', {
        args: [`${newNodes} nodes of type ${nt.specName} need ${Math.round(mem / 1e6)} MB of memory, more than this host has free now`],
      });
    }
    const disk = 64e6 * newNodes;
    if (cap.dataDiskFreeBytes < disk) {
      this.deps.log.warn('host disk short', { projectId, needBytes: disk, freeBytes: cap.dataDiskFreeBytes });
      throw new AppError('CAPACITY_EXCEEDED', {
        args: [`${newNodes} new nodes need at least ${Math.round(disk / 1e6)} MB of disk, more than this host has free now`],
      });
    }
  }

  /** A free loopback /24 for a cluster on `port` (D6): not used by a live cluster, and every node address bindable. */
  async allocateSubnet(port: number, nodes: number, exclude: Set<number> = new Set(), owner = ''): Promise<number> {
    if (this.deps.dataPlane.wildcardListener(port)) {
      throw new AppError('CAPACITY_EXCEEDED', {
        args: [
          `port ${port} is held by a process listening on all addresses (0.0.0.0:${port}), which blocks every cluster address on it; stop that process or choose another port`,
        ],
      });
    }
    const used = await this.deps.store.usedSubnetIndexes();
    for (let c = 1; c <= 254; c++) {
      if (used.has(c) || exclude.has(c)) continue;
      let free = true;
      for (let i = 1; i <= nodes && free; i++) free = await this.deps.dataPlane.isAddressFree(this.deps.dataPlane.memberHost(c, i), port);
      // Host-wide blocks (the Patroni engine): taken for the new cluster here, or another service's cluster has it.
      if (free && this.deps.dataPlane.claimSubnet && !(await this.deps.dataPlane.claimSubnet(c, owner))) free = false;
      if (free) return c;
    }
    throw new AppError('CAPACITY_EXCEEDED', { args: [`no free loopback address range for ${nodes} nodes on port ${port}`] });
  }

  /** The router's hosts of a cluster of a highly available engine (D24), recorded in its spec; none on the local engine. */
  private endpointsOf(subnetIndex: number): Pick<ClusterSpec, 'endpoints'> {
    const hosts = this.deps.dataPlane.routerHosts?.(subnetIndex);
    return hosts ? { endpoints: hosts } : {};
  }

  /** Build the cluster and node rows for a new cluster (create and restore). */
  newClusterRecords(
    projectId: string,
    i: CreateClusterInput,
    subnetIndex: number,
    id: string = newId(),
  ): { cluster: ClusterRecord; nodes: NodeRecord[] } {
    const now = this.deps.clock.now();
    const cluster: ClusterRecord = {
      id,
      projectId,
      name: i.name,
      status: 'CREATING',
      subStatus: 'NORMAL',
      stickyTaskStatus: null,
      stopped: false,
      nodeType: i.nodeType,
      numberOfNode: i.numberOfNode,
      port: i.port,
      subnetIndex,
      userName: i.userName,
      adminPasswordEnc: this.deps.secrets.encrypt(i.password),
      replPasswordEnc: this.deps.secrets.encrypt(newPassword()),
      stanza: `cluster-${id}`,
      // Its stanza goes to the repository configured now, and stays there (backup-repository.ts).
      spec: {
        ...withoutEngineFields(i.spec),
        repository: this.deps.dataPlane.repositoryRef(),
        ...this.endpointsOf(subnetIndex),
        // A highly available cluster records the replication it runs with (D25).
        ...(this.deps.dataPlane.routerHosts ? { syncMode: i.spec.syncMode ?? this.deps.config.syncMode } : {}),
      },
      failedReasons: null,
      healthNote: null,
      maintainWindow: DEFAULT_MAINTENANCE_WINDOW,
      pendingRestart: null,
      restartDueAt: null,
      readOnly: null,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    };
    const nodes: NodeRecord[] = [];
    for (let n = 1; n <= i.numberOfNode; n++) nodes.push(this.newNode(cluster, n, 'building'));
    return { cluster, nodes };
  }

  newNode(cluster: ClusterRecord, ordinal: number, membership: NodeRecord['membership']): NodeRecord {
    const now = this.deps.clock.now();
    return {
      id: newId(),
      clusterId: cluster.id,
      ordinal,
      role: ordinal === 1 ? 'primary' : 'standby',
      host: this.deps.dataPlane.memberHost(cluster.subnetIndex!, ordinal),
      port: cluster.port,
      dataDir: this.deps.dataPlane.memberDataDir(cluster.id, ordinal),
      membership,
      pid: null,
      pidStart: null,
      health: 'unknown',
      slotName: ordinal === 1 ? null : this.deps.dataPlane.replicaSlotName(ordinal),
      createdAt: now,
      updatedAt: now,
    };
  }

  /**
   * Insert a new cluster with its nodes and its first task. Retries with another address
   * range when a concurrent create took the chosen one.
   */
  async insertNewCluster(
    projectId: string,
    i: CreateClusterInput,
    enqueue: (tx: Store, c: ClusterRecord) => Promise<TaskRecord>,
  ): Promise<{ cluster: ClusterRecord; task: TaskRecord }> {
    const tried = new Set<number>();
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await this.deps.store.findClusterByName(projectId, i.name)) throw new AppError('CLUSTER_NAME_EXISTS', { args: [i.name] });
      const id = newId();
      const subnet = await this.allocateSubnet(i.port, i.numberOfNode, tried, id);
      tried.add(subnet);
      const { cluster, nodes } = this.newClusterRecords(projectId, i, subnet, id);
      try {
        const task = await this.deps.store.transaction(async (tx) => {
          if (await tx.findClusterByName(projectId, i.name)) throw new AppError('CLUSTER_NAME_EXISTS', { args: [i.name] });
          if ((await tx.usedSubnetIndexes()).has(subnet)) throw new AppError('STORE_CONFLICT', { args: ['address range taken'] });
          await tx.insertCluster(cluster);
          for (const n of nodes) await tx.insertNode(n);
          return enqueue(tx, cluster);
        });
        this.deps.queue.notify();
        return { cluster, task };
      } catch (e) {
        await this.deps.dataPlane.releaseSubnet?.(subnet, id).catch(() => {});
        if (
          e instanceof AppError &&
          (e.code === 'STORE_CONFLICT' ||
            (e.code === 'CLUSTER_NAME_EXISTS' && !(await this.deps.store.findClusterByName(projectId, i.name))))
        )
          continue;
        throw e;
      }
    }
    throw new AppError('STORE_CONFLICT', { args: ['could not allocate addresses for the cluster; try again'] });
  }

  async create(projectId: string, i: CreateClusterInput): Promise<ClusterRecord> {
    this.validateCreate(i);
    if (i.numberOfNode > MAX_NODES_LOCAL) {
      throw new AppError('CAPACITY_EXCEEDED', {
        args: [`a cluster on this host has at most ${MAX_NODES_LOCAL} nodes (one loopback address each), ${i.numberOfNode} were requested`],
      });
    }
    await this.checkCapacity(projectId, i.nodeType, i.numberOfNode);
    const { cluster } = await this.insertNewCluster(projectId, i, (tx, c) =>
      this.deps.queue.enqueue(tx, {
        kind: 'cluster.create',
        projectId,
        cluster: c,
        params: { clusterId: c.id, numberOfNode: c.numberOfNode },
        checkState: false,
      }),
    );
    this.deps.log.info('cluster create accepted', { clusterId: cluster.id, projectId, nodes: cluster.numberOfNode });
    return cluster;
  }

  // ------------------------------------------------------------------ operations
  private async enqueueOn(
    projectId: string,
    clusterId: string,
    kind: 'cluster.restart' | 'cluster.start' | 'cluster.stop' | 'cluster.delete' | 'cluster.switchover' | 'cluster.repair',
    params: (c: ClusterRecord, nodes: NodeRecord[]) => Record<string, unknown>,
  ): Promise<TaskRecord> {
    const task = await this.deps.store.transaction(async (tx) => {
      const c = await tx.getCluster(projectId, clusterId);
      if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
      const nodes = (await tx.listNodes(c.id)).filter((n) => n.membership === 'active');
      return this.deps.queue.enqueue(tx, { kind, projectId, cluster: c, params: { clusterId: c.id, ...params(c, nodes) } });
    });
    this.deps.queue.notify();
    this.deps.log.info('cluster operation accepted', { clusterId, projectId, kind, taskId: task.id });
    return task;
  }

  restart(projectId: string, clusterId: string): Promise<TaskRecord> {
    return this.enqueueOn(projectId, clusterId, 'cluster.restart', membersOf);
  }
  start(projectId: string, clusterId: string): Promise<TaskRecord> {
    return this.enqueueOn(projectId, clusterId, 'cluster.start', membersOf);
  }
  stop(projectId: string, clusterId: string): Promise<TaskRecord> {
    return this.enqueueOn(projectId, clusterId, 'cluster.stop', membersOf);
  }

  /**
   * SwitchOverCluster (issue 15): a planned switchover to `candidateNodeId` (a dwsbox
   * extension), by default to the preferred node (node 1). Refused at once when the engine has
   * no failover manager, the cluster is not available, the candidate already leads or is not
   * a streaming replica now.
   */
  async switchover(projectId: string, clusterId: string, candidateNodeId: string | null): Promise<TaskRecord> {
    const dp = this.deps.dataPlane;
    if (!dp.switchover || !dp.switchoverCandidates)
      throw new AppError('NOT_SUPPORTED', {
        args: [
          'A switchover',
          `the ${dp.engineName} engine has no standby that takes over; clusters of the patroni engine (a service started with --engine patroni on a data directory of its own) have one`,
        ],
      });
    const c = await this.get(projectId, clusterId);
    const nodes = (await this.deps.store.listNodes(c.id)).filter((n) => n.membership === 'active');
    const candidate = candidateNodeId
      ? nodes.find((n) => n.id === candidateNodeId)
      : nodes.reduce((a, b) => (b.ordinal < a.ordinal ? b : a), nodes[0]!);
    if (!candidate) throw new AppError('VALIDATION', { args: [`node ${candidateNodeId} is not a node of cluster ${c.name}`] });
    if (c.status !== 'AVAILABLE' || c.stopped)
      throw new AppError('CLUSTER_STATE_CONFLICT', {
        args: [c.name, `a switchover needs an available cluster (status ${c.status}${c.stopped ? ', stopped' : ''})`],
      });
    if (candidate.role === 'primary')
      throw new AppError('CLUSTER_STATE_CONFLICT', {
        args: [c.name, `node ${candidate.ordinal} (${candidate.host}) is the primary already`],
      });
    if (!(await dp.switchoverCandidates(c)).includes(candidate.ordinal))
      throw new AppError('CLUSTER_STATE_CONFLICT', {
        args: [c.name, `node ${candidate.ordinal} (${candidate.host}) is not a streaming replica now; no switchover to it`],
      });
    return this.enqueueOn(projectId, clusterId, 'cluster.switchover', () => ({ candidate: candidate.ordinal }));
  }

  /**
   * A repair task (cluster.repair, REPAIRING) for members a highly available engine's failover
   * manager left stopped: started by the health monitor, never by a request. Refused like any
   * operation while another task runs on the cluster.
   */
  repair(projectId: string, clusterId: string, ordinals: number[]): Promise<TaskRecord> {
    return this.enqueueOn(projectId, clusterId, 'cluster.repair', () => ({ ordinals }));
  }

  async delete(projectId: string, clusterId: string, keepLastManualSnapshot: number): Promise<TaskRecord> {
    if (!Number.isInteger(keepLastManualSnapshot) || keepLastManualSnapshot < 0 || keepLastManualSnapshot > 1000) {
      throw new AppError('VALIDATION', {
        args: [`keep_last_manual_snapshot must be an integer from 0 to 1000, got ${keepLastManualSnapshot}`],
      });
    }
    const readers = await this.snapshotReaders(projectId, clusterId);
    if (readers.length) {
      throw new AppError('CLUSTER_STATE_CONFLICT', {
        args: [
          clusterId,
          `a running restore (task ${readers[0]!.id}) reads this cluster's snapshots; delete the cluster when that task has finished`,
        ],
      });
    }
    return this.enqueueOn(projectId, clusterId, 'cluster.delete', () => ({ keepLastManualSnapshot }));
  }

  /** Active restores into other clusters that read this cluster's snapshots (D16 guard). */
  private async snapshotReaders(projectId: string, clusterId: string): Promise<TaskRecord[]> {
    const active = await this.deps.store.listActiveTasks();
    return active.filter((t) => t.projectId === projectId && t.kind === 'cluster.restore' && t.params['sourceClusterId'] === clusterId);
  }

  async resetPassword(projectId: string, clusterId: string, newPasswordValue: string): Promise<void> {
    const c = await this.get(projectId, clusterId);
    const pw = passwordProblem(newPasswordValue, c.userName);
    if (pw) throw new AppError(pw.code, { args: [pw.why] });
    if (this.deps.secrets.decrypt(c.adminPasswordEnc) === newPasswordValue)
      throw new AppError('INVALID_PASSWORD', { args: ['it must differ from the current password'] });
    if (c.status !== 'AVAILABLE' || c.stopped)
      throw new AppError('CLUSTER_STATE_CONFLICT', {
        args: [c.name, `the password can be reset only on an available cluster (status ${c.status}${c.stopped ? ', stopped' : ''})`],
      });
    // Disaster recovery (D31): the side that follows holds the leading side's roles, read-only; an
    // administrator of the same name there has the password set on the leading side.
    const pairing = await this.deps.store.disasterRecoveryOfCluster(c.id);
    const sides = pairing && pairing.status !== 'unstart' ? drSides(pairing) : null;
    if (sides?.following === c.id)
      throw new AppError('CLUSTER_STATE_CONFLICT', {
        args: [
          c.name,
          `it follows the other cluster of disaster recovery ${pairing!.name}, whose roles it holds: reset the password there`,
        ],
      });
    const follower = sides ? await this.deps.store.getClusterById(sides.following) : undefined;
    const nodes = await this.deps.store.listNodes(c.id);
    const primary = nodes.find((n) => n.role === 'primary' && n.membership === 'active');
    if (!primary || !this.deps.dataPlane.memberStatus(c, primary))
      throw new AppError('CLUSTER_STATE_CONFLICT', { args: [c.name, 'its primary node is not running; restart the cluster first'] });
    await this.deps.dataPlane.setAdminPassword(c, primary, c.userName, newPasswordValue);
    const now = this.deps.clock.now();
    const adminPasswordEnc = this.deps.secrets.encrypt(newPasswordValue);
    await this.deps.store.transaction(async (tx) => {
      await tx.updateCluster(c.id, { adminPasswordEnc, updatedAt: now });
      if (follower?.userName === c.userName) await tx.updateCluster(follower.id, { adminPasswordEnc, updatedAt: now });
    });
    this.deps.log.info('administrator password reset', { clusterId, projectId });
  }

  /**
   * A highly available cluster's replication mode changed (D25; the dwsbox field `sync_mode` of
   * create, changed later), at once: refused on an engine without it, on a cluster not available
   * or stopped, and while a task runs on it. Done under the cluster's lock (no task's step runs
   * meanwhile), once the leader shows the new mode; the cluster's detail shows it after.
   */
  async setSyncMode(projectId: string, clusterId: string, mode: NonNullable<ClusterSpec['syncMode']>): Promise<void> {
    const dp = this.deps.dataPlane;
    if (!dp.setSyncMode) throw this.noSyncMode();
    const c = await this.get(projectId, clusterId);
    if (c.status !== 'AVAILABLE' || c.stopped)
      throw new AppError('CLUSTER_STATE_CONFLICT', {
        args: [c.name, `its replication can change only while it is available (status ${c.status}${c.stopped ? ', stopped' : ''})`],
      });
    const busy = await this.deps.store.activeTask(`cluster:${c.id}`);
    if (busy)
      throw new AppError('CLUSTER_BUSY', { args: [c.name, ACTION_OF_KIND[busy.kind], busy.id], details: { blockingTaskId: busy.id } });
    const lock = await dp.lockForStep(dp.lockFile(c.id), { timeoutMs: 5000, label: 'change the replication mode' }).catch(() => {
      throw new AppError('CLUSTER_STATE_CONFLICT', { args: [c.name, 'a step of another operation holds it now; try again in a moment'] });
    });
    try {
      await dp.setSyncMode(c, mode);
      await this.updateSpec(projectId, clusterId, (sp) => ({ ...sp, syncMode: mode }));
    } finally {
      await lock.release();
    }
    this.deps.log.info('replication mode changed', { clusterId, projectId, from: c.spec.syncMode ?? null, to: mode });
  }

  /** `sync_mode` on an engine whose standbys replicate asynchronously, always. */
  private noSyncMode(): AppError {
    return new AppError('NOT_SUPPORTED', {
      args: [
        'sync_mode',
        `the ${this.deps.dataPlane.engineName} engine's standbys replicate asynchronously; clusters of the patroni engine (a service started with --engine patroni on a data directory of its own) choose it`,
      ],
    });
  }

  // ------------------------------------------------------------------ metadata (D19)
  /**
   * ModifyClusterName: the name checked as at create and free among the project's live clusters
   * (409 DWS.5050 otherwise). Metadata only: no process, path or stanza carries a cluster's name,
   * so it is changed at once, whatever runs on the cluster; snapshots keep the name they were
   * taken under.
   */
  async rename(projectId: string, clusterId: string, name: string): Promise<void> {
    validateName(name);
    const old = await this.deps.store.transaction(async (tx) => {
      const c = await tx.getCluster(projectId, clusterId);
      if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
      if (c.name !== name) await tx.updateCluster(c.id, { name, updatedAt: this.deps.clock.now() });
      return c.name;
    });
    this.deps.log.info('cluster renamed', { projectId, clusterId, from: old, to: name });
  }

  /**
   * UpdateMaintenanceWindow: the window checked (domain/maintenance-window.ts; 400, nothing
   * changed) and stored at once, whatever runs on the cluster: it is when dwsbox may restart
   * the cluster on its own, which the detail's maintain_window shows. A restart waiting for the
   * window is due at the new one.
   */
  async setMaintenanceWindow(
    projectId: string,
    clusterId: string,
    input: { day: string; start_time: string; end_time: string },
  ): Promise<void> {
    const window = parseMaintenanceWindow(input);
    const now = this.deps.clock.now();
    await this.deps.store.transaction(async (tx) => {
      const c = await tx.getCluster(projectId, clusterId);
      if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
      // A restart waiting for the window moves with it (one that fired already runs on).
      const due = c.restartDueAt === null ? {} : { restartDueAt: maintenanceDue(window, now) };
      await tx.updateCluster(c.id, { maintainWindow: window, ...due, updatedAt: now });
    });
    this.deps.log.info('maintenance window set', { projectId, clusterId, ...window });
  }

  /**
   * CancelReadonlyCluster: the read-only protection lifted (domain/read-only.ts), so the user can
   * delete data; it arms again once the data is below the threshold. Recorded first, then every
   * running member is made writable (the health monitor makes them hold the record on each of
   * its runs, so a member that did not answer here follows). A cluster that is not read-only:
   * 409, nothing changed.
   */
  async cancelReadOnly(projectId: string, clusterId: string): Promise<void> {
    const now = this.deps.clock.now();
    const c = await this.deps.store.transaction(async (tx) => {
      const c = await tx.getCluster(projectId, clusterId);
      if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
      if (c.readOnly !== 'ON')
        throw new AppError('CLUSTER_STATE_CONFLICT', {
          args: [c.name, `it is not read-only (sub_status ${c.subStatus}); only the data-disk protection makes a cluster read-only`],
        });
      await tx.updateCluster(c.id, { readOnly: 'LIFTED', subStatus: withoutReadOnly(c.subStatus), updatedAt: now });
      return c;
    });
    for (const n of await this.deps.store.listNodes(c.id))
      if (n.membership === 'active' && this.deps.dataPlane.memberStatus(c, n))
        await this.deps.dataPlane.setReadOnly(c, n, false).catch((e: unknown) => {
          this.deps.log.warn('a member could not be made writable; the health monitor tries again', {
            clusterId,
            node: n.ordinal,
            error: coerceError(e).message,
          });
        });
    this.deps.log.info('read-only protection lifted', { projectId, clusterId });
    await recordEvent(this.deps.store, this.deps.log, readOnlyEvent(c, 'lifted', null, this.deps.config.readOnlyDiskPercent, now));
  }

  async updateSpec(projectId: string, clusterId: string, patch: (s: ClusterSpec) => ClusterSpec): Promise<void> {
    await this.deps.store.transaction(async (tx) => {
      const c = await tx.getCluster(projectId, clusterId);
      if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
      await tx.updateCluster(c.id, { spec: patch(c.spec), updatedAt: this.deps.clock.now() });
    });
  }

  /** Tags the caller has checked (validateTags of domain/text-fields.ts); at most 20 in all. */
  async addTags(projectId: string, clusterId: string, tags: Tag[]): Promise<void> {
    await this.updateSpec(projectId, clusterId, (s) => {
      const merged = new Map(s.tags.map((t) => [t.key, t.value]));
      for (const t of tags) merged.set(t.key, t.value);
      if (merged.size > 20) throw new AppError('VALIDATION', { args: ['a cluster has at most 20 tags'] });
      return { ...s, tags: [...merged].map(([key, value]) => ({ key, value })) };
    });
  }

  async removeTags(projectId: string, clusterId: string, tags: Tag[]): Promise<void> {
    const keys = new Set(tags.map((t) => t.key));
    await this.updateSpec(projectId, clusterId, (s) => ({ ...s, tags: s.tags.filter((t) => !keys.has(t.key)) }));
  }
}

/** A spec without what the engine sets (a restore copies its source's spec; the new cluster gets its own endpoints, and its replication from the request). */
function withoutEngineFields(spec: ClusterSpec): ClusterSpec {
  const { endpoints: _e, syncMode: _s, ...rest } = spec;
  return rest;
}
