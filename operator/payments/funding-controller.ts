// The funding gate's half that reads the chain and the namespace's payment policy. On a hub with
// payments configured the AIJob controller places nothing before the job's Funded condition is
// True — for every job, paid or not — and this controller is the one that writes it:
//
//   no spec.payment   the Namespace allows unpaid jobs (flotilla.dev/allow-unpaid-jobs: "true")
//                     → Funded=True UnpaidAllowed; otherwise Funded=False PaymentRequired, which
//                     the lifecycle turns into a terminal Failed naming spec.payment
//   spec.payment      FlotillaEscrow.jobs(escrowJobIdOf(uid)) at the confirmed block, judged by
//                     fundingPolicyVerdict (operator/core/funding.ts): the deposit must come from a
//                     payer the Namespace declares (flotilla.dev/payers), stay unreclaimable until
//                     the job's deadline (or now + the default max runtime) plus the settlement
//                     window, be Open, in the job's token, and cover spec.payment.maxAmount.
//                     Before Funded=True is written the settlement finalizer goes on the job, so
//                     deleting it waits until the work done is settled.
//
//   gather   the job (hub cache); the Namespace's annotations (a live read); the escrow deposit
//   decide   unpaidJobVerdict / fundingPolicyVerdict, pure
//   apply    finalizer, then status.funding + condition Funded (resourceVersion precondition,
//            retried on conflict)
//
// Not funded yet: looked at again every FLOTILLA_CHAIN_POLL_MS. Chain unreachable: Funded=Unknown
// (ChainUnreachable) and the same poll; never a crash. Funded once: not read again (the payer is
// fixed at the first deposit, a deadline only moves later, and a deposit leaves the escrow only by
// settlement or by the payer's reclaim after the deadline, which settlement sees).
import type { AIJob } from '../api/types.ts';
import { declaredPayers, fundingPolicyVerdict, requiredReclaimDeadline, unpaidJobVerdict } from '../core/funding.ts';
import { isTerminal } from '../core/lifecycle/phases.ts';
import { AmountError, fromBaseUnits, toBaseUnits } from '../core/money.ts';
import { errorMessage } from '../log.ts';
import type { Logger } from '../log.ts';
import { durationSeconds } from '../core/duration.ts';
import { parseNamespacePolicy } from '../core/placement/namespace-policy.ts';
import { effectiveVerification, specAsk } from '../core/verification/verdict.ts';
import type { VerificationAsk } from '../core/verification/verdict.ts';
import type { ReconcileResult } from '../runtime/work-queue.ts';
import { resolveToken } from './chain-config.ts';
import type { ChainConfig } from './chain-config.ts';
import { escrowJobIdOf, isChainUnavailable } from './escrow-client.ts';
import type { EscrowClient } from './escrow-client.ts';
import { conditionOf, holdsSettlement, SETTLEMENT_FINALIZER, withCondition } from './job-status.ts';
import type { JobStatusWriter } from './job-status.ts';

export interface FundingControllerOptions {
  readonly writer: JobStatusWriter;
  readonly get: (key: string) => AIJob | undefined;
  /** Absent: payments are off and every job with spec.payment is told so. */
  readonly chain?: EscrowClient;
  readonly config?: ChainConfig;
  /** The hub's verification floor (docs/verification.md): a job that verifies needs a deposit that outlasts its window. */
  readonly verificationFloor?: VerificationAsk;
  /** A hub Namespace's annotations, read live (they are policy); needed when `config` is set. */
  readonly namespaceAnnotations?: (namespace: string) => Promise<Readonly<Record<string, string>>>;
  readonly log: Logger;
  readonly now?: () => Date;
}

export class FundingController {
  private readonly opts: FundingControllerOptions;
  private readonly now: () => Date;

  constructor(opts: FundingControllerOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => new Date());
  }

  /** Whether a job is this controller's business at all (cheap; called for every job event). */
  wants(job: AIJob): boolean {
    if (job.metadata.deletionTimestamp || isTerminal(job.status)) return false;
    const funded = conditionOf(job, 'Funded');
    // A funded paid job still wants the finalizer if it lacks it (a job funded before it existed).
    if (job.spec.payment) return funded?.status !== 'True' || !holdsSettlement(job);
    // Unpaid jobs are judged only on a paid hub, once.
    return Boolean(this.opts.config) && !funded;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const job = this.opts.get(key);
    if (!job || !this.wants(job)) return {};
    const payment = job.spec.payment;
    const { chain, config } = this.opts;
    const namespace = job.metadata.namespace ?? '';
    const generation = job.metadata.generation;
    const write = (on: AIJob, status: 'True' | 'False' | 'Unknown', reason: string, message: string, funding?: { escrowJobId: string; deposited?: string }) =>
      this.opts.writer.update(on, (j) => {
        if (!this.wants(j) || (j.spec.payment && conditionOf(j, 'Funded')?.status === 'True')) return undefined;
        const next = withCondition(j.status ?? {}, 'Funded', status, reason, message, this.now(), generation);
        return funding ? { ...next, funding: { ...j.status?.funding, ...funding } } : next;
      });

    if (!payment) {
      const verdict = unpaidJobVerdict(namespace, await this.annotations(namespace));
      await write(job, verdict.status, verdict.reason, verdict.message);
      if (verdict.status === 'False') this.opts.log('info', 'unpaid job refused', { job: key, reason: verdict.reason });
      return {};
    }
    if (conditionOf(job, 'Funded')?.status === 'True') {
      await this.opts.writer.setFinalizer(job, SETTLEMENT_FINALIZER, true);
      return {};
    }
    if (!chain || !config) {
      await write(job, 'False', 'TokenNotSupported', 'payments are not configured on this operator (FLOTILLA_CHAIN_RPC is unset)');
      return {};
    }
    const token = resolveToken(config.tokens, payment.token);
    if (!token) {
      await write(
        job,
        'False',
        'TokenNotSupported',
        `spec.payment.token ${payment.token} is not one of the configured tokens (${config.tokens.map((t) => `${t.symbol}=${t.address}`).join(', ')})`,
      );
      return {};
    }
    let required: bigint;
    try {
      required = toBaseUnits(payment.maxAmount, token.decimals);
    } catch (err) {
      if (!(err instanceof AmountError)) throw err;
      await write(
        job,
        'False',
        'TokenNotSupported',
        `spec.payment.maxAmount ${payment.maxAmount}: ${err.message} (${token.symbol} has ${token.decimals} decimals)`,
      );
      return {};
    }

    const annotations = await this.annotations(namespace);
    const { payers, invalid } = declaredPayers(annotations);
    if (invalid.length > 0) this.opts.log('warn', 'namespace declares payers that are not addresses; ignored', { namespace, invalid });
    const escrowJobId = escrowJobIdOf(job.metadata.uid ?? '');
    let deposit;
    try {
      deposit = await chain.deposit(escrowJobId);
    } catch (err) {
      if (!isChainUnavailable(err)) throw err;
      this.opts.log('warn', 'chain unreachable; funding read again later', { job: key, error: errorMessage(err) });
      await write(job, 'Unknown', 'ChainUnreachable', `could not read the escrow deposit for ${escrowJobId}: ${errorMessage(err)}`, { escrowJobId });
      return { requeueAfterMs: config.pollMs };
    }
    const jobDeadline = Date.parse(job.spec.deadline ?? '');
    const requiredDeadline = requiredReclaimDeadline({
      ...(Number.isFinite(jobDeadline) ? { jobDeadline } : {}),
      now: this.now().getTime(),
      defaultMaxRuntimeSeconds: config.defaultMaxRuntimeSeconds,
      settlementWindowSeconds: config.settlementWindowSeconds,
      ...((w) => (w !== undefined ? { verificationWindowSeconds: w } : {}))(this.verificationWindowSeconds(job, annotations)),
    });
    const verdict = fundingPolicyVerdict(escrowJobId, deposit, {
      tokenAddress: token.address,
      tokenName: payment.token,
      decimals: token.decimals,
      required,
      payers,
      namespace,
      requiredDeadline,
    });
    const funding = { escrowJobId, deposited: fromBaseUnits(deposit.status === 'None' ? 0n : deposit.deposit, token.decimals) };
    let on: AIJob | undefined = job;
    if (verdict.status === 'True') {
      // The finalizer first: once Funded=True is written the job may be placed, and from then on
      // deleting it must wait for the settlement of the work done.
      on = await this.opts.writer.setFinalizer(job, SETTLEMENT_FINALIZER, true);
      if (!on || on.metadata.deletionTimestamp) return {};
    }
    await write(on, verdict.status, verdict.reason, verdict.message, funding);
    if (verdict.status === 'True')
      this.opts.log('info', 'job funded', { job: key, escrowJobId, payer: deposit.payer, deposited: funding.deposited, deadline: String(deposit.deadline) });
    return verdict.status === 'True' ? {} : { requeueAfterMs: config.pollMs };
  }

  /** The verification window of a job that verifies (spec, namespace floor, hub floor); undefined when it does not. */
  private verificationWindowSeconds(job: AIJob, annotations: Readonly<Record<string, string>>): number | undefined {
    const window = job.spec.verification?.window;
    let windowMs: number | undefined;
    try {
      windowMs = window ? durationSeconds(window) * 1000 : undefined;
    } catch {
      windowMs = undefined; // the spec gate ends such a job (InvalidSpec); the default window stands meanwhile
    }
    const policy = effectiveVerification(specAsk(job.spec.verification, windowMs), parseNamespacePolicy(annotations).verification, this.opts.verificationFloor);
    return policy.mode === 'None' ? undefined : policy.windowMs / 1000;
  }

  private async annotations(namespace: string): Promise<Readonly<Record<string, string>>> {
    if (!this.opts.namespaceAnnotations) throw new Error('the funding controller needs namespaceAnnotations when payments are configured');
    return await this.opts.namespaceAnnotations(namespace);
  }
}
