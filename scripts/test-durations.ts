/**
 * Refresh test/durations.json (the order test files start in, test/helpers/sequencer.ts) from
 * vitest's record of the last run in this checkout: run the whole suite first (`npx vitest run`),
 * on 2 cores with the other work of a CI run, so the figures are the ones CI sees.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const cache = join('node_modules', '.vite', 'vitest');
const out: Record<string, number> = {};
for (const d of readdirSync(cache)) {
  const r = JSON.parse(readFileSync(join(cache, d, 'results.json'), 'utf8')) as { results: [string, { duration: number }][] };
  for (const [key, { duration }] of r.results) out[key.slice(key.indexOf(':') + 1)] = Math.round(duration / 1000);
}
const sorted = Object.fromEntries(Object.entries(out).sort(([a, x], [b, y]) => y - x || a.localeCompare(b)));
writeFileSync(join('test', 'durations.json'), `${JSON.stringify(sorted, null, 2)}\n`);
console.log(`test/durations.json: ${Object.keys(sorted).length} files`);
