// Kubernetes clusters of the local federation: each one a kwokctl "binary runtime" cluster, i.e.
// real etcd, kube-apiserver, kube-controller-manager and (providers only) kube-scheduler processes
// built by scripts/tools.sh, plus the kwok controller that plays the kubelets of simulated nodes.
// kwokctl keeps each cluster's state under <stateDir>/kwok/<cluster> (its own KWOK_WORKDIR: clusters
// created in parallel would otherwise race to generate one shared CA), so nothing touches ~/.kwok
// or ~/.kube, and every binary is passed explicitly (anything not passed would be downloaded).
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CoordinationV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { runCommand } from './command.ts';
import { waitFor } from './daemon.ts';
import type { ToolPaths } from './paths.ts';

export type ClusterRole = 'hub' | 'provider';

export interface ClusterInfo {
  readonly name: string;
  readonly role: ClusterRole;
  readonly kubeconfig: string;
}

export const kwokRoot = (stateDir: string) => join(stateDir, 'kwok');
export const kwokWorkdir = (stateDir: string, cluster: string) => join(kwokRoot(stateDir), cluster);
export const kubeconfigPath = (stateDir: string, name: string) => join(stateDir, 'kubeconfigs', `${name}.yaml`);

/**
 * Environment for kwokctl and everything it starts: its workdir, the marker that lets `down` find
 * strays, the Kubernetes version of the built binaries, and those binaries first on PATH (kwokctl
 * runs `kubectl` to wait for readiness; ours matches the server version exactly).
 */
export function kwokEnv(stateDir: string, cluster: string, tools: ToolPaths): Record<string, string> {
  return {
    KWOK_WORKDIR: kwokWorkdir(stateDir, cluster),
    KWOK_KUBE_VERSION: tools.kubeVersion,
    FLOTILLA_FEDERATION: stateDir,
    PATH: `${dirname(tools.kubectl)}:${process.env.PATH ?? ''}`,
  };
}

export interface ClusterOptions {
  /**
   * kwokctl's scale of every heartbeat interval (default 5: 200 s node Leases, a 3m20s node-monitor
   * grace). A test that stops a node's heartbeat uses 1.5 — Kubernetes' own defaults scaled: 60 s
   * Leases renewed every 15 s, a node silent for 60 s NotReady — so it waits one minute, not four.
   */
  readonly heartbeatFactor?: number;
}

/**
 * The kwok CRDs a provider cluster is created with (kind → CRD name); federation.ts recreates a
 * federation whose providers lack one (made by an older `up`).
 */
export const PROVIDER_KWOK_CRDS: Readonly<Record<string, string>> = { Logs: 'logs.kwok.x-k8s.io' };

export function createClusterArgs(name: string, role: ClusterRole, tools: ToolPaths, stateDir: string, opts: ClusterOptions = {}): string[] {
  const args = [
    'create',
    'cluster',
    '--name',
    name,
    '--runtime',
    'binary',
    '--etcd-binary',
    tools.etcd,
    '--kube-apiserver-binary',
    tools.kubeApiserver,
    '--kube-controller-manager-binary',
    tools.kubeControllerManager,
    '--kube-scheduler-binary',
    tools.kubeScheduler,
    '--kwok-controller-binary',
    tools.kwok,
    // kwokctl merges every cluster into this file; we write one kubeconfig per cluster below.
    '--kubeconfig',
    join(kwokWorkdir(stateDir, name), 'kubeconfig.yaml'),
    // Test clusters: durability across power loss is worth nothing, fsync latency is worth a lot.
    '--extra-args',
    'etcd=unsafe-no-fsync=true',
    '--wait',
    '90s',
  ];
  // The hub runs no pods of ours: no scheduler, no simulated kubelets. It keeps the
  // controller-manager for garbage collection and namespace deletion.
  if (role === 'hub') args.push('--disable', 'kube-scheduler', '--disable', 'kwok-controller');
  // Providers: the kwok controller serves a pod's log from the file its `Logs` object names (the
  // executor writes both for exec-mode pods, federation/process-logs.ts); kwokctl installs the CRD
  // and starts the controller watching it.
  else args.push('--enable-crds', Object.keys(PROVIDER_KWOK_CRDS).join(','));
  if (opts.heartbeatFactor !== undefined) args.push('--heartbeat-factor', String(opts.heartbeatFactor));
  return args;
}

export async function createCluster(stateDir: string, name: string, role: ClusterRole, tools: ToolPaths, opts: ClusterOptions = {}): Promise<ClusterInfo> {
  const env = kwokEnv(stateDir, name, tools);
  mkdirSync(kwokWorkdir(stateDir, name), { recursive: true });
  await runCommand(tools.kwokctl, createClusterArgs(name, role, tools, stateDir, opts), { env, timeoutMs: 180_000 });
  const { stdout } = await runCommand(tools.kwokctl, ['get', 'kubeconfig', '--name', name], { env });
  const kubeconfig = kubeconfigPath(stateDir, name);
  mkdirSync(join(stateDir, 'kubeconfigs'), { recursive: true });
  writeFileSync(kubeconfig, stdout, { mode: 0o600 });
  return { name, role, kubeconfig };
}

/** Stops every process of the cluster (`kwokctl stop cluster`: etcd, API server, controllers), keeping its state. */
export async function stopCluster(stateDir: string, name: string, tools: ToolPaths): Promise<void> {
  await runCommand(tools.kwokctl, ['stop', 'cluster', '--name', name], { env: kwokEnv(stateDir, name, tools), timeoutMs: 300_000 }); // slow under load
}

const NODE_LEASES = 'kube-node-lease';

/**
 * Starts a cluster `stopCluster` stopped, and (provider clusters) hands its nodes back to the new
 * kwok controller before returning.
 *
 * kwok names its lease holder afresh on every start (hostname + a uuid), so the node Leases the
 * stopped controller renewed stay someone else's until they expire — 200 s at kwokctl's default
 * heartbeat factor — and until then no pod on those nodes starts or ends: the cluster answers but
 * runs nothing. A real kubelet keeps its identity across a control-plane restart, so this clears
 * the holder of every Lease last renewed before the start (only the old controller can have
 * renewed those), and then waits until the new controller renewed every one (its next try comes
 * within a renew interval: a quarter of the Lease duration).
 */
export async function startCluster(stateDir: string, name: string, tools: ToolPaths, opts: { readonly timeoutMs?: number } = {}): Promise<void> {
  const startedAt = Date.now();
  await runCommand(tools.kwokctl, ['start', 'cluster', '--name', name], { env: kwokEnv(stateDir, name, tools), timeoutMs: 300_000 });
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath(stateDir, name));
  const leases = kc.makeApiClient(CoordinationV1Api);
  // renewTime is a MicroTime, which the client leaves a string (typed Date).
  const renewedBefore = (lease: { spec?: { renewTime?: Date } }) => (Date.parse(String(lease.spec?.renewTime ?? '')) || 0) < startedAt;
  const stale = (await leases.listNamespacedLease({ namespace: NODE_LEASES })).items.filter((l) => l.spec?.holderIdentity && renewedBefore(l));
  for (const lease of stale) {
    // The resourceVersion read is a precondition: should the new controller take it meanwhile, leave it be.
    const body = { metadata: { resourceVersion: lease.metadata?.resourceVersion }, spec: { holderIdentity: null } };
    await leases
      .patchNamespacedLease({ name: lease.metadata?.name ?? '', namespace: NODE_LEASES, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
      .catch((err: { code?: number }) => {
        if (err.code !== 409) throw err;
      });
  }
  await waitFor(
    `cluster ${name}'s restarted kwok controller to take over its nodes (renew their Leases)`,
    async () => (await leases.listNamespacedLease({ namespace: NODE_LEASES })).items.every((l) => !renewedBefore(l)),
    { timeoutMs: opts.timeoutMs ?? 120_000, intervalMs: 500 },
  );
}

/**
 * Stops every process of the cluster and removes its state: kwokctl's, its workdir (kwokctl leaves
 * the merged kubeconfig there) and our kubeconfig, so nothing that walks the state directory finds
 * a cluster that is gone. The kubeconfig goes even if kwokctl fails (it names a cluster being
 * deleted); the workdir stays then, as kwokctl needs it to retry and `down` to find the processes.
 */
export async function deleteCluster(stateDir: string, name: string, tools: ToolPaths): Promise<void> {
  try {
    await runCommand(tools.kwokctl, ['delete', 'cluster', '--name', name], { env: kwokEnv(stateDir, name, tools), timeoutMs: 60_000 });
    rmSync(kwokWorkdir(stateDir, name), { recursive: true, force: true });
  } finally {
    rmSync(kubeconfigPath(stateDir, name), { force: true });
  }
}

export function existingClusters(stateDir: string): string[] {
  const root = kwokRoot(stateDir);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((name) => existsSync(join(kwokWorkdir(stateDir, name), 'clusters', name)))
    .sort();
}
