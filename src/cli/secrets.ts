/**
 * Secrets on the command line (issue 12): an argument is readable by every user of the host
 * (`ps`, /proc/PID/cmdline) and stays in shell history, so the CLI takes secret keys and
 * passwords from the environment, a profile file that only its owner can read, or standard
 * input (`--password-stdin`, `--secret-key-stdin`), and warns on standard error when one
 * still comes as an argument. The profile file is JSON (README, "Commands"); one that
 * holds a secret and that others may read is refused, as ssh refuses such a key.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';

/** Warn (stderr) that `flag` carried a secret as an argument, naming the better ways. */
export function warnSecretArgument(flag: string, instead: string, err: NodeJS.WritableStream = process.stderr): void {
  err.write(
    `dwsbox: warning: ${flag} on the command line can be read by other users of this host (ps, /proc) and stays in the shell history; use ${instead} instead\n`,
  );
}

/**
 * All of standard input, less one trailing newline (`printf '%s\n' "$PW" | …` and `… < file`
 * both work). Empty input is an error: a secret is never empty.
 */
export async function readSecretFromStdin(what: string, input: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (text === '') throw new SecretSourceError(`${what}: standard input was empty`);
  if (text.includes('\n')) throw new SecretSourceError(`${what}: standard input holds more than one line`);
  return text;
}

export class SecretSourceError extends Error {
  override name = 'SecretSourceError';
}

/**
 * Read the JSON profile at `file`: a regular file (links are not followed). When it holds a
 * `secret_key`, it must be readable by its owner only (mode 0600 or stricter), else it is
 * refused with the chmod that fixes it.
 */
export function readProfile(file: string): Record<string, string> {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new SecretSourceError(`the profile ${file} is a symbolic link; point --profile at the file itself`);
    throw new SecretSourceError(`cannot read the profile ${file}: ${(e as Error).message}`);
  }
  let text: string;
  let mode: number;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SecretSourceError(`the profile ${file} is not a regular file`);
    mode = st.mode & 0o777;
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let profile: unknown;
  try {
    profile = JSON.parse(text);
  } catch (e) {
    throw new SecretSourceError(`cannot read the profile ${file}: ${(e as Error).message}`);
  }
  if (typeof profile !== 'object' || profile === null || Array.isArray(profile))
    throw new SecretSourceError(`the profile ${file} must hold a JSON object`);
  const p = profile as Record<string, unknown>;
  if (p['secret_key'] !== undefined && (mode & 0o077) !== 0) {
    throw new SecretSourceError(
      `the profile ${file} holds a secret key and others can read it (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${file}`,
    );
  }
  return Object.fromEntries(Object.entries(p).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
}
