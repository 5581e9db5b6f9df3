/**
 * The snapshot-policy API in process (docs/snapshot-policies.md): PUT adds and updates
 * strategies and settings, GET shows them with a true next_fire_time, DELETE removes one;
 * every refused request changes nothing; read-only roles may GET; projects are tenants.
 * The schedules here are far apart, so the scheduler never fires during the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, expectError, p, startApiService, type ApiHarness, type Creds } from '../helpers/api.js';
import { PROJECT_ID } from '../helpers/service.js';
import { makeCluster } from '../helpers/records.js';
import { dumpStore } from '../helpers/store-dump.js';
import type { ClusterRecord } from '../../src/domain/records.js';

let h: ApiHarness;
let cluster: ClusterRecord;
let readonly: Creds;
let other: Creds;
const OTHER_PROJECT = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';

beforeAll(async () => {
  // The cluster is a store row with no nodes: keep the health monitor from marking it down mid-test (the store dumps compare).
  h = await startApiService({ flags: { monitorIntervalMs: 600_000 } });
  cluster = makeCluster({ projectId: PROJECT_ID });
  await h.svc.store.insertCluster(cluster);
  const r = await h.auth.createCredential(PROJECT_ID, 'readonly');
  readonly = { ak: r.accessKey, sk: r.secretKey };
  await h.svc.store.ensureProject({ id: OTHER_PROJECT, name: 'other', createdAt: 1 });
  const o = await h.auth.createCredential(OTHER_PROJECT, 'admin');
  other = { ak: o.accessKey, sk: o.secretKey };
});
afterAll(async () => {
  await h?.stop();
});

const PUT = () => `/v2/${PROJECT_ID}/clusters/${cluster.id}/snapshot-policies`;
const DEL = (id: string) => `/v1.0/${PROJECT_ID}/clusters/${cluster.id}/snapshot-policies/${id}`;
const YEARLY = '0 0 3 1 1 ?';

interface Strategy {
  policy_id: string;
  policy_name: string;
  backup_strategy: string;
  backup_type: string;
  backup_level: string;
  next_fire_time: string | null;
  update_time: string;
  time_zone_offset: number;
  backup_database: string | null;
  backup_schema_list: string | null;
  backup_table_list: string | null;
}
interface Policy {
  keep_day: number;
  backup_strategies: Strategy[];
  device_name: string;
  server_ips: string[];
  server_port: string | null;
  backup_param: string | null;
  auto_backup: boolean;
  backup_strategy_cluster_type_limit_num: number;
  backup_strategy_schema_type_limit_num: number;
}

async function get(creds: Creds = ADMIN): Promise<Policy> {
  const res = await h.call('GET', PUT(), { creds });
  expect(res.statusCode).toBe(200);
  return res.json<Policy>();
}

/** A PUT that must be refused: the store must not change at all. */
async function refused(body: unknown, status: number, code: string, msg?: RegExp): Promise<void> {
  const before = await dumpStore(h.svc.store);
  expectError(await h.call('PUT', PUT(), { body }), status, code, msg);
  expect(await dumpStore(h.svc.store)).toBe(before);
}

describe('snapshot policies: round trip', () => {
  it('a cluster with no policy shows the defaults and no strategy', async () => {
    const g = await get();
    expect(g).toEqual({
      keep_day: 7,
      backup_strategies: [],
      device_name: 'OBS',
      server_ips: [],
      server_port: null,
      backup_param: null,
      auto_backup: true,
      backup_strategy_cluster_type_limit_num: 5,
      backup_strategy_schema_type_limit_num: 5,
    });
  });

  it('PUT adds strategies (as Terraform does: one per call) and GET shows them with their next fire time', async () => {
    const r1 = await h.call('PUT', PUT(), {
      body: {
        backup_strategies: [{ policy_name: 'Nightly', backup_strategy: '0 30 2 * * ?', backup_type: 'full', backup_level: 'cluster' }],
      },
    });
    expect(r1.statusCode).toBe(200);
    expect(r1.json()).toEqual({});
    const r2 = await h.call('PUT', PUT(), {
      body: {
        keep_day: 3,
        backup_strategies: [{ policy_name: 'weekly-sun', backup_strategy: '0 0 4 ? * 1', backup_type: 'increment', time_zone_offset: 8 }],
      },
    });
    expect(r2.statusCode).toBe(200);
    const g = await get();
    expect(g.keep_day).toBe(3);
    expect(g.backup_strategies.map((s) => s.policy_name)).toEqual(['Nightly', 'weekly-sun']);
    const [nightly, weekly] = g.backup_strategies as [Strategy, Strategy];
    expect(nightly).toMatchObject({
      backup_strategy: '0 30 2 * * ?',
      backup_type: 'full',
      backup_level: 'cluster',
      time_zone_offset: 0,
      backup_database: null,
    });
    expect(nightly.policy_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(nightly.update_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
    // 02:30:00 UTC, the first one after now.
    const n = Date.parse(`${nightly.next_fire_time}Z`);
    expect(nightly.next_fire_time).toMatch(/T02:30:00$/);
    expect(n).toBeGreaterThan(h.clock.now());
    expect(n - h.clock.now()).toBeLessThanOrEqual(86_400_000);
    // Sunday 04:00 at UTC+8 is Saturday 20:00 UTC.
    expect(weekly.next_fire_time).toMatch(/T20:00:00$/);
    expect(new Date(`${weekly.next_fire_time}Z`).getUTCDay()).toBe(6);
    expect(weekly.backup_type).toBe('increment');
  });

  it('PUT with a policy_id updates that strategy; the next fire time follows the new schedule', async () => {
    const before = (await get()).backup_strategies[0]!;
    const r = await h.call('PUT', PUT(), { body: { backup_strategies: [{ policy_id: before.policy_id, backup_strategy: YEARLY }] } });
    expect(r.statusCode).toBe(200);
    const after = (await get()).backup_strategies.find((s) => s.policy_id === before.policy_id)!;
    expect(after.policy_name).toBe('Nightly');
    expect(after.backup_strategy).toBe(YEARLY);
    expect(after.backup_type).toBe('full');
    expect(after.next_fire_time).toMatch(/-01-01T03:00:00$/);
  });

  it('schema- and table-level strategies are stored with their objects', async () => {
    const r = await h.call('PUT', PUT(), {
      body: {
        backup_strategies: [
          {
            policy_name: 'sales-schemas',
            backup_strategy: YEARLY,
            backup_level: 'schema',
            backup_database: 'postgres',
            backup_schema_list: 'sales,audit',
          },
          {
            policy_name: 'orders-table',
            backup_strategy: YEARLY,
            backup_level: 'table',
            backup_database: 'postgres',
            backup_table_list: 'public.orders,sales."Line,Items"',
          },
        ],
      },
    });
    expect(r.statusCode).toBe(200);
    const g = await get();
    expect(g.backup_strategies.find((s) => s.policy_name === 'sales-schemas')).toMatchObject({
      backup_level: 'schema',
      backup_database: 'postgres',
      backup_schema_list: 'sales,audit',
      backup_table_list: null,
    });
    expect(g.backup_strategies.find((s) => s.policy_name === 'orders-table')).toMatchObject({
      backup_level: 'table',
      backup_table_list: 'public.orders,sales."Line,Items"',
    });
  });

  it('auto_backup false: nothing will fire, so next_fire_time is null; true brings it back', async () => {
    expect((await h.call('PUT', PUT(), { body: { auto_backup: false } })).statusCode).toBe(200);
    let g = await get();
    expect(g.auto_backup).toBe(false);
    expect(g.backup_strategies.every((s) => s.next_fire_time === null)).toBe(true);
    expect(
      (await h.call('PUT', PUT(), { body: { auto_backup: true, device_name: 'obs', server_ips: ['10.0.0.1'], server_port: '8080' } }))
        .statusCode,
    ).toBe(200);
    g = await get();
    expect(g.backup_strategies.every((s) => s.next_fire_time !== null)).toBe(true);
    expect(g).toMatchObject({ device_name: 'OBS', server_ips: ['10.0.0.1'], server_port: '8080', keep_day: 3 });
  });

  it('DELETE removes one strategy (200, empty body); a second DELETE is 404', async () => {
    const g = await get();
    const victim = g.backup_strategies.find((s) => s.policy_name === 'weekly-sun')!;
    const r = await h.call('DELETE', DEL(victim.policy_id));
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({});
    expect((await get()).backup_strategies.map((s) => s.policy_id)).not.toContain(victim.policy_id);
    expectError(await h.call('DELETE', DEL(victim.policy_id)), 404, 'DWS.9940');
    // The name is free again.
    expect(
      (await h.call('PUT', PUT(), { body: { backup_strategies: [{ policy_name: 'WEEKLY-SUN', backup_strategy: YEARLY }] } })).statusCode,
    ).toBe(200);
  });
});

describe('snapshot policies: validation (400) changes nothing', () => {
  const one = (o: Record<string, unknown>) => ({ backup_strategies: [{ policy_name: 'valid-name', backup_strategy: YEARLY, ...o }] });

  it('keep_day outside 1 to 31', async () => {
    for (const keep_day of [0, 32, -1]) await refused({ keep_day }, 400, 'DWS.0001', /keep_day must be an integer from 1 to 31/);
    await refused({ keep_day: 1.5 }, 400, 'DWS.0001');
    await refused({ keep_day: 'seven' }, 400, 'DWS.0001');
  });

  it('policy_name: 4 to 92 characters, a letter first, letters digits - _', async () => {
    await refused(one({ policy_name: 'abc' }), 400, 'DWS.5056', /4 to 92/);
    await refused(one({ policy_name: `a${'b'.repeat(92)}` }), 400, 'DWS.5056');
    for (const policy_name of ['1abc', 'ab cd', 'abc$', '_abc']) await refused(one({ policy_name }), 400, 'DWS.5057');
    await refused({ backup_strategies: [{ backup_strategy: YEARLY }] }, 400, 'DWS.0001', /policy_name is required/);
  });

  it('backup_strategy must be a 6-field Quartz expression or a time', async () => {
    for (const backup_strategy of ['0 2 * * *', 'daily', '0 0 25 * * ?', '0 0 0 1 * 2', '0 0 0 ? * 9', '2026-13-01T00:00:00']) {
      await refused(one({ backup_strategy }), 400, 'DWS.0001', /backup_strategy/);
    }
    await refused({ backup_strategies: [{ policy_name: 'valid-name' }] }, 400, 'DWS.0001', /backup_strategy is required/);
  });

  it('a schedule that fires more often than the minimum interval (policyMinIntervalMs, default 1 h) is POLICY_TOO_FREQUENT, naming the gap', async () => {
    await refused(
      one({ backup_strategy: '* * * * * ?' }),
      400,
      'DWS.9960',
      /backup_strategies\[0\]\.backup_strategy "\* \* \* \* \* \?": the schedule fires 1 s apart at its closest; a strategy may fire at most once every 1 h/,
    );
    await refused(one({ backup_strategy: '0 0,30 * * * ?' }), 400, 'DWS.9960', /fires 30 min apart/);
    // An update of an existing strategy is held to it too; hourly and one-off schedules pass.
    const nightly = (await get()).backup_strategies.find((x) => x.policy_name === 'Nightly')!;
    await refused({ backup_strategies: [{ policy_id: nightly.policy_id, backup_strategy: '*/10 * * * * ?' }] }, 400, 'DWS.9960');
    for (const [name, backup_strategy] of [
      ['hourly-ok', '0 0 * * * ?'],
      ['once-ok', '2031-01-01T00:00:00'],
    ]) {
      const r = await h.call('PUT', PUT(), { body: { backup_strategies: [{ policy_name: name, backup_strategy }] } });
      expect(r.statusCode, r.body).toBe(200);
      const added = (await get()).backup_strategies.find((x) => x.policy_name === name)!;
      expect((await h.call('DELETE', DEL(added.policy_id))).statusCode).toBe(200);
    }
  });

  it('backup_type, backup_level, time_zone_offset', async () => {
    await refused(one({ backup_type: 'differential' }), 400, 'DWS.0001', /backup_type must be full or increment/);
    await refused(one({ backup_level: 'database' }), 400, 'DWS.0001', /backup_level must be cluster, schema or table/);
    for (const time_zone_offset of [-1, 24])
      await refused(one({ time_zone_offset }), 400, 'DWS.0001', /time_zone_offset must be an integer from 0 to 23/);
  });

  it('per-level objects: schema level needs a database and schemas, table level schema.table names, cluster level none', async () => {
    await refused(one({ backup_level: 'schema', backup_schema_list: 'sales' }), 400, 'DWS.0001', /needs backup_database/);
    await refused(one({ backup_level: 'schema', backup_database: 'postgres' }), 400, 'DWS.0001', /schema needs 1 to/);
    await refused(
      one({ backup_level: 'table', backup_database: 'postgres', backup_table_list: 'orders' }),
      400,
      'DWS.0001',
      /schema\.table/,
    );
    await refused(
      one({ backup_level: 'schema', backup_database: 'postgres', backup_schema_list: 'pg_catalog' }),
      400,
      'DWS.0001',
      /system schema/,
    );
    await refused(one({ backup_level: 'cluster', backup_database: 'postgres' }), 400, 'DWS.0001', /cluster takes no database/);
  });

  it('device_name: OBS only (NBU and NFS have no local meaning); server_ips must be addresses', async () => {
    await refused({ device_name: 'NBU' }, 400, 'DWS.9901', /not supported by dwsbox/);
    await refused({ device_name: 'tape' }, 400, 'DWS.0001', /device_name must be one of OBS, NBU, NFS/);
    await refused({ server_ips: ['not-an-ip'] }, 400, 'DWS.0001', /server_ips\[0\]/);
  });

  it('per-level limits: at most 5 cluster-level strategies', async () => {
    const have = (await get()).backup_strategies.filter((s) => s.backup_level === 'cluster').length;
    const more = Array.from({ length: 6 - have }, (_, i) => ({ policy_name: `extra-${i}`, backup_strategy: YEARLY }));
    await refused({ backup_strategies: more }, 400, 'DWS.0001', /at most 5 cluster-level strategies/);
  });

  it('a duplicate policy_name (any case) is 409; an unknown policy_id or cluster is 404; one bad strategy refuses the whole PUT', async () => {
    await refused(one({ policy_name: 'nightly' }), 409, 'DWS.9941');
    await refused(
      { keep_day: 9, backup_strategies: [{ policy_id: '00000000-0000-4000-8000-000000000000', backup_strategy: YEARLY }] },
      404,
      'DWS.9940',
    );
    await refused(
      {
        keep_day: 9,
        backup_strategies: [
          { policy_name: 'fine-one', backup_strategy: YEARLY },
          { policy_name: 'bad', backup_strategy: YEARLY },
        ],
      },
      400,
      'DWS.5056',
    );
    expectError(
      await h.call('PUT', p('/v2/{project_id}/clusters/00000000-0000-4000-8000-000000000000/snapshot-policies'), { body: { keep_day: 2 } }),
      404,
      'DWS.0047',
    );
    expectError(
      await h.call('GET', p('/v2/{project_id}/clusters/00000000-0000-4000-8000-000000000000/snapshot-policies')),
      404,
      'DWS.0047',
    );
  });
});

describe('snapshot policies: roles and tenants', () => {
  it('a read-only credential may GET but not PUT or DELETE', async () => {
    const g = await get(readonly);
    expect(g.backup_strategies.length).toBeGreaterThan(0);
    expectError(await h.call('PUT', PUT(), { creds: readonly, body: { keep_day: 5 } }), 403, 'APIGW.0302');
    expectError(await h.call('DELETE', DEL(g.backup_strategies[0]!.policy_id), { creds: readonly }), 403, 'APIGW.0302');
  });

  it('another project sees no such cluster', async () => {
    const id = (await get()).backup_strategies[0]!.policy_id;
    const url = (path: string) => path.replace(PROJECT_ID, OTHER_PROJECT);
    expectError(await h.call('GET', url(PUT()), { creds: other }), 404, 'DWS.0047');
    expectError(await h.call('PUT', url(PUT()), { creds: other, body: { keep_day: 2 } }), 404, 'DWS.0047');
    expectError(await h.call('DELETE', url(DEL(id)), { creds: other }), 404, 'DWS.0047');
    expect((await get()).backup_strategies.map((s) => s.policy_id)).toContain(id);
  });
});

describe('snapshot policies: automated backup switched back on', () => {
  it('starts every strategy from its next slot: slots passed while it was off never fire', async () => {
    expect((await h.call('PUT', PUT(), { body: { auto_backup: false } })).statusCode).toBe(200);
    // Past every yearly slot of the strategies (the service's clock is the test's).
    h.clock.offsetMs += 400 * 86_400_000;
    try {
      expect((await h.call('PUT', PUT(), { body: { auto_backup: true } })).statusCode).toBe(200);
      const g = await get();
      expect(g.backup_strategies.length).toBeGreaterThan(0);
      for (const s of g.backup_strategies) expect(Date.parse(`${s.next_fire_time}Z`)).toBeGreaterThan(h.clock.now());
      expect(await h.svc.store.listDuePolicies(h.clock.now())).toEqual([]);
      expect(await h.svc.store.listPolicyFires()).toEqual([]);
    } finally {
      await h.call('PUT', PUT(), { body: { auto_backup: false } });
      h.clock.offsetMs = 0;
    }
  });
});
