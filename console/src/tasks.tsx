/**
 * The tasks view: every task of a cluster (GET /dwsbox/v1/{project_id}/clusters/{id}/tasks,
 * newest first), each with its items and sub-items, status, a progress bar driven by the
 * sub-item's real progressInfo.progress, bytes and rates, times and the estimate. Polled about
 * once a second with the token header. A failed or rolled-back task shows its failed step and
 * message at the top of its card.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { SubItem, Task } from './api';
import { formatBytes, formatSeconds, hasRate, isActive, isFailure, parseProgressInfo } from './model';
import { Badge, Link, Loading, PageTitle, ProgressBar, useApp, usePoll } from './ui';

/** "2025-05-19 09:06:18.0" (UTC) → ms since the epoch, or null. */
function actionTimeMs(s: string | null): number | null {
  if (!s) return null;
  const ms = Date.parse(`${s.trim().replace(' ', 'T')}Z`);
  return Number.isFinite(ms) ? ms : null;
}
const shortTime = (s: string | null): string => (s ? s.replace(/\.\d+$/, '') : '—');

function SubItemRow(p: { sub: SubItem; failedStep: string | null; taskActive: boolean }): JSX.Element {
  const { t } = useApp();
  const s = p.sub;
  const info = parseProgressInfo(s.detail);
  const failedHere = s.status === 'FAILED' || s.status === 'ROLLBACK_FAIL' || (p.failedStep !== null && p.failedStep === s.step);
  const running = isActive(s.status) && s.status !== 'WAITING';
  const est = formatSeconds(s.estimated_time);
  const begin = actionTimeMs(s.begin_time);
  const elapsed = running && begin !== null ? formatSeconds(Math.max(0, (Date.now() - begin) / 1000)) : null;
  const bytes =
    info && (info.totalSize > 0 || info.backupSize > 0)
      ? info.totalSize > 0
        ? `${formatBytes(info.backupSize)} / ${formatBytes(info.totalSize)}`
        : formatBytes(info.backupSize)
      : null;
  const rates = info
    ? [
        hasRate(info.producerRate) ? `${t('producerRate')} ${info.producerRate}` : null,
        hasRate(info.consumerRate) ? `${t('consumerRate')} ${info.consumerRate}` : null,
        hasRate(info.compressRate) ? `${t('compressRate')} ${info.compressRate}` : null,
      ].filter((x): x is string => x !== null)
    : [];
  return (
    <li class={`sub-item${failedHere ? ' sub-failed' : ''}`} data-step={s.step} data-status={s.status}>
      <div class="sub-head">
        <span class="sub-name">{s.sub_item_name}</span>
        <span class="step-id mono">{s.step}</span>
        <Badge value={s.status} />
      </div>
      <ProgressBar
        value={info?.progress || (s.status === 'SUCCESS' ? '100.00%' : '0.00%')}
        status={s.status}
        label={s.sub_item_name}
        small
      />
      <div class="sub-figures">
        {bytes ? (
          <span class="fig" data-fig="bytes">
            <b>{t('bytes')}</b> {bytes}
          </span>
        ) : null}
        {rates.length ? (
          <span class="fig" data-fig="rate">
            <b>{t('rate')}</b> {rates.join(' · ')}
          </span>
        ) : null}
        {s.begin_time ? (
          <span class="fig">
            <b>{t('began')}</b> {shortTime(s.begin_time)}
          </span>
        ) : null}
        {s.end_time ? (
          <span class="fig">
            <b>{t('ended')}</b> {shortTime(s.end_time)}
          </span>
        ) : null}
        {elapsed ? (
          <span class="fig">
            <b>{t('elapsed')}</b> {elapsed}
          </span>
        ) : null}
        {p.taskActive && isActive(s.status) ? (
          <span class="fig" data-fig="estimate">
            <b>{t('estimate')}</b> {est ?? t('estimateUnknown')}
          </span>
        ) : null}
      </div>
      {failedHere && info?.errorMsg ? (
        <div class="sub-error" data-testid="sub-error">
          {info.errorMsg}
        </div>
      ) : null}
    </li>
  );
}

function failedStepName(task: Task): string | null {
  if (!task.failed_step) return null;
  for (const it of task.items) for (const s of it.sub_items) if (s.step === task.failed_step) return s.sub_item_name;
  return null;
}

export function TaskCard(p: { task: Task; clusterId: string; open?: boolean }): JSX.Element {
  const { t } = useApp();
  const task = p.task;
  const failure = isFailure(task.status);
  const active = isActive(task.status);
  const [open, setOpen] = useState<boolean>(p.open ?? (active || failure));
  // The failure as the failing sub-item's progressInfo tells it, else the task's own record.
  let subMsg: string | null = null;
  for (const it of task.items) {
    for (const s of it.sub_items) {
      if (s.step === task.failed_step || s.status === 'FAILED' || s.status === 'ROLLBACK_FAIL') {
        const info = parseProgressInfo(s.detail);
        if (info?.errorMsg) subMsg = subMsg ?? info.errorMsg;
      }
    }
  }
  const message = task.error_msg || subMsg;
  const stepName = failedStepName(task);
  const failureTitle =
    task.status === 'ROLLBACK_SUCCESS'
      ? `${t('taskFailed')} · ${t('rolledBack')}`
      : task.status === 'ROLLBACK_FAIL'
        ? `${t('taskFailed')} · ${t('rollbackFailed')}`
        : t('taskFailed');
  return (
    <section
      class={`task-card${failure ? ' task-failed' : ''}${active ? ' task-active' : ''}`}
      data-task-id={task.id}
      data-action={task.action_name}
      data-status={task.status}
    >
      <header class="task-head" onClick={() => setOpen(!open)}>
        <span class="twisty">{open ? '▾' : '▸'}</span>
        <span class="task-action">{task.action_name}</span>
        <Badge value={task.status} />
        <span class="task-time">
          {t('submitted')} {shortTime(task.submit_time)}
          {task.end_time ? ` · ${t('ended')} ${shortTime(task.end_time)}` : ''}
        </span>
        <span class="task-bar">
          <ProgressBar value={task.progress} status={task.status} label={task.action_name} small />
        </span>
        <span onClick={(e) => e.stopPropagation()}>
          <Link to={`clusters/${p.clusterId}/tasks/${task.id}`} class="btn btn-small">
            {t('showTask')}
          </Link>
        </span>
      </header>
      {failure ? (
        <div class="alert alert-error task-failure" role="alert" data-testid="task-failure">
          <div class="failure-title">{failureTitle}</div>
          {task.failed_step ? (
            <div class="failure-step">
              <b>{t('failedStep')}:</b> <span data-testid="failed-step-name">{stepName ?? task.failed_step}</span>{' '}
              <span class="mono">({task.failed_step})</span>
            </div>
          ) : null}
          {message ? (
            <div class="failure-msg">
              <b>{t('errorMessage')}:</b> <span data-testid="failed-step-msg">{message}</span>
              {task.error_code ? <span class="mono"> [{task.error_code}]</span> : null}
            </div>
          ) : null}
        </div>
      ) : null}
      {open ? (
        <div class="task-body">
          {task.items.map((it, i) => (
            <div class="item" key={`${i}-${it.item_name}`}>
              <div class="item-name">{it.item_name}</div>
              <ul class="sub-items">
                {it.sub_items.map((s) => (
                  <SubItemRow key={s.step} sub={s} failedStep={task.failed_step} taskActive={active} />
                ))}
              </ul>
            </div>
          ))}
        </div>
      ) : null}
    </section>
  );
}

/** Every task of a cluster, live. */
export function TaskList(p: { clusterId: string; limit?: number }): JSX.Element {
  const { api, t, lang } = useApp();
  const poll = usePoll(
    () =>
      api.call<{ tasks: Task[] }>(
        'GET',
        `/dwsbox/v1/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/tasks?limit=${p.limit ?? 20}`,
      ),
    [p.clusterId, lang],
    1000,
  );
  if (!poll.data) return <Loading error={poll.error} onRetry={poll.refresh} />;
  const tasks = poll.data.tasks;
  return (
    <div class="task-list" data-testid="task-list">
      <p class="hint">{t('allTimesUtc')}</p>
      {poll.error ? <div class="alert alert-warn">{poll.error.message}</div> : null}
      {tasks.length === 0 ? <p class="empty">{t('noTasks')}</p> : null}
      {tasks.map((task, i) => (
        <TaskCard key={task.id} task={task} clusterId={p.clusterId} open={isActive(task.status) || isFailure(task.status) || i < 2} />
      ))}
    </div>
  );
}

/** One task on its own page (…/tasks/{task_id}), live. */
export function TaskPage(p: { clusterId: string; taskId: string }): JSX.Element {
  const { api, t, lang } = useApp();
  const poll = usePoll(
    () =>
      api.call<Task>('GET', `/dwsbox/v1/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/tasks/${encodeURIComponent(p.taskId)}`),
    [p.clusterId, p.taskId, lang],
    1000,
  );
  return (
    <div>
      <p>
        <Link to={`clusters/${p.clusterId}`}>← {t('back')}</Link>
      </p>
      <PageTitle live={poll.data ? isActive(poll.data.status) : false}>
        {t('task')} {poll.data ? `${poll.data.action_name} · ${poll.data.cluster_name}` : ''}
      </PageTitle>
      <p class="mono hint">{p.taskId}</p>
      {poll.data ? <TaskCard task={poll.data} clusterId={p.clusterId} open /> : <Loading error={poll.error} onRetry={poll.refresh} />}
    </div>
  );
}
