import type { GPUProviderStatus } from '../api/types.ts';
import { fencedVerdict } from '../core/fence.ts';
import { planStatus, rfc3339 } from './gpuprovider-status.ts';
import type { StatusObservation } from './gpuprovider-status.ts';

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const s = (ms: number) => t0 + ms;
const REFRESH = 30_000;

const ready: StatusObservation = {
  generation: 3,
  reachable: { status: 'True', reason: 'Connected', message: 'answers' },
  ready: { status: 'True', reason: 'Ready', message: 'ok' },
  inventory: { inventory: [{ product: 'H100', memoryMiB: 81559, nodes: 2, allocatable: 16, free: 16 }], allocatableGpus: 16, freeGpus: 16 },
  lastSeen: s(0),
};

/** Applies a merge patch's status the way the apiserver does for these fields (top-level replace). */
const apply = (current: GPUProviderStatus | undefined, patch: Partial<GPUProviderStatus> | undefined): GPUProviderStatus => ({
  ...(current ?? {}),
  ...(patch ?? {}),
});

describe('planStatus', () => {
  it('the first pass writes conditions, inventory, totals, generation and lastSeen', () => {
    const plan = planStatus(undefined, ready, s(0), REFRESH);
    expect(plan.status).toEqual({
      conditions: [
        { type: 'Reachable', status: 'True', reason: 'Connected', message: 'answers', lastTransitionTime: rfc3339(s(0)), observedGeneration: 3 },
        { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', lastTransitionTime: rfc3339(s(0)), observedGeneration: 3 },
        {
          type: 'Trusted',
          status: 'True',
          reason: 'NoProvenMismatch',
          message: 'no run here was proven wrong by re-execution',
          lastTransitionTime: rfc3339(s(0)),
          observedGeneration: 3,
        },
      ],
      observedGeneration: 3,
      inventory: ready.inventory?.inventory,
      allocatableGpus: 16,
      freeGpus: 16,
      lastSeen: '2026-01-01T12:00:00Z',
    });
    expect(plan.transitions.map((t) => `${t.type}→${t.to}`)).toEqual(['Reachable→True', 'Ready→True', 'Trusted→True']);
  });

  it('Trusted turns False once the reputation counts a proven mismatch, and only then', () => {
    const first = apply(undefined, planStatus(undefined, ready, s(0), REFRESH).status);
    const reputation = { completed: 3, preempted: 0, failed: 1, gpuSeconds: 60, meanTimeToPreemptionSeconds: 0, provenMismatches: 1 };
    const plan = planStatus({ ...first, reputation }, ready, s(1_000), REFRESH);
    expect(plan.transitions).toEqual([
      { type: 'Trusted', from: 'True', to: 'False', reason: 'ProvenMismatch', message: expect.stringContaining('1 run(s) here were proven wrong') },
    ]);
  });

  it('a second pass over the same observation writes nothing', () => {
    const first = apply(undefined, planStatus(undefined, ready, s(0), REFRESH).status);
    const second = planStatus(first, { ...ready, lastSeen: s(5_000) }, s(5_000), REFRESH);
    expect(second).toEqual({ transitions: [] });
  });

  it('lastSeen alone is refreshed once it is refresh-interval old', () => {
    const first = apply(undefined, planStatus(undefined, ready, s(0), REFRESH).status);
    expect(planStatus(first, { ...ready, lastSeen: s(29_000) }, s(29_000), REFRESH).status).toBeUndefined();
    expect(planStatus(first, { ...ready, lastSeen: s(30_000) }, s(30_000), REFRESH).status).toEqual({ lastSeen: '2026-01-01T12:00:30Z' });
  });

  it('a change in free GPUs is written with the current lastSeen', () => {
    const first = apply(undefined, planStatus(undefined, ready, s(0), REFRESH).status);
    const busier = {
      ...ready,
      lastSeen: s(2_000),
      inventory: { inventory: [{ product: 'H100', memoryMiB: 81559, nodes: 2, allocatable: 16, free: 15 }], allocatableGpus: 16, freeGpus: 15 },
    };
    const plan = planStatus(first, busier, s(2_000), REFRESH);
    expect(plan.status).toMatchObject({ freeGpus: 15, lastSeen: '2026-01-01T12:00:02Z' });
    expect(plan.transitions).toEqual([]);
  });

  it("lastTransitionTime moves only when a condition's status flips", () => {
    const first = apply(undefined, planStatus(undefined, ready, s(0), REFRESH).status);
    const cordoned = { ...ready, generation: 4, ready: { status: 'False', reason: 'Cordoned', message: 'spec.cordoned' } } as const;
    const plan = planStatus(first, cordoned, s(60_000), REFRESH);
    const byType = Object.fromEntries((plan.status?.conditions ?? []).map((c) => [c.type, c]));
    expect(byType.Reachable).toMatchObject({ lastTransitionTime: '2026-01-01T12:00:00Z', observedGeneration: 4 });
    expect(byType.Ready).toMatchObject({ status: 'False', reason: 'Cordoned', lastTransitionTime: '2026-01-01T12:01:00Z' });
    expect(plan.transitions).toEqual([{ type: 'Ready', from: 'True', to: 'False', reason: 'Cordoned', message: 'spec.cordoned' }]);
  });

  it('without a trusted inventory the last one stays and no lastSeen is invented', () => {
    const first = apply(undefined, planStatus(undefined, ready, s(0), REFRESH).status);
    const lost = {
      generation: 3,
      reachable: { status: 'False', reason: 'ConnectionFailed', message: 'refused' },
      ready: { status: 'False', reason: 'Unreachable', message: 'ConnectionFailed: refused' },
      lastSeen: s(0),
    } as const;
    const plan = planStatus(first, lost, s(10_000), REFRESH);
    expect(plan.status).not.toHaveProperty('inventory');
    expect(plan.status).not.toHaveProperty('lastSeen');
    expect(plan.status?.conditions?.map((c) => c.reason)).toEqual(['ConnectionFailed', 'Unreachable', 'NoProvenMismatch']);
  });

  it('conditions owned by others are kept', () => {
    const other = { type: 'Audited', status: 'True', reason: 'Ok', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' } as const;
    const plan = planStatus({ conditions: [other] }, ready, s(0), REFRESH);
    expect(plan.status?.conditions?.[0]).toEqual(other);
  });

  it('key order in what the apiserver returned does not count as a change', () => {
    const first = apply(undefined, planStatus(undefined, ready, s(0), REFRESH).status);
    const reverseKeys = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reverseKeys)
        : v && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .reverse()
                .map(([k, x]) => [k, reverseKeys(x)]),
            )
          : v;
    const reordered = reverseKeys(first) as GPUProviderStatus;
    expect(Object.keys(reordered)[0]).not.toBe(Object.keys(first)[0]);
    expect(planStatus(reordered, ready, s(1_000), REFRESH).status).toBeUndefined();
  });
});

describe('planStatus: InventoryValid', () => {
  it('is written with the other conditions when observed, and left alone when not', () => {
    const bad = { status: 'False' as const, reason: 'MalformedObjects' as const, message: 'skipped 1 malformed object: node n (spec.taints is not a list)' };
    const first = apply(undefined, planStatus(undefined, { ...ready, inventoryValid: bad }, s(0), REFRESH).status);
    expect(first.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual(['Reachable=True', 'Ready=True', 'InventoryValid=False', 'Trusted=True']);
    // No connection (no observation): the condition stays as it was; a second pass writes nothing.
    expect(planStatus(first, { ...ready, inventoryValid: bad }, s(1_000), REFRESH).status).toBeUndefined();
    const fixed = planStatus(first, { ...ready, inventoryValid: { status: 'True', reason: 'Valid', message: 'ok' } }, s(2_000), REFRESH);
    expect(fixed.transitions.map((t) => `${t.type}→${t.to}`)).toEqual(['InventoryValid→True']);
  });
});

describe('planStatus: Fenced', () => {
  it('is written once the fence settled, left as it is while it has not, and its flips are transitions', () => {
    const absent = fencedVerdict({ state: 'absent', namespace: 'lent', epoch: 3 });
    const first = apply(undefined, planStatus(undefined, { ...ready, fenced: absent }, s(0), REFRESH).status);
    expect(first.conditions?.find((c) => c.type === 'Fenced')).toMatchObject({
      status: 'False',
      reason: 'Absent',
      message: 'no ConfigMap lent/flotilla-fence: install or upgrade the provider chart with fence.enabled',
    });
    // Not settled yet in a new term (no observation): the condition stays; nothing to write.
    expect(planStatus(first, ready, s(1_000), REFRESH).status).toBeUndefined();
    const enforced = planStatus(first, { ...ready, fenced: fencedVerdict({ state: 'enforced', namespace: 'lent', epoch: 4 }) }, s(2_000), REFRESH);
    expect(enforced.transitions).toEqual([
      {
        type: 'Fenced',
        from: 'False',
        to: 'True',
        reason: 'Enforced',
        message: 'token 4 raised in lent/flotilla-fence; a create stamped below it was refused',
      },
    ]);
  });
});
