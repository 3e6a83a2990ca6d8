// Metering and settlement arithmetic: what a job costs and who gets what, in integer token base
// units (bigint), never floats. Pure: the controllers gather attempts, prices and payout addresses
// and apply what these functions decide.
//
//   attempt cost  = floor(billableGpuSeconds × pricePerGpuHour[base units] / 3600)   (round down per attempt)
//   job cost      = Σ attempt costs
//   provider share= Σ costs of that provider's attempts (one entry per provider, paid to its payout address)
//   refund        = deposit − Σ shares
//
// Rounding: down, once per attempt, so the payer is never charged for a fraction of a base unit and
// the sum over attempts equals the sum the settlement pays. If the cost exceeds the deposit (the
// lifecycle does not stop a job at spec.payment.maxAmount), the shares are scaled down to the
// deposit, each rounded down; the escrow never pays more than it holds.
import type { AIJobAttempt, AIJobStatus } from '../api/types.ts';
import { fromBaseUnits, toBaseUnits } from './money.ts';

export const SECONDS_PER_HOUR = 3600n;

/** Why an attempt has no cost yet. */
export type UnmeteredReason = 'Open' | 'Unpriced';

export interface MeteredAttempt {
  readonly index: number;
  readonly provider: string;
  readonly billableGpuSeconds: number;
  /** Price per GPU-hour in base units; absent when the attempt carries no price. */
  readonly pricePerGpuHour?: bigint;
  readonly cost: bigint;
}

export interface JobCost {
  /** Σ cost of the metered attempts, in base units. */
  readonly total: bigint;
  readonly attempts: readonly MeteredAttempt[];
  /** Attempts not (yet) in `total`: still running, or without a price. */
  readonly unmetered: ReadonlyArray<{ readonly index: number; readonly provider: string; readonly reason: UnmeteredReason }>;
}

function isPreempted(attempt: AIJobAttempt): boolean {
  return attempt.reason?.startsWith('Preempted') ?? false;
}

/**
 * GPU-seconds billed for a closed attempt: `billableGpuSeconds` when the lifecycle recorded it;
 * otherwise all of `gpuSeconds` for an attempt that finished on its own (Succeeded, Failed), and 0
 * for a preempted one (no checkpoint is known, so no work survived).
 */
export function billableGpuSecondsOf(attempt: AIJobAttempt): number {
  if (attempt.billableGpuSeconds !== undefined) return attempt.billableGpuSeconds;
  if (isPreempted(attempt)) return 0;
  return attempt.gpuSeconds ?? 0;
}

// ───────────────────────────── the hub's clock ─────────────────────────────
//
// A provider writes its pods' startedAt and finishedAt (and its replicas' checkpointTime): a hostile
// one backdates them to take the whole deposit. The hub bounds every billable window by what it saw
// itself — from the create it had acknowledged (or the attempt's start it recorded just before) to
// the instant it first saw the pod end (or now) — and provider timestamps only move it inward.
//
//   hub:       from ├──────────────────────────────────────────┤ to
//   provider:          startedAt ├──────────────┤ finishedAt          → billed: the intersection
//   backdated: startedAt ├─────(ignored)─┤                               → billed from `from`

/** What the hub observed of one pod, epoch ms on its own clock. */
export interface HubWindow {
  /** The create acknowledged (or the attempt's recorded start): nothing before it is billed. */
  readonly from?: number;
  /** When the hub first saw the pod end, or now while it runs: nothing after it is billed. */
  readonly to: number;
}

/** What the provider reports of the same pod (epoch ms on its clock). */
export interface ProviderTimes {
  readonly startedAt?: number;
  readonly finishedAt?: number;
}

/**
 * Whole seconds a pod is billed: the provider's [startedAt, finishedAt] clamped into the hub's
 * window. A pod the provider never reported started is not billed. The result never exceeds the
 * hub's window, whatever the provider writes.
 */
export function meteredSeconds(hub: HubWindow, provider: ProviderTimes): number {
  if (provider.startedAt === undefined || !Number.isFinite(provider.startedAt)) return 0;
  const from = hub.from !== undefined ? Math.max(hub.from, provider.startedAt) : provider.startedAt;
  const to = provider.finishedAt !== undefined && Number.isFinite(provider.finishedAt) ? Math.min(hub.to, provider.finishedAt) : hub.to;
  return Math.max(0, Math.floor((to - from) / 1000));
}

/** floor(gpuSeconds × price / 3600): the cost of `gpuSeconds` at `pricePerGpuHour` base units. */
export function costOf(gpuSeconds: number, pricePerGpuHour: bigint): bigint {
  if (!Number.isSafeInteger(gpuSeconds) || gpuSeconds < 0) throw new RangeError(`gpuSeconds must be a non-negative integer, got ${gpuSeconds}`);
  if (pricePerGpuHour < 0n) throw new RangeError('pricePerGpuHour must not be negative');
  return (BigInt(gpuSeconds) * pricePerGpuHour) / SECONDS_PER_HOUR;
}

/**
 * The price an attempt was placed at, as a decimal string of token units: the attempt's own
 * `pricePerGpuHour`, or for the newest attempt the one in status.placement when it names the same
 * provider.
 */
export function attemptPrice(status: AIJobStatus, attempt: AIJobAttempt): string | undefined {
  const own = (attempt as { pricePerGpuHour?: string }).pricePerGpuHour;
  if (own !== undefined) return own;
  const newest = status.attempts?.at(-1);
  if (newest?.index === attempt.index && status.placement?.provider === attempt.provider) return status.placement.pricePerGpuHour;
  return undefined;
}

/** What the job's closed attempts cost, in base units of a token with `decimals` decimals. */
export function meterJob(status: AIJobStatus, decimals: number): JobCost {
  const attempts: MeteredAttempt[] = [];
  const unmetered: Array<JobCost['unmetered'][number]> = [];
  let total = 0n;
  for (const a of status.attempts ?? []) {
    if (!a.endTime) {
      unmetered.push({ index: a.index, provider: a.provider, reason: 'Open' });
      continue;
    }
    const billable = billableGpuSecondsOf(a);
    const price = attemptPrice(status, a);
    if (price === undefined) {
      // Nothing billable needs no price.
      if (billable === 0) attempts.push({ index: a.index, provider: a.provider, billableGpuSeconds: 0, cost: 0n });
      else unmetered.push({ index: a.index, provider: a.provider, reason: 'Unpriced' });
      continue;
    }
    const pricePerGpuHour = toBaseUnits(price, decimals);
    const cost = costOf(billable, pricePerGpuHour);
    total += cost;
    attempts.push({ index: a.index, provider: a.provider, billableGpuSeconds: billable, pricePerGpuHour, cost });
  }
  return { total, attempts, unmetered };
}

/** status.cost as written: token units, exact. */
export function costStatus(cost: JobCost, token: string, decimals: number): NonNullable<AIJobStatus['cost']> {
  return { amount: fromBaseUnits(cost.total, decimals), token };
}

/** Decimals of the cost of a job without spec.payment, or whose token the operator does not know. */
export const DEFAULT_COST_DECIMALS = 6;

/**
 * The status.cost that `status`'s attempts add up to: in `token` (the job's spec.payment.token) when
 * it has one, else token units with 6 decimals and no token; undefined while no attempt has closed
 * (nothing is metered yet, so nothing is written). The lifecycle writes it in the same status write
 * that closes an attempt: a cost of its own, written after, raced the lifecycle's next write.
 */
export function meteredCost(status: AIJobStatus, token: string | undefined, decimals: number): AIJobStatus['cost'] {
  if (!(status.attempts ?? []).some((a) => a.endTime)) return undefined;
  const cost = meterJob(status, decimals);
  return token === undefined ? { amount: fromBaseUnits(cost.total, decimals) } : costStatus(cost, token, decimals);
}

export interface ProviderShare {
  readonly provider: string;
  readonly payoutAddress: string;
  readonly amount: bigint;
}

export interface SettlementSplit {
  /** One entry per provider with a non-zero share, ordered by provider name. */
  readonly shares: readonly ProviderShare[];
  /** What the payer gets back: deposit − Σ shares. */
  readonly refund: bigint;
  /** True when the cost exceeded the deposit and the shares were scaled down to it. */
  readonly capped: boolean;
}

export class SettlementSplitError extends Error {
  override name = 'SettlementSplitError';
}

/**
 * Splits a job's cost between its providers. Throws SettlementSplitError when an attempt is still
 * open or unpriced, or a provider with a share has no payout address: settling then would pay the
 * wrong amounts, and a settlement cannot be corrected.
 */
export function splitSettlement(cost: JobCost, payoutAddressOf: (provider: string) => string | undefined, deposit: bigint): SettlementSplit {
  if (cost.unmetered.length > 0) {
    throw new SettlementSplitError(
      `attempt(s) ${cost.unmetered.map((u) => `${u.index} on ${u.provider} (${u.reason === 'Open' ? 'still open' : 'no price recorded'})`).join(', ')} cannot be metered`,
    );
  }
  const byProvider = new Map<string, bigint>();
  for (const a of cost.attempts) byProvider.set(a.provider, (byProvider.get(a.provider) ?? 0n) + a.cost);
  const owed = [...byProvider].filter(([, amount]) => amount > 0n).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const missing = owed.filter(([provider]) => !payoutAddressOf(provider)).map(([p]) => p);
  if (missing.length > 0) throw new SettlementSplitError(`no payout address for provider(s) ${missing.join(', ')}`);
  const total = owed.reduce((sum, [, amount]) => sum + amount, 0n);
  const capped = total > deposit;
  const shares = owed
    .map(([provider, amount]) => ({ provider, payoutAddress: payoutAddressOf(provider) as string, amount: capped ? (amount * deposit) / total : amount }))
    .filter((s) => s.amount > 0n);
  const paid = shares.reduce((sum, s) => sum + s.amount, 0n);
  return { shares, refund: deposit - paid, capped };
}

/** status.settlement amounts as written: token units. */
export function settlementAmountsStatus(split: SettlementSplit, decimals: number): NonNullable<NonNullable<AIJobStatus['settlement']>['amounts']> {
  return split.shares.map((s) => ({ provider: s.provider, payoutAddress: s.payoutAddress, amount: fromBaseUnits(s.amount, decimals) }));
}

// ───────────────────────────── funding ─────────────────────────────

/** The escrow's record of a job id (FlotillaEscrow.jobs), as plain data. */
export interface EscrowDeposit {
  readonly status: 'None' | 'Open' | 'Settled' | 'Reclaimed';
  readonly payer: string;
  readonly token: string;
  /** Base units. */
  readonly deposit: bigint;
  /** Unix seconds after which the payer may reclaim. */
  readonly deadline: bigint;
}

export interface FundingRequirement {
  /** Token contract address the job pays in (resolved from spec.payment.token). */
  readonly tokenAddress: string;
  /** How the job names it, for messages (USDC, or the address). */
  readonly tokenName: string;
  readonly decimals: number;
  /** spec.payment.maxAmount in base units: the deposit must cover it. */
  readonly required: bigint;
}

export type FundingReason = 'EscrowDeposited' | 'AwaitingDeposit' | 'InsufficientDeposit' | 'WrongToken' | 'DepositClosed';

export interface FundingVerdict {
  readonly status: 'True' | 'False';
  readonly reason: FundingReason;
  readonly message: string;
  /** Base units still missing (0 when funded). */
  readonly missing: bigint;
}

/** Whether an escrow deposit funds a job: Open, in the job's token, covering spec.payment.maxAmount. */
export function fundingVerdict(escrowJobId: string, deposit: EscrowDeposit, need: FundingRequirement): FundingVerdict {
  const units = (v: bigint) => `${fromBaseUnits(v, need.decimals)} ${need.tokenName}`;
  if (deposit.status === 'None') {
    return {
      status: 'False',
      reason: 'AwaitingDeposit',
      missing: need.required,
      message: `no deposit for escrow job id ${escrowJobId}; deposit ${units(need.required)} (flotilla fund)`,
    };
  }
  if (deposit.status !== 'Open') {
    return {
      status: 'False',
      reason: 'DepositClosed',
      missing: need.required,
      message: `the escrow job ${escrowJobId} is already ${deposit.status}; it cannot fund this job`,
    };
  }
  if (deposit.token.toLowerCase() !== need.tokenAddress.toLowerCase()) {
    return {
      status: 'False',
      reason: 'WrongToken',
      missing: need.required,
      message: `the deposit for ${escrowJobId} is in token ${deposit.token}, the job pays in ${need.tokenName} (${need.tokenAddress})`,
    };
  }
  if (deposit.deposit < need.required) {
    const missing = need.required - deposit.deposit;
    return {
      status: 'False',
      reason: 'InsufficientDeposit',
      missing,
      message: `deposit ${units(deposit.deposit)} is below spec.payment.maxAmount ${units(need.required)}: ${units(missing)} missing`,
    };
  }
  return { status: 'True', reason: 'EscrowDeposited', missing: 0n, message: `${units(deposit.deposit)} deposited by ${deposit.payer} under ${escrowJobId}` };
}
