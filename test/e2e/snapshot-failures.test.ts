/**
 * Snapshots that fail, for real and by injection, and what the task-details endpoint tells;
 * the stored progress history of a backup; the 400/404 answers of the endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { existsSync, readdirSync } from 'node:fs';
import { ADMIN_PASSWORD, createAvailableCluster, getCluster, startService, type TestService } from '../helpers/service.js';
import { processesUnder, waitFor } from '../helpers/env.js';
import { queryRestoredSnapshot } from '../helpers/restore-check.js';

let t: TestService;
let clusterId: string;
let stanza: string;

interface Snap {
  id: string;
  status: string;
  backup_key: string;
}
interface SubItem {
  sub_item_name: string;
  status: string;
  detail: string;
  step: string;
  end_time: string | null;
  estimated_time: number;
}
interface Action {
  id: string;
  status: string;
  action_name: string;
  items: { item_name: string; sub_items: SubItem[] }[];
}

const info = (s: SubItem): Record<string, unknown> => JSON.parse(JSON.parse(s.detail).progressInfo) as Record<string, unknown>;

async function sql(text: string): Promise<void> {
  const c = await getCluster(t.client, clusterId);
  const [host, port] = c.endpoints[0]!.connect_info.split(':');
  const client = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function startSnapshot(name: string): Promise<string> {
  return (
    await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', { snapshot: { name, cluster_id: clusterId } })
  ).snapshot.id;
}

async function finished(id: string): Promise<Snap> {
  return waitFor(
    async () => {
      const s = (await t.client.call<{ snapshot: Snap }>('GET', `/v1.0/{project_id}/snapshots/${id}`)).snapshot;
      return s.status === 'CREATING' ? null : s;
    },
    { what: `snapshot ${id}` },
  );
}

let good: Snap;

beforeAll(async () => {
  t = await startService();
  const c = await createAvailableCluster(t.client);
  clusterId = c.id;
  stanza = `cluster-${clusterId}`;
  // About 60 MB in several files: a backup takes long enough to be caught mid-flight.
  await sql(`do $$ begin for i in 0..5 loop
    execute format('create table t%s as select g as id, md5(random()::text) || md5(random()::text) || md5(random()::text) as payload from generate_series(1, 80000) g', i);
  end loop; end $$`);
  await sql('checkpoint');
  good = await finished(await startSnapshot('good-one'));
  expect(good.status).toBe('AVAILABLE');
});
afterAll(async () => {
  await t?.stop();
});

describe('the task-details endpoint', () => {
  it('answers 400 for an unknown action name and 404 when the cluster never had such a task', async () => {
    const bad = await t.client.request<{ error_code: string }>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/SLEEPING`);
    expect(bad.status).toBe(400);
    expect(bad.body.error_code).toBe('DWS.9907');
    const none = await t.client.request<{ error_code: string }>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/GROWING`);
    expect(none.status).toBe(404);
    expect(none.body.error_code).toBe('DWS.9902');
    const noFailure = await t.client.request<{ error_code: string }>(
      'GET',
      `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING_FAILED`,
    );
    expect(noFailure.status).toBe(404);
    const otherCluster = await t.client.request<{ error_code: string }>(
      'GET',
      '/v1/{project_id}/clusters/4a7d1ed4-1e4f-4c1a-9d5a-8c3f0e6b2a11/actions/SNAPSHOTTING',
    );
    expect(otherCluster.body.error_code).toBe('DWS.0047');
  });

  it("stores the backup's progress samples: rising, and ending on pgBackRest's own figure", async () => {
    const a = await t.client.call<Action>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING`);
    const samples = (await t.svc.store.listSamples(a.id, 'BACKUP')).filter((s) => s.bytesDone !== null);
    expect(samples.length).toBeGreaterThanOrEqual(3);
    const values = samples.map((s) => s.bytesDone!);
    const rises = values.filter((v, i) => i > 0 && v > values[i - 1]!).length;
    expect(rises).toBeGreaterThanOrEqual(2);
    const last = samples.at(-1)!;
    expect(last.source).toBe('pgbackrest info');
    const set = (await t.svc.dataPlane.backrest.info({ stanza, configFile: t.svc.dataPlane.stanzaConfigFile(stanza) })).sets.find(
      (s) => s.annotation['snapshot_id'] === good.id,
    )!;
    expect(last.bytesDone).toBe(set.copiedBytes);
    expect(samples.every((s) => typeof s.source === 'string' && s.source.length > 0)).toBe(true);
    const backup = a.items[0]!.sub_items.find((s) => s.step === 'BACKUP')!;
    const pi = info(backup);
    expect(pi['backupSize']).toBe(set.copiedBytes);
    expect(String((pi['backupRate'] as Record<string, string>)['producerRate'])).toMatch(/^\d+\.\dMB\/s$/);
  });
});

describe('failed snapshots', () => {
  it('an injected fault fails the snapshot the way a real failure does, labelled as injected', async () => {
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      cluster_id: clusterId,
      action_name: 'SNAPSHOTTING',
      step: 'BACKUP',
      mode: 'fail',
      point: 'before',
      times: 1,
    });
    const s = await finished(await startSnapshot('injected'));
    expect(s.status).toBe('UNAVAILABLE');
    const a = await t.client.call<Action>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING_FAILED`);
    expect(a.status).toBe('FAILED');
    expect(a.action_name).toBe('SNAPSHOTTING_FAILED');
    const failed = a.items[0]!.sub_items.find((x) => x.status === 'FAILED')!;
    expect(failed.sub_item_name).toBe('Perform a backup');
    const pi = info(failed);
    expect(pi['failedStep']).toBe('BACKUP');
    expect(pi['errorCode']).toBe('DWS.9922');
    expect(String(pi['errorMsg'])).toMatch(/Injected fault/);
    const c = await getCluster(t.client, clusterId);
    expect(c.status).toBe('AVAILABLE');
    expect(c.task_status).toBe('');
  });

  it("a pgBackRest terminated mid-backup fails the snapshot with the tool's message; partial files go, earlier snapshots stay restorable", async () => {
    // Rewrite most of the data, so this differential has files to copy and is caught copying them.
    await sql(`do $$ begin for i in 1..5 loop execute format('update t%s set payload = md5(payload) || payload', i); end loop; end $$`);
    const id = await startSnapshot('terminated');
    await waitFor(async () => processesUnder(t.dataDir).find((p) => /pgbackrest .* backup$/.test(p.cmd)), {
      intervalMs: 20,
      what: 'pgbackrest backup to run',
    });
    // Wait until it is copying files (a sample from the running tool), then terminate it.
    await waitFor(
      async () => {
        const a = await t.client.call<Action>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING`);
        return a.items[0]!.sub_items.find((x) => x.step === 'BACKUP' && x.status === 'RUNNING' && Number(info(x)['backupSize']) > 0);
      },
      { intervalMs: 20, what: 'backup progress' },
    );
    // pgBackRest's backup runs in a process it forks from the one we started: terminate both.
    for (const p of processesUnder(t.dataDir).filter((x) => /pgbackrest .* backup$/.test(x.cmd))) process.kill(p.pid, 'SIGTERM');
    const s = await finished(id);
    expect(s.status).toBe('UNAVAILABLE');
    const a = await t.client.call<Action>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING_FAILED`);
    const failed = a.items[0]!.sub_items.find((x) => x.status === 'FAILED')!;
    const pi = info(failed);
    expect(pi['failedStep']).toBe('BACKUP');
    expect(String(pi['errorMsg'])).toMatch(/pgbackrest backup/);
    expect(String(pi['errorMsg'])).toMatch(/terminated on signal \[SIGTERM\]/);
    // No partial backup set left in the repository: every set directory is in pgBackRest's catalog.
    const listed = new Set(
      (await t.svc.dataPlane.backrest.info({ stanza, configFile: t.svc.dataPlane.stanzaConfigFile(stanza) })).sets.map((x) => x.label),
    );
    const dir = t.svc.dataPlane.backrest.backupDir(stanza);
    const onDisk = existsSync(dir) ? readdirSync(dir).filter((d) => /^\d{8}-\d{6}F/.test(d)) : [];
    expect(onDisk.filter((d) => !listed.has(d))).toEqual([]);
    expect(processesUnder(t.dataDir).filter((p) => /pgbackrest/.test(p.cmd))).toEqual([]);
    const rows = await queryRestoredSnapshot<{ n: number }>(t.svc, good.id, 'select count(*)::int as n from t0');
    expect(rows[0]!.n).toBe(80000);
    expect((await getCluster(t.client, clusterId)).status).toBe('AVAILABLE');
  });

  it('a snapshot while another runs is refused with 409 DWS.0011, and the cluster shows SNAPSHOTTING', async () => {
    const id = await startSnapshot('busy-one');
    const c = await getCluster(t.client, clusterId);
    expect(c.task_status).toBe('SNAPSHOTTING');
    expect(c.action_progress).toHaveProperty('SNAPSHOTTING');
    const r = await t.client.request<{ error_code: string }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'second-one', cluster_id: clusterId },
    });
    expect(r.status).toBe(409);
    expect(r.body.error_code).toBe('DWS.0011');
    const restart = await t.client.request<{ error_code: string }>('POST', `/v1.0/{project_id}/clusters/${clusterId}/restart`);
    expect(restart.status).toBe(409);
    expect((await finished(id)).status).toBe('AVAILABLE');
  });
});
