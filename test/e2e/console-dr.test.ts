/**
 * The console's disaster-recovery pages (issue 19) in a real browser (Debian's Chromium through
 * playwright-core, as test/e2e/console-alarms.test.ts), without PostgreSQL: cluster records and
 * pairings written straight into the store of a service on the Patroni engine (a pairing of real
 * clusters needs two running Patroni clusters and minutes: test/e2e/disaster-recovery.test.ts
 * does that through the API). Then
 *
 * - the list shows what ListDisasterRecover answers, each side with its role now (swapped too);
 * - a pairing's page shows its status, both sides with their roles and a link to each cluster,
 *   the error an operation left, no replication figures for clusters that run nothing, and only
 *   the operations its status allows (console/src/disaster-recovery.ts allowedActions, whose
 *   every status the unit test covers);
 * - an operation the service refuses (a switchover of a pairing that stopped meanwhile) shows
 *   the service's DWS error after its confirmation;
 * - the sync period: the service's error beside the field, then saved (UpdateDisasterInfo);
 * - the create form: a taken name said beside it (CheckDisasterName, DWS.9934), the standby
 *   candidates ListAvailableDisasterClusters' for the production cluster, a missing standby
 *   refused beside its field, then the pairing created and its page opened;
 * - a delete asks first (dismissed: nothing sent), then the pairing is gone;
 * - the lag chart plots, in order, the lag_seconds and lag_bytes of the detail answers the page
 *   read since it opened (the answers given lag figures in the browser, as a streaming standby's
 *   would have; the figures themselves come from the processes, test/e2e/disaster-recovery.test.ts),
 *   a gap where an answer had none, and starts again when the page opens again; a page that is
 *   closed asks nothing more.
 *
 * Screenshots: test-results/console/dr-list.png, dr-pairing.png, dr-create.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Page, type Request, type Route } from 'playwright-core';
import { p, PROJECT_ID, startApiService, type ApiHarness } from '../helpers/api.js';
import { prepareConsole, openBrowser, signIn, type ConsoleBrowser } from '../helpers/console-browser.js';
import { testAgentDir } from '../helpers/env.js';
import { makeCluster } from '../helpers/records.js';
import { pairingRecord } from '../helpers/dr-pairing.js';
import type { ClusterRecord } from '../../src/domain/records.js';
import { allowedActions, type DrListItem } from '../../console/src/disaster-recovery.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = join(ROOT, 'test-results', 'console');
const USER = 'dr-operator';
const PASSWORD = 'Dr-Operator-Pass-123';
const MIN = 60_000;

let h: ApiHarness;
let endpoint = '';
let page: Page;
let browser: ConsoleBrowser | null = null;

const cluster = (name: string, port: number, o: Partial<ClusterRecord> = {}): ClusterRecord =>
  makeCluster({ projectId: PROJECT_ID, name, port, ...o });
const prodA = cluster('dr-prod-a', 8201);
const standA = cluster('dr-standby-a', 8202);
const prodB = cluster('dr-prod-b', 8203);
const standB = cluster('dr-standby-b', 8204);
const freeD = cluster('dr-free-d', 8205);
const freeE = cluster('dr-free-e', 8206);
const single = cluster('dr-single-f', 8207, { numberOfNode: 1 });

const pairing = (o: Omit<Parameters<typeof pairingRecord>[0], 'projectId'>) => pairingRecord({ projectId: PROJECT_ID, ...o });
const running = pairing({
  name: 'dr-running',
  primaryClusterId: prodA.id,
  standbyClusterId: standA.id,
  status: 'running',
  startedAt: Date.now() - 5 * MIN,
});
const swapped = pairing({
  name: 'dr-swapped',
  primaryClusterId: prodB.id,
  standbyClusterId: standB.id,
  status: 'abnormal',
  rolesSwapped: true,
  startedAt: Date.now() - 8 * MIN,
  lastSwitchAt: Date.now() - 2 * MIN,
  lastSwitchMs: 4200,
  error: 'failed over: the old production follows nothing; start it and RestoreDisaster rebuilds it as the standby',
});

async function until(test: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The path of a pairing's detail (ShowDisasterDetail): what the page reads every 2 s. */
const detailUrl = (id: string) => (u: URL) => u.pathname === `/v2/${PROJECT_ID}/disaster-recovery/${id}`;
const isDetail = (id: string, r: Request): boolean => r.method() === 'GET' && detailUrl(id)(new URL(r.url()));

async function openPairing(id: string): Promise<void> {
  await page.goto(`${endpoint}/console/disaster-recovery/${id}`);
  await page.locator(`[data-testid=dr-pairing-page][data-dr-id="${id}"]`).waitFor();
}

const allowedShown = async (): Promise<string[]> =>
  page
    .locator('[data-testid=dr-actions] button')
    .evaluateAll((bs) => bs.map((b) => (b.getAttribute('data-testid') ?? '').replace('dr-act-', '')));

beforeAll(async () => {
  prepareConsole();
  mkdirSync(SHOTS, { recursive: true });
  // Disaster recovery is the Patroni engine's (the local engine refuses it). No cluster here runs a process: the
  // health monitor would mark them UNAVAILABLE (and no longer candidates of a pairing), so it does not run in the test.
  h = await startApiService({
    flags: { engine: 'patroni', agentDir: testAgentDir(), monitorIntervalMs: 10 * MIN, metricsCollectIntervalMs: 10 * MIN },
  });
  const addr = h.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no TCP port');
  endpoint = `http://127.0.0.1:${addr.port}`;
  await h.auth.createUser(PROJECT_ID, USER, PASSWORD, 'admin');
  for (const c of [prodA, standA, prodB, standB, freeD, freeE, single]) await h.svc.store.insertCluster(c);
  await h.svc.store.insertDisasterRecovery(running);
  await h.svc.store.insertDisasterRecovery(swapped);

  browser = await openBrowser();
  page = browser.page;
  await signIn(page, endpoint, { user: USER, password: PASSWORD, projectId: PROJECT_ID });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

describe("the console's disaster-recovery pages", () => {
  it('list the pairings as ListDisasterRecover answers them, each side with its role now', async () => {
    await page.click('[data-testid=nav-dr]');
    await page.locator('[data-testid=dr-table]').waitFor();
    const r = await h.call('GET', p('/v2/{project_id}/disaster-recoveries'));
    expect(r.statusCode, r.body).toBe(200);
    const listed = r.json<{ disaster_recovery: DrListItem[] }>().disaster_recovery;
    expect(listed.map((d) => d.name).sort()).toEqual(['dr-running', 'dr-swapped']);
    const rows = await page.locator('[data-testid=dr-table] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({
        id: tr.getAttribute('data-dr-id'),
        status: tr.getAttribute('data-status'),
        name: tr.querySelector('[data-testid=dr-link]')?.textContent,
        sides: [...tr.querySelectorAll('td[data-side]')].map((td) => ({
          cluster: td.querySelector('a')?.getAttribute('href'),
          name: td.querySelector('a')?.textContent,
          role: td.querySelector('[data-role]')?.getAttribute('data-role'),
        })),
      })),
    );
    expect(rows).toEqual(
      listed.map((d) => ({
        id: d.id,
        status: d.status,
        name: d.name,
        sides: [
          { cluster: `/console/clusters/${d.primary_cluster_id}`, name: d.primary_cluster_name, role: d.primary_cluster_role },
          { cluster: `/console/clusters/${d.standby_cluster_id}`, name: d.standby_cluster_name, role: d.standby_cluster_role },
        ],
      })),
    );
    // after the failover the side created as the standby leads
    expect(rows.find((x) => x.id === swapped.id)!.sides.map((s) => s.role)).toEqual(['standby', 'primary']);
    await page.screenshot({ path: join(SHOTS, 'dr-list.png'), fullPage: true });
  });

  it("show a pairing's status, its sides with their roles and links, the error, and only the operations its status allows", async () => {
    await page.click(`[data-dr-id="${swapped.id}"] [data-testid=dr-link]`);
    await page.locator(`[data-testid=dr-pairing-page][data-dr-id="${swapped.id}"]`).waitFor();
    expect(await page.locator('[data-testid=dr-status]').getAttribute('data-status')).toBe('abnormal');
    expect(await page.locator('[data-testid=dr-error]').textContent()).toContain(swapped.error);
    const sides = await page
      .locator('[data-testid=dr-sides] tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => [tr.getAttribute('data-side'), tr.getAttribute('data-role'), tr.querySelector('a')?.getAttribute('href')]),
      );
    expect(sides).toEqual([
      ['primary_cluster', 'standby', `/console/clusters/${prodB.id}`],
      ['standby_cluster', 'primary', `/console/clusters/${standB.id}`],
    ]);
    expect(await allowedShown()).toEqual(allowedActions('abnormal'));
    expect(await allowedShown()).toEqual(['failover', 'recovery', 'delete']);
    // no process runs: no replication figures, no lag to draw, and the chart says what it covers
    expect(await page.locator('[data-testid=dr-replication]').getAttribute('data-state')).toBe('none');
    const chart = page.locator('[data-testid=dr-lag-chart]');
    expect(await chart.getAttribute('data-state')).toBe('empty');
    expect(await chart.locator('h3').textContent()).toContain('Lag since this page opened');
    expect(await chart.textContent()).toContain('dwsbox keeps no history');
    await page.locator('[data-testid=dr-progress]').waitFor();
    expect(await page.locator('[data-testid=dr-last-operation]').getAttribute('data-action')).toBe('');

    // a side's link opens its cluster
    await page.click('[data-side=standby_cluster] [data-testid=dr-cluster-link]');
    await page.locator(`[data-testid=cluster-page][data-cluster-id="${standB.id}"]`).waitFor();

    await openPairing(running.id);
    expect(await page.locator('[data-testid=dr-status]').getAttribute('data-status')).toBe('running');
    expect(await allowedShown()).toEqual(['pause', 'switchover', 'failover', 'delete']);
    expect(await page.locator('[data-testid=dr-failover-hint]').textContent()).toMatch(/lost.*refused while production's primary runs/);
    expect(await page.locator('[data-testid=dr-error]').count()).toBe(0);
  });

  it("show the service's DWS error when it refuses an operation (a switchover of a pairing that stopped meanwhile)", async () => {
    // Hold the page's next reading of the pairing, so it still shows the status it read last (running) while it is changed.
    const held: Route[] = [];
    const hold = detailUrl(running.id);
    const holdRoute = (route: Route): void => {
      held.push(route);
    };
    await page.route(hold, holdRoute);
    await until(async () => held.length > 0, 'the page asked for the pairing again');
    await h.svc.store.updateDisasterRecovery(running.id, { status: 'stopped', updatedAt: Date.now() });
    let asked = '';
    page.once('dialog', (d) => {
      asked = d.message();
      void d.accept();
    });
    await page.click('[data-testid=dr-act-switchover]');
    const error = page.locator('[data-testid=dr-action-error]');
    await error.waitFor();
    expect(asked).toMatch(/^Switch over pairing dr-running\? dr-prod-a stops taking writes and follows dr-standby-a/);
    expect(await error.textContent()).toMatch(/Disaster recovery dr-running cannot switch over now: its status is stopped.*\(DWS\.9935\)/);
    for (const r of held) await r.continue();
    await page.unroute(hold, holdRoute);
    // the page reads the pairing again: stopped, it offers a resume instead
    await until(async () => (await page.locator('[data-testid=dr-status]').getAttribute('data-status')) === 'stopped', 'stopped shown');
    expect(await allowedShown()).toEqual(allowedActions('stopped'));
    expect(await page.locator('[data-testid=dr-act-start]').textContent()).toBe('Resume');
  });

  it("change the sync period, the service's error beside the field", async () => {
    await page.fill('#f-dr_sync_period', '5X');
    await page.click('[data-testid=dr-period-submit]');
    const err = page.locator('[data-testid=dr-period-form] [data-error-for=dr_sync_period]');
    await err.waitFor();
    expect(await err.textContent()).toMatch(/dr_sync_period must be a number of minutes, hours or days.*\(DWS\.0001\)/);
    await page.fill('#f-dr_sync_period', '30M');
    await page.click('[data-testid=dr-period-submit]');
    await page.locator('[data-testid=dr-period-saved]').waitFor();
    expect((await h.svc.store.getDisasterRecovery(PROJECT_ID, running.id))!.syncPeriod).toBe('30M');
    await until(
      async () => (await page.locator('[data-testid=dr-period-form]').getAttribute('data-period')) === '30M',
      'the new period read',
    );
  });

  let created = '';
  it('create a pairing: the name checked, the standby among the candidates, errors beside their fields', async () => {
    await page.click('[data-testid=nav-dr]');
    await page.click('[data-testid=dr-create]');
    await page.locator('[data-testid=dr-create-form]').waitFor();
    // a taken name is said when the field is left (CheckDisasterName)
    await page.fill('#f-name', 'dr-running');
    await page.locator('#f-name').blur();
    const nameErr = page.locator('[data-error-for=name]');
    await nameErr.waitFor();
    expect(await nameErr.textContent()).toBe('The disaster recovery name dr-running already exists. (DWS.9934)');
    await page.fill('#f-name', 'dr-created');
    await page.locator('#f-name').blur();
    await page.locator('[data-testid=dr-name-free]').waitFor();
    expect(await nameErr.count()).toBe(0);

    // the standby's choices are ListAvailableDisasterClusters' for the production cluster
    await page.selectOption('#f-primary_cluster_id', freeD.id);
    const r = await h.call('GET', p(`/v2/{project_id}/disaster-recovery-clusters?primary_cluster_id=${freeD.id}`));
    const candidates = r.json<{ disaster_recovery_clusters: { id: string; name: string }[] }>().disaster_recovery_clusters;
    expect(candidates.map((c) => c.name)).toEqual(['dr-free-e']); // not the 1-node cluster, not the paired ones
    await until(async () => (await page.locator('#f-standby_cluster_id option').count()) === candidates.length + 1, 'the candidates');
    const options = await page.locator('#f-standby_cluster_id option').evaluateAll((os) => os.map((o) => o.getAttribute('value')));
    expect(options).toEqual(['', ...candidates.map((c) => c.id)]);

    // no standby: the service's refusal beside the standby field
    await page.click('[data-testid=dr-create-form] [data-testid=submit]');
    const standbyErr = page.locator('[data-error-for=standby_cluster_id]');
    await standbyErr.waitFor();
    expect(await standbyErr.textContent()).toBe('Invalid request: standby_cluster_id is required (DWS.0001)');

    await page.selectOption('#f-standby_cluster_id', freeE.id);
    await page.fill('#f-dr_sync_period', '2D');
    await page.screenshot({ path: join(SHOTS, 'dr-create.png'), fullPage: true });
    await page.click('[data-testid=dr-create-form] [data-testid=submit]');
    await page.waitForURL(/\/console\/disaster-recovery\/[0-9a-f-]{36}$/);
    created = page.url().split('/').pop()!;
    await page.locator(`[data-testid=dr-pairing-page][data-dr-id="${created}"]`).waitFor();
    const d = (await h.svc.store.getDisasterRecovery(PROJECT_ID, created))!;
    expect(d).toMatchObject({
      name: 'dr-created',
      primaryClusterId: freeD.id,
      standbyClusterId: freeE.id,
      syncPeriod: '2D',
      status: 'unstart',
      discardStandbyData: false,
    });
    expect(await page.locator('[data-testid=dr-status]').getAttribute('data-status')).toBe('unstart');
    expect(await allowedShown()).toEqual(['start', 'delete']);
  });

  it('delete a pairing after a confirmation (dismissed: nothing is sent)', async () => {
    const sent: string[] = [];
    const onRequest = (r: Request): void => {
      if (r.method() === 'DELETE') sent.push(r.url());
    };
    page.on('request', onRequest);
    let asked = '';
    page.once('dialog', (d) => {
      asked = d.message();
      void d.dismiss();
    });
    await page.click('[data-testid=dr-act-delete]');
    await until(async () => asked !== '', 'the confirmation');
    expect(asked).toMatch(/^Delete pairing dr-created\? dr-free-e is promoted into an independent cluster/);
    await new Promise((r) => setTimeout(r, 300));
    expect(sent).toEqual([]);

    page.once('dialog', (d) => void d.accept());
    await page.click('[data-testid=dr-act-delete]');
    await page.locator('[data-testid=dr-action-ok]').waitFor();
    expect(sent).toEqual([`${endpoint}/v2/${PROJECT_ID}/disaster-recovery/${created}`]);
    page.off('request', onRequest);
    // the delete is a task on the standby (DR_DELETING); the pairing is gone when it ends
    await page.locator('[data-testid=dr-gone]').waitFor({ timeout: 20_000 });
    const r = await h.call('GET', p(`/v2/{project_id}/disaster-recovery/${created}`));
    expect(r.statusCode).toBe(404);
    expect(r.json<{ error_code: string }>().error_code).toBe('DWS.10101');
  });

  it('draw the lag of the answers the page read since it opened, and ask nothing once closed', async () => {
    // The clusters here run nothing: each detail answer is given lag figures in the browser, as a streaming standby's would have.
    const given: { seconds: number | null; bytes: number | null }[] = [];
    const figures = async (route: Route): Promise<void> => {
      const res = await route.fetch();
      const body = (await res.json()) as { disaster_recovery: { replication: unknown } };
      const n = given.length + 1;
      // the third answer has no figures (no member answered): a gap, not a zero
      const fig = n === 3 ? null : { seconds: n * 0.5, bytes: n * 4096 };
      given.push(fig ?? { seconds: null, bytes: null });
      body.disaster_recovery.replication = fig && {
        state: 'streaming',
        receiver: 'streaming',
        paused: false,
        received_lsn: '0/3000000',
        replayed_lsn: '0/2FFF000',
        production_lsn: '0/3000000',
        lag_bytes: fig.bytes,
        lag_seconds: fig.seconds,
        last_replayed_commit: '2026-12-07T10:00:00',
        standby_leader: 1,
      };
      await route.fulfill({ response: res, json: body });
    };
    const url = detailUrl(running.id);
    await page.route(url, figures);
    await openPairing(running.id);
    const chart = page.locator('[data-testid=dr-lag-chart]');
    await until(async () => Number(await chart.getAttribute('data-samples')) >= 4, 'four readings', 15_000);
    expect(await chart.getAttribute('data-state')).toBe('chart');
    // page code as text: the test's TypeScript has no DOM types
    const drawn = await page.evaluate<number[][] | null>(
      `(() => { const u = (window.__dwsboxCharts || {})['dr.lag']; return u ? u.data.map((col) => Array.from(col)) : null; })()`,
    );
    expect(drawn).not.toBeNull();
    const [xs, seconds, bytes] = drawn as [number[], (number | null)[], (number | null)[]];
    expect(seconds).toEqual(given.slice(0, xs.length).map((g) => g.seconds));
    expect(bytes).toEqual(given.slice(0, xs.length).map((g) => g.bytes));
    expect(seconds[2]).toBeNull();
    expect(xs.every((x, i) => i === 0 || x > xs[i - 1]!)).toBe(true);
    expect(xs[0]).toBeGreaterThanOrEqual(Number(await chart.getAttribute('data-since')));
    // about one reading every 2 s
    const gaps = xs.slice(1).map((x, i) => x - xs[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1900);
    expect(await page.locator('[data-testid=dr-replication]').getAttribute('data-state')).toBe('streaming');
    await page.screenshot({ path: join(SHOTS, 'dr-pairing.png'), fullPage: true });

    // closed, the page asks nothing more; opened again, its chart starts again
    const asked: number[] = [];
    const onRequest = (r: Request): void => {
      if (isDetail(running.id, r)) asked.push(Date.now());
    };
    await page.click('[data-testid=nav-dr]');
    await page.locator('[data-testid=dr-table]').waitFor();
    page.on('request', onRequest);
    await new Promise((r) => setTimeout(r, 2500));
    expect(asked).toEqual([]);
    page.off('request', onRequest);
    expect(await page.evaluate<boolean>(`'dr.lag' in (window.__dwsboxCharts || {})`)).toBe(false);
    await page.click(`[data-dr-id="${running.id}"] [data-testid=dr-link]`);
    await until(async () => Number(await chart.getAttribute('data-samples')) >= 1, 'a reading');
    expect(Number(await chart.getAttribute('data-samples'))).toBeLessThanOrEqual(2);
    await page.unroute(url, figures);
  });

  it('are labelled in Chinese too', async () => {
    await page.click('[data-lang=zh]');
    await until(async () => (await page.locator('[data-testid=nav-dr]').textContent()) === '容灾', 'the Chinese navigation');
    expect(await page.locator('[data-testid=dr-lag-chart] h3').textContent()).toContain('自打开本页以来的延迟');
    await page.click('[data-lang=en]');
  });
});
