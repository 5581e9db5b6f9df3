/**
 * Crash matrix for cluster create (design D1, D13): the service, run as a child process the
 * way a user runs it, is killed with SIGKILL by an injected `crash` fault at every step of
 * CREATING and every point where that point exists, then started again on the same data
 * directory. After each crash:
 * - no tool or lock holder it had started outlived it (setpriv --pdeathsig=KILL);
 * - the restarted service takes the task over and the create ends AVAILABLE, its task
 *   SUCCESS with every sub-item SUCCESS;
 * - the store and the running postmasters agree (every node the API shows as "200" has a live
 *   postmaster on its data directory, and no other postmaster runs);
 * - the service log shows two processes ran the task, and that the first one injected the crash.
 *
 * Points: `before` and `after` for every step; `during` fires at a step's first progress
 * sample (ctx.progress), and of the create steps only BUILD_STANDBY_n and VERIFY_CLUSTER
 * report progress, so `during` is covered for those three (19 cases in all).
 * Budget (D21): two child services ("lanes"), each running its cases one after another on
 * its own data directory, so at most two creates run at a time; each cluster is deleted
 * after its case. About two minutes on 2 cores.
 *
 * Also here, in process: an injected `fail` at BUILD_STANDBY_3 ends CREATION FAILED, with
 * the cleanup undo step having removed every process, file and the pgBackRest stanza.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { ApiError, type DwsClient } from '../../src/cli/client.js';
import { allProcesses, postmastersUnder, startChildService, stillAlive, watchToolChildren, type ChildService, type ProcInfo } from '../helpers/child-service.js';
import { freePort, processesUnder, waitFor } from '../helpers/env.js';
import { ADMIN_PASSWORD, SUBNET, VPC, getCluster, startService, waitIdle, type ClusterDetail, type TestService } from '../helpers/service.js';

const STEPS = ['CHECK_CAPACITY', 'INIT_PRIMARY', 'START_PRIMARY', 'ENABLE_ARCHIVING', 'BUILD_STANDBY_2', 'BUILD_STANDBY_3', 'CREATE_ADMIN', 'VERIFY_CLUSTER'] as const;
/** The create steps that call ctx.progress, where a `during` fault can fire. */
const REPORTS_PROGRESS = new Set<string>(['BUILD_STANDBY_2', 'BUILD_STANDBY_3', 'VERIFY_CLUSTER']);
const CASES = STEPS.flatMap((step) => (['before', 'during', 'after'] as const)
  .filter((point) => point !== 'during' || REPORTS_PROGRESS.has(step))
  .map((point) => ({ step, point })));

/** Short-lived tools the service runs (D1); they must die with it. */
const TOOL_RE = /(?:^|[/ ])(initdb|pg_basebackup|pgbackrest|flock|setpriv)(?: |$)/;

// ------------------------------------------------------------------ shared helpers

interface TaskOut {
  id: string; kind: string; status: string; failed_step: string | null; error_code: string | null; error_msg: string | null;
  items: { item_name: string; sub_items: { step: string; status: string }[] }[];
}

async function clusterTasks(client: DwsClient, id: string): Promise<TaskOut[]> {
  return (await client.call<{ tasks: TaskOut[] }>('GET', `/dwsbox/v1/{project_id}/clusters/${id}/tasks`)).tasks;
}

const subItems = (t: TaskOut): { step: string; status: string }[] => t.items.flatMap((i) => i.sub_items.map((s) => ({ step: s.step, status: s.status })));

/** POST a 3-node create; null when the service died before it answered (a crash right at claim time). */
async function postCreate(client: DwsClient, name: string, port: number): Promise<string | null> {
  try {
    const r = await client.call<{ cluster: { id: string } }>('POST', '/v1.0/{project_id}/clusters', {
      cluster: { name, node_type: 'dwsx.small', number_of_node: 3, subnet_id: SUBNET, vpc_id: VPC, user_name: 'dbadmin', user_pwd: ADMIN_PASSWORD, port },
    });
    return r.cluster.id;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    return null;
  }
}

async function findClusterId(client: DwsClient, name: string): Promise<string> {
  const l = await client.call<{ clusters: { id: string; name: string }[] }>('GET', '/v1.0/{project_id}/clusters');
  const c = l.clusters.find((x) => x.name === name);
  if (!c) throw new Error(`no cluster named ${name} after the restart`);
  return c.id;
}

async function adminQuery<R>(connectInfo: string, sql: string): Promise<R[]> {
  const [host, port] = connectInfo.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres', connectionTimeoutMillis: 5000 });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query(sql)).rows as R[];
  } finally {
    await c.end().catch(() => {});
  }
}

const nodeDataDir = (dataDir: string, clusterId: string, connectInfo: string): string => {
  const ordinal = Number(connectInfo.split(':')[0]!.split('.')[3]);
  return join(dataDir, 'clusters', clusterId, `node${ordinal}`, 'data');
};

/** Store and processes agree: the API's "200" nodes are exactly the running postmasters under the data directory. */
function expectPostmastersMatch(dataDir: string, clusterId: string, d: ClusterDetail): void {
  const up = d.nodes.filter((n) => n.status === '200').map((n) => nodeDataDir(dataDir, clusterId, n.connect_info)).sort();
  const running = postmastersUnder(join(dataDir, 'clusters') + '/').map((p) => p.dataDir).sort();
  expect(running).toEqual(up);
}

async function deleteAndCheckGone(client: DwsClient, dataDir: string, id: string): Promise<void> {
  const r = await client.request('DELETE', `/v1.0/{project_id}/clusters/${id}`, { keep_last_manual_snapshot: 0 });
  expect(r.status).toBe(202);
  await waitFor(async () => (await client.request('GET', `/v1.0/{project_id}/clusters/${id}`)).status === 404, { what: `cluster ${id} to be deleted`, timeoutMs: 120_000 });
  expect(processesUnder(join(dataDir, 'clusters', id))).toEqual([]);
  expect(existsSync(join(dataDir, 'clusters', id))).toBe(false);
  expect(existsSync(join(dataDir, 'repo', 'backup', `cluster-${id}`))).toBe(false);
  expect(existsSync(join(dataDir, 'repo', 'archive', `cluster-${id}`))).toBe(false);
}

// ------------------------------------------------------------------ lanes: two child services

class LanePool {
  private free: ChildService[] = [];
  private waiting: ((l: ChildService) => void)[] = [];
  constructor(readonly all: ChildService[]) {
    this.free = [...all];
  }
  acquire(): Promise<ChildService> {
    const l = this.free.pop();
    if (l) return Promise.resolve(l);
    return new Promise((r) => this.waiting.push(r));
  }
  release(l: ChildService): void {
    const w = this.waiting.shift();
    if (w) w(l);
    else this.free.push(l);
  }
}

/** Put a lane back in a known state after a failed case: running, no faults, no clusters. */
async function resetLane(svc: ChildService): Promise<void> {
  if (!svc.alive()) await svc.restart();
  await svc.client.call('DELETE', '/dwsbox/v1/{project_id}/faults');
  const l = await svc.client.call<{ clusters: { id: string }[] }>('GET', '/v1.0/{project_id}/clusters');
  for (const c of l.clusters) {
    await waitIdle(svc.client, c.id, 120_000).catch(() => {});
    await svc.client.request('DELETE', `/v1.0/{project_id}/clusters/${c.id}`, { keep_last_manual_snapshot: 0 });
    await waitFor(async () => (await svc.client.request('GET', `/v1.0/{project_id}/clusters/${c.id}`)).status === 404, { timeoutMs: 60_000 }).catch(() => {});
  }
}

/** Tool processes that outlived the service: the ones it was seen running, or any orphan tool on its data directory. */
function survivingTools(seen: ProcInfo[], dataDir: string): ProcInfo[] {
  const all = allProcesses();
  const byPid = new Map(all.map((p) => [p.pid, p]));
  const orphans = all.filter((p) => p.cmd.includes(dataDir) && TOOL_RE.test(p.cmd) && !/^postgres/.test(byPid.get(p.ppid)?.cmd ?? ''));
  const seenAlive = seen.filter(stillAlive);
  return [...new Map([...seenAlive, ...orphans].map((p) => [p.pid, p])).values()];
}

describe('cluster create survives a SIGKILL of the service at every step (crash faults)', () => {
  let pool: LanePool;

  beforeAll(async () => {
    const lanes = await Promise.all([startChildService(), startChildService()]);
    pool = new LanePool(lanes);
  });
  afterAll(async () => {
    const errors: unknown[] = [];
    for (const l of pool?.all ?? []) await l.cleanup().catch((e: unknown) => errors.push(e));
    if (errors.length) throw errors[0];
  });

  for (const { step, point } of CASES) it.concurrent(`crash ${point} ${step}: the restarted service finishes the create`, { timeout: 420_000 }, async ({ expect }) => {
    const svc = await pool.acquire();
    let clusterId: string | null = null;
    let ok = false;
    try {
      await svc.client.call('POST', '/dwsbox/v1/{project_id}/faults', { action_name: 'CREATING', step, mode: 'crash', point });
      const crashedPid = svc.pid;
      const watcher = watchToolChildren(crashedPid);
      const name = `crash-${step.toLowerCase().replace(/_/g, '-')}-${point}`;
      clusterId = await postCreate(svc.client, name, await freePort());

      // The fault kills the service with SIGKILL, by itself.
      const exit = await svc.waitExit(180_000);
      watcher.stop();
      expect(exit).toEqual({ code: null, signal: 'SIGKILL' });

      // Nothing it started (tools, lock holders) outlives it; postmasters do (D1).
      const seen = watcher.seen();
      await waitFor(async () => survivingTools(seen, svc.dataDir).length === 0, { timeoutMs: 5000, intervalMs: 50 }).catch(() => {});
      expect(survivingTools(seen, svc.dataDir).map((p) => `${p.pid} ${p.cmd}`)).toEqual([]);

      await svc.restart();
      clusterId ??= await findClusterId(svc.client, name);
      const id = clusterId;

      const done = await waitIdle(svc.client, id, 180_000);
      expect(done.status, JSON.stringify(done.failed_reasons)).toBe('AVAILABLE');
      expect(done.sub_status).toBe('NORMAL');
      expect(done.task_status).toBe('');
      expect(done.nodes.map((n) => [n.role, n.status])).toEqual([['primary', '200'], ['standby', '200'], ['standby', '200']]);
      expectPostmastersMatch(svc.dataDir, id, done);

      // The cluster really works: the administrator logs in and both standbys stream.
      const repl = await adminQuery<{ application_name: string; state: string }>(done.endpoints[0]!.connect_info, 'select application_name, state from pg_stat_replication order by 1');
      expect(repl).toEqual([{ application_name: 'node2', state: 'streaming' }, { application_name: 'node3', state: 'streaming' }]);

      // The task: SUCCESS, every planned sub-item SUCCESS, no undo step.
      const tasks = await clusterTasks(svc.client, id);
      const create = tasks.find((t) => t.kind === 'cluster.create')!;
      expect(create.status).toBe('SUCCESS');
      expect(subItems(create)).toEqual(STEPS.map((s) => ({ step: s, status: 'SUCCESS' })));

      // Taken over: the crashed process injected the crash; it and the restarted one both ran the task.
      const lines = svc.logLines().filter((l) => l['taskId'] === create.id);
      expect(lines.some((l) => l.msg === 'injecting fault' && l.pid === crashedPid && l['step'] === step && l['point'] === point && l['mode'] === 'crash')).toBe(true);
      const ranBy = [...new Set(lines.filter((l) => l.msg === 'task running').map((l) => l.pid))];
      expect(ranBy).toContain(crashedPid);
      expect(ranBy).toContain(svc.pid);
      expect(lines.some((l) => l.msg === 'task succeeded' && l.pid === svc.pid)).toBe(true);

      // The fault fired once: none is left.
      expect((await svc.client.call<{ count: number }>('GET', '/dwsbox/v1/{project_id}/faults')).count).toBe(0);

      await deleteAndCheckGone(svc.client, svc.dataDir, id);
      expect(postmastersUnder(join(svc.dataDir, 'clusters') + '/')).toEqual([]);
      ok = true;
    } finally {
      if (!ok) await resetLane(svc).catch(() => {});
      pool.release(svc);
    }
  });
});

describe('an injected failure at BUILD_STANDBY_3 (in process)', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startService();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('ends CREATION FAILED with the fault in failed_reasons, cleaned up: no postmaster, data or stanza left', async () => {
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', { action_name: 'CREATING', step: 'BUILD_STANDBY_3', mode: 'fail', point: 'before' });
    const r = await t.client.call<{ cluster: { id: string } }>('POST', '/v1.0/{project_id}/clusters', {
      cluster: { name: 'fails-at-standby-3', node_type: 'dwsx.small', number_of_node: 3, subnet_id: SUBNET, vpc_id: VPC, user_name: 'dbadmin', user_pwd: ADMIN_PASSWORD, port: await freePort() },
    });
    const id = r.cluster.id;
    const d = await waitIdle(t.client, id);
    expect(d.status).toBe('CREATION FAILED');
    expect(d.failed_reasons?.error_code).toBe('DWS.9922');
    expect(d.failed_reasons?.error_msg).toMatch(/Injected fault \(fail BUILD_STANDBY_3 at before\)/);
    expect(d.nodes).toEqual([]);

    const create = (await clusterTasks(t.client, id)).find((x) => x.kind === 'cluster.create')!;
    expect(create.status).toBe('FAILED');
    expect(create.failed_step).toBe('BUILD_STANDBY_3');
    expect(create.error_code).toBe('DWS.9922');
    expect(subItems(create)).toEqual([
      ...STEPS.slice(0, 5).map((s) => ({ step: s, status: 'SUCCESS' })),
      { step: 'BUILD_STANDBY_3', status: 'FAILED' },
      { step: 'CREATE_ADMIN', status: 'WAITING' },
      { step: 'VERIFY_CLUSTER', status: 'WAITING' },
      { step: 'CLEAN_UP_CLUSTER', status: 'SUCCESS' },
    ]);

    // Cleaned up: the nodes it had started (primary and standby 2) are gone, with every file and the stanza.
    expect(postmastersUnder(join(t.dataDir, 'clusters') + '/')).toEqual([]);
    expect(processesUnder(id)).toEqual([]);
    expect(existsSync(join(t.dataDir, 'clusters', id))).toBe(false);
    expect(existsSync(join(t.dataDir, 'locks', `${id}.lock`))).toBe(false);
    expect(existsSync(join(t.dataDir, 'repo', 'backup', `cluster-${id}`))).toBe(false);
    expect(existsSync(join(t.dataDir, 'repo', 'archive', `cluster-${id}`))).toBe(false);

    // The user can delete the failed cluster.
    await t.client.call('DELETE', '/dwsbox/v1/{project_id}/faults');
    await deleteAndCheckGone(t.client, t.dataDir, id);
    void getCluster;
  });
});
