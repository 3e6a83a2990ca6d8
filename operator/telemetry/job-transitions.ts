// What happened to an AIJob between two versions of it, as the metrics see it: attempts that
// started (placement latency, recoveries), attempts a provider ended (preemptions), the job
// finishing, a settlement landing. Pure: the same two versions always give the same list, so a
// cache replaying an object it already showed records nothing twice.
import type { AIJob, AIJobAttempt } from '../api/types.ts';
import { isFinishedPhase } from '../core/lifecycle/phases.ts';

export type JobTransition =
  | { readonly kind: 'placed'; readonly provider: string; readonly attempt: number; readonly latencySeconds?: number }
  | { readonly kind: 'preempted'; readonly provider: string; readonly attempt: number; readonly signal: string }
  | { readonly kind: 'recovered'; readonly fromProvider: string; readonly toProvider: string; readonly attempt: number }
  | { readonly kind: 'finished'; readonly phase: 'Succeeded' | 'Failed' }
  | { readonly kind: 'settled'; readonly token: string; readonly amount: number };

/** Attempt end reasons that say the provider, not the job, ended it (the lifecycle writes "Preempted: <signal>"). */
const PROVIDER_SIGNALS = new Set(['DisruptionTarget', 'PodDeleted', 'NodeLost', 'NodeNotReady', 'NodeReclaimed', 'BindTimeout', 'ProviderUnreachable']);

/** The preemption signal of an ended attempt, or undefined when the provider did not end it. */
export function preemptionSignal(attempt: AIJobAttempt): string | undefined {
  const reason = attempt.reason ?? '';
  const m = /^Preempted(?::\s*(.+))?$/.exec(reason);
  if (m) return m[1]?.trim() || 'Preempted';
  return PROVIDER_SIGNALS.has(reason) ? reason : undefined;
}

const ms = (t: string | undefined) => (t ? Date.parse(t) : Number.NaN);

export function jobTransitions(before: AIJob | undefined, after: AIJob): JobTransition[] {
  const out: JobTransition[] = [];
  const old = new Map((before?.status?.attempts ?? []).map((a) => [a.index, a]));
  const attempts = [...(after.status?.attempts ?? [])].sort((a, b) => a.index - b.index);
  attempts.forEach((a, i) => {
    const was = old.get(a.index);
    const previous = i > 0 ? attempts[i - 1] : undefined;
    if (!was && a.startTime) {
      // Needing a place began at creation for the first attempt, at the previous attempt's end after that.
      const since = previous ? ms(previous.endTime) : ms(after.metadata.creationTimestamp);
      const latency = (ms(a.startTime) - since) / 1000;
      out.push({ kind: 'placed', provider: a.provider, attempt: a.index, ...(Number.isFinite(latency) && latency >= 0 ? { latencySeconds: latency } : {}) });
      if (previous && preemptionSignal(previous) !== undefined)
        out.push({ kind: 'recovered', fromProvider: previous.provider, toProvider: a.provider, attempt: a.index });
    }
    if (a.endTime && !was?.endTime) {
      const signal = preemptionSignal(a);
      if (signal !== undefined) out.push({ kind: 'preempted', provider: a.provider, attempt: a.index, signal });
    }
  });
  const phase = after.status?.phase;
  if (isFinishedPhase(phase) && before?.status?.phase !== phase) out.push({ kind: 'finished', phase });
  const settlement = after.status?.settlement;
  if (settlement?.txHash && !before?.status?.settlement?.txHash) {
    const amount = (settlement.amounts ?? []).reduce((sum, a) => sum + Number(a.amount), 0);
    out.push({ kind: 'settled', token: after.status?.cost?.token ?? after.spec.payment?.token ?? 'unknown', amount: Number.isFinite(amount) ? amount : 0 });
  }
  return out;
}
