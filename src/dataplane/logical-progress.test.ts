/** Progress over several tables, weighted by their bytes (D14). */
import { describe, expect, it } from 'vitest';
import { parallelProgress, tableProgress } from './logical-progress.js';

describe('tableProgress (tables in order)', () => {
  const tables = [
    { rows: 100, bytes: 3000 },
    { rows: 0, bytes: 0 },
    { rows: 10, bytes: 1000 },
  ];
  it('counts the tables before the current one whole and the current one by its rows', () => {
    expect(tableProgress(tables, 0, 0)).toEqual({ bytesDone: 0, bytesTotal: 4001, percent: 0 });
    expect(tableProgress(tables, 0, 50)).toMatchObject({ bytesDone: 1500 });
    // an empty table weighs one byte, done once passed
    expect(tableProgress(tables, 2, 5)).toMatchObject({ bytesDone: 3501 });
  });
  it("never says 100 % (the step's final sample does), and never counts a table past its rows", () => {
    expect(tableProgress(tables, 2, 1000)).toEqual({ bytesDone: 4001, bytesTotal: 4001, percent: 99.99 });
  });
});

describe('parallelProgress (tables in any order)', () => {
  const tables = [
    { oid: 1, rows: 100, bytes: 1000 },
    { oid: 2, rows: 100, bytes: 3000 },
  ];
  it('counts finished tables whole and running ones by their rows, up to 99 % each', () => {
    expect(parallelProgress(tables, new Set(), new Map())).toEqual({ done: 0, total: 4000 });
    expect(parallelProgress(tables, new Set([2]), new Map([[1, 50]]))).toEqual({ done: 3500, total: 4000 });
    expect(parallelProgress(tables, new Set(), new Map([[1, 500]]))).toEqual({ done: 990, total: 4000 });
  });
});
