// A hub namespace's placement policy, from annotations its admin sets on the namespace, and what a
// job of that namespace may ask for under it. The policy is a ceiling, not a default: a job may
// narrow it, never widen it.
//
//   annotation                                       policy                      a job's effective ask
//   flotilla.dev/default-regions: eu-west,eu-north   the only regions allowed    its regions ∩ policy (policy when it names none)
//   flotilla.dev/default-denied-providers: a,b       providers never used        its denied ∪ policy
//   flotilla.dev/default-max-price-per-gpu-hour: 3   price cap (paid jobs)       min(its cap, policy)
//   flotilla.dev/allow-unpaid-jobs: "true"           jobs without spec.payment   allowed on a hub with payments
//   flotilla.dev/require-image-digest: "true"        spec.image pinned @sha256   —
//   flotilla.dev/verification-mode: SpotCheck        verification floor          the stronger of its mode and the policy's
//   flotilla.dev/verification-sample-rate: "0.1"     sample-rate floor           the higher of its rate and the policy's
//   flotilla.dev/gpu-quota: "16"                     GPUs its jobs hold at once  the scheduler queues the rest (NamespaceQuota)
//
// (Verification is a floor, the one place the policy raises what a job asks: re-execution
// protects the namespace's payer, so a job can ask for more, never less — docs/verification.md.)
//
// (The names say "default" for compatibility: the defaulting webhook still fills the fields in,
// so the stored spec shows what applies.) A job that asks for what the policy forbids — a region
// outside it, a denied provider as allowed, a higher price, no payment — is a violation: refused at
// admission, and failed by the operator if it got past a webhook outage. An annotation that does
// not parse makes the policy unusable: admission refuses and the operator places nothing in that
// namespace until it is fixed (fail closed; never "no policy").
//
// Pure: the webhook and the AIJob controller read the namespace (operator/hub/namespace-cache.ts).
import type { AIJobSpec } from '../../api/types.ts';
import { toBaseUnits } from '../money.ts';
import { effectiveVerification } from '../verification/verdict.ts';
import type { VerificationMode } from '../verification/verdict.ts';

export const NAMESPACE_POLICY = {
  regions: 'flotilla.dev/default-regions',
  deniedProviders: 'flotilla.dev/default-denied-providers',
  maxPricePerGpuHour: 'flotilla.dev/default-max-price-per-gpu-hour',
  allowUnpaidJobs: 'flotilla.dev/allow-unpaid-jobs',
  requireImageDigest: 'flotilla.dev/require-image-digest',
  verificationMode: 'flotilla.dev/verification-mode',
  verificationSampleRate: 'flotilla.dev/verification-sample-rate',
  gpuQuota: 'flotilla.dev/gpu-quota',
} as const;

/** The largest flotilla.dev/gpu-quota accepted (a bound, not a recommendation). */
export const MAX_GPU_QUOTA = 1_000_000;

export interface NamespacePolicy {
  /** The regions jobs may run in; undefined: any. */
  readonly regions?: readonly string[];
  readonly deniedProviders: readonly string[];
  /** Decimal token units; undefined: no cap. */
  readonly maxPricePerGpuHour?: string;
  readonly allowUnpaidJobs: boolean;
  readonly requireImageDigest: boolean;
  /** The least verification every job here gets (docs/verification.md); undefined: none required. */
  readonly verification?: { readonly mode: VerificationMode; readonly sampleRate?: number };
  /** GPUs the namespace's jobs may hold at once (open attempts and placements not yet bound); undefined: no quota. */
  readonly gpuQuota?: number;
  /** Annotations that do not parse, each as a sentence naming it. Non-empty: the policy is unusable. */
  readonly invalid: readonly string[];
}

export const NO_POLICY: NamespacePolicy = { deniedProviders: [], allowUnpaidJobs: true, requireImageDigest: false, invalid: [] };

export interface PolicyViolation {
  readonly field: string;
  readonly message: string;
}

export interface PolicyVerdict {
  /** The spec with the policy applied: what placement must use. */
  readonly spec: AIJobSpec;
  /** Fields the policy narrowed (or filled in), e.g. "spec.placement.regions". */
  readonly narrowed: readonly string[];
  /** What the job asks for that the policy forbids. */
  readonly violations: readonly PolicyViolation[];
}

// The CRD's patterns for these fields (operator/api): a policy entry must pass the same rules.
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const POSITIVE_DECIMAL = /^(0|[1-9][0-9]{0,29})(\.[0-9]{1,18})?$/;
const DIGEST_PINNED = /@sha256:[0-9a-f]{64}$/;
/** Prices are compared exactly at the CRD's precision. */
const PRICE_DECIMALS = 18;

function list(value: string, valid: RegExp): string[] | undefined {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return items.length > 0 && items.every((s) => s.length <= 253 && valid.test(s)) ? [...new Set(items)] : undefined;
}

function flag(value: string | undefined): boolean | undefined {
  // Exactly "true", as the funding controller reads allow-unpaid-jobs (core/funding.ts).
  if (value === undefined) return false;
  return value === 'true' ? true : value === 'false' || value === '' ? false : undefined;
}

export function parseNamespacePolicy(annotations: Readonly<Record<string, string>> | undefined): NamespacePolicy {
  const a = annotations ?? {};
  const invalid: string[] = [];
  const bad = (key: string, why: string) => invalid.push(`namespace annotation ${key}="${a[key]}" ${why}`);
  let regions: string[] | undefined;
  let deniedProviders: string[] = [];
  let maxPricePerGpuHour: string | undefined;
  const regionsRaw = a[NAMESPACE_POLICY.regions];
  if (regionsRaw !== undefined) {
    regions = list(regionsRaw, LABEL_VALUE);
    if (!regions) bad(NAMESPACE_POLICY.regions, 'is not a comma-separated list of region names');
  }
  const deniedRaw = a[NAMESPACE_POLICY.deniedProviders];
  if (deniedRaw !== undefined && deniedRaw.trim() !== '') {
    const denied = list(deniedRaw, DNS_NAME);
    if (denied) deniedProviders = denied;
    else bad(NAMESPACE_POLICY.deniedProviders, 'is not a comma-separated list of GPUProvider names');
  }
  const priceRaw = a[NAMESPACE_POLICY.maxPricePerGpuHour];
  if (priceRaw !== undefined) {
    const price = priceRaw.trim();
    if (POSITIVE_DECIMAL.test(price) && /[1-9]/.test(price)) maxPricePerGpuHour = price;
    else bad(NAMESPACE_POLICY.maxPricePerGpuHour, 'is not a positive decimal number');
  }
  const allowUnpaid = flag(a[NAMESPACE_POLICY.allowUnpaidJobs]);
  if (allowUnpaid === undefined) bad(NAMESPACE_POLICY.allowUnpaidJobs, 'is neither "true" nor "false"');
  const requireDigest = flag(a[NAMESPACE_POLICY.requireImageDigest]);
  if (requireDigest === undefined) bad(NAMESPACE_POLICY.requireImageDigest, 'is neither "true" nor "false"');
  let verification: NamespacePolicy['verification'];
  const modeRaw = a[NAMESPACE_POLICY.verificationMode];
  const rateRaw = a[NAMESPACE_POLICY.verificationSampleRate];
  if (modeRaw !== undefined) {
    const mode = modeRaw.trim();
    if (mode === 'None' || mode === 'SpotCheck' || mode === 'Always') verification = { mode };
    else bad(NAMESPACE_POLICY.verificationMode, 'is not one of None, SpotCheck, Always');
  }
  if (rateRaw !== undefined) {
    const rate = /^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$/.test(rateRaw.trim()) ? Number(rateRaw.trim()) : undefined;
    if (rate === undefined) bad(NAMESPACE_POLICY.verificationSampleRate, 'is not a number from 0 to 1 (at most 6 decimals)');
    else verification = { mode: verification?.mode ?? 'SpotCheck', sampleRate: rate };
  }
  let gpuQuota: number | undefined;
  const quotaRaw = a[NAMESPACE_POLICY.gpuQuota];
  if (quotaRaw !== undefined) {
    const quota = /^[0-9]{1,7}$/.test(quotaRaw.trim()) ? Number(quotaRaw.trim()) : undefined;
    if (quota === undefined || quota > MAX_GPU_QUOTA) bad(NAMESPACE_POLICY.gpuQuota, `is not a whole number of GPUs from 0 to ${MAX_GPU_QUOTA}`);
    else gpuQuota = quota;
  }
  return {
    ...(gpuQuota !== undefined ? { gpuQuota } : {}),
    ...(verification ? { verification } : {}),
    ...(regions ? { regions } : {}),
    deniedProviders,
    ...(maxPricePerGpuHour ? { maxPricePerGpuHour } : {}),
    allowUnpaidJobs: allowUnpaid ?? false,
    requireImageDigest: requireDigest ?? true,
    invalid,
  };
}

/**
 * Region names no GPUProvider can have (spaces and parentheses are not in a region's label
 * syntax): placing a job with one of these as its only region finds nothing, and the
 * Unschedulable message says why. Used where an empty list would mean "any region".
 */
export const NO_REGION_ALLOWED = '(no region allowed by namespace policy)';
export const POLICY_UNUSABLE = '(namespace policy annotation invalid)';

export interface PolicyContext {
  /** The hub settles payments (a chain is configured): a job without spec.payment needs allowUnpaidJobs. */
  readonly paymentsRequired: boolean;
}

/**
 * The job's placement ask intersected with its namespace's policy, and what it asks for that the
 * policy forbids. Same input, same answer; the spec is never mutated.
 */
export function applyNamespacePolicy(spec: AIJobSpec, policy: NamespacePolicy, ctx: PolicyContext): PolicyVerdict {
  const violations: PolicyViolation[] = [];
  const narrowed: string[] = [];
  const placement = { ...(spec.placement ?? {}) };
  if (policy.invalid.length > 0) {
    // Fail closed: an admin's typo must not read as "no policy".
    placement.regions = [POLICY_UNUSABLE];
    narrowed.push('spec.placement.regions');
    return { spec: { ...spec, placement }, narrowed, violations };
  }

  if (policy.regions) {
    const own = spec.placement?.regions ?? [];
    const outside = own.filter((r) => !policy.regions?.includes(r));
    if (outside.length > 0) {
      violations.push({
        field: 'spec.placement.regions',
        message: `spec.placement.regions names ${outside.join(', ')}, outside the regions namespace policy allows (${NAMESPACE_POLICY.regions}: ${policy.regions.join(',')})`,
      });
    }
    const effective = own.length > 0 ? own.filter((r) => policy.regions?.includes(r)) : [...policy.regions];
    if (own.length === 0 || outside.length > 0) narrowed.push('spec.placement.regions');
    placement.regions = effective.length > 0 ? effective : [NO_REGION_ALLOWED];
  }

  if (policy.deniedProviders.length > 0) {
    const own = spec.placement?.deniedProviders ?? [];
    const missing = policy.deniedProviders.filter((p) => !own.includes(p));
    if (missing.length > 0) {
      placement.deniedProviders = [...own, ...missing];
      narrowed.push('spec.placement.deniedProviders');
    }
    const allowedDenied = (spec.placement?.allowedProviders ?? []).filter((p) => policy.deniedProviders.includes(p));
    if (allowedDenied.length > 0) {
      violations.push({
        field: 'spec.placement.allowedProviders',
        message: `spec.placement.allowedProviders names ${allowedDenied.join(', ')}, which namespace policy denies (${NAMESPACE_POLICY.deniedProviders}: ${policy.deniedProviders.join(',')})`,
      });
      // A provider both allowed and denied is not something placement accepts: keep only the allowed rest.
      const rest = (placement.allowedProviders ?? []).filter((p) => !policy.deniedProviders.includes(p));
      if (rest.length > 0) placement.allowedProviders = rest;
      else delete placement.allowedProviders;
    }
  }

  let payment = spec.payment;
  if (payment && policy.maxPricePerGpuHour !== undefined) {
    const cap = policy.maxPricePerGpuHour;
    const own = payment.maxPricePerGpuHour;
    if (own === undefined) {
      payment = { ...payment, maxPricePerGpuHour: cap };
      narrowed.push('spec.payment.maxPricePerGpuHour');
    } else if (compareDecimal(own, cap) > 0) {
      violations.push({
        field: 'spec.payment.maxPricePerGpuHour',
        message: `spec.payment.maxPricePerGpuHour ${own} is above the namespace's cap of ${cap} (${NAMESPACE_POLICY.maxPricePerGpuHour})`,
      });
      payment = { ...payment, maxPricePerGpuHour: cap };
      narrowed.push('spec.payment.maxPricePerGpuHour');
    }
  }

  if (!spec.payment && ctx.paymentsRequired && !policy.allowUnpaidJobs) {
    violations.push({
      field: 'spec.payment',
      message: `spec.payment is required: this hub pays providers through escrow, and the namespace does not allow unpaid jobs (${NAMESPACE_POLICY.allowUnpaidJobs}: "true")`,
    });
  }
  if (policy.requireImageDigest && typeof spec.image === 'string' && !DIGEST_PINNED.test(spec.image)) {
    violations.push({
      field: 'spec.image',
      message: `spec.image must be pinned by digest (…@sha256:<64 hex>) in this namespace (${NAMESPACE_POLICY.requireImageDigest})`,
    });
  }

  let verification = spec.verification;
  if (policy.verification) {
    const own = spec.verification ?? {};
    const floor = effectiveVerification(
      { ...(own.mode ? { mode: own.mode } : {}), ...(own.sampleRate !== undefined ? { sampleRate: own.sampleRate } : {}) },
      policy.verification,
    );
    if (floor.mode !== (own.mode ?? 'None') || (floor.mode === 'SpotCheck' && floor.sampleRate !== own.sampleRate)) {
      verification = { ...own, mode: floor.mode, ...(floor.mode === 'SpotCheck' ? { sampleRate: floor.sampleRate } : {}) };
      narrowed.push('spec.verification');
    }
  }

  const hasPlacement = spec.placement !== undefined || Object.keys(placement).length > 0;
  const effective: AIJobSpec = {
    ...spec,
    ...(hasPlacement ? { placement } : {}),
    ...(payment ? { payment } : {}),
    ...(verification ? { verification } : {}),
  };
  return { spec: effective, narrowed, violations };
}

/** Exact comparison of two CRD decimals (at most 18 places): -1, 0 or 1. */
export function compareDecimal(a: string, b: string): number {
  const x = toBaseUnits(a, PRICE_DECIMALS);
  const y = toBaseUnits(b, PRICE_DECIMALS);
  return x < y ? -1 : x > y ? 1 : 0;
}
