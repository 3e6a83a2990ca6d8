// A private corner of the local federation for preemption tests (test/preemption, test/providers)
// and the recovery benchmark (bench/preemption-recovery.ts): its own GPU product, its own KWOK nodes
// on provider-a and provider-b (and, for the API-server test, a whole extra provider cluster), its own
// GPUProviders and lent namespaces, and its own operator. Jobs of other suites never ask for the
// product, so signals produced here touch nothing else. Lives in test/support so bench/ need not
// import from a test folder.
import { randomBytes } from 'node:crypto';
import { CustomObjectsApi, KubeConfig, CoreV1Api, SchedulingV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { renderProviderNodes } from '../../federation/fleet.ts';
import { kubeconfigSecretName } from '../../federation/register.ts';
import { GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob, AIJobManifest, GPUProviderManifest } from '../../operator/api/types.ts';
import { clusterClients, pollUntil, readAIJob } from './federation.ts';
import type { OperatorProcess } from './operator.ts';

export const HUB_OPERATOR_NAMESPACE = 'flotilla-system';

export interface Corner {
  readonly id: string;
  readonly product: string;
  readonly lentNamespace: string;
  /** GPUProvider name → the cluster it lives in. */
  readonly providers: Map<string, { cluster: ClusterRef; node: string; nodes: string[] }>;
}

export interface ClusterRef {
  readonly name: string;
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly scheduling: SchedulingV1Api;
}

export function clusterRef(name: string, kubeconfig?: string): ClusterRef {
  if (!kubeconfig) {
    const c = clusterClients(name);
    return { name, ...c };
  }
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { name, kc, core: kc.makeApiClient(CoreV1Api), scheduling: kc.makeApiClient(SchedulingV1Api) };
}

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const ignore = (code: number) => (err: { code?: number }) => {
  if (err.code !== code) throw err;
};

export function newCorner(): Corner {
  const id = randomBytes(3).toString('hex');
  return { id, product: `NVIDIA-PREEMPT-TEST-${id.toUpperCase()}`, lentNamespace: `fl-pe-${id}`, providers: new Map() };
}

/** 8-GPU KWOK nodes of the corner's product in the cluster (kwok manages every node there). */
export function cornerNodes(corner: Corner, provider: string, count = 1): V1Node[] {
  return renderProviderNodes({
    name: provider,
    region: 'test',
    payoutAddress: '0x0000000000000000000000000000000000000001',
    prices: {},
    nodePools: [
      {
        name: 'gpu',
        count,
        cpu: '64',
        memory: '512Gi',
        gpu: { product: corner.product, memoryMiB: 81920, count: 8, family: 'hopper', compute: '9.0', machine: 'preempt-test' },
      },
    ],
  });
}

export function cornerNode(corner: Corner, provider: string): V1Node {
  return cornerNodes(corner, provider)[0] as V1Node;
}

/** Adds a provider to the corner: a node, the lent namespace and PriorityClass there, a GPUProvider in the hub. */
export async function addProvider(
  corner: Corner,
  opts: { name: string; cluster: ClusterRef; price: string; secretName?: string; nodes?: number; payoutAddress?: string },
): Promise<void> {
  const { cluster } = opts;
  const nodes = cornerNodes(corner, opts.name, opts.nodes);
  for (const body of nodes) await cluster.core.createNode({ body });
  const node = nodes[0] as V1Node;
  await cluster.core.createNamespace({ body: { metadata: { name: corner.lentNamespace } } }).catch(ignore(409));
  await cluster.scheduling.createPriorityClass({ body: { metadata: { name: 'flotilla-lent' }, value: -100, preemptionPolicy: 'Never' } }).catch(ignore(409));
  const manifest: GPUProviderManifest = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'GPUProvider',
    metadata: { name: opts.name, labels: { 'flotilla.dev/test': corner.id } },
    spec: {
      kubeconfigSecretRef: { name: opts.secretName ?? kubeconfigSecretName(cluster.name), namespace: HUB_OPERATOR_NAMESPACE, key: 'kubeconfig' },
      namespace: corner.lentNamespace,
      region: 'test',
      payoutAddress: opts.payoutAddress ?? '0x00000000000000000000000000000000000000aa',
      prices: [{ gpuProduct: corner.product, pricePerGpuHour: opts.price }],
      priorityClassName: 'flotilla-lent',
    },
  };
  await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, body: manifest });
  corner.providers.set(opts.name, { cluster, node: node.metadata?.name ?? '', nodes: nodes.map((n) => n.metadata?.name ?? '') });
}

export async function removeCorner(corner: Corner): Promise<void> {
  for (const [name, { cluster, nodes }] of corner.providers) {
    await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name }).catch(() => undefined);
    for (const node of nodes) await cluster.core.deleteNode({ name: node }).catch(() => undefined);
    await cluster.core.deleteNamespace({ name: corner.lentNamespace }).catch(() => undefined);
  }
}

/** Waits until the node exists again with Ready=True (after a test deleted or broke it). */
export async function restoreNode(corner: Corner, provider: string): Promise<void> {
  const { cluster, node } =
    corner.providers.get(provider) ??
    (() => {
      throw new Error(`no provider ${provider}`);
    })();
  const body = cornerNode(corner, provider);
  await cluster.core.createNode({ body }).catch(ignore(409));
  await cluster.core
    .patchNode({ name: node, body: [{ op: 'replace', path: '/spec/taints', value: [] }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch))
    .catch(() => undefined);
  await pollUntil(
    `node ${node} Ready`,
    () => cluster.core.readNode({ name: node }),
    (n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    60_000,
    250,
  );
}

/** A long-running single-replica job of the corner's product that checkpoints every second. */
export function cornerJob(
  corner: Corner,
  namespace: string,
  name: string,
  over: { maxRestarts?: number; gpus?: number; checkpointSeconds?: number } = {},
): AIJobManifest {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'AIJob',
    metadata: { name, namespace },
    spec: {
      image: 'registry.example/trainer@sha256:' + 'b'.repeat(64),
      replicas: 1,
      resources: { gpus: over.gpus ?? 8 },
      gpu: { products: [corner.product] },
      checkpoint: { path: '/ckpt', every: '30s' },
      recovery: { maxRestarts: over.maxRestarts ?? 3 },
      podAnnotations: { 'sim.flotilla.dev/run-seconds': '3600', 'sim.flotilla.dev/checkpoint-seconds': String(over.checkpointSeconds ?? 1) },
    },
  } as AIJobManifest;
}

export async function createJob(manifest: AIJobManifest): Promise<void> {
  await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: manifest.metadata.namespace ?? '', body: manifest });
}

export async function deleteJob(namespace: string, name: string): Promise<void> {
  await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace, name }).catch(ignore(404));
  await pollUntil(
    `AIJob ${namespace}/${name} gone`,
    () => readAIJob(namespace, name),
    (j) => j === undefined,
    120_000,
    250,
  );
}

export function waitJob(namespace: string, name: string, what: string, done: (job: AIJob) => boolean, timeoutMs = 60_000): Promise<AIJob> {
  return pollUntil(
    `${namespace}/${name}: ${what}`,
    () => readAIJob(namespace, name),
    (j) => j !== undefined && done(j),
    timeoutMs,
    100,
  ) as Promise<AIJob>;
}

/** The job's pods in the provider's lent namespace. */
export async function jobPods(corner: Corner, provider: string, uid: string): Promise<V1Pod[]> {
  const { cluster } =
    corner.providers.get(provider) ??
    (() => {
      throw new Error(`no provider ${provider}`);
    })();
  return (await cluster.core.listNamespacedPod({ namespace: corner.lentNamespace, labelSelector: `flotilla.dev/job-uid=${uid}` })).items;
}

export const envOf = (pod: V1Pod, name: string) => pod.spec?.containers[0]?.env?.find((e) => e.name === name)?.value;

/** Event reasons of the job once `expected` are all there (Events are recorded asynchronously). */
export async function jobEventReasons(namespace: string, name: string, expected: string[] = []): Promise<string[]> {
  return pollUntil(
    `Events ${expected.join(', ')} of ${name}`,
    async () => {
      const events = await hub.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
      return events.items.map((e) => e.reason ?? '');
    },
    (reasons) => expected.every((r) => reasons.includes(r)),
    15_000,
  );
}

/**
 * Waits until every named GPUProvider is Ready and `operator` — the one that will place the test's
 * jobs — has a usable connection to it with at least `freeGpus` of the corner's product free on
 * usable nodes, as its own
 * /metrics say. The GPUProvider status alone is not enough: every leader on the hub writes it, so it
 * may show another suite's operator's view while this one's first list of the provider is still out
 * (a job created in that gap was placed on a dearer provider).
 */
export async function waitProvidersReady(corner: Corner, names: readonly string[], operator: OperatorProcess, freeGpus = 8, timeoutMs = 90_000): Promise<void> {
  for (const name of names) {
    await pollUntil(
      `GPUProvider ${name} Ready`,
      () =>
        custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name }) as Promise<{
          status?: { conditions?: Array<{ type: string; status: string }> };
        }>,
      (p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      timeoutMs,
      250,
    );
  }
  const metrics = `${await operator.httpUrl()}/metrics`;
  const gauge = (text: string, series: string) =>
    Number(
      text
        .split('\n')
        .find((l) => l.startsWith(`${series} `))
        ?.split(' ')[1] ?? 'NaN',
    );
  await pollUntil(
    `the operator's own view: ${names.join(', ')} usable with ${freeGpus} free ${corner.product} each`,
    () =>
      fetch(metrics)
        .then((r) => r.text())
        .catch(() => ''),
    (text) =>
      names.every(
        (p) =>
          gauge(text, `flotilla_provider_ready{provider="${p}"}`) === 1 &&
          gauge(text, `flotilla_provider_free_gpus{provider="${p}",product="${corner.product}"}`) >= freeGpus,
      ),
    timeoutMs,
    250,
  );
}
