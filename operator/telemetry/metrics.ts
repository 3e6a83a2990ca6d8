// Flotilla's metrics as OpenTelemetry instruments, and the typed functions the rest of the operator
// calls to record them. The functions do nothing until installMetrics() ran (main.ts does, with the
// Prometheus exporter of ./telemetry.ts), so any module may call them — in unit tests too.
//
//   series (Prometheus names)                         recorded by
//   flotilla_aijobs{phase}                   gauge     observed from the hub AIJob cache (setJobPhaseSource)
//   flotilla_leader                          gauge     1 on the leader, 0 on a standby (setLeader)
//   flotilla_provider_ready{provider}        gauge     the leader's connection to the provider is usable (setProviderSource)
//   flotilla_provider_free_gpus{provider,product}  gauge  free GPUs on usable nodes in the leader's view (setProviderSource)
//   flotilla_placement_latency_seconds       hist.     job-status observer: needing a place → attempt started
//   flotilla_placement_decision_seconds      hist.     recordPlacementDecision (around placeJob)
//   flotilla_preemptions_total{provider,signal}        job-status observer (attempt ended by the provider)
//   flotilla_recoveries_total{from_provider,to_provider}  job-status observer (next attempt after a preemption)
//   flotilla_jobs_finished_total{phase}                job-status observer (Succeeded, Failed)
//   flotilla_pins_total{kind}                          recordPin (IPFS pinning)
//   flotilla_settlements_total{token}, flotilla_settled_amount_total{token}   job-status observer
//   flotilla_kube_api_requests_total{cluster,verb}     every rate-limited client (rate-limited-kubeconfig.ts)
//   flotilla_kube_api_throttled_total{cluster,urgency}, flotilla_kube_api_throttle_wait_seconds_total{cluster,urgency}
//   flotilla_watch_expired_total{resource}             every informer (resilient-informer.ts): 410 Gone, relisted
//   flotilla_reconcile_duration_seconds{controller,outcome}  work queue hook (instrumentQueue)
//   flotilla_callbacks_total{outcome}                  callback dispatcher (operator/callbacks)
//   flotilla_provider_malformed_objects_total{provider,kind}  provider connections: nodes/pods skipped as malformed
//   flotilla_provider_violations_total{provider}       AIJob controller: a pod the provider made with a job's labels
//   flotilla_orphan_pods_deleted_total{provider}       orphan sweep: this hub's pods whose job or attempt is gone
//   flotilla_jobs_claimed_elsewhere_total              AIJob controller: a job in view that another operator runs (once per job)
//   flotilla_event_loop_delay_seconds{stat}           event-loop.ts: how late a timer ran since the previous collection (max, mean)
//   flotilla_event_loop_utilization                    event-loop.ts: share of that time the loop ran callbacks
import type { Attributes, Counter, Histogram, Meter, MeterProvider, ObservableGauge } from '@opentelemetry/api';
import type { Urgency } from '../runtime/token-bucket.ts';
import { EventLoopMonitor } from './event-loop.ts';

/** Counts of AIJobs by phase ("New" for a job without status yet). */
export type JobPhaseSource = () => ReadonlyMap<string, number>;

/** What the leader's provider connections say now, one entry per GPUProvider. */
export type ProviderGaugeSource = () => Iterable<{ readonly provider: string; readonly ready: boolean; readonly freeGpus: ReadonlyMap<string, number> }>;

export type PinKind = 'output' | 'checkpoint' | 'receipt' | 'input';
export type ReconcileOutcome = 'success' | 'requeue' | 'error';
export type CallbackOutcome = 'delivered' | 'retry' | 'failed' | 'refused';

const LATENCY_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];
const DECISION_BUCKETS_S = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1];
const RECONCILE_BUCKETS_S = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every instrument, created from one Meter. */
export class FlotillaMetrics {
  readonly placementLatency: Histogram;
  readonly placementDecision: Histogram;
  readonly preemptions: Counter;
  readonly recoveries: Counter;
  readonly jobsFinished: Counter;
  readonly pins: Counter;
  readonly settlements: Counter;
  readonly settledAmount: Counter;
  readonly apiRequests: Counter;
  readonly apiThrottled: Counter;
  readonly apiThrottleWait: Counter;
  readonly watchExpired: Counter;
  readonly reconcileDuration: Histogram;
  readonly callbacks: Counter;
  readonly malformedObjects: Counter;
  readonly providerViolations: Counter;
  readonly provenMismatches: Counter;
  readonly orphansDeleted: Counter;
  readonly claimedElsewhere: Counter;
  readonly writeConflicts: Counter;
  readonly jobs: ObservableGauge;
  readonly leaderGauge: ObservableGauge;
  readonly memory: ObservableGauge;
  readonly eventLoopDelay: ObservableGauge;
  readonly eventLoopUtilisation: ObservableGauge;
  readonly eventLoopMonitor: EventLoopMonitor;
  readonly providerReady: ObservableGauge;
  readonly providerFreeGpus: ObservableGauge;
  jobPhaseSource: JobPhaseSource | undefined;
  providerSource: ProviderGaugeSource | undefined;
  leader = false;

  constructor(meter: Meter) {
    this.jobs = meter.createObservableGauge('flotilla_aijobs', { description: 'AIJobs in the hub by status.phase (reported by the leader only).' });
    this.jobs.addCallback((result) => {
      if (!this.leader || !this.jobPhaseSource) return;
      for (const [phase, n] of this.jobPhaseSource()) result.observe(n, { phase });
    });
    // What the process holds, split the way V8 reports it: RSS alone cannot tell a growing heap
    // (objects kept) from a heap V8 has not given back (docs/benchmarks.md, operator footprint).
    this.memory = meter.createObservableGauge('flotilla_process_memory_bytes', {
      description: 'Memory of this operator process by kind: rss, heap_used, heap_total, external, array_buffers (process.memoryUsage()).',
      unit: 'By',
    });
    this.memory.addCallback((result) => {
      const m = process.memoryUsage();
      result.observe(m.rss, { kind: 'rss' });
      result.observe(m.heapUsed, { kind: 'heap_used' });
      result.observe(m.heapTotal, { kind: 'heap_total' });
      result.observe(m.external, { kind: 'external' });
      result.observe(m.arrayBuffers, { kind: 'array_buffers' });
    });
    // How late callbacks ran and how busy the loop was, since the previous collection: a write the
    // apiserver answered at once still waits this long for the reconcile to go on.
    this.eventLoopMonitor = new EventLoopMonitor();
    this.eventLoopDelay = meter.createObservableGauge('flotilla_event_loop_delay_seconds', {
      description: "How late this process's event loop ran a 20 ms timer since the previous collection: the worst and the mean.",
      unit: 's',
    });
    this.eventLoopUtilisation = meter.createObservableGauge('flotilla_event_loop_utilization', {
      description: "Share of the time since the previous collection this process's event loop spent running callbacks (0–1).",
    });
    meter.addBatchObservableCallback(
      (result) => {
        const r = this.eventLoopMonitor.read();
        result.observe(this.eventLoopDelay, r.maxDelaySeconds, { stat: 'max' });
        result.observe(this.eventLoopDelay, r.meanDelaySeconds, { stat: 'mean' });
        result.observe(this.eventLoopUtilisation, r.utilisation);
      },
      [this.eventLoopDelay, this.eventLoopUtilisation],
    );
    this.leaderGauge = meter.createObservableGauge('flotilla_leader', { description: '1 while this replica holds the leader Lease, 0 while it stands by.' });
    this.leaderGauge.addCallback((result) => result.observe(this.leader ? 1 : 0));
    // The view placement decides from (this replica's caches, not the GPUProvider status that any
    // replica may have written): what to alert on when a provider drops out.
    this.providerReady = meter.createObservableGauge('flotilla_provider_ready', {
      description: "1 while the leader's connection to the provider is usable (reachable, synced, namespace present), else 0.",
    });
    this.providerFreeGpus = meter.createObservableGauge('flotilla_provider_free_gpus', {
      description: "Free GPUs of each product on the provider's usable nodes in the leader's view (none while the connection is not usable).",
    });
    meter.addBatchObservableCallback(
      (result) => {
        if (!this.leader || !this.providerSource) return;
        for (const p of this.providerSource()) {
          result.observe(this.providerReady, p.ready ? 1 : 0, { provider: p.provider });
          if (!p.ready) continue;
          for (const [product, free] of p.freeGpus) result.observe(this.providerFreeGpus, free, { provider: p.provider, product });
        }
      },
      [this.providerReady, this.providerFreeGpus],
    );
    this.placementLatency = meter.createHistogram('flotilla_placement_latency_seconds', {
      description: 'From a job needing a place (created, or its previous attempt ended) to the start of its attempt.',
      unit: 's',
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S },
    });
    this.placementDecision = meter.createHistogram('flotilla_placement_decision_seconds', {
      description: 'Time placeJob took to decide, by outcome.',
      unit: 's',
      advice: { explicitBucketBoundaries: DECISION_BUCKETS_S },
    });
    this.preemptions = meter.createCounter('flotilla_preemptions_total', {
      description: 'Attempts ended by their provider, by provider and signal (DisruptionTarget, PodDeleted, NodeLost, …).',
    });
    this.recoveries = meter.createCounter('flotilla_recoveries_total', {
      description: 'Attempts started after a preempted one, by the provider left and the provider chosen.',
    });
    this.jobsFinished = meter.createCounter('flotilla_jobs_finished_total', { description: 'AIJobs that reached Succeeded or Failed.' });
    this.pins = meter.createCounter('flotilla_pins_total', {
      description: "CIDs pinned on the hub's IPFS node, by kind (output, checkpoint, receipt, input).",
    });
    this.settlements = meter.createCounter('flotilla_settlements_total', { description: 'Jobs settled on the escrow contract, by token.' });
    this.settledAmount = meter.createCounter('flotilla_settled_amount_total', {
      description: 'Amount paid to providers by settlements, in token units, by token.',
    });
    this.apiRequests = meter.createCounter('flotilla_kube_api_requests_total', {
      description: "Requests sent to a cluster's apiserver, by cluster and HTTP verb.",
    });
    this.apiThrottled = meter.createCounter('flotilla_kube_api_throttled_total', {
      description: 'Requests that waited for the client-side rate limiter, by cluster and urgency (urgent: writes that gate pod creation).',
    });
    this.apiThrottleWait = meter.createCounter('flotilla_kube_api_throttle_wait_seconds_total', {
      description: 'Time requests waited for the client-side rate limiter, by cluster and urgency.',
      unit: 's',
    });
    this.watchExpired = meter.createCounter('flotilla_watch_expired_total', {
      description: 'Watches told their resourceVersion is too old (410 Gone, history compacted); each relists once, by resource.',
    });
    this.reconcileDuration = meter.createHistogram('flotilla_reconcile_duration_seconds', {
      description: 'Duration of one reconcile, by controller and outcome.',
      unit: 's',
      advice: { explicitBucketBoundaries: RECONCILE_BUCKETS_S },
    });
    this.malformedObjects = meter.createCounter('flotilla_provider_malformed_objects_total', {
      description: "Nodes and pods a provider's API server sent in a shape the operator cannot read: skipped, by provider and kind.",
    });
    this.callbacks = meter.createCounter('flotilla_callbacks_total', {
      description: 'spec.callbackURL deliveries, by outcome (delivered, retry, failed, refused by the URL policy).',
    });
    this.providerViolations = meter.createCounter('flotilla_provider_violations_total', {
      description: "Pods a provider made itself with a job's labels (ignored, reported, deleted where allowed), by provider.",
    });
    this.provenMismatches = meter.createCounter('flotilla_provider_proven_mismatches_total', {
      description: 'Runs proven by independent re-execution to have reported a wrong output, by provider (docs/verification.md).',
    });
    this.writeConflicts = meter.createCounter('flotilla_aijob_write_conflicts_total', {
      description:
        'AIJob writes the hub refused because another write landed since the writer read the job (409 Conflict, 422 on a failed JSON-patch test), by writer and what it wrote (status, claim, finalizers). Each is retried; a steady rate means two writers share a field.',
    });
    this.claimedElsewhere = meter.createCounter('flotilla_jobs_claimed_elsewhere_total', {
      description: "AIJobs in this operator's view that another operator runs (flotilla.dev/managed-by): left alone, counted once each.",
    });
    this.orphansDeleted = meter.createCounter('flotilla_orphan_pods_deleted_total', {
      description: 'Pods of this hub at a provider deleted by the orphan sweep (their job gone or their attempt closed), by provider.',
    });
  }
}

let current: FlotillaMetrics | undefined;

/** Creates the instruments on `provider`; the record functions below use them from now on. */
export function installMetrics(provider: MeterProvider): FlotillaMetrics {
  current?.eventLoopMonitor.stop();
  current = new FlotillaMetrics(provider.getMeter('flotilla'));
  return current;
}

/** Back to no-ops (tests, shutdown). */
export function uninstallMetrics(): void {
  current?.eventLoopMonitor.stop();
  current = undefined;
}

const add = (counter: (m: FlotillaMetrics) => Counter, value: number, attributes?: Attributes) => {
  if (current && Number.isFinite(value) && value >= 0) counter(current).add(value, attributes);
};

export function setJobPhaseSource(source: JobPhaseSource | undefined): void {
  if (current) current.jobPhaseSource = source;
}

export function setProviderSource(source: ProviderGaugeSource | undefined): void {
  if (current) current.providerSource = source;
}

export function setLeader(leading: boolean): void {
  if (current) current.leader = leading;
}

/** A provider ended an attempt: `signal` is the attempt's end reason (DisruptionTarget, PodDeleted, NodeLost, …). */
export function recordPreemption(provider: string, signal: string): void {
  add((m) => m.preemptions, 1, { provider, signal });
}

/** An attempt started after a preempted one. */
export function recordRecovery(fromProvider: string, toProvider: string): void {
  add((m) => m.recoveries, 1, { from_provider: fromProvider, to_provider: toProvider });
}

export function recordJobFinished(phase: 'Succeeded' | 'Failed'): void {
  add((m) => m.jobsFinished, 1, { phase });
}

export function recordPlacementLatency(seconds: number, provider: string): void {
  if (current && Number.isFinite(seconds) && seconds >= 0) current.placementLatency.record(seconds, { provider });
}

/** Time placeJob took; `outcome` is PlacementDecision.outcome (Placed, Unschedulable). */
export function recordPlacementDecision(seconds: number, outcome: string): void {
  if (current && Number.isFinite(seconds) && seconds >= 0) current.placementDecision.record(seconds, { outcome });
}

/** A CID was pinned on the hub's IPFS node (call once per successful pin.add, not per retry). */
export function recordPin(kind: PinKind = 'output'): void {
  add((m) => m.pins, 1, { kind });
}

/** A settlement landed: `amount` paid to providers in token units (a decimal string or number). */
export function recordSettlement(token: string, amount: string | number): void {
  add((m) => m.settlements, 1, { token });
  add((m) => m.settledAmount, typeof amount === 'number' ? amount : Number(amount), { token });
}

/** A watch got 410 Gone: its informer relists (`resource`: the collection's last path segment, e.g. pods). */
export function recordWatchExpired(resource: string): void {
  add((m) => m.watchExpired, 1, { resource });
}

/** One request to a cluster's apiserver; `waitedMs` > 0 when the rate limiter held it back. */
export function recordApiRequest(cluster: string, verb: string, waitedMs: number, urgency: Urgency = 'normal'): void {
  add((m) => m.apiRequests, 1, { cluster, verb });
  if (waitedMs > 0) {
    add((m) => m.apiThrottled, 1, { cluster, urgency });
    add((m) => m.apiThrottleWait, waitedMs / 1000, { cluster, urgency });
  }
}

export function recordReconcile(controller: string, seconds: number, outcome: ReconcileOutcome): void {
  if (current && Number.isFinite(seconds) && seconds >= 0) current.reconcileDuration.record(seconds, { controller, outcome });
}

export function recordCallback(outcome: CallbackOutcome): void {
  add((m) => m.callbacks, 1, { outcome });
}

/** A provider sent a node or pod the operator cannot read (counted once per object version). */
export function recordMalformedObject(provider: string, kind: string): void {
  add((m) => m.malformedObjects, 1, { provider, kind });
}

/** A pod the provider made itself with a job's labels. */
export function recordProviderViolation(provider: string): void {
  add((m) => m.providerViolations, 1, { provider });
}

/** Re-execution proved a run of this provider wrong (docs/verification.md). */
export function recordProvenMismatch(provider: string): void {
  add((m) => m.provenMismatches, 1, { provider });
}

/** The orphan sweep deleted a pod of this hub at the provider. */
export function recordOrphanDeleted(provider: string): void {
  add((m) => m.orphansDeleted, 1, { provider });
}

/** A job in view is run by another operator: left alone (once per job). */
export function recordJobClaimedElsewhere(): void {
  add((m) => m.claimedElsewhere, 1);
}

/** The hub refused an AIJob write as stale (409, or 422 on a failed JSON-patch test); the writer retries it. */
export function recordWriteConflict(writer: string, write: 'status' | 'claim' | 'finalizers'): void {
  add((m) => m.writeConflicts, 1, { writer, write });
}
