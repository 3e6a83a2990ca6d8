// Which addresses a provider's API server may not have: the operator's own host (loopback and the
// unspecified address, which connects to the local host), link-local (cloud metadata services at
// 169.254.169.254 hand out credentials) and the hub cluster's own service and pod ranges (a provider
// kubeconfig pointing there turns the operator into a proxy into the hub). Pure: IP text in,
// a reason out; the adapter (./kubeconfig.ts) resolves host names and asks for every address.
// Parsing, IPv4-mapped unpacking, the named ranges and membership are ../net/ip-ranges.ts; this
// module keeps the policy (which ranges, in what words) and its bigint-carrying API.
import { inCidr, ipToBigInt, parseCidr, parseIp as parseIpLiteral, specialRangeOf, unmapIpv4 } from '../net/ip-ranges.ts';
import type { Cidr, SpecialKind } from '../net/ip-ranges.ts';

/** An address range, parsed. */
export interface IpRange {
  readonly text: string;
  readonly family: 4 | 6;
  /** The network address as an integer (masked to the prefix). */
  readonly base: bigint;
  readonly prefix: number;
  /** The same range for membership tests. */
  readonly cidr: Cidr;
}

/** A range that some configuration named, with what it is (for messages). */
export interface NamedRange {
  readonly range: IpRange;
  readonly what: string;
}

/** An IP literal (IPv6 possibly in URL brackets) as family and value; undefined for a host name. */
export function parseIp(text: string): { family: 4 | 6; value: bigint } | undefined {
  const ip = parseIpLiteral(text);
  return ip ? { family: ip.family, value: ipToBigInt(ip) } : undefined;
}

function rangeOf(cidr: Cidr, text: string): IpRange {
  const hostBits = BigInt((cidr.family === 4 ? 32 : 128) - cidr.prefix);
  const base = (ipToBigInt(cidr) >> hostBits) << hostBits;
  return { text, family: cidr.family, base, prefix: cidr.prefix, cidr };
}

/** "10.96.0.0/12" or "fd00::/8" → IpRange; throws on anything else (configuration errors). */
export function parseRange(text: string): IpRange {
  const cidr = parseCidr(text);
  if (!cidr) throw new Error(`"${text}" is not an address range (CIDR), e.g. 10.96.0.0/12 or fd00::/8`);
  return rangeOf(cidr, text.trim());
}

const UNSPECIFIED = "the unspecified address (it reaches the operator's own host)";

/** The special-purpose ranges refused, in this policy's words. */
const BUILT_IN: Readonly<Partial<Record<SpecialKind, string>>> = {
  unspecified: UNSPECIFIED,
  loopback: 'loopback',
  'link-local': 'link-local',
};
/** IPv4 link-local is where cloud metadata services live: say so. */
const wordsFor = (kind: SpecialKind, family: 4 | 6) =>
  kind === 'link-local' && family === 4 ? 'link-local (cloud metadata services live here)' : (BUILT_IN[kind] as string);
const REFUSED_KINDS = Object.keys(BUILT_IN) as SpecialKind[];

/** Is a built-in refusal one that the local-development flag lifts? Loopback and unspecified only. */
const isLoopbackish = (kind: SpecialKind) => kind === 'loopback' || kind === 'unspecified';

export interface AddressPolicy {
  /** The hub's own ranges (service, pod): never a provider's API server. */
  readonly hubRanges: readonly NamedRange[];
  /** Local development (FLOTILLA_ALLOW_INSECURE_PROVIDERS): loopback and unspecified allowed. */
  readonly allowLoopback: boolean;
}

/**
 * Why a provider's API server may not be at `ip`, or undefined when it may. IPv4-mapped IPv6
 * addresses (::ffff:127.0.0.1) are judged as the IPv4 address they carry.
 */
export function forbiddenAddress(ip: string, policy: AddressPolicy): string | undefined {
  const parsed = parseIpLiteral(ip);
  if (!parsed) return undefined;
  const judged = unmapIpv4(parsed);
  const builtIn = specialRangeOf(judged, REFUSED_KINDS);
  if (builtIn && !(policy.allowLoopback && isLoopbackish(builtIn.kind))) {
    return `${ip} is ${wordsFor(builtIn.kind, builtIn.cidr.family)} (${builtIn.cidr.text})`;
  }
  const hub = policy.hubRanges.find(({ range }) => inCidr(judged, range.cidr));
  return hub ? `${ip} is ${hub.what} (${hub.range.text})` : undefined;
}
