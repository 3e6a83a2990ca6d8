// The real Pulumi engine against the local federation (issue 18): the CLI and the Kubernetes resource
// provider built by scripts/tools.sh from Go modules, an inline program through the Automation API,
// a file backend. One provider program brings a GPU pool from nothing to "jobs land here":
//
//   up (2 nodes)  → KWOK GPU nodes at provider-b, the provider chart, the hub's kubeconfig Secret and
//                   GPUProvider; the GPUProvider is Ready with exactly the pool's GPUs; a job runs there
//   up again      → no changes
//   up (1 node)   → the removed node is drained first (a resource hook): the job running on it is
//                   evicted, Flotilla resumes it on the node that stays, and it succeeds
//   destroy       → the GPUProvider goes before anything at the provider; no object is left on
//                   either cluster
//
// Its names are its own (GPUProvider pulumi-e2e, lent namespace flotilla-pulumi-workloads, nodes
// pulumi-h200-*, product NVIDIA-H200-PULUMI-E2E that no other GPUProvider prices), so the
// federation's own registration is untouched.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CustomObjectsApi } from '@kubernetes/client-node';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob, GPUProvider } from '../../operator/api/types.ts';
import { repoRoot } from '../../federation/paths.ts';
import { localStack } from '../../federation/pulumi-engine.ts';
import { FlotillaProvider, KwokGpuNodePool, kubeconfigSecretName } from '../../pulumi/index.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil, waitForAIJob } from '../support/federation.ts';
import { aijobManifest } from '../support/aijob.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { helm, kubectl } from '../charts/helm.ts';

const PROVIDER = 'provider-b';
const GPU_PROVIDER = 'pulumi-e2e';
const POOL = 'pulumi-h200';
const PRODUCT = 'NVIDIA-H200-PULUMI-E2E';
const LENT_NS = 'flotilla-pulumi-workloads';
const PRIORITY_CLASS = 'flotilla-lent-pulumi';
const HUB_NS = 'flotilla-system';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const provider = () => federation().providers.find((p) => p.name === PROVIDER)!;
const providerCore = () => clusterClients(PROVIDER).core;
let stateDir = '';
let jobNs = '';
let operator: OperatorProcess | undefined;

/** The provider program: one KWOK GPU pool of `nodes` nodes, and the onboarding that lends it. */
const program = (nodes: number) => async () => {
  const ep = federation();
  const providerKubeconfig = pulumi.secret(readFileSync(provider().kubeconfig, 'utf8'));
  const hubCluster = new k8s.Provider('hub', { kubeconfig: readFileSync(ep.hub.kubeconfig, 'utf8') });
  const pool = new KwokGpuNodePool('h200', {
    poolName: POOL,
    kubeconfig: providerKubeconfig,
    nodes,
    shape: { product: PRODUCT, gpusPerNode: 1, gpuMemoryMiB: 143771, family: 'hopper', compute: '9.0', machine: 'HGX-H200', cpu: '32', memory: '256Gi' },
    region: provider().region,
    pricePerGpuHour: '3.10',
    drainTimeoutSeconds: 120,
  });
  const onboarded = new FlotillaProvider('pulumi-e2e', {
    providerName: GPU_PROVIDER,
    kubeconfig: providerKubeconfig,
    hub: hubCluster,
    hubNamespace: HUB_NS,
    capacity: [pool],
    namespace: LENT_NS,
    priorityClassName: PRIORITY_CLASS,
    region: provider().region,
    payoutAddress: provider().payoutAddress,
  });
  return { nodes: pool.nodeNames, gpus: pool.gpus, gpuProvider: onboarded.gpuProvider.metadata.name };
};

async function up(nodes: number): Promise<pulumi.automation.UpResult> {
  const out: string[] = [];
  try {
    return await (await stackFor(nodes)).up({ onOutput: (s) => out.push(s) });
  } catch (err) {
    throw new Error(`pulumi up (${nodes} nodes) failed: ${String(err)}\n${out.join('')}`);
  }
}

const stackFor = (nodes: number) => localStack({ projectName: 'flotilla-capacity-e2e', stackName: 'e2e', program: program(nodes), stateDir });

const gpuProvider = () =>
  custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: GPU_PROVIDER }).then(
    (o) => o as GPUProvider,
    () => undefined,
  );
const poolNodes = async () => (await providerCore().listNode({ labelSelector: `flotilla.dev/node-pool=${POOL}` })).items;
const changes = (r: pulumi.automation.UpResult) => Object.fromEntries(Object.entries(r.summary.resourceChanges ?? {}).filter(([, n]) => (n ?? 0) > 0));

/** What an earlier, interrupted run may have left at fixed names. */
async function removeLeftovers(): Promise<void> {
  await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: GPU_PROVIDER }).catch(() => undefined);
  await hub.core.deleteNamespacedSecret({ name: kubeconfigSecretName(GPU_PROVIDER), namespace: HUB_NS }).catch(() => undefined);
  const releases = (await helm(['--kubeconfig', provider().kubeconfig, 'list', '-n', 'default', '-q']))
    .split('\n')
    .filter((r) => r.startsWith('pulumi-e2e-chart'));
  for (const r of releases) await helm(['--kubeconfig', provider().kubeconfig, 'uninstall', r, '-n', 'default', '--wait']);
  await kubectl(provider().kubeconfig, ['delete', 'node', '-l', `flotilla.dev/node-pool=${POOL}`, '--ignore-not-found']);
}

/** A job only this pool can run (its product, its GPUProvider), back on the same provider after a preemption. */
const job = (name: string, runSeconds: number) =>
  aijobManifest({
    name,
    namespace: jobNs,
    sim: { runSeconds, output: `${name} done` },
    gpu: { products: [PRODUCT] },
    placement: { allowedProviders: [GPU_PROVIDER] },
    // Pinned to one provider, the job goes back there at once: Failover would cool it down first.
    recovery: { maxRestarts: 3, strategy: 'SameProviderFirst' },
  });

const lentPods = async (uid: string) => (await providerCore().listNamespacedPod({ namespace: LENT_NS, labelSelector: `flotilla.dev/job-uid=${uid}` })).items;
const finished = (j: AIJob | undefined) => j?.status?.phase === 'Succeeded' || j?.status?.phase === 'Failed';

beforeAll(async () => {
  // Waits for (or does) the Pulumi tool build: `make test` starts it in the background.
  await promisify(execFile)('bash', [join(repoRoot, 'scripts', 'tools.sh'), 'pulumi'], { maxBuffer: 64 * 1024 * 1024 });
  stateDir = mkdtempSync(join(federation().stateDir, 'pulumi-e2e-'));
  await removeLeftovers();
  jobNs = await createNamespace(hub.core, 't-pulumi');
  operator = startOperator(jobNs);
}, 1_800_000);

afterAll(async () => {
  await custom.deleteCollectionNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: jobNs }).catch(() => undefined);
  await pollUntil(
    `AIJobs in ${jobNs} gone`,
    async () =>
      ((await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: jobNs })) as { items: unknown[] }).items.length,
    (n) => n === 0,
    60_000,
    250,
  ).catch(() => undefined);
  await operator?.stop();
  await removeLeftovers();
  await deleteNamespace(hub.core, jobNs);
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 300_000);

describe('pulumi up of a provider program: a KWOK GPU pool and its onboarding', () => {
  test('one up creates the pool and onboards it: the GPUProvider is Ready with exactly those GPUs', async () => {
    const t0 = Date.now();
    const result = await up(2);
    expect(result.summary.result).toBe('succeeded');
    expect(result.outputs.nodes?.value).toEqual([`${POOL}-0`, `${POOL}-1`]);
    expect(result.outputs.gpus?.value).toBe(2);
    expect(changes(result)).toEqual({ create: expect.any(Number) });

    const nodes = await poolNodes();
    expect(nodes.map((n) => n.metadata?.name).sort()).toEqual([`${POOL}-0`, `${POOL}-1`]);
    for (const n of nodes) {
      expect(n.status?.allocatable?.['nvidia.com/gpu']).toBe('1');
      expect(n.metadata?.labels?.['nvidia.com/gpu.product']).toBe(PRODUCT);
      expect(n.spec?.taints).toEqual([{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }]);
    }
    const ready = await pollUntil(
      `GPUProvider ${GPU_PROVIDER} Ready with 2 ${PRODUCT}`,
      gpuProvider,
      (g) =>
        (g?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false) &&
        g?.status?.inventory?.find((i) => i.product === PRODUCT)?.allocatable === 2,
      90_000,
      250,
    );
    expect(ready?.spec.maxGpus).toBe(2);
    expect(ready?.spec.prices).toEqual([{ gpuProduct: PRODUCT, pricePerGpuHour: '3.10' }]);
    expect(ready?.spec.namespace).toBe(LENT_NS);
    process.stderr.write(`[pulumi-e2e] up → GPUProvider Ready in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
  }, 300_000);

  test('a second up with no change reports no changes', async () => {
    const result = await up(2);
    expect(Object.keys(changes(result))).toEqual(['same']);
  }, 300_000);

  test('scaling the pool from 2 nodes to 1 drains the removed node first: its job resumes on the node that stays and succeeds', async () => {
    // Put the job on the node that the scale-down removes (the highest index): hold the other one for a moment.
    await kubectl(provider().kubeconfig, ['cordon', `${POOL}-0`]);
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: jobNs, body: job('moved', 40) });
    const running = await waitForAIJob(jobNs, 'moved', (j) => j?.status?.phase === 'Running', 120_000);
    const uid = running?.metadata.uid ?? '';
    const [first] = await pollUntil(
      'the first pod bound',
      () => lentPods(uid),
      (pods) => pods.length === 1 && !!pods[0]?.spec?.nodeName,
      30_000,
      100,
    );
    expect(first?.spec?.nodeName).toBe(`${POOL}-1`);
    await kubectl(provider().kubeconfig, ['uncordon', `${POOL}-0`]);

    const result = await up(1);
    expect(result.outputs.nodes?.value).toEqual([`${POOL}-0`]);
    expect(changes(result)).toMatchObject({ delete: 1, update: expect.any(Number) });
    expect((await poolNodes()).map((n) => n.metadata?.name)).toEqual([`${POOL}-0`]);

    const done = await waitForAIJob(jobNs, 'moved', finished, 180_000);
    expect(done?.status?.phase).toBe('Succeeded');
    const attempts = done?.status?.attempts ?? [];
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.every((a) => a.provider === GPU_PROVIDER)).toBe(true);
    // Evicted by the drain (the Eviction API), not lost with a deleted node.
    expect(attempts[0]).toMatchObject({ reason: 'Preempted: DisruptionTarget', nodes: [`${POOL}-1`] });
    expect(attempts[0]?.message).toContain('EvictionByEvictionAPI');
    expect(attempts.at(-1)?.nodes).toEqual([`${POOL}-0`]);
    expect(attempts.at(-1)?.reason).toBe('Succeeded');
    // The GPUProvider lends what the pool now holds.
    const after = await pollUntil('GPUProvider maxGpus 1', gpuProvider, (g) => g?.spec.maxGpus === 1, 30_000, 250);
    expect(after?.spec.maxGpus).toBe(1);
  }, 420_000);

  test('destroy deletes the GPUProvider before anything at the provider and leaves no object on either cluster', async () => {
    await custom.deleteCollectionNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: jobNs });
    const deleted: string[] = [];
    const s = await stackFor(1);
    await s.destroy({
      runProgram: true,
      onEvent: (e) => {
        if (e.resOutputsEvent?.metadata.op === 'delete') deleted.push(e.resOutputsEvent.metadata.urn);
      },
    });
    const at = (part: string) => deleted.findIndex((urn) => urn.endsWith(part));
    expect(at(`::${POOL}-0`)).toBeGreaterThanOrEqual(0);
    expect(at('::pulumi-e2e-gpuprovider')).toBeGreaterThanOrEqual(0);
    expect(at('::pulumi-e2e-gpuprovider')).toBeLessThan(at(`::${POOL}-0`));
    expect(at('::pulumi-e2e-gpuprovider')).toBeLessThan(at('::pulumi-e2e-chart'));

    expect(await gpuProvider()).toBeUndefined();
    await expect(hub.core.readNamespacedSecret({ name: kubeconfigSecretName(GPU_PROVIDER), namespace: HUB_NS })).rejects.toMatchObject({ code: 404 });
    expect(await poolNodes()).toEqual([]);
    expect((await helm(['--kubeconfig', provider().kubeconfig, 'list', '-n', 'default', '-q'])).split('\n').filter((r) => r.startsWith('pulumi-e2e'))).toEqual(
      [],
    );
    await expect(clusterClients(PROVIDER).scheduling.readPriorityClass({ name: PRIORITY_CLASS })).rejects.toMatchObject({ code: 404 });
    // The chart's cluster-scoped fence policies and bindings went with the release.
    const policies = await kubectl(provider().kubeconfig, ['get', 'validatingadmissionpolicies,validatingadmissionpolicybindings', '-o', 'name']);
    expect(policies.split('\n').filter((n) => n.includes('pulumi-e2e'))).toEqual([]);
    await pollUntil(
      `namespace ${LENT_NS} gone`,
      () => kubectl(provider().kubeconfig, ['get', 'namespace', LENT_NS, '--ignore-not-found', '-o', 'name']),
      (out) => out.trim() === '',
      120_000,
      500,
    );
  }, 300_000);
});
