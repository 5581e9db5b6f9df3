/**
 * A new cluster's members from one stopped data directory (issue 14): the primary's comes
 * from the initdb pool (or from initdb when the pool is empty), and each standby's is a copy
 * of it made before the primary's first start, instead of a `pg_basebackup` of the running
 * primary (D5 keeps pg_basebackup for every other standby: restores, scale-out, a copy that
 * cannot stream).
 *
 * Why a copy of a stopped directory is a correct standby: it is the primary's files at its
 * shutdown checkpoint, so it replays from that checkpoint's redo location and then streams
 * whatever the primary wrote after it. The primary must keep that WAL: each standby's slot is
 * created with `immediately_reserve`, which reserves from the redo location of the primary's
 * latest checkpoint (PostgreSQL 15, ReplicationSlotReserveWal: GetRedoRecPtr()); made right
 * after the first start, before any checkpoint, that is the copy's own. `finishCopy` checks
 * it (the slot's restart_lsn at or before the copy's redo) and otherwise throws the copy away
 * and builds the standby with pg_basebackup, so a late slot (a resumed task, a checkpoint
 * meanwhile) costs time, never correctness.
 *
 * Files: each standby's copy is made by its project's OS user (`cp -a` as that user: root
 * never follows a tenant's path, D32), and marked in the node's root-owned directory with
 * `copy.pending` (the copy's pg_controldata figures) until its slot and standby settings are
 * in place, then `copy.done`, as pg_basebackup's copies are.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import type { ClusterSecrets, OnProgress } from '../data-plane.js';
import { appNameFor, REPLICATION_ROLE, slotNameFor, type LocalEngine } from '../local-engine.js';
import { baseEnv, runTool } from '../pg-exec.js';
import { mkdirOwned, quoteConf, writeOwned } from '../pg-instance.js';
import { readFileSafe, removeTree, serviceOwner, writeFileSafe } from '../safe-fs.js';
import { compareLsn } from '../../domain/lsn.js';
import { bakeControl, CONTROL_SETTINGS, controlData, syncDataDir, type ControlData } from './initdb-pool.js';
import * as replication from './replication.js';

type Cluster = Pick<ClusterRecord, 'id' | 'projectId'>;

/**
 * The primary's data directory, configured for the cluster (idempotent): taken from the
 * initdb pool with its copies for the first standbys, or made by initdb (its pg_control given
 * the node type's settings) when none is ready; then, while it has never run, a copy of it
 * for each of `replicas` that has none yet (kept when already made).
 */
export async function initPrimary(
  e: LocalEngine,
  cluster: ClusterRecord,
  node: NodeRecord,
  o: { signal?: AbortSignal; replicas?: NodeRecord[] },
): Promise<{ pooled: boolean; copies: number }> {
  e.prepareNodeDir(cluster, node.ordinal);
  const inst = e.instance(cluster, node);
  const signal = o.signal ? { signal: o.signal } : {};
  // Every tool runs under the cluster's lock, which the step holds (D1): they inherit it.
  const tl = { lockFile: e.lockFile(cluster.id), ...signal };
  const replicas = o.replicas ?? [];
  const settings = e.clusterSettings(cluster, node, true);
  const marked = (r: NodeRecord): boolean =>
    ['copy.done', 'copy.pending'].some((m) => existsSync(join(e.nodeDir(cluster.id, r.ordinal), m))) &&
    e.instance(cluster, r).isInitialized();
  let pooled = false;
  if (!inst.isInitialized()) {
    await removeTree(node.dataDir);
    const want = replicas.filter((r) => !marked(r));
    for (const r of want) {
      await removeTree(r.dataDir);
      e.prepareNodeDir(cluster, r.ordinal);
    }
    const taken = await e.pool.take(
      cluster.nodeType,
      inst.spec.os,
      node.dataDir,
      want.map((r) => r.dataDir),
      signal,
    );
    pooled = taken !== null;
    if (taken) {
      // The pool's copies: marked as this cluster's pending standbys, with its access rules and settings.
      for (const r of want.slice(0, taken.copies)) configureCopy(e, cluster, r, settings, taken.control);
    } else {
      await inst.initdb({ noSync: e.settings.unsafeNoFsync, ...tl });
    }
    // A pooled directory was made by the pool's user: the peer map names this cluster's.
    inst.writeAccessRules();
  }
  e.writeStanzaConfig(cluster, node);
  inst.writeConfig(settings);
  const missing = replicas.filter((r) => !marked(r));
  if (!missing.length || inst.status()) return { pooled, copies: replicas.length - missing.length };
  let control = await controlData(e.bins, node.dataDir, inst.spec.os, tl);
  if (control.state !== 'shut down') return { pooled, copies: 0 }; // never copied: each standby is built by pg_basebackup later
  const baked = (): boolean =>
    control.maxConnections === String(settings['max_connections']) && control.maxWalSenders === String(settings['max_wal_senders']);
  if (!baked()) {
    // A hot standby refuses a pg_control with higher settings than its own (initdb's 100 connections): record the cluster's.
    await bakeControl(e.bins, node.dataDir, inst.spec.os, pick(settings), tl);
    control = await controlData(e.bins, node.dataDir, inst.spec.os, tl);
    if (control.state !== 'shut down' || !baked()) return { pooled, copies: 0 };
  }
  const made = await Promise.all(missing.map((r) => copyForReplica(e, cluster, node, r, tl)));
  // pg_basebackup fsyncs what it writes; so does this copy (D20).
  if (!e.settings.unsafeNoFsync) await Promise.all(made.map((d) => syncDataDir(e.bins, d, inst.spec.os, tl)));
  for (const r of missing) configureCopy(e, cluster, r, settings, control);
  return { pooled, copies: replicas.length };
}

/** The settings pg_control records (CONTROL_SETTINGS) out of a member's settings. */
export function pick(settings: Record<string, string | number | boolean>): Record<string, string | number | boolean> {
  return Object.fromEntries(CONTROL_SETTINGS.filter((k) => k in settings).map((k) => [k, settings[k]!]));
}

/** A replica's copy gets the cluster's access rules and settings, and is marked pending with its pg_control figures. */
function configureCopy(
  e: LocalEngine,
  cluster: Cluster,
  r: NodeRecord,
  settings: Record<string, string | number | boolean>,
  control: ControlData,
): void {
  const rinst = e.instance(cluster, r);
  rinst.writeAccessRules();
  rinst.writeConfig(settings);
  writeFileSafe(join(e.nodeDir(cluster.id, r.ordinal), 'copy.pending'), JSON.stringify(control), serviceOwner(), 0o644);
}

/** Copy the stopped primary for one replica, as its project's user (D32); returns its data directory. */
async function copyForReplica(
  e: LocalEngine,
  cluster: Cluster,
  primary: NodeRecord,
  r: NodeRecord,
  o: { signal?: AbortSignal; lockFile: string },
): Promise<string> {
  const nodeDir = e.nodeDir(cluster.id, r.ordinal);
  const inst = e.instance(cluster, r);
  if (inst.status()) await inst.stop({ mode: 'immediate' });
  rmSync(join(nodeDir, 'copy.pending'), { force: true });
  rmSync(join(nodeDir, 'copy.done'), { force: true });
  await removeTree(r.dataDir);
  e.prepareNodeDir(cluster, r.ordinal);
  mkdirOwned(r.dataDir, inst.spec.os, 0o700);
  await runTool({
    cmd: 'cp',
    args: ['-a', '--', `${primary.dataDir}/.`, r.dataDir],
    env: baseEnv(),
    runAs: inst.spec.os,
    label: 'cp',
    timeoutMs: 30 * 60_000,
    lockFile: o.lockFile,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  return r.dataDir;
}

/** Has this member a copy of the stopped primary waiting for its slot and settings? */
export function hasPendingCopy(e: LocalEngine, cluster: Cluster, member: NodeRecord): boolean {
  return existsSync(join(e.nodeDir(cluster.id, member.ordinal), 'copy.pending')) && e.instance(cluster, member).isInitialized();
}

/**
 * Make a pending copy a standby (idempotent): its slot on the primary, checked to reserve the
 * copy's WAL, its passfile, `primary_conninfo` and `primary_slot_name`, `standby.signal`, its
 * own address. A slot that cannot serve the copy (made after a checkpoint) is dropped with the
 * copy, and the standby is built by pg_basebackup instead.
 */
export async function finishCopy(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  node: NodeRecord,
  secrets: ClusterSecrets,
  o: { signal?: AbortSignal; onProgress?: OnProgress },
): Promise<{ bytes: number }> {
  const nodeDir = e.nodeDir(cluster.id, node.ordinal);
  const pendingFile = join(nodeDir, 'copy.pending');
  const copy = JSON.parse(readFileSafe(pendingFile) ?? '{}') as Partial<ControlData>;
  const slot = slotNameFor(node.ordinal);
  const p = e.instance(cluster, primary);
  const slotLsn = async (): Promise<{ lsn: string | null } | undefined> =>
    (await p.query<{ lsn: string | null }>('select restart_lsn::text as lsn from pg_replication_slots where slot_name = $1', [slot]))[0];
  let have = await slotLsn();
  if (!have) {
    await p.query('select pg_create_physical_replication_slot($1, true)', [slot]);
    have = await slotLsn();
  }
  if (!copy.redo || !have?.lsn || compareLsn(have.lsn, copy.redo) > 0) {
    e.log.warn('a standby copy cannot stream from its checkpoint; building it with pg_basebackup', {
      clusterId: cluster.id,
      node: node.ordinal,
      copyRedo: copy.redo ?? null,
      slotRestartLsn: have?.lsn ?? null,
    });
    rmSync(pendingFile, { force: true });
    return replication.buildStandby(e, cluster, primary, node, secrets, o);
  }
  const inst = makeStandbyOf(e, cluster, primary, node, secrets);
  const bytes = inst.dataDirSize();
  o.onProgress?.({ source: 'copy', bytesDone: bytes, bytesTotal: bytes, percent: 100, data: { phase: 'done', redo: copy.redo } });
  writeFileSafe(join(nodeDir, 'copy.done'), String(bytes), serviceOwner(), 0o644);
  rmSync(pendingFile, { force: true });
  return { bytes };
}

/**
 * Make a copied data directory a standby of `primary`: its recovery settings replaced by
 * `primary_conninfo` (the password in a passfile, as pg_basebackup -R writes it, D32),
 * `primary_slot_name` and `extra`; `standby.signal` instead of `recovery.signal`; its own
 * address. Returns its instance.
 */
export function makeStandbyOf(
  e: LocalEngine,
  cluster: Cluster,
  primary: NodeRecord,
  node: NodeRecord,
  secrets: ClusterSecrets,
  extra: string[] = [],
): ReturnType<LocalEngine['instance']> {
  const inst = e.instance(cluster, node);
  const passfile = e.writeReplicationPassfile(cluster, node.ordinal, secrets);
  const conninfo = `host=${primary.host} port=${primary.port} user=${REPLICATION_ROLE} application_name=${appNameFor(node.ordinal)} passfile=${passfile}`;
  const auto = join(node.dataDir, 'postgresql.auto.conf');
  const kept = (readFileSafe(auto) ?? '')
    .split('\n')
    .filter(
      (l) => l.trim() !== '' && !/^\s*(restore_command|archive_mode|recovery_target\w*|primary_conninfo|primary_slot_name)\s*=/.test(l),
    );
  writeOwned(
    auto,
    [
      ...kept,
      `primary_conninfo = ${quoteConf(conninfo)}`,
      `primary_slot_name = ${quoteConf(slotNameFor(node.ordinal))}`,
      ...extra,
      '',
    ].join('\n'),
    inst.spec.os,
  );
  rmSync(join(node.dataDir, 'recovery.signal'), { force: true });
  writeOwned(join(node.dataDir, 'standby.signal'), '', inst.spec.os);
  inst.writeNodeConfig();
  return inst;
}
