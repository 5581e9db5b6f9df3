/**
 * The read-only protection of a cluster's data disk (issue 16, CancelReadonlyCluster): a
 * cluster whose largest member's data directory passes a share of its node type's disk is made
 * read-only (`default_transaction_read_only`), before the disk fills and PostgreSQL stops.
 * Pure code: the state each measure leads to, and the sub_status it shows. The health monitor
 * measures and applies (services/health-monitor.ts), CancelReadonlyCluster lifts it
 * (services/cluster-service.ts).
 *
 * States: null, armed (watched); 'ON', read-only; 'LIFTED', a user lifted it while the data was
 * still above the threshold, so that they can delete data or scale (DWS's advice), and the
 * protection arms again once the data is back below it.
 */
import type { SubStatus } from './cluster.js';

export type ReadOnlyState = 'ON' | 'LIFTED' | null;

/** A read-only cluster whose data falls this many points below the threshold is writable again on its own. */
export const AUTO_LIFT_MARGIN = 5;

/** What a measure changes: the new state, and what happened ('on', 'off' when it lifts on its own, 'armed'); null when nothing. */
export function nextReadOnly(
  state: ReadOnlyState,
  percent: number,
  threshold: number,
): { state: ReadOnlyState; change: 'on' | 'off' | 'armed' } | null {
  // threshold 0: the protection is off; a cluster it made read-only is writable again
  if (threshold <= 0) return state === 'ON' ? { state: null, change: 'off' } : state === 'LIFTED' ? { state: null, change: 'armed' } : null;
  if (state === null && percent >= threshold) return { state: 'ON', change: 'on' };
  if (state === 'ON' && percent < threshold - AUTO_LIFT_MARGIN) return { state: null, change: 'off' };
  if (state === 'LIFTED' && percent < threshold) return { state: null, change: 'armed' };
  return null;
}

/** The share of the disk a member's data takes, in percent of its node type's disk (`diskGb`). */
export function diskPercent(bytes: number, diskGb: number): number {
  return (bytes / (diskGb * 1024 ** 3)) * 100;
}

/** A sub_status without the protection's READONLY (what the other states make it). */
export function withoutReadOnly(subStatus: SubStatus): SubStatus {
  return (subStatus === 'READONLY' ? 'NORMAL' : subStatus.replace(/ \| READONLY$/, '')) as SubStatus;
}

/** The sub_status shown with the read-only protection: DWS's READONLY, joined with ' | ' to the others. */
export function withReadOnly(subStatus: SubStatus, state: ReadOnlyState): SubStatus {
  if (state !== 'ON' || subStatus.endsWith('READONLY')) return subStatus;
  return (subStatus === 'NORMAL' ? 'READONLY' : `${subStatus} | READONLY`) as SubStatus;
}
