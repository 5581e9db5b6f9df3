/**
 * What runs on a cluster and how its tables fare, read live (issue 17, D29): ListQueries,
 * ShowQueryDetail, ListTablesStatistic. Nothing is kept: each answer is read from the running
 * members when it is asked for.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { conditionError, orderError, queriesAnswer, queryOut, tableStatsAnswer } from '../../domain/activity.js';
import { AppError } from '../../errors/app-error.js';
import type { AppDeps } from '../app.js';
import { ClusterParams, errorResponses } from '../schemas/primitives.js';
import {
  ListQueriesBody,
  ListQueriesResponse,
  ListTablesStatisticQuery,
  ListTablesStatisticResponse,
  ShowQueryDetailResponse,
} from '../schemas/activity.js';

export const activityRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const s = deps.activity;

    app.post(
      '/v2/:project_id/clusters/:cluster_id/dms/queries',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: 'List the queries running on a cluster (ListQueries)',
          description:
            "The tenant's sessions on every running member, from pg_stat_activity, read now (dwsbox's own sessions are never listed). target `session`: every session; otherwise the statements running. conditions (all must hold): field, operator (=, !=, >, >=, <, <=, like: a case-insensitive substring) and value. order_by: a field, `-field` descending (default: the longest running first). offset: a page number minus 1; limit: the page size (default 100). The workload-management fields (queues, resource pools, memory, spill, skew) are absent: PostgreSQL has no source for them.",
          params: ClusterParams,
          body: Type.Optional(ListQueriesBody),
          response: { 200: ListQueriesResponse, ...errorResponses },
        },
      },
      async (req) => {
        const b = req.body ?? {};
        for (const why of [...(b.conditions ?? []).map(conditionError), b.order_by === undefined ? null : orderError(b.order_by)])
          if (why) throw new AppError('VALIDATION', { args: [why] });
        const sessions = await s.sessions(req.params.project_id, req.params.cluster_id);
        const r = queriesAnswer(sessions, {
          target: b.target,
          conditions: b.conditions,
          orderBy: b.order_by,
          offset: Number(b.offset ?? 0),
          limit: Number(b.limit ?? 100),
        });
        return { data: { queries: r.queries, status: r.status }, count: r.count };
      },
    );

    app.get(
      '/v1/:project_id/clusters/:cluster_id/dms/queries/:query_id',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: 'Show a query running on a cluster (ShowQueryDetail)',
          description:
            'The statement `query_id` (ListQueries) while it runs, read now from its member; once it is over (or its session has run another) it is 404 DWS.9982. ctime is accepted and ignored.',
          params: Type.Object({
            project_id: Type.String({ maxLength: 64 }),
            cluster_id: Type.String({ maxLength: 64 }),
            query_id: Type.String({ maxLength: 64 }),
          }),
          querystring: Type.Object({ ctime: Type.Optional(Type.Integer({ minimum: 0 })) }),
          response: { 200: ShowQueryDetailResponse, ...errorResponses },
        },
      },
      async (req) => ({ data: queryOut(await s.session(req.params.project_id, req.params.cluster_id, req.params.query_id)) }),
    );

    app.get(
      '/v1/:project_id/clusters/:cluster_id/dms/tables/statistic',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: "A cluster's tables with their dirty page rate (ListTablesStatistic)",
          description:
            'rate_type dirtyPage: every user table of every database on the primary, read now: its owner, its size in bytes (with indexes and TOAST) and its dirty page rate, the dead tuples in percent of its tuples (pg_stat_user_tables: what VACUUM would reclaim). filter (db_name, schema_name, table_name, table_owner) with value: an exact match. order_by table_size or rate, sort_by ASC or DESC (default: the largest first). offset: a page number minus 1; limit the page size (default 50). rate_type skew is refused (400 DWS.9901): every member holds the whole table, so there is no distribution to skew.',
          params: ClusterParams,
          querystring: ListTablesStatisticQuery,
          response: { 200: ListTablesStatisticResponse, ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        if (q.rate_type === 'skew')
          throw new AppError('NOT_SUPPORTED', {
            args: [
              'The table skew rate',
              'every member of a dwsbox cluster holds each whole table, so no data node holds more of one than another',
            ],
          });
        const collect_time = Date.now();
        const rows = await s.tables(req.params.project_id, req.params.cluster_id);
        const r = tableStatsAnswer(rows, {
          filter: q.filter,
          value: q.value,
          orderBy: q.order_by || undefined,
          sortBy: q.sort_by,
          offset: q.offset ?? 0,
          limit: q.limit ?? 50,
        });
        return { collect_time, ...r };
      },
    );
  };
