// What GPUs a node offers, read from its NVIDIA device-plugin resources and GPU Feature Discovery
// labels. Each offer is one kind of device a pod can request:
//
//   resource                       labels under            product (what jobs list)
//   nvidia.com/gpu                 nvidia.com/gpu.*        NVIDIA-H100-80GB-HBM3            whole GPU
//   nvidia.com/gpu (MIG single)    nvidia.com/gpu.*        NVIDIA-A100-SXM4-40GB-MIG-1g.5gb  a MIG slice
//   nvidia.com/mig-3g.20gb (mixed) nvidia.com/mig-3g.20gb.* NVIDIA-A100-SXM4-40GB-MIG-3g.20gb a MIG slice
//   nvidia.com/gpu (time-sliced)   nvidia.com/gpu.*        NVIDIA-A10-SHARED                 a time slice
//   nvidia.com/gpu.shared (renamed) nvidia.com/gpu.*       NVIDIA-A10 + "-SHARED"            a time slice
//
// GFD appends "-SHARED" to the product label when time-slicing replicates a resource that keeps its
// name; when the resource is renamed to "<name>.shared" the label stays bare, so the engine appends
// the suffix itself (also whenever `<prefix>.replicas` > 1). Either way a shared GPU is a product of
// its own, which a job gets only by listing it, and a MIG slice is a product of its own ("-MIG-"),
// so a whole-GPU request never lands on a slice. Nodes without a product label are not offered:
// without it the pods could not be pinned to the product the price was quoted for.

import type { NodeSnapshot } from './types.ts';

// MIG profiles contain dots (mig-3g.20gb, mig-1g.10gb+me); the lazy match leaves a ".shared" suffix out.
const gpuResourcePattern = /^(nvidia\.com\/(?:gpu|mig-[^/]+?))(\.shared)?$/;
const whole = 'nvidia.com/gpu';

/** One kind of GPU device a node offers. */
export interface GpuOffer {
  /** What jobs list: the product label, with "-SHARED" when time-sliced. */
  readonly product: string;
  /** What the pod requests. */
  readonly resourceName: string;
  /** The label holding the product on this node, e.g. `nvidia.com/mig-3g.20gb.product`. */
  readonly productLabel: string;
  /** That label's value as written on the node. */
  readonly productLabelValue: string;
  /** The label with GPU memory in MiB. */
  readonly memoryLabel: string;
  readonly shared: boolean;
  readonly mig: boolean;
  /** GPU memory per device in MiB; undefined when unlabelled. */
  readonly gpuMemoryMiB: number | undefined;
  /** Compute capability as major × 1000 + minor; undefined when unlabelled. */
  readonly computeCapability: number | undefined;
  readonly allocatable: number;
  /** Free devices, never negative. */
  readonly free: number;
}

function integerLabel(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}

/** Encodes a compute capability so that plain integer comparison orders it: 9.0 > 8.9 > 8.0. */
export function encodeComputeCapability(major: number, minor: number): number {
  return major * 1000 + minor;
}

export function formatComputeCapability(encoded: number): string {
  return `${Math.floor(encoded / 1000)}.${encoded % 1000}`;
}

/** Every GPU offer of a node, ordered by resource name. */
export function gpuOffersOfNode(node: NodeSnapshot): GpuOffer[] {
  const offers: GpuOffer[] = [];
  const resources = Object.keys(node.allocatable.extended).sort();
  for (const resourceName of resources) {
    const match = gpuResourcePattern.exec(resourceName);
    if (!match) continue;
    const allocatable = node.allocatable.extended[resourceName] ?? 0;
    if (allocatable <= 0) continue;
    const prefix = match[1] ?? whole;
    const renamedShared = match[2] !== undefined;
    const productLabel = `${prefix}.product`;
    const productLabelValue = node.labels[productLabel];
    if (productLabelValue === undefined || productLabelValue === '') continue;
    const replicas = integerLabel(node.labels[`${prefix}.replicas`]) ?? 1;
    const labelledShared = productLabelValue.endsWith('-SHARED');
    const shared = labelledShared || renamedShared || replicas > 1;
    const product = shared && !labelledShared ? `${productLabelValue}-SHARED` : productLabelValue;
    const major = integerLabel(node.labels[`${prefix}.compute.major`] ?? node.labels[`${whole}.compute.major`]);
    const minor = integerLabel(node.labels[`${prefix}.compute.minor`] ?? node.labels[`${whole}.compute.minor`]);
    offers.push({
      product,
      resourceName,
      productLabel,
      productLabelValue,
      memoryLabel: `${prefix}.memory`,
      shared,
      mig: prefix !== whole || productLabelValue.includes('-MIG-'),
      gpuMemoryMiB: integerLabel(node.labels[`${prefix}.memory`]),
      computeCapability: major === undefined ? undefined : encodeComputeCapability(major, minor ?? 0),
      allocatable,
      free: Math.max(0, node.free.extended[resourceName] ?? 0),
    });
  }
  return offers;
}
