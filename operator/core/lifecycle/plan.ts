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
//                                                            └─ DisruptionTarget / pod gone ──┴─▶ Rescheduling ─▶ (place N+1)
//
// Ordering contract with the controller: status is written first (the attempt is recorded before
// its pods exist, so a crash never leaves pods the status does not know), then pods are created
// with deterministic names (creation is idempotent), then deletions.
import type { AIJobAttempt, AIJobStatus } from '../../api/types.ts';
import { setCondition } from '../conditions.ts';
import { formatUnschedulableMessage } from '../placement/messages.ts';
import type { NodeSelectorRequirement, Placement } from '../placement/types.ts';
import type { JobEvent, ObservedPod, PlanInput, PodCreation, PodDeletion, ReconcilePlan } from './types.ts';

export const FINALIZER = 'flotilla.dev/remote-pods';
/** How long after an unschedulable verdict the job is looked at again (provider events also wake it). */
export const UNSCHEDULABLE_RETRY_MS = 20_000;
/** How long a preempting provider is avoided by the same job. */
export const PREEMPTION_COOL_DOWN_MS = 10 * 60_000;

const TERMINAL = new Set(['Succeeded', 'Failed', 'Settled']);

export function isTerminal(status: AIJobStatus | undefined): boolean {
  return TERMINAL.has(status?.phase ?? '');
}

export function openAttempt(status: AIJobStatus | undefined): AIJobAttempt | undefined {
  const last = status?.attempts?.at(-1);
  return last && !last.endTime ? last : undefined;
}

/** True when the controller must compute a placement decision before planning. */
export function needsPlacement(job: PlanInput['job']): boolean {
  return !job.deleting && !isTerminal(job.status) && !openAttempt(job.status);
}

/** Providers this job must avoid: those that preempted it within the cool-down. */
export function coolDownsOf(status: AIJobStatus | undefined): Array<{ provider: string; until: number }> {
  return (status?.attempts ?? [])
    .filter((a) => a.endTime && a.reason?.startsWith('Preempted'))
    .map((a) => ({ provider: a.provider, until: Date.parse(a.endTime as string) + PREEMPTION_COOL_DOWN_MS }));
}

/** Deterministic pod name of a replica of an attempt: unique per job (uid) even across hub namespaces. */
export function podName(job: { name: string; uid: string }, attempt: number, replica: number): string {
  return `${job.name}-${job.uid.slice(0, 8)}-a${attempt}-r${replica}`;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** GPU-seconds the given pods consumed up to `now` (a pod counts from its start to its end). */
export function gpuSecondsOf(pods: readonly ObservedPod[], gpusPerReplica: number, now: number): number {
  let total = 0;
  for (const p of pods) {
    if (p.startedAt === undefined) continue;
    const end = p.finishedAt ?? now;
    total += Math.max(0, Math.floor((end - p.startedAt) / 1000)) * gpusPerReplica;
  }
  return total;
}

function parseTerminationMessage(message: string | undefined): { outputCID?: string; checkpointCID?: string } {
  if (!message) return {};
  try {
    const parsed = JSON.parse(message) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return {};
    const { outputCID, checkpointCID } = parsed as Record<string, unknown>;
    return {
      ...(typeof outputCID === 'string' ? { outputCID } : {}),
      ...(typeof checkpointCID === 'string' ? { checkpointCID } : {}),
    };
  } catch {
    return {};
  }
}

class PlanBuilder {
  status: AIJobStatus;
  readonly events: JobEvent[] = [];
  readonly deletions: PodDeletion[] = [];
  createPods?: PodCreation;
  requeueAfterMs?: number;
  private readonly nowIso: string;
  private readonly generation: number;

  constructor(status: AIJobStatus, now: number, generation: number) {
    this.status = { ...status };
    this.nowIso = iso(now);
    this.generation = generation;
  }

  condition(type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string): void {
    this.status.conditions = setCondition(this.status.conditions, { type, status, reason, message }, this.nowIso, this.generation);
  }

  /** Moves to a phase; an event is emitted only on an actual change. */
  phase(phase: NonNullable<AIJobStatus['phase']>, event?: JobEvent): void {
    if (this.status.phase !== phase && event) this.events.push(event);
    this.status.phase = phase;
  }

  deleteAll(pods: readonly ObservedPod[], why: string): void {
    for (const p of pods) if (!p.deleting) this.deletions.push({ provider: p.provider, name: p.name, why });
  }

  closeAttempt(index: number, fields: Partial<AIJobAttempt>): void {
    this.status.attempts = (this.status.attempts ?? []).map((a) => (a.index === index ? { ...a, endTime: this.nowIso, ...fields } : a));
  }
}

export function planReconcile(input: PlanInput): ReconcilePlan {
  const { job, pods, now } = input;
  const b = new PlanBuilder(job.status, now, job.generation);
  const done = (extra: Partial<ReconcilePlan> = {}): ReconcilePlan => ({
    status: b.status,
    events: b.events,
    addFinalizer: false,
    removeFinalizer: false,
    deletePods: b.deletions,
    ...(b.createPods ? { createPods: b.createPods } : {}),
    ...(b.requeueAfterMs !== undefined ? { requeueAfterMs: b.requeueAfterMs } : {}),
    ...extra,
  });

  // Deletion: remove every remote pod first; the finalizer goes only once none is left anywhere.
  if (job.deleting) {
    b.deleteAll(pods, 'AIJob deleted');
    const gone = input.podsComplete && pods.length === 0;
    return done({ removeFinalizer: gone && job.hasFinalizer, ...(gone ? {} : { requeueAfterMs: 1_000 }) });
  }
  const addFinalizer = !job.hasFinalizer;

  if (isTerminal(job.status)) {
    b.deleteAll(pods, `job ${job.status.phase}`);
    return done({ addFinalizer });
  }

  b.status.observedGeneration = job.generation;
  const current = openAttempt(job.status);
  // A pod of an attempt newer than any this status knows means the view of the job is behind (a
  // stale cache): decide nothing from it, and never fence those pods.
  const lastKnown = job.status.attempts?.at(-1)?.index ?? 0;
  if (pods.some((p) => p.attempt > lastKnown)) {
    b.status = job.status;
    b.requeueAfterMs = 500;
    return done({ addFinalizer });
  }
  // Fencing: pods of any earlier attempt (e.g. one reappearing after a partition heals) are
  // deleted and never count.
  b.deleteAll(pods.filter((p) => p.attempt !== current?.index || p.provider !== current?.provider), 'stale attempt');

  if (!current) {
    planPlacement(input, b);
    return done({ addFinalizer });
  }

  const mine = pods.filter((p) => p.attempt === current.index && p.provider === current.provider);
  planAttempt(input, b, current, mine);
  return done({ addFinalizer });
}

function planPlacement(input: PlanInput, b: PlanBuilder): void {
  const { job, placement: decision, now } = input;
  if (!decision) throw new Error('planReconcile: a placement decision is required when the job has no open attempt');
  if (decision.outcome === 'Unschedulable') {
    const message = formatUnschedulableMessage(decision.rejections, { maxLength: 1024 });
    const unchanged = b.status.conditions?.some((c) => c.type === 'Scheduled' && c.reason === 'Unschedulable' && c.message === message);
    if (!unchanged) b.events.push({ type: 'Warning', reason: 'Unschedulable', message });
    b.condition('Scheduled', 'False', 'Unschedulable', message);
    if (b.status.phase !== 'Rescheduling') b.phase('Pending');
    b.requeueAfterMs = UNSCHEDULABLE_RETRY_MS;
    return;
  }
  const p = decision.placement;
  const index = (job.status.attempts?.at(-1)?.index ?? 0) + 1;
  const attempt: AIJobAttempt = { index, provider: p.provider, nodes: [...p.assignments], startTime: iso(now) };
  b.status.attempts = [...(job.status.attempts ?? []), attempt];
  b.status.placement = {
    provider: p.provider,
    nodes: [...p.assignments],
    product: p.product,
    resourceName: p.resourceName,
    nodeSelector: p.nodeSelector.map((r) => ({ key: r.key, operator: r.operator, values: [...r.values] })),
  };
  const message = `attempt ${index}: ${job.replicas} replica(s) × ${job.gpusPerReplica} ${p.product} on ${p.provider} (nodes ${p.assignments.join(', ')})`;
  b.condition('Scheduled', 'True', 'Placed', message);
  b.condition('Running', 'False', 'PodsPending', `waiting for ${job.replicas} replica(s) to start on ${p.provider}`);
  b.events.push({ type: 'Normal', reason: 'Scheduled', message });
  b.phase('Scheduled');
  b.createPods = { provider: p.provider, attempt: index, replicas: range(job.replicas), placement: p };
}

function placementFromStatus(status: AIJobStatus, provider: string): PodCreation['placement'] | undefined {
  const pl = status.placement;
  if (!pl || pl.provider !== provider || !pl.product || !pl.resourceName) return undefined;
  const nodeSelector: NodeSelectorRequirement[] = (pl.nodeSelector ?? []).map((r) => ({ key: r.key, operator: r.operator as 'In' | 'Gt', values: [...r.values] }));
  return { provider, product: pl.product, resourceName: pl.resourceName, nodeSelector } satisfies Pick<Placement, 'provider' | 'product' | 'resourceName' | 'nodeSelector'>;
}

function planAttempt(input: PlanInput, b: PlanBuilder, attempt: AIJobAttempt, mine: readonly ObservedPod[]): void {
  const { job, now } = input;
  const byReplica = new Map<number, ObservedPod>();
  for (const p of mine) byReplica.set(p.replica, p);
  const gpuSeconds = () => gpuSecondsOf(mine, job.gpusPerReplica, now);

  // 1. The provider took the attempt back: a pod marked DisruptionTarget, or one gone after the
  //    attempt was Running (before that, a missing pod is simply not created yet).
  const disrupted = mine.find((p) => p.disruption);
  const missing = range(job.replicas).filter((r) => !byReplica.has(r));
  const vanished = input.podsComplete && b.status.phase === 'Running' && missing.length > 0;
  if (disrupted || vanished) {
    const signal = disrupted ? 'DisruptionTarget' : 'PodDeleted';
    const detail = disrupted
      ? `${disrupted.name}: ${disrupted.disruption?.reason}: ${disrupted.disruption?.message}`
      : `replica(s) ${missing.join(', ')} disappeared from ${attempt.provider}`;
    const checkpointCID = mine.map((p) => parseTerminationMessage(p.exit?.message).checkpointCID).find((c) => c) ?? attempt.checkpointCID;
    b.closeAttempt(attempt.index, { reason: `Preempted: ${signal}`, message: detail, gpuSeconds: gpuSeconds(), ...(checkpointCID ? { checkpointCID } : {}) });
    b.deleteAll(mine, 'attempt preempted');
    b.condition('Preempted', 'True', signal, `attempt ${attempt.index} on ${attempt.provider}: ${detail}`);
    const preemptions = (b.status.attempts ?? []).filter((a) => a.reason?.startsWith('Preempted')).length;
    if (preemptions > job.maxRestarts) {
      const message = `preempted ${preemptions} times; spec.recovery.maxRestarts is ${job.maxRestarts}`;
      b.condition('Finished', 'True', 'Failed', message);
      b.condition('Running', 'False', 'AttemptEnded', message);
      b.status.completionTime = iso(now);
      b.phase('Failed', { type: 'Warning', reason: 'Failed', message });
      return;
    }
    b.condition('Running', 'False', 'AttemptEnded', `attempt ${attempt.index} was preempted`);
    b.condition('Scheduled', 'False', 'Rescheduling', `attempt ${attempt.index} on ${attempt.provider} was preempted (${signal}); placing attempt ${attempt.index + 1}`);
    b.phase('Rescheduling', { type: 'Warning', reason: 'Preempted', message: `attempt ${attempt.index} on ${attempt.provider}: ${detail}` });
    b.requeueAfterMs = 0;
    return;
  }

  // 2. The job's own failure ends it.
  const failed = mine.find((p) => p.phase === 'Failed');
  if (failed) {
    const message = `${failed.name} failed${failed.exit ? ` with exit code ${failed.exit.code} (${failed.exit.reason})` : ''}`;
    b.closeAttempt(attempt.index, { reason: 'Failed', message, gpuSeconds: gpuSeconds() });
    b.deleteAll(mine.filter((p) => p.phase !== 'Failed' && p.phase !== 'Succeeded'), 'a replica failed');
    b.condition('Finished', 'True', 'Failed', message);
    b.condition('Running', 'False', 'AttemptEnded', message);
    b.status.completionTime = iso(now);
    b.phase('Failed', { type: 'Warning', reason: 'Failed', message });
    return;
  }

  // 3. Every replica succeeded.
  if (missing.length === 0 && mine.every((p) => p.phase === 'Succeeded')) {
    const reports = [...mine].sort((a, c) => a.replica - c.replica).map((p) => parseTerminationMessage(p.exit?.message));
    const outputCID = reports.map((r) => r.outputCID).find((c) => c);
    const message = `all ${job.replicas} replica(s) completed on ${attempt.provider}${outputCID ? `; output ${outputCID}` : ''}`;
    b.closeAttempt(attempt.index, { reason: 'Succeeded', message, gpuSeconds: gpuSeconds() });
    if (outputCID) b.status.outputCID = outputCID;
    b.condition('Finished', 'True', 'Succeeded', message);
    b.condition('Running', 'False', 'AttemptEnded', message);
    b.status.completionTime = iso(now);
    b.phase('Succeeded', { type: 'Normal', reason: 'Succeeded', message });
    return;
  }

  // 4. Still going: create what is missing (idempotent), report progress.
  if (missing.length > 0 && input.podsComplete) {
    const placement = placementFromStatus(b.status, attempt.provider);
    if (placement) b.createPods = { provider: attempt.provider, attempt: attempt.index, replicas: missing, placement };
  }
  const running = mine.filter((p) => p.phase === 'Running' || p.phase === 'Succeeded').length;
  if (missing.length === 0 && running === job.replicas) {
    if (!b.status.startTime) b.status.startTime = iso(now);
    b.condition('Running', 'True', 'PodsRunning', `${job.replicas}/${job.replicas} replica(s) running on ${attempt.provider}`);
    if (job.status.conditions?.some((c) => c.type === 'Preempted' && c.status === 'True')) {
      b.condition('Preempted', 'False', 'Recovered', `attempt ${attempt.index} is running on ${attempt.provider}`);
    }
    b.phase('Running', { type: 'Normal', reason: 'Running', message: `attempt ${attempt.index}: all ${job.replicas} replica(s) running on ${attempt.provider}` });
  } else {
    b.condition('Running', 'False', 'PodsPending', `${running}/${job.replicas} replica(s) running on ${attempt.provider}`);
    b.requeueAfterMs = 5_000;
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
