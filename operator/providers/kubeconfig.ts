// From a GPUProvider's kubeconfig Secret to a rate-limited, size-limited client configuration, or a
// ProviderConfigError whose reason the Reachable condition shows.
//
// The kubeconfig comes from the provider, so it is held to an allow-list (./kubeconfig-policy.ts):
// the YAML is parsed and checked here, and client-node is given only the vetted fields, never the
// document itself. The server's address is checked twice: as written (an IP literal, pure) and, for
// a host name, as it resolves when the connection is built (resolveProviderServer).
import { createHash } from 'node:crypto';
import { lookup as dnsLookupCallback } from 'node:dns';
import type { LookupAddress, LookupAllOptions } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import * as yaml from 'js-yaml';
import type { RequestContext, V1Secret } from '@kubernetes/client-node';
import { RateLimitedKubeConfig } from '../runtime/rate-limited-kubeconfig.ts';
import type { RateLimit } from '../runtime/token-bucket.ts';
import { forbiddenAddress, parseIp } from './address-policy.ts';
import type { AddressPolicy } from './address-policy.ts';
import { DEFAULT_RESPONSE_LIMITS, withResponseLimits } from './bounded-response.ts';
import type { ResponseLimits } from './bounded-response.ts';
import { ProviderConfigError } from './health.ts';
import { STRICT_KUBECONFIG_POLICY, vetKubeconfig } from './kubeconfig-policy.ts';
import type { KubeconfigPolicy } from './kubeconfig-policy.ts';

export interface SecretRef {
  readonly name: string;
  readonly namespace: string;
  readonly key?: string;
}

export const DEFAULT_SECRET_KEY = 'kubeconfig';

export const secretRefText = (ref: SecretRef) => `${ref.namespace}/${ref.name}`;

/** The kubeconfig text from the Secret (undefined: the Secret does not exist). */
export function kubeconfigFromSecret(secret: V1Secret | undefined, ref: SecretRef): string {
  const key = ref.key ?? DEFAULT_SECRET_KEY;
  if (!secret) throw new ProviderConfigError('SecretNotFound', `Secret ${secretRefText(ref)} not found (spec.kubeconfigSecretRef)`);
  const data = secret.data?.[key];
  const text = data !== undefined ? Buffer.from(data, 'base64').toString('utf8') : secret.stringData?.[key];
  if (text === undefined) {
    const keys = Object.keys(secret.data ?? {}).sort();
    const has = keys.length > 0 ? `it has ${keys.map((k) => JSON.stringify(k)).join(', ')}` : 'it has no data';
    throw new ProviderConfigError('SecretKeyMissing', `Secret ${secretRefText(ref)} has no key "${key}" (spec.kubeconfigSecretRef.key); ${has}`);
  }
  return text;
}

/** Identifies a kubeconfig's content: the connection is rebuilt when it changes. */
export function kubeconfigHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export interface ProviderKubeConfigOptions {
  readonly rateLimit: RateLimit;
  /** Deadline of every request except watches (which time out on inactivity themselves). */
  readonly requestTimeoutMs: number;
  /** Size limits of every response and watch event. Default DEFAULT_RESPONSE_LIMITS. */
  readonly responseLimits?: ResponseLimits;
  /** Addresses no connection may reach, checked at every connect (vettedLookup). Default: strict. */
  readonly addressPolicy?: AddressPolicy;
}

const STRICT_ADDRESSES: AddressPolicy = { hubRanges: [], allowLoopback: false };

export const ADDRESS_REFUSED = 'FLOTILLA_ADDRESS_REFUSED';

/**
 * A `lookup` for the provider's sockets: resolves as the system does and refuses, at connect time,
 * a name that resolves to a forbidden address. This is what defeats DNS rebinding: the address
 * checked is the address dialled, whatever the name resolved to when the connection was built.
 */
export function vettedLookup(policy: AddressPolicy, lookup: typeof dnsLookupCallback = dnsLookupCallback): LookupFunction {
  return (hostname, options, callback) => {
    const all: LookupAllOptions = { ...options, all: true };
    lookup(hostname, all, (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
      if (err) return void (callback as (e: NodeJS.ErrnoException) => void)(err);
      for (const { address } of addresses) {
        const why = forbiddenAddress(address, policy);
        if (why) {
          const refused = Object.assign(new Error(`${hostname} resolves to ${why}; not connecting`), { code: ADDRESS_REFUSED }) as NodeJS.ErrnoException;
          return void (callback as (e: NodeJS.ErrnoException) => void)(refused);
        }
      }
      if (options.all) return void (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return void (callback as (e: NodeJS.ErrnoException) => void)(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }));
      return void callback(null, first.address, first.family);
    });
  };
}

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;
type DispatcherOptions = ReturnType<RateLimitedKubeConfig['createDispatcherOptions']>;

/**
 * A RateLimitedKubeConfig whose requests also carry a deadline (a provider that accepts the TCP
 * connection and never answers must show up as Timeout, not hang an informer's list forever) and
 * whose responses are size-limited (./bounded-response.ts).
 */
export class ProviderKubeConfig extends RateLimitedKubeConfig {
  readonly requestTimeoutMs: number;
  readonly responseLimits: ResponseLimits;
  readonly addressPolicy: AddressPolicy;

  constructor(opts: ProviderKubeConfigOptions) {
    super(opts.rateLimit);
    this.requestTimeoutMs = opts.requestTimeoutMs;
    this.responseLimits = opts.responseLimits ?? DEFAULT_RESPONSE_LIMITS;
    this.addressPolicy = opts.addressPolicy ?? STRICT_ADDRESSES;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    // Watch builds its own fetch (with its own AbortController) and ignores this signal.
    if (!context.getSignal()) context.setSignal(AbortSignal.timeout(this.requestTimeoutMs));
  }

  /**
   * TLS verification on unless the (vetted) kubeconfig turned it off: left unset, undici would
   * follow NODE_TLS_REJECT_UNAUTHORIZED of the operator's environment, and client-node would build
   * no dispatcher of its own at all (and so none to put the size limits on) for a server without
   * certificate-authority-data or a client certificate.
   */
  override createDispatcherOptions(
    cluster: Parameters<RateLimitedKubeConfig['createDispatcherOptions']>[0],
    agentOptions: Parameters<RateLimitedKubeConfig['createDispatcherOptions']>[1],
  ): DispatcherOptions {
    const verify = cluster?.skipTLSVerify !== true;
    const options = super.createDispatcherOptions(cluster, { ...agentOptions, rejectUnauthorized: agentOptions.rejectUnauthorized ?? verify });
    // Every socket of this client resolves through the address check (no proxy: never vetted in).
    return options.type === 'agent' ? { ...options, connect: { ...options.connect, lookup: vettedLookup(this.addressPolicy) } } : options;
  }

  protected override decorateDispatcher(dispatcher: Dispatcher): Dispatcher {
    return withResponseLimits(dispatcher, this.responseLimits, () => `provider ${this.clusterName ?? this.server}:`);
  }

  /** The API server URL of the current context. */
  get server(): string {
    return this.getCurrentCluster()?.server ?? '';
  }
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return (message.split('\n')[0] ?? '').trim();
}

export interface LoadProviderKubeConfigOptions extends ProviderKubeConfigOptions {
  /** What the kubeconfig may say. Default STRICT_KUBECONFIG_POLICY (production). */
  readonly policy?: KubeconfigPolicy;
}

/**
 * Parses and vets a provider kubeconfig; `source` names where it came from, for messages. Only the
 * allow-listed fields reach client-node (loadFromOptions with what vetKubeconfig returned).
 */
export function loadProviderKubeConfig(text: string, source: string, opts: LoadProviderKubeConfigOptions): ProviderKubeConfig {
  const invalid = (why: string) => new ProviderConfigError('KubeconfigInvalid', `kubeconfig in ${source} ${why}`);
  let doc: unknown;
  try {
    // The core schema: no !!binary, timestamps or other tags a kubeconfig never needs.
    doc = yaml.load(text, { schema: yaml.CORE_SCHEMA });
  } catch (err) {
    throw invalid(`does not parse: ${firstLine(err)}`);
  }
  if (doc === undefined || doc === null) throw invalid('does not parse: it is empty');
  const verdict = vetKubeconfig(doc, opts.policy ?? STRICT_KUBECONFIG_POLICY);
  if (!verdict.ok) throw invalid(verdict.refusal.message);
  const { cluster, user, contextName } = verdict.config;
  const policy = opts.policy ?? STRICT_KUBECONFIG_POLICY;
  const kc = new ProviderKubeConfig({ ...opts, addressPolicy: { hubRanges: policy.hubRanges, allowLoopback: policy.allowInsecure } });
  kc.loadFromOptions({
    clusters: [cluster],
    users: [user],
    contexts: [{ name: contextName, cluster: cluster.name, user: user.name }],
    currentContext: contextName,
  });
  return kc;
}

export type AddressLookup = (hostname: string) => Promise<readonly { readonly address: string }[]>;

const systemLookup: AddressLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * Resolves the server's host name and refuses it when any address it resolves to is forbidden (a
 * name that resolves to loopback is loopback). An IP literal was judged by loadProviderKubeConfig.
 * A name that does not resolve now is left to the connection, which reports it (ConnectionFailed).
 * A name that resolves elsewhere later (DNS rebinding) is caught at connect time by vettedLookup.
 */
export async function resolveProviderServer(
  kc: ProviderKubeConfig,
  source: string,
  policy: KubeconfigPolicy = STRICT_KUBECONFIG_POLICY,
  lookup: AddressLookup = systemLookup,
): Promise<void> {
  let host: string;
  try {
    host = new URL(kc.server).hostname;
  } catch {
    return;
  }
  if (parseIp(host)) return;
  let addresses: readonly { readonly address: string }[];
  try {
    addresses = await lookup(host);
  } catch {
    return;
  }
  for (const { address } of addresses) {
    const why = forbiddenAddress(address, { hubRanges: policy.hubRanges, allowLoopback: policy.allowInsecure });
    if (why) {
      throw new ProviderConfigError(
        'KubeconfigInvalid',
        `kubeconfig in ${source} has clusters[0].cluster.server "${kc.server}", which is not accepted: ${host} resolves to ${why}`,
      );
    }
  }
}
