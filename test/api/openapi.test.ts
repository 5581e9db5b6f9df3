/**
 * The OpenAPI document lists every route the service serves (the route schemas are its only
 * source), and the readiness gate: nothing but the public routes answers before start().
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ADMIN, expectError, p, startApiService, type ApiHarness } from '../helpers/api.js';

/** Routes served but deliberately left out of the document (the document itself, the docs UI, metrics, the web console's pages). */
const UNDOCUMENTED = [/^GET \/openapi\.json$/, /^GET \/metrics$/, /^GET \/docs(\/.*)?$/, /^GET \/console(\/?\*)?$/];

/** Every method and path the app serves, from Fastify's route tree (HEAD, added automatically for GET, left out). */
function servedRoutes(app: FastifyInstance): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + m[2]!;
    stack.push(path);
    for (const method of (m[3] ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x && x !== 'HEAD')) {
      out.push(`${method} ${path.replace(/:([a-z_]+)/g, '{$1}')}`);
    }
  }
  return [...new Set(out)].sort();
}

describe('GET /openapi.json', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiService();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('is public, OpenAPI 3, and lists every route the service serves', async () => {
    const res = await h.call('GET', '/openapi.json', { creds: null });
    expect(res.statusCode).toBe(200);
    const doc = res.json<{
      openapi: string;
      paths: Record<string, Record<string, { summary?: string; responses?: Record<string, unknown> }>>;
    }>();
    expect(doc.openapi).toMatch(/^3\./);
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const served = servedRoutes(h.app).filter((r) => !UNDOCUMENTED.some((re) => re.test(r)));
    // sanity: the route tree was read (a parser returning nothing must not pass)
    expect(served.length).toBeGreaterThan(30);
    expect(documented).toEqual(served);
  });

  it('includes the DWS operations real clients call', async () => {
    const doc = (await h.call('GET', '/openapi.json', { creds: null })).json<{ paths: Record<string, Record<string, unknown>> }>();
    const has = (method: string, path: string): boolean => doc.paths[path]?.[method] !== undefined;
    for (const [method, path] of [
      ['post', '/v1.0/{project_id}/clusters'],
      ['post', '/v2/{project_id}/clusters'],
      ['get', '/v1.0/{project_id}/clusters'],
      ['get', '/v1.0/{project_id}/clusters/{cluster_id}'],
      ['delete', '/v1.0/{project_id}/clusters/{cluster_id}'],
      ['delete', '/v2/{project_id}/clusters/{cluster_id}'],
      ['post', '/v1.0/{project_id}/clusters/{cluster_id}/restart'],
      ['post', '/v1.0/{project_id}/clusters/{cluster_id}/reset-password'],
      ['get', '/v2/{project_id}/node-types'],
      ['get', '/v1/{project_id}/clusters/{cluster_id}/actions/{action_name}'],
      ['get', '/v1.0/{project_id}/job/{job_id}'],
      ['post', '/v3/auth/tokens'],
    ] as const)
      expect(has(method, path), `${method} ${path}`).toBe(true);
  });

  it('every documented operation has a summary, and every authenticated one documents the DWS error body', async () => {
    const doc = (await h.call('GET', '/openapi.json', { creds: null })).json<{
      paths: Record<string, Record<string, { summary?: string; responses?: Record<string, unknown> }>>;
    }>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.summary, `${method} ${path}`).toBeTruthy();
        if (path.includes('{project_id}')) {
          for (const status of ['400', '401', '403', '404']) expect(op.responses?.[status], `${method} ${path} ${status}`).toBeDefined();
        }
      }
    }
  });

  it('the parser of the route tree sees nested routes', () => {
    const served = servedRoutes(h.app);
    expect(served).toContain('GET /v1.0/{project_id}/clusters/{cluster_id}');
    expect(served).toContain('POST /v1.0/{project_id}/clusters/{cluster_id}/restart');
    expect(served).toContain('DELETE /dwsbox/v1/{project_id}/faults/{fault_id}');
    expect(served).not.toContain('HEAD /healthz');
  });
});

describe('readiness gate', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiService({ start: false });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('before start(): API routes answer 503 DWS.9503 (with a request id); health and docs are public', async () => {
    expectError(await h.call('GET', p('/v1.0/{project_id}/clusters')), 503, 'DWS.9503', /starting or stopping/);
    expectError(await h.call('POST', p('/v1.0/{project_id}/clusters'), { body: { cluster: {} } }), 503, 'DWS.9503');
    expect((await h.call('GET', '/healthz', { creds: null })).json()).toEqual({ status: 'ok' });
    const ready = await h.call('GET', '/readyz', { creds: null });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ status: 'unavailable' });
    expect((await h.call('GET', '/openapi.json', { creds: null })).statusCode).toBe(200);
  });

  it('after start(): ready, and the API answers', async () => {
    await h.svc.start();
    const ready = await h.call('GET', '/readyz', { creds: null });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', checks: { store: 'ok' } });
    expect((await h.call('GET', p('/v1.0/{project_id}/clusters'), { creds: ADMIN })).statusCode).toBe(200);
  });
});
