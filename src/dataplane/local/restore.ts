/**
 * A snapshot into a new cluster's primary (D4, D16): `pgbackrest restore` from the SOURCE
 * stanza (read-only); the new cluster's own stanza created from the copy's pg_control before
 * its first start, so the copy starts with the new cluster's settings, its own address and
 * archive_command pointing at the NEW stanza (never the source's); it replays to the
 * consistent point reading WAL from the source stanza, is promoted (its new timeline's
 * history file goes to the new stanza), cleaned (D32), and archiving into the new stanza is
 * then proven by a switched segment reaching it. No restart, no `pgbackrest check` (issue 14).
 * The standbys come from file copies of the restored data made before the primary's first
 * start (the section at the end says why they never replay past the primary's fork).
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { BackupSetRef, ClusterRef, ClusterSecrets, MemberProcess, RunOptions } from '../data-plane.js';
import { slotNameFor, type LocalEngine } from '../local-engine.js';
import type { OsUser } from '../os-user.js';
import { baseEnv, runTool } from '../pg-exec.js';
import { mkdirOwned, writeOwned } from '../pg-instance.js';
import { readFileSafe, removeTree, serviceOwner, writeFileSafe } from '../safe-fs.js';
import { partlyCreatedStanza } from '../pgbackrest.js';
import { clearRecoverySettings, keepOnlyRecoverySettings, RESTORE_DONE_MARKER, restoreSet, waitPromoted } from '../pg-restore.js';
import { proveArchiving } from './first-archive.js';
import { makeStandbyOf } from './member-copies.js';
import { STANDBY_COPY_DONE } from './replication.js';
import { settleAll } from '../../errors/settle.js';
import { lsnBytes } from '../../domain/lsn.js';

/** Restore the set into the primary's data directory (a copy that already runs is finished). */
export async function restorePrimary(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  set: BackupSetRef,
  o: RunOptions = {},
): Promise<void> {
  const inst = e.instance(cluster, primary);
  if (inst.status()) return;
  e.prepareNodeDir(cluster, primary.ordinal);
  await restoreSet(e.backrest, {
    delta: set.inPlace === true,
    source: { stanza: set.stanza, configFile: e.stanzaConfigFile(set.stanza) },
    label: set.label,
    dataDir: primary.dataDir,
    os: inst.spec.os,
    totalBytes: set.sourceBytes,
    targetTime: set.targetTime,
    lockFile: o.lockFile ?? e.lockFile(cluster.id),
    signal: o.signal,
    idleTimeoutMs: o.idleTimeoutMs,
    onProgress: (s) => o.onProgress?.(s),
  });
}

/**
 * The new cluster's own stanza, from the restored copy's pg_control while the copy does not
 * run yet (`stanza-create --no-online`), so archiving is on from the copy's first start:
 * the archiver pushes the new timeline's history file at promotion into a stanza that exists.
 * Idempotent (pgBackRest accepts a stanza that matches); a copy that runs (a resumed task)
 * gets an online stanza-create.
 */
async function ensureNewStanza(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  o: RunOptions,
  running: boolean,
): Promise<void> {
  const create = async (): Promise<void> => {
    const t = e.writeStanzaConfig(cluster, primary);
    await e.backrest.run(t, 'stanza-create', {
      ...(running ? {} : { extra: ['--no-online'] }),
      lockFile: o.lockFile ?? e.lockFile(cluster.id),
      timeoutMs: 120_000,
      ...(o.signal ? { signal: o.signal } : {}),
    });
  };
  try {
    await create();
  } catch (err) {
    // A stanza-create killed part way (its service died, and the tool with it: D1) leaves files
    // without the stanza's info ("archive directory not empty", seen in a crash case): nothing can
    // have been archived into a stanza that never existed, so its files go and it is made again.
    if (!partlyCreatedStanza((err as Error).message) || (await e.backrest.stanzaExists(cluster.stanza))) throw err;
    e.log.warn('a partly created stanza of a restored cluster is made again', { clusterId: cluster.id, stanza: cluster.stanza });
    await e.backrest.removeStanzaFiles(cluster.stanza);
    await create();
  }
}

/**
 * pgBackRest's `--archive-mode=off` wrote `archive_mode = 'off'` into postgresql.auto.conf,
 * which would override the cluster's settings: drop it, so the copy archives into the NEW
 * stanza from its first start (its archive_command, D4: never the source's). During archive
 * recovery with archive_mode=on nothing is archived; the first files pushed are the ones the
 * promotion writes.
 */
function dropArchiveModeOff(dataDir: string, os: OsUser): void {
  // D32: and every other setting the snapshot's ALTER SYSTEM left (`keepOnlyRecoverySettings`).
  keepOnlyRecoverySettings(dataDir, os);
}

/**
 * Start the restored copy with the new cluster's settings, archiving into its own stanza
 * (made first, from the copy's pg_control), wait until it is promoted, drop the recovery
 * settings (a reload: restore_command reads the source stanza and must not reach a standby's
 * copy), clean it (D32) and make its administrator.
 */
export async function recoverPrimary(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  adminPassword: string,
  o: RunOptions & { replicas?: NodeRecord[] } = {},
): Promise<{ process: MemberProcess; timeline: number; lsn: string | null; cleaned: number }> {
  const inst = e.instance(cluster, primary);
  if (!inst.isInitialized())
    throw new AppError('ENGINE_NODE_FAILED', { args: [primary.host, `no restored data directory at ${primary.dataDir}`] });
  const replicas = o.replicas ?? [];
  let copied: NodeRecord[] = [];
  if (!inst.status()) {
    inst.writeConfig(e.clusterSettings(cluster, primary, true));
    dropArchiveModeOff(primary.dataDir, inst.spec.os);
    inst.writeAccessRules();
    // Only a copy that never ran holds the snapshot's backup_label (the first start renames it): one that ran is not copied.
    if (existsSync(join(primary.dataDir, 'backup_label'))) copied = replicas.filter((r) => !hasRestoredCopy(e, cluster, r));
    o.onProgress?.({
      source: 'dwsbox',
      percent: 2,
      data: { phase: 'stanza-create', stanza: cluster.stanza, copies: copied.map((r) => r.ordinal) },
    });
    // The stanza reads only pg_control, the first copy only files: both while the restored copy has never run. Only
    // that one copy holds the primary's start: the others are made from it (it never runs before BUILD_STANDBYS).
    await settleAll([ensureNewStanza(e, cluster, primary, o, false), copyData(e, cluster, primary, copied.slice(0, 1), o)]);
  }
  o.onProgress?.({ source: 'dwsbox', percent: 5, data: { phase: 'start' } });
  // The other copies are made, and all are flushed and marked, while the primary starts and recovers.
  let process: MemberProcess | null = null;
  await settleAll([
    (async () => {
      process = await e.startNode(cluster, primary, { ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 30 * 60_000 });
      await waitPromoted(inst, {
        ...(o.signal ? { signal: o.signal } : {}),
        timeoutMs: 30 * 60_000,
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      });
    })(),
    (async () => {
      if (copied.length > 1) await copyData(e, cluster, copied[0]!, copied.slice(1), o);
      await flushCopies(e, cluster, copied, o);
      if (copied.length) o.onProgress?.({ source: 'dwsbox', percent: 6, data: { phase: 'copied', nodes: copied.map((r) => r.ordinal) } });
    })(),
  ]);
  clearRecoverySettings(primary.dataDir, inst.spec.os);
  await inst.query('select pg_reload_conf()');
  // The copies' slots, reserving from the promotion's checkpoint, before anything else can move it on.
  for (const r of replicas.filter((x) => hasRestoredCopy(e, cluster, x))) {
    await inst.query(
      'select pg_create_physical_replication_slot($1, true) where not exists (select 1 from pg_replication_slots where slot_name = $1)',
      [slotNameFor(r.ordinal)],
    );
  }
  const tl = await inst.query<{ tl: string; lsn: string }>(
    `select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) as tl, pg_current_wal_lsn()::text as lsn`,
  );
  // D32: nothing a superuser of the snapshot's time left behind survives into the new cluster.
  const cleaned = await e.cleanRestoredCluster(cluster, primary);
  // The restored database holds the source's administrator; make it the D32 administrator with the new cluster's password.
  await e.ensureAdmin(cluster, primary, cluster.userName, adminPassword);
  return { process: process!, timeline: parseInt(tl[0]?.tl ?? '0', 16), lsn: tl[0]?.lsn ?? null, cleaned: cleaned.length };
}

/**
 * Archiving into the new cluster's own stanza works (D3, D4), proven without a restart or a
 * `pgbackrest check`: the stanza exists (made before the first start; made now for a copy
 * started without it), the running settings archive into it (a restart only for a copy that
 * runs with other settings, a task begun by an older version), the replication role has the
 * new cluster's password, and a switched WAL segment reaches the new stanza
 * (`pg_stat_archiver`: archive_command, a synchronous `archive-push`, returned 0 for it).
 */
export async function enableRestoredArchiving(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  secrets: ClusterSecrets,
  o: RunOptions = {},
): Promise<MemberProcess | null> {
  const inst = e.instance(cluster, primary);
  const settings = e.clusterSettings(cluster, primary, true);
  if (!existsSync(e.stanzaConfigFile(cluster.stanza)) || !(await e.backrest.stanzaExists(cluster.stanza))) {
    o.onProgress?.({ source: 'dwsbox', percent: 10, data: { phase: 'stanza-create', stanza: cluster.stanza } });
    await ensureNewStanza(e, cluster, primary, o, inst.status() !== null);
  }
  clearRecoverySettings(primary.dataDir, inst.spec.os);
  inst.writeConfig(settings);
  markHistoryForArchiving(primary.dataDir, inst.spec.os);
  const rows = await inst.query<{ name: string; setting: string }>('select name, setting from pg_settings where name = any($1)', [
    ['archive_mode', 'archive_command', 'restore_command'],
  ]);
  const now = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  let restarted: MemberProcess | null = null;
  if (now['archive_mode'] !== 'on' || now['archive_command'] !== settings['archive_command'] || (now['restore_command'] ?? '') !== '') {
    o.onProgress?.({ source: 'dwsbox', percent: 40, data: { phase: 'restart' } });
    await e.stopNode(cluster, primary, 'fast');
    restarted = await e.startNode(cluster, primary, { ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 10 * 60_000 });
  }
  await e.ensureReplicationRole(cluster, primary, secrets);
  o.onProgress?.({ source: 'dwsbox', percent: 60, data: { phase: 'wal-switch', stanza: cluster.stanza } });
  const segment = await proveArchiving(e, cluster, primary, o.signal);
  o.onProgress?.({ source: 'pg_stat_archiver', percent: 100, data: { phase: 'archived', stanza: cluster.stanza, segment } });
  return restarted;
}

/**
 * The promoted copy wrote its new timeline's history file while archiving was off, so no
 * `.ready` marker exists for it; mark it, so the archiver pushes it into the NEW stanza and
 * later restores of this cluster's own snapshots find their timeline's history there.
 */
function markHistoryForArchiving(dataDir: string, os: OsUser): void {
  const wal = join(dataDir, 'pg_wal');
  const status = join(wal, 'archive_status');
  if (!existsSync(status)) return;
  for (const f of readdirSync(wal)) {
    if (!/^[0-9A-F]{8}\.history$/.test(f)) continue;
    if (existsSync(join(status, `${f}.ready`)) || existsSync(join(status, `${f}.done`))) continue;
    writeOwned(join(status, `${f}.ready`), '', os, 0o600);
  }
}

// ------------------------------------------------------------------ standbys from the restored copy (issue 14)
//
// A standby of the restored primary can be a file copy of the restored data directory made
// before the primary's first start (a `cp` as the project's user: no pg_basebackup of 238 MB
// through the primary, no second restore from the repository). Such a copy holds the
// snapshot's backup_label, so it replays from the backup's start on the SOURCE's timeline.
// Timelines: the new primary forked off that timeline at F, where its recovery ended (the
// snapshot's consistent point), and the source's archive goes on past F on the old timeline.
// A standby must never replay old-timeline WAL past F, so it gets no restore_command at all:
// it holds only the old timeline's segments strictly before the segment holding F (fetched
// with `archive-get` from the source stanza, read-only; usually none, the backup starting in
// F's segment) and streams everything else from the new primary, which serves the old
// timeline only up to F (from its new timeline's copy of F's segment) and then its own. The
// new primary keeps F's segment for it: the standby's slot is made right after the promotion
// (reserving from the end-of-recovery checkpoint, in F's segment), and a slot that reserves
// later (a resumed task) sends the standby to pg_basebackup instead.

const COPY_PENDING = 'restored-copy.pending';
const COPY_DONE = 'restored-copy.done';

/**
 * The marks an earlier restore left in the members' directories (its finished restore, its
 * standbys' copies), removed before an in-place restore (issue 20) restores them again: a
 * mark would make the new restore's steps take the old work for their own (a standby's
 * finished copy, `copy.done` of local/replication.ts, among them).
 */
export function forgetEarlierRestores(e: LocalEngine, cluster: Pick<ClusterRecord, 'id'>, nodes: readonly NodeRecord[]): void {
  for (const n of nodes)
    for (const f of [RESTORE_DONE_MARKER, COPY_PENDING, COPY_DONE, STANDBY_COPY_DONE, 'copy.pending'])
      rmSync(join(e.nodeDir(cluster.id, n.ordinal), f), { force: true });
}

/** Has this member a copy of the restored primary (made before its first start) to become a standby? */
export function hasRestoredCopy(e: LocalEngine, cluster: Pick<ClusterRecord, 'id' | 'projectId'>, member: NodeRecord): boolean {
  const dir = e.nodeDir(cluster.id, member.ordinal);
  return (existsSync(join(dir, COPY_PENDING)) || existsSync(join(dir, COPY_DONE))) && e.instance(cluster, member).isInitialized();
}

/**
 * Copy a never started data directory (the restored primary's, or a replica's copy of it) for
 * each of `targets`, at once, as the project's user (D32: root never follows a tenant's path);
 * flushCopies then flushes them (as pg_basebackup fsyncs, D20) and marks them. A copy without
 * its mark is thrown away by the standby's build.
 */
async function copyData(e: LocalEngine, cluster: ClusterRecord, source: NodeRecord, targets: NodeRecord[], o: RunOptions): Promise<void> {
  const os = e.instance(cluster, source).spec.os;
  const tool = { lockFile: o.lockFile ?? e.lockFile(cluster.id), ...(o.signal ? { signal: o.signal } : {}) };
  await settleAll(
    targets.map(async (r) => {
      const inst = e.instance(cluster, r);
      if (inst.status()) await inst.stop({ mode: 'immediate' });
      await removeTree(r.dataDir);
      e.prepareNodeDir(cluster, r.ordinal);
      mkdirOwned(r.dataDir, os, 0o700);
      await runTool({
        cmd: 'cp',
        args: ['-a', '--', `${source.dataDir}/.`, r.dataDir],
        env: baseEnv(),
        runAs: os,
        label: 'cp',
        timeoutMs: 30 * 60_000,
        ...tool,
      });
    }),
  );
}

/**
 * Flush each copy's own files (`initdb --sync-only` as the project's user; not a syncfs, which
 * would wait for every tenant's writes), then mark it: only a flushed copy is ever marked, so
 * a host crash cannot leave a marked copy torn.
 */
async function flushCopies(e: LocalEngine, cluster: ClusterRecord, copies: NodeRecord[], o: RunOptions): Promise<void> {
  const tool = { lockFile: o.lockFile ?? e.lockFile(cluster.id), ...(o.signal ? { signal: o.signal } : {}) };
  await settleAll(
    copies.map(async (r) => {
      if (!e.settings.unsafeNoFsync)
        await runTool({
          cmd: join(e.bins.binDir, 'initdb'),
          args: ['--sync-only', '-D', r.dataDir],
          env: baseEnv(),
          runAs: e.instance(cluster, r).spec.os,
          label: 'initdb --sync-only',
          timeoutMs: 30 * 60_000,
          ...tool,
        });
      writeFileSafe(join(e.nodeDir(cluster.id, r.ordinal), COPY_PENDING), '', serviceOwner(), 0o644);
    }),
  );
}

const hex8 = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');

/**
 * Make a member's restored copy a standby of the new primary (idempotent), or return null
 * when it has none or cannot be one (its build then falls back to pg_basebackup, its copy
 * removed): the old timeline's segments it needs before F's segment fetched from the source
 * stanza, its recovery settings replaced by `primary_conninfo` (a passfile, D32),
 * `primary_slot_name` and `recovery_target_timeline = 'latest'` with no restore_command,
 * `standby.signal` instead of `recovery.signal`, its own address.
 */
export async function finishRestoredCopy(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  node: NodeRecord,
  secrets: ClusterSecrets,
  o: RunOptions & { sourceStanza: string },
): Promise<{ bytes: number } | null> {
  const nodeDir = e.nodeDir(cluster.id, node.ordinal);
  const inst = e.instance(cluster, node);
  if (!hasRestoredCopy(e, cluster, node)) return null;
  if (existsSync(join(nodeDir, COPY_DONE))) return { bytes: Number(readFileSafe(join(nodeDir, COPY_DONE)) ?? 0) || 0 };
  const giveUp = async (why: string, data: Record<string, unknown>): Promise<null> => {
    e.log.warn(`a restored copy cannot become a standby (${why}); building it with pg_basebackup`, {
      clusterId: cluster.id,
      node: node.ordinal,
      ...data,
    });
    rmSync(join(nodeDir, COPY_PENDING), { force: true });
    return null;
  };
  const p = e.instance(cluster, primary);
  const [tl] = await p.query<{ tli: string; seg: string }>(
    `select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) as tli, (select setting from pg_settings where name = 'wal_segment_size') as seg`,
  );
  const history = (await p.query<{ h: string }>('select pg_read_file($1) as h', [`pg_wal/${tl!.tli}.history`]).catch(() => [{ h: '' }]))[0]!
    .h;
  const last = history
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => /^\d+$/.test(f[0] ?? '') && /^[0-9A-F]+\/[0-9A-F]+$/i.test(f[1] ?? ''))
    .at(-1);
  const label = readFileSafe(join(node.dataDir, 'backup_label')) ?? '';
  const start = /START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)/.exec(label)?.[1];
  const startTli = Number(/START TIMELINE: (\d+)/.exec(label)?.[1] ?? NaN);
  if (!last || !start || Number(last[0]) !== startTli)
    return giveUp("its timeline does not lead to the primary's", { history, startFile: start ?? null, startTli });
  const segSize = BigInt(tl!.seg);
  const perId = 0x100000000n / segSize;
  const forkSeg = lsnBytes(last[1]!) / segSize;
  const startSeg = BigInt(`0x${start.slice(8, 16)}`) * perId + BigInt(`0x${start.slice(16, 24)}`);
  // The slot must hold F's segment for it (made at the promotion; a later one may not).
  const [slot] = await p.query<{ lsn: string | null }>('select restart_lsn::text as lsn from pg_replication_slots where slot_name = $1', [
    slotNameFor(node.ordinal),
  ]);
  if (!slot?.lsn || lsnBytes(slot.lsn) / segSize > forkSeg)
    return giveUp('its slot reserves too late', { slot: slot?.lsn ?? null, fork: last[1] });
  const wal = join(node.dataDir, 'pg_wal');
  for (let seg = startSeg; seg < forkSeg; seg++) {
    const name = `${hex8(startTli)}${hex8(Number(seg / perId))}${hex8(Number(seg % perId))}`;
    if (existsSync(join(wal, name))) continue;
    o.onProgress?.({ source: 'pgbackrest archive-get', data: { phase: 'wal', segment: name } });
    // Read-only on the source stanza (D4), written by the stanza's (the project's) user into the copy's pg_wal.
    // pg1-path is the copy itself (the source's system identifier): the source's own data
    // directory, which the stanza's configuration names, is gone once the source is deleted (D16).
    await e.backrest.run({ configFile: e.stanzaConfigFile(o.sourceStanza), stanza: o.sourceStanza }, 'archive-get', {
      extra: [`--pg1-path=${node.dataDir}`],
      positional: [name, join(wal, name)],
      lockFile: o.lockFile ?? e.lockFile(cluster.id),
      timeoutMs: 600_000,
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }
  makeStandbyOf(e, cluster, primary, node, secrets, [`recovery_target_timeline = 'latest'`]);
  const bytes = inst.dataDirSize();
  o.onProgress?.({
    source: 'copy',
    bytesDone: bytes,
    bytesTotal: bytes,
    percent: 100,
    data: { phase: 'done', fork: last[1], walFetched: Number(forkSeg - startSeg) },
  });
  writeFileSafe(join(nodeDir, COPY_DONE), String(bytes), serviceOwner(), 0o644);
  rmSync(join(nodeDir, COPY_PENDING), { force: true });
  return { bytes };
}
