/**
 * The network-namespace test bed of D27 (test/helpers/testbed.ts), before anything runs on it.
 * A bed of two hosts: each host has its address; h1 reaches a listener in h2, and the root
 * namespace reaches one in h1, at their addresses; h1 reaches the root side at `rootAddress`; h2's
 * listener (on every address of h2) is not reachable at 127.0.0.1 from the root namespace; a tmpfs
 * mounted by a process of h1 (in its private mount namespace), and the file written there, are not
 * seen from the root namespace; `isolate(h2)` cuts h2 off and `heal(h2)` plugs it back. Two beds
 * made at once get different subnets. `destroy()` leaves no namespace, link, process or registry
 * entry, and a second call is harmless. A bed whose owner died (an entry with a dead PID, its
 * namespaces and root link made by hand) and a `dws-*` namespace no entry claims are removed by
 * `sweepTestBeds()`. No traffic leaves 198.18.0.0/15 and loopback.
 */
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../helpers/env.js';
import { sweepTestBeds, TESTBED_REGISTRY, TestBed, testBedLeftovers, type TestBedEntry } from '../helpers/testbed.js';

const namespaces = (): string[] =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
const rootLinks = (): string[] =>
  (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[]).map((l) => l.ifname);

/** A node one-liner: listen on argv[1]:argv[2], answer `hello from <argv[3]>`, say `ready`. */
const LISTEN = `require('net').createServer((s) => s.end('hello from ' + process.argv[3])).listen(+process.argv[2], process.argv[1], () => console.log('ready'))`;
/** A node one-liner: connect to argv[1]:argv[2], print what comes back; exit 2 after 1.5 s without an answer. */
const CONNECT = `const s = require('net').connect(+process.argv[2], process.argv[1]); let d = ''; s.setTimeout(1500, () => process.exit(2)); s.on('data', (c) => (d += c)); s.on('end', () => { console.log(d); process.exit(0); }); s.on('error', (e) => { console.error(e.message); process.exit(1); })`;

/** Wait until a spawned process prints `word` on stdout. */
function waitForOutput(child: ChildProcess, word: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no "${word}" within ${timeoutMs} ms: ${out} ${err}`)), timeoutMs);
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes(word)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before "${word}": ${out} ${err}`));
    });
  });
}

/** From the root namespace: the answer at address:port, or the error's code. */
function tryConnect(address: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, address);
    let d = '';
    s.setTimeout(1500, () => {
      s.destroy();
      resolve('TIMEOUT');
    });
    s.on('data', (c: Buffer) => (d += c.toString()));
    s.on('end', () => resolve(d));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe('test bed (D27)', () => {
  let bed: TestBed;
  let port: number;

  beforeAll(async () => {
    bed = await TestBed.create({ hosts: 2 });
    // Free on 127.0.0.1 in the root namespace: a refusal there is not someone else's listener.
    port = await freePort();
  });

  afterAll(async () => {
    await bed?.destroy();
  });

  it('gives each host its address in a subnet of 198.18.0.0/15', () => {
    const k = bed.subnet.split('.')[2]!;
    expect(bed.subnet).toMatch(/^198\.18\.\d+\.0\/24$/);
    expect(bed.rootAddress).toBe(`198.18.${k}.1`);
    expect(bed.hosts.map((h) => [h.name, h.ns, h.address])).toEqual([
      ['h1', `dws-${bed.run}-h1`, `198.18.${k}.11`],
      ['h2', `dws-${bed.run}-h2`, `198.18.${k}.12`],
    ]);
    for (const h of bed.hosts) {
      const addrs = JSON.parse(bed.exec(h, 'ip', ['-j', '-4', 'addr', 'show'])) as { ifname: string; addr_info: { local: string }[] }[];
      expect(addrs.flatMap((l) => l.addr_info.map((a) => `${l.ifname} ${a.local}`)).sort()).toEqual(['eth0 ' + h.address, 'lo 127.0.0.1']);
    }
    expect(namespaces()).toEqual(expect.arrayContaining([`dws-${bed.run}-br`, `dws-${bed.run}-h1`, `dws-${bed.run}-h2`]));
    expect(rootLinks()).toContain(`dws-${bed.run}-r`);
  });

  it('connects hosts to each other and to the root namespace, and nothing through loopback', async () => {
    const [h1, h2] = bed.hosts as [(typeof bed.hosts)[0], (typeof bed.hosts)[0]];
    // h2 listens on every address it has (loopback too); h1 on its own.
    const l2 = bed.spawnIn(h2, process.execPath, ['-e', LISTEN, '0.0.0.0', String(port), 'h2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const l1 = bed.spawnIn(h1, process.execPath, ['-e', LISTEN, h1.address, String(port), 'h1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await Promise.all([waitForOutput(l2, 'ready'), waitForOutput(l1, 'ready')]);

    expect(bed.exec(h1, process.execPath, ['-e', CONNECT, h2.address, String(port)]).trim()).toBe('hello from h2');
    expect(await tryConnect(h1.address, port)).toBe('hello from h1');
    expect(await tryConnect(h2.address, port)).toBe('hello from h2');
    // h2's loopback is h2's: its listener answers there in h2, and the root namespace's 127.0.0.1 has nothing on that port.
    expect(bed.exec(h2, process.execPath, ['-e', CONNECT, '127.0.0.1', String(port)]).trim()).toBe('hello from h2');
    expect(await tryConnect('127.0.0.1', port)).toBe('ECONNREFUSED');
    // The hosts reach the root side at rootAddress (async: the server is in this process).
    const server = createServer((s) => s.end('hello from root'));
    await new Promise<void>((r) => server.listen(0, bed.rootAddress, r));
    try {
      const rootPort = (server.address() as { port: number }).port;
      expect((await bed.execAsync(h1, process.execPath, ['-e', CONNECT, bed.rootAddress, String(rootPort)])).trim()).toBe(
        'hello from root',
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('keeps a mount made in a host private to it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dws-testbed-'));
    try {
      const script = `require('child_process').execFileSync('mount', ['-t', 'tmpfs', 'dws-testbed', process.argv[1]]); require('fs').writeFileSync(process.argv[1] + '/secret', 'h1'); console.log('ready ' + require('fs').readdirSync(process.argv[1]).join(',')); setInterval(() => {}, 1000)`;
      const p = bed.spawnIn('h1', process.execPath, ['-e', script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      await waitForOutput(p, 'ready secret');
      expect(existsSync(join(dir, 'secret'))).toBe(false);
      expect(readdirSync(dir)).toEqual([]);
      expect(spawnSync('findmnt', ['-n', dir], { encoding: 'utf8' }).stdout.trim()).toBe('');
      p.kill('SIGTERM');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cuts a host off with isolate and plugs it back with heal', async () => {
    const [h1, h2] = bed.hosts as [(typeof bed.hosts)[0], (typeof bed.hosts)[0]];
    const reach = (): string => {
      const r = spawnSync('ip', ['netns', 'exec', h1.ns, process.execPath, '-e', CONNECT, h2.address, String(port)], {
        encoding: 'utf8',
        timeout: 10_000,
      });
      return r.status === 0 ? r.stdout.trim() : `exit ${r.status}`;
    };
    expect(reach()).toBe('hello from h2');
    bed.isolate(h2);
    expect(reach()).not.toBe('hello from h2');
    expect(await tryConnect(h2.address, port)).not.toBe('hello from h2');
    bed.heal(h2);
    await waitFor(async () => reach() === 'hello from h2', { timeoutMs: 15_000, intervalMs: 200, what: 'h2 reachable again' });
  });

  it('gives beds made at once different subnets', async () => {
    const beds = await Promise.all([TestBed.create({ hosts: 1 }), TestBed.create({ hosts: 1 })]);
    try {
      expect(new Set([bed.subnet, ...beds.map((b) => b.subnet)]).size).toBe(3);
      expect(new Set([bed.run, ...beds.map((b) => b.run)]).size).toBe(3);
    } finally {
      await Promise.all(beds.map((b) => b.destroy()));
    }
  });

  it('leaves nothing behind when destroyed', async () => {
    const b = await TestBed.create({ hosts: 2 });
    const p = b.spawnIn('h1', process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    // A process that ignores SIGTERM is killed after the grace period.
    const stubborn = b.spawnIn(
      'h2',
      process.execPath,
      ['-e', `process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)`],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    await waitForOutput(stubborn, 'ready');
    await b.destroy();
    await b.destroy();
    expect(namespaces().filter((n) => n.includes(b.run))).toEqual([]);
    expect(rootLinks().filter((n) => n.includes(b.run))).toEqual([]);
    expect(existsSync(`/proc/${p.pid}`)).toBe(false);
    expect(existsSync(`/proc/${stubborn.pid}`)).toBe(false);
    expect(existsSync(join(TESTBED_REGISTRY, `${b.run}.json`))).toBe(false);
    const k = b.subnet.split('.')[2];
    expect(execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' })).not.toContain(`198.18.${k}.1/`);
    expect(testBedLeftovers().filter((l) => l.name.includes(b.run))).toEqual([]);
  });

  it('sweeps a bed whose owner died, and namespaces nobody claims', async () => {
    // A PID that is gone.
    const dead = spawnSync('true').pid;
    const run = randomBytes(3).toString('hex');
    const orphan = randomBytes(3).toString('hex');
    const entry: TestBedEntry = {
      run,
      pid: dead,
      pidStart: '1',
      owner: null,
      subnet: '198.18.255.0/24',
      namespaces: [`dws-${run}-br`, `dws-${run}-h1`],
      links: [`dws-${run}-r`],
    };
    writeFileSync(join(TESTBED_REGISTRY, `${run}.json`), JSON.stringify(entry));
    for (const ns of entry.namespaces) execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['link', 'add', `dws-${run}-r`, 'type', 'veth', 'peer', 'name', 'pr', 'netns', `dws-${run}-br`]);
    execFileSync('ip', ['netns', 'add', `dws-${orphan}-h1`]);
    const ours = (l: { name: string }): boolean => l.name.includes(run) || l.name.includes(orphan);

    expect(
      testBedLeftovers()
        .filter(ours)
        .map((l) => `${l.kind} ${l.name}`)
        .sort(),
    ).toEqual(
      [
        `link dws-${run}-r`,
        `namespace dws-${run}-br`,
        `namespace dws-${run}-h1`,
        `namespace dws-${orphan}-h1`,
        `registry entry ${join(TESTBED_REGISTRY, `${run}.json`)}`,
      ].sort(),
    );
    // The live bed is nobody's leftover.
    expect(testBedLeftovers().filter((l) => l.name.includes(bed.run))).toEqual([]);

    const removed = await sweepTestBeds();
    expect(removed).toEqual(expect.arrayContaining([`dws-${run}-br`, `dws-${run}-h1`, `dws-${run}-r`, `dws-${orphan}-h1`]));
    expect(namespaces().filter((n) => n.includes(run) || n.includes(orphan))).toEqual([]);
    expect(rootLinks().filter((n) => n.includes(run))).toEqual([]);
    expect(existsSync(join(TESTBED_REGISTRY, `${run}.json`))).toBe(false);
    expect(testBedLeftovers().filter(ours)).toEqual([]);
    // The live bed is untouched.
    expect(namespaces()).toContain(`dws-${bed.run}-h1`);
    expect(bed.exec('h1', process.execPath, ['-e', CONNECT, bed.hosts[1]!.address, String(port)]).trim()).toBe('hello from h2');
  });
});
