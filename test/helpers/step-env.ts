/**
 * The step test environment: the real service wiring (createService: task runner, task worker,
 * fault injector, queue, store) over a SQLite store in a temp directory, with a fake data plane
 * (fake-data-plane.ts) and a clock the test moves. Task definitions of the test's own replace
 * the registry's for their kinds, so a runner test is a few steps that ask the fake for
 * intentions, and runs in milliseconds. Nothing here starts PostgreSQL. Making one takes a
 * fraction of a second (the service's API and credentials): a test file shares one, each test
 * with clusters of its own, `define` for its kinds and `dataPlane.reset()`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../src/config/config.js';
import type { Clock } from '../../src/domain/clock.js';
import type { ClusterRecord, NodeRecord, TaskRecord } from '../../src/domain/records.js';
import type { TaskKind } from '../../src/domain/task.js';
import { Secrets } from '../../src/auth/secrets.js';
import { createLogger } from '../../src/log/logger.js';
import { createService, type Service } from '../../src/main.js';
import { migrate } from '../../src/store/migrate.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import type { TaskDefinition } from '../../src/tasks/definition.js';
import { TaskQueue } from '../../src/tasks/queue.js';
import { createRegistry } from '../../src/tasks/registry.js';
import { removeDir, tempDir } from './env.js';
import { FakeDataPlane } from './fake-data-plane.js';
import { makeCluster, makeNode, T0 } from './records.js';

export const STEP_ENV_PROJECT = '5e6d7c8b9a0f41e2a3b4c5d6e7f80912';

/** Time that moves only when the test moves it; `sleep` moves it at once. */
export class TestClock implements Clock {
  constructor(private at = T0) {}
  now(): number {
    return this.at;
  }
  advance(ms: number): void {
    this.at += ms;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason as Error;
    this.at += ms;
    await new Promise((r) => setImmediate(r));
  }
}

export interface StepEnv {
  svc: Service<FakeDataPlane>;
  store: Store;
  dataPlane: FakeDataPlane;
  clock: TestClock;
  config: Config;
  dir: string;
  /** every log line, parsed */
  logs: Record<string, unknown>[];
  /** Use these definitions for their kinds from now on (a test's own; the registry's otherwise). */
  define(...definitions: TaskDefinition<never, never, never>[]): void;
  /** A cluster of `nodes` nodes in the store (AVAILABLE and NORMAL unless `o` says otherwise). */
  addCluster(
    o?: Partial<ClusterRecord> & { nodes?: number; membership?: NodeRecord['membership'] },
  ): Promise<{ cluster: ClusterRecord; nodes: NodeRecord[] }>;
  /** Enqueue a task through the real queue (one active task per cluster, the D8 accepted state) and wake the worker. */
  enqueue(
    kind: TaskKind,
    params: Record<string, unknown>,
    o?: { cluster?: ClusterRecord | null; checkState?: boolean; snapshotId?: string },
  ): Promise<TaskRecord>;
  /** Wait until `test` holds for the task (the store polled every few milliseconds; fails after `timeoutMs`). */
  waitForTask(taskId: string, test: (t: TaskRecord) => boolean, what: string, timeoutMs?: number): Promise<TaskRecord>;
  /** Wait until the task has ended (SUCCESS, FAILED, ROLLBACK_SUCCESS, ROLLBACK_FAIL). */
  finished(taskId: string): Promise<TaskRecord>;
  /** Wait until the worker runs no task. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface StepEnvOptions {
  /** task definitions of the test, by kind (they replace the registry's) */
  definitions?: TaskDefinition<never, never, never>[];
  /** settings over the environment's (short lease, fast polling) */
  settings?: Partial<Config>;
  /** the retry back-off's random source */
  random?: () => number;
}

export async function createStepEnv(o: StepEnvOptions = {}): Promise<StepEnv> {
  const dir = tempDir('step-env');
  // The lock of one `serve` per SQLite data directory lives here (D1); the fake data plane makes no directories.
  mkdirSync(join(dir, 'locks'), { recursive: true });
  const loaded = loadConfig({
    env: {},
    flags: {
      dataDir: dir,
      host: '127.0.0.1',
      port: 0,
      logLevel: 'debug',
      projectId: STEP_ENV_PROJECT,
      accessKey: 'STEPENVACCESSKEY0001',
      secretKey: 'step-env-secret-key-0123456789',
      pollMs: 10,
      leaseMs: 5000,
      shutdownTimeoutMs: 1000,
      enableTenantFaults: true,
    },
  });
  // Settings below their operator minimums (an idle limit of a few milliseconds) are set here, past loadConfig's checks.
  const config: Config = { ...loaded, ...o.settings };
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log = createLogger({ level: 'debug', destination: sink });
  const clock = new TestClock();
  const store = openStore(join(dir, 'dwsbox.sqlite'));
  await migrate(store.adapter, { now: clock.now() });
  const dataPlane = new FakeDataPlane(dir);
  const registry = new Map<string, TaskDefinition<never>>(createRegistry());
  for (const d of o.definitions ?? []) registry.set(d.kind, d as unknown as TaskDefinition<never>);
  const svc = await createService(config, {
    log,
    clock,
    store,
    registry,
    dataPlane,
    crash: () => {},
    ...(o.random ? { random: o.random } : {}),
  });
  svc.tasks.start();
  // The service's own key (it made it in the data directory): cluster records carry passwords sealed with it.
  const secrets = Secrets.load(null, join(dir, 'master.key'));
  const queue = new TaskQueue(registry, clock, () => svc.tasks.notify());

  const waitForTask = async (taskId: string, test: (t: TaskRecord) => boolean, what: string, timeoutMs = 5000): Promise<TaskRecord> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const t = await store.getTask(taskId);
      if (t && test(t)) return t;
      if (Date.now() > until)
        throw new Error(
          `task ${taskId} did not reach "${what}" within ${timeoutMs} ms; it is ${JSON.stringify(t && { status: t.status, phase: t.phase, attempt: t.attempt, lockedBy: t.lockedBy })}`,
        );
      await new Promise((r) => setTimeout(r, 2));
    }
  };

  let clusters = 0;
  return {
    svc,
    store,
    dataPlane,
    clock,
    config,
    dir,
    logs,
    define(...definitions) {
      for (const d of definitions) registry.set(d.kind, d as unknown as TaskDefinition<never>);
    },
    async addCluster(co = {}) {
      const { nodes: count = 3, membership = 'active', ...fields } = co;
      // Each cluster its own address block and port: node addresses are unique in the store.
      clusters++;
      const cluster = makeCluster({
        projectId: STEP_ENV_PROJECT,
        subnetIndex: clusters,
        port: 20000 + clusters,
        createdAt: clock.now(),
        updatedAt: clock.now(),
        adminPasswordEnc: secrets.encrypt('Step-Env-Admin-1'),
        replPasswordEnc: secrets.encrypt('step-env-replication'),
        ...fields,
      });
      const nodes = Array.from({ length: count }, (_, i) => makeNode(cluster, i + 1, { membership }));
      await store.insertCluster(cluster);
      for (const n of nodes) await store.insertNode(n);
      return { cluster, nodes };
    },
    async enqueue(kind, params, eo = {}) {
      const task = await store.transaction((tx) =>
        queue.enqueue(tx, {
          kind,
          projectId: STEP_ENV_PROJECT,
          cluster: eo.cluster ?? null,
          params,
          ...(eo.checkState === undefined ? {} : { checkState: eo.checkState }),
          ...(eo.snapshotId ? { snapshotId: eo.snapshotId } : {}),
        }),
      );
      queue.notify();
      return task;
    },
    waitForTask,
    finished: (taskId) => waitForTask(taskId, (t) => t.phase === 'done', 'finished'),
    async idle() {
      const until = Date.now() + 5000;
      while (svc.tasks.activeCount > 0) {
        if (Date.now() > until) throw new Error('the task worker still runs a task after 5 s');
        await new Promise((r) => setTimeout(r, 2));
      }
    },
    async close() {
      await svc.stop();
      await store.close();
      removeDir(dir);
    },
  };
}
