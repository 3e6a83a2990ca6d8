// Exponential back-off, the one formula for every retry in the operator: the work queue's per-key
// retries, an informer's restarts, the artifact pinner's tries and the lifecycle's wait before
// the next attempt of a preempted job. Pure: the caller counts failures and, where it wants
// jitter, brings the randomness.

export interface BackoffPolicy {
  /** The delay after the first failure. */
  readonly baseMs: number;
  /** No delay is longer than this. */
  readonly maxMs: number;
}

/** Delay after the `failures`-th failure in a row (1-based): base·2^(failures−1), capped at max; 0 before any. */
export function exponentialBackoffMs(failures: number, policy: BackoffPolicy): number {
  if (failures < 1 || policy.baseMs <= 0) return 0;
  // 2^(n−1) overflows to Infinity for large n, which the cap absorbs (base > 0, so never NaN).
  return Math.min(policy.maxMs, policy.baseMs * 2 ** (failures - 1));
}

/** `ms` spread ±`spread` (0.2: ±20%) so that many retriers do not retry in step; `random` in [0, 1). */
export function withJitter(ms: number, random: number, spread = 0.2): number {
  return Math.round(ms * (1 - spread + 2 * spread * random));
}
