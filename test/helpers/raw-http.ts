/**
 * HTTP/1.1 over a bare TCP socket, for requests no client library sends: raw bytes in the
 * request target (`..`, `%ff`, 0xff), headers near and over Node's 16 KiB limit, lying
 * Content-Length, broken chunked encoding. One connection per request (`Connection: close`);
 * the response is read to the end (or until the server closes) and parsed.
 */
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** the server closed the connection without answering */
  noResponse: boolean;
  ms: number;
}

/** `METHOD target HTTP/1.1`, the headers as given (name, value; values may hold any byte), then the body. */
export function buildRequest(method: string, target: string | Buffer, headers: [string, string | Buffer][], body?: Buffer): Buffer {
  const parts: Buffer[] = [
    Buffer.from(`${method} `, 'latin1'),
    typeof target === 'string' ? Buffer.from(target, 'latin1') : target,
    Buffer.from(' HTTP/1.1\r\n', 'latin1'),
  ];
  for (const [k, v] of headers)
    parts.push(Buffer.from(`${k}: `, 'latin1'), typeof v === 'string' ? Buffer.from(v, 'latin1') : v, Buffer.from('\r\n', 'latin1'));
  parts.push(Buffer.from('\r\n', 'latin1'));
  if (body) parts.push(body);
  return Buffer.concat(parts);
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const nl = b.indexOf('\r\n', i, 'latin1');
    if (nl === -1) break;
    const size = parseInt(b.subarray(i, nl).toString('latin1').split(';')[0]!, 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(b.subarray(nl + 2, nl + 2 + size));
    i = nl + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** Skip interim (1xx) responses: the offset of the final one's status line. */
function finalStart(raw: Buffer): number {
  let start = 0;
  for (;;) {
    const end = raw.indexOf('\r\n\r\n', start, 'latin1');
    if (end === -1) return start;
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(raw.subarray(start, end).toString('latin1'))?.[1] ?? 0);
    if (status < 100 || status >= 200) return start;
    start = end + 4;
  }
}

/** Has the whole final response arrived (so a kept-alive connection need not be waited out)? */
function complete(raw: Buffer): boolean {
  const start = finalStart(raw);
  const end = raw.indexOf('\r\n\r\n', start, 'latin1');
  if (end === -1) return false;
  const head = raw.subarray(start, end).toString('latin1');
  const body = raw.subarray(end + 4);
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head))
    return body.indexOf('0\r\n\r\n', 0, 'latin1') === 0 || body.indexOf('\r\n0\r\n\r\n', 0, 'latin1') !== -1;
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (cl) return body.length >= Number(cl[1]);
  return / (204|304) /.test(head.split('\r\n')[0] ?? '');
}

export function parseResponse(all: Buffer, ms: number): RawResponse {
  const raw = all.subarray(finalStart(all));
  const end = raw.indexOf('\r\n\r\n', 0, 'latin1');
  if (raw.length === 0 || end === -1) return { status: 0, headers: {}, body: Buffer.alloc(0), noResponse: true, ms };
  const head = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  return { status, headers, body, noResponse: status === 0, ms };
}

/** Send `bytes` to 127.0.0.1:port and read the (final) response: until it is complete or the server closes; `timeoutMs` is an error. */
export function rawRequest(port: number, bytes: Buffer, timeoutMs = 15_000): Promise<RawResponse> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect({ host: '127.0.0.1', port });
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(parseResponse(Buffer.concat(chunks), performance.now() - started));
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      sock.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms (got ${Buffer.concat(chunks).length} bytes)`));
    }, timeoutMs);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      if (complete(Buffer.concat(chunks))) finish();
    });
    sock.on('end', finish);
    sock.on('close', finish);
    // EPIPE / ECONNRESET after the server answered early (413, 431) and closed: what was read counts.
    sock.on('error', finish);
    sock.on('connect', () => {
      sock.write(bytes);
    });
  });
}
