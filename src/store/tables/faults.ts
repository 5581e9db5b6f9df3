/** Injected faults (D13): armed per project, consumed as they fire. */
import type { Kysely } from 'kysely';
import type { FaultRecord } from '../../domain/records.js';
import { faultRows } from '../rows.js';
import type { Database } from '../schema.js';

export async function insertFault(db: Kysely<Database>, fault: FaultRecord): Promise<void> {
  await db.insertInto('faults').values(faultRows.toNewRow(fault)).execute();
}
/** Faults by creation time, of one project or all. */
export async function listFaults(db: Kysely<Database>, projectId?: string): Promise<FaultRecord[]> {
  let query = db.selectFrom('faults').selectAll().orderBy('created_at');
  if (projectId) query = query.where('project_id', '=', projectId);
  return (await query.execute()).map((row) => faultRows.toRecord(row));
}
/** Delete a project's faults (or one of them); how many went. */
export async function deleteFaults(db: Kysely<Database>, projectId: string, id?: string): Promise<number> {
  let query = db.deleteFrom('faults').where('project_id', '=', projectId);
  if (id) query = query.where('id', '=', id);
  return Number((await query.executeTakeFirst()).numDeletedRows);
}
/** Use up one firing of a fault; false when it was already used up by someone else. */
export async function consumeFault(db: Kysely<Database>, fault: FaultRecord): Promise<boolean> {
  if (fault.timesLeft === null) return true;
  if (fault.timesLeft <= 1) {
    const result = await db.deleteFrom('faults').where('id', '=', fault.id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
  const result = await db
    .updateTable('faults')
    .set({ times_left: fault.timesLeft - 1 })
    .where('id', '=', fault.id)
    .where('times_left', '=', fault.timesLeft)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
