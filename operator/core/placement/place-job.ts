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
import type { GangShape, PackedGang, UnpackedGang } from './packing.ts';
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
import { costNumeratorOf, expectedCostToFinish } from './score.ts';
import type { CostInput, ExpectedCost } from './score.ts';
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

// A verdict is data; its message is written only when asked for (messageOf): a placement found
// reads none of them, and formatting one per rejected provider and pool (or a closure to do it
// later) was most of what a decision allocated.

/** Provider-level filters in order: the first that holds rejects the provider with its reason. */
const providerFilters: ReadonlyArray<{ readonly reason: RejectionReason; readonly rejects: (c: DemandContext, p: ProviderSnapshot) => boolean }> = [
  { reason: 'Denied', rejects: (c, p) => c.denied.has(p.name) },
  { reason: 'NotAllowed', rejects: (c, p) => c.allowed !== undefined && !c.allowed.has(p.name) },
  { reason: 'RegionNotAllowed', rejects: (c, p) => c.regions !== undefined && !c.regions.has(p.region) },
  { reason: 'NotReady', rejects: (_, p) => !p.ready },
  { reason: 'Cordoned', rejects: (_, p) => p.cordoned },
  { reason: 'CoolingDown', rejects: (c, p) => c.now < (c.coolDownUntil.get(p.name) ?? -1) },
  { reason: 'LowReputation', rejects: (c, p) => c.demand.minCompletionRatePpm !== undefined && p.reputation.completionRatePpm < c.demand.minCompletionRatePpm },
  { reason: 'QuotaExceeded', rejects: (c, p) => p.gpuQuotaRemaining !== undefined && p.gpuQuotaRemaining < c.gangGpus },
];

function filterMessage(reason: RejectionReason, c: DemandContext, index: ProviderIndex): string {
  const p = index.provider;
  switch (reason) {
    case 'Denied':
      return "in the job's denied providers";
    case 'NotAllowed':
      return "not in the job's allowed providers";
    case 'RegionNotAllowed':
      return `region ${p.region} not in ${[...(c.regions ?? [])].join(', ')}`;
    case 'NotReady':
      return `not Ready${p.notReadyReason ? ` (${p.notReadyReason})` : ''}`;
    case 'Cordoned':
      return 'cordoned';
    case 'CoolingDown':
      return `preempted this job; cooling down until ${formatInstant(c.coolDownUntil.get(p.name) ?? 0)}`;
    case 'LowReputation':
      return `reputation ${formatPpmShare(p.reputation.completionRatePpm)} below min ${formatPpmShare(c.demand.minCompletionRatePpm ?? 0)}`;
    case 'QuotaExceeded':
      return `quota leaves ${count(Math.max(0, p.gpuQuotaRemaining ?? 0), 'GPU')}, the gang needs ${c.gangGpus}`;
    case 'NoMatchingProduct':
      return noMatchingProductMessage(c.products, index.products);
    default:
      return reason;
  }
}

/** Why one pool cannot take the gang, with what its message needs. */
interface PoolVerdict {
  readonly reason: RejectionReason;
  readonly pool: GpuPool;
  readonly price?: bigint;
  readonly packed?: UnpackedGang;
}

function poolMessage(v: PoolVerdict, c: DemandContext): string {
  switch (v.reason) {
    case 'GpuMemoryTooSmall':
      return gpuMemoryMessage(v.pool, c.shape.minGpuMemoryMiB);
    case 'ComputeCapabilityTooLow':
      return computeCapabilityMessage(v.pool, c.shape.minComputeCapability);
    case 'NotForLending':
      return notForLendingMessage(v.pool.product);
    case 'PriceTooHigh':
      return priceMessage(v.price ?? 0n, c.demand.maxPricePerGpuHour ?? 0n, c.demand.priceDecimals);
    default:
      return capacityMessage(v.pool, c.shape, v.packed as UnpackedGang);
  }
}

/** A provider rejected: by a filter (or for offering no acceptable product), or by every pool it offers. */
type ProviderVerdict = RejectionReason | { readonly reason: RejectionReason; readonly pools: readonly PoolVerdict[] };

function messageOf(v: ProviderVerdict, c: DemandContext, index: ProviderIndex): string {
  if (typeof v === 'string') return filterMessage(v, c, index);
  const prefix = c.products.length !== 1 || v.pools.length > 1;
  return v.pools.map((p) => (prefix ? `${p.pool.product}: ${poolMessage(p, c)}` : poolMessage(p, c))).join('; ');
}

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

/** The checks before packing, product-level: the pool's price, or why the pool cannot take the gang at all. */
function priceOrVerdict(context: DemandContext, index: ProviderIndex, pool: GpuPool): bigint | PoolVerdict {
  const { demand, shape } = context;
  if (shape.minGpuMemoryMiB > pool.maxGpuMemoryMiB) return { reason: 'GpuMemoryTooSmall', pool };
  if (shape.minComputeCapability > pool.maxComputeCapability) return { reason: 'ComputeCapabilityTooLow', pool };
  const price = index.prices.get(pool.product);
  if (price === undefined) return { reason: 'NotForLending', pool };
  if (demand.maxPricePerGpuHour !== undefined && price > demand.maxPricePerGpuHour) return { reason: 'PriceTooHigh', pool, price };
  return price;
}

function evaluatePool(context: DemandContext, index: ProviderIndex, pool: GpuPool): Candidate | PoolVerdict {
  const price = priceOrVerdict(context, index, pool);
  if (typeof price !== 'bigint') return price;
  const packed = packGang(pool, context.shape);
  if (!packed.fits) return { reason: 'InsufficientCapacity', pool, packed };
  return { index, pool, price, packed, cost: expectedCostToFinish(costInput(context, index, price)) };
}

function costInput(context: DemandContext, index: ProviderIndex, price: bigint): CostInput {
  return {
    pricePerGpuHour: price,
    remainingGpuSeconds: context.demand.remainingGpuSeconds,
    gangGpus: context.gangGpus,
    checkpointIntervalSeconds: context.demand.checkpointIntervalSeconds,
    preemptionsPerMillionGpuHours: index.provider.reputation.preemptionsPerMillionGpuHours,
  };
}

/** Whether a provider filter rejects the provider. */
function filtered(context: DemandContext, provider: ProviderSnapshot): boolean {
  for (const filter of providerFilters) if (filter.rejects(context, provider)) return true;
  return false;
}

/** Whether the demand accepts the pool's product (when it names none: any not shared and not MIG). */
function acceptable(context: DemandContext, pool: GpuPool): boolean {
  return context.products.length > 0 ? context.products.includes(pool.product) : !pool.shared && !pool.mig;
}

/**
 * The winning candidate without ranking the others: what a Placed decision without `explain`
 * returns, the same candidate the ranking puts first. Cost ranks first, so a pool whose expected
 * cost is above the best found so far is not packed — except at the preferred provider, whose best
 * candidate wins whatever it costs (SameProviderFirst). Undefined when nothing fits.
 */
function bestCandidate(context: DemandContext, index: PlacementIndex): Candidate | undefined {
  const preferredName = context.demand.preferredProvider;
  let best: Candidate | undefined;
  let preferred: Candidate | undefined;
  for (const provider of index.providers) {
    const isPreferred = provider.provider.name === preferredName;
    if ((preferred && !isPreferred) || filtered(context, provider.provider)) continue;
    for (const pool of provider.pools) {
      if (!acceptable(context, pool)) continue;
      const price = priceOrVerdict(context, provider, pool);
      if (typeof price !== 'bigint') continue;
      const bar = isPreferred ? preferred : best;
      if (bar && costNumeratorOf(costInput(context, provider, price)) > bar.cost.costNumerator) continue;
      const packed = packGang(pool, context.shape);
      if (!packed.fits) continue;
      const candidate: Candidate = { index: provider, pool, price, packed, cost: expectedCostToFinish(costInput(context, provider, price)) };
      if (bar && compareCandidates(candidate, bar) >= 0) continue;
      if (isPreferred) preferred = candidate;
      else best = candidate;
    }
  }
  return preferred ?? best;
}

const NO_POOLS: readonly GpuPool[] = [];

/** Appends the pool's candidate to `out`, or its verdict to `rejected` (returned; created on the first). */
function considerPool(context: DemandContext, index: ProviderIndex, pool: GpuPool, out: Candidate[], rejected: PoolVerdict[] | undefined) {
  const outcome = evaluatePool(context, index, pool);
  if (!('reason' in outcome)) {
    out.push(outcome);
    return rejected;
  }
  const list = rejected ?? [];
  list.push(outcome);
  return list;
}

/** Appends the provider's candidates to `out`; its verdict when it has none. */
function evaluateProvider(context: DemandContext, index: ProviderIndex, out: Candidate[]): ProviderVerdict | undefined {
  for (const filter of providerFilters) if (filter.rejects(context, index.provider)) return filter.reason;
  const found = out.length;
  let rejected: PoolVerdict[] | undefined;
  let pools = 0;
  if (context.products.length > 0) {
    for (const product of context.products) {
      for (const pool of index.poolsByProduct.get(product) ?? NO_POOLS) {
        pools += 1;
        rejected = considerPool(context, index, pool, out, rejected);
      }
    }
  } else {
    for (const pool of index.pools) {
      if (pool.shared || pool.mig) continue;
      pools += 1;
      rejected = considerPool(context, index, pool, out, rejected);
    }
  }
  if (pools === 0) return 'NoMatchingProduct';
  if (out.length > found || !rejected) return undefined;
  // The provider's reason is its furthest pool's.
  let furthest = (rejected[0] as PoolVerdict).reason;
  for (const v of rejected) if ((poolStage[v.reason] ?? 0) > (poolStage[furthest] ?? 0)) furthest = v.reason;
  return { reason: furthest, pools: rejected };
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

/** What a decision says beyond its placement. */
export interface DecisionDetail {
  /**
   * true (the default): a Placed decision ranks every feasible candidate and explains every provider
   * rejected. false: only the best candidate's score and no rejections — what the scheduler keeps of
   * a placement; an Unschedulable decision is explained either way.
   */
  readonly explain?: boolean;
}

/**
 * Decides on a prepared index (see provider-index.ts): the fast path for a reconciler that keeps
 * one index per snapshot and places many jobs against it.
 */
export function placeJobIndexed(demand: JobDemand, index: PlacementIndex, now: number, detail: DecisionDetail = {}): PlacementDecision {
  const context = contextOf(demand, now);
  if (detail.explain === false) {
    const best = bestCandidate(context, index);
    if (best) {
      const placement = placementOf(best, demand);
      return { outcome: 'Placed', placement, ranking: [placement.score], rejections: [] };
    }
    // Nothing fits: the full pass below explains why, provider by provider.
  }
  const candidates: Candidate[] = [];
  const rejected: Array<{ index: ProviderIndex; verdict: ProviderVerdict }> = [];
  for (const provider of index.providers) {
    const verdict = evaluateProvider(context, provider, candidates);
    if (verdict !== undefined) rejected.push({ index: provider, verdict });
  }
  const rejections = (): ProviderRejection[] =>
    rejected.map(({ index: p, verdict: v }) => ({
      provider: p.provider.name,
      reason: typeof v === 'string' ? v : v.reason,
      message: messageOf(v, context, p),
    }));
  if (candidates.length === 0) return { outcome: 'Unschedulable', rejections: rejections() };
  candidates.sort(compareCandidates);
  // SameProviderFirst: the preferred provider's best candidate ahead of every other provider's (a stable move).
  const first = demand.preferredProvider === undefined ? -1 : candidates.findIndex((c) => c.index.provider.name === demand.preferredProvider);
  if (first > 0) candidates.unshift(...candidates.splice(first, 1));
  const best = candidates[0] as Candidate;
  return { outcome: 'Placed', placement: placementOf(best, demand), ranking: candidates.map(scoreOf), rejections: rejections() };
}

/** Decides on plain snapshots (indexes them first: O(nodes log nodes) per call). */
export function placeJob(demand: JobDemand, providers: readonly ProviderSnapshot[], now: number): PlacementDecision {
  return placeJobIndexed(demand, indexProviders(providers), now);
}
