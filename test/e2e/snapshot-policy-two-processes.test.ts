/**
 * Snapshot policies with two service processes on one PostgreSQL store: both run the
 * scheduler (a pass every 100 ms) against the same strategy (a slot every 3 seconds), so both
 * find every slot due at about the same moment; the `policy_fires(policy_id, fire_time)`
 * primary key lets exactly one of them create the slot's AUTO snapshot. Checked from the
 * store: one fire row per slot, one AUTO snapshot per fire and no other, every snapshot task
 * SUCCESS, run by exactly one process. No assertion is on time.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { startChildService, type ChildService } from '../helpers/child-service.js';
import { removeDir, removeProjectUsersUnder, tempDir, waitFor } from '../helpers/env.js';
import { startPgServer, type PgServer } from '../helpers/pg-server.js';
import { PROJECT_ID, createAvailableCluster, waitIdle } from '../helpers/service.js';
import { autoSnapshotName } from '../../src/services/snapshot-scheduler.js';

let pg: PgServer;
let dataDir: string;
let store: Store;
let A: ChildService;
let B: ChildService;

beforeAll(async () => {
  pg = await startPgServer('store-policy2p');
  const schema = await pg.createSchema('policy-two-processes');
  const url = pg.urlForSchema(schema);
  dataDir = tempDir('policy2p');
  const start = (name: string): Promise<ChildService> =>
    startChildService({
      dataDir,
      env: { DWSBOX_STORE_URL: url },
      logFile: join(dataDir, `service-${name}.log`),
      settings: { taskConcurrency: 1, schedulerIntervalMs: 100, policyMinIntervalMs: 1000 },
    });
  A = await start('a');
  B = await start('b');
  store = openStore(url);
});

afterAll(async () => {
  for (const s of [A, B]) if (s?.alive()) s.kill('SIGTERM');
  for (const s of [A, B]) if (s) await s.waitExit(30_000).catch(() => {});
  await A?.cleanup({ keepDir: true }).catch(() => {});
  await B?.cleanup({ keepDir: true });
  await store?.close();
  await pg?.stop();
  if (dataDir && !process.env['DWSBOX_KEEP_TEST_DIRS']) {
    removeDir(dataDir);
    await removeProjectUsersUnder(dataDir);
  }
});

describe('snapshot policies, two processes on one PostgreSQL store', () => {
  it('each slot produces exactly one AUTO snapshot', { timeout: 600_000 }, async () => {
    const c = await createAvailableCluster(A.client);
    // Set through B, fired by whichever process gets each slot.
    await B.client.call('PUT', `/v2/{project_id}/clusters/${c.id}/snapshot-policies`, {
      backup_strategies: [{ policy_name: 'every-3s', backup_strategy: '*/3 * * * * ?' }],
    });
    const policyId = (
      await A.client.call<{ backup_strategies: { policy_id: string; next_fire_time: string }[] }>(
        'GET',
        `/v2/{project_id}/clusters/${c.id}/snapshot-policies`,
      )
    ).backup_strategies[0]!.policy_id;
    await waitFor(async () => (await store.listPolicyFires(policyId)).filter((f) => f.outcome === 'CREATED').length >= 4, {
      timeoutMs: 400_000,
      intervalMs: 500,
      what: 'four fires',
    });
    await A.client.call('DELETE', `/v1.0/{project_id}/clusters/${c.id}/snapshot-policies/${policyId}`);
    await waitIdle(B.client, c.id);

    const fires = await store.listPolicyFires(policyId);
    expect(fires.every((f) => f.outcome === 'CREATED' && f.snapshotId !== null && f.fireTime % 3000 === 0)).toBe(true);
    expect(new Set(fires.map((f) => f.fireTime)).size).toBe(fires.length);
    const autos = (await store.listSnapshots(PROJECT_ID, c.id)).filter((s) => s.type === 'AUTO');
    expect(autos.map((s) => s.id).sort()).toEqual(fires.map((f) => f.snapshotId!).sort());
    for (const f of fires) {
      const s = autos.find((x) => x.id === f.snapshotId)!;
      expect(s.name).toBe(autoSnapshotName(policyId, f.fireTime));
      expect(s.status).toBe('AVAILABLE');
      const task = (await store.getTask(s.taskId!))!;
      expect(task.status).toBe('SUCCESS');
      expect(new Set(task.ranBy).size).toBe(1);
    }
    // Both processes ran the scheduler against the strategy (the log says which fired each slot).
    const fired = [...A.logLines(), ...B.logLines()].filter((l) => l.msg === 'snapshot policy fired' && l['policyId'] === policyId);
    expect(fired.length).toBe(fires.length);
    const byPid = new Map<number, number>();
    for (const l of fired) byPid.set(l.pid, (byPid.get(l.pid) ?? 0) + 1);
    const taken = [...A.logLines(), ...B.logLines()].filter(
      (l) => l.msg === 'snapshot policy slot already fired or changed by another process',
    ).length;
    console.log(
      'policy two-processes figures',
      JSON.stringify({ fires: fires.length, firedBy: Object.fromEntries(byPid), takenByTheOther: taken }),
    );
  });
});
