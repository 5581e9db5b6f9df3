/**
 * In-process API tests: a real service (createService, its own data directory and SQLite
 * store, started on port 0 so the readiness gate is open) driven through `app.inject`, with
 * a clock the test can move, and helpers to sign requests with our signer or the official
 * SDK's. `stop()` ends the service, stops (by PID) any postmaster left under its data
 * directory, and fails if a process of the test remains.
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { FastifyInstance, HTTPMethods, InjectOptions, LightMyRequestResponse } from 'fastify';
import { AKSKSigner } from '@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner.js';
import type { ICredential } from '@huaweicloud/huaweicloud-sdk-core/auth/ICredential.js';
import type { IHttpRequest } from '@huaweicloud/huaweicloud-sdk-core/http/IHttpRequest.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createService, type Service } from '../../src/main.js';
import { createLogger } from '../../src/log/logger.js';
import { systemClock, type Clock } from '../../src/domain/clock.js';
import { AuthService } from '../../src/auth/auth-service.js';
import { Secrets } from '../../src/auth/secrets.js';
import { signRequest } from '../../src/auth/signer.js';
import { killPostmastersUnder, processesUnder, removeDir, tempDir } from './env.js';
import { ACCESS_KEY, PROJECT_ID, SECRET_KEY, toolCommand, toolsLeftBehind } from './service.js';
import { stopAgentUnitsUnder, testEngineFlags } from './engine.js';

export { ACCESS_KEY, PROJECT_ID, SECRET_KEY };
export const HOST = 'dws.dwsbox.test';

/** The system clock, shifted by `offsetMs` (tests move time forward to expire things). */
export interface ShiftedClock extends Clock {
  offsetMs: number;
}
export function shiftedClock(): ShiftedClock {
  const c: ShiftedClock = {
    offsetMs: 0,
    now: () => Date.now() + c.offsetMs,
    sleep: (ms, signal) => systemClock.sleep(ms, signal),
  };
  return c;
}

export interface Creds {
  ak: string;
  sk: string;
}
export const ADMIN: Creds = { ak: ACCESS_KEY, sk: SECRET_KEY };

export interface CallOptions {
  /** a JSON-serializable body, or the exact bytes to send */
  body?: unknown;
  /** sent as is (e.g. malformed JSON); not serialized */
  raw?: string;
  headers?: Record<string, string>;
  /** sign with these (default: the bootstrap admin); null: send no credentials */
  creds?: Creds | null;
  /** sign as of this time (default: the service clock) */
  signedAt?: number;
  /** sign this instead of what is sent (to tamper after signing) */
  signAs?: { url?: string; body?: string };
  token?: string;
}

export interface ApiHarness {
  svc: Service;
  app: FastifyInstance;
  auth: AuthService;
  clock: ShiftedClock;
  config: Config;
  dataDir: string;
  /** inject a request, signed per `o`; every response is checked for X-Request-Id */
  call(method: string, path: string, o?: CallOptions): Promise<LightMyRequestResponse>;
  /** inject a request signed by the official SDK's AKSKSigner (as the SDK sends it) */
  sdkCall(
    method: string,
    path: string,
    o?: { query?: Record<string, string | string[]>; data?: unknown; headers?: Record<string, string>; creds?: Creds },
  ): Promise<LightMyRequestResponse>;
  stop(): Promise<void>;
}

/** `{project_id}` in paths stands for the bootstrap project. */
export const p = (path: string): string => path.replace('{project_id}', PROJECT_ID);

function checkRequestId(res: LightMyRequestResponse): void {
  const id = res.headers['x-request-id'];
  expect(typeof id, `X-Request-Id on ${res.statusCode} ${res.body.slice(0, 120)}`).toBe('string');
  expect(id as string).toMatch(/^[0-9a-f-]{36}$/);
}

export async function startApiService(o: { flags?: Record<string, unknown>; start?: boolean } = {}): Promise<ApiHarness> {
  const dataDir = tempDir('api');
  const config = loadConfig({
    env: {},
    flags: {
      dataDir,
      host: '127.0.0.1',
      port: 0,
      logLevel: 'debug',
      projectId: PROJECT_ID,
      accessKey: ACCESS_KEY,
      secretKey: SECRET_KEY,
      unsafeNoFsync: true,
      // API tests hardly start a node: no initdb pool filled in the background for each of them (the e2e helpers keep the default).
      initdbPool: 0,
      pollMs: 50,
      monitorIntervalMs: 500,
      shutdownTimeoutMs: 1000,
      leaseMs: 5000,
      // The faults API is off by default (fair shares, docs/security.md); the tests inject faults.
      enableTenantFaults: true,
      // DWSBOX_TEST_ENGINE: the engine of the clusters an API test starts (never the host's own agent).
      ...testEngineFlags(),
      ...o.flags,
    },
  });
  const clock = shiftedClock();
  const log = createLogger({ level: 'debug', destination: createWriteStream(join(dataDir, 'service.log'), { flags: 'a' }) });
  const svc = await createService(config, { log, clock });
  if (o.start !== false) await svc.start();
  // The same master key file as the service: credentials and users made here work there.
  const auth = new AuthService(
    svc.store,
    Secrets.load(config.masterKey, join(dataDir, 'master.key')),
    clock,
    log.scope({ component: 'test-auth' }),
  );
  const app = svc.app;

  const call = async (method: string, path: string, c: CallOptions = {}): Promise<LightMyRequestResponse> => {
    const payload = c.raw ?? (c.body === undefined ? undefined : JSON.stringify(c.body));
    const headers: Record<string, string> = {
      host: HOST,
      ...(payload !== undefined ? { 'content-type': 'application/json;charset=UTF-8' } : {}),
      ...c.headers,
    };
    if (c.token) headers['x-auth-token'] = c.token;
    const creds = c.creds === undefined ? (c.token ? null : ADMIN) : c.creds;
    if (creds) {
      const toSign = { method, url: c.signAs?.url ?? path, headers: { ...headers }, body: c.signAs?.body ?? payload, host: HOST };
      delete (toSign.headers as Record<string, string>)['host'];
      Object.assign(headers, signRequest(toSign, creds.ak, creds.sk, c.signedAt ?? clock.now()));
    }
    const req: InjectOptions = { method: method as HTTPMethods, url: path, headers, ...(payload !== undefined ? { payload } : {}) };
    const res = await app.inject(req);
    checkRequestId(res);
    return res;
  };

  const sdkCall: ApiHarness['sdkCall'] = async (method, path, s = {}) => {
    const creds = s.creds ?? ADMIN;
    const credential = { getAk: () => creds.ak, getSk: () => creds.sk } as unknown as ICredential;
    const query = s.query ?? {};
    const headers = { 'Content-Type': 'application/json;charset=UTF-8', 'X-Project-Id': PROJECT_ID, ...s.headers };
    const request: IHttpRequest = { method, endpoint: `https://${HOST}${path}`, headers, queryParams: query, data: s.data };
    const signed = AKSKSigner.sign(request, credential) as Record<string, string>;
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) for (const x of Array.isArray(v) ? v : [v]) qs.append(k, x);
    const url = path + (qs.size ? `?${qs.toString()}` : '');
    const req: InjectOptions = {
      method: method as HTTPMethods,
      url,
      headers: { ...signed, 'User-Agent': 'huaweicloud-usdk-nodejs/3.0' },
      ...(s.data !== undefined ? { payload: JSON.stringify(s.data) } : {}),
    };
    const res = await app.inject(req);
    checkRequestId(res);
    return res;
  };

  return {
    svc,
    app,
    auth,
    clock,
    config,
    dataDir,
    call,
    sdkCall,
    async stop() {
      await svc.stop();
      // Patroni members and routers outlive serve by design (D23): the clusters it left running are stopped here.
      if (config.engine === 'patroni') await stopAgentUnitsUnder(dataDir, config.agentDir);
      await killPostmastersUnder(dataDir);
      const left = processesUnder(dataDir);
      const tools = await toolsLeftBehind(dataDir);
      removeDir(dataDir);
      if (left.length || tools.length)
        throw new Error(`processes left behind: ${JSON.stringify(left)} tools: ${tools.map(toolCommand).join('; ')}`);
    },
  };
}

/** The response is a DWS error: exactly `{error_code, error_msg}`, with this status and code. */
export function expectError(
  res: LightMyRequestResponse,
  status: number,
  code: string,
  msg?: RegExp,
): { error_code: string; error_msg: string } {
  const body = res.json<Record<string, unknown>>();
  expect({ status: res.statusCode, body }).toMatchObject({ status, body: { error_code: code } });
  expect(Object.keys(body).sort()).toEqual(['error_code', 'error_msg']);
  expect(typeof body['error_msg']).toBe('string');
  expect((body['error_msg'] as string).length).toBeGreaterThan(0);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  if (msg) expect(body['error_msg']).toMatch(msg);
  return body as { error_code: string; error_msg: string };
}
