/**
 * Load, the CI version of bench/load.ts (issue 6, D21): the same code (`runLoad`) for 15 s
 * with a 5 s warm-up: 50 signed clients poll the task-details endpoint (SNAPSHOTTING, GROWING)
 * and list clusters, while a snapshot, a scale-out and a scale-in run in a loop on a 3-node
 * cluster with 5 MB of data; the service is a child process. No error (any non-2xx other than
 * the 404 for an action the cluster never had, any network error, a failed task), and the
 * service's resident memory at the end at most 20 % above its level after the warm-up.
 * The 2-minute run is `npx tsx bench/load.ts`.
 */
import { describe, expect, it } from 'vitest';
import { runLoad, summary } from '../../bench/load.js';

describe('load: 50 clients for 15 s while snapshots and scale-outs run', () => {
  it('serves every request without an error, and its memory stays within 20 % of the warm-up level', { timeout: 300_000 }, async () => {
    const r = await runLoad({ seconds: 15, warmupSeconds: 5, clients: 50, dataMb: 5, unsafeNoFsync: true });
    console.log(summary(r));
    expect(r.errorSamples).toEqual([]);
    expect(r.errors).toBe(0);
    expect(r.requests).toBeGreaterThan(0);
    expect(r.snapshots + r.scaleOuts).toBeGreaterThan(0);
    expect(r.rssMb.end).toBeLessThanOrEqual(1.2 * r.rssMb.warmup);
  });
});
