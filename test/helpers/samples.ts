/**
 * The progress samples a step stored (D14), checked: the step's final sample (100 %) is the
 * last one stored. A progress poll whose answer arrives after the tool ended must be dropped,
 * never stored after the final sample (whilePolling's `live()`, issue 13).
 */
import { expect } from 'vitest';
import type { ProgressSample } from '../../src/domain/records.js';

export interface SampleReader {
  listSamples(taskId: string, stepId?: string): Promise<ProgressSample[]>;
}

/** The step's samples, asserting that exactly one says 100 % and that it is the last. */
export async function expectFinalSampleLast(store: SampleReader, taskId: string, step: string): Promise<ProgressSample[]> {
  const samples = await store.listSamples(taskId, step);
  const shown = samples.map((s) => `${s.source} ${s.percent ?? '-'}`).join(', ');
  expect(samples.length, `${step} stored no sample`).toBeGreaterThan(0);
  expect(samples.filter((s) => s.percent === 100).length, `${step}: ${shown}`).toBe(1);
  expect(samples.at(-1)!.percent, `${step}: a sample follows the final one: ${shown}`).toBe(100);
  return samples;
}
