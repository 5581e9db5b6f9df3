/**
 * The project's events and alarms (issue 17), two pages of the top navigation:
 *
 * - Events (…/events): ListEvents over a time range (1 h, 1 d, 7 d, 30 d back from now), by
 *   severity, category and cluster, newest first, PAGE_SIZE a page. Every filter and the page
 *   are the request's (feeds.ts eventsPath): ListEvents has no category filter, so a category is
 *   sent as its kinds (ListEventSpecs), and paging stays the API's.
 * - Alarms (…/alarms): ListAlarmDetail over the last 1, 7 or 30 days (`recent_day`); the API
 *   filters neither status nor level, so the page fetches the range's alarms (the newest
 *   ALARM_FETCH × ALARM_FETCH_PAGES) and filters and pages them here. Above them the alarms raised
 *   per day and level (ListAlarmStatistic), below them the rules (ListAlarmConfigs), collapsed.
 *
 * Both are live (fetched again every few seconds). Each table carries the request it shows
 * (data-path) so a test compares the rows with what the API answers to it.
 */
import type { JSX } from 'preact';
import { useRef, useState } from 'preact/hooks';
import type { Cluster, ClusterEvent } from './api';
import {
  ALARM_DAYS,
  ALARM_FETCH,
  ALARM_FETCH_PAGES,
  ALARM_LEVELS,
  EVENT_CATEGORIES,
  EVENT_RANGES,
  EVENT_SEVERITIES,
  PAGE_SIZE,
  alarmsPath,
  eventSpecsPath,
  eventsPath,
  filterAlarms,
  formatThreshold,
  levelClass,
  pageInfo,
  statisticRow,
  type AlarmDetail,
  type AlarmStatisticDay,
  type AlarmStatusFilter,
  type EventRangeKey,
} from './feeds';
import type { Key, T } from './i18n';
import { formatEventTime, severityClass } from './model';
import { Loading, PageTitle, Select, useApp, usePoll } from './ui';

const LIVE_MS = 5000;

const RANGE_LABEL: Record<EventRangeKey, Key> = { '1h': 'range1h', '1d': 'range1d', '7d': 'range7d', '30d': 'range30d' };
const SEVERITY_LABEL: Record<string, Key> = { normal: 'sevNormal', warning: 'sevWarning', major: 'sevMajor' };
const CATEGORY_LABEL: Record<string, Key> = { management: 'catManagement', monitor: 'catMonitor', 'system alarm': 'catSystemAlarm' };
const LEVEL_LABEL: Record<string, Key> = { urgent: 'levelUrgent', important: 'levelImportant', minor: 'levelMinor', prompt: 'levelPrompt' };
const STATUS_LABEL: Record<AlarmStatusFilter, Key> = { all: 'statusAll', active: 'statusActive', cleared: 'statusCleared' };
const DAYS_LABEL: Record<number, Key> = { 1: 'days1', 7: 'days7', 30: 'days30' };

/** An API value's label (the value itself when it has none). */
function label(t: T, labels: Record<string, Key>, v: string): string {
  const k = labels[v];
  return k ? t(k) : v;
}

/** The project's clusters for a filter, read once (a name shown for an id). */
function useClusters(): Cluster[] {
  const { api, lang } = useApp();
  const poll = usePoll(() => api.call<{ clusters: Cluster[] }>('GET', '/v1.0/{project_id}/clusters'), [lang], 0);
  return poll.data?.clusters ?? [];
}

function Pager(p: { page: number; count: number; onPage(n: number): void }): JSX.Element {
  const { t } = useApp();
  const info = pageInfo(p.page, p.count);
  return (
    <nav class="pager" aria-label={t('paging')} data-testid="pager">
      <button type="button" class="btn btn-small" data-testid="pager-prev" disabled={!info.hasPrev} onClick={() => p.onPage(p.page - 1)}>
        ← {t('pagePrev')}
      </button>
      <span class="hint" data-testid="pager-info" data-page={p.page} data-count={p.count}>
        {t('pageOf', { page: p.page + 1, pages: info.pages, count: p.count })}
      </span>
      <button type="button" class="btn btn-small" data-testid="pager-next" disabled={!info.hasNext} onClick={() => p.onPage(p.page + 1)}>
        {t('pageNext')} →
      </button>
    </nav>
  );
}

// ------------------------------------------------------------------ events

interface EventsRound {
  path: string;
  events: ClusterEvent[];
  count: number;
}

export function EventsPage(): JSX.Element {
  const { api, t, lang } = useApp();
  const [range, setRange] = useState<EventRangeKey>('7d');
  const [severity, setSeverity] = useState('');
  const [category, setCategory] = useState('');
  const [clusterId, setClusterId] = useState('');
  const [page, setPage] = useState(0);
  const clusters = useClusters();
  // a category's kinds do not change while the service runs: asked once each
  const kindsOf = useRef(new Map<string, string[]>());
  const poll = usePoll(
    async (): Promise<EventsRound> => {
      let kinds: string[] | null = null;
      if (category) {
        kinds = kindsOf.current.get(category) ?? null;
        if (!kinds) {
          const specs = await api.call<{ event_specs: { name: string }[] }>('GET', eventSpecsPath(category));
          kinds = specs.event_specs.map((s) => s.name);
          kindsOf.current.set(category, kinds);
        }
      }
      // a category without a kind covers no event (an empty `name` would cover them all)
      const path = eventsPath({ range, severity, kinds, clusterId, page }, Date.now());
      if (kinds && kinds.length === 0) return { path, events: [], count: 0 };
      const r = await api.call<{ events: ClusterEvent[]; count: number }>('GET', path);
      return { path, events: r.events, count: r.count };
    },
    [range, severity, category, clusterId, page, lang],
    LIVE_MS,
  );
  // a filter changed: back to the first page
  const filter =
    <V,>(set: (v: V) => void) =>
    (v: V): void => {
      set(v);
      setPage(0);
    };
  const round = poll.data;
  return (
    <div data-testid="events-page">
      <PageTitle live>{t('projectEventsTitle')}</PageTitle>
      <p class="hint">{t('projectEventsHint')}</p>
      <div class="filters" data-testid="event-filters">
        <span class="range-picker" role="group" aria-label={t('rangeLabel')} data-testid="event-range">
          {EVENT_RANGES.map((r) => (
            <button
              key={r.key}
              type="button"
              class={`btn btn-small${r.key === range ? ' active' : ''}`}
              aria-pressed={r.key === range}
              data-range={r.key}
              onClick={() => filter(setRange)(r.key)}
            >
              {t(RANGE_LABEL[r.key])}
            </button>
          ))}
        </span>
        <label class="filter">
          {t('eventSeverity')}
          <Select
            name="event-severity"
            value={severity}
            onChange={filter(setSeverity)}
            options={[
              { value: '', label: t('allSeverities') },
              ...EVENT_SEVERITIES.map((s) => ({ value: s, label: label(t, SEVERITY_LABEL, s) })),
            ]}
          />
        </label>
        <label class="filter">
          {t('eventCategory')}
          <Select
            name="event-category"
            value={category}
            onChange={filter(setCategory)}
            options={[
              { value: '', label: t('allCategories') },
              ...EVENT_CATEGORIES.map((c) => ({ value: c, label: label(t, CATEGORY_LABEL, c) })),
            ]}
          />
        </label>
        <label class="filter">
          {t('eventCluster')}
          <Select
            name="event-cluster"
            value={clusterId}
            onChange={filter(setClusterId)}
            options={[{ value: '', label: t('allClusters') }, ...clusters.map((c) => ({ value: c.id, label: c.name }))]}
          />
        </label>
      </div>
      {!round ? (
        <Loading error={poll.error} onRetry={poll.refresh} />
      ) : (
        <>
          {poll.error ? <div class="alert alert-warn">{poll.error.message}</div> : null}
          {round.events.length === 0 ? (
            <p class="empty" data-testid="no-events" data-path={round.path}>
              {t('noEventsMatch')}
            </p>
          ) : (
            <table class="table" data-testid="project-events-table" data-path={round.path} data-count={round.count}>
              <thead>
                <tr>
                  <th>{t('eventTime')}</th>
                  <th>{t('eventSeverity')}</th>
                  <th>{t('eventCategory')}</th>
                  <th>{t('eventCluster')}</th>
                  <th>{t('eventKind')}</th>
                  <th>{t('eventMessage')}</th>
                </tr>
              </thead>
              <tbody>
                {round.events.map((e) => (
                  <tr
                    key={e.event_id}
                    data-event-id={e.event_id}
                    data-severity={e.severity}
                    data-category={e.category}
                    data-cluster-id={e.source_id}
                    data-kind={e.name}
                  >
                    <td class="mono">{formatEventTime(e.occur_time)}</td>
                    <td>
                      <span class={`badge badge-${severityClass(e.severity)}`}>{label(t, SEVERITY_LABEL, e.severity)}</span>
                    </td>
                    <td>{label(t, CATEGORY_LABEL, e.category ?? '')}</td>
                    <td>{e.source_name || <span class="mono">{e.source_id}</span>}</td>
                    <td title={e.name}>{e.display_name}</td>
                    <td>{e.description}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <Pager page={page} count={round.count} onPage={setPage} />
        </>
      )}
    </div>
  );
}

// ------------------------------------------------------------------ alarms

interface AlarmsRound {
  days: number;
  count: number;
  alarms: AlarmDetail[];
}

interface AlarmConfig {
  alarm_id: string;
  alarm_name: string;
  alarm_level: string;
  threshold: number;
  unit: string;
  is_converge: boolean;
  converge_time: number;
}

export function AlarmsPage(): JSX.Element {
  const { api, t, lang } = useApp();
  const [days, setDays] = useState<number>(7);
  const [status, setStatus] = useState<AlarmStatusFilter>('all');
  const [level, setLevel] = useState('');
  const [page, setPage] = useState(0);
  const poll = usePoll(
    async (): Promise<AlarmsRound> => {
      // The range's alarms, newest first, page by page (ListAlarmDetail's offset is a page number).
      const alarms: AlarmDetail[] = [];
      let count = 0;
      for (let n = 0; n < ALARM_FETCH_PAGES; n++) {
        const r = await api.call<{ count: number; alarm_details: AlarmDetail[] }>('GET', alarmsPath(days, n));
        count = r.count;
        alarms.push(...r.alarm_details);
        if (r.alarm_details.length < ALARM_FETCH || alarms.length >= count) break;
      }
      return { days, count, alarms };
    },
    [days, lang],
    LIVE_MS,
  );
  const round = poll.data;
  // ListAlarmDetail has no status or level filter: both filter the fetched alarms here.
  const shown = round ? filterAlarms(round.alarms, status, level) : [];
  const info = pageInfo(page, shown.length);
  const at = Math.min(page, info.pages - 1);
  const rows = shown.slice(at * PAGE_SIZE, at * PAGE_SIZE + PAGE_SIZE);
  const filter =
    <V,>(set: (v: V) => void) =>
    (v: V): void => {
      set(v);
      setPage(0);
    };
  return (
    <div data-testid="alarms-page">
      <PageTitle live>{t('alarmsTitle')}</PageTitle>
      <p class="hint">{t('alarmsHint')}</p>
      <AlarmStatistic />
      <div class="filters" data-testid="alarm-filters">
        <label class="filter">
          {t('alarmDays')}
          <Select
            name="alarm-days"
            value={String(days)}
            onChange={(v) => filter(setDays)(Number(v))}
            options={ALARM_DAYS.map((d) => ({ value: String(d), label: t(DAYS_LABEL[d]!) }))}
          />
        </label>
        <label class="filter">
          {t('alarmStatus')}
          <Select
            name="alarm-status"
            value={status}
            onChange={(v) => filter(setStatus)(v as AlarmStatusFilter)}
            options={(['all', 'active', 'cleared'] as const).map((s) => ({ value: s, label: t(STATUS_LABEL[s]) }))}
          />
        </label>
        <label class="filter">
          {t('alarmLevel')}
          <Select
            name="alarm-level"
            value={level}
            onChange={filter(setLevel)}
            options={[{ value: '', label: t('allLevels') }, ...ALARM_LEVELS.map((l) => ({ value: l, label: label(t, LEVEL_LABEL, l) }))]}
          />
        </label>
      </div>
      {!round ? (
        <Loading error={poll.error} onRetry={poll.refresh} />
      ) : (
        <>
          {poll.error ? <div class="alert alert-warn">{poll.error.message}</div> : null}
          <p class="hint" data-testid="alarms-shown" data-count={round.count} data-fetched={round.alarms.length} data-shown={shown.length}>
            {t('alarmsShown', { shown: shown.length, count: round.count })}
            {round.alarms.length < round.count ? ` · ${t('alarmsTruncated', { n: round.alarms.length })}` : ''}
          </p>
          {rows.length === 0 ? (
            <p class="empty" data-testid="no-alarms">
              {t('noAlarmsMatch')}
            </p>
          ) : (
            <table class="table" data-testid="alarms-table" data-days={round.days}>
              <thead>
                <tr>
                  <th>{t('alarmRaised')}</th>
                  <th>{t('alarmLevel')}</th>
                  <th>{t('alarmStatus')}</th>
                  <th>{t('alarmName')}</th>
                  <th>{t('alarmResource')}</th>
                  <th>{t('alarmMessage')}</th>
                  <th>{t('alarmCleared')}</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((a) => (
                  <tr key={a.id} data-alarm-id={a.id} data-rule={a.alarm_id} data-level={a.alarm_level} data-status={a.alarm_status}>
                    <td class="mono" title={a.alarm_generate_date}>
                      {formatEventTime(a.raised_at)}
                    </td>
                    <td>
                      <span class={`badge badge-${levelClass(a.alarm_level)}`}>{label(t, LEVEL_LABEL, a.alarm_level)}</span>
                    </td>
                    <td>
                      <span class={`badge badge-${a.alarm_status === 'active' ? 'bad' : 'ok'}`}>
                        {label(t, STATUS_LABEL as Record<string, Key>, a.alarm_status)}
                      </span>
                    </td>
                    <td>
                      {a.alarm_name}
                      <div class="hint mono">{a.alarm_id}</div>
                    </td>
                    <td>
                      {a.resource_id_name}
                      {a.instance_name ? <span class="mono"> · {a.instance_name}</span> : null}
                    </td>
                    <td>{a.alarm_message}</td>
                    <td class="mono">{a.cleared_at === null ? '—' : formatEventTime(a.cleared_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <Pager page={at} count={shown.length} onPage={setPage} />
        </>
      )}
      <AlarmRules />
    </div>
  );
}

/** The alarms raised per day and level over the last 7 days (ListAlarmStatistic, UTC): a row per level, a column per day. */
function AlarmStatistic(): JSX.Element {
  const { api, t, lang } = useApp();
  const poll = usePoll(
    () => api.call<{ alarm_statistics: AlarmStatisticDay[] }>('GET', '/v2/{project_id}/alarm-statistic'),
    [lang],
    LIVE_MS * 2,
  );
  if (!poll.data) return <Loading error={poll.error} onRetry={poll.refresh} />;
  const days = poll.data.alarm_statistics.map(statisticRow);
  return (
    <section class="stat-strip" aria-label={t('alarmStatisticTitle')}>
      <h2>{t('alarmStatisticTitle')}</h2>
      <table class="table stat-table" data-testid="alarm-statistic">
        <thead>
          <tr>
            <th>{t('alarmLevel')}</th>
            {days.map((d) => (
              <th key={d.date} class="num mono">
                {d.date.slice(5)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {ALARM_LEVELS.map((l, i) => (
            <tr key={l} data-level={l}>
              <td>
                <span class={`badge badge-${levelClass(l)}`}>{label(t, LEVEL_LABEL, l)}</span>
              </td>
              {days.map((d) => (
                <td key={d.date} class={`num${d.counts[i] ? ' stat-some' : ' stat-none'}`} data-date={d.date}>
                  {d.counts[i]}
                </td>
              ))}
            </tr>
          ))}
          <tr data-level="total" class="stat-total">
            <td>{t('statTotal')}</td>
            {days.map((d) => (
              <td key={d.date} class="num" data-date={d.date}>
                {d.total}
              </td>
            ))}
          </tr>
        </tbody>
      </table>
    </section>
  );
}

/** The alarm rules (ListAlarmConfigs), collapsed until opened. */
function AlarmRules(): JSX.Element {
  const { api, t, lang } = useApp();
  const poll = usePoll(
    () => api.call<{ count: number; alarm_configs: AlarmConfig[] }>('GET', '/v2/{project_id}/alarm-configs?offset=0&limit=1000'),
    [lang],
    0,
  );
  const rules = poll.data?.alarm_configs ?? [];
  return (
    <details class="rules" data-testid="alarm-rules">
      <summary>{t('alarmRulesTitle', { n: poll.data ? poll.data.count : '…' })}</summary>
      {!poll.data ? (
        <Loading error={poll.error} onRetry={poll.refresh} />
      ) : (
        <>
          <p class="hint">{t('alarmRulesHint')}</p>
          <table class="table" data-testid="alarm-rules-table">
            <thead>
              <tr>
                <th>{t('ruleId')}</th>
                <th>{t('ruleName')}</th>
                <th>{t('alarmLevel')}</th>
                <th>{t('ruleThreshold')}</th>
                <th>{t('ruleHeldFor')}</th>
              </tr>
            </thead>
            <tbody>
              {rules.map((r) => (
                <tr key={r.alarm_id} data-rule={r.alarm_id}>
                  <td class="mono">{r.alarm_id}</td>
                  <td>{r.alarm_name}</td>
                  <td>
                    <span class={`badge badge-${levelClass(r.alarm_level)}`}>{label(t, LEVEL_LABEL, r.alarm_level)}</span>
                  </td>
                  <td class="num">{formatThreshold(r.threshold, r.unit)}</td>
                  <td>{r.is_converge ? t('ruleSeconds', { s: r.converge_time }) : t('ruleAtOnce')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </details>
  );
}
