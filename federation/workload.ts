// The simulated workload contract: what a pod on a KWOK node asks the executor to "run", and the
// pure decisions the executor makes about it. No container runs on the local federation, so this
// is the one simulated piece: it plays the container process; scheduling, binding, preemption,
// eviction and node lifecycle stay with the real Kubernetes components.
//
//   pod annotations (opt-in)                     what the executor does once the pod is Running
//   sim.flotilla.dev/run-seconds: "5"            waits 5 s after the container started
//   sim.flotilla.dev/outcome: Succeeded|Failed   ends it that way (default Succeeded)
//   sim.flotilla.dev/exit-code: "3"              exit code of a Failed run (default 1)
//   sim.flotilla.dev/output: "any text"          included in the output object added to IPFS
//   sim.flotilla.dev/checkpoint-seconds: "2"     replica 0 adds a checkpoint to IPFS this often and
//                                                reports it to FLOTILLA_REPORT_URL (when offered)
//   sim.flotilla.dev/deterministic: "true"       the output object depends only on the work (image,
//                                                command, args, the job's own env, input CIDs, the
//                                                output text), so honest runs anywhere get one CID
//   sim.flotilla.dev/noise: "0.001"              every decimal number in the output text moves by a
//                                                random amount within ± that much: runs differ in bits
//                                                (training that is not bit-reproducible)
//   sim.flotilla.dev/checker-tolerance: "0.05"   a pod given two outputs to judge (a Check attempt of
//                                                docs/verification.md: FLOTILLA_INPUT_VERIFY_ORIGINAL_CID
//                                                and _REFERENCE_CID) plays a checker: it reads both from
//                                                IPFS and exits 0 when their numbers agree within that
//                                                relative tolerance, 1 when not, 2 when it cannot read them
//   sim.flotilla.dev/exec: "true"                no simulation: the pod's containers run as real processes
//                                                on this machine (federation/process-plan.ts), whatever
//                                                other sim.flotilla.dev annotations it carries
//
// A pod that succeeds reports its output through the Kubernetes termination message, as a real
// Flotilla workload does: JSON `{"outputCID":"<cid>"}` (see docs/local-federation.md).
import type { V1Container, V1ContainerState, V1ContainerStatus, V1Pod, V1PodCondition } from '@kubernetes/client-node';

export const SIM = {
  runSeconds: 'sim.flotilla.dev/run-seconds',
  outcome: 'sim.flotilla.dev/outcome',
  exitCode: 'sim.flotilla.dev/exit-code',
  output: 'sim.flotilla.dev/output',
  checkpointSeconds: 'sim.flotilla.dev/checkpoint-seconds',
  deterministic: 'sim.flotilla.dev/deterministic',
  noise: 'sim.flotilla.dev/noise',
  checkerTolerance: 'sim.flotilla.dev/checker-tolerance',
  /** Real-process mode: run the pod's command and args here instead of simulating them (process-plan.ts). */
  exec: 'sim.flotilla.dev/exec',
} as const;

export type SimOutcome = 'Succeeded' | 'Failed';

export interface SimulatedRun {
  readonly runMs: number;
  readonly outcome: SimOutcome;
  readonly exitCode: number;
  readonly output: string;
  /** Replica 0 checkpoints this often while running; absent = never. */
  readonly checkpointMs?: number;
}

/** The run a pod asked for, or undefined when it did not opt in (or asked for nonsense). */
export function simulatedRunOf(pod: V1Pod): SimulatedRun | undefined {
  const a = pod.metadata?.annotations ?? {};
  const raw = a[SIM.runSeconds];
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) return undefined;
  const outcome: SimOutcome = a[SIM.outcome] === 'Failed' ? 'Failed' : 'Succeeded';
  const exit = Number(a[SIM.exitCode] ?? (outcome === 'Failed' ? 1 : 0));
  const every = Number(a[SIM.checkpointSeconds]);
  const checkpointMs = Number.isFinite(every) && every > 0 ? Math.round(every * 1000) : undefined;
  return {
    runMs: Math.round(seconds * 1000),
    outcome,
    exitCode: outcome === 'Succeeded' ? 0 : Number.isInteger(exit) && exit > 0 ? exit : 1,
    output: a[SIM.output] ?? '',
    ...(checkpointMs !== undefined ? { checkpointMs } : {}),
  };
}

export type ExecutorDecision =
  | { readonly kind: 'ignore' }
  | { readonly kind: 'wait'; readonly ms: number; readonly run: SimulatedRun }
  | { readonly kind: 'finish'; readonly run: SimulatedRun; readonly startedAt: Date };

/** What to do with a pod now: only Running, bound, opted-in, not-deleting pods are ours to end. */
export function decide(pod: V1Pod, now: Date): ExecutorDecision {
  const run = simulatedRunOf(pod);
  if (!run || pod.metadata?.deletionTimestamp || !pod.spec?.nodeName || pod.status?.phase !== 'Running') return { kind: 'ignore' };
  const started = pod.status.containerStatuses?.[0]?.state?.running?.startedAt ?? pod.status.startTime;
  const startedAt = started ? new Date(started) : now;
  const remaining = startedAt.getTime() + run.runMs - now.getTime();
  return remaining > 0 ? { kind: 'wait', ms: remaining, run } : { kind: 'finish', run, startedAt };
}

/**
 * Environment variables that name the run rather than the work: Flotilla's own (job name and uid,
 * attempt, replica count, report token, resume point, paths) and the rendezvous address, which holds
 * the attempt's Service name. The inputs' CIDs (FLOTILLA_INPUT_<NAME>_CID) are the work's data and stay.
 */
const RUN_SPECIFIC_ENV = new Set(['MASTER_ADDR', 'PET_MASTER_ADDR']);
const isWorkEnv = (name: string): boolean => (name.startsWith('FLOTILLA_') ? /^FLOTILLA_INPUT_[A-Z0-9_]+_CID$/.test(name) : !RUN_SPECIFIC_ENV.has(name));

/** JSON with object keys sorted at every depth: equal values give equal bytes whatever the key order. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>)
              .filter(([, x]) => x !== undefined)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([k, x]) => [k, sort(x)]),
          )
        : v;
  return JSON.stringify(sort(value), null, 2);
}

/** Whether the pod asked for an output that depends only on its work (sim.flotilla.dev/deterministic). */
export const isDeterministic = (pod: V1Pod): boolean => pod.metadata?.annotations?.[SIM.deterministic] === 'true';

/**
 * What a deterministic run computes from: the first container's image, command and args, its literal
 * env minus the run-specific names (values from Secrets are left out: their copies are named per
 * attempt, and a real program would read the secret, not its name) and the output text. The replica's
 * rank stays: replicas of one job compute different things, the same replica on two providers the same.
 */
export function workOf(pod: V1Pod, run: Pick<SimulatedRun, 'output'>): Record<string, unknown> {
  const c = pod.spec?.containers[0];
  const env = Object.fromEntries((c?.env ?? []).filter((e) => e.value !== undefined && isWorkEnv(e.name)).map((e) => [e.name, e.value]));
  return { image: c?.image ?? '', command: c?.command ?? [], args: c?.args ?? [], env, output: run.output };
}

/**
 * The bytes a successful run adds to IPFS as its output. By default they name the pod, provider and
 * node (every run a different CID); a deterministic pod gets only its work, canonically serialised,
 * so two honest runs of the same work on different providers and attempts give the same CID.
 */
export function outputObject(pod: V1Pod, provider: string, run: Pick<SimulatedRun, 'output'>): string {
  if (isDeterministic(pod)) return canonicalJson(workOf(pod, run));
  const namespace = pod.metadata?.namespace ?? '';
  const name = pod.metadata?.name ?? '';
  return JSON.stringify(
    {
      pod: `${namespace}/${name}`,
      uid: pod.metadata?.uid,
      provider,
      node: pod.spec?.nodeName,
      env: Object.fromEntries((pod.spec?.containers[0]?.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value])),
      output: run.output,
    },
    null,
    2,
  );
}

/** The output text with every decimal number moved by `random() ∈ [0, 1)` mapped to ± noise (six places). */
export function withNoise(text: string, noise: number, random: () => number): string {
  if (!(noise > 0)) return text;
  return text.replace(/-?\d+\.\d+/g, (n) => (Number(n) + (random() * 2 - 1) * noise).toFixed(6));
}

/** The noise a pod asked for (sim.flotilla.dev/noise), 0 for none. */
export function noiseOf(pod: V1Pod): number {
  const n = Number(pod.metadata?.annotations?.[SIM.noise]);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** A pod that plays a checker: the tolerance and the two CIDs it judges; undefined for any other pod. */
export function checkerOf(pod: V1Pod): { readonly tolerance: number; readonly original: string; readonly reference: string } | undefined {
  const tolerance = Number(pod.metadata?.annotations?.[SIM.checkerTolerance]);
  const original = podEnv(pod, 'FLOTILLA_INPUT_VERIFY_ORIGINAL_CID');
  const reference = podEnv(pod, 'FLOTILLA_INPUT_VERIFY_REFERENCE_CID');
  if (!Number.isFinite(tolerance) || tolerance < 0 || !original || !reference) return undefined;
  return { tolerance, original, reference };
}

/**
 * The stand-in checker's exit code for two output objects (the executor's JSON): 0 when the numbers
 * of their output texts pair up and agree within the relative tolerance, 1 when they do not (or the
 * original is not an output object at all).
 */
export function checkerExitCode(original: string, reference: string, tolerance: number): 0 | 1 {
  const numbers = (doc: string): number[] | undefined => {
    try {
      const text = (JSON.parse(doc) as { output?: unknown }).output;
      return typeof text === 'string' ? [...text.matchAll(/-?\d+(\.\d+)?/g)].map((m) => Number(m[0])) : undefined;
    } catch {
      return undefined;
    }
  };
  const a = numbers(original);
  const b = numbers(reference);
  if (!a || !b || a.length !== b.length) return 1;
  return a.every((x, i) => Math.abs(x - (b[i] as number)) <= tolerance * Math.max(Math.abs(x), Math.abs(b[i] as number), 1e-9)) ? 0 : 1;
}

/** The JSON termination message of a finished run (Kubernetes caps it at 4096 bytes). */
export function terminationMessage(fields: { outputCID?: string; checkpointCID?: string; checkpointTime?: string; error?: string }): string {
  return JSON.stringify(fields);
}

/** A container's status in a completed pod (terminated, or waiting when it never ran), as the kubelet writes it; exec mode shares it. */
export function completedContainerStatus(c: V1Container, state: V1ContainerState): V1ContainerStatus {
  return { name: c.name, image: c.image ?? '', imageID: '', ready: false, started: false, restartCount: 0, state };
}

/** A pod condition that is False once the pod has completed (Ready and ContainersReady: PodCompleted). */
export function completedCondition(type: string, finishedAt: Date, reason = 'PodCompleted', message?: string): V1PodCondition {
  return { type, status: 'False', reason, ...(message ? { message } : {}), lastTransitionTime: finishedAt };
}

/** The status a kubelet would write when the pod's containers exit (strategic-merge patch body). */
export function terminatedStatus(pod: V1Pod, run: SimulatedRun, startedAt: Date, finishedAt: Date, message: string): { status: Record<string, unknown> } {
  const reason = run.outcome === 'Succeeded' ? 'Completed' : 'Error';
  return {
    status: {
      phase: run.outcome,
      conditions: [completedCondition('Ready', finishedAt), completedCondition('ContainersReady', finishedAt)],
      containerStatuses: (pod.spec?.containers ?? []).map((c) =>
        completedContainerStatus(c, { terminated: { exitCode: run.exitCode, reason, message, startedAt, finishedAt } }),
      ),
    },
  };
}

/** The environment variable `name` of the pod's first container, as the pod spec sets it. */
export function podEnv(pod: V1Pod, name: string): string | undefined {
  return pod.spec?.containers[0]?.env?.find((e) => e.name === name)?.value;
}

/** The checkpoint report a replica sends (operator/controllers/aijob/checkpoint-report.ts), or undefined when none is offered. */
export function checkpointReport(pod: V1Pod, cid: string, time: Date): { url: string; token: string; body: Record<string, unknown> } | undefined {
  const url = podEnv(pod, 'FLOTILLA_REPORT_URL');
  const token = podEnv(pod, 'FLOTILLA_REPORT_TOKEN');
  const job = podEnv(pod, 'FLOTILLA_JOB_NAME') ?? '';
  const slash = job.indexOf('/');
  if (!url || !token || slash < 0) return undefined;
  return {
    url,
    token,
    body: {
      namespace: job.slice(0, slash),
      name: job.slice(slash + 1),
      uid: podEnv(pod, 'FLOTILLA_JOB_UID'),
      attempt: Number(podEnv(pod, 'FLOTILLA_ATTEMPT')),
      cid,
      time: time.toISOString(),
    },
  };
}
