/**
 * Cluster events (D26) on both backends: a source key records one happening once, also when
 * two store connections (two service processes) record it at the same moment; a project's
 * events are read newest first, of one cluster or all, in a time range, a page at a time,
 * counted, and totalled by kind and severity (/metrics).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { STORE_BACKENDS, useStore } from '../helpers/store-backends.js';
import { T0 } from '../helpers/records.js';
import type { EventRecord } from '../../src/store/store.js';

const event = (o: Partial<EventRecord> = {}): EventRecord => ({
  id: randomUUID(),
  projectId: 'proj-a',
  clusterId: 'cluster-1',
  kind: 'task_started',
  severity: 'normal',
  message: 'Cluster restart started',
  subject: 'task-1',
  sourceKey: `key-${randomUUID()}`,
  occurredAt: T0,
  ...o,
});

for (const backend of STORE_BACKENDS)
  describe(`${backend}: events`, () => {
    const h = useStore(backend);

    it('records a source key once: a second recording of it writes nothing, even with another id and time', async () => {
      const s = h.store;
      const first = event({ sourceKey: 'task:t1:started' });
      expect(await s.recordEvent(first)).toBe(true);
      expect(await s.recordEvent(event({ sourceKey: 'task:t1:started', occurredAt: T0 + 5, message: 'again' }))).toBe(false);
      const listed = await s.listEvents({ projectId: 'proj-a', limit: 10 });
      expect(listed).toEqual([first]);
    });

    it('two processes recording the same happenings at once: each is recorded once, and each is told whether it wrote it', async () => {
      const a = h.store;
      const b = h.open();
      const keys = Array.from({ length: 20 }, (_, i) => `member_down:node-${i}:${T0}`);
      const results = await Promise.all(
        keys.flatMap((k) => [a.recordEvent(event({ sourceKey: k })), b.recordEvent(event({ sourceKey: k }))]),
      );
      // Exactly one of the two recordings of each key wrote it.
      for (let i = 0; i < keys.length; i++) expect([results[2 * i], results[2 * i + 1]].filter(Boolean)).toHaveLength(1);
      expect((await a.countEvents({ projectId: 'proj-a' })).count).toBe(keys.length);
      expect(new Set((await b.listEvents({ projectId: 'proj-a', limit: 100 })).map((e) => e.sourceKey))).toEqual(new Set(keys));
    });

    it("lists a project's events newest first, of one cluster or all, in a time range, a page at a time", async () => {
      const s = h.store;
      const recorded: EventRecord[] = [];
      for (let i = 0; i < 6; i++) {
        const e = event({
          clusterId: i % 2 ? 'cluster-odd' : 'cluster-even',
          occurredAt: T0 + i * 1000,
          subject: i % 3 ? String(i) : null,
        });
        recorded.push(e);
        await s.recordEvent(e);
      }
      // Two events at the same instant come in a stable order (by id), so pages never overlap.
      const tie = event({ clusterId: 'cluster-even', occurredAt: T0 + 5000 });
      recorded.push(tie);
      await s.recordEvent(tie);
      await s.recordEvent(event({ projectId: 'proj-b', occurredAt: T0 + 9000 }));

      const newestFirst = [...recorded].sort((x, y) => y.occurredAt - x.occurredAt || (x.id < y.id ? 1 : -1));
      expect(await s.listEvents({ projectId: 'proj-a', limit: 100 })).toEqual(newestFirst);
      // pages
      const pages = [
        ...(await s.listEvents({ projectId: 'proj-a', limit: 3 })),
        ...(await s.listEvents({ projectId: 'proj-a', limit: 3, offset: 3 })),
        ...(await s.listEvents({ projectId: 'proj-a', limit: 3, offset: 6 })),
      ];
      expect(pages).toEqual(newestFirst);
      // one cluster
      expect(await s.listEvents({ projectId: 'proj-a', clusterId: 'cluster-odd', limit: 100 })).toEqual(
        newestFirst.filter((e) => e.clusterId === 'cluster-odd'),
      );
      // a time range: since inclusive, until exclusive
      const range = { since: T0 + 1000, until: T0 + 4000 };
      const inRange = newestFirst.filter((e) => e.occurredAt >= range.since && e.occurredAt < range.until);
      expect(await s.listEvents({ projectId: 'proj-a', ...range, limit: 100 })).toEqual(inRange);
      expect(await s.countEvents({ projectId: 'proj-a', ...range })).toEqual({
        count: inRange.length,
        oldestAt: Math.min(...inRange.map((e) => e.occurredAt)),
      });
      expect(await s.countEvents({ projectId: 'proj-a', clusterId: 'cluster-even' })).toEqual({
        count: newestFirst.filter((e) => e.clusterId === 'cluster-even').length,
        oldestAt: T0,
      });
      expect(await s.countEvents({ projectId: 'proj-a', since: T0 + 60_000 })).toEqual({ count: 0, oldestAt: null });
      // another project's are its own
      expect((await s.listEvents({ projectId: 'proj-b', limit: 100 })).map((e) => e.occurredAt)).toEqual([T0 + 9000]);
    });

    it('totals every project’s events by kind and severity', async () => {
      const s = h.store;
      const recorded = [
        event({ kind: 'task_started', severity: 'normal' }),
        event({ kind: 'task_started', severity: 'normal' }),
        event({ kind: 'task_failed', severity: 'warning' }),
        event({ kind: 'member_down', severity: 'major' }),
        event({ kind: 'member_down', severity: 'warning' }),
        event({ projectId: 'proj-b', kind: 'failover', severity: 'major' }),
      ];
      for (const e of recorded) await s.recordEvent(e);
      const expected = new Map<string, number>();
      for (const e of recorded) {
        const k = `${e.projectId}/${e.kind}/${e.severity}`;
        expected.set(k, (expected.get(k) ?? 0) + 1);
      }
      const totals = await s.eventTotals();
      expect(new Map(totals.map((t) => [`${t.projectId}/${t.kind}/${t.severity}`, t.count]))).toEqual(expected);
    });
  });
