import type { AIJob, AIJobAttempt } from '../api/types.ts';
import { jobTransitions, preemptionSignal } from './job-transitions.ts';

const CREATED = '2026-01-01T00:00:00Z';

function job(
  phase: string | undefined,
  attempts: Array<Partial<AIJobAttempt> & { index: number; provider: string }>,
  extra: Record<string, unknown> = {},
): AIJob {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name: 'j', namespace: 'ns', uid: 'u', creationTimestamp: CREATED },
    spec: { image: 'i', replicas: 1, resources: { gpus: 2 }, payment: { token: 'USDC', maxAmount: '10' } },
    status: { ...(phase ? { phase } : {}), attempts, ...extra },
  } as unknown as AIJob;
}

const a0 = { index: 0, provider: 'provider-a', startTime: '2026-01-01T00:00:03Z' };
const a0ended = { ...a0, endTime: '2026-01-01T00:01:00Z', reason: 'Preempted: DisruptionTarget' };
const a1 = { index: 1, provider: 'provider-c', startTime: '2026-01-01T00:01:05Z' };

describe('jobTransitions', () => {
  it("a first attempt is a placement, timed from the job's creation", () => {
    expect(jobTransitions(job('Pending', []), job('Scheduled', [a0]))).toEqual([{ kind: 'placed', provider: 'provider-a', attempt: 0, latencySeconds: 3 }]);
  });
  it('an attempt the provider ended is a preemption with its signal', () => {
    expect(jobTransitions(job('Running', [a0]), job('Rescheduling', [a0ended]))).toEqual([
      { kind: 'preempted', provider: 'provider-a', attempt: 0, signal: 'DisruptionTarget' },
    ]);
  });
  it('the next attempt after a preemption is a recovery, its placement timed from the preemption', () => {
    expect(jobTransitions(job('Rescheduling', [a0ended]), job('Scheduled', [a0ended, a1]))).toEqual([
      { kind: 'placed', provider: 'provider-c', attempt: 1, latencySeconds: 5 },
      { kind: 'recovered', fromProvider: 'provider-a', toProvider: 'provider-c', attempt: 1 },
    ]);
  });
  it('a job ending its own attempt is no preemption; reaching Succeeded is a finish', () => {
    const done = { ...a0, endTime: '2026-01-01T00:01:00Z', reason: 'Succeeded' };
    expect(jobTransitions(job('Running', [a0]), job('Succeeded', [done]))).toEqual([{ kind: 'finished', phase: 'Succeeded' }]);
  });
  it("a settlement landing counts the amounts paid, by the cost's token", () => {
    const before = job('Succeeded', [a0], { settlement: { id: '0x1' } });
    const after = job('Settled', [a0], {
      cost: { amount: '3.5', token: 'USDC' },
      settlement: {
        id: '0x1',
        txHash: '0x2',
        amounts: [
          { provider: 'a', amount: '3' },
          { provider: 'c', amount: '0.5' },
        ],
      },
    });
    expect(jobTransitions(before, after)).toEqual([{ kind: 'settled', token: 'USDC', amount: 3.5 }]);
  });
  it('the same version twice records nothing (cache replays are harmless)', () => {
    const j = job('Rescheduling', [a0ended, a1]);
    expect(jobTransitions(j, j)).toEqual([]);
  });
  it.each([
    ['Preempted: NodeLost', 'NodeLost'],
    ['Preempted', 'Preempted'],
    ['DisruptionTarget', 'DisruptionTarget'],
    ['ProviderUnreachable', 'ProviderUnreachable'],
    ['Succeeded', undefined],
    ['Failed', undefined],
    ['OutputInvalid', undefined],
  ])('attempt reason %s → signal %s', (reason, signal) => {
    expect(preemptionSignal({ index: 0, provider: 'p', reason } as AIJobAttempt)).toBe(signal);
  });
});
