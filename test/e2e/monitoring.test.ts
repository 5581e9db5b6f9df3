/**
 * End to end (issue 17, D29): the metrics history of a real 3-node cluster. Two collections are
 * taken by hand around a known load (300 single-row transactions on the primary), so the rates
 * can be checked against it: the transactions and rows the primary's sample reports over the
 * time between the two readings cover the load, and not much more; the standbys report a lag,
 * the primary a WAL rate. Then every monitoring API answers exactly what the collector wrote
 * (through the official SDK's own client for ListMonitorIndicatorData), what cannot be measured
 * is absent with a reason, and bad input is refused in the DWS format. Alarms: the disk rule
 * (its threshold set below every member's data) is raised for each member by the first
 * collection, once; a statement running past its threshold raises the long-query alarm on the
 * primary, cleared by the collection after it ends; each raising and clearing is an event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { INDICATORS, type MetricSample } from '../../src/domain/metrics.js';
import { ADMIN_PASSWORD, createAvailableCluster, startService, type TestService } from '../helpers/service.js';
import { sdkClient, sdkError } from '../helpers/sdk-client.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError } from '../../src/cli/client.js';

const LOAD = 300;
const GIB = 1024 ** 3;
let t: TestService;
let id: string;
let rw: string;
let a: MetricSample[];
let b: MetricSample[];
/** bounds of the time between the two readings, ms */
let spanMin = 0;
let spanMax = 0;
let startedAt = 0;

const round = (v: number, d: number) => Number(v.toFixed(d));

beforeAll(async () => {
  // the background collector runs once a second after the start (no cluster yet), then every 10 minutes: the test collects by hand
  // alarms: the disk one past 0.1 % of dwsx.small's 20 GB at once (every member's data is larger), a statement past 2 s
  t = await startService({ flags: { metricsCollectIntervalMs: 600_000, alarmDiskPercent: 0.1, alarmQuerySeconds: 2 } });
  const c = await createAvailableCluster(t.client);
  id = c.id;
  rw = c.detail.endpoints[0]!.connect_info;
  startedAt = Date.now();
  const a0 = Date.now();
  a = await t.svc.collector.collect();
  const a1 = Date.now();
  const [host, port] = rw.split(':');
  const db = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
  await db.connect();
  await db.query('create table load (id int, note text)');
  for (let i = 1; i <= LOAD; i++) await db.query('insert into load values ($1, $2)', [i, 'x'.repeat(100)]);
  await db.end(); // a session's statistics reach pg_stat_database when it ends
  await sleep(1100); // and the samples are a second apart at least (one per member and second)
  const b0 = Date.now();
  b = await t.svc.collector.collect();
  const b1 = Date.now();
  spanMin = b0 - a1;
  spanMax = b1 - a0;
});
afterAll(async () => {
  await t?.stop();
});

const mine = (s: MetricSample[]) => s.filter((x) => x.clusterId === id).sort((x, y) => x.ordinal - y.ordinal);
const primaryOf = (s: MetricSample[]) => mine(s).find((x) => x.primary)!;

describe('the metrics collector', () => {
  it('reads every member: gauges at once, rates from the second reading', () => {
    expect(mine(a)).toHaveLength(3);
    expect(mine(b)).toHaveLength(3);
    for (const s of mine(a)) {
      expect(s.memBytes).toBeGreaterThan(1024 * 1024);
      expect(s.dataBytes).toBeGreaterThan(1024 * 1024);
      expect(s.fsAvailBytes).toBeGreaterThan(0);
      expect(s.maxConnections).toBeGreaterThan(0);
      expect(s.tps).toBeNull(); // the first reading of a member has nothing to compare with
    }
    expect(mine(b).filter((s) => s.primary)).toHaveLength(1);
  });

  it("the primary's transactions and rows per second cover the load over the time between the readings", () => {
    const p = primaryOf(b);
    // the load is LOAD inserts and a create table; the rest is the collector's and the failover manager's own queries
    expect(p.tps! * (spanMax / 1000)).toBeGreaterThanOrEqual(LOAD);
    expect(p.tps! * (spanMin / 1000)).toBeLessThanOrEqual(LOAD + 150);
    expect(p.tuplesWrittenRate! * (spanMax / 1000)).toBeGreaterThanOrEqual(LOAD);
    expect(p.walRate! * (spanMax / 1000)).toBeGreaterThan(LOAD * 100); // each row wrote its 100 characters to the WAL
    expect(p.cpuPercent).toBeGreaterThan(0);
    expect(p.cpuPercent).toBeCloseTo(p.cpuUserPercent! + p.cpuSysPercent!, 6);
    expect(p.lagBytes).toBeNull();
    for (const s of mine(b).filter((x) => !x.primary)) {
      expect(s.lagBytes).toBeGreaterThanOrEqual(0);
      expect(s.lagSeconds).toBeGreaterThanOrEqual(0);
      expect(s.walRate).toBeNull();
      expect(s.tps).not.toBeNull();
    }
  });
});

describe('the monitoring APIs answer what the collector wrote', () => {
  const range = () => `from=${startedAt - 5000}&to=${Date.now() + 1000}`;

  it('ListMonitorIndicators lists every indicator with its unit and the collection interval', async () => {
    const r = await t.client.call<{ indicator_name: string; unit: string; default_collect_rate: string }[]>(
      'GET',
      '/v1.0/{project_id}/dms/metric-data/indicators',
    );
    expect(r.map((i) => i.indicator_name)).toEqual(INDICATORS.map((i) => i.name));
    expect(r.every((i) => i.default_collect_rate === '600' && i.unit)).toBe(true);
  });

  it('ListMonitorIndicatorData (the SDK): one item per member, each collection a point', async () => {
    const sdk = sdkClient(t.endpoint);
    const now = Date.now();
    const r = await sdk<{ body?: unknown }>('ListMonitorIndicatorData', {
      query: { indicator_name: 'instance.tps', dim0: id, from: String(startedAt - 5000), to: String(now + 1000), period: '1' },
    });
    expect(r.status).toBe(200);
    // an array answer: the SDK's HcClient hands its elements back as the keys of an object
    const items = Object.values(r.body) as unknown as {
      sub_object_id: string;
      unit: string;
      data_points: { timestamp: number; result: string }[];
    }[];
    expect(items.map((i) => i.sub_object_id)).toEqual(['node1', 'node2', 'node3']);
    for (const s of mine(b)) {
      const item = items.find((i) => i.sub_object_id === `node${s.ordinal}`)!;
      expect(item.unit).toBe('1/s');
      // the first collection has no rate: no point (never a zero)
      expect(item.data_points).toEqual([{ timestamp: s.at * 1000, result: String(round(s.tps!, 3)) }]);
    }
    const mem = await t.client.call<{ sub_object_id: string; data_points: { timestamp: number; result: string }[] }[]>(
      'GET',
      `/v1.0/{project_id}/dms/metric-data?indicator_name=instance.mem_used&dim0=${id}&dim1=node2&period=1&${range()}`,
    );
    expect(mem).toHaveLength(1);
    const two = [...mine(a), ...mine(b)].filter((s) => s.ordinal === 2);
    expect(mem[0]!.data_points).toEqual(two.map((s) => ({ timestamp: s.at * 1000, result: String(round(s.memBytes!, 3)) })));
  });

  it('ListHostOverview, ListHostDisk and ListHostNet: each member from its newest sample; the unmeasurable absent with why', async () => {
    const over = await t.client.call<Record<string, unknown>[]>('GET', `/v1.0/{project_id}/dms/host-overview?cluster_id=${id}`);
    expect(over).toHaveLength(3);
    for (const s of mine(b)) {
      const o = over.find((x) => x['instance_name'] === `node${s.ordinal}`)!;
      expect(o['host_stat']).toBe('running');
      expect(o['role']).toBe(s.primary ? 'primary' : 'standby');
      expect(o['sampled_at']).toBe(new Date(s.at * 1000).toISOString());
      expect(o['cpu_usage']).toBe(round(s.cpuPercent!, 2));
      expect(o['mem_used']).toBe(round(s.memBytes!, 0));
      expect(o['tps']).toBe(round(s.tps!, 2));
      expect(o['connections']).toBe(s.connections);
      expect(o['disk_used']).toBe(round(s.dataBytes! / GIB, 3));
      if (s.primary) expect(o['replication_lag_bytes']).toBeUndefined();
      else expect(o['replication_lag_bytes']).toBe(round(s.lagBytes!, 0));
      const absent = o['absent'] as Record<string, string>;
      expect(absent['net_io']).toMatch(/network namespace/);
      expect(o['net_io']).toBeUndefined();
    }
    const disk = await t.client.call<Record<string, unknown>[]>('GET', `/v1.0/{project_id}/dms/disk?cluster_id=${id}&instance_name=node1`);
    const s1 = mine(b).find((s) => s.ordinal === 1)!;
    expect(disk).toHaveLength(1);
    expect(disk[0]!['used']).toBe(round(s1.dataBytes! / GIB, 3));
    expect(disk[0]!['total']).toBe(20);
    expect((disk[0]!['absent'] as Record<string, string>)['util']).toMatch(/block device/);
    const net = await t.client.call<Record<string, unknown>[]>('GET', `/v1.0/{project_id}/dms/net?cluster_id=${id}&limit=2&offset=1`);
    expect(net.map((n) => n['instance_name'])).toEqual(['node3']);
    expect(net[0]!['up']).toBe(true);
    expect(net[0]!['recv_rate']).toBeUndefined();
  });

  it('ListMetrics and ListMetricsData: the groups, and one row per member per collection', async () => {
    const groups = await t.client.call<{ count: number; data: { metric_name: string }[] }>(
      'GET',
      `/v1/{project_id}/clusters/${id}/dms/metrics`,
    );
    expect(groups.data.map((g) => g.metric_name)).toEqual(['cpu', 'memory', 'disk', 'connections', 'transactions', 'replication', 'wal']);
    const rows = await t.client.call<{ count: number; data: Record<string, number | string | null>[] }>(
      'GET',
      `/v1/{project_id}/clusters/${id}/dms/metrics/transactions?${range()}&sort_by=desc`,
    );
    expect(rows.count).toBe(6);
    const p = primaryOf(b);
    expect(rows.data[0]).toMatchObject({ ctime: p.at * 1000, instance_name: 'node1' });
    const primaryRow = rows.data.find((r) => r['ctime'] === p.at * 1000 && r['instance_name'] === `node${p.ordinal}`)!;
    expect(primaryRow['tps']).toBe(round(p.tps!, 3));
    expect(rows.data.filter((r) => r['tps'] === null)).toHaveLength(3); // the first collection's
  });

  it('refuses bad input in the DWS format', async () => {
    const bad = async (path: string, code: string, status = 400) => {
      const e = await t.client.call('GET', path).then(
        () => null,
        (x: unknown) => x as ApiError,
      );
      expect(e, path).toBeInstanceOf(ApiError);
      expect(e!.status, path).toBe(status);
      expect(e!.errorCode, path).toBe(code);
      return e!.message;
    };
    expect(await bad(`/v1.0/{project_id}/dms/metric-data?indicator_name=instance.nope&dim0=${id}`, 'DWS.0001')).toMatch(
      /ListMonitorIndicators/,
    );
    expect(await bad(`/v1.0/{project_id}/dms/metric-data?indicator_name=instance.tps&dim0=${id}&dim1=primary`, 'DWS.0001')).toMatch(
      /node<n>/,
    );
    await bad(`/v1.0/{project_id}/dms/metric-data?indicator_name=instance.tps&dim0=${id}&from=2000&to=1000`, 'DWS.0001');
    await bad(`/v1.0/{project_id}/dms/metric-data?indicator_name=instance.tps&dim0=${id}&from=yesterday`, 'DWS.0001');
    await bad(`/v1.0/{project_id}/dms/metric-data?indicator_name=instance.tps&dim0=00000000-0000-4000-8000-000000000000`, 'DWS.0047', 404);
    await bad(`/v1/{project_id}/clusters/${id}/dms/metrics/nope`, 'DWS.0001');
    await bad(`/dwsbox/v1/{project_id}/clusters/${id}/task-throughput?from=2000&to=1000`, 'DWS.0001');
    await bad(`/dwsbox/v1/{project_id}/clusters/${id}/task-throughput?to=soon`, 'DWS.0001');
    await bad(`/dwsbox/v1/{project_id}/clusters/00000000-0000-4000-8000-000000000000/task-throughput`, 'DWS.0047', 404);
    expect(await bad(`/v1/{project_id}/clusters/${id}/dms/metrics/cpu?from=${Date.now() - 2 * 86_400_000}`, 'DWS.0001')).toMatch(
      /at most 24 hours/,
    );
    const e = await sdkError(sdkClient(t.endpoint)('ListHostOverview', { query: { instance_name: 'node0' } }));
    expect(e.httpStatusCode).toBe(400);
  });
});

describe('alarms from the measurements', () => {
  type Detail = {
    alarm_id: string;
    alarm_level: string;
    alarm_status: string;
    alarm_location: string;
    resource_id: string;
    alarm_message: string;
  };
  const details = async () =>
    (
      await t.client.call<{ count: number; alarm_details: Detail[] }>('GET', '/v2/{project_id}/alarms?limit=100&time_zone=GMT%2B08:00')
    ).alarm_details.filter((d) => d.resource_id === id);

  it('ListAlarmConfigs lists the rules with their thresholds from the settings', async () => {
    const r = await t.client.call<{
      count: number;
      alarm_configs: { alarm_id: string; threshold: number; alarm_level: string; converge_time: number }[];
    }>('GET', '/v2/{project_id}/alarm-configs');
    expect(r.count).toBe(r.alarm_configs.length);
    expect(r.alarm_configs.find((c) => c.alarm_id === 'dwsbox.disk_usage')).toMatchObject({
      threshold: 0.1,
      alarm_level: 'important',
      converge_time: 0,
    });
    expect(r.alarm_configs.find((c) => c.alarm_id === 'dwsbox.cpu_usage')).toMatchObject({ threshold: 90, converge_time: 300 });
  });

  it('the disk rule past its threshold: one alarm per member, raised once however many collections see it', async () => {
    await t.svc.collector.collect();
    const disk = (await details()).filter((d) => d.alarm_id === 'dwsbox.disk_usage');
    expect(disk.map((d) => d.alarm_location).sort()).toEqual([1, 2, 3].map((o) => `cluster_id=${id},instance_name=node${o}`));
    expect(
      disk.every((d) => d.alarm_status === 'active' && d.alarm_level === 'important' && /of its node type's disk/.test(d.alarm_message)),
    ).toBe(true);
    const stat = await t.client.call<{ alarm_statistics: { date: string; important: string }[] }>(
      'GET',
      '/v2/{project_id}/alarm-statistic',
    );
    expect(stat.alarm_statistics).toHaveLength(7);
    expect(Number(stat.alarm_statistics[6]!.important)).toBeGreaterThanOrEqual(3);
  });

  it('a statement past its threshold raises the long-query alarm on the primary; its end clears it; both are events', async () => {
    const [host, port] = rw.split(':');
    const db = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
    await db.connect();
    try {
      const sleeping = db.query('select pg_sleep(6)');
      await sleep(3000);
      await t.svc.collector.collect();
      const raised = (await details()).filter((d) => d.alarm_id === 'dwsbox.long_query');
      const p = primaryOf(b).ordinal;
      expect(raised).toHaveLength(1);
      expect(raised[0]).toMatchObject({
        alarm_status: 'active',
        alarm_level: 'prompt',
        alarm_location: `cluster_id=${id},instance_name=node${p}`,
      });
      await sleeping;
    } finally {
      await db.end();
    }
    await sleep(1100);
    await t.svc.collector.collect();
    const after = (await details()).filter((d) => d.alarm_id === 'dwsbox.long_query');
    expect(after.map((d) => d.alarm_status)).toEqual(['cleared']);
    const events = await t.client.call<{ events: { name: string; category: string; source_id: string }[] }>(
      'GET',
      `/v2/{project_id}/events?source_id=${id}&limit=100`,
    );
    const alarmEvents = events.events.filter((e) => e.name.startsWith('alarm_'));
    expect(alarmEvents.filter((e) => e.name === 'alarm_raised')).toHaveLength(4); // three disk, one long query
    expect(alarmEvents.filter((e) => e.name === 'alarm_cleared')).toHaveLength(1);
    expect(alarmEvents.every((e) => e.category === 'system alarm')).toBe(true);
  });
});
