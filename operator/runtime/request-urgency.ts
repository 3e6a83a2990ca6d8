// Which of a client's requests are urgent (token-bucket.ts Urgency), carried by the async call
// chain rather than by every API call's arguments: @kubernetes/client-node's generated methods take
// no per-request options that reach the rate limiter (rate-limited-kubeconfig.ts), and the writes
// that gate a side effect are a handful of call sites, each wrapped in `urgently`.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Urgency } from './token-bucket.ts';

const context = new AsyncLocalStorage<Urgency>();

/** Runs `fn` with every client request it makes (directly or through awaited calls) marked urgent. */
export function urgently<T>(fn: () => Promise<T>): Promise<T> {
  return context.run('urgent', fn);
}

/** The urgency of the request being made now: `normal` outside `urgently`. */
export function currentUrgency(): Urgency {
  return context.getStore() ?? 'normal';
}
