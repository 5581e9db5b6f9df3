/** Alarm routes (issue 17): ListAlarmConfigs, ListAlarmDetail, ListAlarmStatistic. See docs/api.md#alarms. */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../app.js';
import { errorResponses, ProjectParams } from '../schemas/primitives.js';
import {
  ListAlarmConfigsQuery,
  ListAlarmConfigsResponse,
  ListAlarmDetailQuery,
  ListAlarmDetailResponse,
  ListAlarmStatisticQuery,
  ListAlarmStatisticResponse,
} from '../schemas/alarms.js';

const DOC = 'See docs/api.md#alarms.';

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
  };
