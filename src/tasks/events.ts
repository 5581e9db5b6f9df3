/**
 * Typed task events. Metrics and live views subscribe; the engine never imports them.
 * Listener errors are logged and swallowed (`safeEmit`): a broken listener never breaks a task.
 */
import type { TaskRecord } from '../domain/records.js';
import type { Logger } from '../log/logger.js';
import type { StepFigures } from './progress.js';

export interface TaskEventMap {
  'task:started': { task: TaskRecord };
  'task:finished': { task: TaskRecord };
  'step:progress': { task: TaskRecord; stepId: string; figures: StepFigures };
  'step:finished': { task: TaskRecord; stepId: string; status: string; durationMs: number };
}

type Listener<K extends keyof TaskEventMap> = (e: TaskEventMap[K]) => void;

export class TaskEvents {
  private readonly listeners = new Map<keyof TaskEventMap, ((e: never) => void)[]>();
  constructor(private readonly log?: Logger) {}

  on<K extends keyof TaskEventMap>(name: K, fn: Listener<K>): void {
    const list = this.listeners.get(name) ?? [];
    list.push(fn as (e: never) => void);
    this.listeners.set(name, list);
  }

  emit<K extends keyof TaskEventMap>(name: K, e: TaskEventMap[K]): void {
    for (const fn of this.listeners.get(name) ?? []) {
      try {
        (fn as Listener<K>)(e);
      } catch (err) {
        this.log?.warn('task event listener failed', { event: name, error: (err as Error).message });
      }
    }
  }
}
