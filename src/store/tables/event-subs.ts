/**
 * Event subscriptions (D26, issue 17): the subscription rows, and the reads of the events a
 * subscription's cursor has not passed yet. A delivering process holds a subscription's lease
 * (`lease_owner`, `lease_until`); its writes of the delivery state are fenced by it.
 */
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely';
import { AppError } from '../../errors/app-error.js';
import { ALARM_RULES, alarmRulesOf } from '../../domain/alarms.js';
import { EVENT_SOURCE_TYPE } from '../../domain/event-specs.js';
import { eventRows, eventSubRows, toNumber, type EventRecord, type EventSubscriptionRecord } from '../rows.js';
import type { Database } from '../schema.js';
import { rethrowStoreError } from '../store-errors.js';

/** The delivery state a delivering process writes (under its lease). */
export type EventSubDeliveryPatch = Partial<
  Pick<
    EventSubscriptionRecord,
    'cursorSeq' | 'deliveredEventId' | 'deliveredAt' | 'failedAttempts' | 'nextAttemptAt' | 'lastError' | 'lastErrorAt' | 'leaseUntil'
  >
>;

/** A pending event and its number. */
export interface SequencedEvent {
  event: EventRecord;
  seq: number;
}

export async function insertEventSub(db: Kysely<Database>, rec: EventSubscriptionRecord): Promise<void> {
  await db
    .insertInto('event_subscriptions')
    .values(eventSubRows.toNewRow(rec))
    .execute()
    .catch((e) => rethrowStoreError(e, () => new AppError('EVENT_SUB_NAME_EXISTS', { args: [rec.name] })));
}

export async function getEventSub(
  db: Kysely<Database>,
  projectId: string,
  id: string,
  kind: EventSubscriptionRecord['kind'],
): Promise<EventSubscriptionRecord | undefined> {
  const row = await db
    .selectFrom('event_subscriptions')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .where('kind', '=', kind)
    .executeTakeFirst();
  return row ? eventSubRows.toRecord(row) : undefined;
}

/** A page of a project's subscriptions, oldest first (ties by id), and how many it has. */
export async function listEventSubs(
  db: Kysely<Database>,
  projectId: string,
  offset: number,
  limit: number,
  kind: EventSubscriptionRecord['kind'],
): Promise<{ records: EventSubscriptionRecord[]; count: number }> {
  const [rows, n] = await Promise.all([
    db
      .selectFrom('event_subscriptions')
      .selectAll()
      .where('project_id', '=', projectId)
      .where('kind', '=', kind)
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .offset(offset)
      .execute(),
    db
      .selectFrom('event_subscriptions')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('project_id', '=', projectId)
      .where('kind', '=', kind)
      .executeTakeFirst(),
  ]);
  return { records: rows.map((r) => eventSubRows.toRecord(r)), count: toNumber(n?.n ?? 0) };
}

/** A user's change of a subscription; false when it does not exist. */
export async function updateEventSub(
  db: Kysely<Database>,
  projectId: string,
  id: string,
  patch: Partial<EventSubscriptionRecord>,
): Promise<boolean> {
  const r = await db
    .updateTable('event_subscriptions')
    .set(eventSubRows.toRow(patch))
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .executeTakeFirst()
    .catch((e) => rethrowStoreError(e, () => new AppError('EVENT_SUB_NAME_EXISTS', { args: [patch.name ?? id] })));
  return Number(r.numUpdatedRows) > 0;
}

export async function deleteEventSub(db: Kysely<Database>, projectId: string, id: string): Promise<boolean> {
  const r = await db.deleteFrom('event_subscriptions').where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** How many subscriptions a project has. */
export async function countEventSubs(db: Kysely<Database>, projectId: string): Promise<number> {
  const n = await db
    .selectFrom('event_subscriptions')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  return toNumber(n?.n ?? 0);
}

/** The number of the last event recorded (0: none). */
export async function lastEventSeq(db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('event_sequence').select('last_seq').where('id', '=', 1).executeTakeFirst();
  return toNumber(row?.last_seq ?? 0);
}

/** The subscription's filters over the events table (docs/api.md#event-subscriptions). */
function matching(sub: EventSubscriptionRecord) {
  return (eb: ExpressionBuilder<Database, 'events'>) => {
    const all: Expression<SqlBool>[] = [eb('project_id', '=', sub.projectId), eb('seq', '>', sub.cursorSeq)];
    const none = sql<SqlBool>`1 = 0`;
    if (sub.sourceTypes.length && !sub.sourceTypes.includes(EVENT_SOURCE_TYPE)) all.push(none);
    if (sub.sourceIds.length) all.push(eb('cluster_id', 'in', sub.sourceIds));
    if (sub.kind === 'alarm') {
      // an alarm subscription: the alarm events of its rules (their subject is `<alarm_id>:<alarm>`)
      all.push(eb(sql<string>`substr(kind, 1, 5)`, '=', 'alarm'));
      const rules = alarmRulesOf(sub.alarmIds, sub.alarmLevels);
      if (rules.length < ALARM_RULES.length) all.push(rules.length ? eb.or(rules.map((r) => eb('subject', 'like', `${r}:%`))) : none);
      return eb.and(all);
    }
    if (sub.severities.length) all.push(eb('severity', 'in', sub.severities));
    if (sub.categories.length) {
      // a kind's category by its prefix, as domain/event-specs.ts eventCategory says
      const prefix = sql<string>`substr(kind, 1, 5)`;
      const of: Expression<SqlBool>[] = [];
      if (sub.categories.includes('management')) of.push(eb(prefix, '=', 'task_'));
      if (sub.categories.includes('system alarm')) of.push(eb(prefix, '=', 'alarm'));
      if (sub.categories.includes('monitor')) of.push(eb.and([eb(prefix, '<>', 'task_'), eb(prefix, '<>', 'alarm')]));
      all.push(of.length ? eb.or(of) : none);
    }
    return eb.and(all);
  };
}

/** The first event after the subscription's cursor that it covers, numbered at most `upTo`. */
export async function nextSubEvent(db: Kysely<Database>, sub: EventSubscriptionRecord, upTo: number): Promise<SequencedEvent | undefined> {
  const row = await db
    .selectFrom('events')
    .selectAll()
    .where(matching(sub))
    .where('seq', '<=', upTo)
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst();
  return row ? { event: eventRows.toRecord(row), seq: toNumber(row.seq) } : undefined;
}

/** How many events after the subscription's cursor it covers. */
export async function countSubPending(db: Kysely<Database>, sub: EventSubscriptionRecord): Promise<number> {
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll().as('n'))
    .where(matching(sub))
    .executeTakeFirst();
  return toNumber(row?.n ?? 0);
}

/** The lease is free, lapsed, or this owner's. */
const leaseOpen = (owner: string, now: number) => (eb: ExpressionBuilder<Database, 'event_subscriptions'>) =>
  eb.or([eb('lease_owner', 'is', null), eb('lease_until', '<', now), eb('lease_owner', '=', owner)]);

/**
 * Enabled subscriptions whose next attempt is due, whose lease this owner may take, and after
 * whose cursor the project has events (a read only: a subscription with nothing to do costs
 * no write).
 */
export async function dueEventSubs(db: Kysely<Database>, owner: string, now: number, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('event_subscriptions as s')
    .select('s.id')
    .where('s.enabled', '=', 1)
    .where('s.next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('s.lease_owner', 'is', null), eb('s.lease_until', '<', now), eb('s.lease_owner', '=', owner)]))
    .where(({ exists, selectFrom }) =>
      exists(selectFrom('events as e').select('e.id').whereRef('e.project_id', '=', 's.project_id').whereRef('e.seq', '>', 's.cursor_seq')),
    )
    .orderBy('s.next_attempt_at')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}

/** Take (or renew) a subscription's delivery lease; the record when this owner holds it now. */
export async function claimEventSub(
  db: Kysely<Database>,
  id: string,
  owner: string,
  now: number,
  until: number,
): Promise<EventSubscriptionRecord | undefined> {
  const r = await db
    .updateTable('event_subscriptions')
    .set({ lease_owner: owner, lease_until: until })
    .where('id', '=', id)
    .where('enabled', '=', 1)
    .where(leaseOpen(owner, now))
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) return undefined;
  const row = await db.selectFrom('event_subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
  return row && row.lease_owner === owner ? eventSubRows.toRecord(row) : undefined;
}

/** Write delivery state under this owner's lease; false when the lease is no longer its (or the subscription is gone). */
export async function writeEventSubDelivery(
  db: Kysely<Database>,
  id: string,
  owner: string,
  patch: EventSubDeliveryPatch,
): Promise<boolean> {
  const r = await db
    .updateTable('event_subscriptions')
    .set(eventSubRows.toRow(patch))
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Give up every lease this owner holds (a stopping service). */
export async function releaseEventSubLeases(db: Kysely<Database>, owner: string): Promise<void> {
  await db.updateTable('event_subscriptions').set({ lease_owner: null, lease_until: null }).where('lease_owner', '=', owner).execute();
}
