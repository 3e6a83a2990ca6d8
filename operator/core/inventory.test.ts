import { seededRandom } from '../../test/support/placement-fixtures.ts';
import {
  checkedNodeSnapshots,
  gpuInventory,
  gpuRequestsOfPods,
  NodeSnapshotMemo,
  nodeProblem,
  nodeSnapshots,
  pendingGpuRequests,
  podProblem,
  podRequests,
} from './inventory.ts';
import type { NodeInput, PodInput } from './inventory.ts';

const H100 = 'NVIDIA-H100-80GB-HBM3';
const L4 = 'NVIDIA-L4';
const A100 = 'NVIDIA-A100-SXM4-80GB';

// ── builders: nodes and pods as the provider's apiserver returns them ──────────────────────────────

interface NodeOpts {
  gpus?: number;
  memoryMiB?: number;
  cordoned?: boolean;
  notReady?: boolean;
  taints?: { key: string; value?: string; effect: string }[];
  /** Time-slicing with renameByDefault=false: GFD appends -SHARED to the product label. */
  timeSliced?: number;
  mig?: { profile: string; slices: number; memoryMiB: number };
}

function node(name: string, product: string | undefined, opts: NodeOpts = {}): NodeInput {
  const labels: Record<string, string> = { 'kubernetes.io/hostname': name };
  const allocatable: Record<string, string> = { cpu: '96', memory: '1Ti', pods: '110' };
  if (product) {
    labels['nvidia.com/gpu.product'] = opts.timeSliced ? `${product}-SHARED` : product;
    if (opts.memoryMiB !== undefined) labels['nvidia.com/gpu.memory'] = String(opts.memoryMiB);
    if (opts.timeSliced) labels['nvidia.com/gpu.replicas'] = String(opts.timeSliced);
    allocatable['nvidia.com/gpu'] = String((opts.gpus ?? 8) * (opts.timeSliced ?? 1));
  }
  if (opts.mig && product) {
    const m = opts.mig;
    labels['nvidia.com/mig.strategy'] = 'mixed';
    labels[`nvidia.com/mig-${m.profile}.product`] = `${product}-MIG-${m.profile}`;
    labels[`nvidia.com/mig-${m.profile}.memory`] = String(m.memoryMiB);
    allocatable[`nvidia.com/mig-${m.profile}`] = String(m.slices);
  }
  return {
    metadata: { name, labels },
    spec: { ...(opts.cordoned ? { unschedulable: true } : {}), ...(opts.taints ? { taints: opts.taints } : {}) },
    status: { allocatable, conditions: [{ type: 'Ready', status: opts.notReady ? 'False' : 'True' }] },
  };
}

interface PodOpts {
  node?: string;
  phase?: string;
  resource?: string;
  /** Only limits, as a user writes them (the apiserver defaults requests to limits). */
  limitsOnly?: boolean;
}

function pod(gpus: number, opts: PodOpts = {}): PodInput {
  const list = { [opts.resource ?? 'nvidia.com/gpu']: String(gpus), cpu: '4', memory: '16Gi' };
  return {
    spec: {
      ...(opts.node ? { nodeName: opts.node } : {}),
      containers: [{ resources: opts.limitsOnly ? { limits: list } : { requests: list, limits: list } }],
    },
    status: { phase: opts.phase ?? 'Running' },
  };
}

// ── inventory ────────────────────────────────────────────────────────────────────────────────────

interface InventoryCase {
  name: string;
  nodes: NodeInput[];
  pods?: PodInput[];
  want: { inventory: object[]; allocatableGpus: number; freeGpus: number };
}

describe('gpuInventory', () => {
  const cases: InventoryCase[] = [
    {
      name: 'two idle H100 nodes offer 16 GPUs, all free',
      nodes: [node('a-0', H100, { memoryMiB: 81559 }), node('a-1', H100, { memoryMiB: 81559 })],
      want: { inventory: [{ product: H100, memoryMiB: 81559, nodes: 2, allocatable: 16, free: 16 }], allocatableGpus: 16, freeGpus: 16 },
    },
    {
      name: 'running and pending-but-bound pods take GPUs from free',
      nodes: [node('a-0', H100), node('a-1', H100)],
      pods: [pod(3, { node: 'a-0' }), pod(2, { node: 'a-1', phase: 'Pending' })],
      want: { inventory: [{ product: H100, nodes: 2, allocatable: 16, free: 11 }], allocatableGpus: 16, freeGpus: 11 },
    },
    {
      name: 'terminated pods do not count',
      nodes: [node('a-0', H100)],
      pods: [pod(4, { node: 'a-0', phase: 'Succeeded' }), pod(4, { node: 'a-0', phase: 'Failed' }), pod(1, { node: 'a-0' })],
      want: { inventory: [{ product: H100, nodes: 1, allocatable: 8, free: 7 }], allocatableGpus: 8, freeGpus: 7 },
    },
    {
      name: 'pods without a node do not count',
      nodes: [node('a-0', H100)],
      pods: [pod(8, { phase: 'Pending' })],
      want: { inventory: [{ product: H100, nodes: 1, allocatable: 8, free: 8 }], allocatableGpus: 8, freeGpus: 8 },
    },
    {
      name: 'pods on a node the cache does not hold do not count elsewhere',
      nodes: [node('a-0', H100)],
      pods: [pod(8, { node: 'gone' })],
      want: { inventory: [{ product: H100, nodes: 1, allocatable: 8, free: 8 }], allocatableGpus: 8, freeGpus: 8 },
    },
    {
      name: 'a pod with only limits requests its limits',
      nodes: [node('a-0', H100)],
      pods: [pod(2, { node: 'a-0', limitsOnly: true })],
      want: { inventory: [{ product: H100, nodes: 1, allocatable: 8, free: 6 }], allocatableGpus: 8, freeGpus: 6 },
    },
    {
      name: 'a cordoned node is left out entirely',
      nodes: [node('a-0', H100), node('a-1', H100, { cordoned: true })],
      want: { inventory: [{ product: H100, nodes: 1, allocatable: 8, free: 8 }], allocatableGpus: 8, freeGpus: 8 },
    },
    {
      name: 'a NotReady node counts as allocatable but not free',
      nodes: [node('a-0', H100), node('a-1', H100, { notReady: true })],
      want: { inventory: [{ product: H100, nodes: 2, allocatable: 16, free: 8 }], allocatableGpus: 16, freeGpus: 8 },
    },
    {
      name: 'a node tainted for reclaim has no free GPUs; the usual nvidia.com/gpu taint is tolerated',
      nodes: [
        node('a-0', H100, { taints: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }] }),
        node('a-1', H100, { taints: [{ key: 'flotilla.dev/reclaim', value: '2025-01-01T00:00:00Z', effect: 'NoSchedule' }] }),
      ],
      want: { inventory: [{ product: H100, nodes: 2, allocatable: 16, free: 8 }], allocatableGpus: 16, freeGpus: 8 },
    },
    {
      name: 'time-sliced GPUs are a -SHARED product counted in replicas',
      nodes: [node('c-l4', L4, { gpus: 1, timeSliced: 4, memoryMiB: 23034 })],
      pods: [pod(1, { node: 'c-l4' })],
      want: { inventory: [{ product: `${L4}-SHARED`, memoryMiB: 23034, nodes: 1, allocatable: 4, free: 3 }], allocatableGpus: 4, freeGpus: 3 },
    },
    {
      name: 'MIG slices (mixed strategy) are a product of their own beside the whole GPUs left',
      nodes: [node('c-mig', A100, { gpus: 6, memoryMiB: 81920, mig: { profile: '3g.40gb', slices: 4, memoryMiB: 40192 } })],
      pods: [pod(1, { node: 'c-mig', resource: 'nvidia.com/mig-3g.40gb' }), pod(2, { node: 'c-mig' })],
      want: {
        inventory: [
          { product: A100, memoryMiB: 81920, nodes: 1, allocatable: 6, free: 4 },
          { product: `${A100}-MIG-3g.40gb`, memoryMiB: 40192, nodes: 1, allocatable: 4, free: 3 },
        ],
        allocatableGpus: 10,
        freeGpus: 7,
      },
    },
    {
      name: 'nodes without GPUs or without a product label offer nothing',
      nodes: [node('cpu-0', undefined), { ...node('x', H100), metadata: { name: 'x', labels: {} } }],
      want: { inventory: [], allocatableGpus: 0, freeGpus: 0 },
    },
    {
      name: 'products are listed by name and memory is the smallest labelled',
      nodes: [node('b', L4, { gpus: 1, memoryMiB: 23034 }), node('a', H100, { memoryMiB: 81559 }), node('a2', H100, { memoryMiB: 80000 })],
      want: {
        inventory: [
          { product: H100, memoryMiB: 80000, nodes: 2, allocatable: 16, free: 16 },
          { product: L4, memoryMiB: 23034, nodes: 1, allocatable: 1, free: 1 },
        ],
        allocatableGpus: 17,
        freeGpus: 17,
      },
    },
    {
      name: 'overcommitted GPUs (pods the cache saw before a shrink) leave zero free, never negative',
      nodes: [node('a-0', H100, { gpus: 2 })],
      pods: [pod(4, { node: 'a-0' })],
      want: { inventory: [{ product: H100, nodes: 1, allocatable: 2, free: 0 }], allocatableGpus: 2, freeGpus: 0 },
    },
  ];

  it.each(cases)('$name', ({ nodes, pods, want }) => {
    expect(gpuInventory(nodeSnapshots(nodes, pods ?? []))).toEqual(want);
  });
});

// ── node snapshots ───────────────────────────────────────────────────────────────────────────────

describe('nodeSnapshots', () => {
  it('gives placement allocatable and free cpu, memory and extended resources, cordon, readiness and taints', () => {
    const nodes = [
      node('a-1', H100, {
        cordoned: true,
        taints: [
          { key: 'nvidia.com/gpu', effect: 'NoSchedule' },
          { key: 'x', effect: 'Bogus' },
        ],
      }),
      node('a-0', H100, { notReady: true }),
    ];
    const [a0, a1] = nodeSnapshots(nodes, [pod(2, { node: 'a-0' }), pod(1, { node: 'a-0', phase: 'Succeeded' })]);
    expect(a0).toEqual({
      name: 'a-0',
      labels: { 'kubernetes.io/hostname': 'a-0', 'nvidia.com/gpu.product': H100 },
      taints: [],
      unschedulable: false,
      ready: false,
      allocatable: { cpuMillis: 96_000, memoryBytes: 2 ** 40, extended: { 'nvidia.com/gpu': 8 } },
      free: { cpuMillis: 92_000, memoryBytes: 2 ** 40 - 16 * 2 ** 30, extended: { 'nvidia.com/gpu': 6 } },
    });
    expect(a1).toMatchObject({ name: 'a-1', unschedulable: true, ready: true, taints: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }] });
  });

  it('a node that has not reported conditions is not Ready', () => {
    const [n] = nodeSnapshots([{ metadata: { name: 'n' }, status: { allocatable: { cpu: '1' } } }], []);
    expect(n?.ready).toBe(false);
  });

  it('an unparseable quantity counts as absent instead of throwing', () => {
    const [n] = nodeSnapshots([{ metadata: { name: 'n' }, status: { allocatable: { 'nvidia.com/gpu': 'lots', cpu: '2' } } }], []);
    expect(n?.allocatable).toEqual({ cpuMillis: 2000, memoryBytes: 0, extended: {} });
  });
});

// ── pod requests ─────────────────────────────────────────────────────────────────────────────────

describe('podRequests', () => {
  const r = (requests: Record<string, string>) => ({ resources: { requests } });
  const cases: { name: string; pod: PodInput; want: Record<string, bigint> }[] = [
    {
      name: 'app containers add up; cpu is in millicores',
      pod: { spec: { containers: [r({ cpu: '500m', 'nvidia.com/gpu': '1' }), r({ cpu: '1.5', 'nvidia.com/gpu': '2' })] } },
      want: { cpu: 2000n, 'nvidia.com/gpu': 3n },
    },
    {
      name: 'an init container larger than the app containers sets the request',
      pod: { spec: { containers: [r({ cpu: '1' })], initContainers: [r({ cpu: '4' })] } },
      want: { cpu: 4000n },
    },
    {
      name: 'sidecars run beside the app containers and the init steps after them',
      pod: {
        spec: {
          containers: [r({ cpu: '1' })],
          initContainers: [{ restartPolicy: 'Always', ...r({ cpu: '1' }) }, r({ cpu: '3' })],
        },
      },
      want: { cpu: 4000n },
    },
    {
      name: "pod-level requests replace the containers' cpu and memory but not GPUs",
      pod: { spec: { containers: [r({ cpu: '8', memory: '1Gi', 'nvidia.com/gpu': '1' })], resources: { requests: { cpu: '2', memory: '2Gi' } } } },
      want: { cpu: 2000n, memory: 2n ** 31n, 'nvidia.com/gpu': 1n },
    },
    {
      name: 'runtime-class overhead is added',
      pod: { spec: { containers: [r({ cpu: '1' })], overhead: { cpu: '250m' } } },
      want: { cpu: 1250n },
    },
  ];
  it.each(cases)('$name', ({ pod: p, want }) => {
    expect(Object.fromEntries(podRequests(p))).toEqual(want);
  });
});

describe('gpuRequestsOfPods', () => {
  it('counts every GPU device kind of non-terminated pods, bound or not', () => {
    const pods = [
      pod(2),
      pod(1, { node: 'n', resource: 'nvidia.com/mig-3g.40gb' }),
      pod(1, { node: 'n', resource: 'nvidia.com/gpu.shared' }),
      pod(8, { node: 'n', phase: 'Succeeded' }),
      pod(3, { node: 'n', resource: 'example.com/fpga' }),
    ];
    expect(gpuRequestsOfPods(pods)).toBe(4);
  });
});

describe('pendingGpuRequests', () => {
  const affinity = (expressions: unknown, terms = 1) => ({
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: Array.from({ length: terms }, () => ({ matchExpressions: expressions })) },
    },
  });
  const withSpec = (p: PodInput, extra: Record<string, unknown>): PodInput => ({ ...p, spec: { ...p.spec, ...extra } as NonNullable<PodInput['spec']> });
  const product = { key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-H100-80GB-HBM3'] };

  it("groups unbound pods' GPUs by resource and by the nodes they may be bound to (nodeSelector, one affinity term)", () => {
    const pods = [
      withSpec(pod(1), { affinity: affinity([product]) }),
      withSpec(pod(2), { affinity: affinity([product]) }),
      withSpec(pod(1), { nodeSelector: { 'nvidia.com/gpu.product': 'NVIDIA-L4' } }),
      withSpec(pod(4, { node: 'n' }), { affinity: affinity([product]) }),
      pod(1, { resource: 'nvidia.com/gpu.shared' }),
    ];
    expect(pendingGpuRequests(pods)).toEqual([
      { resource: 'nvidia.com/gpu', devices: 3, requirements: [product] },
      { resource: 'nvidia.com/gpu', devices: 1, requirements: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-L4'] }] },
      { resource: 'nvidia.com/gpu.shared', devices: 1, requirements: [] },
    ]);
  });

  it('leaves out what a node snapshot cannot check (several terms, other operators, malformed values): counted against more nodes, never fewer', () => {
    const pods = [
      withSpec(pod(1), { affinity: affinity([product], 2) }),
      withSpec(pod(1), { affinity: affinity([{ key: 'zone', operator: 'NotIn', values: ['a'] }, { key: 'x', operator: 'In', values: [7] }, null]) }),
      withSpec(pod(1), { nodeSelector: ['not', 'a', 'map'] }),
      withSpec(pod(1), { affinity: affinity([{ key: 'nvidia.com/gpu.product', operator: 'In', values: Array.from({ length: 65 }, (_, i) => `p${i}`) }]) }),
    ];
    expect(pendingGpuRequests(pods)).toEqual([{ resource: 'nvidia.com/gpu', devices: 4, requirements: [] }]);
  });
});

// ── malformed input from a provider ──────────────────────────────────────────────────────────────

describe('checkedNodeSnapshots: a malformed object is skipped and named, never thrown', () => {
  const good = node('good', 'NVIDIA-H100-80GB-HBM3', { gpus: 8, memoryMiB: 81559 });
  // Shapes a hostile provider's watch stream can deliver as plain JSON (nothing checks them on the way).
  const malformedNodes: { name: string; node: unknown; problem: RegExp }[] = [
    { name: 'taints not a list', node: { ...good, metadata: { name: 'bad-taints' }, spec: { taints: 'NoSchedule' } }, problem: /spec\.taints is not a list/ },
    {
      name: 'a taint without an effect',
      node: { ...good, metadata: { name: 'bad-taint' }, spec: { taints: [{ key: 'k' }] } },
      problem: /spec\.taints\[0\]\.effect is not a string/,
    },
    {
      name: 'a label that is not a string',
      node: { ...good, metadata: { name: 'bad-label', labels: { 'nvidia.com/gpu.product': 42 } } },
      problem: /metadata\.labels\["nvidia\.com\/gpu\.product"\] is not a string/,
    },
    { name: 'labels not a map', node: { ...good, metadata: { name: 'bad-labels', labels: ['a'] } }, problem: /metadata\.labels is not a map/ },
    {
      name: 'allocatable a number',
      node: { ...good, metadata: { name: 'bad-alloc' }, status: { allocatable: { 'nvidia.com/gpu': 8 } } },
      problem: /status\.allocatable\["nvidia\.com\/gpu"\] is not a string/,
    },
    {
      name: 'conditions not a list',
      node: { ...good, metadata: { name: 'bad-conds' }, status: { conditions: { Ready: 'True' } } },
      problem: /status\.conditions is not a list/,
    },
    {
      name: 'unschedulable a string',
      node: { ...good, metadata: { name: 'bad-cordon' }, spec: { unschedulable: 'yes' } },
      problem: /spec\.unschedulable is not a boolean/,
    },
    { name: 'spec a string', node: { ...good, metadata: { name: 'bad-spec' }, spec: 'x' }, problem: /^spec is not an object$/ },
    { name: 'not an object', node: 'node', problem: /it is not an object/ },
  ];
  it.each(malformedNodes)('$name', ({ node: bad, problem }) => {
    const out = checkedNodeSnapshots([good, bad], []);
    expect(out.nodes.map((n) => n.name)).toEqual(['good']);
    expect(out.malformed).toHaveLength(1);
    expect(out.malformed[0]?.kind).toBe('node');
    expect(out.malformed[0]?.problem).toMatch(problem);
    expect(nodeProblem(bad)).toMatch(problem);
    // The old path threw on these; the plain function now leaves them out too.
    expect(() => nodeSnapshots([good, bad as NodeInput], [])).not.toThrow();
  });

  it('a malformed pod is skipped (its GPUs count nowhere) and named; the well-formed ones still count', () => {
    const bad = { metadata: { name: 'bad-pod' }, spec: { nodeName: 'good', containers: { main: {} } }, status: { phase: 'Running' } };
    const out = checkedNodeSnapshots([good], [pod(2, { node: 'good' }), bad]);
    expect(out.malformed).toEqual([{ kind: 'pod', name: 'bad-pod', problem: 'spec.containers is not a list' }]);
    expect(out.nodes[0]?.free.extended['nvidia.com/gpu']).toBe(6);
    expect(gpuRequestsOfPods([pod(2), bad as unknown as PodInput])).toBe(2);
    expect(podProblem({ spec: { containers: [{ resources: { requests: { cpu: 4 } } }] } })).toBe(
      'spec.containers[0].resources.requests["cpu"] is not a string',
    );
  });

  it('well-formed objects are never reported (the test fixtures of this file all pass)', () => {
    const nodes = [good, node('t', 'NVIDIA-L4', { taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }], cordoned: true })];
    expect(checkedNodeSnapshots(nodes, [pod(1, { node: 't', phase: 'Pending' }), pod(1, { limitsOnly: true })]).malformed).toEqual([]);
  });
});

describe('NodeSnapshotMemo', () => {
  it('answers as checkedNodeSnapshots after each of 300 changes, keeping the snapshot object of every node nothing touched', () => {
    const random = seededRandom(5);
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)] as T;
    let nodes: unknown[] = Array.from({ length: 12 }, (_, i) => node(`n${i}`, i % 3 === 0 ? L4 : H100, { gpus: 8 }));
    let pods: unknown[] = Array.from({ length: 20 }, (_, i) => pod(1, { node: `n${i % 12}` }));
    const nameOf = (n: unknown) => (n as NodeInput).metadata?.name ?? '';
    const nodeOf = (p: unknown) => (p as PodInput).spec?.nodeName;
    const memo = new NodeSnapshotMemo();
    let last = memo.check(nodes, pods);
    expect(last).toEqual(checkedNodeSnapshots(nodes, pods));
    let reused = 0;
    for (let step = 0; step < 300; step++) {
      const touched = new Set<string>();
      const change = Math.floor(random() * 7);
      if (change === 0) {
        // A node updated (a heartbeat: an equal copy; or cordoned / uncordoned).
        const at = Math.floor(random() * nodes.length);
        const was = nodes[at] as NodeInput;
        nodes = nodes.map((n, i) => (i === at ? { ...was, spec: { ...was.spec, unschedulable: random() < 0.5 } } : n));
        touched.add(nameOf(was));
      } else if (change === 1) {
        const p = pod(1 + Math.floor(random() * 2), { node: nameOf(pick(nodes)) });
        pods = [...pods, p];
        touched.add(nodeOf(p) ?? '');
      } else if (change === 2 && pods.length > 0) {
        const gone = pick(pods);
        pods = pods.filter((p) => p !== gone);
        touched.add(nodeOf(gone) ?? '');
      } else if (change === 3 && pods.length > 0) {
        // A pod finished: a new object with a terminal phase.
        const at = Math.floor(random() * pods.length);
        const was = pods[at] as PodInput;
        pods = pods.map((p, i) => (i === at ? { ...was, status: { phase: 'Succeeded' } } : p));
        touched.add(nodeOf(was) ?? '');
      } else if (change === 4) {
        // A pod not yet bound, then a malformed one (neither counts anywhere).
        pods = [...pods, pod(1), { metadata: { name: `bad-${step}` }, spec: { containers: 'x' } }];
      } else if (change === 5) {
        // A malformed node comes and a good one goes, or the reverse.
        const bad = nodes.find((n) => nameOf(n).startsWith('bad'));
        if (bad) nodes = nodes.filter((n) => n !== bad);
        else nodes = [...nodes, { metadata: { name: `bad-${step}` }, spec: { taints: 'x' } }];
      } else {
        // Nothing changed; asked again.
      }
      const out = memo.check(nodes, pods);
      expect(out).toEqual(checkedNodeSnapshots(nodes, pods));
      for (const s of out.nodes) {
        const before = last.nodes.find((n) => n.name === s.name);
        if (before && !touched.has(s.name)) {
          expect(s).toBe(before);
          reused += 1;
        }
      }
      last = out;
    }
    expect(reused).toBeGreaterThan(2000);
  });
});
