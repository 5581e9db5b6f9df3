/**
 * Composition root: the only file that knows every concrete class. loadConfig → store →
 * migrate → engine → tasks → services → API; start and stop in order.
 */
import { hostname, networkInterfaces } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.js';
import { recordEngine } from './config/data-dir-engine.js';
import { systemClock, type Clock } from './domain/clock.js';
import { createLogger, type Logger } from './log/logger.js';
import { Secrets } from './auth/secrets.js';
import { AuthService } from './auth/auth-service.js';
import { AuthThrottle } from './auth/throttle.js';
import { openStore } from './store/open-store.js';
import { codeVersion, currentVersion, migrate } from './store/migrate.js';
import type { Store } from './store/store.js';
import { ReadPoint } from './store/read-cache.js';
import { findBinaries, type Binaries } from './dataplane/binaries.js';
import { LocalEngine } from './dataplane/local-engine.js';
import { PatroniEngine } from './dataplane/patroni-engine.js';
import type { DataPlane } from './dataplane/data-plane.js';
import { dirSize } from './dataplane/pg-instance.js';
import { needsMigration } from './dataplane/tenant-migration.js';
import {
  localRepository,
  RepositoryRegistry,
  s3Repository,
  type RepositoryCredentials,
  type RepositorySpec,
} from './dataplane/backup-repository.js';
import { acquireLock, processStartTime } from './dataplane/pg-exec.js';
import { TaskEvents } from './tasks/events.js';
import { FaultInjector } from './tasks/faults.js';
import { TaskRunner } from './tasks/runner.js';
import { TaskWorker } from './tasks/worker.js';
import { TaskSlots } from './tasks/slots.js';
import { TaskQueue } from './tasks/queue.js';
import { createRegistry } from './tasks/registry.js';
import type { TaskDefinition } from './tasks/definition.js';
import { ClusterService } from './services/cluster-service.js';
import { TaskService } from './services/task-service.js';
import { FaultService } from './services/fault-service.js';
import { SnapshotService } from './services/snapshot-service.js';
import { RestoreService } from './services/restore-service.js';
import { ScaleService } from './services/scale-service.js';
import { HealthMonitor } from './services/health-monitor.js';
import { ActivityService } from './services/activity-service.js';
import { SnapshotPolicyService } from './services/snapshot-policy-service.js';
import { SnapshotScheduler } from './services/snapshot-scheduler.js';
import { MaintenanceRestarts } from './services/maintenance-restarts.js';
import { EventService } from './services/events.js';
import { EventSubscriptionService } from './services/event-subscriptions.js';
import { EventDelivery } from './services/event-delivery.js';
import { MetricsCollector } from './services/metrics-collector.js';
import { AlarmEvaluator } from './services/alarm-evaluator.js';
import { AlarmService } from './services/alarm-service.js';
import { AuditService } from './services/audit-service.js';
import { MonitoringService } from './services/monitoring-service.js';
import { HostService } from './services/host-service.js';
import { DisasterRecoveryService } from './services/disaster-recovery-service.js';
import { AgentFleet } from './dataplane/agent/host-agents.js';
import { buildApp, type Readiness } from './api/app.js';
import { defaultConsoleDir } from './api/routes/console.js';
import { Metrics } from './metrics/metrics.js';
import { createServer, type Server } from 'node:http';

/** The running service; `D` is its data plane (the local engine unless one was injected). */
export interface Service<D extends DataPlane = LocalEngine> {
  config: Config;
  app: FastifyInstance;
  store: Store;
  dataPlane: D;
  tasks: TaskWorker;
  /** fires snapshot-policy strategies and applies their retention */
  scheduler: SnapshotScheduler;
  /** snapshot use cases, e.g. `createSnapshot` of a schema- or table-level snapshot (no public route takes the level) */
  snapshots: SnapshotService;
  /** cluster use cases, with their parameter configurations (`clusters.configurations`) */
  clusters: ClusterService;
  /** node health, failovers and the data-disk read-only protection (`protectDisks`) */
  monitor: HealthMonitor;
  /** the metrics collector (D29); `collect()` runs one collection now */
  collector: MetricsCollector;
  events: TaskEvents;
  log: Logger;
  owner: string;
  /** credentials created on a first start, to print once */
  firstStartCredentials: { projectId: string; accessKey: string; secretKey: string } | null;
  /** listen and start work; returns the bound address */
  start(): Promise<{ host: string; port: number }>;
  /** idempotent */
  stop(): Promise<void>;
}

export interface CreateServiceOptions<D extends DataPlane = LocalEngine> {
  log?: Logger;
  clock?: Clock;
  /** replace how a `crash` fault kills the process (tests) */
  crash?: () => void;
  /**
   * The data plane, ready to use (tests inject a fake: test/helpers/step-env.ts). Default: the
   * local engine over the binaries of `pgBinDir`, with the configured backup repository.
   */
  dataPlane?: D;
  /** The metadata store (migrated here; the caller closes it). Default: the one `store` names, closed by `stop()`. */
  store?: Store;
  /** The random source of the retry back-off's jitter (tasks/retry.ts). Default: Math.random. */
  random?: () => number;
  /** Task kind → definition. Default: every kind's (tasks/registry.ts); tests add their own. */
  registry?: ReadonlyMap<string, TaskDefinition<never>>;
}

/** The backup repository the settings name (local by default, or S3). */
export function repositoryFromConfig(config: Config): { spec: RepositorySpec; creds: RepositoryCredentials | null } {
  if (config.repoType !== 's3') return { spec: localRepository(config.repoPath), creds: null };
  const [host, port] = config.repoS3Endpoint!.split(':');
  return {
    spec: s3Repository({
      endpoint: host!,
      port: port ? Number(port) : 443,
      bucket: config.repoS3Bucket!,
      region: config.repoS3Region!,
      uriStyle: config.repoS3UriStyle,
      verifyTls: config.repoS3VerifyTls,
      caFile: config.repoS3CaFile,
      path: config.repoS3Path,
    }),
    creds: { key: config.repoS3Key!, keySecret: config.repoS3KeySecret! },
  };
}

export function createService(config: Config, o?: CreateServiceOptions): Promise<Service>;
export function createService<D extends DataPlane>(config: Config, o: CreateServiceOptions<D> & { dataPlane: D }): Promise<Service<D>>;
export async function createService(config: Config, o: CreateServiceOptions<DataPlane> = {}): Promise<Service<DataPlane>> {
  const log = o.log ?? createLogger({ level: config.logLevel, pretty: config.logPretty });
  const clock = o.clock ?? systemClock;
  // <host>:<pid>:<nonce>:<process start time>: another process on this host can tell whether the owner still runs (D1).
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}:${processStartTime(process.pid) ?? 0}`;

  let bins: Binaries | null = null;
  let configureRepository: (secrets: Secrets) => void = () => {};
  let dataPlane: DataPlane;
  if (o.dataPlane) dataPlane = o.dataPlane;
  else {
    try {
      bins = findBinaries(config.pgBinDir);
    } catch (e) {
      throw new Error((e as Error).message, { cause: e });
    }
    // Project users' uids are recorded in the store, never given out twice (D32).
    const uids = {
      highest: () => store.highestOsUid(),
      record: (projectId: string, name: string, uid: number) => store.recordOsUser(projectId, name, uid, clock.now()),
    };
    const engine = createEngine(config, bins, log.scope({ component: 'dataplane' }), uids);
    // The repository of new clusters' stanzas; its credentials are kept sealed under the master key (D17).
    configureRepository = (secrets) => {
      const repository = repositoryFromConfig(config);
      engine.configureRepository(new RepositoryRegistry(join(config.dataDir, 'repositories'), secrets), repository.spec, repository.creds);
    };
    dataPlane = engine;
  }
  /** What only the local engine knows: data directories from before per-project OS users (D32). */
  const localEngine = dataPlane instanceof LocalEngine ? dataPlane : null;
  dataPlane.prepareHost();
  // A data directory keeps the engine its clusters were made with (data-dir-engine.ts).
  if (!o.dataPlane) recordEngine(config.dataDir, config.engine);

  let onQuery: (ms: number) => void = () => {};
  // A session idle in a transaction for a whole lease is a paused or stuck process: end it, so its row locks do not block a takeover.
  const store = o.store ?? openStore(config.store, { onQuery: (ms) => onQuery(ms), idleInTransactionTimeoutMs: config.leaseMs, log });
  const closeStore = async (): Promise<void> => {
    if (!o.store) await store.close();
  };
  let serveLock = null as { release(): Promise<void> } | null;
  try {
    if (!store.capabilities.multiProcess) {
      // D1: with the SQLite store, one `serve` per data directory.
      try {
        serveLock = await acquireLock(join(config.dataDir, 'locks', 'serve.lock'), { timeoutMs: 1500, label: 'serve' });
      } catch {
        throw new Error(
          `another dwsbox serve is already running on ${config.dataDir}; stop it first, or use a PostgreSQL store (--store postgres://…) to run several`,
        );
      }
    }
    await migrate(store.adapter, { now: clock.now() });
    // D32: a data directory from before per-project OS users is migrated explicitly, never at start.
    if (localEngine) await refuseUnmigrated(store, localEngine);
  } catch (e) {
    await serveLock?.release();
    await closeStore();
    throw e;
  }

  const secrets = Secrets.load(config.masterKey, join(config.dataDir, 'master.key'));
  configureRepository(secrets);
  // Back-off for failed sign-ins and signatures, per process (docs/security.md).
  const auth = new AuthService(
    store,
    secrets,
    clock,
    log.scope({ component: 'auth' }),
    new AuthThrottle(config, log.scope({ component: 'auth' })),
  );
  const firstStartCredentials = await auth.bootstrap({
    projectId: config.projectId,
    accessKey: config.accessKey,
    secretKey: config.secretKey,
  });

  const events = new TaskEvents(log);
  const registry = o.registry ?? createRegistry();
  // A crash fault kills at once; the log lines before it are flushed first (at most 1 s).
  const crash =
    o.crash ??
    (() => {
      log.flushSync();
      process.kill(process.pid, 'SIGKILL');
    });
  // Fair shares (docs/security.md): a task waiting on an injected delay or hang lends its slot out; one project runs at most projectTaskConcurrency tasks.
  const slots = new TaskSlots(config.taskConcurrency);
  const faults = new FaultInjector(store, log.scope({ component: 'faults' }), crash, {
    enabled: config.enableTenantFaults,
    maxDelayMs: config.faultMaxDelayMs,
    slots,
  });
  const runner = new TaskRunner({
    store,
    dataPlane,
    secrets,
    config,
    clock,
    log: log.scope({ component: 'tasks' }),
    faults,
    events,
    owner,
    registry,
    ...(o.random ? { random: o.random } : {}),
  });
  const tasks = new TaskWorker({
    store,
    runner,
    clock,
    log: log.scope({ component: 'tasks' }),
    owner,
    concurrency: config.taskConcurrency,
    projectConcurrency: config.projectTaskConcurrency,
    slots,
    leaseMs: config.leaseMs,
    pollMs: config.pollMs,
  });
  const queue = new TaskQueue(registry, clock, () => tasks.notify());

  const clusters = new ClusterService({ store, queue, dataPlane, secrets, clock, config, log: log.scope({ component: 'clusters' }) });
  const snapshots = new SnapshotService({ store, queue, clock, dataPlane, limits: config, log: log.scope({ component: 'snapshots' }) });
  const scale = new ScaleService({ store, queue, dataPlane, clusters, clock, config, log: log.scope({ component: 'scale' }) });
  const restores = new RestoreService({
    store,
    queue,
    clusters,
    dataPlane,
    secrets,
    clock,
    limits: config,
    log: log.scope({ component: 'restores' }),
  });
  const taskService = new TaskService(store, clock);
  const faultService = new FaultService(store, clock, {
    tenantFaults: config.enableTenantFaults,
    crashFaults: config.enableCrashFaults,
    maxDelayMs: config.faultMaxDelayMs,
  });
  const policies = new SnapshotPolicyService({
    store,
    clock,
    log: log.scope({ component: 'snapshot-policies' }),
    minIntervalMs: config.policyMinIntervalMs,
  });
  const scheduler = new SnapshotScheduler({
    store,
    snapshots,
    queue,
    clock,
    log: log.scope({ component: 'scheduler' }),
    intervalMs: config.schedulerIntervalMs,
    retentionEveryMs: 60_000,
    minIntervalMs: config.policyMinIntervalMs,
    maintenance: new MaintenanceRestarts({ store, queue, log: log.scope({ component: 'maintenance' }) }),
  });
  const monitor = new HealthMonitor(store, dataPlane, clock, log.scope({ component: 'monitor' }), config.monitorIntervalMs);
  monitor.onStuckMembers(async (c, ordinals) => (await clusters.repair(c.projectId, c.id, ordinals)).id);

  const readiness: Readiness = {
    accepting: false,
    async check() {
      const checks: Record<string, string> = {};
      let reason: string | null = null;
      try {
        await store.ping();
        checks['store'] = 'ok';
        const have = await currentVersion(store.adapter);
        const want = codeVersion(store.adapter);
        checks['migrations'] = have === want ? `current (${have})` : `at ${have}, code wants ${want}`;
        if (have !== want) reason = 'store migrations are not current; run npx dwsbox migrate';
      } catch (e) {
        checks['store'] = `unreachable: ${(e as Error).message}`;
        reason = 'the metadata store is unreachable';
      }
      checks['binaries'] = bins ? `postgres ${bins.pgVersion}, pgbackrest ${bins.pgbackrestVersion}` : 'an injected data plane';
      return { ready: reason === null, reason, checks };
    },
  };

  const audit = new AuditService(
    { store, clock, log: log.scope({ component: 'audit' }), retentionDays: config.auditRetentionDays },
    clusters,
  );
  const metrics = new Metrics({
    store,
    repositoryBytes: () => dirSize(config.repoPath),
    replicationLag: () => monitor.replicationLag(),
    sampleMaxAgeSeconds: Math.ceil((3 * config.metricsCollectIntervalMs) / 1000) + 1,
  });
  metrics.watch(events);
  // Events (D26): each task's start and end recorded once in the store.
  const eventService = new EventService({ store, log: log.scope({ component: 'events' }) });
  eventService.watch(events);
  // Event subscriptions (issue 17): never to this service's own listeners (bound in start()) or the data plane's addresses.
  let listening: { host: string; port: number }[] = [];
  const selfAddresses = (): { host: string; port: number; what?: string }[] => [
    { host: config.host, port: config.port },
    ...listening,
    ...(config.metricsHost !== null && config.metricsPort !== null ? [{ host: config.metricsHost, port: config.metricsPort }] : []),
    ...(dataPlane.hostEndpoints?.() ?? []).map((e) => ({ host: e.host, port: e.port, what: `${e.what} of the data plane` })),
  ];
  const localAddresses = (): string[] =>
    Object.values(networkInterfaces())
      .flat()
      .flatMap((a) => (a ? [a.address] : []));
  const eventSubs = new EventSubscriptionService({
    store,
    secrets,
    clock,
    perProject: config.eventSubscriptionsPerProject,
    selfAddresses,
    localAddresses,
    privateAllowed: config.eventEndpointsPrivate,
  });
  const eventDelivery = new EventDelivery({
    store,
    secrets,
    clock,
    log: log.scope({ component: 'event-delivery' }),
    owner,
    config: {
      intervalMs: config.eventDeliveryIntervalMs,
      timeoutMs: config.eventDeliveryTimeoutMs,
      retryBaseMs: config.eventRetryBaseMs,
      retryMaxMs: config.eventRetryMaxMs,
      leaseMs: config.leaseMs,
    },
    selfAddresses,
    localAddresses,
    privateAllowed: config.eventEndpointsPrivate,
  });
  const alarms = new AlarmEvaluator({
    store,
    log: log.scope({ component: 'alarms' }),
    thresholds: config,
    intervalMs: config.metricsCollectIntervalMs,
  });
  const collector = new MetricsCollector({
    store,
    dataPlane,
    clock,
    log: log.scope({ component: 'metrics-collector' }),
    owner,
    config: {
      intervalMs: config.metricsCollectIntervalMs,
      rawRetentionHours: config.metricsRawRetentionHours,
      rollupRetentionDays: config.metricsRollupRetentionDays,
    },
    alarms,
  });
  onQuery = (ms) => metrics.observeQuery(ms);
  const separateMetrics = config.metricsHost !== null && config.metricsPort !== null;
  const disasterRecovery = new DisasterRecoveryService({
    store,
    queue,
    dataPlane,
    clock,
    log: log.scope({ component: 'disaster-recovery' }),
    alarms,
  });
  const app = await buildApp({
    log,
    auth,
    clusters,
    tasks: taskService,
    faults: faultService,
    snapshots,
    policies,
    scale,
    restores,
    events: eventService,
    eventSubs,
    activity: new ActivityService({ store, dataPlane }, clusters),
    monitoring: new MonitoringService({ store, clock, config }, clusters),
    alarms: new AlarmService({ store, clock, thresholds: config }),
    auditLog: audit,
    hosts: new HostService({ store, clock, agents: new AgentFleet(config.dataDir) }),
    disasterRecovery,
    audit: (r) => audit.record(r),
    readiness,
    readPoint: () => new ReadPoint(store),
    consoleDir: defaultConsoleDir(),
    ...(separateMetrics ? {} : { metrics }),
    onResponse: (route, method, status, ms) => metrics.observeHttp(route, method, status, ms),
  });
  let metricsServer: Server | null = null;

  let stopped: Promise<void> | null = null;
  return {
    config,
    app,
    store,
    dataPlane,
    tasks,
    scheduler,
    events,
    log,
    owner,
    firstStartCredentials,
    snapshots,
    clusters,
    monitor,
    collector,
    async start() {
      await app.listen({ host: config.host, port: config.port });
      if (separateMetrics) metricsServer = await serveMetrics(metrics, config.metricsHost!, config.metricsPort!);
      const addr = app.server.address();
      const bound = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host: config.host, port: config.port };
      listening = [bound];
      if (metricsServer) {
        const m = metricsServer.address();
        if (typeof m === 'object' && m) listening.push({ host: m.address, port: m.port });
      }
      const r = await monitor.adopt();
      log.info('nodes adopted', r);
      // The host's shared services: the S3 repositories' TLS servers (archiving needs them, D32) and, on the
      // Patroni engine, the host agent (D23); the monitor starts a dead one again.
      const services = await dataPlane.superviseHost();
      if (services.length) log.info('host services running', { services });
      monitor.addPeriodic(() => dataPlane.superviseHost(), 5);
      await snapshots.sweepExpirable();
      monitor.addPeriodic(() => snapshots.sweepExpirable(), 30);
      monitor.addPeriodic(() => audit.prune(), 30);
      // The read-only protection of the data disks, about every 10 s (each member's databases and WAL, sized in SQL);
      // the O&M account's sessions past its expiry ended as often.
      const every10s = Math.max(1, Math.round(10_000 / config.monitorIntervalMs));
      monitor.addPeriodic(() => monitor.protectDisks(config.readOnlyDiskPercent), every10s);
      monitor.addPeriodic(() => monitor.endExpiredOmSessions(), every10s);
      // Disaster-recovery pairings (issue 19, D31): a pause applied again after a restart, the lag against dr_sync_period.
      monitor.addPeriodic(() => disasterRecovery.watch(), every10s);
      readiness.accepting = true;
      tasks.start();
      monitor.start();
      scheduler.start();
      eventDelivery.start();
      collector.start();
      log.info('dwsbox serving', { ...bound, dataDir: config.dataDir, store: store.adapter.name, owner });
      return bound;
    },
    stop() {
      stopped ??= (async () => {
        readiness.accepting = false;
        log.info('stopping');
        await scheduler.stop();
        await eventDelivery.stop();
        await collector.stop();
        await monitor.stop();
        await tasks.stop(config.shutdownTimeoutMs);
        await dataPlane.stopBackgroundWork?.();
        await app.close();
        if (metricsServer) await new Promise<void>((r) => metricsServer!.close(() => r()));
        if (config.stopClustersOnExit) await stopAllNodes(store, dataPlane, log);
        await closeStore();
        await serveLock?.release();
        log.info('stopped');
      })();
      return stopped;
    },
  };
}

/** /metrics on its own listener (metricsHost:metricsPort), so it can be kept off the API's address. */
function serveMetrics(metrics: Metrics, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.text().then(
      (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
      (e: unknown) => res.writeHead(500).end(String(e)),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** Refuse to serve a data directory whose clusters still run the pre-D32 way (docs/security.md#migrating). */
async function refuseUnmigrated(store: Store, dataPlane: LocalEngine): Promise<void> {
  const old: string[] = [];
  for (const c of await store.listClusters()) {
    if (
      needsMigration(
        dataPlane,
        c,
        (await store.listNodes(c.id)).filter((n) => n.membership === 'active'),
      )
    )
      old.push(c.id);
  }
  if (!old.length) return;
  throw new Error(
    `${old.length} cluster(s) of ${dataPlane.settings.dataDir} run as the shared postgres OS user, from before per-project OS users (${old.slice(0, 5).join(', ')}${old.length > 5 ? ', …' : ''}). ` +
      'Migrate them first: npx dwsbox tenants migrate --data-dir <dir> (each cluster restarts once; docs/security.md#migrating), then start the service.',
  );
}

/** Stop every node of every cluster (serve --stop-clusters-on-exit, clusters stop-all). */
/** The data plane of `config.engine` (the CLI's local commands build it too, without the store's uid record). */
export function createEngine(
  config: Config,
  bins: Binaries,
  log: Logger,
  uids?: ConstructorParameters<typeof LocalEngine>[3],
): LocalEngine | PatroniEngine {
  const settings = {
    dataDir: config.dataDir,
    repoPath: config.repoPath,
    unsafeNoFsync: config.unsafeNoFsync,
    initdbPool: config.initdbPool,
    initdbPoolDir: config.initdbPoolDir,
  };
  return config.engine === 'patroni'
    ? // Patroni makes every data directory itself: the initdb pool has nothing to offer it.
      new PatroniEngine({ ...settings, initdbPool: 0, agentDir: config.agentDir, syncMode: config.syncMode }, bins, log, uids)
    : new LocalEngine(settings, bins, log, uids);
}

export async function stopAllNodes(store: Store, dataPlane: DataPlane, log: Logger): Promise<number> {
  let n = 0;
  for (const c of await store.listClusters()) {
    const nodes = await store.listNodes(c.id);
    for (const node of [...nodes].sort((a, b) => b.ordinal - a.ordinal)) {
      if (!dataPlane.memberStatus(c, node)) continue;
      await dataPlane.stopMember(c, node, 'fast');
      n++;
      log.info('node stopped', { clusterId: c.id, node: node.ordinal });
    }
  }
  const servers = await dataPlane.stopHostServices();
  if (servers)
    log.info('host services stopped (S3 repository servers; the host agent and its etcd when nothing else runs on them)', {
      count: servers,
    });
  return n;
}
