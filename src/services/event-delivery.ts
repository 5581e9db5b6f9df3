/**
 * Event delivery (D26, issue 17; docs/api.md#delivery): each event a subscription covers is
 * POSTed as JSON to its endpoint, signed, at least once, in the order the events were recorded
 * (so in order per cluster), one at a time per subscription.
 *
 * Nothing waits in memory: a subscription's cursor (`cursor_seq`, over the events' commit
 * order) says what is delivered, so a receiver that is down only holds its own cursor back
 * (the API and other subscriptions go on), and a restarted service starts where the cursor is.
 * A failed attempt (an error, a timeout, an answer that is not 2xx — a redirect included: it is
 * never followed) is tried again after an exponential back-off (eventRetryBaseMs doubling up to
 * eventRetryMaxMs), the cursor staying where it is; an event is passed only once its endpoint
 * answered 2xx.
 *
 * Several service processes on one PostgreSQL store: a subscription is delivered by the one
 * holding its lease (`lease_owner`, `lease_until`, taken by a conditional update); each write
 * of the delivery state is fenced by it, and a lease that lapses (its process died) is taken
 * over, the event in flight then delivered again (at least once: receivers deduplicate by the
 * event id).
 *
 * The endpoint's host is checked when the connection is made: an IP literal by
 * refusedAddress, a name through the lookup the connection uses, so a name that resolves into
 * the data plane's addresses or this service's listener (a DNS rebind) fails the attempt.
 */
import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent, fetch } from 'undici';
import type { Secrets } from '../auth/secrets.js';
import type { Clock } from '../domain/clock.js';
import { literalHost, refusedAddress, urlPort, type ListenAddress } from '../domain/notify-endpoint.js';
import { coerceError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { EventSubscriptionRecord, SequencedEvent, Store } from '../store/store.js';
import { wireEvent } from './events.js';

export interface EventDeliveryConfig {
  intervalMs: number;
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  leaseMs: number;
}

export interface EventDeliveryDeps {
  store: Store;
  secrets: Secrets;
  clock: Clock;
  log: Logger;
  /** this process's owner id (main.ts) */
  owner: string;
  config: EventDeliveryConfig;
  selfAddresses: () => ListenAddress[];
  /** loopback, private and shared addresses allowed as endpoints (setting eventEndpointsPrivate) */
  privateAllowed?: boolean;
  localAddresses?: () => string[];
}

/** Events one subscription's turn delivers at most before others get theirs. */
const TURN_EVENTS = 100;
/** Subscriptions looked at per pass. */
const PASS_SUBS = 200;

/** The signature of a delivery: HMAC-SHA256 under the subscription's secret of `<timestamp>.<body>`, hex. */
export function deliverySignature(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** The wait after the `attempts`-th failure in a row: base · 2^(attempts−1), at most max. */
export function retryDelay(attempts: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(40, Math.max(0, attempts - 1)));
}

type Outcome = { ok: true } | { ok: false; error: string };

export class EventDelivery {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopping = false;
  /** the turns under way, by subscription: one at a time each */
  private readonly turns = new Map<string, Promise<void>>();

  constructor(private readonly deps: EventDeliveryDeps) {}

  private get leaseLen(): number {
    return this.deps.config.leaseMs + 2 * this.deps.config.timeoutMs;
  }

  start(): void {
    this.stopping = false;
    const tick = (): void => {
      this.running = this.pass()
        .catch((e: unknown) => this.deps.log.warn('event delivery pass failed', { error: coerceError(e).message }))
        .finally(() => {
          this.running = null;
          if (this.timer) this.timer = setTimeout(tick, this.deps.config.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** No new turn starts; the ones under way end (each within the delivery timeout); the leases are given up. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await Promise.allSettled([...this.turns.values()]);
    await this.deps.store.releaseEventSubLeases(this.deps.owner).catch(() => {});
  }

  /** One pass: a turn for each due subscription that has none under way (not awaited: a slow endpoint holds only its own). */
  async pass(): Promise<void> {
    const ids = await this.deps.store.dueEventSubs(this.deps.owner, this.deps.clock.now(), PASS_SUBS);
    for (const id of ids) {
      if (this.stopping || this.turns.has(id)) continue;
      const turn = this.turn(id)
        .catch((e: unknown) => this.deps.log.warn('event delivery failed', { subscriptionId: id, error: coerceError(e).message }))
        .finally(() => this.turns.delete(id));
      this.turns.set(id, turn);
    }
  }

  /** Deliver a subscription's waiting events in order, until none is left, one fails, or the turn's share is done. */
  async turn(id: string): Promise<void> {
    const { store, clock, owner, config } = this.deps;
    const upTo = await store.lastEventSeq();
    for (let i = 0; i < TURN_EVENTS && !this.stopping; i++) {
      const now = clock.now();
      const sub = await store.claimEventSub(id, owner, now, now + this.leaseLen);
      if (!sub || sub.nextAttemptAt > now) return;
      const next = await store.nextSubEvent(sub, upTo);
      if (!next) {
        // Nothing it covers up to `upTo`: the cursor passes the rest.
        if (sub.cursorSeq < upTo) await store.writeEventSubDelivery(id, owner, { cursorSeq: upTo });
        return;
      }
      const r = await this.deliver(sub, next);
      const t = clock.now();
      if (r.ok) {
        const kept = await store.writeEventSubDelivery(id, owner, {
          cursorSeq: next.seq,
          deliveredEventId: next.event.id,
          deliveredAt: t,
          failedAttempts: 0,
          nextAttemptAt: t,
        });
        if (!kept) return;
      } else {
        const attempts = sub.failedAttempts + 1;
        const wait = retryDelay(attempts, config.retryBaseMs, config.retryMaxMs);
        await store.writeEventSubDelivery(id, owner, {
          failedAttempts: attempts,
          nextAttemptAt: t + wait,
          lastError: r.error,
          lastErrorAt: t,
        });
        this.deps.log.info('event delivery failed; retried later', {
          subscriptionId: id,
          eventId: next.event.id,
          attempts,
          retryInMs: wait,
          error: r.error,
        });
        return;
      }
    }
  }

  /** One attempt: the signed POST, its answer. */
  private async deliver(sub: EventSubscriptionRecord, next: SequencedEvent): Promise<Outcome> {
    const { store, secrets, clock, config } = this.deps;
    let url: URL;
    try {
      url = new URL(sub.endpoint);
    } catch {
      return { ok: false, error: 'the endpoint is not a URL' };
    }
    const lit = literalHost(url.hostname);
    if (lit) {
      const why = refusedAddress(lit, urlPort(url), this.deps.selfAddresses(), this.deps.localAddresses?.() ?? [], {
        privateAllowed: this.deps.privateAllowed === true,
      });
      if (why) return { ok: false, error: `refused: ${why}` };
    }
    const cluster = await store.getClusterById(next.event.clusterId);
    const body = JSON.stringify({
      subscription_id: sub.id,
      subscription_name: sub.name,
      sequence: next.seq,
      attempt: sub.failedAttempts + 1,
      event: wireEvent(next.event, cluster && cluster.projectId === sub.projectId ? cluster.name : ''),
    });
    const timestamp = String(clock.now());
    const signature = deliverySignature(secrets.decrypt(sub.secret), timestamp, body);
    // A connection of its own, whose lookup checks what the name resolves to (pinned: the address checked is the one connected to).
    const port = urlPort(url);
    const agent = new Agent({ connect: { lookup: (host, opts, cb) => this.guardedLookup(host, port, opts, cb) }, pipelining: 0 });
    try {
      const res = await fetch(url, {
        method: 'POST',
        body,
        redirect: 'manual',
        dispatcher: agent,
        signal: AbortSignal.timeout(config.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'dwsbox-events/1',
          'x-dwsbox-event-id': next.event.id,
          'x-dwsbox-subscription-id': sub.id,
          'x-dwsbox-timestamp': timestamp,
          'x-dwsbox-signature': `sha256=${signature}`,
        },
      });
      // The answer's body is read and dropped: a tenant sees the status alone (never a read of what answered).
      await res.text().catch(() => '');
      if (res.status >= 200 && res.status < 300) return { ok: true };
      if (res.status >= 300 && res.status < 400)
        return { ok: false, error: `HTTP ${res.status}: a redirect (to ${res.headers.get('location') ?? 'nowhere'}) is not followed` };
      return { ok: false, error: `HTTP ${res.status}` };
    } catch (e) {
      const err = e as Error & { cause?: Error };
      if (err.name === 'TimeoutError' || err.name === 'AbortError') return { ok: false, error: `no answer within ${config.timeoutMs} ms` };
      return { ok: false, error: (err.cause?.message ?? err.message).slice(0, 300) };
    } finally {
      await agent.destroy().catch(() => {});
    }
  }

  /** The connection's lookup: every address a name resolves to must be allowed, or the connection fails. */
  private guardedLookup(
    host: string,
    port: number,
    opts: unknown,
    cb: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void {
    const o = (typeof opts === 'object' && opts ? opts : {}) as { all?: boolean; family?: number; port?: number };
    dnsLookup(host, { all: true, ...(o.family ? { family: o.family } : {}) }, (err, addrs) => {
      if (err) return cb(err, '');
      const self = this.deps.selfAddresses();
      const local = this.deps.localAddresses?.() ?? [];
      for (const a of addrs) {
        const why = refusedAddress(a.address, port, self, local, { privateAllowed: this.deps.privateAllowed === true });
        if (why) return cb(Object.assign(new Error(`refused: ${host} resolves to ${why}`), { code: 'EREFUSED' }), '');
      }
      if (o.all) return cb(null, addrs);
      const first = addrs[0]!;
      return cb(null, first.address, first.family);
    });
  }
}
