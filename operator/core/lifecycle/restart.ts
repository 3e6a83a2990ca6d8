// When the next attempt of a preempted job may be placed. The first failover is immediate — a
// provider taking its GPUs back says nothing about the next one — and repeated preemptions back
// off exponentially so a job that keeps landing on reclaimed capacity does not thrash the fleet.
import { exponentialBackoffMs } from '../backoff.ts';

export const RESTART_BACKOFF_BASE_MS = 5_000;
export const RESTART_BACKOFF_MAX_MS = 5 * 60_000;

/** Delay before placing the attempt that follows the `preemptions`-th preemption (1-based). */
export function restartBackoffMs(preemptions: number): number {
  // The first preemption is not counted as a failure: the back-off starts with the second.
  return exponentialBackoffMs(preemptions - 1, { baseMs: RESTART_BACKOFF_BASE_MS, maxMs: RESTART_BACKOFF_MAX_MS });
}
