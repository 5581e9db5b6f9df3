/**
 * Alarms (issue 17): rules over the measured metrics (D29), each raised for a member when its
 * condition has held over every sample of its duration, and cleared by the first sample where
 * it no longer holds (or when the member or cluster is gone). The rules' thresholds and the
 * duration are settings (docs/configuration.md); ListAlarmConfigs shows them. Pure code: the
 * collector evaluates the rules after each collection (services/alarm-evaluator.ts).
 */
import type { MetricSample } from './metrics.js';

/** DWS's alarm levels, most severe first (ListAlarmStatistic counts each). */
export const ALARM_LEVELS = ['urgent', 'important', 'minor', 'prompt'] as const;
export type AlarmLevel = (typeof ALARM_LEVELS)[number];

export interface AlarmThresholds {
  alarmCpuPercent: number;
  alarmMemoryPercent: number;
  alarmDiskPercent: number;
  alarmConnectionsPercent: number;
  alarmLagBytes: number;
  alarmLagSeconds: number;
  alarmQuerySeconds: number;
  alarmForSeconds: number;
}

export interface AlarmContext {
  nodeTypeMemoryBytes: number;
  nodeTypeDiskBytes: number;
}

export interface AlarmRule {
  /** the alarm definition's id (DWS's `alarm_id`) */
  id: string;
  name: string;
  level: AlarmLevel;
  /** whether the condition must hold over the duration setting (false: at once, e.g. a member down) */
  sustained: boolean;
  /** the figure compared, in the sample (null: not measured, never a breach) */
  value(s: MetricSample, ctx: AlarmContext): number | null;
  /** its threshold from the settings */
  threshold(t: AlarmThresholds): number;
  unit: string;
  /** what the alarm says, with the value and threshold */
  message(value: number, threshold: number): string;
  /** raised and cleared by another service than the collector (not from a member's samples) */
  external?: true;
}

const pct = (a: number | null, b: number | null): number | null => (a === null || b === null || b <= 0 ? null : (a / b) * 100);
const fmt = (v: number, unit: string): string =>
  unit === '%' ? `${v.toFixed(1)} %` : unit === 'B' ? `${(v / 1024 / 1024).toFixed(1)} MiB` : `${v.toFixed(1)} ${unit}`;

export const MEMBER_DOWN_RULE = 'dwsbox.member_down';
/** A disaster-recovery standby behind production past its pairing's dr_sync_period (D31; DisasterRecoveryService.watch). */
export const DR_LAG_RULE = 'dwsbox.dr_lag';

export const ALARM_RULES: readonly AlarmRule[] = [
  {
    id: MEMBER_DOWN_RULE,
    name: 'Member down',
    level: 'urgent',
    sustained: false,
    value: () => null, // raised by the evaluator from the collection itself: a member of a running cluster that could not be read
    threshold: () => 0,
    unit: '',
    message: () => 'the member of a running cluster did not answer the collection: its PostgreSQL server is not running',
  },
  {
    id: 'dwsbox.archive_failing',
    name: 'WAL archiving failing',
    level: 'urgent',
    sustained: true,
    value: (s) => s.archiveFailRate,
    threshold: () => 0,
    unit: '/s',
    message: (v) =>
      `WAL segments fail to archive (${(v * 60).toFixed(1)} failed attempts a minute): snapshots and point-in-time restores need the archive`,
  },
  {
    id: 'dwsbox.disk_usage',
    name: 'Disk usage high',
    level: 'important',
    sustained: false,
    value: (s, c) => pct(s.dataBytes, c.nodeTypeDiskBytes),
    threshold: (t) => t.alarmDiskPercent,
    unit: '%',
    message: (v, th) => `its databases and WAL take ${fmt(v, '%')} of its node type's disk (threshold ${fmt(th, '%')})`,
  },
  {
    id: 'dwsbox.connection_usage',
    name: 'Connections near max_connections',
    level: 'important',
    sustained: true,
    value: (s) => pct(s.connections, s.maxConnections),
    threshold: (t) => t.alarmConnectionsPercent,
    unit: '%',
    message: (v, th) => `client sessions take ${fmt(v, '%')} of max_connections (threshold ${fmt(th, '%')})`,
  },
  {
    id: 'dwsbox.replication_lag_bytes',
    name: 'Replication lag (bytes)',
    level: 'important',
    sustained: true,
    value: (s) => s.lagBytes,
    threshold: (t) => t.alarmLagBytes,
    unit: 'B',
    message: (v, th) => `the standby's replay is ${fmt(v, 'B')} behind its primary (threshold ${fmt(th, 'B')})`,
  },
  {
    id: 'dwsbox.replication_lag_seconds',
    name: 'Replication lag (time)',
    level: 'important',
    sustained: true,
    value: (s) => s.lagSeconds,
    threshold: (t) => t.alarmLagSeconds,
    unit: 's',
    message: (v, th) =>
      `the standby has not replayed a transaction for ${fmt(v, 's')} while it has WAL to replay (threshold ${fmt(th, 's')})`,
  },
  {
    id: DR_LAG_RULE,
    name: 'Disaster-recovery lag',
    level: 'important',
    sustained: false,
    external: true,
    value: () => null, // raised by the pairings' watch: its threshold is each pairing's dr_sync_period
    threshold: () => 0,
    unit: 's',
    message: (v, th) =>
      `the disaster-recovery standby is ${fmt(v, 's')} behind production, past its pairing's dr_sync_period (${fmt(th, 's')}): production's writes since are not on it yet`,
  },
  {
    id: 'dwsbox.cpu_usage',
    name: 'CPU usage high',
    level: 'minor',
    sustained: true,
    value: (s) => s.cpuPercent,
    threshold: (t) => t.alarmCpuPercent,
    unit: '%',
    message: (v, th) => `its PostgreSQL processes use ${fmt(v, '%')} of one core (threshold ${fmt(th, '%')})`,
  },
  {
    id: 'dwsbox.memory_usage',
    name: 'Memory usage high',
    level: 'minor',
    sustained: true,
    value: (s, c) => pct(s.memBytes, c.nodeTypeMemoryBytes),
    threshold: (t) => t.alarmMemoryPercent,
    unit: '%',
    message: (v, th) => `its PostgreSQL processes use ${fmt(v, '%')} of its node type's memory budget (threshold ${fmt(th, '%')})`,
  },
  {
    id: 'dwsbox.long_query',
    name: 'Long-running query',
    level: 'prompt',
    sustained: false,
    value: (s) => s.longestQuerySeconds,
    threshold: (t) => t.alarmQuerySeconds,
    unit: 's',
    message: (v, th) => `a client statement has run for ${fmt(v, 's')} (threshold ${fmt(th, 's')}); ListQueries shows it`,
  },
];

export const findAlarmRule = (id: string): AlarmRule | undefined => ALARM_RULES.find((r) => r.id === id);

/** The rules an alarm subscription covers: those named (none: all) of the levels named (none: all). */
export function alarmRulesOf(ids: readonly string[], levels: readonly string[]): string[] {
  return ALARM_RULES.filter((r) => (!ids.length || ids.includes(r.id)) && (!levels.length || levels.includes(r.level))).map((r) => r.id);
}

/**
 * Whether a threshold rule is breached now: the newest sample is above its threshold and, for a
 * sustained rule, so is every sample of the last `forSeconds` (which must reach back that far,
 * so a member seen for less than the duration is not alarmed yet). `history`: the member's
 * samples, oldest first, the newest last.
 */
export function breached(
  rule: AlarmRule,
  history: readonly MetricSample[],
  t: AlarmThresholds,
  ctx: AlarmContext,
): { breached: boolean; value: number | null; threshold: number } {
  const threshold = rule.threshold(t);
  const newest = history[history.length - 1];
  const value = newest ? rule.value(newest, ctx) : null;
  if (!newest || value === null || !(value > threshold)) return { breached: false, value, threshold };
  if (!rule.sustained || t.alarmForSeconds <= 0) return { breached: true, value, threshold };
  const since = newest.at - t.alarmForSeconds;
  const window = history.filter((s) => s.at >= since);
  const reaches = history.some((s) => s.at <= since);
  const held = window.every((s) => {
    const v = rule.value(s, ctx);
    return v !== null && v > threshold;
  });
  return { breached: reaches && held, value, threshold };
}

/** An alarm as the store keeps it. */
export interface AlarmRecord {
  id: string;
  projectId: string;
  clusterId: string;
  ordinal: number;
  ruleId: string;
  level: AlarmLevel;
  message: string;
  raisedAt: number;
  clearedAt: number | null;
}

/** The event severity an alarm's raising is recorded with (D26): urgent and important major, minor warning, prompt normal. */
export const alarmEventSeverity = (level: AlarmLevel): 'major' | 'warning' | 'normal' =>
  level === 'urgent' || level === 'important' ? 'major' : level === 'minor' ? 'warning' : 'normal';
