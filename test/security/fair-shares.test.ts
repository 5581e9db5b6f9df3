/**
 * Fair shares between projects (issue 12, "Medium"; D32; docs/security.md): one tenant must
 * not be able to fill the shared disk, hold every task slot, or take the host's nodes. One
 * attack per test, each failing without its guard, on one small real cluster (made in
 * beforeAll, shared by the file):
 * - a `* * * * * ?` snapshot policy is refused (the minimum interval between fires);
 * - the snapshot quota refuses a request and records a policy fire REFUSED, writing nothing;
 * - the node quota refuses create, restore and scale-out beyond it;
 * - a snapshot into a repository without room is refused before anything is written: at the
 *   request, and in its backup step for a snapshot accepted earlier (the service restarted
 *   with a margin larger than the disk's free space, rather than filling a disk);
 * - a project with many queued tasks (held by delay faults) does not block another project's
 *   task;
 * - the faults API is off unless the operator enables it.
 * No assertion is on how long anything takes.
 */
import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DwsClient } from '../../src/cli/client.js';
import { AuthService } from '../../src/auth/auth-service.js';
import { Secrets } from '../../src/auth/secrets.js';
import { loadConfig } from '../../src/config/config.js';
import { systemClock } from '../../src/domain/clock.js';
import { BYTES_PER_MB } from '../../src/domain/snapshot-space.js';
import { setDirs } from '../../src/dataplane/pg-backup.js';
import { silentLogger } from '../../src/log/logger.js';
import { expectError, p, startApiService } from '../helpers/api.js';
import { waitFor } from '../helpers/env.js';
import { makeCluster } from '../helpers/records.js';
import { PROJECT_ID, createAvailableCluster, startService, waitIdle, type TestService } from '../helpers/service.js';

/** The project's node quota here: the 3-node cluster fits, 3 more nodes do not. */
const NODE_QUOTA = 5;
const FLAGS = { projectNodeQuota: NODE_QUOTA, projectSnapshotQuota: 1, schedulerIntervalMs: 200 };

let t: TestService;
let clusterId: string;
let stanza: string;
let snapshotId: string;

interface Snap {
  id: string;
  status: string;
}

const snapshots = async (): Promise<Snap[]> =>
  (await t.client.call<{ snapshots: Snap[] }>('GET', `/v1.0/{project_id}/clusters/${clusterId}/snapshots`)).snapshots;
const tasksOf = async (id: string) => t.svc.store.listTasks(id);
/** The backup set directories in the stanza's repository, listed by pgBackRest or not. */
const setsOnDisk = (): string[] => setDirs(t.svc.dataPlane.backrest, stanza).sort();

/** What a refused request must leave as it was: the cluster's snapshots and tasks, and the repository's sets. */
async function untouched(): Promise<string> {
  return JSON.stringify({
    snapshots: (await snapshots()).map((s) => [s.id, s.status]).sort(),
    tasks: (await tasksOf(clusterId)).map((x) => [x.id, x.status]).sort(),
    sets: setsOnDisk(),
  });
}

async function refusedWith(
  call: () => Promise<{ status: number; body: unknown }>,
  status: number,
  code: string,
  msg?: RegExp,
): Promise<string> {
  const before = await untouched();
  const r = await call();
  const body = r.body as { error_code: string; error_msg: string };
  expect({ status: r.status, code: body.error_code }, body.error_msg).toEqual({ status, code });
  if (msg) expect(body.error_msg).toMatch(msg);
  expect(await untouched()).toBe(before);
  return body.error_msg;
}

beforeAll(async () => {
  t = await startService({ flags: FLAGS });
  const c = await createAvailableCluster(t.client);
  clusterId = c.id;
  stanza = (await t.svc.store.getClusterById(c.id))!.stanza;
  // The project's one snapshot (its quota here): real, and what the restore below would restore.
  const r = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
    snapshot: { name: 'the-only-one', cluster_id: clusterId },
  });
  snapshotId = r.snapshot.id;
  await waitFor(async () => (await snapshots()).find((s) => s.id === snapshotId && s.status !== 'CREATING'), {
    what: 'the first snapshot',
    timeoutMs: 180_000,
  });
  expect((await snapshots()).find((s) => s.id === snapshotId)!.status).toBe('AVAILABLE');
}, 400_000);
afterAll(async () => {
  await t?.stop();
});

describe('fair shares between projects (issue 12)', () => {
  it('a policy that would back up every second is refused (POLICY_TOO_FREQUENT); none is saved', async () => {
    const put = (backup_strategy: string) =>
      t.client.request('PUT', `/v2/{project_id}/clusters/${clusterId}/snapshot-policies`, {
        backup_strategies: [{ policy_name: 'fill-the-disk', backup_strategy, backup_type: 'full' }],
      });
    await refusedWith(
      () => put('* * * * * ?'),
      400,
      'DWS.9960',
      /fires 1 s apart at its closest; a strategy may fire at most once every 1 h/,
    );
    await refusedWith(() => put('*/5 * * * * ?'), 400, 'DWS.9960', /fires 5 s apart/);
    expect(
      (await t.client.call<{ backup_strategies: unknown[] }>('GET', `/v2/{project_id}/clusters/${clusterId}/snapshot-policies`))
        .backup_strategies,
    ).toEqual([]);
  });

  it('the snapshot quota: one more snapshot is refused, and a policy fire beyond it is recorded REFUSED with the reason; nothing is written', async () => {
    await refusedWith(
      () => t.client.request('POST', '/v1.0/{project_id}/snapshots', { snapshot: { name: 'one-too-many', cluster_id: clusterId } }),
      400,
      'DWS.9961',
      /^Snapshot quota exceeded: the project has 1 snapshots, its quota is 1 \(setting projectSnapshotQuota\)/,
    );
    // A one-off strategy a few seconds ahead (UTC wall time): its fire meets the same quota.
    const before = await untouched();
    const at = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3000).toISOString().slice(0, 19);
    await t.client.call('PUT', `/v2/{project_id}/clusters/${clusterId}/snapshot-policies`, {
      backup_strategies: [{ policy_name: 'one-off-fire', backup_strategy: at }],
    });
    const policyId = (
      await t.client.call<{ backup_strategies: { policy_id: string }[] }>('GET', `/v2/{project_id}/clusters/${clusterId}/snapshot-policies`)
    ).backup_strategies[0]!.policy_id;
    const fire = await waitFor(async () => (await t.svc.store.listPolicyFires(policyId))[0], { what: 'the one-off fire' });
    expect(fire).toMatchObject({ outcome: 'REFUSED', snapshotId: null });
    expect(fire.detail).toMatch(/^Snapshot quota exceeded: the project has 1 snapshots, its quota is 1/);
    expect(await untouched()).toBe(before);
    await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${clusterId}/snapshot-policies/${policyId}`);
  });

  it("an in-place restore's safety snapshot counts too: refused beyond the quota (DWS.9961), nothing written", async () => {
    const before = await untouched();
    await refusedWith(
      () => t.client.request('POST', `/v1.0/{project_id}/clusters/${clusterId}/in-place-restore`, { restore: { snapshot_id: snapshotId } }),
      400,
      'DWS.9961',
      /^Snapshot quota exceeded: the project has 1 snapshots, its quota is 1/,
    );
    expect(await untouched()).toBe(before);
  });

  it('the node quota leaves room for other projects: create, restore and scale-out beyond it are refused (DWS.5091)', async () => {
    // The defaults: one project may have 24 of the host's 64 nodes.
    const defaults = loadConfig({ env: {}, flags: {} });
    expect(defaults.projectNodeQuota).toBeLessThan(defaults.maxNodes / 2);
    const quota = new RegExp(`^Node quota exceeded: the project has 3 nodes; 3 more would pass its quota of ${NODE_QUOTA}$`);
    const create = {
      cluster: {
        name: 'over-quota',
        node_type: 'dwsx.small',
        number_of_node: 3,
        subnet_id: '7d6c5b4a-3f2e-4d1c-8b0a-9e8d7c6b5a43',
        vpc_id: '3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98',
        user_name: 'dbadmin',
        user_pwd: 'Dwsbox-Test-Pass1',
        port: 18000,
      },
    };
    await refusedWith(() => t.client.request('POST', '/v1.0/{project_id}/clusters', create), 400, 'DWS.5091', quota);
    await refusedWith(
      () => t.client.request('POST', `/v1.0/{project_id}/snapshots/${snapshotId}/actions`, { restore: { name: 'restored-over-quota' } }),
      400,
      'DWS.5091',
      quota,
    );
    await refusedWith(
      () => t.client.request('POST', `/v1.0/{project_id}/clusters/${clusterId}/resize`, { scale_out: { count: 3 } }),
      400,
      'DWS.5091',
      quota,
    );
    expect((await t.client.call<{ clusters: unknown[] }>('GET', '/v1.0/{project_id}/clusters')).clusters).toHaveLength(1);
  });

  describe("a repository without room (the service restarted with a margin larger than the disk's free space)", () => {
    let marginMb = 0;
    beforeAll(async () => {
      const s = statfsSync(t.dataDir);
      marginMb = Math.ceil((s.bavail * s.bsize) / BYTES_PER_MB) + 1024;
      const dataDir = t.dataDir;
      await waitIdle(t.client, clusterId);
      // The cluster keeps running (D1); the next service adopts it.
      await t.svc.stop();
      t = await startService({ dataDir, flags: { ...FLAGS, projectSnapshotQuota: 1000, snapshotSpaceMarginMb: marginMb } });
    }, 120_000);

    it("a snapshot request is refused before anything is written (INSUFFICIENT_SNAPSHOT_SPACE, naming its need, not the host's free space)", async () => {
      await refusedWith(
        () => t.client.request('POST', '/v1.0/{project_id}/snapshots', { snapshot: { name: 'no-room', cluster_id: clusterId } }),
        400,
        'DWS.9962',
        new RegExp(
          `^Not enough free space for the snapshot: a differential backup needs about \\d+ MB, more than the backup repository has free now beyond the ${marginMb} MB the service keeps free \\(setting snapshotSpaceMarginMb\\)\\. Delete snapshots`,
        ),
      );
    });

    it('a snapshot accepted earlier (e.g. by a process with other settings) fails in its backup step, before pgBackRest writes a set', async () => {
      const sets = setsOnDisk();
      // The scheduler's path (prepare, then insert) with the request-time figures of a repository that had room.
      const snap = await t.svc.store.transaction((tx) =>
        t.svc.snapshots.insertSnapshot(tx, PROJECT_ID, {
          request: { clusterId, name: 'accepted-earlier', type: 'MANUAL', level: 'cluster', description: '' },
          fineGrained: null,
          need: { kind: 'diff', needBytes: 0 },
        }),
      );
      t.svc.tasks.notify();
      const task = await waitFor(
        async () => {
          const x = await t.svc.store.getTask(snap.taskId!);
          return x && ['SUCCESS', 'FAILED'].includes(x.status) ? x : null;
        },
        { what: 'the snapshot task', timeoutMs: 180_000 },
      );
      expect([task.status, task.failedStep, task.errorCode]).toEqual(['FAILED', 'BACKUP', 'DWS.9962']);
      expect(task.errorMsg).toMatch(/^Not enough free space for the snapshot: a differential backup needs about \d+ MB/);
      expect((await t.svc.store.getSnapshotById(snap.id))!.status).toBe('UNAVAILABLE');
      expect(setsOnDisk()).toEqual(sets);
      expect((await waitIdle(t.client, clusterId)).status).toBe('AVAILABLE');
    });
  });

  it("a project with many queued tasks (held by delay faults) runs at most projectTaskConcurrency of them; another project's task runs meanwhile", async () => {
    expect([t.config.taskConcurrency, t.config.projectTaskConcurrency]).toEqual([4, 2]);
    // Project "noisy": its own credentials, four clusters (store rows: its tasks never get past
    // the fault) and the longest delay allowed before every restart step.
    const noisy = 'b7c6d5e4f30211a2b3c4d5e6f7a8b9c0';
    const auth = new AuthService(t.svc.store, Secrets.load(null, join(t.dataDir, 'master.key')), systemClock, silentLogger());
    const cred = await auth.createCredential(noisy, 'admin');
    const client = new DwsClient({ endpoint: t.endpoint, projectId: noisy, accessKey: cred.accessKey, secretKey: cred.secretKey });
    const theirs = Array.from({ length: 4 }, () => makeCluster({ projectId: noisy }));
    for (const c of theirs) await t.svc.store.insertCluster(c);
    await client.call('POST', '/dwsbox/v1/{project_id}/faults', {
      action_name: 'REBOOTING',
      step: '*',
      mode: 'delay',
      point: 'before',
      delay_ms: t.config.faultMaxDelayMs,
    });
    for (const c of theirs) await client.call('POST', `/v1.0/{project_id}/clusters/${c.id}/restart`, { restart: {} });
    const noisyTasks = async () => (await Promise.all(theirs.map((c) => t.svc.store.listTasks(c.id)))).flat();
    const leased = async () => (await noisyTasks()).filter((x) => x.lockedBy !== null);
    await waitFor(async () => (await leased()).length >= 2, { what: "the noisy project's tasks to be claimed" });

    // This project's restart of its real cluster is claimed and finishes while they wait.
    await t.client.call('POST', `/v1.0/{project_id}/clusters/${clusterId}/restart`, { restart: {} });
    const mine = await waitFor(
      async () => {
        const x = (await tasksOf(clusterId)).find((k) => k.kind === 'cluster.restart');
        return x && !['WAITING', 'RUNNING'].includes(x.status) ? x : null;
      },
      { what: "this project's restart", timeoutMs: 180_000 },
    );
    expect(mine.status).toBe('SUCCESS');
    const all = await noisyTasks();
    expect(all.map((x) => x.status).sort()).toEqual(['RUNNING', 'RUNNING', 'WAITING', 'WAITING']);
    expect(all.filter((x) => x.lockedBy !== null)).toHaveLength(2);
    expect(all.filter((x) => x.status === 'WAITING').every((x) => x.lockedBy === null && x.startedAt === null)).toBe(true);
  });

  it('the faults API is off by default: adding a fault is TENANT_FAULTS_DISABLED', async () => {
    expect(loadConfig({ env: {}, flags: {} }).enableTenantFaults).toBe(false);
    // A service with the default (the test set-ups turn faults on; undefined leaves the setting unset).
    const h = await startApiService({ flags: { enableTenantFaults: undefined } });
    try {
      for (const body of [
        { action_name: 'SNAPSHOTTING', step: '*', mode: 'delay', point: 'before', delay_ms: 3_600_000 },
        { action_name: 'CREATING', step: '*', mode: 'fail' },
      ]) {
        expectError(
          await h.call('POST', p('/dwsbox/v1/{project_id}/faults'), { body }),
          400,
          'DWS.9963',
          /the operator must enable tenant faults/,
        );
      }
      expect(await h.svc.store.listFaults()).toEqual([]);
    } finally {
      await h.stop();
    }
  });
});
