/**
 * Progress of dumps and loads over several tables (D14), weighted by each table's bytes: a
 * finished table counts whole, a running one by the rows its COPY has done. Pure.
 */

/** A table as progress weighs it. */
export interface WeighedTable {
  rows: number;
  bytes: number;
}

const weight = (t: WeighedTable): number => Math.max(t.bytes, 1);

/** Tables done in order: those before `current` whole, `current` by `rowsDone` of its rows. */
export function tableProgress(
  tables: WeighedTable[],
  current: number,
  rowsDone: number,
): { bytesDone: number; bytesTotal: number; percent: number } {
  const total = tables.reduce((a, t) => a + weight(t), 0);
  let done = 0;
  for (const [i, t] of tables.entries()) {
    if (i < current) done += weight(t);
    else if (i === current && t.rows > 0) done += weight(t) * Math.min(1, rowsDone / t.rows);
  }
  return { bytesDone: Math.round(done), bytesTotal: total, percent: Math.min(99.99, (100 * done) / total) };
}

/** Tables done in any order (parallel jobs): `finished` whole, `running` (OID → rows copied) up to 99 % each. */
export function parallelProgress(
  tables: (WeighedTable & { oid: number })[],
  finished: Set<number>,
  running: Map<number, number>,
): { done: number; total: number } {
  let done = 0;
  let total = 0;
  for (const t of tables) {
    const w = weight(t);
    total += w;
    if (finished.has(t.oid)) done += w;
    else if (running.has(t.oid) && t.rows > 0) done += w * Math.min(0.99, running.get(t.oid)! / t.rows);
  }
  return { done: Math.round(done), total };
}
