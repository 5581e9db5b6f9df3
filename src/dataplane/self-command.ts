/**
 * How dwsbox runs itself in a process of its own (the host agent; the tests' child services and
 * CLI runs): the built command, `bin/dwsbox.js`, what users run. Only when this module runs from
 * the sources (tests, development) and the build is not current are the sources run through tsx,
 * so the process runs the same code as its caller. Current means what scripts/setup.sh checks
 * before it builds (`npm test` runs it first): no file under src/ or scripts/, nor package.json or
 * a tsconfig, is newer than dist/cli/cli.js. A start from the build costs about 0.2 s of CPU
 * (the agent, an API command), through tsx about 1 s more.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository (or installed package) root: bin/, dist/, src/. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

const FROM_SOURCES = import.meta.url.endsWith('.ts');

function newerThan(path: string, t: number): boolean {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return false;
  if (!st.isDirectory()) return st.mtimeMs > t;
  return readdirSync(path).some((e) => newerThan(join(path, e), t));
}

let args: string[] | null = null;

/** The node arguments that run the `dwsbox` command; memoised for the process. */
export function selfCommandArgs(): string[] {
  if (args) return args;
  const bin = join(PACKAGE_ROOT, 'bin', 'dwsbox.js');
  if (!FROM_SOURCES) return (args = [bin]);
  const built = join(PACKAGE_ROOT, 'dist', 'cli', 'cli.js');
  const t = existsSync(built) ? statSync(built).mtimeMs : null;
  const current =
    t !== null &&
    !['src', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.build.json'].some((p) => newerThan(join(PACKAGE_ROOT, p), t));
  return (args = current ? [bin] : ['--import', 'tsx', join(PACKAGE_ROOT, 'src', 'cli', 'run.ts')]);
}
