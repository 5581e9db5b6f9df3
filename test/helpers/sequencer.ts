/**
 * The order test files start in: the longest first (the longest-processing-time rule), so that
 * a slow file never starts last and keeps one lane busy while the others sit idle at the end.
 * Vitest orders by its own cache of the last run's durations, which a fresh clone (CI) does not
 * have; there it falls back to file size, which says little (a 60-line crash file runs for a
 * minute and a half). So the durations come from `test/durations.json`: seconds per file from
 * a full run on 2 cores (`npx tsx scripts/test-durations.ts` after `npx vitest run` refreshes
 * it). A file it does not know runs first, as in vitest's own order (it may be slow).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const known = JSON.parse(readFileSync(new URL('../durations.json', import.meta.url), 'utf8')) as Record<string, number>;
    const seconds = (f: TestSpecification): number => known[relative(this.ctx.config.root, f.moduleId)] ?? Number.MAX_SAFE_INTEGER;
    return [...files].sort((a, b) => seconds(b) - seconds(a));
  }
}
