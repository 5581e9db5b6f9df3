/**
 * SyncIamUsers and ListSyncRecords (issue 16, D28, D32): the project's dwsbox users (the auth
 * store's, `dwsbox users create`: dwsbox's "IAM users") made database roles of a cluster. Pure
 * code: the records, and the plan of one sync from the users, the roles the primary has and the
 * roles earlier syncs made. The service runs it (services/db-sync-service.ts), the data plane
 * runs the SQL (dataplane/local/db-sync.ts); docs/api.md#iam-user-sync.
 *
 * A synced role is known by the store's record of it (cluster, name, the role's OID, the dwsbox
 * user it stands for), never by anything a tenant can write: a role of the same name with
 * another OID (the synced one dropped with DeleteDatabaseUser, a new one made with
 * CreateDatabaseUser) is not a synced role, and a sync never touches it.
 */
import { AppError } from '../errors/app-error.js';
import { checkDbUserName } from './db-users.js';

/** ListSyncRecords' identity_source_type: the project's dwsbox users. */
export const IDENTITY_SOURCE_TYPE = 'DWSBOX_USERS';

/** A sync still RUNNING after this long was cut off (its process stopped): the next one records it FAILED and runs. */
export const SYNC_ABANDONED_MS = 15 * 60_000;

/** At most this many characters of fail_reason (each failed user's name and why, joined). */
export const FAIL_REASON_MAX = 4000;

export type DbSyncStatus = 'RUNNING' | 'SUCCESS' | 'FAILED';

/** One sync of a cluster (store table db_user_syncs). */
export interface DbSyncRecord {
  id: string;
  projectId: string;
  clusterId: string;
  status: DbSyncStatus;
  /** epoch ms */
  startTime: number;
  /** epoch ms; null while RUNNING */
  endTime: number | null;
  addCount: number;
  updateCount: number;
  deleteCount: number;
  failedCount: number;
  failReason: string | null;
}

/** A role a sync made (store table db_synced_roles): the role of this name is it while its OID is this one. */
export interface SyncedRoleRecord {
  clusterId: string;
  roleName: string;
  roleOid: number;
  /** the dwsbox user it stands for */
  userId: string;
  syncedAt: number;
}

/** A dwsbox user of the project, as the auth store has it. */
export interface SyncSourceUser {
  id: string;
  name: string;
  role: string;
}

/** What a sync does, one entry per dwsbox user or synced role. */
export type SyncAction =
  /** a new role: LOGIN, no password, its comment naming the user */
  | { kind: 'add'; name: string; user: SyncSourceUser; comment: string }
  /** its synced role stands for an older dwsbox user of the same name (deleted and made again): the comment and the record re-bound */
  | { kind: 'update'; name: string; user: SyncSourceUser; comment: string; record: SyncedRoleRecord }
  /** its dwsbox user is gone: the role dropped (what it owns handed to the administrator) */
  | { kind: 'delete'; name: string; record: SyncedRoleRecord }
  /** a user that cannot be a role: counted failed, nothing done */
  | { kind: 'fail'; name: string; why: string };

export interface SyncPlan {
  actions: SyncAction[];
  /** records of roles that are no longer the ones synced (dropped, or another role of the name now): forgotten, nothing done on the cluster */
  stale: SyncedRoleRecord[];
  /** users whose synced role is as it should be: nothing to do */
  unchanged: string[];
}

/** The comment a synced role carries (COMMENT ON ROLE, what ShowDatabaseUser's desc shows). */
export function syncedRoleComment(projectId: string, u: SyncSourceUser): string {
  return `dwsbox user ${u.name} (id ${u.id}, ${u.role}) of project ${projectId}, synced by SyncIamUsers`;
}

/**
 * The plan of one sync. `roles`: every role of the primary by name with its OID; `synced`: the
 * store's records of this cluster's synced roles; `admin`: the cluster's administrator.
 * A user is failed when its name is not a database user name (CreateDatabaseUser's rule: 1 to 63
 * characters, lower-case letters, digits and _, a letter or _ first), is reserved (pg_…,
 * dwsbox_…, postgres), is the administrator, or names a role that no sync made.
 */
export function planSync(
  projectId: string,
  users: readonly SyncSourceUser[],
  roles: ReadonlyMap<string, number>,
  synced: readonly SyncedRoleRecord[],
  admin: string,
): SyncPlan {
  const stale: SyncedRoleRecord[] = [];
  const live = new Map<string, SyncedRoleRecord>();
  for (const r of synced) {
    if (roles.get(r.roleName) === r.roleOid) live.set(r.roleName, r);
    else stale.push(r);
  }
  const actions: SyncAction[] = [];
  const unchanged: string[] = [];
  const byName = new Map<string, SyncSourceUser>();
  for (const u of [...users].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (byName.has(u.name)) continue; // names are unique in the auth store; the first wins all the same
    byName.set(u.name, u);
    try {
      checkDbUserName(u.name, admin, true);
    } catch (e) {
      actions.push({ kind: 'fail', name: u.name, why: e instanceof AppError ? e.message : String(e) });
      continue;
    }
    const rec = live.get(u.name);
    const comment = syncedRoleComment(projectId, u);
    if (rec) {
      if (rec.userId === u.id) unchanged.push(u.name);
      else actions.push({ kind: 'update', name: u.name, user: u, comment, record: rec });
    } else if (roles.has(u.name)) {
      actions.push({
        kind: 'fail',
        name: u.name,
        why: 'a role of this name exists and was not made by a sync (CreateDatabaseUser, or the cluster itself); it is left as it is',
      });
    } else {
      actions.push({ kind: 'add', name: u.name, user: u, comment });
    }
  }
  for (const rec of live.values()) if (!byName.has(rec.roleName)) actions.push({ kind: 'delete', name: rec.roleName, record: rec });
  return { actions, stale, unchanged };
}

/** fail_reason of a finished sync: each failure as `name: why`, joined, capped; null when none. */
export function failReason(failures: readonly { name: string; why: string }[], aborted: string | null): string | null {
  const parts = [...(aborted ? [`sync stopped: ${aborted}`] : []), ...failures.map((f) => `${f.name.slice(0, 80)}: ${f.why}`)];
  if (!parts.length) return null;
  const s = parts.join('; ');
  return s.length > FAIL_REASON_MAX ? `${s.slice(0, FAIL_REASON_MAX - 1)}…` : s;
}

/** The SDK's IdentitySourceSyncRecordVo. */
export interface SyncRecordView {
  id: string;
  identity_source_id: string;
  identity_source_type: string;
  start_time: number;
  end_time?: number;
  add_count: number;
  update_count: number;
  delete_count: number;
  failed_count: number;
  status: DbSyncStatus;
  fail_reason?: string;
}

export function syncRecordView(r: DbSyncRecord): SyncRecordView {
  return {
    id: r.id,
    identity_source_id: r.projectId,
    identity_source_type: IDENTITY_SOURCE_TYPE,
    start_time: r.startTime,
    ...(r.endTime !== null ? { end_time: r.endTime } : {}),
    add_count: r.addCount,
    update_count: r.updateCount,
    delete_count: r.deleteCount,
    failed_count: r.failedCount,
    status: r.status,
    ...(r.failReason !== null ? { fail_reason: r.failReason } : {}),
  };
}
