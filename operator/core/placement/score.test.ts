import { COST_DENOMINATOR, expectedCostToFinish } from './score.ts';
import type { CostInput, ExpectedCost } from './score.ts';
import { usdc } from '../../../test/support/placement-fixtures.ts';

type Figures = Omit<ExpectedCost, 'costNumerator'>;

function figures(input: CostInput): Figures {
  const { expectedCost, listCost, expectedReworkPpm } = expectedCostToFinish(input);
  return { expectedCost, listCost, expectedReworkPpm };
}

describe('expectedCostToFinish', () => {
  const hour = 3600;
  const cases: { name: string; input: CostInput; want: Figures }[] = [
    {
      name: 'a provider that never preempts costs the list price',
      input: { pricePerGpuHour: usdc('2.50'), remainingGpuSeconds: 100 * hour, gangGpus: 8, checkpointIntervalSeconds: hour, preemptionsPerMillionGpuHours: 0 },
      want: { listCost: usdc('250'), expectedReworkPpm: 0n, expectedCost: usdc('250') },
    },
    {
      // λ·G·T/2 = 0.05 × 8 × 1 / 2 = 0.2
      name: 'rework is hazard × gang GPUs × half the checkpoint interval',
      input: {
        pricePerGpuHour: usdc('2.00'),
        remainingGpuSeconds: 100 * hour,
        gangGpus: 8,
        checkpointIntervalSeconds: hour,
        preemptionsPerMillionGpuHours: 50_000,
      },
      want: { listCost: usdc('200'), expectedReworkPpm: 200_000n, expectedCost: usdc('240') },
    },
    {
      // 0.05 × 8 × (1/12) / 2 = 1/60
      name: 'frequent checkpoints shrink the rework',
      input: {
        pricePerGpuHour: usdc('2.00'),
        remainingGpuSeconds: 100 * hour,
        gangGpus: 8,
        checkpointIntervalSeconds: 300,
        preemptionsPerMillionGpuHours: 50_000,
      },
      want: { listCost: usdc('200'), expectedReworkPpm: 16_667n, expectedCost: 203_333_334n },
    },
    {
      // W = 100 GPU-h / 8 GPUs = 12.5 h < T: a preemption loses at most the run so far; ρ = λ·H/2 = 2.5
      name: 'a checkpoint interval longer than the run counts as no checkpoints',
      input: {
        pricePerGpuHour: usdc('2.00'),
        remainingGpuSeconds: 100 * hour,
        gangGpus: 8,
        checkpointIntervalSeconds: 100 * hour,
        preemptionsPerMillionGpuHours: 50_000,
      },
      want: { listCost: usdc('200'), expectedReworkPpm: 2_500_000n, expectedCost: usdc('700') },
    },
    {
      name: 'without checkpoints a preemption loses half the run on average',
      input: {
        pricePerGpuHour: usdc('2.00'),
        remainingGpuSeconds: 100 * hour,
        gangGpus: 8,
        checkpointIntervalSeconds: undefined,
        preemptionsPerMillionGpuHours: 50_000,
      },
      want: { listCost: usdc('200'), expectedReworkPpm: 2_500_000n, expectedCost: usdc('700') },
    },
    {
      name: 'a bigger gang is interrupted more often',
      input: {
        pricePerGpuHour: usdc('2.00'),
        remainingGpuSeconds: 100 * hour,
        gangGpus: 16,
        checkpointIntervalSeconds: hour,
        preemptionsPerMillionGpuHours: 50_000,
      },
      want: { listCost: usdc('200'), expectedReworkPpm: 400_000n, expectedCost: usdc('280') },
    },
    {
      name: 'no work left costs nothing',
      input: { pricePerGpuHour: usdc('2.00'), remainingGpuSeconds: 0, gangGpus: 8, checkpointIntervalSeconds: hour, preemptionsPerMillionGpuHours: 50_000 },
      want: { listCost: 0n, expectedReworkPpm: 0n, expectedCost: 0n },
    },
    {
      name: 'a fraction of a base unit rounds up',
      input: { pricePerGpuHour: 1n, remainingGpuSeconds: 1, gangGpus: 1, checkpointIntervalSeconds: 1, preemptionsPerMillionGpuHours: 0 },
      want: { listCost: 1n, expectedReworkPpm: 0n, expectedCost: 1n },
    },
  ];
  it.each(cases)('$name', ({ input, want }) => {
    expect(figures(input)).toEqual(want);
  });

  it('orders candidates by the exact numerator even when the rounded costs tie', () => {
    const base: CostInput = { pricePerGpuHour: 1n, remainingGpuSeconds: 3600, gangGpus: 1, checkpointIntervalSeconds: 3600, preemptionsPerMillionGpuHours: 0 };
    const steady = expectedCostToFinish(base);
    const flaky = expectedCostToFinish({ ...base, preemptionsPerMillionGpuHours: 1 });
    expect({ steady: steady.expectedCost, flaky: flaky.expectedCost }).toEqual({ steady: 1n, flaky: 2n });
    const tiny = expectedCostToFinish({ ...base, pricePerGpuHour: 1_000_000n, preemptionsPerMillionGpuHours: 1 });
    const plain = expectedCostToFinish({ ...base, pricePerGpuHour: 1_000_000n });
    expect(tiny.expectedCost).toBe(plain.expectedCost + 1n); // 1e6 × (1 + 5e-7) rounds up to 1e6 + 1
    expect(tiny.costNumerator > plain.costNumerator).toBe(true);
    expect(plain.costNumerator).toBe(1_000_000n * COST_DENOMINATOR);
  });
});
