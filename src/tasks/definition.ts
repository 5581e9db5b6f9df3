/**
 * What a task kind is: its planned items and sub-items (steps), the function run for each
 * step, its undo, and its extras on success and on failure (the cluster's state itself is the
 * runner's, from the D8 table). Snapshot, restore and scale-out are new definitions on the
 * same machinery.
 */
import type { Clock } from '../domain/clock.js';
import type { ClusterRecord, NodeRecord, StepRecord, TaskRecord } from '../domain/records.js';
import type { TaskKind } from '../domain/task.js';
import type { DataPlane, ProgressSampleIn } from '../dataplane/data-plane.js';
import type { Logger } from '../log/logger.js';
import type { Secrets } from '../auth/secrets.js';
import type { Store } from '../store/store.js';
import type { Config } from '../config/config.js';

export interface StepSpec {
  /** stable id: appears in currentStep/failedStep and addresses faults; per-node steps end in `_<n>` */
  id: string;
  /** item (first-level group) key, see domain/step-names.ts */
  item: string;
  /** share of the task's overall progress (default 1) */
  weight?: number;
  /**
   * The step runs external tools (documentation of the step; every step holds the task's
   * lock for its whole length, and the tools it starts inherit it, D1).
   */
  runsTools?: boolean;
  /** hard limit for the step (default: the runner's) */
  timeoutMs?: number;
}

/** A progress sample from a step, with optional figures for progressInfo. */
export interface StepProgress extends ProgressSampleIn {
  /** extra progressInfo keys (e.g. `key`, `priorKey`, `lagBytes`) */
  info?: Record<string, unknown>;
  /** repository bytes written so far (consumerRate, D14) */
  consumedBytes?: number | null;
  /** source bytes of files finished through compression (compressRate, D14) */
  compressedBytes?: number | null;
}

/**
 * A task kind's types: `P` its parameters (fixed when it is enqueued), `S` its task-wide state
 * (what steps hand on to later steps and to the outcome; it starts empty, so every field may be
 * missing), `C` the checkpoint of its steps (what a step records to resume after a crash or a
 * retry; null until the step sets one). A kind that keeps no state says `NoState`; one whose
 * steps keep no checkpoint says `never`.
 */
export type NoState = Record<string, never>;

/** The task record as a step of kind `<P, S>` sees it. */
export type TaskOf<P, S extends object = Record<string, unknown>> = Omit<TaskRecord, 'params' | 'state'> & {
  readonly params: P;
  readonly state: Readonly<Partial<S>>;
};

export interface StepContext<P = Record<string, unknown>, S extends object = Record<string, unknown>, C = unknown> {
  readonly task: TaskOf<P, S>;
  readonly params: P;
  readonly stepId: string;
  /** node number of a per-node step, else null */
  readonly n: number | null;
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly clock: Clock;
  readonly config: Config;
  /** for reads; writes go through `write` */
  readonly store: Store;
  readonly dataPlane: DataPlane;
  readonly secrets: Secrets;
  /** the lock file this task's tools hold */
  readonly lockFile: string;
  /** last persisted checkpoint of this step (after a crash or retry), else null */
  readonly checkpoint: C | null;
  /** task-wide state, as the last `setState` of any step left it */
  readonly state: Readonly<Partial<S>>;
  /** record this step's checkpoint (fenced, D1) */
  setCheckpoint(v: C): Promise<void>;
  /** merge `patch` into the task-wide state (fenced, D1) */
  setState(patch: Partial<S>): Promise<void>;
  /** report progress; persisted (throttled) with every sample kept (D14); may fire a `during` fault */
  progress(p: StepProgress): void;
  /** a store transaction fenced by this owner's lease epoch (D1) */
  write<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  cluster(): Promise<ClusterRecord>;
  nodes(): Promise<NodeRecord[]>;
}

export type StepFn<P, S extends object = Record<string, unknown>, C = unknown> = (ctx: StepContext<P, S, C>) => Promise<void>;

export interface FailureHandling<P> {
  /**
   * `cleanup`: undo steps run, then the task is FAILED (create, restore);
   * `rollback`: the task shows ROLLBACK_RUNNING, then ROLLBACK_SUCCESS or ROLLBACK_FAIL (scale-out).
   */
  mode: 'cleanup' | 'rollback';
  /** the undo steps, appended to the task's items when the failure happens */
  steps(task: TaskOf<P>, runSteps: StepRecord[]): StepSpec[];
}

export interface TaskDefinition<P = Record<string, unknown>, S extends object = Record<string, unknown>, C = unknown> {
  kind: TaskKind;
  maxAttempts: number;
  plan(params: P): StepSpec[];
  /** step implementations by base step id (the id without its `_<n>` suffix) */
  steps: Record<string, StepFn<P, S, C>>;
  failure?: FailureHandling<P>;
  /**
   * The kind's extras on success (node membership, addresses, its snapshot's record), inside
   * the fenced transaction that marks the task SUCCESS. The runner then applies the cluster's
   * D8 success state itself (tasks/cluster-outcome.ts): this hook never writes the cluster's
   * status, task_status, stopped flag or sub_status.
   */
  extrasOnSuccess?(ctx: OutcomeContext<P, S>): Promise<void>;
  /**
   * The kind's extras on failure (failed_reasons, released addresses, its snapshot's record),
   * inside the fenced transaction that ends the task; the runner then applies the cluster's D8
   * failure state. Like `extrasOnSuccess`, it never writes the cluster's state.
   */
  extrasOnFailure?(ctx: OutcomeContext<P, S>, error: { code: string; message: string; step: string | null }): Promise<void>;
}

export interface OutcomeContext<P, S extends object = Record<string, unknown>> {
  readonly task: TaskOf<P, S>;
  readonly params: P;
  readonly state: Readonly<Partial<S>>;
  readonly tx: Store;
  readonly now: number;
  readonly config: Config;
  readonly dataPlane: DataPlane;
  readonly secrets: Secrets;
}
