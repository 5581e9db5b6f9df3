/**
 * The snapshot scheduler (docs/snapshot-policies.md): runs in every service process, started
 * and stopped by main.ts like the health monitor. Each pass fires the strategies that are
 * due and, now and then, applies retention.
 *
 * Exactly one AUTO snapshot per fire time, however many processes share the store: a fire
 * inserts its `policy_fires(policy_id, fire_time)` row in the same transaction as the
 * snapshot and its snapshot.create task; the primary key lets only one process do it.
 *
 * Missed fires: a due strategy fires the latest slot at or before now, so slots missed while
 * no service ran collapse into one fire when one comes back.
 *
 * A busy cluster (another task running) at fire time: the fire waits, retried at every pass,
 * until the cluster is free (then it runs, late) or the next slot comes (then the waiting slot
 * is superseded by it, logged, and never runs on its own). The real service documents
 * `next_fire_time` as an estimate that does not run when it conflicts with another task;
 * dwsbox runs it late instead, within its own period.
 *
 * Fair shares (docs/security.md): a strategy never fires sooner than `minIntervalMs` after
 * its last snapshot (PUT already refuses schedules that would; this holds for strategies
 * saved under a lower setting, and for a late fire followed by an on-time one): such a slot
 * waits, like one of a busy cluster, until the interval has passed.
 *
 * The same pass fires the restarts that waited for a cluster's maintenance window
 * (maintenance-restarts.ts): one timer for the scheduled work of every service process.
 */
import type { Clock } from '../domain/clock.js';
import { dueSlot, nextFireAfter, parseSchedule, type SnapshotPolicyRecord } from '../domain/snapshot-policy.js';
import { backupKeyTime } from '../domain/time.js';
import { coerceError, isAppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { TaskQueue } from '../tasks/queue.js';
import type { SnapshotService } from './snapshot-service.js';
import type { SnapshotRequest } from './snapshot-request.js';
import { splitList } from './snapshot-policy-service.js';

export const DAY_MS = 86_400_000;

/** `auto-<yyyyMMddHHmmss of the slot, UTC>-<8 hex of the strategy id>`: unique per strategy and slot, within 4–64 characters. */
export function autoSnapshotName(policyId: string, fireTime: number): string {
  return `auto-${backupKeyTime(fireTime).replace('_', '')}-${policyId.replace(/-/g, '').slice(0, 8)}`;
}

export interface SnapshotSchedulerDeps {
  store: Store;
  /** the snapshot path manual snapshots take too (prepareSnapshot, insertSnapshot, delete) */
  snapshots: SnapshotService;
  /** told about a queued snapshot.create task once its transaction committed */
  queue: TaskQueue;
  clock: Clock;
  log: Logger;
  /** how often a pass runs */
  intervalMs: number;
  /** how often retention runs (at most; it runs in a pass) */
  retentionEveryMs: number;
  /** shortest time between two snapshots of one strategy (setting policyMinIntervalMs; default none) */
  minIntervalMs?: number;
  /** the restarts waiting for a maintenance window, fired in each pass */
  maintenance?: { fireDue(now: number): Promise<unknown> };
}

/** What one strategy's fire came to. */
export type FireResult = 'created' | 'refused' | 'busy' | 'taken';

export class SnapshotScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private lastRetentionAt = 0;
  /** the slot last logged as waiting for a busy cluster, per strategy (one log line per slot) */
  private readonly busyLogged = new Map<string, number>();
  /** the slot last logged as waiting for the minimum interval, per strategy */
  private readonly soonLogged = new Map<string, number>();

  constructor(private readonly deps: SnapshotSchedulerDeps) {}

  start(): void {
    const tick = (): void => {
      this.running = this.pass()
        .catch((e: unknown) => this.deps.log.warn('snapshot scheduler pass failed', { error: coerceError(e).message }))
        .finally(() => {
          this.running = null;
          if (this.timer) this.timer = setTimeout(tick, this.deps.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Idempotent: no new pass starts; waits for the one running. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass: fire what is due (snapshots, then maintenance restarts), then retention if it is time. */
  async pass(): Promise<void> {
    const now = this.deps.clock.now();
    await this.fireDue(now);
    await this.deps.maintenance
      ?.fireDue(now)
      .catch((e: unknown) => this.deps.log.warn('maintenance restarts pass failed', { error: coerceError(e).message }));
    if (now - this.lastRetentionAt >= this.deps.retentionEveryMs) {
      this.lastRetentionAt = now;
      await this.applyRetention(now);
    }
  }

  /** Fire every strategy due at `now`. */
  async fireDue(now: number): Promise<FireResult[]> {
    const out: FireResult[] = [];
    for (const p of await this.deps.store.listDuePolicies(now)) {
      try {
        out.push(await this.fire(p, now));
      } catch (e) {
        this.deps.log.error('snapshot policy fire failed', { policyId: p.id, clusterId: p.clusterId, error: coerceError(e).message });
      }
    }
    return out;
  }

  private async fire(p: SnapshotPolicyRecord, now: number): Promise<FireResult> {
    const schedule = parseSchedule(p.schedule);
    const slot = dueSlot(schedule, p.timeZoneOffset, p.nextFireAt!, now);
    const next = nextFireAfter(schedule, p.timeZoneOffset, Math.max(now, slot));
    const log = this.deps.log.scope({ policyId: p.id, clusterId: p.clusterId });
    if (p.nextFireAt! < slot && this.busyLogged.get(p.id) === p.nextFireAt) {
      log.warn('snapshot policy fire superseded: the cluster stayed busy until the next slot', {
        slot: new Date(p.nextFireAt!).toISOString(),
        next: new Date(slot).toISOString(),
      });
    }
    if (await this.deps.store.activeTask(`cluster:${p.clusterId}`)) return this.busy(p, slot, log);
    if (this.deps.minIntervalMs) {
      const last = await this.deps.store.lastPolicySnapshotAt(p.id);
      if (last !== null && now - last < this.deps.minIntervalMs) return this.tooSoon(p, slot, last, log);
    }
    const req: SnapshotRequest = {
      clusterId: p.clusterId,
      name: autoSnapshotName(p.id, slot),
      type: 'AUTO',
      level: p.backupLevel,
      policyId: p.id,
      policyFire: { policyId: p.id, fireTime: slot, schedule: p.schedule, timeZoneOffset: p.timeZoneOffset },
      description: `Automated snapshot of policy ${p.name} (${p.backupLevel} level, ${p.backupType}) for ${new Date(slot).toISOString().slice(0, 19).replace('T', ' ')} UTC`,
      ...(p.backupLevel === 'cluster'
        ? { forceFull: p.backupType === 'full' }
        : { database: p.backupDatabase ?? undefined, schemas: splitList(p.backupSchemaList), tables: splitList(p.backupTableList) }),
    };
    let prepared;
    try {
      // Outside the transaction: a schema- or table-level request reads the cluster's catalog.
      prepared = await this.deps.snapshots.prepareSnapshot(p.projectId, req);
    } catch (e) {
      return this.refuse(p, slot, next, coerceError(e), now, log);
    }
    try {
      const snap = await this.deps.store.transaction(async (tx) => {
        const cur = await tx.getPolicy(p.id);
        // Changed meanwhile: deleted, rescheduled, or fired and advanced by another process.
        if (
          !cur ||
          cur.deletedAt !== null ||
          cur.nextFireAt === null ||
          cur.nextFireAt > now ||
          cur.schedule !== p.schedule ||
          cur.timeZoneOffset !== p.timeZoneOffset
        )
          return null;
        if (
          !(await tx.insertPolicyFire({
            policyId: p.id,
            fireTime: slot,
            outcome: 'CREATED',
            snapshotId: null,
            detail: null,
            createdAt: now,
          }))
        )
          return null;
        const s = await this.deps.snapshots.insertSnapshot(tx, p.projectId, prepared);
        await tx.setPolicyFireSnapshot(p.id, slot, s.id);
        await tx.updatePolicy(p.id, { nextFireAt: next });
        return s;
      });
      if (!snap) {
        log.debug('snapshot policy slot already fired or changed by another process', { slot: new Date(slot).toISOString() });
        return 'taken';
      }
      this.deps.queue.notify();
      this.busyLogged.delete(p.id);
      log.info('snapshot policy fired', {
        slot: new Date(slot).toISOString(),
        snapshotId: snap.id,
        taskId: snap.taskId,
        level: p.backupLevel,
        next: next === null ? null : new Date(next).toISOString(),
      });
      return 'created';
    } catch (e) {
      const err = coerceError(e);
      // Another task got the cluster between the check and the insert (one-task-per-cluster index).
      if (isAppError(err) && (err.code === 'CLUSTER_BUSY' || err.code === 'STORE_CONFLICT')) return this.busy(p, slot, log);
      // A passing store failure is no reason to give the slot up: a later pass tries again.
      if (isAppError(err) && err.retryable) {
        log.warn('snapshot policy fire failed for now; retried at the next pass', {
          slot: new Date(slot).toISOString(),
          error: err.message,
        });
        return 'busy';
      }
      return this.refuse(p, slot, next, err, now, log);
    }
  }

  private busy(p: SnapshotPolicyRecord, slot: number, log: Logger): FireResult {
    if (this.busyLogged.get(p.id) !== slot) {
      this.busyLogged.set(p.id, slot);
      log.info('snapshot policy fire waits: another task is running on the cluster', { slot: new Date(slot).toISOString() });
    }
    // Keep the cursor at the waiting slot; a later pass retries (superseded by the next slot).
    return 'busy';
  }

  /** The strategy's last snapshot is less than `minIntervalMs` old: the slot waits (a later pass fires it, or a later slot supersedes it). */
  private tooSoon(p: SnapshotPolicyRecord, slot: number, last: number, log: Logger): FireResult {
    if (this.soonLogged.get(p.id) !== slot) {
      this.soonLogged.set(p.id, slot);
      log.info('snapshot policy fire waits: the strategy fired less than the minimum interval ago (setting policyMinIntervalMs)', {
        slot: new Date(slot).toISOString(),
        lastSnapshotAt: new Date(last).toISOString(),
        earliest: new Date(last + this.deps.minIntervalMs!).toISOString(),
      });
    }
    return 'busy';
  }

  /** The fire cannot produce a snapshot (cluster stopped, objects missing…): record it and move on. */
  private async refuse(
    p: SnapshotPolicyRecord,
    slot: number,
    next: number | null,
    err: Error,
    now: number,
    log: Logger,
  ): Promise<FireResult> {
    const recorded = await this.deps.store.transaction(async (tx) => {
      const cur = await tx.getPolicy(p.id);
      if (!cur || cur.deletedAt !== null || cur.nextFireAt === null || cur.nextFireAt > now) return false;
      if (
        !(await tx.insertPolicyFire({
          policyId: p.id,
          fireTime: slot,
          outcome: 'REFUSED',
          snapshotId: null,
          detail: err.message.slice(0, 2000),
          createdAt: now,
        }))
      )
        return false;
      await tx.updatePolicy(p.id, { nextFireAt: next });
      return true;
    });
    if (!recorded) return 'taken';
    this.busyLogged.delete(p.id);
    log.warn('snapshot policy fire refused: no snapshot was taken', {
      slot: new Date(slot).toISOString(),
      error: err.message,
      errorCode: isAppError(err) ? err.code : undefined,
    });
    return 'refused';
  }

  /**
   * Retention: hide every AUTO snapshot of a cluster with policy settings that is older than
   * `keep_day` days at `now` (by its creation time), through the same path as DELETE (D2: the
   * stanza's snapshot.expire task removes a backup set only when no visible snapshot needs
   * it). Manual snapshots are never touched; a snapshot a running task reads is kept until a
   * later pass. `now` is a parameter so tests choose the moment. Returns the ids hidden.
   */
  async applyRetention(now: number): Promise<string[]> {
    const hidden: string[] = [];
    for (const s of await this.deps.store.listPolicySettings()) {
      const c = await this.deps.store.getCluster(s.projectId, s.clusterId);
      if (!c) continue;
      const cutoff = now - s.keepDay * DAY_MS;
      const old = (await this.deps.store.listSnapshots(s.projectId, s.clusterId)).filter(
        (x) => x.type === 'AUTO' && x.status !== 'CREATING' && x.createdAt < cutoff,
      );
      for (const snap of old) {
        try {
          await this.deps.snapshots.delete(s.projectId, snap.id);
          hidden.push(snap.id);
          this.deps.log.info('AUTO snapshot past keep_day hidden; its backup set is expired once nothing needs it', {
            clusterId: s.clusterId,
            snapshotId: snap.id,
            keepDay: s.keepDay,
          });
        } catch (e) {
          const err = coerceError(e);
          if (isAppError(err) && (err.code === 'CLUSTER_STATE_CONFLICT' || err.code === 'SNAPSHOT_NOT_FOUND')) {
            this.deps.log.info('AUTO snapshot past keep_day kept for now', { snapshotId: snap.id, reason: err.message });
            continue;
          }
          throw err;
        }
      }
    }
    return hidden;
  }
}
