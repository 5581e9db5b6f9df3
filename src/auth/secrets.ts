/**
 * Secrets at rest (design D17): secret keys and cluster passwords are encrypted with
 * AES-256-GCM under a master key from DWSBOX_MASTER_KEY or a key file in the data directory
 * (shared by every process on one store); user passwords are hashed with scrypt; tokens are
 * kept as SHA-256 hashes.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class Secrets {
  private constructor(private readonly key: Buffer) {}

  static fromHex(hex: string): Secrets {
    return new Secrets(Buffer.from(hex, 'hex'));
  }

  /** The configured key, or the key file (created with mode 0600 on first use). */
  static load(masterKey: string | null, keyFile: string): Secrets {
    if (masterKey) return Secrets.fromHex(masterKey);
    if (!existsSync(keyFile)) {
      mkdirSync(dirname(keyFile), { recursive: true });
      // Written whole to a file of our own, then linked into place: a process starting at the
      // same moment on the same data directory sees no key file or a complete one, never an
      // empty one, and the first link wins (every process then uses that key).
      const tmp = `${keyFile}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      writeFileSync(tmp, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
      try {
        linkSync(tmp, keyFile);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    const hex = readFileSync(keyFile, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error(`master key file ${keyFile} is damaged: expected 64 hex characters`);
    return Secrets.fromHex(hex);
  }

  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return ['v1', iv.toString('base64'), c.getAuthTag().toString('base64'), body.toString('base64')].join(':');
  }

  decrypt(sealed: string): string {
    const [v, iv, tag, body] = sealed.split(':');
    if (v !== 'v1' || !iv || !tag || body === undefined) throw new Error('unknown secret format');
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    d.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(body, 'base64')), d.final()]).toString('utf8');
  }
}

export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, 32, { N: 16384, r: 8, p: 1 });
  return `scrypt:${salt.toString('base64')}:${hash.toString('base64')}`;
}

export function verifyPassword(password: string, stored: string): boolean {
  const [alg, salt, hash] = stored.split(':');
  if (alg !== 'scrypt' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64');
  const got = scryptSync(password, Buffer.from(salt, 'base64'), want.length, { N: 16384, r: 8, p: 1 });
  return timingSafeEqual(want, got);
}

export const sha256Hex = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
