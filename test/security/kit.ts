/**
 * Tools of the host attack suite (test/security/host.test.ts, design D32): commands run as a
 * project's OS user (what a tenant that reached its own OS user can do), links and FIFOs
 * planted as that user, root-owned victim files and what they look like, SQL as a cluster's
 * administrator with the SQLSTATE of a refusal, and the code a tenant plants for dwsbox's
 * superuser to run.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { ADMIN_PASSWORD } from '../helpers/service.js';

export interface Ids {
  uid: number;
  gid: number;
}
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a command as `u` (its uid and gid, no supplementary groups, no home: what dwsbox's own
 * tools of that project get), never through a shell unless `cmd` is one.
 */
export function asUser(u: Ids, cmd: string, args: string[], env: Record<string, string> = {}): RunResult {
  const r = spawnSync('setpriv', [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups', '--', cmd, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    cwd: '/',
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/nonexistent', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', ...env },
  });
  return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/** As `u`: replace whatever is at `path` by a symbolic link to `target`. Throws when `u` cannot. */
export function plantLink(u: Ids, path: string, target: string): void {
  const r = asUser(u, 'ln', ['-sfnT', '--', target, path]);
  if (r.code !== 0) throw new Error(`cannot plant a link at ${path} as uid ${u.uid}: ${r.stderr}`);
}

/** As `u`: replace whatever is at `path` by a FIFO. Throws when `u` cannot. */
export function plantFifo(u: Ids, path: string): void {
  const r = asUser(u, 'sh', ['-c', 'rm -f -- "$1" && mkfifo -m 600 -- "$1"', 'sh', path]);
  if (r.code !== 0) throw new Error(`cannot plant a FIFO at ${path} as uid ${u.uid}: ${r.stderr}`);
}

/** What is at a path, never following a link: its kind, owner, mode, and a file's content or a link's target. */
export interface Facts {
  kind: string;
  uid: number;
  gid: number;
  mode: string;
  content: string | null;
}

export function facts(path: string): Facts {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return { kind: 'missing', uid: -1, gid: -1, mode: '', content: null };
  const kind = st.isSymbolicLink()
    ? 'link'
    : st.isFIFO()
      ? 'fifo'
      : st.isDirectory()
        ? 'dir'
        : st.isFile()
          ? 'file'
          : st.isSocket()
            ? 'socket'
            : 'other';
  let content: string | null = null;
  if (kind === 'file') content = readFileSync(path, 'utf8');
  if (kind === 'dir') content = readdirSync(path).sort().join(',');
  return { kind, uid: st.uid, gid: st.gid, mode: (st.mode & 0o7777).toString(8).padStart(4, '0'), content };
}

/**
 * Root-owned files and directories made for an attack to aim at: each is 0600 (a directory
 * 0700 holding one such file) with content no one else writes. `changed()` lists every one
 * that is not exactly as made (content, owner, mode), so a test asserts it is empty.
 */
export class Victims {
  private readonly made = new Map<string, Facts>();
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o711);
  }

  file(name: string): string {
    const p = join(this.dir, name);
    writeFileSync(p, `victim ${name} ${randomBytes(8).toString('hex')}\n`, { mode: 0o600 });
    chownSync(p, 0, 0);
    chmodSync(p, 0o600);
    this.made.set(p, facts(p));
    return p;
  }

  directory(name: string): string {
    const d = join(this.dir, name);
    mkdirSync(d, { mode: 0o700 });
    chmodSync(d, 0o700);
    this.made.set(d, facts(d));
    const inside = join(d, 'keep');
    writeFileSync(inside, `victim ${name}/keep\n`, { mode: 0o600 });
    this.made.set(inside, facts(inside));
    this.made.set(d, facts(d));
    return d;
  }

  /** Every victim that changed, with what it was and what it is. */
  changed(): { path: string; was: Facts; now: Facts }[] {
    return [...this.made]
      .map(([path, was]) => ({ path, was, now: facts(path) }))
      .filter((x) => JSON.stringify(x.was) !== JSON.stringify(x.now));
  }
}

/** A client as `user` over TCP to `endpoint` (`host:port`). */
export async function connectAs(endpoint: string, o: { user?: string; password?: string; database?: string } = {}): Promise<pg.Client> {
  const [host, port] = endpoint.split(':');
  const c = new pg.Client({
    host,
    port: Number(port),
    user: o.user ?? 'dbadmin',
    password: o.password ?? ADMIN_PASSWORD,
    database: o.database ?? 'postgres',
    connectionTimeoutMillis: 10_000,
  });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** The SQLSTATE and message a statement is refused with, or null when it succeeded. */
export async function refusal(c: pg.Client, text: string): Promise<{ code: string; message: string } | null> {
  try {
    await c.query(text);
    return null;
  } catch (e) {
    const x = e as { code?: string; message?: string };
    return { code: x.code ?? '?', message: x.message ?? String(e) };
  }
}

/**
 * The planted code: `<schema>.note(tag)` says in the server log (`RAISE WARNING`, which
 * reaches the log from any database, a scratch one that is dropped afterwards included) who
 * runs it, then tries to become the session's authenticated user (`RESET ROLE`, `SET SESSION
 * AUTHORIZATION DEFAULT`: how code run under `SET ROLE` by a superuser session escapes), and
 * when it is a superuser it says so and writes a file into `escapeDir` with `COPY … TO` (a
 * server-file write, the first step to the host). It returns true, so checks and policies
 * built on it pass and the operations go on.
 */
export function plantedNoteSql(schema: string, escapeDir: string): string {
  const s = `"${schema}"`;
  return `
    create or replace function ${s}.note(tag text) returns boolean language plpgsql as $planted$
    declare
      su boolean;
    begin
      raise warning 'dwsbox-planted tag=% cu=% su=%', tag, current_user, session_user;
      select r.rolsuper into su from pg_catalog.pg_roles r where r.rolname = current_user;
      if not su then
        begin
          execute 'reset role';
        exception when others then null;
        end;
        begin
          execute 'set session authorization default';
        exception when others then null;
        end;
        select r.rolsuper into su from pg_catalog.pg_roles r where r.rolname = current_user;
      end if;
      if su then
        raise warning 'dwsbox-planted ESCAPED tag=% cu=% su=%', tag, current_user, session_user;
        execute pg_catalog.format('copy (select %L) to %L', tag || ' ' || current_user,
          '${escapeDir}/escaped-' || tag || '-' || pg_catalog.pg_backend_pid());
      end if;
      return true;
    end
    $planted$;
    grant execute on function ${s}.note(text) to public;
  `;
}

/**
 * Functions in `public` named like the catalog functions dwsbox's superuser calls, with
 * argument types that win over the catalog's when `public` is on the search path (an exact
 * `oid` match beats pg_catalog's `regclass`; `text` is preferred for an untyped parameter):
 * each notes itself through `<noteSchema>.note` and returns the real answer.
 */
export function plantedCatalogShadowsSql(noteSchema: string): string {
  const n = `"${noteSchema}".note`;
  return `
    create or replace function public.pg_total_relation_size(oid) returns bigint language plpgsql as $p$
      begin perform ${n}('pg_total_relation_size'); return pg_catalog.pg_total_relation_size($1::regclass); end $p$;
    create or replace function public.pg_table_size(oid) returns bigint language plpgsql as $p$
      begin perform ${n}('pg_table_size'); return pg_catalog.pg_table_size($1::regclass); end $p$;
    create or replace function public.pg_database_size(text) returns bigint language plpgsql as $p$
      begin perform ${n}('pg_database_size'); return pg_catalog.pg_database_size($1::name); end $p$;
  `;
}

/** One line the planted code wrote into a server log. */
export interface PlantedRun {
  tag: string;
  cu: string;
  su: string;
  escaped: boolean;
}

/** The planted code's lines in a server log, from byte `from` on. */
export function plantedRuns(logFile: string, from = 0): PlantedRun[] {
  const text = readFileSync(logFile).subarray(from).toString('utf8');
  const out: PlantedRun[] = [];
  for (const m of text.matchAll(/WARNING:\s+dwsbox-planted (ESCAPED )?tag=(\S+) cu=(\S+) su=(\S+)/g)) {
    out.push({ escaped: !!m[1], tag: m[2]!, cu: m[3]!, su: m[4]! });
  }
  return out;
}

/** The size of a file (a log's offset to read from later). */
export function sizeOf(path: string): number {
  return lstatSync(path, { throwIfNoEntry: false })?.size ?? 0;
}

/** Whether `pid` runs (not gone, not a zombie). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !/^\S+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}
