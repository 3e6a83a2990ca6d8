import { seededRandom, syntheticDemand, syntheticFederation } from '../../../test/support/placement-fixtures.ts';
import { gpuOffersOfNode } from './gfd.ts';
import { placeJobIndexed } from './place-job.ts';
import { indexProvider, indexProviders, withChangedNodes, withProviderIndex, withProviderSnapshot } from './provider-index.ts';
import type { ProviderIndex } from './provider-index.ts';
import { withReservation } from './reservation.ts';
import { PlacementInputError } from './types.ts';
import type { NodeSnapshot, ProviderSnapshot } from './types.ts';

const NOW = Date.UTC(2026, 0, 1);
/** What a decision reads of an index: each pool's usable nodes in best-fit order. */
const lists = (p: ProviderIndex) =>
  p.pools.map((pool) => ({ pool: `${pool.resourceName}/${pool.productLabelValue}`, nodes: pool.nodes, tainted: pool.tainted }));

describe('withChangedNodes', () => {
  it('gives the same pools as a full re-index after each of 300 reservations (seeded federation with edge cases)', () => {
    const random = seededRandom(7);
    const federation = syntheticFederation(random, { providers: 6, nodesPerProvider: 60, edgeCases: true });
    const names = federation.map((p) => p.name);
    const snapshots = new Map<string, ProviderSnapshot>(federation.map((p) => [p.name, p]));
    let index = indexProviders(federation);
    let placed = 0;
    for (let i = 0; i < 300; i++) {
      const demand = syntheticDemand(random, names, NOW);
      const decision = placeJobIndexed(demand, index, NOW);
      if (decision.outcome !== 'Placed') continue;
      placed += 1;
      const p = decision.placement;
      const before = snapshots.get(p.provider) as ProviderSnapshot;
      const after = withReservation(before, p, demand);
      snapshots.set(p.provider, after);
      const kept = index.providers.find((x) => x.provider.name === p.provider) as ProviderIndex;
      const incremental = withChangedNodes(
        kept,
        after,
        after.nodes.filter((n, j) => n !== before.nodes[j]),
      );
      expect(lists(incremental)).toEqual(lists(indexProvider(after)));
      index = withProviderIndex(index, incremental);
    }
    expect(placed).toBeGreaterThan(100);
    expect(index.providers.map((p) => p.provider.name)).toEqual([...names].sort());
  });
});

describe('withProviderSnapshot', () => {
  const random = seededRandom(11);
  const federation = syntheticFederation(random, { providers: 3, nodesPerProvider: 40, edgeCases: true });
  // Two products at one provider (two pools), so that a node's move leaves the other pool untouched.
  const [a, b] = [federation[0] as ProviderSnapshot, federation[1] as ProviderSnapshot];
  const target: ProviderSnapshot = { ...b, prices: [...b.prices, ...a.prices], nodes: [...b.nodes, ...a.nodes.map((n) => ({ ...n, name: `also-${n.name}` }))] };
  const others = [a, federation[2] as ProviderSnapshot];
  const indexOf = (index: ReturnType<typeof indexProviders>, name: string) => index.providers.find((p) => p.provider.name === name) as ProviderIndex;

  it('re-indexes only the pools of nodes whose free amounts moved, and gives the same pools as a full re-index', () => {
    const original = indexProviders([target, ...others]);
    let index = original;
    let snapshot = target;
    let kept = 0;
    for (let step = 0; step < 60; step++) {
      // One node's free GPUs, CPU and memory move (a pod bound or gone), as a provider event would.
      const at = Math.floor(random() * snapshot.nodes.length);
      const nodes = snapshot.nodes.map((n, i) => {
        if (i !== at) return n;
        const extended = Object.fromEntries(Object.entries(n.allocatable.extended).map(([r, total]) => [r, Math.floor(random() * (total + 1))]));
        return { ...n, free: { cpuMillis: Math.floor(random() * n.allocatable.cpuMillis), memoryBytes: n.free.memoryBytes, extended } };
      });
      const before = indexOf(index, target.name);
      snapshot = { ...snapshot, nodes };
      index = withProviderSnapshot(index, snapshot);
      const after = indexOf(index, target.name);
      expect(lists(after)).toEqual(lists(indexProvider(snapshot)));
      // Pools the moved node offers nothing to are the very same objects: nothing else was rebuilt.
      const offers = gpuOffersOfNode(snapshot.nodes[at] as NodeSnapshot);
      const untouched = before.pools.filter(
        (pool) => !offers.some((o) => o.resourceName === pool.resourceName && o.productLabelValue === pool.productLabelValue && o.shared === pool.shared),
      );
      for (const pool of untouched) expect(after.pools).toContain(pool);
      kept += untouched.length;
    }
    expect(kept).toBeGreaterThan(20);
    // The other providers' indexes are the very objects the first index held.
    for (const p of others) expect(indexOf(index, p.name)).toBe(indexOf(original, p.name));
  });

  it('re-indexes the whole provider when more than free amounts changed (cordoned, relabelled, a node gone, prices)', () => {
    const index = indexProviders([target, ...others]);
    const first = target.nodes[0] as NodeSnapshot;
    const changes: ProviderSnapshot[] = [
      { ...target, nodes: [{ ...first, unschedulable: !first.unschedulable }, ...target.nodes.slice(1)] },
      { ...target, nodes: [{ ...first, labels: { ...first.labels, 'nvidia.com/gpu.product': 'NVIDIA-RELABELLED' } }, ...target.nodes.slice(1)] },
      { ...target, nodes: target.nodes.slice(1) },
      { ...target, prices: target.prices.map((p) => ({ ...p, pricePerGpuHour: p.pricePerGpuHour + 1n })) },
    ];
    for (const changed of changes) {
      const after = indexOf(withProviderSnapshot(index, changed), target.name);
      expect(lists(after)).toEqual(lists(indexProvider(changed)));
      expect(after.prices).toEqual(indexProvider(changed).prices);
    }
  });

  it('refuses a malformed free amount on the incremental path as a full re-index would', () => {
    const index = indexProviders([target, ...others]);
    const first = target.nodes[0] as NodeSnapshot;
    const bad = { ...target, nodes: [{ ...first, free: { ...first.free, cpuMillis: 0.5 } }, ...target.nodes.slice(1)] };
    expect(() => indexProvider(bad)).toThrow(PlacementInputError);
    expect(() => withProviderSnapshot(index, bad)).toThrow(PlacementInputError);
  });
});
