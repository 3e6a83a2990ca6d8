// placeJob: where a gang should run, or why it cannot run anywhere. Pure and deterministic: the
// same demand, snapshot and `now` give the same decision on every machine (no clock, no randomness,
// no floats in the score, no locale-dependent sorting, no dependence on input order).
//
//   for each provider, by name
//     1. provider filters  denied · not allowed · region · not Ready · cordoned · cooling down ·
//                          reputation · quota                        → first failure rejects it
//     2. offers            GPU pools carrying an acceptable product  → none: NoMatchingProduct
//     3. per pool          GPU memory · compute capability · price · best-fit gang packing
//                                                                    → a candidate, or a reason
//   4. rank candidates     expected cost to finish, then fewest GPUs in flight at the provider
//                          (decided, not yet bound: 0 outside a burst), then fewest stranded GPUs,
//                          then fewest nodes, then provider name (then product, resource, label value)
//   5. decide              the first candidate, or Unschedulable with one reason per provider
//
// See docs/placement.md for the model and the messages.

import { encodeComputeCapability } from './gfd.ts';
import { packGang } from './packing.ts';
import type { GangShape, PackedGang } from './packing.ts';
import { compareStrings, indexProviders } from './provider-index.ts';
import type { GpuPool, PlacementIndex, ProviderIndex } from './provider-index.ts';
import {
  capacityMessage,
  computeCapabilityMessage,
  count,
  formatInstant,
  formatPpmShare,
  gpuMemoryMessage,
  noMatchingProductMessage,
  notForLendingMessage,
  priceMessage,
} from './messages.ts';
import { expectedCostToFinish } from './score.ts';
import type { ExpectedCost } from './score.ts';
import { PlacementInputError } from './types.ts';
import type {
  JobDemand,
  NodeSelectorRequirement,
  Placement,
  PlacementDecision,
  PlacementScore,
  ProviderRejection,
  ProviderSnapshot,
  RejectionReason,
} from './types.ts';

/** The demand, prepared once per decision. */
interface DemandContext {
  readonly demand: JobDemand;
  readonly now: number;
  readonly denied: ReadonlySet<string>;
  readonly allowed: ReadonlySet<string> | undefined;
  readonly regions: ReadonlySet<string> | undefined;
  readonly coolDownUntil: ReadonlyMap<string, number>;
  readonly products: readonly string[];
  readonly gangGpus: number;
  readonly shape: GangShape;
}

type Verdict = { readonly reason: RejectionReason; readonly message: string };

/** A provider-level filter: a verdict when it rejects the provider, else undefined. */
type ProviderFilter = (context: DemandContext, provider: ProviderSnapshot) => Verdict | undefined;

const providerFilters: readonly ProviderFilter[] = [
  (c, p) => (c.denied.has(p.name) ? { reason: 'Denied', message: "in the job's denied providers" } : undefined),
  (c, p) => (c.allowed && !c.allowed.has(p.name) ? { reason: 'NotAllowed', message: "not in the job's allowed providers" } : undefined),
  (c, p) =>
    c.regions && !c.regions.has(p.region) ? { reason: 'RegionNotAllowed', message: `region ${p.region} not in ${[...c.regions].join(', ')}` } : undefined,
  (_, p) => (p.ready ? undefined : { reason: 'NotReady', message: `not Ready${p.notReadyReason ? ` (${p.notReadyReason})` : ''}` }),
  (_, p) => (p.cordoned ? { reason: 'Cordoned', message: 'cordoned' } : undefined),
  (c, p) => {
    const until = c.coolDownUntil.get(p.name);
    return until !== undefined && c.now < until
      ? { reason: 'CoolingDown', message: `preempted this job; cooling down until ${formatInstant(until)}` }
      : undefined;
  },
  (c, p) => {
    const min = c.demand.minCompletionRatePpm;
    return min !== undefined && p.reputation.completionRatePpm < min
      ? { reason: 'LowReputation', message: `reputation ${formatPpmShare(p.reputation.completionRatePpm)} below min ${formatPpmShare(min)}` }
      : undefined;
  },
  (c, p) =>
    p.gpuQuotaRemaining !== undefined && p.gpuQuotaRemaining < c.gangGpus
      ? { reason: 'QuotaExceeded', message: `quota leaves ${count(Math.max(0, p.gpuQuotaRemaining), 'GPU')}, the gang needs ${c.gangGpus}` }
      : undefined,
];

/** How far a pool got; a provider's reason is its furthest pool's. */
const poolStage: Readonly<Partial<Record<RejectionReason, number>>> = {
  GpuMemoryTooSmall: 0,
  ComputeCapabilityTooLow: 1,
  NotForLending: 2,
  PriceTooHigh: 3,
  InsufficientCapacity: 4,
};

interface Candidate {
  readonly index: ProviderIndex;
  readonly pool: GpuPool;
  readonly price: bigint;
  readonly packed: PackedGang;
  readonly cost: ExpectedCost;
}

type PoolOutcome = { readonly candidate: Candidate } | { readonly rejected: Verdict };

function evaluatePool(context: DemandContext, index: ProviderIndex, pool: GpuPool): PoolOutcome {
  const { demand, shape } = context;
  if (shape.minGpuMemoryMiB > pool.maxGpuMemoryMiB) {
    return { rejected: { reason: 'GpuMemoryTooSmall', message: gpuMemoryMessage(pool, shape.minGpuMemoryMiB) } };
  }
  if (shape.minComputeCapability > pool.maxComputeCapability) {
    return { rejected: { reason: 'ComputeCapabilityTooLow', message: computeCapabilityMessage(pool, shape.minComputeCapability) } };
  }
  const price = index.prices.get(pool.product);
  if (price === undefined) return { rejected: { reason: 'NotForLending', message: notForLendingMessage(pool.product) } };
  if (demand.maxPricePerGpuHour !== undefined && price > demand.maxPricePerGpuHour) {
    return { rejected: { reason: 'PriceTooHigh', message: priceMessage(price, demand.maxPricePerGpuHour, demand.priceDecimals) } };
  }
  const packed = packGang(pool, shape);
  if (!packed.fits) return { rejected: { reason: 'InsufficientCapacity', message: capacityMessage(pool, shape, packed) } };
  const cost = expectedCostToFinish({
    pricePerGpuHour: price,
    remainingGpuSeconds: demand.remainingGpuSeconds,
    gangGpus: context.gangGpus,
    checkpointIntervalSeconds: demand.checkpointIntervalSeconds,
    preemptionsPerMillionGpuHours: index.provider.reputation.preemptionsPerMillionGpuHours,
  });
  return { candidate: { index, pool, price, packed, cost } };
}

function evaluateProvider(context: DemandContext, index: ProviderIndex): Candidate[] | Verdict {
  for (const filter of providerFilters) {
    const verdict = filter(context, index.provider);
    if (verdict) return verdict;
  }
  const pools =
    context.products.length > 0
      ? context.products.flatMap((product) => index.poolsByProduct.get(product) ?? [])
      : index.pools.filter((pool) => !pool.shared && !pool.mig);
  if (pools.length === 0) {
    return { reason: 'NoMatchingProduct', message: noMatchingProductMessage(context.products, index.products) };
  }
  const candidates: Candidate[] = [];
  const rejected: { pool: GpuPool; verdict: Verdict }[] = [];
  for (const pool of pools) {
    const outcome = evaluatePool(context, index, pool);
    if ('candidate' in outcome) candidates.push(outcome.candidate);
    else rejected.push({ pool, verdict: outcome.rejected });
  }
  if (candidates.length > 0) return candidates;
  let furthest: Verdict = rejected[0]?.verdict ?? { reason: 'InsufficientCapacity', message: '' };
  for (const { verdict } of rejected) {
    if ((poolStage[verdict.reason] ?? 0) > (poolStage[furthest.reason] ?? 0)) furthest = verdict;
  }
  const prefix = context.products.length !== 1 || rejected.length > 1;
  const message = rejected.map(({ pool, verdict }) => (prefix ? `${pool.product}: ${verdict.message}` : verdict.message)).join('; ');
  return { reason: furthest.reason, message };
}

function compareCandidates(a: Candidate, b: Candidate): number {
  if (a.cost.costNumerator !== b.cost.costNumerator) return a.cost.costNumerator < b.cost.costNumerator ? -1 : 1;
  return (
    (a.index.provider.inFlightGpus ?? 0) - (b.index.provider.inFlightGpus ?? 0) ||
    a.packed.strandedGpus - b.packed.strandedGpus ||
    a.packed.nodesUsed - b.packed.nodesUsed ||
    compareStrings(a.index.provider.name, b.index.provider.name) ||
    compareStrings(a.pool.product, b.pool.product) ||
    compareStrings(a.pool.resourceName, b.pool.resourceName) ||
    compareStrings(a.pool.productLabelValue, b.pool.productLabelValue)
  );
}

function scoreOf(candidate: Candidate): PlacementScore {
  return {
    provider: candidate.index.provider.name,
    product: candidate.pool.product,
    pricePerGpuHour: candidate.price,
    listCost: candidate.cost.listCost,
    expectedReworkPpm: candidate.cost.expectedReworkPpm,
    expectedCost: candidate.cost.expectedCost,
    strandedGpus: candidate.packed.strandedGpus,
    nodesUsed: candidate.packed.nodesUsed,
  };
}

function placementOf(candidate: Candidate, demand: JobDemand): Placement {
  const { pool } = candidate;
  const nodeSelector: NodeSelectorRequirement[] = [{ key: pool.productLabel, operator: 'In', values: [pool.productLabelValue] }];
  if (demand.minGpuMemoryMiB !== undefined && demand.minGpuMemoryMiB > 0) {
    nodeSelector.push({ key: pool.memoryLabel, operator: 'Gt', values: [String(demand.minGpuMemoryMiB - 1)] });
  }
  return {
    provider: candidate.index.provider.name,
    product: pool.product,
    resourceName: pool.resourceName,
    nodeSelector,
    assignments: candidate.packed.assignments,
    score: scoreOf(candidate),
  };
}

function requireInteger(value: number, what: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new PlacementInputError(`${what} must be an integer ≥ ${min}, got ${value}`);
}

/** Checks the demand against the contract in types.ts; throws PlacementInputError. */
export function validateDemand(demand: JobDemand, now: number): void {
  requireInteger(demand.replicas, 'replicas', 1);
  requireInteger(demand.gpusPerReplica, 'gpusPerReplica', 1);
  requireInteger(demand.cpuMillisPerReplica, 'cpuMillisPerReplica', 0);
  requireInteger(demand.memoryBytesPerReplica, 'memoryBytesPerReplica', 0);
  requireInteger(demand.remainingGpuSeconds, 'remainingGpuSeconds', 0);
  requireInteger(demand.priceDecimals, 'priceDecimals', 0);
  requireInteger(now, 'now', 0);
  if (demand.checkpointIntervalSeconds !== undefined) requireInteger(demand.checkpointIntervalSeconds, 'checkpointIntervalSeconds', 1);
  if (demand.minGpuMemoryMiB !== undefined) requireInteger(demand.minGpuMemoryMiB, 'minGpuMemoryMiB', 0);
  if (demand.minCompletionRatePpm !== undefined) requireInteger(demand.minCompletionRatePpm, 'minCompletionRatePpm', 0);
  if (demand.minComputeCapability !== undefined) {
    requireInteger(demand.minComputeCapability.major, 'minComputeCapability.major', 0);
    requireInteger(demand.minComputeCapability.minor, 'minComputeCapability.minor', 0);
  }
  if (demand.maxPricePerGpuHour !== undefined && demand.maxPricePerGpuHour < 0n) {
    throw new PlacementInputError('maxPricePerGpuHour must not be negative');
  }
  for (const coolDown of demand.coolDowns ?? []) requireInteger(coolDown.until, `coolDowns[${coolDown.provider}].until`, 0);
}

function contextOf(demand: JobDemand, now: number): DemandContext {
  validateDemand(demand, now);
  const nonEmpty = (list: readonly string[] | undefined) => (list && list.length > 0 ? new Set(list) : undefined);
  const coolDownUntil = new Map<string, number>();
  for (const { provider, until } of demand.coolDowns ?? []) {
    coolDownUntil.set(provider, Math.max(until, coolDownUntil.get(provider) ?? until));
  }
  const cc = demand.minComputeCapability;
  return {
    demand,
    now,
    denied: new Set(demand.deniedProviders ?? []),
    allowed: nonEmpty(demand.allowedProviders),
    regions: nonEmpty(demand.regions),
    coolDownUntil,
    products: [...new Set(demand.products)],
    gangGpus: demand.replicas * demand.gpusPerReplica,
    shape: {
      replicas: demand.replicas,
      gpus: demand.gpusPerReplica,
      cpuMillis: demand.cpuMillisPerReplica,
      memoryBytes: demand.memoryBytesPerReplica,
      minGpuMemoryMiB: demand.minGpuMemoryMiB ?? 0,
      minComputeCapability: cc ? encodeComputeCapability(cc.major, cc.minor) : -1,
      extraTolerations: demand.extraTolerations ?? [],
    },
  };
}

/**
 * Decides on a prepared index (see provider-index.ts): the fast path for a reconciler that keeps
 * one index per snapshot and places many jobs against it.
 */
export function placeJobIndexed(demand: JobDemand, index: PlacementIndex, now: number): PlacementDecision {
  const context = contextOf(demand, now);
  const candidates: Candidate[] = [];
  const rejections: ProviderRejection[] = [];
  for (const provider of index.providers) {
    const outcome = evaluateProvider(context, provider);
    if (Array.isArray(outcome)) candidates.push(...outcome);
    else rejections.push({ provider: provider.provider.name, reason: outcome.reason, message: outcome.message });
  }
  candidates.sort(compareCandidates);
  // SameProviderFirst: the preferred provider's best candidate ahead of every other provider's (a stable move).
  const preferred = demand.preferredProvider === undefined ? -1 : candidates.findIndex((c) => c.index.provider.name === demand.preferredProvider);
  if (preferred > 0) candidates.unshift(...candidates.splice(preferred, 1));
  const best = candidates[0];
  if (best === undefined) return { outcome: 'Unschedulable', rejections };
  return { outcome: 'Placed', placement: placementOf(best, demand), ranking: candidates.map(scoreOf), rejections };
}

/** Decides on plain snapshots (indexes them first: O(nodes log nodes) per call). */
export function placeJob(demand: JobDemand, providers: readonly ProviderSnapshot[], now: number): PlacementDecision {
  return placeJobIndexed(demand, indexProviders(providers), now);
}
