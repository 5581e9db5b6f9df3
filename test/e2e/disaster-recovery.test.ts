/**
 * Disaster recovery between clusters (issue 19, D31) through the API, on the Patroni engine on
 * one host: two 3-node clusters paired; refusals that change nothing; the start, which makes the
 * standby a Patroni standby cluster of production (its own tables refused until the create agreed
 * to discard them); rows committed on production found on the standby; the lag the progress
 * reports; a pause that stops the standby applying changes while it keeps receiving them, and
 * a resume that catches up; what the standby refuses while paired; the deletion, which leaves
 * two independent clusters (the standby promoted with every row, production's slot gone).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery } from '../helpers/crash.js';
import { ACKED_TABLE, Writer } from '../helpers/ha-writer.js';
import {
  ACCESS_KEY,
  ADMIN_PASSWORD,
  createAvailableCluster,
  PROJECT_ID,
  SECRET_KEY,
  startService,
  waitIdle,
  type TestService,
} from '../helpers/service.js';
import { testAgentDir, waitFor } from '../helpers/env.js';
import { cliEntry } from '../helpers/cli-entry.js';
import type { DrDetailView } from '../../src/domain/disaster-recovery.js';

let t: TestService;
beforeAll(async () => {
  t = await startService({ flags: { engine: 'patroni', agentDir: testAgentDir() } });
});
afterAll(async () => {
  await t?.stop();
});

/** `dwsbox dr …` (the CLI, a client of the API) against the test service. */
async function drCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)('node', [...cliEntry(), 'dr', ...args, '--interval', '300'], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: t.dataDir,
        DWSBOX_ENDPOINT: t.endpoint,
        DWSBOX_PROJECT_ID: PROJECT_ID,
        DWSBOX_ACCESS_KEY: ACCESS_KEY,
        DWSBOX_SECRET_KEY: SECRET_KEY,
      },
      timeout: 300_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** The standby cluster's own administrator: another name than production's, whose roles its data holds while it follows. */
const OWN_ADMIN = { user: 'drowner', password: 'Drowner-Test-Pass2' };

const count = async (endpoint: string): Promise<number> =>
  Number((await adminQuery<{ n: string }>(endpoint, 'select count(*)::text as n from drt'))[0]!.n);

describe('disaster recovery through the API (two clusters of the Patroni engine)', () => {
  let prod: { id: string; rw: string };
  let standby: { id: string; rw: string; ro: string };
  let drId: string;
  const detail = async (): Promise<DrDetailView> =>
    (await t.client.call<{ disaster_recovery: DrDetailView }>('GET', `/v2/{project_id}/disaster-recovery/${drId}`)).disaster_recovery;
  const waitStatus = (want: string): Promise<DrDetailView> =>
    waitFor(
      async () => {
        const d = await detail();
        if (/failed|abnormal/.test(d.status) && !/failed|abnormal/.test(want)) throw new Error(`pairing ${d.status}: ${d.error}`);
        return d.status === want ? d : null;
      },
      { what: `the pairing ${want}`, timeoutMs: 180_000, intervalMs: 200 },
    );

  it('pairs two clusters of the same shape; refusals name why and change nothing', async () => {
    const [a, b, c] = await Promise.all([
      createAvailableCluster(t.client, { nodes: 3 }),
      createAvailableCluster(t.client, { nodes: 3, userName: OWN_ADMIN.user, password: OWN_ADMIN.password }),
      createAvailableCluster(t.client, { nodes: 3, nodeType: 'dws.m3.xlarge' }),
    ]);
    prod = { id: a.id, rw: a.detail.endpoints[0]!.connect_info };
    standby = { id: b.id, rw: b.detail.endpoints[0]!.connect_info, ro: b.detail.endpoints[1]!.connect_info };
    const body = (o: Record<string, unknown>) => ({
      disaster_recovery: { name: 'dr-one', dr_type: 'az', primary_cluster_id: a.id, standby_cluster_id: b.id, dr_sync_period: '1H', ...o },
    });
    const refused = async (o: Record<string, unknown>, status: number, code: string, msg: RegExp): Promise<void> => {
      const r = await t.client.request<{ error_code: string; error_msg: string }>('POST', '/v2/{project_id}/disaster-recoveries', body(o));
      expect([r.status, r.body.error_code], JSON.stringify(r.body)).toEqual([status, code]);
      expect(r.body.error_msg).toMatch(msg);
    };
    await refused({ standby_cluster_id: a.id }, 400, 'DWS.0001', /itself/);
    await refused({ standby_cluster_id: c.id }, 400, 'DWS.0001', /node type and node count/);
    await refused({ name: '1bad' }, 400, 'DWS.0001', /name must be/);
    await refused({ dr_sync_period: 'hourly' }, 400, 'DWS.0001', /dr_sync_period/);
    await refused({ dr_type: 'region' }, 400, 'DWS.9901', /one region/);
    await refused({ standby_cluster_id: '00000000-0000-0000-0000-000000000000' }, 404, 'DWS.0047', /does not exist/);
    expect(await t.client.call('GET', '/v2/{project_id}/disaster-recoveries')).toEqual({ disaster_recovery: [] });

    expect(await t.client.call('GET', '/v2/{project_id}/disaster-recovery/check-name?dr_name=dr-one')).toEqual({});
    const candidates = await t.client.call<{ disaster_recovery_clusters: { id: string }[] }>(
      'GET',
      `/v2/{project_id}/disaster-recovery-clusters?primary_cluster_id=${a.id}`,
    );
    expect(candidates.disaster_recovery_clusters.map((x) => x.id)).toEqual([b.id]);

    // Paired through the CLI, as an operator would.
    const made = await drCli(['create', '--name', 'dr-one', '--production', a.id, '--standby', b.id, '--sync-period', '1H', '--json']);
    expect(made.code, made.stderr).toBe(0);
    drId = (JSON.parse(made.stdout) as { disaster_recovery: { id: string } }).disaster_recovery.id;
    const listed = await drCli(['list']);
    expect(listed.stdout).toMatch(new RegExp(`${drId}\\s+dr-one\\s+unstart`));
    expect((await drCli(['show', drId])).stdout).toMatch(/dr-one {2}unstart {2}sync period 1H[\s\S]*replication: not following/);
    const d = await detail();
    expect(d).toMatchObject({ status: 'unstart', start_time: null, replication: null });
    expect([d.primary_cluster.role, d.standby_cluster.role]).toEqual(['primary', 'standby']);
    const taken = await t.client.request<{ error_code: string }>('GET', '/v2/{project_id}/disaster-recovery/check-name?dr_name=dr-one');
    expect([taken.status, taken.body.error_code]).toEqual([409, 'DWS.9934']);
    await refused({ name: 'dr-two' }, 409, 'DWS.9935', /in pairing dr-one already/);
    const missing = await t.client.request<{ error_code: string }>('GET', '/v2/{project_id}/disaster-recovery/nope');
    expect([missing.status, missing.body.error_code]).toEqual([404, 'DWS.10101']);
    // Neither side can be deleted while paired.
    const del = await t.client.request<{ error_code: string; error_msg: string }>('DELETE', `/v1.0/{project_id}/clusters/${a.id}`);
    expect([del.status, del.body.error_code]).toEqual([409, 'DWS.0011']);
    expect(del.body.error_msg).toMatch(/disaster recovery dr-one/);
  });

  it("refuses to start over the standby cluster's own tables; the dwsbox field agrees to discard them", async () => {
    await adminQuery(standby.rw, 'create table mine(x int)', OWN_ADMIN);
    const r = await t.client.request<{ error_code: string; error_msg: string }>('POST', `/v2/{project_id}/disaster-recovery/${drId}/start`);
    expect([r.status, r.body.error_code]).toEqual([409, 'DWS.9935']);
    expect(r.body.error_msg).toMatch(/public\.mine.*discard_standby_data/);
    expect((await detail()).status).toBe('unstart');
    // Dropped, the standby holds nothing of its own: the start goes on.
    await adminQuery(standby.rw, 'drop table mine', OWN_ADMIN);
  });

  it('starts: the standby follows production, rows committed there are on the standby, the lag is measured', async () => {
    await adminQuery(prod.rw, 'create table drt(x int primary key); insert into drt select generate_series(1, 5000)');
    await t.client.call('POST', `/v2/{project_id}/disaster-recovery/${drId}/start`);
    expect(['starting', 'running']).toContain((await detail()).status);
    const d = await waitStatus('running');
    expect(d.start_time).not.toBeNull();
    expect(d.replication?.state).toBe('streaming');
    await adminQuery(prod.rw, 'insert into drt select generate_series(5001, 6000)');
    await waitFor(async () => (await count(standby.ro).catch(() => 0)) === 6000, { what: 'every row on the standby', timeoutMs: 30_000 });
    // Its read-write endpoint has no writable member: the standby cluster only follows.
    await expect(adminQuery(standby.rw, 'select 1')).rejects.toThrow();
    const caughtUp = await waitFor(
      async () => {
        const x = await detail();
        return x.replication?.lag_bytes === 0 ? x : null;
      },
      { what: 'no lag', timeoutMs: 30_000 },
    );
    expect(caughtUp.replication).toMatchObject({ lag_seconds: 0, paused: false });
    expect(caughtUp.standby_cluster.last_success_time).not.toBeNull();
    // The standby leader's own replicas (members `dr<i>`) are measured against what it replayed,
    // as the health monitor and /metrics report them; production counts only its own members.
    const lagOf = (id: string): number[] =>
      t.svc.monitor
        .replicationLag()
        .filter((l) => l.clusterId === id)
        .map((l) => l.node)
        .sort();
    const others = [1, 2, 3].filter((i) => i !== caughtUp.replication!.standby_leader);
    await waitFor(async () => JSON.stringify(lagOf(standby.id)) === JSON.stringify(others), {
      what: "the standby cluster's replicas in the health monitor's lag",
      timeoutMs: 60_000,
    });
    expect(lagOf(prod.id).length).toBeLessThanOrEqual(2);
    const p = await t.client.call<{ disaster_recovery_progress: Record<string, unknown> }>(
      'GET',
      `/v1/{project_id}/disaster-recovery/${drId}/show-progress`,
    );
    expect(p.disaster_recovery_progress).toMatchObject({
      recovery_point_object: 0,
      standby_cluster: { action_type: 'DisasterRecoveryStart' },
    });
    expect(p.disaster_recovery_progress['latest_barrier_time']).not.toBeNull();
    // The standby's data is production's: what would write it or change its members is refused.
    const snap = await t.client.request<{ error_code: string }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'dr-standby-snap', cluster_id: standby.id },
    });
    expect([snap.status, snap.body.error_code]).toEqual([409, 'DWS.0011']);
    const again = await t.client.request<{ error_code: string }>('POST', `/v2/{project_id}/disaster-recovery/${drId}/start`);
    expect([again.status, again.body.error_code]).toEqual([409, 'DWS.9935']);
    // Its roles are production's: its own administrator's password is not reset there.
    const reset = await t.client.request<{ error_code: string; error_msg: string }>(
      'POST',
      `/v1.0/{project_id}/clusters/${standby.id}/reset-password`,
      { new_password: 'Another-Test-Pass3' },
    );
    expect([reset.status, reset.body.error_msg]).toEqual([409, expect.stringMatching(/reset the password there/)]);
  });

  it('pauses: production goes on, the standby applies nothing and says how far behind it is; a resume catches up', async () => {
    const pausing = await drCli(['pause', drId, '--wait']);
    expect(pausing.code, pausing.stdout + pausing.stderr).toBe(0);
    expect(pausing.stdout).toMatch(/is pausing[\s\S]*stopped/);
    const paused = await detail();
    expect(paused.status).toBe('stopped');
    expect(paused.replication?.paused).toBe(true);
    await adminQuery(prod.rw, 'insert into drt select generate_series(6001, 7000)');
    const behind = await waitFor(
      async () => {
        const x = await detail();
        return (x.replication?.lag_bytes ?? 0) > 0 ? x : null;
      },
      { what: 'a lag while paused', timeoutMs: 30_000 },
    );
    expect(behind.replication?.state).toBe('paused');
    expect(behind.replication?.lag_seconds).toBeGreaterThan(0);
    // Patroni loops several times meanwhile: the replay stays paused.
    await new Promise((r) => setTimeout(r, 5000));
    expect(await count(standby.ro)).toBe(6000);
    // A restart of the standby leader (Patroni's own, as an operator would) starts its replay again: the pairing's
    // pause is dwsbox's, applied again by the health monitor, which says so in an event.
    const ha = JSON.parse(readFileSync(join(t.dataDir, 'clusters', standby.id, 'ha.json'), 'utf8')) as {
      subnet: number;
      secrets: { rest: { username: string; password: string } };
    };
    const leaderAddr = `127.2.${ha.subnet}.${(await detail()).replication!.standby_leader}`;
    const auth = `Basic ${Buffer.from(`${ha.secrets.rest.username}:${ha.secrets.rest.password}`).toString('base64')}`;
    const restarted = await fetch(`http://${leaderAddr}:8008/restart`, { method: 'POST', headers: { authorization: auth }, body: '{}' });
    expect(restarted.status).toBe(200);
    const events = async (): Promise<{ name: string }[]> =>
      (await t.client.call<{ events: { name: string }[] }>('GET', `/v2/{project_id}/events?source_id=${standby.id}&limit=100`)).events;
    await waitFor(async () => (await events()).some((e) => e.name === 'dr_pause_restored'), {
      what: 'the pause applied again',
      timeoutMs: 60_000,
    });
    // Read from the standby leader, which may still be settling after its restart.
    await waitFor(async () => (await detail()).replication?.paused === true, { what: 'the standby leader paused', timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 2000));
    expect(await count(standby.ro)).toBe(6000);
    const resumed = await drCli(['start', drId, '--wait']);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect((await detail()).status).toBe('running');
    await waitFor(async () => (await count(standby.ro)) === 7000, { what: 'the standby caught up', timeoutMs: 30_000 });
  });

  it('switches over under a writer: no acknowledged write lost, the roles swap, the old production follows the new one', async () => {
    const [host, port] = prod.rw.split(':');
    const endpoint = { host: host!, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD };
    await Writer.createTable(endpoint);
    const writer = new Writer(endpoint);
    writer.start();
    await waitFor(async () => writer.acked.length >= 50, { what: 'writes on production' });
    // Another task on either side refuses the switchover (DWS.0011) only while it runs; none runs now.
    await t.client.call('POST', `/v2/{project_id}/disaster-recovery/${drId}/switchover`);
    expect((await detail()).status).toBe('switchovering');
    const d = await waitStatus('running');
    await writer.stop();
    expect(writer.acked.length).toBeGreaterThan(50);
    // Every acknowledged row is on the new primary (the former standby), which takes writes on its read-write endpoint.
    const rows = await adminQuery<{ n: number }>(standby.rw, `select n from ${ACKED_TABLE}`);
    expect(writer.missing(new Set(rows.map((r) => r.n)))).toEqual([]);
    await adminQuery(standby.rw, 'insert into drt values (-2)');
    expect([d.primary_cluster.role, d.standby_cluster.role]).toEqual(['standby', 'primary']);
    const list = await t.client.call<{ disaster_recovery: { last_disaster_time: string | null; primary_cluster_role: string }[] }>(
      'GET',
      '/v2/{project_id}/disaster-recoveries',
    );
    expect(list.disaster_recovery[0]).toMatchObject({ primary_cluster_role: 'standby' });
    expect(list.disaster_recovery[0]!.last_disaster_time).not.toBeNull();
    const p = await t.client.call<{ disaster_recovery_progress: { recovery_time_object: number | null } }>(
      'GET',
      `/v1/{project_id}/disaster-recovery/${drId}/show-progress`,
    );
    expect(p.disaster_recovery_progress.recovery_time_object).toBeGreaterThan(0);
    // The old production follows: it takes no writes, and the new primary's rows reach it.
    await expect(adminQuery(prod.rw, 'insert into drt values (-3)')).rejects.toThrow();
    const prodRo = (
      await t.client.call<{ cluster: { endpoints: { connect_info: string }[] } }>('GET', `/v1.0/{project_id}/clusters/${prod.id}`)
    ).cluster.endpoints[1]!.connect_info;
    await waitFor(async () => (await count(prodRo).catch(() => 0)) === 7001, {
      what: 'the new rows on the old production',
      timeoutMs: 30_000,
    });
    const r = await t.client.call<{ disaster_recovery: DrDetailView }>('GET', `/v2/{project_id}/disaster-recovery/${drId}`);
    expect(r.disaster_recovery.replication?.state).toBe('streaming');
    // Through the slot the new primary keeps for it (Patroni's permanent slot).
    expect(
      await adminQuery(standby.rw, "select slot_name from pg_replication_slots where slot_name like 'dr\\_%' and active"),
    ).toHaveLength(1);
    // Roles swapped: the former production is now the side that refuses writes of its own.
    const snap = await t.client.request<{ error_code: string }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'dr-old-prod-snap', cluster_id: prod.id },
    });
    expect([snap.status, snap.body.error_code]).toEqual([409, 'DWS.0011']);
  });

  it('fails over when production is lost (refused while it is healthy), then RestoreDisaster rebuilds the old production as the standby', async () => {
    // After the switchover the former standby (B) leads and the former production (A) follows.
    const refused = await t.client.request<{ error_code: string; error_msg: string }>(
      'POST',
      `/v2/{project_id}/disaster-recovery/${drId}/failover`,
    );
    expect([refused.status, refused.body.error_code]).toEqual([409, 'DWS.9935']);
    expect(refused.body.error_msg).toMatch(/is healthy.*switchover/);
    await adminQuery(standby.rw, 'insert into drt select generate_series(7001, 7100)');
    await waitFor(async () => (await detail()).replication?.lag_bytes === 0, { what: 'no lag before the loss', timeoutMs: 30_000 });
    // B lost: every member's Patroni and PostgreSQL stopped at once.
    const dp = t.svc.dataPlane;
    const lost = (await t.svc.store.getClusterById(standby.id))!;
    for (const n of await t.svc.store.listNodes(standby.id)) await dp.stopMember(lost, n, 'immediate');
    await t.client.call('POST', `/v2/{project_id}/disaster-recovery/${drId}/failover`);
    const failed = await waitStatus('abnormal');
    expect(failed.error).toMatch(/failed over/);
    expect([failed.primary_cluster.role, failed.standby_cluster.role]).toEqual(['primary', 'standby']);
    // A leads with every row B had committed (no lag at the loss), and takes writes.
    expect(await count(prod.rw)).toBe(7101);
    await adminQuery(prod.rw, 'insert into drt values (-4)');
    // B comes back as it was: a primary of its own (what the pairing cannot prevent); what it writes now is discarded by the rebuild.
    await t.client.call('POST', `/v1/{project_id}/clusters/${standby.id}/start`);
    await waitFor(
      async () =>
        await adminQuery(standby.rw, 'insert into drt values (-5)')
          .then(() => true)
          .catch(() => false),
      { what: 'the old production running again', timeoutMs: 120_000 },
    );
    await waitIdle(t.client, standby.id);
    await t.client.call('POST', `/v2/{project_id}/disaster-recovery/${drId}/recovery`);
    const recovered = await waitStatus('running');
    expect(recovered.replication?.state).toBe('streaming');
    const standbyRo = (
      await t.client.call<{ cluster: { endpoints: { connect_info: string }[] } }>('GET', `/v1.0/{project_id}/clusters/${standby.id}`)
    ).cluster.endpoints[1]!.connect_info;
    await waitFor(async () => (await count(standbyRo).catch(() => 0)) === 7102, {
      what: "A's rows on the rebuilt standby",
      timeoutMs: 30_000,
    });
    expect(await adminQuery(standbyRo, 'select x from drt where x = -5')).toEqual([]);
    const p = await t.client.call<{ disaster_recovery_progress: { recovery_time_object: number | null } }>(
      'GET',
      `/v1/{project_id}/disaster-recovery/${drId}/show-progress`,
    );
    expect(p.disaster_recovery_progress.recovery_time_object).toBeGreaterThan(0);
  });

  it('is deleted: the following side is promoted with every row, writable on its own endpoint, and the leading one keeps no slot for it', async () => {
    // Streaming again after the rebuild (its receiver may restart once as the new standby leader settles).
    await waitFor(async () => (await detail()).replication?.state === 'streaming', {
      what: 'the rebuilt standby streaming',
      timeoutMs: 60_000,
    });
    await waitFor(async () => (await detail()).replication?.lag_bytes === 0, { what: 'no lag before the deletion', timeoutMs: 60_000 });
    const rows = await count(prod.rw);
    await t.client.call('DELETE', `/v2/{project_id}/disaster-recovery/${drId}`);
    await waitFor(async () => (await t.client.request('GET', `/v2/{project_id}/disaster-recovery/${drId}`)).status === 404, {
      what: 'the pairing gone',
      timeoutMs: 180_000,
      intervalMs: 200,
    });
    // After the failover and the rebuild, B follows: it is the side promoted now, with every row.
    await waitFor(
      async () =>
        await adminQuery(standby.rw, 'insert into drt values (-1)')
          .then(() => true)
          .catch(() => false),
      { what: 'the promoted side writable', timeoutMs: 60_000 },
    );
    expect(await count(standby.rw)).toBe(rows + 1);
    expect(await count(prod.rw)).toBe(rows);
    // Its own administrator, which production's copy did not have, signs in with its own password.
    expect(await adminQuery(standby.rw, 'select current_user as u', OWN_ADMIN)).toEqual([{ u: OWN_ADMIN.user }]);
    const slots = await adminQuery<{ slot_name: string }>(
      prod.rw,
      "select slot_name from pg_replication_slots where slot_name like 'dr\\_%'",
    );
    expect(slots).toEqual([]);
    expect(await t.client.call('GET', '/v2/{project_id}/disaster-recoveries')).toEqual({ disaster_recovery: [] });
    // Independent again: the side that followed takes a snapshot.
    const snap = await t.client.request('POST', '/v1.0/{project_id}/snapshots', { snapshot: { name: 'dr-after', cluster_id: standby.id } });
    expect(snap.status).toBe(200);
  });
});
