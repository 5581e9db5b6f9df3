/**
 * A small DWS API client: signs every request with AK/SK (SDK-HMAC-SHA256) or sends a
 * token. The CLI, the console's tests and the benchmarks use it, so they exercise the same
 * contract as every other client.
 *
 * Requests go through undici's `request` (keep-alive connections of its global dispatcher),
 * not `fetch`: on Node 20 a `fetch` costs the caller 190–270 µs of CPU, `request` 36–53 µs
 * (measured against a bare Fastify route, 50 concurrent callers), and the load benchmark's 50
 * pollers were measuring their own `fetch` as much as the service (bench/README.md, issue 14).
 */
import { request as undiciRequest } from 'undici';
import { signRequest } from '../auth/signer.js';

export interface ClientOptions {
  endpoint: string;
  projectId: string;
  accessKey?: string;
  secretKey?: string;
  token?: string;
  language?: string;
  /** request timeout */
  timeoutMs?: number;
}

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

export class DwsClient {
  constructor(readonly o: ClientOptions) {}

  /** Replace `{project_id}` in a path. */
  path(p: string): string {
    return p.replace('{project_id}', encodeURIComponent(this.o.projectId));
  }

  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const url = new URL(this.path(path), this.o.endpoint);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {
      'content-type': 'application/json;charset=UTF-8',
      'x-project-id': this.o.projectId,
      ...extraHeaders,
    };
    if (this.o.language) headers['x-language'] = this.o.language;
    if (this.o.token) headers['x-auth-token'] = this.o.token;
    else if (this.o.accessKey && this.o.secretKey) {
      Object.assign(
        headers,
        signRequest({ method, url: url.pathname + url.search, headers, body: payload, host: url.host }, this.o.accessKey, this.o.secretKey),
      );
    }
    // The timeout bounds the wait for the answer's head and then for each part of its body.
    const timeout = this.o.timeoutMs ?? 60_000;
    const res = await undiciRequest(url, {
      method: method as 'GET',
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      /* not JSON */
    }
    // The headers are made a Headers object only when someone reads them (most callers never do).
    let answerHeaders: Headers | undefined;
    return {
      status: res.statusCode,
      body: parsed as T,
      get headers(): Headers {
        return (answerHeaders ??= toHeaders(res.headers));
      },
    };
  }

  /** Like request, but throws ApiError on a non-2xx answer. */
  async call<T = unknown>(method: string, path: string, body?: unknown, extraHeaders?: Record<string, string>): Promise<T> {
    const r = await this.request<T>(method, path, body, extraHeaders);
    if (r.status >= 300) {
      const b = r.body as { error_code?: string; error_msg?: string };
      throw new ApiError(r.status, b?.error_code ?? `HTTP ${r.status}`, b?.error_msg ?? String(r.body), r.headers.get('x-request-id'));
    }
    return r.body;
  }
}

function toHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const h = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (Array.isArray(value)) for (const v of value) h.append(name, v);
    else if (value !== undefined) h.set(name, value);
  }
  return h;
}
