/**
 * Monitoring routes (issue 17, D29): ListMonitorIndicators, ListMonitorIndicatorData,
 * ListHostOverview, ListHostDisk, ListHostNet, ListMetrics, ListMetricsData — all read from the
 * metrics history the collector keeps (services/metrics-collector.ts); nothing is measured at
 * request time. A member is DWS's host or instance here, named node<n>.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../app.js';
import { ClusterParams, errorResponses, ProjectParams } from '../schemas/primitives.js';
import {
  HostQuery,
  ListHostDiskResponse,
  ListHostNetResponse,
  ListHostOverviewResponse,
  ListMetricsDataParams,
  ListMetricsDataQuery,
  ListMetricsDataResponse,
  ListMetricsQuery,
  ListMetricsResponse,
  ListMonitorIndicatorDataQuery,
  ListMonitorIndicatorDataResponse,
  ListMonitorIndicatorsResponse,
  TaskThroughputQuery,
  TaskThroughputResponse,
} from '../schemas/monitoring.js';
import { parseTime } from '../../services/monitoring-service.js';

const DOC = 'See docs/api.md#monitoring-metrics-history.';

export const monitoringRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const m = deps.monitoring;

    app.get(
      '/v1.0/:project_id/dms/metric-data/indicators',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: 'List the monitoring indicators (ListMonitorIndicators)',
          description: `Every figure the metrics collector measures of each member, with its unit and the collection interval. ${DOC}`,
          params: ProjectParams,
          response: { 200: ListMonitorIndicatorsResponse, ...errorResponses },
        },
      },
      async () => m.indicators(),
    );

    app.get(
      '/v1.0/:project_id/dms/metric-data',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: "An indicator's history (ListMonitorIndicatorData)",
          description: `One indicator of a cluster (dim0) over [from, to) (default: the last hour), one item per member (dim1: one), a point per period (function avg, max or min of the samples in it; a period with no sample has no point). Up to 6 hours within the raw retention are answered from every collection, longer or older ranges from the 5-minute averages. ${DOC}`,
          params: ProjectParams,
          querystring: ListMonitorIndicatorDataQuery,
          response: { 200: ListMonitorIndicatorDataResponse, ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        return m.indicatorData(req.params.project_id, {
          indicator: q.indicator_name,
          clusterId: q.dim0,
          instance: q.dim1,
          fromMs: parseTime(q.from, 'from'),
          toMs: parseTime(q.to, 'to'),
          periodS: q.period === undefined ? undefined : Number(q.period),
          fn: q.function,
        });
      },
    );

    const hostRoute = (
      path: string,
      summary: string,
      description: string,
      response: object,
      read: 'hostOverview' | 'hostDisk' | 'hostNet',
    ) =>
      app.get(
        path,
        {
          config: { auth: 'read' },
          schema: {
            tags: ['monitoring'],
            summary,
            description: `${description} ${DOC}`,
            params: ProjectParams,
            querystring: HostQuery,
            response: { 200: response, ...errorResponses },
          },
        },
        async (req, reply) => {
          const q = req.query;
          const r = await m[read](req.params.project_id, {
            clusterId: q.cluster_id,
            instance: q.instance_name,
            offset: q.offset ?? 0,
            limit: q.limit ?? 1000,
          });
          void reply.header('X-Total-Count', String(r.count));
          return r.items;
        },
      );
    hostRoute(
      '/v1.0/:project_id/dms/host-overview',
      "The members' newest figures (ListHostOverview)",
      "Each member of the project's clusters (cluster_id: one cluster; instance_name: node<n>) with its newest collected sample: CPU (% of one core), memory (proportional set size against its node type's budget), its data on its node type's disk, disk I/O, sessions, transactions, replication lag, WAL rate. What this engine cannot measure is in `absent` with why.",
      ListHostOverviewResponse,
      'hostOverview',
    );
    hostRoute(
      '/v1.0/:project_id/dms/disk',
      "The members' data disks (ListHostDisk)",
      "Each member's data disk: its node type's disk (GB), what its databases and WAL take, what is left (the smaller of the node type's rest and the filesystem's free space), and its processes' read and write rates (KB/s).",
      ListHostDiskResponse,
      'hostDisk',
    );
    hostRoute(
      '/v1.0/:project_id/dms/net',
      "The members' network (ListHostNet)",
      "Each member's address and whether it was collected last; its traffic cannot be measured on this engine (every member shares the host's network namespace): the rates are in `absent` with why.",
      ListHostNetResponse,
      'hostNet',
    );

    app.get(
      '/v1/:project_id/clusters/:cluster_id/dms/metrics',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: "A cluster's metric groups (ListMetrics)",
          description: `The groups ListMetricsData reads (cpu, memory, disk, connections, transactions, replication, wal), each with its columns, collection interval and raw retention. ${DOC}`,
          params: ClusterParams,
          querystring: ListMetricsQuery,
          response: { 200: ListMetricsResponse, ...errorResponses },
        },
      },
      async (req) => {
        const all = await m.metrics(req.params.project_id, req.params.cluster_id);
        const limit = req.query.limit ?? 1000;
        const offset = req.query.offset ?? 0;
        return { code: 0, msg: 'success', count: all.length, data: all.slice(offset * limit, offset * limit + limit) };
      },
    );

    app.get(
      '/v1/:project_id/clusters/:cluster_id/dms/metrics/:metric_name',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: "A metric group's rows (ListMetricsData)",
          description: `One row per member per collection (ctime, instance_name and the group's columns; null: not measured then) over [from, to), at most one day apart (default: the last hour), oldest first (sort_by=desc: newest first). ${DOC}`,
          params: ListMetricsDataParams,
          querystring: ListMetricsDataQuery,
          response: { 200: ListMetricsDataResponse, ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const r = await m.metricsData(req.params.project_id, req.params.cluster_id, req.params.metric_name, {
          fromMs: parseTime(q.from, 'from'),
          toMs: parseTime(q.to, 'to'),
          offset: q.offset ?? 0,
          limit: q.limit ?? 1000,
          desc: q.sort_by === 'desc',
        });
        return { code: 0, msg: 'success', count: r.count, data: r.data };
      },
    );

    app.get(
      '/dwsbox/v1/:project_id/clusters/:cluster_id/task-throughput',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: "The throughput of the cluster's tasks (dwsbox)",
          description: `Bytes per second of each step of the cluster's tasks (backups, restores, standby copies, table restores) over [from, to) (default: the last hour): a point per interval between two progress samples of the step's tool, the bytes it counted over that time. ${DOC}`,
          params: ClusterParams,
          querystring: TaskThroughputQuery,
          response: { 200: TaskThroughputResponse, ...errorResponses },
        },
      },
      async (req) =>
        m.taskThroughput(
          req.params.project_id,
          req.params.cluster_id,
          { fromMs: parseTime(req.query.from, 'from'), toMs: parseTime(req.query.to, 'to') },
          req.lang,
        ),
    );
  };
