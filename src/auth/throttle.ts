/**
 * Back-off for failed authentication (issue 12): password sign-ins (`POST /v3/auth/tokens`)
 * per user name and per source address, AK/SK signatures per access key and per source
 * address. Each key counts its failures; past a number of free failures every further one
 * blocks the key for a window that doubles (1 s, 2 s, 4 s, … by default, up to a cap). The count is
 * forgotten `windowMs` after its first failure (the decay); a success clears the count and
 * the block of the user or access key (never of the address, so one good account cannot wash
 * out another's guesses). While a key is blocked the request is refused before any check
 * runs (429 APIGW.0308 with Retry-After), so a blocked guess costs neither a scrypt nor a
 * store read, and tells nothing.
 *
 * The counters live in this process's memory (rate-limiter-flexible's RateLimiterMemory):
 * several `serve` processes on one PostgreSQL store each keep their own (docs/security.md).
 */
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Logger } from '../log/logger.js';

export interface ThrottleSettings {
  loginFailuresPerUser: number;
  loginFailuresPerAddress: number;
  signatureFailuresPerKey: number;
  signatureFailuresPerAddress: number;
  /** how long a key's failures are remembered, from its first failure */
  authFailureWindowMs: number;
  /** the first block; each further failure doubles it */
  authBlockFirstMs: number;
  /** the longest a key is blocked at once */
  authBlockMaxMs: number;
}

/** The size of the watched keys past which the expired ones are dropped. */
const WATCHED_PRUNE_AT = 10_000;

/** One kind of key (user names, addresses, access keys): its failure counts and its blocks. */
export class FailureCounter {
  private readonly failures: RateLimiterMemory;
  private readonly blocks: RateLimiterMemory;
  /**
   * Keys with a failure or a block that may still be recorded, and until when (ms): a key not
   * here (every key that never failed, the usual case) needs no lookup at all (issue 14).
   */
  private readonly watched = new Map<string, number>();

  constructor(
    private readonly kind: string,
    private readonly freeFailures: number,
    windowMs: number,
    private readonly firstBlockMs: number,
    private readonly maxBlockMs: number,
    private readonly log: Logger | null,
  ) {
    this.failures = new RateLimiterMemory({
      keyPrefix: `${kind}-failures`,
      points: freeFailures,
      duration: Math.max(1, Math.ceil(windowMs / 1000)),
    });
    // points 0: any recorded value is a block; its expiry is the block's end.
    this.blocks = new RateLimiterMemory({ keyPrefix: `${kind}-block`, points: 0, duration: Math.max(1, Math.ceil(maxBlockMs / 1000)) });
  }

  /** Whether the key may have a failure or a block recorded (false: it has neither). */
  mayHold(key: string): boolean {
    const until = this.watched.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.watched.delete(key);
    return false;
  }

  /** Milliseconds the key stays blocked, 0 when it is not. */
  async blockedMs(key: string): Promise<number> {
    if (!this.mayHold(key)) return 0;
    const r = await this.blocks.get(key);
    return r && r.msBeforeNext > 0 ? r.msBeforeNext : 0;
  }

  /** Record a failure; returns the block it starts (ms), 0 while failures are still free. */
  async fail(key: string): Promise<number> {
    const r = await this.failures.penalty(key, 1);
    this.watch(key, r.msBeforeNext);
    const over = r.consumedPoints - this.freeFailures;
    if (over <= 0) return 0;
    const ms = Math.min(this.maxBlockMs, this.firstBlockMs * 2 ** Math.min(over - 1, 30));
    await this.blocks.block(key, ms / 1000);
    this.watch(key, ms);
    this.log?.warn('authentication back-off', { kind: this.kind, key: key.slice(0, 80), failures: r.consumedPoints, blockMs: ms });
    return ms;
  }

  async clear(key: string): Promise<void> {
    if (!this.watched.delete(key)) return;
    await Promise.all([this.failures.delete(key), this.blocks.delete(key)]);
  }

  private watch(key: string, ms: number): void {
    const now = Date.now();
    // A second of margin over the limiter's own rounding of its expiries.
    this.watched.set(key, Math.max(this.watched.get(key) ?? 0, now + ms + 1000));
    if (this.watched.size > WATCHED_PRUNE_AT) for (const [k, until] of this.watched) if (until <= now) this.watched.delete(k);
  }
}

/** The four counters the service keeps, built from the settings. */
export class AuthThrottle {
  readonly loginUser: FailureCounter;
  readonly loginAddress: FailureCounter;
  readonly signatureKey: FailureCounter;
  readonly signatureAddress: FailureCounter;

  constructor(s: ThrottleSettings, log: Logger | null = null) {
    const c = (kind: string, free: number): FailureCounter =>
      new FailureCounter(kind, free, s.authFailureWindowMs, s.authBlockFirstMs, s.authBlockMaxMs, log);
    this.loginUser = c('login-user', s.loginFailuresPerUser);
    this.loginAddress = c('login-address', s.loginFailuresPerAddress);
    this.signatureKey = c('signature-key', s.signatureFailuresPerKey);
    this.signatureAddress = c('signature-address', s.signatureFailuresPerAddress);
  }
}

/** The longest block among `counters` for their keys (0: none is blocked). */
export async function longestBlock(checks: [FailureCounter, string][]): Promise<number> {
  const ms = await Promise.all(checks.map(([c, k]) => c.blockedMs(k)));
  return Math.max(0, ...ms);
}
