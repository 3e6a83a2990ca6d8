// Pins with bounded concurrency and retries. However many jobs finish at once, at most
// `concurrency` pin requests are open against the hub's Kubo; a CID asked for while its pin is in
// flight joins that pin rather than starting another; a failed try is retried after an exponential
// backoff (with jitter) up to `tries` times, except when retrying cannot help (a refusal that is
// not a timeout or an outage, e.g. a CID Kubo cannot decode). The caller's own retry (the work
// queue) takes over after that, so one stuck CID never holds a worker for long.
import { KuboError } from './kubo.ts';
import { exponentialBackoffMs, withJitter } from '../core/backoff.ts';

export interface PinTarget {
  pin(cid: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void>;
}

export interface PinnerOptions {
  /** Pin requests open at once. */
  readonly concurrency: number;
  /** Tries per pin() call, the first included. */
  readonly tries: number;
  /** Timeout of one try. */
  readonly timeoutMs: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Injected for tests; real timers otherwise. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

export const DEFAULT_PINNER_OPTIONS: PinnerOptions = { concurrency: 4, tries: 3, timeoutMs: 300_000, baseDelayMs: 500, maxDelayMs: 10_000 };

/** Retrying helps against an outage or a timeout; not against an answer that says no. */
export function isRetryable(err: unknown): boolean {
  return !(err instanceof KuboError && err.kind === 'refused');
}

/** Delay before try `n + 1` after `n` failed tries: base·2^(n-1), capped, with ±20% jitter. */
export function backoffMs(failedTries: number, opts: Pick<PinnerOptions, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  return withJitter(exponentialBackoffMs(Math.max(1, failedTries), { baseMs: opts.baseDelayMs, maxMs: opts.maxDelayMs }), random());
}

export class Pinner {
  private readonly target: PinTarget;
  private readonly opts: PinnerOptions;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly waiting: Array<() => void> = [];
  private active = 0;
  /** Most requests ever open at once (observability and tests). */
  peakConcurrency = 0;
  /** Pin requests sent to the target, tries included. */
  requests = 0;

  constructor(target: PinTarget, opts: Partial<PinnerOptions> = {}) {
    this.target = target;
    this.opts = { ...DEFAULT_PINNER_OPTIONS, ...opts };
    if (this.opts.concurrency < 1 || this.opts.tries < 1) throw new Error('Pinner needs concurrency ≥ 1 and tries ≥ 1');
  }

  /** Resolves once `cid` is pinned; rejects with the last try's error. */
  pin(cid: string): Promise<void> {
    const pending = this.inFlight.get(cid);
    if (pending) return pending;
    const p = this.pinWithRetries(cid).finally(() => this.inFlight.delete(cid));
    this.inFlight.set(cid, p);
    return p;
  }

  private async pinWithRetries(cid: string): Promise<void> {
    const sleep = this.opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    for (let failed = 0; ;) {
      try {
        await this.withSlot(() => {
          this.requests++;
          return this.target.pin(cid, { timeoutMs: this.opts.timeoutMs });
        });
        return;
      } catch (err) {
        failed++;
        if (failed >= this.opts.tries || !isRetryable(err)) throw err;
        await sleep(backoffMs(failed, this.opts, this.opts.random));
      }
    }
  }

  private async withSlot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.active >= this.opts.concurrency) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    this.peakConcurrency = Math.max(this.peakConcurrency, this.active);
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
