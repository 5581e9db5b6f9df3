/**
 * Read models of tasks: the task-details endpoint (GET …/actions/{action_name}), ListJobDetails
 * (D12) and dwsbox's own task list. One body shape for all of them.
 */
import type { Clock } from '../domain/clock.js';
import type { StepRecord, TaskRecord } from '../domain/records.js';
import { itemName, stepName, type Lang } from '../domain/step-names.js';
import {
  ACTION_NAMES,
  ACTION_OF_KIND,
  ACTION_TYPE_OF_KIND,
  ACTIVE_TASK_STATUSES,
  FAILED_TASK_STATUSES,
  isActionName,
  isTaskFailure,
  jobStatusOf,
  type TaskKind,
  type TaskStatus,
} from '../domain/task.js';
import { actionTime, jobTime } from '../domain/time.js';
import { AppError } from '../errors/app-error.js';
import type { Store } from '../store/store.js';
import { ReadCache, type ReadPoint, type Timed } from '../store/read-cache.js';

/** The API passes each read-only request's read point to the services' reads. */
export type { ReadPoint };
import { buildProgressInfo, estimateFromHistory } from '../tasks/progress.js';

export interface SubItemOut {
  status: string;
  detail: string;
  sub_item_name: string;
  begin_time: string | null;
  end_time: string | null;
  estimated_time: number;
  /** dwsbox: the stable step id (currentStep/failedStep, fault `step`) */
  step: string;
}
export interface ItemOut {
  item_name: string;
  sub_items: SubItemOut[];
}
export interface TaskBody {
  id: string;
  action_name: string;
  status: string;
  cluster_name: string;
  submit_time: string;
  items: ItemOut[];
  /** dwsbox extras, for the console and the CLI */
  kind: string;
  progress: string;
  end_time: string | null;
  error_code: string | null;
  error_msg: string | null;
  failed_step: string | null;
}

export interface JobBody {
  job_id: string;
  job_name: string;
  begin_time: string;
  end_time: string;
  status: string;
  failed_code: string;
  failed_detail: string;
  progress: string;
}

/**
 * What a task's body is made of, as read from the store: the task, its steps, and the past
 * durations of the steps whose estimate comes from history (D14). The body is this and the
 * clock; `bodies` keeps the ones that do not depend on the clock, by language.
 */
interface TaskReading {
  task: TaskRecord;
  steps: StepRecord[];
  past: Map<string, number[]>;
  bodies: Map<string, TaskBody>;
}

export class TaskService {
  /**
   * The task-details endpoint's readings, while the store is unchanged (read-cache.ts): a poll
   * during a step reads nothing again until a write, and only the clock's part is computed.
   */
  private readonly actions: ReadCache<TaskReading>;
  /** ListJobDetails' answers, the same way (a job's body holds no clock). */
  private readonly jobs: ReadCache<JobBody>;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {
    this.actions = new ReadCache(store, clock);
    this.jobs = new ReadCache(store, clock);
  }

  private async requireCluster(projectId: string, clusterId: string): Promise<void> {
    if (!(await this.store.getCluster(projectId, clusterId))) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
  }

  /**
   * GET …/actions/{action_name}: an in-progress name gives the running task of that kind, or
   * the latest one with its final status; a failure name gives the newest task of that kind
   * that ended FAILED, ROLLBACK_SUCCESS or ROLLBACK_FAIL (D8).
   */
  async actionDetails(projectId: string, clusterId: string, actionName: string, lang: Lang, at?: ReadPoint): Promise<TaskBody> {
    if (!isActionName(actionName)) {
      throw new AppError('INVALID_ACTION_NAME', { args: [actionName.slice(0, 64), Object.keys(ACTION_NAMES).join(', ')] });
    }
    const spec = ACTION_NAMES[actionName];
    const reading = await this.actions.get(
      `${projectId}/${clusterId}/${actionName}`,
      async () => {
        await this.requireCluster(projectId, clusterId);
        const kinds: TaskKind[] = [...spec.kinds];
        const newest = (statuses?: readonly TaskStatus[]) =>
          this.store.listTasks(clusterId, { kinds, limit: 1, ...(statuses ? { statuses } : {}) }).then((found) => found[0]);
        const task = spec.failure ? await newest(FAILED_TASK_STATUSES) : ((await newest(ACTIVE_TASK_STATUSES)) ?? (await newest()));
        if (!task)
          throw new AppError('ACTION_TASK_NOT_FOUND', { args: [clusterId, `${spec.failure ? 'failed ' : ''}${spec.kinds.join(' or ')}`] });
        return { value: await this.read(task) };
      },
      at,
    );
    const kept = reading.bodies.get(lang);
    if (kept) return kept;
    const { value, until } = this.bodyOf(reading, lang, actionName, this.clock.now());
    if (until === Infinity) reading.bodies.set(lang, value);
    return value;
  }

  async listClusterTasks(projectId: string, clusterId: string, lang: Lang, limit = 50): Promise<TaskBody[]> {
    await this.requireCluster(projectId, clusterId);
    const tasks = await this.store.listTasks(clusterId, { limit });
    return Promise.all(tasks.map((t) => this.body(t, lang, ACTION_OF_KIND[t.kind])));
  }

  async clusterTask(projectId: string, clusterId: string, taskId: string, lang: Lang): Promise<TaskBody> {
    await this.requireCluster(projectId, clusterId);
    const t = await this.store.getTask(taskId);
    if (!t || t.clusterId !== clusterId || t.projectId !== projectId) throw new AppError('JOB_NOT_FOUND', { args: [taskId] });
    return this.body(t, lang, ACTION_OF_KIND[t.kind]);
  }

  /**
   * Any task of the project by its id, with its items and steps: also a task of no cluster (a
   * snapshot copy, a stanza's repository task), which no cluster's endpoints show.
   */
  async projectTask(projectId: string, taskId: string, lang: Lang): Promise<TaskBody> {
    const t = await this.store.getTask(taskId);
    if (!t || t.projectId !== projectId) throw new AppError('JOB_NOT_FOUND', { args: [taskId] });
    return this.body(t, lang, ACTION_OF_KIND[t.kind]);
  }

  /** ListJobDetails (D12). `at`: the request's read point. */
  job(projectId: string, jobId: string, at?: ReadPoint): Promise<JobBody> {
    return this.jobs.get(`${projectId}/${jobId}`, async () => ({ value: await this.readJob(projectId, jobId) }), at);
  }

  private async readJob(projectId: string, jobId: string): Promise<JobBody> {
    const t = await this.store.getTask(jobId);
    if (!t || t.projectId !== projectId) throw new AppError('JOB_NOT_FOUND', { args: [jobId] });
    const failed = isTaskFailure(t.status);
    return {
      job_id: t.id,
      job_name: t.kind,
      begin_time: jobTime(t.startedAt ?? t.createdAt),
      end_time: t.finishedAt ? jobTime(t.finishedAt) : '',
      status: jobStatusOf(t.status),
      failed_code: failed ? (t.errorCode ?? '') : '',
      failed_detail: failed ? `${t.errorCode ?? ''}:${t.errorMsg ?? ''}` : '',
      progress: `${Math.floor(t.status === 'SUCCESS' ? 100 : t.progress)}%`,
    };
  }

  async body(t: TaskRecord, lang: Lang, actionName: string): Promise<TaskBody> {
    return this.bodyOf(await this.read(t), lang, actionName, this.clock.now()).value;
  }

  private async read(task: TaskRecord): Promise<TaskReading> {
    const steps = await this.store.listSteps(task.id);
    const past = new Map<string, number[]>();
    for (const s of steps) {
      if (s.status === 'WAITING' || (isRunning(s) && !hasByteMeasure(s)))
        past.set(s.stepId, await this.store.pastStepDurations(task.kind, s.stepId));
    }
    return { task, steps, past, bodies: new Map() };
  }

  /** The body at `now`, and until when it holds: a step estimated from the time it has run holds only now. */
  private bodyOf(r: TaskReading, lang: Lang, actionName: string, now: number): Timed<TaskBody> {
    const t = r.task;
    let until = Infinity;
    const items: ItemOut[] = [];
    let cur: { key: string; out: ItemOut } | null = null;
    for (const s of r.steps) {
      if (!cur || cur.key !== s.itemKey) {
        cur = { key: s.itemKey, out: { item_name: itemName(s.itemKey, lang), sub_items: [] } };
        items.push(cur.out);
      }
      const sub = this.subItem(t, s, r.past.get(s.stepId) ?? [], lang, now);
      cur.out.sub_items.push(sub.value);
      until = Math.min(until, sub.until ?? Infinity);
    }
    const value: TaskBody = {
      id: t.id,
      action_name: actionName,
      status: t.status,
      cluster_name: t.clusterName,
      submit_time: actionTime(t.createdAt),
      items,
      kind: t.kind,
      progress: `${Math.floor(t.status === 'SUCCESS' ? 100 : t.progress)}%`,
      end_time: t.finishedAt ? actionTime(t.finishedAt) : null,
      error_code: t.errorCode,
      error_msg: t.errorMsg,
      failed_step: t.failedStep,
    };
    return { value, until };
  }

  private subItem(t: TaskRecord, s: StepRecord, past: number[], lang: Lang, now: number): Timed<SubItemOut> {
    let info = s.progressInfo;
    if (Object.keys(info).length === 0) {
      info = buildProgressInfo({
        actionType: ACTION_TYPE_OF_KIND[t.kind],
        stepId: s.stepId,
        beginAt: s.beginAt,
        endAt: s.endAt,
        now: s.beginAt ?? t.createdAt,
        status: s.status,
        figures: {
          percent: 0,
          bytesDone: null,
          bytesTotal: null,
          producerRate: null,
          consumerRate: null,
          compressRate: null,
          secondsLeft: null,
        },
      });
      if (s.status === 'WAITING') info = { ...info, currentStep: '' };
    }
    let estimate = s.estimatedTime;
    let until: number | undefined;
    if (isRunning(s) && !hasByteMeasure(s) && s.beginAt !== null) {
      // No byte measure: the median of this step's past runs on this host, less the time spent (D14).
      estimate = estimateFromHistory(past, now - s.beginAt);
      until = now;
    } else if (s.status === 'WAITING') {
      estimate = past.length ? estimateFromHistory(past, 0) : -1;
    } else if (s.status === 'SUCCESS') {
      estimate = 0;
    }
    const value: SubItemOut = {
      status: s.status,
      detail: JSON.stringify({ progressInfo: JSON.stringify(info) }),
      sub_item_name: stepName(s.stepId, lang),
      begin_time: s.beginAt ? actionTime(s.beginAt) : null,
      end_time: s.endAt ? actionTime(s.endAt) : null,
      estimated_time: estimate,
      step: s.stepId,
    };
    return until === undefined ? { value } : { value, until };
  }
}

const isRunning = (s: StepRecord): boolean => s.status === 'RUNNING' || s.status === 'ROLLBACK_RUNNING';
/** A step that reports bytes has its estimate from them; the others from history. */
const hasByteMeasure = (s: StepRecord): boolean => Number(s.progressInfo['totalSize']) > 0;
