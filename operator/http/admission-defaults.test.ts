import type { AIJob } from '../api/types.ts';
import { DEFAULTS_APPLIED_ANNOTATION, NAMESPACE_DEFAULTS, defaultAIJob } from './admission-defaults.ts';

const job = (spec: Partial<AIJob['spec']> = {}, annotations?: Record<string, string>): AIJob =>
  ({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'AIJob',
    metadata: { name: 'train', namespace: 'team-a', ...(annotations ? { annotations } : {}) },
    spec: {
      image: 'ghcr.io/x/y:1',
      replicas: 1,
      resources: { gpus: 1 },
      output: { path: '/out', pin: true },
      recovery: { maxRestarts: 3, strategy: 'Failover' },
      ...spec,
    },
  }) as AIJob;

const ns = {
  [NAMESPACE_DEFAULTS.regions]: 'eu-west, eu-north,eu-west',
  [NAMESPACE_DEFAULTS.deniedProviders]: 'provider-c',
  [NAMESPACE_DEFAULTS.maxPricePerGpuHour]: '3.20',
};
const APPLIED = `/metadata/annotations/flotilla.dev~1defaults-applied`;

describe('defaultAIJob (namespace policy written into the spec)', () => {
  it('fills placement and the price cap the job leaves out, and records what it filled', () => {
    expect(defaultAIJob(job({ payment: { token: 'USDC', maxAmount: '10' } }), ns).patch).toEqual([
      { op: 'add', path: '/spec/placement', value: {} },
      { op: 'add', path: '/spec/placement/regions', value: ['eu-west', 'eu-north'] },
      { op: 'add', path: '/spec/placement/deniedProviders', value: ['provider-c'] },
      { op: 'add', path: '/spec/payment/maxPricePerGpuHour', value: '3.20' },
      {
        op: 'add',
        path: '/metadata/annotations',
        value: {
          [DEFAULTS_APPLIED_ANNOTATION]: 'spec.placement.regions, spec.placement.deniedProviders, spec.payment.maxPricePerGpuHour (from namespace team-a)',
        },
      },
    ]);
  });

  it("adds the policy-denied providers to the job's own, and leaves a narrower ask alone", () => {
    expect(
      defaultAIJob(
        job(
          { placement: { regions: ['eu-west'], deniedProviders: ['provider-x'] }, payment: { token: 'USDC', maxAmount: '10', maxPricePerGpuHour: '1' } },
          { keep: 'me' },
        ),
        ns,
      ).patch,
    ).toEqual([
      { op: 'add', path: '/spec/placement/deniedProviders', value: ['provider-x', 'provider-c'] },
      { op: 'add', path: APPLIED, value: 'spec.placement.deniedProviders (from namespace team-a)' },
    ]);
  });

  it('treats regions: [] (any region) as no ask and fills the policy in', () => {
    expect(defaultAIJob(job({ placement: { regions: [] } }), { [NAMESPACE_DEFAULTS.regions]: 'eu-west' }).patch[0]).toEqual({
      op: 'add',
      path: '/spec/placement/regions',
      value: ['eu-west'],
    });
  });

  it('leaves an ask beyond the policy for the validating webhook to deny', () => {
    const d = defaultAIJob(
      job({ placement: { regions: ['us-east'], deniedProviders: ['provider-c'] }, payment: { token: 'USDC', maxAmount: '10', maxPricePerGpuHour: '9' } }),
      ns,
    );
    expect(d.patch).toEqual([]);
  });

  it('removes a defaults-applied annotation the user wrote on create', () => {
    expect(defaultAIJob(job({}, { [DEFAULTS_APPLIED_ANNOTATION]: 'spec.placement.regions (from namespace team-a)' }), {}).patch).toEqual([
      { op: 'remove', path: APPLIED },
    ]);
  });

  it('overwrites a forged defaults-applied annotation with what it applied', () => {
    const d = defaultAIJob(job({}, { [DEFAULTS_APPLIED_ANNOTATION]: 'nothing' }), { [NAMESPACE_DEFAULTS.regions]: 'eu-west' });
    expect(d.patch.at(-1)).toEqual({ op: 'add', path: APPLIED, value: 'spec.placement.regions (from namespace team-a)' });
  });

  it('on update, puts back a changed defaults-applied annotation and re-adds policy-denied providers an edit removed', () => {
    const old = job(
      { placement: { deniedProviders: ['provider-c'] } },
      { [DEFAULTS_APPLIED_ANNOTATION]: 'spec.placement.deniedProviders (from namespace team-a)' },
    );
    const forged = job({ placement: { deniedProviders: ['provider-c'] } }, { [DEFAULTS_APPLIED_ANNOTATION]: 'none' });
    expect(defaultAIJob(forged, ns, old).patch).toEqual([{ op: 'add', path: APPLIED, value: 'spec.placement.deniedProviders (from namespace team-a)' }]);
    const widened = job({ placement: { deniedProviders: [] } }, { [DEFAULTS_APPLIED_ANNOTATION]: 'spec.placement.deniedProviders (from namespace team-a)' });
    expect(defaultAIJob(widened, { [NAMESPACE_DEFAULTS.deniedProviders]: 'provider-c' }, old).patch).toEqual([
      { op: 'add', path: '/spec/placement/deniedProviders', value: ['provider-c'] },
    ]);
    // A record keeps every field ever filled in.
    const filled = job({ placement: { regions: ['eu-west'] } }, { [DEFAULTS_APPLIED_ANNOTATION]: 'spec.placement.regions (from namespace team-a)' });
    const emptied = job(
      { placement: { regions: ['eu-west'], deniedProviders: [] } },
      { [DEFAULTS_APPLIED_ANNOTATION]: 'spec.placement.regions (from namespace team-a)' },
    );
    expect(defaultAIJob(emptied, ns, filled).patch.at(-1)).toEqual({
      op: 'add',
      path: APPLIED,
      value: 'spec.placement.regions, spec.placement.deniedProviders (from namespace team-a)',
    });
  });

  it('on an update that leaves the spec alone (a finalizer, a label), changes nothing', () => {
    const old = job();
    expect(defaultAIJob(job({}, { team: 'a' }), ns, old).patch).toEqual([]);
  });

  it('writes nothing for an unusable policy (the validating webhook denies, naming the annotation)', () => {
    expect(
      defaultAIJob(job({ payment: { token: 'USDC', maxAmount: '10' } }), {
        [NAMESPACE_DEFAULTS.regions]: 'eu west',
        [NAMESPACE_DEFAULTS.deniedProviders]: 'ok-name',
      }).patch,
    ).toEqual([]);
  });

  it('changes nothing in a namespace without policy', () => {
    expect(defaultAIJob(job(), {})).toEqual({ patch: [], applied: [], warnings: [] });
  });
});
