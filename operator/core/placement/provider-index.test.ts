import { seededRandom, syntheticDemand, syntheticFederation } from '../../../test/support/placement-fixtures.ts';
import { placeJobIndexed } from './place-job.ts';
import { indexProvider, indexProviders, withChangedNodes, withProviderIndex } from './provider-index.ts';
import type { ProviderIndex } from './provider-index.ts';
import { withReservation } from './reservation.ts';
import type { ProviderSnapshot } from './types.ts';

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
