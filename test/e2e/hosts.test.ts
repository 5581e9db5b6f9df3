/**
 * Hosts of several-hosts operation (issue 18, D27), on the namespace test bed: two hosts, each a
 * network namespace with its own address, each running a real `dwsbox agent` in a private mount
 * namespace that serves the control plane over mutual TLS. `dwsbox hosts add` registers a host
 * and writes its agent's bundle (the dwsbox CA's certificate for the host's address); the
 * service's operator API and `dwsbox hosts list` ask each agent now and show what its host
 * reports (its own address: the agent in the namespace answered). Refused: a client without a
 * certificate, with one of another CA, or with the CA's certificate of a host instead of the
 * control plane's; an agent whose certificate is not the CA's is not trusted by the control
 * plane; a non-operator credential; bad input, changing nothing; removing a host whose agent
 * cannot be asked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { DwsClient } from '../../src/cli/client.js';
import { AGENT_PORT, bundleDir, hostsCli, startHostAgent, until } from '../helpers/host-agents.js';
import { PROJECT_ID, projectClient, startService, type TestService } from '../helpers/service.js';
import { dumpStore } from '../helpers/store-dump.js';
import { TestBed } from '../helpers/testbed.js';

let t: TestService;
let bed: TestBed;
let operator: DwsClient;

interface HostOut {
  name: string;
  availability_zone: string;
  address: string;
  agent_port: number;
  state: string;
  state_reason: string | null;
  report: { addresses: string[]; mem_total_bytes: number; cpus: number; disk_free_bytes: number } | null;
}

const hosts = (args: string[]) => hostsCli(t.dataDir, args);
const bundleOf = (name: string): string => bundleDir(t.dataDir, name);
const startAgent = (host: TestBed['hosts'][number], bundle: string, port = AGENT_PORT): void =>
  void startHostAgent(bed, host, t.dataDir, bundle, port);

const listed = async (): Promise<HostOut[]> => (await operator.call<{ hosts: HostOut[] }>('GET', '/dwsbox/v1/hosts')).hosts;

/** One HTTPS request to an agent with these TLS credentials: its status, or the error that ended it. */
function callAgent(
  address: string,
  port: number,
  tls: { ca: Buffer; cert?: Buffer; key?: Buffer },
): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request({ host: address, port, path: '/v1/host', method: 'GET', ...tls, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (e: Error & { code?: string }) => resolve({ error: `${e.code ?? ''} ${e.message}` }));
    req.end();
  });
}

/** A CA of its own and a certificate it signed for `address`: credentials the dwsbox CA never made. */
function foreignBundle(dir: string, address: string): { ca: string; crt: string; key: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = { ca: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), crt: join(dir, 'agent.crt'), key: join(dir, 'agent.key') };
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'];
  execFileSync(
    'openssl',
    ['req', '-x509', ...key, '-keyout', f.caKey, '-out', f.ca, '-subj', '/CN=not dwsbox', '-addext', 'basicConstraints=critical,CA:TRUE'],
    { stdio: 'ignore' },
  );
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...key,
      '-keyout',
      f.key,
      '-out',
      f.crt,
      '-subj',
      '/CN=dwsbox-control',
      '-CA',
      f.ca,
      '-CAkey',
      f.caKey,
      '-addext',
      `subjectAltName=IP:${address}`,
    ],
    { stdio: 'ignore' },
  );
  return f;
}

beforeAll(async () => {
  t = await startService();
  bed = await TestBed.create({ hosts: 2 });
  operator = await projectClient(t, PROJECT_ID, 'operator');
});

afterAll(async () => {
  await bed?.destroy();
  await t?.stop();
});

describe('hosts and their agents over mutual TLS', () => {
  const [h1, h2] = [() => bed.hosts[0]!, () => bed.hosts[1]!];

  it('registers hosts and writes each agent its bundle; unchecked agents are unreachable, with why', async () => {
    for (const [h, zone] of [
      [h1(), 'az-1'],
      [h2(), 'az-2'],
    ] as const) {
      const r = await hosts(['add', h.name, '--address', h.address, '--zone', zone, '--bundle-out', bundleOf(h.name)]);
      expect(r.code, r.stderr).toBe(0);
      const out = r.out as { host: HostOut; bundle: { ca: string; crt: string; key: string } };
      expect(out.host).toMatchObject({ name: h.name, availability_zone: zone, address: h.address, agent_port: AGENT_PORT, state: 'new' });
      expect(statSync(out.bundle.key).mode & 0o777).toBe(0o600);
      // the agent's certificate: the dwsbox CA's, for the host's address
      const text = execFileSync('openssl', ['x509', '-in', out.bundle.crt, '-noout', '-text'], { encoding: 'utf8' });
      expect(text).toContain(`IP Address:${h.address}`);
      execFileSync('openssl', ['verify', '-CAfile', join(t.dataDir, 'tls', 'ca.crt'), out.bundle.crt]);
    }
    const before = await listed();
    expect(before.map((h) => [h.name, h.state])).toEqual([
      [h1().name, 'unreachable'],
      [h2().name, 'unreachable'],
    ]);
    expect(before[0]!.state_reason).toMatch(/ECONNREFUSED|connect/);
  });

  it('checks each agent in its namespace: up, with what its own host reports', async () => {
    startAgent(h1(), bundleOf(h1().name));
    startAgent(h2(), bundleOf(h2().name));
    const up = await until(async () => {
      const l = await listed();
      return l.every((h) => h.state === 'up') && l;
    }, 'both hosts up');
    const memTotal = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
    for (const [h, want] of [
      [up[0]!, h1()],
      [up[1]!, h2()],
    ] as const) {
      // the namespace's own address, and none of the other host's: the agent there answered
      expect(h.report!.addresses).toEqual([want.address]);
      expect(h.report!.mem_total_bytes).toBe(memTotal);
      expect(h.report!.cpus).toBeGreaterThanOrEqual(1);
      expect(h.report!.disk_free_bytes).toBeGreaterThan(0);
    }
    // the CLI asks the same way
    const cli = await hosts(['list']);
    expect(cli.code, cli.stderr).toBe(0);
    expect((cli.out as { hosts: HostOut[] }).hosts.map((h) => h.state)).toEqual(['up', 'up']);
  });

  it('an agent serves only the control plane: no certificate, another CA, or a host certificate are refused', async () => {
    const ca = readFileSync(join(bundleOf(h1().name), 'ca.crt'));
    const none = await callAgent(h1().address, AGENT_PORT, { ca });
    expect(none.status, 'no client certificate').toBeUndefined();
    expect(none.error).toBeTruthy();
    const foreign = foreignBundle(join(t.dataDir, 'foreign-client'), h1().address);
    const other = await callAgent(h1().address, AGENT_PORT, { ca, cert: readFileSync(foreign.crt), key: readFileSync(foreign.key) });
    expect(other.status, 'a certificate of another CA').toBeUndefined();
    // h2's agent certificate is the dwsbox CA's, but it does not name the control plane
    const b2 = bundleOf(h2().name);
    const host = await callAgent(h1().address, AGENT_PORT, {
      ca,
      cert: readFileSync(join(b2, 'agent.crt')),
      key: readFileSync(join(b2, 'agent.key')),
    });
    expect(host.status).toBe(403);
    expect(host.body).toContain('only the dwsbox control plane may call this agent');
  });

  it('the control plane does not trust an agent whose certificate is not the CA’s', async () => {
    const r = await hosts([
      'add',
      'impostor',
      '--address',
      h2().address,
      '--agent-port',
      String(AGENT_PORT + 1),
      '--bundle-out',
      bundleOf('impostor'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    // an agent on h2 with credentials of another CA (the bundle made for it is not used)
    const f = join(t.dataDir, 'foreign-agent');
    foreignBundle(f, h2().address);
    startAgent(h2(), f, AGENT_PORT + 1);
    // its TLS works (it answers a client of its own CA), yet the control plane refuses it
    await until(
      async () =>
        (
          await callAgent(h2().address, AGENT_PORT + 1, {
            ca: readFileSync(join(f, 'ca.crt')),
            cert: readFileSync(join(f, 'agent.crt')),
            key: readFileSync(join(f, 'agent.key')),
          })
        ).status === 200,
      'the impostor agent answers its own clients',
    );
    const impostor = (await listed()).find((h) => h.name === 'impostor')!;
    expect(impostor.state).toBe('unreachable');
    expect(impostor.state_reason).toMatch(/certificate/i);
  });

  it('only an operator reads hosts; bad registrations are refused and change nothing', async () => {
    const admin = await t.client.request<{ error_code: string }>('GET', '/dwsbox/v1/hosts');
    expect([admin.status, admin.body.error_code]).toEqual([403, 'APIGW.0302']);
    const before = await dumpStore(t.svc.store);
    for (const [args, why] of [
      [['add', h1().name, '--address', '198.18.255.250', '--bundle-out', bundleOf('dup')], /DWS\.9931/],
      [['add', 'other', '--address', h1().address, '--bundle-out', bundleOf('dup-address')], /DWS\.9931/],
      [['add', 'Bad_Name', '--address', h1().address, '--bundle-out', bundleOf('bad')], /DWS\.0001.*host name/],
      [['add', 'noaddr', '--address', 'h1.example', '--bundle-out', bundleOf('bad2')], /DWS\.0001.*address/],
      [['add', 'noport', '--address', '198.18.255.251', '--agent-port', '70000', '--bundle-out', bundleOf('bad3')], /DWS\.0001.*port/],
      [['remove', 'nosuch'], /DWS\.9930/],
    ] as const) {
      const r = await hosts([...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(why);
    }
    expect(await dumpStore(t.svc.store)).toBe(before);
  });

  it('removes a host whose agent runs nothing; refuses one whose agent cannot be asked', async () => {
    const r = await hosts(['remove', h1().name]);
    expect(r.code, r.stderr).toBe(0);
    expect((await listed()).map((h) => h.name)).not.toContain(h1().name);
    bed.isolate(h2());
    try {
      const refused = await hosts(['remove', h2().name]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/DWS\.9932.*cannot be asked/);
      expect((await listed()).find((h) => h.name === h2().name)?.state).toBe('unreachable');
    } finally {
      bed.heal(h2());
    }
    await until(async () => (await listed()).find((h) => h.name === h2().name)?.state === 'up', 'h2 up again once healed');
  });
});
