/**
 * Disaster recovery between clusters (issue 19, D31): the DWS pairing operations over the
 * Patroni engine's standby clusters. A pairing is a store record (its status is the DWS value);
 * starting, pausing and deleting it are tasks on its standby cluster (tasks/definitions/
 * disaster-recovery.ts), and every figure the progress shows is read from the standby leader
 * and the production primary when asked.
 */
import { DR_LAG_RULE, type AlarmRecord } from '../domain/alarms.js';
import type { Clock } from '../domain/clock.js';
import {
  DR_BUSY,
  drNameProblem,
  drSides,
  drSlotName,
  syncPeriodMs,
  type DisasterRecoveryRecord,
  type DrDetailView,
  type DrReplicationView,
  type DrSideView,
  type DrStatus,
} from '../domain/disaster-recovery.js';
import { newId } from '../domain/ids.js';
import { lsnBytes } from '../domain/lsn.js';
import { AVAILABILITY_ZONE, DATASTORE_VERSION, findNodeType } from '../domain/node-types.js';
import type { ClusterRecord, NodeRecord, TaskRecord } from '../domain/records.js';
import { ACTION_OF_KIND, ACTION_TYPE_OF_KIND, isTaskActive, type TaskKind } from '../domain/task.js';
import { clusterTime } from '../domain/time.js';
import type { DataPlane, StandbyState } from '../dataplane/data-plane.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { TaskQueue } from '../tasks/queue.js';
import type { AlarmEvaluator } from './alarm-evaluator.js';
import { recordEvent, type EventSeverity } from './events.js';

/** dwsbox runs in one region; its zones are its hosts' (one on a single host). */
export const DR_REGION = 'local';
const DR_KINDS: readonly TaskKind[] = ['dr.start', 'dr.pause', 'dr.delete', 'dr.switchover', 'dr.failover', 'dr.recover'];

export interface DisasterRecoveryDeps {
  store: Store;
  queue: TaskQueue;
  dataPlane: DataPlane;
  clock: Clock;
  log: Logger;
  /** the alarm a lag past dr_sync_period raises (issue 17's alarms, rule `dwsbox.dr_lag`), kept in the store */
  alarms: Pick<AlarmEvaluator, 'raiseExternal' | 'clearExternal'>;
}

export interface CreateDrInput {
  name: unknown;
  drType: unknown;
  primaryClusterId: unknown;
  standbyClusterId: unknown;
  syncPeriod: unknown;
  /** dwsbox extension: the standby's own tables may be replaced by production's copy */
  discardStandbyData?: unknown;
}

/** The standby's replication now, with the lag against production's current WAL position (the RPO at this moment). */
export interface DrReplication extends StandbyState {
  productionLsn: string | null;
  lagBytes: number | null;
  lagSeconds: number | null;
}

export class DisasterRecoveryService {
  constructor(private readonly deps: DisasterRecoveryDeps) {}

  private supported(): void {
    const dp = this.deps.dataPlane;
    if (!dp.followCluster || !dp.standbyState)
      throw new AppError('NOT_SUPPORTED', {
        args: [
          'Disaster recovery',
          `the ${dp.engineName} engine has no standby clusters; clusters of the patroni engine (the default) have`,
        ],
      });
  }

  async get(projectId: string, id: string): Promise<DisasterRecoveryRecord> {
    const d = await this.deps.store.getDisasterRecovery(projectId, id);
    if (!d) throw new AppError('DR_NOT_FOUND', { args: [id] });
    return d;
  }

  private async cluster(projectId: string, id: unknown, field: string): Promise<ClusterRecord> {
    if (typeof id !== 'string' || !id) throw new AppError('VALIDATION', { args: [`${field} is required`] });
    const c = await this.deps.store.getCluster(projectId, id);
    if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [id] });
    return c;
  }

  /** CheckDisasterName: a usable name no pairing of the project has. */
  async checkName(projectId: string, name: unknown): Promise<void> {
    const why = drNameProblem(name);
    if (why) throw new AppError('VALIDATION', { args: [`dr_name: ${why}`] });
    if ((await this.deps.store.listDisasterRecoveries(projectId)).some((d) => d.name === name))
      throw new AppError('DR_NAME_EXISTS', { args: [String(name)] });
  }

  /**
   * ListAvailableDisasterClusters: the project's clusters a pairing with `primaryClusterId` may
   * take as its standby: another cluster of the same node type and node count (or the given
   * spec and count), available, not started or stopped by the user, and in no pairing.
   */
  async availableClusters(
    projectId: string,
    q: { primaryClusterId?: string | undefined; specId?: string | undefined; nodes?: string | undefined },
  ): Promise<ClusterRecord[]> {
    const primary = q.primaryClusterId ? await this.cluster(projectId, q.primaryClusterId, 'primary_cluster_id') : null;
    const nodeType = q.specId ?? primary?.nodeType;
    const nodes = q.nodes !== undefined ? Number(q.nodes) : primary?.numberOfNode;
    if (q.nodes !== undefined && (!Number.isInteger(nodes) || (nodes ?? 0) < 1))
      throw new AppError('VALIDATION', { args: [`primary_cluster_dn_num must be a positive integer, not ${JSON.stringify(q.nodes)}`] });
    const paired = new Set(
      (await this.deps.store.listDisasterRecoveries(projectId)).flatMap((d) => [d.primaryClusterId, d.standbyClusterId]),
    );
    return (await this.deps.store.listClusters(projectId)).filter(
      (c) =>
        c.id !== primary?.id &&
        !paired.has(c.id) &&
        c.status === 'AVAILABLE' &&
        !c.stopped &&
        (nodeType === undefined || c.nodeType === nodeType) &&
        (nodes === undefined || c.numberOfNode === nodes),
    );
  }

  /** CreateDisasterRecovery: the pairing recorded (`unstart`); nothing runs until it is started. */
  async create(projectId: string, i: CreateDrInput): Promise<DisasterRecoveryRecord> {
    this.supported();
    await this.checkName(projectId, i.name);
    if (i.drType !== 'az')
      throw new AppError(i.drType === 'region' ? 'NOT_SUPPORTED' : 'VALIDATION', {
        args:
          i.drType === 'region'
            ? ['dr_type region', `dwsbox runs in one region; pair clusters of zones (dr_type az)`]
            : [`dr_type must be az (or region), not ${JSON.stringify(i.drType)}`],
      });
    checkSyncPeriod(i.syncPeriod);
    if (i.discardStandbyData !== undefined && typeof i.discardStandbyData !== 'boolean')
      throw new AppError('VALIDATION', { args: ['discard_standby_data must be true or false'] });
    const primary = await this.cluster(projectId, i.primaryClusterId, 'primary_cluster_id');
    const standby = await this.cluster(projectId, i.standbyClusterId, 'standby_cluster_id');
    if (primary.id === standby.id) throw new AppError('VALIDATION', { args: ['a cluster cannot be paired with itself'] });
    if (primary.nodeType !== standby.nodeType || primary.numberOfNode !== standby.numberOfNode)
      throw new AppError('VALIDATION', {
        args: [
          `the standby cluster must have the production cluster's node type and node count: ${primary.name} has ${primary.numberOfNode} × ${primary.nodeType}, ${standby.name} ${standby.numberOfNode} × ${standby.nodeType}`,
        ],
      });
    const now = this.deps.clock.now();
    const id = newId();
    const d: DisasterRecoveryRecord = {
      id,
      projectId,
      name: i.name as string,
      drType: 'az',
      primaryClusterId: primary.id,
      standbyClusterId: standby.id,
      syncPeriod: i.syncPeriod as string,
      status: 'unstart',
      slot: drSlotName(id),
      discardStandbyData: i.discardStandbyData === true,
      rolesSwapped: false,
      lastSwitchAt: null,
      lastSwitchMs: null,
      error: null,
      createdAt: now,
      startedAt: null,
      updatedAt: now,
      deletedAt: null,
    };
    await this.deps.store.transaction(async (tx) => {
      for (const c of [primary, standby]) {
        const other = await tx.disasterRecoveryOfCluster(c.id);
        if (other)
          throw new AppError('DR_STATE_CONFLICT', {
            args: [d.name, 'be created', `cluster ${c.name} is in pairing ${other.name} already`],
          });
      }
      await tx.insertDisasterRecovery(d);
    });
    this.deps.log.info('disaster recovery created', { drId: id, projectId, primary: primary.id, standby: standby.id });
    return d;
  }

  /** UpdateDisasterInfo: dr_sync_period, the only field a pairing may change (the lag past which its alarm is raised). */
  async update(projectId: string, id: string, body: Record<string, unknown>): Promise<DisasterRecoveryRecord> {
    const d = await this.get(projectId, id);
    const others = Object.keys(body).filter((k) => k !== 'dr_sync_period' && body[k] !== undefined && body[k] !== null);
    if (others.length)
      throw new AppError('VALIDATION', { args: [`only dr_sync_period of a disaster recovery can be changed, not ${others.join(', ')}`] });
    checkSyncPeriod(body['dr_sync_period']);
    await this.deps.store.updateDisasterRecovery(id, { syncPeriod: body['dr_sync_period'] as string, updatedAt: this.deps.clock.now() });
    return { ...d, syncPeriod: body['dr_sync_period'] as string };
  }

  /**
   * StartDisasterRecovery: from `unstart` (or a failed start) the standby becomes a standby
   * cluster of production (its data replaced; refused while it holds tables of its own unless the
   * create agreed to discard them); from `stopped`, its replay resumes. A task on the standby.
   */
  async start(projectId: string, id: string): Promise<TaskRecord> {
    this.supported();
    const d = await this.get(projectId, id);
    const resume = d.status === 'stopped';
    if (!resume && d.status !== 'unstart' && d.status !== 'start_failed')
      throw new AppError('DR_STATE_CONFLICT', { args: [d.name, 'be started', `its status is ${d.status}`] });
    const { primary, standby } = await this.sides(d);
    if (!resume && d.status === 'unstart' && !d.discardStandbyData) {
      const own = await this.standbyTables(standby);
      if (own.length)
        throw new AppError('DR_STATE_CONFLICT', {
          args: [
            d.name,
            'be started',
            `the standby cluster ${standby.name} holds tables of its own (${own.slice(0, 5).join(', ')}${own.length > 5 ? ', …' : ''}), which starting replaces with the production cluster's data; empty it, or create the pairing again with discard_standby_data: true`,
          ],
        });
    }
    return this.enqueue(d, primary, standby, 'dr.start', 'starting', { resume });
  }

  /** PauseDisasterRecovery: the standby stops applying changes (it keeps receiving them). A task on the standby. */
  async pause(projectId: string, id: string): Promise<TaskRecord> {
    this.supported();
    const d = await this.get(projectId, id);
    if (d.status !== 'running' && d.status !== 'stop_failed')
      throw new AppError('DR_STATE_CONFLICT', { args: [d.name, 'be paused', `its status is ${d.status}; only a running pairing pauses`] });
    const { primary, standby } = await this.sides(d);
    return this.enqueue(d, primary, standby, 'dr.pause', 'stopping', {});
  }

  /**
   * SwitchoverDisasterRecovery (planned): the roles swap with no acknowledged write lost. A task
   * on the standby; refused unless the pairing runs (a paused one is resumed first) and while
   * either side runs another task (DWS.0011).
   */
  async switchover(projectId: string, id: string): Promise<TaskRecord> {
    this.supported();
    const d = await this.get(projectId, id);
    if (d.status !== 'running')
      throw new AppError('DR_STATE_CONFLICT', {
        args: [d.name, 'switch over', `its status is ${d.status}; a switchover needs a running pairing (start a stopped one first)`],
      });
    const { primary, standby } = await this.sides(d);
    return this.enqueue(d, primary, standby, 'dr.switchover', 'switchovering', {});
  }

  /**
   * SwitchFailoverDisaster (unplanned): production lost, the standby promoted at once with what it
   * received. Refused while production's primary runs (a planned switchover loses nothing then).
   * Production is not asked for anything (it may be gone), and a task stuck on it does not block.
   */
  async failover(projectId: string, id: string): Promise<TaskRecord> {
    this.supported();
    const d = await this.get(projectId, id);
    if (d.status !== 'running' && d.status !== 'stopped' && d.status !== 'abnormal')
      throw new AppError('DR_STATE_CONFLICT', {
        args: [d.name, 'fail over', `its status is ${d.status}; only a started (or abnormal) pairing fails over`],
      });
    const { primary, standby } = await this.sides(d);
    // An abnormal pairing (a switchover that failed, a failed RestoreDisaster) fails over only while
    // its following side is still a standby cluster: after a failover it leads already.
    if (d.status === 'abnormal' && !(await this.deps.dataPlane.standbyState?.(standby).catch(() => null)))
      throw new AppError('DR_STATE_CONFLICT', {
        args: [
          d.name,
          'fail over',
          `its status is abnormal and ${standby.name} is no standby cluster now (or none of its members leads it): there is nothing to promote; RestoreDisaster rebuilds the side that follows`,
        ],
      });
    const roles = await this.deps.dataPlane.memberRoles?.(primary).catch(() => null);
    const leading = roles?.find((r) => r.role === 'primary' && r.running);
    if (leading)
      throw new AppError('DR_STATE_CONFLICT', {
        args: [
          d.name,
          'fail over',
          `the production cluster ${primary.name} is healthy (its primary, node ${leading.ordinal}, runs); a planned switchover (SwitchoverDisasterRecovery) loses nothing`,
        ],
      });
    return this.enqueue(d, null, standby, 'dr.failover', 'failovering', {});
  }

  /**
   * RestoreDisaster: after a failover (or any operation that left the pairing `abnormal`), the side
   * that follows is rebuilt as a standby cluster of the side that leads: its data replaced by a
   * copy (what it wrote on its own is discarded, as the API says), then streamed. Its members must
   * run (start the cluster first).
   */
  async recover(projectId: string, id: string): Promise<TaskRecord> {
    this.supported();
    const d = await this.get(projectId, id);
    if (d.status !== 'abnormal')
      throw new AppError('DR_STATE_CONFLICT', {
        args: [
          d.name,
          'be recovered',
          `its status is ${d.status}; RestoreDisaster rebuilds the standby of an abnormal pairing (after a failover)`,
        ],
      });
    const { primary, standby } = await this.sides(d);
    return this.enqueue(d, primary, standby, 'dr.recover', 'recovering', {});
  }

  /**
   * DeleteDisasterRecovery: the pairing ends, leaving two independent clusters, each with its
   * data: a standby that follows production is promoted (it keeps what it replayed), and
   * production's slot for it is dropped. A task on the standby; the pairing is gone when it ends.
   */
  async delete(projectId: string, id: string): Promise<TaskRecord> {
    this.supported();
    const d = await this.get(projectId, id);
    if (DR_BUSY.includes(d.status))
      throw new AppError('DR_STATE_CONFLICT', { args: [d.name, 'be deleted', `it is ${d.status}; wait until that ends`] });
    const { leading, following } = drSides(d);
    const standby = await this.cluster(projectId, following, 'standby_cluster_id');
    const primary = await this.deps.store.getCluster(projectId, leading);
    return this.enqueue(d, primary ?? null, standby, 'dr.delete', 'deleting', { started: d.status !== 'unstart' });
  }

  /** The cluster that leads the pairing now (production) and the one that follows it (the standby). */
  private async sides(d: DisasterRecoveryRecord): Promise<{ primary: ClusterRecord; standby: ClusterRecord }> {
    const { leading, following } = drSides(d);
    const [primary, standby] = await Promise.all([
      this.cluster(d.projectId, leading, 'primary_cluster_id'),
      this.cluster(d.projectId, following, 'standby_cluster_id'),
    ]);
    return { primary, standby };
  }

  /**
   * A task of the pairing on its standby cluster, with the pairing's new status, in one
   * transaction. Refused (DWS.0011) while either cluster runs another task.
   */
  private async enqueue(
    d: DisasterRecoveryRecord,
    primary: ClusterRecord | null,
    standby: ClusterRecord,
    kind: 'dr.start' | 'dr.pause' | 'dr.delete' | 'dr.switchover' | 'dr.failover' | 'dr.recover',
    status: DrStatus,
    extra: { resume?: boolean; started?: boolean },
  ): Promise<TaskRecord> {
    const task = await this.deps.store.transaction(async (tx) => {
      if (primary) {
        const busy = await tx.activeTask(`cluster:${primary.id}`);
        if (busy)
          throw new AppError('CLUSTER_BUSY', {
            args: [primary.name, ACTION_OF_KIND[busy.kind], busy.id],
            details: { blockingTaskId: busy.id },
          });
      }
      const fresh = await tx.getCluster(standby.projectId, standby.id);
      if (!fresh) throw new AppError('CLUSTER_NOT_FOUND', { args: [standby.id] });
      const t = await this.deps.queue.enqueue(tx, {
        kind,
        projectId: d.projectId,
        cluster: fresh,
        params: { clusterId: standby.id, drId: d.id, primaryClusterId: primary?.id ?? drSides(d).leading, slot: d.slot, ...extra },
      });
      await tx.updateDisasterRecovery(d.id, { status, updatedAt: this.deps.clock.now() });
      return t;
    });
    this.deps.queue.notify();
    this.deps.log.info('disaster recovery operation accepted', { drId: d.id, kind, taskId: task.id });
    return task;
  }

  /** A cluster's primary node as the store records it (a standby cluster's: its standby leader), if any. */
  private async primaryNode(clusterId: string): Promise<NodeRecord | undefined> {
    return (await this.deps.store.listNodes(clusterId)).find((n) => n.role === 'primary' && n.membership === 'active');
  }

  /** The standby's own tables (`db.schema.table`), which a start replaces. */
  private async standbyTables(standby: ClusterRecord): Promise<string[]> {
    const primary = await this.primaryNode(standby.id);
    if (!primary) throw new AppError('CLUSTER_STATE_CONFLICT', { args: [standby.name, 'it has no primary node'] });
    const info = await this.deps.dataPlane.schemaInfo(standby, primary);
    return info.databases.flatMap((db) => db.tables.map((t) => `${db.name}.${t.schema}.${t.name}`));
  }

  /** The standby's replication now and its lag behind production (null when it follows nothing or no member answers). */
  async replication(d: DisasterRecoveryRecord): Promise<DrReplication | null> {
    const { leading, following } = drSides(d);
    const standby = await this.deps.store.getClusterById(following);
    if (!standby || d.status === 'unstart') return null;
    const st = await this.deps.dataPlane.standbyState?.(standby).catch(() => null);
    if (!st) return null;
    const production = await this.deps.store.getClusterById(leading);
    const primary = production && (await this.primaryNode(production.id));
    const productionLsn = production && primary ? await this.deps.dataPlane.currentLsn(production, primary).catch(() => null) : null;
    const lagBytes = productionLsn && st.replayedLsn ? Math.max(0, Number(lsnBytes(productionLsn) - lsnBytes(st.replayedLsn))) : null;
    // Nothing to replay: no lag. Else the time since the last commit replayed (the commits after it are not on the standby yet).
    const lagSeconds =
      lagBytes === 0
        ? 0
        : lagBytes && st.replayedCommitAt !== null
          ? Math.max(0, (this.deps.clock.now() - st.replayedCommitAt) / 1000)
          : null;
    return { ...st, productionLsn, lagBytes, lagSeconds };
  }

  /**
   * The pairings watched (D31), from the health monitor: a paused pairing whose standby has
   * members replaying again (a paused replay does not survive a restart) is paused again; a
   * running one whose lag passes its dr_sync_period raises `dr_lag_high` once (and
   * `dr_lag_normal` when it is within it again). Pairings with a task running are left to it.
   */
  async watch(): Promise<void> {
    const all = await this.deps.store.listDisasterRecoveries(null);
    // The lag alarms raised now, read once for every pairing.
    const lagAlarms = (await this.deps.store.activeAlarms()).filter((a) => a.ruleId === DR_LAG_RULE);
    for (const d of all) {
      if (d.status !== 'running' && d.status !== 'stopped') continue;
      try {
        await this.watchOne(
          d,
          lagAlarms.filter((a) => a.clusterId === drSides(d).following),
        );
      } catch (e) {
        this.deps.log.warn('could not check a disaster-recovery pairing', { drId: d.id, error: (e as Error).message });
      }
    }
    // A lag alarm of a side that no longer streams (paused, switched, failed over, deleted) clears.
    const streaming = new Set(all.filter((d) => d.status === 'running').map((d) => drSides(d).following));
    const orphaned = lagAlarms.filter((a) => !streaming.has(a.clusterId));
    await this.deps.alarms.clearExternal(orphaned, 'its pairing does not stream any more', this.deps.clock.now());
  }

  private async watchOne(d: DisasterRecoveryRecord, lagAlarms: readonly AlarmRecord[]): Promise<void> {
    const { following } = drSides(d);
    const standby = await this.deps.store.getClusterById(following);
    if (!standby || (await this.deps.store.activeTask(`cluster:${following}`))) return;
    const event = (kind: string, severity: EventSeverity, message: string, at: string | null): Promise<boolean> =>
      recordEvent(this.deps.store, this.deps.log, {
        projectId: d.projectId,
        clusterId: following,
        kind,
        severity,
        message,
        subject: d.id,
        sourceKey: `${kind}:${d.id}:${at ?? 'unknown'}`,
        occurredAt: this.deps.clock.now(),
      });
    if (d.status === 'stopped') {
      const changed = (await this.deps.dataPlane.setReplayPaused?.(standby, true)) ?? 0;
      if (changed) {
        this.deps.log.warn('a paused disaster-recovery standby was replaying again: paused again', { drId: d.id, members: changed });
        const st = await this.deps.dataPlane.standbyState?.(standby).catch(() => null);
        await event(
          'dr_pause_restored',
          'warning',
          `Disaster recovery ${d.name}: ${changed} member(s) of the standby were replaying again (after a restart); paused again`,
          st?.replayedLsn ?? null,
        );
      }
      return;
    }
    const rep = await this.replication(d);
    const limitS = (syncPeriodMs(d.syncPeriod) ?? Infinity) / 1000;
    if (!rep || rep.lagSeconds === null) return;
    // The alarm in the store says whether the pairing lags already (whichever service process saw it first raised it).
    if (rep.lagSeconds > limitS) {
      const raised = await this.deps.alarms.raiseExternal(
        standby,
        rep.leader,
        DR_LAG_RULE,
        rep.lagSeconds,
        limitS,
        this.deps.clock.now(),
        lagAlarms,
      );
      if (!raised) return;
      this.deps.log.warn('a disaster-recovery standby lags past its sync period', { drId: d.id, lagSeconds: rep.lagSeconds, limitS });
      await event(
        'dr_lag_high',
        'major',
        `Disaster recovery ${d.name}: the standby is ${Math.round(rep.lagSeconds)} s (${rep.lagBytes ?? '?'} bytes) behind production, past its sync period ${d.syncPeriod}`,
        rep.replayedLsn,
      );
    } else if (
      await this.deps.alarms.clearExternal(lagAlarms, `the standby is within its sync period ${d.syncPeriod} again`, this.deps.clock.now())
    ) {
      await event(
        'dr_lag_normal',
        'normal',
        `Disaster recovery ${d.name}: the standby is within its sync period ${d.syncPeriod} again`,
        rep.replayedLsn,
      );
    }
  }

  list(projectId: string): Promise<DisasterRecoveryRecord[]> {
    return this.deps.store.listDisasterRecoveries(projectId);
  }

  /** The last task of the pairing (its operations run on whichever side follows at the time), if any. */
  async lastTask(d: DisasterRecoveryRecord): Promise<TaskRecord | null> {
    const tasks = (
      await Promise.all([d.primaryClusterId, d.standbyClusterId].map((id) => this.deps.store.listTasks(id, { kinds: DR_KINDS, limit: 20 })))
    ).flat();
    return tasks.filter((t) => t.params['drId'] === d.id).sort((a, b) => b.createdAt - a.createdAt)[0] ?? null;
  }

  /** The list entry of a pairing (DWS's DisasterRecovery). */
  async listItem(d: DisasterRecoveryRecord): Promise<Record<string, unknown>> {
    const [p, s] = await Promise.all([
      this.deps.store.getClusterById(d.primaryClusterId),
      this.deps.store.getClusterById(d.standbyClusterId),
    ]);
    return {
      id: d.id,
      name: d.name,
      status: d.status,
      dr_type: d.drType,
      primary_cluster_id: d.primaryClusterId,
      primary_cluster_name: p?.name ?? null,
      standby_cluster_id: d.standbyClusterId,
      standby_cluster_name: s?.name ?? null,
      primary_cluster_role: d.rolesSwapped ? 'standby' : 'primary',
      standby_cluster_role: d.rolesSwapped ? 'primary' : 'standby',
      primary_cluster_status: p?.status ?? null,
      standby_cluster_status: s?.status ?? null,
      primary_cluster_region: DR_REGION,
      standby_cluster_region: DR_REGION,
      primary_cluster_project_id: d.projectId,
      standby_cluster_project_id: d.projectId,
      last_disaster_time: d.lastSwitchAt === null ? null : clusterTime(d.lastSwitchAt),
      start_time: d.startedAt === null ? null : clusterTime(d.startedAt),
      create_time: clusterTime(d.createdAt),
    };
  }

  /** ShowDisasterDetail: the pairing, each side as it is now, and the standby's replication (dwsbox `replication`). */
  async detail(projectId: string, id: string): Promise<DrDetailView> {
    const d = await this.get(projectId, id);
    const [rep, task] = await Promise.all([this.replication(d), this.lastTask(d)]);
    const following = drSides(d).following;
    const side = async (clusterId: string): Promise<DrSideView> => {
      const role = clusterId === following ? 'standby' : 'primary';
      const c = await this.deps.store.getClusterById(clusterId);
      const primary = c && (await this.primaryNode(c.id));
      const used =
        c && primary && this.deps.dataPlane.memberStatus(c, primary)
          ? await this.deps.dataPlane.memberDiskBytes(c, primary).catch(() => null)
          : null;
      const active = role === 'standby' && task && isTaskActive(task.status);
      return {
        id: clusterId,
        name: c?.name ?? null,
        cluster_az: AVAILABILITY_ZONE,
        role,
        region: DR_REGION,
        status: c?.status ?? null,
        progress: active ? `${Math.round(task.progress * 100)}%` : null,
        // the standby: when the last production commit it applied was made
        last_success_time: role === 'standby' && rep?.replayedCommitAt ? clusterTime(rep.replayedCommitAt) : null,
        obs_bucket_name: null,
        datastore_version: DATASTORE_VERSION,
        datastore_type: 'dws',
        disk_capacity: c ? String(findNodeType(c.nodeType)?.diskGb ?? '') : null,
        disk_used: used === null ? null : (used / 2 ** 30).toFixed(2),
      };
    };
    return {
      id: d.id,
      name: d.name,
      dr_type: d.drType,
      status: d.status,
      primary_cluster: await side(d.primaryClusterId),
      standby_cluster: await side(d.standbyClusterId),
      dr_sync_period: d.syncPeriod,
      start_time: d.startedAt === null ? null : clusterTime(d.startedAt),
      create_time: clusterTime(d.createdAt),
      // dwsbox: what the last failed operation said, and the standby's replication now
      error: d.error,
      replication: rep && replicationOut(rep),
    };
  }

  /** ShowDisasterProgress: the last operation on each side, the standby's last replayed commit and the RPO now. */
  async progress(projectId: string, id: string): Promise<Record<string, unknown>> {
    const d = await this.get(projectId, id);
    const [rep, task] = await Promise.all([this.replication(d), this.lastTask(d)]);
    const op = (t: TaskRecord | null): Record<string, unknown> => ({
      key: t?.id ?? null,
      action_type: t ? ACTION_TYPE_OF_KIND[t.kind] : null,
      unrestore_keys: null,
      action_start_time: t?.startedAt ? clusterTime(t.startedAt) : null,
      action_end_time: t?.finishedAt ? clusterTime(t.finishedAt) : null,
    });
    const onPrimarySide = task?.clusterId === d.primaryClusterId;
    return {
      primary_cluster: op(onPrimarySide ? task : null),
      standby_cluster: op(onPrimarySide ? null : task),
      latest_barrier_time: rep?.replayedCommitAt ? clusterTime(rep.replayedCommitAt) : null,
      // the last switch's length (seconds): the recovery time it took
      last_recovery_spend: d.lastSwitchMs === null ? null : d.lastSwitchMs / 1000,
      recovery_point_object: rep?.lagSeconds ?? null,
      recovery_time_object: d.lastSwitchMs === null ? null : d.lastSwitchMs / 1000,
      replication: rep && replicationOut(rep),
    };
  }
}

/** dr_sync_period as CreateDisasterRecovery and UpdateDisasterInfo take it, or a 400 saying what it must be. */
function checkSyncPeriod(v: unknown): void {
  if (syncPeriodMs(v) === null)
    throw new AppError('VALIDATION', {
      args: [`dr_sync_period must be a number of minutes, hours or days (30M, 1H, 2D), not ${JSON.stringify(v)}`],
    });
}

/** The standby's replication as the API shows it (dwsbox extension). */
function replicationOut(r: DrReplication): DrReplicationView {
  return {
    state: r.paused ? 'paused' : r.receiver === 'streaming' ? 'streaming' : (r.receiver ?? 'not streaming'),
    receiver: r.receiver,
    paused: r.paused,
    received_lsn: r.receivedLsn,
    replayed_lsn: r.replayedLsn,
    production_lsn: r.productionLsn,
    lag_bytes: r.lagBytes,
    lag_seconds: r.lagSeconds === null ? null : Number(r.lagSeconds.toFixed(3)),
    last_replayed_commit: r.replayedCommitAt === null ? null : clusterTime(r.replayedCommitAt),
    standby_leader: r.leader,
  };
}
