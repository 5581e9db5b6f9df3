/**
 * The task slots of one process (setting taskConcurrency). The claim loop (engine.ts) takes
 * a slot for each task it claims and gives it back when the run ends.
 *
 * Fair shares (docs/security.md): a task waiting on an injected delay or hang (faults.ts)
 * does no work, so it lends its slot out for the wait instead of keeping other tasks (another
 * project's) from running; before it goes on it takes a slot back, ahead of new claims. Its
 * lease stays live meanwhile, so it still counts against its own project's share
 * (projectTaskConcurrency, store.ts `claimNextTask`).
 */
export class TaskSlots {
  /** ids holding a slot (tasks, or the claim loop's reservation while it claims) */
  private readonly held = new Set<string>();
  /** tasks that lent their slot out and wait to take one back, first come first served */
  private readonly waiting: { id: string; resolve: () => void }[] = [];
  private closed = false;
  /** called when a slot comes free for the claim loop (set by the engine: look for work) */
  onFree: () => void = () => {};

  constructor(readonly capacity: number) {}

  /** Slots in use. */
  get used(): number {
    return this.held.size;
  }

  /** Tasks waiting to take a slot back. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Does `id` hold a slot? */
  holds(id: string): boolean {
    return this.held.has(id);
  }

  /** Take a slot for `id` if one is free and no lent-out task waits for one; false otherwise. */
  tryTake(id: string): boolean {
    if (this.closed || this.held.size >= this.capacity || this.waiting.length > 0) return false;
    this.held.add(id);
    return true;
  }

  /** The slot `from` holds now belongs to `to` (the claim loop's reservation, once it has a task). */
  swap(from: string, to: string): void {
    if (!this.held.delete(from)) throw new Error(`task slots: ${from} holds no slot`);
    this.held.add(to);
  }

  /** Give `id`'s slot back (a run ended, or a task lends its slot out); idempotent. */
  release(id: string): void {
    if (!this.held.delete(id)) return;
    this.handOver();
  }

  /**
   * Take a slot back for `id` after lending it out: at once when one is free, else when the
   * next one comes free, before the claim loop gets it. Already holding one: nothing to do.
   */
  reclaim(id: string): Promise<void> {
    if (this.held.has(id)) return Promise.resolve();
    if (this.closed || (this.held.size < this.capacity && this.waiting.length === 0)) {
      this.held.add(id);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.waiting.push({ id, resolve }));
  }

  /** Shutdown: every waiting task goes on (the process is stopping; its runs end soon), and nothing new is taken. */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) {
      this.held.add(w.id);
      w.resolve();
    }
  }

  private handOver(): void {
    while (this.waiting.length > 0 && this.held.size < this.capacity) {
      const w = this.waiting.shift()!;
      this.held.add(w.id);
      w.resolve();
    }
    if (this.held.size < this.capacity) this.onFree();
  }
}
