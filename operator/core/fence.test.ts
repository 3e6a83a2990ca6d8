import { gpuProviderConditions } from '../api/conditions.ts';
import { ANNOTATION_FENCE_EPOCH, ANNOTATION_FENCE_KEY, fenceAnnotations, fenceKey, fencedVerdict, isFenceRefusal, stamped } from './fence.ts';

describe('fenceKey', () => {
  it('names hub, lease namespace and lease name apart, in characters a ConfigMap key may hold', () => {
    expect(fenceKey('hub-1', 'flotilla-system', 'flotilla-operator')).toBe('hub-1_flotilla-system.flotilla-operator');
    const key = fenceKey('hub one/β', 'ns', 'lease.name');
    expect(key).toBe('hub-one--_ns.lease.name');
    expect(key).toMatch(/^[-._a-zA-Z0-9]+$/);
  });

  it('keeps two hubs, and two leases of one hub, on different keys', () => {
    const keys = new Set([fenceKey('a', 'ns', 'l'), fenceKey('b', 'ns', 'l'), fenceKey('a', 'ns', 'm'), fenceKey('a', 'nt', 'l')]);
    expect(keys.size).toBe(4);
  });

  it('stays within a ConfigMap key’s 253 characters', () => {
    expect(fenceKey('h'.repeat(200), 'n'.repeat(63), 'l'.repeat(253))).toHaveLength(253);
  });
});

describe('stamped', () => {
  const stamp = { key: 'hub_ns.lease', epoch: 7 };

  it("adds the leader's key and token and keeps the object's own annotations", () => {
    const pod = { metadata: { name: 'p', annotations: { a: '1' } }, spec: { x: 1 } };
    const out = stamped(pod, stamp);
    expect(out.metadata.annotations).toEqual({ a: '1', [ANNOTATION_FENCE_KEY]: 'hub_ns.lease', [ANNOTATION_FENCE_EPOCH]: '7' });
    expect(out.spec).toBe(pod.spec);
    expect(pod.metadata.annotations).toEqual({ a: '1' });
  });

  it('wins over a fence annotation already on the object', () => {
    const out = stamped({ metadata: { annotations: { [ANNOTATION_FENCE_EPOCH]: '999' } } }, stamp);
    expect(out.metadata?.annotations?.[ANNOTATION_FENCE_EPOCH]).toBe('7');
  });

  it('leaves the object as it is without a stamp (no leader election)', () => {
    const obj = { metadata: { annotations: { a: '1' } } };
    expect(stamped(obj, undefined)).toBe(obj);
    expect(fenceAnnotations(undefined)).toEqual({});
  });
});

describe('isFenceRefusal', () => {
  it("tells the fence's refusal from any other 403", () => {
    expect(
      isFenceRefusal(
        `pods "x" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'p' denied request: flotilla fence: a newer leader of hub lease k holds token 3 in this namespace; this create carries 2`,
      ),
    ).toBe(true);
    expect(isFenceRefusal('pods "x" is forbidden: exceeded quota: gpus')).toBe(false);
    expect(isFenceRefusal(undefined)).toBe(false);
  });
});

describe('fencedVerdict', () => {
  it('gives each state a documented reason with the status the docs give it', () => {
    for (const state of ['enforced', 'absent', 'unenforced', 'unverified'] as const) {
      const verdict = fencedVerdict({ state, namespace: 'lent', epoch: 2, message: 'quota' });
      const documented = gpuProviderConditions.Fenced.reasons[verdict.reason as keyof typeof gpuProviderConditions.Fenced.reasons];
      expect(documented.status).toBe(verdict.status);
    }
    expect(fencedVerdict({ state: 'unverified', namespace: 'lent', epoch: 2, message: 'exceeded quota' }).message).toBe(
      'the provider refused the raise or the probe: exceeded quota',
    );
    expect(fencedVerdict({ state: 'unenforced', namespace: 'lent', epoch: 2 }).message).toContain('the fence policies are missing');
  });
});
