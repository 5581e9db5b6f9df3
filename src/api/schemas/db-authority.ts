/**
 * Wire schemas of the privilege and object operations (issue 16, D28): the SDK's field names
 * (DatabasePermissionReq, GrantAuthority, ObjectAuthority, DatabaseObjectInfo, SchemaInfo).
 * Types and privileges are checked by domain/db-authority.ts, which names what PostgreSQL 15 has.
 */
import { Type } from '@sinclair/typebox';

const Name = Type.String({ minLength: 1, maxLength: 1024 });
const ObjectType = Type.String({
  maxLength: 16,
  description: 'DATABASE, SCHEMA, TABLE, VIEW, COLUMN, FUNCTION or SEQUENCE (NODEGROUP: no PostgreSQL meaning)',
});

export const DbAuthorityUserParams = Type.Object({
  project_id: Type.String({ maxLength: 64 }),
  cluster_id: Type.String({ maxLength: 64 }),
  name: Type.String({ minLength: 1, maxLength: 128 }),
});

export const DatabaseParams = Type.Object({
  project_id: Type.String({ maxLength: 64 }),
  cluster_id: Type.String({ maxLength: 64 }),
  database_name: Type.String({ minLength: 1, maxLength: 128 }),
});

const Paging = {
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
};

export const UpdateDatabaseAuthorityBody = Type.Object({
  type: ObjectType,
  is_grant: Type.Boolean({ description: 'true: GRANT grant_list; false: REVOKE revoke_list' }),
  grant_list: Type.Optional(
    Type.Array(
      Type.Object({
        permission: Type.String({ maxLength: 32 }),
        grant_with: Type.Optional(Type.Boolean({ description: 'WITH GRANT OPTION' })),
      }),
      {
        maxItems: 16,
      },
    ),
  ),
  revoke_list: Type.Optional(
    Type.Array(
      Type.Object({
        permission: Type.String({ maxLength: 32 }),
        revoke_with: Type.Optional(Type.Boolean({ description: 'only the grant option (REVOKE GRANT OPTION FOR)' })),
      }),
      { maxItems: 16 },
    ),
  ),
  role_list: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 100, description: 'roles, or PUBLIC' }),
  object_list: Type.Optional(
    Type.Array(Name, { maxItems: 1000, description: 'the objects (COLUMN: the columns of table); FUNCTION: name or name(argument types)' }),
  ),
  all_object: Type.Optional(
    Type.Boolean({
      description: 'every object of the type in the schema (SCHEMA: every schema but the system ones; DATABASE: every database)',
    }),
  ),
  cascade: Type.Optional(Type.Boolean({ description: 'a revoke: CASCADE' })),
  database: Type.String({ minLength: 1, maxLength: 128 }),
  schema: Type.Optional(Type.String({ maxLength: 128 })),
  table: Type.Optional(Type.String({ maxLength: 128 })),
});

export const UpdateDatabaseAuthorityResponse = Type.Object({
  view_sql: Type.Array(Type.String(), { description: 'the statements run, in one transaction' }),
});

export const ShowDatabaseAuthorityQuery = Type.Object({
  type: ObjectType,
  name: Type.Union([Name, Type.Array(Name, { minItems: 1, maxItems: 100 })]),
  database: Type.String({ minLength: 1, maxLength: 128 }),
  schema: Type.Optional(Type.String({ maxLength: 128 })),
  table: Type.Optional(Type.String({ maxLength: 128 })),
});

export const ShowDatabaseAuthorityResponse = Type.Object({
  authorities: Type.Array(
    Type.Object({
      name: Type.String(),
      role_authority: Type.Array(
        Type.Object({
          role: Type.String({ description: 'a role, or PUBLIC' }),
          right_list: Type.Array(Type.String(), {
            description: 'privileges as aclexplode names them; a grant option reads "… WITH GRANT OPTION"',
          }),
        }),
      ),
    }),
  ),
});

export const ListDatabaseUserAuthoritiesQuery = Type.Object(Paging);

export const ListDatabaseUserAuthoritiesResponse = Type.Object({
  authority_list: Type.Array(
    Type.Object({
      type: Type.String(),
      database: Type.String(),
      schema: Type.Optional(Type.String()),
      obj_name: Type.String({ description: 'the object (COLUMN: its table; FUNCTION: name(argument types))' }),
      column_name: Type.Optional(Type.Array(Type.String())),
      privileges: Type.Array(Type.Object({ permission: Type.String(), grant_with: Type.Boolean() })),
    }),
  ),
  count: Type.Integer(),
});

export const ListDatabaseObjectsQuery = Type.Object({
  type: ObjectType,
  name: Type.Optional(Type.String({ maxLength: 1024, description: 'only objects whose name holds this (case-insensitive)' })),
  database: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  schema: Type.Optional(Type.String({ maxLength: 128 })),
  table: Type.Optional(Type.String({ maxLength: 128 })),
  is_fine_grained_disaster: Type.Optional(
    Type.String({ maxLength: 8, description: 'accepted, no meaning (no fine-grained disaster recovery)' }),
  ),
  ...Paging,
});

export const ListDatabaseObjectsResponse = Type.Object({
  type: Type.String(),
  object_list: Type.Array(Type.Object({ obj_name: Type.String() })),
  count: Type.String({ description: 'a string, as the SDK types it' }),
});

export const ListSchemasQuery = Type.Object({
  sort_key: Type.Optional(Type.Literal('schemaName')),
  sort_dir: Type.Optional(Type.Union([Type.Literal('ASC'), Type.Literal('DESC')])),
  keywords: Type.Optional(Type.String({ maxLength: 128 })),
  ...Paging,
});

export const ListSchemasResponse = Type.Object({
  schemas: Type.Array(
    Type.Object({
      schema_name: Type.String(),
      database_name: Type.String(),
      total_value: Type.Number({ description: "bytes of the schema's relations on the primary, every fork" }),
      perm_space: Type.Integer({ description: '-1: no limit (PostgreSQL has no schema space limit)' }),
      skew_percent: Type.Number({ description: '0: one node holds the data' }),
      min_value: Type.Number(),
      max_value: Type.Number(),
      min_dn: Type.String({ description: 'the primary' }),
      max_dn: Type.String(),
      dn_num: Type.Integer({ description: '1: the primary; standbys are whole copies' }),
    }),
  ),
  count: Type.Integer(),
});
