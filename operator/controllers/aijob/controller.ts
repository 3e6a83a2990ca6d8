// The AIJob controller: gather → decide → apply, one job at a time per key.
//
//   gather   the AIJob from the hub cache; its pods from the caches of every provider it has used;
//            when it needs a place, the scheduler's verdict (operator/scheduler: a kept index, a
//            queue, reservations) — this controller follows jobs and applies; it never searches
//   decide   planReconcile (operator/core/lifecycle/plan.ts), pure
//   apply    finalizer → status (resourceVersion precondition) → Events → create the attempt's
//            rendezvous Service and pods (their uids are kept here and go to the hub with the
//            attempt's next status write) → delete pods → drop finalizer; any
//            failure throws and the work queue retries with backoff. A gang's Service (gang.ts)
//            goes when its attempt closes, again before the finalizer drops, and the orphan sweep
//            removes any left behind; so do the attempt's copies of hub Secrets (secret-copies.ts),
//            read from the hub before anything is written and created before the Service
//
// Only pods this controller created count (core/lifecycle/ownership.ts): their uids go into
// status.attempts[].pods from the create responses (`unrecorded` until the next status write). A
// pod with the job's labels and another uid is the provider's own: ignored, reported once per uid (Event, metric, reputation penalty) and
// deleted where the provider's credential allows. Times the hub saw itself (a pod first seen, its
// end first seen) are kept here, in memory, and bound what the provider's timestamps can bill.
//
// Wake-ups: AIJob changes, pod changes at any provider (pods carry the job's namespace/name in
// annotations), provider connection changes (unplaced jobs may now fit), and the plan's requeue.
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { AIJob, AIJobStatus } from '../../api/types.ts';
import { claimVerdict } from '../../core/lifecycle/claim.ts';
import { jobDemand } from '../../core/lifecycle/demand.ts';
import { sameJson } from '../../core/json.ts';
import { attemptFieldsPatch } from '../../core/status-patch.ts';
import type { StatusPatchOp } from '../../core/status-patch.ts';
import { FINALIZER, isTerminal, needsPlacement, openAttempt, planReconcile } from '../../core/lifecycle/plan.ts';
import type {
  JobView,
  LifecycleTiming,
  ObservedNode,
  ObservedPod,
  PodCreation,
  ProviderReachability,
  ProviderViolation,
  ReconcilePlan,
} from '../../core/lifecycle/types.ts';
import { recordPods } from '../../core/lifecycle/ownership.ts';
import type { RecordedPod } from '../../core/lifecycle/ownership.ts';
import { closedAttempts } from '../../core/reputation.ts';
import { TerminalSpecError, specField } from '../../core/terminal-error.ts';
import type { AttemptOutcome } from '../../core/reputation.ts';
import { durationSeconds } from '../../core/duration.ts';
import { DEFAULT_COST_DECIMALS, meteredCost } from '../../core/metering.ts';
import {
  checkerJobSpec,
  comparisonOf,
  dependentProviders,
  effectiveVerification,
  isDrawn,
  specAsk,
  verificationStep,
} from '../../core/verification/verdict.ts';
import type { VerificationAsk } from '../../core/verification/verdict.ts';
import type { JobDemand } from '../../core/placement/types.ts';
import { clampPriority } from '../../core/scheduling/queue.ts';
import type { HoldPolicy, QueueVerdict } from '../../core/scheduling/queue.ts';
import { Scheduler } from '../../scheduler/scheduler.ts';
import { AIJobStore, jobKey } from '../../hub/aijob-store.ts';
import type { SharedJobInformer } from '../../hub/aijob-store.ts';
import { errorMessage } from '../../log.ts';
import type { Logger } from '../../log.ts';
import type { ProviderRegistry } from '../../providers/types.ts';
import { assertLeading } from '../../runtime/lease-guard.ts';
import { refusal } from '../../providers/refusal.ts';
import type { ProviderFences } from '../../providers/fence.ts';
import { isFenceRefusal, stamped } from '../../core/fence.ts';
import { WorkQueue } from '../../runtime/work-queue.ts';
import { recordJobClaimedElsewhere, recordProvenMismatch, recordProviderViolation } from '../../telemetry/metrics.ts';
import type { ReconcileResult } from '../../runtime/work-queue.ts';
import { failpoint } from '../../runtime/failpoint.ts';
import { urgently } from '../../runtime/request-urgency.ts';
import { observeNode, observePod } from './observe.ts';
import { endRefused } from './spec-gate.ts';
import type { SpecGate } from './spec-gate.ts';
import { ANNOTATION_JOB_NAME, ANNOTATION_JOB_NAMESPACE, buildPod, buildSecretCopies, buildService } from './pod-template.ts';
import { needsService, serviceName } from './gang.ts';
import { copyNames, copyPayload } from './secret-copies.ts';
import type { CopyPayload } from './secret-copies.ts';
import { readSecretSources } from './secret-source.ts';
import type { ReportEndpoint } from './pod-template.ts';
import { keepLogTail } from './log-tails.ts';
import type { AgentTarget } from './agent-step.ts';

export interface AIJobControllerOptions {
  readonly hub: KubeConfig;
  /** The process's one AIJob informer (HubView), read instead of a watch of this controller's own. */
  readonly sharedJobs?: SharedJobInformer;
  /** Hub client for Events only (its own rate limit); absent: `hub`. */
  readonly events?: KubeConfig;
  readonly registry: ProviderRegistry;
  /** The provider fence of this leader's term (providers/fence.ts); absent without leader election. */
  readonly fence?: ProviderFences;
  /** Written on every remote pod (label flotilla.dev/hub), so providers shared by hubs stay apart. */
  readonly hubId: string;
  /** Reconcile AIJobs of this namespace only; absent: all namespaces. */
  readonly watchNamespace?: string;
  /**
   * This operator's name (core/lifecycle/claim.ts): unclaimed jobs are claimed under it before
   * anything else; jobs claimed by another operator are left alone. Absent: every job is acted on.
   */
  readonly owner?: string;
  readonly workers?: number;
  readonly priceDecimals?: number;
  /** Decimals of a payment token the hub knows (status.cost is metered in them); absent or unknown: 6. */
  readonly tokenDecimals?: (token: string) => number | undefined;
  /** Bind timeout and provider-unreachable grace (defaults in core/lifecycle/signals.ts). */
  readonly timing?: Partial<LifecycleTiming>;
  /**
   * An artifacts controller pins outputs (an IPFS node is configured): Succeeded then waits for
   * OutputPinned when spec.output.pin is set. Without one nothing could ever pin, so nothing waits.
   */
  readonly pinsOutputs?: boolean;
  /** Gateway replicas fetch spec.inputs from when their GPUProvider names no spec.ipfsGateway. */
  readonly ipfsGateway?: string;
  /** Image of the init container that fetches inputs. */
  readonly inputFetchImage?: string;
  /** Where closing attempts keep their replicas' log tails (log-tails.ts): the hub's IPFS node; absent: not kept. */
  readonly logTails?: { readonly addFolder: (files: Array<{ path: string; content: Uint8Array }>) => Promise<string> };
  /** The job agent (agent-step.ts): its image, and the IPFS API it adds to when the GPUProvider names no spec.ipfsApi. */
  readonly agent?: { readonly image: string; readonly ipfsApi?: string; readonly ipfsApiAuthSecret?: string };
  /** Offered to replicas for live checkpoint reports (FLOTILLA_REPORT_URL/TOKEN). */
  readonly checkpointReports?: ReportEndpoint;
  /** Told about every attempt this controller closed (reputation, metrics); errors are logged, not retried. */
  readonly onAttemptClosed?: (outcome: AttemptOutcome) => Promise<void> | void;
  /** Told once per provider-made pod (reputation penalty); errors are logged, not retried. */
  readonly onViolation?: (violation: ProviderViolation) => Promise<void> | void;
  /**
   * The hub settles on chain (payments configured): every job, paid or not, waits for Funded=True
   * (the funding controller judges unpaid jobs against the namespace's allow-unpaid-jobs policy).
   */
  readonly paymentsRequired?: boolean;
  /** Checks the spec is runnable and applies the namespace's placement policy before acting (spec-gate.ts). */
  readonly specGate?: SpecGate;
  /**
   * Verification (docs/verification.md): the hub's floor, and the draw — uniform in [0, 1), from
   * a secret only this operator holds, so that no provider can tell which runs are re-executed.
   */
  readonly verification?: { readonly hubFloor?: VerificationAsk; readonly draw: (uid: string) => number };
  /** Told once per attempt proven to have reported a wrong output (reputation, metric); errors are logged, not retried. */
  readonly onProvenMismatch?: (liar: { readonly provider: string; readonly attempt: number }) => Promise<void> | void;
  /** A namespace's GPU quota (flotilla.dev/gpu-quota, docs/scheduling.md); absent: no quotas. */
  readonly quotaOf?: (namespace: string) => number | undefined;
  /** When the head of the queue holds capacity for itself, and for how long (core/scheduling/queue.ts). */
  readonly hold?: HoldPolicy;
  readonly log: Logger;
  readonly now?: () => number;
}

const ignore = (code: number) => (err: { code?: number }) => {
  if (err.code !== code) throw err;
};

/** A 403 on create: the provider's admission refused the pod (ResourceQuota, Pod Security, LimitRange, RBAC). */
class CreateRefused extends Error {
  override readonly name = 'CreateRefused';
}

/**
 * A reconcile that finds the cache behind the controller's own write waits for the hub's watch to
 * deliver the newer version (its event queues the job at once); this is only the fallback, should
 * that event never come. It was a 200 ms poll: with the hub's watch seconds behind in a 500-job
 * burst, each such job was reconciled again every 200 ms until it caught up (18 reconciles per job
 * at 64 workers, docs/scheduling.md).
 */
const CACHE_BEHIND_FALLBACK_MS = 5_000;

/** Bounds of the in-memory bookkeeping (a leak guard; entries leave with their pods). */
const MAX_SEEN_PODS = 50_000;
const MAX_REPORTED_VIOLATIONS = 10_000;

export class AIJobController {
  readonly store: AIJobStore;
  readonly queue: WorkQueue;
  /** Hub Secrets a starting attempt references are read through it (secret-source.ts). */
  private readonly hubCore: CoreV1Api;
  private readonly opts: AIJobControllerOptions;
  private readonly now: () => number;
  /** Decides where waiting jobs go; this controller applies its verdicts. */
  readonly scheduler: Scheduler;
  /** resourceVersions this process has already written past, per key: a cache showing one is stale. */
  private readonly superseded = new Map<string, Set<string>>();
  /** Per pod uid, on the hub's clock: when this process first saw it, and first saw it ended. */
  private readonly seen = new Map<string, { first: number; end?: number }>();
  /** Provider-made pods already reported (once per uid). */
  private readonly reported = new Set<string>();
  /** Jobs of another operator already said so (once per key). */
  private readonly leftAlone = new Set<string>();
  /**
   * Providers this process saw proven wrong: excluded from verifying jobs at once, without waiting
   * for the reputation write (status.reputation.provenMismatches) to come back through the cache —
   * jobs placed in that gap would go to a proven liar.
   */
  private readonly distrusted = new Set<string>();
  /**
   * Per job key: pods this process created whose uids status does not show yet. They count as
   * recorded for every decision of this process at once and go to the hub with the attempt's next
   * status write (Running, or the attempt closed) instead of a write of their own; after a crash or
   * a failover the next leader adopts the pods by their deterministic names (ownership.ts).
   */
  private readonly unrecorded = new Map<string, { readonly attempt: number; readonly pods: readonly RecordedPod[] }>();
  /** Per job key: the open attempt's pods the provider refused to create (a 403 on create). */
  private readonly refusals = new Map<string, { attempt: number; message: string }>();
  private unsubscribe?: () => void;

  constructor(opts: AIJobControllerOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.hubCore = opts.hub.makeApiClient(CoreV1Api);
    this.store = new AIJobStore(opts.hub, {
      ...(opts.watchNamespace ? { namespace: opts.watchNamespace } : {}),
      ...(opts.owner ? { owner: opts.owner } : {}),
      ...(opts.events ? { eventClient: opts.events } : {}),
      ...(opts.sharedJobs ? { shared: opts.sharedJobs } : {}),
      // status.cost is written with the attempts it meters, never after them by another writer.
      costOf: (job, status) => {
        const token = job.spec.payment?.token;
        return meteredCost(status, token, (token !== undefined ? opts.tokenDecimals?.(token) : undefined) ?? DEFAULT_COST_DECIMALS);
      },
      onEvent: (_type, job) => this.queue.add(keyOf(job)),
      onState: (state) => {
        if (state.error) opts.log('warn', 'hub AIJob watch failed; restarting with backoff', { error: errorMessage(state.error), restarts: state.restarts });
      },
    });
    this.scheduler = new Scheduler({
      registry: opts.registry,
      priceDecimals: opts.priceDecimals ?? 6,
      ...(opts.quotaOf ? { quotaOf: opts.quotaOf } : {}),
      heldByNamespace: () => this.heldByNamespace(),
      onVerdict: (key) => this.queue.add(key),
      ...(opts.hold ? { hold: opts.hold } : {}),
      log: opts.log,
      ...(opts.now ? { now: opts.now } : {}),
    });
    this.queue = new WorkQueue({
      workers: opts.workers ?? 4,
      onError: (key, err, retryInMs) => opts.log('warn', 'reconcile failed; retrying', { job: key, error: errorMessage(err), retryInMs }),
    });
  }

  async start(): Promise<void> {
    this.store.start();
    this.scheduler.start();
    this.unsubscribe = this.opts.registry.subscribe((event) => {
      if (event.kind === 'pod' && event.type === 'delete' && event.pod.metadata?.uid) this.seen.delete(event.pod.metadata.uid);
      if (event.kind === 'pod') {
        const a = event.pod.metadata?.annotations ?? {};
        const ns = a[ANNOTATION_JOB_NAMESPACE];
        const name = a[ANNOTATION_JOB_NAME];
        if (ns && name) this.queue.add(jobKey(ns, name));
      } else {
        // Connectivity or a node changed there: the jobs running there look again. Jobs waiting for
        // a place are the scheduler's: it wakes those it placed (or whose verdict changed).
        // A node event: the jobs with a replica bound to that node. A provider event (reachable
        // again, say): every job with pods there — after a heal the relist reports no change for
        // pods that did not change, so a finished job's stale pods there would otherwise stay.
        const node = event.kind === 'node' ? event.node.metadata?.name : undefined;
        for (const pod of this.opts.registry.get(event.provider)?.pods() ?? []) {
          const a = pod.metadata?.annotations ?? {};
          const ns = a[ANNOTATION_JOB_NAMESPACE];
          const name = a[ANNOTATION_JOB_NAME];
          if (ns && name && (event.kind === 'provider' || pod.spec?.nodeName === node)) this.queue.add(jobKey(ns, name));
        }
        if (event.kind === 'provider') {
          for (const job of this.store.list()) if (openAttempt(job.status)?.provider === event.provider) this.queue.add(keyOf(job));
        }
      }
    });
    this.queue.start((key) => this.reconcile(key));
  }

  stop(): void {
    this.unsubscribe?.();
    this.scheduler.stop();
    this.store.stop();
    this.queue.shutdown();
  }

  /**
   * One pass over the job. Spec input the operator can never process (TerminalSpecError) ends the
   * job Failed, reason InvalidSpec, naming the field — the spec gate's path — instead of a throw
   * the work queue would retry forever; any other error is retried.
   */
  async reconcile(key: string): Promise<ReconcileResult> {
    try {
      return await this.reconcileOnce(key);
    } catch (err) {
      if (!(err instanceof TerminalSpecError)) throw err;
      this.scheduler.forget(key);
      const job = this.store.get(key);
      if (!job || job.metadata.deletionTimestamp || isTerminal(job.status)) throw err;
      await endRefused(job, this.store, 'InvalidSpec', [{ field: err.field, message: err.message }], { now: this.now(), log: this.opts.log });
      return {};
    }
  }

  private async reconcileOnce(key: string): Promise<ReconcileResult> {
    const claim = await this.claim(key);
    if ('done' in claim) return claim.done;
    const stored = claim.job ?? this.store.get(key);
    // Runnable and within its namespace's policy (spec-gate.ts), whatever the webhooks let in:
    // else the gate ended the job (or waits), or the job is placed with its narrowed ask.
    const gated = stored && this.opts.specGate ? await this.opts.specGate.admit(stored, this.store) : { proceed: stored };
    if ('done' in gated) return gated.done;
    const job = gated.proceed;
    if (!job) {
      this.scheduler.forget(key);
      this.superseded.delete(key);
      this.refusals.delete(key);
      this.unrecorded.delete(key);
      return {};
    }
    if (this.superseded.get(key)?.has(job.metadata.resourceVersion ?? '')) {
      this.opts.log('debug', 'cache behind our own write; waiting for the watch', { job: key, resourceVersion: job.metadata.resourceVersion });
      return { requeueAfterMs: CACHE_BEHIND_FALLBACK_MS };
    }

    const view = this.withUnrecorded(key, toView(job, this.opts));
    const now = this.now();
    const { pods, complete } = this.observe(job, now);
    // Only a job that needs a place is the scheduler's; any other gives up what it was offered.
    let decision: QueueVerdict | undefined;
    let demand: JobDemand | undefined;
    if (needsPlacement(view, now)) {
      demand = this.demandOf(job, view);
      const answer = this.scheduler.request(this.queueEntry(key, job, view, demand), view.uid);
      if ('wait' in answer) return { requeueAfterMs: CACHE_BEHIND_FALLBACK_MS };
      decision = answer.verdict;
    } else if (!openAttempt(view.status)) this.scheduler.forget(key);
    else if (complete) this.adoptHold(key, job, view, pods);
    const attemptProvider = this.reachability(openAttempt(view.status)?.provider);
    const refused = this.refusals.get(key);
    if (refused && refused.attempt !== openAttempt(view.status)?.index) this.refusals.delete(key);
    let plan = planReconcile({
      job: view,
      pods,
      podsComplete: complete,
      now,
      ...(refused && refused.attempt === openAttempt(view.status)?.index ? { createRefused: refused } : {}),
      ...(decision ? { placement: decision } : {}),
      ...(attemptProvider ? { attemptProvider } : {}),
      ...(this.opts.timing ? { timing: this.opts.timing } : {}),
    });
    // An attempt that just closed with no back-off: place the next one in the same pass, so one
    // status write records both (the closed attempt and the new one) before any new pod exists.
    const closedView: JobView = { ...view, status: plan.status };
    // The scheduler decides it at once (the recovery lane goes first in its queue).
    if (!decision && plan.requeueAfterMs === 0 && !plan.createPods && needsPlacement(closedView, now)) {
      demand = this.demandOf(job, closedView);
      const answer = this.scheduler.request(this.queueEntry(key, job, closedView, demand), view.uid);
      if ('verdict' in answer) {
        decision = answer.verdict;
        plan = chainPlans(
          plan,
          planReconcile({ job: closedView, pods, podsComplete: complete, now, placement: decision, ...(this.opts.timing ? { timing: this.opts.timing } : {}) }),
        );
      }
    }
    this.opts.log('debug', 'reconcile', {
      job: key,
      phase: view.status.phase,
      pods: pods.map((p) => `${p.provider}/${p.name}:${p.phase}`),
      podsComplete: complete,
      planned: plan.status.phase,
    });
    // A proven liar is distrusted now, before any await: another worker's placement must not pick it.
    if (plan.provenLiar) this.distrusted.add(plan.provenLiar.provider);
    // The scheduler holds the chosen capacity from its decision until the pods are bound; a plan that
    // does not create them gives it back.
    if (decision?.outcome === 'Placed' && !plan.createPods) this.scheduler.release(key);
    // The hub Secrets the attempt copies, read before any write: a missing one ends the job
    // (TerminalSpecError → reconcile()) with nothing placed at a provider.
    const secrets = plan.createPods
      ? copyPayload(job.spec, await readSecretSources(this.hubCore, job.metadata.namespace ?? '', job.spec), job.metadata.namespace ?? '')
      : undefined;
    const progress = { statusWritten: false };
    try {
      await this.apply(key, job, view.status, plan, secrets, progress);
    } catch (err) {
      // Only a placement that never reached status is given back. Once the attempt is on record its
      // pods may exist, unbound: the hold stays until they are bound or the attempt closes —
      // releasing it on a later failure (a 409 on recording the pods' uids) counted their GPUs as
      // free while the provider was still binding them, and over-placed.
      if (decision?.outcome === 'Placed' && !progress.statusWritten) this.scheduler.release(key);
      // The provider refused the pods: the next pass closes the attempt as CreateRefused at once.
      if (err instanceof CreateRefused) return { requeueAfterMs: 0 };
      throw err;
    }
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : {};
  }

  /**
   * Makes the job this operator's before anything else happens to it (core/lifecycle/claim.ts): an
   * unclaimed job is claimed, with the finalizer in the same write; a job another operator claimed
   * is left alone, said once in the log and counted in /metrics.
   */
  private async claim(key: string): Promise<{ done: ReconcileResult } | { job?: AIJob }> {
    const owner = this.opts.owner;
    const cached = owner ? this.store.peek(key) : undefined;
    if (!owner || !cached) return {};
    const verdict = claimVerdict(cached, owner);
    if (verdict === 'mine') return {};
    if (verdict !== 'unclaimed') {
      if (!this.leftAlone.has(key)) {
        if (this.leftAlone.size >= MAX_REPORTED_VIOLATIONS) this.leftAlone.delete(this.leftAlone.values().next().value as string);
        this.leftAlone.add(key);
        this.opts.log('info', 'job run by another operator; leaving it alone', { job: key, managedBy: verdict.other, me: owner });
        recordJobClaimedElsewhere();
      }
      return { done: {} };
    }
    if (this.superseded.get(key)?.has(cached.metadata.resourceVersion ?? '')) return { done: { requeueAfterMs: CACHE_BEHIND_FALLBACK_MS } };
    const finalizers = cached.metadata.finalizers ?? [];
    const addFinalizer = !cached.metadata.deletionTimestamp && !finalizers.includes(FINALIZER);
    try {
      const job = await this.store.claim(cached, owner, addFinalizer ? [...finalizers, FINALIZER] : undefined);
      this.markSuperseded(key, cached.metadata.resourceVersion, job.metadata.resourceVersion);
      this.opts.log('info', 'job claimed', { job: key, managedBy: owner });
      return { job };
    } catch (err) {
      // Another write landed first (another operator's claim, perhaps): look again at the fresh copy.
      if ((err as { code?: number }).code === 409) return { done: { requeueAfterMs: 200 } };
      if ((err as { code?: number }).code === 404) return { done: {} };
      throw err;
    }
  }

  /**
   * What placement must find for the job as `view` shows it. A job that verifies never goes to a
   * provider with a proven mismatch; a re-execution never goes to a provider that ran this job's
   * original or an earlier check, nor to one paid to the same address (verdict.ts).
   */
  private demandOf(job: AIJob, view: JobView): JobDemand {
    const demand = jobDemand(job.spec, view.status, this.opts.priceDecimals);
    if (!view.verify || view.verify.policy.mode === 'None') return demand;
    const snapshots = this.scheduler.providers();
    const denied = new Set([
      ...(demand.deniedProviders ?? []),
      ...this.distrusted,
      ...snapshots.filter((s) => (s.provenMismatches ?? 0) > 0).map((s) => s.name),
    ]);
    const step = verificationStep(view.status);
    if (step.kind === 'run') for (const p of dependentProviders(step.exclude, new Map(snapshots.map((s) => [s.name, s.payoutAddress])))) denied.add(p);
    return denied.size > 0 ? { ...demand, deniedProviders: [...denied].sort() } : demand;
  }

  /** The job as the scheduler's queue sees it: its order (recovery lane, priority, age) and its ask. */
  private queueEntry(key: string, job: AIJob, view: JobView, demand: JobDemand) {
    const attempts = view.status.attempts ?? [];
    const created = Date.parse(job.metadata.creationTimestamp ?? '');
    return {
      key,
      namespace: job.metadata.namespace ?? '',
      priority: clampPriority(job.spec.priority),
      createdAt: Number.isFinite(created) ? created : 0,
      recovery: attempts.length > 0,
      attempt: (attempts.at(-1)?.index ?? 0) + 1,
      demand,
    };
  }

  /**
   * An open attempt with replicas not yet bound and no hold in the scheduler (placed before this
   * process led): its capacity is held until the provider binds them, as for a fresh placement.
   */
  private adoptHold(key: string, job: AIJob, view: JobView, pods: readonly ObservedPod[]): void {
    const attempt = openAttempt(view.status);
    const placement = view.status.placement;
    if (!attempt || this.scheduler.holds(key) || !placement?.product || !placement.resourceName || placement.provider !== attempt.provider) return;
    const bound = pods.filter(
      (p) => p.provider === attempt.provider && p.attempt === attempt.index && (p.nodeName !== undefined || p.phase === 'Succeeded' || p.phase === 'Failed'),
    );
    if (bound.length >= view.replicas) return;
    this.scheduler.adopt({
      key,
      uid: view.uid,
      namespace: job.metadata.namespace ?? '',
      attempt: attempt.index,
      provider: attempt.provider,
      product: placement.product,
      resourceName: placement.resourceName,
      nodes: attempt.nodes ?? [],
      replicas: view.replicas,
      bound: bound.map((p) => p.name),
      demand: jobDemand(job.spec, view.status, this.opts.priceDecimals),
    });
  }

  /** GPUs each namespace's open attempts hold (for quotas), from the cache. */
  private heldByNamespace(): Map<string, number> {
    const held = new Map<string, number>();
    for (const job of this.store.list()) {
      if (isTerminal(job.status) || !openAttempt(job.status)) continue;
      const ns = job.metadata.namespace ?? '';
      const gpus = job.spec.replicas * job.spec.resources.gpus;
      held.set(ns, (held.get(ns) ?? 0) + (Number.isSafeInteger(gpus) ? gpus : 0));
    }
    return held;
  }

  /** Whether the open attempt's provider answers; undefined when there is no open attempt. */
  private reachability(provider: string | undefined): ProviderReachability | undefined {
    if (!provider) return undefined;
    const client = this.opts.registry.get(provider);
    const lastSeen = client?.lastSeen();
    return { reachable: Boolean(client?.synced), ...(lastSeen !== undefined ? { lastSeen } : {}) };
  }

  /** Every pod of the job at every provider it has used, with its node; incomplete when one of them is not synced. */
  private observe(job: AIJob, now: number): { pods: ObservedPod[]; complete: boolean } {
    const providers = new Set((job.status?.attempts ?? []).map((a) => a.provider));
    const pods: ObservedPod[] = [];
    let complete = true;
    for (const name of providers) {
      const client = this.opts.registry.get(name);
      if (!client?.synced) {
        complete = false;
        continue;
      }
      const nodeOf = (node: string): ObservedNode => observeNode(client.node(node), now);
      for (const pod of client.jobPods(job.metadata.uid ?? '')) {
        const observed = observePod(name, pod, nodeOf);
        if (observed) pods.push(this.hubTimes(observed, now));
      }
    }
    return { pods, complete };
  }

  /** The pod with the times the hub saw itself: first sight, and first sight of its end. */
  private hubTimes(pod: ObservedPod, now: number): ObservedPod {
    if (!pod.uid) return pod;
    let times = this.seen.get(pod.uid);
    if (!times) {
      if (this.seen.size >= MAX_SEEN_PODS) this.seen.delete(this.seen.keys().next().value as string);
      times = { first: now };
      this.seen.set(pod.uid, times);
    }
    if (times.end === undefined && (pod.phase === 'Succeeded' || pod.phase === 'Failed')) times.end = now;
    return { ...pod, firstSeenAt: times.first, ...(times.end !== undefined ? { endSeenAt: times.end } : {}) };
  }

  /** Each provider-made pod once: a Warning Event on the job, the metric, the provider's reputation. */
  private reportViolations(key: string, job: AIJob, violations: readonly ProviderViolation[]): void {
    for (const v of violations) {
      const id = v.uid || `${v.provider}/${v.pod}`;
      if (this.reported.has(id)) continue;
      if (this.reported.size >= MAX_REPORTED_VIOLATIONS) this.reported.delete(this.reported.values().next().value as string);
      this.reported.add(id);
      this.opts.log('warn', 'provider-made pod ignored', { job: key, provider: v.provider, pod: v.pod, uid: v.uid, why: v.why });
      recordProviderViolation(v.provider);
      void this.store
        .recordEvent(job, {
          type: 'Warning',
          reason: 'ProviderViolation',
          message: `${v.provider} made pod ${v.pod} itself (${v.why}); it is ignored and deleted`,
        })
        .catch((err: unknown) => this.opts.log('warn', 'could not record event', { job: key, reason: 'ProviderViolation', error: errorMessage(err) }));
      void Promise.resolve()
        .then(() => this.opts.onViolation?.(v))
        .catch((err: unknown) =>
          this.opts.log('warn', 'could not record the provider violation', { job: key, provider: v.provider, error: errorMessage(err) }),
        );
    }
  }

  /** Remembers that `before` is outdated — only when the write really produced a new version (a no-op patch keeps it). */
  private markSuperseded(key: string, before: string | undefined, after: string | undefined): void {
    const resourceVersion = before;
    if (!resourceVersion || resourceVersion === after) return;
    const set = this.superseded.get(key) ?? new Set<string>();
    set.add(resourceVersion);
    if (set.size > 16) set.delete(set.values().next().value as string);
    this.superseded.set(key, set);
  }

  /**
   * The view with the uids this process created but has not written yet (`unrecorded`); an entry
   * that status already shows, or whose attempt is no longer the open one, is dropped.
   */
  private withUnrecorded(key: string, view: JobView): JobView {
    const pending = this.unrecorded.get(key);
    if (!pending) return view;
    const open = openAttempt(view.status);
    const written = (p: RecordedPod) => open?.pods?.some((r) => r.replica === p.replica && r.uid === p.uid) ?? false;
    if (open?.index !== pending.attempt || pending.pods.every(written)) {
      this.unrecorded.delete(key);
      return view;
    }
    return { ...view, status: recordPods(view.status, pending.attempt, pending.pods) };
  }

  /**
   * Applies the plan to the job. `known` is the status the plan started from: the stored one plus
   * the uids not written yet; status is written only when the plan changes something beyond them.
   */
  private async apply(
    key: string,
    original: AIJob,
    known: AIJobStatus,
    plan: ReconcilePlan,
    secrets?: CopyPayload,
    progress?: { statusWritten: boolean },
  ): Promise<void> {
    const { log } = this.opts;
    let job = original;
    // Each side-effect line carries `sentAt`, when its request was decided (right after the lease
    // check): a response that lands after a freeze logs late, and the chaos suite tells the two apart.
    const sentAt = () => new Date(this.now()).toISOString();
    if (plan.addFinalizer) {
      const before = job.metadata.resourceVersion;
      job = await this.store.addFinalizer(job, FINALIZER);
      this.markSuperseded(key, before, job.metadata.resourceVersion);
    }
    if (!sameJson(plan.status, known)) {
      const before = job.metadata.resourceVersion;
      const statusSentAt = sentAt();
      // A write that records an attempt before its pods are created gates them: urgent on the hub's
      // client, ahead of other jobs' bookkeeping (Running, closed attempts) queued in a burst.
      const from = job;
      const write = () => this.store.patchStatus(from, plan.status);
      job = plan.createPods ? await urgently(write) : await write();
      if (progress) progress.statusWritten = true;
      this.markSuperseded(key, before, job.metadata.resourceVersion);
      if (plan.status.phase !== original.status?.phase)
        log('info', 'phase changed', { job: key, from: original.status?.phase ?? 'New', to: plan.status.phase, sentAt: statusSentAt });
      // Only after the write landed: a closed attempt is then on record exactly once.
      for (const outcome of closedAttempts(original.status, plan.status)) {
        log('info', 'attempt closed', {
          job: key,
          provider: outcome.provider,
          attempt: outcome.index,
          reason: outcome.reason,
          gpuSeconds: outcome.gpuSeconds,
          sentAt: statusSentAt,
        });
        // Not awaited: the reputation writer folds one provider's outcomes one at a time (a read and
        // a write each), so 50 jobs evicted at once from one provider would otherwise hold every
        // worker in that line — the next jobs' attempts closed and replaced seconds late.
        void Promise.resolve()
          .then(() => this.opts.onAttemptClosed?.(outcome))
          .catch((err: unknown) => log('warn', 'could not record the attempt outcome', { job: key, provider: outcome.provider, error: errorMessage(err) }));
        // Best-effort here: the finalizer path and the orphan sweep delete it again if this fails.
        await this.deleteService(key, job, outcome).catch((err: unknown) =>
          log('warn', "could not delete the attempt's rendezvous Service; retried later", {
            job: key,
            provider: outcome.provider,
            attempt: outcome.index,
            error: errorMessage(err),
          }),
        );
        await this.deleteSecretCopies(key, job, outcome).catch((err: unknown) =>
          log('warn', "could not delete the attempt's Secret copies; retried later", {
            job: key,
            provider: outcome.provider,
            attempt: outcome.index,
            error: errorMessage(err),
          }),
        );
      }
    }
    // Events are best-effort and on their own rate limit: pods are not created after them.
    for (const event of plan.events) {
      void this.store
        .recordEvent(job, event)
        .catch((err: unknown) => log('warn', 'could not record event', { job: key, reason: event.reason, error: errorMessage(err) }));
    }
    this.reportViolations(key, job, plan.violations);
    if (plan.provenLiar) {
      // Written after the status that records the verdict: the verdict is the record, this is the
      // provider's track record (reputation → Trusted=False → no more verifying jobs there).
      const liar = plan.provenLiar;
      log('warn', 'provider proven to have reported a wrong output', { job: key, provider: liar.provider, attempt: liar.attempt });
      recordProvenMismatch(liar.provider);
      void Promise.resolve()
        .then(() => this.opts.onProvenMismatch?.(liar))
        .catch((err: unknown) => log('warn', 'could not record the proven mismatch', { job: key, provider: liar.provider, error: errorMessage(err) }));
    }
    if (plan.createPods) {
      const created = await this.createPods(key, job, plan.createPods, secrets ?? { pulls: [] });
      if (created.length > 0) {
        // The uids from the create responses: from now on only these pods count for the attempt,
        // in this process at once (withUnrecorded) and on the hub with the attempt's next status
        // write — not a write of their own, one of the two a job used to need before it ran.
        const attempt = plan.createPods.attempt;
        const earlier = this.unrecorded.get(key);
        const kept = earlier?.attempt === attempt ? earlier.pods.filter((p) => !created.some((c) => c.replica === p.replica)) : [];
        this.unrecorded.set(key, { attempt, pods: [...kept, ...created].sort((a, b) => a.replica - b.replica) });
      }
    }
    // After the replacement's pods (a preempted job is not held up for its log) and before the
    // closed attempt's pods are deleted (they hold the log).
    job = await this.keepLogTails(key, original, job);
    for (const d of plan.deletePods) {
      const client = this.opts.registry.get(d.provider);
      if (!client) throw new Error(`cannot delete ${d.name}: provider ${d.provider} is not connected`);
      assertLeading(`delete pod ${d.provider}/${d.name}`);
      // A provider-made pod may be beyond what the credential may delete: ignored either way.
      let forbidden = false;
      const tolerate = (err: { code?: number }) => {
        if (d.foreign && err.code === 403) return void (forbidden = true);
        return ignore(404)(err);
      };
      const deleteSentAt = sentAt();
      await client.core
        .deleteNamespacedPod({
          name: d.name,
          namespace: client.namespace,
          ...(d.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: d.gracePeriodSeconds } : {}),
        })
        .catch(tolerate);
      if (forbidden) {
        log('warn', 'cannot delete a provider-made pod (forbidden); it stays ignored', { job: key, provider: d.provider, pod: d.name });
        continue;
      }
      log('info', 'deleted remote pod', {
        job: key,
        provider: d.provider,
        pod: d.name,
        why: d.why,
        ...(d.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: d.gracePeriodSeconds } : {}),
        sentAt: deleteSentAt,
      });
    }
    if (plan.removeFinalizer) {
      // Nothing of the job may stay at a provider: every attempt's Service too (404 = gone already).
      for (const attempt of plan.status.attempts ?? []) {
        await this.deleteService(key, job, attempt);
        await this.deleteSecretCopies(key, job, attempt);
      }
      const finalizerSentAt = sentAt();
      await this.store.removeFinalizer(job, FINALIZER);
      log('info', 'remote pods gone; finalizer removed', { job: key, sentAt: finalizerSentAt });
    }
  }

  /**
   * Deletes an attempt's rendezvous Service (a gang's only; 404 is success). A 403 is logged, not
   * thrown: a credential that may not delete Services could not have created one either.
   */
  private async deleteService(key: string, job: AIJob, attempt: { provider: string; index: number }): Promise<void> {
    if (!needsService(job)) return;
    const client = this.opts.registry.get(attempt.provider);
    const name = serviceName({ name: job.metadata.name ?? '', uid: job.metadata.uid ?? '' }, attempt.index);
    if (!client) {
      this.opts.log('warn', 'cannot delete a rendezvous Service: its provider is not connected', { job: key, provider: attempt.provider, service: name });
      return;
    }
    assertLeading(`delete service ${attempt.provider}/${name}`);
    let deleted = true;
    await client.core.deleteNamespacedService({ name, namespace: client.namespace }).catch((err: { code?: number }) => {
      deleted = false;
      if (err.code === 403) this.opts.log('warn', 'cannot delete a rendezvous Service (forbidden)', { job: key, provider: attempt.provider, service: name });
      else ignore(404)(err);
    });
    if (deleted) this.opts.log('info', 'deleted rendezvous Service', { job: key, provider: attempt.provider, service: name });
  }

  /**
   * Deletes an attempt's copies of hub Secrets (404 is success); a 403 is logged, not thrown, like
   * a Service's. Names come from the spec (secret-copies.ts), so nothing is listed.
   */
  private async deleteSecretCopies(key: string, job: AIJob, attempt: { provider: string; index: number }): Promise<void> {
    const names = copyNames(job, attempt.index);
    if (names.length === 0) return;
    const client = this.opts.registry.get(attempt.provider);
    if (!client) {
      this.opts.log('warn', 'cannot delete Secret copies: their provider is not connected', { job: key, provider: attempt.provider, secrets: names });
      return;
    }
    for (const name of names) {
      assertLeading(`delete secret ${attempt.provider}/${name}`);
      let deleted = true;
      await client.core.deleteNamespacedSecret({ name, namespace: client.namespace }).catch((err: { code?: number }) => {
        deleted = false;
        if (err.code === 403) this.opts.log('warn', 'cannot delete a Secret copy (forbidden)', { job: key, provider: attempt.provider, secret: name });
        else ignore(404)(err);
      });
      if (deleted) this.opts.log('info', 'deleted Secret copy', { job: key, provider: attempt.provider, secret: name });
    }
  }

  /**
   * The log tails (log-tails.ts) of the attempts this pass closed, recorded on them: read while their
   * pods still exist, bounded in time, written with the job's resourceVersion (a conflict leaves the
   * attempt without its tail rather than overwrite someone else's write).
   */
  private async keepLogTails(key: string, original: AIJob, job: AIJob): Promise<AIJob> {
    const keeper = this.opts.logTails;
    const closing = keeper && job.status ? closedAttempts(original.status, job.status) : [];
    if (!keeper || closing.length === 0) return job;
    const tails = new Map<number, string>();
    await Promise.all(
      closing.map(async (outcome) => {
        const attempt = job.status?.attempts?.find((a) => a.index === outcome.index);
        const client = this.opts.registry.get(outcome.provider);
        if (!attempt || attempt.logTailCID || !client) return;
        try {
          const cid = await keepLogTail(attempt, {
            read: (pod, opts) => client.core.readNamespacedPodLog({ name: pod, namespace: client.namespace, container: 'main', ...opts }),
            addFolder: (files) => keeper.addFolder(files),
          });
          if (cid) tails.set(outcome.index, cid);
        } catch (err) {
          this.opts.log('info', "could not keep the attempt's log tail", {
            job: key,
            provider: outcome.provider,
            attempt: outcome.index,
            error: errorMessage(err),
          });
        }
      }),
    );
    if (tails.size === 0) return job;
    // Only a field added to closed attempts, tested on each attempt's position and on its having no
    // tail yet: another controller's write of the same moment (the pinner, a receipt) does not
    // refuse it. Refused (the attempts moved), it is built again on the job as it is now.
    let current = job;
    for (let attempt = 1; ; attempt++) {
      const writes = (current.status?.attempts ?? [])
        .filter((a) => tails.has(a.index) && a.endTime && !a.logTailCID)
        .map((a) => ({ index: a.index, expect: { logTailCID: null }, set: { logTailCID: tails.get(a.index) as string } }));
      if (writes.length === 0) return current;
      const before = current.metadata.resourceVersion;
      try {
        const written = await this.store.patchStatusGuarded(current, attemptFieldsPatch(current.status?.attempts ?? [], writes) as StatusPatchOp[]);
        this.markSuperseded(key, before, written.metadata.resourceVersion);
        return written;
      } catch (err) {
        if ((err as { code?: number }).code === 409 && attempt < 3) {
          current = await this.store.read(current).catch(() => current);
          continue;
        }
        this.opts.log('info', "could not record the attempt's log tail", { job: key, error: errorMessage(err) });
        return job;
      }
    }
  }

  /** The job agent for a pod at a provider: where it adds (the GPUProvider's spec.ipfsApi, else the operator's default); none without one. */
  private agentTarget(provider: { ipfsApi?: string | undefined; ipfsApiAuthSecret?: string | undefined }): { agent?: AgentTarget } {
    const ipfsApi = provider.ipfsApi ?? this.opts.agent?.ipfsApi;
    const authSecret = provider.ipfsApi !== undefined ? provider.ipfsApiAuthSecret : (provider.ipfsApiAuthSecret ?? this.opts.agent?.ipfsApiAuthSecret);
    return this.opts.agent && ipfsApi ? { agent: { image: this.opts.agent.image, ipfsApi, ...(authSecret ? { ipfsApiAuthSecret: authSecret } : {}) } } : {};
  }

  /** Creates the replicas' pods; returns those this pass created (uid, and the hub's ack time). */
  private async createPods(key: string, owner: AIJob, creation: PodCreation, secrets: CopyPayload): Promise<RecordedPod[]> {
    // A Check attempt runs the checker on both outputs (docs/verification.md), not the job's image.
    const job = creation.check ? { ...owner, spec: checkerJobSpec(owner.spec, creation.check) } : owner;
    const client = this.opts.registry.get(creation.provider);
    if (!client) throw new Error(`cannot create pods: provider ${creation.provider} is not connected`);
    const created: RecordedPod[] = [];
    /** Replicas whose pod an earlier pass made (AlreadyExists): adopted by name, not created again. */
    const existing: number[] = [];
    const refusals: string[] = [];
    // The copies of hub Secrets first: a pod that names a missing Secret would not start. One the
    // provider refuses (403: RBAC, quota on Secrets) refuses the attempt like a refused pod.
    // The fence first (providers/fence.ts): from here on the previous leader's creates are refused there.
    const fence = this.opts.fence;
    if (fence) await fence.ensure(creation.provider, client);
    const refusalOf = async (err: unknown) => {
      const refused = refusal(err);
      if (fence && isFenceRefusal(refused)) await fence.judgeRefusal(creation.provider, refused ?? '');
      return refused;
    };
    for (const unstamped of buildSecretCopies(job, creation.attempt, client.namespace, this.opts.hubId, secrets)) {
      if (refusals.length > 0) break;
      const copy = stamped(unstamped, fence?.stamp);
      assertLeading(`create secret ${creation.provider}/${copy.metadata?.name}`);
      try {
        await client.core.createNamespacedSecret({ namespace: client.namespace, body: copy });
      } catch (err) {
        const refused = await refusalOf(err);
        if (refused === undefined) ignore(409)(err as { code?: number });
        else refusals.push(refused);
      }
    }
    // The gang's Service first, so replica 0's name resolves as soon as any replica starts; one the
    // provider refuses (403: RBAC, quota on Services) refuses the attempt like a refused pod.
    const unstampedService = buildService(job, creation.attempt, client.namespace, this.opts.hubId);
    const service = unstampedService && stamped(unstampedService, fence?.stamp);
    if (service && refusals.length === 0) {
      assertLeading(`create service ${creation.provider}/${service.metadata?.name}`);
      try {
        await client.core.createNamespacedService({ namespace: client.namespace, body: service });
      } catch (err) {
        const refused = await refusalOf(err);
        if (refused === undefined) ignore(409)(err as { code?: number });
        else refusals.push(refused);
      }
    }
    const podsSentAt = new Date(this.now()).toISOString();
    if (refusals.length === 0)
      await Promise.all(
        creation.replicas.map(async (replica) => {
          const unstampedPod = buildPod(
            job,
            creation,
            replica,
            {
              namespace: client.namespace,
              priorityClassName: client.priorityClassName,
              ...((client.ipfsGateway ?? this.opts.ipfsGateway) ? { ipfsGateway: client.ipfsGateway ?? this.opts.ipfsGateway } : {}),
              ...(this.opts.inputFetchImage ? { inputFetchImage: this.opts.inputFetchImage } : {}),
              ...this.agentTarget(client),
            },
            this.opts.hubId,
            this.opts.checkpointReports,
          );
          const body = stamped(unstampedPod, fence?.stamp);
          // Deterministic names make creation idempotent: AlreadyExists means a previous pass made it
          // (its uid is adopted by name while none is recorded: ownership.ts).
          assertLeading(`create pod ${creation.provider}/${body.metadata?.name}`);
          try {
            const pod = await client.core.createNamespacedPod({ namespace: client.namespace, body });
            if (pod.metadata?.uid)
              created.push({
                replica,
                name: pod.metadata.name ?? body.metadata?.name ?? '',
                uid: pod.metadata.uid,
                createdAt: new Date(this.now()).toISOString(),
              });
          } catch (err) {
            const refused = await refusalOf(err);
            if (refused !== undefined) refusals.push(refused);
            else {
              ignore(409)(err as { code?: number });
              existing.push(replica);
            }
          }
        }),
      );
    failpoint('after-pod-create', { job: keyOf(job), provider: creation.provider, attempt: creation.attempt });
    if (refusals.length > 0) {
      this.refusals.set(key, { attempt: creation.attempt, message: refusals[0] as string });
      this.opts.log('warn', 'the provider refused to create the pods', {
        job: key,
        provider: creation.provider,
        attempt: creation.attempt,
        message: refusals[0],
      });
      throw new CreateRefused(`${creation.provider} refused to create the pods of attempt ${creation.attempt}: ${refusals[0]}`);
    }
    // "created" only for what this pass created: a pass retried after a conflicting status write
    // finds its pods there already, and saying "created" again read as a second creation.
    const made = creation.replicas.filter((r) => !existing.includes(r));
    if (made.length > 0)
      this.opts.log('info', 'created remote pods', {
        job: keyOf(job),
        provider: creation.provider,
        attempt: creation.attempt,
        replicas: made,
        sentAt: podsSentAt,
      });
    if (existing.length > 0)
      this.opts.log('info', 'remote pods already there (an earlier pass created them)', {
        job: keyOf(job),
        provider: creation.provider,
        attempt: creation.attempt,
        replicas: existing.sort((a, b) => a - b),
      });
    return created;
  }
}

/** Two plans of one pass applied as one: the second's status, both plans' events and deletions. */
function chainPlans(first: ReconcilePlan, second: ReconcilePlan): ReconcilePlan {
  const deletions = new Map(first.deletePods.map((d) => [`${d.provider}/${d.name}`, d]));
  for (const d of second.deletePods) if (!deletions.has(`${d.provider}/${d.name}`)) deletions.set(`${d.provider}/${d.name}`, d);
  return {
    ...second,
    // A verdict naming a liar in the first plan is reported even when the second places the next attempt.
    ...(first.provenLiar && !second.provenLiar ? { provenLiar: first.provenLiar } : {}),
    events: [...first.events, ...second.events],
    deletePods: [...deletions.values()],
    addFinalizer: first.addFinalizer || second.addFinalizer,
  };
}

function keyOf(job: AIJob): string {
  return jobKey(job.metadata.namespace ?? '', job.metadata.name ?? '');
}

/** Whether the job waits for a place; one whose spec cannot be read is looked at too (its reconcile ends it, naming the field). */
function toView(job: AIJob, opts: Pick<AIJobControllerOptions, 'priceDecimals' | 'pinsOutputs' | 'paymentsRequired' | 'verification'>): JobView {
  const verify = verificationOf(job, opts.verification);
  return {
    uid: job.metadata.uid ?? '',
    namespace: job.metadata.namespace ?? '',
    name: job.metadata.name ?? '',
    generation: job.metadata.generation ?? 0,
    deleting: Boolean(job.metadata.deletionTimestamp),
    hasFinalizer: (job.metadata.finalizers ?? []).includes(FINALIZER),
    ...((createdAt) => (Number.isFinite(createdAt) ? { createdAt } : {}))(Date.parse(String(job.metadata.creationTimestamp ?? ''))),
    replicas: job.spec.replicas,
    gpusPerReplica: job.spec.resources.gpus,
    maxRestarts: job.spec.recovery.maxRestarts,
    pinOutput: Boolean(opts.pinsOutputs) && job.spec.output.pin,
    requiresFunding: job.spec.payment !== undefined || Boolean(opts.paymentsRequired),
    priceDecimals: opts.priceDecimals ?? 6,
    ...((deadline) => (Number.isFinite(deadline) ? { deadline } : {}))(Date.parse(job.spec.deadline ?? '')),
    ...(verify ? { verify } : {}),
    status: job.status ?? {},
  };
}

/** The job's verification policy (spec, already floored by its namespace in the spec gate, then the hub) and its draw. */
function verificationOf(job: AIJob, opts: AIJobControllerOptions['verification']): JobView['verify'] {
  const window = job.spec.verification?.window;
  const windowMs = window ? specField('spec.verification.window', window, durationSeconds) * 1000 : undefined;
  const policy = { ...effectiveVerification(specAsk(job.spec.verification, windowMs), opts?.hubFloor), compare: comparisonOf(job.spec.verification) };
  if (policy.mode === 'None') return undefined;
  return { policy, drawn: isDrawn(policy, opts?.draw(job.metadata.uid ?? '') ?? 0) };
}
