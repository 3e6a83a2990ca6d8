// Metering and exactly-once settlement.
//
// Every AIJob: status.cost = what its closed attempts cost (operator/core/metering.ts), rewritten
// when an attempt ends. A job with spec.payment that reached Succeeded or Failed is settled:
//
//   1. intent   split the cost between providers (payout address from each GPUProvider), capped at
//               the deposit; write status.settlement {id, amounts, refund} — BEFORE anything is sent.
//               id = escrowJobIdOf(uid): the contract settles an id once, whatever we send.
//   2. check    FlotillaEscrow.settlementOf(id) at the confirmed block:
//                 Settled   → it landed (now or before a crash): take the tx hash from the Settled
//                             event, write Settled=True and phase Settled. Never send again.
//                 Open      → not landed: queue the intent (from status, not recomputed) for sending.
//                 Reclaimed → the payer took the deposit back after the deadline: Settled=False.
//                 None      → no deposit under the id: Settled=False (SettlementFailed).
//   3. send     the batcher collects the queued intents for FLOTILLA_SETTLEMENT_BATCH_MS and sends
//               one settleBatch (entries already settled are skipped by the contract, so a resend
//               after a crash is harmless); records the tx hash; when it is confirmed, step 2 runs
//               again and finishes the job.
//
// Chain unreachable anywhere: Settled=False (ChainUnreachable), the phase stays Succeeded/Failed,
// and the job is looked at again every FLOTILLA_CHAIN_POLL_MS until the chain answers.
//
// FLOTILLA_FAILPOINT=after-settle-send exits the process (137) right after the node accepted a
// settlement transaction and before anything is written: the crash the exactly-once test replays.
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import { GPUPROVIDER, GROUP, VERSION } from '../api/group.ts';
import type { AIJob, AIJobStatus, GPUProvider } from '../api/types.ts';
import { costStatus, meterJob, settlementAmountsStatus, splitSettlement, SettlementSplitError } from '../core/metering.ts';
import { fromBaseUnits, toBaseUnits } from '../core/money.ts';
import { errorMessage } from '../log.ts';
import type { Logger } from '../log.ts';
import type { ReconcileResult } from '../runtime/work-queue.ts';
import { resolveToken } from './chain-config.ts';
import type { ChainConfig, TokenConfig } from './chain-config.ts';
import { ChainRevertError, escrowJobIdOf, isChainUnavailable } from './escrow-client.ts';
import type { EscrowClient, SettlementEntry } from './escrow-client.ts';
import { conditionOf, withCondition } from './job-status.ts';
import type { JobStatusWriter } from './job-status.ts';

/** Decimals assumed for jobs without spec.payment (their cost is shown, never settled). */
export const DEFAULT_DECIMALS = 6;
export const FAILPOINT_AFTER_SETTLE_SEND = 'after-settle-send';
const ENDED = new Set(['Succeeded', 'Failed']);

export interface SettlementControllerOptions {
  readonly hub: KubeConfig;
  readonly writer: JobStatusWriter;
  readonly get: (key: string) => AIJob | undefined;
  /** Wakes a job again (the work queue's add). */
  readonly wake: (key: string) => void;
  /** Absent: payments off; only cost is metered. A client without a key cannot settle. */
  readonly chain?: EscrowClient;
  readonly config?: ChainConfig;
  readonly log: Logger;
  readonly failpoint?: string;
  readonly now?: () => Date;
}

type Settlement = NonNullable<AIJobStatus['settlement']>;

export class SettlementController {
  private readonly opts: SettlementControllerOptions;
  private readonly now: () => Date;
  private readonly providers: CustomObjectsApi;
  readonly batcher?: SettlementBatcher;

  constructor(opts: SettlementControllerOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => new Date());
    this.providers = opts.hub.makeApiClient(CustomObjectsApi);
    if (opts.chain && opts.config && opts.chain.address) {
      this.batcher = new SettlementBatcher({
        chain: opts.chain,
        windowMs: opts.config.batchWindowMs,
        max: opts.config.batchMax,
        log: opts.log,
        ...(opts.failpoint ? { failpoint: opts.failpoint } : {}),
        onSent: (items, txHash) => { for (const item of items) void this.recordSent(item.key, item.entry.jobId, txHash); },
        onDone: (items, error) => {
          for (const item of items) {
            if (error) void this.recordFailure(item.key, item.entry.jobId, error);
            this.opts.wake(item.key);
          }
        },
      });
    }
  }

  stop(): void {
    this.batcher?.stop();
  }

  private tokenOf(job: AIJob): TokenConfig | undefined {
    const payment = job.spec.payment;
    if (!payment || !this.opts.config) return undefined;
    return resolveToken(this.opts.config.tokens, payment.token);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const job = this.opts.get(key);
    if (!job || job.metadata.deletionTimestamp) return {};
    const token = this.tokenOf(job);
    const decimals = token?.decimals ?? DEFAULT_DECIMALS;
    const cost = meterJob(job.status ?? {}, decimals);
    const costNow = job.spec.payment ? costStatus(cost, job.spec.payment.token, decimals) : { amount: fromBaseUnits(cost.total, decimals) };
    const withCost = (status: AIJobStatus): AIJobStatus => (isDeepStrictEqual(status.cost, costNow) ? status : { ...status, cost: costNow });

    const phase = job.status?.phase ?? '';
    const settles = Boolean(job.spec.payment) && ENDED.has(phase);
    if (!settles) {
      // Cost changes only when an attempt closes: before that there is nothing to write (a write
      // per fresh job would also race the AIJob controller's own status writes into 409s).
      const anyClosed = (job.status?.attempts ?? []).some((a) => a.endTime);
      if (anyClosed && phase !== 'Settled' && !isDeepStrictEqual(job.status?.cost, costNow)) {
        await this.opts.writer.update(job, (j) => (j.status?.phase === 'Settled' ? undefined : withCost(j.status ?? {})));
      }
      return {};
    }

    const { chain, config } = this.opts;
    const settled = (status: 'False' | 'True', reason: string, message: string, extra: Partial<AIJobStatus> = {}) =>
      this.opts.writer.update(job, (j) => {
        if (!ENDED.has(j.status?.phase ?? '')) return undefined;
        return { ...withCondition(withCost(j.status ?? {}), 'Settled', status, reason, message, this.now(), j.metadata.generation), ...extra };
      });
    if (!chain || !config || !token) {
      await settled('False', 'SettlementFailed', !chain ? 'payments are not configured on this operator (FLOTILLA_CHAIN_RPC is unset)' : `spec.payment.token ${job.spec.payment?.token} is not configured`);
      return {};
    }
    if (!chain.address || !this.batcher) {
      await settled('False', 'SettlementFailed', 'no settlement key is configured (FLOTILLA_SETTLEMENT_KEY_FILE)');
      return {};
    }

    const id = escrowJobIdOf(job.metadata.uid ?? '');
    const intent = job.status?.settlement;
    try {
      if (!intent?.id) return await this.writeIntent(key, job, id, token, cost, withCost);
      return await this.check(key, job, intent, token);
    } catch (err) {
      if (!isChainUnavailable(err)) throw err;
      this.opts.log('warn', 'chain unreachable; settlement retried later', { job: key, error: errorMessage(err) });
      await settled('False', 'ChainUnreachable', `the chain did not answer (${errorMessage(err)}); settling ${id} when it is back`);
      return { requeueAfterMs: config.pollMs };
    }
  }

  /** Step 1: the split, written to status before anything is sent. */
  private async writeIntent(key: string, job: AIJob, id: string, token: TokenConfig, cost: ReturnType<typeof meterJob>, withCost: (s: AIJobStatus) => AIJobStatus): Promise<ReconcileResult> {
    const chain = this.opts.chain as EscrowClient;
    const deposit = await chain.deposit(id);
    const notSettling = (reason: string, message: string) => this.opts.writer.update(job, (j) =>
      ENDED.has(j.status?.phase ?? '') && !j.status?.settlement?.id ? withCondition(withCost(j.status ?? {}), 'Settled', 'False', reason, message, this.now(), j.metadata.generation) : undefined);
    if (deposit.status === 'None' || deposit.status === 'Reclaimed') {
      await notSettling(deposit.status === 'None' ? 'SettlementFailed' : 'Reclaimed', deposit.status === 'None' ? `no escrow deposit under ${id}` : `the payer reclaimed the deposit under ${id} after its deadline`);
      return { requeueAfterMs: 60_000 };
    }
    let split;
    try {
      const payouts = await this.payoutAddresses(cost.attempts.filter((a) => a.cost > 0n).map((a) => a.provider));
      split = splitSettlement(cost, (p) => payouts.get(p), deposit.deposit);
    } catch (err) {
      if (!(err instanceof SettlementSplitError)) throw err;
      await notSettling('NotMetered', err.message);
      return { requeueAfterMs: 10_000 };
    }
    const settlement: Settlement = { id, amounts: settlementAmountsStatus(split, token.decimals), refund: fromBaseUnits(split.refund, token.decimals) };
    const paid = split.shares.map((s) => `${fromBaseUnits(s.amount, token.decimals)} to ${s.provider}`).join(', ') || 'nothing to providers';
    const message = `settling ${id}: ${paid}; refund ${settlement.refund} ${job.spec.payment?.token}${split.capped ? ' (cost capped at the deposit)' : ''}`;
    const written = await this.opts.writer.update(job, (j) => {
      if (!ENDED.has(j.status?.phase ?? '') || j.status?.settlement?.id) return undefined;
      return { ...withCondition(withCost(j.status ?? {}), 'Settled', 'False', 'SettlementPending', message, this.now(), j.metadata.generation), settlement };
    });
    this.opts.log('info', 'settlement intent written', { job: key, id, amounts: settlement.amounts, refund: settlement.refund });
    // Go on with the job as written (or as it is now if someone else won the race).
    if (written?.status?.settlement?.id) return this.check(key, written, written.status.settlement, token);
    return { requeueAfterMs: 0 };
  }

  /** Step 2: what the contract says about the settlement id. */
  private async check(key: string, job: AIJob, intent: Settlement, token: TokenConfig): Promise<ReconcileResult> {
    const chain = this.opts.chain as EscrowClient;
    const id = intent.id as string;
    const onChain = await chain.settlementOf(id);
    switch (onChain.status) {
      case 'Settled': {
        const event = await chain.settledEvent(id, onChain.closedAtBlock);
        const txHash = event?.txHash ?? intent.txHash;
        const message = `settled in ${txHash ?? 'an unknown transaction'} (block ${onChain.closedAtBlock}, ${this.opts.config?.confirmations ?? 1} confirmation(s))`;
        if (event) {
          const expected = (intent.amounts ?? []).map((a) => `${a.payoutAddress?.toLowerCase()}=${toBaseUnits(a.amount, token.decimals)}`);
          const actual = event.providers.map((p, i) => `${p.toLowerCase()}=${event.amounts[i]}`);
          if (!isDeepStrictEqual(expected, actual)) this.opts.log('error', 'the settlement on chain differs from status.settlement', { job: key, id, expected, actual });
        }
        await this.opts.writer.update(job, (j) => {
          if (!ENDED.has(j.status?.phase ?? '')) return undefined;
          const s = withCondition(j.status ?? {}, 'Settled', 'True', 'SettlementConfirmed', message, this.now(), j.metadata.generation);
          return { ...s, phase: 'Settled', settlement: { ...j.status?.settlement, ...(txHash ? { txHash } : {}) } };
        });
        this.opts.log('info', 'job settled', { job: key, id, txHash, block: onChain.closedAtBlock });
        return {};
      }
      case 'Open':
        if (!this.batcher?.has(id)) {
          this.batcher?.submit({ key, entry: entryOf(intent, token) });
          this.opts.log('info', 'settlement queued', { job: key, id });
        }
        return { requeueAfterMs: Math.max(2_000, this.opts.config?.pollMs ?? 5_000) };
      case 'Reclaimed':
        await this.mark(job, 'Reclaimed', `the payer reclaimed the deposit under ${id} after its deadline; nothing was paid`);
        return {};
      default:
        await this.mark(job, 'SettlementFailed', `no escrow deposit under ${id} on this chain`);
        return { requeueAfterMs: 60_000 };
    }
  }

  private mark(job: AIJob, reason: string, message: string) {
    return this.opts.writer.update(job, (j) => (ENDED.has(j.status?.phase ?? '') ? withCondition(j.status ?? {}, 'Settled', 'False', reason, message, this.now(), j.metadata.generation) : undefined));
  }

  /** After the node accepted the transaction: its hash in status (best effort; the chain is the record). */
  private async recordSent(key: string, id: string, txHash: string): Promise<void> {
    const job = this.opts.get(key);
    if (!job) return;
    const confirmations = this.opts.config?.confirmations ?? 1;
    await this.opts.writer.update(job, (j) => {
      if (!ENDED.has(j.status?.phase ?? '') || j.status?.settlement?.id !== id || conditionOf(j, 'Settled')?.status === 'True') return undefined;
      const s = withCondition(j.status ?? {}, 'Settled', 'False', 'SettlementPending', `sent ${id} in ${txHash}; waiting for ${confirmations} confirmation(s)`, this.now(), j.metadata.generation);
      return { ...s, settlement: { ...j.status?.settlement, txHash } };
    }).catch((err: unknown) => this.opts.log('warn', 'could not record the settlement transaction', { job: key, txHash, error: errorMessage(err) }));
  }

  private async recordFailure(key: string, id: string, error: unknown): Promise<void> {
    const job = this.opts.get(key);
    if (!job) return;
    const unavailable = isChainUnavailable(error);
    await this.opts.writer.update(job, (j) => {
      if (!ENDED.has(j.status?.phase ?? '') || j.status?.settlement?.id !== id) return undefined;
      return withCondition(j.status ?? {}, 'Settled', 'False', unavailable ? 'ChainUnreachable' : 'SettlementFailed', `settling ${id} failed: ${errorMessage(error)}`, this.now(), j.metadata.generation);
    }).catch((err: unknown) => this.opts.log('warn', 'could not record the settlement failure', { job: key, error: errorMessage(err) }));
  }

  private async payoutAddresses(names: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const name of new Set(names)) {
      try {
        const p = (await this.providers.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name })) as GPUProvider;
        if (p.spec.payoutAddress) out.set(name, p.spec.payoutAddress);
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
      }
    }
    return out;
  }
}

/** The contract call for a written intent: exactly the amounts in status, in base units. */
export function entryOf(intent: Settlement, token: TokenConfig): SettlementEntry {
  const amounts = intent.amounts ?? [];
  return {
    jobId: intent.id as string,
    providers: amounts.map((a) => a.payoutAddress as string),
    amounts: amounts.map((a) => toBaseUnits(a.amount, token.decimals)),
  };
}

interface BatchItem {
  readonly key: string;
  readonly entry: SettlementEntry;
}

interface BatcherOptions {
  readonly chain: EscrowClient;
  readonly windowMs: number;
  readonly max: number;
  readonly log: Logger;
  readonly failpoint?: string;
  readonly onSent: (items: readonly BatchItem[], txHash: string) => void;
  /** After confirmation (error undefined) or failure. */
  readonly onDone: (items: readonly BatchItem[], error?: unknown) => void;
}

/**
 * Collects settlement intents for a short window and sends them as one settleBatch. A batch the
 * contract would revert (one bad entry reverts all) is split: each entry is then sent on its own,
 * so one bad job cannot hold the others back.
 */
export class SettlementBatcher {
  private readonly opts: BatcherOptions;
  private readonly pending = new Map<string, BatchItem>();
  private readonly inflight = new Set<string>();
  private readonly alone = new Set<string>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(opts: BatcherOptions) {
    this.opts = opts;
  }

  has(jobId: string): boolean {
    return this.pending.has(jobId) || this.inflight.has(jobId);
  }

  submit(item: BatchItem): void {
    if (this.stopped || this.has(item.entry.jobId)) return;
    if (this.alone.has(item.entry.jobId)) {
      void this.send([item]);
      return;
    }
    this.pending.set(item.entry.jobId, item);
    if (this.pending.size >= this.opts.max) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.opts.windowMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.pending.clear();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.pending.size > 0) {
      const items = [...this.pending.values()].slice(0, this.opts.max);
      for (const item of items) this.pending.delete(item.entry.jobId);
      void this.send(items);
    }
  }

  private async send(items: readonly BatchItem[]): Promise<void> {
    for (const item of items) this.inflight.add(item.entry.jobId);
    const ids = items.map((i) => i.entry.jobId);
    let error: unknown;
    try {
      const tx = await this.opts.chain.sendSettleBatch(items.map((i) => i.entry));
      if (this.opts.failpoint === FAILPOINT_AFTER_SETTLE_SEND) {
        this.opts.log('warn', 'failpoint after-settle-send: exiting right after the settlement was sent', { txHash: tx.hash, jobIds: ids });
        process.exit(137);
      }
      this.opts.log('info', 'settlement sent', { txHash: tx.hash, jobs: ids.length, jobIds: ids });
      this.opts.onSent(items, tx.hash);
      const receipt = await this.opts.chain.confirmed(tx);
      this.opts.log('info', 'settlement confirmed', { txHash: tx.hash, block: receipt.blockNumber, gasUsed: String(receipt.gasUsed), jobs: ids.length });
    } catch (err) {
      error = err;
      if (err instanceof ChainRevertError && items.length > 1) {
        // One bad entry reverts the batch: settle each alone from now on, and find the culprit.
        this.opts.log('warn', 'settlement batch would revert; sending its entries one by one', { jobIds: ids, error: err.message });
        for (const id of ids) this.alone.add(id);
        error = undefined;
      } else {
        this.opts.log('warn', 'settlement failed', { jobIds: ids, error: errorMessage(err) });
      }
    } finally {
      for (const id of ids) this.inflight.delete(id);
    }
    this.opts.onDone(items, error);
  }
}
