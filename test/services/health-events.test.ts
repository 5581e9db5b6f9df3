/**
 * The health monitor's events (D26), with two monitors over two connections to one store (two
 * service processes) checking the same cluster at the same time: a member going down, the
 * same member back, and a new primary elected by the failover manager are each recorded
 * once, keyed by what both processes read (the node record before the change; the Patroni
 * timeline of the new leader). The data plane is the step environment's fake: members run
 * and stop as the test says, and its failover manager reports the roles the test gives it.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepEnv, type StepEnv } from '../helpers/step-env.js';
import { HealthMonitor } from '../../src/services/health-monitor.js';
import { openStore } from '../../src/store/open-store.js';
import type { ClusterRecord, NodeRecord } from '../../src/domain/records.js';
import type { MemberRole } from '../../src/dataplane/data-plane.js';
import type { Store } from '../../src/store/store.js';

let e: StepEnv;
let second: Store;
let monitors: HealthMonitor[];
let cluster: ClusterRecord;
let nodes: NodeRecord[];

const key = (ordinal: number): string => `${cluster.id}/${ordinal}`;
const run = (ordinal: number): void => void e.dataPlane.running.set(key(ordinal), { pid: 50_000 + ordinal, startTime: 1 });
/** Both monitors check every cluster at the same time. */
const checkBoth = async (): Promise<void> => void (await Promise.all(monitors.map((m) => m.checkAll())));
const eventsOf = async (kind: string) =>
  (await e.store.listEvents({ projectId: cluster.projectId, clusterId: cluster.id, limit: 100 })).filter((x) => x.kind === kind);

beforeAll(async () => {
  e = await createStepEnv();
  second = openStore(join(e.dir, 'dwsbox.sqlite'));
  const log = e.svc.log.scope({ component: 'test-monitor' });
  monitors = [e.store, second].map((s) => new HealthMonitor(s, e.dataPlane, e.clock, log, 60_000));
  ({ cluster, nodes } = await e.addCluster({ nodes: 3 }));
  for (const n of nodes) run(n.ordinal);
  await checkBoth();
  expect((await e.store.listNodes(cluster.id)).map((n) => n.health)).toEqual(['up', 'up', 'up']);
});
afterAll(async () => {
  await second?.close();
  await e?.close();
});

describe('health monitor events', () => {
  it('a member that stops is recorded down once, and back once when it runs again', async () => {
    e.dataPlane.running.delete(key(2));
    e.clock.advance(1000);
    await checkBoth();
    const down = await eventsOf('member_down');
    expect(down).toHaveLength(1);
    expect(down[0]).toMatchObject({ severity: 'warning', subject: '2', occurredAt: e.clock.now() });
    expect(down[0]!.message).toContain('Node 2');
    // checked again: still down, nothing new
    e.clock.advance(1000);
    await checkBoth();
    expect(await eventsOf('member_down')).toHaveLength(1);

    run(2);
    e.clock.advance(1000);
    await checkBoth();
    await checkBoth();
    const up = await eventsOf('member_up');
    expect(up).toHaveLength(1);
    expect(up[0]).toMatchObject({ severity: 'normal', subject: '2', occurredAt: e.clock.now() });
  });

  it('a primary that goes down is a major event', async () => {
    e.dataPlane.running.delete(key(1));
    e.clock.advance(1000);
    await checkBoth();
    const down = (await eventsOf('member_down')).filter((x) => x.subject === '1');
    expect(down).toHaveLength(1);
    expect(down[0]!.severity).toBe('major');
    run(1);
    e.clock.advance(1000);
    await checkBoth();
    expect((await eventsOf('member_up')).filter((x) => x.subject === '1')).toHaveLength(1);
  });

  it('a new primary elected by the failover manager is one failover event, keyed by its timeline', async () => {
    let roles: MemberRole[] = nodes.map((n) => ({ ordinal: n.ordinal, role: 'standby', running: true, lagBytes: 0, timeline: 2 }));
    roles[2] = { ...roles[2]!, role: 'primary' };
    Object.assign(e.dataPlane, { memberRoles: async () => roles });
    e.clock.advance(1000);
    await checkBoth();
    await checkBoth();
    const failovers = await eventsOf('failover');
    expect(failovers).toHaveLength(1);
    expect(failovers[0]).toMatchObject({ severity: 'major', subject: '3', sourceKey: `failover:${cluster.id}:timeline:2` });
    expect((await e.store.listNodes(cluster.id)).map((n) => n.role)).toEqual(['standby', 'standby', 'primary']);

    // back to node 1 on the next timeline: a second event
    roles = roles.map((r) => ({ ...r, role: r.ordinal === 1 ? 'primary' : 'standby', timeline: 3 }));
    e.clock.advance(1000);
    await checkBoth();
    expect((await eventsOf('failover')).map((x) => x.subject)).toEqual(['1', '3']);
  });

  it('what the engine mended is a repair event, with its words', async () => {
    let mended = ['the lost synchronous standby was reset (Patroni picks one again)'];
    Object.assign(e.dataPlane, {
      mendCluster: async () => {
        const m = mended;
        mended = [];
        return { mended: m, stuck: [] };
      },
    });
    e.clock.advance(1000);
    await checkBoth();
    const repairs = await eventsOf('repair');
    expect(repairs).toHaveLength(1);
    expect(repairs[0]).toMatchObject({ severity: 'warning', occurredAt: e.clock.now() });
    expect(repairs[0]!.message).toContain('synchronous standby');
  });
});
