/**
 * The fleet's etcd (issue 18, D27), on the namespace test bed: three hosts, each a network
 * namespace whose agent serves the control plane over mutual TLS; `dwsbox hosts etcd` forms an
 * etcd of three members there (the agents run them, clients and peers over TLS with the hosts'
 * certificates). A cluster created afterwards keeps its Patroni state in the fleet: its members
 * list all three, reached over TLS. One etcd member lost changes nothing (same primary, writes
 * go on); two lost leave no majority, and Patroni's failsafe mode keeps the primary writable
 * while its members reach each other, and the events say so. No acknowledged write is lost;
 * healed, the fleet is whole again; deleting the cluster removes its scope from the fleet. An
 * agent killed leaves its member running, and started again adopts it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DwsClient } from '../../src/cli/client.js';
import { AgentClient } from '../../src/dataplane/agent/client.js';
import { EtcdAdmin } from '../../src/dataplane/patroni/etcd.js';
import { deleteCluster } from '../helpers/crash.js';
import { Writer, query, type Endpoint } from '../helpers/ha-writer.js';
import { bundleDir, hostsCli, startHostAgent, until } from '../helpers/host-agents.js';
import { ADMIN_PASSWORD, createAvailableCluster, PROJECT_ID, projectClient, startService, type TestService } from '../helpers/service.js';
import { TestBed } from '../helpers/testbed.js';

let t: TestService;
let bed: TestBed;
let operator: DwsClient;
const agents = new Map<string, ReturnType<typeof startHostAgent>>();

interface Member {
  name: string;
  address: string;
  endpoint: string;
  health: string;
  unit: string | null;
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const members = async (): Promise<Member[]> => (await operator.call<{ members: Member[] }>('GET', '/dwsbox/v1/etcd')).members;

/** The fleet's record as the control plane keeps it (root's, 0600; the test runs as root). */
const fleetRecord = (): { rootPassword: string; members: { host: string }[]; clientPort: number } =>
  JSON.parse(readFileSync(join(t.dataDir, 'fleet', 'etcd.json'), 'utf8')) as never;

/** etcd's root on the fleet, over TLS with the dwsbox CA. */
const fleetRoot = (): EtcdAdmin => {
  const r = fleetRecord();
  return new EtcdAdmin(
    { urls: r.members.map((m) => `https://${m.host}:${r.clientPort}`), caPem: readFileSync(join(t.dataDir, 'tls', 'ca.crt'), 'utf8') },
    r.rootPassword,
  );
};

beforeAll(async () => {
  t = await startService();
  bed = await TestBed.create({ hosts: 3 });
  operator = await projectClient(t, PROJECT_ID, 'operator');
  for (const h of bed.hosts) {
    const r = await hostsCli(t.dataDir, ['add', h.name, '--address', h.address, '--bundle-out', bundleDir(t.dataDir, h.name)]);
    expect(r.code, r.stderr).toBe(0);
    agents.set(h.name, startHostAgent(bed, h, t.dataDir, bundleDir(t.dataDir, h.name)));
  }
  await until(
    async () =>
      (await hostsCli(t.dataDir, ['list'])).stderr === '' &&
      (await operator.call<{ hosts: { state: string }[] }>('GET', '/dwsbox/v1/hosts')).hosts.every((h) => h.state === 'up'),
    'every agent up',
    60_000,
  );
});

afterAll(async () => {
  // the bed first: its agents' etcd members live under the service's directory
  await bed?.destroy();
  await t?.stop();
});

describe("the fleet's etcd on three hosts", () => {
  it('refuses a fleet of other than three different registered hosts, changing nothing', async () => {
    const [a, b] = bed.hosts;
    for (const args of [
      [a!.name, b!.name],
      [a!.name, a!.name, b!.name],
      [a!.name, b!.name, 'nohost'],
    ]) {
      const r = await hostsCli(t.dataDir, ['etcd', ...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(/DWS\.9933|DWS\.9930/);
    }
    expect(await members()).toEqual([]);
  });

  it('an agent refuses a bad request to join, starting nothing', async () => {
    const h = bed.hosts[0]!;
    const local = new AgentClient(agents.get(h.name)!.dir);
    const good = {
      name: h.name,
      token: 'fleet-0123abcd',
      members: bed.hosts.map((x) => ({ name: x.name, host: x.address })),
      clientPort: 2379,
      peerPort: 2380,
      rootPassword: 'a'.repeat(24),
      cert: '-----BEGIN CERTIFICATE-----',
      key: '-----BEGIN PRIVATE KEY-----',
    };
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ members: good.members.slice(0, 2) }, /exactly three/],
      [{ members: [...good.members.slice(0, 2), { name: 'x', host: '999.1.1.1' }] }, /IPv4/],
      [{ clientPort: 80 }, /1024-65535/],
      [{ rootPassword: 'short' }, /rootPassword/],
      [{ rootPassword: `${'a'.repeat(20)} \n` }, /rootPassword/],
      [{ name: '9host' }, /host name/],
      [{ key: 'not a key' }, /PEM/],
      [{ name: bed.hosts[1]!.name }, /must be at that address/],
    ];
    try {
      for (const [change, why] of bad)
        await expect(local.callOnce('PUT', '/v1/etcd/fleet', { ...good, ...change }), JSON.stringify(change)).rejects.toThrow(why);
      expect(await local.unit('etcd')).toBeNull();
    } finally {
      await local.close();
    }
  });

  it('forms it: each agent runs a member on its host, over TLS, healthy; asked again it resumes', async () => {
    const names = bed.hosts.map((h) => h.name);
    const r = await hostsCli(t.dataDir, ['etcd', ...names], 180_000);
    expect(r.code, r.stderr).toBe(0);
    const formed = (r.out as { members: Member[] }).members;
    expect(formed.map((m) => [m.name, m.address, m.endpoint, m.health, m.unit])).toEqual(
      bed.hosts.map((h) => [h.name, h.address, `https://${h.address}:2379`, 'healthy', 'running']),
    );
    // one etcd cluster of three, as etcd itself lists it
    const list = await fleetRoot().rootClient().call<{ members: { name: string; clientURLs: string[] }[] }>('/v3/cluster/member/list', {});
    expect(list.members.map((m) => m.name).sort()).toEqual([...names].sort());
    // the same hosts again: nothing new (resumed); other hosts: refused
    const again = await hostsCli(t.dataDir, ['etcd', ...names], 120_000);
    expect(again.code, again.stderr).toBe(0);
    expect((await members()).every((m) => m.health === 'healthy')).toBe(true);
  });

  it('an agent killed: its etcd member keeps running; the agent started again adopts it, not starting it twice', async () => {
    const h = bed.hosts[2]!;
    const { dir, process: child } = agents.get(h.name)!;
    // the agent's own socket (the file system is shared; only mounts are private)
    const local = new AgentClient(dir);
    const before = (await local.unit('etcd'))!;
    await local.close();
    expect(before.status).toBe('running');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(isAlive(before.pid!), 'the member outlives its agent').toBe(true);
    const gone = (await members()).find((m) => m.name === h.name)!;
    expect(gone.health).toMatch(/its agent cannot be asked/);
    agents.set(h.name, startHostAgent(bed, h, t.dataDir, bundleDir(t.dataDir, h.name)));
    await until(async () => (await members()).every((m) => m.health === 'healthy'), 'the agent back, its member healthy', 60_000);
    const again = new AgentClient(dir);
    const after = (await again.unit('etcd'))!;
    await again.close();
    expect({ pid: after.pid, adopted: after.adopted, restarts: after.restarts }).toEqual({ pid: before.pid, adopted: true, restarts: 0 });
  });

  let cluster: { id: string; port: number; detail: { endpoints: { connect_info: string }[] } };
  let endpoint: Endpoint;
  let ha: { dcs?: string; scope: string; subnet: number };
  const events = async (): Promise<{ name: string; severity: string; source_id: string; description: string }[]> =>
    (
      await t.client.call<{ events: { name: string; severity: string; source_id: string; description: string }[] }>(
        'GET',
        `/v2/{project_id}/events?source_id=${cluster.id}&limit=100`,
      )
    ).events;

  it("a new cluster keeps its Patroni state there: every member lists the fleet's three, over TLS", async () => {
    cluster = await createAvailableCluster(t.client, { nodes: 3 });
    ha = JSON.parse(readFileSync(join(t.dataDir, 'clusters', cluster.id, 'ha.json'), 'utf8')) as {
      dcs?: string;
      scope: string;
      subnet: number;
    };
    expect(ha.dcs).toBe('fleet');
    for (const i of [1, 2, 3]) {
      const conf = JSON.parse(readFileSync(join(t.dataDir, 'clusters', cluster.id, 'conf', `node${i}.yml`), 'utf8')) as {
        etcd3: { hosts: string[]; protocol: string; cacert: string };
      };
      expect(conf.etcd3).toMatchObject({
        hosts: bed.hosts.map((h) => `${h.address}:2379`),
        protocol: 'https',
        cacert: join(t.dataDir, 'tls', 'ca.crt'),
      });
    }
    const keys = await fleetRoot()
      .rootClient()
      .call<{ kvs?: unknown[] }>('/v3/kv/range', {
        key: Buffer.from(`/service/${ha.scope}/leader`).toString('base64'),
      });
    expect(keys.kvs ?? []).toHaveLength(1);
    const [host, port] = cluster.detail.endpoints[0]!.connect_info.split(':');
    endpoint = { host: host!, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD };
  });

  it('one member lost: no interruption; two lost: the primary stays writable under failsafe mode; no acknowledged write lost', async () => {
    await Writer.createTable(endpoint);
    const w = new Writer(endpoint, { pauseMs: 20 });
    const server = async (): Promise<string> => (await query<{ s: string }>(endpoint, 'select host(inet_server_addr()) as s'))[0]!.s;
    const primary = await server();
    w.start();
    try {
      const [h1, h2] = bed.hosts;
      bed.isolate(h1!);
      const lostOne = Date.now();
      await new Promise((r) => setTimeout(r, 20_000));
      expect(w.acked.filter((a) => a.at > lostOne + 15_000).length, 'writes go on with one etcd member lost').toBeGreaterThan(10);
      expect(await server()).toBe(primary);
      bed.isolate(h2!);
      const lostTwo = Date.now();
      // the events say so: the primary on failsafe mode
      const lostEvent = await until(async () => (await events()).find((e) => e.name === 'dcs_lost'), 'a dcs_lost event', 60_000);
      expect(lostEvent).toMatchObject({ severity: 'major', source_id: cluster.id });
      expect(lostEvent.description).toMatch(/failsafe mode keeps node 1 writable/);
      await new Promise((r) => setTimeout(r, Math.max(0, lostTwo + 40_000 - Date.now())));
      expect(w.acked.filter((a) => a.at > lostTwo + 30_000).length, 'writes go on with no etcd majority (failsafe)').toBeGreaterThan(10);
      expect(await server()).toBe(primary);
      bed.heal(h1!);
      bed.heal(h2!);
      await until(async () => (await members()).every((m) => m.health === 'healthy'), 'the fleet healthy again', 60_000);
      // the outage over as the service saw it: its newest dcs_ event is dcs_back, each loss followed
      // by its return (the members re-electing right after the heal may be one more short loss)
      const dcs = await until(
        async () => {
          const names = (await events()).filter((e) => e.name.startsWith('dcs_')).map((e) => e.name);
          return names[0] === 'dcs_back' && names;
        },
        'a dcs_back event after the last dcs_lost',
        60_000,
      );
      expect(dcs.length % 2).toBe(0);
      expect(dcs.every((n, i) => n === (i % 2 === 0 ? 'dcs_back' : 'dcs_lost'))).toBe(true);
    } finally {
      for (const h of bed.hosts) bed.heal(h);
      await w.stop();
    }
    const present = new Set((await query<{ n: number }>(endpoint, 'select n from acked')).map((r) => r.n));
    expect(w.missing(present)).toEqual([]);
  });

  it('deleting the cluster removes its scope from the fleet', async () => {
    const ha = JSON.parse(readFileSync(join(t.dataDir, 'clusters', cluster.id, 'ha.json'), 'utf8')) as { scope: string };
    await deleteCluster(t.client, cluster.id);
    const left = await fleetRoot().rootClient().list(`/service/${ha.scope}/`);
    expect(left).toEqual([]);
  });
});
