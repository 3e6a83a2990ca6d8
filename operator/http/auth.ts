// Who may read the operator's HTTP API, decided by the hub's apiserver itself:
//
//   Authorization: Bearer <token> ──TokenReview──▶ user, groups   (401 without a valid token)
//   user + (verb, aijobs, namespace[, name]) ──SubjectAccessReview──▶ allowed?   (403 when not)
//
// So the API answers a caller exactly what `kubectl get aijobs` would: a namespace editor or viewer
// (the built-in edit/view roles, which the chart's flotilla-edit/view roles aggregate into) sees
// its own namespaces' jobs and nothing else. Answers are cached briefly (DecisionCache), and the
// reviews go through a client and rate limiter of their own, with a cap on reviews in flight, so
// a flood of requests with random tokens can neither exhaust the controllers' hub budget nor
// queue without bound: past the cap the caller gets 429.
import { AuthenticationV1Api, AuthorizationV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { AIJOB, GROUP } from '../api/group.ts';
import { DecisionCache } from './auth-cache.ts';

export interface UserInfo {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** A question about AIJobs; no namespace: across all namespaces. */
export interface AccessCheck {
  readonly verb: 'get' | 'list';
  readonly namespace?: string;
  readonly name?: string;
}

export interface ApiAuth {
  /** The token's user; undefined when the apiserver does not authenticate it. */
  authenticate(token: string): Promise<UserInfo | undefined>;
  allowed(user: UserInfo, check: AccessCheck): Promise<boolean>;
}

/** The apiserver could not be asked (down, or our own rights missing): 503, never a guess. */
export class AuthUnavailable extends Error {
  override readonly name = 'AuthUnavailable';
}

/** Too many reviews in flight already: 429, the caller retries later. */
export class TooManyReviews extends Error {
  override readonly name = 'TooManyReviews';
}

export interface KubeApiAuthOptions {
  /** How long an answer is reused (default 10 s: a revoked RoleBinding stops working within it). */
  readonly ttlMs?: number;
  /** Answers kept per cache (default 4096). */
  readonly maxEntries?: number;
  /** Reviews waiting on the apiserver at once (default 64); beyond: TooManyReviews. */
  readonly maxInFlight?: number;
  /** TokenReview audiences; default: the apiserver's own. */
  readonly audiences?: readonly string[];
}

export class KubeApiAuth implements ApiAuth {
  private readonly authn: AuthenticationV1Api;
  private readonly authz: AuthorizationV1Api;
  private readonly users: DecisionCache<UserInfo | null>;
  private readonly decisions: DecisionCache<boolean>;
  private readonly maxInFlight: number;
  private readonly opts: KubeApiAuthOptions;
  private inFlight = 0;

  /** `kc`: a client of the reviews' own (its rate limiter shared with nothing else). */
  constructor(kc: KubeConfig, opts: KubeApiAuthOptions = {}) {
    this.opts = opts;
    this.authn = kc.makeApiClient(AuthenticationV1Api);
    this.authz = kc.makeApiClient(AuthorizationV1Api);
    const cache = { ttlMs: opts.ttlMs ?? 10_000, maxEntries: opts.maxEntries ?? 4096 };
    this.users = new DecisionCache(cache);
    this.decisions = new DecisionCache(cache);
    this.maxInFlight = opts.maxInFlight ?? 64;
  }

  async authenticate(token: string): Promise<UserInfo | undefined> {
    // Keyed by a hash: the cache never holds a usable token.
    const key = createHash('sha256').update(token).digest('hex');
    const user = await this.users.get(key, () =>
      this.review(async () => {
        const review = await this.authn.createTokenReview({
          body: { spec: { token, ...(this.opts.audiences ? { audiences: [...this.opts.audiences] } : {}) } },
        });
        const s = review.status;
        if (!s?.authenticated || !s.user?.username) return null;
        return {
          username: s.user.username,
          ...(s.user.uid ? { uid: s.user.uid } : {}),
          groups: s.user.groups ?? [],
          ...(s.user.extra ? { extra: s.user.extra } : {}),
        };
      }),
    );
    return user ?? undefined;
  }

  async allowed(user: UserInfo, check: AccessCheck): Promise<boolean> {
    const key = JSON.stringify([user.username, user.uid ?? '', [...user.groups].sort(), user.extra ?? {}, check.verb, check.namespace ?? '', check.name ?? '']);
    return this.decisions.get(key, () =>
      this.review(async () => {
        const review = await this.authz.createSubjectAccessReview({
          body: {
            spec: {
              user: user.username,
              groups: [...user.groups],
              ...(user.uid ? { uid: user.uid } : {}),
              ...(user.extra ? { extra: Object.fromEntries(Object.entries(user.extra).map(([k, v]) => [k, [...v]])) } : {}),
              resourceAttributes: {
                group: GROUP,
                resource: AIJOB.plural,
                verb: check.verb,
                ...(check.namespace ? { namespace: check.namespace } : {}),
                ...(check.name ? { name: check.name } : {}),
              },
            },
          },
        });
        return review.status?.allowed === true && review.status.denied !== true;
      }),
    );
  }

  private async review<T>(ask: () => Promise<T>): Promise<T> {
    if (this.inFlight >= this.maxInFlight) throw new TooManyReviews(`${this.inFlight} access reviews in flight already`);
    this.inFlight += 1;
    try {
      return await ask();
    } catch (err) {
      const code = (err as { code?: number }).code;
      throw new AuthUnavailable(
        `the hub could not review the request${typeof code === 'number' ? ` (HTTP ${code})` : ''}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
      );
    } finally {
      this.inFlight -= 1;
    }
  }
}

/** The bearer token of an Authorization header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header ?? '');
  return m?.[1];
}
