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

/** A clock whose sleeps end on a later turn of the event loop: callers queued now all see time 0. */
function steppedClock(): Clock {
  let t = 0;
  return {
    now: () => t,
    sleep: (ms) =>
      new Promise((resolve) =>
        setImmediate(() => {
          t += ms;
          resolve();
        }),
      ),
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

  it('queues concurrent callers fairly: the n-th is served n/qps later', async () => {
    const clock = steppedClock();
    const bucket = new TokenBucket({ qps: 2, burst: 1 }, clock);
    const servedAt: number[] = [];
    await Promise.all([0, 1, 2].map(() => bucket.take().then(() => servedAt.push(clock.now()))));
    expect(servedAt.map(Math.round)).toEqual([0, 500, 1000]);
    expect(bucket.throttled).toBe(2);
    expect(Math.round(bucket.throttledMs)).toBe(1500);
  });

  it('serves a waiting urgent caller before normal callers that came first, and says how long each waited', async () => {
    const clock = steppedClock();
    const bucket = new TokenBucket({ qps: 10, burst: 1 }, clock);
    const order: string[] = [];
    const waited = new Map<string, number>();
    const take = (name: string, urgency?: 'urgent' | 'normal') =>
      bucket.take(urgency).then((ms) => {
        order.push(name);
        waited.set(name, Math.round(ms));
      });
    // The first takes the only token at once; the rest queue in the order written.
    await Promise.all([take('n1'), take('n2'), take('n3'), take('u1', 'urgent'), take('u2', 'urgent')]);
    expect(order).toEqual(['n1', 'u1', 'u2', 'n2', 'n3']);
    expect(Object.fromEntries(waited)).toEqual({ n1: 0, u1: 100, u2: 200, n2: 300, n3: 400 });
    expect(bucket.queued()).toEqual({ urgent: 0, normal: 0 });
  });

  it('lets a normal caller that has waited past the lead go before later urgent ones (neither starves)', async () => {
    const clock = steppedClock();
    // One token a second, a lead of 2.5 s: the normal caller has waited 3 s when the third token comes.
    const bucket = new TokenBucket({ qps: 1, burst: 1 }, clock, 2_500);
    const order: string[] = [];
    const take = (name: string, urgency?: 'urgent' | 'normal') => bucket.take(urgency).then(() => order.push(name));
    await Promise.all([take('first'), take('normal'), ...[1, 2, 3, 4, 5].map((i) => take(`u${i}`, 'urgent'))]);
    expect(order).toEqual(['first', 'u1', 'u2', 'normal', 'u3', 'u4', 'u5']);
  });

  it('takes from a full bucket at once when nobody waits', async () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ qps: 1, burst: 2 }, clock);
    expect(await bucket.take('urgent')).toBe(0);
    expect(await bucket.take()).toBe(0);
    expect(clock.slept).toEqual([]);
  });

  it.each([[{ qps: 0, burst: 1 }], [{ qps: 5, burst: 0 }], [{ qps: Number.NaN, burst: 1 }]])('rejects a nonsensical limit %j', (limit) => {
    expect(() => new TokenBucket(limit)).toThrow(RangeError);
  });
});
