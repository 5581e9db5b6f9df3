import { describe, expect, it } from 'vitest';
import { whilePolling } from './pg-exec.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('whilePolling (progress polling of a running tool)', () => {
  it('runs one tick at a time, however slow each answer is', async () => {
    let running = 0;
    let most = 0;
    let ticks = 0;
    await whilePolling(sleep(120), 5, async () => {
      running++;
      most = Math.max(most, running);
      ticks++;
      await sleep(20);
      running--;
    });
    expect(most).toBe(1);
    expect(ticks).toBeGreaterThan(1);
  });

  it('returns only when no tick runs any more, and an answer that arrives after the tool ended is not reported', async () => {
    const reported: string[] = [];
    let inFlight = false;
    const result = await whilePolling(
      (async () => {
        await sleep(30);
        return 'done';
      })(),
      10,
      async (live) => {
        inFlight = true;
        await sleep(60); // the answer comes after the tool ended
        inFlight = false;
        if (live()) reported.push('sample');
      },
    );
    reported.push('final');
    expect(result).toBe('done');
    expect(inFlight).toBe(false);
    expect(reported).toEqual(['final']);
  });

  it("keeps polling after a tick that throws, and passes the tool's failure on", async () => {
    let ticks = 0;
    const failing = (async () => {
      await sleep(60);
      throw new Error('tool failed');
    })();
    await expect(
      whilePolling(failing, 5, () => {
        ticks++;
        throw new Error('poll failed');
      }),
    ).rejects.toThrow('tool failed');
    expect(ticks).toBeGreaterThan(2);
  });
});
