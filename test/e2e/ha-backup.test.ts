/**
 * pgBackRest on a highly available cluster (issue 15, D23 "pgBackRest across role changes"):
 * archiving from whichever member leads, backups against the current leader. One HaCluster on
 * the run's host agent, its members archiving into one stanza whose config lists every member
 * (pg1… pgN): pgBackRest finds the leader itself. Asserted: the stanza is made and a full
 * backup taken on the first leader; after a failover the new leader archives into the same
 * stanza (`pgbackrest check` passes, the new timeline's history file is in the archive) and a
 * differential backup is taken from it, on top of the full one.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinaries } from '../../src/dataplane/binaries.js';
import { runBackup } from '../../src/dataplane/pg-backup.js';
import { memberOrdinal } from '../../src/dataplane/patroni/patroni-config.js';
import { PgBackRest, type StanzaTarget } from '../../src/dataplane/pgbackrest.js';
import type { HaCluster } from '../../src/dataplane/patroni/ha-cluster.js';
import { silentLogger } from '../../src/log/logger.js';
import { query, type Endpoint } from '../helpers/ha-writer.js';
import { waitFor } from '../helpers/env.js';
import { startHaCluster, type HaTestCluster } from '../helpers/ha.js';

let ha: HaTestCluster;
let cluster: HaCluster;
let rw: Endpoint;
let root = '';
let backrest: PgBackRest;
let target: StanzaTarget;

beforeAll(async () => {
  ha = await startHaCluster({
    prefix: 'ha-backup',
    extra: (paths) => {
      const root = join(paths.spec.dir, '..');
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
      mkdirSync(join(root, 'stanzas'), { mode: 0o711 });
      // One stanza for the cluster, its config listing every member (pg1…pgN).
      const [first, ...others] = paths.spec.ordinals;
      target = {
        os: paths.spec.member,
        stanza: paths.spec.scope,
        configFile: join(root, 'stanzas', `${paths.spec.scope}.conf`),
        pgPath: paths.dataDir(first!),
        pgPort: paths.spec.port,
        pgSocket: paths.socketDir(first!),
        otherMembers: others.map((i) => ({ path: paths.dataDir(i), socket: paths.socketDir(i) })),
      };
      backrest.writeConfig(target);
      return {
        parameters: { archive_mode: 'on', archive_command: backrest.archiveCommand(target), archive_timeout: '60s' },
        recoveryConf: { restore_command: backrest.restoreCommand(target) },
      };
    },
  });
  ({ cluster, rw, root } = ha);
  await waitFor(async () => query(rw, 'CREATE TABLE IF NOT EXISTS t (n int)').then(() => true), {
    timeoutMs: 30_000,
    what: 'the read-write endpoint',
  });
});

afterAll(async () => {
  const left = ha ? await ha.close() : [];
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
    const pm = Number(readFileSync(join(cluster.dataDir(memberOrdinal(old)!), 'postmaster.pid'), 'utf8').split('\n')[0]);
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

    // A differential backup from the new leader, on top of the full one, at once: its first
    // checkpoint on the new timeline may still be running, and pgBackRest refuses a pg_control
    // that names the old one unless runBackup asks for a checkpoint first.
    const diff = await runBackup(backrest, target, { type: 'diff', annotation: { test: 'diff' }, lockFile });
    expect(diff.type).toBe('diff');
    // The new leader archives into the same stanza; its timeline's history file reaches the archive.
    await backrest.check(target);
    const history = `${String(timeline).padStart(8, '0')}.history`;
    const archive = backrest.archiveDir(cluster.spec.scope);
    await waitFor(async () => readdirSync(archive).some((d) => existsSync(join(archive, d, history))), {
      timeoutMs: 60_000,
      what: `${history} in the archive`,
    });

    const sets = (await backrest.info(target)).sets;
    expect(sets.map((s) => s.label)).toEqual([full.label, diff.label]);
    expect(sets[1]!.prior).toBe(full.label);
  });
});
