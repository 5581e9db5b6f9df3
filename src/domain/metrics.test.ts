import { describe, expect, it } from 'vitest';
import { bucketize, findIndicator, indicatorValue, resolutionFor, sampleOf, type MemberReading } from './metrics.js';

const who = { clusterId: 'c', projectId: 'p', ordinal: 1, atSeconds: 100 };

function reading(o: Partial<MemberReading> = {}): MemberReading {
  return {
    atMs: 0,
    primary: true,
    cpuTicks: { user: 0, sys: 0 },
    ticksPerSecond: 100,
    memBytes: 1000,
    io: new Map([[10, { read: 0, write: 0 }]]),
    dataBytes: 5000,
    fsAvailBytes: 9000,
    connections: 3,
    maxConnections: 20,
    xacts: 0,
    rollbacks: 0,
    tuplesRead: 0,
    tuplesWritten: 0,
    walPosition: 0,
    walBytes: 0,
    archived: 0,
    archiveFailed: 0,
    checkpoints: 0,
    replayDelaySeconds: null,
    longestQuerySeconds: 0,
    serverStartMs: 1,
    ...o,
  };
}

describe('sampleOf', () => {
  it('a first reading has gauges but no rates', () => {
    const s = sampleOf(who, reading(), null, null);
    expect(s.memBytes).toBe(1000);
    expect(s.connections).toBe(3);
    expect(s.tps).toBeNull();
    expect(s.cpuPercent).toBeNull();
    expect(s.lagBytes).toBeNull();
  });

  it('rates from two readings: per second, CPU in percent of one core, I/O of processes gone and new', () => {
    const before = reading({
      xacts: 100,
      cpuTicks: { user: 50, sys: 10 },
      walBytes: 1000,
      io: new Map([
        [10, { read: 100, write: 100 }],
        [11, { read: 5, write: 5 }],
      ]),
      checkpoints: 1,
    });
    const now = reading({
      atMs: 2000,
      xacts: 300,
      cpuTicks: { user: 150, sys: 30 },
      walBytes: 5000,
      io: new Map([
        [10, { read: 300, write: 100 }],
        [12, { read: 40, write: 60 }],
      ]),
      checkpoints: 2,
    });
    const s = sampleOf(who, now, before, null);
    expect(s.tps).toBe(100);
    expect(s.cpuUserPercent).toBe(50); // 100 ticks in 2 s at 100 Hz: half a core
    expect(s.cpuSysPercent).toBe(10);
    expect(s.cpuPercent).toBe(60);
    expect(s.walRate).toBe(2000);
    expect(s.diskReadRate).toBe((200 + 40) / 2);
    expect(s.diskWriteRate).toBe(60 / 2);
    expect(s.checkpointRate).toBe(30);
  });

  it('no rates across a server restart (its counters began again) or a counter going back', () => {
    const s = sampleOf(who, reading({ atMs: 1000, xacts: 5, serverStartMs: 2 }), reading({ xacts: 100 }), null);
    expect(s.tps).toBeNull();
    const t = sampleOf(who, reading({ atMs: 1000, xacts: 5 }), reading({ xacts: 100 }), null);
    expect(t.tps).toBeNull();
  });

  it("a standby's lag against its primary's position; no WAL rate on a standby, no lag on a primary", () => {
    const s = sampleOf(
      who,
      reading({ primary: false, walPosition: 700, replayDelaySeconds: 1.5, atMs: 1000 }),
      reading({ primary: false }),
      1000,
    );
    expect(s.lagBytes).toBe(300);
    expect(s.lagSeconds).toBe(1.5);
    expect(s.walRate).toBeNull();
    expect(sampleOf(who, reading({ walPosition: 2000 }), null, 1000).lagBytes).toBeNull();
    // a standby ahead of the position read a moment earlier on the primary: no negative lag
    expect(sampleOf(who, reading({ primary: false, walPosition: 1200 }), null, 1000).lagBytes).toBe(0);
  });
});

describe('indicators and ranges', () => {
  it('derives percentages from the node type and max_connections', () => {
    const s = sampleOf(who, reading({ memBytes: 50, connections: 5, maxConnections: 20, dataBytes: 25 }), null, null);
    const ctx = { nodeTypeMemoryBytes: 200, nodeTypeDiskBytes: 100 };
    expect(indicatorValue(findIndicator('instance.mem_usage')!, s, ctx)).toBe(25);
    expect(indicatorValue(findIndicator('instance.connection_usage')!, s, ctx)).toBe(25);
    expect(indicatorValue(findIndicator('instance.disk_usage')!, s, ctx)).toBe(25);
    expect(indicatorValue(findIndicator('instance.tps')!, s, ctx)).toBeNull();
  });

  it('buckets points by period with avg, max or min; a bucket with nothing measured has no point', () => {
    const pts = [
      { at: 0, value: 1 },
      { at: 10, value: 3 },
      { at: 20, value: null },
      { at: 60, value: 5 },
      { at: 125, value: null },
    ];
    expect(bucketize(pts, 60, 'avg')).toEqual([
      { at: 0, value: 2 },
      { at: 60, value: 5 },
    ]);
    expect(bucketize(pts, 60, 'max').map((p) => p.value)).toEqual([3, 5]);
    expect(bucketize(pts, 60, 'min').map((p) => p.value)).toEqual([1, 5]);
  });

  it('raw samples for up to 6 hours within their retention, the averages otherwise', () => {
    const now = 100 * 86_400;
    expect(resolutionFor(now - 3600, now, now, 86_400)).toBe(0);
    expect(resolutionFor(now - 7 * 3600, now, now, 86_400)).toBe(300);
    expect(resolutionFor(now - 2 * 86_400, now - 2 * 86_400 + 60, now, 86_400)).toBe(300);
  });
});
