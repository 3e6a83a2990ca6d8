// The declarative GPU fleets of the local federation (examples/federation/fleet.yaml) and the
// KWOK Node objects they become. Pure: parsing and rendering only, so it is unit-tested on its own.
//
// A rendered node looks to the provider's scheduler exactly like a real GPU node would after the
// NVIDIA device plugin registered `nvidia.com/gpu` and GPU Feature Discovery labelled it:
//   whole GPUs        nvidia.com/gpu: N                 nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
//   time-slicing      nvidia.com/gpu: N×replicas        nvidia.com/gpu.product: NVIDIA-L4-SHARED, gpu.replicas
//   MIG (mixed)       nvidia.com/gpu: whole GPUs left   nvidia.com/mig-<profile>: slices, mig.strategy: mixed
import type { V1Node, V1Taint } from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { renderGpuNode } from '../pulumi/kwok-node.ts';
import type { NodePool } from '../pulumi/kwok-node.ts';

export { gpuLabelsAndResources, KWOK_NODE_ANNOTATION, renderGpuNode } from '../pulumi/kwok-node.ts';
export type { GpuSpec, MigLayout, NodePool } from '../pulumi/kwok-node.ts';

export interface ProviderFleet {
  readonly name: string;
  readonly region: string;
  readonly payoutAddress: string;
  readonly prices: Readonly<Record<string, string>>;
  readonly nodePools: readonly NodePool[];
}

export interface Fleet {
  readonly providers: readonly ProviderFleet[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export class FleetError extends Error {
  override name = 'FleetError';
}

function fail(path: string, message: string): never {
  throw new FleetError(`fleet ${path}: ${message}`);
}

function positiveInt(path: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(path, `must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function str(path: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') fail(path, `must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

/** Parses and validates a fleet document; errors name the offending path. */
export function parseFleet(text: string): Fleet {
  const doc = yaml.load(text) as { providers?: unknown } | null;
  if (!doc || !Array.isArray(doc.providers) || doc.providers.length === 0) fail('providers', 'must be a non-empty list');
  const seen = new Set<string>();
  const providers = doc.providers.map((p: Record<string, unknown>, i: number): ProviderFleet => {
    const at = `providers[${i}]`;
    const name = str(`${at}.name`, p.name);
    if (!DNS_LABEL.test(name)) fail(`${at}.name`, `"${name}" is not a DNS label (it names a cluster)`);
    if (name === 'hub') fail(`${at}.name`, '"hub" is reserved for the hub cluster');
    if (seen.has(name)) fail(`${at}.name`, `duplicate provider "${name}"`);
    seen.add(name);
    const payoutAddress = str(`${at}.payoutAddress`, p.payoutAddress);
    if (!/^0x[0-9a-fA-F]{40}$/.test(payoutAddress)) fail(`${at}.payoutAddress`, 'must be 0x followed by 40 hex digits');
    const prices = (p.prices ?? {}) as Record<string, unknown>;
    // A GPUProvider must price at least one product (the CRD refuses it otherwise).
    if (Object.keys(prices).length === 0) fail(`${at}.prices`, 'must price at least one GPU product');
    for (const [product, price] of Object.entries(prices)) {
      if (typeof price !== 'string' || !/^\d+(\.\d{1,6})?$/.test(price)) fail(`${at}.prices.${product}`, 'must be a decimal string like "2.40"');
    }
    if (!Array.isArray(p.nodePools) || p.nodePools.length === 0) fail(`${at}.nodePools`, 'must be a non-empty list');
    const nodePools = p.nodePools.map((np: Record<string, unknown>, j: number) => parsePool(`${at}.nodePools[${j}]`, np));
    return { name, region: str(`${at}.region`, p.region), payoutAddress, prices: prices as Record<string, string>, nodePools };
  });
  return { providers };
}

function parsePool(at: string, np: Record<string, unknown>): NodePool {
  const gpu = (np.gpu ?? fail(`${at}.gpu`, 'is required')) as Record<string, unknown>;
  const mig = gpu.mig as Record<string, unknown> | undefined;
  const count = positiveInt(`${at}.gpu.count`, gpu.count);
  const parsedMig = mig && {
    partitionedGpus: positiveInt(`${at}.gpu.mig.partitionedGpus`, mig.partitionedGpus),
    profile: str(`${at}.gpu.mig.profile`, mig.profile),
    slicesPerGpu: positiveInt(`${at}.gpu.mig.slicesPerGpu`, mig.slicesPerGpu),
    sliceMemoryMiB: positiveInt(`${at}.gpu.mig.sliceMemoryMiB`, mig.sliceMemoryMiB),
  };
  if (parsedMig && parsedMig.partitionedGpus > count) fail(`${at}.gpu.mig.partitionedGpus`, `exceeds gpu.count ${count}`);
  if (parsedMig && gpu.timeSlicingReplicas !== undefined) fail(`${at}.gpu`, 'use either mig or timeSlicingReplicas, not both');
  return {
    name: str(`${at}.name`, np.name),
    count: positiveInt(`${at}.count`, np.count),
    cpu: str(`${at}.cpu`, np.cpu),
    memory: str(`${at}.memory`, np.memory),
    gpu: {
      product: str(`${at}.gpu.product`, gpu.product),
      count,
      memoryMiB: positiveInt(`${at}.gpu.memoryMiB`, gpu.memoryMiB),
      family: str(`${at}.gpu.family`, gpu.family),
      compute: str(`${at}.gpu.compute`, gpu.compute),
      machine: str(`${at}.gpu.machine`, gpu.machine),
      ...(gpu.timeSlicingReplicas !== undefined ? { timeSlicingReplicas: positiveInt(`${at}.gpu.timeSlicingReplicas`, gpu.timeSlicingReplicas) } : {}),
      ...(parsedMig ? { mig: parsedMig } : {}),
    },
    ...(Array.isArray(np.taints) ? { taints: np.taints as V1Taint[] } : {}),
  };
}

/** The KWOK Node objects of one provider, named `<provider>-<pool>-<index>`. */
export function renderProviderNodes(provider: ProviderFleet): V1Node[] {
  return provider.nodePools.flatMap((pool) =>
    Array.from({ length: pool.count }, (_, i) => renderGpuNode(`${provider.name}-${pool.name}-${i}`, pool, provider.region)),
  );
}
