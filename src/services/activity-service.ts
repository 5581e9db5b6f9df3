/**
 * What runs on a cluster and how its tables fare, read live (issue 17, D29): ListQueries and
 * ShowQueryDetail from `pg_stat_activity` of every running member, ListTablesStatistic from
 * the primary's `pg_stat_user_tables` (domain/activity.ts shapes the answers).
 */
import { parseQueryId, type MemberSession, type TableStatRow } from '../domain/activity.js';
import { AppError } from '../errors/app-error.js';
import type { DataPlane } from '../dataplane/data-plane.js';
import type { Store } from '../store/store.js';
import type { ClusterService } from './cluster-service.js';
import { runningMembers } from './running-members.js';

export class ActivityService {
  constructor(
    private readonly deps: { store: Store; dataPlane: DataPlane },
    private readonly clusters: Pick<ClusterService, 'get'>,
  ) {}

  /** Every tenant session of every running member, read now. */
  async sessions(projectId: string, clusterId: string): Promise<MemberSession[]> {
    const c = await this.clusters.get(projectId, clusterId);
    const { members } = await runningMembers(this.deps, c, 'list its queries');
    const per = await Promise.all(
      members.map(async (n) => (await this.deps.dataPlane.memberSessions(c, n)).map((s) => ({ ...s, ordinal: n.ordinal }))),
    );
    return per.flat();
  }

  /** The session running query `queryId` now (404 when that run of that statement is over: its session idle, or on another). */
  async session(projectId: string, clusterId: string, queryId: string): Promise<MemberSession> {
    const id = parseQueryId(queryId);
    const c = await this.clusters.get(projectId, clusterId);
    const notFound = () => new AppError('QUERY_NOT_FOUND', { args: [queryId, c.name] });
    if (!id) throw notFound();
    const { members } = await runningMembers(this.deps, c, 'show its queries');
    const member = members.find((n) => n.ordinal === id.ordinal);
    if (!member) throw notFound();
    const s = (await this.deps.dataPlane.memberSessions(c, member)).find(
      (x) => x.pid === id.pid && Math.round(x.queryStart ?? 0) === id.queryStart && x.state === 'active',
    );
    if (!s) throw notFound();
    return { ...s, ordinal: member.ordinal };
  }

  /** Every user table of the primary, read now. */
  async tables(projectId: string, clusterId: string): Promise<TableStatRow[]> {
    const c = await this.clusters.get(projectId, clusterId);
    const { primary } = await runningMembers(this.deps, c, 'read its table statistics');
    return this.deps.dataPlane.tableStatistics(c, primary);
  }
}
