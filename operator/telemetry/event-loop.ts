// How busy this process's event loop is, for /metrics: how late a 20 ms timer ran (the wait every
// continuation — a reconcile's next step after its write returned — shares) and the share of time
// the loop spent running callbacks rather than waiting for I/O. Each reading covers the time since
// the previous one, so a burst shows in the next scrape instead of averaging away. (Node's own
// perf_hooks.monitorEventLoopDelay missed a 600 ms stall here on Node 24: it recorded only 10 ms.)
import { performance } from 'node:perf_hooks';
import type { EventLoopUtilization } from 'node:perf_hooks';

export interface EventLoopReading {
  /** The worst and the mean lateness of the timer, in seconds; 0 when it never ran. */
  readonly maxDelaySeconds: number;
  readonly meanDelaySeconds: number;
  /** Time spent running callbacks ÷ time elapsed (0–1). */
  readonly utilisation: number;
}

export class EventLoopMonitor {
  private last = performance.now();
  private max = 0;
  private sum = 0;
  private ticks = 0;
  private elu: EventLoopUtilization = performance.eventLoopUtilization();
  private readonly timer: NodeJS.Timeout;
  private readonly everyMs: number;

  constructor(everyMs = 20) {
    this.everyMs = everyMs;
    this.timer = setInterval(() => this.tick(performance.now()), everyMs);
    this.timer.unref();
  }

  /** One run of the timer at `now` (ms, performance clock): how late it is past its period. */
  tick(now: number): void {
    const late = Math.max(0, now - this.last - this.everyMs);
    this.last = now;
    this.max = Math.max(this.max, late);
    this.sum += late;
    this.ticks++;
  }

  /** Since the previous reading; starts the next window. */
  read(): EventLoopReading {
    const elu = performance.eventLoopUtilization(this.elu);
    this.elu = performance.eventLoopUtilization();
    const reading = {
      maxDelaySeconds: this.max / 1000,
      meanDelaySeconds: this.ticks > 0 ? this.sum / this.ticks / 1000 : 0,
      utilisation: elu.utilization,
    };
    this.max = 0;
    this.sum = 0;
    this.ticks = 0;
    return reading;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
