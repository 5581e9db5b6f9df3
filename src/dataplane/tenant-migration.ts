/**
 * Moving a data directory from before D32 (every cluster run by the shared `postgres` OS user,
 * the administrator a superuser, one pgBackRest repository path for every stanza) onto
 * per-project OS users: an explicit operation with downtime (`dwsbox tenants migrate`, never
 * at start-up; docs/security.md). For each cluster: stop its nodes, give its files to its
 * project's user, rewrite its configs, start it, and run D32's clean-up routine (roles
 * demoted, server roles revoked, event triggers and untrusted functions dropped, `ALTER SYSTEM
 * RESET ALL`), then restart the primary for the reset and prove archiving with `pgbackrest
 * check`. A stanza that outlives its cluster (kept snapshots) moves too. Idempotent: a cluster
 * already on its project's user is left as it is.
 */
import { existsSync, lstatSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterRecord, NodeRecord } from '../domain/records.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import { localRepository, parseStanzaRepository } from './backup-repository.js';
import { REPLICATION_ROLE, appNameFor, type ClusterSecrets, type LocalEngine } from './local-engine.js';
import { logicalRoot } from './logical-dump.js';
import { isRoot, lookupUid, type OsUser } from './os-user.js';
import { baseEnv, runTool } from './pg-exec.js';
import { PgInstance, quoteConf } from './pg-instance.js';
import { OS_USER_HEADER } from './pgbackrest.js';
import type { UidRecord } from './project-users.js';
import { mkdirSafe, ownedBy, readFileSafe, writeFileSafe } from './safe-fs.js';

export interface ClusterMigration {
  clusterId: string;
  osUser: string;
  /** what changed, for the operator */
  changes: string[];
  /** how long the cluster was down (ms), null when it was not stopped */
  downtimeMs: number | null;
  /** the nodes' new postmasters */
  running: { nodeId: string; pid: number; startTime: number }[];
}

/** Does this cluster still run the pre-D32 way (its stanza config names no OS user, or its data is not its project user's)? */
export function needsMigration(engine: LocalEngine, cluster: ClusterRecord, nodes: NodeRecord[]): boolean {
  // A service that is not root runs everything as itself: there is nothing to move.
  if (!isRoot()) return false;
  const conf = readFileSafe(engine.stanzaConfigFile(cluster.stanza));
  if (conf !== null && !conf.includes(OS_USER_HEADER)) return true;
  const name = engine.users.nameOf(cluster.projectId);
  return nodes.some((n) => {
    const st = lstatSync(n.dataDir, { throwIfNoEntry: false });
    return st !== undefined && lookupUid(st.uid)?.name !== name;
  });
}

/** `chown -R` without following a link anywhere (`-P`, `-h`): the tree becomes `os`'s. */
async function chownTree(path: string, os: OsUser): Promise<void> {
  if (!existsSync(path)) return;
  await runTool({
    cmd: 'chown',
    args: ['-R', '-P', '-h', `${os.uid}:${os.gid}`, '--', path],
    env: baseEnv(),
    label: 'chown',
    timeoutMs: 6 * 3600_000,
  });
}

/**
 * A stanza's repository files from the shared layout (`<repo>/backup/<stanza>`,
 * `<repo>/archive/<stanza>`) to its own directory (`<repo>/<stanza>/…`), made its user's, and
 * its config rewritten for its user (D32). S3 stanzas keep their objects; their config moves
 * to the repository's TLS server. Returns what changed.
 */
export async function migrateStanza(
  engine: LocalEngine,
  stanza: string,
  os: OsUser,
  target: { pgPath: string; pgPort: number; pgSocket: string },
): Promise<string[]> {
  const configFile = engine.stanzaConfigFile(stanza);
  const text = readFileSafe(configFile);
  if (text === null) return [];
  const changes: string[] = [];
  const r = parseStanzaRepository(text);
  const t = { os, stanza, configFile, ...target };
  if (r.kind === 'local') {
    const root = engine.settings.repoPath;
    const own = join(root, stanza);
    if (r.path !== own) {
      mkdirSafe(own, ownedBy(os), 0o750);
      for (const kind of ['backup', 'archive']) {
        const from = join(r.path || root, kind, stanza);
        if (!existsSync(from)) continue;
        mkdirSafe(join(own, kind), ownedBy(os), 0o750);
        renameSync(from, join(own, kind, stanza));
        changes.push(`${kind}/${stanza} moved to ${own}/${kind}/${stanza}`);
      }
      await chownTree(own, os);
      engine.backrest.writeConfig(t, {}, localRepository(root));
    } else {
      await chownTree(own, os);
      engine.backrest.writeConfig(t);
    }
  } else {
    engine.backrest.writeConfig(t);
  }
  changes.push(`stanza ${stanza} runs as ${os.name}`);
  const dumps = join(logicalRoot(engine.settings.dataDir), stanza);
  if (existsSync(dumps)) {
    await chownTree(dumps, os);
    changes.push(`logical snapshots of ${stanza} given to ${os.name}`);
  }
  return changes;
}

/**
 * Migrate one cluster (see the module's comment). The nodes must be the cluster's active ones;
 * `secrets` decrypted by the caller. The cluster is down from the first stop to the last start.
 */
export async function migrateCluster(
  engine: LocalEngine,
  log: Logger,
  cluster: ClusterRecord,
  nodes: NodeRecord[],
  secrets: ClusterSecrets,
  uids: UidRecord,
): Promise<ClusterMigration> {
  const os = await engine.ensureProjectUser(cluster.projectId, uids);
  const out: ClusterMigration = { clusterId: cluster.id, osUser: os.name, changes: [], downtimeMs: null, running: [] };
  if (!needsMigration(engine, cluster, nodes)) return out;
  const primary = nodes.find((n) => n.role === 'primary');
  if (!primary)
    throw new AppError('ENGINE_NODE_FAILED', { args: [cluster.id, 'the cluster has no primary node in the store; it cannot be migrated'] });
  const ordered = [...nodes].sort((a, b) => (a.role === b.role ? b.ordinal - a.ordinal : a.role === 'standby' ? -1 : 1));

  // 1. Stop every node: a standby first, the primary last, as whichever user runs it now.
  const downAt = Date.now();
  let wasRunning = false;
  for (const n of ordered) {
    const owner = lookupUid(lstatSync(n.dataDir).uid);
    if (!owner) continue;
    const p = engine.nodePaths(cluster.id, n.ordinal);
    const old = new PgInstance(
      { os: owner, dataDir: n.dataDir, sockDir: p.sockDir, host: n.host, port: n.port, logFile: p.logFile },
      engine.bins,
      log,
    );
    if (old.status()) {
      wasRunning = true;
      await old.stop({ mode: 'fast' });
      out.changes.push(`node ${n.ordinal} stopped`);
    }
  }

  // 2. Files: data directories the project user's; node directories, logs and markers root's.
  for (const n of ordered) {
    engine.prepareNodeDir(cluster, n.ordinal);
    await chownTree(n.dataDir, os);
    out.changes.push(`node ${n.ordinal}: ${n.dataDir} given to ${os.name}`);
  }

  // 3. Configs: the stanza (and its repository layout), every node's settings, access rules,
  // and the standbys' replication password through a passfile (D32), not in primary_conninfo.
  const stanzaTarget = { pgPath: primary.dataDir, pgPort: cluster.port, pgSocket: engine.nodePaths(cluster.id, primary.ordinal).sockDir };
  out.changes.push(...(await migrateStanza(engine, cluster.stanza, os, stanzaTarget)));
  const settings = engine.clusterSettings(cluster, primary, true);
  for (const n of ordered) {
    const inst = engine.instance(cluster, n);
    inst.writeConfig(settings);
    inst.writeAccessRules();
    if (n.role === 'standby') {
      const passfile = engine.writeReplicationPassfile(cluster, n.ordinal, secrets);
      rewritePrimaryConninfo(
        inst,
        `host=${primary.host} port=${primary.port} user=${REPLICATION_ROLE} application_name=${appNameFor(n.ordinal)} passfile=${passfile}`,
      );
    }
  }

  // 4. Start, clean (D32), restart the primary for ALTER SYSTEM RESET ALL, prove archiving.
  const startOrder = [primary, ...ordered.filter((n) => n !== primary).reverse()];
  await engine.startNode(cluster, primary, { timeoutMs: 10 * 60_000 });
  const cleaned = await engine.cleanRestoredCluster(cluster, primary);
  await engine.grantAdmin(cluster, primary, cluster.userName);
  out.changes.push(...cleaned, `administrator ${cluster.userName} holds the admin role of D32, no more`);
  await engine.stopNode(cluster, primary, 'fast');
  for (const n of startOrder) {
    if (!wasRunning && n !== primary) continue;
    const info = await engine.startNode(cluster, n, { timeoutMs: 10 * 60_000 });
    out.running.push({ nodeId: n.id, pid: info.pid, startTime: info.startTime });
  }
  out.downtimeMs = Date.now() - downAt;
  await engine.backrest.check(engine.stanzaTarget(cluster, primary));
  out.changes.push('archiving checked (pgbackrest check)');
  if (!wasRunning) {
    for (const n of startOrder) await engine.stopNode(cluster, n, 'fast');
    out.running = [];
  }
  return out;
}

/**
 * Rewrite a standby's `primary_conninfo` in postgresql.auto.conf (pg_basebackup -R wrote it;
 * before D32 it held the password). Nothing else in the file changes.
 */
function rewritePrimaryConninfo(inst: PgInstance, conninfo: string): void {
  const f = join(inst.dataDir, 'postgresql.auto.conf');
  const text = readFileSafe(f) ?? '';
  const lines = text.split('\n').filter((l) => !/^\s*primary_conninfo\s*=/.test(l));
  const at = lines.length && lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
  lines.splice(at, 0, `primary_conninfo = ${quoteConf(conninfo)}`);
  writeFileSafe(f, lines.join('\n'), ownedBy(inst.spec.os), 0o600);
}

/** The users that own files of a stanza whose config names none yet (its kept snapshots' project decides the new one). */
export function stanzaWithoutUser(engine: LocalEngine, stanza: string): boolean {
  if (!isRoot()) return false;
  const text = readFileSafe(engine.stanzaConfigFile(stanza));
  return text !== null && !text.includes(OS_USER_HEADER);
}

/** The `pg1-*` target a stanza config records (for a stanza whose cluster is gone). */
export function recordedTarget(engine: LocalEngine, stanza: string): { pgPath: string; pgPort: number; pgSocket: string } {
  const text = readFileSync(engine.stanzaConfigFile(stanza), 'utf8');
  const get = (k: string): string => new RegExp(`^${k}=(.*)$`, 'm').exec(text)?.[1] ?? '';
  return { pgPath: get('pg1-path'), pgPort: Number(get('pg1-port')) || 5432, pgSocket: get('pg1-socket-path') };
}
