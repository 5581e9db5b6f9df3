/**
 * The map of ARCHITECTURE.md, checked (issue 13, D22): which folder of src/ may import which,
 * and that nothing outside the data plane runs SQL against a cluster or starts a process —
 * services and tasks hold the `DataPlane` interface, never an engine's innards. A grep over
 * the source, like test/fuzz/no-shell.test.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** The folder of src/ a file is in (`main` for src/main.ts). */
const areaOf = (file: string): string => {
  const rel = relative(SRC, file).split('/');
  return rel.length === 1 ? rel[0]!.replace(/\.ts$/, '') : rel[0]!;
};

/** Source text without comments. */
const code = (file: string): string =>
  readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');

/** Relative imports of a file: the target file (src-relative) and whether the import is type-only. */
function importsOf(file: string): { target: string; typeOnly: boolean }[] {
  const out: { target: string; typeOnly: boolean }[] = [];
  for (const m of code(file).matchAll(/(?:^|\n)\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    const target = relative(SRC, normalize(join(dirname(file), m[3]!))).replace(/\.js$/, '.ts');
    out.push({ target, typeOnly: !!m[2] });
  }
  return out;
}

/**
 * Who may import whom: the dependency rules of ARCHITECTURE.md. `main` (the composition root)
 * and `cli` (local commands that build the service and the local engine) may import anything.
 */
export const ALLOWED: Record<string, readonly string[]> = {
  api: ['services', 'auth', 'domain', 'errors', 'log', 'config'],
  services: ['store', 'tasks', 'dataplane', 'domain', 'errors', 'log', 'auth', 'config'],
  tasks: ['store', 'dataplane', 'domain', 'errors', 'log', 'auth', 'config'],
  dataplane: ['domain', 'errors', 'log'],
  store: ['domain', 'errors', 'config'],
  auth: ['store', 'domain', 'errors', 'log'],
  metrics: ['store', 'tasks', 'domain', 'dataplane', 'errors'],
  domain: ['errors'],
  errors: [],
  config: [],
  log: [],
};

/**
 * What of the data plane its users (services, tasks, metrics, api) may import: the interface,
 * and modules of pure code (names, parsing, formatting) that start nothing and query nothing.
 */
export const DATAPLANE_PUBLIC = new Set([
  'dataplane/data-plane.ts',
  'dataplane/logical-plane.ts',
  'dataplane/logical-dump.ts',
  'dataplane/pg-toc.ts',
  'dataplane/process-info.ts',
]);

const files = sources(SRC);

describe('the map of the code (ARCHITECTURE.md)', () => {
  it('(the grep reads the source tree)', () => {
    expect(files.length).toBeGreaterThan(80);
    expect(files.some((f) => f.endsWith('src/dataplane/data-plane.ts'))).toBe(true);
  });

  it('each folder imports only the folders its rule names', () => {
    const broken: string[] = [];
    for (const f of files) {
      const from = areaOf(f);
      if (from === 'main' || from === 'cli') continue;
      const allowed = ALLOWED[from];
      if (!allowed) {
        broken.push(`${relative(ROOT, f)}: src/${from}/ has no rule in ALLOWED (add it, and to ARCHITECTURE.md)`);
        continue;
      }
      for (const { target } of importsOf(f)) {
        const to = areaOf(join(SRC, target));
        if (to !== from && !allowed.includes(to)) broken.push(`${relative(ROOT, f)} imports src/${target} (${from} → ${to})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('services, tasks and the others hold the DataPlane interface, never an engine or its tools', () => {
    const broken: string[] = [];
    for (const f of files) {
      const from = areaOf(f);
      if (from === 'main' || from === 'cli' || from === 'dataplane') continue;
      for (const { target } of importsOf(f)) {
        if (target.startsWith('dataplane/') && !DATAPLANE_PUBLIC.has(target)) broken.push(`${relative(ROOT, f)} imports src/${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('nothing outside the data plane (and the metadata store) runs SQL or talks to PostgreSQL', () => {
    const broken: string[] = [];
    for (const f of files) {
      const from = areaOf(f);
      if (from === 'dataplane' || from === 'store') continue;
      const text = code(f);
      if (/from\s+['"]pg['"]|import\(\s*['"]pg['"]\s*\)/.test(text)) broken.push(`${relative(ROOT, f)}: imports pg`);
      if (/\.query(?:<[^>]*>)?\(\s*[`'"]\s*(?:select|insert|update|delete|create|drop|alter|grant|revoke|set|show|copy|with)\b/i.test(text))
        broken.push(`${relative(ROOT, f)}: runs SQL`);
    }
    expect(broken).toEqual([]);
  });

  it('(the checks catch what they look for)', () => {
    expect(/\.query(?:<[^>]*>)?\(\s*[`'"]\s*(?:select|insert)\b/i.test("inst.query<{ n: number }>('select 1')")).toBe(true);
    expect(areaOf(join(SRC, 'tasks', 'definitions', 'x.ts'))).toBe('tasks');
    expect(areaOf(join(SRC, 'main.ts'))).toBe('main');
  });
});
