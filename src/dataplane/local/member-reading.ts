/**
 * One reading of a running member for the metrics history (issue 17, D29): its PostgreSQL
 * processes from /proc (CPU ticks, proportional memory, I/O bytes of the postmaster and its
 * children), the free space of the filesystem under its data directory, and its server's
 * statistics views in one query. Counters are returned as they are; the collector turns two
 * readings into rates (domain/metrics.ts).
 *
 * /proc and statfs are read as the service (root) without touching the tenant's files: the
 * filesystem is asked about the member's root-owned directory, not the data directory inside it
 * (D32), and /proc files are the kernel's.
 */
import { readFileSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import type pg from 'pg';
import type { MemberReading } from '../../domain/metrics.js';
import type { NodeRecord } from '../../domain/records.js';
import type { ClusterRef } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import { childProcesses } from '../process-info.js';

/** Linux reports /proc CPU times in USER_HZ, 100 on every architecture Debian builds PostgreSQL for. */
const TICKS_PER_SECOND = 100;

interface ProcFigures {
  user: number;
  sys: number;
  pss: number | null;
  read: number | null;
  write: number | null;
}

function readProc(pid: number, withChildren: boolean, withPss: boolean): ProcFigures | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // gone
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14–17 of /proc/<pid>/stat: utime, stime, cutime, cstime (the reaped children's)
  const user = Number(f[11]) + (withChildren ? Number(f[13]) : 0);
  const sys = Number(f[12]) + (withChildren ? Number(f[14]) : 0);
  let pss: number | null = null;
  if (withPss) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) pss = Number(m[1]) * 1024;
    } catch {
      /* gone, or no smaps_rollup */
    }
  }
  let read: number | null = null;
  let write: number | null = null;
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    read = Number(/^read_bytes:\s+(\d+)/m.exec(io)?.[1] ?? NaN);
    write = Number(/^write_bytes:\s+(\d+)/m.exec(io)?.[1] ?? NaN);
    if (!Number.isFinite(read) || !Number.isFinite(write)) read = write = null;
  } catch {
    /* gone */
  }
  return { user, sys, pss, read, write };
}

/** The member's processes' figures: the postmaster (with the children it reaped) and each living child. */
function processTree(postmaster: number, withPss: boolean): Pick<MemberReading, 'cpuTicks' | 'memBytes' | 'io'> {
  const pm = readProc(postmaster, true, withPss);
  if (!pm) return { cpuTicks: null, memBytes: null, io: null };
  let user = pm.user;
  let sys = pm.sys;
  let pss = pm.pss;
  const io = new Map<number, { read: number; write: number }>();
  if (pm.read !== null && pm.write !== null) io.set(postmaster, { read: pm.read, write: pm.write });
  for (const pid of childProcesses(postmaster)) {
    const c = readProc(pid, true, withPss);
    if (!c) continue; // ended between the listing and the read: its time is in the postmaster's cutime by the next reading
    user += c.user;
    sys += c.sys;
    // an exited child not yet reaped has no memory or I/O figures left
    if (pss !== null && c.pss !== null) pss += c.pss;
    if (c.read !== null && c.write !== null) io.set(pid, { read: c.read, write: c.write });
  }
  return { cpuTicks: { user, sys }, memBytes: pss, io: pm.read === null ? null : io };
}

interface ServerRow {
  primary: boolean;
  xacts: number;
  rollbacks: number;
  tuples_read: number;
  tuples_written: number;
  connections: number;
  max_connections: number;
  wal_position: number;
  wal_bytes: number;
  archived: number;
  archive_failed: number;
  checkpoints: number;
  replay_delay: number | null;
  longest_query: number;
  started_ms: number;
}

/** One query of the statistics views: counters and gauges (the data size apart, DATA_BYTES_SQL). */
const READING_SQL = `select not pg_is_in_recovery() as primary,
            d.xacts, d.rollbacks, d.tuples_read, d.tuples_written,
            (select count(*) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid())::int as connections,
            current_setting('max_connections')::int as max_connections,
            ((case when pg_is_in_recovery() then coalesce(pg_last_wal_replay_lsn(), '0/0') else pg_current_wal_lsn() end) - '0/0'::pg_lsn)::float8 as wal_position,
            (select wal_bytes from pg_stat_wal)::float8 as wal_bytes,
            (select archived_count from pg_stat_archiver)::float8 as archived,
            (select failed_count from pg_stat_archiver)::float8 as archive_failed,
            (select checkpoints_timed + checkpoints_req from pg_stat_bgwriter)::float8 as checkpoints,
            case when not pg_is_in_recovery() then null
                 when pg_last_wal_receive_lsn() is not distinct from pg_last_wal_replay_lsn() then 0
                 else greatest(0, extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()))::float8 end as replay_delay,
            (select coalesce(max(extract(epoch from clock_timestamp() - query_start)), 0) from pg_stat_activity
              where state = 'active' and backend_type = 'client backend' and pid <> pg_backend_pid())::float8 as longest_query,
            (extract(epoch from pg_postmaster_start_time()) * 1000)::float8 as started_ms
       from (select sum(xact_commit + xact_rollback)::float8 as xacts, sum(xact_rollback)::float8 as rollbacks,
                    sum(tup_returned + tup_fetched)::float8 as tuples_read,
                    sum(tup_inserted + tup_updated + tup_deleted)::float8 as tuples_written
               from pg_stat_database) d`;

/** What the member's data takes: every database and the WAL it keeps, as the server sizes them. */
const DATA_BYTES_SQL = `select ((select coalesce(sum(pg_database_size(oid)), 0) from pg_database) + (select coalesce(sum(size), 0) from pg_ls_waldir()))::float8 as b`;

/**
 * The collector's own session on each member, kept open between readings (a new backend costs
 * the server about 10 ms of CPU to start and fill its catalog caches, several times the
 * reading's query: bench/collector.ts), for as long as the same postmaster runs; one not used
 * for `IDLE_SESSION_MS` is closed, and every one at service stop (`endReadingSessions`).
 */
interface Kept {
  client: pg.Client;
  pid: number;
  startTime: number;
  usedAt: number;
  dataBytes: { at: number; bytes: number } | null;
  memBytes: { at: number; bytes: number | null } | null;
}
/** per engine (several services may run in one process, each with its own) */
const sessionsOf = new WeakMap<LocalEngine, Map<string, Kept>>();
function sessions(e: LocalEngine): Map<string, Kept> {
  let m = sessionsOf.get(e);
  if (!m) sessionsOf.set(e, (m = new Map()));
  return m;
}
const IDLE_SESSION_MS = 5 * 60_000;
/**
 * The slow figures, measured once a minute rather than every collection: the server walks a
 * member's database directories to size them, and the kernel walks every process's page tables
 * for its proportional set size (`smaps_rollup`, 2.6 ms a member: over half the collector's own
 * CPU in bench/collector.ts). In between, a reading carries the last measurement.
 */
const SLOW_FIGURES_EVERY_MS = 60_000;

function drop(e: LocalEngine, key: string): void {
  const s = sessions(e).get(key);
  if (!s) return;
  sessions(e).delete(key);
  void s.client.end().catch(() => {});
}

/** Close the collector's sessions unused for `idleMs` (0: every one, at service stop). */
export function endReadingSessions(e: LocalEngine, idleMs = 0): void {
  const now = Date.now();
  for (const [key, s] of sessions(e)) if (now - s.usedAt >= idleMs) drop(e, key);
}

async function session(e: LocalEngine, cluster: ClusterRef, member: NodeRecord, proc: { pid: number; startTime: number }): Promise<Kept> {
  const key = `${cluster.id}/${member.ordinal}`;
  const kept = sessions(e).get(key);
  if (kept && kept.pid === proc.pid && kept.startTime === proc.startTime) {
    kept.usedAt = Date.now();
    return kept;
  }
  if (kept) drop(e, key); // another postmaster runs now
  const client = await e.instance(cluster, member).connect('postgres', 10_000);
  client.on('error', () => drop(e, key)); // the server stopped or restarted: the next reading connects again
  const s: Kept = { client, pid: proc.pid, startTime: proc.startTime, usedAt: Date.now(), dataBytes: null, memBytes: null };
  sessions(e).set(key, s);
  return s;
}

/** when each engine's idle sessions were last looked for (once a minute is enough for a 5-minute idle limit) */
const sweptAt = new WeakMap<LocalEngine, number>();

/** The reading of a running member; null when it does not run. */
export async function memberReading(e: LocalEngine, cluster: ClusterRef, member: NodeRecord, atMs: number): Promise<MemberReading | null> {
  if (Date.now() - (sweptAt.get(e) ?? 0) >= 60_000) {
    sweptAt.set(e, Date.now());
    endReadingSessions(e, IDLE_SESSION_MS);
  }
  const proc = e.memberStatus(cluster, member);
  if (!proc) return null;
  const s = await session(e, cluster, member, proc);
  let row: ServerRow | undefined;
  try {
    [row] = (await s.client.query<ServerRow>(READING_SQL)).rows;
    if (!s.dataBytes || Date.now() - s.dataBytes.at >= SLOW_FIGURES_EVERY_MS) {
      const [d] = (await s.client.query<{ b: number }>(DATA_BYTES_SQL)).rows;
      s.dataBytes = { at: Date.now(), bytes: d?.b ?? 0 };
    }
  } catch (err) {
    drop(e, `${cluster.id}/${member.ordinal}`);
    throw err;
  }
  if (!row) return null;
  const memDue = !s.memBytes || Date.now() - s.memBytes.at >= SLOW_FIGURES_EVERY_MS;
  const tree = processTree(proc.pid, memDue);
  if (memDue) s.memBytes = { at: Date.now(), bytes: tree.memBytes };
  let fsAvailBytes: number | null = null;
  try {
    const fs = statfsSync(dirname(member.dataDir));
    fsAvailBytes = fs.bavail * fs.bsize;
  } catch {
    /* the directory is gone (the member was removed meanwhile) */
  }
  return {
    atMs,
    primary: row.primary,
    ...tree,
    memBytes: s.memBytes!.bytes,
    ticksPerSecond: TICKS_PER_SECOND,
    dataBytes: s.dataBytes.bytes,
    fsAvailBytes,
    connections: row.connections,
    maxConnections: row.max_connections,
    xacts: row.xacts,
    rollbacks: row.rollbacks,
    tuplesRead: row.tuples_read,
    tuplesWritten: row.tuples_written,
    walPosition: row.wal_position,
    walBytes: row.wal_bytes,
    archived: row.archived,
    archiveFailed: row.archive_failed,
    checkpoints: row.checkpoints,
    replayDelaySeconds: row.replay_delay,
    longestQuerySeconds: row.longest_query,
    serverStartMs: row.started_ms,
  };
}
