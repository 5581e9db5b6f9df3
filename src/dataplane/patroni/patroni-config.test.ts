/**
 * The pure parts of the Patroni building blocks: etcd's command line, the member
 * configuration's layers, the router's configuration (checked by `haproxy -c` itself).
 * The processes together are tested in test/e2e/patroni-failover.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { etcdArgs, prefixEnd, scopePrefix, scopeUser } from './etcd.js';
import { HAPROXY_BIN, haproxyConfig } from './haproxy-config.js';
import { FAST_TIMINGS, patroniConfig, patroniConfigText, patroniTimings, type PatroniMemberSpec } from './patroni-config.js';

const member = (over: Partial<PatroniMemberSpec> = {}): PatroniMemberSpec => ({
  scope: 'c1',
  ordinal: 2,
  host: '127.0.7.2',
  port: 8000,
  restHost: '127.2.7.2',
  restAuth: { username: 'dwsbox', password: 'rest"pw\\' },
  etcd: { hosts: ['127.0.0.1:2379'], username: 'patroni-c1', password: 'e' },
  dataDir: '/d/m2/data',
  pgpass: '/d/m2/pgpass',
  socketDir: '/d/m2/sock',
  superuser: { username: 'postgres', password: 's' },
  replication: { username: 'replicator', password: 'r' },
  ...over,
});

describe('etcd', () => {
  it('listens on the one address given, compacts by revision, has a quota and no v2', () => {
    const a = etcdArgs({ name: 'e', dataDir: '/x', clientHost: '127.0.0.1', clientPort: 2379, peerPort: 2380 });
    const flag = (f: string): string | undefined => a[a.indexOf(f) + 1];
    expect(flag('--listen-client-urls')).toBe('http://127.0.0.1:2379');
    expect(flag('--listen-peer-urls')).toBe('http://127.0.0.1:2380');
    expect(flag('--auto-compaction-mode')).toBe('revision');
    expect(Number(flag('--quota-backend-bytes'))).toBe(512 * 1024 * 1024);
    expect(a).toContain('--enable-v2=false');
    expect(() => etcdArgs({ name: 'e', dataDir: '/x', clientHost: '0.0.0.0', clientPort: 1, peerPort: 2 })).toThrow(/wildcard/);
    expect(() => etcdArgs({ name: 'e', dataDir: '/x', clientHost: 'localhost', clientPort: 1, peerPort: 2 })).toThrow(/name/);
  });

  it("a fleet's member: every member in the initial cluster, clients and peers over TLS, peers only with the members' CN", () => {
    const members = [
      { name: 'h1', host: '198.18.0.11' },
      { name: 'h2', host: '198.18.0.12' },
      { name: 'h3', host: '198.18.0.13' },
    ];
    const tls = { cert: '/a/member.crt', key: '/a/member.key', ca: '/a/ca.crt' };
    const o = { name: 'h2', dataDir: '/x', clientHost: '198.18.0.12', clientPort: 2379, peerPort: 2380, tls, peerCn: 'dwsbox-etcd-peer' };
    const a = etcdArgs({ ...o, fleet: { token: 'fleet-0123abcd', members } });
    const flag = (f: string): string | undefined => a[a.indexOf(f) + 1];
    expect(flag('--listen-client-urls')).toBe('https://198.18.0.12:2379');
    expect(flag('--initial-cluster')).toBe('h1=https://198.18.0.11:2380,h2=https://198.18.0.12:2380,h3=https://198.18.0.13:2380');
    expect(flag('--initial-cluster-token')).toBe('dwsbox-fleet-0123abcd');
    expect(flag('--peer-trusted-ca-file')).toBe('/a/ca.crt');
    expect(flag('--peer-cert-allowed-cn')).toBe('dwsbox-etcd-peer');
    expect(a).toContain('--peer-client-cert-auth');
    // a member must be itself in the list, at its own address
    expect(() => etcdArgs({ ...o, clientHost: '198.18.0.14', fleet: { token: 'fleet-0123abcd', members } })).toThrow(/not in its fleet/);
  });

  it("a scope's prefix and its range end; unsafe scope names refused", () => {
    expect(scopePrefix('c1')).toBe('/service/c1/');
    expect(scopeUser('c1')).toBe('patroni-c1');
    expect(prefixEnd('/service/c1/').toString()).toBe('/service/c10');
    for (const bad of ['', 'a/b', '../x', 'A', 'x'.repeat(64)]) expect(() => scopePrefix(bad)).toThrow(/scope/);
  });
});

describe('Patroni member configuration', () => {
  it('cluster-wide settings live in bootstrap.dcs (changeable by PATCH /config), member ones locally', () => {
    const c = patroniConfig(member()) as {
      name: string;
      namespace: string;
      restapi: { listen: string; authentication: unknown };
      etcd3: { hosts: string[] };
      bootstrap: { dcs: Record<string, unknown> & { postgresql: { parameters: Record<string, unknown> } } };
      postgresql: { listen: string; parameters: Record<string, unknown>; pg_hba: string[]; basebackup: unknown };
    };
    expect(c.name).toBe('node2');
    expect(c.namespace).toBe('/service/');
    expect(c.restapi.listen).toBe('127.2.7.2:8008');
    expect(c.restapi.authentication).toEqual({ username: 'dwsbox', password: 'rest"pw\\' });
    expect(c.bootstrap.dcs).toMatchObject({ ttl: 10, loop_wait: 2, retry_timeout: 4, primary_start_timeout: 0 });
    expect(c.bootstrap.dcs).toMatchObject({ synchronous_mode: true, synchronous_mode_strict: false, failsafe_mode: true });
    expect(c.bootstrap.dcs.postgresql).toMatchObject({
      use_slots: true,
      use_pg_rewind: true,
      remove_data_directory_on_rewind_failure: true,
    });
    expect(c.bootstrap.dcs.postgresql.parameters).toMatchObject({ wal_retrieve_retry_interval: '1s', max_slot_wal_keep_size: '2GB' });
    // Local parameters override the dynamic ones (patroni/config.py): only the member's own here.
    expect(Object.keys(c.postgresql.parameters)).toEqual(['unix_socket_directories']);
    expect(c.postgresql.listen).toBe('127.0.7.2:8000');
    expect(c.postgresql.basebackup).toEqual([{ checkpoint: 'fast' }]);
    expect(c.postgresql.pg_hba).toContain('host replication replicator 127.0.0.0/8 scram-sha-256');
    expect(c.postgresql.pg_hba.some((l) => /\btrust\b/.test(l))).toBe(false);
  });

  it('synchronous modes, extra parameters, and timings checked against loop_wait + 2 × retry_timeout ≤ ttl', () => {
    const strict = patroniConfig(member({ syncMode: 'strict', parameters: { archive_mode: 'on' } })) as {
      bootstrap: { dcs: Record<string, unknown> & { postgresql: { parameters: Record<string, unknown> } } };
    };
    expect(strict.bootstrap.dcs).toMatchObject({ synchronous_mode: true, synchronous_mode_strict: true });
    expect(strict.bootstrap.dcs.postgresql.parameters['archive_mode']).toBe('on');
    expect(
      (patroniConfig(member({ syncMode: 'async' })) as { bootstrap: { dcs: Record<string, unknown> } }).bootstrap.dcs['synchronous_mode'],
    ).toBe(false);
    expect(patroniTimings()).toEqual(FAST_TIMINGS);
    expect(patroniTimings({ ttl: 30, loopWait: 10, retryTimeout: 10 }).primaryStartTimeout).toBe(0);
    expect(() => patroniTimings({ ttl: 9 })).toThrow(/must not exceed ttl/);
    expect(() => patroniTimings({ loopWait: 0 })).toThrow(/whole number/);
    expect(() => patroniConfig(member({ ordinal: 0 }))).toThrow(/ordinal/);
  });

  it('its text is JSON, which PyYAML reads as the same object', () => {
    const text = patroniConfigText(member());
    const viaYaml = execFileSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))'], {
      input: text,
    }).toString();
    expect(JSON.parse(viaYaml)).toEqual(JSON.parse(text));
  });
});

describe('router configuration', () => {
  const spec = {
    cluster: 'c1',
    rwHost: '127.1.7.1',
    roHost: '127.1.7.2',
    port: 8000,
    runDir: '/run/x',
    members: [1, 2, 5].map((i) => ({ ordinal: i, host: `127.0.7.${i}`, port: 8000, restHost: `127.2.7.${i}` })),
  };

  it('binds only the two endpoints, checks every member through its REST API, and leaves the other slots as templates', () => {
    const cfg = haproxyConfig(spec);
    expect(cfg.match(/^\s*bind .*$/gm)).toEqual(['    bind 127.1.7.1:8000', '    bind 127.1.7.2:8000']);
    expect(cfg).toContain('server node5 127.0.7.5:8000 check addr 127.2.7.5 port 8008');
    expect(cfg).toContain('server-template m 3-4 127.0.0.1:8000 disabled check port 8008');
    expect(cfg).toContain('server-template m 6-16 127.0.0.1:8000 disabled check port 8008');
    expect(cfg).toContain('stats socket /run/x/admin.sock mode 600 level admin');
    expect(cfg).toContain('on-marked-down shutdown-sessions');
    expect(() => haproxyConfig({ ...spec, rwHost: '0.0.0.0' })).toThrow(/wildcard/);
    expect(() => haproxyConfig({ ...spec, members: [...spec.members, spec.members[0]!] })).toThrow(/two members/);
  });

  it('is a configuration HAProxy 2.6 accepts (haproxy -c)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'haproxy-cfg-'));
    try {
      const file = join(dir, 'haproxy.cfg');
      writeFileSync(file, haproxyConfig({ ...spec, runDir: dir }));
      expect(execFileSync(HAPROXY_BIN, ['-c', '-f', file]).toString()).toMatch(/Configuration file is valid/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
