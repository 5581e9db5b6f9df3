/**
 * A disaster-recovery pairing's lag alarm (issue 19 with issue 17's alarms): the pairings' watch
 * over a SQLite store, the standby's replication given by the step environment's fake data plane
 * and a clock the test moves. A running pairing whose standby lags past its dr_sync_period
 * raises the `dwsbox.dr_lag` alarm on the standby leader once (with `dr_lag_high`), however
 * many watches see it; the alarm clears when the lag is within the period again (with
 * `dr_lag_normal`), and when the pairing stops streaming (paused). The collector's evaluation,
 * which knows nothing of pairings, leaves it alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepEnv, type StepEnv } from '../helpers/step-env.js';
import { pairingRecord } from '../helpers/dr-pairing.js';
import { AlarmEvaluator } from '../../src/services/alarm-evaluator.js';
import { DisasterRecoveryService } from '../../src/services/disaster-recovery-service.js';
import { DR_LAG_RULE, type AlarmThresholds } from '../../src/domain/alarms.js';
import type { StandbyState } from '../../src/dataplane/data-plane.js';
import type { ClusterRecord } from '../../src/domain/records.js';

const thresholds: AlarmThresholds = {
  alarmForSeconds: 0,
  alarmCpuPercent: 1000,
  alarmMemoryPercent: 1000,
  alarmDiskPercent: 1000,
  alarmConnectionsPercent: 1000,
  alarmLagBytes: 1e12,
  alarmLagSeconds: 1e6,
  alarmQuerySeconds: 1e6,
};

let e: StepEnv;
let prod: ClusterRecord;
let standby: ClusterRecord;
let dr: DisasterRecoveryService;
let evaluator: AlarmEvaluator;
/** what the standby's leader says of its replication; production's position is the fake's 0/3000000 */
let state: StandbyState;
const DR_ID = 'dr-lag-alarm-test';

const alarms = async () =>
  (await e.store.listAlarms({ projectId: prod.projectId, from: 0, to: e.clock.now() + 1, limit: 100, offset: 0 })).alarms.filter(
    (a) => a.ruleId === DR_LAG_RULE,
  );
const events = async (kind: string) =>
  (await e.store.listEvents({ projectId: prod.projectId, clusterId: standby.id, limit: 100 })).filter((x) => x.kind === kind);

beforeAll(async () => {
  e = await createStepEnv();
  await e.svc.collector.stop();
  ({ cluster: prod } = await e.addCluster({ nodes: 3 }));
  ({ cluster: standby } = await e.addCluster({ nodes: 3 }));
  const log = e.svc.log.scope({ component: 'test-dr-lag' });
  evaluator = new AlarmEvaluator({ store: e.store, log, thresholds, intervalMs: 15_000 });
  const plane = e.dataPlane as unknown as { standbyState: () => Promise<StandbyState>; setReplayPaused: () => Promise<number> };
  plane.standbyState = () => Promise.resolve(state);
  plane.setReplayPaused = () => Promise.resolve(0);
  dr = new DisasterRecoveryService({ store: e.store, queue: {} as never, dataPlane: e.dataPlane, clock: e.clock, log, alarms: evaluator });
  const now = e.clock.now();
  await e.store.insertDisasterRecovery(
    pairingRecord({
      id: DR_ID,
      projectId: prod.projectId,
      name: 'lagging',
      primaryClusterId: prod.id,
      standbyClusterId: standby.id,
      syncPeriod: '1M',
      status: 'running',
      slot: 'dr_lag_alarm_test',
      createdAt: now,
      startedAt: now,
    }),
  );
});
afterAll(async () => {
  await e?.close();
});

/** The standby replayed up to `replayed`, its last replayed commit `agoS` seconds ago. */
function standbyAt(replayed: string, agoS: number): void {
  state = {
    leader: 2,
    receiver: 'streaming',
    receivedLsn: replayed,
    replayedLsn: replayed,
    replayedCommitAt: e.clock.now() - agoS * 1000,
    paused: false,
  };
}

describe('the lag alarm of a disaster-recovery pairing', () => {
  it('is raised on the standby leader once the lag passes dr_sync_period, once however many watches see it', async () => {
    standbyAt('0/2000000', 30); // behind, but within 1M
    await dr.watch();
    expect(await alarms()).toEqual([]);
    standbyAt('0/2000000', 90);
    await dr.watch();
    await dr.watch();
    const raised = await alarms();
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ clusterId: standby.id, ordinal: 2, level: 'important', clearedAt: null });
    expect(raised[0]!.message).toMatch(/90\.0 s behind production, past its pairing's dr_sync_period \(60\.0 s\)/);
    expect(await events('dr_lag_high')).toHaveLength(1);
    expect(await events('alarm_raised')).toHaveLength(1);
  });

  it("is left alone by the collector's evaluation of the standby's members", async () => {
    await evaluator.evaluate(
      [{ cluster: standby, nodes: await e.store.listNodes(standby.id), samples: new Map(), unread: [] }],
      e.clock.now(),
    );
    expect((await alarms()).filter((a) => a.clearedAt === null)).toHaveLength(1);
  });

  it('clears when the standby is within its sync period again', async () => {
    standbyAt('0/3000000', 120); // replayed production's position: no lag
    await dr.watch();
    expect((await alarms()).map((a) => a.clearedAt !== null)).toEqual([true]);
    expect(await events('dr_lag_normal')).toHaveLength(1);
    await dr.watch();
    expect(await events('dr_lag_normal')).toHaveLength(1);
  });

  it('clears when the pairing stops streaming (paused)', async () => {
    standbyAt('0/2000000', 600);
    await dr.watch();
    expect((await alarms()).filter((a) => a.clearedAt === null)).toHaveLength(1);
    await e.store.updateDisasterRecovery(DR_ID, { status: 'stopped', updatedAt: e.clock.now() });
    await dr.watch();
    expect((await alarms()).filter((a) => a.clearedAt === null)).toEqual([]);
  });
});
