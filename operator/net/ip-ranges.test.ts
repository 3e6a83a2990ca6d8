import { SPECIAL_RANGES, embeddedIpv4, hextets, inCidr, ipToBigInt, parseCidr, parseCidrList, parseIp, specialRangeOf, unmapIpv4 } from './ip-ranges.ts';
import type { Ip } from './ip-ranges.ts';

const ip = (text: string): Ip => parseIp(text) as Ip;

describe('parseIp', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1', 4],
    ['[127.0.0.1]', '127.0.0.1', 4],
    ['::1', '::1', 6],
    ['[::1]', '::1', 6],
    ['::FFFF:127.0.0.1', '::ffff:7f00:1', 6],
    ['2001:0DB8:0:0:0:0:0:1', '2001:db8::1', 6],
    ['fe80::1%eth0', 'fe80::1', 6],
    ['[fe80::1%25eth0]', 'fe80::1', 6],
  ])('%s is %s', (text, address, family) => {
    expect(parseIp(text)).toEqual({ address, family });
  });
  it.each(['example.com', '', '1.2.3', '256.1.1.1', '1.2.3.4.5', '01.2.3.4', ':::', '1::2::3', 'gggg::1', '[::1', '10.0.0.0/8'])('%s is not an IP', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe('hextets and ipToBigInt', () => {
  it('expands IPv6 in any spelling', () => {
    expect(hextets('2001:db8::1')).toEqual([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    expect(hextets('::ffff:10.0.0.1')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0a00, 1]);
    expect(hextets('10.0.0.1')).toBeUndefined();
  });
  it('gives 32- and 128-bit integers', () => {
    expect(ipToBigInt(ip('10.96.0.1'))).toBe(0x0a600001n);
    expect(ipToBigInt(ip('::ffff:127.0.0.1'))).toBe(0xffff7f000001n);
    expect(ipToBigInt(ip('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'))).toBe((1n << 128n) - 1n);
  });
});

describe('embeddedIpv4 and unmapIpv4', () => {
  it.each([
    ['::ffff:7f00:1', '127.0.0.1', 'IPv4-mapped'],
    ['::a00:1', '10.0.0.1', 'IPv4-compatible'],
    ['64:ff9b::a9fe:a9fe', '169.254.169.254', 'NAT64'],
    ['64:ff9b:1::a00:1', '10.0.0.1', 'local NAT64'],
    ['2002:c0a8:101::1', '192.168.1.1', '6to4'],
    ['[::FFFF:169.254.169.254]', '169.254.169.254', 'IPv4-mapped'],
  ])('%s carries %s (%s)', (text, inner, form) => {
    expect(embeddedIpv4(text)).toEqual({ ip: inner, form });
  });
  it.each(['::', '::1', '2606:4700::1111', '10.0.0.1', 'example.com'])('%s carries none', (text) => {
    expect(embeddedIpv4(text)).toBeUndefined();
  });
  it('unmaps the mapped form only', () => {
    expect(unmapIpv4(ip('::ffff:127.0.0.1'))).toEqual({ address: '127.0.0.1', family: 4 });
    expect(unmapIpv4(ip('64:ff9b::7f00:1'))).toEqual(ip('64:ff9b::7f00:1'));
    expect(unmapIpv4(ip('10.0.0.1'))).toEqual(ip('10.0.0.1'));
  });
});

describe('parseCidr and parseCidrList', () => {
  it('reads IPv4 and IPv6 ranges in canonical form', () => {
    expect(parseCidr(' 10.96.0.0/12 ')).toEqual({ address: '10.96.0.0', prefix: 12, family: 4, text: '10.96.0.0/12' });
    expect(parseCidr('FD00:10::/56')).toEqual({ address: 'fd00:10::', prefix: 56, family: 6, text: 'fd00:10::/56' });
    expect(parseCidr('[fd00::]/8')?.text).toBe('fd00::/8');
  });
  it.each(['10.0.0.0', '10.0.0.0/33', '::/129', 'x/8', '10.0.0.0/8/1', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/1e1', '10.0.0.0/0008'])('refuses %s', (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });
  it('reads a comma-separated list and names the setting in errors', () => {
    expect(parseCidrList(' 10.96.0.0/12, ,fd00::/8 ', 'X').map((c) => c.text)).toEqual(['10.96.0.0/12', 'fd00::/8']);
    expect(parseCidrList(undefined, 'X')).toEqual([]);
    expect(() => parseCidrList('10.0.0.0/8,nonsense/8', 'FLOTILLA_HUB_POD_CIDR')).toThrow('FLOTILLA_HUB_POD_CIDR: "nonsense/8" is not a CIDR');
  });
});

describe('inCidr', () => {
  const svc = parseCidr('10.97.1.2/12')!;
  it('masks the range to its prefix', () => {
    expect(inCidr(ip('10.96.0.1'), svc)).toBe(true);
    expect(inCidr(ip('10.111.255.255'), svc)).toBe(true);
    expect(inCidr(ip('10.112.0.1'), svc)).toBe(false);
  });
  it('keeps families apart (callers unpack mapped forms themselves)', () => {
    expect(inCidr(ip('::ffff:10.96.0.1'), svc)).toBe(false);
    expect(inCidr(ip('253.0.0.1'), parseCidr('fd00::/8')!)).toBe(false);
    expect(inCidr(ip('fd00::5'), parseCidr('fd00::/8')!)).toBe(true);
  });
  it('a /0 holds its whole family', () => {
    expect(inCidr(ip('8.8.8.8'), parseCidr('0.0.0.0/0')!)).toBe(true);
    expect(inCidr(ip('2606:4700::1111'), parseCidr('::/0')!)).toBe(true);
  });
});

describe('special ranges', () => {
  it.each([
    ['0.1.2.3', 'unspecified'],
    ['10.1.2.3', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['127.9.9.9', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['172.31.0.1', 'private'],
    ['192.0.0.8', 'ietf-protocol'],
    ['192.0.2.1', 'documentation'],
    ['192.88.99.1', '6to4-relay'],
    ['192.168.1.1', 'private'],
    ['198.19.0.1', 'benchmarking'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['100::1', 'discard'],
    ['2001:db8::1', 'documentation'],
    ['fd12::1', 'unique-local'],
    ['fe80::1', 'link-local'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
  ])('%s is %s', (text, kind) => {
    expect(specialRangeOf(ip(text))?.kind).toBe(kind);
  });
  it.each(['8.8.8.8', '100.128.0.1', '172.32.0.1', '2606:4700::1111', '::ffff:127.0.0.1'])('%s is in none (mapped forms are judged as written)', (text) => {
    expect(specialRangeOf(ip(text))).toBeUndefined();
  });
  it('filters by kind', () => {
    expect(specialRangeOf(ip('10.0.0.1'), ['loopback', 'link-local'])).toBeUndefined();
    expect(specialRangeOf(ip('127.0.0.1'), ['loopback'])?.cidr.text).toBe('127.0.0.0/8');
  });
  it('do not overlap, so the first match is the only one', () => {
    for (const a of SPECIAL_RANGES) {
      for (const b of SPECIAL_RANGES) {
        if (a !== b) expect([a.cidr.text, inCidr({ address: a.cidr.address, family: a.cidr.family }, b.cidr)]).toEqual([a.cidr.text, false]);
      }
    }
  });
});
