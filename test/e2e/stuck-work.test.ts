/**
 * Stuck work ends (issue 6). Every step has a hard limit (`--step-timeout-ms`, or its own
 * `timeoutMs`); a step, a tool or an injected hang that shows no progress for
 * `--step-idle-timeout-ms` fails with STEP_TIMEOUT (DWS.9923) and a message saying what it was
 * waiting for; lock waits end at the same limit; the task then ends (FAILED, or rolled back)
 * and no task stays RUNNING.
 *
 * The cluster and its snapshot are made by a service with the default limits; the same data
 * directory is then served by one with a 12 s step limit and a 4 s idle limit, which adopts the
 * running nodes, and each case makes one thing wait:
 * - a `hang` fault before a step (SNAPSHOTTING CHECK_CLUSTER): ends at the idle limit;
 * - a real pgBackRest frozen mid-backup (SIGSTOP): stopped at the idle limit;
 * - a `hang` fault after a scale-out's copy, and another before its rollback step: the task
 *   still ends (ROLLBACK_FAIL, naming what is left), and running the scale-out again cleans up;
 * - a `delay` fault longer than the step limit (REBOOTING CHECK_REPLICATION): ends at the hard limit;
 * - a real tool that stops making progress: pg_restore waiting for a lock the test holds on the
 *   table its foreign key references; ends at the idle limit, and nothing is left imported;
 * - the cluster's lock file held by another process: the step's lock wait ends at the idle limit.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterTasks, replicationOf, unlistedSets, verifySet, type TaskOut } from '../helpers/crash.js';
import { standbySlot } from '../helpers/engine.js';
import { processesUnder, waitFor } from '../helpers/env.js';
import { adminSql } from '../helpers/restore-data.js';
import { ADMIN_PASSWORD, createAvailableCluster, getCluster, startService, waitIdle, type TestService } from '../helpers/service.js';

const STEP_LIMIT_MS = 12_000;
const IDLE_LIMIT_MS = 4000;
const DB = 'shop';

type Task = Omit<TaskOut, 'items'> & { items: { item_name: string; sub_items: { step: string; status: string; detail: string }[] }[] };
const subItems = (t: Pick<Task, 'items'>): [string, string][] =>
  t.items.flatMap((i) => i.sub_items.map((s): [string, string] => [s.step, s.status]));

describe('stuck work ends: step limits, idle limits, lock waits', () => {
  let t: TestService;
  let id: string;
  let endpoint: string;
  let snapId: string;
  let stanza: string;

  const newest = async (kind: string): Promise<Task> => (await clusterTasks(t.client, id)).find((x) => x.kind === kind) as Task;
  const done = (taskId: string): Promise<Task> =>
    waitFor(
      async () => {
        const x = await t.client.call<Task>('GET', `/dwsbox/v1/{project_id}/clusters/${id}/tasks/${taskId}`);
        return ['SUCCESS', 'FAILED', 'ROLLBACK_SUCCESS', 'ROLLBACK_FAIL'].includes(x.status) ? x : null;
      },
      { what: `task ${taskId} to end`, timeoutMs: 120_000, intervalMs: 100 },
    );
  /** No task of this data directory is left WAITING, RUNNING or ROLLBACK_RUNNING. */
  const activeTasks = async (): Promise<string[]> => (await t.svc.store.listActiveTasks()).map((x) => `${x.kind} ${x.status}`);
  const fault = (body: Record<string, unknown>): Promise<unknown> =>
    t.client.call('POST', '/dwsbox/v1/{project_id}/faults', { cluster_id: id, times: 1, ...body });

  beforeAll(async () => {
    const first = await startService();
    const c = await createAvailableCluster(first.client, { nodes: 3 });
    id = c.id;
    endpoint = c.detail.endpoints[0]!.connect_info;
    stanza = `cluster-${id}`;
    await adminSql(endpoint, `create database ${DB}`);
    await adminSql(
      endpoint,
      `create table customers (id int primary key, name text not null);
      create table orders (id int primary key, customer_id int not null references customers(id), amount int not null);
      insert into customers select g, 'c' || g from generate_series(1, 200) g;
      insert into orders select g, 1 + g % 200, g from generate_series(1, 2000) g`,
      DB,
    );
    const r = await first.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'with-orders', cluster_id: id },
    });
    snapId = r.snapshot.id;
    await waitFor(
      async () =>
        (await first.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${snapId}`)).snapshot.status ===
        'AVAILABLE',
      { what: 'the snapshot' },
    );
    await adminSql(endpoint, 'drop table orders', DB);
    await first.stop({ keepDir: true });
    t = await startService({ dataDir: first.dataDir, flags: { stepTimeoutMs: STEP_LIMIT_MS, stepIdleTimeoutMs: IDLE_LIMIT_MS } });
    // The new service adopted the cluster: on the local engine its nodes stopped with the first one and
    // it started them; on Patroni they ran on under the host agent.
    const d = await waitFor(
      async () => {
        const x = await getCluster(t.client, id);
        return x.sub_status === 'NORMAL' && x.nodes.every((n) => n.status === '200') ? x : null;
      },
      { what: 'the cluster back up', timeoutMs: 60_000 },
    );
    expect(await replicationOf(d)).toHaveLength(2);
  }, 300_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('a hang before a step ends at the idle limit: STEP_TIMEOUT saying it waited for the injected hang; the snapshot FAILED, the cluster AVAILABLE', async () => {
    await fault({ action_name: 'SNAPSHOTTING', step: 'CHECK_CLUSTER', mode: 'hang', point: 'before' });
    const r = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'hangs', cluster_id: id },
    });
    const task = await done((await newest('snapshot.create')).id);
    expect(task.status).toBe('FAILED');
    expect(task.failed_step).toBe('CHECK_CLUSTER');
    expect(task.error_code).toBe('DWS.9923');
    expect(task.error_msg).toMatch(
      new RegExp(
        `^Step CHECK_CLUSTER made no progress for ${IDLE_LIMIT_MS / 1000} s while waiting for an injected hang \\(fault [0-9a-f-]+, before the step; the faults API\\) to end; it was stopped\\.$`,
      ),
    );
    const a = await t.client.call<Task>('GET', `/v1/{project_id}/clusters/${id}/actions/SNAPSHOTTING_FAILED`);
    expect(a.id).toBe(task.id);
    expect(subItems(a)).toEqual([
      ['CHECK_CLUSTER', 'FAILED'],
      ['BACKUP', 'WAITING'],
      ['VERIFY_BACKUP', 'WAITING'],
      ['RECORD_SNAPSHOT', 'WAITING'],
    ]);
    expect(
      (await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${r.snapshot.id}`)).snapshot.status,
    ).toBe('UNAVAILABLE');
    const d = await getCluster(t.client, id);
    expect([d.status, d.task_status]).toEqual(['AVAILABLE', '']);
    expect(await activeTasks()).toEqual([]);
  });

  it('a pgBackRest that stops making progress (SIGSTOP mid-backup) is stopped at the idle limit, saying what it waited for; no partial set left', async () => {
    const r = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'stalls', cluster_id: id },
    });
    await waitFor(
      async () =>
        (await newest('snapshot.create')).items.flatMap((i) => i.sub_items).find((x) => x.step === 'BACKUP')?.status === 'RUNNING',
      { what: 'BACKUP to run', intervalMs: 20 },
    );
    await waitFor(async () => processesUnder(t.dataDir).some((p) => /pgbackrest .* backup$/.test(p.cmd)), {
      what: 'pgbackrest backup to run',
      intervalMs: 10,
    });
    // pgBackRest and its worker processes, frozen: alive, silent, writing nothing.
    const frozen = processesUnder(t.dataDir).filter((p) => /pgbackrest .* backup(:local)?$/.test(p.cmd));
    for (const p of frozen) process.kill(p.pid, 'SIGSTOP');
    expect((await newest('snapshot.create')).status).toBe('RUNNING');
    const task = await done((await newest('snapshot.create')).id);
    expect(task.status).toBe('FAILED');
    expect(task.failed_step).toBe('BACKUP');
    expect(task.error_code).toBe('DWS.9923');
    expect(task.error_msg).toBe(
      `Step pgbackrest backup made no progress for ${IDLE_LIMIT_MS / 1000} s while waiting for pgBackRest to copy the next file; it was stopped.`,
    );
    // The frozen processes were killed with the tool (its PID namespace), and the partial set removed.
    expect(processesUnder(t.dataDir).filter((p) => /pgbackrest/.test(p.cmd) && !/archive-(push|get)/.test(p.cmd))).toEqual([]);
    expect(await unlistedSets(t.svc.dataPlane, stanza)).toEqual([]);
    expect(await verifySet(t.svc.dataPlane, stanza, (await t.svc.store.getSnapshotById(snapId))!.backupLabel!)).toEqual([]);
    expect(
      (await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${r.snapshot.id}`)).snapshot.status,
    ).toBe('UNAVAILABLE');
    const d = await getCluster(t.client, id);
    expect([d.status, d.task_status]).toEqual(['AVAILABLE', '']);
    expect(await activeTasks()).toEqual([]);
  });

  it('a hang after a copy and another in the rollback: the task still ends (ROLLBACK_FAIL naming what is left); running the scale-out again cleans up', async () => {
    await fault({ action_name: 'GROWING', step: 'COPY_DATA_4', mode: 'hang', point: 'after' });
    await fault({ action_name: 'GROWING', step: 'REMOVE_ADDED_NODES', mode: 'hang', point: 'before' });
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/resize`, { scale_out: { count: 1 } });
    const task = await done((await newest('cluster.scale_out')).id);
    expect(task.status).toBe('ROLLBACK_FAIL');
    expect(task.failed_step).toBe('COPY_DATA_4');
    expect(task.error_code).toBe('DWS.9923');
    const idle = IDLE_LIMIT_MS / 1000;
    expect(task.error_msg).toMatch(
      new RegExp(
        `^Step COPY_DATA_4 made no progress for ${idle} s while waiting for an injected hang \\(fault [0-9a-f-]+, after the step; the faults API\\) to end; it was stopped\\. ` +
          `Undo incomplete \\(REMOVE_ADDED_NODES: Step REMOVE_ADDED_NODES made no progress for ${idle} s while waiting for an injected hang .*\\): what is left is listed above; delete the cluster or run the operation again to clean it up\\.$`,
      ),
    );
    expect(subItems(task)).toEqual([
      ['CHECK_GROW', 'SUCCESS'],
      ['COPY_DATA_4', 'FAILED'],
      ['START_NODE_4', 'WAITING'],
      ['CATCH_UP', 'WAITING'],
      ['PUBLISH_NODES', 'WAITING'],
      ['REMOVE_ADDED_NODES', 'ROLLBACK_FAIL'],
    ]);
    const d = await waitIdle(t.client, id);
    expect([d.status, d.task_status, d.number_of_node]).toEqual(['AVAILABLE', 'RESIZE_FAILURE', 3]);
    expect(await activeTasks()).toEqual([]);
    // Running it again removes what the first one left (node 4's copy), then adds the node.
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/resize`, { scale_out: { count: 1 } });
    const again = await done((await newest('cluster.scale_out')).id);
    expect(again.status, `${again.failed_step}: ${again.error_msg}`).toBe('SUCCESS');
    const check = again.items.flatMap((i) => i.sub_items).find((s) => s.step === 'CHECK_GROW')!;
    expect((JSON.parse(JSON.parse(check.detail).progressInfo as string) as { removedLeftovers: number[] }).removedLeftovers).toEqual([4]);
    const grown = await waitIdle(t.client, id);
    expect([grown.status, grown.task_status, grown.number_of_node]).toEqual(['AVAILABLE', '', 4]);
    expect((await replicationOf(grown)).map((r) => r.state)).toEqual(['streaming', 'streaming', 'streaming']);
    const r = await t.client.call<{ job_id: string }>('POST', `/v1.0/{project_id}/clusters/${id}/cluster-shrink`, { shrink_number: 1 });
    expect((await done(r.job_id)).status).toBe('SUCCESS');
    const slots = await adminSql<{ s: string }>(endpoint, 'select slot_name as s from pg_replication_slots order by 1');
    expect(slots.map((x) => x.s)).toEqual([standbySlot(2), standbySlot(3)]);
    expect(
      readdirSync(join(t.dataDir, 'clusters', id))
        .filter((n) => n.startsWith('node'))
        .sort(),
    ).toEqual(['node1', 'node2', 'node3']);
    expect((await t.svc.store.listNodes(id)).map((n) => n.ordinal)).toEqual([1, 2, 3]);
  });

  it('a step longer than its hard limit ends there: STEP_TIMEOUT after the step limit, REBOOT_FAILURE, no task RUNNING', async () => {
    await fault({ action_name: 'REBOOTING', step: 'CHECK_REPLICATION', mode: 'delay', point: 'before', delay_ms: 60_000 });
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/restart`, { restart: {} });
    const task = await done((await newest('cluster.restart')).id);
    expect(task.status).toBe('FAILED');
    expect(task.failed_step).toBe('CHECK_REPLICATION');
    expect(task.error_code).toBe('DWS.9923');
    expect(task.error_msg).toBe(
      `Step CHECK_REPLICATION made no progress for ${STEP_LIMIT_MS / 1000} s while waiting for the step to finish; it was stopped.`,
    );
    const d = await waitIdle(t.client, id);
    expect([d.status, d.task_status]).toEqual(['AVAILABLE', 'REBOOT_FAILURE']);
    expect(await activeTasks()).toEqual([]);
  });

  it('a pg_restore waiting for a lock the test holds ends at the idle limit, saying what it waited for; nothing is left imported', async () => {
    const [host, port] = endpoint.split(':');
    const locker = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: DB });
    await locker.connect();
    let job: string;
    try {
      // orders' foreign key references customers: pg_restore adds it after loading the rows, and waits for this lock.
      await locker.query('begin');
      await locker.query('lock table customers in access exclusive mode');
      const r = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${snapId}/table-restore`, {
        case_sensitive: true,
        database: DB,
        restore_table_list: [{ schema_name: 'public', table_name: 'orders' }],
        target_table_list: [{ schema_name: 'public', table_name: 'orders' }],
      });
      job = r.job_id;
      const task = await done(job);
      expect(task.status).toBe('FAILED');
      expect(task.failed_step).toBe('IMPORT_TABLES');
      expect(task.error_code).toBe('DWS.9923');
      expect(task.error_msg).toBe(
        `Step pg_restore made no progress for ${IDLE_LIMIT_MS / 1000} s while waiting for pg_restore to load the next rows; it was stopped.`,
      );
      expect(subItems(task).at(-1)).toEqual(['DISCARD_TABLE_RESTORE', 'SUCCESS']);
      expect(existsSync(join(t.dataDir, 'tmp')) ? readdirSync(join(t.dataDir, 'tmp')) : []).toEqual([]);
      expect(await activeTasks()).toEqual([]);
    } finally {
      await locker.query('rollback').catch(() => {});
      await locker.end().catch(() => {});
    }
    // pg_restore ran in one transaction: once its session ends, nothing of it is left.
    await waitFor(
      async () =>
        (
          await adminSql<{ n: number }>(
            endpoint,
            `select count(*)::int as n from pg_stat_activity where application_name like 'dwsbox-%-restore'`,
            DB,
          )
        )[0]!.n === 0,
      { what: "pg_restore's session to end" },
    );
    expect(await adminSql(endpoint, `select to_regclass('public.orders') as t`, DB)).toEqual([{ t: null }]);
    const d = await getCluster(t.client, id);
    expect([d.status, d.task_status]).toEqual(['AVAILABLE', '']);
  });

  it("the cluster's lock file held by another process: the step's lock wait ends at the idle limit, naming the lock", async () => {
    const lockFile = t.svc.dataPlane.lockFile(id);
    // flock execs sleep holding the lock; the death signal ends it with the test if need be.
    const holder = spawn('setpriv', ['--pdeathsig=KILL', '--', 'flock', '--no-fork', lockFile, 'sleep', '600'], { stdio: 'ignore' });
    try {
      // flock --no-fork becomes `sleep` once it holds the lock.
      await waitFor(async () => readFileSync(`/proc/${holder.pid}/cmdline`, 'utf8').startsWith('sleep'), {
        what: 'the lock holder',
        intervalMs: 10,
      });
      await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/restart`, { restart: {} });
      const task = await done((await newest('cluster.restart')).id);
      expect(task.status).toBe('FAILED');
      expect(task.failed_step).toBe('STOP_NODE_3');
      expect(task.error_code).toBe('DWS.9923');
      expect(task.error_msg).toBe(
        `Step STOP_NODE_3 made no progress for ${IDLE_LIMIT_MS / 1000} s while waiting for the lock ${lockFile} (another process is working on it); it was stopped.`,
      );
      expect(await activeTasks()).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
    }
    // Nothing was touched: every node still runs under the postmaster it had.
    const d = await waitIdle(t.client, id);
    expect([d.status, d.sub_status]).toEqual(['AVAILABLE', 'NORMAL']);
    expect(d.nodes.map((n) => n.status)).toEqual(['200', '200', '200']);
  });
});
