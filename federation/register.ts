// Registration of the local federation's providers with its hub: the generated CRDs go into the hub,
// each provider gets what the provider chart will install (namespace, the low PriorityClass), and the
// hub gets each provider's kubeconfig Secret and GPUProvider. Until the provider Helm chart issues a
// least-privilege credential, the Secret carries the provider's admin kubeconfig (local only).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, SchedulingV1Api } from '@kubernetes/client-node';
import { API_VERSION, GPUPROVIDER, GROUP, VERSION } from '../operator/api/group.ts';
import type { GPUProviderManifest } from '../operator/api/types.ts';
import { runCommand } from './command.ts';
import type { ProviderFleet } from './fleet.ts';
import { repoRoot, toolPaths } from './paths.ts';

export const OPERATOR_NAMESPACE = 'flotilla-system';
export const WORKLOAD_NAMESPACE = 'flotilla-workloads';
export const LENT_PRIORITY_CLASS = 'flotilla-lent';
/** Below the default 0 of pods without a class: a provider's own work always preempts lent work. */
export const LENT_PRIORITY_VALUE = -100;

const load = (kubeconfig: string) => {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kc;
};

const ignoreConflict = (err: { code?: number }) => {
  if (err.code !== 409) throw err;
};

/**
 * Applies the generated CRDs to the hub (server-side apply, so re-running updates them) and waits
 * until they are served. Through kubectl on purpose: client-node's typed serializer drops the
 * wire-format `x-kubernetes-*` keys of a schema read from YAML.
 */
export async function installCrds(hubKubeconfig: string): Promise<void> {
  const { kubectl } = toolPaths();
  const kube = ['--kubeconfig', hubKubeconfig];
  await runCommand(kubectl, [...kube, 'apply', '--server-side', '--force-conflicts', '--field-manager=flotilla-federation', '-f', join(repoRoot, 'crds')]);
  await runCommand(kubectl, [...kube, 'wait', '--for=condition=Established', '--timeout=30s', `crd/aijobs.${GROUP}`, `crd/gpuproviders.${GROUP}`]);
}

/** What the provider chart installs in a provider cluster: the workload namespace, the low PriorityClass and the fence. */
export async function prepareProviderCluster(providerKubeconfig: string): Promise<void> {
  const kc = load(providerKubeconfig);
  await kc
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name: WORKLOAD_NAMESPACE } } })
    .catch(ignoreConflict);
  await kc
    .makeApiClient(SchedulingV1Api)
    .createPriorityClass({
      body: {
        metadata: { name: LENT_PRIORITY_CLASS },
        value: LENT_PRIORITY_VALUE,
        // Lent work waits for free GPUs; it never preempts anything of the provider's.
        preemptionPolicy: 'Never',
        description: "GPUs lent to Flotilla: preempted first by the provider's own work.",
      },
    })
    .catch(ignoreConflict);
  await installProviderFence(providerKubeconfig);
}

/**
 * The provider chart's fence (templates/fence.yaml, docs/operator.md "Fencing a deposed leader"), as
 * helm renders it, with `fence.allNamespaces`: the test corners lend namespaces of their own and each
 * brings its own flotilla-fence ConfigMap (test/support/corner.ts). Server-side apply: re-running
 * updates a federation started before the fence or before a change to it.
 */
export async function installProviderFence(providerKubeconfig: string): Promise<void> {
  const { helm, kubectl, kubeVersion } = toolPaths();
  const chart = join(repoRoot, 'charts', 'flotilla-provider');
  const set = ['--set', 'fence.allNamespaces=true', '--set', `namespace.name=${WORKLOAD_NAMESPACE}`];
  const rendered = await runCommand(helm, ['template', 'flotilla', chart, '--kube-version', kubeVersion, '--show-only', 'templates/fence.yaml', ...set]);
  await runCommand(
    kubectl,
    ['--kubeconfig', providerKubeconfig, 'apply', '--server-side', '--force-conflicts', '--field-manager=flotilla-federation', '-f', '-'],
    {
      input: rendered.stdout,
    },
  );
}

export const kubeconfigSecretName = (provider: string) => `provider-${provider}-kubeconfig`;

export function gpuProviderManifest(provider: ProviderFleet): GPUProviderManifest {
  return {
    apiVersion: API_VERSION,
    kind: GPUPROVIDER.kind,
    metadata: { name: provider.name, labels: { 'flotilla.dev/registered-by': 'local-federation' } },
    spec: {
      kubeconfigSecretRef: { name: kubeconfigSecretName(provider.name), namespace: OPERATOR_NAMESPACE, key: 'kubeconfig' },
      namespace: WORKLOAD_NAMESPACE,
      region: provider.region,
      payoutAddress: provider.payoutAddress,
      prices: Object.entries(provider.prices).map(([gpuProduct, pricePerGpuHour]) => ({ gpuProduct, pricePerGpuHour })),
      priorityClassName: LENT_PRIORITY_CLASS,
    },
  };
}

/** Stores the provider's kubeconfig as a hub Secret and creates its GPUProvider (idempotent). */
export async function registerProvider(hubKubeconfig: string, provider: ProviderFleet, providerKubeconfig: string): Promise<void> {
  const kc = load(hubKubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } }).catch(ignoreConflict);
  const secret = {
    metadata: { name: kubeconfigSecretName(provider.name), namespace: OPERATOR_NAMESPACE },
    type: 'Opaque',
    stringData: { kubeconfig: readFileSync(providerKubeconfig, 'utf8') },
  };
  await core.createNamespacedSecret({ namespace: OPERATOR_NAMESPACE, body: secret }).catch(async (err: { code?: number }) => {
    ignoreConflict(err);
    await core.replaceNamespacedSecret({ name: secret.metadata.name, namespace: OPERATOR_NAMESPACE, body: secret });
  });
  await kc
    .makeApiClient(CustomObjectsApi)
    .createClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, body: gpuProviderManifest(provider) })
    .catch(ignoreConflict);
}
