/**
 * Prometheus metrics (prom-client). Counters and histograms are fed by the API's response
 * hook, the task events and the store's query log; gauges are read when /metrics is scraped
 * (tasks, nodes, lag, snapshots, repository size), and so is the counter of cluster events
 * (D26), from the store's records. Names and labels follow Prometheus conventions and are
 * listed in docs/operations.md.
 *
 * Tenancy (issue 12): a series about one project's objects carries a `project_id` label;
 * `projectText(id)` serves only those of one project (what a project's credential sees).
 * Every other series (the process, HTTP, the store, task totals, the repository) is host-wide
 * and only `text()`, the operator's view, has it.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { TaskEvents } from '../tasks/events.js';
import { ACTION_OF_KIND } from '../domain/task.js';
import type { Store } from '../store/store.js';
import type { MetricField, MetricSample } from '../domain/metrics.js';

/**
 * The metrics history's figures of each member (D29, issue 17), from its newest sample: the
 * same numbers the monitoring APIs serve, so a Prometheus scraping /metrics needs no exporter
 * per cluster. A figure not measured in that sample has no series.
 */
const MEMBER_SERIES: readonly { field: MetricField; name: string; help: string }[] = [
  { field: 'cpuPercent', name: 'dwsbox_member_cpu_percent', help: "CPU of the member's PostgreSQL processes, percent of one core." },
  { field: 'memBytes', name: 'dwsbox_member_memory_bytes', help: "Proportional set size of the member's PostgreSQL processes." },
  { field: 'dataBytes', name: 'dwsbox_member_data_bytes', help: "The member's databases and WAL, as PostgreSQL sizes them." },
  { field: 'fsAvailBytes', name: 'dwsbox_member_filesystem_available_bytes', help: "Free space of the filesystem of the member's data." },
  {
    field: 'diskReadRate',
    name: 'dwsbox_member_disk_read_bytes_per_second',
    help: "Bytes the member's processes read from storage per second.",
  },
  {
    field: 'diskWriteRate',
    name: 'dwsbox_member_disk_write_bytes_per_second',
    help: "Bytes the member's processes wrote to storage per second.",
  },
  { field: 'connections', name: 'dwsbox_member_connections', help: 'Client sessions of the member.' },
  { field: 'maxConnections', name: 'dwsbox_member_max_connections', help: "The member's max_connections." },
  { field: 'tps', name: 'dwsbox_member_transactions_per_second', help: 'Transactions (commits and rollbacks) per second, every database.' },
  { field: 'tuplesReadRate', name: 'dwsbox_member_rows_read_per_second', help: 'Rows returned and fetched per second.' },
  { field: 'tuplesWrittenRate', name: 'dwsbox_member_rows_written_per_second', help: 'Rows inserted, updated and deleted per second.' },
  {
    field: 'lagBytes',
    name: 'dwsbox_member_replication_lag_bytes',
    help: "A standby's replayed WAL position behind its primary's current one.",
  },
  {
    field: 'lagSeconds',
    name: 'dwsbox_member_replication_lag_seconds',
    help: "Seconds since a standby's last replayed transaction while it has WAL to replay.",
  },
  { field: 'walRate', name: 'dwsbox_member_wal_bytes_per_second', help: 'WAL bytes the primary writes per second.' },
  { field: 'archiveRate', name: 'dwsbox_member_archived_segments_per_second', help: 'WAL segments archived per second.' },
  { field: 'archiveFailRate', name: 'dwsbox_member_archive_failures_per_second', help: 'Failed archive attempts per second.' },
  { field: 'checkpointRate', name: 'dwsbox_member_checkpoints_per_minute', help: 'Checkpoints per minute.' },
  {
    field: 'longestQuerySeconds',
    name: 'dwsbox_member_longest_query_seconds',
    help: 'How long the longest-running client statement has run.',
  },
];
/** How long one read of the newest samples serves the member series of a scrape. */
const MEMBER_SAMPLES_TTL_MS = 1000;

export interface MetricsSources {
  store: Store;
  /** bytes in the local backup repository (the data plane measures it) */
  repositoryBytes(): number;
  /** replication lag of each standby, from the health monitor */
  replicationLag(): { clusterId: string; node: number; bytes: number }[];
  /** a member's newest metrics sample older than this is not shown (three collection intervals) */
  sampleMaxAgeSeconds: number;
}

const REPO_SIZE_TTL_MS = 30_000;

export class Metrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  private readonly httpDuration: Histogram<'route' | 'method'>;
  /** Each (route, method, status)'s series, looked up once (prom-client hashes the labels on every call). */
  private readonly httpSeries = new Map<string, { count: Counter.Internal; duration: Histogram.Internal<'route' | 'method'> }>();
  private readonly tasksFinished: Counter<'action' | 'status'>;
  private readonly taskDuration: Histogram<'action' | 'status'>;
  private readonly stepDuration: Histogram<'action' | 'step' | 'status'>;
  private readonly storeQuery: Histogram;
  private readonly stepBytes: Gauge<'task_id' | 'action' | 'step' | 'project_id'>;
  private readonly stepRate: Gauge<'task_id' | 'action' | 'step' | 'project_id'>;
  /** names of the metrics whose series carry `project_id` (the only ones a project sees) */
  private readonly projectScoped = new Set<string>();
  private repoSize: { at: number; bytes: number } = { at: 0, bytes: 0 };

  constructor(private readonly src: MetricsSources) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    this.httpRequests = new Counter({
      name: 'dwsbox_http_requests_total',
      help: 'HTTP requests by route, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers: [r],
    });
    this.httpDuration = new Histogram({
      name: 'dwsbox_http_request_duration_seconds',
      help: 'HTTP request latency.',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [r],
    });
    this.tasksFinished = new Counter({
      name: 'dwsbox_tasks_finished_total',
      help: 'Tasks that ended, by action and final status.',
      labelNames: ['action', 'status'],
      registers: [r],
    });
    this.taskDuration = new Histogram({
      name: 'dwsbox_task_duration_seconds',
      help: 'Task duration from submission to its end, by action and final status.',
      labelNames: ['action', 'status'],
      buckets: [1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
      registers: [r],
    });
    this.stepDuration = new Histogram({
      name: 'dwsbox_task_step_duration_seconds',
      help: 'Step duration by action, step and result.',
      labelNames: ['action', 'step', 'status'],
      buckets: [0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [r],
    });
    this.storeQuery = new Histogram({
      name: 'dwsbox_store_query_duration_seconds',
      help: 'Metadata store query latency.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers: [r],
    });
    this.stepBytes = new Gauge({
      name: 'dwsbox_task_step_bytes',
      help: 'Bytes done by running backup, restore and copy steps.',
      labelNames: ['task_id', 'action', 'step', 'project_id'],
      registers: [r],
    });
    this.stepRate = new Gauge({
      name: 'dwsbox_task_step_rate_bytes_per_second',
      help: 'Measured rate of running backup, restore and copy steps.',
      labelNames: ['task_id', 'action', 'step', 'project_id'],
      registers: [r],
    });
    const store = src.store;
    new Gauge({
      name: 'dwsbox_tasks',
      help: 'Tasks waiting or running now.',
      labelNames: ['state'],
      registers: [r],
      async collect() {
        const active = await store.listActiveTasks();
        this.set({ state: 'waiting' }, active.filter((t) => t.status === 'WAITING').length);
        this.set({ state: 'running' }, active.filter((t) => t.status !== 'WAITING').length);
      },
    });
    new Gauge({
      name: 'dwsbox_node_up',
      help: "Whether a node's PostgreSQL server runs (1) or not (0).",
      labelNames: ['cluster_id', 'cluster_name', 'node', 'role', 'project_id'],
      registers: [r],
      async collect() {
        this.reset();
        for (const c of await store.listClusters()) {
          for (const n of await store.listNodes(c.id)) {
            if (n.membership !== 'active') continue;
            this.set(
              { cluster_id: c.id, cluster_name: c.name, node: String(n.ordinal), role: n.role, project_id: c.projectId },
              n.health === 'up' ? 1 : 0,
            );
          }
        }
      },
    });
    new Gauge({
      name: 'dwsbox_replication_lag_bytes',
      help: 'Bytes a standby has not replayed yet, as its primary sees it.',
      labelNames: ['cluster_id', 'node', 'project_id'],
      registers: [r],
      async collect() {
        this.reset();
        const lag = src.replicationLag();
        if (lag.length === 0) return;
        const projectOf = new Map((await store.listClusters()).map((c) => [c.id, c.projectId]));
        for (const l of lag) {
          const projectId = projectOf.get(l.clusterId);
          if (projectId !== undefined) this.set({ cluster_id: l.clusterId, node: String(l.node), project_id: projectId }, l.bytes);
        }
      },
    });
    new Gauge({
      name: 'dwsbox_snapshot_size_bytes',
      help: "Repository bytes of each visible snapshot's own backup set.",
      labelNames: ['snapshot_id', 'cluster_id', 'type', 'project_id'],
      registers: [r],
      async collect() {
        this.reset();
        for (const p of await store.listProjects()) {
          for (const s of await store.listSnapshots(p.id)) {
            if (s.sizeBytes !== null)
              this.set({ snapshot_id: s.id, cluster_id: s.clusterId, type: s.backupType ?? 'unknown', project_id: p.id }, s.sizeBytes);
          }
        }
      },
    });
    new Counter({
      name: 'dwsbox_events_total',
      help: 'Cluster events recorded (D26), by kind and severity: read from the store, so every service process reports the same.',
      labelNames: ['kind', 'severity', 'project_id'],
      registers: [r],
      async collect() {
        this.reset();
        for (const t of await store.eventTotals()) this.inc({ kind: t.kind, severity: t.severity, project_id: t.projectId }, t.count);
      },
    });
    // the members' newest samples, read once for all the member series of one scrape
    let latest: { at: number; rows: Promise<{ sample: MetricSample; clusterName: string }[]> } | null = null;
    const memberSamples = () => {
      if (!latest || Date.now() - latest.at > MEMBER_SAMPLES_TTL_MS)
        latest = {
          at: Date.now(),
          rows: (async () => {
            const since = Math.floor(Date.now() / 1000) - src.sampleMaxAgeSeconds;
            const out: { sample: MetricSample; clusterName: string }[] = [];
            for (const c of await store.listClusters())
              for (const sample of await store.latestMetricSamples(c.id, since)) out.push({ sample, clusterName: c.name });
            return out;
          })(),
        };
      return latest.rows;
    };
    for (const m of MEMBER_SERIES) {
      new Gauge({
        name: m.name,
        help: m.help,
        labelNames: ['cluster_id', 'cluster_name', 'member', 'role', 'project_id'],
        registers: [r],
        async collect() {
          this.reset();
          for (const { sample: x, clusterName } of await memberSamples()) {
            const v = x[m.field];
            if (v === null) continue;
            this.set(
              {
                cluster_id: x.clusterId,
                cluster_name: clusterName,
                member: `node${x.ordinal}`,
                role: x.primary ? 'primary' : 'standby',
                project_id: x.projectId,
              },
              v,
            );
          }
        },
      });
      this.projectScoped.add(m.name);
    }
    for (const name of [
      'dwsbox_events_total',
      'dwsbox_node_up',
      'dwsbox_replication_lag_bytes',
      'dwsbox_snapshot_size_bytes',
      'dwsbox_task_step_bytes',
      'dwsbox_task_step_rate_bytes_per_second',
    ])
      this.projectScoped.add(name);
    const self = this;
    new Gauge({
      name: 'dwsbox_repository_size_bytes',
      help: 'Bytes in the pgBackRest repository (measured at most every 30 s).',
      registers: [r],
      collect() {
        const now = Date.now();
        if (now - self.repoSize.at > REPO_SIZE_TTL_MS) self.repoSize = { at: now, bytes: src.repositoryBytes() };
        this.set(self.repoSize.bytes);
      },
    });
  }

  /** Subscribe to the task engine's events. */
  watch(events: TaskEvents): void {
    events.on('task:finished', ({ task }) => {
      const action = ACTION_OF_KIND[task.kind];
      this.tasksFinished.inc({ action, status: task.status });
      if (task.finishedAt) this.taskDuration.observe({ action, status: task.status }, (task.finishedAt - task.createdAt) / 1000);
    });
    events.on('step:finished', ({ task, stepId, status, durationMs }) => {
      const action = ACTION_OF_KIND[task.kind];
      this.stepDuration.observe({ action, step: stepId.replace(/_\d+$/, ''), status }, durationMs / 1000);
      this.stepBytes.remove({ task_id: task.id, action, step: stepId, project_id: task.projectId });
      this.stepRate.remove({ task_id: task.id, action, step: stepId, project_id: task.projectId });
    });
    events.on('step:progress', ({ task, stepId, figures }) => {
      const labels = { task_id: task.id, action: ACTION_OF_KIND[task.kind], step: stepId, project_id: task.projectId };
      if (figures.bytesDone !== null) this.stepBytes.set(labels, figures.bytesDone);
      if (figures.producerRate !== null) this.stepRate.set(labels, figures.producerRate);
    });
  }

  observeHttp(route: string, method: string, status: number, durationMs: number): void {
    const key = `${route} ${method} ${status}`;
    let series = this.httpSeries.get(key);
    if (!series) {
      series = {
        count: this.httpRequests.labels({ route, method, status: String(status) }),
        duration: this.httpDuration.labels({ route, method }),
      };
      this.httpSeries.set(key, series);
    }
    series.count.inc();
    series.duration.observe(durationMs / 1000);
  }

  observeQuery(durationMs: number): void {
    this.storeQuery.observe(durationMs / 1000);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every series: the operator's view (and the separate metrics listener's). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * The series of one project only: those of the project-scoped metrics whose `project_id`
   * is `projectId`, rendered by prom-client from a registry made for this answer. A metric
   * with none of the project's series is left out whole (no HELP or TYPE lines either).
   */
  async projectText(projectId: string): Promise<string> {
    const out = new Registry();
    for (const m of this.registry.getMetricsAsArray()) {
      if (!this.projectScoped.has(m.name)) continue;
      const data = await (m as unknown as Metric).get();
      const values = data.values.filter((v) => v.labels['project_id'] === projectId);
      if (values.length === 0) continue;
      out.registerMetric({
        name: data.name,
        help: data.help,
        type: data.type,
        aggregator: data.aggregator,
        get: async () => ({ ...data, values }),
      } as unknown as Metric);
    }
    return out.metrics();
  }
}
