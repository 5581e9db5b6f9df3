/** The pure parts of the table restore: names of renamed dependents, and the pg_restore list filter (D15). */
import { describe, expect, it } from 'vitest';
import { checkedForeignKey, derivedName, filterToc, parseTocLine } from './table-restore.js';

describe('derivedName', () => {
  it('renames objects named after the table, prefixes the others, keeps everything when the name stays', () => {
    expect(derivedName('orders_pkey', 'orders', 'orders_old')).toBe('orders_old_pkey');
    expect(derivedName('orders_id_seq', 'orders', 'orders_old')).toBe('orders_old_id_seq');
    expect(derivedName('idx_by_date', 'orders', 'orders_old')).toBe('orders_old_idx_by_date');
    expect(derivedName('orders_pkey', 'orders', 'orders')).toBe('orders_pkey');
    // 63 bytes at most, never splitting a character
    const long = derivedName('t_' + 'x'.repeat(60), 't', 'é'.repeat(40));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(long).toBe('é'.repeat(31));
  });
});

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
    const ids = r.list.trim().split('\n').map((l) => l.split(';')[0]);
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
    ]) expect(checkedForeignKey(d)).toBe(d);
  });
  it('refuses anything that could be more than one foreign key clause', () => {
    for (const d of [
      'FOREIGN KEY (a) REFERENCES t(a); drop table t',
      'FOREIGN KEY (a) REFERENCES t(a) -- x',
      'FOREIGN KEY (a) REFERENCES t(a) /* x */',
      'CHECK (a > 0)',
      "FOREIGN KEY (a) REFERENCES t(a) ON DELETE SET DEFAULT; select 'x'",
    ]) expect(() => checkedForeignKey(d), d).toThrow(/not a foreign key definition/);
  });
});
