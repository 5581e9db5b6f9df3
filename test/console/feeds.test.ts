/** The helpers of the console's events and alarms pages (issue 17): their requests, the alarm filters, paging, the statistic. */
import { describe, expect, it } from 'vitest';
import {
  alarmsPath,
  eventSpecsPath,
  eventsPath,
  filterAlarms,
  formatThreshold,
  levelClass,
  pageInfo,
  statisticRow,
  type EventFilters,
} from '../../console/src/feeds.js';

const NOW = Date.UTC(2026, 11, 7, 6, 0, 0);
const base: EventFilters = { range: '1h', severity: '', kinds: null, clusterId: '', page: 0 };
const query = (path: string): Record<string, string> => Object.fromEntries(new URLSearchParams(path.split('?')[1]));

describe('the events request', () => {
  it('asks for the range back from now, newest first, a page of 20', () => {
    const path = eventsPath(base, NOW);
    expect(path.startsWith('/v2/{project_id}/events?')).toBe(true);
    expect(query(path)).toEqual({ start_time: String(NOW - 3_600_000), offset: '0', limit: '20' });
    expect(query(eventsPath({ ...base, range: '30d', page: 2 }, NOW))).toEqual({
      start_time: String(NOW - 30 * 86_400_000),
      offset: '40',
      limit: '20',
    });
    expect(query(eventsPath({ ...base, range: '1d' }, NOW))['start_time']).toBe(String(NOW - 86_400_000));
    expect(query(eventsPath({ ...base, range: '7d' }, NOW))['start_time']).toBe(String(NOW - 7 * 86_400_000));
  });
  it('sends severity, the kinds of a category and the cluster', () => {
    const q = query(eventsPath({ ...base, severity: 'major', kinds: ['alarm_raised', 'alarm_cleared'], clusterId: 'c 1' }, NOW));
    expect(q).toMatchObject({ severity: 'major', name: 'alarm_raised,alarm_cleared', source_id: 'c 1' });
  });
  it("asks ListEventSpecs for a category's kinds", () => {
    expect(query(eventSpecsPath('system alarm'))).toEqual({ category: 'system alarm', limit: '1000' });
  });
});

describe('paging', () => {
  it('knows the pages and whether there is one before and after', () => {
    expect(pageInfo(0, 0)).toEqual({ pages: 1, hasPrev: false, hasNext: false });
    expect(pageInfo(0, 20)).toEqual({ pages: 1, hasPrev: false, hasNext: false });
    expect(pageInfo(0, 21)).toEqual({ pages: 2, hasPrev: false, hasNext: true });
    expect(pageInfo(1, 21)).toEqual({ pages: 2, hasPrev: true, hasNext: false });
  });
});

describe('alarms', () => {
  it('asks ListAlarmDetail for the last days, a page number as offset', () => {
    expect(query(alarmsPath(7, 0))).toEqual({ recent_day: '7', offset: '0', limit: '1000' });
    expect(query(alarmsPath(30, 2, 50))).toEqual({ recent_day: '30', offset: '2', limit: '50' });
  });
  it('filters by status and level, keeping the order', () => {
    const a = [
      { id: '1', alarm_status: 'active', alarm_level: 'urgent' },
      { id: '2', alarm_status: 'cleared', alarm_level: 'prompt' },
      { id: '3', alarm_status: 'active', alarm_level: 'prompt' },
    ];
    const ids = (x: { id: string }[]): string[] => x.map((y) => y.id);
    expect(ids(filterAlarms(a, 'all', ''))).toEqual(['1', '2', '3']);
    expect(ids(filterAlarms(a, 'active', ''))).toEqual(['1', '3']);
    expect(ids(filterAlarms(a, 'cleared', ''))).toEqual(['2']);
    expect(ids(filterAlarms(a, 'all', 'prompt'))).toEqual(['2', '3']);
    expect(ids(filterAlarms(a, 'active', 'prompt'))).toEqual(['3']);
  });
  it('gives each level its badge', () => {
    expect(['urgent', 'important', 'minor', 'prompt', 'other'].map(levelClass)).toEqual(['bad', 'warn', 'run', 'wait', 'plain']);
  });
  it('shows a threshold in its unit, bytes as MiB', () => {
    expect(formatThreshold(268_435_456, 'B')).toBe('256 MiB');
    expect(formatThreshold(80, '%')).toBe('80 %');
    expect(formatThreshold(0, '')).toBe('0');
    expect(formatThreshold(512, 'B')).toBe('512 B');
  });
  it("reads a day of ListAlarmStatistic as numbers, most severe first, with the day's total", () => {
    expect(statisticRow({ date: '2026-12-07', urgent: '1', important: '2', minor: '0', prompt: 'x' })).toEqual({
      date: '2026-12-07',
      counts: [1, 2, 0, 0],
      total: 3,
    });
  });
});
