/**
 * cluster.restore (RESTORING, actionType "Restore"): a snapshot into a NEW cluster (D4, D16).
 * pgBackRest restores the snapshot's set into node 1 from the SOURCE stanza (read-only), the
 * copy gets the new cluster's settings with archiving off before its first start, replays to
 * the snapshot's consistent point and is promoted; only then does it get its own stanza and
 * archive_mode=on (a restart and a passing `pgbackrest check`), and its standbys are built
 * from it. Nothing here ever writes into the source stanza: during recovery `restore_command`
 * only reads it, and archiving stays off until archive_command points at the new stanza.
 * A failure cleans up the new cluster's processes, files and stanza (never the source's) and
 * ends CREATION FAILED with failed_reasons.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SnapshotRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { OsUser } from '../../dataplane/os-user.js';
import { writeOwned } from '../../dataplane/pg-instance.js';
import { clearRecoverySettings, restoreSet, waitPromoted } from '../../dataplane/pg-restore.js';
import type { NoState, StepContext, StepSpec, TaskDefinition } from '../definition.js';
import { activateNodes, checkNodeAddresses, cleanUpCluster, releaseFailedCluster, verifyCluster } from './cluster-create.js';
import { buildAndStartStandby, nodeByOrdinal, primaryOf, replSecrets } from './common.js';

export interface ClusterRestoreParams {
  /** the new cluster */
  clusterId: string;
  snapshotId: string;
  /** the snapshot's cluster (fault matching, and the delete guard of D16); it may be gone */
  sourceClusterId: string;
  numberOfNode: number;
}

type Ctx = StepContext<ClusterRestoreParams, NoState, never>;

/** The snapshot this task reads (it cannot be deleted while the task runs, D16). */
async function snapshotOf(ctx: Ctx): Promise<SnapshotRecord & { backupLabel: string }> {
  const s = await ctx.store.getSnapshotById(ctx.params.snapshotId);
  if (!s) throw new AppError('SNAPSHOT_NOT_FOUND', { args: [ctx.params.snapshotId] });
  if (!s.backupLabel) throw new AppError('SNAPSHOT_NOT_RESTORABLE', { args: [s.id, 'it has no backup set'] });
  return s as SnapshotRecord & { backupLabel: string };
}

const sourceOf = (ctx: Ctx, s: SnapshotRecord) => ({ stanza: s.stanza, configFile: ctx.dataPlane.stanzaConfigFile(s.stanza) });

/** `show` of a few settings on a running node. */
async function settingsOf(ctx: Ctx, names: string[]): Promise<Record<string, string>> {
  const cluster = await ctx.cluster();
  const primary = primaryOf(await ctx.nodes());
  const rows = await ctx.dataPlane.instance(cluster, primary).query<{ name: string; setting: string }>('select name, setting from pg_settings where name = any($1)', [names]);
  return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
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

export const clusterRestore: TaskDefinition<ClusterRestoreParams, NoState, never> = {
  kind: 'cluster.restore',
  maxAttempts: 3,
  plan(p) {
    const steps: StepSpec[] = [
      { id: 'ALLOCATE_NODES', item: 'PREPARE_CLUSTER', weight: 0.2 },
      { id: 'RESTORE_PRIMARY', item: 'RESTORE_DATA', weight: 2, runsTools: true },
      { id: 'RECOVER_PRIMARY', item: 'RESTORE_DATA', weight: 0.5 },
      { id: 'ENABLE_NEW_ARCHIVING', item: 'ENABLE_ARCHIVING', weight: 0.5, runsTools: true },
    ];
    for (let n = 2; n <= p.numberOfNode; n++) steps.push({ id: `BUILD_STANDBY_${n}`, item: 'BUILD_STANDBYS', runsTools: true });
    steps.push({ id: 'CHECK_CONNECTIONS', item: 'VERIFY_CLUSTER', weight: 0.2 });
    return steps;
  },
  steps: {
    /** Addresses free, memory and disk for the nodes (D6, D18), the node directories, and a readable source. */
    ALLOCATE_NODES: async (ctx: Ctx) => {
      const snap = await snapshotOf(ctx);
      if (!existsSync(ctx.dataPlane.stanzaConfigFile(snap.stanza)) || !(await ctx.dataPlane.backrest.stanzaExists(snap.stanza))) {
        throw new AppError('SNAPSHOT_NOT_RESTORABLE', { args: [snap.id, `the repository of stanza ${snap.stanza} is missing`] });
      }
      await checkNodeAddresses(ctx);
      const cluster = await ctx.cluster();
      const nodes = await ctx.nodes();
      // Every node holds a copy of the snapshot's databases.
      const need = (snap.sourceBytes ?? 0) * nodes.length;
      const free = ctx.dataPlane.hostCapacity().dataDiskFreeBytes;
      if (need > free) {
        // The host's own figures go to the log, never to a tenant (docs/security.md, capacity answers).
        ctx.log.warn('not enough disk on the host for the restore', { needBytes: need, dataDiskFreeBytes: free });
        throw new AppError('CAPACITY_EXCEEDED', { args: [`${nodes.length} copies of the snapshot's ${Math.round((snap.sourceBytes ?? 0) / 1e6)} MB need ${Math.round(need / 1e6)} MB of disk, more than this host has free for them now`] });
      }
      for (const n of nodes) ctx.dataPlane.prepareNodeDir(cluster, n.ordinal);
      ctx.progress({ source: 'dwsbox', percent: 100, info: { nodes: nodes.length, snapshotId: snap.id, key: snap.backupKey ?? 'N/A' } });
    },

    /** `pgbackrest restore --set … --type=immediate --target-action=promote --archive-mode=off` from the SOURCE stanza (D4). */
    RESTORE_PRIMARY: async (ctx: Ctx) => {
      const snap = await snapshotOf(ctx);
      const cluster = await ctx.cluster();
      const primary = primaryOf(await ctx.nodes());
      const inst = ctx.dataPlane.instance(cluster, primary);
      // A copy that already runs (a resumed task whose later step failed) is finished.
      if (inst.status()) return;
      ctx.dataPlane.prepareNodeDir(cluster, primary.ordinal);
      const info = { key: snap.backupKey ?? 'N/A', priorKey: snap.priorBackupKey ?? 'N/A', snapshotId: snap.id };
      await restoreSet(ctx.dataPlane.backrest, {
        source: sourceOf(ctx, snap), label: snap.backupLabel, dataDir: primary.dataDir, os: inst.spec.os, totalBytes: snap.sourceBytes, lockFile: ctx.lockFile,
        signal: ctx.signal, idleTimeoutMs: ctx.config.stepIdleTimeoutMs,
        onProgress: (s) => {
          const written = s.data?.['consumedBytes'];
          ctx.progress({ ...s, ...(typeof written === 'number' ? { consumedBytes: written } : {}), info });
        },
      });
    },

    /**
     * Before the first start the copy gets the new cluster's settings with archiving off and
     * its own address (D4); it replays the snapshot's WAL (read from the source stanza) to
     * the consistent point and is promoted on a new timeline.
     */
    RECOVER_PRIMARY: async (ctx: Ctx) => {
      const cluster = await ctx.cluster();
      const primary = primaryOf(await ctx.nodes());
      const inst = ctx.dataPlane.instance(cluster, primary);
      if (!inst.isInitialized()) throw new AppError('ENGINE_NODE_FAILED', { args: [primary.host, `no restored data directory at ${primary.dataDir}`] });
      if (!inst.status()) {
        inst.writeConfig(ctx.dataPlane.clusterSettings(cluster, primary, false));
        inst.writeAccessRules();
      }
      ctx.progress({ source: 'dwsbox', percent: 5, info: { phase: 'start' } });
      const run = await ctx.dataPlane.startNode(cluster, primary, { signal: ctx.signal, timeoutMs: 30 * 60_000 });
      await ctx.write((tx) => tx.updateNode(primary.id, { pid: run.pid, pidStart: run.startTime, health: 'up', updatedAt: ctx.clock.now() }));
      await waitPromoted(inst, {
        signal: ctx.signal, timeoutMs: 30 * 60_000,
        onProgress: (s) => ctx.progress({ ...s, percent: s.data?.['inRecovery'] ? 50 : 90, info: { phase: 'recovery', replayLsn: s.data?.['replayLsn'] ?? null } }),
      });
      const tl = await inst.query<{ tl: string; lsn: string }>(`select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) as tl, pg_current_wal_lsn()::text as lsn`);
      // D32: nothing a superuser of the snapshot's time left behind survives into the new cluster.
      const cleaned = await ctx.dataPlane.cleanRestoredCluster(cluster, primary);
      // The restored database holds the source's administrator; make it the D32 administrator with the password the new cluster's record has.
      await ctx.dataPlane.ensureAdmin(cluster, primary, cluster.userName, ctx.secrets.decrypt(cluster.adminPasswordEnc));
      ctx.progress({ source: 'pg_is_in_recovery', percent: 100, info: { phase: 'promoted', timeline: parseInt(tl[0]?.tl ?? '0', 16), lsn: tl[0]?.lsn ?? null, cleaned: cleaned.length } });
    },

    /** The new cluster's own stanza, archive_mode=on pointing at it (a restart), and a passing `pgbackrest check` (D4). */
    ENABLE_NEW_ARCHIVING: async (ctx: Ctx) => {
      const cluster = await ctx.cluster();
      const primary = primaryOf(await ctx.nodes());
      const inst = ctx.dataPlane.instance(cluster, primary);
      const settings = ctx.dataPlane.clusterSettings(cluster, primary, true);
      const tool = { lockFile: ctx.lockFile, signal: ctx.signal };
      // The stanza first (it reads the running copy), so the archiver never meets a missing one.
      const t = ctx.dataPlane.writeStanzaConfig(cluster, primary);
      ctx.progress({ source: 'dwsbox', percent: 10, info: { phase: 'stanza-create', stanza: cluster.stanza } });
      await ctx.dataPlane.backrest.stanzaCreate(t, tool);
      clearRecoverySettings(primary.dataDir, inst.spec.os);
      inst.writeConfig(settings);
      markHistoryForArchiving(primary.dataDir, inst.spec.os);
      const now = await settingsOf(ctx, ['archive_mode', 'archive_command', 'restore_command']);
      if (now['archive_mode'] !== 'on' || now['archive_command'] !== settings['archive_command'] || (now['restore_command'] ?? '') !== '') {
        ctx.progress({ source: 'dwsbox', percent: 40, info: { phase: 'restart' } });
        await ctx.dataPlane.stopNode(cluster, primary, 'fast');
        const run = await ctx.dataPlane.startNode(cluster, primary, { signal: ctx.signal, timeoutMs: 10 * 60_000 });
        await ctx.write((tx) => tx.updateNode(primary.id, { pid: run.pid, pidStart: run.startTime, health: 'up', updatedAt: ctx.clock.now() }));
      }
      await ctx.dataPlane.ensureReplicationRole(cluster, primary, replSecrets(ctx, cluster.replPasswordEnc));
      ctx.progress({ source: 'dwsbox', percent: 60, info: { phase: 'check', stanza: cluster.stanza } });
      await ctx.dataPlane.backrest.check(t, tool);
      ctx.progress({ source: 'pgbackrest check', percent: 100, info: { phase: 'checked', stanza: cluster.stanza } });
    },

    BUILD_STANDBY: async (ctx: Ctx) => {
      await buildAndStartStandby(ctx, nodeByOrdinal(await ctx.nodes(), ctx.n));
    },

    CHECK_CONNECTIONS: async (ctx: Ctx) => verifyCluster(ctx, Array.from({ length: ctx.params.numberOfNode }, (_, i) => i + 1)),

    /** Undo: the NEW cluster's processes, files and stanza; the source stanza is never touched. */
    CLEAN_UP_CLUSTER: (ctx) => cleanUpCluster(ctx),
  },
  // runsTools: it removes the new stanza with pgbackrest under the cluster lock itself.
  failure: { mode: 'cleanup', steps: () => [{ id: 'CLEAN_UP_CLUSTER', item: 'CLEAN_UP', runsTools: true }] },
  extrasOnSuccess: (o) => activateNodes(o),
  extrasOnFailure: (o, error) => releaseFailedCluster(o, error),
};
