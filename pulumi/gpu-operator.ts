// NvidiaGpuOperator: NVIDIA's GPU Operator chart on a cloud cluster, so that its GPU nodes advertise
// `nvidia.com/gpu` (device plugin) and the `nvidia.com/gpu.*` labels (GPU Feature Discovery) that
// the hub's inventory and placement read — on the local federation KWOK fakes exactly these.
//
// What the operator installs depends on what the node image already brings:
//   eks  the AL2023 NVIDIA AMI ships the driver and the NVIDIA Container Toolkit: the operator adds
//        only the device plugin, GFD (and NFD, which GFD's node selection needs)
//   gke  the pool is created with GKE's driver installation disabled on Ubuntu nodes (the
//        operator's driver container does not support Container-Optimized OS): the operator
//        installs the driver and the toolkit too, so one NVIDIA-managed stack runs on both clouds
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

/** The chart this component installs; `version` is overridable per operator. */
export const GPU_OPERATOR_CHART = 'gpu-operator';
export const GPU_OPERATOR_REPO = 'https://helm.ngc.nvidia.com/nvidia';
/** Pinned: a `pulumi up` must not pick up a new operator (and driver) by itself. */
export const GPU_OPERATOR_VERSION = 'v25.10.1';

export type GpuOperatorVariant = 'eks' | 'gke';

/** Chart values per variant; `values` given to the component are merged over them. */
export function gpuOperatorValues(variant: GpuOperatorVariant): Record<string, unknown> {
  const advertise = { devicePlugin: { enabled: true }, gfd: { enabled: true }, nfd: { enabled: true } };
  if (variant === 'eks') return { ...advertise, driver: { enabled: false }, toolkit: { enabled: false } };
  return {
    ...advertise,
    driver: { enabled: true },
    // GKE 1.33+ keeps containerd's config where the toolkit's default discovery misconfigures it;
    // NVIDIA's documented fix is to read the runtime config from the file.
    toolkit: { enabled: true, env: [{ name: 'RUNTIME_CONFIG_SOURCE', value: 'file' }] },
  };
}

export interface NvidiaGpuOperatorArgs {
  /** The cluster's Kubernetes API (the one the node pool's nodes join). */
  readonly kubernetes: k8s.Provider;
  readonly variant: GpuOperatorVariant;
  /** The release waits for these (the node pool), so `helm install` finds nodes to run on. */
  readonly nodePools: pulumi.Input<pulumi.Resource>[];
  /** Chart version; defaults to GPU_OPERATOR_VERSION. */
  readonly version?: string;
  readonly namespace?: string;
  /** Further chart values, deep-merged over the variant's (arrays replace). */
  readonly values?: Record<string, unknown>;
}

export class NvidiaGpuOperator extends pulumi.ComponentResource {
  readonly variant: GpuOperatorVariant;
  readonly namespace: k8s.core.v1.Namespace;
  /** GKE only: lets the operator's node-critical pods run outside kube-system. */
  readonly criticalPodsQuota?: k8s.core.v1.ResourceQuota;
  readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: NvidiaGpuOperatorArgs, opts?: pulumi.ComponentResourceOptions) {
    super('flotilla:index:NvidiaGpuOperator', name, {}, opts);
    this.variant = args.variant;
    const namespaceName = args.namespace ?? 'gpu-operator';
    const inCluster = { parent: this, provider: args.kubernetes };

    this.namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      // The driver, toolkit and device plugin pods mount host paths and run privileged.
      { metadata: { name: namespaceName, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } },
      inCluster,
    );
    const before: pulumi.Input<pulumi.Resource>[] = [this.namespace];
    if (args.variant === 'gke') {
      // GKE admits pods of the system-node-critical and system-cluster-critical PriorityClasses
      // only in namespaces with a quota for them (kube-system has one); the operator's
      // DaemonSets use system-node-critical.
      this.criticalPodsQuota = new k8s.core.v1.ResourceQuota(
        `${name}-critical-pods`,
        {
          metadata: { name: 'gpu-operator-quota', namespace: this.namespace.metadata.name },
          spec: {
            hard: { pods: '100' },
            scopeSelector: {
              matchExpressions: [{ scopeName: 'PriorityClass', operator: 'In', values: ['system-node-critical', 'system-cluster-critical'] }],
            },
          },
        },
        inCluster,
      );
      before.push(this.criticalPodsQuota);
    }

    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: 'gpu-operator',
        chart: GPU_OPERATOR_CHART,
        version: args.version ?? GPU_OPERATOR_VERSION,
        repositoryOpts: { repo: GPU_OPERATOR_REPO },
        namespace: this.namespace.metadata.name,
        values: mergeValues(gpuOperatorValues(args.variant), args.values ?? {}),
      },
      { ...inCluster, dependsOn: [...before, ...args.nodePools] },
    );
    this.registerOutputs({ release: this.release.status.name });
  }
}

/**
 * Where a cloud pool gets its GPU Operator: installs its own into the cluster behind `kubernetes`,
 * or joins the one another pool of the same cluster installed (a cluster has one operator).
 */
export type GpuOperatorSource =
  | { readonly kubernetes: k8s.Provider; readonly gpuOperatorVersion?: string; readonly gpuOperatorValues?: Record<string, unknown> }
  | { readonly gpuOperator: NvidiaGpuOperator };

/** Refuses, before the pool declares anything, an operator installed for another cloud. */
export function checkGpuOperatorSource(poolName: string, variant: GpuOperatorVariant, source: GpuOperatorSource): void {
  if ('gpuOperator' in source && source.gpuOperator.variant !== variant)
    throw new Error(`pool ${poolName}: a ${variant} pool cannot share a GPU Operator installed for ${source.gpuOperator.variant}`);
}

/** The pool's operator: the shared one, or a new one (a child of the pool) that waits for `nodePool`. */
export function gpuOperatorFor(
  name: string,
  variant: GpuOperatorVariant,
  source: GpuOperatorSource,
  nodePool: pulumi.Resource,
  parent: pulumi.Resource,
): NvidiaGpuOperator {
  if ('gpuOperator' in source) return source.gpuOperator;
  return new NvidiaGpuOperator(
    `${name}-gpu-operator`,
    {
      kubernetes: source.kubernetes,
      variant,
      nodePools: [nodePool],
      ...(source.gpuOperatorVersion !== undefined ? { version: source.gpuOperatorVersion } : {}),
      ...(source.gpuOperatorValues !== undefined ? { values: source.gpuOperatorValues } : {}),
    },
    { parent },
  );
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** Helm's own rule for layered values: maps merge key by key, anything else (arrays too) replaces. */
export function mergeValues(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const below = merged[key];
    merged[key] = isPlainObject(below) && isPlainObject(value) ? mergeValues(below, value) : value;
  }
  return merged;
}
