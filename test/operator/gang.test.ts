// A gang on the local federation (real hub and provider apiservers): a 2-replica AIJob gets a
// headless rendezvous Service at the provider, and pods with hostnames under it, torchrun's
// environment and a memory-backed /dev/shm — all accepted by the provider apiserver's validation and
// read back from it; the Service goes with the job (the finalizer path) and with a job deleted
// behind the operator's back (the orphan sweep); a provider refusing the Service refuses the attempt.
import { CustomObjectsApi, DiscoveryV1Api } from '@kubernetes/client-node';
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob, AIJobManifest } from '../../operator/api/types.ts';
import { serviceName } from '../../operator/controllers/aijob/gang.ts';
import { aijobManifest } from '../support/aijob.ts';
import { clusterClients, createNamespace, deleteNamespace, pollUntil, readAIJob, waitForAIJob } from '../support/federation.ts';
import { deleteJobBehindOperator, withProviderQuota } from '../support/provider-faults.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const LENT = 'flotilla-workloads';
const IMAGE = `registry.example/trainer@sha256:${'d'.repeat(64)}`;
let ns = '';
let operator: OperatorProcess;

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-gang');
  operator = startOperator(ns, { FLOTILLA_ORPHAN_SWEEP_MS: '2000' });
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
});

/** Two replicas × 2 A100s: only provider-b (two 4-GPU A100 nodes) has them. */
const gang = (name: string, extra: Partial<AIJobManifest['spec']> = {}): AIJobManifest =>
  aijobManifest({
    name,
    namespace: ns,
    image: IMAGE,
    command: ['torchrun'],
    args: ['train.py'],
    replicas: 2,
    resources: { gpus: 2, cpu: '8', memory: '16Gi', shmSize: '2Gi' },
    gpu: { products: ['NVIDIA-A100-SXM4-40GB'] },
    output: { path: '/flotilla/output', pin: false },
    recovery: { maxRestarts: 0, strategy: 'Failover' },
    sim: { runSeconds: 600 },
    ...extra,
  });

async function create(manifest: AIJobManifest): Promise<AIJob> {
  return (await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: ns, body: manifest })) as AIJob;
}

async function podsOf(provider: string, uid: string): Promise<V1Pod[]> {
  return (await clusterClients(provider).core.listNamespacedPod({ namespace: LENT, labelSelector: `flotilla.dev/job-uid=${uid}` })).items;
}

/** The job's Services at a provider (its rendezvous Service has the pods' labels). */
async function servicesOf(provider: string, uid: string): Promise<V1Service[]> {
  return (await clusterClients(provider).core.listNamespacedService({ namespace: LENT, labelSelector: `flotilla.dev/job-uid=${uid}` })).items;
}

const envOf = (pod: V1Pod | undefined) => Object.fromEntries((pod?.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));

describe('a 2-replica gang at its provider', () => {
  it("has a headless Service and pods that resolve replica 0 by name, with torchrun's env and /dev/shm; both go when the job is deleted", async () => {
    const created = await create(gang('pretrain'));
    const uid = created.metadata.uid ?? '';
    const running = (await waitForAIJob(ns, 'pretrain', (j) => j?.status?.phase === 'Running', 60_000)) as AIJob;
    expect(running.status?.placement?.provider).toBe('provider-b');
    const svcName = serviceName({ name: 'pretrain', uid }, 1);

    const [service] = await servicesOf('provider-b', uid);
    expect(service?.metadata?.name).toBe(svcName);
    expect(service?.metadata?.labels).toMatchObject({ 'flotilla.dev/job-uid': uid, 'flotilla.dev/attempt': '1' });
    expect(service?.spec).toMatchObject({
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: { 'flotilla.dev/job-uid': uid, 'flotilla.dev/attempt': '1' },
    });

    const pods = (await podsOf('provider-b', uid)).sort((a, b) =>
      (a.metadata?.labels?.['flotilla.dev/replica'] ?? '').localeCompare(b.metadata?.labels?.['flotilla.dev/replica'] ?? ''),
    );
    expect(pods.map((p) => [p.spec?.hostname, p.spec?.subdomain])).toEqual([
      ['r0', svcName],
      ['r1', svcName],
    ]);
    for (const [rank, pod] of pods.entries()) {
      expect(envOf(pod)).toMatchObject({
        MASTER_ADDR: `r0.${svcName}`,
        MASTER_PORT: '29500',
        WORLD_SIZE: '2',
        RANK: String(rank),
        NNODES: '2',
        NODE_RANK: String(rank),
        NPROC_PER_NODE: '2',
        PET_NNODES: '2',
        PET_NODE_RANK: String(rank),
        PET_NPROC_PER_NODE: '2',
        PET_MASTER_ADDR: `r0.${svcName}`,
        PET_MASTER_PORT: '29500',
      });
      expect(pod.spec?.volumes).toContainEqual({ name: 'flotilla-dshm', emptyDir: { medium: 'Memory', sizeLimit: '2Gi' } });
      expect(pod.spec?.containers[0]?.volumeMounts).toContainEqual(expect.objectContaining({ name: 'flotilla-dshm', mountPath: '/dev/shm' }));
    }
    // The provider's endpointslice controller publishes both replicas under their hostnames: what
    // its cluster DNS answers r0.<service> and r1.<service> from.
    const slices = await pollUntil(
      'EndpointSlices of the Service with both hostnames',
      async () =>
        (
          await clusterClients('provider-b')
            .kc.makeApiClient(DiscoveryV1Api)
            .listNamespacedEndpointSlice({ namespace: LENT, labelSelector: `kubernetes.io/service-name=${svcName}` })
        ).items,
      (items) => items.flatMap((s) => (s.endpoints ?? []).map((e) => e.hostname)).filter(Boolean).length === 2,
      30_000,
      250,
    );
    expect(slices.flatMap((s) => (s.endpoints ?? []).map((e) => e.hostname)).sort()).toEqual(['r0', 'r1']);

    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: ns, name: 'pretrain' });
    await pollUntil(
      'the job gone (finalizer released)',
      () => readAIJob(ns, 'pretrain'),
      (j) => j === undefined,
      60_000,
      250,
    );
    // The finalizer drops only after the Service is deleted.
    expect(await servicesOf('provider-b', uid)).toEqual([]);
    expect(operator.logs()).toMatch(/deleted rendezvous Service/);
  });

  it("refuses shmSize beyond the replica's memory at the hub apiserver", async () => {
    await expect(create(gang('too-much-shm', { resources: { gpus: 2, memory: '4Gi', shmSize: '8Gi' } }))).rejects.toThrow(
      /spec.resources.shmSize must not exceed spec.resources.memory/,
    );
  });

  it('closes the attempt as CreateRefused, with no pod made, when the provider refuses the Service', async () => {
    await withProviderQuota('provider-b', LENT, { services: '0' }, async () => {
      const created = await create(gang('refused'));
      const ended = (await waitForAIJob(ns, 'refused', (j) => Boolean(j?.status?.attempts?.[0]?.endTime), 30_000)) as AIJob;
      expect(ended.status?.attempts?.[0]).toMatchObject({ provider: 'provider-b', reason: 'Preempted: CreateRefused' });
      expect(ended.status?.attempts?.[0]?.message).toMatch(/exceeded quota/);
      expect(await podsOf('provider-b', created.metadata.uid ?? '')).toEqual([]);
    });
  });

  it("loses its Service to the orphan sweep when the job is deleted behind the operator's back", async () => {
    const created = await create(gang('orphaned'));
    const uid = created.metadata.uid ?? '';
    await waitForAIJob(ns, 'orphaned', (j) => j?.status?.phase === 'Running', 60_000);
    expect(await servicesOf('provider-b', uid)).toHaveLength(1);
    await deleteJobBehindOperator(operator, ns, 'orphaned');
    operator = startOperator(ns, { FLOTILLA_ORPHAN_SWEEP_MS: '2000' });
    await pollUntil(
      'the orphaned Service gone',
      () => servicesOf('provider-b', uid),
      (s) => s.length === 0,
      60_000,
      500,
    );
    await pollUntil(
      'the orphaned pods gone',
      () => podsOf('provider-b', uid),
      (p) => p.length === 0,
      60_000,
      500,
    );
    // The delete lands at the provider before the sweep's log line reaches this process's pipe.
    await pollUntil(
      'the sweep logging the Service it deleted',
      async () => operator.logs(),
      (logs) => /deleted orphaned rendezvous Service/.test(logs),
      10_000,
      100,
    );
  });
});
