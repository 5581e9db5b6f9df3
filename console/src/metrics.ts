/**
 * Pure helpers of the monitoring tab (D29; no DOM, no imports): the metric-data request of a
 * range, the API's per-member answers aligned into the columns uPlot draws (a member without a
 * sample at a time is a gap, never a zero), value formatting per unit, and how often to fetch
 * again. Unit-tested by test/console/metrics.test.ts.
 */

/** One indicator of ListMonitorIndicators (GET /v1.0/{project_id}/dms/metric-data/indicators). */
export interface Indicator {
  indicator_name: string;
  plugin_name: string;
  /** seconds, as a string */
  default_collect_rate: string;
  support_datastore_version: string;
  unit: string;
  description: string;
}

/** One member's series of ListMonitorIndicatorData (GET /v1.0/{project_id}/dms/metric-data), oldest point first. */
export interface MetricSeries {
  indicator_name: string;
  object_id: string;
  sub_object_id: string;
  unit: string;
  query_time?: number;
  data_points: { timestamp: number; result: string }[];
}

export type RangeKey = '1h' | '6h' | '1d' | '7d';

const HOUR = 3_600_000;
export const RANGES: readonly { key: RangeKey; ms: number }[] = [
  { key: '1h', ms: HOUR },
  { key: '6h', ms: 6 * HOUR },
  { key: '1d', ms: 24 * HOUR },
  { key: '7d', ms: 7 * 24 * HOUR },
];

export const rangeMs = (key: RangeKey): number => RANGES.find((r) => r.key === key)?.ms ?? HOUR;

/** Without `period` the API answers raw samples for ranges up to 6 h and 5-minute averages beyond. */
export const rangeIsRaw = (key: RangeKey): boolean => rangeMs(key) <= 6 * HOUR;

/** The metric-data request of one indicator of a cluster (every member) over [from, to] (epoch ms). */
export function metricDataPath(indicator: string, clusterId: string, from: number, to: number): string {
  const q = new URLSearchParams({ indicator_name: indicator, dim0: clusterId, from: String(from), to: String(to) });
  return `/v1.0/{project_id}/dms/metric-data?${q.toString()}`;
}

/** One step's line of the task throughput answer (GET /dwsbox/v1/{project_id}/clusters/{id}/task-throughput). */
export interface StepThroughput {
  task_id: string;
  kind: string;
  action_type: string;
  step: string;
  step_name: string;
  data_points: { timestamp: number; bytes_per_second: number }[];
}

export function throughputPath(clusterId: string, from: number, to: number): string {
  return `/dwsbox/v1/{project_id}/clusters/${encodeURIComponent(clusterId)}/task-throughput?from=${from}&to=${to}`;
}

/** A step's line as a chart draws it: named by its task's action, the task id's first characters and the step. */
export const stepLineName = (s: StepThroughput): string => `${s.action_type} ${s.task_id.slice(0, 8)} · ${s.step_name}`;

/** The throughput answer in the shape of the indicators' answers (a line per step), for the same chart. */
export function throughputSeries(clusterId: string, steps: readonly StepThroughput[]): MetricSeries[] {
  return steps.map((s) => ({
    indicator_name: 'task.throughput',
    object_id: clusterId,
    sub_object_id: stepLineName(s),
    unit: 'B/s',
    data_points: s.data_points.map((p) => ({ timestamp: p.timestamp, result: String(p.bytes_per_second) })),
  }));
}

/** uPlot's columns: the times (epoch ms) every member's samples fall on, and one row of values per member. */
export interface Aligned {
  /** members with at least one point, in natural order (node2 before node10) */
  members: string[];
  /** members the answer lists without a point */
  empty: string[];
  xs: number[];
  /** ys[i][j]: members[i] at xs[j]; null where it has no sample (drawn as a gap) */
  ys: (number | null)[][];
}

export const byMemberName = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

/** A sample's value: a finite number, else null (never 0 for something unreadable). */
export function pointValue(result: unknown): number | null {
  if (typeof result !== 'string' && typeof result !== 'number') return null;
  if (typeof result === 'string' && result.trim() === '') return null;
  const n = Number(result);
  return Number.isFinite(n) ? n : null;
}

export function alignSeries(items: readonly MetricSeries[]): Aligned {
  const points = new Map<string, Map<number, number>>();
  for (const s of items) {
    const m = points.get(s.sub_object_id) ?? new Map<number, number>();
    points.set(s.sub_object_id, m);
    for (const p of s.data_points ?? []) {
      const v = pointValue(p.result);
      if (v !== null && Number.isFinite(p.timestamp)) m.set(p.timestamp, v);
    }
  }
  const names = [...points.keys()].sort(byMemberName);
  const members = names.filter((n) => points.get(n)!.size > 0);
  const empty = names.filter((n) => points.get(n)!.size === 0);
  const times = new Set<number>();
  for (const n of members) for (const ts of points.get(n)!.keys()) times.add(ts);
  const xs = [...times].sort((a, b) => a - b);
  const ys = members.map((n) => {
    const m = points.get(n)!;
    return xs.map((ts) => m.get(ts) ?? null);
  });
  return { members, empty, xs, ys };
}

export type ChartUnit = 'percent' | 'bytes' | 'count' | 'rate' | 'byteRate';

const trim = (v: number, digits: number): string => String(Number(v.toFixed(digits)));

/** A value as an axis or the legend shows it. */
export function formatValue(unit: ChartUnit, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  switch (unit) {
    case 'percent':
      return `${trim(v, Math.abs(v) < 10 ? 2 : 1)}%`;
    case 'bytes': {
      const a = Math.abs(v);
      if (a < 1e3) return `${trim(v, 0)} B`;
      if (a < 1e6) return `${trim(v / 1e3, 1)} kB`;
      if (a < 1e9) return `${trim(v / 1e6, 1)} MB`;
      return `${trim(v / 1e9, 2)} GB`;
    }
    case 'count':
      return trim(v, Number.isInteger(v) ? 0 : 1);
    case 'rate':
      return `${trim(v, Math.abs(v) < 10 ? 2 : 1)}/s`;
    case 'byteRate':
      return `${formatValue('bytes', v)}/s`;
  }
}

/** The top of a value axis from 0: the smallest 1, 2, 2.5 or 5 × 10ⁿ at or above `max` (1 for nothing above 0). */
export function niceMax(max: number): number {
  if (!Number.isFinite(max) || max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max * (1 - 1e-12)) return m * p;
  return 10 * p;
}

/** The page fetches again at the indicators' collect rate, at most every 15 s and at least every second. */
export function refreshMs(indicators: readonly Indicator[] | null, charted: readonly string[]): number {
  const rates = (indicators ?? [])
    .filter((i) => charted.includes(i.indicator_name))
    .map((i) => Number(i.default_collect_rate) * 1000)
    .filter((ms) => Number.isFinite(ms) && ms > 0);
  const rate = rates.length ? Math.min(...rates) : 15_000;
  return Math.max(1000, Math.min(15_000, Math.round(rate)));
}

/**
 * The time axis of a round's charts: the range asked for, but beginning at the round's first
 * sample when the cluster's history starts later (a young cluster's hour is not a sliver at the
 * right edge), and at least a minute wide. Every chart of the round shares it.
 */
export function shownSpan(from: number, to: number, firstSample: number | null): [number, number] {
  const start = firstSample === null || !Number.isFinite(firstSample) ? from : Math.max(from, firstSample);
  return [Math.max(from, Math.min(start, to - 60_000)), to];
}

/** The earliest sample of any member in any of the answers; null without one. */
export function firstSample(answers: readonly (readonly MetricSeries[])[]): number | null {
  let first: number | null = null;
  for (const items of answers)
    for (const s of items)
      for (const p of s.data_points ?? [])
        if (pointValue(p.result) !== null && Number.isFinite(p.timestamp) && (first === null || p.timestamp < first)) first = p.timestamp;
  return first;
}

const PALETTE = ['#1f5fd1', '#1f8a4c', '#b7791f', '#c0392b', '#7b3fb4', '#0f8b8d', '#d35400', '#5d6678'];

/** A member's colour, the same on every chart: nodeN takes the Nth colour; another name its place in the list. */
export function memberColor(name: string, index: number): string {
  const m = /(\d+)$/.exec(name);
  const i = m ? Number(m[1]) - 1 : index;
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length]!;
}
