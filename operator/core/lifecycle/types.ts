// Plain inputs and outputs of the AIJob lifecycle decision (plan.ts). The controller observes the
// job and its pods at every provider, maps them to these shapes, and applies the plan.
import type { AIJobStatus } from '../../api/types.ts';
import type { Placement } from '../placement/types.ts';
import type { QueueVerdict } from '../scheduling/queue.ts';
import type { VerificationPolicy } from '../verification/verdict.ts';

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** The node a replica is bound to, as the provider's node cache shows it. */
export interface ObservedNode {
  /** Missing: deleted (spot reclaim, scale-down). NotReady: its Ready condition is False or Unknown. */
  readonly state: 'Ready' | 'NotReady' | 'Missing';
  /** Human detail for messages: the Ready condition's reason and message. */
  readonly detail?: string;
  /** Epoch ms: the node carries the flotilla.dev/reclaim taint and this deadline (annotation or taint value). */
  readonly reclaimDeadline?: number;
}

/** One pod of the job in some provider cluster, as that provider's informer cache shows it. */
export interface ObservedPod {
  readonly provider: string;
  readonly name: string;
  /** metadata.uid: only the uids recorded in status.attempts[].pods count (ownership.ts). */
  readonly uid?: string;
  readonly attempt: number;
  readonly replica: number;
  readonly phase: PodPhase;
  readonly nodeName?: string;
  /** metadata.deletionTimestamp is set. */
  readonly deleting: boolean;
  /** Epoch ms of metadata.deletionTimestamp: when the pod's termination grace ends. */
  readonly deleteBy?: number;
  /** The DisruptionTarget condition is True: Kubernetes is taking the pod away (preemption, eviction…). */
  readonly disruption?: { readonly reason: string; readonly message: string };
  /**
   * The job agent's flotilla-restore init container failed: the provider's IPFS node could not serve
   * the checkpoint the attempt resumes from (its log tail, bounded).
   */
  readonly restoreFailed?: string;
  /** The main container's terminated state. */
  readonly exit?: { readonly code: number; readonly reason: string; readonly message?: string };
  /** Epoch ms the main container started running (or the pod started). */
  readonly startedAt?: number;
  /** Epoch ms the main container ended. */
  readonly finishedAt?: number;
  /** The node it is bound to (absent while unbound). */
  readonly node?: ObservedNode;
  /** Epoch ms, hub clock: when this operator first saw the pod (not the provider's creationTimestamp). */
  readonly firstSeenAt?: number;
  /** Epoch ms, hub clock: when this operator first saw the pod Succeeded or Failed. */
  readonly endSeenAt?: number;
}

/** The job as the lifecycle sees it. */
export interface JobView {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
  readonly deleting: boolean;
  readonly hasFinalizer: boolean;
  /** Epoch ms, the hub apiserver's metadata.creationTimestamp (absent: unknown). */
  readonly createdAt?: number;
  readonly replicas: number;
  readonly gpusPerReplica: number;
  readonly maxRestarts: number;
  /** spec.output.pin: Succeeded waits for the OutputPinned condition. */
  readonly pinOutput: boolean;
  /** spec.payment is set, or the hub settles on chain: nothing is placed before the Funded condition is True. */
  readonly requiresFunding: boolean;
  /** Decimals of the payment token, to write prices in token units (6 without a payment). */
  readonly priceDecimals: number;
  /** spec.deadline (epoch ms): not finished by then, the job fails with DeadlineExceeded. */
  readonly deadline?: number;
  /**
   * Verification (docs/verification.md): the policy with the namespace's and hub's floors, and
   * whether this job's run is re-executed — drawn by the operator from a secret, never shown to a
   * provider. Absent: not verified.
   */
  readonly verify?: { readonly policy: VerificationPolicy; readonly drawn: boolean };
  readonly status: AIJobStatus;
}

/** The open attempt's provider connection, for the unreachable-past-grace signal. */
export interface ProviderReachability {
  readonly reachable: boolean;
  /** Epoch ms the provider's API server last answered; absent if it never did. */
  readonly lastSeen?: number;
}

/** Thresholds of the slow signals (defaults in plan.ts; configurable on the operator). */
export interface LifecycleTiming {
  /** Replicas still Pending this long after the attempt started: BindTimeout. */
  readonly bindTimeoutMs: number;
  /** The provider unreachable this long: ProviderUnreachable (fail over). */
  readonly unreachableGraceMs: number;
  /** A reclaim deadline annotation further out than this (from the drain's start) is clamped to it. */
  readonly maxReclaimGraceMs: number;
}

export interface PlanInput {
  readonly job: JobView;
  /** Every pod of the job Flotilla can see, at any provider, any attempt. */
  readonly pods: readonly ObservedPod[];
  /**
   * False when a provider the job has used is not synced or unreachable, so `pods` may be
   * incomplete: nothing is concluded from a pod's absence then.
   */
  readonly podsComplete: boolean;
  /**
   * The scheduler's verdict, present exactly when needsPlacement(job, now) held: a placement,
   * Unschedulable, or Queued (it fits, but waits its turn: quota, a head-of-queue hold).
   */
  readonly placement?: QueueVerdict;
  /** Reachability of the open attempt's provider; absent = reachable. */
  readonly attemptProvider?: ProviderReachability;
  readonly timing?: Partial<LifecycleTiming>;
  /** The open attempt's provider refused to create its pods (403: quota, Pod Security, LimitRange…). */
  readonly createRefused?: { readonly attempt: number; readonly message: string };
  /** Epoch ms. */
  readonly now: number;
}

/** A pod with Flotilla's labels the operator did not create (ownership.ts): the provider made it. */
export interface ProviderViolation {
  readonly provider: string;
  readonly pod: string;
  readonly uid: string;
  readonly why: string;
}

export interface JobEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export interface PodCreation {
  readonly provider: string;
  readonly attempt: number;
  readonly replicas: readonly number[];
  /** What the pods are pinned to: from this pass's decision, or rebuilt from status.placement. */
  readonly placement: Pick<Placement, 'provider' | 'product' | 'resourceName' | 'nodeSelector'>;
  /** A Check attempt (docs/verification.md): the pods run spec.verification.checker on these two outputs. */
  readonly check?: { readonly original: string; readonly reference: string };
}

export interface PodDeletion {
  readonly provider: string;
  readonly name: string;
  /** Why, for logs: stale attempt, cleanup, preempted attempt… */
  readonly why: string;
  /** Grace the pod gets to checkpoint (reclaim deadline); absent = the pod's own terminationGracePeriodSeconds. */
  readonly gracePeriodSeconds?: number;
  /** A provider-made pod: the credential may not allow deleting it, and that is no error. */
  readonly foreign?: boolean;
}

export interface ReconcilePlan {
  /** The status the job should have; written (first) when it differs from the current one. */
  readonly status: AIJobStatus;
  readonly events: readonly JobEvent[];
  readonly addFinalizer: boolean;
  readonly removeFinalizer: boolean;
  readonly createPods?: PodCreation;
  readonly deletePods: readonly PodDeletion[];
  /** Provider-made pods seen this pass (the controller reports each uid once: Event, metric, reputation). */
  readonly violations: readonly ProviderViolation[];
  /** An attempt this pass proved to have reported a wrong output (the controller reports it: Event, metric, reputation). */
  readonly provenLiar?: { readonly attempt: number; readonly provider: string };
  /** Look again after this long even if nothing changes (unschedulable retry, pending pods). */
  readonly requeueAfterMs?: number;
}
