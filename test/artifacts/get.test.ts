// `flotilla get` end to end on the local federation, with the real operator pinning outputs and
// signing receipts: a job's output folder (a multi-block file and a nested file, added at the
// provider-side Kubo) is downloaded through the real `flotilla` binary from the hub's Kubo, every
// block checked against the CID, the receipt's signature against the operator's address; the files
// written are byte-identical to what the workload produced. A receipt of another job, or one
// checked against another signer, is refused and nothing is written. (A Kubo node serving forged
// bytes cannot be staged with a real Kubo, which checks blocks itself: the walker's refusal of
// forged blocks is operator/artifacts/verified-dag.test.ts.)
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { Wallet } from 'ethers';
import { terminatedStatus } from '../../federation/workload.ts';
import { AIJOB, GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob, AIJobManifest } from '../../operator/api/types.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, pollUntil, waitForAIJob } from '../support/federation.ts';
import { aijobManifest } from '../support/aijob.ts';
import { runFlotilla } from '../support/cli.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { providerKubo, receiptWallet, tempDir } from './support.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const signer = receiptWallet();
const PROVIDER_NS = 'flotilla-workloads';
let ns = '';
let operator: OperatorProcess | undefined;
let tmp: { path: string; remove: () => void };

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-get');
  tmp = tempDir('flotilla-get-');
  operator = startOperator(ns, {
    FLOTILLA_KUBO_API: federation().kubo.hub.api,
    FLOTILLA_IPFS_GATEWAY: federation().kubo.provider.gateway,
    FLOTILLA_RECEIPT_KEY: signer.privateKey,
  });
});
afterAll(async () => {
  await operator?.stop();
  await deleteNamespace(hub.core, ns);
  tmp.remove();
});

const flotilla = (args: readonly string[]) => runFlotilla(args);

const getArgs = (name: string, out: string, signerAddress = signer.address) => [
  'get',
  name,
  '-o',
  out,
  '-n',
  ns,
  '--kubeconfig',
  federation().hub.kubeconfig,
  '--kubo',
  federation().kubo.hub.api,
  '--signer',
  signerAddress,
];

/** No simulated run: the test ends the replica itself, with the output it chooses. */
function manifest(name: string): AIJobManifest {
  return aijobManifest({ name, namespace: ns, gpu: { products: ['NVIDIA-L4'] }, sim: false });
}

/** Runs `name` to Succeeded with `outputCID` reported the way a workload reports it, and waits for its receipt. */
async function succeedWith(name: string, outputCID: string, checkpointCID?: string): Promise<AIJob> {
  await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, body: manifest(name) });
  const { provider, pod } = (await pollUntil(
    `the running replica of ${name}`,
    async () => {
      const job = await waitForAIJob(ns, name, (j) => j?.status?.phase === 'Running', 90_000);
      const p = job?.status?.placement?.provider;
      if (!job || !p) return undefined;
      const pods = await clusterClients(p).core.listNamespacedPod({ namespace: PROVIDER_NS, labelSelector: `flotilla.dev/job-uid=${job.metadata.uid}` });
      const running = pods.items.find((x) => x.status?.phase === 'Running');
      return running ? { provider: p, pod: running } : undefined;
    },
    (r) => r !== undefined,
    90_000,
  )) as { provider: string; pod: V1Pod };
  const body = terminatedStatus(
    pod,
    { runMs: 0, outcome: 'Succeeded', exitCode: 0, output: '' },
    new Date(pod.status?.startTime ?? Date.now()),
    new Date(),
    JSON.stringify({ outputCID, ...(checkpointCID ? { checkpointCID, checkpointTime: new Date().toISOString() } : {}) }),
  );
  await clusterClients(provider).core.patchNamespacedPodStatus(
    { name: pod.metadata?.name ?? '', namespace: PROVIDER_NS, body },
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );
  const done = (await waitForAIJob(ns, name, (j) => j?.status?.phase === 'Succeeded' && Boolean(j.status.receiptCID), 120_000)) as AIJob;
  expect(done.status?.outputCID).toBe(outputCID);
  return done;
}

describe('flotilla get', () => {
  const model = randomBytes(1024 * 1024 + 12_345); // several 256 KiB chunks: a file of many blocks
  const metrics = JSON.stringify({ loss: 0.0123, at: Date.now(), run: Math.random() });
  let first: AIJob;
  let second: AIJob;
  let third: AIJob;
  const checkpointText = `step 300 of a run ${Math.random()}`;

  beforeAll(async () => {
    const src = join(tmp.path, 'src');
    mkdirSync(join(src, 'eval'), { recursive: true });
    writeFileSync(join(src, 'model.bin'), model);
    writeFileSync(join(src, 'eval', 'metrics.json'), metrics);
    const output = await providerKubo().addPath(src);
    const other = await providerKubo().addBytes(`another output ${Date.now()} ${Math.random()}`);
    first = await succeedWith('trained', output);
    second = await succeedWith('other', other);
    third = await succeedWith('with-checkpoint', other, await providerKubo().addBytes(checkpointText));
  }, 400_000);

  it("--checkpoints also writes each attempt's last checkpoint, the CID the signed receipt names, verified block by block", async () => {
    const out = join(tmp.path, 'ckpt-out');
    const r = await flotilla([...getArgs('with-checkpoint', out), '--checkpoints']);
    const attempt = third.status?.attempts?.[0];
    expect(attempt?.checkpointCID).toMatch(/^baf|^Qm/);
    expect(r.stderr).toContain(`checkpoint of attempt ${attempt?.index} ${attempt?.checkpointCID}`);
    expect(r.code).toBe(0);
    expect(readFileSync(join(`${out}-checkpoints`, `attempt-${attempt?.index}`, 'output'), 'utf8')).toBe(checkpointText);
  });

  it('writes the output folder byte for byte after verifying the receipt and every block', async () => {
    const out = join(tmp.path, 'out');
    const r = await flotilla(getArgs('trained', out));
    expect(r.stderr).toContain(`receipt ${first.status?.receiptCID}: signed by ${signer.address}, names output ${first.status?.outputCID}`);
    expect(r.stderr).toMatch(/2 file\(s\), 2 folder\(s\), \d+ bytes, every block verified/);
    expect(r.code).toBe(0);
    expect(readFileSync(join(out, 'model.bin')).equals(model)).toBe(true);
    expect(readFileSync(join(out, 'eval', 'metrics.json'), 'utf8')).toBe(metrics);
    // A single-file output lands as <dir>/output.
    const single = join(tmp.path, 'single');
    expect((await flotilla(getArgs('other', single))).code).toBe(0);
    expect(readFileSync(join(single, 'output'), 'utf8')).toMatch(/^another output /);
    // An existing, non-empty target is never overwritten.
    const again = await flotilla(getArgs('trained', out));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('exists and is not an empty folder');
  });

  it('refuses a receipt checked against another operator address, writing nothing', async () => {
    const out = join(tmp.path, 'wrong-signer');
    const stranger = Wallet.createRandom().address;
    const r = await flotilla(getArgs('trained', out, stranger));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the signature recovers ${signer.address}, not the operator ${stranger}`);
    expect(existsSync(out)).toBe(false);
  });

  it("refuses a status that points at another job's receipt, writing nothing", async () => {
    // The operator is stopped first, so the tampered status stays as written.
    await operator?.stop();
    operator = undefined;
    await custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: ns, name: 'trained', body: { status: { receiptCID: second.status?.receiptCID } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const out = join(tmp.path, 'swapped');
    const r = await flotilla(getArgs('trained', out));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the receipt is for job ${ns}/other (uid ${second.metadata.uid}), not ${ns}/trained (uid ${first.metadata.uid})`);
    expect(r.stderr).toContain(`the receipt names output ${second.status?.outputCID}, but status.outputCID is ${first.status?.outputCID}`);
    expect(existsSync(out)).toBe(false);
    // And an output CID swapped under the right receipt.
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        plural: AIJOB.plural,
        namespace: ns,
        name: 'trained',
        body: { status: { receiptCID: first.status?.receiptCID, outputCID: second.status?.outputCID } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const swapped = await flotilla(getArgs('trained', out));
    expect(swapped.code).toBe(1);
    expect(swapped.stderr).toContain(`the receipt names output ${first.status?.outputCID}, but status.outputCID is ${second.status?.outputCID}`);
    expect(existsSync(out)).toBe(false);
  });
});
