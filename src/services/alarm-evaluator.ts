/**
 * Alarms raised and cleared by the measurements (issue 17): after each collection, the holder of
 * the collector's lease evaluates every rule of domain/alarms.ts for every member it read (its
 * samples of the rules' duration from the store), raises what is breached and not raised yet,
 * and clears what is raised and holds no more; a member of a running, idle cluster that could not
 * be read raises `member down`. Each raising and clearing is also an event (`alarm_raised`,
 * `alarm_cleared`, category `system alarm`), which event subscriptions deliver (D26).
 */
import { randomUUID } from 'node:crypto';
import {
  ALARM_RULES,
  MEMBER_DOWN_RULE,
  alarmEventSeverity,
  breached,
  findAlarmRule,
  type AlarmRecord,
  type AlarmRule,
  type AlarmThresholds,
} from '../domain/alarms.js';
import type { MetricSample } from '../domain/metrics.js';
import { findNodeType } from '../domain/node-types.js';
import type { ClusterRecord, NodeRecord } from '../domain/records.js';
import { coerceError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';

const GIB = 1024 ** 3;

/** What one collection saw of a cluster. */
export interface CollectedCluster {
  cluster: ClusterRecord;
  nodes: readonly NodeRecord[];
  /** the samples written now, by member */
  samples: ReadonlyMap<number, MetricSample>;
  /** members that could not be read (not running) */
  unread: readonly number[];
}

export class AlarmEvaluator {
  constructor(private readonly deps: { store: Store; log: Logger; thresholds: AlarmThresholds; intervalMs: number }) {}

  async evaluate(collected: readonly CollectedCluster[], now: number): Promise<{ raised: AlarmRecord[]; cleared: AlarmRecord[] }> {
    const { store } = this.deps;
    const active = await store.activeAlarms();
    const raised: AlarmRecord[] = [];
    const cleared: AlarmRecord[] = [];
    const seen = new Map(collected.map((x) => [x.cluster.id, x]));
    // alarms of clusters no longer collected (stopped or deleted) clear
    for (const a of active) if (!seen.has(a.clusterId) && (await this.clear(a, now, 'its cluster is stopped or deleted'))) cleared.push(a);
    for (const x of collected) {
      try {
        const r = await this.evaluateCluster(
          x,
          active.filter((a) => a.clusterId === x.cluster.id),
          now,
        );
        raised.push(...r.raised);
        cleared.push(...r.cleared);
      } catch (e) {
        this.deps.log.warn('alarm evaluation of a cluster failed', { clusterId: x.cluster.id, error: coerceError(e).message });
      }
    }
    return { raised, cleared };
  }

  private async evaluateCluster(x: CollectedCluster, active: readonly AlarmRecord[], now: number) {
    const { store, thresholds } = this.deps;
    const c = x.cluster;
    const type = findNodeType(c.nodeType);
    const ctx = { nodeTypeMemoryBytes: type?.memoryBytes ?? 0, nodeTypeDiskBytes: (type?.diskGb ?? 0) * GIB };
    const raised: AlarmRecord[] = [];
    const cleared: AlarmRecord[] = [];
    const nowS = Math.floor(now / 1000);
    // the samples of the rules' duration, once for the cluster (and an interval more, so the window reaches back)
    const back = thresholds.alarmForSeconds + Math.ceil((2 * this.deps.intervalMs) / 1000);
    // read only when a sustained rule is past its threshold now (most collections: none)
    const pastNow = [...x.samples.values()].some((s) =>
      ALARM_RULES.some((r) => {
        const v = r.sustained ? r.value(s, ctx) : null;
        return v !== null && v > r.threshold(thresholds);
      }),
    );
    const history = pastNow ? await store.listMetricSamples({ clusterId: c.id, resolution: 0, fromS: nowS - back, toS: nowS + 1 }) : [];
    const idle = x.unread.length > 0 && c.status === 'AVAILABLE' && !(await store.activeTask(`cluster:${c.id}`));
    const activeOf = (ordinal: number, rule: string) => active.find((a) => a.ordinal === ordinal && a.ruleId === rule);
    const members = new Set([...x.nodes.map((n) => n.ordinal), ...active.map((a) => a.ordinal)]);
    for (const ordinal of members) {
      const node = x.nodes.find((n) => n.ordinal === ordinal);
      const sample = x.samples.get(ordinal);
      // member down: a member of an idle running cluster that did not answer
      const down = activeOf(ordinal, MEMBER_DOWN_RULE);
      if (node && !sample && x.unread.includes(ordinal) && idle) {
        if (!down) {
          const a = await this.raise(c, ordinal, findAlarmRule(MEMBER_DOWN_RULE)!, 'the member did not answer the collection', now);
          if (a) raised.push(a);
        }
      } else if (down && (sample || !node) && (await this.clear(down, now, node ? 'the member answers again' : 'the member was removed')))
        cleared.push(down);
      if (!node) {
        // a member removed (scale-in): its alarms clear
        for (const a of active.filter((y) => y.ordinal === ordinal && y.ruleId !== MEMBER_DOWN_RULE))
          if (await this.clear(a, now, 'the member was removed')) cleared.push(a);
        continue;
      }
      if (!sample) continue; // not read now: its threshold alarms stay as they are
      const mine = history.filter((s) => s.ordinal === ordinal);
      for (const rule of ALARM_RULES) {
        if (rule.id === MEMBER_DOWN_RULE || rule.external) continue;
        const b = breached(rule, mine.length ? mine : [sample], thresholds, ctx);
        const current = activeOf(ordinal, rule.id);
        if (b.breached && !current) {
          const a = await this.raise(c, ordinal, rule, rule.message(b.value!, b.threshold), now);
          if (a) raised.push(a);
        } else if (current && !(b.value !== null && b.value > b.threshold)) {
          if (
            await this.clear(
              current,
              now,
              b.value === null ? 'the figure is not measured any more' : 'the figure is back under its threshold',
            )
          )
            cleared.push(current);
        }
      }
    }
    return { raised, cleared };
  }

  /**
   * An alarm of a rule another service watches (`external`, e.g. a pairing's lag), given the
   * cluster's uncleared alarms of that rule as the caller read them: raised on the member once
   * (null when one is raised already, here or by another process), or cleared (false when none was).
   */
  async raiseExternal(
    c: ClusterRecord,
    ordinal: number,
    ruleId: string,
    value: number,
    threshold: number,
    now: number,
    raised: readonly AlarmRecord[],
  ) {
    if (raised.length > 0) return null;
    const rule = findAlarmRule(ruleId)!;
    return this.raise(c, ordinal, rule, rule.message(value, threshold), now);
  }

  async clearExternal(raised: readonly AlarmRecord[], why: string, now: number): Promise<boolean> {
    let any = false;
    for (const a of raised) if (await this.clear(a, now, why)) any = true;
    return any;
  }

  private async raise(c: ClusterRecord, ordinal: number, rule: AlarmRule, what: string, now: number): Promise<AlarmRecord | null> {
    const a: AlarmRecord = {
      id: randomUUID(),
      projectId: c.projectId,
      clusterId: c.id,
      ordinal,
      ruleId: rule.id,
      level: rule.level,
      message: `${rule.name} on node${ordinal} of cluster ${c.name}: ${what}`,
      raisedAt: now,
      clearedAt: null,
    };
    if (!(await this.deps.store.raiseAlarm(a))) return null; // another process raised it meanwhile
    await this.deps.store.recordEvent({
      id: randomUUID(),
      projectId: a.projectId,
      clusterId: a.clusterId,
      kind: 'alarm_raised',
      severity: alarmEventSeverity(a.level),
      message: a.message,
      subject: `${a.ruleId}:${a.id}`,
      sourceKey: `alarm:${a.id}:raised`,
      occurredAt: now,
    });
    this.deps.log.info('alarm raised', { clusterId: a.clusterId, node: ordinal, rule: rule.id, level: a.level });
    return a;
  }

  private async clear(a: AlarmRecord, now: number, why: string): Promise<boolean> {
    if (!(await this.deps.store.clearAlarm(a.id, now))) return false;
    const rule = findAlarmRule(a.ruleId);
    await this.deps.store.recordEvent({
      id: randomUUID(),
      projectId: a.projectId,
      clusterId: a.clusterId,
      kind: 'alarm_cleared',
      severity: 'normal',
      message: `${rule?.name ?? a.ruleId} on node${a.ordinal} cleared: ${why}`,
      subject: `${a.ruleId}:${a.id}`,
      sourceKey: `alarm:${a.id}:cleared`,
      occurredAt: now,
    });
    this.deps.log.info('alarm cleared', { clusterId: a.clusterId, node: a.ordinal, rule: a.ruleId, why });
    return true;
  }
}
