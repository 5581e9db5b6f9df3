/**
 * Snapshot policies end to end (docs/snapshot-policies.md), on a real cluster, in process:
 * - a strategy every 4 seconds produces AUTO snapshots through the same snapshot.create task
 *   and task-details endpoint as manual ones, exactly one per fired slot (policy_fires);
 * - the service stops for more than two slots and starts again on the same data directory:
 *   the missed slots fire once (the latest), not once per slot;
 * - after the strategy is deleted nothing more fires;
 * - retention, run at a chosen moment (the scheduler's `applyRetention(now)`: the injected
 *   clock of this test), hides exactly the AUTO snapshots older than keep_day; the stanza's
 *   expire task removes their backup sets except the full the newest AUTO snapshot needs (a
 *   new full every 3 snapshots here), the manual snapshot and the newest AUTO one stay, and
 *   the newest AUTO one still restores;
 * - each AUTO snapshot shows its slot, the strategy's schedule and keep_day (bak_*), and the
 *   cluster's snapshot statistics are the sizes pgBackRest measured (issue 16).
 * No assertion is on how long anything takes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { ADMIN_PASSWORD, createAvailableCluster, startService, waitIdle, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/env.js';
import { queryRestoredSnapshot } from '../helpers/restore-check.js';
import { autoSnapshotName, DAY_MS } from '../../src/services/snapshot-scheduler.js';
import { latestFireAtOrBefore, parseSchedule } from '../../src/domain/snapshot-policy.js';
import { snapshotTime } from '../../src/domain/time.js';
import { gigabytes } from '../../src/api/schemas/snapshot.js';

// A strategy every 4 s: the minimum interval between fires (default 1 h, fair shares) lowered to 1 s.
const FLAGS = { schedulerIntervalMs: 200, snapshotFullEvery: 3, policyMinIntervalMs: 1000 };
const PERIOD_MS = 4000;
const SCHEDULE = '*/4 * * * * ?';

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
  name: string;
  status: string;
  type: string;
  description: string;
}

interface BakFields {
  id: string;
  bak_expected_start_time: string | null;
  bak_period: string | null;
  bak_keep_day: number;
}

async function clusterSnapshots(): Promise<Snap[]> {
  return (await t.client.call<{ snapshots: Snap[] }>('GET', `/v1.0/{project_id}/clusters/${clusterId}/snapshots`)).snapshots;
}

beforeAll(async () => {
  t = await startService({ flags: FLAGS });
  const c = await createAvailableCluster(t.client);
  clusterId = c.id;
  primary = c.detail.endpoints[0]!.connect_info;
  await sql('create table marks as select g as id from generate_series(1, 1000) g');
});
afterAll(async () => {
  await t?.stop();
});

describe('snapshot policies on a real cluster', () => {
  it(
    'fires one AUTO snapshot per slot, runs missed slots once after a restart, stops when deleted; retention expires exactly the old AUTO snapshots',
    { timeout: 900_000 },
    async () => {
      // A manual snapshot first: retention never touches it.
      const manual = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
        snapshot: { name: 'manual-base', cluster_id: clusterId },
      });
      await waitIdle(t.client, clusterId);

      await t.client.call('PUT', `/v2/{project_id}/clusters/${clusterId}/snapshot-policies`, {
        keep_day: 1,
        backup_strategies: [{ policy_name: 'every-4s', backup_strategy: SCHEDULE, backup_type: 'increment', backup_level: 'cluster' }],
      });
      const policyId = (
        await t.client.call<{ backup_strategies: { policy_id: string }[] }>(
          'GET',
          `/v2/{project_id}/clusters/${clusterId}/snapshot-policies`,
        )
      ).backup_strategies[0]!.policy_id;

      // Two AUTO snapshots, AVAILABLE, through the same task and task-details endpoint as manual ones.
      await waitFor(async () => (await clusterSnapshots()).filter((s) => s.type === 'AUTO' && s.status === 'AVAILABLE').length >= 2, {
        timeoutMs: 300_000,
        intervalMs: 500,
        what: 'two AUTO snapshots',
      });
      const action = await t.client.call<{ action_name: string; status: string }>(
        'GET',
        `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING`,
      );
      expect(action.action_name).toBe('SNAPSHOTTING');

      // Stop the service (the cluster keeps running, D1) at rest, for more than two slots.
      await waitIdle(t.client, clusterId);
      const dataDir = t.dataDir;
      await t.svc.stop();
      const stoppedAt = Date.now();
      const firesBeforeStop = await (async () => {
        const { openStore } = await import('../../src/store/open-store.js');
        const s = openStore(`${dataDir}/dwsbox.sqlite`);
        try {
          return await s.listPolicyFires(policyId);
        } finally {
          await s.close();
        }
      })();
      await new Promise((r) => setTimeout(r, 3 * PERIOD_MS));
      const restartAt = Date.now();
      t = await startService({ dataDir, flags: FLAGS });

      // After the restart: fires go on (the missed slots' one, then more).
      await waitFor(async () => (await t.svc.store.listPolicyFires(policyId)).filter((f) => f.fireTime > stoppedAt).length >= 2, {
        timeoutMs: 300_000,
        intervalMs: 500,
        what: 'two fires after the restart',
      });
      await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${clusterId}/snapshot-policies/${policyId}`);
      const deletedAt = Date.now();
      await waitIdle(t.client, clusterId);

      const fires = await t.svc.store.listPolicyFires(policyId);
      // Every fire made a snapshot, on a slot of the schedule, each slot at most once.
      expect(fires.every((f) => f.outcome === 'CREATED' && f.snapshotId !== null)).toBe(true);
      expect(fires.every((f) => f.fireTime % PERIOD_MS === 0)).toBe(true);
      expect(new Set(fires.map((f) => f.fireTime)).size).toBe(fires.length);
      // Nothing fired while no service ran, nor after the strategy was deleted.
      expect(fires.filter((f) => f.createdAt > stoppedAt && f.createdAt < restartAt)).toEqual([]);
      expect(fires.filter((f) => f.fireTime > deletedAt)).toEqual([]);
      expect(fires.slice(0, firesBeforeStop.length)).toEqual(firesBeforeStop);
      // The slots missed while the service was down fired once: the first fire after the restart
      // is at or after the latest slot before the restart, and no slot between the last fire
      // before the stop and it fired.
      const after = fires.filter((f) => f.fireTime > firesBeforeStop.at(-1)!.fireTime);
      const missedSlot = latestFireAtOrBefore(parseSchedule(SCHEDULE), 0, restartAt)!;
      expect(missedSlot - firesBeforeStop.at(-1)!.fireTime).toBeGreaterThanOrEqual(2 * PERIOD_MS);
      expect(after[0]!.fireTime).toBeGreaterThanOrEqual(missedSlot);

      // The AUTO snapshots are exactly the fires' snapshots, named after their slots.
      const snaps = await clusterSnapshots();
      const autos = snaps.filter((s) => s.type === 'AUTO');
      expect(autos.map((s) => s.id).sort()).toEqual(fires.map((f) => f.snapshotId!).sort());
      for (const f of fires) expect(autos.find((s) => s.id === f.snapshotId)!.name).toBe(autoSnapshotName(policyId, f.fireTime));
      expect(autos.every((s) => s.status === 'AVAILABLE')).toBe(true);
      expect(snaps.filter((s) => s.type === 'MANUAL').map((s) => s.id)).toEqual([manual.snapshot.id]);
      expect(autos.length).toBeGreaterThanOrEqual(4);

      // Each AUTO snapshot shows its fire (issue 16): the slot, the strategy's schedule (deleted
      // since: the snapshot kept it), the cluster's keep_day; the manual one none of these.
      const wire = new Map(
        (await t.client.call<{ snapshots: BakFields[] }>('GET', `/v1.0/{project_id}/clusters/${clusterId}/snapshots`)).snapshots.map(
          (s) => [s.id, s],
        ),
      );
      for (const f of fires)
        expect(wire.get(f.snapshotId!)).toMatchObject({
          bak_expected_start_time: snapshotTime(f.fireTime),
          bak_period: SCHEDULE,
          bak_keep_day: 1,
        });
      expect(wire.get(manual.snapshot.id)).toMatchObject({ bak_expected_start_time: null, bak_period: null, bak_keep_day: -1 });

      // ListSnapshotStatistics from the sizes pgBackRest measured for these backup sets, and the counts.
      const kept = (
        await t.svc.store.listStanzaSnapshots((await t.svc.store.getCluster(t.svc.config.projectId!, clusterId))!.stanza)
      ).filter((s) => s.clusterId === clusterId);
      const measured = kept.reduce((sum, s) => sum + (s.sizeBytes ?? 0), 0);
      expect(measured).toBeGreaterThan(0);
      const stats = new Map(
        (
          await t.client.call<{ statistics: { name: string; value: number; unit: string }[] }>(
            'GET',
            `/v1.0/{project_id}/clusters/${clusterId}/snapshots/statistics`,
          )
        ).statistics.map((x) => [x.name, x]),
      );
      expect(stats.get('storage.used')).toEqual({ name: 'storage.used', value: gigabytes(measured), unit: 'GB' });
      expect(stats.get('snapshots.auto')?.value).toBe(autos.length);
      expect(stats.get('snapshots.manual')?.value).toBe(1);
      // ListSnapshotFlavorInfo: the node type and count the snapshot was taken of, the cluster's.
      const detail = (
        await t.client.call<{ cluster: { node_type: string; number_of_node: number } }>('GET', `/v1.0/{project_id}/clusters/${clusterId}`)
      ).cluster;
      const flavors = await t.client.call<{ flavors: { code: string; default_node: number }[]; count: number }>(
        'GET',
        `/v2/{project_id}/snapshots/${autos[0]!.id}/flavors`,
      );
      expect(flavors).toMatchObject({ count: 1, flavors: [{ code: detail.node_type, default_node: detail.number_of_node }] });

      // Retention at a chosen moment: keep_day 1 day after the newest AUTO snapshot was created,
      // every older AUTO snapshot is past keep_day; the newest is not (strictly older only).
      const records = (await t.svc.store.listSnapshots(t.svc.config.projectId!, clusterId))
        .filter((s) => s.type === 'AUTO')
        .sort((a, b) => a.createdAt - b.createdAt);
      const newest = records.at(-1)!;
      const hidden = await t.svc.scheduler.applyRetention(newest.createdAt + 1 * DAY_MS);
      expect(hidden.sort()).toEqual(
        records
          .slice(0, -1)
          .map((s) => s.id)
          .sort(),
      );
      for (const id of hidden) expect((await t.client.request('GET', `/v1.0/{project_id}/snapshots/${id}`)).status).toBe(404);
      const visible = await clusterSnapshots();
      expect(visible.map((s) => s.id).sort()).toEqual([manual.snapshot.id, newest.id].sort());

      // The stanza's repository task removes the hidden snapshots' backup sets, except one a
      // visible snapshot needs (D2): the full the newest AUTO snapshot is a differential of, when
      // that full is itself an AUTO snapshot (a new full every 3 snapshots here, so it often is).
      const needed =
        newest.priorBackupKey && newest.priorBackupKey !== 'FULL' ? records.find((r) => r.backupKey === newest.priorBackupKey) : undefined;
      const expected = hidden.filter((id) => id !== needed?.id);
      await waitFor(
        async () => {
          const rows = await Promise.all(expected.map((id) => t.svc.store.getSnapshotById(id)));
          return rows.every((r) => r?.expiredAt !== null) && !(await t.svc.store.activeTask(`stanza:${newest.stanza}`));
        },
        { timeoutMs: 180_000, intervalMs: 500, what: "the expired AUTO snapshots' backup sets to be removed" },
      );
      if (needed) expect((await t.svc.store.getSnapshotById(needed.id))!.expiredAt).toBeNull();
      console.log(
        'snapshot-policy retention figures',
        JSON.stringify({ auto: records.length, hidden: hidden.length, keptForTheNewest: needed ? needed.name : null }),
      );
      // A second pass at the same moment has nothing left to do; the manual snapshot and the newest AUTO one stay usable.
      expect(await t.svc.scheduler.applyRetention(newest.createdAt + 1 * DAY_MS)).toEqual([]);
      const rows = await queryRestoredSnapshot<{ n: number }>(t.svc, newest.id, 'select count(*)::int as n from marks');
      expect(rows[0]!.n).toBe(1000);
    },
  );

  it(
    'a table-level strategy fires logical AUTO snapshots of exactly that table; a fire whose table does not exist is refused and recorded; backup_type full forces full backups',
    { timeout: 600_000 },
    async () => {
      await t.client.call('PUT', `/v2/{project_id}/clusters/${clusterId}/snapshot-policies`, {
        backup_strategies: [
          {
            policy_name: 'marks-table',
            backup_strategy: SCHEDULE,
            backup_level: 'table',
            backup_database: 'postgres',
            backup_table_list: 'public.marks',
          },
          {
            policy_name: 'ghost-table',
            backup_strategy: SCHEDULE,
            backup_level: 'table',
            backup_database: 'postgres',
            backup_table_list: 'public.ghost',
          },
          { policy_name: 'always-full', backup_strategy: SCHEDULE, backup_level: 'cluster', backup_type: 'full' },
        ],
      });
      const strategies = (
        await t.client.call<{ backup_strategies: { policy_id: string; policy_name: string }[] }>(
          'GET',
          `/v2/{project_id}/clusters/${clusterId}/snapshot-policies`,
        )
      ).backup_strategies;
      const marks = strategies.find((x) => x.policy_name === 'marks-table')!.policy_id;
      const ghost = strategies.find((x) => x.policy_name === 'ghost-table')!.policy_id;
      const full = strategies.find((x) => x.policy_name === 'always-full')!.policy_id;
      await waitFor(
        async () => {
          const m = await t.svc.store.listPolicyFires(marks);
          const g = await t.svc.store.listPolicyFires(ghost);
          const f = await t.svc.store.listPolicyFires(full);
          return m.some((x) => x.outcome === 'CREATED') && g.length > 0 && f.filter((x) => x.outcome === 'CREATED').length >= 2;
        },
        { timeoutMs: 300_000, intervalMs: 500, what: 'a fire of each table-level strategy and two of the full one' },
      );
      for (const id of [marks, ghost, full])
        await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${clusterId}/snapshot-policies/${id}`);
      await waitIdle(t.client, clusterId);

      interface Detail {
        type: string;
        status: string;
        fine_grained_backup: boolean;
        backup_level: string;
        fine_grained_backup_detail: { database: string; table_list: string[] } | null;
      }
      const made = (await t.svc.store.listPolicyFires(marks)).filter((f) => f.outcome === 'CREATED');
      expect(made.length).toBeGreaterThan(0);
      for (const f of made) {
        const d = (await t.client.call<{ snapshot: Detail }>('GET', `/v1.0/{project_id}/snapshots/${f.snapshotId}`)).snapshot;
        expect(d).toMatchObject({
          type: 'AUTO',
          status: 'AVAILABLE',
          fine_grained_backup: true,
          backup_level: 'table',
          fine_grained_backup_detail: { database: 'postgres', table_list: ['public.marks'] },
        });
      }
      const refused = await t.svc.store.listPolicyFires(ghost);
      expect(refused.every((f) => f.outcome === 'REFUSED' && f.snapshotId === null && /ghost/.test(f.detail ?? ''))).toBe(true);
      expect((await clusterSnapshots()).filter((x) => x.name.endsWith(ghost.replace(/-/g, '').slice(0, 8)))).toEqual([]);
      // Every snapshot of the full strategy is a full backup, one after the other (the D2 chain
      // alone would take a differential after a full).
      const fulls = (await t.svc.store.listPolicyFires(full)).filter((f) => f.outcome === 'CREATED');
      for (const f of fulls) {
        const d = (
          await t.client.call<{ snapshot: { prior_backup_key: string; status: string; backup_level: string } }>(
            'GET',
            `/v1.0/{project_id}/snapshots/${f.snapshotId}`,
          )
        ).snapshot;
        expect(d).toMatchObject({ prior_backup_key: 'FULL', status: 'AVAILABLE', backup_level: 'cluster' });
      }
    },
  );
});
