/** The part of autocannon 9's programmatic API that bench/http.ts uses (the package ships no types). */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  export interface Options {
    /** one target, or several: connections go to them in turn */
    url: string | string[];
    connections?: number;
    /** seconds */
    duration?: number;
    method?: string;
    headers?: Record<string, string>;
    /** seconds a request may take before it counts as a timeout (default 10) */
    timeout?: number;
    pipelining?: number;
  }

  export interface Result {
    /** seconds */
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    resets: number;
    '2xx': number;
    requests: { total: number; sent: number; average: number };
    throughput: { total: number; average: number };
    statusCodeStats: Record<string, { count: number }>;
  }

  /** Emits 'response' (client, statusCode, bytes, responseTimeMs) for every answer; awaitable for the result. */
  export interface Instance extends EventEmitter, PromiseLike<Result> {
    stop(): void;
  }

  export default function autocannon(options: Options): Instance;
}
