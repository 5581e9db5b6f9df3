/**
 * Snapshot policies (docs/snapshot-policies.md): the records, and the schedule of a backup
 * strategy: parsing its `backup_strategy` expression and computing its fire times. Pure code
 * over cron-parser; no clock of its own (every function takes the time it reasons about).
 *
 * The DWS schedule is a Quartz-style cron expression with six fields
 * (`second minute hour day-of-month month day-of-week`, e.g. `0 8 6 4 * ?`) in the wall time
 * of `time_zone_offset` hours east of UTC, or a one-off local time `YYYY-MM-DDTHH:MM:SS`.
 */
import { CronExpressionParser } from 'cron-parser';
import { AppError } from '../errors/app-error.js';

export const BackupLevel = { Cluster: 'cluster', Schema: 'schema', Table: 'table' } as const;
export type BackupLevel = (typeof BackupLevel)[keyof typeof BackupLevel];
export const BACKUP_LEVELS: readonly BackupLevel[] = ['cluster', 'schema', 'table'];

export const PolicyBackupType = { Full: 'full', Increment: 'increment' } as const;
export type PolicyBackupType = (typeof PolicyBackupType)[keyof typeof PolicyBackupType];
export const POLICY_BACKUP_TYPES: readonly PolicyBackupType[] = ['full', 'increment'];

/** A cluster's policy-wide settings (one row per cluster, created by the first PUT). */
export interface PolicySettingsRecord {
  /** the cluster (primary key: one row per cluster) */
  clusterId: string;
  projectId: string;
  /** `keep_day`: AUTO snapshots older than this many days are deleted (1–31) */
  keepDay: number;
  /** `device_name`: always `OBS` here (NBU and NFS are refused) */
  deviceName: string;
  /** `server_ips`, `server_port`, `backup_param`: stored and shown, no effect */
  serverIps: string[];
  serverPort: string | null;
  backupParam: string | null;
  /** `auto_backup`: false stops every strategy of the cluster from firing */
  autoBackup: boolean;
  /** epoch ms */
  createdAt: number;
  updatedAt: number;
}

/** One backup strategy of a cluster's snapshot policy. */
export interface SnapshotPolicyRecord {
  /** `policy_id` */
  id: string;
  projectId: string;
  clusterId: string;
  /** `policy_name`: unique per cluster among live strategies, case-insensitive */
  name: string;
  /** the `backup_strategy` expression, as given */
  schedule: string;
  /** `full` forces a full backup; `increment` follows the D2 chain */
  backupType: PolicyBackupType;
  backupLevel: BackupLevel;
  /** hours east of UTC of the schedule's wall time */
  timeZoneOffset: number;
  /** schema and table levels: the database, and the comma-separated schemas or `schema.table` names, as given */
  backupDatabase: string | null;
  backupSchemaList: string | null;
  backupTableList: string | null;
  /** the scheduler's cursor: the next slot to fire (epoch ms); null once a one-off schedule has fired */
  nextFireAt: number | null;
  /** epoch ms; `updatedAt` is the wire's `update_time`; a deleted strategy is kept (its fires refer to it) */
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
}

/** What became of a fired slot. */
export type PolicyFireOutcome = 'CREATED' | 'REFUSED';

export interface PolicyFireRecord {
  /** with `fireTime`, the primary key: a slot fires at most once */
  policyId: string;
  /** the slot (epoch ms UTC) */
  fireTime: number;
  /** CREATED: an AUTO snapshot (`snapshotId`); REFUSED: none could be taken (`detail` says why) */
  outcome: PolicyFireOutcome;
  snapshotId: string | null;
  detail: string | null;
  /** when the fire happened (epoch ms) */
  createdAt: number;
}

/** A parsed schedule: a recurring cron expression (cron-parser syntax) or one wall-clock instant. */
export type Schedule = { kind: 'cron'; expr: string } | { kind: 'once'; wallMs: number };

const HOUR_MS = 3_600_000;
const ONCE_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/;

/**
 * Quartz numbers the days of the week 1 (Sunday) to 7 (Saturday); cron-parser 0 (Sunday) to 6.
 * Shift every number of the field (not a step after `/`, not the week count after `#`).
 */
function quartzDayOfWeek(field: string): string {
  return field
    .split(',')
    .map((part) => {
      const [range, step] = part.split('/') as [string, string | undefined];
      const [days, nth] = range.split('#') as [string, string | undefined];
      const shifted = days.replace(/\d+/g, (d) => {
        const n = Number(d);
        if (n < 1 || n > 7)
          throw new AppError('VALIDATION', { args: [`backup_strategy: day-of-week ${d} is out of range 1-7 (1 = Sunday, Quartz style)`] });
        return String(n - 1);
      });
      return `${shifted}${nth !== undefined ? `#${nth}` : ''}${step !== undefined ? `/${step}` : ''}`;
    })
    .join(',');
}

/** Parse and validate a `backup_strategy` expression. Throws `VALIDATION` (400) naming what is wrong. */
export function parseSchedule(text: string): Schedule {
  const s = text.trim();
  const once = ONCE_RE.exec(s);
  if (once) {
    const [y, mo, d, h, mi, se] = once.slice(1).map(Number) as [number, number, number, number, number, number];
    const wallMs = Date.UTC(y, mo - 1, d, h, mi, se);
    const back = new Date(wallMs);
    if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) {
      throw new AppError('VALIDATION', { args: [`backup_strategy: "${s}" is not a valid date and time`] });
    }
    return { kind: 'once', wallMs };
  }
  const fields = s.split(/\s+/);
  if (fields.length !== 6) {
    throw new AppError('VALIDATION', {
      args: [
        `backup_strategy: "${s.slice(0, 100)}" must be a cron expression of 6 fields (second minute hour day-of-month month day-of-week, e.g. "0 0 2 ? * *") or a time YYYY-MM-DDTHH:MM:SS`,
      ],
    });
  }
  const [sec, min, hour, dom, mon, dow] = fields as [string, string, string, string, string, string];
  const restricted = (f: string): boolean => f !== '?' && f !== '*';
  if (restricted(dom) && restricted(dow)) {
    throw new AppError('VALIDATION', {
      args: [`backup_strategy: "${s}" restricts both day-of-month and day-of-week; set one of them to ? (Quartz style)`],
    });
  }
  const expr = [sec, min, hour, dom, mon, /^[?*]$/.test(dow) ? dow : quartzDayOfWeek(dow)].join(' ');
  try {
    const c = CronExpressionParser.parse(expr, { tz: 'UTC', currentDate: new Date(0), strict: false });
    c.next();
  } catch (e) {
    throw new AppError('VALIDATION', { args: [`backup_strategy: "${s}" is not a valid cron expression: ${(e as Error).message}`] });
  }
  return { kind: 'cron', expr };
}

/** The first fire time strictly after `afterMs` (epoch ms UTC), or null when there is none. */
export function nextFireAfter(s: Schedule, offsetHours: number, afterMs: number): number | null {
  const off = offsetHours * HOUR_MS;
  if (s.kind === 'once') return s.wallMs - off > afterMs ? s.wallMs - off : null;
  // The wall time of the offset is UTC shifted by it: compute in UTC on shifted instants.
  const c = CronExpressionParser.parse(s.expr, { tz: 'UTC', currentDate: new Date(afterMs + off) });
  try {
    // cron-parser's next() is strictly after its current date.
    return c.next().getTime() - off;
  } catch {
    return null;
  }
}

/** The last fire time at or before `atMs`, or null when there is none. */
export function latestFireAtOrBefore(s: Schedule, offsetHours: number, atMs: number): number | null {
  const off = offsetHours * HOUR_MS;
  if (s.kind === 'once') return s.wallMs - off <= atMs ? s.wallMs - off : null;
  const c = CronExpressionParser.parse(s.expr, { tz: 'UTC', currentDate: new Date(atMs + off + 1) });
  try {
    const p = c.prev().getTime() - off;
    return p <= atMs ? p : null;
  } catch {
    return null;
  }
}

/**
 * The slot a due strategy fires now: the latest slot at or before `now`, so slots missed while
 * no service ran (or while the cluster was busy) collapse into one fire, never one per slot.
 */
export function dueSlot(s: Schedule, offsetHours: number, cursor: number, now: number): number {
  const latest = latestFireAtOrBefore(s, offsetHours, now);
  return latest !== null && latest >= cursor ? latest : cursor;
}

/**
 * What `next_fire_time` shows: a due slot not fired yet (it fires at the next scheduler pass,
 * collapsed to the latest slot by then), else the cursor. Null when nothing will fire.
 */
export function shownNextFire(s: Schedule, offsetHours: number, cursor: number | null, now: number): number | null {
  if (cursor === null) return null;
  return cursor <= now ? dueSlot(s, offsetHours, cursor, now) : cursor;
}

/** How far ahead `closestFireGap` looks for days the schedule fires on: eight years (two leap-year cycles), at most this many days. */
export const GAP_WINDOW_MS = 8 * 366 * 24 * HOUR_MS;
export const GAP_MAX_DAYS = 200;
const DAY_MS = 24 * HOUR_MS;

/**
 * The closest two consecutive fire times of a schedule come (ms); null when it fires at most
 * once (a one-off time). A cron schedule fires at the same times of day (seconds × minutes ×
 * hours) on every day it fires, so the closest gap is the smaller of the closest two times of
 * one day and, between the two closest days it fires on (found by walking its days from
 * `fromMs` over `GAP_WINDOW_MS`, at most `GAP_MAX_DAYS` of them), the last time of the first
 * and the first of the second. Gaps do not depend on `time_zone_offset` (a fixed shift).
 * With `atLeastMs`, the walk over days is skipped when no two days can come closer than that
 * (the last time of a day is more than `atLeastMs` before the first of the next): then the
 * answer is at least `atLeastMs`, a lower bound rather than the exact closest gap.
 */
export function closestFireGap(s: Schedule, fromMs: number, atLeastMs?: number): number | null {
  if (s.kind === 'once') return null;
  const f = CronExpressionParser.parse(s.expr, { tz: 'UTC', currentDate: new Date(fromMs), strict: false }).fields;
  const times: number[] = [];
  for (const h of f.hour.values)
    for (const m of f.minute.values)
      for (const sec of f.second.values) times.push(((Number(h) * 60 + Number(m)) * 60 + Number(sec)) * 1000);
  times.sort((a, b) => a - b);
  let best: number | null = null;
  for (let k = 1; k < times.length; k++) {
    const g = times[k]! - times[k - 1]!;
    if (best === null || g < best) best = g;
  }
  const span = times[times.length - 1]! - times[0]!;
  if (atLeastMs !== undefined && DAY_MS - span >= atLeastMs) return best === null ? DAY_MS - span : Math.min(best, DAY_MS - span);
  // The days it fires on: the same expression at midnight, once a day.
  const [, , , dom, mon, dow] = s.expr.split(' ') as [string, string, string, string, string, string];
  const days = CronExpressionParser.parse(`0 0 0 ${dom} ${mon} ${dow}`, { tz: 'UTC', currentDate: new Date(fromMs), strict: false });
  const end = fromMs + GAP_WINDOW_MS;
  let prev: number | null = null;
  let closestDays: number | null = null;
  for (let k = 0; k < GAP_MAX_DAYS; k++) {
    let d: number;
    try {
      d = days.next().getTime();
    } catch {
      break;
    }
    if (d > end) break;
    if (prev !== null && (closestDays === null || d - prev < closestDays)) closestDays = d - prev;
    prev = d;
    if (closestDays === DAY_MS) break;
  }
  if (closestDays !== null) {
    const across = closestDays - span;
    if (best === null || across < best) best = across;
  }
  return best;
}

/** A duration for a message: `5 s`, `30 min`, `1 h`, `1 h 30 min`, `2 d`. */
export function showDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  if (s < 86400) {
    const h = Math.floor(s / 3600);
    const m = Math.round((s % 3600) / 60);
    return m ? `${h} h ${m} min` : `${h} h`;
  }
  const d = Math.floor(s / 86400);
  const h = Math.round((s % 86400) / 3600);
  return h ? `${d} d ${h} h` : `${d} d`;
}
