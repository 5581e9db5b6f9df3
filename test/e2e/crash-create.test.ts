/**
 * Crash matrix for cluster create on the local engine (design D1, D13). The service, run as a
 * child process the way a user runs it, is killed with SIGKILL by an injected `crash` fault at
 * each step of CREATING and each point, then started again on the same data directory.
 * This matrix runs on the local engine (`LOCAL_ENGINE`): it asserts that engine's own
 * supervision (the postmasters `serve` started outlive it, nothing else it started does). On
 * the default engine the same cases run in crash-patroni.test.ts, section 1, with Patroni's
 * checks (the agent's units keep their PIDs, Patroni's own tools are exempt, D23); running
 * them here a second time on Patroni would double the suite's longest file. After each crash:
 * - nothing it had started (tools, lock holders) outlived it; every postmaster it had started did;
 * - the restarted service takes the task over and the create ends AVAILABLE/NORMAL, the task
 *   SUCCESS with every sub-item SUCCESS, and the cluster works (admin login, both standbys
 *   streaming);
 * - the store and the running postmasters agree: every node the API shows as "200" has a live
 *   postmaster on its data directory, and no other postmaster runs;
 * - the task was taken over: its durable `ran_by` names the crashed process, then the
 *   restarted one (the crashed one's last log lines can be lost with it).
 *
 * Points (`CREATE_CASES`, test/helpers/crash-matrix.ts): in CI `before` every step, `during`
 * the copies (BUILD_STANDBY_n) and `after` the last step, 11 cases; with
 * DWSBOX_FULL_CRASH_MATRIX=1 `before` and `after` every step and `during` every step that
 * reports progress (ctx.progress: BUILD_STANDBY_n and VERIFY_CLUSTER), 19 cases. `during` fires
 * at a step's first progress sample. A fresh cluster's standby copy is
 * short, so `during` BUILD_STANDBY_n lands mid-copy on some runs and just after it on others.
 * Budget (D21): two child services ("lanes"), each running its cases one after another on its
 * own data directory, so at most two creates run at once; each cluster is deleted after its
 * case. A case takes about 10 s on a quiet 2-core machine (create, SIGKILL, restart, takeover,
 * finish, delete), so the file needs about 2 min alone; measured 3.5 min on 2 cores with other
 * suites running beside it (load average 4–7), 4–5 min under heavier sharing (load 7–10).
 *
 * Also here, in process and on the test engine: an injected `fail` at BUILD_STANDBY_3 ends CREATION FAILED, the
 * cleanup undo step having removed every process, file and the pgBackRest stanza.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postmastersUnder, startChildService, stillAlive, watchToolChildren } from '../helpers/child-service.js';
import {
  LanePool,
  clusterTasks,
  deleteCluster,
  findClusterId,
  leftovers,
  nodesVsPostmasters,
  postCreate,
  replicationOf,
  resetLane,
  subItems,
  toolsLeftAfterCrash,
} from '../helpers/crash.js';
import { CREATE_CASES, CREATE_STEPS } from '../helpers/crash-matrix.js';
import { freePort } from '../helpers/env.js';
import { LOCAL_ENGINE } from '../helpers/engine.js';
import { ADMIN_PASSWORD, SUBNET, VPC, startService, waitIdle, type TestService } from '../helpers/service.js';

const STEPS = CREATE_STEPS;
const CASES = CREATE_CASES;

describe('cluster create survives a SIGKILL of the service at every step (crash faults)', () => {
  let pool: LanePool;

  beforeAll(async () => {
    pool = new LanePool(await Promise.all([startChildService({ settings: LOCAL_ENGINE }), startChildService({ settings: LOCAL_ENGINE })]));
  });
  afterAll(async () => {
    await pool?.cleanup();
  });

  for (const { step, point } of CASES) {
    it.concurrent(`crash ${point} ${step}: the restarted service finishes the create`, { timeout: 420_000 }, async ({ expect }) => {
      const svc = await pool.acquire();
      let ok = false;
      try {
        await svc.client.call('POST', '/dwsbox/v1/{project_id}/faults', { action_name: 'CREATING', step, mode: 'crash', point });
        const crashedPid = svc.pid;
        const watcher = watchToolChildren(crashedPid, 20);
        const name = `crash-${step.toLowerCase().replace(/_/g, '-')}-${point}`;
        let id = await postCreate(svc.client, name, await freePort());

        // The fault kills the service with SIGKILL, by itself.
        const exit = await svc.waitExit(180_000);
        watcher.stop();
        expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
        // Nothing it started outlives it; its postmasters do (D1).
        expect(await toolsLeftAfterCrash(watcher, svc.dataDir)).toEqual([]);
        expect(
          watcher
            .postmasters()
            .filter((p) => !stillAlive(p))
            .map((p) => p.cmd),
        ).toEqual([]);

        await svc.restart();
        id ??= await findClusterId(svc.client, name);

        const done = await waitIdle(svc.client, id, 180_000);
        expect(done.status, JSON.stringify(done.failed_reasons)).toBe('AVAILABLE');
        expect(done.sub_status).toBe('NORMAL');
        expect(done.task_status).toBe('');
        expect(done.nodes.map((n) => [n.role, n.status])).toEqual([
          ['primary', '200'],
          ['standby', '200'],
          ['standby', '200'],
        ]);
        const agree = nodesVsPostmasters(svc.dataDir, id, done);
        expect(agree.running).toEqual(agree.up);
        expect(await replicationOf(done)).toEqual([
          { application_name: 'node2', state: 'streaming' },
          { application_name: 'node3', state: 'streaming' },
        ]);

        // The task: SUCCESS, every planned sub-item SUCCESS, no undo step.
        const create = (await clusterTasks(svc.client, id)).find((t) => t.kind === 'cluster.create')!;
        expect(create.status).toBe('SUCCESS');
        expect(subItems(create)).toEqual(STEPS.map((s) => ({ step: s, status: 'SUCCESS' })));
        // Taken over: the crashed process ran it, then the restarted one, which finished it.
        expect(svc.ranBy(create.id)).toEqual([crashedPid, svc.pid]);
        expect(svc.logLines().some((l) => l['taskId'] === create.id && l.msg === 'task succeeded' && l.pid === svc.pid)).toBe(true);
        // The crash fault fired once: none is left.
        expect((await svc.client.call<{ count: number }>('GET', '/dwsbox/v1/{project_id}/faults')).count).toBe(0);

        await deleteCluster(svc.client, id);
        expect(leftovers(svc.dataDir, id)).toEqual([]);
        expect(postmastersUnder(join(svc.dataDir, 'clusters') + '/')).toEqual([]);
        ok = true;
      } finally {
        if (!ok) await resetLane(svc).catch(() => {});
        pool.release(svc);
      }
    });
  }
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
    await t.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      action_name: 'CREATING',
      step: 'BUILD_STANDBY_3',
      mode: 'fail',
      point: 'before',
    });
    const r = await t.client.call<{ cluster: { id: string } }>('POST', '/v1.0/{project_id}/clusters', {
      cluster: {
        name: 'fails-at-standby-3',
        node_type: 'dwsx.small',
        number_of_node: 3,
        subnet_id: SUBNET,
        vpc_id: VPC,
        user_name: 'dbadmin',
        user_pwd: ADMIN_PASSWORD,
        port: await freePort(),
      },
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

    // Cleaned up: the nodes it had started (primary and standby 2) are gone, with every file,
    // the lock file and the stanza (<dataDir>/repo/{backup,archive}/cluster-<id>).
    expect(postmastersUnder(join(t.dataDir, 'clusters') + '/')).toEqual([]);
    expect(leftovers(t.dataDir, id)).toEqual([]);

    // The user can then delete the failed cluster.
    await t.client.call('DELETE', '/dwsbox/v1/{project_id}/faults');
    await deleteCluster(t.client, id);
    expect(leftovers(t.dataDir, id)).toEqual([]);
  });
});
