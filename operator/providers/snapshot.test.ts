import type { GPUProvider } from '../api/types.ts';
import { NEUTRAL_REPUTATION, placementReputation, pricesInBaseUnits, providerSnapshot } from './snapshot.ts';

function provider(spec: Partial<GPUProvider['spec']> = {}, status?: GPUProvider['status']): GPUProvider {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'GPUProvider',
    metadata: { name: 'provider-a', generation: 1 },
    spec: {
      kubeconfigSecretRef: { name: 's', namespace: 'flotilla-system', key: 'kubeconfig' },
      namespace: 'flotilla-workloads',
      payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      prices: [{ gpuProduct: 'NVIDIA-H100-80GB-HBM3', pricePerGpuHour: '2.40' }],
      cordoned: false,
      priorityClassName: 'flotilla-lent',
      ...spec,
    },
    ...(status ? { status } : {}),
  };
}

describe('pricesInBaseUnits', () => {
  const cases: { name: string; price: string; decimals: number; want: bigint | undefined }[] = [
    { name: 'a price with cents in a 6-decimal token', price: '2.40', decimals: 6, want: 2_400_000n },
    { name: 'a whole price in an 18-decimal token', price: '3', decimals: 18, want: 3_000_000_000_000_000_000n },
    { name: 'the smallest unit of the token', price: '0.000001', decimals: 6, want: 1n },
    { name: 'a huge price stays exact (no float)', price: '123456789012345678901234567890.123456', decimals: 6, want: 123456789012345678901234567890123456n },
    { name: 'a price finer than the token is left out, not rounded', price: '0.0000001', decimals: 6, want: undefined },
  ];
  it.each(cases)('$name', ({ price, decimals, want }) => {
    const got = pricesInBaseUnits([{ gpuProduct: 'P', pricePerGpuHour: price }], decimals);
    expect(got).toEqual(want === undefined ? [] : [{ product: 'P', pricePerGpuHour: want }]);
  });
});

describe('placementReputation', () => {
  const cases: { name: string; rep: NonNullable<GPUProvider['status']>['reputation']; want: object }[] = [
    { name: 'no record gives the neutral prior', rep: undefined, want: NEUTRAL_REPUTATION },
    { name: 'an empty record gives the neutral prior', rep: { completed: 0, preempted: 0, failed: 0, gpuSeconds: 0 }, want: NEUTRAL_REPUTATION },
    {
      name: 'the decayed rate wins over the raw counts',
      rep: { completed: 9, preempted: 1, failed: 0, gpuSeconds: 36_000, preemptionsPerGpuHour: 0.0125 },
      want: { preemptionsPerMillionGpuHours: 12_500, completionRatePpm: 900_000 },
    },
    {
      name: 'without a rate the hazard is preempted per GPU-hour run',
      rep: { completed: 3, preempted: 1, failed: 0, gpuSeconds: 360_000 },
      want: { preemptionsPerMillionGpuHours: 10_000, completionRatePpm: 750_000 },
    },
    {
      name: "failures through the provider's fault lower the completion rate",
      rep: { completed: 1, preempted: 0, failed: 2, preemptionsPerGpuHour: 0 },
      want: { preemptionsPerMillionGpuHours: 0, completionRatePpm: 333_333 },
    },
  ];
  it.each(cases)('$name', ({ rep, want }) => {
    expect(placementReputation(rep)).toEqual(want);
  });
});

describe('providerSnapshot', () => {
  const pod = (gpus: number, phase = 'Running') => ({
    spec: { containers: [{ resources: { requests: { 'nvidia.com/gpu': String(gpus) } } }] },
    status: { phase },
  });

  it("quota is maxGpus minus what Flotilla's live pods there request, bound or not", () => {
    const s = providerSnapshot({ provider: provider({ maxGpus: 10 }), nodes: [], pods: [pod(4), pod(2, 'Pending'), pod(8, 'Succeeded')], priceDecimals: 6 });
    expect(s.gpuQuotaRemaining).toBe(4);
  });

  it('no maxGpus means no cap, and a quota already exceeded is zero', () => {
    expect(providerSnapshot({ provider: provider(), nodes: [], pods: [pod(4)], priceDecimals: 6 })).not.toHaveProperty('gpuQuotaRemaining');
    expect(providerSnapshot({ provider: provider({ maxGpus: 2 }), nodes: [], pods: [pod(4)], priceDecimals: 6 }).gpuQuotaRemaining).toBe(0);
  });

  it('a provider that cannot connect is not ready, with the reason placement quotes', () => {
    const s = providerSnapshot({
      provider: provider({ cordoned: true, region: 'us-east' }),
      notUsable: { status: 'False', reason: 'Unreachable', message: 'SecretNotFound: Secret flotilla-system/s not found' },
      nodes: [],
      pods: [],
      priceDecimals: 6,
    });
    expect(s).toEqual({
      name: 'provider-a',
      region: 'us-east',
      ready: false,
      notReadyReason: 'SecretNotFound: Secret flotilla-system/s not found',
      cordoned: true,
      prices: [{ product: 'NVIDIA-H100-80GB-HBM3', pricePerGpuHour: 2_400_000n }],
      reputation: NEUTRAL_REPUTATION,
      nodes: [],
      payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      provenMismatches: 0,
    });
  });

  it('carries the payout address and the proven mismatches that verification placement reads', () => {
    const p = provider();
    const s = providerSnapshot({
      provider: { ...p, status: { reputation: { completed: 1, preempted: 0, failed: 1, gpuSeconds: 1, meanTimeToPreemptionSeconds: 0, provenMismatches: 2 } } },
      nodes: [],
      pods: [],
      priceDecimals: 6,
    });
    expect(s).toMatchObject({ payoutAddress: p.spec.payoutAddress, provenMismatches: 2 });
  });

  it('other not-ready reasons carry their name', () => {
    const s = providerSnapshot({
      provider: provider(),
      notUsable: { status: 'False', reason: 'InventoryPending', message: 'waiting' },
      nodes: [],
      pods: [],
      priceDecimals: 6,
    });
    expect(s.notReadyReason).toBe('InventoryPending: waiting');
  });
});
