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
// Parsing, IPv4-embedded unpacking, the named special-purpose ranges, CIDR parsing and membership
// are ../net/ip-ranges.ts (shared with the provider kubeconfig policy); this module keeps which of
// them a callback may not reach, and the words it says so with.
//
// Pure: no DNS, no sockets.
import { SPECIAL_RANGES, embeddedIpv4, inCidr, parseCidr as parseSharedCidr, parseCidrList, parseIp, specialRangeOf } from '../net/ip-ranges.ts';
import type { SpecialKind } from '../net/ip-ranges.ts';

export { embeddedIpv4 };

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
  return parseIp(host)?.address;
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
  for (const text of (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const slash = text.indexOf('/');
    if (slash > 0) {
      out.push({ cidr: parseCidr(text, 'FLOTILLA_CALLBACK_ALLOW_HOSTS'), text });
      continue;
    }
    if (parseIp(text)?.family === 6) {
      out.push({ host: normalizeHost(text), text });
      continue;
    }
    let u: URL;
    try {
      u = new URL(`http://${text}/`);
    } catch {
      throw new Error(`FLOTILLA_CALLBACK_ALLOW_HOSTS: "${text}" is not a host, host:port or CIDR`);
    }
    if (u.username || u.password || u.pathname !== '/' || u.search || u.hash)
      throw new Error(`FLOTILLA_CALLBACK_ALLOW_HOSTS: "${text}" is not a host, host:port or CIDR`);
    // The URL parser drops a scheme's default port (":80"): read the port from the text itself.
    const port = /^(?:\[[^\]]+\]|[^:]+):(\d+)$/.exec(text)?.[1];
    out.push({ host: normalizeHost(u.hostname), ...(port !== undefined ? { port: Number(port) } : {}), text });
  }
  return out;
}

function parseCidr(text: string, source: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const c = parseSharedCidr(text);
  if (!c) throw new Error(`${source}: "${text}" is not a CIDR (address/prefix)`);
  return { address: c.address, prefix: c.prefix, family: c.family === 4 ? 'ipv4' : 'ipv6' };
}

/** Parses the hub's service and pod ranges (FLOTILLA_HUB_SERVICE_CIDR, FLOTILLA_HUB_POD_CIDR; comma-separated). */
export function parseDenyList(raw: string | undefined): string[] {
  return parseCidrList(raw, 'FLOTILLA_HUB_SERVICE_CIDR/FLOTILLA_HUB_POD_CIDR').map((c) => c.text);
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

// The special-purpose ranges refused (all of them), in the words a refusal uses.
const WORDS: Readonly<Record<SpecialKind, { 4?: string; 6?: string }>> = {
  unspecified: { 4: 'unspecified ("this network")', 6: 'unspecified' },
  private: { 4: 'private' },
  cgnat: { 4: 'carrier-grade NAT (shared)' },
  loopback: { 4: 'loopback', 6: 'loopback' },
  'link-local': { 4: 'link-local (cloud metadata)', 6: 'link-local' },
  'ietf-protocol': { 4: 'IETF protocol assignments' },
  documentation: { 4: 'documentation', 6: 'documentation' },
  '6to4-relay': { 4: '6to4 relay anycast' },
  benchmarking: { 4: 'benchmarking' },
  multicast: { 4: 'multicast', 6: 'multicast' },
  reserved: { 4: 'reserved (and broadcast)' },
  discard: { 6: 'discard-only' },
  'unique-local': { 6: 'unique local (private)' },
  'site-local': { 6: 'site-local (private)' },
};
// Every special range has words: a range added to ../net/ip-ranges.ts is refused here by default.
for (const { kind, cidr } of SPECIAL_RANGES) {
  if (!WORDS[kind][cidr.family]) throw new Error(`url-policy: no words for ${kind} range ${cidr.text}`);
}

function inAllowCidr(ip: string, cidr: { address: string; prefix: number; family: 'ipv4' | 'ipv6' }): boolean {
  const parsed = parseIp(ip);
  const range = parseSharedCidr(`${cidr.address}/${cidr.prefix}`);
  return parsed !== undefined && range !== undefined && inCidr(parsed, range);
}

/** Why an IP is no place for a callback, from the ranges alone (no allow-list); undefined: public. */
export function addressClass(ip: string, deny: readonly string[] = []): string | undefined {
  const parsed = parseIp(ip);
  if (!parsed) return 'not an IP address';
  for (const text of deny) {
    const [c] = parseCidrList(text, 'deny');
    if (c && inCidr(parsed, c)) return `in the hub's service/pod range ${text}`;
  }
  const inner = parsed.family === 6 ? embeddedIpv4(parsed.address) : undefined;
  if (inner) {
    const why = addressClass(inner.ip, deny);
    return why ? `${inner.form} form of ${inner.ip}: ${why}` : undefined;
  }
  const special = specialRangeOf(parsed);
  return special ? WORDS[special.kind][special.cidr.family] : undefined;
}

function allowed(policy: CallbackPolicy, host: string, port: number, ip?: string): AllowEntry | undefined {
  return policy.allow.find((e) => {
    if (e.port !== undefined && e.port !== port) return false;
    if (e.cidr) return ip !== undefined && inAllowCidr(ip, e.cidr);
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
    return why
      ? `spec.callbackURL host ${why}; callbacks may not reach internal addresses (an operator may allow a host with FLOTILLA_CALLBACK_ALLOW_HOSTS)`
      : undefined;
  }
  if (host === 'localhost' || host.endsWith('.localhost'))
    return `spec.callbackURL host ${host} is loopback; callbacks may not reach internal addresses (an operator may allow a host with FLOTILLA_CALLBACK_ALLOW_HOSTS)`;
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
  const listeners = inputs.ownPorts
    .filter((p) => p > 0)
    .flatMap((port) => [...inputs.localAddresses, 'localhost'].map((host) => ({ host: normalizeHost(host), port, what: "the operator's own listener" })));
  return {
    allow: inputs.allow,
    deny: inputs.deny,
    own: [
      ...ownEndpointOf(inputs.kuboApi, "the hub's Kubo API"),
      ...ownEndpointOf(inputs.reportUrl, "the operator's checkpoint-report endpoint"),
      ...listeners,
    ],
  };
}
