/**
 * Attacks on authentication and authorization (issue 6, design D9, D17), complementing
 * auth.test.ts (which covers the plain cases: no credentials, a malformed header, a date
 * 16 minutes off, a wrong secret, a swapped body or query value, another project on one route,
 * the read-only role on three routes, token expiry on a read). Here: a captured request
 * replayed after the window, signatures stretched over another body (including through
 * X-Sdk-Content-Sha256), query, path or method, another credential's secret, signed-header
 * lists that leave out x-sdk-date or host, another project's key and token on every route,
 * the read-only role on every mutating route (the route list read from the app), a key deleted
 * and a user deleted by the CLI while the service runs, an expired token on a mutating call.
 * Every refusal is 401 APIGW.0301 or 403 APIGW.0302 and changes nothing.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HTTPMethods, InjectOptions, LightMyRequestResponse } from 'fastify';
import { ALGORITHM, canonicalRequest, hmacHex, sdkDate, stringToSign } from '../../src/auth/signer.js';
import { ADMIN, expectError, HOST, p, PROJECT_ID, startApiService, type ApiHarness, type Creds } from '../helpers/api.js';
import { fillPath, servedRoutes } from '../helpers/routes.js';
import { dumpDiff, dumpStore } from '../helpers/store-dump.js';
import { cliEntry } from '../helpers/cli-entry.js';

const run = promisify(execFile);

let h: ApiHarness;
let readonly: Creds;
let otherProject: Creds;
const OTHER_PROJECT = 'e'.repeat(32);
const UNKNOWN = '00000000-0000-4000-8000-000000000000';
const MINUTE = 60_000;
const FAULTS = '/dwsbox/v1/{project_id}/faults';
const LIST = '/v1.0/{project_id}/clusters';
/** D17: the only non-GET routes a read-only caller may call (shrink-check is a GET): checks, and ListQueries, a read the SDK sends as a POST. */
const READONLY_ALLOWED = new Set([
  'POST /v2/{project_id}/clusters/{cluster_id}/grow-check',
  'POST /v1/{project_id}/snapshots/{snapshot_id}/table-restore-check',
  'POST /v2/{project_id}/clusters/{cluster_id}/dms/queries',
]);

beforeAll(async () => {
  h = await startApiService();
  const r = await h.auth.createCredential(PROJECT_ID, 'readonly');
  readonly = { ak: r.accessKey, sk: r.secretKey };
  const o = await h.auth.createCredential(OTHER_PROJECT, 'admin');
  otherProject = { ak: o.accessKey, sk: o.secretKey };
  await h.auth.createUser(PROJECT_ID, 'amy', 'Amy-Password-12', 'admin');
  await h.auth.createUser(PROJECT_ID, 'rob', 'Rob-Password-12', 'readonly');
  await h.auth.createUser(OTHER_PROJECT, 'olga', 'Olga-Password-12', 'admin');
});
afterAll(async () => {
  await h?.stop();
});

interface Signed {
  method: string;
  url: string;
  body?: string;
  creds?: Creds;
  /** sign as of this time (default: the service clock) */
  at?: number;
  headers?: Record<string, string>;
  /** the SignedHeaders list to use (default: every header sent, sorted, as the SDK does) */
  signedHeaders?: string[];
  /** sign this instead of what is sent */
  signAs?: { method?: string; url?: string; body?: string };
  /** headers added after signing (not in SignedHeaders) */
  unsigned?: Record<string, string>;
}

/** A request signed exactly as told: the bytes can be kept and sent again later. */
function signed(s: Signed): InjectOptions {
  const creds = s.creds ?? ADMIN;
  const date = sdkDate(s.at ?? h.clock.now());
  const headers: Record<string, string> = {
    host: HOST,
    ...(s.body !== undefined ? { 'content-type': 'application/json;charset=UTF-8' } : {}),
    ...s.headers,
    'x-sdk-date': date,
  };
  const names =
    s.signedHeaders ??
    Object.keys(headers)
      .map((k) => k.toLowerCase())
      .sort();
  const body = s.signAs?.body ?? s.body;
  const canonical = canonicalRequest({ method: s.signAs?.method ?? s.method, url: s.signAs?.url ?? s.url, headers, body }, names);
  const sig = hmacHex(creds.sk, stringToSign(date, canonical));
  return {
    method: s.method as HTTPMethods,
    url: s.url,
    headers: {
      ...headers,
      ...s.unsigned,
      authorization: `${ALGORITHM} Access=${creds.ak}, SignedHeaders=${names.join(';')}, Signature=${sig}`,
    },
    ...(s.body !== undefined ? { payload: s.body } : {}),
  };
}

const send = (o: InjectOptions): Promise<LightMyRequestResponse> => h.app.inject(o);
const faultCount = async (): Promise<number> => (await h.svc.store.adapter.db.selectFrom('faults').select('id').execute()).length;
const FAULT_BODY = JSON.stringify({ action_name: 'SNAPSHOTTING', step: 'BACKUP', mode: 'fail', times: 1 });

async function token(name: string, password: string): Promise<string> {
  const res = await h.call('POST', '/v3/auth/tokens', {
    creds: null,
    body: { auth: { identity: { methods: ['password'], password: { user: { name, password } } } } },
  });
  expect(res.statusCode).toBe(201);
  return res.headers['x-subject-token'] as string;
}

/** Run the real CLI (a second process on the same data directory, D1) while the service runs. */
async function cli(args: string[]): Promise<string> {
  const r = await run('node', [...cliEntry(), ...args, '--data-dir', h.dataDir], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: h.dataDir },
    timeout: 60_000,
  });
  return r.stdout;
}

describe('replay outside the 15-minute window', () => {
  it('a captured mutating request works once at T and is refused when replayed at T+16 min, creating nothing', async () => {
    const req = signed({ method: 'POST', url: p(FAULTS), body: FAULT_BODY });
    expect((await send(req)).statusCode).toBe(200);
    expect(await faultCount()).toBe(1);
    expect((await send(signed({ method: 'DELETE', url: p(FAULTS) }))).statusCode).toBe(200);
    h.clock.offsetMs = 16 * MINUTE;
    try {
      expectError(await send(req), 401, 'APIGW.0301', /15 minutes/);
      expect(await faultCount()).toBe(0);
    } finally {
      h.clock.offsetMs = 0;
    }
  });

  it('a captured read replays within the window (no nonce, as with APIG) but not after it, on every route kind', async () => {
    const reads = [signed({ method: 'GET', url: p(LIST) }), signed({ method: 'GET', url: p('/v2/{project_id}/node-types') })];
    for (const req of reads) {
      h.clock.offsetMs = 14 * MINUTE;
      try {
        expect((await send(req)).statusCode).toBe(200);
        h.clock.offsetMs = 15 * MINUTE + 1000;
        expectError(await send(req), 401, 'APIGW.0301', /15 minutes/);
      } finally {
        h.clock.offsetMs = 0;
      }
    }
  });
});

describe('a signature stretched over another request', () => {
  it('the same JSON re-formatted: the signature covers the bytes, not the meaning', async () => {
    expectError(
      await send(
        signed({ method: 'POST', url: p(FAULTS), body: JSON.stringify(JSON.parse(FAULT_BODY), null, 2), signAs: { body: FAULT_BODY } }),
      ),
      401,
      'APIGW.0301',
      /signature/,
    );
    expect(await faultCount()).toBe(0);
  });

  it('a body added to, or removed from, a signed request', async () => {
    const path = p(`/v1.0/{project_id}/clusters/${UNKNOWN}`);
    // signed with no body, sent with one
    expectError(
      await send(signed({ method: 'DELETE', url: path, body: '{"keep_last_manual_snapshot":5}', signAs: { body: '' } })),
      401,
      'APIGW.0301',
      /signature/,
    );
    // signed with a body, sent without
    const req = signed({ method: 'POST', url: p(FAULTS), body: FAULT_BODY });
    expectError(await send({ ...req, payload: '' }), 401, 'APIGW.0301', /signature/);
    expect(await faultCount()).toBe(0);
  });

  it('another body with X-Sdk-Content-Sha256 (unsigned) claiming the hash of the signed one', async () => {
    const other = JSON.stringify({ action_name: 'GROWING', step: '*', mode: 'fail' });
    const claimed = createHash('sha256').update(FAULT_BODY).digest('hex');
    expectError(
      await send(
        signed({
          method: 'POST',
          url: p(FAULTS),
          body: other,
          signAs: { body: FAULT_BODY },
          unsigned: { 'x-sdk-content-sha256': claimed },
        }),
      ),
      401,
      'APIGW.0301',
    );
    expect(await faultCount()).toBe(0);
  });

  it('another body under a signed X-Sdk-Content-Sha256 (the header is signed, the body is not the one it names)', async () => {
    const other = JSON.stringify({ action_name: 'GROWING', step: '*', mode: 'fail' });
    const claimed = createHash('sha256').update(FAULT_BODY).digest('hex');
    const res = await send(signed({ method: 'POST', url: p(FAULTS), body: other, headers: { 'x-sdk-content-sha256': claimed } }));
    expectError(res, 401, 'APIGW.0301', /X-Sdk-Content-Sha256/);
    // UNSIGNED-PAYLOAD with a body: dwsbox signs every body
    expectError(
      await send(signed({ method: 'POST', url: p(FAULTS), body: other, headers: { 'x-sdk-content-sha256': 'UNSIGNED-PAYLOAD' } })),
      401,
      'APIGW.0301',
      /X-Sdk-Content-Sha256/,
    );
    expect(await faultCount()).toBe(0);
    // the honest use of the header still works: the real hash, signed
    const honest = await send(signed({ method: 'POST', url: p(FAULTS), body: FAULT_BODY, headers: { 'x-sdk-content-sha256': claimed } }));
    expect(honest.statusCode).toBe(200);
    expect((await send(signed({ method: 'DELETE', url: p(FAULTS) }))).json()).toEqual({ deleted: 1 });
  });

  it('another query: the query dropped, or a key in another case', async () => {
    expectError(
      await send(signed({ method: 'GET', url: p(LIST), signAs: { url: `${p(LIST)}?enterprise_project_id=a` } })),
      401,
      'APIGW.0301',
      /signature/,
    );
    expectError(
      await send(
        signed({ method: 'GET', url: `${p(LIST)}?Enterprise_project_id=a`, signAs: { url: `${p(LIST)}?enterprise_project_id=a` } }),
      ),
      401,
      'APIGW.0301',
      /signature/,
    );
    expectError(
      await send(
        signed({
          method: 'DELETE',
          url: p(`/v2/{project_id}/clusters/${UNKNOWN}?keep_last_manual_backup=9`),
          signAs: { url: p(`/v2/{project_id}/clusters/${UNKNOWN}?keep_last_manual_backup=0`) },
        }),
      ),
      401,
      'APIGW.0301',
      /signature/,
    );
  });

  it('another path: another cluster, another project, or a path encoded differently', async () => {
    const a = p(`/v1.0/{project_id}/clusters/${UNKNOWN}`);
    const b = p('/v1.0/{project_id}/clusters/11111111-1111-4111-8111-111111111111');
    expectError(await send(signed({ method: 'DELETE', url: b, signAs: { url: a } })), 401, 'APIGW.0301', /signature/);
    expectError(
      await send(signed({ method: 'GET', url: `/v1.0/${OTHER_PROJECT}/clusters`, signAs: { url: p(LIST) } })),
      401,
      'APIGW.0301',
      /signature/,
    );
    expectError(
      await send(signed({ method: 'GET', url: p(LIST).replace('clusters', 'clu%73ters'), signAs: { url: p(LIST) } })),
      401,
      'APIGW.0301',
      /signature/,
    );
  });

  it('another method: a signed GET replayed as DELETE or POST', async () => {
    const path = p(`/v1.0/{project_id}/clusters/${UNKNOWN}`);
    expectError(await send(signed({ method: 'DELETE', url: path, signAs: { method: 'GET' } })), 401, 'APIGW.0301', /signature/);
    expectError(await send(signed({ method: 'DELETE', url: p(FAULTS), signAs: { method: 'GET' } })), 401, 'APIGW.0301', /signature/);
    expectError(
      await send(signed({ method: 'POST', url: p(`/v1.0/{project_id}/clusters/${UNKNOWN}/restart`), signAs: { method: 'GET' } })),
      401,
      'APIGW.0301',
      /signature/,
    );
  });
});

describe('the right access key with a wrong secret', () => {
  it("another real credential's secret, either way round (no borrowing of a role)", async () => {
    expectError(
      await send(signed({ method: 'GET', url: p(LIST), creds: { ak: ADMIN.ak, sk: readonly.sk } })),
      401,
      'APIGW.0301',
      /signature/,
    );
    expectError(
      await send(signed({ method: 'POST', url: p(FAULTS), body: FAULT_BODY, creds: { ak: readonly.ak, sk: ADMIN.sk } })),
      401,
      'APIGW.0301',
      /signature/,
    );
    expectError(
      await send(signed({ method: 'POST', url: p(FAULTS), body: FAULT_BODY, creds: { ak: ADMIN.ak, sk: otherProject.sk } })),
      401,
      'APIGW.0301',
      /signature/,
    );
    expectError(await send(signed({ method: 'GET', url: p(LIST), creds: { ak: ADMIN.ak, sk: '' } })), 401, 'APIGW.0301', /signature/);
    expect(await faultCount()).toBe(0);
  });
});

describe('the signed-header list', () => {
  it('leaving out x-sdk-date (the date could then be changed at will): 401', async () => {
    expectError(await send(signed({ method: 'GET', url: p(LIST), signedHeaders: ['host'] })), 401, 'APIGW.0301', /x-sdk-date/);
    expectError(
      await send(signed({ method: 'POST', url: p(FAULTS), body: FAULT_BODY, signedHeaders: ['content-type', 'host'] })),
      401,
      'APIGW.0301',
      /x-sdk-date/,
    );
  });

  it('leaving out host (the request could be sent to another endpoint): 401', async () => {
    expectError(await send(signed({ method: 'GET', url: p(LIST), signedHeaders: ['x-sdk-date'] })), 401, 'APIGW.0301', /host/);
    expectError(
      await send(signed({ method: 'POST', url: p(FAULTS), body: FAULT_BODY, signedHeaders: ['content-type', 'x-sdk-date'] })),
      401,
      'APIGW.0301',
      /host/,
    );
    expect(await faultCount()).toBe(0);
  });

  it("(control: the SDK's list, and the minimal host;x-sdk-date, are accepted)", async () => {
    expect((await send(signed({ method: 'GET', url: p(LIST) }))).statusCode).toBe(200);
    expect((await send(signed({ method: 'GET', url: p(LIST), signedHeaders: ['host', 'x-sdk-date'] }))).statusCode).toBe(200);
  });
});

/** Every route whose path has {project_id}, filled with the project, a task name and unknown ids (every other parameter). */
function projectRoutes(): { method: string; path: string; url: string }[] {
  return servedRoutes(h.app)
    .filter((r) => r.path.includes('{project_id}'))
    .map((r) => ({
      ...r,
      url: fillPath(r.path, {
        // the SDK operations dwsbox does not serve (routes/unsupported.ts, D28) name many more parameters
        ...Object.fromEntries([...r.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => [m[1]!, UNKNOWN])),
        project_id: PROJECT_ID,
        action_name: 'SNAPSHOTTING',
      }),
    }));
}

describe("another project's credential on every route of this project: 403, never 401 or 404", () => {
  it('its AK/SK, correctly signed', async () => {
    const routes = projectRoutes();
    expect(routes.length).toBeGreaterThan(40);
    const before = await dumpStore(h.svc.store);
    for (const r of routes) {
      const res = await send(
        signed({
          method: r.method,
          url: r.url,
          creds: otherProject,
          ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { body: '{}' }),
        }),
      );
      expectError(res, 403, 'APIGW.0302', /another project/);
    }
    expect(dumpDiff(before, await dumpStore(h.svc.store))).toBe('');
  });

  it('a token issued to a user of the other project', async () => {
    const t = await token('olga', 'Olga-Password-12');
    expect((await h.call('GET', `/v1.0/${OTHER_PROJECT}/clusters`, { token: t })).statusCode).toBe(200);
    const before = await dumpStore(h.svc.store);
    for (const r of projectRoutes()) {
      const res = await h.call(r.method, r.url, { token: t, ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { body: {} }) });
      expectError(res, 403, 'APIGW.0302', /another project/);
    }
    expect(dumpDiff(before, await dumpStore(h.svc.store))).toBe('');
  });
});

describe('the read-only role on every mutating route (D17)', () => {
  const mutating = (): { method: string; path: string; url: string }[] =>
    projectRoutes().filter((r) => ['POST', 'PUT', 'DELETE', 'PATCH'].includes(r.method));

  it('the app has the mutating routes this test expects to see (the list is read from the app)', () => {
    const m = mutating();
    expect(m.length).toBeGreaterThan(30);
    for (const allowed of READONLY_ALLOWED) expect(m.map((r) => `${r.method} ${r.path}`)).toContain(allowed);
    // the only non-GET route without {project_id} is the public token issuer
    expect(
      servedRoutes(h.app)
        .filter((r) => r.method !== 'GET' && !r.path.includes('{project_id}'))
        .map((r) => `${r.method} ${r.path}`),
    ).toEqual(['POST /v3/auth/tokens']);
  });

  for (const who of ['AK/SK', 'token'] as const) {
    it(`a read-only ${who}: 403 APIGW.0302 on each, except grow-check, table-restore-check and ListQueries; nothing changes`, async () => {
      const t = who === 'token' ? await token('rob', 'Rob-Password-12') : '';
      const before = await dumpStore(h.svc.store);
      const refused: string[] = [];
      for (const r of mutating()) {
        const body = r.method === 'DELETE' ? undefined : '{}';
        const res =
          who === 'token'
            ? await h.call(r.method, r.url, { token: t, ...(body ? { raw: body } : {}) })
            : await send(signed({ method: r.method, url: r.url, creds: readonly, ...(body ? { body } : {}) }));
        const key = `${r.method} ${r.path}`;
        if (READONLY_ALLOWED.has(key)) {
          // allowed: it gets past authorization, to validation (an empty body) or to the unknown id
          expect(res.statusCode, `${key}: ${res.body}`).not.toBe(403);
          expect(res.statusCode, `${key}: ${res.body}`).not.toBe(401);
          expect([400, 404]).toContain(res.statusCode);
        } else {
          expectError(res, 403, 'APIGW.0302', /read-only/);
          refused.push(key);
        }
      }
      expect(refused.length).toBe(mutating().length - READONLY_ALLOWED.size);
      expect(dumpDiff(before, await dumpStore(h.svc.store))).toBe('');
    });
  }

  it('the allowed checks answer a read-only caller for real (unknown cluster and snapshot: 404 with their DWS codes)', async () => {
    const grow = await send(
      signed({
        method: 'POST',
        url: p(`/v2/{project_id}/clusters/${UNKNOWN}/grow-check`),
        creds: readonly,
        body: JSON.stringify({ scale_out: { count: 1 } }),
      }),
    );
    expectError(grow, 404, 'DWS.0047');
    const check = await send(
      signed({
        method: 'POST',
        url: p(`/v1/{project_id}/snapshots/${UNKNOWN}/table-restore-check`),
        creds: readonly,
        body: JSON.stringify({
          case_sensitive: true,
          database: 'db',
          restore_table_list: [{ schema_name: 'public', table_name: 't' }],
          target_table_list: [{ schema_name: 'public', table_name: 't2' }],
        }),
      }),
    );
    expectError(check, 404, 'DWS.5149');
    const shrink = await send(
      signed({ method: 'GET', url: p(`/v1/{project_id}/clusters/${UNKNOWN}/shrink-check?shrink_count=1`), creds: readonly }),
    );
    expectError(shrink, 404, 'DWS.0047');
  });

  it('and every GET of the project is open to it (never 403)', async () => {
    for (const r of projectRoutes().filter((x) => x.method === 'GET')) {
      const url = r.path.endsWith('/shrink-check') ? `${r.url}?shrink_count=1` : r.url;
      const res = await send(signed({ method: 'GET', url, creds: readonly }));
      expect([200, 400, 404], `${r.path}: ${res.statusCode} ${res.body}`).toContain(res.statusCode);
    }
  });
});

describe('credentials and users removed while the service runs', () => {
  it('a key deleted with `dwsbox credentials delete`: its next request is 401', async () => {
    const c = await h.auth.createCredential(PROJECT_ID, 'admin', undefined, undefined, 'to be deleted');
    const creds = { ak: c.accessKey, sk: c.secretKey };
    expect((await send(signed({ method: 'GET', url: p(LIST), creds }))).statusCode).toBe(200);
    // a request signed before the delete, sent after it
    const captured = signed({ method: 'POST', url: p(FAULTS), body: FAULT_BODY, creds });
    expect(await cli(['credentials', 'delete', c.accessKey])).toContain(c.accessKey);
    expectError(await send(signed({ method: 'GET', url: p(LIST), creds })), 401, 'APIGW.0301', /unknown access key/);
    expectError(await send(captured), 401, 'APIGW.0301', /unknown access key/);
    expect(await faultCount()).toBe(0);
    // the other keys are untouched
    expect((await send(signed({ method: 'GET', url: p(LIST) }))).statusCode).toBe(200);
  });

  it('a token after its user is deleted with `dwsbox users delete`: 401', async () => {
    await h.auth.createUser(PROJECT_ID, 'dora', 'Dora-Password-12', 'admin');
    const t = await token('dora', 'Dora-Password-12');
    expect((await h.call('GET', p(LIST), { token: t })).statusCode).toBe(200);
    expect(await cli(['users', 'delete', 'dora'])).toContain('dora');
    expectError(await h.call('GET', p(LIST), { token: t }), 401, 'APIGW.0301', /invalid token/);
    expectError(await h.call('POST', p(FAULTS), { token: t, raw: FAULT_BODY }), 401, 'APIGW.0301');
    expect(await faultCount()).toBe(0);
    // and the user cannot get a new one
    const res = await h.call('POST', '/v3/auth/tokens', {
      creds: null,
      body: { auth: { identity: { methods: ['password'], password: { user: { name: 'dora', password: 'Dora-Password-12' } } } } },
    });
    expectError(res, 401, 'APIGW.0301');
  });
});

describe('an expired token', () => {
  it('an admin token one second past its 24 hours: 401 on a mutating call (not 403, not 404), and nothing is created', async () => {
    const t = await token('amy', 'Amy-Password-12');
    expect((await h.call('POST', p(`/v1.0/{project_id}/clusters/${UNKNOWN}/restart`), { token: t })).statusCode).toBe(404);
    h.clock.offsetMs = 24 * 3600_000 + 1000;
    try {
      expectError(await h.call('POST', p(FAULTS), { token: t, raw: FAULT_BODY }), 401, 'APIGW.0301', /expired/);
      expectError(await h.call('DELETE', p(`/v1.0/{project_id}/clusters/${UNKNOWN}`), { token: t }), 401, 'APIGW.0301', /expired/);
      expect(await faultCount()).toBe(0);
    } finally {
      h.clock.offsetMs = 0;
    }
  });
});
