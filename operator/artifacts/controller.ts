// The artifacts controller: pins what jobs produce on the hub's Kubo and writes their provenance
// receipts. It owns the OutputPinned condition and status.receiptCID, nothing else. OutputPinned is
// a JSON patch testing the condition it replaces and the outputCID it names; the receipt (built from
// the whole job) carries a resourceVersion precondition. Either way a stale view fails with 409 and
// is retried, so it never overwrites what the AIJob controller wrote in between.
//
//   AIJob informer (hub) ─▶ work queue (per-key serial, backoff) ─▶ reconcile(key)
//     1. pin status.outputCID (spec.output.pin) ─▶ OutputPinned True/Pinned | False/PinFailed
//     2. pin every attempts[].checkpointCID
//     3. job over (and settled when paid)? pin the inputs, sign the receipt, add + pin it ─▶ status.receiptCID
//     4. deleted with flotilla.dev/unpin-on-delete=true? unpin what no other job uses ─▶ drop finalizer
//
// Kubo down: pins fail fast as "unreachable", the condition says so, the queue retries with
// backoff, and the job catches up when Kubo answers again. Pinning is idempotent in Kubo and the
// receipt's bytes are deterministic, so a retry or a restart never adds a second pin.
import type { KubeConfig } from '@kubernetes/client-node';
import type { AIJob } from '../api/types.ts';
import { guardedStatusPatch } from '../core/status-patch.ts';
import { setCondition } from '../core/conditions.ts';
import { AIJobStore, jobKey } from '../hub/aijob-store.ts';
import type { SharedJobInformer } from '../hub/aijob-store.ts';
import { errorMessage } from '../log.ts';
import type { Logger } from '../log.ts';
import { failpoint } from '../runtime/failpoint.ts';
import { assertLeading } from '../runtime/lease-guard.ts';
import { WorkQueue } from '../runtime/work-queue.ts';
import type { ReconcileResult } from '../runtime/work-queue.ts';
import { recordPin } from '../telemetry/metrics.ts';
import type { PinKind } from '../telemetry/metrics.ts';
import type { KuboNode } from './kubo.ts';
import { Pinner } from './pinner.ts';
import type { PinnerOptions } from './pinner.ts';
import { ARTIFACTS_FINALIZER, conditionDiffers, jobPins, outputAlreadyPinned, outputPinnedCondition, releasablePins, wantsUnpinOnDelete } from './plan.ts';
import { buildReceipt, receiptDocument, receiptDue, referencedCids, signReceipt } from './receipt.ts';
import type { ReceiptSigner } from './receipt.ts';

export interface ArtifactsControllerOptions {
  readonly hub: KubeConfig;
  /** The hub's Kubo. */
  readonly kubo: KuboNode;
  /** Signs receipts; without it no receipt is written (pins still are). */
  readonly signer?: ReceiptSigner;
  readonly watchNamespace?: string;
  /** The process's one AIJob informer (HubView), read instead of a watch of this controller's own. */
  readonly sharedJobs?: SharedJobInformer;
  /** This operator's name: only jobs it claimed are pinned for here (core/lifecycle/claim.ts); every job in view still keeps its pins. */
  readonly owner?: string;
  readonly workers?: number;
  readonly pinner?: Partial<PinnerOptions>;
  /** Work-queue retry backoff of a job whose pins failed. */
  readonly retry?: { readonly baseMs: number; readonly maxMs: number };
  readonly log: Logger;
  readonly now?: () => Date;
}

const MAX_REMEMBERED_PINS = 10_000;

class RetryLater extends Error {
  override readonly name = 'RetryLater';
}

export class ArtifactsController {
  readonly store: AIJobStore;
  readonly queue: WorkQueue;
  readonly pinner: Pinner;
  private readonly opts: ArtifactsControllerOptions;
  private readonly now: () => Date;
  /** CIDs this process has pinned or seen pinned: a later pass does not ask Kubo again. */
  private readonly pinned = new Set<string>();

  constructor(opts: ArtifactsControllerOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => new Date());
    this.pinner = new Pinner(opts.kubo, opts.pinner);
    this.store = new AIJobStore(opts.hub, {
      component: 'flotilla-artifacts',
      ...(opts.watchNamespace ? { namespace: opts.watchNamespace } : {}),
      ...(opts.owner ? { owner: opts.owner, claimedOnly: true } : {}),
      ...(opts.sharedJobs ? { shared: opts.sharedJobs } : {}),
      onEvent: (_type, job) => this.queue.add(jobKey(job.metadata.namespace ?? '', job.metadata.name ?? '')),
      onState: (state) => {
        if (state.error) opts.log('warn', 'hub AIJob watch failed; restarting with backoff', { error: errorMessage(state.error), restarts: state.restarts });
      },
    });
    this.queue = new WorkQueue({
      workers: opts.workers ?? 4,
      baseBackoffMs: opts.retry?.baseMs ?? 1_000,
      maxBackoffMs: opts.retry?.maxMs ?? 30_000,
      onError: (key, err, retryInMs) =>
        opts.log(err instanceof RetryLater ? 'info' : 'warn', 'artifacts reconcile incomplete; retrying', { job: key, error: errorMessage(err), retryInMs }),
    });
  }

  start(): void {
    this.store.start();
    this.queue.start((key) => this.reconcile(key));
    this.opts.log('info', 'artifacts controller started', { kubo: this.opts.kubo.api, receipts: this.opts.signer ? 'signed' : 'off (no receipt key)' });
  }

  stop(): void {
    this.store.stop();
    this.queue.shutdown();
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    let job = this.store.get(key);
    if (!job) return {};
    try {
      if (job.metadata.deletionTimestamp) {
        await this.release(key, job);
        return {};
      }
      if (wantsUnpinOnDelete(job) && !(job.metadata.finalizers ?? []).includes(ARTIFACTS_FINALIZER)) {
        job = await this.store.addFinalizer(job, ARTIFACTS_FINALIZER);
      }
      const failures: string[] = [];
      job = await this.pinOutput(key, job, failures);
      await this.pinCheckpoints(key, job, failures);
      if (failures.length === 0) await this.writeReceipt(key, job, failures);
      if (failures.length > 0) throw new RetryLater(failures.join('; '));
      return {};
    } catch (err) {
      // Someone wrote the job since our cache saw it: look again shortly with the newer version.
      if ((err as { code?: number }).code === 409) return { requeueAfterMs: 250 };
      throw err;
    }
  }

  private async pinOnce(cid: string, kind: PinKind): Promise<void> {
    if (this.pinned.has(cid)) return;
    assertLeading(`pin ${cid}`);
    await this.pinner.pin(cid);
    recordPin(kind);
    if (this.pinned.size >= MAX_REMEMBERED_PINS) this.pinned.delete(this.pinned.values().next().value as string);
    this.pinned.add(cid);
  }

  private async pinOutput(key: string, job: AIJob, failures: string[]): Promise<AIJob> {
    const cid = jobPins(job).output;
    if (!cid || outputAlreadyPinned(job, cid)) return job;
    const started = Date.now();
    const outcome = await this.pinOnce(cid, 'output').then(
      () => ({ ok: true as const }),
      (err: unknown) => ({ ok: false as const, message: errorMessage(err) }),
    );
    const update = outputPinnedCondition(cid, outcome);
    if (!outcome.ok) failures.push(update.message);
    else this.opts.log('info', 'output pinned', { job: key, cid, ms: Date.now() - started, sentAt: new Date(started).toISOString() });
    if (outcome.ok) failpoint('after-pin', { job: key, cid });
    if (!conditionDiffers(job.status?.conditions, update)) return job;
    const conditions = setCondition(job.status?.conditions, update, this.now().toISOString(), job.metadata.generation);
    // Tested on the condition it replaces and the output it names (core/status-patch.ts), not the
    // resourceVersion: the lifecycle's write of the same moment (the attempt's pods, Succeeded) does
    // not refuse it. Not expressible (the job's first OutputPinned beside other conditions): as before.
    const ops = guardedStatusPatch(job.status ?? {}, { conditions }, ['outputCID']);
    const written = ops ? await this.store.patchStatusGuarded(job, ops) : await this.store.patchStatus(job, { conditions });
    await this.store
      .recordEvent(written, { type: outcome.ok ? 'Normal' : 'Warning', reason: update.reason, message: update.message })
      .catch((err: unknown) => this.opts.log('warn', 'could not record event', { job: key, error: errorMessage(err) }));
    return written;
  }

  private async pinCheckpoints(key: string, job: AIJob, failures: string[]): Promise<void> {
    const results = await Promise.allSettled(
      jobPins(job).checkpoints.map(async (cid) => {
        try {
          await this.pinOnce(cid, 'checkpoint');
        } catch (err) {
          throw new Error(`checkpoint ${cid}: ${errorMessage(err)}`);
        }
      }),
    );
    for (const r of results) if (r.status === 'rejected') failures.push(errorMessage(r.reason));
    if (failures.length > 0) this.opts.log('warn', 'checkpoint pins failed', { job: key, failures });
  }

  private async writeReceipt(key: string, job: AIJob, failures: string[]): Promise<void> {
    const signer = this.opts.signer;
    if (!signer || !receiptDue(job).due) return;
    const pins = jobPins(job);
    if (pins.output && !outputAlreadyPinned(job, pins.output)) return; // the condition is written first
    const receipt = buildReceipt(job);
    // A receipt names only content the hub keeps: its inputs are pinned here too.
    const results = await Promise.allSettled(
      referencedCids(receipt).map(async (r) => {
        try {
          await this.pinOnce(r.cid, r.what.startsWith('inputs') ? 'input' : r.what === 'outputCID' ? 'output' : 'checkpoint');
        } catch (err) {
          throw new Error(`receipt ${r.what} ${r.cid}: ${errorMessage(err)}`);
        }
      }),
    );
    for (const r of results) if (r.status === 'rejected') failures.push(errorMessage(r.reason));
    if (failures.length > 0) return;
    const signed = await signReceipt(receipt, signer);
    let receiptCID: string;
    try {
      receiptCID = await this.opts.kubo.addBytes(receiptDocument(signed));
    } catch (err) {
      failures.push(`adding the receipt: ${errorMessage(err)}`);
      return;
    }
    this.pinned.add(receiptCID);
    recordPin('receipt');
    const sentAt = this.now().toISOString();
    const written = await this.store.patchStatus(job, { receiptCID });
    this.opts.log('info', 'receipt recorded', { job: key, receiptCID, signer: signed.signer, sentAt });
    await this.store
      .recordEvent(written, { type: 'Normal', reason: 'ReceiptRecorded', message: `provenance receipt ${receiptCID} signed by ${signed.signer}` })
      .catch((err: unknown) => this.opts.log('warn', 'could not record event', { job: key, error: errorMessage(err) }));
  }

  /** A deleted job: unpin per its policy, then let it go. */
  private async release(key: string, job: AIJob): Promise<void> {
    if (!(job.metadata.finalizers ?? []).includes(ARTIFACTS_FINALIZER)) return;
    if (wantsUnpinOnDelete(job)) {
      const cids = releasablePins(job, this.store.list());
      for (const cid of cids) {
        await this.opts.kubo.unpin(cid);
        this.pinned.delete(cid);
      }
      this.opts.log('info', 'pins released with the deleted job', { job: key, unpinned: cids });
    }
    await this.store.removeFinalizer(job, ARTIFACTS_FINALIZER);
  }
}
