// Expected cost to finish, in exact integers.
//
//   cost = price × H × (1 + ρ)
//
//   H  remaining work in GPU-hours (remainingGpuSeconds / 3600)
//   λ  the provider's preemption hazard, preemptions per GPU-hour lent
//   G  GPUs in the gang (replicas × gpusPerReplica); one preemption of any of them stops the gang
//   T  checkpoint interval in hours; no checkpoints: the whole run, W = H / G wall-clock hours
//
// Preemptions strike each lent GPU independently at rate λ, so the gang is interrupted λ·G times per
// wall-clock hour, λ·G·W = λ·H times over the run. Each interruption throws away the work since the
// last checkpoint: on average T/2 hours of the whole gang, G·T/2 GPU-hours. Expected rework as a
// share of the work:
//
//   ρ = λ·H · G·T_eff/2 / H = λ · G · T_eff / 2,   T_eff = min(T, W)   (no more than was done can be lost)
//
// First order in λ·G·T: rework that is itself preempted, restart latency and the checkpoint write
// time are left out, so ρ is optimistic when λ·G·T nears 1 (and such a provider already loses).
// GPU-hours are taken as product-independent (no speed factor between products).
//
// Integers only: λ arrives as preemptions per million GPU-hours (λm), times as seconds. With
// X = G·T_eff in GPU-seconds = min(G·T_s, H_s):
//
//   ρ    = λm · X / (7200 · 10^6)
//   cost = price · H_s · (7200·10^6 + λm · X) / (3600 · 7200 · 10^6)
//
// Every candidate shares that denominator, so candidates are ordered by the numerator exactly; the
// rounding to a base unit is only for display. No float, no machine-dependent tie.

/** Denominator of every cost numerator. */
export const COST_DENOMINATOR = 3600n * 7200n * 1_000_000n;
const REWORK_DENOMINATOR = 7200n * 1_000_000n;

export interface CostInput {
  readonly pricePerGpuHour: bigint;
  readonly remainingGpuSeconds: number;
  readonly gangGpus: number;
  /** Undefined: no checkpoints. */
  readonly checkpointIntervalSeconds: number | undefined;
  readonly preemptionsPerMillionGpuHours: number;
}

export interface ExpectedCost {
  /** Exact cost × COST_DENOMINATOR: compare these, never the rounded figures. */
  readonly costNumerator: bigint;
  /** Rounded up to a base unit. */
  readonly expectedCost: bigint;
  readonly listCost: bigint;
  readonly expectedReworkPpm: bigint;
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b; // a ≥ 0, b > 0
}

function reworkOf(input: CostInput, work: bigint): bigint {
  const perInterval = input.checkpointIntervalSeconds === undefined ? work : BigInt(input.gangGpus) * BigInt(input.checkpointIntervalSeconds);
  const intervalGpuSeconds = perInterval < work ? perInterval : work;
  return BigInt(input.preemptionsPerMillionGpuHours) * intervalGpuSeconds;
}

/** expectedCostToFinish(input).costNumerator alone: what ranks candidates first. */
export function costNumeratorOf(input: CostInput): bigint {
  const work = BigInt(input.remainingGpuSeconds);
  return input.pricePerGpuHour * work * (REWORK_DENOMINATOR + reworkOf(input, work));
}

export function expectedCostToFinish(input: CostInput): ExpectedCost {
  const price = input.pricePerGpuHour;
  const work = BigInt(input.remainingGpuSeconds);
  const rework = reworkOf(input, work);
  const costNumerator = price * work * (REWORK_DENOMINATOR + rework);
  return {
    costNumerator,
    expectedCost: ceilDiv(costNumerator, COST_DENOMINATOR),
    listCost: ceilDiv(price * work, 3600n),
    expectedReworkPpm: ceilDiv(rework, 7200n),
  };
}
