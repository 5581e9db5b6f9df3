/**
 * The table of contents of a pg_dump archive (`pg_restore -l`), read and filtered (D15): which
 * entries a table restore imports, which a scratch database is loaded with, whether a logical
 * snapshot's dump holds what it should; and the one check a foreign key's definition passes
 * before it is added to a restored table. Pure: the tools run in local/*.ts.
 */
import { tableName, type TableRef } from '../domain/table-names.js';
import type { DumpedTable, ExportedFk } from './logical-plane.js';

/** pg_restore -l entries that make up a table with what D15 restores. */
const KEPT_DESCS = new Set([
  'TABLE',
  'TABLE DATA',
  'SEQUENCE',
  'SEQUENCE SET',
  'SEQUENCE OWNED BY',
  'DEFAULT',
  'CONSTRAINT',
  'CHECK CONSTRAINT',
  'INDEX',
  'FK CONSTRAINT',
]);
/** Every TOC description a dump may hold, longest first, so `TABLE ATTACH` is never read as `TABLE`. */
const KNOWN_DESCS = [
  'MATERIALIZED VIEW DATA',
  'SEQUENCE OWNED BY',
  'CONSTRAINT TRIGGER',
  'MATERIALIZED VIEW',
  'CHECK CONSTRAINT',
  'STATISTICS DATA',
  'FK CONSTRAINT',
  'SEQUENCE SET',
  'TABLE ATTACH',
  'INDEX ATTACH',
  'ROW SECURITY',
  'DEFAULT ACL',
  'TABLE DATA',
  'STATISTICS',
  'CONSTRAINT',
  'SEQUENCE',
  'DEFAULT',
  'COMMENT',
  'TRIGGER',
  'POLICY',
  'INDEX',
  'TABLE',
  'RULE',
  'VIEW',
  'ACL',
];

/** One TOC line of `pg_restore -l`: `<dump id>; <catalog oid> <object oid> <desc> <schema> <name> <owner>`. */
export function parseTocLine(line: string): { objectOid: number; desc: string } | null {
  const m = /^\s*\d+;\s+(\d+)\s+(\d+)\s+(.*)$/.exec(line);
  if (!m) return null;
  const rest = m[3]!;
  const desc = KNOWN_DESCS.find((d) => rest.startsWith(`${d} `));
  return desc ? { objectOid: Number(m[2]), desc } : { objectOid: Number(m[2]), desc: rest.split(' ')[0] ?? '' };
}

/**
 * The filtered list (D15): the tables' definitions, data, sequences (and their values),
 * defaults, constraints and indexes; foreign keys only where the referenced table exists in
 * the cluster or is restored along. Nothing else (grants, comments, triggers, policies).
 */
export function filterToc(
  toc: string,
  fks: ExportedFk[],
  refExists: (t: TableRef) => boolean,
): { list: string; kept: number; droppedFks: string[] } {
  const fkByOid = new Map(fks.map((f) => [f.oid, f]));
  const out: string[] = [];
  const dropped: string[] = [];
  for (const line of toc.split('\n')) {
    const e = parseTocLine(line);
    if (!e || !KEPT_DESCS.has(e.desc)) continue;
    if (e.desc === 'FK CONSTRAINT') {
      const fk = fkByOid.get(e.objectOid);
      if (!fk || !refExists(fk.ref)) {
        dropped.push(fk ? `${fk.table}.${fk.name} → ${tableName(fk.ref)}` : `constraint ${e.objectOid}`);
        continue;
      }
    }
    out.push(line);
  }
  return { list: out.join('\n') + '\n', kept: out.length, droppedFks: dropped };
}

/**
 * What a scratch database is loaded with from a logical snapshot's dump: every entry but
 * grants, the schemas the new database has already (`public`), and the foreign keys whose
 * referenced table is outside the dump (`outsideFks`, their source OIDs: that table is not
 * there). Returns the kept lines.
 */
export function scratchLoadList(toc: string, haveSchemas: Set<string>, outsideFks: Set<number>): string[] {
  const kept: string[] = [];
  for (const line of toc.split('\n')) {
    const e = parseTocLine(line);
    if (!e) continue;
    const words = line
      .replace(/^\s*\d+;\s+\d+\s+\d+\s+/, '')
      .slice(e.desc.length + 1)
      .split(' ');
    if (e.desc === 'ACL' || e.desc === 'DEFAULT ACL') continue;
    if (e.desc === 'SCHEMA' && haveSchemas.has(words.slice(1, -1).join(' '))) continue;
    if (e.desc === 'FK CONSTRAINT' && outsideFks.has(e.objectOid)) continue;
    kept.push(line);
  }
  return kept;
}

/**
 * What is wrong with a logical snapshot's dump: a table missing, the rows of one missing
 * (a partitioned table has none of its own), a table that was not asked for, a schema in a
 * table-level dump. Empty when it holds exactly what it should.
 */
export function dumpTocProblems(toc: string, level: 'schema' | 'table', tables: DumpedTable[]): { problems: string[]; entries: number } {
  const entries = toc
    .split('\n')
    .map((l) => parseTocLine(l))
    .filter((e): e is NonNullable<typeof e> => e !== null);
  const tableOids = new Set(entries.filter((e) => e.desc === 'TABLE').map((e) => e.objectOid));
  const dataOids = new Set(entries.filter((e) => e.desc === 'TABLE DATA').map((e) => e.objectOid));
  const want = new Set(tables.map((t) => t.oid));
  const problems: string[] = [];
  for (const t of tables) {
    if (!tableOids.has(t.oid)) problems.push(`table ${t.schema}.${t.name} is not in the dump`);
    if (!t.partitioned && !dataOids.has(t.oid)) problems.push(`the rows of ${t.schema}.${t.name} are not in the dump`);
  }
  const extra = [...tableOids].filter((o) => !want.has(o));
  if (extra.length) problems.push(`the dump holds ${extra.length} table(s) that were not asked for`);
  if (level === 'table' && entries.some((e) => e.desc === 'SCHEMA')) problems.push('a table-level dump holds a schema');
  return { problems, entries: entries.length };
}

/**
 * A foreign key's definition as `pg_get_constraintdef` rendered it in the source catalog
 * (identifiers quoted by PostgreSQL): refused unless it is one `FOREIGN KEY (…) REFERENCES …`
 * clause with no statement separator outside quotes, so the text can only ever add that key.
 */
export function checkedForeignKey(def: string): string {
  const bare = def.replace(/"(?:[^"]|"")*"/g, '""').replace(/'(?:[^']|'')*'/g, "''");
  if (!/^FOREIGN KEY \(.+\) REFERENCES \S/.test(bare) || /[;\\]|--|\/\*/.test(bare)) {
    throw new Error(`not a foreign key definition: ${def}`);
  }
  return def;
}
