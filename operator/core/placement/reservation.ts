// Holding capacity between a decision and the informer cache catching up. After placing a job the
// reconciler creates its pods; until the provider's informer shows them bound, the snapshot still
// counts their GPUs as free and a second job could be placed on the same devices. withReservation
// returns the provider's snapshot with the placement's requests taken off (what kube-scheduler calls
// "assume"), to re-index with withProvider() before the next decision.
//
// A placement's node per replica is a proof that the gang fits, not a binding: the provider's own
// kube-scheduler picks the node (in the 500-job dispatch benchmark 356 of 503 pods were bound
// elsewhere than assigned). So an assigned node may already be full in the snapshot — filled by pods
// of other jobs the provider bound there. The devices are then taken from the provider's other nodes
// of the same resource (fullest first, keeping large holes for gangs) instead of being lost to the
// snapshot's floor at zero: lost, they counted as free and over-placed the provider.
//
// "Other nodes" are only those the pods could be bound to: nodes matching the placement's node
// selector (the product, the GPU memory floor). Taken from any node of the resource, the devices of
// pending bench pods were subtracted from another product's nodes with a GPU or two free (fullest
// first picks exactly those), the product's own nodes kept looking free, and the 500-job dispatch
// benchmark over-placed its last two jobs on a full provider (docs/scheduling.md).

import type { JobDemand, NodeSelectorRequirement, NodeSnapshot, Placement, ProviderSnapshot } from './types.ts';
import { PlacementInputError } from './types.ts';

export function withReservation(provider: ProviderSnapshot, placement: Placement, demand: JobDemand): ProviderSnapshot {
  if (placement.provider !== provider.name) {
    throw new PlacementInputError(`placement is for ${placement.provider}, not ${provider.name}`);
  }
  const resource = placement.resourceName;
  const replicasByNode = new Map<string, number>();
  for (const node of placement.assignments) replicasByNode.set(node, (replicasByNode.get(node) ?? 0) + 1);
  const devicesOf = (node: NodeSnapshot) => Math.max(0, node.free.extended[resource] ?? 0);
  const taken = new Map<string, number>();
  let deficit = 0;
  for (const node of provider.nodes) {
    const replicas = replicasByNode.get(node.name);
    if (replicas === undefined) continue;
    const want = replicas * demand.gpusPerReplica;
    const take = Math.min(devicesOf(node), want);
    taken.set(node.name, take);
    deficit += want - take;
  }
  // Only a deficit needs the other matching nodes (the usual case has none: no pass over every node).
  if (deficit > 0) {
    takeAnywhere(
      provider.nodes.filter((n) => nodeMatches(n, placement.nodeSelector)),
      devicesOf,
      deficit,
      taken,
      replicasByNode,
    );
  }
  const nodes = provider.nodes.map((node): NodeSnapshot => {
    const replicas = replicasByNode.get(node.name) ?? 0;
    const devices = taken.get(node.name);
    if (replicas === 0 && devices === undefined) return node;
    return {
      ...node,
      free: {
        cpuMillis: node.free.cpuMillis - replicas * demand.cpuMillisPerReplica,
        memoryBytes: node.free.memoryBytes - replicas * demand.memoryBytesPerReplica,
        extended: { ...node.free.extended, [resource]: devicesOf(node) - (devices ?? 0) },
      },
    };
  });
  const gangGpus = placement.assignments.length * demand.gpusPerReplica;
  return {
    ...provider,
    nodes,
    ...(provider.gpuQuotaRemaining === undefined ? {} : { gpuQuotaRemaining: provider.gpuQuotaRemaining - gangGpus }),
    inFlightGpus: (provider.inFlightGpus ?? 0) + gangGpus,
  };
}

/** `devices` of `resource` taken from the nodes with the fewest free first (keeping large holes for gangs). */
function takeAnywhere(
  nodes: readonly NodeSnapshot[],
  devicesOf: (n: NodeSnapshot) => number,
  devices: number,
  taken: Map<string, number>,
  skip: ReadonlyMap<string, number> = new Map(),
): void {
  let left = devices;
  if (left <= 0) return;
  const candidates = nodes
    .filter((n) => !skip.has(n.name) && devicesOf(n) - (taken.get(n.name) ?? 0) > 0)
    .sort((a, b) => devicesOf(a) - devicesOf(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const node of candidates) {
    if (left === 0) break;
    const take = Math.min(devicesOf(node) - (taken.get(node.name) ?? 0), left);
    taken.set(node.name, (taken.get(node.name) ?? 0) + take);
    left -= take;
  }
}

/**
 * The provider with `devices` of `resource` taken out wherever they are free among the nodes that
 * satisfy `requirements` (the pods' node affinity): what pods created but not yet bound will take
 * (the provider's scheduler picks their nodes). GPUs only; their CPU and memory are not known per
 * node until bound.
 */
export function withPendingDevices(
  provider: ProviderSnapshot,
  resource: string,
  devices: number,
  requirements: readonly NodeSelectorRequirement[] = [],
): ProviderSnapshot {
  if (devices <= 0) return provider;
  const devicesOf = (node: NodeSnapshot) => Math.max(0, node.free.extended[resource] ?? 0);
  const taken = new Map<string, number>();
  takeAnywhere(
    provider.nodes.filter((n) => nodeMatches(n, requirements)),
    devicesOf,
    devices,
    taken,
  );
  const inFlightGpus = (provider.inFlightGpus ?? 0) + devices;
  if (taken.size === 0) return { ...provider, inFlightGpus };
  return {
    ...provider,
    inFlightGpus,
    nodes: provider.nodes.map((node) => {
      const t = taken.get(node.name);
      return t === undefined ? node : { ...node, free: { ...node.free, extended: { ...node.free.extended, [resource]: devicesOf(node) - t } } };
    }),
  };
}

/** Whether the node's labels satisfy every requirement (In: one of the values; Gt: an integer above the value). */
export function nodeMatches(node: Pick<NodeSnapshot, 'labels'>, requirements: readonly NodeSelectorRequirement[]): boolean {
  return requirements.every((r) => {
    const label = node.labels[r.key];
    if (label === undefined) return false;
    if (r.operator === 'In') return r.values.includes(label);
    const [floor] = r.values;
    return /^-?\d+$/.test(label) && floor !== undefined && /^-?\d+$/.test(floor) && BigInt(label) > BigInt(floor);
  });
}
