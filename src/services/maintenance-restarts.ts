/**
 * Restarts that wait for the maintenance window (issue 16; docs/api.md#the-maintenance-window).
 * A parameter change that takes a restart applies its values, and its task records the restart
 * on the cluster (`pendingRestart`, due at `restartDueAt`: tasks/definitions/cluster-configure.ts)
 * and ends. The snapshot scheduler's pass (snapshot-scheduler.ts, the one timer that fires
 * scheduled work in every service process) calls `fireDue`, which turns each due restart into
 * a `scheduled` SETTING_CONFIGURATION task: standbys first, the primary last.
 *
 * Exactly one task per due restart, however many processes share the store: the fire clears
 * `restartDueAt` in the transaction that inserts the task, after reading it again there, and
 * the one-task-per-cluster index refuses a second task. Nothing is kept in memory but log
 * throttling: a service started again finds the due restart in the store.
 *
 * A due restart fires only within the window: a cluster busy with another task (a snapshot),
 * stopped or not AVAILABLE waits, retried at every pass, until it is free; when the window ends
 * first (or passed while no service ran), the restart moves to the window's next start.
 */
import { inWindow, nextWindowStart } from '../domain/maintenance-window.js';
import type { ParameterChange } from '../domain/parameters.js';
import type { ClusterRecord, TaskRecord } from '../domain/records.js';
import { coerceError, isAppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { ConfigureParams } from '../tasks/definitions/cluster-configure.js';
import type { TaskQueue } from '../tasks/queue.js';
import { restartOrderOf } from './configuration-service.js';

export interface MaintenanceRestartsDeps {
  store: Store;
  /** told about a queued task once its transaction committed */
  queue: TaskQueue;
  log: Logger;
}

/** What one due restart came to: a task made, waiting (busy cluster), moved to the next window, or fired by another process. */
export type RestartFire = 'created' | 'busy' | 'moved' | 'taken';

export class MaintenanceRestarts {
  /** the due time last logged as waiting, per cluster (one line per wait) */
  private readonly waitLogged = new Map<string, number>();

  constructor(private readonly deps: MaintenanceRestartsDeps) {}

  /** Fire every restart due at `now`. */
  async fireDue(now: number): Promise<RestartFire[]> {
    const out: RestartFire[] = [];
    for (const c of await this.deps.store.listDueRestarts(now)) {
      try {
        out.push(await this.fire(c, now));
      } catch (e) {
        this.deps.log.error('maintenance restart fire failed', { clusterId: c.id, error: coerceError(e).message });
      }
    }
    return out;
  }

  private async fire(c: ClusterRecord, now: number): Promise<RestartFire> {
    const log = this.deps.log.scope({ clusterId: c.id, projectId: c.projectId });
    if (!inWindow(c.maintainWindow, now)) return this.move(c, now, log);
    if (c.stopped || c.status !== 'AVAILABLE') return this.wait(c, `the cluster is ${c.stopped ? 'stopped' : c.status}`, log);
    const blocking = await this.deps.store.activeTask(`cluster:${c.id}`);
    if (blocking) return this.wait(c, `task ${blocking.id} (${blocking.kind}) runs on the cluster`, log);
    let task: TaskRecord | null;
    try {
      task = await this.deps.store.transaction(async (tx) => {
        const cur = await tx.getClusterById(c.id);
        // Fired by another process, or changed meanwhile (deleted, a restart that ran now, a new window).
        if (!cur || cur.deletedAt !== null || cur.restartDueAt === null || cur.restartDueAt > now || !cur.pendingRestart) return null;
        const changes = cur.pendingRestart.parameters.map((p): ParameterChange => ({
          name: p.name,
          oldValue: p.running,
          newValue: p.value,
          restart: true,
        }));
        const params: ConfigureParams = {
          clusterId: cur.id,
          changes,
          parameters: cur.spec.parameters ?? {},
          restartOrder: restartOrderOf(await tx.listNodes(cur.id), changes),
          scheduled: true,
        };
        const t = await this.deps.queue.enqueue(tx, {
          kind: 'cluster.configure',
          projectId: cur.projectId,
          cluster: cur,
          params: { ...params },
        });
        await tx.updateCluster(cur.id, { restartDueAt: null });
        return t;
      });
    } catch (e) {
      const err = coerceError(e);
      // Another task took the cluster between the check and the insert, or a passing store failure: a later pass tries again.
      if (isAppError(err) && (err.code === 'CLUSTER_BUSY' || err.code === 'CLUSTER_STATE_CONFLICT' || err.retryable))
        return this.wait(c, err.message, log);
      throw err;
    }
    if (!task) return 'taken';
    this.deps.queue.notify();
    this.waitLogged.delete(c.id);
    log.info('maintenance window: the restart that waited for it fired', {
      taskId: task.id,
      parameters: c.pendingRestart?.parameters.map((p) => p.name),
      due: new Date(c.restartDueAt!).toISOString(),
    });
    return 'created';
  }

  private wait(c: ClusterRecord, why: string, log: Logger): RestartFire {
    if (this.waitLogged.get(c.id) !== c.restartDueAt) {
      this.waitLogged.set(c.id, c.restartDueAt!);
      log.info('maintenance window: the restart waits', { why, due: new Date(c.restartDueAt!).toISOString() });
    }
    return 'busy';
  }

  /** The window ended before the restart could fire: it waits for the next one. */
  private async move(c: ClusterRecord, now: number, log: Logger): Promise<RestartFire> {
    const next = nextWindowStart(c.maintainWindow, now);
    const moved = await this.deps.store.transaction(async (tx) => {
      const cur = await tx.getClusterById(c.id);
      if (!cur || cur.restartDueAt !== c.restartDueAt) return false;
      await tx.updateCluster(c.id, { restartDueAt: next });
      return true;
    });
    if (!moved) return 'taken';
    this.waitLogged.delete(c.id);
    log.warn('maintenance window: it ended before the restart could run; the restart waits for the next one', {
      due: new Date(c.restartDueAt!).toISOString(),
      next: new Date(next).toISOString(),
    });
    return 'moved';
  }
}
