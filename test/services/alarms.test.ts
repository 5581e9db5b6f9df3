/**
 * Alarms raised and cleared by the measurements (issue 17), through the real collector and
 * evaluator over a SQLite store, the members' readings given by the step environment's fake data
 * plane and a clock the test moves: a sustained rule (CPU) is raised only once every sample of
 * its duration is past the threshold, and cleared by the first sample under it; a member of an
 * idle running cluster that does not answer raises `member down` at once, cleared when it answers;
 * a stopped cluster's alarms clear. Each raising and clearing is one event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepEnv, type StepEnv } from '../helpers/step-env.js';
import { MetricsCollector } from '../../src/services/metrics-collector.js';
import { AlarmEvaluator } from '../../src/services/alarm-evaluator.js';
import type { AlarmThresholds } from '../../src/domain/alarms.js';
import type { MemberReading } from '../../src/domain/metrics.js';
import type { ClusterRecord } from '../../src/domain/records.js';

const INTERVAL = 15_000;
const thresholds: AlarmThresholds = {
  alarmForSeconds: 30,
  alarmCpuPercent: 90,
  alarmMemoryPercent: 1000,
  alarmDiskPercent: 100,
  alarmConnectionsPercent: 100,
  alarmLagBytes: 1e12,
  alarmLagSeconds: 1e6,
  alarmQuerySeconds: 1e6,
};

let e: StepEnv;
let cluster: ClusterRecord;
let collector: MetricsCollector;
/** CPU ticks of each member so far (100 a second is one whole core) */
const ticks = new Map<number, number>();

function reading(ordinal: number): MemberReading {
  return {
    atMs: 0,
    primary: ordinal === 1,
    cpuTicks: { user: ticks.get(ordinal) ?? 0, sys: 0 },
    ticksPerSecond: 100,
    memBytes: 1e6,
    io: null,
    dataBytes: 1e6,
    fsAvailBytes: 1e9,
    connections: 1,
    maxConnections: 100,
    xacts: 0,
    rollbacks: 0,
    tuplesRead: 0,
    tuplesWritten: 0,
    walPosition: 0,
    walBytes: 0,
    archived: 0,
    archiveFailed: 0,
    checkpoints: 0,
    replayDelaySeconds: ordinal === 1 ? null : 0,
    longestQuerySeconds: 0,
    serverStartMs: 1,
  };
}
const answer = (ordinal: number) => e.dataPlane.readings.set(`${cluster.id}/${ordinal}`, reading(ordinal));
const silence = (ordinal: number) => e.dataPlane.readings.delete(`${cluster.id}/${ordinal}`);

/** The clock moves one interval, member 1 used `cpuPercent` of a core meanwhile, and a collection runs. */
async function collectAfter(cpuPercent: number): Promise<void> {
  e.clock.advance(INTERVAL);
  ticks.set(1, (ticks.get(1) ?? 0) + (cpuPercent * INTERVAL) / 1000);
  for (const o of [1, 2, 3]) if (e.dataPlane.readings.has(`${cluster.id}/${o}`)) answer(o);
  await collector.collect();
}

const alarms = async () =>
  (await e.store.listAlarms({ projectId: cluster.projectId, from: 0, to: e.clock.now() + 1, limit: 100, offset: 0 })).alarms;
const events = async (kind: string) =>
  (await e.store.listEvents({ projectId: cluster.projectId, clusterId: cluster.id, limit: 100 })).filter((x) => x.kind === kind);

beforeAll(async () => {
  e = await createStepEnv();
  await e.svc.collector.stop(); // the service's own collector: this test's collects alone
  ({ cluster } = await e.addCluster({ nodes: 3 }));
  const log = e.svc.log.scope({ component: 'test-alarms' });
  collector = new MetricsCollector({
    store: e.store,
    dataPlane: e.dataPlane,
    clock: e.clock,
    log,
    owner: 'test-collector',
    config: { intervalMs: INTERVAL, rawRetentionHours: 24, rollupRetentionDays: 30 },
    alarms: new AlarmEvaluator({ store: e.store, log, thresholds, intervalMs: INTERVAL }),
  });
  for (const o of [1, 2, 3]) answer(o);
  await collector.collect(); // the first reading: no rates yet
});
afterAll(async () => {
  await e?.close();
});

describe('alarms', () => {
  it('a sustained rule is raised once every sample of its duration is past the threshold, once', async () => {
    await collectAfter(95);
    await collectAfter(95); // 30 s of samples, but the first of them had no rate yet
    expect(await alarms()).toEqual([]);
    await collectAfter(95);
    let a = await alarms();
    expect(a.map((x) => [x.ruleId, x.ordinal, x.level, x.clearedAt])).toEqual([['dwsbox.cpu_usage', 1, 'minor', null]]);
    expect(a[0]!.message).toMatch(/95\.0 % of one core \(threshold 90\.0 %\)/);
    await collectAfter(96);
    a = await alarms();
    expect(a).toHaveLength(1);
    expect((await events('alarm_raised')).map((x) => [x.severity, x.subject])).toEqual([['warning', `dwsbox.cpu_usage:${a[0]!.id}`]]);
  });

  it('the first sample under the threshold clears it; a dip resets the duration', async () => {
    await collectAfter(50);
    expect((await alarms())[0]!.clearedAt).toBe(e.clock.now());
    expect(await events('alarm_cleared')).toHaveLength(1);
    await collectAfter(95);
    await collectAfter(95);
    await collectAfter(50);
    await collectAfter(95);
    expect((await alarms()).filter((x) => x.clearedAt === null)).toEqual([]);
  });

  it('a member of an idle running cluster that does not answer raises member down at once; answering clears it', async () => {
    silence(3);
    await collectAfter(0);
    let down = (await alarms()).filter((x) => x.ruleId === 'dwsbox.member_down');
    expect(down.map((x) => [x.ordinal, x.level, x.clearedAt])).toEqual([[3, 'urgent', null]]);
    await collectAfter(0);
    expect((await alarms()).filter((x) => x.ruleId === 'dwsbox.member_down')).toHaveLength(1);
    answer(3);
    await collectAfter(0);
    down = (await alarms()).filter((x) => x.ruleId === 'dwsbox.member_down');
    expect(down[0]!.clearedAt).toBe(e.clock.now());
  });

  it("a stopped cluster's alarms clear", async () => {
    silence(2);
    await collectAfter(0);
    expect((await alarms()).filter((x) => x.clearedAt === null).map((x) => x.ordinal)).toEqual([2]);
    await e.store.updateCluster(cluster.id, { stopped: true });
    await collectAfter(0);
    expect((await alarms()).filter((x) => x.clearedAt === null)).toEqual([]);
    const cleared = await events('alarm_cleared');
    expect(cleared[0]!.message).toMatch(/stopped or deleted/);
  });
});
