// Onboards the local federation's providers with the Pulumi components: the hub chart into the hub,
// the provider chart into every provider, and each provider's kubeconfig Secret and GPUProvider into
// the hub. Run against a federation whose providers are not yet registered (the federation's own
// registration creates the same Secret and GPUProvider names): see docs/charts.md.
import { readFileSync } from 'node:fs';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { readEndpoints } from '../../federation/federation.ts';
import { FlotillaHub, FlotillaProvider, kubeconfigSecretName } from '../../pulumi/index.ts';

const config = new pulumi.Config();
const endpoints = readEndpoints(config.get('stateDir'));
if (!endpoints) throw new Error('no local federation is running: make federation-up');
const lentGpus = config.getNumber('lentGpus') ?? 16;

const hubCluster = new k8s.Provider('hub', { kubeconfig: readFileSync(endpoints.hub.kubeconfig, 'utf8') });

export const hub = new FlotillaHub(
  'flotilla',
  {
    providerSecretNames: endpoints.providers.map((p) => kubeconfigSecretName(p.name)),
    values: { operator: { hubId: 'local-federation' } },
  },
  { provider: hubCluster },
);

export const providers = endpoints.providers.map(
  (p) =>
    new FlotillaProvider(p.name, {
      providerName: p.name,
      kubeconfig: pulumi.secret(readFileSync(p.kubeconfig, 'utf8')),
      hub: hubCluster,
      hubDependsOn: [hub],
      lentGpus,
      region: p.region,
      payoutAddress: p.payoutAddress,
      prices: p.prices,
    }),
);

export const gpuProviders = providers.map((p) => p.gpuProvider.metadata.name);
