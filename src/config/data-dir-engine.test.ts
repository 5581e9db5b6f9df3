import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config.js';
import { engineFile, recordEngine, recordedEngine } from './data-dir-engine.js';

const root = mkdtempSync(join(tmpdir(), 'dwsbox-engine-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A data directory holding clusters: `true` for one with a Patroni record (`ha.json`), `false` for a local one. */
function dataDir(clusters: boolean[] = []): string {
  const d = join(root, `data-${n++}`);
  mkdirSync(join(d, 'clusters'), { recursive: true });
  clusters.forEach((ha, i) => {
    const c = join(d, 'clusters', `0000000${i}-1111-4222-8333-444444444444`);
    mkdirSync(c);
    if (ha) writeFileSync(join(c, 'ha.json'), '{}');
  });
  return d;
}
const engineOf = (d: string, flags: Record<string, unknown> = {}): string =>
  loadConfig({ env: {}, flags: { dataDir: d, ...flags } }).engine;

describe("a data directory's engine", () => {
  it('is patroni for a new data directory, or the one asked for', () => {
    expect(engineOf(join(root, 'none'))).toBe('patroni');
    expect(engineOf(dataDir())).toBe('patroni');
    expect(engineOf(dataDir(), { engine: 'local' })).toBe('local');
  });

  it('is told by the clusters of a data directory from before the record: local ones, or Patroni ones with their ha.json', () => {
    expect(engineOf(dataDir([false, false]))).toBe('local');
    expect(engineOf(dataDir([true, true]))).toBe('patroni');
    expect(engineOf(dataDir([true, false]))).toBe('local');
  });

  it('is recorded at the first start and kept: the default follows it, another engine is refused naming the flag', () => {
    const d = dataDir();
    recordEngine(d, 'local');
    expect(readFileSync(engineFile(d), 'utf8')).toBe('local\n');
    expect(engineOf(d)).toBe('local');
    recordEngine(d, 'local');
    expect(() => recordEngine(d, 'patroni')).toThrow(/run on the local engine .*start the service with --engine local/);
    expect(() => recordEngine(dataDir([false]), 'patroni')).toThrow(/--engine local/);
    expect(recordedEngine(dataDir([false]))).toBe('local');
  });

  it('a record that names no engine stops start-up', () => {
    const d = dataDir();
    writeFileSync(engineFile(d), 'postgres\n');
    expect(() => engineOf(d)).toThrow(ConfigError);
    expect(() => engineOf(d)).toThrow(/names the engine "postgres": expected local or patroni/);
  });

  it('services starting at the same moment on an empty data directory all read the one engine recorded (never a file half written)', async () => {
    const d = dataDir();
    const module = new URL('./data-dir-engine.ts', import.meta.url).pathname;
    // Each one waits for the same moment, then reads the record over and over while it records its own.
    const at = Date.now() + 2000;
    const code = [
      `const m = await import(${JSON.stringify(module)});`,
      `const d = process.argv[1];`,
      `while (Date.now() < ${at});`,
      `for (let i = 0; i < 300; i++) { m.recordedEngine(d); if (i === 50) m.recordEngine(d, 'local'); }`,
      `process.stdout.write(String(m.recordedEngine(d)));`,
    ].join('\n');
    const runs = Array.from(
      { length: 8 },
      () =>
        new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
          const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, d]);
          let out = '';
          let err = '';
          c.stdout.on('data', (b: Buffer) => (out += b.toString()));
          c.stderr.on('data', (b: Buffer) => (err += b.toString()));
          c.on('close', (exit) => resolve({ code: exit, out, err }));
        }),
    );
    const results = await Promise.all(runs);
    expect(results).toEqual(results.map(() => ({ code: 0, out: 'local', err: '' })));
    expect(readdirSync(d).sort()).toEqual(['clusters', 'engine']);
  });
});
