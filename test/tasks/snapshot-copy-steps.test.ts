/**
 * CopySnapshot's snapshot.copy task over the fake data plane of the step test environment:
 * the request's refusals, the steps and their intentions in order, the copy's record (its own
 * stanza, its set's figures), a failure's clean-up (no temporary instance, no copy stanza, the
 * copy UNAVAILABLE), fair shares, the delete guard, and deleting the copy removing its stanza.
 * Milliseconds, no PostgreSQL; test/e2e/restore.test.ts copies a real snapshot.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BackupSetInfo } from '../../src/dataplane/data-plane.js';
import type { ClusterRecord, FineGrainedDetail, SnapshotRecord } from '../../src/domain/records.js';
import { AppError } from '../../src/errors/app-error.js';
import { createStepEnv, type StepEnv } from '../helpers/step-env.js';

let e: StepEnv;
beforeAll(async () => {
  e = await createStepEnv();
});
afterAll(async () => {
  await e?.close();
});
beforeEach(() => {
  e.dataPlane.reset();
});
afterEach(async () => {
  await e.idle();
  expect(e.dataPlane.locksHeld).toBe(0);
});

const LABEL = '20250115-080000F';

/** A cluster with an AVAILABLE cluster-level snapshot whose set is in the cluster's stanza. */
async function sourceSnapshot(o: Partial<SnapshotRecord> = {}): Promise<{ cluster: ClusterRecord; snap: SnapshotRecord }> {
  const { cluster } = await e.addCluster();
  const set = { label: LABEL, type: 'full', prior: null, reference: [], annotation: {}, error: false } as unknown as BackupSetInfo;
  e.dataPlane.stanzas.set(cluster.stanza, [set]);
  const now = e.clock.now();
  const id = `snap-${Math.random().toString(16).slice(2, 10)}`;
  const snap: SnapshotRecord = {
    id,
    projectId: cluster.projectId,
    clusterId: cluster.id,
    clusterName: cluster.name,
    name: id,
    description: '',
    status: 'AVAILABLE',
    type: 'AUTO',
    stanza: cluster.stanza,
    backupLabel: LABEL,
    backupKey: '20250115_080000',
    priorBackupKey: 'FULL',
    backupType: 'full',
    sizeBytes: 4_000_000,
    totalBackupSize: 4_000_000,
    sourceBytes: 40_000_000,
    sourceSpec: {
      nodeType: cluster.nodeType,
      numberOfNode: cluster.numberOfNode,
      userName: cluster.userName,
      port: cluster.port,
      clusterSpec: cluster.spec,
      adminPasswordEnc: cluster.adminPasswordEnc,
      pgVersion: '15',
    },
    schemaInfo: null,
    fineGrained: null,
    taskId: null,
    startedAt: now,
    finishedAt: now,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
    expiredAt: null,
    ...o,
  };
  await e.store.insertSnapshot(snap);
  return { cluster, snap };
}

const copyOf = (snap: SnapshotRecord, name = `copy-${Math.random().toString(16).slice(2, 8)}`) =>
  e.svc.snapshots.copy(snap.projectId, snap.id, { name, description: 'a copy' });

const stepsOf = async (taskId: string): Promise<string[]> => (await e.store.listSteps(taskId)).map((s) => s.stepId);

describe('snapshot.copy', () => {
  it('restores the source into a temporary instance, backs it up into the copy’s own stanza, records the copy and removes the instance', async () => {
    const { cluster, snap } = await sourceSnapshot();
    const { snapshot: copy, task } = await copyOf(snap, 'nightly-copy');
    expect(copy.stanza).toBe(`copy-${copy.id}`);
    expect(copy.status).toBe('CREATING');
    expect(task.snapshotId).toBe(snap.id);
    expect(task.clusterId).toBeNull();
    const done = await e.finished(task.id);
    expect(done.status, done.errorMsg ?? '').toBe('SUCCESS');
    expect(await stepsOf(task.id)).toEqual([
      'CHECK_SOURCE',
      'RESTORE_SOURCE',
      'START_SOURCE',
      'BACKUP_COPY',
      'VERIFY_COPY',
      'RECORD_COPY',
      'REMOVE_SOURCE',
    ]);
    const names = e.dataPlane.names();
    const order = ['restoreCopySource', 'startCopySource', 'backupCopy', 'verifyBackup', 'removeCopySource'];
    expect(order.map((n) => names.indexOf(n))).toEqual([...order.map((n) => names.indexOf(n))].sort((a, b) => a - b));
    expect(e.dataPlane.intentions.find((i) => i.name === 'restoreCopySource')!.args).toEqual([task.id, cluster.stanza, LABEL]);
    expect(e.dataPlane.intentions.find((i) => i.name === 'backupCopy')!.args).toEqual([task.id, copy.stanza]);
    expect(e.dataPlane.copySources.size).toBe(0);
    // The source's stanza is read, never written.
    expect(e.dataPlane.stanzas.get(cluster.stanza)!.map((s) => s.label)).toEqual([LABEL]);
    const rec = (await e.store.getSnapshotById(copy.id))!;
    expect(rec).toMatchObject({
      status: 'AVAILABLE',
      type: 'MANUAL',
      name: 'nightly-copy',
      description: 'a copy',
      stanza: copy.stanza,
      backupLabel: '20250116-090000F',
      backupType: 'full',
      priorBackupKey: 'FULL',
      sizeBytes: 6_000_000,
      totalBackupSize: 6_000_000,
      sourceBytes: 50_000_000,
      clusterId: cluster.id,
    });
    expect(rec.sourceSpec.copyOf).toBe(snap.id);
  });

  it('refuses a schema- or table-level snapshot, one not AVAILABLE, and a duplicate name, writing nothing', async () => {
    const { snap: logical } = await sourceSnapshot({
      backupLabel: null,
      fineGrained: {
        level: 'table',
        database: 'shop',
        schemas: [],
        tables: ['public.items'],
        dumpDir: '/x',
      } as unknown as FineGrainedDetail,
    });
    await expect(copyOf(logical)).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_COPYABLE', message: /table-level snapshot/ });
    const { snap: failed } = await sourceSnapshot({ status: 'UNAVAILABLE' });
    await expect(copyOf(failed)).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_COPYABLE', message: /UNAVAILABLE/ });
    const { snap } = await sourceSnapshot();
    await expect(copyOf(snap, snap.name)).rejects.toMatchObject({ code: 'SNAPSHOT_NAME_EXISTS' });
    await expect(e.svc.snapshots.copy(snap.projectId, 'no-such-snapshot', { name: 'copy-none', description: '' })).rejects.toMatchObject({
      code: 'SNAPSHOT_NOT_FOUND',
    });
    expect(e.dataPlane.names().filter((n) => n !== 'stanzaExists')).toEqual([]);
  });

  it('a failed backup removes the temporary instance and the copy’s stanza, and leaves the copy UNAVAILABLE with a message', async () => {
    const { cluster, snap } = await sourceSnapshot();
    e.dataPlane.script('backupCopy', ...[1, 2, 3].map(() => ({ fail: new AppError('DISK_FULL', { args: ['the repository filled up'] }) })));
    const { snapshot: copy, task } = await copyOf(snap);
    const done = await e.finished(task.id);
    expect(done.status).toBe('FAILED');
    expect(done.errorMsg).toMatch(/filled up/);
    expect(await stepsOf(task.id)).toContain('DISCARD_COPY');
    expect(e.dataPlane.copySources.size).toBe(0);
    expect(e.dataPlane.stanzas.has(copy.stanza)).toBe(false);
    expect(e.dataPlane.stanzas.get(cluster.stanza)!.map((s) => s.label)).toEqual([LABEL]);
    expect((await e.store.getSnapshotById(copy.id))!.status).toBe('UNAVAILABLE');
  });

  it('deleting the copy removes its stanza (and no other); the source deleted first leaves the copy whole', async () => {
    const { cluster, snap } = await sourceSnapshot();
    const { snapshot: copy, task } = await copyOf(snap);
    expect((await e.finished(task.id)).status).toBe('SUCCESS');
    const expireSource = await e.svc.snapshots.delete(snap.projectId, snap.id);
    expect((await e.finished(expireSource.id)).status).toBe('SUCCESS');
    expect(e.dataPlane.stanzas.get(copy.stanza)).toHaveLength(1);
    expect((await e.store.getSnapshotById(copy.id))!.status).toBe('AVAILABLE');
    e.dataPlane.reset();
    const expireCopy = await e.svc.snapshots.delete(copy.projectId, copy.id);
    expect((await e.finished(expireCopy.id)).status).toBe('SUCCESS');
    expect(e.dataPlane.intentions.filter((i) => i.name === 'removeLoneStanza').map((i) => i.args)).toEqual([[copy.stanza]]);
    expect(e.dataPlane.stanzas.has(copy.stanza)).toBe(false);
    expect(e.dataPlane.stanzas.has(cluster.stanza)).toBe(true);
    expect((await e.store.getSnapshotById(copy.id))!.expiredAt).not.toBeNull();
  });
});

describe('snapshot.copy while it runs', () => {
  let h: StepEnv;
  beforeAll(async () => {
    h = await createStepEnv({ settings: { stepTimeoutMs: 1500 } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('neither the source nor the copy can be deleted; a step that never ends fails the task, which removes what it made', async () => {
    const prev = e;
    e = h;
    try {
      const { cluster, snap } = await sourceSnapshot();
      e.dataPlane.script('backupCopy', ...[1, 2, 3].map(() => ({ hang: true as const })));
      const { snapshot: copy, task } = await copyOf(snap);
      await e.waitForTask(task.id, () => e.dataPlane.intentions.some((i) => i.name === 'backupCopy'), 'the backup under way');
      await expect(e.svc.snapshots.delete(snap.projectId, snap.id)).rejects.toMatchObject({ code: 'CLUSTER_STATE_CONFLICT' });
      await expect(e.svc.snapshots.delete(snap.projectId, copy.id)).rejects.toMatchObject({ code: 'CLUSTER_STATE_CONFLICT' });
      const done = await e.finished(task.id);
      expect(done.status).toBe('FAILED');
      expect(e.dataPlane.copySources.size).toBe(0);
      expect(e.dataPlane.stanzas.has(copy.stanza)).toBe(false);
      expect(e.dataPlane.stanzas.get(cluster.stanza)!.map((s) => s.label)).toEqual([LABEL]);
      expect((await e.store.getSnapshotById(copy.id))!.status).toBe('UNAVAILABLE');
      await e.idle();
    } finally {
      e = prev;
    }
  });
});
