/**
 * Pure helpers of the project's events and alarms pages (issue 17; no DOM, no imports): the
 * ListEvents and ListAlarmDetail requests of the pages' filters, the client-side filters of
 * alarms, the badge of an alarm level, and paging. Unit-tested by test/console/feeds.test.ts.
 */

/** The events page's time ranges: events at or after now minus the range. */
export type EventRangeKey = '1h' | '1d' | '7d' | '30d';
const HOUR = 3_600_000;
export const EVENT_RANGES: readonly { key: EventRangeKey; ms: number }[] = [
  { key: '1h', ms: HOUR },
  { key: '1d', ms: 24 * HOUR },
  { key: '7d', ms: 7 * 24 * HOUR },
  { key: '30d', ms: 30 * 24 * HOUR },
];
export const eventRangeMs = (key: EventRangeKey): number => EVENT_RANGES.find((r) => r.key === key)?.ms ?? HOUR;

/** The event severities (ListEvents' `severity`) and categories (an event's `category`; ListEventSpecs' `category`). */
export const EVENT_SEVERITIES = ['normal', 'warning', 'major'] as const;
export const EVENT_CATEGORIES = ['management', 'monitor', 'system alarm'] as const;

/** How many events or alarms a page shows. */
export const PAGE_SIZE = 20;

export interface EventFilters {
  range: EventRangeKey;
  /** '' for every severity */
  severity: string;
  /** the kinds of the chosen category (from ListEventSpecs); null: every category */
  kinds: readonly string[] | null;
  /** '' for every cluster */
  clusterId: string;
  /** page number, from 0 */
  page: number;
}

/**
 * The ListEvents request of the filters at `now` (epoch ms): newest first, PAGE_SIZE events
 * from `page * PAGE_SIZE`. ListEvents has no category filter: a category is sent as the kinds
 * ListEventSpecs lists for it (`name`), so the API filters and pages it like the others.
 */
export function eventsPath(f: EventFilters, now: number): string {
  const q = new URLSearchParams();
  q.set('start_time', String(now - eventRangeMs(f.range)));
  if (f.severity) q.set('severity', f.severity);
  if (f.kinds) q.set('name', f.kinds.join(','));
  if (f.clusterId) q.set('source_id', f.clusterId);
  q.set('offset', String(f.page * PAGE_SIZE));
  q.set('limit', String(PAGE_SIZE));
  return `/v2/{project_id}/events?${q.toString()}`;
}

/** The ListEventSpecs request of a category's kinds. */
export function eventSpecsPath(category: string): string {
  return `/v2/{project_id}/event-specs?${new URLSearchParams({ category, limit: '1000' }).toString()}`;
}

/** Paging: the pages `count` items make, and whether there is a page before and after `page`. */
export function pageInfo(page: number, count: number, size = PAGE_SIZE): { pages: number; hasPrev: boolean; hasNext: boolean } {
  const pages = Math.max(1, Math.ceil(count / size));
  return { pages, hasPrev: page > 0, hasNext: (page + 1) * size < count };
}

// ------------------------------------------------------------------ alarms

export const ALARM_LEVELS = ['urgent', 'important', 'minor', 'prompt'] as const;
export const ALARM_DAYS = [1, 7, 30] as const;
export type AlarmStatusFilter = 'all' | 'active' | 'cleared';

/** The fields of ListAlarmDetail's alarm_details the page reads. */
export interface AlarmDetail {
  id: string;
  alarm_id: string;
  alarm_name: string;
  alarm_level: string;
  alarm_message: string;
  alarm_location: string;
  resource_id: string;
  resource_id_name: string;
  alarm_generate_date: string;
  alarm_status: string;
  raised_at: number;
  cleared_at: number | null;
  instance_name?: string;
}

/** How many alarms one ListAlarmDetail request asks for (its `limit` takes up to 4 digits). */
export const ALARM_FETCH = 1000;
/** At most this many requests per round: the newest ALARM_FETCH × ALARM_FETCH_PAGES alarms of the range. */
export const ALARM_FETCH_PAGES = 5;

/** The ListAlarmDetail request of the last `days` days, page `offset` (a page number minus 1, as DWS has it). */
export function alarmsPath(days: number, offset: number, limit = ALARM_FETCH): string {
  const q = new URLSearchParams({ recent_day: String(days), offset: String(offset), limit: String(limit) });
  return `/v2/{project_id}/alarms?${q.toString()}`;
}

/**
 * The alarms the status and level filters keep, in the API's order (newest first).
 * ListAlarmDetail filters neither status nor level: the page fetches the range and filters here.
 */
export function filterAlarms<A extends Pick<AlarmDetail, 'alarm_status' | 'alarm_level'>>(
  alarms: readonly A[],
  status: AlarmStatusFilter,
  level: string,
): A[] {
  return alarms.filter((a) => (status === 'all' || a.alarm_status === status) && (!level || a.alarm_level === level));
}

/** The badge class of an alarm level, one each: urgent red, important amber, minor blue, prompt grey. */
export function levelClass(level: string): 'bad' | 'warn' | 'run' | 'wait' | 'plain' {
  return level === 'urgent' ? 'bad' : level === 'important' ? 'warn' : level === 'minor' ? 'run' : level === 'prompt' ? 'wait' : 'plain';
}

/** One day of ListAlarmStatistic (counts as strings, as the SDK models them). */
export interface AlarmStatisticDay {
  date: string;
  urgent: string;
  important: string;
  minor: string;
  prompt: string;
}

/** A day's counts as numbers per level, and their total (an unreadable count is 0). */
export function statisticRow(d: AlarmStatisticDay): { date: string; counts: number[]; total: number } {
  const counts = ALARM_LEVELS.map((l) => {
    const n = Number(d[l]);
    return Number.isFinite(n) ? n : 0;
  });
  return { date: d.date, counts, total: counts.reduce((a, b) => a + b, 0) };
}

/** A rule's threshold in its unit (ListAlarmConfigs): bytes from a MiB on as MiB, as the alarms' messages say them. */
export function formatThreshold(threshold: number, unit: string): string {
  if (unit === 'B' && threshold >= 1024 * 1024) return `${Number((threshold / 1024 / 1024).toFixed(1))} MiB`;
  return `${threshold}${unit ? ` ${unit}` : ''}`;
}
