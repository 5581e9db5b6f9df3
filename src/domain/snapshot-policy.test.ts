import { describe, expect, it } from 'vitest';
import {
  closestFireGap,
  dueSlot,
  latestFireAtOrBefore,
  nextFireAfter,
  parseSchedule,
  showDuration,
  shownNextFire,
} from './snapshot-policy.js';

const T = (s: string): number => Date.parse(`${s}Z`);
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString().slice(0, 19));

describe('parseSchedule', () => {
  it('accepts the Quartz-style 6-field expressions and one-off times of the DWS examples', () => {
    expect(parseSchedule('0 8 6 4 * ?')).toEqual({ kind: 'cron', expr: '0 8 6 4 * ?' });
    expect(parseSchedule('*/5 * * * * ?').kind).toBe('cron');
    expect(parseSchedule('2023-05-19T09:24:00')).toEqual({ kind: 'once', wallMs: T('2023-05-19T09:24:00') });
  });

  it('refuses what is not a 6-field expression or a valid time, naming backup_strategy', () => {
    for (const bad of [
      '',
      '0 0 * * *',
      '0 0 0 * * ? 2030',
      'every day',
      '0 0 25 * * ?',
      '0 61 * * * ?',
      '0 0 0 ? * 8',
      '0 0 0 ? * 0',
      '2023-02-30T00:00:00',
      '0 0 0 1 * 2',
    ]) {
      expect(() => parseSchedule(bad), bad).toThrow(/backup_strategy/);
    }
  });

  it('reads day-of-week numbers as Quartz does: 1 = Sunday … 7 = Saturday', () => {
    const s = parseSchedule('0 0 2 ? * 1');
    // 2026-01-04 is a Sunday.
    expect(iso(nextFireAfter(s, 0, T('2026-01-01T00:00:00')))).toBe('2026-01-04T02:00:00');
    const sat = parseSchedule('0 0 2 ? * 7');
    expect(iso(nextFireAfter(sat, 0, T('2026-01-01T00:00:00')))).toBe('2026-01-03T02:00:00');
    const range = parseSchedule('0 0 2 ? * 2-6');
    expect(iso(nextFireAfter(range, 0, T('2026-01-03T00:00:00')))).toBe('2026-01-05T02:00:00');
    expect(parseSchedule('0 0 2 ? * MON,FRI').kind).toBe('cron');
  });
});

describe('fire times', () => {
  it('computes the schedule in the wall time of time_zone_offset hours east of UTC', () => {
    const s = parseSchedule('0 8 6 4 * ?');
    expect(iso(nextFireAfter(s, 0, T('2026-01-01T00:00:00')))).toBe('2026-01-04T06:08:00');
    expect(iso(nextFireAfter(s, 8, T('2026-01-01T00:00:00')))).toBe('2026-01-03T22:08:00');
  });

  it('next is strictly after, latest is at or before', () => {
    const s = parseSchedule('*/5 * * * * ?');
    expect(iso(nextFireAfter(s, 0, T('2026-01-01T00:00:10')))).toBe('2026-01-01T00:00:15');
    expect(iso(latestFireAtOrBefore(s, 0, T('2026-01-01T00:00:10')))).toBe('2026-01-01T00:00:10');
    expect(iso(latestFireAtOrBefore(s, 0, T('2026-01-01T00:00:14') + 999))).toBe('2026-01-01T00:00:10');
  });

  it('a one-off time fires once', () => {
    const s = parseSchedule('2026-01-01T10:00:00');
    expect(iso(nextFireAfter(s, 2, T('2026-01-01T00:00:00')))).toBe('2026-01-01T08:00:00');
    expect(nextFireAfter(s, 2, T('2026-01-01T08:00:00'))).toBeNull();
    expect(latestFireAtOrBefore(s, 2, T('2026-01-01T07:59:59'))).toBeNull();
  });

  it('slots missed while nothing ran collapse into the latest one', () => {
    const s = parseSchedule('0 * * * * ?');
    const cursor = T('2026-01-01T00:01:00');
    expect(iso(dueSlot(s, 0, cursor, T('2026-01-01T00:07:30')))).toBe('2026-01-01T00:07:00');
    expect(iso(dueSlot(s, 0, cursor, T('2026-01-01T00:01:00')))).toBe('2026-01-01T00:01:00');
    expect(iso(shownNextFire(s, 0, cursor, T('2026-01-01T00:00:30')))).toBe('2026-01-01T00:01:00');
    expect(iso(shownNextFire(s, 0, cursor, T('2026-01-01T00:03:30')))).toBe('2026-01-01T00:03:00');
    expect(shownNextFire(s, 0, null, T('2026-01-01T00:03:30'))).toBeNull();
  });
});

describe("closestFireGap (the minimum interval between a strategy's fires)", () => {
  const from = T('2026-01-01T00:00:00');
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;
  const gap = (e: string, atLeast?: number): number | null => closestFireGap(parseSchedule(e), from, atLeast);

  it('within a day: the closest two times of day', () => {
    expect(gap('* * * * * ?')).toBe(1000);
    expect(gap('*/5 * * * * ?')).toBe(5000);
    expect(gap('0 0,30 * * * ?')).toBe(HOUR / 2);
    expect(gap('0 0 * * * ?')).toBe(HOUR);
    expect(gap('0 0 0-23/2 * * ?')).toBe(2 * HOUR);
    expect(gap('0 0 2 * * ?')).toBe(DAY);
  });

  it('across days: the last time of one firing day to the first of the next', () => {
    // Monday 23:00 and Tuesday 00:00 (Quartz: 2 = Monday, 3 = Tuesday).
    expect(gap('0 0 0,23 ? * 2,3')).toBe(HOUR);
    // Saturday and Sunday midnight: one day apart; a weekly schedule: a week.
    expect(gap('0 0 0 ? * 1,7')).toBe(DAY);
    expect(gap('0 59 23 ? * 2')).toBe(7 * DAY);
    // The last day of each month: 31 January to 28 February is the closest, 28 days.
    expect(gap('0 0 2 L * ?')).toBe(28 * DAY);
    // 29 February: every four years.
    expect(gap('0 0 0 29 2 ?')).toBe((3 * 365 + 366) * DAY);
  });

  it('a one-off time has no gap', () => {
    expect(gap('2026-05-01T00:00:00')).toBeNull();
  });

  it('with atLeast, a schedule whose days cannot come closer than that is answered without walking its days (a lower bound)', () => {
    expect(gap('0 59 23 ? * 2', HOUR)).toBe(DAY);
    expect(gap('0 0,30 * * * ?', HOUR)).toBe(HOUR / 2);
    // Days closer than atLeast allows are still found.
    expect(gap('0 0 0,23 ? * 2,3', 2 * HOUR)).toBe(HOUR);
  });
});

describe('showDuration', () => {
  it('writes a duration for a message', () => {
    expect(showDuration(1000)).toBe('1 s');
    expect(showDuration(90_000)).toBe('1 min 30 s');
    expect(showDuration(30 * 60_000)).toBe('30 min');
    expect(showDuration(3_600_000)).toBe('1 h');
    expect(showDuration(5_400_000)).toBe('1 h 30 min');
    expect(showDuration(2 * 86_400_000)).toBe('2 d');
  });
});
