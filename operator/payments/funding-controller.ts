// The funding gate's half that reads the chain: for every unfinished AIJob with spec.payment whose
// Funded condition is not True, read the escrow deposit under the job's escrow id and say whether
// it covers spec.payment.maxAmount. The AIJob controller places nothing before Funded is True.
//
//   gather   the job (hub cache); FlotillaEscrow.jobs(escrowJobIdOf(uid)) at the confirmed block
//   decide   fundingVerdict (operator/core/metering.ts), pure
//   apply    status.funding + condition Funded (resourceVersion precondition, retried on conflict)
//
// Not funded yet: looked at again every FLOTILLA_CHAIN_POLL_MS. Chain unreachable: Funded=Unknown
// (ChainUnreachable) and the same poll; never a crash. Funded once: not read again (a deposit only
// leaves the escrow by settlement or by the payer's reclaim after the deadline, which settlement sees).
import type { AIJob } from '../api/types.ts';
import { fundingVerdict } from '../core/metering.ts';
import { AmountError, fromBaseUnits, toBaseUnits } from '../core/money.ts';
import { errorMessage } from '../log.ts';
import type { Logger } from '../log.ts';
import type { ReconcileResult } from '../runtime/work-queue.ts';
import { resolveToken } from './chain-config.ts';
import type { ChainConfig } from './chain-config.ts';
import { escrowJobIdOf, isChainUnavailable } from './escrow-client.ts';
import type { EscrowClient } from './escrow-client.ts';
import { conditionOf, withCondition } from './job-status.ts';
import type { JobStatusWriter } from './job-status.ts';

const FINISHED = new Set(['Succeeded', 'Failed', 'Settled']);

export interface FundingControllerOptions {
  readonly writer: JobStatusWriter;
  readonly get: (key: string) => AIJob | undefined;
  /** Absent: payments are off and every job with spec.payment is told so. */
  readonly chain?: EscrowClient;
  readonly config?: ChainConfig;
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
  static wants(job: AIJob): boolean {
    return Boolean(job.spec.payment) && !job.metadata.deletionTimestamp && !FINISHED.has(job.status?.phase ?? '') && conditionOf(job, 'Funded')?.status !== 'True';
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const job = this.opts.get(key);
    const payment = job?.spec.payment;
    if (!job || !payment || !FundingController.wants(job)) return {};
    const { chain, config } = this.opts;
    const generation = job.metadata.generation;
    const token = config ? resolveToken(config.tokens, payment.token) : undefined;
    const write = (status: 'True' | 'False' | 'Unknown', reason: string, message: string, funding?: { escrowJobId: string; deposited?: string }) =>
      this.opts.writer.update(job, (j) => {
        if (!FundingController.wants(j)) return undefined;
        const next = withCondition(j.status ?? {}, 'Funded', status, reason, message, this.now(), generation);
        return funding ? { ...next, funding: { ...j.status?.funding, ...funding } } : next;
      });

    if (!chain || !config) {
      await write('False', 'TokenNotSupported', 'payments are not configured on this operator (FLOTILLA_CHAIN_RPC is unset)');
      return {};
    }
    if (!token) {
      await write('False', 'TokenNotSupported', `spec.payment.token ${payment.token} is not one of the configured tokens (${config.tokens.map((t) => `${t.symbol}=${t.address}`).join(', ')})`);
      return {};
    }
    let required: bigint;
    try {
      required = toBaseUnits(payment.maxAmount, token.decimals);
    } catch (err) {
      if (!(err instanceof AmountError)) throw err;
      await write('False', 'TokenNotSupported', `spec.payment.maxAmount ${payment.maxAmount}: ${err.message} (${token.symbol} has ${token.decimals} decimals)`);
      return {};
    }

    const escrowJobId = escrowJobIdOf(job.metadata.uid ?? '');
    let deposit;
    try {
      deposit = await chain.deposit(escrowJobId);
    } catch (err) {
      if (!isChainUnavailable(err)) throw err;
      this.opts.log('warn', 'chain unreachable; funding read again later', { job: key, error: errorMessage(err) });
      await write('Unknown', 'ChainUnreachable', `could not read the escrow deposit for ${escrowJobId}: ${errorMessage(err)}`, { escrowJobId });
      return { requeueAfterMs: config.pollMs };
    }
    const verdict = fundingVerdict(escrowJobId, deposit, { tokenAddress: token.address, tokenName: payment.token, decimals: token.decimals, required });
    await write(verdict.status, verdict.reason, verdict.message, { escrowJobId, deposited: fromBaseUnits(deposit.status === 'None' ? 0n : deposit.deposit, token.decimals) });
    if (verdict.status === 'True') this.opts.log('info', 'job funded', { job: key, escrowJobId, deposited: fromBaseUnits(deposit.deposit, token.decimals) });
    return verdict.status === 'True' ? {} : { requeueAfterMs: config.pollMs };
  }
}
