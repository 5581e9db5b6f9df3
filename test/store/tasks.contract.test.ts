/* Over 400 lines: the task store's contract, run on both backends; its cases share one fixture. */
/**
 * The Store contract, part 2: tasks and their one-active-task rule, claiming with leases,
 * fencing, steps, progress samples, past durations and faults. The same suite runs against
 * every backend in STORE_BACKENDS.
 */
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import type { TaskRecord } from '../../src/domain/records.js';
import { makeFault, makeSample, makeStep, makeTask, T0 } from '../helpers/records.js';
import { STORE_BACKENDS, useStore } from '../helpers/store-backends.js';
import { openStore } from '../../src/store/open-store.js';
import { waitFor } from '../helpers/env.js';

const LEASE = 15_000;

async function appErrorOf(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppError) return e;
    throw new Error(`expected an AppError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected an AppError, but the call succeeded');
}

for (const backend of STORE_BACKENDS)
  describe(`${backend}: tasks`, () => {
    const h = useStore(backend);

    describe('insertTask and the one-active-task rule', () => {
      it('a task and its planned steps round-trip', async () => {
        const t = makeTask({
          params: { clusterId: 'c', nested: { list: [1, 'two', null] } },
          state: { chosen: 'x' },
          ranBy: ['host:1'],
          maxAttempts: 5,
        });
        const steps = [
          makeStep(t, 'STOP_NODE_1', 0),
          makeStep(t, 'START_NODE_1', 1, { weight: 0.5, itemKey: 'RESTART_CLUSTER' }),
          makeStep(t, 'CHECK_REPLICATION', 2),
        ];
        await h.store.insertTask(t, [steps[1]!, steps[2]!, steps[0]!]);
        expect(await h.store.getTask(t.id)).toEqual(t);
        expect(await h.store.listSteps(t.id)).toEqual(steps);
        expect(await h.store.getStep(t.id, 'START_NODE_1')).toEqual(steps[1]);
        expect(await h.store.getStep(t.id, 'NOPE')).toBeUndefined();
        expect(await h.store.getTask('no-such-task')).toBeUndefined();
      });

      it('a second active task on the same lock key is CLUSTER_BUSY (409 DWS.0011), and leaves nothing behind', async () => {
        const first = makeTask();
        await h.store.insertTask(first, [makeStep(first, 'A', 0)]);
        const second = makeTask({ clusterId: first.clusterId, lockKey: first.lockKey });
        const e = await appErrorOf(h.store.insertTask(second, [makeStep(second, 'B', 0)]));
        expect(e.code).toBe('CLUSTER_BUSY');
        expect(e.httpStatus).toBe(409);
        expect(e.wireCode).toBe('DWS.0011');
        expect(await h.store.getTask(second.id)).toBeUndefined();
        expect(await h.store.listSteps(second.id)).toEqual([]);
        expect((await h.store.activeTask(first.lockKey))!.id).toBe(first.id);
      });

      it('every active status holds the lock; a finished task does not', async () => {
        for (const status of ['RUNNING', 'ROLLBACK_RUNNING'] as const) {
          const t = makeTask({ status });
          await h.store.insertTask(t, []);
          expect((await appErrorOf(h.store.insertTask(makeTask({ clusterId: t.clusterId, lockKey: t.lockKey }), []))).code).toBe(
            'CLUSTER_BUSY',
          );
        }
        const t = makeTask();
        await h.store.insertTask(t, []);
        await h.store.updateTask(t.id, { status: 'SUCCESS', finishedAt: T0 + 1 }, T0 + 1);
        expect(await h.store.activeTask(t.lockKey)).toBeUndefined();
        const next = makeTask({ clusterId: t.clusterId, lockKey: t.lockKey });
        await h.store.insertTask(next, []);
        expect((await h.store.activeTask(t.lockKey))!.id).toBe(next.id);
        // finished tasks never block each other
        for (const status of ['FAILED', 'ROLLBACK_SUCCESS', 'ROLLBACK_FAIL', 'SUCCESS'] as const)
          await h.store.insertTask(makeTask({ clusterId: t.clusterId, lockKey: t.lockKey, status }), []);
        expect((await h.store.listTasks(t.clusterId!)).length).toBe(6);
      });

      it('other lock keys are independent', async () => {
        const a = makeTask();
        const b = makeTask();
        await h.store.insertTask(a, []);
        await h.store.insertTask(b, []);
        expect((await h.store.listActiveTasks()).map((x) => x.id).sort()).toEqual([a.id, b.id].sort());
      });

      it('listTasks: newest first, by kind and status, with a limit', async () => {
        const clusterId = 'cluster-x';
        const mk = (createdAt: number, kind: TaskRecord['kind'], status: TaskRecord['status']): TaskRecord =>
          makeTask({ clusterId, lockKey: `cluster:${clusterId}:${createdAt}`, createdAt, kind, status });
        const t1 = mk(T0 + 1, 'snapshot.create', 'FAILED');
        const t2 = mk(T0 + 2, 'cluster.restart', 'SUCCESS');
        const t3 = mk(T0 + 3, 'snapshot.create', 'SUCCESS');
        for (const t of [t2, t3, t1]) await h.store.insertTask(t, []);
        expect((await h.store.listTasks(clusterId)).map((t) => t.id)).toEqual([t3.id, t2.id, t1.id]);
        expect((await h.store.listTasks(clusterId, { kinds: ['snapshot.create'] })).map((t) => t.id)).toEqual([t3.id, t1.id]);
        expect((await h.store.listTasks(clusterId, { kinds: ['snapshot.create'], statuses: ['FAILED'] })).map((t) => t.id)).toEqual([
          t1.id,
        ]);
        expect((await h.store.listTasks(clusterId, { limit: 1 })).map((t) => t.id)).toEqual([t3.id]);
      });

      it('updateTask patches only the given fields', async () => {
        const t = makeTask();
        await h.store.insertTask(t, []);
        await h.store.updateTask(
          t.id,
          { status: 'FAILED', errorCode: 'DWS.9920', errorMsg: 'boom', failedStep: 'STOP_NODE_2', state: { a: 1 }, ranBy: ['x', 'y'] },
          T0 + 50,
        );
        expect(await h.store.getTask(t.id)).toEqual({
          ...t,
          status: 'FAILED',
          errorCode: 'DWS.9920',
          errorMsg: 'boom',
          failedStep: 'STOP_NODE_2',
          state: { a: 1 },
          ranBy: ['x', 'y'],
          updatedAt: T0 + 50,
        });
      });
    });

    describe('claimNextTask and leases', () => {
      const claim = (owner: string, now: number, store = h.store) => store.claimNextTask({ owner, now, leaseMs: LEASE });

      it('claims only due, active tasks, the earliest first', async () => {
        const later = makeTask({ runAt: T0 + 10_000 });
        const done = makeTask({ status: 'SUCCESS', runAt: T0 - 5 });
        const early = makeTask({ runAt: T0 - 100 });
        for (const t of [later, done, early]) await h.store.insertTask(t, []);
        expect((await claim('A', T0))!.id).toBe(early.id);
        expect(await claim('A', T0)).toBeUndefined(); // `later` is not due; `early` is leased
        expect(await claim('A', T0 + 9_999)).toBeUndefined();
        expect((await claim('A', T0 + 10_000))!.id).toBe(later.id);
      });

      it('can be limited to some kinds', async () => {
        const t = makeTask({ kind: 'snapshot.expire' });
        await h.store.insertTask(t, []);
        expect(await h.store.claimNextTask({ owner: 'A', now: T0, leaseMs: LEASE, kinds: ['cluster.restart'] })).toBeUndefined();
        expect((await h.store.claimNextTask({ owner: 'A', now: T0, leaseMs: LEASE, kinds: ['snapshot.expire'] }))!.id).toBe(t.id);
      });

      it('a claim sets the owner and the lease, and bumps the epoch', async () => {
        const t = makeTask();
        await h.store.insertTask(t, []);
        const c = (await claim('A', T0))!;
        expect(c).toMatchObject({ id: t.id, lockedBy: 'A', leaseEpoch: 1, leaseExpiresAt: T0 + LEASE, status: 'WAITING' });
        expect(await h.store.getTask(t.id)).toEqual(c);
      });

      it('a live lease cannot be claimed by another owner; an expired one can, with a higher epoch', async () => {
        const t = makeTask();
        await h.store.insertTask(t, []);
        const a = (await claim('A', T0))!;
        expect(await claim('B', T0 + 1)).toBeUndefined();
        expect(await claim('B', T0 + LEASE)).toBeUndefined(); // expires at T0 + LEASE, not before
        const b = (await claim('B', T0 + LEASE + 1))!;
        expect(b).toMatchObject({ id: t.id, lockedBy: 'B', leaseEpoch: a.leaseEpoch + 1, leaseExpiresAt: T0 + 2 * LEASE + 1 });
        // and again: epochs only grow
        const c = (await claim('C', T0 + 3 * LEASE))!;
        expect(c.leaseEpoch).toBe(3);
      });

      it('a renewed lease is not taken over', async () => {
        const t = makeTask();
        await h.store.insertTask(t, []);
        const a = (await claim('A', T0))!;
        expect(await h.store.renewLease(t.id, a.leaseEpoch, T0 + 2 * LEASE, T0 + LEASE - 1)).toBe(true);
        expect(await claim('B', T0 + LEASE + 1)).toBeUndefined();
        expect((await h.store.getTask(t.id))!.leaseExpiresAt).toBe(T0 + 2 * LEASE);
      });

      it('renewLease is false after a takeover, and for a finished task', async () => {
        const t = makeTask();
        await h.store.insertTask(t, []);
        const a = (await claim('A', T0))!;
        const b = (await claim('B', T0 + LEASE + 1))!;
        expect(await h.store.renewLease(t.id, a.leaseEpoch, T0 + 10 * LEASE, T0 + LEASE + 2)).toBe(false);
        expect((await h.store.getTask(t.id))!.leaseExpiresAt).toBe(b.leaseExpiresAt);
        expect(await h.store.renewLease(t.id, b.leaseEpoch, T0 + 10 * LEASE, T0 + LEASE + 2)).toBe(true);
        await h.store.updateTask(t.id, { status: 'SUCCESS' }, T0 + LEASE + 3);
        expect(await h.store.renewLease(t.id, b.leaseEpoch, T0 + 11 * LEASE, T0 + LEASE + 4)).toBe(false);
      });

      it('of two processes claiming at once, exactly one gets the task', async () => {
        const t = makeTask();
        await h.store.insertTask(t, []);
        const other = h.open();
        const results = await Promise.all([claim('A', T0), claim('B', T0, other), claim('C', T0), claim('D', T0, other)]);
        const winners = results.filter((r) => r !== undefined);
        expect(winners).toHaveLength(1);
        expect(winners[0]!.leaseEpoch).toBe(1);
        expect((await h.store.getTask(t.id))!.lockedBy).toBe(winners[0]!.lockedBy);
      });

      it('several due tasks are spread over concurrent claimers, each claimed once', async () => {
        const tasks = [0, 1, 2].map((i) => makeTask({ runAt: T0 - i }));
        for (const t of tasks) await h.store.insertTask(t, []);
        const other = h.open();
        const got = await Promise.all([claim('A', T0), claim('B', T0, other), claim('C', T0), claim('D', T0, other)]);
        const ids = got.filter((r) => r !== undefined).map((r) => r!.id);
        expect(new Set(ids).size).toBe(ids.length);
        // every claim that came back empty left a task only if another claimer holds it
        const held = await Promise.all(tasks.map((t) => h.store.getTask(t.id)));
        expect(
          held
            .filter((t) => t!.lockedBy !== null)
            .map((t) => t!.id)
            .sort(),
        ).toEqual([...ids].sort());
        expect(ids.length).toBeGreaterThanOrEqual(1);
      });
    });

    describe('claimNextTask: at most projectLimit running tasks per project (fair shares)', () => {
      const claimL = (owner: string, now: number, o: { store?: typeof h.store; excludeIds?: string[]; limit?: number } = {}) =>
        (o.store ?? h.store).claimNextTask({
          owner,
          now,
          leaseMs: LEASE,
          projectLimit: o.limit ?? 2,
          ...(o.excludeIds ? { excludeIds: o.excludeIds } : {}),
        });
      const ofA = (o: Partial<TaskRecord> = {}) => makeTask({ projectId: 'proj-a', ...o });
      const ofB = (o: Partial<TaskRecord> = {}) => makeTask({ projectId: 'proj-b', ...o });

      it('a project with that many live leases is skipped: a later task of another project is claimed, then its own when one ends', async () => {
        const [a1, a2, a3] = [3, 2, 1].map((d) => ofA({ runAt: T0 - d }));
        const b1 = ofB({ runAt: T0 });
        for (const t of [a1!, a2!, a3!, b1]) await h.store.insertTask(t, []);
        expect((await claimL('X', T0))!.id).toBe(a1!.id);
        expect((await claimL('X', T0))!.id).toBe(a2!.id);
        expect((await claimL('X', T0))!.id).toBe(b1.id); // a3 is earlier, but proj-a has 2 running
        expect(await claimL('X', T0)).toBeUndefined();
        expect((await h.store.getTask(a3!.id))!.lockedBy).toBeNull();
        await h.store.updateTask(a1!.id, { status: 'SUCCESS', lockedBy: null, leaseExpiresAt: null }, T0 + 1);
        expect((await claimL('X', T0 + 1))!.id).toBe(a3!.id);
      });

      it('without projectLimit, nothing changes: the earliest task is claimed whatever its project runs', async () => {
        const tasks = [3, 2, 1].map((d) => ofA({ runAt: T0 - d }));
        for (const t of tasks) await h.store.insertTask(t, []);
        for (const t of tasks) expect((await h.store.claimNextTask({ owner: 'X', now: T0, leaseMs: LEASE }))!.id).toBe(t.id);
      });

      it('counts the leases of every process; RUNNING and ROLLBACK_RUNNING alike', async () => {
        const other = h.open();
        const [a1, a2, a3] = [3, 2, 1].map((d) => ofA({ runAt: T0 - d }));
        for (const t of [a1!, a2!, a3!]) await h.store.insertTask(t, []);
        expect((await claimL('P1', T0))!.id).toBe(a1!.id);
        expect((await claimL('P2', T0, { store: other }))!.id).toBe(a2!.id);
        expect(await claimL('P2', T0, { store: other })).toBeUndefined();
        expect(await claimL('P1', T0)).toBeUndefined();
        // a1 is rolling back (still running): a3 still waits.
        await h.store.updateTask(a1!.id, { status: 'ROLLBACK_RUNNING', phase: 'undo' }, T0 + 1);
        expect(await claimL('P1', T0 + 1)).toBeUndefined();
      });

      it('a lease that ran out does not count: tasks resumed after a crash are claimed, never blocked by their own count', async () => {
        // Both of proj-a's tasks were RUNNING under a process that died; their leases ran out.
        const dead = { lockedBy: 'dead-owner', leaseEpoch: 1, leaseExpiresAt: T0 - 1 };
        const r1 = ofA({ status: 'RUNNING', runAt: T0 - 10, ...dead });
        const r2 = ofA({ status: 'ROLLBACK_RUNNING', phase: 'undo', runAt: T0 - 9, ...dead });
        const w = ofA({ runAt: T0 - 8 });
        for (const t of [r1, r2, w]) await h.store.insertTask(t, []);
        expect(await claimL('X', T0, { limit: 2 }).then((t) => t!.id)).toBe(r1.id);
        expect(await claimL('X', T0, { limit: 2 }).then((t) => t!.id)).toBe(r2.id);
        expect(await claimL('X', T0, { limit: 2 })).toBeUndefined();
        // With a limit of 1, a lone resumed task is still claimed (it is not running while its lease is out).
        const solo = ofB({ status: 'RUNNING', runAt: T0 - 20, ...dead });
        await h.store.insertTask(solo, []);
        expect((await claimL('Y', T0, { limit: 1 }))!.id).toBe(solo.id);
      });

      it('the tasks this owner runs count even when their lease has just run out (excludeIds)', async () => {
        const mine = ofA({ status: 'RUNNING', runAt: T0 - 5, lockedBy: 'X', leaseEpoch: 1, leaseExpiresAt: T0 - 1 });
        const next = ofA({ runAt: T0 - 4 });
        for (const t of [mine, next]) await h.store.insertTask(t, []);
        expect(await claimL('X', T0, { limit: 1, excludeIds: [mine.id] })).toBeUndefined();
        expect((await claimL('X', T0, { limit: 2, excludeIds: [mine.id] }))!.id).toBe(next.id);
      });

      it("claimers racing in two processes never pass the limit, and leave other projects' tasks to be claimed", async () => {
        const other = h.open();
        const as = Array.from({ length: 6 }, (_, i) => ofA({ runAt: T0 - 100 + i }));
        const bs = Array.from({ length: 2 }, (_, i) => ofB({ runAt: T0 - 50 + i }));
        for (const t of [...as, ...bs]) await h.store.insertTask(t, []);
        const got = await Promise.all(Array.from({ length: 8 }, (_, i) => claimL(`C${i}`, T0, { store: i % 2 ? other : h.store })));
        const claimed = got.filter((t) => t !== undefined).map((t) => t!);
        expect(new Set(claimed.map((t) => t.id)).size).toBe(claimed.length);
        const leased = (await Promise.all([...as, ...bs].map((t) => h.store.getTask(t.id)))).filter((t) => t!.lockedBy !== null);
        expect(leased.filter((t) => t!.projectId === 'proj-a').length).toBeLessThanOrEqual(2);
        expect(leased.filter((t) => t!.projectId === 'proj-b').length).toBeLessThanOrEqual(2);
        // Claim until nothing is left: exactly two of each project run.
        for (let i = 0; i < 8; i++) await claimL('Z', T0);
        const after = (await Promise.all([...as, ...bs].map((t) => h.store.getTask(t.id)))).filter((t) => t!.lockedBy !== null);
        expect(after.map((t) => t!.projectId).sort()).toEqual(['proj-a', 'proj-a', 'proj-b', 'proj-b']);
      });
    });

    describe('fenced writes', () => {
      it('commit with the current epoch', async () => {
        const t = makeTask();
        await h.store.insertTask(t, [makeStep(t, 'S1', 0)]);
        const c = (await h.store.claimNextTask({ owner: 'A', now: T0, leaseMs: LEASE }))!;
        const r = await h.store.fenced(t.id, c.leaseEpoch, async (tx) => {
          await tx.updateStep(t.id, 'S1', { status: 'RUNNING', beginAt: T0 + 1 });
          return 'done';
        });
        expect(r).toBe('done');
        expect((await h.store.getStep(t.id, 'S1'))!.status).toBe('RUNNING');
      });

      it('throw LEASE_LOST for a stale epoch, and write nothing', async () => {
        const t = makeTask();
        await h.store.insertTask(t, [makeStep(t, 'S1', 0)]);
        const a = (await h.store.claimNextTask({ owner: 'A', now: T0, leaseMs: LEASE }))!;
        await h.store.claimNextTask({ owner: 'B', now: T0 + LEASE + 1, leaseMs: LEASE });
        let ran = false;
        const e = await appErrorOf(
          h.store.fenced(t.id, a.leaseEpoch, async (tx) => {
            ran = true;
            await tx.updateStep(t.id, 'S1', { status: 'SUCCESS', endAt: T0 + 2 });
            await tx.updateTask(t.id, { status: 'SUCCESS' }, T0 + 2);
          }),
        );
        expect(e.code).toBe('LEASE_LOST');
        expect(e.wireCode).toBe('DWS.9924');
        expect(e.message).toContain(t.id);
        expect(ran).toBe(false);
        expect((await h.store.getStep(t.id, 'S1'))!.status).toBe('WAITING');
        expect((await h.store.getTask(t.id))!).toMatchObject({ status: 'WAITING', lockedBy: 'B', leaseEpoch: 2 });
      });

      it('roll back everything when the function throws', async () => {
        const t = makeTask();
        await h.store.insertTask(t, [makeStep(t, 'S1', 0)]);
        const a = (await h.store.claimNextTask({ owner: 'A', now: T0, leaseMs: LEASE }))!;
        await expect(
          h.store.fenced(t.id, a.leaseEpoch, async (tx) => {
            await tx.updateStep(t.id, 'S1', { status: 'FAILED' });
            throw new Error('step crashed');
          }),
        ).rejects.toThrow('step crashed');
        expect((await h.store.getStep(t.id, 'S1'))!.status).toBe('WAITING');
      });

      // Row locks and session timeouts exist only on the PostgreSQL store.
      if (backend === 'postgres')
        it('a process paused inside a fenced write holds up a takeover only until the idle-in-transaction timeout', async () => {
          const t = makeTask();
          await h.store.insertTask(t, [makeStep(t, 'S1', 0)]);
          // 4 s: long enough that the first claim below surely comes while A still holds the row,
          // even on a loaded machine; the takeover then waits for it.
          const paused = openStore(h.location, { idleInTransactionTimeoutMs: 4000 });
          const other = h.open();
          let resume = (): void => {};
          try {
            const a = (await paused.claimNextTask({ owner: 'A', now: T0, leaseMs: LEASE }))!;
            // A's fenced write row-locks the task, then A stops (SIGSTOP) before committing.
            let holding = (): void => {};
            const held = new Promise<void>((r) => (holding = r));
            const write = paused.fenced(t.id, a.leaseEpoch, async (tx) => {
              await tx.updateStep(t.id, 'S1', { status: 'RUNNING' });
              holding();
              await new Promise<void>((r) => (resume = r));
              await tx.updateStep(t.id, 'S1', { status: 'SUCCESS' });
            });
            write.catch(() => {});
            await held;
            // The lease has run out, but the row is locked: nothing to claim yet ...
            expect(await other.claimNextTask({ owner: 'B', now: T0 + LEASE + 1, leaseMs: LEASE })).toBeUndefined();
            // ... until PostgreSQL ends the idle session and its locks with it.
            const b = await waitFor(() => other.claimNextTask({ owner: 'B', now: T0 + LEASE + 1, leaseMs: LEASE }), {
              timeoutMs: 20_000,
              intervalMs: 100,
              what: 'the takeover',
            });
            expect(b).toMatchObject({ id: t.id, lockedBy: 'B', leaseEpoch: a.leaseEpoch + 1 });
            // A wakes up: its write fails and leaves nothing.
            resume();
            await expect(write).rejects.toThrow();
            expect((await h.store.getStep(t.id, 'S1'))!.status).toBe('WAITING');
          } finally {
            resume();
            await paused.close();
          }
        });

      it('an unknown task is LEASE_LOST too', async () => {
        expect((await appErrorOf(h.store.fenced('no-such-task', 1, async () => 1))).code).toBe('LEASE_LOST');
      });
    });

    describe('steps, samples and history', () => {
      it('a step patch round-trips progressInfo, checkpoints of any JSON shape, and errors', async () => {
        const t = makeTask();
        const s = makeStep(t, 'BACKUP', 0);
        await h.store.insertTask(t, [s]);
        const info = { actionType: 'Backup', progress: '42.00%', backupRate: { producerRate: '1.5MB/s' }, backupSize: 123456789012 };
        await h.store.updateStep(t.id, 'BACKUP', {
          status: 'RUNNING',
          beginAt: T0 + 1,
          progress: 42.5,
          progressInfo: info,
          checkpoint: { label: '20250115_080000F', files: [1, 2] },
          estimatedTime: 17,
          attempts: 2,
        });
        expect(await h.store.getStep(t.id, 'BACKUP')).toEqual({
          ...s,
          status: 'RUNNING',
          beginAt: T0 + 1,
          progress: 42.5,
          progressInfo: info,
          checkpoint: { label: '20250115_080000F', files: [1, 2] },
          estimatedTime: 17,
          attempts: 2,
        });
        await h.store.updateStep(t.id, 'BACKUP', {
          checkpoint: 'just-a-string',
          errorCode: 'DWS.9920',
          errorMsg: 'failed: "quotes" and 中文',
          endAt: T0 + 9,
          status: 'FAILED',
        });
        expect(await h.store.getStep(t.id, 'BACKUP')).toMatchObject({
          checkpoint: 'just-a-string',
          errorCode: 'DWS.9920',
          errorMsg: 'failed: "quotes" and 中文',
          endAt: T0 + 9,
          status: 'FAILED',
          progress: 42.5,
        });
      });

      it('steps can be added later (undo steps) and keep their order', async () => {
        const t = makeTask();
        await h.store.insertTask(t, [makeStep(t, 'A', 0), makeStep(t, 'B', 1)]);
        await h.store.insertSteps([makeStep(t, 'UNDO_B', 2, { phase: 'undo' })]);
        expect((await h.store.listSteps(t.id)).map((s) => [s.stepId, s.phase])).toEqual([
          ['A', 'run'],
          ['B', 'run'],
          ['UNDO_B', 'undo'],
        ]);
        await expect(h.store.insertSteps([makeStep(t, 'A', 3)])).rejects.toThrow();
      });

      it('progress samples round-trip, in insertion order, per step', async () => {
        const t = makeTask();
        await h.store.insertTask(t, [makeStep(t, 'BACKUP', 0), makeStep(t, 'VERIFY_BACKUP', 1)]);
        const big = 9_007_199_254_740_000; // bytes well past 2^32 survive (int8 parsed as a number)
        const samples = [
          makeSample(t, 'BACKUP', {
            at: T0 + 1,
            bytesDone: 1e6,
            bytesTotal: big,
            percent: 0.5,
            data: { line: 'P00 INFO: backup file', rate: 1.5 },
          }),
          makeSample(t, 'VERIFY_BACKUP', { at: T0 + 2, source: 'pgbackrest info' }),
          makeSample(t, 'BACKUP', { at: T0 + 3, bytesDone: 2e6, bytesTotal: big, percent: 1 }),
        ];
        for (const x of samples) await h.store.insertSample(x);
        const all = await h.store.listSamples(t.id);
        expect(all.map(({ id: _id, ...rest }) => rest)).toEqual(samples);
        const ids = all.map((x) => x.id!);
        expect([...ids].sort((a, b) => a - b)).toEqual(ids);
        expect((await h.store.listSamples(t.id, 'BACKUP')).map((x) => x.at)).toEqual([T0 + 1, T0 + 3]);
        expect(await h.store.listSamples('other-task')).toEqual([]);
      });

      it('pastStepDurations: successful runs of that step of that kind, newest first, limited', async () => {
        const mk = async (
          kind: TaskRecord['kind'],
          stepId: string,
          beginAt: number | null,
          endAt: number | null,
          status: TaskRecord['status'] = 'SUCCESS',
        ): Promise<void> => {
          const t = makeTask({ kind, status: 'SUCCESS' });
          await h.store.insertTask(t, [makeStep(t, stepId, 0, { status, beginAt, endAt })]);
        };
        await mk('cluster.create', 'INIT_PRIMARY', T0, T0 + 3000);
        await mk('cluster.create', 'INIT_PRIMARY', T0 + 10_000, T0 + 15_000); // newest
        await mk('cluster.create', 'INIT_PRIMARY', T0 + 5000, T0 + 6000);
        await mk('cluster.create', 'INIT_PRIMARY', T0, T0 + 99_000, 'FAILED'); // failed runs do not count
        await mk('cluster.create', 'INIT_PRIMARY', T0, null, 'RUNNING'); // nor unfinished ones
        await mk('cluster.restore', 'INIT_PRIMARY', T0, T0 + 77_000); // nor other kinds
        await mk('cluster.create', 'START_PRIMARY', T0, T0 + 55_000); // nor other steps
        expect(await h.store.pastStepDurations('cluster.create', 'INIT_PRIMARY')).toEqual([5000, 1000, 3000]);
        expect(await h.store.pastStepDurations('cluster.create', 'INIT_PRIMARY', 2)).toEqual([5000, 1000]);
        expect(await h.store.pastStepDurations('cluster.create', 'NEVER_RAN')).toEqual([]);
      });
    });

    describe('faults', () => {
      it('insert, list by project in creation order, delete one or all', async () => {
        const f1 = makeFault({ createdAt: T0 + 1, clusterId: 'c1', mode: 'delay', delayMs: 2500, timesLeft: 3 });
        const f2 = makeFault({ createdAt: T0 + 2, step: '*', point: 'during', mode: 'crash' });
        const f3 = makeFault({ createdAt: T0 + 3, projectId: 'proj-b' });
        for (const f of [f2, f3, f1]) await h.store.insertFault(f);
        expect(await h.store.listFaults('proj-a')).toEqual([f1, f2]);
        expect((await h.store.listFaults()).map((f) => f.id)).toEqual([f1.id, f2.id, f3.id]);
        expect(await h.store.deleteFaults('proj-a', f3.id)).toBe(0); // another project's fault
        expect(await h.store.deleteFaults('proj-a', f1.id)).toBe(1);
        expect(await h.store.listFaults('proj-a')).toEqual([f2]);
        expect(await h.store.deleteFaults('proj-a')).toBe(1);
        expect(await h.store.listFaults()).toEqual([f3]);
      });

      it('consumeFault counts down times_left and removes the fault at the last firing', async () => {
        const f = makeFault({ timesLeft: 2 });
        await h.store.insertFault(f);
        expect(await h.store.consumeFault(f)).toBe(true);
        const left = (await h.store.listFaults('proj-a'))[0]!;
        expect(left.timesLeft).toBe(1);
        // a firing based on a stale read loses: someone else already used that one
        expect(await h.store.consumeFault(f)).toBe(false);
        expect((await h.store.listFaults('proj-a'))[0]!.timesLeft).toBe(1);
        expect(await h.store.consumeFault(left)).toBe(true);
        expect(await h.store.listFaults('proj-a')).toEqual([]);
        expect(await h.store.consumeFault(left)).toBe(false);
      });

      it('a fault without a count fires every time and stays', async () => {
        const f = makeFault({ timesLeft: null });
        await h.store.insertFault(f);
        for (let i = 0; i < 3; i++) expect(await h.store.consumeFault(f)).toBe(true);
        expect(await h.store.listFaults('proj-a')).toEqual([f]);
      });

      it('two processes firing the last use of a fault at once: only one wins', async () => {
        const f = makeFault({ timesLeft: 1 });
        await h.store.insertFault(f);
        const other = h.open();
        const r = await Promise.all([h.store.consumeFault(f), other.consumeFault(f)]);
        expect(r.filter(Boolean)).toHaveLength(1);
      });
    });
  });
