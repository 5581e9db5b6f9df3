/** Projects and who may use them: credentials (AK/SK), users and their tokens. */
import type { Kysely } from 'kysely';
import type { CredentialRecord, ProjectRecord, TokenRecord, UserRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import { credentialRows, projectRows, tokenRows, userRows } from '../rows.js';
import type { Database } from '../schema.js';
import { rethrowStoreError } from '../store-errors.js';

export async function ensureProject(db: Kysely<Database>, project: ProjectRecord): Promise<void> {
  const existing = await db.selectFrom('projects').select('id').where('id', '=', project.id).executeTakeFirst();
  // Two processes starting at once on one store may both get here: the second insert does nothing.
  if (!existing)
    await db
      .insertInto('projects')
      .values(projectRows.toNewRow(project))
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
}
export async function getProject(db: Kysely<Database>, id: string): Promise<ProjectRecord | undefined> {
  const row = await db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
  return row && projectRows.toRecord(row);
}
export async function listProjects(db: Kysely<Database>): Promise<ProjectRecord[]> {
  return (await db.selectFrom('projects').selectAll().orderBy('created_at').execute()).map((row) => projectRows.toRecord(row));
}

export async function insertCredential(db: Kysely<Database>, credential: CredentialRecord): Promise<void> {
  await db
    .insertInto('credentials')
    .values(credentialRows.toNewRow(credential))
    .execute()
    .catch((e) => rethrowStoreError(e, () => new AppError('VALIDATION', { args: [`access key ${credential.accessKey} already exists`] })));
}
export async function getCredential(db: Kysely<Database>, accessKey: string): Promise<CredentialRecord | undefined> {
  const row = await db.selectFrom('credentials').selectAll().where('access_key', '=', accessKey).executeTakeFirst();
  return row && credentialRows.toRecord(row);
}
export async function listCredentials(db: Kysely<Database>, projectId?: string): Promise<CredentialRecord[]> {
  let query = db.selectFrom('credentials').selectAll().orderBy('created_at');
  if (projectId) query = query.where('project_id', '=', projectId);
  return (await query.execute()).map((row) => credentialRows.toRecord(row));
}
export async function deleteCredential(db: Kysely<Database>, accessKey: string): Promise<boolean> {
  const result = await db.deleteFrom('credentials').where('access_key', '=', accessKey).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function insertUser(db: Kysely<Database>, user: UserRecord): Promise<void> {
  await db
    .insertInto('users')
    .values(userRows.toNewRow(user))
    .execute()
    .catch((e) => rethrowStoreError(e, () => new AppError('VALIDATION', { args: [`user ${user.name} already exists`] })));
}
export async function getUserByName(db: Kysely<Database>, name: string): Promise<UserRecord | undefined> {
  const row = await db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
  return row && userRows.toRecord(row);
}
export async function listUsers(db: Kysely<Database>, projectId?: string): Promise<UserRecord[]> {
  let query = db.selectFrom('users').selectAll().orderBy('created_at');
  if (projectId) query = query.where('project_id', '=', projectId);
  return (await query.execute()).map((row) => userRows.toRecord(row));
}
/** Delete a user and its tokens; false when there is no such user. */
export async function deleteUser(db: Kysely<Database>, name: string): Promise<boolean> {
  const user = await getUserByName(db, name);
  if (!user) return false;
  await db.deleteFrom('tokens').where('user_id', '=', user.id).execute();
  await db.deleteFrom('users').where('id', '=', user.id).execute();
  return true;
}

export async function insertToken(db: Kysely<Database>, token: TokenRecord): Promise<void> {
  await db.insertInto('tokens').values(tokenRows.toNewRow(token)).execute();
}
export async function getToken(db: Kysely<Database>, hash: string): Promise<TokenRecord | undefined> {
  const row = await db.selectFrom('tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
  return row && tokenRows.toRecord(row);
}
export async function deleteExpiredTokens(db: Kysely<Database>, now: number): Promise<void> {
  await db.deleteFrom('tokens').where('expires_at', '<', now).execute();
}
