/**
 * The host attack suite on the Patroni engine (issues 12 and 15, D23, D32): what a tenant can
 * try with its own API credentials, its own cluster's administrator login and, at worst, its own
 * OS user, where a cluster is Patroni members under the host agent. `host.test` runs the same
 * kind of attacks against what the local engine does as root by path; here the targets are what
 * this engine adds: each member's Patroni configuration (it holds the cluster's superuser,
 * replication, REST and etcd secrets), the scope's etcd user, Patroni's REST API, the host
 * agent's socket, and the member directories, which are the project's user's once Patroni runs
 * them (Patroni removes and makes the data directory inside).
 *
 * Two projects share one service: project A (the bootstrap project) and project B, one cluster
 * each; every attack comes from B. Victims are root-owned files and directories made for the
 * purpose (kit.ts `Victims`); links are planted as B's OS user.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DwsClient } from '../../src/cli/client.js';
import { agentPaths } from '../../src/dataplane/agent/agent.js';
import { TestAgentClient } from '../helpers/engine.js';
import type { OsUser } from '../../src/dataplane/os-user.js';
import { EtcdClient, scopePrefix } from '../../src/dataplane/patroni/etcd.js';
import { memberUnit, restHost } from '../../src/dataplane/patroni/ha-cluster.js';
import type { PatroniEngine } from '../../src/dataplane/patroni-engine.js';
import { postmastersUnder } from '../helpers/child-service.js';
import { clusterTasks, subItems } from '../helpers/crash.js';
import { tempDir, testAgentDir, waitFor } from '../helpers/env.js';
import {
  createAvailableCluster,
  delayStep,
  getCluster,
  PROJECT_ID,
  projectClient,
  startService,
  takeSnapshot,
  waitIdle,
  type TestService,
} from '../helpers/service.js';
import { alive, asUser, connectAs, facts, plantLink, refusal, Victims } from './kit.js';

const PROJECT_B = 'b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1';

interface Cl {
  id: string;
  ep: string;
  scope: string;
  subnet: number;
  os: OsUser;
}

/** The parts of a member's Patroni configuration an attacker wants. */
interface MemberConf {
  restapi: { authentication: { username: string; password: string } };
  etcd3: { hosts: string[]; username: string; password: string };
  postgresql: { data_dir: string; authentication: { superuser: { username: string; password: string } } };
}

let t: TestService;
let bc: DwsClient;
let A: Cl;
let B: Cl;
let victims: Victims;
const sleepers: ChildProcess[] = [];
const agent = new TestAgentClient(testAgentDir());

const engine = (): PatroniEngine => t.svc.dataPlane as PatroniEngine;
const confOf = (c: Cl, ordinal: number): string => join(engine().clusterDir(c.id), 'conf', `node${ordinal}.yml`);
const nodeDirOf = (c: Cl, ordinal: number): string => engine().nodeDir(c.id, ordinal);
const uidOf = (pid: number): number => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

async function load(client: DwsClient, id: string, project: string): Promise<Cl> {
  const d = await getCluster(client, id);
  const ep = d.endpoints[0]!.connect_info;
  return { id, ep, scope: `dws-${id}`, subnet: Number(ep.split('.')[2]), os: engine().projectUser(project) };
}

/** As B's OS user: a member configuration of B's own cluster (it can read it: its Patroni must). */
function readConfAsB(ordinal: number): MemberConf {
  const r = asUser(B.os, 'cat', [confOf(B, ordinal)]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as MemberConf;
}

beforeAll(async () => {
  t = await startService({ flags: { engine: 'patroni', agentDir: testAgentDir() } });
  bc = await projectClient(t, PROJECT_B);
  const [a, b] = await Promise.all([createAvailableCluster(t.client), createAvailableCluster(bc)]);
  A = await load(t.client, a.id, PROJECT_ID);
  B = await load(bc, b.id, PROJECT_B);
  victims = new Victims(join(tempDir('victims'), 'v'));
});

afterAll(async () => {
  for (const p of sleepers) p.kill('SIGKILL');
  await t?.stop();
});

describe('the set-up', () => {
  it("runs each project's members as its own OS user; configurations root's, readable by the project's group only; the cluster directory root's", async () => {
    expect(A.os.uid).not.toBe(B.os.uid);
    for (const c of [A, B]) {
      const dir = statSync(engine().clusterDir(c.id));
      expect({ uid: dir.uid, mode: (dir.mode & 0o7777).toString(8) }).toEqual({ uid: 0, mode: '711' });
      for (const i of [1, 2, 3]) {
        const pid = (await agent.unit(memberUnit(c.scope, i)))!.pid!;
        expect(uidOf(pid)).toBe(c.os.uid);
        const conf = statSync(confOf(c, i));
        expect({ uid: conf.uid, gid: conf.gid, mode: (conf.mode & 0o777).toString(8) }).toEqual({ uid: 0, gid: c.os.gid, mode: '640' });
        const node = statSync(nodeDirOf(c, i));
        expect({ uid: node.uid, mode: (node.mode & 0o777).toString(8) }).toEqual({ uid: c.os.uid, mode: '700' });
      }
    }
  });
});

describe("1. project B's administrator, over TCP on its own Patroni cluster", () => {
  it('is no superuser: ALTER SYSTEM, COPY … PROGRAM, pg_read_file and CREATE ROLE … SUPERUSER are refused (42501)', async () => {
    const c = await connectAs(B.ep);
    try {
      const tries = [
        `alter system set archive_command = 'true'`,
        `copy (select 1) to program 'id'`,
        `select pg_read_file('postgresql.conf')`,
        `create role b_escape superuser login`,
      ];
      for (const sql of tries) expect({ sql, code: (await refusal(c, sql))?.code }).toEqual({ sql, code: '42501' });
      expect((await c.query<{ su: boolean }>(`select rolsuper as su from pg_roles where rolname = current_user`)).rows[0]!.su).toBe(false);
    } finally {
      await c.end();
    }
  });
});

describe("2. project B's OS user against project A and the host", () => {
  it("cannot read A's Patroni configurations (A's secrets), A's data directories, nor A's members' logs", () => {
    for (const i of [1, 2, 3]) {
      for (const [what, args] of [
        ['configuration', ['cat', confOf(A, i)]],
        ['data directory', ['ls', join(nodeDirOf(A, i), 'data')]],
        ['log', ['cat', engine().nodePaths(A.id, i).logFile]],
      ] as const) {
        const r = asUser(B.os, args[0], [args[1]]);
        expect({ what, i, failed: r.code !== 0, denied: /Permission denied/.test(r.stderr) }).toEqual({
          what,
          i,
          failed: true,
          denied: true,
        });
      }
    }
  });

  it("cannot reach the host agent, which starts processes as any user: its socket and token are root's (0600)", () => {
    const paths = agentPaths(testAgentDir());
    const r = asUser(B.os, 'curl', ['-sS', '--unix-socket', paths.socket, 'http://agent/v1/units']);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/Permission denied|Couldn't connect/);
    expect(asUser(B.os, 'cat', [paths.token]).code).toBe(1);
  });

  it("with B's own etcd user (its password from B's configuration), A's scope can be neither read nor written; B's own can", async () => {
    const conf = readConfAsB(1);
    const etcd = new EtcdClient(`http://${conf.etcd3.hosts[0]}`, { username: conf.etcd3.username, password: conf.etcd3.password });
    expect(await etcd.get(`${scopePrefix(B.scope)}leader`)).toMatch(/^node\d$/);
    await expect(etcd.get(`${scopePrefix(A.scope)}leader`)).rejects.toThrow(/permission denied/);
    await expect(etcd.list(scopePrefix(A.scope))).rejects.toThrow(/permission denied/);
    await expect(etcd.put(`${scopePrefix(A.scope)}leader`, 'node1')).rejects.toThrow(/permission denied/);
    await expect(etcd.delete(`${scopePrefix(A.scope)}leader`)).rejects.toThrow(/permission denied/);
    await expect(etcd.put(`${scopePrefix(A.scope)}config`, '{"synchronous_mode":false}')).rejects.toThrow(/permission denied/);
    expect((await getCluster(t.client, A.id)).status).toBe('AVAILABLE');
  });

  it("with B's Patroni REST credentials, or none, A's members refuse every action (401); A keeps its leader", async () => {
    const conf = readConfAsB(1);
    const { username, password } = conf.restapi.authentication;
    const before = await (await fetch(`http://${restHost(A.subnet, 1)}:8008/cluster`)).json();
    for (const i of [1, 2, 3]) {
      for (const [method, path, body] of [
        ['POST', '/restart', {}],
        ['POST', '/switchover', { leader: 'node1', candidate: 'node2' }],
        ['POST', '/reinitialize', {}],
        ['PATCH', '/config', { synchronous_mode: false }],
        ['POST', '/reload', {}],
      ] as const) {
        for (const auth of [`Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`, null]) {
          const r = await fetch(`http://${restHost(A.subnet, i)}:8008${path}`, {
            method,
            headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
            body: JSON.stringify(body),
          });
          expect({ i, method, path, auth: !!auth, status: r.status }).toEqual({ i, method, path, auth: !!auth, status: 401 });
        }
      }
    }
    const after = (await (await fetch(`http://${restHost(A.subnet, 1)}:8008/cluster`)).json()) as typeof before;
    const leader = (x: unknown): unknown =>
      (x as { members: { name: string; role: string }[] }).members.find((m) => m.role === 'leader')?.name;
    expect(leader(after)).toBe(leader(before));
  });
});

describe('3. root never follows a path B can change', () => {
  let restored = '';

  it("restore: the restored primary's member directory is root's until its Patroni starts, so B cannot swap the data directory for a link; a link planted inside it is replaced, never followed", async () => {
    const snap = await takeSnapshot(bc, B.id, 'b-base');
    expect(snap.status).toBe('AVAILABLE');
    // The window between the restore of the files (as B) and the root steps that write into them.
    await delayStep(bc, B.id, 'RESTORING', 'RECOVER_PRIMARY', 4000);
    const r = await bc.call<{ cluster: { id: string } }>('POST', `/v1.0/{project_id}/snapshots/${snap.id}/actions`, {
      restore: { name: 'b-restored' },
    });
    restored = r.cluster.id;
    const node1 = nodeDirOf({ ...B, id: restored }, 1);
    await waitFor(
      async () => {
        const task = (await clusterTasks(bc, restored)).find((x) => x.kind === 'cluster.restore');
        return task && subItems(task).some((x) => x.step === 'RESTORE_PRIMARY' && x.status === 'SUCCESS');
      },
      { what: 'RESTORE_PRIMARY done', intervalMs: 50, timeoutMs: 180_000 },
    );
    const target = victims.directory('restore-target');
    const node1Stat = statSync(node1);
    expect({ uid: node1Stat.uid, mode: (node1Stat.mode & 0o777).toString(8) }).toEqual({ uid: 0, mode: '711' });
    // Were it B's, B would move the data directory aside and link another tenant's in its place:
    // the recovery's root steps would then write B's settings and access rules into A's data
    // directory, as files B owns (seen before the member directory was root's here).
    const moved = asUser(B.os, 'mv', ['-T', join(node1, 'data'), join(node1, 'moved')]);
    expect({ code: moved.code, denied: /Permission denied/.test(moved.stderr) }).toEqual({ code: 1, denied: true });
    // Inside the data directory (B's own), what the recovery writes as root is replaced, never written through.
    const conf = join(node1, 'data', 'postgresql.conf');
    plantLink(B.os, conf, join(target, 'keep'));
    const d = await waitIdle(bc, restored, 240_000);
    expect(d.status, JSON.stringify(d.failed_reasons)).toBe('AVAILABLE');
    expect(victims.changed()).toEqual([]);
    expect(facts(conf).kind).toBe('file');
    // Handed to B's user once its Patroni took the member over.
    for (const i of [1, 2, 3]) expect(statSync(nodeDirOf({ ...B, id: restored }, i)).uid).toBe(B.os.uid);
  });

  it('delete, with links planted in every member directory and a data directory swapped for a directory naming an unrelated root process in postmaster.pid: the cluster and its files go, never what the links point at; that process lives on', async () => {
    const R = { ...B, id: restored, scope: `dws-${restored}` };
    const sleeper = spawn('sleep', ['3600'], { detached: true, stdio: 'ignore' });
    sleeper.unref();
    sleepers.push(sleeper);
    const vd = victims.directory('delete-target');
    const vf = victims.file('delete-target-file');
    for (const i of [1, 2, 3]) {
      plantLink(B.os, join(nodeDirOf(R, i), 'planted-dir'), vd);
      plantLink(B.os, join(nodeDirOf(R, i), 'data', 'planted-file'), vf);
    }
    // Node 2's data directory moved aside (its postmaster runs on) and a directory of B's in its place.
    const n2 = nodeDirOf(R, 2);
    const swap = asUser(B.os, 'sh', [
      '-c',
      'mv -T -- "$1/data" "$1/real" && mkdir -m 700 -- "$1/data" && printf "%s\\n" "$2" > "$1/data/postmaster.pid"',
      'sh',
      n2,
      String(sleeper.pid),
    ]);
    expect(swap.code, swap.stderr).toBe(0);
    await bc.call('DELETE', `/v1.0/{project_id}/clusters/${restored}`, { keep_last_manual_snapshot: 0 });
    await waitFor(async () => (await bc.request('GET', `/v1.0/{project_id}/clusters/${restored}`)).status === 404, {
      what: 'the restored cluster deleted',
      timeoutMs: 120_000,
    });
    expect(facts(engine().clusterDir(restored)).kind).toBe('missing');
    expect(victims.changed()).toEqual([]);
    expect(alive(sleeper.pid!)).toBe(true);
    expect((await agent.units()).map((u) => u.name).filter((n) => n.includes(restored))).toEqual([]);
    // No postmaster of the deleted cluster left, the moved one included.
    expect(postmastersUnder(engine().clusterDir(restored))).toEqual([]);
    expect((await getCluster(bc, B.id)).status).toBe('AVAILABLE');
  });
});
