/**
 * The initdb pool (issue 14) against real initdb, pg_controldata and single-user postgres: what
 * it makes, what a take hands over, what its check refuses, what a key change and a stop leave.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_NODE_TYPE } from '../../domain/node-types.js';
import { silentLogger } from '../../log/logger.js';
import { findBinaries } from '../binaries.js';
import { osIdentity } from '../os-user.js';
import { liveToolPids } from '../pg-exec.js';
import { removeDir, tempDir } from '../../../test/helpers/env.js';
import { compareLsn } from '../../domain/lsn.js';
import { CONTROL_SETTINGS, InitdbPool, controlData, parseControlData, type PoolSettings } from './initdb-pool.js';

const bins = findBinaries(null);
const root = tempDir('initdb-pool');
chmodSync(root, 0o711);
/** The user a take hands directories to (a project's user in the service; here PostgreSQL's own, or the test's user when not root). */
const tenant = osIdentity().postgres;
const control = { max_connections: 40, max_wal_senders: 40, wal_level: 'replica', wal_log_hints: 'on' };

function pool(dir: string, o: Partial<PoolSettings> = {}): InitdbPool {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  chmodSync(dir, 0o711);
  return new InitdbPool({ dataDir: dir, size: 2, copies: 2, noSync: true, controlSettings: () => control, ...o }, bins, silentLogger());
}

/** A place a take may rename into: a root-owned directory on the same filesystem. */
function dests(dir: string, n: number): string[] {
  const d = join(dir, 'clusters');
  mkdirSync(d, { recursive: true, mode: 0o711 });
  return Array.from({ length: n }, (_, i) => join(d, `node${i + 1}`));
}

afterAll(() => removeDir(root));

describe('initdb pool', () => {
  it('makes ready directories with their copies, each entry its own system identifier, baked for the node type, closed to others', async () => {
    const p = pool(join(root, 'make'));
    await Promise.all([p.makeOne(DEFAULT_NODE_TYPE), p.makeOne(DEFAULT_NODE_TYPE)]);
    const ready = p.ready(DEFAULT_NODE_TYPE);
    expect(ready).toHaveLength(2);
    const ids = new Set<string>();
    for (const entry of ready) {
      expect(readdirSync(entry).sort()).toEqual(['copy1', 'copy2', 'data', 'manifest.json']);
      // Only root can enter a ready entry (D32: tenants cannot read the pool).
      if (process.getuid?.() === 0) expect(lstatSync(entry).mode & 0o777).toBe(0o700);
      const c = await controlData(bins, join(entry, 'data'), null);
      expect(c.state).toBe('shut down');
      expect(c.maxConnections).toBe('40');
      expect(c.maxWalSenders).toBe('40');
      // The copies are the same cluster (a standby must share its primary's identifier).
      for (const copy of ['copy1', 'copy2'])
        expect((await controlData(bins, join(entry, copy), null)).systemIdentifier).toBe(c.systemIdentifier);
      ids.add(c.systemIdentifier);
    }
    expect(ids.size).toBe(2);
    expect(liveToolPids()).toEqual([]);
  });

  it('a take hands the directory and its copies over, owned by the given user, and the pool shrinks', async () => {
    const dir = join(root, 'take');
    const p = pool(dir);
    await p.makeOne(DEFAULT_NODE_TYPE);
    const [d1, d2, d3, d4] = dests(dir, 4);
    const taken = await p.take(DEFAULT_NODE_TYPE, tenant, d1!, [d2!, d3!, d4!]);
    expect(taken).not.toBeNull();
    // Two copies came with it; the third standby is left to its caller.
    expect(taken!.copies).toBe(2);
    expect(existsSync(d4!)).toBe(false);
    for (const d of [d1!, d2!, d3!]) {
      expect(lstatSync(d).uid).toBe(tenant.uid);
      expect(lstatSync(join(d, 'global', 'pg_control')).uid).toBe(tenant.uid);
      expect((await controlData(bins, d, tenant)).systemIdentifier).toBe(taken!.control.systemIdentifier);
    }
    expect(p.ready(DEFAULT_NODE_TYPE)).toHaveLength(0);
    // Nothing of the claimed entry stays behind.
    expect(readdirSync(p.root).filter((n) => n.startsWith('claimed-'))).toEqual([]);
    expect(await p.take(DEFAULT_NODE_TYPE, tenant, join(dir, 'clusters', 'x'), [])).toBeNull();
  });

  it('refuses an entry whose files changed (one removed, one added, a link planted) and removes it', async () => {
    const dir = join(root, 'check');
    const p = pool(dir);
    const tamper: ((entry: string) => void)[] = [
      (e) => rmSync(join(e, 'data', 'PG_VERSION')),
      (e) => writeFileSync(join(e, 'copy1', 'extra'), 'x'),
      (e) => {
        rmSync(join(e, 'copy2', 'postgresql.conf'));
        symlinkSync('/etc/shadow', join(e, 'copy2', 'postgresql.conf'));
      },
    ];
    // One entry per change, made at once; a take tries every ready entry, so null means each was refused.
    await Promise.all(tamper.map(() => p.makeOne(DEFAULT_NODE_TYPE)));
    const ready = p.ready(DEFAULT_NODE_TYPE);
    expect(ready).toHaveLength(tamper.length);
    tamper.forEach((t, i) => t(ready[i]!));
    const [d] = dests(dir, 1);
    expect(await p.take(DEFAULT_NODE_TYPE, tenant, d!, [])).toBeNull();
    expect(existsSync(d!)).toBe(false);
    expect(p.ready(DEFAULT_NODE_TYPE)).toHaveLength(0);
    expect(readdirSync(p.root).filter((n) => n.startsWith('claimed-'))).toEqual([]);
  });

  it('the filler fills to size, rebuilds after a settings change, and a stop leaves no process and no unfinished entry', async () => {
    const dir = join(root, 'fill');
    const a = pool(dir, { size: 1, copies: 1 });
    a.start();
    const deadline = Date.now() + 120_000;
    while (a.ready(DEFAULT_NODE_TYPE).length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(a.ready(DEFAULT_NODE_TYPE)).toHaveLength(1);
    await a.stop();
    const oldKey = a.keyDir(DEFAULT_NODE_TYPE);
    // Other settings (as after an upgrade of PostgreSQL or a changed node type): another key; the old one is removed at start.
    const b = pool(dir, { size: 1, copies: 1, controlSettings: () => ({ ...control, max_connections: 50 }) });
    expect(b.keyDir(DEFAULT_NODE_TYPE)).not.toBe(oldKey);
    mkdirSync(join(b.keyDir(DEFAULT_NODE_TYPE), 'abcdef0123456789.part'), { recursive: true });
    b.start();
    // Stopped while (most likely) its initdb runs: killed, waited for, its unfinished entry removed.
    await new Promise((r) => setTimeout(r, 300));
    await b.stop();
    expect(liveToolPids()).toEqual([]);
    expect(existsSync(oldKey)).toBe(false);
    expect(readdirSync(b.keyDir(DEFAULT_NODE_TYPE)).filter((n) => n.endsWith('.part'))).toEqual([]);
  });

  it('services sharing one pool directory: one fills at a time and never past the size, each entry is taken once, only a gone process leaves leftovers to remove', async () => {
    const dir = join(root, 'shared');
    const shared = join(dir, 'pool');
    const services = [0, 1, 2].map((i) => pool(join(dir, `svc${i}`), { size: 2, copies: 1, dir: shared }));
    const key = services[0]!.keyDir(DEFAULT_NODE_TYPE);
    // Leftovers: an unfinished entry and a claimed one of a process that is gone (removed), and
    // an unfinished entry of a live process (this one: work in flight, kept).
    const gonePid = spawnSync('true').pid;
    mkdirSync(key, { recursive: true });
    const goneParts = [join(key, `00000000000000aa-${gonePid}.part`), join(shared, `claimed-${gonePid}-00000000000000bb`)];
    const livePart = join(key, `00000000000000cc-${process.pid}.part`);
    for (const d of [...goneParts, livePart]) mkdirSync(d);
    for (const s of services) s.start();
    const deadline = Date.now() + 120_000;
    while (services[0]!.ready(DEFAULT_NODE_TYPE).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    // Every filler has looked again since (each looks every second): still two, not two per service.
    await new Promise((r) => setTimeout(r, 2500));
    expect(services.map((s) => s.ready(DEFAULT_NODE_TYPE).length)).toEqual([2, 2, 2]);
    expect(goneParts.filter((d) => existsSync(d))).toEqual([]);
    expect(existsSync(livePart)).toBe(true);
    rmSync(livePart, { recursive: true });
    // Four takes at once from three services: each entry goes to one taker (its own system identifier).
    const taken = await Promise.all(
      [0, 1, 2, 0].map((i, n) => {
        const [d, c] = dests(join(dir, `take${n}`), 2);
        return services[i]!.take(DEFAULT_NODE_TYPE, tenant, d!, [c!]);
      }),
    );
    const ids = taken.filter((t) => t !== null).map((t) => t.control.systemIdentifier);
    expect(ids.length).toBeGreaterThanOrEqual(2);
    expect(new Set(ids).size).toBe(ids.length);
    for (const s of services) await s.stop();
    expect(liveToolPids()).toEqual([]);
    expect(readdirSync(shared).filter((n) => n.startsWith('claimed-'))).toEqual([]);
    expect(readdirSync(key).filter((n) => n.endsWith('.part'))).toEqual([]);
    expect(services[0]!.ready(DEFAULT_NODE_TYPE).length).toBeLessThanOrEqual(2);
  });

  it('size 0: nothing is made and a take returns null', async () => {
    const dir = join(root, 'off');
    const p = pool(dir, { size: 0 });
    p.start();
    await p.stop();
    expect(existsSync(p.root)).toBe(false);
    expect(await p.take(DEFAULT_NODE_TYPE, tenant, join(dir, 'x'), [])).toBeNull();
  });

  it('reads pg_controldata and compares LSNs', () => {
    const c = parseControlData(
      'Database system identifier:           7445\nDatabase cluster state:               shut down\nLatest checkpoint location:           0/15007C8\n' +
        "Latest checkpoint's REDO location:    0/15007C8\nmax_connections setting:              40\n",
    );
    expect(c).toMatchObject({ systemIdentifier: '7445', state: 'shut down', redo: '0/15007C8', maxConnections: '40' });
    expect(compareLsn('0/15007C8', '0/15007C8')).toBe(0);
    expect(compareLsn('0/15007C8', '1/0')).toBe(-1);
    expect(compareLsn('A/10', '9/FFFFFFFF')).toBe(1);
    expect(CONTROL_SETTINGS).toContain('max_connections');
  });
});
