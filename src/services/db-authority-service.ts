/**
 * Database privileges and objects (issue 16, D28, D32): UpdateDatabaseAuthority,
 * ShowDatabaseAuthority, ListDatabaseUserAuthorities, ListDatabaseObjects and ListSchemas as real
 * GRANT / REVOKE and catalog reads on the cluster's primary, at once (no task), with the rules
 * of the database-user calls (runningPrimary). A change stays within the administrator's own
 * power: every object it touches is owned by the administrator or a database user, every
 * grantee is one of them or PUBLIC (domain/db-authority.ts checks, local/db-authority.ts runs).
 */
import {
  authorityPlan,
  checkAuthorityRoles,
  checkScope,
  grantAuthorities,
  objectAuthorities,
  PUBLIC,
  type GrantAuthority,
  type ObjectAuthority,
  type UpdateAuthorityInput,
} from '../domain/db-authority.js';
import { checkDbUserName, isBeyondAdmin } from '../domain/db-users.js';
import { AppError } from '../errors/app-error.js';
import type { ClusterService, ClusterServiceDeps } from './cluster-service.js';
import { runningPrimary } from './db-user-service.js';

export interface ObjectQuery {
  type: string;
  name?: string | string[];
  database?: string;
  schema?: string;
  table?: string;
  offset?: number;
  limit?: number;
}

export interface SchemaQuery {
  sort_key?: string;
  sort_dir?: 'ASC' | 'DESC';
  keywords?: string;
  limit?: number;
  offset?: number;
}

/** The SDK's SchemaInfo: the schema's bytes on the primary, the one node that holds data (standbys are copies). */
export interface SchemaInfo {
  schema_name: string;
  database_name: string;
  total_value: number;
  perm_space: number;
  skew_percent: number;
  min_value: number;
  max_value: number;
  min_dn: string;
  max_dn: string;
  dn_num: number;
}

const page = <T>(all: readonly T[], offset = 0, limit = 1000): T[] => all.slice(offset, offset + limit);

export class DbAuthorityService {
  constructor(
    private readonly deps: ClusterServiceDeps,
    private readonly clusters: Pick<ClusterService, 'get'>,
  ) {}

  private primary(projectId: string, clusterId: string, change: boolean) {
    return runningPrimary(this.deps, this.clusters, projectId, clusterId, change);
  }

  /** GRANT or REVOKE as asked; returns the statements run (the SDK's view_sql). */
  async update(projectId: string, clusterId: string, input: UpdateAuthorityInput): Promise<{ view_sql: string[] }> {
    const plan = authorityPlan(input);
    const { c, primary } = await this.primary(projectId, clusterId, true);
    const dp = this.deps.dataPlane;
    const objects = await dp.resolveDbObjects(c, primary, plan, plan.objects);
    if (!objects.length)
      throw new AppError('DB_OBJECT_NOT_FOUND', {
        args: [
          plan.type.toLowerCase(),
          '(any: all_object found none)',
          plan.schema ? `schema ${JSON.stringify(plan.schema)} of database ${JSON.stringify(plan.database)}` : `cluster ${c.name}`,
        ],
      });
    const roles = [...new Set([...objects.map((o) => o.owner), ...plan.roles.filter((r) => r !== PUBLIC)])];
    checkAuthorityRoles(plan, objects, await dp.dbRoles(c, primary, c.userName, roles), c.userName, c.name);
    const statements = await dp.applyAuthority(c, primary, plan, objects);
    this.deps.log.info('database privileges changed', { projectId, clusterId, statements });
    return { view_sql: statements };
  }

  /** Who holds what on the objects named (ShowDatabaseAuthority). */
  async show(projectId: string, clusterId: string, q: ObjectQuery): Promise<{ authorities: ObjectAuthority[] }> {
    const scope = checkScope(q.type, q.database, q.schema, q.table);
    const names = [...new Set(typeof q.name === 'string' ? [q.name] : (q.name ?? []))];
    if (!names.length) throw new AppError('VALIDATION', { args: ['name must name an object'] });
    const { c, primary } = await this.primary(projectId, clusterId, false);
    const dp = this.deps.dataPlane;
    const found = (await dp.resolveDbObjects(c, primary, scope, names)).map((o) => o.name);
    return { authorities: objectAuthorities(found, await dp.objectAcls(c, primary, scope, found)) };
  }

  /** Every privilege a database user holds directly, in every database (ListDatabaseUserAuthorities). */
  async userAuthorities(
    projectId: string,
    clusterId: string,
    name: string,
    q: { offset?: number; limit?: number },
  ): Promise<{ authority_list: GrantAuthority[]; count: number }> {
    const { c, primary } = await this.primary(projectId, clusterId, false);
    checkDbUserName(name, c.userName, false);
    const dp = this.deps.dataPlane;
    const [row] = await dp.dbRoles(c, primary, c.userName, [name]);
    if (!row || (isBeyondAdmin(row) && row.name !== c.userName)) throw new AppError('DB_USER_NOT_FOUND', { args: [name, c.name] });
    const all = grantAuthorities(await dp.roleAcls(c, primary, name));
    return { authority_list: page(all, q.offset, q.limit), count: all.length };
  }

  /** The objects of a type in a scope whose name holds `name` (ListDatabaseObjects); NODEGROUP: none (there are no node groups). */
  async objects(
    projectId: string,
    clusterId: string,
    q: ObjectQuery,
  ): Promise<{ type: string; object_list: { obj_name: string }[]; count: string }> {
    if (q.type === 'NODEGROUP') return { type: q.type, object_list: [], count: '0' };
    // a database is found from any database: the maintenance one unless another is named
    const scope = checkScope(q.type, q.database ?? (q.type === 'DATABASE' ? 'postgres' : undefined), q.schema, q.table);
    const { c, primary } = await this.primary(projectId, clusterId, false);
    const needle = typeof q.name === 'string' ? q.name.toLowerCase() : undefined;
    const all = (await this.deps.dataPlane.resolveDbObjects(c, primary, scope)).filter(
      (o) => !needle || o.name.toLowerCase().includes(needle),
    );
    return { type: scope.type, object_list: page(all, q.offset, q.limit).map((o) => ({ obj_name: o.name })), count: String(all.length) };
  }

  /** A database's schemas with their real size on the primary (ListSchemas). */
  async schemas(projectId: string, clusterId: string, database: string, q: SchemaQuery): Promise<{ schemas: SchemaInfo[]; count: number }> {
    checkScope('SCHEMA', database);
    const { c, primary } = await this.primary(projectId, clusterId, false);
    const needle = q.keywords?.toLowerCase();
    const rows = (await this.deps.dataPlane.schemaSpaces(c, primary, database)).filter(
      (r) => !needle || r.schema.toLowerCase().includes(needle),
    );
    if (q.sort_dir === 'DESC') rows.reverse();
    const node = `node${primary.ordinal}`;
    return {
      schemas: page(rows, q.offset, q.limit ?? 10).map((r) => ({
        schema_name: r.schema,
        database_name: database,
        total_value: r.bytes,
        // PostgreSQL has no schema space limit: none is -1, as DWS shows an unlimited schema
        perm_space: -1,
        // one node holds the data (the standbys are whole copies): no skew, its size is the least and the most
        skew_percent: 0,
        min_value: r.bytes,
        max_value: r.bytes,
        min_dn: node,
        max_dn: node,
        dn_num: 1,
      })),
      count: rows.length,
    };
  }
}
