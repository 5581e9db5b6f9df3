/**
 * Claiming the next runnable task (D1): one that is active, due, and not leased by a live
 * owner, with fair shares per project (docs/security.md). The conditional update is the
 * fence: of several claimers only one sees its row change; the claim bumps `lease_epoch`, and
 * every later write of the owner carries it.
 */
import type { ExpressionBuilder, Kysely, Transaction } from 'kysely';
import type { TaskRecord } from '../../domain/records.js';
import { taskRows, toNumber } from '../rows.js';
import type { Database } from '../schema.js';
import type { StoreAdapter } from '../store-adapter.js';
import { ACTIVE_STATUSES } from './tasks.js';

export interface ClaimOptions {
  owner: string;
  now: number;
  leaseMs: number;
  kinds?: readonly string[];
  /** tasks this owner is running now: never claimed again by it, even if their lease ran out */
  excludeIds?: readonly string[];
  /**
   * Fair shares (docs/security.md): at most this many tasks of one project run at once, over
   * every process of the store. A task runs while its lease is live (and the `excludeIds` of
   * this owner run); a task whose project is at the limit is skipped, so other projects' tasks
   * are claimed meanwhile. Absent: no limit.
   */
  projectLimit?: number;
}

/**
 * One claim attempt: the earliest due, claimable task whose project is below
 * `projectLimit`; 'retry' when another process got it (or filled its project) first. The
 * candidate never counts as running itself: it is claimable only without a live lease (a
 * task resumed after a crash, or a rollback taken over, waits for its project's share like
 * any other, never for its own). On PostgreSQL `db` is a transaction: the candidate's row lock
 * and its project's lock last until the claim commits.
 */
export async function claimOnce(
  db: Kysely<Database>,
  adapter: StoreAdapter,
  options: ClaimOptions,
): Promise<TaskRecord | 'retry' | undefined> {
  const { capabilities } = adapter;
  const excluded = options.excludeIds ?? [];
  const limit = options.projectLimit;
  /** An ACTIVE task runs while its lease is live, or while this owner runs it (its lease may have just run out). */
  const runs = (eb: ExpressionBuilder<Database, 'tasks'>) =>
    eb.or([
      eb.and([eb('locked_by', 'is not', null), eb('lease_expires_at', '>=', options.now)]),
      ...(excluded.length ? [eb('id', 'in', excluded as string[])] : []),
    ]);
  let fullProjects: string[] = [];
  if (limit !== undefined) {
    fullProjects = (
      await db
        .selectFrom('tasks')
        .select('project_id')
        .where('status', 'in', ACTIVE_STATUSES)
        .where(runs)
        .groupBy('project_id')
        .having((eb) => eb.fn.countAll(), '>=', limit)
        .execute()
    ).map((row) => row.project_id);
  }
  let pick = db
    .selectFrom('tasks')
    .select(['id', 'lease_epoch', 'project_id'])
    .where('status', 'in', ACTIVE_STATUSES)
    .where('run_at', '<=', options.now)
    .where((eb) => eb.or([eb('locked_by', 'is', null), eb('lease_expires_at', '<', options.now)]))
    .orderBy('run_at')
    .orderBy('created_at')
    .limit(1);
  if (options.kinds) pick = pick.where('kind', 'in', options.kinds as string[]);
  if (excluded.length) pick = pick.where('id', 'not in', excluded as string[]);
  if (fullProjects.length) pick = pick.where('project_id', 'not in', fullProjects);
  if (capabilities.supportsSkipLocked) pick = pick.forUpdate().skipLocked();
  const candidate = await pick.executeTakeFirst();
  if (!candidate) return undefined;
  const epoch = toNumber(candidate.lease_epoch);
  // Another process may be claiming a task of the same project at this moment: one at a
  // time (on PostgreSQL, whose claims run side by side); the UPDATE then counts again.
  if (limit !== undefined && capabilities.supportsRowLocks)
    await adapter.lockUntilCommit(db as Transaction<Database>, `claim:${candidate.project_id}`);
  let claim = db
    .updateTable('tasks')
    .set({ locked_by: options.owner, lease_epoch: epoch + 1, lease_expires_at: options.now + options.leaseMs, updated_at: options.now })
    .where('id', '=', candidate.id)
    .where('lease_epoch', '=', epoch);
  if (limit !== undefined) {
    claim = claim.where((eb) =>
      eb(
        eb
          .selectFrom('tasks as running')
          .select((inner) => inner.fn.countAll().as('count'))
          .where('running.project_id', '=', candidate.project_id)
          .where('running.status', 'in', ACTIVE_STATUSES)
          .where((inner) =>
            inner.or([
              inner.and([inner('running.locked_by', 'is not', null), inner('running.lease_expires_at', '>=', options.now)]),
              ...(excluded.length ? [inner('running.id', 'in', excluded as string[])] : []),
            ]),
          ),
        '<',
        limit,
      ),
    );
  }
  const row = await claim.returningAll().executeTakeFirst();
  return row ? taskRows.toRecord(row) : 'retry';
}
