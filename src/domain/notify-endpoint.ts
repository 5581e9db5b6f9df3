/**
 * Where an event subscription may send (D26, issue 17; docs/security.md): an `http:` or
 * `https:` URL with no credentials in it, that points neither at this service nor at anything
 * the data plane listens on. The address blocks the data plane hands out are refused whole:
 * member addresses `127.0.c.i` (c in 1..254, D6/D24), the routers' `127.1.c.x`, Patroni's REST
 * and the host etcd on `127.2.x.x`, and the network namespaces' 198.18.0.0/15; and 0.0.0.0/8
 * and `::` (this host, any address). Link-local addresses (169.254.0.0/16, a cloud's metadata
 * service among them; fe80::/10) are refused always. Loopback, private and shared networks
 * (127.0.0.0/8, 10/8, 172.16/12, 192.168/16, 100.64/10, ::1, fc00::/7) are refused unless the
 * operator allows them (setting eventEndpointsPrivate, `privateAllowed`): then 127.0.0.0/24
 * (127.0.0.1, a receiver on this host) is allowed on any port but the service's own.
 */
import { isIP } from 'node:net';

/** A host and port this service (or a host service of the data plane) listens on. */
export interface ListenAddress {
  host: string;
  port: number;
  /** what listens there, for the refusal's message (default: this service) */
  what?: string;
}

/** An IPv4 address as a 32-bit number, or null. */
function v4(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((x) => x > 255)) return null;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

const cidr = (base: string, bits: number): [number, number] => {
  const b = v4(base)!;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return [(b & mask) >>> 0, mask];
};

/** The data plane's address blocks, with what each is for. */
export const DATA_PLANE_BLOCKS: readonly { block: [number, number]; text: string; what: string }[] = [
  { block: cidr('127.1.0.0', 16), text: '127.1.0.0/16', what: "the clusters' routers" },
  { block: cidr('127.2.0.0', 16), text: '127.2.0.0/16', what: "Patroni's REST API and the host etcd" },
  { block: cidr('198.18.0.0', 15), text: '198.18.0.0/15', what: 'the network namespaces of the data plane' },
  { block: cidr('0.0.0.0', 8), text: '0.0.0.0/8', what: 'this host (any address)' },
];

/** The IPv4 address an IPv6 one maps (`::ffff:a.b.c.d`), or the address itself. */
export function unmapped(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (m) return m[1]!;
  // As the URL parser writes it: ::ffff:7f01:1
  const h = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (h) {
    const hi = parseInt(h[1]!, 16);
    const lo = parseInt(h[2]!, 16);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return ip;
}

const inV4 = (n: number, base: string, bits: number): boolean => {
  const [b, mask] = cidr(base, bits);
  return (n & mask) >>> 0 === b;
};

/** Link-local: never a webhook receiver, and where a cloud keeps its metadata service. */
function linkLocal(ip: string, n: number | null): boolean {
  return n !== null ? inV4(n, '169.254.0.0', 16) : /^fe[89ab][0-9a-f]?:/.test(ip);
}

/** Loopback, private (RFC 1918, unique local) and shared (RFC 6598) addresses. */
function privateAddress(ip: string, n: number | null): boolean {
  if (n !== null)
    return [
      ['127.0.0.0', 8] as const,
      ['10.0.0.0', 8] as const,
      ['172.16.0.0', 12] as const,
      ['192.168.0.0', 16] as const,
      ['100.64.0.0', 10] as const,
    ].some(([b, bits]) => inV4(n, b, bits));
  return ip === '::1' || /^f[cd][0-9a-f]{0,2}:/.test(ip);
}

const isLoopback = (ip: string): boolean => {
  const n = v4(ip);
  if (n !== null) return n >>> 24 === 127;
  return ip === '::1';
};

/**
 * Why sending to `ip`:`port` is refused, or null when it is allowed. `self`: the addresses this
 * service listens on (the API, /metrics) and those of the data plane's host services outside its
 * blocks (DataPlane.hostEndpoints); `local`: this host's own interface addresses;
 * `privateAllowed`: loopback, private and shared addresses are allowed (eventEndpointsPrivate).
 */
export function refusedAddress(
  ipIn: string,
  port: number,
  self: readonly ListenAddress[],
  local: readonly string[] = [],
  o: { privateAllowed?: boolean } = {},
): string | null {
  const ip = unmapped(ipIn.replace(/^\[|\]$/g, '')).toLowerCase();
  const n = v4(ip);
  if (linkLocal(ip, n)) return `${ip} is a link-local address (a cloud's metadata service lives there)`;
  if (n !== null) {
    // Members: 127.0.c.i with c in 1..254 (127.0.0.0/24 is not the data plane's).
    if (n >>> 16 === 0x7f00 && ((n >>> 8) & 0xff) !== 0)
      return `${ip} is in 127.0.1.0–127.0.255.255, the members' addresses of the data plane`;
    for (const b of DATA_PLANE_BLOCKS) if ((n & b.block[1]) >>> 0 === b.block[0]) return `${ip} is in ${b.text}, ${b.what}`;
  } else if (ip === '::' || /^0*:(0*:)*0*$/.test(ip)) {
    return `${ip} is this host (any address)`;
  }
  if (!o.privateAllowed && privateAddress(ip, n))
    return `${ip} is a loopback, private or shared address, which the operator has not allowed (setting eventEndpointsPrivate)`;
  for (const s of self) {
    if (s.port !== port) continue;
    const sh = unmapped(s.host).toLowerCase();
    const wildcard = sh === '0.0.0.0' || sh === '::' || sh === '';
    if (sh === ip || isLoopback(ip) || (wildcard && local.map((x) => unmapped(x).toLowerCase()).includes(ip)))
      return `${ip}:${port} is ${s.what ?? "this service's own listener"}`;
  }
  return null;
}

/** An IP literal host of a URL (brackets removed), or null for a name. */
export function literalHost(hostname: string): string | null {
  const h = hostname.replace(/^\[|\]$/g, '');
  return isIP(h) ? h : null;
}

/** The port a URL connects to. */
export function urlPort(u: URL): number {
  return u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
}

/**
 * The parse of a subscription endpoint, or why it is refused (without looking a name up):
 * http(s) only, no user name or password, no fragment, at most 2048 characters, and an IP
 * literal host allowed by refusedAddress.
 */
export function checkEndpoint(
  raw: string,
  self: readonly ListenAddress[],
  local: readonly string[] = [],
  o: { privateAllowed?: boolean } = {},
): { url: URL } | { refused: string } {
  if (raw.length > 2048) return { refused: 'longer than 2048 characters' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { refused: 'not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { refused: `the scheme ${url.protocol.replace(/:$/, '')} is not http or https` };
  if (url.username || url.password) return { refused: 'credentials in the URL are not allowed (the signature authenticates the sender)' };
  if (url.hash) return { refused: 'a fragment (#…) is not allowed' };
  if (!url.hostname) return { refused: 'no host' };
  const lit = literalHost(url.hostname);
  if (lit) {
    const why = refusedAddress(lit, urlPort(url), self, local, o);
    if (why) return { refused: why };
  }
  return { url };
}
