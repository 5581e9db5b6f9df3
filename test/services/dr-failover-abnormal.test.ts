/**
 * FailoverDisasterRecovery of an `abnormal` pairing (issue 19): after a switchover that failed
 * before the promotion, production may be lost with the standby still following it; failover must
 * then still be possible. It is accepted while the following side is a standby cluster (its
 * standby leader answers) and production's primary does not run, and refused, saying why, when the
 * following side leads already (after a failover) or production's primary runs. The service over a
 * SQLite store, the step environment's fake data plane answering as each case needs, a queue that
 * records what it was given.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepEnv, type StepEnv } from '../helpers/step-env.js';
import { pairingRecord } from '../helpers/dr-pairing.js';
import { AlarmEvaluator } from '../../src/services/alarm-evaluator.js';
import { DisasterRecoveryService } from '../../src/services/disaster-recovery-service.js';
import type { MemberRole, StandbyState } from '../../src/dataplane/data-plane.js';
import type { ClusterRecord, TaskRecord } from '../../src/domain/records.js';
import type { DisasterRecoveryRecord } from '../../src/domain/disaster-recovery.js';

let e: StepEnv;
let prod: ClusterRecord;
let standby: ClusterRecord;
let dr: DisasterRecoveryService;
/** what the fake plane answers: the standby side's replication (null: no standby cluster), production's members */
let standbySays: StandbyState | null;
let productionRoles: MemberRole[];
const queued: { kind: string; params: Record<string, unknown> }[] = [];
const DR_ID = 'dr-failover-abnormal-test';

const following: StandbyState = {
  leader: 1,
  receiver: null,
  receivedLsn: '0/3000000',
  replayedLsn: '0/3000000',
  replayedCommitAt: null,
  paused: false,
};

async function pairing(o: Partial<DisasterRecoveryRecord>): Promise<void> {
  await e.store.updateDisasterRecovery(DR_ID, { updatedAt: e.clock.now(), ...o });
}

beforeAll(async () => {
  e = await createStepEnv();
  ({ cluster: prod } = await e.addCluster({ nodes: 3 }));
  ({ cluster: standby } = await e.addCluster({ nodes: 3 }));
  const log = e.svc.log.scope({ component: 'test-dr-failover' });
  const plane = e.dataPlane as unknown as Record<string, unknown>;
  plane['standbyState'] = () => Promise.resolve(standbySays);
  plane['followCluster'] = () => Promise.resolve();
  plane['memberRoles'] = (c: ClusterRecord) => Promise.resolve(c.id === prod.id ? productionRoles : []);
  const queue = {
    enqueue: (_tx: unknown, o: { kind: string; params: Record<string, unknown> }) => {
      queued.push(o);
      return Promise.resolve({ id: `task-${queued.length}`, kind: o.kind } as unknown as TaskRecord);
    },
    notify: () => {},
  };
  const alarms = new AlarmEvaluator({ store: e.store, log, thresholds: {} as never, intervalMs: 15_000 });
  dr = new DisasterRecoveryService({ store: e.store, queue: queue as never, dataPlane: e.dataPlane, clock: e.clock, log, alarms });
  const now = e.clock.now();
  await e.store.insertDisasterRecovery(
    pairingRecord({
      id: DR_ID,
      projectId: prod.projectId,
      name: 'abnormal-one',
      primaryClusterId: prod.id,
      standbyClusterId: standby.id,
      syncPeriod: '1H',
      status: 'abnormal',
      slot: 'dr_failover_abnormal',
      error: 'the switchover failed at DEMOTE_PRODUCTION',
      createdAt: now,
      startedAt: now,
    }),
  );
});
afterAll(async () => {
  await e?.close();
});

describe('failover of an abnormal pairing', () => {
  it('is refused while production’s primary runs (a switchover loses nothing), and nothing is queued', async () => {
    standbySays = following;
    productionRoles = [{ ordinal: 1, role: 'primary', running: true, lagBytes: 0 }];
    await expect(dr.failover(prod.projectId, DR_ID)).rejects.toMatchObject({ code: 'DR_STATE_CONFLICT' });
    expect(queued).toEqual([]);
    expect((await e.store.getDisasterRecovery(prod.projectId, DR_ID))!.status).toBe('abnormal');
  });

  it('is refused when the following side is no standby cluster (it leads already, after a failover)', async () => {
    standbySays = null;
    productionRoles = [];
    const err = await dr.failover(prod.projectId, DR_ID).catch((x: unknown) => x);
    expect(err).toMatchObject({ code: 'DR_STATE_CONFLICT' });
    expect((err as Error).message).toMatch(/is no standby cluster now.*RestoreDisaster/);
    expect(queued).toEqual([]);
  });

  it('is accepted while the following side is still a standby cluster and production is lost: the failover promotes it', async () => {
    standbySays = following;
    productionRoles = [{ ordinal: 1, role: 'primary', running: false, lagBytes: null }];
    const t = await dr.failover(prod.projectId, DR_ID);
    expect(t.kind).toBe('dr.failover');
    expect(queued).toEqual([
      expect.objectContaining({
        kind: 'dr.failover',
        params: expect.objectContaining({ clusterId: standby.id, primaryClusterId: prod.id }),
      }),
    ]);
    expect((await e.store.getDisasterRecovery(prod.projectId, DR_ID))!.status).toBe('failovering');
  });

  it('is refused in the statuses where an operation runs or none started', async () => {
    for (const status of ['failovering', 'unstart', 'switchovering'] as const) {
      await pairing({ status });
      await expect(dr.failover(prod.projectId, DR_ID)).rejects.toMatchObject({ code: 'DR_STATE_CONFLICT' });
    }
    expect(queued).toHaveLength(1);
  });
});
