/**
 * Names, descriptions and tags (issue 12): one rule for free text (domain/text-fields.ts) on
 * every route that stores it, so nothing one route stores is refused by another. Before, a
 * cluster create stored `<>"'` in its description and tags that the description endpoint
 * refused. Every refusal is 400 DWS.0001 naming the field, with the same wording, and changes
 * nothing; a tag stored before the rule can still be deleted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, p, PROJECT_ID, startApiService, type ApiHarness } from '../helpers/api.js';
import { ADMIN_PASSWORD, SUBNET, VPC } from '../helpers/service.js';
import { makeCluster } from '../helpers/records.js';
import { dumpDiff, dumpStore } from '../helpers/store-dump.js';

let h: ApiHarness;
let clusterId: string;
const RULE = /must not contain ! < > ' = & " or control characters/;
const HOSTILE = ['<script>alert(1)</script>', 'say "hi"', "it's", 'a=b', 'R&D', 'wow!', 'two\nlines', 'nul\u0000'];

beforeAll(async () => {
  // The cluster is a store row with no nodes: keep the health monitor from marking it down mid-test (the store dumps compare).
  h = await startApiService({ flags: { monitorIntervalMs: 600_000 } });
  // A cluster record in the store (no PostgreSQL behind it: these routes only change metadata),
  // with a tag stored before the rule existed.
  const c = makeCluster({
    projectId: PROJECT_ID,
    name: 'text-fields',
    spec: { ...makeCluster().spec, tags: [{ key: '<legacy>', value: '"x"' }], description: '' },
  });
  await h.svc.store.insertCluster(c);
  clusterId = c.id;
});
afterAll(async () => {
  await h?.stop();
});

const v1 = (o: Record<string, unknown>): unknown => ({
  cluster: {
    name: 'text-fields-new',
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
const v2 = (o: Record<string, unknown>): unknown => ({
  cluster: {
    name: 'text-fields-v2',
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

/** Every route that takes free text, and a body carrying `text` in each of its fields. */
function cases(text: string): { route: string; path: string; field: RegExp; body: unknown }[] {
  const cid = (x: string): string => x.replace('{cluster_id}', clusterId);
  return [
    {
      route: 'POST /v1.0/{project_id}/clusters',
      path: '/v1.0/{project_id}/clusters',
      field: /cluster\.cluster_description_info/,
      body: v1({ cluster_description_info: text }),
    },
    {
      route: 'POST /v1.0/{project_id}/clusters',
      path: '/v1.0/{project_id}/clusters',
      field: /cluster\.tags: a key/,
      body: v1({ tags: [{ key: text, value: 'v' }] }),
    },
    {
      route: 'POST /v1.0/{project_id}/clusters',
      path: '/v1.0/{project_id}/clusters',
      field: /cluster\.tags: the value of k/,
      body: v1({ tags: { key: 'k', value: text } }),
    },
    {
      route: 'POST /v2/{project_id}/clusters',
      path: '/v2/{project_id}/clusters',
      field: /cluster\.tags: the value of k/,
      body: v2({ tags: [{ key: 'k', value: text }] }),
    },
    {
      route: 'POST /v2/{project_id}/clusters',
      path: '/v2/{project_id}/clusters',
      field: /cluster\.tags: a key/,
      body: v2({ tags: [{ key: text, value: '' }] }),
    },
    {
      route: 'POST …/tags/batch-create',
      path: cid('/v1.0/{project_id}/clusters/{cluster_id}/tags/batch-create'),
      field: /tags: the value of k/,
      body: { tags: [{ key: 'k', value: text }] },
    },
    {
      route: 'POST …/tags/batch-create',
      path: cid('/v1.0/{project_id}/clusters/{cluster_id}/tags/batch-create'),
      field: /tags: a key/,
      body: { tags: [{ key: text, value: 'v' }] },
    },
    {
      route: 'POST …/description',
      path: cid('/v1/{project_id}/clusters/{cluster_id}/description'),
      field: /description_info/,
      body: { description_info: text },
    },
    {
      route: 'POST /v1.0/{project_id}/snapshots',
      path: '/v1.0/{project_id}/snapshots',
      field: /snapshot\.description/,
      body: { snapshot: { name: 'snap-text', cluster_id: clusterId, description: text } },
    },
  ];
}

describe('free text on every route that stores it', () => {
  it('hostile descriptions, tag keys and tag values: 400 DWS.0001 naming the field, one wording, nothing stored', async () => {
    const before = await dumpStore(h.svc.store);
    const seen = new Set<string>();
    for (const text of HOSTILE) {
      for (const c of cases(text)) {
        const e = expectError(await h.call('POST', p(c.path), { body: c.body }), 400, 'DWS.0001', RULE);
        expect(e.error_msg, `${c.route} ${JSON.stringify(text)}`).toMatch(c.field);
        seen.add(c.route);
      }
    }
    expect(seen.size).toBe(5);
    expect(dumpDiff(before, await dumpStore(h.svc.store))).toBe('');
    expect(await h.svc.store.listAllTasks()).toEqual([]);
  });

  it('what one route stores, every other accepts: ordinary text, Chinese and punctuation pass everywhere', async () => {
    const text = 'Nightly reports (EU) v2.1; owner: ops@example, 数据仓库 #7';
    expect(
      (await h.call('POST', p(`/v1/{project_id}/clusters/${clusterId}/description`), { body: { description_info: text } })).statusCode,
    ).toBe(200);
    expect(
      (
        await h.call('POST', p(`/v1.0/{project_id}/clusters/${clusterId}/tags/batch-create`), {
          body: { tags: [{ key: 'owner', value: text }] },
        })
      ).statusCode,
    ).toBe(200);
    const c = await h.svc.store.getCluster(PROJECT_ID, clusterId);
    expect(c?.spec.description).toBe(text);
    expect(c?.spec.tags).toContainEqual({ key: 'owner', value: text });
  });

  it('a tag stored before the rule can still be deleted', async () => {
    const res = await h.call('POST', p(`/v1.0/{project_id}/clusters/${clusterId}/tags/batch-delete`), {
      body: { tags: [{ key: '<legacy>', value: '"x"' }] },
    });
    expect(res.statusCode).toBe(200);
    expect((await h.svc.store.getCluster(PROJECT_ID, clusterId))?.spec.tags.map((t) => t.key)).not.toContain('<legacy>');
  });
});
