/** Where the PostgreSQL 15 and pgBackRest binaries are, and their versions. */
import { accessSync, constants, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface Binaries {
  binDir: string;
  pgbackrest: string;
  pgVersion: string;
  pgbackrestVersion: string;
}

export const REQUIRED_PG_TOOLS = ['initdb', 'postgres', 'pg_basebackup', 'pg_dump', 'pg_restore', 'pg_controldata', 'psql'] as const;

export class MissingBinaryError extends Error {
  override name = 'MissingBinaryError';
}

function which(cmd: string): string | null {
  for (const dir of ['/usr/bin', '/usr/local/bin', '/bin', '/usr/sbin']) {
    const p = join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return null;
}

function version(cmd: string, args: string[]): string {
  // A version probe at start-up, not a task: plain execFileSync, no shell.
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10000 }).trim();
}

/** Find the binaries or throw saying which is missing and how to install it. */
export function findBinaries(pgBinDir: string | null): Binaries {
  let binDir = pgBinDir;
  if (!binDir) {
    binDir = '/usr/lib/postgresql/15/bin';
    if (!existsSync(join(binDir, 'postgres'))) {
      const pgConfig = which('pg_config');
      if (pgConfig) binDir = version(pgConfig, ['--bindir']);
    }
  }
  for (const t of REQUIRED_PG_TOOLS) {
    try {
      accessSync(join(binDir, t), constants.X_OK);
    } catch {
      throw new MissingBinaryError(
        `PostgreSQL 15 binary ${t} not found in ${binDir}; install it with: apt-get install -y postgresql-15 (or run bash scripts/setup.sh)`,
      );
    }
  }
  // D32: the untrusted extensions an administrator may create (pg_stat_statements, …) go through pgextwlist.
  const libDir = join(binDir, '..', 'lib');
  if (!existsSync(join(libDir, 'plugins', 'pgextwlist.so'))) {
    throw new MissingBinaryError(
      `pgextwlist not found in ${join(libDir, 'plugins')}; install it with: apt-get install -y postgresql-15-pgextwlist (or run bash scripts/setup.sh)`,
    );
  }
  const pgbackrest = which('pgbackrest');
  if (!pgbackrest)
    throw new MissingBinaryError('pgbackrest not found; install it with: apt-get install -y pgbackrest (or run bash scripts/setup.sh)');
  const pgVersion = version(join(binDir, 'postgres'), ['--version']).replace(/^postgres \(PostgreSQL\) /, '');
  if (!pgVersion.startsWith('15')) throw new MissingBinaryError(`PostgreSQL 15 is required, found ${pgVersion} in ${binDir}`);
  const pgbackrestVersion = version(pgbackrest, ['version']).replace(/^pgBackRest /, '');
  return { binDir, pgbackrest, pgVersion, pgbackrestVersion };
}
