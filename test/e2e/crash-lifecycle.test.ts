/**
 * Crash faults in cluster restart (REBOOTING) and delete (DELETING), design D1 and D13: the
 * service, run as a child process, is killed with SIGKILL at a chosen step and point, then
 * started again on the same data directory; the task must be taken over and finish.
 *
 * Restart: each lane makes one cluster and restarts it once per case. Steps stop the standbys, then the primary,
 * start the primary, then the standbys, then CHECK_REPLICATION (the only one that reports
 * progress, so the only `during`). Covered: before STOP_NODE_3, after STOP_NODE_2, after
 * STOP_NODE_1 (every node down), after START_NODE_1, before START_NODE_3, during and after
 * CHECK_REPLICATION. Each ends AVAILABLE/NORMAL with an empty task_status, the task SUCCESS with
 * every sub-item SUCCESS, every node running under a new postmaster, both standbys streaming,
 * and the store and the postmasters in agreement.
 * Delete: a fresh cluster per case, at every step (STOP_NODES, KEEP_SNAPSHOTS, REMOVE_DATA)
 * before, during STOP_NODES (which reports progress per node) and after REMOVE_DATA; with
 * DWSBOX_FULL_CRASH_MATRIX=1 after every step too (`crashPoints`). Each ends 404 with
 * no process, file, lock file or stanza left, and the task SUCCESS.
 * Parameter change (SETTING_CONFIGURATION, a value that takes a restart, restart_now): on the
 * restart clusters, after APPLY_SETTINGS, before RESTART_NODE_2, after RESTART_NODE_1, before
 * VERIFY_SETTINGS. Each ends with the task SUCCESS, every member showing the new value with
 * nothing pending, both standbys streaming.
 * All: nothing the crashed service started outlived it, and the task's durable `ran_by` names
 * the crashed process, then the restarted one.
 * Budget (D21): two lanes (child services, each on its own data directory) take the cases one
 * at a time each, so at most two tasks run at once.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { postmastersUnder, startChildService, watchToolChildren, type ChildService } from '../helpers/child-service.js';
import {
  LanePool,
  adminQuery,
  clusterTasks,
  deleteCluster,
  leftovers,
  nodesVsPostmasters,
  replicationOf,
  requestMayDie,
  resetLane,
  subItems,
  toolsLeftAfterCrash,
  waitForGone,
} from '../helpers/crash.js';
import { crashPoints } from '../helpers/crash-matrix.js';
import { waitFor } from '../helpers/env.js';
import { longLivedChildren } from '../helpers/engine.js';
import { createAvailableCluster, getCluster, waitIdle } from '../helpers/service.js';

const RESTART_STEPS = ['STOP_NODE_3', 'STOP_NODE_2', 'STOP_NODE_1', 'START_NODE_1', 'START_NODE_2', 'START_NODE_3', 'CHECK_REPLICATION'];
const RESTART_CASES = [
  { step: 'STOP_NODE_3', point: 'before' },
  { step: 'STOP_NODE_2', point: 'after' },
  { step: 'STOP_NODE_1', point: 'after' },
  { step: 'START_NODE_1', point: 'after' },
  { step: 'START_NODE_3', point: 'before' },
  { step: 'CHECK_REPLICATION', point: 'during' },
  { step: 'CHECK_REPLICATION', point: 'after' },
] as const;
const CONFIGURE_CASES = [
  { step: 'APPLY_SETTINGS', point: 'after' },
  { step: 'RESTART_NODE_2', point: 'before' },
  { step: 'RESTART_NODE_1', point: 'after' },
  { step: 'VERIFY_SETTINGS', point: 'before' },
] as const;
const DELETE_STEPS = ['STOP_NODES', 'KEEP_SNAPSHOTS', 'REMOVE_DATA'];
const DELETE_CASES = crashPoints(DELETE_STEPS, { progress: new Set(['STOP_NODES']), ci: new Set(['STOP_NODES']) });

/** ordinal → postmaster PID under a cluster's directory */
function postmasterPids(svc: ChildService, id: string): Map<number, number> {
  return new Map(
    postmastersUnder(join(svc.dataDir, 'clusters', id) + '/').map((p) => [Number(/\/node(\d+)\/data$/.exec(p.dataDir)![1]), p.pid]),
  );
}

describe('cluster restart and delete survive a SIGKILL of the service (crash faults)', () => {
  let pool: LanePool;
  /** the cluster each lane restarts, made by its first restart case */
  const restartCluster = new Map<ChildService, string>();

  beforeAll(async () => {
    pool = new LanePool(await Promise.all([startChildService(), startChildService()]));
  });
  afterAll(async () => {
    await pool?.cleanup();
  });

  /** The cluster a lane restarts and reconfigures, made by its first case. */
  const laneCluster = async (svc: ChildService): Promise<string> => {
    let id = restartCluster.get(svc);
    if (!id) {
      id = (await createAvailableCluster(svc.client, { nodes: 3 })).id;
      restartCluster.set(svc, id);
    }
    return id;
  };
  /** A case over: the service running again, no fault left, the lane free. */
  const releaseLane = async (svc: ChildService): Promise<void> => {
    if (!svc.alive()) await svc.restart().catch(() => {});
    await svc.client.request('DELETE', '/dwsbox/v1/{project_id}/faults').catch(() => {});
    pool.release(svc);
  };

  const restartCase = (step: string, point: string): void => {
    it.concurrent(
      `restart: crash ${point} ${step}, the restarted service finishes the restart`,
      { timeout: 300_000 },
      async ({ expect }) => {
        const svc = await pool.acquire();
        try {
          const id = await laneCluster(svc);
          const before = postmasterPids(svc, id);
          expect(before.size).toBe(3);
          await svc.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
            cluster_id: id,
            action_name: 'REBOOTING',
            step,
            mode: 'crash',
            point,
          });
          const crashedPid = svc.pid;
          const watcher = watchToolChildren(crashedPid, 20, longLivedChildren());
          await requestMayDie(svc.client, 'POST', `/v1.0/{project_id}/clusters/${id}/restart`, { restart: {} });
          const exit = await svc.waitExit(120_000);
          watcher.stop();
          expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
          expect(await toolsLeftAfterCrash(watcher, svc.dataDir)).toEqual([]);

          await svc.restart();
          const done = await waitIdle(svc.client, id, 120_000);
          expect(done.status).toBe('AVAILABLE');
          expect(done.task_status).toBe('');
          const task = (await clusterTasks(svc.client, id)).find((t) => t.kind === 'cluster.restart')!;
          expect(task.status).toBe('SUCCESS');
          expect(subItems(task)).toEqual(RESTART_STEPS.map((s) => ({ step: s, status: 'SUCCESS' })));
          expect(svc.ranBy(task.id)).toEqual([crashedPid, svc.pid]);

          // Every node really restarted, runs, streams; the store agrees with the processes.
          const healthy = await waitFor(
            async () => {
              const d = await getCluster(svc.client, id);
              return d.sub_status === 'NORMAL' && d.nodes.every((n) => n.status === '200') ? d : null;
            },
            { what: 'every node up', timeoutMs: 30_000 },
          );
          const after = postmasterPids(svc, id);
          expect([...after.keys()].sort()).toEqual([1, 2, 3]);
          for (const n of [1, 2, 3]) expect(after.get(n)).not.toBe(before.get(n));
          const agree = nodesVsPostmasters(svc.dataDir, id, healthy);
          expect(agree.running).toEqual(agree.up);
          expect(await replicationOf(healthy)).toEqual([
            { application_name: 'node2', state: 'streaming' },
            { application_name: 'node3', state: 'streaming' },
          ]);
          expect((await svc.client.call<{ count: number }>('GET', '/dwsbox/v1/{project_id}/faults')).count).toBe(0);
        } finally {
          await releaseLane(svc);
        }
      },
    );
  };

  const configureCase = (step: string, point: string): void => {
    it.concurrent(
      `parameter change: crash ${point} ${step}, the restarted service applies it on every member`,
      { timeout: 300_000 },
      async ({ expect }) => {
        const svc = await pool.acquire();
        try {
          const id = await laneCluster(svc);
          const members = async (): Promise<string[]> => (await getCluster(svc.client, id)).nodes.map((n) => n.connect_info);
          const setting = async (at: string) =>
            (
              await adminQuery<{ setting: string; pending: boolean }>(
                at,
                "select setting, pending_restart as pending from pg_settings where name = 'max_locks_per_transaction'",
              )
            )[0]!;
          const next = String(Number((await setting((await members())[0]!)).setting) + 16);
          await svc.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
            cluster_id: id,
            action_name: 'SETTING_CONFIGURATION',
            step,
            mode: 'crash',
            point,
          });
          const crashedPid = svc.pid;
          const watcher = watchToolChildren(crashedPid, 20, longLivedChildren());
          await requestMayDie(svc.client, 'PUT', `/v2/{project_id}/clusters/${id}/configurations/${id}`, {
            configurations: [{ type: 'dn', name: 'max_locks_per_transaction', value: next }],
            restart_now: true,
          });
          const exit = await svc.waitExit(120_000);
          watcher.stop();
          expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
          expect(await toolsLeftAfterCrash(watcher, svc.dataDir)).toEqual([]);

          await svc.restart();
          const done = await waitIdle(svc.client, id, 180_000);
          expect(done.status).toBe('AVAILABLE');
          const task = (await clusterTasks(svc.client, id)).find((t) => t.kind === 'cluster.configure')!;
          expect(task.status).toBe('SUCCESS');
          expect(subItems(task).every((x) => x.status === 'SUCCESS')).toBe(true);
          expect(svc.ranBy(task.id)).toEqual([crashedPid, svc.pid]);
          const healthy = await waitFor(
            async () => {
              const d = await getCluster(svc.client, id);
              return d.nodes.every((n) => n.status === '200') ? d : null;
            },
            { what: 'every node up', timeoutMs: 60_000 },
          );
          for (const at of healthy.nodes.map((n) => n.connect_info))
            expect(await setting(at), at).toEqual({ setting: next, pending: false });
          expect((await replicationOf(healthy)).map((r) => r.state)).toEqual(['streaming', 'streaming']);
          expect((await svc.client.call<{ count: number }>('GET', '/dwsbox/v1/{project_id}/faults')).count).toBe(0);
        } finally {
          await releaseLane(svc);
        }
      },
    );
  };

  const deleteCase = (step: string, point: string): void => {
    it.concurrent(`delete: crash ${point} ${step}, the restarted service finishes the delete`, { timeout: 300_000 }, async ({ expect }) => {
      const svc = await pool.acquire();
      let ok = false;
      try {
        const { id } = await createAvailableCluster(svc.client, { nodes: 3 });
        await svc.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
          cluster_id: id,
          action_name: 'DELETING',
          step,
          mode: 'crash',
          point,
        });
        const crashedPid = svc.pid;
        const watcher = watchToolChildren(crashedPid, 20, longLivedChildren());
        await requestMayDie(svc.client, 'DELETE', `/v1.0/{project_id}/clusters/${id}`, { keep_last_manual_snapshot: 0 });
        const exit = await svc.waitExit(120_000);
        watcher.stop();
        expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
        expect(await toolsLeftAfterCrash(watcher, svc.dataDir)).toEqual([]);

        await svc.restart();
        await waitForGone(svc.client, id);
        expect(leftovers(svc.dataDir, id)).toEqual([]);
        // The API no longer shows the cluster; the store keeps its finished task.
        const [task] = svc.storeQuery<{ id: string; status: string }>(
          "select id, status from tasks where cluster_id = ? and kind = 'cluster.delete'",
          id,
        );
        expect(task?.status).toBe('SUCCESS');
        const steps = svc.storeQuery<{ step_id: string; status: string }>(
          'select step_id, status from task_steps where task_id = ? order by seq',
          task!.id,
        );
        expect(steps).toEqual(DELETE_STEPS.map((s) => ({ step_id: s, status: 'SUCCESS' })));
        expect(svc.ranBy(task!.id)).toEqual([crashedPid, svc.pid]);
        ok = true;
      } finally {
        if (!ok) {
          await resetLane(svc).catch(() => {});
          restartCluster.delete(svc);
        }
        pool.release(svc);
      }
    });
  };

  // Interleaved; either lane takes the next case.
  for (let i = 0; i < Math.max(RESTART_CASES.length, DELETE_CASES.length, CONFIGURE_CASES.length); i++) {
    const r = RESTART_CASES[i];
    const d = DELETE_CASES[i];
    const c = CONFIGURE_CASES[i];
    if (r) restartCase(r.step, r.point);
    if (d) deleteCase(d.step, d.point);
    if (c) configureCase(c.step, c.point);
  }

  it('the restarted clusters can still be deleted cleanly', async ({ expect }) => {
    expect(restartCluster.size).toBeGreaterThan(0);
    for (const [svc, id] of restartCluster) {
      await deleteCluster(svc.client, id);
      expect(leftovers(svc.dataDir, id)).toEqual([]);
    }
  });
});
