// GPU capacity as code: what every GPU node pool component (KWOK on the local federation, an EKS
// managed node group or a GKE node pool with the NVIDIA GPU Operator on real clusters) tells the
// provider's onboarding. FlotillaProvider lends exactly the GPUs its pools declare, at their prices,
// and registers the provider with the hub only once the pools are provisioned.
import type * as pulumi from '@pulumi/pulumi';

/** One GPU node as GPU Feature Discovery labels it (`nvidia.com/gpu.*`). */
export interface GpuNodeShape {
  /** `nvidia.com/gpu.product`, e.g. NVIDIA-H100-80GB-HBM3 — the name the hub's prices and jobs use. */
  readonly product: string;
  /** `nvidia.com/gpu` per node (the device plugin's count). */
  readonly gpusPerNode: number;
  /** `nvidia.com/gpu.memory`: MiB of memory per GPU. */
  readonly gpuMemoryMiB: number;
  /** `nvidia.com/gpu.family`, e.g. hopper. */
  readonly family?: string;
  /** CUDA compute capability "major.minor", e.g. "9.0". */
  readonly compute?: string;
  /** `nvidia.com/gpu.machine`: the machine or instance type. */
  readonly machine?: string;
  /** Allocatable CPU and memory of a node (Kubernetes quantities). */
  readonly cpu?: string;
  readonly memory?: string;
}

/** What a provisioned pool offers the federation. Every pool component implements it. */
export interface GpuCapacity {
  /** The pool's name (`flotilla.dev/node-pool` label on its nodes). */
  readonly poolName: string;
  readonly product: string;
  /** Nodes × GPUs per node. */
  readonly gpus: number;
  readonly region: string;
  /** Price per GPU-hour the provider asks for this pool (decimal string, 6 decimals at most). */
  readonly pricePerGpuHour: string;
  /**
   * Resources the provider's onboarding waits for: the pool's GPUs are advertised (device plugin and
   * GFD running) once these exist.
   */
  readonly ready: pulumi.Resource[];
}

/** The GPU quota and price list a provider lends from its pools; two pools of one product must agree on its price. */
export function lentFromCapacity(pools: readonly GpuCapacity[]): { lentGpus: number; prices: Record<string, string> } {
  const prices: Record<string, string> = {};
  let lentGpus = 0;
  for (const pool of pools) {
    const known = prices[pool.product];
    if (known !== undefined && known !== pool.pricePerGpuHour)
      throw new Error(`pools disagree on the price of ${pool.product}: ${known} and ${pool.pricePerGpuHour} (${pool.poolName})`);
    prices[pool.product] = pool.pricePerGpuHour;
    lentGpus += pool.gpus;
  }
  return { lentGpus, prices };
}
