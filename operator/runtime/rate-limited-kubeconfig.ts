// A KubeConfig whose every request — typed API calls, lists and watches alike — first takes a token
// from the cluster's bucket and is counted by verb. @kubernetes/client-node has no client-side rate
// limiter; it calls `applySecurityAuthentication` once per request, which is where we hook in.
import { KubeConfig } from '@kubernetes/client-node';
import type { RequestContext } from '@kubernetes/client-node';
import { TokenBucket } from './token-bucket.ts';
import type { Clock, RateLimit } from './token-bucket.ts';

export class RateLimitedKubeConfig extends KubeConfig {
  readonly bucket: TokenBucket;
  /** Requests sent, keyed by HTTP method (GET, POST, PATCH, …). */
  readonly requests = new Map<string, number>();

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
    await this.bucket.take();
    const verb = String(context.getHttpMethod());
    this.requests.set(verb, (this.requests.get(verb) ?? 0) + 1);
    await super.applySecurityAuthentication(context);
  }

  totalRequests(): number {
    let n = 0;
    for (const v of this.requests.values()) n += v;
    return n;
  }
}
