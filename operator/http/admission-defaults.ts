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
// Pure: the webhook reads the namespace.
import type { AIJob } from '../api/types.ts';
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
  readonly warnings: readonly string[];
}

/** JSON Pointer escaping of one path segment (RFC 6901). */
const pointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');
const APPLIED_PATH = `/metadata/annotations/${pointer(DEFAULTS_APPLIED_ANNOTATION)}`;

export function defaultAIJob(job: AIJob, namespaceAnnotations: Readonly<Record<string, string>>, old?: AIJob): Defaulting {
  const patch: JsonPatchOp[] = [];
  const applied: string[] = [];
  const policy = parseNamespacePolicy(namespaceAnnotations);
  // An unusable policy is denied by the validating webhook, naming the annotation.
  const specChanged = !old || !sameJson(job.spec, old.spec);
  if (policy.invalid.length === 0 && specChanged) {
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
  const given = job.metadata.annotations?.[DEFAULTS_APPLIED_ANNOTATION];
  const before = old?.metadata.annotations?.[DEFAULTS_APPLIED_ANNOTATION];
  let record: string | undefined = old ? before : undefined;
  if (applied.length > 0) {
    // On update: every field the webhook ever filled in, the earlier ones first.
    const earlier = old && before ? (/^(.*) \(from namespace [^)]*\)$/.exec(before)?.[1]?.split(', ') ?? []) : [];
    record = `${[...new Set([...earlier, ...applied])].join(', ')} (from namespace ${job.metadata.namespace ?? ''})`;
  }
  if (record !== given) {
    if (record === undefined) patch.push({ op: 'remove', path: APPLIED_PATH });
    else if (!job.metadata.annotations) patch.push({ op: 'add', path: '/metadata/annotations', value: { [DEFAULTS_APPLIED_ANNOTATION]: record } });
    else patch.push({ op: 'add', path: APPLIED_PATH, value: record });
  }
  return { patch, applied, warnings: [] };
}
