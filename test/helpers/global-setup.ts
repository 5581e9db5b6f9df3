/**
 * Before the run: the binaries exist (a missing one is a set-up bug: fail, saying how to
 * install it). After the run: no process started by a test is left (the leak check).
 */
import { findBinaries } from '../../src/engine/binaries.js';
import { killPostmastersUnder, processesUnder, removeDir, TEST_ROOT } from './env.js';

export function setup(): void {
  findBinaries(null);
  removeDir(TEST_ROOT);
}

export async function teardown(): Promise<void> {
  const left = processesUnder(TEST_ROOT);
  if (left.length) {
    await killPostmastersUnder(TEST_ROOT);
    throw new Error(`tests left ${left.length} processes behind:\n${left.map((p) => `  ${p.pid} ${p.cmd}`).join('\n')}`);
  }
  if (!process.env['DWSBOX_KEEP_TEST_DIRS']) removeDir(TEST_ROOT);
}
