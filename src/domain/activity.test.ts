import { describe, expect, it } from 'vitest';
import {
  conditionError,
  orderError,
  parseQueryId,
  queriesAnswer,
  queryId,
  queryOut,
  tableStatsAnswer,
  type MemberSession,
} from './activity.js';

const NOW = 1_800_000_000_000;
const session = (o: Partial<MemberSession>): MemberSession => ({
  ordinal: 1,
  pid: 100,
  dbName: 'postgres',
  userName: 'dbadmin',
  applicationName: 'psql',
  clientAddress: '127.0.0.1',
  clientHostname: null,
  clientPort: 50000,
  state: 'active',
  waitEventType: null,
  waitEvent: null,
  query: 'select 1',
  backendStart: NOW - 60_000,
  xactStart: NOW - 5_000,
  queryStart: NOW - 5_000,
  stateChange: NOW - 5_000,
  waitStart: null,
  now: NOW,
  ...o,
});

describe('queries', () => {
  it('a query id names its member, backend and start, and reads back', () => {
    const s = session({ ordinal: 3, pid: 4242, queryStart: NOW - 1234.4 });
    expect(queryId(s)).toBe(`3-4242-${NOW - 1234}`);
    expect(parseQueryId(queryId(s))).toEqual({ ordinal: 3, pid: 4242, queryStart: NOW - 1234 });
    for (const bad of ['', '3-4242', 'x-1-2', '1-2-3-4', '1--2-3']) expect(parseQueryId(bad)).toBeNull();
  });

  it("a running statement's duration runs to now; an idle session's last one to its state change; lock waits are blocked time", () => {
    expect(queryOut(session({})).duration).toBe(5_000);
    expect(queryOut(session({ state: 'idle', queryStart: NOW - 9_000, stateChange: NOW - 8_000 })).duration).toBe(1_000);
    const waiting = queryOut(session({ waitEventType: 'Lock', stateChange: NOW - 5_000, waitStart: NOW - 2_000 }));
    expect([waiting.waiting, waiting.block_time]).toEqual([true, 2_000]);
    expect(queryOut(session({})).block_time).toBeUndefined();
    // absent, not invented, where pg_stat_activity has nothing
    expect(queryOut(session({ clientAddress: null, queryStart: null }))).not.toHaveProperty('client_address');
    expect(queryOut(session({ queryStart: null }))).not.toHaveProperty('duration');
  });

  it('lists the running statements (or every session), longest first, filtered by all conditions, paged by page number', () => {
    const all = [
      session({ pid: 1, queryStart: NOW - 1_000, userName: 'a' }),
      session({ pid: 2, queryStart: NOW - 3_000, userName: 'b', query: 'SELECT pg_sleep(30)' }),
      session({ pid: 3, state: 'idle', userName: 'a' }),
      session({ pid: 4, ordinal: 2, queryStart: NOW - 2_000, userName: 'a' }),
    ];
    const r = queriesAnswer(all, { offset: 0, limit: 10 });
    expect(r.queries.map((q) => q.pid)).toEqual(['2', '4', '1']);
    expect(r.status).toMatchObject({ queries_count: 3, session_count: 4, average_time_consumption_of_queries: 2_000 });
    expect(queriesAnswer(all, { target: 'session', offset: 0, limit: 10 }).count).toBe(4);
    const a = queriesAnswer(all, { conditions: [{ field: 'user_name', operator: '=', value: 'a' }], offset: 0, limit: 10 });
    expect(a.queries.map((q) => q.pid)).toEqual(['4', '1']);
    const slow = queriesAnswer(all, {
      conditions: [
        { field: 'duration', operator: '>=', value: '2000' },
        { field: 'query', operator: 'like', value: 'PG_SLEEP' },
      ],
      offset: 0,
      limit: 10,
    });
    expect(slow.queries.map((q) => q.pid)).toEqual(['2']);
    const page2 = queriesAnswer(all, { orderBy: 'pid', offset: 1, limit: 2 });
    expect([page2.queries.map((q) => q.pid), page2.count]).toEqual([['4'], 3]);
  });

  it('refuses unknown fields and operators, and text compared as a number', () => {
    expect(conditionError({ field: 'user_name', operator: 'like', value: 'x' })).toBeNull();
    expect(conditionError({ field: 'password', operator: '=', value: 'x' })).toMatch(/field "password"/);
    expect(conditionError({ field: 'user_name', operator: '~', value: 'x' })).toMatch(/operator "~"/);
    expect(conditionError({ field: 'duration', operator: '>', value: 'ten' })).toMatch(/compares as a number/);
    expect(conditionError({ field: 'duration', operator: 'like', value: '10' })).toMatch(/compares as a number/);
    for (const f of ['__proto__', 'constructor', 'toString'])
      expect(conditionError({ field: f, operator: '=', value: 'x' })).toMatch(/is not one of/);
    expect(orderError('-duration')).toBeNull();
    expect(orderError('block_time')).toMatch(/order_by/);
    expect(orderError('__proto__')).toMatch(/order_by/);
  });
});

describe('table statistics', () => {
  const rows = [
    {
      dbName: 'postgres',
      schemaName: 'public',
      tableName: 'big',
      tableOwner: 'dbadmin',
      tableBytes: 9_000_000,
      liveTuples: 600,
      deadTuples: 400,
    },
    {
      dbName: 'postgres',
      schemaName: 'public',
      tableName: 'clean',
      tableOwner: 'dbadmin',
      tableBytes: 8_192,
      liveTuples: 10,
      deadTuples: 0,
    },
    { dbName: 'sales', schemaName: 'app', tableName: 'empty', tableOwner: 'report', tableBytes: 0, liveTuples: 0, deadTuples: 0 },
  ];
  it('the dead share in percent, the size in bytes; none counted is absent, not zero', () => {
    const r = tableStatsAnswer(rows, { offset: 0, limit: 50 });
    expect(r.data.map((t) => [t.table_name, t.table_size, t.dirty_page_rate])).toEqual([
      ['big', '9000000', 40],
      ['clean', '8192', 0],
      ['empty', '0', undefined],
    ]);
    expect(r.data[2]).not.toHaveProperty('dirty_page_rate');
  });
  it('filters by a name exactly, orders by size or rate either way, pages by page number', () => {
    expect(tableStatsAnswer(rows, { filter: 'table_owner', value: 'report', offset: 0, limit: 50 }).data.map((t) => t.table_name)).toEqual([
      'empty',
    ]);
    expect(tableStatsAnswer(rows, { orderBy: 'rate', sortBy: 'ASC', offset: 0, limit: 50 }).data.map((t) => t.table_name)).toEqual([
      'empty',
      'clean',
      'big',
    ]);
    const p = tableStatsAnswer(rows, { offset: 1, limit: 2 });
    expect([p.data.map((t) => t.table_name), p.count]).toEqual([['empty'], 3]);
  });
});
