/**
 * A cluster's monitoring tab (D29, …/clusters/{id}/monitoring): CPU, memory, disk, connections,
 * TPS and replication lag over a chosen range (1 h, 6 h, 1 d, 7 d), one line per member, drawn
 * with uPlot from ListMonitorIndicatorData (GET /v1.0/{project_id}/dms/metric-data), and the
 * backup and restore throughput of the cluster's tasks, one line per task step (GET
 * /dwsbox/v1/{project_id}/clusters/{id}/task-throughput). Live while
 * open: fetched again at the indicators' collect rate (at most every 15 s). A member or an
 * indicator without a point says "no data yet" instead of drawing zeros; a missing sample is a
 * gap in its line. Each chart's uPlot instance is `window.__dwsboxCharts[indicator]` and its
 * element carries the range it shows (data-from, data-to, data-round-range), so a test compares
 * what is plotted with what the API answers.
 */
import type { JSX } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { mountChart } from './chart';
import { TabFrame } from './cluster-tabs';
import type { Key } from './i18n';
import {
  RANGES,
  alignSeries,
  firstSample,
  formatValue,
  memberColor,
  metricDataPath,
  niceMax,
  rangeIsRaw,
  rangeMs,
  refreshMs,
  shownSpan,
  throughputPath,
  throughputSeries,
  type ChartUnit,
  type Indicator,
  type MetricSeries,
  type RangeKey,
  type StepThroughput,
} from './metrics';
import { Loading, useApp, usePoll } from './ui';
import type { ClusterEvent } from './api';

interface ChartSpec {
  name: string;
  /** the indicator of ListMonitorIndicatorData; `task.throughput`: the cluster's task throughput (lines per task step) */
  indicator: string;
  unit: ChartUnit;
  label: Key;
  hint?: Key;
  /** what an answer without a point says */
  empty?: Key;
}

const CHARTS: readonly ChartSpec[] = [
  { name: 'cpu', indicator: 'instance.cpu_usage', unit: 'percent', label: 'chartCpu' },
  { name: 'memory', indicator: 'instance.mem_used', unit: 'bytes', label: 'chartMemory' },
  { name: 'disk', indicator: 'instance.disk_used', unit: 'bytes', label: 'chartDisk' },
  { name: 'connections', indicator: 'instance.connections', unit: 'count', label: 'chartConnections' },
  { name: 'tps', indicator: 'instance.tps', unit: 'rate', label: 'chartTps' },
  {
    name: 'replication-lag',
    indicator: 'instance.replication_lag_bytes',
    unit: 'bytes',
    label: 'chartReplicationLag',
    hint: 'chartReplicationLagHint',
  },
  {
    name: 'task-throughput',
    indicator: 'task.throughput',
    unit: 'byteRate',
    label: 'chartTaskThroughput',
    hint: 'chartTaskThroughputHint',
    empty: 'noTaskData',
  },
];
const INDICATORS = CHARTS.map((c) => c.indicator).filter((i) => i !== 'task.throughput');

/** One chart's answer for [from, to]: the indicator's per member, or the task throughput's per step. */
function chartData(
  api: ReturnType<typeof useApp>['api'],
  c: ChartSpec,
  clusterId: string,
  from: number,
  to: number,
): Promise<MetricSeries[]> {
  if (c.indicator === 'task.throughput')
    return api
      .call<{ steps: StepThroughput[] }>('GET', throughputPath(clusterId, from, to))
      .then((r) => throughputSeries(clusterId, r.steps));
  return api.call<MetricSeries[]>('GET', metricDataPath(c.indicator, clusterId, from, to));
}

const RANGE_LABEL: Record<RangeKey, Key> = { '1h': 'range1h', '6h': 'range6h', '1d': 'range1d', '7d': 'range7d' };

const CHART_HEIGHT = 220;
/** whole steps (1, 2, 5 × 10ⁿ): counts, and bytes (no "0.4 B/s") */
const WHOLE_STEPS = [1, 2, 5].flatMap((m) => Array.from({ length: 13 }, (_, n) => m * 10 ** n)).sort((a, b) => a - b);

/** One round of the page: every chart's answer for the same [from, to]. */
interface Round {
  range: RangeKey;
  from: number;
  to: number;
  /** the time axis of every chart (shownSpan) */
  span: [number, number];
  at: number;
  answers: ({ items: MetricSeries[]; error?: undefined } | { items?: undefined; error: Error })[];
  /** the cluster's events in the range (ListEvents), oldest first: the timeline under the charts and the marks on them */
  events: ClusterEvent[];
}

/** The colour of an event's mark: a failure or a failover stands out. */
const markColor = (e: ClusterEvent): string => (e.severity === 'major' ? '#c0392b' : e.severity === 'warning' ? '#d68910' : '#7f8c8d');

/** A uPlot plugin drawing a dashed vertical line at each event's time. */
function eventMarks(events: () => ClusterEvent[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const ctx = u.ctx;
        const [min, max] = [u.scales['x']!.min ?? 0, u.scales['x']!.max ?? 0];
        ctx.save();
        ctx.setLineDash([4, 3]);
        ctx.lineWidth = 1;
        for (const e of events()) {
          if (e.occur_time < min || e.occur_time > max) continue;
          const x = Math.round(u.valToPos(e.occur_time, 'x', true));
          ctx.strokeStyle = markColor(e);
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      },
    },
  };
}

export function MonitoringPage(p: { clusterId: string }): JSX.Element {
  const { api, t } = useApp();
  const [range, setRange] = useState<RangeKey>('1h');
  // The indicators' collect rate sets how often the charts are fetched again; without it, every 15 s.
  // Read once: a language switch keeps the charts (they fetch again in the new language themselves).
  const indicators = usePoll(() => api.call<Indicator[]>('GET', '/v1.0/{project_id}/dms/metric-data/indicators'), [], 0);
  const known = indicators.data !== null || indicators.error !== null;
  const every = refreshMs(indicators.data, INDICATORS);
  return (
    <TabFrame clusterId={p.clusterId} tab="monitoring">
      <h2>{t('monitoringTitle')}</h2>
      <p class="hint">{t('monitoringHint')}</p>
      <div class="range-row">
        <span class="range-picker" role="group" aria-label={t('rangeLabel')} data-testid="range-picker">
          {RANGES.map((r) => (
            <button
              key={r.key}
              type="button"
              class={`btn btn-small${r.key === range ? ' active' : ''}`}
              aria-pressed={r.key === range}
              data-range={r.key}
              onClick={() => setRange(r.key)}
            >
              {t(RANGE_LABEL[r.key])}
            </button>
          ))}
        </span>
        <span class="hint" data-testid="monitoring-rate">
          {t(rangeIsRaw(range) ? 'samplesRaw' : 'samplesAvg')} · {t('refreshEvery', { s: every / 1000 })}
        </span>
      </div>
      {known ? <Charts key={`${range}/${every}`} clusterId={p.clusterId} range={range} every={every} /> : <Loading />}
    </TabFrame>
  );
}

function Charts(p: { clusterId: string; range: RangeKey; every: number }): JSX.Element {
  const { api, t, lang } = useApp();
  const poll = usePoll(
    async (): Promise<Round> => {
      // Whole seconds, as the metrics history keeps them: a range of exactly 6 h is answered from raw samples.
      const to = Math.floor(Date.now() / 1000) * 1000;
      const from = to - rangeMs(p.range);
      const settled = await Promise.allSettled(CHARTS.map((c) => chartData(api, c, p.clusterId, from, to)));
      const answers: Round['answers'] = settled.map((s) =>
        s.status === 'fulfilled' ? { items: Array.isArray(s.value) ? s.value : [] } : { error: s.reason as Error },
      );
      const span = shownSpan(from, to, firstSample(answers.map((a) => a.items ?? [])));
      const events = await api
        .call<{ events: ClusterEvent[] }>(
          'GET',
          `/v2/{project_id}/events?source_id=${encodeURIComponent(p.clusterId)}&start_time=${from}&end_time=${to}&limit=200`,
        )
        .then((r) => [...r.events].sort((a, b) => a.occur_time - b.occur_time))
        .catch(() => [] as ClusterEvent[]);
      return { range: p.range, from, to, span, at: Date.now(), answers, events };
    },
    [p.clusterId, p.range, lang],
    p.every,
  );
  const round = poll.data;
  if (!round) return <Loading error={poll.error} onRetry={poll.refresh} />;
  return (
    <>
      {poll.error ? <div class="alert alert-warn">{poll.error.message}</div> : null}
      <p class="hint" data-testid="monitoring-updated">
        {t('updatedAt', { time: new Date(round.at).toLocaleTimeString() })}
      </p>
      <div class="charts">
        {CHARTS.map((c, i) => (
          <Chart key={c.indicator} spec={c} round={round} answer={round.answers[i]!} />
        ))}
      </div>
      <h3>{t('timeline')}</h3>
      {round.events.length === 0 ? (
        <p class="hint" data-testid="timeline-empty">
          {t('timelineEmpty')}
        </p>
      ) : (
        <ol class="timeline" data-testid="timeline">
          {round.events.map((e) => (
            <li key={e.event_id} data-event-id={e.event_id} data-severity={e.severity}>
              <span class="timeline-mark" style={{ background: markColor(e) }} />
              <time>{new Date(e.occur_time).toISOString().replace('T', ' ').slice(0, 19)}</time> <strong>{e.display_name}</strong>{' '}
              <span class="hint">{e.description}</span>
            </li>
          ))}
        </ol>
      )}
    </>
  );
}

function Chart(p: { spec: ChartSpec; round: Round; answer: Round['answers'][number] }): JSX.Element {
  const { t, lang } = useApp();
  const { spec, round } = p;
  const aligned = useMemo(() => alignSeries(p.answer.items ?? []), [p.answer]);
  const frame = useRef<HTMLElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const span = useRef<[number, number]>(round.span);
  const events = useRef<ClusterEvent[]>(round.events);
  const members = aligned.members.join(',');

  // One uPlot per set of members (a member that appears or goes makes a new one).
  useEffect(() => {
    const el = box.current;
    if (!el || aligned.members.length === 0) return;
    const fmt = (v: number | null | undefined): string => formatValue(spec.unit, v);
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: CHART_HEIGHT,
      ms: 1,
      padding: [8, 28, 0, 0],
      scales: {
        x: { time: true, range: () => span.current },
        y: { range: (_u, _min, max) => [0, niceMax(max)] },
      },
      // counts and bytes step by whole numbers (no "1.5 connections")
      axes: [
        {},
        {
          size: 72,
          values: (_u, ticks) => ticks.map(fmt),
          ...(spec.unit === 'count' || spec.unit === 'bytes' || spec.unit === 'byteRate' ? { incrs: WHOLE_STEPS } : {}),
        },
      ],
      series: [
        { label: t('chartTime') },
        ...aligned.members.map((m, i) => ({
          label: m,
          stroke: memberColor(m, i),
          width: 2,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => fmt(v),
        })),
      ],
      legend: { live: true },
      plugins: [eventMarks(() => events.current)],
    };
    const chart = mountChart(el, opts, [aligned.xs, ...aligned.ys], spec.indicator);
    plot.current = chart.plot;
    return () => {
      chart.unmount();
      plot.current = null;
    };
  }, [members, lang]);

  // Each round: the new points and the range they were asked for, together (what a test reads at once).
  useEffect(() => {
    span.current = round.span;
    events.current = round.events;
    const el = frame.current;
    if (el) {
      el.dataset['from'] = String(round.from);
      el.dataset['to'] = String(round.to);
      el.dataset['roundRange'] = round.range;
    }
    plot.current?.setData([aligned.xs, ...aligned.ys]);
  }, [aligned, round]);

  const state = p.answer.error ? 'error' : aligned.members.length ? 'chart' : 'empty';
  return (
    <section
      ref={frame}
      class="chart"
      data-testid={`chart-${spec.name}`}
      data-indicator={spec.indicator}
      data-state={state}
      data-members={members}
    >
      <h3>
        {t(spec.label)}
        {spec.hint ? <span class="hint"> · {t(spec.hint)}</span> : null}
      </h3>
      {p.answer.error ? (
        <div class="alert alert-error chart-empty" role="alert">
          {p.answer.error.message}
        </div>
      ) : aligned.members.length === 0 ? (
        <div class="chart-empty empty" data-testid="no-data">
          {t(spec.empty ?? 'noDataYet')}
        </div>
      ) : (
        <div class="chart-plot" ref={box} />
      )}
      {aligned.empty.length && aligned.members.length ? (
        <p class="hint" data-testid="no-data-members">
          {t('noDataFor', { members: aligned.empty.join(', ') })}
        </p>
      ) : null}
    </section>
  );
}
