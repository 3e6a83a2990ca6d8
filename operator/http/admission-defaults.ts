// What the defaulting (mutating) webhook writes into an AIJob: its namespace's placement policy
// (core/placement/namespace-policy.ts), so the stored spec shows what applies. The policy is a
// ceiling: the job's own ask is narrowed, never widened — regions filled in when the job names
// none, policy-denied providers added to its deniedProviders, the price cap filled in for a paid
// job without one. What the job asks beyond the policy is left for the validating webhook to deny.
//
//   CREATE   the above; flotilla.dev/defaults-applied records what was filled in, and a value the
//            user wrote there is removed (only this webhook writes it)
//   UPDATE   the above when the request changes the spec (so deniedProviders cannot be emptied);
//            a changed flotilla.dev/defaults-applied is put back as it was
//
// And, on CREATE, what the AIJob controller's first write would otherwise be (its claim(),
// core/lifecycle/claim.ts): the finalizer flotilla.dev/remote-pods and the claim
// flotilla.dev/managed-by naming this operator, so the job arrives claimed and the controller's
// first write is the attempt; for a paid job on an operator that settles payments, the settlement
// finalizer too (the funding controller's first write otherwise). A job a tenant named another operator for is left as it is (no
// finalizer: that operator's controller adds its own, and one nobody runs stays deletable).
// UPDATE adds neither: a job created while the webhook was down is claimed by the controller.
//
// Pure: the webhook reads the namespace.
import { SETTLEMENT_FINALIZER } from '../api/group.ts';
import type { AIJob } from '../api/types.ts';
import { MANAGED_BY_ANNOTATION, claimOf } from '../core/lifecycle/claim.ts';
import { FINALIZER } from '../core/lifecycle/plan.ts';
import { NAMESPACE_POLICY, parseNamespacePolicy } from '../core/placement/namespace-policy.ts';
import { sameJson } from '../core/json.ts';

/** The annotation names (kept from when these were only defaults). */
export const NAMESPACE_DEFAULTS = {
  regions: NAMESPACE_POLICY.regions,
  deniedProviders: NAMESPACE_POLICY.deniedProviders,
  maxPricePerGpuHour: NAMESPACE_POLICY.maxPricePerGpuHour,
} as const;

export const DEFAULTS_APPLIED_ANNOTATION = 'flotilla.dev/defaults-applied';

/** RFC 6902 operations, as an AdmissionReview response carries them (base64 JSON). */
export type JsonPatchOp = { readonly op: 'add'; readonly path: string; readonly value: unknown } | { readonly op: 'remove'; readonly path: string };

export interface Defaulting {
  readonly patch: readonly JsonPatchOp[];
  /** The spec fields filled in or narrowed, e.g. "spec.placement.regions". */
  readonly applied: readonly string[];
  /** What was written into metadata on CREATE: "metadata.finalizers" and/or the claim's annotation. */
  readonly metadata: readonly string[];
  readonly warnings: readonly string[];
}

export interface DefaultingOptions {
  /**
   * The operator's name (config.owner). Given: a job created unclaimed (or claimed for this name) is
   * claimed for it, with FINALIZER; absent: neither is written (the controller writes both).
   */
  readonly claimAs?: string;
  /**
   * This operator settles payments (it has a chain): a paid job (spec.payment) it claims also gets
   * the settlement finalizer at creation, so the funding controller needs no write of its own for
   * it (that write used to race the lifecycle's first one). Absent: the funding controller adds it.
   */
  readonly settles?: boolean;
}

/** JSON Pointer escaping of one path segment (RFC 6901). */
const pointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * `namespaceAnnotations` undefined: no namespace policy is known (neither the spec nor
 * flotilla.dev/defaults-applied is touched); the finalizer and the claim are still written.
 */
export function defaultAIJob(
  job: AIJob,
  namespaceAnnotations: Readonly<Record<string, string>> | undefined,
  old?: AIJob,
  opts: DefaultingOptions = {},
): Defaulting {
  const patch: JsonPatchOp[] = [];
  const applied: string[] = [];
  const metadata: string[] = [];
  /** Annotations to set (a string) or remove (undefined), written together at the end. */
  const annotations = new Map<string, string | undefined>();
  const policy = namespaceAnnotations ? parseNamespacePolicy(namespaceAnnotations) : undefined;
  // An unusable policy is denied by the validating webhook, naming the annotation.
  const specChanged = !old || !sameJson(job.spec, old.spec);
  if (policy && policy.invalid.length === 0 && specChanged) {
    const placement: Record<string, unknown> = {};
    const own = job.spec.placement;
    if (policy.regions && (own?.regions ?? []).length === 0) placement.regions = [...policy.regions];
    // A provider the job itself allows is left out: the validating webhook then denies the job
    // naming spec.placement.allowedProviders, rather than the CRD's "both allowed and denied".
    const missing = policy.deniedProviders.filter((p) => !(own?.deniedProviders ?? []).includes(p) && !(own?.allowedProviders ?? []).includes(p));
    if (missing.length > 0) placement.deniedProviders = [...(own?.deniedProviders ?? []), ...missing];
    // `add` on a member of an object that does not exist fails: create spec.placement first.
    if (Object.keys(placement).length > 0 && !own) patch.push({ op: 'add', path: '/spec/placement', value: {} });
    for (const [field, value] of Object.entries(placement)) {
      patch.push({ op: 'add', path: `/spec/placement/${field}`, value });
      applied.push(`spec.placement.${field}`);
    }
    if (policy.maxPricePerGpuHour !== undefined && job.spec.payment && job.spec.payment.maxPricePerGpuHour === undefined) {
      patch.push({ op: 'add', path: '/spec/payment/maxPricePerGpuHour', value: policy.maxPricePerGpuHour });
      applied.push('spec.payment.maxPricePerGpuHour');
    }
  }

  // flotilla.dev/defaults-applied: written here only.
  if (policy) {
    const given = job.metadata.annotations?.[DEFAULTS_APPLIED_ANNOTATION];
    const before = old?.metadata.annotations?.[DEFAULTS_APPLIED_ANNOTATION];
    let record: string | undefined = old ? before : undefined;
    if (applied.length > 0) {
      // On update: every field the webhook ever filled in, the earlier ones first.
      const earlier = old && before ? (/^(.*) \(from namespace [^)]*\)$/.exec(before)?.[1]?.split(', ') ?? []) : [];
      record = `${[...new Set([...earlier, ...applied])].join(', ')} (from namespace ${job.metadata.namespace ?? ''})`;
    }
    if (record !== given) annotations.set(DEFAULTS_APPLIED_ANNOTATION, record);
  }

  // The claim and the finalizer, on CREATE only, for a job this operator is to run.
  const claimAs = opts.claimAs;
  const owner = claimOf(job);
  if (!old && claimAs !== undefined && claimAs !== '' && (owner === undefined || owner === claimAs)) {
    const finalizers = job.metadata.finalizers ?? [];
    const wanted = [FINALIZER, ...(opts.settles && job.spec.payment ? [SETTLEMENT_FINALIZER] : [])].filter((f) => !finalizers.includes(f));
    if (!job.metadata.finalizers && wanted.length > 0) patch.push({ op: 'add', path: '/metadata/finalizers', value: wanted });
    else for (const f of wanted) patch.push({ op: 'add', path: '/metadata/finalizers/-', value: f });
    if (wanted.length > 0) metadata.push('metadata.finalizers');
    // Unclaimed includes an empty value (claimOf), which is replaced.
    if (owner === undefined) {
      annotations.set(MANAGED_BY_ANNOTATION, claimAs);
      metadata.push(`metadata.annotations["${MANAGED_BY_ANNOTATION}"]`);
    }
  }

  // One object when the job has no annotations (adding members to a missing object fails).
  if (!job.metadata.annotations) {
    const value = Object.fromEntries([...annotations].filter((e): e is [string, string] => e[1] !== undefined));
    if (Object.keys(value).length > 0) patch.push({ op: 'add', path: '/metadata/annotations', value });
  } else {
    for (const [key, value] of annotations) {
      const path = `/metadata/annotations/${pointer(key)}`;
      if (value !== undefined) patch.push({ op: 'add', path, value });
      else if (job.metadata.annotations[key] !== undefined) patch.push({ op: 'remove', path });
    }
  }
  return { patch, applied, metadata, warnings: [] };
}
