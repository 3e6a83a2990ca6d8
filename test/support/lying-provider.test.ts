import type { V1Pod } from '@kubernetes/client-node';
import { outputObject, simulatedRunOf, SIM } from '../../federation/workload.ts';
import { drawsLie, fabricatedOutput, lyingOutputObject } from './lying-provider.ts';

describe('drawsLie', () => {
  const uids = Array.from({ length: 2000 }, (_, i) => `uid-${i}`);
  it('never lies at share 0 and always at share 1', () => {
    expect(uids.some((u) => drawsLie('s', u, 0))).toBe(false);
    expect(uids.every((u) => drawsLie('s', u, 1))).toBe(true);
  });
  it('lies about close to the share of jobs, the same ones for the same seed', () => {
    const lied = uids.filter((u) => drawsLie('s', u, 0.3));
    expect(lied.length / uids.length).toBeGreaterThan(0.25);
    expect(lied.length / uids.length).toBeLessThan(0.35);
    expect(uids.filter((u) => drawsLie('s', u, 0.3))).toEqual(lied);
    expect(uids.filter((u) => drawsLie('other seed', u, 0.3))).not.toEqual(lied);
  });
});

describe('the lie', () => {
  it('changes every digit of a result, or adds a made-up one', () => {
    expect(fabricatedOutput('steps=300 loss=0.4127', 'u')).toBe('steps=411 loss=1.5238');
    expect(fabricatedOutput('done', 'u')).toMatch(/^done result=[0-9a-f]{12}$/);
  });
  it('is shaped like the honest output of a deterministic pod, with other bytes', () => {
    const pod: V1Pod = {
      metadata: { name: 'p', uid: 'pod-uid', annotations: { [SIM.runSeconds]: '3', [SIM.output]: 'loss=0.41', [SIM.deterministic]: 'true' } },
      spec: { nodeName: 'n', containers: [{ name: 'main', image: 'img', args: ['--seed', '1'] }] },
    };
    const run = simulatedRunOf(pod);
    if (!run) throw new Error('expected a run');
    const honest = JSON.parse(outputObject(pod, 'liar', run)) as Record<string, unknown>;
    const lie = JSON.parse(lyingOutputObject(pod, 'liar', 'job-uid')) as Record<string, unknown>;
    expect(Object.keys(lie)).toEqual(Object.keys(honest));
    expect(lie).toEqual({ ...honest, output: 'loss=1.52' });
  });
});
