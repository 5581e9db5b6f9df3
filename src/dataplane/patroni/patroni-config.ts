/**
 * The configuration of one Patroni 3.0.2 member (D23, D25): `patroniConfig(member)` builds it
 * as an object, `patroniConfigText(member)` as the text Patroni reads (JSON, which PyYAML
 * reads as YAML, so no YAML writer is needed). Pure: no file, no process.
 *
 * Where each setting lives matters. Patroni merges three layers: its defaults, the dynamic
 * configuration in etcd (written once from `bootstrap.dcs` by the member that bootstraps, and
 * changed afterwards only through `PATCH /config`), and this local file, which wins over the
 * dynamic layer for every `postgresql` key it names (patroni/config.py,
 * `_build_effective_configuration`). So everything cluster-wide (timings, synchronous mode,
 * failsafe, slots, rewind, PostgreSQL parameters) goes into `bootstrap.dcs`, where a later
 * `PATCH /config` can change it on every member at once (D23: never edit a member's files);
 * the local layer holds only what differs per member (names, addresses, paths, secrets,
 * socket directory) and the pg_hba rules, which depend on the host's addresses.
 */
import { accessRules } from '../access-rules.js';
import { PATRONI_NAMESPACE, scopePrefix } from './etcd.js';

/** PostgreSQL 15's binaries (Debian's `postgresql-15`). */
export const PG15_BIN_DIR = '/usr/lib/postgresql/15/bin';
/** The Patroni binary of Debian's `patroni`. */
export const PATRONI_BIN = '/usr/bin/patroni';
/** Patroni's REST port on its member's control address (D24: `127.2.c.i:8008`). */
export const PATRONI_REST_PORT = 8008;

/**
 * D25. `sync`: Patroni's `synchronous_mode` (one synchronous standby; when none is healthy,
 * writes go on asynchronously: availability first). `strict`: `synchronous_mode_strict` (no
 * write is acknowledged without a synchronous standby: durability first, a write outage when
 * no replica is healthy). `async`: no synchronous standby.
 */
export type SyncMode = 'sync' | 'strict' | 'async';

/** Patroni's DCS timings, in seconds. */
export interface PatroniTimings {
  /** the leader key's lease: a member that stops renewing it loses leadership after this */
  ttl: number;
  /** seconds between two runs of a member's HA loop */
  loopWait: number;
  /** how long DCS and PostgreSQL calls are retried before a member gives up (demotes) */
  retryTimeout: number;
  /** seconds a crashed primary may take to come back before a failover; 0: fail over at once */
  primaryStartTimeout: number;
}

/**
 * The default timings, chosen for D24's failover target (≤ 5 s through the router for a
 * killed postmaster). Measured without a router on this machine (patroni-ops.md §2): 3.3 and
 * 3.7 s with ttl 10 / loop_wait 2 / retry_timeout 4 and `primary_start_timeout: 0`, against
 * 7.3 s at Patroni's defaults (30/10/10), and 2.7 s with no failover but the old primary
 * restarted in place at `primary_start_timeout` 300; the router's checks add under a second
 * (haproxy-config.ts). Through the router (test/e2e/patroni-failover.test.ts, 19 runs with the
 * final router settings): the first write came 1.9–2.4 s after the kill (11 runs) when the old
 * leader's next HA loop saw the crash, and 4.0–4.4 s (8 runs) when 3.0.2 spent that loop on
 * the lost connection ("Error communicating with PostgreSQL. Will try again later") and saw
 * the crash one loop later; loop_wait 1 would shorten that case by about a second (not
 * measured) at about twice Patroni's CPU. They keep Patroni's rule `loop_wait + 2 ×
 * retry_timeout ≤ ttl`. A whole member lost costs about ttl (10 s). Correctness never depends
 * on ttl < 20 (D23: Patroni 3.2+ raises it to 20), only speed does.
 */
export const FAST_TIMINGS: Readonly<PatroniTimings> = Object.freeze({ ttl: 10, loopWait: 2, retryTimeout: 4, primaryStartTimeout: 0 });

export interface Credentials {
  username: string;
  password: string;
}

/** PostgreSQL parameter values as Patroni takes them. */
export type PgParameters = Record<string, string | number | boolean>;

/** One member of one cluster (one Patroni scope). */
export interface PatroniMemberSpec {
  /** the cluster's Patroni scope (also its etcd prefix `/service/<scope>/`) */
  scope: string;
  /** the node's ordinal i; the member is named `m<i>` */
  ordinal: number;
  /** the member's PostgreSQL address (`127.0.c.i`, D6) */
  host: string;
  /** the cluster's port (every member of a cluster listens on it, D6) */
  port: number;
  /** the member's control address, where its REST API listens (`127.2.c.i`, D24) */
  restHost: string;
  /** default 8008 */
  restPort?: number;
  /** basic auth for every non-GET REST call (D23) */
  restAuth: Credentials;
  /** etcd client endpoints (`host:port`) and the scope's own etcd user (D32) */
  etcd: {
    hosts: readonly string[];
    username: string;
    password: string;
    /** over TLS, trusting this CA file (the fleet's etcd, issue 18) */ cacert?: string;
  };
  /** PGDATA; its parent must be writable by the member's OS user (Patroni runs initdb and pg_basebackup itself) */
  dataDir: string;
  /** default /usr/lib/postgresql/15/bin */
  binDir?: string;
  /** the pgpass file Patroni writes for replication and rewind (never the OS user's ~/.pgpass) */
  pgpass: string;
  /** the unix socket directory (never /tmp, D32) */
  socketDir: string;
  superuser: Credentials;
  replication: Credentials;
  /** source networks of connections (trap 3: replicas connect from 127.0.0.1 whatever their own address); default 127.0.0.0/8 */
  hbaSources?: readonly string[];
  /**
   * OS users that reach the superuser over the unix socket by peer (the service's and the
   * member's own, D32), with every local role by peer as itself: the rules of every dwsbox
   * member (access-rules.ts), so the engine's SQL reaches a Patroni member as it reaches any.
   * Absent: password authentication on the socket too.
   */
  peerUsers?: readonly string[];
  timings?: Partial<PatroniTimings>;
  /** default `sync` (D25) */
  syncMode?: SyncMode;
  /** bound on the WAL a replication slot may hold (D32); default 2GB */
  maxSlotWalKeepSize?: string;
  /** more cluster-wide PostgreSQL parameters (e.g. archive_mode and pgBackRest's archive_command), over the defaults */
  parameters?: PgParameters;
  /**
   * Patroni's `nosync` tag: never the synchronous standby. Set for a while on the other
   * replicas when a switchover needs a given one to become synchronous first (D25: 3.0.2
   * accepts only the synchronous standby as a switchover's candidate).
   */
  noSync?: boolean;
  /** recovery settings for replicas (e.g. pgBackRest's restore_command) */
  recoveryConf?: Record<string, string>;
  /** the member's name is `<memberPrefix><ordinal>` (default `node`, `memberName`) */
  memberPrefix?: string;
  /** a standby cluster's (issue 19, D31): what its standby leader follows, in `bootstrap.dcs` */
  standbyCluster?: StandbyClusterSpec;
}

/** What a standby cluster follows (D31): another cluster's read-write endpoint, its slot there, its repository's WAL. */
export interface StandbyClusterSpec {
  host: string;
  port: number;
  /** the permanent slot the production cluster keeps for it */
  primarySlotName: string;
  /** the production stanza's archive-get: the fallback when streaming breaks */
  restoreCommand?: string;
}

/** Patroni's `standby_cluster` section (dynamic configuration) for a standby cluster. */
export function standbyClusterConfig(s: StandbyClusterSpec): Record<string, unknown> {
  return {
    host: s.host,
    port: s.port,
    primary_slot_name: s.primarySlotName,
    create_replica_methods: ['basebackup'],
    ...(s.restoreCommand ? { restore_command: s.restoreCommand } : {}),
  };
}

/** Patroni member names: `node<i>` by default; another prefix for a standby cluster (issue 19, `memberName`). */
export const MEMBER_PREFIX = 'node';
const PREFIX = /^[a-z]{1,8}$/;

/**
 * A member's name from its ordinal: `node<i>`, as the local engine names its standbys'
 * `application_name`, so the same views (pg_stat_replication) name the same member on both
 * engines. Patroni also names the member's replication slot after it. A standby cluster of
 * disaster recovery (issue 19, D31) names its members with another prefix: its standby leader
 * streams from the production cluster's leader under its own name, and a name the production
 * cluster's members also have would be taken there for one of them (Patroni's choice of the
 * synchronous standby goes by `application_name`, D25).
 */
export function memberName(ordinal: number, prefix: string = MEMBER_PREFIX): string {
  if (!Number.isInteger(ordinal) || ordinal < 1 || ordinal > 254) throw new Error(`member ordinal must be 1-254, not ${ordinal}`);
  if (!PREFIX.test(prefix)) throw new Error(`member name prefix must be 1-8 lowercase letters, not ${JSON.stringify(prefix)}`);
  return `${prefix}${ordinal}`;
}

/** The ordinal of a member named by `memberName` with `prefix`, or null for another name. */
export function memberOrdinal(name: string, prefix: string = MEMBER_PREFIX): number | null {
  if (!name.startsWith(prefix)) return null;
  const m = /^([1-9]\d{0,2})$/.exec(name.slice(prefix.length));
  return m && Number(m[1]) <= 254 ? Number(m[1]) : null;
}

/** Timings filled with the defaults, checked against Patroni's rule (loop_wait + 2 × retry_timeout ≤ ttl). */
export function patroniTimings(t: Partial<PatroniTimings> = {}): PatroniTimings {
  const r = { ...FAST_TIMINGS, ...t };
  for (const [k, v] of Object.entries(r))
    if (!Number.isInteger(v) || v < (k === 'primaryStartTimeout' ? 0 : 1))
      throw new Error(`Patroni ${k} must be a whole number of seconds, not ${v}`);
  if (r.loopWait + 2 * r.retryTimeout > r.ttl)
    throw new Error(`Patroni timings: loop_wait (${r.loopWait}) + 2 × retry_timeout (${r.retryTimeout}) must not exceed ttl (${r.ttl})`);
  return r;
}

/**
 * THE cluster-wide PostgreSQL parameters (one place: the engine adds archiving here, through
 * `extra`, and changes them later with `PATCH /config`). Patroni adds listen_addresses, port,
 * wal_level, hot_standby, wal_log_hints and the synchronous standby names itself.
 */
export function postgresParameters(o: { maxSlotWalKeepSize?: string | undefined; extra?: PgParameters | undefined } = {}): PgParameters {
  return {
    // Trap 5: after a bootstrap or failover a replica asks for its slot before the leader made
    // it, then waits this long to retry (5 s by default; 1 s cut first streaming from 8 s to 4 s).
    wal_retrieve_retry_interval: '1s',
    // D25: a standby lost without a reset (host gone, link down) holds synchronous commits for
    // seconds, not the 60 s default: the sender drops a silent receiver after 5 s, and the
    // receiver reports every second so a live one is never dropped.
    wal_sender_timeout: '5s',
    wal_receiver_timeout: '5s',
    wal_receiver_status_interval: '1s',
    // The same for client sessions: a peer gone without a reset is noticed in 5 + 3 × 1 s.
    tcp_keepalives_idle: 5,
    tcp_keepalives_interval: 1,
    tcp_keepalives_count: 3,
    // D32: a slot whose replica is gone may not fill the primary's disk.
    max_slot_wal_keep_size: o.maxSlotWalKeepSize ?? '2GB',
    wal_keep_size: '128MB',
    // Room for the router's 16 member slots plus backups' and basebackups' own connections.
    max_wal_senders: 20,
    max_replication_slots: 20,
    password_encryption: 'scram-sha-256',
    synchronous_commit: 'on',
    ...(o.extra ?? {}),
  };
}

/** pg_hba lines of a member with no `peerUsers`: scram everywhere; replication only for the replication user; TCP only from the given sources. */
export function pgHba(replicationUser: string, sources: readonly string[] = ['127.0.0.0/8']): string[] {
  for (const s of sources)
    if (!/^[0-9a-f.:]+\/\d{1,3}$/i.test(s)) throw new Error(`pg_hba source must be an address/prefix, not ${JSON.stringify(s)}`);
  return [
    'local all all scram-sha-256',
    ...sources.map((s) => `host replication ${replicationUser} ${s} scram-sha-256`),
    ...sources.map((s) => `host all all ${s} scram-sha-256`),
  ];
}

/** Patroni's dynamic settings of a replication mode (D25): in `bootstrap.dcs` at create, through `PATCH /config` later. */
export function syncSettings(mode: SyncMode): { synchronous_mode: boolean; synchronous_mode_strict: boolean } {
  return { synchronous_mode: mode !== 'async', synchronous_mode_strict: mode === 'strict' };
}

/** The member's whole configuration, as Patroni reads it. */
export function patroniConfig(m: PatroniMemberSpec): Record<string, unknown> {
  const t = patroniTimings(m.timings);
  const mode = m.syncMode ?? 'sync';
  const name = memberName(m.ordinal, m.memberPrefix);
  const rest = `${m.restHost}:${m.restPort ?? PATRONI_REST_PORT}`;
  const pg = `${m.host}:${m.port}`;
  if (!m.etcd.hosts.length) throw new Error('a Patroni member needs at least one etcd host');
  scopePrefix(m.scope); // a safe scope name (it is also an etcd prefix and user), or throw
  return {
    scope: m.scope,
    // Keys under `/service/<scope>/`: the prefix the scope's etcd user may write (etcd.ts ensureScopeUser).
    namespace: PATRONI_NAMESPACE,
    name,
    restapi: {
      listen: rest,
      connect_address: rest,
      // D23: every POST/PATCH/PUT/DELETE needs these (3.0.2 accepts /reinitialize with any body).
      authentication: { username: m.restAuth.username, password: m.restAuth.password },
    },
    // etcd3, never etcd: 3.4 serves no v2 API (trap 2).
    etcd3: {
      hosts: [...m.etcd.hosts],
      protocol: m.etcd.cacert ? 'https' : 'http',
      ...(m.etcd.cacert ? { cacert: m.etcd.cacert } : {}),
      username: m.etcd.username,
      password: m.etcd.password,
    },
    bootstrap: {
      dcs: {
        ttl: t.ttl,
        loop_wait: t.loopWait,
        retry_timeout: t.retryTimeout,
        primary_start_timeout: t.primaryStartTimeout,
        maximum_lag_on_failover: 1048576,
        ...syncSettings(mode),
        ...(m.standbyCluster ? { standby_cluster: standbyClusterConfig(m.standbyCluster) } : {}),
        // Trap 8: without it an etcd outage demotes the leader after loop_wait + retry_timeout.
        failsafe_mode: true,
        postgresql: {
          use_slots: true,
          use_pg_rewind: true,
          // Else a failed rewind leaves the old primary stopped until someone reinitialises it.
          remove_data_directory_on_rewind_failure: true,
          remove_data_directory_on_diverged_timelines: true,
          parameters: postgresParameters({ maxSlotWalKeepSize: m.maxSlotWalKeepSize, extra: m.parameters }),
          ...(m.recoveryConf ? { recovery_conf: { ...m.recoveryConf } } : {}),
        },
      },
      // Checksums also let pg_rewind work without relying on wal_log_hints alone.
      initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }, 'data-checksums'],
    },
    postgresql: {
      listen: pg,
      connect_address: pg,
      data_dir: m.dataDir,
      bin_dir: m.binDir ?? PG15_BIN_DIR,
      pgpass: m.pgpass,
      authentication: {
        superuser: { username: m.superuser.username, password: m.superuser.password },
        replication: { username: m.replication.username, password: m.replication.password },
      },
      // Trap 4: without a fast checkpoint a new replica waited 213 s for the leader's spread one.
      basebackup: [{ checkpoint: 'fast' }],
      parameters: { unix_socket_directories: m.socketDir },
      ...(m.peerUsers
        ? // The same rules as every dwsbox member (access-rules.ts): the service's SQL reaches the superuser by peer.
          (({ hba, ident }) => ({ pg_hba: hba, pg_ident: ident }))(
            accessRules({ peerUsers: m.peerUsers, superuser: m.superuser.username, ...(m.hbaSources ? { sources: m.hbaSources } : {}) }),
          )
        : { pg_hba: pgHba(m.replication.username, m.hbaSources) }),
    },
    // No /dev/watchdog here (trap 7); the agent's fast restart is the fence.
    watchdog: { mode: 'off' },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: m.noSync ?? false },
  };
}

/** The configuration file's text (JSON: valid YAML for Patroni's PyYAML). */
export function patroniConfigText(m: PatroniMemberSpec): string {
  return `${JSON.stringify(patroniConfig(m), null, 2)}\n`;
}
