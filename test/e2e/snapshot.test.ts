/** End to end: snapshots on pgBackRest, watched through the task-details endpoint. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { ADMIN_PASSWORD, createAvailableCluster, getCluster, startService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/env.js';
import { queryRestoredSnapshot } from '../helpers/restore-check.js';

let t: TestService;
let clusterId: string;
let primary: string;

async function sql(text: string): Promise<unknown[]> {
  const [host, port] = primary.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

interface Snap {
  id: string;
  status: string;
  size: number;
  backup_key: string;
  prior_backup_key: string;
  started: string;
  finished: string;
  type: string;
  total_backup_size: number;
}

beforeAll(async () => {
  t = await startService();
  const c = await createAvailableCluster(t.client);
  clusterId = c.id;
  primary = c.detail.endpoints[0]!.connect_info;
  // Eight tables: pgBackRest's differential copies whole changed files, so a change to one
  // table copies about an eighth of the data.
  await sql(`do $$ begin for i in 0..7 loop
    execute format('create table events_%s as select g as id, md5(random()::text) || md5(random()::text) as payload from generate_series(1, 25000) g', i);
    execute format('alter table events_%s add primary key (id)', i);
  end loop; end $$`);
  await sql('vacuum (freeze, analyze)');
  await sql('checkpoint');
});
afterAll(async () => {
  await t?.stop();
});

async function snapshot(name: string): Promise<{ id: string; polls: { status: string; body: unknown }[] }> {
  const r = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
    snapshot: { name, cluster_id: clusterId, description: 'test' },
  });
  const polls: { status: string; body: unknown }[] = [];
  await waitFor(
    async () => {
      const a = await t.client.request<{ status: string }>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING`);
      if (a.status === 200) polls.push({ status: a.body.status, body: a.body });
      const s = await t.client.call<{ snapshot: Snap }>('GET', `/v1.0/{project_id}/snapshots/${r.snapshot.id}`);
      return s.snapshot.status !== 'CREATING';
    },
    { intervalMs: 100, what: 'the snapshot' },
  );
  return { id: r.snapshot.id, polls };
}

describe('snapshots', () => {
  it('takes a full snapshot and shows it through the task-details endpoint', async () => {
    const { id, polls } = await snapshot('snap-full');
    const s = (await t.client.call<{ snapshot: Snap }>('GET', `/v1.0/{project_id}/snapshots/${id}`)).snapshot;
    expect(s.status).toBe('AVAILABLE');
    expect(s.type).toBe('MANUAL');
    expect(s.prior_backup_key).toBe('FULL');
    expect(s.backup_key).toMatch(/^\d{8}_\d{6}$/);
    expect(s.size).toBeGreaterThan(0);
    expect(s.started).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
    expect(polls.length).toBeGreaterThan(0);
    const done = await t.client.call<{
      status: string;
      action_name: string;
      items: {
        item_name: string;
        sub_items: { sub_item_name: string; status: string; detail: string; estimated_time: number; end_time: string | null }[];
      }[];
    }>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING`);
    expect(done.status).toBe('SUCCESS');
    expect(done.action_name).toBe('SNAPSHOTTING');
    expect(done.items[0]!.item_name).toBe('Create a snapshot');
    const backup = done.items[0]!.sub_items.find((x) => x.sub_item_name === 'Perform a backup')!;
    const info = JSON.parse(JSON.parse(backup.detail).progressInfo);
    expect(info.actionType).toBe('Backup');
    expect(info.progress).toBe('100.00%');
    expect(info.key).toBe(s.backup_key);
    expect(info.priorKey).toBe('FULL');
    expect(info.backupSize).toBeGreaterThan(10_000_000);
    expect(backup.estimated_time).toBe(0);
    // The backup's polls (repository and /proc) never store a sample after its final one: pgBackRest's own figure.
    const taskId = (await t.svc.store.getSnapshotById(id))!.taskId!;
    const samples = await t.svc.store.listSamples(taskId, 'BACKUP');
    expect(samples.length).toBeGreaterThanOrEqual(3);
    expect(samples.at(-1)!.source).toBe('pgbackrest info');
    expect(samples.at(-1)!.percent).toBe(100);
    expect(samples.slice(0, -1).every((x) => x.source !== 'pgbackrest info')).toBe(true);
    const zh = await t.client.call<{ items: { item_name: string; sub_items: { sub_item_name: string }[] }[] }>(
      'GET',
      `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING`,
      undefined,
      { 'x-language': 'zh-cn' },
    );
    expect(zh.items[0]!.item_name).toBe('创建快照');
    expect(zh.items[0]!.sub_items.map((x) => x.sub_item_name)).toContain('执行备份');
    const c = await getCluster(t.client, clusterId);
    expect(c.task_status).toBe('');
  });

  it('takes a much smaller differential after a small change', async () => {
    await sql(`update events_0 set payload = 'changed' where id <= 100`);
    const { id } = await snapshot('snap-diff');
    const all = (await t.client.call<{ snapshots: Snap[] }>('GET', '/v1.0/{project_id}/snapshots')).snapshots;
    const full = all.find((x) => x.prior_backup_key === 'FULL')!;
    const diff = all.find((x) => x.id === id)!;
    expect(diff.prior_backup_key).toBe(full.backup_key);
    expect(diff.size).toBeLessThan(full.size / 3);
    const fromFull = await queryRestoredSnapshot<{ n: number }>(
      t.svc,
      full.id,
      `select count(*)::int as n from events_0 where payload = 'changed'`,
    );
    const fromDiff = await queryRestoredSnapshot<{ n: number }>(
      t.svc,
      id,
      `select count(*)::int as n from events_0 where payload = 'changed'`,
    );
    expect(fromFull[0]!.n).toBe(0);
    expect(fromDiff[0]!.n).toBe(100);
  });
});
