/**
 * The cluster API's input handling, in process: validation codes (D9 field-to-code table),
 * content types and bodies (D10), not-found and not-supported answers, the duplicate-name
 * conflict, and node types (D19). Refused input changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, p, startApiService, type ApiHarness } from '../helpers/api.js';
import { ADMIN_PASSWORD, SUBNET, VPC } from '../helpers/service.js';
import { LOCAL_ENGINE } from '../helpers/engine.js';
import { processesUnder } from '../helpers/env.js';

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiService();
});
afterAll(async () => {
  await h?.stop();
});

const CREATE_V1 = '/v1.0/{project_id}/clusters';
const CREATE_V2 = '/v2/{project_id}/clusters';
const UNKNOWN = '00000000-0000-4000-8000-000000000000';

type V1 = Record<string, unknown>;
const v1 = (o: V1 = {}): { cluster: V1 } => ({
  cluster: {
    name: 'valid-name',
    node_type: 'dwsx.small',
    number_of_node: 3,
    subnet_id: SUBNET,
    vpc_id: VPC,
    user_name: 'dbadmin',
    user_pwd: ADMIN_PASSWORD,
    port: 8000,
    ...o,
  },
});
const v2 = (o: V1 = {}): { cluster: V1 } => ({
  cluster: {
    name: 'valid-v2',
    flavor: 'dwsx.small',
    num_node: 3,
    db_name: 'dbadmin',
    db_password: ADMIN_PASSWORD,
    db_port: 8000,
    availability_zones: ['local-1a'],
    vpc_id: VPC,
    subnet_id: SUBNET,
    datastore_version: '15.0',
    ...o,
  },
});

async function clusterCount(on: ApiHarness = h): Promise<number> {
  const res = await on.call('GET', p(CREATE_V1));
  expect(res.statusCode).toBe(200);
  return res.json<{ count: number }>().count;
}

/** POST a create that must be refused with `status`/`code`; the cluster list and the task table must not change. */
async function refusedCreate(path: string, body: unknown, status: number, code: string, msg?: RegExp, raw?: string): Promise<string> {
  const before = await clusterCount();
  const tasksBefore = (await h.svc.store.listAllTasks()).length;
  const res = await h.call('POST', p(path), raw === undefined ? { body } : { raw });
  const e = expectError(res, status, code, msg);
  expect(await clusterCount()).toBe(before);
  expect((await h.svc.store.listAllTasks()).length).toBe(tasksBefore);
  return e.error_msg;
}

describe('create: validation (400, one code per field, D9)', () => {
  it('a name too short or too long: DWS.5056', async () => {
    await refusedCreate(CREATE_V1, v1({ name: 'abc' }), 400, 'DWS.5056', /4 to 64/);
    await refusedCreate(CREATE_V1, v1({ name: `a${'b'.repeat(64)}` }), 400, 'DWS.5056');
    await refusedCreate(CREATE_V2, v2({ name: 'ab' }), 400, 'DWS.5056');
  });

  it('a name with a bad pattern: DWS.5057', async () => {
    for (const name of ['1cluster', '_cluster', 'my cluster', 'clu$ter', '集群名称abc'])
      await refusedCreate(CREATE_V1, v1({ name }), 400, 'DWS.5057');
  });

  it('number_of_node below 3 or above 256: DWS.5047', async () => {
    await refusedCreate(CREATE_V1, v1({ number_of_node: 2 }), 400, 'DWS.5047', /3 to 256, got 2/);
    // the schema lets 300 through; the service answers
    await refusedCreate(CREATE_V1, v1({ number_of_node: 300 }), 400, 'DWS.5047', /got 300/);
    await refusedCreate(CREATE_V2, v2({ num_node: 0 }), 400, 'DWS.5047');
  });

  it('255 nodes is a valid count, but beyond this host (254 loopback addresses): 400 DWS.9906', async () => {
    await refusedCreate(CREATE_V1, v1({ number_of_node: 255 }), 400, 'DWS.9906', /at most 254 nodes/);
  });

  it('a bad administrator user name: DWS.5059', async () => {
    for (const user_name of ['DbAdmin', '1admin', 'db-admin', 'a'.repeat(64), 'postgres', 'pg_admin'])
      await refusedCreate(CREATE_V1, v1({ user_name }), 400, 'DWS.5059');
    await refusedCreate(CREATE_V2, v2({ db_name: 'Admin' }), 400, 'DWS.5059');
  });

  it('a weak password: DWS.5144', async () => {
    for (const user_pwd of ['password', 'short-A1', 'alllowercaseletters', 'NoDigitsOrSpecials', 'Spaces are 1 bad'])
      await refusedCreate(CREATE_V1, v1({ user_pwd }), 400, 'DWS.5144');
  });

  it('the user name, or the user name reversed, as password: DWS.5145', async () => {
    await refusedCreate(CREATE_V1, v1({ user_name: 'dbadmin_user1', user_pwd: '1resu_nimdabd' }), 400, 'DWS.5145');
    await refusedCreate(CREATE_V1, v1({ user_name: 'dbadmin_user1', user_pwd: 'DBADMIN_user1' }), 400, 'DWS.5145');
  });

  it('a VPC, subnet or security group id that is not a UUID: DWS.5064', async () => {
    await refusedCreate(CREATE_V1, v1({ vpc_id: 'vpc-12345' }), 400, 'DWS.5064', /vpc_id/);
    await refusedCreate(CREATE_V1, v1({ subnet_id: 'not-a-uuid' }), 400, 'DWS.5064', /subnet_id/);
    await refusedCreate(CREATE_V1, v1({ security_group_id: '1234' }), 400, 'DWS.5064', /security_group_id/);
  });

  it('an unknown node type: DWS.5006', async () => {
    await refusedCreate(CREATE_V1, v1({ node_type: 'dws.nonexistent.huge' }), 400, 'DWS.5006', /node-types/);
    await refusedCreate(CREATE_V2, v2({ flavor: 'nope' }), 400, 'DWS.5006');
  });

  it('an unknown availability zone: DWS.5011', async () => {
    await refusedCreate(CREATE_V1, v1({ availability_zone: 'cn-north-4a' }), 400, 'DWS.5011');
    await refusedCreate(CREATE_V2, v2({ availability_zones: ['local-1a', 'mars-1'] }), 400, 'DWS.5011');
  });

  it('a port outside 8000-30000: 400', async () => {
    await refusedCreate(CREATE_V1, v1({ port: 7999 }), 400, 'DWS.0001', /8000 to 30000/);
    await refusedCreate(CREATE_V1, v1({ port: 30001 }), 400, 'DWS.0001', /8000 to 30000/);
    await refusedCreate(CREATE_V2, v2({ db_port: 80 }), 400, 'DWS.0001', /8000 to 30000/);
  });

  it("wrong JSON types: 400 naming the field (and the field's own code where it has one)", async () => {
    expect(await refusedCreate(CREATE_V1, v1({ number_of_node: '3' }), 400, 'DWS.5047')).toContain('body.cluster.number_of_node');
    expect(await refusedCreate(CREATE_V1, v1({ port: '8000' }), 400, 'DWS.0001')).toContain('body.cluster.port');
    expect(await refusedCreate(CREATE_V1, v1({ number_of_node: 3.5 }), 400, 'DWS.5047')).toContain('body.cluster.number_of_node');
    expect(await refusedCreate(CREATE_V1, v1({ name: 12345 }), 400, 'DWS.5057')).toContain('body.cluster.name');
    expect(await refusedCreate(CREATE_V1, v1({ tags: 'team=dw' }), 400, 'DWS.0001')).toContain('body.cluster.tags');
    expect(await refusedCreate(CREATE_V1, { cluster: 'not an object' }, 400, 'DWS.0001')).toContain('body.cluster');
    expect(await refusedCreate(CREATE_V2, v2({ availability_zones: 'local-1a' }), 400, 'DWS.0001')).toContain(
      'body.cluster.availability_zones',
    );
  });

  it('a missing required field: 400 naming it', async () => {
    const body = v1();
    delete body.cluster['vpc_id'];
    expect(await refusedCreate(CREATE_V1, body, 400, 'DWS.0001')).toMatch(/body\.cluster\.vpc_id is required/);
    expect(await refusedCreate(CREATE_V1, {}, 400, 'DWS.0001')).toMatch(/body\.cluster is required/);
  });

  it('malformed JSON: 400', async () => {
    await refusedCreate(CREATE_V1, undefined, 400, 'DWS.0001', /not valid JSON/, '{"cluster": {"name": "abcd",');
    await refusedCreate(CREATE_V1, undefined, 400, 'DWS.0001', /not valid JSON/, 'cluster=abcd');
  });

  it('an empty body where one is required: 400 DWS.0006', async () => {
    await refusedCreate(CREATE_V1, undefined, 400, 'DWS.0006', undefined, '');
    await refusedCreate(CREATE_V1, undefined, 400, 'DWS.0006', undefined, 'null');
  });

  it('a public IP to assign: 400 DWS.9901, not supported', async () => {
    await refusedCreate(
      CREATE_V1,
      v1({ public_ip: { public_bind_type: 'auto_assign', eip_id: '' } }),
      400,
      'DWS.9901',
      /not supported by dwsbox/,
    );
    await refusedCreate(CREATE_V1, v1({ public_ip: { public_bind_type: 'bind_existing', eip_id: UNKNOWN } }), 400, 'DWS.9901');
  });

  it('KMS encryption and IPv6 on v2: 400 DWS.9901', async () => {
    await refusedCreate(CREATE_V2, v2({ master_key_id: 'k1' }), 400, 'DWS.9901', /KMS/);
    await refusedCreate(CREATE_V2, v2({ ipv6_enable: true }), 400, 'DWS.9901', /IPv6/);
  });

  it('none of the refused requests left a cluster, a node or a task behind', async () => {
    expect(await clusterCount()).toBe(0);
    expect(await h.svc.store.listClusters()).toEqual([]);
    expect(await h.svc.store.countNodes()).toBe(0);
    expect(await h.svc.store.listAllTasks()).toEqual([]);
  });
});

describe('content types and bodies (D10)', () => {
  it('a non-JSON content type on POST: 415', async () => {
    const res = await h.call('POST', p(CREATE_V1), { raw: 'name=abcd', headers: { 'content-type': 'text/plain' } });
    expectError(res, 415, 'DWS.0001', /application\/json/);
    const form = await h.call('POST', p(`/v1.0/{project_id}/clusters/${UNKNOWN}/restart`), {
      raw: 'a=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectError(form, 415, 'DWS.0001');
    expect(await clusterCount()).toBe(0);
  });

  it('an empty body with Content-Type: application/json is accepted where the body is optional', async () => {
    // restart of an unknown cluster: the body passes, the cluster does not exist
    const res = await h.call('POST', p(`/v1.0/{project_id}/clusters/${UNKNOWN}/restart`), {
      raw: '',
      headers: { 'content-type': 'application/json' },
    });
    expectError(res, 404, 'DWS.0047');
    const noType = await h.call('POST', p(`/v1.0/{project_id}/clusters/${UNKNOWN}/restart`));
    expectError(noType, 404, 'DWS.0047');
  });

  it('a body over 1 MiB: 413', async () => {
    const res = await h.call('POST', p(CREATE_V1), { raw: JSON.stringify({ cluster: { name: 'x'.repeat(1024 * 1024 + 10) } }) });
    expectError(res, 413, 'DWS.0001');
  });
});

describe('the local engine (--engine local)', () => {
  let local: ApiHarness;
  beforeAll(async () => {
    local = await startApiService({ flags: LOCAL_ENGINE });
  });
  afterAll(async () => {
    await local?.stop();
  });

  it('sync_mode (a dwsbox extension of create) on the local engine: 400 NOT_SUPPORTED naming the engine; an unknown mode: 400', async () => {
    const before = await clusterCount(local);
    expectError(
      await local.call('POST', p(CREATE_V1), { body: v1({ name: 'sync-mode-local', sync_mode: 'strict' }) }),
      400,
      'DWS.9901',
      /local engine.*patroni engine/,
    );
    expectError(await local.call('POST', p(CREATE_V2), { body: v2({ name: 'sync-mode-v2', sync_mode: 'sometimes' }) }), 400, 'DWS.0001');
    expect(await clusterCount(local)).toBe(before);
    // Nor changed later (the dwsbox sync-mode call): the engine is named before the cluster is looked up.
    const later = p(`/dwsbox/v1/{project_id}/clusters/${UNKNOWN}/sync-mode`);
    expectError(await local.call('PUT', later, { body: { sync_mode: 'async' } }), 400, 'DWS.9901', /local engine.*patroni engine/);
    expectError(await local.call('PUT', later, { body: { sync_mode: 'sometimes' } }), 400, 'DWS.0001');
    expectError(await local.call('PUT', later, { body: {} }), 400, 'DWS.0001');
  });

  it('SwitchOverCluster on the local engine: 400 NOT_SUPPORTED naming the engine to use; on an unknown cluster the same', async () => {
    const res = await local.call('POST', p(`/v1.0/{project_id}/clusters/${UNKNOWN}/switchover`));
    expectError(res, 400, 'DWS.9901', /local engine.*patroni engine/);
    const bad = await local.call('POST', p(`/v1.0/{project_id}/clusters/${UNKNOWN}/switchover`), { body: { candidate_node_id: 7 } });
    expectError(bad, 400, 'DWS.0001');
  });
});

describe('not found and not supported', () => {
  it('an unknown cluster: 404 DWS.0047, on reads and writes alike', async () => {
    expectError(await h.call('GET', p(`/v1.0/{project_id}/clusters/${UNKNOWN}`)), 404, 'DWS.0047', new RegExp(UNKNOWN));
    expectError(await h.call('DELETE', p(`/v2/{project_id}/clusters/${UNKNOWN}`)), 404, 'DWS.0047');
    expectError(await h.call('POST', p(`/v1/{project_id}/clusters/${UNKNOWN}/stop`)), 404, 'DWS.0047');
    expectError(
      await h.call('POST', p(`/v1.0/{project_id}/clusters/${UNKNOWN}/reset-password`), { body: { new_password: 'Another-Pass-22' } }),
      404,
      'DWS.0047',
    );
    expectError(
      await h.call('POST', p(`/v1.0/{project_id}/clusters/${UNKNOWN}/tags/batch-create`), { body: { tags: [{ key: 'k', value: 'v' }] } }),
      404,
      'DWS.0047',
    );
  });

  it('an unknown route: 404 APIGW.0101, with or without credentials', async () => {
    expectError(await h.call('GET', p('/v1.0/{project_id}/no-such-thing')), 404, 'APIGW.0101', /no-such-thing/);
    expectError(await h.call('GET', '/nothing/here', { creds: null }), 404, 'APIGW.0101');
    expectError(await h.call('PATCH', p(CREATE_V1), { body: {} }), 404, 'APIGW.0101');
  });

  const unsupported: [string, string][] = [
    ['POST', `/v2/{project_id}/clusters/${UNKNOWN}/eips/${UNKNOWN}`],
    ['DELETE', `/v2/{project_id}/clusters/${UNKNOWN}/eips/${UNKNOWN}`],
    ['POST', `/v2/{project_id}/clusters/${UNKNOWN}/elbs/${UNKNOWN}`],
    ['DELETE', `/v2/{project_id}/clusters/${UNKNOWN}/elbs/${UNKNOWN}`],
    ['POST', `/v1/{project_id}/clusters/${UNKNOWN}/lts-logs/enable`],
    ['POST', `/v1/{project_id}/clusters/${UNKNOWN}/lts-logs/disable`],
    ['POST', `/v1.0/{project_id}/clusters/${UNKNOWN}/expand-instance-storage`],
  ];
  for (const [method, path] of unsupported) {
    it(`${method} ${path.replace(new RegExp(UNKNOWN, 'g'), ':id')}: 400 DWS.9901, never an invented success`, async () => {
      const res = await h.call(method, p(path), method === 'POST' ? { body: { new_size: 200 } } : {});
      expectError(res, 400, 'DWS.9901', /not supported by dwsbox/);
    });
  }
});

describe('node types (D19)', () => {
  it('lists node types with both available_zones and availability_zones', async () => {
    for (const path of ['/v2/{project_id}/node-types', '/v1.0/{project_id}/node_types']) {
      const res = await h.call('GET', p(path));
      expect(res.statusCode).toBe(200);
      const body = res.json<{
        count: number;
        node_types: {
          spec_name: string;
          id: string;
          datastore_type: string;
          architecture: string;
          available_zones: { code: string }[];
          availability_zones: { code: string }[];
          datastores: { attachments: { min_cn: unknown; max_cn: unknown } }[];
        }[];
      }>();
      expect(body.count).toBe(body.node_types.length);
      expect(body.node_types.map((t) => t.spec_name)).toContain('dwsx.small');
      for (const t of body.node_types) {
        expect(t.datastore_type).toBe('dws');
        // The SDK types these as numbers, and the architecture is this host's (every node runs here).
        expect(t.architecture).toBe({ x64: 'x86', arm64: 'arm' }[process.arch as string] ?? process.arch);
        expect(t.datastores[0]!.attachments).toEqual({ min_cn: 2, max_cn: 20 });
        expect(t.available_zones.length).toBeGreaterThan(0);
        expect(t.availability_zones).toEqual(t.available_zones);
        expect(t.available_zones.map((z) => z.code)).toContain('local-1a');
      }
    }
  });
});

describe('a real create (its build held by a fault, so no PostgreSQL starts)', () => {
  let id = '';
  const name = 'duplicate-me';

  beforeAll(async () => {
    const f = await h.call('POST', p('/dwsbox/v1/{project_id}/faults'), {
      body: { action_name: 'CREATING', step: 'CHECK_CAPACITY', mode: 'hang', point: 'before' },
    });
    expect(f.statusCode).toBe(200);
  });

  it('is accepted, and shows CREATING at once', async () => {
    const res = await h.call('POST', p(CREATE_V1), { body: v1({ name, port: 8000 + Math.floor(Math.random() * 20000) }) });
    expect(res.statusCode).toBe(200);
    id = res.json<{ cluster: { id: string } }>().cluster.id;
    const d = await h.call('GET', p(`/v1.0/{project_id}/clusters/${id}`));
    expect(d.json<{ cluster: { status: string; action_progress: Record<string, string> } }>().cluster).toMatchObject({
      status: 'CREATING',
      action_progress: { CREATING: expect.any(String) },
    });
  });

  it('a second cluster of the same name: 409 DWS.5050, and nothing is added', async () => {
    await refusedCreate(CREATE_V1, v1({ name }), 409, 'DWS.5050', new RegExp(name));
    await refusedCreate(CREATE_V2, v2({ name }), 409, 'DWS.5050');
    expect(await clusterCount()).toBe(1);
  });

  it('an empty JSON body on restart is not a 400: the busy cluster answers 409 DWS.0011', async () => {
    const res = await h.call('POST', p(`/v1.0/{project_id}/clusters/${id}/restart`), {
      raw: '',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.statusCode).not.toBe(400);
    expectError(res, 409, 'DWS.0011', /CREATING/);
    const withBody = await h.call('POST', p(`/v1.0/{project_id}/clusters/${id}/restart`), { body: { restart: {} } });
    expectError(withBody, 409, 'DWS.0011');
    // and it did not queue anything
    expect((await h.svc.store.listTasks(id)).map((t) => t.kind)).toEqual(['cluster.create']);
  });

  it('a delete while it is being created: 409 DWS.0011', async () => {
    expectError(await h.call('DELETE', p(`/v1.0/{project_id}/clusters/${id}`)), 409, 'DWS.0011');
  });

  it('is renamed at once, even while its create runs (ModifyClusterName); a bad or taken name changes nothing', async () => {
    const rename = (clusterName: unknown, cid = id) =>
      h.call('PUT', p(`/v1/{project_id}/clusters/${cid}/cluster-name`), { body: { cluster_name: clusterName } });
    const nameNow = async () =>
      (await h.call('GET', p(`/v1.0/{project_id}/clusters/${id}`))).json<{ cluster: { name: string } }>().cluster.name;
    expect((await rename('renamed-one')).statusCode).toBe(200);
    expect(await nameNow()).toBe('renamed-one');
    const listed = (await h.call('GET', p('/v1.0/{project_id}/clusters'))).json<{ clusters: { id: string; name: string }[] }>();
    expect(listed.clusters.find((c) => c.id === id)?.name).toBe('renamed-one');
    expectError(await rename('1-starts-with-a-digit'), 400, 'DWS.5057');
    expectError(await rename('abc'), 400, 'DWS.5056');
    expectError(await rename(42), 400, 'DWS.0001');
    expectError(await rename('renamed-two', UNKNOWN), 404, 'DWS.0047');
    expect(await nameNow()).toBe('renamed-one');
    // The old name is free again; the new one is taken.
    await refusedCreate(CREATE_V1, v1({ name: 'renamed-one' }), 409, 'DWS.5050');
    expect((await rename(name)).statusCode).toBe(200);
    expect(await nameNow()).toBe(name);
  });

  it('has a maintenance window: Thu 22:00–02:00 UTC at first, set at once (UpdateMaintenanceWindow); bad input changes nothing', async () => {
    const set = (body: unknown, cid = id) => h.call('PUT', p(`/v1.0/{project_id}/clusters/${cid}/maintenance-window`), { body });
    const windowNow = async () =>
      (await h.call('GET', p(`/v1.0/{project_id}/clusters/${id}`))).json<{ cluster: { maintain_window: unknown } }>().cluster
        .maintain_window;
    expect(await windowNow()).toEqual({ day: 'Thu', start_time: '22:00', end_time: '02:00' });
    const ok = await set({ day: 'sat', start_time: '23:00', end_time: '03:00' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({});
    expect(await windowNow()).toEqual({ day: 'Sat', start_time: '23:00', end_time: '03:00' });
    const refused: [unknown, RegExp][] = [
      [{ day: 'Saturday', start_time: '01:00', end_time: '05:00' }, /day "Saturday"/],
      [{ day: 'Mon', start_time: '01:30', end_time: '05:30' }, /start_time "01:30"/],
      [{ day: 'Mon', start_time: '01:00', end_time: '03:00' }, /lasts 4 hours/],
      [{ day: 'Mon', start_time: '01:00' }, /end_time/],
      [{ day: 7, start_time: '01:00', end_time: '05:00' }, /day/],
    ];
    for (const [body, msg] of refused) expectError(await set(body), 400, 'DWS.0001', msg);
    expectError(await set({ day: 'Mon', start_time: '01:00', end_time: '05:00' }, UNKNOWN), 404, 'DWS.0047');
    expect(await windowNow()).toEqual({ day: 'Sat', start_time: '23:00', end_time: '03:00' });
  });

  it('(the fault holds the build: no node was initialized)', async () => {
    const [task] = await h.svc.store.listTasks(id);
    expect((await h.svc.store.getStep(task!.id, 'INIT_PRIMARY'))!.status).toBe('WAITING');
    expect(processesUnder(h.dataDir).filter((x) => /postgres -D|initdb/.test(x.cmd))).toEqual([]);
  });
});
