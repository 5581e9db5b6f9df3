/**
 * End to end: restoring a snapshot into a new cluster (RESTORING, D4, D16). The restored
 * cluster holds exactly the snapshot's content (checked by checksums), streams to its
 * standbys, archives into its own stanza, and the source stanza gets nothing from it; the
 * source keeps working meanwhile and may even be deleted first. A failure ends CREATION
 * FAILED with everything of the new cluster removed. A copy (CopySnapshot) of a snapshot
 * restores the same content after the source snapshot and cluster are gone, with the source
 * stanza's repository out of reach.
 */
import { existsSync, readdirSync, renameSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAvailableCluster,
  getCluster,
  snapshotDone,
  startService,
  waitIdle,
  type ClusterDetail,
  type TestService,
} from '../helpers/service.js';
import { processesUnder, waitFor } from '../helpers/env.js';
import { adminSql, archiveFiles, archiveTimelines, checksums, SCHEMA_SQL } from '../helpers/restore-data.js';
import { testEngine } from '../helpers/engine.js';

let t: TestService;
let source: { id: string; name: string; endpoint: string; stanza: string };
/** the content when the first snapshot was taken, and after the changes */
let atSnapshot: Record<string, string>;
let afterChanges: Record<string, string>;
let snap1: string;
/** CopySnapshot's copy of snap1 */
let copyId: string;

interface SubItem {
  sub_item_name: string;
  status: string;
  detail: string;
  estimated_time: number;
  step: string;
  begin_time: string | null;
  end_time: string | null;
}
interface TaskBody {
  id: string;
  status: string;
  action_name: string;
  items: { item_name: string; sub_items: SubItem[] }[];
  error_msg: string | null;
  failed_step: string | null;
}
const infoOf = (s: SubItem): Record<string, unknown> => JSON.parse(JSON.parse(s.detail).progressInfo as string) as Record<string, unknown>;
const sub = (b: TaskBody, step: string): SubItem => b.items.flatMap((i) => i.sub_items).find((s) => s.step === step)!;

async function snapshot(name: string, clusterId: string): Promise<string> {
  const r = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
    snapshot: { name, cluster_id: clusterId },
  });
  return r.snapshot.id;
}
const waitSnapshot = (id: string): Promise<string> => snapshotDone(t.client, id);
async function restore(snapshotId: string, body: Record<string, unknown>): Promise<string> {
  const r = await t.client.call<{ cluster: { id: string }; job_id: string }>('POST', `/v1.0/{project_id}/snapshots/${snapshotId}/actions`, {
    restore: body,
  });
  // RestoreCluster's job_id is the restore task of the new cluster.
  const job = await t.client.call<{ job_name: string }>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
  expect(job.job_name).toBe('cluster.restore');
  return r.cluster.id;
}
/**
 * The timeline a restored cluster writes after its restore: the local engine's restored primary
 * is promoted once (timeline 2); on the Patroni engine, Patroni then starts that promoted copy as a
 * replica and promotes it again when it takes the leader key (timeline 3). Both are new
 * timelines of the new stanza, never the source's (D4).
 */
const restoredTimeline = (): string => (testEngine() === 'patroni' ? '00000003' : '00000002');
const sourceStanzaArchive = (): string[] => archiveFiles(t.svc.dataPlane.settings.repoPath, source.stanza);
function expectNoForeignTimeline(files: string[], before: string[]): void {
  const tl = archiveTimelines(files);
  expect(tl.histories).toEqual(archiveTimelines(before).histories);
  expect([...tl.segments].filter((x) => x !== '00000001')).toEqual([]);
}

beforeAll(async () => {
  t = await startService();
  const c = await createAvailableCluster(t.client);
  const rec = (await t.svc.store.getClusterById(c.id))!;
  source = { id: c.id, name: c.name, endpoint: c.detail.endpoints[0]!.connect_info, stanza: rec.stanza };
  await adminSql(source.endpoint, SCHEMA_SQL);
  atSnapshot = await checksums(source.endpoint);
  snap1 = await snapshot('snap-before', source.id);
  expect(await waitSnapshot(snap1)).toBe('AVAILABLE');
  // After the snapshot: rows changed, added and deleted, and a table dropped.
  await adminSql(
    source.endpoint,
    `update orders set amount = amount + 1 where id % 3 = 0;
    insert into customers (name) values ('late customer');
    delete from events where id > 19000;
    drop table order_items;`,
  );
  afterChanges = await checksums(source.endpoint, { 'public.customers': 'id', 'public.orders': 'id', 'public.events': 'id' });
});
afterAll(async () => {
  await t?.stop();
});

describe('restore a snapshot into a new cluster', () => {
  let restoredId: string;

  it("builds a new cluster with the snapshot's content, own stanza and streaming standbys; the source keeps working", async () => {
    const before = sourceStanzaArchive();
    restoredId = await restore(snap1, { name: 'restored-one' });
    // The running values appear at once (D8).
    const first = await getCluster(t.client, restoredId);
    expect(first.status).toBe('CREATING');
    expect(first.task_status).toBe('RESTORING');
    expect(first.action_progress['RESTORING']).toMatch(/^\d+%$/);
    // While the restore reads them, neither the snapshot nor its cluster can be deleted (D16).
    const delSnap = await t.client.request<{ error_code: string }>('DELETE', `/v1.0/{project_id}/snapshots/${snap1}`);
    expect(delSnap.status).toBe(409);
    expect(delSnap.body.error_code).toBe('DWS.0011');
    const delSource = await t.client.request<{ error_code: string }>('DELETE', `/v1.0/{project_id}/clusters/${source.id}`, {
      keep_last_manual_snapshot: 0,
    });
    expect(delSource.status).toBe(409);
    expect(delSource.body.error_code).toBe('DWS.0011');
    // The source stays usable meanwhile: another snapshot of it.
    const snap2 = await snapshot('snap-during', source.id);
    const polls: TaskBody[] = [];
    const done = await waitFor(
      async () => {
        const a = await t.client.request<TaskBody>('GET', `/v1/{project_id}/clusters/${restoredId}/actions/RESTORING`);
        if (a.status === 200) polls.push(a.body);
        const c = await getCluster(t.client, restoredId);
        return c.status === 'CREATING' ? null : c;
      },
      { what: 'the restore', intervalMs: 150, timeoutMs: 200_000 },
    );
    expect(done.status, JSON.stringify(done.failed_reasons)).toBe('AVAILABLE');
    expect(done.task_status).toBe('');
    expect(done.action_progress).toEqual({});
    expect(await waitSnapshot(snap2)).toBe('AVAILABLE');
    expect(polls.some((p) => p.status === 'RUNNING')).toBe(true);

    // Every table as it was when the snapshot was taken, the dropped one included.
    const ep = done.endpoints[0]!.connect_info;
    expect(ep).not.toBe(source.endpoint);
    expect(await checksums(ep)).toEqual(atSnapshot);
    // The source still has its changes.
    expect(await checksums(source.endpoint, { 'public.customers': 'id', 'public.orders': 'id', 'public.events': 'id' })).toEqual(
      afterChanges,
    );
    // The serial columns go on from the snapshot's positions.
    const [row] = await adminSql<{ id: number }>(ep, `insert into customers (name) values ('new after restore') returning id`);
    expect(row!.id).toBeGreaterThan(500);

    // Streaming standbys and archiving into its own stanza.
    expect(done.nodes).toHaveLength(3);
    const repl = await adminSql<{ n: number }>(ep, `select count(*)::int as n from pg_stat_replication where state = 'streaming'`);
    expect(repl[0]!.n).toBe(2);
    const rec = (await t.svc.store.getClusterById(restoredId))!;
    expect(rec.stanza).not.toBe(source.stanza);
    expect(await t.svc.dataPlane.backrest.stanzaExists(rec.stanza)).toBe(true);
    const arch = await adminSql<{ failed: number; last: string | null }>(
      ep,
      'select failed_count::int as failed, last_archived_wal as last from pg_stat_archiver',
    );
    expect(arch[0]!.failed).toBe(0);
    expect(arch[0]!.last).toMatch(new RegExp(`^${restoredTimeline()}`));
    const own = archiveTimelines(archiveFiles(t.svc.dataPlane.settings.repoPath, rec.stanza));
    expect(own.histories).toContain('00000002.history');
    expect(own.histories).toContain(`${restoredTimeline()}.history`);

    // D4: the source stanza has no new history file and no WAL from another timeline.
    expectNoForeignTimeline(sourceStanzaArchive(), before);

    // The task-details endpoint shows the real steps with measured figures.
    const a = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${restoredId}/actions/RESTORING`);
    expect(a.status).toBe('SUCCESS');
    expect(a.action_name).toBe('RESTORING');
    expect(a.items.map((i) => i.item_name)).toEqual([
      'Prepare the cluster',
      'Restore data',
      'Enable archiving',
      'Build standby nodes',
      'Verify the cluster',
    ]);
    expect(a.items.flatMap((i) => i.sub_items.map((s) => s.step))).toEqual([
      'ALLOCATE_NODES',
      'RESTORE_PRIMARY',
      'RECOVER_PRIMARY',
      'ENABLE_NEW_ARCHIVING',
      'BUILD_STANDBYS',
      'CHECK_CONNECTIONS',
    ]);
    for (const s of a.items.flatMap((i) => i.sub_items)) {
      expect(s.status).toBe('SUCCESS');
      expect(s.estimated_time).toBe(0);
      const info = infoOf(s);
      expect(info['actionType']).toBe('Restore');
      expect(info['progress']).toBe('100.00%');
    }
    const rp = infoOf(sub(a, 'RESTORE_PRIMARY'));
    expect(rp['backupSize'] as number).toBeGreaterThan(1_000_000);
    expect(rp['currentStep']).toBe('FINISH');
    expect(rp['key']).toMatch(/^\d{8}_\d{6}$/);
    const zh = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${restoredId}/actions/RESTORING`, undefined, {
      'x-language': 'zh-cn',
    });
    expect(zh.items.map((i) => i.item_name)).toEqual(['准备集群', '恢复数据', '启用归档', '构建备节点', '校验集群']);
    // D14: the restore's samples come from the tool, rising, the last at 100%.
    const samples = await t.svc.store.listSamples(a.id, 'RESTORE_PRIMARY');
    const done2 = samples.filter((s) => s.bytesDone !== null).map((s) => s.bytesDone!);
    // A small restore on a fast machine is sampled once or twice before its end.
    expect(done2.length).toBeGreaterThanOrEqual(2);
    expect([...done2].sort((x, y) => x - y)).toEqual(done2);
    expect(samples.at(-1)!.percent).toBe(100);
    expect(samples.at(-1)!.source).toBe('pgbackrest restore');
    // Both standbys were built at once, each with its own figures, both streaming at the end.
    const sb = infoOf(sub(a, 'BUILD_STANDBYS'))['standbys'] as Record<string, { phase: string; percent: number; bytesDone: number }>;
    expect(Object.keys(sb)).toEqual(['2', '3']);
    for (const x of Object.values(sb)) expect(x).toMatchObject({ phase: 'streaming', percent: 100 });
    for (const x of Object.values(sb)) expect(x.bytesDone).toBeGreaterThan(1_000_000);
    const built = await t.svc.store.listSamples(a.id, 'BUILD_STANDBYS');
    if (testEngine() === 'local') {
      // Each from a copy of the restored primary made before its first start, not a pg_basebackup.
      for (const n of [2, 3]) expect(built.some((x) => x.data['node'] === n && x.data['phase'] === 'from-copy')).toBe(true);
      expect(built.some((x) => x.source.startsWith('pg_basebackup') || x.source === 'pg_stat_progress_basebackup')).toBe(false);
    } else {
      // Each a copy Patroni made of the restored leader once it led (buildReplica), sampled; none a copy made before its start.
      for (const n of [2, 3]) expect(built.some((x) => x.data['node'] === n)).toBe(true);
      expect(built.some((x) => x.data['phase'] === 'from-copy')).toBe(false);
    }
    // Archiving into the new stanza was proven by a switched segment of the new timeline.
    const ar = infoOf(sub(a, 'ENABLE_NEW_ARCHIVING'));
    expect(ar['segment']).toMatch(new RegExp(`^${restoredTimeline()}[0-9A-F]{16}$`));
  });

  /** A snapshot of the source taken while WAL switches on it all through the backup: its WAL spans segments. */
  async function spanningSnapshot(name: string) {
    const src = t.svc.dataPlane.instance(
      { id: source.id, projectId: (await t.svc.store.getClusterById(source.id))!.projectId },
      (await t.svc.store.listNodes(source.id)).find((n) => n.ordinal === 1)!,
    );
    let spinning = true;
    const spin = (async () => {
      while (spinning) {
        await src.query(`select pg_create_restore_point('spin')`);
        await src.query('select pg_switch_wal()');
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    try {
      const snapId = await snapshot(name, source.id);
      expect(await waitSnapshot(snapId)).toBe('AVAILABLE');
      return { snapId, src };
    } finally {
      spinning = false;
      await spin;
    }
  }

  it('standbys from the restored copy fetch the WAL before the fork from the source stanza and never replay past it (a snapshot spanning segments)', async () => {
    // WAL switches on the source all through the snapshot's backup: its WAL spans segments, and
    // the source's archive goes on past the snapshot's consistent point on the old timeline.
    const { snapId, src } = await spanningSnapshot('snap-spanning');
    // More WAL on the old timeline after the snapshot, in the source's archive.
    for (let i = 0; i < 3; i++) {
      await adminSql(source.endpoint, `insert into customers (name) values ('after spanning ${i}')`);
      await src.query('select pg_switch_wal()');
    }
    const before = sourceStanzaArchive();
    const id = await restore(snapId, { name: 'restored-spanning' });
    const d = await waitIdle(t.client, id, 200_000);
    expect(d.status, JSON.stringify(d.failed_reasons)).toBe('AVAILABLE');
    const ep = d.endpoints[0]!.connect_info;
    const repl = await adminSql<{ n: number }>(ep, `select count(*)::int as n from pg_stat_replication where state = 'streaming'`);
    expect(repl[0]!.n).toBe(2);
    const a = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${id}/actions/RESTORING`);
    const sb = infoOf(sub(a, 'BUILD_STANDBYS'))['standbys'] as Record<string, { phase: string; walFetched?: number; fork?: string }>;
    for (const x of Object.values(sb)) {
      expect(x.phase).toBe('streaming');
      // The local engine's standbys start from the restored copy and fetch the WAL before the fork
      // from the source stanza; Patroni's are copies of the running leader (nothing fetched): on
      // both, the rows below show each standby holds the primary's data and nothing past the fork.
      if (testEngine() === 'local') expect(x.walFetched).toBeGreaterThan(0);
    }
    // Each standby holds what the primary holds: a row written on the primary after the restore arrives on both.
    await adminSql(ep, `insert into customers (name) values ('after restore spanning')`);
    for (const sep of d.nodes.filter((x) => x.role !== 'primary').map((x) => x.connect_info)) {
      await waitFor(
        async () =>
          (await adminSql<{ n: number }>(sep, `select count(*)::int as n from customers where name = 'after restore spanning'`))[0]!.n === 1
            ? true
            : null,
        { what: `the row on standby ${sep}`, intervalMs: 100 },
      );
      const rows = await adminSql<{ n: number }>(sep, `select count(*)::int as n from customers where name like 'after spanning%'`);
      expect(rows[0]!.n).toBe(0);
    }
    expectNoForeignTimeline(sourceStanzaArchive(), before);
    // The source as the later cases expect it.
    await adminSql(source.endpoint, `delete from customers where name like 'after spanning%'`);
    await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${id}`, { keep_last_manual_snapshot: 0 });
    await waitFor(async () => (await t.client.request('GET', `/v1.0/{project_id}/clusters/${id}`)).status === 404, {
      what: `cluster ${id} deleted`,
    });
  });

  it('refuses an unknown snapshot (404 DWS.5149), a duplicate name (409) and a snapshot that is not AVAILABLE (400 DWS.9909)', async () => {
    const unknown = await t.client.request<{ error_code: string }>(
      'POST',
      '/v1.0/{project_id}/snapshots/2b0a7c1e-0000-4000-8000-000000000000/actions',
      { restore: { name: 'nope-nope' } },
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body.error_code).toBe('DWS.5149');
    const dup = await t.client.request<{ error_code: string }>('POST', `/v1.0/{project_id}/snapshots/${snap1}/actions`, {
      restore: { name: 'restored-one' },
    });
    expect(dup.status).toBe(409);
    expect(dup.body.error_code).toBe('DWS.5050');
    const badName = await t.client.request<{ error_code: string }>('POST', `/v1.0/{project_id}/snapshots/${snap1}/actions`, {
      restore: { name: '1bad' },
    });
    expect(badName.status).toBe(400);
    const snapId = await snapshot('snap-creating', source.id);
    const creating = await t.client.request<{ error_code: string }>('POST', `/v1.0/{project_id}/snapshots/${snapId}/actions`, {
      restore: { name: 'too-early' },
    });
    expect(creating.status).toBe(400);
    expect(creating.body.error_code).toBe('DWS.9909');
    expect(await waitSnapshot(snapId)).toBe('AVAILABLE');
  });

  it('a failure ends CREATION FAILED, RESTORING_FAILED tells where and why, and nothing of the new cluster is left', async () => {
    const before = sourceStanzaArchive();
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      action_name: 'RESTORING',
      cluster_id: source.id,
      step: 'ENABLE_NEW_ARCHIVING',
      mode: 'fail',
      point: 'after',
    });
    const id = await restore(snap1, { name: 'restored-fails' });
    const rec = (await t.svc.store.getClusterById(id))!;
    const d = await waitIdle(t.client, id);
    await t.client.call('DELETE', '/dwsbox/v1/{project_id}/faults');
    expect(d.status).toBe('CREATION FAILED');
    const reasons = d.failed_reasons as unknown as { error_code: string; error_msg: string }[] | { error_code: string; error_msg: string };
    expect(JSON.stringify(reasons)).toMatch(/Injected fault \(fail ENABLE_NEW_ARCHIVING at after\)/);
    const f = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${id}/actions/RESTORING_FAILED`);
    expect(f.status).toBe('FAILED');
    expect(f.failed_step).toBe('ENABLE_NEW_ARCHIVING');
    const failed = sub(f, 'ENABLE_NEW_ARCHIVING');
    expect(failed.status).toBe('FAILED');
    expect(infoOf(failed)['failedStep']).toBe('ENABLE_NEW_ARCHIVING');
    expect(infoOf(failed)['errorMsg']).toMatch(/Injected fault/);
    expect(sub(f, 'CLEAN_UP_CLUSTER').status).toBe('SUCCESS');
    expect(sub(f, 'BUILD_STANDBYS').status).toBe('WAITING');
    // Its processes, files and stanza are gone; the source stanza got nothing.
    expect(processesUnder(id)).toEqual([]);
    expect(existsSync(t.svc.dataPlane.clusterDir(id))).toBe(false);
    expect(await t.svc.dataPlane.backrest.stanzaExists(rec.stanza)).toBe(false);
    expect(existsSync(t.svc.dataPlane.backrest.archiveDir(rec.stanza))).toBe(false);
    expectNoForeignTimeline(sourceStanzaArchive(), before);
    expect((await getCluster(t.client, source.id)).status).toBe('AVAILABLE');
  });

  it('a real failure (the new primary cannot bind its address) is cleaned up the same way', async () => {
    // Hold the restore before its primary starts, take the primary's address, let it go on.
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      action_name: 'RESTORING',
      cluster_id: source.id,
      step: 'RECOVER_PRIMARY',
      mode: 'delay',
      delay_ms: 3000,
      times: 1,
    });
    const id = await restore(snap1, { name: 'restored-no-bind' });
    const rec = (await t.svc.store.getClusterById(id))!;
    const primary = (await t.svc.store.listNodes(id)).find((n) => n.ordinal === 1)!;
    await waitFor(
      async () =>
        sub(await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${id}/actions/RESTORING`), 'RESTORE_PRIMARY').status ===
        'SUCCESS',
      { what: 'the restore step', intervalMs: 50 },
    );
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen({ host: primary.host, port: primary.port }, r));
    try {
      const d = await waitIdle(t.client, id);
      expect(d.status).toBe('CREATION FAILED');
      expect(JSON.stringify(d.failed_reasons)).toMatch(/DWS\.9921/);
      const f = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${id}/actions/RESTORING_FAILED`);
      expect(f.failed_step).toBe('RECOVER_PRIMARY');
      expect(infoOf(sub(f, 'RECOVER_PRIMARY'))['errorMsg']).toMatch(/PostgreSQL exited during start-up/);
      expect(sub(f, 'CLEAN_UP_CLUSTER').status).toBe('SUCCESS');
    } finally {
      await new Promise((r) => squatter.close(r));
      await t.client.call('DELETE', '/dwsbox/v1/{project_id}/faults');
    }
    expect(processesUnder(id)).toEqual([]);
    expect(existsSync(t.svc.dataPlane.clusterDir(id))).toBe(false);
    expect(await t.svc.dataPlane.backrest.stanzaExists(rec.stanza)).toBe(false);
  });

  it('CopySnapshot makes an independent copy in a stanza of its own, its WAL inside its set; deleting the source snapshot leaves it whole', async () => {
    const r = await t.client.call<{ snapshot_id: string; job_id: string }>('POST', `/v1.0/{project_id}/snapshots/${snap1}/linked-copy`, {
      backup_name: 'snap-before-copy',
      description: 'a copy of snap-before',
    });
    copyId = r.snapshot_id;
    const job = await t.client.call<{ job_name: string }>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
    expect(job.job_name).toBe('snapshot.copy');
    // Real progress while it runs: the job's percent, and its steps through the project's task endpoint.
    const seen = new Set<string>();
    const status = await waitFor(
      async () => {
        seen.add((await t.client.call<{ progress: string }>('GET', `/v1.0/{project_id}/job/${r.job_id}`)).progress);
        const s = (await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${copyId}`)).snapshot;
        return s.status === 'CREATING' ? null : s.status;
      },
      { what: 'the copy', intervalMs: 150, timeoutMs: 180_000 },
    );
    expect(status).toBe('AVAILABLE');
    expect(
      [...seen].some((p) => p !== '0%' && p !== '100%'),
      [...seen].join(' '),
    ).toBe(true);
    const done = await t.client.call<{ status: string; progress: string }>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
    expect(done).toMatchObject({ status: 'SUCCESS', progress: '100%' });
    const steps = await t.client.call<TaskBody>('GET', `/dwsbox/v1/{project_id}/tasks/${r.job_id}`);
    expect(steps.items.flatMap((i) => i.sub_items.map((x) => [x.step, x.status]))).toEqual(
      ['CHECK_SOURCE', 'RESTORE_SOURCE', 'START_SOURCE', 'BACKUP_COPY', 'VERIFY_COPY', 'RECORD_COPY', 'REMOVE_SOURCE'].map((x) => [
        x,
        'SUCCESS',
      ]),
    );
    expect(infoOf(sub(steps, 'RESTORE_SOURCE'))).toMatchObject({ snapshotId: snap1 });
    expect(infoOf(sub(steps, 'BACKUP_COPY'))).toMatchObject({ backupType: 'full' });
    const shown = (
      await t.client.call<{ snapshot: { name: string; type: string; size: number; cluster_id: string } }>(
        'GET',
        `/v1.0/{project_id}/snapshots/${copyId}`,
      )
    ).snapshot;
    expect(shown).toMatchObject({ name: 'snap-before-copy', type: 'MANUAL', cluster_id: source.id });
    expect(shown.size).toBeGreaterThan(0);
    const rec = (await t.svc.store.getSnapshotById(copyId))!;
    expect(rec.stanza).toBe(`copy-${copyId}`);
    expect(rec.stanza).not.toBe(source.stanza);
    const sets = await t.svc.dataPlane.backupSets(rec.stanza);
    expect(sets.map((x) => [x.type, x.annotation['snapshot_id']])).toEqual([['full', copyId]]);
    // --archive-copy: the WAL the set needs is inside it, so it restores with no archive at all.
    const walDir = join(t.svc.dataPlane.settings.repoPath, rec.stanza, 'backup', rec.stanza, sets[0]!.label, 'pg_data', 'pg_wal');
    expect(readdirSync(walDir).filter((f) => /^[0-9A-F]{24}/.test(f)).length).toBeGreaterThan(0);
    // The temporary instance is gone.
    expect(existsSync(join(t.dataDir, 'tmp', r.job_id))).toBe(false);
    expect(processesUnder(r.job_id)).toEqual([]);
    // The source snapshot goes; the copy stays.
    const del = await t.client.call<{ job_id: string }>('DELETE', `/v1.0/{project_id}/snapshots/${snap1}`);
    await waitFor(
      async () => (await t.client.call<{ status: string }>('GET', `/v1.0/{project_id}/job/${del.job_id}`)).status === 'SUCCESS',
      {
        what: "the source snapshot's expiry",
      },
    );
    expect((await t.svc.store.getSnapshotById(copyId))!.status).toBe('AVAILABLE');
    expect(await t.svc.dataPlane.stanzaExists(rec.stanza)).toBe(true);
  });

  it('restores after the source cluster was deleted (the snapshot keeps what it needs, D16)', async () => {
    // keep_last_manual_snapshot: 1 keeps the newest manual snapshot: take one now, spanning WAL
    // segments, so the standbys fetch WAL from the source's stanza with its data directory gone.
    const { snapId: last } = await spanningSnapshot('snap-last');
    await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${source.id}`, { keep_last_manual_snapshot: 1 });
    await waitFor(async () => (await t.client.request('GET', `/v1.0/{project_id}/clusters/${source.id}`)).status === 404, {
      what: 'the source to be deleted',
    });
    const before = sourceStanzaArchive();
    const id = await restore(last, { name: 'restored-orphan', port: source.endpoint.split(':').map(Number)[1]! + 1 });
    const d: ClusterDetail = await waitIdle(t.client, id, 200_000);
    expect(d.status, JSON.stringify(d.failed_reasons)).toBe('AVAILABLE');
    const ep = d.endpoints[0]!.connect_info;
    expect(Number(ep.split(':')[1])).toBe(Number(source.endpoint.split(':')[1]) + 1);
    expect(await checksums(ep, { 'public.customers': 'id', 'public.orders': 'id', 'public.events': 'id' })).toEqual(afterChanges);
    expect(await adminSql(ep, `select to_regclass('public.order_items') as t`)).toEqual([{ t: null }]);
    expectNoForeignTimeline(sourceStanzaArchive(), before);
    const a = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${id}/actions/RESTORING`);
    const sb = infoOf(sub(a, 'BUILD_STANDBYS'))['standbys'] as Record<string, { phase: string; walFetched?: number }>;
    for (const x of Object.values(sb)) expect(x).toMatchObject({ phase: 'streaming' });
    // From the deleted source's stanza (the local engine's standbys; Patroni's copy the restored leader).
    if (testEngine() === 'local') {
      for (const x of Object.values(sb)) expect(x).toMatchObject({ walFetched: expect.any(Number) });
      expect(Object.values(sb).some((x) => (x.walFetched ?? 0) > 0)).toBe(true);
    }
    // The copy outlives its cluster and restores with the source's stanza out of reach (its repository moved away meanwhile).
    expect((await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${copyId}`)).snapshot.status).toBe(
      'AVAILABLE',
    );
    const sourceRepo = join(t.svc.dataPlane.settings.repoPath, source.stanza);
    renameSync(sourceRepo, `${sourceRepo}.away`);
    let fromCopy: string;
    try {
      fromCopy = await restore(copyId, { name: 'restored-copy', port: source.endpoint.split(':').map(Number)[1]! + 2 });
      const dc: ClusterDetail = await waitIdle(t.client, fromCopy, 200_000);
      expect(dc.status, JSON.stringify(dc.failed_reasons)).toBe('AVAILABLE');
      expect(await checksums(dc.endpoints[0]!.connect_info)).toEqual(atSnapshot);
    } finally {
      renameSync(`${sourceRepo}.away`, sourceRepo);
    }
    // Deleting the copy removes its stanza.
    const copyStanza = `copy-${copyId}`;
    const delCopy = await t.client.call<{ job_id: string }>('DELETE', `/v1.0/{project_id}/snapshots/${copyId}`);
    await waitFor(
      async () => (await t.client.call<{ status: string }>('GET', `/v1.0/{project_id}/job/${delCopy.job_id}`)).status === 'SUCCESS',
      {
        what: "the copy's expiry",
      },
    );
    expect(await t.svc.dataPlane.stanzaExists(copyStanza)).toBe(false);
    expect(existsSync(join(t.svc.dataPlane.settings.repoPath, copyStanza))).toBe(false);
    // Clean up the restored clusters.
    for (const c of [restoredId, id, fromCopy])
      await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${c}`, { keep_last_manual_snapshot: 0 });
    for (const c of [restoredId, id, fromCopy])
      await waitFor(async () => (await t.client.request('GET', `/v1.0/{project_id}/clusters/${c}`)).status === 404, {
        what: `cluster ${c} deleted`,
      });
    expect(readdirSync(join(t.dataDir, 'clusters'))).toEqual([]);
  });
});
