/**
 * Crashes in the middle of the two long steps of logical (schema- and table-level) snapshots,
 * design D1, D13: the service runs as a child process with --enable-crash-faults and is
 * killed by a `crash` fault right after the step's first progress sample (its pg_dump or
 * pg_restore mid-flight). After a restart the task is taken over and the step starts over:
 * the dump is whole (no `.part` left), the scratch database is reloaded from empty, the table
 * matches the source by checksum, no tool outlives the crashed service, and no scratch
 * database is left. The logical snapshot comes from a one-off table-level snapshot policy
 * (the public CreateSnapshot body has no level fields).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildService, watchToolChildren, type ChildService } from '../helpers/child-service.js';
import { freePort, waitFor } from '../helpers/env.js';
import { longLivedChildren } from '../helpers/engine.js';
import { ADMIN_PASSWORD, SUBNET, VPC, waitIdle } from '../helpers/service.js';
import { adminSql, checksums, SCHEMA_SQL } from '../helpers/restore-data.js';

let svc: ChildService;
let clusterId: string;
let ep: string;
const DB = 'shop';

interface Job {
  job_id: string;
  status: string;
  failed_detail: string;
}
async function job(id: string): Promise<Job> {
  return waitFor(
    async () => {
      const j = await svc.client.call<Job>('GET', `/v1.0/{project_id}/job/${id}`);
      return j.status === 'SUCCESS' || j.status === 'FAIL' ? j : null;
    },
    { what: `job ${id}`, intervalMs: 200, timeoutMs: 300_000 },
  );
}

/** Arm a crash fault, let `start` run into it, see the service die by SIGKILL with no tool left, restart it. */
async function crashThenRestart(action: string, step: string, start: () => Promise<unknown>): Promise<number> {
  await svc.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
    cluster_id: clusterId,
    action_name: action,
    step,
    mode: 'crash',
    point: 'during',
    times: 1,
  });
  const crashed = svc.pid;
  const children = watchToolChildren(crashed, 20, longLivedChildren());
  await start();
  const exit = await svc.waitExit(240_000);
  children.stop();
  expect(exit.signal).toBe('SIGKILL');
  // D1: the pg_dump / pg_restore it was running died with it.
  await waitFor(async () => (children.survivors().length === 0 ? true : null), {
    what: "the crashed service's tools to die",
    timeoutMs: 10_000,
  });
  await svc.restart();
  return crashed;
}

beforeAll(async () => {
  svc = await startChildService({ settings: { leaseMs: 60_000 } });
  const r = await svc.client.call<{ cluster: { id: string } }>('POST', '/v1.0/{project_id}/clusters', {
    cluster: {
      name: `crashlogical${Math.random().toString(36).slice(2, 7)}`,
      node_type: 'dwsx.small',
      number_of_node: 3,
      subnet_id: SUBNET,
      vpc_id: VPC,
      user_name: 'dbadmin',
      user_pwd: ADMIN_PASSWORD,
      port: await freePort(),
    },
  });
  clusterId = r.cluster.id;
  const c = await waitIdle(svc.client, clusterId, 300_000);
  expect(c.status).toBe('AVAILABLE');
  ep = c.endpoints[0]!.connect_info;
  await adminSql(ep, `create database ${DB}`);
  await adminSql(ep, SCHEMA_SQL, DB);
}, 400_000);
afterAll(async () => {
  await svc?.cleanup();
});

describe('crashes in logical snapshots', () => {
  let snapshotId: string;
  let itemsAtSnapshot: string;

  it('a crash mid-dump: the restarted service dumps again, whole', { timeout: 400_000 }, async () => {
    itemsAtSnapshot = (await checksums(ep, { 'public.order_items': 'id' }, DB))['public.order_items']!;
    // A one-off strategy a few seconds from now (UTC wall time, time_zone_offset 0).
    const at = new Date(Date.now() + 5000).toISOString().slice(0, 19);
    const crashed = await crashThenRestart('SNAPSHOTTING', 'DUMP_OBJECTS', () =>
      svc.client.call('PUT', `/v2/{project_id}/clusters/${clusterId}/snapshot-policies`, {
        backup_strategies: [
          {
            policy_name: 'items-once',
            backup_strategy: at,
            backup_level: 'table',
            backup_database: DB,
            backup_table_list: 'public.order_items,public.orders',
          },
        ],
      }),
    );
    const snap = await waitFor(
      async () => {
        const l = await svc.client.call<{ snapshots: { id: string; status: string; backup_level: string }[] }>(
          'GET',
          `/v1.0/{project_id}/clusters/${clusterId}/snapshots`,
        );
        const s = l.snapshots.find((x) => x.backup_level === 'table');
        return s && s.status !== 'CREATING' ? s : null;
      },
      { what: 'the logical snapshot', intervalMs: 300, timeoutMs: 300_000 },
    );
    expect(snap.status).toBe('AVAILABLE');
    snapshotId = snap.id;
    const [task] = svc.storeQuery<{ id: string }>(`select id from tasks where snapshot_id = ? and kind = 'snapshot.create'`, snapshotId);
    expect(svc.ranBy(task!.id)).toEqual([crashed, svc.pid]);
    const stanza = svc.storeQuery<{ stanza: string }>('select stanza from snapshots where id = ?', snapshotId)[0]!.stanza;
    const dir = join(svc.dataDir, 'logical', stanza, snapshotId);
    expect(existsSync(join(dir, 'toc.dat'))).toBe(true);
    expect(existsSync(`${dir}.part`)).toBe(false);
  });

  it('a crash mid-load of the scratch database: the restarted service loads it again from empty', { timeout: 400_000 }, async () => {
    await adminSql(ep, 'drop table order_items', DB);
    let jobId = '';
    const crashed = await crashThenRestart('FINE_GRAINED_RESTORING', 'LOAD_SCRATCH_DB', async () => {
      jobId = (
        await svc.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${snapshotId}/table-restore`, {
          case_sensitive: true,
          database: DB,
          restore_table_list: [{ schema_name: 'public', table_name: 'order_items' }],
          target_table_list: [{ schema_name: 'public', table_name: 'order_items' }],
        })
      ).job_id;
    });
    const j = await job(jobId);
    expect(j.status, j.failed_detail).toBe('SUCCESS');
    expect(svc.ranBy(jobId)).toEqual([crashed, svc.pid]);
    expect((await checksums(ep, { 'public.order_items': 'id' }, DB))['public.order_items']).toBe(itemsAtSnapshot);
    expect(await adminSql(ep, `select datname from pg_database where datname like 'dwsbox_scratch%'`)).toEqual([]);
    expect(existsSync(join(svc.dataDir, 'tmp', jobId))).toBe(false);
  });
});
