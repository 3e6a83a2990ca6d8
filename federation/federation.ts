// The local federation: a hub cluster, N provider clusters with simulated GPU fleets, a Kubo pair,
// an anvil node and the simulated-workload executor — all real processes on loopback.
//
//   federationUp()    starts everything (clusters, Kubo and anvil in parallel), registers the GPU
//                     nodes, starts the executor, writes <state>/endpoints.json; reuses a healthy one
//                     (recreates one an older `up` made without what providers need now: outdatedParts)
//   federationDown()  stops every process it started and verifies that none is left
//
// The Makefile (`make federation-up/-down`), the demo and the integration tests all go through here.
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiextensionsV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { findCondition } from '../operator/core/conditions.ts';
import { ANVIL_CHAIN_ID, startAnvil } from './anvil.ts';
import { chainDeployed, deployFederationChain } from './chain-contracts.ts';
import type { FederationChain } from './chain-contracts.ts';
import { PROVIDER_KWOK_CRDS, createCluster, deleteCluster, existingClusters } from './clusters.ts';
import { daemonPid, daemonStartedAt, federationProcesses, isAlive, logDir, startDaemon, stopAllDaemons, stopDaemon, waitFor } from './daemon.ts';
import type { ExecutorConfig } from './executor.ts';
import { parseFleet, renderProviderNodes } from './fleet.ts';
import type { ProviderFleet } from './fleet.ts';
import { startKuboPair } from './kubo.ts';
import { installCrds, installProviderFence, prepareProviderCluster, registerProvider } from './register.ts';
import type { KuboEndpoint } from './kubo.ts';
import { assertToolsPresent, defaultStateDir, repoRoot, toolPaths } from './paths.ts';

/** A provider of the running federation: its fleet identity plus where to reach it. */
export interface ProviderEndpoint extends Pick<ProviderFleet, 'name' | 'region' | 'payoutAddress' | 'prices'> {
  readonly kubeconfig: string;
  readonly nodes: readonly string[];
}

export interface FederationEndpoints {
  readonly stateDir: string;
  readonly kubeVersion: string;
  readonly hub: { readonly name: 'hub'; readonly kubeconfig: string };
  readonly providers: readonly ProviderEndpoint[];
  readonly kubo: { readonly hub: KuboEndpoint; readonly provider: KuboEndpoint };
  readonly anvil: { readonly rpcUrl: string; readonly chainId: number };
  /** The escrow and test stablecoin deployed on anvil, and the settlement key file. */
  readonly chain?: FederationChain;
  readonly startedAt: string;
  readonly startSeconds: number;
}

export interface FederationOptions {
  readonly stateDir?: string;
  readonly fleetFile?: string;
  /** Progress lines for humans; long steps report as they go. */
  readonly progress?: (line: string) => void;
}

export const DEFAULT_FLEET = join(repoRoot, 'examples', 'federation', 'fleet.yaml');
const endpointsFile = (stateDir: string) => join(stateDir, 'endpoints.json');
const EXECUTOR = 'executor';

export function readEndpoints(stateDir = defaultStateDir()): FederationEndpoints | undefined {
  const file = endpointsFile(stateDir);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as FederationEndpoints) : undefined;
}

/** A federation is reusable when its endpoints are recorded and its daemons and apiservers answer. */
export async function isHealthy(ep: FederationEndpoints): Promise<boolean> {
  for (const name of ['kubo-hub', 'kubo-provider', 'anvil', EXECUTOR]) {
    const pid = daemonPid(ep.stateDir, name);
    if (pid === undefined || !isAlive(pid)) return false;
  }
  try {
    for (const cluster of [ep.hub, ...ep.providers]) await coreClient(cluster.kubeconfig).listNamespace({ limit: 1 });
    return true;
  } catch {
    return false;
  }
}

/**
 * What a healthy federation lacks that `up` creates today, one line each ([] when current). A
 * provider cluster gets its kwok CRDs only when kwokctl creates it (the kwok controller watches
 * them from its start), so a federation without them is recreated rather than patched.
 */
export async function outdatedParts(ep: FederationEndpoints): Promise<string[]> {
  const missing: string[] = [];
  for (const p of ep.providers) {
    const kc = new KubeConfig();
    kc.loadFromFile(p.kubeconfig);
    const crds = kc.makeApiClient(ApiextensionsV1Api);
    for (const [kind, crd] of Object.entries(PROVIDER_KWOK_CRDS)) {
      try {
        await crds.readCustomResourceDefinition({ name: crd });
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
        missing.push(`${p.name} has no kwok ${kind} CRD (${crd})`);
      }
    }
  }
  return missing;
}

export function coreClient(kubeconfig: string): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kc.makeApiClient(CoreV1Api);
}

const timed = async <T>(progress: (l: string) => void, label: string, work: () => Promise<T>): Promise<T> => {
  const t0 = Date.now();
  const result = await work();
  progress(`${label} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  return result;
};

async function registerNodes(provider: ProviderFleet, kubeconfig: string): Promise<string[]> {
  const core = coreClient(kubeconfig);
  const nodes = renderProviderNodes(provider);
  for (const node of nodes) {
    const created = await core.createNode({ body: node });
    // Make sure capacity is there whatever the create kept; a merge patch, because the kwok
    // controller starts heartbeating the node at once (a replace would conflict).
    const capacity = { status: { capacity: node.status?.capacity, allocatable: node.status?.allocatable } };
    await core.patchNodeStatus({ name: created.metadata?.name ?? '', body: capacity }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }
  const names = nodes.map((n) => n.metadata?.name ?? '');
  await waitFor(
    `${provider.name}: ${names.length} GPU nodes Ready`,
    async () => {
      const list = await core.listNode();
      const ready = list.items.filter((n) => findCondition(n.status?.conditions, 'Ready')?.status === 'True');
      return ready.length >= names.length;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  return names;
}

/** The simulated executor's sources: a change to any of them restarts a reused federation's executor. */
const EXECUTOR_SOURCES = [
  'executor.ts',
  'workload.ts',
  'process-plan.ts',
  'process-rewrite.ts',
  'process-runner.ts',
  'process-status.ts',
  'process-logs.ts',
].map((f) => join(repoRoot, 'federation', f));

/** The executor daemon over <state>/executor.json (written by the first `up`). */
function startExecutor(stateDir: string): void {
  startDaemon(stateDir, { name: EXECUTOR, command: process.execPath, args: [join(repoRoot, 'federation', 'executor.ts'), join(stateDir, 'executor.json')] });
}

async function restartExecutorIfChanged(stateDir: string, progress: (message: string) => void): Promise<void> {
  const started = daemonStartedAt(stateDir, EXECUTOR);
  const changed = EXECUTOR_SOURCES.some((f) => existsSync(f) && statSync(f).mtimeMs > (started ?? 0));
  if (started !== undefined && !changed) return;
  await stopDaemon(stateDir, EXECUTOR);
  startExecutor(stateDir);
  progress('executor restarted: its sources changed since it started');
}

export async function federationUp(opts: FederationOptions = {}): Promise<FederationEndpoints> {
  const stateDir = opts.stateDir ?? defaultStateDir();
  const progress = opts.progress ?? (() => undefined);
  const tools = toolPaths();
  assertToolsPresent(tools);

  const existing = readEndpoints(stateDir);
  const healthy = existing !== undefined && (await isHealthy(existing));
  const outdated = existing && healthy ? await outdatedParts(existing) : [];
  if (existing && healthy && outdated.length === 0) {
    progress(`federation already running (state in ${stateDir}); reusing it`);
    // The CRDs may have changed since it started (a schema field added): an outdated CRD would
    // silently prune the new status fields. Applying them again is idempotent and takes a second.
    await timed(progress, 'hub: Flotilla CRDs up to date', () => installCrds(existing.hub.kubeconfig));
    // And the providers' fence (a federation started before it, or a change to the chart's policy).
    await timed(progress, 'providers: fence policies up to date', () => Promise.all(existing.providers.map((p) => installProviderFence(p.kubeconfig))));
    // So is the executor's code (a simulated-workload annotation added): restart it on a change.
    await restartExecutorIfChanged(stateDir, progress);
    if (await chainDeployed(existing.anvil.rpcUrl, existing.anvil.chainId, existing.chain)) return existing;
    // A federation started before the contracts were part of it: deploy them now.
    const chain = await timed(progress, 'escrow and test stablecoin deployed on anvil', () =>
      deployFederationChain(existing.anvil.rpcUrl, existing.anvil.chainId, stateDir),
    );
    const updated: FederationEndpoints = { ...existing, chain };
    writeFileSync(endpointsFile(stateDir), JSON.stringify(updated, null, 2));
    return updated;
  }
  if (outdated.length > 0) {
    progress(`the running federation predates what providers need now (${outdated.join('; ')}): recreating it`);
    await federationDown({ stateDir, progress });
  } else if (existing || existingClusters(stateDir).length > 0 || federationProcesses(stateDir).length > 0) {
    progress('cleaning up a previous, unhealthy federation first');
    await federationDown({ stateDir, progress });
  }
  if (existsSync(logDir(stateDir))) {
    rmSync(`${logDir(stateDir)}.previous`, { recursive: true, force: true });
    renameSync(logDir(stateDir), `${logDir(stateDir)}.previous`);
  }

  const fleet = parseFleet(readFileSync(opts.fleetFile ?? DEFAULT_FLEET, 'utf8'));
  const t0 = Date.now();
  progress(
    `starting hub + ${fleet.providers.length} providers (${fleet.providers.map((p) => p.name).join(', ')}), Kubo pair and anvil; logs in ${logDir(stateDir)}`,
  );
  try {
    const [kubo, anvil, clusters] = await Promise.all([
      timed(progress, 'Kubo hub + provider daemons up and peered', () => startKuboPair(stateDir, tools.ipfs)),
      timed(progress, 'anvil up (chain id 31337)', () => startAnvil({ stateDir })),
      // One after another: kwokctl picks its ports by probing, so parallel creations collide.
      (async () => {
        const created = [
          await timed(progress, 'cluster hub up (etcd, kube-apiserver, kube-controller-manager)', () => createCluster(stateDir, 'hub', 'hub', tools)),
        ];
        for (const p of fleet.providers) {
          created.push(
            await timed(progress, `cluster ${p.name} up (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)`, () =>
              createCluster(stateDir, p.name, 'provider', tools),
            ),
          );
        }
        return created;
      })(),
    ]);
    const providerClusters = clusters.slice(1);
    const hubKubeconfig = clusters[0]?.kubeconfig ?? '';
    await timed(progress, 'hub: Flotilla CRDs installed and Established', () => installCrds(hubKubeconfig));
    const providers = await Promise.all(
      fleet.providers.map(async (p, i): Promise<ProviderEndpoint> => {
        const kubeconfig = providerClusters[i]?.kubeconfig ?? '';
        const nodes = await timed(progress, `${p.name}: GPU nodes registered and Ready`, () => registerNodes(p, kubeconfig));
        await prepareProviderCluster(kubeconfig);
        await registerProvider(hubKubeconfig, p, kubeconfig);
        return { name: p.name, kubeconfig, region: p.region, payoutAddress: p.payoutAddress, prices: p.prices, nodes };
      }),
    );
    progress(`hub: ${providers.length} GPUProviders registered (kubeconfig Secrets in flotilla-system)`);

    const executorConfig: ExecutorConfig = {
      providers: providers.map((p) => ({ name: p.name, kubeconfig: p.kubeconfig })),
      kuboApi: kubo.provider.api,
      execRoot: join(stateDir, 'exec'),
      workDir: repoRoot,
    };
    const executorFile = join(stateDir, 'executor.json');
    writeFileSync(executorFile, JSON.stringify(executorConfig, null, 2));
    startExecutor(stateDir);

    const endpoints: FederationEndpoints = {
      stateDir,
      kubeVersion: tools.kubeVersion,
      hub: { name: 'hub', kubeconfig: hubKubeconfig },
      providers,
      kubo,
      anvil: { rpcUrl: anvil.rpcUrl, chainId: ANVIL_CHAIN_ID },
      chain: await timed(progress, 'escrow and test stablecoin deployed on anvil', () => deployFederationChain(anvil.rpcUrl, ANVIL_CHAIN_ID, stateDir)),
      startedAt: new Date().toISOString(),
      startSeconds: Math.round((Date.now() - t0) / 100) / 10,
    };
    writeFileSync(endpointsFile(stateDir), JSON.stringify(endpoints, null, 2));
    progress(`federation ready in ${endpoints.startSeconds}s; endpoints in ${endpointsFile(stateDir)}`);
    return endpoints;
  } catch (err) {
    progress(`start failed: ${err instanceof Error ? err.message : String(err)}; stopping what was started`);
    await federationDown({ stateDir, progress });
    throw err;
  }
}

export interface StrayProcess {
  readonly pid: number;
  readonly command: string;
}

export interface DownResult {
  /** Processes that outlived the orderly shutdown and its grace period, and had to be killed. */
  readonly strays: readonly StrayProcess[];
}

/** How long processes signalled by the orderly shutdown get to finish exiting before they count as strays. */
const EXIT_GRACE_MS = 10_000;

export async function federationDown(opts: { stateDir?: string; progress?: (line: string) => void } = {}): Promise<DownResult> {
  const stateDir = opts.stateDir ?? defaultStateDir();
  const progress = opts.progress ?? (() => undefined);
  const tools = toolPaths();
  await stopAllDaemons(stateDir);
  const clusters = existingClusters(stateDir);
  await Promise.all(clusters.map((name) => deleteCluster(stateDir, name, tools).catch((err: unknown) => progress(`deleting cluster ${name}: ${String(err)}`))));
  // kwokctl signals its components and returns without waiting for them to exit (etcd flushes
  // first): a process still exiting is not a stray, one still there after the grace is.
  const deadline = Date.now() + EXIT_GRACE_MS;
  while (federationProcesses(stateDir).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const strays = federationProcesses(stateDir).map((pid) => ({ pid, command: commandOf(pid) }));
  for (const { pid } of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (strays.length > 0) progress(`killed ${strays.length} stray process(es): ${strays.map((s) => `${s.pid} (${s.command})`).join(', ')}`);
  for (const path of ['endpoints.json', 'executor.json', 'exec', 'kubeconfigs', 'ipfs', 'kwok', 'pids'])
    rmSync(join(stateDir, path), { recursive: true, force: true });
  progress(`federation down (${clusters.length} clusters deleted, daemons stopped)`);
  return { strays };
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 200);
  } catch {
    return '?';
  }
}
