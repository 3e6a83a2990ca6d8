// What the defaulting (mutating) webhook fills in: per-namespace defaults a hub admin sets as
// annotations on the namespace, which the CRD's own `default:` cannot express (it sees only the
// object). A field the job sets itself is never touched. Pure: the webhook reads the namespace.
//
//   namespace annotation                            fills, when the job leaves it out
//   flotilla.dev/default-regions: eu-west,eu-north   spec.placement.regions
//   flotilla.dev/default-denied-providers: a,b       spec.placement.deniedProviders
//   flotilla.dev/default-max-price-per-gpu-hour: 3   spec.payment.maxPricePerGpuHour (paid jobs only)
//
// The job records what was filled in, in the annotation flotilla.dev/defaults-applied; an
// annotation value that is not valid is ignored with a warning naming it (kubectl prints warnings).
import type { AIJob } from '../api/types.ts';

export const NAMESPACE_DEFAULTS = {
  regions: 'flotilla.dev/default-regions',
  deniedProviders: 'flotilla.dev/default-denied-providers',
  maxPricePerGpuHour: 'flotilla.dev/default-max-price-per-gpu-hour',
} as const;

export const DEFAULTS_APPLIED_ANNOTATION = 'flotilla.dev/defaults-applied';

/** RFC 6902 operations, as an AdmissionReview response carries them (base64 JSON). */
export type JsonPatchOp = { readonly op: 'add'; readonly path: string; readonly value: unknown };

export interface Defaulting {
  readonly patch: readonly JsonPatchOp[];
  /** The spec fields filled in, e.g. "spec.placement.regions". */
  readonly applied: readonly string[];
  readonly warnings: readonly string[];
}

// The CRD's own patterns for these fields (operator/api): a default must pass the same rules.
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const POSITIVE_DECIMAL = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/** JSON Pointer escaping of one path segment (RFC 6901). */
const pointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

function list(value: string, valid: RegExp): string[] | undefined {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return items.length > 0 && items.every((s) => s.length <= 253 && valid.test(s)) ? [...new Set(items)] : undefined;
}

export function defaultAIJob(job: AIJob, namespaceAnnotations: Readonly<Record<string, string>>): Defaulting {
  const patch: JsonPatchOp[] = [];
  const applied: string[] = [];
  const warnings: string[] = [];
  const ignored = (key: string, why: string) => warnings.push(`namespace annotation ${key}="${namespaceAnnotations[key]}" ${why}; no default applied`);

  const placement: Record<string, unknown> = {};
  const regionsRaw = namespaceAnnotations[NAMESPACE_DEFAULTS.regions];
  if (regionsRaw !== undefined && job.spec.placement?.regions === undefined) {
    const regions = list(regionsRaw, LABEL_VALUE);
    if (regions) placement.regions = regions;
    else ignored(NAMESPACE_DEFAULTS.regions, 'is not a comma-separated list of label values');
  }
  const deniedRaw = namespaceAnnotations[NAMESPACE_DEFAULTS.deniedProviders];
  if (deniedRaw !== undefined && job.spec.placement?.deniedProviders === undefined) {
    const denied = list(deniedRaw, DNS_NAME);
    if (denied) placement.deniedProviders = denied;
    else ignored(NAMESPACE_DEFAULTS.deniedProviders, 'is not a comma-separated list of GPUProvider names');
  }
  // `add` on a member of an object that does not exist fails: create spec.placement first.
  if (Object.keys(placement).length > 0 && !job.spec.placement) patch.push({ op: 'add', path: '/spec/placement', value: {} });
  for (const [field, value] of Object.entries(placement)) {
    patch.push({ op: 'add', path: `/spec/placement/${field}`, value });
    applied.push(`spec.placement.${field}`);
  }

  const priceRaw = namespaceAnnotations[NAMESPACE_DEFAULTS.maxPricePerGpuHour];
  if (priceRaw !== undefined && job.spec.payment && job.spec.payment.maxPricePerGpuHour === undefined) {
    const price = priceRaw.trim();
    if (POSITIVE_DECIMAL.test(price) && Number(price) > 0) {
      patch.push({ op: 'add', path: '/spec/payment/maxPricePerGpuHour', value: price });
      applied.push('spec.payment.maxPricePerGpuHour');
    } else {
      ignored(NAMESPACE_DEFAULTS.maxPricePerGpuHour, 'is not a positive decimal number');
    }
  }

  if (applied.length > 0) {
    const record = `${applied.join(', ')} (from namespace ${job.metadata.namespace ?? ''})`;
    if (!job.metadata.annotations) patch.push({ op: 'add', path: '/metadata/annotations', value: { [DEFAULTS_APPLIED_ANNOTATION]: record } });
    else patch.push({ op: 'add', path: `/metadata/annotations/${pointer(DEFAULTS_APPLIED_ANNOTATION)}`, value: record });
  }
  return { patch, applied, warnings };
}
