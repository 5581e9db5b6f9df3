/**
 * The fleet's etcd (issue 18, D27): three members on three hosts, run by those hosts' agents
 * (`host-etcd.ts`, `joinFleet`), clients and peers over TLS with the hosts' certificates of the
 * dwsbox CA. The control plane keeps what it formed in `<data-dir>/fleet/etcd.json` (root's,
 * 0600: the members, their ports, the token and etcd's root password) and, once formed, new
 * clusters' Patroni scopes live there (`ScopeDcs`): each Patroni member lists all three members,
 * so losing one changes nothing and losing two leaves the primary to Patroni's failsafe mode.
 * Clusters made before keep the DCS they were made on (their `ha.json` says which).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { AppError } from '../../errors/app-error.js';
import { EtcdAdmin, type EtcdTarget } from '../patroni/etcd.js';
import type { ScopeDcs } from '../patroni/ha-cluster.js';
import { mkdirSafe, readFileSafe, serviceOwner, writeFileSafe } from '../safe-fs.js';
import { CertificateAuthority } from '../tls.js';
import { fleetUrl } from './host-etcd.js';

/** The ports every member listens on, on its host's address (etcd's usual ones; the packaged etcd.service stays disabled, D23). */
export const FLEET_CLIENT_PORT = 2379;
export const FLEET_PEER_PORT = 2380;

export interface FleetEtcdRecord {
  /** etcd's initial cluster token: `fleet-<hex>` */
  token: string;
  clientPort: number;
  peerPort: number;
  rootPassword: string;
  /** the member hosts: etcd member name = host name */
  members: { name: string; host: string; agentPort: number }[];
  /** when every member answered, authentication on; null while a form has not finished (no cluster uses it yet) */
  formedAt: string | null;
}

export class FleetEtcd implements ScopeDcs {
  private readonly file: string;
  private readonly ca: CertificateAuthority;
  private admin: EtcdAdmin | null = null;

  constructor(private readonly dataDir: string) {
    this.file = join(dataDir, 'fleet', 'etcd.json');
    this.ca = new CertificateAuthority(dataDir);
  }

  /** What was planned (formed or not), or null. */
  record(): FleetEtcdRecord | null {
    const text = readFileSafe(this.file);
    return text ? (JSON.parse(text) as FleetEtcdRecord) : null;
  }

  /** Whether the fleet's etcd was formed (every member answered): new clusters keep their state there. */
  formed(): boolean {
    return !!this.record()?.formedAt;
  }

  /** Every member answered: the fleet is formed. */
  markFormed(rec: FleetEtcdRecord): void {
    this.write({ ...rec, formedAt: new Date().toISOString() });
  }

  private write(rec: FleetEtcdRecord): void {
    mkdirSafe(join(this.dataDir, 'fleet'), serviceOwner(), 0o700);
    writeFileSafe(this.file, JSON.stringify(rec, null, 2), serviceOwner(), 0o600);
  }

  /**
   * The record of a fleet on these hosts: the existing one when it names the same hosts (a form
   * asked again resumes it), a new one (new token and root password) when none exists; a
   * `CONFLICT` when another fleet was formed.
   */
  plan(members: { name: string; host: string; agentPort: number }[]): FleetEtcdRecord {
    const had = this.record();
    const key = (m: readonly { name: string; host: string }[]): string =>
      JSON.stringify([...m].map((x) => [x.name, x.host]).sort((a, b) => a[0]!.localeCompare(b[0]!)));
    if (had) {
      if (key(had.members) === key(members)) {
        // the same hosts; an agent's port may have changed since
        const resumed = {
          ...had,
          members: had.members.map((m) => ({ ...m, agentPort: members.find((x) => x.name === m.name)!.agentPort })),
        };
        this.write(resumed);
        return resumed;
      }
      throw new AppError('FLEET_ETCD_CONFLICT', {
        args: [
          `it was already ${had.formedAt ? 'formed' : 'begun'} on ${had.members.map((m) => m.name).join(', ')}; name those hosts (a form asked again resumes), not others`,
        ],
      });
    }
    const rec: FleetEtcdRecord = {
      token: `fleet-${randomBytes(4).toString('hex')}`,
      clientPort: FLEET_CLIENT_PORT,
      peerPort: FLEET_PEER_PORT,
      rootPassword: randomBytes(24).toString('base64url'),
      members,
      formedAt: null,
    };
    // Written before any agent is asked: a form resumed after a crash uses the same secret.
    this.write(rec);
    return rec;
  }

  private formedRecord(): FleetEtcdRecord {
    const rec = this.record();
    if (!rec?.formedAt)
      throw new AppError('ENGINE_COMMAND_FAILED', { args: ["the fleet's etcd", 'it was never formed (dwsbox hosts etcd)'] });
    return rec;
  }

  private root(): EtcdAdmin {
    const rec = this.formedRecord();
    return (this.admin ??= new EtcdAdmin(this.targetOf(rec), rec.rootPassword));
  }

  private targetOf(rec: FleetEtcdRecord): EtcdTarget {
    return { urls: rec.members.map((m) => fleetUrl(m.host, rec.clientPort)), caPem: this.ca.caPem() };
  }

  async ensureScope(scope: string, password: string): Promise<{ target: EtcdTarget; username: string; caFile: string }> {
    const c = await this.root().ensureScopeUser(scope, password);
    // The CA's certificate is world-readable in a traversable directory: each member (its project's user) trusts it.
    return { target: this.targetOf(this.formedRecord()), username: c.username, caFile: this.ca.caFile };
  }

  target(): Promise<EtcdTarget> {
    return Promise.resolve(this.targetOf(this.formedRecord()));
  }

  async removeScope(scope: string): Promise<void> {
    await this.root().removeScope(scope);
  }
}
