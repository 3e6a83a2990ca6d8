// Records Events about AIJobs on the hub. Warnings are written one per occurrence, on their job.
// Normal (routine) Events go through the series of core/event-series.ts: the first few of each
// namespace and reason are written on their job, the rest are counted, and every flush interval
// the count becomes one aggregate Event of the namespace — so a burst of jobs does not cost an
// Event write per job per step (docs/observability.md, "Events").
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import { AIJOB, API_VERSION } from '../api/group.ts';
import type { AIJob } from '../api/types.ts';
import { aggregateMessage, DEFAULT_SERIES, flushDue, flushed, observe, seriesKey } from '../core/event-series.ts';
import type { SeriesOptions, SeriesState } from '../core/event-series.ts';
import type { JobEvent } from '../core/lifecycle/types.ts';
import { assertLeading } from '../runtime/lease-guard.ts';

/** A leak guard: series of namespaces and reasons this process keeps at once. */
const MAX_SERIES = 10_000;

interface Series {
  state: SeriesState;
  readonly namespace: string;
  readonly reason: string;
}

export class EventRecorder {
  private readonly core: CoreV1Api;
  private readonly component: string;
  private readonly opts: SeriesOptions;
  private readonly now: () => number;
  private readonly series = new Map<string, Series>();
  private timer: NodeJS.Timeout | undefined;
  /** Event objects written, for tests and the benchmark. */
  writes = 0;

  constructor(core: CoreV1Api, component: string, opts: Partial<SeriesOptions> = {}, now: () => number = Date.now) {
    this.core = core;
    this.component = component;
    this.opts = { ...DEFAULT_SERIES, ...opts };
    this.now = now;
  }

  async record(job: AIJob, event: JobEvent): Promise<void> {
    assertLeading(`record an Event on AIJob ${job.metadata.namespace}/${job.metadata.name}`);
    if (event.type !== 'Normal') return this.create(job, event);
    const namespace = job.metadata.namespace ?? '';
    const key = seriesKey(namespace, event.reason);
    const { state, action } = observe(this.series.get(key)?.state, event.message, this.now(), this.opts);
    if (!this.series.has(key) && this.series.size >= MAX_SERIES) this.series.delete(this.series.keys().next().value as string);
    this.series.set(key, { state, namespace, reason: event.reason });
    if (action.kind === 'individual') return this.create(job, event);
    this.ensureTimer();
  }

  /** Writes one aggregate Event for every series with counted occurrences whose flush is due (every such series with `force`). */
  async flush(force = false): Promise<void> {
    const now = this.now();
    for (const series of this.series.values()) {
      const { state } = series;
      if (!(force ? state.unflushed > 0 : flushDue(state, now, this.opts))) continue;
      assertLeading(`record an aggregate Event in ${series.namespace}`);
      series.state = flushed(state, now);
      // An Event's object must be in its namespace: the Namespace is named as if it were (kubectl get events -n shows it).
      const object = { apiVersion: 'v1', kind: 'Namespace', name: series.namespace, namespace: series.namespace };
      const message = aggregateMessage(series.reason, state.unflushed, state.lastMessage);
      const body = this.body(`aijobs.${series.reason.toLowerCase()}.`, object, 'Normal', series.reason, message);
      await this.core.createNamespacedEvent({ namespace: series.namespace, body: { ...body, count: state.unflushed } });
      this.writes++;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush().catch(() => undefined), Math.max(100, Math.floor(this.opts.flushMs / 2)));
    this.timer.unref();
  }

  private async create(job: AIJob, event: JobEvent): Promise<void> {
    const object = {
      apiVersion: API_VERSION,
      kind: AIJOB.kind,
      name: job.metadata.name ?? '',
      namespace: job.metadata.namespace ?? '',
      uid: job.metadata.uid ?? '',
      resourceVersion: job.metadata.resourceVersion ?? '',
    };
    await this.core.createNamespacedEvent({ namespace: object.namespace, body: this.body(`${object.name}.`, object, event.type, event.reason, event.message) });
    this.writes++;
  }

  private body(generateName: string, involvedObject: CoreV1Event['involvedObject'], type: string, reason: string, message: string): CoreV1Event {
    const now = new Date(this.now());
    return {
      metadata: { generateName, namespace: involvedObject.namespace ?? '' },
      involvedObject,
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
  }
}
