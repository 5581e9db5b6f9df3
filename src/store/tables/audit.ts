/** The audit trail (issue 17): appended by the API edge, read by cluster newest first, pruned by age in chunks. */
import type { Kysely } from 'kysely';
import type { AuditRecord } from '../../domain/audit.js';
import type { AuditRecordsTable, Database } from '../schema.js';

const toRecord = (r: AuditRecordsTable): AuditRecord => ({
  id: r.id,
  projectId: r.project_id,
  clusterId: r.cluster_id,
  startedAt: Number(r.started_at),
  finishedAt: Number(r.finished_at),
  principal: r.principal,
  authMethod: r.auth_method as AuditRecord['authMethod'],
  method: r.method,
  route: r.route,
  status: Number(r.status),
  errorCode: r.error_code,
  errorMessage: r.error_message,
  requestId: r.request_id,
});

export async function insertAuditRecord(db: Kysely<Database>, a: AuditRecord): Promise<void> {
  await db
    .insertInto('audit_records')
    .values({
      id: a.id,
      project_id: a.projectId,
      cluster_id: a.clusterId,
      started_at: a.startedAt,
      finished_at: a.finishedAt,
      principal: a.principal,
      auth_method: a.authMethod,
      method: a.method,
      route: a.route,
      status: a.status,
      error_code: a.errorCode,
      error_message: a.errorMessage,
      request_id: a.requestId,
    })
    .execute();
}

/** A cluster's audit records, newest first, a page, and how many it has. */
export async function listAuditRecords(
  db: Kysely<Database>,
  o: { projectId: string; clusterId: string; limit: number; offset: number },
): Promise<{ records: AuditRecord[]; count: number }> {
  const base = db.selectFrom('audit_records').where('project_id', '=', o.projectId).where('cluster_id', '=', o.clusterId);
  const rows = await base.selectAll().orderBy('started_at', 'desc').orderBy('id').limit(o.limit).offset(o.offset).execute();
  const n = await base.select((e) => e.fn.countAll().as('n')).executeTakeFirst();
  return { records: rows.map(toRecord), count: Number(n?.n ?? 0) };
}

/** Remove records received before `before`, at most `chunkMs` of them (the oldest first); how many. */
export async function pruneAuditRecords(db: Kysely<Database>, before: number, chunkMs: number): Promise<number> {
  const oldest = await db
    .selectFrom('audit_records')
    .select((e) => e.fn.min('started_at').as('t'))
    .executeTakeFirst();
  if (oldest?.t === null || oldest?.t === undefined || Number(oldest.t) >= before) return 0;
  const r = await db
    .deleteFrom('audit_records')
    .where('started_at', '<', Math.min(before, Number(oldest.t) + chunkMs))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
