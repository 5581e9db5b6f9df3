/**
 * Snapshot-policy use cases (docs/snapshot-policies.md): a cluster's automated-snapshot
 * settings (`keep_day`, device, `auto_backup`) and its backup strategies, each a schedule
 * that the snapshot scheduler fires. PUT adds strategies (or updates one named by its
 * `policy_id`) and changes the settings it names; DELETE removes one strategy.
 */
import { isIP } from 'node:net';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import {
  BACKUP_LEVELS,
  POLICY_BACKUP_TYPES,
  closestFireGap,
  nextFireAfter,
  parseSchedule,
  showDuration,
  shownNextFire,
  type BackupLevel,
  type PolicyBackupType,
  type PolicySettingsRecord,
  type SnapshotPolicyRecord,
} from '../domain/snapshot-policy.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import { fineGrainedOf } from './snapshot-request.js';

/** dwsbox's limits on a cluster's strategies (GET reports them as `backup_strategy_*_type_limit_num`). */
export const MAX_CLUSTER_LEVEL_STRATEGIES = 5;
export const MAX_SCHEMA_LEVEL_STRATEGIES = 5;
/** `keep_day` when no PUT has set it. */
export const DEFAULT_KEEP_DAY = 7;
export const KEEP_DAY_MIN = 1;
export const KEEP_DAY_MAX = 31;
export const TIME_ZONE_OFFSET_MIN = 0;
export const TIME_ZONE_OFFSET_MAX = 23;
const POLICY_NAME_RE = /^[A-Za-z][A-Za-z0-9_-]*$/;
const DEVICES = ['OBS', 'NBU', 'NFS'] as const;

/** One `backup_strategies[]` item of a PUT, in camelCase; absent fields keep the strategy's values (or the defaults, for a new one). */
export interface StrategyInput {
  /** update this strategy instead of adding one */
  policyId?: string | undefined;
  policyName?: string | undefined;
  backupStrategy?: string | undefined;
  backupType?: string | undefined;
  backupLevel?: string | undefined;
  timeZoneOffset?: number | undefined;
  backupDatabase?: string | null | undefined;
  backupSchemaList?: string | null | undefined;
  backupTableList?: string | null | undefined;
}

/** A PUT body in camelCase; absent fields are left as they are. */
export interface PolicyPutInput {
  keepDay?: number | undefined;
  strategies?: StrategyInput[] | undefined;
  deviceName?: string | undefined;
  serverIps?: string[] | undefined;
  serverPort?: string | undefined;
  backupParam?: string | undefined;
  autoBackup?: boolean | undefined;
}

/** A strategy as GET shows it (times in epoch ms; the route formats them). */
export interface StrategyView extends SnapshotPolicyRecord {
  /** when it fires next (null: never, or automated backup is off) */
  nextFire: number | null;
}

export interface PolicyView {
  /** the cluster's settings (the defaults when no PUT has set them) */
  settings: PolicySettingsRecord;
  /** live strategies, oldest first */
  strategies: StrategyView[];
  /** most cluster-level strategies, and most schema- and table-level ones together, a cluster may have */
  clusterLevelLimit: number;
  schemaLevelLimit: number;
}

export interface SnapshotPolicyServiceDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  /** shortest time between two fires of a strategy (setting policyMinIntervalMs); a schedule that fires more often is refused at PUT */
  minIntervalMs?: number;
}

/** Refuse a schedule whose consecutive fire times come closer than `minIntervalMs` (POLICY_TOO_FREQUENT, 400). */
export function checkScheduleInterval(field: string, text: string, minIntervalMs: number, now: number): void {
  const gap = closestFireGap(parseSchedule(text), now, minIntervalMs);
  if (gap !== null && gap < minIntervalMs) {
    throw new AppError('POLICY_TOO_FREQUENT', {
      args: [`${field} "${text.slice(0, 100)}"`, showDuration(gap), showDuration(minIntervalMs)],
    });
  }
}

/** Split a comma-separated list, keeping commas inside double quotes (a quoted identifier may hold one). */
export function splitList(s: string | null | undefined): string[] {
  if (!s) return [];
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out.filter((x) => x.length > 0);
}

export class SnapshotPolicyService {
  constructor(private readonly deps: SnapshotPolicyServiceDeps) {}

  private async cluster(store: Store, projectId: string, clusterId: string) {
    const c = await store.getCluster(projectId, clusterId);
    if (!c) throw new AppError('CLUSTER_NOT_FOUND', { args: [clusterId] });
    return c;
  }

  /** GET: the settings (defaults when none were set) and the live strategies, each with its true next fire time. */
  async get(projectId: string, clusterId: string): Promise<PolicyView> {
    await this.cluster(this.deps.store, projectId, clusterId);
    const now = this.deps.clock.now();
    const settings = (await this.deps.store.getPolicySettings(clusterId)) ?? defaultSettings(projectId, clusterId, now);
    const strategies = (await this.deps.store.listPolicies(clusterId)).map((p) => ({
      ...p,
      nextFire: settings.autoBackup ? shownNextFire(parseSchedule(p.schedule), p.timeZoneOffset, p.nextFireAt, now) : null,
    }));
    return { settings, strategies, clusterLevelLimit: MAX_CLUSTER_LEVEL_STRATEGIES, schemaLevelLimit: MAX_SCHEMA_LEVEL_STRATEGIES };
  }

  /**
   * PUT: validate everything first, then in one transaction save the settings it names and add
   * or update the strategies it lists. Nothing changes when any part is refused (400, 404 for
   * an unknown cluster or policy_id, 409 for a duplicate policy_name).
   */
  async put(projectId: string, clusterId: string, i: PolicyPutInput): Promise<void> {
    if (i.keepDay !== undefined && (!Number.isInteger(i.keepDay) || i.keepDay < KEEP_DAY_MIN || i.keepDay > KEEP_DAY_MAX)) {
      throw new AppError('VALIDATION', { args: [`keep_day must be an integer from ${KEEP_DAY_MIN} to ${KEEP_DAY_MAX}, got ${i.keepDay}`] });
    }
    if (i.deviceName !== undefined) {
      const dev = i.deviceName.toUpperCase();
      if (!(DEVICES as readonly string[]).includes(dev))
        throw new AppError('VALIDATION', {
          args: [`device_name must be one of ${DEVICES.join(', ')}, got "${i.deviceName.slice(0, 40)}"`],
        });
      if (dev !== 'OBS')
        throw new AppError('NOT_SUPPORTED', {
          args: [`device_name ${dev}`, "snapshots go to the cluster's pgBackRest repository; use OBS (or leave device_name out)"],
        });
    }
    for (const [n, ip] of (i.serverIps ?? []).entries()) {
      if (!isIP(ip))
        throw new AppError('VALIDATION', { args: [`server_ips[${n}] must be an IP address, got "${String(ip).slice(0, 60)}"`] });
    }
    if (i.serverPort !== undefined && i.serverPort !== '' && !/^\d{1,5}$/.test(i.serverPort))
      throw new AppError('VALIDATION', { args: [`server_port must be a port number, got "${i.serverPort.slice(0, 20)}"`] });
    if (i.backupParam !== undefined && i.backupParam.length > 1024)
      throw new AppError('VALIDATION', { args: ['backup_param must be at most 1024 characters'] });
    const strategies = i.strategies ?? [];
    const now = this.deps.clock.now();
    await this.deps.store.transaction(async (tx) => {
      await this.cluster(tx, projectId, clusterId);
      const old = await tx.getPolicySettings(clusterId);
      const settings: PolicySettingsRecord = {
        ...(old ?? defaultSettings(projectId, clusterId, now)),
        ...(i.keepDay !== undefined ? { keepDay: i.keepDay } : {}),
        ...(i.deviceName !== undefined ? { deviceName: i.deviceName.toUpperCase() } : {}),
        ...(i.serverIps !== undefined ? { serverIps: i.serverIps } : {}),
        ...(i.serverPort !== undefined ? { serverPort: i.serverPort } : {}),
        ...(i.backupParam !== undefined ? { backupParam: i.backupParam } : {}),
        ...(i.autoBackup !== undefined ? { autoBackup: i.autoBackup } : {}),
        updatedAt: now,
      };
      await tx.savePolicySettings(settings);
      const live = await tx.listPolicies(clusterId);
      if (old && !old.autoBackup && settings.autoBackup) {
        // Automated backup back on: every strategy starts from now; slots passed while it was off never fire.
        for (const [k, p] of live.entries()) {
          const nextFireAt = nextFireAfter(parseSchedule(p.schedule), p.timeZoneOffset, now);
          await tx.updatePolicy(p.id, { nextFireAt });
          live[k] = { ...p, nextFireAt };
        }
      }
      for (const [n, s] of strategies.entries()) {
        const prior = s.policyId !== undefined ? live.find((p) => p.id === s.policyId) : undefined;
        if (s.policyId !== undefined && !prior) throw new AppError('SNAPSHOT_POLICY_NOT_FOUND', { args: [s.policyId, clusterId] });
        const rec = strategyRecord(`backup_strategies[${n}]`, s, prior, { projectId, clusterId, now });
        // Fair shares (docs/security.md): a strategy fires at most once every policyMinIntervalMs.
        if (this.deps.minIntervalMs !== undefined)
          checkScheduleInterval(`backup_strategies[${n}].backup_strategy`, rec.schedule, this.deps.minIntervalMs, now);
        if (prior) {
          await tx.updatePolicy(prior.id, rec);
          live.splice(live.indexOf(prior), 1, rec);
        } else {
          await tx.insertPolicy(rec);
          live.push(rec);
        }
      }
      const fine = live.filter((p) => p.backupLevel !== 'cluster').length;
      if (live.length - fine > MAX_CLUSTER_LEVEL_STRATEGIES)
        throw new AppError('VALIDATION', { args: [`a cluster has at most ${MAX_CLUSTER_LEVEL_STRATEGIES} cluster-level strategies`] });
      if (fine > MAX_SCHEMA_LEVEL_STRATEGIES)
        throw new AppError('VALIDATION', {
          args: [`a cluster has at most ${MAX_SCHEMA_LEVEL_STRATEGIES} schema- and table-level strategies`],
        });
    });
    this.deps.log.info('snapshot policy saved', { projectId, clusterId, strategies: strategies.length, keepDay: i.keepDay });
  }

  /** DELETE one strategy: it fires no more; its AUTO snapshots stay (retention still applies to them). */
  async delete(projectId: string, clusterId: string, policyId: string): Promise<void> {
    const now = this.deps.clock.now();
    await this.deps.store.transaction(async (tx) => {
      await this.cluster(tx, projectId, clusterId);
      const p = await tx.getPolicy(policyId);
      if (!p || p.deletedAt !== null || p.clusterId !== clusterId || p.projectId !== projectId)
        throw new AppError('SNAPSHOT_POLICY_NOT_FOUND', { args: [policyId, clusterId] });
      await tx.updatePolicy(policyId, { deletedAt: now, updatedAt: now, nextFireAt: null });
    });
    this.deps.log.info('snapshot policy deleted', { projectId, clusterId, policyId });
  }
}

function defaultSettings(projectId: string, clusterId: string, now: number): PolicySettingsRecord {
  return {
    clusterId,
    projectId,
    keepDay: DEFAULT_KEEP_DAY,
    deviceName: 'OBS',
    serverIps: [],
    serverPort: null,
    backupParam: null,
    autoBackup: true,
    createdAt: now,
    updatedAt: now,
  };
}

/** Validate one strategy of a PUT (a new one, or changes to `prior`) and build its record, cursor included. */
function strategyRecord(
  field: string,
  s: StrategyInput,
  prior: SnapshotPolicyRecord | undefined,
  o: { projectId: string; clusterId: string; now: number },
): SnapshotPolicyRecord {
  const name = s.policyName ?? prior?.name;
  if (name === undefined) throw new AppError('VALIDATION', { args: [`${field}.policy_name is required for a new strategy`] });
  if (name.length < 4 || name.length > 92)
    throw new AppError('INVALID_STRING_LENGTH', {
      args: [`${field}.policy_name`, `"${name.slice(0, 100)}" must be 4 to 92 characters long`],
    });
  if (!POLICY_NAME_RE.test(name))
    throw new AppError('INVALID_NAME', {
      args: [`${field}.policy_name`, `"${name}" must start with a letter and contain only letters, digits, - and _`],
    });
  const scheduleText = s.backupStrategy ?? prior?.schedule;
  if (scheduleText === undefined) throw new AppError('VALIDATION', { args: [`${field}.backup_strategy is required for a new strategy`] });
  if (scheduleText.length > 256) throw new AppError('VALIDATION', { args: [`${field}.backup_strategy must be at most 256 characters`] });
  const schedule = parseSchedule(scheduleText);
  const backupType = (s.backupType ?? prior?.backupType ?? 'increment') as PolicyBackupType;
  if (!POLICY_BACKUP_TYPES.includes(backupType))
    throw new AppError('VALIDATION', {
      args: [`${field}.backup_type must be full or increment, got "${String(s.backupType).slice(0, 40)}"`],
    });
  const level = (s.backupLevel ?? prior?.backupLevel ?? 'cluster') as BackupLevel;
  if (!BACKUP_LEVELS.includes(level))
    throw new AppError('VALIDATION', {
      args: [`${field}.backup_level must be cluster, schema or table, got "${String(s.backupLevel).slice(0, 40)}"`],
    });
  const tz = s.timeZoneOffset ?? prior?.timeZoneOffset ?? 0;
  if (!Number.isInteger(tz) || tz < TIME_ZONE_OFFSET_MIN || tz > TIME_ZONE_OFFSET_MAX) {
    throw new AppError('VALIDATION', {
      args: [
        `${field}.time_zone_offset must be an integer from ${TIME_ZONE_OFFSET_MIN} to ${TIME_ZONE_OFFSET_MAX} (hours east of UTC), got ${tz}`,
      ],
    });
  }
  const pick = (v: string | null | undefined, old: string | null | undefined): string | null =>
    v !== undefined ? (v === '' ? null : v) : (old ?? null);
  let database = pick(s.backupDatabase, prior?.backupDatabase);
  let schemaList = pick(s.backupSchemaList, prior?.backupSchemaList);
  let tableList = pick(s.backupTableList, prior?.backupTableList);
  if (level === 'cluster' && s.backupLevel !== undefined && prior && prior.backupLevel !== 'cluster') {
    // Changed to cluster level: the old level's objects no longer apply.
    database = s.backupDatabase ? database : null;
    schemaList = s.backupSchemaList ? schemaList : null;
    tableList = s.backupTableList ? tableList : null;
  }
  if (level === 'schema' && s.backupLevel !== undefined && !s.backupTableList) tableList = null;
  if (level === 'table' && s.backupLevel !== undefined && !s.backupSchemaList) schemaList = null;
  // The same rules as a schema- or table-level snapshot request (names, counts, system schemas).
  try {
    fineGrainedOf({
      clusterId: o.clusterId,
      name: 'policy',
      type: 'AUTO',
      level,
      database: database ?? undefined,
      schemas: splitList(schemaList),
      tables: splitList(tableList),
    });
  } catch (e) {
    if (e instanceof AppError) throw new AppError('VALIDATION', { args: [`${field}: ${e.message.replace(/^Invalid request: /, '')}`] });
    throw e;
  }
  const scheduleChanged = !prior || prior.schedule !== scheduleText || prior.timeZoneOffset !== tz;
  return {
    id: prior?.id ?? newId(),
    projectId: o.projectId,
    clusterId: o.clusterId,
    name,
    schedule: scheduleText,
    backupType,
    backupLevel: level,
    timeZoneOffset: tz,
    backupDatabase: database,
    backupSchemaList: schemaList,
    backupTableList: tableList,
    // A new or rescheduled strategy starts from now: slots before the change never fire.
    nextFireAt: scheduleChanged ? nextFireAfter(schedule, tz, o.now) : prior.nextFireAt,
    createdAt: prior?.createdAt ?? o.now,
    updatedAt: o.now,
    deletedAt: null,
  };
}
