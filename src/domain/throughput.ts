/**
 * The byte throughput of a cluster's tasks over time (issue 17: "backup and restore throughput
 * during tasks"), from the progress samples their tools reported (D14). A point is the bytes a
 * step's tool counted between two of its samples over the time between them: nothing is
 * assumed before a step's first sample, and a count that goes back (a tool starting again)
 * makes no point. A step's rates are read from the source that reported most often in it (the
 * tool's running count, e.g. pgBackRest's detail log); another source's few samples, such as
 * `pgbackrest info`'s figure at the end or a watcher's, are left out. Where sub-tasks report one
 * total under their own sources, the rates over one source's samples are still bytes over time.
 */

/** One stored sample with a byte count (progress_samples with bytes_done). */
export interface ByteSample {
  taskId: string;
  stepId: string;
  source: string;
  /** epoch ms */
  at: number;
  bytesDone: number;
}

export interface ThroughputPoint {
  /** epoch ms: the end of the interval */
  at: number;
  bytesPerSecond: number;
}

export interface StepThroughput {
  taskId: string;
  stepId: string;
  points: ThroughputPoint[];
}

/**
 * Every step's points, oldest first, steps in the order of their first point. With more than
 * `maxPoints` samples in a step's source, consecutive samples closer than its span / maxPoints
 * are merged: a point is then the average over the longer interval, still bytes over time.
 */
export function stepThroughput(samples: readonly ByteSample[], maxPoints = 300): StepThroughput[] {
  const bySource = new Map<string, Map<string, ByteSample[]>>();
  for (const s of samples) {
    const key = `${s.taskId}\u0000${s.stepId}`;
    const sources = bySource.get(key) ?? new Map<string, ByteSample[]>();
    bySource.set(key, sources);
    const g = sources.get(s.source);
    if (g) g.push(s);
    else sources.set(s.source, [s]);
  }
  const out: StepThroughput[] = [];
  for (const sources of bySource.values()) {
    const g = [...sources.values()].reduce((a, b) => (b.length > a.length ? b : a)).sort((a, b) => a.at - b.at);
    const first = g[0]!;
    const minGap = g.length > maxPoints ? (g[g.length - 1]!.at - first.at) / maxPoints : 0;
    const points: ThroughputPoint[] = [];
    let prev = first;
    for (let i = 1; i < g.length; i++) {
      const s = g[i]!;
      if (s.bytesDone < prev.bytesDone) {
        prev = s; // the tool counts again from the start: no rate across it
        continue;
      }
      if (s.at - prev.at <= 0 || (s.at - prev.at < minGap && i < g.length - 1)) continue;
      points.push({ at: s.at, bytesPerSecond: ((s.bytesDone - prev.bytesDone) * 1000) / (s.at - prev.at) });
      prev = s;
    }
    if (points.length) out.push({ taskId: first.taskId, stepId: first.stepId, points });
  }
  return out.sort((a, b) => a.points[0]!.at - b.points[0]!.at);
}
