/* Over 400 lines: one task's run is one idea — steps forward, undo, lease checks and the progress writer share its state, and splitting them would pass that state around. */
/**
 * Runs one claimed task: its steps in order, each idempotent and checkpointed, with progress
 * persisted as it happens; on failure, its undo steps (cleanup or rollback); a retryable
 * error reschedules the task with back-off. Every store write carries the lease epoch, so a
 * process that lost its lease changes nothing (D1).
 *
 * MUST: whatever happens, `run` settles; it never leaves a task RUNNING without either an
 * owner renewing its lease or a released lease for another owner to take.
 */
import type { Clock } from '../domain/clock.js';
import type { StepRecord, TaskRecord } from '../domain/records.js';
import { splitStepId } from '../domain/step-names.js';
import { ACTION_TYPE_OF_KIND } from '../domain/task.js';
import {
  nextAttempt,
  statusAfterUndo,
  statusOnFailure,
  statusWhenClaimed,
  undoStepFailedStatus,
  undoStepRunningStatus,
} from '../domain/task-status.js';
import { progressTime } from '../domain/time.js';
import { AppError, coerceError, isAppError } from '../errors/app-error.js';
import type { DataPlane } from '../dataplane/data-plane.js';
import type { Logger } from '../log/logger.js';
import type { Secrets } from '../auth/secrets.js';
import type { Store } from '../store/store.js';
import type { Config } from '../config/config.js';
import type { StepContext, StepProgress, StepSpec, TaskDefinition } from './definition.js';
import type { FaultInjector } from './faults.js';
import { buildProgressInfo, estimateFromHistory, RateTracker } from './progress.js';
import { retryDelayMs } from './retry.js';
import type { TaskEvents } from './events.js';
import { applyClusterOutcome } from './cluster-outcome.js';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export interface RunnerDeps {
  store: Store;
  dataPlane: DataPlane;
  secrets: Secrets;
  config: Config;
  clock: Clock;
  log: Logger;
  faults: FaultInjector;
  events: TaskEvents;
  owner: string;
  registry: ReadonlyMap<string, TaskDefinition<never>>;
  /** the random source of the retry back-off's jitter (default Math.random; tests fix it) */
  random?: () => number;
}

/** Why a run stopped without a verdict: the lease is gone, or this process is stopping. */
const isLeaseLost = (e: unknown): boolean => isAppError(e) && e.code === 'LEASE_LOST';
const isCancelled = (e: unknown): boolean => isAppError(e) && e.code === 'TASK_CANCELLED';

type StepOutcome = { ok: true } | { ok: false; error: Error };

export class TaskRunner {
  /** Per running task (by its abort signal): aborts it when its lease can no longer be counted on. */
  private readonly leaseChecks = new WeakMap<AbortSignal, () => void>();

  constructor(private readonly deps: RunnerDeps) {}

  /** End every tool still running for this process's tasks (shutdown). */
  stopAllWork(): void {
    this.deps.dataPlane.stopAllWork();
  }

  lockFileFor(task: TaskRecord): string {
    return task.clusterId
      ? this.deps.dataPlane.lockFile(task.clusterId)
      : join(this.deps.config.dataDir, 'locks', task.lockKey.replace(/[^A-Za-z0-9_.-]/g, '_') + '.lock');
  }

  async run(claimed: TaskRecord, shutdown: AbortSignal): Promise<void> {
    const deps = this.deps;
    const def = deps.registry.get(claimed.kind) as TaskDefinition<Record<string, unknown>> | undefined;
    const log = deps.log.scope({
      taskId: claimed.id,
      taskKind: claimed.kind,
      clusterId: claimed.clusterId,
      projectId: claimed.projectId,
      attempt: claimed.attempt,
    });
    const ac = new AbortController();
    const epoch = claimed.leaseEpoch;
    const onShutdown = (): void =>
      ac.abort(new AppError('TASK_CANCELLED', { args: [claimed.id, 'the service is stopping; the next start resumes it'] }));
    if (shutdown.aborted) onShutdown();
    shutdown.addEventListener('abort', onShutdown, { once: true });
    // Until when the lease is surely ours, on this process's monotonic clock: the expiry the
    // store holds for the claim or the last renewal that succeeded, counted from when it was
    // sent. Past it (less a margin), another process may own the task: no new process is
    // started for it (DataPlane.guardWork), even before the store has said so (D1).
    let leaseUntil = performance.now() + ((claimed.leaseExpiresAt ?? deps.clock.now() + deps.config.leaseMs) - deps.clock.now());
    const margin = Math.min(1000, Math.floor(deps.config.leaseMs / 10));
    this.leaseChecks.set(ac.signal, () => {
      if (!ac.signal.aborted && performance.now() > leaseUntil - margin)
        ac.abort(new AppError('LEASE_LOST', { args: [claimed.id, epoch] }));
    });
    const hb = setInterval(
      () => {
        const now = deps.clock.now();
        const sentAt = performance.now();
        deps.store
          .renewLease(claimed.id, epoch, now + deps.config.leaseMs, now)
          .then((ok) => {
            if (!ok) ac.abort(new AppError('LEASE_LOST', { args: [claimed.id, epoch] }));
            else leaseUntil = Math.max(leaseUntil, sentAt + deps.config.leaseMs);
          })
          .catch((e: unknown) => log.warn('lease renewal failed', { error: coerceError(e).message }));
      },
      Math.max(200, Math.floor(deps.config.leaseMs / 3)),
    );
    try {
      if (!def) throw new AppError('ENGINE_COMMAND_FAILED', { args: ['task engine', `no definition for task kind ${claimed.kind}`] });
      const now = deps.clock.now();
      let task = claimed;
      await deps.store.fenced(task.id, epoch, (tx) =>
        tx.updateTask(
          task.id,
          {
            status: statusWhenClaimed(task.status),
            startedAt: task.startedAt ?? now,
            ranBy: task.ranBy.includes(deps.owner) ? task.ranBy : [...task.ranBy, deps.owner],
          },
          now,
        ),
      );
      task = (await deps.store.getTask(task.id))!;
      if (claimed.status === 'WAITING') deps.events.emit('task:started', { task });
      log.info('task running', { phase: task.phase });
      if (task.phase === 'run') await this.runForward(task, def, ac.signal, log);
      if ((await deps.store.getTask(task.id))?.phase === 'undo')
        await this.runUndo((await deps.store.getTask(task.id))!, def, ac.signal, log);
    } catch (e) {
      if (isLeaseLost(e) || (ac.signal.reason && isLeaseLost(ac.signal.reason))) {
        log.warn('lease lost: another process owns this task now; stopping without writing', {});
      } else if (isCancelled(e) || (ac.signal.aborted && isCancelled(ac.signal.reason))) {
        log.info('task interrupted by shutdown; releasing it for the next owner', {});
        await this.release(claimed, epoch, deps.clock.now()).catch(() => {});
      } else {
        const err = coerceError(e);
        log.error('task run failed unexpectedly; it will be retried', { error: err.message, stack: err.stack });
        await this.release(claimed, epoch, deps.clock.now() + retryDelayMs(claimed.attempt, deps.random)).catch(() => {});
      }
    } finally {
      clearInterval(hb);
      shutdown.removeEventListener('abort', onShutdown);
    }
  }

  /** Give the task back: no owner, due at `runAt`. */
  private async release(task: TaskRecord, epoch: number, runAt: number): Promise<void> {
    await this.deps.store.fenced(task.id, epoch, (tx) =>
      tx.updateTask(task.id, { lockedBy: null, leaseExpiresAt: null, runAt }, this.deps.clock.now()),
    );
  }

  private async runForward(
    task: TaskRecord,
    def: TaskDefinition<Record<string, unknown>>,
    signal: AbortSignal,
    log: Logger,
  ): Promise<void> {
    const deps = this.deps;
    const plan = new Map(def.plan(task.params).map((s) => [s.id, s]));
    const steps = (await deps.store.listSteps(task.id)).filter((s) => s.phase === 'run');
    for (const step of steps) {
      if (step.status === 'SUCCESS') continue;
      const r = await this.runStep(task, def, step, plan.get(step.stepId) ?? { id: step.stepId, item: step.itemKey }, signal, log);
      if (r.ok) continue;
      const err = r.error;
      if (isLeaseLost(err) || isCancelled(err)) throw err;
      const fresh = (await deps.store.getTask(task.id))!;
      const attempt = nextAttempt({
        retryable: isAppError(err) ? err.retryable : false,
        attempt: fresh.attempt,
        maxAttempts: fresh.maxAttempts,
      });
      if (attempt !== null) {
        const runAt = deps.clock.now() + retryDelayMs(fresh.attempt, deps.random);
        log.warn('step failed with a retryable error; retrying the task', { step: step.stepId, error: err.message, runAt });
        await deps.store.fenced(task.id, task.leaseEpoch, async (tx) => {
          await tx.updateStep(task.id, step.stepId, { errorMsg: `attempt ${attempt} failed, retrying: ${err.message}` });
          await tx.updateTask(task.id, { attempt, runAt, lockedBy: null, leaseExpiresAt: null }, deps.clock.now());
        });
        return;
      }
      await this.fail(fresh, def, step, err, log);
      return;
    }
    const now = deps.clock.now();
    const final = (await deps.store.getTask(task.id))!;
    await deps.store.fenced(task.id, task.leaseEpoch, async (tx) => {
      await tx.updateTask(
        task.id,
        { status: 'SUCCESS', phase: 'done', progress: 100, finishedAt: now, lockedBy: null, leaseExpiresAt: null },
        now,
      );
      await def.extrasOnSuccess?.({
        task: final,
        params: final.params,
        state: final.state,
        tx,
        now,
        config: deps.config,
        dataPlane: deps.dataPlane,
        secrets: deps.secrets,
      });
      await applyClusterOutcome(tx, final, true, now);
    });
    log.info('task succeeded', { durationMs: now - (final.startedAt ?? final.createdAt) });
    deps.events.emit('task:finished', { task: (await deps.store.getTask(task.id))! });
  }

  /** Record a non-retryable failure, then undo (if the kind has undo steps) or end the task. */
  private async fail(
    task: TaskRecord,
    def: TaskDefinition<Record<string, unknown>>,
    step: StepRecord,
    err: Error,
    log: Logger,
  ): Promise<void> {
    const deps = this.deps;
    const now = deps.clock.now();
    const code = isAppError(err) ? err.wireCode : 'DWS.0005';
    const msg = err.message;
    log.warn('step failed', { step: step.stepId, errorCode: code, error: msg });
    const cur = (await deps.store.getStep(task.id, step.stepId))!;
    const failure = def.failure;
    const undoSteps = failure ? failure.steps(task, await deps.store.listSteps(task.id)) : [];
    const next = statusOnFailure(failure?.mode ?? null, undoSteps.length);
    await deps.store.fenced(task.id, task.leaseEpoch, async (tx) => {
      await tx.updateStep(task.id, step.stepId, {
        status: 'FAILED',
        endAt: now,
        estimatedTime: -1,
        errorCode: code,
        errorMsg: msg,
        progressInfo: {
          ...cur.progressInfo,
          updateTime: progressTime(now),
          actionEndTime: progressTime(now),
          currentStep: step.stepId,
          failedStep: step.stepId,
          errorCode: code,
          errorMsg: msg,
        },
      });
      if (next.phase === 'undo') {
        const existing = new Set((await tx.listSteps(task.id)).map((s) => s.stepId));
        const maxSeq = Math.max(0, ...(await tx.listSteps(task.id)).map((s) => s.seq));
        await tx.insertSteps(undoSteps.filter((s) => !existing.has(s.id)).map((s, i) => newStepRecord(task.id, s, maxSeq + 1 + i, 'undo')));
        await tx.updateTask(
          task.id,
          { errorCode: code, errorMsg: msg, failedStep: step.stepId, phase: next.phase, status: next.status },
          now,
        );
      } else {
        await tx.updateTask(
          task.id,
          {
            errorCode: code,
            errorMsg: msg,
            failedStep: step.stepId,
            phase: next.phase,
            status: next.status,
            finishedAt: now,
            lockedBy: null,
            leaseExpiresAt: null,
          },
          now,
        );
        const t = (await tx.getTask(task.id))!;
        await def.extrasOnFailure?.(
          { task: t, params: t.params, state: t.state, tx, now, config: deps.config, dataPlane: deps.dataPlane, secrets: deps.secrets },
          { code, message: msg, step: step.stepId },
        );
        await applyClusterOutcome(tx, t, false, now);
      }
    });
    if (next.phase === 'done') deps.events.emit('task:finished', { task: (await deps.store.getTask(task.id))! });
  }

  /** Run the undo steps (best effort: one failing does not stop the others), then end the task. */
  private async runUndo(task: TaskRecord, def: TaskDefinition<Record<string, unknown>>, signal: AbortSignal, log: Logger): Promise<void> {
    const deps = this.deps;
    const failure = def.failure!;
    const plan = new Map(failure.steps(task, await deps.store.listSteps(task.id)).map((s) => [s.id, s]));
    const undo = (await deps.store.listSteps(task.id)).filter((s) => s.phase === 'undo');
    const problems: string[] = [];
    for (const step of undo) {
      if (step.status === 'SUCCESS') continue;
      if (step.status === 'FAILED') {
        problems.push(`${step.stepId}: ${step.errorMsg ?? ''}`);
        continue;
      }
      const r = await this.runStep(
        task,
        def,
        step,
        plan.get(step.stepId) ?? { id: step.stepId, item: step.itemKey },
        signal,
        log,
        undoStepRunningStatus(failure.mode),
      );
      if (r.ok) continue;
      if (isLeaseLost(r.error) || isCancelled(r.error)) throw r.error;
      const code = isAppError(r.error) ? r.error.wireCode : 'DWS.0005';
      problems.push(`${step.stepId}: ${r.error.message}`);
      const now = deps.clock.now();
      await deps.store.fenced(task.id, task.leaseEpoch, (tx) =>
        tx.updateStep(task.id, step.stepId, {
          status: undoStepFailedStatus(failure.mode),
          endAt: now,
          errorCode: code,
          errorMsg: r.error.message,
        }),
      );
    }
    const now = deps.clock.now();
    const t = (await deps.store.getTask(task.id))!;
    const status = statusAfterUndo(failure.mode, problems.length);
    const errorMsg = problems.length
      ? `${t.errorMsg ?? ''} Undo incomplete (${problems.join('; ')}): what is left is listed above; delete the cluster or run the operation again to clean it up.`
      : t.errorMsg;
    await deps.store.fenced(task.id, task.leaseEpoch, async (tx) => {
      await tx.updateTask(task.id, { status, phase: 'done', finishedAt: now, lockedBy: null, leaseExpiresAt: null, errorMsg }, now);
      const fin = (await tx.getTask(task.id))!;
      await def.extrasOnFailure?.(
        { task: fin, params: fin.params, state: fin.state, tx, now, config: deps.config, dataPlane: deps.dataPlane, secrets: deps.secrets },
        { code: t.errorCode ?? 'DWS.0005', message: errorMsg ?? '', step: t.failedStep },
      );
      await applyClusterOutcome(tx, fin, false, now);
    });
    log.warn('task ended after undo', { status, problems });
    deps.events.emit('task:finished', { task: (await deps.store.getTask(task.id))! });
  }

  /** One step: faults, status, lock, the step function, progress, checkpoint. Never throws. */
  private async runStep(
    task: TaskRecord,
    def: TaskDefinition<Record<string, unknown>>,
    step: StepRecord,
    spec: StepSpec,
    taskSignal: AbortSignal,
    taskLog: Logger,
    runningStatus: 'RUNNING' | 'ROLLBACK_RUNNING' = 'RUNNING',
  ): Promise<StepOutcome> {
    const deps = this.deps;
    const [base, n] = splitStepId(step.stepId);
    const fn = def.steps[base];
    const log = taskLog.scope({ step: step.stepId });
    const stepAc = new AbortController();
    const onTaskAbort = (): void => stepAc.abort(taskSignal.reason);
    if (taskSignal.aborted) onTaskAbort();
    taskSignal.addEventListener('abort', onTaskAbort, { once: true });
    const leaseCheck = this.leaseChecks.get(taskSignal);
    if (leaseCheck) deps.dataPlane.guardWork(stepAc.signal, leaseCheck);
    // The step function, while it may still run: an aborted step keeps its lock until it has settled.
    let running: Promise<unknown> | null = null;
    const timeout = setTimeout(
      () =>
        stepAc.abort(
          new AppError('STEP_TIMEOUT', {
            args: [step.stepId, Math.round((spec.timeoutMs ?? deps.config.stepTimeoutMs) / 1000), 'the step to finish'],
          }),
        ),
      spec.timeoutMs ?? deps.config.stepTimeoutMs,
    );
    const started = deps.clock.now();
    const actionType = ACTION_TYPE_OF_KIND[task.kind];
    let holder: { release(): Promise<void> } | null = null;
    const progress = new ProgressWriter(deps, task, step, actionType, started, log, (e) => stepAc.abort(e));
    try {
      if (!fn)
        throw new AppError('ENGINE_COMMAND_FAILED', { args: ['task engine', `no implementation for step ${step.stepId} of ${task.kind}`] });
      await this.fireFault(task, step.stepId, 'before', stepAc.signal, log);
      const past = await deps.store.pastStepDurations(task.kind, step.stepId);
      const beginAt = step.beginAt ?? started;
      await deps.store.fenced(task.id, task.leaseEpoch, (tx) =>
        tx.updateStep(task.id, step.stepId, {
          status: runningStatus,
          beginAt,
          endAt: null,
          attempts: step.attempts + 1,
          estimatedTime: estimateFromHistory(past, started - beginAt),
          progressInfo: buildProgressInfo({
            actionType,
            stepId: step.stepId,
            beginAt,
            endAt: null,
            now: started,
            status: runningStatus,
            figures: progress.figures,
            extra: step.progressInfo['key'] ? pickKeys(step.progressInfo) : {},
          }),
        }),
      );
      progress.history = past;
      progress.beginAt = beginAt;
      log.info('step started', { stepAttempt: step.attempts + 1 });
      // The lock is held for the whole step; its tools inherit it (D1, acquireLock).
      holder = await deps.dataPlane.lockForStep(this.lockFileFor(task), {
        signal: stepAc.signal,
        label: step.stepId,
        timeoutMs: deps.config.stepIdleTimeoutMs,
      });
      let stateNow = (await deps.store.getTask(task.id))!.state;
      const ctx: StepContext<Record<string, unknown>> = {
        task,
        params: task.params,
        stepId: step.stepId,
        n,
        signal: stepAc.signal,
        log,
        clock: deps.clock,
        config: deps.config,
        store: deps.store,
        dataPlane: deps.dataPlane,
        secrets: deps.secrets,
        lockFile: this.lockFileFor(task),
        checkpoint: step.checkpoint,
        get state() {
          return stateNow;
        },
        setCheckpoint: (v) => deps.store.fenced(task.id, task.leaseEpoch, (tx) => tx.updateStep(task.id, step.stepId, { checkpoint: v })),
        setState: async (patch) => {
          await deps.store.fenced(task.id, task.leaseEpoch, async (tx) => {
            const cur = (await tx.getTask(task.id))!;
            stateNow = { ...cur.state, ...patch };
            await tx.updateTask(task.id, { state: stateNow }, deps.clock.now());
          });
        },
        progress: (p) =>
          progress.add(p, async () =>
            this.fireFault(task, step.stepId, 'during', stepAc.signal, log).catch((e: unknown) => stepAc.abort(e)),
          ),
        write: (f) => deps.store.fenced(task.id, task.leaseEpoch, f),
        cluster: async () => {
          const c = task.clusterId ? await deps.store.getClusterById(task.clusterId) : undefined;
          if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [task.clusterId ?? '(none)'] });
          return c;
        },
        nodes: async () => (task.clusterId ? deps.store.listNodes(task.clusterId) : []),
      };
      running = fn(ctx);
      await raceAbort(running, stepAc.signal);
      await progress.flush();
      // A `during` fault fired by the step's first sample can land after the step function
      // returned (a step whose first sample is also its last): it still fails the step.
      if (stepAc.signal.aborted) throw stepAc.signal.reason as Error;
      if (holder) {
        await holder.release();
        holder = null;
      }
      await this.fireFault(task, step.stepId, 'after', stepAc.signal, log);
      const now = deps.clock.now();
      const successStatus = 'SUCCESS';
      await deps.store.fenced(task.id, task.leaseEpoch, async (tx) => {
        const cur = (await tx.getStep(task.id, step.stepId))!;
        await tx.updateStep(task.id, step.stepId, {
          status: successStatus,
          endAt: now,
          estimatedTime: 0,
          progress: 100,
          errorMsg: null,
          progressInfo: buildProgressInfo({
            actionType,
            stepId: step.stepId,
            beginAt,
            endAt: now,
            now,
            status: successStatus,
            figures: progress.figures,
            extra: pickKeys(cur.progressInfo),
          }),
        });
        await tx.updateTask(task.id, { progress: await overallProgress(tx, task.id) }, now);
      });
      log.info('step succeeded', { durationMs: now - started });
      deps.events.emit('step:finished', { task, stepId: step.stepId, status: 'SUCCESS', durationMs: now - started });
      return { ok: true };
    } catch (e) {
      await progress.flush().catch(() => {});
      const err =
        stepAc.signal.aborted && isAppError(stepAc.signal.reason) && !isAppError(e) ? (stepAc.signal.reason as AppError) : coerceError(e);
      deps.events.emit('step:finished', { task, stepId: step.stepId, status: 'FAILED', durationMs: deps.clock.now() - started });
      return { ok: false, error: err };
    } finally {
      clearTimeout(timeout);
      taskSignal.removeEventListener('abort', onTaskAbort);
      // Closed before the step's end is written: a sample the (aborted) step function still
      // reports would otherwise rewrite its progressInfo as running after it was marked FAILED.
      await progress.close();
      if (holder) {
        // An aborted step function may still be between two awaits (its tools are killed and it
        // can start no new process, but it may still touch files or nodes): the lock stays held
        // until it settles, so the next owner of the cluster never overlaps it (bounded).
        if (running)
          await settledWithin(running, STEP_SETTLE_MS).then(
            (settled) => settled || log.warn('an aborted step did not settle; releasing its lock anyway', { waitedMs: STEP_SETTLE_MS }),
          );
        await holder.release().catch(() => {});
      }
    }
  }

  private async fireFault(
    task: TaskRecord,
    stepId: string,
    point: 'before' | 'during' | 'after',
    signal: AbortSignal,
    log: Logger,
  ): Promise<void> {
    try {
      await this.deps.faults.fire(task, stepId, point, signal, this.deps.config.stepIdleTimeoutMs);
    } catch (e) {
      log.warn('fault fired', { point, error: coerceError(e).message });
      throw e;
    }
  }
}

/** Keys a step set about its result (backup key etc.) survive later progressInfo rebuilds. */
function pickKeys(info: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(info)) {
    if (
      ![
        'actionType',
        'actionStartTime',
        'actionEndTime',
        'updateTime',
        'currentStep',
        'failedStep',
        'progress',
        'backupSize',
        'totalSize',
        'backupRate',
        'errorCode',
        'errorMsg',
      ].includes(k)
    )
      out[k] = v;
  }
  return out;
}

/** Weighted mean of the run steps' progress, 0–100. */
export async function overallProgress(tx: Store, taskId: string): Promise<number> {
  const steps = (await tx.listSteps(taskId)).filter((s) => s.phase === 'run');
  const total = steps.reduce((a, s) => a + s.weight, 0);
  if (total === 0) return 0;
  return steps.reduce((a, s) => a + s.weight * (s.status === 'SUCCESS' ? 100 : s.progress), 0) / total;
}

export function newStepRecord(taskId: string, s: StepSpec, seq: number, phase: 'run' | 'undo'): StepRecord {
  return {
    taskId,
    stepId: s.id,
    seq,
    itemKey: s.item,
    phase,
    status: 'WAITING',
    weight: s.weight ?? 1,
    beginAt: null,
    endAt: null,
    estimatedTime: -1,
    progress: 0,
    progressInfo: {},
    checkpoint: null,
    errorCode: null,
    errorMsg: null,
    attempts: 0,
  };
}

/** How long an aborted step function may take to settle before its lock is released regardless. */
const STEP_SETTLE_MS = 30_000;

/** true when `p` settled within `ms`. */
function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((r) => {
      t = setTimeout(() => r(false), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Settle with the abort reason as soon as the signal fires, even if `p` does not listen to it. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}

/**
 * Persists a step's progress: every sample is stored with its source (D14); the step row
 * (progressInfo, percent, estimate) and the task's overall progress are updated at most every
 * 250 ms. The first sample of a step may fire a `during` fault.
 */
class ProgressWriter {
  private pending: { at: number; p: StepProgress }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private first = true;
  private tracker: RateTracker;
  private extra: Record<string, unknown> = {};
  history: number[] = [];
  beginAt: number;

  /** Set when a write found the lease gone; flush() then throws it. */
  private lost: Error | null = null;
  /** Set when the step has ended (close): nothing more is written. */
  private closed = false;

  constructor(
    private readonly deps: RunnerDeps,
    private readonly task: TaskRecord,
    private readonly step: StepRecord,
    private readonly actionType: string,
    started: number,
    private readonly log: Logger,
    /** called when a write finds the lease gone (the step is aborted) */
    private readonly onLeaseLost: (e: Error) => void,
  ) {
    this.tracker = new RateTracker(started);
    this.beginAt = started;
  }

  get figures() {
    return this.tracker.figures;
  }

  add(p: StepProgress, onFirst: () => Promise<void>): void {
    if (this.closed) return;
    const at = this.deps.clock.now();
    this.tracker.add(at, p);
    if (p.info) Object.assign(this.extra, p.info);
    this.pending.push({ at, p });
    if (this.first) {
      this.first = false;
      this.chain = this.chain.then(() => this.write()).then(onFirst);
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.chain = this.chain.then(() => this.write());
    }, 250);
  }

  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.chain = this.chain.then(() => this.write());
    await this.chain;
    if (this.lost) throw this.lost;
  }

  /** No more writes: samples added later are dropped; waits for a write under way. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.chain.catch(() => {});
  }

  private async write(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0 || this.lost || this.closed) return;
    const f = this.tracker.figures;
    const now = this.deps.clock.now();
    const estimate = f.secondsLeft ?? estimateFromHistory(this.history, now - this.beginAt);
    try {
      await this.deps.store.fenced(this.task.id, this.task.leaseEpoch, async (tx) => {
        for (const { at, p } of batch) {
          await tx.insertSample({
            taskId: this.task.id,
            stepId: this.step.stepId,
            at,
            source: p.source,
            bytesDone: p.bytesDone ?? null,
            bytesTotal: p.bytesTotal ?? null,
            percent: p.percent ?? null,
            data: {
              ...(p.data ?? {}),
              ...(p.consumedBytes != null ? { consumedBytes: p.consumedBytes } : {}),
              ...(p.compressedBytes != null ? { compressedBytes: p.compressedBytes } : {}),
            },
          });
        }
        await tx.updateStep(this.task.id, this.step.stepId, {
          progress: Math.min(100, f.percent ?? 0),
          estimatedTime: estimate,
          progressInfo: buildProgressInfo({
            actionType: this.actionType,
            stepId: this.step.stepId,
            beginAt: this.beginAt,
            endAt: null,
            now,
            status: 'RUNNING',
            figures: f,
            extra: this.extra,
          }),
        });
        await tx.updateTask(this.task.id, { progress: await overallProgress(tx, this.task.id) }, now);
      });
      this.deps.events.emit('step:progress', { task: this.task, stepId: this.step.stepId, figures: f });
    } catch (e) {
      // Never rethrown: the chain runs from timers, where a rejection would have no handler
      // (and an unhandled rejection ends the process). A lost lease aborts the step instead.
      if (isLeaseLost(e)) {
        this.lost ??= e as Error;
        this.onLeaseLost(e as Error);
        return;
      }
      this.log.warn('could not store progress', { error: coerceError(e).message });
    }
  }
}
