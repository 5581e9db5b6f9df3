/**
 * End to end in a real browser: Debian's Chromium (/usr/bin/chromium, installed by
 * `scripts/setup.sh --with-browser`; never a downloaded browser) driven by playwright-core,
 * against a real service with real PostgreSQL clusters. It signs in with a user and password,
 * creates a cluster through the form and sees it become AVAILABLE, takes a snapshot and
 * watches the backup's progress bar reach 100%, injects a fault and sees the failed step and
 * its message, uses the cluster's tabs (a database user created and dropped, a parameter set
 * with its task followed, a tag added and removed), and switches to Chinese. Screenshots go to
 * test-results/console/.
 * One cluster, a few MB of data (2 cores, other suites running alongside).
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
import { createLogger } from '../../src/log/logger.js';
import { prepareConsole, openBrowser, type ConsoleBrowser } from '../helpers/console-browser.js';
import { freePort } from '../helpers/env.js';
import { ADMIN_PASSWORD, PROJECT_ID, getCluster, startService, waitIdle, type TestService } from '../helpers/service.js';
import { testEngine } from '../helpers/engine.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = join(ROOT, 'test-results', 'console');
const USER = 'console-user';
const PASSWORD = 'Console-Pass-123';

let t: TestService;
let page: Page;
let browser: ConsoleBrowser | null = null;
let clusterId = '';
let clusterName = '';
const apiRequests: { url: string; method: string; headers: Record<string, string> }[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** The first (newest) task card of an action on the cluster page. */
const newestTask = (action: string) => page.locator(`[data-testid=task-list] [data-action="${action}"]`).first();

beforeAll(async () => {
  // The same build as `npm run build:console` / the set-up, when console/dist is missing or older than its sources.
  prepareConsole();
  mkdirSync(SHOTS, { recursive: true });

  t = await startService();
  const auth = new AuthService(
    t.svc.store,
    Secrets.load(t.config.masterKey, join(t.dataDir, 'master.key')),
    systemClock,
    createLogger({ level: 'warn' }),
  );
  await auth.createUser(PROJECT_ID, USER, PASSWORD, 'admin');

  browser = await openBrowser();
  page = browser.page;
  page.on('request', (r: Request) => {
    const u = new URL(r.url());
    if (!u.pathname.startsWith('/console')) apiRequests.push({ url: u.pathname + u.search, method: r.method(), headers: r.headers() });
  });
});

afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

describe('web console', () => {
  // Each step builds on the one before: after a failure, the rest is skipped.
  let broken = false;
  beforeEach((ctx) => {
    if (broken) ctx.skip();
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') broken = true;
  });

  it('is served at /console and signs in with a user and password', async () => {
    await page.goto(`${t.endpoint}/console`);
    expect(new URL(page.url()).pathname).toBe('/console/');
    await page.locator('[data-testid=login-form]').waitFor();

    // a wrong password: the API's own message at the top of the form
    await page.fill('#f-user', USER);
    await page.fill('#f-password', 'wrong-password');
    await page.fill('#f-project', PROJECT_ID);
    await page.click('[data-testid=login-form] button[type=submit]');
    await expect.poll(() => page.locator('[data-testid=form-error]').textContent()).toContain('APIGW.0301');

    await page.fill('#f-password', PASSWORD);
    await page.click('[data-testid=login-form] button[type=submit]');
    await page.locator('[data-testid=signed-in]').waitFor();
    // the token is kept for the tab only
    const stored = await page.evaluate<string>('JSON.stringify(Object.assign({}, sessionStorage))');
    expect(stored).toContain('token');
    const local = await page.evaluate<string>('JSON.stringify(Object.assign({}, localStorage))');
    expect(local).not.toContain('token');

    await expect.poll(() => apiRequests.some((r) => r.url.startsWith(`/v1.0/${PROJECT_ID}/clusters`))).toBe(true);
    const list = apiRequests.find((r) => r.url.startsWith(`/v1.0/${PROJECT_ID}/clusters`))!;
    expect(list.headers['x-auth-token']).toBeTruthy();
    expect(list.headers['x-language']).toBe('en-us');
    await shot('01-signed-in');
  });

  it("shows the API's validation message beside the field it names", async () => {
    await page.click('[data-testid=create-cluster]');
    await page.locator('[data-testid=create-cluster-form]').waitFor();
    await page.fill('#f-name', 'ab');
    await page.fill('#f-user_pwd', ADMIN_PASSWORD);
    await page.click('[data-testid=create-cluster-form] [data-testid=submit]');
    const err = page.locator('[data-error-for=name]');
    await err.waitFor();
    expect(await err.textContent()).toMatch(/cluster name.*4 to 64/);
    await shot('02-validation');
  });

  it('creates a cluster through the form and sees it become AVAILABLE', async () => {
    clusterName = `console${Math.random().toString(36).slice(2, 8)}`;
    await page.fill('#f-name', clusterName);
    await page.fill('#f-port', String(await freePort()));
    await page.click('[data-testid=create-cluster-form] [data-testid=submit]');
    await page.locator('[data-testid=cluster-page]').waitFor();
    clusterId = (await page.locator('[data-testid=cluster-page]').getAttribute('data-cluster-id'))!;
    expect(clusterId).toBeTruthy();
    // CREATING, with its task's items and sub-items live on the page
    await newestTask('CREATING').waitFor();
    await shot('03-creating');
    await page.locator('[data-testid=cluster-status] [data-status=AVAILABLE]').waitFor({ timeout: 200_000 });
    await page.locator('[data-testid=cluster-status] [data-status=NORMAL]').waitFor();
    await expect.poll(() => newestTask('CREATING').getAttribute('data-status'), { timeout: 30_000 }).toBe('SUCCESS');
    expect(await page.locator('[data-testid=nodes-table] tbody tr').count()).toBe(3);
    expect(await page.locator('[data-testid=nodes-table] tr[data-role=primary]').count()).toBe(1);

    // the clusters list: status, nodes with roles, and the psql command of the primary
    await page.click('text=dwsbox console');
    const row = page.locator(`tr[data-cluster-id="${clusterId}"]`);
    await row.waitFor();
    expect(await row.locator('[data-status=AVAILABLE]').count()).toBe(1);
    expect(await row.locator('.node-list li').count()).toBe(3);
    const psql = await row.locator('[data-testid=psql]').inputValue();
    // The read-write endpoint behind Patroni's router (it follows a failover), the primary's own address on the local engine.
    const host = testEngine() === 'patroni' ? '127\\.1' : '127\\.0';
    const m = new RegExp(`^psql "host=(${host}\\.\\d+\\.1) port=(\\d+) user=dbadmin dbname=postgres"$`).exec(psql);
    expect(m, psql).not.toBeNull();
    await shot('04-clusters');

    // the command reaches the primary: a little data for the snapshots
    const c = new pg.Client({ host: m![1], port: Number(m![2]), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
    await c.connect();
    try {
      await c.query(
        `create table console_events as select g as id, md5(g::text) || md5((g * 7)::text) as payload from generate_series(1, 40000) g`,
      );
      await c.query('checkpoint');
    } finally {
      await c.end();
    }
  });

  it('takes a snapshot and watches its progress bar reach 100%', async () => {
    await page.click(`tr[data-cluster-id="${clusterId}"] .cluster-link`);
    await page.locator('[data-testid=cluster-page]').waitFor();
    await page.click('[data-testid=act-snapshot]');
    await page.locator('[data-testid=create-snapshot-form]').waitFor();
    await page.fill('#f-name', 'console-snap-1');
    const pollsBefore = apiRequests.length;
    await page.click('[data-testid=create-snapshot-form] [data-testid=submit]');
    await page.locator('[data-testid=cluster-page]').waitFor();

    const task = newestTask('SNAPSHOTTING');
    await task.waitFor();
    const bar = task.locator('[data-step=BACKUP] [role=progressbar]');
    const seen: number[] = [];
    const deadline = Date.now() + 180_000;
    for (;;) {
      const v = Number(await bar.getAttribute('aria-valuenow'));
      if (seen[seen.length - 1] !== v) seen.push(v);
      const status = await task.getAttribute('data-status');
      if (status === 'SUCCESS' && v === 100) break;
      expect(['WAITING', 'RUNNING', 'SUCCESS']).toContain(status);
      if (Date.now() > deadline) throw new Error(`the snapshot did not finish; bar values ${seen.join(',')}`);
      await page.waitForTimeout(200);
    }
    // rising values of the real progress, seen before the end and ending at 100 (the bar's width follows it)
    console.log(`console: the backup's progress bar showed ${seen.join(' → ')}`);
    expect(seen[0]).toBeLessThan(100);
    expect(seen[seen.length - 1]).toBe(100);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
    expect(await bar.getAttribute('data-progress')).toBe('100.00%');
    const width = await bar.locator('.bar-fill').getAttribute('style');
    expect(width).toMatch(/width:\s*100%/);
    expect(await task.locator('[data-step=BACKUP] [data-fig=bytes]').textContent()).toMatch(/MB/);
    expect(await task.locator('[data-step=BACKUP] [data-status=SUCCESS]').count()).toBe(1);

    // it was polled about once a second, with the token header (not EventSource)
    const taskPolls = apiRequests
      .slice(pollsBefore)
      .filter((r) => r.url.startsWith(`/dwsbox/v1/${PROJECT_ID}/clusters/${clusterId}/tasks`));
    expect(taskPolls.length).toBeGreaterThanOrEqual(2);
    expect(taskPolls.every((r) => r.headers['x-auth-token'])).toBe(true);
    const snap = page.locator('[data-testid=snapshots-table] tr[data-snapshot-name=console-snap-1]');
    await snap.locator('[data-status=AVAILABLE]').waitFor();
    // the cluster can now be restored to any time since that snapshot (restore_window, issue 20)
    await page.locator('[data-testid=restore-window]', { hasText: /any time from \S+ to now/ }).waitFor();
    await shot('05-snapshot-done');
  });

  it('switches a highly available cluster over to another node and back, and changes its replication', async () => {
    if (testEngine() === 'local') return; // no switchover on the local engine: the button is not shown
    await page.locator('[data-testid=cluster-page]').waitFor();
    await page.click('[data-testid=act-switchover]');
    const form = page.locator('[data-testid=switchover-form]');
    await form.waitFor();
    // The first standby in the list (the default is the preferred node, node 1, the primary now).
    const to = await page.locator('#f-candidate option').nth(1).getAttribute('value');
    await page.selectOption('#f-candidate', to!);
    await page.click('[data-testid=switchover-form] [data-testid=submit]');
    await page.locator('[data-testid=cluster-page]').waitFor();
    await page.locator('[data-testid=cluster-status] [data-status=UNBALANCED]').waitFor({ timeout: 120_000 });
    await shot('05b-switched-over');
    expect((await getCluster(t.client, clusterId)).nodes.find((n) => n.id === to)!.role).toBe('primary');
    // Back to the preferred node: NORMAL again.
    await page.click('[data-testid=act-switchover]');
    await form.waitFor();
    await page.click('[data-testid=switchover-form] [data-testid=submit]');
    await page.locator('[data-testid=cluster-page]').waitFor();
    await page.locator('[data-testid=cluster-status] [data-status=NORMAL]').waitFor({ timeout: 120_000 });
    await waitIdle(t.client, clusterId);
    // The replication mode: asynchronous, then back to synchronous.
    for (const mode of ['async', 'sync']) {
      await page.click('[data-testid=act-switchover]');
      await page.locator('[data-testid=sync-mode-form]').waitFor();
      await page.selectOption('#f-mode', mode);
      await page.click('[data-testid=sync-mode-submit]');
      await page.locator('[data-testid=cluster-page]').waitFor();
      expect((await getCluster(t.client, clusterId)).sync_mode).toBe(mode);
    }
  });

  it('runs the checks of the other forms and shows their answers, changing nothing', async () => {
    // scale out: the pre-check (grow-check) is shown before the scale-out can be sent
    await page.click('[data-testid=act-scale-out]');
    const growCheck = page.locator('[data-testid=grow-check] .alert-ok');
    await growCheck.waitFor();
    expect(await growCheck.textContent()).toContain('3 → 4');
    expect(await page.locator('[data-testid=scale-out-form] [data-testid=submit]').isEnabled()).toBe(true);
    await page.fill('#f-count', '2');
    expect(await page.locator('[data-testid=scale-out-form] [data-testid=submit]').isEnabled()).toBe(false);
    await shot('06-scale-out-check');

    // scale in: a 3-node cluster accepts none; the API's refusal sits beside the field
    await page.goto(`${t.endpoint}/console/clusters/${clusterId}/scale-in`);
    await page.locator('[data-testid=scale-in-form]').waitFor();
    await page.click('[data-testid=scale-in-form] [data-testid=submit]');
    await page.locator('[data-error-for=shrink_number]').waitFor();
    expect(await page.locator('[data-error-for=shrink_number]').textContent()).toMatch(/DWS\.5047/);

    // restore tables: the name check lists what the snapshot lacks
    await page.goto(`${t.endpoint}/console/clusters/${clusterId}`);
    await page.locator('[data-testid=snapshots-table] tr[data-snapshot-name=console-snap-1]').waitFor();
    await page.click('[data-testid=snapshots-table] tr[data-snapshot-name=console-snap-1] >> text=Restore tables');
    await page.locator('[data-testid=table-restore-form]').waitFor();
    await page.fill('#f-st0', 'console_events');
    await page.fill('#f-tt0', 'console_events_copy');
    await page.click('[data-testid=table-restore-form] [data-testid=check]');
    await page.locator('[data-testid=check-ok]').waitFor();
    await page.fill('#f-st0', 'no_such_table');
    await page.click('[data-testid=table-restore-form] [data-testid=check]');
    await page.locator('[data-error-for=restore_table_list]').waitFor();
    expect(await page.locator('[data-error-for=restore_table_list]').textContent()).toContain('no_such_table');
    await shot('07-table-restore-check');

    // restore to a new cluster: a bad name comes back beside the name field, and nothing is built
    await page.goBack();
    await page.click('[data-testid=snapshots-table] tr[data-snapshot-name=console-snap-1] >> text=Restore to a new cluster');
    await page.locator('[data-testid=restore-form]').waitFor();
    await page.fill('#f-name', 'x');
    await page.click('[data-testid=restore-form] [data-testid=submit]');
    await page.locator('[data-error-for=name]').waitFor();
    expect(await page.locator('[data-error-for=name]').textContent()).toMatch(/cluster name/);
    // a point in time outside the cluster's restorable window comes back beside its field
    await page.fill('#f-name', 'console-pitr');
    await page.fill('#f-restore_time', '2099-01-01T00:00:00Z');
    await page.click('[data-testid=restore-form] [data-testid=submit]');
    await page.locator('[data-error-for=restore_time]').waitFor();
    expect(await page.locator('[data-error-for=restore_time]').textContent()).toMatch(/restorable window/);

    // restore in place (issue 20): the snapshot (support_inplace_restore) can go back into its own cluster; the
    // action asks first, and a cancelled confirmation sends nothing (no in-place restore runs here: it takes time)
    const inPlacePosts = (): number => apiRequests.filter((r) => r.method === 'POST' && r.url.endsWith('/in-place-restore')).length;
    const dismissNext = (): Promise<string> =>
      new Promise((resolve) =>
        page.once('dialog', (d) => {
          resolve(d.message());
          void d.dismiss();
        }),
      );
    const inPlace = page.locator('[data-testid=in-place] [data-testid=in-place-submit]');
    expect(await inPlace.textContent()).toBe('Restore into its cluster (replaces its data)');
    let asked = dismissNext();
    await inPlace.click();
    expect(await asked).toContain(`Replace all data of cluster ${clusterName} with snapshot console-snap-1?`);
    await page.locator('[data-testid=restore-form]').waitFor(); // still here
    // the cluster page's "Restore in place…": a chooser of its snapshots that can be, and the same question first
    await page.goto(`${t.endpoint}/console/clusters/${clusterId}`);
    await page.click('[data-testid=act-restore-in-place]');
    await page.locator('[data-testid=in-place-form]').waitFor();
    const snapOption = page.locator('#f-in_place_snapshot option', { hasText: 'console-snap-1' });
    await page.selectOption('#f-in_place_snapshot', (await snapOption.getAttribute('value'))!);
    await page.fill('#f-in_place_time', '2026-12-06T10:41:00Z');
    asked = dismissNext();
    await page.click('[data-testid=in-place-form] [data-testid=in-place-submit]');
    expect(await asked).toContain('with snapshot console-snap-1 rolled forward to 2026-12-06T10:41:00.000Z?');
    await page.locator('[data-testid=in-place-form]').waitFor();
    expect(inPlacePosts()).toBe(0);
    expect((await getCluster(t.client, clusterId)).status).toBe('AVAILABLE');
    await shot('07-restore-in-place-asks');

    // node types
    await page.click('text=Node types');
    await page.locator('[data-testid=node-types-table] tr[data-spec="dwsx.small"]').waitFor();
    await page.goto(`${t.endpoint}/console/clusters/${clusterId}`);
    await page.locator('[data-testid=cluster-page]').waitFor();
    const clusters = (await t.client.call<{ clusters: unknown[] }>('GET', '/v1.0/{project_id}/clusters')).clusters;
    expect(clusters.length).toBe(1);
  });

  it("the cluster's tabs: a database user created and dropped, a parameter set (its task live, a refusal beside its field), a tag added and removed", async () => {
    const accept = (): void => void page.once('dialog', (d) => void d.accept());
    // database users: the API's password rule beside the field, then a real role, then dropped
    await page.click('[data-testid=tab-db-users]');
    await page.locator('[data-testid=db-user-form]').waitFor();
    expect(await page.locator('[data-testid=tab-db-users]').getAttribute('aria-current')).toBe('page');
    await page.fill('#f-name', 'console_reader');
    await page.fill('#f-password', 'short');
    await page.click('[data-testid=db-user-form] [data-testid=submit]');
    expect(await page.locator('[data-error-for=password]').textContent()).toMatch(/DWS\.514[45]/);
    await page.fill('#f-password', 'Reader-Pass-123');
    await page.click('[data-testid=db-user-form] [data-testid=submit]');
    const user = page.locator('[data-testid=db-users-table] tr[data-db-user=console_reader]');
    await user.waitFor();
    expect(await user.textContent()).toContain('yes');
    const users = `/v1/{project_id}/clusters/${clusterId}/db-manager/users`;
    expect(await t.client.call(`GET`, `${users}/console_reader`)).toMatchObject({ name: 'console_reader', login: true });
    // the administrator is listed, and not offered for dropping
    expect(await page.locator('[data-testid=db-users-table] tr[data-db-user=dbadmin] button').count()).toBe(0);
    await shot('07a-db-users');
    accept();
    await user.locator('button').click();
    await page.locator('[data-testid=db-user-done]').waitFor();
    await expect.poll(() => user.count()).toBe(0);
    expect((await t.client.request('GET', `${users}/console_reader`)).status).toBe(404);

    // parameters: the primary's values with their flags; a value above dwsbox's bound refused beside it (after the
    // warning a restart now asks for), nothing started; then a reload-only value set, its SETTING_CONFIGURATION task shown live
    await page.click('[data-testid=tab-parameters]');
    const lock = page.locator('[data-testid=parameters-table] tr[data-parameter=lock_timeout]');
    await lock.waitFor();
    expect(await lock.getAttribute('data-pending')).toBe('false');
    expect(await page.locator('[data-testid=parameters-table] tr[data-parameter=max_locks_per_transaction]').textContent()).toContain(
      '10-1024',
    );
    expect(await page.locator('[data-testid=configuration-status] [data-status]').getAttribute('data-status')).toBe('In-Sync');
    await page.click('[data-testid=edit-parameters]');
    await page.fill('#f-max_locks_per_transaction', '5000');
    await page.check('#f-restart_now'); // a restart now is confirmed first
    accept();
    await page.click('[data-testid=save-parameters]');
    expect(await page.locator('[data-error-for=max_locks_per_transaction]').textContent()).toMatch(/DWS\.0001/);
    await page.click('[data-testid=cancel-parameters]');
    await page.click('[data-testid=edit-parameters]');
    await page.fill('#f-lock_timeout', '3000');
    await page.click('[data-testid=save-parameters]');
    const task = page.locator('[data-testid=parameter-task] [data-action=SETTING_CONFIGURATION]');
    await task.waitFor();
    await expect.poll(() => task.getAttribute('data-status'), { timeout: 60_000 }).toBe('SUCCESS');
    await expect.poll(() => lock.locator('[data-value]').getAttribute('data-value'), { timeout: 10_000 }).toBe('3000');
    await page.locator('[data-testid=parameter-history] tr[data-status=SUCCESS]').first().waitFor();
    expect(await page.locator('[data-testid=parameter-history] tr').nth(1).textContent()).toContain('lock_timeout 0 → 3000');
    await shot('07b-parameters');

    // tags
    await page.click('[data-testid=tab-tags]');
    await page.locator('[data-testid=tag-form]').waitFor();
    await page.fill('#f-key', 'team');
    await page.fill('#f-value', 'analytics');
    await page.click('[data-testid=tag-form] [data-testid=submit]');
    const tag = page.locator('[data-testid=tags-table] tr[data-tag-key=team]');
    await tag.waitFor();
    const tags = async (): Promise<unknown[]> =>
      (await t.client.call<{ tags: unknown[] }>('GET', `/v1.0/{project_id}/clusters/${clusterId}/tags`)).tags;
    expect(await tags()).toContainEqual({ key: 'team', value: 'analytics' });
    await shot('07c-tags');
    accept();
    await tag.locator('button').click();
    await expect.poll(() => tag.count()).toBe(0);
    expect(await tags()).not.toContainEqual({ key: 'team', value: 'analytics' });

    await page.click('[data-testid=tab-overview]');
    await page.locator('[data-testid=cluster-page]').waitFor();
  });

  it('injects a fault, takes another snapshot and shows the failed step and message', async () => {
    await page.click('[data-testid=act-fault]');
    await page.locator('[data-testid=fault-form]').waitFor();
    expect(await page.locator('#f-cluster_id').inputValue()).toBe(clusterId);
    await page.selectOption('#f-action_name', 'SNAPSHOTTING');
    await page.fill('#f-step', 'BACKUP');
    await page.selectOption('#f-mode', 'fail');
    await page.selectOption('#f-point', 'before');
    await page.click('[data-testid=fault-form] [data-testid=submit]');
    await page.locator('[data-testid=fault-added]').waitFor();
    await page.locator('[data-testid=faults-table] tr[data-fault-id]').first().waitFor();
    await shot('08-fault');

    await page.goto(`${t.endpoint}/console/clusters/${clusterId}/snapshot`);
    await page.locator('[data-testid=create-snapshot-form]').waitFor();
    await page.fill('#f-name', 'console-snap-2');
    await page.click('[data-testid=create-snapshot-form] [data-testid=submit]');
    await page.locator('[data-testid=cluster-page]').waitFor();
    const failed = page.locator('[data-testid=task-list] [data-action=SNAPSHOTTING][data-status=FAILED]').first();
    await failed.waitFor({ timeout: 120_000 });
    const banner = failed.locator('[data-testid=task-failure]');
    expect(await banner.locator('[data-testid=failed-step-name]').textContent()).toBe('Perform a backup');
    expect(await banner.textContent()).toContain('(BACKUP)');
    expect(await banner.locator('[data-testid=failed-step-msg]').textContent()).toMatch(/Injected fault/);
    expect(await failed.locator('[data-step=BACKUP][data-status=FAILED]').count()).toBe(1);
    await shot('09-failed');
  });

  it('switches to 中文: labels and step names in Chinese, x-language zh-cn on every call', async () => {
    const before = apiRequests.length;
    await page.click('[data-lang=zh]');
    const failed = page.locator('[data-testid=task-list] [data-action=SNAPSHOTTING][data-status=FAILED]').first();
    await expect.poll(() => failed.locator('[data-testid=failed-step-name]').textContent(), { timeout: 15_000 }).toBe('执行备份');
    expect(await failed.locator('[data-testid=task-failure]').textContent()).toContain('失败步骤');
    expect(await page.locator('h2#tasks').textContent()).toBe('任务');
    expect(apiRequests.slice(before).some((r) => r.headers['x-language'] === 'zh-cn')).toBe(true);
    // from now on, every call asks for Chinese
    const from = apiRequests.length;
    await page.waitForTimeout(2500);
    const after = apiRequests.slice(from);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((r) => r.headers['x-language'] !== 'zh-cn')).toEqual([]);
    await shot('10-chinese');
  });
});
