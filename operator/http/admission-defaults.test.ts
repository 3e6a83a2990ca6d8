import type { AIJob } from '../api/types.ts';
import { DEFAULTS_APPLIED_ANNOTATION, NAMESPACE_DEFAULTS, defaultAIJob } from './admission-defaults.ts';

const job = (spec: Partial<AIJob['spec']> = {}, annotations?: Record<string, string>): AIJob => ({
  apiVersion: 'flotilla.dev/v1alpha1', kind: 'AIJob',
  metadata: { name: 'train', namespace: 'team-a', ...(annotations ? { annotations } : {}) },
  spec: { image: 'ghcr.io/x/y:1', replicas: 1, resources: { gpus: 1 }, output: { path: '/out', pin: true }, recovery: { maxRestarts: 3, strategy: 'Failover' }, ...spec },
} as AIJob);

const ns = {
  [NAMESPACE_DEFAULTS.regions]: 'eu-west, eu-north,eu-west',
  [NAMESPACE_DEFAULTS.deniedProviders]: 'provider-c',
  [NAMESPACE_DEFAULTS.maxPricePerGpuHour]: '3.20',
};


describe('defaultAIJob (namespace defaults)', () => {
  it('fills placement and the price cap the job leaves out, and records what it filled', () => {
    expect(defaultAIJob(job({ payment: { token: 'USDC', maxAmount: '10' } }), ns).patch).toEqual([
      { op: 'add', path: '/spec/placement', value: {} },
      { op: 'add', path: '/spec/placement/regions', value: ['eu-west', 'eu-north'] },
      { op: 'add', path: '/spec/placement/deniedProviders', value: ['provider-c'] },
      { op: 'add', path: '/spec/payment/maxPricePerGpuHour', value: '3.20' },
      { op: 'add', path: '/metadata/annotations', value: { [DEFAULTS_APPLIED_ANNOTATION]: 'spec.placement.regions, spec.placement.deniedProviders, spec.payment.maxPricePerGpuHour (from namespace team-a)' } },
    ]);
  });

  it('never touches a field the job sets, and adds to existing placement and annotations', () => {
    expect(defaultAIJob(job({ placement: { regions: ['us-east'] }, payment: { token: 'USDC', maxAmount: '10', maxPricePerGpuHour: '9' } }, { keep: 'me' }), ns).patch).toEqual([
      { op: 'add', path: '/spec/placement/deniedProviders', value: ['provider-c'] },
      { op: 'add', path: '/metadata/annotations/flotilla.dev~1defaults-applied', value: 'spec.placement.deniedProviders (from namespace team-a)' },
    ]);
  });

  it('gives an unpaid job no price cap', () => {
    const d = defaultAIJob(job(), { [NAMESPACE_DEFAULTS.maxPricePerGpuHour]: '3' });
    expect(d.patch).toEqual([]);
  });

  it('ignores an invalid annotation with a warning naming it, and applies the valid ones', () => {
    const d = defaultAIJob(job({ payment: { token: 'USDC', maxAmount: '10' } }), { [NAMESPACE_DEFAULTS.regions]: 'eu west', [NAMESPACE_DEFAULTS.maxPricePerGpuHour]: '-1', [NAMESPACE_DEFAULTS.deniedProviders]: 'ok-name' });
    expect(d.applied).toEqual(['spec.placement.deniedProviders']);
    expect(d.warnings).toEqual([
      'namespace annotation flotilla.dev/default-regions="eu west" is not a comma-separated list of label values; no default applied',
      'namespace annotation flotilla.dev/default-max-price-per-gpu-hour="-1" is not a positive decimal number; no default applied',
    ]);
  });

  it('changes nothing in a namespace without defaults', () => {
    expect(defaultAIJob(job(), {})).toEqual({ patch: [], applied: [], warnings: [] });
  });
});
