// A controller work queue with controller-runtime's contract, kept tiny:
//   * a key is processed by at most one worker at a time; adding it while it is processed marks it
//     dirty, and it runs once more afterwards (level-triggered: the handler re-reads state);
//   * a key queued several times runs once;
//   * a handler that throws is retried with per-key exponential backoff; success forgets the count;
//   * a handler may ask to run again after a delay (requeue-after), e.g. to watch a deadline.
import { exponentialBackoffMs } from '../core/backoff.ts';

export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}

export type Reconcile = (key: string) => Promise<ReconcileResult | void>;

/**
 * Watches reconciles without changing them (metrics, traces): called as one starts; the function it
 * returns is called when it ended, with its error or requeue. An observer that throws is ignored.
 */
export type ReconcileObserver = (key: string) => ((outcome: { readonly error?: unknown; readonly requeueAfterMs?: number }) => void) | void;

export interface WorkQueueOptions {
  readonly workers: number;
  readonly baseBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Called with every handler error (the queue itself never throws). */
  readonly onError?: (key: string, err: unknown, retryInMs: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly opts: Required<Omit<WorkQueueOptions, 'onError'>> & Pick<WorkQueueOptions, 'onError'>;
  private handler?: Reconcile;
  private observer?: ReconcileObserver | undefined;
  private active = 0;
  private stopped = false;

  constructor(opts: WorkQueueOptions) {
    this.opts = { baseBackoffMs: 200, maxBackoffMs: 60_000, ...opts };
  }

  observe(observer: ReconcileObserver | undefined): void {
    this.observer = observer;
  }

  start(handler: Reconcile): void {
    this.handler = handler;
    this.pump();
  }

  add(key: string): void {
    if (this.stopped) return;
    const pending = this.timers.get(key);
    if (pending) {
      clearTimeout(pending.timer);
      this.timers.delete(key);
    }
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Adds the key after `ms`, unless it is added sooner. A later call with a shorter delay wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    this.schedule(key, ms);
  }

  /** One timer per key; a new, earlier due time replaces a later one. */
  private schedule(key: string, ms: number): void {
    const due = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.due <= due) return;
    if (pending) clearTimeout(pending.timer);
    this.timers.set(key, {
      due,
      timer: setTimeout(() => {
        this.timers.delete(key);
        this.add(key);
      }, ms),
    });
  }

  /** The delay before the retry should `key` fail now (its failures in a row so far + 1). */
  backoffFor(key: string): number {
    return exponentialBackoffMs((this.failures.get(key) ?? 0) + 1, { baseMs: this.opts.baseBackoffMs, maxMs: this.opts.maxBackoffMs });
  }

  get length(): number {
    return this.queue.length;
  }

  /** Resolves when nothing is queued, processing or waiting on a timer (for tests and shutdown). */
  async idle(): Promise<void> {
    if (this.isIdle()) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  shutdown(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.active === 0 && this.timers.size === 0;
  }

  private pump(): void {
    while (this.handler && !this.stopped && this.active < this.opts.workers && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.queued.delete(key);
      this.processing.add(key);
      this.active += 1;
      void this.process(key);
    }
    if (this.isIdle()) this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }

  private async process(key: string): Promise<void> {
    const done = quietly(() => this.observer?.(key));
    try {
      const result = await (this.handler as Reconcile)(key);
      quietly(() => done?.(result?.requeueAfterMs !== undefined ? { requeueAfterMs: result.requeueAfterMs } : {}));
      this.failures.delete(key);
      if (result?.requeueAfterMs !== undefined) this.addAfterLocked(key, result.requeueAfterMs);
    } catch (err) {
      quietly(() => done?.({ error: err }));
      const delay = this.backoffFor(key);
      this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      this.opts.onError?.(key, err, delay);
      this.addAfterLocked(key, delay);
    } finally {
      this.processing.delete(key);
      this.active -= 1;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }

  // While a key is processing, a requeue must become a timer even for 0 ms (add() would only mark it dirty).
  private addAfterLocked(key: string, ms: number): void {
    if (this.stopped) return;
    this.schedule(key, Math.max(0, ms));
  }
}

function quietly<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
