/**
 * A new cluster's archiving (D3, issue 14): its own stanza, and proof that archiving into it
 * works before the cluster is AVAILABLE. The proof is what `pgbackrest check` proves, without
 * its process start and its 100 ms polls (pgBackRest 2.45): a WAL segment switched out on the
 * primary is archived by its `archive_command` (`pgbackrest archive-push` into the stanza,
 * which itself refuses a stanza of another database) and is found in the stanza's archive.
 */
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import { AppError } from '../../errors/app-error.js';
import type { LocalEngine } from '../local-engine.js';
import { partlyCreatedStanza } from '../pgbackrest.js';

/** How long a switched segment may take to reach the archive (pgBackRest's own archive-timeout is 60 s). */
const ARCHIVE_TIMEOUT_MS = 60_000;

/** Create the stanza and prove archiving works: a WAL switch reaches the stanza's archive. Idempotent. */
export async function enableNewArchiving(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  o: { signal?: AbortSignal },
): Promise<void> {
  const run = { lockFile: e.lockFile(cluster.id), ...(o.signal ? { signal: o.signal } : {}) };
  try {
    await e.backrest.stanzaCreate(e.writeStanzaConfig(cluster, primary), run);
  } catch (err) {
    // A stanza-create killed with its process (a crash mid-step) can leave archive.info without
    // backup.info ([055]); the primary then archives into it, and pgBackRest refuses to create
    // the stanza over a non-empty archive ([040]). A new cluster's stanza holds no backup yet, so
    // no restore needs its WAL: it is removed and made again, as a repository move does.
    if (!partlyCreatedStanza((err as Error).message)) throw err;
    e.log.warn('a half-made stanza of a new cluster is made again', { clusterId: cluster.id, stanza: cluster.stanza });
    await e.removeStanza(cluster, primary, run);
    await e.backrest.stanzaCreate(e.writeStanzaConfig(cluster, primary), run);
  }
  await proveArchiving(e, cluster, primary, o.signal);
}

/**
 * Every commit made so far in the archive (a restore to a point in time, issue 20): one more
 * commit (`txid_current()` takes a transaction id, so its commit is a WAL record with its time:
 * recovery to a time stops only at a commit or abort past it), then `proveArchiving`'s switch.
 */
export async function archiveEveryCommit(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  signal?: AbortSignal,
): Promise<string> {
  await e.instance(cluster, primary).query('select txid_current()');
  return proveArchiving(e, cluster, primary, signal);
}

/**
 * What `pgbackrest check` proves, without its waits: a switched WAL segment (after a restore
 * point, so the switch always closes a segment with WAL in it) is archived by the primary and
 * found in the stanza's archive. Returns the segment.
 */
export async function proveArchiving(e: LocalEngine, cluster: ClusterRecord, primary: NodeRecord, signal?: AbortSignal): Promise<string> {
  const inst = e.instance(cluster, primary);
  // A restore point first, as pgbackrest check does: the switch then always closes a segment with WAL in it.
  const [row] = await inst.query<{ seg: string }>(
    "select pg_create_restore_point('dwsbox archive check') is not null as p, pg_walfile_name(pg_switch_wal()) as seg",
  );
  const seg = row!.seg;
  const deadline = Date.now() + ARCHIVE_TIMEOUT_MS;
  for (;;) {
    if (signal?.aborted) throw signal.reason as Error;
    const [a] = await inst.query<{ archived: string | null; failed: string | null }>(
      'select last_archived_wal as archived, last_failed_wal as failed from pg_stat_archiver',
    );
    // Segment names of one timeline sort as their positions; a later segment archived means this one was (archiving is in order).
    if (a?.archived && a.archived.length === 24 && a.archived >= seg) break;
    if (Date.now() > deadline) {
      throw new AppError('ENGINE_COMMAND_FAILED', {
        args: [
          'archive check',
          `WAL segment ${seg} was not archived into stanza ${cluster.stanza} within ${ARCHIVE_TIMEOUT_MS / 1000} s (last archived ${a?.archived ?? 'none'}, last failed ${a?.failed ?? 'none'}); the end of the primary's log: ${inst.logTail(3)}`,
        ],
      });
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!(await e.backrest.isArchived(cluster.stanza, seg))) {
    // What the primary archived with: an archive_command naming another stanza is the usual cause.
    const [a] = await inst.query<{ cmd: string }>("select current_setting('archive_command') as cmd");
    throw new AppError('ENGINE_COMMAND_FAILED', {
      args: [
        'archive check',
        `WAL segment ${seg} was archived by the primary but is not in stanza ${cluster.stanza}'s archive (archive_command: ${a?.cmd ?? 'unknown'})`,
      ],
    });
  }
  return seg;
}
