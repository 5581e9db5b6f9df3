/**
 * The audit trail (issue 17): each authenticated mutating API call recorded after its answer
 * (`record`, given to the API edge: a failed write is logged, never fails the call), listed per
 * cluster (ListAuditLog), and pruned past `auditRetentionDays` a day of records at a time.
 */
import type { AuditRecord } from '../domain/audit.js';
import type { Clock } from '../domain/clock.js';
import { coerceError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { ClusterService } from './cluster-service.js';

const DAY = 86_400_000;

export class AuditService {
  constructor(
    private readonly deps: { store: Store; clock: Clock; log: Logger; retentionDays: number },
    private readonly clusters: Pick<ClusterService, 'get'>,
  ) {}

  /** Append one record; never throws (the call it records is answered already). */
  record(a: AuditRecord): void {
    this.deps.store.insertAuditRecord(a).catch((e: unknown) =>
      this.deps.log.error('an audit record could not be written', {
        requestId: a.requestId,
        route: a.route,
        error: coerceError(e).message,
      }),
    );
  }

  /** ListAuditLog: a cluster's records, newest first. */
  async list(projectId: string, clusterId: string, offset: number, limit: number): Promise<{ records: AuditRecord[]; count: number }> {
    await this.clusters.get(projectId, clusterId);
    return this.deps.store.listAuditRecords({ projectId, clusterId, limit, offset });
  }

  /** Remove records past the retention, a day of them a call. */
  prune(): Promise<number> {
    return this.deps.store.pruneAuditRecords(this.deps.clock.now() - this.deps.retentionDays * DAY, DAY);
  }
}
