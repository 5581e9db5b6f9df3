/**
 * The console's cluster page lists the cluster's latest events (D26) in a real browser
 * (Debian's Chromium through playwright-core, as test/e2e/console.test.ts): a create failed by
 * a fault at its first step (so no PostgreSQL starts) leaves its start and its failure, and the
 * page shows what ListEvents answers — time, severity, kind and message — newest first.
 * Screenshot: test-results/console/events.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Page } from 'playwright-core';
import { p, PROJECT_ID, startApiService, type ApiHarness } from '../helpers/api.js';
import { ADMIN_PASSWORD, SUBNET, VPC } from '../helpers/service.js';
import { prepareConsole, openBrowser, signIn, type ConsoleBrowser } from '../helpers/console-browser.js';
import { formatEventTime } from '../../console/src/model.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = join(ROOT, 'test-results', 'console');
const USER = 'events-viewer';
const PASSWORD = 'Events-Pass-123';

let h: ApiHarness;
let endpoint = '';
let page: Page;
let browser: ConsoleBrowser | null = null;
let clusterId = '';
let taskId = '';

interface WireEvent {
  event_id: string;
  name: string;
  severity: string;
  description: string;
  occur_time: number;
  subject: string;
}

async function until(test: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  prepareConsole();
  mkdirSync(SHOTS, { recursive: true });
  h = await startApiService();
  const addr = h.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no TCP port');
  endpoint = `http://127.0.0.1:${addr.port}`;
  await h.auth.createUser(PROJECT_ID, USER, PASSWORD, 'readonly');

  const f = await h.call('POST', p('/dwsbox/v1/{project_id}/faults'), {
    body: { action_name: 'CREATING', step: 'CHECK_CAPACITY', mode: 'fail', point: 'before' },
  });
  expect(f.statusCode, f.body).toBe(200);
  const res = await h.call('POST', p('/v1.0/{project_id}/clusters'), {
    body: {
      cluster: {
        name: 'events-on-page',
        node_type: 'dwsx.small',
        number_of_node: 3,
        subnet_id: SUBNET,
        vpc_id: VPC,
        user_name: 'dbadmin',
        user_pwd: ADMIN_PASSWORD,
        port: 8000 + Math.floor(Math.random() * 20000),
      },
    },
  });
  expect(res.statusCode, res.body).toBe(200);
  clusterId = res.json<{ cluster: { id: string } }>().cluster.id;
  await until(async () => (await h.svc.store.listTasks(clusterId))[0]?.phase === 'done', 'the create task ended', 60_000);
  taskId = (await h.svc.store.listTasks(clusterId))[0]!.id;

  browser = await openBrowser();
  page = browser.page;
});

afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

/** What the page's events table shows, row by row. */
async function shownRows(): Promise<{ id: string; cells: string[] }[]> {
  return page.locator('[data-testid=events-table] tbody tr').evaluateAll((rows) =>
    rows.map((r) => ({
      id: r.getAttribute('data-event-id') ?? '',
      cells: [...r.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim()),
    })),
  );
}

describe("the console's cluster page", () => {
  it("lists the cluster's latest events as ListEvents records them: time, severity, kind, message", async () => {
    await signIn(page, endpoint, { user: USER, password: PASSWORD, projectId: PROJECT_ID });
    await page.goto(`${endpoint}/console/clusters/${clusterId}`);
    await page.locator('[data-testid=events-table]').waitFor();

    // The page polls; the health monitor may add events meanwhile: compare until both agree.
    let listed: WireEvent[] = [];
    await until(
      async () => {
        const r = await h.call('GET', p(`/v2/{project_id}/events?source_id=${clusterId}&limit=20`));
        listed = r.json<{ events: WireEvent[] }>().events;
        const rows = await shownRows();
        return (
          rows.length === listed.length &&
          rows.every((row, i) => {
            const e = listed[i]!;
            return (
              row.id === e.event_id && row.cells.join('|') === [formatEventTime(e.occur_time), e.severity, e.name, e.description].join('|')
            );
          })
        );
      },
      'the page shows what ListEvents answers',
      20_000,
    );
    const mine = listed.filter((e) => e.subject === taskId).map((e) => e.name);
    expect(mine).toEqual(['task_failed', 'task_started']);
    const failed = page.locator(`[data-testid=events-table] tr[data-kind=task_failed]`);
    expect(await failed.getAttribute('data-severity')).toBe('warning');
    expect(await failed.locator('.badge').getAttribute('class')).toContain('badge-warn');
    await page.locator('#events').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SHOTS, 'events.png'), fullPage: true });
  });
});
