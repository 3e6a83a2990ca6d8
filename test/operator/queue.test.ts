// The scheduler's queue on the local federation (real hub and provider apiservers, the provider's own
// kube-scheduler binding): when capacity frees, the higher spec.priority gets it whatever the order
// the jobs arrived in; a namespace's flotilla.dev/gpu-quota queues what would exceed it, says so in
// Scheduled=False/NamespaceQuota, and places it once the namespace's GPUs are released.
//
// provider-b's A100-40GB nodes (two nodes × 4 GPUs) are the only A100s of the federation: every job
// here asks for that product, so capacity is exactly 8 GPUs.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob, AIJobManifest } from '../../operator/api/types.ts';
import { aijobManifest } from '../support/aijob.ts';
import { clusterClients, createNamespace, deleteNamespace, readAIJob, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const A100 = 'NVIDIA-A100-SXM4-40GB';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
let ns = '';
let operator: OperatorProcess;

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-queue');
  operator = startOperator(ns);
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
});

const job = (name: string, gpus: number, extra: Partial<AIJobManifest['spec']> = {}): AIJobManifest =>
  aijobManifest({
    name,
    namespace: ns,
    resources: { gpus },
    gpu: { products: [A100] },
    recovery: { maxRestarts: 0, strategy: 'Failover' },
    sim: { runSeconds: 900 },
    ...extra,
  });

async function create(manifest: AIJobManifest): Promise<void> {
  await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: ns, body: manifest });
}

async function remove(name: string): Promise<void> {
  await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: ns, name });
  await waitForAIJob(ns, name, (j) => j === undefined, 60_000);
}

const scheduled = (j: AIJob | undefined) => j?.status?.conditions?.find((c) => c.type === 'Scheduled');

describe('the queue', () => {
  afterEach(async () => {
    const list = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'aijobs', namespace: ns })) as { items: AIJob[] };
    await Promise.all(list.items.map((j) => remove(j.metadata.name ?? '')));
  });

  it('gives freed GPUs to the higher priority, though the lower one asked first', async () => {
    await create(job('blocker-1', 4));
    await create(job('blocker-2', 4));
    await waitForAIJob(ns, 'blocker-2', (j) => j?.status?.phase === 'Running', 60_000);
    await waitForAIJob(ns, 'blocker-1', (j) => j?.status?.phase === 'Running', 60_000);
    await create(job('low', 4, { priority: -10 }));
    await waitForAIJob(ns, 'low', (j) => scheduled(j)?.reason === 'Unschedulable', 30_000);
    await create(job('high', 4, { priority: 10 }));
    await waitForAIJob(ns, 'high', (j) => scheduled(j)?.reason === 'Unschedulable', 30_000);

    await remove('blocker-1');
    const high = await waitForAIJob(ns, 'high', (j) => j?.status?.phase === 'Running', 60_000);
    expect(high?.status?.placement?.provider).toBe('provider-b');
    const low = await readAIJob(ns, 'low');
    expect(low?.status?.phase).toBe('Pending');
    expect(scheduled(low)?.reason).toBe('Unschedulable');
    expect(low?.spec.priority).toBe(-10);
  });

  it("queues what would exceed the namespace's GPU quota, names it, and places it when the namespace's GPUs are released", async () => {
    await hub.core.patchNamespace({ name: ns, body: { metadata: { annotations: { 'flotilla.dev/gpu-quota': '4' } } } }, mergePatch);
    try {
      await create(job('first', 2));
      await create(job('second', 2));
      await waitForAIJob(ns, 'first', (j) => j?.status?.phase === 'Running', 60_000);
      await waitForAIJob(ns, 'second', (j) => j?.status?.phase === 'Running', 60_000);
      await create(job('third', 2));
      const third = await waitForAIJob(ns, 'third', (j) => scheduled(j)?.reason === 'NamespaceQuota', 30_000);
      expect(scheduled(third)?.message).toBe(`namespace ${ns} holds 4 GPUs of its quota of 4 (flotilla.dev/gpu-quota); this job needs 2 more`);
      expect(third?.status?.phase).toBe('Pending');
      // There is room at the provider (8 A100s, 4 in use): only the quota holds it back.
      await remove('first');
      const placed = await waitForAIJob(ns, 'third', (j) => j?.status?.phase === 'Running', 60_000);
      expect(placed?.status?.placement?.provider).toBe('provider-b');
    } finally {
      await hub.core.patchNamespace({ name: ns, body: { metadata: { annotations: { 'flotilla.dev/gpu-quota': null } } } }, mergePatch);
    }
  });
});
