// GkeGpuNodePool: GPU capacity on Google Kubernetes Engine — a node pool with GPUs attached and the
// NVIDIA GPU Operator installing the driver on them. The entry point `flotilla-pulumi/gke` (the
// package's main entry never loads @pulumi/gcp).
//
// GKE can install a driver and run its own device plugin; this pool turns both off
// (`INSTALLATION_DISABLED`, `gke-no-default-nvidia-gpu-device-plugin`) and lets the GPU Operator
// own the whole stack, as on EKS: the same device plugin and GPU Feature Discovery, hence the same
// `nvidia.com/gpu.*` labels the hub prices and places by, and exactly one plugin advertising
// `nvidia.com/gpu` per node. The operator's driver container needs Ubuntu node images.
//
// Scaling is declarative: change `nodes` and run `pulumi up` (no autoscaling, so the lent quota
// always matches the nodes that run).
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { GpuCapacity, GpuNodeShape } from './capacity.ts';
import { checkGpuOperatorSource, gpuOperatorFor, type GpuOperatorSource, type NvidiaGpuOperator } from './gpu-operator.ts';
import { GPU_TAINT_KEY, NODE_POOL_LABEL, poolGpus } from './gpu-pool.ts';

export const GKE_GPU_IMAGE_TYPE = 'UBUNTU_CONTAINERD';
/** Node label that keeps GKE's own device plugin off the node, leaving the operator's. */
export const GKE_NO_DEFAULT_DEVICE_PLUGIN_LABEL = 'gke-no-default-nvidia-gpu-device-plugin';

export type GkeGpuNodePoolArgs = {
  /** The node pool's name and the `flotilla.dev/node-pool` label of its nodes. */
  readonly poolName: string;
  /** The cluster's name (or id). */
  readonly cluster: pulumi.Input<string>;
  /** The cluster's location: a region or a zone. */
  readonly location: pulumi.Input<string>;
  /**
   * The zones the pool's nodes run in (its node locations). Required with a regional `location`:
   * GKE then puts `nodes` nodes in each zone, and the lent GPUs count every zone.
   */
  readonly zones?: readonly string[];
  /** A machine type with GPUs attached, e.g. a3-highgpu-8g (8 × H100). */
  readonly machineType: string;
  /** The GCE accelerator type, e.g. nvidia-h100-80gb. */
  readonly acceleratorType: string;
  /** Nodes per zone (GKE's `nodeCount`). */
  readonly nodes: number;
  /** What GFD will report per node; `gpusPerNode` is the accelerator count attached to each. */
  readonly shape: GpuNodeShape;
  /** Flotilla's region for these GPUs (the GPUProvider's), not the GCP region. */
  readonly region: string;
  readonly pricePerGpuHour: string;
  /** Spot VMs: cheaper, and reclaimable by Google at any time. */
  readonly spot?: boolean;
  readonly diskSizeGiB?: number;
} & GpuOperatorSource;

export class GkeGpuNodePool extends pulumi.ComponentResource implements GpuCapacity {
  readonly poolName: string;
  readonly product: string;
  readonly gpus: number;
  readonly region: string;
  readonly pricePerGpuHour: string;
  readonly nodePool: gcp.container.NodePool;
  readonly gpuOperator: NvidiaGpuOperator;
  /** The node pool (GKE waits for its nodes) and the GPU Operator release on them. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: GkeGpuNodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before anything is declared: a refused pool leaves nothing behind.
    const gpus = poolGpus(args.poolName, args.nodes, args.shape, 0) * zoneCount(args);
    checkGpuOperatorSource(args.poolName, 'gke', args);
    super('flotilla:index:GkeGpuNodePool', name, {}, opts);
    this.poolName = args.poolName;
    this.product = args.shape.product;
    this.gpus = gpus;
    this.region = args.region;
    this.pricePerGpuHour = args.pricePerGpuHour;

    this.nodePool = new gcp.container.NodePool(
      `${name}-nodes`,
      {
        name: args.poolName,
        cluster: args.cluster,
        location: args.location,
        nodeCount: args.nodes,
        ...(args.zones ? { nodeLocations: [...args.zones] } : {}),
        nodeConfig: {
          machineType: args.machineType,
          imageType: GKE_GPU_IMAGE_TYPE,
          guestAccelerators: [
            {
              type: args.acceleratorType,
              count: args.shape.gpusPerNode,
              gpuDriverInstallationConfig: { gpuDriverVersion: 'INSTALLATION_DISABLED' },
            },
          ],
          labels: { [NODE_POOL_LABEL]: args.poolName, [GKE_NO_DEFAULT_DEVICE_PLUGIN_LABEL]: 'true' },
          // GKE puts this taint on GPU nodes itself; declaring it keeps Pulumi's view equal to GKE's.
          taints: [{ key: GPU_TAINT_KEY, value: 'present', effect: 'NO_SCHEDULE' }],
          ...(args.spot ? { spot: true } : {}),
          ...(args.diskSizeGiB !== undefined ? { diskSizeGb: args.diskSizeGiB } : {}),
        },
        management: { autoRepair: true },
        // No surge: a spare GPU machine to upgrade onto is rarely to be had; upgrade (and drain)
        // one node at a time instead.
        upgradeSettings: { maxSurge: 0, maxUnavailable: 1 },
      },
      { parent: this },
    );
    this.gpuOperator = gpuOperatorFor(name, 'gke', args, this.nodePool, this);
    this.ready = [this.nodePool, this.gpuOperator.release];
    this.registerOutputs({ gpus: this.gpus, nodePoolId: this.nodePool.id });
  }
}

/** A region name has no zone suffix: us-central1 (region), us-central1-a (zone). */
const isRegion = (location: string) => /^[a-z]+-[a-z]+\d+$/.test(location);

/** How many zones GKE places `nodes` in: the named ones, else the cluster's zone. */
function zoneCount(args: GkeGpuNodePoolArgs): number {
  if (args.zones !== undefined) {
    if (args.zones.length === 0) throw new Error(`pool ${args.poolName}: zones, when given, must name at least one zone`);
    return args.zones.length;
  }
  if (typeof args.location === 'string' && isRegion(args.location))
    throw new Error(
      `pool ${args.poolName}: ${args.location} is a region; GKE would put ${args.nodes} node(s) in each of the cluster's zones, so name them in zones`,
    );
  return 1;
}
