/**
 * etcd, the DCS of the Patroni engine (D23): the command line of a single etcd 3.4 member, and
 * a small client of etcd's v3 JSON gateway (`POST /v3/...`, keys and values base64) for what
 * dwsbox itself does there: switch authentication on, give each Patroni scope a user of its
 * own limited to the scope's prefix (D32: one cluster's credentials cannot change another's
 * configuration), remove a scope, defragment. Patroni talks to etcd itself (its `etcd3:`
 * section); this client never touches a scope's keys except to remove them.
 *
 * Why the settings (patroni-ops.md, "Read in the sources"): etcd 3.4 keeps all history by
 * default (`--auto-compaction-retention 0`) and stops every write at its 2 GB default quota
 * ("database space exceeded"), and Patroni rewrites each member key every `loop_wait`, so an
 * uncompacted etcd under many clusters fills up and every cluster loses its DCS at once.
 */
import { isIPv4 } from 'node:net';
import { Agent } from 'undici';
import { AppError } from '../../errors/app-error.js';
import { httpCall, type HttpAnswer, type HttpCall } from './http.js';

/** The etcd binary of Debian's `etcd-server`. */
export const ETCD_BIN = '/usr/bin/etcd';

/** Patroni's default namespace: a scope's keys live under `/service/<scope>/`. */
export const PATRONI_NAMESPACE = '/service/';

export interface EtcdSpec {
  /** the member's name (also its cluster token) */
  name: string;
  dataDir: string;
  /** the one address it listens on (client and peer): an IP literal, never a wildcard */
  clientHost: string;
  clientPort: number;
  peerPort: number;
  /** the backend quota; default 512 MiB (`ETCD_QUOTA_BYTES`) */
  quotaBackendBytes?: number;
  /**
   * A member of a fleet (issue 18, D27): every member's name and address (this one's among
   * them), each on the same client and peer ports. Absent: a single-member etcd.
   */
  fleet?: { token: string; members: readonly { name: string; host: string }[] };
  /**
   * Serve clients and peers over TLS with these files (the host's certificate from the dwsbox
   * CA); peers must show a certificate of the same CA. Clients still sign in with a password.
   */
  tls?: { cert: string; key: string; ca: string };
  /** with `tls`: the one CN a peer's certificate may have (the fleet members' own certificates) */
  peerCn?: string;
}

/** Default backend quota: far above what Patroni's keys need once history is compacted, far below 3.4's 2 GB default. */
export const ETCD_QUOTA_BYTES = 512 * 1024 * 1024;
/**
 * Revisions kept by compaction. Revision mode, not periodic: what fills the backend is the
 * number of revisions kept, and Patroni writes up to one revision per member per `loop_wait`
 * (a member key carries its WAL position, so a busy member changes it every loop: 0.5 a
 * second at loop_wait 2), so a time window (periodic) keeps a history that grows with the
 * number of clusters on the host (254 busy clusters of 3 members: up to ~1.4 M revisions in
 * an hour, over a 512 MiB quota), while a revision window bounds it whatever the
 * rate: 3.4 compacts every 5 minutes down to the last N. Patroni only watches from its last
 * read, so a short history is enough; a watcher that falls behind re-reads the keys.
 */
export const ETCD_COMPACTION_REVISIONS = 10_000;

/** The argv (after the binary) of an etcd 3.4 member that listens only on `clientHost`. */
export function etcdArgs(o: EtcdSpec): string[] {
  const ipv4 = (h: string): boolean => isIPv4(h) && h !== '0.0.0.0';
  if (!ipv4(o.clientHost))
    throw new Error(`etcd must listen on one IPv4 address, not ${JSON.stringify(o.clientHost)} (never a wildcard or a name)`);
  const scheme = o.tls ? 'https' : 'http';
  const client = `${scheme}://${o.clientHost}:${o.clientPort}`;
  const peer = `${scheme}://${o.clientHost}:${o.peerPort}`;
  const members = o.fleet?.members ?? [{ name: o.name, host: o.clientHost }];
  if (!members.some((m) => m.name === o.name && m.host === o.clientHost))
    throw new Error(`etcd member ${o.name} is not in its fleet's list`);
  if (!members.every((m) => ipv4(m.host))) throw new Error('etcd peers are IPv4 addresses');
  const tls = o.tls
    ? [
        ...['--cert-file', o.tls.cert, '--key-file', o.tls.key],
        ...['--peer-cert-file', o.tls.cert, '--peer-key-file', o.tls.key, '--peer-trusted-ca-file', o.tls.ca],
        // a peer must show a certificate of the dwsbox CA, made for a fleet member
        '--peer-client-cert-auth',
        ...(o.peerCn ? ['--peer-cert-allowed-cn', o.peerCn] : []),
      ]
    : [];
  return [
    '--name',
    o.name,
    '--data-dir',
    o.dataDir,
    '--listen-client-urls',
    client,
    '--advertise-client-urls',
    client,
    '--listen-peer-urls',
    peer,
    '--initial-advertise-peer-urls',
    peer,
    // Read only when the data directory is new; a restarted member keeps its own.
    '--initial-cluster',
    members.map((m) => `${m.name}=${scheme}://${m.host}:${o.peerPort}`).join(','),
    '--initial-cluster-state',
    'new',
    '--initial-cluster-token',
    `dwsbox-${o.fleet?.token ?? o.name}`,
    ...tls,
    '--auto-compaction-mode',
    'revision',
    '--auto-compaction-retention',
    String(ETCD_COMPACTION_REVISIONS),
    '--quota-backend-bytes',
    String(o.quotaBackendBytes ?? ETCD_QUOTA_BYTES),
    // A member that comes back from a partition asks before it campaigns (3.4's default is off): its
    // higher term then cannot depose a working leader, which would be one more short DCS outage.
    '--pre-vote',
    // 3.4's default keeps 100,000 raft entries in memory before a snapshot; a DCS needs far fewer.
    '--snapshot-count',
    '10000',
    // Every password etcd holds is a random secret dwsbox made (144 bits or more), never a
    // person's: bcrypt's work factor protects nothing there, and at 3.4's default (10) each
    // sign-in cost etcd ~60 ms of CPU, with every Patroni member of the host signing in again
    // after each change of etcd's users (a cluster created or deleted). 4 is etcd's minimum.
    '--bcrypt-cost',
    '4',
    // Patroni must use the v3 API (`etcd3:`); no v2 API and no v2 proxy.
    '--enable-v2=false',
    '--proxy',
    'off',
    '--logger',
    'zap',
    '--log-level',
    'warn',
  ];
}

/** The key prefix of a Patroni scope. */
export function scopePrefix(scope: string): string {
  return `${PATRONI_NAMESPACE}${checkScope(scope)}/`;
}

/** The etcd user (and role) of a Patroni scope. */
export function scopeUser(scope: string): string {
  return `patroni-${checkScope(scope)}`;
}

/** Scopes are dwsbox's names: they become a key prefix and an etcd user, so only a safe alphabet. */
function checkScope(scope: string): string {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(scope))
    throw new Error(`invalid Patroni scope ${JSON.stringify(scope)}: [a-z0-9_-], 1-63 characters`);
  return scope;
}

/** The first key after every key that starts with `prefix` (etcd's `range_end` for a prefix). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i] = b[i]! + 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

const b64 = (s: string | Buffer): string => (typeof s === 'string' ? Buffer.from(s) : s).toString('base64');
const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');

/** gRPC codes etcd's gateway answers with (in the body's `code`). */
export const EtcdCode = {
  INVALID_ARGUMENT: 3,
  FAILED_PRECONDITION: 9,
  PERMISSION_DENIED: 7,
  UNAUTHENTICATED: 16,
} as const;

/** The gRPC code of an etcd call's failure (`details.grpcCode` of the AppError), or undefined. */
export function etcdErrorCode(e: unknown): number | undefined {
  return e instanceof AppError && typeof e.details?.['grpcCode'] === 'number' ? e.details['grpcCode'] : undefined;
}

export interface EtcdCredentials {
  username: string;
  password: string;
}

/**
 * Where an etcd is reached: its client URLs (a fleet's three, issue 18; tried in turn, the one
 * that answered first next time) and, over TLS, the CA its members' certificates come from.
 */
export interface EtcdTarget {
  urls: readonly string[];
  /** PEM of the CA that signed the members' certificates (https URLs) */
  caPem?: string;
}

/** The undici agent that trusts a CA, one per PEM (kept: a new agent per call would open a new connection each time). */
const caAgents = new Map<string, Agent>();
function trusting(caPem: string | undefined): Agent | undefined {
  if (!caPem) return undefined;
  let a = caAgents.get(caPem);
  if (!a) caAgents.set(caPem, (a = new Agent({ connect: { ca: caPem } })));
  return a;
}

/** Calls to whichever of a target's URLs answers (a member that gives no answer is passed over). */
class EtcdWire {
  private readonly urls: string[];
  private readonly dispatcher: Agent | undefined;

  constructor(
    target: string | EtcdTarget,
    readonly timeoutMs: number,
  ) {
    const t = typeof target === 'string' ? { urls: [target] } : target;
    if (!t.urls.length) throw new Error('an etcd client needs at least one URL');
    this.urls = [...t.urls];
    this.dispatcher = trusting(t.caPem);
  }

  /** The URL tried first (the member that answered last). */
  get url(): string {
    return this.urls[0]!;
  }

  async send(c: Omit<HttpCall, 'url' | 'dispatcher'> & { path: string }): Promise<HttpAnswer> {
    let failed: unknown;
    let answered: HttpAnswer | undefined;
    for (let i = 0; i < this.urls.length; i++) {
      const url = this.urls[i]!;
      try {
        const a = await httpCall({ ...c, url: `${url}${c.path}`, timeoutMs: c.timeoutMs ?? this.timeoutMs, dispatcher: this.dispatcher });
        // A member cut off from the majority answers, but cannot serve: the next one may.
        if (a.status >= 500) {
          answered ??= a;
          continue;
        }
        if (i > 0) this.urls.unshift(...this.urls.splice(i, 1));
        return a;
      } catch (e) {
        if (c.signal?.aborted) throw e;
        failed = e;
      }
    }
    if (answered) return answered;
    throw failed;
  }
}

/**
 * A client of an etcd (one endpoint, or a fleet's), as one user (or none while authentication
 * is off). It authenticates on first use and again when etcd says the token expired (simple
 * tokens last `--auth-token-ttl`, 300 s). Every failure is an AppError `ENGINE_COMMAND_FAILED`
 * whose details carry `httpStatus` and etcd's `grpcCode`.
 */
export class EtcdClient {
  private token: string | undefined;
  private readonly wire: EtcdWire;

  constructor(
    /** `http://host:port`, or a fleet's URLs and CA */
    target: string | EtcdTarget,
    private readonly credentials?: EtcdCredentials,
    timeoutMs = 5000,
  ) {
    this.wire = new EtcdWire(target, timeoutMs);
  }

  /** The URL the next call tries first. */
  get endpoint(): string {
    return this.wire.url;
  }

  /** Call a v3 gateway method (`path` like `/v3/kv/put`) as this client's user. */
  async call<T = Record<string, unknown>>(path: string, body: unknown, o: { signal?: AbortSignal | undefined } = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.credentials && !this.token) this.token = await this.authenticate(o.signal);
      const a = await this.wire.send({
        method: 'POST',
        path,
        body,
        headers: this.token ? { authorization: this.token } : {},
        signal: o.signal,
      });
      if (a.status === 200) return (a.json ?? {}) as T;
      const err = etcdError(path, a);
      // An expired or revoked token, or one issued before the last change of etcd's users and
      // roles ("revision of auth store is old": another cluster's scope user made or removed
      // meanwhile; seen in CI failing a delete): authenticate again once.
      if (
        this.credentials &&
        attempt === 0 &&
        (etcdErrorCode(err) === EtcdCode.UNAUTHENTICATED || /revision of auth store is old/.test(err.message))
      ) {
        this.token = undefined;
        continue;
      }
      throw err;
    }
  }

  /** Whether these credentials sign in (one bcrypt in etcd; nothing changes there). */
  async signsIn(c: EtcdCredentials, signal?: AbortSignal): Promise<boolean> {
    const a = await this.wire.send({
      method: 'POST',
      path: '/v3/auth/authenticate',
      body: { name: c.username, password: c.password },
      signal,
    });
    if (a.status === 200) return true;
    if (etcdErrorCode(etcdError('/v3/auth/authenticate', a)) === EtcdCode.INVALID_ARGUMENT) return false;
    throw etcdError('/v3/auth/authenticate', a);
  }

  /** `GET /health` of the member tried first: whether it answers healthy, else why not. */
  async health(signal?: AbortSignal): Promise<true | string> {
    const a = await this.wire.send({ method: 'GET', path: '/health', timeoutMs: 1000, signal });
    if (a.status === 200 && (a.json as { health?: unknown } | undefined)?.health === 'true') return true;
    return `HTTP ${a.status} ${a.text.slice(0, 100)}`;
  }

  private async authenticate(signal: AbortSignal | undefined): Promise<string> {
    const c = this.credentials!;
    const a = await this.wire.send({
      method: 'POST',
      path: '/v3/auth/authenticate',
      body: { name: c.username, password: c.password },
      signal,
    });
    const token = (a.json as { token?: unknown } | undefined)?.token;
    if (a.status !== 200 || typeof token !== 'string') throw etcdError('/v3/auth/authenticate', a);
    return token;
  }

  /** Write one key. */
  async put(key: string, value: string, o: { signal?: AbortSignal } = {}): Promise<void> {
    await this.call('/v3/kv/put', { key: b64(key), value: b64(value) }, o);
  }

  /** Read one key (null when missing). */
  async get(key: string, o: { signal?: AbortSignal } = {}): Promise<string | null> {
    const r = await this.call<{ kvs?: { value?: string }[] }>('/v3/kv/range', { key: b64(key) }, o);
    const kv = r.kvs?.[0];
    return kv ? unb64(kv.value) : null;
  }

  /** Every key under a prefix, with its value. */
  async list(prefix: string, o: { signal?: AbortSignal } = {}): Promise<{ key: string; value: string }[]> {
    const r = await this.call<{ kvs?: { key?: string; value?: string }[] }>(
      '/v3/kv/range',
      { key: b64(prefix), range_end: b64(prefixEnd(prefix)) },
      o,
    );
    return (r.kvs ?? []).map((kv) => ({ key: unb64(kv.key), value: unb64(kv.value) }));
  }

  /** Delete every key under a prefix; returns how many went. */
  /** Delete one key; true when it was there. */
  async delete(key: string, o: { signal?: AbortSignal } = {}): Promise<boolean> {
    const r = await this.call<{ deleted?: string }>('/v3/kv/deleterange', { key: b64(key) }, o);
    return Number(r.deleted ?? 0) > 0;
  }

  async deletePrefix(prefix: string, o: { signal?: AbortSignal } = {}): Promise<number> {
    const r = await this.call<{ deleted?: string }>('/v3/kv/deleterange', { key: b64(prefix), range_end: b64(prefixEnd(prefix)) }, o);
    return Number(r.deleted ?? 0);
  }
}

function etcdError(path: string, a: HttpAnswer): AppError {
  const j = a.json as { message?: unknown; error?: unknown; code?: unknown } | undefined;
  const message = typeof j?.message === 'string' ? j.message : a.text.slice(0, 200) || `HTTP ${a.status}`;
  const grpcCode = typeof j?.code === 'number' ? j.code : undefined;
  return new AppError('ENGINE_COMMAND_FAILED', { args: [`etcd ${path}`, message], details: { httpStatus: a.status, grpcCode } });
}

const isAlready = (e: unknown): boolean => etcdErrorCode(e) === EtcdCode.FAILED_PRECONDITION && /already exists/.test((e as Error).message);
const isNotFound = (e: unknown): boolean => etcdErrorCode(e) === EtcdCode.FAILED_PRECONDITION && /not found/.test((e as Error).message);

/**
 * What dwsbox does to etcd as its `root` user. Every method is idempotent: it finds what is
 * already done and does the rest, so a resumed step calls it again.
 */
export class EtcdAdmin {
  private root: EtcdClient;

  constructor(
    /** `http://host:port`, or a fleet member's URL and CA */
    readonly endpoint: string | EtcdTarget,
    private rootPassword: string,
    private readonly timeoutMs = 5000,
  ) {
    this.root = new EtcdClient(endpoint, { username: 'root', password: rootPassword }, timeoutMs);
  }

  /** Wait until etcd answers its health check (`GET /health`), or throw at the deadline or on abort. */
  async waitReady(signal?: AbortSignal, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      signal?.throwIfAborted();
      try {
        const h = await this.root.health(signal);
        if (h === true) return;
        last = h;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline)
        throw new AppError('ENGINE_COMMAND_FAILED', {
          args: [`etcd at ${this.root.endpoint}`, `not ready after ${timeoutMs} ms: ${last}`],
        });
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Switch authentication on, with `root` (role root) holding `rootPassword`. Done already
   * (root can sign in with that password): nothing to do. Authentication on with another
   * root password: throws (the caller holds the wrong secret; never guessed around).
   */
  async enableAuth(rootPassword: string = this.rootPassword, o: { signal?: AbortSignal } = {}): Promise<void> {
    if (rootPassword !== this.rootPassword) {
      this.rootPassword = rootPassword;
      this.root = new EtcdClient(this.endpoint, { username: 'root', password: rootPassword }, this.timeoutMs);
    }
    try {
      await this.root.call('/v3/auth/user/get', { name: 'root' }, o);
      return;
    } catch (e) {
      if (!/authentication is not enabled/.test((e as Error).message)) throw e;
    }
    // Authentication is off: anyone may administer, so do it without a token.
    const open = new EtcdClient(this.endpoint, undefined, this.timeoutMs);
    try {
      await open.call('/v3/auth/user/add', { name: 'root', password: rootPassword }, o);
    } catch (e) {
      if (!isAlready(e)) throw e;
      await open.call('/v3/auth/user/changepw', { name: 'root', password: rootPassword }, o);
    }
    await open.call('/v3/auth/user/grant', { user: 'root', role: 'root' }, o);
    await open.call('/v3/auth/enable', {}, o);
  }

  /**
   * The scope's user `patroni-<scope>` with `password`, holding only the role of the same
   * name, which may read and write the keys under `/service/<scope>/` and nothing else. An
   * existing user gets the given password (so the secret dwsbox holds is the one that works).
   * Only what differs is changed: every change of etcd's users and roles raises its auth
   * revision, which makes every token issued before it stale, so every Patroni member of every
   * cluster on the host signs in again (a bcrypt each). Measured in the suite before this: 3
   * such changes per call, 30 % of a core in etcd, most of it bcrypt.
   */
  async ensureScopeUser(scope: string, password: string, o: { signal?: AbortSignal } = {}): Promise<EtcdCredentials> {
    const name = scopeUser(scope);
    const prefix = scopePrefix(scope);
    const perm = { permType: 'READWRITE', key: b64(prefix), range_end: b64(prefixEnd(prefix)) };
    const role = await this.root
      .call<{ perm?: { permType?: string; key?: string; range_end?: string }[] }>('/v3/auth/role/get', { role: name }, o)
      .catch((e: unknown) => {
        if (isNotFound(e)) return null;
        throw e;
      });
    if (!role) {
      try {
        await this.root.call('/v3/auth/role/add', { name }, o);
      } catch (e) {
        if (!isAlready(e)) throw e;
      }
    }
    const perms = role?.perm ?? [];
    if (perms.length !== 1 || perms[0]!.permType !== perm.permType || perms[0]!.key !== perm.key || perms[0]!.range_end !== perm.range_end)
      // Granting the same key range again replaces it: idempotent.
      await this.root.call('/v3/auth/role/grant', { name, perm }, o);
    const user = await this.root.call<{ roles?: string[] }>('/v3/auth/user/get', { name }, o).catch((e: unknown) => {
      if (isNotFound(e)) return null;
      throw e;
    });
    if (!user) {
      try {
        await this.root.call('/v3/auth/user/add', { name, password }, o);
      } catch (e) {
        if (!isAlready(e)) throw e;
        await this.root.call('/v3/auth/user/changepw', { name, password }, o);
      }
    } else if (!(await this.root.signsIn({ username: name, password }, o.signal))) {
      await this.root.call('/v3/auth/user/changepw', { name, password }, o);
    }
    if (!user?.roles?.includes(name)) await this.root.call('/v3/auth/user/grant', { user: name, role: name }, o);
    return { username: name, password };
  }

  /** Remove a scope: its keys (Patroni's whole state of that cluster), its user and its role. Returns the keys deleted. */
  async removeScope(scope: string, o: { signal?: AbortSignal } = {}): Promise<number> {
    const name = scopeUser(scope);
    const deleted = await this.root.deletePrefix(scopePrefix(scope), o);
    try {
      await this.root.call('/v3/auth/user/delete', { name }, o);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    try {
      await this.root.call('/v3/auth/role/delete', { role: name }, o);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    return deleted;
  }

  /**
   * Defragment the backend (D23: compaction frees pages, only defragmentation gives them back
   * to the file system). It blocks the member's reads and writes while it runs; the agent runs
   * it rarely, off the members' busy moments.
   */
  async defragment(o: { signal?: AbortSignal } = {}): Promise<void> {
    await this.root.call('/v3/maintenance/defragment', {}, o);
  }

  /** A client as root, for reads a control plane may need (watching a scope's members). */
  rootClient(): EtcdClient {
    return this.root;
  }
}
