/**
 * Our SDK-HMAC-SHA256 implementation against the official client library's signer
 * (huaweicloud-sdk-core AKSKSigner, the code every Huawei Cloud Node.js SDK call goes
 * through): requests the SDK signs must verify with our canonicalRequest/hmac, and our
 * signRequest must produce the very signature the SDK produces.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { stringify as qsStringify } from 'node:querystring';
import { createHash } from 'node:crypto';
import { AKSKSigner } from '@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner.js';
import type { ICredential } from '@huaweicloud/huaweicloud-sdk-core/auth/ICredential.js';
import type { IHttpRequest } from '@huaweicloud/huaweicloud-sdk-core/http/IHttpRequest.js';
import {
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  EMPTY_BODY_SHA256,
  hmacHex,
  hmacMatches,
  parseAuthorization,
  parseSdkDate,
  rfc3986,
  sdkDate,
  signRequest,
  stringToSign,
} from './signer.js';

const AK = 'HPUAXXXXEXAMPLEAK123';
const SK = 'sEcReT/kEy+With=Odd&Chars0123456789';
const credential = { getAk: () => AK, getSk: () => SK } as unknown as ICredential;
const ENDPOINT = 'https://dws.cn-north-4.example.com:8443';
const HOST = 'dws.cn-north-4.example.com:8443';
const DATE = '20240416T095341Z';

/** The SDK's protected helpers, reached the way the SDK itself calls them. */
const sdk = AKSKSigner as unknown as {
  sign(r: IHttpRequest, c: ICredential): Record<string, string>;
  CanonicalURI(p: string): string;
  CanonicalQueryString(r: { queryParams: unknown }): string;
  urlEncode(s: string): string;
};

type Query = Record<string, string | string[]>;

/** Strings weighted towards the characters encodings disagree on: ASCII punctuation, space, then any code point. */
const oddChar = fc.oneof(
  fc.constantFrom(...' !"#$%&\'()*+,/:;<=>?@[\\]^`{|}~-._'.split('')),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const oddString = (o: { minLength?: number; maxLength: number }) => fc.string({ unit: oddChar, ...o });

interface SdkCall {
  method: string;
  /** the path as the SDK has it after substituting (URL-encoded) path parameters */
  path: string;
  query?: Query;
  headers?: Record<string, string>;
  /** what the SDK hashes (JSON.stringify) and axios sends */
  data?: unknown;
}

/** Sign as the SDK does, then describe the request the way the server receives it. */
function signedBySdk(c: SdkCall): { method: string; url: string; headers: Record<string, string>; body: string | undefined } {
  const query = c.query ?? {};
  const out = sdk.sign(
    { method: c.method, endpoint: `${ENDPOINT}${c.path}`, headers: { ...c.headers }, queryParams: query, data: c.data },
    credential,
  );
  // DefaultHttpClient sends the query through querystring.stringify and the body through JSON.stringify.
  const qs = qsStringify(query);
  const url = c.path + (qs ? `?${qs}` : '');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(out)) headers[k.toLowerCase()] = v;
  return { method: c.method, url, headers, body: c.data === undefined ? undefined : JSON.stringify(c.data) };
}

/** What the service does with an incoming request: recompute the signature and compare. */
function verify(r: { method: string; url: string; headers: Record<string, string>; body: string | Buffer | undefined }, sk = SK): boolean {
  const parsed = parseAuthorization(r.headers['authorization'] ?? '');
  if (!parsed) throw new Error('no parsable Authorization header');
  const canonical = canonicalRequest({ method: r.method, url: r.url, headers: r.headers, body: r.body }, parsed.signedHeaders);
  return hmacMatches(sk, stringToSign(r.headers['x-sdk-date']!, canonical), parsed.signature);
}

const json = { 'Content-Type': 'application/json;charset=UTF-8', 'X-Project-Id': '0a1b2c3d4e5f60718293a4b5c6d7e8f9' };

describe('requests signed by the official SDK verify with our canonical request', () => {
  const cases: [string, SdkCall][] = [
    ['GET without query or body', { method: 'GET', path: '/v1.0/0a1b2c3d/clusters', headers: { 'Content-Type': 'application/json' } }],
    ['GET with a trailing slash', { method: 'GET', path: '/v1.0/0a1b2c3d/clusters/', headers: { 'Content-Type': 'application/json' } }],
    [
      'query sorted by key',
      { method: 'GET', path: '/v1.0/p/snapshots', query: { offset: '10', limit: '5', Zeta: 'z', alpha: 'a' }, headers: json },
    ],
    [
      'repeated keys, values sorted',
      { method: 'GET', path: '/v1.0/p/clusters', query: { tag: ['zz', 'aa', 'mm'], a: '1' }, headers: json },
    ],
    [
      'encoded query values',
      {
        method: 'GET',
        path: '/v1.0/p/clusters',
        query: { q: 'a b+c/d?e=f&g', star: "*!'()", tilde: '~._-', cjk: '集群 名称', empty: '' },
        headers: json,
      },
    ],
    ['encoded path segments', { method: 'GET', path: '/v1.0/p/clusters/my%20cluster/a%2Fb/%E9%9B%86%E7%BE%A4/x~y.z_-', headers: json }],
    [
      'JSON body',
      {
        method: 'POST',
        path: '/v1.0/p/clusters',
        headers: json,
        data: { cluster: { name: 'dws-demo', number_of_node: 3, tags: [{ key: 'k', value: '值' }] } },
      },
    ],
    ['empty JSON object body', { method: 'POST', path: '/v1.0/p/clusters/c1/restart', headers: json, data: {} }],
    [
      'body and query together',
      { method: 'DELETE', path: '/v2/p/clusters/c1', query: { keep_last_manual_backup: '2' }, headers: json, data: { x: 1 } },
    ],
    [
      'X-Sdk-Content-Sha256 UNSIGNED-PAYLOAD',
      {
        method: 'PUT',
        path: '/v1/p/clusters/c1/security-group',
        headers: { ...json, 'X-Sdk-Content-Sha256': 'UNSIGNED-PAYLOAD' },
        data: { a: 1 },
      },
    ],
    [
      'a caller-set X-Sdk-Date and extra headers',
      {
        method: 'POST',
        path: '/v1.0/p/snapshots',
        headers: { ...json, 'X-Sdk-Date': DATE, 'X-Language': 'zh-cn', 'X-Security-Token': 'sts-token' },
        data: { snapshot: { name: 's1' } },
      },
    ],
  ];

  for (const [name, call] of cases) {
    it(name, () => {
      const wire = signedBySdk(call);
      expect(verify(wire)).toBe(true);
    });
  }

  it('every header present at signing time is signed, with host', () => {
    const wire = signedBySdk({ method: 'GET', path: '/v1.0/p/clusters', headers: { ...json, 'X-Language': 'en-us' } });
    expect(parseAuthorization(wire.headers['authorization']!)!.signedHeaders).toEqual([
      'content-type',
      'host',
      'x-language',
      'x-project-id',
      'x-sdk-date',
    ]);
    expect(wire.headers['host']).toBe(HOST);
  });

  describe('and the check can fail', () => {
    const call: SdkCall = {
      method: 'POST',
      path: '/v1.0/p/clusters',
      query: { a: '1' },
      headers: json,
      data: { cluster: { name: 'one' } },
    };

    it('a different body', () => {
      const wire = signedBySdk(call);
      expect(verify({ ...wire, body: JSON.stringify({ cluster: { name: 'two' } }) })).toBe(false);
      expect(verify({ ...wire, body: undefined })).toBe(false);
    });
    it('a different query', () => {
      const wire = signedBySdk(call);
      expect(verify({ ...wire, url: '/v1.0/p/clusters?a=2' })).toBe(false);
      expect(verify({ ...wire, url: '/v1.0/p/clusters?a=1&b=1' })).toBe(false);
      expect(verify({ ...wire, url: '/v1.0/p/clusters' })).toBe(false);
    });
    it('a different path, method, signed header or secret', () => {
      const wire = signedBySdk(call);
      expect(verify({ ...wire, url: '/v1.0/q/clusters?a=1' })).toBe(false);
      expect(verify({ ...wire, method: 'PUT' })).toBe(false);
      expect(verify({ ...wire, headers: { ...wire.headers, 'x-project-id': 'another' } })).toBe(false);
      expect(verify({ ...wire, headers: { ...wire.headers, host: 'evil.example.com' } })).toBe(false);
      expect(verify(wire, `${SK}x`)).toBe(false);
    });
    it('an unsigned header may change freely (the SDK adds User-Agent after signing)', () => {
      const wire = signedBySdk(call);
      expect(verify({ ...wire, headers: { ...wire.headers, 'user-agent': 'huaweicloud-usdk-nodejs/3.0' } })).toBe(true);
    });
  });
});

describe('the pieces match the SDK exactly', () => {
  it('RFC 3986 encoding of every ASCII character', () => {
    for (let c = 0; c < 128; c++) {
      const ch = String.fromCharCode(c);
      expect(rfc3986(ch), `char ${c}`).toBe(sdk.urlEncode(ch));
    }
  });

  it('RFC 3986 encoding of any Unicode string', () => {
    fc.assert(fc.property(oddString({ maxLength: 40 }), (s) => rfc3986(s) === sdk.urlEncode(s)));
  });

  it('canonical URI of odd paths (segments encoded again, trailing slash)', () => {
    for (const p of [
      '/',
      '/v1.0/p/clusters',
      '/v1.0/p/clusters/',
      '/a%20b/c%2Fd',
      "/x!'()*y/",
      '/集群/名称',
      '/a b/~._-',
      '//double//slash',
      '/%E4%B8%AD',
    ]) {
      expect(canonicalUri(p), p).toBe(sdk.CanonicalURI(p));
    }
  });

  it('canonical query of any parameters, as sent by the SDK and parsed by the server', () => {
    const value = oddString({ maxLength: 12 });
    const params = fc.dictionary(oddString({ minLength: 1, maxLength: 8 }), fc.oneof(value, fc.array(value, { maxLength: 4 })), {
      maxKeys: 6,
    });
    fc.assert(
      fc.property(params, (q) => {
        const copy = JSON.parse(JSON.stringify(q)) as Query; // the SDK sorts arrays in place
        return canonicalQuery(new URLSearchParams(qsStringify(q))) === sdk.CanonicalQueryString({ queryParams: copy });
      }),
    );
  });

  it('canonical query examples', () => {
    expect(canonicalQuery(new URLSearchParams('b=2&a=3&a=1&c=x%20y&d=%2A'))).toBe('a=1&a=3&b=2&c=x%20y&d=%2A');
    // a `+` on the wire is a space (what querystring and axios send), signed as %20
    expect(canonicalQuery(new URLSearchParams('q=a+b'))).toBe('q=a%20b');
    expect(canonicalQuery(new URLSearchParams(''))).toBe('');
  });
});

describe('our signRequest', () => {
  const now = Date.UTC(2024, 3, 16, 9, 53, 41);

  it('produces the same Authorization as the SDK for the same request and date', () => {
    const body = JSON.stringify({ cluster: { name: 'dws-demo' } });
    const path = '/v1.0/p/clusters';
    const query = { limit: '10', tag: ['b', 'a'] };
    const headers = { 'content-type': 'application/json;charset=UTF-8', 'x-project-id': 'p' };
    const mine = signRequest({ method: 'POST', url: `${path}?${qsStringify(query)}`, headers, body, host: HOST }, AK, SK, now);
    const theirs = sdk.sign(
      {
        method: 'POST',
        endpoint: `${ENDPOINT}${path}`,
        headers: { ...headers, 'X-Sdk-Date': sdkDate(now) },
        queryParams: query,
        data: JSON.parse(body),
      },
      credential,
    );
    expect(mine['X-Sdk-Date']).toBe(DATE);
    expect(mine['Authorization']).toBe(theirs['Authorization']);
  });

  it('verifies on the server side, and only for the signed request', () => {
    const body = '{"restart":{}}';
    const headers = { 'content-type': 'application/json', 'x-language': 'zh-cn' };
    const url = '/v1.0/p/clusters/c1/restart?x=1';
    const added = signRequest({ method: 'POST', url, headers, body, host: HOST }, AK, SK, now);
    const received = { ...headers, host: HOST, 'x-sdk-date': added['X-Sdk-Date']!, authorization: added['Authorization']! };
    expect(verify({ method: 'POST', url, headers: received, body: Buffer.from(body) })).toBe(true);
    expect(verify({ method: 'POST', url, headers: received, body: '{"restart":{ }}' })).toBe(false);
    expect(verify({ method: 'POST', url: '/v1.0/p/clusters/c1/restart?x=2', headers: received, body })).toBe(false);
    expect(verify({ method: 'POST', url, headers: { ...received, 'x-language': 'en-us' }, body })).toBe(false);
  });

  it('signs an absent body as the empty-body hash', () => {
    const added = signRequest({ method: 'GET', url: '/v1.0/p/clusters', headers: {}, body: undefined, host: HOST }, AK, SK, now);
    const received = { host: HOST, 'x-sdk-date': added['X-Sdk-Date']!, authorization: added['Authorization']! };
    expect(verify({ method: 'GET', url: '/v1.0/p/clusters', headers: received, body: undefined })).toBe(true);
    // an empty buffer (what the JSON parser hands over for Content-Length: 0) is the same payload
    expect(verify({ method: 'GET', url: '/v1.0/p/clusters', headers: received, body: Buffer.alloc(0) })).toBe(true);
    expect(EMPTY_BODY_SHA256).toBe(createHash('sha256').update('').digest('hex'));
  });
});

describe('small parts', () => {
  it('X-Sdk-Date round trip, and refusing other forms', () => {
    expect(sdkDate(Date.UTC(2024, 3, 16, 9, 53, 41, 999))).toBe(DATE);
    expect(parseSdkDate(DATE)).toBe(Date.UTC(2024, 3, 16, 9, 53, 41));
    for (const bad of ['2024-04-16T09:53:41Z', '20240416T095341', '20240416095341Z', '', 'Tue, 16 Apr 2024 09:53:41 GMT'])
      expect(parseSdkDate(bad)).toBeNull();
  });

  it('parses the Authorization header the SDK writes, and nothing else', () => {
    expect(parseAuthorization('SDK-HMAC-SHA256 Access=AK1, SignedHeaders=Host;X-Sdk-Date, Signature=ABCdef01')).toEqual({
      accessKey: 'AK1',
      signedHeaders: ['host', 'x-sdk-date'],
      signature: 'abcdef01',
    });
    for (const bad of [
      '',
      'Bearer abc',
      'SDK-HMAC-SHA256 Access=AK1, Signature=abcd',
      'SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host, Signature=xyz',
      'AWS4-HMAC-SHA256 Access=a, SignedHeaders=h, Signature=ab',
    ]) {
      expect(parseAuthorization(bad), bad).toBeNull();
    }
  });

  it('signature comparison: the HMAC of the data under the key, as 32 bytes of hex in either case', () => {
    const sig = hmacHex('key', 'data');
    expect(hmacMatches('key', 'data', sig)).toBe(true);
    expect(hmacMatches('key', 'data', sig.toUpperCase())).toBe(true);
    expect(hmacMatches('key', 'datb', sig)).toBe(false);
    expect(hmacMatches('kez', 'data', sig)).toBe(false);
    // A signature one byte short or long, odd-length, or with a stray character never matches (and never throws).
    for (const bad of [sig.slice(0, 62), sig + '00', sig.slice(0, 63), sig.slice(0, 40) + 'zz' + sig.slice(42), '']) {
      expect(hmacMatches('key', 'data', bad), bad).toBe(false);
    }
  });
});
