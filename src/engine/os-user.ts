/**
 * Who runs what. As root, PostgreSQL and its tools run as the `postgres` OS user
 * (initdb refuses root); otherwise everything runs as the service's own user.
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';

export interface OsIdentity {
  /** the service runs as root and switches to postgres for PostgreSQL and its tools */
  runAsPostgres: boolean;
  /** the OS user the service runs as */
  serviceUser: string;
  /** the OS user PostgreSQL runs as */
  postgres: { name: string; uid: number; gid: number; home: string };
}

let cached: OsIdentity | undefined;

export function lookupUser(name: string): { name: string; uid: number; gid: number; home: string } | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f.length >= 7) return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' };
    }
  } catch {
    /* no passwd file */
  }
  return undefined;
}

export function osIdentity(): OsIdentity {
  if (cached) return cached;
  const me = userInfo();
  const root = me.uid === 0;
  if (root) {
    const pg = lookupUser('postgres');
    if (!pg) {
      throw new Error('the service runs as root but there is no "postgres" OS user; run the set-up (bash scripts/setup.sh) or `useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres`');
    }
    cached = { runAsPostgres: true, serviceUser: me.username, postgres: pg };
  } else {
    cached = { runAsPostgres: false, serviceUser: me.username, postgres: { name: me.username, uid: me.uid, gid: me.gid, home: me.homedir } };
  }
  return cached;
}
