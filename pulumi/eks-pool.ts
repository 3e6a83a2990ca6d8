// EksGpuNodePool: GPU capacity on Amazon EKS — a managed node group of GPU instances and the NVIDIA
// GPU Operator that makes their GPUs visible to Kubernetes. The entry point `flotilla-pulumi/eks`
// (the package's main entry never loads @pulumi/aws).
//
// Scaling is declarative: change `nodes` and run `pulumi up`. The group has a fixed size
// (desired = min = max), so nothing but that change adds or removes GPU nodes and the lent quota
// (nodes × GPUs per node) always matches what runs. On scale-down EKS cordons and drains each node
// it removes before terminating the instance, so Flotilla's pods there are evicted (a preemption
// the hub recovers from, resuming elsewhere from the last checkpoint) rather than cut off.
// `updateConfig.maxUnavailable: 1` is for node group updates (a new AMI release or Kubernetes
// version, a changed setting): EKS then replaces, and drains, one node at a time, so at most one
// node's GPUs are out of the pool at once.
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { GpuCapacity, GpuNodeShape } from './capacity.ts';
import { checkGpuOperatorSource, gpuOperatorFor, type GpuOperatorSource, type NvidiaGpuOperator } from './gpu-operator.ts';
import { GPU_TAINT_KEY, NODE_POOL_LABEL, poolGpus } from './gpu-pool.ts';

/** EKS-optimized Amazon Linux 2023 with the NVIDIA driver and Container Toolkit installed. */
export const EKS_NVIDIA_AMI_TYPE = 'AL2023_x86_64_NVIDIA';
/** The 20 GiB EKS default does not hold one CUDA training image (often 10–20 GiB) and its layers. */
export const EKS_GPU_DISK_GIB = 200;

export type EksGpuNodePoolArgs = {
  /** The node group's name and the `flotilla.dev/node-pool` label of its nodes. */
  readonly poolName: string;
  readonly clusterName: pulumi.Input<string>;
  /** IAM role of the nodes (AmazonEKSWorkerNodePolicy, AmazonEC2ContainerRegistryReadOnly, the CNI policy). */
  readonly nodeRoleArn: pulumi.Input<string>;
  readonly subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** A GPU instance type, e.g. p5.48xlarge (8 × H100). */
  readonly instanceType: string;
  /** Node count; at least 1 (EKS refuses a group whose maximum is 0). */
  readonly nodes: number;
  /** What GFD will report for each node; `gpusPerNode` must match the instance type's GPUs. */
  readonly shape: GpuNodeShape;
  /** Flotilla's region for these GPUs (the GPUProvider's), not the AWS region. */
  readonly region: string;
  readonly pricePerGpuHour: string;
  readonly diskSizeGiB?: number;
  readonly capacityType?: 'ON_DEMAND' | 'SPOT';
} & GpuOperatorSource;

export class EksGpuNodePool extends pulumi.ComponentResource implements GpuCapacity {
  readonly poolName: string;
  readonly product: string;
  readonly gpus: number;
  readonly region: string;
  readonly pricePerGpuHour: string;
  readonly nodeGroup: aws.eks.NodeGroup;
  readonly gpuOperator: NvidiaGpuOperator;
  /** The node group (EKS waits for its nodes to join) and the GPU Operator release on them. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: EksGpuNodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before anything is declared: a refused pool leaves nothing behind.
    const gpus = poolGpus(args.poolName, args.nodes, args.shape, 1);
    checkGpuOperatorSource(args.poolName, 'eks', args);
    super('flotilla:index:EksGpuNodePool', name, {}, opts);
    this.poolName = args.poolName;
    this.product = args.shape.product;
    this.gpus = gpus;
    this.region = args.region;
    this.pricePerGpuHour = args.pricePerGpuHour;

    this.nodeGroup = new aws.eks.NodeGroup(
      `${name}-nodes`,
      {
        clusterName: args.clusterName,
        nodeGroupName: args.poolName,
        nodeRoleArn: args.nodeRoleArn,
        subnetIds: args.subnetIds,
        instanceTypes: [args.instanceType],
        amiType: EKS_NVIDIA_AMI_TYPE,
        capacityType: args.capacityType ?? 'ON_DEMAND',
        diskSize: args.diskSizeGiB ?? EKS_GPU_DISK_GIB,
        scalingConfig: { desiredSize: args.nodes, minSize: args.nodes, maxSize: args.nodes },
        updateConfig: { maxUnavailable: 1 },
        labels: { [NODE_POOL_LABEL]: args.poolName },
        taints: [{ key: GPU_TAINT_KEY, effect: 'NO_SCHEDULE' }],
      },
      { parent: this },
    );
    this.gpuOperator = gpuOperatorFor(name, 'eks', args, this.nodeGroup, this);
    this.ready = [this.nodeGroup, this.gpuOperator.release];
    this.registerOutputs({ gpus: this.gpus, nodeGroupArn: this.nodeGroup.arn });
  }
}
