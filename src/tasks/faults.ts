/**
 * Fault injection (design D13), part of the engine: a chosen step of a chosen action fails,
 * is delayed, hangs, or kills the service, at `before`, `during` (right after the step's
 * first progress sample, so its tool is mid-flight) or `after` (the side effect is done but
 * the checkpoint not committed). An injected failure travels the path a real one does, and
 * says it was injected.
 */
import type { FaultPoint, FaultRecord, TaskRecord } from '../domain/records.js';
import { kindsOfFaultAction } from '../domain/task.js';
import { splitStepId } from '../domain/step-names.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';

export class FaultInjector {
  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    /** how the process dies for `crash` (tests may replace it) */
    private readonly crash: () => void = () => process.kill(process.pid, 'SIGKILL'),
  ) {}

  /** Faults that address this step of this task at this point. */
  async matching(task: TaskRecord, stepId: string, point: FaultPoint): Promise<FaultRecord[]> {
    const [base] = splitStepId(stepId);
    const clusters = new Set([task.clusterId, task.params['sourceClusterId'] as string | undefined].filter(Boolean));
    const all = await this.store.listFaults(task.projectId);
    return all.filter((f) =>
      f.point === point &&
      (f.step === stepId || f.step === base || f.step === '*') &&
      (f.clusterId === null || clusters.has(f.clusterId)) &&
      kindsOfFaultAction(f.actionName).includes(task.kind),
    );
  }

  /**
   * Act on the faults for this point: `delay` sleeps, `fail` throws INJECTED_FAULT, `hang`
   * waits until the step is aborted (its timeout) or, like any step with no progress,
   * `idleTimeoutMs` has passed (STEP_TIMEOUT, saying it waited for the hang), `crash` kills
   * the process.
   */
  async fire(task: TaskRecord, stepId: string, point: FaultPoint, signal: AbortSignal, idleTimeoutMs?: number): Promise<void> {
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
        await sleep(f.delayMs ?? 0, signal);
        return;
      case 'hang':
        await new Promise<never>((_, reject) => {
          if (signal.aborted) return reject(signal.reason as Error);
          const idle = idleTimeoutMs === undefined ? undefined : setTimeout(() => reject(new AppError('STEP_TIMEOUT', {
            args: [stepId, Math.round(idleTimeoutMs / 1000), `an injected hang (fault ${f.id}, ${f.point} the step; the faults API) to end`],
          })), idleTimeoutMs);
          idle?.unref();
          signal.addEventListener('abort', () => {
            clearTimeout(idle);
            reject(signal.reason as Error);
          }, { once: true });
        });
        return;
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    }, { once: true });
  });
}
