/**
 * End to end on the Patroni engine (issue 15, D23–D25), through the API: a 3-node cluster whose
 * members are Patroni members under the host agent, its endpoints the router's; a snapshot of
 * it; its primary's postmaster killed, writes accepted again through the same endpoint, the
 * roles in the API following Patroni and `sub_status` UNBALANCED until the switchback; a replica
 * Patroni leaves stopped rebuilt by a repair task; the cluster deleted with nothing of it left on
 * the host.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killTestAgent, TestAgentClient } from '../helpers/engine.js';
import { memberUnit, routerUnit } from '../../src/dataplane/patroni/ha-cluster.js';
import type { PatroniEngine } from '../../src/dataplane/patroni-engine.js';
import { clusterTasks, adminQuery as sqlAsAdmin, subItems } from '../helpers/crash.js';
import { createAvailableCluster, getCluster, startService, waitIdle, type TestService } from '../helpers/service.js';
import { freePort, testAgentDir, waitFor } from '../helpers/env.js';

let t: TestService;
beforeAll(async () => {
  t = await startService({ flags: { engine: 'patroni', agentDir: testAgentDir() } });
});
afterAll(async () => {
  await t?.stop();
});

const adminQuery = (connectInfo: string, sql: string) => sqlAsAdmin<Record<string, unknown>>(connectInfo, sql);

describe('the Patroni engine through the API', () => {
  let id: string;
  let rw: string;
  let ro: string;
  const scope = (): string => `dws-${id}`;

  it('creates a 3-node cluster of Patroni members: endpoints are the router read-write then read-only, every member streaming', async () => {
    const c = await createAvailableCluster(t.client, { nodes: 3 });
    id = c.id;
    const d = c.detail;
    expect(d.sub_status).toBe('NORMAL');
    expect(d.nodes.map((n) => n.role)).toEqual(['primary', 'standby', 'standby']);
    expect((d as unknown as { sync_mode: string }).sync_mode).toBe('sync');
    expect(d.endpoints.map((e) => e.connect_info)).toEqual([
      expect.stringMatching(/^127\.1\.\d+\.1:\d+$/),
      expect.stringMatching(/^127\.1\.\d+\.2:\d+$/),
    ]);
    [rw, ro] = d.endpoints.map((e) => e.connect_info) as [string, string];
    const units = (await new TestAgentClient(testAgentDir()).units()).map((u) => u.name);
    for (const i of [1, 2, 3]) expect(units).toContain(memberUnit(scope(), i));
    expect(units).toContain(routerUnit(scope()));
    await adminQuery(rw, 'create table t(x int primary key); insert into t select generate_series(1, 1000)');
    const rows = await adminQuery(rw, 'select application_name, state, sync_state from pg_stat_replication order by 1');
    expect(rows.map((r) => [r['application_name'], r['state']])).toEqual([
      ['node2', 'streaming'],
      ['node3', 'streaming'],
    ]);
    expect(rows.filter((r) => r['sync_state'] === 'sync')).toHaveLength(1);
    // The read-only endpoint reaches a replica.
    await waitFor(async () => (await adminQuery(ro, 'select pg_is_in_recovery() as r, count(*)::int as n from t'))[0]!['n'] === 1000, {
      what: 'rows on a replica through the read-only endpoint',
    });
    expect((await adminQuery(ro, 'select pg_is_in_recovery() as r'))[0]!['r']).toBe(true);
  });

  it('changes its replication while it runs (the dwsbox sync-mode call): async, then sync again; the detail, the record and the leader agree', async () => {
    const path = `/dwsbox/v1/{project_id}/clusters/${id}/sync-mode`;
    const syncStates = async (): Promise<string[]> =>
      (await adminQuery(rw, 'select sync_state from pg_stat_replication order by sync_state')).map((r) => String(r['sync_state']));
    const shown = async (): Promise<unknown> => ((await getCluster(t.client, id)) as unknown as { sync_mode: string }).sync_mode;
    const recorded = (): unknown =>
      (JSON.parse(readFileSync(join(t.dataDir, 'clusters', id, 'ha.json'), 'utf8')) as { syncMode: string }).syncMode;
    expect(await t.client.call('PUT', path, { sync_mode: 'async' })).toEqual({ sync_mode: 'async' });
    // Answered once the leader shows it: it waits for no standby.
    expect(await syncStates()).toEqual(['async', 'async']);
    expect([await shown(), recorded()]).toEqual(['async', 'async']);
    // An unknown mode is refused and changes nothing.
    expect((await t.client.request('PUT', path, { sync_mode: 'sometimes' })).status).toBe(400);
    expect(await shown()).toBe('async');
    expect(await t.client.call('PUT', path, { sync_mode: 'sync' })).toEqual({ sync_mode: 'sync' });
    expect(await syncStates()).toEqual(['async', 'sync']);
    expect([await shown(), recorded()]).toEqual(['sync', 'sync']);
  });

  it('outlives its host agent: serve starts a killed agent again, which adopts every unit; no member restarts', async () => {
    const agent = new TestAgentClient(testAgentDir());
    const before = await agent.info();
    const pids = new Map((await agent.units()).filter((u) => u.name.includes(id)).map((u) => [u.name, u.pid]));
    killTestAgent(before.pid);
    const after = await waitFor(async () => agent.info().then((i) => (i.pid !== before.pid ? i : null)), {
      timeoutMs: 60_000,
      what: 'a new host agent started by serve',
    });
    expect(after.pid).not.toBe(before.pid);
    const units = (await agent.units()).filter((u) => u.name.includes(id));
    await agent.close();
    expect(new Map(units.map((u) => [u.name, u.pid]))).toEqual(pids);
    expect(units.every((u) => u.adopted && u.status === 'running')).toBe(true);
    await adminQuery(rw, 'insert into t values (0)');
    await adminQuery(rw, 'delete from t where x = 0');
  });

  it('takes a full snapshot of it', async () => {
    const r = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'ha-full', cluster_id: id, description: 'on the Patroni engine' },
    });
    const s = await waitFor(
      async () => {
        const x = (
          await t.client.call<{ snapshot: { status: string; size: number } }>('GET', `/v1.0/{project_id}/snapshots/${r.snapshot.id}`)
        ).snapshot;
        return x.status === 'CREATING' ? null : x;
      },
      { timeoutMs: 120_000, what: 'the snapshot' },
    );
    expect(s.status).toBe('AVAILABLE');
    expect(s.size).toBeGreaterThan(0);
  });

  it('restores a table of the snapshot beside the original (a table restore on the primary)', async () => {
    const snap = (await t.client.call<{ snapshots: { id: string; name: string }[] }>('GET', '/v1.0/{project_id}/snapshots')).snapshots.find(
      (x) => x.name === 'ha-full',
    )!;
    await adminQuery(rw, 'delete from t where x > 500');
    const r = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${snap.id}/table-restore`, {
      case_sensitive: true,
      database: 'postgres',
      restore_table_list: [{ schema_name: 'public', table_name: 't' }],
      target_table_list: [{ schema_name: 'public', table_name: 't_back' }],
    });
    const job = await waitFor(
      async () => {
        const j = await t.client.call<{ status: string; failed_detail: string }>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
        return j.status === 'SUCCESS' || j.status === 'FAIL' ? j : null;
      },
      { what: 'the table restore', timeoutMs: 200_000 },
    );
    expect(job).toMatchObject({ status: 'SUCCESS' });
    expect((await adminQuery(rw, 'select count(*)::int as n from t_back'))[0]!['n']).toBe(1000);
    await adminQuery(rw, 'insert into t select x from t_back where x > 500; drop table t_back');
  });

  it('restores the snapshot into a new 3-node cluster of Patroni members: its data, its own endpoints, every member streaming', async () => {
    const snap = (await t.client.call<{ snapshots: { id: string; name: string }[] }>('GET', '/v1.0/{project_id}/snapshots')).snapshots.find(
      (x) => x.name === 'ha-full',
    )!;
    const r = await t.client.call<{ cluster: { id: string } }>('POST', `/v1.0/{project_id}/snapshots/${snap.id}/actions`, {
      restore: { name: `r${id.slice(0, 8)}`, port: await freePort() },
    });
    const d = await waitIdle(t.client, r.cluster.id, 300_000);
    expect(d.status).toBe('AVAILABLE');
    expect(d.nodes.map((n) => n.role)).toEqual(['primary', 'standby', 'standby']);
    const [rrw] = d.endpoints.map((e) => e.connect_info) as [string];
    expect(rrw).toMatch(/^127\.1\.\d+\.1:\d+$/);
    expect(rrw).not.toBe(rw);
    expect((await adminQuery(rrw, 'select count(*)::int as n from t'))[0]!['n']).toBe(1000);
    const rows = await adminQuery(rrw, 'select application_name, state, sync_state from pg_stat_replication order by 1');
    expect(rows.map((x) => [x['application_name'], x['state']])).toEqual([
      ['node2', 'streaming'],
      ['node3', 'streaming'],
    ]);
    expect(rows.filter((x) => x['sync_state'] === 'sync')).toHaveLength(1);
    // The administrator is no superuser (D32), and writes go on through the router.
    expect((await adminQuery(rrw, 'select rolsuper from pg_roles where rolname = current_user'))[0]!['rolsuper']).toBe(false);
    await adminQuery(rrw, 'insert into t values (2000)');
    await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${r.cluster.id}`);
    await waitFor(
      async () =>
        (await t.client.call<{ clusters: { id: string }[] }>('GET', '/v1.0/{project_id}/clusters')).clusters.every(
          (c) => c.id !== r.cluster.id,
        ),
      { timeoutMs: 120_000, what: 'the restored cluster gone' },
    );
  });

  it('fails over by itself when the primary dies: writes come back through the same endpoint, the roles follow, UNBALANCED', async () => {
    const pm = Number(readFileSync(join(t.dataDir, 'clusters', id, 'node1', 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pm, 'SIGKILL');
    await waitFor(
      async () =>
        adminQuery(rw, 'insert into t values (1001) returning x')
          .then(() => true)
          .catch(() => false),
      { timeoutMs: 60_000, what: 'writes through the read-write endpoint again' },
    );
    const d = await waitFor(
      async () => {
        const x = await getCluster(t.client, id);
        return x.sub_status === 'UNBALANCED' && x.nodes.every((n) => n.status === '200') ? x : null;
      },
      { timeoutMs: 60_000, what: 'the cluster UNBALANCED with every node up' },
    );
    expect(d.status).toBe('AVAILABLE');
    expect(d.nodes[0]!.role).toBe('standby');
    expect(d.nodes.filter((n) => n.role === 'primary')).toHaveLength(1);
    expect(d.endpoints[0]!.connect_info).toBe(rw);
    // The old primary rejoined as a streaming replica, and no acknowledged row is lost.
    await waitFor(
      async () =>
        (
          await adminQuery(
            rw,
            "select count(*)::int as n from pg_stat_replication where application_name = 'node1' and state = 'streaming'",
          )
        )[0]!['n'] === 1,
      { timeoutMs: 60_000, what: 'node1 streaming from the new primary' },
    );
    expect((await adminQuery(rw, 'select count(*)::int as n from t'))[0]!['n']).toBe(1001);
  });

  it('restarts it while another node leads: that node stops last and starts first, and still leads after (no handover)', async () => {
    const before = await getCluster(t.client, id);
    const leader = Number(
      before.nodes
        .find((n) => n.role === 'primary')!
        .connect_info.split(':')[0]!
        .split('.')[3],
    );
    expect(leader).not.toBe(1);
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/restart`, { restart: {} });
    const d = await waitIdle(t.client, id);
    expect(d.status).toBe('AVAILABLE');
    const restart = (await clusterTasks(t.client, id)).find((x) => x.kind === 'cluster.restart')!;
    expect(restart.status).toBe('SUCCESS');
    const others = [3, 2, 1].filter((n) => n !== leader);
    expect(subItems(restart).map((x) => x.step)).toEqual([
      ...others.map((n) => `STOP_NODE_${n}`),
      `STOP_NODE_${leader}`,
      `START_NODE_${leader}`,
      ...[...others].reverse().map((n) => `START_NODE_${n}`),
      'CHECK_REPLICATION',
    ]);
    const after = await waitFor(
      async () => {
        const x = await getCluster(t.client, id);
        return x.sub_status === 'UNBALANCED' && x.nodes.every((n) => n.status === '200') ? x : null;
      },
      { timeoutMs: 60_000, what: 'the cluster UNBALANCED with every node up' },
    );
    expect(after.nodes.find((n) => n.role === 'primary')!.connect_info).toBe(before.nodes.find((n) => n.role === 'primary')!.connect_info);
    expect((await adminQuery(rw, 'select count(*)::int as n from t'))[0]!['n']).toBe(1001);
  });

  it('switches back to the preferred node with a SwitchOverCluster task: NORMAL again, no row lost', async () => {
    const before = await getCluster(t.client, id);
    const r = await t.client.request<{ error_code: string; error_msg: string }>('POST', `/v1.0/{project_id}/clusters/${id}/switchover`, {
      candidate_node_id: before.nodes.find((n) => n.role === 'primary')!.id,
    });
    expect(r.status).toBe(409);
    expect(r.body.error_msg).toMatch(/is the primary already/);
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/switchover`);
    const seen = await waitFor(async () => ((await getCluster(t.client, id)).task_status === 'ACTIVE_STANDY_SWITCHOVER' ? true : null), {
      what: 'task_status ACTIVE_STANDY_SWITCHOVER',
      intervalMs: 50,
    }).catch(() => false);
    const d = await waitIdle(t.client, id);
    expect(d.sub_status).toBe('NORMAL');
    expect(d.task_status).toBe('');
    expect(d.nodes.map((n) => n.role)).toEqual(['primary', 'standby', 'standby']);
    void seen;
    await waitFor(
      async () =>
        adminQuery(rw, 'select pg_is_in_recovery() as r')
          .then((x) => x[0]!['r'] === false)
          .catch(() => false),
      { what: 'the read-write endpoint on the new primary' },
    );
    expect((await adminQuery(rw, 'select count(*)::int as n from t'))[0]!['n']).toBe(1001);
  });

  it('rebuilds a replica Patroni leaves stopped (its pg_control lost) with a REPAIRING task the monitor starts', async () => {
    const dataDir = join(t.dataDir, 'clusters', id, 'node3', 'data');
    // Node 3's Patroni held still (SIGSTOP), its postmaster killed, its pg_control removed, then its
    // Patroni killed: the agent starts Patroni again, which finds no pg_control and leaves the
    // member stopped, only logging it (patroni-ops trap 10).
    const agent = new TestAgentClient(testAgentDir());
    const patroniPid = (await agent.unit(memberUnit(scope(), 3)))!.pid!;
    const pm = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(patroniPid, 'SIGSTOP');
    process.kill(pm, 'SIGKILL');
    // Dead: gone, or a zombie its held Patroni cannot reap yet.
    const dead = (): boolean => {
      try {
        return / Z /.test(readFileSync(`/proc/${pm}/stat`, 'utf8').replace(/^.*\)/, ')'));
      } catch {
        return true;
      }
    };
    await waitFor(async () => dead(), { what: "node 3's postmaster dead" });
    rmSync(join(dataDir, 'global', 'pg_control'));
    process.kill(patroniPid, 'SIGKILL');
    await waitFor(async () => ((await agent.unit(memberUnit(scope(), 3)))?.pid ?? patroniPid) !== patroniPid, {
      what: "node 3's Patroni started again by the agent",
    });
    const repair = await waitFor(async () => (await clusterTasks(t.client, id)).find((x) => x.kind === 'cluster.repair') ?? null, {
      timeoutMs: 120_000,
      intervalMs: 250,
      what: 'a repair task for node 3',
    });
    expect(subItems(repair).map((x) => x.step)).toEqual(['REBUILD_NODE_3', 'CHECK_REPLICATION']);
    const d = await waitIdle(t.client, id, 300_000);
    const done = (await clusterTasks(t.client, id)).find((x) => x.id === repair.id)!;
    expect(done.status, done.error_msg ?? '').toBe('SUCCESS');
    expect(d.status).toBe('AVAILABLE');
    expect(d.task_status).toBe('');
    const healthy = await waitFor(
      async () => {
        const x = await getCluster(t.client, id);
        return x.sub_status === 'NORMAL' && x.nodes.every((n) => n.status === '200') ? x : null;
      },
      { timeoutMs: 60_000, what: 'the cluster NORMAL with every node up' },
    );
    expect(healthy.nodes.map((n) => n.role)).toEqual(['primary', 'standby', 'standby']);
    expect(existsSync(join(dataDir, 'global', 'pg_control'))).toBe(true);
    expect(await adminQuery(rw, "select application_name as a, state from pg_stat_replication where application_name = 'node3'")).toEqual([
      { a: 'node3', state: 'streaming' },
    ]);
    // Its start and its end are events of the cluster (D26).
    const events = (
      await t.client.call<{ events: { event_type?: string; source_key?: string; message?: string; description?: string }[] }>(
        'GET',
        `/v2/{project_id}/events?source_id=${id}`,
      )
    ).events;
    expect(JSON.stringify(events)).toMatch(/Repair of a member/);
  });

  it('restarts, stops and starts it: every member comes back, writes work through the same endpoint', async () => {
    for (const action of ['restart', 'stop', 'start'] as const) {
      await t.client.call(
        'POST',
        action === 'restart' ? `/v1.0/{project_id}/clusters/${id}/restart` : `/v1/{project_id}/clusters/${id}/${action}`,
        action === 'restart' ? { restart: {} } : undefined,
      );
      const d = await waitIdle(t.client, id);
      const units = (await new TestAgentClient(testAgentDir()).units()).map((u) => u.name).filter((u) => u.includes(id));
      if (action === 'stop') {
        expect(d.status).toBe('UNAVAILABLE');
        expect(units).toEqual([]);
        continue;
      }
      expect(d.status).toBe('AVAILABLE');
      expect(d.nodes.filter((n) => n.role === 'primary')).toHaveLength(1);
      expect(units).toHaveLength(4);
      await waitFor(
        async () =>
          adminQuery(rw, `insert into t values (${action === 'restart' ? 1002 : 1003})`)
            .then(() => true)
            .catch(() => false),
        { timeoutMs: 60_000, what: `writes after ${action}` },
      );
    }
    expect((await adminQuery(rw, 'select count(*)::int as n from t'))[0]!['n']).toBe(1003);
  });

  it('stops, before an in-place restore, a PostgreSQL that runs outside its Patroni, not only the Patroni units', async () => {
    // A restored copy that a failed RECOVER_PRIMARY started itself runs before Patroni has it: the
    // rollback's stop must end it, or the rollback's restore takes it for the safety snapshot restored.
    await t.client.call('POST', `/v1/{project_id}/clusters/${id}/stop`);
    await waitIdle(t.client, id);
    const dp = t.svc.dataPlane as unknown as PatroniEngine;
    const cluster = (await t.svc.store.getClusterById(id))!;
    const nodes = (await t.svc.store.listNodes(id)).filter((n) => n.membership === 'active');
    const primary = nodes.find((n) => n.role === 'primary')!;
    await dp.startNode(cluster, primary);
    expect(dp.memberStatus(cluster, primary)).not.toBeNull();
    await dp.stopForRestoreInPlace(cluster, primary, nodes);
    expect(nodes.map((n) => dp.memberStatus(cluster, n))).toEqual(nodes.map(() => null));
  });

  it('deletes it: every unit, the etcd scope and the files go', async () => {
    const d = await getCluster(t.client, id);
    await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${id}`);
    await waitFor(
      async () =>
        (await t.client.call<{ clusters: { id: string }[] }>('GET', '/v1.0/{project_id}/clusters')).clusters.every((c) => c.id !== id),
      {
        timeoutMs: 120_000,
        what: 'the cluster gone',
      },
    );
    void d;
    const units = (await new TestAgentClient(testAgentDir()).units()).map((u) => u.name);
    expect(units.filter((u) => u.includes(id))).toEqual([]);
    expect(existsSync(`${t.dataDir}/clusters/${id}`)).toBe(false);
    void waitIdle;
  });
});
