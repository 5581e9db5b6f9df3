/**
 * Data for the restore tests: a few related tables (primary keys, a unique constraint, a
 * check, defaults, serial columns, indexes, foreign keys between them) with a few MB of
 * random text, and content checksums to compare a restored copy with what went in.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { ADMIN_PASSWORD } from './service.js';

/** Run SQL as the administrator at `host:port` (what a user does). */
export async function adminSql<R extends Record<string, unknown> = Record<string, unknown>>(
  endpoint: string,
  text: string,
  database = 'postgres',
): Promise<R[]> {
  const [host, port] = endpoint.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query<R>(text)).rows;
  } finally {
    await c.end().catch(() => {});
  }
}

/** The tables, each with the key its rows are ordered by for a checksum. */
export const TABLES: Record<string, string> = {
  'public.customers': 'id',
  'public.orders': 'id',
  'public.order_items': 'id',
  'public.events': 'id',
};

export const SCHEMA_SQL = `
  create table customers (id serial primary key, name text not null unique, created timestamptz not null default '2024-01-01');
  create table orders (id bigserial primary key, customer_id int not null references customers(id), amount numeric(12,2) not null check (amount >= 0), note text);
  create index orders_customer_idx on orders (customer_id);
  create table order_items (
    id serial primary key, order_id bigint not null references orders(id), line int not null, sku text not null,
    qty int not null default 1 check (qty > 0), unique (order_id, line));
  create index order_items_sku_idx on order_items (sku);
  create table events (id int primary key, kind text not null, payload text not null);
  create index events_kind_idx on events (kind);
  insert into customers (name) select 'customer ' || g from generate_series(1, 500) g;
  insert into orders (customer_id, amount, note) select 1 + (g % 500), (g % 1000) / 7.0, md5(g::text) from generate_series(1, 5000) g;
  insert into order_items (order_id, line, sku, qty) select 1 + (g % 5000), g / 5000, 'sku-' || (g % 97), 1 + g % 5 from generate_series(1, 15000) g;
  insert into events select g, 'k' || (g % 13), md5(random()::text) || md5(random()::text) || md5(random()::text) from generate_series(1, 20000) g;
  analyze;
`;

/** md5 of every row of each table, in key order, and the sequences' positions. */
export async function checksums(
  endpoint: string,
  tables: Record<string, string> = TABLES,
  database = 'postgres',
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [t, key] of Object.entries(tables)) {
    const r = await adminSql<{ h: string; n: string }>(
      endpoint,
      `select md5(coalesce(string_agg(x::text, E'\\n' order by x.${key}), '')) as h, count(*)::text as n from ${t} x`,
      database,
    );
    out[t] = `${r[0]!.n}:${r[0]!.h}`;
  }
  return out;
}

/** Indexes and constraints of a table, with the table's own name written as `<T>` (to compare renamed copies). */
export async function tableShape(
  endpoint: string,
  schema: string,
  table: string,
  database = 'postgres',
): Promise<{ indexes: string[]; constraints: string[]; defaults: string[] }> {
  const q = `${schema}.${table}`;
  const norm = (s: string): string => s.split(`${schema}.${table}`).join('<T>').split(table).join('<T>');
  const idx = await adminSql<{ d: string }>(
    endpoint,
    `select indexdef as d from pg_indexes where schemaname = '${schema}' and tablename = '${table}' order by indexname`,
    database,
  );
  const con = await adminSql<{ d: string }>(
    endpoint,
    `select conname || ' ' || pg_get_constraintdef(oid) as d from pg_constraint where conrelid = '${q}'::regclass order by conname`,
    database,
  );
  const def = await adminSql<{ d: string }>(
    endpoint,
    `select a.attname || ' ' || pg_get_expr(d.adbin, d.adrelid) as d from pg_attrdef d join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum where d.adrelid = '${q}'::regclass order by 1`,
    database,
  );
  return { indexes: idx.map((r) => norm(r.d)), constraints: con.map((r) => norm(r.d)), defaults: def.map((r) => norm(r.d)) };
}

/** Files under a stanza's WAL archive (relative names), to show that a restore wrote nothing there (D4). Each stanza has its own repo1-path, `<repository>/<stanza>` (D32). */
export function archiveFiles(repoPath: string, stanza: string): string[] {
  const base = join(repoPath, stanza, 'archive', stanza);
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    let names: string[] = [];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p, `${rel}${n}/`);
      else out.push(`${rel}${n}`);
    }
  };
  walk(base, '');
  return out.sort();
}

/** Timelines of the WAL segments and history files in an archive listing. */
export function archiveTimelines(files: string[]): { segments: Set<string>; histories: string[] } {
  const segments = new Set<string>();
  const histories: string[] = [];
  for (const f of files) {
    const name = f.split('/').pop()!;
    if (/^[0-9A-F]{8}\.history/.test(name)) histories.push(name);
    else if (/^[0-9A-F]{24}/.test(name)) segments.add(name.slice(0, 8));
  }
  return { segments, histories };
}
