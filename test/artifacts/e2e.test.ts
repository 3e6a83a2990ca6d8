// Artifacts end to end on the local federation, with the real operator process: inputs added by
// `flotilla add` reach the job's pods as CIDs with a fetch step; the simulated workload adds its
// output at the provider-side Kubo; the operator pins it on the hub's Kubo (the blocks travel
// between the two daemons), only then is the job Succeeded, and its signed receipt resolves and
// verifies. Termination messages with garbage or an unfetchable CID leave a clear condition.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { runCommand } from '../../federation/command.ts';
import { toolPaths } from '../../federation/paths.ts';
import { terminatedStatus } from '../../federation/workload.ts';
import { INPUT_FETCH_CONTAINER } from '../../operator/artifacts/input-fetch.ts';
import { parseSignedReceipt, specHash } from '../../operator/artifacts/receipt.ts';
import { verifyReceipt } from '../../operator/artifacts/verify.ts';
import type { AIJob, AIJobManifest, Condition } from '../../operator/api/types.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil, waitForAIJob } from '../support/federation.ts';
import { aijobManifest } from '../support/aijob.ts';
import { freePort } from '../../federation/daemon.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { anvilAccounts, flotilla, hubKubo, providerKubo, receiptWallet, recursivePinList, tempDir, unfetchableCid } from './support.ts';

const hub = clusterClients('hub');
const signer = receiptWallet();
let ns = '';
let operator: OperatorProcess;
let httpPort = 0;

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-artifacts');
  httpPort = await freePort();
  operator = startOperator(ns, {
    FLOTILLA_KUBO_API: federation().kubo.hub.api,
    FLOTILLA_IPFS_GATEWAY: federation().kubo.provider.gateway,
    // anvil's dev account 10 (the receipt signer's role), derived from its public test mnemonic at run time.
    FLOTILLA_RECEIPT_KEY: signer.privateKey,
    FLOTILLA_PIN_TIMEOUT_MS: '3000',
    FLOTILLA_PIN_TRIES: '1',
    FLOTILLA_HTTP_PORT: String(httpPort),
  });
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
});

const condition = (job: AIJob | undefined, type: string): Condition | undefined => job?.status?.conditions?.find((c) => c.type === type);
const unique = (what: string) => `${what} ${process.pid} ${Date.now()} ${Math.random()}`;

async function kubectlApply(manifest: unknown): Promise<void> {
  await runCommand(toolPaths().kubectl, ['--kubeconfig', federation().hub.kubeconfig, 'apply', '-f', '-'], { input: yaml.dump(manifest) });
}

function aijob(name: string, spec: Partial<AIJobManifest['spec']>): AIJobManifest {
  return aijobManifest({ name, namespace: ns, gpu: { products: ['NVIDIA-L4'] }, sim: false, ...spec });
}

async function jobPods(job: AIJob): Promise<Array<{ provider: string; pod: V1Pod }>> {
  const provider = job.status?.placement?.provider;
  if (!provider) return [];
  const { core } = clusterClients(provider);
  const pods = await core.listNamespacedPod({ namespace: 'flotilla-workloads', labelSelector: `flotilla.dev/job-uid=${job.metadata.uid}` });
  return pods.items.map((pod) => ({ provider, pod }));
}

/** The running replica of the job's newest attempt. */
async function runningReplica(name: string): Promise<{ provider: string; pod: V1Pod; job: AIJob }> {
  return pollUntil(
    `the running replica of ${name}'s newest attempt`,
    async () => {
      const job = (await waitForAIJob(ns, name, (j) => j?.status?.phase === 'Running', 90_000)) as AIJob;
      const newest = String(job.status?.attempts?.at(-1)?.index);
      const pods = (await jobPods(job)).filter((p) => p.pod.metadata?.labels?.['flotilla.dev/attempt'] === newest && p.pod.status?.phase === 'Running');
      return pods.length === 1 ? { ...(pods[0] as { provider: string; pod: V1Pod }), job } : undefined;
    },
    (r) => r !== undefined,
    90_000,
  ) as Promise<{ provider: string; pod: V1Pod; job: AIJob }>;
}

/** Ends the running replica the way a kubelet would, with `message` as its termination message; `preempted` adds DisruptionTarget. */
async function finishReplica(name: string, message: string, preempted = false): Promise<void> {
  const { provider, pod } = await runningReplica(name);
  const started = new Date(pod.status?.startTime ?? Date.now());
  const body = terminatedStatus(
    pod,
    { runMs: 0, outcome: preempted ? 'Failed' : 'Succeeded', exitCode: preempted ? 137 : 0, output: '' },
    started,
    new Date(),
    message,
  );
  if (preempted)
    (body.status.conditions as object[]).push({
      type: 'DisruptionTarget',
      status: 'True',
      reason: 'PreemptionByScheduler',
      message: 'test preemption',
      lastTransitionTime: new Date(),
    });
  await clusterClients(provider).core.patchNamespacedPodStatus(
    { name: pod.metadata?.name ?? '', namespace: 'flotilla-workloads', body },
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );
}

describe('a job with IPFS inputs and a pinned output', () => {
  it('runs with inputs from `flotilla add`, gets its output pinned on the hub, and its receipt verifies', async () => {
    expect(await anvilAccounts()).toContain(signer.address.toLowerCase());
    const dir = tempDir('flotilla-e2e-');
    let dataset = '';
    let script = '';
    try {
      mkdirSync(join(dir.path, 'dataset'));
      writeFileSync(join(dir.path, 'dataset', 'part-0.csv'), unique('x,y\n1,2'));
      writeFileSync(join(dir.path, 'train.py'), unique('print("train")'));
      dataset = (await flotilla(['add', join(dir.path, 'dataset')], { FLOTILLA_KUBO_API: federation().kubo.hub.api })).stdout.trim();
      script = (await flotilla(['add', join(dir.path, 'train.py')], { FLOTILLA_KUBO_API: federation().kubo.hub.api })).stdout.trim();
    } finally {
      dir.remove();
    }
    const marker = unique('e2e output');
    await kubectlApply(
      aijob('with-inputs', {
        inputs: [
          { name: 'dataset', cid: dataset, mountPath: '/data' },
          { name: 'script', cid: script, mountPath: '/src/train.py' },
        ],
        podAnnotations: { 'sim.flotilla.dev/run-seconds': '2', 'sim.flotilla.dev/output': marker },
      }),
    );

    // The pod: an init step fetching both CIDs, the inputs mounted read-only, the environment naming them.
    const running = (await waitForAIJob(ns, 'with-inputs', (j) => (j?.status?.attempts?.length ?? 0) > 0, 90_000)) as AIJob;
    const pod = (
      await pollUntil(
        'the replica pod',
        () => jobPods(running),
        (p) => p.length === 1,
      )
    )[0]?.pod as V1Pod;
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual([INPUT_FETCH_CONTAINER]);
    expect(pod.spec?.containers[0]?.volumeMounts).toEqual([
      expect.objectContaining({ mountPath: '/data', subPath: dataset, readOnly: true }),
      expect.objectContaining({ mountPath: '/src/train.py', subPath: script, readOnly: true }),
      // Every replica's memory-backed /dev/shm (operator/controllers/aijob/gang.ts).
      expect.objectContaining({ mountPath: '/dev/shm', name: 'flotilla-dshm' }),
    ]);
    expect(pod.spec?.containers[0]?.env).toEqual(
      expect.arrayContaining([
        { name: 'FLOTILLA_INPUT_DATASET_CID', value: dataset },
        { name: 'FLOTILLA_INPUT_SCRIPT_CID', value: script },
      ]),
    );

    const done = (await waitForAIJob(ns, 'with-inputs', (j) => j?.status?.phase === 'Succeeded' && Boolean(j.status.receiptCID), 120_000)) as AIJob;
    const output = done.status?.outputCID ?? '';
    expect(condition(done, 'OutputPinned')).toMatchObject({ status: 'True', reason: 'Pinned', message: `${output} is pinned on the hub's IPFS node` });

    // The blocks travelled: pinned on the hub, and readable there with the network switched off.
    expect(await hubKubo().isPinned(output)).toBe(true);
    const local = JSON.parse(Buffer.from(await hubKubo().cat(output, { offline: true })).toString()) as { uid: string; output: string };
    expect(local).toMatchObject({ uid: pod.metadata?.uid, output: marker });

    // The receipt: resolves, names what ran, and verifies (signature + pins), also through the CLI.
    const receiptCID = done.status?.receiptCID ?? '';
    const signed = parseSignedReceipt(Buffer.from(await hubKubo().cat(receiptCID, { offline: true })).toString());
    expect(signed.receipt).toMatchObject({
      job: { namespace: ns, name: 'with-inputs', uid: done.metadata.uid },
      specHash: specHash(done.spec),
      image: done.spec.image,
      inputs: [
        { name: 'dataset', cid: dataset },
        { name: 'script', cid: script },
      ],
      attempts: [
        expect.objectContaining({ provider: done.status?.attempts?.[0]?.provider, gpuSeconds: done.status?.attempts?.[0]?.gpuSeconds, reason: 'Succeeded' }),
      ],
      outcome: 'Succeeded',
      outputCID: output,
      settlement: null,
    });
    const verification = await verifyReceipt(hubKubo(), receiptCID, { signer: signer.address });
    expect(verification.problems).toEqual([]);
    const cli = await flotilla(['receipt', receiptCID, '--signer', signer.address], { FLOTILLA_KUBO_API: federation().kubo.hub.api });
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/VALID/);
    // …and /metrics counts the pins by kind.
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    for (const kind of ['output', 'receipt', 'input']) expect(metrics).toMatch(new RegExp(`flotilla_pins_total\\{[^}]*kind="${kind}"[^}]*\\} [1-9]`));

    // Deleting the job keeps its pins (the default policy).
    await hub.kc
      .makeApiClient(CustomObjectsApi)
      .deleteNamespacedCustomObject({ group: 'flotilla.dev', version: 'v1alpha1', plural: 'aijobs', namespace: ns, name: 'with-inputs' });
    await waitForAIJob(ns, 'with-inputs', (j) => j === undefined, 60_000);
    expect(await hubKubo().isPinned(output)).toBe(true);
    expect(await hubKubo().isPinned(receiptCID)).toBe(true);
  });

  it('pins the checkpoint of a preempted attempt, and the receipt names it', async () => {
    const checkpoint = await providerKubo().addBytes(unique('checkpoint'));
    const output = await providerKubo().addBytes(unique('output after resuming'));
    // provider-b (the only whole L4s) cools down after preempting it: the next attempt goes elsewhere.
    await kubectlApply(
      aijob('with-checkpoint', {
        checkpoint: { path: '/ckpt', every: '30s' },
        gpu: { products: ['NVIDIA-L4', 'NVIDIA-A100-SXM4-80GB', 'NVIDIA-H100-80GB-HBM3'] },
      }),
    );
    await finishReplica('with-checkpoint', JSON.stringify({ checkpointCID: checkpoint, checkpointTime: new Date().toISOString() }), true);
    await waitForAIJob(ns, 'with-checkpoint', (j) => j?.status?.attempts?.[0]?.checkpointCID === checkpoint, 60_000);
    // The checkpoint is pinned on the hub while the job goes on.
    await pollUntil(
      'the checkpoint pinned on the hub',
      () => hubKubo().isPinned(checkpoint),
      (pinned) => pinned,
      60_000,
      250,
    );
    await finishReplica('with-checkpoint', JSON.stringify({ outputCID: output }));
    const done = (await waitForAIJob(ns, 'with-checkpoint', (j) => Boolean(j?.status?.receiptCID), 120_000)) as AIJob;
    expect(done.status?.phase).toBe('Succeeded');
    const pins = await recursivePinList(federation().kubo.hub.api);
    expect(pins.filter((c) => c === output || c === checkpoint || c === done.status?.receiptCID)).toHaveLength(3);
    expect(Buffer.from(await hubKubo().cat(checkpoint, { offline: true })).toString()).toMatch(/^checkpoint /);
    const signed = parseSignedReceipt(Buffer.from(await hubKubo().cat(done.status?.receiptCID ?? '', { offline: true })).toString());
    expect(signed.receipt.attempts).toEqual([
      expect.objectContaining({ index: done.status?.attempts?.[0]?.index, checkpointCID: checkpoint }),
      expect.objectContaining({ reason: 'Succeeded' }),
    ]);
  });

  it('unpins output and receipt of a deleted job annotated flotilla.dev/unpin-on-delete', async () => {
    const output = await providerKubo().addBytes(unique('output to release'));
    const manifest = aijob('released', {});
    await kubectlApply({ ...manifest, metadata: { ...manifest.metadata, annotations: { 'flotilla.dev/unpin-on-delete': 'true' } } });
    await finishReplica('released', JSON.stringify({ outputCID: output }));
    const done = (await waitForAIJob(ns, 'released', (j) => Boolean(j?.status?.receiptCID), 90_000)) as AIJob;
    expect(done.metadata.finalizers).toContain('flotilla.dev/artifacts');
    expect(await hubKubo().isPinned(output)).toBe(true);
    await hub.kc
      .makeApiClient(CustomObjectsApi)
      .deleteNamespacedCustomObject({ group: 'flotilla.dev', version: 'v1alpha1', plural: 'aijobs', namespace: ns, name: 'released' });
    await waitForAIJob(ns, 'released', (j) => j === undefined, 60_000);
    expect(await hubKubo().isPinned(output)).toBe(false);
    expect(await hubKubo().isPinned(done.status?.receiptCID ?? '')).toBe(false);
  });

  it('keeps a job whose output CID cannot be fetched at OutputPinned=False/PinFailed, saying why, and retries', async () => {
    const ghost = await unfetchableCid();
    await kubectlApply(aijob('unfetchable', {}));
    await finishReplica('unfetchable', JSON.stringify({ outputCID: ghost }));
    const failing = (await waitForAIJob(ns, 'unfetchable', (j) => condition(j, 'OutputPinned')?.reason === 'PinFailed', 90_000)) as AIJob;
    expect(condition(failing, 'OutputPinned')?.message).toBe(
      `pinning ${ghost}: timed out after 3s at ${federation().kubo.hub.api} (no connected peer provided the blocks?); retrying`,
    );
    expect(failing.status?.outputCID).toBe(ghost);
    expect(failing.status?.phase).not.toBe('Succeeded');
    // It is retried: the operator logs a second failed try, and is still alive.
    await pollUntil(
      'a retried pin',
      async () =>
        operator
          .logs()
          .split('\n')
          .filter((l) => l.includes('artifacts reconcile incomplete') && l.includes(ghost)).length,
      (n) => n >= 2,
      60_000,
      500,
    );
    expect(((await waitForAIJob(ns, 'unfetchable', () => true)) as AIJob).status?.phase).not.toBe('Succeeded');
    expect(await hubKubo().isPinned(ghost)).toBe(false);
  });

  it('fails a job whose termination message is garbage with OutputInvalid, and pins nothing for it', async () => {
    await kubectlApply(aijob('garbage', {}));
    await finishReplica('garbage', 'this is not JSON {');
    const failed = (await waitForAIJob(ns, 'garbage', (j) => j?.status?.phase === 'Failed', 90_000)) as AIJob;
    expect(condition(failed, 'Finished')).toMatchObject({ status: 'True', reason: 'OutputInvalid' });
    expect(failed.status?.outputCID).toBeUndefined();
    expect(condition(failed, 'OutputPinned')?.status).not.toBe('True');
    // A failed job's receipt is written too, without an output.
    const withReceipt = (await waitForAIJob(ns, 'garbage', (j) => Boolean(j?.status?.receiptCID), 60_000)) as AIJob;
    const signed = parseSignedReceipt(Buffer.from(await hubKubo().cat(withReceipt.status?.receiptCID ?? '', { offline: true })).toString());
    expect(signed.receipt).toMatchObject({ outcome: 'OutputInvalid', outputCID: null });
  });
});
