// The fence a provider's API server enforces for the hub (docs/operator.md, "Fencing a deposed
// leader"). The lease guard (runtime/lease-guard.ts) stops a deposed leader in its own process; a
// request it sent just before its deadline, or one from a process whose clock lied, still reaches
// the provider. So every object the operator creates there carries the leader's fencing token (the
// hub Lease's leaseTransitions), and the provider chart installs a ValidatingAdmissionPolicy that
// refuses a create whose token is below the highest one this hub has raised in that namespace's
// `flotilla-fence` ConfigMap. A new leader raises its token at each provider before its first
// create there, so from then on the old leader's creates are refused by the provider itself.
import type { ConditionStatus, GPUProviderConditionReason } from '../api/conditions.ts';
import { GROUP } from '../api/group.ts';

/** The ConfigMap in a lent namespace holding each hub lease's highest fencing token (chart: templates/fence.yaml). */
export const FENCE_CONFIGMAP = 'flotilla-fence';
/** Which token in the ConfigMap an object is checked against. */
export const ANNOTATION_FENCE_KEY = `${GROUP}/fence-key`;
/** The fencing token of the leader that created the object. */
export const ANNOTATION_FENCE_EPOCH = `${GROUP}/fence-epoch`;
/** Every refusal message of the chart's fence policies starts with it (how a refusal is told from any other 403). */
export const FENCE_REFUSAL_MARKER = 'flotilla fence:';

/**
 * How a provider's fence stands for this leader's term: `enforced` (raised, and a create stamped
 * below it is refused); `absent` (no flotilla-fence ConfigMap); `unenforced` (raised, but a create
 * stamped below it is still accepted: no policy); `unverified` (refused for another reason).
 */
export type FenceState = 'enforced' | 'absent' | 'unenforced' | 'unverified';

/** A settled fence, as the GPUProvider's Fenced condition reports it. */
export interface FenceReport {
  readonly state: FenceState;
  readonly namespace: string;
  readonly epoch: number;
  /** The provider's refusal, for `unverified`. */
  readonly message?: string;
}

/** The Fenced condition for a provider's settled fence (operator/api/conditions.ts). */
export function fencedVerdict(report: FenceReport): { status: ConditionStatus; reason: GPUProviderConditionReason; message: string } {
  switch (report.state) {
    case 'enforced':
      return {
        status: 'True',
        reason: 'Enforced',
        message: `token ${report.epoch} raised in ${report.namespace}/${FENCE_CONFIGMAP}; a create stamped below it was refused`,
      };
    case 'absent':
      return {
        status: 'False',
        reason: 'Absent',
        message: `no ConfigMap ${report.namespace}/${FENCE_CONFIGMAP}: install or upgrade the provider chart with fence.enabled`,
      };
    case 'unenforced':
      return {
        status: 'False',
        reason: 'Unenforced',
        message: `token ${report.epoch} raised in ${report.namespace}/${FENCE_CONFIGMAP}, but a create stamped below it was accepted: the fence policies are missing`,
      };
    case 'unverified':
      return {
        status: 'Unknown',
        reason: 'Unverified',
        message: `the provider refused the raise or the probe: ${report.message ?? 'no message'}`.slice(0, 1024),
      };
  }
}

/** What a leader stamps on the objects it creates at providers. */
export interface FenceStamp {
  /** The ConfigMap data key: one per hub and lease, so two hubs or two operators on one namespace never fence each other. */
  readonly key: string;
  /** The lease's leaseTransitions when this process started leading. */
  readonly epoch: number;
}

/** ConfigMap keys are at most 253 of [-._a-zA-Z0-9]. */
const MAX_KEY = 253;

/**
 * The data key of a hub's lease: `<hub id>_<lease namespace>.<lease name>`, every character a
 * ConfigMap key may not hold replaced by '-'. The namespace holds no '.', so the two parts stay apart.
 */
export function fenceKey(hubId: string, leaseNamespace: string, leaseName: string): string {
  const clean = (s: string) => s.replace(/[^-._a-zA-Z0-9]/g, '-');
  return `${clean(hubId)}_${clean(leaseNamespace)}.${clean(leaseName)}`.slice(0, MAX_KEY);
}

/** The annotations that put an object under the fence; none without a stamp (no leader election). */
export function fenceAnnotations(stamp: FenceStamp | undefined): Record<string, string> {
  return stamp ? { [ANNOTATION_FENCE_KEY]: stamp.key, [ANNOTATION_FENCE_EPOCH]: String(stamp.epoch) } : {};
}

/** Whether a provider's refusal message is the fence's (a newer leader of this hub raised its token there). */
export function isFenceRefusal(message: string | undefined): boolean {
  return message !== undefined && message.includes(FENCE_REFUSAL_MARKER);
}

/** A copy of `obj` stamped with the leader's token (its annotations win over any of the same key). */
export function stamped<T extends { metadata?: { annotations?: Record<string, string> } }>(obj: T, stamp: FenceStamp | undefined): T {
  if (!stamp) return obj;
  return { ...obj, metadata: { ...obj.metadata, annotations: { ...obj.metadata?.annotations, ...fenceAnnotations(stamp) } } };
}
