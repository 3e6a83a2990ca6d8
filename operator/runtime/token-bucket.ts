// A token bucket: `qps` tokens per second refill up to `burst`. Every cluster client takes one
// token per request, like client-go's default rate limiter, so a busy reconcile loop cannot flood
// a provider's apiserver. Clock and sleep are injectable for tests.
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

export class TokenBucket {
  readonly limit: RateLimit;
  private readonly clock: Clock;
  private tokens: number;
  private last: number;
  /** Requests that had to wait for a token, and for how long in total (ms). */
  throttled = 0;
  throttledMs = 0;

  constructor(limit: RateLimit, clock: Clock = systemClock) {
    if (!(limit.qps > 0) || !(limit.burst >= 1)) throw new RangeError(`rate limit needs qps > 0 and burst >= 1, got qps=${limit.qps} burst=${limit.burst}`);
    this.limit = limit;
    this.clock = clock;
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

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.last) / 1000) * this.limit.qps);
    this.last = now;
  }

  /** Resolves when the caller may send one request. Callers are served in order. */
  async take(): Promise<void> {
    this.refill();
    // Reserve the token now (possibly going negative) so concurrent callers queue fairly.
    this.tokens -= 1;
    if (this.tokens >= 0) return;
    const waitMs = (-this.tokens / this.limit.qps) * 1000;
    this.throttled += 1;
    this.throttledMs += waitMs;
    await this.clock.sleep(waitMs);
  }
}
