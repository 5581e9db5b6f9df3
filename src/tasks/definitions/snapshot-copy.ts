/**
 * snapshot.copy (CopySnapshot, issue 16; actionType "Copy"): an independent copy of a
 * cluster-level snapshot, in a stanza of its own (`copy-<copy id>`, in the configured
 * repository). pgBackRest 2.45 cannot copy a set between repositories, so the source set is
 * restored into the task's temporary instance, which archives into the copy's stanza, and a
 * full backup of it with its WAL inside (`--archive-copy`) becomes the copy
 * (dataplane/local/snapshot-copy.ts). The copy restores on its own once the source snapshot,
 * its stanza and its cluster are gone.
 *
 * The task belongs to no cluster (it never touches the source's): its lock is the copy's
 * stanza, and it carries the source snapshot's id, so the source cannot be deleted while it
 * reads it (D16). A failure (or a crash past the retries) removes the temporary instance and
 * the copy's stanza (DISCARD_COPY) and leaves the copy's record UNAVAILABLE, as a failed
 * snapshot's; fair shares are checked as for CreateSnapshot, at the request and again here.
 */
import { AppError } from '../../errors/app-error.js';
import { findAnnotated, type BackupSetInfo, type RunOptions, type SnapshotCopyWork } from '../../dataplane/data-plane.js';
import type { SnapshotRecord } from '../../domain/records.js';
import { estimateBackupBytes } from '../../domain/snapshot-space.js';
import type { StepContext, StepSpec, TaskDefinition } from '../definition.js';
import { checkFreeSpace, checkSnapshotQuota } from '../snapshot-room.js';
import { backupKeyOf } from './snapshot-chain.js';

export interface SnapshotCopyParams {
  /** the snapshot copied (the task's snapshot id too: D16's delete guard) */
  sourceSnapshotId: string;
  /** the copy's record, CREATING until the task ends */
  copySnapshotId: string;
  /** the copy's own stanza */
  stanza: string;
}

/** What BACKUP_COPY hands on: the set it took (or found), with pgBackRest's figures for it. */
export interface SnapshotCopyState {
  label?: string;
  figures?: Pick<BackupSetInfo, 'repoOwnBytes' | 'repoSetBytes' | 'databaseSize'>;
}

type Ctx = StepContext<SnapshotCopyParams, SnapshotCopyState>;

/** The copy's stanza name: one per copy, never a cluster's (`cluster-<id>`). */
export const copyStanzaOf = (copySnapshotId: string): string => `copy-${copySnapshotId}`;

export const SNAPSHOT_COPY_PLAN: StepSpec[] = [
  { id: 'CHECK_SOURCE', item: 'COPY_SNAPSHOT', weight: 0.05 },
  { id: 'RESTORE_SOURCE', item: 'PREPARE_TEMP', weight: 2, runsTools: true },
  { id: 'START_SOURCE', item: 'PREPARE_TEMP', weight: 0.3, runsTools: true },
  { id: 'BACKUP_COPY', item: 'COPY_SNAPSHOT', weight: 2, runsTools: true },
  { id: 'VERIFY_COPY', item: 'COPY_SNAPSHOT', weight: 0.05, runsTools: true },
  { id: 'RECORD_COPY', item: 'COPY_SNAPSHOT', weight: 0.05 },
  { id: 'REMOVE_SOURCE', item: 'CLEAN_UP', weight: 0.1 },
];

const workOf = (ctx: Ctx): SnapshotCopyWork => ({ taskId: ctx.task.id, projectId: ctx.task.projectId, stanza: ctx.params.stanza });

const runOptions = (ctx: Ctx, onProgress?: RunOptions['onProgress']): RunOptions => ({
  signal: ctx.signal,
  lockFile: ctx.lockFile,
  idleTimeoutMs: ctx.config.stepIdleTimeoutMs,
  ...(onProgress ? { onProgress } : {}),
});

/** The source snapshot, with its backup set (the request checked it; it cannot be deleted while this task runs). */
async function sourceOf(ctx: Ctx): Promise<SnapshotRecord & { backupLabel: string }> {
  const s = await ctx.store.getSnapshotById(ctx.params.sourceSnapshotId);
  if (!s || s.deletedAt !== null) throw new AppError('SNAPSHOT_NOT_FOUND', { args: [ctx.params.sourceSnapshotId] });
  if (!s.backupLabel || s.fineGrained) throw new AppError('SNAPSHOT_NOT_COPYABLE', { args: [s.id, 'it has no backup set'] });
  return s as SnapshotRecord & { backupLabel: string };
}

/** What the copy is estimated to write: a full backup of the source's database. */
export function copyNeed(source: Pick<SnapshotRecord, 'sourceBytes' | 'sizeBytes'>): { kind: 'full'; needBytes: number } {
  return { kind: 'full', needBytes: estimateBackupBytes('full', { databaseBytes: source.sourceBytes ?? source.sizeBytes ?? 0 }) };
}

export const snapshotCopy: TaskDefinition<SnapshotCopyParams, SnapshotCopyState> = {
  kind: 'snapshot.copy',
  maxAttempts: 3,
  plan: () => SNAPSHOT_COPY_PLAN,
  steps: {
    /** The source still has its set, and the project's quotas and the repository's free space have room for a full copy. */
    CHECK_SOURCE: async (ctx) => {
      const source = await sourceOf(ctx);
      const need = copyNeed(source);
      await checkSnapshotQuota(ctx.store, ctx.config, ctx.task.projectId, need, ctx.params.copySnapshotId);
      checkFreeSpace(ctx.dataPlane, ctx.config, need, ctx.log);
      ctx.progress({ source: 'dwsbox', percent: 100, info: { snapshotId: source.id, key: source.backupKey ?? 'N/A' } });
    },

    /** `pgbackrest restore` of the whole source set into the temporary instance, read-only on the source stanza. */
    RESTORE_SOURCE: async (ctx) => {
      const source = await sourceOf(ctx);
      const set = { stanza: source.stanza, label: source.backupLabel, sourceBytes: source.sourceBytes };
      const info = { snapshotId: source.id, key: source.backupKey ?? 'N/A' };
      await ctx.dataPlane.restoreCopySource(
        workOf(ctx),
        set,
        runOptions(ctx, (s) => {
          const written = s.data?.['consumedBytes'];
          ctx.progress({ ...s, ...(typeof written === 'number' ? { consumedBytes: written } : {}), info });
        }),
      );
    },

    /** The copy's stanza, then the instance started archiving into it and promoted. */
    START_SOURCE: async (ctx) => {
      await ctx.dataPlane.startCopySource(
        workOf(ctx),
        runOptions(ctx, (s) => {
          const phase = s.data?.['phase'];
          if (typeof phase === 'string') ctx.progress({ source: s.source, percent: s.percent ?? null, info: { phase } });
          else
            ctx.progress({
              ...s,
              percent: s.data?.['inRecovery'] ? 50 : 90,
              info: { phase: 'recovery', replayLsn: s.data?.['replayLsn'] ?? null },
            });
        }),
      );
      ctx.progress({ source: 'pg_is_in_recovery', percent: 100, info: { phase: 'promoted', stanza: ctx.params.stanza } });
    },

    /** A full backup with `--archive-copy` into the copy's stanza; a resumed step finds its own set by its annotation. */
    BACKUP_COPY: async (ctx) => {
      const annotation = { snapshot_id: ctx.params.copySnapshotId };
      const sets = (await ctx.dataPlane.stanzaExists(ctx.params.stanza))
        ? await ctx.dataPlane.backupSets(ctx.params.stanza, { signal: ctx.signal })
        : [];
      let set = findAnnotated(sets, annotation);
      if (!set) {
        const source = await sourceOf(ctx);
        const need = copyNeed(source);
        await checkSnapshotQuota(ctx.store, ctx.config, ctx.task.projectId, need, ctx.params.copySnapshotId);
        checkFreeSpace(ctx.dataPlane, ctx.config, need, ctx.log);
        // A resumed step (after a crash, a restart of the host) finds the instance stopped: it starts again (idempotent).
        await ctx.dataPlane.startCopySource(workOf(ctx), runOptions(ctx));
        set = await ctx.dataPlane.backupCopy(workOf(ctx), {
          ...runOptions(ctx, (p) => ctx.progress({ ...p, info: { backupType: 'full', archiveCopy: true } })),
          annotation,
        });
      }
      await ctx.setState({
        label: set.label,
        figures: { repoOwnBytes: set.repoOwnBytes, repoSetBytes: set.repoSetBytes, databaseSize: set.databaseSize },
      });
      ctx.progress({
        source: 'pgbackrest info',
        bytesDone: set.copiedBytes,
        bytesTotal: set.copiedBytes,
        percent: 100,
        consumedBytes: set.repoOwnBytes,
        info: { key: backupKeyOf(set.label), backupType: 'full' },
      });
    },

    /** The set is in the copy stanza's catalog without error, and its WAL is archived there too. */
    VERIFY_COPY: async (ctx) => {
      const set = await ctx.dataPlane.verifyBackup(ctx.params.stanza, ctx.state.label ?? '', runOptions(ctx));
      ctx.progress({ source: 'pgbackrest info', percent: 100, bytesDone: set.repoSetBytes, bytesTotal: set.repoSetBytes });
    },

    /** The copy's record names its set and pgBackRest's figures for it (its real size). */
    RECORD_COPY: async (ctx) => {
      const { label, figures } = ctx.state;
      const set =
        label && figures
          ? { label, ...figures }
          : (await ctx.dataPlane.backupSets(ctx.params.stanza, { signal: ctx.signal })).find((s) => s.label === label);
      if (!set || !label) throw new AppError('VERIFY_FAILED', { args: [`the copy's backup set ${label ?? ''} is not in its stanza`] });
      const now = ctx.clock.now();
      await ctx.write((tx) =>
        tx.updateSnapshot(ctx.params.copySnapshotId, {
          backupLabel: label,
          backupKey: backupKeyOf(label),
          priorBackupKey: 'FULL',
          backupType: 'full',
          sizeBytes: set.repoOwnBytes,
          totalBackupSize: set.repoSetBytes,
          sourceBytes: set.databaseSize,
          updatedAt: now,
        }),
      );
      ctx.progress({ source: 'dwsbox', percent: 100, info: { key: backupKeyOf(label), stanza: ctx.params.stanza } });
    },

    REMOVE_SOURCE: async (ctx) => {
      await ctx.dataPlane.removeCopySource(workOf(ctx));
      ctx.progress({ source: 'dwsbox', percent: 100 });
    },

    /** Undo: the temporary instance and the copy's stanza go; the source is never touched. */
    DISCARD_COPY: async (ctx) => {
      await ctx.dataPlane.removeCopySource(workOf(ctx));
      await ctx.dataPlane.removeLoneStanza(ctx.params.stanza, runOptions(ctx));
      ctx.progress({ source: 'dwsbox', percent: 100 });
    },
  },
  failure: { mode: 'cleanup', steps: () => [{ id: 'DISCARD_COPY', item: 'CLEAN_UP' }] },
  async extrasOnSuccess(o) {
    await o.tx.updateSnapshot(o.params.copySnapshotId, { status: 'AVAILABLE', finishedAt: o.now, updatedAt: o.now });
  },
  async extrasOnFailure(o) {
    await o.tx.updateSnapshot(o.params.copySnapshotId, { status: 'UNAVAILABLE', finishedAt: o.now, updatedAt: o.now });
  },
};
