/**
 * End to end (issue 16, CancelReadonlyCluster): the read-only protection of the data disk on a
 * real cluster. With the threshold at 0.75 % of dwsx.small's 20 GB disk (about 154 MB), the
 * cluster stays writable until a table of about 160 MB passes it; then the primary is made
 * read-only (sub_status READONLY, an event), writes are refused and reads are not, while
 * dwsbox's own work (a database user) goes on; CancelReadonlyCluster makes it writable again,
 * and the protection does not turn on again while the data stays above the threshold.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { ADMIN_PASSWORD, createAvailableCluster, getCluster, startService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/env.js';

const THRESHOLD = 0.75;
let t: TestService;
let id: string;
let rw: string;

beforeAll(async () => {
  t = await startService({ flags: { readOnlyDiskPercent: THRESHOLD } });
  const c = await createAvailableCluster(t.client);
  id = c.id;
  rw = c.detail.endpoints[0]!.connect_info;
});
afterAll(async () => {
  await t?.stop();
});

async function admin<R>(sql: string): Promise<R[]> {
  const [host, port] = rw.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query(sql)).rows as R[];
  } finally {
    await c.end().catch(() => {});
  }
}

const protect = () => t.svc.monitor.protectDisks(THRESHOLD);
const subStatus = async () => (await getCluster(t.client, id)).sub_status;
const events = async () =>
  (await t.client.call<{ events: { name: string; description: string }[] }>('GET', `/v2/{project_id}/events?source_id=${id}&limit=100`))
    .events;

describe('the read-only protection of the data disk', () => {
  it('leaves a cluster below the threshold writable', async () => {
    await protect();
    expect((await t.svc.store.getClusterById(id))!.readOnly).toBeNull();
    expect(await subStatus()).toBe('NORMAL');
    await admin('create table big (id serial, pad text)');
  });

  it('makes it read-only once its data passes the threshold: writes refused, reads and dwsbox work go on', async () => {
    // about 160 MB: rows of 1,900 characters stay below TOAST's threshold, so they are not compressed
    await admin("insert into big (pad) select repeat('x', 1900) from generate_series(1, 85000)");
    await protect();
    expect((await t.svc.store.getClusterById(id))!.readOnly).toBe('ON');
    await waitFor(async () => (await subStatus()) === 'READONLY', { what: 'sub_status READONLY', timeoutMs: 20_000, intervalMs: 100 });
    await expect(admin("insert into big (pad) values ('y')")).rejects.toThrow(/read-only transaction/);
    expect(await admin<{ n: number }>('select count(*)::int as n from big')).toEqual([{ n: 85000 }]);
    const on = (await events()).find((e) => e.name === 'read_only_on');
    expect(on?.description).toMatch(/read-only: a member's data passed 0.75 %/);
    // dwsbox's own sessions still write
    const u = await t.client.request('POST', `/v1/{project_id}/clusters/${id}/db-manager/users`, {
      name: 'cleaner',
      type: 'USER',
      password: 'Cleaner-Pass-123',
    });
    expect(u.status, JSON.stringify(u.body)).toBe(200);
  });

  it('CancelReadonlyCluster makes it writable again, and it stays so while the data is above the threshold', async () => {
    const r = await t.client.request('POST', `/v1.0/{project_id}/clusters/${id}/cancel-readonly`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await subStatus()).toBe('NORMAL');
    expect(await admin("insert into big (pad) values ('y') returning id")).toHaveLength(1);
    await protect();
    expect((await t.svc.store.getClusterById(id))!.readOnly).toBe('LIFTED');
    expect(await admin("insert into big (pad) values ('z') returning id")).toHaveLength(1);
    expect((await events()).map((e) => e.name)).toContain('read_only_lifted');
    // not read-only any more: 409, nothing changed
    const again = await t.client.request<{ error_code: string }>('POST', `/v1.0/{project_id}/clusters/${id}/cancel-readonly`);
    expect([again.status, again.body.error_code]).toEqual([409, 'DWS.0011']);
  });
});
