import { placementReputation } from '../providers/snapshot.ts';
import { placeJob } from './placement/place-job.ts';
import { aJob, gpuNode, gpuProvider } from '../../test/support/placement-fixtures.ts';
import { classify, closedAttempts, foldOutcome, foldViolation, PRIOR_GPU_HOURS, REPUTATION_HALF_LIFE_MS } from './reputation.ts';
import type { AttemptOutcome } from './reputation.ts';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const outcome = (reason: string, gpuSeconds: number, endedAt = T0, runSeconds = 600): AttemptOutcome => ({
  provider: 'p',
  index: 1,
  reason,
  gpuSeconds,
  runSeconds,
  endedAt,
});

describe('reputation', () => {
  it('classifies how attempts ended: the provider took it back, failed to provide, or it completed', () => {
    expect(['Succeeded', 'Failed', 'OutputInvalid', 'Preempted: NodeLost', 'Preempted: BindTimeout'].map(classify)).toEqual([
      'completed',
      'completed',
      'completed',
      'preempted',
      'failed',
    ]);
  });

  it('finds the attempts a status write closed', () => {
    const before = {
      attempts: [
        { index: 1, provider: 'a', endTime: '2026-11-23T09:00:00Z' },
        { index: 2, provider: 'b', startTime: '2026-11-23T09:30:00Z' },
      ],
    };
    const after = {
      attempts: [before.attempts[0]!, { ...before.attempts[1]!, endTime: '2026-11-23T10:00:00Z', reason: 'Preempted: NodeLost', gpuSeconds: 7200 }],
    };
    expect(closedAttempts(before, after)).toEqual([
      { provider: 'b', index: 2, reason: 'Preempted: NodeLost', gpuSeconds: 7200, runSeconds: 1800, endedAt: T0 },
    ]);
    expect(closedAttempts(after, after)).toEqual([]);
  });

  it('counts outcomes, keeps the mean time to preemption and a hazard smoothed toward the prior', () => {
    let rep = foldOutcome(undefined, outcome('Preempted: DisruptionTarget', 3600 * 10, T0, 100));
    rep = foldOutcome(rep, outcome('Succeeded', 3600 * 10, T0, 50));
    rep = foldOutcome(rep, outcome('Preempted: NodeLost', 0, T0, 300));
    expect(rep).toMatchObject({
      completed: 1,
      preempted: 2,
      failed: 0,
      gpuSeconds: 72_000,
      meanTimeToPreemptionSeconds: 200,
      decayedPreemptions: 2,
      decayedGpuHours: 20,
    });
    expect(rep.preemptionsPerGpuHour).toBeCloseTo(3 / (20 + PRIOR_GPU_HOURS), 6);
  });

  it('lets old preemptions fade: a half-life later they weigh half', () => {
    const flaky = foldOutcome(undefined, outcome('Preempted: NodeLost', 3600 * 50));
    const later = foldOutcome(flaky, outcome('Succeeded', 0, T0 + REPUTATION_HALF_LIFE_MS));
    expect(later.decayedPreemptions).toBeCloseTo(0.5, 6);
    expect(later.decayedGpuHours).toBeCloseTo(25, 6);
    expect(later.preempted).toBe(1);
  });

  it('feeds placement: a cheap provider that keeps preempting loses to a slightly dearer reliable one when checkpoints are rare', () => {
    let flaky = undefined as ReturnType<typeof foldOutcome> | undefined;
    let steady = undefined as ReturnType<typeof foldOutcome> | undefined;
    for (let i = 0; i < 40; i++) {
      flaky = foldOutcome(flaky, outcome('Preempted: DisruptionTarget', 3600 * 2, T0 + i * 60_000));
      steady = foldOutcome(steady, outcome('Succeeded', 3600 * 2, T0 + i * 60_000));
    }
    const H100 = 'NVIDIA-H100-80GB-HBM3';
    const providers = [
      { ...gpuProvider('cheap-flaky').price(H100, '2.00').nodes(gpuNode('f-1').product(H100, 8)).build(), reputation: placementReputation(flaky) },
      { ...gpuProvider('dear-steady').price(H100, '2.20').nodes(gpuNode('s-1').product(H100, 8)).build(), reputation: placementReputation(steady) },
    ];
    const job = aJob().products(H100).gpus(8).remainingGpuHours(100);
    const hourly = placeJob(job.checkpointEvery(3600).build(), providers, T0);
    expect(hourly.outcome === 'Placed' && hourly.placement.provider).toBe('dear-steady');
    // With checkpoints every minute a preemption costs almost nothing: the cheap one wins.
    const often = placeJob(job.checkpointEvery(60).build(), providers, T0);
    expect(often.outcome === 'Placed' && often.placement.provider).toBe('cheap-flaky');
  });
});

describe('foldViolation', () => {
  it('counts a provider-made pod as a violation and a failure, lowering the completion rate placement reads', () => {
    const before = foldOutcome(undefined, {
      provider: 'p',
      index: 1,
      reason: 'Succeeded',
      gpuSeconds: 3600,
      runSeconds: 3600,
      endedAt: Date.parse('2026-11-23T10:00:00Z'),
    });
    const after = foldViolation(before);
    expect(after).toMatchObject({ completed: 1, failed: 1, violations: 1, gpuSeconds: 3600, updatedAt: before.updatedAt });
    expect(placementReputation(after).completionRatePpm).toBeLessThan(placementReputation(before).completionRatePpm);
    expect(foldViolation(undefined)).toMatchObject({ failed: 1, violations: 1, completed: 0 });
  });

  it("classifies a refused pod create as the provider's failure", () => {
    expect(classify('Preempted: CreateRefused')).toBe('failed');
  });
});
