/**
 * File operations of a root service next to directories a tenant's OS user can write (D32:
 * "root never follows a tenant's path").
 *
 * The layout keeps every directory on the way to a tenant-writable directory owned by root
 * (the data directory, `clusters/<id>/node<i>/`, `s/`, `tmp/<task>/`, `locks/`, `stanzas/`),
 * so the only places a tenant can plant a symlink or a FIFO are inside its own directories
 * (a data directory, a socket directory, a dump directory). There:
 * - a directory is made or fixed through a descriptor opened with `O_NOFOLLOW|O_DIRECTORY`
 *   (`fchown`/`fchmod`, never the path-following `chown`/`chmod`);
 * - a file is written to a new name created with `O_CREAT|O_EXCL|O_NOFOLLOW` (a planted link
 *   makes the create fail), owned and moded through its descriptor, then renamed over the
 *   final name (a planted link there is replaced, never written through);
 * - a file is read with `O_NOFOLLOW|O_NONBLOCK`, only when it is a regular file, up to a cap
 *   (a FIFO cannot hang the service, a link cannot point it at root's files);
 * - a tree is removed by GNU `rm -rf --one-file-system`, which walks with descriptors and
 *   never follows a link (Node's recursive `rm` walks by path and can be raced).
 */
import {
  closeSync,
  constants as C,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { AppError } from '../errors/app-error.js';
import type { OsUser } from './os-user.js';
import { runTool, baseEnv } from './pg-exec.js';

export interface Owner {
  uid: number;
  gid: number;
}

/** Root's own files (the service's user when it does not run as root). */
export function serviceOwner(): Owner {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

/** A project's OS user owns it (its data, sockets, repository, dumps). */
export function ownedBy(u: OsUser): Owner {
  return { uid: u.uid, gid: u.gid };
}

/** Root's, readable by a project user's group (its stanza configs and credentials, D32). */
export function rootWithGroupOf(u: OsUser): Owner {
  return { uid: serviceOwner().uid, gid: u.gid };
}

const canChown = (): boolean => process.getuid?.() === 0;

function unsafe(path: string, why: string): AppError {
  return new AppError('UNSAFE_PATH', { args: [path, why] });
}

/**
 * Make (or fix) a directory: created when missing (its parent must exist), then owned and
 * moded through a descriptor opened without following a link. A link or a non-directory
 * at `path` is refused (UNSAFE_PATH), never followed.
 */
export function mkdirSafe(path: string, owner: Owner, mode: number): void {
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw unsafe(path, 'it is a symbolic link or not a directory');
    throw e;
  }
  try {
    if (canChown()) fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}

/**
 * `path` is a directory of `owner`'s, not a link nor anything else (UNSAFE_PATH otherwise).
 * Checked by name: meaningful where the parent is root's, so the name cannot change after.
 */
export function expectOwnedDir(path: string, owner: Owner): void {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) throw unsafe(path, 'it does not exist');
  if (!st.isDirectory()) throw unsafe(path, 'it is a symbolic link or not a directory');
  if (canChown() && st.uid !== owner.uid) throw unsafe(path, `it belongs to uid ${st.uid}, not ${owner.uid}`);
}

/** `mkdirSafe` for a path whose missing parents are made as root-owned, traversable (0711) directories. */
export function mkdirsSafe(path: string, owner: Owner, mode: number, parentOwner: Owner = serviceOwner()): void {
  const missing: string[] = [];
  for (let p = dirname(path); !exists(p); p = dirname(p)) missing.unshift(p);
  for (const p of missing) mkdirSafe(p, parentOwner, 0o711);
  mkdirSafe(path, owner, mode);
}

function exists(p: string): boolean {
  try {
    const fd = openSync(p, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    closeSync(fd);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/**
 * Write a whole file: a new, uniquely named file in the same directory (`O_EXCL|O_NOFOLLOW`),
 * owned and moded through its descriptor, synced, then renamed over `path`.
 */
export function writeFileSafe(path: string, content: string | Buffer, owner: Owner, mode: number): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw unsafe(dirname(path), 'a component is a symbolic link or not a directory');
    throw e;
  }
  try {
    const buf = typeof content === 'string' ? Buffer.from(content) : content;
    for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
    if (canChown()) fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, mode);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** Files a tenant can write are read up to this size unless told otherwise. */
export const READ_CAP = 1024 * 1024;

/**
 * Read a file that a tenant could have replaced: no link followed, only a regular file
 * (a FIFO or device is refused without blocking), at most `cap` bytes. Null when missing.
 */
export function readFileSafe(path: string, cap = READ_CAP): string | null {
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw unsafe(path, 'it is a symbolic link');
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw unsafe(path, 'it is not a regular file');
    if (st.size > cap) throw unsafe(path, `it is larger than ${cap} bytes`);
    const buf = Buffer.alloc(Math.min(st.size, cap));
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Remove a tree with GNU `rm -rf --one-file-system`, which never follows a link while it
 * walks (safe when a tenant can change the tree meanwhile). Missing: nothing to do.
 */
export async function removeTree(path: string, o: { signal?: AbortSignal } = {}): Promise<void> {
  if (!exists(path)) return;
  await runTool({
    cmd: 'rm',
    args: ['-rf', '--one-file-system', '--', path],
    env: baseEnv(),
    label: 'rm',
    timeoutMs: 30 * 60_000,
    ...(o.signal ? { signal: o.signal } : {}),
  });
}

/** The last `bytes` of a log file (read from its end, never the whole file), or '(no log)'. */
export function readTail(path: string, bytes = 2000): string {
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch {
    return '(no log)';
  }
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, bytes));
    readSync(fd, buf, 0, buf.length, size - buf.length);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
