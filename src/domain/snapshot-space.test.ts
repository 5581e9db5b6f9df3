import { describe, expect, it } from 'vitest';
import type { SnapshotRecord } from './records.js';
import {
  chainFigures,
  DIFF_FRACTION,
  estimateBackupBytes,
  BYTES_PER_MB,
  predictBackupType,
  quotaRefusal,
  spaceRefusal,
} from './snapshot-space.js';

let n = 0;
function snap(o: Partial<SnapshotRecord>): SnapshotRecord {
  n++;
  return {
    id: `s${n}`,
    projectId: 'p',
    clusterId: 'c',
    clusterName: 'c',
    name: `s${n}`,
    description: '',
    status: 'AVAILABLE',
    type: 'MANUAL',
    stanza: 'st',
    backupLabel: `l${n}`,
    backupKey: null,
    priorBackupKey: null,
    backupType: 'full',
    sizeBytes: 10 * BYTES_PER_MB,
    totalBackupSize: null,
    sourceBytes: 100 * BYTES_PER_MB,
    sourceSpec: {} as SnapshotRecord['sourceSpec'],
    schemaInfo: null,
    fineGrained: null,
    taskId: null,
    startedAt: n,
    finishedAt: n,
    createdAt: n,
    updatedAt: n,
    deletedAt: null,
    expiredAt: null,
    ...o,
  };
}

describe("predictBackupType (D2 from the store's records)", () => {
  it('full with no full yet, when forced, and every fullEvery snapshots; else a differential', () => {
    expect(predictBackupType([], 7, false)).toBe('full');
    const full = snap({ backupType: 'full' });
    expect(predictBackupType([full], 7, false)).toBe('diff');
    expect(predictBackupType([full], 7, true)).toBe('full');
    const diffs = Array.from({ length: 5 }, () => snap({ backupType: 'diff', sizeBytes: BYTES_PER_MB }));
    expect(predictBackupType([full, ...diffs], 7, false)).toBe('diff');
    expect(predictBackupType([full, ...diffs, snap({ backupType: 'diff', sizeBytes: BYTES_PER_MB })], 7, false)).toBe('full');
  });

  it("full when the last differential passed half the full's database", () => {
    const full = snap({ backupType: 'full', sourceBytes: 100 * BYTES_PER_MB });
    expect(predictBackupType([full, snap({ backupType: 'diff', sizeBytes: 51 * BYTES_PER_MB })], 7, false)).toBe('full');
    expect(predictBackupType([full, snap({ backupType: 'diff', sizeBytes: 49 * BYTES_PER_MB })], 7, false)).toBe('diff');
  });

  it('ignores dumps and snapshots that are not AVAILABLE', () => {
    const failed = snap({ backupType: 'full', status: 'UNAVAILABLE' });
    const dump = snap({
      backupType: null,
      fineGrained: { level: 'table', database: 'd', schemas: [], tables: ['a.b'], dumpDir: null, outsideForeignKeys: [] },
    });
    expect(predictBackupType([failed, dump], 7, false)).toBe('full');
  });
});

describe('estimateBackupBytes', () => {
  it('a full: the database; a differential: the last differential, at least a tenth of the database; a dump: what it dumps', () => {
    expect(estimateBackupBytes('full', { databaseBytes: 500 })).toBe(500);
    expect(estimateBackupBytes('full', { databaseBytes: null, lastFullSourceBytes: 300 })).toBe(300);
    expect(estimateBackupBytes('full', { databaseBytes: null })).toBe(0);
    expect(estimateBackupBytes('diff', { databaseBytes: 1000, lastDiffBytes: 40 })).toBe(1000 * DIFF_FRACTION);
    expect(estimateBackupBytes('diff', { databaseBytes: 1000, lastDiffBytes: 400 })).toBe(400);
    expect(estimateBackupBytes('dump', { databaseBytes: 123 })).toBe(123);
  });

  it("chainFigures: the last differential's size and the last full's database size", () => {
    const a = snap({ backupType: 'full', sourceBytes: 7 });
    const b = snap({ backupType: 'diff', sizeBytes: 3 });
    const c = snap({ backupType: 'diff', sizeBytes: 5 });
    expect(chainFigures([c, a, b])).toEqual({ lastDiffBytes: 5, lastFullSourceBytes: 7 });
    expect(chainFigures([])).toEqual({ lastDiffBytes: null, lastFullSourceBytes: null });
  });
});

describe('refusals', () => {
  it('spaceRefusal: less free than the estimate plus the margin is INSUFFICIENT_SNAPSHOT_SPACE, naming the figures', () => {
    expect(
      spaceRefusal({
        kind: 'full',
        needBytes: 100 * BYTES_PER_MB,
        freeBytes: 200 * BYTES_PER_MB,
        marginBytes: 100 * BYTES_PER_MB,
        where: 'the backup repository',
      }),
    ).toBeNull();
    const e = spaceRefusal({
      kind: 'full',
      needBytes: 100 * BYTES_PER_MB,
      freeBytes: 200 * BYTES_PER_MB - 1,
      marginBytes: 100 * BYTES_PER_MB,
      where: 'the backup repository',
    })!;
    expect([e.code, e.httpStatus, e.wireCode]).toEqual(['INSUFFICIENT_SNAPSHOT_SPACE', 400, 'DWS.9962']);
    // The host's free space is not the tenant's to know: only its need and the service's margin.
    expect(e.message).toBe(
      'Not enough free space for the snapshot: a full backup needs about 100 MB, more than the backup repository has free now beyond the 100 MB the service keeps free (setting snapshotSpaceMarginMb). Delete snapshots, or ask the operator to free space',
    );
    expect(spaceRefusal({ kind: 'dump', needBytes: 1, freeBytes: 0, marginBytes: 0, where: 'x' })!.message).toMatch(
      /the dump needs about 1 MB/,
    );
  });

  it('quotaRefusal: the count quota, then the bytes quota, is SNAPSHOT_QUOTA_EXCEEDED', () => {
    expect(
      quotaRefusal({
        count: 9,
        countQuota: 10,
        usedBytes: 50 * BYTES_PER_MB,
        needBytes: 50 * BYTES_PER_MB,
        bytesQuota: 100 * BYTES_PER_MB,
      }),
    ).toBeNull();
    const count = quotaRefusal({ count: 10, countQuota: 10, usedBytes: 0, needBytes: 0, bytesQuota: 100 * BYTES_PER_MB })!;
    expect([count.code, count.wireCode]).toEqual(['SNAPSHOT_QUOTA_EXCEEDED', 'DWS.9961']);
    expect(count.message).toMatch(/the project has 10 snapshots, its quota is 10 \(setting projectSnapshotQuota\)/);
    const bytes = quotaRefusal({
      count: 0,
      countQuota: 10,
      usedBytes: 50 * BYTES_PER_MB,
      needBytes: 50 * BYTES_PER_MB + 1,
      bytesQuota: 100 * BYTES_PER_MB,
    })!;
    expect(bytes.message).toMatch(
      /take 50 MB of its 100 MB repository quota \(setting projectRepoQuotaMb\) and this one needs about 51 MB more/,
    );
  });
});
