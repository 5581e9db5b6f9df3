/**
 * Restore in place (issue 20), end to end: one scenario, run by test/e2e/restore-in-place.test.ts
 * on the test engine (Patroni unless DWSBOX_TEST_ENGINE says otherwise) and by
 * test/e2e/restore-in-place-local.test.ts on the local engine (`LOCAL_ENGINE`).
 *
 * A three-node cluster gets a table with rows 1..5, a snapshot S, then rows 6..12, each
 * committed alone with the client's clock read around it, and a table `later`. Then, on the
 * same cluster, one after another:
 * 1. refusals (no snapshot nor time, a time in the future): 400, no task, nothing changed;
 * 2. a point in time between two rows of 6..12, in place: UNAVAILABLE with task_status
 *    RESTORING while it runs; then exactly the rows committed by then, on the primary and on
 *    every standby (streaming), the endpoints' addresses unchanged, the safety snapshot
 *    AVAILABLE and holding what the cluster held when it was stopped, new writes replicated,
 *    and a point-in-time restore into a new cluster to a time after it, from S (taken before
 *    the fork), follows the cluster's new timeline: rows 1..8 and the new one;
 * 3. snapshot S in place (to its consistent point, on its own timeline, which the cluster
 *    left in 2): rows 1..5, no table `later`; the cluster's `restore_window` names both spans
 *    on timelines the cluster left, and a time in one is refused (400 DWS.9983);
 * 4. a failure before the data was touched (a fault at SAFETY_SNAPSHOT): the members start again
 *    as they were, the safety snapshot's record goes;
 * 5. a failure after the data was touched (a fault at RECOVER_PRIMARY): the task rolls back to
 *    its safety snapshot (ROLLBACK_SUCCESS), the cluster AVAILABLE with RESTORING_FAILED,
 *    holding exactly what it held before, a row written just before the restore among it.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './env.js';
import { deleteCluster } from './crash.js';
import { adminSql } from './restore-data.js';
import {
  ADMIN_PASSWORD,
  createAvailableCluster,
  delayStep,
  getCluster,
  startService,
  takeSnapshot,
  waitIdle,
  type TestService,
} from './service.js';

interface Row {
  n: number;
  before: number;
  after: number;
}
interface TaskBody {
  status: string;
  action_name: string;
  items: { item_name: string; sub_items: { step: string; status: string; detail: string }[] }[];
}
interface SnapshotOut {
  id: string;
  name: string;
  status: string;
  description: string;
  cluster_id: string;
  support_inplace_restore: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function keys(endpoint: string): Promise<number[]> {
  const r = await adminSql<{ a: number[] | null }>(endpoint, 'select array_agg(n order by n) as a from rows_t');
  return r[0]!.a ?? [];
}
async function hasLater(endpoint: string): Promise<boolean> {
  const r = await adminSql<{ e: boolean }>(endpoint, `select to_regclass('public.later') is not null as e`);
  return r[0]!.e;
}

export function inPlaceScenario(o: { flags?: Record<string, unknown> } = {}): void {
  let t: TestService;
  let cluster: { id: string; endpoint: string; connect: string[] };
  let snapS: string;
  const rows: Row[] = [];

  /** The in-place restore asked for; its job, then the cluster at rest. */
  async function restoreInPlace(body: Record<string, unknown>) {
    const r = await t.client.call<{ job_id: string; snapshot_id: string; safety_snapshot_id: string }>(
      'POST',
      `/v1.0/{project_id}/clusters/${cluster.id}/in-place-restore`,
      { restore: body },
    );
    const during = await getCluster(t.client, cluster.id);
    return { ...r, during };
  }

  /** Every standby streams and holds what the primary holds. */
  async function standbysHold(d: Awaited<ReturnType<typeof getCluster>>, want: number[]): Promise<void> {
    const ep = d.endpoints[0]!.connect_info;
    const standbys = d.nodes.filter((x) => x.role !== 'primary').map((x) => x.connect_info);
    expect(standbys).toHaveLength(2);
    await waitFor(
      async () => {
        const n = await adminSql<{ n: number }>(ep, `select count(*)::int as n from pg_stat_replication where state = 'streaming'`);
        return n[0]!.n === 2 ? true : null;
      },
      { what: 'both standbys streaming', timeoutMs: 60_000 },
    );
    // Each standby replays up to the primary's last commit within moments.
    for (const s of standbys)
      await waitFor(async () => (JSON.stringify(await keys(s)) === JSON.stringify(want) ? true : null), {
        what: `standby ${s} to hold ${JSON.stringify(want)} (it holds ${JSON.stringify(await keys(s))})`,
        timeoutMs: 30_000,
      });
  }

  beforeAll(async () => {
    t = await startService(o.flags ? { flags: o.flags } : {});
    const c = await createAvailableCluster(t.client);
    cluster = { id: c.id, endpoint: c.detail.endpoints[0]!.connect_info, connect: c.detail.nodes.map((n) => n.connect_info).sort() };
    await adminSql(cluster.endpoint, 'create table rows_t (n int primary key)');
    await adminSql(cluster.endpoint, 'insert into rows_t select generate_series(1, 5)');
    const s = await takeSnapshot(t.client, cluster.id, 'inplace-s');
    expect(s.status).toBe('AVAILABLE');
    snapS = s.id;
    const [host, port] = cluster.endpoint.split(':');
    const db = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
    db.on('error', () => {});
    await db.connect();
    try {
      for (let n = 6; n <= 12; n++) {
        const before = Date.now();
        await db.query('insert into rows_t values ($1)', [n]);
        rows.push({ n, before, after: Date.now() });
        await sleep(40);
      }
      await db.query('create table later (x int)');
    } finally {
      await db.end().catch(() => {});
    }
  });

  afterAll(async () => {
    await t?.stop();
  });

  describe('restore in place', () => {
    it('the snapshot says it can be restored in place; bad requests are refused (400) and change nothing', async () => {
      const s = await t.client.call<{ snapshot: SnapshotOut }>('GET', `/v1.0/{project_id}/snapshots/${snapS}`);
      expect(s.snapshot.support_inplace_restore).toBe(true);
      const path = `/v1.0/{project_id}/clusters/${cluster.id}/in-place-restore`;
      const none = await t.client.request<{ error_code: string; error_msg: string }>('POST', path, { restore: {} });
      expect(none.status, JSON.stringify(none.body)).toBe(400);
      expect(none.body.error_msg).toMatch(/snapshot_id or restore.restore_time/);
      const future = await t.client.request<{ error_code: string; error_msg: string }>('POST', path, {
        restore: { restore_time: Date.now() + 3_600_000 },
      });
      expect(future.status, JSON.stringify(future.body)).toBe(400);
      expect(future.body.error_code).toBe('DWS.9983');
      const d = await getCluster(t.client, cluster.id);
      expect(d.status).toBe('AVAILABLE');
      expect(d.task_status).toBe('');
      expect(await keys(cluster.endpoint)).toEqual(range(1, 12));
    });

    it('to a point in time: UNAVAILABLE while it runs, then exactly the rows committed by then on every node, the same addresses, a safety snapshot of what was there', async () => {
      // A time strictly between row 8's commit and row 9's.
      const a = rows.find((r) => r.n === 8)!;
      const b = rows.find((r) => r.n === 9)!;
      expect(b.before - a.after).toBeGreaterThan(5);
      const time = a.after + Math.floor((b.before - a.after) / 2);
      const r = await restoreInPlace({ restore_time: time });
      expect(r.snapshot_id).toBe(snapS);
      expect(r.during.status).toBe('UNAVAILABLE');
      expect(r.during.task_status).toBe('RESTORING');
      const d = await waitIdle(t.client, cluster.id, 300_000);
      const task = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${cluster.id}/actions/RESTORING`);
      expect(task.status, JSON.stringify(task)).toBe('SUCCESS');
      expect(task.items.flatMap((i) => i.sub_items.map((s) => s.step))).toEqual([
        'ARCHIVE_SOURCE_WAL',
        'STOP_NODES',
        'SAFETY_SNAPSHOT',
        'RESTORE_PRIMARY',
        'RECOVER_PRIMARY',
        'ENABLE_ARCHIVING',
        'REBUILD_STANDBYS',
        'CHECK_CONNECTIONS',
      ]);
      expect(d.status, JSON.stringify(d.failed_reasons)).toBe('AVAILABLE');
      expect(d.task_status).toBe('');
      expect(d.endpoints[0]!.connect_info).toBe(cluster.endpoint);
      expect(d.nodes.map((n) => n.connect_info).sort()).toEqual(cluster.connect);
      expect(await keys(cluster.endpoint)).toEqual(range(1, 8));
      expect(await hasLater(cluster.endpoint)).toBe(false);
      await standbysHold(d, range(1, 8));
      // The safety snapshot: AVAILABLE, of this cluster, saying what took it.
      const safety = (await t.client.call<{ snapshot: SnapshotOut }>('GET', `/v1.0/{project_id}/snapshots/${r.safety_snapshot_id}`))
        .snapshot;
      expect(safety.status).toBe('AVAILABLE');
      expect(safety.cluster_id).toBe(cluster.id);
      expect(safety.description).toMatch(/in-place restore/);
      // New writes work and reach the standbys.
      await adminSql(cluster.endpoint, 'insert into rows_t values (100)');
      await standbysHold(d, [...range(1, 8), 100]);
      // A point in time after the restore, from S (taken before it): the history follows the new timeline from its fork.
      await sleep(20);
      const after = Date.now();
      await sleep(20);
      const n = await t.client.call<{ cluster: { id: string } }>(
        'POST',
        `/v1.0/{project_id}/clusters/${cluster.id}/point-in-time-restore`,
        {
          restore: { name: 'inplace-after-fork', restore_point: { restore_time: after } },
        },
      );
      const nd = await waitIdle(t.client, n.cluster.id, 300_000);
      expect(nd.status, JSON.stringify(nd.failed_reasons)).toBe('AVAILABLE');
      expect(await keys(nd.endpoints[0]!.connect_info)).toEqual([...range(1, 8), 100]);
      await deleteCluster(t.client, n.cluster.id);
    });

    it("a snapshot in place, on the timeline the cluster left: the snapshot's rows and nothing after", async () => {
      // Held before it stops the members: meanwhile a restore of this cluster to a time is refused (the timeline it makes).
      await delayStep(t.client, cluster.id, 'RESTORING', 'STOP_NODES', 3000);
      const r = await restoreInPlace({ snapshot_id: snapS });
      expect(r.during.status).toBe('UNAVAILABLE');
      const pitr = await t.client.request<{ error_code: string; error_msg: string }>(
        'POST',
        `/v1.0/{project_id}/clusters/${cluster.id}/point-in-time-restore`,
        { restore: { name: 'inplace-meanwhile', restore_point: { restore_time: Date.now() - 500 } } },
      );
      expect(pitr.status, JSON.stringify(pitr.body)).toBe(400);
      expect(pitr.body.error_msg).toMatch(/being restored in place/);
      const d = await waitIdle(t.client, cluster.id, 300_000);
      expect(d.status, JSON.stringify(d.failed_reasons)).toBe('AVAILABLE');
      expect(await keys(cluster.endpoint)).toEqual(range(1, 5));
      await standbysHold(d, range(1, 5));
      expect(d.endpoints[0]!.connect_info).toBe(cluster.endpoint);
      // The window names the spans on the timelines the cluster left, and a time in one is refused.
      const w = (d as unknown as { restore_window: { excluded: { start_time: string; end_time: string; reason: string }[] } })
        .restore_window;
      expect(w.excluded, JSON.stringify(w)).toHaveLength(2);
      for (const x of w.excluded) expect(x.reason).toMatch(/timeline the cluster left/);
      const row10 = rows.find((x) => x.n === 10)!;
      const refused = await t.client.request<{ error_code: string; error_msg: string }>(
        'POST',
        `/v1.0/{project_id}/clusters/${cluster.id}/in-place-restore`,
        { restore: { restore_time: row10.after + 1 } },
      );
      expect(refused.status, JSON.stringify(refused.body)).toBe(400);
      expect(refused.body.error_code).toBe('DWS.9983');
      expect(refused.body.error_msg).toMatch(/timeline the cluster left/);
    });

    it('a failure before the data was touched starts the members again as they were (no safety snapshot left behind)', async () => {
      await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
        cluster_id: cluster.id,
        action_name: 'RESTORING',
        step: 'SAFETY_SNAPSHOT',
        mode: 'fail',
        point: 'before',
        times: 1,
      });
      const r = await restoreInPlace({ snapshot_id: snapS });
      const d = await waitIdle(t.client, cluster.id, 300_000);
      const failed = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${cluster.id}/actions/RESTORING_FAILED`);
      expect(failed.status, JSON.stringify(failed)).toBe('ROLLBACK_SUCCESS');
      expect(failed.items.flatMap((i) => i.sub_items.map((s) => s.step))).toContain('START_NODES');
      expect(d.status, JSON.stringify(d.failed_reasons)).toBe('AVAILABLE');
      expect(d.task_status).toBe('RESTORING_FAILED');
      expect(await keys(cluster.endpoint)).toEqual(range(1, 5));
      await standbysHold(d, range(1, 5));
      const gone = await t.client.request('GET', `/v1.0/{project_id}/snapshots/${r.safety_snapshot_id}`);
      expect(gone.status).toBe(404);
    });

    it('a failure after the data was touched rolls back to the safety snapshot: the cluster holds exactly what it held', async () => {
      await adminSql(cluster.endpoint, 'insert into rows_t values (200)');
      await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
        cluster_id: cluster.id,
        action_name: 'RESTORING',
        step: 'RECOVER_PRIMARY',
        mode: 'fail',
        point: 'before',
        times: 1,
      });
      const r = await restoreInPlace({ snapshot_id: snapS });
      const d = await waitIdle(t.client, cluster.id, 300_000);
      const failed = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${cluster.id}/actions/RESTORING_FAILED`);
      expect(failed.status, JSON.stringify(failed)).toBe('ROLLBACK_SUCCESS');
      expect(failed.items.flatMap((i) => i.sub_items.map((s) => s.step))).toContain('RESTORE_SAFETY_SNAPSHOT');
      expect(d.status, JSON.stringify(d.failed_reasons)).toBe('AVAILABLE');
      expect(d.task_status).toBe('RESTORING_FAILED');
      expect(await keys(cluster.endpoint)).toEqual([...range(1, 5), 200]);
      await standbysHold(d, [...range(1, 5), 200]);
      const safety = (await t.client.call<{ snapshot: SnapshotOut }>('GET', `/v1.0/{project_id}/snapshots/${r.safety_snapshot_id}`))
        .snapshot;
      expect(safety.status).toBe('AVAILABLE');
    });
  });
}
