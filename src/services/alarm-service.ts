/**
 * The alarm reads (issue 17): ListAlarmConfigs (the rules and their thresholds from the
 * settings), ListAlarmDetail (the project's alarms, raised and cleared by the collector's
 * evaluation, services/alarm-evaluator.ts) and ListAlarmStatistic (alarms raised per day and
 * level over the last 7 days). Times are shown in the caller's `time_zone` (GMT±hh:mm; UTC by
 * default).
 */
import type { Clock } from '../domain/clock.js';
import { ALARM_RULES, type AlarmRecord, type AlarmThresholds } from '../domain/alarms.js';
import { AppError } from '../errors/app-error.js';
import type { Store } from '../store/store.js';

const ZONE_RE = /^(?:GMT|UTC)([+-])(0\d|1[0-4]):([0-5]\d)$/;
const DAY = 86_400_000;

/** The offset in ms of a `GMT+08:00` time zone (UTC when none). */
export function zoneOffsetMs(zone: string | undefined): number {
  if (zone === undefined || zone === '') return 0;
  const m = ZONE_RE.exec(zone);
  if (!m) throw new AppError('VALIDATION', { args: [`time_zone ${JSON.stringify(zone)} is not like GMT+08:00`] });
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 3600_000 + Number(m[3]) * 60_000);
}

/** `2026-12-07 08:15:02` in the zone, and the zone's name after it (`+08:00`). */
function zoned(ms: number, offsetMs: number): string {
  const d = new Date(ms + offsetMs).toISOString();
  const sign = offsetMs < 0 ? '-' : '+';
  const abs = Math.abs(offsetMs);
  const hh = String(Math.floor(abs / 3600_000)).padStart(2, '0');
  const mm = String(Math.floor((abs % 3600_000) / 60_000)).padStart(2, '0');
  return `${d.slice(0, 10)} ${d.slice(11, 19)}${sign}${hh}:${mm}`;
}

export class AlarmService {
  constructor(private readonly deps: { store: Store; clock: Clock; thresholds: AlarmThresholds }) {}

  /** ListAlarmConfigs: every rule, with its threshold and whether it waits for the duration setting. */
  configs(offset: number, limit: number) {
    const t = this.deps.thresholds;
    const all = ALARM_RULES.map((r) => ({
      id: r.id,
      alarm_id: r.id,
      alarm_name: r.name,
      alarm_level: r.level,
      name_space: 'DWS',
      is_user_visible: true,
      is_maintain_visible: true,
      // DWS's convergence: a sustained rule waits for its condition over the duration setting
      is_converge: r.sustained && t.alarmForSeconds > 0,
      converge_time: r.sustained ? t.alarmForSeconds : 0,
      threshold: r.threshold(t),
      unit: r.unit,
    }));
    return { count: all.length, alarm_configs: all.slice(offset * limit, offset * limit + limit) };
  }

  /** ListAlarmDetail: the project's alarms raised in a range (`recent_day` days back, or from/to), newest first. */
  async details(
    projectId: string,
    q: {
      timeZone?: string | undefined;
      from?: number | undefined;
      to?: number | undefined;
      recentDay?: number | undefined;
      offset: number;
      limit: number;
    },
  ) {
    const offsetMs = zoneOffsetMs(q.timeZone);
    const now = this.deps.clock.now();
    const to = q.to ?? now + 1;
    const from = q.from ?? (q.recentDay !== undefined ? now - q.recentDay * DAY : now - 7 * DAY);
    if (from >= to) throw new AppError('VALIDATION', { args: ['from must be before to'] });
    const clusters = new Map((await this.deps.store.listClusters(projectId)).map((c) => [c.id, c.name]));
    const page = await this.deps.store.listAlarms({ projectId, from, to, limit: q.limit, offset: q.offset * q.limit });
    return {
      count: page.count,
      alarm_details: page.alarms.map((a: AlarmRecord) => ({
        id: a.id,
        alarm_id: a.ruleId,
        alarm_name: ALARM_RULES.find((r) => r.id === a.ruleId)?.name ?? a.ruleId,
        alarm_level: a.level,
        alarm_source: 'DWS',
        alarm_message: a.message,
        alarm_location: `cluster_id=${a.clusterId},instance_name=node${a.ordinal}`,
        resource_id: a.clusterId,
        resource_id_name: clusters.get(a.clusterId) ?? a.clusterId,
        alarm_generate_date: zoned(a.raisedAt, offsetMs),
        alarm_status: a.clearedAt === null ? 'active' : 'cleared',
        raised_at: a.raisedAt,
        cleared_at: a.clearedAt,
        instance_name: `node${a.ordinal}`,
      })),
    };
  }

  /** ListAlarmStatistic: alarms raised per day (in the time zone) and level, the last 7 days, oldest first. */
  async statistic(projectId: string, timeZone: string | undefined) {
    const offsetMs = zoneOffsetMs(timeZone);
    const now = this.deps.clock.now();
    const today = Math.floor((now + offsetMs) / DAY) * DAY - offsetMs;
    const from = today - 6 * DAY;
    const { alarms } = await this.deps.store.listAlarms({ projectId, from, to: now + 1, limit: 100_000, offset: 0 });
    return {
      alarm_statistics: Array.from({ length: 7 }, (_, i) => {
        const start = from + i * DAY;
        const of = alarms.filter((a) => a.raisedAt >= start && a.raisedAt < start + DAY);
        const n = (level: string) => String(of.filter((a) => a.level === level).length);
        return {
          date: zoned(start, offsetMs).slice(0, 10),
          urgent: n('urgent'),
          important: n('important'),
          minor: n('minor'),
          prompt: n('prompt'),
        };
      }),
    };
  }
}
