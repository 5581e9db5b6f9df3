/**
 * Event subscriptions in the store (D26, issue 17) on both backends: events are numbered in
 * commit order (on PostgreSQL a recording waits for an earlier one's transaction to end, so no
 * cursor sees a later number first); a subscription's filters over the events after its cursor;
 * its delivery lease is one owner's at a time, fenced, released, and taken over once lapsed;
 * and two delivering "processes" (two EventDelivery owners, on PostgreSQL over two
 * connections) on one store deliver each event once, in order, never two at a time.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { STORE_BACKENDS, useStore } from '../helpers/store-backends.js';
import { freePort } from '../helpers/env.js';
import { T0 } from '../helpers/records.js';
import { Secrets } from '../../src/auth/secrets.js';
import { systemClock } from '../../src/domain/clock.js';
import { createLogger } from '../../src/log/logger.js';
import { EventDelivery } from '../../src/services/event-delivery.js';
import type { EventRecord, EventSubscriptionRecord, Store } from '../../src/store/store.js';
import { migrate } from '../../src/store/migrate.js';

const event = (o: Partial<EventRecord> = {}): EventRecord => ({
  id: randomUUID(),
  projectId: 'proj-a',
  clusterId: 'cluster-1',
  kind: 'member_down',
  severity: 'warning',
  message: 'Node 2 is down',
  subject: '2',
  sourceKey: `key-${randomUUID()}`,
  occurredAt: T0,
  ...o,
});

const secrets = Secrets.fromHex(randomBytes(32).toString('hex'));

async function sub(store: Store, o: Partial<EventSubscriptionRecord> = {}): Promise<EventSubscriptionRecord> {
  const rec: EventSubscriptionRecord = {
    id: randomUUID(),
    projectId: 'proj-a',
    name: `s-${randomUUID().slice(0, 8)}`,
    sourceTypes: [],
    sourceIds: [],
    categories: [],
    severities: [],
    kind: 'event',
    alarmIds: [],
    alarmLevels: [],
    language: '',
    tag: '',
    enabled: true,
    endpoint: 'http://127.0.0.1:9/',
    targetName: 'hook',
    targetType: 'HTTP',
    timeZone: '',
    secret: secrets.encrypt('s3cret'),
    createdAt: T0,
    updatedAt: T0,
    cursorSeq: await store.lastEventSeq(),
    deliveredEventId: null,
    deliveredAt: null,
    failedAttempts: 0,
    nextAttemptAt: 0,
    lastError: null,
    lastErrorAt: null,
    leaseOwner: null,
    leaseUntil: null,
    ...o,
  };
  await store.insertEventSub(rec);
  return rec;
}

/** The events a subscription covers after its cursor, in order (walking its cursor over a copy). */
async function covered(store: Store, s: EventSubscriptionRecord): Promise<string[]> {
  const upTo = await store.lastEventSeq();
  const out: string[] = [];
  let cur = s;
  for (;;) {
    const n = await store.nextSubEvent(cur, upTo);
    if (!n) return out;
    out.push(n.event.sourceKey);
    cur = { ...cur, cursorSeq: n.seq };
  }
}

for (const backend of STORE_BACKENDS)
  describe(`${backend}: event subscriptions`, () => {
    const h = useStore(backend);

    it('store version 12 numbers the events recorded before it in time order, and goes on after them', async () => {
      const { store } = await h.fresh('evseq');
      await migrate(store.adapter, { upTo: 11, now: 1 });
      // Recorded by a version-11 dwsbox: not in time order.
      for (const [key, at] of [
        ['old-b', T0 + 2],
        ['old-a', T0 + 1],
        ['old-c', T0 + 3],
      ] as const)
        expect(await store.recordEvent(event({ sourceKey: key, occurredAt: at }))).toBe(true);
      await migrate(store.adapter, { now: 2 });
      expect(await store.lastEventSeq()).toBe(3);
      await store.recordEvent(event({ sourceKey: 'new' }));
      expect(await covered(store, await sub(store, { cursorSeq: 0 }))).toEqual(['old-a', 'old-b', 'old-c', 'new']);
    });

    it('numbers events in recording order, from where the sequence stood', async () => {
      const s = h.store;
      const before = await s.lastEventSeq();
      for (let i = 0; i < 5; i++) expect(await s.recordEvent(event({ sourceKey: `n${i}` }))).toBe(true);
      // A second recording of a source key writes nothing (it may use a number up: a gap).
      expect(await s.recordEvent(event({ sourceKey: 'n0' }))).toBe(false);
      const all = await sub(s, { cursorSeq: before });
      expect(await covered(s, all)).toEqual(['n0', 'n1', 'n2', 'n3', 'n4']);
      expect(await s.lastEventSeq()).toBeGreaterThanOrEqual(before + 5);
    });

    if (backend === 'postgres')
      it('a recording waits for an earlier one whose transaction is still open, and gets the later number', async () => {
        const a = h.store;
        const b = h.open();
        const from = await a.lastEventSeq();
        // Set as the transaction's work ends, just before its COMMIT: b's recording must not finish before it.
        let aEnding = false;
        let bDoneFirst: boolean | null = null;
        let bRecording: Promise<unknown> = Promise.resolve();
        await a.transaction(async (tx) => {
          await tx.recordEvent(event({ sourceKey: 'first' }));
          bRecording = b.recordEvent(event({ sourceKey: 'second' })).then(() => (bDoneFirst = !aEnding));
          // Time for a recording that would not wait to finish before this transaction ends.
          await new Promise((r) => setTimeout(r, 300));
          aEnding = true;
        });
        await bRecording;
        expect(bDoneFirst).toBe(false);
        expect(await covered(a, await sub(a, { cursorSeq: from }))).toEqual(['first', 'second']);
      });

    it("filters: the project, its clusters, severities, categories, source types; the cursor's place", async () => {
      const s = h.store;
      const from = await s.lastEventSeq();
      await s.recordEvent(event({ sourceKey: 'down-c1', clusterId: 'c1', severity: 'warning' }));
      await s.recordEvent(event({ sourceKey: 'task-c2', clusterId: 'c2', kind: 'task_failed', severity: 'major' }));
      await s.recordEvent(event({ sourceKey: 'other-project', projectId: 'proj-b', severity: 'major' }));
      await s.recordEvent(event({ sourceKey: 'failover-c2', clusterId: 'c2', kind: 'failover', severity: 'major' }));
      const at = (o: Partial<EventSubscriptionRecord>) => sub(s, { cursorSeq: from, ...o });
      expect(await covered(s, await at({}))).toEqual(['down-c1', 'task-c2', 'failover-c2']);
      expect(await covered(s, await at({ sourceIds: ['c2'] }))).toEqual(['task-c2', 'failover-c2']);
      expect(await covered(s, await at({ severities: ['major'] }))).toEqual(['task-c2', 'failover-c2']);
      expect(await covered(s, await at({ categories: ['management'] }))).toEqual(['task-c2']);
      expect(await covered(s, await at({ categories: ['monitor'] }))).toEqual(['down-c1', 'failover-c2']);
      expect(await covered(s, await at({ categories: ['security', 'system alarm'] }))).toEqual([]);
      expect(await covered(s, await at({ sourceTypes: ['backup'] }))).toEqual([]);
      expect(await covered(s, await at({ sourceTypes: ['backup', 'cluster'], severities: ['warning', 'normal'] }))).toEqual(['down-c1']);
      const one = await at({ severities: ['major'] });
      expect(await s.countSubPending(one)).toBe(2);
      // A subscription made now covers nothing recorded before it.
      expect(await covered(s, await sub(s))).toEqual([]);
    });

    it('the delivery lease: one owner at a time, fenced writes, released, taken over once lapsed', async () => {
      const s = h.store;
      const x = await sub(s, { cursorSeq: 0 });
      await s.recordEvent(event());
      expect(await s.dueEventSubs('A', 1000, 10)).toContain(x.id);
      expect((await s.claimEventSub(x.id, 'A', 1000, 5000))?.leaseOwner).toBe('A');
      expect(await s.claimEventSub(x.id, 'B', 2000, 6000)).toBeUndefined();
      expect(await s.dueEventSubs('B', 2000, 10)).not.toContain(x.id);
      expect(await s.writeEventSubDelivery(x.id, 'B', { failedAttempts: 9 })).toBe(false);
      expect(await s.writeEventSubDelivery(x.id, 'A', { failedAttempts: 1, lastError: 'HTTP 500' })).toBe(true);
      // Lapsed: B takes it over; A's writes are refused from then on.
      expect((await s.claimEventSub(x.id, 'B', 5001, 9000))?.failedAttempts).toBe(1);
      expect(await s.writeEventSubDelivery(x.id, 'A', { cursorSeq: 99 })).toBe(false);
      await s.releaseEventSubLeases('B');
      expect((await s.claimEventSub(x.id, 'A', 5002, 9000))?.leaseOwner).toBe('A');
      // Disabled: neither due nor claimable.
      await s.updateEventSub('proj-a', x.id, { enabled: false });
      expect(await s.dueEventSubs('A', 6000, 10)).not.toContain(x.id);
      expect(await s.claimEventSub(x.id, 'A', 6000, 9000)).toBeUndefined();
    });

    it('two delivering processes on one store: each event once, in order, one at a time', async () => {
      const port = await freePort();
      const got: string[] = [];
      let inFlight = 0;
      let most = 0;
      const server: Server = createServer((req, res) => {
        inFlight++;
        most = Math.max(most, inFlight);
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event: { event_id: string } };
          // A moment before answering, so that a second delivery at once would overlap.
          setTimeout(() => {
            got.push(body.event.event_id);
            inFlight--;
            res.writeHead(200).end();
          }, 20);
        });
      });
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
      const other = backend === 'postgres' ? h.open() : h.store;
      const x = await sub(h.store, { endpoint: `http://127.0.0.1:${port}/` });
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        const e = event({ sourceKey: `d${i}` });
        ids.push(e.id);
        await h.store.recordEvent(e);
      }
      const config = { intervalMs: 20, timeoutMs: 2000, retryBaseMs: 20, retryMaxMs: 100, leaseMs: 2000 };
      const log = createLogger({ level: 'silent' });
      const mk = (store: Store, owner: string) =>
        new EventDelivery({ store, secrets, clock: systemClock, log, owner, config, selfAddresses: () => [], privateAllowed: true });
      const one = mk(h.store, 'process-1');
      const two = mk(other, 'process-2');
      one.start();
      two.start();
      try {
        const deadline = Date.now() + 20_000;
        while (got.length < ids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      } finally {
        await one.stop();
        await two.stop();
        await new Promise<void>((r) => server.close(() => r()));
      }
      expect(got).toEqual(ids);
      expect(most).toBe(1);
      const after = await h.store.getEventSub('proj-a', x.id);
      expect(after).toMatchObject({ deliveredEventId: ids[7], failedAttempts: 0, leaseOwner: null });
      expect(await h.store.countSubPending(after!)).toBe(0);
    });

    it("a restarted service goes on from the cursor; a dead owner's lease is taken over once it lapses", async () => {
      const port = await freePort();
      const got: string[] = [];
      const server: Server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          got.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event: { event_id: string } }).event.event_id);
          res.writeHead(200).end();
        });
      });
      const x = await sub(h.store, { endpoint: `http://127.0.0.1:${port}/` });
      const ids: string[] = [];
      const record = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) {
          const e = event();
          ids.push(e.id);
          await h.store.recordEvent(e);
        }
      };
      await record(3);
      const config = { intervalMs: 20, timeoutMs: 2000, retryBaseMs: 20, retryMaxMs: 50, leaseMs: 300 };
      const log = createLogger({ level: 'silent' });
      const mk = (owner: string) =>
        new EventDelivery({
          store: h.store,
          secrets,
          clock: systemClock,
          log,
          owner,
          config,
          selfAddresses: () => [],
          privateAllowed: true,
        });
      const waitFor = async (test: () => Promise<boolean> | boolean, what: string): Promise<void> => {
        const deadline = Date.now() + 20_000;
        while (!(await test())) {
          if (Date.now() > deadline) throw new Error(`not within 20 s: ${what}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      // The receiver is down: the first service fails, then stops (its lease given up).
      const first = mk('service-1');
      first.start();
      await waitFor(async () => ((await h.store.getEventSub('proj-a', x.id))?.failedAttempts ?? 0) >= 1, 'an attempt failed');
      await first.stop();
      expect(await h.store.countSubPending((await h.store.getEventSub('proj-a', x.id))!)).toBe(3);
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
      try {
        // Another process holds the lease and died without giving it up: nothing is sent until it lapses.
        const now = Date.now();
        expect(await h.store.claimEventSub(x.id, 'dead-service', now, now + 400)).toBeDefined();
        await record(2);
        const second = mk('service-2');
        second.start();
        try {
          await waitFor(() => got.length >= 5, 'the five events delivered');
          expect(Date.now()).toBeGreaterThanOrEqual(now + 400);
        } finally {
          await second.stop();
        }
      } finally {
        await new Promise<void>((r) => server.close(() => r()));
      }
      expect(got).toEqual(ids);
    });
  });
