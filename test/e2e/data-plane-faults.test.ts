/* Over 400 lines: the data-plane faults on one shared cluster, plus the disk-full case in its mount namespace. */
/**
 * Data-plane faults (issue 6): what the service does when the PostgreSQL side fails under a
 * task, as opposed to the service itself (the crash matrix).
 *
 * 1. A node's postmaster killed (SIGKILL, by PID) during each kind of task, at a moment picked
 *    by waiting for a step (and, for the copies, for the tool to be running); where the moment
 *    falls between two fast steps, a `delay` fault on the next step holds the window open. Each
 *    ends in a clear FAILED, CREATION FAILED or rolled-back task whose message names what
 *    happened — or in success where the task did not need the dead node — and the cluster is
 *    then honestly UNAVAILABLE (primary down) or DEGRADED (a standby down) by the health
 *    monitor, until a restart brings it back.
 * 2. The backup repository on a filesystem that fills up mid-snapshot: a 24 MB tmpfs mounted
 *    over `<repo>/backup` inside a mount namespace of the test (`unshare --mount`, held by a
 *    `sleep` that dies with the test), the service run in it through `nsenter`; the mount
 *    vanishes with the namespace, so nothing is left behind (D21).
 * 3. The tools exiting non-zero: pgBackRest restoring a backup set whose files were removed
 *    from the repository (into a new cluster, and into a table restore's temporary instance),
 *    and pg_dump refused by its database. Each FAILED with the tool's own message.
 *
 * 1 and 3 run on the local engine (`LOCAL_ENGINE`): a killed postmaster is its own outage there,
 * until a restart. On the Patroni engine (the default) Patroni restarts it or fails over, which
 * `patroni-engine`, `ha-failover` and `crash-patroni` assert; 2 runs on the test engine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statfsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postmastersUnder, startChildService, type ChildService } from '../helpers/child-service.js';
import { leftovers, replicationOf, unlistedSets, verifySet, type TaskOut } from '../helpers/crash.js';
import { LOCAL_ENGINE } from '../helpers/engine.js';
import { freePort, processesUnder, tempDir, waitFor } from '../helpers/env.js';
import { adminSql, archiveFiles, archiveTimelines } from '../helpers/restore-data.js';
import {
  ADMIN_PASSWORD,
  createAvailableCluster,
  delayStep,
  getCluster,
  newestTask as newestTaskOf,
  PROJECT_ID,
  snapshotDone,
  startService,
  SUBNET,
  takeSnapshot,
  VPC,
  waitIdle,
  waitStep as waitStepOf,
  waitTaskDone as waitTaskDoneOf,
  type ClusterDetail,
  type TestService,
} from '../helpers/service.js';
import type { DwsClient } from '../../src/cli/client.js';

const DB = 'shop';
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
type Task = Omit<TaskOut, 'items'> & {
  action_name: string;
  items: { item_name: string; sub_items: { step: string; status: string; detail: string }[] }[];
};

const eventsSum = async (endpoint: string, table = 'public.events'): Promise<string> =>
  (
    await adminSql<{ h: string }>(
      endpoint,
      `select count(*)::text || ':' || md5(coalesce(string_agg(x::text, ',' order by x.id), '')) as h from ${table} x`,
      DB,
    )
  )[0]!.h;

const newestTask = (client: DwsClient, clusterId: string, kind: string): Promise<Task | undefined> =>
  newestTaskOf<Task>(client, clusterId, kind);
const waitStep = (client: DwsClient, clusterId: string, kind: string, step: string, statuses: string[]): Promise<Task> =>
  waitStepOf<Task>(client, clusterId, kind, step, statuses);
const waitTaskDone = (client: DwsClient, clusterId: string, taskId: string): Promise<Task> =>
  waitTaskDoneOf<Task>(client, clusterId, taskId);

/** A tool working under `dir` (its command line matches `re`), as soon as it runs. */
async function waitTool(dir: string, re: RegExp): Promise<{ pid: number; cmd: string }> {
  return waitFor(async () => processesUnder(dir).find((p) => re.test(p.cmd)), {
    what: `a process matching ${re} under ${dir}`,
    intervalMs: 10,
    timeoutMs: 180_000,
  });
}

/** SIGKILL the postmaster of node `ordinal` of a cluster, by PID, and wait until it is gone. */
async function killNode(dataDir: string, clusterId: string, ordinal: number): Promise<number> {
  const nodeData = join(dataDir, 'clusters', clusterId, `node${ordinal}`, 'data');
  const pm = postmastersUnder(nodeData).find((p) => p.dataDir === nodeData);
  if (!pm) throw new Error(`no postmaster runs on ${nodeData}`);
  process.kill(pm.pid, 'SIGKILL');
  await waitFor(async () => !existsSync(`/proc/${pm.pid}/stat`) || /\) Z /.test(readFileSync(`/proc/${pm.pid}/stat`, 'utf8')), {
    what: `postmaster ${pm.pid} to die`,
    intervalMs: 10,
  });
  return pm.pid;
}

/** What each case ended with (printed at the end, for docs/reliability.md). */
const outcomes: { fault: string; status: string; message: string }[] = [];
const record = (fault: string, status: string, message: string | null | undefined): void => {
  outcomes.push({ fault, status, message: (message ?? '').replace(/\s+/g, ' ').slice(0, 300) });
};
afterAll(() => {
  if (outcomes.length)
    console.log(
      `[data-plane faults] ${outcomes.length} faults, ${outcomes.length} ended as expected\n${outcomes.map((o) => `  ${o.fault}: ${o.status} — ${o.message}`).join('\n')}`,
    );
});

const subItems = (t: Pick<TaskOut, 'items'>): [string, string][] =>
  t.items.flatMap((i) => i.sub_items.map((s): [string, string] => [s.step, s.status]));

describe('data-plane faults: postmasters killed under tasks, tools failing', () => {
  let t: TestService;
  let id: string;
  let endpoint: string;
  let stanza: string;
  let base: { id: string; label: string; events: string };

  const snapshot = (name: string): Promise<{ id: string; status: string }> => takeSnapshot(t.client, id, name);
  const labelOf = async (snapshotId: string): Promise<string> => (await t.svc.store.getSnapshotById(snapshotId))!.backupLabel!;
  /** The health monitor's verdict (it waits for the task to end, then looks at the processes). */
  const waitHealth = (status: string, subStatus: string): Promise<ClusterDetail> =>
    waitFor(
      async () => {
        const d = await getCluster(t.client, id);
        return d.status === status && d.sub_status === subStatus ? d : null;
      },
      { what: `the cluster to be ${status}/${subStatus}`, timeoutMs: 60_000 },
    );
  /** Restart the cluster through the API and wait until every node is up again. */
  const restartCluster = async (): Promise<ClusterDetail> => {
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/restart`, { restart: {} });
    await waitIdle(t.client, id, 180_000);
    const r = (await newestTask(t.client, id, 'cluster.restart'))!;
    expect(r.status, `${r.failed_step}: ${r.error_msg}`).toBe('SUCCESS');
    return waitHealth('AVAILABLE', 'NORMAL');
  };

  beforeAll(async () => {
    t = await startService({ flags: LOCAL_ENGINE });
    const c = await createAvailableCluster(t.client, { nodes: 3 });
    id = c.id;
    endpoint = c.detail.endpoints[0]!.connect_info;
    stanza = (await t.svc.store.getClusterById(id))!.stanza;
    await adminSql(endpoint, `create database ${DB}`);
    await adminSql(
      endpoint,
      `create table events (id int primary key, kind text not null, payload text not null);
      insert into events select g, 'k' || (g % 7), md5(g::text) from generate_series(1, 2000) g`,
      DB,
    );
    const events = await eventsSum(endpoint);
    const s = await snapshot('base');
    expect(s.status).toBe('AVAILABLE');
    base = { id: s.id, label: await labelOf(s.id), events };
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('create: the primary killed once every node runs, before the standbys caught up → CREATION FAILED naming it as not running, everything removed', async () => {
    // A create copies its standbys from the stopped primary (no pg_basebackup) and starts them
    // during ENABLE_ARCHIVING; the window before BUILD_STANDBY_2 (the catch-up) is held open by a delay.
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      action_name: 'CREATING',
      step: 'BUILD_STANDBY_2',
      mode: 'delay',
      point: 'before',
      delay_ms: 3000,
      times: 1,
    });
    const r = await t.client.call<{ cluster: { id: string } }>('POST', '/v1.0/{project_id}/clusters', {
      cluster: {
        name: 'dies-while-copying',
        node_type: 'dwsx.small',
        number_of_node: 3,
        subnet_id: SUBNET,
        vpc_id: VPC,
        user_name: 'dbadmin',
        user_pwd: ADMIN_PASSWORD,
        port: await freePort(),
      },
    });
    const cid = r.cluster.id;
    await waitStep(t.client, cid, 'cluster.create', 'ENABLE_ARCHIVING', ['SUCCESS']);
    await killNode(t.dataDir, cid, 1);
    const d = await waitIdle(t.client, cid, 180_000);
    expect(d.status).toBe('CREATION FAILED');
    expect(d.failed_reasons?.error_code).toBe('DWS.9921');
    expect(d.failed_reasons?.error_msg).toMatch(/PostgreSQL is not running|stopped running/);
    record('create, primary killed during BUILD_STANDBY_2', `${d.status}`, d.failed_reasons?.error_msg);
    const task = (await newestTask(t.client, cid, 'cluster.create'))!;
    expect(task.status).toBe('FAILED');
    expect(task.failed_step).toBe('BUILD_STANDBY_2');
    expect(subItems(task).at(-1)).toEqual(['CLEAN_UP_CLUSTER', 'SUCCESS']);
    expect(leftovers(t.dataDir, cid)).toEqual([]);
    await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${cid}`, { keep_last_manual_snapshot: 0 });
    await waitFor(async () => (await t.client.request('GET', `/v1.0/{project_id}/clusters/${cid}`)).status === 404, {
      what: 'the failed cluster to go',
    });
  });

  it('restart: the primary killed right after it restarted → REBOOT_FAILURE naming node 1 as not running, the cluster UNAVAILABLE; a second restart brings it back', async () => {
    // The window between START_NODE_1 and the rest is held open by a delay on START_NODE_2.
    await delayStep(t.client, id, 'REBOOTING', 'START_NODE_2', 3000);
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/restart`, { restart: {} });
    const running = await waitStep(t.client, id, 'cluster.restart', 'START_NODE_1', ['SUCCESS']);
    await killNode(t.dataDir, id, 1);
    const task = await waitTaskDone(t.client, id, running.id);
    expect(task.status).toBe('FAILED');
    const primary = (await t.svc.store.listNodes(id)).find((n) => n.ordinal === 1)!;
    // The standbys start without their primary (hot standby); the replication check finds it gone.
    expect(task.failed_step).toBe('CHECK_REPLICATION');
    expect(task.error_code).toBe('DWS.9921');
    expect(task.error_msg).toContain(`Node ${primary.host}:${primary.port}: PostgreSQL is not running`);
    record('restart, primary killed after START_NODE_1', `${task.status} at ${task.failed_step}`, task.error_msg);
    const failed = task.items.flatMap((i) => i.sub_items).find((s) => s.status === 'FAILED')!;
    expect(failed.step).toBe('CHECK_REPLICATION');
    const d = await waitHealth('UNAVAILABLE', 'NORMAL');
    expect(d.task_status).toBe('REBOOT_FAILURE');
    expect(d.nodes.map((n) => n.status)).toEqual(['503', '200', '200']);
    const back = await restartCluster();
    expect(back.task_status).toBe('');
    expect(await replicationOf(back)).toEqual([
      { application_name: 'node2', state: 'streaming' },
      { application_name: 'node3', state: 'streaming' },
    ]);
  });

  it("snapshot: the primary killed mid-backup → FAILED with pgBackRest's message, no partial set, earlier snapshots still verify; UNAVAILABLE until a restart", async () => {
    const r = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'primary-dies', cluster_id: id },
    });
    const running = await waitStep(t.client, id, 'snapshot.create', 'BACKUP', ['RUNNING']);
    await waitTool(t.dataDir, /pgbackrest .*backup$/);
    await killNode(t.dataDir, id, 1);
    const task = await waitTaskDone(t.client, id, running.id);
    expect(task.status).toBe('FAILED');
    expect(task.failed_step).toBe('BACKUP');
    expect(task.error_msg).toMatch(/^pgbackrest backup failed: /);
    record('snapshot, primary killed during BACKUP', `${task.status} at ${task.failed_step}`, task.error_msg);
    const a = await t.client.call<Task>('GET', `/v1/{project_id}/clusters/${id}/actions/SNAPSHOTTING_FAILED`);
    expect(a.id).toBe(running.id);
    const pi = JSON.parse(JSON.parse(a.items[0]!.sub_items.find((s) => s.status === 'FAILED')!.detail).progressInfo as string) as Record<
      string,
      unknown
    >;
    expect(pi['failedStep']).toBe('BACKUP');
    expect(pi['errorMsg']).toBe(task.error_msg);
    expect(
      (await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${r.snapshot.id}`)).snapshot.status,
    ).toBe('UNAVAILABLE');
    expect(await unlistedSets(t.svc.dataPlane, stanza)).toEqual([]);
    expect(await verifySet(t.svc.dataPlane, stanza, base.label)).toEqual([]);
    const d = await waitHealth('UNAVAILABLE', 'NORMAL');
    expect(d.task_status).toBe('');
    await restartCluster();
  });

  it("restore: the new cluster's primary killed before its standbys are made → CREATION FAILED naming the primary, the new cluster removed, the source untouched", async () => {
    const before = archiveFiles(t.svc.dataPlane.settings.repoPath, stanza);
    // The standbys come from copies made before the primary's first start (no pg_basebackup to catch mid-copy):
    // the window before BUILD_STANDBYS is held open by a delay.
    await delayStep(t.client, id, 'RESTORING', 'BUILD_STANDBYS', 3000);
    const r = await t.client.call<{ cluster: { id: string } }>('POST', `/v1.0/{project_id}/snapshots/${base.id}/actions`, {
      restore: { name: 'restore-dies' },
    });
    const rid = r.cluster.id;
    await waitStep(t.client, rid, 'cluster.restore', 'ENABLE_NEW_ARCHIVING', ['SUCCESS']);
    await killNode(t.dataDir, rid, 1);
    const d = await waitIdle(t.client, rid, 180_000);
    expect(d.status).toBe('CREATION FAILED');
    expect(d.failed_reasons?.error_msg).toMatch(/not running|ECONNREFUSED|terminat/);
    record('restore, new primary killed before BUILD_STANDBYS', d.status, d.failed_reasons?.error_msg);
    const task = (await newestTask(t.client, rid, 'cluster.restore'))!;
    expect(task.status).toBe('FAILED');
    expect(task.failed_step).toBe('BUILD_STANDBYS');
    const a = await t.client.call<Task>('GET', `/v1/{project_id}/clusters/${rid}/actions/RESTORING_FAILED`);
    expect(a.id).toBe(task.id);
    expect(subItems(task).at(-1)).toEqual(['CLEAN_UP_CLUSTER', 'SUCCESS']);
    expect(leftovers(t.dataDir, rid)).toEqual([]);
    const after = archiveTimelines(archiveFiles(t.svc.dataPlane.settings.repoPath, stanza));
    expect(after.histories).toEqual(archiveTimelines(before).histories);
    expect([...after.segments].filter((x) => x !== '00000001')).toEqual([]);
    expect((await getCluster(t.client, id)).status).toBe('AVAILABLE');
    await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${rid}`, { keep_last_manual_snapshot: 0 });
    await waitFor(async () => (await t.client.request('GET', `/v1.0/{project_id}/clusters/${rid}`)).status === 404, {
      what: 'the failed restore to go',
    });
  });

  it('table restore: the primary killed while the snapshot is restored into the temporary instance → FAILED saying the primary is not running; the temporary instance removed', async () => {
    const r = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${base.id}/table-restore`, {
      case_sensitive: true,
      database: DB,
      restore_table_list: [{ schema_name: 'public', table_name: 'events' }],
      target_table_list: [{ schema_name: 'public', table_name: 'events_back' }],
    });
    await waitStep(t.client, id, 'snapshot.table_restore', 'RESTORE_TEMP', ['RUNNING']);
    await waitTool(join(t.dataDir, 'tmp'), /pgbackrest .*restore$/);
    await killNode(t.dataDir, id, 1);
    const task = await waitTaskDone(t.client, id, r.job_id);
    expect(task.status).toBe('FAILED');
    expect(task.failed_step).toBe('EXPORT_TABLES');
    expect(task.error_msg).toMatch(/the primary is not running; restart the cluster, then restore the tables again/);
    record('table restore, primary killed during RESTORE_TEMP', `${task.status} at ${task.failed_step}`, task.error_msg);
    expect(subItems(task).at(-1)).toEqual(['DISCARD_TABLE_RESTORE', 'SUCCESS']);
    const job = await t.client.call<{ status: string; failed_code: string; failed_detail: string }>(
      'GET',
      `/v1.0/{project_id}/job/${r.job_id}`,
    );
    expect(job.status).toBe('FAIL');
    expect(job.failed_detail).toBe(`${task.error_code}:${task.error_msg}`);
    expect(existsSync(join(t.dataDir, 'tmp')) ? readdirSync(join(t.dataDir, 'tmp')) : []).toEqual([]);
    expect(postmastersUnder(join(t.dataDir, 'tmp') + '/')).toEqual([]);
    await waitHealth('UNAVAILABLE', 'NORMAL');
    await restartCluster();
    expect(await adminSql(endpoint, `select to_regclass('public.events_back') as t`, DB)).toEqual([{ t: null }]);
  });

  it('scale-out: the new node killed once started → CATCH_UP fails at once naming node 4, rolled back (ROLLBACK_SUCCESS), the original nodes untouched', async () => {
    await delayStep(t.client, id, 'GROWING', 'CATCH_UP', 3000);
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/resize`, { scale_out: { count: 1 } });
    const running = await waitStep(t.client, id, 'cluster.scale_out', 'START_NODE_4', ['SUCCESS']);
    const node4 = (await t.svc.store.listNodes(id)).find((n) => n.ordinal === 4)!;
    await killNode(t.dataDir, id, 4);
    const task = await waitTaskDone(t.client, id, running.id);
    expect(task.status).toBe('ROLLBACK_SUCCESS');
    expect(task.failed_step).toBe('CATCH_UP');
    expect(task.error_msg).toContain(`Node ${node4.host}:${node4.port}: PostgreSQL stopped running while catching up with the primary`);
    record('scale-out, node 4 killed before CATCH_UP', `${task.status} at ${task.failed_step}`, task.error_msg);
    expect(subItems(task).at(-1)).toEqual(['REMOVE_ADDED_NODES', 'SUCCESS']);
    const a = await t.client.call<Task>('GET', `/v1/{project_id}/clusters/${id}/actions/RESIZE_FAILURE`);
    expect(a.id).toBe(task.id);
    const d = await waitIdle(t.client, id);
    expect(d.status).toBe('AVAILABLE');
    expect(d.task_status).toBe('RESIZE_FAILURE');
    expect(d.number_of_node).toBe(3);
    expect(d.nodes.map((n) => n.status)).toEqual(['200', '200', '200']);
    expect(await replicationOf(d)).toEqual([
      { application_name: 'node2', state: 'streaming' },
      { application_name: 'node3', state: 'streaming' },
    ]);
    const slots = await adminSql<{ s: string }>(endpoint, 'select slot_name as s from pg_replication_slots order by 1');
    expect(slots.map((x) => x.s)).toEqual(['dwsbox_node2', 'dwsbox_node3']);
    expect(existsSync(join(t.dataDir, 'clusters', id, 'node4'))).toBe(false);
  });

  it('scale-in: a standby that stays killed during the scale-in → SUCCESS (the removal does not need it), then honestly DEGRADED until a restart', async () => {
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/resize`, { scale_out: { count: 1 } });
    expect((await waitIdle(t.client, id, 180_000)).number_of_node).toBe(4);
    await delayStep(t.client, id, 'CLUSTER_SHRINKING', 'REMOVE_NODE_4', 3000);
    const r = await t.client.call<{ job_id: string }>('POST', `/v1.0/{project_id}/clusters/${id}/cluster-shrink`, { shrink_number: 1 });
    await waitStep(t.client, id, 'cluster.scale_in', 'CHECK_SHRINK', ['SUCCESS']);
    await killNode(t.dataDir, id, 2);
    const task = await waitTaskDone(t.client, id, r.job_id);
    expect(task.status, `${task.failed_step}: ${task.error_msg}`).toBe('SUCCESS');
    expect(subItems(task).every(([, s]) => s === 'SUCCESS')).toBe(true);
    const d = await waitHealth('AVAILABLE', 'DEGRADED');
    record(
      'scale-in, standby 2 killed before REMOVE_NODE_4',
      `${task.status}, then the cluster ${d.status}/${d.sub_status}`,
      'node 2 shown 503 until a restart',
    );
    expect(d.number_of_node).toBe(3);
    expect(d.nodes.map((n) => n.status)).toEqual(['200', '503', '200']);
    expect(await replicationOf(d)).toEqual([{ application_name: 'node3', state: 'streaming' }]);
    const back = await restartCluster();
    expect(await replicationOf(back)).toEqual([
      { application_name: 'node2', state: 'streaming' },
      { application_name: 'node3', state: 'streaming' },
    ]);
    expect(postmastersUnder(join(t.dataDir, 'clusters', id, 'node4') + '/')).toEqual([]);
  });

  describe('tools exiting non-zero', () => {
    let gone: { id: string; label: string };

    beforeAll(async () => {
      // A snapshot whose backup set's files are then removed from the repository (an operator's
      // mistake, a broken disk): pgBackRest's catalog still lists it.
      const s = await snapshot('files-removed');
      expect(s.status).toBe('AVAILABLE');
      gone = { id: s.id, label: await labelOf(s.id) };
      rmSync(join(t.svc.dataPlane.backrest.backupDir(stanza), gone.label), { recursive: true, force: true });
    });

    it("a restore from a set whose files are gone → RESTORE_PRIMARY FAILED with pgBackRest's message, CREATION FAILED, nothing left; other snapshots intact", async () => {
      const r = await t.client.call<{ cluster: { id: string } }>('POST', `/v1.0/{project_id}/snapshots/${gone.id}/actions`, {
        restore: { name: 'restore-missing-set' },
      });
      const d = await waitIdle(t.client, r.cluster.id, 180_000);
      expect(d.status).toBe('CREATION FAILED');
      const task = (await newestTask(t.client, r.cluster.id, 'cluster.restore'))!;
      expect(task.status).toBe('FAILED');
      expect(task.failed_step).toBe('RESTORE_PRIMARY');
      expect(task.error_code).toBe('DWS.9920');
      expect(task.error_msg).toMatch(/^pgbackrest restore failed: .*ERROR: \[\d+\]: .*(missing|unable to open|does not exist)/s);
      expect(task.error_msg).toContain(gone.label);
      record('restore of a set whose files were removed', `${task.status} at ${task.failed_step}`, task.error_msg);
      expect(d.failed_reasons?.error_msg).toBe(task.error_msg);
      expect(leftovers(t.dataDir, r.cluster.id)).toEqual([]);
      expect(await verifySet(t.svc.dataPlane, stanza, base.label)).toEqual([]);
      await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${r.cluster.id}`, { keep_last_manual_snapshot: 0 });
      await waitFor(async () => (await t.client.request('GET', `/v1.0/{project_id}/clusters/${r.cluster.id}`)).status === 404, {
        what: 'the failed restore to go',
      });
    });

    it("a table restore from that set → RESTORE_TEMP FAILED with pgBackRest's message; no temporary instance left; the cluster AVAILABLE", async () => {
      const r = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${gone.id}/table-restore`, {
        case_sensitive: true,
        database: DB,
        restore_table_list: [{ schema_name: 'public', table_name: 'events' }],
        target_table_list: [{ schema_name: 'public', table_name: 'events_missing' }],
      });
      const task = await waitTaskDone(t.client, id, r.job_id);
      expect(task.status).toBe('FAILED');
      expect(task.failed_step).toBe('RESTORE_TEMP');
      expect(task.error_msg).toMatch(/^pgbackrest restore failed: .*ERROR: \[\d+\]: /s);
      record('table restore of a set whose files were removed', `${task.status} at ${task.failed_step}`, task.error_msg);
      expect(subItems(task).at(-1)).toEqual(['DISCARD_TABLE_RESTORE', 'SUCCESS']);
      expect(existsSync(join(t.dataDir, 'tmp')) ? readdirSync(join(t.dataDir, 'tmp')) : []).toEqual([]);
      const d = await getCluster(t.client, id);
      expect([d.status, d.sub_status, d.task_status]).toEqual(['AVAILABLE', 'NORMAL', '']);
    });

    it("pg_dump refused by its database mid-export → EXPORT_TABLES FAILED with pg_dump's message; the temporary instance removed", async () => {
      // Hold the step at EXPORT_TABLES until the test holds a lock on the table in the temporary
      // instance: the step's renames then wait for it, and while they wait the database stops
      // taking new connections, which is what pg_dump, started after the renames, then meets.
      await delayStep(t.client, id, 'FINE_GRAINED_RESTORING', 'EXPORT_TABLES', 5000);
      const r = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${base.id}/table-restore`, {
        case_sensitive: true,
        database: DB,
        restore_table_list: [{ schema_name: 'public', table_name: 'events' }],
        target_table_list: [{ schema_name: 'public', table_name: 'events_refused' }],
      });
      await waitStep(t.client, id, 'snapshot.table_restore', 'START_TEMP', ['SUCCESS']);
      const temp = t.svc.dataPlane.tempInstance(r.job_id, PROJECT_ID);
      const holder = temp.client(DB);
      await holder.connect();
      try {
        await holder.query('begin');
        await holder.query('lock table public.events in access share mode');
        const step = (await newestTask(t.client, id, 'snapshot.table_restore'))!.items
          .flatMap((i) => i.sub_items)
          .find((s) => s.step === 'EXPORT_TABLES')!;
        // The lock was taken while the step still waited for its delay.
        expect(step.status).toBe('WAITING');
        await waitFor(
          async () =>
            (
              await temp.query<{ n: number }>(
                `select count(*)::int as n from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'events' and not l.granted`,
                [],
                DB,
              )
            )[0]!.n > 0,
          { what: 'the renames to wait for the lock', intervalMs: 50, timeoutMs: 60_000 },
        );
        await temp.query(`alter database ${DB} allow_connections false`);
        await holder.query('commit');
      } finally {
        await holder.end().catch(() => {});
      }
      const task = await waitTaskDone(t.client, id, r.job_id);
      expect(task.status).toBe('FAILED');
      expect(task.failed_step).toBe('EXPORT_TABLES');
      expect(task.error_code).toBe('DWS.9920');
      expect(task.error_msg).toMatch(/^pg_dump failed: pg_dump: error: .*database "shop" is not currently accepting connections/s);
      record('pg_dump refused by its database', `${task.status} at ${task.failed_step}`, task.error_msg);
      expect(subItems(task).at(-1)).toEqual(['DISCARD_TABLE_RESTORE', 'SUCCESS']);
      expect(existsSync(join(t.dataDir, 'tmp')) ? readdirSync(join(t.dataDir, 'tmp')) : []).toEqual([]);
      expect(postmastersUnder(join(t.dataDir, 'tmp') + '/')).toEqual([]);
      expect(await adminSql(endpoint, `select to_regclass('public.events_refused') as t`, DB)).toEqual([{ t: null }]);
      const d = await getCluster(t.client, id);
      expect([d.status, d.sub_status, d.task_status]).toEqual(['AVAILABLE', 'NORMAL', '']);
      // The same restore without the interference works: the snapshot is fine.
      const ok = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${base.id}/table-restore`, {
        case_sensitive: true,
        database: DB,
        restore_table_list: [{ schema_name: 'public', table_name: 'events' }],
        target_table_list: [{ schema_name: 'public', table_name: 'events_refused' }],
      });
      expect((await waitTaskDone(t.client, id, ok.job_id)).status).toBe('SUCCESS');
      expect(await eventsSum(endpoint, 'public.events_refused')).toBe(base.events);
    });
  });
});

// ------------------------------------------------------------------ disk full

/** Mounts under `dir` in the test's own mount namespace (must stay none). */
const mountsUnder = (dir: string): string[] =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(dir));

describe('the backup repository fills up mid-snapshot (a tmpfs in a mount namespace of the test)', () => {
  const TMPFS_MB = 24;
  let ns: ChildProcess;
  let svc: ChildService;
  let dataDir: string;
  let backupDir: string;
  /** a path as the processes in the namespace see it */
  const inNs = (p: string): string => `/proc/${ns.pid}/root${p}`;

  beforeAll(async () => {
    // A mount namespace held by a `sleep` that dies with the test process (setpriv's death
    // signal survives unshare's exec); every mount made in it vanishes with it.
    ns = spawn('setpriv', ['--pdeathsig=KILL', '--', 'unshare', '--mount', '--propagation', 'private', '--', 'sleep', 'infinity'], {
      stdio: 'ignore',
    });
    await waitFor(async () => readFileSync(`/proc/${ns.pid}/cmdline`, 'utf8').startsWith('sleep'), {
      what: 'the namespace holder',
      intervalMs: 10,
    });
    dataDir = tempDir('diskfull');
    // nsenter into a mount namespace also moves to its root directory: --wd keeps the repository's.
    svc = await startChildService({
      dataDir,
      wrap: ['nsenter', '-t', String(ns.pid), '-m', `--wd=${REPO_ROOT}`, '--'],
      settings: { logLevel: 'info' },
    });
  });

  /**
   * Put a tmpfs of TMPFS_MB under the stanza's backup directory (`<repo>/<stanza>/backup`, its
   * project user's, D32), in the namespace only, with what the stanza already holds copied in.
   * Its WAL archive (`<repo>/<stanza>/archive`) stays on the real disk.
   */
  const mountBackupTmpfs = (stanza: string): void => {
    backupDir = join(dataDir, 'repo', stanza, 'backup');
    const st = statSync(backupDir);
    const held = `${backupDir}.held`;
    const run = (args: string[]): void => {
      const m = spawnSync('nsenter', ['-t', String(ns.pid), '-m', '--', ...args], { encoding: 'utf8' });
      if (m.status !== 0) throw new Error(`${args.join(' ')} failed: ${m.stderr}`);
    };
    run(['cp', '-a', backupDir, held]);
    run(['mount', '-t', 'tmpfs', '-o', `size=${TMPFS_MB}m,mode=0750,uid=${st.uid},gid=${st.gid}`, 'dwsbox-test-full', backupDir]);
    run(['cp', '-a', `${held}/.`, `${backupDir}/`]);
    rmSync(held, { recursive: true, force: true });
    // Only the namespace sees it.
    expect(mountsUnder(dataDir)).toEqual([]);
    expect(statfsSync(inNs(backupDir)).blocks * statfsSync(inNs(backupDir)).bsize).toBe(TMPFS_MB * 1024 * 1024);
  };

  afterAll(async () => {
    await svc?.cleanup().catch(() => {});
    ns?.kill('SIGKILL');
    await waitFor(async () => !existsSync(`/proc/${ns.pid}/stat`), {
      what: 'the namespace holder to go',
      intervalMs: 20,
      timeoutMs: 10_000,
    }).catch(() => {});
    // Nothing left behind: no mount (there never was one here), no process.
    expect(mountsUnder(dataDir)).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain('dwsbox-test-full');
  });

  it("the snapshot FAILED with DISK_FULL (DWS.9927) and the tool's message, its partial files removed, the earlier snapshot restorable, the cluster AVAILABLE", async () => {
    const { client } = svc;
    const c = await createAvailableCluster(client, { nodes: 3 });
    const ep = c.detail.endpoints[0]!.connect_info;
    const stanza = `cluster-${c.id}`;
    mountBackupTmpfs(stanza);
    const setsDir = join(backupDir, stanza);
    await adminSql(ep, `create database ${DB}`);
    await adminSql(
      ep,
      `create table events (id int primary key, payload text not null); insert into events select g, md5(g::text) from generate_series(1, 2000) g`,
      DB,
    );
    const sum = await eventsSum(ep);
    const s0 = await client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'fits', cluster_id: c.id },
    });
    expect(await snapshotDone(client, s0.snapshot.id)).toBe('AVAILABLE');
    const setsBefore = readdirSync(inNs(setsDir)).filter((n) => /^\d{8}-\d{6}F/.test(n));
    const usedBefore = (() => {
      const st = statfsSync(inNs(backupDir));
      return (st.blocks - st.bfree) * st.bsize;
    })();
    // Then about 40 MB that no compression shrinks: the next (differential) backup must copy
    // all of it into what is left of the 24 MB. (Its WAL goes to the archive, not on the tmpfs.)
    await adminSql(
      ep,
      `create extension pgcrypto; create table big (id int primary key, b bytea not null);
      insert into big select g, gen_random_bytes(1024) from generate_series(1, 40000) g; checkpoint`,
      DB,
    );

    const s1 = await client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'overflows', cluster_id: c.id },
    });
    expect(await snapshotDone(client, s1.snapshot.id)).toBe('UNAVAILABLE');
    const a = await client.call<Task>('GET', `/v1/{project_id}/clusters/${c.id}/actions/SNAPSHOTTING_FAILED`);
    expect(a.status).toBe('FAILED');
    expect(a.failed_step).toBe('BACKUP');
    expect(a.error_code, a.error_msg ?? '').toBe('DWS.9927');
    // The filesystem named, with what pgBackRest itself said (2.45 reports the short write on a
    // full disk with a stale errno, so its own text does not say ENOSPC).
    expect(a.error_msg).toMatch(
      new RegExp(
        `^No space left on device: the backup repository's filesystem \\(${backupDir}/${stanza}\\) filled up: 0\\.\\d MB free of 25\\.2 MB; pgbackrest backup failed: ERROR: \\[\\d+\\]: .*unable to write`,
        's',
      ),
    );
    record('repository tmpfs full during BACKUP', `${a.status} at ${a.failed_step}`, a.error_msg);
    const failed = a.items.flatMap((i) => i.sub_items).find((x) => x.status === 'FAILED')!;
    expect(failed.step).toBe('BACKUP');
    // Mid-snapshot: the backup had copied bytes before the disk filled.
    const pi = JSON.parse(JSON.parse(failed.detail).progressInfo as string) as Record<string, unknown>;
    expect(pi['errorCode']).toBe('DWS.9927');
    expect(Number(pi['backupSize'])).toBeGreaterThan(0);
    // The partial set is gone and the space with it: the repository holds what it held before.
    expect(readdirSync(inNs(setsDir)).filter((n) => /^\d{8}-\d{6}F/.test(n))).toEqual(setsBefore);
    const st = statfsSync(inNs(backupDir));
    expect((st.blocks - st.bfree) * st.bsize).toBeLessThanOrEqual(usedBefore + 1024 * 1024);
    // The cluster is fine and its earlier snapshot restorable (a real restore of its table).
    const d = await getCluster(client, c.id);
    expect([d.status, d.sub_status, d.task_status]).toEqual(['AVAILABLE', 'NORMAL', '']);
    const tr = await client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${s0.snapshot.id}/table-restore`, {
      case_sensitive: true,
      database: DB,
      restore_table_list: [{ schema_name: 'public', table_name: 'events' }],
      target_table_list: [{ schema_name: 'public', table_name: 'events_back' }],
    });
    const job = await waitFor(
      async () => {
        const j = await client.call<{ status: string; failed_detail: string }>('GET', `/v1.0/{project_id}/job/${tr.job_id}`);
        return j.status === 'SUCCESS' || j.status === 'FAIL' ? j : null;
      },
      { what: 'the table restore', timeoutMs: 180_000 },
    );
    expect(job.status, job.failed_detail).toBe('SUCCESS');
    expect(await eventsSum(ep, 'public.events_back')).toBe(sum);
    // The tmpfs goes first: deleting the stanza removes its directory, and rm --one-file-system stops at a mount.
    const um = spawnSync('nsenter', ['-t', String(ns.pid), '-m', '--', 'umount', backupDir], { encoding: 'utf8' });
    expect(um.status, um.stderr).toBe(0);
    await client.call('DELETE', `/v1.0/{project_id}/clusters/${c.id}`, { keep_last_manual_snapshot: 0 });
    await waitFor(async () => (await client.request('GET', `/v1.0/{project_id}/clusters/${c.id}`)).status === 404, {
      what: 'the cluster to go',
    });
  });
});
