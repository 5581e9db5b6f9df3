/**
 * The cluster and project information routes (issue 16, D28): ListClusterTags, ListTagsForResource,
 * ListTags, ListQuotas, ListAvailabilityZones, ListClusterNodes, ShowInstance, ListClusterEndpoints. Over clusters
 * written to the store (no PostgreSQL): what each answers, that a write shows in the next read
 * (the answers come from the kept reads), and the refusals: an unknown or another project's
 * cluster 404 as the detail, another project's credential 403, bad filters 400.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, expectError, p, startApiService, type ApiHarness, type Creds } from '../helpers/api.js';
import { ADMIN_PASSWORD, PROJECT_ID, SUBNET, VPC } from '../helpers/service.js';
import { makeCluster, makeNode } from '../helpers/records.js';
import type { ClusterRecord, NodeRecord } from '../../src/domain/records.js';
import { newSnapshotRecord } from '../../src/services/snapshot-service.js';
import { AVAILABILITY_ZONES } from '../../src/api/schemas/cluster.js';

const OTHER_PROJECT = 'f'.repeat(32);
const UNKNOWN = '00000000-0000-4000-8000-000000000000';

interface NodeList {
  node_list: { id: string; name: string; status: string; spec: string; inst_create_type: string; az_code?: string; role: string }[];
  count: number;
  failed_count: number;
}
interface QuotaList {
  quotas: { resources: { type: string; used: number; quota: number; unit?: string }[] };
}

let h: ApiHarness;
let other: Creds;
/** a cluster as the local engine records one: no router, each node an endpoint */
let local: ClusterRecord;
let localNodes: NodeRecord[];
/** a cluster as the Patroni engine records one: its router's hosts in the spec, two zones */
let ha: ClusterRecord;
let theirs: ClusterRecord;

async function get<T>(path: string, creds: Creds = ADMIN): Promise<T> {
  const res = await h.call('GET', p(path), { creds });
  expect(res.statusCode, `${path}: ${res.body}`).toBe(200);
  return res.json<T>();
}

beforeAll(async () => {
  // Store-only clusters: keep the health monitor from touching them.
  h = await startApiService({ flags: { monitorIntervalMs: 600_000 } });
  const x = await h.auth.createCredential(OTHER_PROJECT, 'admin');
  other = { ak: x.accessKey, sk: x.secretKey };

  local = makeCluster({
    projectId: PROJECT_ID,
    name: 'info-local',
    subnetIndex: 201,
    spec: { ...makeCluster().spec, tags: [{ key: 'team', value: 'data' }] },
  });
  await h.svc.store.insertCluster(local);
  localNodes = [
    makeNode(local, 1, { health: 'up' }),
    makeNode(local, 2, { health: 'down' }),
    makeNode(local, 3, { health: 'stopped' }),
    makeNode(local, 4, { health: 'unknown', membership: 'building' }),
    makeNode(local, 5, { health: 'up', membership: 'removing' }),
  ];
  for (const n of localNodes) await h.svc.store.insertNode(n);

  ha = makeCluster({
    projectId: PROJECT_ID,
    name: 'info-ha',
    subnetIndex: 202,
    port: 8100,
    spec: {
      ...makeCluster().spec,
      availabilityZone: 'local-1a,local-1b',
      tags: [
        { key: 'team', value: 'bi' },
        { key: 'env', value: 'prod' },
      ],
      endpoints: { readWrite: '127.0.202.250', readOnly: '127.0.202.251' },
    },
  });
  await h.svc.store.insertCluster(ha);
  for (let n = 1; n <= 3; n++) await h.svc.store.insertNode(makeNode(ha, n, { health: 'up', role: n === 2 ? 'primary' : 'standby' }));

  theirs = makeCluster({
    projectId: OTHER_PROJECT,
    name: 'info-theirs',
    spec: { ...makeCluster().spec, tags: [{ key: 'secret', value: 'x' }] },
  });
  await h.svc.store.insertCluster(theirs);
  await h.svc.store.insertNode(makeNode(theirs, 1));
});
afterAll(async () => {
  await h?.stop();
});

describe('tags', () => {
  it("ListClusterTags: the cluster's tags, and a batch-create or batch-delete shows in the next read", async () => {
    const path = `/v1.0/{project_id}/clusters/${local.id}/tags`;
    expect(await get(path)).toEqual({ tags: [{ key: 'team', value: 'data' }] });
    const add = await h.call('POST', p(`${path}/batch-create`), {
      body: {
        tags: [
          { key: 'owner', value: '数据组' },
          { key: 'team', value: 'ops' },
        ],
      },
    });
    expect(add.statusCode, add.body).toBe(200);
    expect(await get(path)).toEqual({
      tags: [
        { key: 'team', value: 'ops' },
        { key: 'owner', value: '数据组' },
      ],
    });
    const del = await h.call('POST', p(`${path}/batch-delete`), { body: { tags: [{ key: 'team', value: 'ops' }] } });
    expect(del.statusCode, del.body).toBe(200);
    expect(await get(path)).toEqual({ tags: [{ key: 'owner', value: '数据组' }] });
    // the same tags as the detail shows
    const detail = await get<{ cluster: { tags: unknown } }>(`/v1.0/{project_id}/clusters/${local.id}`);
    expect(detail.cluster.tags).toEqual([{ key: 'owner', value: '数据组' }]);
  });

  it("ListTags: every key of the project's clusters with its distinct values, sorted; never another project's", async () => {
    const path = `/v1.0/{project_id}/clusters/${local.id}/tags/batch-create`;
    const add = await h.call('POST', p(path), { body: { tags: [{ key: 'team', value: 'bi' }] } });
    expect(add.statusCode, add.body).toBe(200);
    expect(await get('/v1.0/{project_id}/tags')).toEqual({
      tags: [
        { key: 'env', values: ['prod'] },
        { key: 'owner', values: ['数据组'] },
        { key: 'team', values: ['bi'] },
      ],
    });
    await h.call('POST', p(path), { body: { tags: [{ key: 'team', value: 'analytics' }] } });
    expect((await get<{ tags: { key: string; values: string[] }[] }>('/v1.0/{project_id}/tags')).tags[2]).toEqual({
      key: 'team',
      values: ['analytics', 'bi'],
    });
    const theirTags = await h.call('GET', `/v1.0/${OTHER_PROJECT}/tags`, { creds: other });
    expect(theirTags.json()).toEqual({ tags: [{ key: 'secret', values: ['x'] }] });
  });
});

describe('ListQuotas', () => {
  it("the project's node and snapshot quotas from the settings, and what it uses of each, as the checks count them", async () => {
    const q0 = await get<QuotaList>('/v1.0/{project_id}/quotas');
    expect(q0.quotas.resources).toEqual([
      { type: 'instances', used: 8, quota: h.config.projectNodeQuota },
      { type: 'snapshots', used: 0, quota: h.config.projectSnapshotQuota },
      { type: 'snapshot_storage', used: 0, quota: h.config.projectRepoQuotaMb, unit: 'MB' },
    ]);
    // a new snapshot (1.5 MB recorded) and a new node show in the next read
    await h.svc.store.insertSnapshot({
      ...newSnapshotRecord(PROJECT_ID, ha, { name: 'quota-snap', clusterId: ha.id, description: '' }, 10_000),
      status: 'AVAILABLE',
      sizeBytes: 1_500_000,
    });
    await h.svc.store.insertNode(makeNode(ha, 4, { membership: 'building' }));
    const q1 = await get<QuotaList>('/v1.0/{project_id}/quotas');
    expect(q1.quotas.resources.map((r) => [r.type, r.used])).toEqual([
      ['instances', 9],
      ['snapshots', 1],
      ['snapshot_storage', 2],
    ]);
    // another project's figures are its own
    const theirs = (await h.call('GET', `/v1.0/${OTHER_PROJECT}/quotas`, { creds: other })).json<QuotaList>();
    expect(theirs.quotas.resources.map((r) => r.used)).toEqual([1, 0, 0]);
  });
});

describe('ListAvailabilityZones', () => {
  it('the zones a create accepts, and a create naming another is refused', async () => {
    const z = await get<{ availability_zones: { code: string; status: string }[]; count: number }>('/v1.0/{project_id}/availability-zones');
    expect(z.availability_zones).toEqual(AVAILABILITY_ZONES.map((code) => ({ code, status: 'available' })));
    expect(z.count).toBe(AVAILABILITY_ZONES.length);
    const res = await h.call('POST', p('/v1.0/{project_id}/clusters'), {
      body: {
        cluster: {
          name: 'zone-refused',
          node_type: 'dwsx.small',
          number_of_node: 3,
          subnet_id: SUBNET,
          vpc_id: VPC,
          user_name: 'dbadmin',
          user_pwd: ADMIN_PASSWORD,
          availability_zone: 'local-9z',
        },
      },
    });
    const e = expectError(res, 400, 'DWS.5011', /local-9z/);
    for (const zone of z.availability_zones) expect(e.error_msg).toContain(zone.code);
  });
});

describe('ListClusterNodes', () => {
  const path = (c: ClusterRecord = local): string => `/v2/{project_id}/clusters/${c.id}/nodes`;

  it("every member, by ordinal, with the SDK's status from membership and health, and dwsbox's role and address", async () => {
    const l = await get<NodeList>(path());
    expect(l.count).toBe(5);
    expect(l.failed_count).toBe(2);
    expect(l.node_list.map((n) => [n.name, n.status, n.role])).toEqual([
      ['node1', 'ACTIVE', 'primary'],
      ['node2', 'FAILED', 'standby'],
      ['node3', 'FAILED', 'standby'],
      ['node4', 'CREATING', 'standby'],
      ['node5', 'DELETING', 'standby'],
    ]);
    expect(l.node_list[0]).toEqual({
      id: localNodes[0]!.id,
      name: 'node1',
      status: 'ACTIVE',
      spec: 'dwsx.small',
      inst_create_type: 'INST',
      az_code: 'local-1a',
      role: 'primary',
      health: 'up',
      connect_info: '127.0.201.1:8000',
    });
    // a cluster over two zones: no zone per node
    const two = await get<NodeList>(path(ha));
    expect(two.node_list.every((n) => !('az_code' in n))).toBe(true);
    expect(two.node_list.find((n) => n.role === 'primary')?.name).toBe('node2');
  });

  it('node_ids, filter_by/filter, order, offset and limit as the SDK sends them; count covers the filters', async () => {
    // (the SDK's signer sorts an array it is given in place: each call gets its own)
    const ids = [localNodes[1]!.id, localNodes[3]!.id];
    const byIds = (
      await h.sdkCall('GET', `/v2/${PROJECT_ID}/clusters/${local.id}/nodes`, { query: { node_ids: [...ids] } })
    ).json<NodeList>();
    expect(byIds.node_list.map((n) => n.name)).toEqual(['node2', 'node4']);
    const one = (
      await h.sdkCall('GET', `/v2/${PROJECT_ID}/clusters/${local.id}/nodes`, { query: { node_ids: localNodes[1]!.id } })
    ).json<NodeList>();
    expect(one.node_list.map((n) => n.name)).toEqual(['node2']);
    const failed = await get<NodeList>(`${path()}?filter_by=status&filter=FAILED`);
    expect([failed.count, failed.failed_count, failed.node_list.map((n) => n.name)]).toEqual([2, 2, ['node2', 'node3']]);
    expect((await get<NodeList>(`${path()}?filter_by=status&filter=ALL`)).count).toBe(5);
    expect((await get<NodeList>(`${path()}?filter_by=instCreateType&filter=INST`)).count).toBe(5);
    expect(await get<NodeList>(`${path()}?filter_by=instCreateType&filter=NODE`)).toEqual({ node_list: [], count: 0, failed_count: 0 });
    const page = await get<NodeList>(`${path()}?order_by=name&order=desc&offset=1&limit=2`);
    expect([page.count, page.node_list.map((n) => n.name)]).toEqual([5, ['node4', 'node3']]);
    // a client that pages until it has `count` nodes (as the Terraform provider does) ends
    const seen: string[] = [];
    for (let offset = 0; seen.length < 5;) {
      const pg = await get<NodeList>(`${path()}?offset=${offset}&limit=2`);
      expect(pg.node_list.length).toBeGreaterThan(0);
      seen.push(...pg.node_list.map((n) => n.name));
      offset += pg.node_list.length;
    }
    expect(seen).toEqual(['node1', 'node2', 'node3', 'node4', 'node5']);
  });

  it('a health change shows in the next read', async () => {
    await h.svc.store.updateNode(localNodes[1]!.id, { health: 'up', updatedAt: h.clock.now() });
    const l = await get<NodeList>(path());
    expect(l.node_list[1]!.status).toBe('ACTIVE');
    expect(l.failed_count).toBe(1);
    await h.svc.store.updateNode(localNodes[1]!.id, { health: 'down', updatedAt: h.clock.now() });
  });

  it('bad filters and pages: 400 DWS.0001', async () => {
    expectError(await h.call('GET', p(`${path()}?filter_by=status&filter=RUNNING`)), 400, 'DWS.0001', /ACTIVE/);
    expectError(await h.call('GET', p(`${path()}?filter_by=instCreateType&filter=ACTIVE`)), 400, 'DWS.0001', /INST/);
    expectError(await h.call('GET', p(`${path()}?filter=ACTIVE`)), 400, 'DWS.0001', /filter_by/);
    expectError(await h.call('GET', p(`${path()}?filter_by=role`)), 400, 'DWS.0001');
    expectError(await h.call('GET', p(`${path()}?order_by=status`)), 400, 'DWS.0001');
    expectError(await h.call('GET', p(`${path()}?order=up`)), 400, 'DWS.0001');
    expectError(await h.call('GET', p(`${path()}?limit=0`)), 400, 'DWS.0001');
    expectError(await h.call('GET', p(`${path()}?offset=-1`)), 400, 'DWS.0001');
  });
});

describe('ListTagsForResource', () => {
  it("the cluster's enterprise project as its system tag, as recorded; offset and limit page it", async () => {
    const one = await get<{ sys_tags: unknown[]; count: number }>(`/v1/{project_id}/clusters/${local.id}/enterprise-projects`);
    expect(one).toEqual({ sys_tags: [{ key: '_sys_enterprise_project_id', value: local.spec.enterpriseProjectId }], count: 1 });
    await h.svc.store.updateCluster(ha.id, { spec: { ...ha.spec, enterpriseProjectId: 'ep-analytics' } });
    expect(await get(`/v1/{project_id}/clusters/${ha.id}/enterprise-projects`)).toEqual({
      sys_tags: [{ key: '_sys_enterprise_project_id', value: 'ep-analytics' }],
      count: 1,
    });
    expect(await get(`/v1/{project_id}/clusters/${ha.id}/enterprise-projects?offset=1&limit=10`)).toEqual({ sys_tags: [], count: 1 });
    expectError(await h.call('GET', p(`/v1/{project_id}/clusters/${ha.id}/enterprise-projects?limit=0`)), 400, 'DWS.0001');
  });
});

describe('ShowInstance', () => {
  interface Instance {
    id: string;
    name: string;
    cluster_id: string;
    role: string;
    status: string;
    traffic_ip: string;
    configuration_status: string;
    flavor: { id: string };
    volume: { type: string; size: number; used?: number };
    replicas: { id: string; name: string }[];
  }

  it("each node of the project's clusters by its id: role and state as recorded, its cluster's node type, the other members as replicas", async () => {
    const nodes = (await get<NodeList>(`/v2/{project_id}/clusters/${local.id}/nodes`)).node_list;
    const statuses: string[] = [];
    for (const n of nodes) {
      const i = await get<Instance>(`/v2/{project_id}/instances/${n.id}`);
      const rec = localNodes.find((x) => x.id === n.id)!;
      expect([i.id, i.name, i.cluster_id, i.role, i.traffic_ip]).toEqual([n.id, n.name, local.id, rec.role, rec.host]);
      expect(i.flavor.id).not.toBe('');
      expect(i.volume.type).toBe('LOCAL_DISK');
      expect(i.volume.size).toBeGreaterThan(0);
      // No PostgreSQL runs behind these records: nothing measured, nothing invented.
      expect(i.volume.used).toBeUndefined();
      expect(i.replicas.map((r) => r.id).sort()).toEqual(
        localNodes
          .filter((x) => x.id !== n.id && x.membership === 'active')
          .map((x) => x.id)
          .sort(),
      );
      statuses.push(i.status);
    }
    expect(statuses).toEqual(['ACTIVE', 'FAILED', 'SHUTDOWN', 'BUILD', 'DELETING']);
    expect((await get<Instance>(`/v2/{project_id}/instances/${localNodes[0]!.id}`)).configuration_status).toBe('In-Sync');
  });

  it('a pending restart shows as Pending-Reboot; an unknown id, or a node of another project, is 404 DWS.9981', async () => {
    const pendingRestart = { parameters: [{ name: 'max_connections', value: '120', running: '100' }], since: Date.now(), taskId: UNKNOWN };
    await h.svc.store.updateCluster(ha.id, { pendingRestart });
    const haNode = (await get<NodeList>(`/v2/{project_id}/clusters/${ha.id}/nodes`)).node_list[0]!;
    expect((await get<Instance>(`/v2/{project_id}/instances/${haNode.id}`)).configuration_status).toBe('Pending-Reboot');
    const [theirNode] = await h.svc.store.listNodes(theirs.id);
    for (const id of [UNKNOWN, 'not-a-uuid', theirNode!.id])
      expectError(await h.call('GET', p(`/v2/{project_id}/instances/${id}`)), 404, 'DWS.9981', /does not exist/);
    // …and with the other project's own credential it is theirs to see.
    const res = await h.call('GET', `/v2/${OTHER_PROJECT}/instances/${theirNode!.id}`, { creds: other });
    expect(res.statusCode, res.body).toBe(200);
  });
});

describe('ListClusterEndpoints', () => {
  it("the local engine's cluster: its primary node's address, and each node as the detail lists them", async () => {
    const e = await get<{ private_endpoints: unknown; public_ip_infos: unknown[]; endpoints: unknown[] }>(
      `/v1/{project_id}/clusters/${local.id}/endpoints`,
    );
    expect(e.private_endpoints).toEqual({ ip: '127.0.201.1', port: 8000 });
    expect(e.public_ip_infos).toEqual([]);
    const detail = await get<{ cluster: { endpoints: unknown[] } }>(`/v1.0/{project_id}/clusters/${local.id}`);
    expect(e.endpoints).toEqual(detail.cluster.endpoints);
  });

  it("a highly available cluster: its router's read-write address, then its read-only one", async () => {
    const e = await get<{ private_endpoints: unknown; endpoints: { connect_info: string }[] }>(
      `/v1/{project_id}/clusters/${ha.id}/endpoints`,
    );
    expect(e.private_endpoints).toEqual({ ip: '127.0.202.250', port: 8100 });
    expect(e.endpoints.map((x) => x.connect_info)).toEqual(['127.0.202.250:8100', '127.0.202.251:8100']);
  });
});

describe('refusals, as the other cluster routes give them', () => {
  const clusterPaths = (id: string): string[] => [
    `/v1.0/{project_id}/clusters/${id}/tags`,
    `/v2/{project_id}/clusters/${id}/nodes`,
    `/v1/{project_id}/clusters/${id}/endpoints`,
    `/v1/{project_id}/clusters/${id}/enterprise-projects`,
  ];
  const projectPaths = [
    '/v1.0/{project_id}/tags',
    '/v1.0/{project_id}/quotas',
    '/v1.0/{project_id}/availability-zones',
    '/v1.0/{project_id}/statistics',
    '/v1/{project_id}/resource-statistics',
  ];

  it("an unknown id, a malformed one, another project's cluster: the detail's 404 DWS.0047", async () => {
    for (const id of [UNKNOWN, 'not-a-uuid', theirs.id]) {
      const detail = expectError(await h.call('GET', p(`/v1.0/{project_id}/clusters/${id}`)), 404, 'DWS.0047');
      for (const path of clusterPaths(id)) expect(expectError(await h.call('GET', p(path)), 404, 'DWS.0047')).toEqual(detail);
    }
  });

  it("another project's credential: 403; none: 401; a read-only one reads", async () => {
    const ro = await h.auth.createCredential(PROJECT_ID, 'readonly');
    for (const path of [...clusterPaths(local.id), ...projectPaths]) {
      expectError(await h.call('GET', p(path), { creds: other }), 403, 'APIGW.0302', /another project/);
      expectError(await h.call('GET', p(path), { creds: null }), 401, 'APIGW.0301');
      expect((await h.call('GET', p(path), { creds: { ak: ro.accessKey, sk: ro.secretKey } })).statusCode, path).toBe(200);
    }
  });
});

describe('ListStatistics and ShowResourceStatistics', () => {
  type Stats = { statistics: { name: string; value: number; unit: string }[] };
  type Resources = { cluster_statistics: { active: number; total: number }; node_statistics: { active: number; total: number } };
  const figures = async (creds?: Creds) => {
    const path = creds ? `/v1.0/${OTHER_PROJECT}/statistics` : p('/v1.0/{project_id}/statistics');
    const rpath = creds ? `/v1/${OTHER_PROJECT}/resource-statistics` : p('/v1/{project_id}/resource-statistics');
    const st = (await h.call('GET', path, { creds: creds ?? ADMIN })).json<Stats>();
    const rs = (await h.call('GET', rpath, { creds: creds ?? ADMIN })).json<Resources>();
    return { st: Object.fromEntries(st.statistics.map((x) => [x.name, x.value])), rs, units: st.statistics.map((x) => x.unit) };
  };

  it("count the project's clusters, those AVAILABLE, their members, those up, and their disk; a new cluster shows in the next read, never in another project's", async () => {
    const before = await figures();
    const theirsBefore = await figures(other);
    expect(before.units).toEqual(['count', 'count', 'count', 'count', 'GB']);
    expect(before.rs).toEqual({
      cluster_statistics: { active: before.st['cluster.normal'], total: before.st['cluster.total'] },
      node_statistics: { active: before.st['instance.normal'], total: before.st['instance.total'] },
    });
    const added = makeCluster({ projectId: PROJECT_ID, name: 'stats-new', subnetIndex: 209, status: 'AVAILABLE', nodeType: 'dwsx.small' });
    await h.svc.store.insertCluster(added);
    for (const [i, health] of (['up', 'up', 'down'] as const).entries()) await h.svc.store.insertNode(makeNode(added, i + 1, { health }));
    const down = makeCluster({
      projectId: PROJECT_ID,
      name: 'stats-down',
      subnetIndex: 210,
      status: 'UNAVAILABLE',
      nodeType: 'dwsx.small',
    });
    await h.svc.store.insertCluster(down);
    const after = await figures();
    expect({
      clusters: after.st['cluster.total']! - before.st['cluster.total']!,
      normal: after.st['cluster.normal']! - before.st['cluster.normal']!,
      nodes: after.st['instance.total']! - before.st['instance.total']!,
      up: after.st['instance.normal']! - before.st['instance.normal']!,
      gb: after.st['storage.total']! - before.st['storage.total']!,
    }).toEqual({ clusters: 2, normal: 1, nodes: 3, up: 2, gb: 60 });
    expect(await figures(other)).toEqual(theirsBefore);
  });
});
