import { SETTLEMENT_FINALIZER } from '../api/group.ts';
import type { AIJob } from '../api/types.ts';
import { MANAGED_BY_ANNOTATION, claimVerdict } from '../core/lifecycle/claim.ts';
import { FINALIZER } from '../core/lifecycle/plan.ts';
import { DEFAULTS_APPLIED_ANNOTATION, NAMESPACE_DEFAULTS, defaultAIJob } from './admission-defaults.ts';
import type { JsonPatchOp } from './admission-defaults.ts';

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
    expect(defaultAIJob(job(), {})).toEqual({ patch: [], applied: [], metadata: [], warnings: [] });
  });
});

/** RFC 6902 `add` and `remove` (all the webhook sends), applied to a copy, failing as the apiserver does. */
function applyPatch<T>(doc: T, patch: readonly JsonPatchOp[]): T {
  const out = structuredClone(doc) as unknown;
  for (const op of patch) {
    const segments = op.path
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = segments.pop();
    if (last === undefined) throw new Error(`${op.op} ${op.path}: the root`);
    let parent = out as Record<string, unknown> | unknown[];
    for (const s of segments) {
      const next = Array.isArray(parent) ? parent[Number(s)] : parent[s];
      if (typeof next !== 'object' || next === null) throw new Error(`${op.op} ${op.path}: ${s} does not exist`);
      parent = next as Record<string, unknown> | unknown[];
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new Error(`${op.op} ${op.path}: no index ${last}`);
      if (op.op === 'add') parent.splice(index, 0, op.value);
      else if (index === parent.length) throw new Error(`remove ${op.path}: no member`);
      else parent.splice(index, 1);
    } else if (op.op === 'add') parent[last] = op.value;
    else if (!(last in parent)) throw new Error(`remove ${op.path}: no member`);
    else delete parent[last];
  }
  return out as T;
}

describe('defaultAIJob on CREATE: the finalizer and the claim arrive with the job', () => {
  const ME = 'flotilla-system/flotilla-operator';
  const withMeta = (meta: Partial<AIJob['metadata']>, spec: Partial<AIJob['spec']> = {}): AIJob => {
    const j = job(spec);
    return { ...j, metadata: { ...j.metadata, ...meta } };
  };
  /** The job as stored after the webhook's patch; `policy` null: no namespace policy known. */
  const created = (j: AIJob, policy: Record<string, string> | null = {}) =>
    applyPatch(j, defaultAIJob(j, policy ?? undefined, undefined, { claimAs: ME }).patch);

  it('adds the finalizer and claims an unclaimed job that has neither finalizers nor annotations', () => {
    const j = withMeta({});
    const d = defaultAIJob(j, {}, undefined, { claimAs: ME });
    expect(d.patch).toEqual([
      { op: 'add', path: '/metadata/finalizers', value: [FINALIZER] },
      { op: 'add', path: '/metadata/annotations', value: { [MANAGED_BY_ANNOTATION]: ME } },
    ]);
    expect(d.applied).toEqual([]);
    expect(d.metadata).toEqual(['metadata.finalizers', `metadata.annotations["${MANAGED_BY_ANNOTATION}"]`]);
    const out = applyPatch(j, d.patch);
    expect(out.metadata.finalizers).toEqual([FINALIZER]);
    expect(out.metadata.annotations).toEqual({ [MANAGED_BY_ANNOTATION]: ME });
    // What the AIJob controller's claim() and plan then see: nothing left for them to write.
    expect(claimVerdict(out, ME)).toBe('mine');
  });

  it("keeps the job's own finalizers and annotations, adding to them", () => {
    const out = created(withMeta({ finalizers: ['example.com/keep'], annotations: { team: 'a' } }));
    expect(out.metadata.finalizers).toEqual(['example.com/keep', FINALIZER]);
    expect(out.metadata.annotations).toEqual({ team: 'a', [MANAGED_BY_ANNOTATION]: ME });
    // An empty list is a list: appended to.
    expect(created(withMeta({ finalizers: [] })).metadata.finalizers).toEqual([FINALIZER]);
  });

  it('adds the finalizer only once', () => {
    const j = withMeta({ finalizers: [FINALIZER, 'example.com/keep'], annotations: { [MANAGED_BY_ANNOTATION]: ME } });
    expect(defaultAIJob(j, {}, undefined, { claimAs: ME })).toEqual({ patch: [], applied: [], metadata: [], warnings: [] });
  });

  it("claims a job whose managed-by is empty (unclaimed), and keeps the finalizer with a tenant's choice of this operator", () => {
    expect(created(withMeta({ annotations: { [MANAGED_BY_ANNOTATION]: '' } })).metadata.annotations).toEqual({ [MANAGED_BY_ANNOTATION]: ME });
    const named = created(withMeta({ annotations: { [MANAGED_BY_ANNOTATION]: ME } }));
    expect(named.metadata.annotations).toEqual({ [MANAGED_BY_ANNOTATION]: ME });
    expect(named.metadata.finalizers).toEqual([FINALIZER]);
  });

  it('never changes the operator a tenant named, and adds no finalizer to a job another operator runs', () => {
    const j = withMeta({ annotations: { [MANAGED_BY_ANNOTATION]: 'team-a/own-operator' } });
    expect(defaultAIJob(j, {}, undefined, { claimAs: ME }).patch).toEqual([]);
    expect(created(j)).toEqual(j);
  });

  it('writes the claim and defaults-applied together as valid JSON Patch, with or without an annotations object', () => {
    const paid = { payment: { token: 'USDC', maxAmount: '10' } };
    const record = 'spec.placement.regions, spec.placement.deniedProviders, spec.payment.maxPricePerGpuHour (from namespace team-a)';
    const bare = withMeta({}, paid);
    const d = defaultAIJob(bare, ns, undefined, { claimAs: ME });
    expect(d.patch.filter((op) => op.path.startsWith('/metadata/annotations'))).toEqual([
      { op: 'add', path: '/metadata/annotations', value: { [DEFAULTS_APPLIED_ANNOTATION]: record, [MANAGED_BY_ANNOTATION]: ME } },
    ]);
    const out = applyPatch(bare, d.patch);
    expect(out.metadata).toEqual({
      name: 'train',
      namespace: 'team-a',
      finalizers: [FINALIZER],
      annotations: { [DEFAULTS_APPLIED_ANNOTATION]: record, [MANAGED_BY_ANNOTATION]: ME },
    });
    expect(out.spec.placement).toEqual({ regions: ['eu-west', 'eu-north'], deniedProviders: ['provider-c'] });
    expect(out.spec.payment?.maxPricePerGpuHour).toBe('3.20');
    // Annotations present: a forged record replaced, the claim added beside it.
    const forged = withMeta({ annotations: { [DEFAULTS_APPLIED_ANNOTATION]: 'forged', team: 'a' } }, paid);
    expect(created(forged, ns).metadata.annotations).toEqual({ [DEFAULTS_APPLIED_ANNOTATION]: record, team: 'a', [MANAGED_BY_ANNOTATION]: ME });
    // Nothing applied: the forged record removed, the claim added.
    expect(created(withMeta({ annotations: { [DEFAULTS_APPLIED_ANNOTATION]: 'forged' } })).metadata.annotations).toEqual({ [MANAGED_BY_ANNOTATION]: ME });
  });

  it('claims with no namespace policy known, touching neither the spec nor defaults-applied', () => {
    const j = withMeta({ annotations: { [DEFAULTS_APPLIED_ANNOTATION]: 'kept' } }, { payment: { token: 'USDC', maxAmount: '10' } });
    const out = created(j, null);
    expect(out.spec).toEqual(j.spec);
    expect(out.metadata.annotations).toEqual({ [DEFAULTS_APPLIED_ANNOTATION]: 'kept', [MANAGED_BY_ANNOTATION]: ME });
    expect(out.metadata.finalizers).toEqual([FINALIZER]);
  });

  it('a paid job on an operator that settles payments also arrives with the settlement finalizer; an unpaid one, or one this operator does not settle, does not', () => {
    const paid = withMeta({}, { payment: { token: 'USDC', maxAmount: '10' } });
    const settling = (j: AIJob) => applyPatch(j, defaultAIJob(j, {}, undefined, { claimAs: ME, settles: true }).patch);
    expect(settling(paid).metadata.finalizers).toEqual([FINALIZER, SETTLEMENT_FINALIZER]);
    // Added to the job's own list, once each.
    expect(settling(withMeta({ finalizers: ['example.com/keep', SETTLEMENT_FINALIZER] }, paid.spec)).metadata.finalizers).toEqual([
      'example.com/keep',
      SETTLEMENT_FINALIZER,
      FINALIZER,
    ]);
    expect(settling(withMeta({})).metadata.finalizers).toEqual([FINALIZER]);
    expect(created(paid).metadata.finalizers).toEqual([FINALIZER]);
    // Another operator's job: neither finalizer.
    const elsewhere = withMeta({ annotations: { [MANAGED_BY_ANNOTATION]: 'team-a/own-operator' } }, paid.spec);
    expect(defaultAIJob(elsewhere, {}, undefined, { claimAs: ME, settles: true }).patch).toEqual([]);
  });

  it('on UPDATE, and without claimAs, writes neither', () => {
    const unclaimed = withMeta({});
    expect(defaultAIJob(unclaimed, {}, unclaimed, { claimAs: ME }).patch).toEqual([]);
    expect(defaultAIJob(unclaimed, {}).patch).toEqual([]);
    expect(defaultAIJob(unclaimed, {}, undefined, { claimAs: '' }).patch).toEqual([]);
  });
});
