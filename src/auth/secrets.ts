/**
 * Secrets at rest (design D17): secret keys and cluster passwords are encrypted with
 * AES-256-GCM under a master key from DWSBOX_MASTER_KEY or a key file in the data directory
 * (shared by every process on one store; kept 0600 and owned by the service's user, tightened
 * at every load); user passwords are hashed with scrypt, always off the event loop (libuv's
 * thread pool); tokens are kept as SHA-256 hashes.
 */
import { createCipheriv, createDecipheriv, hash as digest, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
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
    const hex = readPrivateFile(keyFile).trim();
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

/**
 * The key file's text, read without following a link and only from a regular file; a file
 * that others could read (or that belongs to another user) is tightened to 0600 and the
 * service's user first, so the key never stays readable by a cluster's OS user.
 */
function readPrivateFile(file: string): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`master key file ${file} is not a regular file`);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) fchownSync(fd, uid, process.getgid?.() ?? st.gid);
    if ((st.mode & 0o777) !== 0o600) fchmodSync(fd, 0o600);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

const SCRYPT: ScryptOptions = { N: 16384, r: 8, p: 1 };

/** scrypt in libuv's thread pool: a password check never holds the event loop (about 40 ms of CPU each). */
function scryptAsync(password: string, salt: Buffer, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, length, SCRYPT, (e, key) => (e ? reject(e) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, 32);
  return `scrypt:${salt.toString('base64')}:${hash.toString('base64')}`;
}

/**
 * A hash of a random password nobody knows, with the same parameters as every stored one: a
 * sign-in with an unknown user name is checked against it, so it costs what a known name
 * costs and its answer time does not tell which names exist.
 */
export const DUMMY_PASSWORD_HASH = 'scrypt:sLbq3ge9+T2ZBGQxwlzqYg==:PkJjzJ4yRZ9DZ17v0nt5t7Jyi9v0HVfDnySz65k10TY=';

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  let [alg, salt, hash] = stored.split(':');
  const wellFormed = alg === 'scrypt' && !!salt && !!hash;
  // A malformed stored hash costs a full check too (against the dummy), then fails.
  if (!wellFormed) [alg, salt, hash] = DUMMY_PASSWORD_HASH.split(':');
  const want = Buffer.from(hash!, 'base64');
  const got = await scryptAsync(password, Buffer.from(salt!, 'base64'), want.length);
  return wellFormed && timingSafeEqual(want, got);
}

export const sha256Hex = (s: string | Buffer): string => digest('sha256', s, 'hex');
