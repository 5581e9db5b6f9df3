/**
 * Logger: a small interface over pino, with `scope(fields)` for request, cluster, task and
 * step ids. Secrets never reach the log: the redact list below censors them wherever they
 * appear in a structured field, and callers never interpolate them into messages.
 */
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export interface Logger {
  error(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
  info(msg: string, meta?: Record<string, unknown>): void;
  debug(msg: string, meta?: Record<string, unknown>): void;
  /** A child logger whose lines all carry `fields`. */
  scope(fields: Record<string, unknown>): Logger;
  /**
   * The same output without the redact list, for lines whose fields cannot hold a secret (the
   * request line: redaction was 4 % of the API's CPU time, issue 14), written once per turn of
   * the event loop (TurnBatch). Never for anything else.
   */
  readonly unredacted: Logger;
  /** Write out buffered lines now (before the process is killed on purpose). */
  flushSync(): void;
  /** The pino instance, for Fastify. */
  readonly pino: PinoLogger;
}

/** Field paths that must never be logged in clear. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'user_pwd',
  '*.user_pwd',
  'db_password',
  '*.db_password',
  'new_password',
  '*.new_password',
  'secret',
  '*.secret',
  'secretKey',
  '*.secretKey',
  'secret_key',
  '*.secret_key',
  'sk',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers["x-auth-token"]',
  'headers["x-auth-token"]',
  'PGPASSWORD',
  '*.PGPASSWORD',
  'env.PGPASSWORD',
  'repoS3Key',
  '*.repoS3Key',
  'repoS3KeySecret',
  '*.repoS3KeySecret',
  'PGBACKREST_REPO1_S3_KEY',
  '*.PGBACKREST_REPO1_S3_KEY',
  'PGBACKREST_REPO1_S3_KEY_SECRET',
  '*.PGBACKREST_REPO1_S3_KEY_SECRET',
];

class PinoBacked implements Logger {
  constructor(
    readonly pino: PinoLogger,
    private readonly plain?: PinoLogger,
  ) {}
  get unredacted(): Logger {
    return this.plain ? new PinoBacked(this.plain) : this;
  }
  error(msg: string, meta?: Record<string, unknown>): void {
    this.pino.error(meta ?? {}, msg);
  }
  warn(msg: string, meta?: Record<string, unknown>): void {
    this.pino.warn(meta ?? {}, msg);
  }
  info(msg: string, meta?: Record<string, unknown>): void {
    this.pino.info(meta ?? {}, msg);
  }
  debug(msg: string, meta?: Record<string, unknown>): void {
    this.pino.debug(meta ?? {}, msg);
  }
  scope(fields: Record<string, unknown>): Logger {
    return new PinoBacked(this.pino.child(fields), this.plain?.child(fields));
  }
  flushSync(): void {
    const stream = (this.pino as unknown as Record<symbol, { flushSync?: () => void } | undefined>)[pino.symbols.streamSym];
    try {
      stream?.flushSync?.();
    } catch {
      /* nothing buffered, or the stream is not synchronous */
    }
  }
}

export interface CreateLoggerOptions {
  level?: string;
  pretty?: boolean;
  destination?: DestinationStream;
}

/**
 * Lines kept until the end of the event loop's turn, then written in one write (the request
 * lines: one write(2) per request was about 45 % of `/healthz`'s time, issue 14). Every write of
 * the logger's other lines writes these first, so the file keeps the order lines were made in;
 * at exit and on `flushSync` they are written at once. A process killed outright loses at most
 * the request lines of its last turn.
 */
class TurnBatch implements DestinationStream {
  private parts: string[] = [];
  private size = 0;
  private scheduled = false;
  constructor(private readonly target: DestinationStream) {
    batches.add(this);
  }
  write(line: string): void {
    this.parts.push(line);
    this.size += line.length;
    if (this.size >= 64 * 1024) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }
  readonly flush = (): void => {
    this.scheduled = false;
    if (!this.parts.length) return;
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    this.target.write(text);
  };
}
const batches = new Set<TurnBatch>();
process.once('exit', () => {
  for (const b of batches) b.flush();
});

export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  const options = {
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const { redact: _redact, ...plain } = options;
  if (opts.pretty && !opts.destination) {
    // A terminal: pino-pretty's worker; the request lines on the same stream, unbatched.
    const p = pino({ ...options, transport: { target: 'pino-pretty' } });
    return new PinoBacked(p, pino(plain, (p as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!));
  }
  // pino's own default destination (standard output, synchronous writes), unless one is given.
  const dest = opts.destination ?? pino.destination({ dest: 1, sync: true });
  const requests = new TurnBatch(dest);
  const ordered = {
    write(line: string): void {
      requests.flush();
      dest.write(line);
    },
    flushSync(): void {
      requests.flush();
      (dest as DestinationStream & { flushSync?: () => void }).flushSync?.();
    },
  };
  return new PinoBacked(pino(options, ordered), pino(plain, requests));
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return new PinoBacked(pino({ level: 'silent' }));
}
