/**
 * The logical task definitions (table restores both ways, schema- and table-level snapshots)
 * over the fake data plane of the step test environment: which intentions their steps ask for,
 * in which order, what they record (state, checkpoints, samples, the snapshot), and what their
 * undo drops. Milliseconds, no PostgreSQL; test/e2e/table-restore.test.ts and
 * logical-snapshot.test.ts run the same definitions on real clusters.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ClusterRecord, FineGrainedDetail, SnapshotRecord } from '../../src/domain/records.js';
import { AppError } from '../../src/errors/app-error.js';
import type { TableRestoreParams } from '../../src/tasks/definitions/table-restore.js';
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

const DB = 'shop';

/** A cluster whose primary runs. */
async function liveCluster(): Promise<ClusterRecord> {
  const { cluster } = await e.addCluster();
  e.dataPlane.running.set(`${cluster.id}/1`, { pid: 4242, startTime: 1 });
  return cluster;
}

async function addSnapshot(cluster: ClusterRecord, o: Partial<SnapshotRecord>): Promise<SnapshotRecord> {
  const now = e.clock.now();
  const id = `snap-${Math.random().toString(16).slice(2, 10)}`;
  const s: SnapshotRecord = {
    id,
    projectId: cluster.projectId,
    clusterId: cluster.id,
    clusterName: cluster.name,
    name: id,
    description: '',
    status: 'AVAILABLE',
    type: 'MANUAL',
    stanza: cluster.stanza,
    backupLabel: null,
    backupKey: null,
    priorBackupKey: null,
    backupType: null,
    sizeBytes: null,
    totalBackupSize: null,
    sourceBytes: 1_000_000,
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
    startedAt: null,
    finishedAt: null,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
    expiredAt: null,
    ...o,
  };
  await e.store.insertSnapshot(s);
  return s;
}

const restoreParams = (cluster: ClusterRecord, snap: SnapshotRecord, targets: [string, string][], via = false): TableRestoreParams => ({
  clusterId: cluster.id,
  snapshotId: snap.id,
  sourceClusterId: cluster.id,
  database: DB,
  tables: targets.map(([schema, name]) => ({ source: { schema: 'public', name: 'order_items' }, target: { schema, name } })),
  ...(via ? { viaScratchDatabase: true } : {}),
});

const stepsOf = async (taskId: string): Promise<string[]> => (await e.store.listSteps(taskId)).map((s) => s.stepId);

describe('snapshot.table_restore through a temporary copy', () => {
  it('restores and starts the copy, renames and exports there, imports into the cluster after recording the transaction counter, counts, removes the copy', async () => {
    const cluster = await liveCluster();
    const snap = await addSnapshot(cluster, { backupLabel: '20250115-080000F', backupKey: '20250115_080000' });
    e.dataPlane.missingSchemas.add(`${cluster.id}/${DB}/restored`);
    e.dataPlane.script('importTables', {
      progress: [
        {
          source: 'pg_restore --verbose',
          bytesDone: 10,
          bytesTotal: 65536,
          percent: 40,
          data: { tableIndex: 0, rowsDone: 400, copyBytes: 9000, table: 'restored.items' },
        },
      ],
    });
    const task = await e.enqueue(
      'snapshot.table_restore',
      { ...restoreParams(cluster, snap, [['restored', 'items']]) },
      { cluster, snapshotId: snap.id },
    );
    const done = await e.finished(task.id);
    expect(done.status, done.errorMsg ?? '').toBe('SUCCESS');

    expect(await stepsOf(task.id)).toEqual(['RESTORE_TEMP', 'START_TEMP', 'EXPORT_TABLES', 'IMPORT_TABLES', 'VERIFY_ROWS', 'REMOVE_TEMP']);
    const names = e.dataPlane.names();
    const order = [
      'restoreTemporaryCopy',
      'startTemporaryCopy',
      'prepareExport',
      'exportTables',
      'planTableImport',
      'createSchema',
      'transactionCounter',
      'importTables',
      'countTables',
      'removeTableRestoreWork',
    ];
    expect(order.map((n) => names.indexOf(n))).toEqual([...order.map((n) => names.indexOf(n))].sort((a, b) => a - b));
    expect(e.dataPlane.intentions.find((i) => i.name === 'restoreTemporaryCopy')!.args).toEqual([
      task.id,
      cluster.stanza,
      '20250115-080000F',
      DB,
    ]);
    expect(e.dataPlane.intentions.find((i) => i.name === 'prepareExport')!.args).toEqual([task.id, 'temporary-copy', DB]);
    // No scratch database on this path, and nothing dropped.
    expect(names.filter((n) => /Scratch|dropImported/.test(n))).toEqual([]);

    // The import's checkpoint (the transaction counter) was recorded before it ran; the state says what it made.
    expect((await e.store.getStep(task.id, 'IMPORT_TABLES'))!.checkpoint).toEqual({ started: true, xidBefore: '1000' });
    const state = (await e.store.getTask(task.id))!.state as Record<string, unknown>;
    expect(state['createdSchemas']).toEqual(['restored']);
    expect(state['imported']).toEqual([{ target: { schema: 'restored', name: 'items' }, oid: expect.any(Number) }]);
    // The intention's samples reach the step with its figures; the final one is last.
    const samples = await e.store.listSamples(task.id, 'IMPORT_TABLES');
    expect(samples.map((s) => [s.source, s.percent])).toEqual([
      ['pg_restore --verbose', 40],
      ['pg_total_relation_size', 100],
    ]);
    expect(samples[0]!.data).toEqual({ rowsDone: 400, copyBytes: 9000, table: 'restored.items' });
    expect((await e.store.getStep(task.id, 'IMPORT_TABLES'))!.progressInfo).toMatchObject({
      tablesDone: 1,
      tablesTotal: 1,
      droppedForeignKeys: 'none',
      rows: 1000,
    });
  });

  it('a target that exists by the time of the import is refused (DWS.9910), and the undo removes the copy and drops nothing', async () => {
    const cluster = await liveCluster();
    const snap = await addSnapshot(cluster, { backupLabel: '20250115-080000F' });
    e.dataPlane.tables.set(`${cluster.id}/${DB}/public.late`, 777);
    const task = await e.enqueue(
      'snapshot.table_restore',
      { ...restoreParams(cluster, snap, [['public', 'late']]) },
      { cluster, snapshotId: snap.id },
    );
    const done = await e.finished(task.id);
    expect(done).toMatchObject({ status: 'FAILED', failedStep: 'IMPORT_TABLES', errorCode: 'DWS.9910' });
    expect(done.errorMsg).toMatch(/public\.late/);
    expect(e.dataPlane.names()).not.toContain('importTables');
    const undo = e.dataPlane.names().slice(e.dataPlane.names().lastIndexOf('relations') + 1);
    expect(undo).toEqual(['removeTableRestoreWork']);
    expect(e.dataPlane.tables.get(`${cluster.id}/${DB}/public.late`)).toBe(777);
  });

  it('a failed verification: the undo drops only the table this task imported (by its OID) and the schema it created', async () => {
    const cluster = await liveCluster();
    const snap = await addSnapshot(cluster, { backupLabel: '20250115-080000F' });
    e.dataPlane.missingSchemas.add(`${cluster.id}/${DB}/scratch`);
    e.dataPlane.script('countTables', {
      fail: new AppError('VERIFY_FAILED', { args: ['scratch.items_fail has 3 rows, the snapshot 1000'] }),
    });
    const task = await e.enqueue(
      'snapshot.table_restore',
      { ...restoreParams(cluster, snap, [['scratch', 'items_fail']]) },
      { cluster, snapshotId: snap.id },
    );
    const done = await e.finished(task.id);
    expect(done).toMatchObject({ status: 'FAILED', failedStep: 'VERIFY_ROWS' });
    const drop = e.dataPlane.intentions.find((i) => i.name === 'dropImportedTables')!;
    expect(drop.args).toEqual([cluster.id, DB, ['scratch.items_fail'], ['scratch']]);
    expect(e.dataPlane.tables.has(`${cluster.id}/${DB}/scratch.items_fail`)).toBe(false);
    expect((await e.store.getStep(task.id, 'DISCARD_TABLE_RESTORE'))!.status).toBe('SUCCESS');
  });

  it('a primary that is not running fails the first step that needs it, naming it', async () => {
    const { cluster } = await e.addCluster();
    const snap = await addSnapshot(cluster, { backupLabel: '20250115-080000F' });
    const task = await e.enqueue(
      'snapshot.table_restore',
      { ...restoreParams(cluster, snap, [['public', 'x']]) },
      { cluster, snapshotId: snap.id },
    );
    const done = await e.finished(task.id);
    expect(done).toMatchObject({ status: 'FAILED', failedStep: 'EXPORT_TABLES' });
    expect(done.errorMsg).toMatch(/the primary is not running/);
  });
});

describe('snapshot.table_restore through a scratch database (a logical snapshot)', () => {
  const detail = (cluster: ClusterRecord, id: string): FineGrainedDetail => ({
    level: 'table',
    database: DB,
    schemas: [],
    tables: ['public.order_items'],
    dumpDir: join(e.dir, 'logical', cluster.stanza, id),
    outsideForeignKeys: [16410],
    outsideForeignKeyDefs: [
      {
        oid: 16410,
        schema: 'public',
        table: 'order_items',
        name: 'order_items_order_id_fkey',
        definition: 'FOREIGN KEY (order_id) REFERENCES public.orders(id)',
      },
    ],
  });

  it('creates and loads the scratch database, exports from it, adds the foreign keys the dump could not carry, and drops it', async () => {
    const cluster = await liveCluster();
    const id = 'snap-logical-1';
    const snap = await addSnapshot(cluster, { id, fineGrained: detail(cluster, id) });
    e.dataPlane.dumps.add(`${cluster.stanza}/${id}`);
    const task = await e.enqueue(
      'snapshot.table_restore',
      { ...restoreParams(cluster, snap, [['public', 'order_items_copy']], true) },
      { cluster, snapshotId: snap.id },
    );
    const done = await e.finished(task.id);
    expect(done.status, done.errorMsg ?? '').toBe('SUCCESS');

    expect(await stepsOf(task.id)).toEqual([
      'CREATE_SCRATCH_DB',
      'LOAD_SCRATCH_DB',
      'EXPORT_TABLES',
      'IMPORT_TABLES',
      'VERIFY_ROWS',
      'DROP_SCRATCH_DB',
    ]);
    const names = e.dataPlane.names();
    const order = [
      'createScratchDatabase',
      'loadScratchDatabase',
      'prepareExport',
      'exportTables',
      'importTables',
      'addForeignKeys',
      'countTables',
      'dropScratchDatabase',
      'removeTableRestoreWork',
    ];
    expect(order.map((n) => names.indexOf(n))).toEqual([...order.map((n) => names.indexOf(n))].sort((a, b) => a - b));
    expect(names).not.toContain('restoreTemporaryCopy');
    expect(e.dataPlane.intentions.find((i) => i.name === 'loadScratchDatabase')!.args).toEqual([
      cluster.id,
      task.id,
      join(e.dir, 'logical', cluster.stanza, id),
    ]);
    expect(e.dataPlane.intentions.find((i) => i.name === 'prepareExport')!.args).toEqual([task.id, 'scratch-database', DB]);
    expect((await e.store.getStep(task.id, 'LOAD_SCRATCH_DB'))!.checkpoint).toEqual({ started: true });
    // The foreign key to a table outside the dump, renamed after the restored table.
    expect((await e.store.getStep(task.id, 'IMPORT_TABLES'))!.progressInfo).toMatchObject({
      addedForeignKeys: 'order_items_copy_order_id_fkey',
    });
    expect((await e.store.getStep(task.id, 'LOAD_SCRATCH_DB'))!.progressInfo).toMatchObject({
      scratchDatabase: expect.stringMatching(/^dwsbox_scratch_[0-9a-f]+$/),
      loadedBytes: 1_000_000,
    });
  });

  it('a dump that is gone fails the load (DWS.9909) and the undo drops the scratch database', async () => {
    const cluster = await liveCluster();
    const id = 'snap-logical-2';
    const snap = await addSnapshot(cluster, { id, fineGrained: detail(cluster, id) });
    const task = await e.enqueue(
      'snapshot.table_restore',
      { ...restoreParams(cluster, snap, [['public', 'order_items_copy']], true) },
      { cluster, snapshotId: snap.id },
    );
    const done = await e.finished(task.id);
    expect(done).toMatchObject({ status: 'FAILED', failedStep: 'LOAD_SCRATCH_DB', errorCode: 'DWS.9909' });
    expect(done.errorMsg).toMatch(/its dump .* is missing/);
    const after = e.dataPlane.names().slice(e.dataPlane.names().indexOf('logicalDumpReadable') + 1);
    expect(after).toEqual(['dropScratchDatabase', 'removeTableRestoreWork']);
  });
});

describe('snapshot.create of a table level (a logical snapshot)', () => {
  const fineGrained: FineGrainedDetail = {
    level: 'table',
    database: DB,
    schemas: [],
    tables: ['public.orders', 'public.customers'],
    dumpDir: null,
    outsideForeignKeys: [],
  };

  it('checks the objects, dumps them, verifies the dump and records its place and size on the snapshot', async () => {
    const cluster = await liveCluster();
    const snap = await addSnapshot(cluster, { status: 'CREATING', fineGrained });
    const task = await e.enqueue(
      'snapshot.create',
      { clusterId: cluster.id, snapshotId: snap.id, level: 'table' },
      { cluster, snapshotId: snap.id },
    );
    const done = await e.finished(task.id);
    expect(done.status, done.errorMsg ?? '').toBe('SUCCESS');
    expect(e.dataPlane.names()).toEqual([
      'databaseInfo',
      'relationFacts',
      'outsideForeignKeys',
      'logicalDump',
      'removeDump',
      'dumpObjects',
      'verifyLogicalDump',
      'logicalDump',
    ]);
    const s = (await e.store.getSnapshotById(snap.id))!;
    expect(s).toMatchObject({ status: 'AVAILABLE', sizeBytes: 1_000_000, priorBackupKey: 'FULL', sourceBytes: 2 * 65536 });
    expect(s.fineGrained).toMatchObject({
      dumpDir: join(e.dir, 'logical', cluster.stanza, snap.id),
      outsideForeignKeys: [],
      tables: ['public.orders', 'public.customers'],
    });
    expect(s.schemaInfo!.databases[0]!.tables.map((t) => `${t.schema}.${t.name}`)).toEqual(['public.orders', 'public.customers']);
  });

  it('a complete dump of an earlier run is kept: no second dump', async () => {
    const cluster = await liveCluster();
    const snap = await addSnapshot(cluster, { status: 'CREATING', fineGrained });
    e.dataPlane.dumps.add(`${cluster.stanza}/${snap.id}`);
    const task = await e.enqueue(
      'snapshot.create',
      { clusterId: cluster.id, snapshotId: snap.id, level: 'table' },
      { cluster, snapshotId: snap.id },
    );
    expect((await e.finished(task.id)).status).toBe('SUCCESS');
    expect(e.dataPlane.names()).not.toContain('dumpObjects');
    expect(e.dataPlane.names()).not.toContain('removeDump');
  });

  it('a failed dump ends FAILED at DUMP_OBJECTS, its undo removes the dump, the snapshot is UNAVAILABLE', async () => {
    const cluster = await liveCluster();
    const snap = await addSnapshot(cluster, { status: 'CREATING', fineGrained });
    e.dataPlane.script('dumpObjects', {
      fail: new AppError('ENGINE_COMMAND_FAILED', { args: ['pg_dump', 'pg_dump: error: no matching tables were found for pattern'] }),
    });
    const task = await e.enqueue(
      'snapshot.create',
      { clusterId: cluster.id, snapshotId: snap.id, level: 'table' },
      { cluster, snapshotId: snap.id },
    );
    const done = await e.finished(task.id);
    expect(done).toMatchObject({ status: 'FAILED', failedStep: 'DUMP_OBJECTS' });
    expect(e.dataPlane.names().slice(e.dataPlane.names().lastIndexOf('dumpObjects') + 1)).toEqual(['removeDump']);
    expect((await e.store.getSnapshotById(snap.id))!.status).toBe('UNAVAILABLE');
  });
});
