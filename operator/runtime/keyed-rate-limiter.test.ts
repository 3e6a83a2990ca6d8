import { KeyedRateLimiter } from './keyed-rate-limiter.ts';
import { TokenBucket } from './token-bucket.ts';
import type { Clock } from './token-bucket.ts';

function manualClock(): Clock & { advance(ms: number): void } {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms) => {
      t += ms;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

describe('TokenBucket.tryTake', () => {
  it('takes while tokens last, then refuses with the wait until the next one, without going negative', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ qps: 2, burst: 2 }, clock);
    expect(bucket.tryTake()).toEqual({ ok: true });
    expect(bucket.tryTake()).toEqual({ ok: true });
    expect(bucket.tryTake()).toEqual({ ok: false, retryAfterMs: 500 });
    expect(bucket.tryTake()).toEqual({ ok: false, retryAfterMs: 500 }); // a refusal costs nothing
    clock.advance(500);
    expect(bucket.tryTake()).toEqual({ ok: true });
  });
});

describe('KeyedRateLimiter', () => {
  it('limits each key on its own: one key over its limit does not slow another', () => {
    const clock = manualClock();
    const limiter = new KeyedRateLimiter({ qps: 1, burst: 3 }, 100, clock);
    const flood = Array.from({ length: 1000 }, () => limiter.take('ns/flooder').ok);
    expect(flood.filter(Boolean)).toHaveLength(3);
    expect(limiter.refused).toBe(997);
    expect(limiter.take('ns/quiet')).toEqual({ ok: true });
  });

  it('stays within maxKeys, forgetting refilled keys first and never a busy one while an idle one is there', () => {
    const clock = manualClock();
    const limiter = new KeyedRateLimiter({ qps: 1, burst: 2 }, 3, clock);
    limiter.take('busy');
    limiter.take('busy'); // empty bucket
    limiter.take('a');
    clock.advance(10_000); // 'a' refills (and so would 'busy', so drain it again)
    limiter.take('busy');
    limiter.take('busy');
    limiter.take('b');
    limiter.take('c'); // map full (busy, a, b): 'a' is full and forgotten, not 'busy'
    expect(limiter.size).toBe(3);
    expect(limiter.take('busy').ok).toBe(false);
    for (let i = 0; i < 100; i++) limiter.take(`k${i}`);
    expect(limiter.size).toBeLessThanOrEqual(3);
  });

  it('refuses a limit that would let nothing through', () => {
    expect(() => new KeyedRateLimiter({ qps: 0, burst: 1 })).toThrow(RangeError);
  });
});
