/**
 * A cluster's router (D24): one HAProxy 2.6 process per cluster, so creating or deleting a
 * cluster never reloads another's. `haproxyConfig` writes its configuration, `haproxyArgs`
 * its command line, and `HaproxyRuntime` drives its runtime API (a unix socket) to put
 * members into and out of the server slots without a reload.
 *
 * Two endpoints, both on the cluster's port:
 * - read-write at `127.1.c.1` (`listen rw`): every member is a server, checked with
 *   `/primary` on its Patroni REST API, which answers 200 only on the member whose Patroni
 *   holds the leader key; so the endpoint follows failovers, and a primary whose Patroni died
 *   (its REST port dark, trap 7) is never routed to even while it still accepts writes. (It
 *   answers from Patroni's own view: after a postmaster crash the old leader still answers 200
 *   until its next HA loop gives the key up, up to `loop_wait`; no router check can be faster);
 * - read-only at `127.1.c.2` (`frontend ro`): balanced over the members that answer
 *   `/replica?lag=<bytes>` (running as a replica, not too far behind), and, when none does, the
 *   read-write backend, so reads go on (on the primary) while a cluster has no healthy
 *   replica. A second backend rather than `backup` servers: a backup server in the replicas'
 *   backend would be checked with the replicas' check (which the primary fails), and `track`
 *   cannot follow `server-template` slots one by one; reusing the read-write backend costs no
 *   check at all.
 *
 * Checks: `inter 500 fastinter 250 downinter 500 rise 1 fall 2`. Once the old leader's
 * Patroni gives the key up its check answers 503 (or nothing, when its Patroni is gone), and
 * it is marked down within 2 checks at `fastinter` (≤ 0.5 s); the new primary is marked up at
 * its first 200 (≤ 0.5 s after its promotion, `downinter`), against 2–6 s with HAProxy's
 * defaults (`inter 2000 fall 3 rise 2`) or Patroni's sample (`inter 3s`). Each check runs a
 * query on its member (patroni-ops.md): both backends check every member, so 4 checks a
 * second per member; their CPU at 20 clusters is still to be measured (issue 15).
 * `on-marked-down shutdown-sessions` cuts the sessions of a member marked down, so clients
 * reconnect to the new primary instead of waiting on a dead one.
 *
 * Connecting: `timeout connect 250ms`, `retries 3`, `option redispatch 1`. While the old
 * primary is still marked up its port refuses, and HAProxy retries a refused connection after
 * a turn-around of min(timeout connect, 1 s) on the same server, but at once on another one
 * (redispatch on every retry). With `timeout connect 2s` and no redispatch, a client that
 * connected just after the crash was held on the dead server for 3 × 1 s, past its own 2 s
 * connect timeout: the first write after a killed postmaster came 4.2–4.3 s after the kill in
 * 7 runs of 9 (2.1 and 6.2 s in the other two; test/e2e/patroni-failover.test.ts). With these
 * settings a connection gives up on the dead server within ~0.75 s, or moves to the new
 * primary as soon as it is up: 2.2, 2.2, 2.4 and 4.35 s in 4 runs (the last where the old
 * leader's Patroni loop noticed the crash late). A connect on loopback or a LAN takes well
 * under a millisecond; a lost SYN costs a retry.
 *
 * Client and server timeouts are 1 h: database sessions sit idle for long. The checks are
 * `OPTIONS` requests, as in Patroni's sample: Patroni answers those with the status alone (the
 * same decision as GET); with `GET` it writes a JSON body that HAProxy does not read, and every
 * check logged a `ConnectionResetError` traceback in Patroni's log (seen in
 * test/e2e/patroni-failover.test.ts).
 *
 * Process: `haproxy -db -f <cfg>`, in the foreground, one process, no pidfile, no daemon and
 * no master: the agent started it, knows its PID and supervises it (D23). Nothing here needs
 * a reload (`-Ws`'s master would only matter for reloads): members come and go through the
 * runtime API. The stats socket is mode 600 under the caller's directory (the service user's
 * own), at admin level: only that user and root can drive the router.
 */
import { connect, isIPv4 } from 'node:net';
import { join } from 'node:path';
import { memberName, PATRONI_REST_PORT } from './patroni-config.js';

/** HAProxy of Debian's `haproxy` package. */
export const HAPROXY_BIN = '/usr/sbin/haproxy';
/** Server slots per backend: members 1..16 can be added at run time without a reload. */
export const ROUTER_SLOTS = 16;
/** `/replica?lag=`: a replica this many bytes behind (or more) takes no reads; default 1 MiB. */
export const DEFAULT_MAX_REPLICA_LAG = 1024 * 1024;
/** The stats socket's name in the caller's directory. */
export const ROUTER_SOCKET = 'admin.sock';

/**
 * The backend names in the configuration. The runtime API names a server `<backend>/<server>`:
 * a member the configuration was written with is `node<i>` (`serverName`), a free slot a
 * `server-template` made is `m<i>` (HAProxy names template servers `<prefix><number>`); both
 * stand for ordinal i (`slotOrdinal`). A member added at run time keeps its slot's name `m<i>`
 * until the router next starts, from a configuration that names it `node<i>`.
 */
export const RouterBackend = { READ_WRITE: 'rw', READ_ONLY: 'ro_replicas' } as const;
export type RouterBackendName = (typeof RouterBackend)[keyof typeof RouterBackend];

/** One member as the router sees it. */
export interface RouterMember {
  ordinal: number;
  /** its PostgreSQL address and port */
  host: string;
  port: number;
  /** its Patroni REST address; port default 8008 */
  restHost: string;
  restPort?: number;
}

/** Health-check timings, in milliseconds, and rise/fall counts. */
export interface RouterChecks {
  inter: number;
  fastinter: number;
  downinter: number;
  rise: number;
  fall: number;
}
export const ROUTER_CHECKS: Readonly<RouterChecks> = Object.freeze({ inter: 500, fastinter: 250, downinter: 500, rise: 1, fall: 2 });

export interface RouterSpec {
  /** shown in the file's header */
  cluster: string;
  /** read-write endpoint (`127.1.c.1`) */
  rwHost: string;
  /** read-only endpoint (`127.1.c.2`) */
  roHost: string;
  /** the cluster's port (both endpoints) */
  port: number;
  /** the members known now; the other slots up to `slots` start disabled */
  members: readonly RouterMember[];
  /** the directory of the stats socket (the service user's, 0700) */
  runDir: string;
  slots?: number;
  maxReplicaLagBytes?: number;
  checks?: Partial<RouterChecks>;
  /** client and server idle timeouts; default 1h */
  sessionTimeout?: string;
  maxconn?: number;
}

function address(what: string, a: string): string {
  if (!isIPv4(a) || a === '0.0.0.0') throw new Error(`${what} must be one IPv4 address, never a wildcard or a name: ${JSON.stringify(a)}`);
  return a;
}

/** The stats socket of a router whose run directory is `runDir`. */
export function routerSocketPath(runDir: string): string {
  return join(runDir, ROUTER_SOCKET);
}

/** The argv (after the binary) that runs a router in the foreground, supervised by PID. */
export function haproxyArgs(configPath: string): string[] {
  return ['-db', '-f', configPath];
}

/** A server name from a member's ordinal (the same as the Patroni member's name). */
export const serverName = (ordinal: number): string => memberName(ordinal);

/** The ordinal a server of the router stands for: `node<i>` (a configured member) or `m<i>` (a template slot); null for another name. */
export function slotOrdinal(server: string): number | null {
  const m = /^(?:node|m)([1-9]\d{0,2})$/.exec(server);
  return m ? Number(m[1]) : null;
}

/** The router's configuration file. */
export function haproxyConfig(s: RouterSpec): string {
  const slots = s.slots ?? ROUTER_SLOTS;
  const c = { ...ROUTER_CHECKS, ...(s.checks ?? {}) };
  const lag = s.maxReplicaLagBytes ?? DEFAULT_MAX_REPLICA_LAG;
  const timeout = s.sessionTimeout ?? '1h';
  if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) throw new Error(`router port must be 1-65535, not ${s.port}`);
  if (/[\s#]/.test(s.runDir)) throw new Error(`router run directory may not contain blanks or '#': ${JSON.stringify(s.runDir)}`);
  const byOrdinal = new Map<number, RouterMember>();
  for (const m of s.members) {
    if (byOrdinal.has(m.ordinal)) throw new Error(`two members with ordinal ${m.ordinal}`);
    address('member address', m.host);
    address('member REST address', m.restHost);
    byOrdinal.set(m.ordinal, m);
  }
  const top = Math.max(slots, ...byOrdinal.keys());

  // Known members as servers of their own; the free ordinals as disabled template slots (each
  // run of consecutive free ordinals one `server-template`), whose address the runtime API
  // sets when a member arrives. A slot's placeholder address is never used while it is disabled.
  const servers = (): string[] => {
    const out: string[] = [];
    let free: number[] = [];
    const flush = (): void => {
      if (free.length)
        out.push(`    server-template m ${free[0]}-${free[free.length - 1]} 127.0.0.1:${s.port} disabled check port ${PATRONI_REST_PORT}`);
      free = [];
    };
    for (let i = 1; i <= top; i++) {
      const m = byOrdinal.get(i);
      if (!m) {
        free.push(i);
        continue;
      }
      flush();
      out.push(`    server ${serverName(i)} ${m.host}:${m.port} check addr ${m.restHost} port ${m.restPort ?? PATRONI_REST_PORT}`);
    }
    flush();
    return out;
  };

  return [
    `# The router of cluster ${s.cluster.replace(/[^\w.-]/g, '_')} (D24), written by dwsbox: do not edit.`,
    '# Run in the foreground (haproxy -db -f <this file>) as the dwsbox service user; members come and go through the stats socket.',
    'global',
    `    maxconn ${s.maxconn ?? 1000}`,
    '    nbthread 1',
    `    stats socket ${routerSocketPath(s.runDir)} mode 600 level admin`,
    '    stats timeout 10s',
    '',
    'defaults',
    '    mode tcp',
    '    timeout connect 250ms',
    '    retries 3',
    '    option redispatch 1',
    `    timeout client ${timeout}`,
    `    timeout server ${timeout}`,
    '    timeout check 1s',
    `    default-server inter ${c.inter} fastinter ${c.fastinter} downinter ${c.downinter} rise ${c.rise} fall ${c.fall} on-marked-down shutdown-sessions`,
    '',
    `listen ${RouterBackend.READ_WRITE}`,
    `    bind ${address('read-write endpoint', s.rwHost)}:${s.port}`,
    '    option httpchk OPTIONS /primary',
    '    http-check expect status 200',
    '    balance first',
    ...servers(),
    '',
    'frontend ro',
    `    bind ${address('read-only endpoint', s.roHost)}:${s.port}`,
    `    use_backend ${RouterBackend.READ_WRITE} if { nbsrv(${RouterBackend.READ_ONLY}) eq 0 }`,
    `    default_backend ${RouterBackend.READ_ONLY}`,
    '',
    `backend ${RouterBackend.READ_ONLY}`,
    `    option httpchk OPTIONS /replica?lag=${lag}`,
    '    http-check expect status 200',
    '    balance leastconn',
    ...servers(),
    '',
  ].join('\n');
}

/** One server's row of `show servers state`. */
export interface ServerState {
  backend: string;
  server: string;
  addr: string;
  port: number;
  /** 0 stopped (down), 1 starting, 2 running (up), 3 stopping */
  opState: number;
  /** HAProxy's admin flags; non-zero maintenance bits mean disabled */
  adminState: number;
  checkAddr: string;
  checkPort: number;
  /** in maintenance (disabled): no connection goes to it, it is not checked */
  maintenance: boolean;
  /** up and not in maintenance: takes connections */
  up: boolean;
}

/**
 * HAProxy 2.6's SRV_ADMF_MAINT: forced (0x01), inherited (0x02), resolution failure (0x20).
 * Not 0x04 (configured `disabled`): that bit stays as a record after `enable server`.
 */
const MAINT_BITS = 0x01 | 0x02 | 0x20;

/**
 * The runtime API of one router (its stats socket), one command per connection (HAProxy's
 * non-interactive mode: it answers and closes). Only the service user and root may connect.
 */
export class HaproxyRuntime {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 5000,
  ) {}

  /** Send one command; returns HAProxy's answer (text). Throws when the socket cannot be reached or is silent past the timeout. */
  command(cmd: string): Promise<string> {
    if (/[\n\r;]/.test(cmd))
      return Promise.reject(new Error(`one runtime command at a time, without newlines or ';': ${JSON.stringify(cmd)}`));
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const sock = connect(this.socketPath);
      sock.setTimeout(this.timeoutMs, () =>
        sock.destroy(new Error(`HAProxy runtime API at ${this.socketPath}: no answer to "${cmd}" in ${this.timeoutMs} ms`)),
      );
      sock.on('connect', () => sock.end(`${cmd}\n`));
      sock.on('data', (d: Buffer) => chunks.push(d));
      sock.on('error', reject);
      sock.on('close', (hadError) => {
        if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
      });
    });
  }

  /** A command whose success is an empty answer (enable/disable); anything else is HAProxy's error text. */
  private async quiet(cmd: string): Promise<void> {
    const r = (await this.command(cmd)).trim();
    if (r) throw new Error(`HAProxy refused "${cmd}": ${r}`);
  }

  /**
   * Point a server slot at a member: its PostgreSQL address and port, and its health check at
   * the member's REST address. The slot stays as it was (disabled or not): `enableServer` next.
   */
  async setServer(
    backend: RouterBackendName,
    server: string,
    to: { addr: string; port: number; checkAddr: string; checkPort?: number },
  ): Promise<void> {
    address('server address', to.addr);
    address('check address', to.checkAddr);
    const a = await this.command(`set server ${backend}/${server} addr ${to.addr} port ${to.port}`);
    if (!/changed|no need to change/i.test(a)) throw new Error(`HAProxy refused to set ${backend}/${server}'s address: ${a.trim()}`);
    const b = await this.command(`set server ${backend}/${server} check-addr ${to.checkAddr} port ${to.checkPort ?? PATRONI_REST_PORT}`);
    if (b.trim() && !/changed|no need to change/i.test(b))
      throw new Error(`HAProxy refused to set ${backend}/${server}'s check address: ${b.trim()}`);
  }

  /**
   * Take a server out of maintenance: it is checked and routed to once a check passes, never
   * before. HAProxy 2.6 marks a server leaving maintenance up at once ("UP/READY (leaving forced
   * maintenance)", until its checks fail: seen routing to a member whose PostgreSQL was not
   * running yet), and a health state set during maintenance does not survive the enable; so the
   * server leaves maintenance with weight 0 (no connection goes to it), is marked down, and gets
   * its configured weight back: its first passing check brings it up.
   */
  async enableServer(backend: RouterBackendName, server: string): Promise<void> {
    const s = `${backend}/${server}`;
    await this.quiet(`set weight ${s} 0`);
    await this.quiet(`enable server ${s}`);
    await this.quiet(`set server ${s} health down`);
    await this.quiet(`set weight ${s} 100%`);
  }

  /** Put a server into maintenance: no new connections, no checks. */
  disableServer(backend: RouterBackendName, server: string): Promise<void> {
    return this.quiet(`disable server ${backend}/${server}`);
  }

  /** Add a member to both backends (its server or slot, `slotOrdinal`), enabled. Throws when the router has no slot for it. */
  async addMember(m: RouterMember): Promise<void> {
    const r = await this.syncMembers([m], { only: [m.ordinal] });
    if (r.missing.length) throw new Error(`the router at ${this.socketPath} has no server slot for member ${m.ordinal}`);
  }

  /** Take a member out of both backends (its slot stays, disabled, for a later member). */
  async removeMember(ordinal: number): Promise<void> {
    await this.syncMembers([], { only: [ordinal] });
  }

  /**
   * Make both backends route to exactly `members`: each member's server (or free slot) pointed
   * at its addresses and enabled, every other member's server put into maintenance. Idempotent:
   * a server already as wanted gets no command. With `only`, just those ordinals are touched.
   * Returns what changed and the members the router has no server for (past its slots: the
   * router must start again, from a configuration naming them, to route to them).
   */
  async syncMembers(
    members: readonly RouterMember[],
    o: { only?: readonly number[] } = {},
  ): Promise<{ enabled: number[]; disabled: number[]; missing: number[] }> {
    const want = new Map(members.map((m) => [m.ordinal, m]));
    const touch = (ordinal: number): boolean => !o.only || o.only.includes(ordinal);
    const enabled = new Set<number>();
    const disabled = new Set<number>();
    const missing = new Set<number>();
    const state = await this.serversState();
    for (const b of [RouterBackend.READ_WRITE, RouterBackend.READ_ONLY]) {
      const slots = new Map<number, ServerState>();
      for (const r of state.filter((x) => x.backend === b)) {
        const ordinal = slotOrdinal(r.server);
        if (ordinal !== null) slots.set(ordinal, r);
      }
      for (const m of members) {
        if (!touch(m.ordinal)) continue;
        const r = slots.get(m.ordinal);
        if (!r) {
          missing.add(m.ordinal);
          continue;
        }
        const checkPort = m.restPort ?? PATRONI_REST_PORT;
        if (r.addr !== m.host || r.port !== m.port || r.checkAddr !== m.restHost || r.checkPort !== checkPort)
          await this.setServer(b, r.server, { addr: m.host, port: m.port, checkAddr: m.restHost, checkPort });
        if (r.maintenance) {
          await this.enableServer(b, r.server);
          enabled.add(m.ordinal);
        }
      }
      for (const [ordinal, r] of slots) {
        if (want.has(ordinal) || !touch(ordinal) || r.maintenance) continue;
        await this.disableServer(b, r.server);
        disabled.add(ordinal);
      }
    }
    const sorted = (x: Set<number>): number[] => [...x].sort((a, b) => a - b);
    return { enabled: sorted(enabled), disabled: sorted(disabled), missing: sorted(missing) };
  }

  /** `show servers state`, parsed (every backend, or one). */
  async serversState(backend?: RouterBackendName): Promise<ServerState[]> {
    const text = await this.command(backend ? `show servers state ${backend}` : 'show servers state');
    const lines = text.split('\n').filter((l) => l.trim());
    const header = lines.find((l) => l.startsWith('# '));
    if (!header) throw new Error(`HAProxy's "show servers state" answered without a header: ${text.slice(0, 200)}`);
    const cols = header.slice(2).trim().split(/\s+/);
    const col = (row: string[], name: string): string => row[cols.indexOf(name)] ?? '';
    return lines
      .filter((l) => !l.startsWith('#') && /^\d+ /.test(l))
      .map((l) => {
        const row = l.trim().split(/\s+/);
        const opState = Number(col(row, 'srv_op_state'));
        const adminState = Number(col(row, 'srv_admin_state'));
        return {
          backend: col(row, 'be_name'),
          server: col(row, 'srv_name'),
          addr: col(row, 'srv_addr'),
          port: Number(col(row, 'srv_port')),
          opState,
          adminState,
          checkAddr: col(row, 'srv_check_addr'),
          checkPort: Number(col(row, 'srv_check_port')),
          maintenance: (adminState & MAINT_BITS) !== 0,
          up: opState === 2 && (adminState & MAINT_BITS) === 0,
        };
      });
  }
}
