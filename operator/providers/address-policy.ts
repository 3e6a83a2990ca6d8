// Which addresses a provider's API server may not have: the operator's own host (loopback and the
// unspecified address, which connects to the local host), link-local (cloud metadata services at
// 169.254.169.254 hand out credentials) and the hub cluster's own service and pod ranges (a provider
// kubeconfig pointing there turns the operator into a proxy into the hub). Pure: IP text in,
// a reason out; the adapter (./kubeconfig.ts) resolves host names and asks for every address.

/** An address range, parsed. */
export interface IpRange {
  readonly text: string;
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly prefix: number;
}

/** A range that some configuration named, with what it is (for messages). */
export interface NamedRange {
  readonly range: IpRange;
  readonly what: string;
}

const V4_BITS = 32;
const V6_BITS = 128;

/** An IPv4 address in dotted-quad form as a 32-bit integer; undefined when it is not one. */
function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

/** An IPv6 address (with `::` and an optional trailing dotted quad) as a 128-bit integer. */
function parseIpv6(input: string): bigint | undefined {
  const text = input.replace(/%.*$/, ''); // a zone id (fe80::1%eth0) names an interface, not an address
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const pieces = s.split(':');
    for (let i = 0; i < pieces.length; i += 1) {
      const piece = pieces[i] as string;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = groupsOf(halves[0] as string);
  const tail = halves.length === 2 ? groupsOf(halves[1] as string) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** An IP literal (IPv6 possibly in URL brackets) as family and value; undefined for a host name. */
export function parseIp(text: string): { family: 4 | 6; value: bigint } | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v4 = parseIpv4(bare);
  if (v4 !== undefined) return { family: 4, value: v4 };
  if (!bare.includes(':')) return undefined;
  const v6 = parseIpv6(bare);
  return v6 !== undefined ? { family: 6, value: v6 } : undefined;
}

/** "10.96.0.0/12" or "fd00::/8" → IpRange; throws on anything else (configuration errors). */
export function parseRange(text: string): IpRange {
  const [addr, bits, extra] = text.trim().split('/');
  const ip = parseIp(addr ?? '');
  const width = ip?.family === 4 ? V4_BITS : V6_BITS;
  const prefix = Number(bits);
  if (!ip || extra !== undefined || bits === undefined || !/^\d{1,3}$/.test(bits) || prefix > width) {
    throw new Error(`"${text}" is not an address range (CIDR), e.g. 10.96.0.0/12 or fd00::/8`);
  }
  const hostBits = BigInt(width - prefix);
  return { text: text.trim(), family: ip.family, base: (ip.value >> hostBits) << hostBits, prefix };
}

function inRange(family: 4 | 6, value: bigint, range: IpRange): boolean {
  if (family !== range.family) return false;
  const hostBits = BigInt((family === 4 ? V4_BITS : V6_BITS) - range.prefix);
  return value >> hostBits === range.base >> hostBits;
}

const BUILT_IN: readonly NamedRange[] = [
  ['0.0.0.0/8', 'the unspecified address (it reaches the operator\'s own host)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local (cloud metadata services live here)'],
  ['::/128', 'the unspecified address (it reaches the operator\'s own host)'],
  ['::1/128', 'loopback'],
  ['fe80::/10', 'link-local'],
].map(([text, what]) => ({ range: parseRange(text as string), what: what as string }));

const V4_MAPPED = parseRange('::ffff:0:0/96');

/** Is a built-in refusal one that the local-development flag lifts? Loopback only. */
const isLoopbackish = (what: string) => what === 'loopback' || what.startsWith('the unspecified address');

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
  const parsed = parseIp(ip);
  if (!parsed) return undefined;
  let { family, value } = parsed;
  if (family === 6 && inRange(6, value, V4_MAPPED)) {
    family = 4;
    value &= 0xffffffffn;
  }
  for (const { range, what } of [...BUILT_IN, ...policy.hubRanges]) {
    if (!inRange(family, value, range)) continue;
    if (policy.allowLoopback && isLoopbackish(what)) continue;
    return `${ip} is ${what} (${range.text})`;
  }
  return undefined;
}
