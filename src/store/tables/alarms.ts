/** Alarms (issue 17): raised once per member and rule while uncleared (a partial unique index), cleared once, read by project and time. */
import type { Kysely } from 'kysely';
import type { AlarmLevel, AlarmRecord } from '../../domain/alarms.js';
import type { AlarmsTable, Database } from '../schema.js';

const toRecord = (r: AlarmsTable): AlarmRecord => ({
  id: r.id,
  projectId: r.project_id,
  clusterId: r.cluster_id,
  ordinal: Number(r.ordinal),
  ruleId: r.rule_id,
  level: r.level as AlarmLevel,
  message: r.message,
  raisedAt: Number(r.raised_at),
  clearedAt: r.cleared_at === null ? null : Number(r.cleared_at),
});

/** Raise an alarm; false (nothing written) when the member has one of that rule uncleared already (this or another process). */
export async function raiseAlarm(db: Kysely<Database>, a: AlarmRecord): Promise<boolean> {
  const r = await db
    .insertInto('alarms')
    .values({
      id: a.id,
      project_id: a.projectId,
      cluster_id: a.clusterId,
      ordinal: a.ordinal,
      rule_id: a.ruleId,
      level: a.level,
      message: a.message,
      raised_at: a.raisedAt,
      cleared_at: null,
    })
    .onConflict((oc) => oc.columns(['cluster_id', 'ordinal', 'rule_id']).where('cleared_at', 'is', null).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Clear an uncleared alarm; false when it was cleared already. */
export async function clearAlarm(db: Kysely<Database>, id: string, at: number): Promise<boolean> {
  const r = await db.updateTable('alarms').set({ cleared_at: at }).where('id', '=', id).where('cleared_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Every uncleared alarm (the evaluator's state). */
export async function activeAlarms(db: Kysely<Database>): Promise<AlarmRecord[]> {
  return (await db.selectFrom('alarms').selectAll().where('cleared_at', 'is', null).execute()).map(toRecord);
}

/** A project's alarms raised in [from, to), newest first, a page; and how many there are. */
export async function listAlarms(
  db: Kysely<Database>,
  o: { projectId: string; from: number; to: number; limit: number; offset: number },
): Promise<{ alarms: AlarmRecord[]; count: number }> {
  const base = db.selectFrom('alarms').where('project_id', '=', o.projectId).where('raised_at', '>=', o.from).where('raised_at', '<', o.to);
  const rows = await base.selectAll().orderBy('raised_at', 'desc').orderBy('id').limit(o.limit).offset(o.offset).execute();
  const n = await base.select((e) => e.fn.countAll().as('n')).executeTakeFirst();
  return { alarms: rows.map(toRecord), count: Number(n?.n ?? 0) };
}
