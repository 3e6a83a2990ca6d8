// KwokGpuNodePool: a pool of GPU nodes on the local federation, as KWOK-simulated Nodes that carry
// what the NVIDIA device plugin and GPU Feature Discovery put on real GPU nodes (`nvidia.com/gpu`
// capacity, the `nvidia.com/gpu.*` labels) — the same shape as examples/federation/fleet.yaml. The
// provider cluster's kwok controller plays their kubelets. Scaling is a `pulumi up` with another
// `nodes`; a node the pool gives up is drained first (cordon → evict → gone), so Flotilla resumes
// its jobs elsewhere before the node disappears.
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { renderGpuNode } from './kwok-node.ts';
import type { GpuCapacity, GpuNodeShape } from './capacity.ts';
import { drainNode } from './drain.ts';
import { poolGpus } from './gpu-pool.ts';

export interface KwokGpuNodePoolArgs {
  /** Names the nodes (`<poolName>-<index>`) and their `flotilla.dev/node-pool` label. */
  readonly poolName: string;
  /** An admin kubeconfig of the provider cluster (nodes are cluster-scoped). */
  readonly kubeconfig: pulumi.Input<string>;
  readonly nodes: number;
  readonly shape: GpuNodeShape;
  readonly region: string;
  readonly pricePerGpuHour: string;
  /** Node taints; by default `nvidia.com/gpu:NoSchedule`, as GPU node pools are usually tainted. */
  readonly taints?: Array<{ key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }>;
  /** How long draining one node may take, its pods' grace periods included (default 300). */
  readonly drainTimeoutSeconds?: number;
}

export class KwokGpuNodePool extends pulumi.ComponentResource implements GpuCapacity {
  readonly poolName: string;
  readonly product: string;
  readonly gpus: number;
  readonly region: string;
  readonly pricePerGpuHour: string;
  readonly nodeNames: string[];
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: KwokGpuNodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before anything is declared: a refused pool leaves nothing behind.
    const gpus = poolGpus(args.poolName, args.nodes, args.shape, 0);
    super('flotilla:index:KwokGpuNodePool', name, {}, opts);
    this.poolName = args.poolName;
    this.product = args.shape.product;
    this.gpus = gpus;
    this.region = args.region;
    this.pricePerGpuHour = args.pricePerGpuHour;

    // A Node is created with its status (capacity, allocatable): only a create keeps a status the
    // client sends, and server-side apply never creates a Node (the API server refuses create-on-
    // update for nodes), so these go through client-side apply.
    const cluster = new k8s.Provider(`${name}-nodes`, { kubeconfig: args.kubeconfig, enableServerSideApply: false }, { parent: this });
    // The drain needs the kubeconfig as a value when the engine calls the hook (after the program ran).
    const kubeconfig = new Promise<string>((resolve) => pulumi.output(args.kubeconfig).apply((value) => resolve(value)));
    // Registered on every run, whatever `nodes` is: the engine calls the hook of a node that this
    // run no longer declares by its name.
    const drain = new pulumi.ResourceHook(`${name}-drain`, async (hook) => {
      const node = (hook.oldOutputs?.metadata as { name?: string } | undefined)?.name;
      if (!node) return;
      const { evicted } = await drainNode(await kubeconfig, node, { timeoutMs: (args.drainTimeoutSeconds ?? 300) * 1000 });
      pulumi.log.info(`drained ${node}${evicted.length > 0 ? `: evicted ${evicted.join(', ')}` : ''}`, this);
    });

    const taints = args.taints ?? [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' as const }];
    const pool = {
      name: args.poolName,
      cpu: args.shape.cpu ?? '96',
      memory: args.shape.memory ?? '1024Gi',
      gpu: {
        product: args.shape.product,
        count: args.shape.gpusPerNode,
        memoryMiB: args.shape.gpuMemoryMiB,
        family: args.shape.family ?? 'unknown',
        compute: args.shape.compute ?? '0.0',
        machine: args.shape.machine ?? args.poolName,
      },
      taints,
    };
    this.nodeNames = Array.from({ length: args.nodes }, (_, i) => `${args.poolName}-${i}`);
    this.ready = this.nodeNames.map((node) => {
      const { metadata, spec, status } = renderGpuNode(node, pool, args.region);
      // The typed Node takes no status: a transform adds it to what the engine sends the provider.
      const withStatus: pulumi.ResourceTransform = ({ props, opts: resourceOpts }) => ({ props: { ...props, status }, opts: resourceOpts });
      return new k8s.core.v1.Node(
        node,
        { metadata: metadata as unknown as k8s.types.input.meta.v1.ObjectMeta, spec: spec as unknown as k8s.types.input.core.v1.NodeSpec },
        { parent: this, provider: cluster, hooks: { beforeDelete: [drain] }, transforms: [withStatus] },
      );
    });
    this.registerOutputs({ nodeNames: this.nodeNames, gpus: this.gpus });
  }
}
