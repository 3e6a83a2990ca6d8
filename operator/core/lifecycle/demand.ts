// AIJob spec → the placement engine's JobDemand. Pure: quantities, prices and durations are parsed
// exactly; what the spec leaves open gets a documented default.
import type { AIJobSpec, AIJobStatus } from '../../api/types.ts';
import { durationSeconds } from '../duration.ts';
import { toBaseUnits } from '../money.ts';
import type { JobDemand } from '../placement/types.ts';
import { bytesFromQuantity, cpuMillisFromQuantity } from '../quantity.ts';
import { specField } from '../terminal-error.ts';
import { coolDownsOf } from './plan.ts';

/** Decimals of the payment token (USDC and the local test token have 6). */
export const DEFAULT_PRICE_DECIMALS = 6;
/** Work assumed when the spec gives no way to estimate it: one hour on every GPU of the gang. */
export const DEFAULT_RUN_SECONDS = 3600;

/**
 * Throws TerminalSpecError (core/terminal-error.ts) naming the field when the spec holds a value
 * it cannot parse: the caller ends the job instead of retrying.
 */
export function jobDemand(spec: AIJobSpec, status: AIJobStatus | undefined, priceDecimals = DEFAULT_PRICE_DECIMALS): JobDemand {
  const gpus = spec.resources.gpus;
  const gangGpus = spec.replicas * gpus;
  const amount = (field: string, value: string) => specField(field, value, (v) => toBaseUnits(v, priceDecimals));
  const maxPrice = spec.payment?.maxPricePerGpuHour ? amount('spec.payment.maxPricePerGpuHour', spec.payment.maxPricePerGpuHour) : undefined;
  // Budget ÷ price cap bounds the GPU-hours the payer will buy: the best estimate of the work left.
  const budgetGpuSeconds =
    spec.payment?.maxAmount && maxPrice && maxPrice > 0n ? Number((amount('spec.payment.maxAmount', spec.payment.maxAmount) * 3600n) / maxPrice) : undefined;
  const done = (status?.attempts ?? []).reduce((sum, a) => sum + (a.billableGpuSeconds ?? 0), 0);
  const capability = spec.gpu?.minComputeCapability?.split('.').map(Number);
  return {
    replicas: spec.replicas,
    gpusPerReplica: gpus,
    cpuMillisPerReplica: spec.resources.cpu !== undefined ? Number(specField('spec.resources.cpu', String(spec.resources.cpu), cpuMillisFromQuantity)) : 0,
    memoryBytesPerReplica:
      spec.resources.memory !== undefined ? Number(specField('spec.resources.memory', String(spec.resources.memory), bytesFromQuantity)) : 0,
    products: spec.gpu?.products ?? [],
    ...(spec.gpu?.minMemoryMiB !== undefined ? { minGpuMemoryMiB: spec.gpu.minMemoryMiB } : {}),
    ...(capability && capability.length === 2 ? { minComputeCapability: { major: capability[0] ?? 0, minor: capability[1] ?? 0 } } : {}),
    ...(maxPrice !== undefined ? { maxPricePerGpuHour: maxPrice } : {}),
    priceDecimals,
    ...(spec.placement?.allowedProviders ? { allowedProviders: spec.placement.allowedProviders } : {}),
    ...(spec.placement?.deniedProviders ? { deniedProviders: spec.placement.deniedProviders } : {}),
    ...(spec.placement?.regions ? { regions: spec.placement.regions } : {}),
    ...(spec.placement?.minReputation !== undefined ? { minCompletionRatePpm: Math.round(spec.placement.minReputation * 1_000_000) } : {}),
    remainingGpuSeconds: Math.max(gangGpus, (budgetGpuSeconds ?? gangGpus * DEFAULT_RUN_SECONDS) - done),
    ...(spec.checkpoint ? { checkpointIntervalSeconds: specField('spec.checkpoint.every', spec.checkpoint.every, durationSeconds) } : {}),
    // Failover cools the preempting provider down for this job; SameProviderFirst goes back to it first.
    ...(spec.recovery?.strategy === 'SameProviderFirst' ? sameProviderFirst(status) : { coolDowns: coolDownsOf(status) }),
  };
}

/** The provider of the job's last preempted attempt, preferred and never cooled down. */
function sameProviderFirst(status: AIJobStatus | undefined): { preferredProvider?: string } {
  const last = [...(status?.attempts ?? [])].reverse().find((a) => a.endTime && a.reason?.startsWith('Preempted'));
  return last ? { preferredProvider: last.provider } : {};
}
