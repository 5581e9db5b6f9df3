/**
 * Alarm routes (issue 17): ListAlarmConfigs, ListAlarmDetail, ListAlarmStatistic, and the alarm
 * subscriptions (CreateAlarmSub, ListAlarmSubs, UpdateAlarmSub, DeleteAlarmSub): event
 * subscriptions of kind `alarm`, delivered the same way (services/event-delivery.ts). See
 * docs/api.md#alarms.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../app.js';
import { errorResponses, ProjectParams } from '../schemas/primitives.js';
import type { EventSubInput } from '../../services/event-subscriptions.js';
import {
  AlarmSubParams,
  AlarmSubResponse,
  alarmSubOut,
  CreateAlarmSubBody,
  ListAlarmSubsQuery,
  ListAlarmSubsResponse,
  UpdateAlarmSubBody,
  ListAlarmConfigsQuery,
  ListAlarmConfigsResponse,
  ListAlarmDetailQuery,
  ListAlarmDetailResponse,
  ListAlarmStatisticQuery,
  ListAlarmStatisticResponse,
} from '../schemas/alarms.js';

const DOC = 'See docs/api.md#alarms.';

/** An alarm subscription's body as the subscription service takes it (its clusters are an event subscription's sources). */
function alarmSubInput(b: Partial<CreateAlarmSubBody> & Partial<UpdateAlarmSubBody>): EventSubInput {
  return {
    name: b.name,
    sourceId: b.cluster_id,
    sourceIdField: 'cluster_id',
    enable: b.enable,
    notificationTarget: b.notification_target,
    notificationTargetName: b.notification_target_name,
    notificationTargetType: b.notification_target_type,
    timeZone: b.time_zone,
    alarmDetail: b.alarm_detail ?? b.alarm_details,
    alarmLevel: b.alarm_level,
    language: b.language,
  };
}

export const alarmRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const s = deps.alarms;

    app.get(
      '/v2/:project_id/alarm-configs',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: 'List the alarm rules (ListAlarmConfigs)',
          description: `Every alarm rule dwsbox evaluates after each metrics collection, with its level, threshold and unit (settings); a converging rule is raised only once its condition held over converge_time seconds. ${DOC}`,
          params: ProjectParams,
          querystring: ListAlarmConfigsQuery,
          response: { 200: ListAlarmConfigsResponse, ...errorResponses },
        },
      },
      async (req) => s.configs(Number(req.query.offset ?? 0), Number(req.query.limit ?? 100)),
    );

    app.get(
      '/v2/:project_id/alarms',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: "List the project's alarms (ListAlarmDetail)",
          description: `The alarms raised on the project's members in a range (recent_day days back, or from/to in epoch ms; default the last 7 days), newest first: active until the measurements clear them. ${DOC}`,
          params: ProjectParams,
          querystring: ListAlarmDetailQuery,
          response: { 200: ListAlarmDetailResponse, ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        return s.details(req.params.project_id, {
          timeZone: q.time_zone,
          from: q.from === undefined ? undefined : Number(q.from),
          to: q.to === undefined ? undefined : Number(q.to),
          recentDay: q.recent_day === undefined ? undefined : Number(q.recent_day),
          offset: Number(q.offset ?? 0),
          limit: Number(q.limit ?? 10),
        });
      },
    );

    app.get(
      '/v2/:project_id/alarm-statistic',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: 'Alarms per day and level (ListAlarmStatistic)',
          description: `The alarms raised on the project's members on each of the last 7 days (in time_zone), counted per level. ${DOC}`,
          params: ProjectParams,
          querystring: ListAlarmStatisticQuery,
          response: { 200: ListAlarmStatisticResponse, ...errorResponses },
        },
      },
      async (req) => s.statistic(req.params.project_id, req.query.time_zone),
    );

    const subs = deps.eventSubs;
    app.post(
      '/v2/:project_id/alarm-subs',
      {
        config: { auth: 'mutate' },
        schema: {
          tags: ['monitoring'],
          summary: 'Create an alarm subscription (CreateAlarmSub)',
          description: `Each alarm of the rules (alarm_detail) and levels (alarm_level) it names, on the clusters it names (cluster_id; none: all), raised or cleared, is POSTed as its alarm_raised or alarm_cleared event, signed, to notification_target (an http(s) URL), as event subscriptions deliver. The answer carries the signing secret once. ${DOC}`,
          params: ProjectParams,
          body: CreateAlarmSubBody,
          response: { 200: AlarmSubResponse, ...errorResponses },
        },
      },
      async (req) => {
        // the endpoint's name defaults to the subscription's (DWS names its SMN topic)
        const input = { ...alarmSubInput(req.body), notificationTargetName: req.body.notification_target_name ?? req.body.name };
        const r = await subs.create(req.params.project_id, input, 'alarm');
        return alarmSubOut(r.view, r.secret);
      },
    );
    app.get(
      '/v2/:project_id/alarm-subs',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: 'List alarm subscriptions (ListAlarmSubs)',
          description: `The project's alarm subscriptions, oldest first, each with its delivery state. ${DOC}`,
          params: ProjectParams,
          querystring: ListAlarmSubsQuery,
          response: { 200: ListAlarmSubsResponse, ...errorResponses },
        },
      },
      async (req) => {
        const limit = Number(req.query.limit ?? 100);
        const r = await subs.list(req.params.project_id, Number(req.query.offset ?? 0) * limit, limit, 'alarm');
        return { count: r.count, alarm_subscriptions: r.views.map((v) => alarmSubOut(v)) };
      },
    );
    app.put(
      '/v2/:project_id/alarm-subs/:alarm_sub_id',
      {
        config: { auth: 'mutate' },
        schema: {
          tags: ['monitoring'],
          summary: 'Update an alarm subscription (UpdateAlarmSub)',
          description: `Changes the fields sent. ${DOC}`,
          params: AlarmSubParams,
          body: UpdateAlarmSubBody,
          response: { 200: AlarmSubResponse, ...errorResponses },
        },
      },
      async (req) => alarmSubOut(await subs.update(req.params.project_id, req.params.alarm_sub_id, alarmSubInput(req.body), 'alarm')),
    );
    app.delete(
      '/v2/:project_id/alarm-subs/:alarm_sub_id',
      {
        config: { auth: 'mutate' },
        schema: {
          tags: ['monitoring'],
          summary: 'Delete an alarm subscription (DeleteAlarmSub)',
          description: 'Deletes it; nothing more is delivered for it. The answer is the subscription as it was.',
          params: AlarmSubParams,
          response: { 200: AlarmSubResponse, ...errorResponses },
        },
      },
      async (req) => alarmSubOut(await subs.delete(req.params.project_id, req.params.alarm_sub_id, 'alarm')),
    );
  };
