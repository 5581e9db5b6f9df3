/**
 * Before the run: the binaries exist (a missing one is a set-up bug: fail, saying how to
 * install it). After the run: no process started by a test is left (the leak check).
 */
import { findBinaries } from '../../src/engine/binaries.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { killPostmastersUnder, processesUnder, removeDir, TEST_BASE } from './env.js';

let root = '';

export function setup(): void {
  findBinaries(null);
  root = join(TEST_BASE, `run-${process.pid}-${randomBytes(3).toString('hex')}`);
  // Test workers are started after this, and inherit it.
  process.env['DWSBOX_TEST_ROOT'] = root;
}

export async function teardown(): Promise<void> {
  const left = processesUnder(root);
  if (left.length) {
    await killPostmastersUnder(root);
    throw new Error(`tests left ${left.length} processes behind:\n${left.map((p) => `  ${p.pid} ${p.cmd}`).join('\n')}`);
  }
  if (!process.env['DWSBOX_KEEP_TEST_DIRS']) removeDir(root);
}
