// A provider's track record (GPUProvider status.reputation), folded from how the attempts placed
// there ended. Pure. The preemption hazard is a decayed rate: each preemption and each GPU-hour
// counts ½ per half-life of age, so a provider that was flaky last month but reliable this week
// recovers, and a burst of reclaims today weighs more than a quiet past. It is smoothed toward a
// prior (1 preemption per 100 GPU-hours, the neutral prior of providers/snapshot.ts) so a single
// preemption after a few GPU-minutes does not shut a provider out.
import type { AIJobAttempt, AIJobStatus, ProviderReputation } from '../api/types.ts';

export const REPUTATION_HALF_LIFE_MS = 72 * 3600_000;
export const PRIOR_PREEMPTIONS = 1;
export const PRIOR_GPU_HOURS = 100;

export type OutcomeClass = 'completed' | 'preempted' | 'failed';

export interface AttemptOutcome {
  readonly provider: string;
  readonly index: number;
  /** The attempt's reason: Succeeded, Failed, OutputInvalid, "Preempted: <signal>". */
  readonly reason: string;
  readonly gpuSeconds: number;
  /** Seconds from the attempt's start to its end (time to preemption for a preempted one). */
  readonly runSeconds: number;
  /** Epoch ms the attempt ended. */
  readonly endedAt: number;
}

/** A provider's fault or its taking the capacity back; everything else counts as completed. */
export function classify(reason: string): OutcomeClass {
  if (reason === 'Preempted: BindTimeout' || reason === 'Preempted: CreateRefused' || reason === 'Preempted: RestoreFailed') return 'failed';
  if (reason.startsWith('Preempted')) return 'preempted';
  return 'completed';
}

/** Attempts open in `before` and closed in `after` (what one status write just recorded). */
export function closedAttempts(before: AIJobStatus | undefined, after: AIJobStatus): AttemptOutcome[] {
  const wasOpen = new Set((before?.attempts ?? []).filter((a) => !a.endTime).map((a) => a.index));
  return (after.attempts ?? [])
    .filter((a): a is AIJobAttempt & { endTime: string } => wasOpen.has(a.index) && a.endTime !== undefined)
    .map((a) => {
      const endedAt = Date.parse(a.endTime);
      const started = Date.parse(a.startTime ?? a.endTime);
      return {
        provider: a.provider,
        index: a.index,
        reason: a.reason ?? 'Unknown',
        gpuSeconds: a.gpuSeconds ?? 0,
        runSeconds: Math.max(0, Math.round((endedAt - started) / 1000)),
        endedAt,
      };
    });
}

/** The reputation after one more outcome. Outcomes older than the last update decay from that instant. */
export function foldOutcome(rep: ProviderReputation | undefined, o: AttemptOutcome, halfLifeMs = REPUTATION_HALF_LIFE_MS): ProviderReputation {
  const kind = classify(o.reason);
  const last = Date.parse(rep?.updatedAt ?? '');
  const at = Number.isFinite(last) ? Math.max(last, o.endedAt) : o.endedAt;
  const decay = Number.isFinite(last) ? 0.5 ** ((at - last) / halfLifeMs) : 1;
  const decayedPreemptions = (rep?.decayedPreemptions ?? 0) * decay + (kind === 'preempted' ? 1 : 0);
  const decayedGpuHours = (rep?.decayedGpuHours ?? 0) * decay + o.gpuSeconds / 3600;
  const preempted = (rep?.preempted ?? 0) + (kind === 'preempted' ? 1 : 0);
  const meanBefore = rep?.meanTimeToPreemptionSeconds ?? 0;
  return {
    completed: (rep?.completed ?? 0) + (kind === 'completed' ? 1 : 0),
    preempted,
    failed: (rep?.failed ?? 0) + (kind === 'failed' ? 1 : 0),
    gpuSeconds: (rep?.gpuSeconds ?? 0) + o.gpuSeconds,
    meanTimeToPreemptionSeconds: kind === 'preempted' ? Math.round(meanBefore + (o.runSeconds - meanBefore) / preempted) : meanBefore,
    decayedPreemptions: round6(decayedPreemptions),
    decayedGpuHours: round6(decayedGpuHours),
    preemptionsPerGpuHour: round6((decayedPreemptions + PRIOR_PREEMPTIONS) / (decayedGpuHours + PRIOR_GPU_HOURS)),
    updatedAt: new Date(at).toISOString(),
  };
}

/**
 * The reputation after a provider-made pod with a job's labels was caught: counted in `violations`
 * and, like a provider failure, in `failed`, which lowers the completion rate placement scores by.
 * No GPU-hours and no decay reference change: the violation is not an attempt.
 */
export function foldViolation(rep: ProviderReputation | undefined): ProviderReputation {
  const completed = rep?.completed ?? 0;
  const preempted = rep?.preempted ?? 0;
  const decayedPreemptions = rep?.decayedPreemptions ?? 0;
  const decayedGpuHours = rep?.decayedGpuHours ?? 0;
  return {
    ...rep,
    completed,
    preempted,
    failed: (rep?.failed ?? 0) + 1,
    violations: (rep?.violations ?? 0) + 1,
    gpuSeconds: rep?.gpuSeconds ?? 0,
    meanTimeToPreemptionSeconds: rep?.meanTimeToPreemptionSeconds ?? 0,
    decayedPreemptions,
    decayedGpuHours,
    preemptionsPerGpuHour: rep?.preemptionsPerGpuHour ?? round6((decayedPreemptions + PRIOR_PREEMPTIONS) / (decayedGpuHours + PRIOR_GPU_HOURS)),
  };
}

/**
 * The reputation after a run here was proven to have reported a wrong output (docs/verification.md):
 * counted in `provenMismatches` — one keeps the provider from every job that verifies — and, like
 * a violation, in `failed`.
 */
export function foldProvenMismatch(rep: ProviderReputation | undefined): ProviderReputation {
  const penalised = foldViolation(rep);
  return { ...penalised, violations: rep?.violations ?? 0, provenMismatches: (rep?.provenMismatches ?? 0) + 1 };
}

/** Six decimals: stable JSON in status, far finer than the placement score's ppm resolution. */
function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
