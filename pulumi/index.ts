export { FlotillaHub } from './hub.ts';
export type { FlotillaHubArgs } from './hub.ts';
export { FlotillaProvider, kubeconfigSecretName } from './provider.ts';
export type { FlotillaProviderArgs } from './provider.ts';
export { providerKubeconfig, currentServer } from './kubeconfig.ts';
