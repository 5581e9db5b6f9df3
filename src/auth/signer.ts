/**
 * AK/SK request signing, `SDK-HMAC-SHA256`, exactly as the official Huawei Cloud SDK signs
 * (core/auth/AKSKSigner): canonical URI with a trailing slash, sorted and encoded query,
 * every signed header, the body's SHA-256 (or X-Sdk-Content-Sha256). The service verifies
 * with it and the CLI signs with it.
 */
import { createHmac, hash, timingSafeEqual } from 'node:crypto';

export const ALGORITHM = 'SDK-HMAC-SHA256';
export const EMPTY_BODY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** APIG refuses requests whose X-Sdk-Date is more than 15 minutes from its clock. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

const UNRESERVED = /^[A-Za-z0-9\-_.~]*$/;

/** RFC 3986 encoding: everything but A-Z a-z 0-9 - _ . ~ */
export function rfc3986(s: string): string {
  if (UNRESERVED.test(s)) return s; // most path segments and query values: nothing to encode
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** A path with nothing to encode (every API path the SDK sends): unreserved characters and `/`. */
const PLAIN_PATH = /^[A-Za-z0-9\-_.~/]*$/;

/** The path as sent, each segment encoded again (what the SDK does to the URL it sends), with a trailing `/`. */
export function canonicalUri(rawPath: string): string {
  const p = PLAIN_PATH.test(rawPath) ? rawPath : rawPath.split('/').map(rfc3986).join('/');
  return p.endsWith('/') ? p : p + '/';
}

export function canonicalQuery(query: URLSearchParams): string {
  const keys = [...new Set(query.keys())].sort();
  const out: string[] = [];
  for (const k of keys) {
    const values = query.getAll(k).sort();
    for (const v of values) out.push(`${rfc3986(k)}=${rfc3986(v)}`);
  }
  return out.join('&');
}

export interface SignableRequest {
  method: string;
  /** path and query as sent, e.g. `/v1.0/abc/clusters?limit=2` */
  url: string;
  /** header name → value (names in any case) */
  headers: Record<string, string>;
  body: Buffer | string | undefined;
}

const CONTENT_SHA256 = 'x-sdk-content-sha256';

export function payloadHash(headers: Record<string, string>, body: Buffer | string | undefined): string {
  for (const k in headers) if (k.length === CONTENT_SHA256.length && k.toLowerCase() === CONTENT_SHA256) return headers[k]!;
  if (body === undefined || body.length === 0) return EMPTY_BODY_SHA256;
  return hash('sha256', body, 'hex');
}

export function canonicalRequest(r: SignableRequest, signedHeaders: string[]): string {
  const q = r.url.indexOf('?');
  const path = q === -1 ? r.url : r.url.slice(0, q);
  let lower: Record<string, string> | null = null;
  const value = (h: string): string => {
    const v = r.headers[h];
    if (v !== undefined) return v;
    if (lower === null) {
      lower = {};
      for (const [k, x] of Object.entries(r.headers)) lower[k.toLowerCase()] = x;
    }
    return lower[h] ?? '';
  };
  let headerBlock = '';
  for (const h of signedHeaders) headerBlock += `${h}:${value(h)}\n`;
  const query = q === -1 ? '' : canonicalQuery(new URLSearchParams(r.url.slice(q + 1)));
  return `${r.method.toUpperCase()}\n${canonicalUri(path)}\n${query}\n${headerBlock}\n${signedHeaders.join(';')}\n${payloadHash(r.headers, r.body)}`;
}

export function stringToSign(sdkDate: string, canonical: string): string {
  return `${ALGORITHM}\n${sdkDate}\n${hash('sha256', canonical, 'hex')}`;
}

export const hmacHex = (key: string, data: string): string => createHmac('sha256', key).update(data).digest('hex');

/** `YYYYMMDDTHHMMSSZ` */
export function sdkDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

export function parseSdkDate(s: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return null;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

/**
 * Sign a request: returns the headers to add (X-Sdk-Date, Authorization). Signs every
 * header given plus `host`, as the SDK does.
 */
export function signRequest(
  r: SignableRequest & { host: string },
  ak: string,
  sk: string,
  now: number = Date.now(),
): Record<string, string> {
  const date = sdkDate(now);
  const headers: Record<string, string> = { ...r.headers, host: r.host, 'x-sdk-date': date };
  const names = [...new Set(Object.keys(headers).map((h) => h.toLowerCase()))].sort();
  const lowered: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) lowered[k.toLowerCase()] = v;
  const canonical = canonicalRequest({ ...r, headers: lowered }, names);
  const sig = hmacHex(sk, stringToSign(date, canonical));
  return { 'X-Sdk-Date': date, Authorization: `${ALGORITHM} Access=${ak}, SignedHeaders=${names.join(';')}, Signature=${sig}` };
}

export interface ParsedAuthorization {
  accessKey: string;
  signedHeaders: string[];
  signature: string;
}

export function parseAuthorization(h: string): ParsedAuthorization | null {
  const m = /^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-fA-F]+)\s*$/.exec(h);
  if (!m) return null;
  return { accessKey: m[1]!, signedHeaders: m[2]!.split(';').map((s) => s.toLowerCase()), signature: m[3]!.toLowerCase() };
}

/**
 * Whether `signatureHex` (hex, as parseAuthorization gives it) is the HMAC-SHA256 of `data`
 * under `key`: compared in constant time as 32 bytes, with no hex text made of the expected one.
 */
export function hmacMatches(key: string, data: string, signatureHex: string): boolean {
  const given = Buffer.from(signatureHex, 'hex');
  return given.length === 32 && timingSafeEqual(createHmac('sha256', key).update(data).digest(), given);
}
