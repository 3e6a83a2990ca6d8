import { TokenBucket } from './token-bucket.ts';
import type { Clock } from './token-bucket.ts';

/** A clock that only moves when something sleeps on it. */
function manualClock(): Clock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

describe('TokenBucket', () => {
  it('lets a burst through without waiting, then paces at qps', async () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ qps: 10, burst: 3 }, clock);
    for (let i = 0; i < 5; i++) await bucket.take();
    expect(clock.slept.map((ms) => Math.round(ms))).toEqual([100, 100]);
    expect(bucket.throttled).toBe(2);
  });

  it('refills with elapsed time but never beyond the burst', async () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ qps: 5, burst: 2 }, clock);
    await bucket.take();
    await bucket.take();
    await clock.sleep(10_000); // long idle: refills to 2, not 50
    clock.slept.length = 0;
    for (let i = 0; i < 3; i++) await bucket.take();
    expect(clock.slept.map((ms) => Math.round(ms))).toEqual([200]);
  });

  it('queues concurrent callers fairly: the n-th waits n/qps', async () => {
    // All three arrive at the same instant: time does not move while they are admitted.
    const slept: number[] = [];
    const clock: Clock & { slept: number[] } = {
      slept,
      now: () => 0,
      sleep: async (ms) => {
        slept.push(ms);
      },
    };
    const bucket = new TokenBucket({ qps: 2, burst: 1 }, clock);
    await Promise.all([bucket.take(), bucket.take(), bucket.take()]);
    expect(clock.slept.map((ms) => Math.round(ms))).toEqual([500, 1000]);
  });

  it.each([[{ qps: 0, burst: 1 }], [{ qps: 5, burst: 0 }], [{ qps: Number.NaN, burst: 1 }]])('rejects a nonsensical limit %j', (limit) => {
    expect(() => new TokenBucket(limit)).toThrow(RangeError);
  });
});
