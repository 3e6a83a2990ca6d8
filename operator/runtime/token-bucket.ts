// A token bucket: `qps` tokens per second refill up to `burst`. Every cluster client takes one
// token per request, like client-go's default rate limiter, so a busy reconcile loop cannot flood
// a provider's apiserver. Waiting callers queue in two lines (Urgency) served by one loop as the
// tokens refill — a reservation per caller could not let a later, urgent caller go first. Clock and
// sleep are injectable for tests.
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface RateLimit {
  readonly qps: number;
  readonly burst: number;
}

/**
 * How soon a request must go. An `urgent` request is served before every `normal` one that has
 * waited less than `maxUrgentLeadMs`: a write that gates a side effect (the attempt recorded before a
 * job's pods are created) is not queued behind a burst of bookkeeping writes (other jobs' Running).
 */
export type Urgency = 'urgent' | 'normal';

/** How long an urgent request may hold a normal one back: past it the normal one goes first, so neither class starves. */
export const MAX_URGENT_LEAD_MS = 10_000;

interface Waiter {
  readonly since: number;
  readonly resolve: (waitedMs: number) => void;
}

export class TokenBucket {
  readonly limit: RateLimit;
  private readonly clock: Clock;
  private readonly maxUrgentLeadMs: number;
  private tokens: number;
  private last: number;
  private readonly waiting: Record<Urgency, Waiter[]> = { urgent: [], normal: [] };
  private pumping = false;
  /** Requests that had to wait for a token, and for how long in total (ms). */
  throttled = 0;
  throttledMs = 0;

  constructor(limit: RateLimit, clock: Clock = systemClock, maxUrgentLeadMs = MAX_URGENT_LEAD_MS) {
    if (!(limit.qps > 0) || !(limit.burst >= 1)) throw new RangeError(`rate limit needs qps > 0 and burst >= 1, got qps=${limit.qps} burst=${limit.burst}`);
    this.limit = limit;
    this.clock = clock;
    this.maxUrgentLeadMs = maxUrgentLeadMs;
    this.tokens = limit.burst;
    this.last = clock.now();
  }

  /**
   * Takes a token only if one is there now (never waits, never goes negative): for limits that
   * refuse excess work (HTTP 429) instead of queueing it. Returns ms until a token will be there.
   */
  tryTake(): { ok: true } | { ok: false; retryAfterMs: number } {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: ((1 - this.tokens) / this.limit.qps) * 1000 };
  }

  /** True when the bucket is full (an idle key a bounded map may forget without changing anything). */
  full(): boolean {
    this.refill();
    return this.tokens >= this.limit.burst;
  }

  /** Requests waiting for a token now, by urgency (metrics, tests). */
  queued(): Record<Urgency, number> {
    return { urgent: this.waiting.urgent.length, normal: this.waiting.normal.length };
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.last) / 1000) * this.limit.qps);
    this.last = now;
  }

  /**
   * Resolves, with the ms it waited, when the caller may send one request. Callers of one urgency
   * are served in order; urgent ones first (see Urgency).
   */
  take(urgency: Urgency = 'normal'): Promise<number> {
    this.refill();
    if (this.tokens >= 1 && this.waiting.urgent.length === 0 && this.waiting.normal.length === 0) {
      this.tokens -= 1;
      return Promise.resolve(0);
    }
    return new Promise<number>((resolve) => {
      this.waiting[urgency].push({ since: this.clock.now(), resolve });
      void this.pump();
    });
  }

  /** The one loop that hands out tokens while anyone waits: sleeps until the next token, serves the next waiter. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const urgency = this.nextUrgency();
        if (!urgency) return;
        this.refill();
        // The tolerance absorbs float rounding of the refill after a sleep of exactly the deficit.
        if (this.tokens < 1 - 1e-9) {
          await this.clock.sleep(((1 - this.tokens) / this.limit.qps) * 1000);
          continue;
        }
        this.tokens -= 1;
        const waiter = this.waiting[urgency].shift()!;
        const waitedMs = Math.max(0, this.clock.now() - waiter.since);
        this.throttled += 1;
        this.throttledMs += waitedMs;
        waiter.resolve(waitedMs);
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Whose turn it is: the oldest urgent waiter, unless the oldest normal one has waited past the lead. */
  private nextUrgency(): Urgency | undefined {
    const urgent = this.waiting.urgent[0];
    const normal = this.waiting.normal[0];
    if (!urgent) return normal ? 'normal' : undefined;
    if (normal && this.clock.now() - normal.since >= this.maxUrgentLeadMs) return 'normal';
    return 'urgent';
  }
}
