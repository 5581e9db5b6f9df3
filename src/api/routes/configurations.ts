/**
 * Parameter configurations (issue 16, D28): ListClusterConfigurations,
 * ListClusterConfigurationsParameter, UpdateConfiguration, ListConfigurationsAuditRecords —
 * the cluster's real PostgreSQL settings (services/configuration-service.ts,
 * domain/parameters.ts); an update is a SETTING_CONFIGURATION task.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppDeps } from '../app.js';
import { ClusterParams, Empty, errorResponses } from '../schemas/primitives.js';
import {
  ConfigurationParams,
  ListClusterConfigurationsParameterResponse,
  ListClusterConfigurationsResponse,
  ListConfigurationsAuditRecordsQuery,
  ListConfigurationsAuditRecordsResponse,
  UpdateConfigurationBody,
} from '../schemas/configurations.js';

const tags = ['parameters'];
const CONFIGURATIONS = '/:project_id/clusters/:cluster_id/configurations';

export const configurationRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const s = deps.clusters.configurations;

    app.get(
      `/v1.0${CONFIGURATIONS}`,
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "List a cluster's parameter configurations (ListClusterConfigurations)",
          description:
            "The cluster's one configuration: its id is the cluster's id; status Applying while a SETTING_CONFIGURATION task runs, Sync-Failure (with fail_reason) when the last one failed, else In-Sync.",
          params: ClusterParams,
          response: { 200: ListClusterConfigurationsResponse, ...errorResponses },
        },
      },
      async (req) => s.list(req.params.project_id, req.params.cluster_id),
    );

    app.get(
      `/v1.0${CONFIGURATIONS}/:configuration_id`,
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "A configuration's parameters (ListClusterConfigurationsParameter)",
          description:
            "The offered PostgreSQL parameters (and the node type's, read-only) as the running primary's pg_settings says: value, default, unit, range, whether a change restarts the members (docs/api.md#parameters).",
          params: ConfigurationParams,
          response: { 200: ListClusterConfigurationsParameterResponse, ...errorResponses },
        },
      },
      async (req) => s.parameters(req.params.project_id, req.params.cluster_id, req.params.configuration_id),
    );

    app.put(
      `/v2${CONFIGURATIONS}/:configuration_id`,
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Set parameters (UpdateConfiguration)',
          description:
            "Each value checked against the primary's pg_settings (type, range, choices) and the offered list before anything is made (400, nothing changed); then a SETTING_CONFIGURATION task applies every value; reload-only ones take effect at once. A restart the others need waits for the cluster's maintenance window as a task of its own (standbys first; the detail's pending_restart shows it), unless restart_now (a dwsbox field) asks for it within this task. Nothing to change: no task.",
          params: ConfigurationParams,
          body: UpdateConfigurationBody,
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.update(req.params.project_id, req.params.cluster_id, req.params.configuration_id, req.body.configurations, {
          restartNow: req.body.restart_now ?? false,
        });
        return {};
      },
    );

    app.post(
      '/v2/:project_id/clusters/:cluster_id/timezone',
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: "Set the cluster's time zone (ModifyClusterTimezone)",
          description:
            "PostgreSQL's timezone on every member, one of the zones the DWS API names (e.g. UTC, Asia/Shanghai, Europe/London), by a SETTING_CONFIGURATION task (a reload: no member restarts); job_id is that task. The detail's cluster_timezone shows it. Already in that zone: no task, and no job_id.",
          params: ClusterParams,
          body: Type.Object({ cluster_timezone: Type.String({ maxLength: 64 }) }),
          response: { 200: Type.Object({ job_id: Type.Optional(Type.String()) }), ...errorResponses },
        },
      },
      async (req) => {
        const task = await s.setTimezone(req.params.project_id, req.params.cluster_id, req.body.cluster_timezone);
        return task ? { job_id: task.id } : {};
      },
    );

    app.get(
      `/v1${CONFIGURATIONS}/audit-records`,
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "A cluster's parameter changes (ListConfigurationsAuditRecords)",
          description:
            'Every SETTING_CONFIGURATION task of the cluster, newest first: its times, status, failure and (a dwsbox extension) the parameters it changed with the values before.',
          params: ClusterParams,
          querystring: ListConfigurationsAuditRecordsQuery,
          response: { 200: ListConfigurationsAuditRecordsResponse, ...errorResponses },
        },
      },
      async (req) => s.auditRecords(req.params.project_id, req.params.cluster_id, req.query),
    );
  };
