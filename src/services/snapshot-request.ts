/**
 * What a snapshot request asks for (cluster, schema or table level), validated, and the
 * check that the schemas and tables of a schema- or table-level snapshot exist on the
 * cluster's primary (refused with a 400 naming the missing ones, before anything is queued).
 * The snapshot task checks again right before it dumps, since objects can go in between.
 */
import type { BackupLevel, ClusterRecord, FineGrainedDetail, NodeRecord, SnapshotPolicyFire } from '../domain/records.js';
import { AppError } from '../errors/app-error.js';
import { formatQualifiedName, parseQualifiedName, tableRefsOf } from '../domain/table-names.js';
import type { DataPlane } from '../dataplane/data-plane.js';

/** At most this many schemas or tables in one schema- or table-level snapshot. */
export const MAX_SNAPSHOT_OBJECTS = 100;
const NAME_MAX_BYTES = 63;

export interface SnapshotRequest {
  clusterId: string;
  name: string;
  description?: string | undefined;
  /** MANUAL (the API) or AUTO (a snapshot policy's scheduler) */
  type: 'MANUAL' | 'AUTO';
  level: BackupLevel;
  /** schema and table level: the database */
  database?: string | undefined;
  /** schema level: the schemas, names as they are in the catalog (no case folding) */
  schemas?: string[] | undefined;
  /** table level: `schema.table` names (parts may be double-quoted) */
  tables?: string[] | undefined;
  /** the policy that fired it (AUTO), for the log */
  policyId?: string | undefined;
  /** AUTO: the strategy fire that asks for it, recorded with the snapshot (its bak_period and bak_expected_start_time) */
  policyFire?: SnapshotPolicyFire | undefined;
  /** cluster level: take a full backup whatever the D2 chain would choose (a snapshot policy's `backup_type: full`) */
  forceFull?: boolean | undefined;
}

function checkIdentifier(field: string, v: string): void {
  if (v.length === 0 || Buffer.byteLength(v) > NAME_MAX_BYTES)
    throw new AppError('VALIDATION', { args: [`${field} must be 1 to ${NAME_MAX_BYTES} bytes long, got "${v.slice(0, 80)}"`] });
  if (v.includes('\u0000')) throw new AppError('VALIDATION', { args: [`${field} must not contain a NUL character`] });
}

const isSystemSchema = (s: string): boolean => /^pg_/.test(s) || s === 'information_schema';

/** Validate the level fields; returns the fine-grained detail to record (null for a cluster-level snapshot). */
export function fineGrainedOf(r: SnapshotRequest): FineGrainedDetail | null {
  const schemas = r.schemas ?? [];
  const tables = r.tables ?? [];
  if (r.level === 'cluster') {
    if (r.database || schemas.length || tables.length)
      throw new AppError('VALIDATION', { args: ['backup_level cluster takes no database, schema list or table list'] });
    return null;
  }
  if (r.level !== 'schema' && r.level !== 'table')
    throw new AppError('VALIDATION', { args: [`backup_level must be cluster, schema or table, got "${String(r.level).slice(0, 40)}"`] });
  if (!r.database) throw new AppError('VALIDATION', { args: [`backup_level ${r.level} needs backup_database`] });
  checkIdentifier('backup_database', r.database);
  if (r.level === 'schema') {
    if (tables.length) throw new AppError('VALIDATION', { args: ['backup_level schema takes a schema list, not a table list'] });
    if (schemas.length === 0 || schemas.length > MAX_SNAPSHOT_OBJECTS)
      throw new AppError('VALIDATION', { args: [`backup_level schema needs 1 to ${MAX_SNAPSHOT_OBJECTS} schemas`] });
    schemas.forEach((s, i) => {
      checkIdentifier(`backup_schema_list[${i}]`, s);
      if (isSystemSchema(s)) throw new AppError('VALIDATION', { args: [`backup_schema_list[${i}]: ${s} is a system schema`] });
    });
    const dup = schemas.find((s, i) => schemas.indexOf(s) !== i);
    if (dup !== undefined) throw new AppError('VALIDATION', { args: [`backup_schema_list names ${dup} twice`] });
    return { level: 'schema', database: r.database, schemas: [...schemas], tables: [], dumpDir: null, outsideForeignKeys: [] };
  }
  if (schemas.length) throw new AppError('VALIDATION', { args: ['backup_level table takes a table list, not a schema list'] });
  if (tables.length === 0 || tables.length > MAX_SNAPSHOT_OBJECTS)
    throw new AppError('VALIDATION', { args: [`backup_level table needs 1 to ${MAX_SNAPSHOT_OBJECTS} tables`] });
  const seen = new Set<string>();
  const names = tables.map((t, i) => {
    const q = parseQualifiedName(t);
    if (!q)
      throw new AppError('VALIDATION', {
        args: [`backup_table_list[${i}] must be schema.table (quote a part that holds a dot with double quotes), got "${t.slice(0, 80)}"`],
      });
    checkIdentifier(`backup_table_list[${i}] schema`, q.schema);
    checkIdentifier(`backup_table_list[${i}] table`, q.name);
    if (isSystemSchema(q.schema)) throw new AppError('VALIDATION', { args: [`backup_table_list[${i}]: ${q.schema} is a system schema`] });
    const key = `${q.schema}\u0000${q.name}`;
    if (seen.has(key)) throw new AppError('VALIDATION', { args: [`backup_table_list names ${q.schema}.${q.name} twice`] });
    seen.add(key);
    return formatQualifiedName(q);
  });
  return { level: 'table', database: r.database, schemas: [], tables: names, dumpDir: null, outsideForeignKeys: [] };
}

/**
 * On the cluster's primary: the database exists and takes connections, every schema exists,
 * every table is an ordinary table. Throws 400 (DWS.5172 / 5173 / 5174) naming what is missing.
 * Returns the bytes of the tables the dump would hold (`pg_table_size`, as the dump step
 * measures them), for the free-space and quota checks (fair shares, tasks/snapshot-room.ts).
 */
export async function checkObjectsExist(
  dataPlane: DataPlane,
  cluster: ClusterRecord,
  nodes: NodeRecord[],
  d: FineGrainedDetail,
): Promise<{ sourceBytes: number }> {
  const primary = nodes.find((n) => n.role === 'primary' && n.membership === 'active');
  if (!primary || cluster.stopped || !dataPlane.memberStatus(cluster, primary)) {
    throw new AppError('CLUSTER_STATE_CONFLICT', {
      args: [cluster.name, 'its primary node is not running; start or restart the cluster first'],
    });
  }
  const db = await dataPlane.databaseInfo(cluster, primary, d.database);
  if (!db || !db.allowConnections || db.isTemplate)
    throw new AppError('DATABASE_NOT_FOUND', { message: `Database ${d.database} does not exist in cluster ${cluster.name}.` });
  if (d.level === 'schema') {
    const have = new Set(await dataPlane.schemasPresent(cluster, primary, d.database, d.schemas));
    const missing = d.schemas.filter((s) => !have.has(s));
    if (missing.length)
      throw new AppError('SCHEMA_NOT_FOUND', { message: `Schema does not exist in database ${d.database}: ${missing.join(', ')}` });
    const tables = await dataPlane.relationFacts(cluster, primary, d.database, { schemas: d.schemas });
    return { sourceBytes: tables.reduce((a, t) => a + t.bytes, 0) };
  }
  const refs = tableRefsOf(d);
  const rows = await dataPlane.relationFacts(cluster, primary, d.database, { tables: refs });
  const kind = new Map(rows.map((r) => [`${r.ref.schema}\u0000${r.ref.name}`, r.kind]));
  const missing = refs.filter((r) => kind.get(`${r.schema}\u0000${r.name}`) !== 'r' && kind.get(`${r.schema}\u0000${r.name}`) !== 'p');
  if (missing.length)
    throw new AppError('TABLE_NOT_FOUND', {
      args: [`${missing.map((r) => `${r.schema}.${r.name}`).join(', ')} (not a table in database ${d.database})`],
    });
  const partitioned = refs.filter((r) => kind.get(`${r.schema}\u0000${r.name}`) === 'p');
  if (partitioned.length)
    throw new AppError('NOT_SUPPORTED', {
      args: [
        'A table-level snapshot of a partitioned table',
        `${partitioned.map((r) => `${r.schema}.${r.name}`).join(', ')}: name its partitions, or take a schema-level snapshot`,
      ],
    });
  return { sourceBytes: rows.reduce((a, r) => a + r.bytes, 0) };
}
