/**
 * Hostile names that reach PostgreSQL and child processes (issue 6, hostile input), on a real
 * cluster: a database, a schema and a table whose names hold quotes, semicolons, SQL comments
 * and shell metacharacters go through the table-restore routes (CheckTableRestore and
 * RestoreTable: SQL in the cluster, pgBackRest's --db-include, pg_dump -t and pg_restore in a
 * temporary instance). They are either refused with a 400 DWS body (NUL, too long, empty) or
 * carried through safely quoted: the check answers with the names as given, the restore brings
 * the table back under its own hostile name and under a new one, and nothing the names
 * "say" is ever executed (a canary table and the public schema survive, no file appears).
 * The privilege and object routes (issue 16: UpdateDatabaseAuthority, ShowDatabaseAuthority,
 * ListDatabaseObjects, ListSchemas) carry the same names: granted, shown and listed exactly.
 */
import { existsSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/dataplane/pg-instance.js';
import { createAvailableCluster, startService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/env.js';
import { adminSql } from '../helpers/restore-data.js';

/** Each at most 63 bytes (PostgreSQL's limit), each a small injection attempt of its own. */
const DB = `d"b'; drop database postgres; --$(id)`;
const SCHEMA = `s"; drop schema public cascade; --`;
const TABLE = `t'); drop table canary; -- \`touch /tmp/dwsbox-pwned\``;
const NEW_SCHEMA = `n$(touch /tmp/dwsbox-pwned)|&;'"`;
const NEW_TABLE = `r"; select pg_sleep(600); --`;
const PWNED = '/tmp/dwsbox-pwned';

let t: TestService;
let clusterId = '';
let ep = '';
let snapId = '';

const q = (schema: string, table: string): string => `${ident(schema)}.${ident(table)}`;
const sql = <R extends Record<string, unknown> = Record<string, unknown>>(text: string) => adminSql<R>(ep, text, DB);
const tbl = (schema: string, table: string) => ({ schema_name: schema, table_name: table });
const body = (src: [string, string][], dst: [string, string][], database = DB) => ({
  case_sensitive: true,
  database,
  restore_table_list: src.map(([s, n]) => tbl(s, n)),
  target_table_list: dst.map(([s, n]) => tbl(s, n)),
});
interface Job {
  job_id: string;
  status: string;
  failed_detail: string;
}

async function canaryIntact(): Promise<void> {
  expect(await sql<{ n: number }>('select count(*)::int as n from public.canary')).toEqual([{ n: 3 }]);
  expect((await adminSql<{ n: number }>(ep, `select count(*)::int as n from pg_database where datname = 'postgres'`))[0]!.n).toBe(1);
  expect(existsSync(PWNED)).toBe(false);
}

function expectDwsError(r: { status: number; body: unknown }, status: number, code?: RegExp): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  const b = r.body as Record<string, unknown>;
  expect(Object.keys(b).sort()).toEqual(['error_code', 'error_msg']);
  expect(b['error_code']).toMatch(code ?? /^DWS\.\d{4}$/);
}

beforeAll(async () => {
  rmSync(PWNED, { force: true });
  for (const n of [DB, SCHEMA, TABLE, NEW_SCHEMA, NEW_TABLE]) expect(Buffer.byteLength(n)).toBeLessThanOrEqual(63);
  t = await startService();
  const c = await createAvailableCluster(t.client);
  clusterId = c.id;
  ep = c.detail.endpoints[0]!.connect_info;
  await adminSql(ep, `create database ${ident(DB)}`);
  await sql(`create table public.canary (id int primary key); insert into public.canary values (1), (2), (3);
    create schema ${ident(SCHEMA)};
    create table ${q(SCHEMA, TABLE)} (id serial primary key, ${ident(`v'"; --`)} text not null default 'x'';--', unique (${ident(`v'"; --`)}));
    insert into ${q(SCHEMA, TABLE)} (${ident(`v'"; --`)}) select 'row ' || g from generate_series(1, 500) g;`);
  const r = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
    snapshot: { name: 'snap-hostile', cluster_id: clusterId },
  });
  snapId = r.snapshot.id;
  await waitFor(
    async () =>
      (await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${snapId}`)).snapshot.status ===
      'AVAILABLE',
    { what: 'the snapshot', timeoutMs: 200_000 },
  );
});
afterAll(async () => {
  await t?.stop();
  rmSync(PWNED, { force: true });
});

describe('hostile database, schema and table names', () => {
  it('the snapshot recorded them as they are', async () => {
    const s = await t.svc.store.getSnapshotById(snapId);
    const db = s!.schemaInfo!.databases.find((d) => d.name === DB);
    expect(db?.tables.map((x) => [x.schema, x.name])).toEqual(
      expect.arrayContaining([
        ['public', 'canary'],
        [SCHEMA, TABLE],
      ]),
    );
  });

  it('CheckTableRestore: quoted, never executed; the answer names them exactly', async () => {
    const path = `/v1/{project_id}/snapshots/${snapId}/table-restore-check`;
    // an existing target with a hostile name is found (a bound parameter, not SQL text)
    const exists = await t.client.call<{ check_table_name_result: unknown }>('POST', path, body([[SCHEMA, TABLE]], [[SCHEMA, TABLE]]));
    expect(exists.check_table_name_result).toEqual({ database: DB, restore_table_list: null, target_table_list: [`${SCHEMA}.${TABLE}`] });
    // sources the snapshot lacks, with quotes, semicolons and comments: listed, not run
    const attempts: [string, string][] = [
      ['public', "x'; drop table canary; --"],
      ['public"; drop table canary; --', 'y'],
      ['public', '$(touch /tmp/dwsbox-pwned)'],
      ['public', 'x`id`|cat /etc/passwd;&'],
    ];
    const missing = await t.client.call<{
      check_table_name_result: { restore_table_list: string[] | null; target_table_list: string[] | null };
    }>(
      'POST',
      path,
      body(
        attempts,
        attempts.map(([s, n]) => [s, `${n}_copy`] as [string, string]),
      ),
    );
    expect(missing.check_table_name_result.restore_table_list).toEqual(attempts.map(([s, n]) => `${s}.${n}`));
    expect(missing.check_table_name_result.target_table_list).toBeNull();
    // a system schema as the target: refused, not looked up
    expectDwsError(await t.client.request('POST', path, body([[SCHEMA, TABLE]], [['pg_catalog', 'pg_authid']])), 400);
    await canaryIntact();
  });

  it('names PostgreSQL cannot hold are refused with a 400 DWS body (NUL, empty, over 63 bytes), on both routes', async () => {
    for (const route of ['table-restore-check', 'table-restore']) {
      const path = `/v1/{project_id}/snapshots/${snapId}/${route}`;
      for (const b of [
        body([[SCHEMA, 'a\u0000b']], [[SCHEMA, 'c']]),
        body([[SCHEMA, TABLE]], [['', 'c']]),
        body([[SCHEMA, TABLE]], [[SCHEMA, 'x'.repeat(64)]]),
        body([[SCHEMA, TABLE]], [[SCHEMA, 'c']], 'd\u0000b'),
        body([[SCHEMA, TABLE]], [[SCHEMA, 'c']], `${DB}x`),
      ])
        expectDwsError(await t.client.request('POST', path, b), 400);
    }
    await canaryIntact();
  });

  it('RestoreTable: unknown hostile sources are a 400 naming them; nothing is queued', async () => {
    const r = await t.client.request(
      'POST',
      `/v1/{project_id}/snapshots/${snapId}/table-restore`,
      body([['public', "z'; drop table canary; --"]], [['public', 'z2']]),
    );
    expectDwsError(r, 400, /^DWS\.5174$/);
    expect((await t.svc.store.listTasks(clusterId)).filter((x) => x.kind === 'snapshot.table_restore')).toEqual([]);
  });

  async function restore(b: unknown): Promise<Job> {
    const r = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${snapId}/table-restore`, b);
    return waitFor(
      async () => {
        const j = await t.client.call<Job>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
        return j.status === 'SUCCESS' || j.status === 'FAIL' ? j : null;
      },
      { what: 'the table restore', intervalMs: 200, timeoutMs: 200_000 },
    );
  }

  it('RestoreTable brings the dropped table back under its hostile name (pgBackRest --db-include, pg_dump -t, pg_restore)', async () => {
    await sql(`drop table ${q(SCHEMA, TABLE)}`);
    const job = await restore(body([[SCHEMA, TABLE]], [[SCHEMA, TABLE]]));
    expect(job.status, job.failed_detail).toBe('SUCCESS');
    expect(await sql<{ n: number }>(`select count(*)::int as n from ${q(SCHEMA, TABLE)}`)).toEqual([{ n: 500 }]);
    await canaryIntact();
  });

  it('and under a new hostile name in a new hostile schema, beside it', async () => {
    const job = await restore(body([[SCHEMA, TABLE]], [[NEW_SCHEMA, NEW_TABLE]]));
    expect(job.status, job.failed_detail).toBe('SUCCESS');
    expect(await sql<{ n: number }>(`select count(*)::int as n from ${q(NEW_SCHEMA, NEW_TABLE)}`)).toEqual([{ n: 500 }]);
    // its unique key on the hostile column came along
    await expect(sql(`insert into ${q(NEW_SCHEMA, NEW_TABLE)} (${ident(`v'"; --`)}) values ('row 1')`)).rejects.toThrow(/duplicate key/);
    expect(await sql<{ n: number }>(`select count(*)::int as n from ${q(SCHEMA, TABLE)}`)).toEqual([{ n: 500 }]);
    await canaryIntact();
  });
  it('the privilege and object routes: grants on them, shows and lists them exactly, quoted, never executed', async () => {
    const M = `/v1/{project_id}/clusters/${clusterId}/db-manager`;
    expect(
      (await t.client.request('POST', `${M}/users`, { name: 'hostile_reader', type: 'USER', password: 'Hostile-Reader-1' })).status,
    ).toBe(200);
    const grant = (type: string, objects: string[], permission: string, extra: Record<string, unknown> = {}) =>
      t.client.request<{ view_sql: string[] }>('POST', `${M}/authority`, {
        type,
        is_grant: true,
        database: DB,
        object_list: objects,
        role_list: ['hostile_reader'],
        grant_list: [{ permission }],
        ...extra,
      });
    const usage = await grant('SCHEMA', [SCHEMA], 'USAGE');
    expect(usage.status, JSON.stringify(usage.body)).toBe(200);
    expect(usage.body.view_sql).toEqual([`grant usage on schema ${ident(SCHEMA)} to "hostile_reader"`]);
    const select = await grant('TABLE', [TABLE], 'SELECT', { schema: SCHEMA });
    expect(select.body.view_sql).toEqual([`grant select on table ${q(SCHEMA, TABLE)} to "hostile_reader"`]);
    const column = await grant('COLUMN', [`v'"; --`], 'UPDATE', { schema: SCHEMA, table: TABLE });
    expect(column.status, JSON.stringify(column.body)).toBe(200);
    const [held] = await sql<{ s: boolean; u: boolean }>(
      `select has_table_privilege('hostile_reader', '${q(SCHEMA, TABLE).replace(/'/g, "''")}', 'SELECT') as s,
              has_column_privilege('hostile_reader', '${q(SCHEMA, TABLE).replace(/'/g, "''")}', '${`v'"; --`.replace(/'/g, "''")}', 'UPDATE') as u`,
    );
    expect(held).toEqual({ s: true, u: true });
    const qs = (o: Record<string, string>) => new URLSearchParams(o).toString();
    const shown = await t.client.call<{ authorities: { name: string; role_authority: { role: string; right_list: string[] }[] }[] }>(
      'GET',
      `${M}/authority?${qs({ type: 'TABLE', database: DB, schema: SCHEMA, name: TABLE })}`,
    );
    expect(shown.authorities[0]!.name).toBe(TABLE);
    expect(shown.authorities[0]!.role_authority).toContainEqual({ role: 'hostile_reader', right_list: ['SELECT'] });
    const listed = async (o: Record<string, string>) =>
      (await t.client.call<{ object_list: { obj_name: string }[] }>('GET', `${M}/objects?${qs(o)}`)).object_list.map((x) => x.obj_name);
    expect(await listed({ type: 'DATABASE' })).toContain(DB);
    expect(await listed({ type: 'SCHEMA', database: DB })).toContain(SCHEMA);
    expect(await listed({ type: 'TABLE', database: DB, schema: SCHEMA })).toContain(TABLE);
    const schemas = await t.client.call<{ schemas: { schema_name: string; total_value: number }[] }>(
      'GET',
      `/v2/{project_id}/clusters/${clusterId}/databases/${encodeURIComponent(DB)}/schemas?limit=100`,
    );
    expect(schemas.schemas.find((x) => x.schema_name === SCHEMA)?.total_value).toBeGreaterThan(0);
    // names that exist nowhere are a 404; a NUL is a 400; nothing they say runs
    expectDwsError(await grant('TABLE', [`${TABLE}x`], 'SELECT', { schema: SCHEMA }), 404, /^DWS\.9974$/);
    expectDwsError(await grant('SCHEMA', ['a\u0000b'], 'USAGE'), 400);
    expectDwsError(await grant('SCHEMA', [SCHEMA], 'USAGE', { role_list: [NEW_TABLE] }), 404, /^DWS\.9971$/);
    await canaryIntact();
  });
});
