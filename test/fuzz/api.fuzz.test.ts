/* Over 600 lines: one property-based suite over every route, its generators and its route table shared by its cases. */
/**
 * Hostile input (issue 6): a property-based fuzz suite (fast-check) over EVERY route the
 * running app serves (read from its route tree and /openapi.json, never a hand-kept list).
 * Requests are signed with AK/SK so they get past authentication and reach validation (some
 * are unsigned, garbage-signed, another project's, read-only or token-borne), and carry random
 * and malformed JSON, wrong types for every known field, hostile strings (SQL and shell
 * metacharacters, unicode, very long), huge and deeply nested bodies, invalid UTF-8, odd
 * content types, hostile path parameters (`..`, `%2e%2e`, `%00`, `%ff`, …) and query strings,
 * headers near and over Node's 16 KiB limit, and malformed HTTP. Path and header cases go over
 * a real socket (no client library normalizes them); body cases through `inject`.
 *
 * Properties, checked after EACH case (so a failing case is the one reported, with its seed):
 * - no 5xx (the service is started, so not even its 503), an answer within 10 s, no crash;
 * - every error is exactly `{error_code, error_msg}` with a DWS.xxxx or APIGW.xxxx code, JSON,
 *   with an X-Request-Id (Node's own 400/431 included: the service answers them in that format);
 * - where the outcome is certain (a wrong type, bad JSON, bad UTF-8, a body over 1 MiB), the
 *   exact status;
 * - no change of state: a dump of every store table and the processes under the data
 *   directory are the same before and after; Object.prototype is not polluted.
 *
 * Mutating routes only ever see unknown ids and bodies that fail validation (the store holds
 * no cluster or snapshot, and a cluster-create body always has at least one invalid field), so
 * no case can start real work; the state check would catch one that did.
 *
 * Scale with DWSBOX_FUZZ_SCALE (default 1: about 8000 cases); replay with DWSBOX_FUZZ_SEED.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import type { HTTPMethods } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHM, canonicalRequest, hmacHex, sdkDate, stringToSign } from '../../src/auth/signer.js';
import { liveToolPids } from '../../src/dataplane/pg-exec.js';
import { defaultConsoleDir } from '../../src/api/routes/console.js';
import { isPostgresUrl } from '../../src/config/config.js';
import { ADMIN, HOST, PROJECT_ID, startApiService, type ApiHarness, type Creds } from '../helpers/api.js';
import { processesUnder } from '../helpers/env.js';
import { buildRequest, rawRequest } from '../helpers/raw-http.js';
import { fillPath, routeCatalog, type JsonSchema, type RouteInfo } from '../helpers/routes.js';
import { dumpDiff, dumpStore, sqliteDumper } from '../helpers/store-dump.js';

const SCALE = Number(process.env['DWSBOX_FUZZ_SCALE'] ?? 1);
const SEED = process.env['DWSBOX_FUZZ_SEED'] === undefined ? undefined : Number(process.env['DWSBOX_FUZZ_SEED']);
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));
const fcOptions = <T>(numRuns: number): fc.Parameters<T> => ({
  numRuns: runs(numRuns),
  ...(SEED === undefined ? {} : { seed: SEED }),
  endOnFailure: true,
});

const UNKNOWN = '00000000-0000-4000-8000-000000000000';
const OTHER_PROJECT = 'd'.repeat(32);
/** an answer slower than this is a failure (a ReDoS or a hang takes minutes; CI noise takes a second) */
const MAX_MS = 10_000;
const CONSOLE_BUILT = existsSync(join(defaultConsoleDir(), 'index.html'));

let h: ApiHarness;
let port = 0;
let routes: RouteInfo[] = [];
let readonly: Creds;
let otherProject: Creds;
let adminToken = '';
/** the store and processes as the last case left them (each case must leave them unchanged) */
let lastState = '';
let lastProcs = '';
let fullScan = '';
let dumper: { dump(): string; close(): void } | null = null;
let watch: ProcWatch;
const dump = async (): Promise<string> => (dumper ? dumper.dump() : dumpStore(h.svc.store));

/**
 * processesUnder(dir) (env.ts), incrementally, for a check after every case: the processes
 * present when the watch starts are read once; any other (new) one is read each time.
 */
class ProcWatch {
  private readonly base = new Map<number, string | null>();
  constructor(private readonly dir: string) {
    for (const pid of this.pids()) this.base.set(pid, this.under(pid));
  }
  private pids(): number[] {
    return readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .filter((n) => n !== process.pid);
  }
  private under(pid: number): string | null {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (!cmd.includes(this.dir)) return null;
      if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] === 'Z') return null;
      return `${pid} ${cmd}`;
    } catch {
      return null;
    }
  }
  list(): string {
    const out: string[] = [];
    for (const pid of this.pids()) {
      const known = this.base.get(pid);
      const cmd = known === undefined ? this.under(pid) : known;
      if (cmd) out.push(cmd);
    }
    return out.sort().join('\n');
  }
}
const fullProcs = (): string =>
  JSON.stringify(
    processesUnder(h.dataDir)
      .map((x) => x.cmd)
      .sort(),
  );
const protoKeys = Object.getOwnPropertyNames(Object.prototype).sort().join(',');

// ------------------------------------------------------------------ figures
const stats = {
  cases: 0,
  pastAuth: 0,
  socket: 0,
  inject: 0,
  byRoute: new Map<string, number>(),
  byStatus: new Map<number, number>(),
  byProperty: new Map<string, number>(),
  ms: 0,
};
let currentProperty = '';

// ------------------------------------------------------------------ a case and its checks
type Who = 'admin' | 'readonly' | 'other' | 'none' | 'token' | 'garbage';

interface Case {
  /** `METHOD /template` of the route aimed at, for the figures */
  route: string;
  method: string;
  /** request target as sent (path and query), latin1 */
  target: string;
  /** content type; null: none */
  contentType: string | null;
  body?: Buffer;
  headers?: [string, string][];
  who: Who;
  transport: 'inject' | 'socket';
  /** statuses that are certain for this case (otherwise only the general properties) */
  expect?: number[];
  /** a pattern the error message must match, with `expect` */
  msg?: RegExp;
  /** exact request bytes for the socket (malformed HTTP); target/headers are then for the record */
  raw?: Buffer;
  garbageAuth?: string;
  /** Node may close without answering (CONNECT with no handler: its documented behaviour) */
  mayClose?: boolean;
  /** Node itself answers, before the service sees the request (HTTP/1.1 without Host: an empty 400): only a 4xx is required */
  lenient?: boolean;
}

function describeCase(c: Case): string {
  const body = c.body
    ? c.body.length > 300
      ? `${c.body.length} bytes: ${JSON.stringify(c.body.subarray(0, 200).toString('latin1'))}…`
      : JSON.stringify(c.body.toString('latin1'))
    : 'none';
  return `${c.method} ${JSON.stringify(c.target.slice(0, 400))} [${c.transport}, ${c.who}, content-type ${JSON.stringify(c.contentType)}] body ${body}`;
}

function sign(c: Case, headers: Record<string, string>, creds: Creds): Record<string, string> {
  const date = sdkDate(h.clock.now());
  const all: Record<string, string> = { ...headers, 'x-sdk-date': date };
  const names = Object.keys(all)
    .map((k) => k.toLowerCase())
    .sort();
  const canonical = canonicalRequest({ method: c.method, url: c.target, headers: all, body: c.body }, names);
  return {
    'x-sdk-date': date,
    authorization: `${ALGORITHM} Access=${creds.ak}, SignedHeaders=${names.join(';')}, Signature=${hmacHex(creds.sk, stringToSign(date, canonical))}`,
  };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: Buffer;
  ms: number;
}

async function send(c: Case): Promise<Answer> {
  const headers: Record<string, string> = { host: HOST };
  if (c.contentType !== null) headers['content-type'] = c.contentType;
  for (const [k, v] of c.headers ?? []) headers[k.toLowerCase()] = v;
  if (c.who === 'admin' || c.who === 'readonly' || c.who === 'other') {
    Object.assign(headers, sign(c, headers, c.who === 'admin' ? ADMIN : c.who === 'readonly' ? readonly : otherProject));
  } else if (c.who === 'token') {
    headers['x-auth-token'] = adminToken;
  } else if (c.who === 'garbage') {
    headers['authorization'] = c.garbageAuth ?? 'garbage';
    headers['x-sdk-date'] = sdkDate(h.clock.now());
  }
  const t0 = performance.now();
  if (c.transport === 'inject') {
    stats.inject++;
    const res = await h.app.inject({
      method: c.method as HTTPMethods,
      url: c.target,
      headers,
      ...(c.body !== undefined ? { payload: c.body } : {}),
    });
    return { status: res.statusCode, headers: res.headers, body: res.rawPayload, ms: performance.now() - t0 };
  }
  stats.socket++;
  const list: [string, string][] = [['Connection', 'close'], ...Object.entries(headers)];
  if (c.body !== undefined) list.push(['Content-Length', String(c.body.length)]);
  const bytes = c.raw ?? buildRequest(c.method, c.target, list, c.body);
  const r = await rawRequest(port, bytes, 15_000);
  return { status: r.status, headers: r.headers, body: r.body, ms: r.ms };
}

/** The checks every case must pass; throws (fast-check reports the case and its seed). */
async function check(c: Case): Promise<void> {
  const a = await send(c);
  stats.cases++;
  stats.byRoute.set(c.route, (stats.byRoute.get(c.route) ?? 0) + 1);
  stats.byStatus.set(a.status, (stats.byStatus.get(a.status) ?? 0) + 1);
  stats.byProperty.set(currentProperty, (stats.byProperty.get(currentProperty) ?? 0) + 1);
  stats.ms = Math.max(stats.ms, a.ms);
  if (['admin', 'readonly', 'other', 'token'].includes(c.who) && a.status !== 401) stats.pastAuth++;
  const text = a.body.toString('utf8');
  const where = `${describeCase(c)}\n→ ${a.status} ${text.slice(0, 300)}`;

  if (a.status === 0 && !c.mayClose) throw new Error(`no answer: ${where}`);
  // The unbuilt web console answers 503 (a deployment state, not the input's doing).
  const consoleNotBuilt = !CONSOLE_BUILT && c.route.includes('/console') && a.status === 503;
  if (a.status >= 500 && !consoleNotBuilt) throw new Error(`5xx: ${where}`);
  if (a.ms > MAX_MS) throw new Error(`answered in ${Math.round(a.ms)} ms: ${where}`);
  if (c.lenient && (a.status < 400 || a.status >= 500)) throw new Error(`expected a 4xx from Node: ${where}`);
  if (a.status >= 400 && c.method !== 'HEAD' && !c.lenient) {
    const ct = String(a.headers['content-type'] ?? '');
    if (!/^application\/json/.test(ct)) throw new Error(`error without a JSON content type (${ct}): ${where}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`error body is not JSON: ${where}`);
    }
    const keys = body && typeof body === 'object' ? Object.keys(body).sort().join(',') : typeof body;
    if (keys !== 'error_code,error_msg') throw new Error(`error body is not exactly {error_code, error_msg}: ${where}`);
    const e = body as { error_code: unknown; error_msg: unknown };
    if (typeof e.error_code !== 'string' || !/^(DWS|APIGW)\.\d{4,5}$/.test(e.error_code))
      throw new Error(`error_code not DWS.xxxx/APIGW.xxxx: ${where}`);
    if (typeof e.error_msg !== 'string' || e.error_msg.length === 0) throw new Error(`empty error_msg: ${where}`);
    if (/SQLITE_|sqlite|node_modules|\.ts:\d+|\bat [\w.<>]+ \(/.test(e.error_msg)) throw new Error(`error_msg leaks internals: ${where}`);
    if (c.msg && !c.msg.test(e.error_msg)) throw new Error(`error_msg does not match ${String(c.msg)}: ${where}`);
  }
  const reqId = a.headers['x-request-id'];
  if (a.status !== 0 && !c.lenient && (typeof reqId !== 'string' || !/^[0-9a-f-]{36}$/.test(reqId)))
    throw new Error(`no X-Request-Id: ${where}`);
  if (c.expect && !c.expect.includes(a.status)) throw new Error(`expected ${c.expect.join(' or ')}: ${where}`);
  if (/root:x:0:0|"name": "dwsbox"/.test(text)) throw new Error(`a file outside the served directories came back: ${where}`);

  // No change of state, no process, no prototype pollution.
  const state = await dump();
  const procs = `${watch.list()}|${liveToolPids().join(',')}`;
  if (stats.cases % 50 === 0) {
    if (fullProcs() !== fullScan) throw new Error(`processes under the data directory changed (full scan): ${where}\n${fullProcs()}`);
    // the full scan agrees: start the incremental watch again from here (other tests' processes come and go)
    watch = new ProcWatch(h.dataDir);
  }
  const before = lastState;
  const procsBefore = lastProcs;
  lastState = state;
  lastProcs = procs;
  if (state !== before) throw new Error(`the store changed: ${where}\n${dumpDiff(before, state)}`);
  if (procs !== procsBefore) throw new Error(`processes changed: ${where}\nbefore ${procsBefore}\nafter ${procs}`);
  if (Object.getOwnPropertyNames(Object.prototype).sort().join(',') !== protoKeys)
    throw new Error(`Object.prototype was polluted: ${where}`);
}

async function property<T>(name: string, arb: fc.Arbitrary<T>, toCase: (x: T) => Case, numRuns: number): Promise<void> {
  currentProperty = name;
  watch = new ProcWatch(h.dataDir);
  fullScan = fullProcs();
  lastState = await dump();
  lastProcs = `${watch.list()}|${liveToolPids().join(',')}`;
  await fc.assert(
    fc.asyncProperty(arb, async (x) => check(toCase(x))),
    fcOptions<[T]>(numRuns),
  );
  expect(fullProcs()).toBe(fullScan);
  expect(dumpDiff(lastState, await dumpStore(h.svc.store))).toBe('');
}

// ------------------------------------------------------------------ generators
/** Percent-encode the UTF-8 bytes of s (lone surrogates become U+FFFD), RFC 3986 unreserved kept. */
function pct(s: string): string {
  return [...Buffer.from(s, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

const SQL = [
  "' or 1=1 --",
  "'; drop table clusters; --",
  '"; drop schema public cascade; --',
  "1' union select * from credentials --",
  "x'||pg_sleep(10)||'",
  "\\'; --",
  '$$; select 1; $$',
  "E'\\x00'",
];
const SHELL = [
  '$(id)',
  '`id`',
  '; rm -rf / ;',
  '| cat /etc/passwd',
  '&& reboot',
  '${IFS}cat${IFS}/etc/passwd',
  '\n/bin/sh',
  "'; touch /tmp/dwsbox-pwned; '",
  '$(touch /tmp/dwsbox-pwned)',
  '> /etc/passwd',
  '-rf',
  '--help',
  '-c',
  '--exec=id',
];
const OTHER = [
  '../../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '\u0000',
  'a\u0000b',
  '\r\nX-Injected: 1',
  '<script>alert(1)</script>',
  '{{7*7}}',
  '%s%s%n',
  '\\',
  '"',
  "'",
  '*',
  '?',
  '%',
  'a\u202eb',
  '\ufeff',
  '😀',
  '集群名称',
  'null',
  'NaN',
  '-1',
  '1e400',
  '__proto__',
  'constructor',
  'dwsx.small',
  'SNAPSHOTTING',
  'postgres',
  'pg_catalog',
  'information_schema',
];

const hostileText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SQL, ...SHELL, ...OTHER) },
  {
    weight: 2,
    arbitrary: fc.string({
      unit: fc.constantFrom("'", '"', ';', '-', '$', '(', ')', '`', '|', '&', '\\', ' ', 'a', '\u0000', '\n', '/', '.', '%'),
      maxLength: 60,
    }),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('a', 'é', '集', '😀', "'", '%'), fc.integer({ min: 65, max: 20_000 }))
      .map(([ch, n]) => ch.repeat(n)),
  },
);

/** A path segment as written in the request target (already encoded, or deliberately not). */
const rawSegment: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '..',
      '.',
      '%2e%2e',
      '%2E%2E',
      '.%2e',
      '%2e',
      '..%2f..%2f..%2fetc%2fpasswd',
      '..%5c..%5c',
      '%2f',
      '%5c',
      '..;',
      '%00',
      'a%00b',
      '%ff',
      '%fe%ff',
      '%c0%af',
      '%e0%80%af',
      '%ed%a0%80',
      '%',
      '%zz',
      '%2',
      '%u002e',
      '~',
      '*',
      ';',
      '%3b',
      "'",
      '%27',
      '%22',
      '%0a',
      '%0d%0a',
      '%09',
      '%20',
      '$(id)',
      '%24(id)',
      '`id`',
      '%60id%60',
      '|',
      '%7c',
      '&',
      '!',
      '@',
      ':',
      '=',
      '+',
      ',',
      '(',
      ')',
      '[',
      ']',
      '{',
      '}',
      'UNION%20SELECT',
      UNKNOWN,
      UNKNOWN.toUpperCase(),
      ' ',
    ),
  },
  { weight: 4, arbitrary: hostileText.map(pct) },
  { weight: 1, arbitrary: fc.integer({ min: 240, max: 300 }).map((n) => 'a'.repeat(n)) },
  { weight: 1, arbitrary: fc.webSegment() },
);

/** The right value of a path parameter (so that the case reaches validation) */
function goodParam(name: string): string {
  if (name === 'project_id') return PROJECT_ID;
  if (name === 'action_name') return 'SNAPSHOTTING';
  if (name === '*') return 'index.html';
  return UNKNOWN;
}

const goodPath = (r: RouteInfo): string => fillPath(r.path, Object.fromEntries(r.params.map((n) => [n, goodParam(n)])));
const routeKey = (r: RouteInfo): string => `${r.method} ${r.path}`;
const needsQuery = (r: RouteInfo): string => (r.path.endsWith('/shrink-check') ? '?shrink_count=1' : '');

function unwrap(s: JsonSchema): JsonSchema {
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return unwrap(alts.find((x) => x.type !== 'null') ?? alts[0]!);
  return s;
}

/** A body of the schema's shape with every field (optional ones too) present, each of the right type. */
function skeleton(s: JsonSchema): unknown {
  const t = unwrap(s);
  const type = Array.isArray(t.type) ? t.type[0] : t.type;
  switch (type) {
    case 'object':
      return Object.fromEntries(Object.entries(t.properties ?? {}).map(([k, v]) => [k, skeleton(v)]));
    case 'array':
      return t.items ? [skeleton(t.items)] : [];
    case 'string':
      return 'fuzz'.slice(0, t.maxLength ?? 4);
    case 'integer':
    case 'number':
      return t.minimum ?? 1;
    case 'boolean':
      return false;
    default:
      return {};
  }
}

interface Field {
  route: RouteInfo;
  path: (string | number)[];
  schema: JsonSchema;
}

function fieldsOf(route: RouteInfo, s: JsonSchema, path: (string | number)[] = [], out: Field[] = []): Field[] {
  if (path.length === 0) out.push({ route, path, schema: s });
  const t = unwrap(s);
  if (t.properties)
    for (const [k, v] of Object.entries(t.properties)) {
      out.push({ route, path: [...path, k], schema: v });
      fieldsOf(route, v, [...path, k], out);
    }
  if (t.items) {
    out.push({ route, path: [...path, 0], schema: t.items });
    fieldsOf(route, t.items, [...path, 0], out);
  }
  return out;
}

function setAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
  return copy;
}

const ajv = new Ajv({ coerceTypes: false, strict: false, allErrors: false, validateFormats: false });
const validators = new Map<RouteInfo, (x: unknown) => boolean>();
function bodyValid(r: RouteInfo, body: unknown): boolean {
  let v = validators.get(r);
  if (!v) {
    const compiled = ajv.compile(r.body ?? {});
    v = (x: unknown) => compiled(x) as boolean;
    validators.set(r, v);
  }
  return v(body);
}

/** Any JSON value, weighted to the types a field can be wrong with. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(-0, 1.5, 2 ** 53 + 2, -(2 ** 31) - 1, 1e300),
  fc.string({ maxLength: 20 }),
  hostileText,
  fc.constant(''),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  fc.constant([]),
  fc.constant({}),
);

const ODD_TYPES = [
  'text/plain',
  'text/plain; charset=utf-8',
  'multipart/form-data; boundary=xyz',
  'application/x-www-form-urlencoded',
  'application/xml',
  'application/octet-stream',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/json;;;',
  'application/json; a="b',
  'application/json; charset',
  'application/json ; charset=UTF-8',
  'Application/JSON',
  'APPLICATION/JSON; CHARSET=UTF-8',
  'application/jsonp',
  'application/json-patch+json',
  'application/vnd.api+json',
  'application/*',
  '*/*',
  'json',
  '',
  ';',
  '/',
  'application/json\tx',
  `application/json; ${'p=1;'.repeat(500)}`,
];

// ------------------------------------------------------------------ set-up
beforeAll(async () => {
  h = await startApiService();
  const addr = h.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('the service does not listen on a TCP port');
  port = addr.port;
  const r = await h.auth.createCredential(PROJECT_ID, 'readonly');
  readonly = { ak: r.accessKey, sk: r.secretKey };
  const o = await h.auth.createCredential(OTHER_PROJECT, 'admin');
  otherProject = { ak: o.accessKey, sk: o.secretKey };
  await h.auth.createUser(PROJECT_ID, 'fuzzer', 'Fuzzer-Password-1', 'admin');
  const t = await h.call('POST', '/v3/auth/tokens', {
    creds: null,
    body: { auth: { identity: { methods: ['password'], password: { user: { name: 'fuzzer', password: 'Fuzzer-Password-1' } } } } },
  });
  adminToken = t.headers['x-subject-token'] as string;
  routes = await routeCatalog(h.app);
  if (!isPostgresUrl(h.config.store)) dumper = sqliteDumper(h.config.store);
});

afterAll(async () => {
  if (h) {
    const top = [...stats.byRoute.entries()].sort((a, b) => a[1] - b[1]);
    console.log(
      [
        `fuzz: ${stats.cases} cases over ${stats.byRoute.size} routes (${stats.inject} in process, ${stats.socket} over a socket), ${stats.pastAuth} signed cases past authentication, slowest answer ${Math.round(stats.ms)} ms`,
        `by property: ${[...stats.byProperty.entries()].map(([k, v]) => `${k}=${v}`).join(', ')}`,
        `by status: ${[...stats.byStatus.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([k, v]) => `${k}:${v}`)
          .join(' ')}`,
        `fewest cases: ${top
          .slice(0, 3)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`,
      ].join('\n'),
    );
    dumper?.close();
    await h.stop();
  }
});

// ------------------------------------------------------------------ the properties
describe('hostile input on every route', () => {
  const withBody = (): RouteInfo[] => routes.filter((r) => r.body !== undefined);

  it('the route list comes from the app: every route, with the bodies and queries it documents', () => {
    expect(routes.length).toBeGreaterThan(50);
    expect(withBody().length).toBeGreaterThan(15);
    for (const r of routes) if (r.path.includes('{project_id}')) expect(r.documented, routeKey(r)).toBe(true);
  });

  it('random and malformed JSON bodies (fc.json, truncated, BOM, non-object roots)', async () => {
    const arb = fc.tuple(
      fc.constantFrom(...routes.filter((r) => r.method !== 'GET')),
      fc.oneof(
        fc.json({ maxDepth: 4 }).map((s) => ({ kind: 'json', text: s })),
        fc
          .jsonValue({ maxDepth: 3 })
          .chain((v) =>
            fc
              .integer({ min: 0, max: Math.max(0, JSON.stringify(v).length - 1) })
              .map((n) => ({ kind: 'truncated', text: JSON.stringify(v).slice(0, n) })),
          ),
        fc.json({ maxDepth: 3 }).map((s) => ({ kind: 'bom', text: `\ufeff${s}` })),
        fc
          .constantFrom(
            '',
            ' ',
            '\n',
            'null',
            'true',
            '0',
            '-1',
            '"x"',
            '[]',
            '{}',
            '{"a":1,"a":2}',
            '{',
            '}',
            '[',
            '{"cluster":',
            '{"cluster":{}}}',
            '\u0000',
            'NaN',
            'Infinity',
            '1e400',
            "{'a':1}",
            '{a:1}',
            '{"a":1,}',
            '[1,]',
            '/*x*/{}',
            '{"__proto__":{"polluted":1}}',
            '{"constructor":{"prototype":{"polluted":1}}}',
            '{"a":"\\ud800"}',
            '{"a":"\\u0000"}',
          )
          .map((s) => ({ kind: 'fixed', text: s })),
        fc.constant(0).map(() => ({ kind: 'fixed', text: '{"a":' + '1'.repeat(5000) + '}' })),
      ),
      fc.constantFrom<Who>('admin', 'admin', 'admin', 'token', 'none'),
    );
    await property(
      'json',
      arb,
      ([r, b, who]) => {
        let valid = true;
        try {
          JSON.parse(b.text.replace(/^\ufeff/, ''));
        } catch {
          valid = false;
        }
        // A signed body that is not JSON is a 400 once authenticated (the parse error waits for it).
        const certain = !valid && b.text.trim() !== '' && who !== 'none' && r.body !== undefined && !r.path.startsWith('/v3/');
        return {
          route: routeKey(r),
          method: r.method,
          target: goodPath(r) + needsQuery(r),
          contentType: 'application/json;charset=UTF-8',
          body: Buffer.from(b.text, 'utf8'),
          who,
          transport: 'inject',
          ...(certain ? { expect: [400], msg: /not valid JSON/ } : {}),
        };
      },
      1000,
    );
  });

  it('a wrong type for every known field of every body (each exactly a 400)', async () => {
    const fields = withBody().flatMap((r) => fieldsOf(r, r.body!));
    expect(fields.length).toBeGreaterThan(100);
    await property(
      'wrong-type',
      fc.tuple(fc.constantFrom(...fields), anyJson),
      ([f, value]) => {
        const body = setAt(skeleton(f.route.body!), f.path, value);
        const invalid = !bodyValid(f.route, body);
        return {
          route: routeKey(f.route),
          method: f.route.method,
          target: goodPath(f.route),
          contentType: 'application/json',
          body: Buffer.from(JSON.stringify(body) ?? '', 'utf8'),
          who: 'admin',
          transport: 'inject',
          ...(invalid ? { expect: [400] } : {}),
        };
      },
      1500,
    );
  });

  it('hostile strings (SQL and shell metacharacters, unicode, very long) in every string field', async () => {
    const strings = withBody()
      .flatMap((r) => fieldsOf(r, r.body!))
      .filter((f) => {
        const t = unwrap(f.schema);
        return t.type === 'string' || (Array.isArray(t.type) && t.type.includes('string'));
      });
    expect(strings.length).toBeGreaterThan(40);
    await property(
      'hostile-strings',
      fc.tuple(fc.constantFrom(...strings), hostileText, fc.constantFrom<Who>('admin', 'admin', 'readonly', 'token')),
      ([f, s, who]) => ({
        route: routeKey(f.route),
        method: f.route.method,
        target: goodPath(f.route),
        contentType: 'application/json',
        body: Buffer.from(JSON.stringify(setAt(skeleton(f.route.body!), f.path, s)), 'utf8'),
        who,
        transport: 'inject',
      }),
      800,
    );
  });

  it('valid-looking bodies on unknown ids: 404 (or the 400 of a refused value), never a change', async () => {
    await property(
      'valid-looking',
      fc.tuple(fc.constantFrom(...withBody().filter((r) => r.params.length > 1)), fc.constantFrom<Who>('admin', 'token')),
      ([r, who]) => ({
        route: routeKey(r),
        method: r.method,
        target: goodPath(r),
        contentType: 'application/json',
        body: Buffer.from(JSON.stringify(skeleton(r.body!)), 'utf8'),
        who,
        transport: 'inject',
        expect: [400, 404],
      }),
      150,
    );
  });

  it('hostile path parameters (.., %2e%2e, %00, %ff, SQL and shell metacharacters, unicode, long) over a real socket', async () => {
    // Every route gets its share (not a random draw), so the coverage check below always holds.
    const arbOf = (r: RouteInfo) =>
      fc.tuple(
        fc.constant(r),
        fc.tuple(
          ...(r.params.length ? r.params : ['_']).map((n) =>
            n === 'project_id'
              ? fc.oneof({ weight: 3, arbitrary: fc.constant(PROJECT_ID) }, { weight: 1, arbitrary: rawSegment })
              : fc.oneof({ weight: 1, arbitrary: fc.constant(goodParam(n)) }, { weight: 4, arbitrary: rawSegment }),
          ),
        ),
        fc.constantFrom('', '', '', '/', '//', '/..', '/%2e%2e/', '/./', '?', '#frag', '/%00'),
        fc.constantFrom<Who>('admin', 'admin', 'admin', 'token', 'none', 'readonly'),
      );
    for (const route of routes) {
      await property(
        'path',
        arbOf(route),
        ([r, values, suffix, who]) => {
          const target = fillPath(r.path, Object.fromEntries(r.params.map((n, i) => [n, values[i]!]))) + suffix;
          const hasBody = r.method !== 'GET';
          return {
            route: routeKey(r),
            method: r.method,
            target,
            contentType: hasBody ? 'application/json' : null,
            ...(hasBody ? { body: Buffer.from('{}') } : {}),
            who,
            transport: 'socket',
          };
        },
        // at least 11 each: the coverage check below asks more than 10 of every route, and the SDK's
        // unsupported operations (D28) make the routes many
        Math.max(11, Math.ceil(1100 / routes.length)),
      );
    }
  });

  it('hostile query strings: wrong types, repeated keys, bad encoding, unknown keys', async () => {
    const value = fc.oneof(
      fc.integer().map(String),
      fc.constantFrom('', 'true', '-1', '0', '1.5', '1e400', '0x10', 'NaN', '[]', '{}', '%ff', '%00', '%', 'a&b=c', 'all_granted_eps'),
      rawSegment,
      hostileText.map(pct),
    );
    const arb = fc.tuple(
      fc.constantFrom(...routes.filter((r) => r.path.includes('{project_id}'))),
      fc.array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom(
              'enterprise_project_id',
              'limit',
              'offset',
              'sort_key',
              'sort_dir',
              'shrink_count',
              'check_item',
              'keep_last_manual_backup',
              'release_eip_type',
              'logical_cluster_name',
              '__proto__',
              'constructor',
              'x[y]',
              'a.b',
              '',
            ),
            fc.string({ maxLength: 6 }).map(pct),
          ),
          value,
        ),
        { minLength: 1, maxLength: 6 },
      ),
      fc.constantFrom<Who>('admin', 'admin', 'token', 'none'),
      fc.boolean(),
    );
    await property(
      'query',
      arb,
      ([r, pairs, who, socket]) => {
        const target = `${goodPath(r)}?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`;
        const hasBody = r.method !== 'GET';
        return {
          route: routeKey(r),
          method: r.method,
          target,
          contentType: hasBody ? 'application/json' : null,
          ...(hasBody ? { body: Buffer.from('{}') } : {}),
          who,
          transport: socket ? 'socket' : 'inject',
        };
      },
      500,
    );
  });

  it('odd content types (text/plain, multipart, none, application/json with odd parameters)', async () => {
    const arb = fc.tuple(
      fc.constantFrom(...routes.filter((r) => r.method !== 'GET')),
      fc.oneof(fc.constantFrom<string | null>(...ODD_TYPES, null), fc.string({ unit: 'grapheme-ascii', maxLength: 40 })),
      fc.oneof(
        fc.constant('{}'),
        fc.json({ maxDepth: 2 }),
        fc.constant('--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xyz--\r\n'),
        fc.constant('a=1&b=2'),
      ),
      fc.constantFrom<Who>('admin', 'admin', 'none'),
      fc.boolean(),
    );
    await property(
      'content-type',
      arb,
      ([r, ct, body, who, socket]) => ({
        route: routeKey(r),
        method: r.method,
        target: goodPath(r),
        contentType: ct,
        body: Buffer.from(body, 'utf8'),
        who,
        transport: socket ? 'socket' : 'inject',
      }),
      400,
    );
  });

  it('invalid UTF-8 byte sequences in the body (each a 400 once authenticated)', async () => {
    const BAD = [
      [0xff],
      [0xfe],
      [0xc0, 0xaf],
      [0xe0, 0x80, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xf8, 0x88, 0x80, 0x80, 0x80],
      [0xe2, 0x82],
      [0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xc3],
    ];
    const arb = fc.tuple(
      fc.constantFrom(...routes.filter((r) => r.body !== undefined && !r.path.startsWith('/v3/'))),
      fc.constantFrom(...BAD),
      fc.nat(),
      fc.constantFrom<Who>('admin', 'admin', 'token', 'none'),
    );
    await property(
      'utf8',
      arb,
      ([r, bad, at, who]) => {
        const json = Buffer.from(JSON.stringify(skeleton(r.body!)), 'utf8');
        // inside a string when there is one, else anywhere
        const quote = json.indexOf('"fuzz"');
        const pos = quote >= 0 ? quote + 1 : at % (json.length + 1);
        const body = Buffer.concat([json.subarray(0, pos), Buffer.from(bad), json.subarray(pos)]);
        return {
          route: routeKey(r),
          method: r.method,
          target: goodPath(r),
          contentType: 'application/json',
          body,
          who,
          transport: 'inject',
          ...(who === 'none' ? {} : { expect: [400], msg: /UTF-8/ }),
        };
      },
      300,
    );
  });

  it('callers that must not get in: unsigned, garbage signatures, another project, read-only (401/403, never further)', async () => {
    const garbage = fc.oneof(
      fc.constantFrom(
        '',
        'SDK-HMAC-SHA256',
        'Bearer x',
        `SDK-HMAC-SHA256 Access=${ADMIN.ak}, SignedHeaders=host;x-sdk-date, Signature=${'0'.repeat(64)}`,
        `SDK-HMAC-SHA256 Access=${ADMIN.ak}, SignedHeaders=${'a;'.repeat(3000)}x-sdk-date, Signature=00`,
        `SDK-HMAC-SHA256 ${' '.repeat(5000)}Access=x`,
        `SDK-HMAC-SHA256 Access=${"'".repeat(200)}, SignedHeaders=host, Signature=ab`,
        `SDK-HMAC-SHA256 Access=${ADMIN.ak},,,,SignedHeaders=host;x-sdk-date,Signature=${'f'.repeat(10000)}`,
      ),
      fc.string({ unit: 'grapheme-ascii', maxLength: 200 }),
      fc
        .tuple(
          fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
          fc.string({ unit: 'grapheme-ascii', maxLength: 50 }),
          fc.stringMatching(/^[0-9a-f]{0,80}$/),
        )
        .map(([ak, sh, sig]) => `SDK-HMAC-SHA256 Access=${ak}, SignedHeaders=${sh}, Signature=${sig}`),
    );
    const arb = fc.tuple(
      fc.constantFrom(...routes.filter((r) => r.path.includes('{project_id}'))),
      fc.constantFrom<Who>('none', 'garbage', 'other', 'readonly'),
      garbage,
    );
    await property(
      'auth',
      arb,
      ([r, who, g]) => {
        const hasBody = r.method !== 'GET';
        const mutating = r.method !== 'GET' && !/grow-check|table-restore-check|dms\/queries$/.test(r.path);
        const expected = who === 'none' || who === 'garbage' ? [401] : who === 'other' ? [403] : mutating ? [403] : undefined;
        return {
          route: routeKey(r),
          method: r.method,
          target: goodPath(r) + needsQuery(r),
          contentType: hasBody ? 'application/json' : null,
          ...(hasBody ? { body: Buffer.from('{}') } : {}),
          who,
          transport: 'inject',
          garbageAuth: g,
          ...(expected ? { expect: expected } : {}),
        };
      },
      400,
    );
  });

  it("headers near and over Node's 16 KiB limit (431 from the HTTP layer, in the DWS format), and odd header bytes", async () => {
    const arb = fc.tuple(
      fc.constantFrom(...routes.filter((r) => r.method === 'GET' && r.path.includes('{project_id}'))),
      fc.oneof(
        fc.integer({ min: 15_000, max: 16_400 }).map((n) => ({ kind: 'near', headers: [['X-Pad', 'a'.repeat(n)]] as [string, string][] })),
        fc.integer({ min: 16_400, max: 200_000 }).map((n) => ({ kind: 'over', headers: [['X-Pad', 'b'.repeat(n)]] as [string, string][] })),
        fc
          .integer({ min: 100, max: 2500 })
          .map((n) => ({ kind: 'many', headers: Array.from({ length: n }, (_, i) => [`X-H${i}`, 'v']) as [string, string][] })),
        fc
          .integer({ min: 8000, max: 40_000 })
          .map((n) => ({ kind: 'token', headers: [['X-Auth-Token', 't'.repeat(n)]] as [string, string][] })),
        fc
          .tuple(
            fc.constantFrom('X-Language', 'X-Sdk-Date', 'X-Project-Id', 'User-Agent', 'Accept', 'X-Forwarded-For'),
            fc.oneof(hostileText, fc.string({ unit: 'binary', maxLength: 30 })),
          )
          .map(([k, v]) => ({ kind: 'odd', headers: [[k, Buffer.from(v, 'utf8').toString('latin1')]] as [string, string][] })),
      ),
      fc.constantFrom<Who>('admin', 'none'),
    );
    await property(
      'headers',
      arb,
      ([r, x, who]) => ({
        route: routeKey(r),
        method: 'GET',
        target: goodPath(r) + needsQuery(r),
        contentType: null,
        headers: x.headers,
        who,
        transport: 'socket',
        ...(x.kind === 'over' ? { expect: [431] } : {}),
      }),
      150,
    );
  });

  it('huge bodies (over 1 MiB: 413) and deeply nested ones (100000 levels within the limit)', async () => {
    const deep = (n: number, kind: number): string => {
      switch (kind) {
        case 0:
          return '['.repeat(n) + ']'.repeat(n);
        case 1:
          return '{"a":'.repeat(n) + '1' + '}'.repeat(n);
        case 2:
          return `{"cluster":${'['.repeat(n)}${']'.repeat(n)}}`;
        default:
          return '['.repeat(n);
      }
    };
    const arb = fc.tuple(
      fc.constantFrom(...routes.filter((r) => r.method !== 'GET')),
      fc.oneof(
        fc.integer({ min: 1024 * 1024 + 1, max: 1024 * 1024 + 4096 }).map((n) => ({ huge: true, text: `{"a":"${'x'.repeat(n)}"}` })),
        fc
          .tuple(fc.integer({ min: 50_000, max: 100_000 }), fc.integer({ min: 0, max: 3 }))
          .map(([n, k]) => ({ huge: false, text: deep(n, k) })),
      ),
      fc.constantFrom<Who>('admin', 'none'),
      fc.boolean(),
    );
    await property(
      'huge-deep',
      arb,
      ([r, b, who, socket]) => ({
        route: routeKey(r),
        method: r.method,
        target: goodPath(r),
        contentType: 'application/json',
        body: Buffer.from(b.text),
        who,
        transport: socket ? 'socket' : 'inject',
        ...(b.huge ? { expect: [413] } : {}),
      }),
      60,
    );
  });

  it('malformed HTTP over a socket: bad request lines, smuggling shapes, broken chunking, unknown methods', async () => {
    const path = `/v1.0/${PROJECT_ID}/clusters`;
    const RAW = [
      `GET ${path}\r\n\r\n`,
      `GET ${path} HTTP/2.0\r\nHost: x\r\n\r\n`,
      `GET ${path} HTTP/1.1\r\n\r\n`,
      `G\u0000T ${path} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `FOO ${path} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n`,
      'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n',
      `GET http://evil.example${path} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET ${path} HTTP/1.1\r\nHost: x\r\nBadHeader\r\n\r\n`,
      `GET ${path} HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n`,
      `GET ${path} HTTP/1.1\r\nHo st: x\r\n\r\n`,
      `GET ${path} HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n`,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x`,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n`,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n`,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}GET / HTTP/1.1\r\n\r\n`,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}`,
      `GET ${path}?${'a=1&'.repeat(4000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /${'../'.repeat(50)}etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /console/${'..%2f'.repeat(20)}etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /docs/static/${'%2e%2e/'.repeat(20)}etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /console/%00 HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /console/..%00/..%00/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /\u00ff HTTP/1.1\r\nHost: x\r\n\r\n`,
      `\r\n\r\nGET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`,
      'HELLO\r\n\r\n',
      'GET\r\n\r\n',
      ' \r\n\r\n',
    ];
    await property(
      'http',
      fc.tuple(fc.constantFrom(...RAW), fc.constantFrom('', 'Connection: close\r\n')),
      ([raw, extra]) => {
        const text = raw.endsWith('\r\n\r\n') && extra ? raw.replace(/\r\n\r\n/, `\r\n${extra}\r\n`) : raw;
        return {
          route: 'HTTP',
          method: raw.split(' ')[0] ?? '',
          target: raw.split(' ')[1] ?? '',
          contentType: null,
          who: 'none',
          transport: 'socket',
          raw: Buffer.from(text, 'latin1'),
          mayClose: raw.startsWith('CONNECT '),
          // HTTP/1.1 without Host: Node's own empty 400 (requireHostHeader), before any handler
          lenient: / HTTP\/1\.1\r\n/.test(text) && !/\r\nHost:/i.test(text),
        };
      },
      120,
    );
  });

  it('every route got cases, the service still answers, and no process or state appeared', async () => {
    if (SCALE >= 1) for (const r of routes) expect(stats.byRoute.get(routeKey(r)) ?? 0, routeKey(r)).toBeGreaterThan(10);
    const res = await rawRequest(
      port,
      buildRequest('GET', '/healthz', [
        ['Host', HOST],
        ['Connection', 'close'],
      ]),
    );
    expect(res.status).toBe(200);
    expect(processesUnder(h.dataDir)).toEqual([]);
    expect(liveToolPids()).toEqual([]);
    expect(await h.svc.store.listClusters()).toEqual([]);
    expect(await h.svc.store.listAllTasks()).toEqual([]);
  });
});
