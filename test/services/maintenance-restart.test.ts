/**
 * A restart a parameter change needs waits for the cluster's maintenance window (issue 16):
 * the real configuration service, cluster.configure task and scheduler pass over the step
 * environment's fake data plane, given a small model of each member's pg_settings (a restart
 * value is pending until the member restarts). The deferring task ends and frees the cluster;
 * the detail and the parameters show the pending restart; the scheduler pass at the window
 * fires it as its own task, standbys first; one no longer needed ends at once; restart_now
 * restarts within the task; a new window moves the restart with it. The test moves the clock.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clusterDetailOut } from '../../src/api/schemas/cluster.js';
import type { PgSettingRow } from '../../src/domain/parameters.js';
import type { ClusterRecord, NodeRecord } from '../../src/domain/records.js';
import { clusterTime } from '../../src/domain/time.js';
import { MaintenanceRestarts } from '../../src/services/maintenance-restarts.js';
import { TaskQueue } from '../../src/tasks/queue.js';
import { createRegistry } from '../../src/tasks/registry.js';
import { createStepEnv, STEP_ENV_PROJECT, type StepEnv } from '../helpers/step-env.js';

let e: StepEnv;
/** each member's settings: `${cluster}/${ordinal}` → name → the value it runs and the one set */
const world = new Map<string, Map<string, { setting: string; set: string }>>();
const RESTART = new Set(['max_locks_per_transaction', 'max_worker_processes']);
const BOOT: Record<string, string> = { max_locks_per_transaction: '64', max_worker_processes: '8', statement_timeout: '0' };

function row(name: string, v: { setting: string; set: string }): PgSettingRow {
  return {
    name,
    setting: v.setting,
    unit: name === 'statement_timeout' ? 'ms' : null,
    vartype: 'integer',
    context: RESTART.has(name) ? 'postmaster' : 'user',
    minVal: '0',
    maxVal: '2147483647',
    enumvals: null,
    bootVal: BOOT[name] ?? null,
    shortDesc: name,
    pendingRestart: v.set !== v.setting,
  };
}

const memberOf = (c: { id: string }, ordinal: number) => {
  const key = `${c.id}/${ordinal}`;
  if (!world.has(key)) world.set(key, new Map(Object.entries(BOOT).map(([n, v]) => [n, { setting: v, set: v }])));
  return world.get(key)!;
};

beforeAll(async () => {
  e = await createStepEnv();
  const dp = e.dataPlane;
  dp.pgSettings = async (c, m, names) => {
    await dp.perform('pgSettings', [c.id, m.ordinal, names.length]);
    const s = memberOf(c, m.ordinal);
    return names.filter((n) => s.has(n)).map((n) => row(n, s.get(n)!));
  };
  dp.applyParameters = async (c, _primary, members, params) => {
    await dp.perform('applyParameters', [c.id, members.length, Object.keys(params).length]);
    for (const m of members)
      for (const [n, v] of Object.entries(params)) {
        const cur = memberOf(c, m.ordinal).get(n)!;
        memberOf(c, m.ordinal).set(n, { setting: RESTART.has(n) ? cur.setting : v, set: v });
      }
  };
  const restart = dp.restartMember.bind(dp);
  dp.restartMember = async (c, m) => {
    const proc = await restart(c, m);
    for (const v of memberOf(c, m.ordinal).values()) v.setting = v.set;
    return proc;
  };
});
afterAll(async () => {
  await e?.close();
});
beforeEach(() => {
  e.dataPlane.reset();
});

/** A running three-member cluster; its window Thu 22:00–02:00 UTC (the clock starts on Wednesday 2025-01-15 08:00). */
async function runningCluster(): Promise<{ cluster: ClusterRecord; nodes: NodeRecord[] }> {
  const made = await e.addCluster({ nodes: 3 });
  for (const n of made.nodes) e.dataPlane.running.set(`${made.cluster.id}/${n.ordinal}`, { pid: 60_000 + n.ordinal, startTime: 1 });
  return made;
}

const cfg = () => e.svc.clusters.configurations;
const restarts = () => e.dataPlane.intentions.filter((i) => i.name === 'restartMember').map((i) => i.args[1]);
const fresh = async (c: ClusterRecord) => (await e.store.getClusterById(c.id))!;
const detail = async (c: ClusterRecord) =>
  clusterDetailOut(await e.svc.clusters.view(await fresh(c)), { earliest: null, latest: null, left: [] });
const pendingListed = async (c: ClusterRecord) =>
  Object.fromEntries((await cfg().parameters(STEP_ENV_PROJECT, c.id, c.id)).configurations.map((p) => [p.name, p.pending_restart]));
const THU_22 = Date.UTC(2025, 0, 16, 22, 0, 0);
/** The cluster's scheduled restarts (tasks made at one clock time have no order by creation). */
const scheduled = async (c: ClusterRecord) =>
  (await e.store.listTasks(c.id)).filter((t) => (t.params as { scheduled?: boolean }).scheduled);

describe('a restart that waits for the maintenance window', () => {
  it('applies the values, ends and frees the cluster; the detail and the parameters show the restart pending until it fires at the window, standbys first', async () => {
    const { cluster } = await runningCluster();
    const task = await cfg().update(STEP_ENV_PROJECT, cluster.id, cluster.id, [
      { name: 'max_locks_per_transaction', value: '128' },
      { name: 'statement_timeout', value: '5000' },
    ]);
    expect((await e.finished(task!.id)).status).toBe('SUCCESS');
    expect(restarts()).toEqual([]);
    expect(memberOf(cluster, 2).get('statement_timeout')).toEqual({ setting: '5000', set: '5000' });
    expect(memberOf(cluster, 2).get('max_locks_per_transaction')).toEqual({ setting: '64', set: '128' });

    // No task holds the cluster: other work goes on (here, a reload-only change) while the restart waits.
    expect(await e.store.activeTask(`cluster:${cluster.id}`)).toBeUndefined();
    const other = await cfg().update(STEP_ENV_PROJECT, cluster.id, cluster.id, [{ name: 'statement_timeout', value: '6000' }]);
    expect((await e.finished(other!.id)).status).toBe('SUCCESS');

    const c = await fresh(cluster);
    expect(c.restartDueAt).toBe(THU_22);
    expect((await detail(cluster)).pending_restart).toEqual({
      parameters: [{ name: 'max_locks_per_transaction', value: '128' }],
      status: 'SCHEDULED',
      start_time: clusterTime(THU_22),
      since: clusterTime(e.clock.now()),
    });
    expect(await pendingListed(cluster)).toMatchObject({ max_locks_per_transaction: true, statement_timeout: false });

    // Before the window nothing fires; at its start, the scheduler's pass does.
    expect(await e.svc.scheduler.pass().then(() => e.store.listTasks(cluster.id))).toHaveLength(2);
    e.clock.advance(THU_22 - e.clock.now());
    await e.svc.scheduler.pass();
    const [fired, ...more] = await scheduled(cluster);
    expect(more).toEqual([]);
    expect(fired!.params).toMatchObject({ scheduled: true, restartOrder: [2, 3, 1] });
    expect((await detail(cluster)).pending_restart).toMatchObject({ status: 'RUNNING' });
    expect((await e.finished(fired!.id)).status).toBe('SUCCESS');
    expect(restarts()).toEqual([2, 3, 1]);
    for (const n of [1, 2, 3]) expect(memberOf(cluster, n).get('max_locks_per_transaction')).toEqual({ setting: '128', set: '128' });
    expect((await detail(cluster)).pending_restart).toBeUndefined();
    expect(await fresh(cluster)).toMatchObject({ pendingRestart: null, restartDueAt: null });
    expect(await pendingListed(cluster)).toMatchObject({ max_locks_per_transaction: false });
    // Fired once: later passes make nothing.
    await e.svc.scheduler.pass();
    expect(await scheduled(cluster)).toHaveLength(1);
  });

  it('waits while another task runs on the cluster, then fires; one no longer needed ends at once, saying so', async () => {
    const { cluster, nodes } = await runningCluster();
    const task = await cfg().update(STEP_ENV_PROJECT, cluster.id, cluster.id, [{ name: 'max_worker_processes', value: '16' }]);
    await e.finished(task!.id);
    // The members were restarted meanwhile (a cluster restart): nothing is pending any more.
    for (const n of nodes) for (const v of memberOf(cluster, n.ordinal).values()) v.setting = v.set;
    e.clock.advance(Math.max(0, (await fresh(cluster)).restartDueAt! - e.clock.now()));
    const busy = await e.enqueue(
      'cluster.configure',
      { clusterId: cluster.id, changes: [], parameters: {}, restartOrder: [] },
      { cluster },
    );
    expect(await e.svc.scheduler.pass().then(() => e.store.listTasks(cluster.id))).toHaveLength(2);
    await e.finished(busy.id);
    expect(await scheduled(cluster)).toEqual([]);
    await e.svc.scheduler.pass();
    const [fired] = await scheduled(cluster);
    expect((await e.finished(fired!.id)).status).toBe('SUCCESS');
    expect(restarts()).toEqual([]);
    expect(e.logs.some((l) => l['taskId'] === fired!.id && /no longer needed/.test(String(l['msg'])))).toBe(true);
    expect(await fresh(cluster)).toMatchObject({ pendingRestart: null, restartDueAt: null });
  });

  it('restart_now restarts within the task; a new window moves a waiting restart; a window missed moves it to the next', async () => {
    const { cluster } = await runningCluster();
    const now = await cfg().update(STEP_ENV_PROJECT, cluster.id, cluster.id, [{ name: 'max_worker_processes', value: '12' }], {
      restartNow: true,
    });
    expect((await e.finished(now!.id)).status).toBe('SUCCESS');
    expect(restarts()).toEqual([2, 3, 1]);
    expect(await fresh(cluster)).toMatchObject({ pendingRestart: null, restartDueAt: null });

    const later = await cfg().update(STEP_ENV_PROJECT, cluster.id, cluster.id, [{ name: 'max_worker_processes', value: '14' }]);
    await e.finished(later!.id);
    const t = e.clock.now();
    await e.svc.clusters.setMaintenanceWindow(STEP_ENV_PROJECT, cluster.id, { day: 'Sun', start_time: '03:00', end_time: '07:00' });
    const due = (await fresh(cluster)).restartDueAt!;
    expect(new Date(due).getUTCDay()).toBe(0);
    expect(due).toBeGreaterThan(t);
    // The service was down for that window: the first pass after it moves the restart a week on.
    e.clock.advance(due + 5 * 3_600_000 - e.clock.now());
    await e.svc.scheduler.pass();
    expect((await fresh(cluster)).restartDueAt).toBe(due + 7 * 86_400_000);
    expect(await scheduled(cluster)).toEqual([]);
  });

  it('fires once when two service processes pass at the same moment, from the store alone (a service started again finds it); a cluster restart ends the wait', async () => {
    const { cluster } = await runningCluster();
    const task = await cfg().update(STEP_ENV_PROJECT, cluster.id, cluster.id, [{ name: 'max_locks_per_transaction', value: '96' }]);
    await e.finished(task!.id);
    e.clock.advance(Math.max(0, (await fresh(cluster)).restartDueAt! - e.clock.now()));
    // Two fresh processes' schedulers over the one store: nothing of the deferral is in their memory.
    const process = () =>
      new MaintenanceRestarts({
        store: e.store,
        queue: new TaskQueue(new Map(createRegistry()), e.clock, () => e.svc.tasks.notify()),
        log: e.svc.log,
      });
    const outcomes = await Promise.all([process().fireDue(e.clock.now()), process().fireDue(e.clock.now())]);
    // One makes the task; the other finds it fired ('taken') or the cluster busy with it ('busy').
    expect(outcomes.flat().filter((x) => x === 'created')).toHaveLength(1);
    expect(outcomes.flat().filter((x) => x !== 'created')).toEqual([expect.stringMatching(/^(taken|busy)$/)]);
    const fired = await scheduled(cluster);
    expect(fired).toHaveLength(1);
    expect((await e.finished(fired[0]!.id)).status).toBe('SUCCESS');

    // Deferred again, then the whole cluster restarted: every member started afresh, nothing waits.
    const again = await cfg().update(STEP_ENV_PROJECT, cluster.id, cluster.id, [{ name: 'max_locks_per_transaction', value: '112' }]);
    await e.finished(again!.id);
    expect((await fresh(cluster)).pendingRestart).not.toBeNull();
    const restart = await e.enqueue(
      'cluster.restart',
      { clusterId: cluster.id, ordinals: [1, 2, 3], primary: 1 },
      { cluster: await fresh(cluster) },
    );
    expect((await e.finished(restart.id)).status).toBe('SUCCESS');
    expect(await fresh(cluster)).toMatchObject({ pendingRestart: null, restartDueAt: null });
    expect((await detail(cluster)).pending_restart).toBeUndefined();
  });
});
