import { aJob, gpuNode, gpuProvider, H100 } from '../../../test/support/placement-fixtures.ts';
import { placeJob } from './place-job.ts';
import { withReservation } from './reservation.ts';
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
