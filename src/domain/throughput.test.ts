import { describe, expect, it } from 'vitest';
import { stepThroughput, type ByteSample } from './throughput.js';

const s = (at: number, bytesDone: number, o: Partial<ByteSample> = {}): ByteSample => ({
  taskId: 't1',
  stepId: 'BACKUP',
  source: 'pgbackrest',
  at,
  bytesDone,
  ...o,
});

describe('stepThroughput', () => {
  it('is the bytes between two samples over the time between them, nothing before the first', () => {
    const [step] = stepThroughput([s(1000, 1e6), s(2000, 5e6), s(4000, 9e6)]);
    expect(step).toEqual({
      taskId: 't1',
      stepId: 'BACKUP',
      points: [
        { at: 2000, bytesPerSecond: 4e6 },
        { at: 4000, bytesPerSecond: 2e6 },
      ],
    });
  });

  it('leaves out the summary of another source, and makes no point of, a count that goes back, or two samples at one instant', () => {
    const out = stepThroughput([
      s(1000, 0),
      s(2000, 3e6),
      s(3000, 1e6), // the tool started again
      s(4000, 2e6),
      s(4000, 2.5e6),
      s(5000, 9e6, { source: 'pgbackrest info' }),
    ]);
    expect(out).toHaveLength(1);
    expect(out[0]!.points).toEqual([
      { at: 2000, bytesPerSecond: 3e6 },
      { at: 4000, bytesPerSecond: 1e6 },
    ]);
  });

  it("reads each step's most frequent source, steps in time order", () => {
    const out = stepThroughput([
      s(5000, 0, { taskId: 't2', stepId: 'RESTORE' }),
      s(6000, 2e6, { taskId: 't2', stepId: 'RESTORE' }),
      s(1000, 0, { source: 'copy node2' }),
      s(1500, 1e6, { source: 'copy node3' }),
      s(2000, 4e6, { source: 'copy node2' }),
      s(2500, 6e6, { source: 'copy node2' }),
      s(3000, 9e6, { source: 'copy node3' }),
    ]);
    expect(out.map((x) => [x.taskId, x.stepId, x.points])).toEqual([
      [
        't1',
        'BACKUP',
        [
          { at: 2000, bytesPerSecond: 4e6 },
          { at: 2500, bytesPerSecond: 4e6 },
        ],
      ],
      ['t2', 'RESTORE', [{ at: 6000, bytesPerSecond: 2e6 }]],
    ]);
  });

  it('with many samples merges close ones into longer intervals, still bytes over time', () => {
    const samples = Array.from({ length: 101 }, (_, i) => s(i * 100, i * 1e5));
    const [step] = stepThroughput(samples, 10); // 101 samples over 10 s: at least 1 s between points
    expect(step!.points).toHaveLength(10);
    for (const p of step!.points) expect(p.bytesPerSecond).toBeCloseTo(1e6);
    expect(step!.points.at(-1)!.at).toBe(10_000);
  });
});
