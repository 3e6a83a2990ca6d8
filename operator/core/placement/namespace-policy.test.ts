import type { AIJobSpec } from '../../api/types.ts';
import { applyNamespacePolicy, NAMESPACE_POLICY, NO_POLICY, NO_REGION_ALLOWED, parseNamespacePolicy, POLICY_UNUSABLE } from './namespace-policy.ts';

const spec = (extra: Partial<AIJobSpec> = {}): AIJobSpec =>
  ({
    image: 'ghcr.io/x/y:1',
    replicas: 1,
    resources: { gpus: 1 },
    output: { path: '/out', pin: true },
    recovery: { maxRestarts: 3, strategy: 'Failover' },
    ...extra,
  }) as AIJobSpec;
const paid = { token: 'USDC', maxAmount: '10' };
const policy = parseNamespacePolicy({
  [NAMESPACE_POLICY.regions]: 'eu-west,eu-north',
  [NAMESPACE_POLICY.deniedProviders]: 'provider-c',
  [NAMESPACE_POLICY.maxPricePerGpuHour]: '3.20',
});
const free = { paymentsRequired: false };

describe('parseNamespacePolicy', () => {
  it('reads every annotation', () => {
    expect(
      parseNamespacePolicy({
        ...Object.fromEntries(Object.values(NAMESPACE_POLICY).map((k) => [k, 'true'])),
        [NAMESPACE_POLICY.regions]: ' eu-west , eu-west',
        [NAMESPACE_POLICY.deniedProviders]: 'a,b',
        [NAMESPACE_POLICY.maxPricePerGpuHour]: '2.5',
        [NAMESPACE_POLICY.verificationMode]: 'SpotCheck',
        [NAMESPACE_POLICY.verificationSampleRate]: '0.25',
        [NAMESPACE_POLICY.gpuQuota]: ' 16 ',
      }),
    ).toEqual({
      gpuQuota: 16,
      regions: ['eu-west'],
      deniedProviders: ['a', 'b'],
      maxPricePerGpuHour: '2.5',
      allowUnpaidJobs: true,
      requireImageDigest: true,
      verification: { mode: 'SpotCheck', sampleRate: 0.25 },
      invalid: [],
    });
  });
  it('restricts nothing without annotations (but unpaid jobs need the annotation)', () => {
    expect(parseNamespacePolicy({})).toEqual({ ...NO_POLICY, allowUnpaidJobs: false });
  });
  it.each([
    [NAMESPACE_POLICY.regions, 'eu west'],
    [NAMESPACE_POLICY.regions, ''],
    [NAMESPACE_POLICY.deniedProviders, 'Provider-A'],
    [NAMESPACE_POLICY.maxPricePerGpuHour, '-1'],
    [NAMESPACE_POLICY.maxPricePerGpuHour, '0'],
    [NAMESPACE_POLICY.gpuQuota, '-1'],
    [NAMESPACE_POLICY.gpuQuota, '1.5'],
    [NAMESPACE_POLICY.gpuQuota, '2000000'],
    [NAMESPACE_POLICY.allowUnpaidJobs, 'yes'],
    [NAMESPACE_POLICY.requireImageDigest, 'True'],
    [NAMESPACE_POLICY.verificationMode, 'spotcheck'],
    [NAMESPACE_POLICY.verificationSampleRate, '1.5'],
    [NAMESPACE_POLICY.verificationSampleRate, '10%'],
  ])('names %s="%s" as unusable', (key, value) => {
    expect(parseNamespacePolicy({ [key]: value }).invalid).toEqual([expect.stringContaining(`namespace annotation ${key}="${value}"`)]);
  });
});

describe('applyNamespacePolicy: a job narrows the policy, never widens it', () => {
  it('fills regions, denied providers and the price cap the job leaves out', () => {
    const v = applyNamespacePolicy(spec({ payment: paid }), policy, free);
    expect(v.violations).toEqual([]);
    expect(v.spec.placement).toEqual({ regions: ['eu-west', 'eu-north'], deniedProviders: ['provider-c'] });
    expect(v.spec.payment?.maxPricePerGpuHour).toBe('3.20');
    expect(v.narrowed).toEqual(['spec.placement.regions', 'spec.placement.deniedProviders', 'spec.payment.maxPricePerGpuHour']);
  });

  it('keeps a narrower ask as it is', () => {
    const own = spec({ placement: { regions: ['eu-north'], deniedProviders: ['provider-c', 'provider-x'] }, payment: { ...paid, maxPricePerGpuHour: '1' } });
    expect(applyNamespacePolicy(own, policy, free)).toEqual({ spec: own, narrowed: [], violations: [] });
  });

  it('unions denied providers (deniedProviders: [] does not widen)', () => {
    expect(applyNamespacePolicy(spec({ placement: { deniedProviders: [] } }), policy, free).spec.placement?.deniedProviders).toEqual(['provider-c']);
  });

  it('reads regions: [] as any region and narrows it to the policy', () => {
    const v = applyNamespacePolicy(spec({ placement: { regions: [] } }), policy, free);
    expect(v.spec.placement?.regions).toEqual(['eu-west', 'eu-north']);
    expect(v.violations).toEqual([]);
  });

  it('refuses a region outside the policy and places only inside it', () => {
    const v = applyNamespacePolicy(spec({ placement: { regions: ['eu-west', 'us-east'] } }), policy, free);
    expect(v.violations).toEqual([
      {
        field: 'spec.placement.regions',
        message: 'spec.placement.regions names us-east, outside the regions namespace policy allows (flotilla.dev/default-regions: eu-west,eu-north)',
      },
    ]);
    expect(v.spec.placement?.regions).toEqual(['eu-west']);
  });

  it('never turns a disjoint region ask into "any region"', () => {
    expect(applyNamespacePolicy(spec({ placement: { regions: ['us-east'] } }), policy, free).spec.placement?.regions).toEqual([NO_REGION_ALLOWED]);
  });

  it('refuses allowing a provider the policy denies', () => {
    const v = applyNamespacePolicy(spec({ placement: { allowedProviders: ['provider-c', 'provider-a'] } }), policy, free);
    expect(v.violations.map((x) => x.field)).toEqual(['spec.placement.allowedProviders']);
    expect(v.spec.placement?.allowedProviders).toEqual(['provider-a']);
  });

  it('refuses a price cap above the policy and applies the minimum', () => {
    const v = applyNamespacePolicy(spec({ payment: { ...paid, maxPricePerGpuHour: '3.200001' } }), policy, free);
    expect(v.violations).toEqual([
      {
        field: 'spec.payment.maxPricePerGpuHour',
        message: "spec.payment.maxPricePerGpuHour 3.200001 is above the namespace's cap of 3.20 (flotilla.dev/default-max-price-per-gpu-hour)",
      },
    ]);
    expect(v.spec.payment?.maxPricePerGpuHour).toBe('3.20');
    expect(applyNamespacePolicy(spec({ payment: { ...paid, maxPricePerGpuHour: '3.2' } }), policy, free).violations).toEqual([]);
  });

  it('refuses a job without payment on a paid hub unless the namespace allows unpaid jobs', () => {
    expect(applyNamespacePolicy(spec(), NO_POLICY, { paymentsRequired: false }).violations).toEqual([]);
    expect(applyNamespacePolicy(spec(), parseNamespacePolicy({}), { paymentsRequired: true }).violations.map((v) => v.field)).toEqual(['spec.payment']);
    expect(applyNamespacePolicy(spec(), parseNamespacePolicy({ [NAMESPACE_POLICY.allowUnpaidJobs]: 'true' }), { paymentsRequired: true }).violations).toEqual(
      [],
    );
    expect(applyNamespacePolicy(spec({ payment: paid }), parseNamespacePolicy({}), { paymentsRequired: true }).violations).toEqual([]);
  });

  it('requires a digest-pinned image when the namespace says so', () => {
    const digest = parseNamespacePolicy({ [NAMESPACE_POLICY.requireImageDigest]: 'true' });
    expect(applyNamespacePolicy(spec(), digest, free).violations.map((v) => v.field)).toEqual(['spec.image']);
    expect(applyNamespacePolicy(spec({ image: `r.example/t@sha256:${'a'.repeat(64)}` }), digest, free).violations).toEqual([]);
  });

  it('fails closed on an unusable policy: nowhere to place, no violation of the job', () => {
    const v = applyNamespacePolicy(spec({ placement: { regions: ['eu-west'] } }), parseNamespacePolicy({ [NAMESPACE_POLICY.regions]: 'eu west' }), free);
    expect(v.spec.placement?.regions).toEqual([POLICY_UNUSABLE]);
    expect(v.violations).toEqual([]);
  });

  it('same input, same answer, input untouched', () => {
    const own = spec({ placement: { deniedProviders: ['x'] } });
    const copy = structuredClone(own);
    expect(applyNamespacePolicy(own, policy, free)).toEqual(applyNamespacePolicy(own, policy, free));
    expect(own).toEqual(copy);
  });
});
