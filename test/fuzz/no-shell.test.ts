/**
 * No process is ever started through a shell (issue 6, hostile input): a grep over src/.
 * Only src/dataplane/pg-exec.ts starts processes (spawn, with an argv array), plus the version
 * probe of src/dataplane/binaries.ts (execFileSync, no shell); nothing uses `shell: true`, exec(),
 * execSync(), or runs `sh -c` / `bash -c`; and every identifier that pg-exec's callers put into
 * SQL goes through ident()/literal().
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'generated') out.push(...sources(p));
    } else if (/\.(ts|js|mjs|cjs)$/.test(name) && !/\.test\.ts$/.test(name)) out.push(p);
  }
  return out;
}

/** Source text without comments (so documentation may mention what the code must not do). */
function code(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

const files = sources(SRC).map((f) => ({ file: relative(ROOT, f), text: code(f) }));
const PROCESS_MODULE = /\b(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"](?:node:)?child_process['"]/;

describe('no process is started through a shell', () => {
  it('(the grep reads the source tree)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files.map((f) => f.file)).toContain('src/dataplane/pg-exec.ts');
  });

  it('child_process is imported only by src/dataplane/pg-exec.ts, and by src/dataplane/binaries.ts for execFileSync alone', () => {
    const importers = files
      .filter((f) => PROCESS_MODULE.test(f.text))
      .map((f) => f.file)
      .sort();
    expect(importers).toEqual(['src/dataplane/binaries.ts', 'src/dataplane/pg-exec.ts']);
    const bin = files.find((f) => f.file === 'src/dataplane/binaries.ts')!.text;
    expect(/import\s*\{\s*execFileSync\s*\}\s*from\s*['"]node:child_process['"]/.test(bin)).toBe(true);
    const exec = files.find((f) => f.file === 'src/dataplane/pg-exec.ts')!.text;
    const named = /import\s*\{([^}]*)\}\s*from\s*['"]node:child_process['"]/.exec(exec)?.[1] ?? '';
    const imported = named
      .split(',')
      .map((s) => s.trim().replace(/^type\s+/, ''))
      .filter(Boolean)
      .filter((s) => s !== 'ChildProcess');
    expect(imported.sort()).toEqual(['spawn', 'spawnSync']);
  });

  it('nothing else reaches a process-starting API by another road', () => {
    for (const f of files) {
      if (f.file === 'src/dataplane/pg-exec.ts' || f.file === 'src/dataplane/binaries.ts') continue;
      expect(f.text, f.file).not.toMatch(
        /\bprocess\.binding\s*\(|\bspawn(?:Sync)?\s*\(|\bexecFile(?:Sync)?\s*\(|\bexecSync\s*\(|\bfork\s*\(\s*['"`]|node:cluster\b/,
      );
      // One worker thread, SQLite's checkpointer (it runs SQL only; the checks above cover its code too).
      if (f.file !== 'src/store/sqlite-checkpointer.ts') expect(f.text, f.file).not.toMatch(/worker_threads/);
    }
  });

  it('no `shell: true`, no exec()/execSync() of a command line, no `sh -c` or `bash -c`', () => {
    for (const f of files) {
      expect(f.text, f.file).not.toMatch(/\bshell\s*:\s*(?!false\b)[^,}\s]/);
      expect(f.text, f.file).not.toMatch(/\bexec(?:Sync)?\s*\(\s*[`'"]/);
      expect(f.text, f.file).not.toMatch(/['"`](?:\/bin\/|\/usr\/bin\/)?(?:ba|da|z)?sh['"`]\s*,\s*\[\s*['"`]-c['"`]/);
      expect(f.text, f.file).not.toMatch(/\bcmd\s*:\s*['"`](?:\/bin\/|\/usr\/bin\/)?(?:ba|da|z)?sh['"`]/);
    }
  });

  it('(the patterns catch what they look for)', () => {
    expect("import { exec } from 'node:child_process'").toMatch(PROCESS_MODULE);
    expect("const cp = await import('child_process')").toMatch(PROCESS_MODULE);
    expect('spawn(cmd, argv, { shell: true })').toMatch(/\bshell\s*:\s*(?!false\b)[^,}\s]/);
    expect('spawn(cmd, argv, { shell: false })').not.toMatch(/\bshell\s*:\s*(?!false\b)[^,}\s]/);
    expect("spawn('bash', ['-c', line])").toMatch(/['"`](?:\/bin\/|\/usr\/bin\/)?(?:ba|da|z)?sh['"`]\s*,\s*\[\s*['"`]-c['"`]/);
    expect('exec(`pg_dump ${db}`)').toMatch(/\bexec(?:Sync)?\s*\(\s*[`'"]/);
  });

  it('pg-exec spawns with an argv array and an explicit environment, never a command string', () => {
    const exec = files.find((f) => f.file === 'src/dataplane/pg-exec.ts')!.text;
    const calls = [...exec.matchAll(/\bspawn(?:Sync)?\s*\(([^;]*?)\)\s*[;.]/g)].map((m) => m[1]!);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    for (const c of calls) {
      // spawn(cmd, argv, { env: …, … }) or spawn('unshare', ['--pid', …], { …, env: … })
      expect(c, c).toMatch(/^\s*[\w'"-]+\s*,\s*(?:\w+|\[[^\]]*\])\s*,\s*\{/);
      expect(c, c).toMatch(/\benv\s*:/);
      expect(c, c).not.toMatch(/\bshell\b/);
    }
  });
});

describe('names that reach SQL are quoted', () => {
  /**
   * Locals that SQL may interpolate, each with the definition that makes it safe (checked
   * below): a name quoted by ident()/qualified(), or a keyword the code itself chooses.
   */
  const SAFE_LOCALS: Record<string, RegExp> = {
    staged: /const staged = ident\(/,
    tbl: /const tbl = qualified\(/,
    verb: /const verb = [^;]*\? 'alter' : 'create';/,
    fkDef: /const fkDef = checkedForeignKey\(/,
    // CREATE/ALTER ROLE options (src/dataplane/local/db-users.ts roleOptions): keywords, an integer, literal()s
    "opts.join(' ')": /const opts = (?:\[\.\.\.)?roleOptions\(/,
    // PUBLIC, or a quoted role (src/dataplane/local/roles.ts, parameter privileges)
    grantee: /const grantee = \w+ === null \? 'public' : ident\(\w+\);/,
    // `database <quoted>` or `role <quoted>|all [in database <quoted>]` (roles.ts, stored settings)
    target:
      /const target =\s*s\.role === null\s*\? `database \$\{ident\(s\.database!\)\}`\s*: `role \$\{s\.role === '' \? 'all' : ident\(s\.role\)\}\$\{s\.database === null \? '' : ` in database \$\{ident\(s\.database\)\}`\}`;/,
    // a function signature as PostgreSQL's regprocedure output writes it (every name quoted as needed)
    proc: /p\.oid::regprocedure::text as f[\s\S]*for \(const \{ f: proc \} of fns\)/,
  };

  it('SQL text given to query() in the engine, tasks and services interpolates only quoted names, constants, or checked locals', () => {
    const offenders: string[] = [];
    let seen = 0;
    for (const f of files.filter((x) => /^src\/(dataplane|tasks|services)\//.test(x.file))) {
      for (const m of f.text.matchAll(/\.query(?:<[^>]*>)?\(\s*`([^`]*)`/g)) {
        for (const x of m[1]!.matchAll(/\$\{([^}]*)\}/g)) {
          seen++;
          const expr = x[1]!.trim();
          const quoted = /^(?:ident|literal|qualified)\(/.test(expr);
          // a constant map of SQL keywords, e.g. ALTER_OF_KIND[x.kind] ?? 'table'
          const constant = /^[A-Z][A-Z0-9_]*(?:\[[\w.]+\])?(?:\s*\?\?\s*'[a-z ]+')?$/.test(expr);
          const local = SAFE_LOCALS[expr];
          if (quoted || constant) continue;
          if (local && local.test(f.text)) continue;
          offenders.push(`${f.file}: \${${expr}} in \`${m[1]!.slice(0, 120)}\``);
        }
      }
    }
    expect(seen).toBeGreaterThan(20);
    expect(offenders).toEqual([]);
  });

  it('ident() and literal() double the quote they use, so no name can close it', async () => {
    const { ident, literal } = await import('../../src/dataplane/pg-instance.js');
    expect(ident('a"; drop table t; --')).toBe('"a""; drop table t; --"');
    expect(literal("x'; select 1; --")).toBe("'x''; select 1; --'");
  });
});
