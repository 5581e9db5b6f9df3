/** ListQueries, ShowQueryDetail and ListTablesStatistic (issue 17, D29; domain/activity.ts). */
import { Type } from '@sinclair/typebox';
import { QUERY_FIELDS, QUERY_OPERATORS, TABLE_FILTERS } from '../../domain/activity.js';

const PageNumber = Type.String({ pattern: '^[0-9]{1,6}$', description: 'a page number minus 1' });
const PageSize = Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: 'the page size, 1–9999' });

export const ListQueriesBody = Type.Object({
  cluster_id: Type.Optional(Type.String({ maxLength: 64 })),
  project_id: Type.Optional(Type.String({ maxLength: 64 })),
  offset: Type.Optional(Type.Union([PageNumber, Type.Integer({ minimum: 0, maximum: 999_999 })])),
  limit: Type.Optional(Type.Union([PageSize, Type.Integer({ minimum: 1, maximum: 9999 })])),
  conditions: Type.Optional(
    Type.Array(
      Type.Object({
        field: Type.String({ maxLength: 64, description: `one of ${Object.keys(QUERY_FIELDS).join(', ')}` }),
        operator: Type.String({ maxLength: 8, description: `one of ${QUERY_OPERATORS.join(', ')}` }),
        value: Type.String({ maxLength: 1024 }),
      }),
      { maxItems: 32 },
    ),
  ),
  order_by: Type.Optional(
    Type.String({ maxLength: 64, description: 'a condition field, `-field` descending; by default the longest running first' }),
  ),
  target: Type.Optional(Type.String({ maxLength: 32, description: '`session`: every session; otherwise the statements running now' })),
});

const QueryDto = Type.Object(
  {
    query_id: Type.String({ description: '<node ordinal>-<backend pid>-<statement start, epoch ms>: one run of one statement' }),
    pid: Type.String(),
    inst_name: Type.String({ description: 'the member: node<ordinal>' }),
    ctime: Type.Number({ description: 'when it was read, epoch ms (the member’s clock)' }),
    db_name: Type.Optional(Type.String()),
    user_name: Type.Optional(Type.String()),
    application_name: Type.Optional(Type.String()),
    client_address: Type.Optional(Type.String()),
    client_hostname: Type.Optional(Type.String()),
    client_port: Type.Optional(Type.String()),
    query: Type.Optional(Type.String()),
    query_status: Type.Optional(Type.String({ description: "pg_stat_activity's state: active, idle, idle in transaction, …" })),
    waiting: Type.Boolean({ description: 'waiting on a lock' }),
    system_query: Type.Boolean({ description: "always false: dwsbox's own sessions are never listed" }),
    backend_start: Type.Optional(Type.Number()),
    curr_xact_start: Type.Optional(Type.Number()),
    query_start: Type.Optional(Type.Number()),
    state_change: Type.Optional(Type.Number()),
    start_time: Type.Optional(Type.Number()),
    duration: Type.Optional(Type.Number({ description: 'ms the statement has run (an idle session’s last one: until it ended)' })),
    query_elapsed_time: Type.Optional(Type.Number()),
    elapsed_time: Type.Optional(Type.Number({ description: 'ms since the session began' })),
    block_time: Type.Optional(Type.Number({ description: 'ms it has waited on a lock so far' })),
  },
  { additionalProperties: false },
);

export const ListQueriesResponse = Type.Object({
  data: Type.Object({
    queries: Type.Array(QueryDto),
    status: Type.Object({
      queries_count: Type.Integer({ description: 'statements running now' }),
      session_count: Type.Integer({ description: 'tenant sessions' }),
      average_time_consumption_of_queries: Type.Optional(Type.Number()),
      average_time_consumption_of_sessions: Type.Optional(Type.Number()),
      average_query_waiting_time: Type.Optional(Type.Number()),
    }),
  }),
  count: Type.Integer({ description: 'every query the target and conditions cover, not only the page' }),
});

export const ShowQueryDetailResponse = Type.Object({ data: QueryDto });

export const ListTablesStatisticQuery = Type.Object({
  rate_type: Type.Union([Type.Literal('dirtyPage'), Type.Literal('skew')]),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'a page number minus 1' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  order_by: Type.Optional(Type.Union([Type.Literal('table_size'), Type.Literal('rate'), Type.Literal('')])),
  sort_by: Type.Optional(Type.Union([Type.Literal('ASC'), Type.Literal('DESC'), Type.Literal('asc'), Type.Literal('desc')])),
  filter: Type.Optional(Type.Union(TABLE_FILTERS.map((f) => Type.Literal(f)))),
  value: Type.Optional(Type.String({ maxLength: 256 })),
});

export const ListTablesStatisticResponse = Type.Object({
  collect_time: Type.Number({ description: 'when it was read, epoch ms' }),
  data: Type.Array(
    Type.Object({
      db_name: Type.String(),
      schema_name: Type.String(),
      table_name: Type.String(),
      table_owner: Type.String(),
      table_size: Type.String({ description: 'bytes, with its indexes and TOAST' }),
      dirty_page_rate: Type.Optional(
        Type.Number({
          description: "dead tuples in percent of its tuples, as PostgreSQL's statistics count them; absent when none are counted",
        }),
      ),
    }),
  ),
  count: Type.Integer(),
});
