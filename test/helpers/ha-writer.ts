/**
 * A writer for failover tests and benchmarks (issue 15): it commits numbered rows through one
 * endpoint, one at a time, and records each acknowledged one with the member that committed it
 * (a commit that errs or times out is not acknowledged, whatever became of it). On any error it
 * reconnects and goes on with the next number. Afterwards, `missing(present)` names every
 * acknowledged row a member does not have: the D25 check that no acknowledged write was lost.
 * With `lsn` (opt-in, issue 19), each acknowledgement also gets a WAL position known to be at or
 * after its commit: `pg_current_wal_insert_lsn()` read on the same session once the COMMIT has
 * returned (one more round trip per row).
 */
import pg from 'pg';

export interface Endpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  database?: string;
}

export interface Ack {
  n: number;
  /** the member that committed it (`inet_server_addr()`) */
  server: string;
  /** when its INSERT was sent, and when its acknowledgement came (ms since the epoch) */
  sent: number;
  at: number;
  /**
   * With the `lsn` option: `pg_current_wal_insert_lsn()` read on the same session after the commit
   * returned, so at or after the commit record's end (absent when that read failed).
   */
  lsn?: string;
}

export const ACKED_TABLE = 'acked';

export class Writer {
  readonly acked: Ack[] = [];
  /** failed attempts (errors, timeouts, refused connections) */
  errors = 0;
  private next = 1;
  private stopped = false;
  private done: Promise<void> | undefined;

  constructor(
    private readonly endpoint: Endpoint,
    /**
     * `table`: the table it fills (`ACKED_TABLE` unless given: two writers at once need one each);
     * `lsn`: read an LSN at or after each commit (`Ack.lsn`)
     */
    private readonly o: { pauseMs?: number; connectTimeoutMs?: number; table?: string; lsn?: boolean } = {},
  ) {}

  /** The table the writer fills (made once, before `start`). */
  static async createTable(endpoint: Endpoint, table = ACKED_TABLE): Promise<void> {
    await query(endpoint, `CREATE TABLE IF NOT EXISTS ${table} (n integer PRIMARY KEY, server text NOT NULL)`);
  }

  start(): void {
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** The first acknowledgement of a write sent after `t` (and, if given, committed by another member than `not`). */
  firstAfter(t: number, not?: string): Ack | undefined {
    return this.acked.find((a) => a.sent > t && (not === undefined || a.server !== not));
  }

  /** The longest stretch without an acknowledgement between `from` and `to` (ms), from the acknowledgements' times. */
  longestGap(from: number, to: number): number {
    const times = [from, ...this.acked.map((a) => a.at).filter((t) => t > from && t < to), to];
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
    return gap;
  }

  /** Acknowledged rows that the given set of present row numbers lacks. */
  missing(present: Set<number>): number[] {
    return this.acked.filter((a) => !present.has(a.n)).map((a) => a.n);
  }

  private async run(): Promise<void> {
    let client: pg.Client | null = null;
    while (!this.stopped) {
      try {
        if (!client) {
          client = new pg.Client({
            host: this.endpoint.host,
            port: this.endpoint.port,
            user: this.endpoint.user,
            password: this.endpoint.password,
            database: this.endpoint.database ?? 'postgres',
            connectionTimeoutMillis: this.o.connectTimeoutMs ?? 2000,
            query_timeout: 10_000,
          });
          client.on('error', () => {});
          await client.connect();
        }
        const n = this.next++;
        const sent = Date.now();
        const r = await client.query<{ server: string }>(
          `INSERT INTO ${this.o.table ?? ACKED_TABLE} (n, server) VALUES ($1, host(inet_server_addr())) RETURNING server`,
          [n],
        );
        const ack: Ack = { n, server: r.rows[0]!.server, sent, at: Date.now() };
        this.acked.push(ack);
        // Acknowledged already: a failure of this read leaves the row acknowledged, with no LSN.
        if (this.o.lsn) ack.lsn = (await client.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn')).rows[0]!.lsn;
        if (this.o.pauseMs) await sleep(this.o.pauseMs);
      } catch {
        this.errors++;
        void client?.end().catch(() => {});
        client = null;
        await sleep(50);
      }
    }
    await client?.end().catch(() => {});
  }
}

/** One statement on a fresh connection. */
export async function query<R = Record<string, unknown>>(e: Endpoint, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({
    host: e.host,
    port: e.port,
    user: e.user,
    password: e.password,
    database: e.database ?? 'postgres',
    connectionTimeoutMillis: 3000,
    query_timeout: 10_000,
  });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query(text, params)).rows as R[];
  } finally {
    await client.end().catch(() => {});
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
