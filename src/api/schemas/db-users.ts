/**
 * Wire schemas of the database-user operations (issue 16, D28): the SDK's field names
 * (UserAuthorityReq, DatabaseUserInfoReq, DatabaseUser, ShowDatabaseUserResponse); a field
 * with no PostgreSQL source is absent from the answers (docs/api.md#database-users).
 */
import { Type, type Static } from '@sinclair/typebox';

const RoleName = Type.String({ minLength: 1, maxLength: 128 });

export const DbUserParams = Type.Object({
  project_id: Type.String({ maxLength: 64 }),
  cluster_id: Type.String({ maxLength: 64 }),
  name: RoleName,
});

export const CreateDatabaseUserBody = Type.Object({
  name: RoleName,
  type: Type.Union([Type.Literal('USER'), Type.Literal('ROLE')], { description: 'USER logs in by default, ROLE does not' }),
  login: Type.Optional(Type.Boolean()),
  password: Type.Optional(Type.String({ maxLength: 64, description: 'the DWS password rules; stored as a SCRAM verifier' })),
  system_admin: Type.Optional(Type.Boolean({ description: 'true is refused (SUPERUSER: beyond the administrator)' })),
  logical_cluster: Type.Optional(Type.String({ maxLength: 128, description: 'refused when not empty (no logical clusters)' })),
  password_disable: Type.Optional(Type.Boolean({ description: 'true: PASSWORD NULL (no password login)' })),
  create_role: Type.Optional(Type.Boolean({ description: 'true is refused (CREATEROLE: beyond the administrator)' })),
  create_db: Type.Optional(Type.Boolean()),
  inherit: Type.Optional(Type.Boolean()),
  conn_limit: Type.Optional(Type.Integer({ description: 'CONNECTION LIMIT; -1: none' })),
  grant_members: Type.Optional(
    Type.Array(RoleName, { maxItems: 100, description: "roles it becomes a member of: only those within the administrator's own power" }),
  ),
  grant_list: Type.Optional(
    Type.Array(Type.Unknown(), {
      maxItems: 100,
      description: 'refused when not empty: grant with UpdateDatabaseAuthority once the user exists',
    }),
  ),
  desc: Type.Optional(Type.String({ maxLength: 256, description: 'COMMENT ON ROLE' })),
});
export type CreateDatabaseUserBody = Static<typeof CreateDatabaseUserBody>;

export const UpdateDatabaseUserBody = Type.Object({
  login: Type.Optional(Type.Boolean()),
  createrole: Type.Optional(Type.Boolean({ description: 'true is refused (beyond the administrator)' })),
  createdb: Type.Optional(Type.Boolean()),
  systemadmin: Type.Optional(Type.Boolean({ description: 'true is refused (SUPERUSER)' })),
  auditadmin: Type.Optional(Type.Boolean({ description: 'true is refused: no PostgreSQL meaning' })),
  inherit: Type.Optional(Type.Boolean()),
  useft: Type.Optional(Type.Boolean({ description: 'true is refused: no PostgreSQL meaning' })),
  conn_limit: Type.Optional(Type.Integer({ description: 'CONNECTION LIMIT; -1: none' })),
  replication: Type.Optional(Type.Boolean({ description: 'true is refused (REPLICATION)' })),
  valid_begin: Type.Optional(Type.String({ maxLength: 64, description: 'refused when not empty: PostgreSQL has no VALID BEGIN' })),
  valid_until: Type.Optional(Type.String({ maxLength: 64, description: 'VALID UNTIL: ISO 8601 (no offset: UTC) or infinity' })),
  lock: Type.Optional(Type.Boolean({ description: 'true is refused (no account lock apart from NOLOGIN: send login false)' })),
  password: Type.Optional(Type.String({ maxLength: 64, description: 'dwsbox extension: a new password (SCRAM verifier)' })),
});
export type UpdateDatabaseUserBody = Static<typeof UpdateDatabaseUserBody>;

export const ListDatabaseUsersQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  type: Type.Optional(Type.Union([Type.Literal('USER'), Type.Literal('ROLE')])),
  user_type: Type.Optional(Type.Union([Type.Literal('COMMON'), Type.Literal('IAM'), Type.Literal('OneAccess')])),
});

export const ExportDatabaseUsersQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  type: Type.Optional(Type.Union([Type.Literal('USER'), Type.Literal('ROLE')])),
});

export const DeleteDatabaseUserQuery = Type.Object({
  cascade: Type.Optional(Type.Boolean({ description: 'true: DROP OWNED BY in every database first' })),
});

const DatabaseUser = Type.Object({
  name: Type.String(),
  login: Type.Boolean(),
  user_type: Type.Union([Type.Literal('COMMON'), Type.Literal('IAM')], { description: 'IAM: a role SyncIamUsers made' }),
});
export const ListDatabaseUsersResponse = Type.Object({ users: Type.Array(DatabaseUser) });

export const ShowDatabaseUserResponse = Type.Object({
  name: Type.String(),
  login: Type.Boolean({ description: 'rolcanlogin' }),
  createrole: Type.Boolean(),
  createdb: Type.Boolean(),
  systemadmin: Type.Boolean({ description: 'rolsuper' }),
  inherit: Type.Boolean(),
  conn_limit: Type.Integer({ description: 'rolconnlimit; -1: none' }),
  replication: Type.Boolean(),
  valid_until: Type.Optional(Type.Number({ description: 'rolvaliduntil, epoch ms; absent when none' })),
  desc: Type.Optional(Type.String({ description: 'the role comment' })),
  user_type: Type.Union([Type.Literal('COMMON'), Type.Literal('IAM')], { description: 'IAM: a role SyncIamUsers made' }),
  member_of: Type.Array(Type.String(), { description: 'dwsbox extension: the roles it is a direct member of' }),
});

/** SyncIamUsers' answer: the roles the sync added and updated. */
export const SyncIamUsersResponse = Type.Object({
  sync_user: Type.Array(Type.String(), { description: 'the roles this sync added and updated (its record counts the rest)' }),
});

export const ListSyncRecordsQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});

/** The SDK's IdentitySourceSyncRecordVo. */
const IdentitySourceSyncRecord = Type.Object({
  id: Type.String(),
  identity_source_id: Type.String({ description: "the project's id: its dwsbox users are the source" }),
  identity_source_type: Type.String({ description: 'DWSBOX_USERS' }),
  start_time: Type.Number({ description: 'epoch ms' }),
  end_time: Type.Optional(Type.Number({ description: 'epoch ms; absent while RUNNING' })),
  add_count: Type.Integer(),
  update_count: Type.Integer(),
  delete_count: Type.Integer(),
  failed_count: Type.Integer(),
  status: Type.String({ description: 'RUNNING, SUCCESS (ran to its end; failed users counted) or FAILED (stopped before its end)' }),
  fail_reason: Type.Optional(Type.String({ description: 'each failed user and why; why a FAILED sync stopped' })),
});

export const ListSyncRecordsResponse = Type.Object({
  count: Type.Integer({ description: "the cluster's syncs in all" }),
  sync_records: Type.Array(IdentitySourceSyncRecord),
});
