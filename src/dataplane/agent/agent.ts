/**
 * `dwsbox agent`: the host agent (design D23). One per agent directory (an exclusive lock; the
 * default directory is host-wide, so one per host), started detached by `serve` when none runs.
 * It starts, supervises and adopts the long-lived processes of its host (supervisor.ts) and keeps
 * the host-wide registry of cluster subnets (`c` of D24's `127.0.c.i`), so that services and
 * test files sharing the host never collide.
 *
 * Its interface is HTTP over a Unix socket (`agent.sock`, 0600) under `/v1/`, each call carrying
 * the agent's token (`token`, 0600, root's) as a bearer credential: small and versioned. With
 * `listen` (several hosts, D27) the same calls are also served over HTTPS on the host's address
 * with mutual TLS, to the control plane's certificate only (host-tls.ts). The agent runs only
 * the binaries of its unit kinds, never as root.
 *
 * Layout of the directory (root's, 0711: traversable, not listable): agent.lock, agent.sock,
 * token, units.json, subnets.json, etcd.json and etcd-root (host-etcd.ts), all 0600; logs/ (0700,
 * one log per unit, opened by the agent); etcd/ (the etcd member's data, the service user's);
 * etcd-tls/ (a fleet member's certificate, key and CA: root's, readable by the service user's group);
 * agent.log (the agent's own output when `serve` started it).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { isIPv4 } from 'node:net';
import { HOST_NAME } from '../../domain/hosts.js';
import Fastify, { type FastifyInstance } from 'fastify';
import { acquireLock, type HeldLock } from '../pg-exec.js';
import { readTail } from '../safe-fs.js';
import type { Logger } from '../../log/logger.js';
import { canListen } from '../local/probe.js';
import { PATRONI_REST_PORT } from '../patroni/patroni-config.js';
import { DEFRAG_EVERY_MS, HostEtcd, type FleetJoin } from './host-etcd.js';
import { Supervisor, type UnitKind, type UnitSpec } from './supervisor.js';
import { agentHttpsOptions, hostReport, notControlPlane } from './host-tls.js';

export const AGENT_API_VERSION = 1;

/** The one binary each unit kind may run. */
export const UNIT_BINARIES: Record<UnitKind, string> = {
  etcd: '/usr/bin/etcd',
  patroni: '/usr/bin/patroni',
  router: '/usr/sbin/haproxy',
};

const UNIT_NAME = /^[a-z0-9][a-z0-9._-]{0,80}$/;
const SCOPE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function agentPaths(dir: string): { lock: string; socket: string; token: string; subnets: string; logs: string; log: string } {
  return {
    lock: join(dir, 'agent.lock'),
    socket: join(dir, 'agent.sock'),
    token: join(dir, 'token'),
    subnets: join(dir, 'subnets.json'),
    logs: join(dir, 'logs'),
    log: join(dir, 'agent.log'),
  };
}

export interface RunningAgent {
  readonly supervisor: Supervisor;
  /** Stop serving and let go of the units (they keep running; a new agent adopts them). */
  close(): Promise<void>;
  /** Resolves when the agent has been asked to leave (`POST /v1/shutdown` or a signal). */
  readonly done: Promise<void>;
}

export class AgentBusyError extends Error {}

/** The agent's listener for the control plane of several hosts (D27): the host's address, a port, and its TLS bundle. */
export interface HostListen {
  host: string;
  port: number;
  bundleDir: string;
}

/**
 * Run the agent on `dir`. Throws AgentBusyError when another agent holds the directory.
 */
export async function runAgent(dir: string, log: Logger, o: { listen?: HostListen } = {}): Promise<RunningAgent> {
  // Traversable, not listable: the etcd member (the service user) reaches its data directory in it.
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  chmodSync(dir, 0o711);
  const paths = agentPaths(dir);
  let lock: HeldLock;
  try {
    lock = await acquireLock(paths.lock, { timeoutMs: 100, label: 'agent' });
  } catch (e) {
    if ((e as { code?: string }).code === 'STEP_TIMEOUT') throw new AgentBusyError(`another agent runs on ${dir}`);
    throw e;
  }
  mkdirSync(paths.logs, { recursive: true, mode: 0o700 });
  const token = ensureToken(paths.token);
  const subnets = new SubnetRegistry(paths.subnets);
  const supervisor = new Supervisor(dir, {
    onStart: (u) => log.info('unit started', { unit: u.name, pid: u.pid, restarts: u.restarts }),
    onExit: (u, logFile) =>
      log.warn('unit died; starting it again', {
        unit: u.name,
        exit: u.lastExit,
        restarts: u.restarts,
        // What it said last, so a unit that keeps dying says why here.
        lastLines: readTail(logFile, 1500).trim().split('\n').slice(-4),
      }),
  });
  const { adopted, restarted } = supervisor.start();
  log.info('agent started', { dir, adopted, restarted });

  let leave!: () => void;
  const done = new Promise<void>((r) => (leave = r));
  const etcd = new HostEtcd(dir, supervisor, o.listen ? { host: o.listen.host, bundleDir: o.listen.bundleDir } : undefined);
  const defrag = setInterval(() => {
    etcd.defragment().then(
      (done) => done && log.info('etcd defragmented'),
      (e: unknown) => log.warn('etcd defragmentation failed; tried again later', { err: (e as Error).message }),
    );
  }, DEFRAG_EVERY_MS);
  defrag.unref();
  const deps = { supervisor, subnets, etcd, token, log, dir, leave };
  const app = buildApi(Fastify({ logger: false, bodyLimit: 1 << 20 }), deps, 'token');
  rmSync(paths.socket, { force: true });
  await app.listen({ path: paths.socket });
  chmodSync(paths.socket, 0o600);
  let remote: FastifyInstance | null = null;
  if (o.listen) {
    remote = buildApi(Fastify({ logger: false, bodyLimit: 1 << 20, https: agentHttpsOptions(o.listen.bundleDir) }), deps, 'tls');
    await remote.listen({ host: o.listen.host, port: o.listen.port });
    log.info('agent listening for the control plane', { address: `${o.listen.host}:${o.listen.port}` });
  }

  let closed = false;
  return {
    supervisor,
    done,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(defrag);
      await remote?.close();
      await app.close();
      supervisor.close();
      rmSync(paths.socket, { force: true });
      await lock.release();
      log.info('agent stopped');
    },
  };
}

/**
 * The agent's calls on `app`. `token`: the Unix socket's callers show the agent's token; `tls`:
 * the TLS listener's caller must be the control plane (its certificate, checked in the handshake
 * against the CA, names it).
 */
function buildApi(
  app: FastifyInstance,
  o: {
    supervisor: Supervisor;
    subnets: SubnetRegistry;
    etcd: HostEtcd;
    token: Buffer;
    log: Logger;
    dir: string;
    leave: () => void;
  },
  auth: 'token' | 'tls',
): FastifyInstance {
  const startedAt = new Date().toISOString();
  app.addHook('onRequest', (req, reply, done) => {
    if (auth === 'tls') {
      const why = notControlPlane(req.raw.socket);
      if (why) {
        o.log.warn('agent call refused: not the control plane', { method: req.method, url: req.url, why });
        void reply.code(403).send({ error: `only the dwsbox control plane may call this agent: ${why}` });
        return;
      }
      return done();
    }
    const got = Buffer.from(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    if (got.length !== o.token.length || !timingSafeEqual(got, o.token)) {
      o.log.warn('agent call refused: no valid token', { method: req.method, url: req.url });
      void reply.code(401).send({ error: 'a valid agent token is required' });
      return;
    }
    done();
  });
  app.setErrorHandler((e: Error & { statusCode?: number }, req, reply) => {
    const status = e.statusCode && e.statusCode < 500 ? e.statusCode : 500;
    if (status >= 500) o.log.error('agent call failed', { url: req.url, err: e.message });
    else o.log.warn('agent call refused', { url: req.url, err: e.message });
    void reply.code(status).send({ error: e.message });
  });

  app.get('/v1/agent', () => ({ version: AGENT_API_VERSION, pid: process.pid, dir: o.dir, startedAt, units: o.supervisor.list().length }));
  app.get('/v1/host', () => ({ ...hostReport(o.dir), units: o.supervisor.list().length }));
  app.get('/v1/units', () => ({ units: o.supervisor.list() }));
  app.get<{ Params: { name: string } }>('/v1/units/:name', (req, reply) => {
    const u = o.supervisor.get(req.params.name);
    return u ?? reply.code(404).send({ error: `no unit ${req.params.name}` });
  });
  app.put<{ Params: { name: string }; Body: Omit<UnitSpec, 'name'> }>('/v1/units/:name', async (req) => {
    const spec = checkSpec(req.params.name, req.body);
    const u = await o.supervisor.ensure(spec);
    return u;
  });
  // `?immediate=1`: the unit's whole process tree killed at once (its data is thrown away next).
  app.delete<{ Params: { name: string }; Querystring: { immediate?: string } }>('/v1/units/:name', async (req) => ({
    stopped: await o.supervisor.stop(req.params.name, { immediate: req.query.immediate === '1' }),
  }));
  app.post<{ Body: { owner?: unknown; port?: unknown; members?: unknown; subnet?: unknown } }>('/v1/subnets', async (req) => {
    const { owner, port, members, subnet } = req.body ?? {};
    if (subnet !== undefined && (!Number.isInteger(subnet) || (subnet as number) < 1 || (subnet as number) > 254))
      throw badRequest('subnet: 1-254');
    if (typeof owner !== 'string' || !owner || owner.length > 200) throw badRequest('owner: a non-empty string is required');
    if (port !== undefined && (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535))
      throw badRequest('port: 1-65535');
    if (members !== undefined && (!Number.isInteger(members) || (members as number) < 1 || (members as number) > 254))
      throw badRequest('members: 1-254');
    const probe = port === undefined ? undefined : { port: port as number, members: (members as number | undefined) ?? 1 };
    if (subnet !== undefined) return { subnet: o.subnets.claim(owner, subnet as number), owner };
    return { subnet: await o.subnets.allocate(owner, probe), owner };
  });
  app.get('/v1/subnets', () => ({ subnets: o.subnets.list() }));
  app.delete<{ Params: { subnet: string } }>('/v1/subnets/:subnet', (req) => ({ released: o.subnets.release(Number(req.params.subnet)) }));
  app.post('/v1/etcd', async () => ({ endpoint: await o.etcd.ensure() }));
  app.get('/v1/etcd', () => o.etcd.status());
  // Several hosts (issue 18): this host's etcd as a member of the fleet's, over TLS (host-etcd.ts).
  app.put<{ Body: Record<string, unknown> | undefined }>('/v1/etcd/fleet', async (req) => o.etcd.joinFleet(checkFleet(req.body)));
  app.put<{ Params: { scope: string }; Body: { password?: unknown } }>('/v1/etcd/scopes/:scope', async (req) => {
    const password = req.body?.password;
    if (typeof password !== 'string' || password.length < 16) throw badRequest('password: a string of at least 16 characters');
    if (!SCOPE.test(req.params.scope)) throw badRequest(`scope ${JSON.stringify(req.params.scope)}: [a-z0-9_-], 1-63 characters`);
    return o.etcd.ensureScope(req.params.scope, password);
  });
  app.delete<{ Params: { scope: string } }>('/v1/etcd/scopes/:scope', async (req) => {
    if (!SCOPE.test(req.params.scope)) throw badRequest(`scope ${JSON.stringify(req.params.scope)}: [a-z0-9_-], 1-63 characters`);
    await o.etcd.removeScope(req.params.scope);
    return { removed: true };
  });
  app.post<{ Body: { stopUnits?: unknown } }>('/v1/shutdown', async (req) => {
    const stopped = req.body?.stopUnits === true ? await o.supervisor.stopAll() : [];
    setImmediate(o.leave);
    return { stopped };
  });
  return app;
}

/** A fleet member's request (issue 18): three members with names and IPv4 addresses, unprivileged ports, a root password, a certificate. */
function checkFleet(b: Record<string, unknown> | undefined): FleetJoin {
  const { name, token, members, clientPort, peerPort, rootPassword, cert, key } = b ?? {};
  const named = (v: unknown): v is string => typeof v === 'string' && HOST_NAME.test(v);
  if (!named(name)) throw badRequest('name: a host name ([a-z][a-z0-9-], 1-63 characters)');
  if (typeof token !== 'string' || !/^fleet-[0-9a-f]{8}$/.test(token)) throw badRequest('token: fleet-<8 hex digits>');
  if (!Array.isArray(members) || members.length !== 3) throw badRequest('members: exactly three');
  const list = members.map((m: unknown) => {
    const x = (m ?? {}) as { name?: unknown; host?: unknown };
    if (!named(x.name)) throw badRequest('members[].name: a host name ([a-z][a-z0-9-], 1-63 characters)');
    if (typeof x.host !== 'string' || !isIPv4(x.host) || x.host === '0.0.0.0') throw badRequest('members[].host: an IPv4 address');
    return { name: x.name, host: x.host };
  });
  if (new Set(list.map((m) => m.name)).size !== 3 || new Set(list.map((m) => m.host)).size !== 3)
    throw badRequest('members: names and addresses must differ');
  for (const [k, v] of [
    ['clientPort', clientPort],
    ['peerPort', peerPort],
  ] as const)
    if (!Number.isInteger(v) || (v as number) < 1024 || (v as number) > 65535)
      throw badRequest(`${k}: 1024-65535 (etcd runs unprivileged)`);
  if (clientPort === peerPort) throw badRequest('clientPort and peerPort must differ');
  if (typeof rootPassword !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(rootPassword))
    throw badRequest('rootPassword: 16-128 characters of [A-Za-z0-9_-]');
  for (const [k, v, tag] of [
    ['cert', cert, 'CERTIFICATE'],
    ['key', key, 'PRIVATE KEY'],
  ] as const)
    if (typeof v !== 'string' || v.length > 16_384 || !v.includes(`-----BEGIN ${tag}-----`))
      throw badRequest(`${k}: a PEM ${tag.toLowerCase()}`);
  return {
    name,
    token,
    members: list,
    clientPort: clientPort as number,
    peerPort: peerPort as number,
    rootPassword,
    cert: cert as string,
    key: key as string,
  };
}

function badRequest(message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode: 400 });
}

/** A unit spec from a caller: only the kinds' own binaries, never as root, absolute paths. */
function checkSpec(name: string, b: Omit<UnitSpec, 'name'> | undefined): UnitSpec {
  if (!UNIT_NAME.test(name)) throw badRequest(`unit name ${JSON.stringify(name)}: use lower-case letters, digits, '.', '_' and '-'`);
  if (!b || typeof b !== 'object') throw badRequest('a unit spec is required');
  if (!(b.kind in UNIT_BINARIES)) throw badRequest(`kind: one of ${Object.keys(UNIT_BINARIES).join(', ')}`);
  if (!Array.isArray(b.argv) || b.argv.length === 0 || !b.argv.every((a) => typeof a === 'string'))
    throw badRequest('argv: a non-empty list of strings');
  if (b.argv[0] !== UNIT_BINARIES[b.kind]) throw badRequest(`argv[0]: a ${b.kind} unit runs ${UNIT_BINARIES[b.kind]}`);
  for (const k of ['uid', 'gid'] as const)
    if (!Number.isInteger(b[k]) || b[k] <= 0) throw badRequest(`${k}: a positive integer (units never run as root)`);
  if (typeof b.log !== 'string' || !isAbsolute(b.log)) throw badRequest('log: an absolute path');
  if (!b.env || typeof b.env !== 'object' || !Object.values(b.env).every((v) => typeof v === 'string'))
    throw badRequest('env: an object of strings');
  if (!['SIGTERM', 'SIGINT', 'SIGUSR1'].includes(b.stopSignal)) throw badRequest('stopSignal: SIGTERM, SIGINT or SIGUSR1');
  if (!Number.isInteger(b.stopTimeoutMs) || b.stopTimeoutMs < 0 || b.stopTimeoutMs > 600_000)
    throw badRequest('stopTimeoutMs: 0 to 600000');
  return {
    name,
    kind: b.kind,
    argv: b.argv,
    uid: b.uid,
    gid: b.gid,
    env: b.env,
    log: b.log,
    stopSignal: b.stopSignal,
    stopTimeoutMs: b.stopTimeoutMs,
  };
}

async function subnetFree(c: number, p: { port: number; members: number }): Promise<boolean> {
  const want: [string, number][] = [
    [`127.1.${c}.1`, p.port],
    [`127.1.${c}.2`, p.port],
  ];
  for (let i = 1; i <= p.members; i++) want.push([`127.0.${c}.${i}`, p.port], [`127.2.${c}.${i}`, PATRONI_REST_PORT]);
  for (const [h, port] of want) if (!(await canListen(h, port))) return false;
  return true;
}

function ensureToken(file: string): Buffer {
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, randomBytes(32).toString('base64url'), { mode: 0o600 });
    renameSync(tmp, file);
  }
  return Buffer.from(readFileSync(file, 'utf8').trim());
}

/**
 * Cluster subnets on this host (D24: `c` of 127.0.c.i, 127.1.c.x, 127.2.c.i), 1–254, each
 * held by an owner (a cluster id) until released. Kept in `subnets.json`; only the agent writes
 * it, so its own single thread is the registry's lock.
 */
export class SubnetRegistry {
  private held: Record<string, string>;

  constructor(private readonly file: string) {
    try {
      this.held = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    } catch {
      this.held = {};
    }
  }

  /**
   * The owner's subnet: the one it already holds, else the lowest free one. With `probe`, a
   * subnet is taken only when its addresses on the cluster's port are free now (members
   * `127.0.c.1..n`, their REST `127.2.c.i:8008`, the endpoints `127.1.c.1` and `.2`): clusters
   * of the local engine, which number their subnets per store, or anything else on the host may
   * hold some.
   */
  async allocate(owner: string, probe?: { port: number; members: number }): Promise<number> {
    for (const [c, o] of Object.entries(this.held)) if (o === owner) return Number(c);
    for (let c = 1; c <= 254; c++) {
      if (this.held[c] !== undefined) continue;
      if (probe && !(await subnetFree(c, probe))) continue;
      this.held[c] = owner;
      this.save();
      return c;
    }
    throw Object.assign(new Error('every cluster subnet of this host (254) is taken'), { statusCode: 409 });
  }

  /** Subnet `c` for the owner: already its own, or free and now held (409 when another owner holds it). */
  claim(owner: string, c: number): number {
    const holder = this.held[c];
    if (holder !== undefined && holder !== owner)
      throw Object.assign(new Error(`cluster subnet ${c} of this host is held by ${holder}`), { statusCode: 409 });
    if (holder === undefined) {
      this.held[c] = owner;
      this.save();
    }
    return c;
  }

  release(c: number): boolean {
    if (this.held[c] === undefined) return false;
    delete this.held[c];
    this.save();
    return true;
  }

  list(): { subnet: number; owner: string }[] {
    return Object.entries(this.held).map(([c, owner]) => ({ subnet: Number(c), owner }));
  }

  private save(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.held), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
