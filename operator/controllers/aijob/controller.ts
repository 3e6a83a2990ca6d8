// The AIJob controller: gather → decide → apply, one job at a time per key.
//
//   gather   the AIJob from the hub cache; its pods from the caches of every provider it has used;
//            when it needs a place, every provider's snapshot (minus reservations) → placeJob
//   decide   planReconcile (operator/core/lifecycle/plan.ts), pure
//   apply    finalizer → status (resourceVersion precondition) → Events → create pods → delete
//            pods → drop finalizer; any failure throws and the work queue retries with backoff
//
// Wake-ups: AIJob changes, pod changes at any provider (pods carry the job's namespace/name in
// annotations), provider connection changes (unplaced jobs may now fit), and the plan's requeue.
import { isDeepStrictEqual } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import type { AIJob } from '../../api/types.ts';
import { jobDemand } from '../../core/lifecycle/demand.ts';
import { FINALIZER, isTerminal, needsPlacement, openAttempt, planReconcile } from '../../core/lifecycle/plan.ts';
import type { ObservedPod, PodCreation, ReconcilePlan } from '../../core/lifecycle/types.ts';
import { placeJob } from '../../core/placement/place-job.ts';
import { withReservation } from '../../core/placement/reservation.ts';
import type { JobDemand, Placement, PlacementDecision, ProviderSnapshot } from '../../core/placement/types.ts';
import { AIJobStore, jobKey } from '../../hub/aijob-store.ts';
import { errorMessage } from '../../log.ts';
import type { Logger } from '../../log.ts';
import type { ProviderRegistry } from '../../providers/types.ts';
import { WorkQueue } from '../../runtime/work-queue.ts';
import type { ReconcileResult } from '../../runtime/work-queue.ts';
import { observePod } from './observe.ts';
import { ANNOTATION_JOB_NAME, ANNOTATION_JOB_NAMESPACE, buildPod } from './pod-template.ts';

export interface AIJobControllerOptions {
  readonly hub: KubeConfig;
  readonly registry: ProviderRegistry;
  /** Written on every remote pod (label flotilla.dev/hub), so providers shared by hubs stay apart. */
  readonly hubId: string;
  /** Reconcile AIJobs of this namespace only; absent: all namespaces. */
  readonly watchNamespace?: string;
  readonly workers?: number;
  readonly priceDecimals?: number;
  readonly log: Logger;
  readonly now?: () => number;
}

/** Capacity a fresh placement holds until the provider's cache shows its pods. */
interface Reservation {
  readonly uid: string;
  readonly replicas: number;
  readonly placement: Placement;
  readonly demand: JobDemand;
  readonly until: number;
}
const RESERVATION_TTL_MS = 30_000;

const ignore = (code: number) => (err: { code?: number }) => {
  if (err.code !== code) throw err;
};

export class AIJobController {
  readonly store: AIJobStore;
  readonly queue: WorkQueue;
  private readonly opts: AIJobControllerOptions;
  private readonly now: () => number;
  private readonly reservations = new Map<string, Reservation>();
  /** resourceVersions this process has already written past, per key: a cache showing one is stale. */
  private readonly superseded = new Map<string, Set<string>>();
  private unsubscribe?: () => void;

  constructor(opts: AIJobControllerOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.store = new AIJobStore(opts.hub, {
      ...(opts.watchNamespace ? { namespace: opts.watchNamespace } : {}),
      onEvent: (_type, job) => this.queue.add(keyOf(job)),
      onState: (state) => { if (state.error) opts.log('warn', 'hub AIJob watch failed; restarting with backoff', { error: errorMessage(state.error), restarts: state.restarts }); },
    });
    this.queue = new WorkQueue({
      workers: opts.workers ?? 4,
      onError: (key, err, retryInMs) => opts.log('warn', 'reconcile failed; retrying', { job: key, error: errorMessage(err), retryInMs }),
    });
  }

  async start(): Promise<void> {
    this.store.start();
    this.unsubscribe = this.opts.registry.subscribe((event) => {
      if (event.kind === 'pod') {
        const a = event.pod.metadata?.annotations ?? {};
        const ns = a[ANNOTATION_JOB_NAMESPACE];
        const name = a[ANNOTATION_JOB_NAME];
        if (ns && name) this.queue.add(jobKey(ns, name));
      } else {
        // Capacity or connectivity changed there: jobs waiting for a place, or running there, look again.
        for (const job of this.store.list()) {
          if (needsPlacement(toView(job)) || openAttempt(job.status)?.provider === event.provider) this.queue.add(keyOf(job));
        }
      }
    });
    this.queue.start((key) => this.reconcile(key));
  }

  stop(): void {
    this.unsubscribe?.();
    this.store.stop();
    this.queue.shutdown();
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const job = this.store.get(key);
    if (!job) {
      this.reservations.delete(key);
      this.superseded.delete(key);
      return {};
    }
    if (this.superseded.get(key)?.has(job.metadata.resourceVersion ?? '')) {
      this.opts.log('debug', 'cache behind our own write; retrying shortly', { job: key, resourceVersion: job.metadata.resourceVersion });
      return { requeueAfterMs: 200 };
    }

    const view = toView(job);
    const { pods, complete } = this.observe(job);
    // A reservation has done its job once the provider's cache shows the pods (or the job ended).
    const reserved = this.reservations.get(key);
    if (reserved && (isTerminal(view.status) || pods.filter((p) => p.provider === reserved.placement.provider).length >= reserved.replicas)) this.reservations.delete(key);
    let decision: PlacementDecision | undefined;
    let demand: JobDemand | undefined;
    if (needsPlacement(view)) {
      demand = jobDemand(job.spec, job.status, this.opts.priceDecimals);
      decision = placeJob(demand, this.snapshots(key), this.now());
    }
    const plan = planReconcile({ job: view, pods, podsComplete: complete, now: this.now(), ...(decision ? { placement: decision } : {}) });
    this.opts.log('debug', 'reconcile', { job: key, phase: view.status.phase, pods: pods.map((p) => `${p.provider}/${p.name}:${p.phase}`), podsComplete: complete, planned: plan.status.phase });
    // Hold the chosen capacity now, before any await, so concurrent placements see it taken.
    if (decision?.outcome === 'Placed' && plan.createPods && demand) {
      this.reservations.set(key, { uid: view.uid, replicas: view.replicas, placement: decision.placement, demand, until: this.now() + RESERVATION_TTL_MS });
    }
    try {
      await this.apply(key, job, plan);
    } catch (err) {
      if (decision) this.reservations.delete(key);
      throw err;
    }
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : {};
  }

  /** Every pod of the job at every provider it has used; incomplete when one of them is not synced. */
  private observe(job: AIJob): { pods: ObservedPod[]; complete: boolean } {
    const providers = new Set((job.status?.attempts ?? []).map((a) => a.provider));
    const pods: ObservedPod[] = [];
    let complete = true;
    for (const name of providers) {
      const client = this.opts.registry.get(name);
      if (!client?.synced) {
        complete = false;
        continue;
      }
      for (const pod of client.jobPods(job.metadata.uid ?? '')) {
        const observed = observePod(name, pod);
        if (observed) pods.push(observed);
      }
    }
    return { pods, complete };
  }

  /** Provider snapshots with the capacity of other jobs' not-yet-visible placements taken out. */
  private snapshots(forKey: string): ProviderSnapshot[] {
    const now = this.now();
    for (const [key, r] of this.reservations) {
      const visible = this.opts.registry.get(r.placement.provider)?.jobPods(r.uid).length ?? 0;
      if (r.until < now || visible >= r.replicas) this.reservations.delete(key);
    }
    return this.opts.registry.snapshots(this.opts.priceDecimals ?? 6).map((snapshot) => {
      let s = snapshot;
      for (const [key, r] of this.reservations) if (key !== forKey && r.placement.provider === s.name) s = withReservation(s, r.placement, r.demand);
      return s;
    });
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

  private async apply(key: string, original: AIJob, plan: ReconcilePlan): Promise<void> {
    const { log } = this.opts;
    let job = original;
    if (plan.addFinalizer) {
      const before = job.metadata.resourceVersion;
      job = await this.store.setFinalizers(job, [...(job.metadata.finalizers ?? []), FINALIZER]);
      this.markSuperseded(key, before, job.metadata.resourceVersion);
    }
    if (!sameJson(plan.status, job.status ?? {})) {
      const before = job.metadata.resourceVersion;
      job = await this.store.patchStatus(job, plan.status);
      this.markSuperseded(key, before, job.metadata.resourceVersion);
      if (plan.status.phase !== original.status?.phase) log('info', 'phase changed', { job: key, from: original.status?.phase ?? 'New', to: plan.status.phase });
    }
    for (const event of plan.events) {
      await this.store.recordEvent(job, event).catch((err: unknown) => log('warn', 'could not record event', { job: key, reason: event.reason, error: errorMessage(err) }));
    }
    if (plan.createPods) await this.createPods(job, plan.createPods);
    for (const d of plan.deletePods) {
      const client = this.opts.registry.get(d.provider);
      if (!client) throw new Error(`cannot delete ${d.name}: provider ${d.provider} is not connected`);
      await client.core.deleteNamespacedPod({ name: d.name, namespace: client.namespace }).catch(ignore(404));
      log('info', 'deleted remote pod', { job: key, provider: d.provider, pod: d.name, why: d.why });
    }
    if (plan.removeFinalizer) {
      await this.store.setFinalizers(job, (job.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
      log('info', 'remote pods gone; finalizer removed', { job: key });
    }
  }

  private async createPods(job: AIJob, creation: PodCreation): Promise<void> {
    const client = this.opts.registry.get(creation.provider);
    if (!client) throw new Error(`cannot create pods: provider ${creation.provider} is not connected`);
    await Promise.all(creation.replicas.map(async (replica) => {
      const body = buildPod(job, creation, replica, { namespace: client.namespace, priorityClassName: client.priorityClassName }, this.opts.hubId);
      // Deterministic names make creation idempotent: AlreadyExists means a previous pass made it.
      await client.core.createNamespacedPod({ namespace: client.namespace, body }).catch(ignore(409));
    }));
    this.opts.log('info', 'created remote pods', { job: keyOf(job), provider: creation.provider, attempt: creation.attempt, replicas: creation.replicas });
  }
}

/** Equal as JSON (key order and undefined members do not matter). */
function sameJson(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
}

function keyOf(job: AIJob): string {
  return jobKey(job.metadata.namespace ?? '', job.metadata.name ?? '');
}

function toView(job: AIJob) {
  return {
    uid: job.metadata.uid ?? '',
    namespace: job.metadata.namespace ?? '',
    name: job.metadata.name ?? '',
    generation: job.metadata.generation ?? 0,
    deleting: Boolean(job.metadata.deletionTimestamp),
    hasFinalizer: (job.metadata.finalizers ?? []).includes(FINALIZER),
    replicas: job.spec.replicas,
    gpusPerReplica: job.spec.resources.gpus,
    maxRestarts: job.spec.recovery.maxRestarts,
    status: job.status ?? {},
  };
}
