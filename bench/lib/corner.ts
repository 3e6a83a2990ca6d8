// A private corner of the local federation for the dispatch benchmark (after
// test/support/preemption-corner.ts): its own GPU product, its own KWOK nodes in existing provider
// clusters, its own lent namespace there and its own GPUProviders in the hub. Nothing of anyone
// else's asks for the product, so the benchmark disturbs no other suite and no other suite's jobs
// land on its nodes. Everything it creates is removed by removeCorner().
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, KubeConfig, SchedulingV1Api } from '@kubernetes/client-node';
import type { V1Node } from '@kubernetes/client-node';
import { renderProviderNodes } from '../../federation/fleet.ts';
import { LENT_PRIORITY_CLASS, LENT_PRIORITY_VALUE, OPERATOR_NAMESPACE, kubeconfigSecretName } from '../../federation/register.ts';
import { GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import type { GPUProvider, GPUProviderManifest } from '../../operator/api/types.ts';
import { federation, pollUntil } from '../../test/support/federation.ts';

export interface CornerCluster {
  /** The federation's cluster (provider-a, …). */
  readonly cluster: string;
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  /** The corner's GPUProvider in the hub for this cluster. */
  readonly provider: string;
  readonly nodes: readonly string[];
}

export interface Corner {
  readonly id: string;
  readonly product: string;
  readonly lentNamespace: string;
  readonly hubNamespace: string;
  readonly clusters: CornerCluster[];
}

export interface CornerOptions {
  /** Federation provider clusters to use, e.g. provider-a, provider-b, provider-c. */
  readonly clusters: readonly string[];
  readonly nodesPerCluster: number;
  readonly gpusPerNode: number;
  readonly pricePerGpuHour: string;
  /** Prefix of every name (hub namespace, GPUProviders, nodes). */
  readonly prefix: string;
}

const ignore = (code: number) => (err: { code?: number }) => {
  if (err.code !== code) throw err;
};

/** An admin client of a federation cluster (no client-side limit: setup and observation only). */
export function adminConfig(cluster: string): KubeConfig {
  const ep = federation();
  const c = cluster === 'hub' ? ep.hub : ep.providers.find((p) => p.name === cluster);
  if (!c) throw new Error(`no cluster named ${cluster} in the federation`);
  const kc = new KubeConfig();
  kc.loadFromFile(c.kubeconfig);
  return kc;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function newCorner(prefix: string): { id: string; product: string; lentNamespace: string; hubNamespace: string } {
  const id = randomBytes(3).toString('hex');
  return { id, product: `NVIDIA-BENCH-${id.toUpperCase()}`, lentNamespace: `fl-${prefix}-${id}`, hubNamespace: `${prefix}-${id}` };
}

function nodesOf(provider: string, product: string, opts: CornerOptions): V1Node[] {
  return renderProviderNodes({
    name: provider,
    region: 'bench',
    payoutAddress: '0x0000000000000000000000000000000000000001',
    prices: {},
    nodePools: [
      {
        name: 'gpu',
        count: opts.nodesPerCluster,
        cpu: '64',
        memory: '512Gi',
        gpu: { product, memoryMiB: 81920, count: opts.gpusPerNode, family: 'hopper', compute: '9.0', machine: 'bench' },
      },
    ],
  });
}

/** Creates the corner: hub namespace, per cluster the nodes, lent namespace, PriorityClass and a GPUProvider. */
export async function createCorner(opts: CornerOptions, log: (line: string) => void = () => undefined): Promise<Corner> {
  const { id, product, lentNamespace, hubNamespace } = newCorner(opts.prefix);
  const hubKc = adminConfig('hub');
  const hubCore = hubKc.makeApiClient(CoreV1Api);
  const custom = hubKc.makeApiClient(CustomObjectsApi);
  const corner: Corner = { id, product, lentNamespace, hubNamespace, clusters: [] };
  await hubCore.createNamespace({ body: { metadata: { name: hubNamespace, labels: { 'flotilla.dev/bench': id } } } });
  for (const cluster of opts.clusters) {
    const kc = adminConfig(cluster);
    const core = kc.makeApiClient(CoreV1Api);
    const provider = `${opts.prefix}-${id}-${cluster.replace(/^provider-/, '')}`;
    const nodes = nodesOf(provider, product, opts);
    corner.clusters.push({ cluster, kc, core, provider, nodes: nodes.map((n) => n.metadata?.name ?? '') });
    await core.createNamespace({ body: { metadata: { name: lentNamespace, labels: { 'flotilla.dev/bench': id } } } });
    await kc
      .makeApiClient(SchedulingV1Api)
      .createPriorityClass({ body: { metadata: { name: LENT_PRIORITY_CLASS }, value: LENT_PRIORITY_VALUE, preemptionPolicy: 'Never' } })
      .catch(ignore(409));
    await inParallel(nodes, 8, async (body) => {
      await core.createNode({ body });
    });
    const manifest: GPUProviderManifest = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'GPUProvider',
      metadata: { name: provider, labels: { 'flotilla.dev/bench': id } },
      spec: {
        kubeconfigSecretRef: { name: kubeconfigSecretName(cluster), namespace: OPERATOR_NAMESPACE, key: 'kubeconfig' },
        namespace: lentNamespace,
        region: 'bench',
        payoutAddress: '0x00000000000000000000000000000000000000bb',
        prices: [{ gpuProduct: product, pricePerGpuHour: opts.pricePerGpuHour }],
        priorityClassName: LENT_PRIORITY_CLASS,
      },
    };
    await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, body: manifest });
    log(`  ${cluster}: ${nodes.length} nodes × ${opts.gpusPerNode} GPUs, GPUProvider ${provider}, namespace ${lentNamespace}`);
  }
  // KWOK marks its nodes Ready within a heartbeat; wait so neither run starts on a half-made fleet.
  for (const c of corner.clusters) {
    await pollUntil(
      `${c.cluster}: the corner's nodes Ready`,
      async () => {
        const list = await c.core.listNode({ labelSelector: `nvidia.com/gpu.product=${product}` });
        return list.items.filter((n) => n.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')).length;
      },
      (n) => n >= c.nodes.length,
      180_000,
      1000,
    );
  }
  return corner;
}

/** The corner's GPUProviders as the hub has them (status is written by whichever operator connects). */
export async function cornerProviders(corner: Corner): Promise<GPUProvider[]> {
  const custom = adminConfig('hub').makeApiClient(CustomObjectsApi);
  return Promise.all(
    corner.clusters.map(
      async (c) => (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: c.provider })) as GPUProvider,
    ),
  );
}

/** Deletes the GPUProviders, nodes, lent namespaces and the hub namespace; waits for the namespaces to go. */
export async function removeCorner(corner: Corner, log: (line: string) => void = () => undefined): Promise<void> {
  const hubKc = adminConfig('hub');
  const custom = hubKc.makeApiClient(CustomObjectsApi);
  const hubCore = hubKc.makeApiClient(CoreV1Api);
  for (const c of corner.clusters) {
    await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: c.provider }).catch(ignore(404));
    await c.core.deleteNamespace({ name: corner.lentNamespace }).catch(ignore(404));
    await inParallel(c.nodes, 8, async (name) => {
      await c.core.deleteNode({ name }).catch(ignore(404));
    });
  }
  await hubCore.deleteNamespace({ name: corner.hubNamespace }).catch(ignore(404));
  const gone = async (core: CoreV1Api, name: string) =>
    core.readNamespace({ name }).then(
      () => false,
      (err: { code?: number }) => err.code === 404,
    );
  for (const c of corner.clusters)
    await pollUntil(
      `${c.cluster}: namespace ${corner.lentNamespace} gone`,
      () => gone(c.core, corner.lentNamespace),
      (g) => g,
      180_000,
      1000,
    );
  await pollUntil(
    `hub: namespace ${corner.hubNamespace} gone`,
    () => gone(hubCore, corner.hubNamespace),
    (g) => g,
    180_000,
    1000,
  );
  log(`  removed corner ${corner.id}: ${corner.clusters.reduce((n, c) => n + c.nodes.length, 0)} nodes, ${corner.clusters.length} GPUProviders, namespaces`);
}
