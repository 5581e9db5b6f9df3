/**
 * How tests run the `dwsbox` command in a process of its own (a child service, the CLI, the
 * agent test): the built command (`bin/dwsbox.js`, what users run) when the build is current,
 * else the sources through tsx. Current means what scripts/setup.sh checks before it builds
 * (`npm test` runs it first): no file under src/ or scripts/, nor package.json or a tsconfig,
 * is newer than dist/cli/cli.js. A start from the build costs about 0.9 s of CPU, through tsx
 * about 2.2 s; the suite starts a service or the CLI a few hundred times.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function newerThan(path: string, t: number): boolean {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return false;
  if (!st.isDirectory()) return st.mtimeMs > t;
  return readdirSync(path).some((e) => newerThan(join(path, e), t));
}

let entry: string[] | null = null;

/** The node arguments that run `dwsbox` (cwd: REPO_ROOT); memoised for the test file. */
export function cliEntry(): string[] {
  if (entry) return entry;
  const built = join(REPO_ROOT, 'dist', 'cli', 'cli.js');
  const t = existsSync(built) ? statSync(built).mtimeMs : null;
  const current =
    t !== null && !['src', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.build.json'].some((p) => newerThan(join(REPO_ROOT, p), t));
  entry = current ? [join(REPO_ROOT, 'bin', 'dwsbox.js')] : ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'run.ts')];
  return entry;
}
