/**
 * Metrics history (issue 17, D29): what the collector measures of each member every interval,
 * the indicators the monitoring APIs serve from it, and how a range of samples is read back
 * (which resolution, buckets of a period, a function over each bucket). Pure code: the
 * measuring is the data plane's (`DataPlane.memberSample`), the keeping the store's.
 */

/** One member's figures at one collection, as the store keeps them (one wide row, D29). Null: not measured then. */
export interface MetricSample {
  clusterId: string;
  projectId: string;
  ordinal: number;
  /** epoch seconds of the collection (raw), or the start of the 5-minute bucket (rollup) */
  at: number;
  /** samples averaged into this row (1 for a raw one) */
  samples: number;
  primary: boolean;
  /** CPU time of the member's PostgreSQL processes per second of wall time, in percent of one core (user + system) */
  cpuPercent: number | null;
  cpuUserPercent: number | null;
  cpuSysPercent: number | null;
  /** proportional set size of the member's PostgreSQL processes (shared memory counted once across them) */
  memBytes: number | null;
  /** its databases and WAL, as PostgreSQL sizes them */
  dataBytes: number | null;
  /** free bytes of the filesystem of its data directory, for an unprivileged user */
  fsAvailBytes: number | null;
  diskReadRate: number | null;
  diskWriteRate: number | null;
  connections: number | null;
  maxConnections: number | null;
  /** transactions (commits and rollbacks) per second, every database */
  tps: number | null;
  rollbackRate: number | null;
  tuplesReadRate: number | null;
  tuplesWrittenRate: number | null;
  /** a standby's replay behind its primary's current WAL position (null on a primary) */
  lagBytes: number | null;
  lagSeconds: number | null;
  walRate: number | null;
  archiveRate: number | null;
  archiveFailRate: number | null;
  /** checkpoints per minute */
  checkpointRate: number | null;
  /** how long the longest-running statement of a client session has run, seconds (0: none running) */
  longestQuerySeconds: number | null;
}

/** The fields of a sample that hold figures (everything but who, when and how many). */
export type MetricField = Exclude<keyof MetricSample, 'clusterId' | 'projectId' | 'ordinal' | 'at' | 'samples' | 'primary'>;

export const METRIC_FIELDS: readonly MetricField[] = [
  'cpuPercent',
  'cpuUserPercent',
  'cpuSysPercent',
  'memBytes',
  'dataBytes',
  'fsAvailBytes',
  'diskReadRate',
  'diskWriteRate',
  'connections',
  'maxConnections',
  'tps',
  'rollbackRate',
  'tuplesReadRate',
  'tuplesWrittenRate',
  'lagBytes',
  'lagSeconds',
  'walRate',
  'archiveRate',
  'archiveFailRate',
  'checkpointRate',
  'longestQuerySeconds',
];

/** What a member's processes and server say at one moment: gauges, and counters whose rates need two readings. */
export interface MemberReading {
  /** monotonic milliseconds of the reading (rates divide by its difference) */
  atMs: number;
  primary: boolean;
  /** CPU clock ticks of the postmaster and its children (living, and reaped ones through cutime), user and system */
  cpuTicks: { user: number; sys: number } | null;
  /** clock ticks per second (`getconf CLK_TCK`) */
  ticksPerSecond: number;
  memBytes: number | null;
  /** bytes read and written by each living process, by PID (a process gone since the last reading takes its bytes along) */
  io: Map<number, { read: number; write: number }> | null;
  dataBytes: number;
  fsAvailBytes: number | null;
  connections: number;
  maxConnections: number;
  xacts: number;
  rollbacks: number;
  tuplesRead: number;
  tuplesWritten: number;
  /** the server's WAL position now (primary: written; standby: replayed), as a byte number */
  walPosition: number;
  walBytes: number;
  archived: number;
  archiveFailed: number;
  checkpoints: number;
  /** a standby's seconds since the last transaction it replayed, 0 when it has replayed all it received; null on a primary */
  replayDelaySeconds: number | null;
  /** the longest-running statement of a client session, seconds (0: none) */
  longestQuerySeconds: number;
  /** the server's start (a restart resets its counters) */
  serverStartMs: number;
}

const rate = (now: number, before: number, seconds: number): number | null =>
  now >= before && seconds > 0 ? (now - before) / seconds : null;

/**
 * One sample from a member's reading and its previous one (rates need both: a first reading,
 * or one after the server restarted, has none), and its primary's WAL position (the lag).
 */
export function sampleOf(
  who: { clusterId: string; projectId: string; ordinal: number; atSeconds: number },
  now: MemberReading,
  before: MemberReading | null,
  primaryWal: number | null,
): MetricSample {
  const prev = before && before.serverStartMs === now.serverStartMs && now.atMs > before.atMs ? before : null;
  const seconds = prev ? (now.atMs - prev.atMs) / 1000 : 0;
  const r = (f: (m: MemberReading) => number): number | null => (prev ? rate(f(now), f(prev), seconds) : null);
  let cpuUser: number | null = null;
  let cpuSys: number | null = null;
  if (prev?.cpuTicks && now.cpuTicks) {
    cpuUser = rate(now.cpuTicks.user, prev.cpuTicks.user, seconds);
    cpuSys = rate(now.cpuTicks.sys, prev.cpuTicks.sys, seconds);
    if (cpuUser !== null) cpuUser = (cpuUser / now.ticksPerSecond) * 100;
    if (cpuSys !== null) cpuSys = (cpuSys / now.ticksPerSecond) * 100;
  }
  let readRate: number | null = null;
  let writeRate: number | null = null;
  if (prev?.io && now.io) {
    let read = 0;
    let write = 0;
    for (const [pid, v] of now.io) {
      const p = prev.io.get(pid);
      read += p ? Math.max(0, v.read - p.read) : v.read;
      write += p ? Math.max(0, v.write - p.write) : v.write;
    }
    readRate = read / seconds;
    writeRate = write / seconds;
  }
  const perMinute = r((m) => m.checkpoints);
  return {
    clusterId: who.clusterId,
    projectId: who.projectId,
    ordinal: who.ordinal,
    at: who.atSeconds,
    samples: 1,
    primary: now.primary,
    cpuPercent: cpuUser !== null && cpuSys !== null ? cpuUser + cpuSys : null,
    cpuUserPercent: cpuUser,
    cpuSysPercent: cpuSys,
    memBytes: now.memBytes,
    dataBytes: now.dataBytes,
    fsAvailBytes: now.fsAvailBytes,
    diskReadRate: readRate,
    diskWriteRate: writeRate,
    connections: now.connections,
    maxConnections: now.maxConnections,
    tps: r((m) => m.xacts),
    rollbackRate: r((m) => m.rollbacks),
    tuplesReadRate: r((m) => m.tuplesRead),
    tuplesWrittenRate: r((m) => m.tuplesWritten),
    lagBytes: now.primary ? null : primaryWal === null ? null : Math.max(0, primaryWal - now.walPosition),
    lagSeconds: now.primary ? null : now.replayDelaySeconds,
    walRate: now.primary ? r((m) => m.walBytes) : null,
    archiveRate: now.primary ? r((m) => m.archived) : null,
    archiveFailRate: now.primary ? r((m) => m.archiveFailed) : null,
    checkpointRate: perMinute === null ? null : perMinute * 60,
    longestQuerySeconds: now.longestQuerySeconds,
  };
}

// ---------------------------------------------------------------- indicators

export interface Indicator {
  /** the DWS-style name (`instance.<figure>`) the APIs take */
  name: string;
  field: MetricField;
  unit: string;
  /** the collector's module that measures it (DWS's `plugin_name`) */
  plugin: 'CpuStat' | 'MemStat' | 'DiskStat' | 'SessionStat' | 'TransactionStat' | 'ReplicationStat' | 'WalStat' | 'QueryStat';
  description: string;
  /** a figure a primary does not have (a standby's lag) or a standby does not (WAL written, archiving) */
  only?: 'primary' | 'standby';
  /** computed from two fields of a sample instead of read from one */
  derive?: (s: Pick<MetricSample, MetricField>, ctx: { nodeTypeMemoryBytes: number; nodeTypeDiskBytes: number }) => number | null;
}

const pct = (a: number | null, b: number): number | null => (a === null || b <= 0 ? null : (a / b) * 100);

export const INDICATORS: readonly Indicator[] = [
  {
    name: 'instance.cpu_usage',
    field: 'cpuPercent',
    unit: '%',
    plugin: 'CpuStat',
    description: "CPU time of the member's PostgreSQL processes, in percent of one core",
  },
  {
    name: 'instance.cpu_usage_usr',
    field: 'cpuUserPercent',
    unit: '%',
    plugin: 'CpuStat',
    description: 'the user part of instance.cpu_usage',
  },
  {
    name: 'instance.cpu_usage_sys',
    field: 'cpuSysPercent',
    unit: '%',
    plugin: 'CpuStat',
    description: 'the system part of instance.cpu_usage',
  },
  {
    name: 'instance.mem_used',
    field: 'memBytes',
    unit: 'B',
    plugin: 'MemStat',
    description: "proportional set size of the member's PostgreSQL processes",
  },
  {
    name: 'instance.mem_usage',
    field: 'memBytes',
    unit: '%',
    plugin: 'MemStat',
    description: "instance.mem_used in percent of its node type's memory budget",
    derive: (s, c) => pct(s.memBytes, c.nodeTypeMemoryBytes),
  },
  {
    name: 'instance.disk_used',
    field: 'dataBytes',
    unit: 'B',
    plugin: 'DiskStat',
    description: 'its databases and WAL, as PostgreSQL sizes them',
  },
  {
    name: 'instance.disk_usage',
    field: 'dataBytes',
    unit: '%',
    plugin: 'DiskStat',
    description: "instance.disk_used in percent of its node type's disk",
    derive: (s, c) => pct(s.dataBytes, c.nodeTypeDiskBytes),
  },
  {
    name: 'instance.fs_available',
    field: 'fsAvailBytes',
    unit: 'B',
    plugin: 'DiskStat',
    description: 'free space of the filesystem that holds its data directory',
  },
  {
    name: 'instance.disk_read_rate',
    field: 'diskReadRate',
    unit: 'B/s',
    plugin: 'DiskStat',
    description: 'bytes its PostgreSQL processes read from storage per second (/proc/<pid>/io)',
  },
  {
    name: 'instance.disk_write_rate',
    field: 'diskWriteRate',
    unit: 'B/s',
    plugin: 'DiskStat',
    description: 'bytes its PostgreSQL processes wrote to storage per second (/proc/<pid>/io)',
  },
  {
    name: 'instance.connections',
    field: 'connections',
    unit: 'count',
    plugin: 'SessionStat',
    description: 'client sessions (pg_stat_activity)',
  },
  {
    name: 'instance.connection_usage',
    field: 'connections',
    unit: '%',
    plugin: 'SessionStat',
    description: 'instance.connections in percent of max_connections',
    derive: (s) => (s.maxConnections === null ? null : pct(s.connections, s.maxConnections)),
  },
  {
    name: 'instance.tps',
    field: 'tps',
    unit: '1/s',
    plugin: 'TransactionStat',
    description: 'transactions (commits and rollbacks) per second, every database (pg_stat_database)',
  },
  {
    name: 'instance.rollback_rate',
    field: 'rollbackRate',
    unit: '1/s',
    plugin: 'TransactionStat',
    description: 'rollbacks per second (pg_stat_database)',
  },
  {
    name: 'instance.tuples_read_rate',
    field: 'tuplesReadRate',
    unit: '1/s',
    plugin: 'TransactionStat',
    description: 'rows returned and fetched per second (pg_stat_database)',
  },
  {
    name: 'instance.tuples_written_rate',
    field: 'tuplesWrittenRate',
    unit: '1/s',
    plugin: 'TransactionStat',
    description: 'rows inserted, updated and deleted per second (pg_stat_database)',
  },
  {
    name: 'instance.replication_lag_bytes',
    field: 'lagBytes',
    unit: 'B',
    plugin: 'ReplicationStat',
    only: 'standby',
    description: "a standby's replayed WAL position behind its primary's current one",
  },
  {
    name: 'instance.replication_lag_seconds',
    field: 'lagSeconds',
    unit: 's',
    plugin: 'ReplicationStat',
    only: 'standby',
    description:
      'seconds since the last transaction a standby replayed while it has WAL left to replay (0 when it has replayed everything it received)',
  },
  {
    name: 'instance.wal_rate',
    field: 'walRate',
    unit: 'B/s',
    plugin: 'WalStat',
    only: 'primary',
    description: 'WAL bytes the primary writes per second (pg_stat_wal)',
  },
  {
    name: 'instance.archive_rate',
    field: 'archiveRate',
    unit: '1/s',
    plugin: 'WalStat',
    only: 'primary',
    description: 'WAL segments archived per second (pg_stat_archiver)',
  },
  {
    name: 'instance.archive_failure_rate',
    field: 'archiveFailRate',
    unit: '1/s',
    plugin: 'WalStat',
    only: 'primary',
    description: 'failed attempts to archive a WAL segment per second (pg_stat_archiver)',
  },
  {
    name: 'instance.checkpoint_rate',
    field: 'checkpointRate',
    unit: '1/min',
    plugin: 'WalStat',
    description: 'checkpoints (timed and requested) per minute (pg_stat_bgwriter)',
  },
  {
    name: 'instance.longest_query_seconds',
    field: 'longestQuerySeconds',
    unit: 's',
    plugin: 'QueryStat',
    description: 'how long the longest-running statement of a client session has run (pg_stat_activity; 0 when none runs)',
  },
];

export const findIndicator = (name: string): Indicator | undefined => INDICATORS.find((i) => i.name === name);

/** An indicator's value in a sample (derived ones computed), null when it was not measured. */
export function indicatorValue(
  i: Indicator,
  s: Pick<MetricSample, MetricField>,
  ctx: { nodeTypeMemoryBytes: number; nodeTypeDiskBytes: number },
): number | null {
  return i.derive ? i.derive(s, ctx) : s[i.field];
}

/**
 * What this engine cannot measure of a member, each with why: the monitoring answers leave
 * these fields out and say so (D29: absent with a reason, never zero).
 */
export const ABSENT_REASONS = {
  network:
    "every member shares the host's network namespace (each listens on its own loopback address), so its own traffic cannot be told from the rest; measure the host's interfaces instead",
  iowait: "the kernel reports I/O wait per CPU, not per process tree; the member's processes' I/O is in disk_io_read and disk_io_write",
  swap: "the host swap is not the member's; PostgreSQL processes of a member have no swap budget of their own",
  cache: "the page cache is the host's and shared by every member; a member's own use of it cannot be measured",
  diskLatency: 'await, svctm and util are figures of a block device, which every member on this host shares',
} as const;

// ---------------------------------------------------------------- reading a range back

export const ROLLUP_SECONDS = 300;

/** Which resolution answers a range: raw samples while they are kept and the range is at most `rawSpanSeconds`, else the 5-minute rollups. */
export function resolutionFor(fromS: number, toS: number, nowS: number, rawRetentionS: number, rawSpanSeconds = 6 * 3600): 0 | 300 {
  return fromS >= nowS - rawRetentionS && toS - fromS <= rawSpanSeconds ? 0 : ROLLUP_SECONDS;
}

export type BucketFunction = 'avg' | 'max' | 'min';

/** Points of one member over a range: each `period` seconds one value, `fn` of the samples in it; empty buckets are absent (never zero). */
export function bucketize(
  points: readonly { at: number; value: number | null }[],
  periodS: number,
  fn: BucketFunction,
): { at: number; value: number }[] {
  const out: { at: number; value: number }[] = [];
  let cur: { at: number; sum: number; n: number; max: number; min: number } | null = null;
  const flush = () => {
    if (cur && cur.n > 0) out.push({ at: cur.at, value: fn === 'avg' ? cur.sum / cur.n : fn === 'max' ? cur.max : cur.min });
  };
  for (const p of points) {
    if (p.value === null) continue;
    const b = periodS <= 1 ? p.at : Math.floor(p.at / periodS) * periodS;
    if (!cur || cur.at !== b) {
      flush();
      cur = { at: b, sum: 0, n: 0, max: -Infinity, min: Infinity };
    }
    cur.sum += p.value;
    cur.n += 1;
    cur.max = Math.max(cur.max, p.value);
    cur.min = Math.min(cur.min, p.value);
  }
  flush();
  return out;
}
