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

export interface MigLayout {
  readonly partitionedGpus: number;
  readonly profile: string;
  readonly slicesPerGpu: number;
  readonly sliceMemoryMiB: number;
}

export interface GpuSpec {
  readonly product: string;
  readonly count: number;
  readonly memoryMiB: number;
  readonly family: string;
  readonly compute: string;
  readonly machine: string;
  readonly timeSlicingReplicas?: number;
  readonly mig?: MigLayout;
}

export interface NodePool {
  readonly name: string;
  readonly count: number;
  readonly cpu: string;
  readonly memory: string;
  readonly gpu: GpuSpec;
  readonly taints?: readonly V1Taint[];
}

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

/** Annotation that makes the kwok controller manage (heartbeat, run pods on) a node. */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';
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

/** The GFD labels and extended resources one node of a pool carries. */
export function gpuLabelsAndResources(gpu: GpuSpec): { labels: Record<string, string>; resources: Record<string, string> } {
  const [major = '0', minor = '0'] = gpu.compute.split('.');
  const sharing = gpu.timeSlicingReplicas !== undefined;
  const labels: Record<string, string> = {
    'nvidia.com/gpu.present': 'true',
    'nvidia.com/gpu.product': sharing ? `${gpu.product}-SHARED` : gpu.product,
    'nvidia.com/gpu.memory': String(gpu.memoryMiB),
    'nvidia.com/gpu.count': String(gpu.count),
    'nvidia.com/gpu.family': gpu.family,
    'nvidia.com/gpu.compute.major': major,
    'nvidia.com/gpu.compute.minor': minor,
    'nvidia.com/gpu.machine': gpu.machine,
    'nvidia.com/cuda.driver.major': '570',
    'nvidia.com/cuda.driver.minor': '133',
    'nvidia.com/cuda.runtime.major': '12',
    'nvidia.com/cuda.runtime.minor': '8',
    'nvidia.com/gpu.replicas': String(gpu.timeSlicingReplicas ?? 1),
  };
  const resources: Record<string, string> = {};
  if (sharing) {
    labels['nvidia.com/gpu.sharing-strategy'] = 'time-slicing';
    resources['nvidia.com/gpu'] = String(gpu.count * (gpu.timeSlicingReplicas ?? 1));
  } else if (gpu.mig) {
    const m = gpu.mig;
    const slices = m.partitionedGpus * m.slicesPerGpu;
    labels['nvidia.com/mig.strategy'] = 'mixed';
    labels['nvidia.com/mig.capable'] = 'true';
    labels[`nvidia.com/mig-${m.profile}.count`] = String(slices);
    labels[`nvidia.com/mig-${m.profile}.memory`] = String(m.sliceMemoryMiB);
    labels[`nvidia.com/mig-${m.profile}.product`] = `${gpu.product}-MIG-${m.profile}`;
    resources['nvidia.com/gpu'] = String(gpu.count - m.partitionedGpus);
    resources[`nvidia.com/mig-${m.profile}`] = String(slices);
  } else {
    resources['nvidia.com/gpu'] = String(gpu.count);
  }
  return { labels, resources };
}

/** The KWOK Node objects of one provider, named `<provider>-<pool>-<index>`. */
export function renderProviderNodes(provider: ProviderFleet): V1Node[] {
  return provider.nodePools.flatMap((pool) =>
    Array.from({ length: pool.count }, (_, i): V1Node => {
      const name = `${provider.name}-${pool.name}-${i}`;
      const { labels, resources } = gpuLabelsAndResources(pool.gpu);
      const capacity = { cpu: pool.cpu, memory: pool.memory, pods: '110', ...resources };
      return {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: {
            'kubernetes.io/hostname': name,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'node.kubernetes.io/instance-type': pool.gpu.machine,
            'topology.kubernetes.io/region': provider.region,
            'topology.kubernetes.io/zone': `${provider.region}-a`,
            'flotilla.dev/node-pool': pool.name,
            type: 'kwok',
            ...labels,
          },
        },
        spec: pool.taints && pool.taints.length > 0 ? { taints: pool.taints.map((t) => ({ ...t })) } : {},
        status: {
          allocatable: { ...capacity },
          capacity,
          nodeInfo: {
            architecture: 'amd64',
            operatingSystem: 'linux',
            kubeletVersion: 'fake',
            kubeProxyVersion: 'fake',
            bootID: '',
            containerRuntimeVersion: '',
            kernelVersion: '',
            machineID: '',
            osImage: '',
            systemUUID: '',
          },
          phase: 'Running',
        },
      };
    }),
  );
}
