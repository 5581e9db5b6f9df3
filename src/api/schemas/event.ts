/** Event wire schemas (ListEvents, ListEventSpecs, event subscriptions; D26, issue 17): the SDK's EventResponse fields, and the mapping from the recorded events. */
import { Type, type Static } from '@sinclair/typebox';
import { EVENT_SOURCE_TYPE, type EventSpec } from '../../domain/event-specs.js';
import type { EventSubView } from '../../services/event-subscriptions.js';
import { wireEvent, type EventRecord } from '../../services/events.js';
import { Nullable } from './primitives.js';

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
  name: Type.Optional(
    Type.String({ maxLength: 512, description: 'dwsbox extension: events of these kinds (ListEventSpecs), comma-separated' }),
  ),
  severity: Type.Optional(
    Type.String({ maxLength: 64, description: 'dwsbox extension: events of these severities (normal, warning, major), comma-separated' }),
  ),
});
export type ListEventsQuery = Static<typeof ListEventsQuery>;

export const EventResponse = Type.Object({
  event_id: Type.String(),
  name: Type.String({
    description:
      'what happened: failover, switchover, dcs_lost, dcs_back, member_down, member_up, repair, task_started, task_succeeded, task_failed, read_only_on, read_only_off, read_only_armed, read_only_lifted',
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

export function eventOut(e: EventRecord, clusterName: string): Static<typeof EventResponse> {
  return wireEvent(e, clusterName);
}

// ------------------------------------------------------------------ ListEventSpecs (D26, issue 17)

const PageInt = (what: string, max: number, min = 0) => Type.Optional(Type.Integer({ minimum: min, maximum: max, description: what }));

export const ListEventSpecsQuery = Type.Object({
  spec_name: Type.Optional(Type.String({ maxLength: 128, description: "a kind (the event's name), or a part of its display name" })),
  category: Type.Optional(Type.String({ maxLength: 32, description: 'management or monitor' })),
  severity: Type.Optional(Type.String({ maxLength: 32, description: 'normal, warning or major' })),
  source_type: Type.Optional(Type.String({ maxLength: 32, description: 'cluster (every event dwsbox records is of a cluster)' })),
  tag: Type.Optional(Type.String({ maxLength: 128, description: 'events carry no tags: a tag covers none' })),
  offset: PageInt('specs skipped (default 0)', 1_000_000),
  limit: PageInt('specs in the page (default 100)', 1000, 1),
});
export type ListEventSpecsQuery = Static<typeof ListEventSpecsQuery>;

export const EventSpecResponse = Type.Object({
  id: Type.String({ description: 'the kind' }),
  name: Type.String({ description: "the kind: the `name` of this kind's events in ListEvents" }),
  display_name: Type.String(),
  description: Type.String(),
  subject: Type.String({ description: "what an event's subject names (empty: nothing in particular)" }),
  category: Type.String(),
  severity: Type.String({ description: 'the severities its events are recorded with, comma-separated' }),
  source_type: Type.String(),
  name_space: Type.String(),
});
export const ListEventSpecsResponse = Type.Object({
  event_specs: Type.Array(EventSpecResponse),
  count: Type.Integer({ description: 'all the specs the filters cover' }),
});

export function eventSpecOut(s: EventSpec): Static<typeof EventSpecResponse> {
  return {
    id: s.kind,
    name: s.kind,
    display_name: s.displayName,
    description: s.description,
    subject: s.subject,
    category: s.category,
    severity: s.severities.join(','),
    source_type: EVENT_SOURCE_TYPE,
    name_space: 'DWS',
  };
}

// ------------------------------------------------------------------ event subscriptions (D26, issue 17)

const subFields = {
  source_type: Type.Optional(
    Type.String({
      maxLength: 256,
      description: 'comma-separated: cluster, backup, disaster-recovery, data.migration, dws.ingestion (dwsbox records cluster events)',
    }),
  ),
  source_id: Type.Optional(
    Type.String({ maxLength: 2048, description: "comma-separated ids of the project's clusters (at most 20); empty: all" }),
  ),
  category: Type.Optional(
    Type.String({ maxLength: 256, description: 'comma-separated: management, monitor, security, system alarm; empty: all' }),
  ),
  severity: Type.Optional(Type.String({ maxLength: 64, description: 'comma-separated: normal, warning, major; empty: all' })),
  tag: Type.Optional(Type.String({ maxLength: 128, description: 'kept and shown; events carry no tags' })),
  enable: Type.Optional(Type.Integer({ minimum: 0, maximum: 1, description: '1: deliver (default), 0: deliver nothing' })),
};

export const CreateEventSubBody = Type.Object({
  name: Type.String({ maxLength: 64, description: '1 to 64 letters, digits, - and _, starting with a letter; unique in the project' }),
  ...subFields,
  notification_target: Type.String({
    maxLength: 2048,
    description: 'dwsbox: the http(s) URL each event is POSTed to, signed (where DWS names an SMN topic; docs/api.md#event-subscriptions)',
  }),
  notification_target_name: Type.String({ maxLength: 128, description: "a name for the endpoint (DWS: the topic's name); kept and shown" }),
  notification_target_type: Type.String({
    maxLength: 16,
    description: 'dwsbox: HTTP or HTTPS, the scheme of notification_target (DWS: SMN)',
  }),
  time_zone: Type.Optional(Type.String({ maxLength: 16, description: 'like GMT+08:00; kept and shown (times are sent as epoch ms)' })),
});
export type CreateEventSubBody = Static<typeof CreateEventSubBody>;

export const UpdateEventSubBody = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 64 })),
  ...subFields,
  notification_target: Type.Optional(Type.String({ maxLength: 2048 })),
  notification_target_name: Type.Optional(Type.String({ maxLength: 128 })),
  notification_target_type: Type.Optional(Type.String({ maxLength: 16 })),
  time_zone: Type.Optional(Type.String({ maxLength: 16 })),
});
export type UpdateEventSubBody = Static<typeof UpdateEventSubBody>;

export const EventSubParams = Type.Object({ project_id: Type.String({ maxLength: 64 }), event_sub_id: Type.String({ maxLength: 64 }) });
export const ListEventSubsQuery = Type.Object({
  offset: PageInt('subscriptions skipped (default 0)', 1_000_000),
  limit: PageInt('subscriptions in the page (default 100)', 1000, 1),
});

export const Delivery = Type.Object(
  {
    pending: Type.Integer({ description: 'events it covers that wait for delivery (0 while disabled)' }),
    last_delivered_event_id: Nullable(Type.String()),
    last_delivered_at: Nullable(Type.Integer({ description: 'epoch ms' })),
    failed_attempts: Type.Integer({ description: 'failed attempts at the event waiting now' }),
    last_error: Nullable(Type.String({ description: 'the last failed attempt: what went wrong' })),
    last_error_at: Nullable(Type.Integer({ description: 'epoch ms' })),
    next_attempt_at: Nullable(Type.Integer({ description: 'epoch ms; null when nothing waits' })),
  },
  { description: 'dwsbox: the delivery state' },
);

export const EventSubResponse = Type.Object({
  id: Type.String(),
  name: Type.String(),
  source_type: Type.String(),
  source_id: Type.String(),
  category: Type.String(),
  severity: Type.String(),
  tag: Type.String(),
  enable: Type.Integer(),
  project_id: Type.String(),
  name_space: Type.String(),
  notification_target: Type.String(),
  notification_target_name: Type.String(),
  notification_target_type: Type.String(),
  language: Type.String(),
  time_zone: Type.String(),
  delivery: Delivery,
  secret: Type.Optional(
    Type.String({
      description:
        "dwsbox, CreateEventSub only: the key of the deliveries' HMAC-SHA256 signatures (docs/api.md#event-subscriptions); never shown again",
    }),
  ),
});
export const ListEventSubsResponse = Type.Object({
  event_subscriptions: Type.Array(EventSubResponse),
  count: Type.Integer({ description: "all the project's subscriptions" }),
});

export function eventSubOut(v: EventSubView, secret?: string): Static<typeof EventSubResponse> {
  const s = v.sub;
  return {
    id: s.id,
    name: s.name,
    source_type: s.sourceTypes.join(','),
    source_id: s.sourceIds.join(','),
    category: s.categories.join(','),
    severity: s.severities.join(','),
    tag: s.tag,
    enable: s.enabled ? 1 : 0,
    project_id: s.projectId,
    name_space: 'DWS',
    notification_target: s.endpoint,
    notification_target_name: s.targetName,
    notification_target_type: s.targetType,
    language: 'en-us',
    time_zone: s.timeZone,
    delivery: deliveryOut(v),
    ...(secret !== undefined ? { secret } : {}),
  };
}

/** A subscription's delivery state (event and alarm subscriptions alike). */
export function deliveryOut(v: EventSubView): Static<typeof Delivery> {
  const s = v.sub;
  return {
    pending: v.pending,
    last_delivered_event_id: s.deliveredEventId,
    last_delivered_at: s.deliveredAt,
    failed_attempts: s.failedAttempts,
    last_error: s.lastError,
    last_error_at: s.lastErrorAt,
    next_attempt_at: v.pending > 0 ? s.nextAttemptAt : null,
  };
}
