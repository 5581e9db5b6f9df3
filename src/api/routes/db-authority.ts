/**
 * Database privileges and objects (issue 16, D28, D32): UpdateDatabaseAuthority,
 * ShowDatabaseAuthority, ListDatabaseUserAuthorities, ListDatabaseObjects and ListSchemas — real
 * GRANT / REVOKE and catalog reads on the cluster's primary, never beyond its administrator's
 * own power (services/db-authority-service.ts, domain/db-authority.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../app.js';
import { ClusterParams, errorResponses } from '../schemas/primitives.js';
import {
  DatabaseParams,
  DbAuthorityUserParams,
  ListDatabaseObjectsQuery,
  ListDatabaseObjectsResponse,
  ListDatabaseUserAuthoritiesQuery,
  ListDatabaseUserAuthoritiesResponse,
  ListSchemasQuery,
  ListSchemasResponse,
  ShowDatabaseAuthorityQuery,
  ShowDatabaseAuthorityResponse,
  UpdateDatabaseAuthorityBody,
  UpdateDatabaseAuthorityResponse,
} from '../schemas/db-authority.js';

const tags = ['database users'];
const MANAGER = '/v1/:project_id/clusters/:cluster_id/db-manager';

export const dbAuthorityRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app0) => {
    const app = app0.withTypeProvider<TypeBoxTypeProvider>();
    const s = deps.clusters.dbAuthority;

    app.post(
      `${MANAGER}/authority`,
      {
        config: { auth: 'mutate' },
        schema: {
          tags,
          summary: 'Grant or revoke privileges (UpdateDatabaseAuthority)',
          description:
            "GRANT or REVOKE PostgreSQL 15's privileges on databases, schemas, tables, views, columns, functions or sequences, in one transaction on the primary (replayed on every standby). Objects must be owned by the administrator or a database user, grantees must be database users, the administrator or PUBLIC (D32). Answers the statements run.",
          params: ClusterParams,
          body: UpdateDatabaseAuthorityBody,
          response: { 200: UpdateDatabaseAuthorityResponse, ...errorResponses },
        },
      },
      async (req) => s.update(req.params.project_id, req.params.cluster_id, req.body),
    );

    app.get(
      `${MANAGER}/authority`,
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'Show who holds what on objects (ShowDatabaseAuthority)',
          description:
            "Each object's ACL as the primary's aclexplode says (the owner's default privileges included when none was granted).",
          params: ClusterParams,
          querystring: ShowDatabaseAuthorityQuery,
          response: { 200: ShowDatabaseAuthorityResponse, ...errorResponses },
        },
      },
      async (req) => s.show(req.params.project_id, req.params.cluster_id, req.query),
    );

    app.get(
      `${MANAGER}/users/:name/authority`,
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "List a database user's privileges (ListDatabaseUserAuthorities)",
          description:
            'Every privilege granted to the role itself (not through PUBLIC or memberships), in every database that takes connections.',
          params: DbAuthorityUserParams,
          querystring: ListDatabaseUserAuthoritiesQuery,
          response: { 200: ListDatabaseUserAuthoritiesResponse, ...errorResponses },
        },
      },
      async (req) => s.userAuthorities(req.params.project_id, req.params.cluster_id, req.params.name, req.query),
    );

    app.get(
      `${MANAGER}/objects`,
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: 'List database objects (ListDatabaseObjects)',
          description:
            "Databases (that take connections), schemas, tables, views, columns, functions (name(argument types)) or sequences, from the primary's catalogs; NODEGROUP lists none (there are no node groups).",
          params: ClusterParams,
          querystring: ListDatabaseObjectsQuery,
          response: { 200: ListDatabaseObjectsResponse, ...errorResponses },
        },
      },
      async (req) => s.objects(req.params.project_id, req.params.cluster_id, req.query),
    );

    app.get(
      '/v2/:project_id/clusters/:cluster_id/databases/:database_name/schemas',
      {
        config: { auth: 'read' },
        schema: {
          tags,
          summary: "List a database's schemas and their space (ListSchemas)",
          description:
            'Every schema with the bytes of its relations on the primary (every fork); perm_space is -1 (PostgreSQL has no schema space limit; UpdateSchemas is not supported), one data node.',
          params: DatabaseParams,
          querystring: ListSchemasQuery,
          response: { 200: ListSchemasResponse, ...errorResponses },
        },
      },
      async (req) => s.schemas(req.params.project_id, req.params.cluster_id, req.params.database_name, req.query),
    );
  };
