/**
 * The Patroni engine's address-block claims (D24) when a service dies mid-create: the block is
 * claimed host-wide (in the host agent) before the store records the cluster, so a service
 * killed between the two left the block held for a cluster that never existed. Each claim is
 * noted in the data directory first; the health monitor's sweep releases a noted block whose
 * cluster the store does not know once a grace has passed, and drops the note of one it knows.
 */
import { existsSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestAgentClient } from '../helpers/engine.js';
import { findBinaries } from '../../src/dataplane/binaries.js';
import { PatroniEngine } from '../../src/dataplane/patroni-engine.js';
import { newId } from '../../src/domain/ids.js';
import { silentLogger } from '../../src/log/logger.js';
import { removeDir, tempDir, testAgentDir } from '../helpers/env.js';

const dataDir = tempDir('claims');
const engine = new PatroniEngine(
  { dataDir, repoPath: join(dataDir, 'repo'), unsafeNoFsync: true, agentDir: testAgentDir() },
  findBinaries(null),
  silentLogger(),
);
engine.prepareHost();
const agent = new TestAgentClient(testAgentDir());
const held: number[] = [];

afterAll(async () => {
  for (const c of held) await agent.releaseSubnet(c).catch(() => false);
  await agent.close();
  await engine.stopAllWork();
  removeDir(dataDir);
});

/** A block no other test holds now, claimed for `owner`. */
async function claim(owner: string): Promise<number> {
  for (let c = 254; c > 150; c--) {
    if (await engine.claimSubnet(c, owner)) {
      held.push(c);
      return c;
    }
  }
  throw new Error('no free address block to claim');
}
const holderOf = async (c: number): Promise<string | undefined> => (await agent.subnets()).find((h) => h.subnet === c)?.owner;
const note = (owner: string): string => join(dataDir, 'claims', owner);
/** Make a claim's note look `ms` old. */
const age = (owner: string, ms: number): void => {
  const t = new Date(Date.now() - ms);
  utimesSync(note(owner), t, t);
};

describe('address-block claims of clusters the store never recorded', () => {
  it('are noted, and kept while their grace lasts (a create in flight in another process)', async () => {
    const owner = newId();
    const c = await claim(owner);
    expect(existsSync(note(owner))).toBe(true);
    expect(await engine.sweepSubnetClaims(new Set())).toEqual([]);
    expect(await holderOf(c)).toBe(owner);
  });

  it("are released past their grace when the store does not know the cluster; a known cluster's note goes, its block stays", async () => {
    const lost = newId();
    const kept = newId();
    const a = await claim(lost);
    const b = await claim(kept);
    age(lost, 11 * 60_000);
    age(kept, 11 * 60_000);
    expect(await engine.sweepSubnetClaims(new Set([kept]))).toEqual([a]);
    expect(await holderOf(a)).toBeUndefined();
    expect(await holderOf(b)).toBe(kept);
    expect([existsSync(note(lost)), existsSync(note(kept))]).toEqual([false, false]);
  });

  it('a block released by its own path (a refused create) leaves no note behind', async () => {
    const owner = newId();
    const c = await claim(owner);
    await engine.releaseSubnet(c, owner);
    expect(existsSync(note(owner))).toBe(false);
    expect(await holderOf(c)).toBeUndefined();
  });
});
