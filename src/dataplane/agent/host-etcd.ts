/**
 * The host's etcd member (D23), run by the agent as a unit under the dwsbox service user (D32:
 * shared services never run as root or as a tenant). The agent keeps etcd's `root` password
 * (`etcd-root`, 0600) and gives each Patroni scope its own etcd user limited to its prefix, so
 * the credentials a cluster's members hold cannot touch another cluster's keys.
 *
 * Where it listens: `127.2.0.1` (subnet 0 of the address plan is never a cluster's, D24), on
 * 2379/2380 when free, else on free ports; chosen once and kept in `etcd.json`, so members
 * configured with the endpoint keep reaching it after any restart.
 *
 * Or, on several hosts (issue 18, D27), the host's member of the fleet's etcd: three members on
 * three hosts, each on its host's address, clients and peers over TLS with the host's
 * certificate from the dwsbox CA (peers must show one of the same CA). The control plane asks
 * the agents of the three hosts to join (`joinFleet`, each starts its member), then each to
 * `ensure` (its member answers once two of three run; the first switches authentication on
 * with the fleet's root password, which every member's agent keeps).
 */
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { mkdirSafe, rootWithGroupOf, writeFileSafe } from '../safe-fs.js';
import { canListen } from '../local/probe.js';
import { ensureServiceUser } from '../project-users.js';
import { ETCD_BIN, EtcdAdmin, etcdArgs, type EtcdTarget } from '../patroni/etcd.js';
import { agentBundle } from './host-tls.js';
import type { Supervisor, UnitSpec } from './supervisor.js';

export const ETCD_UNIT = 'etcd';
export const ETCD_HOST = '127.2.0.1';
/** How often the agent defragments the host's etcd. */
export const DEFRAG_EVERY_MS = 6 * 3600_000;

interface EtcdPlace {
  clientHost: string;
  clientPort: number;
  peerPort: number;
  /** a fleet's member (issue 18): its name in the fleet, the fleet's token and members; absent for the host's own etcd */
  fleet?: FleetMember;
}

/** The CN of every fleet member's certificate: the one name a peer may show (`--peer-cert-allowed-cn`). */
export const FLEET_PEER_CN = 'dwsbox-etcd-peer';

/** A fleet member's client URL. */
export const fleetUrl = (host: string, clientPort: number): string => `https://${host}:${clientPort}`;

/** What the control plane asks of a host's agent to make its etcd a member of the fleet's. */
export interface FleetMember {
  /** this member's name (the host's) */
  name: string;
  /** the fleet's token (etcd's initial cluster token) */
  token: string;
  /** every member, this one's among them */
  members: { name: string; host: string }[];
}

/** The control plane's request to join: the fleet, its ports and root password, the member's certificate (PEM). */
export type FleetJoin = FleetMember & { clientPort: number; peerPort: number; rootPassword: string; cert: string; key: string };

/** A refusal the agent answers with its status code (a joined host asked to join another fleet: 409). */
export class EtcdRefusal extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export class HostEtcd {
  private ensuring: Promise<string> | null = null;
  private admin: EtcdAdmin | null = null;

  constructor(
    private readonly dir: string,
    private readonly supervisor: Supervisor,
    /** the agent's listener for the control plane: the host's address and its bundle (several hosts) */
    private readonly listen?: { host: string; bundleDir: string },
  ) {}

  /**
   * Make this host's etcd a member of the fleet's and start it (not waiting: it answers once a
   * majority runs). Idempotent for the same fleet; refused (409) when this host's etcd is
   * another's, or keeps another root password.
   */
  async joinFleet(m: FleetJoin): Promise<{ endpoint: string }> {
    const listen = this.listening();
    const me = m.members.find((x) => x.name === m.name);
    if (me?.host !== listen.host)
      throw new EtcdRefusal(400, `this agent listens on ${listen.host}: member ${m.name} of the fleet etcd must be at that address`);
    const place: EtcdPlace = {
      clientHost: listen.host,
      clientPort: m.clientPort,
      peerPort: m.peerPort,
      fleet: { name: m.name, token: m.token, members: m.members },
    };
    const had = this.readPlace();
    if (had && JSON.stringify(had) !== JSON.stringify(place))
      throw new EtcdRefusal(
        409,
        had.fleet
          ? `this host's etcd is already member ${had.fleet.name} of fleet ${had.fleet.token}`
          : "this host's etcd already runs on its own",
      );
    const rootFile = join(this.dir, 'etcd-root');
    if (existsSync(rootFile) && readFileSync(rootFile, 'utf8').trim() !== m.rootPassword)
      throw new EtcdRefusal(409, "this host's etcd keeps another root password");
    if (!had) {
      writeAtomic(rootFile, m.rootPassword);
      writeAtomic(join(this.dir, 'etcd.json'), JSON.stringify(place));
    }
    // The member's own certificate (CN FLEET_PEER_CN, the host's address), made by the control
    // plane for etcd alone: the service user etcd runs as never holds the agent's own key.
    // Root's, readable by the service user's group, written without following any link.
    const user = await ensureServiceUser();
    const tls = this.tlsFiles();
    mkdirSafe(dirname(tls.cert), rootWithGroupOf(user), 0o750);
    writeFileSafe(tls.cert, m.cert, rootWithGroupOf(user), 0o640);
    writeFileSafe(tls.key, m.key, rootWithGroupOf(user), 0o640);
    writeFileSafe(tls.ca, readFileSync(agentBundle(listen.bundleDir).ca), rootWithGroupOf(user), 0o644);
    await this.supervisor.ensure(await this.unitSpec(place));
    return { endpoint: this.target(place).urls[0]! };
  }

  /** The agent's listener for the control plane, which a fleet's member needs (its address, its CA). */
  private listening(): { host: string; bundleDir: string } {
    if (!this.listen)
      throw new EtcdRefusal(400, "a member of the fleet's etcd needs an agent that listens for the control plane (--listen, --bundle)");
    return this.listen;
  }

  private tlsFiles(): { cert: string; key: string; ca: string } {
    const dir = join(this.dir, 'etcd-tls');
    return { cert: join(dir, 'member.crt'), key: join(dir, 'member.key'), ca: join(dir, 'ca.crt') };
  }

  /** etcd runs, with authentication on; returns its client endpoint (`http://host:port`, `https://` for a fleet's member). */
  ensure(): Promise<string> {
    this.ensuring ??= this.doEnsure().finally(() => (this.ensuring = null));
    return this.ensuring;
  }

  /** The scope's etcd user exists with this password, limited to the scope's prefix. */
  async ensureScope(scope: string, password: string): Promise<{ endpoint: string; username: string }> {
    const endpoint = await this.ensure();
    const c = await this.admin!.ensureScopeUser(scope, password);
    return { endpoint, username: c.username };
  }

  /** What this host's etcd is, and whether its member answers healthy now (a fleet's needs a majority). */
  async status(): Promise<{ endpoint: string | null; fleet: FleetMember | null; unit: string | null; health: string }> {
    const p = this.readPlace();
    if (!p) return { endpoint: null, fleet: null, unit: null, health: 'not configured' };
    const target = this.target(p);
    let health: string;
    try {
      const admin = new EtcdAdmin(target, this.rootPassword(), 2000);
      await admin.waitReady(undefined, 1);
      health = 'healthy';
    } catch (e) {
      health = (e as Error).message;
    }
    return { endpoint: target.urls[0]!, fleet: p.fleet ?? null, unit: this.supervisor.get(ETCD_UNIT)?.status ?? null, health };
  }

  /** The scope's keys, user and role are gone. */
  async removeScope(scope: string): Promise<void> {
    await this.ensure();
    await this.admin!.removeScope(scope);
  }

  /**
   * Defragment etcd's backend when it runs (compaction frees revisions inside the file; only a
   * defragmentation gives the space back under the quota). The agent calls it every
   * `DEFRAG_EVERY_MS`; a member that is down is left alone (the next round tries again).
   */
  async defragment(): Promise<boolean> {
    const place = this.readPlace();
    if (!place || this.supervisor.get(ETCD_UNIT)?.status !== 'running') return false;
    // An agent started again never ensured its etcd (a fleet's member is not asked to): its admin from the place.
    this.admin ??= new EtcdAdmin(this.target(place), this.rootPassword());
    await this.admin.defragment();
    return true;
  }

  private async doEnsure(): Promise<string> {
    const place = this.readPlace() ?? (await this.choosePlace());
    await this.supervisor.ensure(await this.unitSpec(place));
    const target = this.target(place);
    this.admin ??= new EtcdAdmin(target, this.rootPassword());
    // A fleet's member answers once a majority runs: the control plane starts all three first.
    await this.admin.waitReady(undefined, place.fleet ? 60_000 : 30_000);
    await this.admin.enableAuth();
    return target.urls[0]!;
  }

  /** How the agent reaches its own member (a fleet's over TLS, trusting the bundle's CA). */
  private target(p: EtcdPlace): EtcdTarget {
    if (!p.fleet) return { urls: [`http://${p.clientHost}:${p.clientPort}`] };
    return { urls: [fleetUrl(p.clientHost, p.clientPort)], caPem: readFileSync(agentBundle(this.listening().bundleDir).ca, 'utf8') };
  }

  private async unitSpec(place: EtcdPlace): Promise<UnitSpec> {
    const user = await ensureServiceUser();
    const data = join(this.dir, 'etcd');
    if (!existsSync(data)) mkdirSync(data, { mode: 0o700 });
    chownSync(data, user.uid, user.gid);
    const fleet = place.fleet
      ? {
          name: place.fleet.name,
          fleet: { token: place.fleet.token, members: place.fleet.members },
          tls: this.tlsFiles(),
          peerCn: FLEET_PEER_CN,
        }
      : {};
    return {
      name: ETCD_UNIT,
      kind: 'etcd',
      argv: [ETCD_BIN, ...etcdArgs({ name: 'dwsbox', dataDir: data, ...place, ...fleet })],
      uid: user.uid,
      gid: user.gid,
      env: { PATH: '/usr/bin:/bin' },
      log: join(this.dir, 'logs', `${ETCD_UNIT}.log`),
      stopSignal: 'SIGTERM',
      stopTimeoutMs: 10_000,
    };
  }

  private rootPassword(): string {
    const file = join(this.dir, 'etcd-root');
    if (!existsSync(file)) {
      if (this.readPlace()?.fleet) throw new EtcdRefusal(409, "this host's member of the fleet's etcd lost its root password (etcd-root)");
      writeAtomic(file, randomBytes(24).toString('base64url'));
    }
    return readFileSync(file, 'utf8').trim();
  }

  private readPlace(): EtcdPlace | null {
    try {
      return JSON.parse(readFileSync(join(this.dir, 'etcd.json'), 'utf8')) as EtcdPlace;
    } catch {
      return null;
    }
  }

  /** The host's own etcd, on first start: loopback, the usual ports when free. */
  private async choosePlace(): Promise<EtcdPlace> {
    const file = join(this.dir, 'etcd.json');
    const ports: number[] = [];
    for (const want of [2379, 2380]) {
      let p = want;
      while (ports.includes(p) || !(await canListen(ETCD_HOST, p))) p = 20000 + Math.floor(Math.random() * 10000);
      ports.push(p);
    }
    const place = { clientHost: ETCD_HOST, clientPort: ports[0]!, peerPort: ports[1]! };
    writeAtomic(file, JSON.stringify(place));
    return place;
  }
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}
