/**
 * A dwsbox service for a test, in process: its own data directory, SQLite (or a given
 * PostgreSQL) store, a free API port, bootstrap credentials, and a signing client. `stop`
 * ends the service, stops (by PID) every postmaster it left under its data directory, and
 * fails the test if any process of its remains.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createService, type Service } from '../../src/main.js';
import { createLogger } from '../../src/log/logger.js';
import { DwsClient } from '../../src/cli/client.js';
import { AuthService } from '../../src/auth/auth-service.js';
import type { Role } from '../../src/domain/records.js';
import { Secrets } from '../../src/auth/secrets.js';
import { systemClock } from '../../src/domain/clock.js';
import { isTaskActive, type TaskStatus } from '../../src/domain/task.js';
import { liveToolPids } from '../../src/dataplane/pg-exec.js';
import {
  killPostmastersUnder,
  processesUnder,
  removeDir,
  removeProjectUsersUnder,
  tempDir,
  testPoolDir,
  waitFor,
  freePort,
} from './env.js';
import { stopAgentUnitsUnder, testEngineFlags } from './engine.js';

export const PROJECT_ID = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';
export const ACCESS_KEY = 'DWSBOXTESTACCESSKEY1';
export const SECRET_KEY = 'dwsbox-test-secret-key-0123456789';

export interface TestService {
  svc: Service;
  client: DwsClient;
  endpoint: string;
  dataDir: string;
  config: Config;
  logFile: string;
  /** `keepDir`: the data directory stays for a next service (on Patroni with its clusters running, D23). */
  stop(o?: { keepDir?: boolean }): Promise<void>;
}

export async function startService(
  o: { flags?: Record<string, unknown>; crash?: () => void; dataDir?: string } = {},
): Promise<TestService> {
  const dataDir = o.dataDir ?? tempDir('svc');
  const config = loadConfig({
    env: {},
    flags: {
      dataDir,
      host: '127.0.0.1',
      port: 0,
      logLevel: 'debug',
      projectId: PROJECT_ID,
      accessKey: ACCESS_KEY,
      secretKey: SECRET_KEY,
      unsafeNoFsync: true,
      pollMs: 50,
      monitorIntervalMs: 500,
      shutdownTimeoutMs: 1000,
      leaseMs: 5000,
      // The faults API is off by default (fair shares, docs/security.md); the tests inject faults.
      enableTenantFaults: true,
      // One initdb pool for the whole run, shared by every service (global-setup.ts).
      initdbPoolDir: testPoolDir(),
      // DWSBOX_TEST_ENGINE: the engine its clusters run on (local unless it says patroni).
      ...testEngineFlags(),
      ...o.flags,
    },
  });
  const logFile = join(dataDir, 'service.log');
  const log = createLogger({ level: 'debug', destination: createWriteStream(logFile, { flags: 'a' }) });
  const svc = await createService(config, { log, ...(o.crash ? { crash: o.crash } : {}) });
  const addr = await svc.start();
  const endpoint = `http://127.0.0.1:${addr.port}`;
  const client = new DwsClient({ endpoint, projectId: PROJECT_ID, accessKey: ACCESS_KEY, secretKey: SECRET_KEY });
  return {
    svc,
    client,
    endpoint,
    dataDir,
    config,
    logFile,
    async stop(so = {}) {
      await svc.stop();
      // Patroni members and routers outlive serve by design (D23): a data directory kept for a next service
      // keeps its clusters running, for that service to adopt; otherwise they are stopped here.
      const outliving = config.engine === 'patroni' && !!so.keepDir;
      if (config.engine === 'patroni' && !outliving) await stopAgentUnitsUnder(dataDir, config.agentDir);
      if (!outliving) await killPostmastersUnder(dataDir);
      const left = outliving ? [] : processesUnder(dataDir);
      const tools = await toolsLeftBehind(dataDir);
      if (!so.keepDir && !process.env['DWSBOX_KEEP_TEST_DIRS']) {
        removeDir(dataDir);
        await removeProjectUsersUnder(dataDir);
      }
      if (left.length || tools.length)
        throw new Error(`processes left behind: ${JSON.stringify(left)} tools: ${tools.map(toolCommand).join('; ')}`);
    },
  };
}

export const VPC = '3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98';
export const SUBNET = '7d6c5b4a-3f2e-4d1c-8b0a-9e8d7c6b5a43';
export const ADMIN_PASSWORD = 'Dwsbox-Test-Pass1';

export async function createCluster(
  client: DwsClient,
  o: { name?: string; nodes?: number; port?: number; nodeType?: string; userName?: string; password?: string } = {},
): Promise<{ id: string; port: number; name: string }> {
  const port = o.port ?? (await freePort());
  const name = o.name ?? `c${Math.random().toString(36).slice(2, 10)}`;
  const r = await client.call<{ cluster: { id: string } }>('POST', '/v1.0/{project_id}/clusters', {
    cluster: {
      name,
      node_type: o.nodeType ?? 'dwsx.small',
      number_of_node: o.nodes ?? 3,
      subnet_id: SUBNET,
      vpc_id: VPC,
      user_name: o.userName ?? 'dbadmin',
      user_pwd: o.password ?? ADMIN_PASSWORD,
      port,
    },
  });
  return { id: r.cluster.id, port, name };
}

export interface ClusterDetail {
  id: string;
  name: string;
  status: string;
  sub_status: string;
  task_status: string;
  action_progress: Record<string, string>;
  number_of_node: number;
  endpoints: { connect_info: string }[];
  nodes: { id: string; status: string; role: string; connect_info: string }[];
  failed_reasons?: { error_code: string; error_msg: string } | null;
  resize_info?: unknown;
  /** dwsbox: the replication of a highly available cluster (D25) */
  sync_mode?: string;
}

export async function getCluster(client: DwsClient, id: string): Promise<ClusterDetail> {
  return (await client.call<{ cluster: ClusterDetail }>('GET', `/v1.0/{project_id}/clusters/${id}`)).cluster;
}

/** Wait until the cluster is at rest (no task) and return it. */
/** Waits until the cluster runs no task; a timeout names the steps of the tasks still running. */
export async function waitIdle(client: DwsClient, id: string, timeoutMs = 180_000): Promise<ClusterDetail> {
  return waitFor(
    async () => {
      const c = await getCluster(client, id);
      return Object.keys(c.action_progress).length === 0 && !['CREATING', 'DELETING'].includes(c.status) ? c : null;
    },
    { timeoutMs, what: `cluster ${id} to finish its task`, intervalMs: 200 },
  ).catch(async (e: Error) => {
    const running = (await clusterTasks(client, id).catch(() => [])).filter((t) => isTaskActive(t.status as TaskStatus));
    throw new Error(
      `${e.message}; running: ${running.map((t) => `${t.kind} ${t.status} ${JSON.stringify(subItems(t))}`).join(' | ') || 'none'}`,
    );
  });
}

/** Hold back a step of the cluster's next task of `action` by `ms` (a `delay` fault before it, once): the window a test acts in. */
export async function delayStep(client: DwsClient, clusterId: string, action: string, step: string, ms: number): Promise<void> {
  await client.call('POST', '/dwsbox/v1/{project_id}/faults', {
    cluster_id: clusterId,
    action_name: action,
    step,
    mode: 'delay',
    point: 'before',
    delay_ms: ms,
    times: 1,
  });
}

/** Wait until a snapshot is no longer CREATING; its status. */
export async function snapshotDone(client: DwsClient, id: string, timeoutMs = 180_000): Promise<string> {
  return waitFor(
    async () => {
      const s = (await client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${id}`)).snapshot;
      return s.status === 'CREATING' ? null : s.status;
    },
    { what: `snapshot ${id}`, timeoutMs, intervalMs: 100 },
  );
}

/** Take a snapshot of a cluster through the API and wait until it ends; its id and status. */
export async function takeSnapshot(client: DwsClient, clusterId: string, name: string): Promise<{ id: string; status: string }> {
  const r = await client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
    snapshot: { name, cluster_id: clusterId },
  });
  return { id: r.snapshot.id, status: await snapshotDone(client, r.snapshot.id) };
}

/** An API client of a project on the test service, with a key pair of its own (admin unless `role` says otherwise). */
export async function projectClient(t: TestService, projectId: string, role: Role = 'admin'): Promise<DwsClient> {
  const auth = new AuthService(
    t.svc.store,
    Secrets.load(t.config.masterKey, join(t.dataDir, 'master.key')),
    systemClock,
    t.svc.log.scope({ component: 'test-auth' }),
  );
  const cred = await auth.createCredential(projectId, role);
  return new DwsClient({ endpoint: t.endpoint, projectId, accessKey: cred.accessKey, secretKey: cred.secretKey });
}

export interface TaskOut {
  id: string;
  kind: string;
  status: string;
  failed_step: string | null;
  error_code: string | null;
  error_msg: string | null;
  items: { item_name: string; sub_items: { step: string; status: string }[] }[];
}

export async function clusterTasks(client: DwsClient, id: string): Promise<TaskOut[]> {
  return (await client.call<{ tasks: TaskOut[] }>('GET', `/dwsbox/v1/{project_id}/clusters/${id}/tasks`)).tasks;
}

/** The newest task of `kind` on the cluster. */
export async function newestTask<T extends TaskOut = TaskOut>(client: DwsClient, clusterId: string, kind: string): Promise<T | undefined> {
  return (await clusterTasks(client, clusterId)).find((t) => t.kind === kind) as T | undefined;
}

/** Wait until the newest task of `kind` on the cluster has `step` in one of `statuses`. */
export async function waitStep<T extends TaskOut = TaskOut>(
  client: DwsClient,
  clusterId: string,
  kind: string,
  step: string,
  statuses: string[],
): Promise<T> {
  let ended: string | null = null;
  let endedSince: { id: string; at: number } | null = null;
  const found = await waitFor(
    async () => {
      const t = await newestTask<T>(client, clusterId, kind);
      const s = t?.items.flatMap((i) => i.sub_items).find((x) => x.step === step);
      if (s && statuses.includes(s.status)) return t;
      // A task that ended without its step getting there never will: once it stays the newest for
      // 10 s (a request may not have made its task yet), say how it ended instead of waiting on.
      if (t && !isTaskActive(t.status as TaskStatus)) {
        if (endedSince?.id !== t.id) endedSince = { id: t.id, at: Date.now() };
        if (Date.now() - endedSince.at > 10_000) {
          ended = `${t.status} at ${t.failed_step ?? '?'}: ${t.error_msg ?? ''} (steps: ${JSON.stringify(subItems(t))})`;
          return t;
        }
      }
      return null;
    },
    { what: `${kind} step ${step} to be ${statuses.join('/')}`, intervalMs: 20, timeoutMs: 180_000 },
  );
  if (ended) throw new Error(`${kind} ended before step ${step} was ${statuses.join('/')}: ${ended}`);
  return found;
}

/** Wait until a task ends (SUCCESS, FAILED or rolled back). */
export async function waitTaskDone<T extends TaskOut = TaskOut>(client: DwsClient, clusterId: string, taskId: string): Promise<T> {
  return waitFor(
    async () => {
      const t = await client.call<T>('GET', `/dwsbox/v1/{project_id}/clusters/${clusterId}/tasks/${taskId}`);
      return ['SUCCESS', 'FAILED', 'ROLLBACK_SUCCESS', 'ROLLBACK_FAIL'].includes(t.status) ? t : null;
    },
    { what: `task ${taskId} to end`, timeoutMs: 240_000, intervalMs: 100 },
  );
}

export const subItems = (t: TaskOut): { step: string; status: string }[] =>
  t.items.flatMap((i) => i.sub_items.map((s) => ({ step: s.step, status: s.status })));

export async function createAvailableCluster(
  client: DwsClient,
  o: Parameters<typeof createCluster>[1] = {},
): Promise<{ id: string; port: number; name: string; detail: ClusterDetail }> {
  const c = await createCluster(client, o);
  const detail = await waitIdle(client, c.id);
  if (detail.status !== 'AVAILABLE') throw new Error(`cluster ${c.id} ended ${detail.status}: ${JSON.stringify(detail.failed_reasons)}`);
  return { ...c, detail };
}

/** A tool's PID and command line, for the leak check's message. */
export function toolCommand(pid: number): string {
  try {
    return `${pid} (${readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 300)})`;
  } catch {
    return `${pid} (gone)`;
  }
}

/**
 * The tools of this test process still running after a service under `dataDir` stopped.
 * Tools are counted per test process: another service of this process may be filling the
 * run's shared initdb pool (or its own) meanwhile (its tools name that pool's directory; this
 * service's filler was stopped and waited for with it), and one of its tools that has
 * just exited has no command line left until its exit is seen; so a tool counts only when it is
 * still there a moment later (its exit seen, it leaves the list).
 */
export async function toolsLeftBehind(dataDir: string): Promise<number[]> {
  const ours = (): number[] => liveToolPids().filter((pid) => !otherServicePool(pid, dataDir));
  let tools = ours();
  for (let i = 0; tools.length > 0 && i < 40; i++) {
    await new Promise((r) => setTimeout(r, 50));
    tools = ours();
  }
  return tools;
}

/** Is `pid` a tool working in the run's shared initdb pool, or in the pool of another data directory than `dataDir`? */
function otherServicePool(pid: number, dataDir: string): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    return cmd.includes(`${testPoolDir()}/`) || (cmd.includes('/pool/') && !cmd.includes(`${dataDir}/pool/`));
  } catch {
    return false;
  }
}
