/**
 * Database users (issue 16, D28, D32): CreateDatabaseUser, ListDatabaseUsers, ShowDatabaseUser,
 * UpdateDatabaseUserInfo, DeleteDatabaseUser — real roles on the cluster's primary, never
 * beyond its administrator's own power (services/db-user-service.ts, domain/db-users.ts); and
 * SyncIamUsers, ListSyncRecords: the project's dwsbox users as roles (services/db-sync-service.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppDeps } from '../app.js';
import { sendXlsx, xlsxOf } from '../xlsx.js';
import { ClusterParams, Empty, errorResponses } from '../schemas/primitives.js';
import {
  CreateDatabaseUserBody,
  DbUserParams,
  DeleteDatabaseUserQuery,
  ExportDatabaseUsersQuery,
  ListDatabaseUsersQuery,
  ListDatabaseUsersResponse,
  ListSyncRecordsQuery,
  ListSyncRecordsResponse,
  ShowDatabaseUserResponse,
  SyncIamUsersResponse,
  UpdateDatabaseUserBody,
} from '../schemas/db-users.js';

const tags = ['database users'];
const USERS = '/v1/:project_id/clusters/:cluster_id/db-manager/users';

export const dbUserRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const s = deps.clusters.dbUsers;

    app.post(
      USERS,
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Create a database user or role (CreateDatabaseUser)',
          description:
            "A real role on the cluster's primary: login, create_db, inherit, conn_limit, password (a SCRAM verifier), password_disable, desc (its comment), grant_members (memberships the administrator holds). SUPERUSER, CREATEROLE, logical clusters and object grants are refused (docs/api.md#database-users).",
          params: ClusterParams,
          body: CreateDatabaseUserBody,
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.create(req.params.project_id, req.params.cluster_id, req.body);
        return {};
      },
    );

    app.get(
      USERS,
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "List a cluster's database users (ListDatabaseUsers)",
          description:
            "Every role of the primary's pg_roles but the built-in (pg_…, postgres) and dwsbox's own (dwsbox_…), by name; type USER (log in) or ROLE (do not); user_type IAM lists the roles SyncIamUsers made (shown user_type IAM), COMMON the others, OneAccess none.",
          params: ClusterParams,
          querystring: ListDatabaseUsersQuery,
          response: { 200: ListDatabaseUsersResponse, ...errorResponses },
        },
      },
      async (req) => s.list(req.params.project_id, req.params.cluster_id, req.query),
    );

    app.get(
      `${USERS}/export`,
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "Export a cluster's database users as a spreadsheet (ExportDatabaseUsers)",
          description:
            'An XLSX file (application/octet-stream, as DWS sends it): one row per user ListDatabaseUsers lists, with what ShowDatabaseUser shows of it; type USER or ROLE filters, offset and limit (default 10000) page.',
          params: ClusterParams,
          querystring: ExportDatabaseUsersQuery,
          response: errorResponses,
        },
      },
      async (req, reply) => {
        const rows = await s.exportRows(req.params.project_id, req.params.cluster_id, req.query);
        const file = await xlsxOf(
          ['name', 'type', 'login', 'createdb', 'inherit', 'conn_limit', 'valid_until', 'member_of', 'desc'],
          rows.map((u) => [
            u.name,
            u.login ? 'USER' : 'ROLE',
            u.login,
            u.createdb,
            u.inherit,
            u.conn_limit,
            u.valid_until === undefined ? null : new Date(u.valid_until).toISOString(),
            u.member_of.join(', '),
            u.desc ?? null,
          ]),
        );
        return sendXlsx(reply, `${req.params.cluster_id}-database-users`, file);
      },
    );

    app.get(
      `${USERS}/:name/authority/export`,
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "Export a database user's privileges as a spreadsheet (ExportUserAuthority)",
          description:
            'An XLSX file (application/octet-stream): one row per privilege ListDatabaseUserAuthorities lists (type, database, schema, object, column, permission, grant option); offset and limit (default 10000) page the objects.',
          params: DbUserParams,
          querystring: Type.Object({
            offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          }),
          response: errorResponses,
        },
      },
      async (req, reply) => {
        const { authority_list } = await deps.clusters.dbAuthority.userAuthorities(
          req.params.project_id,
          req.params.cluster_id,
          req.params.name,
          {
            offset: req.query.offset ?? 0,
            limit: req.query.limit ?? 10_000,
          },
        );
        const file = await xlsxOf(
          ['type', 'database', 'schema', 'object', 'column', 'permission', 'grant_with'],
          authority_list.flatMap((a) =>
            a.privileges.map((p) => [
              a.type,
              a.database,
              a.schema ?? null,
              a.obj_name,
              a.column_name?.join(', ') ?? null,
              p.permission,
              p.grant_with,
            ]),
          ),
        );
        return sendXlsx(reply, `${req.params.cluster_id}-${req.params.name}-authority`, file);
      },
    );

    app.get(
      `${USERS}/:name`,
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'Show a database user (ShowDatabaseUser)',
          description:
            "The role as the primary's pg_roles says; auditadmin, useft, valid_begin, lock and logical_cluster have no PostgreSQL source and are absent.",
          params: DbUserParams,
          response: { 200: ShowDatabaseUserResponse, ...errorResponses },
        },
      },
      async (req) => s.show(req.params.project_id, req.params.cluster_id, req.params.name),
    );

    app.post(
      `${USERS}/:name`,
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Change a database user (UpdateDatabaseUserInfo)',
          description:
            'ALTER ROLE: login, createdb, inherit, conn_limit, valid_until, and the dwsbox extension password. systemadmin, createrole, replication, auditadmin, useft, valid_begin and lock: true are refused; the administrator itself changes through ResetPassword.',
          params: DbUserParams,
          body: UpdateDatabaseUserBody,
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.update(req.params.project_id, req.params.cluster_id, req.params.name, req.body);
        return {};
      },
    );

    const MANAGER = '/v1/:project_id/clusters/:cluster_id/db-manager';
    app.post(
      `${MANAGER}/sync-iam-user`,
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: "Sync the project's dwsbox users into database roles (SyncIamUsers)",
          description:
            'Each dwsbox user of the project (`dwsbox users create`) becomes a role of the cluster: LOGIN with no password (nobody logs in until the administrator sets one with UpdateDatabaseUserInfo), nothing above a database user; a user deleted since the last sync has its synced role dropped (what it owns handed to the administrator). Names that cannot be a database user, reserved ones and names of roles the sync did not make are counted failed, never touched. At once; recorded (ListSyncRecords). 409 while the cluster is not available, is read-only, or another sync of it runs (docs/api.md#iam-user-sync).',
          params: ClusterParams,
          response: { 200: SyncIamUsersResponse, ...errorResponses },
        },
      },
      async (req) => s.sync.sync(req.params.project_id, req.params.cluster_id),
    );

    app.get(
      `${MANAGER}/sync-records`,
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "List a cluster's user syncs (ListSyncRecords)",
          description:
            'Every SyncIamUsers of the cluster, newest first, with its real start and end (epoch ms), counts, status and failures; offset and limit (default 1000) page, count is the total.',
          params: ClusterParams,
          querystring: ListSyncRecordsQuery,
          response: { 200: ListSyncRecordsResponse, ...errorResponses },
        },
      },
      async (req) => s.sync.records(req.params.project_id, req.params.cluster_id, req.query.offset ?? 0, req.query.limit ?? 1000),
    );

    const OmUserInfo = Type.Object({
      om_user_info: Type.Object({
        om_user_status: Type.Union([Type.Literal('on'), Type.Literal('off')]),
        om_user_expires_time: Type.Optional(Type.Number({ description: 'epoch ms: its VALID UNTIL' })),
      }),
    });
    const OM = '/v1/:project_id/clusters/:cluster_id/db-manager/om-user';
    app.post(
      `${OM}/action`,
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Switch the O&M account on or off (ExecuteDatabaseOmUserAction)',
          description:
            'addOmUser: the role dwsbox_om, LOGIN, VALID UNTIL 8 hours from now, a member of the administrator only (its rights, never more), no password until the operator of the service sets one on the host; increaseOmUserPeriod: 8 hours from now again; deleteOmUser: dropped, its sessions ended, what it made handed to the administrator (docs/api.md#the-om-account).',
          params: ClusterParams,
          body: Type.Object({ operation: Type.String({ maxLength: 64 }) }),
          response: { 200: OmUserInfo, ...errorResponses },
        },
      },
      async (req) => s.omAction(req.params.project_id, req.params.cluster_id, req.body.operation),
    );

    app.get(
      `${OM}/status`,
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'Show the O&M account (ShowDatabaseOmUserStatus)',
          description: "on while dwsbox_om can log in and has not expired, as the primary's pg_roles says; its expiry.",
          params: ClusterParams,
          response: { 200: OmUserInfo, ...errorResponses },
        },
      },
      async (req) => s.omStatus(req.params.project_id, req.params.cluster_id),
    );

    app.delete(
      `${USERS}/:name`,
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Drop a database user (DeleteDatabaseUser)',
          description:
            'DROP ROLE; cascade=true first drops what it owns and revokes what it holds in every database (DROP OWNED BY), else a user that owns or holds anything is refused (409 DWS.9973).',
          params: DbUserParams,
          querystring: DeleteDatabaseUserQuery,
          response: { 200: Empty, ...errorResponses },
        },
      },
      async (req) => {
        await s.delete(req.params.project_id, req.params.cluster_id, req.params.name, req.query.cascade ?? false);
        return {};
      },
    );
  };
