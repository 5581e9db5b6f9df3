/** Streaming replication (D5): building and removing standbys, their slots and passfiles, catching up, archiving state. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { ClusterSecrets, OnProgress } from '../data-plane.js';
import { appNameFor, REPLICATION_ROLE, slotNameFor, type LocalEngine } from '../local-engine.js';
import { baseEnv, isProcessAlive, runTool, signalProcess, startTool, whilePolling } from '../pg-exec.js';
import { mkdirOwned, writeOwned, type ShutdownMode } from '../pg-instance.js';
import { ownedBy, readFileSafe, removeTree, serviceOwner, writeFileSafe } from '../safe-fs.js';
import { syncDataDir } from './initdb-pool.js';
import { makeStandbyOf } from './member-copies.js';

/** In a standby's member directory: its copy of the primary is finished. */
export const STANDBY_COPY_DONE = 'copy.done';

/**
 * Build a hot standby of the running primary (D5): a file copy of it under the low-level
 * backup API (`copyFromPrimary`, issue 14: faster than pg_basebackup on this host), or, when
 * the primary's directory holds links (tablespaces), `pg_basebackup -X stream -c fast -R -C -S
 * <slot>` with progress from the primary's pg_stat_progress_basebackup. Idempotent: a finished
 * copy is kept; a partial one (crash mid-copy) and its slot are removed and the copy starts over.
 */
export async function buildStandby(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  node: NodeRecord,
  secrets: ClusterSecrets,
  o: { signal?: AbortSignal; onProgress?: OnProgress },
): Promise<{ bytes: number }> {
  const nodeDir = e.nodeDir(cluster.id, node.ordinal);
  const doneMarker = join(nodeDir, STANDBY_COPY_DONE);
  const inst = e.instance(cluster, node);
  if (existsSync(doneMarker) && inst.isInitialized()) {
    return { bytes: Number(readFileSafe(doneMarker) ?? 0) || 0 };
  }
  if (inst.status()) await inst.stop({ mode: 'immediate' });
  await removeTree(node.dataDir);
  e.prepareNodeDir(cluster, node.ordinal);
  // pg_basebackup fills an empty directory the PostgreSQL user owns (its parent is root's).
  mkdirOwned(node.dataDir, inst.spec.os, 0o700);
  const slot = slotNameFor(node.ordinal);
  const p = e.instance(cluster, primary);
  await e.dropSlotIfInactive(cluster, primary, slot);
  // On this host the primary's files are at hand: a file copy of them is faster than pg_basebackup (issue 14).
  const copied = await copyFromPrimary(e, cluster, primary, node, secrets, o);
  if (copied) {
    writeFileSafe(doneMarker, String(copied.bytes), serviceOwner(), 0o644);
    return copied;
  }
  await removeTree(node.dataDir);
  mkdirOwned(node.dataDir, inst.spec.os, 0o700);
  await e.dropSlotIfInactive(cluster, primary, slot);
  // D32: the password reaches pg_basebackup and the standby's walreceiver through a passfile
  // (`-R` writes `passfile=` into primary_conninfo), never as a setting anyone can read.
  const passfile = e.writeReplicationPassfile(cluster, node.ordinal, secrets);
  const conninfo = `host=${primary.host} port=${primary.port} user=${REPLICATION_ROLE} application_name=${appNameFor(node.ordinal)} passfile=${passfile}`;
  const tool = startTool({
    cmd: join(e.bins.binDir, 'pg_basebackup'),
    args: ['-d', conninfo, '-D', node.dataDir, '-X', 'stream', '-c', 'fast', '-R', '-C', '-S', slot, '-P', '--no-password'],
    env: baseEnv(),
    runAs: inst.spec.os,
    lockFile: e.lockFile(cluster.id),
    logger: e.log,
    label: 'pg_basebackup',
    timeoutMs: 6 * 60 * 60_000,
    idleTimeoutMs: 5 * 60_000,
    waitingFor: 'data from the primary',
    ...(o.signal ? { signal: o.signal } : {}),
  });
  let last = -1;
  let total = 0;
  const tick = async (live: () => boolean): Promise<void> => {
    const rows = await p.query<{ streamed: string; total: string; phase: string }>(
      `select backup_streamed::text as streamed, backup_total::text as total, phase from pg_stat_progress_basebackup where pid in (select pid from pg_stat_replication where application_name = $1)`,
      [appNameFor(node.ordinal)],
      'postgres',
      2000,
    );
    const r = rows[0];
    // An answer that arrives after pg_basebackup ended is not a sample of it.
    if (!r || !live()) return;
    const done = Number(r.streamed);
    total = Number(r.total) || total;
    if (done !== last) {
      last = done;
      tool.touch();
      o.onProgress?.({
        source: 'pg_stat_progress_basebackup',
        bytesDone: done,
        bytesTotal: total || null,
        percent: total ? (100 * done) / total : null,
        data: { phase: r.phase },
      });
    }
  };
  await whilePolling(tool.done, 500, tick);
  const bytes = inst.dataDirSize();
  o.onProgress?.({ source: 'pg_basebackup', bytesDone: total || bytes, bytesTotal: total || bytes, percent: 100, data: { phase: 'done' } });
  // The copy carries the primary's node file; this node gets its own address before it starts.
  inst.writeNodeConfig();
  writeFileSafe(doneMarker, String(total || bytes), serviceOwner(), 0o644);
  return { bytes: total || bytes };
}

/** What pg_basebackup leaves out of a copy (PostgreSQL 15, basebackup.c), by path relative to the data directory. */
const SKIP_FILES = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'backup_label',
  'backup_label.old',
  'tablespace_map',
  'tablespace_map.old',
  'backup_manifest',
  'standby.signal',
  'recovery.signal',
  'postgresql.auto.conf.tmp',
  'current_logfiles.tmp',
]);
/** Directories copied empty (their contents are the running server's, or WAL, which the standby streams). */
const EMPTY_DIRS = ['pg_wal', 'pg_stat_tmp', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans'];
const skipped = (rel: string): boolean =>
  SKIP_FILES.has(rel) ||
  EMPTY_DIRS.some((d) => rel.startsWith(`${d}/`) && !(d === 'pg_wal' && rel === 'pg_wal/archive_status')) ||
  rel.split('/').some((part) => part.startsWith('pgsql_tmp') || part.startsWith('pg_internal.init'));

/** cp and find exit 1 when a file vanished under them (a dropped table, a temporary file): PostgreSQL's backup mode allows that. */
async function allowVanished(run: Promise<unknown>): Promise<void> {
  try {
    await run;
  } catch (err) {
    const d = (err as AppError).details as { exitCode?: number; stderr?: string } | undefined;
    const lines = (d?.stderr ?? '').split('\n').filter((l) => l.trim() !== '');
    if (d?.exitCode !== 1 || !lines.length || !lines.every((l) => /No such file or directory/.test(l))) throw err;
  }
}

/**
 * A standby as a file copy of the RUNNING primary (issue 14): PostgreSQL's low-level backup,
 * which is what pg_basebackup does over a connection, done on this host. Its slot is made
 * first (`immediately_reserve`, from the primary's latest checkpoint), so the primary keeps
 * every WAL segment from before the backup's checkpoint; then `pg_backup_start(fast)` in a
 * session held open, the files copied by the project's OS user (D32) with two `cp` processes
 * at once (pg_basebackup's exclusions; pg_wal copied empty: the standby streams its WAL from
 * the slot, the backup's checkpoint included), `pg_backup_stop(false)`'s label written as
 * `backup_label`, the copy fsynced (D20: `initdb --sync-only`), and the standby's settings.
 * A file that vanishes during the copy is allowed (the backup's WAL replay recreates or drops
 * it, as for pg_basebackup); any other link or special file is left behind, as pg_basebackup
 * leaves it. Returns null (the caller removes what it made) when the primary has a tablespace
 * or a linked pg_wal: pg_basebackup maps those. A crash or an abort ends the session, which
 * ends the backup on the primary.
 */
async function copyFromPrimary(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  node: NodeRecord,
  secrets: ClusterSecrets,
  o: { signal?: AbortSignal; onProgress?: OnProgress },
): Promise<{ bytes: number } | null> {
  const p = e.instance(cluster, primary);
  const inst = e.instance(cluster, node);
  const os = inst.spec.os;
  const tool = {
    env: baseEnv(),
    runAs: os,
    lockFile: e.lockFile(cluster.id),
    logger: e.log,
    timeoutMs: 6 * 60 * 60_000,
    idleTimeoutMs: 5 * 60_000,
    ...(o.signal ? { signal: o.signal } : {}),
  };
  const slot = slotNameFor(node.ordinal);
  await p.query('select pg_create_physical_replication_slot($1, true)', [slot]);
  const session = await p.connect('postgres', 10 * 60_000);
  try {
    await session.query('select pg_backup_start($1, true)', [`dwsbox ${slot}`]);
    const listing = await runTool({
      ...tool,
      cmd: 'find',
      args: [primary.dataDir, '-mindepth', '1', '-printf', '%y %s %P\\n'],
      label: 'find',
    }).catch((err: unknown) => {
      if (o.signal?.aborted) throw err;
      return null;
    });
    if (!listing) return null; // a directory vanished while it was listed: pg_basebackup copes
    const dirs: string[] = [];
    const files: { rel: string; size: number }[] = [];
    for (const line of listing.stdout.split('\n')) {
      const m = /^(\S) (\d+) (.+)$/.exec(line);
      if (!m) continue;
      const [, type, size, rel] = m as unknown as [string, string, string, string];
      if (type === 'd') {
        if (!EMPTY_DIRS.some((d) => rel.startsWith(`${d}/`)) || rel === 'pg_wal/archive_status') dirs.push(rel);
      } else if (type === 'f') {
        if (!skipped(rel)) files.push({ rel, size: Number(size) });
      } else if (rel === 'pg_wal' || rel.startsWith('pg_tblspc/')) {
        e.log.info('the primary has a tablespace or a linked pg_wal; the standby is built with pg_basebackup', { node: node.ordinal });
        return null;
      } else {
        // Any other link or special file is left behind, as pg_basebackup leaves it (and nothing follows it).
        e.log.warn('a link or special file in the primary is not copied', { node: node.ordinal, path: rel, type });
      }
    }
    const total = files.reduce((a, f) => a + f.size, 0);
    if (dirs.length)
      await runTool({ ...tool, cmd: 'mkdir', args: ['-p', '-m', '0700', '--', ...dirs.map((d) => join(node.dataDir, d))], label: 'mkdir' });
    // Two copies at once (the machine's cores), the largest files first, balanced by size.
    const lists: { rel: string; size: number }[][] = [[], []];
    const sums = [0, 0];
    for (const f of [...files].sort((a, b) => b.size - a.size)) {
      const i = sums[0]! <= sums[1]! ? 0 : 1;
      lists[i]!.push(f);
      sums[i]! += f.size;
    }
    const sizes = new Map(files.map((f) => [f.rel, f.size]));
    let done = 0;
    let reported = 0;
    const report = (): void => {
      if (Date.now() - reported < 250) return;
      reported = Date.now();
      o.onProgress?.({
        source: 'copy',
        bytesDone: done,
        bytesTotal: total,
        percent: total ? (100 * done) / total : 100,
        data: { phase: 'copy' },
      });
    };
    // The first sample comes from the first file copied, while the copies run.
    await Promise.all(
      lists
        .filter((l) => l.length)
        .map((l) =>
          allowVanished(
            runTool({
              ...tool,
              cmd: 'cp',
              args: ['-a', '-v', '--parents', '-t', node.dataDir, '--', ...l.map((f) => f.rel)],
              cwd: primary.dataDir,
              label: 'cp',
              maxStdoutBytes: 0,
              onLine: (line, stream) => {
                const m = stream === 'stdout' ? /^'([^']+)' -> /.exec(line) : null;
                if (!m) return;
                done += sizes.get(m[1]!) ?? 0;
                report();
              },
            }),
          ),
        ),
    );
    const r = await session.query<{ label: string; spcmap: string | null }>(
      'select labelfile as label, spcmapfile as spcmap from pg_backup_stop(false)',
    );
    if (r.rows[0]?.spcmap) return null; // tablespaces: pg_basebackup maps them
    writeOwned(join(node.dataDir, 'backup_label'), r.rows[0]!.label, os);
    if (!e.settings.unsafeNoFsync) await syncDataDir(e.bins, node.dataDir, os, tool);
    makeStandbyOf(e, cluster, primary, node, secrets);
    o.onProgress?.({ source: 'copy', bytesDone: total, bytesTotal: total, percent: 100, data: { phase: 'done' } });
    return { bytes: total };
  } finally {
    // Ends a backup still running (an error, an abort) on the primary.
    await session.end().catch(() => {});
  }
}

/** The replication role's passfile of a node (the PostgreSQL user's, 0600, in the node's root-owned directory). */
export function writeReplicationPassfile(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
  ordinal: number,
  secrets: ClusterSecrets,
): string {
  const file = join(e.nodeDir(cluster.id, ordinal), 'replication.pgpass');
  const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  writeFileSafe(file, `*:*:*:${esc(REPLICATION_ROLE)}:${esc(secrets.replPassword)}\n`, ownedBy(e.projectUser(cluster.projectId)), 0o600);
  return file;
}

export async function dropSlotIfInactive(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
  primary: NodeRecord,
  slot: string,
): Promise<void> {
  const inst = e.instance(cluster, primary);
  const rows = await inst.query<{ active: boolean; pid: number | null }>(
    'select active, active_pid as pid from pg_replication_slots where slot_name = $1',
    [slot],
  );
  const r = rows[0];
  if (!r) return;
  if (r.active && r.pid) await inst.query('select pg_terminate_backend($1)', [r.pid]);
  for (let i = 0; i < 50; i++) {
    try {
      await inst.query('select pg_drop_replication_slot($1) where exists (select 1 from pg_replication_slots where slot_name = $1)', [
        slot,
      ]);
      return;
    } catch (e) {
      if (!/is active/.test((e as Error).message)) throw e;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

/** The replication slots on the primary (D5: one per standby; `doctor` and scale-in read them). */
export async function replicationSlots(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
  primary: NodeRecord,
): Promise<{ name: string; active: boolean; ordinal: number | null }[]> {
  const rows = await e
    .instance(cluster, primary)
    .query<{ name: string; active: boolean }>('select slot_name as name, active from pg_replication_slots order by 1');
  // A replica's slot is named from its node number by the engine (D5); any other slot belongs to no member.
  const ordinalOf = (name: string): number | null => {
    const n = Number(/(\d+)$/.exec(name)?.[1] ?? NaN);
    return n > 0 && e.replicaSlotName(n) === name ? n : null;
  };
  return rows.map((r) => ({ ...r, ordinal: ordinalOf(r.name) }));
}

/** Does the member's data directory hold a copy (a finished standby copy, or a primary's data)? */
export function memberHasData(e: LocalEngine, cluster: Pick<ClusterRecord, 'id' | 'projectId'>, member: NodeRecord): boolean {
  return e.instance(cluster, member).isInitialized();
}

/**
 * Take a standby out for good (scale-in; undo of a scale-out): stop it (`mode`, through
 * postmaster.pid and through the PID the store recorded, so a postmaster whose pid file is
 * gone is found too), drop its slot on the primary, remove its files and socket directory.
 * Idempotent. Removes what it can; then throws, naming what is left and how to remove it,
 * when the slot could not be dropped (the primary is down) or the process would not die.
 */
export async function removeStandby(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
  primary: NodeRecord | null,
  node: NodeRecord,
  mode: ShutdownMode,
): Promise<void> {
  if (node.role !== 'standby' || node.ordinal === 1)
    throw new AppError('ENGINE_NODE_FAILED', { args: [node.host, 'is not a standby; a primary is never removed'] });
  const left: string[] = [];
  await e.stopNode(cluster, node, mode);
  if (node.pid !== null && isProcessAlive(node.pid, node.pidStart)) {
    signalProcess(node.pid, mode === 'immediate' ? 'SIGQUIT' : 'SIGINT');
    for (let i = 0; i < 500 && isProcessAlive(node.pid, node.pidStart); i++) await new Promise((r) => setTimeout(r, 20));
    if (isProcessAlive(node.pid, node.pidStart)) signalProcess(node.pid, 'SIGKILL');
    for (let i = 0; i < 250 && isProcessAlive(node.pid, node.pidStart); i++) await new Promise((r) => setTimeout(r, 20));
    if (isProcessAlive(node.pid, node.pidStart)) left.push(`its postmaster (PID ${node.pid}) does not exit: kill -9 ${node.pid}`);
  }
  // A copy stopped by an abort (pg_basebackup and its wrappers) may still be exiting; its
  // files and its slot are removed once nothing works under the node's directory.
  const nodeDir = e.nodeDir(cluster.id, node.ordinal);
  const busy = await waitNoProcessUnder(`${nodeDir}/`, 15_000);
  if (busy.length) left.push(`processes still work under ${nodeDir}: ${busy.map((p) => `PID ${p}`).join(', ')} (kill them)`);
  const slot = slotNameFor(node.ordinal);
  if (!primary || !e.nodeStatus(cluster, primary)) {
    left.push(
      `replication slot ${slot} may remain on the primary, which is not running: start the cluster, then run select pg_drop_replication_slot('${slot}') on the primary`,
    );
  } else {
    try {
      await e.dropSlotIfInactive(cluster, primary, slot);
    } catch (e) {
      left.push(
        `replication slot ${slot} could not be dropped (${(e as Error).message}): run select pg_drop_replication_slot('${slot}') on the primary`,
      );
    }
  }
  if (left.length === 0 || (!e.nodeStatus(cluster, node) && busy.length === 0)) {
    await e.removeNodeFiles(cluster, node.ordinal);
    await removeTree(e.nodePaths(cluster.id, node.ordinal).sockDir);
  } else {
    left.push(`its files under ${e.nodeDir(cluster.id, node.ordinal)} were kept because it still runs`);
  }
  if (left.length) throw new AppError('ENGINE_NODE_FAILED', { args: [node.host, `not completely removed: ${left.join('; ')}`] });
}

/** The primary's current WAL position. */
export async function currentLsn(e: LocalEngine, cluster: Pick<ClusterRecord, 'id' | 'projectId'>, primary: NodeRecord): Promise<string> {
  const r = await e.instance(cluster, primary).query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
  return r[0]!.lsn;
}

/** Whether the member's PostgreSQL is in recovery (a standby, or a leader not yet promoted). */
export async function inRecovery(e: LocalEngine, cluster: Pick<ClusterRecord, 'id' | 'projectId'>, member: NodeRecord): Promise<boolean> {
  const r = await e.instance(cluster, member).query<{ rec: boolean }>('select pg_is_in_recovery() as rec');
  return r[0]!.rec;
}

/** A standby's replication state as the primary sees it, with its lag behind `targetLsn` in bytes. */
export async function replicationState(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
  primary: NodeRecord,
  ordinal: number,
  targetLsn: string,
): Promise<{ state: string | null; replayLsn: string | null; lagBytes: number | null }> {
  // One query each poll: the standby's row (none until it connects) and whether the primary is
  // one still (a failover manager may have demoted it, D23: it never sees this standby again).
  const [row] = await e.instance(cluster, primary).query<{ state: string | null; replay: string | null; lag: string | null; rec: boolean }>(
    `select r.state, r.replay, r.lag, pg_is_in_recovery() as rec from (select 1) one left join lateral (
       select state, replay_lsn::text as replay, pg_wal_lsn_diff($2::pg_lsn, replay_lsn)::text as lag
         from pg_stat_replication where application_name = $1 order by backend_start desc limit 1) r on true`,
    [appNameFor(ordinal), targetLsn],
  );
  if (row?.rec)
    throw new AppError('ENGINE_NODE_FAILED', { args: [`node ${primary.ordinal}`, 'it is no longer the primary (in recovery)'] });
  if (!row?.state) return { state: null, replayLsn: null, lagBytes: null };
  return { state: row.state, replayLsn: row.replay, lagBytes: row.lag === null ? null : Math.max(0, Number(row.lag)) };
}

/**
 * Wait until a standby has caught up in D5's sense: `streaming`, and `replay_lsn` at or past
 * the primary's LSN read when the wait began. Reports the falling lag.
 */
export async function waitCaughtUp(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
  primary: NodeRecord,
  ordinal: number,
  o: { signal?: AbortSignal; timeoutMs?: number; onProgress?: OnProgress; targetLsn?: string; standby?: NodeRecord },
): Promise<void> {
  const target = o.targetLsn ?? (await e.currentLsn(cluster, primary));
  const deadline = Date.now() + (o.timeoutMs ?? 10 * 60_000);
  let first: number | null = null;
  let lastLag: number | null = -1;
  for (;;) {
    if (o.signal?.aborted) throw o.signal.reason as Error;
    // A standby that stopped running never catches up: say so now rather than at the deadline.
    if (o.standby) e.assertRunning(cluster, o.standby, 'while catching up with the primary');
    const st = await e.replicationState(cluster, primary, ordinal, target);
    if (st.lagBytes !== null && first === null) first = Math.max(st.lagBytes, 1);
    if (st.lagBytes !== lastLag) {
      lastLag = st.lagBytes;
      const done = first !== null && st.lagBytes !== null ? first - st.lagBytes : null;
      o.onProgress?.({
        source: 'pg_stat_replication',
        bytesDone: done,
        bytesTotal: first,
        percent: first && done !== null ? (100 * done) / first : null,
        data: { state: st.state, lagBytes: st.lagBytes, targetLsn: target, replayLsn: st.replayLsn },
      });
    }
    if (st.state === 'streaming' && st.lagBytes === 0) return;
    if (Date.now() > deadline) {
      throw new AppError('STEP_TIMEOUT', {
        args: [
          `catch up node ${ordinal}`,
          Math.round((o.timeoutMs ?? 600_000) / 1000),
          `node ${ordinal} to stream and replay up to ${target} (state ${st.state ?? 'not connected'}, lag ${st.lagBytes ?? '?'} bytes)`,
        ],
      });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Throws ENGINE_NODE_FAILED, with the end of its log, when the node's postmaster is not running. */
export function assertRunning(e: LocalEngine, cluster: Pick<ClusterRecord, 'id' | 'projectId'>, node: NodeRecord, when: string): void {
  const inst = e.instance(cluster, node);
  if (!inst.status())
    throw new AppError('ENGINE_NODE_FAILED', {
      args: [`${node.host}:${node.port}`, `PostgreSQL stopped running ${when}; the end of its log: ${inst.logTail(3)}`],
    });
}

/** Archiving state (D3): failures since the last success. */
export async function archiverState(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId'>,
  primary: NodeRecord,
): Promise<{ failing: boolean; lastFailed: string | null; lastArchived: string | null }> {
  const r = await e.instance(cluster, primary).query<{ failed: string | null; archived: string | null; failing: boolean }>(
    `select last_failed_wal as failed, last_archived_wal as archived,
            coalesce(last_failed_time > coalesce(last_archived_time, 'epoch'::timestamptz), false) as failing from pg_stat_archiver`,
  );
  const row = r[0];
  return { failing: !!row?.failing, lastFailed: row?.failed ?? null, lastArchived: row?.archived ?? null };
}

/** PIDs of live processes whose command line mentions `path`. */
function processesMentioning(path: string): number[] {
  const out: number[] = [];
  for (const name of readdirSafe('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(path)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Wait until no live process mentions `path`; returns the ones left after `timeoutMs`. */
async function waitNoProcessUnder(path: string, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = processesMentioning(path);
    if (pids.length === 0 || Date.now() > deadline) return pids;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readdirSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}
