/**
 * The alarm commands (issue 17), clients of the alarm API like the other API commands (they sit
 * in api.ts's table; docs/api.md#alarms): `alarms list` the project's alarms (ListAlarmDetail,
 * every page of the range; --level and --active filter what it answers), `alarms rules` the
 * rules and their thresholds (ListAlarmConfigs), `alarms stats` the alarms raised per day and
 * level (ListAlarmStatistic), and `alarms subs` the alarm subscriptions (CreateAlarmSub,
 * ListAlarmSubs, UpdateAlarmSub, DeleteAlarmSub), as `events subs` does for events.
 */
import { ALARM_LEVELS } from '../../domain/alarms.js';
import { int, need, print, table, UsageError, type Ctx } from './common.js';

export interface AlarmDetailBody {
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
interface AlarmConfigBody {
  alarm_id: string;
  alarm_name: string;
  alarm_level: string;
  threshold: number;
  unit: string;
  is_converge: boolean;
  converge_time: number;
}
interface AlarmSubBody {
  id: string;
  name: string;
  enable: number;
  alarm_level: string;
  alarm_details: string;
  cluster_id: string;
  notification_target: string;
  secret?: string;
  delivery: { pending: number; failed_attempts: number; last_error: string | null };
}

/** ListAlarmDetail's page size (the API takes up to 9999); `list` reads every page of the range. */
const PAGE = 1000;

/** `2026-12-07 06:32:10`, UTC. */
export const utc = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

/** The member an alarm is on: `node<n>` from its location (`cluster_id=…,instance_name=node<n>`). */
export const alarmMember = (a: Pick<AlarmDetailBody, 'alarm_location' | 'instance_name'>): string =>
  /(?:^|,)instance_name=([^,]+)/.exec(a.alarm_location)?.[1] ?? a.instance_name ?? '-';

/** Comma-separated alarm levels, each checked: a clear error for an unknown one. */
export function alarmLevels(v: unknown, flag: string): string[] {
  const levels = need(v, flag)
    .split(',')
    .map((l) => l.trim().toLowerCase())
    .filter(Boolean);
  const bad = levels.filter((l) => !(ALARM_LEVELS as readonly string[]).includes(l));
  if (!levels.length || bad.length)
    throw new UsageError(`${flag} ${String(v)}: unknown level ${bad.join(', ') || '(none)'}; the levels: ${ALARM_LEVELS.join(', ')}`);
  return [...new Set(levels)];
}

/** The notification target's type from the URL's scheme; anything but an http(s) URL is a usage error. */
function targetType(url: string): 'HTTP' | 'HTTPS' {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--url ${url}: not a URL (http://host:port/path or https://…)`);
  }
  if (u.protocol === 'https:') return 'HTTPS';
  if (u.protocol === 'http:') return 'HTTP';
  throw new UsageError(`--url ${url}: an http or https URL is required`);
}

/** ListAlarmDetail, every page of the range (an alarm seen twice while the pages shift is kept once). */
async function allAlarms(ctx: Ctx, days: number | undefined): Promise<AlarmDetailBody[]> {
  const seen = new Map<string, AlarmDetailBody>();
  for (let page = 0; ; page++) {
    const q = new URLSearchParams();
    if (days !== undefined) q.set('recent_day', String(days));
    q.set('limit', String(PAGE));
    q.set('offset', String(page));
    const r = await ctx.client.call<{ count: number; alarm_details: AlarmDetailBody[] }>('GET', `/v2/{project_id}/alarms?${q.toString()}`);
    for (const a of r.alarm_details) if (!seen.has(a.id)) seen.set(a.id, a);
    if (r.alarm_details.length < PAGE || (page + 1) * PAGE >= r.count) break;
  }
  return [...seen.values()];
}

async function list(ctx: Ctx): Promise<number> {
  let days: number | undefined;
  if (ctx.values['days'] !== undefined) {
    days = int(ctx.values['days'], '--days');
    if (days < 1 || days > 30) throw new UsageError('--days must be 1 to 30');
  }
  const levels = ctx.values['level'] !== undefined ? alarmLevels(ctx.values['level'], '--level') : null;
  const active = ctx.values['active'] === true;
  const shown = (await allAlarms(ctx, days)).filter(
    (a) => (!levels || levels.includes(a.alarm_level)) && (!active || a.alarm_status === 'active'),
  );
  print(ctx, { count: shown.length, alarm_details: shown }, () => {
    if (!shown.length) {
      const what = [active ? 'active' : '', levels ? levels.join(' or ') : ''].filter(Boolean).join(' ');
      return `no ${what ? `${what} ` : ''}alarms raised in the last ${days ?? 7} day(s)`;
    }
    return table([
      ['RAISED (UTC)', 'LEVEL', 'STATUS', 'CLUSTER', 'MEMBER', 'ALARM', 'MESSAGE'],
      ...shown.map((a) => [
        utc(a.raised_at),
        a.alarm_level,
        a.alarm_status === 'cleared' && a.cleared_at !== null ? `cleared ${utc(a.cleared_at)}` : a.alarm_status,
        a.resource_id_name || a.resource_id,
        alarmMember(a),
        a.alarm_name,
        a.alarm_message,
      ]),
    ]);
  });
  return 0;
}

async function rules(ctx: Ctx): Promise<number> {
  const r = await ctx.client.call<{ count: number; alarm_configs: AlarmConfigBody[] }>('GET', '/v2/{project_id}/alarm-configs');
  print(ctx, r, () =>
    table([
      ['ALARM_ID', 'LEVEL', 'THRESHOLD', 'RAISED', 'NAME'],
      ...r.alarm_configs.map((x) => [
        x.alarm_id,
        x.alarm_level,
        x.unit ? `${x.threshold} ${x.unit}` : String(x.threshold),
        x.is_converge ? `held ${x.converge_time} s` : 'at once',
        x.alarm_name,
      ]),
    ]),
  );
  return 0;
}

async function stats(ctx: Ctx): Promise<number> {
  const r = await ctx.client.call<{
    alarm_statistics: { date: string; urgent: string; important: string; minor: string; prompt: string }[];
  }>('GET', '/v2/{project_id}/alarm-statistic');
  print(ctx, r, () =>
    table([
      ['DATE (UTC)', 'URGENT', 'IMPORTANT', 'MINOR', 'PROMPT'],
      ...r.alarm_statistics.map((d) => [d.date, d.urgent, d.important, d.minor, d.prompt]),
    ]),
  );
  return 0;
}

const SUBS_USAGE =
  'alarms subs list | create --name N --url URL [--level important,urgent] [--rules ID,…] [--cluster ID,…] | enable ID | disable ID | delete ID';

async function subs(ctx: Ctx, verb: string | undefined, id: string | undefined): Promise<number> {
  const c = ctx.client;
  const one = (): string => `/v2/{project_id}/alarm-subs/${encodeURIComponent(need(id, 'the subscription id'))}`;
  switch (verb) {
    case 'list': {
      const r = await c.call<{ count: number; alarm_subscriptions: AlarmSubBody[] }>('GET', '/v2/{project_id}/alarm-subs');
      print(ctx, r, () =>
        table([
          ['ID', 'NAME', 'ENABLED', 'LEVELS', 'RULES', 'CLUSTERS', 'ENDPOINT', 'PENDING', 'FAILED', 'LAST_ERROR'],
          ...r.alarm_subscriptions.map((x) => [
            x.id,
            x.name,
            x.enable ? 'yes' : 'no',
            x.alarm_level || '(all)',
            x.alarm_details || '(all)',
            x.cluster_id || '(all)',
            x.notification_target,
            String(x.delivery.pending),
            String(x.delivery.failed_attempts),
            x.delivery.last_error ?? '',
          ]),
        ]),
      );
      return 0;
    }
    case 'create': {
      const name = need(ctx.values['name'], '--name');
      const url = need(ctx.values['url'], '--url');
      const body: Record<string, unknown> = { name, notification_target: url, notification_target_type: targetType(url) };
      if (ctx.values['level'] !== undefined) body['alarm_level'] = alarmLevels(ctx.values['level'], '--level').join(',');
      if (ctx.values['rules'] !== undefined) body['alarm_detail'] = need(ctx.values['rules'], '--rules');
      if (ctx.values['cluster'] !== undefined) body['cluster_id'] = need(ctx.values['cluster'], '--cluster');
      const r = await c.call<AlarmSubBody>('POST', '/v2/{project_id}/alarm-subs', body);
      print(ctx, r, () => `alarm subscription ${r.id} created\nsigning secret (shown once): ${r.secret ?? ''}`);
      return 0;
    }
    case 'enable':
    case 'disable': {
      const r = await c.call<AlarmSubBody>('PUT', one(), { enable: verb === 'enable' ? 1 : 0 });
      print(ctx, r, () => `alarm subscription ${r.id} ${verb}d`);
      return 0;
    }
    case 'delete': {
      const r = await c.call<AlarmSubBody>('DELETE', one());
      print(ctx, r, () => `alarm subscription ${r.id} deleted`);
      return 0;
    }
    default:
      throw new UsageError(SUBS_USAGE);
  }
}

/** `alarms list [--days N] [--level L,…] [--active]` | `rules` | `stats` | `subs …`. */
export async function alarms(ctx: Ctx): Promise<number> {
  const [sub, verb, id, ...extra] = ctx.positionals;
  if (sub === 'subs') {
    if (extra.length) throw new UsageError(`alarms subs ${verb ?? ''} takes one id, got also ${extra.join(' ')}`);
    return subs(ctx, verb, id);
  }
  if (verb !== undefined)
    throw new UsageError(`alarms ${sub ?? ''} takes no arguments, got ${[verb, id, ...extra].filter(Boolean).join(' ')}`);
  switch (sub) {
    case 'list':
      return list(ctx);
    case 'rules':
      return rules(ctx);
    case 'stats':
      return stats(ctx);
    default:
      throw new UsageError(`alarms: use list [--days N] [--level L] [--active] | rules | stats | ${SUBS_USAGE.slice('alarms '.length)}`);
  }
}
