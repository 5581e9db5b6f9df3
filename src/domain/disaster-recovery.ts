/**
 * Disaster-recovery pairings (issue 19, D31): a production cluster and a standby cluster that
 * follows it once the pairing is started. The record is the pairing's own state (its status,
 * including a pause, which dwsbox applies again after any restart of the standby); the clusters'
 * roles in the pairing are fixed by the record's primary and standby sides.
 */

/** DWS's values of a pairing's `status` (the Terraform provider waits for unstart, running, stopped; the *_failed and abnormal ones end its waits). */
export const DR_STATUSES = [
  'unstart',
  'starting',
  'running',
  'stopping',
  'stopped',
  'switchovering',
  'failovering',
  'recovering',
  'deleting',
  'start_failed',
  'stop_failed',
  'abnormal',
] as const;
export type DrStatus = (typeof DR_STATUSES)[number];

/** Statuses in which an operation of the pairing runs. */
export const DR_BUSY: readonly DrStatus[] = ['starting', 'stopping', 'switchovering', 'failovering', 'recovering', 'deleting'];

export interface DisasterRecoveryRecord {
  id: string;
  projectId: string;
  name: string;
  /** DWS's dr_type: `az` (another zone) or `region`; on one host, `az` */
  drType: 'az' | 'region';
  primaryClusterId: string;
  standbyClusterId: string;
  /** DWS's dr_sync_period as given (`<n>M`, `<n>H`, `<n>D`): here, the lag past which the pairing's alarm is raised */
  syncPeriod: string;
  status: DrStatus;
  /** the permanent replication slot the production side keeps for the standby */
  slot: string;
  /** the create agreed that the standby's own data is replaced (else a standby with tables of its own is refused at start) */
  discardStandbyData: boolean;
  /** the sides' roles swapped by a switch: the standby side leads (the ids stay, as DWS shows them) */
  rolesSwapped: boolean;
  /** the last switch's end (epoch ms) and its length (the recovery time it took) */
  lastSwitchAt: number | null;
  lastSwitchMs: number | null;
  /** what the last failed operation said, or what a failover left to do */
  error: string | null;
  createdAt: number;
  /** when the standby first streamed */
  startedAt: number | null;
  updatedAt: number;
  deletedAt: number | null;
}

/** The cluster that leads the pairing now, and the one that follows it (`rolesSwapped` after a switch). */
export function drSides(d: Pick<DisasterRecoveryRecord, 'primaryClusterId' | 'standbyClusterId' | 'rolesSwapped'>): {
  leading: string;
  following: string;
} {
  return d.rolesSwapped
    ? { leading: d.standbyClusterId, following: d.primaryClusterId }
    : { leading: d.primaryClusterId, following: d.standbyClusterId };
}

/** A pairing's name: 4 to 64 characters, a letter first, then letters, digits, `-` and `_` (DWS's rule). Returns why not, or null. */
export function drNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]{3,63}$/.test(name))
    return `name must be 4 to 64 characters, a letter first, then letters, digits, "-" or "_", not ${JSON.stringify(name)}`;
  return null;
}

const PERIOD_UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** dr_sync_period in milliseconds (`30M`, `1H`, `2D`: 1 to 9999 minutes, hours or days), or null when it is not one. */
export function syncPeriodMs(period: unknown): number | null {
  const m = typeof period === 'string' ? /^([1-9]\d{0,3})([mhdMHD])$/.exec(period) : null;
  return m ? Number(m[1]) * PERIOD_UNIT_MS[m[2]!.toLowerCase()]! : null;
}

/** The slot name of a pairing on the production side (a Patroni permanent slot: lowercase letters, digits, `_`). */
export function drSlotName(id: string): string {
  return `dr_${id
    .replace(/[^0-9a-f]/gi, '')
    .slice(0, 16)
    .toLowerCase()}`;
}

/** The standby's replication as the API shows it (dwsbox's `replication` in ShowDisasterDetail and ShowDisasterProgress). */
export interface DrReplicationView {
  /** paused, streaming, or the WAL receiver's state (`not streaming` when none runs) */
  state: string;
  receiver: string | null;
  paused: boolean;
  received_lsn: string | null;
  replayed_lsn: string | null;
  production_lsn: string | null;
  lag_bytes: number | null;
  lag_seconds: number | null;
  last_replayed_commit: string | null;
  standby_leader: number;
}

/** One side of a pairing in ShowDisasterDetail. */
export interface DrSideView {
  id: string;
  name: string | null;
  cluster_az: string;
  /** primary (it leads the pairing now) or standby (it follows) */
  role: 'primary' | 'standby';
  region: string;
  status: string | null;
  progress: string | null;
  /** the standby: when the last production commit it applied was made */
  last_success_time: string | null;
  obs_bucket_name: null;
  datastore_version: string;
  datastore_type: string;
  disk_capacity: string | null;
  disk_used: string | null;
}

/** ShowDisasterDetail (GET /v2/{project_id}/disaster-recovery/{id}). */
export interface DrDetailView {
  id: string;
  name: string;
  dr_type: string;
  status: string;
  /** the side created as production */
  primary_cluster: DrSideView;
  /** the side created as the standby */
  standby_cluster: DrSideView;
  dr_sync_period: string;
  start_time: string | null;
  create_time: string;
  /** dwsbox: what the last failed operation said */
  error: string | null;
  replication: DrReplicationView | null;
}
