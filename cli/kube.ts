// How every CLI command reaches the hub: the user's kubeconfig (--kubeconfig, else $KUBECONFIG,
// else ~/.kube/config; --context picks a context), the user's own credentials and RBAC. AIJobs go
// over the wire as plain JSON (client-node's typed serializers would drop our CRDs' fields).
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { AIJOB, GPUPROVIDER, GROUP, VERSION } from '../operator/api/group.ts';
import type { AIJob, AIJobManifest, GPUProvider } from '../operator/api/types.ts';
import { CliError } from './errors.ts';

export interface HubFlags {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly namespace?: string;
}

export interface Hub {
  readonly kc: KubeConfig;
  readonly custom: CustomObjectsApi;
  /** --namespace, else the context's namespace, else "default". */
  readonly namespace: string;
  readonly server: string;
}

export function connectHub(flags: HubFlags): Hub {
  const kc = new KubeConfig();
  try {
    if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new CliError(`cannot load the kubeconfig${flags.kubeconfig ? ` ${flags.kubeconfig}` : ''}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (flags.context) {
    if (!kc.getContextObject(flags.context))
      throw new CliError(
        `the kubeconfig has no context "${flags.context}" (it has: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
      );
    kc.setCurrentContext(flags.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new CliError('the kubeconfig has no current cluster: pass --kubeconfig <hub kubeconfig> or set KUBECONFIG');
  const namespace = flags.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  return { kc, custom: kc.makeApiClient(CustomObjectsApi), namespace, server: cluster.server };
}

const aijobs = { group: GROUP, version: VERSION, plural: AIJOB.plural };

export async function createAIJob(hub: Hub, manifest: AIJobManifest, dryRun = false): Promise<AIJob> {
  return (await hub.custom.createNamespacedCustomObject({
    ...aijobs,
    namespace: manifest.metadata.namespace ?? hub.namespace,
    body: manifest,
    ...(dryRun ? { dryRun: 'All' } : {}),
  })) as AIJob;
}

export async function getAIJob(hub: Hub, name: string): Promise<AIJob> {
  return (await hub.custom.getNamespacedCustomObject({ ...aijobs, namespace: hub.namespace, name })) as AIJob;
}

export async function listGPUProviders(hub: Hub): Promise<GPUProvider[]> {
  const list = (await hub.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural })) as { items: GPUProvider[] };
  return list.items;
}
