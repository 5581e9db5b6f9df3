/**
 * SyncIamUsers' refusals and failures (issue 16, services/db-sync-service.ts) over the step
 * environment's fake data plane and a real SQLite store: refused with 409 and nothing asked of
 * the data plane and nothing recorded while the cluster is read-only, not available or stopped;
 * a role PostgreSQL refuses (a SQLSTATE about the role) is one failed user and the sync goes on;
 * a primary that stops answering ends the sync FAILED with what it did and why (409); deleting
 * the cluster deletes its records (the cluster.delete task); the real
 * e2e cases are in test/e2e/db-users.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ClusterRecord, NodeRecord } from '../../src/domain/records.js';
import { AppError } from '../../src/errors/app-error.js';
import { createStepEnv, STEP_ENV_PROJECT, type StepEnv } from '../helpers/step-env.js';

let e: StepEnv;
let c: ClusterRecord;
let nodes: NodeRecord[];
const sync = () => e.svc.clusters.dbUsers.sync;
const user = async (name: string): Promise<void> =>
  e.store.insertUser({
    id: randomUUID(),
    projectId: STEP_ENV_PROJECT,
    name,
    role: 'readonly',
    passwordHash: 'unused',
    createdAt: e.clock.now(),
  });
const refusal = async (p: Promise<unknown>): Promise<[number, string, string]> => {
  const err = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(err).toBeInstanceOf(AppError);
  const a = err as AppError;
  return [a.httpStatus, a.wireCode, a.message];
};

beforeAll(async () => {
  e = await createStepEnv();
  ({ cluster: c, nodes } = await e.addCluster());
  for (const n of nodes) await e.dataPlane.startMember(c, n);
  await user('step_a');
  await user('step_b');
});
afterAll(async () => {
  await e?.close();
});
beforeEach(() => e.dataPlane.reset());

describe('SyncIamUsers refusals', () => {
  it('refused (409 DWS.0011) while read-only, not available or stopped: nothing asked of the data plane, nothing recorded', async () => {
    const patches: Partial<ClusterRecord>[] = [{ readOnly: 'ON' }, { status: 'UNAVAILABLE' }, { stopped: true }];
    for (const patch of patches) {
      await e.store.updateCluster(c.id, { ...patch, updatedAt: e.clock.now() });
      const [status, code, message] = await refusal(sync().sync(STEP_ENV_PROJECT, c.id));
      expect([status, code], JSON.stringify(patch)).toEqual([409, 'DWS.0011']);
      if (patch.readOnly) expect(message).toMatch(/read-only.*CancelReadonlyCluster/);
      await e.store.updateCluster(c.id, { readOnly: null, status: 'AVAILABLE', stopped: false, updatedAt: e.clock.now() });
    }
    expect(e.dataPlane.names()).toEqual([]);
    expect((await sync().records(STEP_ENV_PROJECT, c.id, 0, 10)).count).toBe(0);
  });

  it('a role PostgreSQL refuses is one failed user and the sync goes on; a primary that stops answering ends it FAILED with what it did (409)', async () => {
    const exists = Object.assign(new Error('role "step_a" already exists'), { code: '42710' });
    e.dataPlane.script('createSyncedRole', { fail: exists }, { ok: true });
    const r = await sync().sync(STEP_ENV_PROJECT, c.id);
    expect(r.sync_user).toEqual(['step_b']);
    const [first] = (await sync().records(STEP_ENV_PROJECT, c.id, 0, 10)).sync_records;
    expect(first).toMatchObject({
      status: 'SUCCESS',
      add_count: 1,
      failed_count: 1,
      fail_reason: expect.stringMatching(/^step_a: PostgreSQL refused it: role "step_a" already exists$/),
    });

    await user('step_c');
    const gone = Object.assign(new Error('Connection terminated unexpectedly'), {});
    e.dataPlane.script('createSyncedRole', { ok: true }, { fail: gone });
    e.clock.advance(1000);
    const [status, code, message] = await refusal(sync().sync(STEP_ENV_PROJECT, c.id));
    expect([status, code]).toEqual([409, 'DWS.0011']);
    expect(message).toMatch(/primary did not answer/);
    const { count, sync_records } = await sync().records(STEP_ENV_PROJECT, c.id, 0, 10);
    expect(count).toBe(2);
    // the fake's roleOids knows no role: step_a and step_b are both asked for again, step_a made, step_b cut off
    expect(sync_records[0]).toMatchObject({
      status: 'FAILED',
      add_count: 1,
      fail_reason: expect.stringMatching(/^sync stopped: its primary did not answer/),
    });
    // the cluster is free again: the next sync runs
    expect((await sync().sync(STEP_ENV_PROJECT, c.id)).sync_user.length).toBeGreaterThan(0);
  });

  it("deleting the cluster deletes its sync records and synced roles' records", async () => {
    const { cluster: other, nodes: members } = await e.addCluster();
    for (const n of members) await e.dataPlane.startMember(other, n);
    await sync().sync(STEP_ENV_PROJECT, other.id);
    expect((await e.store.listDbSyncs(other.id, 0, 10)).count).toBe(1);
    expect((await e.store.listSyncedRoles(other.id)).length).toBeGreaterThan(0);
    const before = (await e.store.listDbSyncs(c.id, 0, 10)).count;
    e.dataPlane.stanzas.set(other.stanza, []);
    const task = await e.enqueue('cluster.delete', { clusterId: other.id, keepLastManualSnapshot: 0 }, { cluster: other });
    expect((await e.finished(task.id)).status).toBe('SUCCESS');
    expect((await e.store.listDbSyncs(other.id, 0, 10)).count).toBe(0);
    expect(await e.store.listSyncedRoles(other.id)).toEqual([]);
    // another cluster's records stay
    expect((await e.store.listDbSyncs(c.id, 0, 10)).count).toBe(before);
  });
});
