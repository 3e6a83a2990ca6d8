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
//
// A pod that succeeds reports its output through the Kubernetes termination message, as a real
// Flotilla workload does: JSON `{"outputCID":"<cid>"}` (see docs/local-federation.md).
import type { V1Pod, V1ContainerStatus, V1PodCondition } from '@kubernetes/client-node';

export const SIM = {
  runSeconds: 'sim.flotilla.dev/run-seconds',
  outcome: 'sim.flotilla.dev/outcome',
  exitCode: 'sim.flotilla.dev/exit-code',
  output: 'sim.flotilla.dev/output',
  checkpointSeconds: 'sim.flotilla.dev/checkpoint-seconds',
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

/** The JSON termination message of a finished run (Kubernetes caps it at 4096 bytes). */
export function terminationMessage(fields: { outputCID?: string; checkpointCID?: string; checkpointTime?: string; error?: string }): string {
  return JSON.stringify(fields);
}

/** The status a kubelet would write when the pod's containers exit (strategic-merge patch body). */
export function terminatedStatus(pod: V1Pod, run: SimulatedRun, startedAt: Date, finishedAt: Date, message: string): { status: Record<string, unknown> } {
  const containerStatuses: V1ContainerStatus[] = (pod.spec?.containers ?? []).map((c) => ({
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ready: false,
    started: false,
    restartCount: 0,
    state: {
      terminated: {
        exitCode: run.exitCode,
        reason: run.outcome === 'Succeeded' ? 'Completed' : 'Error',
        message,
        startedAt,
        finishedAt,
      },
    },
  }));
  const notReady = (type: string): V1PodCondition => ({ type, status: 'False', reason: 'PodCompleted', lastTransitionTime: finishedAt });
  return {
    status: {
      phase: run.outcome,
      conditions: [notReady('Ready'), notReady('ContainersReady')],
      containerStatuses,
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
