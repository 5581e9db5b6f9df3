/**
 * The console's monitoring tab (D29) in a real browser (Debian's Chromium through playwright-core,
 * as test/e2e/console.test.ts), against a real service collecting every second
 * (`metricsCollectIntervalMs`) from a real cluster under a small write load. What each uPlot chart
 * plots (`window.__dwsboxCharts[indicator].data`) is compared with what ListMonitorIndicatorData
 * answers for the same range (the chart's data-from, data-to): the same members, times and values.
 * The range picker sends the range it shows (from/to 1 h, 6 h, 1 d, 7 d apart); the page fetches
 * again while open; an indicator or a member without a point says "no data yet" (an answer
 * replaced in the browser), in English and Chinese. A snapshot taken on the way is on the backup
 * and restore throughput chart as the task-throughput API answers it, and that answer adds up to
 * the bytes pgBackRest reported. Screenshots: test-results/console/monitoring-*.png.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type Page, type Request } from 'playwright-core';
import { AuthService } from '../../src/auth/auth-service.js';
import { Secrets } from '../../src/auth/secrets.js';
import { systemClock } from '../../src/domain/clock.js';
import { writeEndpoint } from '../../src/domain/endpoints.js';
import { createLogger } from '../../src/log/logger.js';
import { prepareConsole, openBrowser, signIn, type ConsoleBrowser } from '../helpers/console-browser.js';
import {
  ADMIN_PASSWORD,
  PROJECT_ID,
  createAvailableCluster,
  newestTask,
  startService,
  takeSnapshot,
  type TestService,
} from '../helpers/service.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = join(ROOT, 'test-results', 'console');
const USER = 'monitoring-viewer';
const PASSWORD = 'Monitoring-Pass-123';
const HOUR = 3_600_000;
const RANGES = { '1h': HOUR, '6h': 6 * HOUR, '1d': 24 * HOUR, '7d': 7 * 24 * HOUR } as const;
const INDICATORS = [
  'instance.cpu_usage',
  'instance.mem_used',
  'instance.disk_used',
  'instance.connections',
  'instance.tps',
  'instance.replication_lag_bytes',
];

const THROUGHPUT = 'task.throughput';

interface MetricSeries {
  indicator_name: string;
  object_id: string;
  sub_object_id: string;
  unit: string;
  data_points: { timestamp: number; result: string }[];
}

/** What one chart of the page shows: its state, the range it asked for and, drawn, uPlot's own data. */
interface Shown {
  state: string;
  from: number;
  to: number;
  range: string;
  labels: string[];
  data: (number | null)[][];
}

let t: TestService;
let page: Page;
let browser: ConsoleBrowser | null = null;
let clusterId = '';
let connectInfo = '';
const metricRequests: { at: number; indicator: string; dim0: string; from: number; to: number; period: string | null }[] = [];

const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `monitoring-${name}.png`), fullPage: true });

interface StepLine {
  task_id: string;
  kind: string;
  action_type: string;
  step: string;
  step_name: string;
  data_points: { timestamp: number; bytes_per_second: number }[];
}

async function taskThroughput(from: number, to: number): Promise<StepLine[]> {
  return (
    await t.client.call<{ steps: StepLine[] }>('GET', `/dwsbox/v1/{project_id}/clusters/${clusterId}/task-throughput?from=${from}&to=${to}`)
  ).steps;
}

/** What the API answers for a chart: the indicator's series per member, or the task throughput's per step (named as the page names them). */
async function metricData(indicator: string, from: number, to: number): Promise<MetricSeries[]> {
  if (indicator === THROUGHPUT)
    return (await taskThroughput(from, to)).map((s) => ({
      indicator_name: THROUGHPUT,
      object_id: clusterId,
      sub_object_id: `${s.action_type} ${s.task_id.slice(0, 8)} · ${s.step_name}`,
      unit: 'B/s',
      data_points: s.data_points.map((p) => ({ timestamp: p.timestamp, result: String(p.bytes_per_second) })),
    }));
  const q = new URLSearchParams({ indicator_name: indicator, dim0: clusterId, from: String(from), to: String(to) });
  return t.client.call<MetricSeries[]>('GET', `/v1.0/{project_id}/dms/metric-data?${q.toString()}`);
}

/** A session of the cluster's admin on its write endpoint. */
async function withDb<T>(fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const i = connectInfo.lastIndexOf(':');
  const db = new pg.Client({
    host: connectInfo.slice(0, i),
    port: Number(connectInfo.slice(i + 1)),
    user: 'dbadmin',
    password: ADMIN_PASSWORD,
    database: 'postgres',
  });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

async function until<T>(fn: () => Promise<T | null | undefined | false>, what: string, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A chart's state, range and uPlot data, read at once in the page (a round sets its range and
 * data together); null while it has none yet. Page code as text: the test's TypeScript has no DOM types.
 */
async function shown(indicator: string): Promise<Shown | null> {
  return page.evaluate<Shown | null>(`(() => {
    const ind = ${JSON.stringify(indicator)};
    const el = document.querySelector('[data-indicator="' + ind + '"]');
    if (!el || !el.dataset.from) return null;
    const state = el.dataset.state;
    const u = (window.__dwsboxCharts || {})[ind];
    if (state === 'chart' && !u) return null;
    return {
      state,
      from: Number(el.dataset.from),
      to: Number(el.dataset.to),
      range: el.dataset.roundRange || '',
      labels: state === 'chart' ? u.series.slice(1).map((s) => String(s.label)) : [],
      data: state === 'chart' ? u.data.map((col) => Array.from(col)) : [[]],
    };
  })()`);
}

type Points = Record<string, [number, number][]>;
const canonical = (p: Points): string =>
  JSON.stringify(
    Object.keys(p)
      .sort()
      .map((k) => [k, p[k]]),
  );

/** Member → its [time, value] points: as the API answers them (members with points only)… */
function answered(items: MetricSeries[]): Points {
  const out: Points = {};
  for (const s of items) if (s.data_points.length) out[s.sub_object_id] = s.data_points.map((p) => [p.timestamp, Number(p.result)]);
  return out;
}

/** …and as uPlot holds them (a null is a member without a sample at that time). */
function drawn(p: Shown): Points {
  const xs = p.data[0]!;
  const out: Points = {};
  p.labels.forEach((label, i) => {
    const ys = p.data[i + 1]!;
    out[label] = xs.flatMap((x, j) => (ys[j] === null || ys[j] === undefined ? [] : [[x!, ys[j]!] as [number, number]]));
  });
  return out;
}

/**
 * Waits until a chart shows exactly what the API answers for the chart's own range: the same
 * members, times and values drawn, or "no data yet" for an answer without a point (the page
 * fetches every round; the API may gain a sample between its answer and ours, so a difference
 * is looked at again on the next round). Returns what was compared.
 */
async function chartMatchesApi(indicator: string, range: keyof typeof RANGES, since = 0): Promise<{ p: Shown; api: MetricSeries[] }> {
  let last = '';
  try {
    return await until(
      async () => {
        const p = await shown(indicator);
        if (!p || p.range !== range || p.to < since) {
          last = `no round of ${range} to ${since} yet (${JSON.stringify(p && { range: p.range, state: p.state, to: p.to })})`;
          return null;
        }
        const api = await metricData(indicator, p.from, p.to);
        const want = answered(api);
        if (Object.keys(want).length === 0) {
          last = `the API has no point; the chart is ${p.state}`;
          return p.state === 'empty' ? { p, api } : null;
        }
        const got = drawn(p);
        const xs = [...new Set(Object.values(want).flatMap((pts) => pts.map(([x]) => x)))].sort((a, b) => a - b);
        const same = p.state === 'chart' && canonical(got) === canonical(want) && JSON.stringify(p.data[0]) === JSON.stringify(xs);
        last = `${p.state}: plotted ${canonical(got)} x ${JSON.stringify(p.data[0])}; API ${canonical(want)}`;
        return same && p.to - p.from === RANGES[range] ? { p, api } : null;
      },
      `${indicator} over ${range} shown as the API answers`,
      30_000,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}: ${last}`, { cause: e });
  }
}

/** Picks a range and waits until the page asks for it, every indicator, and nothing else after. */
async function pickRange(range: keyof typeof RANGES): Promise<void> {
  const clicked = Date.now();
  await page.click(`[data-testid=range-picker] [data-range="${range}"]`);
  expect(await page.locator(`[data-testid=range-picker] [data-range="${range}"]`).getAttribute('aria-pressed')).toBe('true');
  await until(
    async () => {
      const sent = metricRequests.filter((r) => r.at >= clicked && r.to - r.from === RANGES[range]);
      return new Set(sent.map((r) => r.indicator)).size === INDICATORS.length;
    },
    `the page's requests over ${range}`,
    20_000,
  );
  // the old round stopped: after the click, only requests of this range (the cluster's, the API's choice of period)
  const since = metricRequests.filter((r) => r.at >= clicked + 1000);
  expect(since.every((r) => r.to - r.from === RANGES[range] && r.dim0 === clusterId && r.period === null)).toBe(true);
  expect(await page.locator('[data-testid=monitoring-rate]').textContent()).toContain(
    RANGES[range] <= 6 * HOUR ? 'raw samples' : '5-minute averages',
  );
}

beforeAll(async () => {
  prepareConsole();
  mkdirSync(SHOTS, { recursive: true });

  // A sample every second: points for the charts within seconds.
  t = await startService({ flags: { metricsCollectIntervalMs: 1000 } });
  const auth = new AuthService(
    t.svc.store,
    Secrets.load(t.config.masterKey, join(t.dataDir, 'master.key')),
    systemClock,
    createLogger({ level: 'warn' }),
  );
  await auth.createUser(PROJECT_ID, USER, PASSWORD, 'readonly');
  const c = await createAvailableCluster(t.client, { name: 'monitored' });
  clusterId = c.id;
  connectInfo = writeEndpoint(c.detail)!;

  browser = await openBrowser();
  page = browser.page;
  page.on('request', (r: Request) => {
    const u = new URL(r.url());
    if (u.pathname !== `/v1.0/${PROJECT_ID}/dms/metric-data`) return;
    const q = u.searchParams;
    metricRequests.push({
      at: Date.now(),
      indicator: q.get('indicator_name') ?? '',
      dim0: q.get('dim0') ?? '',
      from: Number(q.get('from')),
      to: Number(q.get('to')),
      period: q.get('period'),
    });
  });
});

afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

describe("the console's monitoring tab", () => {
  // Each step builds on the one before: after a failure, the rest is skipped.
  let broken = false;
  beforeEach((ctx) => {
    if (broken) ctx.skip();
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') broken = true;
  });

  it('has samples of a cluster under a small write load', async () => {
    await withDb(async (db) => {
      await db.query('create table monitored_load (id serial primary key, payload text)');
      // A few hundred single-row transactions spread over a few seconds: several samples of TPS see them.
      for (let n = 0; n < 400; n++) {
        await db.query('insert into monitored_load (payload) values ($1)', [`row ${n}`]);
        if (n % 20 === 0) await new Promise((r) => setTimeout(r, 100));
      }
    });
    const points = await until(
      async () => {
        const now = Date.now();
        const items = await metricData('instance.tps', now - HOUR, now);
        const most = Math.max(0, ...items.map((s) => s.data_points.length));
        return most >= 3 ? most : null;
      },
      'three TPS samples of a member',
      60_000,
    );
    expect(points).toBeGreaterThanOrEqual(3);
  });

  it('plots, one line per member, what the API answers over the last hour, and fetches again while open', async () => {
    await signIn(page, t.endpoint, { user: USER, password: PASSWORD, projectId: PROJECT_ID });
    await page.goto(`${t.endpoint}/console/clusters/${clusterId}`);
    await page.click('[data-testid=tab-monitoring]');
    expect(new URL(page.url()).pathname).toBe(`/console/clusters/${clusterId}/monitoring`);
    await page.locator('[data-testid=cluster-monitoring]').waitFor();
    expect(await page.locator('[data-testid=tab-monitoring]').getAttribute('aria-current')).toBe('page');
    expect(await page.locator('[data-testid=range-picker] [data-range="1h"]').getAttribute('aria-pressed')).toBe('true');
    await page.locator('[data-testid=chart-tps][data-state=chart]').waitFor();

    for (const ind of INDICATORS) {
      const { p, api } = await chartMatchesApi(ind, '1h');
      // one line per member, named by sub_object_id; a member without a point is named, not drawn
      const withPoints = api.filter((s) => s.data_points.length).map((s) => s.sub_object_id);
      expect([...p.labels].sort()).toEqual([...withPoints].sort());
      expect(p.labels.every((l) => /^node\d+$/.test(l))).toBe(true);
      const without = api.filter((s) => !s.data_points.length).map((s) => s.sub_object_id);
      const chart = page.locator(`[data-indicator="${ind}"]`);
      if (p.state === 'empty') expect(await chart.locator('[data-testid=no-data]').textContent()).toBe('no data yet');
      else if (without.length)
        expect(await chart.locator('[data-testid=no-data-members]').textContent()).toBe(`no data yet: ${without.join(', ')}`);
    }
    // every chart but replication lag (standbys only) has a line for every member; TPS has the write load
    for (const ind of INDICATORS.filter((i) => i !== 'instance.replication_lag_bytes'))
      expect((await shown(ind))!.labels, ind).toEqual(['node1', 'node2', 'node3']);
    // TPS: the write load is on the chart, from one member at least (its next round at the latest:
    // once, under CI's load, the first round drew two points of a member the API had given three before)
    const pointsOf = (c: NonNullable<Awaited<ReturnType<typeof shown>>>): number =>
      Math.max(...c.data.slice(1).map((ys) => ys.filter((y) => y !== null).length));
    await until(async () => pointsOf((await shown('instance.tps'))!) >= 3, 'three TPS points of a member on the chart', 30_000);
    const tps = (await shown('instance.tps'))!;

    // every request of the page: the cluster, a range of 1 h, the API's own choice of period
    const first = metricRequests.filter((r) => r.to - r.from === RANGES['1h']);
    expect(new Set(first.map((r) => r.indicator))).toEqual(new Set(INDICATORS));
    expect(first.every((r) => r.dim0 === clusterId && r.period === null)).toBe(true);

    // live: a next round comes with a later end, and plots what the API answers for it
    const before = tps.to;
    const rate = await page.locator('[data-testid=monitoring-rate]').textContent();
    const every = Number(/(\d+(?:\.\d+)?) s/.exec(rate ?? '')?.[1]);
    expect(every).toBeGreaterThanOrEqual(1);
    expect(every).toBeLessThanOrEqual(15);
    await until(async () => ((await shown('instance.tps'))?.to ?? 0) > before, 'a next round of the page', every * 1000 + 10_000);
    await chartMatchesApi('instance.tps', '1h');
    // the cluster's events of the shown range under the charts (its create's start and end at least), oldest first, as ListEvents has them
    await until(
      async () => {
        const seen = await page.evaluate<{ from: number; to: number; ids: string[] }>(`(() => {
          const chart = document.querySelector('[data-testid=chart-tps]');
          const ids = [...document.querySelectorAll('[data-testid=timeline] li')].map((li) => li.getAttribute('data-event-id'));
          return { from: Number(chart && chart.dataset.from), to: Number(chart && chart.dataset.to), ids };
        })()`);
        const api = await t.client.call<{ events: { event_id: string; name: string; occur_time: number }[] }>(
          'GET',
          `/v2/{project_id}/events?source_id=${clusterId}&start_time=${seen.from}&end_time=${seen.to}&limit=200`,
        );
        const want = [...api.events].sort((a, b) => a.occur_time - b.occur_time);
        return want.some((e) => e.name === 'task_succeeded') && JSON.stringify(seen.ids) === JSON.stringify(want.map((e) => e.event_id));
      },
      "the timeline shows the range's events as ListEvents answers them",
      20_000,
    );
    await page.mouse.move(0, 0);
    await shot('1h');
  });

  it("plots a snapshot's backup throughput, a line per task step, as the task-throughput API answers it", async () => {
    // about 35 MB more data: pgBackRest reports its files over a second or more
    await withDb((db) => db.query('create table bulk as select g, repeat(md5(g::text), 32) as payload from generate_series(1, 30000) g'));
    expect((await takeSnapshot(t.client, clusterId, 'throughput-shot')).status).toBe('AVAILABLE');
    const task = (await newestTask(t.client, clusterId, 'snapshot.create'))!;
    const step = (await t.svc.store.getStep(task.id, 'BACKUP'))!;
    const now = Date.now();
    const line = (await taskThroughput(now - HOUR, now)).find((s) => s.task_id === task.id && s.step === 'BACKUP');
    expect(line, "the snapshot's BACKUP step has a line").toBeDefined();
    expect([line!.kind, line!.action_type]).toEqual(['snapshot.create', 'Backup']);
    expect(line!.data_points.length).toBeGreaterThanOrEqual(1);
    // Each point: a positive rate while the step ran, ending at one of pgBackRest's reports; together
    // they add up to the bytes pgBackRest counted from its first report of the step to its last.
    const bySource = new Map<string, { at: number; bytes: number }[]>();
    for (const x of await t.svc.store.listSamples(task.id, 'BACKUP'))
      if (x.bytesDone !== null) bySource.set(x.source, [...(bySource.get(x.source) ?? []), { at: x.at, bytes: x.bytesDone }]);
    const reports = [...bySource.values()].reduce((a, b) => (b.length > a.length ? b : a)).sort((a, b) => a.at - b.at);
    let added = 0;
    for (const p of line!.data_points) {
      expect(p.timestamp).toBeGreaterThanOrEqual(step.beginAt!);
      expect(p.timestamp).toBeLessThanOrEqual(step.endAt!);
      expect(p.bytes_per_second).toBeGreaterThanOrEqual(0);
      const i = reports.findIndex((r) => r.at === p.timestamp);
      expect(i, `a report of pgBackRest at ${p.timestamp}`).toBeGreaterThan(0);
      const before = reports.slice(0, i).findLast((r) => r.at < p.timestamp)!;
      added += (p.bytes_per_second * (p.timestamp - before.at)) / 1000;
    }
    const counted = reports.at(-1)!.bytes - reports[0]!.bytes;
    expect(counted).toBeGreaterThan(0);
    expect(Math.abs(added - counted)).toBeLessThanOrEqual(line!.data_points.length * 10);

    // the chart draws the same lines, named by the task's action, id and step, in a round after the step ended
    const { p } = await chartMatchesApi(THROUGHPUT, '1h', step.endAt! + 1000);
    expect(p.labels).toContain(`Backup ${task.id.slice(0, 8)} · ${line!.step_name}`);
    await page.locator('[data-testid=chart-task-throughput]').scrollIntoViewIfNeeded();
    await page.mouse.move(0, 0);
    await shot('throughput');
  });

  it('asks for the range the picker shows and shows what the API answers for it', async () => {
    for (const range of ['6h', '1d', '7d'] as const) {
      await pickRange(range);
      // 1 d and 7 d: 5-minute averages, the window not averaged yet from the raw samples (this young cluster has only that)
      for (const ind of [...INDICATORS, THROUGHPUT]) await chartMatchesApi(ind, range);
      await page.locator('[data-testid=chart-tps][data-state=chart]').waitFor();
      await page.mouse.move(0, 0);
      await shot(range);
    }
    await pickRange('1h');
    await chartMatchesApi('instance.tps', '1h');
  });

  it('says "no data yet" for an indicator or a member without a point, in English and Chinese', async () => {
    // The browser is given answers without points: connections for no member, CPU with one more member without a point.
    const isMetricData = (u: URL): boolean => u.pathname === `/v1.0/${PROJECT_ID}/dms/metric-data`;
    await page.route(isMetricData, async (route) => {
      const q = new URL(route.request().url()).searchParams;
      const ind = q.get('indicator_name');
      if (ind === 'instance.connections') return route.fulfill({ status: 200, contentType: 'application/json', body: '[]' });
      if (ind === 'instance.cpu_usage') {
        const res = await route.fetch();
        const items = (await res.json()) as MetricSeries[];
        items.push({ indicator_name: ind, object_id: clusterId, sub_object_id: 'node9', unit: '%', data_points: [] });
        return route.fulfill({ response: res, json: items });
      }
      return route.fallback();
    });
    try {
      const connections = page.locator('[data-testid=chart-connections]');
      await connections.locator('[data-testid=no-data]').waitFor();
      expect(await connections.getAttribute('data-state')).toBe('empty');
      expect(await connections.locator('[data-testid=no-data]').textContent()).toBe('no data yet');
      expect(await page.evaluate<string[]>('Object.keys(window.__dwsboxCharts || {})')).not.toContain('instance.connections');
      const cpu = page.locator('[data-testid=chart-cpu]');
      await cpu.locator('[data-testid=no-data-members]').waitFor();
      expect(await cpu.locator('[data-testid=no-data-members]').textContent()).toBe('no data yet: node9');
      // node9 is not drawn (no line of zeros)
      expect((await shown('instance.cpu_usage'))!.labels).not.toContain('node9');
      await page.mouse.move(0, 0);
      await shot('no-data');

      await page.click('[data-lang=zh]');
      await expect.poll(() => page.locator('[data-testid=tab-monitoring]').textContent()).toBe('监控');
      await expect.poll(() => connections.locator('[data-testid=no-data]').textContent(), { timeout: 20_000 }).toBe('暂无数据');
      await expect.poll(() => cpu.locator('[data-testid=no-data-members]').textContent(), { timeout: 20_000 }).toBe('暂无数据：node9');
      expect(await page.locator('[data-testid=range-picker] [data-range="7d"]').textContent()).toBe('7 天');
      expect(await page.locator('[data-testid=chart-tps] h3').textContent()).toBe('每秒事务数');
      await page.locator('[data-testid=chart-tps][data-state=chart]').waitFor();
      await page.mouse.move(0, 0);
      await shot('zh');
    } finally {
      await page.unroute(isMetricData);
      await page.click('[data-lang=en]');
    }
  });
});
