/**
 * Parameter configurations (issue 16, D28): ListClusterConfigurations,
 * ListClusterConfigurationsParameter, UpdateConfiguration and ListConfigurationsAuditRecords.
 * A cluster has one configuration, whose id is the cluster's id. Its parameters are the offered
 * PostgreSQL settings (domain/parameters.ts), read from the running primary's `pg_settings`; an
 * update is checked against those rows before anything is made (400, nothing changed), then runs
 * as a cluster.configure task (SETTING_CONFIGURATION, tasks/definitions/cluster-configure.ts).
 * The audit records are those tasks. A restart a change takes waits for the cluster's
 * maintenance window unless the request says `restart_now` (maintenance-restarts.ts fires it).
 */
import { runningMembers } from './running-members.js';
import {
  MAX_CHANGES,
  OFFERED_PARAMETERS,
  SHOWN_READONLY,
  needsRestart,
  normalizeValue,
  primaryFirst,
  refusalOf,
  sameSetting,
  upperBound,
  valueRange,
  type ParameterChange,
  type PgSettingRow,
} from '../domain/parameters.js';
import type { ClusterRecord, NodeRecord, TaskRecord } from '../domain/records.js';
import { jobStatusOf, isTaskActive, isTaskFailure } from '../domain/task.js';
import { TIMEZONES } from '../domain/time-zones.js';
import { clusterTime } from '../domain/time.js';
import { AppError } from '../errors/app-error.js';
import { inSettingUnits, nodeTypeSettings, targetFlavors, targetNodeType } from '../domain/flavors.js';
import { findNodeType } from '../domain/node-types.js';
import { diskPercent } from '../domain/read-only.js';
import type { ClusterService, ClusterServiceDeps } from './cluster-service.js';
import type { ConfigureParams } from '../tasks/definitions/cluster-configure.js';

export interface ClusterConfigurationOut {
  id: string;
  name: string;
  type: string;
  status: 'In-Sync' | 'Applying' | 'Sync-Failure';
  fail_reason?: string;
}

export interface ConfigurationParameterOut {
  name: string;
  values: { type: string; value: string; default_value: string }[];
  unit: string;
  type: string;
  readonly: boolean;
  value_range: string;
  restart_required: boolean;
  /** dwsbox extension: the primary's pg_settings.pending_restart */
  pending_restart: boolean;
  description: string;
}

export interface ParameterValueIn {
  type?: string;
  name: string;
  value: string;
}

export interface AuditRecordOut {
  id: string;
  start_time: string;
  end_time?: string;
  status: 'WAITING' | 'RUNNING' | 'SUCCESS' | 'FAIL';
  failed_reason?: string;
  /** dwsbox extension: what the update changed, with the values before */
  parameters: { name: string; old_value: string; new_value: string; restart_required: boolean }[];
}

/** The one configuration's name (its id is the cluster's). */
const configurationName = (c: ClusterRecord): string => `${c.name}-parameters`;

/** Values a member of any type shows: one PostgreSQL server is the coordinator and the data node (docs/api.md#parameters). */
const INSTANCE_TYPE = 'dn';

export class ConfigurationService {
  constructor(
    private readonly deps: ClusterServiceDeps,
    private readonly clusters: Pick<ClusterService, 'get'>,
  ) {}

  private async runningPrimary(c: ClusterRecord): Promise<NodeRecord> {
    return (await runningMembers(this.deps, c, 'read or set its parameters')).primary;
  }

  private async cluster(projectId: string, clusterId: string, configurationId?: string): Promise<ClusterRecord> {
    const c = await this.clusters.get(projectId, clusterId);
    if (configurationId !== undefined && configurationId !== c.id)
      throw new AppError('CONFIGURATION_NOT_FOUND', { args: [configurationId, c.name] });
    return c;
  }

  private tasks(c: ClusterRecord, limit?: number): Promise<TaskRecord[]> {
    return this.deps.store.listTasks(c.id, { kinds: ['cluster.configure'], ...(limit ? { limit } : {}) });
  }

  async list(projectId: string, clusterId: string): Promise<{ configurations: ClusterConfigurationOut[] }> {
    const c = await this.cluster(projectId, clusterId);
    const [last] = await this.tasks(c, 1);
    const status = !last ? 'In-Sync' : isTaskActive(last.status) ? 'Applying' : isTaskFailure(last.status) ? 'Sync-Failure' : 'In-Sync';
    return {
      configurations: [
        {
          id: c.id,
          name: configurationName(c),
          type: 'cluster',
          status,
          ...(status === 'Sync-Failure' && last?.errorMsg ? { fail_reason: last.errorMsg } : {}),
        },
      ],
    };
  }

  async parameters(
    projectId: string,
    clusterId: string,
    configurationId: string,
  ): Promise<{ configurations: ConfigurationParameterOut[] }> {
    const c = await this.cluster(projectId, clusterId, configurationId);
    const primary = await this.runningPrimary(c);
    const rows = await this.deps.dataPlane.pgSettings(c, primary, [...Object.keys(OFFERED_PARAMETERS), ...SHOWN_READONLY]);
    // A value waiting for the window is pending even where pg_settings cannot say so (Patroni's command-line parameters).
    const waiting = new Set((c.pendingRestart?.parameters ?? []).map((p) => p.name));
    return {
      configurations: rows.map((r) =>
        parameterOut({ ...r, pendingRestart: r.pendingRestart || waiting.has(r.name) }, !(r.name in OFFERED_PARAMETERS)),
      ),
    };
  }

  /** UpdateConfiguration: every value checked against the primary's pg_settings, then one task; none when nothing changes. */
  async update(
    projectId: string,
    clusterId: string,
    configurationId: string,
    values: ParameterValueIn[],
    o: { restartNow?: boolean } = {},
  ): Promise<TaskRecord | null> {
    const c = await this.cluster(projectId, clusterId, configurationId);
    if (!values.length) throw new AppError('VALIDATION', { args: ['configurations: name at least one parameter'] });
    if (values.length > MAX_CHANGES)
      throw new AppError('VALIDATION', { args: [`configurations: at most ${MAX_CHANGES} parameters at once`] });
    const seen = new Set<string>();
    for (const v of values) {
      if (seen.has(v.name)) throw new AppError('VALIDATION', { args: [`parameter ${v.name} is named twice`] });
      seen.add(v.name);
      const why = refusalOf(v.name);
      if (why) throw new AppError('VALIDATION', { args: [`parameter ${v.name} cannot be set: ${why}`] });
    }
    return this.enqueue(c, values, normalizeValue, o.restartNow ?? false);
  }

  /**
   * ModifyClusterTimezone: the cluster's `timezone` (its sessions' time zone), one of the zones
   * the DWS API names (TIMEZONES), set by the same SETTING_CONFIGURATION task as a parameter (a
   * reload: no member restarts). `timezone` is not among UpdateConfiguration's parameters: this
   * is its one way in. Null when the cluster is already in that zone.
   */
  async setTimezone(projectId: string, clusterId: string, zone: string): Promise<TaskRecord | null> {
    if (!TIMEZONES.includes(zone))
      throw new AppError('VALIDATION', {
        args: [`cluster_timezone ${JSON.stringify(zone.slice(0, 64))} is not one of ${TIMEZONES.join(', ')}`],
      });
    // A text setting, which normalizeValue refuses: the zone was checked against the list above.
    return this.enqueue(await this.cluster(projectId, clusterId), [{ name: 'timezone', value: zone }], (_row, v) => v);
  }

  /**
   * ExecuteFlavorChange: the cluster moves to another node type. Its settings (memory,
   * connections: SHOWN_READONLY) are applied by a SETTING_CONFIGURATION task that restarts every
   * member at once, standbys first (the primary first when max_connections goes down), as a
   * parameter change with `restart_now` does; the record's node type changes with them. Refused
   * before anything is made: the same type, a host without the memory the bigger type needs, a
   * disk budget the data would already fill past the read-only threshold. Null when the new type's
   * settings equal the old ones (its budgets change at once, no member restarts).
   */
  async changeFlavor(projectId: string, clusterId: string, targetFlavorId: string): Promise<TaskRecord | null> {
    const c = await this.cluster(projectId, clusterId);
    const from = findNodeType(c.nodeType);
    const to = targetNodeType(targetFlavorId);
    // The same type again: what a failed change left pending is applied; nothing pending is refused.
    const again = from?.id === to.id;
    const nodes = (await this.deps.store.listNodes(c.id)).filter((n) => n.membership === 'active');
    const extra = (to.memoryBytes - (from?.memoryBytes ?? 0)) * nodes.length;
    const cap = this.deps.dataPlane.capacity();
    if (extra > cap.memAvailableBytes) {
      this.deps.log.warn('host memory short for a node type change', {
        projectId,
        clusterId,
        needBytes: extra,
        availableBytes: cap.memAvailableBytes,
      });
      throw new AppError('CAPACITY_EXCEEDED', {
        args: [`${nodes.length} nodes of type ${to.specName} need ${Math.round(extra / 1e6)} MB more memory than this host has free now`],
      });
    }
    const threshold = this.deps.config.readOnlyDiskPercent;
    const running = nodes.filter((n) => this.deps.dataPlane.memberStatus(c, n));
    const used = Math.max(0, ...(await Promise.all(running.map((n) => this.deps.dataPlane.memberDiskBytes(c, n)))));
    if (threshold > 0 && diskPercent(used, to.diskGb) >= threshold)
      throw new AppError('VALIDATION', {
        args: [
          `its data (${Math.round(used / 1e6)} MB on the largest member) would be past the read-only threshold (${threshold} %) of ${to.specName}'s ${to.diskGb} GB disk; delete data or choose a larger node type`,
        ],
      });
    const values = Object.entries(nodeTypeSettings(to)).map(([name, value]) => ({ name, value }));
    const task = await this.enqueue(c, values, inSettingUnits, true, to.specName);
    if (!task && again)
      throw new AppError('VALIDATION', {
        args: [`the cluster is of node type ${to.specName} already, and every member runs its settings`],
      });
    if (!task)
      // The types' settings are equal: only the budgets change, under the cluster's one-task rule.
      await this.deps.store.transaction(async (tx) => {
        if (await tx.activeTask(`cluster:${c.id}`))
          throw new AppError('CLUSTER_STATE_CONFLICT', { args: [c.name, 'another operation runs on it; try again when it has finished'] });
        await tx.updateCluster(c.id, { nodeType: to.specName, updatedAt: this.deps.clock.now() });
      });
    this.deps.log.info('node type change accepted', { projectId, clusterId, from: c.nodeType, to: to.specName, taskId: task?.id ?? null });
    return task;
  }

  /** ListTargetFlavors: every node type, `flavorId` marked; for a cluster, only those the host has the memory for, for its members, now. */
  async targetFlavors(projectId: string, flavorId: string, clusterId?: string): Promise<ReturnType<typeof targetFlavors>> {
    const current = targetNodeType(flavorId);
    if (clusterId === undefined) return targetFlavors(current.id);
    const c = await this.cluster(projectId, clusterId);
    const from = findNodeType(c.nodeType);
    const free = this.deps.dataPlane.capacity().memAvailableBytes;
    return targetFlavors(current.id, (t) => (t.memoryBytes - (from?.memoryBytes ?? 0)) * c.numberOfNode <= free);
  }

  /**
   * The values checked against the primary's pg_settings (`normalize`), then one
   * cluster.configure task (none when nothing changes). `nodeType`: a node-type change, whose
   * values are the type's settings, not parameters the cluster's spec keeps.
   */
  private async enqueue(
    c: ClusterRecord,
    values: ParameterValueIn[],
    normalize: (row: PgSettingRow, value: string) => string = normalizeValue,
    restartNow = false,
    nodeType?: string,
  ): Promise<TaskRecord | null> {
    const [projectId, clusterId] = [c.projectId, c.id];
    const seen = new Set(values.map((v) => v.name));
    if (c.status !== 'AVAILABLE' || c.stopped)
      throw new AppError('CLUSTER_STATE_CONFLICT', {
        args: [c.name, `parameters change only on an available cluster (status ${c.status}${c.stopped ? ', stopped' : ''})`],
      });
    const primary = await this.runningPrimary(c);
    const rows = await this.deps.dataPlane.pgSettings(c, primary, [...seen]);
    const changes: ParameterChange[] = [];
    for (const v of values) {
      const row = rows.find((r) => r.name === v.name);
      if (!row) throw new AppError('VALIDATION', { args: [`parameter ${v.name} is not a setting of this PostgreSQL`] });
      const newValue = normalize(row, v.value);
      if (!sameSetting(row.setting, newValue) || row.pendingRestart)
        changes.push({ name: row.name, oldValue: row.setting, newValue, restart: needsRestart(row) });
    }
    if (!changes.length) return null;
    const task = await this.deps.store.transaction(async (tx) => {
      const cur = await tx.getCluster(projectId, clusterId);
      if (!cur) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
      const deferRestart = !restartNow && changes.some((x) => x.restart);
      const params: ConfigureParams = {
        clusterId: cur.id,
        changes,
        parameters: { ...(cur.spec.parameters ?? {}), ...(nodeType ? {} : Object.fromEntries(changes.map((x) => [x.name, x.newValue]))) },
        restartOrder: deferRestart ? [] : restartOrderOf(await tx.listNodes(cur.id), changes),
        ...(deferRestart ? { deferRestart } : {}),
        ...(nodeType ? { nodeType } : {}),
      };
      return this.deps.queue.enqueue(tx, { kind: 'cluster.configure', projectId, cluster: cur, params: { ...params } });
    });
    this.deps.queue.notify();
    this.deps.log.info('parameter change accepted', {
      projectId,
      clusterId,
      taskId: task.id,
      parameters: changes.map((x) => x.name),
      restart: !changes.some((x) => x.restart) ? 'none' : restartNow ? 'now' : 'at the maintenance window',
    });
    return task;
  }

  async auditRecords(
    projectId: string,
    clusterId: string,
    q: { offset?: number; limit?: number },
  ): Promise<{ records: AuditRecordOut[]; count: number }> {
    const c = await this.cluster(projectId, clusterId);
    const all = await this.tasks(c);
    const offset = q.offset ?? 0;
    return { records: all.slice(offset, offset + (q.limit ?? 1000)).map(auditRecord), count: all.length };
  }
}

/**
 * The members a restart for `changes` restarts, in order: the standbys by number, then the
 * primary — or the primary first when a hot-standby parameter goes down (primaryFirst, D23).
 * Empty when no change takes a restart.
 */
export function restartOrderOf(nodes: readonly NodeRecord[], changes: readonly ParameterChange[]): number[] {
  if (!changes.some((x) => x.restart)) return [];
  const active = nodes.filter((n) => n.membership === 'active');
  const lead = active.find((n) => n.role === 'primary')?.ordinal;
  const standbys = active
    .map((n) => n.ordinal)
    .filter((n) => n !== lead)
    .sort((a, b) => a - b);
  if (lead === undefined) return standbys;
  return primaryFirst(changes) ? [lead, ...standbys] : [...standbys, lead];
}

function parameterOut(r: PgSettingRow, readonly: boolean): ConfigurationParameterOut {
  const max = upperBound(r);
  return {
    name: r.name,
    values: [{ type: INSTANCE_TYPE, value: r.setting, default_value: r.bootVal ?? '' }],
    unit: r.unit ?? '',
    type: r.vartype,
    readonly,
    value_range: readonly ? '' : valueRange(r),
    restart_required: needsRestart(r),
    pending_restart: r.pendingRestart,
    description: r.shortDesc + (max !== null && r.maxVal !== null && max < Number(r.maxVal) ? ` (dwsbox: at most ${max})` : ''),
  };
}

function auditRecord(t: TaskRecord): AuditRecordOut {
  const changes = ((t.params as Partial<ConfigureParams>).changes ?? []) as ParameterChange[];
  return {
    id: t.id,
    start_time: clusterTime(t.startedAt ?? t.createdAt),
    ...(t.finishedAt ? { end_time: clusterTime(t.finishedAt) } : {}),
    status: jobStatusOf(t.status),
    ...(isTaskFailure(t.status) && t.errorMsg ? { failed_reason: t.errorMsg } : {}),
    parameters: changes.map((x) => ({ name: x.name, old_value: x.oldValue, new_value: x.newValue, restart_required: x.restart })),
  };
}
