/**
 * ListClusters and ListSnapshots: pages (limit, offset: a dwsbox extension), counts of the
 * whole list, and answers that follow the store at once (the lists, the views, the pages and
 * the job answers are kept in the read cache while the store is unchanged, issue 14).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, p, startApiService, type ApiHarness } from '../helpers/api.js';
import { PROJECT_ID } from '../helpers/service.js';
import { makeCluster, makeNode, makeTask } from '../helpers/records.js';
import type { ClusterRecord } from '../../src/domain/records.js';
import { newSnapshotRecord } from '../../src/services/snapshot-service.js';

interface ClusterList {
  clusters: { id: string; name: string; task_status: string }[];
  count: number;
}
interface SnapshotList {
  snapshots: { id: string; name: string; status: string; progress?: string }[];
  count: number;
}

describe('list pages', () => {
  let h: ApiHarness;
  const clusters: ClusterRecord[] = [];
  beforeAll(async () => {
    // Store-only clusters: keep the health monitor from touching them.
    h = await startApiService({ flags: { monitorIntervalMs: 600_000 } });
    for (let i = 0; i < 5; i++) {
      const c = makeCluster({ projectId: PROJECT_ID, name: `cluster-${i}`, createdAt: 1_000 + i, subnetIndex: null });
      await h.svc.store.insertCluster(c);
      for (let n = 1; n <= c.numberOfNode; n++) await h.svc.store.insertNode(makeNode(c, n));
      clusters.push(c);
    }
    // Another project's cluster and snapshot never show.
    const other = makeCluster({ projectId: 'another-project', name: 'theirs' });
    await h.svc.store.insertCluster(other);
    await h.svc.store.insertSnapshot({
      ...newSnapshotRecord('another-project', other, { name: 'theirs', clusterId: other.id, description: '' }, 1),
      status: 'AVAILABLE',
    });
    for (let i = 0; i < 7; i++) {
      const c = clusters[i % clusters.length]!;
      await h.svc.store.insertSnapshot({
        ...newSnapshotRecord(PROJECT_ID, c, { name: `snap-${i}`, clusterId: c.id, description: '' }, 10_000 + i),
        status: 'AVAILABLE',
      });
    }
  });
  afterAll(async () => {
    await h?.stop();
  });

  const get = async <T>(path: string): Promise<T> => {
    const r = await h.call('GET', p(path));
    expect(r.statusCode, r.body).toBe(200);
    return r.json<T>();
  };

  it('ListClusters: every cluster oldest first by default, a page when asked, count of all', async () => {
    const all = await get<ClusterList>('/v1.0/{project_id}/clusters');
    expect(all.count).toBe(5);
    expect(all.clusters.map((c) => c.name)).toEqual(['cluster-0', 'cluster-1', 'cluster-2', 'cluster-3', 'cluster-4']);
    const page = await get<ClusterList>('/v2/{project_id}/clusters?limit=2&offset=1');
    expect(page.count).toBe(5);
    expect(page.clusters.map((c) => c.name)).toEqual(['cluster-1', 'cluster-2']);
    expect((await get<ClusterList>('/v1.0/{project_id}/clusters?offset=9')).clusters).toEqual([]);
    expect((await get<ClusterList>('/v1.0/{project_id}/clusters?enterprise_project_id=nothing&limit=1')).count).toBe(0);
  });

  it('ListSnapshots: newest first, a page when asked, count of all', async () => {
    const all = await get<SnapshotList>('/v1.0/{project_id}/snapshots');
    expect(all.count).toBe(7);
    expect(all.snapshots.map((s) => s.name)).toEqual(['snap-6', 'snap-5', 'snap-4', 'snap-3', 'snap-2', 'snap-1', 'snap-0']);
    const page = await get<SnapshotList>('/v1.0/{project_id}/snapshots?limit=3&offset=2');
    expect(page.count).toBe(7);
    expect(page.snapshots.map((s) => s.name)).toEqual(['snap-4', 'snap-3', 'snap-2']);
  });

  it('a bad page is a 400 and changes nothing', async () => {
    for (const q of ['limit=0', 'limit=1001', 'offset=-1', 'limit=abc']) {
      expectError(await h.call('GET', p(`/v1.0/{project_id}/snapshots?${q}`)), 400, 'DWS.0001');
      expectError(await h.call('GET', p(`/v1.0/{project_id}/clusters?${q}`)), 400, 'DWS.0001');
    }
  });

  /** A restart of the cluster, running (a store record only). */
  const runningRestart = async (clusterId: string) => {
    const task = makeTask({
      projectId: PROJECT_ID,
      clusterId,
      kind: 'cluster.restart',
      status: 'RUNNING',
      lockKey: `cluster:${clusterId}`,
    });
    await h.svc.store.insertTask(task, []);
    return task;
  };

  it('the lists follow each committed change at once', async () => {
    const c = clusters[2]!;
    await get<ClusterList>('/v1.0/{project_id}/clusters');
    await get<SnapshotList>('/v1.0/{project_id}/snapshots');
    const task = await runningRestart(c.id);
    await h.svc.store.updateCluster(c.id, { name: 'renamed' });
    const list = await get<ClusterList>('/v1.0/{project_id}/clusters');
    const shown = list.clusters.find((x) => x.id === c.id)!;
    expect(shown.name).toBe('renamed');
    expect(shown.task_status).toBe('REBOOTING');
    const snaps = await get<SnapshotList>('/v1.0/{project_id}/snapshots');
    expect(snaps.snapshots.filter((s) => s.name === 'snap-2' || s.name === 'snap-6')).toHaveLength(2);
    await h.svc.store.updateTask(task.id, { status: 'SUCCESS', finishedAt: 20_000 }, 20_000);
    expect((await get<ClusterList>('/v1.0/{project_id}/clusters')).clusters.find((x) => x.id === c.id)!.task_status).toBe('');
  });

  it('a page asked again, and a job polled again, are the same answer until a commit changes them, then the new one at once', async () => {
    // The pages and the job's answer are kept, and serialized once, while the store is unchanged.
    const page = '/v1.0/{project_id}/clusters?limit=2&offset=3';
    const first = await get<ClusterList>(page);
    expect(await get<ClusterList>(page)).toEqual(first);
    await h.svc.store.updateCluster(clusters[3]!.id, { name: 'renamed-again' });
    expect((await get<ClusterList>(page)).clusters.map((x) => x.name)).toEqual(['renamed-again', 'cluster-4']);
    const extra = makeCluster({ projectId: PROJECT_ID, name: 'cluster-5', createdAt: 2_000, subnetIndex: null });
    await h.svc.store.insertCluster(extra);
    const grown = await get<ClusterList>(page);
    expect(grown.count).toBe(6);
    expect(grown.clusters.map((x) => x.name)).toEqual(['renamed-again', 'cluster-4']);

    const snapPage = '/v1.0/{project_id}/snapshots?limit=1&offset=0';
    const newest = (await get<SnapshotList>(snapPage)).snapshots[0]!;
    expect(newest.name).toBe('snap-6');
    await h.svc.store.updateSnapshot(newest.id, { name: 'snap-6-renamed' });
    expect((await get<SnapshotList>(snapPage)).snapshots[0]!.name).toBe('snap-6-renamed');

    const job = await runningRestart(extra.id);
    const poll = () => get<{ job_id: string; status: string }>(`/v1.0/{project_id}/job/${job.id}`);
    expect((await poll()).status).toBe('RUNNING');
    expect((await poll()).status).toBe('RUNNING');
    await h.svc.store.updateTask(job.id, { status: 'SUCCESS', finishedAt: 30_000 }, 30_000);
    expect(await poll()).toMatchObject({ job_id: job.id, status: 'SUCCESS' });
    expectError(await h.call('GET', p(`/v1.0/another-project/job/${job.id}`)), 403, 'APIGW.0302');
  });

  it('node types: one body, the same on both paths', async () => {
    const a = await h.call('GET', p('/v2/{project_id}/node-types'));
    const b = await h.call('GET', p('/v1.0/{project_id}/node_types'));
    expect(a.statusCode).toBe(200);
    expect(a.body).toBe(b.body);
    expect((await h.call('GET', p('/v2/{project_id}/node-types'))).body).toBe(a.body);
    expect(a.json<{ node_types: unknown[] }>().node_types.length).toBeGreaterThan(0);
  });
});
