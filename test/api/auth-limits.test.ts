/**
 * The back-off for failed authentication (issue 12, src/auth/throttle.ts), in process with
 * small limits and a first block of a minute (so no test depends on how fast it runs): free
 * failures answer 401, the next one starts a block, and while it lasts every request of that
 * user name, access key or address is refused with 429 APIGW.0308 and Retry-After, before
 * any check (the right password included), changing nothing. A success clears the user's
 * (or key's) count; an unknown user name is counted like a known one. Each test speaks from
 * its own source address (inject's remoteAddress), so their address counts stay apart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { signRequest } from '../../src/auth/signer.js';
import { expectError, HOST, p, PROJECT_ID, startApiService, type ApiHarness, type Creds } from '../helpers/api.js';
import { dumpDiff, dumpStore } from '../helpers/store-dump.js';
import { waitFor } from '../helpers/env.js';

let h: ApiHarness;
const FREE_USER = 3;
const FREE_ADDRESS = 6;
const FREE_KEY = 3;
const FREE_SIG_ADDRESS = 8;
const LIST = '/v1.0/{project_id}/clusters';

beforeAll(async () => {
  h = await startApiService({
    flags: {
      loginFailuresPerUser: FREE_USER,
      loginFailuresPerAddress: FREE_ADDRESS,
      signatureFailuresPerKey: FREE_KEY,
      signatureFailuresPerAddress: FREE_SIG_ADDRESS,
      authBlockFirstMs: 60_000,
      authBlockMaxMs: 600_000,
    },
  });
  for (const name of ['amy', 'ben', 'cid', 'dora']) await h.auth.createUser(PROJECT_ID, name, `${name}-Password-1`, 'admin');
});
afterAll(async () => {
  await h?.stop();
});

const tokenBody = (name: string, password: string) => ({
  auth: { identity: { methods: ['password'], password: { user: { name, password } } }, scope: { project: { id: PROJECT_ID } } },
});

/** POST /v3/auth/tokens from `address`. */
function signIn(name: string, password: string, address: string): Promise<LightMyRequestResponse> {
  return h.app.inject({
    method: 'POST',
    url: '/v3/auth/tokens',
    remoteAddress: address,
    headers: { host: HOST, 'content-type': 'application/json' },
    payload: JSON.stringify(tokenBody(name, password)),
  });
}

/** GET the cluster list signed with `creds` (or with a wrong secret), from `address`. */
function signed(creds: Creds, address: string): Promise<LightMyRequestResponse> {
  const headers = signRequest({ method: 'GET', url: p(LIST), headers: {}, body: undefined, host: HOST }, creds.ak, creds.sk, h.clock.now());
  return h.app.inject({ method: 'GET', url: p(LIST), remoteAddress: address, headers: { host: HOST, ...headers } });
}

/** 429 APIGW.0308 with a whole number of seconds in Retry-After, within the block's length. */
function expectThrottled(res: LightMyRequestResponse, what: RegExp): number {
  expectError(res, 429, 'APIGW.0308', what);
  const retry = Number(res.headers['retry-after']);
  expect(Number.isInteger(retry)).toBe(true);
  expect(retry).toBeGreaterThanOrEqual(1);
  expect(retry).toBeLessThanOrEqual(600);
  expect(res.json<{ error_msg: string }>().error_msg).toContain(`Retry after ${retry} s`);
  return retry;
}

describe('POST /v3/auth/tokens', () => {
  it('wrong passwords for one user name: free ones 401, then 429 with Retry-After, even for the right password; nothing stored', async () => {
    const from = '127.0.0.11';
    for (let i = 0; i <= FREE_USER; i++)
      expectError(await signIn('amy', 'wrong-Password-1', from), 401, 'APIGW.0301', /wrong user name or password/);
    const before = await dumpStore(h.svc.store);
    const retry = expectThrottled(await signIn('amy', 'wrong-Password-2', from), /too many failed sign-ins/);
    expect(retry).toBeGreaterThan(30);
    // blocked: the right password is not even checked, and no token is made
    expectThrottled(await signIn('amy', 'amy-Password-1', from), /too many failed sign-ins/);
    // the block is the user name's: from another address too
    expectThrottled(await signIn('amy', 'amy-Password-1', '127.0.0.12'), /throttling threshold/);
    expect(dumpDiff(before, await dumpStore(h.svc.store))).toBe('');
    // another user from the same address is not blocked (its address has failures to spare)
    expect((await signIn('ben', 'ben-Password-1', from)).statusCode).toBe(201);
    // the block is logged for the operator
    await waitFor(async () => readFileSync(join(h.dataDir, 'service.log'), 'utf8').includes('authentication back-off'), {
      what: 'the back-off log line',
    });
  });

  it("a successful sign-in clears the user's count", async () => {
    const from = '127.0.0.13';
    for (let i = 0; i < FREE_USER; i++) expectError(await signIn('cid', 'wrong-Password-1', from), 401, 'APIGW.0301');
    expect((await signIn('cid', 'cid-Password-1', from)).statusCode).toBe(201);
    for (let i = 0; i < FREE_USER; i++) expectError(await signIn('cid', 'wrong-Password-1', '127.0.0.14'), 401, 'APIGW.0301');
    expect((await signIn('cid', 'cid-Password-1', '127.0.0.14')).statusCode).toBe(201);
  });

  it('an unknown user name is answered and throttled exactly like a known one', async () => {
    const from = '127.0.0.15';
    const known: string[] = [];
    const unknown: string[] = [];
    for (let i = 0; i <= FREE_USER + 1; i++) {
      const k = await signIn('dora', 'wrong-Password-1', from);
      const u = await signIn('nobody-here', 'wrong-Password-1', '127.0.0.16');
      known.push(
        `${k.statusCode} ${k.json<{ error_code: string; error_msg: string }>().error_code} ${k.json<{ error_msg: string }>().error_msg.replace(/\d+ s\./, 'N s.')}`,
      );
      unknown.push(
        `${u.statusCode} ${u.json<{ error_code: string; error_msg: string }>().error_code} ${u.json<{ error_msg: string }>().error_msg.replace(/\d+ s\./, 'N s.')}`,
      );
    }
    expect(unknown).toEqual(known);
    expect(known.at(-1)).toMatch(/^429 APIGW\.0308/);
  });

  it('wrong sign-ins from one address, whatever the user name: past its free failures the address is blocked, for every user', async () => {
    const from = '127.0.0.17';
    for (let i = 0; i <= FREE_ADDRESS; i++) expectError(await signIn(`spray-${i}`, 'wrong-Password-1', from), 401, 'APIGW.0301');
    expectThrottled(await signIn('ben', 'ben-Password-1', from), /from this address/);
    // the same user from another address: fine
    expect((await signIn('ben', 'ben-Password-1', '127.0.0.18')).statusCode).toBe(201);
  });
});

describe('AK/SK signatures', () => {
  it('wrong signatures for one access key: free ones 401, then 429 even correctly signed; a success before clears the count', async () => {
    const c = await h.auth.createCredential(PROJECT_ID, 'admin');
    const good: Creds = { ak: c.accessKey, sk: c.secretKey };
    const bad: Creds = { ak: c.accessKey, sk: `${c.secretKey}x` };
    for (let i = 0; i < FREE_KEY; i++) expectError(await signed(bad, '127.0.0.21'), 401, 'APIGW.0301', /signature mismatch/);
    expect((await signed(good, '127.0.0.21')).statusCode).toBe(200);
    for (let i = 0; i <= FREE_KEY; i++) expectError(await signed(bad, '127.0.0.22'), 401, 'APIGW.0301', /signature mismatch/);
    expectThrottled(await signed(good, '127.0.0.23'), /failed signatures for this access key/);
    // another key is not blocked
    const other = await h.auth.createCredential(PROJECT_ID, 'readonly');
    expect((await signed({ ak: other.accessKey, sk: other.secretKey }, '127.0.0.22')).statusCode).toBe(200);
  });

  it('unknown access keys and wrong signatures from one address: past its free failures the address is blocked', async () => {
    const from = '127.0.0.24';
    for (let i = 0; i <= FREE_SIG_ADDRESS; i++)
      expectError(
        await signed({ ak: `UNKNOWNKEY${String(i).padStart(4, '0')}`, sk: 'whatever-secret-1' }, from),
        401,
        'APIGW.0301',
        /unknown access key/,
      );
    const c = await h.auth.createCredential(PROJECT_ID, 'readonly');
    expectThrottled(await signed({ ak: c.accessKey, sk: c.secretKey }, from), /from this address/);
    expect((await signed({ ak: c.accessKey, sk: c.secretKey }, '127.0.0.25')).statusCode).toBe(200);
  });
});

describe('bearer tokens and Basic credentials', () => {
  it('a token works as Authorization: Bearer on any route; Basic is refused outside /metrics', async () => {
    const t = await signIn('ben', 'ben-Password-1', '127.0.0.31');
    const token = t.headers['x-subject-token'] as string;
    const ok = await h.app.inject({ method: 'GET', url: p(LIST), headers: { host: HOST, authorization: `Bearer ${token}` } });
    expect(ok.statusCode).toBe(200);
    expectError(
      await h.app.inject({ method: 'GET', url: p(LIST), headers: { host: HOST, authorization: 'Bearer not-a-token' } }),
      401,
      'APIGW.0301',
      /invalid token/,
    );
    const basic = Buffer.from(`${'A'.repeat(20)}:secret`).toString('base64');
    expectError(
      await h.app.inject({ method: 'GET', url: p(LIST), headers: { host: HOST, authorization: `Basic ${basic}` } }),
      401,
      'APIGW.0301',
      /only on \/metrics/,
    );
  });
});
