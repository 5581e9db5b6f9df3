/**
 * Deleting snapshots in every order never leaves a visible snapshot unrestorable (D2): a
 * deleted snapshot is hidden at once (404), its backup set is expired only when no visible
 * snapshot depends on it, and pgBackRest keeps a stanza's only full.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { ADMIN_PASSWORD, PROJECT_ID, createAvailableCluster, startService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/env.js';
import { queryRestoredSnapshot } from '../helpers/restore-check.js';

let t: TestService;
let clusterId: string;
let stanza: string;
let primary: string;

async function sql(text: string): Promise<void> {
  const [host, port] = primary.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

async function snapshot(name: string): Promise<string> {
  const id = (
    await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', { snapshot: { name, cluster_id: clusterId } })
  ).snapshot.id;
  await waitFor(
    async () =>
      (await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${id}`)).snapshot.status === 'AVAILABLE',
    { what: name },
  );
  return id;
}

const target = () => ({ stanza, configFile: t.svc.dataPlane.stanzaConfigFile(stanza) });

/** Wait until the stanza's repository task is done. */
async function expiryDone(): Promise<void> {
  await waitFor(async () => !(await t.svc.store.activeTask(`stanza:${stanza}`)), { what: 'the expiry task' });
}

/** Every visible snapshot's set, and every set it references, is in pgBackRest's catalog and passes `verify`. */
async function assertVisibleRestorable(): Promise<void> {
  const sets = (await t.svc.dataPlane.backrest.info(target())).sets;
  const labels = new Set(sets.map((s) => s.label));
  for (const s of await t.svc.store.listSnapshots(PROJECT_ID, clusterId)) {
    if (s.status !== 'AVAILABLE') continue;
    expect(labels.has(s.backupLabel!), `set of visible snapshot ${s.name}`).toBe(true);
    for (const r of sets.find((x) => x.label === s.backupLabel)!.reference) expect(labels.has(r), `${s.name} needs ${r}`).toBe(true);
    await t.svc.dataPlane.backrest.run(target(), 'verify', { extra: [`--set=${s.backupLabel}`] });
  }
}

const ORDERS = [
  [0, 1, 2],
  [0, 2, 1],
  [1, 0, 2],
  [1, 2, 0],
  [2, 0, 1],
  [2, 1, 0],
];

beforeAll(async () => {
  t = await startService();
  const c = await createAvailableCluster(t.client);
  clusterId = c.id;
  stanza = `cluster-${clusterId}`;
  primary = c.detail.endpoints[0]!.connect_info;
  await sql('create table marks (round int, step int)');
});
afterAll(async () => {
  await t?.stop();
});

describe('deleting snapshots', () => {
  for (const [round, order] of ORDERS.entries()) {
    it(`in the order ${order.join(', ')} keeps every visible snapshot of the chain restorable`, async () => {
      const ids: string[] = [];
      for (let step = 0; step < 3; step++) {
        await sql(`insert into marks values (${round}, ${step})`);
        ids.push(await snapshot(`r${round}-s${step}`));
      }
      const snaps = await Promise.all(ids.map((id) => t.svc.store.getSnapshotById(id)));
      // The first snapshot of a round is a diff on an earlier full after round 0, since the
      // chain spans rounds; what matters is that diffs point at a full that exists.
      for (const s of snaps) expect(s!.priorBackupKey).toBeTruthy();
      for (const i of order) {
        const r = await t.client.request<{ job_id: string }>('DELETE', `/v1.0/{project_id}/snapshots/${ids[i]}`);
        expect(r.status).toBe(202);
        const gone = await t.client.request<{ error_code: string }>('GET', `/v1.0/{project_id}/snapshots/${ids[i]}`);
        expect(gone.status).toBe(404);
        expect(gone.body.error_code).toBe('DWS.5149');
        // Its job is the stanza's repository task, which removes the set: when it has succeeded, nothing is left to expire.
        const job = await waitFor(
          async () => {
            const j = await t.client.call<{ job_name: string; status: string }>('GET', `/v1.0/{project_id}/job/${r.body.job_id}`);
            return j.status === 'RUNNING' || j.status === 'WAITING' ? null : j;
          },
          { what: 'the delete job' },
        );
        expect(job).toMatchObject({ job_name: 'snapshot.expire', status: 'SUCCESS' });
        await expiryDone();
        await assertVisibleRestorable();
      }
      // A real restore of the newest remaining visible snapshot shows its own data.
      const visible = (
        await t.client.call<{ snapshots: { id: string; name: string }[] }>('GET', `/v1.0/{project_id}/clusters/${clusterId}/snapshots`)
      ).snapshots;
      const newest = visible[0];
      if (newest) {
        const [, r, s] = /^r(\d+)-s(\d+)$/.exec(newest.name) ?? [];
        if (r !== undefined) {
          const rows = await queryRestoredSnapshot<{ n: number }>(
            t.svc,
            newest.id,
            `select count(*)::int as n from marks where round = ${r} and step = ${s}`,
          );
          expect(rows[0]!.n).toBe(1);
        }
      }
    });
  }

  it("expires the sets of hidden snapshots that nothing needs, and keeps the stanza's only full", async () => {
    await expiryDone();
    const sets = (await t.svc.dataPlane.backrest.info(target())).sets;
    const rows = await t.svc.store.listStanzaSnapshots(stanza);
    const hiddenLabels = new Set(rows.filter((r) => r.deletedAt !== null).map((r) => r.backupLabel));
    const fulls = sets.filter((s) => s.type === 'full');
    // Every set left is either needed by a visible snapshot, or the newest full (pgBackRest keeps it).
    for (const s of sets) {
      if (!hiddenLabels.has(s.label)) continue;
      expect(s.type === 'full' && s.label === fulls.at(-1)!.label, `set ${s.label} of a hidden snapshot should be expired`).toBe(true);
    }
  });
});
