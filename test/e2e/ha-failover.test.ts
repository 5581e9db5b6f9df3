/**
 * One highly available cluster on the host agent (issue 15, D23–D25), end to end with real
 * processes: the run's agent (test/helpers/env.ts `testAgentDir`) runs the host's etcd, three
 * Patroni 3.0.2 members as a project's OS user (D32) and the cluster's HAProxy router as the
 * service user. A writer commits numbered rows through the read-write endpoint `127.1.c.1`
 * the whole time. Asserted (outcomes only; the bench/failover.ts bench reports the times):
 * - a leader with two streaming replicas, one synchronous (D25); the endpoints reach the
 *   leader and a replica; Patroni's REST refuses an action without the cluster's credentials;
 * - the leader's Patroni killed alone: the agent starts it again, no failover, and no moment
 *   (polled on every member) with two writable members;
 * - etcd killed: the agent starts it again; the leader stays (failsafe_mode);
 * - the leader's postmaster killed: writes return through the same endpoint on another member,
 *   exactly one member out of recovery, the old primary rejoins as a streaming replica;
 * - every acknowledged row is on the primary at the end; removal leaves no unit, key or file.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentClient } from '../../src/dataplane/agent/client.js';
import { ETCD_UNIT } from '../../src/dataplane/agent/host-etcd.js';
import type { OsUser } from '../../src/dataplane/os-user.js';
import { memberHost, memberUnit, readOnlyHost, routerUnit, type HaCluster } from '../../src/dataplane/patroni/ha-cluster.js';
import { RouterBackend } from '../../src/dataplane/patroni/haproxy-config.js';
import { memberName, memberOrdinal } from '../../src/dataplane/patroni/patroni-config.js';
import { PatroniRest, restStatus } from '../../src/dataplane/patroni/patroni-rest.js';
import { isProcessAlive } from '../../src/dataplane/process-info.js';
import { ensureServiceUser } from '../../src/dataplane/project-users.js';
import { startHaCluster, type HaTestCluster } from '../helpers/ha.js';
import { Writer, query, type Ack, type Endpoint } from '../helpers/ha-writer.js';
import { processesUnder, waitFor } from '../helpers/env.js';

const ORDINALS = [1, 2, 3];

let ha: HaTestCluster;
let agent: AgentClient;
let cluster: HaCluster;
let projectUser: OsUser;
let subnet = 0;
let SCOPE = '';
let rw: Endpoint;
let writer: Writer;
/** the first leader: the preferred primary a switchback returns to */
let preferred = '';

const ordinalOf = (name: string): number => memberOrdinal(name)!;
const at = (host: string): Endpoint => ({ ...rw, host });

async function leaderName(): Promise<string | null> {
  return (await cluster.health().catch(() => null))?.leader ?? null;
}

/** Every member's `pg_is_in_recovery()`, asked of each member directly (null: it did not answer). */
async function recoveryStates(): Promise<(boolean | null)[]> {
  return Promise.all(
    ORDINALS.map((i) =>
      query<{ r: boolean }>(at(memberHost(subnet, i)), 'SELECT pg_is_in_recovery() AS r').then(
        (rows) => rows[0]?.r ?? null,
        () => null,
      ),
    ),
  );
}

async function unitPid(name: string): Promise<number> {
  const u = await agent.unit(name);
  if (!u?.pid) throw new Error(`unit ${name} is not running`);
  return u.pid;
}

beforeAll(async () => {
  ha = await startHaCluster({ prefix: 'ha-e2e', ordinals: ORDINALS });
  ({ agent, cluster, projectUser, subnet, rw } = ha);
  SCOPE = cluster.spec.scope;
  await waitFor(async () => Writer.createTable(rw).then(() => true), { timeoutMs: 30_000, what: 'the read-write endpoint' });
  writer = new Writer(rw, { pauseMs: 5 });
  writer.start();
});

afterAll(async () => {
  await writer?.stop();
  const left = ha ? await ha.close() : [];
  expect(left).toEqual([]);
});

describe('a highly available cluster on the host agent (issue 15)', () => {
  it('has a leader and two streaming replicas, one synchronous; the endpoints reach the leader and a replica', async () => {
    const h = await cluster.waitHealthy();
    expect(h.streaming.sort()).toEqual(ORDINALS.map((i) => memberName(i)).filter((n) => n !== h.leader));
    expect(h.sync).toHaveLength(1);
    expect(h.members.map((m) => m.role).sort()).toEqual(['leader', 'replica', 'sync_standby']);
    const server = await waitFor(async () => (await query<{ a: string }>(rw, 'SELECT host(inet_server_addr()) AS a'))[0]?.a, {
      timeoutMs: 30_000,
      what: 'the read-write endpoint',
    });
    expect(server).toBe(memberHost(subnet, ordinalOf(h.leader!)));
    const up = await waitFor(
      async () => {
        const s = (await cluster.router().serversState(RouterBackend.READ_WRITE)).filter((x) => x.up).map((x) => x.server);
        return s.length === 1 ? s : null;
      },
      { timeoutMs: 30_000, what: 'the router marking only the leader up' },
    );
    expect(up).toEqual([h.leader]);
    const ro = await waitFor(
      async () => {
        const [row] = await query<{ r: boolean; a: string }>(
          at(readOnlyHost(subnet)),
          'SELECT pg_is_in_recovery() AS r, host(inet_server_addr()) AS a',
        );
        return row?.r ? row : null;
      },
      { timeoutMs: 30_000, what: 'a replica through the read-only endpoint' },
    );
    expect(ro.a).not.toBe(server);
    // The service reaches each member's superuser over its socket by peer, as on every dwsbox member (access-rules.ts, D32); over TCP only with the password.
    for (const i of ORDINALS) {
      const [row] = await query<{ u: string }>({ ...rw, host: cluster.socketDir(i), password: '' }, 'SELECT current_user AS u');
      expect(row?.u).toBe('postgres');
    }
    await expect(query({ ...rw, host: memberHost(subnet, 1), password: 'wrong' }, 'SELECT 1')).rejects.toThrow(
      /password authentication failed/,
    );
    // Every member runs as the project's user, the router as the service user (D32).
    for (const i of ORDINALS)
      expect(readFileSync(`/proc/${await unitPid(memberUnit(SCOPE, i))}/status`, 'utf8')).toMatch(
        new RegExp(`^Uid:\\s+${projectUser.uid}\\s`, 'm'),
      );
    expect(readFileSync(`/proc/${await unitPid(routerUnit(SCOPE))}/status`, 'utf8')).toMatch(
      new RegExp(`^Uid:\\s+${(await ensureServiceUser()).uid}\\s`, 'm'),
    );
  });

  it("refuses a REST action without the cluster's credentials (401)", async () => {
    const leader = (await leaderName())!;
    const replica = ORDINALS.map((i) => memberName(i)).find((n) => n !== leader)!;
    const members = Object.fromEntries(ORDINALS.map((i) => [memberName(i), `http://127.2.${subnet}.${i}:8008`]));
    for (const client of [new PatroniRest({ members }), new PatroniRest({ members, auth: { username: 'dwsbox', password: 'wrong' } })]) {
      expect(await client.switchover(leader, replica).then(() => 'accepted', restStatus)).toBe(401);
      expect(await client.reinitialize(replica).then(() => 'accepted', restStatus)).toBe(401);
    }
    expect(await leaderName()).toBe(leader);
  });

  it("the leader's Patroni killed alone: the agent starts it again, no failover, never two writable members", async () => {
    const leader = (await cluster.waitHealthy()).leader!;
    const unit = memberUnit(SCOPE, ordinalOf(leader));
    const pid = await unitPid(unit);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    let polls = 0;
    let twoWritable = 0;
    await waitFor(
      async () => {
        const states = await recoveryStates();
        polls++;
        if (states.filter((s) => s === false).length > 1) twoWritable++;
        const u = await agent.unit(unit);
        return u?.pid && u.pid !== pid && Date.now() - killedAt > 12_000 ? true : null;
      },
      { timeoutMs: 60_000, intervalMs: 50, what: 'the member restarted and a TTL past' },
    );
    const polled = Date.now();
    expect(polls).toBeGreaterThan(10);
    expect(twoWritable).toBe(0);
    expect((await agent.unit(unit))!.restarts).toBeGreaterThanOrEqual(1);
    // Patroni 3.0.2, restarted beside its running primary, drops synchronous_standby_names while
    // the DCS still names a synchronous standby (HaCluster.repairSync): seen, then mended.
    let repaired = false;
    await waitFor(
      async () => {
        repaired = (await cluster.repairSync()) || repaired;
        return cluster.waitHealthy({ timeoutMs: 3000 }).then(
          () => true,
          () => false,
        );
      },
      { timeoutMs: 90_000, what: 'the named synchronous standby being the one the leader waits for' },
    );
    if (repaired) console.log('Patroni 3.0.2 had dropped synchronous_standby_names: the stale sync key was removed');
    expect((await cluster.waitHealthy()).leader).toBe(leader);
    console.log(
      `Patroni killed: ${polls} polls in ${(polled - killedAt) / 1000} s, healthy again after ${(Date.now() - killedAt) / 1000} s`,
    );
    await waitFor(async () => writer.firstAfter(Date.now() - 500), { timeoutMs: 30_000, what: 'writes going on' });
  });

  it('etcd killed: the agent starts it again and the leader stays', async () => {
    const leader = (await cluster.waitHealthy()).leader!;
    const pid = await unitPid(ETCD_UNIT);
    process.kill(pid, 'SIGKILL');
    await waitFor(
      async () => {
        const u = await agent.unit(ETCD_UNIT);
        return u?.status === 'running' && u.pid !== pid;
      },
      { timeoutMs: 30_000, what: 'etcd started again' },
    );
    const after = Date.now();
    await waitFor(async () => writer.firstAfter(after), { timeoutMs: 30_000, what: 'writes after etcd came back' });
    expect((await cluster.waitHealthy()).leader).toBe(leader);
  });

  it("the leader's postmaster killed: writes return through the same endpoint on another member, the old primary rejoins, no acknowledged row lost", async () => {
    const old = (await cluster.waitHealthy()).leader!;
    preferred = old;
    const oldHost = memberHost(subnet, ordinalOf(old));
    // Patroni fails over when a synchronous standby answers it in time (primary_start_timeout 0);
    // on a loaded machine it may find none and start the crashed primary again in place, which
    // the writer sees as writes on the same member: then the test kills it again (at most 3 times).
    let killedAt = 0;
    let back: Ack | undefined;
    for (let kill = 1; !back; kill++) {
      await cluster.waitHealthy({ timeoutMs: 120_000 });
      const postmaster = Number(readFileSync(join(cluster.dataDir(ordinalOf(old)), 'postmaster.pid'), 'utf8').split('\n')[0]);
      expect(isProcessAlive(postmaster)).toBe(true);
      killedAt = Date.now();
      process.kill(postmaster, 'SIGKILL');
      back = await waitFor(async () => writer.firstAfter(killedAt, oldHost), {
        timeoutMs: 60_000,
        intervalMs: 20,
        what: 'a write on another member',
      }).catch(async (e: Error) => {
        // Started again in place: it leads again and takes the writes.
        if (kill >= 3 || (await leaderName()) !== old || !writer.firstAfter(killedAt)) throw e;
        console.warn(`kill ${kill}: Patroni started ${old} again in place; killing it again`);
        return undefined;
      });
    }
    const now = await waitFor(
      async () => {
        const l = await leaderName();
        return l && l !== old ? l : null;
      },
      { timeoutMs: 60_000, what: 'the new leader' },
    );
    expect(back.server).toBe(memberHost(subnet, ordinalOf(now)));
    const healthy = await cluster.waitHealthy({ timeoutMs: 180_000 });
    expect(healthy.leader).toBe(now);
    expect(healthy.streaming).toContain(old);
    expect(existsSync(join(cluster.dataDir(ordinalOf(old)), 'standby.signal'))).toBe(true);
    const states = await waitFor(
      async () => {
        const s = await recoveryStates();
        return s.every((x) => x !== null) ? s : null;
      },
      { timeoutMs: 60_000, what: 'every member answering' },
    );
    expect(states.filter((s) => s === false)).toHaveLength(1);
    expect(states[ordinalOf(now) - 1]).toBe(false);
    console.log(`failover ${old} -> ${now}: first write on ${now} ${((back.at - killedAt) / 1000).toFixed(2)} s after the SIGKILL`);
  });

  it('switches back to the preferred primary (made the synchronous standby first, D25), writes going on', async () => {
    const before = await cluster.waitHealthy();
    expect(before.leader).not.toBe(preferred);
    const wasSync = before.members.some((m) => m.name === preferred && m.role === 'sync_standby');
    const started = Date.now();
    expect(await cluster.switchover(preferred)).toEqual({ from: before.leader, to: preferred });
    await waitFor(async () => writer.firstAfter(started, memberHost(subnet, ordinalOf(before.leader!))), {
      timeoutMs: 60_000,
      what: `a write on ${preferred}`,
    });
    const after = await cluster.waitHealthy({ timeoutMs: 180_000 });
    expect(after.leader).toBe(preferred);
    // The nosync tags given for the switchover are gone: every member may be synchronous again.
    for (const i of ORDINALS)
      expect(readFileSync(join(cluster.spec.dir, 'conf', `${memberName(i)}.yml`), 'utf8')).toMatch(/"nosync": false/);
    console.log(
      `switchback to ${preferred} (${wasSync ? 'already' : 'made'} synchronous first): ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    // A switchover to a member that is not streaming is refused.
    await expect(cluster.switchover('node9')).rejects.toThrow(/not a streaming replica/);
  });

  it('rebuilds a replica whose data directory broke (Patroni leaves it stopped) from the leader', async () => {
    const h = await cluster.waitHealthy();
    const victim = h.streaming.find((n) => !h.sync.includes(n)) ?? h.streaming[0]!;
    const unit = memberUnit(SCOPE, ordinalOf(victim));
    // Its Patroni stopped (it stops PostgreSQL), its pg_control removed, its Patroni started again.
    const spec = (await agent.unit(unit))!;
    await agent.stopUnit(unit);
    rmSync(join(cluster.dataDir(ordinalOf(victim)), 'global', 'pg_control'));
    await cluster.ensure();
    expect((await agent.unit(unit))!.pid).not.toBe(spec.pid);
    const asked = await waitFor(
      async () => {
        const r = await cluster.stoppedMembers();
        for (const m of r) await cluster.reinitialize(m);
        return r.length ? r : null;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: `${victim} seen stopped and rebuilt` },
    );
    expect(asked).toEqual([victim]);
    const after = await cluster.waitHealthy({ timeoutMs: 180_000 });
    expect(after.streaming).toContain(victim);
    expect(existsSync(join(cluster.dataDir(ordinalOf(victim)), 'global', 'pg_control'))).toBe(true);
    expect(await cluster.stoppedMembers()).toEqual([]);
  });

  it('lost no acknowledged row through all of the above', async () => {
    await writer.stop();
    const present = new Set((await query<{ n: number }>(rw, 'SELECT n FROM acked')).map((r) => r.n));
    expect(writer.acked.length).toBeGreaterThan(100);
    expect(writer.missing(present)).toEqual([]);
  });

  it('is removed with its units, its etcd user and its files', async () => {
    const pids = await Promise.all([...ORDINALS.map((i) => unitPid(memberUnit(SCOPE, i))), unitPid(routerUnit(SCOPE))]);
    await cluster.remove();
    for (const p of pids) expect(isProcessAlive(p)).toBe(false);
    const names = (await agent.units()).map((u) => u.name);
    expect(names.filter((n) => n.includes(SCOPE))).toEqual([]);
    expect(names).toContain(ETCD_UNIT);
    expect(existsSync(cluster.spec.dir)).toBe(false);
    expect(processesUnder(cluster.spec.dir)).toEqual([]);
  });
});
