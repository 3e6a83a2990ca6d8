import type { AIJobSpec } from '../../api/types.ts';
import { TerminalSpecError } from '../terminal-error.ts';
import { jobDemand } from './demand.ts';

const spec = (over: Partial<AIJobSpec> = {}): AIJobSpec =>
  ({
    image: 'trainer@sha256:abc',
    replicas: 2,
    resources: { gpus: 8, cpu: '16', memory: '64Gi' },
    output: { path: '/out', pin: true },
    recovery: { maxRestarts: 3, strategy: 'Failover' },
    gpu: { products: ['NVIDIA-H100-80GB-HBM3'], minMemoryMiB: 80000, minComputeCapability: '9.0' },
    ...over,
  }) as AIJobSpec;

describe('jobDemand', () => {
  it('carries the gang shape, exact resources and GPU constraints', () => {
    expect(jobDemand(spec(), undefined)).toMatchObject({
      replicas: 2,
      gpusPerReplica: 8,
      cpuMillisPerReplica: 16_000,
      memoryBytesPerReplica: 64 * 2 ** 30,
      products: ['NVIDIA-H100-80GB-HBM3'],
      minGpuMemoryMiB: 80000,
      minComputeCapability: { major: 9, minor: 0 },
      priceDecimals: 6,
    });
  });

  it('estimates the work from the budget and the price cap', () => {
    const d = jobDemand(spec({ payment: { token: 'USDC', maxAmount: '48', maxPricePerGpuHour: '2.40' } } as Partial<AIJobSpec>), undefined);
    expect(d.maxPricePerGpuHour).toBe(2_400_000n);
    expect(d.remainingGpuSeconds).toBe(20 * 3600);
  });

  it('assumes one hour on every GPU of the gang without a budget', () => {
    expect(jobDemand(spec(), undefined).remainingGpuSeconds).toBe(16 * 3600);
  });

  it('turns the checkpoint interval into seconds and recent preemptions into cool-downs', () => {
    const d = jobDemand(spec({ checkpoint: { path: '/ckpt', every: '15m' } } as Partial<AIJobSpec>), {
      attempts: [
        { index: 1, provider: 'provider-c', startTime: '2026-11-23T10:00:00Z', endTime: '2026-11-23T10:30:00Z', reason: 'Preempted: DisruptionTarget' },
      ],
    });
    expect(d.checkpointIntervalSeconds).toBe(900);
    expect(d.coolDowns).toEqual([{ provider: 'provider-c', until: Date.parse('2026-11-23T10:40:00Z') }]);
  });

  it('SameProviderFirst prefers the provider that preempted the job last and cools none down', () => {
    const d = jobDemand(spec({ recovery: { maxRestarts: 3, strategy: 'SameProviderFirst' } } as Partial<AIJobSpec>), {
      attempts: [
        { index: 1, provider: 'provider-a', startTime: '2026-11-23T09:00:00Z', endTime: '2026-11-23T09:30:00Z', reason: 'Preempted: NodeLost' },
        { index: 2, provider: 'provider-c', startTime: '2026-11-23T10:00:00Z', endTime: '2026-11-23T10:30:00Z', reason: 'Preempted: DisruptionTarget' },
      ],
    });
    expect(d.preferredProvider).toBe('provider-c');
    expect(d.coolDowns).toBeUndefined();
    expect(jobDemand(spec({ recovery: { maxRestarts: 3, strategy: 'SameProviderFirst' } } as Partial<AIJobSpec>), undefined).preferredProvider).toBeUndefined();
  });

  // What the reconcile cannot parse ends the job (controller.ts), so each throw must name its field.
  it.each([
    ['spec.checkpoint.every', { checkpoint: { path: '/ckpt', every: '1m500ms' } }],
    ['spec.payment.maxPricePerGpuHour', { payment: { token: 'USDC', maxAmount: '1', maxPricePerGpuHour: '0.0000001' } }],
    ['spec.payment.maxAmount', { payment: { token: 'USDC', maxAmount: '1.0000001', maxPricePerGpuHour: '1' } }],
    ['spec.resources.cpu', { resources: { gpus: 1, cpu: 'lots' } }],
    ['spec.resources.memory', { resources: { gpus: 1, memory: '1.5.5Gi' } }],
  ])('throws TerminalSpecError naming %s on a value it cannot parse', (field, over) => {
    let thrown: unknown;
    try {
      jobDemand(spec(over as Partial<AIJobSpec>), undefined);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TerminalSpecError);
    expect(thrown).toMatchObject({ field, message: expect.stringMatching(new RegExp(`^${field.replace(/\./g, '\\.')} `)) });
  });
});
