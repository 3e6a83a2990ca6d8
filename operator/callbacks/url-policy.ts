// Where a callback may go. A tenant writes spec.callbackURL; the operator POSTs to it from inside
// the hub, so without a policy the URL is a request forgery primitive against everything the hub
// can reach (cloud metadata, the apiserver, Kubo's RPC API, the operator's own ports).
//
//   admission (webhook)        callbackUrlProblem(url)          syntax, credentials, literal IPs, names
//   send time (dispatcher)     callbackUrlProblem(url) again, then every address the name resolves
//                              to through addressProblem(ip, port) inside the socket's own lookup,
//                              so the address vetted is the address connected to (no second lookup)
//
// Refused: loopback, link-local (169.254.169.254), private, CGNAT, unspecified, multicast, reserved,
// benchmarking and documentation ranges; the same addresses in IPv4-mapped, -compatible, NAT64 and
// 6to4 IPv6 forms; the hub's service and pod ranges (FLOTILLA_HUB_SERVICE_CIDR, FLOTILLA_HUB_POD_CIDR); Flotilla's own
// endpoints (the hub's Kubo API, the operator's listeners), allow-list or not. The operator-wide
// allow-list (FLOTILLA_CALLBACK_ALLOW_HOSTS) lets a named host, host:port or CIDR through the
// range checks. Decimal, octal and hex IPv4 spellings (http://2130706433/) need no code of their
// own: the WHATWG URL parser normalizes them to dotted quads before anything here looks.
//
// Pure: no DNS, no sockets (node:net's BlockList and isIP are parsers).
import { BlockList, isIP } from 'node:net';

export interface AllowEntry {
  /** Lower-case host name or normalized IP; absent for a CIDR entry. */
  readonly host?: string;
  readonly cidr?: { readonly address: string; readonly prefix: number; readonly family: 'ipv4' | 'ipv6' };
  /** Only this port (absent: any). */
  readonly port?: number;
  /** As configured, for messages. */
  readonly text: string;
}

export interface OwnEndpoint {
  /** Lower-case host name or normalized IP. */
  readonly host: string;
  readonly port: number;
  /** What it is, for messages: "the hub's Kubo API". */
  readonly what: string;
}

export interface CallbackPolicy {
  readonly allow: readonly AllowEntry[];
  /** Extra ranges refused (the hub's service and pod CIDRs), as "address/prefix". */
  readonly deny: readonly string[];
  readonly own: readonly OwnEndpoint[];
}

export const EMPTY_POLICY: CallbackPolicy = { allow: [], deny: [], own: [] };

/** An IP without brackets and in the parser's canonical form; undefined when `host` is not an IP. */
export function normalizeIp(host: string): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(bare);
  if (family === 0) return undefined;
  if (family === 4) return bare;
  try {
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** A host as the URL parser leaves it, lower case, without a trailing dot or IPv6 brackets. */
export function normalizeHost(host: string): string {
  return normalizeIp(host) ?? host.toLowerCase().replace(/\.$/, '');
}

const defaultPort = (protocol: string) => (protocol === 'https:' ? 443 : 80);

/** The port a URL connects to (its explicit port, else the scheme's). */
export function urlPort(u: URL): number {
  return u.port ? Number(u.port) : defaultPort(u.protocol);
}

/**
 * Parses FLOTILLA_CALLBACK_ALLOW_HOSTS: comma-separated `host`, `host:port`, `[v6]:port`, `v6`,
 * `ip/prefix`. Throws on an entry it cannot read (a typo must not silently allow nothing, or all).
 */
export function parseAllowList(raw: string | undefined): AllowEntry[] {
  const out: AllowEntry[] = [];
  for (const text of (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const slash = text.indexOf('/');
    if (slash > 0) {
      out.push({ cidr: parseCidr(text, 'FLOTILLA_CALLBACK_ALLOW_HOSTS'), text });
      continue;
    }
    if (isIP(text) === 6) {
      out.push({ host: normalizeHost(text), text });
      continue;
    }
    let u: URL;
    try {
      u = new URL(`http://${text}/`);
    } catch {
      throw new Error(`FLOTILLA_CALLBACK_ALLOW_HOSTS: "${text}" is not a host, host:port or CIDR`);
    }
    if (u.username || u.password || u.pathname !== '/' || u.search || u.hash) throw new Error(`FLOTILLA_CALLBACK_ALLOW_HOSTS: "${text}" is not a host, host:port or CIDR`);
    // The URL parser drops a scheme's default port (":80"): read the port from the text itself.
    const port = /^(?:\[[^\]]+\]|[^:]+):(\d+)$/.exec(text)?.[1];
    out.push({ host: normalizeHost(u.hostname), ...(port !== undefined ? { port: Number(port) } : {}), text });
  }
  return out;
}

function parseCidr(text: string, source: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [addr = '', bits = ''] = text.split('/');
  const address = normalizeIp(addr);
  const family = isIP(address ?? '') === 4 ? 'ipv4' : 'ipv6';
  const prefix = Number(bits);
  if (!address || !/^\d+$/.test(bits) || prefix > (family === 'ipv4' ? 32 : 128)) throw new Error(`${source}: "${text}" is not a CIDR (address/prefix)`);
  return { address, prefix, family };
}

/** Parses the hub's service and pod ranges (FLOTILLA_HUB_SERVICE_CIDR, FLOTILLA_HUB_POD_CIDR; comma-separated). */
export function parseDenyList(raw: string | undefined): string[] {
  return (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean).map((text) => {
    const c = parseCidr(text, 'FLOTILLA_HUB_SERVICE_CIDR/FLOTILLA_HUB_POD_CIDR');
    return `${c.address}/${c.prefix}`;
  });
}

/** An own endpoint from a URL the operator is configured with (e.g. FLOTILLA_KUBO_API). */
export function ownEndpointOf(url: string | undefined, what: string): OwnEndpoint[] {
  if (!url) return [];
  try {
    const u = new URL(url);
    return [{ host: normalizeHost(u.hostname), port: urlPort(u), what }];
  } catch {
    return [];
  }
}

// Special-purpose ranges (IANA registries), with the words a refusal uses.
const V4_RANGES: ReadonlyArray<readonly [string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT (shared)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local (cloud metadata)'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved (and broadcast)'],
];
const V6_RANGES: ReadonlyArray<readonly [string, number, string]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['100::', 64, 'discard-only'],
  ['2001:db8::', 32, 'documentation'],
  ['fc00::', 7, 'unique local (private)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local (private)'],
  ['ff00::', 8, 'multicast'],
];

function hextets(ip6: string): number[] {
  const [head = '', tail] = ip6.split('::');
  const part = (s: string) => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const a = part(head);
  const b = tail === undefined ? [] : part(tail);
  return [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
}

const v4From = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if it carries one. */
export function embeddedIpv4(ip6: string): { ip: string; form: string } | undefined {
  const h = hextets(ip6);
  const zero = (from: number, to: number) => h.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && h[5] === 0xffff) return { ip: v4From(h[6] ?? 0, h[7] ?? 0), form: 'IPv4-mapped' };
  if (zero(0, 6) && ((h[6] ?? 0) !== 0 || (h[7] ?? 0) > 1)) return { ip: v4From(h[6] ?? 0, h[7] ?? 0), form: 'IPv4-compatible' };
  if (h[0] === 0x64 && h[1] === 0xff9b && zero(2, 6)) return { ip: v4From(h[6] ?? 0, h[7] ?? 0), form: 'NAT64' };
  if (h[0] === 0x64 && h[1] === 0xff9b && h[2] === 1) return { ip: v4From(h[6] ?? 0, h[7] ?? 0), form: 'local NAT64' };
  if (h[0] === 0x2002) return { ip: v4From(h[1] ?? 0, h[2] ?? 0), form: '6to4' };
  return undefined;
}

function rangeOf(ip: string, ranges: ReadonlyArray<readonly [string, number, string]>, family: 'ipv4' | 'ipv6'): string | undefined {
  for (const [address, prefix, what] of ranges) {
    const list = new BlockList();
    list.addSubnet(address, prefix, family);
    if (list.check(ip, family)) return what;
  }
  return undefined;
}

function inCidr(ip: string, cidr: { address: string; prefix: number; family: 'ipv4' | 'ipv6' }): boolean {
  const list = new BlockList();
  list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  return list.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6');
}

/** Why an IP is no place for a callback, from the ranges alone (no allow-list); undefined: public. */
export function addressClass(ip: string, deny: readonly string[] = []): string | undefined {
  const norm = normalizeIp(ip);
  if (!norm) return 'not an IP address';
  const family = isIP(norm) === 4 ? 'ipv4' : 'ipv6';
  for (const text of deny) {
    const c = parseCidr(text, 'deny');
    if (inCidr(norm, c)) return `in the hub's service/pod range ${text}`;
  }
  if (family === 'ipv4') return rangeOf(norm, V4_RANGES, 'ipv4');
  const inner = embeddedIpv4(norm);
  if (inner) {
    const why = addressClass(inner.ip, deny);
    return why ? `${inner.form} form of ${inner.ip}: ${why}` : undefined;
  }
  return rangeOf(norm, V6_RANGES, 'ipv6');
}

function allowed(policy: CallbackPolicy, host: string, port: number, ip?: string): AllowEntry | undefined {
  return policy.allow.find((e) => {
    if (e.port !== undefined && e.port !== port) return false;
    if (e.cidr) return ip !== undefined && inCidr(ip, e.cidr);
    return e.host === host || (ip !== undefined && e.host === ip);
  });
}

function ownEndpoint(policy: CallbackPolicy, host: string, port: number): OwnEndpoint | undefined {
  return policy.own.find((o) => o.port === port && o.host === host);
}

/**
 * Why a resolved address is refused for a callback to `host` (the URL's host) on `port`;
 * undefined: connect. Own endpoints are refused even when allow-listed.
 */
export function addressProblem(ip: string, port: number, host: string, policy: CallbackPolicy): string | undefined {
  const norm = normalizeIp(ip) ?? ip;
  const own = ownEndpoint(policy, norm, port);
  if (own) return `${host} resolves to ${norm}:${port}, ${own.what}`;
  if (allowed(policy, normalizeHost(host), port, norm)) return undefined;
  const why = addressClass(norm, policy.deny);
  if (!why) return undefined;
  return normalizeHost(host) === norm ? `${norm} is ${why}` : `${host} resolves to ${norm}, ${why}`;
}

/**
 * What is wrong with a callback URL, from the URL alone (no DNS): undefined when it may be called,
 * subject to the send-time check of the addresses its host resolves to. For the admission webhook
 * and, again, before every send.
 */
export function callbackUrlProblem(url: string, policy: CallbackPolicy = EMPTY_POLICY): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'spec.callbackURL is not a URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `spec.callbackURL must be http or https, not ${u.protocol.replace(/:$/, '')}`;
  if (u.username || u.password) return 'spec.callbackURL must not carry credentials (user:password@); authenticate the callback with its signature';
  const host = normalizeHost(u.hostname);
  if (!host) return 'spec.callbackURL has no host';
  const port = urlPort(u);
  const own = ownEndpoint(policy, host, port);
  if (own) return `spec.callbackURL points at ${own.what} (${host}:${port}); callbacks may not call Flotilla's own endpoints`;
  if (allowed(policy, host, port, normalizeIp(host))) return undefined;
  if (normalizeIp(host)) {
    const why = addressProblem(host, port, host, policy);
    return why ? `spec.callbackURL host ${why}; callbacks may not reach internal addresses (an operator may allow a host with FLOTILLA_CALLBACK_ALLOW_HOSTS)` : undefined;
  }
  if (host === 'localhost' || host.endsWith('.localhost')) return `spec.callbackURL host ${host} is loopback; callbacks may not reach internal addresses (an operator may allow a host with FLOTILLA_CALLBACK_ALLOW_HOSTS)`;
  return undefined;
}

export interface PolicyInputs {
  readonly allow: readonly AllowEntry[];
  readonly deny: readonly string[];
  /** FLOTILLA_KUBO_API. */
  readonly kuboApi?: string;
  /** FLOTILLA_REPORT_URL: the operator's own checkpoint-report endpoint. */
  readonly reportUrl?: string;
  /** Ports the operator listens on (HTTP, reports, webhooks), refused on every local address. */
  readonly ownPorts: readonly number[];
  /** This machine's addresses (os.networkInterfaces()), loopback included. */
  readonly localAddresses: readonly string[];
}

/** The operator's policy from its configuration. */
export function callbackPolicyOf(inputs: PolicyInputs): CallbackPolicy {
  const listeners = inputs.ownPorts.filter((p) => p > 0).flatMap((port) =>
    [...inputs.localAddresses, 'localhost'].map((host) => ({ host: normalizeHost(host), port, what: 'the operator\'s own listener' })));
  return {
    allow: inputs.allow,
    deny: inputs.deny,
    own: [...ownEndpointOf(inputs.kuboApi, 'the hub\'s Kubo API'), ...ownEndpointOf(inputs.reportUrl, 'the operator\'s checkpoint-report endpoint'), ...listeners],
  };
}
