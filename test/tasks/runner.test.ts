/**
 * The task runner and worker, run for real over a SQLite store with a fake data plane
 * (test/helpers/step-env.ts): retry with back-off, undo in reverse order, rollback, lease loss,
 * `during` faults, step and idle timeouts, and the D8 outcome rule for every kind. No
 * PostgreSQL: each test runs in milliseconds.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ClusterRecord, SnapshotRecord, StepRecord } from '../../src/domain/records.js';
import type { TaskKind } from '../../src/domain/task.js';
import { AppError } from '../../src/errors/app-error.js';
import type { StepContext, TaskDefinition } from '../../src/tasks/definition.js';
import { retryDelayMs } from '../../src/tasks/retry.js';
import { createRegistry } from '../../src/tasks/registry.js';
import { FakeDataPlane } from '../helpers/fake-data-plane.js';
import type { DataPlane, MemberRole, ProgressSampleIn } from '../../src/dataplane/data-plane.js';
import { withLeader } from '../../src/tasks/definitions/member-steps.js';
import { makeFault } from '../helpers/records.js';
import { createStepEnv, STEP_ENV_PROJECT, type StepEnv } from '../helpers/step-env.js';
import { dumpStore } from '../helpers/store-dump.js';

/**
 * The fake the runner hands every step (the environment injects it into createService), for
 * the test's own intentions (`perform`), which are not part of the DataPlane interface.
 */
const fake = (ctx: StepContext<unknown, object, unknown>): FakeDataPlane => {
  const dp = ctx.dataPlane;
  if (!(dp instanceof FakeDataPlane)) throw new Error('the step was not given the injected data plane');
  return dp;
};

/** A step that asks the data plane for one intention, named after the step, passing its signal and progress. */
const intend =
  (name: string) =>
  async (ctx: StepContext<unknown, object, unknown>): Promise<void> => {
    await fake(ctx).perform(name, [ctx.stepId], { signal: ctx.signal, onProgress: (s) => ctx.progress(s) });
  };

const retryable = (why: string): AppError => new AppError('ENGINE_COMMAND_FAILED', { args: ['fake tool', why], retryable: true });
const final = (why: string): AppError => new AppError('VERIFY_FAILED', { args: [why] });

/** A definition of `kind` for a test: the registry's own (its extras, its maxAttempts) with the test's plan and steps. */
function definitionOf(kind: TaskKind, o: Partial<TaskDefinition>): TaskDefinition<never, never, never> {
  const real = createRegistry().get(kind)!;
  const { failure: _failure, ...rest } = real as TaskDefinition<never, never, never>;
  return { ...rest, ...o } as TaskDefinition<never, never, never>;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** One environment for the file (its API and credentials take a fraction of a second to make); each test has clusters of its own. */
let e: StepEnv;
beforeAll(async () => {
  e = await createStepEnv({ settings: { stepIdleTimeoutMs: 60 }, random: () => 0.5 });
});
afterAll(async () => {
  await e?.close();
});
beforeEach(() => {
  e.dataPlane.reset();
});
afterEach(async () => {
  // Whatever a test did, its task is over and no step lock is left held.
  await e.idle();
  expect(e.dataPlane.locksHeld).toBe(0);
});

describe('retry with back-off', () => {
  it('a retryable failure runs the task again after retryDelayMs(attempt) of the injected random source, resuming at the failed step', async () => {
    e.define(
      definitionOf('cluster.restart', {
        plan: () => [
          { id: 'PREPARE', item: 'RESTART_CLUSTER' },
          { id: 'RESTART', item: 'RESTART_CLUSTER' },
        ],
        steps: { PREPARE: intend('prepare'), RESTART: intend('restart') },
      }),
    );
    e.dataPlane.script('restart', { fail: retryable('first') }, { fail: retryable('second') });
    const { cluster } = await e.addCluster();
    const task = await e.enqueue('cluster.restart', { clusterId: cluster.id, ordinals: [1, 2, 3] }, { cluster });

    const first = await e.waitForTask(task.id, (t) => t.attempt === 1 && t.lockedBy === null, 'released for its second attempt');
    expect(first.status).toBe('RUNNING');
    expect(first.runAt).toBe(e.clock.now() + retryDelayMs(0, () => 0.5));
    expect((await e.store.getStep(task.id, 'RESTART'))!.errorMsg).toMatch(/^attempt 1 failed, retrying: .*first/);

    // Not due yet: nothing runs (the worker polls every few milliseconds meanwhile).
    e.clock.advance(retryDelayMs(0, () => 0.5) - 1);
    e.svc.tasks.notify();
    await new Promise((r) => setTimeout(r, 40));
    expect(e.dataPlane.names()).toEqual(['prepare', 'restart']);

    e.clock.advance(1);
    e.svc.tasks.notify();
    const second = await e.waitForTask(task.id, (t) => t.attempt === 2 && t.lockedBy === null, 'released for its third attempt');
    expect(second.runAt).toBe(e.clock.now() + retryDelayMs(1, () => 0.5));
    e.clock.advance(retryDelayMs(1, () => 0.5));
    e.svc.tasks.notify();

    const done = await e.finished(task.id);
    expect(done.status).toBe('SUCCESS');
    expect(done.attempt).toBe(2);
    // PREPARE succeeded once and is not run again; RESTART ran three times.
    expect(e.dataPlane.names()).toEqual(['prepare', 'restart', 'restart', 'restart']);
    expect((await e.store.getStep(task.id, 'RESTART'))!).toMatchObject({ status: 'SUCCESS', attempts: 3, errorMsg: null });
  });

  it("when the attempts run out, the failure is final: FAILED, and the kind's D8 failure state", async () => {
    e.define(
      definitionOf('cluster.restart', { plan: () => [{ id: 'RESTART', item: 'RESTART_CLUSTER' }], steps: { RESTART: intend('restart') } }),
    );
    e.dataPlane.script('restart', { fail: retryable('1') }, { fail: retryable('2') }, { fail: retryable('3') });
    const { cluster } = await e.addCluster();
    const task = await e.enqueue('cluster.restart', { clusterId: cluster.id, ordinals: [1, 2, 3] }, { cluster });
    for (const attempt of [1, 2]) {
      await e.waitForTask(task.id, (t) => t.attempt === attempt && t.lockedBy === null, `released for attempt ${attempt + 1}`);
      e.clock.advance(retryDelayMs(attempt - 1, () => 0.5));
      e.svc.tasks.notify();
    }
    const done = await e.finished(task.id);
    expect(done).toMatchObject({ status: 'FAILED', attempt: 2, errorCode: 'DWS.9920', failedStep: 'RESTART' });
    expect(done.errorMsg).toContain('3');
    expect(e.dataPlane.names()).toEqual(['restart', 'restart', 'restart']);
    expect(await e.store.getClusterById(cluster.id)).toMatchObject({ status: 'AVAILABLE', stickyTaskStatus: 'REBOOT_FAILURE' });
  });

  it('an error that is not retryable fails the task at once', async () => {
    e.define(
      definitionOf('cluster.restart', { plan: () => [{ id: 'RESTART', item: 'RESTART_CLUSTER' }], steps: { RESTART: intend('restart') } }),
    );
    e.dataPlane.script('restart', { fail: final('broken') });
    const { cluster } = await e.addCluster();
    const task = await e.enqueue('cluster.restart', { clusterId: cluster.id, ordinals: [1, 2, 3] }, { cluster });
    expect(await e.finished(task.id)).toMatchObject({ status: 'FAILED', attempt: 0, errorCode: 'DWS.9926' });
    expect(e.dataPlane.names()).toEqual(['restart']);
  });
});

describe('a failover under a step (withLeader, D23)', () => {
  const roles = (leader: number): MemberRole[] =>
    [1, 2, 3].map((ordinal) => ({ ordinal, role: ordinal === leader ? 'primary' : 'standby', running: true, lagBytes: 0 }));
  /**
   * BACKUP fails while node 1 leads; with `kill`, node 1's postmaster went away first (pgBackRest
   * then finds no primary), else the failure is the work's own. Node 2 leads next.
   */
  const onLeader = (seen: number[], kill: boolean, onFail: () => void): TaskDefinition<never, never, never> =>
    definitionOf('snapshot.create', {
      plan: () => [{ id: 'BACKUP', item: 'CREATE_SNAPSHOT' }],
      steps: {
        BACKUP: (ctx: StepContext<unknown>) =>
          withLeader(
            ctx,
            async (primary) => {
              seen.push(primary.ordinal);
              if (primary.ordinal !== 1) return;
              if (kill) fake(ctx).running.delete(`${primary.clusterId}/1`);
              onFail();
              throw final('pgbackrest: unable to find primary cluster');
            },
            { again: 'lost' },
          ),
      },
    });
  /** `leader`: the member the failover manager names when the work has failed (null: an engine without one). */
  const run = async (o: {
    leader: number | null;
    kill: boolean;
  }): Promise<{ status: string; seen: number[]; errorMsg: string | null; clusterId: string }> => {
    let failed = false;
    const leader = o.leader;
    if (leader !== null) Object.assign(e.dataPlane, { memberRoles: () => Promise.resolve(roles(failed ? leader : 1)) });
    else delete (e.dataPlane as Partial<DataPlane>).memberRoles;
    const seen: number[] = [];
    e.define(onLeader(seen, o.kill, () => (failed = true)));
    const { cluster } = await e.addCluster();
    for (const i of [1, 2, 3]) e.dataPlane.running.set(`${cluster.id}/${i}`, { pid: 1000 + i, startTime: 1 });
    const task = await e.enqueue('snapshot.create', { clusterId: cluster.id, snapshotId: 'none' }, { cluster });
    const done = await e.finished(task.id);
    return { status: done.status, seen, errorMsg: done.errorMsg, clusterId: cluster.id };
  };
  afterEach(() => {
    delete (e.dataPlane as Partial<DataPlane>).memberRoles;
  });

  it("runs the work again against the member the failover manager names once the primary's PostgreSQL went away, and records it as the primary", async () => {
    const r = await run({ leader: 2, kill: true });
    expect(r).toMatchObject({ status: 'SUCCESS', seen: [1, 2] });
    expect((await e.store.listNodes(r.clusterId)).map((n) => [n.ordinal, n.role])).toEqual([
      [1, 'standby'],
      [2, 'primary'],
      [3, 'standby'],
    ]);
  });

  it('runs the work again when another member leads though the postmaster it began with still runs (the recorded primary lost the lead before the work began)', async () => {
    expect(await run({ leader: 2, kill: false })).toMatchObject({ status: 'SUCCESS', seen: [1, 2] });
  });

  it("lets the failure stand when the primary's PostgreSQL never went away and still leads (the work's own failure), and on an engine without a failover manager", async () => {
    for (const o of [
      { leader: 1, kill: false },
      { leader: null, kill: true },
    ])
      expect({ ...o, ...(await run(o)) }).toMatchObject({
        ...o,
        status: 'FAILED',
        seen: [1],
        errorMsg: expect.stringContaining('unable to find primary cluster'),
      });
  });
});

describe('undo', () => {
  /** Undo steps for the steps that succeeded, last first. */
  const reverseUndo = (_task: unknown, runSteps: StepRecord[]) =>
    runSteps
      .filter((s) => s.phase === 'run' && s.status === 'SUCCESS')
      .reverse()
      .map((s) => ({ id: `UNDO_${s.stepId}`, item: 'CLEAN_UP' }));

  it("cleanup: undo steps run in reverse order of the steps they undo, the task ends FAILED, and create's failure state and extras apply", async () => {
    e.define(
      definitionOf('cluster.create', {
        plan: () => ['A', 'B', 'C'].map((id) => ({ id, item: 'CREATE_NODES' })),
        steps: { A: intend('do A'), B: intend('do B'), C: intend('do C'), UNDO_A: intend('undo A'), UNDO_B: intend('undo B') },
        failure: { mode: 'cleanup', steps: reverseUndo },
      }),
    );
    e.dataPlane.script('do C', { fail: final('C broke') });
    const { cluster } = await e.addCluster({ membership: 'building' });
    const task = await e.enqueue('cluster.create', { clusterId: cluster.id, numberOfNode: 3 }, { cluster, checkState: false });
    const done = await e.finished(task.id);

    expect(e.dataPlane.names()).toEqual(['do A', 'do B', 'do C', 'undo B', 'undo A']);
    expect(done).toMatchObject({ status: 'FAILED', phase: 'done', failedStep: 'C', errorCode: 'DWS.9926' });
    const steps = await e.store.listSteps(task.id);
    expect(steps.map((s) => [s.stepId, s.phase, s.status])).toEqual([
      ['A', 'run', 'SUCCESS'],
      ['B', 'run', 'SUCCESS'],
      ['C', 'run', 'FAILED'],
      ['UNDO_B', 'undo', 'SUCCESS'],
      ['UNDO_A', 'undo', 'SUCCESS'],
    ]);
    const after = (await e.store.getClusterById(cluster.id))!;
    expect(after).toMatchObject({ status: 'CREATION FAILED', subnetIndex: null });
    expect(after.failedReasons).toEqual([{ error_code: 'DWS.9926', error_msg: done.errorMsg }]);
  });

  it('rollback: the task shows ROLLBACK_RUNNING while it undoes; an undo step that fails is ROLLBACK_FAIL, the others still run, and the task ends ROLLBACK_FAIL naming it', async () => {
    const inU2 = deferred();
    const goOn = deferred();
    e.define(
      definitionOf('cluster.scale_out', {
        plan: () => [
          { id: 'A', item: 'ADD_NODES' },
          { id: 'B', item: 'ADD_NODES' },
        ],
        steps: {
          A: intend('do A'),
          B: intend('do B'),
          U1: intend('undo 1'),
          U2: async (ctx) => {
            inU2.resolve();
            await goOn.promise;
            await intend('undo 2')(ctx);
          },
        },
        failure: {
          mode: 'rollback',
          steps: () => [
            { id: 'U1', item: 'ROLLBACK' },
            { id: 'U2', item: 'ROLLBACK' },
          ],
        },
      }),
    );
    e.dataPlane.script('do B', { fail: final('B broke') });
    e.dataPlane.script('undo 1', { fail: final('U1 broke') });
    const { cluster } = await e.addCluster();
    const task = await e.enqueue('cluster.scale_out', { clusterId: cluster.id }, { cluster });

    await inU2.promise;
    expect(await e.store.getTask(task.id)).toMatchObject({ status: 'ROLLBACK_RUNNING', phase: 'undo', failedStep: 'B' });
    expect(await e.store.getStep(task.id, 'U1')).toMatchObject({ status: 'ROLLBACK_FAIL', errorCode: 'DWS.9926' });
    expect((await e.store.getStep(task.id, 'U2'))!.status).toBe('ROLLBACK_RUNNING');
    goOn.resolve();

    const done = await e.finished(task.id);
    expect(e.dataPlane.names()).toEqual(['do A', 'do B', 'undo 1', 'undo 2']);
    expect(done.status).toBe('ROLLBACK_FAIL');
    expect(done.errorMsg).toMatch(/B broke.*Undo incomplete \(U1: .*U1 broke/);
    expect((await e.store.getStep(task.id, 'U2'))!.status).toBe('SUCCESS');
    expect(await e.store.getClusterById(cluster.id)).toMatchObject({ status: 'AVAILABLE', stickyTaskStatus: 'RESIZE_FAILURE' });
  });

  it('rollback: when every undo step succeeds the task ends ROLLBACK_SUCCESS', async () => {
    e.define(
      definitionOf('cluster.scale_out', {
        plan: () => [{ id: 'A', item: 'ADD_NODES' }],
        steps: { A: intend('do A'), U: intend('undo') },
        failure: { mode: 'rollback', steps: () => [{ id: 'U', item: 'ROLLBACK' }] },
      }),
    );
    e.dataPlane.script('do A', { fail: final('A broke') });
    const { cluster } = await e.addCluster();
    const task = await e.enqueue('cluster.scale_out', { clusterId: cluster.id }, { cluster });
    expect(await e.finished(task.id)).toMatchObject({ status: 'ROLLBACK_SUCCESS', errorCode: 'DWS.9926' });
    expect(await e.store.getStep(task.id, 'U')).toMatchObject({ status: 'SUCCESS', phase: 'undo' });
  });
});

describe('lease', () => {
  it('after another process takes the task over, the old owner writes nothing more: no progress, checkpoint, step status or outcome', async () => {
    const reached = deferred();
    const goOn = deferred();
    e.define(
      definitionOf('snapshot.create', {
        plan: () => [
          { id: 'BACKUP', item: 'CREATE_SNAPSHOT' },
          { id: 'RECORD', item: 'CREATE_SNAPSHOT' },
        ],
        steps: {
          BACKUP: async (ctx) => {
            await fake(ctx).perform('backup', [], { signal: ctx.signal, onProgress: (s) => ctx.progress(s) });
            reached.resolve();
            await goOn.promise;
            ctx.progress({ source: 'fake', percent: 90 });
            await ctx.setCheckpoint({ late: true });
          },
          RECORD: intend('record'),
        },
      }),
    );
    e.dataPlane.script('backup', { progress: [{ source: 'fake', bytesDone: 1, bytesTotal: 10, percent: 10 }] });
    const { cluster } = await e.addCluster();
    const task = await e.enqueue('snapshot.create', { clusterId: cluster.id, snapshotId: 'none' }, { cluster });
    await reached.promise;

    const mine = (await e.store.getTask(task.id))!;
    expect(await e.store.expireLease(task.id, mine.leaseEpoch, e.clock.now())).toBe(true);
    const theirs = await e.store.claimNextTask({ owner: 'another-process', now: e.clock.now(), leaseMs: 60_000 });
    expect(theirs).toMatchObject({ id: task.id, leaseEpoch: mine.leaseEpoch + 1 });
    const before = await dumpStore(e.store);

    goOn.resolve();
    await e.idle();
    expect(await dumpStore(e.store)).toBe(before);
    expect(e.dataPlane.names()).toEqual(['backup']);
    expect(e.logs.some((l) => l['taskId'] === task.id && String(l['msg']).startsWith('lease lost'))).toBe(true);
    // The new owner ends it, so nothing of it is left to claim.
    await e.store.fenced(task.id, theirs!.leaseEpoch, (tx) =>
      tx.updateTask(task.id, { status: 'FAILED', phase: 'done', lockedBy: null, leaseExpiresAt: null }, e.clock.now()),
    );
  });
});

describe('faults', () => {
  const samples: ProgressSampleIn[] = [
    { source: 'fake backup', bytesDone: 100, bytesTotal: 1000, percent: 10 },
    { source: 'fake backup', bytesDone: 200, bytesTotal: 1000, percent: 20 },
    { source: 'fake backup', bytesDone: 300, bytesTotal: 1000, percent: 30 },
  ];
  const backupKind = (): TaskDefinition<never, never, never> =>
    definitionOf('snapshot.create', { plan: () => [{ id: 'BACKUP', item: 'CREATE_SNAPSHOT' }], steps: { BACKUP: intend('backup') } });

  it('a `during` fault fires at the first progress sample: the running intention is aborted and the step fails with the injected fault', async () => {
    e.define(backupKind());
    // Without the fault the intention would never end: only the fault's abort ends it.
    e.dataPlane.script('backup', { progress: samples, then: 'hang' });
    const { cluster } = await e.addCluster();
    const fault = makeFault({
      projectId: STEP_ENV_PROJECT,
      clusterId: cluster.id,
      actionName: 'SNAPSHOTTING',
      step: 'BACKUP',
      mode: 'fail',
      point: 'during',
      timesLeft: 1,
    });
    await e.store.insertFault(fault);
    const task = await e.enqueue('snapshot.create', { clusterId: cluster.id, snapshotId: 'none' }, { cluster });
    const done = await e.finished(task.id);

    expect(done).toMatchObject({ status: 'FAILED', errorCode: 'DWS.9922', failedStep: 'BACKUP' });
    expect(done.errorMsg).toContain('during');
    expect(e.dataPlane.intentions.map((i) => [i.name, i.outcome])).toEqual([['backup', 'aborted']]);
    const stored = await e.store.listSamples(task.id, 'BACKUP');
    expect(stored.length).toBeGreaterThanOrEqual(1);
    expect(stored[0]).toMatchObject({ source: 'fake backup', bytesDone: 100, bytesTotal: 1000, percent: 10 });
    expect(await e.store.listFaults(STEP_ENV_PROJECT)).toEqual([]);
    expect(e.dataPlane.locksHeld).toBe(0);
  });

  it('a `during` fault waits for a sample: a step that reports none succeeds and leaves the fault in place', async () => {
    e.define(backupKind());
    const { cluster } = await e.addCluster();
    await e.store.insertFault(
      makeFault({
        projectId: STEP_ENV_PROJECT,
        clusterId: cluster.id,
        actionName: 'SNAPSHOTTING',
        step: 'BACKUP',
        mode: 'fail',
        point: 'during',
        timesLeft: 1,
      }),
    );
    const task = await e.enqueue('snapshot.create', { clusterId: cluster.id, snapshotId: 'none' }, { cluster });
    expect((await e.finished(task.id)).status).toBe('SUCCESS');
    expect(await e.store.listFaults(STEP_ENV_PROJECT)).toHaveLength(1);
  });
});

describe('timeouts', () => {
  it('a step that runs past its time limit is aborted (its intention too) and fails with STEP_TIMEOUT', async () => {
    e.define(
      definitionOf('cluster.restart', {
        plan: () => [{ id: 'RESTART', item: 'RESTART_CLUSTER', timeoutMs: 30 }],
        steps: { RESTART: intend('restart') },
      }),
    );
    e.dataPlane.script('restart', { hang: true });
    const { cluster } = await e.addCluster();
    const task = await e.enqueue('cluster.restart', { clusterId: cluster.id, ordinals: [1, 2, 3] }, { cluster });
    const done = await e.finished(task.id);
    expect(done).toMatchObject({ status: 'FAILED', errorCode: 'DWS.9923', failedStep: 'RESTART' });
    expect(done.errorMsg).toContain('the step to finish');
    expect(e.dataPlane.intentions.map((i) => i.outcome)).toEqual(['aborted']);
    expect(e.dataPlane.locksHeld).toBe(0);
  });

  it("a step that waits for its cluster's lock longer than the idle limit fails with STEP_TIMEOUT, never having run", async () => {
    e.define(
      definitionOf('cluster.restart', { plan: () => [{ id: 'RESTART', item: 'RESTART_CLUSTER' }], steps: { RESTART: intend('restart') } }),
    );
    const { cluster } = await e.addCluster();
    const other = await e.dataPlane.lockForStep(e.dataPlane.lockFile(cluster.id), { label: 'another process' });
    try {
      const task = await e.enqueue('cluster.restart', { clusterId: cluster.id, ordinals: [1, 2, 3] }, { cluster });
      const done = await e.finished(task.id);
      expect(done).toMatchObject({ status: 'FAILED', errorCode: 'DWS.9923' });
      expect(done.errorMsg).toContain(`the lock ${e.dataPlane.lockFile(cluster.id)}`);
      expect(e.dataPlane.intentions).toEqual([]);
    } finally {
      await other.release();
    }
  });

  it('an injected hang ends after the idle limit with STEP_TIMEOUT saying it waited for the hang', async () => {
    e.define(
      definitionOf('cluster.restart', { plan: () => [{ id: 'RESTART', item: 'RESTART_CLUSTER' }], steps: { RESTART: intend('restart') } }),
    );
    const { cluster } = await e.addCluster();
    await e.store.insertFault(
      makeFault({
        projectId: STEP_ENV_PROJECT,
        clusterId: cluster.id,
        actionName: 'REBOOTING',
        step: 'RESTART',
        mode: 'hang',
        point: 'before',
        timesLeft: 1,
      }),
    );
    const task = await e.enqueue('cluster.restart', { clusterId: cluster.id, ordinals: [1, 2, 3] }, { cluster });
    const done = await e.finished(task.id);
    expect(done).toMatchObject({ status: 'FAILED', errorCode: 'DWS.9923' });
    expect(done.errorMsg).toContain('injected hang');
    expect(e.dataPlane.intentions).toEqual([]);
  });
});

describe("the outcome rule (D8): the runner writes the cluster's state; a kind adds only its extras", () => {
  type Start = Partial<ClusterRecord> & { membership?: 'active' | 'building' };
  /** Expected fields after success and after failure, from the starting cluster `from` (sub_status DEGRADED shows whether a success sets NORMAL). */
  const CASES: {
    kind: TaskKind;
    from: Start;
    checkState?: false;
    success: Partial<ClusterRecord> | 'gone' | 'untouched';
    failure: Partial<ClusterRecord> | 'untouched';
  }[] = [
    {
      kind: 'cluster.create',
      from: { status: 'CREATING', membership: 'building' },
      checkState: false,
      success: { status: 'AVAILABLE', subStatus: 'NORMAL' },
      failure: { status: 'CREATION FAILED', subnetIndex: null },
    },
    {
      kind: 'cluster.restore',
      from: { status: 'CREATING', membership: 'building' },
      checkState: false,
      success: { status: 'AVAILABLE', subStatus: 'NORMAL' },
      failure: { status: 'CREATION FAILED', subnetIndex: null },
    },
    { kind: 'snapshot.create', from: {}, success: 'untouched', failure: 'untouched' },
    { kind: 'snapshot.table_restore', from: {}, success: 'untouched', failure: 'untouched' },
    {
      kind: 'cluster.scale_out',
      from: {},
      success: { status: 'AVAILABLE', subStatus: 'NORMAL', stickyTaskStatus: null },
      failure: { stickyTaskStatus: 'RESIZE_FAILURE', subStatus: 'DEGRADED' },
    },
    {
      kind: 'cluster.scale_in',
      from: {},
      success: { status: 'AVAILABLE', subStatus: 'NORMAL' },
      failure: { stickyTaskStatus: 'CLUSTER_SHRINK_FAILED', subStatus: 'DEGRADED' },
    },
    {
      kind: 'cluster.restart',
      from: { status: 'UNAVAILABLE', stopped: true },
      success: { status: 'AVAILABLE', subStatus: 'NORMAL', stopped: false },
      failure: { status: 'UNAVAILABLE', stopped: true, stickyTaskStatus: 'REBOOT_FAILURE' },
    },
    {
      kind: 'cluster.stop',
      from: {},
      success: { status: 'UNAVAILABLE', stopped: true, subStatus: 'DEGRADED' },
      failure: { status: 'AVAILABLE', stopped: false, stickyTaskStatus: null },
    },
    {
      kind: 'cluster.start',
      from: { status: 'UNAVAILABLE', stopped: true },
      success: { status: 'AVAILABLE', subStatus: 'NORMAL', stopped: false },
      failure: { status: 'UNAVAILABLE', stopped: true, stickyTaskStatus: null },
    },
    { kind: 'cluster.delete', from: {}, success: 'gone', failure: { status: 'DELETE_FAILED' } },
  ];

  for (const c of CASES) {
    for (const ok of [true, false]) {
      it(`${c.kind} ${ok ? 'succeeds' : 'fails'}`, async () => {
        e.define(definitionOf(c.kind, { plan: () => [{ id: 'GO', item: 'GO' }], steps: { GO: intend('go') } }));
        if (!ok) e.dataPlane.script('go', { fail: final('it broke') });
        const { membership, ...fields } = c.from;
        const { cluster, nodes } = await e.addCluster({ subStatus: 'DEGRADED', ...fields, ...(membership ? { membership } : {}) });
        const snapshotId = c.kind === 'snapshot.create' ? (await addSnapshot(cluster)).id : 'none';
        const task = await e.enqueue(
          c.kind,
          { clusterId: cluster.id, snapshotId, ordinals: [1, 2, 3] },
          { cluster, ...(c.checkState === false ? { checkState: false } : {}) },
        );
        const accepted = (await e.store.getClusterById(cluster.id))!;
        e.clock.advance(1000);
        const done = await e.finished(task.id);
        expect(done.status).toBe(ok ? 'SUCCESS' : 'FAILED');
        const after = (await e.store.getClusterById(cluster.id))!;
        const expected = ok ? c.success : c.failure;
        if (expected === 'untouched') expect(after).toEqual(accepted);
        else if (expected === 'gone') {
          expect(after.deletedAt).toBe(e.clock.now());
          expect(after.subnetIndex).toBeNull();
          expect(await e.store.listNodes(cluster.id)).toEqual([]);
        } else {
          expect(after).toMatchObject(expected);
          expect(after.updatedAt).toBe(e.clock.now());
        }
        // The extras each kind adds.
        if (ok && (c.kind === 'cluster.create' || c.kind === 'cluster.restore')) {
          expect((await e.store.listNodes(cluster.id)).map((n) => n.membership)).toEqual(nodes.map(() => 'active'));
        }
        if (!ok && (c.kind === 'cluster.create' || c.kind === 'cluster.restore')) {
          expect(after.failedReasons).toEqual([{ error_code: 'DWS.9926', error_msg: done.errorMsg }]);
        }
        if (c.kind === 'snapshot.create') {
          expect(await e.store.getSnapshotById(snapshotId)).toMatchObject({
            status: ok ? 'AVAILABLE' : 'UNAVAILABLE',
            finishedAt: e.clock.now(),
          });
        }
      });
    }
  }
});

async function addSnapshot(cluster: ClusterRecord): Promise<SnapshotRecord> {
  const now = e.clock.now();
  const s: SnapshotRecord = {
    id: `snap-${cluster.id.slice(0, 8)}`,
    projectId: cluster.projectId,
    clusterId: cluster.id,
    clusterName: cluster.name,
    name: `s-${cluster.id.slice(0, 8)}`,
    description: '',
    status: 'CREATING',
    type: 'MANUAL',
    stanza: cluster.stanza,
    backupLabel: null,
    backupKey: null,
    priorBackupKey: null,
    backupType: null,
    sizeBytes: null,
    totalBackupSize: null,
    sourceBytes: null,
    sourceSpec: {
      nodeType: cluster.nodeType,
      numberOfNode: cluster.numberOfNode,
      userName: cluster.userName,
      port: cluster.port,
      clusterSpec: cluster.spec,
      adminPasswordEnc: cluster.adminPasswordEnc,
      pgVersion: '15',
    },
    schemaInfo: null,
    fineGrained: null,
    taskId: null,
    startedAt: null,
    finishedAt: null,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
    expiredAt: null,
  };
  await e.store.insertSnapshot(s);
  return s;
}
