// A private corner of the local federation, for the suites and benchmarks that must not touch anyone
// else's work (preemption, verification, chaos, dispatch): its own GPU product, its own KWOK nodes
// of it on provider clusters (the federation's, or a cluster of the test's own), its own lent
// namespace there, its own GPUProviders in the hub — each with a payout address of its own, so the
// escrow's credits to it are the corner's alone — and, when asked, its own hub namespace for jobs.
// Jobs of other suites never ask for the product, so nothing here touches their work and no one
// else's job lands on its nodes. removeCorner() removes everything it made.
//
// Two ways in: newCorner() + addProvider() per provider (the test names them), or openCorner(),
// which makes the hub namespace and one provider per cluster, named <prefix>-<id>-a, -b, …
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, SchedulingV1Api, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { Wallet } from 'ethers';
import { renderProviderNodes } from '../../federation/fleet.ts';
import { LENT_PRIORITY_CLASS, LENT_PRIORITY_VALUE, OPERATOR_NAMESPACE, kubeconfigSecretName } from '../../federation/register.ts';
import { AIJOB, GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import { FENCE_CONFIGMAP } from '../../operator/core/fence.ts';
import type { AIJob, AIJobManifest, GPUProvider, GPUProviderManifest } from '../../operator/api/types.ts';
import { aijobManifest } from './aijob.ts';
import { clusterClients, pollUntil, readAIJob } from './federation.ts';
import type { ClusterClients } from './federation.ts';
import type { OperatorProcess } from './operator.ts';
import { inParallel } from './parallel.ts';

/** Where the hub's operator reads provider kubeconfig Secrets. */
export const HUB_OPERATOR_NAMESPACE = OPERATOR_NAMESPACE;
/** Label on everything the corner makes in the clusters and the hub: the corner's id. */
export const CORNER_LABEL = 'flotilla.dev/corner';

/** A cluster by name with admin clients. */
export interface ClusterRef extends ClusterClients {
  readonly name: string;
}

/** A federation cluster (provider-a, …, hub), or a cluster of the test's own from its kubeconfig. */
export function clusterRef(name: string, kubeconfig?: string): ClusterRef {
  if (!kubeconfig) return { name, ...clusterClients(name) };
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { name, kc, core: kc.makeApiClient(CoreV1Api), scheduling: kc.makeApiClient(SchedulingV1Api) };
}

export interface CornerProvider {
  /** GPUProvider name in the hub. */
  readonly name: string;
  readonly cluster: ClusterRef;
  /** The first of its nodes. */
  readonly node: string;
  readonly nodes: readonly string[];
  readonly payoutAddress: string;
}

export interface Corner {
  readonly id: string;
  readonly prefix: string;
  readonly product: string;
  /** Namespace lent at every provider of the corner. */
  readonly lentNamespace: string;
  /** Hub namespace of the corner's jobs, when openCorner made one (newCorner's tests bring their own). */
  readonly hubNamespace?: string;
  readonly hub: ClusterRef;
  readonly custom: CustomObjectsApi;
  /** GPUProvider name → provider, in the order they were added. */
  readonly providers: Map<string, CornerProvider>;
}

/** A corner made by openCorner: it has a hub namespace. */
export type OpenCorner = Corner & { readonly hubNamespace: string };

const ignore = (code: number) => (err: { code?: number }) => {
  if (err.code !== code) throw err;
};

let hubClients: { hub: ClusterRef; custom: CustomObjectsApi } | undefined;
/** The hub's clients, made on first use (a benchmark's --help needs no federation). */
function hubOf(): { hub: ClusterRef; custom: CustomObjectsApi } {
  if (!hubClients) {
    const hub = clusterRef('hub');
    hubClients = { hub, custom: hub.kc.makeApiClient(CustomObjectsApi) };
  }
  return hubClients;
}

/**
 * A corner with nothing in it yet: product NVIDIA-<PREFIX>-<ID>, lent namespace fl-<prefix>-<id>.
 * The prefix says whose corner it is (pe: preemption tests, chaos, a benchmark's name).
 */
export function newCorner(prefix = 'pe'): Corner {
  const id = randomBytes(3).toString('hex');
  return { id, prefix, product: `NVIDIA-${prefix.toUpperCase()}-${id.toUpperCase()}`, lentNamespace: `fl-${prefix}-${id}`, ...hubOf(), providers: new Map() };
}

/** `count` KWOK nodes of the corner's product, `gpus` GPUs each, named after the provider (kwok manages every node of its cluster). */
export function cornerNodes(corner: Corner, provider: string, count = 1, gpus = 8): V1Node[] {
  return renderProviderNodes({
    name: provider,
    region: corner.prefix,
    payoutAddress: '0x0000000000000000000000000000000000000001',
    prices: {},
    nodePools: [
      {
        name: 'gpu',
        count,
        cpu: '64',
        memory: '512Gi',
        gpu: { product: corner.product, memoryMiB: 81920, count: gpus, family: 'hopper', compute: '9.0', machine: corner.prefix },
      },
    ],
  });
}

export interface ProviderOptions {
  /** GPUProvider name. */
  readonly name: string;
  readonly cluster: ClusterRef;
  /** Price per GPU-hour of the corner's product. */
  readonly price: string;
  /** Hub Secret with the cluster's kubeconfig (default: the federation's for that cluster). */
  readonly secretName?: string;
  readonly nodes?: number;
  readonly gpusPerNode?: number;
  /** Default: a fresh random address, so the provider's credit in the escrow is its alone. */
  readonly payoutAddress?: string;
}

/** Adds a provider: its nodes, the lent namespace (with the fence's ConfigMap) and PriorityClass in its cluster, its GPUProvider in the hub. */
export async function addProvider(corner: Corner, opts: ProviderOptions): Promise<CornerProvider> {
  const { cluster } = opts;
  const nodes = cornerNodes(corner, opts.name, opts.nodes, opts.gpusPerNode);
  const labels = { [CORNER_LABEL]: corner.id };
  await inParallel(nodes, 8, async (body) => {
    await cluster.core.createNode({ body }).catch(ignore(409));
  });
  await cluster.core.createNamespace({ body: { metadata: { name: corner.lentNamespace, labels } } }).catch(ignore(409));
  // The fence's ConfigMap, as the provider chart makes it (the federation bound its policy in every namespace that has one).
  await cluster.core.createNamespacedConfigMap({ namespace: corner.lentNamespace, body: { metadata: { name: FENCE_CONFIGMAP, labels } } }).catch(ignore(409));
  await cluster.scheduling
    .createPriorityClass({ body: { metadata: { name: LENT_PRIORITY_CLASS }, value: LENT_PRIORITY_VALUE, preemptionPolicy: 'Never' } })
    .catch(ignore(409));
  const payoutAddress = opts.payoutAddress ?? Wallet.createRandom().address;
  const manifest: GPUProviderManifest = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'GPUProvider',
    metadata: { name: opts.name, labels },
    spec: {
      kubeconfigSecretRef: { name: opts.secretName ?? kubeconfigSecretName(cluster.name), namespace: HUB_OPERATOR_NAMESPACE, key: 'kubeconfig' },
      namespace: corner.lentNamespace,
      region: corner.prefix,
      payoutAddress,
      prices: [{ gpuProduct: corner.product, pricePerGpuHour: opts.price }],
      priorityClassName: LENT_PRIORITY_CLASS,
    },
  };
  await corner.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, body: manifest });
  const names = nodes.map((n) => n.metadata?.name ?? '');
  const provider: CornerProvider = { name: opts.name, cluster, node: names[0] ?? '', nodes: names, payoutAddress };
  corner.providers.set(opts.name, provider);
  return provider;
}

export interface OpenCornerOptions {
  /** Names: see newCorner; the hub namespace is <hubPrefix>-<id> (default <prefix>-<id>). */
  readonly prefix: string;
  readonly hubPrefix?: string;
  /**
   * One provider in each: a federation cluster by name, or a cluster of the test's own with the hub
   * Secret of its kubeconfig (and a price of its own). Default provider-a and provider-b.
   */
  readonly clusters?: ReadonlyArray<string | { readonly cluster: ClusterRef; readonly secretName: string; readonly price?: string }>;
  readonly nodesPerProvider?: number;
  readonly gpusPerNode?: number;
  readonly price: string;
  /** Wait until every node of the corner is Ready (a benchmark must not start on a half-made fleet). */
  readonly waitReady?: boolean;
  readonly log?: (line: string) => void;
}

/** A corner with a hub namespace and one provider per cluster, named <prefix>-<id>-a, -b, … in order. */
export async function openCorner(opts: OpenCornerOptions): Promise<OpenCorner> {
  const base = newCorner(opts.prefix);
  const corner: OpenCorner = { ...base, hubNamespace: `${opts.hubPrefix ?? opts.prefix}-${base.id}` };
  await corner.hub.core.createNamespace({ body: { metadata: { name: corner.hubNamespace, labels: { [CORNER_LABEL]: corner.id } } } });
  for (const [i, c] of (opts.clusters ?? ['provider-a', 'provider-b']).entries()) {
    const own = typeof c === 'string' ? { cluster: clusterRef(c) } : c;
    const p = await addProvider(corner, {
      name: `${opts.prefix}-${corner.id}-${String.fromCharCode(97 + i)}`,
      cluster: own.cluster,
      price: ('price' in own ? own.price : undefined) ?? opts.price,
      ...('secretName' in own ? { secretName: own.secretName } : {}),
      ...(opts.nodesPerProvider !== undefined ? { nodes: opts.nodesPerProvider } : {}),
      ...(opts.gpusPerNode !== undefined ? { gpusPerNode: opts.gpusPerNode } : {}),
    });
    opts.log?.(`  ${p.cluster.name}: ${p.nodes.length} nodes × ${opts.gpusPerNode ?? 8} GPUs, GPUProvider ${p.name}, namespace ${corner.lentNamespace}`);
  }
  if (opts.waitReady) for (const p of corner.providers.values()) await waitNodesReady(corner, p.name);
  return corner;
}

const isReady = (n: V1Node): boolean => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Waits until every node of the provider is Ready (KWOK marks them within a heartbeat). */
export async function waitNodesReady(corner: Corner, provider: string, timeoutMs = 180_000): Promise<void> {
  const p = providerOf(corner, provider);
  await pollUntil(
    `${p.cluster.name}: the nodes of ${provider} Ready`,
    async () => {
      const list = await p.cluster.core.listNode({ labelSelector: `nvidia.com/gpu.product=${corner.product}` });
      return list.items.filter((n) => p.nodes.includes(n.metadata?.name ?? '') && isReady(n)).length;
    },
    (n) => n >= p.nodes.length,
    timeoutMs,
    1000,
  );
}

/**
 * Deletes the corner's GPUProviders, nodes, lent namespaces and hub namespace (jobs with finalizers
 * need an operator to go first). With `wait`, returns once the namespaces are gone.
 */
export async function removeCorner(corner: Corner, opts: { wait?: boolean; log?: (line: string) => void } = {}): Promise<void> {
  const clusters = new Map<string, ClusterRef>();
  for (const p of corner.providers.values()) {
    clusters.set(p.cluster.name, p.cluster);
    await corner.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: p.name }).catch(() => undefined);
    await inParallel(p.nodes, 8, async (name) => {
      await p.cluster.core.deleteNode({ name }).catch(() => undefined);
    });
  }
  for (const c of clusters.values()) await c.core.deleteNamespace({ name: corner.lentNamespace }).catch(() => undefined);
  if (corner.hubNamespace) await corner.hub.core.deleteNamespace({ name: corner.hubNamespace }).catch(() => undefined);
  if (opts.wait) {
    const gone = (c: ClusterRef, name: string) =>
      pollUntil(
        `${c.name}: namespace ${name} gone`,
        () =>
          c.core.readNamespace({ name }).then(
            () => false,
            (err: { code?: number }) => err.code === 404,
          ),
        (g) => g,
        180_000,
        1000,
      );
    for (const c of clusters.values()) await gone(c, corner.lentNamespace);
    if (corner.hubNamespace) await gone(corner.hub, corner.hubNamespace);
  }
  const nodes = [...corner.providers.values()].reduce((n, p) => n + p.nodes.length, 0);
  opts.log?.(`  removed corner ${corner.id}: ${nodes} nodes, ${corner.providers.size} GPUProviders, namespaces`);
}

/** The corner's provider by GPUProvider name; throws when there is none. */
export function providerOf(corner: Corner, name: string): CornerProvider {
  const p = corner.providers.get(name);
  if (!p) throw new Error(`no provider ${name} in corner ${corner.id}`);
  return p;
}

/** The corner's GPUProviders as the hub has them (status is written by whichever operator connects). */
export async function cornerProviders(corner: Corner): Promise<GPUProvider[]> {
  return Promise.all(
    [...corner.providers.keys()].map(
      async (name) => (await corner.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name })) as GPUProvider,
    ),
  );
}

/** Puts the provider's first node back, Ready and untainted (after a test deleted or broke it). */
export async function restoreNode(corner: Corner, provider: string): Promise<void> {
  const { cluster, node } = providerOf(corner, provider);
  const body = cornerNodes(corner, provider)[0] as V1Node;
  await cluster.core.createNode({ body }).catch(ignore(409));
  await cluster.core
    .patchNode({ name: node, body: [{ op: 'replace', path: '/spec/taints', value: [] }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch))
    .catch(() => undefined);
  await pollUntil(`node ${node} Ready`, () => cluster.core.readNode({ name: node }), isReady, 60_000, 250);
}

/** A long-running single-replica job of the corner's product (8 GPUs) that checkpoints every second. */
export function cornerJob(
  corner: Corner,
  namespace: string,
  name: string,
  over: { maxRestarts?: number; gpus?: number; checkpointSeconds?: number } = {},
): AIJobManifest {
  return aijobManifest({
    name,
    namespace,
    resources: { gpus: over.gpus ?? 8 },
    gpu: { products: [corner.product] },
    checkpoint: { path: '/ckpt', every: '30s' },
    recovery: { maxRestarts: over.maxRestarts ?? 3 },
    sim: { runSeconds: 3600, checkpointSeconds: over.checkpointSeconds ?? 1 },
  });
}

export async function createJob(manifest: AIJobManifest): Promise<AIJob> {
  const namespace = manifest.metadata.namespace ?? '';
  return (await hubOf().custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace, body: manifest })) as AIJob;
}

export async function listJobs(namespace: string): Promise<AIJob[]> {
  return ((await hubOf().custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace })) as { items: AIJob[] }).items;
}

/** Deletes the job and waits until it is gone (an operator must be running: finalizers). */
export async function deleteJob(namespace: string, name: string): Promise<void> {
  await hubOf().custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace, name }).catch(ignore(404));
  await pollUntil(
    `AIJob ${namespace}/${name} gone`,
    () => readAIJob(namespace, name),
    (j) => j === undefined,
    120_000,
    250,
  );
}

/** Deletes every job of the namespace and waits until they are gone (an operator must be running: finalizers). */
export async function deleteAllJobs(namespace: string, timeoutMs = 120_000): Promise<void> {
  for (const job of await listJobs(namespace)) {
    await hubOf()
      .custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace, name: job.metadata.name ?? '' })
      .catch(ignore(404));
  }
  await pollUntil(
    `every AIJob of ${namespace} gone`,
    () => listJobs(namespace),
    (jobs) => jobs.length === 0,
    timeoutMs,
    500,
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
  const { cluster } = providerOf(corner, provider);
  return (await cluster.core.listNamespacedPod({ namespace: corner.lentNamespace, labelSelector: `flotilla.dev/job-uid=${uid}` })).items;
}

export const envOf = (pod: V1Pod, name: string) => pod.spec?.containers[0]?.env?.find((e) => e.name === name)?.value;

/** Event reasons of the job once `expected` are all there (Events are recorded asynchronously). */
export async function jobEventReasons(namespace: string, name: string, expected: string[] = []): Promise<string[]> {
  return pollUntil(
    `Events ${expected.join(', ')} of ${name}`,
    async () => {
      const events = await hubOf().hub.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
      return events.items.map((e) => e.reason ?? '');
    },
    (reasons) => expected.every((r) => reasons.includes(r)),
    15_000,
  );
}

/**
 * Waits until every named GPUProvider is Ready and `operator` — the one that will place the test's
 * jobs — has a usable connection to it with at least `freeGpus` of the corner's product free on
 * usable nodes, as its own /metrics say. The GPUProvider status alone is not enough: every leader
 * on the hub writes it, so it may show another suite's operator's view while this one's first list
 * of the provider is still out (a job created in that gap was placed on a dearer provider).
 */
export async function waitProvidersReady(corner: Corner, names: readonly string[], operator: OperatorProcess, freeGpus = 8, timeoutMs = 90_000): Promise<void> {
  for (const name of names) {
    await pollUntil(
      `GPUProvider ${name} Ready`,
      () => corner.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name }) as Promise<GPUProvider>,
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
