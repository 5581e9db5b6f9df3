/** A backup's WAL range (D30's check of a new set in place of `pgbackrest verify`): the segment names from start to stop, and which of them a local archive lacks. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../log/logger.js';
import type { Binaries } from './binaries.js';
import { PgBackRest, partlyCreatedStanza, walRange } from './pgbackrest.js';

describe('walRange', () => {
  it('lists every segment from start to stop, both included', () => {
    expect(walRange('000000010000000000000005', '000000010000000000000005')).toEqual(['000000010000000000000005']);
    expect(walRange('000000010000000000000008', '00000001000000000000000A')).toEqual([
      '000000010000000000000008',
      '000000010000000000000009',
      '00000001000000000000000A',
    ]);
  });

  it('crosses into the next log file after segment FF (16 MB segments)', () => {
    expect(walRange('0000000200000003000000FE', '000000020000000400000001')).toEqual([
      '0000000200000003000000FE',
      '0000000200000003000000FF',
      '000000020000000400000000',
      '000000020000000400000001',
    ]);
  });

  it('gives just the two names for two timelines, names out of order, or names that are not segments', () => {
    expect(walRange('000000010000000000000009', '000000020000000000000009')).toEqual([
      '000000010000000000000009',
      '000000020000000000000009',
    ]);
    expect(walRange('00000001000000000000000A', '000000010000000000000009')).toEqual([
      '00000001000000000000000A',
      '000000010000000000000009',
    ]);
    expect(walRange('x', 'x')).toEqual(['x']);
  });
});

describe('PgBackRest.missingWal in a local repository', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function repository(): { backrest: PgBackRest; archive: string } {
    const root = mkdtempSync(join(tmpdir(), 'dwsbox-pgbackrest-'));
    dirs.push(root);
    const repo = {
      repoPath: join(root, 'repo'),
      logPath: join(root, 'log'),
      lockPath: join(root, 'lock'),
      spoolPath: join(root, 'spool'),
      configDir: join(root, 'stanzas'),
    };
    // No stanza config: the stanza is in the configured (local) repository; no binary is run.
    const backrest = new PgBackRest({} as Binaries, repo, silentLogger());
    return { backrest, archive: join(repo.repoPath, 'archive', 'demo') };
  }

  const sha1 = 'a'.repeat(40);

  it('finds each archived segment of the range, in any archive id, whatever its compression', async () => {
    const { backrest, archive } = repository();
    mkdirSync(join(archive, '15-1', '0000000100000000'), { recursive: true });
    mkdirSync(join(archive, '15-2', '0000000100000001'), { recursive: true });
    writeFileSync(join(archive, '15-1', '0000000100000000', `0000000100000000000000FF-${sha1}.zst`), '');
    writeFileSync(join(archive, '15-2', '0000000100000001', `000000010000000100000000-${sha1}.gz`), '');
    writeFileSync(join(archive, '15-2', '0000000100000001', `000000010000000100000001-${sha1}`), '');
    expect(await backrest.missingWal('demo', '0000000100000000000000FF', '000000010000000100000001')).toEqual([]);
    expect(await backrest.isArchived('demo', '000000010000000100000000')).toBe(true);
  });

  it("names the segments that are missing; a backup's history file does not stand for its first segment", async () => {
    const { backrest, archive } = repository();
    const dir = join(archive, '15-1', '0000000100000000');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '000000010000000000000007.00000028.backup'), '');
    writeFileSync(join(dir, `000000010000000000000008-${sha1}.zst`), '');
    expect(await backrest.missingWal('demo', '000000010000000000000007', '000000010000000000000009')).toEqual([
      '000000010000000000000007',
      '000000010000000000000009',
    ]);
    expect(await backrest.isArchived('demo', '000000010000000000000007')).toBe(false);
    // The backup file itself, by its name (what pg_stat_archiver's last_archived_wal may name).
    expect(await backrest.isArchived('demo', '000000010000000000000007.00000028.backup')).toBe(true);
  });

  it('finds nothing in a stanza that has no archive yet', async () => {
    const { backrest } = repository();
    expect(await backrest.missingWal('demo', '000000010000000000000001', '000000010000000000000001')).toEqual(['000000010000000000000001']);
  });
});

describe('partlyCreatedStanza', () => {
  it("knows the answers of stanza-create over a stanza-create killed part way, and nothing else's", () => {
    expect(partlyCreatedStanza('ERROR: [055]: archive.info exists but backup.info is missing on repo1')).toBe(true);
    expect(partlyCreatedStanza('ERROR: [055]: backup.info exists but archive.info is missing on repo1')).toBe(true);
    expect(partlyCreatedStanza('ERROR: [040]: archive directory not empty')).toBe(true);
    expect(partlyCreatedStanza("ERROR: [055]: unable to load backup manifest file '/x/backup.manifest'")).toBe(false);
    expect(partlyCreatedStanza('ERROR: [056]: unable to find primary cluster')).toBe(false);
  });
});
