// The AIJob lifecycle as one pure function: from the job, the pods Flotilla can see and (when one
// was needed) a placement decision, to the status the job should have and the side effects that
// bring the provider clusters in line. Level-triggered: the plan depends only on what is observed
// now, so running it again after a crash at any point converges to the same result.
//
//            ┌────────── no open attempt ──────────┐
//   Pending ─┤ placed: open attempt N, write status │─▶ Scheduled ─ all replicas Running ─▶ Running
//            └ unschedulable: say why, retry later ─┘       │                                │
//                                                            ├─ a replica Failed ─────────────┼─▶ Failed
//                                                            ├─ all replicas Succeeded ───────┼─▶ Succeeded
//                                                            └─ a preemption signal ──────────┴─▶ Rescheduling ─▶ (place N+1)
//
// Preemption signals are in signals.ts; a reclaim taint first drains (SIGTERM, grace until the
// deadline) so replicas can checkpoint. Succeeded waits for OutputPinned (spec.output.pin); nothing
// is placed for a job with spec.payment before Funded is True; repeated preemptions back off.
//
// Ordering contract with the controller: status is written first (the attempt is recorded before
// its pods exist, so a crash never leaves pods the status does not know), then pods are created
// with deterministic names (creation is idempotent), then deletions.
import type { AIJobAttempt, AIJobStatus } from '../../api/types.ts';
import { findCondition, setCondition } from '../conditions.ts';
import { isTerminal } from './phases.ts';
import { fromBaseUnits } from '../money.ts';
import { formatUnschedulableMessage } from '../placement/messages.ts';
import type { NodeSelectorRequirement, Placement } from '../placement/types.ts';
import { parseTerminationMessage } from './report.ts';
import { restartBackoffMs } from './restart.ts';
import { DEFAULT_TIMING, detectPreemption, nextSignalDue } from './signals.ts';
import type { Detected, SignalContext } from './signals.ts';
import type { JobEvent, JobView, ObservedPod, PlanInput, PodCreation, PodDeletion, ProviderViolation, ReconcilePlan } from './types.ts';
import { meteredSeconds } from '../metering.ts';
import { claimPods, forgetPods, hubCreatedAt, recordPods } from './ownership.ts';
import type { PodClaims } from './ownership.ts';
import { checkInputs, nextAttemptPurpose, originalRun, purposeOf, verificationStep, windowExpired } from '../verification/verdict.ts';
import type { VerificationStep } from '../verification/verdict.ts';

export { podName } from './ownership.ts';

export const FINALIZER = 'flotilla.dev/remote-pods';
/**
 * How long after an Unschedulable or Queued verdict the job is looked at again: a safety net that
 * also refreshes the condition's message. The scheduler wakes a waiting job as soon as it places it
 * (or its verdict changes kind) and searches waiting jobs again itself every 20 s, so a short requeue
 * here would only cost reconciles — thousands of waiting jobs × one pass each.
 */
export const UNSCHEDULABLE_RETRY_MS = 120_000;
/** How long a preempting provider is avoided by the same job. */
export const PREEMPTION_COOL_DOWN_MS = 10 * 60_000;
/** A pod still there this long after its termination grace ended is force-deleted. */
export const STUCK_TERMINATING_MS = 30_000;
/** A pod recorded this recently and not in the provider's cache may only be on its way there. */
export const RECORD_SETTLE_MS = 30_000;
/** How often a job waiting on another controller (funding, pinning) is looked at again; their status writes also wake it. */
export const WAITING_RETRY_MS = 10_000;
/**
 * How long a new job that needs funding waits for the funding controller's verdict (its Funded
 * condition) before the lifecycle writes a status of its own. The verdict comes in well under a
 * second on a reachable chain; writing Pending/AwaitingFunding beside it made two first writes race
 * (one refused with 409 and retried). Past this the lifecycle says it waits, as before.
 */
export const FUNDING_VERDICT_GRACE_MS = 5_000;

export { isTerminal } from './phases.ts';

export function openAttempt(status: AIJobStatus | undefined): AIJobAttempt | undefined {
  const last = status?.attempts?.at(-1);
  return last && !last.endTime ? last : undefined;
}

const conditionIs = (status: AIJobStatus, type: string, value: string) => findCondition(status.conditions, type)?.status === value;
// Re-executions (docs/verification.md) do not count: the job's own work is done, and their retries are bounded apart.
const preemptionsOf = (status: AIJobStatus) => (status.attempts ?? []).filter((a) => purposeOf(a) === 'Run' && a.reason?.startsWith('Preempted')).length;

/**
 * A new job that needs funding and has no Funded verdict yet: the funding controller's verdict is
 * its first status write (FUNDING_VERDICT_GRACE_MS). The ms left of the grace, or undefined once
 * the job has a verdict, a phase, or has waited the grace out.
 */
export function fundingVerdictDueIn(job: JobView, now: number): number | undefined {
  if (!job.requiresFunding || job.createdAt === undefined || job.status.phase !== undefined) return undefined;
  if (findCondition(job.status.conditions, 'Funded')) return undefined;
  const waited = now - job.createdAt;
  return waited >= 0 && waited < FUNDING_VERDICT_GRACE_MS ? FUNDING_VERDICT_GRACE_MS - waited : undefined;
}

/** Why a job without an open attempt may not be placed now (funding, back-off), or undefined. */
export function placementBlocker(job: JobView, now: number): { reason: 'AwaitingFunding' | 'RestartBackoff'; message: string; retryInMs: number } | undefined {
  if (job.requiresFunding && !conditionIs(job.status, 'Funded', 'True')) {
    const funded = findCondition(job.status.conditions, 'Funded');
    return { reason: 'AwaitingFunding', message: `waiting for the escrow deposit${funded?.message ? `: ${funded.message}` : ''}`, retryInMs: WAITING_RETRY_MS };
  }
  const last = job.status.attempts?.at(-1);
  if (last?.endTime && last.reason?.startsWith('Preempted')) {
    const due = Date.parse(last.endTime) + restartBackoffMs(preemptionsOf(job.status));
    if (due > now)
      return {
        reason: 'RestartBackoff',
        message: `preempted ${preemptionsOf(job.status)} times; placing attempt ${last.index + 1} at ${iso(due)}`,
        retryInMs: due - now,
      };
  }
  return undefined;
}

/**
 * The job's own run completed and nothing is left to run: the job only waits for its output to be
 * pinned (and, verified, for nothing more — a verification still needing a run is not completed).
 */
function completed(status: AIJobStatus): boolean {
  return originalRun(status) !== undefined && verificationStep(status).kind !== 'run';
}

/** OutputPinned is True for the current status.outputCID (the artifacts controller names the CID it pinned). */
function outputPinned(status: AIJobStatus): boolean {
  const c = findCondition(status.conditions, 'OutputPinned');
  return c?.status === 'True' && Boolean(status.outputCID) && c.message.includes(status.outputCID as string);
}

/** True when the controller must compute a placement decision before planning. */
export function needsPlacement(job: JobView, now: number): boolean {
  return !job.deleting && !isTerminal(job.status) && !openAttempt(job.status) && !completed(job.status) && !placementBlocker(job, now);
}

/** Providers this job must avoid: those that preempted it within the cool-down. */
export function coolDownsOf(status: AIJobStatus | undefined): Array<{ provider: string; until: number }> {
  return (status?.attempts ?? [])
    .filter((a) => a.endTime && a.reason?.startsWith('Preempted'))
    .map((a) => ({ provider: a.provider, until: Date.parse(a.endTime as string) + PREEMPTION_COOL_DOWN_MS }));
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * GPU-seconds the given pods consumed up to `now` (a pod counts from its start to its end), on the
 * hub's clock (core/metering.ts): never before the attempt's recorded create, never after the hub
 * first saw the pod end; the provider's startedAt and finishedAt only narrow that window.
 */
export function gpuSecondsOf(pods: readonly ObservedPod[], gpusPerReplica: number, now: number, attempt?: AIJobAttempt): number {
  let total = 0;
  for (const p of pods) {
    const from = attempt ? hubCreatedAt(attempt, p.replica) : undefined;
    const to = Math.min(p.endSeenAt ?? now, now);
    total +=
      meteredSeconds(
        { ...(from !== undefined ? { from } : {}), to },
        { ...(p.startedAt !== undefined ? { startedAt: p.startedAt } : {}), ...(p.finishedAt !== undefined ? { finishedAt: p.finishedAt } : {}) },
      ) * gpusPerReplica;
  }
  return total;
}

/**
 * The newest checkpoint the attempt reported: from status (live reports) or a replica's termination
 * message. Its time comes from the replicas, and a preempted attempt is billed up to it: never later
 * than `now`, the hub's clock.
 */
function latestCheckpoint(attempt: AIJobAttempt, pods: readonly ObservedPod[], now: number): { cid: string; time: number } | undefined {
  let best: { cid: string; time: number } | undefined = attempt.checkpointCID
    ? { cid: attempt.checkpointCID, time: Date.parse(attempt.checkpointTime ?? '') || 0 }
    : undefined;
  for (const p of pods) {
    const r = parseTerminationMessage(p.exit?.message, p.finishedAt);
    if (r.checkpointCID && r.checkpointTime !== undefined && (!best || r.checkpointTime > best.time)) best = { cid: r.checkpointCID, time: r.checkpointTime };
  }
  return best && { cid: best.cid, time: Math.min(best.time, now) };
}

class PlanBuilder {
  status: AIJobStatus;
  readonly events: JobEvent[] = [];
  readonly deletions: PodDeletion[] = [];
  readonly violations: ProviderViolation[] = [];
  createPods?: PodCreation;
  requeueAfterMs?: number;
  provenLiar?: { attempt: number; provider: string };
  private readonly nowIso: string;
  private readonly now: number;
  private readonly generation: number;

  constructor(status: AIJobStatus, now: number, generation: number) {
    this.status = { ...status };
    this.now = now;
    this.nowIso = iso(now);
    this.generation = generation;
  }

  condition(type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string): void {
    this.status.conditions = setCondition(this.status.conditions, { type, status, reason, message }, this.nowIso, this.generation);
  }

  /**
   * Moves to a phase; an event is emitted only on an actual change. While a verification is pending
   * the job's own work is done: every non-terminal phase reads Verifying.
   */
  phase(wanted: NonNullable<AIJobStatus['phase']>, event?: JobEvent): void {
    const phase = this.status.verification?.state === 'Pending' && !isTerminalPhaseName(wanted) ? 'Verifying' : wanted;
    if (this.status.phase !== phase && event) this.events.push(event);
    this.status.phase = phase;
  }

  /** Emits the event only when the condition's reason or message changes (so requeues stay quiet). */
  eventOnChange(type: string, reason: string, message: string, event: JobEvent): void {
    const current = findCondition(this.status.conditions, type);
    const same = current?.reason === reason && current.message === message;
    if (!same) this.events.push(event);
  }

  /** Provider-made pods: reported, and deleted (no grace needed: nothing of ours runs in them). */
  rejectForeign(claims: PodClaims): void {
    for (const f of claims.foreign) this.violations.push(f.violation);
    // One delete each: one already terminating (a finalizer of the provider's, say) is its business.
    this.deleteAll(
      claims.foreign.map((f) => f.pod).filter((p) => !p.deleting),
      "provider-made pod with the job's labels",
      undefined,
      true,
    );
  }

  deleteAll(pods: readonly ObservedPod[], why: string, gracePeriodSeconds?: number, foreign = false): void {
    const mark = foreign ? { foreign: true } : {};
    for (const p of pods) {
      // No kubelet will ever confirm the end of a pod whose node is gone, nor of one still there
      // long after its grace ended (its kubelet is gone or wedged): remove it at once (what PodGC
      // does only after its quarantine), so the old attempt leaves no trace and deletion finishes.
      if (p.node?.state === 'Missing') this.deletions.push({ provider: p.provider, name: p.name, why: `${why} (node gone)`, gracePeriodSeconds: 0, ...mark });
      else if (p.deleting && p.deleteBy !== undefined && this.now > p.deleteBy + STUCK_TERMINATING_MS)
        this.deletions.push({ provider: p.provider, name: p.name, why: `${why} (still terminating after its grace)`, gracePeriodSeconds: 0, ...mark });
      else if (!p.deleting)
        this.deletions.push({ provider: p.provider, name: p.name, why, ...(gracePeriodSeconds !== undefined ? { gracePeriodSeconds } : {}), ...mark });
    }
  }

  closeAttempt(index: number, fields: Partial<AIJobAttempt>): void {
    this.status.attempts = (this.status.attempts ?? []).map((a) => (a.index === index ? { ...a, endTime: this.nowIso, ...fields } : a));
  }

  requeue(ms: number): void {
    this.requeueAfterMs = this.requeueAfterMs === undefined ? ms : Math.min(this.requeueAfterMs, ms);
  }

  finish(phase: 'Succeeded' | 'Failed', reason: string, message: string, now: number): void {
    this.condition('Finished', 'True', reason, message);
    this.condition('Running', 'False', 'AttemptEnded', message);
    this.status.completionTime = iso(now);
    this.phase(phase, { type: phase === 'Succeeded' ? 'Normal' : 'Warning', reason: phase === 'Succeeded' ? 'Succeeded' : reason, message });
  }
}

/** How a placement message names what a verification attempt is for. */
const PURPOSE_WORDS = { Verification: 're-execution', Tiebreak: 'tie-breaking re-execution', Check: 'the checker judging the re-execution' } as const;

const isTerminalPhaseName = (phase: string) => phase === 'Succeeded' || phase === 'Failed' || phase === 'Settled';

export function planReconcile(input: PlanInput): ReconcilePlan {
  const { job, now } = input;
  const b = new PlanBuilder(job.status, now, job.generation);
  const done = (extra: Partial<ReconcilePlan> = {}): ReconcilePlan => ({
    status: b.status,
    events: b.events,
    addFinalizer: false,
    removeFinalizer: false,
    deletePods: b.deletions,
    violations: b.violations,
    ...(b.createPods ? { createPods: b.createPods } : {}),
    ...(b.requeueAfterMs !== undefined ? { requeueAfterMs: b.requeueAfterMs } : {}),
    ...(b.provenLiar ? { provenLiar: b.provenLiar } : {}),
    ...extra,
  });

  // Only the operator's own pods count (ownership.ts); the provider's own are reported and deleted.
  const claims = claimPods(job, input.pods, now);
  b.rejectForeign(claims);

  // Deletion: remove every remote pod first; the finalizer goes only once none of ours is left
  // anywhere (a provider-made pod the credential cannot delete must not hold the job forever).
  if (job.deleting) {
    // The open attempt ends here, metered up to now, so that the payments side (which holds its own
    // finalizer until the work done is settled) can pay for it: a deleted job is stopped, not unpaid.
    const open = openAttempt(job.status);
    if (open && input.podsComplete) {
      const used = gpuSecondsOf(
        claims.own.filter((p) => p.attempt === open.index && p.provider === open.provider),
        job.gpusPerReplica,
        now,
        open,
      );
      b.closeAttempt(open.index, { reason: 'Deleted', message: 'the AIJob was deleted; its pods were stopped', gpuSeconds: used, billableGpuSeconds: used });
    }
    b.deleteAll([...claims.own, ...claims.unsure], 'AIJob deleted');
    const gone = input.podsComplete && claims.own.length + claims.unsure.length === 0;
    return done({ removeFinalizer: gone && job.hasFinalizer, ...(gone ? {} : { requeueAfterMs: 1_000 }) });
  }
  const addFinalizer = !job.hasFinalizer;

  if (isTerminal(job.status)) {
    b.deleteAll([...claims.own, ...claims.unsure], `job ${job.status.phase}`);
    return done({ addFinalizer });
  }

  const verdictDueIn = fundingVerdictDueIn(job, now);
  if (verdictDueIn !== undefined) {
    // Nothing written, not even observedGeneration: the funding verdict wakes the job, or the grace's end does.
    b.requeue(verdictDueIn);
    return done({ addFinalizer });
  }

  b.status.observedGeneration = job.generation;
  const current = openAttempt(job.status);
  // A pod of an attempt newer than any this status knows means the view of the job may be behind
  // (a stale cache): decide nothing from it, and never fence those pods — for a bounded time on the
  // hub's clock, after which such a pod is the provider's own (ownership.ts).
  if (claims.unsure.length > 0) {
    b.status = job.status;
    b.requeueAfterMs = Math.max(0, Math.min(500, (claims.unsureUntil ?? now) - now));
    return done({ addFinalizer });
  }
  if (current && claims.adopt.length > 0) b.status = recordPods(b.status, current.index, claims.adopt);
  const pods = claims.own;
  // Fencing: pods of any earlier attempt (e.g. one reappearing after a partition heals) are
  // deleted and never count.
  b.deleteAll(
    pods.filter((p) => p.attempt !== current?.index || p.provider !== current?.provider),
    current ? 'stale attempt' : 'attempt ended',
  );

  // spec.deadline: a job still working when it passes ends Failed (one only waiting for its output
  // to be pinned has finished its work and is left to finish).
  if (job.deadline !== undefined && !originalRun(job.status)) {
    if (now >= job.deadline) {
      planDeadlineExceeded(
        input,
        b,
        current,
        pods.filter((p) => p.attempt === current?.index && p.provider === current?.provider),
      );
      return done({ addFinalizer });
    }
    b.requeue(job.deadline - now);
  }

  const mine = current ? pods.filter((p) => p.attempt === current.index && p.provider === current.provider) : [];
  // The verification window ended first: the run is paid unverified (a re-execution under way stops, billed for what it used).
  if (windowExpired(job.status, now)) {
    planWindowExpired(input, b, current, mine);
    return done({ addFinalizer });
  }

  if (!current) {
    planAfterRuns(input, b);
    return done({ addFinalizer });
  }

  planAttempt(input, b, current, mine);
  return done({ addFinalizer });
}

/** No attempt is open: apply a verification verdict the attempts now prove, complete, or place the next attempt. */
function planAfterRuns(input: PlanInput, b: PlanBuilder): void {
  const step = verificationStep(b.status);
  if (step.kind === 'verdict') planVerdict(input, b, step);
  else if (completed(b.status)) planCompletion({ ...input, job: { ...input.job, status: b.status } }, b);
  else planPlacement({ ...input, job: { ...input.job, status: b.status } }, b);
}

/** A verdict (verdict.ts): record it, withhold the proven liar's pay, and finish. */
function planVerdict(input: PlanInput, b: PlanBuilder, step: Extract<VerificationStep, { kind: 'verdict' }>): void {
  const { job, now } = input;
  const v = b.status.verification ?? {};
  b.status.verification = {
    ...v,
    state: step.state,
    message: step.message.slice(0, 1024),
    ...(step.liar ? { liar: step.liar } : {}),
    ...(step.verifier ? { verifier: step.verifier } : {}),
  };
  if (step.liar) {
    const liar = step.liar;
    // Never paid for work not done: the proven-wrong run bills nothing (core/metering.ts reads billableGpuSeconds).
    b.status.attempts = (b.status.attempts ?? []).map((a) =>
      a.index === liar.attempt ? { ...a, billableGpuSeconds: 0, message: `withheld: its output was proven wrong (${a.outputCID ?? 'none'})` } : a,
    );
    b.provenLiar = liar;
    b.events.push({ type: 'Warning', reason: 'ProvenMismatch', message: step.message.slice(0, 1024) });
  }
  // Refuted: the job's output is the agreeing runs'; it is pinned before the job succeeds
  // (planCompletion waits for OutputPinned naming this CID, not the refuted one).
  b.status.outputCID = step.outputCID;
  const verified = step.state === 'Verified' || step.state === 'Refuted';
  b.condition('Verified', verified ? 'True' : 'False', step.state, step.message);
  if (step.state === 'Inconclusive') {
    b.finish('Failed', 'VerificationInconclusive', `${step.message}; set spec.verification.mode None for it`, now);
    return;
  }
  if (!step.liar) b.events.push({ type: step.state === 'Verified' ? 'Normal' : 'Warning', reason: step.state, message: step.message.slice(0, 1024) });
  planCompletion({ ...input, job: { ...job, status: b.status } }, b);
}

/** The verification window ended before a verdict: stop any re-execution (billed for what it used) and pay the run unverified. */
function planWindowExpired(input: PlanInput, b: PlanBuilder, current: AIJobAttempt | undefined, mine: readonly ObservedPod[]): void {
  const { job, now } = input;
  const message = `the verification window ended at ${b.status.verification?.windowEndsAt} before a re-execution finished; the run is paid unverified`;
  if (current) {
    const used = gpuSecondsOf(mine, job.gpusPerReplica, now, current);
    b.closeAttempt(current.index, { reason: 'VerificationWindowEnded', message, gpuSeconds: used, billableGpuSeconds: used });
    b.deleteAll(mine, 'verification window ended');
  }
  planVerdict(input, b, { kind: 'verdict', state: 'Expired', outputCID: b.status.outputCID ?? '', message });
}

function planPlacement(input: PlanInput, b: PlanBuilder): void {
  const { job, placement: decision, now } = input;
  const blocked = placementBlocker(job, now);
  // A paid hub refuses a job without spec.payment in a namespace that does not allow unpaid jobs
  // (the funding controller says so in Funded): terminal, never placed.
  const funded = findCondition(job.status.conditions, 'Funded');
  const refused = blocked?.reason === 'AwaitingFunding' && funded?.status === 'False' && funded.reason === 'PaymentRequired' ? funded : undefined;
  if (refused) {
    b.condition('Scheduled', 'False', 'PaymentRequired', refused.message);
    b.finish('Failed', 'PaymentRequired', refused.message, now);
    return;
  }
  if (blocked) {
    b.eventOnChange('Scheduled', blocked.reason, blocked.message, { type: 'Normal', reason: blocked.reason, message: blocked.message });
    b.condition('Scheduled', 'False', blocked.reason, blocked.message);
    if (b.status.phase !== 'Rescheduling') b.phase('Pending');
    b.requeue(blocked.retryInMs);
    return;
  }
  if (!decision) throw new Error('planReconcile: a placement decision is required when the job has no open attempt');
  if (decision.outcome === 'Queued') {
    // It could run, but waits its turn (its namespace's quota, a job ahead of it holding capacity).
    b.eventOnChange('Scheduled', decision.reason, decision.message, { type: 'Normal', reason: decision.reason, message: decision.message });
    b.condition('Scheduled', 'False', decision.reason, decision.message);
    if (b.status.phase !== 'Rescheduling') b.phase(job.requiresFunding && conditionIs(job.status, 'Funded', 'True') ? 'Funded' : 'Pending');
    b.requeue(UNSCHEDULABLE_RETRY_MS);
    return;
  }
  if (decision.outcome === 'Unschedulable') {
    const message = formatUnschedulableMessage(decision.rejections, { maxLength: 1024 });
    b.eventOnChange('Scheduled', 'Unschedulable', message, { type: 'Warning', reason: 'Unschedulable', message });
    b.condition('Scheduled', 'False', 'Unschedulable', message);
    // A paid job whose deposit is in says so while it waits for a provider.
    if (b.status.phase !== 'Rescheduling') b.phase(job.requiresFunding && conditionIs(job.status, 'Funded', 'True') ? 'Funded' : 'Pending');
    b.requeue(UNSCHEDULABLE_RETRY_MS);
    return;
  }
  const p = decision.placement;
  const index = (job.status.attempts?.at(-1)?.index ?? 0) + 1;
  const pricePerGpuHour = fromBaseUnits(p.score.pricePerGpuHour, job.priceDecimals);
  const purpose = nextAttemptPurpose(job.status);
  const attempt: AIJobAttempt = {
    index,
    provider: p.provider,
    nodes: [...p.assignments],
    startTime: iso(now),
    pricePerGpuHour,
    ...(purpose !== 'Run' ? { purpose } : {}),
  };
  b.status.attempts = [...(job.status.attempts ?? []), attempt];
  b.status.placement = {
    provider: p.provider,
    nodes: [...p.assignments],
    product: p.product,
    resourceName: p.resourceName,
    pricePerGpuHour,
    nodeSelector: p.nodeSelector.map((r) => ({ key: r.key, operator: r.operator, values: [...r.values] })),
  };
  const what = purpose === 'Run' ? '' : ` (${PURPOSE_WORDS[purpose]} of attempt ${originalRun(job.status)?.index})`;
  const message = `attempt ${index}${what}: ${job.replicas} replica(s) × ${job.gpusPerReplica} ${p.product} on ${p.provider} (nodes ${p.assignments.join(', ')})`;
  b.condition('Scheduled', 'True', 'Placed', message);
  b.condition('Running', 'False', 'PodsPending', pendingMessage(job.replicas, p.provider));
  b.events.push({ type: 'Normal', reason: 'Scheduled', message });
  b.phase('Scheduled');
  const check = purpose === 'Check' ? checkInputs(job.status) : undefined;
  b.createPods = { provider: p.provider, attempt: index, replicas: range(job.replicas), placement: p, ...(check ? { check } : {}) };
}

/** Every replica completed: Succeeded once the output is pinned (when spec.output.pin asks for it). */
function planCompletion(input: PlanInput, b: PlanBuilder): void {
  const { job, now } = input;
  const last = originalRun(job.status) ?? (job.status.attempts?.at(-1) as AIJobAttempt);
  const message = last.message ?? `all ${job.replicas} replica(s) completed on ${last.provider}`;
  if (!job.pinOutput || outputPinned(job.status)) {
    b.finish('Succeeded', 'Succeeded', message, now);
    return;
  }
  // The artifacts controller owns OutputPinned once it has said something; until then say what we wait for.
  if (!findCondition(job.status.conditions, 'OutputPinned')) {
    b.condition('OutputPinned', 'False', 'PinPending', `waiting for ${job.status.outputCID} to be pinned on the hub's IPFS node`);
  }
  b.condition('Running', 'False', 'OutputPinning', `${message}; waiting for the output to be pinned`);
  b.requeue(WAITING_RETRY_MS);
}

function placementFromStatus(status: AIJobStatus, provider: string): PodCreation['placement'] | undefined {
  const pl = status.placement;
  if (!pl || pl.provider !== provider || !pl.product || !pl.resourceName) return undefined;
  const nodeSelector: NodeSelectorRequirement[] = (pl.nodeSelector ?? []).map((r) => ({
    key: r.key,
    operator: r.operator as 'In' | 'Gt',
    values: [...r.values],
  }));
  return { provider, product: pl.product, resourceName: pl.resourceName, nodeSelector } satisfies Pick<
    Placement,
    'provider' | 'product' | 'resourceName' | 'nodeSelector'
  >;
}

function planAttempt(input: PlanInput, b: PlanBuilder, attempt: AIJobAttempt, mine: readonly ObservedPod[]): void {
  const { job, now } = input;
  const byReplica = new Map<number, ObservedPod>();
  for (const p of mine) byReplica.set(p.replica, p);
  const gpuSeconds = () => gpuSecondsOf(mine, job.gpusPerReplica, now, attempt);
  const missing = range(job.replicas).filter((r) => !byReplica.has(r));
  const runningCondition = findCondition(job.status.conditions, 'Running');
  const drain = runningCondition?.reason === 'NodeReclaiming' ? runningCondition : undefined;
  const reclaiming = drain !== undefined;
  const drainSince = Date.parse(drain?.lastTransitionTime ?? '');
  const ctx: SignalContext = {
    attempt,
    pods: mine,
    replicas: job.replicas,
    podsComplete: input.podsComplete,
    // A re-execution's job reads Verifying throughout (PlanBuilder.phase): its Running condition says whether it ran.
    wasRunning: b.status.phase === 'Running' || (b.status.phase === 'Verifying' && conditionIs(b.status, 'Running', 'True')),
    reclaiming,
    ...(Number.isFinite(drainSince) ? { reclaimingSince: drainSince } : {}),
    ...(input.attemptProvider ? { provider: input.attemptProvider } : {}),
    timing: { ...DEFAULT_TIMING, ...input.timing },
    now,
  };

  // 1. The provider took the attempt back, or refused to create its pods (quota, Pod Security…):
  //    a placement failure of that provider, not a bind timeout much later.
  const refused = input.createRefused?.attempt === attempt.index ? input.createRefused : undefined;
  const signal: Detected | undefined = refused
    ? { signal: 'CreateRefused', detail: `${attempt.provider}'s API server refused to create the pods: ${refused.message}` }
    : detectPreemption(ctx);
  if (
    signal?.signal === 'NodeReclaimed' &&
    signal.reclaimDeadline !== undefined &&
    now < signal.reclaimDeadline &&
    mine.some((p) => !p.deleting && p.phase !== 'Succeeded' && p.phase !== 'Failed')
  ) {
    planReclaimDrain(b, attempt, mine, signal, now);
    return;
  }
  if (signal) {
    planPreempted(input, b, attempt, mine, signal);
    return;
  }
  if (input.attemptProvider && !input.attemptProvider.reachable) {
    const due = nextSignalDue(ctx) ?? now;
    b.condition(
      'Running',
      'Unknown',
      'ProviderUnreachable',
      `${attempt.provider}'s API server does not answer; failing attempt ${attempt.index} over at ${iso(due)} unless it comes back`,
    );
    b.requeue(Math.max(0, due - now));
    return;
  }

  // 2. The job's own failure ends it. A re-execution that fails proves nothing about the run it
  //    checks: another provider re-executes it (verdict.ts bounds how many).
  const failed = mine.find((p) => p.phase === 'Failed');
  if (failed) {
    const message = `${failed.name} failed${failed.exit ? ` with exit code ${failed.exit.code} (${failed.exit.reason})` : ''}`;
    const used = gpuSeconds();
    // A checker that exits 1 rejects the original output: a verdict, not a failure (verdict.ts).
    const rejected = purposeOf(attempt) === 'Check' && failed.exit?.code === 1;
    b.closeAttempt(attempt.index, {
      reason: rejected ? 'Rejected' : 'Failed',
      message: rejected ? `the checker rejected the original output: ${message}` : message,
      gpuSeconds: used,
      billableGpuSeconds: used,
    });
    if (rejected) {
      b.deleteAll(
        mine.filter((p) => p.phase !== 'Failed' && p.phase !== 'Succeeded'),
        'the checker rejected the output',
      );
      planAfterRuns(input, b);
      return;
    }
    if (purposeOf(attempt) !== 'Run') {
      b.deleteAll(
        mine.filter((p) => p.phase !== 'Failed' && p.phase !== 'Succeeded'),
        'a replica of the re-execution failed',
      );
      b.condition(
        'Verified',
        'Unknown',
        'ReExecutionFailed',
        `re-execution attempt ${attempt.index} on ${attempt.provider}: ${message}; trying another provider`,
      );
      b.requeue(0);
      return;
    }
    b.deleteAll(
      mine.filter((p) => p.phase !== 'Failed' && p.phase !== 'Succeeded'),
      'a replica failed',
    );
    b.finish('Failed', 'Failed', message, now);
    return;
  }

  // 3. Every replica succeeded: record the output; Succeeded follows once it is pinned.
  if (missing.length === 0 && mine.every((p) => p.phase === 'Succeeded')) {
    const reports = [...mine].sort((a, c) => a.replica - c.replica).map((p) => parseTerminationMessage(p.exit?.message, p.finishedAt));
    const outputCID = reports.map((r) => r.outputCID).find((c) => c);
    const used = gpuSeconds();
    if (purposeOf(attempt) === 'Check') {
      // Every checker replica exited 0: the original output is accepted (an output is not needed).
      const message = `the checker accepted the original output on ${attempt.provider}`;
      b.closeAttempt(attempt.index, { reason: 'Succeeded', message, gpuSeconds: used, billableGpuSeconds: used, ...(outputCID ? { outputCID } : {}) });
      planAfterRuns(input, b);
      return;
    }
    if (!outputCID) {
      const why = reports.map((r) => r.invalid).find((x) => x) ?? 'no replica reported an outputCID in its termination message';
      const message = `all ${job.replicas} replica(s) exited 0 on ${attempt.provider} but the output is unusable: ${why}`;
      b.closeAttempt(attempt.index, { reason: 'OutputInvalid', message, gpuSeconds: used, billableGpuSeconds: used });
      b.finish('Failed', 'OutputInvalid', message, now);
      return;
    }
    const message = `all ${job.replicas} replica(s) completed on ${attempt.provider}; output ${outputCID}`;
    // Its last checkpoint too (live reports or the termination message): pinned and in the receipt like any other.
    const checkpoint = latestCheckpoint(attempt, mine, now);
    b.closeAttempt(attempt.index, {
      reason: 'Succeeded',
      message,
      gpuSeconds: used,
      billableGpuSeconds: used,
      outputCID,
      ...(checkpoint ? { checkpointCID: checkpoint.cid, ...(checkpoint.time > 0 ? { checkpointTime: iso(checkpoint.time) } : {}) } : {}),
    });
    if (purposeOf(attempt) === 'Run') planRunSucceeded(input, b, attempt, outputCID);
    else planCheckFinished(input, b, attempt, outputCID);
    return;
  }

  // 4. Still going: create what is missing (idempotent), report progress.
  if (missing.length > 0 && input.podsComplete) {
    const placement = placementFromStatus(b.status, attempt.provider);
    const check = purposeOf(attempt) === 'Check' ? checkInputs(b.status) : undefined;
    // A record younger than RECORD_SETTLE_MS is a pod just created that may only not be in the
    // cache yet (the hub's watch often wakes the job before the provider's does): it is neither
    // created again (a wasted create answered AlreadyExists, or a second pod the record would call
    // foreign) nor forgotten; the job is looked at again when its record settles, or its pod shows.
    const createdAt = (replica: number) => Date.parse(attempt.pods?.find((r) => r.replica === replica)?.createdAt ?? '');
    const fresh = missing.filter((r) => createdAt(r) > now - RECORD_SETTLE_MS);
    const create = missing.filter((r) => !fresh.includes(r));
    if (placement && create.length > 0)
      b.createPods = { provider: attempt.provider, attempt: attempt.index, replicas: create, placement, ...(check ? { check } : {}) };
    if (fresh.length > 0) b.requeue(Math.max(0, Math.min(...fresh.map(createdAt)) + RECORD_SETTLE_MS - now));
    // Their pods are gone: the uids on record go before the new ones are made (status is written
    // first), so the replacement is recorded, or adopted by name after a crash — never foreign.
    b.status = forgetPods(b.status, attempt.index, create);
  }
  const running = mine.filter((p) => p.phase === 'Running' || p.phase === 'Succeeded').length;
  if (missing.length === 0 && running === job.replicas) {
    if (!b.status.startTime) b.status.startTime = iso(now);
    b.condition('Running', 'True', 'PodsRunning', `${job.replicas}/${job.replicas} replica(s) running on ${attempt.provider}`);
    if (conditionIs(job.status, 'Preempted', 'True')) {
      b.condition('Preempted', 'False', 'Recovered', `attempt ${attempt.index} is running on ${attempt.provider}`);
    }
    b.phase('Running', {
      type: 'Normal',
      reason: 'Running',
      message: `attempt ${attempt.index}: all ${job.replicas} replica(s) running on ${attempt.provider}`,
    });
  } else {
    // While none runs, the message the placement wrote stays: rewording it when the pods appear
    // would cost every job one more status write for nothing the user learns.
    b.condition(
      'Running',
      'False',
      'PodsPending',
      running === 0 ? pendingMessage(job.replicas, attempt.provider) : `${running}/${job.replicas} replica(s) running on ${attempt.provider}`,
    );
    b.requeue(5_000);
  }
  const due = nextSignalDue(ctx);
  if (due !== undefined) b.requeue(Math.max(0, due - now));
}

/** The job's own run succeeded: record its output and, when verification draws it, start re-executing it elsewhere. */
function planRunSucceeded(input: PlanInput, b: PlanBuilder, attempt: AIJobAttempt, outputCID: string): void {
  const { job, now } = input;
  b.status.outputCID = outputCID;
  const verify = job.verify;
  if (verify && verify.policy.mode !== 'None') {
    if (verify.drawn) {
      const windowEndsAt = iso(now + verify.policy.windowMs);
      b.status.verification = { state: 'Pending', windowEndsAt, originalCID: outputCID, compare: verify.policy.compare ?? 'Exact' };
      const message = `re-executing attempt ${attempt.index} on an independent provider before payment; window ends ${windowEndsAt}`;
      b.condition('Verified', 'Unknown', 'Pending', message);
      b.condition('Running', 'False', 'Verifying', `all ${job.replicas} replica(s) completed on ${attempt.provider}; ${message}`);
      b.phase('Verifying', { type: 'Normal', reason: 'Verifying', message });
      b.requeue(0);
      return;
    }
    b.status.verification = { state: 'Unsampled' };
    b.condition(
      'Verified',
      'False',
      'Unsampled',
      `not drawn for re-execution (spec.verification.mode ${verify.policy.mode}, sample rate ${verify.policy.sampleRate})`,
    );
  }
  planCompletion({ ...input, job: { ...job, status: b.status } }, b);
}

/** A re-execution finished with an output: a verdict, or a tiebreak when it disagrees with the original. */
function planCheckFinished(input: PlanInput, b: PlanBuilder, attempt: AIJobAttempt, outputCID: string): void {
  const step = verificationStep(b.status);
  if (step.kind === 'run') {
    const judge = step.purpose === 'Check' ? 'the checker judges the two on a third provider' : 'a third provider breaks the tie';
    const message = `re-execution attempt ${attempt.index} on ${attempt.provider} produced ${outputCID}, not the original ${b.status.verification?.originalCID}; ${judge}`;
    b.condition('Verified', 'Unknown', 'Mismatch', message);
    b.events.push({ type: 'Warning', reason: 'OutputMismatch', message });
    b.requeue(0);
    return;
  }
  planAfterRuns(input, b);
}

/** spec.deadline passed: the open attempt (if any) ends, billed for what it used, and the job fails. */
function planDeadlineExceeded(input: PlanInput, b: PlanBuilder, attempt: AIJobAttempt | undefined, mine: readonly ObservedPod[]): void {
  const { job, now } = input;
  const message = `spec.deadline ${iso(job.deadline ?? now)} passed before the job finished`;
  if (attempt) {
    const used = gpuSecondsOf(mine, input.job.gpusPerReplica, now, attempt);
    b.closeAttempt(attempt.index, { reason: 'DeadlineExceeded', message, gpuSeconds: used, billableGpuSeconds: used });
    b.deleteAll(mine, 'deadline exceeded');
  }
  b.finish('Failed', 'DeadlineExceeded', message, now);
}

/** A reclaim taint with a future deadline: SIGTERM the replicas now with a grace that ends at the deadline. */
function planReclaimDrain(b: PlanBuilder, attempt: AIJobAttempt, mine: readonly ObservedPod[], signal: Detected, now: number): void {
  const deadline = signal.reclaimDeadline as number;
  const graceSeconds = Math.max(1, Math.ceil((deadline - now) / 1000));
  const message = `attempt ${attempt.index} on ${attempt.provider}: ${signal.detail}; replicas told to checkpoint and stop within ${graceSeconds}s`;
  const reclaiming = findCondition(b.status.conditions, 'Running')?.reason === 'NodeReclaiming';
  if (!reclaiming) b.events.push({ type: 'Warning', reason: 'Reclaiming', message });
  b.condition('Running', 'False', 'NodeReclaiming', message);
  b.condition('Preempted', 'True', 'NodeReclaimed', message);
  b.deleteAll(
    mine.filter((p) => p.phase !== 'Succeeded' && p.phase !== 'Failed'),
    'node reclaimed: checkpoint before the deadline',
    graceSeconds,
  );
  b.requeue(Math.max(0, deadline - now));
}

function planPreempted(input: PlanInput, b: PlanBuilder, attempt: AIJobAttempt, mine: readonly ObservedPod[], signal: Detected): void {
  const { job, now } = input;
  // Pods the provider no longer shows (it is unreachable) ran, at most, until it last answered.
  const lastSeen = input.attemptProvider?.reachable === false ? input.attemptProvider.lastSeen : undefined;
  const started = Date.parse(attempt.startTime ?? '');
  const used =
    mine.length === 0 && lastSeen !== undefined && Number.isFinite(started)
      ? Math.max(0, Math.floor((lastSeen - started) / 1000)) * job.gpusPerReplica * job.replicas
      : gpuSecondsOf(mine, job.gpusPerReplica, now, attempt);
  const checkpoint = latestCheckpoint(attempt, mine, now);
  // Paid up to the last checkpoint only: the work after it is lost and will be redone elsewhere.
  const billable = checkpoint ? billableUntil(attempt, mine, job.gpusPerReplica, job.replicas, checkpoint.time, used) : 0;
  b.closeAttempt(attempt.index, {
    reason: `Preempted: ${signal.signal}`,
    message: signal.detail,
    // Pods already gone (a drained node whose kubelet removed them at once) show no run time, but the
    // checkpoint proves the work up to it: what ran is never recorded as less than what is billed.
    gpuSeconds: Math.max(used, billable),
    billableGpuSeconds: billable,
    ...(checkpoint ? { checkpointCID: checkpoint.cid, ...(checkpoint.time > 0 ? { checkpointTime: iso(checkpoint.time) } : {}) } : {}),
  });
  b.deleteAll(mine, 'attempt preempted');
  const resume = checkpoint ? `; resuming from checkpoint ${checkpoint.cid}` : '';
  b.condition('Preempted', 'True', signal.signal, `attempt ${attempt.index} on ${attempt.provider}: ${signal.detail}`);
  const preemptions = preemptionsOf(b.status);
  if (preemptions > job.maxRestarts) {
    const message = `preempted ${preemptions} times (last: ${signal.signal} on ${attempt.provider}); spec.recovery.maxRestarts is ${job.maxRestarts}`;
    b.finish('Failed', 'RestartLimitExceeded', message, now);
    return;
  }
  const backoff = restartBackoffMs(preemptions);
  b.condition('Running', 'False', 'AttemptEnded', `attempt ${attempt.index} was preempted (${signal.signal})`);
  b.condition(
    'Scheduled',
    'False',
    'Rescheduling',
    `attempt ${attempt.index} on ${attempt.provider} was preempted (${signal.signal}); placing attempt ${attempt.index + 1}${backoff > 0 ? ` after ${Math.round(backoff / 1000)}s` : ''}${resume}`,
  );
  b.phase('Rescheduling', {
    type: 'Warning',
    reason: 'Preempted',
    message: `attempt ${attempt.index} on ${attempt.provider}: ${signal.signal}: ${signal.detail}${resume}`,
  });
  b.requeue(backoff);
}

/** GPU-seconds from the replicas' start up to the checkpoint, never more than were used. */
function billableUntil(attempt: AIJobAttempt, pods: readonly ObservedPod[], gpus: number, replicas: number, until: number, used: number): number {
  if (pods.some((p) => p.startedAt !== undefined)) return Math.min(used, gpuSecondsOf(pods, gpus, until, attempt));
  // Pods unobservable (provider unreachable, node gone with them): count from the attempt's start.
  const started = Date.parse(attempt.startTime ?? '');
  return Number.isFinite(started) ? Math.max(0, Math.floor((until - started) / 1000)) * gpus * replicas : 0;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The Running condition's message while no replica of the attempt runs yet. */
function pendingMessage(replicas: number, provider: string): string {
  return `waiting for ${replicas} replica(s) to start on ${provider}`;
}
