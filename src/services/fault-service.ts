/**
 * The faults API (D13): add, list and clear injected faults of a project. Fair shares
 * (docs/security.md): adding one is refused unless the operator enabled tenant faults
 * (TENANT_FAULTS_DISABLED), and a delay may be at most `maxDelayMs` long; listing and clearing
 * always work.
 */
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { FaultMode, FaultPoint, FaultRecord } from '../domain/records.js';
import { FAULT_ACTION_NAMES } from '../domain/task.js';
import { AppError } from '../errors/app-error.js';
import type { Store } from '../store/store.js';

export interface AddFaultInput {
  clusterId?: string | null;
  actionName: string;
  step: string;
  mode: string;
  point?: string;
  delayMs?: number | null;
  times?: number | null;
}

const MODES: FaultMode[] = ['fail', 'delay', 'hang', 'crash'];
const POINTS: FaultPoint[] = ['before', 'during', 'after'];

export interface FaultSettings {
  /** accept faults at all (setting enableTenantFaults) */
  tenantFaults: boolean;
  /** accept mode `crash` (setting enableCrashFaults) */
  crashFaults: boolean;
  /** longest `delay_ms` (setting faultMaxDelayMs) */
  maxDelayMs: number;
}

export class FaultService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly settings: FaultSettings,
  ) {}

  async add(projectId: string, i: AddFaultInput): Promise<FaultRecord> {
    if (!this.settings.tenantFaults) throw new AppError('TENANT_FAULTS_DISABLED');
    if (!FAULT_ACTION_NAMES.includes(i.actionName))
      throw new AppError('VALIDATION', { args: [`action_name must be one of ${FAULT_ACTION_NAMES.join(', ')}`] });
    if (!/^(\*|[A-Z][A-Z0-9_]{0,63})$/.test(i.step))
      throw new AppError('VALIDATION', {
        args: ['step must be a step id such as BACKUP or BUILD_STANDBY_2 (see currentStep in the task details), or *'],
      });
    if (!MODES.includes(i.mode as FaultMode)) throw new AppError('VALIDATION', { args: [`mode must be one of ${MODES.join(', ')}`] });
    const point = (i.point ?? 'before') as FaultPoint;
    if (!POINTS.includes(point)) throw new AppError('VALIDATION', { args: [`point must be one of ${POINTS.join(', ')}`] });
    if (i.mode === 'crash' && !this.settings.crashFaults) throw new AppError('CRASH_FAULTS_DISABLED');
    if (i.mode === 'delay' && point !== 'before')
      throw new AppError('VALIDATION', { args: ['a delay may only postpone the start of a step: use point "before" (D14)'] });
    if (i.mode === 'hang' && point === 'during')
      throw new AppError('VALIDATION', { args: ['a hang stops a step before it starts or after its work: use point "before" or "after"'] });
    const maxDelay = this.settings.maxDelayMs;
    if (i.mode === 'delay' && (i.delayMs === undefined || i.delayMs === null || i.delayMs < 0 || i.delayMs > maxDelay)) {
      throw new AppError('VALIDATION', {
        args: [`delay_ms must be given for a delay, from 0 to ${maxDelay} (the service's setting faultMaxDelayMs)`],
      });
    }
    if (i.times !== undefined && i.times !== null && (!Number.isInteger(i.times) || i.times < 1 || i.times > 1000))
      throw new AppError('VALIDATION', { args: ['times must be an integer from 1 to 1000'] });
    if (i.clusterId && !(await this.store.getCluster(projectId, i.clusterId)))
      throw new AppError('CLUSTER_NOT_FOUND', { args: [i.clusterId] });
    const f: FaultRecord = {
      id: newId(),
      projectId,
      clusterId: i.clusterId ?? null,
      actionName: i.actionName,
      step: i.step,
      mode: i.mode as FaultMode,
      point,
      delayMs: i.delayMs ?? null,
      // A crash fault fires once unless told otherwise: every restart would otherwise crash again.
      timesLeft: i.times ?? (i.mode === 'crash' ? 1 : null),
      createdAt: this.clock.now(),
    };
    await this.store.insertFault(f);
    return f;
  }

  list(projectId: string): Promise<FaultRecord[]> {
    return this.store.listFaults(projectId);
  }

  async clear(projectId: string, id?: string): Promise<number> {
    const n = await this.store.deleteFaults(projectId, id);
    if (id && n === 0) throw new AppError('FAULT_NOT_FOUND', { args: [id] });
    return n;
  }
}
