// A per-provider index of GPU capacity, built once per snapshot and shared by every decision taken
// on that snapshot. Scanning every node of every provider for every job costs O(nodes) per
// decision; with the index a decision touches, per acceptable product, only the nodes the best-fit
// scan visits: it starts at the first node with enough free GPUs and usually stops after `replicas`
// nodes.
//
//   ProviderSnapshot ──indexProvider──▶ ProviderIndex
//                                        ├─ prices: product → price
//                                        └─ pools: one per GPU offer (resource + product label value)
//                                             ├─ nodes:   Ready, schedulable, ≥ 1 free, no taint
//                                             │           beyond DEFAULT_TOLERATIONS; sorted by
//                                             │           (free asc, name asc) = best-fit order
//                                             ├─ tainted: same, with taints; scanned only for jobs
//                                             │           with extra tolerations
//                                             └─ counts for messages (cordoned, not ready, full)
//
// Indexes are immutable. When one provider's nodes change, withProvider() rebuilds that provider only.

import { gpuOffersOfNode } from './gfd.ts';
import { sameApartFromFree, sameData } from './same-data.ts';
import type { GpuOffer } from './gfd.ts';
import { DEFAULT_TOLERATIONS, untoleratedTaints } from './taints.ts';
import { PlacementInputError } from './types.ts';
import type { NodeSnapshot, ProviderSnapshot, Taint } from './types.ts';

/** A node's standing in one pool. */
export interface PoolNode {
  readonly name: string;
  /** Free devices of the pool's resource. */
  readonly free: number;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  /** GPU memory in MiB; 0 when unlabelled (fails any floor). */
  readonly gpuMemoryMiB: number;
  /** Encoded compute capability; -1 when unlabelled (fails any floor). */
  readonly computeCapability: number;
  /** NoSchedule/NoExecute taints DEFAULT_TOLERATIONS do not cover. */
  readonly taints: readonly Taint[];
}

/** All devices of one kind at one provider: the identity of the offer, plus the pool's nodes. */
export interface GpuPool extends Pick<GpuOffer, 'product' | 'resourceName' | 'productLabel' | 'productLabelValue' | 'memoryLabel' | 'shared' | 'mig'> {
  /** Usable, untainted nodes with free devices, by (free, name). */
  readonly nodes: readonly PoolNode[];
  /** Usable nodes with free devices and taints, by (free, name). */
  readonly tainted: readonly PoolNode[];
  /** Nodes offering the product in any state. */
  readonly totalNodes: number;
  /** Cordoned (unschedulable) or not Ready. */
  readonly unavailableNodes: number;
  /** GPU memory / compute capability over all nodes offering it, for product-level checks. */
  readonly maxGpuMemoryMiB: number;
  readonly maxComputeCapability: number;
  /** Over `nodes` and `tainted`: when the floor is at most this, per-node checks are skipped. */
  readonly minUsableGpuMemoryMiB: number;
  readonly minUsableComputeCapability: number;
}

export interface ProviderIndex {
  readonly provider: ProviderSnapshot;
  readonly prices: ReadonlyMap<string, bigint>;
  /** By (product, resourceName, productLabelValue). */
  readonly pools: readonly GpuPool[];
  readonly poolsByProduct: ReadonlyMap<string, readonly GpuPool[]>;
  /** Distinct products on offer, sorted, for "has …" in messages. */
  readonly products: readonly string[];
}

/** Indexes of every provider, by name. */
export interface PlacementIndex {
  readonly providers: readonly ProviderIndex[];
}

/** Code-unit order: locale-independent, so every machine sorts alike. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byFreeThenName(a: PoolNode, b: PoolNode): number {
  return a.free - b.free || compareStrings(a.name, b.name);
}

function requireCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) throw new PlacementInputError(`${what} must be an integer, got ${value}`);
}

function checkNode(provider: string, node: NodeSnapshot): void {
  if (node.name === '') throw new PlacementInputError(`provider ${provider}: a node has no name`);
  for (const [side, resources] of [
    ['allocatable', node.allocatable],
    ['free', node.free],
  ] as const) {
    requireCount(resources.cpuMillis, `${provider}/${node.name} ${side} cpuMillis`);
    requireCount(resources.memoryBytes, `${provider}/${node.name} ${side} memoryBytes`);
    for (const [name, amount] of Object.entries(resources.extended)) {
      requireCount(amount, `${provider}/${node.name} ${side} ${name}`);
    }
  }
}

/** The provider-level facts a decision computes with (its nodes are checked one by one). */
function checkProvider(provider: ProviderSnapshot): void {
  if (provider.name === '') throw new PlacementInputError('a provider has no name');
  if (provider.gpuQuotaRemaining !== undefined) requireCount(provider.gpuQuotaRemaining, `${provider.name} gpuQuotaRemaining`);
  requireCount(provider.reputation.preemptionsPerMillionGpuHours, `${provider.name} preemptionsPerMillionGpuHours`);
  requireCount(provider.reputation.completionRatePpm, `${provider.name} completionRatePpm`);
  if (provider.reputation.preemptionsPerMillionGpuHours < 0) {
    throw new PlacementInputError(`${provider.name} preemptionsPerMillionGpuHours must not be negative`);
  }
}

interface PoolBuilder {
  readonly offer: GpuOffer;
  readonly nodes: PoolNode[];
  readonly tainted: PoolNode[];
  totalNodes: number;
  unavailableNodes: number;
  maxGpuMemoryMiB: number;
  maxComputeCapability: number;
}

/** Builds one provider's index. O(nodes × log nodes). */
export function indexProvider(provider: ProviderSnapshot): ProviderIndex {
  checkProvider(provider);

  const prices = new Map<string, bigint>();
  for (const { product, pricePerGpuHour } of provider.prices) {
    if (prices.has(product)) throw new PlacementInputError(`${provider.name} prices ${product} twice`);
    if (pricePerGpuHour < 0n) throw new PlacementInputError(`${provider.name} price of ${product} is negative`);
    prices.set(product, pricePerGpuHour);
  }

  const builders = new Map<string, PoolBuilder>();
  const seen = new Set<string>();
  for (const node of provider.nodes) {
    checkNode(provider.name, node);
    if (seen.has(node.name)) throw new PlacementInputError(`${provider.name} has two nodes named ${node.name}`);
    seen.add(node.name);
    const offers = gpuOffersOfNode(node);
    if (offers.length === 0) continue;
    const usable = node.ready && !node.unschedulable;
    const taints = usable ? untoleratedTaints(node.taints, DEFAULT_TOLERATIONS) : [];
    for (const offer of offers) {
      const key = `${offer.resourceName}\n${offer.productLabelValue}\n${offer.shared}`;
      let pool = builders.get(key);
      if (pool === undefined) {
        pool = { offer, nodes: [], tainted: [], totalNodes: 0, unavailableNodes: 0, maxGpuMemoryMiB: 0, maxComputeCapability: -1 };
        builders.set(key, pool);
      }
      const gpuMemoryMiB = offer.gpuMemoryMiB ?? 0;
      const computeCapability = offer.computeCapability ?? -1;
      pool.totalNodes += 1;
      pool.maxGpuMemoryMiB = Math.max(pool.maxGpuMemoryMiB, gpuMemoryMiB);
      pool.maxComputeCapability = Math.max(pool.maxComputeCapability, computeCapability);
      if (!usable) {
        pool.unavailableNodes += 1;
        continue;
      }
      if (offer.free === 0) continue;
      const entry: PoolNode = {
        name: node.name,
        free: offer.free,
        cpuMillis: Math.max(0, node.free.cpuMillis),
        memoryBytes: Math.max(0, node.free.memoryBytes),
        gpuMemoryMiB,
        computeCapability,
        taints,
      };
      (taints.length === 0 ? pool.nodes : pool.tainted).push(entry);
    }
  }

  const pools: GpuPool[] = [];
  for (const builder of builders.values()) {
    builder.nodes.sort(byFreeThenName);
    builder.tainted.sort(byFreeThenName);
    let minUsableGpuMemoryMiB = Number.MAX_SAFE_INTEGER;
    let minUsableComputeCapability = Number.MAX_SAFE_INTEGER;
    for (const list of [builder.nodes, builder.tainted]) {
      for (const node of list) {
        minUsableGpuMemoryMiB = Math.min(minUsableGpuMemoryMiB, node.gpuMemoryMiB);
        minUsableComputeCapability = Math.min(minUsableComputeCapability, node.computeCapability);
      }
    }
    const { offer } = builder;
    pools.push({
      product: offer.product,
      resourceName: offer.resourceName,
      productLabel: offer.productLabel,
      productLabelValue: offer.productLabelValue,
      memoryLabel: offer.memoryLabel,
      shared: offer.shared,
      mig: offer.mig,
      nodes: builder.nodes,
      tainted: builder.tainted,
      totalNodes: builder.totalNodes,
      unavailableNodes: builder.unavailableNodes,
      maxGpuMemoryMiB: builder.maxGpuMemoryMiB,
      maxComputeCapability: builder.maxComputeCapability,
      minUsableGpuMemoryMiB,
      minUsableComputeCapability,
    });
  }
  pools.sort(
    (a, b) =>
      compareStrings(a.product, b.product) || compareStrings(a.resourceName, b.resourceName) || compareStrings(a.productLabelValue, b.productLabelValue),
  );

  const poolsByProduct = new Map<string, GpuPool[]>();
  for (const pool of pools) {
    const list = poolsByProduct.get(pool.product);
    if (list) list.push(pool);
    else poolsByProduct.set(pool.product, [pool]);
  }
  return { provider, prices, pools, poolsByProduct, products: [...poolsByProduct.keys()] };
}

/** Indexes every provider. Provider names must be unique. */
export function indexProviders(providers: readonly ProviderSnapshot[]): PlacementIndex {
  const indexed = providers.map(indexProvider).sort((a, b) => compareStrings(a.provider.name, b.provider.name));
  for (let i = 1; i < indexed.length; i++) {
    if (indexed[i]?.provider.name === indexed[i - 1]?.provider.name) {
      throw new PlacementInputError(`two providers named ${indexed[i]?.provider.name}`);
    }
  }
  return { providers: indexed };
}

/** The index with one provider added or replaced (only that provider is re-indexed). */
export function withProvider(index: PlacementIndex, provider: ProviderSnapshot): PlacementIndex {
  const rebuilt = indexProvider(provider);
  const others = index.providers.filter((p) => p.provider.name !== provider.name);
  const providers = [...others, rebuilt].sort((a, b) => compareStrings(a.provider.name, b.provider.name));
  return { providers };
}

/** The index without a provider (deleted GPUProvider). */
export function withoutProvider(index: PlacementIndex, name: string): PlacementIndex {
  return { providers: index.providers.filter((p) => p.provider.name !== name) };
}

/**
 * The provider's index after some nodes' free amounts changed and nothing else did (a reservation
 * taken out: labels, taints, readiness and allocatable are as before). Only those nodes move in
 * their pools — O(pool size) array work per changed node instead of indexProvider's full rebuild.
 * Pool bounds (node counts, max memory and capability) do not depend on free amounts; the minimum
 * over usable nodes may only rise when a node leaves, and is kept: a lower bound only makes the
 * per-node floor checks run where they could have been skipped.
 */
export function withChangedNodes(index: ProviderIndex, provider: ProviderSnapshot, changed: readonly NodeSnapshot[]): ProviderIndex {
  if (changed.length === 0) return { ...index, provider };
  const names = new Set(changed.map((n) => n.name));
  const offered = changed.map((node) => ({ node, offers: gpuOffersOfNode(node) }));
  const pools = index.pools.map((pool): GpuPool => {
    let nodes = pool.nodes;
    let tainted = pool.tainted;
    const hit = (list: readonly PoolNode[]) => list.some((n) => names.has(n.name));
    if (!hit(nodes) && !hit(tainted) && !offered.some(({ offers }) => offers.some((o) => samePool(o, pool)))) return pool;
    nodes = nodes.filter((n) => !names.has(n.name));
    tainted = tainted.filter((n) => !names.has(n.name));
    for (const { node, offers } of offered) {
      if (!node.ready || node.unschedulable) continue;
      const offer = offers.find((o) => samePool(o, pool));
      if (!offer || offer.free === 0) continue;
      const taints = untoleratedTaints(node.taints, DEFAULT_TOLERATIONS);
      const entry: PoolNode = {
        name: node.name,
        free: offer.free,
        cpuMillis: Math.max(0, node.free.cpuMillis),
        memoryBytes: Math.max(0, node.free.memoryBytes),
        gpuMemoryMiB: offer.gpuMemoryMiB ?? 0,
        computeCapability: offer.computeCapability ?? -1,
        taints,
      };
      if (taints.length === 0) nodes = insertSorted(nodes, entry);
      else tainted = insertSorted(tainted, entry);
    }
    return { ...pool, nodes, tainted };
  });
  const poolsByProduct = new Map<string, GpuPool[]>();
  for (const pool of pools) {
    const list = poolsByProduct.get(pool.product);
    if (list) list.push(pool);
    else poolsByProduct.set(pool.product, [pool]);
  }
  return { ...index, provider, pools, poolsByProduct };
}

/**
 * The index with one provider's snapshot replaced. When all that changed since the snapshot the
 * index holds for it is some nodes' free amounts (pods bound or gone, holds taken or given back: what
 * a burst changes), only those nodes move (withChangedNodes); anything else — a node added, removed,
 * relabelled, tainted, cordoned or not Ready, allocatable or prices changed — re-indexes the provider.
 */
export function withProviderSnapshot(index: PlacementIndex, after: ProviderSnapshot): PlacementIndex {
  const kept = index.providers.find((p) => p.provider.name === after.name);
  const changed = kept ? freeChanges(kept.provider, after) : undefined;
  if (!kept || changed === undefined) return withProvider(index, after);
  checkProvider(after);
  for (const node of changed) checkNode(after.name, node);
  return withProviderIndex(index, withChangedNodes(kept, after, changed));
}

/** The nodes whose free amounts alone changed from `before` to `after`; undefined when anything else did. */
function freeChanges(before: ProviderSnapshot, after: ProviderSnapshot): NodeSnapshot[] | undefined {
  if (before.nodes.length !== after.nodes.length || !sameData(before.prices, after.prices)) return undefined;
  const changed: NodeSnapshot[] = [];
  for (let i = 0; i < after.nodes.length; i++) {
    const was = before.nodes[i] as NodeSnapshot;
    const now = after.nodes[i] as NodeSnapshot;
    if (was === now) continue;
    if (!sameApartFromFree(was, now)) return undefined;
    if (!sameData(was.free, now.free)) changed.push(now);
  }
  return changed;
}

/** The index with one provider's index put in (added or replaced), kept in name order. */
export function withProviderIndex(index: PlacementIndex, provider: ProviderIndex): PlacementIndex {
  const name = provider.provider.name;
  const others = index.providers.filter((p) => p.provider.name !== name);
  const at = others.findIndex((p) => compareStrings(p.provider.name, name) > 0);
  return { providers: at < 0 ? [...others, provider] : [...others.slice(0, at), provider, ...others.slice(at)] };
}

function samePool(offer: GpuOffer, pool: GpuPool): boolean {
  return offer.resourceName === pool.resourceName && offer.productLabelValue === pool.productLabelValue && offer.shared === pool.shared;
}

function insertSorted(list: readonly PoolNode[], entry: PoolNode): PoolNode[] {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (byFreeThenName(list[mid] as PoolNode, entry) < 0) lo = mid + 1;
    else hi = mid;
  }
  return [...list.slice(0, lo), entry, ...list.slice(lo)];
}
