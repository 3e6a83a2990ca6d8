// Whether a provider could now take a job it could not take before. The scheduler searches waiting
// jobs again only then: a job that did not fit stays unfit while capacity only shrinks or stays put,
// so pods being bound in a burst (the hold on a node traded for the pod counted on the same node)
// do not send every waiting job back through a search.
//
// Feasibility only ever gets easier with more free resources on a node, a node added, made usable
// or relieved of a taint, a provider made Ready or uncordoned, a larger quota — or any change in the
// provider's facts that a filter reads (prices, region, reputation, …), which counts as growth
// without looking closer. What only orders candidates (GPUs in flight) is not growth.

import { sameApartFromFree, sameData } from './same-data.ts';
import type { NodeResources, NodeSnapshot, ProviderSnapshot } from './types.ts';

/** True when `after` may fit a job that `before` could not (conservative: unsure is true). */
export function capacityGrew(before: ProviderSnapshot | undefined, after: ProviderSnapshot): boolean {
  if (before === undefined) return true;
  if (before === after) return false;
  if (quotaGrew(before.gpuQuotaRemaining, after.gpuQuotaRemaining)) return true;
  if (!sameData(facts(before), facts(after))) return true;
  if (before.nodes === after.nodes) return false;
  // Nodes usually keep their places; looked up by name only where they do not.
  let byName: Map<string, NodeSnapshot> | undefined;
  for (const [i, node] of after.nodes.entries()) {
    let was = before.nodes[i];
    if (was?.name !== node.name) was = (byName ??= new Map(before.nodes.map((n) => [n.name, n]))).get(node.name);
    if (was === undefined || nodeGrew(was, node)) return true;
  }
  return false;
}

/** The provider's facts other than its nodes, its quota and its GPUs in flight. */
function facts(p: ProviderSnapshot): Omit<ProviderSnapshot, 'nodes' | 'gpuQuotaRemaining' | 'inFlightGpus'> {
  const { nodes: _nodes, gpuQuotaRemaining: _quota, inFlightGpus: _inFlight, ...rest } = p;
  return rest;
}

function quotaGrew(before: number | undefined, after: number | undefined): boolean {
  if (after === undefined) return before !== undefined;
  return before !== undefined && after > before;
}

function nodeGrew(before: NodeSnapshot, after: NodeSnapshot): boolean {
  if (before === after) return false;
  return !sameApartFromFree(before, after) || resourcesGrew(before.free, after.free);
}

function resourcesGrew(before: NodeResources, after: NodeResources): boolean {
  if (after.cpuMillis > before.cpuMillis || after.memoryBytes > before.memoryBytes) return true;
  for (const [name, amount] of Object.entries(after.extended)) if (amount > (before.extended[name] ?? 0)) return true;
  return false;
}
