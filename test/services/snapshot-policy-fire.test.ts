/**
 * What an AUTO snapshot records of the strategy fire that made it (issue 16): the scheduler's
 * fire, through the real snapshot service and snapshot.create task over the step
 * environment's fake data plane, leaves the strategy, the slot and its schedule on the
 * snapshot; its wire form shows them as `bak_expected_start_time` and `bak_period`, with the
 * cluster's `keep_day` as `bak_keep_day`. Rescheduling the strategy afterwards changes neither.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepEnv, STEP_ENV_PROJECT, type StepEnv } from '../helpers/step-env.js';
import type { ClusterRecord } from '../../src/domain/records.js';
import type { SnapshotPolicyRecord } from '../../src/domain/snapshot-policy.js';
import { snapshotOut } from '../../src/api/schemas/snapshot.js';
import { snapshotTime } from '../../src/domain/time.js';

let e: StepEnv;
let cluster: ClusterRecord;

beforeAll(async () => {
  e = await createStepEnv();
  const made = await e.addCluster({ nodes: 2 });
  cluster = made.cluster;
  for (const n of made.nodes) e.dataPlane.running.set(`${cluster.id}/${n.ordinal}`, { pid: 50_000 + n.ordinal, startTime: 1 });
});
afterAll(async () => {
  await e?.close();
});

describe('an AUTO snapshot and the fire that made it', () => {
  it("records the strategy, its slot and schedule; the wire form shows them with the cluster's keep_day", async () => {
    const now = e.clock.now();
    await e.store.savePolicySettings({
      clusterId: cluster.id,
      projectId: STEP_ENV_PROJECT,
      keepDay: 4,
      deviceName: 'OBS',
      serverIps: [],
      serverPort: null,
      backupParam: null,
      autoBackup: true,
      createdAt: now,
      updatedAt: now,
    });
    // Daily at 10:00 in UTC+8 (02:00 UTC); the clock is past today's slot, so it is due.
    const slot = Date.UTC(2025, 0, 15, 2, 0, 0);
    expect(now).toBeGreaterThan(slot);
    const policy: SnapshotPolicyRecord = {
      id: crypto.randomUUID(),
      projectId: STEP_ENV_PROJECT,
      clusterId: cluster.id,
      name: 'nightly',
      schedule: '0 0 10 * * ?',
      backupType: 'increment',
      backupLevel: 'cluster',
      timeZoneOffset: 8,
      backupDatabase: null,
      backupSchemaList: null,
      backupTableList: null,
      nextFireAt: slot,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    };
    await e.store.insertPolicy(policy);

    expect(await e.svc.scheduler.fireDue(now)).toEqual(['created']);
    const [fire] = await e.store.listPolicyFires(policy.id);
    expect(fire).toMatchObject({ outcome: 'CREATED', fireTime: slot });
    const task = await e.finished((await e.store.getSnapshotById(fire!.snapshotId!))!.taskId!);
    expect(task.status).toBe('SUCCESS');

    // Rescheduled afterwards: the snapshot keeps what fired it.
    await e.store.updatePolicy(policy.id, { schedule: '0 30 3 * * ?', updatedAt: now + 1 });
    const s = (await e.store.getSnapshot(STEP_ENV_PROJECT, fire!.snapshotId!))!;
    expect(s.sourceSpec.policyFire).toEqual({ policyId: policy.id, fireTime: slot, schedule: '0 0 10 * * ?', timeZoneOffset: 8 });
    expect(snapshotOut(s, await e.svc.snapshots.context(s))).toMatchObject({
      type: 'AUTO',
      status: 'AVAILABLE',
      bak_expected_start_time: snapshotTime(slot),
      bak_period: '0 0 10 * * ?',
      bak_keep_day: 4,
    });
  });
});
