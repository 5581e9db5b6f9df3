/**
 * A cluster's maintenance window (issue 16, UpdateMaintenanceWindow; docs/api.md#the-maintenance-window):
 * one weekly slot, in UTC as the DWS API and the Terraform provider's `maintain_window` say,
 * when dwsbox may do disruptive work on its own — today the restart a parameter change needs.
 *
 * The rules are the real service's documented ones, so a request written for it means the same
 * here: `day` one of Mon…Sun, `start_time` and `end_time` as HH:mm on the hour, the end exactly
 * four hours after the start (a window may cross midnight: Thu 22:00–02:00 ends on Friday).
 * A new cluster gets Thu 22:00–02:00 UTC, the window the detail showed before it was stored.
 */
import { AppError } from '../errors/app-error.js';

export interface MaintenanceWindow {
  /** Mon … Sun: the day the window starts on (UTC) */
  day: string;
  /** HH:mm, UTC, on the hour */
  startTime: string;
  /** HH:mm, UTC, start + 4 h */
  endTime: string;
}

export const WINDOW_DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
export const WINDOW_HOURS = 4;
export const DEFAULT_MAINTENANCE_WINDOW: MaintenanceWindow = { day: 'Thu', startTime: '22:00', endTime: '02:00' };

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const WEEK_MS = 7 * DAY_MS;

/** The hour of an `HH:mm` on the hour, else null. */
function hourOf(hhmm: string): number | null {
  const m = /^([01]\d|2[0-3]):00$/.exec(hhmm);
  return m ? Number(m[1]) : null;
}

const show = (v: unknown): string => JSON.stringify(typeof v === 'string' ? v.slice(0, 32) : v);

/**
 * A request's window checked (400 DWS.0001 naming the field, nothing changed) and written as
 * stored: the day in its canonical spelling (`thu`, `THU` are taken as `Thu`).
 */
export function parseMaintenanceWindow(input: { day: string; start_time: string; end_time: string }): MaintenanceWindow {
  const day = WINDOW_DAYS.find((d) => d.toLowerCase() === input.day.toLowerCase());
  if (!day) throw new AppError('VALIDATION', { args: [`day ${show(input.day)} is not one of Mon, Tue, Wed, Thu, Fri, Sat, Sun`] });
  const start = hourOf(input.start_time);
  if (start === null)
    throw new AppError('VALIDATION', {
      args: [`start_time ${show(input.start_time)} is not a time on the hour as HH:mm (UTC), e.g. 22:00`],
    });
  const end = hourOf(input.end_time);
  if (end === null)
    throw new AppError('VALIDATION', { args: [`end_time ${show(input.end_time)} is not a time on the hour as HH:mm (UTC), e.g. 02:00`] });
  if (end !== (start + WINDOW_HOURS) % 24)
    throw new AppError('VALIDATION', {
      args: [
        `the window lasts ${WINDOW_HOURS} hours: with start_time ${input.start_time}, end_time is ${hhmm((start + WINDOW_HOURS) % 24)}`,
      ],
    });
  return { day, startTime: input.start_time, endTime: input.end_time };
}

const hhmm = (hour: number): string => `${String(hour).padStart(2, '0')}:00`;

/** Where the window starts within a week that begins on Sunday 00:00 UTC, in ms. */
function offsetInWeek(w: MaintenanceWindow): number {
  return WINDOW_DAYS.indexOf(w.day as (typeof WINDOW_DAYS)[number]) * DAY_MS + (hourOf(w.startTime) ?? 0) * HOUR_MS;
}

/** The start of the window's occurrence that is under way at `now` or starts next (UTC). */
function currentOrNext(w: MaintenanceWindow, now: number): number {
  // 1970-01-01 was a Thursday: Sunday 00:00 UTC before it is 4 days earlier.
  const weekStart = Math.floor((now + 4 * DAY_MS) / WEEK_MS) * WEEK_MS - 4 * DAY_MS;
  let start = weekStart + offsetInWeek(w);
  // The occurrence that started last week may still be under way (Sat 22:00–02:00 on a Sunday 01:00).
  if (start - WEEK_MS + WINDOW_HOURS * HOUR_MS > now) start -= WEEK_MS;
  else if (start + WINDOW_HOURS * HOUR_MS <= now) start += WEEK_MS;
  return start;
}

/** True while `now` is within an occurrence of the window (start inclusive, end exclusive). */
export function inWindow(w: MaintenanceWindow, now: number): boolean {
  return currentOrNext(w, now) <= now;
}

/** The next time the window starts strictly after `now`. */
export function nextWindowStart(w: MaintenanceWindow, now: number): number {
  const s = currentOrNext(w, now);
  return s > now ? s : s + WEEK_MS;
}

/**
 * When disruptive work asked for at `now` may begin: at once when `now` is within the window
 * (the window is there for it, and waiting a week would surprise), else at the next start.
 */
export function maintenanceDue(w: MaintenanceWindow, now: number): number {
  return inWindow(w, now) ? now : nextWindowStart(w, now);
}
