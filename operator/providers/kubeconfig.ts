// From a GPUProvider's kubeconfig Secret to a rate-limited client configuration, or a
// ProviderConfigError whose reason the Reachable condition shows.
//
// The kubeconfig comes from the provider, so it is held to what a Secret can carry safely: inline
// certificates and tokens only. Exec plugins and auth-provider entries would run commands or reach
// identity providers from the operator's process; file paths would read the operator's own files.
import { createHash } from 'node:crypto';
import type { RequestContext, V1Secret } from '@kubernetes/client-node';
import { RateLimitedKubeConfig } from '../runtime/rate-limited-kubeconfig.ts';
import type { RateLimit } from '../runtime/token-bucket.ts';
import { ProviderConfigError } from './health.ts';

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
}

/**
 * A RateLimitedKubeConfig whose requests also carry a deadline: a provider that accepts the TCP
 * connection and never answers must show up as Timeout, not hang an informer's list forever.
 */
export class ProviderKubeConfig extends RateLimitedKubeConfig {
  readonly requestTimeoutMs: number;

  constructor(opts: ProviderKubeConfigOptions) {
    super(opts.rateLimit);
    this.requestTimeoutMs = opts.requestTimeoutMs;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    // Watch builds its own fetch (with its own AbortController) and ignores this signal.
    if (!context.getSignal()) context.setSignal(AbortSignal.timeout(this.requestTimeoutMs));
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

/** Parses and vets a provider kubeconfig; `source` names where it came from, for messages. */
export function loadProviderKubeConfig(text: string, source: string, opts: ProviderKubeConfigOptions): ProviderKubeConfig {
  const invalid = (why: string) => new ProviderConfigError('KubeconfigInvalid', `kubeconfig in ${source} ${why}`);
  const kc = new ProviderKubeConfig(opts);
  try {
    kc.loadFromString(text);
  } catch (err) {
    throw invalid(`does not parse: ${firstLine(err)}`);
  }
  const context = kc.getContextObject(kc.getCurrentContext());
  if (!context) throw invalid(kc.getCurrentContext() ? `names current-context "${kc.getCurrentContext()}", which it does not define` : 'has no current-context');
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw invalid(`context "${context.name}" names cluster "${context.cluster}", which it does not define`);
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw invalid(`has server "${cluster.server}", which is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(`has server "${cluster.server}": only https and http are supported`);
  if (cluster.caFile) throw invalid(`cluster "${cluster.name}" reads certificate-authority from a file; inline it as certificate-authority-data`);
  const user = kc.getCurrentUser();
  if (context.user && !user) throw invalid(`context "${context.name}" names user "${context.user}", which it does not define`);
  if (user?.exec) throw invalid(`user "${user.name}" uses an exec credential plugin, which the operator does not run; use a token or client certificate`);
  if (user?.authProvider) throw invalid(`user "${user.name}" uses an auth-provider, which the operator does not support; use a token or client certificate`);
  if (user?.certFile || user?.keyFile) throw invalid(`user "${user.name}" reads its client certificate from a file; inline it as client-certificate-data and client-key-data`);
  return kc;
}
