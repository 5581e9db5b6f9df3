import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  nextAttempt,
  statusAfterUndo,
  statusOnFailure,
  statusWhenClaimed,
  undoStepFailedStatus,
  undoStepRunningStatus,
} from './task-status.js';
import { isTaskActive, isTaskFailure, TaskStatus, type TaskStatus as TaskStatusT } from './task.js';

const ALL: TaskStatusT[] = Object.values(TaskStatus);

describe('task status transitions', () => {
  it('a claimed WAITING task runs; a resumed one keeps its status (RUNNING, or ROLLBACK_RUNNING while it rolls back)', () => {
    expect(statusWhenClaimed('WAITING')).toBe('RUNNING');
    expect(statusWhenClaimed('RUNNING')).toBe('RUNNING');
    expect(statusWhenClaimed('ROLLBACK_RUNNING')).toBe('ROLLBACK_RUNNING');
  });

  it('a claimed task is always active', () => {
    for (const s of ALL.filter(isTaskActive)) expect(isTaskActive(statusWhenClaimed(s))).toBe(true);
  });

  it('a retryable error retries while attempts are left; the last attempt fails for good', () => {
    expect(nextAttempt({ retryable: true, attempt: 0, maxAttempts: 3 })).toBe(1);
    expect(nextAttempt({ retryable: true, attempt: 1, maxAttempts: 3 })).toBe(2);
    expect(nextAttempt({ retryable: true, attempt: 2, maxAttempts: 3 })).toBeNull();
    expect(nextAttempt({ retryable: true, attempt: 0, maxAttempts: 1 })).toBeNull();
  });

  it('an error that is not retryable never retries', () => {
    fc.assert(
      fc.property(
        fc.nat(20),
        fc.integer({ min: 1, max: 20 }),
        (attempt, maxAttempts) => nextAttempt({ retryable: false, attempt, maxAttempts }) === null,
      ),
    );
  });

  it('a task runs at most maxAttempts times, whatever its errors', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), (maxAttempts) => {
        let runs = 1;
        for (let a: number | null = 0; (a = nextAttempt({ retryable: true, attempt: a, maxAttempts })) !== null;) runs++;
        return runs === maxAttempts;
      }),
    );
  });

  it('a final failure with undo steps enters the undo phase: RUNNING to clean up, ROLLBACK_RUNNING to roll back', () => {
    expect(statusOnFailure('cleanup', 1)).toEqual({ phase: 'undo', status: 'RUNNING' });
    expect(statusOnFailure('rollback', 2)).toEqual({ phase: 'undo', status: 'ROLLBACK_RUNNING' });
  });

  it('a final failure with nothing to undo ends FAILED', () => {
    expect(statusOnFailure(null, 0)).toEqual({ phase: 'done', status: 'FAILED' });
    expect(statusOnFailure('cleanup', 0)).toEqual({ phase: 'done', status: 'FAILED' });
    expect(statusOnFailure('rollback', 0)).toEqual({ phase: 'done', status: 'FAILED' });
  });

  it('undo steps show the mode: RUNNING/FAILED while cleaning up, ROLLBACK_RUNNING/ROLLBACK_FAIL while rolling back', () => {
    expect(undoStepRunningStatus('cleanup')).toBe('RUNNING');
    expect(undoStepRunningStatus('rollback')).toBe('ROLLBACK_RUNNING');
    expect(undoStepFailedStatus('cleanup')).toBe('FAILED');
    expect(undoStepFailedStatus('rollback')).toBe('ROLLBACK_FAIL');
  });

  it('after undo: a cleanup ends FAILED; a rollback ends ROLLBACK_SUCCESS, or ROLLBACK_FAIL when an undo step failed', () => {
    expect(statusAfterUndo('cleanup', 0)).toBe('FAILED');
    expect(statusAfterUndo('cleanup', 2)).toBe('FAILED');
    expect(statusAfterUndo('rollback', 0)).toBe('ROLLBACK_SUCCESS');
    expect(statusAfterUndo('rollback', 1)).toBe('ROLLBACK_FAIL');
  });

  it('every end after a failure is a failure status (the failure action names find it)', () => {
    for (const mode of ['cleanup', 'rollback'] as const) {
      for (const failed of [0, 1, 3]) expect(isTaskFailure(statusAfterUndo(mode, failed))).toBe(true);
    }
    expect(isTaskFailure(statusOnFailure(null, 0).status)).toBe(true);
  });
});
