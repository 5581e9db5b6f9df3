/**
 * The metrics history (D29) on both backends: samples kept one per member and second, read by
 * cluster, member and range; 5-minute averages made window by window (gaps skipped, a window
 * made once, only once it has ended); retention removing the oldest rows a chunk at a time; the
 * newest sample of each member; the collector's lease, held by one process at a time; and
 * alarms, one uncleared per member and rule whichever process raises it.
 */
import { describe, expect, it } from 'vitest';
import { METRIC_FIELDS, type MetricSample } from '../../src/domain/metrics.js';
import type { AlarmRecord } from '../../src/domain/alarms.js';
import { STORE_BACKENDS, useStore } from '../helpers/store-backends.js';

const W = 300;
const BASE = 1_800_000_000 - (1_800_000_000 % W); // a window boundary

function sample(o: Partial<MetricSample> & { at: number }): MetricSample {
  const s = { clusterId: 'c1', projectId: 'p1', ordinal: 1, samples: 1, primary: true, ...o } as MetricSample;
  for (const f of METRIC_FIELDS) if (!(f in o)) s[f] = null;
  return s;
}

for (const backend of STORE_BACKENDS)
  describe(`${backend}: metrics history`, () => {
    const h = useStore(backend);

    it('keeps one sample per member and second, and reads a range of one member or all, oldest first', async () => {
      const s = h.store;
      await s.insertMetricSamples([
        sample({ at: BASE + 10, tps: 5, cpuPercent: 12.5 }),
        sample({ at: BASE + 10, ordinal: 2, primary: false, lagBytes: 100 }),
        sample({ at: BASE + 20, tps: 7 }),
        sample({ at: BASE + 10, clusterId: 'c2', tps: 99 }),
      ]);
      // the same member and second again: kept as it was
      await s.insertMetricSamples([sample({ at: BASE + 10, tps: 1000 })]);
      const all = await s.listMetricSamples({ clusterId: 'c1', resolution: 0, fromS: BASE, toS: BASE + 30 });
      expect(all.map((x) => [x.ordinal, x.at, x.tps])).toEqual([
        [1, BASE + 10, 5],
        [1, BASE + 20, 7],
        [2, BASE + 10, null],
      ]);
      expect(all[0]).toEqual(sample({ at: BASE + 10, tps: 5, cpuPercent: 12.5 }));
      expect(all[2]!.lagBytes).toBe(100);
      expect(all[2]!.primary).toBe(false);
      const one = await s.listMetricSamples({ clusterId: 'c1', resolution: 0, fromS: BASE + 11, toS: BASE + 30, ordinal: 1 });
      expect(one.map((x) => x.at)).toEqual([BASE + 20]);
      const latest = await s.latestMetricSamples('c1', BASE);
      expect(latest.map((x) => [x.ordinal, x.at])).toEqual([
        [1, BASE + 20],
        [2, BASE + 10],
      ]);
      expect(await s.latestMetricSamples('c1', BASE + 21)).toEqual([]);
    });

    it('averages each ended 5-minute window once, skipping windows without samples, a few windows a call', async () => {
      const s = h.store;
      await s.insertMetricSamples([
        sample({ at: BASE + 15, tps: 2, memBytes: 100 }),
        sample({ at: BASE + 30, tps: 4, memBytes: null }),
        sample({ at: BASE + 30, ordinal: 2, tps: 10 }),
        // nothing in the next two windows
        sample({ at: BASE + 3 * W + 1, tps: 6 }),
        sample({ at: BASE + 4 * W + 1, tps: 8 }),
      ]);
      // the first window has not ended before BASE + W - 1
      expect(await s.rollUpMetrics(BASE + W - 1, 10)).toBe(0);
      // one window a call
      expect(await s.rollUpMetrics(BASE + 10 * W, 1)).toBe(1);
      let rolled = await s.listMetricSamples({ clusterId: 'c1', resolution: W, fromS: BASE, toS: BASE + 10 * W });
      expect(rolled.map((x) => [x.ordinal, x.at, x.samples, x.tps, x.memBytes])).toEqual([
        [1, BASE, 2, 3, 100], // avg of what was measured: a null is not a zero
        [2, BASE, 1, 10, null],
      ]);
      // the rest: the gap skipped; the last window has not ended before BASE + 5W - 1
      expect(await s.rollUpMetrics(BASE + 5 * W - 1, 10)).toBe(1);
      expect(await s.rollUpMetrics(BASE + 5 * W - 1, 10)).toBe(0);
      rolled = await s.listMetricSamples({ clusterId: 'c1', resolution: W, fromS: BASE, toS: BASE + 10 * W, ordinal: 1 });
      expect(rolled.map((x) => [x.at, x.tps])).toEqual([
        [BASE, 3],
        [BASE + 3 * W, 6],
      ]);
      expect(await s.rollUpMetrics(BASE + 5 * W, 10)).toBe(1);
    });

    it('removes rows older than the retention, the oldest chunk first, one resolution at a time', async () => {
      const s = h.store;
      const rows = Array.from({ length: 10 }, (_, i) => sample({ at: BASE + i * 1000, tps: i }));
      await s.insertMetricSamples(rows);
      await s.rollUpMetrics(BASE + 20_000, 100);
      const rollups = await s.listMetricSamples({ clusterId: 'c1', resolution: W, fromS: 0, toS: BASE + 20_000 });
      expect(rollups).toHaveLength(10);
      // chunks of 2,500 s: the rows at BASE, +1000 and +2000
      expect(await s.pruneMetricSamples(0, BASE + 5500, 2500)).toBe(3);
      expect(await s.pruneMetricSamples(0, BASE + 5500, 2500)).toBe(3);
      expect(await s.pruneMetricSamples(0, BASE + 5500, 2500)).toBe(0);
      const left = await s.listMetricSamples({ clusterId: 'c1', resolution: 0, fromS: 0, toS: BASE + 20_000 });
      expect(left.map((x) => x.tps)).toEqual([6, 7, 8, 9]);
      // the averages are another resolution, kept
      expect(await s.listMetricSamples({ clusterId: 'c1', resolution: W, fromS: 0, toS: BASE + 20_000 })).toHaveLength(10);
    });

    it('the collector lease: one owner at a time, renewed by it, taken over once expired or released', async () => {
      const a = h.store;
      const b = h.open();
      expect(await a.takeServiceLease('metrics-collector', 'A', 1000, 2000)).toBe(true);
      expect(await b.takeServiceLease('metrics-collector', 'B', 1500, 2500)).toBe(false);
      expect(await a.takeServiceLease('metrics-collector', 'A', 1900, 2900)).toBe(true);
      expect(await b.takeServiceLease('metrics-collector', 'B', 2800, 3800)).toBe(false);
      expect(await b.takeServiceLease('metrics-collector', 'B', 2901, 3901)).toBe(true);
      expect(await a.takeServiceLease('metrics-collector', 'A', 3000, 4000)).toBe(false);
      await a.releaseServiceLease('metrics-collector', 'A'); // not its: nothing
      expect(await a.takeServiceLease('metrics-collector', 'A', 3000, 4000)).toBe(false);
      await b.releaseServiceLease('metrics-collector', 'B');
      expect(await a.takeServiceLease('metrics-collector', 'A', 3000, 4000)).toBe(true);
    });

    it('alarms: one uncleared per member and rule, even raised by two processes at once; cleared once; listed by time', async () => {
      const a = h.store;
      const b = h.open();
      const alarm = (o: Partial<AlarmRecord>): AlarmRecord => ({
        id: `a-${Math.random()}`,
        projectId: 'p1',
        clusterId: 'c1',
        ordinal: 1,
        ruleId: 'dwsbox.disk_usage',
        level: 'important',
        message: 'm',
        raisedAt: 1000,
        clearedAt: null,
        ...o,
      });
      const first = alarm({ id: 'first' });
      const both = await Promise.all([a.raiseAlarm(first), b.raiseAlarm(alarm({ id: 'second' }))]);
      expect(both.filter(Boolean)).toHaveLength(1);
      // another member or another rule: its own alarm
      expect(await a.raiseAlarm(alarm({ id: 'n2', ordinal: 2, raisedAt: 1100 }))).toBe(true);
      expect(await a.raiseAlarm(alarm({ id: 'cpu', ruleId: 'dwsbox.cpu_usage', raisedAt: 1200 }))).toBe(true);
      const active = await a.activeAlarms();
      expect(active).toHaveLength(3);
      const winner = active.find((x) => x.ordinal === 1 && x.ruleId === 'dwsbox.disk_usage')!;
      expect(await b.clearAlarm(winner.id, 2000)).toBe(true);
      expect(await a.clearAlarm(winner.id, 2001)).toBe(false);
      // cleared: the rule may be raised again for the member
      expect(await a.raiseAlarm(alarm({ id: 'again', raisedAt: 3000 }))).toBe(true);
      const page = await a.listAlarms({ projectId: 'p1', from: 1000, to: 3000, limit: 2, offset: 0 });
      expect(page.count).toBe(3);
      expect(page.alarms.map((x) => x.raisedAt)).toEqual([1200, 1100]);
      const all = await a.listAlarms({ projectId: 'p1', from: 0, to: 5000, limit: 10, offset: 0 });
      expect(all.alarms.find((x) => x.id === winner.id)!.clearedAt).toBe(2000);
      expect(all.count).toBe(4);
      expect((await a.listAlarms({ projectId: 'p2', from: 0, to: 5000, limit: 10, offset: 0 })).count).toBe(0);
    });
  });
