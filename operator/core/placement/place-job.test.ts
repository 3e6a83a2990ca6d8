import { formatUnschedulableMessage } from './messages.ts';
import { placeJob } from './place-job.ts';
import { A100_40, A100_80, aJob, GiB, gpuNode, gpuProvider, H100, L4, T4 } from '../../../test/support/placement-fixtures.ts';
import type { JobBuilder, ProviderBuilder } from '../../../test/support/placement-fixtures.ts';
import type { PlacementDecision } from './types.ts';

const now = Date.UTC(2025, 0, 1, 0, 0, 0);

/** The decision as a reader checks it: where it went, and each other provider's reason. */
interface Outcome {
  placed?: string;
  on?: string[];
  rejected?: Record<string, string>;
}

function outcomeOf(decision: PlacementDecision): Outcome {
  const rejected = Object.fromEntries(decision.rejections.map((r) => [r.provider, `${r.reason}: ${r.message}`]));
  if (decision.outcome === 'Unschedulable') return { rejected };
  const { provider, product, assignments } = decision.placement;
  return { placed: `${provider} ${product}`, on: [...assignments], ...(decision.rejections.length > 0 ? { rejected } : {}) };
}

interface Case {
  name: string;
  job: JobBuilder;
  providers: ProviderBuilder[];
  want: Outcome;
}

describe('placeJob', () => {
  const cases: Case[] = [
    // ── products, GFD edge cases ──────────────────────────────────────────────────────────────
    {
      name: 'a single-GPU job lands on the only provider with its product',
      job: aJob().products(H100),
      providers: [gpuProvider('provider-a').price(H100, '2.50').nodes(gpuNode('a-1').product(H100, 8))],
      want: { placed: `provider-a ${H100}`, on: ['a-1'] },
    },
    {
      name: 'a provider without the product says which products it has',
      job: aJob().products(H100),
      providers: [
        gpuProvider('provider-a').price(H100, '2.50').nodes(gpuNode('a-1').product(H100, 8)),
        gpuProvider('provider-b').price(A100_40, '1.20').price(L4, '0.40').nodes(gpuNode('b-1').product(L4, 4), gpuNode('b-2').product(A100_40, 8)),
      ],
      want: {
        placed: `provider-a ${H100}`,
        on: ['a-1'],
        rejected: { 'provider-b': 'NoMatchingProduct: no node with NVIDIA-H100-80GB-HBM3 (has NVIDIA-A100-SXM4-40GB, NVIDIA-L4)' },
      },
    },
    {
      name: 'time-sliced -SHARED GPUs do not match a request for the whole product',
      job: aJob().products(L4),
      providers: [
        gpuProvider('provider-a')
          .price(L4, '0.40')
          .price(`${L4}-SHARED`, '0.10')
          .nodes(gpuNode('a-1').timeSliced(L4, 1, 4)),
      ],
      want: { rejected: { 'provider-a': 'NoMatchingProduct: no node with NVIDIA-L4 (has NVIDIA-L4-SHARED)' } },
    },
    {
      name: 'a job that lists the -SHARED product gets time-sliced GPUs',
      job: aJob().products(`${L4}-SHARED`),
      providers: [
        gpuProvider('provider-a')
          .price(`${L4}-SHARED`, '0.10')
          .nodes(gpuNode('a-1').timeSliced(L4, 1, 4)),
      ],
      want: { placed: `provider-a ${L4}-SHARED`, on: ['a-1'] },
    },
    {
      name: 'time-slicing renamed to nvidia.com/gpu.shared is still a -SHARED product',
      job: aJob().products(L4),
      providers: [
        gpuProvider('provider-a')
          .price(L4, '0.40')
          .nodes(gpuNode('a-1').timeSliced(L4, 1, 4, { renamed: true })),
      ],
      want: { rejected: { 'provider-a': 'NoMatchingProduct: no node with NVIDIA-L4 (has NVIDIA-L4-SHARED)' } },
    },
    {
      name: 'MIG slices, mixed or single strategy, do not match a whole-GPU request',
      job: aJob().products(A100_40),
      providers: [
        gpuProvider('provider-a')
          .price(A100_40, '1.20')
          .nodes(gpuNode('a-1').migMixed(A100_40, '3g.20gb', 2, 19968), gpuNode('a-2').migSingle(A100_40, '1g.5gb', 7, 4864)),
      ],
      want: {
        rejected: {
          'provider-a': 'NoMatchingProduct: no node with NVIDIA-A100-SXM4-40GB (has NVIDIA-A100-SXM4-40GB-MIG-1g.5gb, NVIDIA-A100-SXM4-40GB-MIG-3g.20gb)',
        },
      },
    },
    {
      name: 'a job asks for a MIG slice by the product GFD gives it',
      job: aJob().products(`${A100_40}-MIG-3g.20gb`).replicas(2),
      providers: [
        gpuProvider('provider-a')
          .price(`${A100_40}-MIG-3g.20gb`, '0.60')
          .nodes(gpuNode('a-1').product(A100_40, 8).migMixed(A100_40, '3g.20gb', 2, 19968)),
      ],
      want: { placed: `provider-a ${A100_40}-MIG-3g.20gb`, on: ['a-1', 'a-1'] },
    },
    {
      name: 'a job with no product list takes the cheapest whole, unshared GPU',
      job: aJob(),
      providers: [
        gpuProvider('provider-a')
          .price(H100, '2.50')
          .price(L4, '0.40')
          .price(`${L4}-SHARED`, '0.10')
          .price(`${A100_40}-MIG-3g.20gb`, '0.20')
          .nodes(
            gpuNode('a-1').product(H100, 8),
            gpuNode('a-2').product(L4, 4),
            gpuNode('a-3').timeSliced(L4, 1, 4),
            gpuNode('a-4').migMixed(A100_40, '3g.20gb', 2, 19968),
          ),
      ],
      want: { placed: `provider-a ${L4}`, on: ['a-2'] },
    },
    {
      name: 'a job with no product list and a provider with only shared GPUs is told so',
      job: aJob(),
      providers: [
        gpuProvider('provider-a')
          .price(`${L4}-SHARED`, '0.10')
          .nodes(gpuNode('a-1').timeSliced(L4, 1, 4)),
      ],
      want: { rejected: { 'provider-a': 'NoMatchingProduct: no node with an unshared whole GPU (has NVIDIA-L4-SHARED)' } },
    },
    {
      name: 'GPU memory below the floor rejects the product',
      job: aJob().minGpuMemoryMiB(40960),
      providers: [gpuProvider('provider-a').price(L4, '0.40').nodes(gpuNode('a-1').product(L4, 4))],
      want: { rejected: { 'provider-a': 'GpuMemoryTooSmall: NVIDIA-L4: GPU memory 23034 MiB below min 40960 MiB' } },
    },
    {
      name: 'a product without a GPU memory label fails a memory floor and says so',
      job: aJob().products(H100).minGpuMemoryMiB(40960),
      providers: [gpuProvider('provider-a').price(H100, '2.50').nodes(gpuNode('a-1').product(H100, 8).withoutLabel('nvidia.com/gpu.memory'))],
      want: { rejected: { 'provider-a': 'GpuMemoryTooSmall: GPU memory unknown (no nvidia.com/gpu.memory label) below min 40960 MiB' } },
    },
    {
      name: 'nodes below the memory floor are skipped inside a product',
      job: aJob().products(H100).gpus(8).minGpuMemoryMiB(81000),
      providers: [
        gpuProvider('provider-a')
          .price(H100, '2.50')
          .nodes(gpuNode('a-1').product(H100, 8, 40000), gpuNode('a-2').product(H100, 8)),
      ],
      want: { placed: `provider-a ${H100}`, on: ['a-2'] },
    },
    {
      name: 'compute capability below the floor rejects the product',
      job: aJob().minComputeCapability(8, 0),
      providers: [gpuProvider('provider-a').price(T4, '0.20').nodes(gpuNode('a-1').product(T4, 4))],
      want: { rejected: { 'provider-a': 'ComputeCapabilityTooLow: Tesla-T4: compute capability 7.5 below min 8.0' } },
    },
    {
      name: 'a product on a node but without a price is not for lending',
      job: aJob().products(H100),
      providers: [gpuProvider('provider-a').price(L4, '0.40').nodes(gpuNode('a-1').product(H100, 8))],
      want: { rejected: { 'provider-a': 'NotForLending: no price for NVIDIA-H100-80GB-HBM3 (not for lending)' } },
    },
    {
      name: 'each acceptable product explains itself when none fits',
      job: aJob().products(H100, A100_80).gpus(8).maxPrice('2.50'),
      providers: [
        gpuProvider('provider-a')
          .price(H100, '3.20')
          .price(A100_80, '1.80')
          .nodes(gpuNode('a-1').product(H100, 8), gpuNode('a-2').product(A100_80, 8).freeGpus(4)),
      ],
      want: {
        rejected: {
          'provider-a':
            'InsufficientCapacity: NVIDIA-H100-80GB-HBM3: price 3.20/GPU-h exceeds max 2.50; ' +
            'NVIDIA-A100-SXM4-80GB: the replica does not fit (needs 8 GPUs per node; largest free 4)',
        },
      },
    },
    // ── price ─────────────────────────────────────────────────────────────────────────────────
    {
      name: 'a provider above the price cap is rejected with both prices, one at the cap is not',
      job: aJob().products(H100).maxPrice('2.50'),
      providers: [
        gpuProvider('provider-a').price(H100, '2.50').nodes(gpuNode('a-1').product(H100, 8)),
        gpuProvider('provider-c').price(H100, '3.20').nodes(gpuNode('c-1').product(H100, 8)),
      ],
      want: { placed: `provider-a ${H100}`, on: ['a-1'], rejected: { 'provider-c': 'PriceTooHigh: price 3.20/GPU-h exceeds max 2.50' } },
    },
    // ── gang fit ──────────────────────────────────────────────────────────────────────────────
    {
      name: 'a gang that fits only partly on the cheaper provider goes whole to the dearer one',
      job: aJob().products(H100).replicas(2).gpus(8),
      providers: [
        gpuProvider('provider-a').price(H100, '2.00').nodes(gpuNode('a-1').product(H100, 8), gpuNode('a-2').product(H100, 8).freeGpus(4)),
        gpuProvider('provider-b').price(H100, '2.40').nodes(gpuNode('b-1').product(H100, 8), gpuNode('b-2').product(H100, 8)),
      ],
      want: {
        placed: `provider-b ${H100}`,
        on: ['b-1', 'b-2'],
        rejected: { 'provider-a': 'InsufficientCapacity: only 1 of 2 replicas fit (needs 8 GPUs per node; largest free 8)' },
      },
    },
    {
      name: 'GPUs spread over nodes do not make room for a replica that needs them on one node',
      job: aJob().products(H100).replicas(2).gpus(8),
      providers: [
        gpuProvider('provider-a')
          .price(H100, '2.00')
          .nodes(
            gpuNode('a-1').product(H100, 8).freeGpus(4),
            gpuNode('a-2').product(H100, 8).freeGpus(4),
            gpuNode('a-3').product(H100, 8).freeGpus(4),
            gpuNode('a-4').product(H100, 8).freeGpus(4),
          ),
      ],
      want: { rejected: { 'provider-a': 'InsufficientCapacity: none of 2 replicas fit (needs 8 GPUs per node; largest free 4)' } },
    },
    {
      name: 'a node short of CPU or memory does not take a replica',
      job: aJob()
        .products(H100)
        .gpus(8)
        .cpu(32_000)
        .memory(256 * GiB),
      providers: [gpuProvider('provider-a').price(H100, '2.00').nodes(gpuNode('a-1').product(H100, 8).cpu(128_000, 4_000))],
      want: {
        rejected: {
          'provider-a':
            'InsufficientCapacity: the replica does not fit (needs 8 GPUs, 32 CPU, 256Gi memory per node; largest free 8; 1 node short of CPU or memory)',
        },
      },
    },
    {
      name: 'CPU, not GPUs, limits how many replicas share a node',
      job: aJob().products(H100).replicas(2).gpus(4).cpu(48_000),
      providers: [gpuProvider('provider-a').price(H100, '2.00').nodes(gpuNode('a-1').product(H100, 8).cpu(128_000, 64_000), gpuNode('a-2').product(H100, 8))],
      want: { placed: `provider-a ${H100}`, on: ['a-1', 'a-2'] },
    },
    // ── nodes: taints, cordons, readiness ─────────────────────────────────────────────────────
    {
      name: 'a node taint the pods do not tolerate keeps the job off the node',
      job: aJob().products(H100).gpus(8),
      providers: [
        gpuProvider('provider-a')
          .price(H100, '2.00')
          .nodes(gpuNode('a-1').product(H100, 8).taint('dedicated', 'team-a', 'NoSchedule')),
      ],
      want: {
        rejected: { 'provider-a': 'InsufficientCapacity: the replica does not fit (needs 8 GPUs per node; 1 node tainted dedicated=team-a:NoSchedule)' },
      },
    },
    {
      name: 'a NoExecute taint keeps the job off the node',
      job: aJob().products(H100).gpus(8),
      providers: [
        gpuProvider('provider-a')
          .price(H100, '2.00')
          .nodes(gpuNode('a-1').product(H100, 8).taint('node.kubernetes.io/unreachable', undefined, 'NoExecute'), gpuNode('a-2').product(H100, 8).freeGpus(2)),
      ],
      want: {
        rejected: {
          'provider-a':
            'InsufficientCapacity: the replica does not fit (needs 8 GPUs per node; largest free 2; 1 node tainted node.kubernetes.io/unreachable:NoExecute)',
        },
      },
    },
    {
      name: 'the nvidia.com/gpu NoSchedule taint is tolerated by default and PreferNoSchedule never blocks',
      job: aJob().products(H100).gpus(8),
      providers: [
        gpuProvider('provider-a')
          .price(H100, '2.00')
          .nodes(gpuNode('a-1').product(H100, 8).taint('nvidia.com/gpu', 'present', 'NoSchedule').taint('spot', 'true', 'PreferNoSchedule')),
      ],
      want: { placed: `provider-a ${H100}`, on: ['a-1'] },
    },
    {
      name: 'a job that tolerates a taint may use the tainted node',
      job: aJob().products(H100).replicas(2).gpus(8).tolerates({ key: 'dedicated', operator: 'Equal', value: 'team-a', effect: 'NoSchedule' }),
      providers: [
        gpuProvider('provider-a')
          .price(H100, '2.00')
          .nodes(
            gpuNode('a-2').product(H100, 8),
            gpuNode('a-1').product(H100, 8).taint('dedicated', 'team-a', 'NoSchedule'),
            gpuNode('a-3').product(H100, 8).taint('dedicated', 'team-b', 'NoSchedule'),
          ),
      ],
      want: { placed: `provider-a ${H100}`, on: ['a-1', 'a-2'] },
    },
    {
      name: 'cordoned and not-ready nodes are skipped',
      job: aJob().products(H100).gpus(8),
      providers: [
        gpuProvider('provider-a')
          .price(H100, '2.00')
          .nodes(gpuNode('a-1').product(H100, 8).cordoned(), gpuNode('a-2').product(H100, 8).notReady(), gpuNode('a-3').product(H100, 8).freeGpus(4)),
      ],
      want: {
        rejected: { 'provider-a': 'InsufficientCapacity: the replica does not fit (needs 8 GPUs per node; largest free 4; 2 nodes cordoned or not Ready)' },
      },
    },
    // ── provider filters ──────────────────────────────────────────────────────────────────────
    {
      name: 'every provider filter names its reason',
      job: aJob()
        .products(H100)
        .gpus(8)
        .denied('p-denied')
        .regions('eu-west')
        .minReputation('0.9')
        .coolingDown('p-cooling', now + 5 * 60_000),
      providers: [
        ['p-ok', (p: ProviderBuilder) => p],
        ['p-denied', (p: ProviderBuilder) => p],
        ['p-elsewhere', (p: ProviderBuilder) => p.region('us-east')],
        ['p-down', (p: ProviderBuilder) => p.notReady('Unreachable')],
        ['p-cordoned', (p: ProviderBuilder) => p.cordoned()],
        ['p-cooling', (p: ProviderBuilder) => p],
        ['p-unreliable', (p: ProviderBuilder) => p.completionRate('0.5')],
        ['p-small-quota', (p: ProviderBuilder) => p.quota(4)],
      ].map(([name, customise]) =>
        (customise as (p: ProviderBuilder) => ProviderBuilder)(
          gpuProvider(name as string)
            .price(H100, '2.00')
            .nodes(gpuNode(`${name as string}-1`).product(H100, 8)),
        ),
      ),
      want: {
        placed: `p-ok ${H100}`,
        on: ['p-ok-1'],
        rejected: {
          'p-cooling': 'CoolingDown: preempted this job; cooling down until 2025-01-01T00:05:00Z',
          'p-cordoned': 'Cordoned: cordoned',
          'p-denied': "Denied: in the job's denied providers",
          'p-down': 'NotReady: not Ready (Unreachable)',
          'p-elsewhere': 'RegionNotAllowed: region us-east not in eu-west',
          'p-small-quota': 'QuotaExceeded: quota leaves 4 GPUs, the gang needs 8',
          'p-unreliable': 'LowReputation: reputation 0.500 below min 0.900',
        },
      },
    },
    {
      name: 'a cool-down that has ended no longer excludes the provider',
      job: aJob().products(H100).coolingDown('provider-a', now),
      providers: [gpuProvider('provider-a').price(H100, '2.00').nodes(gpuNode('a-1').product(H100, 8))],
      want: { placed: `provider-a ${H100}`, on: ['a-1'] },
    },
    {
      name: 'only allowed providers are considered',
      job: aJob().products(H100).allowed('provider-b'),
      providers: [
        gpuProvider('provider-a').price(H100, '1.00').nodes(gpuNode('a-1').product(H100, 8)),
        gpuProvider('provider-b').price(H100, '2.00').nodes(gpuNode('b-1').product(H100, 8)),
      ],
      want: { placed: `provider-b ${H100}`, on: ['b-1'], rejected: { 'provider-a': "NotAllowed: not in the job's allowed providers" } },
    },
    // ── bin-packing and tie-breaks ────────────────────────────────────────────────────────────
    {
      name: 'best fit puts a replica on the node with the fewest free GPUs that fits',
      job: aJob().products(H100).gpus(2),
      providers: [
        gpuProvider('provider-a')
          .price(H100, '2.00')
          .nodes(
            gpuNode('a-1').product(H100, 8),
            gpuNode('a-2').product(H100, 8).freeGpus(2),
            gpuNode('a-3').product(H100, 8).freeGpus(4),
            gpuNode('a-4').product(H100, 8).freeGpus(1),
          ),
      ],
      want: { placed: `provider-a ${H100}`, on: ['a-2'] },
    },
    {
      name: 'a gang fills the tightest nodes first and leaves big blocks whole',
      job: aJob().products(H100).replicas(4).gpus(2),
      providers: [
        gpuProvider('provider-a')
          .price(H100, '2.00')
          .nodes(
            gpuNode('a-1').product(H100, 8),
            gpuNode('a-2').product(H100, 8).freeGpus(4),
            gpuNode('a-3').product(H100, 8).freeGpus(2),
            gpuNode('a-4').product(H100, 8).freeGpus(6),
          ),
      ],
      want: { placed: `provider-a ${H100}`, on: ['a-3', 'a-2', 'a-2', 'a-4'] },
    },
    {
      name: 'a whole gang goes on one node when it has room',
      job: aJob().products(H100).replicas(2).gpus(4),
      providers: [gpuProvider('provider-a').price(H100, '2.00').nodes(gpuNode('a-1').product(H100, 8))],
      want: { placed: `provider-a ${H100}`, on: ['a-1', 'a-1'] },
    },
    {
      name: 'nodes with equal free GPUs are taken in name order',
      job: aJob().products(H100).gpus(8),
      providers: [gpuProvider('provider-a').price(H100, '2.00').nodes(gpuNode('a-2').product(H100, 8), gpuNode('a-1').product(H100, 8))],
      want: { placed: `provider-a ${H100}`, on: ['a-1'] },
    },
    {
      name: 'at equal cost the provider that strands fewer GPUs wins',
      job: aJob().products(H100).gpus(4),
      providers: [
        gpuProvider('provider-a').price(H100, '2.00').nodes(gpuNode('a-1').product(H100, 8)),
        gpuProvider('provider-b').price(H100, '2.00').nodes(gpuNode('b-1').product(H100, 8).freeGpus(4)),
      ],
      want: { placed: `provider-b ${H100}`, on: ['b-1'] },
    },
    {
      name: 'at equal cost and stranding the gang on fewer nodes wins',
      job: aJob().products(H100).replicas(2).gpus(4),
      providers: [
        gpuProvider('provider-a').price(H100, '2.00').nodes(gpuNode('a-1').product(H100, 4), gpuNode('a-2').product(H100, 4)),
        gpuProvider('provider-b').price(H100, '2.00').nodes(gpuNode('b-1').product(H100, 8)),
      ],
      want: { placed: `provider-b ${H100}`, on: ['b-1', 'b-1'] },
    },
    {
      name: 'at equal cost and packing the first provider by name wins',
      job: aJob().products(H100).gpus(8),
      providers: [
        gpuProvider('provider-b').price(H100, '2.00').nodes(gpuNode('b-1').product(H100, 8)),
        gpuProvider('provider-a').price(H100, '2.00').nodes(gpuNode('a-1').product(H100, 8)),
      ],
      want: { placed: `provider-a ${H100}`, on: ['a-1'] },
    },
    {
      name: 'a cheaper provider wins even when it packs worse',
      job: aJob().products(H100).gpus(4),
      providers: [
        gpuProvider('provider-a').price(H100, '2.00').nodes(gpuNode('a-1').product(H100, 8)),
        gpuProvider('provider-b').price(H100, '2.10').nodes(gpuNode('b-1').product(H100, 8).freeGpus(4)),
      ],
      want: { placed: `provider-a ${H100}`, on: ['a-1'] },
    },
  ];

  it.each(cases)('$name', ({ job, providers, want }) => {
    expect(
      outcomeOf(
        placeJob(
          job.build(),
          providers.map((p) => p.build()),
          now,
        ),
      ),
    ).toEqual(want);
  });
});

describe('placeJob expected-cost trade-off: reputation against price', () => {
  // A cheap provider that preempts 0.05 times per GPU-hour against a dearer one at 0.001.
  const providers = [
    gpuProvider('cheap-flaky').price(H100, '2.00').hazard('0.05').nodes(gpuNode('f-1').product(H100, 8)).build(),
    gpuProvider('dear-reliable').price(H100, '2.20').hazard('0.001').nodes(gpuNode('r-1').product(H100, 8)).build(),
  ];
  const job = aJob().products(H100).gpus(8).remainingGpuHours(100);

  it('a cheap but flaky provider loses to a slightly dearer reliable one when checkpoints are hourly', () => {
    const decision = placeJob(job.checkpointEvery(3600).build(), providers, now);
    expect(decision.outcome === 'Placed' && decision.ranking).toEqual([
      // 2.20 × 100 × (1 + 0.001 × 8 × 1 h / 2)
      {
        provider: 'dear-reliable',
        product: H100,
        pricePerGpuHour: 2_200_000n,
        listCost: 220_000_000n,
        expectedReworkPpm: 4_000n,
        expectedCost: 220_880_000n,
        strandedGpus: 0,
        nodesUsed: 1,
      },
      // 2.00 × 100 × (1 + 0.05 × 8 × 1 h / 2)
      {
        provider: 'cheap-flaky',
        product: H100,
        pricePerGpuHour: 2_000_000n,
        listCost: 200_000_000n,
        expectedReworkPpm: 200_000n,
        expectedCost: 240_000_000n,
        strandedGpus: 0,
        nodesUsed: 1,
      },
    ]);
  });

  it('the cheap but flaky provider wins when checkpoints come every five minutes', () => {
    const decision = placeJob(job.checkpointEvery(300).build(), providers, now);
    expect(decision.outcome === 'Placed' && decision.ranking).toEqual([
      {
        provider: 'cheap-flaky',
        product: H100,
        pricePerGpuHour: 2_000_000n,
        listCost: 200_000_000n,
        expectedReworkPpm: 16_667n,
        expectedCost: 203_333_334n,
        strandedGpus: 0,
        nodesUsed: 1,
      },
      {
        provider: 'dear-reliable',
        product: H100,
        pricePerGpuHour: 2_200_000n,
        listCost: 220_000_000n,
        expectedReworkPpm: 334n,
        expectedCost: 220_073_334n,
        strandedGpus: 0,
        nodesUsed: 1,
      },
    ]);
  });

  it('without checkpoints the flaky provider loses by far', () => {
    const decision = placeJob(job.checkpointEvery(undefined).build(), providers, now);
    expect(decision.outcome === 'Placed' && decision.placement.provider).toBe('dear-reliable');
  });
});

describe('placeJob with spec.recovery.strategy SameProviderFirst', () => {
  const providers = [
    gpuProvider('cheaper').price(H100, '2.00').nodes(gpuNode('c-1').product(H100, 8)).build(),
    gpuProvider('preempted-it').price(H100, '2.40').nodes(gpuNode('p-1').product(H100, 8)).build(),
  ];
  const job = aJob().products(H100).gpus(8).build();

  it('goes back to the provider that preempted the job while it fits, though another costs less', () => {
    const decision = placeJob({ ...job, preferredProvider: 'preempted-it' }, providers, now);
    expect(decision.outcome === 'Placed' && decision.placement.provider).toBe('preempted-it');
    expect(placeJob(job, providers, now).outcome === 'Placed' && placeJob(job, providers, now)).toMatchObject({ placement: { provider: 'cheaper' } });
  });

  it('goes elsewhere when that provider has no room', () => {
    const full = [providers[0]!, gpuProvider('preempted-it').price(H100, '2.40').nodes(gpuNode('p-1').product(H100, 4)).build()];
    const decision = placeJob({ ...job, preferredProvider: 'preempted-it' }, full, now);
    expect(decision.outcome === 'Placed' && decision.placement.provider).toBe('cheaper');
  });
});

describe('placeJob whole decisions', () => {
  it('a MIG placement names the MIG resource and its product label for the pods', () => {
    const mig = `${A100_40}-MIG-3g.20gb`;
    const decision = placeJob(
      aJob().products(mig).remainingGpuHours(1).build(),
      [
        gpuProvider('provider-a')
          .price(mig, '0.60')
          .nodes(gpuNode('a-1').migMixed(A100_40, '3g.20gb', 2, 19968))
          .build(),
      ],
      now,
    );
    const score = {
      provider: 'provider-a',
      product: mig,
      pricePerGpuHour: 600_000n,
      listCost: 600_000n,
      expectedReworkPpm: 0n,
      expectedCost: 600_000n,
      strandedGpus: 1,
      nodesUsed: 1,
    };
    expect(decision).toEqual<PlacementDecision>({
      outcome: 'Placed',
      placement: {
        provider: 'provider-a',
        product: mig,
        resourceName: 'nvidia.com/mig-3g.20gb',
        nodeSelector: [{ key: 'nvidia.com/mig-3g.20gb.product', operator: 'In', values: [mig] }],
        assignments: ['a-1'],
        score,
      },
      ranking: [score],
      rejections: [],
    });
  });

  it('a renamed time-sliced placement requests nvidia.com/gpu.shared and keeps the memory floor', () => {
    const decision = placeJob(
      aJob().products(`${L4}-SHARED`).minGpuMemoryMiB(20000).build(),
      [
        gpuProvider('provider-a')
          .price(`${L4}-SHARED`, '0.10')
          .nodes(gpuNode('a-1').timeSliced(L4, 1, 4, { renamed: true }))
          .build(),
      ],
      now,
    );
    expect(
      decision.outcome === 'Placed' && {
        resourceName: decision.placement.resourceName,
        nodeSelector: decision.placement.nodeSelector,
      },
    ).toEqual({
      resourceName: 'nvidia.com/gpu.shared',
      nodeSelector: [
        { key: 'nvidia.com/gpu.product', operator: 'In', values: [L4] },
        { key: 'nvidia.com/gpu.memory', operator: 'Gt', values: ['19999'] },
      ],
    });
  });

  it("an impossible job is Unschedulable with every provider's reason in one message", () => {
    const decision = placeJob(
      aJob().products(H100).replicas(2).gpus(8).maxPrice('2.50').build(),
      [
        gpuProvider('provider-a').price(H100, '2.00').nodes(gpuNode('a-1').product(H100, 8), gpuNode('a-2').product(H100, 8).freeGpus(4)).build(),
        gpuProvider('provider-b').price(A100_40, '1.00').price(L4, '0.40').nodes(gpuNode('b-1').product(A100_40, 8), gpuNode('b-2').product(L4, 4)).build(),
        gpuProvider('provider-c').price(H100, '3.20').nodes(gpuNode('c-1').product(H100, 8), gpuNode('c-2').product(H100, 8)).build(),
        gpuProvider('provider-d').notReady('Unreachable').build(),
        gpuProvider('provider-e').notReady('Unreachable').build(),
      ],
      now,
    );
    expect(decision.outcome).toBe('Unschedulable');
    expect(formatUnschedulableMessage(decision.rejections)).toBe(
      '0/5 providers can run the job: ' +
        'provider-a: only 1 of 2 replicas fit (needs 8 GPUs per node; largest free 8); ' +
        'provider-b: no node with NVIDIA-H100-80GB-HBM3 (has NVIDIA-A100-SXM4-40GB, NVIDIA-L4); ' +
        'provider-c: price 3.20/GPU-h exceeds max 2.50; ' +
        'provider-d, provider-e: not Ready (Unreachable)',
    );
  });
});

describe('placeJob between providers of equal cost during a burst', () => {
  const at = Date.UTC(2026, 0, 1);
  // a has a partly used node (best fit), b only empty ones; same price.
  const a = gpuProvider('a').price(H100, '2.00').nodes(gpuNode('a-0').product(H100, 4).freeGpus(1)).build();
  const b = gpuProvider('b').price(H100, '2.00').nodes(gpuNode('b-0').product(H100, 4).freeGpus(4)).build();
  const single = aJob().products(H100).gpus(1).build();
  const providerOf = (d: ReturnType<typeof placeJob>) => (d.outcome === 'Placed' ? d.placement.provider : d.outcome);

  it('packs (fewest stranded GPUs) when nothing is in flight', () => {
    expect(providerOf(placeJob(single, [a, b], at))).toBe('a');
  });

  it('prefers the provider with fewer GPUs decided and not yet bound, so a burst goes through every API at once', () => {
    expect(providerOf(placeJob(single, [{ ...a, inFlightGpus: 3 }, b], at))).toBe('b');
    expect(
      providerOf(
        placeJob(
          single,
          [
            { ...a, inFlightGpus: 3 },
            { ...b, inFlightGpus: 3 },
          ],
          at,
        ),
      ),
    ).toBe('a');
  });

  it('never at a higher cost: a dearer provider with nothing in flight still loses', () => {
    const dear = gpuProvider('b').price(H100, '2.50').nodes(gpuNode('b-0').product(H100, 4).freeGpus(4)).build();
    expect(providerOf(placeJob(single, [{ ...a, inFlightGpus: 40 }, dear], at))).toBe('a');
  });
});
