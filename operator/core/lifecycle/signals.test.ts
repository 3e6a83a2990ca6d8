import { DEFAULT_TIMING, detectPreemption } from './signals.ts';
import type { SignalContext } from './signals.ts';

const T0 = Date.parse('2026-11-23T10:00:00Z');

const ctx = (reclaimDeadline: number, over: Partial<SignalContext> = {}): SignalContext => ({
  attempt: { index: 1, provider: 'provider-a', startTime: new Date(T0).toISOString() },
  pods: [
    { provider: 'provider-a', name: 'p', attempt: 1, replica: 0, phase: 'Running', nodeName: 'n', deleting: false, node: { state: 'Ready', reclaimDeadline } },
  ],
  replicas: 1,
  podsComplete: true,
  wasRunning: true,
  reclaiming: false,
  timing: DEFAULT_TIMING,
  now: T0 + 60_000,
  ...over,
});

describe('reclaim deadline annotation, clamped', () => {
  it('keeps a deadline within the configured maximum', () => {
    expect(detectPreemption(ctx(T0 + 120_000))?.reclaimDeadline).toBe(T0 + 120_000);
  });

  it('clamps a deadline a year out to the maximum after the drain began, not after now', () => {
    const yearOut = T0 + 365 * 86_400_000;
    expect(detectPreemption(ctx(yearOut))?.reclaimDeadline).toBe(T0 + 60_000 + DEFAULT_TIMING.maxReclaimGraceMs);
    const draining = ctx(yearOut, { reclaiming: true, reclaimingSince: T0 + 60_000, now: T0 + 300_000 });
    expect(detectPreemption(draining)?.reclaimDeadline).toBe(T0 + 60_000 + DEFAULT_TIMING.maxReclaimGraceMs);
  });
});
