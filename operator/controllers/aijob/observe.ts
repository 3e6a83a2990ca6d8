// A provider's pod → the lifecycle's ObservedPod. Reads only what the kubelet and the control plane
// write: phase, node, deletion, the DisruptionTarget condition and the main container's state.
import type { V1Pod } from '@kubernetes/client-node';
import { LABEL_ATTEMPT } from '../../api/group.ts';
import type { ObservedPod, PodPhase } from '../../core/lifecycle/types.ts';
import { LABEL_REPLICA } from './pod-template.ts';

const PHASES = new Set(['Pending', 'Running', 'Succeeded', 'Failed']);
const ms = (t: Date | string | undefined) => (t === undefined ? undefined : new Date(t).getTime());

export function observePod(provider: string, pod: V1Pod): ObservedPod | undefined {
  const attempt = Number(pod.metadata?.labels?.[LABEL_ATTEMPT]);
  const replica = Number(pod.metadata?.labels?.[LABEL_REPLICA]);
  if (!Number.isInteger(attempt) || !Number.isInteger(replica)) return undefined;
  const phase = (PHASES.has(pod.status?.phase ?? '') ? pod.status?.phase : 'Unknown') as PodPhase;
  const disruption = pod.status?.conditions?.find((c) => c.type === 'DisruptionTarget' && c.status === 'True');
  const main = pod.status?.containerStatuses?.find((c) => c.name === 'main') ?? pod.status?.containerStatuses?.[0];
  const terminated = main?.state?.terminated;
  const startedAt = ms(terminated?.startedAt ?? main?.state?.running?.startedAt ?? (phase === 'Running' ? pod.status?.startTime : undefined));
  const finishedAt = ms(terminated?.finishedAt);
  return {
    provider,
    name: pod.metadata?.name ?? '',
    attempt,
    replica,
    phase,
    deleting: Boolean(pod.metadata?.deletionTimestamp),
    ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    ...(disruption ? { disruption: { reason: disruption.reason ?? 'DisruptionTarget', message: disruption.message ?? '' } } : {}),
    ...(terminated ? { exit: { code: terminated.exitCode, reason: terminated.reason ?? '', ...(terminated.message ? { message: terminated.message } : {}) } } : {}),
    ...(startedAt !== undefined ? { startedAt } : {}),
    ...(finishedAt !== undefined ? { finishedAt } : {}),
  };
}
