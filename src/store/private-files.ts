/**
 * The SQLite store holds sealed secrets, password and token hashes and every tenant's
 * records: its file and SQLite's `-wal` and `-shm` files beside it are 0600, owned by the
 * service's user (issue 12). SQLite creates the `-wal` and `-shm` files with the mode of the
 * database file, so the database file is created 0600 before SQLite opens it; files that
 * exist already (an older data directory, a copy) are tightened at every open.
 */
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/** The files of a SQLite database: the file itself and its write-ahead log and shared-memory index. */
export const sqliteFiles = (file: string): string[] => [file, `${file}-wal`, `${file}-shm`];

/**
 * Make `path` a 0600 regular file of this process's user: created empty when `create` and it
 * is missing; otherwise tightened when it exists (a missing one is left missing). Links are
 * never followed; a link or a special file at `path` is an error.
 */
export function privateFile(path: string, create: boolean): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK | (create ? constants.O_CREAT : 0), 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !create) return;
    if (code === 'ELOOP') throw new Error(`${path} is a symbolic link; the store must be a regular file`, { cause: e });
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) fchownSync(fd, uid, process.getgid?.() ?? st.gid);
    if ((st.mode & 0o777) !== 0o600) fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

/** Create the database file 0600 if it is missing, and tighten it and its `-wal`/`-shm` files. */
export function privateSqliteFiles(file: string): void {
  if (file === ':memory:' || file === '') return;
  const [db, ...rest] = sqliteFiles(file);
  mkdirSync(dirname(db!), { recursive: true });
  privateFile(db!, true);
  for (const f of rest) privateFile(f, false);
}
