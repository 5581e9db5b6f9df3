/**
 * End to end: table-level ("fine-grained") restores (FINE_GRAINED_RESTORING, D15). A dropped
 * table comes back from a snapshot with its keys, indexes, defaults and owned sequence,
 * under its own name and under a new name in a new schema; the check endpoint names what
 * would stop a restore; a failure drops only what the task itself imported, and the
 * temporary instance never outlives the task.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAvailableCluster, getCluster, startService, type TestService } from '../helpers/service.js';
import { processesUnder, waitFor } from '../helpers/env.js';
import { adminSql, archiveFiles, archiveTimelines, checksums, SCHEMA_SQL, tableShape } from '../helpers/restore-data.js';
import { expectFinalSampleLast } from '../helpers/samples.js';

let t: TestService;
let clusterId: string;
let ep: string;
let stanza: string;
let snapId: string;
let itemsAtSnapshot: string;
let shape: Awaited<ReturnType<typeof tableShape>>;
let seqAtSnapshot: number;

interface SubItem {
  sub_item_name: string;
  status: string;
  detail: string;
  estimated_time: number;
  step: string;
}
interface TaskBody {
  id: string;
  status: string;
  action_name: string;
  items: { item_name: string; sub_items: SubItem[] }[];
  error_msg: string | null;
  failed_step: string | null;
}
interface Job {
  job_id: string;
  status: string;
  progress: string;
  failed_code: string;
  failed_detail: string;
}
const infoOf = (s: SubItem): Record<string, unknown> => JSON.parse(JSON.parse(s.detail).progressInfo as string) as Record<string, unknown>;
const sub = (b: TaskBody, step: string): SubItem => b.items.flatMap((i) => i.sub_items).find((s) => s.step === step)!;
const tbl = (schema: string, table: string) => ({ schema_name: schema, table_name: table });
const body = (src: [string, string][], dst: [string, string][], o: { database?: string; caseSensitive?: boolean } = {}) => ({
  case_sensitive: o.caseSensitive ?? true,
  database: o.database ?? DB,
  restore_table_list: src.map(([s, n]) => tbl(s, n)),
  target_table_list: dst.map(([s, n]) => tbl(s, n)),
});
/** The tables live in a database of their own: the temporary instance restores only it (--db-include). */
const DB = 'shop';
const sql = <R extends Record<string, unknown> = Record<string, unknown>>(text: string) => adminSql<R>(ep, text, DB);
const itemsSum = (table: string) => checksums(ep, { [table]: 'id' }, DB).then((c) => c[table]!);
const tempDirs = (): string[] => (existsSync(join(t.dataDir, 'tmp')) ? readdirSync(join(t.dataDir, 'tmp')) : []);

async function runRestore(b: unknown): Promise<Job> {
  const r = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${snapId}/table-restore`, b);
  expect(r.job_id).toMatch(/^[0-9a-f-]{36}$/);
  const during = await getCluster(t.client, clusterId);
  expect(during.task_status).toBe('FINE_GRAINED_RESTORING');
  expect(during.action_progress['FINE_GRAINED_RESTORING']).toMatch(/^\d+%$/);
  const job = await waitFor(
    async () => {
      const j = await t.client.call<Job>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
      return j.status === 'SUCCESS' || j.status === 'FAIL' ? j : null;
    },
    { what: 'the table restore', intervalMs: 150, timeoutMs: 200_000 },
  );
  const c = await getCluster(t.client, clusterId);
  expect(c.status).toBe('AVAILABLE');
  expect(c.task_status).toBe('');
  // The temporary instance is always gone: no directory, no process.
  expect(tempDirs()).toEqual([]);
  expect(processesUnder(join(t.dataDir, 'tmp'))).toEqual([]);
  return job;
}

beforeAll(async () => {
  t = await startService();
  const c = await createAvailableCluster(t.client);
  clusterId = c.id;
  ep = c.detail.endpoints[0]!.connect_info;
  stanza = (await t.svc.store.getClusterById(c.id))!.stanza;
  await adminSql(ep, `create database ${DB}`);
  await sql(SCHEMA_SQL);
  itemsAtSnapshot = await itemsSum('public.order_items');
  shape = await tableShape(ep, 'public', 'order_items', DB);
  seqAtSnapshot = Number((await sql<{ v: string }>('select last_value::text as v from order_items_id_seq'))[0]!.v);
  const r = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
    snapshot: { name: 'snap-tables', cluster_id: clusterId },
  });
  snapId = r.snapshot.id;
  await waitFor(
    async () =>
      (await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${snapId}`)).snapshot.status ===
      'AVAILABLE',
    { what: 'the snapshot' },
  );
  await sql(`update order_items set qty = qty + 1 where id % 2 = 0; drop table order_items;`);
});
afterAll(async () => {
  await t?.stop();
});

describe('table restore', () => {
  it('the check names missing sources and existing targets, changing nothing', async () => {
    const ok = await t.client.call<{ check_table_name_result: unknown }>(
      'POST',
      `/v1/{project_id}/snapshots/${snapId}/table-restore-check`,
      body([['public', 'order_items']], [['public', 'order_items']]),
    );
    expect(ok.check_table_name_result).toEqual({ database: DB, restore_table_list: null, target_table_list: null });
    const bad = await t.client.call<{ check_table_name_result: unknown }>(
      'POST',
      `/v1/{project_id}/snapshots/${snapId}/table-restore-check`,
      body(
        [
          ['public', 'order_items'],
          ['public', 'no_such_table'],
          ['public', 'events'],
        ],
        [
          ['public', 'orders'],
          ['public', 'x1'],
          ['public', 'x2'],
        ],
      ),
    );
    expect(bad.check_table_name_result).toEqual({
      database: DB,
      restore_table_list: ['public.no_such_table'],
      target_table_list: ['public.orders'],
    });
    const noDb = await t.client.request<{ error_code: string }>(
      'POST',
      `/v1/{project_id}/snapshots/${snapId}/table-restore-check`,
      body([['public', 'orders']], [['public', 'x']], { database: 'nodb' }),
    );
    expect(noDb.status).toBe(400);
    expect(noDb.body.error_code).toBe('DWS.5172');
    const uneven = await t.client.request<{ error_code: string }>(
      'POST',
      `/v1/{project_id}/snapshots/${snapId}/table-restore-check`,
      body([['public', 'orders']], []),
    );
    expect(uneven.status).toBe(400);
    expect(await sql(`select to_regclass('public.order_items') as t`)).toEqual([{ t: null }]);
  });

  it('refuses an existing target (DWS.9910) and an unknown table (DWS.5174) at request time', async () => {
    const exists = await t.client.request<{ error_code: string; error_msg: string }>(
      'POST',
      `/v1/{project_id}/snapshots/${snapId}/table-restore`,
      body([['public', 'orders']], [['public', 'orders']]),
    );
    expect(exists.status).toBe(400);
    expect(exists.body.error_code).toBe('DWS.9910');
    expect(exists.body.error_msg).toMatch(/public\.orders/);
    const unknown = await t.client.request<{ error_code: string }>(
      'POST',
      `/v1/{project_id}/snapshots/${snapId}/table-restore`,
      body([['public', 'nope']], [['public', 'nope']]),
    );
    expect(unknown.status).toBe(400);
    expect(unknown.body.error_code).toBe('DWS.5174');
    expect(tempDirs()).toEqual([]);
  });

  it('brings the dropped table back under its name, with its keys, indexes, defaults and sequence', async () => {
    const before = archiveFiles(t.svc.dataPlane.settings.repoPath, stanza);
    const job = await runRestore(body([['public', 'order_items']], [['public', 'order_items']]));
    expect(job.status, job.failed_detail).toBe('SUCCESS');
    expect(job.progress).toBe('100%');
    expect(await itemsSum('public.order_items')).toBe(itemsAtSnapshot);
    expect(await tableShape(ep, 'public', 'order_items', DB)).toEqual(shape);
    expect(Number((await sql<{ v: string }>('select last_value::text as v from order_items_id_seq'))[0]!.v)).toBe(seqAtSnapshot);
    // The keys work: the foreign key to orders is back, the serial goes on.
    await expect(sql(`insert into order_items (order_id, line, sku) values (999999, 1, 'x')`)).rejects.toThrow(/foreign key/);
    const [row] = await sql<{ id: number }>(`insert into order_items (order_id, line, sku) values (1, 99, 'x') returning id`);
    expect(row!.id).toBeGreaterThan(seqAtSnapshot);
    await sql(`delete from order_items where id = ${row!.id}`);
    // D4: a temporary instance never archives into the source stanza.
    const after = archiveTimelines(archiveFiles(t.svc.dataPlane.settings.repoPath, stanza));
    expect(after.histories).toEqual(archiveTimelines(before).histories);
    expect([...after.segments].filter((x) => x !== '00000001')).toEqual([]);

    // The task-details endpoint shows the real steps with measured figures.
    const a = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/FINE_GRAINED_RESTORING`);
    expect(a.status).toBe('SUCCESS');
    expect(a.id).toBe(job.job_id);
    expect(a.items.map((i) => i.item_name)).toEqual(['Prepare a temporary instance', 'Restore tables', 'Clean up']);
    expect(a.items.flatMap((i) => i.sub_items.map((s) => s.step))).toEqual([
      'RESTORE_TEMP',
      'START_TEMP',
      'EXPORT_TABLES',
      'IMPORT_TABLES',
      'VERIFY_ROWS',
      'REMOVE_TEMP',
    ]);
    for (const s of a.items.flatMap((i) => i.sub_items)) {
      expect(s.status).toBe('SUCCESS');
      expect(infoOf(s)['actionType']).toBe('TableRestore');
      expect(infoOf(s)['progress']).toBe('100.00%');
    }
    expect(infoOf(sub(a, 'RESTORE_TEMP'))['backupSize'] as number).toBeGreaterThan(1_000_000);
    const imp = infoOf(sub(a, 'IMPORT_TABLES'));
    expect(imp['backupSize'] as number).toBeGreaterThan(100_000);
    expect(imp['rows']).toBe(15000);
    expect(imp['tablesDone']).toBe(1);
    expect(imp['droppedForeignKeys']).toBe('none');
    const importSamples = await t.svc.store.listSamples(a.id, 'IMPORT_TABLES');
    expect(importSamples.some((s) => s.source === 'pg_restore --verbose')).toBe(true);
    expect(importSamples.at(-1)!.percent).toBe(100);
    // Each step that polls a running tool (the copy, pg_dump's and pg_restore's COPY): no stored sample follows its final one.
    for (const step of ['RESTORE_TEMP', 'EXPORT_TABLES', 'IMPORT_TABLES']) await expectFinalSampleLast(t.svc.store, a.id, step);
    const zh = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/FINE_GRAINED_RESTORING`, undefined, {
      'x-language': 'zh-cn',
    });
    expect(zh.items.map((i) => i.item_name)).toEqual(['准备临时实例', '恢复表', '清理']);
  });

  it('restores it again under a new name in a new schema (case folded), beside the first copy', async () => {
    const job = await runRestore(body([['PUBLIC', 'Order_Items']], [['Restored', 'Order_Items_Copy']], { caseSensitive: false }));
    expect(job.status, job.failed_detail).toBe('SUCCESS');
    expect(await itemsSum('restored.order_items_copy')).toBe(itemsAtSnapshot);
    const copy = await tableShape(ep, 'restored', 'order_items_copy', DB);
    expect(copy).toEqual(shape);
    // Dependent objects were renamed after the new table: no clash with the first copy's.
    const names = await sql<{ n: string }>(`select relname as n from pg_class where relnamespace = 'restored'::regnamespace order by 1`);
    expect(names.map((r) => r.n)).toEqual([
      'order_items_copy',
      'order_items_copy_id_seq',
      'order_items_copy_order_id_line_key',
      'order_items_copy_pkey',
      'order_items_copy_sku_idx',
    ]);
    const fks = await sql<{ d: string }>(
      `select conname || ' ' || pg_get_constraintdef(oid) as d from pg_constraint where conrelid = 'restored.order_items_copy'::regclass and contype = 'f'`,
    );
    expect(fks.map((r) => r.d)).toEqual(['order_items_copy_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders(id)']);
    // The original copy is untouched.
    expect(await itemsSum('public.order_items')).toBe(itemsAtSnapshot);
  });

  it('a failure drops only what the task imported, FINE_GRAINED_RESTORING_FAILED says where and why, the cluster stays AVAILABLE', async () => {
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      action_name: 'FINE_GRAINED_RESTORING',
      cluster_id: clusterId,
      step: 'VERIFY_ROWS',
      mode: 'fail',
    });
    const job = await runRestore(
      body(
        [
          ['public', 'order_items'],
          ['public', 'events'],
        ],
        [
          ['public', 'order_items_fail'],
          ['scratch', 'events_fail'],
        ],
      ),
    );
    await t.client.call('DELETE', '/dwsbox/v1/{project_id}/faults');
    expect(job.status).toBe('FAIL');
    expect(job.failed_detail).toMatch(/Injected fault \(fail VERIFY_ROWS at before\)/);
    const f = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/FINE_GRAINED_RESTORING_FAILED`);
    expect(f.status).toBe('FAILED');
    expect(f.id).toBe(job.job_id);
    expect(f.failed_step).toBe('VERIFY_ROWS');
    const failed = sub(f, 'VERIFY_ROWS');
    expect(failed.status).toBe('FAILED');
    expect(infoOf(failed)['failedStep']).toBe('VERIFY_ROWS');
    expect(infoOf(failed)['errorMsg']).toMatch(/Injected fault/);
    expect(sub(f, 'IMPORT_TABLES').status).toBe('SUCCESS');
    expect(sub(f, 'REMOVE_TEMP').status).toBe('WAITING');
    expect(sub(f, 'DISCARD_TABLE_RESTORE').status).toBe('SUCCESS');
    // What it imported is gone (and the schema it created); what existed before is untouched.
    expect(
      await sql(
        `select to_regclass('public.order_items_fail') as a, to_regclass('scratch.events_fail') as b, to_regnamespace('scratch') as s`,
      ),
    ).toEqual([{ a: null, b: null, s: null }]);
    expect(await itemsSum('public.order_items')).toBe(itemsAtSnapshot);
    expect(await itemsSum('restored.order_items_copy')).toBe(itemsAtSnapshot);
    // With nothing running, FINE_GRAINED_RESTORING shows the newest task of the kind.
    const latest = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/FINE_GRAINED_RESTORING`);
    expect(latest.id).toBe(job.job_id);
  });

  it('a table that appears while the task runs is never overwritten: the task fails cleanly', async () => {
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      action_name: 'FINE_GRAINED_RESTORING',
      cluster_id: clusterId,
      step: 'IMPORT_TABLES',
      mode: 'delay',
      delay_ms: 3000,
    });
    const r = await t.client.call<{ job_id: string }>(
      'POST',
      `/v1/{project_id}/snapshots/${snapId}/table-restore`,
      body([['public', 'order_items']], [['public', 'late_table']]),
    );
    await waitFor(
      async () => {
        const a = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/FINE_GRAINED_RESTORING`);
        return sub(a, 'EXPORT_TABLES').status === 'SUCCESS';
      },
      { what: 'the export', intervalMs: 50 },
    );
    await sql(`create table late_table (id int primary key, note text); insert into late_table values (1, 'mine')`);
    const job = await waitFor(
      async () => {
        const j = await t.client.call<Job>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
        return j.status === 'FAIL' || j.status === 'SUCCESS' ? j : null;
      },
      { what: 'the task', intervalMs: 150 },
    );
    await t.client.call('DELETE', '/dwsbox/v1/{project_id}/faults');
    expect(job.status).toBe('FAIL');
    expect(job.failed_code).toBe('DWS.9910');
    expect(await sql('select id, note from late_table')).toEqual([{ id: 1, note: 'mine' }]);
    expect(tempDirs()).toEqual([]);
    expect((await getCluster(t.client, clusterId)).status).toBe('AVAILABLE');
  });

  it('needs the live source cluster (D16): after it is deleted, a 400', async () => {
    await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${clusterId}`, { keep_last_manual_snapshot: 1 });
    await waitFor(async () => (await t.client.request('GET', `/v1.0/{project_id}/clusters/${clusterId}`)).status === 404, {
      what: 'the delete',
    });
    const r = await t.client.request<{ error_code: string; error_msg: string }>(
      'POST',
      `/v1/{project_id}/snapshots/${snapId}/table-restore`,
      body([['public', 'order_items']], [['public', 'order_items']]),
    );
    expect(r.status).toBe(400);
    expect(r.body.error_code).toBe('DWS.9909');
    expect(r.body.error_msg).toMatch(/deleted/);
  });
});
