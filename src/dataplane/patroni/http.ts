/**
 * The one HTTP helper of the Patroni building blocks: a JSON (or text) call over undici's
 * `request` with a deadline, that always reads the body (an unread body keeps undici's
 * connection busy) and never throws on an HTTP status: the callers classify statuses
 * themselves (etcd's gateway answers 4xx with a gRPC code, Patroni answers text).
 */
import { request, type Dispatcher } from 'undici';

export interface HttpAnswer {
  status: number;
  /** the body as text ('' when empty) */
  text: string;
  /** the body parsed as JSON, or undefined when it is not JSON */
  json: unknown;
}

export interface HttpCall {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  url: string;
  /** sent as JSON when given */
  body?: unknown;
  headers?: Record<string, string>;
  /** for the whole call (connect, headers and body); default 5 s */
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
  /** e.g. an undici `Agent` that trusts a private CA (the fleet's etcd over TLS, issue 18) */
  dispatcher?: Dispatcher | undefined;
}

/** Make one call. Throws only when no answer came (refused, reset, timed out, aborted). */
export async function httpCall(c: HttpCall): Promise<HttpAnswer> {
  const timeout = AbortSignal.timeout(c.timeoutMs ?? 5000);
  const signal = c.signal ? AbortSignal.any([c.signal, timeout]) : timeout;
  const headers: Record<string, string> = { ...(c.headers ?? {}) };
  let body: string | undefined;
  if (c.body !== undefined) {
    body = JSON.stringify(c.body);
    headers['content-type'] = 'application/json';
  }
  let res: Awaited<ReturnType<typeof request>>;
  let text: string;
  try {
    res = await request(c.url, {
      method: c.method,
      headers,
      ...(body === undefined ? {} : { body }),
      ...(c.dispatcher ? { dispatcher: c.dispatcher } : {}),
      signal,
    });
    text = await res.body.text();
  } catch (e) {
    // Our own limit, not the caller's abort: say which call gave no answer (a bare TimeoutError names none).
    if (timeout.aborted && !c.signal?.aborted)
      throw new Error(`${c.method} ${c.url}: no answer within ${(c.timeoutMs ?? 5000) / 1000} s`, { cause: e });
    throw e;
  }
  let json: unknown;
  try {
    json = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, text, json };
}

/** `Authorization: Basic …` for a user and password. */
export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
