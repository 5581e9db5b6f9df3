/**
 * End to end: the S3 repository (pgBackRest repo1-type=s3) against s3rver over HTTPS, TLS
 * verified with a CA made in the test. The core of the snapshot and restore tests on it: a
 * cluster archives into the bucket from birth; a full, then a differential snapshot
 * (`backup_device: "OBS"`); the differential restored into a new cluster, and a table of
 * the full restored into the cluster, match by checksum; the credentials never reach a command line, a world-readable file or the log;
 * a cluster with snapshots in S3 is refused a move to another repository, one without
 * moves; deleting snapshots and then the cluster expires their objects from the bucket.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAvailableCluster, getCluster, PROJECT_ID, startService, waitIdle, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/env.js';
import { adminSql, checksums, SCHEMA_SQL } from '../helpers/restore-data.js';
import { queryRestoredSnapshot } from '../helpers/restore-check.js';
import { startS3, type TestS3 } from '../helpers/s3-server.js';
import { localRepository } from '../../src/dataplane/backup-repository.js';
import { repositoryFromConfig } from '../../src/main.js';
import { lookupUser } from '../../src/dataplane/os-user.js';
import { SERVICE_USER } from '../../src/dataplane/project-users.js';

let s3: TestS3;
let t: TestService;
let source: { id: string; endpoint: string; stanza: string };
let atFull: Record<string, string>;
let atDiff: Record<string, string>;
const snaps: { full?: string; diff?: string } = {};
let restoredClusterId: string;

interface Snap {
  id: string;
  status: string;
  size: number;
  backup_key: string;
  prior_backup_key: string;
  backup_device: string;
  total_backup_size: number;
}
interface SubItem {
  sub_item_name: string;
  status: string;
  detail: string;
  step: string;
}
interface TaskBody {
  id: string;
  status: string;
  items: { sub_items: SubItem[] }[];
  error_msg: string | null;
  failed_step: string | null;
}

/** The error of the cluster's last failed snapshot task, for assertion messages. */
async function lastFailure(clusterId: string): Promise<string> {
  const r = await t.client.request<TaskBody>('GET', `/v1/{project_id}/clusters/${clusterId}/actions/SNAPSHOTTING_FAILED`);
  return r.status === 200 ? `${r.body.failed_step}: ${r.body.error_msg}` : 'no failed snapshot task';
}

async function snapshot(name: string, clusterId: string): Promise<Snap> {
  const r = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
    snapshot: { name, cluster_id: clusterId },
  });
  return waitFor(
    async () => {
      const s = (await t.client.call<{ snapshot: Snap }>('GET', `/v1.0/{project_id}/snapshots/${r.snapshot.id}`)).snapshot;
      return s.status === 'CREATING' ? null : s;
    },
    { what: `snapshot ${name}`, intervalMs: 200, timeoutMs: 180_000 },
  );
}

beforeAll(async () => {
  s3 = await startS3();
  t = await startService({
    flags: {
      repoType: 's3',
      repoS3Endpoint: s3.endpoint,
      repoS3Bucket: s3.bucket,
      repoS3Region: 'us-east-1',
      repoS3Key: s3.key,
      repoS3KeySecret: s3.secret,
      repoS3CaFile: s3.caFile,
      repoS3Path: '/repo',
    },
  });
  const c = await createAvailableCluster(t.client);
  const rec = (await t.svc.store.getClusterById(c.id))!;
  source = { id: c.id, endpoint: c.detail.endpoints[0]!.connect_info, stanza: rec.stanza };
  await adminSql(source.endpoint, SCHEMA_SQL);
  await adminSql(source.endpoint, 'checkpoint');
}, 240_000);
afterAll(async () => {
  await t?.stop();
  await s3?.stop();
});

describe('an S3 repository', () => {
  it("archives into the bucket from birth through the repository's TLS server, whose credentials no project user can read (D32)", async () => {
    expect(s3.objects(`repo/backup/${source.stanza}/`)).toContain(`repo/backup/${source.stanza}/backup.info`);
    expect(s3.objects(`repo/archive/${source.stanza}/`).some((k) => /\/[0-9A-F]{24}-[0-9a-f]{40}/.test(k))).toBe(true);
    // The stanza's config and its include name the repository's server, never the bucket's key.
    const configFile = t.svc.dataPlane.stanzaConfigFile(source.stanza);
    const includeDir = configFile.replace(/\.conf$/, '.d');
    const clientSide = readFileSync(configFile, 'utf8') + readFileSync(join(includeDir, 'repo-host.conf'), 'utf8');
    expect(clientSide).toMatch(/^repo1-host-type=tls$/m);
    expect(clientSide).toMatch(/^repo1-host=127\.0\.0\.1$/m);
    expect(clientSide).not.toMatch(/^repo1-type=s3$/m);
    expect(clientSide).not.toContain(s3.secret);
    expect(clientSide).not.toContain(s3.key);
    expect(
      readdirSync(includeDir)
        .map((f) => readFileSync(join(includeDir, f), 'utf8'))
        .join(''),
    ).not.toContain(s3.secret);
    const [ac] = await adminSql<{ archive_command: string }>(source.endpoint, 'show archive_command');
    expect(ac!.archive_command).toContain('--config-include-path=');
    expect(ac!.archive_command).not.toContain(s3.secret);
    // The server holds them: its config is root's, for the service user's group alone.
    const repoId = repositoryFromConfig(t.config).spec.id;
    const serverConf = t.svc.dataPlane.backrest.servers.confOf(repoId);
    expect(readFileSync(serverConf, 'utf8')).toContain(`repo1-s3-key-secret=${s3.secret}`);
    const st = statSync(serverConf);
    const service = lookupUser(SERVICE_USER)!;
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, service.gid, 0o640]);
    // It authorises the project's user for its own stanza alone.
    const os = t.svc.dataPlane.projectUser(PROJECT_ID);
    expect(readFileSync(serverConf, 'utf8')).toMatch(new RegExp(`^tls-server-auth=${os.name}=${source.stanza}$`, 'm'));
    // The project's user reads none of it (run as that user: EACCES), and its postmaster's
    // environment holds no key.
    const asProject = spawnSync(
      'setpriv',
      [
        `--reuid=${os.uid}`,
        `--regid=${os.gid}`,
        '--clear-groups',
        '--',
        'cat',
        serverConf,
        join(t.dataDir, 'repositories', `${repoId}.json`),
      ],
      { encoding: 'utf8' },
    );
    expect(asProject.status).not.toBe(0);
    expect(asProject.stdout).toBe('');
    expect(asProject.stderr).toMatch(/Permission denied/);
    const pm = (await t.svc.store.listNodes(source.id)).find((n) => n.ordinal === 1)!.pid!;
    expect(readFileSync(`/proc/${pm}/environ`, 'utf8')).not.toContain(s3.secret);
    // Sealed under the master key in the data directory's registry (D17).
    const sealed = readFileSync(join(t.dataDir, 'repositories', `${repoId}.json`), 'utf8');
    expect(sealed).not.toContain(s3.secret);
    expect(statSync(join(t.dataDir, 'repositories', `${repoId}.json`)).mode & 0o777).toBe(0o600);
    const [arch] = await adminSql<{ failed: number; archived: number }>(
      source.endpoint,
      'select failed_count::int as failed, archived_count::int as archived from pg_stat_archiver',
    );
    expect(arch!.failed).toBe(0);
    expect(arch!.archived).toBeGreaterThan(0);
  });

  it('takes a full snapshot into the bucket (backup_device OBS) with figures from pgBackRest', async () => {
    atFull = await checksums(source.endpoint);
    const s = await snapshot('s3-full', source.id);
    snaps.full = s.id;
    expect(s.status, await lastFailure(source.id)).toBe('AVAILABLE');
    expect(s.prior_backup_key).toBe('FULL');
    expect(s.backup_device).toBe('OBS');
    expect(s.size).toBeGreaterThan(0);
    const label = (await t.svc.store.getSnapshotById(s.id))!.backupLabel!;
    const setObjects = s3.objects(`repo/backup/${source.stanza}/${label}/`);
    expect(setObjects).toContain(`repo/backup/${source.stanza}/${label}/backup.manifest`);
    const task = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${source.id}/actions/SNAPSHOTTING`);
    expect(task.status).toBe('SUCCESS');
    const backup = task.items[0]!.sub_items.find((x) => x.step === 'BACKUP')!;
    const info = JSON.parse(JSON.parse(backup.detail).progressInfo as string) as Record<string, unknown>;
    expect(info['progress']).toBe('100.00%');
    expect(info['backupSize'] as number).toBeGreaterThan(1_000_000);
    // D14: the stored samples come from the tool; the last is pgBackRest's own figure for the set.
    const rec = (await t.svc.store.getSnapshotById(s.id))!;
    const samples = await t.svc.store.listSamples(rec.taskId!, 'BACKUP');
    const last = samples.at(-1)!;
    expect(last.source).toBe('pgbackrest info');
    expect(last.percent).toBe(100);
    const sets = (
      await t.svc.dataPlane.backrest.info({ stanza: source.stanza, configFile: t.svc.dataPlane.stanzaConfigFile(source.stanza) })
    ).sets;
    const set = sets.find((x) => x.label === label)!;
    expect(last.bytesDone).toBe(set.copiedBytes);
    const done = samples.filter((x) => x.source === 'pgbackrest backup (detail log)').map((x) => x.bytesDone!);
    expect(done.length).toBeGreaterThanOrEqual(3);
    expect([...done].sort((a, b) => a - b)).toEqual(done);
  });

  it('takes a differential on it and restores it into a new cluster that matches by checksum', async () => {
    await adminSql(
      source.endpoint,
      `update orders set amount = amount + 1 where id % 3 = 0; insert into customers (name) values ('after the full');`,
    );
    atDiff = await checksums(source.endpoint);
    const full = (await t.client.call<{ snapshot: Snap }>('GET', `/v1.0/{project_id}/snapshots/${snaps.full!}`)).snapshot;
    const d = await snapshot('s3-diff', source.id);
    snaps.diff = d.id;
    expect(d.status, await lastFailure(source.id)).toBe('AVAILABLE');
    expect(d.prior_backup_key).toBe(full.backup_key);
    expect(d.backup_device).toBe('OBS');
    expect(d.size).toBeLessThan(full.size);
    // The full still restores to its own content (a temporary instance from the bucket).
    const fromFull = await queryRestoredSnapshot<{ n: number }>(
      t.svc,
      full.id,
      `select count(*)::int as n from customers where name = 'after the full'`,
    );
    expect(fromFull[0]!.n).toBe(0);

    const r = await t.client.call<{ cluster: { id: string } }>('POST', `/v1.0/{project_id}/snapshots/${d.id}/actions`, {
      restore: { name: 's3-restored' },
    });
    restoredClusterId = r.cluster.id;
    const restored = await waitIdle(t.client, r.cluster.id, 180_000);
    expect(restored.status, JSON.stringify(restored.failed_reasons)).toBe('AVAILABLE');
    const ep = restored.endpoints[0]!.connect_info;
    expect(await checksums(ep)).toEqual(atDiff);
    expect(atDiff).not.toEqual(atFull);
    // The restored cluster archives into its own stanza in the bucket.
    const rec = (await t.svc.store.getClusterById(r.cluster.id))!;
    expect(rec.spec.repository?.kind).toBe('s3');
    expect(await t.svc.dataPlane.backrest.stanzaExists(rec.stanza)).toBe(true);
    const [arch] = await adminSql<{ failed: number }>(ep, 'select failed_count::int as failed from pg_stat_archiver');
    expect(arch!.failed).toBe(0);
  });

  it('restores a table from a snapshot in the bucket under a new name (table restore through a temporary instance)', async () => {
    const tbl = (schema: string, table: string) => ({ schema_name: schema, table_name: table });
    const r = await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${snaps.full!}/table-restore`, {
      case_sensitive: true,
      database: 'postgres',
      restore_table_list: [tbl('public', 'orders')],
      target_table_list: [tbl('public', 'orders_from_s3')],
    });
    const job = await waitFor(
      async () => {
        const j = await t.client.call<{ status: string; failed_detail: string }>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
        return j.status === 'SUCCESS' || j.status === 'FAIL' ? j : null;
      },
      { what: 'the table restore', intervalMs: 200, timeoutMs: 200_000 },
    );
    expect(job.status, job.failed_detail).toBe('SUCCESS');
    const restored = await checksums(source.endpoint, { 'public.orders_from_s3': 'id' });
    expect(restored['public.orders_from_s3']).toBe(atFull['public.orders']);
    expect(restored['public.orders_from_s3']).not.toBe(atDiff['public.orders']);
    await adminSql(source.endpoint, 'drop table orders_from_s3');
  });

  it("copies a snapshot (CopySnapshot) into a stanza of its own in the bucket, WAL inside its set; the copy restores its snapshot's content; deleting it empties its stanza", async () => {
    const r = await t.client.call<{ snapshot_id: string; job_id: string }>(
      'POST',
      `/v1.0/{project_id}/snapshots/${snaps.full!}/linked-copy`,
      { backup_name: 's3-full-copy' },
    );
    const status = await waitFor(
      async () => {
        const c = (await t.client.call<{ snapshot: Snap }>('GET', `/v1.0/{project_id}/snapshots/${r.snapshot_id}`)).snapshot;
        return c.status === 'CREATING' ? null : c.status;
      },
      { what: 'the copy', intervalMs: 200, timeoutMs: 200_000 },
    );
    const job = await t.client.call<{ failed_detail: string }>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
    expect(status, job.failed_detail).toBe('AVAILABLE');
    const copy = (await t.client.call<{ snapshot: Snap }>('GET', `/v1.0/{project_id}/snapshots/${r.snapshot_id}`)).snapshot;
    expect(copy.backup_device).toBe('OBS');
    expect(copy.size).toBeGreaterThan(0);
    const rec = (await t.svc.store.getSnapshotById(copy.id))!;
    expect(rec.stanza).toBe(`copy-${copy.id}`);
    const setObjects = s3.objects(`repo/backup/${rec.stanza}/${rec.backupLabel!}/`);
    expect(setObjects).toContain(`repo/backup/${rec.stanza}/${rec.backupLabel!}/backup.manifest`);
    expect(setObjects.some((o) => o.includes('/pg_data/pg_wal/'))).toBe(true);
    const fromCopy = await queryRestoredSnapshot<{ n: number }>(
      t.svc,
      copy.id,
      `select count(*)::int as n from customers where name = 'after the full'`,
    );
    expect(fromCopy[0]!.n).toBe(0);
    const del = await t.client.call<{ job_id: string }>('DELETE', `/v1.0/{project_id}/snapshots/${copy.id}`);
    await waitFor(
      async () => (await t.client.call<{ status: string }>('GET', `/v1.0/{project_id}/job/${del.job_id}`)).status === 'SUCCESS',
      {
        what: "the copy's expiry",
      },
    );
    expect(s3.objects(`repo/backup/${rec.stanza}/`)).toEqual([]);
    expect(await t.svc.dataPlane.backrest.stanzaExists(rec.stanza)).toBe(false);
  });

  it('refuses to move a cluster with snapshots to another repository, and moves one without', async () => {
    const restoredId = restoredClusterId;
    const s3Setting = repositoryFromConfig(t.config);
    // A snapshot accepted while S3 was still configured (its task not yet run)…
    const projectId = (await t.svc.store.getClusterById(source.id))!.projectId;
    const prepared = await t.svc.snapshots.prepareSnapshot(projectId, {
      clusterId: source.id,
      name: 's3-accepted-before',
      type: 'MANUAL',
      level: 'cluster',
    });
    // …then, as if the service were restarted with the local repository configured:
    t.svc.dataPlane.configureRepository(null, localRepository(t.svc.dataPlane.settings.repoPath), null);
    try {
      const refused = await t.client.request<{ error_code: string; error_msg: string }>('POST', '/v1.0/{project_id}/snapshots', {
        snapshot: { name: 's3-moved-away', cluster_id: source.id },
      });
      expect(refused.status).toBe(409);
      expect(refused.body.error_code).toBe('DWS.9950');
      expect(refused.body.error_msg).toMatch(
        /keeps its snapshots in the s3 repository .* never changes repository \(it has 2 backup sets there\)/,
      );
      // The snapshot accepted before the change meets the same refusal in its task's first step.
      const accepted = await t.svc.store.transaction((tx) => t.svc.snapshots.insertSnapshot(tx, projectId, prepared));
      const ended = await waitFor(
        async () => {
          const x = (await t.client.call<{ snapshot: Snap }>('GET', `/v1.0/{project_id}/snapshots/${accepted.id}`)).snapshot;
          return x.status === 'CREATING' ? null : x;
        },
        { what: 'the snapshot accepted before the change', intervalMs: 200, timeoutMs: 120_000 },
      );
      expect(ended.status).toBe('UNAVAILABLE');
      const failed = await t.client.call<TaskBody>('GET', `/v1/{project_id}/clusters/${source.id}/actions/SNAPSHOTTING_FAILED`);
      expect(failed.failed_step).toBe('CHECK_CLUSTER');
      expect(failed.error_msg).toMatch(
        /keeps its snapshots in the s3 repository .* never changes repository \(it has 2 backup sets there\)/,
      );
      // Its snapshots are untouched and still in the bucket.
      expect((await waitIdle(t.client, source.id)).status).toBe('AVAILABLE');
      expect(s3.objects(`repo/backup/${source.stanza}/`).filter((k) => k.endsWith('/backup.manifest'))).toHaveLength(2);

      // The restored cluster has no snapshots yet: it moves to the local repository.
      const rec = (await t.svc.store.getClusterById(restoredId))!;
      const moved = await snapshot('moved-local', restoredId);
      expect(moved.status, await lastFailure(restoredId)).toBe('AVAILABLE');
      expect(moved.backup_device).toBe('LOCAL');
      expect(s3.objects(`repo/backup/${rec.stanza}/`)).toEqual([]);
      expect(await t.svc.dataPlane.backrest.stanzaExists(rec.stanza)).toBe(true);
      expect((await t.svc.store.getClusterById(restoredId))!.spec.repository?.kind).toBe('local');
      const ep = (await getCluster(t.client, restoredId)).endpoints[0]!.connect_info;
      await adminSql(ep, 'select pg_switch_wal()');
      await waitFor(
        async () => {
          const [a] = await adminSql<{ failed: number; last: string | null }>(
            ep,
            'select failed_count::int as failed, last_archived_wal as last from pg_stat_archiver',
          );
          return a!.last !== null && (await t.svc.dataPlane.backrest.isArchived(rec.stanza, a!.last)) ? true : null;
        },
        { what: 'archiving into the local repository', intervalMs: 200, timeoutMs: 60_000 },
      );
      await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${restoredId}`, { keep_last_manual_snapshot: 0 });
    } finally {
      t.svc.dataPlane.configureRepository(null, s3Setting.spec, s3Setting.creds);
    }
  });

  it('expires deleted snapshots from the bucket, and the stanza with the cluster', async () => {
    const diffLabel = (await t.svc.store.getSnapshotById(snaps.diff!))!.backupLabel!;
    const fullLabel = (await t.svc.store.getSnapshotById(snaps.full!))!.backupLabel!;
    expect(s3.objects(`repo/backup/${source.stanza}/${diffLabel}/`).length).toBeGreaterThan(0);
    await t.client.call('DELETE', `/v1.0/{project_id}/snapshots/${snaps.diff!}`);
    await waitFor(async () => (s3.objects(`repo/backup/${source.stanza}/${diffLabel}/`).length === 0 ? true : null), {
      what: 'the differential to leave the bucket',
      intervalMs: 200,
      timeoutMs: 120_000,
    }).catch((e: Error) => {
      throw new Error(`${e.message}; left: ${s3.objects(`repo/backup/${source.stanza}/`).join(' ')}`);
    });
    // The full stays while the stanza lives (pgBackRest never expires a stanza's only full, D2).
    expect(s3.objects(`repo/backup/${source.stanza}/${fullLabel}/`).length).toBeGreaterThan(0);
    await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${source.id}`, { keep_last_manual_snapshot: 0 });
    await waitFor(async () => ((await t.client.request('GET', `/v1.0/{project_id}/clusters/${source.id}`)).status === 404 ? true : null), {
      what: 'the cluster to go',
      intervalMs: 200,
      timeoutMs: 120_000,
    });
    await waitFor(
      async () =>
        s3.objects(`repo/backup/${source.stanza}/`).length === 0 && s3.objects(`repo/archive/${source.stanza}/`).length === 0 ? true : null,
      { what: 'the stanza to leave the bucket', intervalMs: 200, timeoutMs: 120_000 },
    );
    // Nothing in the service's log holds the secret key.
    expect(readFileSync(t.logFile, 'utf8')).not.toContain(s3.secret);
  });
});
