/**
 * Authentication and tenancy through the HTTP edge (design D9, D17): AK/SK signatures as the
 * official SDK makes them, X-Auth-Token tokens from POST /v3/auth/tokens, 401 APIGW.0301 for
 * every failure to authenticate, 403 APIGW.0302 for another project or a read-only role.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkDate, signRequest } from '../../src/auth/signer.js';
import { ADMIN, expectError, HOST, p, PROJECT_ID, startApiService, type ApiHarness, type Creds } from '../helpers/api.js';

let h: ApiHarness;
let readonly: Creds;
let otherProject: Creds;
const OTHER_PROJECT = 'f'.repeat(32);

beforeAll(async () => {
  h = await startApiService();
  const r = await h.auth.createCredential(PROJECT_ID, 'readonly');
  readonly = { ak: r.accessKey, sk: r.secretKey };
  const o = await h.auth.createCredential(OTHER_PROJECT, 'admin');
  otherProject = { ak: o.accessKey, sk: o.secretKey };
});
afterAll(async () => {
  await h?.stop();
});

const LIST = '/v1.0/{project_id}/clusters';
const MINUTE = 60_000;

describe('AK/SK signatures', () => {
  it('a request signed by the official SDK is accepted', async () => {
    const res = await h.sdkCall('GET', p(LIST));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ clusters: [], count: 0 });
  });

  it('an SDK-signed request with a query and a JSON body is accepted (its signature covers both)', async () => {
    const res = await h.sdkCall('GET', p(LIST), { query: { enterprise_project_id: 'all_granted_eps' } });
    expect(res.statusCode).toBe(200);
    // a body and a query on a mutating route: the signature verifies, then the handler answers 404 for the unknown cluster
    const del = await h.sdkCall('DELETE', p('/v1.0/{project_id}/clusters/00000000-0000-4000-8000-000000000000'), {
      data: { keep_last_manual_snapshot: 0 },
    });
    expectError(del, 404, 'DWS.0047');
  });

  it('our own signer is accepted', async () => {
    expect((await h.call('GET', p(LIST))).statusCode).toBe(200);
  });

  it('no credentials: 401 APIGW.0301', async () => {
    expectError(await h.call('GET', p(LIST), { creds: null }), 401, 'APIGW.0301', /no credentials/);
  });

  it('a malformed Authorization header: 401', async () => {
    for (const authz of [
      'Basic',
      'SDK-HMAC-SHA256 Access=AK',
      `SDK-HMAC-SHA256 Access=${ADMIN.ak}, SignedHeaders=host;x-sdk-date, Signature=not-hex`,
    ]) {
      const res = await h.call('GET', p(LIST), { creds: null, headers: { authorization: authz, 'x-sdk-date': sdkDate(Date.now()) } });
      expectError(res, 401, 'APIGW.0301', /malformed/);
    }
  });

  it('a missing or malformed X-Sdk-Date: 401', async () => {
    const signed = signRequest({ method: 'GET', url: p(LIST), headers: {}, body: undefined, host: HOST }, ADMIN.ak, ADMIN.sk);
    expectError(
      await h.app.inject({ method: 'GET', url: p(LIST), headers: { host: HOST, authorization: signed['Authorization']! } }),
      401,
      'APIGW.0301',
      /X-Sdk-Date/,
    );
    expectError(
      await h.app.inject({
        method: 'GET',
        url: p(LIST),
        headers: { host: HOST, authorization: signed['Authorization']!, 'x-sdk-date': '2024-04-16T09:53:41Z' },
      }),
      401,
      'APIGW.0301',
      /X-Sdk-Date/,
    );
  });

  it('an X-Sdk-Date more than 15 minutes from the server time: 401, either way', async () => {
    const now = h.clock.now();
    expectError(await h.call('GET', p(LIST), { signedAt: now - 16 * MINUTE }), 401, 'APIGW.0301', /15 minutes/);
    expectError(await h.call('GET', p(LIST), { signedAt: now + 16 * MINUTE }), 401, 'APIGW.0301', /15 minutes/);
    // within the window is fine
    expect((await h.call('GET', p(LIST), { signedAt: now - 14 * MINUTE })).statusCode).toBe(200);
    expect((await h.call('GET', p(LIST), { signedAt: now + 14 * MINUTE })).statusCode).toBe(200);
  });

  it('a wrong signature (wrong secret key): 401', async () => {
    expectError(await h.call('GET', p(LIST), { creds: { ak: ADMIN.ak, sk: `${ADMIN.sk}-wrong` } }), 401, 'APIGW.0301', /signature/);
  });

  it('an unknown access key: 401', async () => {
    expectError(
      await h.call('GET', p(LIST), { creds: { ak: 'UNKNOWNACCESSKEY0001', sk: ADMIN.sk } }),
      401,
      'APIGW.0301',
      /unknown access key/,
    );
  });

  it('a signature over a different body is refused, and the request does nothing', async () => {
    const path = p('/dwsbox/v1/{project_id}/faults');
    const signedBody = JSON.stringify({ action_name: 'SNAPSHOTTING', step: 'BACKUP', mode: 'fail' });
    const sentBody = JSON.stringify({ action_name: 'GROWING', step: 'COPY_DATA', mode: 'fail' });
    expectError(await h.call('POST', path, { raw: sentBody, signAs: { body: signedBody } }), 401, 'APIGW.0301', /signature/);
    const faults = await h.call('GET', path);
    expect(faults.json()).toEqual({ faults: [], count: 0 });
  });

  it('a signature over a different query is refused', async () => {
    expectError(
      await h.call('GET', `${p(LIST)}?enterprise_project_id=b`, { signAs: { url: `${p(LIST)}?enterprise_project_id=a` } }),
      401,
      'APIGW.0301',
      /signature/,
    );
    expectError(
      await h.call('GET', `${p(LIST)}?enterprise_project_id=a&x=1`, { signAs: { url: `${p(LIST)}?enterprise_project_id=a` } }),
      401,
      'APIGW.0301',
    );
  });

  it('a signature for another path is refused', async () => {
    expectError(await h.call('GET', p('/v2/{project_id}/clusters'), { signAs: { url: p(LIST) } }), 401, 'APIGW.0301', /signature/);
  });

  it('a malformed JSON body of an unauthenticated request is a 401, not a parse error', async () => {
    expectError(await h.call('POST', p(LIST), { raw: '{"cluster":', creds: null }), 401, 'APIGW.0301');
  });
});

describe('authorization (403 APIGW.0302)', () => {
  it('a credential of another project: 403, never 401 or 404', async () => {
    expectError(await h.call('GET', p(LIST), { creds: otherProject }), 403, 'APIGW.0302', /another project/);
    expectError(
      await h.call('GET', p('/v1.0/{project_id}/clusters/00000000-0000-4000-8000-000000000000'), { creds: otherProject }),
      403,
      'APIGW.0302',
    );
    // it works on its own project
    expect((await h.call('GET', `/v1.0/${OTHER_PROJECT}/clusters`, { creds: otherProject })).statusCode).toBe(200);
  });

  it('a read-only credential reads, but may not POST or DELETE', async () => {
    expect((await h.call('GET', p(LIST), { creds: readonly })).statusCode).toBe(200);
    expect((await h.call('GET', p('/v2/{project_id}/node-types'), { creds: readonly })).statusCode).toBe(200);
    const id = '00000000-0000-4000-8000-000000000000';
    expectError(
      await h.call('POST', p(`/v1.0/{project_id}/clusters/${id}/restart`), { creds: readonly, body: { restart: {} } }),
      403,
      'APIGW.0302',
      /read-only/,
    );
    expectError(await h.call('DELETE', p(`/v1.0/{project_id}/clusters/${id}`), { creds: readonly }), 403, 'APIGW.0302', /read-only/);
    expectError(
      await h.call('POST', p('/dwsbox/v1/{project_id}/faults'), {
        creds: readonly,
        body: { action_name: 'SNAPSHOTTING', step: 'BACKUP', mode: 'fail' },
      }),
      403,
      'APIGW.0302',
    );
    expect((await h.call('GET', p('/dwsbox/v1/{project_id}/faults'))).json()).toMatchObject({ count: 0 });
  });
});

describe('tokens (POST /v3/auth/tokens, X-Auth-Token)', () => {
  const tokenBody = (name: string, password: string, project?: { id?: string; name?: string }) => ({
    auth: {
      identity: { methods: ['password'], password: { user: { name, password, domain: { name: 'acct' } } } },
      ...(project ? { scope: { project } } : {}),
    },
  });
  let adminToken = '';

  beforeAll(async () => {
    await h.auth.createUser(PROJECT_ID, 'alice', 'Alice-Password-1', 'admin');
    await h.auth.createUser(PROJECT_ID, 'rita', 'Rita-Password-1', 'readonly');
    await h.auth.createUser(OTHER_PROJECT, 'oscar', 'Oscar-Password-1', 'admin');
  });

  it('issues a token in X-Subject-Token, with a Keystone-style body', async () => {
    const res = await h.call('POST', '/v3/auth/tokens', { creds: null, body: tokenBody('alice', 'Alice-Password-1', { id: PROJECT_ID }) });
    expect(res.statusCode).toBe(201);
    adminToken = res.headers['x-subject-token'] as string;
    expect(adminToken).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const t = res.json<{
      token: { expires_at: string; issued_at: string; project: { id: string }; user: { name: string }; roles: { name: string }[] };
    }>().token;
    expect(t.project.id).toBe(PROJECT_ID);
    expect(t.user.name).toBe('alice');
    expect(Date.parse(t.expires_at) - Date.parse(t.issued_at)).toBe(24 * 3600_000);
    expect(res.body).not.toContain(adminToken);
  });

  it('the token authenticates reads and writes of its project', async () => {
    expect((await h.call('GET', p(LIST), { token: adminToken })).statusCode).toBe(200);
    // a mutating call gets past authorization (then 404 for the unknown cluster)
    expectError(
      await h.call('POST', p('/v1.0/{project_id}/clusters/00000000-0000-4000-8000-000000000000/restart'), { token: adminToken }),
      404,
      'DWS.0047',
    );
    expectError(await h.call('GET', `/v1.0/${OTHER_PROJECT}/clusters`, { token: adminToken }), 403, 'APIGW.0302');
  });

  it("a read-only user's token reads but does not mutate", async () => {
    const res = await h.call('POST', '/v3/auth/tokens', { creds: null, body: tokenBody('rita', 'Rita-Password-1') });
    expect(res.statusCode).toBe(201);
    const token = res.headers['x-subject-token'] as string;
    expect((await h.call('GET', p(LIST), { token })).statusCode).toBe(200);
    expectError(
      await h.call('POST', p('/v1.0/{project_id}/clusters/00000000-0000-4000-8000-000000000000/restart'), { token }),
      403,
      'APIGW.0302',
    );
  });

  it('a wrong password or unknown user: 401, and no token', async () => {
    for (const body of [tokenBody('alice', 'Alice-Password-2'), tokenBody('nobody', 'Alice-Password-1')]) {
      const res = await h.call('POST', '/v3/auth/tokens', { creds: null, body });
      expectError(res, 401, 'APIGW.0301', /wrong user name or password/);
      expect(res.headers['x-subject-token']).toBeUndefined();
    }
  });

  it('a scope naming another project: 403', async () => {
    expectError(
      await h.call('POST', '/v3/auth/tokens', { creds: null, body: tokenBody('alice', 'Alice-Password-1', { id: OTHER_PROJECT }) }),
      403,
      'APIGW.0302',
    );
    expectError(
      await h.call('POST', '/v3/auth/tokens', { creds: null, body: tokenBody('oscar', 'Oscar-Password-1', { name: PROJECT_ID }) }),
      403,
      'APIGW.0302',
    );
  });

  it('an unknown or malformed token: 401', async () => {
    expectError(await h.call('GET', p(LIST), { token: 'not-a-token-we-issued' }), 401, 'APIGW.0301', /invalid token/);
    expectError(await h.call('GET', p(LIST), { token: 'x'.repeat(600) }), 401, 'APIGW.0301', /malformed token/);
  });

  it('a token expires after 24 hours: 401', async () => {
    const res = await h.call('POST', '/v3/auth/tokens', { creds: null, body: tokenBody('alice', 'Alice-Password-1') });
    const token = res.headers['x-subject-token'] as string;
    expect((await h.call('GET', p(LIST), { token })).statusCode).toBe(200);
    h.clock.offsetMs += 24 * 3600_000 - 60_000;
    try {
      expect((await h.call('GET', p(LIST), { token })).statusCode).toBe(200);
      h.clock.offsetMs += 60_000;
      expectError(await h.call('GET', p(LIST), { token }), 401, 'APIGW.0301', /expired/);
      expectError(await h.call('GET', p(LIST), { token: adminToken }), 401, 'APIGW.0301', /expired|invalid/);
    } finally {
      h.clock.offsetMs = 0;
    }
  });
});

describe('every response carries a request id', () => {
  it('distinct per request, on success and on every kind of error', async () => {
    const responses = [
      await h.call('GET', p(LIST)),
      await h.call('GET', p(LIST), { creds: null }),
      await h.call('GET', p(LIST), { creds: otherProject }),
      await h.call('GET', '/no/such/route', { creds: null }),
      await h.app.inject({ method: 'GET', url: '/healthz' }),
    ];
    const ids = responses.map((r) => r.headers['x-request-id']);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
