// The admission tables (admission-cases.ts) through local-validation, which approximates the
// apiserver: defaults, unknown fields, OpenAPI constraints, then our CEL rules.
import { aiJobAdmissionCases, aiJobManifest, gpuProviderAdmissionCases, gpuProviderManifest, withRaw } from '../../test/support/admission-cases.ts';
import type { AdmissionCase } from '../../test/support/admission-cases.ts';
import { aiJobCrd, gpuProviderCrd } from './crds.ts';
import { admit } from '../../test/support/local-validation/admission.ts';
import type { SchemaProps } from './schema-types.ts';
import type { AIJob, GPUProvider } from './types.ts';

const aiJobSchema = aiJobCrd.spec.versions[0]?.schema.openAPIV3Schema ?? {};
const gpuProviderSchema = gpuProviderCrd.spec.versions[0]?.schema.openAPIV3Schema ?? {};

function expectOutcome(schema: SchemaProps, c: AdmissionCase): void {
  const { errors } = admit(schema, c.object, c.old);
  if (c.rejected === undefined) {
    expect(errors).toEqual([]);
    return;
  }
  expect(errors.map((e) => e.path)).toEqual([c.rejected.field]);
  if (c.rejected.message !== undefined) expect(errors[0]?.message).toBe(c.rejected.message);
}

const table = (cases: readonly AdmissionCase[]) =>
  cases.map((c) => [c.rejected ? `is rejected at ${c.rejected.field === '' ? 'the object' : c.rejected.field}` : 'is accepted', c.name, c] as const);

describe('AIJob admission', () => {
  it.each(table(aiJobAdmissionCases).map(([outcome, name, c]) => [name, outcome, c] as const))('%s %s', (_, __, c) => {
    expectOutcome(aiJobSchema, c);
  });

  it('a job with only image and payment gets every default', () => {
    const stored = admit(aiJobSchema, aiJobManifest()).object as AIJob;
    expect(stored.spec.replicas).toBe(1);
    expect(stored.spec.resources).toEqual({ gpus: 1 });
    expect(stored.spec.output).toEqual({ path: '/flotilla/output', pin: true });
    expect(stored.spec.recovery).toEqual({ maxRestarts: 3, strategy: 'Failover' });
  });

  it('a checkpoint without an interval gets every: 10m', () => {
    const stored = admit(aiJobSchema, aiJobManifest({ checkpoint: { path: '/ckpt' } })).object as AIJob;
    expect(stored.spec.checkpoint).toEqual({ path: '/ckpt', every: '10m' });
  });

  it.each<[string, string, unknown]>([
    ['a value of the wrong type', 'spec.replicas', 'two'],
    ['a missing required field', 'spec.payment.maxAmount', undefined],
    ['a value outside an enum', 'spec.recovery', { strategy: 'Random' }],
  ])('%s is reported alone: CEL rules are not evaluated after it', (_, path, value) => {
    const { errors } = admit(aiJobSchema, withRaw(aiJobManifest({ image: '' }), path, value));
    expect(errors.map((e) => e.path)).toEqual([path === 'spec.recovery' ? 'spec.recovery.strategy' : path]);
  });

  it('a violated bound does not stop the CEL rules', () => {
    const { errors } = admit(aiJobSchema, aiJobManifest({ image: '', replicas: 129 }));
    expect(errors.map((e) => e.path)).toEqual(['spec.replicas', 'spec.image']);
  });
});

describe('GPUProvider admission', () => {
  it.each(table(gpuProviderAdmissionCases).map(([outcome, name, c]) => [name, outcome, c] as const))('%s %s', (_, __, c) => {
    expectOutcome(gpuProviderSchema, c);
  });

  it('a minimal provider gets every default', () => {
    const stored = admit(gpuProviderSchema, gpuProviderManifest()).object as GPUProvider;
    expect(stored.spec.namespace).toBe('flotilla-workloads');
    expect(stored.spec.priorityClassName).toBe('flotilla-lent');
    expect(stored.spec.kubeconfigSecretRef.key).toBe('kubeconfig');
    expect(stored.spec.cordoned).toBe(false);
  });
});
