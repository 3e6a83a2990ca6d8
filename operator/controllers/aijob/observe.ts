// A provider's pod → the lifecycle's ObservedPod. Reads only what the kubelet and the control plane
// write: phase, node, deletion, the DisruptionTarget condition, the main container's state and the
// job agent's termination message.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_RECLAIM_DEADLINE, LABEL_ATTEMPT, TAINT_RECLAIM } from '../../api/group.ts';
import type { ObservedNode, ObservedPod, PodPhase } from '../../core/lifecycle/types.ts';
import { boundText, TEXT_BOUNDS } from '../../core/bounded-text.ts';
import { findCondition } from '../../core/conditions.ts';
import { LABEL_REPLICA } from './pod-template.ts';
import { AGENT_CONTAINER, RESTORE_CONTAINER } from './agent-step.ts';

const PHASES = new Set(['Pending', 'Running', 'Succeeded', 'Failed']);
const ms = (t: Date | string | undefined) => (t === undefined ? undefined : new Date(t).getTime());

/**
 * A node as the lifecycle sees it: gone, not Ready, or tainted for reclaim. Call only with a synced
 * node cache (a node absent from an unsynced cache is not known to be gone).
 */
export function observeNode(node: V1Node | undefined, now: number): ObservedNode {
  if (!node) return { state: 'Missing' };
  const ready = findCondition(node.status?.conditions, 'Ready');
  const reclaim = node.spec?.taints?.find((t) => t.key === TAINT_RECLAIM);
  const deadline = Date.parse(node.metadata?.annotations?.[ANNOTATION_RECLAIM_DEADLINE] ?? '');
  return {
    // No Ready condition yet (a node still initialising) is no evidence of loss.
    state: !ready || ready.status === 'True' ? 'Ready' : 'NotReady',
    ...(ready && ready.status !== 'True'
      ? { detail: boundText(`Ready=${ready.status}${ready.reason ? ` ${ready.reason}` : ''}${ready.message ? `: ${ready.message}` : ''}`, TEXT_BOUNDS.message) }
      : {}),
    ...(reclaim ? { reclaimDeadline: Number.isFinite(deadline) ? deadline : now } : {}),
  };
}

const isJsonObject = (text: string): boolean => {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
};

/**
 * The replica's report: the JSON main wrote itself (the termination-message contract), else the job
 * agent's (agent-step.ts) — main's log tail (FallbackToLogsOnError) does not hide the checkpoint the
 * agent flushed — else whatever main's message was, so an unusable one is still named.
 */
export function reportMessage(main: string | undefined, agent: string | undefined): string | undefined {
  if (main?.trim() && isJsonObject(main)) return main;
  if (agent?.trim()) return agent;
  return main?.trim() ? main : undefined;
}

export function observePod(provider: string, pod: V1Pod, nodeOf?: (name: string) => ObservedNode): ObservedPod | undefined {
  const attempt = Number(pod.metadata?.labels?.[LABEL_ATTEMPT]);
  const replica = Number(pod.metadata?.labels?.[LABEL_REPLICA]);
  if (!Number.isInteger(attempt) || !Number.isInteger(replica)) return undefined;
  const phase = (PHASES.has(pod.status?.phase ?? '') ? pod.status?.phase : 'Unknown') as PodPhase;
  const target = findCondition(pod.status?.conditions, 'DisruptionTarget');
  const disruption = target?.status === 'True' ? target : undefined;
  const main = pod.status?.containerStatuses?.find((c) => c.name === 'main') ?? pod.status?.containerStatuses?.[0];
  const terminated = main?.state?.terminated;
  const restore = pod.status?.initContainerStatuses?.find((c) => c.name === RESTORE_CONTAINER)?.state?.terminated;
  const restoreFailed =
    restore && restore.exitCode !== 0 ? boundText(restore.message?.trim() || `exit code ${restore.exitCode}`, TEXT_BOUNDS.message) : undefined;
  // Bounded before anything parses them: a provider writes pod status, and a kubelet's 4 KiB cap is not its promise.
  const bounded = (text: string | undefined) => (text === undefined ? undefined : boundText(text, TEXT_BOUNDS.terminationMessage));
  const message = reportMessage(
    bounded(terminated?.message),
    bounded(pod.status?.initContainerStatuses?.find((c) => c.name === AGENT_CONTAINER)?.state?.terminated?.message),
  );
  const startedAt = ms(terminated?.startedAt ?? main?.state?.running?.startedAt ?? (phase === 'Running' ? pod.status?.startTime : undefined));
  const finishedAt = ms(terminated?.finishedAt);
  return {
    provider,
    name: pod.metadata?.name ?? '',
    ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
    attempt,
    replica,
    phase,
    deleting: Boolean(pod.metadata?.deletionTimestamp),
    ...(pod.metadata?.deletionTimestamp ? { deleteBy: ms(pod.metadata.deletionTimestamp) as number } : {}),
    ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    ...(pod.spec?.nodeName && nodeOf ? { node: nodeOf(pod.spec.nodeName) } : {}),
    ...(restoreFailed !== undefined ? { restoreFailed } : {}),
    ...(disruption
      ? {
          disruption: {
            reason: boundText(disruption.reason ?? 'DisruptionTarget', TEXT_BOUNDS.reason),
            message: boundText(disruption.message ?? '', TEXT_BOUNDS.message),
          },
        }
      : {}),
    ...(terminated
      ? {
          exit: {
            code: terminated.exitCode,
            reason: boundText(terminated.reason ?? '', TEXT_BOUNDS.reason),
            ...(message ? { message } : {}),
          },
        }
      : {}),
    ...(startedAt !== undefined ? { startedAt } : {}),
    ...(finishedAt !== undefined ? { finishedAt } : {}),
  };
}
