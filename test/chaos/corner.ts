// A private corner of the federation for one chaos suite: its own GPU product and KWOK nodes on
// the federation's provider clusters, its own GPUProviders (random payout addresses, so the chain's
// credits are this suite's alone), its own lent namespace, hub namespace, operator and payer.
// Jobs of other suites never ask for the product, so nothing here touches their work, and the
// oracle (oracle.ts) can demand exact balances.
import { randomBytes } from 'node:crypto';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { Contract, JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { loadArtifact } from '../../contracts/artifacts.ts';
import { chainEnv } from '../../federation/chain-contracts.ts';
import type { FederationChain } from '../../federation/chain-contracts.ts';
import { isHealthy } from '../../federation/federation.ts';
import { renderProviderNodes } from '../../federation/fleet.ts';
import { kubeconfigSecretName } from '../../federation/register.ts';
import { GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob, AIJobManifest, GPUProviderManifest } from '../../operator/api/types.ts';
import { toBaseUnits } from '../../operator/core/money.ts';
import { loadChainConfig } from '../../operator/payments/chain-config.ts';
import { fundJob } from '../../operator/payments/fund.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil } from '../support/federation.ts';
import type { ClusterClients } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { declarePayers } from '../payments/payments-fixture.ts';

export const HUB_OPERATOR_NAMESPACE = 'flotilla-system';
/** Price of the corner's product: 3.6 USDC per GPU-hour = 1000 base units per GPU-second. */
export const PRICE = '3.6';
const ignore = (code: number) => (err: { code?: number }) => {
  if (err.code !== code) throw err;
};

/** How many times the randomised scenarios repeat (make chaos sets more; make test runs 1). */
export const CHAOS_RUNS = Math.max(1, Number(process.env.FLOTILLA_CHAOS_RUNS ?? '1') || 1);

export interface CornerProvider {
  /** GPUProvider name in the hub. */
  readonly name: string;
  /** Federation cluster name (provider-a, …) or a cluster of the test's own. */
  readonly cluster: string;
  readonly clients: ClusterClients;
  readonly nodes: string[];
  readonly payoutAddress: string;
}

export interface Corner {
  readonly id: string;
  readonly product: string;
  /** Hub namespace of the suite's AIJobs (its operator watches only this one). */
  readonly namespace: string;
  /** Namespace lent at every provider. */
  readonly lentNamespace: string;
  readonly providers: CornerProvider[];
  readonly hub: ClusterClients;
  readonly custom: CustomObjectsApi;
}

export interface CornerOptions {
  /** Federation provider clusters to take nodes in (default provider-a and provider-b). */
  readonly clusters?: readonly string[];
  readonly nodesPerProvider?: number;
  /** Clusters of the test's own: name → kubeconfig clients and the hub Secret holding its kubeconfig. */
  readonly ownClusters?: ReadonlyArray<{ readonly cluster: string; readonly clients: ClusterClients; readonly secretName: string; readonly price?: string }>;
}

export async function openCorner(opts: CornerOptions = {}): Promise<Corner> {
  const id = randomBytes(3).toString('hex');
  const hub = clusterClients('hub');
  const custom = hub.kc.makeApiClient(CustomObjectsApi);
  const namespace = await createNamespace(hub.core, `t-chaos-${id}`);
  // The chaos operators settle on chain: unpaid jobs run only where the namespace allows them.
  await declarePayers(hub.core, namespace, [], { allowUnpaid: true });
  const corner: Corner = { id, product: `NVIDIA-CHAOS-${id.toUpperCase()}`, namespace, lentNamespace: `fl-chaos-${id}`, providers: [], hub, custom };
  const targets = [
    ...(opts.clusters ?? ['provider-a', 'provider-b']).map((cluster) => ({
      cluster,
      clients: clusterClients(cluster),
      secretName: kubeconfigSecretName(cluster),
    })),
    ...(opts.ownClusters ?? []),
  ];
  for (const [i, t] of targets.entries()) {
    await addCornerProvider(corner, { name: `chaos-${id}-${String.fromCharCode(97 + i)}`, ...t, nodes: opts.nodesPerProvider ?? 2 });
  }
  return corner;
}

export async function addCornerProvider(
  corner: Corner,
  p: { name: string; cluster: string; clients: ClusterClients; secretName: string; nodes: number; price?: string },
): Promise<CornerProvider> {
  const rendered = renderProviderNodes({
    name: p.name,
    region: 'chaos',
    payoutAddress: '0x0000000000000000000000000000000000000001',
    prices: {},
    nodePools: [
      {
        name: 'gpu',
        count: p.nodes,
        cpu: '64',
        memory: '512Gi',
        gpu: { product: corner.product, memoryMiB: 81920, count: 8, family: 'hopper', compute: '9.0', machine: 'chaos' },
      },
    ],
  });
  for (const body of rendered) await p.clients.core.createNode({ body }).catch(ignore(409));
  await p.clients.core.createNamespace({ body: { metadata: { name: corner.lentNamespace } } }).catch(ignore(409));
  await p.clients.scheduling.createPriorityClass({ body: { metadata: { name: 'flotilla-lent' }, value: -100, preemptionPolicy: 'Never' } }).catch(ignore(409));
  const payoutAddress = Wallet.createRandom().address;
  const manifest: GPUProviderManifest = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'GPUProvider',
    metadata: { name: p.name, labels: { 'flotilla.dev/test': `chaos-${corner.id}` } },
    spec: {
      kubeconfigSecretRef: { name: p.secretName, namespace: HUB_OPERATOR_NAMESPACE, key: 'kubeconfig' },
      namespace: corner.lentNamespace,
      region: 'chaos',
      payoutAddress,
      prices: [{ gpuProduct: corner.product, pricePerGpuHour: p.price ?? PRICE }],
      priorityClassName: 'flotilla-lent',
    },
  };
  await corner.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, body: manifest });
  const provider: CornerProvider = { name: p.name, cluster: p.cluster, clients: p.clients, nodes: rendered.map((n) => n.metadata?.name ?? ''), payoutAddress };
  corner.providers.push(provider);
  return provider;
}

/** Deletes the corner's jobs (with an operator still running), GPUProviders, nodes and namespaces. */
export async function closeCorner(corner: Corner): Promise<void> {
  for (const p of corner.providers) {
    await corner.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: p.name }).catch(() => undefined);
    for (const node of p.nodes) await p.clients.core.deleteNode({ name: node }).catch(() => undefined);
    await p.clients.core.deleteNamespace({ name: corner.lentNamespace }).catch(() => undefined);
  }
  await deleteNamespace(corner.hub.core, corner.namespace);
}

export interface ChaosJobOptions {
  readonly runSeconds?: number;
  readonly gpus?: number;
  readonly replicas?: number;
  /** USDC deposited and settled (maxAmount); absent: unpaid. */
  readonly paid?: string;
  readonly pin?: boolean;
  readonly checkpointSeconds?: number;
  readonly maxRestarts?: number;
}

export function chaosJob(corner: Corner, name: string, o: ChaosJobOptions = {}): AIJobManifest {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'AIJob',
    metadata: { name, namespace: corner.namespace },
    spec: {
      image: 'registry.example/trainer@sha256:' + 'c'.repeat(64),
      replicas: o.replicas ?? 1,
      resources: { gpus: o.gpus ?? 2 },
      gpu: { products: [corner.product] },
      output: { path: '/flotilla/output', pin: o.pin ?? true },
      ...(o.checkpointSeconds ? { checkpoint: { path: '/flotilla/checkpoints', every: '30s' } } : {}),
      ...(o.paid ? { payment: { token: 'USDC', maxAmount: o.paid } } : {}),
      recovery: { maxRestarts: o.maxRestarts ?? 3, strategy: 'Failover' },
      podAnnotations: {
        'sim.flotilla.dev/run-seconds': String(o.runSeconds ?? 3),
        ...(o.checkpointSeconds ? { 'sim.flotilla.dev/checkpoint-seconds': String(o.checkpointSeconds) } : {}),
      },
    },
  } as AIJobManifest;
}

export async function createJobs(corner: Corner, manifests: readonly AIJobManifest[]): Promise<AIJob[]> {
  return Promise.all(
    manifests.map(
      async (body) =>
        (await corner.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: corner.namespace, body })) as AIJob,
    ),
  );
}

export async function listJobs(corner: Corner): Promise<AIJob[]> {
  return (
    (await corner.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: corner.namespace })) as { items: AIJob[] }
  ).items;
}

/** The federation's chain as the operator and the oracle see it. */
export function federationChainOf(): { rpcUrl: string; chainId: number; chain: FederationChain } {
  const ep = federation();
  if (!ep.chain) throw new Error('the federation has no contracts deployed (federation up deploys them)');
  return { rpcUrl: ep.anvil.rpcUrl, chainId: ep.anvil.chainId, chain: ep.chain };
}

/** The operator environment of the chaos suites: payments on the federation's chain, pins on the hub's Kubo. */
export function chaosOperatorEnv(extra: Record<string, string> = {}): Record<string, string> {
  const ep = federation();
  const c = federationChainOf();
  return {
    ...chainEnv({ rpcUrl: c.rpcUrl, chainId: c.chainId }, c.chain),
    FLOTILLA_CHAIN_POLL_MS: '1000',
    FLOTILLA_CHAIN_TIMEOUT_MS: '3000',
    FLOTILLA_SETTLEMENT_BATCH_MS: '300',
    FLOTILLA_KUBO_API: ep.kubo.hub.api,
    FLOTILLA_PIN_TIMEOUT_MS: '20000',
    ...extra,
  };
}

export function startChaosOperator(corner: Corner, extra: Record<string, string> = {}): OperatorProcess {
  return startOperator(corner.namespace, chaosOperatorEnv(extra));
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A payer of the suite's own: a random key given ETH with anvil's setBalance and test USDC with the
 * token's open mint, so no dev account is shared with other suites (their nonces stay theirs).
 */
export class Payer {
  readonly wallet: Wallet;
  private readonly provider: JsonRpcProvider;
  private readonly c = federationChainOf();

  constructor() {
    this.provider = new JsonRpcProvider(this.c.rpcUrl, this.c.chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 100 });
    this.wallet = new Wallet(Wallet.createRandom().privateKey, this.provider);
  }

  async prepare(usdc: string): Promise<void> {
    await this.provider.send('anvil_setBalance', [this.wallet.address, '0x56BC75E2D63100000']);
    const token = new Contract(this.c.chain.tokens[0]?.address ?? '', loadArtifact('TestStablecoin').abi, new NonceManager(this.wallet));
    const tx = await token.getFunction('mint')(this.wallet.address, toBaseUnits(usdc, 6));
    await tx.wait();
  }

  /** Deposits each job's maxAmount, one after another (one key, one nonce sequence). */
  async fund(corner: Corner, names: readonly string[]): Promise<void> {
    const chain = loadChainConfig(chaosOperatorEnv());
    if (!chain) throw new Error('no chain config');
    // Only a payer the namespace declares funds its jobs.
    await declarePayers(corner.hub.core, corner.namespace, [this.wallet.address], { allowUnpaid: true });
    for (const name of names) await fundJob({ hub: corner.hub.kc, namespace: corner.namespace, name, chain, payerKey: this.wallet.privateKey });
  }

  destroy(): void {
    this.provider.destroy();
  }
}

/** The federation still answers everywhere (every chaos test ends with this: it must leave it healthy). */
export async function assertFederationHealthy(timeoutMs = 180_000): Promise<void> {
  await pollUntil(
    'the federation healthy again',
    () => isHealthy(federation()),
    (ok) => ok,
    timeoutMs,
    500,
  );
}

/** Deletes every job of the corner and waits until they are gone (an operator must be running: finalizers). */
export async function deleteAllJobs(corner: Corner, timeoutMs = 120_000): Promise<void> {
  for (const job of await listJobs(corner)) {
    await corner.custom
      .deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: corner.namespace, name: job.metadata.name ?? '' })
      .catch(ignore(404));
  }
  await pollUntil(
    `every AIJob of ${corner.namespace} gone`,
    () => listJobs(corner),
    (jobs) => jobs.length === 0,
    timeoutMs,
    500,
  );
}

/**
 * The end of every chaos suite: a clean operator (with `env`) deletes the corner's jobs — finalizers
 * need one — then the corner goes, the payer's provider is closed, and the federation must answer.
 */
export async function tearDownCorner(corner: Corner, opts: { env?: Record<string, string>; payer?: Payer; timeoutMs?: number } = {}): Promise<void> {
  const op = startChaosOperator(corner, opts.env ?? {});
  await deleteAllJobs(corner, opts.timeoutMs).catch(() => undefined);
  await op.stop();
  await closeCorner(corner);
  opts.payer?.destroy();
}

/** Waits until the process has exited; returns false when it is still alive after `timeoutMs`. */
export async function waitExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return !isAlive(pid);
}

/**
 * Plays the Deployment: restarts the operator whenever it exits (a leader that cannot renew its
 * lease exits on purpose), until stopped.
 */
export class Supervisor {
  current: OperatorProcess;
  restarts = 0;
  private stopped = false;
  private readonly loop: Promise<void>;
  private readonly corner: Corner;
  private readonly env: Record<string, string>;

  constructor(corner: Corner, env: Record<string, string> = {}) {
    this.corner = corner;
    this.env = env;
    this.current = startChaosOperator(corner, env);
    this.loop = this.keepRunning();
  }

  private async keepRunning(): Promise<void> {
    while (!this.stopped) {
      await new Promise((r) => setTimeout(r, 250));
      if (!this.stopped && !isAlive(this.current.pid)) {
        this.restarts++;
        this.current = startChaosOperator(this.corner, this.env);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.current.stop();
  }
}
