/**
 * snapshot.create (SNAPSHOTTING, actionType "Backup"): a real pgBackRest backup of the
 * cluster into its stanza (D2), watched live through the task-details endpoint. A failure
 * leaves the snapshot UNAVAILABLE and the cluster AVAILABLE with an empty task_status (D8);
 * the partial backup files are removed and every earlier snapshot stays restorable. Before
 * it writes, the backup checks again that the project's quotas and the repository's free
 * space have room for it (fair shares, tasks/snapshot-room.ts).
 */
import { AppError } from '../../errors/app-error.js';
import { findAnnotated, type BackupSetInfo } from '../../dataplane/data-plane.js';
import type { SchemaInfo, SnapshotRecord } from '../../domain/records.js';
import type { StepContext, TaskDefinition } from '../definition.js';
import { primaryOf, withLeader } from './member-steps.js';
import { backupKeyOf, nextBackupType, setFields } from './snapshot-chain.js';
import { isLogical, LOGICAL_PLAN, logicalSteps } from './snapshot-logical.js';
import { ensureSnapshotRepository } from './repository.js';
import { chainFigures, estimateBackupBytes } from '../../domain/snapshot-space.js';
import { checkFreeSpace, checkSnapshotQuota } from '../snapshot-room.js';

export interface SnapshotCreateParams {
  clusterId: string;
  snapshotId: string;
  /** a snapshot policy's `backup_type: full`: take a full backup whatever the D2 chain would choose */
  forceFull?: boolean;
  /** schema or table: a logical snapshot (snapshot-logical.ts); absent: a cluster-level pgBackRest set */
  level?: 'schema' | 'table' | undefined;
}

/**
 * What BACKUP hands on to VERIFY_BACKUP and RECORD_SNAPSHOT: the set it took (or found), with
 * pgBackRest's figures for it as the `info` that ended the backup reported them, so the later
 * steps need no second catalog read to record it. A logical snapshot's steps keep their own
 * (snapshot-logical.ts).
 */
export interface SnapshotCreateState {
  label: string;
  type: BackupSetInfo['type'];
  prior: string | null;
  /** absent in the state of a task taken before these were kept: RECORD_SNAPSHOT reads the catalog then */
  figures?: Pick<BackupSetInfo, 'repoOwnBytes' | 'repoSetBytes' | 'databaseSize'>;
  /** the databases and tables, read just before the backup started; absent (a read that failed, an older task): RECORD_SNAPSHOT reads them */
  schemaInfo?: SchemaInfo;
}

type Ctx = StepContext<SnapshotCreateParams, SnapshotCreateState>;

/** BACKUP's work: one `pgbackrest backup` of the primary, or the set a resumed step finds (D2). */
async function backup(ctx: Ctx): Promise<void> {
  const { cluster, primary } = await target(ctx);
  const annotation = { snapshot_id: ctx.params.snapshotId };
  // What the step reads is independent, so it is read at once, and before the backup starts
  // (so that none of it runs beside pgBackRest): the catalog (one `info`), a failed backup's
  // leftovers removed (sets the catalog does not list: never the one a resumed step looks
  // for), the figures of the room check, and what the snapshot holds (databases, tables,
  // sizes: D16) for RECORD_SNAPSHOT to record.
  const databaseBytes = ctx.dataPlane.databaseBytes(cluster, primary);
  const [sets, , kept, , schemaInfo] = await Promise.all([
    ctx.dataPlane.backupSets(cluster.stanza, { signal: ctx.signal }),
    ctx.dataPlane.removePartialBackups(cluster, primary, ctx.signal),
    ctx.store.listStanzaSnapshots(cluster.stanza),
    databaseBytes.catch(() => null),
    ctx.dataPlane.schemaInfo(cluster, primary).catch(() => undefined),
  ]);
  // A resumed step (after a crash or a retry) finds its own finished backup (D2).
  let set = findAnnotated(sets, annotation);
  const resumed = set !== undefined;
  if (!set) {
    const type = ctx.params.forceFull ? 'full' : nextBackupType(sets, ctx.config.snapshotFullEvery);
    await checkBackupRoom(ctx, type, { databaseBytes: await databaseBytes, kept });
    const prior = type === 'diff' ? sets.filter((s) => s.type === 'full' && !s.error).at(-1) : undefined;
    const info = { key: 'N/A', priorKey: type === 'full' ? 'FULL' : backupKeyOf(prior!.label), backupType: type };
    set = await ctx.dataPlane.backup(cluster, primary, {
      type,
      annotation,
      lockFile: ctx.lockFile,
      signal: ctx.signal,
      idleTimeoutMs: ctx.config.stepIdleTimeoutMs,
      onProgress: (p) =>
        ctx.progress({ ...p, info: { ...info, ...(p.data?.['label'] ? { key: backupKeyOf(String(p.data['label'])) } : {}) } }),
    });
  }
  await ctx.setState({
    label: set.label,
    type: set.type,
    prior: set.prior,
    figures: { repoOwnBytes: set.repoOwnBytes, repoSetBytes: set.repoSetBytes, databaseSize: set.databaseSize },
    ...(schemaInfo ? { schemaInfo } : {}),
  });
  // The backup's own final sample is pgBackRest's figure; a resumed step reports the set it found.
  if (resumed)
    ctx.progress({
      source: 'pgbackrest info',
      bytesDone: set.copiedBytes,
      bytesTotal: set.copiedBytes,
      percent: 100,
      consumedBytes: set.repoOwnBytes,
      compressedBytes: set.copiedBytes,
      info: {
        key: backupKeyOf(set.label),
        priorKey: set.type === 'full' ? 'FULL' : backupKeyOf(set.prior ?? ''),
        backupType: set.type,
      },
    });
}

async function target(ctx: Ctx) {
  const cluster = await ctx.cluster();
  const primary = primaryOf(await ctx.nodes());
  return { cluster, primary };
}

/**
 * Fair shares, checked again as the backup starts (the request was checked when it came):
 * the project's quotas, and the repository's free space for the backup D2 chose here, sized
 * by the primary's database and the store's recorded sizes. Throws, writing nothing.
 */
async function checkBackupRoom(ctx: Ctx, type: 'full' | 'diff', figures: { databaseBytes: number; kept: SnapshotRecord[] }): Promise<void> {
  const { cluster } = await target(ctx);
  const need = {
    kind: type,
    needBytes: estimateBackupBytes(type, { databaseBytes: figures.databaseBytes, ...chainFigures(figures.kept) }),
  };
  await checkSnapshotQuota(ctx.store, ctx.config, cluster.projectId, need, ctx.params.snapshotId);
  checkFreeSpace(ctx.dataPlane, ctx.config, need, ctx.log);
}

export const snapshotCreate: TaskDefinition<SnapshotCreateParams, SnapshotCreateState> = {
  kind: 'snapshot.create',
  maxAttempts: 3,
  plan: (p) =>
    isLogical(p)
      ? LOGICAL_PLAN
      : [
          { id: 'CHECK_CLUSTER', item: 'CREATE_SNAPSHOT', weight: 0.1, runsTools: true },
          { id: 'BACKUP', item: 'CREATE_SNAPSHOT', weight: 1, runsTools: true },
          { id: 'VERIFY_BACKUP', item: 'CREATE_SNAPSHOT', weight: 0.05, runsTools: true },
          { id: 'RECORD_SNAPSHOT', item: 'CREATE_SNAPSHOT', weight: 0.05 },
        ],
  steps: {
    ...logicalSteps,
    /**
     * Nodes up, the stanza in the configured repository, and archiving not failing now (the
     * primary's pg_stat_archiver: a failure since the last success fails the snapshot before
     * anything is copied). The proof that a WAL switch reaches the repository is the backup's
     * own: pgBackRest's backup waits for every WAL segment it needs to be archived and fails
     * otherwise (its archive check, which dwsbox never turns off), so a `pgbackrest check`
     * here would only repeat it at the price of a WAL switch and a wait (D30).
     */
    CHECK_CLUSTER: async (ctx) => {
      const { cluster, primary } = await target(ctx);
      const nodes = (await ctx.nodes()).filter((n) => n.membership === 'active');
      const down = nodes.filter((n) => !ctx.dataPlane.memberStatus(cluster, n));
      if (down.length)
        throw new AppError('ENGINE_NODE_FAILED', {
          args: [down.map((n) => n.host).join(', '), 'not running; restart the cluster, then take the snapshot again'],
        });
      const [, archiver] = await Promise.all([ensureSnapshotRepository(ctx), ctx.dataPlane.archiverState(cluster, primary)]);
      if (archiver.failing)
        throw new AppError('VERIFY_FAILED', {
          args: [
            `WAL archiving of the primary is failing (last failed segment ${archiver.lastFailed}); a snapshot needs it: see the primary's log, then take the snapshot again`,
          ],
        });
      ctx.progress({ source: 'pg_stat_archiver', percent: 100, info: { nodes: nodes.length } });
    },
    // A failover under the backup (D23): pgBackRest stops ("unable to find primary cluster"),
    // and the backup is taken again from the member that leads now, its partial set removed first.
    BACKUP: (ctx) => withLeader(ctx, () => backup(ctx), { again: 'lost' }),
    /**
     * The new set is in pgBackRest's catalog without error and every WAL segment from its start
     * to its stop is in the archive (local/backups.ts verifyBackup). Every file's checksum was
     * computed by pgBackRest as it wrote the set, and its backup refused to finish without the
     * WAL; `pgbackrest verify` would read back every set of the stanza and its whole archive
     * (2.45 ignores `--set` there), a cost that grows with each snapshot kept (D30).
     */
    VERIFY_BACKUP: async (ctx) => {
      const { cluster } = await target(ctx);
      const set = await ctx.dataPlane.verifyBackup(cluster.stanza, ctx.state.label ?? '', { lockFile: ctx.lockFile, signal: ctx.signal });
      ctx.progress({
        source: 'pgbackrest info',
        percent: 100,
        bytesDone: set.repoSetBytes,
        bytesTotal: set.repoSetBytes,
        info: { key: backupKeyOf(set.label) },
      });
    },
    RECORD_SNAPSHOT: async (ctx) => {
      const { cluster, primary } = await target(ctx);
      const label = ctx.state.label ?? '';
      // The set's figures as BACKUP read them (VERIFY_BACKUP has just found it in the catalog);
      // a task whose state predates them reads the catalog.
      const { type, prior, figures } = ctx.state;
      const set =
        figures && type
          ? { label, type, prior: prior ?? null, ...figures }
          : (await ctx.dataPlane.backupSets(cluster.stanza, { signal: ctx.signal })).find((s) => s.label === label);
      if (!set) throw new AppError('VERIFY_FAILED', { args: [`backup set ${label} disappeared from the repository`] });
      const schemaInfo = ctx.state.schemaInfo ?? (await ctx.dataPlane.schemaInfo(cluster, primary));
      const now = ctx.clock.now();
      await ctx.write((tx) =>
        tx.updateSnapshot(ctx.params.snapshotId, {
          ...setFields(set),
          schemaInfo,
          updatedAt: now,
        }),
      );
      ctx.progress({
        source: 'dwsbox',
        percent: 100,
        info: { key: backupKeyOf(set.label), priorKey: set.type === 'full' ? 'FULL' : backupKeyOf(set.prior ?? '') },
      });
    },
  },
  // A logical snapshot's partial dump goes with it; a cluster-level one has nothing to undo
  // (a partial pgBackRest set is removed by the next backup, and by expiry).
  failure: { mode: 'cleanup', steps: (task) => (isLogical(task.params) ? [{ id: 'DISCARD_DUMP', item: 'CREATE_SNAPSHOT' }] : []) },
  // The snapshot's own record; the cluster stays as it was (D8), so the runner writes nothing on it.
  async extrasOnSuccess(o) {
    await o.tx.updateSnapshot(o.params.snapshotId, { status: 'AVAILABLE', finishedAt: o.now, updatedAt: o.now });
  },
  async extrasOnFailure(o) {
    await o.tx.updateSnapshot(o.params.snapshotId, { status: 'UNAVAILABLE', finishedAt: o.now, updatedAt: o.now });
  },
};
