/** A task's steps (its items and sub-items), their progress samples, and past step durations (D14). */
import type { Kysely } from 'kysely';
import type { ProgressSample, StepRecord } from '../../domain/records.js';
import type { TaskKind } from '../../domain/task.js';
import type { ByteSample } from '../../domain/throughput.js';
import { sampleRows, stepRows, toNumber } from '../rows.js';
import type { Database } from '../schema.js';

/** The fields of a step its runner changes. */
export type StepPatch = Partial<Omit<StepRecord, 'taskId' | 'stepId' | 'seq' | 'itemKey' | 'phase' | 'weight'>>;

export async function insertSteps(db: Kysely<Database>, steps: StepRecord[]): Promise<void> {
  if (steps.length === 0) return;
  await db
    .insertInto('task_steps')
    .values(steps.map((step) => stepRows.toNewRow(step)))
    .execute();
}
export async function listSteps(db: Kysely<Database>, taskId: string): Promise<StepRecord[]> {
  return (await db.selectFrom('task_steps').selectAll().where('task_id', '=', taskId).orderBy('seq').execute()).map((row) =>
    stepRows.toRecord(row),
  );
}
export async function getStep(db: Kysely<Database>, taskId: string, stepId: string): Promise<StepRecord | undefined> {
  const row = await db.selectFrom('task_steps').selectAll().where('task_id', '=', taskId).where('step_id', '=', stepId).executeTakeFirst();
  return row && stepRows.toRecord(row);
}
export async function updateStep(db: Kysely<Database>, taskId: string, stepId: string, patch: StepPatch): Promise<void> {
  await db.updateTable('task_steps').set(stepRows.toRow(patch)).where('task_id', '=', taskId).where('step_id', '=', stepId).execute();
}

export async function insertSample(db: Kysely<Database>, sample: ProgressSample): Promise<void> {
  await db.insertInto('progress_samples').values(sampleRows.toNewRow(sample)).execute();
}
/** A task's samples in the order they were stored, of one step or all. */
export async function listSamples(db: Kysely<Database>, taskId: string, stepId?: string): Promise<ProgressSample[]> {
  let query = db.selectFrom('progress_samples').selectAll().where('task_id', '=', taskId).orderBy('id');
  if (stepId) query = query.where('step_id', '=', stepId);
  return (await query.execute()).map((row) => sampleRows.toRecord(row));
}

/** The samples with a byte count of a cluster's tasks taken in [fromMs, toMs), with their task's kind (issue 17's throughput). */
export async function listByteSamples(
  db: Kysely<Database>,
  clusterId: string,
  fromMs: number,
  toMs: number,
): Promise<(ByteSample & { kind: TaskKind })[]> {
  const rows = await db
    .selectFrom('progress_samples')
    .innerJoin('tasks', 'tasks.id', 'progress_samples.task_id')
    .select([
      'tasks.kind',
      'progress_samples.task_id',
      'progress_samples.step_id',
      'progress_samples.source',
      'progress_samples.at',
      'progress_samples.bytes_done',
    ])
    .where('tasks.cluster_id', '=', clusterId)
    .where('progress_samples.at', '>=', fromMs)
    .where('progress_samples.at', '<', toMs)
    .where('progress_samples.bytes_done', 'is not', null)
    .orderBy('progress_samples.id')
    .execute();
  return rows.map((r) => ({
    kind: r.kind as TaskKind,
    taskId: r.task_id,
    stepId: r.step_id,
    source: r.source,
    at: toNumber(r.at),
    bytesDone: toNumber(r.bytes_done!),
  }));
}

/** Durations (ms) of the latest successful runs of a step of a kind, for estimates (D14). */
export async function pastStepDurations(db: Kysely<Database>, kind: TaskKind, stepId: string, limit = 15): Promise<number[]> {
  const rows = await db
    .selectFrom('task_steps')
    .innerJoin('tasks', 'tasks.id', 'task_steps.task_id')
    .select(['task_steps.begin_at', 'task_steps.end_at'])
    .where('tasks.kind', '=', kind)
    .where('task_steps.step_id', '=', stepId)
    .where('task_steps.status', '=', 'SUCCESS')
    .where('task_steps.begin_at', 'is not', null)
    .where('task_steps.end_at', 'is not', null)
    .orderBy('task_steps.end_at', 'desc')
    .limit(limit)
    .execute();
  return rows.map((row) => toNumber(row.end_at) - toNumber(row.begin_at));
}
