/**
 * Pure helpers of the console's disaster-recovery pages (issue 19; no DOM): the wire shapes the
 * pages read, which operations a pairing's status allows and which of them ask for a
 * confirmation, the requests of each, where the API's errors about a create or a sync-period
 * change belong, and the lag series a pairing's page draws. dwsbox keeps no history of a
 * pairing's lag, so the series is only what the page itself read since it opened.
 * Unit-tested by test/console/disaster-recovery.test.ts.
 */
import { DR_BUSY, type DrDetailView, type DrReplicationView, type DrSideView, type DrStatus } from '../../src/domain/disaster-recovery.js';
import type { FieldMatch } from './model.js';

export type { DrStatus };

/** One pairing of ListDisasterRecover (GET /v2/{project_id}/disaster-recoveries). */
export interface DrListItem {
  id: string;
  name: string;
  status: string;
  dr_type: string;
  primary_cluster_id: string;
  primary_cluster_name: string | null;
  standby_cluster_id: string;
  standby_cluster_name: string | null;
  /** the side's role now: primary or standby (swapped after a switchover; the ids stay as created) */
  primary_cluster_role: string;
  standby_cluster_role: string;
  primary_cluster_status: string | null;
  standby_cluster_status: string | null;
  last_disaster_time: string | null;
  start_time: string | null;
  create_time: string;
}

/** ShowDisasterDetail's shapes, as the service writes them (src/domain/disaster-recovery.ts). */
export type DrDetail = DrDetailView;
export type DrReplication = DrReplicationView;
export type DrSide = DrSideView;

export interface DrOperation {
  key: string | null;
  action_type: string | null;
  action_start_time: string | null;
  action_end_time: string | null;
}

/** ShowDisasterProgress (GET /v1/{project_id}/disaster-recovery/{id}/show-progress). */
export interface DrProgress {
  primary_cluster: DrOperation;
  standby_cluster: DrOperation;
  latest_barrier_time: string | null;
  last_recovery_spend: number | null;
  recovery_point_object: number | null;
  recovery_time_object: number | null;
  replication: DrReplication | null;
}

// ------------------------------------------------------------------ operations

/** The operations of a pairing the page offers (UpdateDisasterInfo, the sync period, is a form of its own). */
export const DR_ACTIONS = ['start', 'pause', 'switchover', 'failover', 'recovery', 'delete'] as const;
export type DrAction = (typeof DR_ACTIONS)[number];

/**
 * The statuses each operation starts from, as the service accepts them
 * (services/disaster-recovery-service.ts; it refuses the others with DWS.9935 anyway):
 * a start from unstart or a failed start, a resume from stopped; a pause of a running pairing
 * (or again after a failed pause); a switchover of a running one; a failover of a started one
 * (running or paused), or of an abnormal one whose following side still follows (the service
 * checks that); RestoreDisaster of an abnormal one; a delete unless an operation runs.
 */
const FROM: Record<Exclude<DrAction, 'delete'>, readonly string[]> = {
  start: ['unstart', 'start_failed', 'stopped'],
  pause: ['running', 'stop_failed'],
  switchover: ['running'],
  failover: ['running', 'stopped', 'abnormal'],
  recovery: ['abnormal'],
};

/** True while an operation of the pairing runs (nothing else starts then). */
export const isDrBusy = (status: string): boolean => (DR_BUSY as readonly string[]).includes(status);

/** The badge of a pairing's status: running is fine, a wait is grey, an operation runs, a failure or `abnormal` is bad. */
export function drStatusClass(status: string): 'ok' | 'wait' | 'run' | 'bad' | 'plain' {
  if (status === 'running') return 'ok';
  if (status === 'unstart' || status === 'stopped') return 'wait';
  if (isDrBusy(status)) return 'run';
  if (status === 'start_failed' || status === 'stop_failed' || status === 'abnormal') return 'bad';
  return 'plain';
}

/** The operations a pairing in `status` allows, in the toolbar's order. */
export function allowedActions(status: string): DrAction[] {
  return DR_ACTIONS.filter((a) => (a === 'delete' ? !isDrBusy(status) : FROM[a].includes(status)));
}

/** The sync period can change at any time but while the pairing is being deleted (it only sets the lag alarm's limit). */
export const canChangePeriod = (status: string): boolean => status !== 'deleting';

/**
 * Whether the operation asks first, and what it says (an i18n key of the confirmation): the ones
 * that replace data, move the clients or lose what the standby had not received. A resume (start
 * from stopped) and a pause change no data.
 */
export function confirmationOf(
  action: DrAction,
  status: string,
): 'confirmDrStart' | 'confirmDrSwitchover' | 'confirmDrFailover' | 'confirmDrRecovery' | 'confirmDrDelete' | null {
  switch (action) {
    case 'start':
      return status === 'stopped' ? null : 'confirmDrStart';
    case 'pause':
      return null;
    case 'switchover':
      return 'confirmDrSwitchover';
    case 'failover':
      return 'confirmDrFailover';
    case 'recovery':
      return 'confirmDrRecovery';
    case 'delete':
      return 'confirmDrDelete';
  }
}

const drPath = (id: string): string => `/v2/{project_id}/disaster-recovery/${encodeURIComponent(id)}`;

/** The request of an operation: POST …/{verb} (recovery is RestoreDisaster), DELETE for a delete. */
export function actionRequest(id: string, action: DrAction): { method: 'POST' | 'DELETE'; path: string } {
  return action === 'delete' ? { method: 'DELETE', path: drPath(id) } : { method: 'POST', path: `${drPath(id)}/${action}` };
}

export const detailPath = drPath;
export const progressPath = (id: string): string => `/v1/{project_id}/disaster-recovery/${encodeURIComponent(id)}/show-progress`;
export const checkNamePath = (name: string): string =>
  `/v2/{project_id}/disaster-recovery/check-name?${new URLSearchParams({ dr_name: name }).toString()}`;
export const candidatesPath = (primaryClusterId: string): string =>
  `/v2/{project_id}/disaster-recovery-clusters?${new URLSearchParams({ primary_cluster_id: primaryClusterId }).toString()}`;

/** The side that leads the pairing now and the side that follows (roles swap after a switchover or failover). */
export function leadingSide(d: Pick<DrDetail, 'primary_cluster' | 'standby_cluster'>): { leading: DrSide; following: DrSide } {
  return d.standby_cluster.role === 'primary'
    ? { leading: d.standby_cluster, following: d.primary_cluster }
    : { leading: d.primary_cluster, following: d.standby_cluster };
}

/** The last operation of the pairing ShowDisasterProgress reports (on whichever side it ran), or null. */
export function lastOperation(p: Pick<DrProgress, 'primary_cluster' | 'standby_cluster'>): DrOperation | null {
  return [p.standby_cluster, p.primary_cluster].find((o) => o.action_type !== null) ?? null;
}

// ------------------------------------------------------------------ forms

/** The create form's fields and what the API's errors about each say (services/disaster-recovery-service.ts). */
export const CREATE_DR_FIELDS: FieldMatch[] = [
  { name: 'name', paths: ['body.disaster_recovery.name'], words: ['dr_name', 'disaster recovery name'], codes: ['DWS.9934'] },
  // "production cluster" is no word of its own: the service says it of the standby too ("must have the production cluster's node type")
  { name: 'primary_cluster_id', paths: ['body.disaster_recovery.primary_cluster_id'], words: ['primary_cluster_id'] },
  {
    name: 'standby_cluster_id',
    paths: ['body.disaster_recovery.standby_cluster_id'],
    words: ['standby_cluster_id', 'standby cluster', 'paired with itself'],
  },
  { name: 'dr_sync_period', paths: ['body.disaster_recovery.dr_sync_period'], words: ['dr_sync_period'] },
  { name: 'discard_standby_data', paths: ['body.disaster_recovery.discard_standby_data'], words: ['discard_standby_data'] },
];

export const PERIOD_FIELDS: FieldMatch[] = [
  { name: 'dr_sync_period', paths: ['body.disaster_recovery.dr_sync_period'], words: ['dr_sync_period'] },
];

/** The sync periods the create form suggests (any `<n>M`, `<n>H` or `<n>D` may be typed). */
export const SYNC_PERIOD_EXAMPLES = ['30M', '1H', '2D'] as const;

// ------------------------------------------------------------------ the lag, since the page opened

/** How often a pairing's page reads the pairing (and so samples its lag). */
export const LAG_POLL_MS = 2000;
/** The samples the chart keeps: the last 30 minutes at LAG_POLL_MS. */
export const LAG_WINDOW = 900;

/** uPlot's columns of the lag chart: the sample times (epoch ms), the lag in seconds and in bytes (null: not known then, a gap). */
export interface LagSeries {
  xs: number[];
  seconds: (number | null)[];
  bytes: (number | null)[];
}

export const emptyLag = (): LagSeries => ({ xs: [], seconds: [], bytes: [] });

const finite = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * The series with the sample read at `at` (epoch ms) appended: the replication's lag_seconds and
 * lag_bytes, or a gap where the answer had none (the pairing not started, no member answering),
 * never a zero. A sample not later than the last one is left out (answers arrive in order; a
 * clock step back must not fold the line). Past `max` samples the oldest go. A new object: the
 * one given is not changed.
 */
export function appendLag(
  s: LagSeries,
  at: number,
  rep: Pick<DrReplication, 'lag_seconds' | 'lag_bytes'> | null,
  max = LAG_WINDOW,
): LagSeries {
  const last = s.xs[s.xs.length - 1];
  if (!Number.isFinite(at) || (last !== undefined && at <= last)) return s;
  const drop = Math.max(0, s.xs.length + 1 - max);
  return {
    xs: [...s.xs.slice(drop), at],
    seconds: [...s.seconds.slice(drop), finite(rep?.lag_seconds)],
    bytes: [...s.bytes.slice(drop), finite(rep?.lag_bytes)],
  };
}

/** Whether the series has any figure to draw (else the chart says so instead of drawing an empty frame). */
export const hasLagFigures = (s: LagSeries): boolean => s.seconds.some((v) => v !== null) || s.bytes.some((v) => v !== null);

/** The chart's time axis: from the first sample to the last, at least a minute wide. */
export function lagSpan(s: LagSeries, now: number): [number, number] {
  const first = s.xs[0] ?? now;
  const last = s.xs[s.xs.length - 1] ?? now;
  return [first, Math.max(last, first + 60_000)];
}
