/**
 * End to end: the Patroni building blocks of issue 15 (src/dataplane/patroni/), with real
 * processes and one real failover. One etcd (as the dwsbox service user, authentication on,
 * one user per scope), three Patroni 3.0.2 members of one scope (as a project's OS user, D32),
 * and the cluster's HAProxy router (as the service user), all started here detached and
 * tracked by PID, and stopped by PID afterwards, Patroni first, then the router, then etcd
 * (D23), even when a test fails.
 *
 * Asserted, with the writes and reads through the read-write endpoint `127.1.c.1:port` only:
 * - a leader is elected and two replicas stream from it, one of them synchronous (D25);
 * - Patroni's REST API refuses an action without its credentials (401, D23);
 * - the scope's etcd user cannot write (or read) another scope's prefix (D32);
 * - a writer commits numbered rows and records each acknowledged one; the leader's postmaster
 *   is killed (SIGKILL); writes come back through the same endpoint on a new primary; every
 *   acknowledged row is there; exactly one member is out of recovery; the old member rejoins
 *   as a streaming replica by itself.
 * No timing is asserted: the seconds are printed (deadlines only keep a broken run from hanging).
 *
 * Addresses (D24): members at 127.0.c.i on the cluster's port, REST at 127.2.c.i:8008, router
 * at 127.1.c.1/127.1.c.2. `c` is drawn at random from 100–250 and kept only when every one of
 * those addresses is free (services under test allocate small values of c), etcd listens on
 * 127.0.0.1 on free ports.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants as fsConstants, existsSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/dataplane/process-info.js';
import { ensureServiceUser, ProjectUsers, removeProjectUser, type UidRecord } from '../../src/dataplane/project-users.js';
import type { OsUser } from '../../src/dataplane/os-user.js';
import { mkdirSafe, ownedBy, rootWithGroupOf, serviceOwner, writeFileSafe } from '../../src/dataplane/safe-fs.js';
import {
  EtcdAdmin,
  EtcdClient,
  EtcdCode,
  etcdArgs,
  etcdErrorCode,
  ETCD_BIN,
  scopePrefix,
  type EtcdCredentials,
} from '../../src/dataplane/patroni/etcd.js';
import {
  HAPROXY_BIN,
  haproxyArgs,
  haproxyConfig,
  HaproxyRuntime,
  RouterBackend,
  routerSocketPath,
} from '../../src/dataplane/patroni/haproxy-config.js';
import {
  memberName,
  PATRONI_BIN,
  PATRONI_REST_PORT,
  patroniConfigText,
  type Credentials,
} from '../../src/dataplane/patroni/patroni-config.js';
import { PatroniRest, restStatus, type PatroniStatus } from '../../src/dataplane/patroni/patroni-rest.js';
import { silentLogger } from '../../src/log/logger.js';
import { freePort, killPostmastersUnder, processesUnder, removeDir, tempDir, waitFor } from '../helpers/env.js';

const MEMBERS = [1, 2, 3];
const secret = (): string => randomBytes(12).toString('hex');
const SCOPE = `e2e${randomBytes(4).toString('hex')}`;
const OTHER_SCOPE = `e2e${randomBytes(4).toString('hex')}`;
const SUPERUSER: Credentials = { username: 'postgres', password: secret() };
const REPLICATION: Credentials = { username: 'replicator', password: secret() };
const REST_AUTH: Credentials = { username: 'dwsbox', password: secret() };
const ETCD_ROOT_PASSWORD = secret();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let root = '';
let c = 0;
let port = 0;
let etcdEndpoint = '';
let projectUser: OsUser | undefined;
let scopeCreds: EtcdCredentials;
let otherCreds: EtcdCredentials;
let rest: PatroniRest;
let runtime: HaproxyRuntime;
let startedAt = 0;
/** What this file started: stopped by these PIDs, in this order of kinds. */
const started: { kind: 'patroni' | 'haproxy' | 'etcd'; name: string; pid: number; log: string }[] = [];

const memberHost = (i: number): string => `127.0.${c}.${i}`;
const restHost = (i: number): string => `127.2.${c}.${i}`;
const rwHost = (): string => `127.1.${c}.1`;
const roHost = (): string => `127.1.${c}.2`;
const memberDir = (i: number): string => join(root, 'members', memberName(i));
const dataDir = (i: number): string => join(memberDir(i), 'data');
const ordinalOf = (name: string): number => Number(name.slice(1));

function canListen(host: string, p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port: p, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A cluster octet and port whose member, REST and router addresses are all free now. */
async function pickAddresses(): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    c = 100 + Math.floor(Math.random() * 151);
    port = await freePort();
    const wanted: [string, number][] = [
      ...MEMBERS.map((i): [string, number] => [memberHost(i), port]),
      ...MEMBERS.map((i): [string, number] => [restHost(i), PATRONI_REST_PORT]),
      [rwHost(), port],
      [roHost(), port],
    ];
    let free = true;
    for (const [h, p] of wanted) if (!(free = await canListen(h, p))) break;
    if (free) return;
  }
  throw new Error('no free cluster octet in 100-250 after 100 tries');
}

/** Start a detached process as `user`, its output appended to `log` (opened by root, inherited); tracked by PID. */
function startProcess(kind: 'patroni' | 'haproxy' | 'etcd', name: string, cmd: string, args: string[], user: OsUser, cwd: string): number {
  const log = join(root, 'logs', `${name}.log`);
  const fd = openSync(log, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW, 0o640);
  try {
    const child = spawn(cmd, args, {
      uid: user.uid,
      gid: user.gid,
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: cwd, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
    });
    if (child.pid === undefined) throw new Error(`${cmd} did not start`);
    child.on('error', () => {});
    child.unref();
    started.push({ kind, name, pid: child.pid, log });
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Stop what this file started, by PID: SIGTERM, a grace period, then SIGKILL. */
async function stopAll(kind: 'patroni' | 'haproxy' | 'etcd', graceMs: number): Promise<void> {
  const mine = started.filter((p) => p.kind === kind && isProcessAlive(p.pid));
  const signal = (pid: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone meanwhile */
    }
  };
  for (const p of mine) signal(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && mine.some((p) => isProcessAlive(p.pid))) await sleep(100);
  for (const p of mine) if (isProcessAlive(p.pid)) signal(p.pid, 'SIGKILL');
  while (mine.some((p) => isProcessAlive(p.pid))) await sleep(20);
}

async function sqlAt<R = Record<string, unknown>>(host: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({
    host,
    port,
    user: SUPERUSER.username,
    password: SUPERUSER.password,
    database: 'postgres',
    connectionTimeoutMillis: 3000,
    query_timeout: 10_000,
  });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query(text, params)).rows as R[];
  } finally {
    await client.end().catch(() => {});
  }
}

/** The leader by Patroni (`/cluster`), running, with its `/patroni` view. */
async function runningLeader(): Promise<{ name: string; status: PatroniStatus } | null> {
  const cl = await rest.cluster();
  const l = cl.members.find((m) => m.role === 'leader' && m.state === 'running');
  return l ? { name: l.name, status: await rest.patroni(l.name) } : null;
}

/**
 * Commits numbered rows through one endpoint, one at a time, and records each acknowledged
 * one (a commit that errs or times out is not acknowledged, whatever became of it). On any
 * error it reconnects and goes on with the next number.
 */
class Writer {
  /** each acknowledged row: its number, the member that committed it, when its INSERT was sent and when the acknowledgement came */
  readonly acked: { n: number; server: string; sent: number; at: number }[] = [];
  errors = 0;
  private next = 1;
  private stopped = false;
  private done: Promise<void> | undefined;

  start(): void {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    let client: pg.Client | null = null;
    while (!this.stopped) {
      try {
        if (!client) {
          client = new pg.Client({
            host: rwHost(),
            port,
            user: SUPERUSER.username,
            password: SUPERUSER.password,
            database: 'postgres',
            connectionTimeoutMillis: 2000,
            query_timeout: 10_000,
          });
          client.on('error', () => {});
          await client.connect();
        }
        const n = this.next++;
        const sent = Date.now();
        const r = await client.query<{ server: string }>(
          'INSERT INTO acked (n, server) VALUES ($1, host(inet_server_addr())) RETURNING server',
          [n],
        );
        this.acked.push({ n, server: r.rows[0]!.server, sent, at: Date.now() });
      } catch {
        this.errors++;
        void client?.end().catch(() => {});
        client = null;
        await sleep(50);
      }
    }
    await client?.end().catch(() => {});
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

describe('Patroni, etcd and HAProxy: one cluster, a real failover (issue 15)', () => {
  let writer: Writer | undefined;

  beforeAll(async () => {
    root = tempDir('patroni');
    await pickAddresses();
    mkdirSafe(join(root, 'logs'), serviceOwner(), 0o711);
    mkdirSafe(join(root, 'conf'), serviceOwner(), 0o711);
    mkdirSafe(join(root, 'members'), serviceOwner(), 0o711);

    // etcd, as the service user, listening on one loopback address only.
    const service = await ensureServiceUser();
    mkdirSafe(join(root, 'etcd'), ownedBy(service), 0o700);
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    etcdEndpoint = `http://127.0.0.1:${clientPort}`;
    const etcdName = `dwsbox-${SCOPE}`;
    startProcess(
      'etcd',
      'etcd',
      ETCD_BIN,
      etcdArgs({ name: etcdName, dataDir: join(root, 'etcd', 'data'), clientHost: '127.0.0.1', clientPort, peerPort }),
      service,
      join(root, 'etcd'),
    );
    const admin = new EtcdAdmin(etcdEndpoint, ETCD_ROOT_PASSWORD);
    await admin.waitReady(undefined, 30_000);
    await admin.enableAuth(ETCD_ROOT_PASSWORD);
    await admin.enableAuth(ETCD_ROOT_PASSWORD); // idempotent
    scopeCreds = await admin.ensureScopeUser(SCOPE, secret());
    scopeCreds = await admin.ensureScopeUser(SCOPE, scopeCreds.password); // idempotent
    otherCreds = await admin.ensureScopeUser(OTHER_SCOPE, secret());

    // The members, as a project's OS user (D32): made like the engine makes one, removed in afterAll.
    const uids: UidRecord = { highest: async () => null, record: async () => {} };
    projectUser = await new ProjectUsers(root, silentLogger()).ensure('patroni-e2e', uids);
    for (const i of MEMBERS) {
      mkdirSafe(memberDir(i), ownedBy(projectUser), 0o700);
      mkdirSafe(join(memberDir(i), 'sock'), ownedBy(projectUser), 0o700);
      const conf = join(root, 'conf', `${memberName(i)}.yml`);
      // Root's file, readable by the member's group only: it holds the cluster's secrets.
      writeFileSafe(
        conf,
        patroniConfigText({
          scope: SCOPE,
          ordinal: i,
          host: memberHost(i),
          port,
          restHost: restHost(i),
          restAuth: REST_AUTH,
          etcd: { hosts: [`127.0.0.1:${clientPort}`], username: scopeCreds.username, password: scopeCreds.password },
          dataDir: dataDir(i),
          pgpass: join(memberDir(i), 'pgpass'),
          socketDir: join(memberDir(i), 'sock'),
          superuser: SUPERUSER,
          replication: REPLICATION,
        }),
        rootWithGroupOf(projectUser),
        0o640,
      );
    }
    rest = new PatroniRest({
      members: Object.fromEntries(MEMBERS.map((i) => [memberName(i), `http://${restHost(i)}:${PATRONI_REST_PORT}`])),
      auth: REST_AUTH,
    });

    // The router, as the service user; its stats socket in a directory of that user's.
    const runDir = join(root, 'router');
    mkdirSafe(runDir, ownedBy(service), 0o700);
    const cfg = join(root, 'conf', 'haproxy.cfg');
    writeFileSafe(
      cfg,
      haproxyConfig({
        cluster: SCOPE,
        rwHost: rwHost(),
        roHost: roHost(),
        port,
        runDir,
        members: MEMBERS.map((i) => ({ ordinal: i, host: memberHost(i), port, restHost: restHost(i) })),
      }),
      rootWithGroupOf(service),
      0o640,
    );
    runtime = new HaproxyRuntime(routerSocketPath(runDir));

    startedAt = Date.now();
    for (const i of MEMBERS)
      startProcess('patroni', memberName(i), PATRONI_BIN, [join(root, 'conf', `${memberName(i)}.yml`)], projectUser, memberDir(i));
    startProcess('haproxy', 'haproxy', HAPROXY_BIN, haproxyArgs(cfg), service, runDir);
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    for (const p of started) console.log(`--- ${p.name} (pid ${p.pid}, ${isProcessAlive(p.pid) ? 'alive' : 'gone'}):\n${tail(p.log)}`);
  });

  afterAll(async () => {
    await writer?.stop();
    // D23's order: Patroni (it stops its PostgreSQL), the router, etcd.
    await stopAll('patroni', 30_000);
    if (root) await killPostmastersUnder(root);
    await stopAll('haproxy', 5000);
    await stopAll('etcd', 10_000);
    const left = root ? processesUnder(root) : [];
    // DWSBOX_KEEP_TEST_DIRS (as for the whole suite) keeps the logs, nothing else.
    if (root)
      for (const d of ['members', 'etcd', 'router', 'conf', ...(process.env['DWSBOX_KEEP_TEST_DIRS'] ? [] : ['logs'])])
        removeDir(join(root, d));
    if (root && !process.env['DWSBOX_KEEP_TEST_DIRS']) removeDir(root);
    if (projectUser) await removeProjectUser(projectUser.name);
    expect(left).toEqual([]);
  });

  it('elects a leader; two replicas stream from it, one synchronously; the router reaches it', async () => {
    let elected = 0;
    const leader = await waitFor(
      async () => {
        const l = await runningLeader();
        if (l && !elected) elected = Date.now();
        const rows = l?.status.replication ?? [];
        if (!l || rows.filter((r) => r.state === 'streaming').length !== 2 || !rows.some((r) => r.sync_state === 'sync')) return null;
        // The DCS's sync key (what /cluster shows, and what a failover trusts) may lag pg_stat_replication by a loop.
        const roles = (await rest.cluster()).members.map((m) => m.role).sort();
        return roles.join() === 'leader,replica,sync_standby' ? l : null;
      },
      { timeoutMs: 180_000, intervalMs: 200, what: 'a leader with two streaming replicas, one sync' },
    );
    console.log(
      `leader ${leader.name} elected ${((elected - startedAt) / 1000).toFixed(1)} s after the start; two replicas streaming at ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
    );
    expect(leader.status.role).toBe('master');
    expect(leader.status.replication!.map((r) => r.application_name).sort()).toEqual(
      MEMBERS.map(memberName).filter((n) => n !== leader.name),
    );
    expect(leader.status.replication!.filter((r) => r.sync_state === 'sync')).toHaveLength(1);

    // The read-write endpoint reaches the leader (once the router's check marked it up).
    const server = await waitFor(async () => (await sqlAt<{ a: string }>(rwHost(), 'SELECT host(inet_server_addr()) AS a'))[0]?.a, {
      timeoutMs: 30_000,
      what: 'the read-write endpoint',
    });
    expect(server).toBe(memberHost(ordinalOf(leader.name)));
    const rw = await runtime.serversState(RouterBackend.READ_WRITE);
    expect(rw.filter((s) => s.up).map((s) => s.server)).toEqual([leader.name]);
    // The read-only endpoint reaches a replica (it falls back to the primary while none is marked up).
    const ro = await waitFor(
      async () => {
        const [row] = await sqlAt<{ r: boolean; a: string }>(roHost(), 'SELECT pg_is_in_recovery() AS r, host(inet_server_addr()) AS a');
        return row?.r ? row : null;
      },
      { timeoutMs: 30_000, what: 'a replica through the read-only endpoint' },
    );
    expect(ro.a).not.toBe(memberHost(ordinalOf(leader.name)));
  });

  it("refuses a REST action without the cluster's credentials (401)", async () => {
    const leader = (await runningLeader())!;
    const replica = MEMBERS.map(memberName).find((n) => n !== leader.name)!;
    const members = Object.fromEntries(MEMBERS.map((i) => [memberName(i), `http://${restHost(i)}:${PATRONI_REST_PORT}`]));
    const anonymous = new PatroniRest({ members });
    const wrong = new PatroniRest({ members, auth: { username: REST_AUTH.username, password: 'not-the-password' } });
    for (const client of [anonymous, wrong]) {
      const denied = await client.switchover(leader.name, replica).then(
        () => 'accepted',
        (e: unknown) => restStatus(e),
      );
      expect(denied).toBe(401);
      const reinit = await client.reinitialize(replica).then(
        () => 'accepted',
        (e: unknown) => restStatus(e),
      );
      expect(reinit).toBe(401);
    }
    // Nothing changed hands; with the credentials an action is accepted (a no-op patch).
    expect((await runningLeader())?.name).toBe(leader.name);
    const config = await rest.patchConfig({ maximum_lag_on_failover: 1048576 });
    expect(config['synchronous_mode']).toBe(true);
    expect(config['failsafe_mode']).toBe(true);
  });

  it("keeps a scope's etcd user inside its own prefix", async () => {
    const mine = new EtcdClient(etcdEndpoint, scopeCreds);
    // Patroni's own keys are there, readable by the scope's user.
    const keys = (await mine.list(scopePrefix(SCOPE))).map((k) => k.key);
    expect(keys).toContain(`${scopePrefix(SCOPE)}leader`);
    expect(keys).toContain(`${scopePrefix(SCOPE)}config`);
    // Another scope's prefix: a real write, refused by etcd.
    const denied = await mine.put(`${scopePrefix(OTHER_SCOPE)}config`, '{"ttl":1}').then(
      () => 'written',
      (e: unknown) => etcdErrorCode(e),
    );
    expect(denied).toBe(EtcdCode.PERMISSION_DENIED);
    const read = await mine.get(`${scopePrefix(OTHER_SCOPE)}leader`).then(
      () => 'read',
      (e: unknown) => etcdErrorCode(e),
    );
    expect(read).toBe(EtcdCode.PERMISSION_DENIED);
    const outside = await mine.put('/dwsbox-probe', 'x').then(
      () => 'written',
      (e: unknown) => etcdErrorCode(e),
    );
    expect(outside).toBe(EtcdCode.PERMISSION_DENIED);
    // And the other way round: the other scope's user cannot touch this cluster's configuration.
    const theirs = await new EtcdClient(etcdEndpoint, otherCreds).put(`${scopePrefix(SCOPE)}config`, '{"ttl":1}').then(
      () => 'written',
      (e: unknown) => etcdErrorCode(e),
    );
    expect(theirs).toBe(EtcdCode.PERMISSION_DENIED);
    const admin = new EtcdAdmin(etcdEndpoint, ETCD_ROOT_PASSWORD);
    expect(await admin.rootClient().list(scopePrefix(OTHER_SCOPE))).toEqual([]);
    // Removing the other scope removes its user: it can no longer sign in.
    await admin.removeScope(OTHER_SCOPE);
    await admin.removeScope(OTHER_SCOPE); // idempotent
    const gone = await new EtcdClient(etcdEndpoint, otherCreds).get(`${scopePrefix(OTHER_SCOPE)}x`).then(
      () => 'signed in',
      (e: unknown) => (e as Error).message,
    );
    expect(gone).toMatch(/authentication failed/);
  });

  it('fails over when the primary postmaster is killed: writes return through the same endpoint, no acknowledged row lost, the old primary rejoins', async () => {
    const old = (await runningLeader())!;
    await sqlAt(rwHost(), 'CREATE TABLE acked (n integer PRIMARY KEY, server text NOT NULL)');
    writer = new Writer();
    writer.start();
    await waitFor(async () => writer!.acked.length >= 50, { timeoutMs: 60_000, what: '50 acknowledged rows before the kill' });

    const pidFile = readFileSync(join(dataDir(ordinalOf(old.name)), 'postmaster.pid'), 'utf8');
    const postmaster = Number(pidFile.split('\n')[0]);
    expect(readFileSync(`/proc/${postmaster}/cmdline`, 'utf8')).toContain('postgres');
    const ackedBefore = writer.acked.length;
    const killedAt = Date.now();
    process.kill(postmaster, 'SIGKILL');

    // Writes come back through the same endpoint, on another member. (The old primary may still
    // acknowledge a commit for a few milliseconds after its postmaster died: its walsender lives
    // on until it notices, so the synchronous standby has it; those rows are checked below too.)
    const oldHost = memberHost(ordinalOf(old.name));
    const back = await waitFor(async () => writer!.acked.find((a) => a.sent > killedAt && a.server !== oldHost), {
      timeoutMs: 120_000,
      intervalMs: 20,
      what: 'a write after the kill',
    });
    const outage = (back.at - killedAt) / 1000;
    await waitFor(async () => writer!.acked.filter((a) => a.sent > killedAt && a.server !== oldHost).length >= 50, {
      timeoutMs: 60_000,
      what: '50 writes after the failover',
    });
    await writer.stop();
    const ackedAfterKill = writer.acked.length - ackedBefore;

    const now = await waitFor(
      async () => {
        const l = await runningLeader();
        return l && l.name !== old.name ? l : null;
      },
      { timeoutMs: 60_000, what: 'the new leader' },
    );
    expect(back.server).toBe(memberHost(ordinalOf(now.name)));
    const lateOnOld = writer.acked.filter((a) => a.sent > killedAt && a.server === oldHost).length;
    expect((await sqlAt<{ a: string }>(rwHost(), 'SELECT host(inet_server_addr()) AS a'))[0]?.a).toBe(memberHost(ordinalOf(now.name)));

    // Every acknowledged row is on the new primary.
    const present = new Set((await sqlAt<{ n: number }>(rwHost(), 'SELECT n FROM acked')).map((r) => r.n));
    const missing = writer.acked.filter((a) => !present.has(a.n)).map((a) => a.n);
    expect(missing).toEqual([]);

    // The old member comes back by itself as a streaming replica of the new leader.
    const rejoined = await waitFor(
      async () => {
        const l = await runningLeader();
        const row = l?.status.replication?.find((r) => r.application_name === old.name);
        return row?.state === 'streaming' && l!.name === now.name ? Date.now() : null;
      },
      { timeoutMs: 180_000, intervalMs: 200, what: `${old.name} streaming from ${now.name}` },
    );
    // Exactly one member is out of recovery (asked of each member directly).
    const recovery = await waitFor(
      async () => {
        const r = await Promise.all(
          MEMBERS.map(async (i) => (await sqlAt<{ r: boolean }>(memberHost(i), 'SELECT pg_is_in_recovery() AS r'))[0]?.r),
        );
        return r.every((x) => typeof x === 'boolean') ? r : null;
      },
      { timeoutMs: 60_000, what: 'every member answering' },
    );
    expect(recovery.filter((r) => r === false)).toHaveLength(1);
    expect(recovery[ordinalOf(now.name) - 1]).toBe(false);
    expect((await rest.patroni(old.name)).role).toBe('replica');

    console.log(
      `failover: ${old.name} -> ${now.name}; first acknowledged write ${outage.toFixed(2)} s after the SIGKILL (through ${rwHost()}:${port}); ` +
        `${old.name} streaming again at ${((rejoined - killedAt) / 1000).toFixed(1)} s; ${writer.acked.length} rows acknowledged ` +
        `(${ackedAfterKill} after the kill, ${lateOnOld} of them still by ${old.name}), ${writer.errors} failed attempts, 0 missing`,
    );
    expect(existsSync(join(dataDir(ordinalOf(old.name)), 'standby.signal'))).toBe(true);
  });
});
