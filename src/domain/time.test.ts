import { afterEach, describe, expect, it } from 'vitest';
import { actionTime, backupKeyTime, clusterTime, jobTime, progressTime, snapshotTime } from './time.js';

// 2024-04-16 09:05:03.789 UTC: every field has a leading zero to lose and a fraction to cut.
const AT = Date.UTC(2024, 3, 16, 9, 5, 3, 789);

describe('D11 time formats (all UTC)', () => {
  const savedTz = process.env['TZ'];
  afterEach(() => {
    if (savedTz === undefined) delete process.env['TZ'];
    else process.env['TZ'] = savedTz;
  });

  it('cluster created/updated: YYYY-MM-DDTHH:MM:SSZ', () => {
    expect(clusterTime(AT)).toBe('2024-04-16T09:05:03Z');
  });

  it('snapshot started/finished: YYYY-MM-DDTHH:MM:SS, no zone', () => {
    expect(snapshotTime(AT)).toBe('2024-04-16T09:05:03');
  });

  it('actions submit/begin/end: YYYY-MM-DD HH:MM:SS.d, one truncated fractional digit', () => {
    expect(actionTime(AT)).toBe('2024-04-16 09:05:03.7');
    expect(actionTime(Date.UTC(2024, 0, 1, 0, 0, 0, 0))).toBe('2024-01-01 00:00:00.0');
    // 999 ms is still .9 of this second, never rounded up into the next one
    expect(actionTime(Date.UTC(2024, 11, 31, 23, 59, 59, 999))).toBe('2024-12-31 23:59:59.9');
  });

  it('progressInfo times: YYYY-MM-DD HH:MM:SS', () => {
    expect(progressTime(AT)).toBe('2024-04-16 09:05:03');
  });

  it('job and resize_info times: YYYY-MM-DDTHH:MM:SS', () => {
    expect(jobTime(AT)).toBe('2024-04-16T09:05:03');
  });

  it('backup keys: yyyyMMdd_HHmmss', () => {
    expect(backupKeyTime(AT)).toBe('20240416_090503');
  });

  it('does not depend on the local time zone', () => {
    process.env['TZ'] = 'Asia/Shanghai';
    // sanity: the zone change is visible to Date, so the assertions below can fail
    expect(new Date(AT).getHours()).toBe(17);
    expect(clusterTime(AT)).toBe('2024-04-16T09:05:03Z');
    expect(actionTime(AT)).toBe('2024-04-16 09:05:03.7');
    expect(progressTime(AT)).toBe('2024-04-16 09:05:03');
    expect(backupKeyTime(Date.UTC(2024, 3, 16, 23, 30, 0))).toBe('20240416_233000');
  });

  it('the epoch itself', () => {
    expect(clusterTime(0)).toBe('1970-01-01T00:00:00Z');
    expect(snapshotTime(0)).toBe('1970-01-01T00:00:00');
  });
});
