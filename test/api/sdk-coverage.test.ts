/**
 * D28: every operation of the official DWS v2 SDK (test/fixtures/dws-v2-operations.tsv, read
 * from the SDK's DwsClient.ts) has a route. Each is sent once, signed, with well-formed values
 * for its path parameters (unknown ids): none answers 404 APIGW.0101; the unsupported ones
 * (src/api/routes/unsupported.ts) answer 400 DWS.9901 naming the operation, after the same
 * authentication and authorization as every route (401 without credentials, 403 for another
 * project or a read-only role on a mutating one); and docs/api.md has a row for each, with its
 * state. One service for the file, every request through inject; no cluster is started.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, expectError, PROJECT_ID, startApiService, type ApiHarness, type Creds } from '../helpers/api.js';
import { UNSUPPORTED_OPERATIONS } from '../../src/api/routes/unsupported.js';

const UNKNOWN = '00000000-0000-4000-8000-000000000000';
const OTHER_PROJECT = 'f'.repeat(32);

interface SdkOperation {
  name: string;
  method: string;
  path: string;
}

const FIXTURE = readFileSync(new URL('../fixtures/dws-v2-operations.tsv', import.meta.url), 'utf8');
const OPERATIONS: SdkOperation[] = FIXTURE.split('\n')
  .filter((l) => l !== '' && !l.startsWith('#'))
  .map((l) => {
    const [name, method, path] = l.split('\t');
    return { name: name!, method: method!, path: path! };
  });
const UNSUPPORTED = new Map(UNSUPPORTED_OPERATIONS.map((o) => [o.name, o]));
const DOC = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');

/** The path with its placeholders filled: this project, a task name where one is asked, else an unknown UUID. */
function url(op: SdkOperation, projectId = PROJECT_ID): string {
  return op.path.replace(/\{([a-z_]+)\}/g, (_, name: string) =>
    name === 'project_id' ? projectId : name === 'action_name' ? 'SNAPSHOTTING' : UNKNOWN,
  );
}
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const what = (op: SdkOperation): RegExp => new RegExp(`^${escape(`${op.name} (${op.method} ${op.path}) is not supported by dwsbox: `)}`);

let h: ApiHarness;
let readonly: Creds;
let other: Creds;

beforeAll(async () => {
  h = await startApiService();
  const r = await h.auth.createCredential(PROJECT_ID, 'readonly');
  readonly = { ak: r.accessKey, sk: r.secretKey };
  const o = await h.auth.createCredential(OTHER_PROJECT, 'admin');
  other = { ak: o.accessKey, sk: o.secretKey };
});
afterAll(async () => {
  await h?.stop();
});

const send = (op: SdkOperation, creds: Creds | null = ADMIN, projectId = PROJECT_ID) =>
  h.call(op.method, url(op, projectId), { creds, ...(op.method === 'GET' || op.method === 'DELETE' ? {} : { body: {} }) });

describe('the vendored SDK operation list', () => {
  it('is the whole client: 198 operations, each once, from a named SDK commit', () => {
    expect(FIXTURE.split('\n')[0]).toMatch(/^# .*huaweicloud-sdk-nodejs-v3 .*DwsClient\.ts at commit [0-9a-f]{40}/);
    expect(OPERATIONS).toHaveLength(198);
    expect(new Set(OPERATIONS.map((o) => o.name)).size).toBe(198);
    expect(new Set(OPERATIONS.map((o) => `${o.method} ${o.path}`)).size).toBe(198);
    for (const o of OPERATIONS) {
      expect(o.name, JSON.stringify(o)).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(['GET', 'POST', 'PUT', 'DELETE']).toContain(o.method);
      expect(o.path, o.name).toMatch(/^\/v[0-9.]+\/\{project_id\}\//);
    }
  });

  it("the unsupported table names only SDK operations, with the SDK's method and path", () => {
    const byName = new Map(OPERATIONS.map((o) => [o.name, o]));
    for (const u of UNSUPPORTED_OPERATIONS) {
      expect(byName.get(u.name), u.name).toEqual({ name: u.name, method: u.method, path: u.path });
      expect(u.why.length, u.name).toBeGreaterThan(20);
    }
    expect(UNSUPPORTED.size).toBe(UNSUPPORTED_OPERATIONS.length);
  });
});

describe('every SDK operation has a route (D28)', () => {
  it('signed, with well-formed values: never 404 APIGW.0101; the unsupported ones 400 DWS.9901 naming the operation', async () => {
    const real: string[] = [];
    for (const op of OPERATIONS) {
      const res = await send(op);
      const key = `${op.method} ${op.path}`;
      const body = res.json<{ error_code?: string; error_msg?: string }>();
      expect(body.error_code, `${key}: ${res.body}`).not.toBe('APIGW.0101');
      expect(res.statusCode, `${key}: ${res.body}`).toBeLessThan(500);
      if (UNSUPPORTED.has(op.name)) {
        expectError(res, 400, 'DWS.9901', what(op));
        expect(body.error_msg).toContain(UNSUPPORTED.get(op.name)!.why);
      } else {
        // a real route: whatever it answers to unknown ids and an empty body, not "not supported" for the operation itself
        expect(body.error_msg ?? '', key).not.toMatch(what(op));
        real.push(op.name);
      }
    }
    expect(real.length + UNSUPPORTED.size).toBe(OPERATIONS.length);
    expect(real.length).toBeGreaterThan(30);
  });

  it('an unsupported operation authenticates first: no credentials 401, another project 403, a read-only role 403 on a mutating one', async () => {
    const unsupported = OPERATIONS.filter((o) => UNSUPPORTED.has(o.name));
    for (const op of unsupported) {
      expectError(await send(op, null), 401, 'APIGW.0301');
      expectError(await send(op, other), 403, 'APIGW.0302', /another project/);
      if (op.method === 'GET') expectError(await send(op, readonly), 400, 'DWS.9901', what(op));
      else expectError(await send(op, readonly), 403, 'APIGW.0302', /read-only/);
    }
    // and the other project's credential on its own project gets the same refusal as ours
    expectError(await send(unsupported[0]!, other, OTHER_PROJECT), 400, 'DWS.9901', what(unsupported[0]!));
  });
});

describe('docs/api.md lists every SDK operation with its state', () => {
  const rows = new Map<string, string[]>();
  for (const line of DOC.split('\n')) {
    const m = /^\| ([A-Z][A-Za-z0-9]+) \| ([A-Z]+) \| `([^`]+)` \| (.*) \|$/.exec(line);
    if (m) rows.set(m[1]!, [m[2]!, m[3]!, m[4]!]);
  }

  it('one row per operation, the same method and path, and no other', () => {
    expect([...rows.keys()].sort()).toEqual(OPERATIONS.map((o) => o.name).sort());
    for (const op of OPERATIONS) expect(rows.get(op.name)?.slice(0, 2), op.name).toEqual([op.method, op.path]);
  });

  it("the state: not supported with the route's reason, else real or partial (regenerate with npx tsx scripts/gen-sdk-operations-doc.ts)", () => {
    for (const op of OPERATIONS) {
      const state = rows.get(op.name)![2]!;
      const u = UNSUPPORTED.get(op.name);
      if (u) expect(state, op.name).toBe(`not supported (${u.planned ? 'planned' : 'no local meaning'}): ${u.why.replace(/\|/g, '\\|')}`);
      else expect(state, op.name).toMatch(/^(real|partial: .+|real: .+)$/);
    }
  });
});
