/**
 * The monitoring APIs' reads of the metrics history (issue 17, D29): indicators and their data
 * over a range (ListMonitorIndicators, ListMonitorIndicatorData), each member's newest figures
 * (ListHostOverview, ListHostDisk, ListHostNet) and a cluster's metric groups and their rows
 * (ListMetrics, ListMetricsData). Everything is read from the samples the collector wrote;
 * nothing is measured at request time, and a figure the engine cannot measure is left out with
 * its reason (`absent`).
 */
import type { Clock } from '../domain/clock.js';
import {
  ABSENT_REASONS,
  INDICATORS,
  ROLLUP_SECONDS,
  bucketize,
  findIndicator,
  indicatorValue,
  resolutionFor,
  type BucketFunction,
  type Indicator,
  type MetricField,
  type MetricSample,
} from '../domain/metrics.js';
import { DATASTORE_VERSION, findNodeType } from '../domain/node-types.js';
import { stepName, type Lang } from '../domain/step-names.js';
import { ACTION_TYPE_OF_KIND } from '../domain/task.js';
import { stepThroughput } from '../domain/throughput.js';
import type { ClusterRecord, NodeRecord } from '../domain/records.js';
import { AppError } from '../errors/app-error.js';
import type { Store } from '../store/store.js';
import type { ClusterService } from './cluster-service.js';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

export interface MonitoringConfig {
  metricsCollectIntervalMs: number;
  metricsRawRetentionHours: number;
  metricsRollupRetentionDays: number;
}

/** A member's name in the monitoring answers (the `inst_name` of ListQueries too). */
export const instanceName = (ordinal: number): string => `node${ordinal}`;

function parseInstance(name: string | undefined): number | undefined {
  if (name === undefined || name === '') return undefined;
  const m = /^node([1-9]\d{0,3})$/.exec(name);
  if (!m)
    throw new AppError('VALIDATION', { args: [`instance name ${JSON.stringify(name)}: a member is named node<n> (node1, node2, …)`] });
  return Number(m[1]);
}

/** Epoch milliseconds from a query value: digits (ms) or an ISO 8601 time. */
export function parseTime(v: string | number | undefined, what: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = typeof v === 'number' ? v : /^\d{1,16}$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n) || n < 0)
    throw new AppError('VALIDATION', { args: [`${what} ${JSON.stringify(v)}: give epoch milliseconds or an ISO 8601 time`] });
  return n;
}

const ctxOf = (c: ClusterRecord) => {
  const t = findNodeType(c.nodeType);
  return { nodeTypeMemoryBytes: t?.memoryBytes ?? 0, nodeTypeDiskBytes: (t?.diskGb ?? 0) * GIB };
};

const round = (v: number, digits = 3): number => Number(v.toFixed(digits));

/** The metric groups of ListMetrics / ListMetricsData: each a set of indicators read together. */
const METRIC_GROUPS: readonly { name: string; fields: readonly string[] }[] = [
  { name: 'cpu', fields: ['instance.cpu_usage', 'instance.cpu_usage_usr', 'instance.cpu_usage_sys'] },
  { name: 'memory', fields: ['instance.mem_used', 'instance.mem_usage'] },
  {
    name: 'disk',
    fields: ['instance.disk_used', 'instance.disk_usage', 'instance.fs_available', 'instance.disk_read_rate', 'instance.disk_write_rate'],
  },
  { name: 'connections', fields: ['instance.connections', 'instance.connection_usage', 'instance.longest_query_seconds'] },
  { name: 'transactions', fields: ['instance.tps', 'instance.rollback_rate', 'instance.tuples_read_rate', 'instance.tuples_written_rate'] },
  { name: 'replication', fields: ['instance.replication_lag_bytes', 'instance.replication_lag_seconds'] },
  { name: 'wal', fields: ['instance.wal_rate', 'instance.archive_rate', 'instance.archive_failure_rate', 'instance.checkpoint_rate'] },
];

const ROLE_REASONS = {
  primaryLag: "the primary replicates from no other member: lag is a standby's figure",
  standbyWal: "a standby writes no WAL of its own: it replays its primary's",
};

const columnOf = (indicator: string): string => indicator.replace(/^instance\./, '');

export class MonitoringService {
  constructor(
    private readonly deps: { store: Store; clock: Clock; config: MonitoringConfig },
    private readonly clusters: Pick<ClusterService, 'get'>,
  ) {}

  private get intervalS(): number {
    return Math.max(1, Math.round(this.deps.config.metricsCollectIntervalMs / 1000));
  }

  /** ListMonitorIndicators: every indicator the collector measures. */
  indicators(): {
    indicator_name: string;
    plugin_name: string;
    default_collect_rate: string;
    support_datastore_version: string;
    unit: string;
    description: string;
  }[] {
    return INDICATORS.map((i) => ({
      indicator_name: i.name,
      plugin_name: i.plugin,
      default_collect_rate: String(this.intervalS),
      support_datastore_version: DATASTORE_VERSION,
      unit: i.unit,
      description: i.description,
    }));
  }

  /** The cluster's samples over [fromMs, toMs), at the resolution the range takes, of one member or all; and that resolution's step. */
  private async samples(c: ClusterRecord, fromMs: number, toMs: number, ordinal: number | undefined, periodS: number | undefined) {
    const nowS = Math.floor(this.deps.clock.now() / 1000);
    const fromS = Math.floor(fromMs / 1000);
    const toS = Math.ceil(toMs / 1000);
    let resolution = resolutionFor(fromMs / 1000, toMs / 1000, nowS, this.deps.config.metricsRawRetentionHours * 3600);
    // a period of 5 minutes or more is served from the averages where they cover the range
    if (resolution === 0 && periodS !== undefined && periodS >= ROLLUP_SECONDS && fromS < nowS - 3600) resolution = ROLLUP_SECONDS;
    const rows = await this.deps.store.listMetricSamples({ clusterId: c.id, resolution, fromS, toS, ordinal });
    if (resolution === ROLLUP_SECONDS) {
      // the windows not averaged yet (the open one, and any the collector has not reached) from the raw samples
      const averagedTo = rows.reduce((m, r) => Math.max(m, r.at + ROLLUP_SECONDS), fromS);
      if (averagedTo < toS)
        rows.push(...(await this.deps.store.listMetricSamples({ clusterId: c.id, resolution: 0, fromS: averagedTo, toS, ordinal })));
      rows.sort((x, y) => x.ordinal - y.ordinal || x.at - y.at);
    }
    return { rows, step: resolution === 0 ? this.intervalS : ROLLUP_SECONDS, finest: resolution === 0 ? 1 : ROLLUP_SECONDS };
  }

  private checkRange(fromMs: number | undefined, toMs: number | undefined, maxSpanMs?: number): { fromMs: number; toMs: number } {
    const now = this.deps.clock.now();
    const to = toMs ?? now;
    const from = fromMs ?? to - 3600_000;
    if (from >= to) throw new AppError('VALIDATION', { args: ['from must be before to'] });
    if (maxSpanMs !== undefined && to - from > maxSpanMs)
      throw new AppError('VALIDATION', { args: [`from and to may be at most ${maxSpanMs / 3600_000} hours apart`] });
    const oldest = now - this.deps.config.metricsRollupRetentionDays * 86_400_000;
    if (to <= oldest)
      throw new AppError('VALIDATION', {
        args: [`the metrics history is kept for ${this.deps.config.metricsRollupRetentionDays} days; the range ends before that`],
      });
    return { fromMs: from, toMs: to };
  }

  /** ListMonitorIndicatorData: one indicator of a cluster's members over a range, `fn` of each `period` seconds. */
  async indicatorData(
    projectId: string,
    q: {
      indicator: string;
      clusterId: string;
      instance?: string | undefined;
      fromMs?: number | undefined;
      toMs?: number | undefined;
      periodS?: number | undefined;
      fn?: BucketFunction | undefined;
    },
  ) {
    const ind = findIndicator(q.indicator);
    if (!ind)
      throw new AppError('VALIDATION', {
        args: [`indicator_name ${JSON.stringify(q.indicator)} is not one dwsbox measures; ListMonitorIndicators lists them`],
      });
    const ordinal = parseInstance(q.instance);
    const range = this.checkRange(q.fromMs, q.toMs);
    const c = await this.clusters.get(projectId, q.clusterId);
    const { rows, step, finest } = await this.samples(c, range.fromMs, range.toMs, ordinal, q.periodS);
    // by default a point per collection (or per average); a shorter period than the samples' gives each its own point
    const period = Math.max(finest, q.periodS ?? step);
    const ctx = ctxOf(c);
    const nodes = await this.deps.store.listNodes(c.id);
    const members = ordinal !== undefined ? [ordinal] : nodes.filter((n) => n.membership === 'active').map((n) => n.ordinal);
    const byMember = new Map<number, MetricSample[]>();
    for (const r of rows) byMember.set(r.ordinal, [...(byMember.get(r.ordinal) ?? []), r]);
    for (const o of byMember.keys()) if (!members.includes(o)) members.push(o);
    members.sort((a, b) => a - b);
    const roles = new Map(nodes.map((n) => [n.ordinal, n.role]));
    const items = members.map((o) => {
      const points = bucketize(
        (byMember.get(o) ?? []).map((s) => ({ at: s.at, value: indicatorValue(ind, s, ctx) })),
        period,
        q.fn ?? 'avg',
      );
      return {
        indicator_name: ind.name,
        object_id: c.id,
        sub_object_id: instanceName(o),
        unit: ind.unit,
        query_time: this.deps.clock.now(),
        period,
        data_points: points.map((p) => ({ timestamp: p.at * 1000, result: String(round(p.value)) })),
        role: roles.get(o),
      };
    });
    // a standby-only figure (the lag) is not listed for the primary, nor a primary-only one for a standby, unless it had points (a failover in the range)
    return items
      .filter((i) => !ind.only || i.data_points.length > 0 || i.role === undefined || i.role === ind.only)
      .map(({ role: _role, ...i }) => i);
  }

  /**
   * The bytes per second of each step of the cluster's tasks over [from, to) (default: the last
   * hour), from the progress samples its tools reported (domain/throughput.ts): backups,
   * restores, standby copies, table restores. A step with no two samples of a count in the range
   * has no line.
   */
  async taskThroughput(projectId: string, clusterId: string, q: { fromMs?: number | undefined; toMs?: number | undefined }, lang: Lang) {
    const toMs = q.toMs ?? this.deps.clock.now();
    const fromMs = q.fromMs ?? toMs - 3600_000;
    if (fromMs >= toMs) throw new AppError('VALIDATION', { args: ['from must be before to'] });
    const c = await this.clusters.get(projectId, clusterId);
    const samples = await this.deps.store.listByteSamples(c.id, fromMs, toMs);
    const kinds = new Map(samples.map((x) => [x.taskId, x.kind]));
    const steps = stepThroughput(samples).map((st) => {
      const kind = kinds.get(st.taskId)!;
      return {
        task_id: st.taskId,
        kind,
        action_type: ACTION_TYPE_OF_KIND[kind],
        step: st.stepId,
        step_name: stepName(st.stepId, lang),
        data_points: st.points.map((p) => ({ timestamp: p.at, bytes_per_second: Math.round(p.bytesPerSecond) })),
      };
    });
    return { cluster_id: c.id, from: fromMs, to: toMs, steps };
  }

  /** The project's clusters a host read covers (one, when named). */
  private async scope(projectId: string, clusterId: string | undefined): Promise<ClusterRecord[]> {
    if (clusterId) return [await this.clusters.get(projectId, clusterId)];
    return (await this.deps.store.listClusters(projectId)).sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Each member of the clusters with its newest sample (null: none within three intervals). */
  private async latest(projectId: string, clusterId: string | undefined, instance: string | undefined) {
    const ordinal = parseInstance(instance);
    const since = Math.floor(this.deps.clock.now() / 1000) - 3 * this.intervalS - 1;
    const out: { c: ClusterRecord; n: NodeRecord; s: MetricSample | null }[] = [];
    for (const c of await this.scope(projectId, clusterId)) {
      const latest = new Map((await this.deps.store.latestMetricSamples(c.id, since)).map((s) => [s.ordinal, s]));
      for (const n of await this.deps.store.listNodes(c.id)) {
        if (n.membership !== 'active' || (ordinal !== undefined && n.ordinal !== ordinal)) continue;
        out.push({ c, n, s: latest.get(n.ordinal) ?? null });
      }
    }
    return out;
  }

  /** ListHostOverview: each member's newest figures, a member as DWS's host. */
  async hostOverview(
    projectId: string,
    q: { clusterId?: string | undefined; instance?: string | undefined; offset: number; limit: number },
  ) {
    const rows = await this.latest(projectId, q.clusterId, q.instance);
    const page = rows.slice(q.offset * q.limit, q.offset * q.limit + q.limit);
    return {
      count: rows.length,
      items: page.map(({ c, n, s }) => {
        const ctx = ctxOf(c);
        const base = {
          instance_name: instanceName(n.ordinal),
          cluster_id: c.id,
          cluster_name: c.name,
          host_name: `${c.name}-${instanceName(n.ordinal)}`,
          host_stat: s ? 'running' : 'stopped',
          work_ip: n.host,
          ordinal: n.ordinal,
          role: s ? (s.primary ? 'primary' : 'standby') : n.role,
          mem_total: round(ctx.nodeTypeMemoryBytes / MIB, 1),
          disk_total: round(ctx.nodeTypeDiskBytes / GIB, 3),
        };
        const absent: Record<string, string> = {
          mem_cached: ABSENT_REASONS.cache,
          mem_buffer: ABSENT_REASONS.cache,
          swap_free: ABSENT_REASONS.swap,
          swap_total: ABSENT_REASONS.swap,
          cpu_iowait: ABSENT_REASONS.iowait,
          tcp_resend_rate: ABSENT_REASONS.network,
          net_io: ABSENT_REASONS.network,
        };
        if (!s)
          return {
            ...base,
            absent: { ...absent, figures: 'no sample of this member in the last three collections: it does not run, or was just made' },
          };
        const figure = (name: string, v: number | null, digits = 3, why?: string): Record<string, number> => {
          if (v === null) {
            absent[name] = why ?? 'not measured in this collection: a rate needs two readings in a row of the same server';
            return {};
          }
          return { [name]: round(v, digits) };
        };
        const mem = s.memBytes;
        const used = s.dataBytes;
        return {
          ...base,
          sampled_at: new Date(s.at * 1000).toISOString(),
          ...figure('cpu_usage', s.cpuPercent, 2),
          ...figure('cpu_usage_usr', s.cpuUserPercent, 2),
          ...figure('cpu_usage_sys', s.cpuSysPercent, 2),
          ...figure('cpu_idle', s.cpuPercent === null ? null : Math.max(0, 100 - s.cpuPercent), 2),
          ...figure('mem_used', mem, 0),
          ...figure('mem_usage', mem === null ? null : (mem / ctx.nodeTypeMemoryBytes) * 100, 2),
          ...figure('mem_free', mem === null ? null : Math.max(0, ctx.nodeTypeMemoryBytes - mem) / MIB, 1),
          ...figure('disk_used', used === null ? null : used / GIB),
          ...figure(
            'disk_available',
            used === null ? null : Math.max(0, Math.min(ctx.nodeTypeDiskBytes - used, s.fsAvailBytes ?? Infinity)) / GIB,
          ),
          ...figure('disk_usage_avg', used === null ? null : (used / ctx.nodeTypeDiskBytes) * 100, 2),
          ...figure('disk_io_read', s.diskReadRate, 0),
          ...figure('disk_io_write', s.diskWriteRate, 0),
          ...figure('disk_io', s.diskReadRate === null || s.diskWriteRate === null ? null : s.diskReadRate + s.diskWriteRate, 0),
          ...figure('connections', s.connections, 0),
          ...figure('max_connections', s.maxConnections, 0),
          ...figure('tps', s.tps, 2),
          ...figure('replication_lag_bytes', s.lagBytes, 0, s.primary ? ROLE_REASONS.primaryLag : undefined),
          ...figure('replication_lag_seconds', s.lagSeconds, 3, s.primary ? ROLE_REASONS.primaryLag : undefined),
          ...figure('wal_rate', s.walRate, 0, s.primary ? undefined : ROLE_REASONS.standbyWal),
          absent,
        };
      }),
    };
  }

  /** ListHostDisk: each member's data disk, as its node type's disk and what PostgreSQL keeps on it. */
  async hostDisk(projectId: string, q: { clusterId?: string | undefined; instance?: string | undefined; offset: number; limit: number }) {
    const rows = await this.latest(projectId, q.clusterId, q.instance);
    const page = rows.slice(q.offset * q.limit, q.offset * q.limit + q.limit);
    return {
      count: rows.length,
      items: page.map(({ c, n, s }) => {
        const ctx = ctxOf(c);
        const total = ctx.nodeTypeDiskBytes;
        const base = {
          instance_id: n.id,
          instance_name: instanceName(n.ordinal),
          cluster_id: c.id,
          host_name: `${c.name}-${instanceName(n.ordinal)}`,
          disk_name: 'data',
          disk_type: 'data',
          total: round(total / GIB),
        };
        const absent: Record<string, string> = {
          await: ABSENT_REASONS.diskLatency,
          svctm: ABSENT_REASONS.diskLatency,
          util: ABSENT_REASONS.diskLatency,
        };
        if (!s || s.dataBytes === null)
          return { ...base, absent: { ...absent, used: 'no sample of this member in the last three collections' } };
        const used = s.dataBytes;
        return {
          ...base,
          sampled_at: new Date(s.at * 1000).toISOString(),
          used: round(used / GIB),
          available: round(Math.max(0, Math.min(total - used, s.fsAvailBytes ?? Infinity)) / GIB),
          used_percentage: round((used / total) * 100, 2),
          ...(s.diskReadRate === null ? {} : { read_rate: round(s.diskReadRate / 1024, 1) }),
          ...(s.diskWriteRate === null ? {} : { write_rate: round(s.diskWriteRate / 1024, 1) }),
          absent,
        };
      }),
    };
  }

  /** ListHostNet: the members, each on its own address; their traffic cannot be measured on this engine (absent, with why). */
  async hostNet(projectId: string, q: { clusterId?: string | undefined; instance?: string | undefined; offset: number; limit: number }) {
    const rows = await this.latest(projectId, q.clusterId, q.instance);
    const page = rows.slice(q.offset * q.limit, q.offset * q.limit + q.limit);
    const reason = ABSENT_REASONS.network;
    return {
      count: rows.length,
      items: page.map(({ c, n, s }) => ({
        host_id: n.id,
        host_name: `${c.name}-${instanceName(n.ordinal)}`,
        instance_name: instanceName(n.ordinal),
        cluster_id: c.id,
        interface_name: n.host,
        up: s !== null,
        ...(s ? { ctime: s.at * 1000 } : {}),
        absent: {
          speed: reason,
          recv_packets: reason,
          send_packets: reason,
          recv_drop: reason,
          recv_rate: reason,
          send_rate: reason,
          io_rate: reason,
        },
      })),
    };
  }

  /** ListMetrics: the cluster's metric groups, each with its columns. */
  async metrics(projectId: string, clusterId: string) {
    const c = await this.clusters.get(projectId, clusterId);
    return METRIC_GROUPS.map((g) => ({
      metric_name: g.name,
      scope: 'instance',
      fields: [
        { column_name: 'ctime', column_type: 'long' },
        { column_name: 'instance_name', column_type: 'string' },
        ...g.fields.map((f) => ({ column_name: columnOf(f), column_type: 'double' })),
      ],
      collect_rate: this.intervalS,
      collect_range: `${this.deps.config.metricsRawRetentionHours}h`,
      create_time: c.createdAt,
    }));
  }

  /** ListMetricsData: one metric group's rows over at most a day, one per member per collection. */
  async metricsData(
    projectId: string,
    clusterId: string,
    metric: string,
    q: { fromMs?: number | undefined; toMs?: number | undefined; offset: number; limit: number; desc: boolean },
  ) {
    const group = METRIC_GROUPS.find((g) => g.name === metric);
    if (!group)
      throw new AppError('VALIDATION', {
        args: [`metric ${JSON.stringify(metric)}: one of ${METRIC_GROUPS.map((g) => g.name).join(', ')} (ListMetrics)`],
      });
    const range = this.checkRange(q.fromMs, q.toMs, 86_400_000);
    const c = await this.clusters.get(projectId, clusterId);
    const { rows } = await this.samples(c, range.fromMs, range.toMs, undefined, undefined);
    const ctx = ctxOf(c);
    const inds = group.fields.map((f) => findIndicator(f) as Indicator);
    const all = rows
      .sort((a, b) => (q.desc ? b.at - a.at : a.at - b.at) || a.ordinal - b.ordinal)
      .map((s) => {
        const row: Record<string, number | string | null> = { ctime: s.at * 1000, instance_name: instanceName(s.ordinal) };
        for (const i of inds) {
          const v = indicatorValue(i, s as Pick<MetricSample, MetricField>, ctx);
          row[columnOf(i.name)] = v === null ? null : round(v);
        }
        return row;
      });
    return { count: all.length, data: all.slice(q.offset * q.limit, q.offset * q.limit + q.limit) };
  }
}
