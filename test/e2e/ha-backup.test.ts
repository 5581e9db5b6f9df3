/**
 * pgBackRest on a highly available cluster (issue 15, D23 "pgBackRest across role changes"):
 * archiving from whichever member leads, backups against the current leader. One HaCluster on
 * the run's host agent, its members archiving into one stanza whose config lists every member
 * (pg1… pgN): pgBackRest finds the leader itself. Asserted: the stanza is made and a full
 * backup taken on the first leader; after a failover the new leader archives into the same
 * stanza (`pgbackrest check` passes, the new timeline's history file is in the archive) and a
 * differential backup is taken from it, on top of the full one.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAgent, type AgentClient } from '../../src/dataplane/agent/client.js';
import { findBinaries } from '../../src/dataplane/binaries.js';
import type { OsUser } from '../../src/dataplane/os-user.js';
import { runBackup } from '../../src/dataplane/pg-backup.js';
import { PgBackRest, type StanzaTarget } from '../../src/dataplane/pgbackrest.js';
import { HaCluster, readWriteHost } from '../../src/dataplane/patroni/ha-cluster.js';
import { ensureServiceUser, ProjectUsers, removeProjectUser, type UidRecord } from '../../src/dataplane/project-users.js';
import { silentLogger } from '../../src/log/logger.js';
import { query, type Endpoint } from '../helpers/ha-writer.js';
import { freePort, processesUnder, removeDir, tempDir, testAgentDir, waitFor } from '../helpers/env.js';

const ORDINALS = [1, 2, 3];
const secret = (): string => randomBytes(12).toString('hex');
const SCOPE = `b${randomBytes(5).toString('hex')}`;

let root = '';
let agent: AgentClient;
let cluster: HaCluster;
let projectUser: OsUser | undefined;
let subnet = 0;
let rw: Endpoint;
let backrest: PgBackRest;
let target: StanzaTarget;

beforeAll(async () => {
  root = tempDir('ha-backup');
  agent = await ensureAgent(testAgentDir());
  const uids: UidRecord = { highest: async () => null, record: async () => {} };
  projectUser = await new ProjectUsers(root, silentLogger()).ensure('ha-backup', uids);
  const port = await freePort();
  subnet = await agent.allocateSubnet(SCOPE, { port, members: ORDINALS.length });

  backrest = new PgBackRest(
    findBinaries(null),
    {
      repoPath: join(root, 'repo'),
      logPath: join(root, 'log', 'pgbackrest'),
      lockPath: join(root, 'run', 'lock'),
      spoolPath: join(root, 'run', 'spool'),
      configDir: join(root, 'stanzas'),
    },
    silentLogger(),
  );
  backrest.ensureRepoDirs();
  const dir = join(root, 'cluster');
  const superuser = { username: 'postgres', password: secret() };
  const spec = {
    scope: SCOPE,
    subnet,
    port,
    ordinals: ORDINALS,
    dir,
    member: projectUser,
    service: await ensureServiceUser(),
    secrets: {
      superuser,
      replication: { username: 'replicator', password: secret() },
      rest: { username: 'dwsbox', password: secret() },
      etcd: secret(),
    },
  };
  // The paths HaCluster gives its members, for the stanza's config (one entry per member).
  const paths = new HaCluster(agent, spec);
  target = {
    os: projectUser,
    stanza: SCOPE,
    configFile: join(root, 'stanzas', `${SCOPE}.conf`),
    pgPath: paths.dataDir(1),
    pgPort: port,
    pgSocket: paths.socketDir(1),
    otherMembers: ORDINALS.slice(1).map((i) => ({ path: paths.dataDir(i), socket: paths.socketDir(i) })),
  };
  mkdirSync(join(root, 'stanzas'), { mode: 0o711 });
  backrest.writeConfig(target);
  cluster = new HaCluster(agent, {
    ...spec,
    parameters: { archive_mode: 'on', archive_command: backrest.archiveCommand(target), archive_timeout: '60s' },
    recoveryConf: { restore_command: backrest.restoreCommand(target) },
  });
  rw = { host: readWriteHost(subnet), port, user: superuser.username, password: superuser.password };
  await cluster.ensure();
  await cluster.waitHealthy({ timeoutMs: 180_000 });
  await waitFor(async () => query(rw, 'CREATE TABLE IF NOT EXISTS t (n int)').then(() => true), {
    timeoutMs: 30_000,
    what: 'the read-write endpoint',
  });
});

afterAll(async () => {
  // DWSBOX_KEEP_TEST_DIRS keeps the cluster's files (logs, data) for a look afterwards.
  if (cluster)
    await (process.env['DWSBOX_KEEP_TEST_DIRS'] ? cluster.stop() : cluster.remove()).catch((e: unknown) =>
      console.warn(`removing the cluster: ${(e as Error).message}`),
    );
  if (subnet) await agent?.releaseSubnet(subnet);
  await agent?.close();
  const left = root ? processesUnder(root) : [];
  if (root && !process.env['DWSBOX_KEEP_TEST_DIRS']) removeDir(root);
  if (projectUser) await removeProjectUser(projectUser.name);
  expect(left).toEqual([]);
});

describe('pgBackRest on a highly available cluster (issue 15, D23)', () => {
  it('archives from whichever member leads and backs up from it, before and after a failover', async () => {
    const lockFile = join(root, 'run', 'backup.lock');
    await backrest.stanzaCreate(target);
    await backrest.check(target);
    await query(rw, 'INSERT INTO t SELECT generate_series(1, 50000)');
    const full = await runBackup(backrest, target, { type: 'full', annotation: { test: 'full' }, lockFile });
    expect(full.type).toBe('full');

    // Fail over: the leader's postmaster killed; Patroni promotes another member.
    const old = (await cluster.waitHealthy()).leader!;
    const pm = Number(readFileSync(join(cluster.dataDir(Number(old.slice(1))), 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pm, 'SIGKILL');
    const { timeline } = await waitFor(
      async () => {
        const h = await cluster.health().catch(() => null);
        if (!h?.leader || h.leader === old) return null;
        const tl = (await cluster.rest.patroni(h.leader).catch(() => null))?.timeline ?? 1;
        return tl > 1 ? { leader: h.leader, timeline: tl } : null;
      },
      { timeoutMs: 120_000, what: 'a new leader on a new timeline' },
    );
    expect(timeline).toBeGreaterThan(1);
    await waitFor(async () => query(rw, 'INSERT INTO t SELECT generate_series(1, 1000)').then(() => true), {
      timeoutMs: 60_000,
      what: 'writes on the new leader',
    });

    // The new leader archives into the same stanza; its timeline's history file reaches the archive.
    await backrest.check(target);
    const history = `${String(timeline).padStart(8, '0')}.history`;
    const archive = backrest.archiveDir(SCOPE);
    await waitFor(async () => readdirSync(archive).some((d) => existsSync(join(archive, d, history))), {
      timeoutMs: 60_000,
      what: `${history} in the archive`,
    });

    // A differential backup from the new leader, on top of the full one.
    const diff = await runBackup(backrest, target, { type: 'diff', annotation: { test: 'diff' }, lockFile });
    expect(diff.type).toBe('diff');
    const sets = (await backrest.info(target)).sets;
    expect(sets.map((s) => s.label)).toEqual([full.label, diff.label]);
    expect(sets[1]!.prior).toBe(full.label);
  });
});
