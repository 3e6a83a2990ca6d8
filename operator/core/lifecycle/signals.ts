// How the lifecycle recognises that a provider took an attempt back (docs/architecture.md,
// "Lifecycle and preemption"). Every signal comes from what the provider's informer caches show
// now — pods, their conditions, their nodes — so each is noticed within one watch event; only the
// two slow ones (bind timeout, provider unreachable) are judged against a clock, and the controller
// requeues for exactly that instant.
//
//   DisruptionTarget     a pod carries the DisruptionTarget condition: the provider's scheduler
//                        preempted it for its own higher-priority work, the eviction API (drain),
//                        the taint manager or PodGC is removing it
//   NodeLost             a replica's node was deleted (spot reclaim) or is NotReady/Unknown (its
//                        kubelet stopped heartbeating; the node-lifecycle controller said so)
//   NodeReclaimed        a replica's node is tainted flotilla.dev/reclaim: the provider wants it back
//                        by a deadline, and the replicas get until then to checkpoint
//   PodDeleted           a replica disappeared after the gang had been running
//   BindTimeout          replicas still Pending past the bind timeout (the provider's scheduler
//                        cannot or will not bind them)
//   ProviderUnreachable  the provider's API server did not answer for the whole grace period
//   RestoreFailed        a replica's job agent could not restore the checkpoint it resumes from: the
//                        provider's IPFS node did not serve it (the pod failed in its init step)
//   CreateRefused        the provider's API server refused to create the pods (ResourceQuota
//                        exceeded, Pod Security, LimitRange): reported by the controller, not here
//
// A reclaim deadline is the provider's word: it is clamped to maxReclaimGraceMs after the drain
// began (on the hub's clock), so a deadline a year out cannot hold a job in a drain for a year.
import type { AIJobAttempt } from '../../api/types.ts';
import type { LifecycleTiming, ObservedPod, ProviderReachability } from './types.ts';

export type PreemptionSignal =
  'DisruptionTarget' | 'NodeLost' | 'NodeReclaimed' | 'PodDeleted' | 'BindTimeout' | 'ProviderUnreachable' | 'CreateRefused' | 'RestoreFailed';

export const DEFAULT_TIMING: LifecycleTiming = { bindTimeoutMs: 5 * 60_000, unreachableGraceMs: 60_000, maxReclaimGraceMs: 10 * 60_000 };

export interface Detected {
  readonly signal: PreemptionSignal;
  readonly detail: string;
  /** NodeReclaimed: epoch ms by which the replicas must be gone. */
  readonly reclaimDeadline?: number;
}

export interface SignalContext {
  readonly attempt: AIJobAttempt;
  /** The attempt's pods as observed (empty when the provider is unreachable). */
  readonly pods: readonly ObservedPod[];
  readonly replicas: number;
  readonly podsComplete: boolean;
  /** The gang reached Running during this attempt: a pod missing now was taken, not yet to be made. */
  readonly wasRunning: boolean;
  /** The attempt is already draining for a reclaim (Running=False/NodeReclaiming). */
  readonly reclaiming: boolean;
  /** Epoch ms (hub clock) the drain began: the Running condition's lastTransitionTime. */
  readonly reclaimingSince?: number;
  readonly provider?: ProviderReachability;
  readonly timing: LifecycleTiming;
  readonly now: number;
}

const live = (p: ObservedPod) => p.phase !== 'Succeeded' && p.phase !== 'Failed';
const iso = (ms: number) => new Date(ms).toISOString();

/** The first signal that the attempt was taken back, in order of how specific it is; undefined when none. */
export function detectPreemption(ctx: SignalContext): Detected | undefined {
  const { attempt, pods, now, timing } = ctx;
  const started = Date.parse(attempt.startTime ?? '') || now;

  if (ctx.provider && !ctx.provider.reachable) {
    const since = Math.max(ctx.provider.lastSeen ?? started, started);
    if (now - since >= timing.unreachableGraceMs) {
      return {
        signal: 'ProviderUnreachable',
        detail: `${attempt.provider}'s API server has not answered since ${iso(since)} (grace ${Math.round(timing.unreachableGraceMs / 1000)}s)`,
      };
    }
    return undefined;
  }

  const disrupted = pods.find((p) => p.disruption);
  if (disrupted) return { signal: 'DisruptionTarget', detail: `${disrupted.name}: ${disrupted.disruption?.reason}: ${disrupted.disruption?.message}` };

  // Before any failure of the job's own: the work never started, the provider's IPFS node failed it.
  const unrestored = pods.find((p) => p.restoreFailed !== undefined);
  if (unrestored) return { signal: 'RestoreFailed', detail: `${unrestored.name} could not restore its checkpoint: ${unrestored.restoreFailed}` };

  const lost = pods.find((p) => live(p) && p.nodeName && (p.node?.state === 'Missing' || p.node?.state === 'NotReady'));
  if (lost) {
    const what = lost.node?.state === 'Missing' ? 'was deleted' : `is NotReady${lost.node?.detail ? ` (${lost.node.detail})` : ''}`;
    return { signal: 'NodeLost', detail: `node ${lost.nodeName} running ${lost.name} ${what}` };
  }

  const reclaimed = pods.find((p) => live(p) && p.node?.reclaimDeadline !== undefined);
  if (reclaimed) {
    const deadline = Math.min(reclaimed.node?.reclaimDeadline as number, (ctx.reclaimingSince ?? now) + timing.maxReclaimGraceMs);
    return { signal: 'NodeReclaimed', detail: `node ${reclaimed.nodeName} is being reclaimed by ${iso(deadline)}`, reclaimDeadline: deadline };
  }

  if (!ctx.podsComplete) return undefined;
  const present = new Set(pods.map((p) => p.replica));
  const missing = Array.from({ length: ctx.replicas }, (_, r) => r).filter((r) => !present.has(r));
  if (missing.length > 0 && (ctx.wasRunning || ctx.reclaiming)) {
    return ctx.reclaiming
      ? { signal: 'NodeReclaimed', detail: `replica(s) ${missing.join(', ')} left ${attempt.provider} for the reclaim` }
      : { signal: 'PodDeleted', detail: `replica(s) ${missing.join(', ')} disappeared from ${attempt.provider}` };
  }

  const stuck = pods.filter((p) => p.phase === 'Pending');
  if (stuck.length > 0 && now - started >= timing.bindTimeoutMs) {
    const names = stuck.map((p) => `${p.name}${p.nodeName ? ` (on ${p.nodeName}, not started)` : ' (unbound)'}`).join(', ');
    return {
      signal: 'BindTimeout',
      detail: `${names} still Pending ${Math.round((now - started) / 1000)}s after the attempt started (bind timeout ${Math.round(timing.bindTimeoutMs / 1000)}s)`,
    };
  }
  return undefined;
}

/** Epoch ms at which a slow signal would fire if nothing changes; the controller requeues for it. */
export function nextSignalDue(ctx: SignalContext): number | undefined {
  const started = Date.parse(ctx.attempt.startTime ?? '') || ctx.now;
  if (ctx.provider && !ctx.provider.reachable) return Math.max(ctx.provider.lastSeen ?? started, started) + ctx.timing.unreachableGraceMs;
  if (ctx.pods.some((p) => p.phase === 'Pending')) return started + ctx.timing.bindTimeoutMs;
  return undefined;
}
