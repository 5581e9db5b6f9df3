import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DUMMY_PASSWORD_HASH, hashPassword, Secrets, verifyPassword } from './secrets.js';

describe('passwords (scrypt)', () => {
  it('hash and verify, off the event loop: a callback queued before the check runs before it ends', async () => {
    const stored = await hashPassword('Alice-Pass-123');
    expect(stored).toMatch(/^scrypt:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    // A synchronous scrypt would finish before setImmediate's turn: the flag would still be false.
    let ticked = false;
    setImmediate(() => {
      ticked = true;
    });
    expect(await verifyPassword('Alice-Pass-123', stored)).toBe(true);
    expect(ticked).toBe(true);
    expect(await verifyPassword('alice-pass-123', stored)).toBe(false);
  });

  it("the dummy hash has the stored hashes' form (so checking it costs the same) and matches no password tried", async () => {
    const real = (await hashPassword('x-Password-1')).split(':');
    const dummy = DUMMY_PASSWORD_HASH.split(':');
    expect(dummy[0]).toBe('scrypt');
    expect(Buffer.from(dummy[1]!, 'base64').length).toBe(Buffer.from(real[1]!, 'base64').length);
    expect(Buffer.from(dummy[2]!, 'base64').length).toBe(Buffer.from(real[2]!, 'base64').length);
    for (const guess of ['', 'password', 'Alice-Pass-123']) expect(await verifyPassword(guess, DUMMY_PASSWORD_HASH)).toBe(false);
  });

  it('a malformed stored hash never verifies', async () => {
    for (const bad of ['', 'md5:x:y', 'scrypt::', 'scrypt:abc']) expect(await verifyPassword('anything', bad)).toBe(false);
  });
});

describe('the master key file', () => {
  it('is created 0600, and a loosened one is tightened to 0600 at load', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dwsbox-key-'));
    try {
      const file = join(dir, 'master.key');
      const a = Secrets.load(null, file);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      chmodSync(file, 0o644);
      const b = Secrets.load(null, file);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(b.decrypt(a.encrypt('same key'))).toBe('same key');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a symbolic link at its place is refused, and its target is left as it was', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dwsbox-key-'));
    try {
      const target = join(dir, 'elsewhere');
      writeFileSync(target, `${'ab'.repeat(32)}\n`, { mode: 0o644 });
      symlinkSync(target, join(dir, 'master.key'));
      expect(() => Secrets.load(null, join(dir, 'master.key'))).toThrow(/ELOOP|symbolic/);
      expect(statSync(target).mode & 0o777).toBe(0o644);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
