import { forbiddenAddress, parseIp, parseRange } from './address-policy.ts';

const strict = { hubRanges: [], allowLoopback: false };
const hub = {
  hubRanges: [
    { range: parseRange('10.96.0.0/12'), what: "inside the hub's service range" },
    { range: parseRange('fd00:10::/56'), what: "inside the hub's pod range" },
  ],
  allowLoopback: false,
};

describe('parseIp', () => {
  it.each([
    ['127.0.0.1', 4, 0x7f000001n],
    ['::1', 6, 1n],
    ['[::1]', 6, 1n],
    ['::ffff:127.0.0.1', 6, 0xffff7f000001n],
    ['2001:db8::1', 6, 0x20010db8000000000000000000000001n],
    ['fe80::1%eth0', 6, 0xfe800000000000000000000000000001n],
  ])('%s', (text, family, value) => {
    expect(parseIp(text)).toEqual({ family, value });
  });
  it.each(['example.com', '1.2.3', '256.1.1.1', '1.2.3.4.5', ':::', '1::2::3', 'gggg::1', '01.2.3.4x'])('%s is not an IP', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe('parseRange', () => {
  it('normalises the base address to the prefix', () => {
    expect(parseRange('10.97.1.2/12')).toMatchObject({ family: 4, base: 0x0a600000n, prefix: 12 });
  });
  it.each(['10.0.0.0', '10.0.0.0/33', '::/129', 'x/8', '10.0.0.0/8/1'])('refuses %s', (text) => {
    expect(() => parseRange(text)).toThrow(/is not an address range/);
  });
});

describe('forbiddenAddress', () => {
  it.each([
    ['127.0.0.1', /loopback/],
    ['127.255.0.9', /loopback/],
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['::1', /loopback/],
    ['::ffff:127.0.0.1', /loopback/],
    ['169.254.169.254', /link-local/],
    ['fe80::abcd', /link-local/],
  ])('%s is refused', (ip, why) => {
    expect(forbiddenAddress(ip, strict)).toMatch(why);
  });
  it.each(['203.0.113.9', '10.0.0.1', '192.168.1.10', '2001:db8::5', '::ffff:203.0.113.9'])('%s is allowed', (ip) => {
    expect(forbiddenAddress(ip, strict)).toBeUndefined();
  });
  it("refuses the hub's own ranges, IPv4-mapped too", () => {
    expect(forbiddenAddress('10.96.0.1', hub)).toBe("10.96.0.1 is inside the hub's service range (10.96.0.0/12)");
    expect(forbiddenAddress('::ffff:10.100.0.1', hub)).toMatch(/service range/);
    expect(forbiddenAddress('fd00:10::99', hub)).toMatch(/pod range/);
    expect(forbiddenAddress('10.112.0.1', hub)).toBeUndefined();
  });
  it('the local-development flag lifts loopback and unspecified only', () => {
    const dev = { ...hub, allowLoopback: true };
    expect(forbiddenAddress('127.0.0.1', dev)).toBeUndefined();
    expect(forbiddenAddress('::1', dev)).toBeUndefined();
    expect(forbiddenAddress('169.254.169.254', dev)).toMatch(/link-local/);
    expect(forbiddenAddress('10.96.0.1', dev)).toMatch(/service range/);
  });
  it('a host name is not judged here (the adapter resolves it)', () => {
    expect(forbiddenAddress('localhost', strict)).toBeUndefined();
  });
});
