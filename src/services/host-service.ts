/**
 * The hosts of several-hosts operation (issue 18, design D27): registering a host makes its
 * agent's certificate (the dwsbox CA's, for the host's address) and writes the agent's bundle
 * for the operator to install there; checking a host asks its agent over mutual TLS (the control
 * plane's own certificate, CN `dwsbox-control`) what the host offers, and records what was
 * found; a host is removed only when its agent runs no unit. The agents are reached through
 * the data plane's `HostAgents` (D22; `dataplane/agent/host-agents.ts`).
 *
 * The fleet's etcd is formed on three registered hosts (`formEtcd`): their agents run its
 * members; from then on new clusters keep their Patroni state there.
 *
 * Not yet here (issue 18, later): placing members on registered hosts, the repository host, drain.
 */
import type { Clock } from '../domain/clock.js';
import { checkHostInput, type EtcdMemberState, type HostRecord } from '../domain/hosts.js';
import { AppError } from '../errors/app-error.js';
import type { HostAgents } from '../dataplane/data-plane.js';
import type { Store } from '../store/store.js';

/** How long a check waits for an agent. */
const CHECK_TIMEOUT_MS = 5_000;

/** Why a call to an agent failed, in words an operator can act on. */
function unreachableReason(e: unknown): string {
  const parts: string[] = [];
  for (let x = e as { message?: string; code?: string; cause?: unknown } | undefined, d = 0; x && d < 4; x = x.cause as typeof x, d++)
    if (x.message && !parts.includes(x.message)) parts.push(x.code ? `${x.message} (${x.code})` : x.message);
  return parts.join(': ') || String(e);
}

export class HostService {
  constructor(private readonly deps: { store: Store; clock: Clock; agents: HostAgents }) {}

  /**
   * Register a host and write its agent's bundle (ca.crt, agent.crt, agent.key) into
   * `bundleDir`, a new or empty directory (made root's, 0700). Its state is `new` until checked.
   */
  async add(i: { name: string; address: string; port?: number | undefined; zone?: string | undefined }, bundleDir: string) {
    const h = checkHostInput(i);
    const known = await this.deps.store.listHosts();
    if (known.some((k) => k.name === h.name || (k.address === h.address && k.agentPort === h.agentPort)))
      throw new AppError('HOST_EXISTS', { args: [h.name, `${h.address}:${h.agentPort}`] });
    if (!bundleDir) throw new AppError('VALIDATION', { args: ['the directory for the agent bundle is required'] });
    const { bundle, fingerprint } = await this.deps.agents.writeBundle(h.name, h.address, bundleDir);
    const record: HostRecord = {
      ...h,
      state: 'new',
      stateReason: null,
      report: null,
      certFingerprint: fingerprint,
      createdAt: this.deps.clock.now(),
      checkedAt: null,
    };
    await this.deps.store.insertHost(record);
    return { host: record, bundle };
  }

  /** Ask the host's agent what the host offers, over mutual TLS, and record what was found. */
  async check(h: HostRecord): Promise<HostRecord> {
    let found: Pick<HostRecord, 'state' | 'stateReason' | 'report' | 'checkedAt'>;
    try {
      const { units: _units, ...report } = await this.deps.agents.report(h.address, h.agentPort, AbortSignal.timeout(CHECK_TIMEOUT_MS));
      found = { state: 'up', stateReason: null, report, checkedAt: this.deps.clock.now() };
    } catch (e) {
      found = { state: 'unreachable', stateReason: unreachableReason(e), report: null, checkedAt: this.deps.clock.now() };
    }
    await this.deps.store.recordHostCheck(h.name, found);
    return { ...h, ...found, report: found.report ?? h.report };
  }

  /** Every registered host, each checked now (at once). */
  async list(): Promise<HostRecord[]> {
    return Promise.all((await this.deps.store.listHosts()).map((h) => this.check(h)));
  }

  async get(name: string): Promise<HostRecord> {
    const h = await this.deps.store.getHost(name);
    if (!h) throw new AppError('HOST_NOT_FOUND', { args: [name] });
    return this.check(h);
  }

  /**
   * Form the fleet's etcd on three registered hosts, one member each (asked again with the same
   * hosts, it resumes a form that stopped half-way). Three, on three hosts: it goes on with one
   * lost. Returns each member as its agent reports it after.
   */
  async formEtcd(names: readonly string[]): Promise<EtcdMemberState[]> {
    if (names.length !== 3 || new Set(names).size !== 3)
      throw new AppError('FLEET_ETCD_CONFLICT', { args: ['name three different hosts: the fleet etcd has three members, one per host'] });
    const hosts: HostRecord[] = [];
    for (const name of names) {
      const h = await this.deps.store.getHost(name);
      if (!h) throw new AppError('HOST_NOT_FOUND', { args: [name] });
      hosts.push(h);
    }
    return this.deps.agents.formEtcd(hosts.map((h) => ({ name: h.name, address: h.address, agentPort: h.agentPort })));
  }

  /** The fleet etcd's members, each asked now (empty before it is formed). */
  etcdMembers(): Promise<EtcdMemberState[]> {
    return this.deps.agents.etcdMembers();
  }

  /**
   * Forget a host. Refused while its agent runs any unit (a member, a router, etcd), or cannot
   * be asked: what runs there must be moved or stopped first.
   */
  async remove(name: string): Promise<{ removed: string }> {
    const h = await this.deps.store.getHost(name);
    if (!h) throw new AppError('HOST_NOT_FOUND', { args: [name] });
    const units = await this.deps.agents.units(h.address, h.agentPort).catch((e: unknown) => {
      throw new AppError('HOST_IN_USE', { args: [name, `its agent cannot be asked what runs there (${unreachableReason(e)})`] });
    });
    if (units.length > 0)
      throw new AppError('HOST_IN_USE', { args: [name, `its agent runs ${units.join(', ')}: move or stop them first`] });
    await this.deps.store.deleteHost(name);
    return { removed: name };
  }
}

/** A member of the fleet's etcd as the API and the CLI show it. */
export function etcdMemberOut(m: EtcdMemberState) {
  return { name: m.name, address: m.address, endpoint: m.endpoint, health: m.health, unit: m.unit };
}

/** A host as the API and the CLI show it. */
export function hostOut(h: HostRecord) {
  return {
    name: h.name,
    availability_zone: h.zone,
    address: h.address,
    agent_port: h.agentPort,
    state: h.state,
    state_reason: h.stateReason,
    checked_at: h.checkedAt === null ? null : new Date(h.checkedAt).toISOString(),
    registered_at: new Date(h.createdAt).toISOString(),
    cert_fingerprint: h.certFingerprint,
    report: h.report && {
      hostname: h.report.hostname,
      addresses: h.report.addresses,
      cpus: h.report.cpus,
      mem_total_bytes: h.report.memTotalBytes,
      mem_available_bytes: h.report.memAvailableBytes,
      disk_total_bytes: h.report.diskTotalBytes,
      disk_free_bytes: h.report.diskFreeBytes,
    },
  };
}
