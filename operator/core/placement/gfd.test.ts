import { gpuOffersOfNode } from './gfd.ts';
import type { GpuOffer } from './gfd.ts';
import { A100_40, gpuNode, H100, L4 } from '../../../test/support/placement-fixtures.ts';
import type { NodeBuilder } from '../../../test/support/placement-fixtures.ts';

type OfferSummary = Pick<GpuOffer, 'product' | 'resourceName' | 'productLabel' | 'shared' | 'mig' | 'gpuMemoryMiB' | 'allocatable' | 'free'>;

function summarise(offer: GpuOffer): OfferSummary {
  const { product, resourceName, productLabel, shared, mig, gpuMemoryMiB, allocatable, free } = offer;
  return { product, resourceName, productLabel, shared, mig, gpuMemoryMiB, allocatable, free };
}

describe('gpuOffersOfNode', () => {
  const cases: { name: string; node: NodeBuilder; want: OfferSummary[] }[] = [
    {
      name: 'a plain GPU node offers whole GPUs of its product',
      node: gpuNode('n').product(H100, 8).freeGpus(3),
      want: [
        {
          product: H100,
          resourceName: 'nvidia.com/gpu',
          productLabel: 'nvidia.com/gpu.product',
          shared: false,
          mig: false,
          gpuMemoryMiB: 81559,
          allocatable: 8,
          free: 3,
        },
      ],
    },
    {
      name: "time-slicing keeps GFD's -SHARED product",
      node: gpuNode('n').timeSliced(L4, 1, 4),
      want: [
        {
          product: `${L4}-SHARED`,
          resourceName: 'nvidia.com/gpu',
          productLabel: 'nvidia.com/gpu.product',
          shared: true,
          mig: false,
          gpuMemoryMiB: 23034,
          allocatable: 4,
          free: 4,
        },
      ],
    },
    {
      name: 'time-slicing renamed to nvidia.com/gpu.shared gets the -SHARED suffix from the engine',
      node: gpuNode('n').timeSliced(L4, 2, 4, { renamed: true }),
      want: [
        {
          product: `${L4}-SHARED`,
          resourceName: 'nvidia.com/gpu.shared',
          productLabel: 'nvidia.com/gpu.product',
          shared: true,
          mig: false,
          gpuMemoryMiB: 23034,
          allocatable: 8,
          free: 8,
        },
      ],
    },
    {
      name: 'a replicas label above one marks the GPU shared even when the product label lacks the suffix',
      node: gpuNode('n').product(L4, 1).label('nvidia.com/gpu.replicas', '2'),
      want: [
        {
          product: `${L4}-SHARED`,
          resourceName: 'nvidia.com/gpu',
          productLabel: 'nvidia.com/gpu.product',
          shared: true,
          mig: false,
          gpuMemoryMiB: 23034,
          allocatable: 1,
          free: 1,
        },
      ],
    },
    {
      name: 'MIG single strategy offers slices under nvidia.com/gpu with the profile in the product',
      node: gpuNode('n').migSingle(A100_40, '1g.5gb', 56, 4864),
      want: [
        {
          product: `${A100_40}-MIG-1g.5gb`,
          resourceName: 'nvidia.com/gpu',
          productLabel: 'nvidia.com/gpu.product',
          shared: false,
          mig: true,
          gpuMemoryMiB: 4864,
          allocatable: 56,
          free: 56,
        },
      ],
    },
    {
      name: 'MIG mixed strategy offers each profile as its own resource next to unpartitioned GPUs',
      node: gpuNode('n').product(A100_40, 2).migMixed(A100_40, '3g.20gb', 4, 19968).migMixed(A100_40, '1g.5gb', 7, 4864),
      want: [
        {
          product: A100_40,
          resourceName: 'nvidia.com/gpu',
          productLabel: 'nvidia.com/gpu.product',
          shared: false,
          mig: false,
          gpuMemoryMiB: 40960,
          allocatable: 2,
          free: 2,
        },
        {
          product: `${A100_40}-MIG-1g.5gb`,
          resourceName: 'nvidia.com/mig-1g.5gb',
          productLabel: 'nvidia.com/mig-1g.5gb.product',
          shared: false,
          mig: true,
          gpuMemoryMiB: 4864,
          allocatable: 7,
          free: 7,
        },
        {
          product: `${A100_40}-MIG-3g.20gb`,
          resourceName: 'nvidia.com/mig-3g.20gb',
          productLabel: 'nvidia.com/mig-3g.20gb.product',
          shared: false,
          mig: true,
          gpuMemoryMiB: 19968,
          allocatable: 4,
          free: 4,
        },
      ],
    },
    {
      name: 'a GPU node without GFD labels offers nothing',
      node: gpuNode('n').product(H100, 8).withoutLabel('nvidia.com/gpu.product'),
      want: [],
    },
    {
      name: 'a node whose device plugin reports no GPUs offers nothing',
      node: gpuNode('n').product(H100, 0),
      want: [],
    },
    {
      name: 'overcommitted free counts as zero, and an unparsable memory label as unknown',
      node: gpuNode('n').product(H100, 8).freeGpus(-2).label('nvidia.com/gpu.memory', '80GB'),
      want: [
        {
          product: H100,
          resourceName: 'nvidia.com/gpu',
          productLabel: 'nvidia.com/gpu.product',
          shared: false,
          mig: false,
          gpuMemoryMiB: undefined,
          allocatable: 8,
          free: 0,
        },
      ],
    },
    {
      name: 'resources that only look like GPUs are ignored',
      node: gpuNode('n').resource('nvidia.com/gpu.foo', 4).resource('example.com/gpu', 4).label('nvidia.com/gpu.product', H100),
      want: [],
    },
  ];
  it.each(cases)('$name', ({ node, want }) => {
    expect(gpuOffersOfNode(node.build()).map(summarise)).toEqual(want);
  });

  it("reads the compute capability of MIG devices from the node's GPU labels", () => {
    const [offer] = gpuOffersOfNode(gpuNode('n').migMixed(A100_40, '3g.20gb', 2, 19968).compute(8, 0).build());
    expect(offer?.computeCapability).toBe(8000);
  });
});
