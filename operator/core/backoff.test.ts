import { exponentialBackoffMs, withJitter } from './backoff.ts';

describe('exponentialBackoffMs', () => {
  const policy = { baseMs: 200, maxMs: 60_000 };

  it('is 0 before any failure, the base after the first, doubling after each', () => {
    expect([0, 1, 2, 3, 4].map((n) => exponentialBackoffMs(n, policy))).toEqual([0, 200, 400, 800, 1600]);
  });

  it('stops at the cap, however many failures (no overflow to Infinity or NaN)', () => {
    expect(exponentialBackoffMs(9, policy)).toBe(51_200);
    expect(exponentialBackoffMs(10, policy)).toBe(60_000);
    expect(exponentialBackoffMs(5_000, policy)).toBe(60_000);
  });

  it('is 0 for a zero base', () => {
    expect(exponentialBackoffMs(5_000, { baseMs: 0, maxMs: 1 })).toBe(0);
  });
});

describe('withJitter', () => {
  it('spreads ±20% by default', () => {
    expect([0, 0.5, 0.999999].map((r) => withJitter(1000, r))).toEqual([800, 1000, 1200]);
  });
});
