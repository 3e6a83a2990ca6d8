// Exactly-once settlement.
//
// status.cost (what the closed attempts cost, operator/core/metering.ts) is the lifecycle's: it is
// written in the status write that closes an attempt. The split paid here is metered from the same
// attempts. A job with spec.payment is settled once its work is over: it reached
// Succeeded or Failed, or it is being deleted and the lifecycle has closed its attempt (metering
// what was done). Deleting a funded job waits for this: the funding controller put the settlement
// finalizer (flotilla.dev/settlement) on it, and only this controller removes it, once the escrow
// is closed.
//
//   1. check    FlotillaEscrow.settlementOf(id) at the confirmed block, id = escrowJobIdOf(uid)
//               (derived from the uid every time, never read from status):
//                 Settled   → it landed (now or before a crash): record the Settled event's tx hash
//                             and amounts, Settled=True, phase Settled, drop the finalizer. Never
//                             send again.
//                 Reclaimed → the payer took the deposit back after the deadline: Settled=False,
//                             drop the finalizer.
//                 None      → no deposit under the id: Settled=False (SettlementFailed), drop it.
//                 Open      → 2.
//   2. derive   split the metered cost of the attempts between their providers (payout address
//               from each GPUProvider, read now), capped at the deposit read now. status.settlement
//               is a record of this, rewritten when it says anything else — never the instruction.
//               The record is written BEFORE anything is sent.
//   3. send     the batcher collects derived entries for FLOTILLA_SETTLEMENT_BATCH_MS and sends one
//               settleBatch (entries already settled are skipped by the contract, so a resend after
//               a crash is harmless); records the tx hash; when it is confirmed, step 1 runs again
//               and finishes the job.
//
//   0. slash    a job whose verification proved an attempt wrong (status.verification.liar,
//               docs/verification.md): the liar's bond is slashed once — FlotillaEscrow.slash,
//               guarded by slashedOf(id) on chain — half to the verifying run's provider, half to
//               the payer. status.settlement.slash records the intent before it is sent and the
//               transaction after. (The liar's attempt already bills nothing: the lifecycle zeroed
//               it with the verdict, so step 2 pays it nothing.)
//
// Chain unreachable anywhere: Settled=False (ChainUnreachable), the phase stays Succeeded/Failed,
// and the job is looked at again every FLOTILLA_CHAIN_POLL_MS until the chain answers.
//
// FLOTILLA_FAILPOINT=after-settle-send (operator/runtime/failpoint.ts) kills the process right
// after the node accepted a settlement transaction and before anything is written: the crash the
// exactly-once test replays.
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { GPUPROVIDER, GROUP, VERSION } from '../api/group.ts';
import type { AIJob, AIJobStatus, GPUProvider } from '../api/types.ts';
import { openAttempt } from '../core/lifecycle/plan.ts';
import { isFinishedPhase } from '../core/lifecycle/phases.ts';
import { sameJson } from '../core/json.ts';
import { meterJob, settlementAmountsStatus, splitSettlement, SettlementSplitError } from '../core/metering.ts';
import type { JobCost } from '../core/metering.ts';
import { fromBaseUnits, toBaseUnits } from '../core/money.ts';
import { failpoint } from '../runtime/failpoint.ts';
import { errorMessage } from '../log.ts';
import type { Logger } from '../log.ts';
import type { ReconcileResult } from '../runtime/work-queue.ts';
import { resolveToken } from './chain-config.ts';
import type { ChainConfig, TokenConfig } from './chain-config.ts';
import { ChainRevertError, escrowJobIdOf, isChainUnavailable } from './escrow-client.ts';
import type { EscrowClient, SettlementEntry } from './escrow-client.ts';
import { conditionOf, holdsSettlement, SETTLEMENT_FINALIZER, withCondition } from './job-status.ts';
import type { JobStatusWriter } from './job-status.ts';

export interface SettlementControllerOptions {
  readonly hub: KubeConfig;
  readonly writer: JobStatusWriter;
  readonly get: (key: string) => AIJob | undefined;
  /** Wakes a job again (the work queue's add). */
  readonly wake: (key: string) => void;
  /** Absent: payments off; only cost is metered. A client without a key cannot settle. */
  readonly chain?: EscrowClient;
  readonly config?: ChainConfig;
  /** Token units slashed from a proven liar's bond (docs/verification.md); absent: "100". */
  readonly slashAmount?: string;
  readonly log: Logger;
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
        onSent: (items, txHash) => {
          for (const item of items) void this.recordSent(item.key, item.entry.jobId, txHash);
        },
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
    if (!job) return {};
    const deleting = Boolean(job.metadata.deletionTimestamp);
    const held = holdsSettlement(job);
    // A job being deleted is ours only while our finalizer holds it: until its work is settled.
    if (deleting && !held) return {};
    const token = this.tokenOf(job);
    const phase = job.status?.phase ?? '';
    if (phase === 'Settled') {
      if (held) await this.release(key, job, 'settled');
      return {};
    }
    if (!job.spec.payment && held) {
      // Only funded jobs are held; an unpaid one has nothing to wait for, whoever put it there.
      await this.release(key, job, 'no spec.payment');
      return {};
    }
    // status.cost is not written here: the lifecycle writes it with the attempts it meters
    // (AIJobStore costOf), in the same write — one of its own raced the lifecycle's next write.
    if (!job.spec.payment || !settleable(job)) {
      // Being deleted with an attempt still open: the lifecycle closes it (metering what was done)
      // as it stops the pods; settlement follows.
      if (deleting) return { requeueAfterMs: 2_000 };
      return {};
    }

    const { chain, config } = this.opts;
    const settled = (status: 'False' | 'True', reason: string, message: string) =>
      this.opts.writer.update(job, (j) =>
        settleable(j) ? withCondition(j.status ?? {}, 'Settled', status, reason, message, this.now(), j.metadata.generation) : undefined,
      );
    if (!chain || !config || !token) {
      await settled(
        'False',
        'SettlementFailed',
        !chain
          ? 'payments are not configured on this operator (FLOTILLA_CHAIN_RPC is unset)'
          : `spec.payment.token ${job.spec.payment.token} is not configured`,
      );
      return {};
    }
    if (!chain.address || !this.batcher) {
      await settled('False', 'SettlementFailed', 'no settlement key is configured (FLOTILLA_SETTLEMENT_KEY_FILE)');
      return {};
    }

    // Derived here, every time: never taken from status.settlement (a record, not an instruction).
    const cost = meterJob(job.status ?? {}, token.decimals);
    const id = escrowJobIdOf(job.metadata.uid ?? '');
    try {
      await this.slashProven(key, job, id, token);
      return await this.settle(key, job, id, token, cost);
    } catch (err) {
      if (!isChainUnavailable(err)) throw err;
      this.opts.log('warn', 'chain unreachable; settlement retried later', { job: key, error: errorMessage(err) });
      await settled('False', 'ChainUnreachable', `the chain did not answer (${errorMessage(err)}); settling ${id} when it is back`);
      return { requeueAfterMs: config.pollMs };
    }
  }

  /**
   * What the contract says about the id decides:
   *   Settled   → it landed (now or before a crash): record the transaction; never send again.
   *   Open      → derive the split from the attempts, the GPUProviders' payout addresses and the
   *               deposit; record it in status (before anything is sent); queue exactly that.
   *   Reclaimed / None → nothing can be paid any more.
   * Every outcome that closes the escrow releases the settlement finalizer.
   */
  private async settle(key: string, job: AIJob, id: string, token: TokenConfig, cost: JobCost): Promise<ReconcileResult> {
    const chain = this.opts.chain as EscrowClient;
    const onChain = await chain.settlementOf(id);
    switch (onChain.status) {
      case 'Settled':
        await this.recordLanded(key, job, id, token, cost, onChain.closedAtBlock);
        return {};
      case 'Reclaimed':
        await this.mark(job, 'Reclaimed', `the payer reclaimed the deposit under ${id} after its deadline; nothing was paid`);
        await this.release(key, job, 'escrow reclaimed');
        return {};
      case 'None':
        await this.mark(job, 'SettlementFailed', `no escrow deposit under ${id} on this chain`);
        await this.release(key, job, 'no escrow deposit');
        return {};
      default:
        break;
    }
    const derived = await this.derive(id, token, cost);
    if ('error' in derived) {
      await this.mark(job, 'NotMetered', derived.error);
      return { requeueAfterMs: 10_000 };
    }
    const { record, entry, message } = derived;
    const current = job.status?.settlement;
    let written: AIJob | undefined = job;
    if (!sameRecord(current, record)) {
      if (current?.id || current?.amounts) {
        this.opts.log(
          current.id === id && current.txHash ? 'info' : 'warn',
          'status.settlement differs from what the attempts and the deposit say; recording and sending the derived split',
          { job: key, id, recorded: current, derived: record },
        );
      }
      written = await this.opts.writer.update(job, (j) => {
        if (!settleable(j)) return undefined;
        // A transaction hash is kept only when it was recorded for this very split.
        const txHash = sameRecord(j.status?.settlement, record) ? j.status?.settlement?.txHash : undefined;
        return {
          ...withCondition(j.status ?? {}, 'Settled', 'False', 'SettlementPending', message, this.now(), j.metadata.generation),
          settlement: { ...record, ...(txHash ? { txHash } : {}), ...(j.status?.settlement?.slash ? { slash: j.status.settlement.slash } : {}) },
        };
      });
      if (!written) return {};
      this.opts.log('info', 'settlement intent written', { job: key, id, amounts: record.amounts, refund: record.refund });
    }
    if (!this.batcher?.has(id)) {
      this.batcher?.submit({ key, entry });
      this.opts.log('info', 'settlement queued', { job: key, id });
    }
    return { requeueAfterMs: Math.max(2_000, this.opts.config?.pollMs ?? 5_000) };
  }

  /**
   * Step 0: the bond of a provider whose run was proven wrong is slashed, exactly once (the
   * contract refuses a second slash of the same job id, and slashedOf(id) is read first).
   */
  private async slashProven(key: string, job: AIJob, id: string, token: TokenConfig): Promise<void> {
    const v = job.status?.verification;
    const recorded = job.status?.settlement?.slash;
    if (!v?.liar || !v.verifier || recorded?.txHash) return;
    const chain = this.opts.chain as EscrowClient;
    const payouts = await this.payoutAddresses([v.liar.provider, v.verifier.provider]);
    const liar = payouts.get(v.liar.provider);
    const verifier = payouts.get(v.verifier.provider);
    if (!liar || !verifier) {
      this.opts.log('warn', 'cannot slash: a GPUProvider of the verdict has no payout address (deleted?)', { job: key, liar: v.liar, verifier: v.verifier });
      return;
    }
    const amount = toBaseUnits(this.opts.slashAmount ?? '100', token.decimals);
    const intent = { provider: v.liar.provider, payoutAddress: liar, verifier, amount: fromBaseUnits(amount, token.decimals) };
    if (!recorded) {
      // The intent first, as for the settlement itself: a crash after sending leaves a record.
      const written = await this.opts.writer.update(job, (j) =>
        j.status?.settlement?.slash ? undefined : { ...(j.status ?? {}), settlement: { ...(j.status?.settlement ?? {}), slash: intent } },
      );
      if (written) job = written;
    }
    // Slashed before (an earlier try landed, its hash unrecorded): nothing more to do or to record.
    let result;
    try {
      result = (await chain.slashedOf(id)) ? ({ already: true } as const) : await chain.slash(id, liar, verifier, amount);
    } catch (err) {
      // A revert is final (no retry makes it land): the honest providers' settlement must not wait on it.
      if (!(err instanceof ChainRevertError)) throw err;
      this.opts.log('error', 'slashing the proven liar reverted; settling without the slash', {
        job: key,
        id,
        provider: v.liar.provider,
        error: errorMessage(err),
      });
      return;
    }
    if (result.already) return;
    const slash = { ...intent, amount: fromBaseUnits(result.slashed, token.decimals), txHash: result.txHash };
    this.opts.log('warn', 'proven liar slashed', { job: key, id, ...slash });
    await this.opts.writer.update(job, (j) =>
      j.status?.settlement?.slash?.txHash ? undefined : { ...(j.status ?? {}), settlement: { ...(j.status?.settlement ?? {}), slash } },
    );
  }

  /** The split as it must be paid now: metered attempts, payout addresses, the deposit on chain. */
  private async derive(
    id: string,
    token: TokenConfig,
    cost: JobCost,
  ): Promise<{ record: Settlement; entry: SettlementEntry; message: string } | { error: string }> {
    const chain = this.opts.chain as EscrowClient;
    const deposit = await chain.deposit(id);
    let split;
    try {
      const payouts = await this.payoutAddresses(cost.attempts.filter((a) => a.cost > 0n).map((a) => a.provider));
      split = splitSettlement(cost, (p) => payouts.get(p), deposit.deposit);
    } catch (err) {
      if (!(err instanceof SettlementSplitError)) throw err;
      return { error: err.message };
    }
    const record: Settlement = { id, amounts: settlementAmountsStatus(split, token.decimals), refund: fromBaseUnits(split.refund, token.decimals) };
    const entry: SettlementEntry = { jobId: id, providers: split.shares.map((s) => s.payoutAddress), amounts: split.shares.map((s) => s.amount) };
    const paid = split.shares.map((s) => `${fromBaseUnits(s.amount, token.decimals)} to ${s.provider}`).join(', ') || 'nothing to providers';
    const message = `settling ${id}: ${paid}; refund ${record.refund} ${token.symbol}${split.capped ? ' (cost capped at the deposit)' : ''}`;
    return { record, entry, message };
  }

  /** The id is Settled on chain: record the transaction (and, if status says otherwise, what was paid). */
  private async recordLanded(key: string, job: AIJob, id: string, token: TokenConfig, cost: JobCost, block: number): Promise<void> {
    const chain = this.opts.chain as EscrowClient;
    const event = await chain.settledEvent(id, block);
    const txHash = event?.txHash ?? job.status?.settlement?.txHash;
    const message = `settled in ${txHash ?? 'an unknown transaction'} (block ${block}, ${this.opts.config?.confirmations ?? 1} confirmation(s))`;
    // The chain is the record: status.settlement shows what the Settled event paid (provider names
    // and address spelling from the split derived now), whatever status said before.
    const derived = await this.derive(id, token, cost);
    let record: Settlement | undefined = 'error' in derived ? undefined : derived.record;
    if (event) {
      const known = new Map((record?.amounts ?? []).map((a) => [a.payoutAddress?.toLowerCase(), a]));
      const paid: Settlement = {
        id,
        amounts: event.providers.map((p, i) => ({
          provider: known.get(p.toLowerCase())?.provider ?? 'unknown',
          payoutAddress: known.get(p.toLowerCase())?.payoutAddress ?? p,
          amount: fromBaseUnits(event.amounts[i] ?? 0n, token.decimals),
        })),
        refund: fromBaseUnits(event.refund, token.decimals),
      };
      if (record && !sameRecord(record, paid))
        this.opts.log('error', 'the settlement on chain differs from the split derived now', { job: key, id, derived: record, onChain: paid });
      record = paid;
    }
    await this.opts.writer.update(job, (j) => {
      if (!settleable(j)) return undefined;
      const s = withCondition(j.status ?? {}, 'Settled', 'True', 'SettlementConfirmed', message, this.now(), j.metadata.generation);
      const slash = j.status?.settlement?.slash;
      return { ...s, phase: 'Settled', settlement: { ...(record ?? {}), id, ...(txHash ? { txHash } : {}), ...(slash ? { slash } : {}) } };
    });
    this.opts.log('info', 'job settled', { job: key, id, txHash, block });
    await this.release(key, job, 'settled');
  }

  private mark(job: AIJob, reason: string, message: string) {
    return this.opts.writer.update(job, (j) =>
      settleable(j) ? withCondition(j.status ?? {}, 'Settled', 'False', reason, message, this.now(), j.metadata.generation) : undefined,
    );
  }

  /** Drops the settlement finalizer: the escrow is closed (settled, reclaimed) or never existed. */
  private async release(key: string, job: AIJob, why: string): Promise<void> {
    const fresh = this.opts.get(key) ?? job;
    if (!holdsSettlement(fresh)) return;
    await this.opts.writer.setFinalizer(fresh, SETTLEMENT_FINALIZER, false);
    this.opts.log('info', 'settlement finalizer removed', { job: key, why, deleting: Boolean(fresh.metadata.deletionTimestamp) });
  }

  /** After the node accepted the transaction: its hash in status (best effort; the chain is the record). */
  private async recordSent(key: string, id: string, txHash: string): Promise<void> {
    const job = this.opts.get(key);
    if (!job) return;
    const confirmations = this.opts.config?.confirmations ?? 1;
    await this.opts.writer
      .update(job, (j) => {
        if (!settleable(j) || j.status?.settlement?.id !== id || conditionOf(j, 'Settled')?.status === 'True') return undefined;
        const s = withCondition(
          j.status ?? {},
          'Settled',
          'False',
          'SettlementPending',
          `sent ${id} in ${txHash}; waiting for ${confirmations} confirmation(s)`,
          this.now(),
          j.metadata.generation,
        );
        return { ...s, settlement: { ...j.status?.settlement, txHash } };
      })
      .catch((err: unknown) => this.opts.log('warn', 'could not record the settlement transaction', { job: key, txHash, error: errorMessage(err) }));
  }

  private async recordFailure(key: string, id: string, error: unknown): Promise<void> {
    const job = this.opts.get(key);
    if (!job) return;
    const unavailable = isChainUnavailable(error);
    await this.opts.writer
      .update(job, (j) => {
        if (!settleable(j) || j.status?.settlement?.id !== id) return undefined;
        return withCondition(
          j.status ?? {},
          'Settled',
          'False',
          unavailable ? 'ChainUnreachable' : 'SettlementFailed',
          `settling ${id} failed: ${errorMessage(error)}`,
          this.now(),
          j.metadata.generation,
        );
      })
      .catch((err: unknown) => this.opts.log('warn', 'could not record the settlement failure', { job: key, error: errorMessage(err) }));
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

/** A job whose work is over and can be settled: it ended, or it is being deleted and its attempt is closed. */
export function settleable(job: AIJob): boolean {
  const phase = job.status?.phase ?? '';
  if (isFinishedPhase(phase)) return true;
  return Boolean(job.metadata.deletionTimestamp) && phase !== 'Settled' && !openAttempt(job.status);
}

/** Same id, amounts and refund (the transaction hash aside). */
function sameRecord(a: Settlement | undefined, b: Settlement | undefined): boolean {
  const norm = (s: Settlement | undefined) => ({
    id: s?.id,
    amounts: (s?.amounts ?? []).map((x) => ({ provider: x.provider, payoutAddress: x.payoutAddress?.toLowerCase(), amount: x.amount })),
    refund: s?.refund,
  });
  return sameJson(norm(a), norm(b));
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
  private timer?: NodeJS.Timeout | undefined;
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
      const sentAt = new Date().toISOString();
      const tx = await this.opts.chain.sendSettleBatch(items.map((i) => i.entry));
      failpoint('after-settle-send', { txHash: tx.hash, jobIds: ids });
      this.opts.log('info', 'settlement sent', { txHash: tx.hash, jobs: ids.length, jobIds: ids, sentAt });
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
