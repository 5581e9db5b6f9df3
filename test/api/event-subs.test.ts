/**
 * Event specs and subscriptions with real delivery (D26, issue 17) through the API: receivers
 * are HTTP servers this test starts on 127.0.0.1 (free ports); events are recorded through the
 * service's own recording path (a real create task failed at its first step by a fault, and the
 * health monitor's event functions through recordEvent). Deliveries arrive signed (the HMAC is
 * verified here with the secret CreateEventSub returned once), in order; a receiver answering
 * 500 gets the event again and the state shows the error meanwhile; a receiver that is down
 * keeps the events pending and gets them in order when it comes back; a disabled subscription
 * gets nothing; filters; a redirect is not followed; refused endpoints change nothing.
 * No timed assertions: every wait polls for a state, with a generous bound.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ACCESS_KEY, ADMIN, expectError, p, PROJECT_ID, SECRET_KEY, startApiService, type ApiHarness, type Creds } from '../helpers/api.js';
import { runApiCommand } from '../../src/cli/commands/api.js';
import { ADMIN_PASSWORD, SUBNET, VPC } from '../helpers/service.js';
import { freePort } from '../helpers/env.js';
import { makeCluster, makeNode } from '../helpers/records.js';
import { dumpStore } from '../helpers/store-dump.js';
import { failoverEvent, memberDownEvent, memberUpEvent, readOnlyEvent, recordEvent } from '../../src/services/events.js';
import { createLogger } from '../../src/log/logger.js';
import type { ClusterRecord } from '../../src/domain/records.js';

interface Delivery {
  headers: IncomingMessage['headers'];
  body: string;
  json: {
    subscription_id: string;
    sequence: number;
    attempt: number;
    event: { event_id: string; name: string; severity: string; source_id: string; category: string; description: string };
  };
}

/** A receiver: records every POST; answers what `answer` says (default 200). */
class Receiver {
  readonly got: Delivery[] = [];
  answer: (d: Delivery, res: ServerResponse) => void = (_d, res) => res.writeHead(200).end('ok');
  private server: Server | null = null;
  constructor(readonly port: number) {}
  static async start(port?: number): Promise<Receiver> {
    const r = new Receiver(port ?? (await freePort()));
    await r.listen();
    return r;
  }
  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const d: Delivery = { headers: req.headers, body, json: JSON.parse(body) as Delivery['json'] };
        this.got.push(d);
        this.answer(d, res);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }
  names(): string[] {
    return this.got.map((d) => d.json.event.name);
  }
  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

interface WireSub {
  id: string;
  name: string;
  enable: number;
  severity: string;
  source_id: string;
  category: string;
  notification_target: string;
  notification_target_type: string;
  secret?: string;
  delivery: {
    pending: number;
    last_delivered_event_id: string | null;
    failed_attempts: number;
    last_error: string | null;
    next_attempt_at: number | null;
  };
}

let h: ApiHarness;
const log = createLogger({ level: 'silent' });
const receivers: Receiver[] = [];
let c1: ClusterRecord;
let c2: ClusterRecord;
let seq = 0;
const OTHER_PROJECT = 'f'.repeat(32);
let other: Creds;

async function until(test: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function receiver(port?: number): Promise<Receiver> {
  const r = await Receiver.start(port);
  receivers.push(r);
  return r;
}

let subN = 0;
async function createSub(body: Record<string, unknown>, creds: Creds = ADMIN, project = PROJECT_ID): Promise<WireSub> {
  const target = String(body['notification_target']);
  const res = await h.sdkCall('POST', `/v2/${project}/event-subs`, {
    data: {
      name: `sub-${++subN}`,
      notification_target_name: 'hook',
      notification_target_type: target.startsWith('https') ? 'HTTPS' : 'HTTP',
      ...body,
    },
    creds,
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<WireSub>();
}

async function listSubs(creds: Creds = ADMIN, project = PROJECT_ID): Promise<{ event_subscriptions: WireSub[]; count: number }> {
  const res = await h.sdkCall('GET', `/v2/${project}/event-subs`, { query: { offset: '0', limit: '100' }, creds });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}
async function subState(id: string): Promise<WireSub> {
  const s = (await listSubs()).event_subscriptions.find((x) => x.id === id);
  if (!s) throw new Error(`no subscription ${id}`);
  return s;
}

/** Record one event of `kind` on cluster `c` through the service's recording path; its id. */
async function emit(c: ClusterRecord, kind: 'member_down' | 'member_up' | 'failover' | 'read_only_on'): Promise<void> {
  const n = ++seq;
  const node = makeNode(c, 2, { updatedAt: n, role: 'standby' });
  const now = Date.now() + n;
  const e =
    kind === 'member_down'
      ? memberDownEvent(c, node, now)
      : kind === 'member_up'
        ? memberUpEvent(c, node, now)
        : kind === 'failover'
          ? failoverEvent(c, node, 1000 + n, now)
          : readOnlyEvent(c, 'on', 95, 90, now + 1_000_000 * n);
  expect(await recordEvent(h.svc.store, log, e)).toBe(true);
}

function verify(d: Delivery, secret: string): void {
  const ts = d.headers['x-dwsbox-timestamp'] as string;
  expect(ts).toMatch(/^\d+$/);
  const want = createHmac('sha256', secret).update(`${ts}.${d.body}`).digest('hex');
  expect(d.headers['x-dwsbox-signature']).toBe(`sha256=${want}`);
  expect(d.headers['x-dwsbox-event-id']).toBe(d.json.event.event_id);
  expect(d.headers['content-type']).toBe('application/json');
}

beforeAll(async () => {
  h = await startApiService({
    // the receivers run on 127.0.0.1: loopback endpoints allowed by the operator
    flags: {
      eventEndpointsPrivate: true,
      eventDeliveryIntervalMs: 50,
      eventRetryBaseMs: 50,
      eventRetryMaxMs: 200,
      eventDeliveryTimeoutMs: 3000,
    },
  });
  const x = await h.auth.createCredential(OTHER_PROJECT, 'admin');
  other = { ak: x.accessKey, sk: x.secretKey };
  // Records only (no members run): stopped, as the health monitor keeps a stopped cluster (UNAVAILABLE, no note), so it changes nothing and records nothing of its own on them.
  c1 = makeCluster({ projectId: PROJECT_ID, name: 'evsub-one', stopped: true, status: 'UNAVAILABLE' });
  c2 = makeCluster({ projectId: PROJECT_ID, name: 'evsub-two', stopped: true, status: 'UNAVAILABLE' });
  await h.svc.store.insertCluster(c1);
  await h.svc.store.insertCluster(c2);
});
afterAll(async () => {
  for (const r of receivers) await r.close();
  await h?.stop();
});

describe('ListEventSpecs', () => {
  it('lists the kinds dwsbox records, filtered as the SDK sends them', async () => {
    const list = async (query: Record<string, string>) => {
      const res = await h.sdkCall('GET', p('/v2/{project_id}/event-specs'), { query });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<{ event_specs: { name: string; severity: string; category: string; source_type: string }[]; count: number }>();
    };
    const all = await list({});
    expect(all.count).toBe(all.event_specs.length);
    expect(all.event_specs.map((s) => s.name).sort()).toEqual(
      [
        'alarm_cleared',
        'alarm_raised',
        'dcs_back',
        'dcs_lost',
        'dr_lag_high',
        'dr_lag_normal',
        'dr_pause_restored',
        'failover',
        'member_down',
        'member_up',
        'read_only_armed',
        'read_only_lifted',
        'read_only_off',
        'read_only_on',
        'repair',
        'switchover',
        'task_failed',
        'task_started',
        'task_succeeded',
      ].sort(),
    );
    expect(all.event_specs.every((s) => s.source_type === 'cluster')).toBe(true);
    expect((await list({ severity: 'major' })).event_specs.map((s) => s.name).sort()).toEqual([
      'alarm_raised',
      'dcs_lost',
      'dr_lag_high',
      'failover',
      'member_down',
      'read_only_on',
      'task_failed',
    ]);
    expect((await list({ category: 'management' })).event_specs.map((s) => s.name).sort()).toEqual([
      'task_failed',
      'task_started',
      'task_succeeded',
    ]);
    expect((await list({ category: 'system alarm' })).event_specs.map((s) => s.name).sort()).toEqual(['alarm_cleared', 'alarm_raised']);
    expect((await list({ source_type: 'backup' })).count).toBe(0);
    expect((await list({ spec_name: 'failover' })).event_specs.map((s) => s.name)).toEqual(['failover']);
    const page = await list({ offset: '2', limit: '3' });
    expect(page.event_specs.map((s) => s.name)).toEqual(all.event_specs.slice(2, 5).map((s) => s.name));
    expect(page.count).toBe(all.count);
  });
});

describe('refused subscriptions change nothing', () => {
  it('an endpoint that is not http(s), has credentials, or points at the service or the data plane; bad fields', async () => {
    const r = await receiver();
    const own = (h.app.server.address() as AddressInfo).port;
    const before = await dumpStore(h.svc.store);
    const refused: [Record<string, unknown>, number, string, RegExp][] = [
      [{ notification_target: 'ftp://127.0.0.1/x', notification_target_type: 'HTTP' }, 400, 'DWS.9991', /scheme ftp/],
      [{ notification_target: `http://user:pass@127.0.0.1:${r.port}/` }, 400, 'DWS.9991', /credentials/],
      [{ notification_target: 'http://127.0.3.2:8000/' }, 400, 'DWS.9991', /members' addresses/],
      [{ notification_target: 'http://127.1.4.1:8000/' }, 400, 'DWS.9991', /routers/],
      [{ notification_target: 'http://127.2.0.1:2379/' }, 400, 'DWS.9991', /Patroni/],
      [{ notification_target: 'http://198.19.0.7/' }, 400, 'DWS.9991', /namespaces/],
      [{ notification_target: 'http://0.0.0.0:9999/' }, 400, 'DWS.9991', /this host/],
      [{ notification_target: `http://127.0.0.1:${own}/` }, 400, 'DWS.9991', /own listener/],
      [{ notification_target: `http://localhost:${own}/` }, 400, 'DWS.9991', /own listener/],
      [{ notification_target: `http://[::ffff:127.1.0.1]:80/` }, 400, 'DWS.9991', /routers/],
      [{ notification_target: r.url, notification_target_type: 'SMN' }, 400, 'DWS.0001', /no SMN/],
      [{ notification_target: r.url, notification_target_type: 'HTTPS' }, 400, 'DWS.0001', /scheme/],
      [{ notification_target: r.url, severity: 'critical' }, 400, 'DWS.0001', /severity/],
      [{ notification_target: r.url, category: 'billing' }, 400, 'DWS.0001', /category/],
      [{ notification_target: r.url, source_id: '00000000-0000-4000-8000-000000000000' }, 400, 'DWS.0001', /no cluster/],
      [{ notification_target: r.url, name: '9bad' }, 400, 'DWS.5057', /subscription name/],
      [{ notification_target: r.url, time_zone: 'Mars/Base' }, 400, 'DWS.0001', /time_zone/],
    ];
    for (const [body, status, code, msg] of refused) {
      const res = await h.sdkCall('POST', p('/v2/{project_id}/event-subs'), {
        data: { name: 'refused', notification_target_name: 'hook', notification_target_type: 'HTTP', ...body },
      });
      expectError(res, status, code, msg);
    }
    const noName = await h.sdkCall('POST', p('/v2/{project_id}/event-subs'), {
      data: { notification_target: r.url, notification_target_name: 'x', notification_target_type: 'HTTP' },
    });
    expect(noName.statusCode).toBe(400);
    expect(await dumpStore(h.svc.store)).toBe(before);
  });

  it("a second subscription of one name is 409; update and delete of an unknown or another project's subscription are 404", async () => {
    const r = await receiver();
    const s = await createSub({ name: 'twice', notification_target: r.url });
    expect(s.secret).toMatch(/^[0-9a-f]{64}$/);
    const again = await h.sdkCall('POST', p('/v2/{project_id}/event-subs'), {
      data: { name: 'twice', notification_target: r.url, notification_target_name: 'x', notification_target_type: 'HTTP' },
    });
    expectError(again, 409, 'DWS.9993');
    // Another project sees none of it, and cannot change it.
    expect((await listSubs(other, OTHER_PROJECT)).count).toBe(0);
    const theirs = await h.sdkCall('PUT', `/v2/${OTHER_PROJECT}/event-subs/${s.id}`, { data: { enable: 0 }, creds: other });
    expectError(theirs, 404, 'DWS.9990');
    const del = await h.sdkCall('DELETE', `/v2/${OTHER_PROJECT}/event-subs/${s.id}`, { creds: other });
    expectError(del, 404, 'DWS.9990');
    // Refused updates change nothing either.
    const before = await dumpStore(h.svc.store);
    expectError(
      await h.sdkCall('PUT', p(`/v2/{project_id}/event-subs/${s.id}`), { data: { notification_target: 'http://127.1.0.1/' } }),
      400,
      'DWS.9991',
    );
    expectError(await h.sdkCall('PUT', p(`/v2/{project_id}/event-subs/${s.id}`), { data: {} }), 400, 'DWS.0001');
    expect(await dumpStore(h.svc.store)).toBe(before);
    // Its own project deletes it; the answer is the subscription as it was, without the secret.
    const gone = await h.sdkCall('DELETE', p(`/v2/{project_id}/event-subs/${s.id}`));
    expect(gone.statusCode, gone.body).toBe(200);
    expect(gone.json<WireSub>()).toMatchObject({ id: s.id, name: 'twice' });
    expect(gone.json<WireSub>().secret).toBeUndefined();
    expect((await listSubs()).event_subscriptions.some((x) => x.id === s.id)).toBe(false);
    expectError(await h.sdkCall('DELETE', p(`/v2/{project_id}/event-subs/${s.id}`)), 404, 'DWS.9990');
  });
});

describe('delivery', () => {
  it("a real task's events arrive signed, in order, once each; the state shows the last delivered", async () => {
    const r = await receiver();
    const s = await createSub({ notification_target: r.url });
    expect(s).toMatchObject({
      enable: 1,
      notification_target: r.url,
      notification_target_type: 'HTTP',
      delivery: { pending: 0, failed_attempts: 0, last_error: null },
    });
    const f = await h.call('POST', p('/dwsbox/v1/{project_id}/faults'), {
      body: { action_name: 'CREATING', step: 'CHECK_CAPACITY', mode: 'fail', point: 'before' },
    });
    expect(f.statusCode, f.body).toBe(200);
    const res = await h.call('POST', p('/v1.0/{project_id}/clusters'), {
      body: {
        cluster: {
          name: 'evsub-task',
          node_type: 'dwsx.small',
          number_of_node: 3,
          subnet_id: SUBNET,
          vpc_id: VPC,
          user_name: 'dbadmin',
          user_pwd: ADMIN_PASSWORD,
          port: 8000 + Math.floor(Math.random() * 20000),
        },
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    const clusterId = res.json<{ cluster: { id: string } }>().cluster.id;
    await until(() => r.got.filter((d) => d.json.event.source_id === clusterId).length >= 2, "the task's two events delivered");
    const mine = r.got.filter((d) => d.json.event.source_id === clusterId);
    expect(mine.map((d) => d.json.event.name)).toEqual(['task_started', 'task_failed']);
    for (const d of r.got) verify(d, s.secret!);
    expect(mine[0]!.json.event).toMatchObject({ category: 'management', source_id: clusterId, description: 'Cluster creation started' });
    expect(mine[0]!.json.sequence).toBeLessThan(mine[1]!.json.sequence);
    expect(mine[0]!.json.subscription_id).toBe(s.id);
    // A wrong secret does not verify (the check above can fail).
    expect(() => verify(mine[0]!, 'f'.repeat(64))).toThrow();
    await until(
      async () => (await subState(s.id)).delivery.last_delivered_event_id === mine[1]!.json.event.event_id,
      'the state names the last delivered',
    );
    const st = await subState(s.id);
    expect(st.delivery).toMatchObject({ pending: 0, failed_attempts: 0, last_error: null, next_attempt_at: null });
    expect(st.secret).toBeUndefined();
    // Once each: the events of the listing equal the delivered ones, no repeats.
    const ids = r.got.map((d) => d.json.event.event_id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('a receiver answering 500 gets the event again (at least once); the state shows the error meanwhile', async () => {
    const r = await receiver();
    let fail = true;
    r.answer = (_d, res) => (fail ? res.writeHead(500).end('receiver broke') : res.writeHead(204).end());
    const s = await createSub({ notification_target: r.url, source_id: c1.id });
    await emit(c1, 'member_down');
    await until(async () => {
      const st = await subState(s.id);
      return st.delivery.failed_attempts >= 2 && st.delivery.last_error !== null;
    }, 'two failed attempts recorded');
    const st = await subState(s.id);
    // the status alone: what answered is never read back to the tenant
    expect(st.delivery.last_error).toBe('HTTP 500');
    expect(st.delivery.pending).toBe(1);
    expect(st.delivery.next_attempt_at).not.toBeNull();
    expect(st.delivery.last_delivered_event_id).toBeNull();
    fail = false;
    await until(async () => (await subState(s.id)).delivery.pending === 0, 'delivered after the receiver recovered');
    const ids = r.got.map((d) => d.json.event.event_id);
    expect(new Set(ids).size).toBe(1);
    expect(ids.length).toBeGreaterThanOrEqual(3);
    expect(r.got.map((d) => d.json.attempt)).toEqual(r.got.map((_d, i) => i + 1));
    const done = await subState(s.id);
    expect(done.delivery).toMatchObject({ failed_attempts: 0, last_delivered_event_id: ids[0], next_attempt_at: null });
    for (const d of r.got) verify(d, s.secret!);
  });

  it('a receiver that is down keeps the events pending; they arrive in order once it is back', async () => {
    const port = await freePort();
    const s = await createSub({ notification_target: `http://127.0.0.1:${port}/down`, source_id: c2.id });
    await emit(c2, 'member_down');
    await emit(c2, 'member_up');
    await emit(c2, 'failover');
    await until(async () => (await subState(s.id)).delivery.failed_attempts >= 1, 'an attempt failed');
    const st = await subState(s.id);
    expect(st.delivery.pending).toBe(3);
    expect(st.delivery.last_error).toMatch(/ECONNREFUSED|connect/);
    const r = await receiver(port);
    await until(() => r.got.length >= 3, 'the three events delivered');
    expect(r.names()).toEqual(['member_down', 'member_up', 'failover']);
    const seqs = r.got.map((d) => d.json.sequence);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    await until(async () => (await subState(s.id)).delivery.pending === 0, 'none pending');
  });

  it('a disabled subscription gets nothing; enabled again, it gets what happens from then on', async () => {
    const off = await receiver();
    const on = await receiver();
    const sOff = await createSub({ notification_target: off.url, enable: 0, source_id: c1.id });
    await createSub({ notification_target: on.url, source_id: c1.id });
    await emit(c1, 'member_up');
    await until(() => on.got.length >= 1, 'the enabled subscription got the event');
    expect(off.got).toEqual([]);
    expect((await subState(sOff.id)).delivery.pending).toBe(0);
    const en = await h.sdkCall('PUT', p(`/v2/{project_id}/event-subs/${sOff.id}`), { data: { enable: 1 } });
    expect(en.statusCode, en.body).toBe(200);
    expect(en.json<WireSub>().enable).toBe(1);
    await emit(c1, 'failover');
    await until(() => off.got.length >= 1 && on.got.length >= 2, 'both got the new event');
    expect(off.names()).toEqual(['failover']);
  });

  it('filters: severity, source (cluster), category, source type', async () => {
    const all = await receiver();
    const major = await receiver();
    const two = await receiver();
    const mgmt = await receiver();
    const backup = await receiver();
    const sAll = await createSub({ notification_target: all.url, source_id: `${c1.id},${c2.id}` });
    const sMajor = await createSub({ notification_target: major.url, severity: 'major' });
    const sTwo = await createSub({ notification_target: two.url, source_id: c2.id });
    const sMgmt = await createSub({ notification_target: mgmt.url, category: 'management', source_id: `${c1.id},${c2.id}` });
    const sBackup = await createSub({ notification_target: backup.url, source_type: 'backup' });
    await emit(c1, 'member_down'); // warning (a standby)
    await emit(c2, 'failover'); // major
    await emit(c1, 'read_only_on'); // major
    await emit(c2, 'member_up'); // normal
    await until(() => all.got.length >= 4, 'the unfiltered subscription got all four');
    expect(all.names()).toEqual(['member_down', 'failover', 'read_only_on', 'member_up']);
    for (const s of [sAll, sMajor, sTwo, sMgmt, sBackup])
      await until(async () => (await subState(s.id)).delivery.pending === 0, `${s.name} done`);
    expect(major.got.filter((d) => [c1.id, c2.id].includes(d.json.event.source_id)).map((d) => d.json.event.name)).toEqual([
      'failover',
      'read_only_on',
    ]);
    expect(two.names()).toEqual(['failover', 'member_up']);
    expect(mgmt.got).toEqual([]);
    expect(backup.got).toEqual([]);
    const listed = await subState(sMajor.id);
    expect(listed).toMatchObject({ severity: 'major', source_id: '', category: '' });
    expect((await subState(sTwo.id)).source_id).toBe(c2.id);
  });

  it('a redirect is not followed: a failed attempt, the target gets nothing', async () => {
    const target = await receiver();
    const r = await receiver();
    r.answer = (_d, res) => res.writeHead(302, { location: target.url }).end();
    const s = await createSub({ notification_target: r.url, source_id: c1.id });
    await emit(c1, 'member_down');
    await until(async () => (await subState(s.id)).delivery.failed_attempts >= 2, 'two attempts failed');
    const st = await subState(s.id);
    expect(st.delivery.last_error).toMatch(/^HTTP 302: a redirect .* is not followed/);
    expect(st.delivery.pending).toBe(1);
    expect(r.got.length).toBeGreaterThanOrEqual(2);
    expect(target.got).toEqual([]);
    // Another endpoint: the waiting event goes there.
    const up = await h.sdkCall('PUT', p(`/v2/{project_id}/event-subs/${s.id}`), { data: { notification_target: target.url } });
    expect(up.statusCode, up.body).toBe(200);
    await until(() => target.got.length >= 1, 'delivered to the new endpoint');
    expect(target.got[0]!.json.event.event_id).toBe(r.got[0]!.json.event.event_id);
  });
});

describe('the CLI: dwsbox events', () => {
  /** The CLI's API commands in process against this service: exit code, standard output and error. */
  async function cli(...a: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const lines: string[] = [];
    const out = { write: (x: string) => lines.push(x) > 0 } as unknown as NodeJS.WriteStream;
    const port = (h.app.server.address() as AddressInfo).port;
    const env = {
      DWSBOX_ENDPOINT: `http://127.0.0.1:${port}`,
      DWSBOX_PROJECT_ID: PROJECT_ID,
      DWSBOX_ACCESS_KEY: ACCESS_KEY,
      DWSBOX_SECRET_KEY: SECRET_KEY,
    };
    const err: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((x) => err.push(String(x)) > 0);
    try {
      return { code: await runApiCommand(a, env, out), stdout: lines.join(''), stderr: err.join('') };
    } finally {
      spy.mockRestore();
    }
  }

  it('subs create, list, disable, delete; specs; a refused endpoint is an error', async () => {
    const r = await receiver();
    const made = await cli('events', 'subs', 'create', '--name', 'cli-sub', '--url', r.url, '--severity', 'major', '--json');
    expect(made.code, made.stderr).toBe(0);
    const sub = JSON.parse(made.stdout) as WireSub;
    expect(sub).toMatchObject({ name: 'cli-sub', severity: 'major', notification_target: r.url, enable: 1 });
    expect(sub.secret).toMatch(/^[0-9a-f]{64}$/);
    const listed = await cli('events', 'subs', 'list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${sub.id}\\s+cli-sub\\s+yes\\s+${r.url.replace(/[/.]/g, '\\$&')}`));
    expect((await cli('events', 'subs', 'disable', sub.id)).code).toBe(0);
    expect((await subState(sub.id)).enable).toBe(0);
    const specs = await cli('events', 'specs');
    expect(specs.stdout).toMatch(/failover\s+monitor\s+major/);
    const bad = await cli('events', 'subs', 'create', '--name', 'cli-bad', '--url', 'http://127.1.0.1/');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/DWS\.9991/);
    expect((await cli('events', 'subs', 'delete', sub.id)).code).toBe(0);
    expect((await listSubs()).event_subscriptions.some((x) => x.id === sub.id)).toBe(false);
  });
});

describe('alarm subscriptions (CreateAlarmSub, ListAlarmSubs, UpdateAlarmSub, DeleteAlarmSub)', () => {
  interface WireAlarmSub {
    id: string;
    name: string;
    alarm_level: string;
    alarm_details: string;
    cluster_id: string;
    notification_target_name: string;
    secret?: string;
    delivery: { pending: number };
  }
  let n = 0;
  const createAlarmSub = async (body: Record<string, unknown>): Promise<WireAlarmSub> => {
    const res = await h.sdkCall('POST', p('/v2/{project_id}/alarm-subs'), {
      data: { name: `alarm-sub-${++n}`, notification_target_type: 'HTTP', ...body },
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<WireAlarmSub>();
  };
  /** An alarm's raising recorded as the evaluator records it. */
  const raised = async (c: ClusterRecord, rule: string, severity: 'major' | 'warning' | 'normal') =>
    expect(
      await h.svc.store.recordEvent({
        id: `ev-${++seq}`,
        projectId: c.projectId,
        clusterId: c.id,
        kind: 'alarm_raised',
        severity,
        message: `${rule} on node1`,
        subject: `${rule}:alarm-${seq}`,
        sourceKey: `alarm:alarm-${seq}:raised`,
        occurredAt: Date.now() + seq,
      }),
    ).toBe(true);

  it('kept apart from the event subscriptions; fields as the SDK sends them; bad rules and levels refused, changing nothing', async () => {
    const r = await receiver();
    const s = await createAlarmSub({ notification_target: r.url, alarm_level: 'important,urgent', cluster_id: c1.id });
    expect(s).toMatchObject({ alarm_level: 'important,urgent', alarm_details: '', cluster_id: c1.id, notification_target_name: s.name });
    expect(s.secret).toMatch(/^[0-9a-f]{64}$/);
    expect((await listSubs()).event_subscriptions.map((x) => x.id)).not.toContain(s.id);
    const listed = await h.sdkCall('GET', p('/v2/{project_id}/alarm-subs'));
    expect(listed.json<{ alarm_subscriptions: WireAlarmSub[] }>().alarm_subscriptions.map((x) => x.id)).toContain(s.id);
    expectError(await h.sdkCall('PUT', p(`/v2/{project_id}/event-subs/${s.id}`), { data: { enable: 0 } }), 404, 'DWS.9990');
    const up = await h.sdkCall('PUT', p(`/v2/{project_id}/alarm-subs/${s.id}`), { data: { alarm_details: 'dwsbox.disk_usage' } });
    expect(up.json<WireAlarmSub>()).toMatchObject({ alarm_details: 'dwsbox.disk_usage', alarm_level: 'important,urgent' });
    const before = await dumpStore(h.svc.store);
    expectError(
      await h.sdkCall('POST', p('/v2/{project_id}/alarm-subs'), {
        data: { name: 'bad-level', notification_target: r.url, notification_target_type: 'HTTP', alarm_level: 'critical' },
      }),
      400,
      'DWS.0001',
      /alarm_level/,
    );
    expectError(
      await h.sdkCall('PUT', p(`/v2/{project_id}/alarm-subs/${s.id}`), { data: { alarm_details: 'dwsbox.nope' } }),
      400,
      'DWS.0001',
      /alarm_detail/,
    );
    expect(await dumpStore(h.svc.store)).toBe(before);
    const gone = await h.sdkCall('DELETE', p(`/v2/{project_id}/alarm-subs/${s.id}`));
    expect(gone.json<WireAlarmSub>().id).toBe(s.id);
    expectError(await h.sdkCall('DELETE', p(`/v2/{project_id}/alarm-subs/${s.id}`)), 404, 'DWS.9990');
  });

  it("each delivers the alarms of its rules, levels and clusters; an event subscription of the 'system alarm' category gets every alarm", async () => {
    const important = await receiver();
    const cpu = await receiver();
    const alarms = await receiver();
    const sImportant = await createAlarmSub({ notification_target: important.url, alarm_level: 'important', cluster_id: c1.id });
    const sCpu = await createAlarmSub({ notification_target: cpu.url, alarm_detail: 'dwsbox.cpu_usage' });
    const sAlarms = await createSub({ notification_target: alarms.url, category: 'system alarm', source_id: `${c1.id},${c2.id}` });
    await raised(c1, 'dwsbox.disk_usage', 'major'); // important, c1
    await raised(c1, 'dwsbox.cpu_usage', 'warning'); // minor, c1
    await raised(c2, 'dwsbox.disk_usage', 'major'); // important, c2
    await emit(c1, 'member_down'); // not an alarm
    await until(() => alarms.got.length >= 3, 'the system alarm subscription got the three alarms');
    for (const id of [sImportant.id, sCpu.id])
      await until(async () => {
        const l = (await h.sdkCall('GET', p('/v2/{project_id}/alarm-subs'))).json<{ alarm_subscriptions: WireAlarmSub[] }>();
        return l.alarm_subscriptions.find((x) => x.id === id)!.delivery.pending === 0;
      }, `alarm subscription ${id} done`);
    await until(async () => (await subState(sAlarms.id)).delivery.pending === 0, 'the event subscription done');
    const subjects = (r: Receiver) =>
      r.got.map((d) => `${d.json.event.source_id === c1.id ? 'c1' : 'c2'}:${d.json.event.description.split(' ')[0]}`);
    expect(subjects(important)).toEqual(['c1:dwsbox.disk_usage']);
    expect(subjects(cpu)).toEqual(['c1:dwsbox.cpu_usage']);
    expect(subjects(alarms)).toEqual(['c1:dwsbox.disk_usage', 'c1:dwsbox.cpu_usage', 'c2:dwsbox.disk_usage']);
    expect(alarms.got.every((d) => d.json.event.category === 'system alarm')).toBe(true);
    verify(important.got[0]!, sImportant.secret!);
  });
});
