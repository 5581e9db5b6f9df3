/**
 * The host's etcd member (D23), run by the agent as a unit under the dwsbox service user (D32:
 * shared services never run as root or as a tenant). The agent keeps etcd's `root` password
 * (`etcd-root`, 0600) and gives each Patroni scope its own etcd user limited to its prefix, so
 * the credentials a cluster's members hold cannot touch another cluster's keys.
 *
 * Where it listens: `127.2.0.1` (subnet 0 of the address plan is never a cluster's, D24), on
 * 2379/2380 when free, else on free ports; chosen once and kept in `etcd.json`, so members
 * configured with the endpoint keep reaching it after any restart.
 */
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canListen } from '../local/probe.js';
import { ensureServiceUser } from '../project-users.js';
import { ETCD_BIN, EtcdAdmin, etcdArgs } from '../patroni/etcd.js';
import type { Supervisor, UnitSpec } from './supervisor.js';

export const ETCD_UNIT = 'etcd';
export const ETCD_HOST = '127.2.0.1';
/** How often the agent defragments the host's etcd. */
export const DEFRAG_EVERY_MS = 6 * 3600_000;

interface EtcdPlace {
  clientHost: string;
  clientPort: number;
  peerPort: number;
}

export class HostEtcd {
  private ensuring: Promise<string> | null = null;
  private admin: EtcdAdmin | null = null;

  constructor(
    private readonly dir: string,
    private readonly supervisor: Supervisor,
  ) {}

  /** etcd runs, with authentication on; returns its client endpoint (`http://host:port`). */
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
    if (!this.admin || this.supervisor.get(ETCD_UNIT)?.status !== 'running') return false;
    await this.admin.defragment();
    return true;
  }

  private async doEnsure(): Promise<string> {
    const place = await this.place();
    const endpoint = `http://${place.clientHost}:${place.clientPort}`;
    const user = await ensureServiceUser();
    const data = join(this.dir, 'etcd');
    if (!existsSync(data)) mkdirSync(data, { mode: 0o700 });
    chownSync(data, user.uid, user.gid);
    const spec: UnitSpec = {
      name: ETCD_UNIT,
      kind: 'etcd',
      argv: [ETCD_BIN, ...etcdArgs({ name: 'dwsbox', dataDir: data, ...place })],
      uid: user.uid,
      gid: user.gid,
      env: { PATH: '/usr/bin:/bin' },
      log: join(this.dir, 'logs', `${ETCD_UNIT}.log`),
      stopSignal: 'SIGTERM',
      stopTimeoutMs: 10_000,
    };
    await this.supervisor.ensure(spec);
    this.admin ??= new EtcdAdmin(endpoint, this.rootPassword());
    await this.admin.waitReady();
    await this.admin.enableAuth();
    return endpoint;
  }

  private rootPassword(): string {
    const file = join(this.dir, 'etcd-root');
    if (!existsSync(file)) writeAtomic(file, randomBytes(24).toString('base64url'));
    return readFileSync(file, 'utf8').trim();
  }

  private async place(): Promise<EtcdPlace> {
    const file = join(this.dir, 'etcd.json');
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as EtcdPlace;
    } catch {
      /* first start: choose */
    }
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
