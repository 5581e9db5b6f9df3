/** Each project's OS user (D32): uids recorded so that they are never reused. */
import type { Kysely } from 'kysely';
import { osUserRows, toNumberOrNull, type OsUserRecord } from '../rows.js';
import type { Database } from '../schema.js';

/** The highest uid ever recorded for a project user, or null. */
export async function highestOsUid(db: Kysely<Database>): Promise<number | null> {
  const row = await db
    .selectFrom('project_os_users')
    .select((eb) => eb.fn.max('uid').as('highest'))
    .executeTakeFirst();
  return toNumberOrNull(row?.highest);
}
/** Record a project's OS user; idempotent for the same project, name and uid. */
export async function recordOsUser(db: Kysely<Database>, user: OsUserRecord, now: number): Promise<void> {
  const row = await db.selectFrom('project_os_users').selectAll().where('project_id', '=', user.projectId).executeTakeFirst();
  const have = row && osUserRows.toRecord(row);
  if (have && have.uid === user.uid && have.name === user.name) return;
  if (have) {
    await db.updateTable('project_os_users').set({ name: user.name, uid: user.uid }).where('project_id', '=', user.projectId).execute();
    return;
  }
  await db
    .insertInto('project_os_users')
    .values({ ...osUserRows.toNewRow(user), created_at: now })
    .onConflict((oc) => oc.column('project_id').doNothing())
    .execute();
}
export async function listOsUsers(db: Kysely<Database>): Promise<OsUserRecord[]> {
  return (await db.selectFrom('project_os_users').selectAll().orderBy('uid').execute()).map((row) => osUserRows.toRecord(row));
}
