import type { V1Pod } from '@kubernetes/client-node';
import { simulatedRunOf } from '../../federation/workload.ts';
import { aiJobCrd } from '../../operator/api/crds.ts';
import { TEST_IMAGE, aijobManifest } from './aijob.ts';
import { admit } from './local-validation/admission.ts';

const aiJobSchema = aiJobCrd.spec.versions[0]?.schema.openAPIV3Schema ?? {};

/** A pod with the job's pod annotations, as the executor reads them. */
const podOf = (annotations: Record<string, string> | undefined): V1Pod => ({ metadata: { ...(annotations ? { annotations } : {}) } });

describe('aijobManifest', () => {
  it('is a valid AIJob with the test defaults: a digest-pinned image, one replica, one GPU, a 3 s simulated run', () => {
    const m = aijobManifest({ name: 'j', namespace: 'ns' });
    expect(m.metadata).toEqual({ name: 'j', namespace: 'ns' });
    expect(m.spec).toMatchObject({ image: TEST_IMAGE, replicas: 1, resources: { gpus: 1 } });
    expect(TEST_IMAGE).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(simulatedRunOf(podOf(m.spec.podAnnotations))).toMatchObject({ runMs: 3000, outcome: 'Succeeded' });
    expect(admit(aiJobSchema, m).errors).toEqual([]);
  });

  it('puts every given spec field over the defaults', () => {
    const m = aijobManifest({ name: 'j', namespace: 'ns', image: 'x@sha256:' + 'b'.repeat(64), replicas: 2, resources: { gpus: 8 }, gpu: { products: ['P'] } });
    expect(m.spec).toMatchObject({ image: 'x@sha256:' + 'b'.repeat(64), replicas: 2, resources: { gpus: 8 }, gpu: { products: ['P'] } });
  });

  it('writes the simulated run as sim.flotilla.dev annotations, under any podAnnotations given', () => {
    const m = aijobManifest({
      name: 'j',
      namespace: 'ns',
      sim: { runSeconds: 60, checkpointSeconds: 1, output: 'out', deterministic: true, outcome: 'Failed' },
      podAnnotations: { 'sim.flotilla.dev/run-seconds': '5', team: 'a' },
    });
    expect(m.spec.podAnnotations).toEqual({
      'sim.flotilla.dev/run-seconds': '5',
      'sim.flotilla.dev/checkpoint-seconds': '1',
      'sim.flotilla.dev/output': 'out',
      'sim.flotilla.dev/deterministic': 'true',
      'sim.flotilla.dev/outcome': 'Failed',
      team: 'a',
    });
    expect(simulatedRunOf(podOf(m.spec.podAnnotations))).toMatchObject({ runMs: 5000, checkpointMs: 1000, output: 'out', outcome: 'Failed' });
  });

  it('with sim: false has no simulated run (the executor leaves its pods Running)', () => {
    expect(aijobManifest({ name: 'j', namespace: 'ns', sim: false }).spec.podAnnotations).toBeUndefined();
    expect(aijobManifest({ name: 'j', namespace: 'ns', sim: false, podAnnotations: { team: 'a' } }).spec.podAnnotations).toEqual({ team: 'a' });
  });
});
