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
    let lastRenew = 0;
    let lastHolder = '';
    while (!this.stopped) {
      try {
        const holder = await this.tryAcquireOrRenew();
        if (holder === this.identity) {
          lastRenew = Date.now();
          if (!this.leading) { this.leading = true; cb.onStartedLeading(this.fencingToken); }
        } else if (holder !== lastHolder) {
          cb.onNewLeader?.(holder);
        }
        lastHolder = holder;
      } catch (err) {
        cb.onError?.(err);
        if (this.leading && Date.now() - lastRenew > this.timing.renewDeadlineMs) {
          this.leading = false;
          cb.onStoppedLeading(`could not renew lease ${this.namespace}/${this.name} within ${this.timing.renewDeadlineMs} ms: ${String(err)}`);
          return;
        }
      }
      await sleep(this.timing.retryPeriodMs);
    }
    if (this.leading) { this.leading = false; cb.onStoppedLeading('stopped'); }
  }

  /** Gives the lease up (graceful shutdown) so a successor need not wait for it to expire. */
  async release(): Promise<void> {
    this.stopped = true;
    if (!this.leading) return;
    this.leading = false;
    const lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
    if (lease.spec?.holderIdentity !== this.identity) return;
    await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } } });
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
        const created = await this.api.createNamespacedLease({ namespace: this.namespace, body: { metadata: { name: this.name, namespace: this.namespace }, spec: { ...spec, acquireTime: now, leaseTransitions: 0 } } });
        this.fencingToken = created.spec?.leaseTransitions ?? 0;
        return this.identity;
      }
      case 'renew': {
        const renewed = await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: { ...lease, spec: { ...lease?.spec, ...spec } } });
        this.fencingToken = renewed.spec?.leaseTransitions ?? 0;
        return this.identity;
      }
      case 'takeover': {
        const transitions = (lease?.spec?.leaseTransitions ?? 0) + 1;
        const taken = await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: { ...lease, spec: { ...spec, acquireTime: now, leaseTransitions: transitions } } });
        this.fencingToken = taken.spec?.leaseTransitions ?? transitions;
        return this.identity;
      }
    }
  }
}
