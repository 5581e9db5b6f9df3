/**
 * Cluster events (D26): what happens to a cluster, recorded once in the store when it is
 * observed — a task started, succeeded or failed, a member down or back, a failover. Each event
 * carries a source key that names the happening itself (the task and its transition, the
 * member's health change, the Patroni timeline), so several `serve` processes, or one
 * restarted, that observe it write one row (the store's UNIQUE source_key). ListEvents, the
 * cluster view's `recent_event`, the console and /metrics read these records; nothing about
 * them is computed at read time.
 */
import { newId } from '../domain/ids.js';
import { EVENT_SEVERITIES, EVENT_SPECS, eventCategory, eventDisplayName } from '../domain/event-specs.js';
import type { ClusterRecord, NodeRecord, TaskRecord } from '../domain/records.js';
import type { TaskKind } from '../domain/task.js';
import { AppError, coerceError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { EventRecord, Store } from '../store/store.js';
import type { TaskEvents } from '../tasks/events.js';

export type { EventRecord, EventSeverity } from '../store/store.js';

/** An event as the API and subscription deliveries send it: the SDK's EventResponse fields. */
export interface WireEvent {
  event_id: string;
  name: string;
  display_name: string;
  category: string;
  description: string;
  name_space: string;
  severity: string;
  source_type: string;
  source_id: string;
  source_name: string;
  occur_time: number;
  project_id: string;
  subject: string;
}

export function wireEvent(e: EventRecord, clusterName: string): WireEvent {
  return {
    event_id: e.id,
    name: e.kind,
    display_name: eventDisplayName(e.kind),
    category: eventCategory(e.kind),
    description: e.message,
    name_space: 'DWS',
    severity: e.severity,
    source_type: 'cluster',
    source_id: e.clusterId,
    source_name: clusterName,
    occur_time: e.occurredAt,
    project_id: e.projectId,
    subject: e.subject ?? '',
  };
}

/** An event before it is recorded (the store row's id is given when it is). */
export type NewEvent = Omit<EventRecord, 'id'>;

/** What each task kind is called in an event's message. */
const TASK_LABEL: Record<TaskKind, string> = {
  'cluster.create': 'Cluster creation',
  'cluster.restore': 'Restore into a new cluster',
  'cluster.restore_in_place': 'Restore in place',
  'cluster.delete': 'Cluster deletion',
  'cluster.restart': 'Cluster restart',
  'cluster.start': 'Cluster start',
  'cluster.stop': 'Cluster stop',
  'cluster.scale_out': 'Scale-out',
  'cluster.scale_in': 'Scale-in',
  'cluster.switchover': 'Switchover',
  'cluster.repair': 'Repair of a member',
  'cluster.configure': 'Parameter change',
  'snapshot.create': 'Snapshot',
  'snapshot.table_restore': 'Table restore',
  'snapshot.expire': 'Expiry of snapshots',
  'snapshot.copy': 'Copy of a snapshot',
  'dr.start': 'Start of disaster recovery',
  'dr.pause': 'Pause of disaster recovery',
  'dr.delete': 'Deletion of disaster recovery',
  'dr.switchover': 'Switchover of disaster recovery',
  'dr.failover': 'Failover of disaster recovery',
  'dr.recover': 'Recovery of disaster recovery',
};

/**
 * The event of a task's start or end, or null (a task of no cluster). Its time is the task's
 * own (startedAt, finishedAt), so every process that sees the transition records the same.
 */
export function taskEvent(task: TaskRecord, transition: 'started' | 'finished'): NewEvent | null {
  if (!task.clusterId) return null;
  const label = TASK_LABEL[task.kind] ?? task.kind;
  const base = { projectId: task.projectId, clusterId: task.clusterId, subject: task.id };
  if (transition === 'started')
    return {
      ...base,
      kind: 'task_started',
      severity: 'normal',
      message: `${label} started`,
      sourceKey: `task:${task.id}:started`,
      occurredAt: task.startedAt ?? task.updatedAt,
    };
  const at = task.finishedAt ?? task.updatedAt;
  const why = task.errorMsg ? `: ${task.errorMsg}` : '';
  switch (task.status) {
    case 'SUCCESS':
      return {
        ...base,
        kind: 'task_succeeded',
        severity: 'normal',
        message: `${label} succeeded`,
        sourceKey: `task:${task.id}:SUCCESS`,
        occurredAt: at,
      };
    case 'FAILED':
      return {
        ...base,
        kind: 'task_failed',
        severity: 'warning',
        message: `${label} failed${why}`,
        sourceKey: `task:${task.id}:FAILED`,
        occurredAt: at,
      };
    case 'ROLLBACK_SUCCESS':
      return {
        ...base,
        kind: 'task_failed',
        severity: 'warning',
        message: `${label} failed and was rolled back${why}`,
        sourceKey: `task:${task.id}:ROLLBACK_SUCCESS`,
        occurredAt: at,
      };
    case 'ROLLBACK_FAIL':
      return {
        ...base,
        kind: 'task_failed',
        severity: 'major',
        message: `${label} failed and its rollback failed too${why}`,
        sourceKey: `task:${task.id}:ROLLBACK_FAIL`,
        occurredAt: at,
      };
    default:
      return null;
  }
}

/** A planned switchover that succeeded (a `cluster.switchover` task): the new primary's ordinal, when the task names it. */
export function switchoverEvent(task: TaskRecord): NewEvent | null {
  if (!task.clusterId || task.kind !== 'cluster.switchover' || task.status !== 'SUCCESS') return null;
  const to = task.params['candidate'];
  return {
    projectId: task.projectId,
    clusterId: task.clusterId,
    kind: 'switchover',
    severity: 'normal',
    message: typeof to === 'number' ? `Planned switchover: node ${to} is the primary now` : 'Planned switchover done',
    subject: typeof to === 'number' ? String(to) : null,
    sourceKey: `switchover:${task.id}`,
    occurredAt: task.finishedAt ?? task.updatedAt,
  };
}

/**
 * The cluster's members lost their DCS and the primary runs on Patroni's failsafe mode, or
 * reach it again. The key is Patroni's own `dcs_last_seen` at the loss (the last time the
 * leader reached etcd): every process reads the same, and the next outage has another.
 */
export function dcsEvent(c: ClusterRecord, lost: boolean, o: { leader: number | null; lastSeen: number | null }, now: number): NewEvent {
  const since = o.lastSeen ? ` since ${new Date(o.lastSeen * 1000).toISOString()}` : '';
  return {
    projectId: c.projectId,
    clusterId: c.id,
    kind: lost ? 'dcs_lost' : 'dcs_back',
    severity: lost ? 'major' : 'normal',
    message: lost
      ? `The cluster's members cannot reach a majority of etcd${since}: failsafe mode keeps ${o.leader !== null ? `node ${o.leader}` : 'the primary'} writable while every member answers it; no failover can happen until etcd is back`
      : `The cluster's members reach etcd again (lost${since}): failsafe mode is off`,
    subject: o.leader !== null ? String(o.leader) : null,
    sourceKey: `${lost ? 'dcs_lost' : 'dcs_back'}:${c.id}:${o.lastSeen ?? 'unknown'}`,
    occurredAt: now,
  };
}

/**
 * A member seen down. `node` is the record as read before the change: its `updatedAt` is the
 * same in every process that saw it up, so the key names this one going down.
 */
export function memberDownEvent(c: ClusterRecord, node: NodeRecord, now: number): NewEvent {
  return {
    projectId: c.projectId,
    clusterId: c.id,
    kind: 'member_down',
    severity: node.role === 'primary' ? 'major' : 'warning',
    message: `Node ${node.ordinal} (${node.host}, ${node.role}) is down`,
    subject: String(node.ordinal),
    sourceKey: `member_down:${node.id}:${node.updatedAt}`,
    occurredAt: now,
  };
}

/** A member seen running again after it was down (`node` as read before the change, as for memberDownEvent). */
export function memberUpEvent(c: ClusterRecord, node: NodeRecord, now: number): NewEvent {
  return {
    projectId: c.projectId,
    clusterId: c.id,
    kind: 'member_up',
    severity: 'normal',
    message: `Node ${node.ordinal} (${node.host}) is running again`,
    subject: String(node.ordinal),
    sourceKey: `member_up:${node.id}:${node.updatedAt}`,
    occurredAt: now,
  };
}

/**
 * A new primary elected by the failover manager (no task of ours asked for it). The key is the
 * Patroni timeline the new primary leads, when the engine reports it: each promotion starts a
 * new one, and every process reads the same. Otherwise the node and its record's `updatedAt`
 * before the change.
 */
export function failoverEvent(c: ClusterRecord, node: NodeRecord, timeline: number | null | undefined, now: number): NewEvent {
  const tl = typeof timeline === 'number' ? timeline : null;
  return {
    projectId: c.projectId,
    clusterId: c.id,
    kind: 'failover',
    severity: 'major',
    message: `Failover: node ${node.ordinal} (${node.host}) is the primary now${tl !== null ? ` (timeline ${tl})` : ''}`,
    subject: String(node.ordinal),
    sourceKey: tl !== null ? `failover:${c.id}:timeline:${tl}` : `failover:${c.id}:${node.ordinal}:${node.updatedAt}`,
    occurredAt: now,
  };
}

/**
 * Something the service mended on its own (the Patroni engine's `mendCluster`: a lost
 * synchronous standby reset; a member Patroni left stopped is rebuilt by a repair task, whose task events say so). Each is
 * one action of one process, so the key is the cluster, the action and its moment.
 */
export function repairEvent(c: ClusterRecord, what: string, now: number): NewEvent {
  return {
    projectId: c.projectId,
    clusterId: c.id,
    kind: 'repair',
    severity: 'warning',
    message: `Repaired: ${what}`,
    subject: null,
    sourceKey: `repair:${c.id}:${now}:${what}`,
    occurredAt: now,
  };
}

/** What the read-only protection did (domain/read-only.ts), with the measure that made it. */
export type ReadOnlyChange = 'on' | 'off' | 'armed' | 'lifted';

/**
 * The read-only protection turning on or off on its own, armed again, or lifted by a user
 * (CancelReadonlyCluster). One process makes each change (a transaction on the cluster's
 * state), so the key is the change and its moment.
 */
export function readOnlyEvent(c: ClusterRecord, change: ReadOnlyChange, percent: number | null, threshold: number, now: number): NewEvent {
  const used = percent === null ? '' : ` (${percent.toFixed(1)} % of its node type's disk used)`;
  const message = {
    on: `The cluster is read-only: a member's data passed ${threshold} % of its node type's disk${used}. Delete data (CancelReadonlyCluster lifts the protection for that) or move to a larger node type`,
    off: `The cluster is writable again: its data is back below ${threshold} %${used}`,
    armed: `The read-only protection is armed again: the data is below ${threshold} %${used}`,
    lifted: `The read-only protection was lifted by a user; it arms again once the data is below ${threshold} %`,
  }[change];
  return {
    projectId: c.projectId,
    clusterId: c.id,
    kind: `read_only_${change}`,
    severity: change === 'on' ? 'major' : change === 'lifted' ? 'warning' : 'normal',
    message,
    subject: null,
    sourceKey: `read_only:${c.id}:${change}:${now}`,
    occurredAt: now,
  };
}

/**
 * Record an event; true when this call wrote it, false when it was recorded already (or the
 * store refused: logged). Never throws: an event that cannot be written never stops the work
 * that observed it.
 */
export async function recordEvent(store: Store, log: Logger, e: NewEvent | null): Promise<boolean> {
  if (!e) return false;
  try {
    return await store.recordEvent({ id: newId(), ...e });
  } catch (err) {
    log.warn('could not record an event', {
      kind: e.kind,
      clusterId: e.clusterId,
      sourceKey: e.sourceKey,
      error: coerceError(err).message,
    });
    return false;
  }
}

export interface EventQuery {
  clusterId?: string | undefined;
  /** event names (kinds), comma-separated */
  names?: string | undefined;
  /** severities, comma-separated */
  severities?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

/** A comma-separated filter of known values (undefined when empty); an unknown value is refused. */
function commaList(field: string, text: string | undefined, known: readonly string[]): string[] | undefined {
  const list = [...new Set((text ?? '').split(',').map((v) => v.trim()))].filter((v) => v !== '');
  for (const v of list)
    if (!known.includes(v))
      throw new AppError('VALIDATION', { args: [`${field}: ${JSON.stringify(v)} is not one of ${known.join(', ')}`] });
  return list.length ? list : undefined;
}

/** ListEvents' default page: the SDK documents 1000. */
export const DEFAULT_EVENT_LIMIT = 1000;

export class EventService {
  constructor(private readonly deps: { store: Store; log: Logger }) {}

  /** Record the task engine's starts and ends as events (main.ts wires it). */
  watch(events: TaskEvents): void {
    events.on('task:started', ({ task }) => void this.record(taskEvent(task, 'started')));
    events.on('task:finished', ({ task }) => {
      void (async () => {
        // The start again (its key makes it a no-op when recorded): a task resumed by another
        // process after its first owner died is not "started" there, and its start may never
        // have been recorded.
        if (task.startedAt !== null) await this.record(taskEvent(task, 'started'));
        await this.record(taskEvent(task, 'finished'));
        await this.record(switchoverEvent(task));
      })();
    });
  }

  /** See recordEvent. */
  record(e: NewEvent | null): Promise<boolean> {
    return recordEvent(this.deps.store, this.deps.log, e);
  }

  /** A page of a project's events, newest first, with the name of each one's cluster; `count` is all the filter covers. */
  async list(projectId: string, q: EventQuery = {}): Promise<{ events: { event: EventRecord; clusterName: string }[]; count: number }> {
    if (q.since !== undefined && q.until !== undefined && q.since > q.until)
      throw new AppError('VALIDATION', { args: [`start_time (${q.since}) is after end_time (${q.until})`] });
    const filter = {
      projectId,
      clusterId: q.clusterId,
      since: q.since,
      until: q.until,
      kinds: commaList(
        'name',
        q.names,
        EVENT_SPECS.map((s) => s.kind),
      ),
      severities: commaList('severity', q.severities, EVENT_SEVERITIES),
    };
    const [page, { count }] = await Promise.all([
      this.deps.store.listEvents({ ...filter, limit: q.limit ?? DEFAULT_EVENT_LIMIT, offset: q.offset ?? 0 }),
      this.deps.store.countEvents(filter),
    ]);
    const names = new Map<string, string>();
    for (const id of new Set(page.map((e) => e.clusterId))) {
      const c = await this.deps.store.getClusterById(id);
      names.set(id, c && c.projectId === projectId ? c.name : '');
    }
    return { events: page.map((event) => ({ event, clusterName: names.get(event.clusterId) ?? '' })), count };
  }
}
