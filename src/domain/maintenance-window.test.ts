import { describe, expect, it } from 'vitest';
import { DEFAULT_MAINTENANCE_WINDOW, inWindow, maintenanceDue, nextWindowStart, parseMaintenanceWindow } from './maintenance-window.js';

const T = (s: string): number => Date.parse(`${s}Z`);
const iso = (ms: number): string => new Date(ms).toISOString().slice(0, 16);
const win = (day: string, start_time: string, end_time: string) => parseMaintenanceWindow({ day, start_time, end_time });

describe('parseMaintenanceWindow', () => {
  it('takes the real service’s windows, the day in any case', () => {
    expect(win('thu', '22:00', '02:00')).toEqual(DEFAULT_MAINTENANCE_WINDOW);
    expect(win('MON', '00:00', '04:00')).toEqual({ day: 'Mon', startTime: '00:00', endTime: '04:00' });
    expect(win('Sun', '20:00', '00:00')).toEqual({ day: 'Sun', startTime: '20:00', endTime: '00:00' });
  });
  it.each([
    ['Monday', '22:00', '02:00', /day "Monday"/],
    ['', '22:00', '02:00', /day ""/],
    ['Thu', '22:30', '02:30', /start_time "22:30"/],
    ['Thu', '24:00', '04:00', /start_time/],
    ['Thu', '2:00', '6:00', /start_time "2:00"/],
    ['Thu', '22:00', '2:00', /end_time "2:00"/],
    ['Thu', '22:00', '01:00', /lasts 4 hours.*end_time is 02:00/],
    ['Thu', '22:00', '22:00', /lasts 4 hours/],
  ])('refuses %j %j %j', (day, s, e, msg) => {
    expect(() => win(day, s, e)).toThrow(msg);
  });
});

describe('the window in time (UTC)', () => {
  const thu = DEFAULT_MAINTENANCE_WINDOW; // Thu 22:00–02:00
  it('finds the next start, this week or the next', () => {
    // 2026-12-03 is a Thursday.
    expect(iso(nextWindowStart(thu, T('2026-12-03T10:00:00')))).toBe('2026-12-03T22:00');
    expect(iso(nextWindowStart(thu, T('2026-12-03T22:00:00')))).toBe('2026-12-10T22:00');
    expect(iso(nextWindowStart(thu, T('2026-12-05T10:00:00')))).toBe('2026-12-10T22:00');
    expect(iso(nextWindowStart(win('Sun', '01:00', '05:00'), T('2026-12-05T23:00:00')))).toBe('2026-12-06T01:00');
  });
  it('knows when it is under way, across midnight and the week’s turn', () => {
    expect(inWindow(thu, T('2026-12-03T21:59:59'))).toBe(false);
    expect(inWindow(thu, T('2026-12-03T22:00:00'))).toBe(true);
    expect(inWindow(thu, T('2026-12-04T01:59:59'))).toBe(true);
    expect(inWindow(thu, T('2026-12-04T02:00:00'))).toBe(false);
    const sat = win('Sat', '22:00', '02:00');
    expect(inWindow(sat, T('2026-12-06T01:00:00'))).toBe(true); // Sunday 01:00
    expect(iso(nextWindowStart(sat, T('2026-12-06T01:00:00')))).toBe('2026-12-12T22:00');
  });
  it('is due at once within the window, else at its next start', () => {
    expect(maintenanceDue(thu, T('2026-12-04T01:00:00'))).toBe(T('2026-12-04T01:00:00'));
    expect(iso(maintenanceDue(thu, T('2026-12-04T02:00:00')))).toBe('2026-12-10T22:00');
  });
});
