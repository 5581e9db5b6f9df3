/** The commit a benchmark measured, and which of the paths it depends on had uncommitted changes then (both go into its JSON line). */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export function gitInfo(paths: readonly string[]): { commit: string; uncommitted: string[] } {
  try {
    const commit = execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const uncommitted = execFileSync('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--', ...paths], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim());
    return { commit, uncommitted };
  } catch {
    return { commit: 'unknown (not a git checkout)', uncommitted: [] };
  }
}
