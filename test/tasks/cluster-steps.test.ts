/**
 * The real cluster task definitions (create, restart, stop, start, delete) over the fake data
 * plane of the step test environment: which intentions their steps ask for, in which order,
 * and what they record in the store. Milliseconds, no PostgreSQL; the end-to-end suite runs
 * the same definitions on real clusters.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import { createStepEnv, type StepEnv } from '../helpers/step-env.js';

let e: StepEnv;
beforeAll(async () => {
  e = await createStepEnv();
});
afterAll(async () => {
  await e?.close();
});
beforeEach(() => {
  e.dataPlane.reset();
});
afterEach(async () => {
  await e.idle();
  expect(e.dataPlane.locksHeld).toBe(0);
});

/** Where each member intention of the fake records the member's number among its arguments. */
const MEMBER_ARG: Record<string, number> = { startMember: 1, stopMember: 1, buildReplica: 2, waitCaughtUp: 2 };

/** The member intentions asked for, in order, as `name ordinal`. */
const memberIntentions = (names: string[]): string[] =>
  e.dataPlane.intentions.filter((i) => names.includes(i.name)).map((i) => `${i.name} ${String(i.args[MEMBER_ARG[i.name]!])}`);

describe('cluster.create', () => {
  it('makes the primary, archiving and the administrator, then each standby from it, and checks it all; the nodes become members with their PIDs', async () => {
    const { cluster } = await e.addCluster({ status: 'CREATING', membership: 'building' });
    const task = await e.enqueue('cluster.create', { clusterId: cluster.id, numberOfNode: 3 }, { cluster, checkState: false });
    expect((await e.finished(task.id)).status).toBe('SUCCESS');

    const names = e.dataPlane.names();
    const order = [
      'ensureProject',
      'initPrimary',
      'startMember',
      'ensureReplicationRole',
      'enableArchiving',
      // made while archiving is enabled (ENABLE_ARCHIVING), before the standbys catch up
      'ensureAdmin',
      'buildReplica',
      'checkAdminLogin',
      'archiverState',
    ];
    expect(order.map((n) => names.indexOf(n))).toEqual([...order.map((n) => names.indexOf(n))].sort((a, b) => a - b));
    expect(memberIntentions(['buildReplica', 'startMember'])).toEqual([
      'startMember 1',
      'buildReplica 2',
      'startMember 2',
      'buildReplica 3',
      'startMember 3',
    ]);
    const nodes = await e.store.listNodes(cluster.id);
    expect(nodes.map((n) => [n.ordinal, n.membership, n.health, n.pid !== null])).toEqual([
      [1, 'active', 'up', true],
      [2, 'active', 'up', true],
      [3, 'active', 'up', true],
    ]);
    expect(await e.store.getClusterById(cluster.id)).toMatchObject({ status: 'AVAILABLE', subStatus: 'NORMAL' });
  });

  it('a standby that cannot be built: the clean-up stops every member, highest first, removes the stanza and the files, and the cluster ends CREATION FAILED', async () => {
    e.dataPlane.script('buildReplica', { ok: true }, { fail: new AppError('ENGINE_NODE_FAILED', { args: ['node 3', 'the copy broke'] }) });
    const { cluster } = await e.addCluster({ status: 'CREATING', membership: 'building' });
    const task = await e.enqueue('cluster.create', { clusterId: cluster.id, numberOfNode: 3 }, { cluster, checkState: false });
    const done = await e.finished(task.id);
    expect(done).toMatchObject({ status: 'FAILED', failedStep: 'BUILD_STANDBY_3', errorCode: 'DWS.9921' });

    const undo = e.dataPlane.names().slice(e.dataPlane.names().lastIndexOf('buildReplica') + 1);
    expect(undo.filter((n) => n !== 'stanzaExists')).toEqual([
      'stopMember',
      'stopMember',
      'stopMember',
      'removeStanza',
      'removeClusterFiles',
    ]);
    expect(memberIntentions(['stopMember'])).toEqual(['stopMember 3', 'stopMember 2', 'stopMember 1']);
    expect(e.dataPlane.stanzas.has(cluster.stanza)).toBe(false);
    expect(await e.store.listNodes(cluster.id)).toEqual([]);
    expect(await e.store.getClusterById(cluster.id)).toMatchObject({
      status: 'CREATION FAILED',
      subnetIndex: null,
      failedReasons: [{ error_code: 'DWS.9921', error_msg: done.errorMsg }],
    });
  });
});

describe('restart, stop, start', () => {
  it('restart stops the standbys before the primary, starts the primary first, then waits for each standby to catch up', async () => {
    const { cluster } = await e.addCluster();
    const task = await e.enqueue('cluster.restart', { clusterId: cluster.id, ordinals: [1, 2, 3] }, { cluster });
    expect((await e.finished(task.id)).status).toBe('SUCCESS');
    expect(memberIntentions(['stopMember', 'startMember', 'waitCaughtUp'])).toEqual([
      'stopMember 3',
      'stopMember 2',
      'stopMember 1',
      'startMember 1',
      'startMember 2',
      'startMember 3',
      'waitCaughtUp 2',
      'waitCaughtUp 3',
    ]);
    expect((await e.store.listNodes(cluster.id)).every((n) => n.health === 'up' && n.pid !== null)).toBe(true);
  });

  it('stop leaves every member stopped and the cluster stopped; start brings them back', async () => {
    const { cluster } = await e.addCluster();
    const stop = await e.enqueue('cluster.stop', { clusterId: cluster.id, ordinals: [1, 2, 3] }, { cluster });
    expect((await e.finished(stop.id)).status).toBe('SUCCESS');
    expect(memberIntentions(['stopMember'])).toEqual(['stopMember 3', 'stopMember 2', 'stopMember 1']);
    expect((await e.store.listNodes(cluster.id)).map((n) => n.health)).toEqual(['stopped', 'stopped', 'stopped']);
    const stopped = (await e.store.getClusterById(cluster.id))!;
    expect(stopped).toMatchObject({ status: 'UNAVAILABLE', stopped: true });

    const start = await e.enqueue('cluster.start', { clusterId: cluster.id, ordinals: [1, 2, 3] }, { cluster: stopped });
    expect((await e.finished(start.id)).status).toBe('SUCCESS');
    expect(memberIntentions(['startMember'])).toEqual(['startMember 1', 'startMember 2', 'startMember 3']);
    expect(await e.store.getClusterById(cluster.id)).toMatchObject({ status: 'AVAILABLE', stopped: false, subStatus: 'NORMAL' });
  });
});

describe('cluster.delete', () => {
  it('keeping no snapshot: stops the members (all at once, immediately), removes the stanza and the files; the cluster is gone with its nodes', async () => {
    const { cluster } = await e.addCluster();
    e.dataPlane.stanzas.set(cluster.stanza, []);
    const task = await e.enqueue('cluster.delete', { clusterId: cluster.id, keepLastManualSnapshot: 0 }, { cluster });
    expect((await e.finished(task.id)).status).toBe('SUCCESS');
    const stops = e.dataPlane.intentions.filter((i) => i.name === 'stopMember');
    expect(stops.map((i) => `${String(i.args[1])} ${String(i.args[2])}`).sort()).toEqual(['1 immediate', '2 immediate', '3 immediate']);
    expect(e.dataPlane.names()).toContain('removeStanza');
    expect(e.dataPlane.names().at(-1)).toBe('removeClusterFiles');
    expect(e.dataPlane.stanzas.has(cluster.stanza)).toBe(false);
    expect(await e.store.listNodes(cluster.id)).toEqual([]);
    expect((await e.store.getClusterById(cluster.id))!.deletedAt).toBe(e.clock.now());
  });
});
