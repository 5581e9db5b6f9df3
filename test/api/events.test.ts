/**
 * Events (D26) through the API: a real create, failed at its first step by a fault (so no
 * PostgreSQL starts), leaves its start and its end in ListEvents (GET /v2/{project_id}/events)
 * once each, as the SDK asks for them; recording the same happenings again (as a second
 * service process that saw them would) adds nothing; pages, the time range and the cluster
 * filter; the cluster's `recent_event`; another project sees none of them; and
 * `dwsbox_events_total` on /metrics counts what the store holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, expectError, p, PROJECT_ID, startApiService, type ApiHarness, type Creds } from '../helpers/api.js';
import { ADMIN_PASSWORD, SUBNET, VPC } from '../helpers/service.js';
import { EventService, taskEvent } from '../../src/services/events.js';
import { createLogger } from '../../src/log/logger.js';
import type { TaskRecord } from '../../src/domain/records.js';

interface WireEvent {
  event_id: string;
  name: string;
  display_name: string;
  category: string;
  description: string;
  name_space: string;
  severity: string;
  source_type: string;
  source_id: string;
  source_name: string;
  occur_time: number;
  project_id: string;
  subject: string;
}
interface EventList {
  events: WireEvent[];
  count: number;
}

let h: ApiHarness;
let clusterId = '';
let task: TaskRecord;
const NAME = 'events-cluster';
const OTHER_PROJECT = 'e'.repeat(32);
let other: Creds;

/** ListEvents as the SDK sends it (offset and limit as text), with dwsbox's filters when given. */
async function listEvents(query: Record<string, string> = {}, creds: Creds = ADMIN, project = PROJECT_ID): Promise<EventList> {
  const res = await h.sdkCall('GET', `/v2/${project}/events`, { query, creds });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<EventList>();
}
const ofTask = (l: EventList): WireEvent[] => l.events.filter((e) => e.subject === task.id);

/** Wait until `test` holds (polled every 50 ms), or fail naming `what`. */
async function until(test: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  h = await startApiService();
  const x = await h.auth.createCredential(OTHER_PROJECT, 'admin');
  other = { ak: x.accessKey, sk: x.secretKey };
  const f = await h.call('POST', p('/dwsbox/v1/{project_id}/faults'), {
    body: { action_name: 'CREATING', step: 'CHECK_CAPACITY', mode: 'fail', point: 'before' },
  });
  expect(f.statusCode, f.body).toBe(200);
  const res = await h.call('POST', p('/v1.0/{project_id}/clusters'), {
    body: {
      cluster: {
        name: NAME,
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
  clusterId = res.json<{ cluster: { id: string } }>().cluster.id;
  await until(async () => (await h.svc.store.listTasks(clusterId))[0]?.phase === 'done', 'the create task ended', 60_000);
  task = (await h.svc.store.listTasks(clusterId))[0]!;
  expect(task.status).toBe('FAILED');
  // The end is recorded right after the task ends (the task events' listener).
  await until(async () => ofTask(await listEvents()).length === 2, "the task's two events are listed", 10_000);
});
afterAll(async () => {
  await h?.stop();
});

describe('ListEvents', () => {
  it("shows the task's start and its end once each, with the SDK's fields", async () => {
    const events = ofTask(await listEvents({ offset: '0', limit: '1000' }));
    expect(events.map((e) => e.name)).toEqual(['task_failed', 'task_started']);
    const [failed, started] = events as [WireEvent, WireEvent];
    expect(started).toMatchObject({
      name: 'task_started',
      severity: 'normal',
      category: 'management',
      source_type: 'cluster',
      source_id: clusterId,
      source_name: NAME,
      project_id: PROJECT_ID,
      subject: task.id,
      occur_time: task.startedAt,
      description: 'Cluster creation started',
    });
    expect(failed).toMatchObject({ name: 'task_failed', severity: 'warning', source_id: clusterId, occur_time: task.finishedAt });
    expect(failed.description).toContain('Cluster creation failed');
    expect(failed.description).toContain(task.errorMsg!);
    expect(started.event_id).not.toBe(failed.event_id);
  });

  it('a second recording of the same happenings (another process saw them too) adds nothing', async () => {
    const before = await listEvents();
    const second = new EventService({ store: h.svc.store, log: createLogger({ level: 'silent' }) });
    expect(await second.record(taskEvent(task, 'started'))).toBe(false);
    expect(await second.record(taskEvent(task, 'finished'))).toBe(false);
    const after = await listEvents();
    expect(ofTask(after)).toEqual(ofTask(before));
    expect(after.events.filter((e) => e.subject === task.id)).toHaveLength(2);
  });

  it('pages (offset counts events, newest first), the cluster filter and the time range; count is all of them', async () => {
    const all = await listEvents({ source_id: clusterId });
    expect(all.count).toBe(all.events.length);
    expect(all.events.map((e) => e.occur_time)).toEqual([...all.events.map((e) => e.occur_time)].sort((a, b) => b - a));
    const first = await listEvents({ source_id: clusterId, offset: '0', limit: '1' });
    const second = await listEvents({ source_id: clusterId, offset: '1', limit: '1' });
    expect(first.events).toHaveLength(1);
    expect(second.events).toHaveLength(1);
    expect(first.count).toBeGreaterThanOrEqual(2);
    expect(second.events[0]!.event_id).not.toBe(first.events[0]!.event_id);
    // the task's own span: only its two events
    const span = await listEvents({ source_id: clusterId, start_time: String(task.startedAt), end_time: String(task.finishedAt! + 1) });
    expect(ofTask(span)).toHaveLength(2);
    expect(span.events.every((e) => e.occur_time >= task.startedAt! && e.occur_time <= task.finishedAt!)).toBe(true);
    const later = await listEvents({ source_id: clusterId, start_time: String(h.clock.now() + 60_000) });
    expect(later).toEqual({ events: [], count: 0 });
    expect((await listEvents({ source_id: '00000000-0000-4000-8000-000000000000' })).count).toBe(0);
  });

  it('refuses a time range that ends before it starts, and a limit out of range: 400', async () => {
    expectError(await h.call('GET', p('/v2/{project_id}/events?start_time=2000&end_time=1000')), 400, 'DWS.0001', /start_time/);
    expectError(await h.call('GET', p('/v2/{project_id}/events?limit=0')), 400, 'DWS.0001');
  });

  it('filters by name (the kind) and severity, comma-separated; count follows the filters; an unknown value is 400', async () => {
    const failed = await listEvents({ source_id: clusterId, name: 'task_failed' });
    expect(failed.events.map((e) => e.name)).toEqual(['task_failed']);
    expect(failed.count).toBe(1);
    const both = await listEvents({ source_id: clusterId, name: 'task_started,task_failed' });
    expect(both.events.map((e) => e.name)).toEqual(['task_failed', 'task_started']);
    expect((await listEvents({ source_id: clusterId, severity: 'normal' })).events.map((e) => e.name)).toEqual(['task_started']);
    expect((await listEvents({ source_id: clusterId, severity: 'warning,major' })).events.map((e) => e.name)).toEqual(['task_failed']);
    expect(await listEvents({ source_id: clusterId, name: 'task_started', severity: 'warning' })).toEqual({ events: [], count: 0 });
    for (const query of [{ name: 'no_such_kind' }, { severity: 'critical' }]) {
      const res = await h.sdkCall('GET', p('/v2/{project_id}/events'), { query });
      expectError(res, 400, 'DWS.0001');
    }
  });

  it("another project sees none of this project's events", async () => {
    const theirs = await listEvents({}, other, OTHER_PROJECT);
    expect(theirs).toEqual({ events: [], count: 0 });
    expectError(await h.sdkCall('GET', `/v2/${PROJECT_ID}/events`, { creds: other }), 403, 'APIGW.0302', /another project/);
  });
});

describe('what else reads the events', () => {
  it("the cluster's recent_event is the count of its events of the last day", async () => {
    // The health monitor may record more of them meanwhile (the failed create's nodes do not run): read until both agree.
    await expect
      .poll(
        async () => {
          const n = (await listEvents({ source_id: clusterId })).count;
          const d = await h.call('GET', p(`/v1.0/{project_id}/clusters/${clusterId}`));
          return d.json<{ cluster: { recent_event: number } }>().cluster.recent_event === n && n >= 2;
        },
        { timeout: 10_000, interval: 100 },
      )
      .toBe(true);
    // A day later they have all aged out.
    h.clock.offsetMs += 24 * 3600_000 + 1000;
    try {
      // (signed with the service's clock, which is a day ahead now)
      const agree = async (): Promise<boolean> => {
        const d = await h.call('GET', p(`/v1.0/{project_id}/clusters/${clusterId}`));
        const recent = d.json<{ cluster: { recent_event: number } }>().cluster.recent_event;
        const since = h.clock.now() - 24 * 3600_000 + 1;
        const l = await h.call('GET', p(`/v2/{project_id}/events?source_id=${clusterId}&start_time=${since}`));
        const listed = l.json<EventList>();
        return recent === listed.count && !listed.events.some((e) => e.subject === task.id);
      };
      await until(agree, 'recent_event counts only the last day', 10_000);
    } finally {
      h.clock.offsetMs = 0;
    }
  });

  it('dwsbox_events_total on /metrics counts the events the store holds, by kind and severity, in the project’s own view', async () => {
    const res = await h.call('GET', '/metrics');
    expect(res.statusCode).toBe(200);
    const counted = new Map<string, number>();
    for (const line of res.body.split('\n')) {
      const m = /^dwsbox_events_total\{(.*)\} (\d+)$/.exec(line);
      if (!m) continue;
      const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      expect(labels['project_id']).toBe(PROJECT_ID);
      counted.set(`${labels['kind']}/${labels['severity']}`, Number(m[2]));
    }
    // task events are not written behind our back; the monitor's may be, so those are compared to the store read after the scrape
    const listed = (await listEvents()).events;
    const of = (kind: string, severity: string): number => listed.filter((e) => e.name === kind && e.severity === severity).length;
    expect(counted.get('task_started/normal')).toBe(of('task_started', 'normal'));
    expect(counted.get('task_failed/warning')).toBe(of('task_failed', 'warning'));
    for (const [key, n] of counted) {
      const [kind, severity] = key.split('/') as [string, string];
      expect(n).toBeLessThanOrEqual(of(kind, severity));
    }
  });
});
