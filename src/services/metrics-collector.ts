/**
 * The metrics collector (issue 17, D29): every interval, one reading of each running member of
 * every cluster (`DataPlane.memberReading`), turned into one wide sample row per member with the
 * previous reading (rates), written in one statement; then, in small chunks, the 5-minute
 * averages made and the rows past their retention removed. One process of the store collects:
 * it holds the `metrics-collector` lease, renewed each interval, so several `serve` processes
 * on one PostgreSQL store do not multiply samples; another takes over when it stops renewing.
 */
import type { Clock } from '../domain/clock.js';
import { ROLLUP_SECONDS, sampleOf, type MemberReading, type MetricSample } from '../domain/metrics.js';
import type { ClusterRecord } from '../domain/records.js';
import type { DataPlane } from '../dataplane/data-plane.js';
import { coerceError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { AlarmEvaluator, CollectedCluster } from './alarm-evaluator.js';

export const COLLECTOR_LEASE = 'metrics-collector';

export interface CollectorConfig {
  intervalMs: number;
  rawRetentionHours: number;
  rollupRetentionDays: number;
}

/** Rollup windows averaged and retention chunks removed per collection: small steps, off the request path (D29). */
const ROLLUP_WINDOWS_PER_TICK = 12;
const RAW_PRUNE_CHUNK_S = 3600;
const ROLLUP_PRUNE_CHUNK_S = 86_400;

export class MetricsCollector {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  /** the previous reading of each member, by `<cluster>/<ordinal>` (rates need two) */
  private previous = new Map<string, MemberReading>();
  private holding = false;

  constructor(
    private readonly deps: {
      store: Store;
      dataPlane: Pick<DataPlane, 'memberReading'>;
      clock: Clock;
      log: Logger;
      owner: string;
      config: CollectorConfig;
      /** evaluates the alarm rules after each collection (none: no alarms) */
      alarms?: AlarmEvaluator;
    },
  ) {}

  start(): void {
    const tick = (): void => {
      this.running = this.collect()
        .catch((e: unknown) => this.deps.log.warn('metrics collection failed', { error: coerceError(e).message }))
        .finally(() => {
          this.running = null;
          if (this.timer) this.timer = setTimeout(tick, this.deps.config.intervalMs);
        });
    };
    this.timer = setTimeout(tick, Math.min(this.deps.config.intervalMs, 1000));
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    if (this.holding) await this.deps.store.releaseServiceLease(COLLECTOR_LEASE, this.deps.owner).catch(() => undefined);
    this.holding = false;
  }

  /** One collection, when this process holds the lease (else nothing): the samples written. */
  async collect(): Promise<MetricSample[]> {
    const { store, clock, owner, config } = this.deps;
    const now = clock.now();
    const lease = Math.max(3 * config.intervalMs, 10_000);
    this.holding = await store.takeServiceLease(COLLECTOR_LEASE, owner, now, now + lease);
    if (!this.holding) {
      this.previous.clear(); // another process collects; our readings would be stale when we take over
      return [];
    }
    const samples: MetricSample[] = [];
    const collected: CollectedCluster[] = [];
    const seen = new Set<string>();
    for (const c of await store.listClusters()) {
      if (c.stopped) continue;
      const x = await this.collectCluster(c, now, seen);
      samples.push(...x.samples.values());
      collected.push(x);
    }
    for (const k of this.previous.keys()) if (!seen.has(k)) this.previous.delete(k);
    await store.insertMetricSamples(samples);
    if (this.deps.alarms) await this.deps.alarms.evaluate(collected, now);
    await this.keep(Math.floor(now / 1000));
    return samples;
  }

  private async collectCluster(c: ClusterRecord, now: number, seen: Set<string>): Promise<CollectedCluster> {
    const nodes = (await this.deps.store.listNodes(c.id)).filter((n) => n.membership === 'active');
    const readings = await Promise.all(
      nodes.map(async (n) => {
        try {
          return await this.deps.dataPlane.memberReading(c, n, now);
        } catch (e) {
          this.deps.log.debug('a member could not be read for metrics', {
            clusterId: c.id,
            node: n.ordinal,
            error: coerceError(e).message,
          });
          return null;
        }
      }),
    );
    // the lag of a standby is against its primary's WAL position read in the same collection
    const primaryWal = readings.find((r) => r?.primary)?.walPosition ?? null;
    const samples = new Map<number, MetricSample>();
    const unread: number[] = [];
    nodes.forEach((n, i) => {
      const r = readings[i];
      if (!r) {
        unread.push(n.ordinal);
        return;
      }
      const key = `${c.id}/${n.ordinal}`;
      seen.add(key);
      const prev = this.previous.get(key) ?? null;
      // one sample per member and second (the store keeps the first): a collection within the same second is not kept
      if (prev && Math.floor(prev.atMs / 1000) === Math.floor(now / 1000)) return;
      const who = { clusterId: c.id, projectId: c.projectId, ordinal: n.ordinal, atSeconds: Math.floor(now / 1000) };
      samples.set(n.ordinal, sampleOf(who, r, prev, primaryWal));
      this.previous.set(key, r);
    });
    return { cluster: c, nodes, samples, unread };
  }

  /** Retention and downsampling, a little each collection: the next 5-minute windows averaged, the oldest expired rows removed. */
  private async keep(nowS: number): Promise<void> {
    const { store, config } = this.deps;
    // a window is averaged once a whole collection interval has passed after its end (late samples)
    await store.rollUpMetrics(nowS - Math.ceil(config.intervalMs / 1000), ROLLUP_WINDOWS_PER_TICK);
    await store.pruneMetricSamples(0, nowS - config.rawRetentionHours * 3600, RAW_PRUNE_CHUNK_S);
    await store.pruneMetricSamples(ROLLUP_SECONDS, nowS - config.rollupRetentionDays * 86_400, ROLLUP_PRUNE_CHUNK_S);
  }
}
