/**
 * Data-plane faults on the Patroni engine (issue 15): the counterparts of `data-plane-faults`
 * sections 1 and 3, where the local engine's answer (a killed postmaster is an outage until a
 * restart) does not apply. The leader's postmaster is killed (SIGKILL, by PID) under a task;
 * Patroni fails over while the task runs, and the task goes on against the member that leads
 * now (`withLeader` and `livePrimary` in member-steps.ts): a snapshot's backup is taken again
 * from it, a table restore imports into it, a scale-out's new member catches up with it. Each
 * succeeds with nothing left behind, and the cluster heals by itself (AVAILABLE, the old leader
 * streaming again, no restart asked). The tools exiting non-zero end as on the local engine.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postmastersUnder } from '../helpers/child-service.js';
import { clusterTasks, leftovers, replicationOf, unlistedSets, verifySet, type TaskOut } from '../helpers/crash.js';
import { processesUnder, testAgentDir, waitFor } from '../helpers/env.js';
import { adminSql } from '../helpers/restore-data.js';
import {
  createAvailableCluster,
  delayStep,
  getCluster,
  startService,
  takeSnapshot,
  waitIdle,
  waitStep as waitStepOf,
  waitTaskDone as waitTaskDoneOf,
  type ClusterDetail,
  type TestService,
} from '../helpers/service.js';

const DB = 'shop';

type Task = TaskOut & { kind: string };

let t: TestService;
let id: string;
let rw: string;
let stanza: string;
let base: { id: string; label: string };

/** What each case ended with (printed at the end, for docs/reliability.md). */
const outcomes: string[] = [];
afterAll(() => {
  if (outcomes.length) console.log(`[patroni faults]\n${outcomes.map((o) => `  ${o}`).join('\n')}`);
});

const count = async (table = 'public.events'): Promise<number> =>
  Number((await adminSql<{ n: string }>(rw, `select count(*)::text as n from ${table}`, DB))[0]!.n);

const waitStep = (kind: string, step: string, statuses: string[]): Promise<Task> => waitStepOf<Task>(t.client, id, kind, step, statuses);
const waitTaskDone = (taskId: string): Promise<Task> => waitTaskDoneOf<Task>(t.client, id, taskId);

/** The member that leads now, by the API (which reads Patroni). */
async function leaderOrdinal(): Promise<number> {
  const d = await getCluster(t.client, id);
  const i = d.nodes.findIndex((n) => n.role === 'primary');
  if (i < 0) throw new Error('no primary');
  return Number(d.nodes[i]!.connect_info.split(':')[0]!.split('.')[3]);
}

/** SIGKILL the leader's postmaster, by the PID in its postmaster.pid; returns the ordinal. */
async function killLeader(): Promise<number> {
  const ordinal = await leaderOrdinal();
  const dataDir = join(t.dataDir, 'clusters', id, `node${ordinal}`, 'data');
  const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.kill(pid, 'SIGKILL');
  return ordinal;
}

/** The cluster healed by itself: AVAILABLE, every member up and streaming from one leader, writes through the same endpoint. */
async function healed(nodes: number): Promise<ClusterDetail> {
  const d = await waitFor(
    async () => {
      const x = await getCluster(t.client, id);
      if (x.status !== 'AVAILABLE' || x.task_status === 'REPAIRING' || !x.nodes.every((n) => n.status === '200')) return null;
      const rep = await replicationOf(x).catch(() => []);
      return rep.filter((r) => r.state === 'streaming').length === nodes - 1 ? x : null;
    },
    { what: 'the cluster healed by itself', timeoutMs: 120_000 },
  );
  expect(d.endpoints[0]!.connect_info).toBe(rw);
  expect(d.nodes.filter((n) => n.role === 'primary')).toHaveLength(1);
  return d;
}

const snapshot = (name: string): Promise<{ id: string; status: string }> => takeSnapshot(t.client, id, name);

beforeAll(async () => {
  t = await startService({ flags: { engine: 'patroni', agentDir: testAgentDir() } });
  const c = await createAvailableCluster(t.client, { nodes: 3 });
  id = c.id;
  rw = c.detail.endpoints[0]!.connect_info;
  stanza = (await t.svc.store.getClusterById(id))!.stanza;
  await adminSql(rw, `create database ${DB}`);
  await adminSql(
    rw,
    `create table events (id int primary key, kind text not null, payload text not null);
     insert into events select g, 'k' || (g % 7), repeat(md5(g::text), 8) from generate_series(1, 200000) g`,
    DB,
  );
  const s = await snapshot('base');
  expect(s.status).toBe('AVAILABLE');
  base = { id: s.id, label: (await t.svc.store.getSnapshotById(s.id))!.backupLabel! };
});
afterAll(async () => {
  await t?.stop();
});

describe('the leader killed under a task: Patroni fails over while it runs', () => {
  it('snapshot: the leader killed mid-backup → the backup is taken again from the new leader: SUCCESS, no partial set left; the cluster heals by itself', async () => {
    const r = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'leader-dies', cluster_id: id },
    });
    const running = await waitStep('snapshot.create', 'BACKUP', ['RUNNING']);
    await waitFor(async () => processesUnder(t.dataDir).find((p) => /pgbackrest .*backup$/.test(p.cmd)), {
      what: 'pgbackrest backup running',
      intervalMs: 10,
    });
    const old = await killLeader();
    const task = await waitTaskDone(running.id);
    const snap = (await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${r.snapshot.id}`)).snapshot;
    outcomes.push(`snapshot, leader node${old} killed during BACKUP: ${task.status} ${task.failed_step ?? ''} ${task.error_msg ?? ''}`);
    // pgBackRest stopped ("unable to find primary cluster"); the step ran again against the new leader.
    expect(task.status, `${task.failed_step}: ${task.error_msg}`).toBe('SUCCESS');
    expect(snap.status).toBe('AVAILABLE');
    expect(await leaderOrdinal()).not.toBe(old);
    await healed(3);
    expect(await unlistedSets(t.svc.dataPlane, stanza)).toEqual([]);
    expect(await verifySet(t.svc.dataPlane, stanza, base.label)).toEqual([]);
    expect((await snapshot('after-failover')).status).toBe('AVAILABLE');
  });

  it('table restore: the leader killed while the snapshot is restored into the temporary instance → the tables come back into the new leader: SUCCESS; no temporary instance left', async () => {
    const r = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${base.id}/table-restore`, {
      case_sensitive: true,
      database: DB,
      restore_table_list: [{ schema_name: 'public', table_name: 'events' }],
      target_table_list: [{ schema_name: 'public', table_name: 'events_back' }],
    });
    await waitStep('snapshot.table_restore', 'RESTORE_TEMP', ['RUNNING']);
    await waitFor(async () => processesUnder(join(t.dataDir, 'tmp')).find((p) => /pgbackrest .*restore$/.test(p.cmd)), {
      what: 'pgbackrest restore running',
      intervalMs: 10,
    });
    const old = await killLeader();
    const task = await waitTaskDone(r.job_id);
    outcomes.push(
      `table restore, leader node${old} killed during RESTORE_TEMP: ${task.status} ${task.failed_step ?? ''} ${task.error_msg ?? ''}`,
    );
    await healed(3);
    expect(task.status, `${task.failed_step}: ${task.error_msg}`).toBe('SUCCESS');
    expect(await count('public.events_back')).toBe(200000);
    expect(existsSync(join(t.dataDir, 'tmp')) ? readdirSync(join(t.dataDir, 'tmp')) : []).toEqual([]);
    expect(postmastersUnder(join(t.dataDir, 'tmp') + '/')).toEqual([]);
  });

  it('scale-out: the leader killed before the new member catches up → it follows the member that leads now; SUCCESS with 4 members streaming', async () => {
    await delayStep(t.client, id, 'GROWING', 'CATCH_UP', 3000);
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/resize`, { scale_out: { count: 1 } });
    const running = await waitStep('cluster.scale_out', 'CATCH_UP', ['RUNNING', 'PENDING']);
    await waitStep('cluster.scale_out', 'START_NODE_4', ['SUCCESS']);
    const old = await killLeader();
    const task = await waitTaskDone(running.id);
    outcomes.push(`scale-out, leader node${old} killed before CATCH_UP: ${task.status} ${task.failed_step ?? ''} ${task.error_msg ?? ''}`);
    expect(task.status, `${task.failed_step}: ${task.error_msg}`).toBe('SUCCESS');
    const d = await healed(4);
    expect(d.number_of_node).toBe(4);
  });
});

describe('tools exiting non-zero', () => {
  it("a restore from a set whose files are gone → RESTORE_PRIMARY FAILED with pgBackRest's message, CREATION FAILED, nothing left", async () => {
    const s = await snapshot('files-removed');
    expect(s.status).toBe('AVAILABLE');
    const label = (await t.svc.store.getSnapshotById(s.id))!.backupLabel!;
    rmSync(join(t.svc.dataPlane.backrest.backupDir(stanza), label), { recursive: true, force: true });
    const r = await t.client.call<{ cluster: { id: string } }>('POST', `/v1.0/{project_id}/snapshots/${s.id}/actions`, {
      restore: { name: 'restore-missing-set' },
    });
    const d = await waitIdle(t.client, r.cluster.id, 180_000);
    expect(d.status).toBe('CREATION FAILED');
    const task = (await clusterTasks(t.client, r.cluster.id)).find((x) => x.kind === 'cluster.restore')!;
    expect(task.failed_step).toBe('RESTORE_PRIMARY');
    expect(task.error_msg).toMatch(/^pgbackrest restore failed: .*ERROR: \[\d+\]: .*(missing|unable to open|does not exist)/s);
    expect(leftovers(t.dataDir, r.cluster.id)).toEqual([]);
    await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${r.cluster.id}`, { keep_last_manual_snapshot: 0 });
    await waitFor(async () => (await t.client.request('GET', `/v1.0/{project_id}/clusters/${r.cluster.id}`)).status === 404, {
      what: 'the failed restore to go',
    });
  });
});
