/** Cluster events (D26): recorded once by their source key, read newest first, counted for /metrics. */
import type { Kysely, SelectQueryBuilder } from 'kysely';
import { eventRows, toNumber, toNumberOrNull, type EventRecord } from '../rows.js';
import type { Database } from '../schema.js';

/** Which events a read covers: one project's, of one cluster or all its clusters, in a time range. */
export interface EventFilter {
  projectId: string;
  clusterId?: string | undefined;
  /** occurred at or after (epoch ms) */
  since?: number | undefined;
  /** occurred before (epoch ms) */
  until?: number | undefined;
  /** of these kinds only (none: any) */
  kinds?: readonly string[] | undefined;
  /** of these severities only (none: any) */
  severities?: readonly string[] | undefined;
}

export interface EventListOptions extends EventFilter {
  limit: number;
  offset?: number | undefined;
}

/** Events of one project, kind and severity: /metrics' counter. */
export interface EventTotal {
  projectId: string;
  kind: string;
  severity: string;
  count: number;
}

function filtered<O>(query: SelectQueryBuilder<Database, 'events', O>, f: EventFilter): SelectQueryBuilder<Database, 'events', O> {
  let q = query.where('project_id', '=', f.projectId);
  if (f.clusterId !== undefined) q = q.where('cluster_id', '=', f.clusterId);
  if (f.since !== undefined) q = q.where('occurred_at', '>=', f.since);
  if (f.until !== undefined) q = q.where('occurred_at', '<', f.until);
  if (f.kinds?.length) q = q.where('kind', 'in', [...f.kinds]);
  if (f.severities?.length) q = q.where('severity', 'in', [...f.severities]);
  return q;
}

/**
 * Record an event. Returns false, writing nothing, when an event of the same source key was
 * recorded already (by this or another process): the UNIQUE source_key is what makes one
 * happening one row. The store numbers it (`seq`, a trigger of store version 12) in the order
 * the recordings commit, for the subscriptions' cursors.
 */
export async function recordEvent(db: Kysely<Database>, event: EventRecord): Promise<boolean> {
  const result = await db
    .insertInto('events')
    .values(eventRows.toNewRow(event))
    .onConflict((oc) => oc.column('source_key').doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** A page of events, newest first (ties by id, so pages never overlap). */
export async function listEvents(db: Kysely<Database>, o: EventListOptions): Promise<EventRecord[]> {
  const rows = await filtered(db.selectFrom('events').selectAll(), o)
    .orderBy('occurred_at', 'desc')
    .orderBy('id', 'desc')
    .limit(o.limit)
    .offset(o.offset ?? 0)
    .execute();
  return rows.map((row) => eventRows.toRecord(row));
}

/** How many events the filter covers, and when the oldest of them occurred (null: none). */
export async function countEvents(db: Kysely<Database>, f: EventFilter): Promise<{ count: number; oldestAt: number | null }> {
  const row = await filtered(
    db.selectFrom('events').select((eb) => [eb.fn.countAll().as('n'), eb.fn.min('occurred_at').as('oldest')]),
    f,
  ).executeTakeFirst();
  return { count: toNumber(row?.n ?? 0), oldestAt: toNumberOrNull(row?.oldest) };
}

/** Every project's events by kind and severity. */
export async function eventTotals(db: Kysely<Database>): Promise<EventTotal[]> {
  const rows = await db
    .selectFrom('events')
    .select((eb) => ['project_id', 'kind', 'severity', eb.fn.countAll().as('n')])
    .groupBy(['project_id', 'kind', 'severity'])
    .orderBy('project_id')
    .orderBy('kind')
    .orderBy('severity')
    .execute();
  return rows.map((r) => ({ projectId: r.project_id, kind: r.kind, severity: r.severity, count: toNumber(r.n) }));
}
