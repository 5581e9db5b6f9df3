/** Event routes (D26, issue 17): ListEvents, ListEventSpecs, CreateEventSub, ListEventSubs, UpdateEventSub, DeleteEventSub. */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../app.js';
import { errorResponses, ProjectParams } from '../schemas/primitives.js';
import {
  CreateEventSubBody,
  EventSubParams,
  eventOut,
  EventSubResponse,
  eventSpecOut,
  eventSubOut,
  ListEventSpecsQuery,
  ListEventSpecsResponse,
  ListEventsQuery,
  ListEventsResponse,
  ListEventSubsQuery,
  ListEventSubsResponse,
  UpdateEventSubBody,
} from '../schemas/event.js';
import type { EventSubInput } from '../../services/event-subscriptions.js';

/** A subscription body as the service takes it. */
function subInput(b: Partial<CreateEventSubBody>): EventSubInput {
  return {
    name: b.name,
    sourceType: b.source_type,
    sourceId: b.source_id,
    category: b.category,
    severity: b.severity,
    tag: b.tag,
    enable: b.enable,
    notificationTarget: b.notification_target,
    notificationTargetName: b.notification_target_name,
    notificationTargetType: b.notification_target_type,
    timeZone: b.time_zone,
  };
}

const SUB_DOC = 'docs/api.md#event-subscriptions';

export const eventRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    app.get(
      '/v2/:project_id/events',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['events'],
          summary: 'List events (ListEvents)',
          description:
            "The project's cluster events, newest first, each recorded once when it happened (D26). offset and limit as the SDK sends them (offset counts events); source_id, start_time, end_time, name (kinds) and severity are dwsbox extensions. count is all the filters cover.",
          params: ProjectParams,
          querystring: ListEventsQuery,
          response: { 200: ListEventsResponse, ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const r = await deps.events.list(req.params.project_id, {
          clusterId: q.source_id,
          names: q.name,
          severities: q.severity,
          since: q.start_time,
          until: q.end_time,
          limit: q.limit,
          offset: q.offset,
        });
        return { events: r.events.map((x) => eventOut(x.event, x.clusterName)), count: r.count };
      },
    );

    app.get(
      '/v2/:project_id/event-specs',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['events'],
          summary: 'List event specs (ListEventSpecs)',
          description:
            'The kinds of event dwsbox records, each with its category, severities and source type; filters as the SDK sends them (spec_name matches a kind or a part of its display name).',
          params: ProjectParams,
          querystring: ListEventSpecsQuery,
          response: { 200: ListEventSpecsResponse, ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const r = deps.eventSubs.specs({
          specName: q.spec_name,
          category: q.category,
          severity: q.severity,
          sourceType: q.source_type,
          tag: q.tag,
          offset: q.offset,
          limit: q.limit,
        });
        return { event_specs: r.specs.map(eventSpecOut), count: r.count };
      },
    );

    app.post(
      '/v2/:project_id/event-subs',
      {
        config: { auth: 'mutate' },
        schema: {
          tags: ['events'],
          summary: 'Create an event subscription (CreateEventSub)',
          description: `Each event the subscription covers is POSTed, signed, to notification_target (an http(s) URL; DWS names an SMN topic there). The answer carries the signing secret once. See ${SUB_DOC}.`,
          params: ProjectParams,
          body: CreateEventSubBody,
          response: { 200: EventSubResponse, ...errorResponses },
        },
      },
      async (req) => {
        const r = await deps.eventSubs.create(req.params.project_id, subInput(req.body));
        return eventSubOut(r.view, r.secret);
      },
    );

    app.get(
      '/v2/:project_id/event-subs',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['events'],
          summary: 'List event subscriptions (ListEventSubs)',
          description: `The project's subscriptions, oldest first, each with its delivery state (dwsbox's delivery object). See ${SUB_DOC}.`,
          params: ProjectParams,
          querystring: ListEventSubsQuery,
          response: { 200: ListEventSubsResponse, ...errorResponses },
        },
      },
      async (req) => {
        const r = await deps.eventSubs.list(req.params.project_id, req.query.offset ?? 0, req.query.limit ?? 100);
        return { event_subscriptions: r.views.map((v) => eventSubOut(v)), count: r.count };
      },
    );

    app.put(
      '/v2/:project_id/event-subs/:event_sub_id',
      {
        config: { auth: 'mutate' },
        schema: {
          tags: ['events'],
          summary: 'Update an event subscription (UpdateEventSub)',
          description: `Changes the fields sent. Enabling a disabled subscription starts it at the events recorded from then on. See ${SUB_DOC}.`,
          params: EventSubParams,
          body: UpdateEventSubBody,
          response: { 200: EventSubResponse, ...errorResponses },
        },
      },
      async (req) => eventSubOut(await deps.eventSubs.update(req.params.project_id, req.params.event_sub_id, subInput(req.body))),
    );

    app.delete(
      '/v2/:project_id/event-subs/:event_sub_id',
      {
        config: { auth: 'mutate' },
        schema: {
          tags: ['events'],
          summary: 'Delete an event subscription (DeleteEventSub)',
          description:
            'Deletes it; nothing more is delivered for it (an attempt under way ends unrecorded). The answer is the subscription as it was.',
          params: EventSubParams,
          response: { 200: EventSubResponse, ...errorResponses },
        },
      },
      async (req) => eventSubOut(await deps.eventSubs.delete(req.params.project_id, req.params.event_sub_id)),
    );
  };
