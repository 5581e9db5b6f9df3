/** The monitoring tab's pure helpers (console/src/metrics.ts, D29). */
import { describe, expect, it } from 'vitest';
import {
  alignSeries,
  firstSample,
  shownSpan,
  formatValue,
  memberColor,
  metricDataPath,
  niceMax,
  pointValue,
  rangeIsRaw,
  rangeMs,
  refreshMs,
  throughputPath,
  throughputSeries,
  type Indicator,
  type MetricSeries,
} from '../../console/src/metrics.js';

const series = (member: string, points: [number, string][]): MetricSeries => ({
  indicator_name: 'instance.tps',
  object_id: 'c1',
  sub_object_id: member,
  unit: '1/s',
  data_points: points.map(([timestamp, result]) => ({ timestamp, result })),
});

const indicator = (name: string, rate: string): Indicator => ({
  indicator_name: name,
  plugin_name: 'dwsbox',
  default_collect_rate: rate,
  support_datastore_version: '',
  unit: '',
  description: '',
});

describe('alignSeries', () => {
  it("puts every member's samples on one time axis, a missing sample a gap (null), never 0", () => {
    const a = alignSeries([
      series('node2', [
        [1000, '1.5'],
        [3000, '2'],
      ]),
      series('node1', [
        [1000, '10'],
        [2000, '20'],
      ]),
    ]);
    expect(a.members).toEqual(['node1', 'node2']);
    expect(a.xs).toEqual([1000, 2000, 3000]);
    expect(a.ys).toEqual([
      [10, 20, null],
      [1.5, null, 2],
    ]);
    expect(a.empty).toEqual([]);
  });

  it('lists members without a point apart, in natural order, and draws nothing for them', () => {
    const a = alignSeries([series('node10', [[5, '1']]), series('node3', []), series('node2', [[5, '0']])]);
    expect(a.members).toEqual(['node2', 'node10']);
    expect(a.empty).toEqual(['node3']);
    expect(a.ys).toEqual([[0], [1]]);
  });

  it('has no members and no times for an empty answer, and skips unreadable values', () => {
    expect(alignSeries([])).toEqual({ members: [], empty: [], xs: [], ys: [] });
    const a = alignSeries([
      series('node1', [
        [1, 'NaN'],
        [2, ''],
        [3, '7'],
      ]),
    ]);
    expect(a.xs).toEqual([3]);
    expect(a.ys).toEqual([[7]]);
  });
});

describe('pointValue', () => {
  it('reads numbers as strings, nothing else', () => {
    expect(pointValue('12.5')).toBe(12.5);
    expect(pointValue('0')).toBe(0);
    expect(pointValue(3)).toBe(3);
    expect(pointValue('')).toBeNull();
    expect(pointValue(' ')).toBeNull();
    expect(pointValue('abc')).toBeNull();
    expect(pointValue(null)).toBeNull();
    expect(pointValue(undefined)).toBeNull();
  });
});

describe('ranges and requests', () => {
  it('knows the four ranges and which get raw samples', () => {
    expect(rangeMs('1h')).toBe(3_600_000);
    expect(rangeMs('6h')).toBe(21_600_000);
    expect(rangeMs('1d')).toBe(86_400_000);
    expect(rangeMs('7d')).toBe(604_800_000);
    expect([rangeIsRaw('1h'), rangeIsRaw('6h'), rangeIsRaw('1d'), rangeIsRaw('7d')]).toEqual([true, true, false, false]);
  });

  it('asks for one indicator of every member of the cluster over [from, to]', () => {
    const path = metricDataPath('instance.tps', 'abc-1', 1000, 2000);
    expect(path).toBe('/v1.0/{project_id}/dms/metric-data?indicator_name=instance.tps&dim0=abc-1&from=1000&to=2000');
  });
});

describe('refreshMs', () => {
  it("fetches at the charted indicators' fastest collect rate, between 1 s and 15 s", () => {
    const charted = ['instance.tps', 'instance.cpu_usage'];
    expect(refreshMs(null, charted)).toBe(15_000);
    expect(refreshMs([indicator('instance.tps', '60')], charted)).toBe(15_000);
    expect(refreshMs([indicator('instance.tps', '10'), indicator('instance.cpu_usage', '5')], charted)).toBe(5000);
    expect(refreshMs([indicator('instance.tps', '0.2')], charted)).toBe(1000);
    expect(refreshMs([indicator('other', '2'), indicator('instance.tps', 'x')], charted)).toBe(15_000);
  });
});

describe('formatting', () => {
  it('formats values by unit', () => {
    expect(formatValue('percent', 12.345)).toBe('12.3%');
    expect(formatValue('percent', 0.5)).toBe('0.5%');
    expect(formatValue('bytes', 512)).toBe('512 B');
    expect(formatValue('bytes', 1_500_000)).toBe('1.5 MB');
    expect(formatValue('bytes', 2_000_000_000)).toBe('2 GB');
    expect(formatValue('count', 7)).toBe('7');
    expect(formatValue('rate', 3.456)).toBe('3.46/s');
    expect(formatValue('byteRate', 104_857_600)).toBe('104.9 MB/s');
    expect(formatValue('byteRate', null)).toBe('—');
    expect(formatValue('rate', null)).toBe('—');
    expect(formatValue('bytes', Number.NaN)).toBe('—');
  });

  it('tops an axis at a round number at or above the highest value', () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(Number.NaN)).toBe(1);
    expect(niceMax(100)).toBe(100);
    expect(niceMax(101)).toBe(200);
    expect(niceMax(2.2)).toBe(2.5);
    expect(niceMax(0.031)).toBe(0.05);
    expect(niceMax(7e8)).toBe(1e9);
  });

  it('gives a member the same colour on every chart', () => {
    expect(memberColor('node2', 0)).toBe(memberColor('node2', 5));
    expect(memberColor('node1', 0)).not.toBe(memberColor('node2', 0));
    expect(memberColor('primary', 1)).toBe(memberColor('node2', 0));
  });
});

describe('the task throughput', () => {
  it("is a line per task step, named by its action, the task id and the step, in the indicators' shape", () => {
    const series = throughputSeries('c1', [
      {
        task_id: '7824e9cc-aaaa',
        kind: 'snapshot.create',
        action_type: 'Backup',
        step: 'BACKUP',
        step_name: 'Perform a backup',
        data_points: [{ timestamp: 2000, bytes_per_second: 4_000_000 }],
      },
    ]);
    expect(series).toEqual([
      {
        indicator_name: 'task.throughput',
        object_id: 'c1',
        sub_object_id: 'Backup 7824e9cc · Perform a backup',
        unit: 'B/s',
        data_points: [{ timestamp: 2000, result: '4000000' }],
      },
    ]);
    expect(alignSeries(series)).toEqual({ members: ['Backup 7824e9cc · Perform a backup'], empty: [], xs: [2000], ys: [[4_000_000]] });
    expect(throughputPath('c 1', 1, 2)).toBe('/dwsbox/v1/{project_id}/clusters/c%201/task-throughput?from=1&to=2');
  });
});

describe('the time axis', () => {
  const s = (points: [number, string][]): MetricSeries => series('node1', points);
  it("begins at the round's first sample when the history starts within the range, at least a minute wide", () => {
    expect(firstSample([])).toBeNull();
    expect(
      firstSample([
        [s([])],
        [
          s([
            [5000, 'x'],
            [7000, '1'],
          ]),
          s([[6000, '2']]),
        ],
      ]),
    ).toBe(6000);
    const to = 10 * 3_600_000;
    const from = to - 3_600_000;
    expect(shownSpan(from, to, null)).toEqual([from, to]);
    expect(shownSpan(from, to, from - 5)).toEqual([from, to]);
    expect(shownSpan(from, to, to - 600_000)).toEqual([to - 600_000, to]);
    expect(shownSpan(from, to, to - 1000)).toEqual([to - 60_000, to]);
    expect(shownSpan(to - 30_000, to, to - 1000)).toEqual([to - 30_000, to]);
  });
});
