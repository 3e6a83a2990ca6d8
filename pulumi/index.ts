export { FlotillaHub } from './hub.ts';
export type { FlotillaHubArgs } from './hub.ts';
export { FlotillaProvider, kubeconfigSecretName } from './provider.ts';
export type { FlotillaProviderArgs } from './provider.ts';
export { providerKubeconfig, currentServer } from './kubeconfig.ts';
export { lentFromCapacity } from './capacity.ts';
export type { GpuCapacity, GpuNodeShape } from './capacity.ts';
export { KwokGpuNodePool } from './kwok-pool.ts';
export type { KwokGpuNodePoolArgs } from './kwok-pool.ts';
// cloud GPU pools: the GPU Operator needs only @pulumi/kubernetes; the pools themselves are the
// entry points flotilla-pulumi/eks and flotilla-pulumi/gke, so this entry never loads @pulumi/aws
// or @pulumi/gcp (optional peers that a local-only program does not install).
export { NvidiaGpuOperator, GPU_OPERATOR_CHART, GPU_OPERATOR_REPO, GPU_OPERATOR_VERSION, gpuOperatorValues } from './gpu-operator.ts';
export type { NvidiaGpuOperatorArgs, GpuOperatorVariant, GpuOperatorSource } from './gpu-operator.ts';
export { NODE_POOL_LABEL, GPU_TAINT_KEY } from './gpu-pool.ts';
