/**
 * The data-plane contract (D22): the same intentions, in the order the tasks call them, against
 * each engine — the local engine (D1–D6) and the Patroni engine (D23) — with the same
 * assertions. A 3-member cluster is made (primary, archiving, two replicas caught up, the
 * administrator), backed up and verified; a replica is stopped and started again; one is
 * removed (its slot gone); the stanza and the cluster's files are removed and nothing of them is
 * left running; a table restore's temporary copy of the set commits on its own. What differs
 * between engines stays behind the interface: the tests never look at an engine's paths,
 * processes or names beyond what `DataPlane` returns (and the temporary copy's own settings).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { findBinaries } from '../../src/dataplane/binaries.js';
import type { DataPlane } from '../../src/dataplane/data-plane.js';
import { LocalEngine } from '../../src/dataplane/local-engine.js';
import { PatroniEngine } from '../../src/dataplane/patroni-engine.js';
import type { ClusterRecord, NodeRecord } from '../../src/domain/records.js';
import { silentLogger } from '../../src/log/logger.js';
import { freePort, processesUnder, removeDir, removeProjectUsersUnder, tempDir, testAgentDir } from '../helpers/env.js';
import { makeCluster, makeNode } from '../helpers/records.js';

const ADMIN = 'Contract-Admin-Pass1';
const REPL = { replPassword: 'contract-repl-password-1' };

function engine(kind: 'local' | 'patroni', dataDir: string): LocalEngine {
  let highest: number | null = null;
  const uids = {
    highest: () => Promise.resolve(highest),
    record: (_p: string, _n: string, uid: number) => {
      highest = Math.max(highest ?? 0, uid);
      return Promise.resolve();
    },
  };
  const settings = { dataDir, repoPath: `${dataDir}/repo`, unsafeNoFsync: true };
  const bins = findBinaries(null);
  const e =
    kind === 'patroni'
      ? new PatroniEngine({ ...settings, agentDir: testAgentDir() }, bins, silentLogger(), uids)
      : new LocalEngine(settings, bins, silentLogger(), uids);
  e.prepareHost();
  return e;
}

async function adminQuery(host: string, port: number, sql: string): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ host, port, user: 'dbadmin', password: ADMIN, database: 'postgres', connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return (await c.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}

/** A free address block on the engine's terms: every member address free, and (Patroni) claimed host-wide. */
async function freeBlock(dp: DataPlane, port: number, owner: string): Promise<number> {
  for (let c = 200; c < 254; c++) {
    let free = true;
    for (let i = 1; i <= 3 && free; i++) free = await dp.isAddressFree(dp.memberHost(c, i), port);
    if (free && (!dp.claimSubnet || (await dp.claimSubnet(c, owner)))) return c;
  }
  throw new Error('no free address block');
}

describe.each(['local', 'patroni'] as const)('the DataPlane contract on the %s engine', (kind) => {
  const dataDir = tempDir(`contract-${kind}`);
  const dp = engine(kind, dataDir);
  let cluster: ClusterRecord;
  let nodes: NodeRecord[];
  const primary = (): NodeRecord => nodes.find((n) => n.role === 'primary')!;

  afterAll(async () => {
    if (cluster) await dp.removeClusterFiles(cluster.id).catch(() => {});
    await dp.stopAllWork();
    const left = processesUnder(dataDir);
    removeDir(dataDir);
    await removeProjectUsersUnder(dataDir);
    expect(left).toEqual([]);
  });

  it('makes a 3-member cluster: a primary archiving into its stanza, two replicas caught up, the administrator', async () => {
    const port = await freePort();
    const id = crypto.randomUUID();
    const block = await freeBlock(dp, port, id);
    cluster = makeCluster({ id, projectId: `contract-${kind}`, port, subnetIndex: block });
    nodes = [1, 2, 3].map((i) =>
      makeNode(cluster, i, {
        host: dp.memberHost(block, i),
        dataDir: dp.memberDataDir(cluster.id, i),
        slotName: i === 1 ? null : dp.replicaSlotName(i),
      }),
    );
    await dp.ensureProject(cluster.projectId);
    dp.prepareCluster(cluster);
    await dp.initPrimary(cluster, primary(), { replicas: nodes.slice(1) });
    const proc = await dp.startMember(cluster, primary());
    expect(dp.memberStatus(cluster, primary())).toEqual(proc);
    await dp.ensureReplicationRole(cluster, primary(), REPL);
    await dp.enableArchiving(cluster, primary(), {});
    for (const n of nodes.slice(1)) {
      const built = await dp.buildReplica(cluster, primary(), n, REPL);
      expect(built.bytes).toBeGreaterThan(1e6);
      await dp.startMember(cluster, n);
      await dp.waitCaughtUp(cluster, primary(), n.ordinal, { standby: n, timeoutMs: 120_000 });
    }
    await dp.ensureAdmin(cluster, primary(), 'dbadmin', ADMIN);
    await dp.checkAdminLogin(primary(), 'dbadmin', ADMIN);
    const lsn = await dp.currentLsn(cluster, primary());
    for (const n of nodes.slice(1)) expect((await dp.replicationState(cluster, primary(), n.ordinal, lsn)).state).toBe('streaming');
    // Every replica streams through its own slot, named as the engine names it.
    const slots = await dp.replicationSlots(cluster, primary());
    expect(slots.filter((s) => s.ordinal !== null).map((s) => [s.ordinal, s.name])).toEqual([
      [2, dp.replicaSlotName(2)],
      [3, dp.replicaSlotName(3)],
    ]);
    expect((await dp.archiverState(cluster, primary())).failing).toBe(false);
    // The administrator is no superuser (D32) and writes through the primary's address.
    await adminQuery(primary().host, port, 'create table t as select generate_series(1, 10000) as x');
    expect((await adminQuery(primary().host, port, 'select rolsuper from pg_roles where rolname = current_user'))[0]!['rolsuper']).toBe(
      false,
    );
  });

  let backupSet: { stanza: string; label: string; sourceBytes: number | null };
  it('backs the cluster up into its stanza and verifies the set', async () => {
    const set = await dp.backup(cluster, primary(), { type: 'full', annotation: { contract: kind } });
    expect(set.type).toBe('full');
    expect((await dp.verifyBackup(cluster.stanza, set.label)).label).toBe(set.label);
    expect((await dp.backupSets(cluster.stanza)).map((s) => s.label)).toEqual([set.label]);
    expect(await dp.databaseBytes(cluster, primary())).toBeGreaterThan(1e6);
    backupSet = { stanza: cluster.stanza, label: set.label, sourceBytes: null };
  });

  it("a table restore's temporary copy of the set commits on its own: no synchronous standby, its own access files", async () => {
    // A Patroni member's restored configuration named the cluster's synchronous standby: every
    // commit in the copy (a table restore's renames) waited for it forever when synchronous
    // commits were on (as they are in production, with fsync; these tests run without).
    const work = { taskId: randomUUID(), projectId: cluster.projectId, clusterId: cluster.id };
    await dp.restoreTemporaryCopy(work, backupSet, 'postgres');
    try {
      await dp.startTemporaryCopy(work);
      const copy = dp.tempInstance(work.taskId, work.projectId);
      const [row] = await copy.query<{ ssn: string; hba: string; ident: string }>(
        "select current_setting('synchronous_standby_names') as ssn, current_setting('hba_file') as hba, current_setting('ident_file') as ident",
      );
      expect(row).toEqual({ ssn: '', hba: join(copy.dataDir, 'pg_hba.conf'), ident: join(copy.dataDir, 'pg_ident.conf') });
      await copy.query(
        'begin; set local synchronous_commit = on; create table public.contract_commit (x int); commit',
        [],
        'postgres',
        15_000,
      );
    } finally {
      await dp.removeTableRestoreWork(work);
    }
  });

  it('stops a replica and starts it again; it catches up', async () => {
    const n = nodes[2]!;
    await dp.stopMember(cluster, n, 'fast');
    expect(dp.memberStatus(cluster, n)).toBeNull();
    await adminQuery(primary().host, cluster.port, 'insert into t select generate_series(10001, 20000)');
    await dp.startMember(cluster, n);
    await dp.waitCaughtUp(cluster, primary(), n.ordinal, { standby: n, timeoutMs: 120_000 });
    expect(dp.memberStatus(cluster, n)).not.toBeNull();
  });

  it('removes a replica: stopped, its slot gone, its files gone', async () => {
    const n = nodes[2]!;
    await dp.removeReplica(cluster, primary(), n, 'fast');
    expect(dp.memberStatus(cluster, n)).toBeNull();
    expect(dp.memberHasData(cluster, n)).toBe(false);
    expect((await dp.replicationSlots(cluster, primary())).map((s) => s.ordinal)).not.toContain(3);
    nodes = nodes.slice(0, 2);
  });

  it('removes the stanza and every file of the cluster; nothing of it runs', async () => {
    for (const n of [...nodes].reverse()) await dp.stopMember(cluster, n, 'fast');
    for (const n of nodes) expect(dp.memberStatus(cluster, n)).toBeNull();
    await dp.removeStanza(cluster, primary());
    expect(await dp.stanzaExists(cluster.stanza)).toBe(false);
    await dp.removeClusterFiles(cluster.id);
    for (const n of nodes) expect(dp.memberHasData(cluster, n)).toBe(false);
    expect(processesUnder(dataDir)).toEqual([]);
  });
});
