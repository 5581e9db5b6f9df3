/**
 * `HostAgents` (data-plane.ts; issue 18, D27): the other hosts' agents as the control plane
 * reaches them. A host's bundle is made from the data directory's CA (`tls.ts`: the agent's key
 * is written only into the bundle); each agent is asked over mutual TLS with the control plane's
 * own certificate (CN `dwsbox-control`, made once in the data directory).
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EtcdMemberState, HostReport } from '../../domain/hosts.js';
import { AppError } from '../../errors/app-error.js';
import type { HostAgents } from '../data-plane.js';
import { serviceOwner } from '../safe-fs.js';
import { CertificateAuthority } from '../tls.js';
import { withLock } from '../serial-lock.js';
import { AgentCallError, AgentClient } from './client.js';
import { FLEET_PEER_CN, fleetUrl } from './host-etcd.js';
import { FleetEtcd, type FleetEtcdRecord } from './fleet-etcd.js';
import { agentBundle, CONTROL_CN, type TlsFiles } from './host-tls.js';

export class AgentFleet implements HostAgents {
  private readonly ca: CertificateAuthority;
  private readonly etcd: FleetEtcd;
  private readonly lockFile: string;

  constructor(dataDir: string) {
    this.ca = new CertificateAuthority(dataDir);
    this.etcd = new FleetEtcd(dataDir);
    this.lockFile = join(dataDir, 'locks', 'fleet-etcd.lock');
  }

  /** The control plane's client certificate for the agents, made once. */
  private async control(): Promise<TlsFiles> {
    const c = await this.ca.ensureCert(CONTROL_CN, serviceOwner());
    return { ca: this.ca.caFile, crt: c.crt, key: c.key };
  }

  async writeBundle(name: string, address: string, dir: string): Promise<{ bundle: TlsFiles; fingerprint: string }> {
    if (existsSync(dir) && readdirSync(dir).length > 0)
      throw new AppError('VALIDATION', { args: [`${dir} is not empty: give a new directory for the agent's bundle`] });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const bundle = agentBundle(dir);
    await this.ca.issue(`host-${name}`, [address], { crt: bundle.crt, key: bundle.key });
    copyFileSync(this.ca.caFile, bundle.ca);
    return { bundle, fingerprint: new X509Certificate(readFileSync(bundle.crt)).fingerprint256 };
  }

  private async withAgent<T>(address: string, port: number, fn: (c: AgentClient) => Promise<T>): Promise<T> {
    const client = AgentClient.remote({ address, port, tls: await this.control() });
    try {
      return await fn(client);
    } finally {
      await client.close();
    }
  }

  report(address: string, port: number, signal?: AbortSignal): Promise<HostReport & { units: number }> {
    return this.withAgent(address, port, (c) => c.host(signal));
  }

  units(address: string, port: number): Promise<string[]> {
    return this.withAgent(address, port, async (c) => (await c.units()).map((u) => u.name));
  }

  async formEtcd(hosts: readonly { name: string; address: string; agentPort: number }[], signal?: AbortSignal): Promise<EtcdMemberState[]> {
    // One form at a time on this data directory (two would plan two fleets).
    return withLock(this.lockFile, 'fleet etcd', async () => {
      const rec = this.etcd.plan(hosts.map((h) => ({ name: h.name, host: h.address, agentPort: h.agentPort })));
      const members = rec.members.map((m) => ({ name: m.name, host: m.host }));
      // Every member started first: each answers only once a majority runs.
      for (const m of rec.members) {
        signal?.throwIfAborted();
        const { cert, key } = await this.memberCert(m.host);
        const join = {
          name: m.name,
          token: rec.token,
          members,
          clientPort: rec.clientPort,
          peerPort: rec.peerPort,
          rootPassword: rec.rootPassword,
        };
        await this.withAgent(m.host, m.agentPort, (c) => c.joinEtcdFleet({ ...join, cert, key })).catch((e: unknown) => {
          const why = `host ${m.name} (${m.host}:${m.agentPort}): ${(e as Error).message}`;
          // The agent refused (its etcd is another's): a conflict. Not reached: ask again once it answers.
          if (e instanceof AgentCallError && e.status === 409) throw new AppError('FLEET_ETCD_CONFLICT', { args: [why] });
          throw new AppError('ENGINE_COMMAND_FAILED', {
            args: ["the fleet etcd's form", `${why}; run dwsbox hosts etcd again once it answers`],
          });
        });
      }
      // Then each waits for its member (the first switches authentication on).
      for (const m of rec.members) {
        signal?.throwIfAborted();
        await this.withAgent(m.host, m.agentPort, (c) => c.ensureEtcd());
      }
      this.etcd.markFormed(rec);
      return this.membersOf(rec);
    });
  }

  /** A fleet member's own certificate for etcd (CN FLEET_PEER_CN, its host's address), as PEM; nothing kept here. */
  private async memberCert(address: string): Promise<{ cert: string; key: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'dwsbox-etcd-cert-'));
    try {
      const out = { crt: join(dir, 'member.crt'), key: join(dir, 'member.key') };
      await this.ca.issue(FLEET_PEER_CN, [address], out);
      return { cert: readFileSync(out.crt, 'utf8'), key: readFileSync(out.key, 'utf8') };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  etcdMembers(): Promise<EtcdMemberState[]> {
    const rec = this.etcd.record();
    return rec ? this.membersOf(rec) : Promise.resolve([]);
  }

  private membersOf(rec: FleetEtcdRecord): Promise<EtcdMemberState[]> {
    return Promise.all(
      rec.members.map(async (m) => {
        const endpoint = fleetUrl(m.host, rec.clientPort);
        try {
          const s = await this.withAgent(m.host, m.agentPort, (c) => c.etcdStatus());
          return { name: m.name, address: m.host, endpoint, health: s.health, unit: s.unit };
        } catch (e) {
          return { name: m.name, address: m.host, endpoint, health: `its agent cannot be asked: ${(e as Error).message}`, unit: null };
        }
      }),
    );
  }
}
