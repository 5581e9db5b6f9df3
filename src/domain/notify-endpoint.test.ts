import { describe, expect, it } from 'vitest';
import { checkEndpoint, refusedAddress, unmapped } from './notify-endpoint.js';

const self = [
  { host: '127.0.0.1', port: 7480 },
  { host: '127.0.0.1', port: 24001, what: "an S3 repository's TLS server of the data plane" },
];

describe('refusedAddress', () => {
  it("refuses the data plane's blocks whole, on any port", () => {
    for (const ip of [
      '127.0.1.1',
      '127.0.254.3',
      '127.0.255.255',
      '127.1.0.1',
      '127.1.200.2',
      '127.2.0.1',
      '127.2.9.9',
      '198.18.0.1',
      '198.19.255.254',
      '0.0.0.0',
      '::',
      '::ffff:127.1.0.1',
    ])
      expect(refusedAddress(ip, 12345, self, [], { privateAllowed: true }), ip).not.toBeNull();
  });
  it('refuses link-local addresses always; loopback, private and shared ones unless the operator allows them', () => {
    for (const ip of ['169.254.169.254', '169.254.0.1', 'fe80::1', '::ffff:169.254.169.254'])
      expect(refusedAddress(ip, 80, self, [], { privateAllowed: true }), ip).toMatch(/link-local/);
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.9', '172.31.255.255', '192.168.1.1', '100.64.0.1', '::1', 'fd00::5', 'fc12::1'])
      expect(refusedAddress(ip, 20001, self), ip).toMatch(/eventEndpointsPrivate/);
    for (const ip of ['172.32.0.1', '192.169.0.1', '100.128.0.1', '8.8.8.8', '2001:db8::1'])
      expect(refusedAddress(ip, 20001, self), ip).toBeNull();
    expect(checkEndpoint('http://127.0.0.1:20001/hook', self)).toHaveProperty('refused');
    expect(checkEndpoint('http://[::1]:20001/hook', self)).toHaveProperty('refused');
  });
  it('allows 127.0.0.x and other addresses outside them, but not on the listeners of the service or of the host services', () => {
    const allowed = { privateAllowed: true };
    for (const ip of ['127.0.0.1', '127.0.0.2', '10.1.2.3', '198.17.255.255', '198.20.0.0', '127.3.0.1', '::1'])
      expect(refusedAddress(ip, 20001, self, [], allowed), ip).toBeNull();
    expect(refusedAddress('127.0.0.1', 7480, self, [], allowed)).toMatch(/own listener/);
    expect(refusedAddress('127.0.0.5', 7480, self, [], allowed)).toMatch(/own listener/);
    expect(refusedAddress('::1', 7480, self, [], allowed)).toMatch(/own listener/);
    expect(refusedAddress('127.0.0.1', 24001, self, [], allowed)).toMatch(/TLS server of the data plane/);
  });
  it('a service listening on every address: its port on any local address', () => {
    const any = [{ host: '0.0.0.0', port: 8080 }];
    expect(refusedAddress('10.0.0.7', 8080, any, ['10.0.0.7'], { privateAllowed: true })).toMatch(/own listener/);
    expect(refusedAddress('10.0.0.8', 8080, any, ['10.0.0.7'], { privateAllowed: true })).toBeNull();
  });
  it('reads IPv4-mapped IPv6 as the URL parser writes it', () => {
    expect(unmapped('::ffff:7f01:1')).toBe('127.1.0.1');
    expect(unmapped('::ffff:127.0.0.1')).toBe('127.0.0.1');
  });
});

describe('checkEndpoint', () => {
  it('http(s) only, no credentials, no fragment; literals checked', () => {
    expect(checkEndpoint('https://hooks.example.com/x?y=1', self)).toHaveProperty('url');
    expect(checkEndpoint('http://127.0.0.1:20001/hook', self, [], { privateAllowed: true })).toHaveProperty('url');
    expect(checkEndpoint('ftp://127.0.0.1/', self)).toEqual({ refused: 'the scheme ftp is not http or https' });
    expect(checkEndpoint('file:///etc/passwd', self)).toHaveProperty('refused');
    expect(checkEndpoint('http://a:b@example.com/', self)).toHaveProperty('refused');
    expect(checkEndpoint('http://example.com/#x', self)).toHaveProperty('refused');
    expect(checkEndpoint('not a url', self)).toEqual({ refused: 'not a URL' });
    expect(checkEndpoint('http://[::ffff:127.2.0.1]:2379/', self)).toHaveProperty('refused');
    expect(checkEndpoint('http://127.0.0.1/', [{ host: '127.0.0.1', port: 80 }])).toHaveProperty('refused');
    expect(checkEndpoint(`http://example.com/${'a'.repeat(2100)}`, self)).toHaveProperty('refused');
  });
});
