/** What a cluster holds, read from its primary: sizes, databases and tables (D16), replication lag. */
import type { NodeRecord, SchemaInfo } from '../../domain/records.js';
import type { ClusterRef } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';

/** Bytes of the primary's databases: about what a base backup copies (its WAL comes on top). */
export async function databaseBytes(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord): Promise<number> {
  const r = await e
    .instance(cluster, primary)
    .query<{ n: string }>('select coalesce(sum(pg_database_size(datname)), 0)::text as n from pg_database');
  return Number(r[0]?.n ?? 0);
}

/** The databases and their tables, with row estimates and sizes (D16). */
export async function schemaInfo(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord): Promise<SchemaInfo> {
  const inst = e.instance(cluster, primary);
  const dbs = await inst.query<{ datname: string; size: string }>(
    `select datname, pg_database_size(datname)::text as size from pg_database where not datistemplate and datallowconn order by datname`,
  );
  const out: SchemaInfo = { databases: [] };
  for (const db of dbs) {
    const tables = await inst.query<{ schema: string; name: string; rows: string; bytes: string }>(
      `select n.nspname as schema, c.relname as name, greatest(c.reltuples, 0)::bigint::text as rows, pg_total_relation_size(c.oid)::text as bytes
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
        order by 1, 2`,
      [],
      db.datname,
    );
    out.databases.push({
      name: db.datname,
      sizeBytes: Number(db.size),
      tables: tables.map((t) => ({ schema: t.schema, name: t.name, rows: Number(t.rows), bytes: Number(t.bytes) })),
    });
  }
  return out;
}

/**
 * Bytes each streaming replica of the cluster's own (`application_name` `<prefix><ordinal>`) is
 * behind its primary (pg_stat_replication): a standby cluster's (D31) that streams from it has
 * another prefix and is not counted. A standby cluster's leader measures its own replicas against
 * what it replayed.
 */
export async function replicationLag(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  prefix = 'node',
): Promise<{ node: number; bytes: number }[]> {
  const rows = await e.instance(cluster, primary).query<{ node: string; lag: string | null }>(
    `select substr(application_name, $2)::int::text as node,
            pg_wal_lsn_diff(case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end, replay_lsn)::text as lag
       from pg_stat_replication where application_name ~ $1`,
    [`^${prefix}[1-9][0-9]{0,2}$`, prefix.length + 1],
    'postgres',
    3000,
  );
  return rows.filter((r) => r.lag !== null).map((r) => ({ node: Number(r.node), bytes: Math.max(0, Number(r.lag)) }));
}
