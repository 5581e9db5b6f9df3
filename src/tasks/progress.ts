/**
 * Progress figures of a running step (design D14): percent, bytes, rates and the estimate,
 * all from the samples its tool produced. Rates are over the last few seconds of samples;
 * "MB" is 10^6 bytes with one decimal.
 */
import { progressTime } from '../domain/time.js';
import type { StepProgress } from './definition.js';

const WINDOW_MS = 5000;

export const formatRate = (bytesPerSec: number | null): string => `${bytesPerSec === null ? '0.0' : (bytesPerSec / 1e6).toFixed(1)}MB/s`;
export const formatPercent = (p: number): string => `${Math.max(0, Math.min(100, p)).toFixed(2)}%`;

interface Point {
  at: number;
  done: number | null;
  consumed: number | null;
  compressed: number | null;
}

export interface StepFigures {
  percent: number | null;
  bytesDone: number | null;
  bytesTotal: number | null;
  producerRate: number | null;
  consumerRate: number | null;
  compressRate: number | null;
  /** seconds left, from the measured rate; null when unknown */
  secondsLeft: number | null;
}

export class RateTracker {
  private points: Point[] = [];
  private last: StepFigures = {
    percent: null,
    bytesDone: null,
    bytesTotal: null,
    producerRate: null,
    consumerRate: null,
    compressRate: null,
    secondsLeft: null,
  };

  constructor(private readonly startedAt: number) {}

  add(at: number, p: StepProgress): StepFigures {
    this.points.push({ at, done: p.bytesDone ?? null, consumed: p.consumedBytes ?? null, compressed: p.compressedBytes ?? null });
    while (this.points.length > 2 && at - this.points[0]!.at > WINDOW_MS) this.points.shift();
    const rate = (sel: (x: Point) => number | null): number | null => {
      const pts = this.points.filter((x) => sel(x) !== null);
      if (pts.length === 0) return null;
      const a = pts.length >= 2 ? pts[0]! : null;
      const b = pts[pts.length - 1]!;
      // With one sample, the rate is over the step so far (the tool started at step start).
      const t0 = a ? a.at : this.startedAt;
      const v0 = a ? sel(a)! : 0;
      const dt = (b.at - t0) / 1000;
      if (dt <= 0) return null;
      return Math.max(0, (sel(b)! - v0) / dt);
    };
    const bytesDone = p.bytesDone ?? this.last.bytesDone;
    const bytesTotal = p.bytesTotal ?? this.last.bytesTotal;
    const percent = p.percent ?? (bytesDone !== null && bytesTotal ? (100 * bytesDone) / bytesTotal : this.last.percent);
    const producerRate = rate((x) => x.done);
    let secondsLeft: number | null = null;
    if (bytesTotal !== null && bytesDone !== null) {
      const remaining = Math.max(0, bytesTotal - bytesDone);
      const overall = (at - this.startedAt) / 1000 > 0 ? bytesDone / ((at - this.startedAt) / 1000) : null;
      const r = producerRate && producerRate > 0 ? producerRate : overall;
      if (remaining === 0) secondsLeft = 0;
      else if (r && r > 0) secondsLeft = Math.ceil(remaining / r);
    }
    this.last = {
      percent,
      bytesDone,
      bytesTotal,
      producerRate,
      consumerRate: rate((x) => x.consumed),
      compressRate: rate((x) => x.compressed),
      secondsLeft,
    };
    return this.last;
  }

  get figures(): StepFigures {
    return this.last;
  }
}

/** Median of past durations (ms), or null. */
export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** `estimated_time` from history (D14): seconds left of the median past duration, or -1 with no history. */
export function estimateFromHistory(pastMs: number[], elapsedMs: number): number {
  const m = median(pastMs);
  if (m === null) return -1;
  return Math.max(1, Math.ceil((m - elapsedMs) / 1000));
}

export interface ProgressInfoInput {
  actionType: string;
  stepId: string;
  beginAt: number | null;
  endAt: number | null;
  now: number;
  status: string;
  figures: StepFigures;
  errorCode?: string;
  errorMsg?: string;
  extra?: Record<string, unknown>;
}

/** The inner progressInfo object with the documented keys (reference §9), plus dwsbox extras. */
export function buildProgressInfo(i: ProgressInfoInput): Record<string, unknown> {
  const done = i.status === 'SUCCESS';
  const failed = i.status === 'FAILED' || i.status === 'ROLLBACK_FAIL';
  const pct = done ? 100 : (i.figures.percent ?? 0);
  return {
    actionType: i.actionType,
    actionStartTime: i.beginAt ? progressTime(i.beginAt) : '',
    actionEndTime: i.endAt ? progressTime(i.endAt) : '',
    updateTime: progressTime(i.now),
    currentStep: done ? 'FINISH' : i.stepId,
    failedStep: failed ? i.stepId : '',
    progress: formatPercent(pct),
    key: 'N/A',
    priorKey: 'N/A',
    partialPassKeys: 'N/A',
    unrestoreKeys: 'N/A',
    backupSize: i.figures.bytesDone ?? 0,
    totalSize: i.figures.bytesTotal ?? 0,
    backupRate: {
      compressRate: formatRate(done ? i.figures.compressRate : i.figures.compressRate),
      consumerRate: formatRate(i.figures.consumerRate),
      producerRate: formatRate(i.figures.producerRate),
    },
    errorCode: i.errorCode ?? '',
    errorMsg: i.errorMsg ?? '',
    ...(i.extra ?? {}),
  };
}
