import { describe, expect, it, vi } from 'vitest';
import type { FaultRecord } from '../domain/records.js';
import { silentLogger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import { makeFault, makeTask } from '../../test/helpers/records.js';
import { FaultInjector } from './faults.js';
import { TaskSlots } from './slots.js';

/** A store holding these faults (every firing allowed). */
const storeWith = (faults: FaultRecord[]): Store =>
  ({ listFaults: async () => faults, consumeFault: async () => true }) as unknown as Store;
const task = makeTask({ kind: 'cluster.restart' });
const fault = (o: Partial<FaultRecord>): FaultRecord => makeFault({ projectId: task.projectId, actionName: 'REBOOTING', step: '*', ...o });
const never = new AbortController().signal;

describe('FaultInjector: fair shares (docs/security.md)', () => {
  it('disabled (enableTenantFaults off), stored faults never fire', async () => {
    const f = new FaultInjector(storeWith([fault({ mode: 'fail' })]), silentLogger(), () => {}, { enabled: false });
    await expect(f.fire(task, 'STOP_NODE_1', 'before', never)).resolves.toBeUndefined();
    const on = new FaultInjector(storeWith([fault({ mode: 'fail' })]), silentLogger(), () => {}, { enabled: true });
    await expect(on.fire(task, 'STOP_NODE_1', 'before', never)).rejects.toMatchObject({ code: 'INJECTED_FAULT' });
  });

  it('a hang fails its step after faultMaxDelayMs when that comes before the idle limit', async () => {
    const f = new FaultInjector(storeWith([fault({ mode: 'hang' })]), silentLogger(), () => {}, { maxDelayMs: 1000 });
    const e = await f.fire(task, 'STOP_NODE_1', 'before', never, 600_000).then(
      () => null,
      (x: unknown) => x as { code: string; message: string },
    );
    expect(e?.code).toBe('STEP_TIMEOUT');
    expect(e?.message).toMatch(/^Step STOP_NODE_1 made no progress for 1 s while waiting for an injected hang/);
  });

  it('a delay longer than faultMaxDelayMs (stored under another setting) is cut to it', async () => {
    const f = new FaultInjector(storeWith([fault({ mode: 'delay', delayMs: 3_600_000 })]), silentLogger(), () => {}, { maxDelayMs: 10 });
    await expect(f.fire(task, 'STOP_NODE_1', 'before', never)).resolves.toBeUndefined();
  });

  it('a delayed task lends its slot out: another task takes it meanwhile; the delayed one takes a slot back once one is free', async () => {
    const slots = new TaskSlots(1);
    expect(slots.tryTake(task.id)).toBe(true);
    const f = new FaultInjector(storeWith([fault({ mode: 'delay', delayMs: 50 })]), silentLogger(), () => {}, {
      maxDelayMs: 60_000,
      slots,
    });
    let done = false;
    const fired = f.fire(task, 'STOP_NODE_1', 'before', never).then(() => {
      done = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(slots.holds(task.id)).toBe(false);
    expect(slots.tryTake('another-project-task')).toBe(true);
    // The delay ends, but the one slot is taken: the delayed task waits for it.
    await vi.waitFor(() => expect(slots.waitingCount).toBe(1));
    expect(done).toBe(false);
    slots.release('another-project-task');
    await fired;
    expect(slots.holds(task.id)).toBe(true);
  });
});
