/**
 * End to end: schema- and table-level (logical) snapshots (issue 9 part B, D15). A snapshot
 * of some schemas or tables is a `pg_dump -Fd` of exactly those objects, watched through
 * SNAPSHOTTING with measured progress; a table comes back from it through a scratch database
 * on the cluster (no temporary instance), matching the source by checksum; a failed pg_dump
 * ends FAILED with its own message and leaves no partial dump; the scratch database never
 * outlives its task; deleting the snapshot removes its dump; a restore into a new cluster is
 * refused. The public CreateSnapshot body has no level fields (the SDK's Snapshot model has
 * only name, cluster_id, description), so these snapshots are made through
 * `SnapshotService.createSnapshot`, as the policy scheduler makes them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAvailableCluster, getCluster, startService, type TestService } from '../helpers/service.js';
import { processesUnder, waitFor } from '../helpers/env.js';
import { adminSql, checksums, SCHEMA_SQL, tableShape } from '../helpers/restore-data.js';
import { expectFinalSampleLast } from '../helpers/samples.js';
import type { SnapshotRequest } from '../../src/services/snapshot-service.js';

let t: TestService;
let clusterId: string;
let ep: string;
let stanza: string;

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
interface SnapshotBody {
  id: string;
  status: string;
  type: string;
  size: number;
  total_backup_size: number;
  fine_grained_backup: boolean;
  backup_level: string;
  fine_grained_backup_detail: { database: string; schema_list: string[]; table_list: string[] } | null;
  backup_key: string | null;
  prior_backup_key: string | null;
}
const infoOf = (s: SubItem): Record<string, unknown> => JSON.parse(JSON.parse(s.detail).progressInfo as string) as Record<string, unknown>;
const sub = (b: TaskBody, step: string): SubItem => b.items.flatMap((i) => i.sub_items).find((s) => s.step === step)!;
const steps = (b: TaskBody): string[] => b.items.flatMap((i) => i.sub_items.map((s) => s.step));

const DB = 'shop';
const sql = <R extends Record<string, unknown> = Record<string, unknown>>(text: string) => adminSql<R>(ep, text, DB);
const SALES_SQL = `
  create schema sales;
  create table sales.regions (id int primary key, name text not null unique);
  create table sales.targets (region_id int not null references sales.regions(id), quarter int not null, amount numeric(12,2) not null, primary key (region_id, quarter));
  create view sales.big_targets as select * from sales.targets where amount > 100;
  create table sales.visits (id int not null, at date not null) partition by range (at);
  create table sales.visits_2026 partition of sales.visits for values from ('2026-01-01') to ('2027-01-01');
  insert into sales.visits select g, date '2026-01-01' + g % 300 from generate_series(1, 500) g;
  insert into sales.regions select g, 'region ' || g from generate_series(1, 50) g;
  insert into sales.targets select 1 + g % 50, g / 50, g * 1.5 from generate_series(0, 999) g;
  create table public.doomed (id int primary key);
`;

async function job(id: string): Promise<Job> {
  return waitFor(
    async () => {
      const j = await t.client.call<Job>('GET', `/v1.0/{project_id}/job/${id}`);
      return j.status === 'SUCCESS' || j.status === 'FAIL' ? j : null;
    },
    { what: `job ${id}`, intervalMs: 150, timeoutMs: 200_000 },
  );
}

async function snapshot(
  r: Omit<SnapshotRequest, 'clusterId' | 'type' | 'database'> & { database?: string },
): Promise<{ id: string; job: Job }> {
  const s = await t.svc.snapshots.createSnapshot(t.svc.config.projectId ?? '', { clusterId, type: 'MANUAL', database: DB, ...r });
  return { id: s.id, job: await job(s.taskId!) };
}

const showSnapshot = async (id: string): Promise<SnapshotBody> =>
  (await t.client.call<{ snapshot: SnapshotBody }>('GET', `/v1.0/{project_id}/snapshots/${id}`)).snapshot;
const dumpDir = (id: string): string => join(t.dataDir, 'logical', stanza, id);
/** The tables (schema name) of a dump, from its table of contents. */
function dumpTables(dir: string): string[] {
  const toc = execFileSync(join(t.svc.dataPlane.bins.binDir, 'pg_restore'), ['-l', dir], { encoding: 'utf8' });
  return toc
    .split('\n')
    .map((l) => /^\d+; \d+ \d+ TABLE (\S+) (\S+) \S+$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => `${m[1]}.${m[2]}`)
    .sort();
}
const scratchDatabases = async (): Promise<string[]> =>
  (await adminSql<{ d: string }>(ep, `select datname as d from pg_database where datname like 'dwsbox_scratch%'`)).map((r) => r.d);
const tempDirs = (): string[] => (existsSync(join(t.dataDir, 'tmp')) ? readdirSync(join(t.dataDir, 'tmp')) : []);

beforeAll(async () => {
  t = await startService();
  const c = await createAvailableCluster(t.client);
  clusterId = c.id;
  ep = c.detail.endpoints[0]!.connect_info;
  stanza = (await t.svc.store.getClusterById(c.id))!.stanza;
  await adminSql(ep, `create database ${DB}`);
  await sql(SCHEMA_SQL);
  await sql(SALES_SQL);
});
afterAll(async () => {
  await t?.stop();
});

describe('schema- and table-level snapshots', () => {
  let schemaSnap: string;
  let tableSnap: string;
  let itemsAtSnapshot: string;
  let shape: Awaited<ReturnType<typeof tableShape>>;

  it('refuses missing objects before queuing anything', async () => {
    const before = (await t.svc.store.listSnapshots(t.svc.config.projectId ?? '', clusterId)).length;
    await expect(snapshot({ name: 'no-table', level: 'table', tables: ['public.orders', 'public.nope'] })).rejects.toMatchObject({
      code: 'TABLE_NOT_FOUND',
      httpStatus: 400,
    });
    await expect(snapshot({ name: 'no-schema', level: 'schema', schemas: ['sales', 'nope'] })).rejects.toMatchObject({
      code: 'SCHEMA_NOT_FOUND',
      httpStatus: 400,
    });
    await expect(snapshot({ name: 'no-db', level: 'schema', schemas: ['sales'], database: 'nodb' })).rejects.toMatchObject({
      code: 'DATABASE_NOT_FOUND',
      httpStatus: 400,
    });
    await expect(snapshot({ name: 'bad-name', level: 'table', tables: ['orders'] })).rejects.toMatchObject({
      code: 'VALIDATION',
      httpStatus: 400,
    });
    await expect(snapshot({ name: 'mixed', level: 'schema', schemas: ['sales'], tables: ['public.orders'] })).rejects.toMatchObject({
      code: 'VALIDATION',
    });
    expect((await t.svc.store.listSnapshots(t.svc.config.projectId ?? '', clusterId)).length).toBe(before);
  });

  it("a schema-level snapshot holds exactly the schema's tables, and says so on the wire", async () => {
    const r = await snapshot({ name: 'snap-sales', level: 'schema', schemas: ['sales'] });
    expect(r.job.status, r.job.failed_detail).toBe('SUCCESS');
    schemaSnap = r.id;
    // A partitioned table's definition and its partitions are in it too.
    expect(dumpTables(dumpDir(r.id))).toEqual(['sales.regions', 'sales.targets', 'sales.visits', 'sales.visits_2026']);
    const s = await showSnapshot(r.id);
    expect(s).toMatchObject({
      status: 'AVAILABLE',
      type: 'MANUAL',
      fine_grained_backup: true,
      backup_level: 'schema',
      prior_backup_key: 'FULL',
    });
    expect(s.fine_grained_backup_detail).toEqual({ database: DB, schema_list: ['sales'], table_list: [] });
    expect(s.backup_key).toMatch(/^\d{8}_\d{6}$/);
    const rec = (await t.svc.store.getSnapshotById(r.id))!;
    expect(rec.sizeBytes).toBeGreaterThan(0);
    expect(s.total_backup_size).toBe(rec.sizeBytes);
    expect(s.size).toBeGreaterThan(0);
    // Not part of the pgBackRest chain: no set in the stanza's repository belongs to it.
    expect(rec.backupLabel).toBeNull();
  });

  it('a table-level snapshot holds exactly its tables; SNAPSHOTTING shows the real steps with measured figures', async () => {
    itemsAtSnapshot = (await checksums(ep, { 'public.order_items': 'id' }, DB))['public.order_items']!;
    shape = await tableShape(ep, 'public', 'order_items', DB);
    // orders is not in it: order_items' foreign key to it points outside the dump.
    const r = await snapshot({ name: 'snap-items', level: 'table', tables: ['public.order_items', 'public.customers'] });
    expect(r.job.status, r.job.failed_detail).toBe('SUCCESS');
    tableSnap = r.id;
    expect(dumpTables(dumpDir(r.id))).toEqual(['public.customers', 'public.order_items']);
    const s = await showSnapshot(r.id);
    expect(s).toMatchObject({
      fine_grained_backup: true,
      backup_level: 'table',
      fine_grained_backup_detail: { database: DB, schema_list: [], table_list: ['public.order_items', 'public.customers'] },
    });

    const a = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING`);
    expect(a.id).toBe(r.job.job_id);
    expect(a.items.map((i) => i.item_name)).toEqual(['Create a snapshot']);
    expect(steps(a)).toEqual(['CHECK_OBJECTS', 'DUMP_OBJECTS', 'VERIFY_DUMP', 'RECORD_DUMP']);
    for (const x of a.items.flatMap((i) => i.sub_items)) {
      expect(x.status).toBe('SUCCESS');
      expect(infoOf(x)['actionType']).toBe('Backup');
    }
    const dump = infoOf(sub(a, 'DUMP_OBJECTS'));
    expect(dump['backupSize'] as number).toBeGreaterThan(100_000);
    expect(dump['dumpBytes']).toBe((await t.svc.store.getSnapshotById(r.id))!.sizeBytes);
    expect(dump['tablesDone']).toBe(2);
    const samples = await t.svc.store.listSamples(a.id, 'DUMP_OBJECTS');
    expect(samples.some((x) => x.source === 'pg_dump --verbose')).toBe(true);
    expect(samples.at(-1)!.percent).toBe(100);
    // pg_dump's COPYs are polled: no stored sample follows the step's final one.
    await expectFinalSampleLast(t.svc.store, a.id, 'DUMP_OBJECTS');
    const done = samples.map((x) => x.bytesDone ?? 0);
    expect(done).toEqual([...done].sort((x, y) => x - y));
    // D14: rising figures from the tool (a table finished, then the other), the last the dump's own total.
    expect(new Set(done).size).toBeGreaterThanOrEqual(3);
    expect(done.at(-1)).toBe(samples.at(-1)!.bytesTotal);
  });

  it('restore into a new cluster is refused for a logical snapshot', async () => {
    const res = await t.client.request<{ error_code: string; error_msg: string }>(
      'POST',
      `/v1.0/{project_id}/snapshots/${tableSnap}/actions`,
      { restore: { name: 'from-logical' } },
    );
    expect(res.status).toBe(400);
    expect(res.body.error_code).toBe('DWS.9909');
    expect(res.body.error_msg).toMatch(/table-level snapshot.*table-restore/);
  });

  it('the check names the tables the dump does not hold', async () => {
    const body = {
      case_sensitive: true,
      database: DB,
      restore_table_list: [
        { schema_name: 'public', table_name: 'order_items' },
        { schema_name: 'public', table_name: 'orders' },
      ],
      target_table_list: [
        { schema_name: 'public', table_name: 'x1' },
        { schema_name: 'public', table_name: 'customers' },
      ],
    };
    const c = await t.client.call<{ check_table_name_result: unknown }>(
      'POST',
      `/v1/{project_id}/snapshots/${tableSnap}/table-restore-check`,
      body,
    );
    expect(c.check_table_name_result).toEqual({
      database: DB,
      restore_table_list: ['public.orders'],
      target_table_list: ['public.customers'],
    });
  });

  it('a table comes back from a table-level snapshot through a scratch database, matching by checksum', async () => {
    await sql(`update order_items set qty = qty + 1 where id % 3 = 0; drop table order_items;`);
    const r = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${tableSnap}/table-restore`, {
      case_sensitive: true,
      database: DB,
      restore_table_list: [{ schema_name: 'public', table_name: 'order_items' }],
      target_table_list: [{ schema_name: 'public', table_name: 'order_items' }],
    });
    const j = await job(r.job_id);
    expect(j.status, j.failed_detail).toBe('SUCCESS');
    expect((await checksums(ep, { 'public.order_items': 'id' }, DB))['public.order_items']).toBe(itemsAtSnapshot);
    // Keys, indexes, defaults, and the foreign key to orders (not in the dump, but in the cluster) are back.
    expect(await tableShape(ep, 'public', 'order_items', DB)).toEqual(shape);
    expect(await scratchDatabases()).toEqual([]);
    expect(tempDirs()).toEqual([]);
    expect(processesUnder(join(t.dataDir, 'tmp'))).toEqual([]);
    const c = await getCluster(t.client, clusterId);
    expect(c.status).toBe('AVAILABLE');
    const a = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/FINE_GRAINED_RESTORING`);
    expect(a.id).toBe(r.job_id);
    expect(a.items.map((i) => i.item_name)).toEqual(['Prepare a scratch database', 'Restore tables', 'Clean up']);
    expect(steps(a)).toEqual(['CREATE_SCRATCH_DB', 'LOAD_SCRATCH_DB', 'EXPORT_TABLES', 'IMPORT_TABLES', 'VERIFY_ROWS', 'DROP_SCRATCH_DB']);
    for (const x of a.items.flatMap((i) => i.sub_items)) expect(x.status).toBe('SUCCESS');
    expect(infoOf(sub(a, 'LOAD_SCRATCH_DB'))['loadedBytes'] as number).toBeGreaterThan(100_000);
    expect(infoOf(sub(a, 'IMPORT_TABLES'))['rows']).toBe(15000);
    expect(infoOf(sub(a, 'IMPORT_TABLES'))['addedForeignKeys']).toBe('public.order_items.order_items_order_id_fkey');
    // Each step that polls a running tool (the scratch load's size, pg_dump's and pg_restore's COPY): no stored sample follows its final one.
    for (const step of ['LOAD_SCRATCH_DB', 'EXPORT_TABLES', 'IMPORT_TABLES']) await expectFinalSampleLast(t.svc.store, a.id, step);
  });

  it('a table comes back from a schema-level snapshot under a new name', async () => {
    const at = (await checksums(ep, { 'sales.targets': 'region_id, x.quarter' }, DB))['sales.targets'];
    const r = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${schemaSnap}/table-restore`, {
      case_sensitive: true,
      database: DB,
      restore_table_list: [{ schema_name: 'sales', table_name: 'targets' }],
      target_table_list: [{ schema_name: 'sales', table_name: 'targets_copy' }],
    });
    const j = await job(r.job_id);
    expect(j.status, j.failed_detail).toBe('SUCCESS');
    expect((await checksums(ep, { 'sales.targets_copy': 'region_id, x.quarter' }, DB))['sales.targets_copy']).toBe(at);
    const fks = await sql<{ d: string }>(
      `select pg_get_constraintdef(oid) as d from pg_constraint where conrelid = 'sales.targets_copy'::regclass and contype = 'f'`,
    );
    expect(fks.map((x) => x.d)).toEqual(['FOREIGN KEY (region_id) REFERENCES sales.regions(id)']);
    expect(await scratchDatabases()).toEqual([]);
  });

  it('a snapshot of the public schema (which every new database has) restores too', async () => {
    const r = await snapshot({ name: 'snap-public', level: 'schema', schemas: ['public'] });
    expect(r.job.status, r.job.failed_detail).toBe('SUCCESS');
    expect(dumpTables(dumpDir(r.id))).toEqual([
      'public.customers',
      'public.doomed',
      'public.events',
      'public.order_items',
      'public.orders',
    ]);
    const at = (await checksums(ep, { 'public.orders': 'id' }, DB))['public.orders'];
    const res = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${r.id}/table-restore`, {
      case_sensitive: true,
      database: DB,
      restore_table_list: [{ schema_name: 'public', table_name: 'orders' }],
      target_table_list: [{ schema_name: 'archive', table_name: 'orders_2026' }],
    });
    const j = await job(res.job_id);
    expect(j.status, j.failed_detail).toBe('SUCCESS');
    expect((await checksums(ep, { 'archive.orders_2026': 'id' }, DB))['archive.orders_2026']).toBe(at);
    const fks = await sql<{ d: string }>(
      `select pg_get_constraintdef(oid) as d from pg_constraint where conrelid = 'archive.orders_2026'::regclass and contype = 'f'`,
    );
    expect(fks.map((x) => x.d)).toEqual(['FOREIGN KEY (customer_id) REFERENCES customers(id)']);
    expect(await scratchDatabases()).toEqual([]);
  });

  it('a failed restore drops the scratch database and what it imported', async () => {
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      action_name: 'FINE_GRAINED_RESTORING',
      cluster_id: clusterId,
      step: 'VERIFY_ROWS',
      mode: 'fail',
    });
    const r = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${tableSnap}/table-restore`, {
      case_sensitive: true,
      database: DB,
      restore_table_list: [{ schema_name: 'public', table_name: 'order_items' }],
      target_table_list: [{ schema_name: 'public', table_name: 'order_items_fail' }],
    });
    const j = await job(r.job_id);
    await t.client.call('DELETE', '/dwsbox/v1/{project_id}/faults');
    expect(j.status).toBe('FAIL');
    const f = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/FINE_GRAINED_RESTORING_FAILED`);
    expect(f.id).toBe(r.job_id);
    expect(sub(f, 'DISCARD_SCRATCH_RESTORE').status).toBe('SUCCESS');
    expect(await scratchDatabases()).toEqual([]);
    expect(await sql(`select to_regclass('public.order_items_fail') as a`)).toEqual([{ a: null }]);
    expect(tempDirs()).toEqual([]);
  });

  it("a failed pg_dump ends SNAPSHOTTING_FAILED with pg_dump's message and leaves no partial dump", async () => {
    // The table goes away between the check and the dump: pg_dump --strict-names refuses.
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      action_name: 'SNAPSHOTTING',
      cluster_id: clusterId,
      step: 'DUMP_OBJECTS',
      mode: 'delay',
      delay_ms: 3000,
    });
    const s = await t.svc.snapshots.createSnapshot(t.svc.config.projectId ?? '', {
      clusterId,
      type: 'MANUAL',
      name: 'snap-doomed',
      level: 'table',
      database: DB,
      tables: ['public.doomed', 'public.customers'],
    });
    await waitFor(
      async () => {
        const a = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING`);
        return a.id === s.taskId && sub(a, 'CHECK_OBJECTS').status === 'SUCCESS';
      },
      { what: 'the object check', intervalMs: 50 },
    );
    await sql('drop table public.doomed');
    const j = await job(s.taskId!);
    await t.client.call('DELETE', '/dwsbox/v1/{project_id}/faults');
    expect(j.status).toBe('FAIL');
    expect(j.failed_detail).toMatch(/pg_dump.*no matching tables were found/s);
    const f = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING_FAILED`);
    expect(f.id).toBe(s.taskId);
    expect(f.failed_step).toBe('DUMP_OBJECTS');
    expect(infoOf(sub(f, 'DUMP_OBJECTS'))['errorMsg']).toMatch(/no matching tables were found for pattern/);
    expect(sub(f, 'DISCARD_DUMP').status).toBe('SUCCESS');
    expect((await showSnapshot(s.id)).status).toBe('UNAVAILABLE');
    expect(existsSync(dumpDir(s.id))).toBe(false);
    expect(existsSync(`${dumpDir(s.id)}.part`)).toBe(false);
    expect((await getCluster(t.client, clusterId)).status).toBe('AVAILABLE');
  });

  it('deleting a logical snapshot removes its dump', async () => {
    expect(existsSync(dumpDir(schemaSnap))).toBe(true);
    await t.client.call('DELETE', `/v1.0/{project_id}/snapshots/${schemaSnap}`);
    const gone = await t.client.request('GET', `/v1.0/{project_id}/snapshots/${schemaSnap}`);
    expect(gone.status).toBe(404);
    await waitFor(async () => (await t.svc.store.getSnapshotById(schemaSnap))?.expiredAt ?? null, {
      what: 'the dump to be removed',
      intervalMs: 200,
    });
    expect(existsSync(dumpDir(schemaSnap))).toBe(false);
    // The other snapshot's dump is untouched.
    expect(existsSync(dumpDir(tableSnap))).toBe(true);
  });
});
