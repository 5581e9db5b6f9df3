/**
 * Wire schemas of the parameter-configuration operations (issue 16, D28): the SDK's field names
 * (ClusterConfiguration, ConfigurationParameter, ConfigurationParameterUnit,
 * ConfigurationParameterValues, ConfigurationRecordResp); docs/api.md#parameters.
 */
import { Type } from '@sinclair/typebox';

export const ConfigurationParams = Type.Object({
  project_id: Type.String({ maxLength: 64 }),
  cluster_id: Type.String({ maxLength: 64 }),
  configuration_id: Type.String({ maxLength: 64, description: "the cluster's one configuration: its id is the cluster's id" }),
});

export const ClusterConfiguration = Type.Object({
  id: Type.String({ description: "the cluster's id" }),
  name: Type.String(),
  type: Type.String({ description: 'cluster' }),
  status: Type.Union([Type.Literal('In-Sync'), Type.Literal('Applying'), Type.Literal('Sync-Failure')], {
    description: 'Applying while a SETTING_CONFIGURATION task runs; Sync-Failure when the last one failed',
  }),
  fail_reason: Type.Optional(Type.String()),
});

export const ListClusterConfigurationsResponse = Type.Object({ configurations: Type.Array(ClusterConfiguration) });

export const ConfigurationParameter = Type.Object({
  name: Type.String({ description: 'the PostgreSQL name' }),
  values: Type.Array(
    Type.Object({
      type: Type.String({ description: 'dn: every member (a PostgreSQL server is both coordinator and data node)' }),
      value: Type.String({ description: "pg_settings.setting on the primary, in the parameter's unit" }),
      default_value: Type.String({ description: "PostgreSQL's built-in default (pg_settings.boot_val)" }),
    }),
  ),
  unit: Type.String({ description: 'pg_settings.unit (empty: none); a value is given in it, without a suffix' }),
  type: Type.String({ description: 'pg_settings.vartype: bool, integer, real, enum' }),
  readonly: Type.Boolean({ description: "true: the node type's (shown, not set here)" }),
  value_range: Type.String({ description: 'min-max for numbers (dwsbox may bound it tighter), the choices for enums and booleans' }),
  restart_required: Type.Boolean({ description: 'a change restarts every member (pg_settings.context postmaster)' }),
  pending_restart: Type.Boolean({
    description: "dwsbox extension: the primary's pg_settings.pending_restart (a value changed that only a restart applies)",
  }),
  description: Type.String(),
});

export const ListClusterConfigurationsParameterResponse = Type.Object({ configurations: Type.Array(ConfigurationParameter) });

export const UpdateConfigurationBody = Type.Object({
  configurations: Type.Array(
    Type.Object({
      type: Type.Optional(Type.String({ maxLength: 16, description: 'cn or dn: either sets the parameter on every member' })),
      name: Type.String({ minLength: 1, maxLength: 128 }),
      value: Type.String({ maxLength: 256 }),
    }),
    { minItems: 1, maxItems: 50 },
  ),
  restart_now: Type.Optional(
    Type.Boolean({
      description:
        "dwsbox extension: true restarts the members at once for a parameter that takes a restart; absent or false, that restart waits for the cluster's maintenance window (docs/api.md#the-maintenance-window)",
    }),
  ),
});

export const ListConfigurationsAuditRecordsQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  action_time: Type.Optional(Type.Integer({ description: 'accepted, not used' })),
  filter_by: Type.Optional(Type.String({ maxLength: 64, description: 'accepted, not used' })),
  filter: Type.Optional(Type.String({ maxLength: 256, description: 'accepted, not used' })),
});

export const ConfigurationRecord = Type.Object({
  id: Type.String({ description: "the task's id (a job id for ListJobDetails)" }),
  start_time: Type.String(),
  end_time: Type.Optional(Type.String()),
  status: Type.Union([Type.Literal('WAITING'), Type.Literal('RUNNING'), Type.Literal('SUCCESS'), Type.Literal('FAIL')]),
  failed_reason: Type.Optional(Type.String()),
  parameters: Type.Array(
    Type.Object({ name: Type.String(), old_value: Type.String(), new_value: Type.String(), restart_required: Type.Boolean() }),
    { description: 'dwsbox extension: what the update changed, the values before as the primary showed them' },
  ),
});

export const ListConfigurationsAuditRecordsResponse = Type.Object({ records: Type.Array(ConfigurationRecord), count: Type.Integer() });
