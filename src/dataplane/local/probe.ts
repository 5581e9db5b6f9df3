/** What this host offers now: memory, free disk, free addresses (D6, D18). */
import { mkdirSync, readFileSync, statfsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { HostCapacity } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';

// ------------------------------------------------------------------ capacity and addresses
export function hostCapacity(e: LocalEngine): HostCapacity {
  const mem = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
  const free = (p: string): number => {
    try {
      const s = statfsSync(p);
      return s.bavail * s.bsize;
    } catch {
      return 0;
    }
  };
  mkdirSync(e.settings.repoPath, { recursive: true });
  return {
    memAvailableBytes: mem ? Number(mem[1]) * 1024 : 0,
    dataDiskFreeBytes: free(e.settings.dataDir),
    repoDiskFreeBytes: free(e.settings.repoPath),
  };
}

/** Is something listening on the wildcard address on this port (it would block every 127.0.c.i:port)? */
export function wildcardListener(e: LocalEngine, port: number): boolean {
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] !== '0A') continue; // LISTEN
      const [addr, p] = (cols[1] ?? '').split(':');
      if (parseInt(p ?? '', 16) === port && /^0+$/.test(addr ?? '')) return true;
    }
  }
  return false;
}

/** Can we listen on host:port right now? */
export async function isAddressFree(e: LocalEngine, host: string, port: number): Promise<boolean> {
  return canListen(host, port);
}

/** Can this process listen on host:port right now (nothing else has it)? */
export function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}
