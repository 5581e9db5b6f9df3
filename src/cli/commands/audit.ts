/**
 * `clusters audit CLUSTER_ID [--limit N]` (issue 17): the cluster's audit trail (ListAuditLog,
 * docs/api.md#the-audit-trail-listauditlog), every authenticated mutating API call that named
 * it, newest first: when, who, what, and the result (a refusal with its DWS error).
 */
import { utc } from './alarms.js';
import { int, need, print, table, UsageError, type Ctx } from './common.js';

export interface AuditLogRecordBody {
  executor_time: number;
  begin_time: number;
  end_time: number;
  result: string;
  failed_reason: string | null;
  operator: string;
  auth_method: string;
  method: string;
  operation: string;
  status_code: number;
  request_id: string;
}

export async function clusterAudit(ctx: Ctx, id: string | undefined): Promise<number> {
  const cid = need(id, 'the cluster id');
  let limit: number | undefined;
  if (ctx.values['limit'] !== undefined) {
    limit = int(ctx.values['limit'], '--limit');
    if (limit < 1 || limit > 1000) throw new UsageError('--limit must be 1 to 1000');
  }
  const r = await ctx.client.call<{ cluster_id: string; count: number; records: AuditLogRecordBody[] }>(
    'GET',
    `/v1.0/{project_id}/clusters/${encodeURIComponent(cid)}/audit-log-records${limit === undefined ? '' : `?limit=${limit}`}`,
  );
  print(ctx, r, () => {
    if (!r.records.length) return `no audit records for cluster ${cid}: no mutating API call has named it`;
    const rows = table([
      ['TIME (UTC)', 'OPERATOR', 'METHOD', 'OPERATION', 'STATUS', 'RESULT'],
      ...r.records.map((x) => [
        utc(x.executor_time),
        x.operator,
        x.method,
        x.operation,
        String(x.status_code),
        x.failed_reason ? `${x.result}: ${x.failed_reason}` : x.result,
      ]),
    ]);
    return r.count > r.records.length ? `${rows}\n(the newest ${r.records.length} of ${r.count}; --limit N, up to 1000, shows more)` : rows;
  });
  return 0;
}
