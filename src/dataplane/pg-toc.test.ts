/** The table of contents of a dump, read and filtered (D15): the import's list, the scratch load's list, a logical dump's check; a foreign key's definition checked. */
import { describe, expect, it } from 'vitest';
import type { DumpedTable } from './logical-plane.js';
import { checkedForeignKey, dumpTocProblems, filterToc, parseTocLine, scratchLoadList } from './pg-toc.js';

const TOC = `;
; Archive created at 2026-11-26 22:43:00 UTC
;     dbname: shop
;
; Selected TOC Entries:
;
215; 1259 16390 TABLE public order_items dbadmin
214; 1259 16389 SEQUENCE public order_items_id_seq dbadmin
3352; 0 0 SEQUENCE OWNED BY public order_items_id_seq dbadmin
3190; 2604 16393 DEFAULT public order_items id dbadmin
3345; 0 16390 TABLE DATA public order_items dbadmin
3353; 0 0 SEQUENCE SET public order_items_id_seq dbadmin
3194; 2606 16395 CONSTRAINT public order_items order_items_pkey dbadmin
3195; 1259 16400 INDEX public order_items_sku_idx dbadmin
3198; 2606 16410 FK CONSTRAINT public order_items order_items_order_id_fkey dbadmin
3199; 2606 16411 FK CONSTRAINT public order_items order_items_gone_fkey dbadmin
3200; 0 0 ACL public TABLE order_items dbadmin
3201; 0 0 COMMENT public TABLE order_items dbadmin
3202; 0 16420 TABLE ATTACH public order_items dbadmin
3203; 2620 16421 TRIGGER public order_items audit dbadmin
`;

describe('filterToc', () => {
  it('keeps the table, its data, sequence, defaults, constraints, indexes and the foreign keys to tables that exist', () => {
    const fks = [
      { oid: 16410, table: 'order_items', name: 'order_items_order_id_fkey', ref: { schema: 'public', name: 'orders' } },
      { oid: 16411, table: 'order_items', name: 'order_items_gone_fkey', ref: { schema: 'public', name: 'gone' } },
    ];
    const r = filterToc(TOC, fks, (t) => t.name === 'orders');
    const ids = r.list
      .trim()
      .split('\n')
      .map((l) => l.split(';')[0]);
    expect(ids).toEqual(['215', '214', '3352', '3190', '3345', '3353', '3194', '3195', '3198']);
    expect(r.droppedFks).toEqual(['order_items.order_items_gone_fkey → public.gone']);
  });

  it('reads multi-word descriptions by the longest match', () => {
    expect(parseTocLine('3202; 0 16420 TABLE ATTACH public x y')!.desc).toBe('TABLE ATTACH');
    expect(parseTocLine('3345; 0 16390 TABLE DATA public t o')!.desc).toBe('TABLE DATA');
    expect(parseTocLine('3352; 0 0 SEQUENCE OWNED BY public s o')!.desc).toBe('SEQUENCE OWNED BY');
    expect(parseTocLine('; comment')).toBeNull();
  });
});

describe('checkedForeignKey', () => {
  it('passes what pg_get_constraintdef renders, quoted names with odd characters included', () => {
    for (const d of [
      'FOREIGN KEY (customer_id) REFERENCES public.customers(id)',
      'FOREIGN KEY ("a;b") REFERENCES "s; drop table x"."t--1"(id) ON DELETE CASCADE',
      'FOREIGN KEY (a, b) REFERENCES s.t(a, b) MATCH FULL DEFERRABLE INITIALLY DEFERRED',
    ])
      expect(checkedForeignKey(d)).toBe(d);
  });
  it('refuses anything that could be more than one foreign key clause', () => {
    for (const d of [
      'FOREIGN KEY (a) REFERENCES t(a); drop table t',
      'FOREIGN KEY (a) REFERENCES t(a) -- x',
      'FOREIGN KEY (a) REFERENCES t(a) /* x */',
      'CHECK (a > 0)',
      "FOREIGN KEY (a) REFERENCES t(a) ON DELETE SET DEFAULT; select 'x'",
    ])
      expect(() => checkedForeignKey(d), d).toThrow(/not a foreign key definition/);
  });
});

const SCHEMA_TOC = `;
; Archive created at 2026-11-26 22:43:00 UTC
;
3340; 2615 16384 SCHEMA - sales dbadmin
3341; 2615 2200 SCHEMA - public pg_database_owner
3342; 0 0 ACL - SCHEMA public pg_database_owner
215; 1259 16390 TABLE sales regions dbadmin
216; 1259 16391 TABLE sales targets dbadmin
217; 1259 16392 TABLE sales visits dbadmin
3345; 0 16390 TABLE DATA sales regions dbadmin
3346; 0 16391 TABLE DATA sales targets dbadmin
3194; 2606 16395 CONSTRAINT sales regions regions_pkey dbadmin
3198; 2606 16410 FK CONSTRAINT sales targets targets_region_id_fkey dbadmin
3199; 2606 16411 FK CONSTRAINT sales targets targets_customer_fkey dbadmin
3350; 0 0 DEFAULT ACL - DEFAULT PRIVILEGES FOR TABLES dbadmin
3351; 0 0 ACL sales TABLE regions dbadmin
`;

describe('scratchLoadList', () => {
  it('loads everything but grants, the schemas the new database has, and foreign keys to tables outside the dump', () => {
    const kept = scratchLoadList(SCHEMA_TOC, new Set(['public', 'pg_catalog']), new Set([16411]));
    expect(kept.map((l) => l.split(';')[0])).toEqual(['3340', '215', '216', '217', '3345', '3346', '3194', '3198']);
  });
  it('keeps a schema the new database does not have, and every foreign key when none points outside', () => {
    const kept = scratchLoadList(SCHEMA_TOC, new Set(), new Set());
    expect(kept.map((l) => l.split(';')[0])).toEqual(['3340', '3341', '215', '216', '217', '3345', '3346', '3194', '3198', '3199']);
  });
});

describe('dumpTocProblems', () => {
  const t = (name: string, oid: number, partitioned = false): DumpedTable => ({
    schema: 'sales',
    name,
    oid,
    rows: 10,
    bytes: 8192,
    ...(partitioned ? { partitioned } : {}),
  });
  it('passes a dump that holds exactly its tables (a partitioned one has no rows of its own)', () => {
    expect(dumpTocProblems(SCHEMA_TOC, 'schema', [t('regions', 16390), t('targets', 16391), t('visits', 16392, true)])).toEqual({
      problems: [],
      entries: 13,
    });
  });
  it('names a missing table, missing rows, tables not asked for, and a schema in a table-level dump', () => {
    const r = dumpTocProblems(SCHEMA_TOC, 'table', [t('regions', 16390), t('visits', 16392), t('gone', 99999)]);
    expect(r.problems).toEqual([
      'the rows of sales.visits are not in the dump',
      'table sales.gone is not in the dump',
      'the rows of sales.gone are not in the dump',
      'the dump holds 1 table(s) that were not asked for',
      'a table-level dump holds a schema',
    ]);
  });
});
