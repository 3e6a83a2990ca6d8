// One simulated GPU node: the Node object a KWOK-managed GPU node is, carrying what the NVIDIA device
// plugin and GPU Feature Discovery (GFD) would put on a real one. Pure. Shared by the local
// federation's fleets (federation/fleet.ts) and the KwokGpuNodePool component (kwok-pool.ts).
//
//   whole GPUs        nvidia.com/gpu: N                 nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
//   time-slicing      nvidia.com/gpu: N×replicas        nvidia.com/gpu.product: NVIDIA-L4-SHARED, gpu.replicas
//   MIG (mixed)       nvidia.com/gpu: whole GPUs left   nvidia.com/mig-<profile>: slices, mig.strategy: mixed
import type { V1Node, V1Taint } from '@kubernetes/client-node';

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

/** Annotation that makes the kwok controller manage (heartbeat, run pods on) a node. */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';
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

/**
 * One KWOK GPU node of a pool: what the kubelet, the device plugin and GFD would report for it, in
 * `status` too (a Node is the one object whose status its creator may set; the kwok controller then
 * heartbeats it and keeps that capacity).
 */
export function renderGpuNode(name: string, pool: Omit<NodePool, 'count'>, region: string): V1Node {
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
        'topology.kubernetes.io/region': region,
        'topology.kubernetes.io/zone': `${region}-a`,
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
}
