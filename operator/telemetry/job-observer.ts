// Turns the hub's AIJob watch into metrics and phase spans: each version of a job is compared with
// the previous one this process saw (jobTransitions), so nothing needs to be called from inside the
// controllers. A job first seen already under way is a baseline: its history is not re-counted
// (counters restart with the process, as Prometheus expects). Only the leader records; a standby
// keeps its baseline current so that it counts exactly what happens after it takes over.
import type { Tracer } from '@opentelemetry/api';
import type { AIJob } from '../api/types.ts';
import { jobTransitions } from './job-transitions.ts';
import { recordJobFinished, recordPlacementLatency, recordPreemption, recordRecovery, recordSettlement } from './metrics.ts';
import { recordPhaseSpan } from './tracing.ts';

interface Seen {
  readonly job: AIJob;
  /** Epoch ms the current phase was entered (as well as this process knows). */
  readonly since: number;
}

export interface JobObserverOptions {
  readonly leading: () => boolean;
  readonly tracer?: Tracer;
  readonly now?: () => number;
}

const phaseOf = (job: AIJob) => job.status?.phase ?? 'New';

/** When the job's current phase began, judged from the newest condition transition (or creation). */
function enteredAt(job: AIJob, fallback: number): number {
  const times = (job.status?.conditions ?? []).map((c) => Date.parse(c.lastTransitionTime ?? '')).filter(Number.isFinite);
  const created = Date.parse(job.metadata.creationTimestamp ?? '');
  if (times.length > 0) return Math.max(...times);
  return Number.isFinite(created) ? created : fallback;
}

export class JobObserver {
  private readonly seen = new Map<string, Seen>();
  private readonly opts: JobObserverOptions;
  private readonly now: () => number;

  constructor(opts: JobObserverOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** Feed every informer event here. */
  observe(type: 'add' | 'update' | 'delete', job: AIJob): void {
    const uid = job.metadata.uid ?? '';
    if (type === 'delete') {
      this.seen.delete(uid);
      return;
    }
    const previous = this.seen.get(uid);
    const now = this.now();
    if (!previous) {
      this.seen.set(uid, { job, since: enteredAt(job, now) });
      return;
    }
    const phaseChanged = phaseOf(previous.job) !== phaseOf(job);
    this.seen.set(uid, { job, since: phaseChanged ? now : previous.since });
    if (!this.opts.leading()) return;
    for (const t of jobTransitions(previous.job, job)) {
      switch (t.kind) {
        case 'placed':
          if (t.latencySeconds !== undefined) recordPlacementLatency(t.latencySeconds, t.provider);
          break;
        case 'preempted':
          recordPreemption(t.provider, t.signal);
          break;
        case 'recovered':
          recordRecovery(t.fromProvider, t.toProvider);
          break;
        case 'finished':
          recordJobFinished(t.phase);
          break;
        case 'settled':
          recordSettlement(t.token, t.amount);
          break;
      }
    }
    if (phaseChanged && this.opts.tracer) {
      const ref = { namespace: job.metadata.namespace ?? '', name: job.metadata.name ?? '', uid };
      const attempt = previous.job.status?.attempts?.at(-1);
      recordPhaseSpan(this.opts.tracer, ref, phaseOf(previous.job), previous.since, now, {
        next: phaseOf(job),
        ...(attempt ? { provider: attempt.provider, attempt: attempt.index } : {}),
      });
    }
  }

  /** AIJobs by phase, for the flotilla_aijobs gauge. */
  phaseCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { job } of this.seen.values()) counts.set(phaseOf(job), (counts.get(phaseOf(job)) ?? 0) + 1);
    return counts;
  }
}
