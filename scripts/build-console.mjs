#!/usr/bin/env node
/**
 * Builds the web console (console/ → console/dist): type-checks it with console/tsconfig.json,
 * then runs Vite. `npm run build:console` always builds; `--if-stale` builds only when
 * console/dist is missing or older than a console source (scripts/setup.sh and the console's
 * browser test use that). Vite writes into a fresh folder that then replaces console/dist, so
 * a service serving the old build, or a second build at the same time, never sees half a build.
 * No shell: tsc runs as a child of this Node.js, Vite through its JavaScript API.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const consoleDir = join(root, 'console');
const dist = join(consoleDir, 'dist');
const marker = join(dist, 'index.html');

/** The newest modification time of the console's sources (and the lockfile: a new Vite or Preact). */
function newestSource() {
  let newest = 0;
  const walk = (p) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) walk(join(p, e));
    } else {
      newest = Math.max(newest, st.mtimeMs);
    }
  };
  for (const p of ['src', 'index.html', 'vite.config.ts', 'tsconfig.json']) {
    const full = join(consoleDir, p);
    if (existsSync(full)) walk(full);
  }
  const lock = join(root, 'package-lock.json');
  if (existsSync(lock)) newest = Math.max(newest, statSync(lock).mtimeMs);
  return newest;
}

function isStale() {
  if (!existsSync(marker)) return true;
  return newestSource() > statSync(marker).mtimeMs;
}

async function build() {
  const require = createRequire(import.meta.url);
  const tsc = require.resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(consoleDir, 'tsconfig.json')], { stdio: 'inherit', cwd: root });

  const tmp = join(consoleDir, `.dist-${process.pid}-${Date.now()}`);
  const { build: viteBuild } = await import('vite');
  try {
    await viteBuild({
      configFile: join(consoleDir, 'vite.config.ts'),
      logLevel: process.env.CI || !process.stdout.isTTY ? 'warn' : 'info',
      build: { outDir: tmp, emptyOutDir: true },
    });
    if (!existsSync(join(tmp, 'index.html'))) throw new Error('the console build wrote no index.html');
    // Swap: the old build moves aside, the new one takes its place, the old one goes.
    const old = join(consoleDir, `.dist-old-${process.pid}-${Date.now()}`);
    try {
      renameSync(dist, old);
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
    }
    try {
      renameSync(tmp, dist);
    } catch (e) {
      // another build finished in between and put its own in place: keep that one
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
    }
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const ifStale = process.argv.includes('--if-stale');
if (ifStale && !isStale()) {
  process.exit(0);
}
try {
  await build();
  if (ifStale) process.stderr.write('build-console: built the web console (console/dist)\n');
} catch (e) {
  process.stderr.write(`build-console: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
