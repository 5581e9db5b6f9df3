/** A cluster's pgBackRest stanza: its config, its repository (and moves between repositories), archiving, removal (D2, D3, D16). */
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { RepositoryRef } from '../backup-repository.js';
import type { LocalEngine } from '../local-engine.js';
import type { StanzaTarget } from '../pgbackrest.js';

/**
 * The error a snapshot of this cluster meets when its stanza sits in another repository than
 * the configured one and holds backup sets there (REPOSITORY_MOVE_REFUSED), else null. Reads
 * only the stanza's config file unless the repositories differ.
 */
export async function repositoryMoveRefusal(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza'>,
  signal?: AbortSignal,
): Promise<AppError | null> {
  const want = e.repositoryRef();
  const configFile = e.stanzaConfigFile(cluster.stanza);
  const have = e.backrest.stanzaRepository(configFile);
  if (!have || have.id === want.id || !(await e.backrest.stanzaExists(cluster.stanza))) return null;
  const sets = (await e.backrest.info({ stanza: cluster.stanza, configFile }, signal ? { signal } : {})).sets;
  if (!sets.length) return null;
  return new AppError('REPOSITORY_MOVE_REFUSED', {
    args: [cluster.id, `${have.kind} repository ${have.id}`, `${want.kind} repository ${want.id}`, String(sets.length)],
  });
}

/**
 * Keep a cluster's stanza in the configured repository. A stanza recorded in another one
 * (the setting changed since the cluster was made) moves there only when it holds no
 * backup set: then its old stanza is deleted and a new one created in the configured
 * repository (archive_command reads the stanza's config file, so archiving follows). With
 * backup sets it is refused (REPOSITORY_MOVE_REFUSED): moving snapshots between
 * repositories is not something dwsbox does. Returns the repository the stanza is in.
 */
export async function ensureStanzaRepository(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>,
  primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>,
  o: { signal?: AbortSignal; lockFile?: string } = {},
): Promise<RepositoryRef> {
  const want = e.repositoryRef();
  const t = e.stanzaTarget(cluster, primary);
  const have = e.backrest.stanzaRepository(t.configFile);
  if (!have || have.id === want.id) return want;
  const lockFile = o.lockFile ?? e.lockFile(cluster.id);
  const signal = o.signal ? { signal: o.signal } : {};
  const refused = await e.repositoryMoveRefusal(cluster, o.signal);
  if (refused) throw refused;
  e.log.info('moving a stanza with no backup sets to the configured repository', {
    clusterId: cluster.id,
    stanza: cluster.stanza,
    from: have.id,
    to: want.id,
  });
  await e.removeStanza(cluster, primary, { lockFile, ...signal });
  const spec = e.backrest.configuredSpec();
  e.prepareClusterDir(cluster);
  e.backrest.writeConfig(t, {}, spec);
  await e.backrest.stanzaCreate(t, { lockFile, ...signal });
  return want;
}

export function stanzaTarget(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>,
  primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>,
): StanzaTarget {
  const users = e.users;
  return {
    get os() {
      return users.userOf(cluster.projectId);
    },
    stanza: cluster.stanza,
    configFile: e.stanzaConfigFile(cluster.stanza),
    pgPath: primary.dataDir,
    pgPort: cluster.port,
    pgSocket: e.nodePaths(cluster.id, primary.ordinal).sockDir,
  };
}

export function writeStanzaConfig(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>,
  primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>,
): StanzaTarget {
  e.prepareClusterDir(cluster);
  const t = e.stanzaTarget(cluster, primary);
  e.backrest.writeConfig(t);
  return t;
}

/**
 * Remove a stanza and everything in the repository under it: `stop`, then
 * `stanza-delete` (D16: pgBackRest never expires a stanza's last full, so this is the only way).
 */
export async function removeStanza(
  e: LocalEngine,
  cluster: Pick<ClusterRecord, 'id' | 'projectId' | 'stanza' | 'port'>,
  primary: Pick<NodeRecord, 'ordinal' | 'dataDir'>,
  o: { signal?: AbortSignal; lockFile?: string } = {},
): Promise<void> {
  if (!(await e.backrest.stanzaExists(cluster.stanza)) && !(await e.backrest.archiveExists(cluster.stanza))) {
    await e.backrest.removeStanzaFiles(cluster.stanza);
    return;
  }
  const t = e.writeStanzaConfig(cluster, primary);
  const lockFile = o.lockFile ?? e.lockFile(cluster.id);
  const opts = { lockFile, ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 300_000 };
  await e.backrest.run(t, 'stop', opts);
  await e.backrest.run(t, 'stanza-delete', { ...opts, extra: ['--force'] });
  await e.backrest.removeStanzaFiles(cluster.stanza);
}
