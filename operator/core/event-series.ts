// Event aggregation (client-go's EventCorrelator, simplified): routine Events of one kind stop
// being one API object — one write — per occurrence once they repeat.
//
//   key = namespace, reason (Normal Events only; a Warning always names its own job)
//
//   the first `individual` occurrences of a key within `windowMs`   recorded as they are, on their job
//   (30 a minute by default: a person's jobs and the test suites never reach it; a burst does)
//   every later one in the window                                    counted; at most once per `flushMs`
//                                                                    the count so far becomes one aggregate
//                                                                    Event of the key ("N more AIJob(s) in
//                                                                    this namespace: <reason>; latest: …")
//
// Aggregate Events are created, never updated: the operator's hub role may create Events but not
// patch them (test/charts/hub-rbac.test.ts). A 500-job burst then writes a few dozen Events instead
// of three per job; a job's conditions still say everything its own Events would have. Pure: the
// recorder (hub/event-recorder.ts) keeps the states, applies the decisions and flushes on a timer.

export interface SeriesOptions {
  /** Occurrences of a key recorded individually in a window before counting starts. */
  readonly individual: number;
  /** How long a key's window lasts from its first occurrence. */
  readonly windowMs: number;
  /** Least time between two aggregate Events of a key. */
  readonly flushMs: number;
}

export const DEFAULT_SERIES: SeriesOptions = { individual: 30, windowMs: 60_000, flushMs: 10_000 };

export interface SeriesState {
  readonly windowStart: number;
  readonly individual: number;
  /** Occurrences counted and not yet written as an aggregate Event. */
  readonly unflushed: number;
  /** When the last aggregate Event was written, or counting began: the next is due flushMs later. */
  readonly flushedAt?: number;
  /** The latest counted occurrence's message (the aggregate Event's example). */
  readonly lastMessage?: string;
}

export type SeriesAction =
  /** Write this occurrence as its own Event. */
  | { readonly kind: 'individual' }
  /** Counted; a flush writes it. */
  | { readonly kind: 'counted' };

export function seriesKey(namespace: string, reason: string): string {
  return `${namespace}\u0000${reason}`;
}

/** What to do with one more Normal occurrence of a key, and the key's state after it. */
export function observe(
  state: SeriesState | undefined,
  message: string,
  now: number,
  opts: SeriesOptions = DEFAULT_SERIES,
): { state: SeriesState; action: SeriesAction } {
  const fresh = !state || now - state.windowStart >= opts.windowMs;
  // A new window keeps what the last one counted and did not write yet: it is still owed.
  const carried =
    state && state.unflushed > 0 ? { unflushed: state.unflushed, ...(state.flushedAt !== undefined ? { flushedAt: state.flushedAt } : {}) } : { unflushed: 0 };
  const s: SeriesState = fresh
    ? { windowStart: now, individual: 0, ...carried, ...(state?.lastMessage ? { lastMessage: state.lastMessage } : {}) }
    : (state as SeriesState);
  if (s.individual < opts.individual) return { state: { ...s, individual: s.individual + 1 }, action: { kind: 'individual' } };
  return { state: { ...s, unflushed: s.unflushed + 1, flushedAt: s.flushedAt ?? now, lastMessage: message }, action: { kind: 'counted' } };
}

/** Whether an aggregate Event is due now: something counted, and flushMs since the last one (or since counting began). */
export function flushDue(state: SeriesState, now: number, opts: SeriesOptions = DEFAULT_SERIES): boolean {
  return state.unflushed > 0 && (state.flushedAt === undefined || now - state.flushedAt >= opts.flushMs);
}

/** The state once an aggregate Event carries every counted occurrence. */
export function flushed(state: SeriesState, now: number): SeriesState {
  return { ...state, unflushed: 0, flushedAt: now };
}

/** The aggregate Event's message: how many, and the latest example. */
export function aggregateMessage(reason: string, count: number, example: string | undefined): string {
  const head = `${count} more AIJob(s) in this namespace: ${reason}`;
  return (example ? `${head}; latest: ${example}` : head).slice(0, 1024);
}
