/**
 * What the console's browser tests share: the console built when a source is newer than the
 * build, a headless Chromium (Debian's, driven by playwright-core) on a profile of its own that
 * `close` removes, and a sign-in through the login form.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from './cli-entry.js';
import { removeDir, tempDir } from './env.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Headless, no sandbox (root in CI), and nothing of its own on the network: no QUIC, no background fetches, no updates, no sync. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Chromium there (else a failure that says how to install it), and `console/dist` built again when stale (`scripts/build-console.mjs --if-stale`). */
export function prepareConsole(): void {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: run \`bash scripts/setup.sh --with-browser\` (it installs Debian's chromium)`);
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-console.mjs'), '--if-stale'], { cwd: REPO_ROOT, stdio: 'inherit' });
}

export interface ConsoleBrowser {
  context: BrowserContext;
  /** the profile's first page, 30 s for any wait */
  page: Page;
  /** the browser closed and its profile removed */
  close(): Promise<void>;
}

/** A headless Chromium with a 1400 × 1000 viewport and an English locale. */
export async function openBrowser(): Promise<ConsoleBrowser> {
  const profileDir = tempDir('chromium');
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 1000 },
    locale: 'en-US',
    timeout: 60_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  return {
    context,
    page,
    close: async () => {
      await context.close();
      removeDir(profileDir);
    },
  };
}

/** The console at `endpoint` opened and signed in through its login form, as `who`. */
export async function signIn(page: Page, endpoint: string, who: { user: string; password: string; projectId: string }): Promise<void> {
  await page.goto(`${endpoint}/console`);
  await page.fill('#f-user', who.user);
  await page.fill('#f-password', who.password);
  await page.fill('#f-project', who.projectId);
  await page.click('[data-testid=login-form] button[type=submit]');
  await page.locator('[data-testid=signed-in]').waitFor();
}
