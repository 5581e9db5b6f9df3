/**
 * Database users (issue 16, D28, D32): CreateDatabaseUser, ListDatabaseUsers, ShowDatabaseUser,
 * UpdateDatabaseUserInfo and DeleteDatabaseUser as real roles on the cluster's primary, run at
 * once (no task) as ResetPassword is: a change needs an available cluster whose recorded
 * primary runs (the health monitor keeps that record on the leader Patroni names); a read
 * needs the running primary. What may be asked is domain/db-users.ts's; the SQL is the data
 * plane's (local/db-users.ts), so both engines run the same.
 */
import { runningMembers } from './running-members.js';
import type { ClusterRecord, NodeRecord } from '../domain/records.js';
import {
  checkDbUserName,
  checkMemberships,
  dbRoleChange,
  dbRoleToCreate,
  dbUserDetail,
  dbUserListItem,
  checkChangeable,
  isBeyondAdmin,
  type CreateDbUserInput,
  type DbUserDetail,
  type DbUserListItem,
  type UpdateDbUserInput,
} from '../domain/db-users.js';
import { AppError } from '../errors/app-error.js';
import { checkOmOperation, OM_VALIDITY_MS, omUserInfo } from '../domain/om-user.js';
import type { ClusterService, ClusterServiceDeps } from './cluster-service.js';
import { DbSyncService } from './db-sync-service.js';

export interface ListDbUsersQuery {
  offset?: number;
  limit?: number;
  /** USER: roles that log in; ROLE: roles that do not */
  type?: 'USER' | 'ROLE';
  /** COMMON: the users SyncIamUsers did not make; IAM: those it made (the project's dwsbox users); OneAccess: none (no such identity source); absent: every user */
  user_type?: 'COMMON' | 'IAM' | 'OneAccess';
}

/**
 * The cluster and its running primary, for a database-user or privilege call; `change`: the
 * cluster must be available too (ResetPassword's rule).
 */
export async function runningPrimary(
  deps: ClusterServiceDeps,
  clusters: Pick<ClusterService, 'get'>,
  projectId: string,
  clusterId: string,
  change: boolean,
): Promise<{ c: ClusterRecord; primary: NodeRecord }> {
  const c = await clusters.get(projectId, clusterId);
  if (change && (c.status !== 'AVAILABLE' || c.stopped))
    throw new AppError('CLUSTER_STATE_CONFLICT', {
      args: [
        c.name,
        `database users and privileges change only on an available cluster (status ${c.status}${c.stopped ? ', stopped' : ''})`,
      ],
    });
  const { primary } = await runningMembers(deps, c, 'read its database users and privileges');
  return { c, primary };
}

export class DbUserService {
  /** SyncIamUsers and ListSyncRecords: the project's dwsbox users as roles (db-sync-service.ts) */
  readonly sync: DbSyncService;

  constructor(
    private readonly deps: ClusterServiceDeps,
    private readonly clusters: Pick<ClusterService, 'get'>,
  ) {
    this.sync = new DbSyncService(deps, clusters);
  }

  async create(projectId: string, clusterId: string, input: CreateDbUserInput): Promise<void> {
    const { c, primary } = await runningPrimary(this.deps, this.clusters, projectId, clusterId, true);
    const role = dbRoleToCreate(input, c.userName);
    const dp = this.deps.dataPlane;
    if (role.memberOf.length) checkMemberships(role.name, role.memberOf, await dp.dbRoles(c, primary, c.userName, role.memberOf));
    await dp.createDbRole(c, primary, role);
    this.deps.log.info('database user created', { projectId, clusterId, user: role.name, memberOf: role.memberOf });
  }

  async list(projectId: string, clusterId: string, q: ListDbUsersQuery): Promise<{ users: DbUserListItem[] }> {
    const { c, primary } = await runningPrimary(this.deps, this.clusters, projectId, clusterId, false);
    if (q.user_type === 'OneAccess') return { users: [] };
    const synced = await this.syncedRoles(c, primary);
    const rows = (await this.deps.dataPlane.dbRoles(c, primary, c.userName))
      // dwsbox's and its engine's roles (the replication role among them) are not the tenant's users.
      .filter((r) => !isBeyondAdmin(r) || r.name === c.userName)
      .filter((r) => (q.type === 'USER' ? r.login : q.type === 'ROLE' ? !r.login : true))
      .filter((r) => (q.user_type === 'IAM' ? synced.has(r.name) : q.user_type === 'COMMON' ? !synced.has(r.name) : true));
    const offset = q.offset ?? 0;
    return { users: rows.slice(offset, offset + (q.limit ?? 1000)).map((r) => dbUserListItem(r, synced.has(r.name) ? 'IAM' : 'COMMON')) };
  }

  /**
   * The roles SyncIamUsers made that are still the ones it made (the store's records whose OID
   * the primary still gives the name); none read when the cluster has no records.
   */
  private async syncedRoles(c: ClusterRecord, primary: NodeRecord): Promise<Set<string>> {
    const records = await this.deps.store.listSyncedRoles(c.id);
    if (!records.length) return new Set();
    const oids = new Map((await this.deps.dataPlane.roleOids(c, primary)).map((r) => [r.name, r.oid]));
    return new Set(records.filter((r) => oids.get(r.roleName) === r.roleOid).map((r) => r.roleName));
  }

  /** ExportDatabaseUsers' rows: the users ListDatabaseUsers lists, in full (a page of `limit`, default 10000). */
  async exportRows(
    projectId: string,
    clusterId: string,
    q: { offset?: number; limit?: number; type?: 'USER' | 'ROLE' },
  ): Promise<DbUserDetail[]> {
    const { c, primary } = await runningPrimary(this.deps, this.clusters, projectId, clusterId, false);
    const rows = (await this.deps.dataPlane.dbRoles(c, primary, c.userName))
      .filter((r) => !isBeyondAdmin(r) || r.name === c.userName)
      .filter((r) => (q.type === 'USER' ? r.login : q.type === 'ROLE' ? !r.login : true));
    const offset = q.offset ?? 0;
    return rows.slice(offset, offset + (q.limit ?? 10_000)).map((r) => dbUserDetail(r));
  }

  async show(projectId: string, clusterId: string, name: string): Promise<DbUserDetail> {
    const { c, primary } = await runningPrimary(this.deps, this.clusters, projectId, clusterId, false);
    checkDbUserName(name, c.userName, false);
    const [row] = await this.deps.dataPlane.dbRoles(c, primary, c.userName, [name]);
    if (!row || (isBeyondAdmin(row) && row.name !== c.userName)) throw new AppError('DB_USER_NOT_FOUND', { args: [name, c.name] });
    return dbUserDetail(row, (await this.syncedRoles(c, primary)).has(row.name) ? 'IAM' : 'COMMON');
  }

  async update(projectId: string, clusterId: string, name: string, input: UpdateDbUserInput): Promise<void> {
    const { c, primary } = await runningPrimary(this.deps, this.clusters, projectId, clusterId, true);
    const change = dbRoleChange(name, input, c.userName);
    const dp = this.deps.dataPlane;
    const [row] = await dp.dbRoles(c, primary, c.userName, [name]);
    if (!row) throw new AppError('DB_USER_NOT_FOUND', { args: [name, c.name] });
    checkChangeable(row);
    await dp.alterDbRole(c, primary, name, change);
    this.deps.log.info('database user changed', { projectId, clusterId, user: name, fields: Object.keys(change) });
  }

  /**
   * ExecuteDatabaseOmUserAction: the O&M account (domain/om-user.ts) switched on for
   * OM_VALIDITY_MS (addOmUser; again: its expiry moves), its validity moved to that long from
   * now (increaseOmUserPeriod; 409 when it is off), or dropped (deleteOmUser; nothing when there
   * is none). Answers its state as the primary's pg_roles says after.
   */
  async omAction(projectId: string, clusterId: string, operation: string): Promise<{ om_user_info: ReturnType<typeof omUserInfo> }> {
    const op = checkOmOperation(operation);
    const { c, primary } = await runningPrimary(this.deps, this.clusters, projectId, clusterId, true);
    const dp = this.deps.dataPlane;
    const now = this.deps.clock.now();
    if (op === 'deleteOmUser') {
      await dp.dropOmRole(c, primary, c.userName);
      // a standby's sessions of it read on after the drop replays: ended too
      for (const n of await this.deps.store.listNodes(c.id))
        if (n.id !== primary.id && n.membership === 'active' && dp.memberStatus(c, n)) await dp.endOmSessions(c, n);
    } else {
      if (op === 'increaseOmUserPeriod' && omUserInfo(await dp.omRole(c, primary), now).om_user_status === 'off')
        throw new AppError('CLUSTER_STATE_CONFLICT', { args: [c.name, 'its O&M account is off; switch it on with addOmUser'] });
      await dp.enableOmRole(c, primary, c.userName, new Date(now + OM_VALIDITY_MS).toISOString());
    }
    this.deps.log.info('O&M account changed', { projectId, clusterId, operation: op });
    return { om_user_info: omUserInfo(await dp.omRole(c, primary), this.deps.clock.now()) };
  }

  /** ShowDatabaseOmUserStatus: the O&M account as the primary's pg_roles says. */
  async omStatus(projectId: string, clusterId: string): Promise<{ om_user_info: ReturnType<typeof omUserInfo> }> {
    const { c, primary } = await runningPrimary(this.deps, this.clusters, projectId, clusterId, false);
    return { om_user_info: omUserInfo(await this.deps.dataPlane.omRole(c, primary), this.deps.clock.now()) };
  }

  async delete(projectId: string, clusterId: string, name: string, cascade: boolean): Promise<void> {
    const { c, primary } = await runningPrimary(this.deps, this.clusters, projectId, clusterId, true);
    checkDbUserName(name, c.userName, true);
    const [row] = await this.deps.dataPlane.dbRoles(c, primary, c.userName, [name]);
    if (!row) throw new AppError('DB_USER_NOT_FOUND', { args: [name, c.name] });
    checkChangeable(row);
    await this.deps.dataPlane.dropDbRole(c, primary, name, cascade);
    this.deps.log.info('database user dropped', { projectId, clusterId, user: name, cascade });
  }
}
