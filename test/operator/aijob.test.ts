// The operator end to end on the local federation: examples applied with kubectl land where they
// should, run, and succeed; the impossible one says why; deletion cleans the provider; a crash in
// the middle of a batch converges with no duplicate attempt and no lost job.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomObjectsApi, Watch } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { runCommand } from '../../federation/command.ts';
import { repoRoot, toolPaths } from '../../federation/paths.ts';
import type { AIJob, AIJobManifest } from '../../operator/api/types.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil, waitForAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
let ns = '';
let operator: OperatorProcess;

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-jobs');
  operator = startOperator(ns);
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
});

const example = (file: string): AIJobManifest => {
  const manifest = yaml.load(readFileSync(join(repoRoot, 'examples', file), 'utf8')) as AIJobManifest;
  return { ...manifest, metadata: { ...manifest.metadata, namespace: ns } };
};

async function kubectlApply(manifest: unknown): Promise<string> {
  const ep = federation();
  const { stdout } = await runCommand(toolPaths().kubectl, ['--kubeconfig', ep.hub.kubeconfig, 'apply', '-f', '-'], { input: yaml.dump(manifest) });
  return stdout;
}

const withoutGpu = (spec: AIJobManifest['spec']): AIJobManifest['spec'] => {
  const { gpu: _gpu, ...rest } = spec;
  return rest;
};

const phase = (p: string) => (job: AIJob | undefined) => job?.status?.phase === p;

/** Pods of the job at a provider (any attempt). */
async function providerPods(provider: string, jobUid: string): Promise<V1Pod[]> {
  const { core } = clusterClients(provider);
  return (await core.listNamespacedPod({ namespace: 'flotilla-workloads', labelSelector: `flotilla.dev/job-uid=${jobUid}` })).items;
}

/** Event reasons of the job once all of `expected` are there (Events are recorded asynchronously). */
async function jobEvents(name: string, expected: string[] = []): Promise<string[]> {
  return pollUntil(
    `Events ${expected.join(', ')} of ${name}`,
    async () => {
      const events = await hub.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name}` });
      return events.items.map((e) => e.reason ?? '');
    },
    (reasons) => expected.every((r) => reasons.includes(r)),
    15_000,
  );
}

describe('AIJob examples on the local federation', () => {
  it('runs the single-GPU job on provider-b (whole L4s) with the right pod, and records its attempt', async () => {
    expect(await kubectlApply(example('aijob-single-gpu.yaml'))).toMatch(/aijob.flotilla.dev\/finetune-l4 created/);
    const scheduled = await waitForAIJob(ns, 'finetune-l4', (j) => (j?.status?.attempts?.length ?? 0) > 0);
    const uid = scheduled?.metadata.uid ?? '';
    expect(scheduled?.status?.placement).toMatchObject({ provider: 'provider-b', product: 'NVIDIA-L4', resourceName: 'nvidia.com/gpu' });

    // Status records the attempt before its pods exist (crash safety): wait for the pod.
    const [pod] = await pollUntil(
      'the replica pod at provider-b',
      () => providerPods('provider-b', uid),
      (pods) => pods.length === 1,
      10_000,
      100,
    );
    expect(pod?.metadata?.labels).toMatchObject({ 'flotilla.dev/job-uid': uid, 'flotilla.dev/attempt': '1', 'flotilla.dev/hub': 'hub' });
    expect(pod?.spec?.priorityClassName).toBe('flotilla-lent');
    expect(pod?.spec?.containers[0]?.resources?.limits).toEqual({ 'nvidia.com/gpu': '1', cpu: '4', memory: '16Gi' });
    expect(pod?.spec?.containers[0]?.terminationMessagePolicy).toBe('FallbackToLogsOnError');
    expect(pod?.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]?.matchExpressions).toContainEqual({
      key: 'nvidia.com/gpu.product',
      operator: 'In',
      values: ['NVIDIA-L4'],
    });
    expect(pod?.spec?.tolerations).toContainEqual(expect.objectContaining({ key: 'nvidia.com/gpu', effect: 'NoSchedule' }));
    expect(pod?.spec?.containers[0]?.env).toContainEqual({ name: 'FLOTILLA_JOB_UID', value: uid });

    const done = await waitForAIJob(ns, 'finetune-l4', phase('Succeeded'));
    expect(done?.status?.attempts).toEqual([expect.objectContaining({ index: 1, provider: 'provider-b', reason: 'Succeeded' })]);
    expect(done?.status?.attempts?.[0]?.gpuSeconds).toBeGreaterThanOrEqual(2);
    expect(done?.status?.outputCID).toMatch(/^b[a-z2-7]+$/);
    expect(done?.status?.conditions?.find((c) => c.type === 'Finished')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(await jobEvents('finetune-l4', ['Scheduled', 'Running', 'Succeeded'])).toEqual(expect.arrayContaining(['Scheduled', 'Running', 'Succeeded']));
  });

  it("writes a job's status twice from apply to Running: the attempt before its pod, then Running with the pod's uid", async () => {
    const base = example('aijob-single-gpu.yaml');
    const manifest = {
      ...base,
      metadata: { ...base.metadata, name: 'two-writes' },
      spec: { ...base.spec, podAnnotations: { 'sim.flotilla.dev/run-seconds': '60' } },
    };
    const versions: AIJob[] = [];
    const watch = await new Watch(hub.kc).watch(
      `/apis/flotilla.dev/v1alpha1/namespaces/${ns}/aijobs`,
      { fieldSelector: 'metadata.name=two-writes' },
      (_type: string, job: AIJob) => versions.push(job),
      () => undefined,
    );
    try {
      await kubectlApply(manifest);
      const running = await waitForAIJob(ns, 'two-writes', phase('Running'), 30_000);
      await pollUntil(
        'the watch to show Running',
        async () => versions,
        (v) => v.some((j) => j.status?.phase === 'Running'),
        10_000,
        100,
      );
      const upToRunning = versions.slice(0, versions.findIndex((j) => j.status?.phase === 'Running') + 1);
      const statusWrites = upToRunning.filter((j, i) => i > 0 && JSON.stringify(j.status ?? {}) !== JSON.stringify(upToRunning[i - 1]?.status ?? {}));
      expect(statusWrites.map((j) => j.status?.phase)).toEqual(['Scheduled', 'Running']);
      // The first records the attempt with no pod yet; the pod's uid arrives with Running, not alone.
      expect(statusWrites[0]?.status?.attempts?.[0]?.pods ?? []).toEqual([]);
      const [pod] = await providerPods('provider-b', running?.metadata.uid ?? '');
      expect(statusWrites[1]?.status?.attempts?.[0]?.pods).toEqual([
        expect.objectContaining({ replica: 0, name: pod?.metadata?.name, uid: pod?.metadata?.uid }),
      ]);
    } finally {
      watch.abort();
      await custom.deleteNamespacedCustomObject({ group: 'flotilla.dev', version: 'v1alpha1', plural: 'aijobs', namespace: ns, name: 'two-writes' });
    }
  });

  it('places the 2×8 H100 gang whole on provider-a, one replica per node', async () => {
    await kubectlApply(example('aijob-h100-gang.yaml'));
    const running = await waitForAIJob(ns, 'pretrain-h100-gang', phase('Running'));
    const pods = await providerPods('provider-a', running?.metadata.uid ?? '');
    expect(pods).toHaveLength(2);
    expect(new Set(pods.map((p) => p.spec?.nodeName))).toEqual(new Set(['provider-a-h100-0', 'provider-a-h100-1']));
    expect(pods.every((p) => p.spec?.containers[0]?.resources?.limits?.['nvidia.com/gpu'] === '8')).toBe(true);
    const done = await waitForAIJob(ns, 'pretrain-h100-gang', phase('Succeeded'));
    expect(done?.status?.attempts?.map((a) => a.provider)).toEqual(['provider-a']);
  });

  it('keeps the impossible job Pending with an Unschedulable message naming every provider', async () => {
    await kubectlApply(example('aijob-impossible.yaml'));
    // The first verdict may predate the providers' first sync ("not Ready"); wait for the capacity one.
    const job = await waitForAIJob(
      ns,
      'too-big',
      (j) => j?.status?.conditions?.some((c) => c.type === 'Scheduled' && c.reason === 'Unschedulable' && c.message.includes('replicas fit')) ?? false,
    );
    expect(job?.status?.phase).toBe('Pending');
    const message = job?.status?.conditions?.find((c) => c.type === 'Scheduled')?.message ?? '';
    // Every provider says why (other suites may register GPUProviders of their own meanwhile).
    expect(message).toMatch(/^0\/\d+ providers can run the job/);
    for (const provider of ['provider-a', 'provider-b', 'provider-c']) expect(message).toContain(provider);
    expect(message).toMatch(/provider-a: only 2 of 3 replicas fit/);
    expect(await jobEvents('too-big', ['Unschedulable'])).toContain('Unschedulable');
  });
});

describe('deleting an AIJob', () => {
  it('removes its remote pods before the finalizer lets it go', async () => {
    const manifest = example('aijob-single-gpu.yaml');
    const job: AIJobManifest = {
      ...manifest,
      metadata: { ...manifest.metadata, name: 'long-runner' },
      spec: { ...manifest.spec, gpu: { products: ['NVIDIA-A100-SXM4-40GB'] }, podAnnotations: { 'sim.flotilla.dev/run-seconds': '600' } },
    };
    await kubectlApply(job);
    const running = await waitForAIJob(ns, 'long-runner', phase('Running'));
    const uid = running?.metadata.uid ?? '';
    expect(running?.metadata.finalizers).toContain('flotilla.dev/remote-pods');
    expect(await providerPods('provider-b', uid)).toHaveLength(1);
    await custom.deleteNamespacedCustomObject({ group: 'flotilla.dev', version: 'v1alpha1', plural: 'aijobs', namespace: ns, name: 'long-runner' });
    await waitForAIJob(ns, 'long-runner', (j) => j === undefined);
    expect(await providerPods('provider-b', uid)).toEqual([]);
  });
});

describe('spec.deadline', () => {
  it('fails a job still running at its deadline, says why, and removes its pods', async () => {
    const manifest = example('aijob-single-gpu.yaml');
    const deadline = new Date(Date.now() + 15_000).toISOString();
    const job: AIJobManifest = {
      ...manifest,
      metadata: { ...manifest.metadata, name: 'overdue' },
      spec: { ...manifest.spec, deadline, gpu: { products: ['NVIDIA-A100-SXM4-40GB'] }, podAnnotations: { 'sim.flotilla.dev/run-seconds': '600' } },
    };
    await kubectlApply(job);
    const running = await waitForAIJob(ns, 'overdue', phase('Running'));
    const uid = running?.metadata.uid ?? '';
    const failed = await waitForAIJob(ns, 'overdue', phase('Failed'), 60_000);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(deadline));
    expect(failed?.status?.conditions?.find((c) => c.type === 'Finished')).toMatchObject({ status: 'True', reason: 'DeadlineExceeded' });
    expect(failed?.status?.attempts?.[0]).toMatchObject({ reason: 'DeadlineExceeded' });
    expect(await jobEvents('overdue', ['DeadlineExceeded'])).toContain('DeadlineExceeded');
    await pollUntil(
      "the overdue job's pods gone",
      () => providerPods('provider-b', uid),
      (pods) => pods.length === 0,
      30_000,
    );
  });
});

describe('a crash in the middle of a batch', () => {
  it('converges after SIGKILL and restart: every job succeeds with exactly one attempt', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `batch-${i}`);
    const base = example('aijob-single-gpu.yaml');
    // Any whole GPU, so the batch spreads over the federation; short runs.
    const jobs = names.map((name): AIJobManifest => ({
      ...base,
      metadata: { name, namespace: ns },
      spec: { ...withoutGpu(base.spec), resources: { gpus: 1 }, podAnnotations: { 'sim.flotilla.dev/run-seconds': '2' } },
    }));
    await Promise.all(
      jobs.map((body) => custom.createNamespacedCustomObject({ group: 'flotilla.dev', version: 'v1alpha1', plural: 'aijobs', namespace: ns, body })),
    );
    // Let it get part of the way: some jobs placed, some pods created, most not done.
    await waitForAIJob(ns, 'batch-0', (j) => (j?.status?.attempts?.length ?? 0) > 0, 30_000);
    await operator.kill();
    // The crash must land mid-batch, or this test would prove nothing about recovery.
    const atCrash = (await custom.listNamespacedCustomObject({ group: 'flotilla.dev', version: 'v1alpha1', plural: 'aijobs', namespace: ns })) as {
      items: AIJob[];
    };
    expect(atCrash.items.filter((j) => j.status?.phase === 'Succeeded').length).toBeLessThan(names.length);
    operator = startOperator(ns);
    const done = await Promise.all(
      names.map((name) => waitForAIJob(ns, name, (j) => j?.status?.phase === 'Succeeded' || j?.status?.phase === 'Failed', 120_000)),
    );
    expect(done.map((j) => j?.status?.phase)).toEqual(names.map(() => 'Succeeded'));
    expect(done.map((j) => j?.status?.attempts?.length)).toEqual(names.map(() => 1));
    // Deterministic names per attempt: a duplicate pod could not exist; none is left behind either.
    // The status write comes before the pod deletion (crash-safe order), so Succeeded can be seen
    // a moment before the pods are gone: wait for it, bounded.
    for (const job of done) {
      const provider = job?.status?.attempts?.[0]?.provider ?? '';
      await pollUntil(
        `${job?.metadata.name}'s pods gone at ${provider}`,
        () => providerPods(provider, job?.metadata.uid ?? ''),
        (pods) => pods.length === 0,
        20_000,
      );
    }
  }, 180_000);
});
