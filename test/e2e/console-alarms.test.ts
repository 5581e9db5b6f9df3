/**
 * The console's project pages of issue 17 in a real browser (Debian's Chromium through
 * playwright-core, as test/e2e/console-events.test.ts), without PostgreSQL: two cluster records,
 * events and alarms written straight into the store, then
 *
 * - the events page shows what ListEvents answers to the request it made (same events, same
 *   order, time, severity, category, cluster, name, message), each filter (range, severity,
 *   category, cluster) and page changing that request as it should;
 * - the alarms page shows what ListAlarmDetail answers for its range, filtered by status and
 *   level and paged by the page; its statistic strip is ListAlarmStatistic's, its rules
 *   ListAlarmConfigs'.
 *
 * The metrics collector would clear the alarms of clusters without members: it collects once
 * a second after the start, then every 10 minutes here, and the alarms are written after that
 * first collection. Screenshots: test-results/console/events-page.png, alarms-page.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Page } from 'playwright-core';
import { p, PROJECT_ID, startApiService, type ApiHarness } from '../helpers/api.js';
import { prepareConsole, openBrowser, signIn, type ConsoleBrowser } from '../helpers/console-browser.js';
import { makeCluster } from '../helpers/records.js';
import type { AlarmLevel } from '../../src/domain/alarms.js';
import type { EventSeverity } from '../../src/store/store.js';
import { formatThreshold } from '../../console/src/feeds.js';
import { formatEventTime } from '../../console/src/model.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = join(ROOT, 'test-results', 'console');
const USER = 'alarms-viewer';
const PASSWORD = 'Alarms-Pass-123';
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

let h: ApiHarness;
let endpoint = '';
let page: Page;
let browser: ConsoleBrowser | null = null;
const alpha = makeCluster({ projectId: PROJECT_ID, name: 'alpha-events', port: 8101 });
const beta = makeCluster({ projectId: PROJECT_ID, name: 'beta-events', port: 8102 });

interface WireEvent {
  event_id: string;
  name: string;
  display_name: string;
  category: string;
  severity: string;
  description: string;
  source_id: string;
  source_name: string;
  occur_time: number;
}
interface WireAlarm {
  id: string;
  alarm_id: string;
  alarm_level: string;
  alarm_status: string;
  alarm_message: string;
  raised_at: number;
  cleared_at: number | null;
}

async function until(test: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function event(o: { cluster: string; kind: string; severity: EventSeverity; message: string; ago: number }): Promise<void> {
  const ok = await h.svc.store.recordEvent({
    id: randomUUID(),
    projectId: PROJECT_ID,
    clusterId: o.cluster,
    kind: o.kind,
    severity: o.severity,
    message: o.message,
    subject: null,
    sourceKey: `console-alarms-test:${randomUUID()}`,
    occurredAt: Date.now() - o.ago,
  });
  expect(ok).toBe(true);
}

async function alarm(o: {
  cluster: string;
  ordinal: number;
  rule: string;
  level: AlarmLevel;
  ago: number;
  clearedAgo?: number;
}): Promise<void> {
  const id = randomUUID();
  const raisedAt = Date.now() - o.ago;
  const message = `${o.rule} on node${o.ordinal} (${id.slice(0, 8)})`;
  expect(
    await h.svc.store.raiseAlarm({
      id,
      projectId: PROJECT_ID,
      clusterId: o.cluster,
      ordinal: o.ordinal,
      ruleId: o.rule,
      level: o.level,
      message,
      raisedAt,
      clearedAt: null,
    }),
  ).toBe(true);
  if (o.clearedAgo !== undefined) expect(await h.svc.store.clearAlarm(id, Date.now() - o.clearedAgo)).toBe(true);
}

beforeAll(async () => {
  prepareConsole();
  mkdirSync(SHOTS, { recursive: true });
  h = await startApiService({ flags: { metricsCollectIntervalMs: 10 * MIN } });
  const addr = h.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no TCP port');
  endpoint = `http://127.0.0.1:${addr.port}`;
  await h.auth.createUser(PROJECT_ID, USER, PASSWORD, 'readonly');
  await h.svc.store.insertCluster(alpha);
  await h.svc.store.insertCluster(beta);
  // the collector's first collection (a second after the start) is over before the alarms are written
  await new Promise((r) => setTimeout(r, 3000));

  // Events: 25 task events within the hour, alternating clusters; monitor events 3 h ago;
  // alarm events 2 days ago; one 10 days ago; one 40 days ago (outside every range).
  const taskKinds: [string, EventSeverity][] = [
    ['task_started', 'normal'],
    ['task_succeeded', 'normal'],
    ['task_failed', 'warning'],
  ];
  for (let i = 0; i < 25; i++) {
    const [kind, severity] = taskKinds[i % 3]!;
    await event({ cluster: i % 2 ? beta.id : alpha.id, kind, severity, message: `task event ${i}`, ago: (50 - i) * MIN });
  }
  await event({ cluster: alpha.id, kind: 'member_down', severity: 'warning', message: 'node2 is down', ago: 3 * HOUR });
  await event({ cluster: alpha.id, kind: 'member_down', severity: 'major', message: 'node1 is down', ago: 3 * HOUR + MIN });
  await event({ cluster: beta.id, kind: 'failover', severity: 'major', message: 'node2 leads now', ago: 3 * HOUR + 2 * MIN });
  await event({ cluster: beta.id, kind: 'alarm_raised', severity: 'major', message: 'disk usage high on node1', ago: 2 * DAY });
  await event({ cluster: beta.id, kind: 'alarm_cleared', severity: 'normal', message: 'disk usage back', ago: 2 * DAY - HOUR });
  await event({ cluster: alpha.id, kind: 'switchover', severity: 'normal', message: 'planned switchover', ago: 10 * DAY });
  await event({ cluster: alpha.id, kind: 'switchover', severity: 'normal', message: 'too old to show', ago: 40 * DAY });

  // Alarms: four of the last day, two more of the week, 22 cleared prompts of 6 days ago, one of 12 days ago.
  await alarm({ cluster: alpha.id, ordinal: 1, rule: 'dwsbox.member_down', level: 'urgent', ago: 10 * MIN });
  await alarm({ cluster: beta.id, ordinal: 1, rule: 'dwsbox.disk_usage', level: 'important', ago: 2 * HOUR, clearedAgo: HOUR });
  await alarm({ cluster: alpha.id, ordinal: 2, rule: 'dwsbox.cpu_usage', level: 'minor', ago: 5 * HOUR });
  await alarm({ cluster: beta.id, ordinal: 2, rule: 'dwsbox.long_query', level: 'prompt', ago: 20 * HOUR, clearedAgo: 19 * HOUR });
  await alarm({ cluster: alpha.id, ordinal: 3, rule: 'dwsbox.replication_lag_bytes', level: 'important', ago: 3 * DAY });
  await alarm({ cluster: beta.id, ordinal: 3, rule: 'dwsbox.memory_usage', level: 'minor', ago: 5 * DAY, clearedAgo: 4 * DAY });
  for (let i = 1; i <= 22; i++)
    await alarm({ cluster: beta.id, ordinal: i, rule: 'dwsbox.long_query', level: 'prompt', ago: 6 * DAY + i * MIN, clearedAgo: 6 * DAY });
  await alarm({ cluster: alpha.id, ordinal: 1, rule: 'dwsbox.archive_failing', level: 'urgent', ago: 12 * DAY, clearedAgo: 11 * DAY });

  browser = await openBrowser();
  page = browser.page;
  await signIn(page, endpoint, { user: USER, password: PASSWORD, projectId: PROJECT_ID });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

// ------------------------------------------------------------------ events

interface EventsShown {
  path: string;
  rows: { id: string; severity: string; category: string; cluster: string; cells: string[] }[];
  prev: boolean;
  next: boolean;
}

async function eventsShown(): Promise<EventsShown> {
  return page.locator('body').evaluate((body) => {
    const table = body.querySelector('[data-testid=project-events-table]');
    const empty = body.querySelector('[data-testid=no-events]');
    const rows = [...(table?.querySelectorAll('tbody tr') ?? [])].map((r) => ({
      id: r.getAttribute('data-event-id') ?? '',
      severity: r.getAttribute('data-severity') ?? '',
      category: r.getAttribute('data-category') ?? '',
      cluster: r.getAttribute('data-cluster-id') ?? '',
      cells: [...r.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim()),
    }));
    const button = (id: string): boolean => body.querySelector(`[data-testid=${id}]`)?.hasAttribute('disabled') === false;
    return {
      path: (table ?? empty)?.getAttribute('data-path') ?? '',
      rows,
      prev: button('pager-prev'),
      next: button('pager-next'),
    };
  });
}

const eventCells = (e: WireEvent): string[] => [
  formatEventTime(e.occur_time),
  e.severity,
  e.category,
  e.source_name,
  e.display_name,
  e.description,
];

/**
 * Waits until the page's request satisfies `want` and its rows are what ListEvents answers to
 * that request (ids, order, every cell); returns the request's query and the answer.
 */
async function eventsAgree(
  want: (q: URLSearchParams) => boolean,
  what: string,
): Promise<{ q: URLSearchParams; events: WireEvent[]; count: number }> {
  let last: { q: URLSearchParams; events: WireEvent[]; count: number } | null = null;
  let seen: EventsShown | null = null;
  try {
    await until(async () => {
      seen = await eventsShown();
      if (!seen.path) return false;
      const q = new URLSearchParams(seen.path.split('?')[1] ?? '');
      if (!want(q)) return false;
      const r = await h.call('GET', p(seen.path));
      expect(r.statusCode, r.body).toBe(200);
      const body = r.json<{ events: WireEvent[]; count: number }>();
      last = { q, ...body };
      const info = await page.locator('[data-testid=pager-info]').getAttribute('data-count');
      return (
        info === String(body.count) &&
        seen.rows.length === body.events.length &&
        seen.rows.every((row, i) => {
          const e = body.events[i]!;
          return (
            row.id === e.event_id &&
            row.severity === e.severity &&
            row.category === e.category &&
            row.cluster === e.source_id &&
            row.cells.join('|') === eventCells(e).join('|')
          );
        })
      );
    }, what);
  } catch (e) {
    throw new Error(`${(e as Error).message}\nshown: ${JSON.stringify(seen)}\nanswer: ${JSON.stringify(last)}`, { cause: e });
  }
  return last!;
}

const near = (q: URLSearchParams, ago: number): boolean => Math.abs(Number(q.get('start_time')) - (Date.now() - ago)) < 2 * MIN;

describe("the console's events page", () => {
  it('is linked from the top navigation and shows ListEvents of the last 7 days, newest first, a page of 20', async () => {
    await page.click('[data-testid=nav-events]');
    await page.locator('[data-testid=events-page]').waitFor();
    const r = await eventsAgree((q) => near(q, 7 * DAY) && q.get('offset') === '0' && q.get('limit') === '20', 'the first page of 7 days');
    for (const k of ['severity', 'name', 'source_id']) expect(r.q.has(k)).toBe(false);
    // our 30 events of the week (the service may have recorded none of its own: no task ran)
    const ours = r.events.filter((e) => e.source_id === alpha.id || e.source_id === beta.id);
    expect(ours).toHaveLength(20);
    expect(r.count).toBeGreaterThanOrEqual(30);
    const times = r.events.map((e) => e.occur_time);
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(r.events[0]!.description).toBe('task event 24');
    const shown = await eventsShown();
    expect(shown.prev).toBe(false);
    expect(shown.next).toBe(true);
    // a row as a person reads it
    const first = shown.rows[0]!;
    expect(first.cells.slice(1, 5)).toEqual(['normal', 'management', 'alpha-events', 'Task started']);
    expect(await page.locator('[data-testid=project-events-table] tbody tr').first().locator('.badge').getAttribute('class')).toContain(
      'badge-ok',
    );
    await page.screenshot({ path: join(SHOTS, 'events-page.png'), fullPage: true });
  });

  it('pages with next and previous: offset counts events', async () => {
    await page.click('[data-testid=pager-next]');
    const second = await eventsAgree((q) => q.get('offset') === '20' && near(q, 7 * DAY), 'the second page');
    expect(second.events.length).toBe(second.count - 20);
    expect((await eventsShown()).prev).toBe(true);
    expect((await eventsShown()).next).toBe(second.count > 40);
    await page.click('[data-testid=pager-prev]');
    await eventsAgree((q) => q.get('offset') === '0', 'back to the first page');
  });

  it('asks for the chosen time range (start_time) and starts again at the first page', async () => {
    await page.click('[data-testid=pager-next]');
    await eventsAgree((q) => q.get('offset') === '20', 'the second page');
    await page.click('[data-testid=event-range] [data-range="1h"]');
    const hour = await eventsAgree((q) => near(q, HOUR) && q.get('offset') === '0', 'the last hour');
    expect(hour.events.every((e) => e.occur_time >= Date.now() - HOUR - MIN)).toBe(true);
    expect(hour.events.filter((e) => e.description.startsWith('task event'))).toHaveLength(20);
    expect(hour.count).toBe(25);
    await page.click('[data-testid=event-range] [data-range="30d"]');
    const month = await eventsAgree((q) => near(q, 30 * DAY), 'the last 30 days');
    expect(month.count).toBe(31);
    await page.click('[data-testid=event-range] [data-range="1d"]');
    const day = await eventsAgree((q) => near(q, DAY), 'the last day');
    expect(day.count).toBe(28);
  });

  it('asks for the chosen severity', async () => {
    await page.selectOption('#f-event-severity', 'major');
    const major = await eventsAgree((q) => q.get('severity') === 'major' && near(q, DAY), 'major events of the day');
    expect(major.events.map((e) => e.description)).toEqual(['node1 is down', 'node2 leads now']);
    expect((await eventsShown()).rows.every((r) => r.severity === 'major')).toBe(true);
    await page.selectOption('#f-event-severity', 'warning');
    const warning = await eventsAgree((q) => q.get('severity') === 'warning', 'warning events of the day');
    expect(warning.count).toBe(9); // 8 failed tasks and a standby down
    await page.selectOption('#f-event-severity', '');
    await eventsAgree((q) => !q.has('severity'), 'every severity');
  });

  it("asks for a category's kinds (ListEvents filters kinds, not categories)", async () => {
    await page.selectOption('#f-event-category', 'monitor');
    const monitor = await eventsAgree((q) => (q.get('name') ?? '').split(',').includes('member_down') && near(q, DAY), 'monitor events');
    expect(monitor.q.get('name')!.split(',')).not.toContain('task_started');
    expect(monitor.events.map((e) => e.description)).toEqual(['node2 is down', 'node1 is down', 'node2 leads now']);
    expect((await eventsShown()).rows.every((r) => r.category === 'monitor')).toBe(true);
    await page.click('[data-testid=event-range] [data-range="7d"]');
    await page.selectOption('#f-event-category', 'system alarm');
    const alarms = await eventsAgree((q) => q.get('name') === 'alarm_raised,alarm_cleared' && near(q, 7 * DAY), 'system alarm events');
    expect(alarms.events.map((e) => e.name)).toEqual(['alarm_cleared', 'alarm_raised']);
    await page.selectOption('#f-event-category', 'management');
    const tasks = await eventsAgree((q) => (q.get('name') ?? '').startsWith('task_'), 'management events');
    expect(tasks.count).toBe(25);
    expect((await eventsShown()).rows.every((r) => r.category === 'management')).toBe(true);
    await page.selectOption('#f-event-category', '');
    await eventsAgree((q) => !q.has('name'), 'every category');
  });

  it("asks for the chosen cluster's events (source_id)", async () => {
    await page.locator(`#f-event-cluster option[value="${beta.id}"]`).waitFor({ state: 'attached' });
    await page.selectOption('#f-event-cluster', beta.id);
    const b = await eventsAgree((q) => q.get('source_id') === beta.id && near(q, 7 * DAY), "beta's events");
    expect(b.count).toBe(15); // 12 task events, a failover, two alarm events
    const rows = (await eventsShown()).rows;
    expect(rows.every((r) => r.cluster === beta.id && r.cells[3] === 'beta-events')).toBe(true);
    // filters combine
    await page.selectOption('#f-event-severity', 'major');
    const both = await eventsAgree((q) => q.get('source_id') === beta.id && q.get('severity') === 'major', "beta's major events");
    expect(both.events.map((e) => e.description)).toEqual(['node2 leads now', 'disk usage high on node1']);
    await page.selectOption('#f-event-severity', '');
    await page.selectOption('#f-event-cluster', '');
    await eventsAgree((q) => !q.has('source_id') && !q.has('severity'), 'every cluster');
  });
});

// ------------------------------------------------------------------ alarms

interface AlarmsShown {
  days: string;
  count: string;
  shown: string;
  rows: { id: string; level: string; status: string; cells: string[] }[];
  prev: boolean;
  next: boolean;
}

async function alarmsShown(): Promise<AlarmsShown> {
  return page.locator('body').evaluate((body) => {
    const table = body.querySelector('[data-testid=alarms-table]');
    const hint = body.querySelector('[data-testid=alarms-shown]');
    const button = (id: string): boolean => body.querySelector(`[data-testid=${id}]`)?.hasAttribute('disabled') === false;
    return {
      days: table?.getAttribute('data-days') ?? '',
      count: hint?.getAttribute('data-count') ?? '',
      shown: hint?.getAttribute('data-shown') ?? '',
      rows: [...(table?.querySelectorAll('tbody tr') ?? [])].map((r) => ({
        id: r.getAttribute('data-alarm-id') ?? '',
        level: r.getAttribute('data-level') ?? '',
        status: r.getAttribute('data-status') ?? '',
        cells: [...r.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim()),
      })),
      prev: button('pager-prev'),
      next: button('pager-next'),
    };
  });
}

/**
 * Waits until the page shows page `pageNo` of what ListAlarmDetail answers for the last `days`
 * days, kept by `keep` (the page's status and level filters); returns the answer and the kept.
 */
async function alarmsAgree(
  days: number,
  keep: (a: WireAlarm) => boolean,
  pageNo: number,
  what: string,
): Promise<{ count: number; all: WireAlarm[]; kept: WireAlarm[] }> {
  let last: { count: number; all: WireAlarm[]; kept: WireAlarm[] } | null = null;
  let seen: AlarmsShown | null = null;
  try {
    await until(async () => {
      seen = await alarmsShown();
      const r = await h.call('GET', p(`/v2/{project_id}/alarms?recent_day=${days}&offset=0&limit=1000`));
      expect(r.statusCode, r.body).toBe(200);
      const body = r.json<{ count: number; alarm_details: WireAlarm[] }>();
      const kept = body.alarm_details.filter(keep);
      last = { count: body.count, all: body.alarm_details, kept };
      const want = kept.slice(pageNo * 20, pageNo * 20 + 20);
      return (
        seen.days === String(days) &&
        seen.count === String(body.count) &&
        seen.shown === String(kept.length) &&
        seen.rows.length === want.length &&
        seen.rows.every((row, i) => {
          const a = want[i]!;
          return (
            row.id === a.id &&
            row.level === a.alarm_level &&
            row.status === a.alarm_status &&
            row.cells[0] === formatEventTime(a.raised_at) &&
            row.cells[1] === a.alarm_level &&
            row.cells[2] === a.alarm_status &&
            row.cells[3]!.endsWith(a.alarm_id) &&
            row.cells[5] === a.alarm_message &&
            row.cells[6] === (a.cleared_at === null ? '—' : formatEventTime(a.cleared_at))
          );
        })
      );
    }, what);
  } catch (e) {
    throw new Error(`${(e as Error).message}\nshown: ${JSON.stringify(seen)}\nanswer: ${JSON.stringify(last)}`, { cause: e });
  }
  return last!;
}

const all = (): boolean => true;

describe("the console's alarms page", () => {
  it('is linked from the top navigation and shows the alarms of the last 7 days, newest first, 20 a page', async () => {
    await page.click('[data-testid=nav-alarms]');
    await page.locator('[data-testid=alarms-page]').waitFor();
    const week = await alarmsAgree(7, all, 0, 'the first page of 7 days');
    expect(week.count).toBe(28);
    const times = week.all.map((a) => a.raised_at);
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect((await alarmsShown()).next).toBe(true);
    const row = (await alarmsShown()).rows[0]!;
    expect(row.cells[3]).toBe('Member downdwsbox.member_down');
    expect(row.cells[4]).toBe('alpha-events · node1');
    expect(await page.locator('[data-testid=alarms-table] tbody tr').first().locator('.badge').first().getAttribute('class')).toContain(
      'badge-bad',
    );
    await page.click('[data-testid=pager-next]');
    await alarmsAgree(7, all, 1, 'the second page');
    expect((await alarmsShown()).prev).toBe(true);
    expect((await alarmsShown()).next).toBe(false);
    await page.click('[data-testid=pager-prev]');
    await alarmsAgree(7, all, 0, 'back to the first page');
  });

  it("shows ListAlarmStatistic's counts, a row per level and a column per day", async () => {
    const r = await h.call('GET', p('/v2/{project_id}/alarm-statistic'));
    const stats = r.json<{ alarm_statistics: Record<string, string>[] }>().alarm_statistics;
    expect(stats).toHaveLength(7);
    const cells = await page.locator('[data-testid=alarm-statistic] tbody tr').evaluateAll((rows) =>
      rows.map((tr) => ({
        level: tr.getAttribute('data-level') ?? '',
        days: [...tr.querySelectorAll('td[data-date]')].map((td) => ({
          date: td.getAttribute('data-date') ?? '',
          n: (td.textContent ?? '').trim(),
        })),
      })),
    );
    expect(cells.map((c) => c.level)).toEqual(['urgent', 'important', 'minor', 'prompt', 'total']);
    for (const c of cells) {
      expect(c.days.map((d) => d.date)).toEqual(stats.map((s) => s.date));
      const want = stats.map((s) =>
        c.level === 'total' ? String(['urgent', 'important', 'minor', 'prompt'].reduce((n, l) => n + Number(s[l]), 0)) : s[c.level]!,
      );
      expect(c.days.map((d) => d.n)).toEqual(want);
    }
    // whatever the hour: at least the alarms of the last 5 days are in the strip's 7 calendar days
    const total = cells.find((c) => c.level === 'total')!.days.reduce((n, d) => n + Number(d.n), 0);
    expect(total).toBeGreaterThanOrEqual(6);
  });

  it('filters by status and level on the page (ListAlarmDetail filters neither)', async () => {
    await page.selectOption('#f-alarm-status', 'active');
    const active = await alarmsAgree(7, (a) => a.alarm_status === 'active', 0, 'active alarms');
    expect(active.kept.map((a) => a.alarm_id)).toEqual(['dwsbox.member_down', 'dwsbox.cpu_usage', 'dwsbox.replication_lag_bytes']);
    expect((await alarmsShown()).next).toBe(false);
    await page.selectOption('#f-alarm-status', 'cleared');
    await page.selectOption('#f-alarm-level', 'prompt');
    const prompts = await alarmsAgree(7, (a) => a.alarm_status === 'cleared' && a.alarm_level === 'prompt', 0, 'cleared prompts');
    expect(prompts.kept).toHaveLength(23);
    await page.click('[data-testid=pager-next]');
    await alarmsAgree(7, (a) => a.alarm_status === 'cleared' && a.alarm_level === 'prompt', 1, 'cleared prompts, page 2');
    await page.selectOption('#f-alarm-level', 'important');
    const important = await alarmsAgree(7, (a) => a.alarm_status === 'cleared' && a.alarm_level === 'important', 0, 'cleared important');
    expect(important.kept.map((a) => a.alarm_id)).toEqual(['dwsbox.disk_usage']);
    await page.selectOption('#f-alarm-status', 'all');
    await page.selectOption('#f-alarm-level', '');
    await alarmsAgree(7, all, 0, 'every alarm again');
  });

  it('asks for the chosen range (recent_day)', async () => {
    await page.selectOption('#f-alarm-days', '1');
    const day = await alarmsAgree(1, all, 0, 'the last day');
    expect(day.kept.map((a) => a.alarm_id)).toEqual(['dwsbox.member_down', 'dwsbox.disk_usage', 'dwsbox.cpu_usage', 'dwsbox.long_query']);
    await page.selectOption('#f-alarm-days', '30');
    const month = await alarmsAgree(30, all, 0, 'the last 30 days');
    expect(month.count).toBe(29);
    await page.selectOption('#f-alarm-days', '7');
    await alarmsAgree(7, all, 0, 'the last 7 days');
  });

  it('lists the alarm rules of ListAlarmConfigs in a collapsed section', async () => {
    const r = await h.call('GET', p('/v2/{project_id}/alarm-configs?offset=0&limit=1000'));
    const configs = r.json<{ alarm_configs: { alarm_id: string; threshold: number; unit: string }[] }>().alarm_configs;
    const rules = page.locator('[data-testid=alarm-rules]');
    expect(await rules.getAttribute('open')).toBeNull();
    expect(await page.locator('[data-testid=alarm-rules-table]').isVisible()).toBe(false);
    await rules.locator('summary').click();
    await page.locator('[data-testid=alarm-rules-table]').waitFor();
    const shown = await page
      .locator('[data-testid=alarm-rules-table] tbody tr')
      .evaluateAll((rows) =>
        rows.map((tr) => ({ id: tr.getAttribute('data-rule') ?? '', threshold: (tr.querySelectorAll('td')[3]?.textContent ?? '').trim() })),
      );
    expect(shown).toEqual(configs.map((c) => ({ id: c.alarm_id, threshold: formatThreshold(c.threshold, c.unit) })));
    await page.screenshot({ path: join(SHOTS, 'alarms-page.png'), fullPage: true });
  });

  it('speaks Chinese when asked', async () => {
    await page.click('[data-lang=zh]');
    await until(
      async () => (await page.locator('[data-testid=alarms-page] h1').textContent())?.startsWith('告警') ?? false,
      'Chinese title',
    );
    expect(await page.locator('[data-testid=nav-events]').textContent()).toBe('事件');
    // the same alarms, fetched again in the new language (labels differ: compared by id)
    const r = await h.call('GET', p('/v2/{project_id}/alarms?recent_day=7&offset=0&limit=20'));
    const want = r.json<{ alarm_details: WireAlarm[] }>().alarm_details.map((a) => a.id);
    const rowIds = (): Promise<(string | null)[]> =>
      page.locator('[data-testid=alarms-table] tbody tr').evaluateAll((rows) => rows.map((x) => x.getAttribute('data-alarm-id')));
    await until(async () => JSON.stringify(await rowIds()) === JSON.stringify(want), 'the same alarms in Chinese');
    expect(await page.locator('[data-testid=alarms-table] tbody tr').first().locator('.badge').first().textContent()).toBe('紧急');
    await page.screenshot({ path: join(SHOTS, 'alarms-page-zh.png'), fullPage: false });
    await page.click('[data-lang=en]');
  });
});
