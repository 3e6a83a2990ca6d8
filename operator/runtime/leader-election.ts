// Leader election on a coordination.k8s.io Lease, as client-go does it: the holder renews every
// retry period; a candidate takes over only when the holder's renewal is older than the lease
// duration; every write carries the lease's resourceVersion, so two candidates can never both
// win (the loser gets 409 Conflict). A leader that cannot renew within the renew deadline stops
// leading — the operator then exits rather than act on stale authority.
//
// The lease's `leaseTransitions` increments on every change of holder: it is the fencing token
// that side effects can carry (a deposed leader's token is smaller than the current one).
import { CoordinationV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';

export interface LeaseTiming {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export const DEFAULT_LEASE_TIMING: LeaseTiming = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

export type LeaseDecision =
  | { readonly action: 'create' }
  | { readonly action: 'renew' }
  | { readonly action: 'takeover'; readonly previousHolder: string }
  | { readonly action: 'wait'; readonly holder: string };

/** What a candidate should do given the lease it just read. Pure. */
export function decideLease(lease: V1Lease | undefined, identity: string, now: Date, leaseDurationMs: number): LeaseDecision {
  if (!lease) return { action: 'create' };
  const holder = lease.spec?.holderIdentity ?? '';
  if (holder === identity) return { action: 'renew' };
  const renewed = lease.spec?.renewTime ?? lease.spec?.acquireTime;
  const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000 || leaseDurationMs;
  const expired = !holder || !renewed || new Date(renewed).getTime() + duration <= now.getTime();
  return expired ? { action: 'takeover', previousHolder: holder } : { action: 'wait', holder };
}

export interface LeaderCallbacks {
  onStartedLeading(fencingToken: number): void;
  onStoppedLeading(reason: string): void;
  onNewLeader?(identity: string): void;
  /** A round failed (API error); the elector keeps trying. */
  onError?(err: unknown): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Lease times are metav1.MicroTime: the apiserver insists on six fractional digits, while
 * client-node serializes a Date with three. This Date renders itself the way the apiserver wants.
 */
export class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  }
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly namespace: string;
  private readonly name: string;
  private readonly identity: string;
  private readonly timing: LeaseTiming;
  private stopped = false;
  leading = false;
  /** performance.now() when the last successful acquire/renew was sent. */
  private renewedAt = Number.NEGATIVE_INFINITY;
  fencingToken = -1;

  constructor(kc: KubeConfig, opts: { namespace: string; name: string; identity: string; timing?: LeaseTiming }) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.namespace = opts.namespace;
    this.name = opts.name;
    this.identity = opts.identity;
    this.timing = opts.timing ?? DEFAULT_LEASE_TIMING;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Runs until stopped or until leadership is lost (then calls onStoppedLeading and returns). */
  async run(cb: LeaderCallbacks): Promise<void> {
    let lastHolder = '';
    /** The token this term started with: everything this process stamps carries it. */
    let termToken = -1;
    while (!this.stopped) {
      try {
        // The renewal counts from when it was sent: the lease's renewTime is that instant.
        const sentAt = performance.now();
        const holder = await this.boundedRound();
        if (holder === this.identity) {
          if (this.leading && this.fencingToken !== termToken) {
            // The lease changed hands and came back within our renew deadline (another replica
            // judged it expired: clock skew, a stolen lease): that replica may have acted with a
            // newer token, and ours is stamped on everything we do. A new term starts from scratch.
            this.leading = false;
            cb.onStoppedLeading(`lease ${this.namespace}/${this.name} changed hands while this process led (token ${termToken} → ${this.fencingToken})`);
            return;
          }
          this.renewedAt = sentAt;
          if (!this.leading) {
            this.leading = true;
            termToken = this.fencingToken;
            cb.onStartedLeading(this.fencingToken);
          }
        } else if (holder !== lastHolder) {
          cb.onNewLeader?.(holder);
        }
        lastHolder = holder;
      } catch (err) {
        cb.onError?.(err);
        if (this.leading && performance.now() - this.renewedAt >= this.timing.renewDeadlineMs) {
          this.leading = false;
          cb.onStoppedLeading(`could not renew lease ${this.namespace}/${this.name} within ${this.timing.renewDeadlineMs} ms: ${String(err)}`);
          return;
        }
      }
      await sleep(this.timing.retryPeriodMs);
    }
    if (this.leading) {
      this.leading = false;
      cb.onStoppedLeading('stopped');
    }
  }

  /**
   * One round, given up on when it outlasts what is left of the renew deadline (a candidate: a
   * lease duration). A request on a connection whose server vanished can hang for minutes (undici's
   * headersTimeout is 300 s); without this bound a leader stuck in such a round kept `leading` set
   * and never stepped down while a standby took the expired lease (docs/chaos.md). The abandoned
   * request may still land; the next round reads the lease afresh, so nothing relies on it.
   */
  private async boundedRound(): Promise<string> {
    const budgetMs = this.leading ? Math.max(0, this.timing.renewDeadlineMs - (performance.now() - this.renewedAt)) : this.timing.leaseDurationMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`lease round got no answer within ${Math.round(budgetMs)} ms`)), budgetMs);
    });
    try {
      return await Promise.race([this.tryAcquireOrRenew(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Leading, and the lease renewed within the renew deadline by the monotonic clock — which keeps
   * counting while the process is frozen, so a resumed ex-leader sees false at once (lease-guard.ts).
   */
  holds(now: number = performance.now()): boolean {
    return this.leading && now - this.renewedAt < this.timing.renewDeadlineMs;
  }

  /** Gives the lease up (graceful shutdown) so a successor need not wait for it to expire. */
  async release(): Promise<void> {
    this.stopped = true;
    if (!this.leading) return;
    this.leading = false;
    const lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
    if (lease.spec?.holderIdentity !== this.identity) return;
    await this.api.replaceNamespacedLease({
      name: this.name,
      namespace: this.namespace,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } },
    });
  }

  /**
   * Whether the hub's Lease, read now, still names this process at the token it leads with: how a
   * refusal by a provider's fence is told from a provider refusing on its own (providers/fence.ts).
   */
  async confirmHolds(): Promise<boolean> {
    if (!this.leading) return false;
    const lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
    return lease.spec?.holderIdentity === this.identity && (lease.spec?.leaseTransitions ?? 0) === this.fencingToken;
  }

  /** One round; returns the holder after it (ourselves when we lead). Throws on API errors. */
  async tryAcquireOrRenew(): Promise<string> {
    const lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace }).catch((err: { code?: number }) => {
      if (err.code === 404) return undefined;
      throw err;
    });
    const now = new MicroTime();
    const decision = decideLease(lease, this.identity, now, this.timing.leaseDurationMs);
    const spec = { holderIdentity: this.identity, leaseDurationSeconds: Math.ceil(this.timing.leaseDurationMs / 1000), renewTime: now };
    switch (decision.action) {
      case 'wait':
        if (this.leading) throw new Error(`lease held by ${decision.holder}`);
        return decision.holder;
      case 'create': {
        const created = await this.api.createNamespacedLease({
          namespace: this.namespace,
          body: { metadata: { name: this.name, namespace: this.namespace }, spec: { ...spec, acquireTime: now, leaseTransitions: 0 } },
        });
        this.fencingToken = created.spec?.leaseTransitions ?? 0;
        return this.identity;
      }
      case 'renew': {
        const renewed = await this.api.replaceNamespacedLease({
          name: this.name,
          namespace: this.namespace,
          body: { ...lease, spec: { ...lease?.spec, ...spec } },
        });
        this.fencingToken = renewed.spec?.leaseTransitions ?? 0;
        return this.identity;
      }
      case 'takeover': {
        const transitions = (lease?.spec?.leaseTransitions ?? 0) + 1;
        const taken = await this.api.replaceNamespacedLease({
          name: this.name,
          namespace: this.namespace,
          body: { ...lease, spec: { ...spec, acquireTime: now, leaseTransitions: transitions } },
        });
        this.fencingToken = taken.spec?.leaseTransitions ?? transitions;
        return this.identity;
      }
    }
  }
}
