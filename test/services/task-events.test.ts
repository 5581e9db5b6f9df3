/**
 * The task engine's events as cluster events (D26), on a real store: a start and an end are
 * recorded once each, whoever emits them and however often; an end seen by a process that never
 * saw the start (it resumed the task after its first owner died) records the start too; a
 * switchover task's success is also a switchover event.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventService } from '../../src/services/events.js';
import { TaskEvents } from '../../src/tasks/events.js';
import { createLogger } from '../../src/log/logger.js';
import { openStore } from '../../src/store/open-store.js';
import { migrate } from '../../src/store/migrate.js';
import type { Store } from '../../src/store/store.js';
import type { TaskRecord } from '../../src/domain/records.js';
import { makeTask, T0 } from '../helpers/records.js';
import { removeDir, tempDir } from '../helpers/env.js';

let dir = '';
let store: Store;
const log = createLogger({ level: 'silent' });

beforeEach(async () => {
  dir = tempDir('task-events');
  store = openStore(join(dir, 'dwsbox.sqlite'));
  await migrate(store.adapter, { now: T0 });
});
afterEach(async () => {
  await store.close();
  removeDir(dir);
});

/** Two processes' services, each watching its own task engine's events, over one store. */
function twoProcesses(): TaskEvents[] {
  return [0, 1].map(() => {
    const events = new TaskEvents(log);
    new EventService({ store, log }).watch(events);
    return events;
  });
}
const listed = async (projectId: string) =>
  (await store.listEvents({ projectId, limit: 100 })).map((e) => ({ kind: e.kind, key: e.sourceKey, at: e.occurredAt }));
/** The recording is asynchronous (the listener does not hold up the task engine): wait until `n` events are there. */
async function recorded(projectId: string, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((await store.countEvents({ projectId })).count < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} events recorded within 5 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('task events', () => {
  it('a start and an end emitted by both processes, twice, are one event each, at the task’s own times', async () => {
    const task: TaskRecord = makeTask({ clusterId: 'c1', status: 'RUNNING', startedAt: T0 + 10 });
    const done: TaskRecord = { ...task, status: 'SUCCESS', phase: 'done', finishedAt: T0 + 500 };
    for (const events of [...twoProcesses(), ...twoProcesses()]) {
      events.emit('task:started', { task });
      events.emit('task:finished', { task: done });
    }
    await recorded(task.projectId, 2);
    expect(await listed(task.projectId)).toEqual([
      { kind: 'task_succeeded', key: `task:${task.id}:SUCCESS`, at: T0 + 500 },
      { kind: 'task_started', key: `task:${task.id}:started`, at: T0 + 10 },
    ]);
  });

  it('an end seen by a process that never saw the start records the start too; a rollback is a failure', async () => {
    const [resumer] = twoProcesses();
    const done = makeTask({
      clusterId: 'c1',
      status: 'ROLLBACK_SUCCESS',
      phase: 'done',
      startedAt: T0 + 10,
      finishedAt: T0 + 900,
      errorMsg: 'the disk is full',
    });
    resumer!.emit('task:finished', { task: done });
    await recorded(done.projectId, 2);
    const events = await store.listEvents({ projectId: done.projectId, limit: 100 });
    expect(events.map((e) => [e.kind, e.severity])).toEqual([
      ['task_failed', 'warning'],
      ['task_started', 'normal'],
    ]);
    expect(events[0]!.message).toMatch(/rolled back: the disk is full$/);
  });

  it("a switchover task's success is also a switchover event naming the new primary", async () => {
    const [events] = twoProcesses();
    const done = makeTask({
      clusterId: 'c1',
      kind: 'cluster.switchover',
      status: 'SUCCESS',
      phase: 'done',
      params: { candidate: 1 },
      startedAt: T0,
      finishedAt: T0 + 20,
    });
    events!.emit('task:finished', { task: done });
    await recorded(done.projectId, 3);
    const kinds = (await store.listEvents({ projectId: done.projectId, limit: 100 })).map((e) => [e.kind, e.subject]);
    expect(kinds).toContainEqual(['switchover', '1']);
    expect(kinds).toHaveLength(3);
  });
});
