/**
 * The project's disaster-recovery pairings (issue 19, D31), a page of the top navigation:
 *
 * - Disaster recovery (…/disaster-recovery): ListDisasterRecover, each pairing with its status
 *   and both clusters with their roles now; live.
 * - Create (…/disaster-recovery/new): CreateDisasterRecovery. The standby is chosen among
 *   ListAvailableDisasterClusters' answer for the chosen production cluster; the name is checked
 *   (CheckDisasterName) when it is left; the API's errors go beside the field they name.
 * - A pairing (…/disaster-recovery/{id}): ShowDisasterDetail every LAG_POLL_MS (status, both
 *   sides with their roles now and a link to each cluster, the error the last operation left,
 *   the standby's replication) and ShowDisasterProgress; the operations its status allows, each
 *   that replaces data, moves clients or loses what the standby had not received after a
 *   confirmation; the sync period (UpdateDisasterInfo). The lag chart draws the lag_seconds and
 *   lag_bytes of the detail answers this page read: dwsbox keeps no history of a pairing's lag,
 *   so the chart covers only the time since the page opened, and says so. Its uPlot instance is
 *   `window.__dwsboxCharts['dr.lag']` (test/e2e/console-dr.test.ts reads it).
 *
 * Polling runs only while a page is open (usePoll stops on unmount).
 */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { ApiError, type Cluster } from './api';
import { mountChart } from './chart';
import {
  CREATE_DR_FIELDS,
  LAG_POLL_MS,
  PERIOD_FIELDS,
  actionRequest,
  allowedActions,
  appendLag,
  canChangePeriod,
  candidatesPath,
  checkNamePath,
  confirmationOf,
  detailPath,
  drStatusClass,
  emptyLag,
  hasLagFigures,
  isDrBusy,
  lagSpan,
  lastOperation,
  leadingSide,
  progressPath,
  type DrAction,
  type DrDetail,
  type DrListItem,
  type DrProgress,
  type DrReplication,
  type DrSide,
  type LagSeries,
} from './disaster-recovery';
import type { Key, T } from './i18n';
import { formatValue, niceMax } from './metrics';
import { formatSeconds } from './model';
import { Badge, Field, FormError, Link, Loading, PageTitle, Select, TextInput, useApp, useForm, usePoll } from './ui';

const LIST_PATH = '/v2/{project_id}/disaster-recoveries';
const LIST_MS = 5000;
/** ShowDisasterProgress changes with the operations, not by the second: read less often than the detail (and after an action). */
const PROGRESS_MS = 10_000;
const CHART_HEIGHT = 220;
const CHART_KEY = 'dr.lag';
/** whole steps (1, 2, 5 × 10ⁿ) for the bytes axis (no "0.4 B") */
const WHOLE_STEPS = [1, 2, 5].flatMap((m) => Array.from({ length: 13 }, (_, n) => m * 10 ** n)).sort((a, b) => a - b);

const ACTION_LABEL: Record<DrAction, Key> = {
  start: 'actDrStart',
  pause: 'actDrPause',
  switchover: 'actDrSwitchover',
  failover: 'actDrFailover',
  recovery: 'actDrRecovery',
  delete: 'actDrDelete',
};

/** An action's label: a start from stopped is a resume. */
const actionLabel = (t: T, a: DrAction, status: string): string =>
  t(a === 'start' && status === 'stopped' ? 'actDrResume' : ACTION_LABEL[a]);

/** A side's role now as the page says it: production (it leads) or standby (it follows). */
function roleLabel(t: T, role: string): string {
  return role === 'primary' ? t('drRolePrimary') : role === 'standby' ? t('drRoleStandby') : role;
}

const errorText = (e: unknown): string => (e instanceof ApiError && e.code ? `${e.msg} (${e.code})` : (e as Error).message || String(e));

function DrBadge(p: { status: string }): JSX.Element {
  return (
    <span class={`badge badge-${drStatusClass(p.status)}`} data-status={p.status}>
      {p.status}
    </span>
  );
}

function ClusterLink(p: { id: string; name: string | null }): JSX.Element {
  return (
    <Link to={`clusters/${p.id}`} class="cluster-link" data-testid="dr-cluster-link">
      {p.name ?? <span class="mono">{p.id}</span>}
    </Link>
  );
}

// ------------------------------------------------------------------ list

export function DisasterRecoveriesPage(): JSX.Element {
  const { api, t, lang } = useApp();
  const poll = usePoll(() => api.call<{ disaster_recovery: DrListItem[] }>('GET', LIST_PATH), [lang], LIST_MS);
  const side = (id: string, name: string | null, role: string): JSX.Element => (
    <>
      <ClusterLink id={id} name={name} />
      <div class="hint" data-role={role}>
        {t('drRoleNow', { role: roleLabel(t, role) })}
      </div>
    </>
  );
  return (
    <div data-testid="dr-page">
      <div class="title-row">
        <PageTitle live>{t('drTitle')}</PageTitle>
        <Link to="disaster-recovery/new" class="btn btn-primary" data-testid="dr-create">
          {t('drCreate')}
        </Link>
      </div>
      <p class="hint">{t('drHint')}</p>
      {!poll.data ? (
        <Loading error={poll.error} onRetry={poll.refresh} />
      ) : poll.data.disaster_recovery.length === 0 ? (
        <p class="empty" data-testid="no-pairings">
          {t('noPairings')}
        </p>
      ) : (
        <>
          {poll.error ? <div class="alert alert-warn">{poll.error.message}</div> : null}
          <table class="table" data-testid="dr-table">
            <thead>
              <tr>
                <th>{t('name')}</th>
                <th>{t('status')}</th>
                <th>{t('drProduction')}</th>
                <th>{t('drStandby')}</th>
                <th>{t('drStarted')}</th>
                <th>{t('created')}</th>
              </tr>
            </thead>
            <tbody>
              {poll.data.disaster_recovery.map((d) => (
                <tr key={d.id} data-dr-id={d.id} data-dr-name={d.name} data-status={d.status}>
                  <td>
                    <Link to={`disaster-recovery/${d.id}`} class="dr-link" data-testid="dr-link">
                      {d.name}
                    </Link>
                    <div class="hint mono">{d.dr_type}</div>
                  </td>
                  <td>
                    <DrBadge status={d.status} />
                  </td>
                  <td data-side="primary_cluster">{side(d.primary_cluster_id, d.primary_cluster_name, d.primary_cluster_role)}</td>
                  <td data-side="standby_cluster">{side(d.standby_cluster_id, d.standby_cluster_name, d.standby_cluster_role)}</td>
                  <td class="mono">{d.start_time ?? '—'}</td>
                  <td class="mono">{d.create_time}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}

// ------------------------------------------------------------------ create

export function CreateDisasterRecoveryForm(): JSX.Element {
  const { api, t, lang, navigate } = useApp();
  const clusters = usePoll(() => api.call<{ clusters: Cluster[] }>('GET', '/v1.0/{project_id}/clusters'), [lang], 0);
  const [v, setV] = useState({ name: '', primary: '', standby: '', period: '1H', discard: false });
  const [nameFree, setNameFree] = useState<string | null>(null);
  const candidates = usePoll(
    () =>
      v.primary
        ? api.call<{ disaster_recovery_clusters: { id: string; name: string }[] }>('GET', candidatesPath(v.primary))
        : Promise.resolve({ disaster_recovery_clusters: [] }),
    [v.primary, lang],
    0,
  );
  const form = useForm(CREATE_DR_FIELDS);
  const set =
    <K extends keyof typeof v>(k: K) =>
    (x: (typeof v)[K]): void =>
      setV((o) => ({ ...o, [k]: x }));
  // The standby is one of the production cluster's candidates: a choice that is not (any more) goes.
  const list = candidates.data?.disaster_recovery_clusters ?? null;
  useEffect(() => {
    if (list && v.standby && !list.some((c) => c.id === v.standby)) setV((o) => ({ ...o, standby: '' }));
  }, [list]);

  /** CheckDisasterName when the name is left: a taken or invalid name is said beside it before the create. */
  const checkName = async (): Promise<void> => {
    const name = v.name;
    setNameFree(null);
    if (!name) return;
    try {
      await api.call('GET', checkNamePath(name));
      form.setField('name', null);
      setNameFree(name);
    } catch (e) {
      form.setField('name', errorText(e));
    }
  };
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setNameFree(null);
    const r = await form.run(() =>
      api.call<{ disaster_recovery: { id: string } }>('POST', LIST_PATH, {
        disaster_recovery: {
          name: v.name,
          dr_type: 'az',
          primary_cluster_id: v.primary,
          standby_cluster_id: v.standby,
          dr_sync_period: v.period,
          ...(v.discard ? { discard_standby_data: true } : {}),
        },
      }),
    );
    if (r) navigate(`disaster-recovery/${r.disaster_recovery.id}`);
  };
  const f = form.fields;
  return (
    <div>
      <p>
        <Link to="disaster-recovery">← {t('backToDr')}</Link>
      </p>
      <PageTitle>{t('drCreateTitle')}</PageTitle>
      <p class="hint">{t('drCreateHint')}</p>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="dr-create-form">
        <FormError msg={form.top} />
        <Field name="name" label={t('name')} error={f['name']} hint={t('drNameHint')}>
          <input
            type="text"
            id="f-name"
            name="name"
            value={v.name}
            autoComplete="off"
            onInput={(e) => {
              set('name')((e.currentTarget as HTMLInputElement).value);
              setNameFree(null);
            }}
            onBlur={() => void checkName()}
          />
          {nameFree !== null && nameFree === v.name && !f['name'] ? (
            <div class="hint ok" data-testid="dr-name-free">
              {t('drNameFree')}
            </div>
          ) : null}
        </Field>
        <Field name="primary_cluster_id" label={t('drProduction')} error={f['primary_cluster_id']}>
          {clusters.data ? (
            <Select
              name="primary_cluster_id"
              value={v.primary}
              onChange={set('primary')}
              options={[
                { value: '', label: t('drPickProduction') },
                ...clusters.data.clusters.map((c) => ({ value: c.id, label: `${c.name} (${c.number_of_node} × ${c.node_type})` })),
              ]}
            />
          ) : (
            <Loading error={clusters.error} onRetry={clusters.refresh} />
          )}
        </Field>
        <Field name="standby_cluster_id" label={t('drStandby')} error={f['standby_cluster_id']}>
          {!v.primary ? (
            <Select name="standby_cluster_id" value="" onChange={() => {}} options={[{ value: '', label: t('drPickStandby') }]} />
          ) : list ? (
            <>
              <Select
                name="standby_cluster_id"
                value={v.standby}
                onChange={set('standby')}
                options={[{ value: '', label: t('drPickStandby') }, ...list.map((c) => ({ value: c.id, label: c.name }))]}
              />
              {list.length === 0 ? (
                <div class="hint" data-testid="dr-no-candidates">
                  {t('drNoCandidates')}
                </div>
              ) : null}
            </>
          ) : (
            <Loading error={candidates.error} onRetry={candidates.refresh} />
          )}
        </Field>
        <Field name="dr_sync_period" label={t('drSyncPeriod')} error={f['dr_sync_period']} hint={t('drSyncPeriodHint')}>
          <TextInput name="dr_sync_period" value={v.period} onInput={set('period')} />
        </Field>
        <Field name="discard_standby_data" label={t('drDiscard')} error={f['discard_standby_data']} hint={t('drDiscardHint')}>
          <input
            type="checkbox"
            id="f-discard_standby_data"
            name="discard_standby_data"
            checked={v.discard}
            onChange={(e) => set('discard')((e.currentTarget as HTMLInputElement).checked)}
          />
        </Field>
        <p class="hint">
          {t('drType')}: {t('drTypeAz')}
        </p>
        <div class="buttons">
          <button type="submit" class="btn btn-primary" disabled={form.busy} data-testid="submit">
            {t('drCreate')}
          </button>
          <Link to="disaster-recovery" class="btn">
            {t('cancel')}
          </Link>
        </div>
      </form>
    </div>
  );
}

// ------------------------------------------------------------------ a pairing

interface DetailRound {
  /** when the answer arrived (epoch ms): the time of its lag sample */
  at: number;
  detail: DrDetail;
}

export function DisasterRecoveryPage(p: { id: string }): JSX.Element {
  const { api, t, lang } = useApp();
  const poll = usePoll(
    async (): Promise<DetailRound> => {
      const r = await api.call<{ disaster_recovery: DrDetail }>('GET', detailPath(p.id));
      return { at: Date.now(), detail: r.disaster_recovery };
    },
    [p.id, lang],
    LAG_POLL_MS,
  );
  const progress = usePoll(
    () => api.call<{ disaster_recovery_progress: DrProgress }>('GET', progressPath(p.id)),
    [p.id, lang],
    PROGRESS_MS,
  );
  // The lag read since the page opened: every detail answer is a sample (a gap where it had no figure).
  const [lag, setLag] = useState<LagSeries>(emptyLag);
  const opened = useRef(Date.now());
  useEffect(() => {
    const round = poll.data;
    if (round) setLag((s) => appendLag(s, round.at, round.detail.replication));
  }, [poll.data]);

  const gone = poll.error instanceof ApiError && poll.error.status === 404;
  if (gone) {
    return (
      <div>
        <div class="alert alert-warn" data-testid="dr-gone">
          {t('drGone')}
        </div>
        <Link to="disaster-recovery">{t('backToDr')}</Link>
      </div>
    );
  }
  if (!poll.data) return <Loading error={poll.error} onRetry={poll.refresh} />;
  const d = poll.data.detail;
  const refresh = (): void => {
    poll.refresh();
    progress.refresh();
  };
  return (
    <div data-testid="dr-pairing-page" data-dr-id={d.id} data-status={d.status}>
      <p>
        <Link to="disaster-recovery">← {t('backToDr')}</Link>
      </p>
      <div class="title-row">
        <PageTitle live>{d.name}</PageTitle>
        <span class="status-row" data-testid="dr-status" data-status={d.status}>
          <DrBadge status={d.status} />
        </span>
      </div>
      {poll.error ? <div class="alert alert-warn">{poll.error.message}</div> : null}
      {d.error ? (
        <div class="alert alert-error" role="alert" data-testid="dr-error">
          <b>{t('drError')}:</b> {d.error}
        </div>
      ) : null}
      <Actions
        d={d}
        rpo={d.replication?.lag_seconds ?? progress.data?.disaster_recovery_progress.recovery_point_object ?? null}
        onDone={refresh}
      />
      <dl class="summary">
        <dt>{t('drPairingId')}</dt>
        <dd class="mono">{d.id}</dd>
        <dt>{t('drType')}</dt>
        <dd>{d.dr_type}</dd>
        <dt>{t('drSyncPeriod')}</dt>
        <dd>
          {canChangePeriod(d.status) ? <PeriodForm key={d.id} d={d} onSaved={refresh} /> : <span class="mono">{d.dr_sync_period}</span>}
        </dd>
        <dt>{t('created')}</dt>
        <dd class="mono">{d.create_time}</dd>
        <dt>{t('drStarted')}</dt>
        <dd class="mono">{d.start_time ?? '—'}</dd>
      </dl>
      <h2>{t('drSides')}</h2>
      <p class="hint">{t('drSidesHint')}</p>
      <Sides d={d} />
      <h2>{t('drReplication')}</h2>
      <Replication rep={d.replication} />
      <LagChart lag={lag} opened={opened.current} />
      <h2>{t('drProgressTitle')}</h2>
      {progress.data ? (
        <Progress p={progress.data.disaster_recovery_progress} />
      ) : (
        <Loading error={progress.error} onRetry={progress.refresh} />
      )}
    </div>
  );
}

function Actions(p: { d: DrDetail; rpo: number | null; onDone(): void }): JSX.Element {
  const { api, t } = useApp();
  const { d } = p;
  const [busy, setBusy] = useState<DrAction | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [ok, setOk] = useState<string | null>(null);
  const allowed = allowedActions(d.status);
  const { leading, following } = leadingSide(d);
  const run = async (a: DrAction): Promise<void> => {
    const ask = confirmationOf(a, d.status);
    const vars = {
      name: d.name,
      production: leading.name ?? leading.id,
      standby: following.name ?? following.id,
      rpo: formatSeconds(p.rpo) ?? t('unknown'),
    };
    if (ask && !window.confirm(t(ask, vars))) return;
    setErr(null);
    setOk(null);
    setBusy(a);
    try {
      const r = actionRequest(d.id, a);
      await api.call(r.method, r.path);
      setOk(t('drAccepted', { action: actionLabel(t, a, d.status), cluster: following.name ?? following.id }));
      p.onDone();
    } catch (e) {
      setErr(errorText(e));
    } finally {
      setBusy(null);
    }
  };
  return (
    <section data-testid="dr-actions" data-allowed={allowed.join(',')}>
      <nav class="toolbar" aria-label={t('actions')}>
        {allowed.map((a) => (
          <button
            key={a}
            type="button"
            class={`btn${a === 'failover' || a === 'delete' ? ' btn-danger' : ''}`}
            data-testid={`dr-act-${a}`}
            disabled={busy !== null}
            onClick={() => void run(a)}
          >
            {actionLabel(t, a, d.status)}
          </button>
        ))}
      </nav>
      {allowed.length === 0 || isDrBusy(d.status) ? <p class="hint">{t('drNoActions', { status: d.status })}</p> : null}
      {allowed.includes('failover') ? (
        <p class="hint warn" data-testid="dr-failover-hint">
          {t('drFailoverHint')}
        </p>
      ) : null}
      {err ? (
        <div class="alert alert-error" role="alert" data-testid="dr-action-error">
          {err}
        </div>
      ) : null}
      {ok ? (
        <div class="alert alert-ok" data-testid="dr-action-ok">
          {ok} <ClusterLink id={following.id} name={following.name} />
        </div>
      ) : null}
    </section>
  );
}

/** UpdateDisasterInfo: the sync period, its error beside it. */
function PeriodForm(p: { d: DrDetail; onSaved(): void }): JSX.Element {
  const { api, t } = useApp();
  const [period, setPeriod] = useState(p.d.dr_sync_period);
  const [saved, setSaved] = useState(false);
  const form = useForm(PERIOD_FIELDS);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setSaved(false);
    const r = await form.run(() => api.call('PUT', detailPath(p.d.id), { disaster_recovery: { dr_sync_period: period } }));
    if (r !== undefined) {
      setSaved(true);
      p.onSaved();
    }
  };
  return (
    <form class="period-form" onSubmit={(e) => void submit(e)} noValidate data-testid="dr-period-form" data-period={p.d.dr_sync_period}>
      <FormError msg={form.top} />
      <Field name="dr_sync_period" label={t('drSyncPeriod')} error={form.fields['dr_sync_period']} hint={t('drSyncPeriodHint')}>
        <TextInput
          name="dr_sync_period"
          value={period}
          onInput={(x) => {
            setPeriod(x);
            setSaved(false);
          }}
        />
      </Field>
      <button type="submit" class="btn btn-small" disabled={form.busy || period === p.d.dr_sync_period} data-testid="dr-period-submit">
        {t('save')}
      </button>
      {saved ? (
        <span class="hint" data-testid="dr-period-saved">
          {' '}
          {t('drPeriodSaved')}
        </span>
      ) : null}
    </form>
  );
}

function Sides(p: { d: DrDetail }): JSX.Element {
  const { t } = useApp();
  const row = (key: 'primary_cluster' | 'standby_cluster', s: DrSide): JSX.Element => (
    <tr key={key} data-side={key} data-cluster-id={s.id} data-role={s.role}>
      <td>{t(key === 'primary_cluster' ? 'drProduction' : 'drStandby')}</td>
      <td>
        <ClusterLink id={s.id} name={s.name} />
      </td>
      <td>
        <span class={`role${s.role === 'primary' ? ' role-primary' : ''}`}>{roleLabel(t, s.role)}</span>
      </td>
      <td>{s.status ? <Badge value={s.status} /> : '—'}</td>
      <td class="mono">{s.progress ?? '—'}</td>
      <td class="mono">{s.last_success_time ?? '—'}</td>
    </tr>
  );
  return (
    <table class="table" data-testid="dr-sides">
      <thead>
        <tr>
          <th>{t('drCreatedAs')}</th>
          <th>{t('drCluster')}</th>
          <th>{t('role')}</th>
          <th>{t('drClusterStatus')}</th>
          <th>{t('drOperationProgress')}</th>
          <th>{t('drLastSuccess')}</th>
        </tr>
      </thead>
      <tbody>
        {row('primary_cluster', p.d.primary_cluster)}
        {row('standby_cluster', p.d.standby_cluster)}
      </tbody>
    </table>
  );
}

function Replication(p: { rep: DrReplication | null }): JSX.Element {
  const { t } = useApp();
  const r = p.rep;
  if (!r)
    return (
      <p class="empty" data-testid="dr-replication" data-state="none">
        {t('drReplicationNone')}
      </p>
    );
  const v = (x: string | null): string => x ?? '—';
  return (
    <dl class="summary" data-testid="dr-replication" data-state={r.state}>
      <dt>{t('drRepState')}</dt>
      <dd>
        <span class={`badge badge-${r.state === 'streaming' ? 'ok' : r.state === 'paused' ? 'wait' : 'warn'}`}>{r.state}</span>
      </dd>
      <dt>{t('drReceiver')}</dt>
      <dd>{v(r.receiver)}</dd>
      <dt>{t('drPaused')}</dt>
      <dd>{r.paused ? t('yes') : t('no')}</dd>
      <dt>{t('drStandbyLeader')}</dt>
      <dd>{t('drNode', { n: r.standby_leader })}</dd>
      <dt>{t('drReceivedLsn')}</dt>
      <dd class="mono">{v(r.received_lsn)}</dd>
      <dt>{t('drReplayedLsn')}</dt>
      <dd class="mono">{v(r.replayed_lsn)}</dd>
      <dt>{t('drProductionLsn')}</dt>
      <dd class="mono">{v(r.production_lsn)}</dd>
      <dt>{t('drLagBytes')}</dt>
      <dd data-testid="dr-lag-bytes">{r.lag_bytes === null ? '—' : formatValue('bytes', r.lag_bytes)}</dd>
      <dt>{t('drLagSeconds')}</dt>
      <dd data-testid="dr-lag-seconds">{r.lag_seconds === null ? '—' : `${r.lag_seconds} s`}</dd>
      <dt>{t('drLastReplayedCommit')}</dt>
      <dd class="mono">{v(r.last_replayed_commit)}</dd>
    </dl>
  );
}

/** The lag read since the page opened: seconds on the left axis, bytes on the right, a gap where a reading had none. */
function LagChart(p: { lag: LagSeries; opened: number }): JSX.Element {
  const { t, lang } = useApp();
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const lag = useRef(p.lag);
  lag.current = p.lag;
  const drawn = hasLagFigures(p.lag);

  useEffect(() => {
    const el = box.current;
    if (!el || !drawn) return;
    const secs = (v: number | null | undefined): string =>
      v === null || v === undefined || !Number.isFinite(v) ? '—' : `${Number(v.toFixed(3))} s`;
    const bytes = (v: number | null | undefined): string => formatValue('bytes', v);
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: CHART_HEIGHT,
      ms: 1,
      padding: [8, 8, 0, 0],
      scales: {
        x: { time: true, range: () => lagSpan(lag.current, Date.now()) },
        s: { range: (_u, _min, max) => [0, niceMax(max)] },
        b: { range: (_u, _min, max) => [0, niceMax(max)] },
      },
      axes: [
        {},
        { scale: 's', size: 64, values: (_u, ticks) => ticks.map(secs) },
        { scale: 'b', side: 1, size: 72, grid: { show: false }, incrs: WHOLE_STEPS, values: (_u, ticks) => ticks.map(bytes) },
      ],
      series: [
        { label: t('chartTime') },
        { label: t('drLagSecondsSeries'), scale: 's', stroke: '#1f5fd1', width: 2, spanGaps: false, value: (_u, v) => secs(v) },
        {
          label: t('drLagBytesSeries'),
          scale: 'b',
          stroke: '#b7791f',
          width: 2,
          dash: [6, 4],
          spanGaps: false,
          value: (_u, v) => bytes(v),
        },
      ],
      legend: { live: true },
    };
    const s = lag.current;
    const chart = mountChart(el, opts, [s.xs, s.seconds, s.bytes], CHART_KEY);
    plot.current = chart.plot;
    return () => {
      chart.unmount();
      plot.current = null;
    };
  }, [drawn, lang]);

  useEffect(() => {
    plot.current?.setData([p.lag.xs, p.lag.seconds, p.lag.bytes]);
  }, [p.lag]);

  const since = new Date(p.opened).toLocaleTimeString();
  return (
    <section
      class="chart"
      data-testid="dr-lag-chart"
      data-state={drawn ? 'chart' : 'empty'}
      data-samples={p.lag.xs.length}
      data-since={p.opened}
    >
      <h3>
        {t('drLagChart')}
        <span class="hint"> · {t('drLagChartHint', { s: LAG_POLL_MS / 1000 })}</span>
      </h3>
      {drawn ? (
        <div class="chart-plot" ref={box} />
      ) : (
        <div class="chart-empty empty" data-testid="dr-lag-empty">
          {t('drLagNoFigures')}
        </div>
      )}
      <p class="hint" data-testid="dr-lag-samples">
        {t('drLagSamples', { n: p.lag.xs.length, time: since })}
      </p>
    </section>
  );
}

function Progress(p: { p: DrProgress }): JSX.Element {
  const { t } = useApp();
  const x = p.p;
  const op = lastOperation(x);
  const secs = (v: number | null): string => formatSeconds(v) ?? '—';
  return (
    <dl class="summary" data-testid="dr-progress">
      <dt>{t('drBarrier')}</dt>
      <dd class="mono">{x.latest_barrier_time ?? '—'}</dd>
      <dt>{t('drRpo')}</dt>
      <dd data-testid="dr-rpo">{secs(x.recovery_point_object)}</dd>
      <dt>{t('drRto')}</dt>
      <dd>{secs(x.recovery_time_object)}</dd>
      <dt>{t('drLastOperation')}</dt>
      <dd data-testid="dr-last-operation" data-action={op?.action_type ?? ''}>
        {op ? (
          <>
            <span class="mono">{op.action_type}</span> {op.action_start_time ?? ''} → {op.action_end_time ?? t('drOpRunning')}
          </>
        ) : (
          '—'
        )}
      </dd>
    </dl>
  );
}
