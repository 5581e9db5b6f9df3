/** Snapshot-policy wire schemas (docs/snapshot-policies.md) and their mapping. */
import { Type, type Static } from '@sinclair/typebox';
import { Nullable } from './primitives.js';
import { snapshotTime } from '../../domain/time.js';
import type { PolicyPutInput, PolicyView } from '../../services/snapshot-policy-service.js';

const Str = (maxLength: number) => Type.Optional(Nullable(Type.String({ maxLength })));

export const BackupStrategyRequest = Type.Object({
  policy_id: Str(64),
  policy_name: Str(200),
  backup_strategy: Str(256),
  backup_type: Str(32),
  backup_level: Str(32),
  time_zone_offset: Type.Optional(Nullable(Type.Integer())),
  backup_database: Str(256),
  backup_schema_list: Str(8192),
  backup_table_list: Str(16384),
  /** read-only fields a client may echo back from GET; ignored */
  next_fire_time: Str(64),
  update_time: Str(64),
});

export const UpdateSnapshotPolicyBody = Type.Object({
  keep_day: Type.Optional(Nullable(Type.Integer())),
  backup_strategies: Type.Optional(Nullable(Type.Array(BackupStrategyRequest, { maxItems: 20 }))),
  device_name: Str(32),
  server_ips: Type.Optional(Nullable(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 16 }))),
  server_port: Str(16),
  backup_param: Str(2048),
  auto_backup: Type.Optional(Nullable(Type.Boolean())),
});
export type UpdateSnapshotPolicyBody = Static<typeof UpdateSnapshotPolicyBody>;

export const BackupStrategyDetail = Type.Object({
  policy_id: Type.String(),
  policy_name: Type.String(),
  backup_strategy: Type.String({
    description: 'Quartz-style cron expression (6 fields) or a one-off YYYY-MM-DDTHH:MM:SS, in the wall time of time_zone_offset',
  }),
  backup_type: Type.String({ description: 'full | increment' }),
  backup_level: Type.String({ description: 'cluster | schema | table' }),
  next_fire_time: Nullable(Type.String({ description: 'UTC, YYYY-MM-DDTHH:MM:SS; null when nothing will fire' })),
  update_time: Type.String({ description: 'UTC, YYYY-MM-DDTHH:MM:SS' }),
  time_zone_offset: Type.Integer({ description: 'hours east of UTC, 0 to 23' }),
  backup_database: Nullable(Type.String()),
  backup_schema_list: Nullable(Type.String()),
  backup_table_list: Nullable(Type.String()),
});

export const ListSnapshotPolicyResponse = Type.Object({
  keep_day: Type.Integer(),
  backup_strategies: Type.Array(BackupStrategyDetail),
  device_name: Type.String(),
  server_ips: Type.Array(Type.String()),
  server_port: Nullable(Type.String()),
  backup_param: Nullable(Type.String()),
  auto_backup: Type.Boolean(),
  backup_strategy_cluster_type_limit_num: Type.Integer(),
  backup_strategy_schema_type_limit_num: Type.Integer(),
});
export type ListSnapshotPolicyResponse = Static<typeof ListSnapshotPolicyResponse>;

const opt = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);

/** Wire → service input; `null` counts as absent. */
export function policyPutIn(b: UpdateSnapshotPolicyBody): PolicyPutInput {
  return {
    keepDay: opt(b.keep_day),
    deviceName: opt(b.device_name),
    serverIps: opt(b.server_ips),
    serverPort: opt(b.server_port),
    backupParam: opt(b.backup_param),
    autoBackup: opt(b.auto_backup),
    strategies: opt(b.backup_strategies)?.map((s) => ({
      policyId: opt(s.policy_id),
      policyName: opt(s.policy_name),
      backupStrategy: opt(s.backup_strategy),
      backupType: opt(s.backup_type),
      backupLevel: opt(s.backup_level),
      timeZoneOffset: opt(s.time_zone_offset),
      backupDatabase: opt(s.backup_database),
      backupSchemaList: opt(s.backup_schema_list),
      backupTableList: opt(s.backup_table_list),
    })),
  };
}

export function policyOut(v: PolicyView): ListSnapshotPolicyResponse {
  return {
    keep_day: v.settings.keepDay,
    backup_strategies: v.strategies.map((p) => ({
      policy_id: p.id,
      policy_name: p.name,
      backup_strategy: p.schedule,
      backup_type: p.backupType,
      backup_level: p.backupLevel,
      next_fire_time: p.nextFire === null ? null : snapshotTime(p.nextFire),
      update_time: snapshotTime(p.updatedAt),
      time_zone_offset: p.timeZoneOffset,
      backup_database: p.backupDatabase,
      backup_schema_list: p.backupSchemaList,
      backup_table_list: p.backupTableList,
    })),
    device_name: v.settings.deviceName,
    server_ips: v.settings.serverIps,
    server_port: v.settings.serverPort,
    backup_param: v.settings.backupParam,
    auto_backup: v.settings.autoBackup,
    backup_strategy_cluster_type_limit_num: v.clusterLevelLimit,
    backup_strategy_schema_type_limit_num: v.schemaLevelLimit,
  };
}
