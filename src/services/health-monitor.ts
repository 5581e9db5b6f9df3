/**
 * The health monitor: notices dead nodes and failing archives. A stopped primary makes the
 * cluster UNAVAILABLE, a stopped standby makes it DEGRADED (design D3, issue 2); a cluster
 * with a running task is left to its task. At start-up, `adopt` takes over the nodes that
 * kept running while the service was down, and starts those that should run but do not
 * (after a reboot) (D1).
 */
import type { Clock } from '../domain/clock.js';
import type { ClusterRecord, NodeRecord } from '../domain/records.js';
import { coerceError } from '../errors/app-error.js';
import { runningLeader, type DataPlane, type MemberRole } from '../dataplane/data-plane.js';
import type { HeldLock } from '../dataplane/data-plane.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import { dcsEvent, failoverEvent, memberDownEvent, memberUpEvent, readOnlyEvent, recordEvent, repairEvent } from './events.js';
import { findNodeType } from '../domain/node-types.js';
import { diskPercent, nextReadOnly, withReadOnly } from '../domain/read-only.js';

const WATCHED = new Set(['AVAILABLE', 'UNAVAILABLE']);

/** A repair asked for less than this long ago is not asked for again (its task may have failed). */
const REPAIR_RETRY_MS = 5 * 60_000;

export class HealthMonitor {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private archiveFailing = new Set<string>();
  private periodic: { fn: () => Promise<unknown>; every: number }[] = [];
  /** standby replay lag by cluster, measured on each check (metrics) */
  private lag = new Map<string, { node: number; bytes: number }[]>();
  private ticks = 0;
  /** Starts a repair task for members left stopped (set by the service; none in tests of the monitor alone). */
  private repair: ((c: ClusterRecord, ordinals: number[]) => Promise<string>) | null = null;
  /** When a repair was last asked for, by cluster. */
  private repairAsked = new Map<string, number>();
  /** clusters whose leader was last seen on failsafe mode (its DCS lost), with what it said then */
  private dcsLost = new Map<string, { leader: number | null; lastSeen: number | null }>();

  constructor(
    private readonly store: Store,
    private readonly dataPlane: DataPlane,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly intervalMs: number,
  ) {}

  /** How a repair task is started (the cluster service's `repair`): returns the task's id. */
  onStuckMembers(fn: (c: ClusterRecord, ordinals: number[]) => Promise<string>): void {
    this.repair = fn;
  }

  /** Also run `fn` every `every` checks (e.g. the snapshot expiry sweep). */
  addPeriodic(fn: () => Promise<unknown>, every: number): void {
    this.periodic.push({ fn, every });
  }

  private async tick(): Promise<void> {
    this.ticks++;
    await this.checkAll();
    for (const p of this.periodic) if (this.ticks % p.every === 0) await p.fn();
  }

  start(): void {
    const tick = (): void => {
      this.running = this.tick()
        .catch((e: unknown) => this.log.warn('health check failed', { error: coerceError(e).message }))
        .finally(() => {
          this.running = null;
          if (this.timer) this.timer = setTimeout(tick, this.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Start-up: adopt running nodes, start the ones that should run (D1). */
  async adopt(): Promise<{ adopted: number; started: number; failed: number }> {
    let adopted = 0;
    let started = 0;
    let failed = 0;
    for (const c of await this.store.listClusters()) {
      if (!WATCHED.has(c.status) || c.stopped) continue;
      if (await this.store.activeTask(`cluster:${c.id}`)) continue; // its task resumes and owns the nodes
      // Under the cluster's lock, so a task another service process just started on this
      // cluster never races it; a cluster whose lock is taken is left to that task.
      let lock: HeldLock;
      try {
        lock = await this.dataPlane.lockForStep(this.dataPlane.lockFile(c.id), { timeoutMs: 2000, label: 'adopt nodes' });
      } catch {
        continue;
      }
      try {
        if (await this.store.activeTask(`cluster:${c.id}`)) continue;
        const r = await this.adoptCluster(c);
        adopted += r.adopted;
        started += r.started;
        failed += r.failed;
      } finally {
        await lock.release();
      }
    }
    await this.checkAll();
    return { adopted, started, failed };
  }

  private async adoptCluster(c: ClusterRecord): Promise<{ adopted: number; started: number; failed: number }> {
    let adopted = 0;
    let started = 0;
    let failed = 0;
    for (const n of (await this.store.listNodes(c.id)).filter((x) => x.membership === 'active')) {
      const st = this.dataPlane.memberStatus(c, n);
      if (st) {
        if (st.pid !== n.pid || st.startTime !== n.pidStart) {
          await this.store.updateNode(n.id, { pid: st.pid, pidStart: st.startTime, health: 'up', updatedAt: this.clock.now() });
          this.log.info('adopted running node', { clusterId: c.id, node: n.ordinal, pid: st.pid });
        }
        adopted++;
        continue;
      }
      try {
        const info = await this.dataPlane.startMember(c, n, { timeoutMs: 120_000 });
        await this.store.updateNode(n.id, { pid: info.pid, pidStart: info.startTime, health: 'up', updatedAt: this.clock.now() });
        this.log.info('started a node that should run', { clusterId: c.id, node: n.ordinal, pid: info.pid });
        started++;
      } catch (e) {
        failed++;
        this.log.error('could not start a node at start-up', { clusterId: c.id, node: n.ordinal, error: coerceError(e).message });
      }
    }
    return { adopted, started, failed };
  }

  async checkAll(): Promise<void> {
    const live = await this.store.listClusters();
    for (const id of this.lag.keys()) if (!live.some((c) => c.id === id)) this.lag.delete(id);
    for (const c of live) {
      try {
        await this.checkCluster(c);
      } catch (e) {
        this.log.warn('health check of a cluster failed', { clusterId: c.id, error: coerceError(e).message });
      }
    }
    // Address blocks claimed host-wide for clusters the store never recorded (a service that died mid-create, D24).
    await this.dataPlane.sweepSubnetClaims?.(new Set(live.map((c) => c.id))).catch((e: unknown) => {
      this.log.warn('sweep of address block claims failed', { error: coerceError(e).message });
    });
  }

  /**
   * The read-only protection (domain/read-only.ts), run every few checks: each live, available
   * cluster's largest member data directory against its node type's disk. Past `threshold`
   * percent the cluster is made read-only; it is writable again on its own once well below,
   * and armed again after a user lifted it once below. The change is recorded first (one
   * process makes it), then every running member is made to hold what the record says, on each
   * run, so a new primary after a failover, a member restarted or a run that failed midway
   * converge. A cluster a task owns is left to it.
   */
  /**
   * The O&M account's sessions ended once its VALID UNTIL has passed, on every running member of
   * every cluster, whatever its state (a standby still serving while its primary is down too):
   * PostgreSQL itself only refuses new logins then. Ending them cannot harm a task.
   */
  async endExpiredOmSessions(): Promise<void> {
    for (const c of await this.store.listClusters()) {
      if (c.stopped) continue;
      for (const n of await this.store.listNodes(c.id)) {
        if (n.membership !== 'active' || !this.dataPlane.memberStatus(c, n)) continue;
        try {
          const ended = await this.dataPlane.endExpiredOmSessions(c, n);
          if (ended) this.log.info("O&M sessions ended at the account's expiry", { clusterId: c.id, node: n.ordinal, ended });
        } catch (e) {
          this.log.warn('ending expired O&M sessions failed', { clusterId: c.id, node: n.ordinal, error: coerceError(e).message });
        }
      }
    }
  }

  async protectDisks(threshold: number): Promise<void> {
    for (const c of await this.store.listClusters()) {
      try {
        await this.protectDisk(c, threshold);
      } catch (e) {
        this.log.warn('read-only protection check of a cluster failed', { clusterId: c.id, error: coerceError(e).message });
      }
    }
  }

  private async protectDisk(c: ClusterRecord, threshold: number): Promise<void> {
    const type = findNodeType(c.nodeType);
    if (c.stopped || c.status !== 'AVAILABLE' || !type || (await this.store.activeTask(`cluster:${c.id}`))) return;
    const running = (await this.store.listNodes(c.id)).filter((n) => n.membership === 'active' && this.dataPlane.memberStatus(c, n));
    if (!running.some((n) => n.role === 'primary')) return;
    const sizes = await Promise.all(running.map((n) => this.dataPlane.memberDiskBytes(c, n)));
    const percent = diskPercent(Math.max(...sizes), type.diskGb);
    let state = c.readOnly;
    const next = nextReadOnly(state, percent, threshold);
    if (next) {
      const now = this.clock.now();
      const changed = await this.store.transaction(async (tx) => {
        const fresh = await tx.getClusterById(c.id);
        if (!fresh || fresh.deletedAt || fresh.readOnly !== c.readOnly || (await tx.activeTask(`cluster:${c.id}`))) return false;
        await tx.updateCluster(c.id, { readOnly: next.state, updatedAt: now });
        return true;
      });
      if (!changed) return;
      state = next.state;
      this.log[next.change === 'on' ? 'warn' : 'info']('read-only protection changed', {
        clusterId: c.id,
        change: next.change,
        percent: Number(percent.toFixed(2)),
        threshold,
      });
      await recordEvent(this.store, this.log, readOnlyEvent(c, next.change, percent, threshold, now));
    }
    // every running member as the record says, read again now (a CancelReadonlyCluster may have
    // lifted it meanwhile): the primary read-only while ON; none otherwise
    if (!next) state = (await this.store.getClusterById(c.id))?.readOnly ?? null;
    for (const n of running) await this.dataPlane.setReadOnly(c, n, state === 'ON' && n.role === 'primary');
  }

  /** Replication lag of every standby of every cluster, as last measured. */
  replicationLag(): { clusterId: string; node: number; bytes: number }[] {
    return [...this.lag].flatMap(([clusterId, xs]) => xs.map((x) => ({ clusterId, ...x })));
  }

  private async measureLag(c: ClusterRecord): Promise<void> {
    const primary = (await this.store.listNodes(c.id)).find((n) => n.role === 'primary' && n.membership === 'active');
    if (!primary || !this.dataPlane.memberStatus(c, primary)) {
      this.lag.delete(c.id);
      return;
    }
    try {
      this.lag.set(c.id, await this.dataPlane.replicationLag(c, primary));
    } catch {
      this.lag.delete(c.id);
    }
  }

  private async checkCluster(c: ClusterRecord): Promise<void> {
    await this.measureLag(c);
    // A cluster with a running task is its task's to change (nodes stop and start on purpose).
    if (await this.store.activeTask(`cluster:${c.id}`)) return;
    const nodes = (await this.store.listNodes(c.id)).filter((n) => n.membership === 'active');
    const now = this.clock.now();
    const unbalanced = c.stopped ? false : await this.followFailover(c, nodes, now);
    const up = new Map<string, boolean>();
    for (const n of nodes) {
      const alive = this.dataPlane.memberStatus(c, n) !== null;
      up.set(n.id, alive);
      const health: NodeRecord['health'] = alive ? 'up' : c.stopped ? 'stopped' : 'down';
      if (n.health !== health) {
        await this.store.updateNode(n.id, { health, updatedAt: now });
        if (!alive && !c.stopped) this.log.warn('node is down', { clusterId: c.id, node: n.ordinal, host: n.host });
        // Events (D26): `n` is the record as read before this change, the same in every process that saw it.
        if (health === 'down') await recordEvent(this.store, this.log, memberDownEvent(c, n, now));
        else if (health === 'up' && n.health === 'down') await recordEvent(this.store, this.log, memberUpEvent(c, n, now));
      }
    }
    if (!WATCHED.has(c.status)) return;
    const primary = nodes.find((n) => n.role === 'primary');
    let archiveFailing = false;
    if (primary && up.get(primary.id)) {
      try {
        const a = await this.dataPlane.archiverState(c, primary);
        archiveFailing = a.failing;
        if (a.failing && !this.archiveFailing.has(c.id))
          this.log.error('WAL archiving is failing; the primary keeps WAL until it works again and may fill its disk', {
            clusterId: c.id,
            lastFailed: a.lastFailed,
          });
      } catch {
        /* a primary that does not answer is caught by the next check */
      }
    }
    if (archiveFailing) this.archiveFailing.add(c.id);
    else this.archiveFailing.delete(c.id);
    const primaryUp = primary ? up.get(primary.id) === true : false;
    const standbyDown = nodes.some((n) => n.role === 'standby' && !up.get(n.id));
    const status = c.stopped || !primaryUp ? 'UNAVAILABLE' : 'AVAILABLE';
    // DWS joins the sub-states with ' | ' (dws-api.md): a failover that also left a standby down is both.
    const degraded = !c.stopped && (standbyDown || archiveFailing);
    const subStatus = withReadOnly(
      degraded && unbalanced ? 'DEGRADED | UNBALANCED' : degraded ? 'DEGRADED' : unbalanced ? 'UNBALANCED' : 'NORMAL',
      c.readOnly,
    );
    const note = archiveFailing
      ? 'WAL archiving is failing'
      : standbyDown
        ? 'a standby node is down'
        : !primaryUp && !c.stopped
          ? 'the primary node is down'
          : unbalanced
            ? 'the primary is not the preferred node (after a failover); a switchover puts it back'
            : null;
    if (status === c.status && subStatus === c.subStatus && note === c.healthNote) return;
    // Only when no task owns the cluster; checked again inside the transaction.
    await this.store.transaction(async (tx) => {
      if (await tx.activeTask(`cluster:${c.id}`)) return;
      const fresh = await tx.getClusterById(c.id);
      // A cluster changed since this check read it (a task that started and finished in
      // between, a stop or start) is left for the next check: its nodes were judged against
      // the old record.
      if (!fresh || fresh.updatedAt !== c.updatedAt || !WATCHED.has(fresh.status) || fresh.deletedAt) return;
      await tx.updateCluster(c.id, { status, subStatus, healthNote: note, updatedAt: now });
    });
    if (status !== c.status || subStatus !== c.subStatus)
      this.log.info('cluster health changed', { clusterId: c.id, status, subStatus, note });
  }

  /**
   * On a highly available engine (D23): the store's roles follow the failover manager's (the
   * member that leads is the primary), and what it leaves broken is mended. Returns whether
   * the cluster is unbalanced: its primary is not its preferred member (the lowest ordinal).
   * `nodes` are updated in place.
   */
  private async followFailover(c: ClusterRecord, nodes: NodeRecord[], now: number): Promise<boolean> {
    if (!this.dataPlane.memberRoles) return false;
    const roles = await this.dataPlane.memberRoles(c).catch(() => null);
    const leader = runningLeader(roles, nodes);
    await this.followDcs(c, leader);
    if (!leader) return false;
    for (const n of nodes) {
      const role = n.ordinal === leader.ordinal ? 'primary' : 'standby';
      if (n.role === role) continue;
      const changed = await this.store.transaction(async (tx) => {
        if (await tx.activeTask(`cluster:${c.id}`)) return false;
        await tx.updateNode(n.id, { role, updatedAt: now });
        return true;
      });
      if (!changed) continue;
      n.role = role;
      if (role === 'primary') {
        this.log.warn('a new primary leads the cluster (failover or switchover)', { clusterId: c.id, node: n.ordinal, host: n.host });
        await recordEvent(this.store, this.log, failoverEvent(c, n, leader.timeline, now));
      }
    }
    let stuck: number[] = [];
    try {
      const r = await this.dataPlane.mendCluster?.(c);
      for (const what of r?.mended ?? []) {
        this.log.warn('mended the cluster', { clusterId: c.id, what });
        await recordEvent(this.store, this.log, repairEvent(c, what, this.clock.now()));
      }
      // Only members whose postmaster is not running (never rebuild one that runs).
      stuck = (r?.stuck ?? []).filter((i) => {
        const n = nodes.find((x) => x.ordinal === i);
        return n !== undefined && this.dataPlane.memberStatus(c, n) === null;
      });
    } catch (e) {
      this.log.warn('mending the cluster failed', { clusterId: c.id, error: coerceError(e).message });
    }
    if (stuck.length && c.status === 'AVAILABLE') await this.repairStuck(c, stuck);
    return leader.ordinal !== Math.min(...nodes.map((n) => n.ordinal));
  }

  /**
   * A DCS outage (issue 18): the leader says whether it runs on Patroni's failsafe mode (its
   * role, read with the others); when no leader is known, each member is asked for the leading
   * one's view. Lost: a `dcs_lost` event, once; failsafe off again: `dcs_back`. Both are keyed by
   * the leader's own last contact with the DCS before the loss, which every process reads alike
   * (a process started during the outage records the same `dcs_lost`, kept once, and then its
   * `dcs_back`); an outage that began and ended while no monitor ran is not seen.
   */
  private async followDcs(c: ClusterRecord, leader: MemberRole | null): Promise<void> {
    const f =
      leader?.failsafe !== undefined
        ? { active: leader.failsafe, leader: leader.ordinal, lastSeen: leader.dcsLastSeen ?? null }
        : await this.dataPlane.dcsFailsafe?.(c).catch(() => null);
    if (!f || f.lastSeen === null) return;
    const lost = this.dcsLost.get(c.id);
    if (f.active && !lost) {
      this.dcsLost.set(c.id, { leader: f.leader, lastSeen: f.lastSeen });
      this.log.warn("the cluster's members lost etcd: its primary runs on failsafe mode", { clusterId: c.id, leader: f.leader });
      await recordEvent(this.store, this.log, dcsEvent(c, true, f, this.clock.now()));
    } else if (!f.active && lost) {
      this.dcsLost.delete(c.id);
      this.log.info("the cluster's members reach etcd again", { clusterId: c.id });
      await recordEvent(this.store, this.log, dcsEvent(c, false, lost, this.clock.now()));
    }
  }

  /**
   * Members the failover manager left stopped go to a repair task (cluster.repair, REPAIRING),
   * which rebuilds them from the leader with visible progress. A cluster whose last repair
   * request is under REPAIR_RETRY_MS old is left alone (a failed repair is not retried in a loop).
   */
  private async repairStuck(c: ClusterRecord, stuck: number[]): Promise<void> {
    if (!this.repair) return;
    const last = this.repairAsked.get(c.id);
    if (last !== undefined && this.clock.now() - last < REPAIR_RETRY_MS) return;
    this.repairAsked.set(c.id, this.clock.now());
    try {
      const taskId = await this.repair(c, stuck);
      this.log.warn('members left stopped by the failover manager: a repair task rebuilds them', {
        clusterId: c.id,
        members: stuck,
        taskId,
      });
    } catch (e) {
      this.log.warn('could not start a repair task', { clusterId: c.id, members: stuck, error: coerceError(e).message });
    }
  }
}
