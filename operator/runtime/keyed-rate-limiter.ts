// One token bucket per key (e.g. per job), refusing rather than queueing: a caller over its limit
// is told when to come back. The map is bounded: when it is full, buckets that have refilled are
// forgotten (a forgotten key starts again with a full bucket, exactly what it had), and if none of
// the oldest few has, the oldest is. So a flood of distinct keys costs bounded memory and cannot lift the limit
// of a key that is busy right now unless more than `maxKeys` keys are busy at once.
import { TokenBucket, systemClock } from './token-bucket.ts';
import type { Clock, RateLimit } from './token-bucket.ts';

export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  /** Requests refused so far (metrics, tests). */
  refused = 0;

  readonly limit: RateLimit;
  readonly maxKeys: number;
  private readonly clock: Clock;

  constructor(limit: RateLimit, maxKeys = 10_000, clock: Clock = systemClock) {
    this.limit = limit;
    this.maxKeys = maxKeys;
    this.clock = clock;
    if (!(maxKeys >= 1)) throw new RangeError(`maxKeys must be at least 1, got ${maxKeys}`);
    new TokenBucket(limit, clock); // validates the limit once, up front
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token of `key`'s bucket; refused: how long until one is there. */
  take(key: string): { ok: true } | { ok: false; retryAfterMs: number } {
    let bucket = this.buckets.get(key);
    if (bucket) {
      // Most recently used last: the oldest entries are the first eviction candidates.
      this.buckets.delete(key);
    } else {
      this.makeRoom();
      bucket = new TokenBucket(this.limit, this.clock);
    }
    this.buckets.set(key, bucket);
    const result = bucket.tryTake();
    if (!result.ok) this.refused += 1;
    return result;
  }

  private makeRoom(): void {
    if (this.buckets.size < this.maxKeys) return;
    // Look at the oldest few only: constant work per new key however large the map.
    let looked = 0;
    for (const [key, bucket] of this.buckets) {
      if (++looked > 64) break;
      if (bucket.full()) this.buckets.delete(key);
    }
    if (this.buckets.size < this.maxKeys) return;
    const oldest = this.buckets.keys().next();
    if (!oldest.done) this.buckets.delete(oldest.value);
  }
}
