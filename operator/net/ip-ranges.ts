// IP addresses and ranges, one helper for every policy that judges addresses: the provider
// kubeconfig policy (../providers/address-policy.ts) and the callback URL policy
// (../callbacks/url-policy.ts). It owns parsing an IP literal (URL brackets, zone ids, the
// canonical spelling), unpacking the IPv4 address an IPv6 form carries (mapped, compatible, NAT64,
// 6to4), the named special-purpose ranges (IANA registries) and CIDR parsing with clear errors.
// It decides nothing: which ranges a caller refuses, and the words it refuses them with, stay with
// the caller. Membership is node:net's BlockList, not hand-written mask arithmetic.
//
// Pure: no DNS, no sockets (node:net's BlockList and isIP are parsers). Not in operator/core only
// because the core's import rule forbids node:* wholesale.
import { BlockList, isIP } from 'node:net';

export type IpFamily = 4 | 6;

/** An IP address in canonical form: no brackets or zone id, IPv6 lower case and compressed. */
export interface Ip {
  readonly address: string;
  readonly family: IpFamily;
}

/** An address range. `address` is as configured (canonical); membership masks it to the prefix. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: IpFamily;
  /** "address/prefix", canonical, for messages and round trips. */
  readonly text: string;
}

/**
 * An IP literal, IPv6 possibly in URL brackets ([::1]) or with a zone id (fe80::1%eth0, which
 * names an interface, not an address), in canonical form; undefined for a host name or anything
 * else. IPv4 is dotted-quad only, without leading zeros (node:net's isIP).
 */
export function parseIp(text: string): Ip | undefined {
  const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const bare = unbracketed.includes(':') ? unbracketed.replace(/%.*$/, '') : unbracketed;
  const family = isIP(bare);
  if (family === 4) return { address: bare, family: 4 };
  if (family !== 6) return undefined;
  try {
    return { address: new URL(`http://[${bare}]/`).hostname.slice(1, -1), family: 6 };
  } catch {
    return undefined;
  }
}

/** The eight 16-bit groups of an IPv6 address (any spelling parseIp reads); undefined if not IPv6. */
export function hextets(ip6: string): number[] | undefined {
  const ip = parseIp(ip6);
  if (ip?.family !== 6) return undefined;
  const [head = '', tail] = ip.address.split('::');
  const part = (s: string) => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const a = part(head);
  const b = tail === undefined ? [] : part(tail);
  return [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
}

/** An address as an unsigned integer (32 or 128 bits), for callers whose API carries numbers. */
export function ipToBigInt(ip: Ip): bigint {
  const groups = ip.family === 4 ? ip.address.split('.').map(Number) : (hextets(ip.address) ?? []);
  const width = ip.family === 4 ? 8n : 16n;
  return groups.reduce((acc, g) => (acc << width) | BigInt(g), 0n);
}

const v4From = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

export type Ipv4Form = 'IPv4-mapped' | 'IPv4-compatible' | 'NAT64' | 'local NAT64' | '6to4';

/**
 * The IPv4 address an IPv6 address carries (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64
 * 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16), if it carries one. :: and ::1 carry none.
 */
export function embeddedIpv4(ip6: string): { ip: string; form: Ipv4Form } | undefined {
  const h = hextets(ip6);
  if (!h) return undefined;
  const g = (i: number) => h[i] ?? 0;
  const zero = (from: number, to: number) => h.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && g(5) === 0xffff) return { ip: v4From(g(6), g(7)), form: 'IPv4-mapped' };
  if (zero(0, 6) && (g(6) !== 0 || g(7) > 1)) return { ip: v4From(g(6), g(7)), form: 'IPv4-compatible' };
  if (g(0) === 0x64 && g(1) === 0xff9b && zero(2, 6)) return { ip: v4From(g(6), g(7)), form: 'NAT64' };
  if (g(0) === 0x64 && g(1) === 0xff9b && g(2) === 1) return { ip: v4From(g(6), g(7)), form: 'local NAT64' };
  if (g(0) === 0x2002) return { ip: v4From(g(1), g(2)), form: '6to4' };
  return undefined;
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it is; anything else as is. */
export function unmapIpv4(ip: Ip): Ip {
  const inner = ip.family === 6 ? embeddedIpv4(ip.address) : undefined;
  return inner?.form === 'IPv4-mapped' ? { address: inner.ip, family: 4 } : ip;
}

/** "10.96.0.0/12", "fd00::/8" or "[fd00::]/8" as a range; undefined when it is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr = '', bits, extra] = text.trim().split('/');
  const ip = parseIp(addr);
  if (!ip || bits === undefined || extra !== undefined || !/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  if (prefix > (ip.family === 4 ? 32 : 128)) return undefined;
  return { address: ip.address, prefix, family: ip.family, text: `${ip.address}/${prefix}` };
}

/**
 * A comma-separated list of ranges from configuration (`source` names it in errors). Throws on an
 * entry it cannot read: a typo must not silently widen or narrow what a policy refuses.
 */
export function parseCidrList(raw: string | undefined, source: string): Cidr[] {
  return (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((text) => {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error(`${source}: "${text}" is not a CIDR (address/prefix, e.g. 10.96.0.0/12 or fd00::/8)`);
      return cidr;
    });
}

const nodeFamily = (family: IpFamily) => (family === 4 ? 'ipv4' : 'ipv6');

/**
 * Is `ip` inside `cidr`? Families must match: an IPv4-mapped IPv6 address is not inside an IPv4
 * range here (callers that judge it as IPv4 unpack it first, with unmapIpv4 or embeddedIpv4).
 */
export function inCidr(ip: Ip, cidr: Cidr): boolean {
  if (ip.family !== cidr.family) return false;
  const list = new BlockList();
  list.addSubnet(cidr.address, cidr.prefix, nodeFamily(cidr.family));
  return list.check(ip.address, nodeFamily(ip.family));
}

/** The kinds of special-purpose range (IANA IPv4 and IPv6 special-purpose address registries). */
export type SpecialKind =
  | 'unspecified'
  | 'loopback'
  | 'link-local'
  | 'private'
  | 'cgnat'
  | 'ietf-protocol'
  | 'documentation'
  | '6to4-relay'
  | 'benchmarking'
  | 'multicast'
  | 'reserved'
  | 'discard'
  | 'unique-local'
  | 'site-local';

export interface SpecialRange {
  readonly kind: SpecialKind;
  readonly cidr: Cidr;
}

const special = (kind: SpecialKind, text: string): SpecialRange => ({ kind, cidr: parseCidr(text) as Cidr });

/** The special-purpose ranges, IPv4 then IPv6, without overlaps. */
export const SPECIAL_RANGES: readonly SpecialRange[] = [
  special('unspecified', '0.0.0.0/8'),
  special('private', '10.0.0.0/8'),
  special('cgnat', '100.64.0.0/10'),
  special('loopback', '127.0.0.0/8'),
  special('link-local', '169.254.0.0/16'),
  special('private', '172.16.0.0/12'),
  special('ietf-protocol', '192.0.0.0/24'),
  special('documentation', '192.0.2.0/24'),
  special('6to4-relay', '192.88.99.0/24'),
  special('private', '192.168.0.0/16'),
  special('benchmarking', '198.18.0.0/15'),
  special('documentation', '198.51.100.0/24'),
  special('documentation', '203.0.113.0/24'),
  special('multicast', '224.0.0.0/4'),
  special('reserved', '240.0.0.0/4'),
  special('unspecified', '::/128'),
  special('loopback', '::1/128'),
  special('discard', '100::/64'),
  special('documentation', '2001:db8::/32'),
  special('unique-local', 'fc00::/7'),
  special('link-local', 'fe80::/10'),
  special('site-local', 'fec0::/10'),
  special('multicast', 'ff00::/8'),
];

/**
 * The special-purpose range `ip` is in, among those of the given kinds (all when omitted);
 * undefined: none of them. The address is judged as written: unpack IPv6 forms first if wanted.
 */
export function specialRangeOf(ip: Ip, kinds?: readonly SpecialKind[]): SpecialRange | undefined {
  return SPECIAL_RANGES.find((r) => (kinds === undefined || kinds.includes(r.kind)) && inCidr(ip, r.cidr));
}
