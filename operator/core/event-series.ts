// Event aggregation (client-go's EventCorrelator, simplified): routine Events of one kind stop
// being one API object — one write — per occurrence once they repeat.
//
//   key = namespace, reason (Normal Events only; a Warning always names its own job)
//
//   the first `individual` occurrences of a key within `windowMs`   recorded as they are, on their job
//   (30 a minute by default: a person's jobs and the test suites never reach it; a burst does)
//   every later one in the window                                    counted into one aggregate Event of
//                                                                    the key ("N AIJobs: <reason>, e.g.
//                                                                    <latest message>"), created at the
//                                                                    first and then updated at most once
//                                                                    per `flushMs` with the new count
//
// A 500-job burst then writes a few dozen Events instead of three per job; a job's conditions still
// say everything its own Events would have. Pure: the recorder (hub/event-recorder.ts) keeps the
// states, applies the decisions and flushes on a timer.

export interface SeriesOptions {
  /** Occurrences of a key recorded individually in a window before aggregation starts. */
  readonly individual: number;
  /** How long a key's window lasts from its first occurrence. */
  readonly windowMs: number;
  /** Least time between two updates of an aggregate Event. */
  readonly flushMs: number;
}

export const DEFAULT_SERIES: SeriesOptions = { individual: 30, windowMs: 60_000, flushMs: 10_000 };

export interface SeriesState {
  readonly windowStart: number;
  readonly individual: number;
  /** Occurrences folded into the aggregate Event in this window (0: none yet). */
  readonly aggregated: number;
  /** Of those, how many the aggregate Event on the server does not show yet. */
  readonly unflushed: number;
  /** When the aggregate Event was last written (created or updated). */
  readonly flushedAt?: number;
  /** The latest aggregated occurrence's message (the aggregate Event's example). */
  readonly lastMessage?: string;
}

export type SeriesAction =
  /** Write this occurrence as its own Event. */
  | { readonly kind: 'individual' }
  /** Create the key's aggregate Event (the first aggregated occurrence of a window). */
  | { readonly kind: 'create-aggregate'; readonly count: number }
  /** Counted; the next flush writes it. */
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
  const s: SeriesState = fresh ? { windowStart: now, individual: 0, aggregated: 0, unflushed: 0 } : state;
  if (s.individual < opts.individual) return { state: { ...s, individual: s.individual + 1 }, action: { kind: 'individual' } };
  if (s.aggregated === 0)
    return { state: { ...s, aggregated: 1, unflushed: 0, flushedAt: now, lastMessage: message }, action: { kind: 'create-aggregate', count: 1 } };
  return { state: { ...s, aggregated: s.aggregated + 1, unflushed: s.unflushed + 1, lastMessage: message }, action: { kind: 'counted' } };
}

/** Whether the key's aggregate Event is due an update now (something unflushed, and flushMs since the last write). */
export function flushDue(state: SeriesState, now: number, opts: SeriesOptions = DEFAULT_SERIES): boolean {
  return state.unflushed > 0 && (state.flushedAt === undefined || now - state.flushedAt >= opts.flushMs);
}

/** The state once the aggregate Event shows every occurrence. */
export function flushed(state: SeriesState, now: number): SeriesState {
  return { ...state, unflushed: 0, flushedAt: now };
}

/** The aggregate Event's message: how many, and the latest example. */
export function aggregateMessage(reason: string, count: number, example: string | undefined): string {
  const head = `${count} more AIJob(s) in this namespace: ${reason}`;
  return (example ? `${head}; latest: ${example}` : head).slice(0, 1024);
}
