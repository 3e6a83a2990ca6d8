// Real-process mode of the executor (sim.flotilla.dev/exec: "true"): a pod's containers run as
// processes on this machine instead of being simulated. This file is the pure plan — whether to
// start, keep or stop a pod's processes, in which order its containers run, where on the host each
// volume and log lives, and how long a stop may take. process-rewrite.ts turns one container into a
// process (argv, env, cwd), process-status.ts turns exits into the pod status, and
// process-runner.ts does it.
//
//   <execRoot>/<provider>/<namespace>/<pod>-<uid first 8>/     the pod's host directory
//     pod.json                                                 the pod as first started (marks "started")
//     volumes/<volume>/                                        one real directory per pod volume
//     containers/<container>/log                               stdout and stderr
//     containers/<container>/termination-log                   the container's termination message
//
// Order, as the kubelet runs it: init containers as declared, each regular one (no restartPolicy)
// to completion before the next, each sidecar (restartPolicy: Always) started and left running;
// then the regular containers together. When those have all exited the sidecars get SIGTERM in
// reverse order.
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { LABEL_ATTEMPT, LABEL_JOB_UID } from '../operator/api/group.ts';
import { SIM } from './workload.ts';

export const isExecPod = (pod: V1Pod): boolean => pod.metadata?.annotations?.[SIM.exec] === 'true';

export type ContainerRole = 'init' | 'sidecar' | 'main';

export interface PlannedContainer {
  readonly role: ContainerRole;
  readonly container: V1Container;
}

export interface ContainerOrder {
  /** Init containers as declared: an 'init' one runs to completion, a 'sidecar' one is started and left running. */
  readonly init: readonly PlannedContainer[];
  /** The regular containers, started together once every init container has completed or started. */
  readonly main: readonly PlannedContainer[];
}

export const isSidecar = (c: V1Container): boolean => c.restartPolicy === 'Always';

/** Init containers (sidecars included) then the regular ones, as declared. */
export const allContainers = (pod: V1Pod): V1Container[] => [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];

export function containerOrder(pod: V1Pod): ContainerOrder {
  return {
    init: (pod.spec?.initContainers ?? []).map((container) => ({ role: isSidecar(container) ? 'sidecar' : 'init', container })),
    main: (pod.spec?.containers ?? []).map((container) => ({ role: 'main', container })),
  };
}

export type ExecAction = 'ignore' | 'start' | 'keep' | 'stop';

/**
 * What to do with a pod now, level-based: `started` says whether this executor already runs it.
 * Only a bound pod KWOK reports Running, not being deleted, is started; one being deleted is
 * stopped (its processes get their grace); a started pod keeps its processes whatever else changes.
 */
export function execAction(pod: V1Pod, started: boolean): ExecAction {
  if (!isExecPod(pod)) return 'ignore';
  if (pod.metadata?.deletionTimestamp) return started ? 'stop' : 'ignore';
  if (started) return 'keep';
  return pod.spec?.nodeName && pod.status?.phase === 'Running' ? 'start' : 'ignore';
}

/** The kubelet's default when the pod sets none. */
export const DEFAULT_GRACE_SECONDS = 30;
/** A longer grace would hold a test (or a federation shutdown) for minutes. */
export const MAX_GRACE_SECONDS = 120;

const seconds = (n: number | undefined): number | undefined => (typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined);

/** terminationGracePeriodSeconds (default 30, at most 120): what sidecars get once the regular containers have exited. */
export function terminationGraceSeconds(pod: V1Pod): number {
  return Math.min(seconds(pod.spec?.terminationGracePeriodSeconds) ?? DEFAULT_GRACE_SECONDS, MAX_GRACE_SECONDS);
}

/**
 * The grace of a deletion: deletionGracePeriodSeconds when positive, else the pod's
 * terminationGracePeriodSeconds. Zero counts as unset: KWOK deletes every pod with grace 0 the
 * moment it carries a deletionTimestamp (it plays a kubelet that has already stopped the
 * containers), so the last object the executor sees often says 0 whatever the deleter asked for.
 */
export function deletionGraceSeconds(pod: V1Pod): number {
  const asked = seconds(pod.metadata?.deletionGracePeriodSeconds);
  return asked !== undefined && asked > 0 ? Math.min(asked, MAX_GRACE_SECONDS) : terminationGraceSeconds(pod);
}

/**
 * The replicas of one attempt share a rendezvous port (process-rewrite.ts): the key names the
 * provider, job uid and attempt; a pod without those labels is its own attempt.
 */
export function attemptKey(provider: string, pod: V1Pod): string {
  const labels = pod.metadata?.labels ?? {};
  const job = labels[LABEL_JOB_UID];
  const attempt = labels[LABEL_ATTEMPT];
  return job && attempt !== undefined ? `${provider}/${job}/${attempt}` : `${provider}/pod/${pod.metadata?.uid ?? ''}`;
}

/** Where a pod's files live on the host (the layout at the top of this file). */
export interface PodLayout {
  readonly dir: string;
  readonly podFile: string;
  readonly volume: (name: string) => string;
  readonly log: (container: string) => string;
  readonly terminationLog: (container: string) => string;
}

export function podLayout(execRoot: string, provider: string, pod: V1Pod): PodLayout {
  const name = `${pod.metadata?.name ?? ''}-${(pod.metadata?.uid ?? '').slice(0, 8)}`;
  const dir = join(execRoot, provider, pod.metadata?.namespace ?? '', name);
  return {
    dir,
    podFile: join(dir, 'pod.json'),
    volume: (v) => join(dir, 'volumes', v),
    log: (c) => join(dir, 'containers', c, 'log'),
    terminationLog: (c) => join(dir, 'containers', c, 'termination-log'),
  };
}
