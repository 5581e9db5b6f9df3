/**
 * Point-in-time restore into a new cluster, end to end: one scenario, run by
 * test/e2e/pitr.test.ts on the test engine (Patroni unless DWSBOX_TEST_ENGINE says otherwise)
 * and by test/e2e/pitr-local.test.ts on the local engine (`LOCAL_ENGINE`).
 *
 * A source cluster gets a table and a snapshot S, then 30 rows, each committed alone, with the
 * client's clock read just before each INSERT and just after it returned: row i's commit time
 * lies in [before_i, after_i] (same host clock as PostgreSQL). A restore time T strictly
 * between after_k and before_{k+1} must give exactly rows 1..k:
 * - the snapshot form (`POST …/snapshots/{id}/actions` with `restore_point`) to a T after row 17;
 * - the cluster form (`POST …/clusters/{id}/point-in-time-restore`) to a T after row 25, with a
 *   second snapshot S2 taken after the last row, so that the newest snapshot finished at or
 *   before T (S) is the one it must pick;
 * both restores run at once. Every standby of a restored cluster streams and holds what its
 * primary holds (nothing replayed past T). Times out of the restorable window (in the future,
 * before S finished) are refused with 400 DWS.9983 and create nothing; the cluster detail's
 * `restore_window` runs from S's finish to now.
 */
import { rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DwsClient } from '../../src/cli/client.js';
import { deleteCluster } from './crash.js';
import { waitFor } from './env.js';
import { adminSql, archiveFiles } from './restore-data.js';
import {
  ADMIN_PASSWORD,
  createAvailableCluster,
  getCluster,
  startService,
  takeSnapshot,
  waitIdle,
  type ClusterDetail,
  type TestService,
} from './service.js';

/** A row of the source: its key, and the client's clock just before its INSERT and just after it returned. */
interface Row {
  n: number;
  before: number;
  after: number;
}

interface RestoreWindow {
  earliest_time: string | null;
  latest_time: string | null;
}
type PitrClusterDetail = ClusterDetail & { restore_window?: RestoreWindow };

interface SubItem {
  step: string;
  status: string;
  detail: string;
}
interface TaskBody {
  status: string;
  action_name: string;
  items: { item_name: string; sub_items: SubItem[] }[];
}
const infoOf = (s: SubItem): Record<string, unknown> => JSON.parse(JSON.parse(s.detail).progressInfo as string) as Record<string, unknown>;
const steps = (b: TaskBody): SubItem[] => b.items.flatMap((i) => i.sub_items);

/** ISO 8601 UTC with milliseconds, as `restore_window` writes its times. */
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ROWS = 30;
/** The rows the two restores stop after (the nearest row with a gap of more than 5 ms after it). */
const SNAPSHOT_FORM_AFTER = 17;
const CLUSTER_FORM_AFTER = 25;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * A restore time strictly between row k's commit and row k+1's, k the row nearest to `near`
 * with more than 5 ms between after_k and before_{k+1}: the middle of that gap.
 */
function pointAfter(rows: Row[], near: number): { k: number; time: number } {
  for (let d = 0; d < rows.length; d++) {
    for (const k of [near + d, near - d]) {
      const a = rows[k - 1];
      const b = rows[k];
      if (!a || !b || k < 2) continue;
      if (b.before - a.after > 5) return { k, time: a.after + Math.floor((b.before - a.after) / 2) };
    }
  }
  throw new Error(`no gap of more than 5 ms between two rows near ${near}: ${JSON.stringify(rows)}`);
}

async function clusterCount(client: DwsClient): Promise<number> {
  return (await client.call<{ count: number }>('GET', '/v1.0/{project_id}/clusters')).count;
}

/** The pitr table's keys on a node, in order. */
async function keys(endpoint: string): Promise<number[]> {
  const r = await adminSql<{ a: number[] | null }>(endpoint, 'select array_agg(n order by n) as a from pitr');
  return r[0]!.a ?? [];
}

export function pitrScenario(o: { flags?: Record<string, unknown> } = {}): void {
  let t: TestService;
  let source: { id: string; endpoint: string };
  /** S: the snapshot before the rows; when it was asked for, and when it finished (its record's time) */
  let snapS: string;
  let sRequested: number;
  let sFinished: number;
  const rows: Row[] = [];
  /** the two restores, started at once: their restore time, the row before it, the new cluster and its job */
  const restores: Partial<Record<'snapshot' | 'cluster', { k: number; time: number; id: string; jobId: string }>> = {};
  const restored: string[] = [];

  beforeAll(async () => {
    t = await startService(o.flags ? { flags: o.flags } : {});
    const c = await createAvailableCluster(t.client);
    source = { id: c.id, endpoint: c.detail.endpoints[0]!.connect_info };
    await adminSql(source.endpoint, 'create table pitr (n int primary key, at timestamptz not null)');
    sRequested = Date.now();
    const s = await takeSnapshot(t.client, source.id, 'pitr-before-rows');
    expect(s.status).toBe('AVAILABLE');
    snapS = s.id;
    sFinished = (await t.svc.store.getSnapshotById(snapS))!.finishedAt!;
    // Each row its own transaction (autocommit) on one session, about 40 ms apart.
    const [host, port] = source.endpoint.split(':');
    const db = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
    db.on('error', () => {});
    await db.connect();
    try {
      for (let n = 1; n <= ROWS; n++) {
        const before = Date.now();
        await db.query('insert into pitr values ($1, now())', [n]);
        rows.push({ n, before, after: Date.now() });
        await sleep(40);
      }
    } finally {
      await db.end().catch(() => {});
    }
  });

  afterAll(async () => {
    await t?.stop();
  });

  describe('point-in-time restore into a new cluster', () => {
    it('the source holds the 30 rows, each stamped by the server within its client interval (one host clock)', async () => {
      const got = await adminSql<{ n: number; ms: number }>(
        source.endpoint,
        'select n, (extract(epoch from at) * 1000)::float8 as ms from pitr order by n',
      );
      expect(got.map((r) => r.n)).toEqual(range(1, ROWS));
      for (const r of got) {
        const row = rows[r.n - 1]!;
        expect(r.ms, `row ${r.n}`).toBeGreaterThanOrEqual(row.before - 1);
        expect(r.ms, `row ${r.n}`).toBeLessThanOrEqual(row.after + 1);
      }
      expect(sFinished).toBeGreaterThanOrEqual(sRequested);
      expect(sFinished).toBeLessThanOrEqual(rows[0]!.before);
    });

    it('refuses restore times out of the restorable window (400 DWS.9983), by either form, and creates nothing', async () => {
      const count = await clusterCount(t.client);
      const future = Date.now() + 3_600_000;
      const early = sRequested - 1000;
      const asks: [string, string, number][] = [
        ['snapshot form, in the future', `/v1.0/{project_id}/snapshots/${snapS}/actions`, future],
        ['snapshot form, before S finished', `/v1.0/{project_id}/snapshots/${snapS}/actions`, early],
        ['cluster form, in the future', `/v1.0/{project_id}/clusters/${source.id}/point-in-time-restore`, future],
        ['cluster form, before the oldest snapshot finished', `/v1.0/{project_id}/clusters/${source.id}/point-in-time-restore`, early],
      ];
      for (const [what, path, time] of asks) {
        const r = await t.client.request<{ error_code: string; error_msg: string }>('POST', path, {
          restore: { name: 'pitr-refused', restore_point: { restore_time: time } },
        });
        expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(400);
        expect(r.body.error_code, what).toBe('DWS.9983');
        expect(r.body.error_msg, what).toMatch(/restorable window/);
      }
      expect(await clusterCount(t.client)).toBe(count);
    });

    it("the source's restore_window runs from S's finish to now", async () => {
      // S2, after the last row: the oldest snapshot (S) still sets the earliest time, and the
      // cluster form must pick S, not S2, for a time before S2 finished.
      expect((await takeSnapshot(t.client, source.id, 'pitr-after-rows')).status).toBe('AVAILABLE');
      const d = await getCluster(t.client, source.id);
      const w = (d as PitrClusterDetail).restore_window;
      expect(w, JSON.stringify(d)).toBeDefined();
      expect(w!.earliest_time).toMatch(ISO_MS);
      expect(w!.latest_time).toMatch(ISO_MS);
      const earliest = Date.parse(w!.earliest_time!);
      expect(
        Math.abs(earliest - sFinished),
        `${w!.earliest_time} vs S finished at ${new Date(sFinished).toISOString()}`,
      ).toBeLessThanOrEqual(1000);
      expect(earliest).toBeLessThanOrEqual(rows[0]!.before);
      const latest = Date.parse(w!.latest_time!);
      expect(latest).toBeGreaterThanOrEqual(rows.at(-1)!.after);
      expect(latest).toBeLessThanOrEqual(Date.now());
    });

    it('accepts a restore point by the snapshot form and by the cluster form: two cluster.restore jobs at once', async () => {
      const bySnapshot = pointAfter(rows, SNAPSHOT_FORM_AFTER);
      const byCluster = pointAfter(rows, CLUSTER_FORM_AFTER);
      const a = await t.client.call<{ cluster: { id: string }; job_id: string }>('POST', `/v1.0/{project_id}/snapshots/${snapS}/actions`, {
        restore: { name: 'pitr-from-snapshot', restore_point: { restore_time: bySnapshot.time } },
      });
      restored.push(a.cluster.id);
      const b = await t.client.call<{ cluster: { id: string }; job_id: string }>(
        'POST',
        `/v1.0/{project_id}/clusters/${source.id}/point-in-time-restore`,
        { restore: { name: 'pitr-from-cluster', restore_point: { restore_time: byCluster.time } } },
      );
      restored.push(b.cluster.id);
      restores.snapshot = { ...bySnapshot, id: a.cluster.id, jobId: a.job_id };
      restores.cluster = { ...byCluster, id: b.cluster.id, jobId: b.job_id };
      for (const r of [a, b]) {
        const job = await t.client.call<{ job_name: string }>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
        expect(job.job_name).toBe('cluster.restore');
        const c = await getCluster(t.client, r.cluster.id);
        expect(c.task_status).toBe('RESTORING');
      }
    });

    /** The restore `form` ends AVAILABLE with exactly rows 1..k on its primary and on every (streaming) standby. */
    async function checkRestored(form: 'snapshot' | 'cluster'): Promise<void> {
      const r = restores[form];
      if (!r) throw new Error(`the ${form} form's restore was not accepted`);
      const d = await waitIdle(t.client, r.id, 240_000);
      expect(d.status, JSON.stringify(d.failed_reasons)).toBe('AVAILABLE');
      const job = await t.client.call<{ status: string }>('GET', `/v1.0/{project_id}/job/${r.jobId}`);
      expect(job.status).toBe('SUCCESS');

      // The task: the usual steps after ARCHIVE_SOURCE_WAL, all done; the recovery's target is T.
      const a = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${r.id}/actions/RESTORING`);
      expect(a.status).toBe('SUCCESS');
      expect(a.action_name).toBe('RESTORING');
      expect(steps(a).map((s) => [s.step, s.status])).toEqual(
        [
          'ARCHIVE_SOURCE_WAL',
          'ALLOCATE_NODES',
          'RESTORE_PRIMARY',
          'RECOVER_PRIMARY',
          'ENABLE_NEW_ARCHIVING',
          'BUILD_STANDBYS',
          'CHECK_CONNECTIONS',
        ].map((s) => [s, 'SUCCESS']),
      );
      const recover = infoOf(steps(a).find((s) => s.step === 'RECOVER_PRIMARY')!);
      expect(typeof recover['targetTime'], JSON.stringify(recover)).toBe('string');
      expect(Date.parse(recover['targetTime'] as string)).toBe(r.time);
      // The commit time of the last transaction replayed: one committed by T.
      expect(typeof recover['replayTime'], JSON.stringify(recover)).toBe('string');
      expect(Date.parse(recover['replayTime'] as string)).toBeLessThanOrEqual(r.time);

      // Exactly the rows committed up to T.
      const ep = d.endpoints[0]!.connect_info;
      expect(await keys(ep)).toEqual(range(1, r.k));

      // Every standby streams and holds what its primary holds, nothing replayed past T.
      const standbys = d.nodes.filter((x) => x.role !== 'primary').map((x) => x.connect_info);
      expect(standbys).toHaveLength(d.nodes.length - 1);
      const repl = await adminSql<{ n: number }>(ep, `select count(*)::int as n from pg_stat_replication where state = 'streaming'`);
      expect(repl[0]!.n).toBe(standbys.length);
      await adminSql(ep, `insert into pitr values (1000, now())`);
      for (const sep of standbys) {
        await waitFor(async () => ((await keys(sep)).includes(1000) ? true : null), {
          what: `row 1000 on standby ${sep}`,
          intervalMs: 100,
        });
        expect(await keys(sep)).toEqual([...range(1, r.k), 1000]);
      }

      // A restored cluster has no snapshot of its own: no restore window yet.
      expect((d as PitrClusterDetail).restore_window).toEqual({ earliest_time: null, latest_time: null, excluded: [] });
    }

    it('the snapshot form: exactly the rows committed up to T (row 17 or the nearest), standbys streaming', async () => {
      await checkRestored('snapshot');
    });

    it('the cluster form (the newest snapshot finished before T): exactly the rows up to T (row 25 or the nearest)', async () => {
      await checkRestored('cluster');
    });

    it('the source is untouched and the restored clusters are deleted', async () => {
      expect(await keys(source.endpoint)).toEqual(range(1, ROWS));
      for (const id of restored) await deleteCluster(t.client, id);
    });

    it('a gap in the archive after the snapshot (a segment removed by hand) is refused from that snapshot, naming the segment', async () => {
      // The first segment archived after S's set: recovery from S would stop there.
      const stanza = `cluster-${source.id}`;
      const label = (await t.svc.store.getSnapshotById(snapS))!.backupLabel!;
      const stop = (await t.svc.dataPlane.backupSets(stanza)).find((x) => x.label === label)!.walStop!;
      const files = archiveFiles(join(t.dataDir, 'repo'), stanza);
      const after = files.filter((f) => /^[0-9A-F]{24}-/.test(basename(f)) && basename(f).slice(0, 24) > stop).sort();
      expect(after.length, `segments archived after ${stop}: ${JSON.stringify(files)}`).toBeGreaterThan(1);
      const victim = basename(after[0]!).slice(0, 24);
      rmSync(join(t.dataDir, 'repo', stanza, 'archive', stanza, after[0]!));
      const r = await t.client.request<{ error_code: string; error_msg: string }>('POST', `/v1.0/{project_id}/snapshots/${snapS}/actions`, {
        restore: { name: 'pitr-gap', restore_point: { restore_time: Date.now() - 1000 } },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error_code).toBe('DWS.9983');
      expect(r.body.error_msg).toContain(victim);
    });
  });
}
