import { gpuNode, gpuProvider, H100 } from '../../../test/support/placement-fixtures.ts';
import { capacityGrew } from './growth.ts';
import type { NodeSnapshot, ProviderSnapshot } from './types.ts';

/** Two 8-H100 nodes with `free` GPUs free, built anew each time (equal, never the same objects). */
const provider = (free: readonly [number, number], price = '2.00'): ProviderSnapshot =>
  gpuProvider('p').price(H100, price).nodes(gpuNode('n0').product(H100, 8).freeGpus(free[0]), gpuNode('n1').product(H100, 8).freeGpus(free[1])).build();

/** `p` with node `i` changed by `edit`. */
const withNode = (p: ProviderSnapshot, i: number, edit: (n: NodeSnapshot) => NodeSnapshot): ProviderSnapshot => ({
  ...p,
  nodes: p.nodes.map((n, j) => (j === i ? edit(n) : n)),
});

const before = provider([2, 4]);

describe('capacityGrew', () => {
  it.each<[string, ProviderSnapshot, ProviderSnapshot]>([
    ['nothing changed (equal copies)', before, provider([2, 4])],
    ['a node filled up (a pod bound, a hold taken)', before, provider([1, 4])],
    ['a node gone', before, { ...before, nodes: before.nodes.slice(0, 1) }],
    ['the quota shrank', { ...before, gpuQuotaRemaining: 8 }, { ...before, gpuQuotaRemaining: 4 }],
    ['only the GPUs in flight changed (a tie-break, not a filter)', before, { ...before, inFlightGpus: 7 }],
    ['the nodes listed in another order', before, { ...provider([2, 4]), nodes: [...provider([2, 4]).nodes].reverse() }],
  ])('no: %s', (_, from, to) => {
    expect(capacityGrew(from, to)).toBe(false);
  });

  it.each<[string, ProviderSnapshot | undefined, ProviderSnapshot]>([
    ['a first look at the provider', undefined, before],
    ['a GPU freed on one node while another fills up', before, provider([3, 1])],
    ['a GPU freed on a node listed in another order', before, { ...provider([2, 5]), nodes: [...provider([2, 5]).nodes].reverse() }],
    ['CPU freed on a node', before, withNode(before, 0, (n) => ({ ...n, free: { ...n.free, cpuMillis: n.free.cpuMillis + 1 } }))],
    ['a node added', before, { ...before, nodes: [...before.nodes, gpuNode('n2').product(H100, 8).freeGpus(0).build()] }],
    ['a node uncordoned', withNode(before, 0, (n) => ({ ...n, unschedulable: true })), before],
    ['a node relabelled (any change beyond free amounts counts)', before, withNode(before, 0, (n) => ({ ...n, labels: { ...n.labels, extra: 'x' } }))],
    ['a quota lifted', { ...before, gpuQuotaRemaining: 4 }, before],
    ['a quota raised', { ...before, gpuQuotaRemaining: 4 }, { ...before, gpuQuotaRemaining: 6 }],
    ['a price changed', before, provider([2, 4], '1.00')],
    ['the provider uncordoned', { ...before, cordoned: true }, before],
  ])('yes: %s', (_, from, to) => {
    expect(capacityGrew(from, to)).toBe(true);
  });
});
