/**
 * `dwsbox tenants list|migrate` (D32, docs/security.md): the project users of a data
 * directory, and the explicit migration of a data directory from before per-project users.
 * `migrate` needs the service stopped (it takes the data directory's serve lock, and refuses
 * while a task runs); each cluster is down from the stop of its first node to the start of
 * its last, and the command reports how long.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config/config.js';
import { Secrets } from '../../auth/secrets.js';
import { systemClock } from '../../domain/clock.js';
import { findBinaries } from '../../dataplane/binaries.js';
import { LocalEngine } from '../../dataplane/local-engine.js';
import { acquireLock } from '../../dataplane/pg-exec.js';
import type { UidRecord } from '../../dataplane/project-users.js';
import { migrateCluster, migrateStanza, needsMigration, recordedTarget, stanzaWithoutUser } from '../../dataplane/tenant-migration.js';
import type { Logger } from '../../log/logger.js';
import { migrate } from '../../store/migrate.js';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';

/** What an operator must do once the migration is done (docs/security.md#migrating). */
export const AFTER_MIGRATION = [
  "rotate the master key (a new DWSBOX_MASTER_KEY or master.key, then re-create credentials), the S3 keys of the repository, and every cluster's administrator password (reset-password)",
  'treat this host as compromised if its tenants were not all trusted: every administrator was a PostgreSQL superuser, able to run programs as the postgres OS user',
];

const uidsOf = (store: Store): UidRecord => ({
  highest: () => store.highestOsUid(),
  record: (projectId, name, uid) => store.recordOsUser(projectId, name, uid, systemClock.now()),
});

function engineOf(config: Config, log: Logger): LocalEngine {
  return new LocalEngine({ dataDir: config.dataDir, repoPath: config.repoPath, unsafeNoFsync: false }, findBinaries(config.pgBinDir), log);
}

export async function tenantsList(config: Config, log: Logger): Promise<unknown> {
  const engine = engineOf(config, log);
  const store = openStore(config.store);
  try {
    await migrate(store.adapter);
    const recorded = await store.listOsUsers();
    const onHost = engine.users.list();
    const clusters = await store.listClusters();
    return recorded.map((r) => ({
      project_id: r.projectId,
      os_user: r.name,
      uid: r.uid,
      on_host: onHost.some((u) => u.name === r.name && u.uid === r.uid),
      clusters: clusters.filter((c) => c.projectId === r.projectId).length,
    }));
  } finally {
    await store.close();
  }
}

/** The stanzas here whose config names no OS user yet: the ones of a cluster and the ones left by deleted clusters. */
function stanzasWithoutUser(engine: LocalEngine): string[] {
  const dir = join(engine.settings.dataDir, 'stanzas');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.conf'))
    .map((f) => f.slice(0, -'.conf'.length))
    .filter((s) => stanzaWithoutUser(engine, s));
}

export async function tenantsMigrate(config: Config, log: Logger, o: { dryRun: boolean }): Promise<unknown> {
  const engine = engineOf(config, log);
  engine.prepareHost();
  // The service must be stopped: a serve on this data directory holds this lock (SQLite store).
  const lock = await acquireLock(join(config.dataDir, 'locks', 'serve.lock'), { timeoutMs: 1500, label: 'tenants migrate' }).catch(() => {
    throw new Error(`a dwsbox serve is running on ${config.dataDir}: stop it first (the migration stops and restarts every cluster)`);
  });
  const store = openStore(config.store);
  try {
    await migrate(store.adapter);
    for (const c of await store.listClusters()) {
      if (await store.activeTask(`cluster:${c.id}`))
        throw new Error(
          `cluster ${c.id} has a task that has not finished; start the service, let it finish, stop the service, then migrate`,
        );
    }
    const secrets = Secrets.load(config.masterKey, join(config.dataDir, 'master.key'));
    const uids = uidsOf(store);
    const clusters: unknown[] = [];
    const done = new Set<string>();
    for (const c of await store.listClusters()) {
      const nodes = (await store.listNodes(c.id)).filter((n) => n.membership === 'active');
      done.add(c.stanza);
      if (!needsMigration(engine, c, nodes)) continue;
      if (o.dryRun) {
        clusters.push({
          cluster_id: c.id,
          name: c.name,
          project_id: c.projectId,
          os_user: engine.users.nameOf(c.projectId),
          nodes: nodes.length,
        });
        continue;
      }
      const r = await migrateCluster(engine, log, c, nodes, { replPassword: secrets.decrypt(c.replPasswordEnc) }, uids);
      for (const run of r.running)
        await store.updateNode(run.nodeId, { pid: run.pid, pidStart: run.startTime, health: 'up', updatedAt: systemClock.now() });
      clusters.push({
        cluster_id: c.id,
        name: c.name,
        os_user: r.osUser,
        downtime_s: r.downtimeMs === null ? null : Math.round(r.downtimeMs / 100) / 10,
        changes: r.changes,
      });
    }
    // Stanzas that outlive their cluster (kept snapshots): their project is the snapshots'.
    const stanzas: unknown[] = [];
    for (const stanza of stanzasWithoutUser(engine).filter((s) => !done.has(s))) {
      const projectId =
        (await store.listStanzaSnapshots(stanza))[0]?.projectId ?? (await store.getClusterById(stanza.replace(/^cluster-/, '')))?.projectId;
      if (!projectId) {
        stanzas.push({ stanza, skipped: 'no snapshot or cluster in the store names it; remove it by hand if it is not needed' });
        continue;
      }
      if (o.dryRun) {
        stanzas.push({ stanza, project_id: projectId, os_user: engine.users.nameOf(projectId) });
        continue;
      }
      const os = await engine.ensureProjectUser(projectId, uids);
      stanzas.push({ stanza, os_user: os.name, changes: await migrateStanza(engine, stanza, os, recordedTarget(engine, stanza)) });
    }
    return { dry_run: o.dryRun, clusters, stanzas, ...(o.dryRun ? {} : { next: AFTER_MIGRATION }) };
  } finally {
    await store.close();
    await lock.release();
  }
}
