/**
 * The host agent's client, for `serve` and the tests: its calls over the agent's Unix socket
 * with the agent's token, or (`AgentClient.remote`, several hosts, D27) over HTTPS to another
 * host's agent with mutual TLS (host-tls.ts), and `ensureAgent`, which starts a detached agent when none answers
 * (design D23: `serve` starts it when none runs, and starts it again when it died; the new
 * agent adopts the units that kept running).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { Client } from 'undici';
import { spawnDetached } from '../pg-exec.js';
import { PACKAGE_ROOT, selfCommandArgs } from '../self-command.js';
import { agentPaths, AGENT_API_VERSION } from './agent.js';
import type { UnitSpec, UnitView } from './supervisor.js';
import type { FleetJoin } from './host-etcd.js';
import type { HostReport } from '../../domain/hosts.js';
import { tlsOptions, type TlsFiles } from './host-tls.js';

/** Another host's agent: where it listens for the control plane, and the control plane's certificate for it. */
export interface RemoteAgent {
  address: string;
  port: number;
  tls: TlsFiles;
}

export class AgentCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface AgentInfo {
  version: number;
  pid: number;
  dir: string;
  startedAt: string;
  units: number;
}

/**
 * Errors that say the agent is not there (no socket, nobody listening, the connection cut by
 * its death), as opposed to an answer from it.
 */
const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

export function agentUnreachable(e: unknown): boolean {
  for (let x = e as { code?: unknown; cause?: unknown } | undefined, depth = 0; x && depth < 4; x = x.cause as typeof x, depth++)
    if (typeof x.code === 'string' && UNREACHABLE.has(x.code)) return true;
  return false;
}

export class AgentClient {
  private readonly client: Client;
  private token: string | null = null;
  private reviving: Promise<void> | null = null;

  /**
   * With `revive`, a call that finds no agent (it died: D23, `serve` starts it again) starts
   * one (`startAgent`, which adopts the units that kept running) and is made once more: every
   * call of the interface is idempotent, so one that the dead agent may have carried out is
   * safe to repeat.
   */
  constructor(
    readonly dir: string,
    private readonly o: { revive?: boolean; remote?: RemoteAgent } = {},
  ) {
    this.client = o.remote
      ? new Client(`https://${o.remote.address}:${o.remote.port}`, {
          // the agent's certificate must be the CA's, for this address; ours names the control plane
          connect: { ...tlsOptions(o.remote.tls), timeout: 5_000 },
          pipelining: 0,
        })
      : new Client('http://agent', { socketPath: agentPaths(dir).socket, pipelining: 0 });
  }

  /** The agent of another host, over mutual TLS (never revived from here: it is that host's). */
  static remote(r: RemoteAgent): AgentClient {
    return new AgentClient(`${r.address}:${r.port}`, { remote: r });
  }

  /** What the agent's host offers now (memory, disk, processors, addresses) and how many units it runs. */
  host(signal?: AbortSignal): Promise<HostReport & { units: number }> {
    return this.callOnce('GET', '/v1/host', undefined, signal);
  }

  info(): Promise<AgentInfo> {
    return this.call('GET', '/v1/agent');
  }

  units(): Promise<UnitView[]> {
    return this.call<{ units: UnitView[] }>('GET', '/v1/units').then((r) => r.units);
  }

  unit(name: string): Promise<UnitView | null> {
    return this.call<UnitView>('GET', `/v1/units/${encodeURIComponent(name)}`).catch((e: unknown) => {
      if (e instanceof AgentCallError && e.status === 404) return null;
      throw e;
    });
  }

  ensureUnit(spec: UnitSpec): Promise<UnitView> {
    const { name, ...body } = spec;
    return this.call('PUT', `/v1/units/${encodeURIComponent(name)}`, body);
  }

  /** `immediate`: the unit's whole process tree killed at once, for a unit whose data is thrown away next. */
  stopUnit(name: string, o: { immediate?: boolean } = {}): Promise<{ stopped: boolean }> {
    return this.call('DELETE', `/v1/units/${encodeURIComponent(name)}${o.immediate ? '?immediate=1' : ''}`);
  }

  /** The owner's cluster subnet (`c`, D24); with `probe`, one whose addresses on that port are free now. */
  allocateSubnet(owner: string, probe?: { port: number; members: number }): Promise<number> {
    return this.call<{ subnet: number }>('POST', '/v1/subnets', { owner, ...probe }).then((r) => r.subnet);
  }

  /** Subnet `subnet` for the owner (already its own, or free); an AgentCallError with status 409 when another owner holds it. */
  claimSubnet(owner: string, subnet: number): Promise<number> {
    return this.call<{ subnet: number }>('POST', '/v1/subnets', { owner, subnet }).then((r) => r.subnet);
  }

  /** The subnets held on this host, by owner. */
  subnets(): Promise<{ subnet: number; owner: string }[]> {
    return this.call<{ subnets: { subnet: number; owner: string }[] }>('GET', '/v1/subnets').then((r) => r.subnets);
  }

  releaseSubnet(subnet: number): Promise<boolean> {
    return this.call<{ released: boolean }>('DELETE', `/v1/subnets/${subnet}`).then((r) => r.released);
  }

  /** The host's etcd runs (started when it does not), authentication on; its client endpoint. */
  ensureEtcd(): Promise<string> {
    return this.call<{ endpoint: string }>('POST', '/v1/etcd', {}).then((r) => r.endpoint);
  }

  /** This host's etcd as a member of the fleet's (issue 18): started, not waited for. */
  joinEtcdFleet(m: FleetJoin): Promise<{ endpoint: string }> {
    return this.call('PUT', '/v1/etcd/fleet', m);
  }

  /** What this host's etcd is and whether its member answers healthy. */
  etcdStatus(): Promise<{ endpoint: string | null; fleet: { name: string } | null; unit: string | null; health: string }> {
    return this.call('GET', '/v1/etcd');
  }

  /** The Patroni scope's own etcd user, limited to its prefix, with this password. */
  ensureEtcdScope(scope: string, password: string): Promise<{ endpoint: string; username: string }> {
    return this.call('PUT', `/v1/etcd/scopes/${encodeURIComponent(scope)}`, { password });
  }

  /** The scope's keys, etcd user and role removed. */
  removeEtcdScope(scope: string): Promise<{ removed: boolean }> {
    return this.call('DELETE', `/v1/etcd/scopes/${encodeURIComponent(scope)}`);
  }

  /** Ask the agent to leave; with `stopUnits` it first stops every unit (Patroni, routers, etcd). */
  shutdown(stopUnits: boolean): Promise<{ stopped: string[] }> {
    return this.call('POST', '/v1/shutdown', { stopUnits });
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async call<T>(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    try {
      return await this.callOnce<T>(method, path, body);
    } catch (e) {
      if (!this.o.revive || !agentUnreachable(e)) throw e;
      // Calls that failed together start one agent between them.
      this.reviving ??= startAgent(this).finally(() => (this.reviving = null));
      await this.reviving;
      return this.callOnce<T>(method, path, body);
    }
  }

  /** The call, once (no agent started when none answers). */
  async callOnce<T>(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    // over TLS the certificates are the credentials; on the socket, the agent's token
    if (!this.o.remote) this.token ??= readFileSync(agentPaths(this.dir).token, 'utf8').trim();
    const res = await this.client.request({
      method,
      path,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal ? { signal } : {}),
    });
    const text = await res.body.text();
    const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (res.statusCode >= 400) throw new AgentCallError(res.statusCode, String(parsed['error'] ?? `HTTP ${res.statusCode}`));
    return parsed as T;
  }
}

/** How an agent is started: the `dwsbox agent` command (self-command.ts); in `/` (through tsx, in the sources' root). */
function agentCommand(): { argv: string[]; cwd: string } {
  const args = selfCommandArgs();
  return { argv: [process.execPath, ...args], cwd: args[0] === '--import' ? PACKAGE_ROOT : '/' };
}

/**
 * An agent that answers on `dir`: the running one, or a new one started detached (its output
 * appended to `agent.log`). Two callers at once may both start one; the loser of the agent's
 * lock exits, and both callers reach the winner.
 */
export async function ensureAgent(
  dir: string,
  o: { timeoutMs?: number; signal?: AbortSignal; revive?: boolean } = {},
): Promise<AgentClient> {
  const client = new AgentClient(dir, o.revive ? { revive: true } : {});
  try {
    await startAgent(client, o);
  } catch (e) {
    await client.close();
    throw e;
  }
  return client;
}

/** An agent that answers on the client's directory: the running one, or a new one started detached. */
async function startAgent(client: AgentClient, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
  const dir = client.dir;
  const answers = async (): Promise<boolean> => {
    try {
      const info = await client.callOnce<AgentInfo>('GET', '/v1/agent');
      if (info.version !== AGENT_API_VERSION)
        throw new Error(`the agent on ${dir} speaks version ${info.version}, this service ${AGENT_API_VERSION}`);
      return true;
    } catch (e) {
      if (e instanceof Error && /speaks version/.test(e.message)) throw e;
      return false;
    }
  };
  if (await answers()) return;
  const paths = agentPaths(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { argv, cwd } = agentCommand();
  const [cmd, ...args] = argv;
  // As root, with no death signal: it outlives the service (D23). Its output goes to agent.log.
  spawnDetached({
    cmd: cmd!,
    args: [...args, 'agent', '--agent-dir', dir],
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    logFile: paths.log,
    runAs: null,
    cwd,
  });
  const deadline = Date.now() + (o.timeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    o.signal?.throwIfAborted();
    await new Promise((r) => setTimeout(r, 50));
    if (await answers()) return;
  }
  throw new Error(`the host agent on ${dir} did not answer within ${(o.timeoutMs ?? 15_000) / 1000} s (see ${paths.log})`);
}
