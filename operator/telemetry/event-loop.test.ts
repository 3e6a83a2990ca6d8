// The event-loop monitor's arithmetic, driven by explicit ticks in one synchronous stretch (its
// real timer cannot run in between).
import { describe, expect, it } from '@jest/globals';
import { EventLoopMonitor } from './event-loop.ts';

/** A monitor whose last run was at `t0`, with its window empty. */
function monitorFrom(t0: number): EventLoopMonitor {
  const m = new EventLoopMonitor(20);
  m.tick(t0);
  m.read();
  return m;
}

describe('EventLoopMonitor', () => {
  it('counts how far each run of the timer is past its period, and starts again at each reading', () => {
    const t0 = performance.now();
    const m = monitorFrom(t0);
    m.tick(t0 + 20); // on time
    m.tick(t0 + 40); // on time
    m.tick(t0 + 160); // 100 ms late
    const r = m.read();
    expect(r.maxDelaySeconds).toBeCloseTo(0.1, 6);
    expect(r.meanDelaySeconds).toBeCloseTo(0.1 / 3, 6);
    expect(m.read()).toMatchObject({ maxDelaySeconds: 0, meanDelaySeconds: 0 });
    m.stop();
  });

  it('never counts an early run as negative', () => {
    const t0 = performance.now();
    const m = monitorFrom(t0);
    m.tick(t0 + 5); // 15 ms early
    expect(m.read()).toMatchObject({ maxDelaySeconds: 0, meanDelaySeconds: 0 });
    m.stop();
  });
});
