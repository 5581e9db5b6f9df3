/**
 * Operating dwsbox: metrics, readiness, logs without secrets, bad configuration, doctor and
 * metadata backups, on a real service with a real cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  ACCESS_KEY,
  ADMIN_PASSWORD,
  PROJECT_ID,
  SECRET_KEY,
  createAvailableCluster,
  startService,
  waitIdle,
  type TestService,
} from '../helpers/service.js';
import { AuthService } from '../../src/auth/auth-service.js';
import { Secrets } from '../../src/auth/secrets.js';
import { systemClock } from '../../src/domain/clock.js';
import { createLogger } from '../../src/log/logger.js';
import { freePort, processesUnder, testAgentDir, waitFor } from '../helpers/env.js';
import { startPgServer } from '../helpers/pg-server.js';
import { TestAgentClient, testEngine } from '../helpers/engine.js';
import { memberUnit } from '../../src/dataplane/patroni/ha-cluster.js';
import { cliEntry } from '../helpers/cli-entry.js';

const run = promisify(execFile);
const CLI = cliEntry();
const NEW_PASSWORD = 'Rotated-Pass-987';

let t: TestService;
let clusterId: string;
/** Basic credentials of an operator key pair: /metrics on the API's address needs one to see every series (docs/security.md). */
let operator = '';

beforeAll(async () => {
  t = await startService();
  clusterId = (await createAvailableCluster(t.client)).id;
  const auth = new AuthService(
    t.svc.store,
    Secrets.load(t.config.masterKey, join(t.dataDir, 'master.key')),
    systemClock,
    createLogger({ level: 'warn' }),
  );
  const op = await auth.createCredential(PROJECT_ID, 'operator');
  operator = `Basic ${Buffer.from(`${op.accessKey}:${op.secretKey}`).toString('base64')}`;
});
afterAll(async () => {
  await t?.stop();
});

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('node', [...CLI, ...args], { env: { ...process.env, ...env }, timeout: 120_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('metrics', () => {
  it('serves Prometheus text with requests, tasks, nodes, lag, store latency and process figures', async () => {
    expect((await fetch(`${t.endpoint}/metrics`)).status).toBe(401);
    const scrape = (): Promise<Response> => fetch(`${t.endpoint}/metrics`, { headers: { authorization: operator } });
    await waitFor(async () => (await scrape().then((r) => r.text())).includes('dwsbox_replication_lag_bytes{'), { what: 'a lag sample' });
    const res = await scrape();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/dwsbox_http_requests_total\{route="\/v1\.0\/:project_id\/clusters\/:cluster_id",method="GET",status="200"\} \d+/);
    expect(text).toMatch(/dwsbox_http_request_duration_seconds_bucket\{/);
    expect(text).toMatch(/dwsbox_tasks_finished_total\{action="CREATING",status="SUCCESS"\} 1/);
    expect(text).toMatch(/dwsbox_task_duration_seconds_count\{action="CREATING",status="SUCCESS"\} 1/);
    expect(text).toMatch(/dwsbox_task_step_duration_seconds_count\{action="CREATING",step="BUILD_STANDBY",status="SUCCESS"\} 2/);
    expect(text).toMatch(/dwsbox_tasks\{state="running"\} \d+/);
    expect((text.match(new RegExp(`dwsbox_node_up\\{cluster_id="${clusterId}"[^}]*\\} 1`, 'g')) ?? []).length).toBe(3);
    expect(text).toMatch(
      new RegExp(`dwsbox_replication_lag_bytes\\{cluster_id="${clusterId}",node="2",project_id="${PROJECT_ID}"\\} \\d+`),
    );
    expect(text).toMatch(/dwsbox_store_query_duration_seconds_count \d+/);
    expect(text).toMatch(/dwsbox_repository_size_bytes \d+/);
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
    expect(text).toMatch(/nodejs_eventloop_lag_seconds \d/);
  });

  it('can be served on a separate address only', async () => {
    const port = await freePort();
    const s = await startService({ flags: { metricsHost: '127.0.0.1', metricsPort: port } });
    try {
      expect((await fetch(`${s.endpoint}/metrics`)).status).toBe(404);
      const m = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(m.status).toBe(200);
      expect(await m.text()).toMatch(/dwsbox_http_requests_total/);
    } finally {
      await s.stop();
    }
  });
});

describe('health', () => {
  it('/healthz and /readyz answer; with the PostgreSQL store down, /readyz and the API answer 503', async () => {
    expect((await fetch(`${t.endpoint}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.endpoint}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: Record<string, string> }).checks['binaries']).toMatch(/postgres 15/);

    const pgs = await startPgServer('opsstore');
    const s = await startService({ flags: { store: pgs.urlForSchema(await pgs.createSchema('ops')) } });
    try {
      expect((await fetch(`${s.endpoint}/readyz`)).status).toBe(200);
      await pgs.stop();
      const r = await fetch(`${s.endpoint}/readyz`);
      expect(r.status).toBe(503);
      expect(((await r.json()) as { reason: string }).reason).toMatch(/store is unreachable/);
      const api = await s.client.request<{ error_code: string }>('GET', '/v1.0/{project_id}/clusters');
      expect(api.status).toBe(503);
      expect(api.body.error_code).toMatch(/^DWS\./);
    } finally {
      await s.stop();
      await pgs.stop().catch(() => {});
    }
  });
});

describe('configuration', () => {
  it('a bad value stops start-up with a message naming the setting and the value', async () => {
    const r = await cli(['serve', '--port', 'eighty', '--data-dir', join(t.dataDir, 'unused')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid value "eighty" for setting port \(flag --port\)/);
    const e = await cli(['serve', '--data-dir', join(t.dataDir, 'unused')], { DWSBOX_TASK_CONCURRENCY: '0' });
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/setting taskConcurrency \(environment DWSBOX_TASK_CONCURRENCY\)/);
  });
});

describe('diagnostics and metadata backups', () => {
  it('doctor finds nothing wrong, then reports a dead node with its fix', async () => {
    const ok = await cli(['doctor', '--json', '--data-dir', t.dataDir]);
    const findings = JSON.parse(ok.stdout) as { check: string; ok: boolean; detail: string; fix?: string }[];
    expect(findings.filter((f) => !f.ok && f.check !== 'free space')).toEqual([]);
    expect(findings.some((f) => /node 3/.test(f.check) && /running/.test(f.detail))).toBe(true);
    const pm = processesUnder(`${clusterId}/node3/data`).find((p) => /postgres -D/.test(p.cmd))!;
    if (testEngine() === 'local') process.kill(pm.pid, 'SIGKILL');
    else {
      // Patroni starts a killed postmaster again at once: node 3 dies with its Patroni, whose unit
      // the host agent stops (it stops its PostgreSQL, and the agent no longer restarts it).
      const agent = new TestAgentClient(testAgentDir());
      await agent.stopUnit(memberUnit(`dws-${clusterId}`, 3)).finally(() => agent.close());
    }
    await waitFor(async () => !processesUnder(`${clusterId}/node3/data`).some((p) => /postgres -D/.test(p.cmd)), { what: 'node 3 to die' });
    const bad = await cli(['doctor', '--json', '--data-dir', t.dataDir]);
    expect(bad.code).toBe(1);
    const dead = (JSON.parse(bad.stdout) as { check: string; ok: boolean; fix?: string }[]).find((f) => /node 3/.test(f.check))!;
    expect(dead.ok).toBe(false);
    expect(dead.fix).toMatch(/restart/);
    // On Patroni the health monitor may have started a repair of node 3 (REPAIRING): the restart waits for it.
    await waitFor(
      async () => {
        await waitIdle(t.client, clusterId);
        const r = await t.client.request('POST', `/v1.0/{project_id}/clusters/${clusterId}/restart`);
        if (r.status >= 300 && r.status !== 409) throw new Error(`restart: ${r.status} ${JSON.stringify(r.body)}`);
        return r.status < 300;
      },
      { what: 'the restart accepted', timeoutMs: 240_000, intervalMs: 500 },
    );
    expect((await waitIdle(t.client, clusterId)).status).toBe('AVAILABLE');
  });

  it('store backup works while the service runs; store restore refuses to run under it', async () => {
    const file = join(t.dataDir, 'store-backup.sqlite');
    const b = await cli(['store', 'backup', file, '--data-dir', t.dataDir]);
    expect(b.code).toBe(0);
    const db = new BetterSqlite3(file, { readonly: true });
    try {
      expect((db.prepare('select name from clusters where id = ?').get(clusterId) as { name: string }).name).toBeTruthy();
    } finally {
      db.close();
    }
    const r = await cli(['store', 'restore', file, '--data-dir', t.dataDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/stop it before restoring/);
  });
});

describe('logs', () => {
  it('never contain the secret key, passwords or tokens of a full run', async () => {
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${clusterId}/reset-password`, { new_password: NEW_PASSWORD });
    const snap = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'log-check', cluster_id: clusterId },
    });
    await waitFor(
      async () =>
        (await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${snap.snapshot.id}`)).snapshot
          .status === 'AVAILABLE',
      { what: 'snapshot' },
    );
    await t.client.request('POST', '/v1.0/{project_id}/clusters', {
      cluster: { name: 'badpw', user_pwd: 'Leaky-Secret-42', user_name: 'dbadmin' },
    });
    const log = readFileSync(t.logFile, 'utf8');
    expect(log.length).toBeGreaterThan(10_000);
    expect(log).toMatch(/"msg":"request"/);
    expect(log).toMatch(/"step":"BACKUP"/);
    for (const secret of [SECRET_KEY, ADMIN_PASSWORD, NEW_PASSWORD, 'Leaky-Secret-42'])
      expect(log.includes(secret), `log contains ${secret}`).toBe(false);
    // The access key is an identifier, not a secret: it may appear; the master key never.
    expect(log.includes(readFileSync(join(t.dataDir, 'master.key'), 'utf8').trim())).toBe(false);
    void ACCESS_KEY;
  });
});
