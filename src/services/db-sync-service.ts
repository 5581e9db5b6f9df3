/**
 * SyncIamUsers and ListSyncRecords (issue 16, D28, D32; domain/db-sync.ts): the project's
 * dwsbox users made database roles of the cluster, at once (no task), as the other database-user
 * calls run: an available, writable cluster whose primary runs, dwsbox's superuser session, the
 * same name rules as CreateDatabaseUser. Each sync is a store record (RUNNING, then SUCCESS or
 * FAILED with its real start, end and counts); one RUNNING per cluster, across processes.
 *
 * A sync adds a role for each user that has none, re-labels the one of a user deleted and made
 * again under the same name (update), drops the synced roles whose user is gone (what they own
 * handed to the administrator), and counts failed, with why, each user that cannot be a role.
 * It never touches a role it did not make (known by the OID the store recorded).
 */
import { failReason, planSync, SYNC_ABANDONED_MS, syncRecordView, type DbSyncRecord, type SyncRecordView } from '../domain/db-sync.js';
import { newId } from '../domain/ids.js';
import { AppError } from '../errors/app-error.js';
import { sqlState } from '../errors/pg-sqlstate.js';
import { isStoreError } from '../errors/store-error.js';
import { rethrowStoreError } from '../store/store-errors.js';
import type { ClusterService, ClusterServiceDeps } from './cluster-service.js';
import { runningPrimary } from './db-user-service.js';

/** A SQL refusal about one role (its name, a membership, an object): that user failed, the sync goes on. */
const aboutTheRole = (e: unknown): boolean => /^(0L|0P|22|2B|42)/.test(sqlState(e) ?? '');

export class DbSyncService {
  constructor(
    private readonly deps: ClusterServiceDeps,
    private readonly clusters: Pick<ClusterService, 'get'>,
  ) {}

  /** SyncIamUsers: the sync run to its end; `sync_user`: the roles it added and updated. */
  async sync(projectId: string, clusterId: string): Promise<{ sync_user: string[] }> {
    const { c, primary } = await runningPrimary(this.deps, this.clusters, projectId, clusterId, true);
    if (c.readOnly === 'ON')
      throw new AppError('CLUSTER_STATE_CONFLICT', {
        args: [c.name, 'it is read-only (its data passed the disk threshold); lift it with CancelReadonlyCluster first'],
      });
    const { store, dataPlane: dp, clock, log } = this.deps;
    const start = clock.now();
    const rec: DbSyncRecord = {
      id: newId(),
      projectId,
      clusterId: c.id,
      status: 'RUNNING',
      startTime: start,
      endTime: null,
      addCount: 0,
      updateCount: 0,
      deleteCount: 0,
      failedCount: 0,
      failReason: null,
    };
    try {
      await store.transaction(async (tx) => {
        const closed = await tx.closeAbandonedDbSyncs(
          c.id,
          start - SYNC_ABANDONED_MS,
          start,
          'sync stopped: it was cut off (its service process stopped during it)',
        );
        if (closed) log.warn('abandoned IAM user syncs closed as FAILED', { projectId, clusterId: c.id, closed });
        await tx.insertDbSync(rec);
      });
    } catch (e) {
      if (isStoreError(e) && e.kind === 'unique-violation')
        throw new AppError('CLUSTER_STATE_CONFLICT', {
          args: [c.name, 'another sync of its users is running; try again when it has finished (ListSyncRecords shows it RUNNING)'],
          cause: e,
        });
      throw e;
    }

    const added: string[] = [];
    const updated: string[] = [];
    let deleted = 0;
    const failures: { name: string; why: string }[] = [];
    const finish = async (aborted: string | null): Promise<void> => {
      const done = await store.finishDbSync(rec.id, {
        status: aborted ? 'FAILED' : 'SUCCESS',
        endTime: clock.now(),
        addCount: added.length,
        updateCount: updated.length,
        deleteCount: deleted,
        failedCount: failures.length,
        failReason: failReason(failures, aborted),
      });
      if (!done) log.warn('IAM user sync record was closed before its end', { projectId, clusterId: c.id, sync: rec.id });
    };
    try {
      const [users, roles, synced] = await Promise.all([store.listUsers(projectId), dp.roleOids(c, primary), store.listSyncedRoles(c.id)]);
      const plan = planSync(
        projectId,
        users.map((u) => ({ id: u.id, name: u.name, role: u.role })),
        new Map(roles.map((r) => [r.name, r.oid])),
        synced,
        c.userName,
      );
      for (const s of plan.stale) await store.forgetSyncedRole(c.id, s.roleName, s.roleOid);
      for (const a of plan.actions) {
        try {
          switch (a.kind) {
            case 'fail':
              failures.push({ name: a.name, why: a.why });
              break;
            case 'add': {
              const oid = await dp.createSyncedRole(c, primary, a.name, a.comment);
              await store.putSyncedRole({ clusterId: c.id, roleName: a.name, roleOid: oid, userId: a.user.id, syncedAt: clock.now() });
              added.push(a.name);
              break;
            }
            case 'update':
              if (await dp.commentSyncedRole(c, primary, a.name, a.record.roleOid, a.comment)) {
                await store.putSyncedRole({ ...a.record, userId: a.user.id, syncedAt: clock.now() });
                updated.push(a.name);
              } else {
                await store.forgetSyncedRole(c.id, a.name, a.record.roleOid);
                failures.push({ name: a.name, why: 'its role was dropped or replaced during the sync; it is left as it is' });
              }
              break;
            case 'delete':
              if (await dp.dropSyncedRole(c, primary, a.name, a.record.roleOid, c.userName)) {
                deleted++;
                // its sessions on the standbys read on after the drop replays: ended too (a standby that does not answer: logged, the drop stands)
                for (const n of await store.listNodes(c.id))
                  if (n.id !== primary.id && n.membership === 'active' && dp.memberStatus(c, n))
                    await dp.endRoleSessions(c, n, a.record.roleOid).catch((err: unknown) =>
                      log.warn("a dropped synced role's standby sessions not ended", {
                        clusterId: c.id,
                        node: n.ordinal,
                        err: String(err),
                      }),
                    );
              }
              await store.forgetSyncedRole(c.id, a.name, a.record.roleOid);
              break;
          }
        } catch (e) {
          if (!aboutTheRole(e)) throw e;
          failures.push({ name: a.name, why: `PostgreSQL refused it: ${(e as Error).message}` });
        }
      }
    } catch (e) {
      const why =
        e instanceof AppError
          ? e.message
          : isStoreError(e)
            ? `the store failed: ${e.message}`
            : `its primary did not answer: ${(e as Error).message}`;
      await finish(why).catch((err: unknown) => log.error('IAM user sync record not finished', { sync: rec.id, err: String(err) }));
      log.warn('IAM user sync failed', { projectId, clusterId: c.id, sync: rec.id, why });
      if (e instanceof AppError) throw e;
      if (isStoreError(e)) rethrowStoreError(e);
      throw new AppError('CLUSTER_STATE_CONFLICT', {
        args: [c.name, `the sync stopped: its primary did not answer (${(e as Error).message}); what was done is recorded, sync again`],
        cause: e,
      });
    }
    await finish(null);
    log.info('IAM users synced', {
      projectId,
      clusterId: c.id,
      sync: rec.id,
      added: added.length,
      updated: updated.length,
      deleted,
      failed: failures.length,
    });
    return { sync_user: [...added, ...updated] };
  }

  /** ListSyncRecords: a page of the cluster's syncs, newest first, and how many there are. */
  async records(
    projectId: string,
    clusterId: string,
    offset: number,
    limit: number,
  ): Promise<{ count: number; sync_records: SyncRecordView[] }> {
    const c = await this.clusters.get(projectId, clusterId);
    const { count, records } = await this.deps.store.listDbSyncs(c.id, offset, limit);
    return { count, sync_records: records.map(syncRecordView) };
  }
}
