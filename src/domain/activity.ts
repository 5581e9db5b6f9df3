/**
 * Sessions and table statistics of a cluster (issue 17, D29), as the DMS calls show them:
 * ListQueries and ShowQueryDetail over `pg_stat_activity` of every running member,
 * ListTablesStatistic over `pg_stat_user_tables` of the primary. Pure: rows in, the answer's
 * shape out, with the request's conditions, order and page applied.
 *
 * Pages: these calls' `offset` is a page number minus 1 (the DWS API reference says so for
 * ListTablesStatistic), `limit` the page size.
 */

/** One client session of a member, as `pg_stat_activity` has it (times in epoch ms). */
export interface SessionRow {
  pid: number;
  dbName: string | null;
  userName: string | null;
  applicationName: string | null;
  clientAddress: string | null;
  clientHostname: string | null;
  clientPort: number | null;
  state: string | null;
  waitEventType: string | null;
  waitEvent: string | null;
  query: string | null;
  backendStart: number | null;
  xactStart: number | null;
  queryStart: number | null;
  stateChange: number | null;
  /** when its wait for a lock began (pg_locks.waitstart), if it waits for one */
  waitStart: number | null;
  /** the member's clock when it was read */
  now: number;
}

/** A session with the member it runs on. */
export interface MemberSession extends SessionRow {
  ordinal: number;
}

/**
 * A query's id: its member, its backend and when it started, so an id names one run of one
 * statement (a later statement of the same session has another).
 */
export function queryId(s: Pick<MemberSession, 'ordinal' | 'pid' | 'queryStart'>): string {
  return `${s.ordinal}-${s.pid}-${Math.round(s.queryStart ?? 0)}`;
}

export function parseQueryId(id: string): { ordinal: number; pid: number; queryStart: number } | null {
  const m = /^(\d{1,4})-(\d{1,10})-(\d{1,16})$/.exec(id);
  return m ? { ordinal: Number(m[1]), pid: Number(m[2]), queryStart: Number(m[3]) } : null;
}

/** The SDK's ListQueriesDto fields dwsbox has a source for; the workload-manager ones are absent. */
export interface QueryOut {
  query_id: string;
  pid: string;
  inst_name: string;
  ctime: number;
  db_name?: string;
  user_name?: string;
  application_name?: string;
  client_address?: string;
  client_hostname?: string;
  client_port?: string;
  query?: string;
  query_status?: string;
  waiting: boolean;
  system_query: boolean;
  backend_start?: number;
  curr_xact_start?: number;
  query_start?: number;
  state_change?: number;
  start_time?: number;
  /** ms the statement has run (or ran, for an idle session's last one: until its state changed) */
  duration?: number;
  query_elapsed_time?: number;
  /** ms since the session began */
  elapsed_time?: number;
  /** ms it has waited on a lock so far */
  block_time?: number;
}

const opt = <K extends string, V>(k: K, v: V | null | undefined): Partial<Record<K, V>> =>
  v === null || v === undefined ? {} : ({ [k]: v } as Record<K, V>);

export function queryOut(s: MemberSession): QueryOut {
  const running = s.state === 'active';
  const ran = s.queryStart === null ? null : Math.max(0, (running ? s.now : (s.stateChange ?? s.now)) - s.queryStart);
  const waiting = s.waitEventType === 'Lock';
  return {
    query_id: queryId(s),
    pid: String(s.pid),
    inst_name: `node${s.ordinal}`,
    ctime: Math.round(s.now),
    ...opt('db_name', s.dbName),
    ...opt('user_name', s.userName),
    ...opt('application_name', s.applicationName),
    ...opt('client_address', s.clientAddress),
    ...opt('client_hostname', s.clientHostname),
    ...opt('client_port', s.clientPort === null ? null : String(s.clientPort)),
    ...opt('query', s.query),
    ...opt('query_status', s.state),
    waiting,
    system_query: false,
    ...opt('backend_start', s.backendStart === null ? null : Math.round(s.backendStart)),
    ...opt('curr_xact_start', s.xactStart === null ? null : Math.round(s.xactStart)),
    ...opt('query_start', s.queryStart === null ? null : Math.round(s.queryStart)),
    ...opt('state_change', s.stateChange === null ? null : Math.round(s.stateChange)),
    ...opt('start_time', s.queryStart === null ? null : Math.round(s.queryStart)),
    ...opt('duration', ran === null ? null : Math.round(ran)),
    ...opt('query_elapsed_time', ran === null ? null : Math.round(ran)),
    ...opt('elapsed_time', s.backendStart === null ? null : Math.round(s.now - s.backendStart)),
    ...opt('block_time', waiting && s.waitStart !== null ? Math.round(s.now - s.waitStart) : null),
  };
}

/** The fields a ListQueries condition may name, and whether each compares as a number. */
export const QUERY_FIELDS: Record<string, 'text' | 'number'> = {
  query_id: 'text',
  pid: 'number',
  inst_name: 'text',
  db_name: 'text',
  user_name: 'text',
  application_name: 'text',
  client_address: 'text',
  query: 'text',
  query_status: 'text',
  duration: 'number',
  elapsed_time: 'number',
};
export const QUERY_OPERATORS = ['=', '!=', '>', '>=', '<', '<=', 'like'] as const;

export interface Condition {
  field: string;
  operator: string;
  value: string;
}

const isQueryField = (f: string): boolean => Object.prototype.hasOwnProperty.call(QUERY_FIELDS, f);

/** What is wrong with an order, or null: a field of QUERY_FIELDS, `-field` descending. */
export function orderError(orderBy: string): string | null {
  return isQueryField(orderBy.replace(/^-/, ''))
    ? null
    : `order_by: ${JSON.stringify(orderBy)} is not one of ${Object.keys(QUERY_FIELDS).join(', ')} (-field descending)`;
}

/** What is wrong with a condition, or null. */
export function conditionError(c: Condition): string | null {
  const kind = isQueryField(c.field) ? QUERY_FIELDS[c.field] : undefined;
  if (!kind) return `conditions: field ${JSON.stringify(c.field)} is not one of ${Object.keys(QUERY_FIELDS).join(', ')}`;
  if (!(QUERY_OPERATORS as readonly string[]).includes(c.operator))
    return `conditions: operator ${JSON.stringify(c.operator)} is not one of ${QUERY_OPERATORS.join(', ')}`;
  if (kind === 'number' && (c.operator === 'like' || !/^-?\d+(\.\d+)?$/.test(c.value)))
    return `conditions: ${c.field} compares as a number (=, !=, >, >=, <, <=), not ${JSON.stringify(c.value)} with ${c.operator}`;
  return null;
}

function matches(q: QueryOut, c: Condition): boolean {
  const raw = (q as unknown as Record<string, unknown>)[c.field];
  if (raw === undefined) return false;
  if (QUERY_FIELDS[c.field] === 'number') {
    const a = Number(raw);
    const b = Number(c.value);
    return { '=': a === b, '!=': a !== b, '>': a > b, '>=': a >= b, '<': a < b, '<=': a <= b }[c.operator as '='] ?? false;
  }
  const a = String(raw);
  if (c.operator === 'like') return a.toLowerCase().includes(c.value.toLowerCase());
  const cmp = a < c.value ? -1 : a > c.value ? 1 : 0;
  return { '=': cmp === 0, '!=': cmp !== 0, '>': cmp > 0, '>=': cmp >= 0, '<': cmp < 0, '<=': cmp <= 0 }[c.operator as '='] ?? false;
}

export interface QueriesAnswer {
  queries: QueryOut[];
  count: number;
  status: {
    queries_count: number;
    session_count: number;
    average_time_consumption_of_queries?: number;
    average_time_consumption_of_sessions?: number;
    average_query_waiting_time?: number;
  };
}

const average = (xs: number[]): number | undefined => (xs.length ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : undefined);

/**
 * ListQueries: `target` `session` lists every session, otherwise the running statements
 * (`active`); conditions all hold; order by `order_by` (a field, `-field` descending; by
 * default the longest running first); a page (`offset` a page number minus 1). The status
 * figures cover every session read, before the conditions.
 */
export function queriesAnswer(
  sessions: MemberSession[],
  o: { target?: string | undefined; conditions?: Condition[] | undefined; orderBy?: string | undefined; offset: number; limit: number },
): QueriesAnswer {
  const all = sessions.map(queryOut);
  const active = all.filter((q) => q.query_status === 'active');
  let list = (o.target === 'session' ? all : active).filter((q) => (o.conditions ?? []).every((c) => matches(q, c)));
  const desc = o.orderBy ? o.orderBy.startsWith('-') : true;
  const field = o.orderBy ? o.orderBy.replace(/^-/, '') : 'duration';
  const key = (q: QueryOut): number | string => {
    const v = (q as unknown as Record<string, unknown>)[field];
    return QUERY_FIELDS[field] === 'number' ? Number(v ?? -1) : String(v ?? '');
  };
  list = [...list].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1) || a.query_id.localeCompare(b.query_id);
  });
  const status = {
    queries_count: active.length,
    session_count: all.length,
    ...opt('average_time_consumption_of_queries', average(active.flatMap((q) => (q.duration === undefined ? [] : [q.duration])))),
    ...opt('average_time_consumption_of_sessions', average(all.flatMap((q) => (q.elapsed_time === undefined ? [] : [q.elapsed_time])))),
    ...opt('average_query_waiting_time', average(active.flatMap((q) => (q.block_time === undefined ? [] : [q.block_time])))),
  };
  return { queries: list.slice(o.offset * o.limit, (o.offset + 1) * o.limit), count: list.length, status };
}

/** One user table on the primary. */
export interface TableStatRow {
  dbName: string;
  schemaName: string;
  tableName: string;
  tableOwner: string;
  tableBytes: number;
  liveTuples: number;
  deadTuples: number;
}

export const TABLE_FILTERS = ['db_name', 'schema_name', 'table_name', 'table_owner'] as const;

export interface TableStatOut {
  db_name: string;
  schema_name: string;
  table_name: string;
  table_owner: string;
  /** bytes, with its indexes and TOAST */
  table_size: string;
  /** dead tuples in percent of all, as PostgreSQL's statistics count them; absent for a table with none counted */
  dirty_page_rate?: number;
}

/**
 * ListTablesStatistic, rate_type dirtyPage: every user table, the share of its tuples that are
 * dead (what VACUUM would reclaim); `filter`/`value` an exact match on a name field; order by
 * `table_size` or `rate` (`sort_by` ASC or DESC; by default the largest first); a page.
 */
export function tableStatsAnswer(
  rows: TableStatRow[],
  o: {
    filter?: string | undefined;
    value?: string | undefined;
    orderBy?: string | undefined;
    sortBy?: string | undefined;
    offset: number;
    limit: number;
  },
): { data: TableStatOut[]; count: number } {
  let list: TableStatOut[] = rows.map((r) => {
    const all = r.liveTuples + r.deadTuples;
    return {
      db_name: r.dbName,
      schema_name: r.schemaName,
      table_name: r.tableName,
      table_owner: r.tableOwner,
      table_size: String(r.tableBytes),
      ...opt('dirty_page_rate', all > 0 ? Math.round((r.deadTuples / all) * 10_000) / 100 : null),
    };
  });
  if (o.filter && o.value !== undefined) list = list.filter((t) => t[o.filter as (typeof TABLE_FILTERS)[number]] === o.value);
  const desc = (o.sortBy ?? 'DESC').toUpperCase() === 'DESC';
  const key = (t: TableStatOut): number => (o.orderBy === 'rate' ? (t.dirty_page_rate ?? -1) : Number(t.table_size));
  list.sort(
    (a, b) =>
      (key(a) - key(b)) * (desc ? -1 : 1) ||
      `${a.db_name}.${a.schema_name}.${a.table_name}`.localeCompare(`${b.db_name}.${b.schema_name}.${b.table_name}`),
  );
  return { data: list.slice(o.offset * o.limit, (o.offset + 1) * o.limit), count: list.length };
}
