/**
 * The claim loop: up to `taskConcurrency` tasks at once, each claimed with a lease (D1), and
 * at most `projectConcurrency` of one project's over every process of the store (fair shares,
 * docs/security.md: one project's queue cannot hold every slot). A task waiting on an
 * injected delay or hang lends its slot out (slots.ts). Graceful shutdown stops claiming,
 * lets running steps finish for up to `shutdownTimeoutMs`, then aborts them (their tools
 * die, their checkpoints stay) and releases their leases so the next start resumes them at once.
 */
import type { Clock } from '../domain/clock.js';
import { coerceError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import { hostname } from 'node:os';
import { isProcessAlive } from '../dataplane/process-info.js';
import type { TaskRunner } from './runner.js';
import { TaskSlots } from './slots.js';

export interface TaskEngineOptions {
  store: Store;
  runner: TaskRunner;
  clock: Clock;
  log: Logger;
  owner: string;
  concurrency: number;
  /** most tasks of one project running at once, over every process of the store (setting projectTaskConcurrency); absent: no limit */
  projectConcurrency?: number;
  /** this process's slots (shared with the fault injector, which lends a waiting task's slot out); default: `concurrency` of its own */
  slots?: TaskSlots;
  leaseMs: number;
  pollMs: number;
}

/** The id under which the claim loop holds a slot while it claims. */
const CLAIMING = '(claiming)';

export class TaskWorker {
  private running = new Map<string, Promise<void>>();
  private stopping = false;
  private started = false;
  private wake: (() => void) | null = null;
  private readonly shutdown = new AbortController();
  private loopDone: Promise<void> = Promise.resolve();
  private readonly slots: TaskSlots;

  constructor(private readonly o: TaskEngineOptions) {
    this.slots = o.slots ?? new TaskSlots(o.concurrency);
    this.slots.onFree = () => this.notify();
  }

  get activeCount(): number {
    return this.running.size;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.loopDone = this.releaseDeadOwners()
      .catch((e: unknown) => this.o.log.warn("could not release dead owners' tasks", { error: coerceError(e).message }))
      .then(() => this.loop());
  }

  /**
   * D1: a restart on the same host takes over at once. A task leased by a process of this
   * host that no longer runs (the owner id is `<host>:<pid>:<nonce>`; its PID is gone, or is
   * now another process) gets its lease ended now, instead of when it runs out. An owner on
   * another host is left to its lease.
   */
  async releaseDeadOwners(): Promise<number> {
    let n = 0;
    for (const t of await this.o.store.listActiveTasks()) {
      if (!t.lockedBy || t.lockedBy === this.o.owner || (t.leaseExpiresAt ?? 0) <= this.o.clock.now()) continue;
      const [host, pid, , startTime] = t.lockedBy.split(':');
      if (host !== hostname()) continue;
      const alive = isProcessAlive(Number(pid), startTime ? Number(startTime) : null);
      if (alive) continue;
      if (await this.o.store.expireLease(t.id, t.leaseEpoch, this.o.clock.now())) {
        n++;
        this.o.log.info('took over the task of a dead process on this host at once', { taskId: t.id, deadOwner: t.lockedBy });
      }
    }
    return n;
  }

  /** Look for work now (after an enqueue). */
  notify(): void {
    this.wake?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let claimed = false;
      if (this.slots.tryTake(CLAIMING)) {
        try {
          const now = this.o.clock.now();
          const t = await this.o.store.claimNextTask({
            owner: this.o.owner,
            now,
            leaseMs: this.o.leaseMs,
            excludeIds: [...this.running.keys()],
            ...(this.o.projectConcurrency !== undefined ? { projectLimit: this.o.projectConcurrency } : {}),
          });
          if (t && !this.stopping) {
            claimed = true;
            this.slots.swap(CLAIMING, t.id);
            const p = this.o.runner
              .run(t, this.shutdown.signal)
              .catch((e: unknown) => this.o.log.error('task runner crashed', { taskId: t.id, error: coerceError(e).message }))
              .finally(() => {
                this.running.delete(t.id);
                this.slots.release(t.id);
                this.notify();
              });
            this.running.set(t.id, p);
          }
        } catch (e) {
          this.o.log.warn('claiming a task failed', { error: coerceError(e).message });
        } finally {
          this.slots.release(CLAIMING);
        }
      }
      if (claimed) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.o.pollMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** Idempotent. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.stopping) {
      await this.loopDone;
      await Promise.allSettled([...this.running.values()]);
      return;
    }
    this.stopping = true;
    this.notify();
    await this.loopDone;
    this.slots.close();
    const all = Promise.allSettled([...this.running.values()]);
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), timeoutMs))]);
    if (timedOut) {
      this.o.log.info('aborting running tasks for shutdown', { tasks: [...this.running.keys()] });
      this.shutdown.abort();
      await all;
    }
    this.o.runner.stopAllWork();
  }
}
