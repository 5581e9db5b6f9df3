/**
 * Wait for every one of `work` (a step never ends with its work still running: no tool of it
 * outlives the step), then throw the first failure.
 */
export async function settleAll(work: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
