import { aJob, gpuNode, gpuProvider, H100, L4 } from '../../../test/support/placement-fixtures.ts';
import { placeJob } from './place-job.ts';
import { nodeMatches, withPendingDevices, withReservation } from './reservation.ts';
import type { Placement, ProviderSnapshot } from './types.ts';

const GPU = 'nvidia.com/gpu';
const freeOf = (p: ProviderSnapshot) => Object.fromEntries(p.nodes.map((n) => [n.name, n.free.extended[GPU]]));

function provider(free: Record<string, number>): ProviderSnapshot {
  return gpuProvider('p')
    .price(H100, '2.00')
    .nodes(...Object.entries(free).map(([name, f]) => gpuNode(name).product(H100, 4).freeGpus(f)))
    .build();
}

const placementOn = (assignments: string[]): Placement => ({
  provider: 'p',
  product: H100,
  resourceName: GPU,
  nodeSelector: [],
  assignments,
  score: { provider: 'p', product: H100, pricePerGpuHour: 0n, listCost: 0n, expectedReworkPpm: 0n, expectedCost: 0n, strandedGpus: 0, nodesUsed: 1 },
});

describe('withReservation', () => {
  it('takes the devices off the assigned nodes', () => {
    const demand = aJob().products(H100).replicas(2).gpus(2).build();
    expect(freeOf(withReservation(provider({ n1: 4, n2: 3, n3: 1 }), placementOn(['n1', 'n2']), demand))).toEqual({ n1: 2, n2: 1, n3: 1 });
  });

  it('takes them from other nodes, fullest first, when the assigned node is already full (the provider bound other pods there)', () => {
    const demand = aJob().products(H100).gpus(1).build();
    const reserved = withReservation(provider({ n1: 0, n2: 4, n3: 2 }), placementOn(['n1']), demand);
    expect(freeOf(reserved)).toEqual({ n1: 0, n2: 4, n3: 1 });
  });

  it('never loses a reservation: N single-GPU placements leave exactly capacity − N free, wherever the provider bound the earlier ones', () => {
    // Four nodes × 4 GPUs, 10 in use; every assignment lands on a node the provider has since filled.
    let p = provider({ n1: 0, n2: 0, n3: 2, n4: 4 });
    const demand = aJob().products(H100).gpus(1).build();
    for (let i = 0; i < 6; i++) p = withReservation(p, placementOn(['n1']), demand);
    expect(Object.values(freeOf(p)).reduce((a, b) => (a ?? 0) + (b ?? 0), 0)).toBe(0);
    expect(placeJob(demand, [p], Date.UTC(2026, 0, 1)).outcome).toBe('Unschedulable');
  });
});

/** H100 nodes h1, h2 (4 GPUs each, `h` free each) beside an L4 node with `l4` of 4 free: one resource, two products. */
function mixed(h: number, l4: number): ProviderSnapshot {
  return gpuProvider('p')
    .price(H100, '2.00')
    .price(L4, '1.00')
    .nodes(gpuNode('h1').product(H100, 4).freeGpus(h), gpuNode('h2').product(H100, 4).freeGpus(h), gpuNode('l4').product(L4, 4).freeGpus(l4))
    .build();
}
const onH100 = [{ key: 'nvidia.com/gpu.product', operator: 'In' as const, values: [H100] }];

describe('devices taken only where the pods can go (the other product of the same resource is left alone)', () => {
  it('pending pods that can only run on H100 nodes take H100 devices, even when an L4 node has fewer free (fullest first)', () => {
    const pending = withPendingDevices(mixed(2, 1), GPU, 3, onH100);
    expect(freeOf(pending)).toEqual({ h1: 0, h2: 1, l4: 1 });
    // Before: fullest first over every node took the L4's free GPU, and the H100s looked one freer.
    expect(freeOf(withPendingDevices(mixed(2, 1), GPU, 3))).toEqual({ h1: 0, h2: 2, l4: 0 });
  });

  it('then a job that asks for H100s finds the provider full, as its scheduler does', () => {
    const demand = aJob().products(H100).gpus(1).build();
    const full = withPendingDevices(mixed(1, 1), GPU, 2, onH100);
    expect(placeJob(demand, [full], Date.UTC(2026, 0, 1)).outcome).toBe('Unschedulable');
  });

  it("a reservation whose assigned node is full takes its devices from nodes matching the placement's selector", () => {
    const demand = aJob().products(H100).gpus(1).build();
    const placement = { ...placementOn(['h1']), nodeSelector: onH100 };
    expect(freeOf(withReservation(mixed(0, 1), placement, demand))).toEqual({ h1: 0, h2: 0, l4: 1 });
    expect(freeOf(withReservation(mixed(0, 1), { ...placementOn(['h1']), nodeSelector: [] }, demand))).toEqual({ h1: 0, h2: 0, l4: 0 });
  });

  it('nodeMatches: In on a label, Gt on an integer label; a missing or non-integer label does not match', () => {
    const node = { labels: { 'nvidia.com/gpu.product': H100, 'nvidia.com/gpu.memory': '81559' } };
    expect(nodeMatches(node, onH100)).toBe(true);
    expect(nodeMatches(node, [{ key: 'nvidia.com/gpu.product', operator: 'In', values: [L4] }])).toBe(false);
    expect(nodeMatches(node, [{ key: 'nvidia.com/gpu.memory', operator: 'Gt', values: ['40000'] }])).toBe(true);
    expect(nodeMatches(node, [{ key: 'nvidia.com/gpu.memory', operator: 'Gt', values: ['81559'] }])).toBe(false);
    expect(nodeMatches({ labels: { 'nvidia.com/gpu.memory': 'lots' } }, [{ key: 'nvidia.com/gpu.memory', operator: 'Gt', values: ['1'] }])).toBe(false);
    expect(nodeMatches({ labels: {} }, onH100)).toBe(false);
    expect(nodeMatches({ labels: {} }, [])).toBe(true);
  });
});
