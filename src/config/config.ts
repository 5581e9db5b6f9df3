/**
 * Configuration: one table of settings, each with a flag, an environment variable and a
 * config-file key. `loadConfig` is the only code that reads `process.env`; it merges
 * defaults < file < env < flags, validates loudly (naming the setting and the value), and
 * returns a frozen object.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { recordedEngine, type EngineName } from './data-dir-engine.js';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;

type Kind = 'string' | 'int' | 'number' | 'bool' | 'list';

interface SettingSpec {
  /** config-file key and property name */
  key: string;
  kind: Kind;
  description: string;
  /** default value, or a function of the partially resolved config */
  default: unknown;
  min?: number;
  max?: number;
  choices?: readonly string[];
  /** never printed (secrets) */
  secret?: boolean;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function defaultDataDir(): string {
  return isRoot() ? '/var/lib/dwsbox' : join(homedir(), '.local', 'share', 'dwsbox');
}

/** Every setting dwsbox has. docs/configuration.md is checked against this table by a test. */
export const SETTINGS: readonly SettingSpec[] = [
  { key: 'host', kind: 'string', default: '127.0.0.1', description: 'Address the API listens on.' },
  { key: 'port', kind: 'int', default: 7480, min: 0, max: 65535, description: 'Port the API listens on (0 picks a free port).' },
  {
    key: 'dataDir',
    kind: 'string',
    default: null,
    description:
      'Data directory: clusters, repository, SQLite store, keys. Default /var/lib/dwsbox as root, ~/.local/share/dwsbox otherwise.',
  },
  {
    key: 'store',
    kind: 'string',
    default: null,
    secret: true,
    description: 'Metadata store: a postgres:// URL, or a SQLite file path. Default <dataDir>/dwsbox.sqlite.',
  },
  {
    key: 'repoPath',
    kind: 'string',
    default: null,
    description: 'pgBackRest repository directory (the local repository). Default <dataDir>/repo.',
  },
  {
    key: 'engine',
    kind: 'string',
    default: null,
    choices: ['local', 'patroni'],
    description:
      'How clusters run (docs/operations.md#engines). Default: the engine of the data directory (recorded in <dataDir>/engine at the first start; a data directory keeps the engine its clusters were made with), patroni for a new one. patroni (each node a Patroni member under the host agent, with etcd and an HAProxy router: automatic failover, stable read-write and read-only endpoints) or local (each node a PostgreSQL server the service starts and watches, the smallest footprint; a dead primary is an outage until a restart).',
  },
  {
    key: 'syncMode',
    kind: 'string',
    default: 'sync',
    choices: ['sync', 'strict', 'async'],
    description:
      'Replication of new clusters on the patroni engine (D25): sync (a commit waits for one synchronous standby while one streams; no acknowledged write is lost in a failover), strict (commits wait even when no standby streams) or async (fastest, a failover may lose the last commits).',
  },
  {
    key: 'repoType',
    kind: 'string',
    default: 'local',
    choices: ['local', 's3'],
    description:
      "Repository of new clusters' snapshots and WAL: local (repoPath) or s3 (an S3-compatible object store, the repoS3* settings). A cluster keeps the repository it was created with; see docs/operations.md.",
  },
  {
    key: 'repoS3Endpoint',
    kind: 'string',
    default: null,
    description: 'S3 endpoint, host or host:port (port 443 when none is given; pgBackRest speaks HTTPS only).',
  },
  { key: 'repoS3Bucket', kind: 'string', default: null, description: 'S3 bucket (it must exist).' },
  { key: 'repoS3Region', kind: 'string', default: null, description: 'S3 region, e.g. us-east-1 (signed into every request).' },
  { key: 'repoS3Key', kind: 'string', default: null, secret: true, description: 'S3 access key id.' },
  {
    key: 'repoS3KeySecret',
    kind: 'string',
    default: null,
    secret: true,
    description: 'S3 secret access key. Kept encrypted under the master key in the data directory; never on a command line.',
  },
  {
    key: 'repoS3UriStyle',
    kind: 'string',
    default: 'path',
    choices: ['path', 'host'],
    description:
      'S3 URI style: path (https://endpoint/bucket/key, what most S3-compatible stores want) or host (https://bucket.endpoint/key).',
  },
  {
    key: 'repoS3VerifyTls',
    kind: 'bool',
    default: true,
    description: "Verify the S3 endpoint's TLS certificate (turn off only for a test store).",
  },
  {
    key: 'repoS3CaFile',
    kind: 'string',
    default: null,
    description: 'CA certificate file (PEM) to verify the S3 endpoint with, e.g. a private CA. Default: the system CAs.',
  },
  { key: 'repoS3Path', kind: 'string', default: '/dwsbox', description: 'Path inside the bucket under which the repository lives.' },
  {
    key: 'pgBinDir',
    kind: 'string',
    default: null,
    description: 'Directory of the PostgreSQL 15 binaries. Default: pg_config --bindir, else /usr/lib/postgresql/15/bin.',
  },
  {
    key: 'logLevel',
    kind: 'string',
    default: 'info',
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    description: 'Log level.',
  },
  { key: 'logPretty', kind: 'bool', default: false, description: 'Human-readable logs instead of JSON lines.' },
  {
    key: 'enableCrashFaults',
    kind: 'bool',
    default: false,
    description: 'Accept faults of mode "crash" (they kill the service with SIGKILL). For tests only.',
  },
  { key: 'stopClustersOnExit', kind: 'bool', default: false, description: 'Stop every cluster node when the service stops.' },
  {
    key: 'maxNodes',
    kind: 'int',
    default: 64,
    min: 3,
    max: 254 * 254,
    description: 'Most PostgreSQL nodes this host runs, over all clusters.',
  },
  {
    key: 'projectNodeQuota',
    kind: 'int',
    default: 24,
    min: 3,
    max: 100000,
    description:
      'Most nodes one project may have (DWS.5091 beyond it); below maxNodes, so one project leaves room for others (docs/security.md, fair shares).',
  },
  {
    key: 'projectTaskConcurrency',
    kind: 'int',
    default: 2,
    min: 1,
    max: 64,
    description:
      "Most tasks of one project running at once, over every process of the store; more of its tasks wait in the queue while other projects' tasks run.",
  },
  {
    key: 'projectSnapshotQuota',
    kind: 'int',
    default: 1000,
    min: 1,
    max: 1000000,
    description:
      'Most snapshots (visible, of every level and type) one project may have; a new snapshot or policy fire beyond it is refused (DWS.9961).',
  },
  {
    key: 'projectRepoQuotaMb',
    kind: 'int',
    default: 102400,
    min: 1,
    max: 1024 * 1024 * 1024,
    description:
      "Most repository space (MB, 10^6 bytes) one project's snapshots may take: the sum of their recorded sizes plus the estimate of a new one; beyond it a snapshot is refused (DWS.9961).",
  },
  {
    key: 'snapshotSpaceMarginMb',
    kind: 'int',
    default: 1024,
    min: 0,
    max: 1024 * 1024,
    description:
      'Free space (MB) a backup or dump must leave in the repository (or the data directory, for schema- and table-level dumps) beyond its estimated size; below it the snapshot is refused (DWS.9962).',
  },
  {
    key: 'policyMinIntervalMs',
    kind: 'int',
    default: 60 * MINUTE,
    min: SECOND,
    max: 31 * 24 * 60 * MINUTE,
    description:
      'Shortest time between two fires of one snapshot-policy strategy: a schedule that fires more often is refused at PUT (DWS.9960), and the scheduler never fires a strategy sooner than this after its last fire.',
  },
  {
    key: 'enableTenantFaults',
    kind: 'bool',
    default: false,
    description:
      'Accept the faults API (D13) from tenants. Off: every fault request is refused (DWS.9963). For test and benchmark set-ups.',
  },
  {
    key: 'faultMaxDelayMs',
    kind: 'int',
    default: 5 * MINUTE,
    min: 0,
    max: 60 * MINUTE,
    description: 'Longest delay a fault may ask for (delay_ms), and longest an injected hang holds its step before it fails.',
  },
  { key: 'taskConcurrency', kind: 'int', default: 4, min: 1, max: 64, description: 'Tasks this process runs at once.' },
  {
    key: 'leaseMs',
    kind: 'int',
    default: 15 * SECOND,
    min: 1000,
    max: 10 * MINUTE,
    description: 'Task lease: a task whose owner has not renewed it for this long is taken over by another process.',
  },
  { key: 'pollMs', kind: 'int', default: 250, min: 10, max: MINUTE, description: 'How often an idle engine looks for new tasks.' },
  {
    key: 'shutdownTimeoutMs',
    kind: 'int',
    default: 10 * SECOND,
    min: 0,
    max: 10 * MINUTE,
    description: 'How long a stopping service lets running steps finish before aborting them.',
  },
  {
    key: 'stepTimeoutMs',
    kind: 'int',
    default: 2 * 60 * MINUTE,
    min: 1000,
    max: 48 * 60 * MINUTE,
    description: 'Longest any single step may run before it fails.',
  },
  {
    key: 'stepIdleTimeoutMs',
    kind: 'int',
    default: 10 * MINUTE,
    min: 500,
    max: 24 * 60 * MINUTE,
    description: 'A step (or an injected hang) with no progress for this long fails, saying what it waited for.',
  },
  {
    key: 'monitorIntervalMs',
    kind: 'int',
    default: 2 * SECOND,
    min: 100,
    max: 10 * MINUTE,
    description: 'How often the health monitor checks every node.',
  },
  {
    key: 'readOnlyDiskPercent',
    kind: 'number',
    default: 90,
    min: 0,
    max: 100,
    description:
      "A cluster whose largest member's data directory passes this share of its node type's disk is made read-only (sub_status READONLY, CancelReadonlyCluster lifts it); 0 turns the protection off.",
  },
  {
    key: 'metricsCollectIntervalMs',
    kind: 'int',
    default: 15 * SECOND,
    min: SECOND,
    max: 10 * MINUTE,
    description:
      'How often the metrics collector reads every running member (CPU, memory, disk, connections, transactions, replication, WAL) into the metrics history (D29); one process of the store collects.',
  },
  {
    key: 'metricsRawRetentionHours',
    kind: 'int',
    default: 24,
    min: 1,
    max: 24 * 30,
    description: 'How long each collected sample is kept; older ranges are served from the 5-minute averages.',
  },
  {
    key: 'metricsRollupRetentionDays',
    kind: 'int',
    default: 30,
    min: 1,
    max: 3650,
    description: "How long the metrics history's 5-minute averages are kept.",
  },
  {
    key: 'auditRetentionDays',
    kind: 'int',
    default: 90,
    min: 1,
    max: 3650,
    description: 'How long the audit trail (every authenticated mutating API call, ListAuditLog) is kept.',
  },
  {
    key: 'alarmForSeconds',
    kind: 'int',
    default: 300,
    min: 0,
    max: 86_400,
    description:
      'How long a sustained alarm condition (CPU, memory, connections, replication lag, archiving failing) must hold in every collected sample before the alarm is raised; 0 raises it on the first sample past its threshold.',
  },
  {
    key: 'alarmCpuPercent',
    kind: 'number',
    default: 90,
    min: 0,
    max: 10_000,
    description: "The CPU-usage alarm's threshold: a member's PostgreSQL processes' CPU, in percent of one core.",
  },
  {
    key: 'alarmMemoryPercent',
    kind: 'number',
    default: 90,
    min: 0,
    max: 1000,
    description: "The memory-usage alarm's threshold: a member's proportional set size, in percent of its node type's memory budget.",
  },
  {
    key: 'alarmDiskPercent',
    kind: 'number',
    default: 80,
    min: 0,
    max: 100,
    description: "The disk-usage alarm's threshold: a member's databases and WAL, in percent of its node type's disk (raised at once).",
  },
  {
    key: 'alarmConnectionsPercent',
    kind: 'number',
    default: 80,
    min: 0,
    max: 100,
    description: "The connections alarm's threshold: client sessions in percent of max_connections.",
  },
  {
    key: 'alarmLagBytes',
    kind: 'int',
    default: 256 * 1024 * 1024,
    min: 0,
    max: 1024 ** 4,
    description: "The replication-lag alarm's threshold in bytes: a standby's replay behind its primary's WAL position.",
  },
  {
    key: 'alarmLagSeconds',
    kind: 'int',
    default: 300,
    min: 0,
    max: 86_400,
    description:
      "The replication-lag alarm's threshold in seconds since the standby's last replayed transaction while it has WAL to replay.",
  },
  {
    key: 'alarmQuerySeconds',
    kind: 'int',
    default: 1800,
    min: 1,
    max: 7 * 86_400,
    description: "The long-running-query alarm's threshold: a client statement running this long (raised at once).",
  },
  {
    key: 'eventDeliveryIntervalMs',
    kind: 'int',
    default: SECOND,
    min: 50,
    max: 10 * MINUTE,
    description: 'How often the event delivery loop looks for subscriptions with events to deliver.',
  },
  {
    key: 'eventDeliveryTimeoutMs',
    kind: 'int',
    default: 10 * SECOND,
    min: 100,
    max: 5 * MINUTE,
    description:
      "Longest one delivery of an event to a subscription's endpoint may take (connect, send, answer); longer is a failed attempt.",
  },
  {
    key: 'eventEndpointsPrivate',
    kind: 'bool',
    default: false,
    description:
      "Allow event subscriptions to send to loopback, private and shared addresses (127.0.0.0/8 but the data plane's blocks, 10/8, 172.16/12, 192.168/16, 100.64/10, ::1, fc00::/7); off, a tenant cannot reach services inside the operator's network through them. Link-local addresses and the data plane are refused always.",
  },
  {
    key: 'eventRetryBaseMs',
    kind: 'int',
    default: SECOND,
    min: 10,
    max: 10 * MINUTE,
    description:
      'Wait after the first failed delivery of an event; it doubles with each further failure of the same event, up to eventRetryMaxMs.',
  },
  {
    key: 'eventRetryMaxMs',
    kind: 'int',
    default: 10 * MINUTE,
    min: 10,
    max: 24 * 60 * MINUTE,
    description:
      "Longest wait between two attempts at one event (the back-off's bound); an event is retried until it is delivered, the subscription is disabled or deleted.",
  },
  {
    key: 'eventSubscriptionsPerProject',
    kind: 'int',
    default: 20,
    min: 0,
    max: 1000,
    description: 'Most event subscriptions a project may have (fair shares, docs/security.md).',
  },
  {
    key: 'snapshotFullEvery',
    kind: 'int',
    default: 7,
    min: 1,
    max: 1000,
    description: 'Take a new full backup every N snapshots of a cluster (the rest are differential).',
  },
  {
    key: 'schedulerIntervalMs',
    kind: 'int',
    default: SECOND,
    min: 100,
    max: 10 * MINUTE,
    description:
      'How often the snapshot scheduler looks for due snapshot-policy strategies and restarts waiting for a maintenance window (a fire is at most this late).',
  },
  {
    key: 'masterKey',
    kind: 'string',
    default: null,
    secret: true,
    description: 'Master key (64 hex chars) that encrypts secret keys. Default: a key file in the data directory.',
  },
  { key: 'projectId', kind: 'string', default: null, description: 'Bootstrap project id (with accessKey and secretKey).' },
  { key: 'accessKey', kind: 'string', default: null, description: 'Bootstrap admin access key for projectId.' },
  { key: 'secretKey', kind: 'string', default: null, secret: true, description: 'Bootstrap admin secret key for projectId.' },
  {
    key: 'loginFailuresPerUser',
    kind: 'int',
    default: 5,
    min: 1,
    max: 1000000,
    description:
      'Wrong passwords one user name may get at POST /v3/auth/tokens (within authFailureWindowMs) before each further one blocks the name, for authBlockFirstMs, then twice as long each time up to authBlockMaxMs (429 APIGW.0308). A successful sign-in clears the count. Per process (docs/security.md).',
  },
  {
    key: 'loginFailuresPerAddress',
    kind: 'int',
    default: 20,
    min: 1,
    max: 1000000,
    description:
      'Wrong sign-ins (any user name) one source address may make before each further one blocks the address, with the same back-off.',
  },
  {
    key: 'signatureFailuresPerKey',
    kind: 'int',
    default: 20,
    min: 1,
    max: 1000000,
    description:
      'Wrong AK/SK signatures (or wrong Basic secrets on /metrics) one access key may get before each further one blocks the key, with the same back-off. A correctly signed request clears the count.',
  },
  {
    key: 'signatureFailuresPerAddress',
    kind: 'int',
    default: 100,
    min: 1,
    max: 1000000,
    description:
      'Wrong signatures and unknown access keys one source address may send before each further one blocks the address, with the same back-off.',
  },
  {
    key: 'authFailureWindowMs',
    kind: 'int',
    default: 60 * MINUTE,
    min: SECOND,
    max: 7 * 24 * 60 * MINUTE,
    description: "How long failed authentications are remembered: a key's count is forgotten this long after its first failure.",
  },
  {
    key: 'authBlockFirstMs',
    kind: 'int',
    default: SECOND,
    min: 100,
    max: 60 * MINUTE,
    description: 'The first block once a key has used its free failures; each further failure doubles it.',
  },
  {
    key: 'authBlockMaxMs',
    kind: 'int',
    default: 15 * MINUTE,
    min: SECOND,
    max: 24 * 60 * MINUTE,
    description: 'The longest one block lasts.',
  },
  {
    key: 'metricsHost',
    kind: 'string',
    default: null,
    description:
      'Serve /metrics on a separate address (with metricsPort) instead of the API listener. That listener asks for no credentials and serves every series: bind it to a loopback or operator-only address (docs/security.md).',
  },
  { key: 'metricsPort', kind: 'int', default: null, min: 0, max: 65535, description: 'Port for the separate /metrics listener.' },
  {
    key: 'initdbPool',
    kind: 'int',
    default: 2,
    min: 0,
    max: 20,
    description:
      "Stopped, freshly initialised data directories kept ready per node type (the default one, and each one created on this host), made in the background, so that a new cluster's primary takes one instead of running initdb, and its first two standbys take the copies made with it; each costs about 120 MB of disk (docs/operations.md#the-initdb-pool). 0 disables the pool (a create runs initdb).",
  },
  {
    key: 'initdbPoolDir',
    kind: 'string',
    default: null,
    description:
      "The initdb pool's directory (docs/operations.md#the-initdb-pool). Default <dataDir>/pool. Several services of one host (with the same PostgreSQL and settings) may share one: takes are atomic across them and one of them fills it at a time, so the host keeps initdbPool directories per node type, not that many per service.",
  },
  {
    key: 'agentDir',
    kind: 'string',
    default: null,
    description:
      "The host agent's directory (design D23, docs/operations.md#the-host-agent): its lock, socket, token, units and logs. Default /var/lib/dwsbox-agent, host-wide, so every service of the host shares one agent. `dwsbox agent` runs the agent on it.",
  },
  {
    key: 'unsafeNoFsync',
    kind: 'bool',
    default: false,
    description: 'TEST ONLY: run new nodes with fsync=off. Never use for data you keep.',
  },
] as const;

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly store: string;
  readonly repoPath: string;
  readonly repoType: 'local' | 's3';
  readonly repoS3Endpoint: string | null;
  readonly repoS3Bucket: string | null;
  readonly repoS3Region: string | null;
  readonly repoS3Key: string | null;
  readonly repoS3KeySecret: string | null;
  readonly repoS3UriStyle: 'path' | 'host';
  readonly repoS3VerifyTls: boolean;
  readonly repoS3CaFile: string | null;
  readonly repoS3Path: string;
  readonly pgBinDir: string | null;
  readonly logLevel: string;
  readonly logPretty: boolean;
  readonly enableCrashFaults: boolean;
  readonly stopClustersOnExit: boolean;
  readonly maxNodes: number;
  readonly projectNodeQuota: number;
  readonly projectTaskConcurrency: number;
  readonly projectSnapshotQuota: number;
  readonly projectRepoQuotaMb: number;
  readonly snapshotSpaceMarginMb: number;
  readonly policyMinIntervalMs: number;
  readonly enableTenantFaults: boolean;
  readonly faultMaxDelayMs: number;
  readonly taskConcurrency: number;
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly shutdownTimeoutMs: number;
  readonly stepTimeoutMs: number;
  readonly stepIdleTimeoutMs: number;
  readonly monitorIntervalMs: number;
  readonly readOnlyDiskPercent: number;
  readonly metricsCollectIntervalMs: number;
  readonly alarmForSeconds: number;
  readonly auditRetentionDays: number;
  readonly alarmCpuPercent: number;
  readonly alarmMemoryPercent: number;
  readonly alarmDiskPercent: number;
  readonly alarmConnectionsPercent: number;
  readonly alarmLagBytes: number;
  readonly alarmLagSeconds: number;
  readonly alarmQuerySeconds: number;
  readonly metricsRawRetentionHours: number;
  readonly metricsRollupRetentionDays: number;
  readonly eventDeliveryIntervalMs: number;
  readonly eventDeliveryTimeoutMs: number;
  readonly eventEndpointsPrivate: boolean;
  readonly eventRetryBaseMs: number;
  readonly eventRetryMaxMs: number;
  readonly eventSubscriptionsPerProject: number;
  readonly snapshotFullEvery: number;
  readonly schedulerIntervalMs: number;
  readonly masterKey: string | null;
  readonly projectId: string | null;
  readonly accessKey: string | null;
  readonly secretKey: string | null;
  readonly loginFailuresPerUser: number;
  readonly loginFailuresPerAddress: number;
  readonly signatureFailuresPerKey: number;
  readonly signatureFailuresPerAddress: number;
  readonly authFailureWindowMs: number;
  readonly authBlockFirstMs: number;
  readonly authBlockMaxMs: number;
  readonly metricsHost: string | null;
  readonly metricsPort: number | null;
  readonly initdbPool: number;
  /** the initdb pool's directory; several services of one host may share it */
  readonly initdbPoolDir: string;
  /** the host agent's directory (D23), host-wide by default */
  readonly agentDir: string;
  readonly engine: EngineName;
  readonly syncMode: 'sync' | 'strict' | 'async';
  readonly unsafeNoFsync: boolean;
}

/** The host agent's directory unless `agentDir` names another: one per host (D23). */
export const DEFAULT_AGENT_DIR = '/var/lib/dwsbox-agent';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The engine the data directory's clusters run on (data-dir-engine.ts), as a ConfigError when its record is unreadable. */
function dataDirEngine(dataDir: string): EngineName | null {
  try {
    return recordedEngine(dataDir);
  } catch (e) {
    // A command run by a user who may not read the data directory gets the default; `serve` checks again as root (recordEngine).
    if (['EACCES', 'EPERM'].includes((e as NodeJS.ErrnoException).code ?? '')) return null;
    throw new ConfigError(`cannot tell the engine of data directory ${dataDir}: ${(e as Error).message}`);
  }
}

/** `dataDir` → `--data-dir` */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}
/** `dataDir` → `DWSBOX_DATA_DIR`; `store` → `DWSBOX_STORE_URL` (the documented name) */
export function envName(key: string): string {
  if (key === 'store') return 'DWSBOX_STORE_URL';
  return 'DWSBOX_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

function coerce(spec: SettingSpec, raw: unknown, source: string): unknown {
  const bad = (why: string): never => {
    const shown = spec.secret ? '(hidden)' : JSON.stringify(raw);
    throw new ConfigError(`invalid value ${shown} for setting ${spec.key} (${source}): ${why}`);
  };
  if (raw === null || raw === undefined) return null;
  switch (spec.kind) {
    case 'string': {
      if (typeof raw !== 'string') bad('expected a string');
      const s = raw as string;
      if (spec.choices && !spec.choices.includes(s)) bad(`expected one of ${spec.choices.join(', ')}`);
      return s;
    }
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isInteger(n)) bad('expected an integer');
      if (spec.min !== undefined && n < spec.min) bad(`must be at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) bad(`must be at most ${spec.max}`);
      return n;
    }
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isFinite(n)) bad('expected a number');
      if (spec.min !== undefined && n < spec.min) bad(`must be at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) bad(`must be at most ${spec.max}`);
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'string') {
        const v = raw.trim().toLowerCase();
        if (['1', 'true', 'yes', 'on', ''].includes(v)) return true;
        if (['0', 'false', 'no', 'off'].includes(v)) return false;
      }
      return bad('expected true or false');
    }
    case 'list':
      return Array.isArray(raw) ? raw.map(String) : String(raw).split(',');
  }
}

export interface LoadConfigInput {
  env?: Record<string, string | undefined>;
  /** parsed flags, keyed by setting key (camelCase) */
  flags?: Record<string, unknown>;
  /** a JSON config file; its keys are the setting keys */
  file?: string | undefined;
}

export function loadConfig(input: LoadConfigInput = {}): Config {
  const env = input.env ?? process.env;
  const flags = input.flags ?? {};
  const fileName = (flags['config'] as string | undefined) ?? input.file ?? env['DWSBOX_CONFIG'];
  let fileValues: Record<string, unknown> = {};
  if (fileName) {
    try {
      fileValues = JSON.parse(readFileSync(fileName, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`cannot read config file ${fileName}: ${(e as Error).message}`);
    }
    if (typeof fileValues !== 'object' || fileValues === null || Array.isArray(fileValues)) {
      throw new ConfigError(`config file ${fileName} must hold a JSON object`);
    }
    for (const k of Object.keys(fileValues)) {
      if (!SETTINGS.some((s) => s.key === k)) throw new ConfigError(`unknown setting ${k} in config file ${fileName}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    let v: unknown = spec.default;
    if (fileValues[spec.key] !== undefined) v = coerce(spec, fileValues[spec.key], `config file ${fileName}`);
    const e = env[envName(spec.key)];
    if (e !== undefined && e !== '') v = coerce(spec, e, `environment ${envName(spec.key)}`);
    if (flags[spec.key] !== undefined) v = coerce(spec, flags[spec.key], `flag --${flagName(spec.key)}`);
    out[spec.key] = v;
  }
  out['dataDir'] = resolve((out['dataDir'] as string | null) ?? defaultDataDir());
  const dataDir = out['dataDir'] as string;
  if (!out['store']) out['store'] = join(dataDir, 'dwsbox.sqlite');
  out['repoPath'] = resolve((out['repoPath'] as string | null) ?? join(dataDir, 'repo'));
  out['initdbPoolDir'] = resolve((out['initdbPoolDir'] as string | null) ?? join(dataDir, 'pool'));
  out['agentDir'] = resolve((out['agentDir'] as string | null) ?? DEFAULT_AGENT_DIR);
  out['engine'] ??= dataDirEngine(dataDir) ?? 'patroni';
  validateS3(out);
  const mk = out['masterKey'] as string | null;
  if (mk !== null && !/^[0-9a-fA-F]{64}$/.test(mk))
    throw new ConfigError('invalid value (hidden) for setting masterKey: expected 64 hex characters');
  const boot = ['projectId', 'accessKey', 'secretKey'].filter((k) => out[k]);
  if (boot.length !== 0 && boot.length !== 3) {
    throw new ConfigError(
      'settings projectId, accessKey and secretKey must be given together (DWSBOX_PROJECT_ID, DWSBOX_ACCESS_KEY, DWSBOX_SECRET_KEY)',
    );
  }
  if ((out['metricsHost'] === null) !== (out['metricsPort'] === null)) {
    throw new ConfigError('settings metricsHost and metricsPort must be given together');
  }
  return Object.freeze(out) as unknown as Config;
}

/** An S3 repository needs its endpoint, bucket, region and keys; values pgBackRest would refuse are refused here, naming the setting. */
function validateS3(out: Record<string, unknown>): void {
  if (out['repoType'] !== 's3') return;
  const missing = ['repoS3Endpoint', 'repoS3Bucket', 'repoS3Region', 'repoS3Key', 'repoS3KeySecret'].filter((k) => !out[k]);
  if (missing.length) {
    throw new ConfigError(`repoType s3 needs ${missing.map((k) => `${k} (${envName(k)}, --${flagName(k)})`).join(', ')}`);
  }
  const ep = out['repoS3Endpoint'] as string;
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(ep))
    throw new ConfigError(
      `invalid value ${JSON.stringify(ep)} for setting repoS3Endpoint: expected host or host:port, without a scheme (pgBackRest always uses HTTPS)`,
    );
  const port = Number(ep.split(':')[1] ?? 443);
  if (port < 1 || port > 65535)
    throw new ConfigError(`invalid value ${JSON.stringify(ep)} for setting repoS3Endpoint: port must be 1 to 65535`);
  const path = out['repoS3Path'] as string;
  if (!/^\/[A-Za-z0-9._/-]*$/.test(path))
    throw new ConfigError(`invalid value ${JSON.stringify(path)} for setting repoS3Path: expected an absolute path such as /dwsbox`);
  if (out['repoS3CaFile']) {
    out['repoS3CaFile'] = resolve(out['repoS3CaFile'] as string);
    try {
      readFileSync(out['repoS3CaFile'] as string);
    } catch (e) {
      throw new ConfigError(`cannot read repoS3CaFile ${out['repoS3CaFile'] as string}: ${(e as Error).message}`);
    }
  }
}

/** Is this store setting a PostgreSQL URL? */
export function isPostgresUrl(store: string): boolean {
  return /^postgres(ql)?:\/\//.test(store);
}
