/**
 * Catalog reads of a running primary for logical snapshots and table restores (D15, D16):
 * databases, schemas, relations under names with their sizes, foreign keys pointing out of a
 * set of tables, roles; the transaction counter a table import is recognised by after a
 * crash; and a schema made for the administrator. Every session is dwsbox's superuser over the
 * unix socket with `search_path=pg_catalog`; none reads a tenant's table (row counts do, as
 * the administrator: table-import.ts).
 */
import type pg from 'pg';
import type { NodeRecord, OutsideForeignKey } from '../../domain/records.js';
import type { TableRef } from '../../domain/table-names.js';
import type { ClusterRef } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import type { DatabaseInfo, RelationFacts, RelationInfo, TenantCluster } from '../logical-plane.js';
import { ident } from '../pg-instance.js';
import { withSession } from './sessions.js';

/** Rows joined on (schema, name) pairs given as two arrays ($1 schemas, $2 names). */
const BY_NAMES = `join unnest($1::text[], $2::text[]) as w(s, t) on w.s = n.nspname and w.t = c.relname`;
const namesOf = (refs: TableRef[]): [string[], string[]] => [refs.map((r) => r.schema), refs.map((r) => r.name)];
/** The facts a dump is sized by: estimated rows and the table's own bytes. */
const TABLE_FACTS = `c.oid::int8::text as oid, c.relkind::text as kind, greatest(c.reltuples, 0)::bigint::text as rows, pg_table_size(c.oid)::text as bytes`;

export async function databaseInfo(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  database: string,
): Promise<DatabaseInfo | null> {
  const r = await e
    .instance(cluster, primary)
    .query<{ allow: boolean; template: boolean }>(
      'select datallowconn as allow, datistemplate as template from pg_database where datname = $1',
      [database],
    );
  return r[0] ? { name: database, allowConnections: r[0].allow, isTemplate: r[0].template } : null;
}

export async function schemasPresent(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  database: string,
  schemas: string[],
): Promise<string[]> {
  const r = await e
    .instance(cluster, primary)
    .query<{ s: string }>('select nspname as s from pg_namespace where nspname = any($1::text[])', [schemas], database);
  return r.map((x) => x.s);
}

/** Every table (ordinary or partitioned) of these schemas, by schema and name; or the relations under these names. */
export async function relationFacts(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  database: string,
  objects: { schemas: string[] } | { tables: TableRef[] },
): Promise<RelationFacts[]> {
  const inst = e.instance(cluster, primary);
  type Row = { schema: string; name: string; kind: string; oid: string; rows: string; bytes: string };
  const rows =
    'schemas' in objects
      ? await inst.query<Row>(
          `select n.nspname as schema, c.relname as name, ${TABLE_FACTS} from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any($1::text[]) and c.relkind in ('r', 'p') order by 1, 2`,
          [objects.schemas],
          database,
        )
      : objects.tables.length === 0
        ? []
        : await inst.query<Row>(
            `select n.nspname as schema, c.relname as name, ${TABLE_FACTS} from pg_class c join pg_namespace n on n.oid = c.relnamespace ${BY_NAMES}`,
            namesOf(objects.tables),
            database,
          );
  return rows.map((r) => ({
    ref: { schema: r.schema, name: r.name },
    kind: r.kind,
    oid: Number(r.oid),
    rows: Number(r.rows),
    bytes: Number(r.bytes),
  }));
}

/** Relations (of any kind) that exist under these names, read in an open session. */
export async function relationsIn(c: pg.Client, refs: TableRef[]): Promise<RelationInfo[]> {
  if (refs.length === 0) return [];
  const r = await c.query<{ schema: string; name: string; oid: string; kind: string }>(
    `select n.nspname as schema, c.relname as name, c.oid::int8::text as oid, c.relkind::text as kind
       from pg_class c join pg_namespace n on n.oid = c.relnamespace ${BY_NAMES}`,
    namesOf(refs),
  );
  return r.rows.map((x) => ({ ref: { schema: x.schema, name: x.name }, oid: Number(x.oid), kind: x.kind }));
}

export async function relations(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  database: string,
  refs: TableRef[],
): Promise<RelationInfo[]> {
  if (refs.length === 0) return [];
  return withSession(e.instance(cluster, primary), database, (c) => relationsIn(c, refs));
}

/**
 * Foreign keys of these tables to tables outside them, with their definitions written with an
 * empty search_path (so the referenced table is schema-qualified).
 */
export async function outsideForeignKeys(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  database: string,
  tableOids: number[],
): Promise<OutsideForeignKey[]> {
  return withSession(e.instance(cluster, primary), database, async (c) => {
    await c.query(`set search_path = ''`);
    const r = await c.query<{ oid: string; schema: string; table: string; name: string; definition: string }>(
      `select con.oid::int8::text as oid, n.nspname as schema, r.relname as table, con.conname as name, pg_get_constraintdef(con.oid) as definition
         from pg_catalog.pg_constraint con join pg_catalog.pg_class r on r.oid = con.conrelid join pg_catalog.pg_namespace n on n.oid = r.relnamespace
        where con.contype = 'f' and con.conrelid = any($1::oid[]) and not (con.confrelid = any($1::oid[])) order by 1`,
      [tableOids],
    );
    return r.rows.map((x) => ({ oid: Number(x.oid), schema: x.schema, table: x.table, name: x.name, definition: x.definition }));
  });
}

export async function rolesPresent(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord, roles: string[]): Promise<string[]> {
  const r = await e.instance(cluster, primary).query<{ r: string }>('select rolname as r from pg_roles where rolname = any($1)', [roles]);
  return r.map((x) => x.r);
}

export async function relationBytes(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  database: string,
  oids: number[],
): Promise<number> {
  const r = await e
    .instance(cluster, primary)
    .query<{ n: string }>('select coalesce(sum(pg_total_relation_size(o)), 0)::text as n from unnest($1::oid[]) o', [oids], database);
  return Number(r[0]?.n ?? 0);
}

export async function transactionCounter(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord, database: string): Promise<string> {
  return (await e.instance(cluster, primary).query<{ x: string }>('select txid_current()::text as x', [], database))[0]!.x;
}

/** Whether these relations were all created by one transaction that began after `counter` (a `txid_current()`). */
export async function createdInOneTransactionSince(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  database: string,
  oids: number[],
  counter: string,
): Promise<boolean> {
  const r = await e
    .instance(cluster, primary)
    .query<{ n: number; newer: boolean }>(
      `select count(distinct xmin::text)::int as n, bool_and(age(xmin) < age(($2::int8 % 4294967296)::text::xid)) as newer from pg_class where oid = any($1::oid[])`,
      [oids, counter],
      database,
    );
  return r[0]?.n === 1 && r[0].newer === true;
}

export async function createSchema(
  e: LocalEngine,
  cluster: TenantCluster,
  primary: NodeRecord,
  database: string,
  schema: string,
): Promise<void> {
  await e
    .instance(cluster, primary)
    .query(`create schema if not exists ${ident(schema)} authorization ${ident(cluster.userName)}`, [], database);
}
