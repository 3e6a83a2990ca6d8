// The provider clusters stay sovereign: their own kube-scheduler binds GPU pods, KWOK runs them,
// and their own priority preemption evicts lent work with the DisruptionTarget condition that the
// operator relies on.
import { clusterClients, createNamespace, deleteNamespace, gpuPod, recordPodHistory, uniqueName, waitForEvent, waitForPod } from '../support/federation.ts';

const PROVIDER = 'provider-b';
const { core, kc, scheduling } = clusterClients(PROVIDER);
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(core, 't-sched');
});
afterAll(async () => {
  await deleteNamespace(core, ns);
});

describe(`scheduling on ${PROVIDER}`, () => {
  it('binds a GPU pod with a product selector to a matching node, and KWOK makes it Running', async () => {
    await core.createNamespacedPod({ namespace: ns, body: gpuPod('a100-job', { gpus: 2, product: 'NVIDIA-A100-SXM4-40GB' }) });
    const pod = await waitForPod(core, ns, 'a100-job', (p) => p.status?.phase === 'Running');
    expect(pod.spec?.nodeName).toMatch(/^provider-b-a100-\d$/);
    const node = await core.readNode({ name: pod.spec?.nodeName ?? '' });
    expect(node.metadata?.labels?.['nvidia.com/gpu.product']).toBe('NVIDIA-A100-SXM4-40GB');
  });

  it('leaves a pod for a product the provider lacks Pending with a FailedScheduling event', async () => {
    await core.createNamespacedPod({ namespace: ns, body: gpuPod('h100-job', { gpus: 1, product: 'NVIDIA-H100-80GB-HBM3' }) });
    const event = await waitForEvent(core, ns, (e) => e.involvedObject.name === 'h100-job' && e.reason === 'FailedScheduling');
    expect(event.message).toMatch(/didn't match Pod's node affinity\/selector/);
    const pod = await core.readNamespacedPod({ name: 'h100-job', namespace: ns });
    expect(pod.status?.phase).toBe('Pending');
    expect(pod.spec?.nodeName).toBeUndefined();
  });

  it('preempts a low-priority pod on a full node for a high-priority one, marking the victim DisruptionTarget', async () => {
    const low = uniqueName('t-lent');
    const high = uniqueName('t-owner');
    await scheduling.createPriorityClass({ body: { metadata: { name: low }, value: 100, preemptionPolicy: 'Never' } });
    await scheduling.createPriorityClass({ body: { metadata: { name: high }, value: 1_000_000 } });
    try {
      // provider-b-l4-1 has exactly one GPU: the lent pod fills it.
      await core.createNamespacedPod({ namespace: ns, body: gpuPod('lent', { gpus: 1, node: 'provider-b-l4-1', priorityClassName: low }) });
      await waitForPod(core, ns, 'lent', (p) => p.status?.phase === 'Running');
      const watch = await recordPodHistory(kc, ns, 'lent');
      try {
        await core.createNamespacedPod({ namespace: ns, body: gpuPod('owner', { gpus: 1, node: 'provider-b-l4-1', priorityClassName: high }) });
        const owner = await waitForPod(core, ns, 'owner', (p) => p.status?.phase === 'Running');
        expect(owner.spec?.nodeName).toBe('provider-b-l4-1');
        const disrupted = watch.history.map((h) => h.pod.status?.conditions?.find((c) => c.type === 'DisruptionTarget')).find((c) => c);
        expect(disrupted).toMatchObject({ status: 'True', reason: 'PreemptionByScheduler' });
        expect(watch.history.some((h) => h.type === 'DELETED')).toBe(true);
      } finally {
        watch.stop();
      }
    } finally {
      await scheduling.deletePriorityClass({ name: low });
      await scheduling.deletePriorityClass({ name: high });
    }
  });
});
