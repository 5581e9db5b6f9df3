/** Helpers for the crash tests (test/e2e/crash-*.test.ts): lanes of child services, tool survivors, cluster checks. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { ApiError, type DwsClient } from '../../src/cli/client.js';
import { allProcesses, postmastersUnder, procInfo, stillAlive, type ChildService, type ProcInfo } from './child-service.js';
import { processesUnder, waitFor } from './env.js';
import { ADMIN_PASSWORD, SUBNET, VPC, clusterTasks, subItems, waitIdle, type ClusterDetail } from './service.js';

export { clusterTasks, subItems, type TaskOut } from './service.js';
import { LocalEngine } from '../../src/dataplane/local-engine.js';
import { findBinaries } from '../../src/dataplane/binaries.js';
import { setDirs } from '../../src/dataplane/pg-backup.js';
import { silentLogger } from '../../src/log/logger.js';

/** Short-lived tools the service runs (D1); they must die with it. */
export const TOOL_RE = /(?:^|[/ ])(initdb|pg_basebackup|pgbackrest|pg_dump|pg_restore|flock|setpriv|unshare)(?: |$)/;
/** The tools that do a step's work (not their wrappers). */
export const WORK_TOOL_RE = /(?:^|[/ ])(initdb|pg_basebackup|pgbackrest|pg_dump|pg_restore)(?: |$)/;

/** Is this process run by a PostgreSQL server (archive_command, restore_command: the cluster's own, not the service's)? */
function runByPostgres(p: ProcInfo, byPid: Map<number, ProcInfo>): boolean {
  for (let q = byPid.get(p.ppid), depth = 0; q && depth < 6; q = byPid.get(q.ppid), depth++) {
    if (/^postgres(:| -D )|\/postgres -D /.test(q.cmd)) return true;
  }
  return false;
}

/**
 * Watches, by polling /proc, every tool working on a data directory at any depth below the
 * service (pgBackRest and its workers, pg_basebackup, pg_dump and pg_restore in their PID
 * namespaces, …), the cluster's own archive-push/archive-get aside. After a crash, `survivors`
 * lists the ones seen before it that still live (same PID and start time); `midFlight` the ones
 * the last poll that still found the service `servicePid` alive saw running (the tools at work
 * when it died).
 */
export function watchDataDirTools(
  dataDir: string,
  servicePid: number,
  intervalMs = 20,
): { seen: () => ProcInfo[]; midFlight: () => ProcInfo[]; survivors: () => ProcInfo[]; stop: () => void } {
  const seen = new Map<string, ProcInfo>();
  let whileAlive: ProcInfo[] = [];
  const poll = (): void => {
    const all = allProcesses();
    const byPid = new Map(all.map((p) => [p.pid, p]));
    const tools = all.filter((p) => p.cmd.includes(dataDir) && WORK_TOOL_RE.test(p.cmd) && !runByPostgres(p, byPid));
    for (const p of tools) seen.set(`${p.pid}:${p.start}`, p);
    if (byPid.has(servicePid) && procInfo(servicePid) !== null) whileAlive = tools;
  };
  poll();
  const t = setInterval(poll, intervalMs);
  return {
    seen: () => [...seen.values()],
    midFlight: () => whileAlive,
    survivors: () => [...seen.values()].filter((p) => stillAlive(p)),
    stop: () => clearInterval(t),
  };
}

export interface SurvivorOptions {
  /**
   * Processes whose tools are theirs, not the service's, by command line: a tool with such an
   * ancestor is never counted (D23: Patroni runs initdb and pg_basebackup itself, and they
   * survive a crash of the service by design). Default: none.
   */
  ownedBy?: RegExp;
}

/** Has `p` an ancestor (up to a few levels) whose command line matches `re`? */
function hasAncestor(p: ProcInfo, byPid: Map<number, ProcInfo>, re: RegExp): boolean {
  for (let q = byPid.get(p.ppid), depth = 0; q && depth < 6; q = byPid.get(q.ppid), depth++) if (re.test(q.cmd)) return true;
  return false;
}

/**
 * Tool processes that outlived the service: children it was seen running that still live
 * (postmasters aside), and any tool on its data directory with no postgres process among its
 * ancestors (archive-push, run by the archiver, directly or through `sh -c`, is the cluster's
 * own; CI once caught one a level down, archiving the history file of a copy Patroni made)
 * nor, with `ownedBy`, one of the processes that own their tools.
 */
export function survivingTools(watcher: { survivors: () => ProcInfo[] }, dataDir: string, o: SurvivorOptions = {}): string[] {
  const all = allProcesses();
  const byPid = new Map(all.map((p) => [p.pid, p]));
  const owned = (p: ProcInfo): boolean => (o.ownedBy ? hasAncestor(p, byPid, o.ownedBy) : false);
  const orphans = all.filter((p) => p.cmd.includes(dataDir) && TOOL_RE.test(p.cmd) && !hasAncestor(p, byPid, /^postgres/) && !owned(p));
  return [...new Map([...watcher.survivors().filter((p) => !owned(p)), ...orphans].map((p) => [p.pid, `${p.pid} ${p.cmd}`])).values()];
}

/** After a crash: wait (boundedly) for the death signals to land, then list what survived. */
export async function toolsLeftAfterCrash(
  watcher: { survivors: () => ProcInfo[] },
  dataDir: string,
  o: SurvivorOptions = {},
): Promise<string[]> {
  await waitFor(async () => survivingTools(watcher, dataDir, o).length === 0, { timeoutMs: 5000, intervalMs: 50 }).catch(() => {});
  return survivingTools(watcher, dataDir, o);
}

/** A fixed set of child services ("lanes"); a case takes one for its whole run, so at most that many run at once (D21). */
export class LanePool {
  private free: ChildService[];
  private waiting: ((l: ChildService) => void)[] = [];
  constructor(readonly all: ChildService[]) {
    this.free = [...all];
  }
  acquire(): Promise<ChildService> {
    const l = this.free.pop();
    if (l) return Promise.resolve(l);
    return new Promise((r) => this.waiting.push(r));
  }
  release(l: ChildService): void {
    const w = this.waiting.shift();
    if (w) w(l);
    else this.free.push(l);
  }
  async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    for (const l of this.all) await l.cleanup().catch((e: unknown) => errors.push(e));
    if (errors.length) throw errors[0];
  }
}

/** Put a lane back in a known state after a failed case: running, no faults, no clusters. */
export async function resetLane(svc: ChildService): Promise<void> {
  if (!svc.alive()) await svc.restart();
  await svc.client.call('DELETE', '/dwsbox/v1/{project_id}/faults');
  const l = await svc.client.call<{ clusters: { id: string }[] }>('GET', '/v1.0/{project_id}/clusters');
  for (const c of l.clusters) {
    await waitIdle(svc.client, c.id, 120_000).catch(() => {});
    await svc.client.request('DELETE', `/v1.0/{project_id}/clusters/${c.id}`, { keep_last_manual_snapshot: 0 });
    await waitFor(async () => (await svc.client.request('GET', `/v1.0/{project_id}/clusters/${c.id}`)).status === 404, {
      timeoutMs: 60_000,
    }).catch(() => {});
  }
}

/** POST a 3-node create; null when the service died before it answered (a crash right at claim time). */
export async function postCreate(client: DwsClient, name: string, port: number): Promise<string | null> {
  try {
    const r = await client.call<{ cluster: { id: string } }>('POST', '/v1.0/{project_id}/clusters', {
      cluster: {
        name,
        node_type: 'dwsx.small',
        number_of_node: 3,
        subnet_id: SUBNET,
        vpc_id: VPC,
        user_name: 'dbadmin',
        user_pwd: ADMIN_PASSWORD,
        port,
      },
    });
    return r.cluster.id;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    return null;
  }
}

/** Send a request the service may not live to answer (a crash fault fires right after it is accepted). */
export async function requestMayDie(client: DwsClient, method: string, path: string, body?: unknown): Promise<number | null> {
  try {
    return (await client.request(method, path, body)).status;
  } catch {
    return null;
  }
}

export async function findClusterId(client: DwsClient, name: string): Promise<string> {
  const l = await client.call<{ clusters: { id: string; name: string }[] }>('GET', '/v1.0/{project_id}/clusters');
  const c = l.clusters.find((x) => x.name === name);
  if (!c) throw new Error(`no cluster named ${name}`);
  return c.id;
}

/**
 * `sql` as the administrator. A connection that timed out (5 s with no answer: a server slow to
 * start a session on a loaded host, as in a CI run with three crash cases at once) is tried
 * again for up to 30 s; nothing was sent on it. `connectForMs`: every failed connection is tried
 * again for that long: an endpoint whose router has no member up yet refuses or holds it.
 */
export async function adminQuery<R>(
  connectInfo: string,
  sql: string,
  o: { connectForMs?: number; user?: string; password?: string } = {},
): Promise<R[]> {
  const [host, port] = connectInfo.split(':');
  const started = Date.now();
  const until = started + (o.connectForMs ?? 0);
  let c: pg.Client;
  for (;;) {
    c = new pg.Client({
      host,
      port: Number(port),
      user: o.user ?? 'dbadmin',
      password: o.password ?? ADMIN_PASSWORD,
      database: 'postgres',
      connectionTimeoutMillis: 5000,
    });
    c.on('error', () => {});
    try {
      await c.connect();
      break;
    } catch (e) {
      await c.end().catch(() => {});
      const slow = /timeout expired/.test((e as Error).message) && Date.now() < started + 30_000;
      if (Date.now() > until && !slow)
        throw new Error(`${connectInfo}: ${(e as Error).message} (after ${Math.round((Date.now() - started) / 1000)} s of tries)`, {
          cause: e,
        });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return (await c.query(sql)).rows as R[];
  } finally {
    await c.end().catch(() => {});
  }
}

export async function replicationOf(d: ClusterDetail): Promise<{ application_name: string; state: string }[]> {
  return adminQuery(d.endpoints[0]!.connect_info, 'select application_name, state from pg_stat_replication order by 1');
}

/** Data directory of the node the API shows at `connectInfo` (node i listens on 127.0.c.i, D6). */
export function nodeDataDir(dataDir: string, clusterId: string, connectInfo: string): string {
  const ordinal = Number(connectInfo.split(':')[0]!.split('.')[3]);
  return join(dataDir, 'clusters', clusterId, `node${ordinal}`, 'data');
}

/** Store and processes, side by side: the data directories of the API's "200" nodes, and of every running postmaster under the data directory. */
export function nodesVsPostmasters(dataDir: string, clusterId: string, d: ClusterDetail): { up: string[]; running: string[] } {
  return {
    up: d.nodes
      .filter((n) => n.status === '200')
      .map((n) => nodeDataDir(dataDir, clusterId, n.connect_info))
      .sort(),
    running: postmastersUnder(join(dataDir, 'clusters') + '/')
      .map((p) => p.dataDir)
      .sort(),
  };
}

export async function deleteCluster(client: DwsClient, id: string): Promise<void> {
  const r = await client.request('DELETE', `/v1.0/{project_id}/clusters/${id}`, { keep_last_manual_snapshot: 0 });
  if (r.status !== 202) throw new Error(`delete of ${id} answered ${r.status}: ${JSON.stringify(r.body)}`);
  await waitForGone(client, id);
}

export async function waitForGone(client: DwsClient, id: string, timeoutMs = 120_000): Promise<void> {
  await waitFor(async () => (await client.request('GET', `/v1.0/{project_id}/clusters/${id}`)).status === 404, {
    what: `cluster ${id} to be deleted`,
    timeoutMs,
  }).catch(async (e: Error) => {
    // Where the delete is: its sub-items and error, from the task list (the cluster is still there).
    const del = (await clusterTasks(client, id).catch(() => [])).find((t) => t.kind === 'cluster.delete');
    throw new Error(
      `${e.message}; the delete task: ${del ? `${del.status} ${JSON.stringify(subItems(del))} ${del.error_msg ?? ''}` : 'not found'}`,
    );
  });
}

/** What a deleted (or cleaned-up) cluster must not leave behind; an empty list when nothing is left. */
export function leftovers(dataDir: string, id: string): string[] {
  const out = processesUnder(join(dataDir, 'clusters', id)).map((p) => `process ${p.pid} ${p.cmd}`);
  for (const p of [join(dataDir, 'clusters', id), join(dataDir, 'locks', `${id}.lock`), join(dataDir, 'repo', `cluster-${id}`)]) {
    if (existsSync(p)) out.push(`path ${p}`);
  }
  return out;
}

/**
 * Store and processes for a whole data directory: the data directories of every node the API
 * shows as "200", in every cluster, and of every running postmaster under the data directory
 * (temporary instances of table restores included, which the API never shows: none may run
 * once their task has ended).
 */
export async function storeVsProcesses(svc: ChildService): Promise<{ up: string[]; running: string[] }> {
  const l = await svc.client.call<{ clusters: { id: string }[] }>('GET', '/v1.0/{project_id}/clusters');
  const up: string[] = [];
  for (const c of l.clusters) {
    const d = (await svc.client.call<{ cluster: ClusterDetail }>('GET', `/v1.0/{project_id}/clusters/${c.id}`)).cluster;
    up.push(...d.nodes.filter((n) => n.status === '200').map((n) => nodeDataDir(svc.dataDir, c.id, n.connect_info)));
  }
  return {
    up: up.sort(),
    running: postmastersUnder(svc.dataDir + '/')
      .map((p) => p.dataDir)
      .sort(),
  };
}

/** An engine on a child service's data directory, for the test's own reads of the repository (pgbackrest info, verify). */
export function engineOn(dataDir: string): LocalEngine {
  return new LocalEngine({ dataDir, repoPath: join(dataDir, 'repo'), unsafeNoFsync: true }, findBinaries(null), silentLogger());
}

/** `pgbackrest verify --set=<label>`: every file of the set and the WAL it needs read back and checked; what pgBackRest reports when it is not "status: ok", else []. */
export async function verifySet(engine: LocalEngine, stanza: string, label: string): Promise<string[]> {
  const t = { stanza, configFile: engine.stanzaConfigFile(stanza) };
  try {
    const r = await engine.backrest.run(t, 'verify', { extra: [`--set=${label}`, '--output=text', '--verbose'], timeoutMs: 120_000 });
    return /^\s*status: ok\s*$/m.test(r.stdout) ? [] : [r.stdout.trim() || r.stderr.trim() || 'no output'];
  } catch (e) {
    return [(e as Error).message];
  }
}

/** Backup set directories in a stanza's repository that pgBackRest's catalog does not list (a partial backup left behind). */
export async function unlistedSets(engine: LocalEngine, stanza: string): Promise<string[]> {
  const listed = new Set((await engine.backrest.info({ stanza, configFile: engine.stanzaConfigFile(stanza) })).sets.map((s) => s.label));
  return setDirs(engine.backrest, stanza).filter((d) => !listed.has(d));
}
