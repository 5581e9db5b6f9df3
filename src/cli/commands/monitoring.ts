/**
 * The monitoring commands (issue 17, D29), clients of the monitoring API like the other API
 * commands (they sit in api.ts's table): `top` shows each member's main figures from
 * ListHostOverview, redrawn in place on a terminal; `metrics indicators` lists what the
 * collector measures (ListMonitorIndicators) and `metrics data` an indicator's points per
 * member (ListMonitorIndicatorData). A figure the API cannot measure comes marked absent with a
 * reason: it shows as `-`, and the reasons are listed once under the table.
 */
import { need, print, table, UsageError, type Ctx } from './common.js';

/** One member in ListHostOverview's answer (the SDK's fields and dwsbox's; a figure in `absent` is missing). */
export interface HostOverviewItem {
  instance_name: string;
  cluster_id?: string;
  cluster_name?: string;
  host_name?: string;
  host_stat?: string;
  work_ip?: string;
  mem_total?: number;
  mem_usage?: number;
  mem_free?: number;
  cpu_usage?: number;
  cpu_usage_usr?: number;
  cpu_usage_sys?: number;
  disk_total?: number;
  disk_used?: number;
  disk_available?: number;
  disk_usage_avg?: number;
  disk_io_read?: number;
  disk_io_write?: number;
  ordinal?: number;
  role?: string;
  sampled_at?: string;
  mem_used?: number;
  connections?: number;
  max_connections?: number;
  tps?: number;
  replication_lag_bytes?: number;
  replication_lag_seconds?: number;
  wal_rate?: number;
  absent?: Record<string, string>;
}

export interface IndicatorBody {
  indicator_name: string;
  plugin_name: string;
  default_collect_rate: number | string;
  support_datastore_version: string;
  unit: string;
  description: string;
}

export interface IndicatorDataBody {
  indicator_name: string;
  object_id: string;
  sub_object_id: string;
  unit: string;
  query_time: number | string;
  /** seconds per point */
  period?: number;
  data_points: { timestamp: number; result: string }[];
}

// ------------------------------------------------------------------ figures
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Bytes in decimal units with one decimal: 950 B, 12.3 kB, 4.5 MB, 1.2 GB. */
export function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** How long ago: 4s, 3m, 2h. */
export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h`;
}

/** Two figures of one column ("a / b"): `-` for a missing one, `-` alone when both are. */
const pair = (a: string | null, b: string | null, sep = ' / '): string => (a === null && b === null ? '-' : `${a ?? '-'}${sep}${b ?? '-'}`);
const fixed = (v: unknown, digits = 1, suffix = ''): string | null => (num(v) ? `${v.toFixed(digits)}${suffix}` : null);

/** The table's columns: each its header, the fields it shows, and the cell of a member. */
export const TOP_COLUMNS: { header: string; fields: string[]; cell: (m: HostOverviewItem, now: number) => string }[] = [
  { header: 'NAME', fields: [], cell: (m) => m.instance_name },
  { header: 'ROLE', fields: ['role'], cell: (m) => `${m.role ?? '-'}${m.host_stat === 'stopped' ? ' (stopped)' : ''}` },
  { header: 'CPU%', fields: ['cpu_usage'], cell: (m) => fixed(m.cpu_usage) ?? '-' },
  { header: 'MEM', fields: ['mem_used'], cell: (m) => (num(m.mem_used) ? bytes(m.mem_used) : '-') },
  {
    header: 'DISK',
    fields: ['disk_used', 'disk_usage_avg'],
    cell: (m) => pair(fixed(m.disk_used, 2, ' GB'), fixed(m.disk_usage_avg, 1, '%')),
  },
  {
    header: 'CONN',
    fields: ['connections', 'max_connections'],
    cell: (m) => pair(num(m.connections) ? String(m.connections) : null, num(m.max_connections) ? String(m.max_connections) : null, '/'),
  },
  { header: 'TPS', fields: ['tps'], cell: (m) => fixed(m.tps) ?? '-' },
  {
    header: 'LAG',
    fields: ['replication_lag_bytes', 'replication_lag_seconds'],
    cell: (m) => pair(num(m.replication_lag_bytes) ? bytes(m.replication_lag_bytes) : null, fixed(m.replication_lag_seconds, 1, 's')),
  },
  { header: 'WAL/s', fields: ['wal_rate'], cell: (m) => (num(m.wal_rate) ? `${bytes(m.wal_rate)}/s` : '-') },
  {
    header: 'SAMPLED (UTC)',
    fields: ['sampled_at'],
    cell: (m, now) => {
      const t = m.sampled_at ? Date.parse(m.sampled_at) : NaN;
      return Number.isFinite(t) ? `${new Date(t).toISOString().slice(11, 19)} (${age(now - t)} ago)` : '-';
    },
  },
];

/** ListHostOverview's fields the table does not show: their reasons are not listed (any other absent key is, e.g. `figures`: none of them). */
const UNSHOWN = new Set([
  'host_name',
  'host_stat',
  'work_ip',
  'mem_total',
  'mem_usage',
  'mem_free',
  'mem_cached',
  'mem_buffer',
  'swap_free',
  'swap_total',
  'cpu_usage_usr',
  'cpu_usage_sys',
  'cpu_idle',
  'cpu_iowait',
  'disk_total',
  'disk_available',
  'disk_io_read',
  'disk_io_write',
  'disk_io',
  'tcp_resend_rate',
  'net_io',
]);

/**
 * The reasons of the table's absent figures, each once: "  - replication_lag_bytes,
 * replication_lag_seconds (node1): <reason>" (the fields of one reason on the same members together).
 */
export function absentReasons(items: HostOverviewItem[]): string[] {
  const members = new Map<string, { field: string; reason: string; members: string[] }>();
  for (const m of items) {
    for (const [field, reason] of Object.entries(m.absent ?? {})) {
      if (UNSHOWN.has(field)) continue;
      const k = JSON.stringify([field, reason]);
      const e = members.get(k) ?? { field, reason, members: [] };
      e.members.push(m.instance_name);
      members.set(k, e);
    }
  }
  const byReason = new Map<string, { fields: string[]; members: string[]; reason: string }>();
  for (const e of members.values()) {
    const k = JSON.stringify([e.reason, e.members]);
    const g = byReason.get(k) ?? { fields: [], members: e.members, reason: e.reason };
    g.fields.push(e.field);
    byReason.set(k, g);
  }
  return [...byReason.values()].map((g) => `  - ${g.fields.join(', ')} (${g.members.join(', ')}): ${g.reason}`);
}

/** The view of one answer: the members' table and the absent figures' reasons. */
export function renderTop(clusterId: string, items: HostOverviewItem[], now: number): string {
  if (items.length === 0)
    return `no figures collected for cluster ${clusterId} yet: the collector samples its members periodically; try again shortly`;
  const sorted = [...items].sort((a, b) => (a.ordinal ?? 0) - (b.ordinal ?? 0) || a.instance_name.localeCompare(b.instance_name));
  const lines = [table([TOP_COLUMNS.map((c) => c.header), ...sorted.map((m) => TOP_COLUMNS.map((c) => c.cell(m, now)))])];
  const reasons = absentReasons(sorted);
  if (reasons.length) lines.push('', 'not measured (-):', ...reasons);
  return lines.join('\n');
}

// ------------------------------------------------------------------ top
const CLEAR = '\x1b[H\x1b[2J';
const HOME = '\x1b[H';
const CLEAR_LINE_END = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

function seconds(v: unknown, what: string): number {
  if (v === undefined) return 5;
  const s = Number(v);
  if (typeof v !== 'string' || !/^\d+(\.\d+)?$/.test(v) || s < 0.2)
    throw new UsageError(`${what} must be a number of seconds (0.2 or more)`);
  return s;
}

/**
 * `top CLUSTER_ID [--interval S] [--once]`: on a terminal, the view redrawn every interval until
 * Ctrl-C (exit code 0); with --once, --json or without a terminal, one answer and out.
 */
export async function top(ctx: Ctx): Promise<number> {
  const [id, ...extra] = ctx.positionals;
  need(id, 'the cluster id');
  if (extra.length) throw new UsageError(`top takes one cluster id, got also ${extra.join(' ')}`);
  const intervalMs = seconds(ctx.values['interval'], '--interval') * 1000;
  const read = (): Promise<HostOverviewItem[]> =>
    ctx.client.call<HostOverviewItem[]>('GET', `/v1.0/{project_id}/dms/host-overview?cluster_id=${encodeURIComponent(id!)}`);
  let items = await read();
  if (ctx.values['once'] || ctx.json || ctx.out.isTTY !== true) {
    print(ctx, items, () => renderTop(id!, items, Date.now()));
    return 0;
  }
  let stop = false;
  let wake = (): void => {};
  let signalled = (): void => {};
  const stopped = new Promise<void>((resolve) => (signalled = resolve));
  const onSignal = (): void => {
    stop = true;
    wake();
    signalled();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let error: string | null = null;
  let first = true;
  ctx.out.write(HIDE_CURSOR);
  try {
    while (!stop) {
      const now = Date.now();
      const head = `dwsbox top  cluster ${id!}  ${new Date(now).toISOString().slice(0, 19)}Z  every ${intervalMs / 1000} s  (Ctrl-C quits)`;
      const body = [
        head,
        '',
        renderTop(id!, items, now),
        ...(error ? ['', `error reading the figures: ${error} (shown: the last answer)`] : []),
      ];
      ctx.out.write(
        (first ? CLEAR : HOME) +
          body
            .flatMap((l) => l.split('\n'))
            .map((l) => l + CLEAR_LINE_END)
            .join('\n') +
          '\n' +
          CLEAR_BELOW,
      );
      first = false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      if (stop) break;
      try {
        const next = await Promise.race([read(), stopped.then(() => null)]);
        if (next) items = next;
        error = null;
      } catch (e) {
        error = (e as Error).message;
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    ctx.out.write(SHOW_CURSOR);
  }
  return 0;
}

// ------------------------------------------------------------------ metrics
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A --since duration in ms: 90s, 30m, 1h, 6h, 1d, 7d, 1h30m. */
export function parseDuration(v: string): number {
  const parts = [...v.matchAll(/(\d+)(ms|s|m|h|d|w)/g)];
  const ms = parts.reduce((a, p) => a + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
  if (!parts.length || parts.map((p) => p[0]).join('') !== v || ms <= 0)
    throw new UsageError(`--since ${v}: expected a duration such as 30m, 1h, 6h, 1d, 7d or 1h30m`);
  return ms;
}

/** `metrics indicators` | `metrics data CLUSTER_ID INDICATOR [--since 1h] [--member node1]`. */
export async function metrics(ctx: Ctx): Promise<number> {
  const [sub, cluster, indicator, ...extra] = ctx.positionals;
  const c = ctx.client;
  const indicators = (): Promise<IndicatorBody[]> => c.call<IndicatorBody[]>('GET', '/v1.0/{project_id}/dms/metric-data/indicators');
  if (sub === 'indicators') {
    if (cluster !== undefined) throw new UsageError('metrics indicators takes no arguments');
    const list = await indicators();
    print(ctx, list, () =>
      table([
        ['INDICATOR', 'PLUGIN', 'RATE', 'UNIT', 'VERSIONS', 'DESCRIPTION'],
        ...list.map((i) => [
          i.indicator_name,
          i.plugin_name,
          String(i.default_collect_rate),
          i.unit || '-',
          i.support_datastore_version,
          i.description,
        ]),
      ]),
    );
    return 0;
  }
  if (sub !== 'data') throw new UsageError('metrics: use indicators | data CLUSTER_ID INDICATOR [--since 1h] [--member node1]');
  need(cluster, 'the cluster id');
  need(indicator, 'the indicator name (dwsbox metrics indicators lists them)');
  if (extra.length) throw new UsageError(`metrics data takes a cluster id and an indicator, got also ${extra.join(' ')}`);
  const since = (ctx.values['since'] as string | undefined) ?? '1h';
  const span = parseDuration(since);
  const member = ctx.values['member'] as string | undefined;
  if (member === '') throw new UsageError('--member needs a member name (node1, node2, …)');
  // An unknown indicator or member: the API says so (400, naming what it takes).
  const to = Date.now();
  const q = new URLSearchParams({ indicator_name: indicator!, dim0: cluster! });
  if (member) q.set('dim1', member);
  q.set('from', String(to - span));
  q.set('to', String(to));
  const data = await c.call<IndicatorDataBody[]>('GET', `/v1.0/{project_id}/dms/metric-data?${q.toString()}`);
  print(ctx, data, () => {
    if (!data.length) return `no ${indicator!} figures for cluster ${cluster!}${member ? ` member ${member}` : ''} in the last ${since}`;
    return data
      .map((d) => {
        const every = d.period ? `, one per ${d.period} s` : '';
        const head = `${d.sub_object_id}  ${d.indicator_name}  ${d.data_points.length} point(s) in the last ${since}${every}${d.unit ? `, unit ${d.unit}` : ''}`;
        if (!d.data_points.length) return head;
        const rows = d.data_points.map((p) => [new Date(p.timestamp).toISOString(), `${p.result}${d.unit ? ` ${d.unit}` : ''}`]);
        return `${head}\n${table([['  TIME', 'VALUE'], ...rows.map(([t, v]) => [`  ${t!}`, v!])])}`;
      })
      .join('\n\n');
  });
  return 0;
}
