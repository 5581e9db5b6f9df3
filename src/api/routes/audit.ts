/**
 * ListAuditLog (issue 17): the audit trail of a cluster — every authenticated mutating API call
 * that named it, newest first. DWS's records are dumps of the database's audit logs to an OBS
 * bucket; dwsbox has no bucket dump, so `bucket_name` and `location_prefix` are absent and each
 * record is one call. See docs/api.md#the-audit-trail-listauditlog.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppDeps } from '../app.js';
import { ClusterParams, errorResponses } from '../schemas/primitives.js';

const ListAuditLogQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'records skipped (default 0)' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'records in the page (default 100)' })),
});
const AuditRecordOut = Type.Object({
  id: Type.String(),
  cluster_id: Type.String(),
  executor_time: Type.Number({ description: 'when the call was answered, epoch ms' }),
  begin_time: Type.Number({ description: 'when it was received, epoch ms' }),
  end_time: Type.Number({ description: 'when it was answered, epoch ms' }),
  result: Type.String({ description: 'SUCCESS (2xx) or FAILED' }),
  failed_reason: Type.Union([Type.String(), Type.Null()], { description: "the answer's DWS error: code and message" }),
  operator: Type.String({ description: 'the access key or user name that made the call' }),
  auth_method: Type.String({ description: 'aksk or token' }),
  method: Type.String(),
  operation: Type.String({ description: 'the route called' }),
  status_code: Type.Integer(),
  request_id: Type.String(),
});
const ListAuditLogResponse = Type.Object({ cluster_id: Type.String(), count: Type.Integer(), records: Type.Array(AuditRecordOut) });

export const auditRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    app.get(
      '/v1.0/:project_id/clusters/:cluster_id/audit-log-records',
      {
        config: { auth: 'read' },
        schema: {
          tags: ['monitoring'],
          summary: "A cluster's audit trail (ListAuditLog)",
          description:
            'Every authenticated mutating API call that named the cluster (refusals included), newest first: who (operator, auth_method), what (method, operation), when (begin_time, end_time) and the result (status_code, result, failed_reason). Kept auditRetentionDays. bucket_name and location_prefix are absent: dwsbox dumps no audit logs to a bucket.',
          params: ClusterParams,
          querystring: ListAuditLogQuery,
          response: { 200: ListAuditLogResponse, ...errorResponses },
        },
      },
      async (req) => {
        const { project_id, cluster_id } = req.params;
        const r = await deps.auditLog.list(project_id, cluster_id, req.query.offset ?? 0, req.query.limit ?? 100);
        return {
          cluster_id,
          count: r.count,
          records: r.records.map((a) => ({
            id: a.id,
            cluster_id,
            executor_time: a.finishedAt,
            begin_time: a.startedAt,
            end_time: a.finishedAt,
            result: a.status < 400 ? 'SUCCESS' : 'FAILED',
            failed_reason: a.errorCode === null ? null : `${a.errorCode}: ${a.errorMessage ?? ''}`,
            operator: a.principal,
            auth_method: a.authMethod,
            method: a.method,
            operation: a.route,
            status_code: a.status,
            request_id: a.requestId,
          })),
        };
      },
    );
  };
