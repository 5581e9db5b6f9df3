import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { readProfile, readSecretFromStdin, warnSecretArgument } from './secrets.js';

const input = (...chunks: string[]): Readable => Readable.from(chunks.map((c) => Buffer.from(c)));

describe('secrets from standard input', () => {
  it('takes the whole input less one trailing newline', async () => {
    expect(await readSecretFromStdin('--password-stdin', input('Alice-Pass-123\n'))).toBe('Alice-Pass-123');
    expect(await readSecretFromStdin('--password-stdin', input('Ali', 'ce-Pass-123\r\n'))).toBe('Alice-Pass-123');
    expect(await readSecretFromStdin('--password-stdin', input(' spaces kept '))).toBe(' spaces kept ');
  });

  it('refuses empty input and more than one line', async () => {
    await expect(readSecretFromStdin('--password-stdin', input(''))).rejects.toThrow(/--password-stdin: standard input was empty/);
    await expect(readSecretFromStdin('--password-stdin', input('\n'))).rejects.toThrow(/empty/);
    await expect(readSecretFromStdin('--secret-key-stdin', input('a\nb\n'))).rejects.toThrow(/more than one line/);
  });
});

describe('the profile file', () => {
  it('one with a secret key is read only when no one else can read it; the refusal says how to fix it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dwsbox-profile-'));
    try {
      const file = join(dir, 'profile.json');
      const body = JSON.stringify({ endpoint: 'http://127.0.0.1:7480', project_id: 'p', access_key: 'AK', secret_key: 'SK', extra: 1 });
      writeFileSync(file, body, { mode: 0o644 });
      expect(() => readProfile(file)).toThrow(
        `the profile ${file} holds a secret key and others can read it (mode 0644); run: chmod 600 ${file}`,
      );
      writeFileSync(join(dir, 'g.json'), body, { mode: 0o640 });
      expect(() => readProfile(join(dir, 'g.json'))).toThrow(/mode 0640/);
      writeFileSync(join(dir, 'ok.json'), body, { mode: 0o600 });
      expect(readProfile(join(dir, 'ok.json'))).toEqual({
        endpoint: 'http://127.0.0.1:7480',
        project_id: 'p',
        access_key: 'AK',
        secret_key: 'SK',
      });
      // no secret in it: any mode
      writeFileSync(join(dir, 'public.json'), JSON.stringify({ endpoint: 'http://x' }), { mode: 0o644 });
      expect(readProfile(join(dir, 'public.json'))).toEqual({ endpoint: 'http://x' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a link, a missing file or a non-object is refused with the file named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dwsbox-profile-'));
    try {
      writeFileSync(join(dir, 'real.json'), '{}', { mode: 0o600 });
      symlinkSync(join(dir, 'real.json'), join(dir, 'link.json'));
      expect(() => readProfile(join(dir, 'link.json'))).toThrow(/symbolic link/);
      expect(() => readProfile(join(dir, 'none.json'))).toThrow(/cannot read the profile .*none\.json/);
      writeFileSync(join(dir, 'list.json'), '[1]', { mode: 0o600 });
      expect(() => readProfile(join(dir, 'list.json'))).toThrow(/JSON object/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

it('the warning for a secret argument names the flag and the better ways', () => {
  let text = '';
  const err = new Writable({
    write: (c: Buffer, _e, cb) => {
      text += c.toString();
      cb();
    },
  });
  warnSecretArgument('--password', 'DWSBOX_USER_PASSWORD or --password-stdin', err);
  expect(text).toBe(
    'dwsbox: warning: --password on the command line can be read by other users of this host (ps, /proc) and stays in the shell history; use DWSBOX_USER_PASSWORD or --password-stdin instead\n',
  );
});
