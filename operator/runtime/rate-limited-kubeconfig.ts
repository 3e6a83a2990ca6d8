// A KubeConfig whose every request — typed API calls, lists and watches alike — first takes a token
// from the cluster's bucket and is counted by verb. @kubernetes/client-node has no client-side rate
// limiter; it calls `applySecurityAuthentication` once per request, which is where we hook in.
import { KubeConfig } from '@kubernetes/client-node';
import type { RequestContext } from '@kubernetes/client-node';
import { currentUrgency } from './request-urgency.ts';
import { TokenBucket } from './token-bucket.ts';
import type { Clock, RateLimit, Urgency } from './token-bucket.ts';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/** Told of every request of every rate-limited client (metrics); `waitedMs` is the rate limiter's delay. */
export type ClientRequestObserver = (request: {
  readonly cluster: string;
  readonly verb: string;
  readonly waitedMs: number;
  readonly urgency: Urgency;
}) => void;

export class RateLimitedKubeConfig extends KubeConfig {
  /** Set once per process by the telemetry (operator/telemetry); absent: requests are only counted here. */
  static observer: ClientRequestObserver | undefined;
  readonly bucket: TokenBucket;
  /** Requests sent, keyed by HTTP method (GET, POST, PATCH, …). */
  readonly requests = new Map<string, number>();
  /** Names this cluster to the observer (e.g. "hub", a GPUProvider's name); default: the kubeconfig's cluster name. */
  clusterName: string | undefined;

  /** The one connection pool every request of this client shares (see applySecurityAuthentication). */
  private dispatcher: Dispatcher | undefined;

  constructor(limit: RateLimit, clock?: Clock) {
    super();
    this.bucket = new TokenBucket(limit, clock);
  }

  static fromKubeConfig(source: KubeConfig, limit: RateLimit): RateLimitedKubeConfig {
    const kc = new RateLimitedKubeConfig(limit);
    kc.loadFromOptions({ clusters: source.clusters, users: source.users, contexts: source.contexts, currentContext: source.currentContext });
    return kc;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const urgency = currentUrgency();
    const waitedMs = await this.bucket.take(urgency);
    const verb = String(context.getHttpMethod());
    this.requests.set(verb, (this.requests.get(verb) ?? 0) + 1);
    RateLimitedKubeConfig.observer?.({ cluster: this.clusterName ?? this.getCurrentCluster()?.name ?? 'unknown', verb, waitedMs, urgency });
    await super.applySecurityAuthentication(context);
    // client-node builds a new undici Agent for every request, i.e. a new TCP and TLS connection
    // each time (a handshake per request, measured as the operator's top CPU cost under load).
    // The TLS settings come from the kubeconfig and do not change, so keep the first Agent and
    // its pooled keep-alive connections; credentials travel in headers and stay per request.
    const fresh = context.getDispatcher();
    if (fresh) {
      if (this.dispatcher === undefined) this.dispatcher = this.decorateDispatcher(fresh);
      else void fresh.close().catch(() => undefined);
      context.setDispatcher(this.dispatcher);
    }
  }

  /** The kept dispatcher, as subclasses want it (e.g. with interceptors); called once, with the first. */
  protected decorateDispatcher(dispatcher: Dispatcher): Dispatcher {
    return dispatcher;
  }

  totalRequests(): number {
    let n = 0;
    for (const v of this.requests.values()) n += v;
    return n;
  }
}
