/** Event wire schemas (ListEvents, D26): the SDK's EventResponse fields, and the mapping from the recorded events. */
import { Type, type Static } from '@sinclair/typebox';
import type { EventRecord } from '../../services/events.js';

/** ListEvents' query: the SDK's offset and limit (sent as text), and dwsbox's filters. */
export const ListEventsQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'events skipped, newest first (default 0)' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'events in the page (default 1000, as the SDK documents)' })),
  source_id: Type.Optional(Type.String({ maxLength: 64, description: "dwsbox extension: one cluster's events (its id)" })),
  start_time: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 9_999_999_999_999, description: 'dwsbox extension: events at or after this time (epoch ms)' }),
  ),
  end_time: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 9_999_999_999_999, description: 'dwsbox extension: events before this time (epoch ms)' }),
  ),
});
export type ListEventsQuery = Static<typeof ListEventsQuery>;

export const EventResponse = Type.Object({
  event_id: Type.String(),
  name: Type.String({
    description:
      'what happened: failover, switchover, member_down, member_up, repair, task_started, task_succeeded, task_failed, read_only_on, read_only_off, read_only_armed, read_only_lifted',
  }),
  display_name: Type.String(),
  category: Type.String({ description: 'management (tasks) or monitor (what the health monitor observed)' }),
  description: Type.String({ description: 'the message' }),
  name_space: Type.String(),
  severity: Type.String({ description: 'normal, warning or major' }),
  source_type: Type.String(),
  source_id: Type.String({ description: 'the cluster id' }),
  source_name: Type.String({ description: 'the cluster name' }),
  occur_time: Type.Integer({ description: 'epoch ms' }),
  project_id: Type.String(),
  subject: Type.String({
    description: "what it concerns within the cluster: a node's ordinal, a task's id; empty when nothing in particular",
  }),
});
export const ListEventsResponse = Type.Object({
  events: Type.Array(EventResponse),
  count: Type.Integer({ description: 'all the events the filters cover, not only this page' }),
});

const DISPLAY_NAMES: Record<string, string> = {
  failover: 'Failover',
  switchover: 'Switchover',
  member_down: 'Node down',
  member_up: 'Node back',
  task_started: 'Task started',
  task_succeeded: 'Task succeeded',
  task_failed: 'Task failed',
  repair: 'Repaired',
  read_only_on: 'Read-only protection on',
  read_only_off: 'Read-only protection off',
  read_only_armed: 'Read-only protection armed',
  read_only_lifted: 'Read-only protection lifted',
};

export function eventOut(e: EventRecord, clusterName: string): Static<typeof EventResponse> {
  return {
    event_id: e.id,
    name: e.kind,
    display_name: DISPLAY_NAMES[e.kind] ?? e.kind,
    category: e.kind.startsWith('task_') ? 'management' : 'monitor',
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
