// Holding capacity between a decision and the informer cache catching up. After placing a job the
// reconciler creates its pods; until the provider's informer shows them, the snapshot still counts
// their GPUs as free and a second job could be placed on the same devices. withReservation returns
// the provider's snapshot with the placement's requests taken off the assigned nodes (what
// kube-scheduler calls "assume"), to re-index with withProvider() before the next decision.

import type { JobDemand, NodeSnapshot, Placement, ProviderSnapshot } from './types.ts';
import { PlacementInputError } from './types.ts';

export function withReservation(provider: ProviderSnapshot, placement: Placement, demand: JobDemand): ProviderSnapshot {
  if (placement.provider !== provider.name) {
    throw new PlacementInputError(`placement is for ${placement.provider}, not ${provider.name}`);
  }
  const replicasByNode = new Map<string, number>();
  for (const node of placement.assignments) replicasByNode.set(node, (replicasByNode.get(node) ?? 0) + 1);
  const nodes = provider.nodes.map((node): NodeSnapshot => {
    const replicas = replicasByNode.get(node.name);
    if (replicas === undefined) return node;
    const devices = node.free.extended[placement.resourceName] ?? 0;
    return {
      ...node,
      free: {
        cpuMillis: node.free.cpuMillis - replicas * demand.cpuMillisPerReplica,
        memoryBytes: node.free.memoryBytes - replicas * demand.memoryBytesPerReplica,
        extended: { ...node.free.extended, [placement.resourceName]: devices - replicas * demand.gpusPerReplica },
      },
    };
  });
  const gangGpus = placement.assignments.length * demand.gpusPerReplica;
  return {
    ...provider,
    nodes,
    ...(provider.gpuQuotaRemaining === undefined ? {} : { gpuQuotaRemaining: provider.gpuQuotaRemaining - gangGpus }),
  };
}
