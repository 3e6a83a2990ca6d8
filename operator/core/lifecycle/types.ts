// Plain inputs and outputs of the AIJob lifecycle decision (plan.ts). The controller observes the
// job and its pods at every provider, maps them to these shapes, and applies the plan.
import type { AIJobStatus } from '../../api/types.ts';
import type { Placement, PlacementDecision } from '../placement/types.ts';

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** One pod of the job in some provider cluster, as that provider's informer cache shows it. */
export interface ObservedPod {
  readonly provider: string;
  readonly name: string;
  readonly attempt: number;
  readonly replica: number;
  readonly phase: PodPhase;
  readonly nodeName?: string;
  /** metadata.deletionTimestamp is set. */
  readonly deleting: boolean;
  /** The DisruptionTarget condition is True: Kubernetes is taking the pod away (preemption, eviction…). */
  readonly disruption?: { readonly reason: string; readonly message: string };
  /** The main container's terminated state. */
  readonly exit?: { readonly code: number; readonly reason: string; readonly message?: string };
  /** Epoch ms the main container started running (or the pod started). */
  readonly startedAt?: number;
  /** Epoch ms the main container ended. */
  readonly finishedAt?: number;
}

/** The job as the lifecycle sees it. */
export interface JobView {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
  readonly deleting: boolean;
  readonly hasFinalizer: boolean;
  readonly replicas: number;
  readonly gpusPerReplica: number;
  readonly maxRestarts: number;
  readonly status: AIJobStatus;
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
  /** The placement decision, present exactly when needsPlacement(job) held. */
  readonly placement?: PlacementDecision;
  /** Epoch ms. */
  readonly now: number;
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
}

export interface PodDeletion {
  readonly provider: string;
  readonly name: string;
  /** Why, for logs: stale attempt, cleanup, preempted attempt… */
  readonly why: string;
}

export interface ReconcilePlan {
  /** The status the job should have; written (first) when it differs from the current one. */
  readonly status: AIJobStatus;
  readonly events: readonly JobEvent[];
  readonly addFinalizer: boolean;
  readonly removeFinalizer: boolean;
  readonly createPods?: PodCreation;
  readonly deletePods: readonly PodDeletion[];
  /** Look again after this long even if nothing changes (unschedulable retry, pending pods). */
  readonly requeueAfterMs?: number;
}
