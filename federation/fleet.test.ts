import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFleet, renderProviderNodes, gpuLabelsAndResources, FleetError } from './fleet.ts';
import { repoRoot } from './paths.ts';

const exampleFleet = () => parseFleet(readFileSync(join(repoRoot, 'examples/federation/fleet.yaml'), 'utf8'));

describe('the example fleet', () => {
  it('has heterogeneous providers with H100, A100, L4, a time-sliced and a MIG node', () => {
    const nodes = exampleFleet().providers.flatMap(renderProviderNodes);
    const products = new Set(nodes.map((n) => n.metadata?.labels?.['nvidia.com/gpu.product']));
    expect([...products].sort()).toEqual(['NVIDIA-A100-SXM4-40GB', 'NVIDIA-A100-SXM4-80GB', 'NVIDIA-H100-80GB-HBM3', 'NVIDIA-L4', 'NVIDIA-L4-SHARED']);
    expect(nodes.some((n) => n.status?.allocatable?.['nvidia.com/mig-3g.40gb'] === '4')).toBe(true);
  });

  it('names nodes after provider, pool and index, all KWOK-managed', () => {
    const a = exampleFleet().providers.find((p) => p.name === 'provider-a');
    expect(a && renderProviderNodes(a).map((n) => n.metadata?.name)).toEqual(['provider-a-h100-0', 'provider-a-h100-1']);
    expect(a && renderProviderNodes(a).every((n) => n.metadata?.annotations?.['kwok.x-k8s.io/node'] === 'fake')).toBe(true);
  });
});

describe('gpuLabelsAndResources', () => {
  const base = { product: 'NVIDIA-L4', count: 2, memoryMiB: 23034, family: 'ada-lovelace', compute: '8.9', machine: 'g6' };
  const cases: Array<[string, Parameters<typeof gpuLabelsAndResources>[0], Record<string, string>, Record<string, string>]> = [
    [
      'whole GPUs expose nvidia.com/gpu equal to the count',
      base,
      { 'nvidia.com/gpu.product': 'NVIDIA-L4', 'nvidia.com/gpu.count': '2', 'nvidia.com/gpu.compute.major': '8', 'nvidia.com/gpu.compute.minor': '9' },
      { 'nvidia.com/gpu': '2' },
    ],
    [
      'time-slicing multiplies the resource and marks the product -SHARED',
      { ...base, timeSlicingReplicas: 4 },
      { 'nvidia.com/gpu.product': 'NVIDIA-L4-SHARED', 'nvidia.com/gpu.replicas': '4', 'nvidia.com/gpu.sharing-strategy': 'time-slicing' },
      { 'nvidia.com/gpu': '8' },
    ],
    [
      'MIG mixed strategy keeps unpartitioned GPUs whole and adds slice resources',
      { ...base, product: 'NVIDIA-A100-SXM4-80GB', count: 8, mig: { partitionedGpus: 2, profile: '3g.40gb', slicesPerGpu: 2, sliceMemoryMiB: 40192 } },
      { 'nvidia.com/mig.strategy': 'mixed', 'nvidia.com/mig-3g.40gb.count': '4', 'nvidia.com/mig-3g.40gb.memory': '40192' },
      { 'nvidia.com/gpu': '6', 'nvidia.com/mig-3g.40gb': '4' },
    ],
  ];
  it.each(cases)('%s', (_name, gpu, labels, resources) => {
    const got = gpuLabelsAndResources(gpu);
    expect(got.labels).toMatchObject(labels);
    expect(got.resources).toEqual(resources);
  });
});

describe('parseFleet rejects bad fleets with the offending path', () => {
  const pool = 'nodePools: [{ name: p, count: 1, cpu: "8", memory: 8Gi, gpu: { product: X, count: 1, memoryMiB: 1, family: f, compute: "8.0", machine: m } }]';
  const cases: Array<[string, string, RegExp]> = [
    ['an empty document', '{}', /fleet providers: must be a non-empty list/],
    [
      'a provider without prices',
      `providers: [{ name: p1, region: r, payoutAddress: "0x${'a'.repeat(40)}", ${pool} }]`,
      /providers\[0\]\.prices: must price at least one GPU product/,
    ],
    [
      'a provider named hub',
      `providers: [{ name: hub, region: r, payoutAddress: "0x${'a'.repeat(40)}", prices: { X: "1" }, ${pool} }]`,
      /providers\[0\]\.name: "hub" is reserved/,
    ],
    ['a bad payout address', `providers: [{ name: p1, region: r, payoutAddress: "0x12", ${pool} }]`, /providers\[0\]\.payoutAddress/],
    ['a float price', `providers: [{ name: p1, region: r, payoutAddress: "0x${'a'.repeat(40)}", prices: { X: 2.4 }, ${pool} }]`, /providers\[0\]\.prices\.X/],
    [
      'a zero GPU count',
      `providers: [{ name: p1, region: r, payoutAddress: "0x${'a'.repeat(40)}", prices: { X: "1" }, ${pool.replace('count: 1, memoryMiB', 'count: 0, memoryMiB')} }]`,
      /nodePools\[0\]\.gpu\.count: must be a positive integer/,
    ],
  ];
  it.each(cases)('%s', (_name, text, message) => {
    expect(() => parseFleet(text)).toThrow(FleetError);
    expect(() => parseFleet(text)).toThrow(message);
  });
});
