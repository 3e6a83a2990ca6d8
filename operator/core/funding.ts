// Who may fund a job, and for how long the deposit must stay in the escrow: the funding gate's
// policy on top of fundingVerdict (metering.ts), pure. The funding controller gathers the deposit
// (FlotillaEscrow.jobs) and the namespace's annotations; these functions decide.
//
//   unpaid job on a paid hub   → refused (PaymentRequired) unless the Namespace carries
//                                flotilla.dev/allow-unpaid-jobs: "true"
//   deposit from an address the namespace did not declare (flotilla.dev/payers) → funds nothing
//   deposit whose reclaim deadline ends before the job's deadline (or now + the default max
//   runtime) plus, for a job that verifies, its verification window (docs/verification.md), plus
//   the settlement window → funds nothing: the payer could take it back before the work done is
//   settled — or, verifying, while the run is being checked
//
// Both annotations live on the Namespace, which only cluster admins can write (the built-in
// `admin` and `edit` roles grant no write on Namespaces): stricter than "namespace admins", and a
// tenant cannot declare itself a payer or allow itself unpaid work.
import { fundingVerdict } from './metering.ts';
import type { EscrowDeposit, FundingRequirement, FundingVerdict } from './metering.ts';

export const ALLOW_UNPAID_ANNOTATION = 'flotilla.dev/allow-unpaid-jobs';
export const PAYERS_ANNOTATION = 'flotilla.dev/payers';

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

export type PolicyReason = 'NoPayerDeclared' | 'UndeclaredPayer' | 'DeadlineTooEarly' | 'PaymentRequired' | 'UnpaidAllowed';

export interface PolicyVerdict {
  readonly status: 'True' | 'False';
  readonly reason: FundingVerdict['reason'] | PolicyReason;
  readonly message: string;
}

/** Whether the namespace lets jobs without spec.payment run on a hub that settles on chain. */
export function unpaidJobVerdict(namespace: string, annotations: Readonly<Record<string, string>>): PolicyVerdict {
  if (annotations[ALLOW_UNPAID_ANNOTATION] === 'true') {
    return { status: 'True', reason: 'UnpaidAllowed', message: `namespace ${namespace} allows unpaid jobs (${ALLOW_UNPAID_ANNOTATION}: "true")` };
  }
  return {
    status: 'False',
    reason: 'PaymentRequired',
    message: `spec.payment is required: this hub pays providers through the escrow and namespace ${namespace} does not allow unpaid jobs (annotation ${ALLOW_UNPAID_ANNOTATION}: "true" on the Namespace)`,
  };
}

/**
 * The payers a namespace declared: `flotilla.dev/payers`, 0x addresses separated by commas or
 * whitespace, lower-cased. Anything that is not an address is reported, never half-trusted.
 */
export function declaredPayers(annotations: Readonly<Record<string, string>>): { payers: string[]; invalid: string[] } {
  const words = (annotations[PAYERS_ANNOTATION] ?? '').split(/[\s,]+/).filter(Boolean);
  return {
    payers: [...new Set(words.filter((w) => ADDRESS.test(w)).map((w) => w.toLowerCase()))],
    invalid: words.filter((w) => !ADDRESS.test(w)),
  };
}

export interface DeadlineInputs {
  /** spec.deadline, epoch ms; absent: the job may run `defaultMaxRuntimeSeconds` from now. */
  readonly jobDeadline?: number;
  /** Epoch ms. */
  readonly now: number;
  readonly defaultMaxRuntimeSeconds: number;
  /** Time the operator keeps to settle after the job's end (chain down, confirmations, retries). */
  readonly settlementWindowSeconds: number;
  /** A job that verifies: its verification window (settlement waits for the verdict, at most this long after the run). */
  readonly verificationWindowSeconds?: number;
}

/** The earliest reclaim deadline (unix seconds) a deposit may have and still fund the job. */
export function requiredReclaimDeadline(d: DeadlineInputs): bigint {
  const endMs = d.jobDeadline ?? d.now + d.defaultMaxRuntimeSeconds * 1000;
  return BigInt(Math.ceil(endMs / 1000)) + BigInt(d.settlementWindowSeconds) + BigInt(Math.ceil(d.verificationWindowSeconds ?? 0));
}

export interface FundingPolicy extends FundingRequirement {
  /** Lower-case addresses the namespace declared. */
  readonly payers: readonly string[];
  readonly namespace: string;
  /** Unix seconds: see requiredReclaimDeadline. */
  readonly requiredDeadline: bigint;
}

const isoOf = (unixSeconds: bigint) => new Date(Number(unixSeconds) * 1000).toISOString();

/**
 * Whether a deposit funds a job under the namespace's policy. Who deposited and until when are
 * checked before the amount: a deposit from the wrong payer or with a short deadline never funds,
 * however large.
 */
export function fundingPolicyVerdict(escrowJobId: string, deposit: EscrowDeposit, need: FundingPolicy): PolicyVerdict {
  if (need.payers.length === 0) {
    return {
      status: 'False',
      reason: 'NoPayerDeclared',
      message: `namespace ${need.namespace} declares no payer: a cluster admin annotates the Namespace ${PAYERS_ANNOTATION}=0x… before any deposit under ${escrowJobId} can fund this job`,
    };
  }
  if (deposit.status === 'Open') {
    if (!need.payers.includes(deposit.payer.toLowerCase())) {
      return {
        status: 'False',
        reason: 'UndeclaredPayer',
        message: `the deposit under ${escrowJobId} was made by ${deposit.payer}, which namespace ${need.namespace} does not declare (${PAYERS_ANNOTATION}): it funds nothing`,
      };
    }
    if (deposit.deadline < need.requiredDeadline) {
      return {
        status: 'False',
        reason: 'DeadlineTooEarly',
        message: `the deposit under ${escrowJobId} may be reclaimed after ${isoOf(deposit.deadline)}; it must stay until at least ${isoOf(need.requiredDeadline)} (the job's deadline plus the settlement window): top it up with a later deadline`,
      };
    }
  }
  return fundingVerdict(escrowJobId, deposit, need);
}
