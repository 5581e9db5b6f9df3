/**
 * The top functions of a V8 CPU profile (`node --cpu-prof`), by self time and by inclusive time.
 *
 *   npx tsx bench/profile-summary.ts <file.cpuprofile> [--top 30] [--from <µs>] [--to <µs>]
 *
 * A .cpuprofile is JSON: `nodes` (the call tree: id, callFrame {functionName, url, lineNumber,
 * columnNumber}, hitCount, children), `samples` (the node on top of the stack at each sample) and
 * `timeDeltas` (µs since the previous sample), from `startTime` (µs, CLOCK_MONOTONIC: the clock
 * of `process.hrtime` in any process on the machine). Each sample counts for the time until
 * the next one. `--from`/`--to` keep only the samples in that window (bench/http.ts prints its
 * measured run's), so start-up and shutdown do not dilute the figures.
 *
 * Self time: samples whose top frame is the function. Inclusive time: samples with the function
 * anywhere on the stack (once per sample, however deep it recurses). A function is its name,
 * file, line and column; percentages are of the window's whole time, `(idle)` (the event loop
 * waiting), `(program)` (V8 and Node outside JavaScript) and `(garbage collector)` included.
 *
 * Positions: code that tsx compiled (the service's .ts files) runs as esbuild's output, whose
 * lines are not the source's. tsx keeps each output with its source map in its cache
 * (`<tmpdir>/tsx-<uid>/`); a position in a .ts file is mapped back through the newest cached map
 * of that file, and printed as `file.ts:line`. A position with no map is printed as the profile
 * has it, marked `(compiled)`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  /** 0-based */
  lineNumber: number;
  /** 0-based */
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionFigure {
  name: string;
  where: string;
  selfUs: number;
  totalUs: number;
}

export interface Summary {
  /** µs of the window */
  windowUs: number;
  samples: number;
  functions: FunctionFigure[];
}

// ------------------------------------------------------------------ source maps (tsx's cache)

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUE = new Map([...B64].map((c, i) => [c, i]));

/** One generated line's segments: [generated column, original line, original column] (0-based). */
type Segment = [number, number, number];

/** Decode a source map's `mappings` (Base64 VLQ) for a map with one source. */
export function decodeMappings(mappings: string): Segment[][] {
  const lines: Segment[][] = [];
  let srcLine = 0;
  let srcCol = 0;
  for (const text of mappings.split(';')) {
    const out: Segment[] = [];
    let genCol = 0;
    for (const seg of text.split(',')) {
      if (!seg) continue;
      const v: number[] = [];
      let shift = 0;
      let value = 0;
      for (const ch of seg) {
        const d = B64_VALUE.get(ch);
        if (d === undefined) throw new Error(`bad source map character ${ch}`);
        value += (d & 31) << shift;
        if (d & 32) shift += 5;
        else {
          v.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      genCol += v[0] ?? 0;
      if (v.length >= 4) {
        srcLine += v[2]!;
        srcCol += v[3]!;
        out.push([genCol, srcLine, srcCol]);
      }
    }
    lines.push(out);
  }
  return lines;
}

/** tsx's cached source maps, by source file (the newest entry of each file). */
function tsxMaps(): Map<string, () => Segment[][]> {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const dir = join(tmpdir(), `tsx-${uid}`);
  const found = new Map<string, { file: string; mtime: number }>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return new Map();
  }
  for (const name of names) {
    const file = join(dir, name);
    try {
      const text = readFileSync(file, 'utf8');
      // The map's `sources` is at its end: read it without parsing every entry in full.
      const m = /"sources":\["([^"]+)"\]/.exec(text.slice(-2000));
      if (!m) continue;
      const mtime = statSync(file).mtimeMs;
      const prev = found.get(m[1]!);
      if (!prev || prev.mtime < mtime) found.set(m[1]!, { file, mtime });
    } catch {
      /* not a cache entry */
    }
  }
  const out = new Map<string, () => Segment[][]>();
  for (const [source, { file }] of found) {
    let decoded: Segment[][] | null = null;
    out.set(source, () => {
      decoded ??= decodeMappings((JSON.parse(readFileSync(file, 'utf8')) as { map: { mappings: string } }).map.mappings);
      return decoded;
    });
  }
  return out;
}

/** The original (1-based) line of a generated position, from the segment at or before it. */
function originalLine(lines: Segment[][], line: number, column: number): number | null {
  const segs = lines[line];
  if (!segs || segs.length === 0) return null;
  let best: Segment | null = null;
  for (const s of segs) {
    if (s[0] <= column) best = s;
    else break;
  }
  return (best ?? segs[0]!)[1] + 1;
}

// ------------------------------------------------------------------ the summary

export function summarize(p: CpuProfile, o: { from?: number; to?: number } = {}): Summary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const maps = tsxMaps();
  const cwd = process.cwd();
  const keyOf = new Map<number, string>();
  const names = new Map<string, { name: string; where: string }>();
  const describe = (n: ProfileNode): string => {
    const cached = keyOf.get(n.id);
    if (cached) return cached;
    const f = n.callFrame;
    const name = f.functionName || (f.url ? '(anonymous)' : '(native)');
    let where = '';
    if (f.url) {
      let file = f.url;
      let line: number | null = f.lineNumber + 1;
      let mark = '';
      if (file.startsWith('file://')) {
        const path = fileURLToPath(file);
        const map = path.endsWith('.ts') ? maps.get(path) : undefined;
        if (map) line = originalLine(map(), f.lineNumber, f.columnNumber);
        else if (path.endsWith('.ts')) mark = ` (compiled, col ${f.columnNumber + 1})`;
        file = path.startsWith(cwd) ? relative(cwd, path) : path;
      }
      where = `${file}:${line ?? '?'}${mark}`;
    }
    const key = `${name}\u0000${where}`;
    names.set(key, { name, where });
    keyOf.set(n.id, key);
    return key;
  };

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let windowUs = 0;
  let count = 0;
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    // A sample stands for the time until the next one (the last: the profile's end).
    const next = i + 1 < p.samples.length ? t + (p.timeDeltas[i + 1] ?? 0) : p.endTime;
    const dur = Math.max(0, next - t);
    if (o.from !== undefined && t < o.from) continue;
    if (o.to !== undefined && t >= o.to) continue;
    windowUs += dur;
    count++;
    const top = byId.get(p.samples[i]!);
    if (!top) continue;
    const k = describe(top);
    self.set(k, (self.get(k) ?? 0) + dur);
    const seen = new Set<string>();
    for (let id: number | undefined = top.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      if (n.callFrame.functionName === '(root)') break;
      const key = describe(n);
      if (seen.has(key)) continue;
      seen.add(key);
      total.set(key, (total.get(key) ?? 0) + dur);
    }
  }
  const functions = [...names.entries()].map(([key, v]) => ({ ...v, selfUs: self.get(key) ?? 0, totalUs: total.get(key) ?? 0 }));
  return { windowUs, samples: count, functions };
}

export function report(s: Summary, top = 30): string {
  const pct = (us: number): string => `${((100 * us) / Math.max(1, s.windowUs)).toFixed(1).padStart(5)} %`;
  const ms = (us: number): string => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const rows = (key: 'selfUs' | 'totalUs'): string[] =>
    [...s.functions]
      .filter((f) => f[key] > 0)
      .sort((a, b) => b[key] - a[key])
      .slice(0, top)
      .map((f, i) => `${String(i + 1).padStart(3)}  ${pct(f[key])} ${ms(f[key])}  ${f.name}  ${f.where}`);
  return [
    `window ${(s.windowUs / 1e6).toFixed(2)} s, ${s.samples} samples`,
    '',
    `top ${top} by self time (the function itself, on top of the stack):`,
    ...rows('selfUs'),
    '',
    `top ${top} by inclusive time (the function anywhere on the stack):`,
    ...rows('totalUs'),
  ].join('\n');
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '30' }, from: { type: 'string' }, to: { type: 'string' } },
  });
  const file = positionals[0];
  if (!file) throw new Error('usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [--top 30] [--from <µs>] [--to <µs>]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const s = summarize(profile, {
    ...(values.from !== undefined ? { from: Number(values.from) } : {}),
    ...(values.to !== undefined ? { to: Number(values.to) } : {}),
  });
  process.stdout.write(`${file}\n${report(s, Number(values.top))}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
