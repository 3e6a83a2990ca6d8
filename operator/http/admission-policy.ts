// What the admission webhooks judge: only what the CRDs' OpenAPI and CEL rules cannot, because it
// depends on the operator's configuration or on other objects. Pure: the webhook gathers the
// context (config, the GPUProvider cache, a Secret lookup) and these functions decide.
//
//   AIJob CREATE, UPDATE of spec
//                     deny  the spec cannot run (core/validation/runnable.ts: mount paths, env names,
//                           pod annotation keys, amounts, deadline, image, quantities, CIDs)
//                     deny  the namespace's policy forbids it, or the policy itself is unusable
//                           (core/placement/namespace-policy.ts)
//                     deny  spec.callbackURL is one the callback policy refuses
//                     deny  spec.payment.token is not a token this operator settles in
//                     warn  allowedProviders / deniedProviders name no known GPUProvider
//                     warn  no known GPUProvider prices any acceptable product (or any within maxPricePerGpuHour)
//   GPUProvider CREATE, UPDATE of spec.kubeconfigSecretRef
//                     deny  the Secret does not exist, lacks the key, or the operator may not read it
//                     warn  spec.prices name products no node of the provider has (when its inventory is known)
import type { AIJob, GPUProvider } from '../api/types.ts';
import { applyNamespacePolicy } from '../core/placement/namespace-policy.ts';
import { sameJson } from '../core/json.ts';
import type { NamespacePolicy } from '../core/placement/namespace-policy.ts';
import { validateRunnable } from '../core/validation/runnable.ts';
import type { RunnableLimits } from '../core/validation/runnable.ts';

export interface Verdict {
  /** Non-empty: the request is denied with these messages. */
  readonly denials: readonly string[];
  readonly warnings: readonly string[];
}

export interface AIJobAdmissionContext {
  /** Token symbols and contract addresses the operator settles in; undefined: not restricted. */
  readonly paymentTokens?: readonly string[];
  /** Known GPUProviders; undefined while the cache is not synced (then nothing is concluded from absence). */
  readonly providers?: readonly GPUProvider[];
  /** What makes a spec runnable on this hub; absent: runnability is not judged. */
  readonly limits?: RunnableLimits;
  /** The job's namespace's policy; absent: not judged. */
  readonly policy?: NamespacePolicy;
  /** The hub settles payments (a job without spec.payment needs the namespace's allow-unpaid-jobs). */
  readonly paymentsRequired?: boolean;
  /** Why a callback URL is refused (operator/callbacks/url-policy.ts), or undefined. */
  readonly callbackUrlProblem?: (url: string) => string | undefined;
}

const sameToken = (a: string, b: string) => (a.startsWith('0x') || b.startsWith('0x') ? a.toLowerCase() === b.toLowerCase() : a === b);

/** Decimal token amounts compared exactly enough for a warning (never used for money). */
const decimal = (s: string | undefined) => (s === undefined ? Number.NaN : Number(s));

export function judgeAIJob(job: AIJob, ctx: AIJobAdmissionContext): Verdict {
  const denials: string[] = [];
  const warnings: string[] = [];
  if (ctx.limits) denials.push(...validateRunnable(job.spec, ctx.limits).map((v) => v.message));
  if (ctx.policy) {
    if (ctx.policy.invalid.length > 0)
      denials.push(...ctx.policy.invalid.map((why) => `the namespace's placement policy is unusable: ${why}; ask the hub admin to fix it`));
    else denials.push(...applyNamespacePolicy(job.spec, ctx.policy, { paymentsRequired: ctx.paymentsRequired ?? false }).violations.map((v) => v.message));
  }
  const callback = job.spec.callbackURL;
  const callbackProblem = callback !== undefined ? ctx.callbackUrlProblem?.(callback) : undefined;
  if (callbackProblem) denials.push(callbackProblem.startsWith('spec.callbackURL') ? callbackProblem : `spec.callbackURL: ${callbackProblem}`);
  const token = job.spec.payment?.token;
  if (ctx.paymentTokens && token !== undefined && !ctx.paymentTokens.some((t) => sameToken(t, token))) {
    denials.push(`spec.payment.token "${token}" is not a token this operator settles in (accepted: ${ctx.paymentTokens.join(', ') || 'none configured'})`);
  }
  const providers = ctx.providers;
  if (!providers) return { denials, warnings };

  const known = new Set(providers.map((p) => p.metadata.name ?? ''));
  const unknown = (names: readonly string[] | undefined) => (names ?? []).filter((n) => !known.has(n));
  const knownList = [...known].sort().join(', ') || 'none';
  const allowedUnknown = unknown(job.spec.placement?.allowedProviders);
  if (allowedUnknown.length > 0)
    warnings.push(
      `spec.placement.allowedProviders names ${allowedUnknown.join(', ')}, which ${allowedUnknown.length === 1 ? 'is not a GPUProvider' : 'are not GPUProviders'} of this hub (known: ${knownList})`,
    );
  const deniedUnknown = unknown(job.spec.placement?.deniedProviders);
  if (deniedUnknown.length > 0) warnings.push(`spec.placement.deniedProviders names ${deniedUnknown.join(', ')}, unknown to this hub (known: ${knownList})`);

  const products = job.spec.gpu?.products;
  const candidates = providers.filter((p) => p.spec.cordoned !== true);
  const prices = candidates.flatMap((p) => p.spec.prices.filter((price) => !products || products.includes(price.gpuProduct)));
  if (providers.length > 0 && products && prices.length === 0) {
    warnings.push(`no GPUProvider of this hub prices ${products.join(' or ')}; the job stays Pending until one does`);
  } else if (prices.length > 0) {
    const max = decimal(job.spec.payment?.maxPricePerGpuHour);
    const cheapest = Math.min(...prices.map((p) => decimal(p.pricePerGpuHour)));
    if (Number.isFinite(max) && max < cheapest) {
      warnings.push(
        `spec.payment.maxPricePerGpuHour ${job.spec.payment?.maxPricePerGpuHour} is below every matching GPUProvider price (cheapest ${cheapest}); the job stays Pending`,
      );
    }
  }
  return { denials, warnings };
}

/** What the webhook found when it read the Secret a GPUProvider names. */
export type SecretLookup =
  | { readonly found: true; readonly keys: readonly string[] }
  | { readonly found: false; readonly why: 'NotFound' | 'Forbidden' | 'Error'; readonly detail?: string };

export interface GPUProviderAdmissionContext {
  readonly secret: SecretLookup;
  /** The operator's namespace, where the hub chart lets it read provider Secrets. */
  readonly operatorNamespace: string;
}

export function judgeGPUProvider(provider: GPUProvider, ctx: GPUProviderAdmissionContext): Verdict {
  const denials: string[] = [];
  const warnings: string[] = [];
  const ref = provider.spec.kubeconfigSecretRef;
  const key = ref.key ?? 'kubeconfig';
  const where = `Secret ${ref.namespace}/${ref.name}`;
  const secret = ctx.secret;
  if (!secret.found) {
    if (secret.why === 'NotFound')
      denials.push(`spec.kubeconfigSecretRef: ${where} does not exist; create it (with the provider's kubeconfig under "${key}") before the GPUProvider`);
    else if (secret.why === 'Forbidden')
      denials.push(
        `spec.kubeconfigSecretRef: the operator may not read ${where}; list it in the hub chart's providerSecretNames${ref.namespace !== ctx.operatorNamespace ? ` and keep it in the operator's namespace ${ctx.operatorNamespace}` : ''}`,
      );
    else denials.push(`spec.kubeconfigSecretRef: could not read ${where}: ${secret.detail ?? 'unknown error'}`);
  } else if (!secret.keys.includes(key)) {
    denials.push(`spec.kubeconfigSecretRef: ${where} has no key "${key}" (it has: ${secret.keys.join(', ') || 'no keys'})`);
  }
  const inventory = provider.status?.inventory;
  if (inventory && inventory.length > 0) {
    const present = new Set(inventory.map((i) => i.product));
    const absent = provider.spec.prices.map((p) => p.gpuProduct).filter((p) => !present.has(p));
    if (absent.length > 0) warnings.push(`spec.prices names ${absent.join(', ')}, which no node of this provider has (it has: ${[...present].join(', ')})`);
  }
  return { denials, warnings };
}

/** Whether an UPDATE changes what judgeGPUProvider looks at (status and metadata updates pass untouched). */
export function gpuProviderNeedsJudging(provider: GPUProvider, old: GPUProvider | undefined): boolean {
  if (!old) return true;
  return !sameJson(provider.spec.kubeconfigSecretRef, old.spec.kubeconfigSecretRef) || !sameJson(provider.spec.prices, old.spec.prices);
}
