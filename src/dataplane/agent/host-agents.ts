/**
 * `HostAgents` (data-plane.ts; issue 18, D27): the other hosts' agents as the control plane
 * reaches them. A host's bundle is made from the data directory's CA (`tls.ts`: the agent's key
 * is written only into the bundle); each agent is asked over mutual TLS with the control plane's
 * own certificate (CN `dwsbox-control`, made once in the data directory).
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import type { EtcdMemberState, HostReport } from '../../domain/hosts.js';
import { AppError } from '../../errors/app-error.js';
import type { HostAgents } from '../data-plane.js';
import { serviceOwner } from '../safe-fs.js';
import { CertificateAuthority } from '../tls.js';
import { AgentClient } from './client.js';
import { FleetEtcd, type FleetEtcdRecord } from './fleet-etcd.js';
import { agentBundle, CONTROL_CN, type TlsFiles } from './host-tls.js';

export class AgentFleet implements HostAgents {
  private readonly ca: CertificateAuthority;
  private readonly etcd: FleetEtcd;

  constructor(dataDir: string) {
    this.ca = new CertificateAuthority(dataDir);
    this.etcd = new FleetEtcd(dataDir);
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
    const rec = this.etcd.plan(hosts.map((h) => ({ name: h.name, host: h.address, agentPort: h.agentPort })));
    const members = rec.members.map((m) => ({ name: m.name, host: m.host }));
    // Every member started first: each answers only once a majority runs.
    for (const m of rec.members) {
      signal?.throwIfAborted();
      await this.withAgent(m.host, m.agentPort, (c) =>
        c.joinEtcdFleet({
          name: m.name,
          token: rec.token,
          members,
          clientPort: rec.clientPort,
          peerPort: rec.peerPort,
          rootPassword: rec.rootPassword,
        }),
      ).catch((e: unknown) => {
        throw new AppError('FLEET_ETCD_CONFLICT', {
          args: [`host ${m.name} (${m.host}:${m.agentPort}) refused or could not be asked: ${(e as Error).message}`],
        });
      });
    }
    // Then each waits for its member (the first switches authentication on).
    for (const m of rec.members) {
      signal?.throwIfAborted();
      await this.withAgent(m.host, m.agentPort, (c) => c.ensureEtcd());
    }
    return this.membersOf(rec);
  }

  etcdMembers(): Promise<EtcdMemberState[]> {
    const rec = this.etcd.record();
    return rec ? this.membersOf(rec) : Promise.resolve([]);
  }

  private membersOf(rec: FleetEtcdRecord): Promise<EtcdMemberState[]> {
    return Promise.all(
      rec.members.map(async (m) => {
        const endpoint = `https://${m.host}:${rec.clientPort}`;
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
