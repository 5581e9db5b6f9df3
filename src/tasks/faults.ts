/**
 * Fault injection (design D13), part of the engine: a chosen step of a chosen action fails,
 * is delayed, hangs, or kills the service, at `before`, `during` (right after the step's
 * first progress sample, so its tool is mid-flight) or `after` (the side effect is done but
 * the checkpoint not committed). An injected failure travels the path a real one does, and
 * says it was injected.
 *
 * Fair shares (docs/security.md): faults come from tenants only when the operator allows
 * them (`enabled`, setting enableTenantFaults; off, stored faults are inert); a delay is cut
 * to `maxDelayMs` and a hang fails its step after at most that long (setting
 * faultMaxDelayMs); a task waiting on either lends its process slot out (slots.ts).
 */
import type { FaultPoint, FaultRecord, TaskRecord } from '../domain/records.js';
import { kindsOfFaultAction } from '../domain/task.js';
import { splitStepId } from '../domain/step-names.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { TaskSlots } from './slots.js';

export interface FaultInjectorOptions {
  /** fire faults at all (setting enableTenantFaults); default true */
  enabled?: boolean;
  /** longest delay, and longest hang before its step fails (setting faultMaxDelayMs); default none */
  maxDelayMs?: number;
  /** the process's task slots: a task lends its slot out while it waits on a delay or hang */
  slots?: TaskSlots;
}

export class FaultInjector {
  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    /** how the process dies for `crash` (tests may replace it) */
    private readonly crash: () => void = () => process.kill(process.pid, 'SIGKILL'),
    private readonly o: FaultInjectorOptions = {},
  ) {}

  /** Faults that address this step of this task at this point. */
  async matching(task: TaskRecord, stepId: string, point: FaultPoint): Promise<FaultRecord[]> {
    const [base] = splitStepId(stepId);
    const clusters = new Set([task.clusterId, task.params['sourceClusterId'] as string | undefined].filter(Boolean));
    const all = await this.store.listFaults(task.projectId);
    return all.filter(
      (f) =>
        f.point === point &&
        (f.step === stepId || f.step === base || f.step === '*') &&
        (f.clusterId === null || clusters.has(f.clusterId)) &&
        kindsOfFaultAction(f.actionName).includes(task.kind),
    );
  }

  /**
   * Act on the faults for this point: `delay` sleeps (at most `maxDelayMs`), `fail` throws
   * INJECTED_FAULT, `hang` waits until the step is aborted (its timeout) or, like any step
   * with no progress, `idleTimeoutMs` (at most `maxDelayMs`) has passed (STEP_TIMEOUT, saying
   * it waited for the hang), `crash` kills the process. A delay or hang waits with the task's
   * slot lent out.
   */
  async fire(task: TaskRecord, stepId: string, point: FaultPoint, signal: AbortSignal, idleTimeoutMs?: number): Promise<void> {
    if (this.o.enabled === false) return;
    for (const f of await this.matching(task, stepId, point)) {
      if (!(await this.store.consumeFault(f))) continue;
      this.log.warn('injecting fault', { faultId: f.id, mode: f.mode, point, step: stepId, taskId: task.id });
      await this.act(f, task, stepId, signal, idleTimeoutMs);
    }
  }

  async act(f: FaultRecord, task: TaskRecord, stepId: string, signal: AbortSignal, idleTimeoutMs?: number): Promise<void> {
    switch (f.mode) {
      case 'crash':
        this.crash();
        // The process is gone; if a test replaced `crash`, behave like a failure.
        throw new AppError('INJECTED_FAULT', { args: ['crash', stepId, f.point] });
      case 'fail':
        throw new AppError('INJECTED_FAULT', { args: ['fail', stepId, f.point] });
      case 'delay':
        await this.withSlotLent(task, () => sleep(this.capped(f.delayMs ?? 0), signal));
        return;
      case 'hang': {
        const limit = idleTimeoutMs === undefined ? this.o.maxDelayMs : this.capped(idleTimeoutMs);
        await this.withSlotLent(
          task,
          () =>
            new Promise<never>((_, reject) => {
              if (signal.aborted) return reject(signal.reason as Error);
              const idle =
                limit === undefined
                  ? undefined
                  : setTimeout(
                      () =>
                        reject(
                          new AppError('STEP_TIMEOUT', {
                            args: [
                              stepId,
                              Math.round(limit / 1000),
                              `an injected hang (fault ${f.id}, ${f.point} the step; the faults API) to end`,
                            ],
                          }),
                        ),
                      limit,
                    );
              idle?.unref();
              signal.addEventListener(
                'abort',
                () => {
                  clearTimeout(idle);
                  reject(signal.reason as Error);
                },
                { once: true },
              );
            }),
        );
        return;
      }
    }
  }

  private capped(ms: number): number {
    return this.o.maxDelayMs === undefined ? ms : Math.min(ms, this.o.maxDelayMs);
  }

  /**
   * Run `wait` with the task's process slot lent out; take a slot back before going on (also
   * when the wait ends in an error: the task's undo steps run next).
   */
  private async withSlotLent<T>(task: TaskRecord, wait: () => Promise<T>): Promise<T> {
    const slots = this.o.slots;
    if (!slots?.holds(task.id)) return wait();
    slots.release(task.id);
    try {
      return await wait();
    } finally {
      await slots.reclaim(task.id);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}
