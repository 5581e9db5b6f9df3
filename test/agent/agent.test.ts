/**
 * The host agent (D23, issue 15): one per directory, started detached by `ensureAgent`, its
 * calls refused without its token, its units supervised (a dead one started again), adopted by
 * a new agent (a healthy one never restarted), and stopped in order on request. Real
 * processes: the agent runs from the sources in its own process; its unit is a real etcd run
 * as the dwsbox service user.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentPaths } from '../../src/dataplane/agent/agent.js';
import { AgentCallError, ensureAgent, type AgentClient } from '../../src/dataplane/agent/client.js';
import { ETCD_UNIT } from '../../src/dataplane/agent/host-etcd.js';
import { LOG_MAX_BYTES, Supervisor, type UnitSpec } from '../../src/dataplane/agent/supervisor.js';
import { EtcdAdmin, EtcdClient, scopePrefix, scopeUser } from '../../src/dataplane/patroni/etcd.js';
import { isProcessAlive, processUid } from '../../src/dataplane/process-info.js';
import { ensureServiceUser } from '../../src/dataplane/project-users.js';
import { freePort, processesUnder, removeDir, tempDir, waitFor } from '../helpers/env.js';
import { cliEntry } from '../helpers/cli-entry.js';

let dir = '';
let agent: AgentClient;
let etcd: UnitSpec;

async function etcdSpec(name: string): Promise<UnitSpec> {
  const user = await ensureServiceUser();
  const data = join(dir, '..', `${name}-data`);
  mkdirSync(data, { mode: 0o700 });
  chownSync(data, user.uid, user.gid);
  const [client, peer] = [await freePort(), await freePort()];
  return {
    name,
    kind: 'etcd',
    argv: [
      '/usr/bin/etcd',
      `--name=${name}`,
      `--data-dir=${data}`,
      `--listen-client-urls=http://127.0.0.1:${client}`,
      `--advertise-client-urls=http://127.0.0.1:${client}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=${name}=http://127.0.0.1:${peer}`,
      '--log-level=error',
    ],
    uid: user.uid,
    gid: user.gid,
    env: { PATH: '/usr/bin:/bin' },
    log: join(agentPaths(dir).logs, `${name}.log`),
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 10_000,
  };
}

function agentPid(): Promise<number> {
  return agent.info().then((i) => i.pid);
}

beforeAll(async () => {
  dir = tempDir('agent');
  agent = await ensureAgent(join(dir, 'agent'));
  dir = join(dir, 'agent');
  etcd = await etcdSpec('etcd-a');
});

afterAll(async () => {
  try {
    await agent.shutdown(true);
  } catch {
    /* already gone */
  }
  await agent.close();
  await waitFor(async () => processesUnder(dir).length === 0, { timeoutMs: 30_000, what: 'the agent and its units to leave' });
  if (!process.env['DWSBOX_KEEP_TEST_DIRS']) removeDir(join(dir, '..'));
});

describe('host agent', () => {
  it('refuses calls without its token, and unit specs it must not run', async () => {
    const raw = new Client('http://agent', { socketPath: agentPaths(dir).socket });
    try {
      const res = await raw.request({ method: 'GET', path: '/v1/units' });
      expect(res.statusCode).toBe(401);
      await res.body.text();
      const bad = await raw.request({ method: 'GET', path: '/v1/units', headers: { authorization: 'Bearer nope' } });
      expect(bad.statusCode).toBe(401);
      await bad.body.text();
    } finally {
      await raw.close();
    }
    const refused = async (spec: UnitSpec): Promise<string> => {
      try {
        await agent.ensureUnit(spec);
      } catch (e) {
        expect(e).toBeInstanceOf(AgentCallError);
        expect((e as AgentCallError).status).toBe(400);
        return (e as Error).message;
      }
      throw new Error('the agent accepted a spec it must refuse');
    };
    expect(await refused({ ...etcd, name: 'x1', argv: ['/bin/sh', '-c', 'id'] })).toMatch(/runs \/usr\/bin\/etcd/);
    expect(await refused({ ...etcd, name: 'x2', uid: 0 })).toMatch(/never run as root/);
    expect(await refused({ ...etcd, name: 'X/../y' })).toMatch(/unit name/);
    expect(await agent.units()).toEqual([]);
  });

  it('is one per directory: a second start leaves the first', async () => {
    const first = await agentPid();
    const again = await ensureAgent(dir);
    expect((await again.info()).pid).toBe(first);
    await again.close();
    const r = spawnSync(process.execPath, [...cliEntry(), 'agent', '--agent-dir', dir], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/another agent runs/);
    expect(await agentPid()).toBe(first);
  });

  it('runs a unit as its user, starts it again when it dies, and a new agent adopts it', async () => {
    const u = await agent.ensureUnit(etcd);
    expect(u.status).toBe('running');
    const pid = u.pid!;
    // setpriv (root) execs the binary in place after changing the uid: asked at once, the PID may still be setpriv's.
    await waitFor(async () => processUid(pid) === etcd.uid, { timeoutMs: 10_000, what: 'the unit running as the service user' });
    // The same spec again changes nothing.
    expect((await agent.ensureUnit(etcd)).pid).toBe(pid);

    process.kill(pid, 'SIGKILL');
    const back = await waitFor(
      async () => {
        const v = await agent.unit(etcd.name);
        return v && v.pid !== null && v.pid !== pid && v.status === 'running' ? v : null;
      },
      { timeoutMs: 20_000, what: 'etcd started again' },
    );
    expect(back.restarts).toBe(1);
    expect(back.lastExit?.signal).toBe('SIGKILL');

    // The agent dies; the unit keeps running; a new agent adopts it without restarting it.
    const oldAgent = await agentPid();
    process.kill(oldAgent, 'SIGKILL');
    await waitFor(async () => !isProcessAlive(oldAgent), { timeoutMs: 10_000, what: 'the agent gone' });
    expect(isProcessAlive(back.pid!)).toBe(true);
    await agent.close();
    agent = await ensureAgent(dir);
    expect(await agentPid()).not.toBe(oldAgent);
    const adopted = await agent.unit(etcd.name);
    expect(adopted).toMatchObject({ pid: back.pid, adopted: true, restarts: 1, status: 'running' });

    // An adopted unit is not the new agent's child: its death is seen by polling.
    process.kill(back.pid!, 'SIGKILL');
    const again = await waitFor(
      async () => {
        const v = await agent.unit(etcd.name);
        return v && v.pid !== null && v.pid !== back.pid && v.status === 'running' ? v : null;
      },
      { timeoutMs: 20_000, what: 'the adopted etcd started again' },
    );
    expect(again.restarts).toBe(2);
    expect(again.adopted).toBe(false);
    const log = readFileSync(join(agentPaths(dir).logs, `${etcd.name}.log`), 'utf8');
    expect(log.length).toBeGreaterThan(0);
  });

  it('gives each owner its own cluster subnet, the same one when asked again', async () => {
    const a = await agent.allocateSubnet('cluster-a');
    const b = await agent.allocateSubnet('cluster-b');
    expect(a).not.toBe(b);
    expect(await agent.allocateSubnet('cluster-a')).toBe(a);
    expect(await agent.releaseSubnet(a)).toBe(true);
    expect(await agent.releaseSubnet(a)).toBe(false);
    expect(await agent.allocateSubnet('cluster-c')).toBe(a);
  });

  it("runs the host's etcd with authentication on, and gives each Patroni scope a user limited to its prefix", async () => {
    const endpoint = await agent.ensureEtcd();
    expect(endpoint).toMatch(/^http:\/\/127\.2\.0\.1:\d+$/);
    const first = (await agent.unit(ETCD_UNIT))!;
    const uid = (await ensureServiceUser()).uid;
    await waitFor(async () => processUid(first.pid!) === uid, { timeoutMs: 10_000, what: 'etcd running as the service user' });
    expect(await agent.ensureEtcd()).toBe(endpoint);
    expect((await agent.unit(ETCD_UNIT))!.pid).toBe(first.pid);

    const [pa, pb] = [randomBytes(18).toString('base64url'), randomBytes(18).toString('base64url')];
    const a = await agent.ensureEtcdScope('scope-a', pa);
    expect(a).toEqual({ endpoint, username: scopeUser('scope-a') });
    await agent.ensureEtcdScope('scope-b', pb);
    const asA = new EtcdClient(endpoint, { username: a.username, password: pa });
    await asA.put(`${scopePrefix('scope-a')}config`, '{}');
    expect(await asA.get(`${scopePrefix('scope-a')}config`)).toBe('{}');
    await expect(asA.put(`${scopePrefix('scope-b')}config`, '{"evil":1}')).rejects.toThrow(/permission denied/);
    // Without credentials nothing is readable: authentication is on.
    await expect(new EtcdClient(endpoint).get(`${scopePrefix('scope-a')}config`)).rejects.toThrow();

    // Asked again with the same password, nothing changes in etcd: a token issued before still
    // works (any change of users or roles would make it stale, and every Patroni member of the
    // host would sign in again). A new password replaces the old one.
    const signIn = async (password: string): Promise<Response> =>
      fetch(`${endpoint}/v3/auth/authenticate`, { method: 'POST', body: JSON.stringify({ name: a.username, password }) });
    const { token } = (await (await signIn(pa)).json()) as { token: string };
    await agent.ensureEtcdScope('scope-a', pa);
    const put = await fetch(`${endpoint}/v3/kv/put`, {
      method: 'POST',
      headers: { authorization: token },
      body: JSON.stringify({ key: Buffer.from(`${scopePrefix('scope-a')}x`).toString('base64'), value: '' }),
    });
    expect(put.status, await put.text()).toBe(200);
    const pa2 = randomBytes(18).toString('base64url');
    await agent.ensureEtcdScope('scope-a', pa2);
    expect((await signIn(pa)).status).not.toBe(200);
    expect((await signIn(pa2)).status).toBe(200);
    await agent.ensureEtcdScope('scope-a', pa);

    // Killed, etcd is started again by the agent, with its keys and users.
    process.kill(first.pid!, 'SIGKILL');
    await waitFor(
      async () => {
        const v = await agent.unit(ETCD_UNIT);
        return v?.status === 'running' && v.pid !== first.pid;
      },
      { timeoutMs: 20_000, what: 'etcd started again' },
    );
    await waitFor(async () => (await asA.get(`${scopePrefix('scope-a')}config`).catch(() => null)) === '{}', {
      timeoutMs: 30_000,
      what: 'the scope key read again',
    });

    // Defragmentation (the agent runs it every 6 hours) works on the running member.
    await new EtcdAdmin(endpoint, readFileSync(join(dir, 'etcd-root'), 'utf8').trim()).defragment();
    expect(await asA.get(`${scopePrefix('scope-a')}config`)).toBe('{}');

    await agent.removeEtcdScope('scope-a');
    await expect(new EtcdClient(endpoint, { username: a.username, password: pa }).get(`${scopePrefix('scope-a')}config`)).rejects.toThrow();
    const bad = await agent.ensureEtcdScope('../x', pa).catch((e: AgentCallError) => e);
    expect(bad).toBeInstanceOf(AgentCallError);
    expect((bad as AgentCallError).status).toBe(400);
  });

  it('stops a unit by request, and on shutdown stops every unit before it leaves', async () => {
    const other = await agent.ensureUnit(await etcdSpec('etcd-b'));
    expect(await agent.stopUnit('etcd-b')).toEqual({ stopped: true });
    expect(isProcessAlive(other.pid!)).toBe(false);
    expect(await agent.unit('etcd-b')).toBeNull();
    // Immediately: killed at once, never asked (its stop signal, SIGTERM, would make etcd log
    // "received signal; shutting down" at info level: seen with a plain stop of etcd 3.4).
    const spec = await etcdSpec('etcd-c');
    const third = await agent.ensureUnit({ ...spec, argv: [...spec.argv.filter((a) => !a.startsWith('--log-level')), '--log-level=info'] });
    const logOf = (): string => readFileSync(join(agentPaths(dir).logs, 'etcd-c.log'), 'utf8');
    await waitFor(async () => /ready to serve client requests/.test(logOf()), { timeoutMs: 20_000, what: 'etcd-c serving' });
    expect(await agent.stopUnit('etcd-c', { immediate: true })).toEqual({ stopped: true });
    expect(isProcessAlive(third.pid!)).toBe(false);
    expect(logOf()).not.toMatch(/received signal; shutting down/);

    const running = (await agent.unit(etcd.name))!;
    const pid = await agentPid();
    expect((await agent.shutdown(true)).stopped.sort()).toEqual([ETCD_UNIT, etcd.name].sort());
    await waitFor(async () => !isProcessAlive(pid), { timeoutMs: 10_000, what: 'the agent gone' });
    expect(isProcessAlive(running.pid!)).toBe(false);
    expect(processesUnder(dir)).toEqual([]);
  });
});

describe('supervisor logs', () => {
  it("trims a unit's log past its limit, keeping its end in <log>.1, while the unit writes on", async () => {
    const d = tempDir('supervisor');
    const sup = new Supervisor(join(d, 'state'));
    sup.start();
    const user = await ensureServiceUser();
    const log = join(d, 'unit.log');
    try {
      await sup.ensure({
        name: 'writer',
        kind: 'etcd',
        // A unit that writes a line every 20 ms to its log (its stdout).
        argv: ['/usr/bin/perl', '-e', '$|=1; while (1) { print "line\\n"; select(undef, undef, undef, 0.02) }'],
        uid: user.uid,
        gid: user.gid,
        env: { PATH: '/usr/bin:/bin' },
        log,
        stopSignal: 'SIGTERM',
        stopTimeoutMs: 5000,
      });
      await waitFor(async () => existsSync(log) && statSync(log).size > 0, { timeoutMs: 10_000, what: 'the unit writing' });
      appendFileSync(log, Buffer.alloc(LOG_MAX_BYTES + 1024, 'x'));
      expect(sup.trimLogs()).toEqual([log]);
      expect(statSync(`${log}.1`).size).toBe(4 * 1024 * 1024);
      const after = statSync(log).size;
      expect(after).toBeLessThan(1024);
      await waitFor(async () => statSync(log).size > after && /^line$/m.test(readFileSync(log, 'utf8')), {
        timeoutMs: 10_000,
        what: 'the unit writing at the start of its trimmed log',
      });
      expect(sup.trimLogs()).toEqual([]);
    } finally {
      await sup.stopAll();
      sup.close();
      removeDir(d);
    }
  });
});
