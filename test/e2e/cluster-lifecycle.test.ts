/** End to end: a real 3-node cluster through the API, from create to delete. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  ADMIN_PASSWORD,
  createAvailableCluster,
  createCluster,
  getCluster,
  startService,
  waitIdle,
  type TestService,
} from '../helpers/service.js';
import { processesUnder, waitFor } from '../helpers/env.js';
import { testEngine } from '../helpers/engine.js';

let t: TestService;
beforeAll(async () => {
  t = await startService();
});
afterAll(async () => {
  await t?.stop();
});

async function adminQuery(connectInfo: string, password: string, sql: string): Promise<unknown[]> {
  const [host, port] = connectInfo.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'dbadmin', password, database: 'postgres', connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

describe('cluster lifecycle', () => {
  let id: string;

  it('creates a 3-node cluster: CREATING at once, then AVAILABLE with a primary and two streaming standbys', async () => {
    const c = await createCluster(t.client, { nodes: 3 });
    id = c.id;
    const first = await getCluster(t.client, id);
    expect(first.status).toBe('CREATING');
    expect(first.action_progress).toHaveProperty('CREATING');
    const done = await waitIdle(t.client, id);
    expect(done.status).toBe('AVAILABLE');
    expect(done.sub_status).toBe('NORMAL');
    expect(done.task_status).toBe('');
    expect(done.action_progress).toEqual({});
    expect(done.nodes.map((n) => n.role)).toEqual(['primary', 'standby', 'standby']);
    expect(done.nodes.every((n) => n.status === '200')).toBe(true);
    const primary = done.endpoints[0]!.connect_info;
    if (testEngine() === 'local') {
      // The primary's own address: node 1's (127.0.c.1).
      expect(primary).toMatch(/^127\.0\.\d+\.1:\d+$/);
    } else {
      // The router's read-write endpoint (127.1.c.1), then its read-only one; each node shows its member's address.
      expect(done.endpoints.map((e) => e.connect_info)).toEqual([
        expect.stringMatching(/^127\.1\.\d+\.1:\d+$/),
        expect.stringMatching(/^127\.1\.\d+\.2:\d+$/),
      ]);
      const block = /^127\.1\.(\d+)\./.exec(primary)![1]!;
      expect(done.nodes.map((n) => n.connect_info.split(':')[0])).toEqual([1, 2, 3].map((i) => `127.0.${block}.${i}`));
    }
    // Each node's name is its member's (node<i>): the standbys' names are what the primary lists below.
    expect(done.nodes.map((n) => (n as { name?: string }).name)).toEqual(['node1', 'node2', 'node3']);
    const rows = (await adminQuery(primary, ADMIN_PASSWORD, 'select application_name, state from pg_stat_replication order by 1')) as {
      application_name: string;
      state: string;
    }[];
    expect(rows).toEqual([
      { application_name: 'node2', state: 'streaming' },
      { application_name: 'node3', state: 'streaming' },
    ]);
    await expect(adminQuery(primary, 'Wrong-Password-1', 'select 1')).rejects.toThrow(/password authentication failed/);
  });

  it('replicates writes to the standbys, which are read-only', async () => {
    const d = await getCluster(t.client, id);
    await adminQuery(d.endpoints[0]!.connect_info, ADMIN_PASSWORD, 'create table t(x int); insert into t values (1),(2),(3)');
    for (const e of d.endpoints.slice(1)) {
      await waitFor(
        async () => ((await adminQuery(e.connect_info, ADMIN_PASSWORD, 'select count(*)::int as n from t')) as { n: number }[])[0]!.n === 3,
        { what: 'replication' },
      );
      await expect(adminQuery(e.connect_info, ADMIN_PASSWORD, 'insert into t values (4)')).rejects.toThrow(/read-only/);
    }
  });

  it('gives the administrator no superuser, and the untrusted extensions of D32 through pgextwlist only', async () => {
    const primary = (await getCluster(t.client, id)).endpoints[0]!.connect_info;
    expect(await adminQuery(primary, ADMIN_PASSWORD, `select rolsuper, rolcreaterole from pg_roles where rolname = current_user`)).toEqual([
      { rolsuper: false, rolcreaterole: false },
    ]);
    await adminQuery(primary, ADMIN_PASSWORD, 'create extension pg_stat_statements; create extension pgcrypto');
    const rows = (await adminQuery(
      primary,
      ADMIN_PASSWORD,
      `select count(*)::int as n from pg_stat_statements where query like 'create extension%'`,
    )) as { n: number }[];
    expect(rows[0]!.n).toBeGreaterThan(0);
    // An untrusted extension that reaches the server's files is not on the list.
    await expect(adminQuery(primary, ADMIN_PASSWORD, 'create extension file_fdw')).rejects.toThrow(
      /permission denied|must be superuser|not allowed/,
    );
    await adminQuery(primary, ADMIN_PASSWORD, 'drop extension pg_stat_statements; drop extension pgcrypto');
  });

  it('refuses a second mutating operation while one runs (409 DWS.0011)', async () => {
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/restart`, { restart: {} });
    const r = await t.client.request<{ error_code: string; error_msg: string }>('POST', `/v1.0/{project_id}/clusters/${id}/restart`);
    expect(r.status).toBe(409);
    expect(r.body.error_code).toBe('DWS.0011');
    expect(r.body.error_msg).toMatch(/REBOOTING/);
    const during = await getCluster(t.client, id);
    expect(during.task_status).toBe('REBOOTING');
    const after = await waitIdle(t.client, id);
    expect(after.status).toBe('AVAILABLE');
    expect(after.task_status).toBe('');
  });

  it('resets the administrator password for real', async () => {
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/reset-password`, { new_password: 'Another-Pass-22' });
    const d = await getCluster(t.client, id);
    await expect(adminQuery(d.endpoints[0]!.connect_info, ADMIN_PASSWORD, 'select 1')).rejects.toThrow(/password authentication failed/);
    expect(await adminQuery(d.endpoints[0]!.connect_info, 'Another-Pass-22', 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it.runIf(testEngine() === 'patroni')(
    'a dead standby is started again by its Patroni; a dead primary fails over, writes come back through the same endpoint; restart and switchback',
    async () => {
      const d = await getCluster(t.client, id);
      const rw = d.endpoints[0]!.connect_info;
      const password = 'Another-Pass-22'; // since the password reset above
      const pm = (ordinal: number) => processesUnder(`${id}/node${ordinal}/data`).find((p) => /postgres -D/.test(p.cmd));
      const streaming = async (name: string): Promise<boolean> =>
        adminQuery(rw, password, `select 1 from pg_stat_replication where application_name = '${name}' and state = 'streaming'`)
          .then((r) => r.length === 1)
          .catch(() => false);
      const standby = pm(3)!.pid;
      process.kill(standby, 'SIGKILL');
      await waitFor(async () => (pm(3)?.pid ?? standby) !== standby && (await streaming('node3')), {
        what: 'node3 started again by its Patroni and streaming',
        timeoutMs: 60_000,
      });
      process.kill(pm(1)!.pid, 'SIGKILL');
      await waitFor(
        async () =>
          adminQuery(rw, password, 'insert into t values (5)')
            .then(() => true)
            .catch(() => false),
        { what: 'writes through the read-write endpoint again', timeoutMs: 60_000 },
      );
      const failed = await waitFor(
        async () => {
          const x = await getCluster(t.client, id);
          return x.sub_status === 'UNBALANCED' && x.nodes.every((n) => n.status === '200') ? x : null;
        },
        { what: 'UNBALANCED with every node up', timeoutMs: 60_000 },
      );
      expect(failed.status).toBe('AVAILABLE');
      expect(failed.nodes.filter((n) => n.role === 'primary')).toHaveLength(1);
      expect(failed.nodes[0]!.role).toBe('standby');
      expect(failed.endpoints[0]!.connect_info).toBe(rw);
      await waitFor(async () => streaming('node1'), { what: 'node1 streaming from the new primary', timeoutMs: 60_000 });
      await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/restart`);
      const back = await waitIdle(t.client, id);
      expect(back.status).toBe('AVAILABLE');
      // The switchback to the preferred node (SwitchOverCluster), unless the restart put it back in
      // the lead already: which member leads after a restart is Patroni's choice, and the roles the
      // API shows follow Patroni's within a health round, so a switchover refused with 409 (node 1
      // leads already) is only asked again while the cluster still shows UNBALANCED.
      const normal = await waitFor(
        async () => {
          const x = await getCluster(t.client, id);
          if (Object.keys(x.action_progress).length) return null;
          if (x.sub_status === 'NORMAL' && x.nodes.every((n) => n.status === '200')) return x;
          if (x.sub_status === 'UNBALANCED') {
            const r = await t.client.request('POST', `/v1.0/{project_id}/clusters/${id}/switchover`);
            expect([202, 409]).toContain(r.status);
          }
          return null;
        },
        { what: 'NORMAL again, node 1 leading', timeoutMs: 180_000, intervalMs: 500 },
      );
      expect(normal.nodes.map((n) => n.role)).toEqual(['primary', 'standby', 'standby']);
      await waitFor(async () => (await adminQuery(rw, password, 'delete from t where x = 5 returning x')).length === 1, {
        what: 'the row written after the failover, through the same endpoint',
      });
    },
  );

  it.runIf(testEngine() === 'local')(
    'notices a dead standby (DEGRADED) and a dead primary (UNAVAILABLE); restart brings it back',
    async () => {
      const d = await getCluster(t.client, id);
      const pm = (ordinal: number) => processesUnder(`${id}/node${ordinal}/data`).find((p) => /postgres -D/.test(p.cmd))!;
      process.kill(pm(3).pid, 'SIGKILL');
      await waitFor(async () => (await getCluster(t.client, id)).sub_status === 'DEGRADED', { what: 'DEGRADED' });
      process.kill(pm(1).pid, 'SIGKILL');
      await waitFor(async () => (await getCluster(t.client, id)).status === 'UNAVAILABLE', { what: 'UNAVAILABLE' });
      expect(d.nodes.length).toBe(3);
      await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/restart`);
      const back = await waitIdle(t.client, id);
      expect(back.status).toBe('AVAILABLE');
      await waitFor(async () => (await getCluster(t.client, id)).sub_status === 'NORMAL', { what: 'NORMAL' });
    },
  );

  it('stops and starts the cluster; each answers the job id of its task', async () => {
    const job = (jobId: string) => t.client.call<{ job_name: string; status: string }>('GET', `/v1.0/{project_id}/job/${jobId}`);
    const stop = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/clusters/${id}/stop`);
    const stopped = await waitIdle(t.client, id);
    expect(stopped.status).toBe('UNAVAILABLE');
    expect(await job(stop.job_id)).toMatchObject({ job_name: 'cluster.stop', status: 'SUCCESS' });
    expect(processesUnder(`${id}/node`).filter((p) => /postgres -D/.test(p.cmd))).toEqual([]);
    const start = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/clusters/${id}/start`);
    const started = await waitIdle(t.client, id);
    expect(started.status).toBe('AVAILABLE');
    expect(started.task_status).toBe('');
    expect(await job(start.job_id)).toMatchObject({ job_name: 'cluster.start', status: 'SUCCESS' });
  });

  it('deletes the cluster: 202, then 404 DWS.0047, no process and no file left', async () => {
    const r = await t.client.request('DELETE', `/v1.0/{project_id}/clusters/${id}`, { keep_last_manual_snapshot: 0 });
    expect(r.status).toBe(202);
    await waitFor(async () => (await t.client.request('GET', `/v1.0/{project_id}/clusters/${id}`)).status === 404, {
      what: 'the cluster to be gone',
    });
    const gone = await t.client.request<{ error_code: string }>('GET', `/v1.0/{project_id}/clusters/${id}`);
    expect(gone.body.error_code).toBe('DWS.0047');
    expect(processesUnder(id)).toEqual([]);
  });

  it('creates a cluster through the v2 API and lists it in both lists', async () => {
    const port = 20000 + Math.floor(Math.random() * 9000);
    const r = await t.client.call<{ cluster: { id: string } }>('POST', '/v2/{project_id}/clusters', {
      cluster: {
        name: 'v2-cluster',
        flavor: 'dwsx.small',
        num_node: 3,
        db_name: 'dbadmin',
        db_password: ADMIN_PASSWORD,
        db_port: port,
        availability_zones: ['local-1a'],
        vpc_id: '3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98',
        subnet_id: '7d6c5b4a-3f2e-4d1c-8b0a-9e8d7c6b5a43',
        datastore_version: '15.0',
        volume: { volume: 'SSD', capacity: '100' },
        tags: [{ key: 'team', value: 'dw' }],
      },
    });
    const d = await waitIdle(t.client, r.cluster.id);
    expect(d.status).toBe('AVAILABLE');
    for (const path of ['/v1.0/{project_id}/clusters', '/v2/{project_id}/clusters']) {
      const l = await t.client.call<{ clusters: { id: string; created: string; tags: unknown[] }[]; count: number }>('GET', path);
      const mine = l.clusters.find((c) => c.id === r.cluster.id)!;
      expect(mine.created).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      expect(mine.tags).toEqual([{ key: 'team', value: 'dw' }]);
    }
    const del = await t.client.call<{ job_id: string }>('DELETE', `/v2/{project_id}/clusters/${r.cluster.id}`);
    await waitFor(async () => (await t.client.request('GET', `/v1.0/{project_id}/clusters/${r.cluster.id}`)).status === 404, {
      what: 'delete',
    });
    // The delete's job outlives its cluster: DeleteDwsCluster's job_id is the task that did it.
    const job = await waitFor(async () => {
      const j = await t.client.call<{ job_name: string; status: string }>('GET', `/v1.0/{project_id}/job/${del.job_id}`);
      return j.status === 'SUCCESS' || j.status === 'FAIL' ? j : null;
    });
    expect(job).toMatchObject({ job_name: 'cluster.delete', status: 'SUCCESS' });
  });
});

void createAvailableCluster;
