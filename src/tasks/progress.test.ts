import { describe, expect, it } from 'vitest';
import { buildProgressInfo, estimateFromHistory, formatPercent, formatRate, median, RateTracker, type StepFigures } from './progress.js';

const T0 = Date.UTC(2025, 4, 19, 9, 6, 18, 0);
const s = (ms: number): number => T0 + ms;

describe('formatRate: MB is 10^6 bytes, one decimal (D14)', () => {
  it('uses decimal megabytes, not MiB', () => {
    expect(formatRate(2_000_000)).toBe('2.0MB/s'); // 1.9 if 2^20 were used
    expect(formatRate(1_250_000)).toBe('1.3MB/s');
    expect(formatRate(123_456_789)).toBe('123.5MB/s');
    expect(formatRate(0)).toBe('0.0MB/s');
  });
  it('an unknown rate is 0.0MB/s', () => {
    expect(formatRate(null)).toBe('0.0MB/s');
  });
  it('percent strings have two decimals and stay within 0..100', () => {
    expect(formatPercent(42.126)).toBe('42.13%');
    expect(formatPercent(-3)).toBe('0.00%');
    expect(formatPercent(250)).toBe('100.00%');
  });
});

describe('RateTracker', () => {
  it('with one sample, the rate is over the step so far', () => {
    const t = new RateTracker(T0);
    const f = t.add(s(1000), { source: 'tool', bytesDone: 5e6, bytesTotal: 20e6 });
    expect(f.producerRate).toBe(5e6);
    expect(formatRate(f.producerRate)).toBe('5.0MB/s');
    expect(f.percent).toBe(25);
    expect(f.bytesDone).toBe(5e6);
    expect(f.bytesTotal).toBe(20e6);
    // 15 MB left at 5 MB/s
    expect(f.secondsLeft).toBe(3);
  });

  it('with two samples, the rate is between them, and the estimate follows it', () => {
    const t = new RateTracker(T0);
    t.add(s(1000), { source: 'tool', bytesDone: 5e6, bytesTotal: 20e6 });
    const f = t.add(s(3000), { source: 'tool', bytesDone: 9e6 });
    expect(f.producerRate).toBe(2e6); // 4 MB in 2 s
    expect(f.bytesTotal).toBe(20e6); // carried over from the earlier sample
    expect(f.percent).toBeCloseTo(45, 10);
    expect(f.secondsLeft).toBe(Math.ceil(11e6 / 2e6)); // 6
    expect(t.figures).toEqual(f);
  });

  it('rates are over a window of the last few seconds, not the whole step', () => {
    const t = new RateTracker(T0);
    t.add(s(1000), { source: 'tool', bytesDone: 1e6, bytesTotal: 100e6 });
    t.add(s(2000), { source: 'tool', bytesDone: 2e6 });
    // 6 s later: the sample at 1 s has left the 5 s window; the one at 2 s is kept (at least two)
    const f = t.add(s(8000), { source: 'tool', bytesDone: 20e6 });
    expect(f.producerRate).toBe(3e6); // (20 - 2) MB / 6 s; over the whole step it would be 2.5
  });

  it('consumer and compress rates come from their own figures', () => {
    const t = new RateTracker(T0);
    t.add(s(1000), { source: 'pgbackrest', bytesDone: 10e6, bytesTotal: 40e6, consumedBytes: 2e6, compressedBytes: 8e6 });
    const f = t.add(s(2000), { source: 'pgbackrest', bytesDone: 20e6, consumedBytes: 3e6, compressedBytes: 16e6 });
    expect(f.producerRate).toBe(10e6);
    expect(f.consumerRate).toBe(1e6);
    expect(f.compressRate).toBe(8e6);
  });

  it('without byte figures there is no rate and no estimate', () => {
    const t = new RateTracker(T0);
    const f = t.add(s(1000), { source: 'tool', percent: 40 });
    expect(f).toEqual({
      percent: 40,
      bytesDone: null,
      bytesTotal: null,
      producerRate: null,
      consumerRate: null,
      compressRate: null,
      secondsLeft: null,
    });
  });

  it('when the window rate is unknown (samples at the same instant), the estimate uses the overall rate', () => {
    const t = new RateTracker(T0);
    t.add(s(1000), { source: 'tool', bytesDone: 1e6, bytesTotal: 10e6 });
    const f = t.add(s(1000), { source: 'tool', bytesDone: 2e6 });
    expect(f.producerRate).toBeNull();
    expect(f.secondsLeft).toBe(4); // 8 MB left at 2 MB/s (2 MB in the step's first second)
  });

  it('nothing left means zero seconds, whatever the rate', () => {
    const t = new RateTracker(T0);
    t.add(s(1000), { source: 'tool', bytesDone: 1e6, bytesTotal: 5e6 });
    expect(t.add(s(1500), { source: 'tool', bytesDone: 5e6 }).secondsLeft).toBe(0);
  });

  it('a rate never goes negative (a tool restarting its count)', () => {
    const t = new RateTracker(T0);
    t.add(s(1000), { source: 'tool', bytesDone: 8e6, bytesTotal: 10e6 });
    expect(t.add(s(2000), { source: 'tool', bytesDone: 1e6 }).producerRate).toBe(0);
  });

  it('an explicit percent wins over bytes', () => {
    const t = new RateTracker(T0);
    expect(t.add(s(1000), { source: 'tool', bytesDone: 1e6, bytesTotal: 4e6, percent: 90 }).percent).toBe(90);
  });
});

describe('estimates from history (D14)', () => {
  it('median: odd and even counts, unsorted input', () => {
    expect(median([])).toBeNull();
    expect(median([30, 10, 20])).toBe(20);
    expect(median([40, 10, 30, 20])).toBe(25);
    expect(median([7])).toBe(7);
  });

  it('-1 with no history', () => {
    expect(estimateFromHistory([], 0)).toBe(-1);
    expect(estimateFromHistory([], 12_345)).toBe(-1);
  });

  it('seconds left of the median past duration', () => {
    expect(estimateFromHistory([10_000, 30_000, 20_000], 0)).toBe(20);
    expect(estimateFromHistory([10_000, 30_000, 20_000], 5_000)).toBe(15);
    expect(estimateFromHistory([10_000, 20_000, 30_000, 40_000], 0)).toBe(25);
    expect(estimateFromHistory([10_000, 20_000, 30_000], 4_500)).toBe(16); // rounded up
  });

  it('the median, not the mean: one slow outlier does not move it', () => {
    expect(estimateFromHistory([10_000, 11_000, 600_000], 0)).toBe(11);
  });

  it('a step running longer than its history says still reports at least one second', () => {
    expect(estimateFromHistory([10_000], 25_000)).toBe(1);
  });
});

describe('buildProgressInfo', () => {
  const figures: StepFigures = {
    percent: 37.5,
    bytesDone: 3e6,
    bytesTotal: 8e6,
    producerRate: 1.5e6,
    consumerRate: 0.5e6,
    compressRate: 1e6,
    secondsLeft: 4,
  };
  const begin = Date.UTC(2025, 4, 19, 9, 6, 18, 300);
  const now = Date.UTC(2025, 4, 19, 9, 7, 29, 900);

  it('has exactly the documented keys, in their documented forms, while running', () => {
    const p = buildProgressInfo({ actionType: 'Backup', stepId: 'BACKUP', beginAt: begin, endAt: null, now, status: 'RUNNING', figures });
    expect(Object.keys(p).sort()).toEqual([
      'actionEndTime',
      'actionStartTime',
      'actionType',
      'backupRate',
      'backupSize',
      'currentStep',
      'errorCode',
      'errorMsg',
      'failedStep',
      'key',
      'partialPassKeys',
      'priorKey',
      'progress',
      'totalSize',
      'unrestoreKeys',
      'updateTime',
    ]);
    expect(p).toEqual({
      actionType: 'Backup',
      actionStartTime: '2025-05-19 09:06:18',
      actionEndTime: '',
      updateTime: '2025-05-19 09:07:29',
      currentStep: 'BACKUP',
      failedStep: '',
      progress: '37.50%',
      key: 'N/A',
      priorKey: 'N/A',
      partialPassKeys: 'N/A',
      unrestoreKeys: 'N/A',
      backupSize: 3e6,
      totalSize: 8e6,
      backupRate: { compressRate: '1.0MB/s', consumerRate: '0.5MB/s', producerRate: '1.5MB/s' },
      errorCode: '',
      errorMsg: '',
    });
  });

  it('a finished step is at FINISH and 100%', () => {
    const p = buildProgressInfo({
      actionType: 'Create',
      stepId: 'INIT_PRIMARY',
      beginAt: begin,
      endAt: now,
      now,
      status: 'SUCCESS',
      figures: { ...figures, percent: 60 },
    });
    expect(p['currentStep']).toBe('FINISH');
    expect(p['progress']).toBe('100.00%');
    expect(p['actionEndTime']).toBe('2025-05-19 09:07:29');
    expect(p['failedStep']).toBe('');
  });

  it('a failed step names itself in failedStep and carries the error', () => {
    const p = buildProgressInfo({
      actionType: 'Expand',
      stepId: 'COPY_DATA_4',
      beginAt: begin,
      endAt: now,
      now,
      status: 'FAILED',
      figures,
      errorCode: 'DWS.9920',
      errorMsg: 'pg_basebackup failed',
    });
    expect(p).toMatchObject({
      currentStep: 'COPY_DATA_4',
      failedStep: 'COPY_DATA_4',
      errorCode: 'DWS.9920',
      errorMsg: 'pg_basebackup failed',
      progress: '37.50%',
    });
  });

  it('a step not yet started has empty times and zero figures', () => {
    const none: StepFigures = {
      percent: null,
      bytesDone: null,
      bytesTotal: null,
      producerRate: null,
      consumerRate: null,
      compressRate: null,
      secondsLeft: null,
    };
    const p = buildProgressInfo({
      actionType: 'Restore',
      stepId: 'RESTORE_PRIMARY',
      beginAt: null,
      endAt: null,
      now,
      status: 'WAITING',
      figures: none,
    });
    expect(p).toMatchObject({
      actionStartTime: '',
      actionEndTime: '',
      progress: '0.00%',
      backupSize: 0,
      totalSize: 0,
      backupRate: { compressRate: '0.0MB/s', consumerRate: '0.0MB/s', producerRate: '0.0MB/s' },
    });
  });

  it('extra keys (the backup key) override the N/A defaults', () => {
    const p = buildProgressInfo({
      actionType: 'Backup',
      stepId: 'BACKUP',
      beginAt: begin,
      endAt: null,
      now,
      status: 'RUNNING',
      figures,
      extra: { key: '20250519_090729', priorKey: '20250518_010000' },
    });
    expect(p['key']).toBe('20250519_090729');
    expect(p['priorKey']).toBe('20250518_010000');
  });

  it('is JSON-serializable as the double-encoded detail string', () => {
    const p = buildProgressInfo({ actionType: 'Backup', stepId: 'BACKUP', beginAt: begin, endAt: null, now, status: 'RUNNING', figures });
    const detail = JSON.stringify({ progressInfo: JSON.stringify(p) });
    expect(JSON.parse((JSON.parse(detail) as { progressInfo: string }).progressInfo)).toEqual(p);
  });
});
