/**
 * How a task's status moves (docs/states.md#tasks): one pure function per transition, used by
 * the task runner. The undo mode of a kind decides the failure path: `cleanup` undoes and ends
 * FAILED; `rollback` shows ROLLBACK_RUNNING while it undoes, then ROLLBACK_SUCCESS, or
 * ROLLBACK_FAIL when an undo step failed.
 */
import type { TaskPhase } from './records.js';
import type { TaskStatus } from './task.js';

/** How a kind undoes a failure (`TaskDefinition.failure.mode`). */
export type UndoMode = 'cleanup' | 'rollback';

/** The status while an owner runs the task: a claimed WAITING task starts RUNNING; a resumed one keeps its status. */
export function statusWhenClaimed(current: TaskStatus): TaskStatus {
  return current === 'WAITING' ? 'RUNNING' : current;
}

/**
 * After a step failed: whether the task runs again later. Only a retryable error retries, and
 * only while attempts are left (`attempt` counts from 0; `maxAttempts` runs in all). Returns
 * the attempt number of the next run, or null: the failure is final.
 */
export function nextAttempt(o: { retryable: boolean; attempt: number; maxAttempts: number }): number | null {
  return o.retryable && o.attempt + 1 < o.maxAttempts ? o.attempt + 1 : null;
}

/**
 * After a final step failure: with undo steps to run, the task enters its undo phase (RUNNING
 * for cleanup, ROLLBACK_RUNNING for rollback); without, it ends FAILED.
 */
export function statusOnFailure(mode: UndoMode | null, undoSteps: number): { phase: Exclude<TaskPhase, 'run'>; status: TaskStatus } {
  if (mode === null || undoSteps === 0) return { phase: 'done', status: 'FAILED' };
  return { phase: 'undo', status: mode === 'rollback' ? 'ROLLBACK_RUNNING' : 'RUNNING' };
}

/** The status an undo step shows while it runs. */
export function undoStepRunningStatus(mode: UndoMode): 'RUNNING' | 'ROLLBACK_RUNNING' {
  return mode === 'rollback' ? 'ROLLBACK_RUNNING' : 'RUNNING';
}

/** The status of an undo step that failed. */
export function undoStepFailedStatus(mode: UndoMode): 'FAILED' | 'ROLLBACK_FAIL' {
  return mode === 'rollback' ? 'ROLLBACK_FAIL' : 'FAILED';
}

/** The task's final status once its undo steps ran: `failedUndoSteps` of them failed. */
export function statusAfterUndo(mode: UndoMode, failedUndoSteps: number): 'FAILED' | 'ROLLBACK_SUCCESS' | 'ROLLBACK_FAIL' {
  if (mode === 'cleanup') return 'FAILED';
  return failedUndoSteps > 0 ? 'ROLLBACK_FAIL' : 'ROLLBACK_SUCCESS';
}
