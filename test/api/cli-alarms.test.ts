/**
 * The CLI's alarm and audit commands (issue 17) in process against the API, no PostgreSQL: the
 * cluster is a store record and its alarms are raised and cleared through the store as the
 * evaluator does (the metrics collector is stopped, so nothing clears them behind the test's
 * back); the audit records are made by mutating calls through the harness. Each command's
 * --json is the API's answer, and its table shows the answer's rows; `alarms subs` round trips
 * through the API; bad input is a clear error with a non-zero exit code, changing nothing.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ACCESS_KEY, p, PROJECT_ID, SECRET_KEY, startApiService, type ApiHarness } from '../helpers/api.js';
import { makeCluster } from '../helpers/records.js';
import { runApiCommand } from '../../src/cli/commands/api.js';
import type { AlarmLevel, AlarmRecord } from '../../src/domain/alarms.js';
import type { ClusterRecord } from '../../src/domain/records.js';

let h: ApiHarness;
let c: ClusterRecord;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Detail {
  id: string;
  alarm_id: string;
  alarm_name: string;
  alarm_level: string;
  alarm_message: string;
  alarm_location: string;
  resource_id_name: string;
  alarm_status: string;
  raised_at: number;
  cleared_at: number | null;
}
interface Details {
  count: number;
  alarm_details: Detail[];
}
interface AlarmSub {
  id: string;
  name: string;
  enable: number;
  alarm_level: string;
  alarm_details: string;
  cluster_id: string;
  notification_target: string;
  notification_target_type: string;
  secret?: string;
}
interface AuditLog {
  cluster_id: string;
  count: number;
  records: {
    executor_time: number;
    operator: string;
    method: string;
    operation: string;
    status_code: number;
    result: string;
    failed_reason: string | null;
  }[];
}

/** The CLI's API commands in process against this service: exit code, standard output and error. */
async function cli(...a: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const lines: string[] = [];
  const out = { write: (x: string) => lines.push(x) > 0 } as unknown as NodeJS.WriteStream;
  const port = (h.app.server.address() as AddressInfo).port;
  const env = {
    DWSBOX_ENDPOINT: `http://127.0.0.1:${port}`,
    DWSBOX_PROJECT_ID: PROJECT_ID,
    DWSBOX_ACCESS_KEY: ACCESS_KEY,
    DWSBOX_SECRET_KEY: SECRET_KEY,
  };
  const err: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((x) => err.push(String(x)) > 0);
  try {
    return { code: await runApiCommand(a, env, out), stdout: lines.join(''), stderr: err.join('') };
  } finally {
    spy.mockRestore();
  }
}
/** A command that must succeed: its standard output. */
async function ok(...a: string[]): Promise<string> {
  const r = await cli(...a);
  expect(r.code, `${a.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}
const okJson = async <T>(...a: string[]): Promise<T> => JSON.parse(await ok(...a, '--json')) as T;

/** The API's answer to a GET, as the SDK sends it. */
async function api<T>(path: string, query: Record<string, string> = {}): Promise<T> {
  const res = await h.sdkCall('GET', p(path), { query });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<T>();
}

const utc = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A table row of these cells (columns two or more spaces apart), the whole line unless `prefix`. */
const row = (cells: string[], prefix = false): RegExp => new RegExp(`^${cells.map(esc).join('\\s{2,}')}${prefix ? '' : '$'}`);
const rowsOf = (stdout: string): string[] => stdout.trimEnd().split('\n');

let made = 0;
async function raise(ruleId: string, level: AlarmLevel, ordinal: number, agoMs: number, clearedAgoMs?: number): Promise<AlarmRecord> {
  const now = h.clock.now();
  const a: AlarmRecord = {
    id: randomUUID(),
    projectId: PROJECT_ID,
    clusterId: c.id,
    ordinal,
    ruleId,
    level,
    message: `${ruleId} on node${ordinal} of cluster ${c.name}: test alarm ${++made}`,
    raisedAt: now - agoMs,
    clearedAt: null,
  };
  expect(await h.svc.store.raiseAlarm(a)).toBe(true);
  if (clearedAgoMs !== undefined) expect(await h.svc.store.clearAlarm(a.id, now - clearedAgoMs)).toBe(true);
  return a;
}

let disk: AlarmRecord;
let cpu: AlarmRecord;
let query: AlarmRecord;
let down: AlarmRecord;

beforeAll(async () => {
  // the alarm subscriptions' URL is on 127.0.0.1: loopback endpoints allowed by the operator
  h = await startApiService({ flags: { eventEndpointsPrivate: true } });
  // The alarms here are the test's: no collection evaluates (and clears) them.
  await h.svc.collector.stop();
  c = makeCluster({ projectId: PROJECT_ID, name: 'cli-alarmed', stopped: true, status: 'UNAVAILABLE' });
  await h.svc.store.insertCluster(c);
  disk = await raise('dwsbox.disk_usage', 'important', 1, 3 * HOUR);
  cpu = await raise('dwsbox.cpu_usage', 'minor', 2, 2 * HOUR, HOUR);
  query = await raise('dwsbox.long_query', 'prompt', 1, HOUR);
  down = await raise('dwsbox.member_down', 'urgent', 3, 10 * DAY); // older than the default 7 days
});
afterAll(async () => {
  await h?.stop();
});

describe('dwsbox alarms', () => {
  it("list: --json is the API's answer, the table its rows (newest first, the member from alarm_location)", async () => {
    const want = await api<Details>('/v2/{project_id}/alarms', { limit: '1000' });
    expect(want.alarm_details.map((a) => a.id)).toEqual([query.id, cpu.id, disk.id]);
    expect(await okJson<Details>('alarms', 'list')).toEqual(want);
    const lines = rowsOf(await ok('alarms', 'list'));
    expect(lines[0]).toMatch(/^RAISED \(UTC\)\s+LEVEL\s+STATUS\s+CLUSTER\s+MEMBER\s+ALARM\s+MESSAGE$/);
    expect(lines).toHaveLength(want.alarm_details.length + 1);
    want.alarm_details.forEach((a, i) => {
      const member = /instance_name=(node\d+)/.exec(a.alarm_location)![1]!;
      const status = a.alarm_status === 'cleared' ? `cleared ${utc(a.cleared_at!)}` : a.alarm_status;
      expect(lines[i + 1]).toMatch(
        row([utc(a.raised_at), a.alarm_level, status, a.resource_id_name, member, a.alarm_name, a.alarm_message]),
      );
    });
    expect(lines[2]).toMatch(/\scleared \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+cli-alarmed\s+node2\s/);
    expect(lines[3]).toMatch(/\sactive\s+cli-alarmed\s+node1\s/);
    // --days: the range the API reads
    const month = await api<Details>('/v2/{project_id}/alarms', { recent_day: '30', limit: '1000' });
    expect(month.alarm_details.map((a) => a.id)).toEqual([query.id, cpu.id, disk.id, down.id]);
    expect(await okJson<Details>('alarms', 'list', '--days', '30')).toEqual(month);
  });

  it('list --level and --active filter the answer; an alarm cleared drops out of --active', async () => {
    const ids = async (...a: string[]) => (await okJson<Details>('alarms', 'list', ...a)).alarm_details.map((x) => x.id);
    expect(await ids('--active')).toEqual([query.id, disk.id]);
    expect(await ids('--level', 'important', '--active')).toEqual([disk.id]);
    expect(await ids('--level', 'minor')).toEqual([cpu.id]);
    expect(await ids('--level', 'minor,prompt')).toEqual([query.id, cpu.id]);
    expect(await ids('--level', 'urgent')).toEqual([]);
    expect(await ids('--level', 'urgent', '--days', '30')).toEqual([down.id]);
    const filtered = await okJson<Details>('alarms', 'list', '--level', 'important');
    const all = await api<Details>('/v2/{project_id}/alarms', { limit: '1000' });
    expect(filtered).toEqual({ count: 1, alarm_details: all.alarm_details.filter((a) => a.id === disk.id) });
    expect((await ok('alarms', 'list', '--level', 'urgent')).trim()).toBe('no urgent alarms raised in the last 7 day(s)');
    expect(await h.svc.store.clearAlarm(query.id, h.clock.now())).toBe(true);
    expect(await ids('--active')).toEqual([disk.id]);
    const lines = rowsOf(await ok('alarms', 'list', '--active'));
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^\S+ \S+\s+important\s+active\s+cli-alarmed\s+node1\s+Disk usage high\s+dwsbox\.disk_usage on node1/);
  });

  it("rules and stats: --json is the API's answer, the table its rows", async () => {
    const configs = await api<{
      count: number;
      alarm_configs: {
        alarm_id: string;
        alarm_level: string;
        threshold: number;
        unit: string;
        is_converge: boolean;
        converge_time: number;
        alarm_name: string;
      }[];
    }>('/v2/{project_id}/alarm-configs');
    expect(configs.count).toBeGreaterThanOrEqual(9);
    expect(await okJson('alarms', 'rules')).toEqual(configs);
    const rules = rowsOf(await ok('alarms', 'rules'));
    expect(rules[0]).toMatch(/^ALARM_ID\s+LEVEL\s+THRESHOLD\s+RAISED\s+NAME$/);
    expect(rules).toHaveLength(configs.alarm_configs.length + 1);
    configs.alarm_configs.forEach((x, i) => {
      const threshold = x.unit ? `${x.threshold} ${x.unit}` : String(x.threshold);
      expect(rules[i + 1]).toMatch(
        row([x.alarm_id, x.alarm_level, threshold, x.is_converge ? `held ${x.converge_time} s` : 'at once', x.alarm_name]),
      );
    });
    expect(rules.find((l) => l.startsWith('dwsbox.disk_usage '))).toMatch(/\simportant\s+80 %\s+at once\s+Disk usage high$/);

    const st = await api<{ alarm_statistics: { date: string; urgent: string; important: string; minor: string; prompt: string }[] }>(
      '/v2/{project_id}/alarm-statistic',
    );
    expect(st.alarm_statistics).toHaveLength(7);
    expect(await okJson('alarms', 'stats')).toEqual(st);
    const sum = (k: 'urgent' | 'important' | 'minor' | 'prompt') => st.alarm_statistics.reduce((n, d) => n + Number(d[k]), 0);
    expect([sum('urgent'), sum('important'), sum('minor'), sum('prompt')]).toEqual([0, 1, 1, 1]);
    const days = rowsOf(await ok('alarms', 'stats'));
    expect(days[0]).toMatch(/^DATE \(UTC\)\s+URGENT\s+IMPORTANT\s+MINOR\s+PROMPT$/);
    expect(days).toHaveLength(8);
    st.alarm_statistics.forEach((d, i) => expect(days[i + 1]).toMatch(row([d.date, d.urgent, d.important, d.minor, d.prompt])));
  });

  it('subs: create (the secret printed once), list, disable, enable, delete round trip through the API', async () => {
    const list = () => api<{ count: number; alarm_subscriptions: AlarmSub[] }>('/v2/{project_id}/alarm-subs');
    const url = 'http://127.0.0.1:9/alarms';
    const rules = 'dwsbox.disk_usage,dwsbox.member_down';
    const sub = await okJson<AlarmSub>(
      'alarms',
      'subs',
      'create',
      '--name',
      'cli-alarm-sub',
      '--url',
      url,
      '--level',
      'important,urgent',
      '--rules',
      rules,
      '--cluster',
      c.id,
    );
    expect(sub).toMatchObject({
      name: 'cli-alarm-sub',
      enable: 1,
      alarm_level: 'important,urgent',
      alarm_details: rules,
      cluster_id: c.id,
      notification_target: url,
      notification_target_type: 'HTTP',
    });
    expect(sub.secret).toMatch(/^[0-9a-f]{64}$/);
    // the text output: the id and the secret, once
    const text = await ok('alarms', 'subs', 'create', '--name', 'cli-alarm-all', '--url', 'https://127.0.0.1:9/all');
    const m = /^alarm subscription (\S+) created\nsigning secret \(shown once\): ([0-9a-f]{64})\n$/.exec(text);
    expect(m, text).not.toBeNull();
    const all = (await list()).alarm_subscriptions.find((x) => x.id === m![1])!;
    expect(all).toMatchObject({
      name: 'cli-alarm-all',
      notification_target_type: 'HTTPS',
      alarm_level: '',
      alarm_details: '',
      cluster_id: '',
    });
    expect(all.secret).toBeUndefined();

    const listed = await list();
    expect(listed.alarm_subscriptions.map((x) => x.id)).toEqual([sub.id, all.id]);
    expect(await okJson('alarms', 'subs', 'list')).toEqual(listed);
    const lines = rowsOf(await ok('alarms', 'subs', 'list'));
    expect(lines[0]).toMatch(/^ID\s+NAME\s+ENABLED\s+LEVELS\s+RULES\s+CLUSTERS\s+ENDPOINT\s+PENDING\s+FAILED\s+LAST_ERROR$/);
    expect(lines[1]).toMatch(row([sub.id, 'cli-alarm-sub', 'yes', 'important,urgent', rules, c.id, url, '0', '0']));
    expect(lines[2]).toMatch(row([all.id, 'cli-alarm-all', 'yes', '(all)', '(all)', '(all)', 'https://127.0.0.1:9/all', '0', '0']));

    expect((await ok('alarms', 'subs', 'disable', sub.id)).trim()).toBe(`alarm subscription ${sub.id} disabled`);
    expect((await list()).alarm_subscriptions.find((x) => x.id === sub.id)!.enable).toBe(0);
    expect(rowsOf(await ok('alarms', 'subs', 'list'))[1]).toMatch(row([sub.id, 'cli-alarm-sub', 'no'], true));
    expect((await okJson<AlarmSub>('alarms', 'subs', 'enable', sub.id)).enable).toBe(1);
    expect((await list()).alarm_subscriptions.find((x) => x.id === sub.id)!.enable).toBe(1);

    for (const id of [sub.id, all.id]) expect((await ok('alarms', 'subs', 'delete', id)).trim()).toBe(`alarm subscription ${id} deleted`);
    expect((await list()).count).toBe(0);
    const again = await cli('alarms', 'subs', 'delete', sub.id);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/DWS\.9990/);
  });

  it('bad input: a clear error, a non-zero exit code, and nothing created', async () => {
    const subs = async () => (await api<{ count: number }>('/v2/{project_id}/alarm-subs')).count;
    const before = await subs();
    const usage = async (re: RegExp, ...a: string[]) => {
      const r = await cli(...a);
      expect(r.code, `${a.join(' ')}: ${r.stdout}`).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stdout).toBe('');
    };
    await usage(
      /--level critical: unknown level critical; the levels: urgent, important, minor, prompt/,
      'alarms',
      'list',
      '--level',
      'critical',
    );
    await usage(/--url is required/, 'alarms', 'subs', 'create', '--name', 'no-url');
    await usage(/--name is required/, 'alarms', 'subs', 'create', '--url', 'http://127.0.0.1:9/x');
    await usage(
      /unknown level critical/,
      'alarms',
      'subs',
      'create',
      '--name',
      'bad-level',
      '--url',
      'http://127.0.0.1:9/x',
      '--level',
      'important,critical',
    );
    await usage(/an http or https URL is required/, 'alarms', 'subs', 'create', '--name', 'bad-url', '--url', 'ftp://127.0.0.1/x');
    await usage(/--days must be 1 to 30/, 'alarms', 'list', '--days', '31');
    await usage(/--days must be a whole number/, 'alarms', 'list', '--days', 'week');
    await usage(/the subscription id is required/, 'alarms', 'subs', 'disable');
    await usage(/alarms: use list/, 'alarms', 'nothing');
    await usage(/Unknown option '--severity'/, 'alarms', 'list', '--severity', 'major');
    // what only the API knows: an unknown rule (its 400 and message)
    const rule = await cli('alarms', 'subs', 'create', '--name', 'bad-rule', '--url', 'http://127.0.0.1:9/x', '--rules', 'dwsbox.nope');
    expect(rule.code).toBe(1);
    expect(rule.stderr).toMatch(/DWS\.0001: .*alarm_detail/);
    expect(await subs()).toBe(before);
  });
});

describe('dwsbox clusters audit', () => {
  it("--json is the API's answer, the table its rows (a refusal with its error); --limit", async () => {
    const tag = await h.sdkCall('POST', p(`/v1.0/{project_id}/clusters/${c.id}/tags/batch-create`), {
      data: { tags: [{ key: 'cli', value: 'audit' }] },
    });
    expect(tag.statusCode, tag.body).toBe(200);
    await new Promise((r) => setTimeout(r, 10)); // the trail's order is the calls' start times: two apart
    const refused = await h.sdkCall('PUT', p(`/v1/{project_id}/clusters/${c.id}/cluster-name`), { data: { cluster_name: '9 not a name' } });
    expect(refused.statusCode, refused.body).toBe(400);
    // the records are written after the answers: wait for both
    const path = `/v1.0/{project_id}/clusters/${c.id}/audit-log-records`;
    const deadline = Date.now() + 10_000;
    let want = await api<AuditLog>(path);
    while (want.count < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      want = await api<AuditLog>(path);
    }
    expect(want.records.map((r) => `${r.method} ${r.status_code}`)).toEqual(['PUT 400', 'POST 200']);

    expect(await okJson<AuditLog>('clusters', 'audit', c.id)).toEqual(want);
    const lines = rowsOf(await ok('clusters', 'audit', c.id));
    expect(lines[0]).toMatch(/^TIME \(UTC\)\s+OPERATOR\s+METHOD\s+OPERATION\s+STATUS\s+RESULT$/);
    expect(lines).toHaveLength(3);
    want.records.forEach((r, i) => {
      const result = r.failed_reason ? `${r.result}: ${r.failed_reason}` : r.result;
      expect(lines[i + 1]).toMatch(row([utc(r.executor_time), r.operator, r.method, r.operation, String(r.status_code), result]));
    });
    expect(lines[1]).toMatch(
      new RegExp(`\\s${esc(ACCESS_KEY)}\\s+PUT\\s+/v1/:project_id/clusters/:cluster_id/cluster-name\\s+400\\s+FAILED: DWS\\.\\d{4}: `),
    );
    expect(lines[2]).toMatch(/\sPOST\s+\/v1\.0\/:project_id\/clusters\/:cluster_id\/tags\/batch-create\s+200\s+SUCCESS$/);

    const newest = await api<AuditLog>(path, { limit: '1' });
    expect(newest.records).toHaveLength(1);
    expect(await okJson<AuditLog>('clusters', 'audit', c.id, '--limit', '1')).toEqual(newest);
    const one = rowsOf(await ok('clusters', 'audit', c.id, '--limit', '1'));
    expect(one).toHaveLength(3);
    expect(one[2]).toBe('(the newest 1 of 2; --limit N, up to 1000, shows more)');
  });

  it("bad input: the cluster id required, --limit a number, an unknown cluster the API's 404", async () => {
    const none = await cli('clusters', 'audit');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/the cluster id is required/);
    const limit = await cli('clusters', 'audit', c.id, '--limit', 'ten');
    expect(limit.code).toBe(2);
    expect(limit.stderr).toMatch(/--limit must be a whole number/);
    const zero = await cli('clusters', 'audit', c.id, '--limit', '0');
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--limit must be 1 to 1000/);
    const unknown = await cli('clusters', 'audit', randomUUID());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/DWS\.\d{4}/);
  });
});
