// A GPUProvider and its connection's caches as placement input (ProviderSnapshot). Pure.
//
//   prices      spec.prices[].pricePerGpuHour ("2.40") → bigint base units of the job's token, exact;
//               a price with more decimals than the token has is left out (the product is then not
//               for lending in that token) rather than rounded.
//   quota       spec.maxGpus − GPUs requested by Flotilla's non-terminated pods there (bound or not).
//   reputation  status.reputation → scaled integers; a neutral prior where there is no record yet.
import type { GPUProvider, ProviderReputation as ReputationStatus } from '../api/types.ts';
import { gpuInventory, gpuRequestsOfPods } from '../core/inventory.ts';
import type { PodInput } from '../core/inventory.ts';
import { AmountError, toBaseUnits } from '../core/money.ts';
import type { NodeSnapshot, ProductPrice, ProviderReputation, ProviderSnapshot } from '../core/placement/types.ts';
import type { ConditionVerdict } from './health.ts';

/**
 * The prior of a provider without a record: one preemption per 100 GPU-hours and 95 % of attempts
 * completing. Neither favours a newcomer over a provider with a good record nor shuts it out of
 * jobs that ask for a reputation of 0.95 or less.
 */
export const NEUTRAL_REPUTATION: ProviderReputation = { preemptionsPerMillionGpuHours: 10_000, completionRatePpm: 950_000 };

const MILLION = 1_000_000;

/** Prices in base units of a token with `decimals`, skipping those the token cannot express. */
export function pricesInBaseUnits(prices: GPUProvider['spec']['prices'], decimals: number): ProductPrice[] {
  const out: ProductPrice[] = [];
  for (const p of prices ?? []) {
    try {
      out.push({ product: p.gpuProduct, pricePerGpuHour: toBaseUnits(p.pricePerGpuHour, decimals) });
    } catch (err) {
      if (!(err instanceof AmountError)) throw err;
    }
  }
  return out;
}

/**
 * status.reputation as placement's scaled integers. The hazard comes from preemptionsPerGpuHour
 * (the decayed rate the reputation writer keeps), else from preempted ÷ GPU-hours run, else the
 * prior; the completion rate from completed ÷ (completed + preempted + failed), else the prior.
 */
export function placementReputation(rep: ReputationStatus | undefined): ProviderReputation {
  let hazard = NEUTRAL_REPUTATION.preemptionsPerMillionGpuHours;
  if (rep?.preemptionsPerGpuHour !== undefined && Number.isFinite(rep.preemptionsPerGpuHour)) {
    hazard = Math.max(0, Math.round(rep.preemptionsPerGpuHour * MILLION));
  } else if (rep?.gpuSeconds !== undefined && rep.gpuSeconds > 0) {
    // preempted per GPU-hour × 10⁶ = preempted × 3600 × 10⁶ / gpuSeconds, in integers.
    hazard = Number((BigInt(rep.preempted ?? 0) * 3600n * BigInt(MILLION) + BigInt(rep.gpuSeconds) / 2n) / BigInt(rep.gpuSeconds));
  }
  const completed = rep?.completed ?? 0;
  const finished = completed + (rep?.preempted ?? 0) + (rep?.failed ?? 0);
  const completionRatePpm = finished > 0 ? Number((BigInt(completed) * BigInt(MILLION)) / BigInt(finished)) : NEUTRAL_REPUTATION.completionRatePpm;
  return { preemptionsPerMillionGpuHours: hazard, completionRatePpm };
}

export interface SnapshotInput {
  readonly provider: GPUProvider;
  /** Undefined when the connection is usable; otherwise why not (connectionUsable). */
  readonly notUsable?: ConditionVerdict;
  /** The connection's nodes (empty without a connection). */
  readonly nodes: readonly NodeSnapshot[];
  /** Flotilla's pods there, from the pod informer (empty without a connection). */
  readonly pods: readonly PodInput[];
  readonly priceDecimals: number;
}

export function providerSnapshot(input: SnapshotInput): ProviderSnapshot {
  const { provider, notUsable } = input;
  const spec = provider.spec;
  const maxGpus = spec.maxGpus;
  return {
    name: provider.metadata.name ?? '',
    region: spec.region ?? '',
    ready: notUsable === undefined,
    ...(notUsable ? { notReadyReason: notUsable.reason === 'Unreachable' ? notUsable.message : `${notUsable.reason}: ${notUsable.message}` } : {}),
    cordoned: spec.cordoned === true,
    ...(maxGpus !== undefined ? { gpuQuotaRemaining: Math.max(0, maxGpus - gpuRequestsOfPods(input.pods)) } : {}),
    prices: pricesInBaseUnits(spec.prices, input.priceDecimals),
    reputation: placementReputation(provider.status?.reputation),
    nodes: input.nodes,
    payoutAddress: spec.payoutAddress,
    provenMismatches: provider.status?.reputation?.provenMismatches ?? 0,
  };
}

/** Some schedulable node offers a GPU product the provider has a price for (the Ready check NoGPUs). */
export function hasPricedGpus(provider: GPUProvider, nodes: readonly NodeSnapshot[]): boolean {
  const priced = new Set((provider.spec.prices ?? []).map((p) => p.gpuProduct));
  return gpuInventory(nodes).inventory.some((e) => priced.has(e.product) && (e.allocatable ?? 0) > 0);
}
